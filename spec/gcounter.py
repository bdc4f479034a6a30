"""G-Counter: a grow-only counter as a state-based CRDT.

Source: Shapiro et al., "A comprehensive study of CRDTs" (INRIA RR-7506, 2011), §3.1.1,
Specification 6 (state-based increment-only counter).

Payload     ``P``: one natural number per replica, ``P[i]`` = increments issued at replica i.
Update      ``increment()`` at replica i: ``P[i] := P[i] + 1``.
Query       ``value()`` = sum of the entries.
Order       ``compare(X, Y)`` = ``X[i] <= Y[i]`` for every i.
Join        ``merge(X, Y)[i]`` = ``max(X[i], Y[i])``.
Intended    the number of increments the replica has seen.

The system around it (replicas, network of snapshots, invariants) is
:mod:`mnemosyne_consensus.spec.state_based`.

Departure from the design notes: their counter merged by adding the two vectors, which is not
idempotent (a duplicated delivery counts twice); that bug ships as the mutant ``sum-merge``.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from .state_based import CvRDT, UpdateRecord

Payload = tuple[int, ...]


@attrs.frozen
class Increment:
    """``increment()``: add one at the issuing replica."""


def initial(n: int) -> Payload:
    return (0,) * n


def update_enabled(payload: Payload, replica: int, op: Increment) -> bool:
    # Spec 6: increment has no precondition beyond being a known operation at a known replica
    return isinstance(op, Increment) and 0 <= replica < len(payload)


def increment(payload: Payload, replica: int, op: Increment) -> Payload:
    return tuple(c + 1 if k == replica else c for k, c in enumerate(payload))


def value(payload: Payload) -> int:
    return sum(payload)


def leq(x: Payload, y: Payload) -> bool:
    return all(a <= b for a, b in zip(x, y, strict=True))


def join(x: Payload, y: Payload) -> Payload:
    return tuple(max(a, b) for a, b in zip(x, y, strict=True))


def intended(updates: Sequence[UpdateRecord]) -> int:
    return len(updates)


GCOUNTER: CvRDT[Payload, Increment, int] = CvRDT(
    name="gcounter",
    initial=initial,
    update_enabled=update_enabled,
    update=increment,
    join=join,
    leq=leq,
    query=value,
    intended=intended,
)
