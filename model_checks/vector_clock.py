"""Vector clocks: bounded model, mutants, a Hypothesis state machine and the oracle binding.

Sources: Fidge 1988; Mattern 1989, §5; Lamport 1978 (see
:mod:`mnemosyne_consensus.spec.vector_clock`).

The explored state is the *implementation*: one :class:`impl.ProcessState` per process, the
messages the processes have sent, and a ghost log that the processes never read -- each
process's events in program order, stamped with the vector the impl *reported* for the event
(``Effects.timestamp``). After every step the checker

* maps the state to the spec's :class:`spec.SystemState` (clocks from the processes, history
  from the ghost log, network from the sent messages) and evaluates every spec invariant there.
  The order laws are evaluated on the comparison the impl ships (``ClockOps.less`` and
  ``ClockOps.concurrent``, what clients call), so a wrong comparison is caught; happens-before
  itself is computed from the causal graph of the log, never from the vectors;
* checks ``refinement``: the step is the spec action it stands for (``Local`` -> ``LocalEvent``,
  ``SendTo`` -> ``Send``, ``Deliver`` -> ``Receive``), that action is enabled, and the spec's
  rule applied to the abstract pre-state gives exactly the abstract post-state: the process's
  new vector, the stamp it reported, and the vector and destinations of the message it sent;
* checks ``faults_change_nothing``: every message of a small fixed alphabet of forged or
  malformed messages (one per :class:`impl.FaultKind`, receivable by every process at any
  time; not state, so free in state space) leaves the whole state unchanged.

Network semantics (DESIGN.md): sent messages are never removed, so each is delivered to any of
its destinations in any order, any number of times, or never; every delivery is a new receive
event. Bounds: at most ``events`` events per process and, when given, ``total_events`` in all
(local, send or receive alike), both read off the log, so they add no variables. With
``unicast`` false every send is a broadcast: a broadcast received by one process only already
has the causal shape of a point-to-point send, so unicast adds states, not shapes.

Measured (one core): ``small`` (3 processes, 3 events each, 6 in all) has 17,565 distinct states
and takes about 4 s; the same without the cap of 6 has 488,067 and takes minutes, so it is left
to ``--simulate`` and the Hypothesis machine (5 processes, 30 steps).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from ..impl import vector_clock as impl
from ..spec import vector_clock as spec
from ..spec.common import replace_at
from ..spec.properties import StepProperty
from .codec import (
    JSON,
    DecodeError,
    brief,
    dumps_line,
    enum_values,
    expect_array,
    expect_int,
    expect_object,
    object_schema,
    plain_from_json,
    plain_to_json,
)
from .engine import Bounds, Model
from .machines import require
from .registry_types import Config, Mutant, ProtocolEntry
from .validate import ItfChecker
from .vectors import OracleBinding

# -- State ---------------------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class InFlight:
    """A sent message and the processes it was addressed to (sorted)."""

    message: impl.ClockMessage
    to: tuple[int, ...]


@attrs.frozen(cache_hash=True)
class Deployment:
    # processes (implementation state)
    nodes: tuple[impl.ProcessState, ...]
    # network: every message sent, sorted by (sender, id): canonical and replayable
    network: tuple[InFlight, ...]
    # ghost: each process's events in program order, stamped with what the impl reported
    log: tuple[tuple[spec.Event, ...], ...]


# -- Actions of the model (impl events handed to a process) -------------------------------------


@attrs.frozen
class Local:
    process: int

    def __str__(self) -> str:
        return f"process {self.process}: local event"


@attrs.frozen
class SendTo:
    process: int
    to: int | None  # None: broadcast

    def __str__(self) -> str:
        target = "everyone" if self.to is None else f"process {self.to}"
        return f"process {self.process}: send to {target}"


@attrs.frozen
class Deliver:
    process: int
    packet: InFlight

    def __str__(self) -> str:
        m = self.packet.message
        return f"process {self.process}: receive message {m.message_id} of {m.sender} {m.clock}"


@attrs.frozen
class DeliverForged:
    process: int
    message: impl.ClockMessage

    def __str__(self) -> str:
        m = self.message
        return f"process {self.process}: receive forged {m.sender!r}/{m.message_id!r} {m.clock!r}"


ModelAction = Local | SendTo | Deliver | DeliverForged


def message_id(message: impl.ClockMessage) -> spec.MessageId:
    """The spec's id of an impl message: ids are per sender, so pair them with the sender."""
    return (message.sender, message.message_id)


# -- Adversary alphabet --------------------------------------------------------------------------


def forged_messages(n: int, events: int) -> tuple[impl.ClockMessage, ...]:
    """One malformed or impossible message per fault kind (at a receiver other than 0)."""
    zeros = (0,) * n
    return (
        impl.ClockMessage(n, 1, (1, *zeros[1:])),  # unknown sender
        impl.ClockMessage(0, 1, (1,) * (n + 1)),  # wrong length
        impl.ClockMessage(0, 1, (1, -1, *zeros[2:])),  # negative entry
        impl.ClockMessage(0, 0, zeros),  # the send was not counted
        impl.ClockMessage(0, 2, (1, *zeros[1:])),  # id is not the sender's entry
        impl.ClockMessage(0, 1, (1, *(events + 1,) * (n - 1))),  # events the receiver never had
    )


# -- Mutants -------------------------------------------------------------------------------------


def _non_strict_less(v: spec.VC, w: spec.VC) -> bool:
    return all(a <= b for a, b in zip(v, w, strict=True))


def _exists_less(v: spec.VC, w: spec.VC) -> bool:
    return any(a < b for a, b in zip(v, w, strict=True))


def _lexicographic_less(v: spec.VC, w: spec.VC) -> bool:
    return v < w  # Python compares tuples lexicographically: a total order, not causality


def _majority_less(v: spec.VC, w: spec.VC) -> bool:
    # an entry-wise vote: irreflexive and asymmetric, but it cycles like a Condorcet vote
    smaller = sum(a < b for a, b in zip(v, w, strict=True))
    return smaller > sum(a > b for a, b in zip(v, w, strict=True))


def _one_sided_concurrent(v: spec.VC, w: spec.VC) -> bool:
    return not impl.happened_before(v, w) and v != w  # forgets "and not w < v"


def _receive_without_increment(mine: spec.VC, theirs: spec.VC, me: int) -> spec.VC:
    return spec.merge(mine, theirs)


def _receive_keeps_own(mine: spec.VC, theirs: spec.VC, me: int) -> spec.VC:
    return spec.tick(mine, me)


def _validate_trusting_own_entry(
    state: impl.ProcessState, message: impl.ClockMessage
) -> tuple[impl.FaultKind, str] | None:
    # believes what a peer says about this process's own events
    problem = impl.validate(state, message)
    if problem is not None and problem[0] is impl.FaultKind.FUTURE_OWN_ENTRY:
        return None
    return problem


def _receive_merge_skips_last(mine: spec.VC, theirs: spec.VC, me: int) -> spec.VC:
    # an off-by-one loop bound: the last entry is never merged
    merged = [*mine]
    for k in range(len(mine) - 1):
        merged[k] = max(mine[k], theirs[k])
    return impl.tick(tuple(merged), me)


MUTANTS = (
    Mutant(
        "non-strict-less",
        "impl's happened-before is pointwise <= (so every vector precedes itself)",
        "happens_before_irreflexive",
    ),
    Mutant(
        "receive-without-increment",
        "receive merges but does not tick (spec and impl agree)",
        "vc_characterizes_happens_before",
    ),
    Mutant(
        "exists-less",
        "impl's happened-before holds when some entry is smaller",
        "vc_order_asymmetric",
    ),
    Mutant(
        "receive-keeps-own",
        "receive ticks without merging the message's vector (spec and impl agree)",
        "vc_characterizes_happens_before",
    ),
    Mutant(
        "lexicographic-less",
        "impl's happened-before is Python's tuple <, a total order",
        "vc_characterizes_happens_before",
    ),
    Mutant(
        "majority-less",
        "impl's happened-before holds when more entries are smaller than larger",
        "happens_before_transitive",
        config="small",  # with 2 processes the vote coincides with the true order
    ),
    Mutant(
        "one-sided-concurrent",
        "impl's concurrent(v, w) checks only 'not v < w'",
        "concurrency_symmetric",
    ),
    Mutant(
        "trusts-own-entry",
        "impl's validation omits the FUTURE_OWN_ENTRY check and merges such a message",
        "faults_change_nothing",
    ),
    Mutant(
        "merge-skips-last-entry",
        "impl's receive never merges the last entry (off-by-one); the spec is right",
        "refinement",
    ),
)

# mutant name -> (spec rule replacements, impl op replacements), applied with attrs.evolve.
# A wrong rule is put in both spec and impl, so that refinement holds and only the invariant
# can catch it; a wrong comparison lives in the impl's ClockOps, which the invariants read.
MUTATIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "non-strict-less": ({}, {"less": _non_strict_less}),
    "receive-without-increment": (
        {"receive": _receive_without_increment},
        {"receive": _receive_without_increment},
    ),
    "exists-less": ({}, {"less": _exists_less}),
    "receive-keeps-own": ({"receive": _receive_keeps_own}, {"receive": _receive_keeps_own}),
    "lexicographic-less": ({}, {"less": _lexicographic_less}),
    "majority-less": ({}, {"less": _majority_less}),
    "one-sided-concurrent": ({}, {"concurrent": _one_sided_concurrent}),
    "trusts-own-entry": ({}, {"validate": _validate_trusting_own_entry}),
    "merge-skips-last-entry": ({}, {"receive": _receive_merge_skips_last}),
}


def rules_and_ops(mutant: Mutant | None) -> tuple[spec.ClockRules, impl.ClockOps]:
    """The spec rules and impl ops of the protocol, with ``mutant``'s bug in them."""
    if mutant is None:
        return spec.SPEC_RULES, impl.STANDARD_OPS
    spec_patch, impl_patch = MUTATIONS[mutant.name]
    rules = attrs.evolve(spec.SPEC_RULES, **spec_patch)
    return rules, attrs.evolve(impl.STANDARD_OPS, **impl_patch)


# -- Driving the impl: one honest event, recorded in the ghost log ------------------------------


def _packet_order(packet: InFlight) -> tuple[str, str]:
    return (repr(packet.message.sender), repr(packet.message.message_id))


def apply_step(
    ops: impl.ClockOps, state: Deployment, action: Local | SendTo | Deliver
) -> Deployment:
    """Hands an honest event to its process and records what happened in the ghost log."""
    i = action.process
    node = state.nodes[i]
    index = len(state.log[i])
    if isinstance(action, Local):
        new_node, effects = impl.step(node, impl.LocalEvent(), ops)
        event = spec.Event(i, index, spec.EventKind.LOCAL, None, effects.timestamp)
        return _recorded(state, new_node, event, state.network)
    if isinstance(action, SendTo):
        new_node, effects = impl.step(node, impl.SendRequest(action.to), ops)
        # one send event; group the copies by message so the network holds each message once
        destinations: dict[impl.ClockMessage, list[int]] = {}
        for to, message in effects.sends:
            destinations.setdefault(message, []).append(to)
        sent = {InFlight(m, tuple(sorted(to))) for m, to in destinations.items()}
        network = tuple(sorted(set(state.network) | sent, key=_packet_order))
        first = next(iter(destinations), None)
        mid = message_id(first) if first is not None else None
        event = spec.Event(i, index, spec.EventKind.SEND, mid, effects.timestamp)
        return _recorded(state, new_node, event, network)
    message = action.packet.message
    new_node, effects = impl.step(node, impl.Receive(message), ops)
    if effects.faults:
        # the impl refused an honest message: no receive event happened (a stutter, unless the
        # impl changed its state anyway, which refinement then reports)
        if new_node == node:
            return state
        return attrs.evolve(state, nodes=replace_at(state.nodes, i, new_node))
    event = spec.Event(i, index, spec.EventKind.RECEIVE, message_id(message), effects.timestamp)
    return _recorded(state, new_node, event, state.network)


def _recorded(
    state: Deployment, node: impl.ProcessState, event: spec.Event, network: tuple[InFlight, ...]
) -> Deployment:
    i = event.process
    return Deployment(
        nodes=replace_at(state.nodes, i, node),
        network=network,
        log=replace_at(state.log, i, (*state.log[i], event)),
    )


# -- Abstraction and refinement ------------------------------------------------------------------


def abstract_network(network: tuple[InFlight, ...]) -> tuple[spec.Message, ...]:
    return spec.sorted_network(
        tuple(
            spec.Message(message_id(p.message), p.message.sender, p.to, p.message.clock)
            for p in network
        )
    )


def abstract(state: Deployment) -> spec.SystemState:
    """The abstraction function: clocks from the processes, history from the ghost log."""
    return spec.SystemState(
        clocks=tuple(node.clock for node in state.nodes),
        history=state.log,
        network=abstract_network(state.network),
    )


def spec_action(pre: Deployment, action: ModelAction, post: Deployment) -> spec.Action | str:
    """The spec action an impl step stands for, or why there is none."""
    i, n = action.process, len(pre.nodes)
    if isinstance(action, Local):
        return spec.LocalEvent(i)
    if isinstance(action, SendTo):
        # the id is the impl's (identifiers are inputs of the spec); the destinations are the
        # ones the application asked for, so a message sent to the wrong processes is caught
        new = set(post.network) - set(pre.network)
        if len(new) != 1:
            return f"the send put {len(new)} new messages in the network, not 1"
        (packet,) = new
        to = tuple(j for j in range(n) if j != i) if action.to is None else (action.to,)
        return spec.Send(i, to, message_id(packet.message))
    if isinstance(action, Deliver):
        return spec.Receive(i, message_id(action.packet.message))
    return "a forged message changed the abstract state"


def refinement_problem(
    rules: spec.ClockRules,
    pre: Deployment,
    action: ModelAction,
    post: Deployment,
    project: Callable[[Deployment], spec.SystemState] = abstract,
) -> str | None:
    """None if the step is a stutter or the enabled spec action it stands for, else why not."""
    before, after = project(pre), project(post)
    if after == before:
        return None  # a stutter (a rejected message)
    expected_action = spec_action(pre, action, post)
    if isinstance(expected_action, str):
        return expected_action
    if not spec.enabled(before, expected_action):
        return f"spec action {expected_action!r} is not enabled"
    expected = spec.next_state(rules, before, expected_action)
    if expected == after:
        return None
    differences = []
    if expected.clocks != after.clocks:
        differences.append(f"clocks: spec {expected.clocks}, impl {after.clocks}")
    if expected.history != after.history:
        differences.append(f"last events: spec {_stamps(expected)}, impl {_stamps(after)}")
    if expected.network != after.network:
        differences.append(f"network: spec {expected.network}, impl {after.network}")
    return f"after {expected_action}: " + "; ".join(differences)


def _stamps(state: spec.SystemState) -> tuple[tuple[Any, ...], ...]:
    """Each process's last event, briefly: (kind, message, clock)."""
    return tuple(
        (line[-1].kind.value, line[-1].message, line[-1].clock) if line else ()
        for line in state.history
    )


# -- The model -----------------------------------------------------------------------------------


def initial_deployment(n: int) -> Deployment:
    return Deployment(
        nodes=tuple(impl.new(i, n) for i in range(n)),
        network=(),
        log=tuple(() for _ in range(n)),
    )


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    n: int = config.params["processes"]
    max_events: int = config.params["events"]
    unicast: bool = config.params.get("unicast", False)
    max_total: int | None = config.params.get("total_events")
    rules, ops = rules_and_ops(mutant)
    forged = forged_messages(n, max_events)
    targets: dict[int, tuple[int | None, ...]] = {
        i: (None, *(j for j in range(n) if j != i)) if unicast else (None,) for i in range(n)
    }

    def initial_states() -> Iterator[Deployment]:
        yield initial_deployment(n)

    def actions(state: Deployment) -> Iterator[ModelAction]:
        # a process below its event bound may do a local event, send or receive
        room = [len(line) < max_events for line in state.log]
        if max_total is not None and sum(len(line) for line in state.log) >= max_total:
            room = [False] * n
        for i in range(n):
            if room[i]:
                yield Local(i)
                for to in targets[i]:
                    yield SendTo(i, to)
        for packet in state.network:
            for j in packet.to:
                if room[j]:
                    yield Deliver(j, packet)
        # the forged alphabet is always receivable (it adds no state: every one is a stutter)
        for message in forged:
            for j in range(n):
                yield DeliverForged(j, message)

    # impl.step is a pure function, so the node a forged message leaves behind depends only on
    # the node and the message: remember it (the alphabet is re-sent in every state)
    forged_outcome: dict[tuple[impl.ProcessState, impl.ClockMessage], impl.ProcessState] = {}

    def next_state(state: Deployment, action: ModelAction) -> Deployment:
        if isinstance(action, DeliverForged):
            i = action.process
            node = state.nodes[i]
            key = (node, action.message)
            new_node = forged_outcome.get(key)
            if new_node is None:
                new_node, _ = impl.step(node, impl.Receive(action.message), ops)
                forged_outcome[key] = new_node
            if new_node == node:
                return state
            return attrs.evolve(state, nodes=replace_at(state.nodes, i, new_node))
        return apply_step(ops, state, action)

    # -- abstraction, memoized: many states share a network, and the explorer checks every
    # property of one state (and both ends of a step) one after the other
    network_cache: dict[tuple[InFlight, ...], tuple[spec.Message, ...]] = {}
    recent: dict[int, tuple[Deployment, spec.SystemState]] = {}

    def project(state: Deployment) -> spec.SystemState:
        hit = recent.get(id(state))
        if hit is not None and hit[0] is state:
            return hit[1]
        network = network_cache.get(state.network)
        if network is None:
            if len(network_cache) >= 65536:
                network_cache.clear()
            network = network_cache[state.network] = abstract_network(state.network)
        projected = spec.SystemState(
            clocks=tuple(node.clock for node in state.nodes), history=state.log, network=network
        )
        if len(recent) >= 8:
            recent.clear()
        recent[id(state)] = (state, projected)
        return projected

    def refines(pre: Deployment, action: ModelAction, post: Deployment) -> bool:
        return refinement_problem(rules, pre, action, post, project) is None

    def explain_refinement(pre: Deployment, action: ModelAction, post: Deployment) -> str:
        return refinement_problem(rules, pre, action, post, project) or ""

    def faults_change_nothing(pre: Deployment, action: ModelAction, post: Deployment) -> bool:
        if isinstance(action, DeliverForged):
            return post == pre
        return True

    def explain_fault(pre: Deployment, action: ModelAction, post: Deployment) -> str:
        i = action.process
        return f"process {i} went from clock {pre.nodes[i].clock} to {post.nodes[i].clock}"

    # the order laws are checked on the comparison the impl ships, not on the spec's
    analyse = spec.analyser(spec.ClockOrder(ops.less, ops.concurrent), project)
    steps: tuple[StepProperty[Any, Any], ...] = (
        StepProperty(
            "refinement",
            "every impl step is the enabled spec action it stands for, or a stutter",
            refines,
            explain_refinement,
        ),
        StepProperty(
            "faults_change_nothing",
            "a forged or malformed message leaves the whole state unchanged",
            faults_change_nothing,
            explain_fault,
        ),
    )
    return Model(
        name="vector-clock",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=spec.invariants(analyse),
        step_properties=steps,
        reachables=spec.reachables(analyse),
        describe_action=str,
    )


def view(state: Deployment) -> Mapping[str, Any]:
    """Named variables of a deployment, for traces and ITF."""

    def event_view(e: spec.Event) -> dict[str, Any]:
        fields: dict[str, Any] = {"kind": e.kind.value, "clock": e.clock}
        if e.message is not None:
            fields["message"] = e.message
        return fields

    return {
        "clock": {i: node.clock for i, node in enumerate(state.nodes)},
        "history": {i: tuple(event_view(e) for e in line) for i, line in enumerate(state.log)},
        "network": tuple(
            {
                "sender": p.message.sender,
                "id": p.message.message_id,
                "clock": p.message.clock,
                "to": p.to,
            }
            for p in state.network
        ),
    }


CONFIGS = (
    Config(
        "small",
        "3 processes, at most 3 events each and 6 in all, broadcast sends, every delivery "
        "order and duplication",
        {"processes": 3, "events": 3, "total_events": 6, "unicast": False},
        expected_distinct_states=17565,
    ),
    Config(
        "tiny",
        "2 processes, at most 3 events each",
        {"processes": 2, "events": 3, "unicast": False},
        expected_distinct_states=1597,
    ),
    Config(
        "wide",
        "4 processes, at most 3 events each, point-to-point and broadcast sends (simulation)",
        {"processes": 4, "events": 3, "unicast": True},
        Bounds(max_seconds=120),
    ),
)

PROTOCOL = ProtocolEntry(
    name="vector-clock",
    summary="vector clocks characterize happens-before (Fidge 1988, Mattern 1989)",
    source="Fidge, ACSC 1988; Mattern, Parallel and Distributed Algorithms 1989, section 5",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)


# -- Hypothesis: random schedules on a larger system ---------------------------------------------


class VectorClockMachine(RuleBasedStateMachine):
    """Random schedules of 5 impl processes; every spec invariant after every step.

    Each rule hands one event to one process (through :func:`apply_step`, as the model does) and
    checks refinement on the spot; the ``@invariant`` methods evaluate the spec's predicates on
    the abstraction, with the impl's comparison. Sent messages go to a Bundle, so deliveries,
    duplicate deliveries and never-delivered messages are all drawn by Hypothesis. Subclass with
    ``mutant`` set to run the same machine against a shipped bug.
    """

    processes = 5
    mutant: Mutant | None = None
    messages = Bundle("messages")
    forged = forged_messages(processes, 1000)

    def __init__(self) -> None:
        super().__init__()
        self.rules, self.ops = rules_and_ops(self.mutant)
        self.order = spec.ClockOrder(self.ops.less, self.ops.concurrent)
        self.state = initial_deployment(self.processes)
        self.deliveries: list[Deliver] = []  # what was received, for duplicate deliveries
        self._relations: tuple[Any, spec.Relations] | None = None

    def _step(self, action: Local | SendTo | Deliver) -> Deployment:
        before = self.state
        self.state = apply_step(self.ops, before, action)
        problem = refinement_problem(self.rules, before, action, self.state)
        require(problem is None, f"refinement violated by {action}: {problem}")
        return before

    # -- rules: one per event an application or the network can hand a process ---------------

    @rule(process=st.integers(0, processes - 1))
    def local_event(self, process: int) -> None:
        self._step(Local(process))

    @rule(
        target=messages,
        process=st.integers(0, processes - 1),
        offset=st.integers(0, processes - 1),
    )
    def send(self, process: int, offset: int) -> InFlight:
        # offset 0 is a broadcast, any other offset a point-to-point send to process + offset
        to = None if offset == 0 else (process + offset) % self.processes
        before = self._step(SendTo(process, to))
        (packet,) = set(self.state.network) - set(before.network)
        return packet

    @rule(packet=messages, pick=st.integers(0, processes - 1))
    def deliver(self, packet: InFlight, pick: int) -> None:
        action = Deliver(packet.to[pick % len(packet.to)], packet)
        self._step(action)
        self.deliveries.append(action)

    @precondition(lambda self: bool(self.deliveries))
    @rule(pick=st.integers(0, 10**6))
    def deliver_again(self, pick: int) -> None:
        # the network duplicates: a message already received arrives once more
        self._step(self.deliveries[pick % len(self.deliveries)])

    @rule(process=st.integers(0, processes - 1), which=st.integers(0, len(forged) - 1))
    def receive_forged(self, process: int, which: int) -> None:
        node = self.state.nodes[process]
        after, effects = impl.step(node, impl.Receive(self.forged[which]), self.ops)
        require(len(effects.faults) == 1, f"forged {self.forged[which]!r} was not a fault")
        require(after == node, "faults_change_nothing violated: a forged message changed state")

    # -- invariants: the spec's registry, on the abstraction ----------------------------------

    def _check(self, name: str, predicate: Callable[[spec.Relations], bool]) -> None:
        log = self.state.log
        if self._relations is None or self._relations[0] is not log:
            self._relations = (log, spec.relations(self.order, log))
        require(predicate(self._relations[1]), f"{name} violated; history {log!r}")

    @invariant()
    def vc_characterizes_happens_before(self) -> None:
        self._check("vc_characterizes_happens_before", spec.vc_characterizes_happens_before)

    @invariant()
    def happens_before_irreflexive(self) -> None:
        self._check("happens_before_irreflexive", spec.happens_before_irreflexive)

    @invariant()
    def happens_before_transitive(self) -> None:
        self._check("happens_before_transitive", spec.happens_before_transitive)

    @invariant()
    def vc_order_asymmetric(self) -> None:
        self._check("vc_order_asymmetric", spec.vc_order_asymmetric)

    @invariant()
    def concurrency_symmetric(self) -> None:
        self._check("concurrency_symmetric", spec.concurrency_symmetric)


# -- The oracle: canonical encoding, vectors and trace validation --------------------------------
#
# Documents (canonical JSON, see :mod:`.codec`; the schemas are generated from
# :meth:`VectorClockCodec.schemas`)::
#
#     state    {"process": 1, "processes": 3, "clock": [0, 2, 1]}
#     event    {"type": "local"}
#              {"type": "send", "to": null}            (null: to every other process)
#              {"type": "send", "to": 2}
#              {"type": "receive", "message": {"sender": 0, "message_id": 1, "clock": [1, 0, 0]}}
#     effects  {"timestamp": [0, 3, 1],                (null when the event was refused)
#               "sends": [{"to": 0, "message": {"sender": 1, "message_id": 3,
#                                               "clock": [0, 3, 1]}}, ...],   (sorted by "to")
#               "faults": [{"sender": 7, "kind": "unknown_sender"}]}
#
# Handlers: ``local``, ``send``, ``receive``. A received message's fields are decoded leniently
# (any JSON value; arrays become tuples): a malformed message is the process's to refuse, with a
# typed :class:`impl.FaultKind`, not the decoder's.


def _loose_to_json(value: Any) -> JSON:
    """A value of a (possibly malformed) received message as JSON: tuples as arrays."""
    kind = type(value)
    if kind is int or kind is str or value is None:
        return value
    if kind is tuple and all(type(v) is int for v in value):
        return list(value)  # a clock: the common case, by far
    if isinstance(value, tuple | list):
        return [_loose_to_json(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return plain_to_json(value)


def _message_to_json(message: impl.ClockMessage) -> JSON:
    return {
        "sender": _loose_to_json(message.sender),
        "message_id": _loose_to_json(message.message_id),
        "clock": _loose_to_json(message.clock),
    }


_NAT: dict[str, Any] = {"type": "integer", "minimum": 0}
_CLOCK: dict[str, Any] = {"type": "array", "items": _NAT}


@attrs.frozen
class VectorClockCodec:
    """Encoding of a vector-clock process, its events and its effects (the oracle's interface).

    ``ops`` are the process's clock operations (:data:`impl.STANDARD_OPS`); an adapter that
    wants a deliberately broken process swaps them with ``attrs.evolve``.
    """

    protocol: str = "vector-clock"
    ops: impl.ClockOps = impl.STANDARD_OPS

    def schemas(self) -> dict[str, Any]:
        """The state, event and effects schemas (see :mod:`.schemas`)."""
        state = object_schema(
            {"process": _NAT, "processes": {"type": "integer", "minimum": 1}, "clock": _CLOCK}
        )
        event = {
            "oneOf": [
                object_schema({"type": {"const": "local"}}),
                object_schema(
                    {
                        "type": {"const": "send"},
                        "to": {"anyOf": [{"type": "null"}, _NAT]},
                    }
                ),
                object_schema(
                    {
                        "type": {"const": "receive"},
                        # any values: a malformed message is the process's to refuse
                        "message": object_schema({"sender": {}, "message_id": {}, "clock": {}}),
                    }
                ),
            ]
        }
        sent = object_schema(
            {
                "sender": _NAT,
                "message_id": {"type": "integer", "minimum": 1},
                "clock": _CLOCK,
            }
        )
        effects = object_schema(
            {
                "timestamp": {"anyOf": [{"type": "null"}, _CLOCK]},
                "sends": {"type": "array", "items": object_schema({"to": _NAT, "message": sent})},
                "faults": {
                    "type": "array",
                    "items": object_schema(
                        {"sender": {}, "kind": {"enum": enum_values(impl.FaultKind)}}
                    ),
                },
            }
        )
        return {"state": state, "event": event, "effects": effects}

    # states
    def encode_state(self, node: impl.ProcessState) -> JSON:
        return {"process": node.process, "processes": node.n, "clock": list(node.clock)}

    def decode_state(self, doc: JSON, path: str = "$") -> impl.ProcessState:
        expect_object(doc, path, ["process", "processes", "clock"])
        n = expect_int(doc["processes"], f"{path}.processes", minimum=1)
        process = expect_int(doc["process"], f"{path}.process", minimum=0)
        if process >= n:
            raise DecodeError(f"{path}.process", f"process {process} out of range for {n}")
        entries = expect_array(doc["clock"], f"{path}.clock")
        if len(entries) != n:
            raise DecodeError(
                f"{path}.clock", f"expected {n} entries (one per process), got {len(entries)}"
            )
        # exact type tests first: this runs for nearly every line of a validated trace
        if not all(type(c) is int and c >= 0 for c in entries):
            for k, c in enumerate(entries):
                expect_int(c, f"{path}.clock[{k}]", minimum=0)
        return impl.ProcessState(process, n, tuple(entries))

    # events
    def encode_event(self, event: impl.Event) -> JSON:
        if isinstance(event, impl.LocalEvent):
            return {"type": "local"}
        if isinstance(event, impl.SendRequest):
            return {"type": "send", "to": _loose_to_json(event.to)}
        return {"type": "receive", "message": _message_to_json(event.message)}

    def decode_event(self, doc: JSON, path: str = "$") -> impl.Event:
        if not isinstance(doc, dict):
            raise DecodeError(path, "expected an object with a field 'type'")
        kind = doc.get("type")
        if kind == "local":
            expect_object(doc, path, ["type"])
            return impl.LocalEvent()
        if kind == "send":
            expect_object(doc, path, ["type", "to"])
            to = doc["to"]
            if to is not None:
                expect_int(to, f"{path}.to", minimum=0)
            return impl.SendRequest(to)
        if kind == "receive":
            expect_object(doc, path, ["type", "message"])
            fields = ["sender", "message_id", "clock"]
            message = expect_object(doc["message"], f"{path}.message", fields)
            # lenient on purpose: the process, not the decoder, refuses a malformed message
            return impl.Receive(impl.ClockMessage(*(plain_from_json(message[f]) for f in fields)))
        raise DecodeError(
            f"{path}.type", f"unknown event type {kind!r} (known: local, receive, send)"
        )

    # effects
    def encode_effects(self, effects: impl.Effects) -> JSON:
        stamp = effects.timestamp
        return {
            "timestamp": None if stamp is None else list(stamp),
            "sends": [
                {"to": to, "message": _message_to_json(message)}
                for to, message in sorted(effects.sends, key=lambda sent: sent[0])
            ],
            "faults": [
                {"sender": _loose_to_json(f.sender), "kind": f.kind.value} for f in effects.faults
            ],
        }

    def handler(self, event: impl.Event) -> str:
        return {impl.LocalEvent: "local", impl.SendRequest: "send", impl.Receive: "receive"}[
            type(event)
        ]

    def step(
        self, node: impl.ProcessState, event: impl.Event
    ) -> tuple[impl.ProcessState, impl.Effects]:
        return impl.step(node, event, self.ops)


CODEC = VectorClockCodec()


def node_event(action: ModelAction) -> tuple[int, impl.Event]:
    """The process a model action steps and the impl event it hands it (for the oracle)."""
    if isinstance(action, Local):
        return action.process, impl.LocalEvent()
    if isinstance(action, SendTo):
        return action.process, impl.SendRequest(action.to)
    if isinstance(action, Deliver):
        return action.process, impl.Receive(action.packet.message)
    return action.process, impl.Receive(action.message)


def _is_nat(value: Any) -> bool:
    return type(value) is int and value >= 0


def refusal(state: impl.ProcessState, message: impl.ClockMessage) -> impl.FaultKind | None:
    """Why ``state``'s process must refuse ``message``, or None if it must receive it.

    Every message in the spec's network was sent by a process of the configuration and carries
    the vector of its send event: ``n`` naturals, the sender's own entry ticked to at least 1 (and
    numbered by it, the impl's wire convention), and no more events of the receiver than the
    receiver has had (those precede the send causally, so they happened). A message that fails
    one of these can be no spec ``Receive``; the checks run in the order the impl documents, and
    the first that fails names the fault. (Written here apart from the impl's ``validate``, so
    that the trace checker does not take the implementation's word for it.)
    """
    me, n = state.process, state.n
    sender, clock = message.sender, message.clock
    if not (_is_nat(sender) and sender < n and sender != me):
        return impl.FaultKind.UNKNOWN_SENDER
    if not (isinstance(clock, tuple) and len(clock) == n):
        return impl.FaultKind.WRONG_LENGTH
    if not all(_is_nat(c) for c in clock):
        return impl.FaultKind.MALFORMED_ENTRY
    if clock[sender] == 0:
        return impl.FaultKind.SEND_NOT_COUNTED
    if not (_is_nat(message.message_id) and message.message_id == clock[sender]):
        return impl.FaultKind.MISMATCHED_ID
    if clock[me] > state.clock[me]:
        return impl.FaultKind.FUTURE_OWN_ENTRY
    return None


def _strictly_equal(a: JSON, b: JSON) -> bool:
    """JSON equality that tells ``1`` from ``true`` and from ``1.0`` (unlike Python's ``==``)."""
    if type(a) is not type(b):
        return False
    if type(a) is list:
        return len(a) == len(b) and all(_strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return a.keys() == b.keys() and all(_strictly_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _show(clock: tuple[Any, ...] | list[Any]) -> str:
    return "[" + ", ".join(str(c) for c in clock) + "]"


def _effects_problem(
    effects: dict[str, Any], expected: dict[str, Any], action: str | None
) -> tuple[str, str, str] | None:
    """Compares reported effects with the spec's, field by field; the first difference wins."""
    extra = sorted(set(effects) - set(expected))
    if extra:
        return (
            "refinement",
            "effects with exactly the fields faults, sends, timestamp",
            f"unexpected field {brief(extra[0])}",
        )
    for field in ("faults", "timestamp", "sends"):
        want, got = expected[field], effects.get(field)
        if _strictly_equal(want, got):
            continue
        observed = f"{field}: {brief(got)}" if field in effects else f"no field {field!r}"
        if action is None:  # a refused message
            fault = expected["faults"][0]
            return (
                "typed_fault",
                f"the message refused: one fault {fault['kind']} from sender "
                f"{brief(fault['sender'])}, timestamp null, no sends",
                observed,
            )
        if field == "faults":
            return ("typed_fault", "no fault: the event is one the spec allows", observed)
        return ("refinement", f"{action}: {field}: {dumps_line(want)}", observed)
    return None


def step_checker(codec: VectorClockCodec = CODEC) -> Any:
    """Trace validation of one process step against the spec (see :mod:`.validate`).

    Checked for each step, against :mod:`spec.vector_clock`'s rules: the process's identity
    (``process``, ``processes``) never changes and matches its place in the trace; a local event
    and a send tick the own entry (``tick``); a receive of a well-formed message merges
    pointwise, then ticks (``receive``); a message that cannot be in the spec's network (see
    :func:`refusal`) leaves the state unchanged (``faults_change_nothing``) and is reported as
    one fault of the right kind (``typed_fault``); when the step's effects are recorded, the
    timestamp is the new clock and a send's messages carry it, with the sender's new entry as
    id, to exactly the requested destinations (``refinement``).

    Streaming: the check reads the process's state before the step and nothing else, so memory
    does not grow with the trace. What a single step cannot show is left to the model checker:
    that a received message was really sent (the checker keeps no network), and the
    happens-before invariants (they need the whole history).
    """
    from .validate import StepChecker

    def check(
        nodes: tuple[impl.ProcessState, ...],
        i: int,
        event: impl.Event,
        post: impl.ProcessState,
        effects: Any,
    ) -> tuple[str, str, str] | None:
        pre, n = nodes[i], len(nodes)
        if (pre.process, pre.n) != (i, n):
            return (
                "identity",
                f"process {i} of {n} (node {i} of the trace)",
                f"the state before the step is process {pre.process} of {pre.n}",
            )
        if (post.process, post.n) != (i, n):
            return ("identity", f"process {i} of {n}", f"process {post.process} of {post.n}")
        sends: list[dict[str, Any]] = []
        if isinstance(event, impl.Receive):
            message = event.message
            kind = refusal(pre, message)
            if kind is not None:
                if post.clock != pre.clock:
                    return (
                        "faults_change_nothing",
                        f"clock stays {_show(pre.clock)}: the message is refused ({kind.value})",
                        f"clock {_show(post.clock)}",
                    )
                if effects is None:
                    return None
                fault = {"sender": _loose_to_json(message.sender), "kind": kind.value}
                refused = {"timestamp": None, "sends": [], "faults": [fault]}
                return _effects_problem(effects, refused, None)
            clock = spec.receive(pre.clock, message.clock, i)
            action = "spec Receive"
            rule = (
                f"spec Receive at {_show(pre.clock)} of a message stamped {_show(message.clock)}: "
                f"pointwise max, then tick entry {i}"
            )
        elif isinstance(event, impl.LocalEvent):
            clock = spec.tick(pre.clock, i)
            action = "spec LocalEvent"
            rule = f"spec LocalEvent at {_show(pre.clock)}: tick entry {i}"
        else:
            to = event.to
            if to is None:
                destinations: tuple[int, ...] = tuple(j for j in range(n) if j != i)
            elif _is_nat(to) and to < n and to != i:
                destinations = (to,)
            else:
                destinations = ()
            if not destinations:
                return (
                    "refinement",
                    f"spec Send enabled: destinations among the other processes of 0..{n - 1}",
                    f"a send to {'everyone else' if to is None else to} by process {i}",
                )
            clock = spec.tick(pre.clock, i)
            action = "spec Send (each copy carries the new clock, numbered by its own entry)"
            rule = f"spec Send at {_show(pre.clock)}: tick entry {i}"
            message_doc = {"sender": i, "message_id": clock[i], "clock": list(clock)}
            sends = [{"to": j, "message": message_doc} for j in destinations]
        if post.clock != clock:
            return (
                "refinement",
                f"{rule} gives clock {_show(clock)}",
                f"clock {_show(post.clock)}",
            )
        if effects is None:
            return None
        expected = {"timestamp": list(clock), "sends": sends, "faults": []}
        return _effects_problem(effects, expected, action)

    return StepChecker(codec=codec, initial_node=impl.new, check=check)


def itf_checker() -> ItfChecker:
    """Validation of an ITF trace of vector-clock processes (what ``check --itf`` writes).

    Variable mapping: ``clock`` (required) maps each process index to its vector; ``network``
    (optional) is the sequence of sent messages, records with ``sender``, ``clock`` and
    optionally ``to`` (the destinations). From one state to the next at most one process's
    clock may change, and its new clock must be the spec's ``tick`` (a local event or a send;
    a message it sends in that step must carry the new clock) or the spec's ``receive`` of a
    message in the earlier state's ``network`` addressed to it (without that variable: of any
    clock some process held earlier).
    """

    def prepare(named: dict[str, Any]) -> dict[str, Any]:
        clocks = named.get("clock")
        if not isinstance(clocks, dict) or sorted(clocks) != list(range(len(clocks))):
            raise ValueError("'clock' must map processes 0..n-1 to vectors")
        n = len(clocks)
        for process, clock in clocks.items():
            if not (
                isinstance(clock, tuple) and len(clock) == n and all(impl.is_nat(c) for c in clock)
            ):
                raise ValueError(f"clock of process {process} is not {n} natural numbers")
        network = named.get("network", ())
        if not isinstance(network, tuple) or not all(
            isinstance(m, dict) and isinstance(m.get("clock"), tuple) for m in network
        ):
            raise ValueError("'network' must be a sequence of records with a 'clock'")
        return {**named, "nodes": tuple(clocks[i] for i in range(n))}

    def check(
        before: dict[str, Any], after: dict[str, Any], earlier: list[dict[str, Any]]
    ) -> tuple[str, str, str] | None:
        old, new = before["nodes"], after["nodes"]
        changed = [i for i in range(len(old)) if old[i] != new[i]]
        if len(changed) > 1:
            return ("interleaving", "one process steps at a time", f"processes {changed}")
        if not changed:
            return None
        i = changed[0]
        kind = _new_event_kind(before, after, i)
        if kind == "receive":
            return _check_itf_receive(before, after, i)
        if new[i] == spec.tick(old[i], i):
            sent = [m for m in after.get("network", ()) if m not in before.get("network", ())]
            for message in sent:
                if message.get("sender") == i and message["clock"] != new[i]:
                    return ("refinement", f"a send carries the new clock {new[i]}", repr(message))
            return None
        if "network" in before:
            candidates = [m["clock"] for m in before["network"] if i in m.get("to", (i,))]
        else:
            candidates = [clock for state in earlier for clock in state["nodes"]]
        for clock in candidates:
            if (
                kind is None
                and len(clock) == len(old[i])
                and spec.receive(old[i], clock, i) == new[i]
            ):
                return None
        return (
            "refinement",
            f"process {i}: tick {spec.tick(old[i], i)} or the receive of a sent clock",
            repr(new[i]),
        )

    return ItfChecker(variants={}, prepare=prepare, check=check)


def _new_event_kind(before: dict[str, Any], after: dict[str, Any], i: int) -> str | None:
    """The kind of the event process i just recorded in ``history``, if the trace has one."""
    old, new = before.get("history", {}).get(i, ()), after.get("history", {}).get(i, ())
    if len(new) == len(old) + 1 and isinstance(new[-1], dict):
        kind = new[-1].get("kind")
        return kind if isinstance(kind, str) else None
    return None


def _check_itf_receive(
    before: dict[str, Any], after: dict[str, Any], i: int
) -> tuple[str, str, str] | None:
    """A recorded receive: the new clock is the spec's receive of that very message."""
    old, new = before["nodes"][i], after["nodes"][i]
    event = after["history"][i][-1]
    sender, message_id = event.get("message", (None, None))
    for message in before.get("network", ()):
        if (message.get("sender"), message.get("id")) == (sender, message_id):
            expected = spec.receive(old, message["clock"], i)
            if expected != new:
                return (
                    "refinement",
                    f"process {i}: spec Receive of {message['clock']} at {old} gives {expected}",
                    repr(new),
                )
            return None
    return ("refinement", f"process {i} receives a message that was sent", repr(event))


ORACLE = OracleBinding(
    codec=CODEC,
    # traces come from "small": three processes, so broadcasts reach two and merges see a third
    configs=("small", "tiny"),
    node_event=node_event,
    nodes=lambda state: state.nodes,
    initial_node=impl.new,
    step_checker=step_checker(CODEC),
    itf_checker=itf_checker(),
)
