"""Slush node (Team Rocket, arXiv:1906.08936 v2+, Figure 1), sans-IO.

avalanchego's ``binary_slush.go``: ``RecordSuccessfulPoll(choice)`` sets the preference; here
a poll is successful when a colour has ``alpha_preference`` votes (Figure 1 line 13), and after
``params.rounds`` (the paper's m, line 6) polls the node accepts its preference (line 15).
Shared machinery (validation, faults, parameters, effects): :mod:`.snow_common`.
"""

from __future__ import annotations

import attrs

from .snow_common import STANDARD_OPS, Colour, Effects, Event, Node, Ops, new
from .snow_common import step as common_step

__all__ = ["Effects", "Event", "Node", "new", "record_poll", "step"]


def record_poll(node: Node, bag: dict[Colour, int], ops: Ops) -> Node:
    """One round: adopt the colour with alpha_preference votes, count the round, maybe accept."""
    choice = ops.winner(node, bag, ops.preference_quorum(node.params))
    preference = node.preference if choice is None else choice
    polls = node.polls + 1
    decided = preference if ops.rounds_over(polls, node.params.rounds) else None
    return attrs.evolve(node, preference=preference, polls=polls, decided=decided)


def step(node: Node, event: Event, ops: Ops | None = None) -> tuple[Node, Effects]:
    return common_step(node, event, record_poll, ops or STANDARD_OPS)
