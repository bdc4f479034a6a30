"""Bully election: bounded model, mutants, a Hypothesis state machine and the oracle binding.

Source: Garcia-Molina 1982, the Bully Algorithm (see :mod:`mnemosyne_consensus.spec.bully`).

The explored state is the *implementation*: one :class:`impl.NodeState` per process (DOWN while
crashed), the messages in flight, the crash and recovery counts, and a ghost the processes never
read -- for each process, who was up when it last announced itself. After every step the
checker

* maps the state to the spec's :class:`spec.SystemState` and evaluates every spec invariant;
* checks ``refinement``: the step is the spec action it stands for (``CrashNode`` -> ``Crash``,
  ``RecoverNode`` -> ``Recover``, ``Fire`` -> the timeout of that timer, ``Deliver`` -> the
  receive rule of the message's kind), that action is enabled, and the spec's rule applied to
  the abstract pre-state gives exactly the abstract post-state (phases, coordinators, messages
  sent, ghost);
* checks ``faults_change_nothing``: every message of a small fixed alphabet of forged or
  malformed messages (:func:`forged_deliveries`: each :class:`impl.FaultKind` and each wrong
  direction, seven in all, receivable at any time; not state, so free in state space) leaves
  the whole state unchanged.

The environment is the spec's: a crash or a recovery is offered while its budget lasts, and a
timer expiry only when the spec's failure detector (:func:`spec.reliable`) allows it -- the
awaited process has crashed and no message is in flight (config parameter ``timely_delivery``,
default true; false keeps only the first clause, to show the stale-COORDINATOR race the paper's
synchrony rules out). Messages are delivered exactly once, in any order; a message to a crashed
process is lost (DESIGN.md's "any number of times, or never" is narrowed to the paper's reliable
communication, without which timeouts could not be reliable).

Measured (this machine, with other jobs running): ``small`` (the default: 3 processes, 3
crashes, 3 recoveries) has 9,979 distinct states and takes 1.3-1.8 s; ``tiny`` (3 processes, 1
crash, 1 recovery) 442; ``pair`` (2 processes) 14. ``four`` (4 processes, 1 crash, 1 recovery)
has 162,627 and takes about a minute (an election there cascades through every higher process,
with every interleaving of its ELECTION, ANSWER and COORDINATOR messages), so it is not
exhausted in CI; ``wide`` (5 processes) is left to ``--simulate`` and the Hypothesis machine
(6 processes). The forged alphabet adds no states, only 7 stutter transitions per state.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    precondition,
    rule,
)

from ..impl import bully as impl
from ..spec import bully as spec
from ..spec.common import replace_at
from ..spec.properties import StepProperty
from .codec import (
    JSON,
    DecodeError,
    dumps_line,
    enum_values,
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
class Deployment:
    # processes (implementation state; status DOWN while crashed)
    nodes: tuple[impl.NodeState, ...]
    # network: messages in flight, sorted by (kind, sender, receiver), each at most once
    network: tuple[impl.Message, ...]
    # environment: crashes and recoveries so far
    crashes: int
    recoveries: int
    # ghost: for each process, the processes up when it last announced itself (None: never)
    announced: tuple[tuple[int, ...] | None, ...]


# -- Actions of the model (impl events handed to a process) -------------------------------------


@attrs.frozen
class CrashNode:
    process: int

    def __str__(self) -> str:
        return f"process {self.process}: crash"


@attrs.frozen
class RecoverNode:
    process: int

    def __str__(self) -> str:
        return f"process {self.process}: recover"


@attrs.frozen
class Fire:
    process: int
    timer: impl.Timer

    def __str__(self) -> str:
        return f"process {self.process}: {self.timer.value} timeout"


@attrs.frozen
class Deliver:
    message: impl.Message

    def __str__(self) -> str:
        m = self.message
        return f"process {m.receiver}: receive {m.kind.value.upper()} from {m.sender}"


@attrs.frozen
class DeliverForged:
    process: int
    message: impl.Message

    def __str__(self) -> str:
        m = self.message
        kind = m.kind.value if isinstance(m.kind, impl.Kind) else m.kind
        return f"process {self.process}: receive forged {kind!r} {m.sender!r} -> {m.receiver!r}"


ModelAction = CrashNode | RecoverNode | Fire | Deliver | DeliverForged

# the timer each phase arms (a NORMAL coordinator arms none)
PHASE_TIMER: dict[impl.Status, impl.Timer] = {
    impl.Status.ELECTING: impl.Timer.ANSWER,
    impl.Status.WAITING: impl.Timer.COORDINATOR,
    impl.Status.NORMAL: impl.Timer.CHECK,
}
SPEC_TIMEOUT: dict[impl.Timer, type] = {
    impl.Timer.ANSWER: spec.ElectionTimeout,
    impl.Timer.COORDINATOR: spec.WaitTimeout,
    impl.Timer.CHECK: spec.CoordinatorTimeout,
}
SPEC_RECEIVE: dict[impl.Kind, type] = {
    impl.Kind.ELECTION: spec.ReceiveElection,
    impl.Kind.ANSWER: spec.ReceiveAnswer,
    impl.Kind.COORDINATOR: spec.ReceiveCoordinator,
}

# -- Adversary alphabet --------------------------------------------------------------------------


def forged_deliveries(n: int) -> tuple[tuple[int, impl.Message], ...]:
    """The adversary's fixed alphabet, as (receiving process, message): every fault kind, and
    every wrong direction.

    Seven messages whatever n (n >= 2), their receivers spread over the processes: each one is
    receivable in every state, so a larger alphabet would only multiply stutter steps (and
    drown random walks in them). The COORDINATOR from below goes to the top process, most often
    the coordinator; the ELECTION from above goes to process 0.
    """
    top = n - 1
    return (
        (0, impl.Message("hello", top, 0)),  # unknown kind
        (1, impl.Message(impl.Kind.ELECTION, n, 1)),  # unknown sender
        (top, impl.Message(impl.Kind.ANSWER, top, top)),  # from the receiver itself
        (top, impl.Message(impl.Kind.ELECTION, 0, 0)),  # addressed to process 0: misrouted
        (top, impl.Message(impl.Kind.COORDINATOR, top - 1, top)),  # from below
        (1, impl.Message(impl.Kind.ANSWER, 0, 1)),  # from below
        (0, impl.Message(impl.Kind.ELECTION, 1, 0)),  # from above
    )


# -- Mutants -------------------------------------------------------------------------------------


def _always(state: spec.SystemState, i: int, timer: spec.Timer) -> bool:
    return True


def _spec_election_without_asking(state: spec.SystemState, i: int) -> spec.SystemState:
    return spec.announce(state, i)


def _impl_election_without_asking(state: impl.NodeState, ops: impl.BullyOps) -> impl.Step:
    return ops.announce(state)


def _spec_ignore_lower(
    election: spec.Election, state: spec.SystemState, i: int, j: int
) -> spec.SystemState:
    current = state.coordinator[i]
    if state.status[i] is spec.Status.NORMAL and current is not None and j < current:
        return state  # keeps naming its coordinator, asks no one
    return spec.on_coordinator(election, state, i, j)


def _impl_ignore_lower(state: impl.NodeState, sender: int, ops: impl.BullyOps) -> impl.Step:
    current = state.coordinator
    if state.status is impl.Status.NORMAL and current is not None and sender < current:
        return state, impl.Effects()
    return impl.on_coordinator(state, sender, ops)


def _spec_recover_silently(
    election: spec.Election, state: spec.SystemState, i: int
) -> spec.SystemState:
    top = len(state.status) - 1
    return attrs.evolve(state, coordinator=spec.replace_at(state.coordinator, i, top))


def _impl_recover_silently(state: impl.NodeState, ops: impl.BullyOps) -> impl.Step:
    back = attrs.evolve(state, status=impl.Status.NORMAL, coordinator=state.n - 1)
    return back, impl.Effects(timer=impl.Timer.CHECK)


def _announce_skipping_first(state: impl.NodeState) -> impl.Step:
    # an off-by-one loop bound: process 0 never hears the announcement
    me = state.process
    sends = tuple(impl.Message(impl.Kind.COORDINATOR, me, j) for j in range(1, me))
    announced = attrs.evolve(state, status=impl.Status.NORMAL, coordinator=me)
    return announced, impl.Effects(sends=sends, elected=me)


def _validate_trusting_direction(
    state: impl.NodeState, message: impl.Message
) -> tuple[impl.FaultKind, str] | None:
    problem = impl.validate(state, message)
    if problem is not None and problem[0] is impl.FaultKind.WRONG_DIRECTION:
        return None
    return problem


MUTANTS = (
    Mutant(
        "unreliable-timeout",
        "timeouts fire whenever their phase allows, even while the awaited process is alive "
        "and messages are in flight (an unreliable failure detector)",
        "coordinator_was_highest_alive",
    ),
    Mutant(
        "announce-without-asking",
        "Election skips the ELECTION to higher processes and announces at once",
        "coordinator_was_highest_alive",
    ),
    Mutant(
        "ignore-lower-coordinator",
        "a NORMAL process ignores a COORDINATOR from below the coordinator it names, "
        "without starting an election",
        "agreement_when_quiescent",
    ),
    Mutant(
        "recover-without-election",
        "a recovering process names the top process and starts no election",
        "highest_alive_takes_over",
    ),
    Mutant(
        "announce-skips-process-0",
        "impl's announcement loop starts at 1, so process 0 never hears it; the spec is right",
        "refinement",
    ),
    Mutant(
        "trusts-direction",
        "impl's validation omits the direction check and handles messages going the wrong way "
        "(an ELECTION from above, a COORDINATOR from below)",
        "faults_change_nothing",
    ),
)

# mutant name -> (spec rule replacements, impl op replacements), applied with attrs.evolve.
# A design bug is put in both spec and impl, so that refinement holds and only an invariant can
# catch it; an impl-only bug is caught by refinement or by faults_change_nothing.
MUTATIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "unreliable-timeout": ({"detects": _always}, {}),
    "announce-without-asking": (
        {"election": _spec_election_without_asking},
        {"election": _impl_election_without_asking},
    ),
    "ignore-lower-coordinator": (
        {"on_coordinator": _spec_ignore_lower},
        {"on_coordinator": _impl_ignore_lower},
    ),
    "recover-without-election": (
        {"on_recover": _spec_recover_silently},
        {"on_recover": _impl_recover_silently},
    ),
    "announce-skips-process-0": ({}, {"announce": _announce_skipping_first}),
    "trusts-direction": ({}, {"validate": _validate_trusting_direction}),
}


def rules_and_ops(
    mutant: Mutant | None, timely_delivery: bool = True
) -> tuple[spec.Rules, impl.BullyOps]:
    """The spec rules and impl ops of the protocol, with ``mutant``'s bug in them.

    ``timely_delivery=False`` drops the synchrony clause of the failure detector (a timeout may
    overtake a message in flight; the awaited process must still have crashed): not a bug of
    the protocol but a weaker environment than the paper's, in which a stale COORDINATOR of a
    crashed coordinator breaks ``agreement_when_quiescent`` (see the spec's docstring).
    """
    rules = spec.SPEC_RULES if timely_delivery else spec.Rules(detects=spec.awaited_crashed)
    if mutant is None:
        return rules, impl.STANDARD_OPS
    spec_patch, impl_patch = MUTATIONS[mutant.name]
    return attrs.evolve(rules, **spec_patch), attrs.evolve(impl.STANDARD_OPS, **impl_patch)


# -- Driving the impl ----------------------------------------------------------------------------


def _message_order(m: impl.Message) -> tuple[str, str, str]:
    kind = m.kind.value if isinstance(m.kind, impl.Kind) else repr(m.kind)
    return (kind, repr(m.sender), repr(m.receiver))


def is_up(node: impl.NodeState) -> bool:
    return node.status is not impl.Status.DOWN


def initial_deployment(n: int) -> Deployment:
    return Deployment(
        nodes=tuple(impl.new(i, n) for i in range(n)),
        network=(),
        crashes=0,
        recoveries=0,
        announced=(*(None,) * (n - 1), tuple(range(n))),
    )


def node_event(action: ModelAction) -> tuple[int, impl.Event]:
    """The process a model action steps and the impl event it hands it (for the oracle too)."""
    if isinstance(action, CrashNode):
        return action.process, impl.Crash()
    if isinstance(action, RecoverNode):
        return action.process, impl.Recover()
    if isinstance(action, Fire):
        return action.process, impl.Timeout(action.timer)
    if isinstance(action, Deliver):
        return action.message.receiver, impl.Receive(action.message)
    return action.process, impl.Receive(action.message)


def apply_step(ops: impl.BullyOps, state: Deployment, action: ModelAction) -> Deployment:
    """Hands the action's event to its process and applies the effects to the network."""
    i, event = node_event(action)
    node, effects = impl.step(state.nodes[i], event, ops)
    nodes = replace_at(state.nodes, i, node)
    network = state.network
    if isinstance(action, Deliver):
        network = tuple(m for m in network if m != action.message)
    if isinstance(action, CrashNode):
        network = tuple(m for m in network if m.receiver != i)
    if effects.sends:
        # the transport: a message to a crashed process (or to no process) is lost
        kept = {
            m
            for m in effects.sends
            if impl.is_nat(m.receiver) and m.receiver < len(nodes) and is_up(nodes[m.receiver])
        }
        network = tuple(sorted(set(network) | kept, key=_message_order))
    announced = state.announced
    if effects.elected == i and node.coordinator == i:
        # ghost: who is up at this announcement
        up = tuple(j for j, other in enumerate(nodes) if is_up(other))
        announced = replace_at(announced, i, up)
    return Deployment(
        nodes=nodes,
        network=network,
        crashes=state.crashes + isinstance(action, CrashNode),
        recoveries=state.recoveries + isinstance(action, RecoverNode),
        announced=announced,
    )


# -- Abstraction and refinement ------------------------------------------------------------------


SPEC_STATUS = {status: spec.Status(status.value) for status in impl.Status}
SPEC_KIND = {kind: spec.Kind(kind.value) for kind in impl.Kind}


def abstract_message(m: impl.Message) -> spec.Message:
    return spec.Message(SPEC_KIND[m.kind], m.sender, m.receiver)


def abstract_network(network: tuple[impl.Message, ...]) -> tuple[spec.Message, ...]:
    return spec.sorted_network(tuple(abstract_message(m) for m in network))


def abstract(
    state: Deployment,
    network: Callable[[tuple[impl.Message, ...]], tuple[spec.Message, ...]] = abstract_network,
) -> spec.SystemState:
    """The abstraction function: phases and coordinators from the processes, the rest as is."""
    return spec.SystemState(
        status=tuple(SPEC_STATUS[node.status] for node in state.nodes),
        coordinator=tuple(node.coordinator for node in state.nodes),
        network=network(state.network),
        crashes=state.crashes,
        recoveries=state.recoveries,
        announced=state.announced,
    )


def spec_action(action: ModelAction) -> spec.Action | str:
    """The spec action a model action stands for, or why there is none."""
    if isinstance(action, CrashNode):
        return spec.Crash(action.process)
    if isinstance(action, RecoverNode):
        return spec.Recover(action.process)
    if isinstance(action, Fire):
        return SPEC_TIMEOUT[action.timer](action.process)
    if isinstance(action, Deliver):
        return SPEC_RECEIVE[action.message.kind](abstract_message(action.message))
    return "a forged message changed the abstract state"


def refinement_problem(
    params: spec.Params,
    rules: spec.Rules,
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
    if not spec.enabled(params, rules, before, expected_action):
        return f"spec action {spec.describe(expected_action)} is not enabled"
    expected = spec.next_state(rules, before, expected_action)
    if expected == after:
        return None
    differences = [
        f"{field}: spec {_show(getattr(expected, field))}, impl {_show(getattr(after, field))}"
        for field in ("status", "coordinator", "network", "crashes", "recoveries", "announced")
        if getattr(expected, field) != getattr(after, field)
    ]
    return f"after spec {spec.describe(expected_action)}: " + "; ".join(differences)


def _show(value: Any) -> str:
    """A field of a spec state, briefly: statuses by name, messages as ``KIND s->r``."""
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    if isinstance(value, spec.Status):
        return value.value
    return str(value)


# -- The model -----------------------------------------------------------------------------------


def params_of(config: Config) -> spec.Params:
    return spec.Params(
        processes=config.params["processes"],
        max_crashes=config.params["crashes"],
        max_recoveries=config.params["recoveries"],
    )


def enabled_actions(
    params: spec.Params, rules: spec.Rules, state: Deployment, project: Callable[[Deployment], Any]
) -> Iterator[CrashNode | RecoverNode | Fire | Deliver]:
    """The honest and environment actions of a state (the forged alphabet aside)."""
    nodes = state.nodes
    for i, node in enumerate(nodes):
        if is_up(node):
            if state.crashes < params.max_crashes:
                yield CrashNode(i)
        elif state.recoveries < params.max_recoveries:
            yield RecoverNode(i)
    abstract_state = None
    for i, node in enumerate(nodes):
        timer = PHASE_TIMER.get(node.status)
        if timer is None:
            continue
        # the failure detector is the spec's: the timeout is enabled in the abstract state
        abstract_state = abstract_state or project(state)
        if spec.timeout_enabled(rules, abstract_state, SPEC_TIMEOUT[timer](i)):
            yield Fire(i, timer)
    for message in state.network:
        yield Deliver(message)


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    params = params_of(config)
    n = params.processes
    rules, ops = rules_and_ops(mutant, config.params.get("timely_delivery", True))
    forged = forged_deliveries(n)

    # -- abstraction, memoized: the explorer checks every property of one state (and both ends
    # of a step) one after the other
    recent: dict[int, tuple[Deployment, spec.SystemState]] = {}
    networks: dict[tuple[impl.Message, ...], tuple[spec.Message, ...]] = {}

    def network(messages: tuple[impl.Message, ...]) -> tuple[spec.Message, ...]:
        found = networks.get(messages)
        if found is None:
            if len(networks) >= 65536:
                networks.clear()
            found = networks[messages] = abstract_network(messages)
        return found

    def project(state: Deployment) -> spec.SystemState:
        hit = recent.get(id(state))
        if hit is not None and hit[0] is state:
            return hit[1]
        projected = abstract(state, network)
        if len(recent) >= 8:
            recent.clear()
        recent[id(state)] = (state, projected)
        return projected

    def initial_states() -> Iterator[Deployment]:
        yield initial_deployment(n)

    def actions(state: Deployment) -> Iterator[ModelAction]:
        yield from enabled_actions(params, rules, state, project)
        # the forged alphabet is always receivable (it adds no state: every one is a stutter)
        for i, message in forged:
            yield DeliverForged(i, message)

    # impl.step is pure, so a forged message's outcome depends only on the node and the message
    changes: dict[tuple[impl.NodeState, impl.Message], bool] = {}

    def next_state(state: Deployment, action: ModelAction) -> Deployment:
        if isinstance(action, DeliverForged):
            key = (state.nodes[action.process], action.message)
            changed = changes.get(key)
            if changed is None:
                node, effects = impl.step(key[0], impl.Receive(action.message), ops)
                changed = changes[key] = node != key[0] or bool(effects.sends)
            if not changed:
                return state
        return apply_step(ops, state, action)

    def refines(pre: Deployment, action: ModelAction, post: Deployment) -> bool:
        return refinement_problem(params, rules, pre, action, post, project) is None

    def explain_refinement(pre: Deployment, action: ModelAction, post: Deployment) -> str:
        return refinement_problem(params, rules, pre, action, post, project) or ""

    def faults_change_nothing(pre: Deployment, action: ModelAction, post: Deployment) -> bool:
        if isinstance(action, DeliverForged):
            return post == pre
        return True

    def explain_fault(pre: Deployment, action: ModelAction, post: Deployment) -> str:
        i = action.process if isinstance(action, DeliverForged) else -1
        sent = sorted(set(post.network) - set(pre.network), key=_message_order)
        return (
            f"process {i} went from {pre.nodes[i].status.value} -> {pre.nodes[i].coordinator} "
            f"to {post.nodes[i].status.value} -> {post.nodes[i].coordinator}; "
            f"sent {[str(Deliver(m)) for m in sent]}"
        )

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
        name="bully",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=spec.invariants(rules, project),  # type: ignore[arg-type]
        step_properties=steps,
        reachables=spec.reachables(rules, project),  # type: ignore[arg-type]
        describe_action=str,
    )


def view(state: Deployment) -> Mapping[str, Any]:
    """Named variables of a deployment, for traces and ITF."""
    return {
        "status": {i: node.status.value for i, node in enumerate(state.nodes)},
        "coordinator": {i: node.coordinator for i, node in enumerate(state.nodes)},
        "network": tuple(
            {"kind": m.kind.value, "sender": m.sender, "receiver": m.receiver}
            for m in state.network
        ),
        "crashes": state.crashes,
        "recoveries": state.recoveries,
        "announced": {i: seen for i, seen in enumerate(state.announced) if seen is not None},
    }


CONFIGS = (
    Config(
        "small",
        "3 processes, at most 3 crashes and 3 recoveries, any delivery order",
        {"processes": 3, "crashes": 3, "recoveries": 3},
        expected_distinct_states=9979,
    ),
    Config(
        "tiny",
        "3 processes, 1 crash and 1 recovery",
        {"processes": 3, "crashes": 1, "recoveries": 1},
        expected_distinct_states=442,
    ),
    Config(
        "pair",
        "2 processes, 1 crash and 1 recovery",
        {"processes": 2, "crashes": 1, "recoveries": 1},
        expected_distinct_states=14,
    ),
    Config(
        "four",
        "4 processes, 1 crash and 1 recovery (exhaustive in about a minute: 162,627 states)",
        {"processes": 4, "crashes": 1, "recoveries": 1},
        Bounds(max_seconds=300),
    ),
    Config(
        "wide",
        "5 processes, at most 3 crashes and 3 recoveries (simulation)",
        {"processes": 5, "crashes": 3, "recoveries": 3},
        Bounds(max_seconds=120),
    ),
)

PROTOCOL = ProtocolEntry(
    name="bully",
    summary="bully leader election under crash-recovery and reliable timeouts (Garcia-Molina 1982)",
    source="Garcia-Molina, IEEE Transactions on Computers C-31(1), 1982: the Bully Algorithm",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)


# -- Hypothesis: random schedules on a larger system ---------------------------------------------


SETTLE_LIMIT = 500  # micro-steps of one ``settle``: far more than any election takes


class BullyMachine(RuleBasedStateMachine):
    """Random schedules of 6 impl processes; every spec invariant after every step.

    Each rule hands one event to one process (through :func:`apply_step`, as the model does) and
    checks refinement on the spot; the ``@invariant`` methods evaluate the spec's predicates on
    the abstraction. Sent messages go to a Bundle that delivery *consumes* (the network delivers
    each message once, in an order Hypothesis draws); a message a crash destroyed is gone from
    the network, and drawing it is a no-op. Timeouts fire only when the spec's failure detector
    allows. ``settle`` lets the network drain (the paper's messages take no time), so that
    elections run to their end between crashes and recoveries. Subclass with ``mutant`` set to
    run the same machine against a shipped bug.
    """

    processes = 6
    budget = 4  # crashes, and recoveries, per run
    mutant: Mutant | None = None
    messages = Bundle("messages")

    def __init__(self) -> None:
        super().__init__()
        self.rules, self.ops = rules_and_ops(self.mutant)
        self.params = spec.Params(self.processes, self.budget, self.budget)
        self.state = initial_deployment(self.processes)

    def _step(self, action: ModelAction) -> Any:
        before = self.state
        self.state = apply_step(self.ops, before, action)
        problem = refinement_problem(self.params, self.rules, before, action, self.state)
        require(problem is None, f"refinement violated by {action}: {problem}")
        sent = sorted(set(self.state.network) - set(before.network), key=_message_order)
        return multiple(*sent)

    def _enabled(self, kind: type) -> list[Any]:
        actions = enabled_actions(self.params, self.rules, self.state, abstract)
        return [a for a in actions if isinstance(a, kind)]

    # -- rules: the environment (crash, recover, timeouts) and the network ---------------------

    @precondition(lambda self: bool(self._enabled(CrashNode)))
    @rule(pick=st.integers(0, 10**6))
    def crash(self, pick: int) -> None:
        candidates = self._enabled(CrashNode)
        self._step(candidates[pick % len(candidates)])

    @precondition(lambda self: bool(self._enabled(RecoverNode)))
    @rule(target=messages, pick=st.integers(0, 10**6))
    def recover(self, pick: int) -> Any:
        candidates = self._enabled(RecoverNode)
        return self._step(candidates[pick % len(candidates)])

    @precondition(lambda self: bool(self._enabled(Fire)))
    @rule(target=messages, pick=st.integers(0, 10**6))
    def timeout(self, pick: int) -> Any:
        candidates = self._enabled(Fire)
        return self._step(candidates[pick % len(candidates)])

    @rule(target=messages, message=consumes(messages))
    def deliver(self, message: impl.Message) -> Any:
        if message not in self.state.network:
            return multiple()  # lost to a crash, or a copy already delivered
        return self._step(Deliver(message))

    @precondition(lambda self: not spec.quiescent(abstract(self.state)))
    @rule(seed=st.integers(0, 2**32 - 1))
    def settle(self, seed: int) -> None:
        """The synchronous network drains: deliveries and enabled timeouts, in an order drawn
        from ``seed``, until nothing is pending (every micro-step checked like a rule)."""
        order = random.Random(seed)
        for _ in range(SETTLE_LIMIT):
            honest = [
                a
                for a in enabled_actions(self.params, self.rules, self.state, abstract)
                if isinstance(a, Deliver | Fire)
            ]
            if not honest or spec.quiescent(abstract(self.state)):
                return
            self._step(order.choice(honest))
            for name, _, predicate in spec.INVARIANTS:
                self._check(name, predicate)

    @rule(which=st.integers(0, 10**6))
    def receive_forged(self, which: int) -> None:
        deliveries = forged_deliveries(self.processes)
        process, message = deliveries[which % len(deliveries)]
        node = self.state.nodes[process]
        after, effects = impl.step(node, impl.Receive(message), self.ops)
        if node.status is not impl.Status.DOWN:
            require(len(effects.faults) == 1, f"forged {message!r} was not a fault")
        require(after == node and not effects.sends, "faults_change_nothing violated")

    # -- invariants: the spec's registry, on the abstraction ------------------------------------

    def _check(self, name: str, predicate: spec.Predicate) -> None:
        abstract_state = abstract(self.state)
        require(
            predicate(self.rules, abstract_state),
            f"{name} violated: {spec.explain(abstract_state)}",
        )

    @invariant()
    def agreement_when_quiescent(self) -> None:
        self._check("agreement_when_quiescent", spec.agreement_when_quiescent)

    @invariant()
    def coordinator_was_highest_alive(self) -> None:
        self._check("coordinator_was_highest_alive", spec.coordinator_was_highest_alive)

    @invariant()
    def highest_alive_takes_over(self) -> None:
        self._check("highest_alive_takes_over", spec.highest_alive_takes_over)


# -- The oracle: canonical encoding, vectors and trace validation --------------------------------
#
# Documents (canonical JSON, see :mod:`.codec`; the schemas are generated from
# :meth:`BullyCodec.schemas`)::
#
#     state    {"process": 1, "processes": 3, "status": "electing", "coordinator": 2}
#              (status: down, normal, electing, waiting; coordinator null while down and
#              possibly after a recovery, never null while normal)
#     event    {"type": "crash"}
#              {"type": "recover"}
#              {"type": "timeout", "timer": "answer"}       (answer, coordinator, check)
#              {"type": "receive", "message": {"kind": "election", "sender": 0, "receiver": 1}}
#     effects  {"sends": [{"kind": "answer", "sender": 1, "receiver": 0}, ...],
#               "timer": "answer",                          (null: no timer armed)
#               "elected": null,                            (the coordinator named, if any)
#               "faults": [{"sender": 7, "kind": "unknown_sender"}]}
#
# Sends are sorted by (receiver, kind). Handlers: ``crash``, ``recover``, ``timeout``,
# ``receive``. A received message's fields are decoded leniently (a kind that is not one of the
# three stays a plain value): a malformed message is the process's to refuse, with a typed
# :class:`impl.FaultKind`, not the decoder's.

_NAT: dict[str, Any] = {"type": "integer", "minimum": 0}
_NULLABLE_NAT: dict[str, Any] = {"anyOf": [{"type": "null"}, _NAT]}


def _loose_to_json(value: Any) -> JSON:
    """A value of a (possibly malformed) received message as JSON."""
    if isinstance(value, impl.Kind):
        return value.value
    try:
        return plain_to_json(value)
    except TypeError:
        return repr(value)


def _message_to_json(message: impl.Message) -> JSON:
    return {
        "kind": _loose_to_json(message.kind),
        "sender": _loose_to_json(message.sender),
        "receiver": _loose_to_json(message.receiver),
    }


def _send_order(message: impl.Message) -> tuple[int, str]:
    return (message.receiver, message.kind.value)


KINDS = {kind.value: kind for kind in impl.Kind}
TIMERS = {timer.value: timer for timer in impl.Timer}
STATUSES = {status.value: status for status in impl.Status}


@attrs.frozen
class BullyCodec:
    """Encoding of a bully process, its events and its effects (the oracle's interface).

    ``ops`` are the process's procedures (:data:`impl.STANDARD_OPS`); an adapter that wants a
    deliberately broken process swaps them with ``attrs.evolve``.
    """

    protocol: str = "bully"
    ops: impl.BullyOps = impl.STANDARD_OPS

    def schemas(self) -> dict[str, Any]:
        """The state, event and effects schemas (see :mod:`.schemas`)."""
        state = object_schema(
            {
                "process": _NAT,
                "processes": {"type": "integer", "minimum": 1},
                "status": {"enum": enum_values(impl.Status)},
                "coordinator": _NULLABLE_NAT,
            }
        )
        event = {
            "oneOf": [
                object_schema({"type": {"const": "crash"}}),
                object_schema({"type": {"const": "recover"}}),
                object_schema(
                    {"type": {"const": "timeout"}, "timer": {"enum": enum_values(impl.Timer)}}
                ),
                object_schema(
                    {
                        "type": {"const": "receive"},
                        # any values: a malformed message is the process's to refuse
                        "message": object_schema({"kind": {}, "sender": {}, "receiver": {}}),
                    }
                ),
            ]
        }
        sent = object_schema(
            {"kind": {"enum": enum_values(impl.Kind)}, "sender": _NAT, "receiver": _NAT}
        )
        effects = object_schema(
            {
                "sends": {"type": "array", "items": sent},
                "timer": {"anyOf": [{"type": "null"}, {"enum": enum_values(impl.Timer)}]},
                "elected": _NULLABLE_NAT,
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
    def encode_state(self, node: impl.NodeState) -> JSON:
        return {
            "process": node.process,
            "processes": node.n,
            "status": node.status.value,
            "coordinator": node.coordinator,
        }

    def decode_state(self, doc: JSON, path: str = "$") -> impl.NodeState:
        expect_object(doc, path, ["process", "processes", "status", "coordinator"])
        n = expect_int(doc["processes"], f"{path}.processes", minimum=1)
        process = expect_int(doc["process"], f"{path}.process", minimum=0)
        if process >= n:
            raise DecodeError(f"{path}.process", f"process {process} out of range for {n}")
        status = STATUSES.get(doc["status"]) if isinstance(doc["status"], str) else None
        if status is None:
            known = ", ".join(STATUSES)
            raise DecodeError(f"{path}.status", f"expected one of {known}, got {doc['status']!r}")
        coordinator = doc["coordinator"]
        if coordinator is not None:
            expect_int(coordinator, f"{path}.coordinator", minimum=0)
            if coordinator >= n:
                raise DecodeError(f"{path}.coordinator", f"no process {coordinator} of {n}")
        if status is impl.Status.DOWN and coordinator is not None:
            raise DecodeError(f"{path}.coordinator", "a crashed process names no coordinator")
        if status is impl.Status.NORMAL and coordinator is None:
            raise DecodeError(f"{path}.coordinator", "a normal process names its coordinator")
        return impl.NodeState(process, n, status, coordinator)

    # events
    def encode_event(self, event: impl.Event) -> JSON:
        if isinstance(event, impl.Crash):
            return {"type": "crash"}
        if isinstance(event, impl.Recover):
            return {"type": "recover"}
        if isinstance(event, impl.Timeout):
            return {"type": "timeout", "timer": event.timer.value}
        return {"type": "receive", "message": _message_to_json(event.message)}

    def decode_event(self, doc: JSON, path: str = "$") -> impl.Event:
        if not isinstance(doc, dict):
            raise DecodeError(path, "expected an object with a field 'type'")
        kind = doc.get("type")
        if kind in ("crash", "recover"):
            expect_object(doc, path, ["type"])
            return impl.Crash() if kind == "crash" else impl.Recover()
        if kind == "timeout":
            expect_object(doc, path, ["type", "timer"])
            timer = TIMERS.get(doc["timer"]) if isinstance(doc["timer"], str) else None
            if timer is None:
                known = ", ".join(TIMERS)
                raise DecodeError(f"{path}.timer", f"expected one of {known}")
            return impl.Timeout(timer)
        if kind == "receive":
            expect_object(doc, path, ["type", "message"])
            fields = ["kind", "sender", "receiver"]
            message = expect_object(doc["message"], f"{path}.message", fields)
            raw_kind = message["kind"]
            known_kind = KINDS.get(raw_kind) if isinstance(raw_kind, str) else None
            # lenient on purpose: the process, not the decoder, refuses a malformed message
            return impl.Receive(
                impl.Message(
                    known_kind or plain_from_json(raw_kind),
                    plain_from_json(message["sender"]),
                    plain_from_json(message["receiver"]),
                )
            )
        raise DecodeError(
            f"{path}.type",
            f"unknown event type {kind!r} (known: crash, receive, recover, timeout)",
        )

    # effects
    def encode_effects(self, effects: impl.Effects) -> JSON:
        return {
            "sends": [_message_to_json(m) for m in sorted(effects.sends, key=_send_order)],
            "timer": None if effects.timer is None else effects.timer.value,
            "elected": effects.elected,
            "faults": [
                {"sender": _loose_to_json(f.sender), "kind": f.kind.value} for f in effects.faults
            ],
        }

    def handler(self, event: impl.Event) -> str:
        return {
            impl.Crash: "crash",
            impl.Recover: "recover",
            impl.Timeout: "timeout",
            impl.Receive: "receive",
        }[type(event)]

    def step(self, node: impl.NodeState, event: impl.Event) -> impl.Step:
        return impl.step(node, event, self.ops)


CODEC = BullyCodec()


def _is_nat(value: Any) -> bool:
    return type(value) is int and value >= 0


def refusal(state: impl.NodeState, message: impl.Message) -> impl.FaultKind | None:
    """Why ``state``'s process must refuse ``message``, or None if it must handle it.

    Every message in the spec's network is one of the three kinds, from another process of the
    configuration, addressed to its receiver, and sent the way the bully rule sends it
    (ELECTION upwards, ANSWER and COORDINATOR downwards). A message that fails one of these can
    be no spec receive; the checks run in the order the impl documents, and the first that
    fails names the fault. (Written here apart from the impl's ``validate``, so that the trace
    checker does not take the implementation's word for it.)
    """
    me, n = state.process, state.n
    if not isinstance(message.kind, impl.Kind):
        return impl.FaultKind.UNKNOWN_KIND
    if not (_is_nat(message.sender) and message.sender < n and message.sender != me):
        return impl.FaultKind.UNKNOWN_SENDER
    if not (_is_nat(message.receiver) and message.receiver == me):
        return impl.FaultKind.MISROUTED
    upwards = message.kind is impl.Kind.ELECTION
    if (message.sender < me) != upwards:
        return impl.FaultKind.WRONG_DIRECTION
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


@attrs.frozen
class Expected:
    """What the spec requires of one step of one process: its new phase, coordinator, effects."""

    status: impl.Status
    coordinator: int | None
    effects: dict[str, Any]
    rule: str  # the spec rule applied, for messages
    refused: bool = False


def _no_effects() -> dict[str, Any]:
    return {"sends": [], "timer": None, "elected": None, "faults": []}


def _spec_view(nodes: tuple[impl.NodeState, ...], i: int, everyone_up: bool) -> spec.SystemState:
    """The processes' states as a spec state with an empty network (the checker has none).

    With ``everyone_up``, the other processes count as up: what process i *sends* does not
    depend on who is up (the transport loses messages to crashed processes, not the sender).
    """
    statuses = []
    for j, node in enumerate(nodes):
        status = SPEC_STATUS[node.status]
        if everyone_up and j != i and status is spec.Status.DOWN:
            status = spec.Status.NORMAL
        statuses.append(status)
    return spec.SystemState(
        status=tuple(statuses),
        coordinator=tuple(node.coordinator for node in nodes),
        network=(),
        crashes=0,
        recoveries=0,
        announced=(None,) * len(nodes),
    )


def expected_step(
    nodes: tuple[impl.NodeState, ...], i: int, event: impl.Event
) -> Expected | tuple[str, str, str]:
    """The spec's step of process i, or the failure when the spec allows no such step.

    The transition is computed by the spec's own rules (:data:`spec.SPEC_RULES`) on the
    processes' states; the failure detector is read off the processes' reported states.
    """
    pre = nodes[i]
    unchanged = Expected(pre.status, pre.coordinator, _no_effects(), "stutter")
    view = _spec_view(nodes, i, everyone_up=True)
    action: spec.Action
    if isinstance(event, impl.Crash):
        if pre.status is impl.Status.DOWN:
            return unchanged
        action = spec.Crash(i)
    elif isinstance(event, impl.Recover):
        if pre.status is not impl.Status.DOWN:
            return (
                "refinement",
                f"spec Recover({i}) enabled: process {i} down",
                f"process {i} is {pre.status.value}",
            )
        action = spec.Recover(i)
    elif isinstance(event, impl.Timeout):
        action = SPEC_TIMEOUT[event.timer](i)
        phase, timer = spec.TIMEOUTS[type(action)]
        stale = SPEC_STATUS[pre.status] is not phase or (
            timer is spec.Timer.CHECK and pre.coordinator == i
        )
        if stale:
            return unchanged  # the phase moved on: the timer is ignored
        if not spec.reliable(_spec_view(nodes, i, everyone_up=False), i, timer):
            awaited = (
                [pre.coordinator]
                if timer is spec.Timer.CHECK
                else [j for j in range(i + 1, len(nodes)) if is_up(nodes[j])]
            )
            return (
                "reliable_failure_detection",
                f"the {event.timer.value} timeout of process {i} fires only when the process "
                "it waits for is down",
                f"process(es) {awaited} up",
            )
    else:
        message = event.message
        if pre.status is impl.Status.DOWN:
            return unchanged  # lost: a crashed process receives nothing
        kind = refusal(pre, message)
        if kind is not None:
            fault = {"sender": _loose_to_json(message.sender), "kind": kind.value}
            effects = {**_no_effects(), "faults": [fault]}
            return Expected(pre.status, pre.coordinator, effects, "refused", refused=True)
        spec_message = abstract_message(message)
        action = SPEC_RECEIVE[message.kind](spec_message)
        view = attrs.evolve(view, network=(spec_message,))
    after = spec.next_state(spec.SPEC_RULES, view, action)
    sends = [m for m in after.network if m.sender == i]
    elected: int | None = None
    if after.announced[i] is not None:
        elected = i
    elif (
        isinstance(action, spec.ReceiveCoordinator)
        and after.status[i] is spec.Status.NORMAL
        and after.coordinator[i] == action.message.sender
    ):
        elected = action.message.sender
    timer: str | None = None
    if any(m.kind is spec.Kind.ELECTION for m in sends):
        timer = impl.Timer.ANSWER.value
    elif view.status[i] is spec.Status.ELECTING and after.status[i] is spec.Status.WAITING:
        timer = impl.Timer.COORDINATOR.value
    elif elected is not None and elected != i:
        timer = impl.Timer.CHECK.value
    effects = {
        "sends": [
            {"kind": m.kind.value, "sender": m.sender, "receiver": m.receiver}
            for m in sorted(sends, key=lambda m: (m.receiver, m.kind.value))
        ],
        "timer": timer,
        "elected": elected,
        "faults": [],
    }
    return Expected(
        STATUSES[after.status[i].value],
        after.coordinator[i],
        effects,
        f"spec {spec.describe(action)}",
    )


def _effects_problem(effects: dict[str, Any], expected: Expected) -> tuple[str, str, str] | None:
    """Compares reported effects with the spec's, field by field; the first difference wins."""
    want = expected.effects
    extra = sorted(set(effects) - set(want))
    if extra:
        return (
            "refinement",
            "effects with exactly the fields elected, faults, sends, timer",
            f"unexpected field {extra[0]!r}",
        )
    for field in ("faults", "sends", "timer", "elected"):
        got = effects.get(field)
        if _strictly_equal(want[field], got):
            continue
        observed = f"{field}: {dumps_line(got)}" if field in effects else f"no field {field!r}"
        if expected.refused:
            fault = want["faults"][0]
            return (
                "typed_fault",
                f"the message refused: one fault {fault['kind']} from sender "
                f"{dumps_line(fault['sender'])}, no sends, no timer, nothing elected",
                observed,
            )
        if field == "faults":
            return ("typed_fault", "no fault: the event is one the spec allows", observed)
        return (
            "refinement",
            f"after {expected.rule}: {field}: {dumps_line(want[field])}",
            observed,
        )
    return None


def step_checker(codec: BullyCodec = CODEC) -> Any:
    """Trace validation of one process step against the spec (see :mod:`.validate`).

    Checked for each step, with the spec's own rules applied to the processes' reported states
    (:func:`expected_step`): the process's identity never changes and matches its place in the
    trace (``identity``); a crash leaves it DOWN; a recovery happens only to a DOWN process and
    runs ``Election``; a timeout fires only when the process it waits for is DOWN in the trace
    (``reliable_failure_detection``), and a stale timer changes nothing; a message that cannot
    be in the spec's network (see :func:`refusal`) leaves the state unchanged
    (``faults_change_nothing``) and is reported as one fault of the right kind
    (``typed_fault``); otherwise the new phase, coordinator, messages sent, timer and
    coordinator elected are the spec's (``refinement``).

    Streaming: the check reads the processes' states before the step and nothing else, so memory
    does not grow with the trace. What a single step cannot show is left to the model checker:
    that a received message was really sent and is delivered once, the ordering of timeouts
    after deliveries, and the invariants that need the network (quiescence).
    """
    from .validate import StepChecker

    def check(
        nodes: tuple[impl.NodeState, ...],
        i: int,
        event: impl.Event,
        post: impl.NodeState,
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
        expected = expected_step(nodes, i, event)
        if isinstance(expected, tuple):
            return expected
        got = (post.status, post.coordinator)
        if got != (expected.status, expected.coordinator):
            want = f"{expected.status.value} naming {expected.coordinator}"
            seen = f"{post.status.value} naming {post.coordinator}"
            if expected.refused:
                return (
                    "faults_change_nothing",
                    f"state stays {want}: the message is refused",
                    seen,
                )
            return ("refinement", f"after {expected.rule}: {want}", seen)
        if effects is None:
            return None
        return _effects_problem(effects, expected)

    return StepChecker(codec=codec, initial_node=impl.new, check=check)


ORACLE = OracleBinding(
    codec=CODEC,
    # traces come from "tiny": three processes, a crash and a recovery
    configs=("tiny", "pair"),
    node_event=node_event,
    nodes=lambda state: state.nodes,
    initial_node=impl.new,
    step_checker=step_checker(CODEC),
)
