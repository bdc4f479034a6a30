"""Lamport mutual-exclusion proofs: the request order, for every number of processes.

Source: L. Lamport, "Time, clocks, and the ordering of events in a distributed system",
CACM 21(7), 1978: p. 560, IR2 (b) (a receipt sets the clock above the message's timestamp);
p. 561, the relation ``=>`` ("a => b iff C(a) < C(b), or C(a) = C(b) and Pi < Pj", with ``<``
an arbitrary total order on the processes) and rule 5, which grants the resource to the process
whose request is ordered first by ``=>`` in its queue. Every process must find the same first
request, so ``=>`` must be a strict total order on requests: that is what these proofs state.

Encoding
    A request is a pair of integers ``(ts, pid)``: a timestamp (a natural >= 1, the clock of
    the send event, which ticked) and a process number (any natural; the tie-break ``<`` on
    processes is the order of their numbers). Nothing bounds either, so the claims hold for
    every number of processes and every clock value.
    ``a => b``  ``a.ts < b.ts  or  (a.ts = b.ts and a.pid < b.pid)``;
    receipt    ``C := max(C, Tm) + 1`` (IR1 and IR2 (b) for one receive event).

Mutants
    ``timestamp-only``           ``a => b`` iff ``a.ts < b.ts``: two requests with the same
                                 timestamp are incomparable, so two processes can both see
                                 their own request first (totality fails);
    ``timestamp-only-nonstrict`` ``a => b`` iff ``a.ts <= b.ts``: every request precedes itself
                                 and equal timestamps precede each other (irreflexivity and
                                 asymmetry fail);
    ``receive-without-tick``     ``C := max(C, Tm)``: the receipt's clock may equal the
                                 timestamp, so an acknowledgment is not later than the request.
"""

from __future__ import annotations

from collections.abc import Callable

import z3

from .core import Goal, Labelled, Proof, ProofMutant, named_proof

PROTOCOL = "lamport-mutex"
SOURCE = "Lamport, CACM 21(7), 1978, p. 560 (IR2) and p. 561 (the relation => and rule 5)."
ASSUMPTIONS = (
    "timestamps are naturals >= 1 and process numbers naturals, both unbounded (any number of "
    "processes, any clock value); a request is identified by its (timestamp, process) pair."
)

TIMESTAMP_ONLY = "lamport-mutex/timestamp-only"
TIMESTAMP_ONLY_NONSTRICT = "lamport-mutex/timestamp-only-nonstrict"
RECEIVE_WITHOUT_TICK = "lamport-mutex/receive-without-tick"

Request = tuple[z3.ArithRef, z3.ArithRef]
Order = Callable[[Request, Request], z3.BoolRef]

# -- Requests and the order ------------------------------------------------------------------------


def request(name: str) -> Request:
    return z3.Int(f"{name}.ts"), z3.Int(f"{name}.pid")


def well_formed(r: Request) -> z3.BoolRef:
    # a timestamp is the clock of a send event, which ticked from 0
    return z3.And(r[0] >= 1, r[1] >= 0)


def lamport_order(a: Request, b: Request) -> z3.BoolRef:
    """``a => b``: the earlier timestamp, ties broken by the lower process number."""
    return z3.Or(a[0] < b[0], z3.And(a[0] == b[0], a[1] < b[1]))


def timestamp_only(a: Request, b: Request) -> z3.BoolRef:
    """The ``timestamp-only`` mutant: no tie-break."""
    return a[0] < b[0]


def timestamp_only_nonstrict(a: Request, b: Request) -> z3.BoolRef:
    """The ``timestamp-only-nonstrict`` mutant: timestamps compared with ``<=``."""
    return a[0] <= b[0]


_ORDERS: dict[str, Order] = {
    TIMESTAMP_ONLY: timestamp_only,
    TIMESTAMP_ONLY_NONSTRICT: timestamp_only_nonstrict,
}


def precedes(mutant: str | None) -> Order:
    return _ORDERS.get(mutant or "", lamport_order)


def receive_clock(mutant: str | None) -> Callable[[z3.ArithRef, z3.ArithRef], z3.ArithRef]:
    """IR2 (b) for a receive event: ``max(C, Tm) + 1`` (or the mutant's ``max(C, Tm)``)."""

    def receive(clock: z3.ArithRef, stamp: z3.ArithRef) -> z3.ArithRef:
        merged = z3.If(clock >= stamp, clock, stamp)
        return merged if mutant == RECEIVE_WITHOUT_TICK else merged + 1

    return receive


def _show(*named: tuple[str, Request]) -> tuple[tuple[Labelled, ...], ...]:
    return tuple(((f"{label}.ts", r[0]), (f"{label}.pid", r[1])) for label, r in named)


def _requests(*names: str) -> list[Request]:
    return [request(name) for name in names]


# -- The order is a strict total order -------------------------------------------------------------


def order_irreflexive(mutant: str | None) -> Goal:
    """=> is irreflexive: no request precedes itself."""
    (a,) = _requests("a")
    return Goal(
        claim="not a => a",
        conclusion=z3.Not(precedes(mutant)(a, a)),
        hypotheses=(well_formed(a),),
        shown=_show(("a", a)),
    )


def order_asymmetric(mutant: str | None) -> Goal:
    """=> is asymmetric: a => b implies not b => a (no two requests precede each other)."""
    a, b = _requests("a", "b")
    before = precedes(mutant)
    return Goal(
        claim="a => b implies not b => a",
        conclusion=z3.Not(before(b, a)),
        hypotheses=(well_formed(a), well_formed(b), before(a, b)),
        shown=_show(("a", a), ("b", b)),
    )


def order_transitive(mutant: str | None) -> Goal:
    """=> is transitive: a => b and b => c imply a => c."""
    a, b, c = _requests("a", "b", "c")
    before = precedes(mutant)
    return Goal(
        claim="a => b and b => c imply a => c",
        conclusion=before(a, c),
        hypotheses=(well_formed(a), well_formed(b), well_formed(c), before(a, b), before(b, c)),
        shown=_show(("a", a), ("b", b), ("c", c)),
    )


def order_total(mutant: str | None) -> Goal:
    """=> is total on distinct requests: a != b implies a => b or b => a, so every queue has
    exactly one first request and all processes agree on it."""
    a, b = _requests("a", "b")
    before = precedes(mutant)
    distinct = z3.Or(a[0] != b[0], a[1] != b[1])
    return Goal(
        claim="a != b implies a => b or b => a",
        conclusion=z3.Or(before(a, b), before(b, a)),
        hypotheses=(well_formed(a), well_formed(b), distinct),
        shown=_show(("a", a), ("b", b)),
    )


def order_extends_timestamps(mutant: str | None) -> Goal:
    """=> extends the timestamp order: a.ts < b.ts implies a => b (so, with the Clock
    Condition, a request that happened before another precedes it)."""
    a, b = _requests("a", "b")
    return Goal(
        claim="a.ts < b.ts implies a => b",
        conclusion=precedes(mutant)(a, b),
        hypotheses=(well_formed(a), well_formed(b), a[0] < b[0]),
        shown=_show(("a", a), ("b", b)),
    )


# -- The clock rule that rule 5 (ii) relies on -----------------------------------------------------


def receive_clock_exceeds(mutant: str | None) -> Goal:
    """A receipt's clock exceeds both the receiver's clock and the message's timestamp (IR1 and
    IR2 (b)), so the acknowledgment of a request is timestamped later than the request."""
    clock, stamp = z3.Ints("C Tm")
    after = receive_clock(mutant)(clock, stamp)
    return Goal(
        claim="receive(C, Tm) > C and receive(C, Tm) > Tm",
        conclusion=z3.And(after > clock, after > stamp),
        hypotheses=(clock >= 0, stamp >= 1),
        shown=((("C", clock), ("Tm", stamp)), (("receive(C, Tm)", after),)),
    )


MUTANTS = (
    ProofMutant(
        TIMESTAMP_ONLY,
        PROTOCOL,
        "requests ordered by timestamp alone, without the process tie-break",
        ("lamport-mutex.order_total",),
    ),
    ProofMutant(
        TIMESTAMP_ONLY_NONSTRICT,
        PROTOCOL,
        "requests ordered by timestamp alone, compared with <=",
        ("lamport-mutex.order_irreflexive", "lamport-mutex.order_asymmetric"),
    ),
    ProofMutant(
        RECEIVE_WITHOUT_TICK,
        PROTOCOL,
        "a receipt sets the clock to max(C, Tm), forgetting IR1's increment",
        ("lamport-mutex.receive_clock_exceeds",),
    ),
)

PROOFS: tuple[Proof, ...] = tuple(
    named_proof(PROTOCOL, build, ASSUMPTIONS, SOURCE)
    for build in (
        order_irreflexive,
        order_asymmetric,
        order_transitive,
        order_total,
        order_extends_timestamps,
        receive_clock_exceeds,
    )
)
