"""PN-Counter replica (sans-IO), refining :mod:`mnemosyne_consensus.spec.pncounter`.

Representation: a *sparse* map from replica id to its pair of counts, as a tuple of
``(replica, increments, decrements)`` triples sorted by replica, with entries whose two counts
are zero omitted -- one entry per replica that ever touched the counter, instead of the spec's
two dense vectors. The abstraction to the spec's ``(P, N)`` is :func:`to_spec`.

Both counts of an entry only grow (Shapiro et al. 2011, §3.1.2, Spec. 7): a decrement raises the
entry's decrement count, it never lowers its increment count, so that the merge (entrywise
``max`` of each count) cannot lose it.
"""

from __future__ import annotations

from typing import Any

from ..spec import pncounter as spec
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

Entry = tuple[int, int, int]  # (replica, increments, decrements)
Counts = tuple[Entry, ...]


def _as_dict(counts: Counts) -> dict[int, tuple[int, int]]:
    return {rid: (p, n) for rid, p, n in counts}


def _as_counts(entries: dict[int, tuple[int, int]]) -> Counts:
    # canonical form: sorted by replica, all-zero entries omitted
    return tuple((rid, p, n) for rid, (p, n) in sorted(entries.items()) if p or n)


def apply(replica: Replica[Counts], op: Any) -> Replica[Counts] | Rejection:
    # Verify the operation is an increment or a decrement
    if not isinstance(op, spec.Increment | spec.Decrement):
        return Rejection(RejectReason.MALFORMED_OPERATION, f"not an increment/decrement: {op!r}")
    entries = _as_dict(replica.payload)
    p, n = entries.get(replica.replica_id, (0, 0))
    if isinstance(op, spec.Increment):
        entries[replica.replica_id] = (p + 1, n)
    else:
        entries[replica.replica_id] = (p, n + 1)
    return Replica(replica.replica_id, replica.n, _as_counts(entries), replica.local)


def merge(mine: Counts, theirs: Counts) -> Counts:
    entries = _as_dict(mine)
    for rid, p, n in theirs:
        my_p, my_n = entries.get(rid, (0, 0))
        entries[rid] = (max(my_p, p), max(my_n, n))
    return _as_counts(entries)


def validate_payload(payload: Any, n: int) -> str | None:
    if not isinstance(payload, tuple):
        return f"counts must be a tuple of (replica, p, n) triples, got {type(payload).__name__}"
    previous = -1
    for entry in payload:
        # Verify each entry is a (replica, increments, decrements) triple
        if not (isinstance(entry, tuple) and len(entry) == 3):
            return f"entry {entry!r} is not a (replica, p, n) triple"
        rid, p, d = entry
        # Verify the replica is known and entries are sorted without duplicates
        if not (is_nat(rid) and rid < n):
            return f"entry {entry!r} names no replica of {n}"
        if rid <= previous:
            return f"entry {entry!r} is out of order or duplicated"
        # Verify both counts are naturals, not both zero (all-zero entries are omitted)
        if not (is_nat(p) and is_nat(d)):
            return f"entry {entry!r} has a count that is not a natural number"
        if p == 0 and d == 0:
            return f"entry {entry!r} is all zero and should have been omitted"
        previous = rid
    return None


PNCOUNTER_REPLICA: ReplicaType[Counts] = ReplicaType(
    name="pncounter",
    initial_payload=lambda n: (),
    initial_local=lambda n: None,
    apply=apply,
    validate_payload=validate_payload,
    merge=merge,
)


def new(replica_id: int, n: int) -> Replica[Counts]:
    return new_replica(PNCOUNTER_REPLICA, replica_id, n)


def step(replica: Replica[Counts], event: Event) -> tuple[Replica[Counts], Effects]:
    return replica_step(PNCOUNTER_REPLICA, replica, event)


def to_spec(payload: Counts, n: int) -> spec.Payload:
    """Abstraction function: sparse (replica, p, n) triples -> the spec's dense ``(P, N)``."""
    increments = [0] * n
    decrements = [0] * n
    for rid, p, d in payload:
        increments[rid] = p
        decrements[rid] = d
    return (tuple(increments), tuple(decrements))
