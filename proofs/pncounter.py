"""PN-Counter proofs, for every number of replicas.

Source: Shapiro et al., "A comprehensive study of CRDTs" (INRIA RR-7506, 2011), §3.1.2,
Specification 7 (state-based PN-Counter: a pair of G-Counters); laws of §2.2.1, Def. 2.4.

Encoding
    payload        ``(P, N)``, two G-Counter payloads (:mod:`.gcounter`): ``P[i]`` counts replica
                   i's increments, ``N[i]`` its decrements; well formed when both are natural.
    merge          pointwise max on each component.
    compare        ``X.P <= Y.P and X.N <= Y.N`` (pointwise).
    increment      at replica i: ``P[i] := P[i] + 1``.
    decrement      at replica i: ``N[i] := N[i] + 1`` (a decrement *grows* N; the value
                   ``sum(P) - sum(N)`` drops, but the payload still moves up the lattice).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import z3

from .core import Goal, Labelled, Proof, ProofMutant, named_proof
from .gcounter import Replica, counts, increment, natural, pointwise_leq, pointwise_max
from .lattice import Lattice, inflation, premises, semilattice_proofs, show

PROTOCOL = "pncounter"
SOURCE = "Shapiro et al. 2011, §3.1.2, Specification 7; §2.2.1, Definition 2.4."
ASSUMPTIONS = (
    "every entry of P and of N is a natural number; replica ids range over an uninterpreted sort "
    "(any number of replicas)."
)


@attrs.frozen
class PN:
    """A PN-Counter payload: increments ``P`` and decrements ``N``, per replica."""

    P: z3.ExprRef
    N: z3.ExprRef


# -- The data type --------------------------------------------------------------------------------


def fresh(name: str) -> PN:
    return PN(counts(f"{name}.P"), counts(f"{name}.N"))


def parts(x: PN) -> tuple[Labelled, ...]:
    return (("P", x.P), ("N", x.N))


def well_formed(x: PN) -> z3.BoolRef:
    return z3.And(natural(x.P), natural(x.N))


def join(x: PN, y: PN) -> PN:
    return PN(pointwise_max(x.P, y.P), pointwise_max(x.N, y.N))


def leq(x: PN, y: PN) -> z3.BoolRef:
    return z3.And(pointwise_leq(x.P, y.P), pointwise_leq(x.N, y.N))


def increment_at(x: PN, i: z3.ExprRef) -> PN:
    """Spec 7 ``increment()`` at replica i: ``P[i] := P[i] + 1``."""
    return PN(increment(x.P, i), x.N)


def decrement_at(x: PN, i: z3.ExprRef) -> PN:
    """Spec 7 ``decrement()`` at replica i: ``N[i] := N[i] + 1``."""
    return PN(x.P, increment(x.N, i))


# -- Mutants --------------------------------------------------------------------------------------

DECREMENT_LOWERS_P = "pncounter/decrement-lowers-p"


def decrement_lowering_p(x: PN, i: z3.ExprRef) -> PN:
    """The mutant: a decrement lowers P[i] instead of growing N[i] (one vector, not two)."""
    return PN(z3.Store(x.P, i, x.P[i] - 1), x.N)


MUTANTS = (
    ProofMutant(
        DECREMENT_LOWERS_P,
        PROTOCOL,
        "decrement lowers P[i] instead of raising N[i]: the payload moves down the lattice",
        ("pncounter.decrement_inflates", "pncounter.decrement_preserves_well_formed"),
    ),
)


def encoding(mutant: str | None) -> Lattice[PN]:
    # no mutant of this protocol changes the lattice itself
    return Lattice(fresh=fresh, parts=parts, well_formed=well_formed, join=join, leq=leq)


def _decrement(mutant: str | None) -> Callable[[PN, z3.ExprRef], PN]:
    return decrement_lowering_p if mutant == DECREMENT_LOWERS_P else decrement_at


# -- Update proofs --------------------------------------------------------------------------------


def _inflates(mutant: str | None, name: str, update: Callable[[PN, z3.ExprRef], PN]) -> Goal:
    p, i = fresh("p"), z3.Const("i", Replica)
    return inflation(encoding(mutant), p, update(p, i), f"{name}(p, i)", (), ((("i", i),),))


def _preserves(mutant: str | None, name: str, update: Callable[[PN, z3.ExprRef], PN]) -> Goal:
    lattice = encoding(mutant)
    p, i = fresh("p"), z3.Const("i", Replica)
    after = update(p, i)
    return Goal(
        claim=f"{name}(p, i) is well formed",
        conclusion=lattice.well_formed(after),
        hypotheses=premises(lattice, p),
        shown=(show(lattice, "p", p), (("i", i),), show(lattice, f"{name}(p, i)", after)),
    )


def increment_inflates(mutant: str | None) -> Goal:
    """increment inflates: p < increment(p, i) in the lattice order, for every replica i."""
    return _inflates(mutant, "increment", increment_at)


def decrement_inflates(mutant: str | None) -> Goal:
    """decrement inflates: p < decrement(p, i) in the lattice order, for every replica i."""
    return _inflates(mutant, "decrement", _decrement(mutant))


def increment_preserves_well_formed(mutant: str | None) -> Goal:
    """increment stays inside the payload type: P and N stay natural."""
    return _preserves(mutant, "increment", increment_at)


def decrement_preserves_well_formed(mutant: str | None) -> Goal:
    """decrement stays inside the payload type: P and N stay natural."""
    return _preserves(mutant, "decrement", _decrement(mutant))


PROOFS: tuple[Proof, ...] = (
    *semilattice_proofs(PROTOCOL, encoding, ASSUMPTIONS, SOURCE),
    *(
        named_proof(PROTOCOL, build, ASSUMPTIONS, SOURCE)
        for build in (
            increment_inflates,
            decrement_inflates,
            increment_preserves_well_formed,
            decrement_preserves_well_formed,
        )
    ),
)
