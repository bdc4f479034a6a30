"""OR-Set replica (sans-IO), refining :mod:`mnemosyne_consensus.spec.orset`.

Representation: the paper's own state-based form (Shapiro et al., INRIA RR-7506, §3.3.5,
Specification 15), in which a removed pair *leaves* the live set:

``live``        a map from element to its live tags, as a tuple of ``(element, tags)`` entries
                sorted by element, ``tags`` a non-empty sorted tuple of ``(replica, counter)``
                pairs (an element with no live tag is absent and has no entry);
``tombstones``  the removed ``(element, tag)`` pairs, sorted, disjoint from the live pairs.

The wire payload is the plain pair ``(live, tombstones)`` (nested tuples, ints and strings: what a
peer written in another language can produce). Merge is the paper's
``live = (X.live \\ Y.tombstones) ∪ (Y.live \\ X.tombstones)``,
``tombstones = X.tombstones ∪ Y.tombstones``.

Abstraction (:func:`to_spec`): the spec keeps ``A`` grow-only, so ``A = live ∪ tombstones`` and
``R = tombstones``.

Per-replica bookkeeping (``Replica.local``): the sorted counters of the tags this replica has
minted. Freshness of an add's tag is checked against both that record and the payload: the record
alone survives a future compaction of tombstones; the payload alone catches a tag of ours that a
peer already put into circulation.

Validation of wire payloads (``validate_payload``): the shapes above, tags naming replicas of the
configuration, entries strictly sorted (so no duplicates), and each tag used at most once across
the whole payload (a tag names exactly one add: the same tag live and tombstoned, or on two
elements, is malformed). A tombstone *without its add* cannot be expressed here: a tombstone
``(e, t)`` stands for both the add of ``(e, t)`` and its removal (the abstraction puts it in ``A``
and ``R``), exactly as in the paper's form, so tombstones are accepted on their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from ..spec import orset as spec
from .state_based import (
    Effects,
    Event,
    Rejection,
    RejectReason,
    Replica,
    ReplicaType,
    is_nat,
    new_replica,
)
from .state_based import step as replica_step

Tag = tuple[int, int]
Pair = tuple[str, Tag]
Live = tuple[tuple[str, tuple[Tag, ...]], ...]  # element -> its live tags, sorted by element
Tombstones = tuple[Pair, ...]  # removed (element, tag) pairs, sorted
Payload = tuple[Live, Tombstones]
Minted = tuple[int, ...]  # Replica.local: counters of the tags this replica has minted, sorted

EMPTY: Payload = ((), ())


# -- Helpers ---------------------------------------------------------------------------------------


def live_pairs(live: Live) -> set[Pair]:
    return {(e, t) for e, tags in live for t in tags}


def group(pairs: Iterable[Pair]) -> Live:
    """Live pairs as the canonical map: entries sorted by element, each with its sorted tags."""
    tags: dict[str, set[Tag]] = {}
    for e, t in pairs:
        tags.setdefault(e, set()).add(t)
    return tuple((e, tuple(sorted(ts))) for e, ts in sorted(tags.items()))


def live_tags(live: Live, element: str) -> tuple[Tag, ...]:
    for e, tags in live:
        if e == element:
            return tags
    return ()


def is_tag(value: Any, n: int) -> bool:
    """A ``(replica, counter)`` pair naming a replica of this configuration."""
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and is_nat(value[0])
        and value[0] < n
        and is_nat(value[1])
    )


# -- Client operations -----------------------------------------------------------------------------


def add(replica: Replica[Payload], op: spec.Add) -> Replica[Payload] | Rejection:
    live, tombstones = replica.payload
    minted: Minted = replica.local
    # Verify the op is well formed
    if not (isinstance(op.element, str) and is_tag(op.tag, replica.n)):
        return Rejection(RejectReason.MALFORMED_OPERATION, f"malformed add: {op!r}")
    # Verify the tag is this replica's to mint
    if op.tag[0] != replica.replica_id:
        return Rejection(
            RejectReason.TAG_NOT_FRESH,
            f"tag {op.tag!r} belongs to replica {op.tag[0]}, not {replica.replica_id}",
        )
    # Verify this replica has not minted the tag before
    if op.tag[1] in minted:
        return Rejection(RejectReason.TAG_NOT_FRESH, f"tag {op.tag!r} was already used")
    # Verify no peer has put the tag into circulation (the spec's "not in A or R")
    if any(t == op.tag for _, t in (*live_pairs(live), *tombstones)):
        return Rejection(RejectReason.TAG_NOT_FRESH, f"tag {op.tag!r} is already in the payload")
    payload = (group((*live_pairs(live), (op.element, op.tag))), tombstones)
    return attrs.evolve(replica, payload=payload, local=tuple(sorted((*minted, op.tag[1]))))


def remove(replica: Replica[Payload], op: spec.Remove) -> Replica[Payload] | Rejection:
    live, tombstones = replica.payload
    # Verify the op is well formed
    if not isinstance(op.element, str):
        return Rejection(RejectReason.MALFORMED_OPERATION, f"malformed remove: {op!r}")
    # Verify Spec 15's precondition lookup(e): the element is present here
    observed = live_tags(live, op.element)
    if not observed:
        return Rejection(RejectReason.PRECONDITION_FAILED, f"{op.element!r} is not in the set")
    # The observed tags move from live to tombstones; tags this replica has not seen are untouched
    remaining = tuple(entry for entry in live if entry[0] != op.element)
    buried = tuple(sorted({*tombstones, *((op.element, t) for t in observed)}))
    return attrs.evolve(replica, payload=(remaining, buried))


def apply(replica: Replica[Payload], op: Any) -> Replica[Payload] | Rejection:
    if isinstance(op, spec.Add):
        return add(replica, op)
    if isinstance(op, spec.Remove):
        return remove(replica, op)
    return Rejection(RejectReason.MALFORMED_OPERATION, f"not an OR-Set operation: {op!r}")


# -- Merge -----------------------------------------------------------------------------------------


def merge(mine: Payload, theirs: Payload) -> Payload:
    """Spec 15 merge: a pair stays live unless the other side has tombstoned it."""
    (my_live, my_tombs), (their_live, their_tombs) = mine, theirs
    my_dead, their_dead = set(my_tombs), set(their_tombs)
    live = {p for p in live_pairs(my_live) if p not in their_dead} | {
        p for p in live_pairs(their_live) if p not in my_dead
    }
    return (group(live), tuple(sorted(my_dead | their_dead)))


# -- Wire validation -------------------------------------------------------------------------------


def validate_payload(payload: Any, n: int) -> str | None:
    # Verify the payload is a (live, tombstones) pair of tuples
    if not (isinstance(payload, tuple) and len(payload) == 2):
        return f"payload must be a (live, tombstones) pair, got {payload!r}"
    live, tombstones = payload
    if not (isinstance(live, tuple) and isinstance(tombstones, tuple)):
        return "live and tombstones must both be tuples"
    seen_tags: set[Tag] = set()
    previous: str | None = None
    for entry in live:
        # Verify each live entry is (element, non-empty tuple of tags)
        if not (isinstance(entry, tuple) and len(entry) == 2):
            return f"live entry {entry!r} is not an (element, tags) pair"
        element, tags = entry
        if not isinstance(element, str):
            return f"live entry {entry!r}: the element is not a string"
        if not (isinstance(tags, tuple) and tags):
            return f"live entry {entry!r}: tags must be a non-empty tuple"
        # Verify entries are sorted by element without duplicates
        if previous is not None and element <= previous:
            return f"live entry {entry!r} is out of order or duplicated"
        previous = element
        problem = _check_tags(tags, n, seen_tags)
        if problem is not None:
            return f"live entry {entry!r}: {problem}"
    previous_pair: Pair | None = None
    for pair in tombstones:
        # Verify each tombstone is an (element, tag) pair
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)):
            return f"tombstone {pair!r} is not an (element, tag) pair"
        problem = _check_tags((pair[1],), n, seen_tags)
        if problem is not None:
            return f"tombstone {pair!r}: {problem}"
        # Verify tombstones are sorted without duplicates (tags are unique, so ordering by tag
        # after element is total)
        if previous_pair is not None and pair <= previous_pair:
            return f"tombstone {pair!r} is out of order or duplicated"
        previous_pair = pair
    return None


def _check_tags(tags: tuple[Any, ...], n: int, seen_tags: set[Tag]) -> str | None:
    """Checks tags name known replicas, are strictly sorted and were not used elsewhere."""
    previous: Tag | None = None
    for tag in tags:
        # Verify the tag is (replica, counter) with a replica of this configuration
        if not is_tag(tag, n):
            return f"tag {tag!r} is not a (replica, counter) pair naming one of {n} replicas"
        # Verify tags are sorted without duplicates
        if previous is not None and tag <= previous:
            return f"tag {tag!r} is out of order or duplicated"
        # Verify the tag names one add only (not live twice, not both live and tombstoned)
        if tag in seen_tags:
            return f"tag {tag!r} is used by more than one pair"
        seen_tags.add(tag)
        previous = tag
    return None


ORSET_REPLICA: ReplicaType[Payload] = ReplicaType(
    name="orset",
    initial_payload=lambda n: EMPTY,
    initial_local=lambda n: (),
    apply=apply,
    validate_payload=validate_payload,
    merge=merge,
)


def new(replica_id: int, n: int) -> Replica[Payload]:
    return new_replica(ORSET_REPLICA, replica_id, n)


def step(replica: Replica[Payload], event: Event) -> tuple[Replica[Payload], Effects]:
    return replica_step(ORSET_REPLICA, replica, event)


def to_spec(payload: Payload, n: int) -> spec.Payload:
    """Abstraction function: the paper's (live, tombstones) -> the spec's grow-only (A, R)."""
    live, tombstones = payload
    return spec.Payload(spec.canonical((*live_pairs(live), *tombstones)), tombstones)


def from_spec(payload: spec.Payload) -> Payload:
    """The inverse of :func:`to_spec`: live = A \\ R (used to lift spec-level mutants)."""
    dead = set(payload.removed)
    return (group(p for p in payload.added if p not in dead), payload.removed)
