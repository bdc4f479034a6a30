"""G-Counter proofs, for every number of replicas.

Source: Shapiro et al., "A comprehensive study of CRDTs" (INRIA RR-7506, 2011), §3.1.1,
Specification 6 (state-based increment-only counter); the laws are those of §2.2.1, Def. 2.4.
The executable spec is :mod:`mnemosyne_consensus.spec.gcounter`; this module re-encodes it in z3.

Encoding
    ``Replica``    an uninterpreted sort: replica ids, as many as you like, with equality only.
                   No proof fixes n, so each holds for every number of replicas.
    payload ``P``  ``Array(Replica -> Int)``; well formed when every entry is a natural number.
    merge          pointwise max, ``λr. max(X[r], Y[r])``.
    compare        pointwise ``<=`` (``∀r. X[r] <= Y[r]``).
    increment      at replica ``i``: ``Store(P, i, P[i] + 1)``.

The helpers here (:func:`counts`, :func:`pointwise_max`, ...) are reused by the PN-Counter (two
G-Counters) and by vector clocks (a G-Counter of events per process).
"""

from __future__ import annotations

import z3

from .core import Goal, Proof, ProofMutant, named_proof
from .lattice import Lattice, inflation, premises, semilattice_proofs, show

PROTOCOL = "gcounter"
SOURCE = "Shapiro et al. 2011, §3.1.1, Specification 6; §2.2.1, Definition 2.4."
ASSUMPTIONS = (
    "every entry of a payload is a natural number; replica ids range over an uninterpreted sort "
    "(any number of replicas)."
)

Replica = z3.DeclareSort("Replica")

# -- The data type --------------------------------------------------------------------------------


def counts(name: str, domain: z3.SortRef = Replica) -> z3.ExprRef:
    """A symbolic vector of counts, one per replica (or process)."""
    return z3.Array(name, domain, z3.IntSort())


def natural(p: z3.ExprRef) -> z3.BoolRef:
    r = z3.Const("r", p.sort().domain())
    return z3.ForAll([r], p[r] >= 0)


def pointwise_max(p: z3.ExprRef, q: z3.ExprRef) -> z3.ExprRef:
    r = z3.Const("r", p.sort().domain())
    return z3.Lambda([r], z3.If(p[r] >= q[r], p[r], q[r]))


def pointwise_leq(p: z3.ExprRef, q: z3.ExprRef) -> z3.BoolRef:
    r = z3.Const("r", p.sort().domain())
    return z3.ForAll([r], p[r] <= q[r])


def increment(p: z3.ExprRef, i: z3.ExprRef) -> z3.ExprRef:
    """Spec 6 ``increment()`` at replica i: ``P[i] := P[i] + 1``."""
    return z3.Store(p, i, p[i] + 1)


# -- Mutants --------------------------------------------------------------------------------------


def pointwise_sum(p: z3.ExprRef, q: z3.ExprRef) -> z3.ExprRef:
    r = z3.Const("r", p.sort().domain())
    return z3.Lambda([r], p[r] + q[r])


def pointwise_min(p: z3.ExprRef, q: z3.ExprRef) -> z3.ExprRef:
    r = z3.Const("r", p.sort().domain())
    return z3.Lambda([r], z3.If(p[r] <= q[r], p[r], q[r]))


SUM_MERGE = "gcounter/sum-merge"
MIN_MERGE = "gcounter/min-merge"

MUTANTS = (
    ProofMutant(
        SUM_MERGE,
        PROTOCOL,
        "merge adds the vectors (the design notes' bug): a duplicated delivery counts twice",
        ("gcounter.join_idempotent", "gcounter.join_least"),
    ),
    ProofMutant(
        MIN_MERGE,
        PROTOCOL,
        "merge takes the pointwise minimum (a meet, not a join)",
        ("gcounter.join_upper_bound",),
    ),
)

_JOINS = {SUM_MERGE: pointwise_sum, MIN_MERGE: pointwise_min}


def encoding(mutant: str | None) -> Lattice[z3.ExprRef]:
    return Lattice(
        fresh=counts,
        parts=lambda p: (("", p),),
        well_formed=natural,
        join=_JOINS.get(mutant or "", pointwise_max),
        leq=pointwise_leq,
    )


# -- Update proofs --------------------------------------------------------------------------------


def increment_inflates(mutant: str | None) -> Goal:
    """increment inflates: p <= increment(p, i) and p != increment(p, i), for every replica i."""
    lattice = encoding(mutant)
    p, i = counts("p"), z3.Const("i", Replica)
    return inflation(lattice, p, increment(p, i), "increment(p, i)", (), ((("i", i),),))


def increment_preserves_well_formed(mutant: str | None) -> Goal:
    """increment stays inside the payload type: increment(p, i) has natural entries."""
    lattice = encoding(mutant)
    p, i = counts("p"), z3.Const("i", Replica)
    after = increment(p, i)
    return Goal(
        claim="increment(p, i) is well formed",
        conclusion=lattice.well_formed(after),
        hypotheses=premises(lattice, p),
        shown=(show(lattice, "p", p), (("i", i),), show(lattice, "increment(p, i)", after)),
    )


PROOFS: tuple[Proof, ...] = (
    *semilattice_proofs(PROTOCOL, encoding, ASSUMPTIONS, SOURCE),
    named_proof(PROTOCOL, increment_inflates, ASSUMPTIONS, SOURCE),
    named_proof(PROTOCOL, increment_preserves_well_formed, ASSUMPTIONS, SOURCE),
)
