"""Snowflake (Team Rocket, arXiv:1906.08936 v2+, Figure 2): Slush with a conviction counter.

Figure 2 (lines as numbered in the paper)::

     1: procedure snowflakeLoop(u, col0 in {R, B, ⊥})
     2:   col := col0, cnt := 0
     3:   while undecided do
     4:     if col = ⊥ then continue
     5:     K := sample(N \\ u, k)
     6:     P := [query(v, col) for v in K]
     7:     maj := false
     8:     for col' in {R, B} do
     9:       if P.count(col') >= α then
    10:         maj := true
    11:         if col' != col then
    12:           col := col', cnt := 1
    13:         else cnt++
    14:         if cnt >= β then accept(col)
    15:     if maj = false then cnt := 0

Dual thresholds (avalanchego ``binary_snowflake.go``, ``RecordPoll``): line 9 uses
``alpha_preference``; the counter counts a poll only if it also has ``alpha_confidence``
answers for the colour, and a successful poll below ``alpha_confidence`` resets it to 0 (so
lines 12-13 read ``cnt := 1`` / ``cnt++`` at alpha_confidence, ``cnt := 0`` below it). With one
alpha these are the figure's lines exactly.

Departure from the original design notes: their snowflake keeps ``cnt`` on an unsuccessful
query and restarts at 0 on a colour change (the paper's v1 text); this spec follows Figure 2 of
v2+ (line 15 resets, line 12 starts at 1), as avalanchego does.

Invariants (over the node and :class:`.snow_common.Observed`, recorded from the answers)
    ``preference_valid``                          -- ``col`` is a configured colour;
    ``snowflake_counter_is_consecutive_successes`` -- ``cnt`` is the length of the trailing run
        of polls each with alpha_confidence answers for ``col``; ``col`` is the colour of the
        last alpha_preference majority (else ``col0``);
    ``acceptance_needs_beta_successes``           -- decided iff that run reached β, deciding
        its colour (line 14).
Step properties: ``decision_stable``; ``dual_thresholds`` (``col`` changes only to a colour
with alpha_preference answers; ``cnt`` grows only on a poll with alpha_confidence answers for
the colour held).
Reachables: a node decides; a preference flips; a counter is reset after a success.
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

PROTOCOL = "snowflake"


def round_step(params: Params, state: NodeState, responses: Sequence[Colour]) -> NodeState:
    """One iteration of Figure 2's loop (lines 5-15), given the answers ``P``."""
    # line 3: while undecided
    if state.decided is not None:
        return state
    counts = tally(responses, params.colours)
    col, cnt = state.col, state.cnt
    maj = False  # line 7
    for colour in range(params.colours):  # line 8
        if counts[colour] >= params.alpha_preference:  # line 9 (alpha_preference)
            maj = True  # line 10
            confident = counts[colour] >= params.alpha_confidence
            if colour != col:  # line 11
                col, cnt = colour, (1 if confident else 0)  # line 12
            else:
                cnt = cnt + 1 if confident else 0  # line 13
            if cnt >= params.beta:  # line 14
                return attrs.evolve(state, col=col, cnt=cnt, decided=col)
    if not maj:  # line 15
        cnt = 0
    return attrs.evolve(state, col=col, cnt=cnt)


# -- Invariants ----------------------------------------------------------------------------------


def snowflake_counter_is_consecutive_successes(
    params: Params, state: NodeState, seen: Observed
) -> bool:
    """``cnt`` counts the trailing alpha_confidence successes for ``col`` (lines 12, 13, 15)."""
    last = seen.last_majority if seen.last_majority is not None else seen.start
    if state.col != last or state.cnt != seen.run_length:
        return False
    return seen.run_length == 0 or seen.run_colour == state.col


def acceptance_needs_beta_successes(params: Params, state: NodeState, seen: Observed) -> bool:
    """Decided iff β consecutive alpha_confidence successes for one colour, that colour."""
    if state.decided is None:
        return seen.run_length < params.beta
    return seen.run_length >= params.beta and state.decided == seen.run_colour


def _valid(params: Params, state: NodeState, seen: Observed) -> bool:
    return preference_valid(params, state)


INVARIANTS: tuple[tuple[str, str, Callable[[Params, NodeState, Observed], bool]], ...] = (
    ("preference_valid", "a node's colour and decision are configured colours", _valid),
    (
        "snowflake_counter_is_consecutive_successes",
        "cnt is the run of trailing alpha_confidence successes for col (lines 12, 13, 15)",
        snowflake_counter_is_consecutive_successes,
    ),
    (
        "acceptance_needs_beta_successes",
        "decided iff beta consecutive successes for the decided colour (line 14)",
        acceptance_needs_beta_successes,
    ),
)

# -- Step properties -----------------------------------------------------------------------------


def dual_thresholds(
    params: Params, pre: NodeState, responses: Sequence[Any], post: NodeState
) -> bool:
    """``col`` moves only at alpha_preference; ``cnt`` grows only at alpha_confidence."""
    if post.col != pre.col and count_for(params, responses, post.col) < params.alpha_preference:
        return False
    grew = post.cnt > (pre.cnt if post.col == pre.col else 0)
    return not grew or count_for(params, responses, post.col) >= params.alpha_confidence


def _stable(params: Params, pre: NodeState, responses: Sequence[Any], post: NodeState) -> bool:
    return decision_stable(pre, post)


STEPS: tuple[
    tuple[str, str, Callable[[Params, NodeState, Sequence[Any], NodeState], bool]], ...
] = (
    ("decision_stable", "a decision never changes", _stable),
    (
        "dual_thresholds",
        "col moves only at alpha_preference answers, cnt grows only at alpha_confidence",
        dual_thresholds,
    ),
)

# -- Reachables ----------------------------------------------------------------------------------


def some_node_decides(nodes: Sequence[NodeState], seen: Sequence[Observed]) -> bool:
    return any(node.decided is not None for node in nodes)


def preference_flipped(nodes: Sequence[NodeState], seen: Sequence[Observed]) -> bool:
    return any(node.col != s.start for node, s in zip(nodes, seen, strict=True))


def counter_reset(nodes: Sequence[NodeState], seen: Sequence[Observed]) -> bool:
    """A node's counter is back at 0 after it had a successful poll."""
    return any(
        node.cnt == 0 and node.decided is None and sum(s.majorities) > 0
        for node, s in zip(nodes, seen, strict=True)
    )


REACHABLES: tuple[
    tuple[str, str, Callable[[Sequence[NodeState], Sequence[Observed]], bool]], ...
] = (
    ("some_node_decides", "a node accepts a colour", some_node_decides),
    ("preference_flipped", "a node holds a colour other than its col0", preference_flipped),
    ("counter_reset", "a counter is back at 0 after a successful poll", counter_reset),
)
