"""Model checks of Bracha's reliable broadcast: the impl under the spec, mutants, Hypothesis.

The default model runs the sans-IO nodes of :mod:`impl.rbc` on ONE global pool of the messages
correct nodes sent, plus the fixed Byzantine alphabet of :func:`spec.rbc.byzantine_alphabet`: an
action hands one message (from the pool or the alphabet) to one correct node, which may or may
not act on it. Every step is checked to refine the spec (``refinement``: the node's projected
variables move by enabled spec actions of that node, or stay), and forged or malformed
messages are fed to every node to check that they are refused with a typed fault and change
nothing (``faults_change_nothing``). The spec's invariants (agreement, validity, totality...)
are checked on the projection. Rule mutants (bugs in the protocol itself) explore the mutated
spec directly, as the Tendermint model does.

The erasure-coded variant (HB Figure 2, configs ``avid*``) has the same two levels: the spec of
:mod:`spec.rbc`'s AVID section explored exhaustively (a Byzantine sender's consistent, junk and
mixed dispersals, split between nodes), and :func:`impl.rbc.avid_step` on real zfec blocks and
Merkle branches under it, refinement checked at every step (breadth-first up to a bound, and on
seeded random runs that reach deliveries and aborts).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ..impl import rbc as impl
from ..spec import rbc as spec
from ..spec.common import replace_at
from ..spec.properties import StepProperty
from .codec import (
    DecodeError,
    enum_values,
    expect_array,
    expect_int,
    expect_object,
    expect_str,
    object_schema,
    plain_from_json,
    plain_to_json,
)
from .engine import Bounds, Model
from .registry_types import Config, Mutant, ProtocolEntry
from .vectors import OracleBinding

SOURCE = (
    "Bracha 1987 section 2; Miller et al. CCS 2016 section 4.2 and Figure 2 (thresholds, the "
    "erasure-coded RBC); Cachin & Tessaro SRDS 2005 (AVID)"
)

MUTANTS = (
    Mutant(
        "ready-threshold-too-low",
        "READY after 2f echoes instead of ⌈(n+f+1)/2⌉: two echo sets need not share a correct "
        "node, so correct nodes send READY for different values of an equivocating sender",
        "ready_agreement",
    ),
    Mutant(
        "no-amplification",
        "no READY on f+1 READYs: a node delivers with the Byzantine READY while the others never "
        "reach 2f+1",
        "totality",
    ),
    Mutant(
        "f-plus-one-quorums",
        "every quorum is f+1 (echo, deliver): two correct nodes deliver different values",
        "agreement",
    ),
    Mutant(
        "val-from-anyone",
        "a node echoes the first VAL from any node, not only the sender's",
        "validity",
        config="correct-sender",
    ),
    Mutant(
        "deliver-needs-all",
        "deliver only on n READYs: a silent Byzantine node blocks every delivery",
        "validity_liveness",
        config="correct-sender",
    ),
    Mutant(
        "impl-steps-on-rejected-input",
        "the impl records an equivocating ECHO/READY instead of refusing it",
        "faults_change_nothing",
    ),
    Mutant(
        "impl-echoes-twice",
        "the impl echoes every VAL it receives (a second VAL from the sender too)",
        "refinement",
    ),
    # the erasure-coded variant (HB Figure 2): mutants of the rules, then of avid_step
    Mutant(
        "avid-no-reencode-check",
        "output the value decoded from N − 2f blocks without re-encoding it and comparing the "
        "root: two correct nodes decode different blocks of an inconsistent dispersal and deliver "
        "different values",
        "agreement",
        config="avid",
    ),
    Mutant(
        "avid-check-received-blocks",
        "re-encode and compare with the blocks received instead of the root h: a node whose "
        "blocks happen to agree delivers while one holding the junk block aborts",
        "outcome_agreement",
        config="avid",
    ),
    Mutant(
        "avid-ready-on-2f-echoes",
        "READY after 2f valid ECHOs (the fewest that decode) instead of N − f: two echo sets "
        "need not share a correct node, so correct nodes READY different roots",
        "ready_agreement",
        config="avid",
    ),
    Mutant(
        "avid-no-amplification",
        "no READY on f+1 READYs: a node delivers with the Byzantine READY while the others never "
        "reach 2f+1",
        "totality",
        config="avid",
    ),
    Mutant(
        "avid-output-waits-for-n-minus-f-echoes",
        "at output wait for N − f ECHOs instead of N − 2f: a node that the Byzantine sender left "
        "out holds only the N − 2f correct ECHOs and never outputs while the others deliver",
        "totality",
        config="avid",
    ),
    Mutant(
        "avid-val-from-anyone",
        "echo the first VAL from any node: a Byzantine peer's root is delivered instead of the "
        "correct sender's",
        "validity",
        config="avid-correct-sender",
    ),
    Mutant(
        "avid-output-waits-for-every-echo",
        "at output wait for N ECHOs: a Byzantine node that never echoes blocks every delivery",
        "validity_liveness",
        config="avid-correct-sender",
    ),
    Mutant(
        "avid-impl-accepts-bad-branch",
        "avid_step records an ECHO whose block fails its Merkle branch check",
        "faults_change_nothing",
        config="avid-impl",
    ),
    Mutant(
        "avid-impl-echoes-twice",
        "avid_step echoes a second VAL of the sender with another root",
        "refinement",
        config="avid-impl",
    ),
)

RULE_MUTANTS = {
    "ready-threshold-too-low": spec.Rules(echo_threshold=lambda n, f: 2 * f),
    "no-amplification": spec.Rules(amplify=False),
    "f-plus-one-quorums": spec.Rules(
        echo_threshold=lambda n, f: f + 1, deliver_threshold=lambda n, f: f + 1
    ),
    "val-from-anyone": spec.Rules(check_val_sender=False),
    "deliver-needs-all": spec.Rules(deliver_threshold=lambda n, f: n),
}


def params_of(config: Config) -> spec.Params:
    p = config.params
    return spec.Params(
        n=p["n"],
        f=p["f"],
        sender=p["sender"],
        byzantine=tuple(p["byzantine"]),
        values=tuple(p["values"]),
        input=p["values"][0],
    )


def _always_true(pre: Any, action: Any, post: Any) -> bool:
    return True


_IMPL_ONLY_STEPS = (
    StepProperty("refinement", "no impl under this model (spec explored directly)", _always_true),
    StepProperty(
        "faults_change_nothing", "no impl under this model (spec explored directly)", _always_true
    ),
)


def build_spec(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    params = params_of(config)
    rules = RULE_MUTANTS.get(mutant.name, spec.SPEC_RULES) if mutant else spec.SPEC_RULES
    ctx = spec.Context(params, rules)
    invariants, reachables = spec.properties(ctx)
    return Model(
        name="rbc",
        initial_states=lambda: [spec.initial_state(params)],
        actions=lambda s: spec.enabled_actions(ctx, s),
        next_state=lambda s, a: spec.apply(ctx, s, a),
        invariants=invariants,
        step_properties=_IMPL_ONLY_STEPS,
        reachables=reachables,
    )


# -- The impl under the model --------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class Deployment:
    # the correct nodes, in the order of Params.correct
    nodes: tuple[impl.Node, ...]
    # every message a correct node sent (the spec's pool)
    pool: tuple[spec.Message, ...]


@attrs.frozen
class SenderInput:
    """The correct sender's application broadcasts its input."""

    value: str

    def __str__(self) -> str:
        return f"sender inputs {self.value}"


@attrs.frozen
class Deliver:
    """Node ``process`` receives ``message`` (from the pool or the Byzantine alphabet)."""

    process: int
    message: spec.Message

    def __str__(self) -> str:
        m = self.message
        return f"node {self.process} receives {m.kind.upper()}({m.value}) from {m.sender}"


@attrs.frozen
class Forged:
    """Node ``process`` receives a malformed or forged message that it must refuse."""

    process: int
    event: impl.Receive
    fault: impl.FaultKind

    def __str__(self) -> str:
        return f"node {self.process} receives a forged message ({self.fault.value})"


def to_impl(m: spec.Message, instance: int) -> impl.Message:
    return impl.Message(m.kind, instance, m.value)


def forged_events(params: spec.Params) -> tuple[tuple[impl.Receive, impl.FaultKind], ...]:
    """A fixed set of bad messages, one per structural fault kind."""
    v = params.values[0]
    s = params.sender
    other = next(b for b in range(params.n) if b != s)
    return (
        (impl.Receive(params.n + 5, impl.Message(impl.ECHO, s, v)), impl.FaultKind.UNKNOWN_SENDER),
        (impl.Receive(other, impl.Message("hello", s, v)), impl.FaultKind.MALFORMED),
        (
            impl.Receive(other, impl.Message(impl.ECHO, s + params.n, v)),
            impl.FaultKind.WRONG_INSTANCE,
        ),
        (impl.Receive(other, impl.Message(impl.VAL, s, v)), impl.FaultKind.NOT_SENDER),
    )


def node_configs(params: spec.Params) -> tuple[impl.NodeConfig, ...]:
    return tuple(impl.NodeConfig(p, params.n, params.f, params.sender) for p in params.correct)


def to_spec_process(node: impl.Node) -> spec.Process:
    return spec.Process(node.config.me, node.echoed, node.readied, node.delivered)


def _recorded(node: impl.Node, m: spec.Message) -> bool:
    """The node already holds this very message (a re-delivery is a DUPLICATE fault)."""
    if m.kind == spec.VAL:
        return node.val == m.value and m.sender == node.config.sender
    tally = node.echoes if m.kind == spec.ECHO else node.readies
    return (m.sender, m.value) in tally


def _mutated_step(mutant: str | None) -> Any:
    def stepper(node: impl.Node, event: impl.Event) -> tuple[impl.Node, impl.Effects]:
        if mutant == "impl-steps-on-rejected-input" and isinstance(event, impl.Receive):
            post, effects = impl.step(node, event)
            m = event.message
            if any(f.kind is impl.FaultKind.EQUIVOCATION for f in effects.faults):
                if m.kind == impl.READY and node.delivered is None:
                    return attrs.evolve(
                        node, readies=(*node.readies, (event.sender, m.value))
                    ), effects
            return post, effects
        if mutant == "impl-echoes-twice" and isinstance(event, impl.Receive):
            m = event.message
            if m.kind == impl.VAL and node.val is not None and m.value != node.val:
                if event.sender == node.config.sender and node.delivered is None:
                    c = node.config
                    echo = impl.Message(impl.ECHO, c.sender, m.value)
                    return attrs.evolve(node, echoed=m.value), impl.Effects(broadcasts=(echo,))
        return impl.step(node, event)

    return stepper


def refinement_gap(ctx: spec.Context, a: spec.SystemState, b: spec.SystemState) -> str:
    """ "" when ``b`` is ``a`` or follows from it by at most four enabled spec actions (one
    receipt fires at most echo, ready and deliver; the input adds Broadcast), else why not."""
    if a == b:
        return ""
    frontier = [a]
    for _ in range(4):
        nxt = []
        for s in frontier:
            for act in spec.enabled_actions(ctx, s):
                t = spec.apply(ctx, s, act)
                if t == b:
                    return ""
                nxt.append(t)
        frontier = nxt
    return f"no sequence of enabled spec actions leads from {a} to {b}"


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    """The impl nodes under the model, refinement to the spec checked at every step."""
    if config.params.get("variant") == "avid":
        return build_avid(config, mutant)
    if mutant is not None and mutant.name in RULE_MUTANTS:
        return build_spec(config, mutant)
    if config.params.get("level") != "impl" and mutant is None:
        return build_spec(config, mutant)
    params = params_of(config)
    ctx = spec.Context(params)
    stepper = _mutated_step(mutant.name if mutant else None)
    forged = forged_events(params)
    correct = params.correct
    instance = params.sender

    def project(state: Deployment) -> spec.SystemState:
        return spec.SystemState(tuple(to_spec_process(n) for n in state.nodes), state.pool)

    def initial_states() -> Iterator[Deployment]:
        yield Deployment(tuple(impl.new_node(c) for c in node_configs(params)), ())

    def actions(state: Deployment) -> Iterator[SenderInput | Deliver | Forged]:
        if params.sender_correct and not any(m.kind == spec.VAL for m in state.pool):
            yield SenderInput(params.input)
        visible = (*state.pool, *ctx.alphabet)
        for p, node in zip(correct, state.nodes, strict=True):
            if node.delivered is not None:
                continue
            for m in visible:
                if m.sender != p and not _recorded(node, m):
                    yield Deliver(p, m)
            for event, fault in forged:
                yield Forged(p, event, fault)

    def next_state(state: Deployment, action: SenderInput | Deliver | Forged) -> Deployment:
        if isinstance(action, SenderInput):
            i = correct.index(params.sender)
            post, effects = stepper(state.nodes[i], impl.Input(action.value))
        else:
            i = correct.index(action.process)
            if isinstance(action, Deliver):
                event = impl.Receive(action.message.sender, to_impl(action.message, instance))
            else:
                event = action.event
            post, effects = stepper(state.nodes[i], event)
        if post == state.nodes[i] and not effects.broadcasts:
            return state
        me = correct[i]
        sent = {spec.Message(m.kind, me, m.value) for m in effects.broadcasts}
        pool = tuple(sorted({*state.pool, *sent})) if sent else state.pool
        return Deployment(replace_at(state.nodes, i, post), pool)

    def refinement_problem(pre: Deployment, action: Any, post: Deployment) -> str:
        return refinement_gap(ctx, project(pre), project(post))

    def faults_problem(pre: Deployment, action: Any, post: Deployment) -> str:
        if not isinstance(action, Forged):
            return ""
        i = correct.index(action.process)
        _, effects = stepper(pre.nodes[i], action.event)
        if post != pre:
            return f"node {action.process} changed on a forged message"
        if not effects.faults:
            return f"node {action.process} accepted a forged message ({action.fault.value})"
        return ""

    def equivocation_problem(pre: Deployment, action: Any, post: Deployment) -> str:
        """A re-sent message with another value from one sender must be refused."""
        if not isinstance(action, Deliver):
            return ""
        i = correct.index(action.process)
        node = pre.nodes[i]
        _, effects = stepper(
            node, impl.Receive(action.message.sender, to_impl(action.message, instance))
        )
        if effects.faults and post != pre:
            return f"node {action.process} changed on a refused message {action}"
        return ""

    invariants, reachables = spec.properties(ctx, project)
    return Model(
        name="rbc",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=invariants,
        step_properties=(
            StepProperty.from_problem(
                "refinement",
                "every impl step is a sequence of enabled spec actions of that node, or a stutter",
                refinement_problem,
            ),
            StepProperty(
                "faults_change_nothing",
                "a forged, duplicate or equivocating message is refused and changes nothing",
                lambda a, act, b: (
                    not (faults_problem(a, act, b) or equivocation_problem(a, act, b))
                ),
                lambda a, act, b: faults_problem(a, act, b) or equivocation_problem(a, act, b),
            ),
        ),
        reachables=reachables,
    )


# -- The erasure-coded variant (HB Figure 2): the spec, and avid_step on real zfec blocks ---------
#
# The spec's dispersals are abstract (a root naming blocks of values or JUNK); the impl model makes
# them real up front: every value of the alphabet is a fixed payload, a value's block j is block j
# of the zfec encoding of its payload, a JUNK block is zeros of the same length, and the root is
# the Merkle root over the n blocks. Roots and payloads map back to the spec's names, so every
# avid_step is checked to refine the spec's rules (``refinement``), and blocks with a wrong branch
# or index, forged VALs and other bad input are checked to be refused (``faults_change_nothing``).

AVID_RULE_MUTANTS = {
    "avid-no-reencode-check": spec.AvidRules(check="none"),
    "avid-check-received-blocks": spec.AvidRules(check="received"),
    "avid-ready-on-2f-echoes": spec.AvidRules(echo_threshold=lambda n, f: 2 * f),
    "avid-no-amplification": spec.AvidRules(amplify=False),
    "avid-output-waits-for-n-minus-f-echoes": spec.AvidRules(deliver_echoes=lambda n, f: n - f),
    "avid-val-from-anyone": spec.AvidRules(check_val_sender=False),
    "avid-output-waits-for-every-echo": spec.AvidRules(deliver_echoes=lambda n, f: n),
}


def avid_dispersals(n: int) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The dispersals of the alphabet at n nodes: two consistent ones (A, B), X with a junk
    block at index 1, Y with a's blocks below n/2 and b's above (no codeword: both abort)."""
    return (
        ("A", ("a",) * n),
        ("B", ("b",) * n),
        ("X", ("a", spec.JUNK, *("a",) * (n - 2))),
        ("Y", tuple("a" if j < n // 2 else "b" for j in range(n))),
    )


AVID_DISPERSALS = avid_dispersals(4)


def avid_params_of(config: Config) -> spec.AvidParams:
    p = config.params
    return spec.AvidParams(
        n=p["n"],
        f=p["f"],
        sender=p["sender"],
        byzantine=tuple(p["byzantine"]),
        dispersals=tuple(spec.Dispersal(r, tuple(b)) for r, b in p["dispersals"]),
        input=p["input"],
    )


def _avid_rules(mutant: Mutant | None) -> spec.AvidRules:
    return AVID_RULE_MUTANTS.get(mutant.name, spec.AVID_RULES) if mutant else spec.AVID_RULES


def build_avid_spec(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    params = avid_params_of(config)
    ctx = spec.AvidContext(params, _avid_rules(mutant))
    invariants, reachables = spec.avid_properties(ctx)
    return Model(
        name="rbc",
        initial_states=lambda: [spec.avid_initial_state(params)],
        actions=lambda s: spec.avid_enabled_actions(ctx, s),
        next_state=lambda s, a: spec.avid_apply(ctx, s, a),
        invariants=invariants,
        step_properties=_IMPL_ONLY_STEPS,
        reachables=reachables,
    )


def avid_payload(value: str) -> bytes:
    """The fixed payload standing for the spec's value ``value`` (all of one length)."""
    return (value.encode() * 40)[:40]


@attrs.frozen
class RealDispersals:
    """The spec's dispersals made of real zfec blocks and Merkle roots, with the maps back."""

    blocks: Mapping[str, tuple[bytes, ...]]  # root name -> the n blocks
    roots: Mapping[str, bytes]  # root name -> Merkle root
    branches: Mapping[str, tuple[tuple[bytes, ...], ...]]
    names: Mapping[bytes, str]  # Merkle root -> root name
    values: Mapping[bytes, str]  # payload -> value name


def real_dispersals(params: spec.AvidParams) -> RealDispersals:
    from ..impl import erasure

    k, n = params.k, params.n
    labels = sorted({b for d in params.dispersals for b in d.blocks} - {spec.JUNK})
    encoded = {v: erasure.encode(avid_payload(v), k, n) for v in labels}
    size = len(next(iter(encoded.values()))[0])
    blocks, roots, branches = {}, {}, {}
    for d in params.dispersals:
        bs = tuple(
            bytes(size) if label == spec.JUNK else encoded[label][j]
            for j, label in enumerate(d.blocks)
        )
        blocks[d.root] = bs
        roots[d.root] = erasure.merkle_root(bs)
        branches[d.root] = tuple(erasure.merkle_branch(bs, j) for j in range(n))
    real = RealDispersals(
        blocks,
        roots,
        branches,
        {r: name for name, r in roots.items()},
        {avid_payload(v): v for v in labels},
    )
    # remembered for view() (names of roots and payloads: a fixed map, not state)
    _KNOWN.names.update(real.names)
    _KNOWN.values.update(real.values)
    return real


_KNOWN = RealDispersals({}, {}, {}, {}, {})


@attrs.frozen(cache_hash=True)
class AvidDeployment:
    # the correct nodes, in the order of AvidParams.correct
    nodes: tuple[impl.AvidNode, ...]
    # every message a correct node sent (the spec's pool)
    pool: tuple[spec.AvidMessage, ...]


@attrs.frozen
class AvidSenderInput:
    """The correct sender's application broadcasts the payload of its dispersal."""

    root: str

    def __str__(self) -> str:
        return f"sender inputs the payload of {self.root}"


@attrs.frozen
class AvidDeliverMessage:
    """Node ``process`` receives ``message`` (from the pool or the Byzantine alphabet)."""

    process: int
    message: spec.AvidMessage

    def __str__(self) -> str:
        m = self.message
        return f"node {self.process} receives {m.kind.upper()}({m.root}) from {m.sender}"


@attrs.frozen
class AvidForged:
    """Node ``process`` receives a bad message (wrong block, branch, sender...) it must refuse."""

    process: int
    event: impl.Receive
    fault: impl.FaultKind

    def __str__(self) -> str:
        return f"node {self.process} receives a forged message ({self.fault.value})"


def avid_to_impl(
    real: RealDispersals, m: spec.AvidMessage, instance: int
) -> impl.AvidVal | impl.AvidEcho | impl.AvidReady:
    """The real message of a spec message: a VAL carries the recipient's block and branch, an
    ECHO its sender's (the only block its branch lets it carry)."""
    root = real.roots[m.root]
    if m.kind == spec.READY:
        return impl.AvidReady(instance, root)
    j = m.to if m.kind == spec.VAL else m.sender
    block, branch = real.blocks[m.root][j], real.branches[m.root][j]
    if m.kind == spec.VAL:
        return impl.AvidVal(instance, root, j, block, branch)
    return impl.AvidEcho(instance, root, j, block, branch)


def avid_forged_events(
    params: spec.AvidParams, real: RealDispersals, p: int
) -> tuple[tuple[impl.Receive, impl.FaultKind], ...]:
    """Bad messages to node ``p``, one per fault kind a peer can cause."""
    s, n = params.sender, params.n
    other = next(b for b in range(n) if b not in (p, s))
    root, bs, br = real.roots["A"], real.blocks["A"], real.branches["A"]
    return (
        (impl.Receive(n + 5, impl.AvidReady(s, root)), impl.FaultKind.UNKNOWN_SENDER),
        (impl.Receive(other, impl.AvidReady(s, b"short")), impl.FaultKind.MALFORMED),
        (impl.Receive(other, impl.AvidReady(s + n, root)), impl.FaultKind.WRONG_INSTANCE),
        (
            impl.Receive(other, impl.AvidVal(s, root, p, bs[p], br[p])),
            impl.FaultKind.NOT_SENDER,
        ),
        (  # another node's block under its own index
            impl.Receive(other, impl.AvidEcho(s, root, other, bs[p], br[other])),
            impl.FaultKind.BAD_BRANCH,
        ),
        (  # a valid block and branch, claimed by the wrong node
            impl.Receive(other, impl.AvidEcho(s, root, p, bs[p], br[p])),
            impl.FaultKind.BAD_BRANCH,
        ),
    )


def to_avid_process(real: RealDispersals, node: impl.AvidNode) -> spec.AvidProcess:
    def name(root: bytes | None) -> str | None:
        return None if root is None else real.names.get(root, root.hex()[:8])

    delivered = node.delivered
    value = None if delivered is None else real.values.get(delivered, "?" + delivered.hex()[:8])
    return spec.AvidProcess(
        node.config.me, name(node.echoed), name(node.readied), value, node.aborted
    )


def _avid_recorded(real: RealDispersals, node: impl.AvidNode, m: spec.AvidMessage) -> bool:
    """The node already holds this very message (a re-delivery is a DUPLICATE fault)."""
    root = real.roots[m.root]
    if m.kind == spec.VAL:
        return node.val_root == root
    if m.kind == spec.ECHO:
        return any(s == m.sender and r == root for s, r, _ in node.echoes)
    return (m.sender, root) in node.readies


def _avid_mutated_step(mutant: str | None) -> Any:
    def stepper(
        node: impl.AvidNode, event: impl.Input | impl.Receive
    ) -> tuple[impl.AvidNode, impl.AvidEffects]:
        post, effects = impl.avid_step(node, event)
        if not isinstance(event, impl.Receive) or node.delivered is not None or node.aborted:
            return post, effects
        m = event.message
        kinds = [f.kind for f in effects.faults]
        if mutant == "avid-impl-accepts-bad-branch" and kinds == [impl.FaultKind.BAD_BRANCH]:
            if isinstance(m, impl.AvidEcho):
                entry = (event.sender, m.root, m.block)
                return attrs.evolve(node, echoes=tuple(sorted({*node.echoes, entry}))), effects
        if mutant == "avid-impl-echoes-twice" and kinds == [impl.FaultKind.EQUIVOCATION]:
            if isinstance(m, impl.AvidVal):
                echo = impl.AvidEcho(m.instance, m.root, m.index, m.block, m.branch)
                return attrs.evolve(node, echoed=m.root), impl.AvidEffects(broadcasts=(echo,))
        return post, effects

    return stepper


def avid_refinement_gap(ctx: spec.AvidContext, a: spec.AvidState, b: spec.AvidState) -> str:
    """ "" when ``b`` is ``a`` or follows from it by at most four enabled spec actions (a receipt
    fires at most echo, ready and output; the input adds Disperse), else why not."""
    if a == b:
        return ""
    frontier = [a]
    for _ in range(4):
        nxt = []
        for s in frontier:
            for act in spec.avid_enabled_actions(ctx, s):
                t = spec.avid_apply(ctx, s, act)
                if t == b:
                    return ""
                nxt.append(t)
        frontier = nxt
    return f"no sequence of enabled spec actions leads from {a} to {b}"


def build_avid(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    """The erasure-coded variant: the spec (rule mutants too), or avid_step under it."""
    if config.params.get("level") != "impl" or (mutant and mutant.name in AVID_RULE_MUTANTS):
        return build_avid_spec(config, mutant)
    params = avid_params_of(config)
    ctx = spec.AvidContext(params)
    real = real_dispersals(params)
    stepper = _avid_mutated_step(mutant.name if mutant else None)
    correct = params.correct
    instance = params.sender
    forged = {p: avid_forged_events(params, real, p) for p in correct}

    def project(state: AvidDeployment) -> spec.AvidState:
        return spec.AvidState(tuple(to_avid_process(real, n) for n in state.nodes), state.pool)

    def initial_states() -> Iterator[AvidDeployment]:
        configs = [impl.NodeConfig(p, params.n, params.f, params.sender) for p in correct]
        yield AvidDeployment(tuple(impl.new_avid_node(c) for c in configs), ())

    def actions(
        state: AvidDeployment,
    ) -> Iterator[AvidSenderInput | AvidDeliverMessage | AvidForged]:
        if params.sender_correct and not any(m.kind == spec.VAL for m in state.pool):
            yield AvidSenderInput(params.input)
        visible = (*state.pool, *ctx.alphabet)
        for p, node in zip(correct, state.nodes, strict=True):
            if node.delivered is not None or node.aborted:
                continue
            for m in visible:
                if m.sender != p and m.to in (-1, p) and not _avid_recorded(real, node, m):
                    yield AvidDeliverMessage(p, m)
            for event, fault in forged[p]:
                yield AvidForged(p, event, fault)

    def event_of(action: AvidDeliverMessage | AvidForged) -> impl.Receive:
        if isinstance(action, AvidForged):
            return action.event
        m = action.message
        return impl.Receive(m.sender, avid_to_impl(real, m, instance))

    def next_state(
        state: AvidDeployment, action: AvidSenderInput | AvidDeliverMessage | AvidForged
    ) -> AvidDeployment:
        if isinstance(action, AvidSenderInput):
            i = correct.index(params.sender)
            payload = avid_payload(params.dispersal(action.root).blocks[0])
            post, effects = stepper(state.nodes[i], impl.Input(payload))
        else:
            i = correct.index(action.process)
            post, effects = stepper(state.nodes[i], event_of(action))
        if post == state.nodes[i] and not effects.broadcasts:
            return state
        me = correct[i]
        sent: set[spec.AvidMessage] = set()
        for m in effects.broadcasts:
            kind = spec.ECHO if isinstance(m, impl.AvidEcho) else spec.READY
            sent.add(spec.AvidMessage(kind, me, real.names[m.root]))
        if isinstance(action, AvidSenderInput):
            sent |= {spec.AvidMessage(spec.VAL, me, action.root, to) for to in range(params.n)}
        pool = tuple(sorted({*state.pool, *sent})) if sent else state.pool
        return AvidDeployment(replace_at(state.nodes, i, post), pool)

    def refinement_problem(pre: AvidDeployment, action: Any, post: AvidDeployment) -> str:
        return avid_refinement_gap(ctx, project(pre), project(post))

    def faults_problem(pre: AvidDeployment, action: Any, post: AvidDeployment) -> str:
        if isinstance(action, AvidSenderInput):
            return ""
        i = correct.index(action.process)
        _, effects = stepper(pre.nodes[i], event_of(action))
        if isinstance(action, AvidForged) and not effects.faults:
            return f"node {action.process} accepted a forged message ({action.fault.value})"
        if effects.faults and post != pre:
            return f"node {action.process} changed on a refused message {action}"
        return ""

    invariants, reachables = spec.avid_properties(ctx, project)
    return Model(
        name="rbc",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=invariants,
        step_properties=(
            StepProperty.from_problem(
                "refinement",
                "every avid_step is a sequence of enabled spec actions of that node, or a stutter",
                refinement_problem,
            ),
            StepProperty.from_problem(
                "faults_change_nothing",
                "a forged, duplicate or equivocating message is refused and changes nothing",
                faults_problem,
            ),
        ),
        reachables=reachables,
    )


def view(state: Any) -> Mapping[str, Any]:
    """Named variables of a state (impl deployment or spec state), for traces and ITF."""
    if isinstance(state, AvidDeployment):
        state = spec.AvidState(tuple(to_avid_process(_KNOWN, n) for n in state.nodes), state.pool)
    if isinstance(state, spec.AvidState):
        return {
            "echoed": {p.id: p.echoed for p in state.processes},
            "readied": {p.id: p.readied for p in state.processes},
            "delivered": {p.id: p.delivered for p in state.processes},
            "aborted": {p.id: p.aborted for p in state.processes},
            "pool": tuple(
                f"{m.kind}:{m.sender}:{m.root}" + (f">{m.to}" if m.to >= 0 else "")
                for m in state.pool
            ),
        }
    if isinstance(state, Deployment):
        procs = [to_spec_process(n) for n in state.nodes]
        pool = state.pool
    else:
        procs, pool = list(state.processes), state.pool
    return {
        "echoed": {p.id: p.echoed for p in procs},
        "readied": {p.id: p.readied for p in procs},
        "delivered": {p.id: p.delivered for p in procs},
        "pool": tuple(f"{m.kind}:{m.sender}:{m.value}" for m in pool),
    }


_FOUR = {"n": 4, "f": 1, "values": ("a", "b")}

CONFIGS = (
    Config(
        "default",
        "n = 4, f = 1: the sender (node 3) is Byzantine and equivocates; forged ECHO/READY",
        {**_FOUR, "sender": 3, "byzantine": (3,)},
        expected_distinct_states=517,
    ),
    Config(
        "correct-sender",
        "n = 4, f = 1: correct sender 0, Byzantine node 3 forges VAL/ECHO/READY",
        {**_FOUR, "sender": 0, "byzantine": (3,)},
        expected_distinct_states=149,
    ),
    Config(
        "tiny",
        "n = 4, f = 1, Byzantine sender 3, values {a, b} (the mutants' config)",
        {**_FOUR, "sender": 3, "byzantine": (3,)},
        expected_distinct_states=517,
    ),
    Config(
        "impl",
        "the impl nodes under the spec (refinement, faults) with a Byzantine sender: the first "
        "20,000 states breadth-first (the whole space is ~10^6: each node's tallies are state)",
        {**_FOUR, "sender": 3, "byzantine": (3,), "level": "impl"},
        bounds=Bounds(max_states=20_000),
    ),
    Config(
        "impl-correct-sender",
        "the impl nodes under the spec with a correct sender, first 20,000 states breadth-first",
        {**_FOUR, "sender": 0, "byzantine": (3,), "level": "impl"},
        bounds=Bounds(max_states=20_000),
    ),
)

_AVID = {"variant": "avid", "n": 4, "f": 1, "dispersals": AVID_DISPERSALS, "input": "A"}

CONFIGS = (
    *CONFIGS,
    Config(
        "avid",
        "HB Fig. 2 erasure-coded RBC, n = 4, f = 1, Byzantine sender 3: consistent dispersals A "
        "and B, X with a junk block, Y mixing blocks of a and b, any root to any node",
        {**_AVID, "sender": 3, "byzantine": (3,)},
        expected_distinct_states=905,
    ),
    Config(
        "avid-correct-sender",
        "HB Fig. 2, n = 4, f = 1: correct sender 0 disperses A; Byzantine node 3 echoes and "
        "readies any root, forges VALs",
        {**_AVID, "sender": 0, "byzantine": (3,)},
        expected_distinct_states=101,
    ),
    Config(
        "avid-seven",
        "HB Fig. 2, n = 7, f = 2, Byzantine sender 6 and node 5, the dispersals A, B, X, Y at "
        "n = 7 (~16 s exhaustive here: run by bench_rbc, not by the tests)",
        {
            **_AVID,
            "n": 7,
            "f": 2,
            "dispersals": avid_dispersals(7),
            "sender": 6,
            "byzantine": (5, 6),
        },
        expected_distinct_states=89_281,
    ),
    Config(
        "avid-impl",
        "avid_step on real zfec blocks under the spec (refinement, faults), Byzantine sender 3 "
        "with the dispersals of 'avid': the first 20,000 states breadth-first",
        {**_AVID, "sender": 3, "byzantine": (3,), "level": "impl"},
        bounds=Bounds(max_states=20_000),
    ),
    Config(
        "avid-impl-correct-sender",
        "avid_step on real zfec blocks under the spec, correct sender 0: the first 20,000 states",
        {**_AVID, "sender": 0, "byzantine": (3,), "level": "impl"},
        bounds=Bounds(max_states=20_000),
    ),
)

PROTOCOL = ProtocolEntry(
    name="rbc",
    summary="Bracha reliable broadcast (echo/ready) and HB's erasure-coded RBC (AVID), n = 4, "
    "f = 1, Byzantine sender or peer",
    source=SOURCE,
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)


# -- Hypothesis: random schedules of impl nodes at n = 4 and n = 7 ---------------------------------


class RbcMachine(RuleBasedStateMachine):
    """Impl nodes with point-to-point in-flight messages, f Byzantine nodes sending anything from
    the alphabet to anyone, random delivery order; after every step the spec's safety invariants
    hold on the projection and every node's step refines the spec. Subclasses fix n, f, sender."""

    N, F, SENDER = 4, 1, 0

    def __init__(self) -> None:
        super().__init__()
        n, f = self.N, self.F
        byzantine = tuple(range(n - f, n))
        self.params = spec.Params(n, f, self.SENDER, byzantine, ("a", "b"), "a")
        self.ctx = spec.Context(self.params)
        self.nodes = {c.me: impl.new_node(c) for c in node_configs(self.params)}
        self.pool: tuple[spec.Message, ...] = ()
        self.in_flight: list[tuple[int, int, impl.Message]] = []
        self.started = False

    def abstract(self) -> spec.SystemState:
        procs = tuple(to_spec_process(self.nodes[p]) for p in self.params.correct)
        return spec.SystemState(procs, self.pool)

    def _apply(self, me: int, event: impl.Event) -> None:
        before = self.abstract()
        post, effects = impl.step(self.nodes[me], event)
        if effects.faults:
            assert post == self.nodes[me], "a refused message changed the node"
        self.nodes[me] = post
        for m in effects.broadcasts:
            self.pool = tuple(sorted({*self.pool, spec.Message(m.kind, me, m.value)}))
            self.in_flight += [(to, me, m) for to in self.params.correct if to != me]
        gap = refinement_gap(self.ctx, before, self.abstract())
        assert not gap, gap

    @precondition(lambda self: not self.started and self.params.sender_correct)
    @rule(value=st.sampled_from(("a", "b")))
    def sender_inputs(self, value: str) -> None:
        self.started = True
        self.params = attrs.evolve(self.params, input=value)
        self.ctx = spec.Context(self.params)
        self._apply(self.SENDER, impl.Input(value))

    @precondition(lambda self: bool(self.in_flight))
    @rule(pick=st.integers(min_value=0, max_value=10_000))
    def deliver(self, pick: int) -> None:
        to, frm, m = self.in_flight.pop(pick % len(self.in_flight))
        self._apply(to, impl.Receive(frm, m))

    @rule(
        pick=st.integers(min_value=0, max_value=10_000),
        to=st.integers(min_value=0, max_value=10_000),
    )
    def byzantine_sends(self, pick: int, to: int) -> None:
        m = self.ctx.alphabet[pick % len(self.ctx.alphabet)]
        target = self.params.correct[to % len(self.params.correct)]
        self._apply(target, impl.Receive(m.sender, to_impl(m, self.params.sender)))

    @invariant()
    def spec_invariants_hold(self) -> None:
        state = self.abstract()
        for name, _, holds in spec.INVARIANTS[:3]:  # the safety ones (liveness: fair ends only)
            assert holds(self.ctx, state), name


class RbcMachineSeven(RbcMachine):
    """n = 7, f = 2, Byzantine sender 6 (equivocation at the larger size)."""

    N, F, SENDER = 7, 2, 6


class AvidMachine(RuleBasedStateMachine):
    """avid_step nodes on real zfec blocks with point-to-point in-flight messages; the f
    Byzantine nodes send VALs of any dispersal of :func:`avid_dispersals` (consistent, junk,
    mixed; a different one to each node if they like, when the sender is Byzantine), and ECHO
    and READY of any root to anyone; random delivery order. After every step each node's step
    refines the spec and the spec's safety invariants hold; ``drain`` delivers every in-flight
    message (a fair run's end) and checks the liveness ones. Subclasses fix n, f, sender."""

    N, F, SENDER = 4, 1, 3

    def __init__(self) -> None:
        super().__init__()
        n, f = self.N, self.F
        byzantine = tuple(range(n - f, n))
        dispersals = tuple(spec.Dispersal(r, b) for r, b in avid_dispersals(n))
        self.params = spec.AvidParams(n, f, self.SENDER, byzantine, dispersals, "A")
        self.ctx = spec.AvidContext(self.params)
        self.real = real_dispersals(self.params)
        self.nodes = {
            p: impl.new_avid_node(impl.NodeConfig(p, n, f, self.SENDER))
            for p in self.params.correct
        }
        self.pool: tuple[spec.AvidMessage, ...] = ()
        self.in_flight: list[tuple[int, int, Any]] = []
        self.started = False

    def abstract(self) -> spec.AvidState:
        procs = tuple(to_avid_process(self.real, self.nodes[p]) for p in self.params.correct)
        return spec.AvidState(procs, self.pool)

    def _apply(self, me: int, event: impl.Input | impl.Receive) -> None:
        before = self.abstract()
        post, effects = impl.avid_step(self.nodes[me], event)
        if effects.faults:
            assert post == self.nodes[me], "a refused message changed the node"
        self.nodes[me] = post
        sent = []
        for to, val in effects.sends:
            sent.append(spec.AvidMessage(spec.VAL, me, self.real.names[val.root], to))
            if to in self.nodes:
                self.in_flight.append((to, me, val))
        if effects.sends:
            sent.append(
                spec.AvidMessage(spec.VAL, me, self.real.names[effects.sends[0][1].root], me)
            )
        for m in effects.broadcasts:
            kind = spec.ECHO if isinstance(m, impl.AvidEcho) else spec.READY
            sent.append(spec.AvidMessage(kind, me, self.real.names[m.root]))
            self.in_flight += [(to, me, m) for to in self.params.correct if to != me]
        self.pool = tuple(sorted({*self.pool, *sent}))
        gap = avid_refinement_gap(self.ctx, before, self.abstract())
        assert not gap, gap

    @precondition(lambda self: not self.started and self.params.sender_correct)
    @rule()
    def sender_inputs(self) -> None:
        self.started = True
        self._apply(self.SENDER, impl.Input(avid_payload("a")))

    @precondition(lambda self: bool(self.in_flight))
    @rule(pick=st.integers(min_value=0, max_value=10_000))
    def deliver(self, pick: int) -> None:
        to, frm, m = self.in_flight.pop(pick % len(self.in_flight))
        self._apply(to, impl.Receive(frm, m))

    @rule(
        pick=st.integers(min_value=0, max_value=10_000),
        to=st.integers(min_value=0, max_value=10_000),
    )
    def byzantine_sends(self, pick: int, to: int) -> None:
        target = self.params.correct[to % len(self.params.correct)]
        options = [m for m in self.ctx.alphabet if m.to in (-1, target)]
        m = options[pick % len(options)]
        self._apply(target, impl.Receive(m.sender, avid_to_impl(self.real, m, self.SENDER)))

    @rule()
    def drain(self) -> None:
        """Every in-flight message arrives: the end of a fair run (Byzantine ones optional)."""
        while self.in_flight:
            to, frm, m = self.in_flight.pop(0)
            self._apply(to, impl.Receive(frm, m))
        state = self.abstract()
        if self.started or not self.params.sender_correct:
            assert spec.avid_quiescent(self.ctx, state), state
        for name, _, holds in spec.AVID_INVARIANTS:
            assert holds(self.ctx, state), name

    @invariant()
    def spec_invariants_hold(self) -> None:
        state = self.abstract()
        for name, _, holds in spec.AVID_INVARIANTS[:4]:  # the safety ones
            assert holds(self.ctx, state), name


class AvidMachineCorrectSender(AvidMachine):
    """n = 4, f = 1, correct sender 0 disperses A; Byzantine node 3."""

    N, F, SENDER = 4, 1, 0


class AvidMachineSeven(AvidMachine):
    """n = 7, f = 2, Byzantine sender 6 (and Byzantine node 5)."""

    N, F, SENDER = 7, 2, 6


# -- The oracle: canonical JSON of nodes, events and effects ---------------------------------------

_NAT = {"type": "integer", "minimum": 0}
_VALUE = {"type": "string"}
_MAYBE = {"anyOf": [{"type": "null"}, _VALUE]}
_PAIRS = {
    "type": "array",
    "items": {"type": "array", "prefixItems": [_NAT, _VALUE], "minItems": 2, "maxItems": 2},
}


def _message_json(m: Any) -> Any:
    return {
        "kind": plain_to_json_loose(getattr(m, "kind", None)),
        "instance": plain_to_json_loose(getattr(m, "instance", None)),
        "value": plain_to_json_loose(getattr(m, "value", None)),
    }


def plain_to_json_loose(value: Any) -> Any:
    try:
        return plain_to_json(value)
    except TypeError:
        return repr(value)


class RbcCodec:
    """Encoding of an RBC node (one instance), its events and its effects.

    state    {"me", "n", "f", "sender", "echoed", "readied", "delivered", "val",
              "echoes": [[node, value]...], "readies": [[node, value]...]}
    event    {"type": "input", "value": v}
             {"type": "receive", "sender": s, "message": {"kind", "instance", "value"}}
    effects  {"broadcasts": [{"kind", "instance", "value"}], "delivered": v | null,
              "faults": [{"sender", "kind"}]}
    """

    protocol = "rbc"

    def schemas(self) -> dict[str, Any]:
        state = object_schema(
            {
                "me": _NAT,
                "n": {"type": "integer", "minimum": 1},
                "f": _NAT,
                "sender": _NAT,
                "echoed": _MAYBE,
                "readied": _MAYBE,
                "delivered": _MAYBE,
                "val": _MAYBE,
                "echoes": _PAIRS,
                "readies": _PAIRS,
            }
        )
        sent = object_schema(
            {"kind": {"enum": list(impl.KINDS)}, "instance": _NAT, "value": _VALUE}
        )
        event = {
            "oneOf": [
                object_schema({"type": {"const": "input"}, "value": _VALUE}),
                object_schema(
                    {
                        "type": {"const": "receive"},
                        "sender": {},
                        "message": object_schema({"kind": {}, "instance": {}, "value": {}}),
                    }
                ),
            ]
        }
        effects = object_schema(
            {
                "broadcasts": {"type": "array", "items": sent},
                "delivered": _MAYBE,
                "faults": {
                    "type": "array",
                    "items": object_schema(
                        {"sender": {}, "kind": {"enum": enum_values(impl.FaultKind)}}
                    ),
                },
            }
        )
        return {"state": state, "event": event, "effects": effects}

    def encode_state(self, node: impl.Node) -> Any:
        c = node.config
        return {
            "me": c.me,
            "n": c.n,
            "f": c.f,
            "sender": c.sender,
            "echoed": node.echoed,
            "readied": node.readied,
            "delivered": node.delivered,
            "val": node.val,
            "echoes": [list(x) for x in node.echoes],
            "readies": [list(x) for x in node.readies],
        }

    def decode_state(self, doc: Any, path: str = "$") -> impl.Node:
        fields = ["me", "n", "f", "sender", "echoed", "readied", "delivered", "val"]
        expect_object(doc, path, [*fields, "echoes", "readies"])
        n = expect_int(doc["n"], f"{path}.n", minimum=1)
        f = expect_int(doc["f"], f"{path}.f", minimum=0)
        me = expect_int(doc["me"], f"{path}.me", minimum=0)
        sender = expect_int(doc["sender"], f"{path}.sender", minimum=0)
        if me >= n or sender >= n:
            raise DecodeError(path, f"node {me} or sender {sender} out of range for {n}")
        optional = {}
        for name in ("echoed", "readied", "delivered", "val"):
            value = doc[name]
            if value is not None:
                expect_str(value, f"{path}.{name}")
            optional[name] = value
        tallies = {}
        for name in ("echoes", "readies"):
            pairs = []
            for k, item in enumerate(expect_array(doc[name], f"{path}.{name}")):
                where = f"{path}.{name}[{k}]"
                pair = expect_array(item, where)
                if len(pair) != 2:
                    raise DecodeError(where, "expected [node, value]")
                node_id = expect_int(pair[0], f"{where}[0]", minimum=0)
                if node_id >= n:
                    raise DecodeError(f"{where}[0]", f"node {node_id} out of range for {n}")
                pairs.append((node_id, expect_str(pair[1], f"{where}[1]")))
            if pairs != sorted(pairs) or len({s for s, _ in pairs}) != len(pairs):
                raise DecodeError(f"{path}.{name}", "expected sorted pairs, one per node")
            tallies[name] = tuple(pairs)
        return impl.Node(
            impl.NodeConfig(me, n, f, sender),
            optional["echoed"],
            optional["readied"],
            optional["delivered"],
            optional["val"],
            tallies["echoes"],
            tallies["readies"],
        )

    def encode_event(self, event: impl.Event) -> Any:
        if isinstance(event, impl.Input):
            return {"type": "input", "value": plain_to_json_loose(event.value)}
        return {
            "type": "receive",
            "sender": plain_to_json_loose(event.sender),
            "message": _message_json(event.message),
        }

    def decode_event(self, doc: Any, path: str = "$") -> impl.Event:
        if not isinstance(doc, dict):
            raise DecodeError(path, "expected an object with a field 'type'")
        kind = doc.get("type")
        if kind == "input":
            expect_object(doc, path, ["type", "value"])
            return impl.Input(expect_str(doc["value"], f"{path}.value"))
        if kind == "receive":
            expect_object(doc, path, ["type", "sender", "message"])
            m = expect_object(doc["message"], f"{path}.message", ["kind", "instance", "value"])
            # lenient on purpose: the node, not the decoder, refuses a malformed message
            message = impl.Message(
                plain_from_json(m["kind"]),
                plain_from_json(m["instance"]),
                plain_from_json(m["value"]),
            )
            return impl.Receive(plain_from_json(doc["sender"]), message)
        raise DecodeError(f"{path}.type", f"unknown event type {kind!r} (known: input, receive)")

    def encode_effects(self, effects: impl.Effects) -> Any:
        return {
            "broadcasts": [_message_json(m) for m in effects.broadcasts],
            "delivered": effects.delivered,
            "faults": [
                {"sender": plain_to_json_loose(f.sender), "kind": f.kind.value}
                for f in effects.faults
            ],
        }

    def handler(self, event: impl.Event) -> str:
        return "input" if isinstance(event, impl.Input) else "receive"

    def step(self, node: impl.Node, event: impl.Event) -> tuple[impl.Node, impl.Effects]:
        return impl.step(node, event)


CODEC = RbcCodec()


def node_event(action: SenderInput | Deliver | Forged) -> tuple[int, impl.Event]:
    """The node a model action steps (its index among the correct nodes, which are 0..2 in the
    oracle's configs) and the impl event it hands that node."""
    if isinstance(action, SenderInput):
        return 0, impl.Input(action.value)
    if isinstance(action, Deliver):
        return action.process, impl.Receive(action.message.sender, to_impl(action.message, 3))
    return action.process, action.event


def initial_node(index: int, nodes: int) -> impl.Node:
    """Node ``index`` of a trace of ``nodes`` correct nodes: the oracle's deployment has one more
    node, the last, which is Byzantine and the instance's sender (f = 1 below n = 7)."""
    n = nodes + 1
    return impl.new_node(impl.NodeConfig(index, n, (n - 1) // 3, n - 1))


def refusal(node: impl.Node, sender: Any, m: Any) -> impl.FaultKind | None:
    """Why ``node`` must refuse ``m`` from ``sender`` (written apart from the impl's checks, in
    the order the impl documents), or None. A node that delivered refuses nothing: it ignores."""
    c = node.config
    if node.delivered is not None:
        return None
    if not (type(sender) is int and 0 <= sender < c.n and sender != c.me):
        return impl.FaultKind.UNKNOWN_SENDER
    if not isinstance(m, impl.Message) or m.kind not in impl.KINDS:
        return impl.FaultKind.MALFORMED
    if type(m.instance) is not int or type(m.value) is not str:
        return impl.FaultKind.MALFORMED
    if m.instance != c.sender:
        return impl.FaultKind.WRONG_INSTANCE
    if m.kind == impl.VAL and sender != c.sender:
        return impl.FaultKind.NOT_SENDER
    if m.kind == impl.ECHO and node.readied is not None:
        return None  # ignored: echoes no longer matter
    if m.kind == impl.VAL:
        before = node.val
    else:
        tally = node.echoes if m.kind == impl.ECHO else node.readies
        before = dict(tally).get(sender)
    if before is not None:
        return impl.FaultKind.DUPLICATE if before == m.value else impl.FaultKind.EQUIVOCATION
    return None


def _local_spec(node: impl.Node) -> tuple[spec.Context, spec.SystemState]:
    """The node's own view as a spec state: its tallies are the pool it has seen (Byzantine
    messages included: the spec's alphabet is not used, the node's evidence is)."""
    c = node.config
    values = tuple(sorted({v for _, v in (*node.echoes, *node.readies)} | {node.val or "a"}))
    others = tuple(i for i in range(c.n) if i != c.me)
    params = spec.Params(c.n, c.f, c.sender, others, values, node.val or values[0])
    ctx = spec.Context(params)
    ctx.alphabet = ()  # the node's tallies are its evidence, Byzantine messages included
    pool = []
    if node.val is not None:
        pool.append(spec.Message(spec.VAL, c.sender, node.val))
    pool += [spec.Message(spec.ECHO, s, v) for s, v in node.echoes]
    pool += [spec.Message(spec.READY, s, v) for s, v in node.readies]
    me = spec.Process(c.me, node.echoed, node.readied, node.delivered)
    return ctx, spec.SystemState((me,), tuple(sorted(set(pool))))


def step_checker(codec: RbcCodec = CODEC) -> Any:
    """Trace validation of one RBC node's step against the spec.

    Checked: the node's configuration never changes (``identity``); a message :func:`refusal`
    names is refused with exactly that fault and changes nothing (``typed_fault``,
    ``faults_change_nothing``); otherwise the receipt is recorded (the VAL, or the sender's ECHO
    or READY, added to the tallies: ``record``), and the node's echoed/readied/delivered move by
    enabled spec actions over what the node has seen (``refinement``), with the effects sending
    exactly the new ECHO/READY and reporting the new delivery.
    """
    from .validate import StepChecker

    def check(
        nodes: tuple[impl.Node, ...], i: int, event: impl.Event, post: impl.Node, effects: Any
    ) -> tuple[str, str, str] | None:
        pre = nodes[i]
        if post.config != pre.config:
            return ("identity", f"configuration {pre.config}", f"{post.config}")
        if isinstance(event, impl.Input):
            c = pre.config
            if c.me != c.sender or pre.val is not None:
                return ("refinement", "no input at this node now (local misuse)", "an input")
            expected_val = event.value
            recorded = attrs.evolve(pre, val=expected_val)
        else:
            kind = refusal(pre, event.sender, event.message)
            if kind is not None:
                if post != pre:
                    return ("faults_change_nothing", f"no change ({kind.value})", "a change")
                fault = {"sender": plain_to_json_loose(event.sender), "kind": kind.value}
                if effects is not None and effects.get("faults") != [fault]:
                    return ("typed_fault", f"faults [{fault}]", str(effects.get("faults")))
                return None
            m = event.message
            if pre.delivered is not None or (m.kind == impl.ECHO and pre.readied is not None):
                if post != pre:
                    return ("refinement", "the message is ignored", "a change")
                return None
            if m.kind == impl.VAL:
                recorded = attrs.evolve(pre, val=m.value)
            elif m.kind == impl.ECHO:
                recorded = attrs.evolve(
                    pre, echoes=tuple(sorted((*pre.echoes, (event.sender, m.value))))
                )
            else:
                recorded = attrs.evolve(
                    pre, readies=tuple(sorted((*pre.readies, (event.sender, m.value))))
                )
        # the tallies may only grow by the node's own new ECHO/READY beyond the receipt
        own = {(post.config.me, v) for v in (post.echoed, post.readied) if v is not None}
        if not set(recorded.echoes) <= set(post.echoes) or not set(recorded.readies) <= set(
            post.readies
        ):
            return ("record", "the receipt is recorded", "a tally lost an entry")
        extra = (set(post.echoes) - set(recorded.echoes)) | (
            set(post.readies) - set(recorded.readies)
        )
        if not extra <= own or post.val != recorded.val:
            return ("record", "only the node's own messages are added", str(sorted(extra)))
        ctx, seen = _local_spec(recorded)
        _, after = _local_spec(post)
        gap = refinement_gap(ctx, seen, after)
        if gap:
            return ("refinement", "enabled spec actions over the node's tallies", gap)
        if effects is not None:
            sent = []
            if post.echoed is not None and pre.echoed is None:
                sent.append(
                    {"kind": impl.ECHO, "instance": pre.config.sender, "value": post.echoed}
                )
            if post.readied is not None and pre.readied is None:
                sent.append(
                    {"kind": impl.READY, "instance": pre.config.sender, "value": post.readied}
                )
            if isinstance(event, impl.Input):
                sent.insert(
                    0, {"kind": impl.VAL, "instance": pre.config.sender, "value": event.value}
                )
            delivered = post.delivered if pre.delivered is None else None
            want = {"broadcasts": sent, "delivered": delivered, "faults": []}
            if effects != want:
                return ("refinement", f"effects {want}", f"{effects}")
        return None

    return StepChecker(codec=codec, initial_node=initial_node, check=check)


ORACLE = OracleBinding(
    codec=CODEC,
    configs=("impl",),
    node_event=node_event,
    nodes=lambda state: state.nodes,
    initial_node=initial_node,
    step_checker=step_checker(CODEC),
)


def bench_rbc() -> dict[str, Any]:
    """Exhaustive runs of the spec configs (Bracha's and the erasure-coded one at n = 4 and 7)
    and bounded impl runs: states, seconds and states per second."""
    from .engine import explore

    out: dict[str, Any] = {}
    for name in ("default", "correct-sender", "impl", "avid", "avid-seven", "avid-impl"):
        config = PROTOCOL.config(name)
        result = explore(build(config, None), config.bounds)
        out[f"{name}_distinct_states"] = result.distinct_states
        out[f"{name}_seconds"] = result.seconds
        out[f"{name}_states_per_second"] = result.states_per_second
    return out
