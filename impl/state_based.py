"""A sans-IO replica of a state-based CRDT: ``step(type, replica, event) -> (replica, effects)``.

This is the shared skeleton of the G-Counter, PN-Counter, LWW-Register and OR-Set nodes; each of
those modules supplies a :class:`ReplicaType` (its concrete payload representation, how to apply
a client operation, how to validate a payload received from the wire, and how to merge).

Events
    ``ClientUpdate(op)``  -- a local client asks for an update (timestamps and tags are inside
                             ``op``: they are inputs, never read from a clock or a uuid);
    ``GossipTimer()``     -- the timer that tells the replica to send its state to everyone;
    ``Receive(message)``  -- a state message arrived from the network.

Effects (one frozen record)
    ``broadcasts``  -- state messages to send to every other replica;
    ``faults``      -- a peer misbehaved (malformed or unattributable message): the replica's state
                       is unchanged;
    ``rejections``  -- a local client request was invalid: the replica's state is unchanged.

Nothing here reads a clock, draws a random number or performs I/O; every run replays.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import attrs

P = TypeVar("P")


class FaultKind(enum.Enum):
    """Why a message from a peer was rejected. The replica's state is left unchanged."""

    #: the sender id is not a replica of this configuration
    UNKNOWN_SENDER = "unknown_sender"
    #: the payload does not decode to a value of the data type (wrong shape, type or range)
    MALFORMED_PAYLOAD = "malformed_payload"


class RejectReason(enum.Enum):
    """Why a local client request was refused. The replica's state is left unchanged."""

    #: the operation is not one this data type knows, or its fields have the wrong type
    MALFORMED_OPERATION = "malformed_operation"
    #: the operation's precondition does not hold (e.g. removing an absent element)
    PRECONDITION_FAILED = "precondition_failed"
    #: an LWW write whose timestamp does not exceed this replica's previous write
    STALE_TIMESTAMP = "stale_timestamp"
    #: an OR-Set tag that is not fresh: not this replica's, or already used
    TAG_NOT_FRESH = "tag_not_fresh"


@attrs.frozen
class Fault:
    sender: Any
    kind: FaultKind
    detail: str


@attrs.frozen
class Rejection:
    reason: RejectReason
    detail: str


@attrs.frozen(cache_hash=True)
class StateMessage:
    """The wire message: a replica's whole payload."""

    sender: Any
    payload: Any


@attrs.frozen
class ClientUpdate:
    op: Any


@attrs.frozen
class GossipTimer:
    pass


@attrs.frozen
class Receive:
    message: StateMessage


Event = ClientUpdate | GossipTimer | Receive


@attrs.frozen
class Effects:
    broadcasts: tuple[StateMessage, ...] = ()
    faults: tuple[Fault, ...] = ()
    rejections: tuple[Rejection, ...] = ()


NO_EFFECTS = Effects()


@attrs.frozen(cache_hash=True)
class Replica(Generic[P]):
    # identity and configuration
    replica_id: int
    n: int
    # the data type's payload, in this implementation's representation
    payload: P
    # per-replica bookkeeping a type may need (LWW: last own timestamp; OR-Set: tags used)
    local: Any = None


@attrs.frozen
class ReplicaType(Generic[P]):
    """What a concrete CRDT node supplies to the skeleton."""

    name: str
    initial_payload: Callable[[int], P]
    initial_local: Callable[[int], Any]
    # apply a client op: (replica, op) -> new replica, or a Rejection
    apply: Callable[[Replica[P], Any], Replica[P] | Rejection]
    # None if the payload is well formed for n replicas, else a one-line reason
    validate_payload: Callable[[Any, int], str | None]
    merge: Callable[[P, P], P]


def new_replica(rtype: ReplicaType[P], replica_id: int, n: int) -> Replica[P]:
    if not 0 <= replica_id < n:
        raise ValueError(f"replica id {replica_id} out of range for {n} replicas")
    return Replica(replica_id, n, rtype.initial_payload(n), rtype.initial_local(n))


def step(rtype: ReplicaType[P], replica: Replica[P], event: Event) -> tuple[Replica[P], Effects]:
    """The replica's whole behaviour: one event in, the new replica and its effects out."""
    if isinstance(event, ClientUpdate):
        return on_client_update(rtype, replica, event)
    if isinstance(event, GossipTimer):
        return on_gossip_timer(replica)
    if isinstance(event, Receive):
        return on_receive(rtype, replica, event)
    raise TypeError(f"replica {replica.replica_id} cannot handle event {event!r}")


def on_client_update(
    rtype: ReplicaType[P], replica: Replica[P], event: ClientUpdate
) -> tuple[Replica[P], Effects]:
    result = rtype.apply(replica, event.op)
    if isinstance(result, Rejection):
        return replica, Effects(rejections=(result,))
    return result, NO_EFFECTS


def on_gossip_timer(replica: Replica[P]) -> tuple[Replica[P], Effects]:
    return replica, Effects(broadcasts=(StateMessage(replica.replica_id, replica.payload),))


def on_receive(
    rtype: ReplicaType[P], replica: Replica[P], event: Receive
) -> tuple[Replica[P], Effects]:
    message = event.message
    # Verify the sender is a replica of this configuration
    if not (is_nat(message.sender) and message.sender < replica.n):
        fault = Fault(message.sender, FaultKind.UNKNOWN_SENDER, f"no replica {message.sender!r}")
        return replica, Effects(faults=(fault,))
    # Verify the payload is a well-formed value of the data type
    problem = rtype.validate_payload(message.payload, replica.n)
    if problem is not None:
        return replica, Effects(
            faults=(Fault(message.sender, FaultKind.MALFORMED_PAYLOAD, problem),)
        )
    merged = rtype.merge(replica.payload, message.payload)
    if merged == replica.payload:
        return replica, NO_EFFECTS
    return attrs.evolve(replica, payload=merged), NO_EFFECTS


def is_nat(value: Any) -> bool:
    """A natural number (bool is not one, though Python thinks it is an int)."""
    return type(value) is int and value >= 0
