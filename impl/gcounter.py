"""G-Counter replica (sans-IO), refining :mod:`mnemosyne_consensus.spec.gcounter`.

Representation: a *sparse* map from replica id to count, as a tuple of ``(replica, count)``
pairs sorted by replica with zero counts omitted -- what a real deployment sends over the wire
when most replicas never touch a counter. The abstraction to the spec's dense vector is
:func:`to_spec`.
"""

from __future__ import annotations

from typing import Any

from ..spec import gcounter as spec
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

Counts = tuple[tuple[int, int], ...]


def increment(replica: Replica[Counts], op: Any) -> Replica[Counts] | Rejection:
    # Verify the operation is an increment
    if not isinstance(op, spec.Increment):
        return Rejection(RejectReason.MALFORMED_OPERATION, f"not an increment: {op!r}")
    counts = dict(replica.payload)
    counts[replica.replica_id] = counts.get(replica.replica_id, 0) + 1
    return Replica(replica.replica_id, replica.n, tuple(sorted(counts.items())), replica.local)


def merge(mine: Counts, theirs: Counts) -> Counts:
    counts = dict(mine)
    for rid, count in theirs:
        if count > counts.get(rid, 0):
            counts[rid] = count
    return tuple(sorted(counts.items()))


def validate_payload(payload: Any, n: int) -> str | None:
    if not isinstance(payload, tuple):
        return f"counts must be a tuple of (replica, count) pairs, got {type(payload).__name__}"
    previous = -1
    for entry in payload:
        # Verify each entry is a (replica, count) pair
        if not (isinstance(entry, tuple) and len(entry) == 2):
            return f"entry {entry!r} is not a (replica, count) pair"
        rid, count = entry
        # Verify the replica is known and entries are sorted without duplicates
        if not (is_nat(rid) and rid < n):
            return f"entry {entry!r} names no replica of {n}"
        if rid <= previous:
            return f"entry {entry!r} is out of order or duplicated"
        # Verify the count is a positive natural (zero counts are omitted)
        if not (is_nat(count) and count > 0):
            return f"entry {entry!r} has a count that is not a positive integer"
        previous = rid
    return None


GCOUNTER_REPLICA: ReplicaType[Counts] = ReplicaType(
    name="gcounter",
    initial_payload=lambda n: (),
    initial_local=lambda n: None,
    apply=increment,
    validate_payload=validate_payload,
    merge=merge,
)


def new(replica_id: int, n: int) -> Replica[Counts]:
    return new_replica(GCOUNTER_REPLICA, replica_id, n)


def step(replica: Replica[Counts], event: Event) -> tuple[Replica[Counts], Effects]:
    return replica_step(GCOUNTER_REPLICA, replica, event)


def to_spec(payload: Counts, n: int) -> spec.Payload:
    """Abstraction function: sparse counts -> the spec's dense vector."""
    dense = [0] * n
    for rid, count in payload:
        dense[rid] = count
    return tuple(dense)
