"""Snowball node (Team Rocket, arXiv:1906.08936 v2+, Figure 3), sans-IO.

Written after avalanchego's ``binary_snowball.go`` (``RecordPoll``): a successful poll (at
``alpha_preference``) adds one to the choice's preference strength (Figure 3's ``d``) and moves
the preference to the choice only when its strength is now strictly larger; then the snowflake
part (``binary_snowflake.go``) counts consecutive successes for ``last`` (Figure 3's
``lastcol``) at ``alpha_confidence`` and finalizes at ``beta``, deciding ``last`` (as
avalanchego's ``Preference`` does once finalized). Shared machinery: :mod:`.snow_common`.
"""

from __future__ import annotations

import attrs

from ..spec.common import replace_at
from .snow_common import STANDARD_OPS, Colour, Effects, Event, Node, Ops, new
from .snow_common import step as common_step

__all__ = ["Effects", "Event", "Node", "new", "record_poll", "step"]


def record_poll(node: Node, bag: dict[Colour, int], ops: Ops) -> Node:
    params = node.params
    choice = ops.winner(node, bag, ops.preference_quorum(params))
    if choice is None:
        return attrs.evolve(
            node,
            strength=ops.strength_unsuccessful(node.strength, node.preference),
            confidence=ops.unsuccessful(node.confidence),
        )
    # binary_snowball.go: preferenceStrength[choice]++, switch if strictly stronger
    strength = replace_at(node.strength, choice, node.strength[choice] + 1)
    preference = choice if ops.stronger(strength, choice, node.preference) else node.preference
    # binary_snowflake.go on the last successful choice
    confidence = node.confidence
    if choice != node.last:
        confidence = ops.on_change(confidence)
    if bag[choice] < ops.confidence_quorum(params):
        return attrs.evolve(
            node, strength=strength, preference=preference, last=choice, confidence=0
        )
    confidence += 1
    decided = choice if ops.finalizes(confidence, params.beta) else None
    return attrs.evolve(
        node,
        strength=strength,
        preference=preference,
        last=choice,
        confidence=confidence,
        decided=decided,
    )


def step(node: Node, event: Event, ops: Ops | None = None) -> tuple[Node, Effects]:
    return common_step(node, event, record_poll, ops or STANDARD_OPS)
