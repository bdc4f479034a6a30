"""PN-Counter: a counter that goes up and down, as a state-based CRDT.

Source: Shapiro et al., "A comprehensive study of CRDTs" (INRIA RR-7506, 2011), §3.1.2,
Specification 7 (state-based PN-Counter).

Payload     ``(P, N)``: two vectors of one natural number per replica; ``P[i]`` counts the
            increments issued at replica i, ``N[i]`` the decrements.
Update      ``increment()`` at replica i: ``P[i] := P[i] + 1``.
            ``decrement()`` at replica i: ``N[i] := N[i] + 1``.
Query       ``value()`` = ``sum(P) - sum(N)``.
Order       ``compare(X, Y)`` = ``X.P[i] <= Y.P[i]`` and ``X.N[i] <= Y.N[i]`` for every i.
Join        ``merge(X, Y)`` = pointwise ``max`` on ``P`` and on ``N``.
Intended    (increments the replica has seen) - (decrements the replica has seen).

It is two G-Counters (:mod:`mnemosyne_consensus.spec.gcounter`) side by side: both updates move
the payload *up* the product order, even a decrement, which is why it is a CvRDT.

The system around it (replicas, network of snapshots, invariants) is
:mod:`mnemosyne_consensus.spec.state_based`.

Departure from the design notes: their counter kept a single signed vector (decrement did
``V[i] -= 1``) and merged it with ``max``. A decrement then moves the payload *down*, and the
merge of a replica that has not seen it takes the larger, older entry: the decrement is lost.
Specification 7 keeps decrements in their own vector so that both updates inflate. That bug
ships as two mutants, one per failing check: ``decrement-lowers-p`` (the signed vector stored in
``P``: updates do not inflate) and ``single-vector`` (each replica's entry merged by its signed
net count ``P[i] - N[i]``: the query loses decrements).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from .state_based import CvRDT, UpdateRecord

Vector = tuple[int, ...]
Payload = tuple[Vector, Vector]  # (P, N)


@attrs.frozen
class Increment:
    """``increment()``: add one to the issuing replica's entry of ``P``."""


@attrs.frozen
class Decrement:
    """``decrement()``: add one to the issuing replica's entry of ``N``."""


Op = Increment | Decrement


def initial(n: int) -> Payload:
    return ((0,) * n, (0,) * n)


def update_enabled(payload: Payload, replica: int, op: Op) -> bool:
    # Spec 7: neither update has a precondition beyond being a known operation at a known replica
    return isinstance(op, Increment | Decrement) and 0 <= replica < len(payload[0])


def _bump(vector: Vector, replica: int) -> Vector:
    return tuple(c + 1 if k == replica else c for k, c in enumerate(vector))


def increment(payload: Payload, replica: int) -> Payload:
    p, n = payload
    return (_bump(p, replica), n)


def decrement(payload: Payload, replica: int) -> Payload:
    p, n = payload
    return (p, _bump(n, replica))


def update(payload: Payload, replica: int, op: Op) -> Payload:
    """The two update clauses of Spec 7, selected by the operation."""
    if isinstance(op, Increment):
        return increment(payload, replica)
    return decrement(payload, replica)


def value(payload: Payload) -> int:
    p, n = payload
    return sum(p) - sum(n)


def _vector_leq(x: Vector, y: Vector) -> bool:
    return all(a <= b for a, b in zip(x, y, strict=True))


def _vector_join(x: Vector, y: Vector) -> Vector:
    return tuple(max(a, b) for a, b in zip(x, y, strict=True))


def leq(x: Payload, y: Payload) -> bool:
    return _vector_leq(x[0], y[0]) and _vector_leq(x[1], y[1])


def join(x: Payload, y: Payload) -> Payload:
    return (_vector_join(x[0], y[0]), _vector_join(x[1], y[1]))


def intended(updates: Sequence[UpdateRecord]) -> int:
    increments = sum(1 for u in updates if isinstance(u.op, Increment))
    decrements = sum(1 for u in updates if isinstance(u.op, Decrement))
    return increments - decrements


PNCOUNTER: CvRDT[Payload, Op, int] = CvRDT(
    name="pncounter",
    initial=initial,
    update_enabled=update_enabled,
    update=update,
    join=join,
    leq=leq,
    query=value,
    intended=intended,
)
