"""A sans-IO bully-election process: ``step(process, event) -> (process, effects)``.

Refines :mod:`mnemosyne_consensus.spec.bully` (Garcia-Molina 1982, the Bully Algorithm). The
process knows its id (its priority) and the number of processes ``n``; it keeps its phase and
the coordinator it names. It never reads a clock: the host arms the timers it asks for and
hands back their expiry as events, and the host's timeouts must be *reliable* (the paper's
synchronous system: a timeout expires only when the awaited process has crashed).

Events
    ``Crash()``            -- the process stops and loses its state. A real host delivers no
                              event to a crashed process; this one exists so that a run (a model
                              run, a recorded trace) can show the crash as a step of the process,
                              whose state then reads DOWN until ``Recover()``;
    ``Recover()``          -- the paper's ``Recovery``: back up with no state, and ``Election``.
                              Only a DOWN process recovers (anything else is local misuse);
    ``Timeout(timer)``     -- a timer the process armed expired (see :class:`Timer`); a timer
                              that no longer matches the phase is stale and ignored;
    ``Receive(message)``   -- a message arrived: validated, then handled.

Effects (one frozen record)
    ``sends``    -- messages to hand to the transport (a message to a crashed process is lost);
    ``timer``    -- the timer to arm now, replacing any armed one (None: no change);
    ``elected``  -- the coordinator this step made the process name (an announcement of itself
                    or an accepted COORDINATOR), else None;
    ``faults``   -- a peer's message was malformed or impossible: the state is unchanged.

Wire message ``Message(kind, sender, receiver)`` with kind ``election`` (to every higher
process), ``answer`` (back to a lower one) or ``coordinator`` (to every lower process).

What a receiver can check, and what it cannot
    It can check that the kind is one of the three, that the sender is another process of the
    configuration, that the message is addressed to it, and that the message goes the way the
    bully rule sends it: ELECTION upwards, ANSWER and COORDINATOR downwards. It cannot tell a
    stale message from a fresh one (the network reorders): a stale ANSWER is ignored, and a
    COORDINATOR from below the coordinator it names makes a NORMAL process start an election
    (see the spec's departures). Ids are not authenticated: a process that lies about its id
    is outside the paper's model (crash failures only).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs

# -- Phases, messages, timers --------------------------------------------------------------------


class Status(enum.Enum):
    """The process's phase (the paper's S(i).s, with ``Election`` split in two)."""

    DOWN = "down"
    NORMAL = "normal"
    ELECTING = "electing"
    WAITING = "waiting"


class Kind(enum.Enum):
    ELECTION = "election"
    ANSWER = "answer"
    COORDINATOR = "coordinator"


class Timer(enum.Enum):
    """The timers a process arms, each named after what it waits for."""

    #: ELECTING: an ANSWER from some higher process (expiry: this process wins)
    ANSWER = "answer"
    #: WAITING: the COORDINATOR of the higher process that answered (expiry: elect again)
    COORDINATOR = "coordinator"
    #: NORMAL: the coordinator's liveness, the paper's ``AreYouThere`` (expiry: elect again)
    CHECK = "check"


@attrs.frozen(cache_hash=True)
class Message:
    """The wire message. Fields are typed ``Any``: a peer may put anything in them."""

    kind: Any
    sender: Any
    receiver: Any


# -- Faults --------------------------------------------------------------------------------------


class FaultKind(enum.Enum):
    """Why a message from a peer was rejected. The process's state is left unchanged."""

    #: the kind is not one of election, answer, coordinator
    UNKNOWN_KIND = "unknown_kind"
    #: the sender is not another process of this configuration (out of range, not an integer,
    #: or this very process)
    UNKNOWN_SENDER = "unknown_sender"
    #: the message is addressed to another process
    MISROUTED = "misrouted"
    #: the message goes against the bully rule: ELECTION from a higher process, or ANSWER or
    #: COORDINATOR from a lower one (a correct process never sends those)
    WRONG_DIRECTION = "wrong_direction"


@attrs.frozen
class Fault:
    sender: Any
    kind: FaultKind
    detail: str


# -- Events, effects, state ----------------------------------------------------------------------


@attrs.frozen
class Crash:
    pass


@attrs.frozen
class Recover:
    pass


@attrs.frozen
class Timeout:
    timer: Timer


@attrs.frozen
class Receive:
    message: Message


Event = Crash | Recover | Timeout | Receive


@attrs.frozen
class Effects:
    sends: tuple[Message, ...] = ()
    timer: Timer | None = None
    elected: int | None = None
    faults: tuple[Fault, ...] = ()


@attrs.frozen(cache_hash=True)
class NodeState:
    # identity and configuration: the id is the priority
    process: int
    n: int
    # election state: the phase and the coordinator named (the paper's S(i).s and S(i).c)
    status: Status
    coordinator: int | None


def new(process: int, n: int) -> NodeState:
    """A process of a system that has completed an election: everyone names n-1."""
    if not 0 <= process < n:
        raise ValueError(f"process id {process} out of range for {n} processes")
    return NodeState(process, n, Status.NORMAL, n - 1)


def down(process: int, n: int) -> NodeState:
    """A crashed process, as a host rebuilds it before handing it ``Recover()``."""
    return attrs.evolve(new(process, n), status=Status.DOWN, coordinator=None)


Step = tuple[NodeState, Effects]

# -- The procedures ------------------------------------------------------------------------------


def announce(state: NodeState) -> Step:
    """The election point: name itself and send COORDINATOR to every lower process."""
    me = state.process
    sends = tuple(Message(Kind.COORDINATOR, me, j) for j in range(me))
    return attrs.evolve(state, status=Status.NORMAL, coordinator=me), Effects(
        sends=sends, elected=me
    )


def begin_election(state: NodeState, ops: BullyOps) -> Step:
    """The paper's ``Election``: ELECTION to every higher process, or win at once if none."""
    me = state.process
    if me == state.n - 1:
        return ops.announce(state)
    sends = tuple(Message(Kind.ELECTION, me, j) for j in range(me + 1, state.n))
    return attrs.evolve(state, status=Status.ELECTING), Effects(sends=sends, timer=Timer.ANSWER)


def accept(state: NodeState, coordinator: int) -> Step:
    timer = Timer.CHECK if coordinator != state.process else None
    new_state = attrs.evolve(state, status=Status.NORMAL, coordinator=coordinator)
    return new_state, Effects(timer=timer, elected=coordinator)


def on_coordinator(state: NodeState, sender: int, ops: BullyOps) -> Step:
    """COORDINATOR from a higher process: accept it, or check by an election (spec guard)."""
    if state.status is not Status.NORMAL:
        return accept(state, sender)
    if state.coordinator is None or sender >= state.coordinator:
        return accept(state, sender)
    # below the coordinator we name: stale, or our coordinator crashed -- find out
    return ops.election(state, ops)


def on_recover(state: NodeState, ops: BullyOps) -> Step:
    """The paper's ``Recovery``: no state survives the crash; call ``Election``."""
    fresh = attrs.evolve(state, status=Status.NORMAL, coordinator=None)
    return ops.election(fresh, ops)


# -- Transitions ---------------------------------------------------------------------------------


def step(state: NodeState, event: Event, ops: BullyOps | None = None) -> Step:
    """The process's whole behaviour: one event in, the new state and its effects out.

    ``ops`` defaults to :data:`STANDARD_OPS`, the algorithm as specified.
    """
    ops = ops or STANDARD_OPS
    if isinstance(event, Crash):
        return on_crash(state)
    if isinstance(event, Recover):
        if state.status is not Status.DOWN:
            raise ValueError(f"process {state.process} is up: only a crashed process recovers")
        return ops.on_recover(state, ops)
    if isinstance(event, Timeout):
        return on_timeout(state, event, ops)
    if isinstance(event, Receive):
        return on_receive(state, event, ops)
    raise TypeError(f"process {state.process} cannot handle event {event!r}")


def on_crash(state: NodeState) -> Step:
    if state.status is Status.DOWN:
        return state, Effects()
    return attrs.evolve(state, status=Status.DOWN, coordinator=None), Effects()


# (phase, timer) -> the procedure its expiry runs; any other pair is a stale timer, ignored
TIMEOUT_TABLE: dict[tuple[Status, Timer], str] = {
    (Status.ELECTING, Timer.ANSWER): "announce",
    (Status.WAITING, Timer.COORDINATOR): "election",
    (Status.NORMAL, Timer.CHECK): "election",
}


def on_timeout(state: NodeState, event: Timeout, ops: BullyOps) -> Step:
    if not isinstance(event.timer, Timer):
        raise TypeError(f"process {state.process}: {event.timer!r} is not a timer")
    procedure = TIMEOUT_TABLE.get((state.status, event.timer))
    if procedure is None:
        return state, Effects()  # stale (the phase moved on) or a crashed process
    if procedure == "announce":
        return ops.announce(state)
    if state.coordinator == state.process:
        return state, Effects()  # a coordinator does not check on itself
    return ops.election(state, ops)


def on_receive(state: NodeState, event: Receive, ops: BullyOps) -> Step:
    if state.status is Status.DOWN:
        return state, Effects()  # a crashed process receives nothing: the message is lost
    message = event.message
    problem = ops.validate(state, message)
    if problem is not None:
        kind, detail = problem
        return state, Effects(faults=(Fault(message.sender, kind, detail),))
    me, sender = state.process, message.sender
    if message.kind is Kind.ELECTION:
        answer = Message(Kind.ANSWER, me, sender)
        if state.status is not Status.NORMAL:
            return state, Effects(sends=(answer,))
        electing, effects = ops.election(state, ops)
        return electing, attrs.evolve(effects, sends=(answer, *effects.sends))
    if message.kind is Kind.ANSWER:
        if state.status is not Status.ELECTING:
            return state, Effects()  # stale: the election is over or already answered
        return attrs.evolve(state, status=Status.WAITING), Effects(timer=Timer.COORDINATOR)
    return ops.on_coordinator(state, sender, ops)


def validate(state: NodeState, message: Message) -> tuple[FaultKind, str] | None:
    """None if ``message`` may be handled, else the fault kind and a one-line reason."""
    me, n = state.process, state.n
    kind, sender = message.kind, message.sender
    # Verify the kind is one of the protocol's three
    if not isinstance(kind, Kind):
        return FaultKind.UNKNOWN_KIND, f"{kind!r} is not election, answer or coordinator"
    # Verify the sender is another process of this configuration
    if not (is_nat(sender) and sender < n and sender != me):
        return FaultKind.UNKNOWN_SENDER, f"process {me} has no peer {sender!r}"
    # Verify the message is addressed to this process
    if message.receiver != me or not is_nat(message.receiver):
        return FaultKind.MISROUTED, f"message for {message.receiver!r} delivered to {me}"
    return check_direction(state, message)


def check_direction(state: NodeState, message: Message) -> tuple[FaultKind, str] | None:
    """ELECTION goes to higher processes; ANSWER and COORDINATOR come from higher ones."""
    me, sender = state.process, message.sender
    upwards = message.kind is Kind.ELECTION
    # Verify the message goes the way the bully rule sends it
    if upwards and sender > me:
        return FaultKind.WRONG_DIRECTION, f"ELECTION from higher process {sender} to {me}"
    if not upwards and sender < me:
        what = message.kind.value.upper()
        return FaultKind.WRONG_DIRECTION, f"{what} from lower process {sender} to {me}"
    return None


# -- What a process computes with -----------------------------------------------------------------


@attrs.frozen
class BullyOps:
    """The procedures a process runs. The model swaps deliberate bugs (mutants) in here."""

    election: Callable[[NodeState, BullyOps], Step]  # the paper's Election
    announce: Callable[[NodeState], Step]  # the election point
    on_coordinator: Callable[[NodeState, int, BullyOps], Step]  # NewCoordinator's receipt
    on_recover: Callable[[NodeState, BullyOps], Step]  # the paper's Recovery
    validate: Callable[[NodeState, Message], tuple[FaultKind, str] | None]


STANDARD_OPS = BullyOps(
    election=begin_election,
    announce=announce,
    on_coordinator=on_coordinator,
    on_recover=on_recover,
    validate=validate,
)


def is_nat(value: Any) -> bool:
    """A natural number (bool is not one, though Python thinks it is an int)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
