"""The Bully election: the highest-numbered process that is up becomes the coordinator.

Source
    H. Garcia-Molina, "Elections in a distributed computing system", IEEE Transactions on
    Computers C-31(1):48-59, 1982: the Bully Algorithm, its assertions (Assertion 1: nodes that
    consider the election over agree on the coordinator; Assertion 2: with no further failures
    the system reaches a state where the coordinator is up and every up node names it), and its
    procedures (``Election``, ``Halt``, ``NewCoordinator``, ``Ready``, ``Timeout``, ``Check``,
    ``Recovery``). Section and page numbers are not cited here: this text names the paper's
    procedures and assertions, which are unambiguous in it.

The paper's environment (the Bully Algorithm's assumptions)
    The system is *synchronous*: communication never fails, and a node that is up answers every
    call at once; so a call that times out means the callee has crashed, and only then. A failing
    node stops (crash-stop, losing its volatile state) and may later recover, running the
    procedure ``Recovery``, which calls ``Election``.

    **Timeouts are a perfect failure detector.** This spec models each timeout as an action that
    is enabled *only when the process it waits for has crashed* and, messages taking no time
    next to a timeout, *only when no message is in flight* (see :func:`reliable`; without the
    latter a crashed coordinator's COORDINATOR, still in flight, can overtake its successor's
    and leave a process naming the dead one -- which the synchronous system rules out):

    * ``ElectionTimeout(i)`` -- i sent ELECTION to every higher process and heard no ANSWER: fires
      only if every process above i is down (the paper's ``AreYouUp`` calls all time out);
    * ``WaitTimeout(i)``     -- a higher process answered but no COORDINATOR came: fires only if
      every process above i is down (the COORDINATOR i waits for can come only from above, and
      an up process above i that got i's ELECTION announces or defers to one that will), so in
      particular only if the process that answered has crashed (the paper's ``Timeout`` in
      ``Election`` status, which calls ``Election`` again);
    * ``CoordinatorTimeout(i)`` -- fires only if the coordinator i names is down (the paper's
      ``Timeout`` in ``Normal`` status: ``AreYouThere`` times out, then ``Election``).

    The mutant ``unreliable-timeout`` lets them fire whenever the phase allows, while the
    awaited process is alive and messages are in flight: the bully rule then elects a process
    that is not the highest alive (``coordinator_was_highest_alive`` fails in two steps).

Messages (the textbook names for the paper's calls)
    ``ELECTION``    -- i -> every j > i: the paper's ``AreYouUp(j)`` in ``Election``;
    ``ANSWER``      -- j -> i: the reply to ``AreYouUp`` (the textbook "OK");
    ``COORDINATOR`` -- c -> every j < c: the paper's ``NewCoordinator(j)``.
    The network holds the messages sent and not yet delivered, each delivered exactly once, in
    any order (the paper's reliable communication; identical messages in flight are one, the
    handlers being idempotent). A message to a process that is down is lost: it is not put in
    the network, and a crash removes the messages on their way to the crashed process.

State of process i (the paper's state vector S(i), reduced to what an election needs)
    ``status[i]``       -- DOWN (crashed); ELECTING (ELECTION sent, awaiting an ANSWER);
                           WAITING (answered, awaiting a COORDINATOR); NORMAL (the election is
                           over for i: the paper's ``Normal``);
    ``coordinator[i]``  -- the paper's S(i).c: the coordinator i names (None while DOWN).

Actions (one per rule; the enabling condition is apart from the effect)
    ``Crash(i)`` and ``Recover(i)``      -- the environment, each bounded by a budget;
                                            ``Recover`` is the paper's ``Recovery``: an election;
    ``ElectionTimeout(i)``               -- i reaches its "election point": S(i).c := i, and
                                            COORDINATOR to every lower process;
    ``WaitTimeout(i)``, ``CoordinatorTimeout(i)`` -- i calls ``Election`` again;
    ``ReceiveElection(m)``               -- the receiver answers and, if its election was over,
                                            starts one itself (see the departures);
    ``ReceiveAnswer(m)``                 -- an electing receiver waits for the COORDINATOR;
    ``ReceiveCoordinator(m)``            -- the receiver names the sender (see the guard below).
    ``Election`` itself (:func:`begin_election`) sends ELECTION to every higher process, or, for
    the highest id, announces at once (the paper's loop over higher nodes is empty).

Invariants (named predicates, registry :data:`INVARIANTS`)
    ``agreement_when_quiescent``     -- Assertion 1 where no crash or recovery is *pending*: in a
        *quiescent* state -- no message in flight and no up process ELECTING or WAITING -- every
        up process (all of them NORMAL, i.e. considering the election finished) names the same
        coordinator;
    ``coordinator_was_highest_alive`` -- the bully rule: every coordinator named by an up NORMAL
        process was the highest id alive when it announced itself (ghost ``announced[c]``: the
        processes up at c's last announcement);
    ``highest_alive_takes_over``     -- Assertion 2 as a bounded check: in a quiescent state in
        which some up process does not name the highest up process (a recovered higher process
        has not taken over, or the coordinator crashed), some election action is enabled.
Reachables (registry :data:`REACHABLES`)
    ``election_completes``    -- a quiescent state in which every up process names the same up
        coordinator, elected after the initial one (so an election ran to its end);
    ``lower_coordinator_announced`` -- a process below the top id announced itself;
    ``recovered_takes_over``  -- a quiescent state in which every up process names h, and a lower
        process announced itself while h was down: h recovered and took over.

Initial state and bounds
    Every process up after a completed election, all naming the top process n-1 (whose ghost
    records everyone up). The paper's Assertion 2 starts "from any state"; here every election
    starts from a crash or a recovery (a recovery is also how a process boots), with the
    numbers of crashes and of recoveries bounded per configuration (:class:`Params`).

Departures from the paper, and from the original design notes
    * The design notes' sketch (ELECTION to higher ids, OK back, COORDINATOR from the winner;
      timeouts with no stated semantics) is replaced by the paper's synchronous model: timeouts
      are reliable (above), a recovering process runs ``Election``, and the winner is the
      process that found every higher process down.
    * The paper's reorganization phase is left out: no ``Halt`` (lower nodes halted before the
      announcement) and no ``Ready`` (task distribution). ``Halt`` is what makes Assertion 1 hold
      *at every instant* in the paper; without it the agreement holds in quiescent states, which
      is the property checked here, and the coordinator's S(i).d (task description) is not
      modelled.
    * The paper's coordinator detects a recovered lower node with ``Check`` (``AreYouNormal``)
      and then re-runs ``Election``. Here, as in the textbook formulation, a NORMAL process that
      receives ELECTION from a lower process answers and starts an election itself, with the
      same effect (the recovered process hears a new COORDINATOR) and no extra message type.
    * The paper accepts ``NewCoordinator(j)`` only from the node j that halted it (S(i).h = j).
      Without halting, a COORDINATOR can be stale (overtaken in the network by a later one). The
      guard here: a process accepts COORDINATOR from j if its own election is in progress, or
      if j is at least the coordinator it names; a NORMAL process that hears from a lower j
      than its coordinator cannot tell a stale message from a crashed coordinator, so it starts
      an election to find out (the mutant ``ignore-lower-coordinator`` skips that election).
    * COORDINATOR goes to lower processes only (the paper's ``NewCoordinator`` to the halted,
      lower, nodes): a COORDINATOR from a lower id, like an ELECTION from a higher id or an
      ANSWER from a lower one, is impossible from a correct process, and the implementation
      rejects it as a typed fault.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator

import attrs

from .common import replace_at
from .properties import Invariant, Reachable

# -- Messages and statuses -----------------------------------------------------------------------


class Status(enum.Enum):
    """A process's phase (the paper's S(i).s, with its ``Election`` split in two)."""

    DOWN = "down"
    NORMAL = "normal"
    ELECTING = "electing"
    WAITING = "waiting"


class Kind(enum.Enum):
    ELECTION = "election"
    ANSWER = "answer"
    COORDINATOR = "coordinator"


@attrs.frozen(cache_hash=True)
class Message:
    kind: Kind
    sender: int
    receiver: int

    def sort_key(self) -> tuple[str, int, int]:
        return (self.kind.value, self.sender, self.receiver)

    def __str__(self) -> str:
        return f"{self.kind.value.upper()} {self.sender}->{self.receiver}"


# -- State ---------------------------------------------------------------------------------------


@attrs.frozen
class Params:
    """A configuration: the processes 0..n-1 (the id is the priority) and the fault budget."""

    processes: int
    max_crashes: int
    max_recoveries: int


@attrs.frozen(cache_hash=True)
class SystemState:
    # processes: each one's phase (DOWN while crashed) and the coordinator it names
    status: tuple[Status, ...]
    coordinator: tuple[int | None, ...]
    # network: messages sent and not yet delivered, sorted, each at most once
    network: tuple[Message, ...]
    # environment: crashes and recoveries so far (bounded by Params)
    crashes: int
    recoveries: int
    # ghost: for each process, the processes up when it last announced itself (None: never)
    announced: tuple[tuple[int, ...] | None, ...]


def initial_state(n: int) -> SystemState:
    """Every process up, after a completed election: all name the top process n-1."""
    return SystemState(
        status=(Status.NORMAL,) * n,
        coordinator=(n - 1,) * n,
        network=(),
        crashes=0,
        recoveries=0,
        announced=(*(None,) * (n - 1), tuple(range(n))),
    )


def is_up(state: SystemState, i: int) -> bool:
    return state.status[i] is not Status.DOWN


def alive(state: SystemState) -> tuple[int, ...]:
    """The processes that are up, in increasing order."""
    return tuple(i for i, s in enumerate(state.status) if s is not Status.DOWN)


def higher(state: SystemState, i: int) -> range:
    return range(i + 1, len(state.status))


def quiescent(state: SystemState) -> bool:
    """Nothing pending: no message in flight and no up process ELECTING or WAITING."""
    if state.network:
        return False
    return all(s is Status.NORMAL or s is Status.DOWN for s in state.status)


# -- The protocol's building blocks: send, announce, the procedure Election ----------------------


def sent(state: SystemState, messages: tuple[Message, ...]) -> tuple[Message, ...]:
    """The network after sending ``messages``: those to a process that is down are lost."""
    kept = {m for m in messages if is_up(state, m.receiver)}
    return sorted_network(tuple(set(state.network) | kept))


def sorted_network(messages: tuple[Message, ...]) -> tuple[Message, ...]:
    return tuple(sorted(messages, key=Message.sort_key))


def announce(state: SystemState, i: int) -> SystemState:
    """i reaches the paper's election point: S(i).c := i, NewCoordinator to every lower process.

    The ghost records who is up at this moment, for ``coordinator_was_highest_alive``.
    """
    coordinator_messages = tuple(Message(Kind.COORDINATOR, i, j) for j in range(i))
    return attrs.evolve(
        state,
        status=replace_at(state.status, i, Status.NORMAL),
        coordinator=replace_at(state.coordinator, i, i),
        network=sent(state, coordinator_messages),
        announced=replace_at(state.announced, i, alive(state)),
    )


Election = Callable[[SystemState, int], SystemState]


def begin_election(state: SystemState, i: int) -> SystemState:
    """The paper's procedure ``Election``: ask every higher process whether it is up.

    The highest process has no one to ask and announces at once.
    """
    above = higher(state, i)
    if not above:
        return announce(state, i)
    return attrs.evolve(
        state,
        status=replace_at(state.status, i, Status.ELECTING),
        network=sent(state, tuple(Message(Kind.ELECTION, i, j) for j in above)),
    )


def accept_coordinator(state: SystemState, i: int, c: int) -> SystemState:
    return attrs.evolve(
        state,
        status=replace_at(state.status, i, Status.NORMAL),
        coordinator=replace_at(state.coordinator, i, c),
    )


def on_coordinator(election: Election, state: SystemState, i: int, j: int) -> SystemState:
    """Receipt of COORDINATOR from j at i (the message already removed from the network).

    Accepted while i's own election is in progress, or when j is at least the coordinator i
    names (a re-announcement, or a higher process that recovered and took over). A NORMAL
    process hearing from a lower j cannot tell a stale message from a crashed coordinator:
    it starts an election to find out.
    """
    if state.status[i] is not Status.NORMAL:
        return accept_coordinator(state, i, j)
    current = state.coordinator[i]
    if current is None or j >= current:
        return accept_coordinator(state, i, j)
    return election(state, i)


def on_recover(election: Election, state: SystemState, i: int) -> SystemState:
    """The paper's ``Recovery``: the process comes back with no state and calls ``Election``."""
    return election(state, i)


# -- The failure detector ------------------------------------------------------------------------


class Timer(enum.Enum):
    """What a timeout is about (which process the timing-out process waits for)."""

    ANSWER = "answer"  # ELECTING: an ANSWER from some higher process
    COORDINATOR = "coordinator"  # WAITING: a COORDINATOR from some higher process
    CHECK = "check"  # NORMAL: the coordinator (the paper's AreYouThere)


def reliable(state: SystemState, i: int, timer: Timer) -> bool:
    """The synchronous system's timeouts: they fire only when the awaited process has crashed.

    And, messages taking no time next to a timeout (the paper's nodes answer "with no delay"),
    only once every message in flight has been delivered: a timeout never overtakes a message.
    """
    if state.network:
        return False
    return awaited_crashed(state, i, timer)


def awaited_crashed(state: SystemState, i: int, timer: Timer) -> bool:
    """The process i waits for has crashed (for an ANSWER or a COORDINATOR: all above i)."""
    if timer is Timer.CHECK:
        c = state.coordinator[i]
        return c is not None and not is_up(state, c)
    # an ANSWER or a COORDINATOR can only come from above: all of it must be down
    return not any(is_up(state, j) for j in higher(state, i))


@attrs.frozen
class Rules:
    """The rules a mutant may replace (in spec and impl alike, so that only invariants see it).

    ``detects``       -- the failure detector: may ``timer`` fire at process i?
    ``election``      -- the procedure ``Election`` (start of an election at i);
    ``on_coordinator`` -- receipt of COORDINATOR from j at i (given ``election``);
    ``on_recover``    -- the procedure ``Recovery`` (given ``election``).
    """

    detects: Callable[[SystemState, int, Timer], bool] = reliable
    election: Election = begin_election
    on_coordinator: Callable[[Election, SystemState, int, int], SystemState] = on_coordinator
    on_recover: Callable[[Election, SystemState, int], SystemState] = on_recover


SPEC_RULES = Rules()


# -- Actions -------------------------------------------------------------------------------------


@attrs.frozen
class Crash:
    process: int


@attrs.frozen
class Recover:
    process: int


@attrs.frozen
class ElectionTimeout:
    process: int


@attrs.frozen
class WaitTimeout:
    process: int


@attrs.frozen
class CoordinatorTimeout:
    process: int


@attrs.frozen
class ReceiveElection:
    message: Message


@attrs.frozen
class ReceiveAnswer:
    message: Message


@attrs.frozen
class ReceiveCoordinator:
    message: Message


Action = (
    Crash
    | Recover
    | ElectionTimeout
    | WaitTimeout
    | CoordinatorTimeout
    | ReceiveElection
    | ReceiveAnswer
    | ReceiveCoordinator
)
Timeout = ElectionTimeout | WaitTimeout | CoordinatorTimeout
Receive = ReceiveElection | ReceiveAnswer | ReceiveCoordinator

# which status each timeout belongs to, and what it waits for
TIMEOUTS: dict[type, tuple[Status, Timer]] = {
    ElectionTimeout: (Status.ELECTING, Timer.ANSWER),
    WaitTimeout: (Status.WAITING, Timer.COORDINATOR),
    CoordinatorTimeout: (Status.NORMAL, Timer.CHECK),
}
RECEIVES: dict[type, Kind] = {
    ReceiveElection: Kind.ELECTION,
    ReceiveAnswer: Kind.ANSWER,
    ReceiveCoordinator: Kind.COORDINATOR,
}


def crash_enabled(params: Params, state: SystemState, action: Crash) -> bool:
    # Verify the process is up and the crash budget is not spent
    return is_up(state, action.process) and state.crashes < params.max_crashes


def recover_enabled(params: Params, state: SystemState, action: Recover) -> bool:
    # Verify the process is down and the recovery budget is not spent
    return not is_up(state, action.process) and state.recoveries < params.max_recoveries


def timeout_enabled(rules: Rules, state: SystemState, action: Timeout) -> bool:
    i = action.process
    status, timer = TIMEOUTS[type(action)]
    # Verify the process is in the phase this timeout belongs to
    if state.status[i] is not status:
        return False
    # Verify a coordinator does not time out on itself
    if timer is Timer.CHECK and state.coordinator[i] == i:
        return False
    # Verify the awaited process has crashed (the failure detector)
    return rules.detects(state, i, timer)


def receive_enabled(state: SystemState, action: Receive) -> bool:
    m = action.message
    # Verify the message is in flight, of the kind this rule handles, to a process that is up
    return m.kind is RECEIVES[type(action)] and m in state.network and is_up(state, m.receiver)


def enabled(params: Params, rules: Rules, state: SystemState, action: Action) -> bool:
    if isinstance(action, Crash):
        return crash_enabled(params, state, action)
    if isinstance(action, Recover):
        return recover_enabled(params, state, action)
    if isinstance(action, ElectionTimeout | WaitTimeout | CoordinatorTimeout):
        return timeout_enabled(rules, state, action)
    return receive_enabled(state, action)


def apply_crash(state: SystemState, action: Crash) -> SystemState:
    """The process stops and loses its state; messages on their way to it are lost."""
    i = action.process
    return attrs.evolve(
        state,
        status=replace_at(state.status, i, Status.DOWN),
        coordinator=replace_at(state.coordinator, i, None),
        network=tuple(m for m in state.network if m.receiver != i),
        crashes=state.crashes + 1,
    )


def apply_recover(rules: Rules, state: SystemState, action: Recover) -> SystemState:
    """The paper's ``Recovery``: up again, with no state, and an election."""
    i = action.process
    back = attrs.evolve(
        state,
        status=replace_at(state.status, i, Status.NORMAL),
        recoveries=state.recoveries + 1,
    )
    return rules.on_recover(rules.election, back, i)


def apply_election_timeout(state: SystemState, action: ElectionTimeout) -> SystemState:
    """No higher process answered: i is the highest alive and announces itself."""
    return announce(state, action.process)


def apply_wait_timeout(rules: Rules, state: SystemState, action: WaitTimeout) -> SystemState:
    """The process that answered crashed before announcing: ``Election`` again."""
    return rules.election(state, action.process)


def apply_coordinator_timeout(
    rules: Rules, state: SystemState, action: CoordinatorTimeout
) -> SystemState:
    """The coordinator crashed (``AreYouThere`` timed out): ``Election``."""
    return rules.election(state, action.process)


def apply_receive_election(
    rules: Rules, state: SystemState, action: ReceiveElection
) -> SystemState:
    """ELECTION from a lower j: answer it, and start an election unless one is in progress."""
    m = action.message
    i, j = m.receiver, m.sender
    delivered = attrs.evolve(state, network=_without(state.network, m))
    answered = attrs.evolve(delivered, network=sent(delivered, (Message(Kind.ANSWER, i, j),)))
    if answered.status[i] is Status.NORMAL:
        return rules.election(answered, i)
    return answered


def apply_receive_answer(state: SystemState, action: ReceiveAnswer) -> SystemState:
    """ANSWER from a higher j: a higher process is up, so i waits for its COORDINATOR."""
    m = action.message
    i = m.receiver
    delivered = attrs.evolve(state, network=_without(state.network, m))
    if delivered.status[i] is Status.ELECTING:
        return attrs.evolve(delivered, status=replace_at(delivered.status, i, Status.WAITING))
    return delivered  # stale: i's election is over or was restarted and already answered


def apply_receive_coordinator(
    rules: Rules, state: SystemState, action: ReceiveCoordinator
) -> SystemState:
    """COORDINATOR from a higher j (the paper's ``NewCoordinator``): see :func:`on_coordinator`."""
    m = action.message
    delivered = attrs.evolve(state, network=_without(state.network, m))
    return rules.on_coordinator(rules.election, delivered, m.receiver, m.sender)


def next_state(rules: Rules, state: SystemState, action: Action) -> SystemState:
    if isinstance(action, Crash):
        return apply_crash(state, action)
    if isinstance(action, Recover):
        return apply_recover(rules, state, action)
    if isinstance(action, ElectionTimeout):
        return apply_election_timeout(state, action)
    if isinstance(action, WaitTimeout):
        return apply_wait_timeout(rules, state, action)
    if isinstance(action, CoordinatorTimeout):
        return apply_coordinator_timeout(rules, state, action)
    if isinstance(action, ReceiveElection):
        return apply_receive_election(rules, state, action)
    if isinstance(action, ReceiveAnswer):
        return apply_receive_answer(state, action)
    return apply_receive_coordinator(rules, state, action)


def describe(action: Action) -> str:
    """An action as a person writes it: ``Crash(2)``, ``ReceiveAnswer(ANSWER 2->0)``."""
    subject = action.message if isinstance(action, Receive) else action.process
    return f"{type(action).__name__}({subject})"


def timeouts(state: SystemState) -> Iterator[Timeout]:
    """Every timeout action of every process (enabled or not): the election actions."""
    for i in range(len(state.status)):
        yield ElectionTimeout(i)
        yield WaitTimeout(i)
        yield CoordinatorTimeout(i)


def actions(params: Params, rules: Rules, state: SystemState) -> Iterator[Action]:
    """The enabled actions of ``state``."""
    candidates: list[Action] = []
    for i in range(params.processes):
        candidates += [Crash(i), Recover(i)]
    candidates += list(timeouts(state))
    for m in state.network:
        kind = {
            Kind.ELECTION: ReceiveElection,
            Kind.ANSWER: ReceiveAnswer,
            Kind.COORDINATOR: ReceiveCoordinator,
        }[m.kind]
        candidates.append(kind(m))
    return (a for a in candidates if enabled(params, rules, state, a))


def _without(network: tuple[Message, ...], message: Message) -> tuple[Message, ...]:
    return tuple(m for m in network if m != message)


# -- Invariants ----------------------------------------------------------------------------------


def highest_alive(state: SystemState) -> int | None:
    up = alive(state)
    return up[-1] if up else None


def named_coordinators(state: SystemState) -> set[int | None]:
    """The coordinators named by the up NORMAL processes (those whose election is over)."""
    return {state.coordinator[i] for i, s in enumerate(state.status) if s is Status.NORMAL}


def agreement_when_quiescent(rules: Rules, state: SystemState) -> bool:
    """Assertion 1, once nothing is pending: all up processes name one coordinator."""
    return not quiescent(state) or len(named_coordinators(state)) <= 1


def coordinator_was_highest_alive(rules: Rules, state: SystemState) -> bool:
    """The bully rule: each named coordinator was the highest alive when it announced."""
    for c in named_coordinators(state):
        if c is None:
            return False
        seen = state.announced[c]
        if seen is None or max(seen) != c:
            return False
    return True


def highest_alive_takes_over(rules: Rules, state: SystemState) -> bool:
    """Assertion 2, bounded: a quiescent state not led by the highest up process is not final."""
    if not quiescent(state):
        return True
    h = highest_alive(state)
    if named_coordinators(state) <= {h}:
        return True
    return any(timeout_enabled(rules, state, t) for t in timeouts(state))


# -- Reachables ----------------------------------------------------------------------------------


def election_completes(rules: Rules, state: SystemState) -> bool:
    """Sometimes: a new coordinator (not the initial top process) is up and named by all."""
    named = named_coordinators(state)
    if not quiescent(state) or len(named) != 1:
        return False
    (c,) = named
    return c is not None and c != len(state.status) - 1 and is_up(state, c)


def lower_coordinator_announced(rules: Rules, state: SystemState) -> bool:
    """Sometimes: a process below the top id announced itself (the top one being down)."""
    return any(seen is not None for seen in state.announced[:-1])


def recovered_takes_over(rules: Rules, state: SystemState) -> bool:
    """Sometimes: every up process names h, and a lower process announced while h was down."""
    named = named_coordinators(state)
    if not quiescent(state) or len(named) != 1:
        return False
    (h,) = named
    if h is None or not is_up(state, h):
        return False
    return any(seen is not None and h not in seen for seen in state.announced[:h])


# -- Registry ------------------------------------------------------------------------------------

Predicate = Callable[[Rules, SystemState], bool]

INVARIANTS: tuple[tuple[str, str, Predicate], ...] = (
    (
        "agreement_when_quiescent",
        "with no message in flight and no election in progress, every up process names the "
        "same coordinator (Assertion 1)",
        agreement_when_quiescent,
    ),
    (
        "coordinator_was_highest_alive",
        "every coordinator named was the highest process alive when it announced itself",
        coordinator_was_highest_alive,
    ),
    (
        "highest_alive_takes_over",
        "a quiescent state in which an up process does not name the highest up process has an "
        "election action enabled (Assertion 2, bounded)",
        highest_alive_takes_over,
    ),
)

REACHABLES: tuple[tuple[str, str, Predicate], ...] = (
    (
        "election_completes",
        "a coordinator other than the initial one is up and named by every up process",
        election_completes,
    ),
    (
        "lower_coordinator_announced",
        "a process below the top id announced itself",
        lower_coordinator_announced,
    ),
    (
        "recovered_takes_over",
        "a process that was down when a lower one announced is now named by every up process",
        recovered_takes_over,
    ),
)


def explain(state: SystemState) -> str:
    """Who names whom, who is up, and what each coordinator saw when it announced."""
    names = ", ".join(
        f"{i}: {s.value}" + (f" -> {c}" if c is not None else "")
        for i, (s, c) in enumerate(zip(state.status, state.coordinator, strict=True))
    )
    seen = "; ".join(
        f"{c} announced with {list(state.announced[c] or ())} up"
        for c in sorted(x for x in named_coordinators(state) if x is not None)
    )
    flight = len(state.network)
    return f"processes {names}; {seen or 'no coordinator named'}; {flight} message(s) in flight"


def invariants(
    rules: Rules, project: Callable[[object], SystemState]
) -> tuple[Invariant[object], ...]:
    """The registry as engine invariants, read through the abstraction ``project``."""
    return tuple(
        Invariant(
            name,
            description,
            _compose(predicate, rules, project),
            lambda s: explain(project(s)),
        )
        for name, description, predicate in INVARIANTS
    )


def reachables(
    rules: Rules, project: Callable[[object], SystemState]
) -> tuple[Reachable[object], ...]:
    return tuple(
        Reachable(name, description, _compose(predicate, rules, project))
        for name, description, predicate in REACHABLES
    )


def _compose(
    predicate: Predicate, rules: Rules, project: Callable[[object], SystemState]
) -> Callable[[object], bool]:
    return lambda state: predicate(rules, project(state))
