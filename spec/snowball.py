"""Snowball (Team Rocket, arXiv:1906.08936 v2+, Figure 3): Snowflake plus confidence counters.

Figure 3 (lines as numbered in the paper)::

     1: procedure snowballLoop(u, col0 in {R, B, ⊥})
     2:   col := col0, lastcol := col0, cnt := 0
     3:   d[R] := 0, d[B] := 0
     4:   while undecided do
     5:     if col = ⊥ then continue
     6:     K := sample(N \\ u, k)
     7:     P := [query(v, col) for v in K]
     8:     maj := false
     9:     for col' in {R, B} do
    10:       if P.count(col') >= α then
    11:         maj := true
    12:         d[col']++
    13:         if d[col'] > d[col] then
    14:           col := col'
    15:         if col' != lastcol then
    16:           lastcol := col', cnt := 1
    17:         else cnt++
    18:         if cnt >= β then accept(col)
    19:     if maj = false then cnt := 0

``d[c]`` (confidence) counts the successful queries for c; the preference ``col`` moves only
when another colour's confidence strictly exceeds it (line 13: ties keep the preference);
``cnt`` is Snowflake's counter, kept on ``lastcol``, the colour of the last successful query.

Dual thresholds (avalanchego ``binary_snowball.go`` and ``binary_snowflake.go``,
``RecordPoll``): line 10 and the confidence ``d`` use ``alpha_preference``; ``cnt`` counts a
poll only at ``alpha_confidence`` and a successful poll below it resets ``cnt`` to 0.

Departure from the figure, line 18: the paper accepts ``col`` (the snowball preference), which
can differ from ``lastcol`` -- the colour that just had β consecutive successes -- when an
earlier colour still has the higher ``d``. avalanchego's ``binarySnowball.Preference`` returns
the snowflake's choice (``lastcol``) once finalized, "handled for completion"; this spec decides
``lastcol`` too, so that a decision is always backed by β consecutive successes.

Departure from the original design notes: their snowball does not reset ``cnt`` on an
unsuccessful query and switches on the last successful colour; this spec follows Figure 3.

Invariants (over the node and :class:`.snow_common.Observed`, recorded from the answers)
    ``preference_valid``                          -- ``col``, ``lastcol``, a decision are colours;
    ``snowball_confidence_counts_majorities``     -- ``d[c]`` is the number of polls with an
        alpha_preference majority for c (line 12, and nothing else);
    ``snowball_preference_has_highest_confidence`` -- ``d[col]`` is the largest ``d`` (13-14);
    ``snowflake_counter_is_consecutive_successes`` -- ``cnt`` is the trailing run of
        alpha_confidence successes for ``lastcol``, the last majority colour (15-17, 19);
    ``acceptance_needs_beta_successes``           -- decided iff that run reached β (line 18).
Step properties: ``decision_stable``; ``dual_thresholds`` (``d[c]`` grows only for a colour with
alpha_preference answers, ``cnt`` only at alpha_confidence, and ``col`` moves only to a colour
whose ``d`` became strictly larger).
Reachables: a node decides; a preference flips; a counter is reset after a success; ``col``
and ``lastcol`` differ (a successful poll for a colour with lower confidence).
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

PROTOCOL = "snowball"


def round_step(params: Params, state: NodeState, responses: Sequence[Colour]) -> NodeState:
    """One iteration of Figure 3's loop (lines 6-19), given the answers ``P``."""
    # line 4: while undecided
    if state.decided is not None:
        return state
    counts = tally(responses, params.colours)
    col, lastcol, cnt, d = state.col, state.lastcol, state.cnt, list(state.d)
    maj = False  # line 8
    for colour in range(params.colours):  # line 9
        if counts[colour] >= params.alpha_preference:  # line 10 (alpha_preference)
            maj = True  # line 11
            d[colour] += 1  # line 12
            if d[colour] > d[col]:  # line 13
                col = colour  # line 14
            confident = counts[colour] >= params.alpha_confidence
            if colour != lastcol:  # line 15
                lastcol, cnt = colour, (1 if confident else 0)  # line 16
            else:
                cnt = cnt + 1 if confident else 0  # line 17
            if cnt >= params.beta:  # line 18 (deciding lastcol: see the module docstring)
                return attrs.evolve(
                    state, col=col, lastcol=lastcol, cnt=cnt, d=tuple(d), decided=lastcol
                )
    if not maj:  # line 19
        cnt = 0
    return attrs.evolve(state, col=col, lastcol=lastcol, cnt=cnt, d=tuple(d))


# -- Invariants ----------------------------------------------------------------------------------


def snowball_confidence_counts_majorities(params: Params, state: NodeState, seen: Observed) -> bool:
    """``d[c]`` is the number of alpha_preference-majority polls for c (line 12)."""
    return state.d == seen.majorities


def snowball_preference_has_highest_confidence(
    params: Params, state: NodeState, seen: Observed
) -> bool:
    """``d[col] = max d`` (lines 13-14 switch when another colour strictly exceeds it)."""
    return 0 <= state.col < len(state.d) and state.d[state.col] == max(state.d)


def snowflake_counter_is_consecutive_successes(
    params: Params, state: NodeState, seen: Observed
) -> bool:
    """``cnt`` counts the trailing alpha_confidence successes for ``lastcol`` (15-17, 19)."""
    last = seen.last_majority if seen.last_majority is not None else seen.start
    if state.lastcol != last or state.cnt != seen.run_length:
        return False
    return seen.run_length == 0 or seen.run_colour == state.lastcol


def acceptance_needs_beta_successes(params: Params, state: NodeState, seen: Observed) -> bool:
    """Decided iff β consecutive alpha_confidence successes for one colour, that colour."""
    if state.decided is None:
        return seen.run_length < params.beta
    return seen.run_length >= params.beta and state.decided == seen.run_colour


def _valid(params: Params, state: NodeState, seen: Observed) -> bool:
    return preference_valid(params, state)


INVARIANTS: tuple[tuple[str, str, Callable[[Params, NodeState, Observed], bool]], ...] = (
    ("preference_valid", "a node's colours and decision are configured colours", _valid),
    (
        "snowball_confidence_counts_majorities",
        "d[c] is the number of alpha_preference-majority polls for c (line 12)",
        snowball_confidence_counts_majorities,
    ),
    (
        "snowball_preference_has_highest_confidence",
        "the preference has the highest confidence d (lines 13-14)",
        snowball_preference_has_highest_confidence,
    ),
    (
        "snowflake_counter_is_consecutive_successes",
        "cnt is the run of trailing alpha_confidence successes for lastcol (lines 15-17, 19)",
        snowflake_counter_is_consecutive_successes,
    ),
    (
        "acceptance_needs_beta_successes",
        "decided iff beta consecutive successes for the decided colour (line 18)",
        acceptance_needs_beta_successes,
    ),
)

# -- Step properties -----------------------------------------------------------------------------


def dual_thresholds(
    params: Params, pre: NodeState, responses: Sequence[Any], post: NodeState
) -> bool:
    """``d[c]`` grows only at alpha_preference answers for c, ``cnt`` only at
    alpha_confidence for ``lastcol``, and ``col`` moves only to a strictly larger ``d``."""
    for colour, (before, after) in enumerate(zip(pre.d, post.d, strict=True)):
        if after > before and count_for(params, responses, colour) < params.alpha_preference:
            return False
    grew = post.cnt > (pre.cnt if post.lastcol == pre.lastcol else 0)
    if grew and count_for(params, responses, post.lastcol) < params.alpha_confidence:
        return False
    if post.col != pre.col:
        inside = 0 <= post.col < len(post.d) and 0 <= pre.col < len(post.d)
        return inside and post.d[post.col] > post.d[pre.col]
    return True


def _stable(params: Params, pre: NodeState, responses: Sequence[Any], post: NodeState) -> bool:
    return decision_stable(pre, post)


STEPS: tuple[
    tuple[str, str, Callable[[Params, NodeState, Sequence[Any], NodeState], bool]], ...
] = (
    ("decision_stable", "a decision never changes", _stable),
    (
        "dual_thresholds",
        "d grows at alpha_preference, cnt at alpha_confidence, col only to a larger d",
        dual_thresholds,
    ),
)

# -- Reachables ----------------------------------------------------------------------------------


def some_node_decides(nodes: Sequence[NodeState], seen: Sequence[Observed]) -> bool:
    return any(node.decided is not None for node in nodes)


def preference_flipped(nodes: Sequence[NodeState], seen: Sequence[Observed]) -> bool:
    return any(node.col != s.start for node, s in zip(nodes, seen, strict=True))


def preference_differs_from_last_success(
    nodes: Sequence[NodeState], seen: Sequence[Observed]
) -> bool:
    """``col != lastcol``: the last success went to a colour with lower confidence."""
    return any(node.col != node.lastcol for node in nodes)


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
    (
        "preference_differs_from_last_success",
        "col and lastcol differ (line 13 kept the preference on a tie or lower d)",
        preference_differs_from_last_success,
    ),
)
