"""Lamport's distributed mutual exclusion, over logical clocks and FIFO channels.

Source
    L. Lamport, "Time, clocks, and the ordering of events in a distributed system", CACM 21(7),
    1978, pp. 558-565.
    "Logical Clocks" (p. 560): implementation rules IR1 and IR2.
    "Ordering the Events Totally" (p. 561): the total order ``=>`` and the mutual-exclusion
    algorithm, rules 1-5, with its assumptions (FIFO channels, every message eventually
    received) and the footnotes to rules 2 and 5.

Logical clocks (p. 560)
    IR1   each process increments its clock between any two successive events; here every event
          of a process (every action below) ticks the clock once;
    IR2   (a) a message carries the clock of its send event as its timestamp ``Tm``;
          (b) on receipt the receiver sets its clock above both its own value and ``Tm``:
          ``C := max(C, Tm) + 1``. The receipt and the sends it triggers are one event
          ("the actions defined by each rule are assumed to form a single event"), so an
          acknowledgment carries the clock of the receipt it answers.

The total order ``=>`` (p. 561)
    A request is the pair ``(Tm, Pi)``; ``(T, i) => (T', j)`` iff ``T < T'`` or
    (``T = T'`` and ``i < j``): timestamps, with ties broken by an arbitrary total order ``<``
    on processes -- here the process number. :func:`lamport_precedes`; the z3 proofs in
    :mod:`mnemosyne_consensus.proofs.lamport_mutex` show it is a strict total order.

The algorithm (p. 561, rules 1-5; one action per rule)
    rule 1  ``RequestAction(i)``   Pi puts ``REQUEST(Tm, Pi)`` on its own queue and sends it to
                                   every other process;
    rule 2  ``ReceiveRequest``     Pj puts the request on its queue and sends a timestamped ``ACK``;
    rule 3  ``ReleaseAction(i)``   Pi removes its request from its queue and sends a timestamped
                                   ``RELEASE`` to every other process;
    rule 4  ``ReceiveRelease``     Pj removes Pi's request from its queue;
    rule 5  ``Enter(i)``           Pi is granted the resource when (i) its request is ordered
                                   before every other request in its queue by ``=>`` and (ii) it
                                   has received a message timestamped later than ``Tm`` from every
                                   other process;
    IR2     ``ReceiveAck``         an acknowledgment only moves the clock and ``latest``.
    A process's phase follows the table :data:`PHASES` (idle -> waiting -> critical -> idle).

State
    ``processes[i]``  clock, phase, request queue and ``latest``, where ``latest[j]`` is the
                      highest timestamp Pi has received from Pj (rule 5 (ii) reads it);
    ``network``       messages in flight, each delivered once. With FIFO channels (the paper's
                      assumption, and the config parameter ``fifo``) the network is the
                      concatenation of the per-(sender, receiver) channels in sender, receiver
                      order, each channel in send order, and only a channel's first message
                      can be received; without FIFO it is a pool in canonical order from which
                      any message can be received;
    ``entries``       ghost: every grant in order, with the requests of the processes that
                      were waiting at that moment (its rivals). The processes never read it.

Invariants
    ``mutual_exclusion``  at most one process is in its critical section;
    ``entries_in_order``  grants happen in ``=>`` order: the entry log is increasing;
    ``no_deadlock``       never a process waits while no action at all is enabled.
Reachables (the "sometimes" companions: each "always" above would hold vacuously without them)
    ``some_process_enters``    (for ``mutual_exclusion``): somebody gets the resource at all;
    ``contention_resolved``    (for ``mutual_exclusion`` and ``entries_in_order``): two processes
                               wait at once and both are granted, so the order is exercised;
    ``all_requests_served``    (for ``no_deadlock``): every process was granted as often as the
                               bound allows, and released.

Departures, and why
    * The original design notes granted the resource on acknowledgments alone. Rule 5 needs
      both conditions; the notes' version ships as the mutant ``replies-alone`` and breaks
      ``mutual_exclusion``.
    * The paper starts with the resource granted to P0 and ``T0:P0`` in every queue. Here every
      queue starts empty and nobody holds the resource: the state after P0's initial release
      has reached everyone. It saves one round of messages and changes no rule.
    * The footnote to rule 2 (no acknowledgment needed when a later message was already sent to
      Pi) and the footnote to rule 5 (``>=`` suffices against higher-numbered processes) are
      optimisations; the spec follows the rules as stated, always acknowledging and always
      requiring a strictly later timestamp.
    * The paper lets a process request whenever it likes; here a process requests again only
      after releasing (one outstanding request per process, which rule 4's "removes any
      request of Pi" presumes).
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from .common import replace_at
from .properties import Invariant, Reachable

Request = tuple[int, int]  # (timestamp, process): the paper's "Tm:Pi requests resource"

# -- Clocks and the total order ------------------------------------------------------------------


def tick(clock: int) -> int:
    """IR1: a process increments its clock between any two successive events."""
    return clock + 1


def receive_clock(clock: int, timestamp: int) -> int:
    """IR2 (b): on receipt, the clock goes above both its own value and the timestamp."""
    return max(clock, timestamp) + 1


def lamport_precedes(a: Request, b: Request, at: int, n: int) -> bool:
    """``a => b``: earlier timestamp, ties broken by process number (p. 561).

    ``at`` (the process that compares) and ``n`` are ignored: every process uses the same order,
    which is what the algorithm depends on. Mutants put a different order at some process.
    """
    return a < b


class Phase(enum.Enum):
    IDLE = "idle"  # no outstanding request
    WAITING = "waiting"  # rule 1 done, rule 5 not yet
    CRITICAL = "critical"  # granted (rule 5), not yet released (rule 3)


class MessageKind(enum.Enum):
    REQUEST = "request"  # rule 1: "Tm:Pi requests resource"
    ACK = "ack"  # rule 2: the timestamped acknowledgment
    RELEASE = "release"  # rule 3: "Pi releases resource"


# the phase machine: (phase, client action) -> next phase; a missing key is not enabled
PHASES: dict[tuple[Phase, str], Phase] = {
    (Phase.IDLE, "request"): Phase.WAITING,
    (Phase.WAITING, "enter"): Phase.CRITICAL,
    (Phase.CRITICAL, "release"): Phase.IDLE,
}


@attrs.frozen
class Rules:
    """The algorithm under check; mutants replace a field (spec and impl alike)."""

    # the order on requests as process ``at`` computes it: (a, b, at, n) -> a => b
    precedes: Callable[[Request, Request, int, int], bool] = lamport_precedes
    # rule 5 (i): the own request must head the queue (False: the design notes' version)
    head_required: bool = True
    # rule 2: acknowledge every request
    acknowledge: bool = True


SPEC_RULES = Rules()

# -- State ---------------------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class Message:
    kind: MessageKind
    timestamp: int
    sender: int
    receiver: int


@attrs.frozen(cache_hash=True)
class Process:
    # logical clock (IR1, IR2)
    clock: int
    # where the process is in the request/enter/release cycle
    phase: Phase
    # request queue: the requests it knows of, as a set sorted by (timestamp, process)
    queue: tuple[Request, ...]
    # latest[j]: highest timestamp received from process j (0: none; own entry stays 0)
    latest: tuple[int, ...]


@attrs.frozen(cache_hash=True)
class Entry:
    """Ghost: one grant, and the requests of the other processes waiting at that moment."""

    request: Request
    rivals: tuple[Request, ...]


@attrs.frozen(cache_hash=True)
class SystemState:
    # processes
    processes: tuple[Process, ...]
    # network: messages in flight (see the module docstring for the two orders)
    network: tuple[Message, ...]
    # ghost: the grants, in the order they happened
    entries: tuple[Entry, ...]


def initial_process(n: int) -> Process:
    return Process(clock=0, phase=Phase.IDLE, queue=(), latest=(0,) * n)


def initial_state(n: int) -> SystemState:
    return SystemState(
        processes=tuple(initial_process(n) for _ in range(n)), network=(), entries=()
    )


# -- Helpers on one process ----------------------------------------------------------------------


def own_request(process: Process, i: int) -> Request | None:
    for request in process.queue:
        if request[1] == i:
            return request
    return None


def with_request(queue: tuple[Request, ...], request: Request) -> tuple[Request, ...]:
    return tuple(sorted({*queue, request}))


def without_requests_of(queue: tuple[Request, ...], j: int) -> tuple[Request, ...]:
    """Rules 3 and 4: remove any request of process j."""
    return tuple(r for r in queue if r[1] != j)


def is_head(rules: Rules, process: Process, i: int, n: int) -> bool:
    """Rule 5 (i): Pi's request is ordered before every other request in its queue."""
    mine = own_request(process, i)
    if mine is None:
        return False
    return all(rules.precedes(mine, other, i, n) for other in process.queue if other != mine)


def has_later_messages(process: Process, i: int, n: int) -> bool:
    """Rule 5 (ii): Pi has received a message timestamped later than Tm from every other."""
    mine = own_request(process, i)
    if mine is None:
        return False
    return all(process.latest[j] > mine[0] for j in range(n) if j != i)


def may_enter(rules: Rules, process: Process, i: int, n: int) -> bool:
    """Rule 5, both conditions, for a waiting process."""
    if (process.phase, "enter") not in PHASES:
        return False
    if rules.head_required and not is_head(rules, process, i, n):
        return False
    return has_later_messages(process, i, n)


def _others(i: int, n: int) -> tuple[int, ...]:
    return tuple(j for j in range(n) if j != i)


# -- The rules on one process: (process, ...) -> (process, messages sent) -------------------------
#
# These are the paper's rules for a single process. The system actions below apply them to one
# process of the global state; the oracle's trace checker applies them to one node of a trace.


def request_rule(process: Process, i: int, n: int) -> tuple[Process, tuple[Message, ...]]:
    """Rule 1: tick, put ``(Tm, Pi)`` on the own queue, send ``REQUEST`` to every other."""
    clock = tick(process.clock)
    request = (clock, i)
    after = attrs.evolve(
        process,
        clock=clock,
        phase=PHASES[process.phase, "request"],
        queue=with_request(process.queue, request),
    )
    return after, tuple(Message(MessageKind.REQUEST, clock, i, j) for j in _others(i, n))


def receive_rule(
    rules: Rules, process: Process, i: int, message: Message
) -> tuple[Process, tuple[Message, ...]]:
    """IR2 (b) for every receipt, then rule 2 (request) or rule 4 (release)."""
    j, stamp = message.sender, message.timestamp
    clock = receive_clock(process.clock, stamp)
    latest = tuple(max(t, stamp) if k == j else t for k, t in enumerate(process.latest))
    queue = process.queue
    sends: tuple[Message, ...] = ()
    if message.kind is MessageKind.REQUEST:
        # rule 2: queue the request and acknowledge it, timestamped with the receipt's clock
        queue = with_request(queue, (stamp, j))
        if rules.acknowledge:
            sends = (Message(MessageKind.ACK, clock, i, j),)
    elif message.kind is MessageKind.RELEASE:
        # rule 4: remove any request of the sender
        queue = without_requests_of(queue, j)
    return attrs.evolve(process, clock=clock, latest=latest, queue=queue), sends


def release_rule(process: Process, i: int, n: int) -> tuple[Process, tuple[Message, ...]]:
    """Rule 3: tick, remove the own request, send ``RELEASE`` to every other process."""
    clock = tick(process.clock)
    after = attrs.evolve(
        process,
        clock=clock,
        phase=PHASES[process.phase, "release"],
        queue=without_requests_of(process.queue, i),
    )
    return after, tuple(Message(MessageKind.RELEASE, clock, i, j) for j in _others(i, n))


def enter_rule(process: Process) -> Process:
    """Rule 5's grant is an event: tick (IR1) and become critical."""
    return attrs.evolve(process, clock=tick(process.clock), phase=PHASES[process.phase, "enter"])


# -- The network ---------------------------------------------------------------------------------


def _channel(message: Message) -> tuple[int, int]:
    return (message.sender, message.receiver)


def _pool_order(message: Message) -> tuple[int, int, int, str]:
    return (message.sender, message.receiver, message.timestamp, message.kind.value)


def enqueue(
    network: tuple[Message, ...], sent: tuple[Message, ...], fifo: bool
) -> tuple[Message, ...]:
    """Adds sent messages. FIFO: appended to their channels (a stable sort keeps send order
    within a channel); pool: the canonical sorted multiset."""
    if not sent:
        return network
    return tuple(sorted((*network, *sent), key=_channel if fifo else _pool_order))


def dequeue(network: tuple[Message, ...], message: Message) -> tuple[Message, ...]:
    """Removes one copy of ``message`` (each message is received once)."""
    k = network.index(message)
    return (*network[:k], *network[k + 1 :])


def deliverable(network: tuple[Message, ...], fifo: bool) -> Iterator[Message]:
    """The messages that can be received next: each channel's first one (FIFO), or any."""
    seen: set[tuple[int, int]] = set()
    for message in network:
        if not fifo:
            yield message
        elif _channel(message) not in seen:
            seen.add(_channel(message))
            yield message


def is_deliverable(network: tuple[Message, ...], message: Message, fifo: bool) -> bool:
    if message not in network:
        return False
    if not fifo:
        return True
    first = next(m for m in network if _channel(m) == _channel(message))
    return first == message


# -- Actions -------------------------------------------------------------------------------------


@attrs.frozen
class RequestAction:
    """Rule 1 at process ``process``."""

    process: int


@attrs.frozen
class ReceiveRequest:
    """Rule 2: ``process`` receives a REQUEST."""

    process: int
    message: Message


@attrs.frozen
class ReceiveAck:
    """IR2 (b): ``process`` receives an ACK."""

    process: int
    message: Message


@attrs.frozen
class ReleaseAction:
    """Rule 3 at process ``process``."""

    process: int


@attrs.frozen
class ReceiveRelease:
    """Rule 4: ``process`` receives a RELEASE."""

    process: int
    message: Message


@attrs.frozen
class Enter:
    """Rule 5: ``process`` is granted the resource."""

    process: int


Action = RequestAction | ReceiveRequest | ReceiveAck | ReleaseAction | ReceiveRelease | Enter
_RECEIVES = {
    ReceiveRequest: MessageKind.REQUEST,
    ReceiveAck: MessageKind.ACK,
    ReceiveRelease: MessageKind.RELEASE,
}


def enabled(rules: Rules, fifo: bool, state: SystemState, action: Action) -> bool:
    n = len(state.processes)
    i = action.process
    # Verify the process exists
    if not 0 <= i < n:
        return False
    process = state.processes[i]
    if isinstance(action, RequestAction):
        # Verify the process has no outstanding request (the phase table allows it)
        return (process.phase, "request") in PHASES
    if isinstance(action, ReleaseAction):
        # Verify the process holds the resource
        return (process.phase, "release") in PHASES
    if isinstance(action, Enter):
        # Verify rule 5: waiting, (i) head of its queue, (ii) a later message from everyone
        return may_enter(rules, process, i, n)
    message = action.message
    # Verify the message is of the action's kind, addressed to this process, and next on its
    # channel (FIFO) or anywhere in the pool
    return (
        message.kind is _RECEIVES[type(action)]
        and message.receiver == i
        and is_deliverable(state.network, message, fifo)
    )


def next_state(rules: Rules, fifo: bool, state: SystemState, action: Action) -> SystemState:
    """The effect of an enabled action (callers check :func:`enabled` first)."""
    n = len(state.processes)
    i = action.process
    process = state.processes[i]
    network = state.network
    entries = state.entries
    if isinstance(action, RequestAction):
        process, sent = request_rule(process, i, n)
    elif isinstance(action, ReleaseAction):
        process, sent = release_rule(process, i, n)
    elif isinstance(action, Enter):
        mine = own_request(process, i)
        if mine is None:
            raise ValueError(f"process {i} enters without a request: action not enabled")
        entries = (*entries, Entry(mine, waiting_requests(state, exclude=i)))
        process, sent = enter_rule(process), ()
    else:
        network = dequeue(network, action.message)
        process, sent = receive_rule(rules, process, i, action.message)
    return SystemState(
        processes=replace_at(state.processes, i, process),
        network=enqueue(network, sent, fifo),
        entries=entries,
    )


def waiting_requests(state: SystemState, exclude: int | None = None) -> tuple[Request, ...]:
    """The outstanding requests of the waiting processes (a ghost reading of every process)."""
    found = []
    for k, process in enumerate(state.processes):
        if k != exclude and process.phase is Phase.WAITING:
            mine = own_request(process, k)
            if mine is not None:
                found.append(mine)
    return tuple(sorted(found))


def requests_made(state: SystemState, i: int) -> int:
    """How many requests process i has made: its grants, plus one if it is waiting."""
    granted = sum(1 for e in state.entries if e.request[1] == i)
    return granted + (state.processes[i].phase is Phase.WAITING)


def enabled_actions(
    rules: Rules, fifo: bool, budget: tuple[int, ...], state: SystemState
) -> Iterator[Action]:
    """Every action enabled in ``state``, with at most ``budget[i]`` requests by process i.

    The bound only stops a process from requesting again -- something a process may always
    decline to do -- and never holds back a receipt, a grant or a release. So a state in which
    nothing is enabled is one the unbounded system can also reach and stay in forever (the
    other processes simply never request again): the bound cannot invent a deadlock.
    """
    n = len(state.processes)
    for i, process in enumerate(state.processes):
        if process.phase is Phase.IDLE and requests_made(state, i) < budget[i]:
            yield RequestAction(i)
        elif process.phase is Phase.CRITICAL:
            yield ReleaseAction(i)
        elif may_enter(rules, process, i, n):
            yield Enter(i)
    receive_of = {v: k for k, v in _RECEIVES.items()}
    for message in deliverable(state.network, fifo):
        yield receive_of[message.kind](message.receiver, message)


# -- Invariants ----------------------------------------------------------------------------------


def critical_processes(state: SystemState) -> tuple[int, ...]:
    return tuple(i for i, p in enumerate(state.processes) if p.phase is Phase.CRITICAL)


def mutual_exclusion(state: SystemState) -> bool:
    """At most one process is in its critical section."""
    return len(critical_processes(state)) <= 1


def explain_mutual_exclusion(state: SystemState) -> str:
    inside = critical_processes(state)
    return f"processes {', '.join(map(str, inside))} are all in the critical section"


def entries_in_order(state: SystemState) -> bool:
    """Grants happen in ``=>`` order: each granted request is later than the one before."""
    requests = [e.request for e in state.entries]
    return all(a < b for a, b in itertools.pairwise(requests))


def explain_entries_in_order(state: SystemState) -> str:
    requests = [e.request for e in state.entries]
    for a, b in itertools.pairwise(requests):
        if not a < b:
            return f"request {a} was granted before request {b}, which precedes it by =>"
    return ""


def deadlocked(rules: Rules, fifo: bool, budget: tuple[int, ...], state: SystemState) -> bool:
    """Some process waits and no action at all is enabled."""
    if not any(p.phase is Phase.WAITING for p in state.processes):
        return False
    return next(enabled_actions(rules, fifo, budget, state), None) is None


# -- Reachables ----------------------------------------------------------------------------------


def some_process_enters(state: SystemState) -> bool:
    return bool(state.entries)


def contention_resolved(state: SystemState) -> bool:
    """Two processes waited at once and both were granted: a rival of a grant, granted later."""
    granted = [e.request for e in state.entries]
    return any(rival in granted[k + 1 :] for k, e in enumerate(state.entries) for rival in e.rivals)


def all_served(budget: tuple[int, ...], state: SystemState) -> bool:
    """Every process was granted the resource as often as its budget allows, and released it."""
    return len(state.entries) == sum(budget) and all(p.phase is Phase.IDLE for p in state.processes)


# -- Registry ------------------------------------------------------------------------------------


def invariants(
    rules: Rules, fifo: bool, budget: tuple[int, ...], project: Callable[[Any], SystemState]
) -> tuple[Invariant[Any], ...]:
    """The state invariants, read through ``project`` (the model's abstraction function)."""
    return (
        Invariant(
            "mutual_exclusion",
            "at most one process is in its critical section",
            lambda s: mutual_exclusion(project(s)),
            lambda s: explain_mutual_exclusion(project(s)),
        ),
        Invariant(
            "entries_in_order",
            "the resource is granted in (timestamp, process) order",
            lambda s: entries_in_order(project(s)),
            lambda s: explain_entries_in_order(project(s)),
        ),
        Invariant(
            "no_deadlock",
            "never a process waits while no action at all is enabled",
            lambda s: not deadlocked(rules, fifo, budget, project(s)),
            lambda s: _explain_deadlock(project(s)),
        ),
    )


def _explain_deadlock(state: SystemState) -> str:
    waiting = [i for i, p in enumerate(state.processes) if p.phase is Phase.WAITING]
    queues = "; ".join(
        f"{i}: queue {p.queue}, latest {p.latest}" for i, p in enumerate(state.processes)
    )
    return f"processes {waiting} wait, nothing is enabled ({queues})"


def reachables(
    budget: tuple[int, ...], project: Callable[[Any], SystemState]
) -> tuple[Reachable[Any], ...]:
    return (
        Reachable(
            "some_process_enters",
            "some process is granted the resource",
            lambda s: some_process_enters(project(s)),
        ),
        Reachable(
            "contention_resolved",
            "two processes wait at once and both are granted",
            lambda s: contention_resolved(project(s)),
        ),
        Reachable(
            "all_requests_served",
            "every process was granted as often as the bound allows, and released",
            lambda s: all_served(budget, project(s)),
        ),
    )
