"""Snowball proofs: the preference keeps the highest confidence; the counter is inductive.

Source: Team Rocket, arXiv:1906.08936 v2+, Figure 3 (lines 8-19); avalanchego
``binary_snowball.go`` (``preferenceStrength[choice]++``, switch only when strictly stronger)
and ``binary_snowflake.go``. See :mod:`.snow_common` for the encoding.

* ``preference_has_highest_confidence`` -- the inductive step of the spec's invariant
  ``snowball_preference_has_highest_confidence``: if ``d[col] >= d[other]`` before a poll, it
  holds after it (line 12 increments the winner; line 13 switches only on a strictly larger
  ``d``), for any counts and thresholds; initially both ``d`` are 0.
* ``counter_is_consecutive_successes`` -- the Snowflake counter step, on ``lastcol``
  (lines 15-17, 19).
"""

from __future__ import annotations

import z3

from .core import Goal, Proof, ProofMutant, named_proof
from .snow_common import binary, colour, outcome, poll, verified
from .snow_common import counter_is_consecutive_successes as counter_step_goal

PROTOCOL = "snowball"
SOURCE = "Team Rocket, arXiv:1906.08936 v2+, Figure 3; avalanchego binary_snowball.go."
ASSUMPTIONS = "k/2 < alpha_preference <= alpha_confidence <= k, 0 < beta; binary colours."

LAST_SUCCESS = "snowball/switch-on-last-success"
NO_RESET = "snowball/no-reset-on-failure"

MUTANTS = (
    ProofMutant(
        LAST_SUCCESS,
        PROTOCOL,
        "the preference moves to every successful colour, ignoring d (lines 13-14)",
        ("snowball.preference_has_highest_confidence",),
    ),
    ProofMutant(
        NO_RESET,
        PROTOCOL,
        "an unsuccessful poll keeps cnt (Figure 3 line 19 missing)",
        ("snowball.counter_is_consecutive_successes",),
    ),
)


def preference_has_highest_confidence(mutant: str | None) -> Goal:
    """d[col] >= d[other colour] is preserved by every poll."""
    p = poll()
    col = colour("col")
    d0, d1 = z3.Ints("d0 d1")
    o = outcome(p)
    # line 12: the winner's confidence grows
    e0 = z3.If(z3.And(o.maj, o.win == 0), d0 + 1, d0)
    e1 = z3.If(z3.And(o.maj, o.win == 1), d1 + 1, d1)

    def d_of(d_zero: z3.ArithRef, d_one: z3.ArithRef, c: z3.ArithRef) -> z3.ArithRef:
        return z3.If(c == 0, d_zero, d_one)

    # lines 13-14: switch only when strictly larger (the mutant: on every success)
    larger = d_of(e0, e1, o.win) > d_of(e0, e1, col)
    switch = o.maj if mutant == LAST_SUCCESS else z3.And(o.maj, larger)
    col2 = z3.If(switch, o.win, col)
    return Goal(
        claim="d[col] >= d[1 - col] after the poll",
        conclusion=d_of(e0, e1, col2) >= d_of(e0, e1, 1 - col2),
        hypotheses=(
            *verified(p),
            *binary(col),
            d0 >= 0,
            d1 >= 0,
            d_of(d0, d1, col) >= d_of(d0, d1, 1 - col),
        ),
        shown=(
            p.shown(),
            (("col", col), ("d[0]", d0), ("d[1]", d1)),
            (("col after", col2), ("d[0] after", e0), ("d[1] after", e1)),
        ),
    )


def counter_is_consecutive_successes(mutant: str | None) -> Goal:
    """One poll keeps cnt equal to the run of consecutive confident polls for lastcol."""
    hypotheses, conclusion, shown = counter_step_goal(mutant_reset=mutant == NO_RESET)
    return Goal(
        claim="cnt = run length, run colour = lastcol, lastcol = last majority (after the poll)",
        conclusion=conclusion,
        hypotheses=tuple(hypotheses),
        shown=shown,
    )


PROOFS: tuple[Proof, ...] = tuple(
    named_proof(PROTOCOL, build, ASSUMPTIONS, SOURCE)
    for build in (preference_has_highest_confidence, counter_is_consecutive_successes)
)
