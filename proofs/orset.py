"""OR-Set (add-wins observed-remove set) proofs, for every number of replicas, elements and tags.

Source: Shapiro et al., "A comprehensive study of CRDTs" (INRIA RR-7506, 2011), §3.3.5,
Specification 15 (Observed-Remove Set): every ``add(e)`` carries a unique tag, ``remove(e)``
removes exactly the (e, tag) pairs its source has observed, so a concurrent add survives. The
paper gives the OR-Set in operation-based form; this is its state-based form, with removals kept
as tombstones so that merge is a union (as the 2P-Set of Spec 12 does, with unique tags).

Encoding
    ``Elem``, ``Tag``  uninterpreted sorts: as many elements and tags as you like.
    payload            ``(A, R)``, two sets of (element, tag) pairs as ``Array(Elem, Tag -> Bool)``:
                       ``A`` the adds seen, ``R`` the tombstones; well formed when ``R ⊆ A``
                       (only an observed pair can be removed).
    merge              union of each component.      compare   inclusion of each component.
    lookup(e)          ``∃t. A(e, t) ∧ ¬R(e, t)``.
    add(e, t)          ``A := A ∪ {(e, t)}``, with ``t`` a fresh tag (in neither A nor R, for any
                       element): unique tags are the paper's assumption.
    remove(e)          ``R := R ∪ {(e, t) | (e, t) ∈ A}``: the pairs of e this replica observed.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import z3

from .core import Goal, Labelled, Proof, ProofMutant, named_proof
from .lattice import Lattice, inflation, premises, semilattice_proofs, show

PROTOCOL = "orset"
SOURCE = "Shapiro et al. 2011, §3.3.5, Specification 15 (in state-based form); §2.2.1, Def. 2.4."
ASSUMPTIONS = (
    "tombstones are observed adds (R ⊆ A); elements and tags range over uninterpreted sorts "
    "(any number of them, and of replicas)."
)

Elem = z3.DeclareSort("Elem")
Tag = z3.DeclareSort("Tag")


@attrs.frozen
class ORSet:
    """An OR-Set payload: added pairs ``A`` and removed pairs (tombstones) ``R``."""

    A: z3.ExprRef
    R: z3.ExprRef


# -- The data type --------------------------------------------------------------------------------


def pairs(name: str) -> z3.ExprRef:
    """A symbolic set of (element, tag) pairs."""
    return z3.Array(name, Elem, Tag, z3.BoolSort())


def fresh(name: str) -> ORSet:
    return ORSet(pairs(f"{name}.A"), pairs(f"{name}.R"))


def parts(x: ORSet) -> tuple[Labelled, ...]:
    return (("A", x.A), ("R", x.R))


def _bound() -> tuple[z3.ExprRef, z3.ExprRef]:
    return z3.Const("f", Elem), z3.Const("u", Tag)


def subset(s1: z3.ExprRef, s2: z3.ExprRef) -> z3.BoolRef:
    f, u = _bound()
    return z3.ForAll([f, u], z3.Implies(s1[f, u], s2[f, u]))


def union(s1: z3.ExprRef, s2: z3.ExprRef) -> z3.ExprRef:
    f, u = _bound()
    return z3.Lambda([f, u], z3.Or(s1[f, u], s2[f, u]))


def well_formed(x: ORSet) -> z3.BoolRef:
    return subset(x.R, x.A)


def join(x: ORSet, y: ORSet) -> ORSet:
    return ORSet(union(x.A, y.A), union(x.R, y.R))


def leq(x: ORSet, y: ORSet) -> z3.BoolRef:
    return z3.And(subset(x.A, y.A), subset(x.R, y.R))


def lookup(x: ORSet, e: z3.ExprRef) -> z3.BoolRef:
    """Spec 15 ``lookup(e)``: some observed add of e has not been removed."""
    u = z3.Const("u", Tag)
    return z3.Exists([u], z3.And(x.A[e, u], z3.Not(x.R[e, u])))


def tag_unused(x: ORSet, t: z3.ExprRef) -> z3.BoolRef:
    """The tag t appears in no pair of x: what "unique tag" means for a replica's payload."""
    f = z3.Const("f", Elem)
    return z3.ForAll([f], z3.And(z3.Not(x.A[f, t]), z3.Not(x.R[f, t])))


def add(x: ORSet, e: z3.ExprRef, t: z3.ExprRef) -> ORSet:
    """Spec 15 ``add(e)`` with its unique tag t as an input."""
    return ORSet(z3.Store(x.A, e, t, z3.BoolVal(True)), x.R)


def remove(x: ORSet, e: z3.ExprRef) -> ORSet:
    """Spec 15 ``remove(e)``: tombstone every pair of e this replica has observed."""
    f, u = _bound()
    return ORSet(x.A, z3.Lambda([f, u], z3.Or(x.R[f, u], z3.And(f == e, x.A[f, u]))))


# -- Mutants --------------------------------------------------------------------------------------

REMOVE_UNOBSERVED = "orset/remove-unobserved"


def remove_unobserved(x: ORSet, e: z3.ExprRef) -> ORSet:
    """The mutant: remove(e) tombstones every tag of e, observed or not."""
    f, u = _bound()
    return ORSet(x.A, z3.Lambda([f, u], z3.Or(x.R[f, u], f == e)))


MUTANTS = (
    ProofMutant(
        REMOVE_UNOBSERVED,
        PROTOCOL,
        "remove(e) tombstones all tags of e, including adds it never observed (remove-wins)",
        ("orset.remove_preserves_well_formed", "orset.add_wins"),
    ),
)


def encoding(mutant: str | None) -> Lattice[ORSet]:
    # no mutant of this protocol changes the lattice itself
    return Lattice(fresh=fresh, parts=parts, well_formed=well_formed, join=join, leq=leq)


def _remove(mutant: str | None) -> Callable[[ORSet, z3.ExprRef], ORSet]:
    return remove_unobserved if mutant == REMOVE_UNOBSERVED else remove


def _element_and_tag() -> tuple[z3.ExprRef, z3.ExprRef]:
    return z3.Const("e", Elem), z3.Const("t", Tag)


# -- Update proofs --------------------------------------------------------------------------------


def add_inflates(mutant: str | None) -> Goal:
    """add inflates: if tag t is unused in p, then p < add(p, e, t) in the order."""
    p, (e, t) = fresh("p"), _element_and_tag()
    return inflation(
        encoding(mutant),
        p,
        add(p, e, t),
        "add(p, e, t)",
        (tag_unused(p, t),),
        ((("e", e), ("t", t)),),
    )


def remove_inflates(mutant: str | None) -> Goal:
    """remove inflates: if lookup(p, e) (remove's precondition), then p < remove(p, e)."""
    p, (e, _) = fresh("p"), _element_and_tag()
    return inflation(
        encoding(mutant), p, _remove(mutant)(p, e), "remove(p, e)", (lookup(p, e),), ((("e", e),),)
    )


def add_preserves_well_formed(mutant: str | None) -> Goal:
    """add stays inside the payload type: tombstones stay observed adds (R ⊆ A)."""
    lattice = encoding(mutant)
    p, (e, t) = fresh("p"), _element_and_tag()
    after = add(p, e, t)
    return Goal(
        claim="add(p, e, t) is well formed",
        conclusion=lattice.well_formed(after),
        hypotheses=(*premises(lattice, p), tag_unused(p, t)),
        shown=(show(lattice, "p", p), (("e", e), ("t", t)), show(lattice, "add(p, e, t)", after)),
    )


def remove_preserves_well_formed(mutant: str | None) -> Goal:
    """remove stays inside the payload type: it tombstones only observed adds (R ⊆ A)."""
    lattice = encoding(mutant)
    p, (e, _) = fresh("p"), _element_and_tag()
    after = _remove(mutant)(p, e)
    return Goal(
        claim="remove(p, e) is well formed",
        conclusion=lattice.well_formed(after),
        hypotheses=premises(lattice, p),
        shown=(show(lattice, "p", p), (("e", e),), show(lattice, "remove(p, e)", after)),
    )


def add_then_lookup(mutant: str | None) -> Goal:
    """add's postcondition: after add(e, t) with t unused, lookup(e) holds."""
    lattice = encoding(mutant)
    p, (e, t) = fresh("p"), _element_and_tag()
    after = add(p, e, t)
    return Goal(
        claim="lookup(add(p, e, t), e)",
        conclusion=lookup(after, e),
        hypotheses=(*premises(lattice, p), tag_unused(p, t)),
        shown=(show(lattice, "p", p), (("e", e), ("t", t)), show(lattice, "add(p, e, t)", after)),
    )


def remove_then_not_lookup(mutant: str | None) -> Goal:
    """remove's postcondition: after remove(e) at a replica, lookup(e) is false there."""
    lattice = encoding(mutant)
    p, (e, _) = fresh("p"), _element_and_tag()
    after = _remove(mutant)(p, e)
    return Goal(
        claim="not lookup(remove(p, e), e)",
        conclusion=z3.Not(lookup(after, e)),
        hypotheses=premises(lattice, p),
        shown=(show(lattice, "p", p), (("e", e),), show(lattice, "remove(p, e)", after)),
    )


def add_wins(mutant: str | None) -> Goal:
    """add wins: merging add(e, t) at x with a concurrent remove(e) at y leaves e present.

    Concurrent means the remover never saw the add: the fresh tag t is unused in both x and y.
    Nothing else is assumed of x and y (they may share any history), and the claim holds whether
    or not remove's precondition lookup(y, e) holds: the OR-Set's add-wins semantics (§3.3.5).
    """
    lattice = encoding(mutant)
    x, y = fresh("x"), fresh("y")
    e, t = _element_and_tag()
    added, removed = add(x, e, t), _remove(mutant)(y, e)
    merged = join(added, removed)
    return Goal(
        claim="lookup(join(add(x, e, t), remove(y, e)), e)",
        conclusion=lookup(merged, e),
        hypotheses=(*premises(lattice, x, y), tag_unused(x, t), tag_unused(y, t)),
        shown=(
            show(lattice, "x", x),
            show(lattice, "y", y),
            (("e", e), ("t", t)),
            show(lattice, "join(add(x, e, t), remove(y, e))", merged),
        ),
    )


PROOFS: tuple[Proof, ...] = (
    *semilattice_proofs(PROTOCOL, encoding, ASSUMPTIONS, SOURCE),
    *(
        named_proof(PROTOCOL, build, ASSUMPTIONS, SOURCE)
        for build in (
            add_inflates,
            remove_inflates,
            add_preserves_well_formed,
            remove_preserves_well_formed,
            add_then_lookup,
            remove_then_not_lookup,
            add_wins,
        )
    ),
)
