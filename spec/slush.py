"""Slush (Team Rocket, arXiv:1906.08936 v2+, Figure 1): metastable colour flipping.

Figure 1 (lines as numbered in the paper)::

    4: procedure slushLoop(u, col0 in {R, B, ⊥})
    5:   col := col0
    6:   for r in {1 ... m} do
    8:     if col = ⊥ then continue
   10:     K := sample(N \\ u, k)
   11:     P := [query(v, col) for v in K]
   12:     for col' in {R, B} do
   13:       if P.count(col') >= α then
   14:         col := col'
   15:   accept(col)

State (see :class:`.snow_common.NodeState`): ``col`` and the round ``r`` (``polls``); after the
m-th round the node accepts its colour (``decided``). Slush has a single threshold: the dual
threshold variant uses ``alpha_preference`` (line 13), and ``alpha_confidence`` is unused.
Slush is not Byzantine fault tolerant (the paper says so; Snowflake adds the counter).

One action, one rule: :func:`round_step` is lines 10-15 for one round, given the answers ``P``
(the sample is an input). Lines 1-3 (``onQuery`` of an uncoloured node) are out of scope
(see :mod:`.snow_common`).

Invariants (each over the node and the record :class:`.snow_common.Observed` of its polls)
    ``preference_valid``                  -- ``col`` (and a decision) is a configured colour;
    ``slush_preference_is_last_majority`` -- ``col`` is the colour of the last poll with an
                                             alpha_preference majority, else ``col0``;
    ``slush_accepts_after_m_rounds``      -- decided iff m rounds ran, and then ``decided = col``.
Step properties: ``decision_stable``; ``preference_moves_on_alpha_preference`` (``col``
changes only to a colour with at least alpha_preference answers in that poll).
Reachables: a node decides; a node's preference flips; two nodes decide different colours
(Slush is not Byzantine fault tolerant: in the model, one Byzantine answerer suffices).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from .snow_common import (
    Colour,
    NodeState,
    Observed,
    Params,
    count_for,
    decision_stable,
    preference_valid,
    tally,
)

PROTOCOL = "slush"


def round_step(params: Params, state: NodeState, responses: Sequence[Colour]) -> NodeState:
    """One round of Figure 1 (lines 10-15), given the colours ``P`` the sample answered."""
    # line 6: the loop runs m rounds; a node that accepted runs no more
    if state.decided is not None:
        return state
    counts = tally(responses, params.colours)
    col = state.col
    # lines 12-14: adopt a colour with at least alpha answers (at most one: alpha > k/2)
    for colour in range(params.colours):
        if counts[colour] >= params.alpha_preference:
            col = colour
    polls = state.polls + 1
    # line 15: after the m-th round, accept(col)
    decided = col if polls >= params.rounds else None
    return attrs.evolve(state, col=col, polls=polls, decided=decided)


# -- Invariants ----------------------------------------------------------------------------------


def slush_preference_is_last_majority(params: Params, state: NodeState, seen: Observed) -> bool:
    """``col`` is the last alpha_preference-majority colour, or ``col0`` before any."""
    expected = seen.last_majority if seen.last_majority is not None else seen.start
    return state.col == expected


def slush_accepts_after_m_rounds(params: Params, state: NodeState, seen: Observed) -> bool:
    """Decided iff m rounds ran (line 15), and the decision is the colour held then."""
    if state.decided is None:
        return seen.polls < params.rounds
    return seen.polls >= params.rounds and state.decided == state.col


def _valid(params: Params, state: NodeState, seen: Observed) -> bool:
    return preference_valid(params, state)


INVARIANTS: tuple[tuple[str, str, Callable[[Params, NodeState, Observed], bool]], ...] = (
    ("preference_valid", "a node's colour and decision are configured colours", _valid),
    (
        "slush_preference_is_last_majority",
        "col is the colour of the last alpha_preference-majority poll, else col0 (lines 12-14)",
        slush_preference_is_last_majority,
    ),
    (
        "slush_accepts_after_m_rounds",
        "decided iff m rounds ran, deciding the colour held (line 15)",
        slush_accepts_after_m_rounds,
    ),
)

# -- Step properties -----------------------------------------------------------------------------


def preference_moves_on_alpha_preference(
    params: Params, pre: NodeState, responses: Sequence[Any], post: NodeState
) -> bool:
    """``col`` changes only to a colour that had alpha_preference answers in this poll."""
    return post.col == pre.col or count_for(params, responses, post.col) >= params.alpha_preference


def _stable(params: Params, pre: NodeState, responses: Sequence[Any], post: NodeState) -> bool:
    return decision_stable(pre, post)


STEPS: tuple[
    tuple[str, str, Callable[[Params, NodeState, Sequence[Any], NodeState], bool]], ...
] = (
    ("decision_stable", "a decision never changes", _stable),
    (
        "preference_moves_on_alpha_preference",
        "col changes only to a colour with alpha_preference answers in the poll (line 13)",
        preference_moves_on_alpha_preference,
    ),
)

# -- Reachables (over all nodes) -----------------------------------------------------------------


def some_node_decides(nodes: Sequence[NodeState], seen: Sequence[Observed]) -> bool:
    return any(node.decided is not None for node in nodes)


def preference_flipped(nodes: Sequence[NodeState], seen: Sequence[Observed]) -> bool:
    return any(node.col != s.start for node, s in zip(nodes, seen, strict=True))


def conflicting_decisions(nodes: Sequence[NodeState], seen: Sequence[Observed]) -> bool:
    return len({node.decided for node in nodes if node.decided is not None}) > 1


REACHABLES: tuple[
    tuple[str, str, Callable[[Sequence[NodeState], Sequence[Observed]], bool]], ...
] = (
    ("some_node_decides", "a node accepts a colour", some_node_decides),
    ("preference_flipped", "a node holds a colour other than its col0", preference_flipped),
    (
        "conflicting_decisions",
        "two nodes accept different colours (Slush is not BFT)",
        conflicting_decisions,
    ),
)
