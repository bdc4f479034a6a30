"""Binary agreement (MMR with the CONF round): the threshold lemmas for every n > 3f, with z3.

Source: Mostéfaoui, Moumen, Raynal, JACM 2015, Figure 1 (BV-broadcast) and Figure 2 (line 06);
amiller/HoneyBadgerBFT#59 and poanetwork/hbbft#37 (the CONF round). Counting premises as in
:mod:`.rbc`: k senders with at most f faulty hold at least k − f correct ones; two sets of sizes a
and b among n share at least a + b − n.

* ``relay_set_holds_a_correct_node`` -- f+1 BVAL(b) include a correct sender, so b was some
  correct node's estimate (BV-Justification: the spec's ``validity``);
* ``accepted_value_reaches_every_correct_node`` -- 2f+1 BVAL(b) include f+1 correct ones, which
  make every correct node relay b, so every correct node accepts b (BV-Uniformity);
* ``aux_quorums_share_a_correct_node`` -- two sets of n − f AUX (or CONF) share a correct node:
  two singletons of one round are equal, and a node's n − f CONFs include a CONF sent before the
  coin opened (the argument for the spec's ``no_adaptive_split``).
"""

from __future__ import annotations

import z3

from .core import Goal, Proof, ProofMutant, named_proof

PROTOCOL = "aba"
SOURCE = "Mostéfaoui-Moumen-Raynal JACM 2015 Figures 1-2; HoneyBadgerBFT#59; hbbft#37."
ASSUMPTIONS = "any n > 3f >= 0 (integers); at most f faulty nodes."

RELAY_ON_F = "aba/relay-on-f"
AUX_F_PLUS_ONE = "aba/aux-quorum-f-plus-one"

MUTANTS = (
    ProofMutant(
        RELAY_ON_F,
        PROTOCOL,
        "relay after f BVALs: they may all be Byzantine",
        ("aba.relay_set_holds_a_correct_node",),
    ),
    ProofMutant(
        AUX_F_PLUS_ONE,
        PROTOCOL,
        "values from f+1 AUX: two such sets need not intersect at all",
        ("aba.aux_quorums_share_a_correct_node",),
    ),
)


def relay_set_holds_a_correct_node(mutant: str | None) -> Goal:
    """f+1 senders include at least one correct node."""
    n, f, correct = z3.Ints("n f correct")
    k = f if mutant == RELAY_ON_F else f + 1
    # the mutant is meaningful with at least one fault
    hyps = (n > 3 * f, f >= (1 if mutant == RELAY_ON_F else 0), correct >= k - f)
    return Goal("correct >= 1", correct >= 1, hyps, ((("f", f), ("correct", correct)),))


def accepted_value_reaches_every_correct_node(mutant: str | None) -> Goal:
    """2f+1 senders include f+1 correct ones (each correct node then relays)."""
    n, f, correct = z3.Ints("n f correct")
    hyps = (n > 3 * f, f >= 0, correct >= 2 * f + 1 - f)
    return Goal("correct >= f + 1", correct >= f + 1, hyps, ((("f", f), ("correct", correct)),))


def aux_quorums_share_a_correct_node(mutant: str | None) -> Goal:
    """Two sets of n − f senders share more than f nodes, hence a correct one."""
    n, f, shared = z3.Ints("n f shared")
    k = f + 1 if mutant == AUX_F_PLUS_ONE else n - f
    lowest = 1 if mutant == AUX_F_PLUS_ONE else 0  # the mutant is meaningful with a fault
    hyps = (n > 3 * f, f >= lowest, shared >= 2 * k - n, shared >= 0)
    return Goal("shared > f", shared > f, hyps, ((("n", n), ("f", f), ("shared", shared)),))


PROOFS: tuple[Proof, ...] = tuple(
    named_proof(PROTOCOL, build, ASSUMPTIONS, SOURCE)
    for build in (
        relay_set_holds_a_correct_node,
        accepted_value_reaches_every_correct_node,
        aux_quorums_share_a_correct_node,
    )
)
