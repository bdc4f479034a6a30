"""Slush proofs: one sample has at most one alpha_preference majority, for every k.

Source: Team Rocket, arXiv:1906.08936 v2+, Figure 1 lines 12-14 (``for col' in {R, B}: if
P.count(col') >= α then col := col'``): the loop is well defined -- it cannot adopt two
colours from one sample -- because ``α > k/2`` (avalanchego ``parameters.go``:
``K/2 < AlphaPreference``). The claim is stated for colour counts ``c0 + c1 <= k`` (any other
answers, Byzantine or a third colour, only make it easier). See :mod:`.snow_common`.
"""

from __future__ import annotations

import z3

from .core import Goal, Proof, ProofMutant, named_proof
from .snow_common import poll, verified

PROTOCOL = "slush"
SOURCE = "Team Rocket, arXiv:1906.08936 v2+, Figure 1 lines 12-14; avalanchego parameters.go."
ASSUMPTIONS = "k/2 < alpha_preference <= alpha_confidence <= k; any k >= 1; any answers."

HALF_K = "slush/half-k-threshold"

MUTANTS = (
    ProofMutant(
        HALF_K,
        PROTOCOL,
        "alpha_preference may be exactly k/2: a sample split in two halves has two majorities",
        ("slush.majority_is_unique",),
    ),
)


def majority_is_unique(mutant: str | None) -> Goal:
    """No sample has alpha_preference answers for two different colours."""
    p = poll()
    return Goal(
        claim="not (c0 >= alpha_preference and c1 >= alpha_preference)",
        conclusion=z3.Not(z3.And(p.c0 >= p.ap, p.c1 >= p.ap)),
        hypotheses=tuple(verified(p, half_k=mutant == HALF_K)),
        shown=(p.shown(),),
    )


PROOFS: tuple[Proof, ...] = (named_proof(PROTOCOL, majority_is_unique, ASSUMPTIONS, SOURCE),)
