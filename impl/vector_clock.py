"""A sans-IO vector-clock process: ``step(process, event) -> (process, effects)``.

Refines :mod:`mnemosyne_consensus.spec.vector_clock` (Fidge 1988; Mattern 1989, §5). The
process keeps one vector of ``n`` naturals; every event it handles is stamped with the vector
the rules give, and the stamp is reported in the effects so the application can attach it to
whatever the event was.

Events
    ``LocalEvent()``        -- an internal event of the application: tick;
    ``SendRequest(to)``     -- the application sends a message to process ``to``, or to every
                               other process when ``to`` is ``None`` (one send event, one stamp,
                               one message id, several copies): tick, attach the vector;
    ``Receive(message)``    -- a message arrived from the network: validate, merge, tick.

Effects (one frozen record)
    ``timestamp``  -- the vector stamped on the event handled (``None`` when it was rejected);
    ``sends``      -- ``(destination, message)`` pairs to hand to the transport;
    ``faults``     -- a peer's message was malformed or impossible: the state is unchanged.

Wire message ``ClockMessage(sender, message_id, clock)``. The id of a message is the sender's
own entry after the send's tick: the sender ticks it at every event, so ids are unique per
sender and need no counter of their own.

What a receiver can check locally, and what it cannot
    It can check the shape of a message (a known peer, ``n`` natural entries), that the message
    is self-consistent (its id is the sender's entry, which the send's tick made at least 1) and
    that it claims no event of the receiver that has not happened (``clock[me]`` at most the
    receiver's own entry: every event of mine that precedes the send precedes it causally, so it
    has happened here). It can *not* reject a message whose sender entry is lower than one it
    has already seen from that sender -- the network reorders and duplicates, so an older
    message may legitimately arrive after a newer one -- nor bound the entries of third
    processes, nor tell whether the sender really saw the events it claims: a Byzantine sender
    can inflate them undetectably (no vector-clock scheme authenticates causal history).

Exceptions are kept for local misuse (a send to a process that does not exist, an unknown event
type); a peer's bad message is a :class:`Fault` value. No clocks, randomness or I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs

VC = tuple[int, ...]

# -- The clock arithmetic ------------------------------------------------------------------------


def tick(clock: VC, me: int) -> VC:
    """Mattern rule 1: increment the own entry."""
    return tuple(c + 1 if k == me else c for k, c in enumerate(clock))


def merge(mine: VC, theirs: VC) -> VC:
    """Pointwise maximum of two vectors of the same length."""
    return tuple(a if a >= b else b for a, b in zip(mine, theirs, strict=True))


def receive_clock(mine: VC, theirs: VC, me: int) -> VC:
    """Mattern rule 2: merge the message's vector, then tick."""
    return tick(merge(mine, theirs), me)


def happened_before(v: VC, w: VC) -> bool:
    """``v < w``: no entry of v exceeds w's, and at least one is smaller."""
    smaller = False
    for a, b in zip(v, w, strict=True):
        if a > b:
            return False
        if a < b:
            smaller = True
    return smaller


def concurrent(v: VC, w: VC) -> bool:
    """``v || w``: neither happened before the other."""
    return not happened_before(v, w) and not happened_before(w, v)


# -- Faults --------------------------------------------------------------------------------------


class FaultKind(enum.Enum):
    """Why a message from a peer was rejected. The process's state is left unchanged."""

    #: the sender is not another process of this configuration (out of range, not an integer,
    #: or this very process: a process never messages itself)
    UNKNOWN_SENDER = "unknown_sender"
    #: the clock is not a tuple of exactly n entries
    WRONG_LENGTH = "wrong_length"
    #: an entry of the clock is not a natural number (negative, a bool, a float, a string ...)
    MALFORMED_ENTRY = "malformed_entry"
    #: the sender's own entry is 0: the send event ticks it, so an honest message has it >= 1
    SEND_NOT_COUNTED = "send_not_counted"
    #: the message id is not the sender's own entry of the clock, as honest senders number them
    MISMATCHED_ID = "mismatched_id"
    #: the clock claims more events of the receiver than the receiver has had
    FUTURE_OWN_ENTRY = "future_own_entry"


@attrs.frozen
class Fault:
    sender: Any
    kind: FaultKind
    detail: str


# -- Messages, events, effects, state ------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class ClockMessage:
    """The wire message. Fields are typed ``Any``: a peer may put anything in them."""

    sender: Any
    message_id: Any
    clock: Any


@attrs.frozen
class LocalEvent:
    pass


@attrs.frozen
class SendRequest:
    to: int | None = None  # None: broadcast to every other process


@attrs.frozen
class Receive:
    message: ClockMessage


Event = LocalEvent | SendRequest | Receive


@attrs.frozen
class Effects:
    timestamp: VC | None = None
    sends: tuple[tuple[int, ClockMessage], ...] = ()
    faults: tuple[Fault, ...] = ()


@attrs.frozen(cache_hash=True)
class ProcessState:
    # identity and configuration
    process: int
    n: int
    # the vector clock
    clock: VC


def new(process: int, n: int) -> ProcessState:
    if not 0 <= process < n:
        raise ValueError(f"process id {process} out of range for {n} processes")
    return ProcessState(process, n, (0,) * n)


# -- Transitions ---------------------------------------------------------------------------------


def step(
    state: ProcessState, event: Event, ops: ClockOps | None = None
) -> tuple[ProcessState, Effects]:
    """The process's whole behaviour: one event in, the new state and its effects out.

    ``ops`` defaults to :data:`STANDARD_OPS`, the algorithm as published.
    """
    ops = ops or STANDARD_OPS
    if isinstance(event, LocalEvent):
        return on_local(state, ops)
    if isinstance(event, SendRequest):
        return on_send(state, event, ops)
    if isinstance(event, Receive):
        return on_receive(state, event, ops)
    raise TypeError(f"process {state.process} cannot handle event {event!r}")


def on_local(state: ProcessState, ops: ClockOps) -> tuple[ProcessState, Effects]:
    clock = ops.tick(state.clock, state.process)
    return attrs.evolve(state, clock=clock), Effects(timestamp=clock)


def on_send(state: ProcessState, event: SendRequest, ops: ClockOps) -> tuple[ProcessState, Effects]:
    me = state.process
    if event.to is None:
        destinations = tuple(j for j in range(state.n) if j != me)
    elif is_nat(event.to) and event.to < state.n and event.to != me:
        destinations = (event.to,)
    else:
        raise ValueError(f"process {me} cannot send to {event.to!r} (n = {state.n})")
    clock = ops.tick(state.clock, me)
    # one send event: one stamp and one message, of which each destination gets a copy
    message = ClockMessage(me, clock[me], clock)
    sends = tuple((j, message) for j in destinations)
    return attrs.evolve(state, clock=clock), Effects(timestamp=clock, sends=sends)


def on_receive(state: ProcessState, event: Receive, ops: ClockOps) -> tuple[ProcessState, Effects]:
    message = event.message
    problem = ops.validate(state, message)
    if problem is not None:
        kind, detail = problem
        return state, Effects(faults=(Fault(message.sender, kind, detail),))
    clock = ops.receive(state.clock, message.clock, state.process)
    return attrs.evolve(state, clock=clock), Effects(timestamp=clock)


def validate(state: ProcessState, message: ClockMessage) -> tuple[FaultKind, str] | None:
    """None if ``message`` may be merged, else the fault kind and a one-line reason."""
    me, n = state.process, state.n
    sender, clock = message.sender, message.clock
    # Verify the sender is another process of this configuration
    if not (is_nat(sender) and sender < n and sender != me):
        return FaultKind.UNKNOWN_SENDER, f"process {me} has no peer {sender!r}"
    # Verify the clock is a vector of n entries
    if not (isinstance(clock, tuple) and len(clock) == n):
        return FaultKind.WRONG_LENGTH, f"clock {clock!r} is not a tuple of {n} entries"
    # Verify every entry is a natural number
    if not all(is_nat(c) for c in clock):
        return FaultKind.MALFORMED_ENTRY, f"clock {clock!r} has an entry that is not a natural"
    # Verify the send event was counted: its tick made the sender's own entry at least 1
    if clock[sender] < 1:
        return FaultKind.SEND_NOT_COUNTED, f"clock {clock!r} has 0 for its sender {sender}"
    # Verify the message is numbered as honest senders number it
    if message.message_id != clock[sender] or not is_nat(message.message_id):
        return (
            FaultKind.MISMATCHED_ID,
            f"message id {message.message_id!r} is not the sender's entry {clock[sender]}",
        )
    # Verify the message claims no event of ours that has not happened yet
    if clock[me] > state.clock[me]:
        return (
            FaultKind.FUTURE_OWN_ENTRY,
            f"clock {clock!r} counts {clock[me]} events of process {me}, "
            f"which has had {state.clock[me]}",
        )
    return None


# -- What a process computes with -----------------------------------------------------------------


@attrs.frozen
class ClockOps:
    """What a process computes with. The model swaps deliberate bugs (mutants) in here."""

    tick: Callable[[VC, int], VC]  # local and send events: (own vector, me)
    receive: Callable[[VC, VC, int], VC]  # receive: (own vector, message vector, me)
    less: Callable[[VC, VC], bool]  # the comparison clients use: "happened before"
    concurrent: Callable[[VC, VC], bool]
    validate: Callable[[ProcessState, ClockMessage], tuple[FaultKind, str] | None]


STANDARD_OPS = ClockOps(
    tick=tick,
    receive=receive_clock,
    less=happened_before,
    concurrent=concurrent,
    validate=validate,
)


def is_nat(value: Any) -> bool:
    """A natural number (bool is not one, though Python thinks it is an int)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
