"""LWW-Register replica (sans-IO), refining :mod:`mnemosyne_consensus.spec.lww_register`.

Representation: the wire format, a plain ``(timestamp, replica, value)`` triple; the empty
register is ``(0, -1, None)``. Values are strings or integers. The abstraction to the spec's
record is :func:`to_spec`.

A client write carries its own timestamp (an input, never a clock read). It is accepted only if
``(timestamp, this replica)`` exceeds the ``(timestamp, replica)`` of the write the register
holds (Shapiro et al. 2011, §3.2.1, Spec. 8: timestamps consistent with causality); otherwise it
is refused with :attr:`RejectReason.STALE_TIMESTAMP` and the replica is unchanged. A client that
wants its write to take effect retries with a larger timestamp.
"""

from __future__ import annotations

from typing import Any

from ..spec import lww_register as spec
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

Register = tuple[int, int, Any]  # (timestamp, replica, value)

EMPTY: Register = (0, spec.BOTTOM_REPLICA, None)


def is_value(value: Any) -> bool:
    """A value the register stores: a string or an integer (bool is not one)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def write_key(register: Register) -> tuple[int, int]:
    """The order of writes: timestamp first, replica id to break ties."""
    return (register[0], register[1])


def assign(replica: Replica[Register], op: Any) -> Replica[Register] | Rejection:
    # Verify the operation is an assignment
    if not isinstance(op, spec.Assign):
        return Rejection(RejectReason.MALFORMED_OPERATION, f"not an assignment: {op!r}")
    # Verify the timestamp is a natural number and the value one the register stores
    if not is_nat(op.timestamp):
        return Rejection(RejectReason.MALFORMED_OPERATION, f"bad timestamp {op.timestamp!r}")
    if not is_value(op.value):
        return Rejection(RejectReason.MALFORMED_OPERATION, f"bad value {op.value!r}")
    # Verify the write wins here: above the write the register holds (Spec 8, causal now())
    written: Register = (op.timestamp, replica.replica_id, op.value)
    if write_key(written) <= write_key(replica.payload):
        return Rejection(
            RejectReason.STALE_TIMESTAMP,
            f"write {write_key(written)} does not exceed {write_key(replica.payload)}",
        )
    return Replica(replica.replica_id, replica.n, written, replica.local)


def merge(mine: Register, theirs: Register) -> Register:
    return theirs if write_key(theirs) > write_key(mine) else mine


def validate_payload(payload: Any, n: int) -> str | None:
    # Verify the payload is a (timestamp, replica, value) triple
    if not (isinstance(payload, tuple) and len(payload) == 3):
        return f"register must be a (timestamp, replica, value) triple, got {payload!r}"
    timestamp, rid, value = payload
    # The empty register has exactly one form (checked by type too: False == 0 in Python)
    if type(rid) is int and rid == spec.BOTTOM_REPLICA:
        if type(timestamp) is int and timestamp == 0 and value is None:
            return None
        return f"an empty register must be {EMPTY!r}, got {payload!r}"
    # Verify the writer is a replica of this configuration
    if not (is_nat(rid) and rid < n):
        return f"register {payload!r} names no replica of {n}"
    # Verify the timestamp is a natural number and the value one the register stores
    if not is_nat(timestamp):
        return f"register {payload!r} has a timestamp that is not a natural number"
    if not is_value(value):
        return f"register {payload!r} holds a value that is not a string or integer"
    return None


LWW_REGISTER_REPLICA: ReplicaType[Register] = ReplicaType(
    name="lww-register",
    initial_payload=lambda n: EMPTY,
    initial_local=lambda n: None,
    apply=assign,
    validate_payload=validate_payload,
    merge=merge,
)


def new(replica_id: int, n: int) -> Replica[Register]:
    return new_replica(LWW_REGISTER_REPLICA, replica_id, n)


def step(replica: Replica[Register], event: Event) -> tuple[Replica[Register], Effects]:
    return replica_step(LWW_REGISTER_REPLICA, replica, event)


def to_spec(payload: Register, n: int) -> spec.Payload:
    """Abstraction function: the wire triple -> the spec's record (``n`` is not needed)."""
    timestamp, rid, value = payload
    return spec.Payload(timestamp, rid, value)
