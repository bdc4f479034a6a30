"""Merkle-CRDT proofs: the DAG-order convergence lemma, for every DAG, element, tag and author.

Source: Sanjuán et al. 2020, §IV ("Merkle-CRDTs for operation-based CRDTs": the Merkle-Clock
delivers operations in causal order, and concurrent operations must commute); Shapiro et al.
2011, §3.3.5 Spec 15 (op-based OR-Set) and §3.1.1 Spec 6 (G-Counter). The executable spec is
:mod:`mnemosyne_consensus.spec.merkle_crdt`.

Encoding
    ``Elem``, ``Tag``, ``Author``  uninterpreted sorts: any number of each.
    state        ``(A, R, C)``: added and removed (element, tag) pairs as
                 ``Array(Elem, Tag -> Bool)``, and the G-Counter as ``Array(Author -> Int)``.
    operation    a symbolic record ``(kind, e, t, obs, a)``: kind 0 ``add(e)`` with tag ``t``
                 (the node's id), kind 1 ``remove(e)`` with ``obs`` the (e, tag) pairs added in
                 the node's causal past (so ``obs(f, u) ⟹ f = e``), kind 2 ``increment()`` by
                 author ``a``. Each is the *downstream effect* the spec's ``apply_op`` computes:
                 ``A ∪ {(e, t)}``, ``R ∪ obs``, ``C[a] + 1``. The effect depends on the node
                 only, never on the state it is applied to -- which is the whole point.

What z3 proves here, and what it does not
    Proved: any two operation effects commute (:func:`op_effects_commute`), hence every
    topological order of a DAG's nodes -- any interleaving of its concurrent nodes -- yields
    the same state (shown explicitly for every permutation of three operations,
    :func:`any_order_of_three_agrees`); an add that a remove did not observe survives it in
    either order (add wins); an add a remove observed is removed; every effect inflates.
    **Assumed, not proved**: SHA-256 is collision resistant (a node id names exactly one
    content, so tags are unique and a parent link pins its parent) and Ed25519 is
    existentially unforgeable (a node of a correct author's key was made by that author).
    These are cryptographic assumptions outside z3's theory; the model checker treats them as
    facts too (:mod:`mnemosyne_consensus.model_checks.merkle_crdt`), and its mutants show what
    breaks when a replica stops *checking* them (hash, signature, membership).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import attrs
import z3

from .core import Goal, Labelled, Proof, ProofMutant, named_proof

PROTOCOL = "merkle-crdt"
SOURCE = (
    "Sanjuán et al. 2020 (arXiv:2004.00107), §IV (op-based payloads over a Merkle-Clock); "
    "Shapiro et al. 2011, §3.3.5 Spec 15 and §3.1.1 Spec 6."
)
ASSUMPTIONS = (
    "SHA-256 collision resistance (unique node ids, hence unique OR-Set tags) and Ed25519 "
    "unforgeability are assumed, not proved; a remove's observed set holds pairs of its own "
    "element only; elements, tags and authors range over uninterpreted sorts."
)

Elem = z3.DeclareSort("Elem")
Tag = z3.DeclareSort("Tag")
Author = z3.DeclareSort("Author")

ADD, REMOVE, INCREMENT = 0, 1, 2


@attrs.frozen
class State:
    A: z3.ExprRef
    R: z3.ExprRef
    C: z3.ExprRef


@attrs.frozen
class Op:
    kind: z3.ArithRef
    e: z3.ExprRef
    t: z3.ExprRef
    obs: z3.ExprRef
    a: z3.ExprRef


def pairs(name: str) -> z3.ExprRef:
    return z3.Array(name, Elem, Tag, z3.BoolSort())


def fresh_state(name: str) -> State:
    return State(
        pairs(f"{name}.A"), pairs(f"{name}.R"), z3.Array(f"{name}.C", Author, z3.IntSort())
    )


def fresh_op(name: str) -> Op:
    return Op(
        z3.Int(f"{name}.kind"),
        z3.Const(f"{name}.e", Elem),
        z3.Const(f"{name}.t", Tag),
        pairs(f"{name}.obs"),
        z3.Const(f"{name}.a", Author),
    )


def _bound() -> tuple[z3.ExprRef, z3.ExprRef]:
    return z3.Const("f", Elem), z3.Const("u", Tag)


def well_formed_op(op: Op) -> z3.BoolRef:
    """A node's operation: a known kind, and a remove observes pairs of its element only."""
    f, u = _bound()
    return z3.And(
        z3.Or(op.kind == ADD, op.kind == REMOVE, op.kind == INCREMENT),
        z3.ForAll([f, u], z3.Implies(op.obs[f, u], f == op.e)),
    )


# -- The effects --------------------------------------------------------------------------------


def remove_observed(s: State, op: Op) -> z3.ExprRef:
    """The spec: remove(e) tombstones the pairs its node observed (its causal past's adds)."""
    f, u = _bound()
    return z3.Lambda([f, u], z3.Or(s.R[f, u], op.obs[f, u]))


def remove_at_receiver(s: State, op: Op) -> z3.ExprRef:
    """Mutant: remove(e) tombstones every pair of e the *receiving* replica holds now."""
    f, u = _bound()
    return z3.Lambda([f, u], z3.Or(s.R[f, u], z3.And(f == op.e, s.A[f, u])))


def remove_all_tags(s: State, op: Op) -> z3.ExprRef:
    """Mutant: remove(e) tombstones every tag of e, observed or not (remove-wins)."""
    f, u = _bound()
    return z3.Lambda([f, u], z3.Or(s.R[f, u], f == op.e))


RECEIVER = "merkle-crdt/remove-at-receiver"
ALL_TAGS = "merkle-crdt/remove-all-tags"
REMOVES: dict[str | None, Callable[[State, Op], z3.ExprRef]] = {
    None: remove_observed,
    RECEIVER: remove_at_receiver,
    ALL_TAGS: remove_all_tags,
}


def apply(mutant: str | None, s: State, op: Op) -> State:
    """The downstream effect of one node's operation."""
    added = z3.Store(s.A, op.e, op.t, z3.BoolVal(True))
    removed = REMOVES[mutant](s, op)
    counted = z3.Store(s.C, op.a, s.C[op.a] + 1)
    return State(
        z3.If(op.kind == ADD, added, s.A),
        z3.If(op.kind == REMOVE, removed, s.R),
        z3.If(op.kind == INCREMENT, counted, s.C),
    )


def same(x: State, y: State) -> z3.BoolRef:
    return z3.And(x.A == y.A, x.R == y.R, x.C == y.C)


def show_state(label: str, s: State) -> tuple[Labelled, ...]:
    return ((f"{label}.A", s.A), (f"{label}.R", s.R))


def show_op(label: str, op: Op) -> tuple[Labelled, ...]:
    return ((f"{label}.kind", op.kind), (f"{label}.e", op.e), (f"{label}.t", op.t))


MUTANTS = (
    ProofMutant(
        RECEIVER,
        PROTOCOL,
        "remove(e) tombstones the tags of e present at the receiver (state-dependent effect)",
        (
            "merkle-crdt.op_effects_commute",
            "merkle-crdt.any_order_of_three_agrees",
            "merkle-crdt.concurrent_add_survives",
        ),
    ),
    ProofMutant(
        ALL_TAGS,
        PROTOCOL,
        "remove(e) tombstones every tag of e: it still commutes, but a concurrent add is lost",
        ("merkle-crdt.concurrent_add_survives",),
    ),
)

# -- Proofs ------------------------------------------------------------------------------------


def op_effects_commute(mutant: str | None) -> Goal:
    """Any two operation effects commute: apply(apply(s, o1), o2) = apply(apply(s, o2), o1),
    so concurrent nodes of a Merkle-DAG may be applied in either order."""
    s, o1, o2 = fresh_state("s"), fresh_op("o1"), fresh_op("o2")
    one_two = apply(mutant, apply(mutant, s, o1), o2)
    two_one = apply(mutant, apply(mutant, s, o2), o1)
    return Goal(
        claim="apply(apply(s, o1), o2) = apply(apply(s, o2), o1)",
        conclusion=same(one_two, two_one),
        hypotheses=(well_formed_op(o1), well_formed_op(o2)),
        shown=(
            show_state("s", s),
            show_op("o1", o1),
            show_op("o2", o2),
            show_state("o1;o2", one_two),
            show_state("o2;o1", two_one),
        ),
    )


def any_order_of_three_agrees(mutant: str | None) -> Goal:
    """Every permutation of three operations yields the state of the first: the state of a DAG
    does not depend on the topological order chosen (the convergence lemma, for three nodes)."""
    s = fresh_state("s")
    ops = [fresh_op(f"o{k}") for k in range(1, 4)]

    def fold(order: tuple[Op, ...]) -> State:
        state = s
        for op in order:
            state = apply(mutant, state, op)
        return state

    reference = fold(tuple(ops))
    others = [fold(order) for order in itertools.permutations(ops)][1:]
    return Goal(
        claim="every order of o1, o2, o3 gives apply(apply(apply(s, o1), o2), o3)",
        conclusion=z3.And([same(reference, other) for other in others]),
        hypotheses=tuple(well_formed_op(op) for op in ops),
        shown=(show_state("s", s), *(show_op(f"o{k}", op) for k, op in enumerate(ops, 1))),
        # under the receiver mutant, no level of the small-model search succeeds within its
        # resource limit (it costs ~2 s and ends on z3's first model anyway); before the search
        # had a resource limit, one of its 500 ms checks ran for more than ten minutes in CI
        shrink=False,
    )


def concurrent_add_survives(mutant: str | None) -> Goal:
    """Add wins: an add(e) with tag t that a remove(e) did not observe leaves (e, t) present
    after both, in either order (given (e, t) was not tombstoned before)."""
    s, add, rem = fresh_state("s"), fresh_op("add"), fresh_op("rem")
    after_add_first = apply(mutant, apply(mutant, s, add), rem)
    after_rem_first = apply(mutant, apply(mutant, s, rem), add)

    def present(x: State) -> z3.BoolRef:
        return z3.And(x.A[add.e, add.t], z3.Not(x.R[add.e, add.t]))

    return Goal(
        claim="(e, t) is present after add and remove, in both orders",
        conclusion=z3.And(present(after_add_first), present(after_rem_first)),
        hypotheses=(
            well_formed_op(add),
            well_formed_op(rem),
            add.kind == ADD,
            rem.kind == REMOVE,
            rem.e == add.e,
            z3.Not(rem.obs[add.e, add.t]),
            z3.Not(s.R[add.e, add.t]),
        ),
        shown=(show_state("s", s), show_op("add", add), show_op("rem", rem)),
    )


def observed_add_is_removed(mutant: str | None) -> Goal:
    """A remove(e) whose node has the add of (e, t) in its causal past -- so causal delivery
    applies the add first -- tombstones (e, t)."""
    s, add, rem = fresh_state("s"), fresh_op("add"), fresh_op("rem")
    after = apply(mutant, apply(mutant, s, add), rem)
    return Goal(
        claim="(e, t) is tombstoned after add then remove",
        conclusion=after.R[add.e, add.t],
        hypotheses=(
            well_formed_op(add),
            well_formed_op(rem),
            add.kind == ADD,
            rem.kind == REMOVE,
            rem.e == add.e,
            rem.obs[add.e, add.t],
        ),
        shown=(show_state("s", s), show_op("add", add), show_op("rem", rem)),
    )


def effects_inflate(mutant: str | None) -> Goal:
    """Every effect inflates the state: A and R only grow, and no counter entry decreases."""
    s, op = fresh_state("s"), fresh_op("o")
    after = apply(mutant, s, op)
    f, u = _bound()
    w = z3.Const("w", Author)
    grows = z3.And(
        z3.ForAll([f, u], z3.Implies(s.A[f, u], after.A[f, u])),
        z3.ForAll([f, u], z3.Implies(s.R[f, u], after.R[f, u])),
        z3.ForAll([w], s.C[w] <= after.C[w]),
    )
    return Goal(
        claim="s <= apply(s, o)",
        conclusion=grows,
        hypotheses=(well_formed_op(op),),
        shown=(show_state("s", s), show_op("o", op)),
    )


PROOFS: tuple[Proof, ...] = tuple(
    named_proof(PROTOCOL, build, ASSUMPTIONS, SOURCE)
    for build in (
        op_effects_commute,
        any_order_of_three_agrees,
        concurrent_add_survives,
        observed_add_is_removed,
        effects_inflate,
    )
)
