"""The semilattice laws of a state-based CRDT, proved once for any encoding of its payload.

Source: Shapiro et al., "A comprehensive study of CRDTs" (INRIA RR-7506, 2011), §2.2.1:
Definition 2.4 (a CvRDT's payloads form a join semilattice ordered by ``compare``, ``merge``
computes the least upper bound, and every update inflates) and Proposition 2.1 (such replicas
converge). Each law below is one goal; a protocol module registers them for its encoding with
:func:`semilattice_proofs`.

An encoding (:class:`Lattice`) gives the payload as a tuple of named z3 terms, its well-formedness
predicate, ``join`` (``merge``), ``leq`` (``compare``), and optionally a *coherence* hypothesis
relating any two payloads of one execution (the LWW-Register's "one value per timestamp").
Every law assumes all its payloads well formed and pairwise coherent, and nothing else. Equality
of payloads is equality of every part; for arrays that is extensionality, so a law proved here
holds entry by entry at every replica id, whatever the number of replicas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations
from typing import Any, Generic, TypeVar

import attrs
import z3

from .core import Goal, Labelled, Proof, describe

P = TypeVar("P")  # a payload: whatever tuple of z3 terms the encoding uses


def _always(_p: Any, _q: Any) -> z3.BoolRef:
    return z3.BoolVal(True)


@attrs.frozen
class Lattice(Generic[P]):
    """A CRDT payload semilattice, encoded in z3."""

    fresh: Callable[[str], P]  # a symbolic payload whose free constants are named after ``name``
    parts: Callable[[P], tuple[Labelled, ...]]  # its named components ("" for a single term)
    well_formed: Callable[[P], z3.BoolRef]
    join: Callable[[P, P], P]
    leq: Callable[[P, P], z3.BoolRef]
    # a hypothesis on any two payloads of one execution (default: none)
    coherent: Callable[[P, P], z3.BoolRef] = _always


# -- Helpers --------------------------------------------------------------------------------------


def equal(lattice: Lattice[P], p: P, q: P) -> z3.BoolRef:
    """Payload equality: every part equal (arrays: extensionally)."""
    pairs = zip(lattice.parts(p), lattice.parts(q), strict=True)
    return z3.And([x == y for (_, x), (_, y) in pairs])


def show(lattice: Lattice[P], label: str, p: P) -> tuple[Labelled, ...]:
    """One counterexample line: the parts of ``p``, labelled ``label.part``."""
    return tuple((f"{label}.{part}" if part else label, term) for part, term in lattice.parts(p))


def premises(lattice: Lattice[P], *payloads: P) -> tuple[z3.BoolRef, ...]:
    """Every payload well formed, every two payloads coherent."""
    well_formed = [lattice.well_formed(p) for p in payloads]
    coherent = [lattice.coherent(p, q) for p, q in combinations(payloads, 2)]
    return (*well_formed, *coherent)


def inflation(
    lattice: Lattice[P],
    before: P,
    after: P,
    update: str,
    hypotheses: Sequence[z3.BoolRef],
    inputs: Sequence[tuple[Labelled, ...]],
) -> Goal:
    """The goal ``before < after``: the update moves the payload strictly up the order."""
    return Goal(
        claim=f"p <= {update} and p != {update}",
        conclusion=z3.And(lattice.leq(before, after), z3.Not(equal(lattice, before, after))),
        hypotheses=(*premises(lattice, before), *hypotheses),
        shown=(show(lattice, "p", before), *inputs, show(lattice, update, after)),
    )


# -- The laws -------------------------------------------------------------------------------------


def join_commutative(lattice: Lattice[Any]) -> Goal:
    """merge is commutative: join(a, b) = join(b, a)."""
    a, b = lattice.fresh("a"), lattice.fresh("b")
    ab, ba = lattice.join(a, b), lattice.join(b, a)
    return Goal(
        claim="join(a, b) = join(b, a)",
        conclusion=equal(lattice, ab, ba),
        hypotheses=premises(lattice, a, b),
        shown=(
            show(lattice, "a", a),
            show(lattice, "b", b),
            show(lattice, "join(a, b)", ab),
            show(lattice, "join(b, a)", ba),
        ),
    )


def join_associative(lattice: Lattice[Any]) -> Goal:
    """merge is associative: join(join(a, b), c) = join(a, join(b, c))."""
    a, b, c = lattice.fresh("a"), lattice.fresh("b"), lattice.fresh("c")
    left = lattice.join(lattice.join(a, b), c)
    right = lattice.join(a, lattice.join(b, c))
    return Goal(
        claim="join(join(a, b), c) = join(a, join(b, c))",
        conclusion=equal(lattice, left, right),
        hypotheses=premises(lattice, a, b, c),
        shown=(
            show(lattice, "a", a),
            show(lattice, "b", b),
            show(lattice, "c", c),
            show(lattice, "join(join(a, b), c)", left),
            show(lattice, "join(a, join(b, c))", right),
        ),
    )


def join_idempotent(lattice: Lattice[Any]) -> Goal:
    """merge is idempotent: join(a, a) = a, so a duplicated delivery changes nothing."""
    a = lattice.fresh("a")
    aa = lattice.join(a, a)
    return Goal(
        claim="join(a, a) = a",
        conclusion=equal(lattice, aa, a),
        hypotheses=premises(lattice, a),
        shown=(show(lattice, "a", a), show(lattice, "join(a, a)", aa)),
    )


def join_upper_bound(lattice: Lattice[Any]) -> Goal:
    """merge is an upper bound: a <= join(a, b) and b <= join(a, b)."""
    a, b = lattice.fresh("a"), lattice.fresh("b")
    ab = lattice.join(a, b)
    return Goal(
        claim="a <= join(a, b) and b <= join(a, b)",
        conclusion=z3.And(lattice.leq(a, ab), lattice.leq(b, ab)),
        hypotheses=premises(lattice, a, b),
        shown=(show(lattice, "a", a), show(lattice, "b", b), show(lattice, "join(a, b)", ab)),
    )


def join_least(lattice: Lattice[Any]) -> Goal:
    """merge is the least upper bound: every c above a and b is above join(a, b)."""
    a, b, c = lattice.fresh("a"), lattice.fresh("b"), lattice.fresh("c")
    ab = lattice.join(a, b)
    return Goal(
        claim="a <= c and b <= c imply join(a, b) <= c",
        conclusion=lattice.leq(ab, c),
        hypotheses=(*premises(lattice, a, b, c), lattice.leq(a, c), lattice.leq(b, c)),
        shown=(
            show(lattice, "a", a),
            show(lattice, "b", b),
            show(lattice, "c", c),
            show(lattice, "join(a, b)", ab),
        ),
    )


def join_preserves_well_formed(lattice: Lattice[Any]) -> Goal:
    """merge stays inside the payload type: join(a, b) is well formed."""
    a, b = lattice.fresh("a"), lattice.fresh("b")
    ab = lattice.join(a, b)
    return Goal(
        claim="join(a, b) is well formed",
        conclusion=lattice.well_formed(ab),
        hypotheses=premises(lattice, a, b),
        shown=(show(lattice, "a", a), show(lattice, "b", b), show(lattice, "join(a, b)", ab)),
    )


def leq_reflexive(lattice: Lattice[Any]) -> Goal:
    """compare is reflexive: a <= a."""
    a = lattice.fresh("a")
    return Goal(
        claim="a <= a",
        conclusion=lattice.leq(a, a),
        hypotheses=premises(lattice, a),
        shown=(show(lattice, "a", a),),
    )


def leq_antisymmetric(lattice: Lattice[Any]) -> Goal:
    """compare is antisymmetric: a <= b and b <= a imply a = b."""
    a, b = lattice.fresh("a"), lattice.fresh("b")
    return Goal(
        claim="a <= b and b <= a imply a = b",
        conclusion=equal(lattice, a, b),
        hypotheses=(*premises(lattice, a, b), lattice.leq(a, b), lattice.leq(b, a)),
        shown=(show(lattice, "a", a), show(lattice, "b", b)),
    )


def leq_transitive(lattice: Lattice[Any]) -> Goal:
    """compare is transitive: a <= b and b <= c imply a <= c."""
    a, b, c = lattice.fresh("a"), lattice.fresh("b"), lattice.fresh("c")
    return Goal(
        claim="a <= b and b <= c imply a <= c",
        conclusion=lattice.leq(a, c),
        hypotheses=(*premises(lattice, a, b, c), lattice.leq(a, b), lattice.leq(b, c)),
        shown=(show(lattice, "a", a), show(lattice, "b", b), show(lattice, "c", c)),
    )


LAWS: tuple[Callable[[Lattice[Any]], Goal], ...] = (
    join_commutative,
    join_associative,
    join_idempotent,
    join_upper_bound,
    join_least,
    join_preserves_well_formed,
    leq_reflexive,
    leq_antisymmetric,
    leq_transitive,
)


def semilattice_proofs(
    protocol: str,
    encoding: Callable[[str | None], Lattice[Any]],
    assumptions: str,
    source: str,
    laws: Sequence[Callable[[Lattice[Any]], Goal]] = LAWS,
) -> tuple[Proof, ...]:
    """One proof per law, named ``<protocol>.<law>``, built on ``encoding(mutant)``."""

    def proof(law: Callable[[Lattice[Any]], Goal]) -> Proof:
        return Proof(
            name=f"{protocol}.{law.__name__}",
            protocol=protocol,
            description=describe(law, assumptions, source),
            build=lambda mutant: law(encoding(mutant)),
        )

    return tuple(proof(law) for law in laws)
