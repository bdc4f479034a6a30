"""OR-Set: the add-wins Observed-Remove Set as a state-based CRDT.

Source: Shapiro, Preguiça, Baquero, Zawirski, "A comprehensive study of Convergent and
Commutative Replicated Data Types", INRIA RR-7506 (2011), §3.3.5 (Observed-Remove Set),
Specification 15.

Every ``add(e)`` is tagged with a unique tag; ``remove(e)`` removes exactly the tags of ``e`` its
source has *observed*, so an add the remover has not seen survives it: a concurrent add and
remove of the same element resolve to "present" (add wins, §3.3.5).

Tag        ``(replica, counter)``, an *input* of the add (``op.tag``), never a uuid or a clock:
           Shapiro's ``unique()`` made explicit so that every run replays.
Payload    ``(A, R)``: ``A`` the ``(element, tag)`` pairs ever added, ``R`` the pairs removed
           (tombstones), both as sorted tuples: canonical, and iterated in a fixed order
           (string hashes are randomized, so frozenset order would differ between runs).
Query      ``lookup(e)`` = ∃t: (e, t) ∈ A \\ R;  ``elements()`` = the sorted present elements.
Update     ``add(e, t)`` at replica i, pre ``t`` is fresh (``t = (i, k)``, ``t`` in no pair of
           ``A`` or ``R`` at the source): ``A := A ∪ {(e, t)}``.
           ``remove(e)``, pre ``lookup(e)`` at the source: ``R := R ∪ {(e, t) ∈ A}``, the
           observed tags of ``e`` and no other.
Order      ``compare(X, Y)`` = ``X.A ⊆ Y.A ∧ X.R ⊆ Y.R``.
Join       ``merge(X, Y)`` = ``(X.A ∪ Y.A, X.R ∪ Y.R)``.
Intended   the add-wins sequential specification over the updates a replica has seen: ``e`` is
           present iff some seen ``add(e)`` update ``u`` is *not observed* by any seen
           ``remove(e)`` update ``r`` (``u.uid ∉ r.observed``, the ghost causal history of
           ``r``'s source when it applied ``r``).

Departures, and why
    * Shapiro's state-based OR-Set keeps in ``A`` only the live pairs (``remove`` moves its
      pairs from ``A`` to ``R``) and merges with ``(X.A \\ Y.R) ∪ (Y.A \\ X.R)``. This spec keeps
      ``A`` grow-only, so join is a plain union on both components and the order is plain
      inclusion; the two payloads are in bijection (ours ``A`` = theirs ``A ∪ R``) and give the
      same ``lookup``. The implementation (:mod:`mnemosyne_consensus.impl.orset`) is the paper's
      form and refines this one through that bijection.
    * The original design notes' OR-Set dropped unobserved tags on remove: a removal also
      erased adds of the element its source had never seen, so a concurrent add lost
      (remove-wins, contradicting the intent of §3.3.5). That bug ships as the mutant
      ``remove-unobserved``.

The system around it (replicas, network of snapshots, invariants) is
:mod:`mnemosyne_consensus.spec.state_based`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from .state_based import CvRDT, SystemState, UpdateRecord

Element = str
Tag = tuple[int, int]  # (replica that issued the add, that replica's counter)
Pair = tuple[Element, Tag]


@attrs.frozen(cache_hash=True)
class Payload:
    """The paper's ``(A, R)``, each a sorted tuple of ``(element, tag)`` pairs without repeats."""

    added: tuple[Pair, ...]  # A: every pair ever added
    removed: tuple[Pair, ...]  # R: tombstones, the pairs some remove observed


@attrs.frozen
class Add:
    """``add(e)`` with its unique tag ``(replica, counter)`` given as input."""

    element: Element
    tag: Tag


@attrs.frozen
class Remove:
    """``remove(e)``: tombstone the tags of ``e`` observed at the source."""

    element: Element


Op = Add | Remove

EMPTY = Payload((), ())


def initial(n: int) -> Payload:
    return EMPTY


# -- Helpers ---------------------------------------------------------------------------------------


def canonical(pairs: Iterable[Pair]) -> tuple[Pair, ...]:
    """A set of pairs as a sorted tuple without duplicates (the payload's canonical form)."""
    return tuple(sorted(set(pairs)))


def is_tag(value: Any) -> bool:
    """A ``(replica, counter)`` pair of naturals (bool is not a natural, though Python says so)."""
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in value)
    )


def tags_used(payload: Payload) -> frozenset[Tag]:
    return frozenset(t for _, t in payload.added) | frozenset(t for _, t in payload.removed)


# -- Query -----------------------------------------------------------------------------------------


def lookup(payload: Payload, element: Element) -> bool:
    """Spec 15 ``lookup(e)``: some tag of ``e`` was added and not removed."""
    removed = set(payload.removed)
    return any(e == element and (e, t) not in removed for e, t in payload.added)


def elements(payload: Payload) -> tuple[Element, ...]:
    """The set's value: the present elements, sorted."""
    removed = set(payload.removed)
    return tuple(sorted({e for e, t in payload.added if (e, t) not in removed}))


# -- Updates ---------------------------------------------------------------------------------------


def update_enabled(payload: Payload, replica: int, op: Op) -> bool:
    if isinstance(op, Add):
        # Verify the op is well formed
        if not (isinstance(op.element, str) and is_tag(op.tag)):
            return False
        # Verify the tag is fresh: minted by the issuing replica and never used before at the
        # source. Replica i's own adds stay in its A forever, so with the first check this
        # makes tags globally unique (Shapiro's unique()).
        return op.tag[0] == replica and op.tag not in tags_used(payload)
    if isinstance(op, Remove):
        # Spec 15 remove: pre lookup(e), the element is present at the source
        return isinstance(op.element, str) and lookup(payload, op.element)
    return False


def add(payload: Payload, op: Add) -> Payload:
    """Spec 15 ``add(e)``: ``A := A ∪ {(e, t)}``."""
    return attrs.evolve(payload, added=canonical((*payload.added, (op.element, op.tag))))


def remove(payload: Payload, op: Remove) -> Payload:
    """Spec 15 ``remove(e)``: ``R := R ∪ {(e, t) ∈ A}``: the observed tags, no others."""
    observed = [(e, t) for e, t in payload.added if e == op.element]
    return attrs.evolve(payload, removed=canonical((*payload.removed, *observed)))


def update(payload: Payload, replica: int, op: Op) -> Payload:
    if isinstance(op, Add):
        return add(payload, op)
    return remove(payload, op)


# -- Semilattice -----------------------------------------------------------------------------------


def leq(x: Payload, y: Payload) -> bool:
    return set(x.added) <= set(y.added) and set(x.removed) <= set(y.removed)


def join(x: Payload, y: Payload) -> Payload:
    return Payload(canonical((*x.added, *y.added)), canonical((*x.removed, *y.removed)))


# -- Sequential specification ----------------------------------------------------------------------


def intended(updates: Sequence[UpdateRecord]) -> tuple[Element, ...]:
    """Add wins: ``e`` is present iff some seen add of ``e`` escapes every seen remove of ``e``.

    A remove cancels exactly the adds in its source's causal history (``observed``); an add it
    did not observe -- concurrent with it, or after it -- keeps the element.
    """
    removes = [u for u in updates if isinstance(u.op, Remove)]
    present = {
        u.op.element
        for u in updates
        if isinstance(u.op, Add)
        and not any(r.op.element == u.op.element and u.uid in r.observed for r in removes)
    }
    return tuple(sorted(present))


ORSET: CvRDT[Payload, Op, tuple[Element, ...]] = CvRDT(
    name="orset",
    initial=initial,
    update_enabled=update_enabled,
    update=update,
    join=join,
    leq=leq,
    query=elements,
    intended=intended,
)


# -- "Sometimes" properties ------------------------------------------------------------------------


def concurrent(a: UpdateRecord, b: UpdateRecord) -> bool:
    """Neither update's source had seen the other when it applied it."""
    return a.uid not in b.observed and b.uid not in a.observed


def add_wins(state: SystemState) -> bool:
    """Sometimes: a replica has seen an add and a remove of ``e`` that were concurrent, and
    ``e`` is present there -- the case the add-wins rule exists for (§3.3.5)."""
    for payload, seen in zip(state.payloads, state.seen, strict=True):
        records = [state.updates[u] for u in sorted(seen)]
        adds = [u for u in records if isinstance(u.op, Add)]
        removes = [r for r in records if isinstance(r.op, Remove)]
        present = elements(payload)
        for u in adds:
            for r in removes:
                if u.op.element == r.op.element and concurrent(u, r) and u.op.element in present:
                    return True
    return False
