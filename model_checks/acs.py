"""ACS: bounded model of the spec, mutants, and a Hypothesis machine driving the sans-IO impl.

Sources: HoneyBadgerBFT (Miller et al., CCS 2016) §4.4, Figure 4; see
:mod:`mnemosyne_consensus.spec.acs`.

The exhaustive model explores the *spec* (abstract RBC and ABA instances with exactly their
guarantees, a Byzantine proposer that chooses its RBC's value or stays silent, the adversary
scheduling every delivery and every decision). The implementation, which composes n real
Bracha RBC nodes (:mod:`mnemosyne_consensus.impl.rbc`) with n ABA ports, is checked by
:class:`AcsMachine`: random schedules at n = 4 and 7 with a Byzantine node sending any RBC
message to any subset of nodes (equivocation, selective sending), the ideal ABA functionality
(one decision per instance, a bit some correct node input), the impl abstracted to the spec's
state after every step and every spec invariant evaluated there, and at the end a fair
completion (every message delivered, every BA decided) after which every correct node must
have output.

:func:`run_embedded` runs the impl with *embedded* binary agreements instead of the ideal one:
real Bracha RBC, the MMR ABA with the CONF round (:mod:`mnemosyne_consensus.impl.aba`) and the
real threshold coin, every message through a seeded scheduler, at n = 4 and 7.

The oracle (``CODEC``, ``node_event``, ``step_checker``, ``ORACLE``) encodes an ACS node with
ABA ports: vectors and traces come from the configs ``impl-decide`` and ``impl`` (the impl as a
model: correct nodes, the pool of their broadcasts, the ideal ABA, and a fixed Byzantine
alphabet of equivocating, misaddressed and malformed messages, one per fault kind), and the step
checker re-derives each step from HB Figures 2 and 4 (:func:`expected_step`).

Measured (one core, loaded machine): ``default`` (n = 4, f = 1, the Byzantine proposer's RBC
may deliver a value or nothing) has 53,369 distinct states in 4-13 s; ``tiny`` (silent
Byzantine proposer) 3,718 in under a second. ``per-node`` (each correct node outputs each BA
decision in its own step: no reduction) is bounded by time; ``n7`` (n = 7, f = 2) is for
simulation; ``impl`` and ``impl-decide`` are bounded by states (20,000).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ..impl import acs as impl
from ..impl import rbc as rbc_impl
from ..impl import threshold_coin as coin
from ..spec import acs as spec
from .codec import (
    JSON,
    DecodeError,
    dumps_line,
    expect_array,
    expect_int,
    expect_object,
    expect_str,
    object_schema,
    plain_from_json,
    plain_to_json,
)
from .engine import Bounds, Model
from .machines import require
from .registry_types import Config, Mutant, ProtocolEntry
from .vectors import OracleBinding

CONFIGS = (
    Config(
        "default",
        "n = 4, f = 1: the Byzantine proposer's RBC delivers its value 'x' or nothing; every "
        "delivery and decision order; BA decisions output at every node at once",
        {"n": 4, "f": 1, "byzantine_values": ("x",)},
        expected_distinct_states=53369,
    ),
    Config(
        "tiny",
        "n = 4, f = 1, the Byzantine proposer silent",
        {"n": 4, "f": 1, "byzantine_values": ()},
        expected_distinct_states=3718,
    ),
    Config(
        "per-node",
        "n = 4, f = 1, each node outputs each BA decision in its own step (bounded by time)",
        {"n": 4, "f": 1, "byzantine_values": ("x",), "per_node_ba_output": True},
        bounds=Bounds(max_seconds=30),
    ),
    Config(
        "n7",
        "n = 7, f = 2 (for --simulate)",
        {"n": 7, "f": 2, "byzantine_values": ("x",)},
        bounds=Bounds(max_seconds=30),
    ),
    Config(
        "impl",
        "the impl (real Bracha RBC, ideal ABA) at n = 4, f = 1 with a Byzantine alphabet; "
        "bounded by states (the oracle's vectors and traces come from it)",
        {"n": 4, "f": 1, "impl": True},
        bounds=Bounds(max_states=20_000),
    ),
    Config(
        "impl-decide",
        "the impl as in 'impl', from the state where every correct broadcast reached every "
        "correct node (the BA phase: decisions, zero inputs and outputs)",
        {"n": 4, "f": 1, "impl": True, "start": "delivered"},
        bounds=Bounds(max_states=20_000),
    ),
)

MUTANTS = (
    Mutant(
        "output-before-n-f-ones",
        "outputs once n - f - 1 BAs decided 1 (and their RBCs delivered), before n - f did",
        "enough_proposals",
        config="default",
    ),
    Mutant(
        "output-without-waiting-for-all-bas",
        "outputs once n - f BAs decided 1, without waiting for the other BAs to complete",
        "agreement",
        config="default",
    ),
    Mutant(
        "zero-input-after-f-plus-1-ones",
        "inputs 0 to the remaining BAs after f + 1 ones instead of n - f",
        "enough_correct_proposals",
        config="default",
    ),
    Mutant(
        "union-of-delivered",
        "outputs the values of every delivered RBC, not of those whose BA decided 1",
        "output_integrity",
        config="default",
    ),
)

MUTATIONS: dict[str, dict[str, Any]] = {
    "output-before-n-f-ones": {"wait_for_all": False, "early_ones": lambda n, f: n - f - 1},
    "output-without-waiting-for-all-bas": {"wait_for_all": False},
    "zero-input-after-f-plus-1-ones": {"zero_threshold": lambda n, f: f + 1},
    "union-of-delivered": {"union_of_delivered": True},
}


def rules_for(mutant: Mutant | None) -> spec.Rules:
    if mutant is None:
        return spec.SPEC_RULES
    return attrs.evolve(spec.SPEC_RULES, **MUTATIONS[mutant.name])


def params_of(config: Config) -> spec.Params:
    p = config.params
    return spec.Params(
        p["n"],
        p["f"],
        tuple(p.get("byzantine_values", ("x",))),
        bool(p.get("per_node_ba_output", False)),
    )


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    if config.params.get("impl"):
        return build_impl(config, mutant)
    params = params_of(config)
    rules = rules_for(mutant)

    def initial_states() -> Iterator[spec.SystemState]:
        yield spec.initial_state(params)

    def actions(state: spec.SystemState) -> Iterator[spec.Action]:
        return spec.enabled_actions(params, state)

    def next_state(state: spec.SystemState, action: spec.Action) -> spec.SystemState:
        return spec.apply(rules, params, state, action)

    return Model(
        name="acs",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=spec.invariants(params),
        reachables=spec.reachables(params),
        describe_action=str,
    )


def view(state: spec.SystemState) -> Mapping[str, Any]:
    """Named variables of a state, for traces and ITF."""
    n = len(state.rbc_value)

    def bits(mask: int) -> tuple[int, ...]:
        return tuple(j for j in range(n) if mask >> j & 1)

    return {
        "rbc_value": {j: v for j, v in enumerate(state.rbc_value) if v is not None},
        "ba_decision": {j: d for j, d in enumerate(state.ba_decision) if d is not None},
        "delivered": {i: bits(m) for i, m in enumerate(state.delivered)},
        "ba_input": {
            i: {j: b for j, b in enumerate(row) if b != spec.NO_INPUT}
            for i, row in enumerate(state.ba_input)
        },
        "ba_output": {i: bits(m) for i, m in enumerate(state.ba_output)},
        "output": {i: o for i, o in enumerate(state.output) if o is not None},
    }


PROTOCOL = ProtocolEntry(
    name="acs",
    summary="asynchronous common subset: n RBC + n ABA instances (HoneyBadgerBFT Figure 4)",
    source="Miller, Xia, Croman, Shi, Song, The Honey Badger of BFT Protocols, CCS 2016, §4.4",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)


# -- The impl under random schedules ------------------------------------------------------------


@attrs.frozen
class Deployment:
    """The correct nodes (impl), the messages sent, and the ideal ABA functionality."""

    # correct nodes 0..n-f-1 (impl state); the Byzantine nodes are n-f..n-1
    nodes: tuple[impl.Node, ...]
    # network: every message sent, (sender, receivers, message) in order of sending
    pool: tuple[tuple[int, tuple[int, ...], rbc_impl.Message], ...]
    # (message index, receiver) pairs already delivered
    deliveries: frozenset[tuple[int, int]]
    # the ideal ABA: BA_j's decision (None: not yet)
    decisions: tuple[int | None, ...]


def abstract(dep: Deployment, n: int, f: int) -> spec.SystemState:
    """The spec state of a deployment (RBC values: the value some correct node delivered)."""
    rbc_value: list[str | None] = [None] * n
    for node in dep.nodes:
        for j, v in enumerate(node.delivered):
            if v is not None and rbc_value[j] is None:
                rbc_value[j] = v
    return spec.SystemState(
        rbc_value=tuple(rbc_value),
        ba_decision=dep.decisions,
        delivered=tuple(
            sum(1 << j for j, v in enumerate(node.delivered) if v is not None) for node in dep.nodes
        ),
        ba_input=tuple(
            tuple(spec.NO_INPUT if b is None else b for b in node.ba_input) for node in dep.nodes
        ),
        ba_output=tuple(
            sum(1 << j for j, d in enumerate(node.ba_decision) if d is not None)
            for node in dep.nodes
        ),
        output=tuple(node.output for node in dep.nodes),
    )


def rbc_agreement(dep: Deployment) -> bool:
    """RBC agreement, as the composition relies on it: one value per instance at correct nodes."""
    for j in range(len(dep.decisions)):
        if len({node.delivered[j] for node in dep.nodes} - {None}) > 1:
            return False
    return True


class AcsMachine(RuleBasedStateMachine):
    """Random schedules of the impl at ``N`` nodes, ``F`` of them Byzantine (override both)."""

    N = 4
    F = 1
    VALUES = ("x", "y")

    def __init__(self) -> None:
        super().__init__()
        n, f = self.N, self.F
        self.params = spec.Params(n, f, self.VALUES)
        nodes = tuple(impl.new_node(impl.NodeConfig(i, n, f)) for i in range(n - f))
        self.dep = Deployment(nodes, (), frozenset(), (None,) * n)

    # -- helpers
    @property
    def correct(self) -> range:
        return range(self.N - self.F)

    def _send(
        self, sender: int, to: tuple[int, ...], messages: tuple[rbc_impl.Message, ...]
    ) -> None:
        pool = self.dep.pool + tuple((sender, to, m) for m in messages)
        self.dep = attrs.evolve(self.dep, pool=pool)

    def _apply(self, i: int, event: impl.Event) -> None:
        node = self.dep.nodes[i]
        new, effects = impl.step(node, event)
        if effects.faults:
            require(new == node, f"node {i}: a fault changed the state")
        nodes = (*self.dep.nodes[:i], new, *self.dep.nodes[i + 1 :])
        self.dep = attrs.evolve(self.dep, nodes=nodes)
        others = tuple(k for k in range(self.N) if k != i)
        self._send(i, others, effects.broadcasts)

    # -- rules
    @rule(data=st.data())
    def propose(self, data: st.DataObject) -> None:
        i = data.draw(st.sampled_from(self.correct))
        if self.dep.nodes[i].rbcs[i].val is None:
            self._apply(i, impl.Propose(spec.proposal(i)))

    @rule(
        data=st.data(),
        kind=st.sampled_from(rbc_impl.KINDS),
        value=st.sampled_from(VALUES),
    )
    def byzantine_send(self, data: st.DataObject, kind: str, value: str) -> None:
        sender = data.draw(st.sampled_from(range(self.N - self.F, self.N)))
        instance = data.draw(st.sampled_from(range(self.N)))
        to = data.draw(st.lists(st.sampled_from(self.correct), min_size=1, unique=True))
        self._send(sender, tuple(sorted(to)), (rbc_impl.Message(kind, instance, value),))

    @precondition(lambda self: bool(self.dep.pool))
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        k = data.draw(st.integers(0, len(self.dep.pool) - 1))
        sender, to, message = self.dep.pool[k]
        receivers = [i for i in to if i in self.correct and (k, i) not in self.dep.deliveries]
        if not receivers:
            return
        i = data.draw(st.sampled_from(receivers))
        self.dep = attrs.evolve(self.dep, deliveries=self.dep.deliveries | {(k, i)})
        self._apply(i, impl.Receive(sender, message))

    @rule(data=st.data())
    def ba_decide(self, data: st.DataObject) -> None:
        j = data.draw(st.sampled_from(range(self.N)))
        inputs = sorted({node.ba_input[j] for node in self.dep.nodes} - {None})
        if self.dep.decisions[j] is not None or not inputs:
            return
        bit = data.draw(st.sampled_from(inputs))  # ABA validity: some correct node's input
        decisions = (*self.dep.decisions[:j], bit, *self.dep.decisions[j + 1 :])
        self.dep = attrs.evolve(self.dep, decisions=decisions)

    @rule(data=st.data())
    def ba_output(self, data: st.DataObject) -> None:
        i = data.draw(st.sampled_from(self.correct))
        j = data.draw(st.sampled_from(range(self.N)))
        bit = self.dep.decisions[j]
        if bit is not None and self.dep.nodes[i].ba_decision[j] is None:
            self._apply(i, impl.AbaDecided(j, bit))

    @rule()
    def fair_completion(self) -> None:
        """Everything sent is delivered, every BA decides once all correct nodes input: every
        correct node outputs (the liveness of Figure 4 given live RBC and ABA)."""
        for i in self.correct:
            if self.dep.nodes[i].rbcs[i].val is None:
                self._apply(i, impl.Propose(spec.proposal(i)))
        for _ in range(10_000):
            progressed = False
            for k, (sender, to, message) in enumerate(self.dep.pool):
                for i in to:
                    if i in self.correct and (k, i) not in self.dep.deliveries:
                        deliveries = self.dep.deliveries | {(k, i)}
                        self.dep = attrs.evolve(self.dep, deliveries=deliveries)
                        self._apply(i, impl.Receive(sender, message))
                        progressed = True
            for j in range(self.N):
                inputs = [node.ba_input[j] for node in self.dep.nodes]
                if self.dep.decisions[j] is None and None not in inputs:
                    bit = inputs[0]
                    assert bit is not None
                    decisions = (*self.dep.decisions[:j], bit, *self.dep.decisions[j + 1 :])
                    self.dep = attrs.evolve(self.dep, decisions=decisions)
                    progressed = True
                for i in self.correct:
                    if (
                        self.dep.decisions[j] is not None
                        and self.dep.nodes[i].ba_decision[j] is None
                    ):
                        self._apply(i, impl.AbaDecided(j, self.dep.decisions[j]))
                        progressed = True
            if not progressed:
                break
        for i in self.correct:
            require(self.dep.nodes[i].output is not None, f"node {i} never output")

    # -- invariants: the spec's, on the abstraction of the impl
    @invariant()
    def spec_invariants_hold(self) -> None:
        require(rbc_agreement(self.dep), "two correct nodes delivered different RBC values")
        state = abstract(self.dep, self.N, self.F)
        for inv in spec.invariants(self.params):
            require(inv.holds(state), f"{inv.name}: {spec.explain_outputs(self.params, state)}")


class AcsMachineSeven(AcsMachine):
    N = 7
    F = 2


# -- The impl with embedded binary agreements (real RBC, real MMR ABA, real threshold coin) -----


def run_embedded(
    n: int, f: int, seed: int, max_round: int = 40, byzantine_value: str | None = "x"
) -> dict[str, Any]:
    """One ACS session of n − f correct impl nodes with *embedded* ABAs under a seeded random
    scheduler: every RBC, BVAL/AUX/CONF/TERM and coin-share message goes through the network. The
    Byzantine nodes send a VAL of ``byzantine_value`` (None: silent) and nothing else.

    Returns the correct nodes' outputs, the messages delivered, and whether all output.
    """
    rng = random.Random(seed)
    public, secrets = coin.deal_coin(n, f + 1, b"mnemosyne/acs/coin/" + bytes([n, f]))
    correct = range(n - f)
    nodes = [
        impl.new_node(impl.NodeConfig(i, n, f, impl.AbaSetup(max_round, public, secrets[i])))
        for i in correct
    ]
    inbox: list[list[tuple[int, Any]]] = [[] for _ in correct]

    def send(sender: int, messages: tuple[Any, ...]) -> None:
        for m in messages:
            for k in correct:
                if k != sender:
                    inbox[k].append((sender, m))

    for i in correct:
        nodes[i], eff = impl.step(nodes[i], impl.Propose(spec.proposal(i)))
        send(i, eff.broadcasts)
    if byzantine_value is not None:
        for b in range(n - f, n):
            send(b, (rbc_impl.Message(rbc_impl.VAL, b, byzantine_value),))
    delivered = 0
    while any(inbox) and delivered < 2_000_000:
        i = rng.choice([k for k in correct if inbox[k]])
        sender, m = inbox[i].pop(rng.randrange(len(inbox[i])))
        nodes[i], eff = impl.step(nodes[i], impl.Receive(sender, m))
        require(not eff.faults, f"node {i} refused a correct message: {eff.faults}")
        send(i, eff.broadcasts)
        delivered += 1
    outputs = [node.output for node in nodes]
    return {
        "outputs": outputs,
        "all_output": all(o is not None for o in outputs),
        "agreement": len({o for o in outputs if o is not None}) <= 1,
        "messages": delivered,
    }


# -- The impl as a model (the oracle's source of vectors and traces) ----------------------------


@attrs.frozen(cache_hash=True)
class ImplDeployment:
    """Correct impl nodes (ports mode), the messages they sent, the ideal ABA's decisions."""

    nodes: tuple[impl.Node, ...]
    # network: every (sender, message) a correct node broadcast, sorted; never removed
    pool: tuple[tuple[int, rbc_impl.Message], ...]
    decisions: tuple[int | None, ...]


@attrs.frozen
class ImplPropose:
    node: int

    def __str__(self) -> str:
        return f"node {self.node}: proposes v{self.node}"


@attrs.frozen
class ImplDeliver:
    """Node ``node`` receives ``message`` from ``sender`` (from the pool or the alphabet)."""

    node: int
    sender: Any
    message: Any
    forged: bool = False

    def __str__(self) -> str:
        what = "forged " if self.forged else ""
        return f"node {self.node}: receives {what}{self.message!r} from {self.sender!r}"


@attrs.frozen
class ImplAbaDecided:
    """The ideal BA_instance decides ``bit`` (if undecided) and node ``node`` outputs it."""

    node: int
    instance: int
    bit: int

    def __str__(self) -> str:
        return f"node {self.node}: BA_{self.instance} outputs {self.bit}"


ImplAction = ImplPropose | ImplDeliver | ImplAbaDecided


def byzantine_alphabet(n: int, f: int) -> tuple[tuple[Any, Any], ...]:
    """What the Byzantine node (n − 1) and impostors can send: fixed, not state.

    Its own broadcast equivocates (VAL 'x' and VAL 'y'), it echoes and readies 'x' in its own
    instance and 'y' in instance 0, plus one message per ACS/RBC fault kind.
    """
    b = n - 1
    M = rbc_impl.Message
    return (
        (b, M(rbc_impl.VAL, b, "x")),
        (b, M(rbc_impl.VAL, b, "y")),
        (b, M(rbc_impl.ECHO, b, "x")),
        (b, M(rbc_impl.READY, b, "x")),
        (b, M(rbc_impl.READY, 0, "y")),
        (b, M(rbc_impl.VAL, 0, "v0")),  # NOT_SENDER
        (b, M(rbc_impl.ECHO, n + 3, "x")),  # UNKNOWN_INSTANCE
        (b, "junk"),  # MALFORMED (ACS level)
        (b, M("shout", 0, "x")),  # MALFORMED (RBC level)
        (n + 1, M(rbc_impl.ECHO, 0, "v0")),  # UNKNOWN_SENDER
    )


def build_impl(config: Config, mutant: Mutant | None = None) -> Model[Any, Any]:
    """The impl deployment as a model (not exhaustible: bounded by ``config.bounds``)."""
    n, f = config.params["n"], config.params["f"]
    params = spec.Params(n, f, ("x", "y"))
    alphabet = byzantine_alphabet(n, f)
    correct = range(n - f)

    def initial_states() -> Iterator[ImplDeployment]:
        nodes = tuple(impl.new_node(impl.NodeConfig(i, n, f)) for i in correct)
        state = ImplDeployment(nodes, (), (None,) * n)
        if config.params.get("start") == "delivered":
            state = _after_broadcasts(state, next_state)
        yield state

    def actions(state: ImplDeployment) -> Iterator[ImplAction]:
        for i in correct:
            if state.nodes[i].rbcs[i].val is None:
                yield ImplPropose(i)
        for i in correct:
            for sender, message in state.pool:
                if sender != i and _news(state.nodes[i], sender, message):
                    yield ImplDeliver(i, sender, message)
            for sender, message in alphabet:
                yield ImplDeliver(i, sender, message, forged=True)
        for j in range(n):
            d = state.decisions[j]
            bits = (
                (d,)
                if d is not None
                else sorted({node.ba_input[j] for node in state.nodes} - {None})
            )
            for bit in bits:
                for i in correct:
                    if state.nodes[i].ba_decision[j] is None:
                        yield ImplAbaDecided(i, j, bit)

    def next_state(state: ImplDeployment, action: ImplAction) -> ImplDeployment:
        i, event = node_event(action)
        node, effects = impl.step(state.nodes[i], event)
        decisions = state.decisions
        if isinstance(action, ImplAbaDecided):
            j = action.instance
            decisions = (*decisions[:j], action.bit, *decisions[j + 1 :])
        pool = state.pool
        if effects.broadcasts:
            sent = {(i, m) for m in effects.broadcasts if isinstance(m, rbc_impl.Message)}
            pool = tuple(sorted(set(pool) | sent, key=repr))
        if node == state.nodes[i] and pool == state.pool and decisions == state.decisions:
            return state
        nodes = (*state.nodes[:i], node, *state.nodes[i + 1 :])
        return ImplDeployment(nodes, pool, decisions)

    def abstract_state(state: ImplDeployment) -> spec.SystemState:
        return abstract(Deployment(state.nodes, (), frozenset(), state.decisions), n, f)

    def faults_change_nothing(
        pre: ImplDeployment, action: ImplAction, post: ImplDeployment
    ) -> bool:
        i, event = node_event(action)
        _, effects = impl.step(pre.nodes[i], event)
        return not effects.faults or post.nodes[i] == pre.nodes[i]

    invariants = tuple(
        attrs.evolve(inv, holds=(lambda s, h=inv.holds: h(abstract_state(s))), explain=None)
        for inv in spec.invariants(params)
    )
    from ..spec.properties import StepProperty

    return Model(
        name="acs-impl",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=invariants,
        step_properties=(
            StepProperty(
                "faults_change_nothing",
                "a refused message leaves the node unchanged",
                faults_change_nothing,
            ),
        ),
        describe_action=str,
    )


def _news(node: impl.Node, sender: int, message: rbc_impl.Message) -> bool:
    """Whether a correct node's broadcast is news to ``node`` (a second delivery is a DUPLICATE
    stutter, which the Byzantine alphabet's repeats already cover)."""
    r = node.rbcs[message.instance]
    if r.delivered is not None:
        return False
    if message.kind == rbc_impl.VAL:
        return r.val is None
    if message.kind == rbc_impl.ECHO:
        return r.readied is None and all(s != sender for s, _ in r.echoes)
    return all(s != sender for s, _ in r.readies)


def _after_broadcasts(state: ImplDeployment, next_state: Any) -> ImplDeployment:
    """Every correct node proposes and every broadcast reaches every correct node (in a fixed
    order): the start of the BA phase, where the oracle's decision and output cases live."""
    for i in range(len(state.nodes)):
        state = next_state(state, ImplPropose(i))
    done: set[tuple[int, int, rbc_impl.Message]] = set()
    while True:
        todo = [
            (i, sender, m)
            for sender, m in state.pool
            for i in range(len(state.nodes))
            if i != sender and (i, sender, m) not in done
        ]
        if not todo:
            return state
        for i, sender, m in todo:
            done.add((i, sender, m))
            state = next_state(state, ImplDeliver(i, sender, m))


def node_event(action: ImplAction) -> tuple[int, impl.Event]:
    """The node a model action steps and the impl event it hands it (for the oracle)."""
    if isinstance(action, ImplPropose):
        return action.node, impl.Propose(spec.proposal(action.node))
    if isinstance(action, ImplDeliver):
        return action.node, impl.Receive(action.sender, action.message)
    return action.node, impl.AbaDecided(action.instance, action.bit)


# -- Oracle: the canonical encoding of an ACS node (ports mode), its events and effects ---------

_NAT = {"type": "integer", "minimum": 0}
_BIT_OR_NULL = {"enum": [0, 1, None]}
_STR_OR_NULL = {"type": ["string", "null"]}
_PAIRS = {
    "type": "array",
    "items": {
        "type": "array",
        "prefixItems": [_NAT, {"type": "string"}],
        "minItems": 2,
        "maxItems": 2,
    },
}
_MESSAGE = {
    "type": "object",
    "properties": {
        "kind": {"enum": list(rbc_impl.KINDS)},
        "instance": _NAT,
        "value": {"type": "string"},
    },
    "required": ["instance", "kind", "value"],
    "additionalProperties": False,
}


def _message_to_json(message: Any) -> Any:
    if isinstance(message, rbc_impl.Message):
        return {
            "kind": plain_to_json(message.kind),
            "instance": plain_to_json(message.instance),
            "value": plain_to_json(message.value),
        }
    return plain_to_json(message)


def _message_from_json(doc: Any) -> Any:
    """Lenient: a received message decodes to what it says; the node's validation speaks."""
    if isinstance(doc, dict) and set(doc) == {"kind", "instance", "value"}:
        return rbc_impl.Message(*(plain_from_json(doc[k]) for k in ("kind", "instance", "value")))
    return plain_from_json(doc)


def _opt_str(doc: Any, path: str) -> str | None:
    return None if doc is None else expect_str(doc, path)


def _opt_bit(doc: Any, path: str) -> int | None:
    if doc is None:
        return None
    bit = expect_int(doc, path, minimum=0)
    if bit > 1:
        raise DecodeError(path, f"expected 0, 1 or null, got {bit}")
    return bit


def _pairs(doc: Any, path: str, n: int) -> tuple[tuple[int, str], ...]:
    out = []
    for k, item in enumerate(expect_array(doc, path)):
        p = f"{path}[{k}]"
        if not isinstance(item, list) or len(item) != 2:
            raise DecodeError(p, "expected a pair [node, value]")
        who = expect_int(item[0], f"{p}[0]", minimum=0)
        if who >= n:
            raise DecodeError(f"{p}[0]", f"node {who} is not one of 0..{n - 1}")
        out.append((who, expect_str(item[1], f"{p}[1]")))
    if out != sorted(set(out)):
        raise DecodeError(path, "expected sorted pairs without repeats")
    return tuple(out)


@attrs.frozen
class AcsCodec:
    """Encoding of an ACS node with ABA ports (embedded ABAs are not part of the oracle)."""

    protocol: str = "acs"

    def schemas(self) -> dict[str, Any]:
        n_list = {"type": "array", "items": _STR_OR_NULL}
        rbc_state = object_schema(
            {
                "echoed": _STR_OR_NULL,
                "readied": _STR_OR_NULL,
                "delivered": _STR_OR_NULL,
                "val": _STR_OR_NULL,
                "echoes": _PAIRS,
                "readies": _PAIRS,
            }
        )
        state = object_schema(
            {
                "me": _NAT,
                "n": {"type": "integer", "minimum": 1},
                "f": _NAT,
                "rbcs": {"type": "array", "items": rbc_state},
                "delivered": n_list,
                "ba_input": {"type": "array", "items": _BIT_OR_NULL},
                "ba_decision": {"type": "array", "items": _BIT_OR_NULL},
                "output": {"oneOf": [{"type": "null"}, _PAIRS]},
            }
        )
        event = {
            "oneOf": [
                object_schema({"type": {"const": "propose"}, "value": {"type": "string"}}),
                object_schema({"type": {"const": "receive"}, "sender": {}, "message": {}}),
                object_schema(
                    {"type": {"const": "aba_decided"}, "instance": _NAT, "bit": {"enum": [0, 1]}}
                ),
            ]
        }
        fault = object_schema(
            {
                "sender": {},
                "kind": {
                    "enum": sorted(
                        {k.value for k in impl.FaultKind} | {k.value for k in rbc_impl.FaultKind}
                    )
                },
                "instance": {"type": ["integer", "null"]},
            }
        )
        effects = object_schema(
            {
                "broadcasts": {"type": "array", "items": _MESSAGE},
                "aba_inputs": {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "prefixItems": [_NAT, {"enum": [0, 1]}],
                        "minItems": 2,
                        "maxItems": 2,
                    },
                },
                "output": {"oneOf": [{"type": "null"}, _PAIRS]},
                "faults": {"type": "array", "items": fault},
            }
        )
        return {"state": state, "event": event, "effects": effects}

    def encode_state(self, node: impl.Node) -> JSON:
        c = node.config
        if c.aba is not None:
            raise ValueError("the oracle encodes ACS nodes with ABA ports only")
        return {
            "me": c.me,
            "n": c.n,
            "f": c.f,
            "rbcs": [
                {
                    "echoed": r.echoed,
                    "readied": r.readied,
                    "delivered": r.delivered,
                    "val": r.val,
                    "echoes": [list(p) for p in r.echoes],
                    "readies": [list(p) for p in r.readies],
                }
                for r in node.rbcs
            ],
            "delivered": list(node.delivered),
            "ba_input": list(node.ba_input),
            "ba_decision": list(node.ba_decision),
            "output": None if node.output is None else [list(p) for p in node.output],
        }

    def decode_state(self, doc: JSON, path: str = "$") -> impl.Node:
        fields = ["me", "n", "f", "rbcs", "delivered", "ba_input", "ba_decision", "output"]
        expect_object(doc, path, fields)
        n = expect_int(doc["n"], f"{path}.n", minimum=1)
        f = expect_int(doc["f"], f"{path}.f", minimum=0)
        me = expect_int(doc["me"], f"{path}.me", minimum=0)
        if me >= n:
            raise DecodeError(f"{path}.me", f"node {me} is not one of 0..{n - 1}")
        if 3 * f >= n:
            raise DecodeError(f"{path}.f", f"n = {n} needs 3f < n, got f = {f}")

        def row(name: str, item: Any) -> tuple[Any, ...]:
            items = expect_array(doc[name], f"{path}.{name}")
            if len(items) != n:
                raise DecodeError(f"{path}.{name}", f"expected {n} entries")
            return tuple(item(v, f"{path}.{name}[{k}]") for k, v in enumerate(items))

        rbcs = []
        for j, r in enumerate(row("rbcs", lambda v, p: v)):
            p = f"{path}.rbcs[{j}]"
            expect_object(r, p, ["echoed", "readied", "delivered", "val", "echoes", "readies"])
            rbcs.append(
                rbc_impl.Node(
                    rbc_impl.NodeConfig(me, n, f, j),
                    _opt_str(r["echoed"], f"{p}.echoed"),
                    _opt_str(r["readied"], f"{p}.readied"),
                    _opt_str(r["delivered"], f"{p}.delivered"),
                    _opt_str(r["val"], f"{p}.val"),
                    _pairs(r["echoes"], f"{p}.echoes", n),
                    _pairs(r["readies"], f"{p}.readies", n),
                )
            )
        output = None if doc["output"] is None else _pairs(doc["output"], f"{path}.output", n)
        return impl.Node(
            impl.NodeConfig(me, n, f),
            tuple(rbcs),
            row("delivered", _opt_str),
            row("ba_input", _opt_bit),
            row("ba_decision", _opt_bit),
            output,
        )

    def encode_event(self, event: impl.Event) -> JSON:
        if isinstance(event, impl.Propose):
            return {"type": "propose", "value": event.value}
        if isinstance(event, impl.AbaDecided):
            return {"type": "aba_decided", "instance": event.instance, "bit": event.bit}
        return {
            "type": "receive",
            "sender": plain_to_json(event.sender),
            "message": _message_to_json(event.message),
        }

    def decode_event(self, doc: JSON, path: str = "$") -> impl.Event:
        expect_object(doc, path, ["type"], ["value", "sender", "message", "instance", "bit"])
        kind = doc["type"]
        if kind == "propose":
            expect_object(doc, path, ["type", "value"])
            return impl.Propose(expect_str(doc["value"], f"{path}.value"))
        if kind == "aba_decided":
            expect_object(doc, path, ["type", "instance", "bit"])
            bit = _opt_bit(doc["bit"], f"{path}.bit")
            if bit is None:
                raise DecodeError(f"{path}.bit", "expected 0 or 1")
            return impl.AbaDecided(expect_int(doc["instance"], f"{path}.instance", 0), bit)
        if kind == "receive":
            expect_object(doc, path, ["type", "sender", "message"])
            return impl.Receive(plain_from_json(doc["sender"]), _message_from_json(doc["message"]))
        raise DecodeError(
            f"{path}.type", f"unknown event type {kind!r} (known: aba_decided, propose, receive)"
        )

    def encode_effects(self, effects: impl.Effects) -> JSON:
        return {
            "broadcasts": [_message_to_json(m) for m in effects.broadcasts],
            "aba_inputs": [list(p) for p in effects.aba_inputs],
            "output": None if effects.output is None else [list(p) for p in effects.output],
            "faults": [
                {"sender": plain_to_json(x.sender), "kind": x.kind.value, "instance": x.instance}
                for x in effects.faults
            ],
        }

    def handler(self, event: impl.Event) -> str:
        return {impl.Propose: "propose", impl.Receive: "receive", impl.AbaDecided: "aba_decided"}[
            type(event)
        ]

    def step(self, node: impl.Node, event: impl.Event) -> tuple[impl.Node, impl.Effects]:
        return impl.step(node, event)


CODEC = AcsCodec()


def _refusal(node: impl.Node, sender: Any, message: Any) -> Any:
    """Why ``node`` must refuse ``message`` from ``sender`` (None: it must take it, or ignore it
    silently). Written from HB Figure 2 and Bracha's rules apart from the impl's validation, in
    the order the impl documents, so that the trace checker does not take the impl's word."""
    c = node.config
    if not isinstance(message, rbc_impl.Message) or type(message.instance) is not int:
        return impl.FaultKind.MALFORMED
    if not 0 <= message.instance < c.n:
        return impl.FaultKind.UNKNOWN_INSTANCE
    r = node.rbcs[message.instance]
    if r.delivered is not None:
        return None
    if type(sender) is not int or not 0 <= sender < c.n or sender == c.me:
        return rbc_impl.FaultKind.UNKNOWN_SENDER
    if message.kind not in rbc_impl.KINDS or type(message.value) is not str:
        return rbc_impl.FaultKind.MALFORMED
    if message.kind == rbc_impl.VAL and sender != message.instance:
        return rbc_impl.FaultKind.NOT_SENDER
    if message.kind == rbc_impl.VAL:
        first = r.val
    else:
        tally = r.echoes if message.kind == rbc_impl.ECHO else r.readies
        first = next((v for s, v in tally if s == sender), None)
    if message.kind == rbc_impl.ECHO and r.readied is not None:
        return None  # echoes no longer matter once READY is sent
    if first is not None:
        same = first == message.value
        return rbc_impl.FaultKind.DUPLICATE if same else rbc_impl.FaultKind.EQUIVOCATION
    return None


def _bracha(
    r: rbc_impl.Node, sender: int | None, message: rbc_impl.Message | None
) -> tuple[rbc_impl.Node, list[rbc_impl.Message], str | None]:
    """HB Figure 2 (Bracha): the instance after taking ``message`` (or the local input)."""
    c = r.config
    me, n, f = c.me, c.n, c.f
    val, echoes, readies = r.val, set(r.echoes), set(r.readies)
    echoed, readied, delivered = r.echoed, r.readied, r.delivered
    if message is not None and sender is not None:
        if message.kind == rbc_impl.VAL:
            val = message.value
        elif message.kind == rbc_impl.ECHO:
            echoes.add((sender, message.value))
        else:
            readies.add((sender, message.value))
    sent: list[rbc_impl.Message] = []
    # upon VAL(v) from the sender: multicast ECHO(v)
    if echoed is None and val is not None:
        echoed = val
        echoes.add((me, val))
        sent.append(rbc_impl.Message(rbc_impl.ECHO, c.sender, val))
    # upon ⌈(n+f+1)/2⌉ ECHO(v) or f+1 READY(v), not yet sent: multicast READY(v)
    if readied is None:
        quorum = (n + f + 2) // 2
        for v in sorted({v for _, v in echoes} | {v for _, v in readies}):
            if sum(x == v for _, x in echoes) >= quorum or sum(x == v for _, x in readies) > f:
                readied = v
                readies.add((me, v))
                sent.append(rbc_impl.Message(rbc_impl.READY, c.sender, v))
                break
    # upon 2f+1 READY(v): deliver v
    out = None
    for v in sorted({v for _, v in readies}):
        if delivered is None and sum(x == v for _, x in readies) >= 2 * f + 1:
            delivered = out = v
    post = rbc_impl.Node(
        c, echoed, readied, delivered, val, tuple(sorted(echoes)), tuple(sorted(readies))
    )
    return post, sent, out


def expected_step(node: impl.Node, event: impl.Event) -> tuple[impl.Node, impl.Effects] | str:
    """What HB Figures 2 and 4 require of ``node`` on ``event`` (a string: local misuse)."""
    c = node.config
    j: int
    if isinstance(event, impl.AbaDecided):
        j, bit = event.instance, event.bit
        if node.ba_decision[j] is not None:
            if node.ba_decision[j] != bit:
                return "a second, different decision"
            return node, impl.NOTHING
        node = attrs.evolve(
            node, ba_decision=(*node.ba_decision[:j], bit, *node.ba_decision[j + 1 :])
        )
        sent: list[rbc_impl.Message] = []
    else:
        if isinstance(event, impl.Propose):
            if node.rbcs[c.me].val is not None:
                return "a second proposal"
            j, sender, message = c.me, None, None
            r = attrs.evolve(node.rbcs[c.me], val=event.value)
            lead = [rbc_impl.Message(rbc_impl.VAL, c.me, event.value)]
        else:
            kind = _refusal(node, event.sender, event.message)
            if kind is not None:
                instance = None if isinstance(kind, impl.FaultKind) else event.message.instance
                return node, impl.Effects(faults=(impl.Fault(event.sender, kind, instance),))
            j, sender, message = event.message.instance, event.sender, event.message
            r, lead = node.rbcs[j], []
            if r.delivered is not None or (message.kind == rbc_impl.ECHO and r.readied is not None):
                return node, impl.NOTHING
        r, more, out = _bracha(r, sender, message)
        sent = lead + more
        node = attrs.evolve(node, rbcs=(*node.rbcs[:j], r, *node.rbcs[j + 1 :]))
        if out is not None:
            node = attrs.evolve(
                node, delivered=(*node.delivered[:j], out, *node.delivered[j + 1 :])
            )
    inputs: list[tuple[int, int]] = []
    # Fig. 4 line 1: upon delivery from RBC_j, input 1 to BA_j if not yet given input
    if not isinstance(event, impl.AbaDecided) and node.delivered[j] is not None:
        if node.ba_input[j] is None:
            inputs.append((j, 1))
    # Fig. 4 line 2: upon n − f ones, input 0 to every BA not yet given input
    ba_input = list(node.ba_input)
    for k, b in inputs:
        ba_input[k] = b
    if isinstance(event, impl.AbaDecided) and sum(d == 1 for d in node.ba_decision) >= c.n - c.f:
        for k in range(c.n):
            if ba_input[k] is None:
                ba_input[k] = 0
                inputs.append((k, 0))
    node = attrs.evolve(node, ba_input=tuple(ba_input))
    # Fig. 4 line 3: all BAs done and the RBCs of C delivered: output ∪ v_j, once
    output = None
    if node.output is None and None not in node.ba_decision:
        chosen = [k for k, d in enumerate(node.ba_decision) if d == 1]
        if all(node.delivered[k] is not None for k in chosen):
            output = tuple((k, node.delivered[k] or "") for k in chosen)
            node = attrs.evolve(node, output=output)
    return node, impl.Effects(broadcasts=tuple(sent), aba_inputs=tuple(inputs), output=output)


def step_checker(codec: AcsCodec = CODEC) -> Any:
    """Trace validation of one ACS node's step against HB Figures 2 and 4 (see
    :func:`expected_step`): the identity stays; a refused message changes nothing and is one
    fault of the right kind (``typed_fault``, ``faults_change_nothing``); otherwise the state
    and, when recorded, the effects are exactly what the figures prescribe (``refinement``).
    What one step cannot show (that a received message was sent, that BA decisions agree) is
    left to the model checks."""
    from .validate import StepChecker

    def check(
        nodes: tuple[impl.Node, ...], i: int, event: impl.Event, post: impl.Node, effects: Any
    ) -> tuple[str, str, str] | None:
        pre = nodes[i]
        c = pre.config
        if c.me != i or post.config != c:
            # a trace may hold the correct nodes only (n − f of the n), so n is the node's own
            return ("identity", f"node {i} with config {c}", f"config {post.config}")
        want = expected_step(pre, event)
        if isinstance(want, str):
            return ("refinement", f"no step: {want} is local misuse", "a step")
        expected, expected_effects = want
        refused = bool(expected_effects.faults)
        if refused and post != pre:
            kind = expected_effects.faults[0].kind.value
            return ("faults_change_nothing", f"the message is refused ({kind})", "a changed state")
        if post != expected:
            return (
                "refinement",
                f"state {dumps_line(codec.encode_state(expected))}",
                dumps_line(codec.encode_state(post)),
            )
        if effects is None:
            return None
        want_doc = codec.encode_effects(expected_effects)
        if effects != want_doc:
            name = "typed_fault" if refused or effects.get("faults") else "refinement"
            return (name, f"effects {dumps_line(want_doc)}", dumps_line(effects))
        return None

    return StepChecker(codec=codec, initial_node=_initial_node, check=check)


def _initial_node(i: int, n: int) -> impl.Node:
    """Node i of a trace without initial states: all n nodes traced, f = ⌊(n − 1)/3⌋."""
    return impl.new_node(impl.NodeConfig(i, n, (n - 1) // 3))


def _nodes(state: ImplDeployment) -> tuple[impl.Node, ...]:
    return state.nodes


ORACLE = OracleBinding(
    codec=CODEC,
    # traces come from "impl-decide" (they reach outputs); vectors from both
    configs=("impl-decide", "impl"),
    node_event=node_event,
    nodes=_nodes,
    initial_node=_initial_node,
    step_checker=step_checker(CODEC),
)
