"""Snowflake proofs: a confident poll is successful, and the counter invariant is inductive.

Source: Team Rocket, arXiv:1906.08936 v2+, Figure 2 (lines 7-15); avalanchego
``binary_snowflake.go`` (``RecordPoll``: confidence counts at ``AlphaConfidence``, a change of
choice or a poll below it clears it) and ``parameters.go`` (``AlphaPreference <=
AlphaConfidence``). See :mod:`.snow_common` for the encoding.

* ``confident_poll_is_successful`` -- a poll with alpha_confidence answers for a colour also has
  alpha_preference answers for it: the counter never counts a poll that could not move the
  preference.
* ``counter_is_consecutive_successes`` -- the inductive step, for all k, thresholds, β and
  counts, of the spec's invariant ``snowflake_counter_is_consecutive_successes``: if ``cnt`` is
  the length of the trailing run of confident polls for ``col`` and ``col`` is the last
  majority colour, one more poll (Figure 2 lines 7-15) keeps it so. With the initial state
  (``cnt = 0``, no run, ``col = col0``) this proves the invariant for runs of any length, where
  the model checker covers 3 polls per node. Binary colours, as in the figure.
"""

from __future__ import annotations

import z3

from .core import Goal, Proof, ProofMutant, named_proof
from .snow_common import counter_is_consecutive_successes as counter_step_goal
from .snow_common import poll, verified

PROTOCOL = "snowflake"
SOURCE = "Team Rocket, arXiv:1906.08936 v2+, Figure 2; avalanchego binary_snowflake.go."
ASSUMPTIONS = "k/2 < alpha_preference <= alpha_confidence <= k, 0 < beta; binary colours."

INVERTED = "snowflake/alpha-confidence-below-preference"
NO_RESET = "snowflake/no-reset-on-failure"

MUTANTS = (
    ProofMutant(
        INVERTED,
        PROTOCOL,
        "parameters allow alpha_confidence < alpha_preference",
        ("snowflake.confident_poll_is_successful",),
    ),
    ProofMutant(
        NO_RESET,
        PROTOCOL,
        "an unsuccessful poll keeps cnt (Figure 2 line 15 missing)",
        ("snowflake.counter_is_consecutive_successes",),
    ),
)


def confident_poll_is_successful(mutant: str | None) -> Goal:
    """A poll with alpha_confidence answers for colour 0 has alpha_preference answers for it."""
    p = poll()
    return Goal(
        claim="c0 >= alpha_confidence implies c0 >= alpha_preference",
        conclusion=z3.Implies(p.c0 >= p.ac, p.c0 >= p.ap),
        hypotheses=tuple(verified(p, inverted=mutant == INVERTED)),
        shown=(p.shown(),),
    )


def counter_is_consecutive_successes(mutant: str | None) -> Goal:
    """One poll keeps cnt equal to the run of consecutive confident polls for col."""
    hypotheses, conclusion, shown = counter_step_goal(mutant_reset=mutant == NO_RESET)
    return Goal(
        claim="cnt = run length, run colour = col, col = last majority (after the poll)",
        conclusion=conclusion,
        hypotheses=tuple(hypotheses),
        shown=shown,
    )


PROOFS: tuple[Proof, ...] = tuple(
    named_proof(PROTOCOL, build, ASSUMPTIONS, SOURCE)
    for build in (confident_poll_is_successful, counter_is_consecutive_successes)
)
