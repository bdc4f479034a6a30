"""Lamport's mutual exclusion: bounded model, mutants, a Hypothesis machine and the oracle codec.

Source: Lamport, CACM 21(7), 1978, p. 560 (IR1, IR2) and p. 561 (rules 1-5); see
:mod:`mnemosyne_consensus.spec.lamport_mutex`.

The explored state is the *implementation*: one :class:`impl.ProcessState` per process, the
messages in flight, and a ghost log of grants that the processes never read. After every step
the checker

* maps the state to the spec's :class:`spec.SystemState` and evaluates the spec's invariants
  there (``mutual_exclusion``, ``entries_in_order``, ``no_deadlock``);
* checks ``refinement``: the step is the spec action it stands for (a client request, enter or
  release, or the receipt of the delivered message), that action is enabled, and the spec's rule
  gives exactly the new abstract state. A delivered message is consumed whether or not the
  process accepts it, so a process that refuses an honest message fails refinement;
* checks ``faults_change_nothing``: forged and malformed messages leave the whole state
  unchanged. The adversary alphabet is not state: per receiver, one message per shape fault
  (unknown sender, unknown kind, malformed timestamp) and, read off the receiver's own state,
  a request carrying the last timestamp received from a peer (stale, as a replay is), a second
  request from a peer whose request is queued, and a release from a peer with none queued.

Client events are offered in every state (a request only while the process has requests left
in the bound): when the rules do not allow them the impl rejects them and the state stays
the same, which is what the oracle's negative vectors record.

Network (config ``fifo``)
    FIFO: per-(sender, receiver) channels, each delivered in send order, every message exactly
    once -- the paper's assumption ("messages sent from Pi to Pj are received in the same order
    as they are sent", and every message is eventually received). Non-FIFO: a pool from which
    any message is received, once. Messages are never lost or duplicated: loss is a liveness
    failure the algorithm does not claim to survive, and a duplicate is what the impl's
    ``STALE_TIMESTAMP`` check refuses (the forged stale messages exercise it).

Bounds: ``requests`` caps the requests of each process (one number for all, or one per
process). The bound only withholds further requests, which a process may always decline to
make, so it cannot create a deadlock (see :func:`spec.enabled_actions`); in particular progress
never waits for another process's next request, because rule 2's acknowledgment always brings
the later timestamp rule 5 (ii) needs.

Configs and their sizes (measured on this machine, one core)
    ``small`` (default): 3 processes; process 0 requests twice, process 1 once, process 2 only
    answers -- 75,571 distinct states, about 9 s. ``tiny``: 2 processes, 2 requests each --
    11,408 states, about 1 s. The design brief asked for 3 processes with one request each as
    the default, exhausted in about 20 s; that space has 2,148,833 distinct states (counted by a
    breadth-first walk of the spec alone, which has the same states: IR1 ticks every event, so
    almost every interleaving leaves different clocks behind, and the ghost's rivals double the
    count), several minutes of model checking here. So it is the time-bounded config
    ``three-way``, and three-way contention is covered by ``--simulate`` and the Hypothesis
    machine (5 processes, 3 requests each). Of the 3-process budgets tried, (1, 1, 0) has only
    2,645 states and (2, 2, 0) and (1, 1, 1) are far beyond the time; (2, 1, 0) keeps a
    re-request, contention and a bystander whose acknowledgments rule 5 (ii) waits for.

The non-FIFO mutant
    The same processes over the pool. The impl's ``STALE_TIMESTAMP`` check notices an
    overtaking message -- a message is only overtaken by a later-timestamped one from the same
    sender -- and refuses the overtaken one when it finally comes, so that message is lost. With
    2 processes and 2 requests each, mutual exclusion fails in 12 steps: P1's acknowledgment
    overtakes P1's request, so P0 never learns of it; P0 enters, releases and requests again;
    P1 enters on P0's release; P0 enters again on P1's acknowledgment of its new request. With
    one request each the shortest failure is ``entries_in_order`` instead (P1 enters ahead of
    P0's earlier request, which it has not seen). Either way a process also refused an honest
    message, which ``refinement`` reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from ..impl import lamport_mutex as impl
from ..spec import lamport_mutex as spec
from ..spec.common import replace_at
from ..spec.properties import StepProperty
from .codec import (
    JSON,
    DecodeError,
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
from .vectors import OracleBinding

# -- State ---------------------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class InFlight:
    """A message on its way to process ``to``."""

    to: int
    message: impl.MutexMessage


@attrs.frozen(cache_hash=True)
class Deployment:
    # processes (implementation state)
    nodes: tuple[impl.ProcessState, ...]
    # network: messages in flight, in the spec's order (FIFO channels or canonical pool)
    network: tuple[InFlight, ...]
    # ghost: every grant, with the requests waiting elsewhere at that moment
    entries: tuple[spec.Entry, ...]


# -- Actions of the model (impl events handed to a process) -------------------------------------


@attrs.frozen
class ClientRequest:
    process: int

    def __str__(self) -> str:
        return f"process {self.process}: request the resource"


@attrs.frozen
class ClientEnter:
    process: int

    def __str__(self) -> str:
        return f"process {self.process}: try to enter"


@attrs.frozen
class ClientRelease:
    process: int

    def __str__(self) -> str:
        return f"process {self.process}: release"


@attrs.frozen
class Deliver:
    process: int
    packet: InFlight

    def __str__(self) -> str:
        m = self.packet.message
        return f"process {self.process}: receive {m.kind.value}({m.timestamp}) from {m.sender}"


@attrs.frozen
class DeliverForged:
    process: int
    message: impl.MutexMessage

    def __str__(self) -> str:
        m = self.message
        kind = m.kind.value if isinstance(m.kind, impl.MessageKind) else m.kind
        return f"process {self.process}: receive forged {kind!r}({m.timestamp!r}) from {m.sender!r}"


ClientAction = ClientRequest | ClientEnter | ClientRelease
ModelAction = ClientAction | Deliver | DeliverForged
_CLIENT_EVENTS: dict[type, impl.Event] = {
    ClientRequest: impl.RequestResource(),
    ClientEnter: impl.Enter(),
    ClientRelease: impl.Release(),
}

# -- Adversary alphabet --------------------------------------------------------------------------


def shape_forgeries(receiver: int, n: int) -> tuple[impl.MutexMessage, ...]:
    """Messages no process of the configuration can send, whatever the state."""
    peer = (receiver + 1) % n
    return (
        impl.MutexMessage(impl.MessageKind.REQUEST, n, 1),  # unknown sender
        impl.MutexMessage("grant", peer, 1),  # unknown kind
        impl.MutexMessage(impl.MessageKind.ACK, peer, 0),  # a send event ticks: timestamp >= 1
    )


def state_forgeries(node: impl.ProcessState) -> tuple[impl.MutexMessage, ...]:
    """Messages an honest peer cannot send over a FIFO channel, read off the receiver's state."""
    forged = []
    queued = {r[1] for r in node.queue}
    for j in range(node.n):
        if j == node.process:
            continue
        last = node.latest[j]
        if last >= 1:
            # a stale message, as a replay is: its timestamp is not above the last one from j
            forged.append(impl.MutexMessage(impl.MessageKind.REQUEST, j, last))
        if j in queued:
            # a second request while j's request is still queued
            forged.append(impl.MutexMessage(impl.MessageKind.REQUEST, j, last + 1))
        else:
            # a release with no request of j queued
            forged.append(impl.MutexMessage(impl.MessageKind.RELEASE, j, last + 1))
    return tuple(forged)


# -- Mutants -------------------------------------------------------------------------------------


def _ties_favour_self(a: spec.Request, b: spec.Request, at: int, n: int) -> bool:
    # timestamps only; on a tie each process puts its own request first
    if a[0] != b[0]:
        return a[0] < b[0]
    return a[1] == at


def _descending_at(process: Callable[[int], int]) -> Callable[..., bool]:
    def precedes(a: spec.Request, b: spec.Request, at: int, n: int) -> bool:
        if at == process(n):
            return (a[0], -a[1]) < (b[0], -b[1])
        return a < b

    return precedes


def _receive_without_tick(clock: int, timestamp: int) -> int:
    return max(clock, timestamp)


def _ties_descending(a: spec.Request, b: spec.Request, at: int, n: int) -> bool:
    # a consistent order, but not the specified one: ties go to the higher process number
    return (a[0], -a[1]) < (b[0], -b[1])


def _validate_accepting_replays(
    state: impl.ProcessState, message: impl.MutexMessage
) -> tuple[impl.FaultKind, str] | None:
    # every check but STALE_TIMESTAMP: validate as if nothing had been received from the sender
    sender = message.sender
    if impl.is_nat(sender) and sender < state.n:
        latest = tuple(0 if k == sender else t for k, t in enumerate(state.latest))
        state = attrs.evolve(state, latest=latest)
    return impl.validate(state, message)


MUTANTS = (
    Mutant(
        "replies-alone",
        "rule 5 without (i): enter once every other process has sent a later message "
        "(the design notes' version)",
        "mutual_exclusion",
    ),
    Mutant(
        "non-fifo",
        "the same processes over a non-FIFO network: an overtaken message is refused as stale "
        "and so lost, and a process enters without knowing a rival's request",
        "mutual_exclusion",
        config="tiny-non-fifo",
    ),
    Mutant(
        "ties-favour-self",
        "the queue is ordered by timestamp only; on a tie each process puts itself first",
        "mutual_exclusion",
    ),
    Mutant(
        "ties-descending-at-last",
        "the highest-numbered process breaks ties by process number descending",
        "mutual_exclusion",
    ),
    Mutant(
        "ties-descending-at-first",
        "process 0 breaks ties by process number descending: each defers to the other",
        "no_deadlock",
    ),
    Mutant(
        "ties-descending-everywhere",
        "every process breaks ties by process number descending: consistent, so mutual "
        "exclusion holds, but grants leave the specified (timestamp, process) order",
        "entries_in_order",
    ),
    Mutant(
        "no-ack",
        "rule 2 without the acknowledgment: a waiting process may never hear a later timestamp",
        "no_deadlock",
    ),
    Mutant(
        "receive-without-tick",
        "impl's receipt sets the clock to max(own, timestamp), forgetting the +1 of IR2 (b); "
        "the spec is right",
        "refinement",
    ),
    Mutant(
        "accepts-replays",
        "impl's validation omits the STALE_TIMESTAMP check and receives a replayed message",
        "faults_change_nothing",
    ),
)

# mutant name -> (spec rule replacements, impl op replacements, network override or None).
# A protocol bug goes into spec and impl alike, so refinement holds and only an invariant can
# catch it; an impl-only bug is caught by refinement or faults_change_nothing.
MUTATIONS: dict[str, tuple[dict[str, Any], dict[str, Any], bool | None]] = {
    "replies-alone": ({"head_required": False}, {"head_required": False}, None),
    "non-fifo": ({}, {}, False),
    "ties-favour-self": ({"precedes": _ties_favour_self}, {"precedes": _ties_favour_self}, None),
    "ties-descending-at-last": (
        {"precedes": _descending_at(lambda n: n - 1)},
        {"precedes": _descending_at(lambda n: n - 1)},
        None,
    ),
    "ties-descending-at-first": (
        {"precedes": _descending_at(lambda n: 0)},
        {"precedes": _descending_at(lambda n: 0)},
        None,
    ),
    "ties-descending-everywhere": (
        {"precedes": _ties_descending},
        {"precedes": _ties_descending},
        None,
    ),
    "no-ack": ({"acknowledge": False}, {"acknowledge": False}, None),
    "receive-without-tick": ({}, {"receive_clock": _receive_without_tick}, None),
    "accepts-replays": ({}, {"validate": _validate_accepting_replays}, None),
}


def rules_and_ops(mutant: Mutant | None) -> tuple[spec.Rules, impl.MutexOps, bool | None]:
    """The spec rules, impl ops and network override of the protocol, with ``mutant``'s bug."""
    if mutant is None:
        return spec.SPEC_RULES, impl.STANDARD_OPS, None
    spec_patch, impl_patch, fifo = MUTATIONS[mutant.name]
    return (
        attrs.evolve(spec.SPEC_RULES, **spec_patch),
        attrs.evolve(impl.STANDARD_OPS, **impl_patch),
        fifo,
    )


# -- The network, mirroring the spec's two orders -------------------------------------------------


def _channel(packet: InFlight) -> tuple[int, int]:
    return (packet.message.sender, packet.to)


def _pool_order(packet: InFlight) -> tuple[int, int, int, str]:
    m = packet.message
    return (m.sender, packet.to, m.timestamp, m.kind.value)


def enqueue(
    network: tuple[InFlight, ...], sent: tuple[InFlight, ...], fifo: bool
) -> tuple[InFlight, ...]:
    if not sent:
        return network
    return tuple(sorted((*network, *sent), key=_channel if fifo else _pool_order))


def deliverable(network: tuple[InFlight, ...], fifo: bool) -> Iterator[InFlight]:
    seen: set[tuple[int, int]] = set()
    for packet in network:
        if not fifo:
            yield packet
        elif _channel(packet) not in seen:
            seen.add(_channel(packet))
            yield packet


def _without(network: tuple[InFlight, ...], packet: InFlight) -> tuple[InFlight, ...]:
    k = network.index(packet)
    return (*network[:k], *network[k + 1 :])


# -- Driving the impl: one honest event ----------------------------------------------------------


def waiting_requests(nodes: tuple[impl.ProcessState, ...], exclude: int) -> tuple[Any, ...]:
    found = []
    for node in nodes:
        if node.process != exclude and node.phase is impl.Phase.WAITING:
            mine = impl.own_request(node)
            if mine is not None:
                found.append(mine)
    return tuple(sorted(found))


def apply_effects(
    state: Deployment,
    i: int,
    node: impl.ProcessState,
    effects: impl.Effects,
    network: tuple[InFlight, ...],
    fifo: bool,
) -> Deployment:
    """Stores process i's new state, puts its sends in flight, and logs a grant (ghost)."""
    entries = state.entries
    if effects.granted:
        mine = impl.own_request(node)
        entries = (*entries, spec.Entry(mine, waiting_requests(state.nodes, exclude=i)))
    sent = tuple(InFlight(to, message) for to, message in effects.sends)
    return Deployment(
        nodes=replace_at(state.nodes, i, node),
        network=enqueue(network, sent, fifo),
        entries=entries,
    )


StepFunction = Callable[[impl.ProcessState, impl.Event], tuple[impl.ProcessState, impl.Effects]]


def apply_step(
    step: StepFunction, fifo: bool, state: Deployment, action: ClientAction | Deliver
) -> Deployment:
    """Hands an honest event to its process (``step`` is the impl's, with the model's ops);
    a rejected client event leaves ``state`` as it is, the very same object."""
    i = action.process
    node = state.nodes[i]
    if isinstance(action, Deliver):
        new_node, effects = step(node, impl.Receive(action.packet.message))
        # the transport delivered the message: it is consumed, accepted or not
        network = _without(state.network, action.packet)
        return apply_effects(state, i, new_node, effects, network, fifo)
    new_node, effects = step(node, _CLIENT_EVENTS[type(action)])
    if effects.rejections and new_node == node:
        return state
    return apply_effects(state, i, new_node, effects, state.network, fifo)


# -- Abstraction and refinement ------------------------------------------------------------------


def abstract_process(node: impl.ProcessState) -> spec.Process:
    return spec.Process(
        clock=node.clock,
        phase=spec.Phase(node.phase.value),
        queue=node.queue,
        latest=node.latest,
    )


def abstract_message(packet: InFlight) -> spec.Message:
    m = packet.message
    return spec.Message(spec.MessageKind(m.kind.value), m.timestamp, m.sender, packet.to)


def abstract(state: Deployment) -> spec.SystemState:
    """The abstraction function: processes from the nodes, the network, the ghost log."""
    return spec.SystemState(
        processes=tuple(abstract_process(node) for node in state.nodes),
        network=tuple(abstract_message(p) for p in state.network),
        entries=state.entries,
    )


_RECEIVE_ACTIONS: dict[impl.MessageKind, Callable[[int, spec.Message], spec.Action]] = {
    impl.MessageKind.REQUEST: spec.ReceiveRequest,
    impl.MessageKind.ACK: spec.ReceiveAck,
    impl.MessageKind.RELEASE: spec.ReceiveRelease,
}


def spec_action(action: ModelAction) -> spec.Action | str:
    """The spec action an impl step stands for, or why there is none."""
    i = action.process
    if isinstance(action, ClientRequest):
        return spec.RequestAction(i)
    if isinstance(action, ClientEnter):
        return spec.Enter(i)
    if isinstance(action, ClientRelease):
        return spec.ReleaseAction(i)
    if isinstance(action, Deliver):
        return _RECEIVE_ACTIONS[action.packet.message.kind](i, abstract_message(action.packet))
    return "a forged message changed the state"


def refinement_problem(
    rules: spec.Rules,
    fifo: bool,
    pre: Deployment,
    action: ModelAction,
    post: Deployment,
    project: Callable[[Deployment], spec.SystemState] = abstract,
) -> str | None:
    """None if the step is a stutter or the enabled spec action it stands for, else why not."""
    before, after = project(pre), project(post)
    if after == before:
        return None
    expected_action = spec_action(action)
    if isinstance(expected_action, str):
        return expected_action
    if not spec.enabled(rules, fifo, before, expected_action):
        return f"spec action {expected_action} is not enabled"
    expected = spec.next_state(rules, fifo, before, expected_action)
    if expected == after:
        return None
    i = action.process
    if isinstance(action, Deliver) and pre.nodes[i] == post.nodes[i]:
        return f"process {i} refused an honest message the spec receives: {expected_action}"
    differences = []
    if expected.processes[i] != after.processes[i]:
        differences.append(f"process {i}: spec {expected.processes[i]}, impl {after.processes[i]}")
    if expected.network != after.network:
        differences.append(f"network: spec {expected.network}, impl {after.network}")
    if expected.entries != after.entries:
        differences.append(f"grants: spec {expected.entries}, impl {after.entries}")
    return f"after {expected_action}: " + "; ".join(differences)


# -- The model -----------------------------------------------------------------------------------


def initial_deployment(n: int) -> Deployment:
    return Deployment(nodes=tuple(impl.new(i, n) for i in range(n)), network=(), entries=())


def requests_made(state: Deployment, i: int) -> int:
    """Grants of process i so far, plus one if it is waiting (derived, not stored)."""
    granted = sum(1 for e in state.entries if e.request[1] == i)
    return granted + (state.nodes[i].phase is impl.Phase.WAITING)


def budgets(params: Mapping[str, Any]) -> tuple[int, ...]:
    """Requests allowed per process: ``requests`` is one number for all, or one per process."""
    n: int = params["processes"]
    requests = params["requests"]
    return (requests,) * n if isinstance(requests, int) else tuple(requests)


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    n: int = config.params["processes"]
    budget = budgets(config.params)
    rules, ops, fifo_override = rules_and_ops(mutant)
    fifo: bool = config.params["fifo"] if fifo_override is None else fifo_override
    shapes = {i: shape_forgeries(i, n) for i in range(n)}

    # impl.step is pure: remember its results per (node, event); cleared when it grows
    steps: dict[tuple[impl.ProcessState, Any], tuple[impl.ProcessState, impl.Effects]] = {}

    def memo_step(
        node: impl.ProcessState, event: impl.Event
    ) -> tuple[impl.ProcessState, impl.Effects]:
        key = (node, event)
        found = steps.get(key)
        if found is None:
            if len(steps) >= 1 << 18:
                steps.clear()
            found = steps[key] = impl.step(node, event, ops)
        return found

    forgeries: dict[impl.ProcessState, tuple[impl.MutexMessage, ...]] = {}

    def forged_for(node: impl.ProcessState) -> tuple[impl.MutexMessage, ...]:
        found = forgeries.get(node)
        if found is None:
            if len(forgeries) >= 1 << 16:
                forgeries.clear()
            found = forgeries[node] = shapes[node.process] + state_forgeries(node)
        return found

    def initial_states() -> Iterator[Deployment]:
        yield initial_deployment(n)

    def actions(state: Deployment) -> Iterator[ModelAction]:
        for i, node in enumerate(state.nodes):
            # a request while one is outstanding is offered too (the impl rejects it); only
            # fresh requests count against the bound
            if node.phase is not impl.Phase.IDLE or requests_made(state, i) < budget[i]:
                yield ClientRequest(i)
            yield ClientEnter(i)
            yield ClientRelease(i)
        for packet in deliverable(state.network, fifo):
            yield Deliver(packet.to, packet)
        for i, node in enumerate(state.nodes):
            for message in forged_for(node):
                yield DeliverForged(i, message)

    def next_state(state: Deployment, action: ModelAction) -> Deployment:
        i = action.process
        node = state.nodes[i]
        if isinstance(action, DeliverForged):
            new_node, _ = memo_step(node, impl.Receive(action.message))
            if new_node == node:
                return state
            return attrs.evolve(state, nodes=replace_at(state.nodes, i, new_node))
        return apply_step(memo_step, fifo, state, action)

    # -- abstraction, memoized per node and per network; the last few states are remembered,
    # because the explorer reads every property of one state one after the other
    processes: dict[impl.ProcessState, spec.Process] = {}
    networks: dict[tuple[InFlight, ...], tuple[spec.Message, ...]] = {}
    recent: dict[int, tuple[Deployment, spec.SystemState]] = {}

    def project(state: Deployment) -> spec.SystemState:
        hit = recent.get(id(state))
        if hit is not None and hit[0] is state:
            return hit[1]
        if len(processes) >= 1 << 16:
            processes.clear()
        if len(networks) >= 1 << 16:
            networks.clear()
        procs = []
        for node in state.nodes:
            found = processes.get(node)
            if found is None:
                found = processes[node] = abstract_process(node)
            procs.append(found)
        network = networks.get(state.network)
        if network is None:
            network = networks[state.network] = tuple(abstract_message(p) for p in state.network)
        projected = spec.SystemState(tuple(procs), network, state.entries)
        if len(recent) >= 8:
            recent.clear()
        recent[id(state)] = (state, projected)
        return projected

    def refines(pre: Deployment, action: ModelAction, post: Deployment) -> bool:
        return refinement_problem(rules, fifo, pre, action, post, project) is None

    def explain_refinement(pre: Deployment, action: ModelAction, post: Deployment) -> str:
        return refinement_problem(rules, fifo, pre, action, post, project) or ""

    def faults_change_nothing(pre: Deployment, action: ModelAction, post: Deployment) -> bool:
        if isinstance(action, DeliverForged):
            return post == pre
        return True

    def explain_fault(pre: Deployment, action: ModelAction, post: Deployment) -> str:
        i = action.process
        return f"process {i} went from {pre.nodes[i]} to {post.nodes[i]}"

    step_properties: tuple[StepProperty[Any, Any], ...] = (
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
        name="lamport-mutex",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=spec.invariants(rules, fifo, budget, project),
        step_properties=step_properties,
        reachables=spec.reachables(budget, project),
        describe_action=str,
    )


def view(state: Deployment) -> Mapping[str, Any]:
    """Named variables of a deployment, for traces and ITF."""
    return {
        "clock": {i: node.clock for i, node in enumerate(state.nodes)},
        "phase": {i: node.phase.value for i, node in enumerate(state.nodes)},
        "queue": {i: node.queue for i, node in enumerate(state.nodes)},
        "latest": {i: node.latest for i, node in enumerate(state.nodes)},
        "network": tuple(
            {
                "kind": p.message.kind.value,
                "timestamp": p.message.timestamp,
                "sender": p.message.sender,
                "to": p.to,
            }
            for p in state.network
        ),
        "grants": tuple({"request": e.request, "rivals": e.rivals} for e in state.entries),
    }


CONFIGS = (
    Config(
        "small",
        "3 processes: process 0 requests twice, process 1 once, process 2 only answers; "
        "FIFO channels",
        {"processes": 3, "requests": (2, 1, 0), "fifo": True},
        expected_distinct_states=75571,
    ),
    Config(
        "tiny",
        "2 processes, 2 requests each, FIFO channels",
        {"processes": 2, "requests": 2, "fifo": True},
        expected_distinct_states=11408,
    ),
    Config(
        "tiny-non-fifo",
        "2 processes, 2 requests each, non-FIFO network: the paper's assumption dropped, "
        "mutual exclusion fails (the non-fifo mutant)",
        {"processes": 2, "requests": 2, "fifo": False},
    ),
    Config(
        "three-way",
        "3 processes, 1 request each, FIFO channels: 2,148,833 distinct states (time-bounded)",
        {"processes": 3, "requests": 1, "fifo": True},
        Bounds(max_seconds=600),
    ),
    Config(
        "wide",
        "4 processes, 2 requests each, FIFO channels (simulation)",
        {"processes": 4, "requests": 2, "fifo": True},
        Bounds(max_seconds=120),
    ),
)

PROTOCOL = ProtocolEntry(
    name="lamport-mutex",
    summary="Lamport's distributed mutual exclusion over logical clocks (Lamport 1978)",
    source="Lamport, CACM 21(7), 1978, p. 560 (IR1, IR2) and p. 561 (rules 1-5)",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)


# -- Hypothesis: random schedules on a larger system ---------------------------------------------


class LamportMutexMachine(RuleBasedStateMachine):
    """Random schedules of 5 impl processes over FIFO channels; the spec's invariants after
    every step.

    Each rule hands one event to one process (through :func:`apply_step`, as the model does) and
    checks refinement on the spot; the ``@invariant`` methods evaluate the spec's registry on the
    abstraction. Processes that have requested go to a Bundle, from which enter and release
    draw (and, so that runs progress, a process the rules allow is told to enter and a holder
    to release); deliveries come in bursts, each picking among the channel heads, or all at once
    (``settle``); forged messages from the receiver's alphabet must be faults that change
    nothing. Subclass with ``mutant`` set to run the same
    machine against a shipped bug.
    """

    processes = 5
    max_requests = 3
    mutant: Mutant | None = None
    requesters = Bundle("requesters")

    def __init__(self) -> None:
        super().__init__()
        self.rules, self.ops, fifo = rules_and_ops(self.mutant)
        self.fifo = True if fifo is None else fifo
        self.state = initial_deployment(self.processes)

    def _impl_step(
        self, node: impl.ProcessState, event: impl.Event
    ) -> tuple[impl.ProcessState, impl.Effects]:
        return impl.step(node, event, self.ops)

    def _step(self, action: ClientAction | Deliver) -> None:
        before = self.state
        self.state = apply_step(self._impl_step, self.fifo, before, action)
        problem = refinement_problem(self.rules, self.fifo, before, action, self.state)
        require(problem is None, f"refinement violated by {action}: {problem}")

    # -- rules: one per event an application or the network can hand a process ---------------

    @rule(target=requesters, process=st.integers(0, processes - 1))
    def request(self, process: int) -> int:
        if requests_made(self.state, process) < self.max_requests:
            self._step(ClientRequest(process))
        return process

    @rule(process=requesters)
    def enter(self, process: int) -> None:
        self._step(ClientEnter(process))

    @rule(process=requesters)
    def release(self, process: int) -> None:
        self._step(ClientRelease(process))

    def _grantable(self) -> list[int]:
        return [
            node.process
            for node in self.state.nodes
            if node.phase is impl.Phase.WAITING and impl.entry_problem(node, self.ops) is None
        ]

    @precondition(lambda self: bool(self._grantable()))
    @rule(pick=st.integers(0, 10**6))
    def enter_when_allowed(self, pick: int) -> None:
        # an application that polls: it asks to enter once the rules allow it
        allowed = self._grantable()
        self._step(ClientEnter(allowed[pick % len(allowed)]))

    @precondition(lambda self: any(n.phase is impl.Phase.CRITICAL for n in self.state.nodes))
    @rule()
    def release_holder(self) -> None:
        holder = next(n.process for n in self.state.nodes if n.phase is impl.Phase.CRITICAL)
        self._step(ClientRelease(holder))

    @precondition(lambda self: bool(self.state.network))
    @rule(picks=st.lists(st.integers(0, 10**6), min_size=1, max_size=8))
    def deliver(self, picks: list[int]) -> None:
        # a burst of receipts (deliveries change no phase, so no invariant can break mid-burst)
        for pick in picks:
            heads = list(deliverable(self.state.network, self.fifo))
            if not heads:
                return
            packet = heads[pick % len(heads)]
            self._step(Deliver(packet.to, packet))

    @precondition(lambda self: bool(self.state.network))
    @rule(picks=st.lists(st.integers(0, 10**6), max_size=8))
    def settle(self, picks: list[int]) -> None:
        # the network catches up: every message in flight is received, in an order drawn from
        # ``picks`` (then channel by channel), so that grants become possible
        picks = list(picks)
        while self.state.network:
            heads = list(deliverable(self.state.network, self.fifo))
            packet = heads[picks.pop() % len(heads)] if picks else heads[0]
            self._step(Deliver(packet.to, packet))

    @rule(process=st.integers(0, processes - 1), pick=st.integers(0, 10**6))
    def receive_forged(self, process: int, pick: int) -> None:
        node = self.state.nodes[process]
        alphabet = shape_forgeries(process, self.processes) + state_forgeries(node)
        message = alphabet[pick % len(alphabet)]
        after, effects = impl.step(node, impl.Receive(message), self.ops)
        require(len(effects.faults) == 1, f"forged {message!r} was not a fault")
        require(after == node, "faults_change_nothing violated: a forged message changed state")

    # -- invariants: the spec's registry, on the abstraction ----------------------------------

    def _check(self, name: str, holds: Callable[[spec.SystemState], bool]) -> None:
        abstract_state = abstract(self.state)
        require(holds(abstract_state), f"{name} violated in {abstract_state!r}")

    @invariant()
    def mutual_exclusion(self) -> None:
        self._check("mutual_exclusion", spec.mutual_exclusion)

    @invariant()
    def entries_in_order(self) -> None:
        self._check("entries_in_order", spec.entries_in_order)

    @invariant()
    def no_deadlock(self) -> None:
        def live(state: spec.SystemState) -> bool:
            budget = (self.max_requests,) * self.processes
            return not spec.deadlocked(self.rules, self.fifo, budget, state)

        self._check("no_deadlock", live)


# -- The oracle: canonical encoding, vectors and trace validation --------------------------------
#
# Documents (canonical JSON, see :mod:`.codec`; the schemas are generated from
# :meth:`LamportMutexCodec.schemas`)::
#
#     state    {"process": 1, "processes": 3, "clock": 4, "phase": "waiting",
#               "queue": [[1, 0], [3, 1]], "latest": [2, 0, 0]}
#     event    {"type": "request"}  {"type": "enter"}  {"type": "release"}
#              {"type": "receive", "message": {"kind": "ack", "sender": 0, "timestamp": 2}}
#     effects  {"sends": [{"to": 0, "message": {"kind": "request", "sender": 1,
#                                               "timestamp": 3}}, ...],   (sorted by "to")
#               "granted": false,
#               "faults": [{"sender": 7, "kind": "unknown_sender"}],
#               "rejections": [{"reason": "not_at_head"}]}
#
# Handlers: ``request``, ``enter``, ``release``, ``receive``. A received message's fields are
# decoded leniently (any JSON value; arrays become tuples; a known kind string becomes the
# kind): a malformed message is the process's to refuse with a typed fault, not the decoder's.


def _loose_to_json(value: Any) -> JSON:
    """A value of a (possibly malformed) received message as JSON."""
    if isinstance(value, impl.MessageKind):
        return value.value
    if isinstance(value, tuple | list):
        return [_loose_to_json(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return plain_to_json(value)


def _message_to_json(message: impl.MutexMessage) -> JSON:
    return {
        "kind": _loose_to_json(message.kind),
        "sender": _loose_to_json(message.sender),
        "timestamp": _loose_to_json(message.timestamp),
    }


_KINDS = {kind.value: kind for kind in impl.MessageKind}
_PHASES = {phase.value: phase for phase in impl.Phase}
_NAT: dict[str, Any] = {"type": "integer", "minimum": 0}
_STAMP: dict[str, Any] = {"type": "integer", "minimum": 1}


@attrs.frozen
class LamportMutexCodec:
    """Encoding of a Lamport-mutex process, its events and its effects (the oracle's interface).

    ``ops`` are the process's operations (:data:`impl.STANDARD_OPS`); an adapter that wants a
    deliberately broken process swaps them with ``attrs.evolve``.
    """

    protocol: str = "lamport-mutex"
    ops: impl.MutexOps = impl.STANDARD_OPS

    def schemas(self) -> dict[str, Any]:
        """The state, event and effects schemas (see :mod:`.schemas`)."""
        request = {
            "type": "array",
            "prefixItems": [_STAMP, _NAT],
            "minItems": 2,
            "maxItems": 2,
        }
        state = object_schema(
            {
                "process": _NAT,
                "processes": {"type": "integer", "minimum": 1},
                "clock": _NAT,
                "phase": {"enum": enum_values(impl.Phase)},
                "queue": {"type": "array", "items": request},
                "latest": {"type": "array", "items": _NAT},
            }
        )
        event = {
            "oneOf": [
                object_schema({"type": {"const": "request"}}),
                object_schema({"type": {"const": "enter"}}),
                object_schema({"type": {"const": "release"}}),
                object_schema(
                    {
                        "type": {"const": "receive"},
                        # any values: a malformed message is the process's to refuse
                        "message": object_schema({"kind": {}, "sender": {}, "timestamp": {}}),
                    }
                ),
            ]
        }
        sent = object_schema(
            {"kind": {"enum": enum_values(impl.MessageKind)}, "sender": _NAT, "timestamp": _STAMP}
        )
        effects = object_schema(
            {
                "sends": {"type": "array", "items": object_schema({"to": _NAT, "message": sent})},
                "granted": {"type": "boolean"},
                "faults": {
                    "type": "array",
                    "items": object_schema(
                        {"sender": {}, "kind": {"enum": enum_values(impl.FaultKind)}}
                    ),
                },
                "rejections": {
                    "type": "array",
                    "items": object_schema({"reason": {"enum": enum_values(impl.RejectReason)}}),
                },
            }
        )
        return {"state": state, "event": event, "effects": effects}

    # states
    def encode_state(self, node: impl.ProcessState) -> JSON:
        return {
            "process": node.process,
            "processes": node.n,
            "clock": node.clock,
            "phase": node.phase.value,
            "queue": [list(r) for r in node.queue],
            "latest": list(node.latest),
        }

    def decode_state(self, doc: JSON, path: str = "$") -> impl.ProcessState:
        fields = ["process", "processes", "clock", "phase", "queue", "latest"]
        expect_object(doc, path, fields)
        n = expect_int(doc["processes"], f"{path}.processes", minimum=1)
        process = expect_int(doc["process"], f"{path}.process", minimum=0)
        if process >= n:
            raise DecodeError(f"{path}.process", f"process {process} out of range for {n}")
        clock = expect_int(doc["clock"], f"{path}.clock", minimum=0)
        phase = _PHASES.get(doc["phase"]) if isinstance(doc["phase"], str) else None
        if phase is None:
            known = ", ".join(_PHASES)
            raise DecodeError(f"{path}.phase", f"expected one of {known}, got {doc['phase']!r}")
        queue = self._decode_queue(doc["queue"], f"{path}.queue", n)
        entries = expect_array(doc["latest"], f"{path}.latest")
        if len(entries) != n:
            raise DecodeError(
                f"{path}.latest", f"expected {n} entries (one per process), got {len(entries)}"
            )
        latest = tuple(
            expect_int(t, f"{path}.latest[{k}]", minimum=0) for k, t in enumerate(entries)
        )
        if latest[process] != 0:
            raise DecodeError(f"{path}.latest[{process}]", "a process receives nothing from itself")
        has_own = any(r[1] == process for r in queue)
        if has_own != (phase is not impl.Phase.IDLE):
            raise DecodeError(
                f"{path}.queue",
                f"a {phase.value} process {'must not' if has_own else 'must'} have its own "
                "request queued",
            )
        return impl.ProcessState(process, n, clock, phase, queue, latest)

    @staticmethod
    def _decode_queue(doc: JSON, path: str, n: int) -> tuple[impl.Request, ...]:
        items = expect_array(doc, path)
        queue: list[impl.Request] = []
        for k, item in enumerate(items):
            where = f"{path}[{k}]"
            pair = expect_array(item, where)
            if len(pair) != 2:
                raise DecodeError(where, "expected [timestamp, process]")
            stamp = expect_int(pair[0], f"{where}[0]", minimum=1)
            owner = expect_int(pair[1], f"{where}[1]", minimum=0)
            if owner >= n:
                raise DecodeError(f"{where}[1]", f"process {owner} out of range for {n}")
            queue.append((stamp, owner))
        if queue != sorted(queue):
            raise DecodeError(path, "requests must be sorted by (timestamp, process)")
        owners = [r[1] for r in queue]
        if len(owners) != len(set(owners)):
            raise DecodeError(path, "at most one request per process")
        return tuple(queue)

    # events
    def encode_event(self, event: impl.Event) -> JSON:
        if isinstance(event, impl.Receive):
            return {"type": "receive", "message": _message_to_json(event.message)}
        return {"type": self.handler(event)}

    def decode_event(self, doc: JSON, path: str = "$") -> impl.Event:
        if not isinstance(doc, dict):
            raise DecodeError(path, "expected an object with a field 'type'")
        kind = doc.get("type")
        simple = {"request": impl.RequestResource, "enter": impl.Enter, "release": impl.Release}
        if isinstance(kind, str) and kind in simple:
            expect_object(doc, path, ["type"])
            return simple[kind]()
        if kind == "receive":
            expect_object(doc, path, ["type", "message"])
            fields = ["kind", "sender", "timestamp"]
            message = expect_object(doc["message"], f"{path}.message", fields)
            raw_kind = message["kind"]
            decoded_kind = (
                _KINDS[raw_kind]
                if isinstance(raw_kind, str) and raw_kind in _KINDS
                else plain_from_json(raw_kind)
            )
            # lenient on purpose: the process, not the decoder, refuses a malformed message
            return impl.Receive(
                impl.MutexMessage(
                    decoded_kind,
                    plain_from_json(message["sender"]),
                    plain_from_json(message["timestamp"]),
                )
            )
        raise DecodeError(
            f"{path}.type",
            f"unknown event type {kind!r} (known: enter, receive, release, request)",
        )

    # effects
    def encode_effects(self, effects: impl.Effects) -> JSON:
        return {
            "sends": [
                {"to": to, "message": _message_to_json(message)}
                for to, message in sorted(effects.sends, key=lambda sent: sent[0])
            ],
            "granted": effects.granted,
            "faults": [
                {"sender": _loose_to_json(f.sender), "kind": f.kind.value} for f in effects.faults
            ],
            "rejections": [{"reason": r.reason.value} for r in effects.rejections],
        }

    def handler(self, event: impl.Event) -> str:
        return {
            impl.RequestResource: "request",
            impl.Enter: "enter",
            impl.Release: "release",
            impl.Receive: "receive",
        }[type(event)]

    def step(
        self, node: impl.ProcessState, event: impl.Event
    ) -> tuple[impl.ProcessState, impl.Effects]:
        return impl.step(node, event, self.ops)


CODEC = LamportMutexCodec()


def node_event(action: ModelAction) -> tuple[int, impl.Event]:
    """The process a model action steps and the impl event it hands it (for the oracle)."""
    if isinstance(action, Deliver):
        return action.process, impl.Receive(action.packet.message)
    if isinstance(action, DeliverForged):
        return action.process, impl.Receive(action.message)
    return action.process, _CLIENT_EVENTS[type(action)]


def _is_nat(value: Any) -> bool:
    return type(value) is int and value >= 0


def refusal(state: impl.ProcessState, message: impl.MutexMessage) -> impl.FaultKind | None:
    """Why ``state``'s process must refuse ``message``, or None if it must receive it.

    Over FIFO channels an honest message comes from another process of the configuration, is of
    a known kind, carries the timestamp of its send event (>= 1, above every earlier timestamp
    from that sender), and respects the request/release alternation of its sender. The checks
    run in the order the impl documents; the first that fails names the fault. (Written here
    apart from the impl's ``validate``, so that the trace checker does not take the
    implementation's word for it.)
    """
    me, n = state.process, state.n
    sender, kind, stamp = message.sender, message.kind, message.timestamp
    if not (_is_nat(sender) and sender < n and sender != me):
        return impl.FaultKind.UNKNOWN_SENDER
    if kind not in _KINDS.values():
        return impl.FaultKind.UNKNOWN_KIND
    if not (_is_nat(stamp) and stamp >= 1):
        return impl.FaultKind.MALFORMED_TIMESTAMP
    if stamp <= state.latest[sender]:
        return impl.FaultKind.STALE_TIMESTAMP
    queued = sender in {r[1] for r in state.queue}
    if kind is impl.MessageKind.REQUEST and queued:
        return impl.FaultKind.DUPLICATE_REQUEST
    if kind is impl.MessageKind.RELEASE and not queued:
        return impl.FaultKind.RELEASE_WITHOUT_REQUEST
    return None


def client_refusal(state: impl.ProcessState, event: impl.Event) -> impl.RejectReason | None:
    """Why the spec does not allow a client event now, or None (phase table, then rule 5)."""
    process, i, n = abstract_process(state), state.process, state.n
    if (process.phase, _CLIENT_NAMES[type(event)]) not in spec.PHASES:
        return impl.RejectReason.WRONG_PHASE
    if isinstance(event, impl.Enter):
        if not spec.is_head(spec.SPEC_RULES, process, i, n):
            return impl.RejectReason.NOT_AT_HEAD
        if not spec.has_later_messages(process, i, n):
            return impl.RejectReason.NO_LATER_MESSAGE
    return None


_CLIENT_NAMES: dict[type, str] = {
    impl.RequestResource: "request",
    impl.Enter: "enter",
    impl.Release: "release",
}


def _strictly_equal(a: JSON, b: JSON) -> bool:
    """JSON equality that tells ``1`` from ``true`` and from ``1.0`` (unlike Python's ``==``)."""
    if type(a) is not type(b):
        return False
    if type(a) is list:
        return len(a) == len(b) and all(_strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return a.keys() == b.keys() and all(_strictly_equal(a[k], b[k]) for k in a)
    return bool(a == b)


_EFFECT_FIELDS = ("faults", "rejections", "granted", "sends")


def _effects_problem(
    effects: dict[str, Any], expected: dict[str, Any], refused: bool
) -> tuple[str, str, str] | None:
    """Compares reported effects with the spec's, field by field; the first difference wins."""
    extra = sorted(set(effects) - set(expected))
    if extra:
        return (
            "refinement",
            f"effects with exactly the fields {', '.join(sorted(expected))}",
            f"unexpected field {extra[0]!r}",
        )
    for field in _EFFECT_FIELDS:
        want, got = expected[field], effects.get(field)
        if _strictly_equal(want, got):
            continue
        observed = f"{field}: {dumps_line(got)}" if field in effects else f"no field {field!r}"
        if refused:
            return ("typed_fault", f"the event refused: {dumps_line(expected)}", observed)
        if field in ("faults", "rejections"):
            return (
                "typed_fault",
                "no fault or rejection: the event is one the spec allows",
                observed,
            )
        return ("refinement", f"{field}: {dumps_line(want)}", observed)
    return None


def _sends_doc(messages: tuple[spec.Message, ...]) -> list[dict[str, Any]]:
    return [
        {
            "to": m.receiver,
            "message": {"kind": m.kind.value, "sender": m.sender, "timestamp": m.timestamp},
        }
        for m in sorted(messages, key=lambda m: m.receiver)
    ]


def step_checker(codec: LamportMutexCodec = CODEC) -> Any:
    """Trace validation of one process step against the spec (see :mod:`.validate`).

    Checked for each step, against :mod:`spec.lamport_mutex`'s per-process rules: the process's
    identity never changes and matches its place in the trace; a message that no honest peer
    can send over a FIFO channel (see :func:`refusal`) and a client event the spec does not
    allow now (see :func:`client_refusal`) leave the state unchanged (``faults_change_nothing``)
    and are reported as one fault or rejection of the right kind (``typed_fault``); any other
    event moves the process exactly as the spec's rule does -- clock, phase, queue and latest
    timestamps -- and, when the effects are recorded, sends exactly the rule's messages and
    reports a grant exactly for an enter (``refinement``).

    Streaming: the check reads the process's state before the step and nothing else. What a
    single step cannot show is left to the model checker: that a received message was really
    sent and arrived in channel order, and the global invariants (mutual exclusion, the order of
    grants, deadlock freedom), which need every process at once.
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
        before = abstract_process(pre)
        refused: dict[str, Any] | None = None
        if isinstance(event, impl.Receive):
            kind = refusal(pre, event.message)
            if kind is not None:
                fault = {"sender": _loose_to_json(event.message.sender), "kind": kind.value}
                refused = {"sends": [], "granted": False, "faults": [fault], "rejections": []}
                reason = f"the message is refused ({kind.value})"
            else:
                m = event.message
                message = spec.Message(spec.MessageKind(m.kind.value), m.timestamp, m.sender, i)
                expected, sent = spec.receive_rule(spec.SPEC_RULES, before, i, message)
                rule = f"spec receipt of {m.kind.value}({m.timestamp}) from {m.sender}"
        else:
            reject = client_refusal(pre, event)
            if reject is not None:
                refused = {
                    "sends": [],
                    "granted": False,
                    "faults": [],
                    "rejections": [{"reason": reject.value}],
                }
                reason = f"the event is rejected ({reject.value})"
            elif isinstance(event, impl.RequestResource):
                expected, sent = spec.request_rule(before, i, n)
                rule = "spec rule 1 (request)"
            elif isinstance(event, impl.Enter):
                expected, sent = spec.enter_rule(before), ()
                rule = "spec rule 5 (enter)"
            else:
                expected, sent = spec.release_rule(before, i, n)
                rule = "spec rule 3 (release)"
        if refused is not None:
            if post != pre:
                return (
                    "faults_change_nothing",
                    f"state unchanged: {reason}",
                    f"state {codec.encode_state(post)}",
                )
            if effects is None:
                return None
            return _effects_problem(effects, refused, refused=True)
        after = abstract_process(post)
        if after != expected:
            return ("refinement", f"{rule} gives {expected}", f"{after}")
        if effects is None:
            return None
        wanted = {
            "sends": _sends_doc(sent),
            "granted": isinstance(event, impl.Enter),
            "faults": [],
            "rejections": [],
        }
        return _effects_problem(effects, wanted, refused=False)

    return StepChecker(codec=codec, initial_node=impl.new, check=check)


ORACLE = OracleBinding(
    codec=CODEC,
    # traces come from "small": three processes, so requests contend and queues hold three
    configs=("small", "tiny"),
    node_event=node_event,
    nodes=lambda state: state.nodes,
    initial_node=impl.new,
    step_checker=step_checker(CODEC),
)
