"""Vector clocks: timestamps that characterize Lamport's happens-before exactly.

Sources
    Lamport, "Time, clocks, and the ordering of events in a distributed system", CACM 21(7),
    1978, "The Partial Ordering": happens-before (``->``) is the smallest relation such that
    (1) ``a -> b`` when a comes before b in the same process, (2) ``send(m) -> receive(m)``,
    (3) it is transitive; ``a`` and ``b`` are *concurrent* when neither ``a -> b`` nor
    ``b -> a``.
    Fidge, "Timestamps in message-passing systems that preserve the partial ordering", Proc.
    11th Australian Computer Science Conference, 1988.
    Mattern, "Virtual time and global states of distributed systems", Parallel and Distributed
    Algorithms, 1989, §5: the vector-time rules and the theorem that ``e -> f`` iff
    ``V(e) < V(f)`` (and ``e || f`` iff ``V(e) || V(f)``).

Execution
    Each of ``n`` processes runs a sequence of events, each a *local* event, the *send* of a
    message ``m`` or the *receive* of a message ``m``. Happens-before is computed here from the
    causal graph alone (program order plus ``send(m) -> receive(m)``, closed transitively), never
    from the clocks, so that the clocks can be checked against it.

Vector-time rules (Mattern §5; Fidge's rules are the same up to notation)
    ``tick``     -- local event and send at process i: ``V[i] := V[i] + 1``; a send attaches V;
    ``receive``  -- receive at i of a message stamped W: ``V := max(V, W)`` pointwise, then
                    ``V[i] := V[i] + 1``.
    Order on vectors: ``V <= W`` iff ``V[k] <= W[k]`` for every k; ``V < W`` iff ``V <= W`` and
    ``V != W``; ``V || W`` iff neither ``V < W`` nor ``W < V``.

State
    ``clocks[i]``   -- process i's current vector;
    ``history[i]``  -- process i's events so far, in program order, each stamped with its vector;
    ``network``     -- every message ever sent. A message is received in any order, any number
                       of times (each delivery is a new receive event), or never, and only by
                       one of the processes it was addressed to.

Actions (one per rule)
    ``LocalEvent(i)``        -- Mattern rule 1 for an internal event;
    ``Send(i, to, m)``       -- rule 1 for a send event; the message carries the new vector. The
                                message id ``m`` is an input (identifiers are never invented by
                                the spec) and must be fresh;
    ``Receive(i, m)``        -- rule 2: merge the message's vector, then tick.

Invariants (named predicates over the execution, see :class:`Relations`)
    ``vc_characterizes_happens_before``  -- for distinct events e, f: ``V(e) < V(f)`` iff e -> f,
        and ``V(e) || V(f)`` iff e || f (Mattern's theorem, both halves);
    ``happens_before_irreflexive``, ``happens_before_transitive`` -- -> is a strict partial order
        (Lamport 1978), checked on the causal graph *and* on the vector order as computed by the
        comparison under check;
    ``vc_order_asymmetric``              -- never ``V(e) < V(f)`` and ``V(f) < V(e)``;
    ``concurrency_symmetric``            -- ``V(e) || V(f)`` iff ``V(f) || V(e)``.
    The order laws are stated for the comparison *passed in* (:class:`ClockOrder`), because a
    protocol's comparison function is code that can be wrong; :data:`SPEC_ORDER` is the
    definition above.
Reachables (so a run in which nothing interesting happens fails)
    ``concurrent_events`` -- two concurrent events exist;
    ``causal_chain``      -- e -> f -> g through two messages, on three different processes
                             (with two processes: a round trip).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import attrs

from .common import replace_at
from .properties import Invariant, Reachable

VC = tuple[int, ...]
# a message id: any hashable, unique in a run. The model uses (sender, sender's own entry).
MessageId = Hashable

# -- The vector rules and the vector order -------------------------------------------------------


def tick(clock: VC, process: int) -> VC:
    """Rule 1 (Mattern §5): before an event, process i increments its own entry."""
    return tuple(c + 1 if k == process else c for k, c in enumerate(clock))


def merge(clock: VC, other: VC) -> VC:
    """The pointwise maximum ``sup(V, W)`` (Mattern §5, rule 2)."""
    return tuple(max(a, b) for a, b in zip(clock, other, strict=True))


def receive(clock: VC, message_clock: VC, process: int) -> VC:
    """Rule 2 (Mattern §5): on receipt, merge the message's vector, then tick."""
    return tick(merge(clock, message_clock), process)


def leq(v: VC, w: VC) -> bool:
    """``V <= W``: pointwise."""
    return all(a <= b for a, b in zip(v, w, strict=True))


def less(v: VC, w: VC) -> bool:
    """``V < W``: ``V <= W`` and ``V != W``."""
    return leq(v, w) and v != w


def concurrent(v: VC, w: VC) -> bool:
    """``V || W``: neither ``V < W`` nor ``W < V``."""
    return not less(v, w) and not less(w, v)


@attrs.frozen
class ClockRules:
    """How events are stamped: the transition rules of the algorithm under check."""

    tick: Callable[[VC, int], VC]  # local and send events at process i
    receive: Callable[[VC, VC, int], VC]  # receive at i: (own vector, message vector, i)


@attrs.frozen
class ClockOrder:
    """How stamps are compared: the comparison functions of the algorithm under check."""

    less: Callable[[VC, VC], bool]
    concurrent: Callable[[VC, VC], bool]


SPEC_RULES = ClockRules(tick=tick, receive=receive)
SPEC_ORDER = ClockOrder(less=less, concurrent=concurrent)

# -- State ---------------------------------------------------------------------------------------


class EventKind(enum.Enum):
    LOCAL = "local"
    SEND = "send"
    RECEIVE = "receive"


@attrs.frozen(cache_hash=True)
class Event:
    """One event: where it happened (process, position), what it was, and its vector."""

    process: int
    index: int  # position in the process's history, from 0
    kind: EventKind
    message: MessageId | None  # the message sent or received; None for a local event
    clock: VC


@attrs.frozen(cache_hash=True)
class Message:
    """A message in the network: its id, who sent it to whom, and the vector it carries."""

    id: MessageId
    sender: int
    to: tuple[int, ...]  # sorted, without the sender
    clock: VC


@attrs.frozen(cache_hash=True)
class SystemState:
    # processes: each one's current vector
    clocks: tuple[VC, ...]
    # history: each process's events, in program order
    history: tuple[tuple[Event, ...], ...]
    # network: every message ever sent, sorted by id; never removed (delivery may repeat)
    network: tuple[Message, ...]


def initial_state(n: int) -> SystemState:
    return SystemState(
        clocks=tuple((0,) * n for _ in range(n)),
        history=tuple(() for _ in range(n)),
        network=(),
    )


# -- Actions -------------------------------------------------------------------------------------


@attrs.frozen
class LocalEvent:
    process: int


@attrs.frozen
class Send:
    process: int
    to: tuple[int, ...]
    message: MessageId


@attrs.frozen
class Receive:
    process: int
    message: MessageId


Action = LocalEvent | Send | Receive


def find_message(state: SystemState, message: MessageId) -> Message | None:
    for m in state.network:
        if m.id == message:
            return m
    return None


def local_enabled(state: SystemState, action: LocalEvent) -> bool:
    # Verify the process exists; an internal event has no other precondition
    return 0 <= action.process < len(state.clocks)


def send_enabled(state: SystemState, action: Send) -> bool:
    n = len(state.clocks)
    # Verify the sender exists
    if not 0 <= action.process < n:
        return False
    # Verify the destinations are other processes, listed once each in order
    if not action.to or list(action.to) != sorted(set(action.to)):
        return False
    if not all(0 <= j < n and j != action.process for j in action.to):
        return False
    # Verify the message id is fresh: receive events name their message by it
    return find_message(state, action.message) is None


def receive_enabled(state: SystemState, action: Receive) -> bool:
    # Verify the message was sent to this process (it stays in the network: duplicates allowed)
    message = find_message(state, action.message)
    return message is not None and action.process in message.to


def apply_local(rules: ClockRules, state: SystemState, action: LocalEvent) -> SystemState:
    i = action.process
    clock = rules.tick(state.clocks[i], i)
    return _record(state, Event(i, len(state.history[i]), EventKind.LOCAL, None, clock))


def apply_send(rules: ClockRules, state: SystemState, action: Send) -> SystemState:
    i = action.process
    clock = rules.tick(state.clocks[i], i)
    recorded = _record(
        state, Event(i, len(state.history[i]), EventKind.SEND, action.message, clock)
    )
    # the message carries the vector of its send event
    message = Message(action.message, i, action.to, clock)
    return attrs.evolve(recorded, network=sorted_network((*state.network, message)))


def apply_receive(rules: ClockRules, state: SystemState, action: Receive) -> SystemState:
    i = action.process
    message = find_message(state, action.message)
    if message is None:
        raise ValueError(f"receive of unknown message {action.message!r}: action not enabled")
    clock = rules.receive(state.clocks[i], message.clock, i)
    event = Event(i, len(state.history[i]), EventKind.RECEIVE, action.message, clock)
    return _record(state, event)


def enabled(state: SystemState, action: Action) -> bool:
    if isinstance(action, LocalEvent):
        return local_enabled(state, action)
    if isinstance(action, Send):
        return send_enabled(state, action)
    return receive_enabled(state, action)


def next_state(rules: ClockRules, state: SystemState, action: Action) -> SystemState:
    if isinstance(action, LocalEvent):
        return apply_local(rules, state, action)
    if isinstance(action, Send):
        return apply_send(rules, state, action)
    return apply_receive(rules, state, action)


def _record(state: SystemState, event: Event) -> SystemState:
    """Appends ``event`` to its process's history and makes its vector the current one."""
    i = event.process
    return attrs.evolve(
        state,
        clocks=replace_at(state.clocks, i, event.clock),
        history=replace_at(state.history, i, (*state.history[i], event)),
    )


def sorted_network(messages: tuple[Message, ...]) -> tuple[Message, ...]:
    """The canonical order of the network: by message id (ids need not be comparable)."""
    return tuple(sorted(messages, key=lambda m: repr(m.id)))


# -- Happens-before and the clock order on one execution ----------------------------------------


@attrs.frozen
class Relations:
    """Both orders on the events of one execution, as sets of event positions.

    ``events`` lists every event (process by process, in program order); relations are indexed
    by position in that tuple. ``past[f]`` is the causal history of f without f (Mattern's term):
    ``e`` is in it iff ``e -> f``. ``clock_less[f]`` is ``{e : less(V(e), V(f))}`` and
    ``clock_concurrent[f]`` is ``{e : concurrent(V(f), V(e))}``, for the order under check.
    """

    n: int  # processes
    events: tuple[Event, ...]
    past: tuple[frozenset[int], ...]
    clock_less: tuple[frozenset[int], ...]
    clock_concurrent: tuple[frozenset[int], ...]


def causal_past(history: tuple[tuple[Event, ...], ...]) -> tuple[frozenset[int], ...]:
    """``past[f]`` = events e with e -> f: the transitive closure of the causal graph.

    Direct edges are Lamport's two cases: program order (the previous event of the same process)
    and ``send(m) -> receive(m)``. The closure is a fixpoint; it never reads a vector.
    """
    offsets: list[int] = []  # position of each process's first event
    events: list[Event] = []
    for line in history:
        offsets.append(len(events))
        events.extend(line)
    send_of = {e.message: k for k, e in enumerate(events) if e.kind is EventKind.SEND}
    direct: list[tuple[int, ...]] = []
    for p, line in enumerate(history):
        for k, e in enumerate(line):
            edges = []
            if k > 0:
                edges.append(offsets[p] + k - 1)  # program order
            if e.kind is EventKind.RECEIVE and e.message in send_of:
                edges.append(send_of[e.message])  # send(m) -> receive(m)
            direct.append(tuple(edges))
    # least fixpoint of past[f] = direct[f] + the pasts of direct[f]: monotone, so it ends,
    # even on a (malformed) cyclic history
    past = [frozenset(edges) for edges in direct]
    changed = True
    while changed:
        changed = False
        for f, edges in enumerate(direct):
            grown = past[f].union(*(past[e] for e in edges))
            if len(grown) != len(past[f]):
                past[f] = grown
                changed = True
    return tuple(past)


def relations(order: ClockOrder, history: tuple[tuple[Event, ...], ...]) -> Relations:
    events = tuple(e for line in history for e in line)
    every = range(len(events))
    return Relations(
        n=len(history),
        events=events,
        past=causal_past(history),
        clock_less=tuple(
            frozenset(e for e in every if order.less(events[e].clock, events[f].clock))
            for f in every
        ),
        clock_concurrent=tuple(
            frozenset(e for e in every if order.concurrent(events[f].clock, events[e].clock))
            for f in every
        ),
    )


def _pairs(rel: Relations) -> Iterator[tuple[int, int]]:
    """Ordered pairs of distinct events."""
    every = range(len(rel.events))
    return ((e, f) for e in every for f in every if e != f)


# -- Invariants ----------------------------------------------------------------------------------


def vc_characterizes_happens_before(rel: Relations) -> bool:
    """Mattern's theorem: ``V(e) < V(f)`` iff e -> f, and ``V(e) || V(f)`` iff e || f."""
    for e, f in _pairs(rel):
        happens_before = e in rel.past[f]
        if (e in rel.clock_less[f]) != happens_before:
            return False
        causally_concurrent = not happens_before and f not in rel.past[e]
        if (e in rel.clock_concurrent[f]) != causally_concurrent:
            return False
    return True


def happens_before_irreflexive(rel: Relations) -> bool:
    """Never e -> e (no causal cycle) and never ``V(e) < V(e)``."""
    return all(f not in rel.past[f] and f not in rel.clock_less[f] for f in range(len(rel.events)))


def happens_before_transitive(rel: Relations) -> bool:
    """e -> f and f -> g imply e -> g, for -> and for the vector order alike."""
    for relation in (rel.past, rel.clock_less):
        # relation[g] holds the predecessors of g: every predecessor's predecessors are in it
        for before in relation:
            if not all(relation[f] <= before for f in before):
                return False
    return True


def vc_order_asymmetric(rel: Relations) -> bool:
    """Never both ``V(e) < V(f)`` and ``V(f) < V(e)``."""
    return all(not (e in rel.clock_less[f] and f in rel.clock_less[e]) for e, f in _pairs(rel))


def concurrency_symmetric(rel: Relations) -> bool:
    """``V(e) || V(f)`` iff ``V(f) || V(e)``."""
    return all(
        (e in rel.clock_concurrent[f]) == (f in rel.clock_concurrent[e]) for e, f in _pairs(rel)
    )


# -- Reachables ----------------------------------------------------------------------------------


def concurrent_events(rel: Relations) -> bool:
    """Sometimes: two events are concurrent (by the causal graph)."""
    return any(e not in rel.past[f] and f not in rel.past[e] for e, f in _pairs(rel))


def causal_chain(rel: Relations) -> bool:
    """Sometimes: e -> f -> g through two messages, on three different processes.

    Each link crosses processes (e and f on different processes, f and g too), and e, f, g are
    on three different processes when there are three; with two processes, a round trip.
    """
    events = rel.events
    wanted = min(3, rel.n)
    for g, before_g in enumerate(rel.past):
        for f in before_g:
            if events[f].process == events[g].process:
                continue
            for e in rel.past[f]:
                processes = {events[e].process, events[f].process, events[g].process}
                if events[e].process != events[f].process and len(processes) >= wanted:
                    return True
    return False


# -- Registry ------------------------------------------------------------------------------------

INVARIANTS: tuple[tuple[str, str, Callable[[Relations], bool]], ...] = (
    (
        "vc_characterizes_happens_before",
        "V(e) < V(f) iff e -> f, and V(e) || V(f) iff e || f, for distinct events",
        vc_characterizes_happens_before,
    ),
    (
        "happens_before_irreflexive",
        "no event happens before itself, by the causal graph or by its vector",
        happens_before_irreflexive,
    ),
    (
        "happens_before_transitive",
        "-> and the vector order are transitive on the events",
        happens_before_transitive,
    ),
    ("vc_order_asymmetric", "never V(e) < V(f) and V(f) < V(e)", vc_order_asymmetric),
    ("concurrency_symmetric", "V(e) || V(f) iff V(f) || V(e)", concurrency_symmetric),
)

REACHABLES: tuple[tuple[str, str, Callable[[Relations], bool]], ...] = (
    ("concurrent_events", "two events are concurrent", concurrent_events),
    ("causal_chain", "e -> f -> g through two messages, across three processes", causal_chain),
)


def analyser(
    order: ClockOrder, project: Callable[[Any], SystemState]
) -> Callable[[Any], Relations]:
    """``state -> Relations``, memoized on the event log (the only input the relations read).

    Every invariant and reachable of one state reads the same relations, and the explorer checks
    them one after the other: the cache computes them once per log. It is cleared when it grows,
    so its memory stays bounded on long runs.
    """
    cache: dict[tuple[tuple[Event, ...], ...], Relations] = {}
    # the comparisons are pure functions of two vectors, and few distinct vectors occur
    memo_order = ClockOrder(less=_memoized(order.less), concurrent=_memoized(order.concurrent))

    def analyse(state: Any) -> Relations:
        history = project(state).history
        found = cache.get(history)
        if found is None:
            if len(cache) >= 4096:
                cache.clear()
            found = cache[history] = relations(memo_order, history)
        return found

    return analyse


def _memoized(compare: Callable[[VC, VC], bool]) -> Callable[[VC, VC], bool]:
    verdicts: dict[tuple[VC, VC], bool] = {}

    def memo(v: VC, w: VC) -> bool:
        key = (v, w)
        verdict = verdicts.get(key)
        if verdict is None:
            verdict = verdicts[key] = compare(v, w)
        return verdict

    return memo


def invariants(analyse: Callable[[Any], Relations]) -> tuple[Invariant[Any], ...]:
    """The registry of state invariants, read through ``analyse`` (see :func:`analyser`)."""
    return tuple(
        Invariant(name, description, _compose(predicate, analyse))
        for name, description, predicate in INVARIANTS
    )


def reachables(analyse: Callable[[Any], Relations]) -> tuple[Reachable[Any], ...]:
    return tuple(
        Reachable(name, description, _compose(predicate, analyse))
        for name, description, predicate in REACHABLES
    )


def _compose(
    predicate: Callable[[Relations], bool], analyse: Callable[[Any], Relations]
) -> Callable[[Any], bool]:
    return lambda state: predicate(analyse(state))
