"""LWW-Register: a last-writer-wins register as a state-based CRDT.

Source: Shapiro et al., "A comprehensive study of CRDTs" (INRIA RR-7506, 2011), §3.2.1,
Specification 8 (state-based Last-Writer-Wins Register).

Payload     ``(timestamp, replica, value)``: the winning write, tagged with its timestamp and the
            replica that issued it; bottom is ``(0, -1, None)``, below every write.
Update      ``assign(value, timestamp)`` at replica i, precondition
            ``(timestamp, i) > (payload.timestamp, payload.replica)``:
            the payload becomes ``(timestamp, i, value)``.
Query       ``value()`` = the payload's value.
Order       ``compare(X, Y)`` = ``(X.timestamp, X.replica) <= (Y.timestamp, Y.replica)``,
            lexicographically.
Join        ``merge(X, Y)`` = whichever of X and Y is larger in that order.
Intended    the value of the seen ``assign`` with the largest ``(timestamp, replica)``; ``None``
            if the replica has seen none.

Timestamps are inputs carried by the operation, never read from a clock, so every run replays.

Spec. 8 assumes timestamps "unique, totally ordered, and consistent with causal order" (if one
assignment happened before another, its timestamp is smaller); its update clause reads
``x, t := w, now()``. Here the total order is the pair ``(timestamp, replica)`` and the
precondition is what such a ``now()`` amounts to: a write must win at its source, i.e. be above
every write that replica has already seen. That makes ``(timestamp, replica)`` unique per write:
two writes at one replica have increasing keys, and writes at different replicas differ in the
replica id. So two payloads with the same key are the same write, the order is a total order on
the payloads that occur, and the join is their least upper bound. Equal timestamps from
different replicas are allowed and resolved by the replica id.

The system around it (replicas, network of snapshots, invariants) is
:mod:`mnemosyne_consensus.spec.state_based`.

Departure from the design notes: their register compared wall-clock timestamps only and kept the
local value on a tie, so two replicas that wrote at the same timestamp each keep their own
value forever and never converge. Here the order breaks ties by replica id; the notes' bug ships
as the mutant ``no-tiebreak``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import attrs

from .state_based import CvRDT, UpdateRecord

BOTTOM_REPLICA = -1  # the replica id of bottom: below every real replica's id


@attrs.frozen(cache_hash=True)
class Payload:
    """The winning write: its timestamp, the replica that issued it, and the value."""

    timestamp: int
    replica: int
    value: Hashable | None


BOTTOM = Payload(0, BOTTOM_REPLICA, None)


@attrs.frozen
class Assign:
    """``assign(value, timestamp)``: write ``value``; the timestamp is an input, not a clock."""

    value: Hashable
    timestamp: int


def initial(n: int) -> Payload:
    return BOTTOM


def key(payload: Payload) -> tuple[int, int]:
    """The total order of writes: timestamp first, replica id to break ties."""
    return (payload.timestamp, payload.replica)


def update_enabled(payload: Payload, replica: int, op: Assign) -> bool:
    # Verify the operation is an assignment with a natural-number timestamp
    if not (isinstance(op, Assign) and _is_nat(op.timestamp)):
        return False
    # Verify the issuing replica is a real one (bottom's -1 is not)
    if replica < 0:
        return False
    # Spec 8 "now()": the write wins at its source, i.e. it is above every write seen there
    return (op.timestamp, replica) > key(payload)


def assign(payload: Payload, replica: int, op: Assign) -> Payload:
    return Payload(op.timestamp, replica, op.value)


def value(payload: Payload) -> Hashable | None:
    return payload.value


def leq(x: Payload, y: Payload) -> bool:
    return key(x) <= key(y)


def join(x: Payload, y: Payload) -> Payload:
    return y if key(y) > key(x) else x


def intended(updates: Sequence[UpdateRecord]) -> Hashable | None:
    if not updates:
        return None
    winner = max(updates, key=lambda u: (u.op.timestamp, u.replica))
    return winner.op.value


def _is_nat(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


LWW_REGISTER: CvRDT[Payload, Assign, Hashable | None] = CvRDT(
    name="lww-register",
    initial=initial,
    update_enabled=update_enabled,
    update=assign,
    join=join,
    leq=leq,
    query=value,
    intended=intended,
)
