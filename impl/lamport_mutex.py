"""A sans-IO process of Lamport's mutual exclusion: ``step(process, event) -> (process, effects)``.

Refines :mod:`mnemosyne_consensus.spec.lamport_mutex` (Lamport, CACM 21(7), 1978, p. 560 IR1
and IR2, p. 561 rules 1-5). The process keeps a Lamport clock, its request queue (a set of
``(timestamp, process)`` pairs, sorted), the highest timestamp received from each other
process, and its phase in the cycle idle -> waiting -> critical -> idle.

Events
    ``RequestResource()``  the application wants the resource (rule 1);
    ``Enter()``            the application asks to enter its critical section: granted when
                           rule 5 holds, otherwise rejected with the condition that fails
                           (the application retries after the next receipt);
    ``Release()``          the application leaves its critical section (rule 3);
    ``Receive(message)``   a message arrived from the transport: validate, then IR2 (b) and
                           rule 2 (request) or rule 4 (release).

Effects (one frozen record)
    ``sends``       ``(destination, message)`` pairs for the transport, which must deliver
                    them in order per (sender, receiver) channel, and every one of them;
    ``granted``     the process entered its critical section in this step;
    ``faults``      a peer's message was malformed or impossible: the state is unchanged;
    ``rejections``  the application asked for something the rules do not allow now: the state
                    is unchanged.

Wire message ``MutexMessage(kind, sender, timestamp)``; the transport knows the receiver.

What a receiver can check, and why an honest peer never fails it
    Beyond the shape (a known peer other than itself, a known kind, a timestamp >= 1 since the
    send event ticked), FIFO channels give three checks: an honest sender's messages to one
    receiver carry strictly increasing timestamps (IR1), so a timestamp not above the last one
    received from that sender is a replay, a duplicate or a reordering (``STALE_TIMESTAMP``);
    an honest sender's next request follows its release (``DUPLICATE_REQUEST``), and its
    release follows its request, which only that release removes (``RELEASE_WITHOUT_REQUEST``).
    An acknowledgment may legitimately arrive after the request it answers was released, so it
    is not checked against the queue. Nothing can bound a timestamp from above: a Byzantine
    peer can always claim a later clock.

Exceptions are kept for local misuse (an unknown event type); a peer's bad message is a
:class:`Fault` value and an untimely application request a :class:`Rejection` value.
No clocks, randomness or I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs

Request = tuple[int, int]  # (timestamp, process)

# -- Kinds, phases, faults and rejections --------------------------------------------------------


class MessageKind(enum.Enum):
    REQUEST = "request"
    ACK = "ack"
    RELEASE = "release"


class Phase(enum.Enum):
    IDLE = "idle"
    WAITING = "waiting"
    CRITICAL = "critical"


class FaultKind(enum.Enum):
    """Why a message from a peer was rejected. The process's state is left unchanged."""

    #: the sender is not another process of this configuration (out of range, not an integer,
    #: or this very process: a process never messages itself)
    UNKNOWN_SENDER = "unknown_sender"
    #: the kind is not one of request, ack, release
    UNKNOWN_KIND = "unknown_kind"
    #: the timestamp is not a natural number >= 1 (the send event ticked the clock from 0)
    MALFORMED_TIMESTAMP = "malformed_timestamp"
    #: the timestamp is not above the last one received from that sender: a replay, a
    #: duplicate, or a channel that is not FIFO (the algorithm assumes FIFO channels)
    STALE_TIMESTAMP = "stale_timestamp"
    #: a request from a process whose earlier request is still queued (not yet released)
    DUPLICATE_REQUEST = "duplicate_request"
    #: a release from a process that has no request in the queue
    RELEASE_WITHOUT_REQUEST = "release_without_request"


class RejectReason(enum.Enum):
    """Why an application request was refused. The process's state is left unchanged."""

    #: the phase does not allow the event (request while waiting or critical, enter while idle
    #: or critical, release outside the critical section)
    WRONG_PHASE = "wrong_phase"
    #: rule 5 (i) fails: another request precedes the own one in the queue
    NOT_AT_HEAD = "not_at_head"
    #: rule 5 (ii) fails: some process has sent nothing timestamped later than the request
    NO_LATER_MESSAGE = "no_later_message"


@attrs.frozen
class Fault:
    sender: Any
    kind: FaultKind
    detail: str


@attrs.frozen
class Rejection:
    reason: RejectReason
    detail: str


# -- Messages, events, effects, state ------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class MutexMessage:
    """The wire message. Fields are typed ``Any``: a peer may put anything in them."""

    kind: Any
    sender: Any
    timestamp: Any


@attrs.frozen
class RequestResource:
    pass


@attrs.frozen
class Enter:
    pass


@attrs.frozen
class Release:
    pass


@attrs.frozen
class Receive:
    message: MutexMessage


Event = RequestResource | Enter | Release | Receive


@attrs.frozen
class Effects:
    sends: tuple[tuple[int, MutexMessage], ...] = ()
    granted: bool = False
    faults: tuple[Fault, ...] = ()
    rejections: tuple[Rejection, ...] = ()


@attrs.frozen(cache_hash=True)
class ProcessState:
    # identity and configuration
    process: int
    n: int
    # logical clock
    clock: int
    # the request/enter/release cycle
    phase: Phase
    # request queue: known requests, sorted by (timestamp, process)
    queue: tuple[Request, ...]
    # latest[j]: highest timestamp received from process j (0: none yet; own entry stays 0)
    latest: tuple[int, ...]


def new(process: int, n: int) -> ProcessState:
    if not 0 <= process < n:
        raise ValueError(f"process id {process} out of range for {n} processes")
    return ProcessState(process, n, 0, Phase.IDLE, (), (0,) * n)


# the phase machine, keyed by (phase, event type); a missing key is a WRONG_PHASE rejection
TRANSITIONS: dict[tuple[Phase, type], Phase] = {
    (Phase.IDLE, RequestResource): Phase.WAITING,
    (Phase.WAITING, Enter): Phase.CRITICAL,
    (Phase.CRITICAL, Release): Phase.IDLE,
}

# -- Transitions ---------------------------------------------------------------------------------


def step(
    state: ProcessState, event: Event, ops: MutexOps | None = None
) -> tuple[ProcessState, Effects]:
    """The process's whole behaviour: one event in, the new state and its effects out.

    ``ops`` defaults to :data:`STANDARD_OPS`, the algorithm as published.
    """
    ops = ops or STANDARD_OPS
    if isinstance(event, Receive):
        return on_receive(state, event.message, ops)
    if not isinstance(event, RequestResource | Enter | Release):
        raise TypeError(f"process {state.process} cannot handle event {event!r}")
    next_phase = TRANSITIONS.get((state.phase, type(event)))
    if next_phase is None:
        detail = (
            f"process {state.process} cannot handle {type(event).__name__} "
            f"in phase {state.phase.value}"
        )
        return state, Effects(rejections=(Rejection(RejectReason.WRONG_PHASE, detail),))
    if isinstance(event, RequestResource):
        return on_request(state, next_phase)
    if isinstance(event, Enter):
        return on_enter(state, next_phase, ops)
    return on_release(state, next_phase)


def _broadcast(state: ProcessState, message: MutexMessage) -> tuple[tuple[int, MutexMessage], ...]:
    return tuple((j, message) for j in range(state.n) if j != state.process)


def on_request(state: ProcessState, phase: Phase) -> tuple[ProcessState, Effects]:
    """Rule 1: tick; queue (Tm, me); send REQUEST(Tm) to every other process."""
    clock = state.clock + 1
    queue = tuple(sorted((*state.queue, (clock, state.process))))
    message = MutexMessage(MessageKind.REQUEST, state.process, clock)
    after = attrs.evolve(state, clock=clock, phase=phase, queue=queue)
    return after, Effects(sends=_broadcast(state, message))


def on_enter(state: ProcessState, phase: Phase, ops: MutexOps) -> tuple[ProcessState, Effects]:
    """Rule 5: granted when (i) the own request heads the queue and (ii) every other process
    has sent something timestamped later; the grant is an event, so the clock ticks."""
    problem = entry_problem(state, ops)
    if problem is not None:
        return state, Effects(rejections=(problem,))
    after = attrs.evolve(state, clock=state.clock + 1, phase=phase)
    return after, Effects(granted=True)


def entry_problem(state: ProcessState, ops: MutexOps) -> Rejection | None:
    """None if rule 5 holds for a waiting process, else the first condition that fails."""
    me = state.process
    mine = own_request(state)
    if mine is None:  # a waiting process always has its request queued; be safe anyway
        return Rejection(RejectReason.NOT_AT_HEAD, f"process {me} has no request queued")
    # Verify rule 5 (i): the own request precedes every other queued request
    if ops.head_required:
        for other in state.queue:
            if other != mine and not ops.precedes(mine, other, me, state.n):
                return Rejection(
                    RejectReason.NOT_AT_HEAD, f"request {other} precedes request {mine}"
                )
    # Verify rule 5 (ii): a later message from every other process
    for j in range(state.n):
        if j != me and state.latest[j] <= mine[0]:
            return Rejection(
                RejectReason.NO_LATER_MESSAGE,
                f"latest timestamp from process {j} is {state.latest[j]}, not above {mine[0]}",
            )
    return None


def on_release(state: ProcessState, phase: Phase) -> tuple[ProcessState, Effects]:
    """Rule 3: tick; remove the own request; send RELEASE to every other process."""
    clock = state.clock + 1
    queue = tuple(r for r in state.queue if r[1] != state.process)
    message = MutexMessage(MessageKind.RELEASE, state.process, clock)
    after = attrs.evolve(state, clock=clock, phase=phase, queue=queue)
    return after, Effects(sends=_broadcast(state, message))


def on_receive(
    state: ProcessState, message: MutexMessage, ops: MutexOps
) -> tuple[ProcessState, Effects]:
    """Validate; then IR2 (b), and rule 2 (queue and acknowledge) or rule 4 (dequeue)."""
    problem = ops.validate(state, message)
    if problem is not None:
        kind, detail = problem
        return state, Effects(faults=(Fault(message.sender, kind, detail),))
    j, stamp = message.sender, message.timestamp
    clock = ops.receive_clock(state.clock, stamp)
    latest = tuple(max(t, stamp) if k == j else t for k, t in enumerate(state.latest))
    queue = state.queue
    sends: tuple[tuple[int, MutexMessage], ...] = ()
    if message.kind is MessageKind.REQUEST:
        queue = tuple(sorted((*queue, (stamp, j))))
        if ops.acknowledge:
            sends = ((j, MutexMessage(MessageKind.ACK, state.process, clock)),)
    elif message.kind is MessageKind.RELEASE:
        queue = tuple(r for r in queue if r[1] != j)
    after = attrs.evolve(state, clock=clock, latest=latest, queue=queue)
    return after, Effects(sends=sends)


def validate(state: ProcessState, message: MutexMessage) -> tuple[FaultKind, str] | None:
    """None if ``message`` may be received, else the fault kind and a one-line reason."""
    me, n = state.process, state.n
    sender, kind, stamp = message.sender, message.kind, message.timestamp
    # Verify the sender is another process of this configuration
    if not (is_nat(sender) and sender < n and sender != me):
        return FaultKind.UNKNOWN_SENDER, f"process {me} has no peer {sender!r}"
    # Verify the kind is one the protocol knows
    if not isinstance(kind, MessageKind):
        return FaultKind.UNKNOWN_KIND, f"message kind {kind!r} is not request, ack or release"
    # Verify the timestamp is one a send event can carry
    if not (is_nat(stamp) and stamp >= 1):
        return FaultKind.MALFORMED_TIMESTAMP, f"timestamp {stamp!r} is not a natural >= 1"
    # Verify the channel is FIFO: timestamps from one sender only increase
    if stamp <= state.latest[sender]:
        return (
            FaultKind.STALE_TIMESTAMP,
            f"timestamp {stamp} from process {sender} is not above {state.latest[sender]}",
        )
    queued = any(r[1] == sender for r in state.queue)
    # Verify a request comes from a process with no request queued
    if kind is MessageKind.REQUEST and queued:
        return (
            FaultKind.DUPLICATE_REQUEST,
            f"process {sender} requests again before releasing its queued request",
        )
    # Verify a release comes from a process with a request queued
    if kind is MessageKind.RELEASE and not queued:
        return (
            FaultKind.RELEASE_WITHOUT_REQUEST,
            f"process {sender} releases but has no request queued",
        )
    return None


def own_request(state: ProcessState) -> Request | None:
    for request in state.queue:
        if request[1] == state.process:
            return request
    return None


# -- What a process computes with -----------------------------------------------------------------


def lamport_precedes(a: Request, b: Request, at: int, n: int) -> bool:
    """``a => b``: earlier timestamp, ties broken by the lower process number."""
    return a < b


def receive_clock(clock: int, timestamp: int) -> int:
    """IR2 (b): above both the own clock and the message's timestamp."""
    return max(clock, timestamp) + 1


@attrs.frozen
class MutexOps:
    """What a process computes with. The model swaps deliberate bugs (mutants) in here."""

    precedes: Callable[[Request, Request, int, int], bool]  # (a, b, me, n): a => b at me
    head_required: bool  # rule 5 (i) checked
    acknowledge: bool  # rule 2 sends an ACK
    receive_clock: Callable[[int, int], int]  # (own clock, timestamp) -> clock after receipt
    validate: Callable[[ProcessState, MutexMessage], tuple[FaultKind, str] | None]


STANDARD_OPS = MutexOps(
    precedes=lamport_precedes,
    head_required=True,
    acknowledge=True,
    receive_clock=receive_clock,
    validate=validate,
)


def is_nat(value: Any) -> bool:
    """A natural number (bool is not one, though Python thinks it is an int)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
