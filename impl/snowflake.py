"""Snowflake node (Team Rocket, arXiv:1906.08936 v2+, Figure 2), sans-IO.

Written after avalanchego's ``binary_snowflake.go`` (``RecordPoll(count, choice)``): a poll
below ``alpha_preference`` is unsuccessful and clears the confidence; a successful poll for a
new choice clears it first; the preference becomes the choice; below ``alpha_confidence`` the
confidence is cleared, at it incremented; ``confidence >= beta`` finalizes. The preference is
also the choice the confidence counts (Figure 2's single ``col``). Shared machinery:
:mod:`.snow_common`.
"""

from __future__ import annotations

import attrs

from .snow_common import STANDARD_OPS, Colour, Effects, Event, Node, Ops, new
from .snow_common import step as common_step

__all__ = ["Effects", "Event", "Node", "new", "record_poll", "step"]


def record_poll(node: Node, bag: dict[Colour, int], ops: Ops) -> Node:
    params = node.params
    choice = ops.winner(node, bag, ops.preference_quorum(params))
    if choice is None:
        # RecordUnsuccessfulPoll
        return attrs.evolve(node, confidence=ops.unsuccessful(node.confidence))
    confidence = node.confidence
    if choice != node.preference:
        confidence = ops.on_change(confidence)
    if bag[choice] < ops.confidence_quorum(params):
        return attrs.evolve(node, preference=choice, confidence=0)
    confidence += 1
    decided = choice if ops.finalizes(confidence, params.beta) else None
    return attrs.evolve(node, preference=choice, confidence=confidence, decided=decided)


def step(node: Node, event: Event, ops: Ops | None = None) -> tuple[Node, Effects]:
    return common_step(node, event, record_poll, ops or STANDARD_OPS)
