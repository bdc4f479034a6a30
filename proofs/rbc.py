"""Bracha reliable broadcast: the threshold lemmas for every n > 3f, with z3.

Source: Bracha 1987, section 2 (Lemmas 1-3); Miller et al. CCS 2016, Figure 2. Sets of nodes
are counted by integers: a set of ``k`` nodes out of ``n`` with at most ``f`` faulty ones holds
at least ``k - f`` correct nodes, and two sets of sizes ``a`` and ``b`` among ``n`` nodes share at
least ``a + b - n`` of them (the counting facts z3's linear arithmetic needs: the premises).

* ``echo_quorums_share_a_correct_node`` -- two sets of ⌈(n+f+1)/2⌉ echoes share a correct node,
  hence no two correct nodes send READY for different values (the spec's ``ready_agreement``);
* ``deliver_quorum_holds_f_plus_one_correct`` -- 2f+1 READYs include f+1 from correct nodes,
  which every correct node eventually receives, so each sends READY by amplification (totality);
* ``correct_nodes_reach_a_deliver_quorum`` -- n − f correct nodes are at least 2f+1 (and at least
  ⌈(n+f+1)/2⌉): the correct nodes alone complete every quorum (validity, totality);
* ``avid_echo_quorums_share_a_correct_node`` -- (HB Fig. 2, erasure-coded) two sets of N − f
  valid ECHOs share a correct node: one root is readied, and no root is delivered by one correct
  node and aborted by another (the spec's ``ready_agreement`` and ``outcome_agreement``);
* ``avid_echo_quorum_holds_enough_correct_blocks`` -- N − f ECHOs hold N − 2f correct ones, so
  every correct node gets the N − 2f blocks it waits for at output (totality).
"""

from __future__ import annotations

import z3

from .core import Goal, Proof, ProofMutant, named_proof

PROTOCOL = "rbc"
SOURCE = "Bracha 1987 section 2 (Lemmas 1-3); Miller et al. CCS 2016 Figure 2."
ASSUMPTIONS = "any n > 3f >= 0 (integers); at most f faulty nodes."

LOW_ECHO = "rbc/ready-threshold-2f"
LOW_READY = "rbc/deliver-on-2f-readies"
AVID_LOW_ECHO = "rbc/avid-ready-on-2f-echoes"
AVID_OUTPUT_ECHOES = "rbc/avid-output-waits-for-n-minus-f-echoes"

MUTANTS = (
    ProofMutant(
        LOW_ECHO,
        PROTOCOL,
        "READY after 2f echoes: two echo sets may share only faulty nodes",
        ("rbc.echo_quorums_share_a_correct_node",),
    ),
    ProofMutant(
        LOW_READY,
        PROTOCOL,
        "deliver on 2f READYs: they may hold only f correct ones, short of amplification's f+1",
        ("rbc.deliver_quorum_holds_f_plus_one_correct",),
    ),
    ProofMutant(
        AVID_LOW_ECHO,
        PROTOCOL,
        "AVID READY after 2f valid ECHOs: two echo sets may share only faulty nodes",
        ("rbc.avid_echo_quorums_share_a_correct_node",),
    ),
    ProofMutant(
        AVID_OUTPUT_ECHOES,
        PROTOCOL,
        "AVID output waits for N − f ECHOs: the correct ones of an echo quorum may be only N − 2f",
        ("rbc.avid_echo_quorum_holds_enough_correct_blocks",),
    ),
)


def _sizes() -> tuple[z3.ArithRef, z3.ArithRef]:
    return z3.Int("n"), z3.Int("f")


def echo_quorum(n: z3.ArithRef, f: z3.ArithRef, mutant: str | None) -> z3.ArithRef:
    if mutant == LOW_ECHO:
        return 2 * f
    q = z3.Int("q")  # ⌈(n+f+1)/2⌉ as the unique q with 2q >= n+f+1 > 2q - 2
    return q


def echo_quorums_share_a_correct_node(mutant: str | None) -> Goal:
    """Two sets of echo_quorum(n, f) nodes share more than f nodes, hence a correct one."""
    n, f = _sizes()
    q = echo_quorum(n, f, mutant)
    shared = z3.Int("shared")
    hyps = [n > 3 * f, f >= 0, shared >= 2 * q - n, shared >= 0]
    if mutant != LOW_ECHO:
        hyps += [2 * q >= n + f + 1, 2 * q <= n + f + 2]
    else:
        hyps.append(f >= 1)  # "2f echoes" means nothing without a fault
    return Goal(
        "shared > f",
        shared > f,
        tuple(hyps),
        ((("n", n), ("f", f), ("quorum", q), ("shared", shared)),),
    )


def deliver_quorum_holds_f_plus_one_correct(mutant: str | None) -> Goal:
    """Among 2f+1 READY senders at least f+1 are correct (the amplification threshold)."""
    n, f = _sizes()
    k = 2 * f if mutant == LOW_READY else 2 * f + 1
    correct = z3.Int("correct_senders")
    hyps = (n > 3 * f, f >= 0, correct >= k - f)
    return Goal(
        "correct_senders >= f + 1", correct >= f + 1, hyps, ((("f", f), ("correct", correct)),)
    )


def correct_nodes_reach_a_deliver_quorum(mutant: str | None) -> Goal:
    """The n − f correct nodes alone reach 2f+1 and ⌈(n+f+1)/2⌉."""
    n, f = _sizes()
    q = z3.Int("q")
    hyps = (n > 3 * f, f >= 0, 2 * q >= n + f + 1, 2 * q <= n + f + 2)
    return Goal(
        "n - f >= 2f + 1 and n - f >= q",
        z3.And(n - f >= 2 * f + 1, n - f >= q),
        hyps,
        ((("n", n), ("f", f), ("q", q)),),
    )


def avid_echo_quorums_share_a_correct_node(mutant: str | None) -> Goal:
    """HB Fig. 2: two sets of N − f valid ECHOs share more than f nodes, hence a correct one,
    which echoed one root only: no two correct nodes READY different roots, and no node aborts
    a root another delivers (the spec's ready_agreement and outcome_agreement)."""
    n, f = _sizes()
    q = 2 * f if mutant == AVID_LOW_ECHO else n - f
    shared = z3.Int("shared")
    hyps = [n > 3 * f, f >= 0, shared >= 2 * q - n, shared >= 0]
    if mutant == AVID_LOW_ECHO:
        hyps.append(f >= 1)
    return Goal(
        "shared > f",
        shared > f,
        tuple(hyps),
        ((("n", n), ("f", f), ("shared", shared)),),
    )


def avid_echo_quorum_holds_enough_correct_blocks(mutant: str | None) -> Goal:
    """HB Fig. 2: N − f ECHOs of a root include N − 2f from correct nodes, which every correct
    node receives, so every correct node can decode at output ("wait for N − 2f ECHO")."""
    n, f = _sizes()
    needed = n - f if mutant == AVID_OUTPUT_ECHOES else n - 2 * f
    correct = z3.Int("correct_echoes")
    hyps = [n > 3 * f, f >= 0, correct >= (n - f) - f]
    if mutant == AVID_OUTPUT_ECHOES:
        hyps.append(f >= 1)
    return Goal(
        "correct_echoes >= needed",
        correct >= needed,
        tuple(hyps),
        ((("n", n), ("f", f), ("correct", correct)),),
    )


PROOFS: tuple[Proof, ...] = tuple(
    named_proof(PROTOCOL, build, ASSUMPTIONS, SOURCE)
    for build in (
        echo_quorums_share_a_correct_node,
        deliver_quorum_holds_f_plus_one_correct,
        correct_nodes_reach_a_deliver_quorum,
        avid_echo_quorums_share_a_correct_node,
        avid_echo_quorum_holds_enough_correct_blocks,
    )
)
