"""ACS and the HoneyBadger epoch: the counting lemmas behind their guarantees, for every n > 3f.

Source: Miller et al., CCS 2016, §4.4 (Figure 4 and the ACS lemmas: the output holds at least
N − f values, of which N − 2f from correct nodes) and §4.5 (censorship resilience). Sets of
nodes are counted by integers (as in :mod:`.rbc`): a set of ``k`` nodes with at most ``f``
faulty ones holds at least ``k − f`` correct nodes; two sets of ``a`` and ``b`` among ``m`` nodes
share at least ``a + b − m`` (the premises z3's linear arithmetic needs).

* ``output_has_n_minus_f_proposals`` -- a BA decides 0 only if a correct node input 0 (ABA
  validity), which Figure 4 line 2 allows only after n − f BAs decided 1; so either no BA decided
  0 and all n decided 1, or n − f did: |C| ≥ n − f;
* ``output_has_n_minus_2f_correct_proposals`` -- |C| ≥ n − f with at most f Byzantine proposers
  gives at least n − 2f correct ones, and n − 2f ≥ f + 1 ≥ 1;
* ``correct_proposers_reach_the_zero_threshold`` -- the n − f correct proposers' RBCs deliver
  everywhere, so their BAs alone can reach line 2's threshold (else ACS could wait forever when
  the Byzantine proposers are silent);
* ``subset_meets_every_f_plus_1_holders`` -- HoneyBadger's censorship argument: C holds at least
  n − 2f correct proposers, and f + 1 of the n − f correct nodes hold a transaction, so C holds
  a holder's proposal ((n − 2f) + (f + 1) > n − f).
"""

from __future__ import annotations

import z3

from .core import Goal, Proof, ProofMutant, named_proof

PROTOCOL = "acs"
SOURCE = "Miller et al. CCS 2016, §4.4 Figure 4, §4.5 (censorship resilience)."
ASSUMPTIONS = "any n > 3f >= 0 (integers); at most f faulty nodes; RBC and ABA guarantees."

ZERO_EARLY = "acs/zero-input-after-f-plus-1-ones"
ZERO_LATE = "acs/zero-input-after-n-f-plus-1-ones"
FEW_HOLDERS = "acs/censorship-with-f-holders"

MUTANTS = (
    ProofMutant(
        ZERO_EARLY,
        PROTOCOL,
        "input 0 after f+1 ones: a BA may decide 0 while fewer than n - f decided 1",
        ("acs.output_has_n_minus_f_proposals",),
    ),
    ProofMutant(
        ZERO_LATE,
        PROTOCOL,
        "input 0 after n-f+1 ones: the correct proposers alone no longer reach the threshold",
        ("acs.correct_proposers_reach_the_zero_threshold",),
    ),
    ProofMutant(
        FEW_HOLDERS,
        PROTOCOL,
        "a transaction held by f correct nodes only: C may hold none of their proposals",
        ("acs.subset_meets_every_f_plus_1_holders",),
    ),
)


def _sizes() -> tuple[z3.ArithRef, z3.ArithRef]:
    return z3.Int("n"), z3.Int("f")


def zero_threshold(n: z3.ArithRef, f: z3.ArithRef, mutant: str | None) -> z3.ArithRef:
    if mutant == ZERO_EARLY:
        return f + 1
    if mutant == ZERO_LATE:
        return n - f + 1
    return n - f


def output_has_n_minus_f_proposals(mutant: str | None) -> Goal:
    """If some BA decided 0, at least the zero threshold (n − f) decided 1; else all n did."""
    n, f = _sizes()
    ones, zeros = z3.Int("ones"), z3.Int("zeros")
    hyps = (
        n > 3 * f,
        f >= 1,
        ones >= 0,
        zeros >= 0,
        ones + zeros == n,  # every BA completed (Figure 4 line 3 waits for all)
        z3.Implies(zeros > 0, ones >= zero_threshold(n, f, mutant)),  # validity + line 2
    )
    return Goal(
        "ones >= n - f",
        ones >= n - f,
        hyps,
        ((("n", n), ("f", f), ("ones", ones), ("zeros", zeros)),),
    )


def output_has_n_minus_2f_correct_proposals(mutant: str | None) -> Goal:
    """|C| ≥ n − f with at most f Byzantine members holds ≥ n − 2f ≥ f + 1 correct ones."""
    n, f = _sizes()
    size, byz = z3.Int("size"), z3.Int("byzantine_in_C")
    hyps = (n > 3 * f, f >= 0, size >= n - f, size <= n, byz >= 0, byz <= f, byz <= size)
    correct = size - byz
    return Goal(
        "correct_in_C >= n - 2f and n - 2f >= f + 1",
        z3.And(correct >= n - 2 * f, n - 2 * f >= f + 1),
        hyps,
        ((("n", n), ("f", f), ("size", size), ("byzantine", byz)),),
    )


def correct_proposers_reach_the_zero_threshold(mutant: str | None) -> Goal:
    """The n − f correct proposers alone meet line 2's threshold (ACS terminates)."""
    n, f = _sizes()
    t = zero_threshold(n, f, mutant)
    return Goal(
        "n - f >= threshold",
        n - f >= t,
        (n > 3 * f, f >= 0),
        ((("n", n), ("f", f)),),
    )


def subset_meets_every_f_plus_1_holders(mutant: str | None) -> Goal:
    """C's ≥ n − 2f correct proposers and f + 1 correct holders share a node."""
    n, f = _sizes()
    in_c, holders, shared = z3.Int("correct_in_C"), z3.Int("holders"), z3.Int("shared")
    wanted = f if mutant == FEW_HOLDERS else f + 1
    hyps = (
        n > 3 * f,
        f >= 0,
        in_c >= n - 2 * f,
        in_c <= n - f,
        holders == wanted,
        shared >= 0,
        shared >= in_c + holders - (n - f),  # both are sets of the n − f correct nodes
        shared <= in_c,
        shared <= holders,
    )
    return Goal(
        "shared >= 1",
        shared >= 1,
        hyps,
        ((("n", n), ("f", f), ("correct_in_C", in_c), ("holders", holders), ("shared", shared)),),
    )


PROOFS: tuple[Proof, ...] = tuple(
    named_proof(PROTOCOL, build, ASSUMPTIONS, SOURCE)
    for build in (
        output_has_n_minus_f_proposals,
        output_has_n_minus_2f_correct_proposals,
        correct_proposers_reach_the_zero_threshold,
        subset_meets_every_f_plus_1_holders,
    )
)
