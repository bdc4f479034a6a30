"""Tendermint: bounded model, mutants and a Hypothesis state machine.

Source: Buchman, Kwon, Milosevic 2018, Algorithm 1 (see :mod:`mnemosyne_consensus.spec.tendermint`).

The explored state is the *implementation*: the correct :class:`impl.Node` s and the pool of
signed messages they broadcast (:class:`Deployment`). In each state the model asks the spec which
rules of Algorithm 1 are enabled on the abstraction of the state, hands each one to its node as
the impl event that carries the rule's certificate (signed messages from the pool and the
Byzantine alphabet, signed with each sender's own fixed key, memoized), and checks after every
step

* every spec invariant, on the abstraction (``to_spec_process``, ``to_spec_message``);
* ``refinement``: the abstraction of the impl's post-state is exactly the spec action's
  post-state (so the impl's own enabling checks, its validation of honest certificates, its
  lock rules and its broadcasts are all checked);
* ``faults_change_nothing``: every event of a fixed forged alphabet (:func:`forged_events`, one
  per :class:`impl.FaultKind`, deliverable to every node at any time, not state) is rejected
  with a fault and changes nothing;
* the spec's lock rules as step properties, on the abstraction.

The abstraction is one-to-one, so the impl model has exactly the spec model's distinct states
(a test compares them). A *rule* mutant (a bug of Algorithm 1 itself) explores the mutated spec
directly (:func:`build_spec`), since the impl implements the paper; the two impl mutants run a
buggy impl against the paper's spec. No oracle binding (CODEC, ORACLE) yet.

Network and adversary (DESIGN.md; TendermintAcc's shape): one global pool of the messages correct
processes broadcast, read by every rule at any time (delivery in any order, any number of times,
or never: a rule that does not fire is a message not yet delivered), and the Byzantine messages
as a fixed alphabet (:func:`spec.byzantine_alphabet`) that is not state. Validator 0 is the
Byzantine one in the 4-validator configs, so it is the proposer of round 0 at height 0 and
equivocates both as proposer (every value, every vr) and as voter (every vote).

Measured on one core: see :data:`CONFIGS` (distinct states and seconds, impl model, in each
description; the spec-only model is about 2.5 times faster).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ..impl import tendermint as impl
from ..spec import tendermint as spec
from ..spec.properties import StepProperty
from .engine import Bounds, Model
from .registry_types import Config, Mutant, ProtocolEntry

# -- Mutants -------------------------------------------------------------------------------------

MUTANTS = (
    Mutant(
        "impl-forgets-valid-round",
        "the impl drops validRound after every step (spec unchanged): caught by refinement",
        "refinement",
    ),
    Mutant(
        "impl-steps-on-rejected-input",
        "the impl moves to step prevote even when it rejects the event with a fault",
        "faults_change_nothing",
    ),
    Mutant(
        "no-lock",
        "lines 23 and 29 ignore the lock: prevote any valid proposal (the design notes' "
        "TendermintLite)",
        "agreement",
        config="lock",
    ),
    Mutant(
        "no-lock-amnesia",
        "the no-lock bug again, seen by the accountability checker: a correct process is "
        "convicted of amnesia",
        "correct_never_accused",
    ),
    Mutant(
        "unlock-without-polka",
        "line 28 accepts a proposal with vr >= lockedRound without 2f+1 prevotes in vr",
        "prevote_respects_lock",
        config="late-proposer",
    ),
    Mutant(
        "two-thirds-inclusive",
        "2f+1 read as >= 2/3 of the power: with 3 validators, 1 faulty, two quorums of 2 share "
        "only the faulty one",
        "agreement",
        config="threshold",
    ),
    Mutant(
        "two-thirds-inclusive-unaccountable",
        "the >= 2/3 bug: a disagreement convicts only 1/3 of the power",
        "accountability",
        config="threshold",
    ),
    Mutant(
        "ignore-valid-value",
        "lines 15-16 skipped: the proposer proposes getValue() but still sends validRound",
        "proposals_justified",
    ),
    Mutant(
        "no-validity-check",
        "valid(v) always true: an invalid value proposed by the faulty proposer is decided",
        "validity",
        config="invalid",
    ),
    Mutant(
        "polka-any",
        "line 36 counts 2f+1 prevotes of any kind instead of 2f+1 for id(v)",
        "precommit_only_after_polka",
    ),
    Mutant(
        "reset-lock-each-round",
        "StartRound resets lockedValue/lockedRound (the paper resets them per height, line 53)",
        "locked_round_monotone",
    ),
    Mutant(
        "lock-on-prevote",
        "lines 22-27 lock the value they prevote, before any polka",
        "lock_set_on_polka",
    ),
    Mutant(
        "valid-on-proposal",
        "lines 22-27 set validValue/validRound from the proposal, without a polka",
        "valid_set_on_polka",
    ),
)

# mutant name -> the Rules fields it flips
MUTATIONS: dict[str, dict[str, Any]] = {
    "no-lock": {"respect_lock": False},
    "no-lock-amnesia": {"respect_lock": False},
    "unlock-without-polka": {"polka_to_unlock": False},
    "two-thirds-inclusive": {"strict_quorum": False},
    "two-thirds-inclusive-unaccountable": {"strict_quorum": False},
    "ignore-valid-value": {"repropose_valid_value": False},
    "no-validity-check": {"check_valid": False},
    "polka-any": {"polka_for_value": False},
    "reset-lock-each-round": {"keep_lock_across_rounds": False},
    "lock-on-prevote": {"lock_on_prevote": True},
    "valid-on-proposal": {"valid_on_proposal": True},
}


def rules_for(mutant: Mutant | None) -> spec.Rules:
    """The rules of Algorithm 1 with ``mutant``'s bug in them."""
    if mutant is None:
        return spec.SPEC_RULES
    return attrs.evolve(spec.SPEC_RULES, **MUTATIONS[mutant.name])


def params_of(config: Config) -> spec.Params:
    p = config.params
    n: int = p["validators"]
    return spec.Params(
        powers=tuple(p.get("powers", (1,) * n)),
        byzantine=tuple(p["byzantine"]),
        values=tuple(p.get("values", ("v0", "v1"))),
        max_round=p["max_round"],
        heights=p.get("heights", 1),
        invalid_values=tuple(p.get("invalid_values", ())),
        alphabet=p.get("alphabet", "equivocate"),
        later_max_round=p.get("later_max_round"),
    )


def describe(action: spec.Action) -> str:
    fields = ", ".join(f"{k}={v!r}" for k, v in attrs.asdict(action).items())
    return f"{type(action).__name__}({fields})"


def build_spec(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    """The spec explored directly: state = :class:`spec.SystemState`.

    Used for the rule mutants (a bug in Algorithm 1 itself, which the impl does not share) and
    to compare distinct-state counts with the impl model, which must be equal: the impl state
    abstracts one-to-one onto the spec's.
    """
    ctx = spec.Context(params_of(config), rules_for(mutant))
    invariants, steps, reachables = spec.properties(ctx)

    def initial_states() -> Iterator[spec.SystemState]:
        yield spec.initial_state(ctx.params)

    def actions(state: spec.SystemState) -> Iterator[spec.Action]:
        return spec.enabled_actions(ctx, state)

    def next_state(state: spec.SystemState, action: spec.Action) -> spec.SystemState:
        return spec.apply(ctx, state, action)

    return Model(
        name="tendermint",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=invariants,
        step_properties=(*steps, *_IMPL_ONLY_STEPS),
        reachables=reachables,
        describe_action=describe,
    )


# -- The implementation under the model ----------------------------------------------------------


@attrs.frozen(cache_hash=True)
class Deployment:
    # the correct nodes (impl state), in the order of Params.correct
    nodes: tuple[impl.Node, ...]
    # every message a correct node broadcast, signed, in spec.message_key order; never removed
    pool: tuple[impl.Signed, ...]


@attrs.frozen
class Fire:
    """The impl event that carries out the spec action ``action`` at its node."""

    action: spec.Action
    event: impl.Event

    def __str__(self) -> str:
        return describe(self.action)


@attrs.frozen
class Forged:
    """A forged or malformed event delivered to a node: it must be rejected with ``fault``."""

    process: int
    event: impl.Event
    fault: impl.FaultKind

    def __str__(self) -> str:
        return f"Forged(process={self.process}, fault={self.fault.value})"


KIND_NAMES = {spec.Kind.PROPOSAL: impl.PROPOSAL, spec.Kind.PREVOTE: impl.PREVOTE}
KIND_NAMES[spec.Kind.PRECOMMIT] = impl.PRECOMMIT
SPEC_KINDS = {name: kind for kind, name in KIND_NAMES.items()}


def to_spec_message(m: impl.Signed) -> spec.Message:
    return spec.Message(SPEC_KINDS[m.kind], m.height, m.round, m.sender, m.value, m.valid_round)


def to_spec_process(node: impl.Node, heights: int) -> spec.Process:
    decided = tuple(spec.Decision(v, r) for v, r in node.decisions)
    return spec.Process(
        node.config.me,
        node.height,
        node.round,
        spec.Step(node.step),
        decided + (None,) * (heights - len(decided)),
        node.locked_value,
        node.locked_round,
        node.valid_value,
        node.valid_round,
    )


class Signer:
    """Signs the spec's messages with the sender's fixed key (memoized: a finite set)."""

    def __init__(self, params: spec.Params) -> None:
        self.seeds = tuple(impl.derive_seed(i) for i in range(params.n))
        self._cache: dict[spec.Message, impl.Signed] = {}

    def __call__(self, m: spec.Message) -> impl.Signed:
        found = self._cache.get(m)
        if found is None:
            found = self._cache[m] = impl.sign(
                self.seeds[m.sender],
                KIND_NAMES[m.kind],
                m.height,
                m.round,
                m.sender,
                m.value,
                m.valid_round,
            )
        return found


def node_configs(params: spec.Params) -> tuple[impl.NodeConfig, ...]:
    seeds = tuple(impl.derive_seed(i) for i in range(params.n))
    validators = impl.Validators(
        public_keys=tuple(impl.public_key(seed) for seed in seeds),
        powers=params.powers,
        values=params.values,
    )
    return tuple(impl.NodeConfig(p, seeds[p], validators) for p in params.correct)


def _certificate(
    visible: tuple[spec.Message, ...], kind: spec.Kind, height: int, round_: int, value: Any = ...
) -> list[spec.Message]:
    return [
        m
        for m in visible
        if m.kind is kind
        and m.height == height
        and m.round == round_
        and (value is ... or m.value == value)
    ]


def impl_event(
    ctx: spec.Context, state: spec.SystemState, action: spec.Action, signer: Signer
) -> impl.Event:
    """The event, with its certificate drawn from the pool and the alphabet, for ``action``."""
    params = ctx.params
    proc = state.processes[params.correct.index(action.process)]
    h, r = proc.height, proc.round
    visible = ctx.alphabet + state.pool

    def signed(ms: list[spec.Message]) -> tuple[impl.Signed, ...]:
        return tuple(signer(m) for m in ms)

    def proposal(round_: int, value: str, vr: int | None = None) -> impl.Signed:
        for m in _certificate(visible, spec.Kind.PROPOSAL, h, round_, value):
            if vr is None or m.valid_round == vr:
                if m.sender == spec.proposer(params, h, round_):
                    return signer(m)
        raise LookupError(f"no proposal for {value} in round {round_}")

    if isinstance(action, spec.Propose):
        return impl.ProposeRequest(action.value)
    if isinstance(action, spec.TimeoutPropose):
        return impl.TimeoutPropose()
    if isinstance(action, spec.PrevoteOnProposal):
        return impl.ProposalReceived(proposal(r, action.value, -1))
    if isinstance(action, spec.PrevoteOnPolkaProposal):
        vr = action.valid_round
        polka = signed(_certificate(visible, spec.Kind.PREVOTE, h, vr, action.value))
        return impl.ProposalReceived(proposal(r, action.value, vr), polka)
    if isinstance(action, spec.TimeoutPrevote):
        return impl.TimeoutPrevote(signed(_certificate(visible, spec.Kind.PREVOTE, h, r)))
    if isinstance(action, spec.PrecommitNil):
        return impl.NilPolkaReceived(signed(_certificate(visible, spec.Kind.PREVOTE, h, r, None)))
    if isinstance(action, spec.PrecommitOnPolka):
        prevotes = signed(_certificate(visible, spec.Kind.PREVOTE, h, r, action.value))
        return impl.PolkaReceived(proposal(r, action.value), prevotes)
    if isinstance(action, spec.TimeoutPrecommit):
        return impl.TimeoutPrecommit(signed(_certificate(visible, spec.Kind.PRECOMMIT, h, r)))
    if isinstance(action, spec.Decide):
        rr = action.round
        precommits = signed(_certificate(visible, spec.Kind.PRECOMMIT, h, rr, action.value))
        return impl.CommitReceived(proposal(rr, action.value), precommits)
    # RoundSkip
    messages = [m for m in visible if m.height == h and m.round == action.round]
    return impl.RoundSkipReceived(signed(messages))


def forged_events(params: spec.Params) -> tuple[tuple[impl.Event, impl.FaultKind], ...]:
    """One bad event per FaultKind, signed by a Byzantine validator with its own key (a correct
    validator's key is never available to the adversary). Not state: always deliverable."""
    b = params.byzantine[0]
    seed = impl.derive_seed(b)
    other = next(r for r in range(params.n) if spec.proposer(params, 0, r) != b)
    mine = next(r for r in range(params.n) if spec.proposer(params, 0, r) == b)
    v = params.values[0]
    good = impl.sign(seed, impl.PROPOSAL, 0, mine, b, v)
    prevote = impl.sign(seed, impl.PREVOTE, 0, mine, b, v)
    precommit = impl.sign(seed, impl.PRECOMMIT, 0, mine, b, v)
    return (
        (
            impl.ProposalReceived(attrs.evolve(good, signature=bytes(64))),
            impl.FaultKind.BAD_SIGNATURE,
        ),
        (
            impl.ProposalReceived(attrs.evolve(good, sender=params.n)),
            impl.FaultKind.UNKNOWN_VALIDATOR,
        ),
        (
            impl.ProposalReceived(impl.sign(seed, impl.PROPOSAL, 0, mine, b, v, mine)),
            impl.FaultKind.MALFORMED,
        ),
        (
            impl.ProposalReceived(impl.sign(seed, impl.PROPOSAL, params.heights + 1, 0, b, v)),
            impl.FaultKind.WRONG_HEIGHT,
        ),
        (
            impl.ProposalReceived(impl.sign(seed, impl.PROPOSAL, 0, other, b, v)),
            impl.FaultKind.NOT_PROPOSER,
        ),
        (impl.PolkaReceived(good, (precommit,)), impl.FaultKind.WRONG_CERTIFICATE),
        (impl.PolkaReceived(good, (prevote,)), impl.FaultKind.INSUFFICIENT_POWER),
    )


# mutants of the implementation (injected at the step boundary; spec and rules are the paper's)
IMPL_MUTANTS = ("impl-forgets-valid-round", "impl-steps-on-rejected-input")


def _mutated_step(mutant: str | None) -> Any:
    def stepper(node: impl.Node, event: impl.Event) -> tuple[impl.Node, impl.Effects]:
        post, effects = impl.step(node, event)
        if mutant == "impl-forgets-valid-round" and post.valid_round >= 0:
            post = attrs.evolve(post, valid_round=-1)
        if mutant == "impl-steps-on-rejected-input" and effects.faults:
            post = attrs.evolve(post, step=impl.PREVOTE_STEP)
        return post, effects

    return stepper


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    """The impl nodes under the model, refinement to the spec checked at every step.

    A rule mutant (a bug in Algorithm 1 itself) explores the mutated spec directly
    (:func:`build_spec`); an impl mutant runs the buggy impl against the paper's spec.
    """
    if mutant is not None and mutant.name not in IMPL_MUTANTS:
        return build_spec(config, mutant)
    params = params_of(config)
    ctx = spec.Context(params)
    signer = Signer(params)
    configs = node_configs(params)
    stepper = _mutated_step(mutant.name if mutant else None)
    forged = forged_events(params)
    heights = params.heights

    process_cache: dict[impl.Node, spec.Process] = {}
    pool_cache: dict[tuple[impl.Signed, ...], tuple[spec.Message, ...]] = {}
    recent: dict[int, tuple[Deployment, spec.SystemState]] = {}

    def project(state: Deployment) -> spec.SystemState:
        hit = recent.get(id(state))
        if hit is not None and hit[0] is state:
            return hit[1]
        procs = []
        for node in state.nodes:
            found = process_cache.get(node)
            if found is None:
                found = process_cache[node] = to_spec_process(node, heights)
            procs.append(found)
        pool = pool_cache.get(state.pool)
        if pool is None:
            if len(pool_cache) >= 200_000:
                pool_cache.clear()
            pool = pool_cache[state.pool] = tuple(to_spec_message(m) for m in state.pool)
        projected = spec.SystemState(tuple(procs), pool)
        if len(recent) >= 16:
            recent.clear()
        recent[id(state)] = (state, projected)
        return projected

    def initial_states() -> Iterator[Deployment]:
        yield Deployment(tuple(impl.new_node(c) for c in configs), ())

    def actions(state: Deployment) -> Iterator[Fire | Forged]:
        abstract = project(state)
        for action in spec.enabled_actions(ctx, abstract):
            proc = abstract.processes[params.correct.index(action.process)]
            key = (abstract.pool, action, proc.height, proc.round)
            event = event_cache.get(key)
            if event is None:
                if len(event_cache) >= 200_000:
                    event_cache.clear()
                event = event_cache[key] = impl_event(ctx, abstract, action, signer)
            yield Fire(action, event)
        for p in params.correct:
            for event, fault in forged:
                yield Forged(p, event, fault)

    forged_outcome: dict[tuple[impl.Node, impl.Event], impl.Node] = {}
    event_cache: dict[tuple[Any, ...], impl.Event] = {}  # (pool, action, height, round)

    def next_state(state: Deployment, action: Fire | Forged) -> Deployment:
        if isinstance(action, Forged):
            i = params.correct.index(action.process)
            node = state.nodes[i]
            key = (node, action.event)
            post = forged_outcome.get(key)
            if post is None:
                post = forged_outcome[key] = stepper(node, action.event)[0]
            if post == node:
                return state
            return attrs.evolve(state, nodes=_put(state.nodes, i, post))
        i = params.correct.index(action.action.process)
        post, effects = stepper(state.nodes[i], action.event)
        pool = state.pool
        if effects.broadcasts:
            merged = {*pool, *effects.broadcasts}
            pool = tuple(sorted(merged, key=_signed_key))
        return Deployment(_put(state.nodes, i, post), pool)

    def refinement_problem(pre: Deployment, action: Fire | Forged, post: Deployment) -> str:
        if isinstance(action, Forged):
            return ""
        expected = spec.apply(ctx, project(pre), action.action)
        got = project(post)
        if got != expected:
            return f"impl gave {got}, spec {action.action} gives {expected}"
        return ""

    def faults_problem(pre: Deployment, action: Fire | Forged, post: Deployment) -> str:
        if not isinstance(action, Forged):
            return ""
        i = params.correct.index(action.process)
        node = pre.nodes[i]
        _, effects = impl.step(node, action.event)
        if post != pre:
            return f"node {action.process} changed on a rejected event"
        if not effects.faults:
            return f"node {action.process} accepted a forged event ({action.fault.value})"
        return ""

    invariants, steps, reachables = spec.properties(ctx, project)
    return Model(
        name="tendermint",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=invariants,
        step_properties=(
            *steps,
            StepProperty(
                "refinement",
                "every impl step is the enabled spec action it stands for",
                lambda a, act, b: not refinement_problem(a, act, b),
                refinement_problem,
            ),
            StepProperty(
                "faults_change_nothing",
                "a forged or malformed event is rejected with a fault and changes nothing",
                lambda a, act, b: not faults_problem(a, act, b),
                faults_problem,
            ),
        ),
        reachables=reachables,
        describe_action=str,
    )


def _signed_key(m: impl.Signed) -> tuple[int, int, str, int, str, int]:
    """spec.message_key of the message (the impl's kind names are the spec's)."""
    return (m.height, m.round, m.kind, m.sender, m.value or "", m.valid_round)


def _put(values: tuple[Any, ...], index: int, value: Any) -> tuple[Any, ...]:
    return tuple(value if k == index else v for k, v in enumerate(values))


def _always_true(pre: Any, action: Any, post: Any) -> bool:
    return True


# the spec-only model has the impl model's property names too (vacuous there), so that a
# restricted check names the same properties whichever model a mutant selects
_IMPL_ONLY_STEPS = (
    StepProperty("refinement", "no impl under this model (spec explored directly)", _always_true),
    StepProperty(
        "faults_change_nothing", "no impl under this model (spec explored directly)", _always_true
    ),
)


def _vote(v: spec.Vote) -> str:
    return "nil" if v is None else v


def view(state: Any) -> Mapping[str, Any]:
    """TendermintAcc's variable names, per correct process (keyed by validator id)."""
    if isinstance(state, Deployment):
        state = spec.SystemState(
            tuple(to_spec_process(n, len(n.decisions)) for n in state.nodes),
            tuple(to_spec_message(m) for m in state.pool),
        )
    procs = state.processes

    def per(f: Any) -> dict[int, Any]:
        return {p.id: f(p) for p in procs}

    def msgs(kind: spec.Kind) -> tuple[dict[str, Any], ...]:
        return tuple(
            {"height": m.height, "round": m.round, "src": m.sender, "id": _vote(m.value)}
            | ({"validRound": m.valid_round} if kind is spec.Kind.PROPOSAL else {})
            for m in state.pool
            if m.kind is kind
        )

    return {
        "height": per(lambda p: p.height),
        "round": per(lambda p: p.round),
        "step": per(lambda p: p.step.name),
        # decision[p][h] = (value, round), for the heights p decided
        "decision": per(
            lambda p: {h: (d.value, d.round) for h, d in enumerate(p.decisions) if d is not None}
        ),
        "lockedValue": per(lambda p: _vote(p.locked_value)),
        "lockedRound": per(lambda p: p.locked_round),
        "validValue": per(lambda p: _vote(p.valid_value)),
        "validRound": per(lambda p: p.valid_round),
        "msgsPropose": msgs(spec.Kind.PROPOSAL),
        "msgsPrevote": msgs(spec.Kind.PREVOTE),
        "msgsPrecommit": msgs(spec.Kind.PRECOMMIT),
    }


_WEIGHTED = {"validators": 3, "powers": (1, 2, 1), "byzantine": (0,)}
_FOUR = {"validators": 4, "byzantine": (0,)}

CONFIGS = (
    Config(
        "weighted",
        "3 validators of power 1, 2, 1; validator 0 (power 1 < 4/3) Byzantine, equivocating as "
        "proposer of round 0 and as voter; 2 values; 2 heights, rounds 0..1 at height 0 and "
        "round 0 at height 1. Two quorums (power >= 3 of 4) share power >= 2, so a correct "
        "validator, exactly as with 4 equal validators, with one correct process fewer. "
        "214,723 states, about 60 s",
        {**_WEIGHTED, "max_round": 1, "heights": 2, "later_max_round": 0},
        expected_distinct_states=214723,
    ),
    Config(
        "tiny",
        "the weighted validators, 1 height, rounds 0..1: 9,983 states, about 2 s",
        {**_WEIGHTED, "max_round": 1},
        expected_distinct_states=9983,
    ),
    Config(
        "four",
        "4 validators of power 1, validator 0 Byzantine (equivocating proposer and voter), "
        "2 values, 2 heights, round 0 only: 114,700 states, about 40 s",
        {**_FOUR, "max_round": 0, "heights": 2},
        expected_distinct_states=114700,
    ),
    Config(
        "weighted-rounds",
        "the weighted validators, 1 height, rounds 0..2 (re-proposal of a valid value with "
        "vr = 1, unlocking by rule 28): 293,531 states, about 80 s",
        {**_WEIGHTED, "max_round": 2},
        expected_distinct_states=293531,
    ),
    Config(
        "four-rounds",
        "4 validators, validator 0 Byzantine, 1 height, rounds 0..1 (millions of states: "
        "time-bounded or --simulate)",
        {**_FOUR, "max_round": 1},
        Bounds(max_seconds=120),
    ),
    Config(
        "issue",
        "the issue's bounds: 4 validators, 1 Byzantine equivocating as proposer and voter, "
        "2 values, rounds 0..2, 2 heights (out of reach exhaustively in Python: --simulate)",
        {**_FOUR, "max_round": 2, "heights": 2},
        Bounds(max_seconds=180),
    ),
    Config(
        "threshold",
        "3 validators of power 1, validator 0 Byzantine (f = n/3: safe only because 2f+1 is "
        "> 2/3 of the power, i.e. all three), 1 height, rounds 0..1",
        {"validators": 3, "byzantine": (0,), "max_round": 1},
    ),
    Config(
        "invalid",
        "the tiny config with an invalid value 'x' in the Byzantine proposer's alphabet",
        {**_WEIGHTED, "max_round": 1, "invalid_values": ("x",)},
    ),
    Config(
        "lock",
        "4 validators of power 1, validator 1 (proposer of round 1) Byzantine without "
        "equivocation (amnesia alphabet: v0 in round 0, v1 in round 1), 1 height, rounds 0..1: "
        "the smallest stage for the lock bugs: 109,718 states, about 37 s",
        {"validators": 4, "byzantine": (1,), "max_round": 1, "alphabet": "amnesia"},
        expected_distinct_states=109718,
    ),
    Config(
        "late-proposer",
        "3 validators of power 2, 1, 1; validator 1 (power 1) Byzantine and equivocating, "
        "proposer of round 1 with any vr; 1 height, rounds 0..1",
        {"validators": 3, "powers": (2, 1, 1), "byzantine": (1,), "max_round": 1},
    ),
    Config(
        "unsafe",
        "4 validators, 2 Byzantine (0 and 1, more than 1/3) equivocating: agreement fails, "
        "accountability holds",
        {"validators": 4, "byzantine": (0, 1), "max_round": 1},
    ),
    Config(
        "unsafe-amnesia",
        "4 validators, 2 Byzantine that never equivocate but vote values[r mod 2] in round r: "
        "agreement fails and the faulty are convicted of amnesia",
        {"validators": 4, "byzantine": (0, 1), "max_round": 1, "alphabet": "amnesia"},
    ),
)

PROTOCOL = ProtocolEntry(
    name="tendermint",
    summary="Tendermint BFT consensus with locks and valid values (Algorithm 1)",
    source="Buchman, Kwon, Milosevic, 'The latest gossip on BFT consensus', 2018, Algorithm 1",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)


# -- Hypothesis: random schedules on a larger system ---------------------------------------------


def _require(holds: bool, message: str) -> None:
    # not a bare assert: the machine must also fail under ``python -O``
    if not holds:
        raise AssertionError(message)


MACHINE_PARAMS = spec.Params(
    powers=(1,) * 7,
    byzantine=(0, 4),
    values=("v0", "v1"),
    max_round=2,
    heights=2,
)


class TendermintMachine(RuleBasedStateMachine):
    """7 validators of power 1, validators 0 and 4 Byzantine (2 < 7/3) and equivocating, rounds
    0..2, 2 heights: Hypothesis picks which enabled rule of Algorithm 1 fires next; every spec
    invariant is checked after every step and every step property on every step."""

    # class attributes, so that a subclass can run the same machine on a mutant
    machine_params: spec.Params = MACHINE_PARAMS
    machine_rules: spec.Rules = spec.SPEC_RULES

    def __init__(self) -> None:
        super().__init__()
        self.ctx = spec.Context(self.machine_params, self.machine_rules)
        self.spec_invariants, self.spec_steps, _ = spec.properties(self.ctx)
        self.state = spec.initial_state(self.machine_params)
        self.decisions = 0

    @rule(pick=st.integers(min_value=0, max_value=1 << 16))
    def fire(self, pick: int) -> None:
        enabled = list(spec.enabled_actions(self.ctx, self.state))
        if not enabled:
            return
        action = enabled[pick % len(enabled)]
        post = spec.apply(self.ctx, self.state, action)
        for prop in self.spec_steps:
            _require(prop.holds(self.state, action, post), f"{prop.name} broken by {action}")
        if isinstance(action, spec.Decide):
            self.decisions += 1
        self.state = post

    @rule(process=st.integers(min_value=0, max_value=6))
    def prefer_progress(self, process: int) -> None:
        """Fire the first non-timeout rule of ``process``, if any (schedules that make progress)."""
        for action in spec.enabled_actions(self.ctx, self.state):
            if action.process == process and not isinstance(
                action, spec.TimeoutPropose | spec.TimeoutPrevote | spec.TimeoutPrecommit
            ):
                post = spec.apply(self.ctx, self.state, action)
                for prop in self.spec_steps:
                    _require(prop.holds(self.state, action, post), f"{prop.name}: {action}")
                self.state = post
                return

    @invariant()
    def spec_invariants_hold(self) -> None:
        for inv in self.spec_invariants:
            _require(inv.holds(self.state), f"{inv.name} broken in {self.state}")
