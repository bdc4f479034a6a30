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
buggy impl against the paper's spec.

Bounded liveness (:func:`build_liveness`, config ``liveness``): from a stage after GST with one
correct process a round behind, every fair run decides within a bound
(``eventually_decides``); the ``no-round-skip`` mutant (lines 55-56 dropped) gets stuck. The
oracle (end of the module): :class:`TendermintCodec`, :func:`node_event`, :func:`step_checker`
and :data:`ORACLE`, with vectors and traces from the ``oracle`` config.

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
from ..spec.properties import Invariant, Reachable, StepProperty
from .engine import Bounds, Model
from .machines import require
from .registry_types import Config, Mutant, ProtocolEntry, UnsafeConfigError

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
    Mutant(
        "no-round-skip",
        "lines 55-56 dropped: no round skip on f+1 higher-round messages; a process that lags "
        "a round behind never catches up, and the others wait for its vote forever",
        "eventually_decides",
        config="liveness",
    ),
)

# mutants that remove a rule of Algorithm 1 (filtered out of the enabled actions)
DROPPED_RULES: dict[str, type] = {"no-round-skip": spec.RoundSkip}

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
    if mutant is None or mutant.name in DROPPED_RULES:
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
    if config.params.get("liveness"):
        return build_liveness(config, mutant)
    ctx = spec.Context(params_of(config), rules_for(mutant))
    invariants, steps, reachables = spec.properties(ctx)
    dropped = DROPPED_RULES.get(mutant.name) if mutant is not None else None

    def initial_states() -> Iterator[spec.SystemState]:
        yield spec.initial_state(ctx.params)

    def actions(state: spec.SystemState) -> Iterator[spec.Action]:
        for action in spec.enabled_actions(ctx, state):
            if dropped is None or not isinstance(action, dropped):
                yield action

    def next_state(state: spec.SystemState, action: spec.Action) -> spec.SystemState:
        return spec.apply(ctx, state, action)

    return Model(
        name="tendermint",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=(*invariants, _LIVENESS_ELSEWHERE),
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
    validator's key is never available to the adversary). Not state: always deliverable. None
    in a config without faulty validators (``--byzantine 0``): nobody's key could sign them."""
    if not params.byzantine:
        return ()
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


def equivocation_events(params: spec.Params) -> tuple[tuple[impl.Event, impl.FaultKind], ...]:
    """Equivocation as a forged event: the Byzantine validator signs two different prevotes of
    one round and offers them as the f+1 of a round skip (lines 55-56). Counted once, as the
    impl must, its power falls short (``INSUFFICIENT_POWER``); counted per message it would
    reach f+1 in configs where the faulty power is more than half of f+1 (the weighted ones).
    Only in configs with ``equivocation_probe`` (the oracle's), so the other configs' alphabets
    are unchanged."""
    b = params.byzantine[0]
    seed = impl.derive_seed(b)
    top = params.max_round
    first = impl.sign(seed, impl.PREVOTE, 0, top, b, params.values[0])
    second = impl.sign(seed, impl.PREVOTE, 0, top, b, params.values[1])
    return ((impl.RoundSkipReceived((first, second)), impl.FaultKind.INSUFFICIENT_POWER),)


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
    if config.params.get("liveness") or (mutant is not None and mutant.name not in IMPL_MUTANTS):
        return build_spec(config, mutant)
    params = params_of(config)
    ctx = spec.Context(params)
    signer = Signer(params)
    configs = node_configs(params)
    stepper = _mutated_step(mutant.name if mutant else None)
    forged = forged_events(params)
    if config.params.get("equivocation_probe"):
        forged += equivocation_events(params)
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
        invariants=(*invariants, _LIVENESS_ELSEWHERE),
        step_properties=(
            *steps,
            StepProperty.from_problem(
                "refinement",
                "every impl step is the enabled spec action it stands for",
                refinement_problem,
            ),
            StepProperty.from_problem(
                "faults_change_nothing",
                "a forged or malformed event is rejected with a fault and changes nothing",
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


# -- Bounded liveness ----------------------------------------------------------------------------


def _always_true_state(state: Any) -> bool:
    return True


# the safety models carry the liveness property's name too (vacuous there): it is checked only in
# the configs with ``liveness`` (:func:`build_liveness`), as the impl-only steps are in the spec
_LIVENESS_ELSEWHERE = Invariant(
    "eventually_decides",
    "bounded liveness: checked only in the 'liveness' config (vacuous here)",
    _always_true_state,
)

_TIMEOUTS = (spec.TimeoutPropose, spec.TimeoutPrevote, spec.TimeoutPrecommit)


@attrs.frozen(cache_hash=True)
class LiveState:
    """A state of a fair run after GST, with the number of steps taken since (the stage)."""

    # the spec's processes and pool
    system: spec.SystemState
    # steps since the stage (bounded by the config's ``within``)
    steps: int


def lagging_stage(params: spec.Params) -> spec.SystemState:
    """The liveness stage: at GST every correct process but the last is in round 1 (whose
    proposer is correct), the last one is still in round 0, and nothing sent before GST is
    left in the pool (messages before GST may be lost, Dwork-Lynch-Stockmeyer)."""
    last = params.correct[-1]
    processes = tuple(
        spec.start_round(spec.Context(params), spec.new_process(params, p), 0 if p == last else 1)
        for p in params.correct
    )
    return spec.SystemState(processes, ())


def fair_actions(
    ctx: spec.Context, state: spec.SystemState, dropped: type | None = None
) -> list[spec.Action]:
    """The actions of a fair run after GST: every enabled rule, but a timeout only when no
    message-driven rule of any correct process is enabled (after GST the timeouts are long
    enough that every message in transit is delivered and handled first)."""
    enabled = [
        a for a in spec.enabled_actions(ctx, state) if dropped is None or not isinstance(a, dropped)
    ]
    driven = [a for a in enabled if not isinstance(a, _TIMEOUTS)]
    return driven or enabled


def _all_decided(state: spec.SystemState) -> bool:
    return all(p.decisions[0] is not None for p in state.processes)


def build_liveness(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    """Bounded liveness (Buchman et al. 2018, Lemma 7 / Theorem 8, termination): from the
    stage of :func:`lagging_stage`, in every fair run (:func:`fair_actions`: all messages
    delivered before any timeout, a correct proposer in round 1, the Byzantine validators
    silent -- no alphabet -- so the correct ones need each other's votes), every correct process
    decides at height 0 within ``within`` steps. ``eventually_decides`` fails in a state where
    some correct process has not decided and either no fair action is enabled (the run is
    stuck) or ``within`` steps have passed; its trace is the run.
    """
    params = params_of(config)
    ctx = spec.Context(params, rules_for(mutant))
    ctx.alphabet = ()  # silent Byzantine validators
    within: int = config.params["within"]
    dropped = DROPPED_RULES.get(mutant.name) if mutant is not None else None

    def initial_states() -> Iterator[LiveState]:
        yield LiveState(lagging_stage(params), 0)

    def actions(state: LiveState) -> Iterator[spec.Action]:
        if state.steps < within:
            yield from fair_actions(ctx, state.system, dropped)

    def next_state(state: LiveState, action: spec.Action) -> LiveState:
        return LiveState(spec.apply(ctx, state.system, action), state.steps + 1)

    def problem(state: LiveState) -> str:
        system = state.system
        if _all_decided(system):
            return ""
        waiting = [p.id for p in system.processes if p.decisions[0] is None]
        if state.steps >= within:
            return f"processes {waiting} undecided after {within} steps"
        if not fair_actions(ctx, system, dropped):
            rounds = {p.id: p.round for p in system.processes}
            return f"stuck: processes {waiting} undecided, no rule enabled (rounds {rounds})"
        return ""

    invariants, steps, _ = spec.properties(ctx, lambda s: s.system)
    return Model(
        name="tendermint",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=(
            *invariants,
            Invariant.from_problem(
                "eventually_decides",
                f"every correct process decides within {within} steps of a fair run",
                problem,
            ),
        ),
        step_properties=(*steps, *_IMPL_ONLY_STEPS),
        reachables=(
            Reachable(
                "all_decided",
                "a fair run in which every correct process decides",
                lambda s: _all_decided(s.system),
            ),
        ),
        describe_action=describe,
    )


def _vote(v: spec.Vote) -> str:
    return "nil" if v is None else v


def view(state: Any) -> Mapping[str, Any]:
    """TendermintAcc's variable names, per correct process (keyed by validator id)."""
    if isinstance(state, LiveState):
        state = state.system
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


LIVENESS_STATES = 45  # distinct states of the 'liveness' config
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
        "oracle",
        "the tiny config with one more forged event, an equivocating round skip "
        "(:func:`equivocation_events`): the oracle's vectors and traces come from it; forged "
        "events change nothing, so it has tiny's 9,983 states",
        {**_WEIGHTED, "max_round": 1, "equivocation_probe": True},
        expected_distinct_states=9983,
    ),
    Config(
        "liveness",
        "bounded liveness after GST: 4 validators of power 1, validator 0 Byzantine and silent, "
        "validators 1 and 2 in round 1 (proposer 1), validator 3 lagging in round 0; every fair "
        "run decides within 11 steps (the longest takes 11): 45 states, well under a second",
        {"validators": 4, "byzantine": (0,), "max_round": 1, "liveness": True, "within": 11},
        expected_distinct_states=LIVENESS_STATES,
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


def sized_config(validators: int, byzantine: int, allow_unsafe: bool = False) -> Config:
    """``check tendermint --validators N --byzantine F``: N validators of power 1, validators
    0..F-1 Byzantine (so the first proposers are faulty) and equivocating, 1 height, rounds 0..1.

    Algorithm 1 is safe when the faulty power is below 1/3 of the total (§2 of the paper), i.e.
    3F < N with equal power; anything else is refused unless ``allow_unsafe``.
    """
    if validators < 1 or byzantine < 0:
        raise ValueError(f"need N >= 1 and F >= 0, got N = {validators}, F = {byzantine}")
    if byzantine >= validators:
        raise ValueError(f"F = {byzantine} leaves no correct validator among N = {validators}")
    if 3 * byzantine >= validators and not allow_unsafe:
        raise UnsafeConfigError(
            f"Tendermint tolerates faulty power below 1/3 (3F < N); N = {validators}, "
            f"F = {byzantine} is beyond it: add --allow-unsafe to see the counterexample"
        )
    faulty = (
        f"validators 0..{byzantine - 1} Byzantine and equivocating"
        if byzantine
        else "none Byzantine"
    )
    return Config(
        f"n{validators}-f{byzantine}",
        f"{validators} validators of power 1, {faulty}, 1 height, rounds 0..1",
        {"validators": validators, "byzantine": tuple(range(byzantine)), "max_round": 1},
    )


PROTOCOL = ProtocolEntry(
    name="tendermint",
    summary="Tendermint BFT consensus with locks and valid values (Algorithm 1)",
    source="Buchman, Kwon, Milosevic, 'The latest gossip on BFT consensus', 2018, Algorithm 1",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
    sized_config=sized_config,
)


# -- Hypothesis: random schedules on a larger system ---------------------------------------------


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
            require(prop.holds(self.state, action, post), f"{prop.name} broken by {action}")
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
                    require(prop.holds(self.state, action, post), f"{prop.name}: {action}")
                self.state = post
                return

    @invariant()
    def spec_invariants_hold(self) -> None:
        for inv in self.spec_invariants:
            require(inv.holds(self.state), f"{inv.name} broken in {self.state}")


# -- The oracle: canonical encoding, vectors and trace validation --------------------------------
#
# Documents (canonical JSON, see :mod:`.codec`; schemas from :meth:`TendermintCodec.schemas`).
# Bytes (signatures, keys, seeds) are lowercase hex. A signed message ``M``::
#
#     {"kind": "prevote", "height": 0, "round": 1, "sender": 2, "value": "v0" | null,
#      "valid_round": -1, "signature": "<128 hex digits>"}
#
#     state    {"me": 1, "seed": "<64 hex>", "validators": {"public_keys": ["<64 hex>", ...],
#               "powers": [1, 2, 1], "values": ["v0", "v1"]}, "height": 0, "round": 0,
#               "step": "propose" | "prevote" | "precommit", "proposed": false,
#               "decisions": [{"value": "v0", "round": 0}, ...],      (one per decided height)
#               "locked_value": null, "locked_round": -1, "valid_value": null, "valid_round": -1}
#     event    {"type": "propose", "value": "v0"}                       (lines 14-19)
#              {"type": "timeout_propose"}                              (lines 57-60)
#              {"type": "receive", "proposal": M, "polka": [M, ...]}    (lines 22-33)
#              {"type": "polka", "proposal": M, "prevotes": [M, ...]}   (lines 36-43)
#              {"type": "nil_polka", "prevotes": [M, ...]}              (lines 44-46)
#              {"type": "timeout_prevote", "prevotes": [M, ...]}        (lines 34-35, 61-64)
#              {"type": "timeout_precommit", "precommits": [M, ...]}    (lines 47-48, 65-67)
#              {"type": "commit", "proposal": M, "precommits": [M, ...]}  (lines 49-54)
#              {"type": "round_skip", "messages": [M, ...]}             (lines 55-56)
#     effects  {"broadcasts": [M], "decisions": [{"height": 0, "value": "v0"}],
#               "timers": [{"timeout": "propose", "height": 0, "round": 1}],
#               "evidence": [[M, M], ...], "faults": [{"sender": 0, "kind": "bad_signature"}]}
#
# The handler of a case is its event's type ("receive" is the delivery of a proposal, the one
# message that fires a rule alone). The *fields* of a received message are decoded leniently (any
# JSON value; a signature that is not lowercase hex stays a string): a malformed or forged
# message is the node's to refuse with a typed :class:`impl.FaultKind`, not the decoder's. The
# state carries the node's own Ed25519 seed: the node signs its broadcasts, so a state that
# another implementation hands back must say with which key (the model's seeds are public test
# keys, :func:`impl.derive_seed`).

import re  # noqa: E402

from .codec import (  # noqa: E402
    JSON,
    DecodeError,
    brief,
    enum_values,
    expect_array,
    expect_int,
    expect_object,
    expect_str,
    object_schema,
)
from .vectors import OracleBinding  # noqa: E402

_STEP_NAMES = ("propose", "prevote", "precommit")
_HEX = re.compile(r"(?:[0-9a-f]{2})*")
_MESSAGE_FIELDS = ("kind", "height", "round", "sender", "value", "valid_round", "signature")
# event type -> (impl class, its fields in order: "proposal" a message, the rest arrays)
_EVENT_FIELDS: dict[str, tuple[type, tuple[str, ...]]] = {
    "receive": (impl.ProposalReceived, ("proposal", "polka")),
    "polka": (impl.PolkaReceived, ("proposal", "prevotes")),
    "nil_polka": (impl.NilPolkaReceived, ("prevotes",)),
    "timeout_prevote": (impl.TimeoutPrevote, ("prevotes",)),
    "timeout_precommit": (impl.TimeoutPrecommit, ("precommits",)),
    "commit": (impl.CommitReceived, ("proposal", "precommits")),
    "round_skip": (impl.RoundSkipReceived, ("messages",)),
}
_EVENT_TYPES: dict[type, str] = {
    impl.ProposeRequest: "propose",
    impl.TimeoutPropose: "timeout_propose",
    **{cls: name for name, (cls, _) in _EVENT_FIELDS.items()},
}


def _loose_to_json(value: Any) -> JSON:
    """A field of a (possibly malformed) received message as JSON: tuples as arrays."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple | list):
        return [_loose_to_json(v) for v in value]
    return value


def message_to_json(m: impl.Signed) -> JSON:
    return {name: _loose_to_json(getattr(m, name)) for name in _MESSAGE_FIELDS}


def _loose_from_json(doc: JSON) -> Any:
    kind = type(doc)
    if kind is list:
        return tuple(_loose_from_json(v) for v in doc)
    if kind is dict:
        return tuple(sorted((k, _loose_from_json(v)) for k, v in doc.items()))
    return doc


def message_from_json(doc: JSON, path: str) -> impl.Signed:
    """Strict about the object's shape, lenient about its values (the node validates them)."""
    expect_object(doc, path, _MESSAGE_FIELDS)
    fields = {name: _loose_from_json(doc[name]) for name in _MESSAGE_FIELDS}
    signature = doc["signature"]
    if type(signature) is str and _HEX.fullmatch(signature):
        fields["signature"] = bytes.fromhex(signature)
    return impl.Signed(**fields)


def _hex(doc: JSON, path: str, length: int) -> bytes:
    text = expect_str(doc, path)
    if len(text) != 2 * length or not _HEX.fullmatch(text):
        raise DecodeError(path, f"expected {2 * length} lowercase hex digits")
    return bytes.fromhex(text)


def _optional_str(doc: JSON, path: str) -> str | None:
    return None if doc is None else expect_str(doc, path)


_NAT: dict[str, Any] = {"type": "integer", "minimum": 0}
_ROUND_OR_NONE: dict[str, Any] = {"type": "integer", "minimum": -1}
_VOTE: dict[str, Any] = {"type": ["string", "null"]}
_HEX_SCHEMA = {"type": "string", "pattern": "^([0-9a-f]{2})*$"}
_SENT = object_schema(
    {
        "kind": {"enum": list(impl.KINDS)},
        "height": _NAT,
        "round": _NAT,
        "sender": _NAT,
        "value": _VOTE,
        "valid_round": _ROUND_OR_NONE,
        "signature": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
    }
)
_RECEIVED = object_schema({name: {} for name in _MESSAGE_FIELDS})  # any values


@attrs.frozen
class TendermintCodec:
    """Encoding of a Tendermint node, its events and its effects (the oracle's interface)."""

    protocol: str = "tendermint"

    def schemas(self) -> dict[str, Any]:
        """The state, event and effects schemas (see :mod:`.schemas`)."""
        key = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
        state = object_schema(
            {
                "me": _NAT,
                "seed": key,
                "validators": object_schema(
                    {
                        "public_keys": {"type": "array", "items": key, "minItems": 1},
                        "powers": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                        "values": {"type": "array", "items": {"type": "string"}},
                    }
                ),
                "height": _NAT,
                "round": _NAT,
                "step": {"enum": list(_STEP_NAMES)},
                "proposed": {"type": "boolean"},
                "decisions": {
                    "type": "array",
                    "items": object_schema({"value": {"type": "string"}, "round": _NAT}),
                },
                "locked_value": _VOTE,
                "locked_round": _ROUND_OR_NONE,
                "valid_value": _VOTE,
                "valid_round": _ROUND_OR_NONE,
            }
        )
        many = {"type": "array", "items": _RECEIVED}
        events = [
            object_schema({"type": {"const": "propose"}, "value": {"type": "string"}}),
            object_schema({"type": {"const": "timeout_propose"}}),
        ]
        for name, (_, fields) in _EVENT_FIELDS.items():
            body: dict[str, Any] = {"type": {"const": name}}
            for field in fields:
                body[field] = _RECEIVED if field == "proposal" else many
            events.append(object_schema(body))
        effects = object_schema(
            {
                "broadcasts": {"type": "array", "items": _SENT},
                "decisions": {
                    "type": "array",
                    "items": object_schema({"height": _NAT, "value": {"type": "string"}}),
                },
                "timers": {
                    "type": "array",
                    "items": object_schema(
                        {"timeout": {"enum": ["propose"]}, "height": _NAT, "round": _NAT}
                    ),
                },
                "evidence": {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "items": _RECEIVED,
                        "minItems": 2,
                        "maxItems": 2,
                    },
                },
                "faults": {
                    "type": "array",
                    "items": object_schema(
                        {"sender": {}, "kind": {"enum": enum_values(impl.FaultKind)}}
                    ),
                },
            }
        )
        return {"state": state, "event": {"oneOf": events}, "effects": effects}

    # states
    def encode_state(self, node: impl.Node) -> JSON:
        vs = node.config.validators
        return {
            "me": node.config.me,
            "seed": node.config.seed.hex(),
            "validators": {
                "public_keys": [k.hex() for k in vs.public_keys],
                "powers": list(vs.powers),
                "values": list(vs.values),
            },
            "height": node.height,
            "round": node.round,
            "step": _STEP_NAMES[node.step],
            "proposed": node.proposed,
            "decisions": [{"value": v, "round": r} for v, r in node.decisions],
            "locked_value": node.locked_value,
            "locked_round": node.locked_round,
            "valid_value": node.valid_value,
            "valid_round": node.valid_round,
        }

    def decode_state(self, doc: JSON, path: str = "$") -> impl.Node:
        fields = (
            "me",
            "seed",
            "validators",
            "height",
            "round",
            "step",
            "proposed",
            "decisions",
            "locked_value",
            "locked_round",
            "valid_value",
            "valid_round",
        )
        expect_object(doc, path, fields)
        vdoc = expect_object(
            doc["validators"], f"{path}.validators", ("public_keys", "powers", "values")
        )
        vpath = f"{path}.validators"
        keys = expect_array(vdoc["public_keys"], f"{vpath}.public_keys")
        if not keys:
            raise DecodeError(f"{vpath}.public_keys", "expected at least one validator")
        public_keys = tuple(_hex(k, f"{vpath}.public_keys[{i}]", 32) for i, k in enumerate(keys))
        powers_doc = expect_array(vdoc["powers"], f"{vpath}.powers")
        if len(powers_doc) != len(keys):
            raise DecodeError(f"{vpath}.powers", f"expected {len(keys)} powers (one per key)")
        powers = tuple(
            expect_int(p, f"{vpath}.powers[{i}]", minimum=1) for i, p in enumerate(powers_doc)
        )
        values_doc = expect_array(vdoc["values"], f"{vpath}.values")
        values = tuple(expect_str(v, f"{vpath}.values[{i}]") for i, v in enumerate(values_doc))
        me = expect_int(doc["me"], f"{path}.me", minimum=0)
        if me >= len(keys):
            raise DecodeError(f"{path}.me", f"validator {me} out of range for {len(keys)}")
        seed = _hex(doc["seed"], f"{path}.seed", 32)
        if impl.public_key(seed) != public_keys[me]:
            raise DecodeError(f"{path}.seed", f"not the key of validator {me}")
        height = expect_int(doc["height"], f"{path}.height", minimum=0)
        round_ = expect_int(doc["round"], f"{path}.round", minimum=0)
        step = doc["step"]
        if step not in _STEP_NAMES or type(step) is not str:
            raise DecodeError(f"{path}.step", f"expected one of {', '.join(_STEP_NAMES)}")
        proposed = doc["proposed"]
        if type(proposed) is not bool:
            raise DecodeError(f"{path}.proposed", "expected a boolean")
        decisions_doc = expect_array(doc["decisions"], f"{path}.decisions")
        if len(decisions_doc) != height:
            raise DecodeError(
                f"{path}.decisions", f"expected {height} decisions (one per height below)"
            )
        decisions = []
        for i, d in enumerate(decisions_doc):
            dpath = f"{path}.decisions[{i}]"
            expect_object(d, dpath, ("value", "round"))
            decisions.append(
                (
                    expect_str(d["value"], f"{dpath}.value"),
                    expect_int(d["round"], f"{dpath}.round", 0),
                )
            )
        config = impl.NodeConfig(me, seed, impl.Validators(public_keys, powers, values))
        return impl.Node(
            config,
            height,
            round_,
            _STEP_NAMES.index(step),
            proposed,
            tuple(decisions),
            _optional_str(doc["locked_value"], f"{path}.locked_value"),
            expect_int(doc["locked_round"], f"{path}.locked_round", minimum=-1),
            _optional_str(doc["valid_value"], f"{path}.valid_value"),
            expect_int(doc["valid_round"], f"{path}.valid_round", minimum=-1),
        )

    # events
    def encode_event(self, event: impl.Event) -> JSON:
        name = _EVENT_TYPES[type(event)]
        if isinstance(event, impl.ProposeRequest):
            return {"type": name, "value": _loose_to_json(event.value)}
        if isinstance(event, impl.TimeoutPropose):
            return {"type": name}
        doc: dict[str, Any] = {"type": name}
        for field in _EVENT_FIELDS[name][1]:
            value = getattr(event, field)
            if field == "proposal":
                doc[field] = message_to_json(value)
            else:
                doc[field] = [message_to_json(m) for m in value]
        return doc

    def decode_event(self, doc: JSON, path: str = "$") -> impl.Event:
        if not isinstance(doc, dict):
            raise DecodeError(path, "expected an object with a field 'type'")
        kind = doc.get("type")
        if kind == "propose":
            expect_object(doc, path, ("type", "value"))
            return impl.ProposeRequest(expect_str(doc["value"], f"{path}.value"))
        if kind == "timeout_propose":
            expect_object(doc, path, ("type",))
            return impl.TimeoutPropose()
        if type(kind) is not str or kind not in _EVENT_FIELDS:
            known = ", ".join(sorted(_EVENT_TYPES.values()))
            raise DecodeError(f"{path}.type", f"unknown event type {kind!r} (known: {known})")
        cls, fields = _EVENT_FIELDS[kind]
        expect_object(doc, path, ("type", *fields))
        args: list[Any] = []
        for field in fields:
            fpath = f"{path}.{field}"
            if field == "proposal":
                args.append(message_from_json(doc[field], fpath))
            else:
                items = expect_array(doc[field], fpath)
                args.append(
                    tuple(message_from_json(m, f"{fpath}[{i}]") for i, m in enumerate(items))
                )
        return cls(*args)

    # effects
    def encode_effects(self, effects: impl.Effects) -> JSON:
        return {
            "broadcasts": [message_to_json(m) for m in effects.broadcasts],
            "decisions": [{"height": h, "value": v} for h, v in effects.decisions],
            "timers": [{"timeout": k, "height": h, "round": r} for k, h, r in effects.timers],
            "evidence": [[message_to_json(a), message_to_json(b)] for a, b in effects.evidence],
            "faults": [
                {"sender": _loose_to_json(f.sender), "kind": f.kind.value} for f in effects.faults
            ],
        }

    def handler(self, event: impl.Event) -> str:
        return _EVENT_TYPES[type(event)]

    def step(self, node: impl.Node, event: impl.Event) -> tuple[impl.Node, impl.Effects]:
        return impl.step(node, event)


CODEC = TendermintCodec()


def node_event(action: Fire | Forged) -> tuple[int, impl.Event]:
    """The node a model action steps (its index among the correct nodes) and its impl event.

    The index is the node's place in :attr:`Deployment.nodes`, i.e. in ``Params.correct``; the
    oracle's configs have validator 0 Byzantine, so node 0 is validator 1 (the state's ``me``).
    """
    if isinstance(action, Forged):
        return _ORACLE_CORRECT.index(action.process), action.event
    return _ORACLE_CORRECT.index(action.action.process), action.event


def initial_node(index: int, n: int) -> impl.Node:
    """Node ``index`` of a trace without initial states: validator ``index`` of ``n`` validators
    of power 1 with the test keys (:func:`impl.derive_seed`) and the values v0, v1."""
    seeds = tuple(impl.derive_seed(i) for i in range(n))
    validators = impl.Validators(tuple(impl.public_key(s) for s in seeds), (1,) * n, ("v0", "v1"))
    return impl.new_node(impl.NodeConfig(index, seeds[index], validators))


ORACLE_CONFIG = "oracle"
_ORACLE_CORRECT = params_of(PROTOCOL.config(ORACLE_CONFIG)).correct


# -- Trace validation against the spec -----------------------------------------------------------


def _is_nat(value: Any) -> bool:
    return type(value) is int and value >= 0


def _verifies(key: bytes, m: impl.Signed) -> bool:
    """Ed25519 verification of ``m``'s canonical payload, written apart from the impl's."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    data = impl.payload(m.kind, m.height, m.round, m.sender, m.value, m.valid_round)
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(m.signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def message_refusal(node: impl.Node, m: impl.Signed) -> tuple[Any, impl.FaultKind] | None:
    """Why ``node`` must refuse the signed message ``m`` (sender, fault), or None.

    A message the spec's network can hold at the node's height is a ⟨kind, h, r, v, vr⟩ of a
    validator, signed with its key, a proposal only from proposer(h, r) (Alg. 1 line 22) with a
    value and -1 <= vr < r, a vote with vr = -1; the checks run in the order the impl documents
    and the first failure names the fault.
    """
    vs = node.config.validators
    n = len(vs.powers)
    if not (_is_nat(m.sender) and m.sender < n):
        return (m.sender if type(m.sender) is int else None), impl.FaultKind.UNKNOWN_VALIDATOR
    sender = m.sender
    if type(m.kind) is not str or m.kind not in impl.KINDS or not _is_nat(m.round):
        return sender, impl.FaultKind.MALFORMED
    if type(m.height) is not int or not isinstance(m.signature, bytes):
        return sender, impl.FaultKind.MALFORMED
    if m.value is not None and type(m.value) is not str:
        return sender, impl.FaultKind.MALFORMED
    if type(m.valid_round) is not int:
        return sender, impl.FaultKind.MALFORMED
    if m.kind == impl.PROPOSAL and (m.value is None or not -1 <= m.valid_round < m.round):
        return sender, impl.FaultKind.MALFORMED
    if m.kind != impl.PROPOSAL and m.valid_round != -1:
        return sender, impl.FaultKind.MALFORMED
    if m.height != node.height:
        return sender, impl.FaultKind.WRONG_HEIGHT
    if not _verifies(vs.public_keys[sender], m):
        return sender, impl.FaultKind.BAD_SIGNATURE
    if m.kind == impl.PROPOSAL and sender != vs.proposer(m.height, m.round):
        return sender, impl.FaultKind.NOT_PROPOSER
    return None


def _power(vs: impl.Validators, messages: tuple[impl.Signed, ...]) -> int:
    return sum(vs.powers[s] for s in {m.sender for m in messages})


def _certificate_refusal(
    node: impl.Node, messages: tuple[impl.Signed, ...], kind: str, round_: int, value: Any = ...
) -> impl.FaultKind | None:
    """A certificate of Algorithm 1: every message ``kind`` of ``round_`` (for ``value``), from
    distinct senders holding more than 2/3 of the power (equivocators counted once)."""
    for m in messages:
        if m.kind != kind or m.round != round_ or (value is not ... and m.value != value):
            return impl.FaultKind.WRONG_CERTIFICATE
    vs = node.config.validators
    if not 3 * _power(vs, messages) > 2 * vs.total:
        return impl.FaultKind.INSUFFICIENT_POWER
    return None


def event_refusal(node: impl.Node, event: impl.Event) -> tuple[Any, impl.FaultKind] | None:
    """Why ``node`` must refuse ``event`` (sender, fault), or None: each carried message, then
    the certificate the event's rule needs (the spec's thresholds, lines 28, 36, 44, 34, 47,
    49, 55)."""
    carried = impl._carried(event)
    for m in carried:
        found = message_refusal(node, m)
        if found is not None:
            return found
    vs = node.config.validators
    if isinstance(event, impl.ProposalReceived | impl.PolkaReceived | impl.CommitReceived):
        p = event.proposal
        if p.kind != impl.PROPOSAL:
            return p.sender, impl.FaultKind.WRONG_CERTIFICATE
        if isinstance(event, impl.ProposalReceived):
            if p.valid_round == -1:
                bad = impl.FaultKind.WRONG_CERTIFICATE if event.polka else None
            else:
                bad = _certificate_refusal(node, event.polka, impl.PREVOTE, p.valid_round, p.value)
        elif isinstance(event, impl.PolkaReceived):
            bad = _certificate_refusal(node, event.prevotes, impl.PREVOTE, p.round, p.value)
        else:
            bad = _certificate_refusal(node, event.precommits, impl.PRECOMMIT, p.round, p.value)
        return None if bad is None else (p.sender, bad)
    if isinstance(event, impl.NilPolkaReceived):
        bad = _certificate_refusal(node, event.prevotes, impl.PREVOTE, node.round, None)
    elif isinstance(event, impl.TimeoutPrevote):
        bad = _certificate_refusal(node, event.prevotes, impl.PREVOTE, node.round)
    elif isinstance(event, impl.TimeoutPrecommit):
        bad = _certificate_refusal(node, event.precommits, impl.PRECOMMIT, node.round)
    else:
        assert isinstance(event, impl.RoundSkipReceived)
        if len({m.round for m in event.messages}) != 1:
            bad = impl.FaultKind.WRONG_CERTIFICATE
        elif not 3 * _power(vs, event.messages) > vs.total:
            bad = impl.FaultKind.INSUFFICIENT_POWER
        else:
            bad = None
    return None if bad is None else (None, bad)


def equivocations(messages: tuple[impl.Signed, ...]) -> list[tuple[impl.Signed, impl.Signed]]:
    """Pairs (first, other) of different messages of one sender, kind and round, in order."""
    seen: dict[tuple[Any, Any, Any], impl.Signed] = {}
    out = []
    for m in messages:
        first = seen.setdefault((m.sender, m.kind, m.round), m)
        if first != m:
            out.append((first, m))
    return out


def _spec_context(node: impl.Node, rounds: int) -> spec.Context:
    """The spec's context for one node: its validators, no Byzantine alphabet (the event's
    certificate is the whole visible pool), heights and rounds wide enough that no bound of the
    model disables a rule. The other validators are halted processes (:func:`_halted`)."""
    vs = node.config.validators
    params = spec.Params(
        powers=vs.powers,
        byzantine=(),
        values=vs.values,
        max_round=rounds,
        heights=node.height + 2,
    )
    return spec.Context(params)


def _halted(validator: int, heights: int) -> spec.Process:
    """A process past the last height: the spec enables nothing for it."""
    return spec.Process(
        validator, heights, 0, spec.Step.PROPOSE, (None,) * heights, None, -1, None, -1
    )


# event class -> the spec actions it may carry out
_RULES: dict[type, tuple[type, ...]] = {
    impl.ProposeRequest: (spec.Propose,),
    impl.TimeoutPropose: (spec.TimeoutPropose,),
    impl.ProposalReceived: (spec.PrevoteOnProposal, spec.PrevoteOnPolkaProposal),
    impl.PolkaReceived: (spec.PrecommitOnPolka,),
    impl.NilPolkaReceived: (spec.PrecommitNil,),
    impl.TimeoutPrevote: (spec.TimeoutPrevote,),
    impl.TimeoutPrecommit: (spec.TimeoutPrecommit,),
    impl.CommitReceived: (spec.Decide,),
    impl.RoundSkipReceived: (spec.RoundSkip,),
}


def _matches(action: spec.Action, event: impl.Event) -> bool:
    """``action`` is the rule ``event`` fires (same value, vr and round where the event says)."""
    if not isinstance(action, _RULES[type(event)]):
        return False
    if isinstance(event, impl.ProposalReceived):
        p = event.proposal
        if isinstance(action, spec.PrevoteOnProposal):
            return p.valid_round == -1 and action.value == p.value
        return action.value == p.value and action.valid_round == p.valid_round
    if isinstance(event, impl.PolkaReceived):
        return action.value == event.proposal.value
    if isinstance(event, impl.CommitReceived):
        p = event.proposal
        return (action.round, action.value) == (p.round, p.value)
    if isinstance(event, impl.RoundSkipReceived):
        return action.round == event.messages[0].round
    return True


def expected_step(
    node: impl.Node, event: impl.Event
) -> tuple[spec.Process, bool, dict[str, Any], str] | str:
    """What the spec requires of ``node`` on an accepted ``event``: the post-process, the
    ``proposed`` flag, the effects document and the rule, or a reason the step is not allowed
    (a propose request the spec does not enable)."""
    carried: tuple[impl.Signed, ...] = (
        () if isinstance(event, impl.ProposeRequest | impl.TimeoutPropose) else impl._carried(event)
    )
    rounds = max([node.round, *(m.round for m in carried)]) + 1
    ctx = _spec_context(node, rounds)
    pool = tuple(sorted({to_spec_message(m) for m in carried}, key=spec.message_key))
    heights = ctx.params.heights
    pre = to_spec_process(node, heights)
    me, h = node.config.me, node.height
    others = [_halted(k, heights) for k in range(len(ctx.params.powers))]
    processes = tuple(pre if k == me else q for k, q in enumerate(others))
    state = spec.SystemState(processes, pool)
    enabled = [a for a in spec.enabled_actions(ctx, state) if _matches(a, event)]
    if isinstance(event, impl.ProposeRequest):
        enabled = [
            a
            for a in enabled
            if not node.proposed and (node.valid_value is not None or a.value == event.value)
        ]
        if not enabled:
            return (
                f"spec Propose enabled for {event.value!r}: node {me} is proposer(h, r), in step "
                "propose, has not proposed, and the value is validValue or valid"
            )
    evidence = [[message_to_json(a), message_to_json(b)] for a, b in equivocations(carried)]
    effects: dict[str, Any] = {
        "broadcasts": [],
        "decisions": [],
        "timers": [],
        "evidence": evidence,
        "faults": [],
    }
    if not enabled:
        return pre, node.proposed, effects, "no rule of Algorithm 1 applies: nothing changes"
    action = enabled[0]
    post_state = spec.apply(ctx, spec.SystemState(processes, ()), action)
    post = post_state.processes[me]
    seed = node.config.seed
    effects["broadcasts"] = [
        message_to_json(
            impl.sign(seed, KIND_NAMES[m.kind], m.height, m.round, m.sender, m.value, m.valid_round)
        )
        for m in post_state.pool
    ]
    proposed = isinstance(action, spec.Propose) or (
        node.proposed and (post.height, post.round) == (pre.height, pre.round)
    )
    if isinstance(action, spec.Decide):
        effects["decisions"] = [{"height": h, "value": action.value}]
    if (post.height, post.round) != (pre.height, pre.round):
        if spec.proposer(ctx.params, post.height, post.round) != me:
            effects["timers"] = [{"timeout": "propose", "height": post.height, "round": post.round}]
    return post, proposed, effects, f"spec {describe(action)}"


def _strictly_equal(a: JSON, b: JSON) -> bool:
    """JSON equality that tells ``1`` from ``true`` and from ``1.0`` (unlike Python's ``==``)."""
    if type(a) is not type(b):
        return False
    if type(a) is list:
        return len(a) == len(b) and all(_strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return a.keys() == b.keys() and all(_strictly_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _show(p: spec.Process, proposed: bool) -> str:
    return (
        f"h={p.height} r={p.round} step={p.step.name.lower()} proposed={proposed} "
        f"decisions={[(d.value, d.round) for d in p.decisions if d is not None]} "
        f"locked=({p.locked_value}, {p.locked_round}) valid=({p.valid_value}, {p.valid_round})"
    )


def step_checker(codec: TendermintCodec = CODEC) -> Any:
    """Trace validation of one node's step against :mod:`spec.tendermint` (see :mod:`.validate`).

    For each step: the node's configuration (id, key, validators) never changes
    (``identity``); an event carrying a message the spec's network cannot hold, or a
    certificate short of its rule's threshold (:func:`event_refusal`), changes nothing
    (``faults_change_nothing``) and is reported as exactly that fault (``typed_fault``);
    otherwise the spec's rule for the event is looked up among the actions the spec enables on
    the node's abstraction with the event's certificate as the whole pool, and the new state is
    exactly that action's post-state (``refinement``; no enabled rule: nothing changes), and
    the recorded effects are exactly the action's broadcasts (signed with the node's key:
    Ed25519 is deterministic), decisions, propose timer and the equivocations in the event
    (``refinement``). Streaming: the check reads the node's state before the step and the event
    only, so memory does not grow with the trace. A single step cannot show that a certificate
    came from messages really sent, nor the cross-node invariants (agreement): the model
    checker covers those.
    """
    from .validate import StepChecker

    def check(
        nodes: tuple[impl.Node, ...], i: int, event: impl.Event, post: impl.Node, effects: Any
    ) -> tuple[str, str, str] | None:
        pre = nodes[i]
        if post.config != pre.config:
            return (
                "identity",
                f"the configuration of validator {pre.config.me} (id, key, validators) unchanged",
                f"the state of validator {post.config.me} with its own configuration",
            )
        heights = max(pre.height, post.height) + 2
        refused = (
            None
            if isinstance(event, impl.ProposeRequest | impl.TimeoutPropose)
            else event_refusal(pre, event)
        )
        if refused is not None:
            sender, kind = refused
            if post != pre:
                return (
                    "faults_change_nothing",
                    f"the state unchanged: the event is refused ({kind.value})",
                    _show(to_spec_process(post, heights), post.proposed),
                )
            if effects is None:
                return None
            want = {
                "broadcasts": [],
                "decisions": [],
                "timers": [],
                "evidence": [],
                "faults": [{"sender": _loose_to_json(sender), "kind": kind.value}],
            }
            if not _strictly_equal(effects, want):
                return ("typed_fault", f"effects {brief(want)}", f"effects {brief(effects)}")
            return None
        expected = expected_step(pre, event)
        if isinstance(expected, str):
            return ("refinement", expected, f"a {codec.handler(event)} step was recorded")
        process, proposed, want, rule = expected
        got = to_spec_process(post, heights)
        want_process = attrs.evolve(
            process, decisions=process.decisions + (None,) * (heights - len(process.decisions))
        )
        if got != want_process or post.proposed != proposed:
            return (
                "refinement",
                f"{rule} gives {_show(want_process, proposed)}",
                _show(got, post.proposed),
            )
        if effects is not None and not _strictly_equal(effects, want):
            return ("refinement", f"{rule}: effects {brief(want)}", f"effects {brief(effects)}")
        return None

    return StepChecker(codec=codec, initial_node=initial_node, check=check)


ORACLE = OracleBinding(
    codec=CODEC,
    # the tiny config plus an equivocating forged event: fast, and every FaultKind appears
    configs=(ORACLE_CONFIG,),
    node_event=node_event,
    nodes=lambda state: state.nodes,
    initial_node=initial_node,
    step_checker=step_checker(CODEC),
)
