"""PBFT: bounded model, mutants, unsafe configurations and a Hypothesis state machine.

Source: Castro & Liskov, OSDI 1999 sections 4.2-4.5 and TOCS 2002 section 2.3 (see
:mod:`mnemosyne_consensus.spec.pbft`).

The explored state is the spec's :class:`spec.SystemState`: the correct replicas, ONE global pool
of the messages they signed, and the client's accepted results; the Byzantine replicas' messages
are the fixed alphabet :func:`spec.byzantine_alphabet` (not state). Replica 0 is Byzantine in
the 4-replica configs, so it is the primary of view 0 and equivocates (pre-prepares a request
and the null request for one sequence number, prepares and commits everything, sends every
checkpoint and every view change its signed messages can back); the primary of view 1 is
correct, so the view change to view 1 re-proposes what view 0 committed. The
``byzantine-new-view`` config makes replica 1, the primary of view 1, Byzantine instead: it
signs NEW-VIEWs from the alphabet (:func:`spec.byzantine_new_views`: well-formed, O ignoring
V's certificates, O with gaps, V not a quorum) which correct backups must check; the impl is
handed every bad one that can be shown and must refuse it (``faults_change_nothing``), and the
mutant ``backup-accepts-any-new-view`` drops the check. ``views-0-2`` shows the f + 1 rule
skipping a view (see :func:`spec.joined_by_f_plus_1`).

Every spec invariant is checked in every state and the step property on every transition; the
impl refines the spec (``refinement``, ``faults_change_nothing``, see :func:`build`).

Symmetry (``symmetric: True`` in a config's params): the correct replicas that are the primary
of no view in 0..max_view are interchangeable (the alphabet names only faulty senders, the
rules treat replicas alike, the properties quantify over all correct replicas), so a state is
stored as the least of its renamings (:func:`canonicalize`). Tests compare the verdicts of the
reduced and unreduced runs.

Measured on one core of this machine: see :data:`CONFIGS` (distinct states and seconds).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ..impl import pbft as impl
from ..spec import pbft as spec
from ..spec.properties import StepProperty
from .engine import Bounds, Model, explore
from .machines import require
from .registry_types import Config, Mutant, ProtocolEntry, UnsafeConfigError

# -- Mutants -------------------------------------------------------------------------------------

MUTANTS = (
    Mutant(
        "quorum-2f",
        "certificates of 2f replicas instead of 2f + 1: a Byzantine primary's two pre-prepares "
        "for one sequence number both commit",
        "committed_agreement",
    ),
    Mutant(
        "quorum-2f-prepared",
        "the 2f quorum bug again, seen by the prepare phase: two requests prepared in one view at "
        "one sequence number",
        "prepared_unique",
    ),
    Mutant(
        "quorum-2f-histories",
        "the 2f quorum bug again, seen by execution: correct replicas execute different requests",
        "executed_prefix",
    ),
    Mutant(
        "commit-without-prepared",
        "a backup sends COMMIT as soon as it accepts the pre-prepare, without 2f PREPAREs",
        "commit_only_when_prepared",
    ),
    Mutant(
        "newview-ignores-certificates",
        "the new primary fills (min-s, max-s] with null requests, ignoring the prepared "
        "certificates of the VIEW-CHANGEs",
        "view_change_preserves_commits",
        config="default",
    ),
    Mutant(
        "backup-accepts-any-new-view",
        "backups accept a Byzantine primary's NEW-VIEW without checking O against V (nor that V "
        "is a quorum): an O that ignores the committed request's certificate re-opens its "
        "sequence number",
        "view_change_preserves_commits",
        config="byzantine-new-view",
    ),
    Mutant(
        "checkpoint-stable-on-f-plus-1",
        "a checkpoint is stable on f + 1 matching CHECKPOINTs (one of them the faulty replica's)",
        "gc_keeps_needed_state",
    ),
    Mutant(
        "accept-outside-watermarks",
        "a backup accepts a pre-prepare whatever its sequence number (no h < n <= H check)",
        "watermarks_respected",
        config="watermarks",
    ),
    Mutant(
        "client-accepts-on-f",
        "the client accepts a result on f replies: the faulty replica's bogus reply suffices",
        "client_accepts_computed",
    ),
    Mutant(
        "impl-forgets-checkpoint",
        "the impl does not advance its low water mark on a stable checkpoint (spec unchanged): "
        "caught by refinement",
        "refinement",
    ),
    Mutant(
        "impl-steps-on-rejected-input",
        "the impl enters the next view even when it rejects the event with a fault",
        "faults_change_nothing",
    ),
)

# mutant name -> the Rules fields it flips
MUTATIONS: dict[str, dict[str, Any]] = {
    "quorum-2f": {"quorum_override": "2f"},
    "quorum-2f-prepared": {"quorum_override": "2f"},
    "quorum-2f-histories": {"quorum_override": "2f"},
    "commit-without-prepared": {"require_prepared": False},
    "newview-ignores-certificates": {"newview_uses_certificates": False},
    "backup-accepts-any-new-view": {"check_new_view": False},
    "checkpoint-stable-on-f-plus-1": {"weak_checkpoint": True},
    "accept-outside-watermarks": {"check_watermarks": False},
    "client-accepts-on-f": {"client_replies": "f"},
}
IMPL_MUTANTS = ("impl-forgets-checkpoint", "impl-steps-on-rejected-input")


def rules_for(params: spec.Params, mutant: Mutant | None) -> spec.Rules:
    """The paper's rules with ``mutant``'s bug in them ("2f" and "f" read off ``params``)."""
    if mutant is None or mutant.name not in MUTATIONS:
        return spec.SPEC_RULES
    changes = dict(MUTATIONS[mutant.name])
    for key, value in changes.items():
        if value == "2f":
            changes[key] = 2 * params.f
        elif value == "f":
            changes[key] = params.f
    return attrs.evolve(spec.SPEC_RULES, **changes)


def byzantine_ids(n: int, f: int) -> tuple[int, ...]:
    """Replica 0 (the primary of view 0) and then the highest ids, so that the primaries of the
    first views after 0 (replicas 1, 2, ...) are correct and every NEW-VIEW is a correct one."""
    return tuple(sorted({0, *range(n - 1, n - f, -1)})) if f > 0 else ()


def params_of(config: Config) -> spec.Params:
    p = config.params
    n: int = p["replicas"]
    f: int = p["f"]
    return spec.Params(
        n=n,
        f=f,
        byzantine=tuple(p.get("byzantine", byzantine_ids(n, f))),
        requests=tuple(p.get("requests", ("r1",))),
        max_view=p.get("max_view", 1),
        max_seq=p.get("max_seq", 1),
        checkpoint_interval=p.get("checkpoint_interval", 1),
        log_size=p.get("log_size", 1),
    )


def describe(action: Any) -> str:
    def show(key: str, value: Any) -> str:
        if key == "vset":  # V of a Byzantine NEW-VIEW: (sender, min-s, digest, P) per message
            value = [(m.sender, m.seq, m.digest, m.certs) for m in value]
        return f"{key}={value!r}"

    items = attrs.asdict(action, recurse=False).items()
    fields = ", ".join(show(k, v) for k, v in items if not (k == "vset" and not v))
    return f"{type(action).__name__}({fields})"


# -- Symmetry ------------------------------------------------------------------------------------


def interchangeable(params: spec.Params) -> tuple[int, ...]:
    """Correct replicas that are the primary of no view in 0..max_view."""
    primaries = {params.primary(v) for v in range(params.max_view + 1)}
    return tuple(i for i in params.correct if i not in primaries)


def _key(state: spec.SystemState) -> tuple[Any, ...]:
    return (
        tuple((r.view, r.active, r.executed, r.low) for r in state.replicas),
        state.pool,
    )


# Up to this many interchangeable replicas, every renaming is tried and the least state kept (a
# true canonical form); above it (``--replicas 100`` has 98! renamings), the replicas are sorted
# by what they did instead (see :func:`canonicalizer`).
MAX_ENUMERATED = 4


def renamings(params: spec.Params) -> list[dict[int, int]]:
    """Every permutation of the interchangeable replicas, as id maps (identity excluded)."""
    ids = interchangeable(params)
    out = []
    for perm in itertools.permutations(ids):
        mapping = dict(zip(ids, perm, strict=True))
        if any(a != b for a, b in mapping.items()):
            out.append(mapping)
    return out


def rename(params: spec.Params, state: spec.SystemState, mapping: dict[int, int]) -> Any:
    """``state`` with replica ids renamed by ``mapping`` (others fixed)."""
    by_id = {
        mapping.get(r.id, r.id): attrs.evolve(r, id=mapping.get(r.id, r.id)) for r in state.replicas
    }
    replicas = tuple(by_id[i] for i in params.correct)
    pool = tuple(sorted(m._replace(sender=mapping.get(m.sender, m.sender)) for m in state.pool))
    return spec.SystemState(replicas, pool, state.accepted)


def sorting_renaming(params: spec.Params, state: spec.SystemState) -> dict[int, int]:
    """The renaming that orders the interchangeable replicas by what they did: their variables,
    then the messages they sent (sender left out), the least to the lowest id. Replicas that did
    the same get their ids in their present order, so two states of one orbit may keep two
    representatives: less reduction than :func:`renamings`' minimum, never an unsound one."""
    ids = interchangeable(params)
    replica = {r.id: r for r in state.replicas}
    sent: dict[int, list[spec.Msg]] = {i: [] for i in ids}
    for m in state.pool:
        if m.sender in sent:
            sent[m.sender].append(m._replace(sender=-1))

    def did(i: int) -> tuple[Any, ...]:
        r = replica[i]
        return (r.view, r.active, r.executed, r.low, tuple(sent[i]), i)

    return dict(zip(sorted(ids, key=did), ids, strict=True))


def canonicalizer(params: spec.Params) -> Any:
    """A representative of each state's orbit under renamings of the interchangeable replicas:
    the least over every renaming for a few replicas, :func:`sorting_renaming`'s above
    ``MAX_ENUMERATED`` (a representative need not be unique to be sound: every state it stands
    for is the same state up to replica names, so the same properties hold there)."""
    enumerated = len(interchangeable(params)) <= MAX_ENUMERATED
    maps = renamings(params) if enumerated else []
    # state -> its representative (a representative maps to itself: the explorer hands every
    # stutter's unchanged state back, and the lookup is then one cached hash and an ``is``)
    memo: dict[spec.SystemState, spec.SystemState] = {}

    def canonicalize(state: spec.SystemState) -> spec.SystemState:
        found = memo.get(state)
        if found is not None:
            return found
        best, best_key = state, _key(state)
        if enumerated:
            for mapping in maps:
                other = rename(params, state, mapping)
                key = _key(other)
                if key < best_key:
                    best, best_key = other, key
        else:
            best = rename(params, state, sorting_renaming(params, state))
        if len(memo) >= 400_000:
            memo.clear()
        memo[state] = best
        memo[best] = best
        return best

    return canonicalize


# -- The model -----------------------------------------------------------------------------------


def _always_true(pre: Any, action: Any, post: Any) -> bool:
    return True


def build_spec(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    """The spec explored directly (no impl under it): state = :class:`spec.SystemState`."""
    params = params_of(config)
    ctx = spec.Context(params, rules_for(params, mutant))
    invariants, steps, reachables = spec.properties(ctx)
    model: Model[Any, Any] = Model(
        name="pbft",
        initial_states=lambda: [spec.initial_state(params)],
        actions=lambda s: spec.enabled_actions(ctx, s),
        next_state=lambda s, a: spec.apply(ctx, s, a),
        invariants=invariants,
        step_properties=(
            *steps,
            _stub_step_property("refinement"),
            _stub_step_property("faults_change_nothing"),
        ),
        reachables=reachables,
        describe_action=describe,
    )
    if config.params.get("symmetric") and len(interchangeable(params)) > 1:
        model = attrs.evolve(model, canonicalize=canonicalizer(params))
    return model


def _stub_step_property(name: str) -> StepProperty[Any, Any]:
    """A vacuous step property carrying an impl-only property's name in the spec-only model."""
    return StepProperty(name, "no impl under this model (spec explored directly)", _always_true)


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    """The model of ``config`` with ``mutant``'s bug, the impl refining the spec at every step.

    A rule mutant (a bug in the paper's rules, which the impl does not share) explores the
    mutated spec directly (:func:`build_spec`); an impl mutant runs a buggy impl against the
    paper's spec. Configs with ``spec_only`` skip the impl (the unsafe ones, whose point is the
    spec's counterexample).
    """
    if config.params.get("oracle"):
        return build_oracle(config, mutant)
    if config.params.get("spec_only") or (mutant is not None and mutant.name not in IMPL_MUTANTS):
        return build_spec(config, mutant)
    return build_with_impl(config, mutant)


def view(state: Any) -> Mapping[str, Any]:
    """The variables of a state, per correct replica, and the pool by message kind."""
    s: spec.SystemState = state.system if isinstance(state, OracleState) else state
    per = {r.id: r for r in s.replicas}

    def msgs(kind: str) -> tuple[dict[str, Any], ...]:
        out = []
        for m in s.pool:
            if m.kind != kind:
                continue
            doc: dict[str, Any] = {"v": m.view, "n": m.seq, "i": m.sender}
            if kind in (spec.PRE_PREPARE, spec.PREPARE, spec.COMMIT):
                doc["d"] = m.request
            if kind in (spec.CHECKPOINT, spec.VIEW_CHANGE, spec.NEW_VIEW):
                doc["state"] = list(m.digest)
            if kind in (spec.VIEW_CHANGE, spec.NEW_VIEW):
                doc["certs"] = [list(c) for c in m.certs]
            out.append(doc)
        return tuple(out)

    return {
        "view": {i: r.view for i, r in per.items()},
        "active": {i: r.active for i, r in per.items()},
        "executed": {i: list(r.executed) for i, r in per.items()},
        "low": {i: r.low for i, r in per.items()},
        "accepted": [list(a) for a in s.accepted],
        **{f"msgs_{k.replace('-', '_')}": msgs(k) for k in spec.KINDS},
    }


_FOUR = {"replicas": 4, "f": 1}
DEFAULT_STATES = 51228  # distinct states of the default config (with symmetry)
TINY_STATES = 452  # distinct states of the tiny config
BYZANTINE_NEW_VIEW_STATES = 31849  # distinct states of the byzantine-new-view config

CONFIGS = (
    Config(
        "default",
        "4 replicas, f = 1, replica 0 Byzantine (equivocating primary of view 0; the primary of "
        "view 1 is correct), 1 request, views 0..1, sequence number 1, K = 1, log size 1, "
        "honest-replica symmetry over replicas 2 and 3 (100,981 states without it); the impl "
        "refines the spec at every step: 51,228 states, about 22 s of CPU",
        {**_FOUR, "symmetric": True},
        expected_distinct_states=DEFAULT_STATES,
    ),
    Config(
        "tiny",
        "4 replicas, f = 1, replica 0 Byzantine, 1 request, view 0 only, sequence number 1, "
        "K = 1, log size 1, no symmetry: 452 states, under a second",
        {**_FOUR, "max_view": 0},
        expected_distinct_states=TINY_STATES,
    ),
    Config(
        "byzantine-new-view",
        "4 replicas, f = 1, replica 1 Byzantine: the primary of view 0 is correct and the "
        "primary of view 1 is faulty, signing NEW-VIEWs of every V (well-formed, O ignoring V's "
        "certificates, O with gaps, V not a quorum) that backups must check; 1 request, views "
        "0..1, sequence number 1, K = 1, log size 1, symmetry over replicas 2 and 3; the impl "
        "refines the spec and refuses every bad NEW-VIEW that can be shown: 31,849 states "
        "(62,042 without symmetry), about 30 s of CPU (12 s spec only)",
        {**_FOUR, "byzantine": (1,), "symmetric": True},
        expected_distinct_states=BYZANTINE_NEW_VIEW_STATES,
    ),
    Config(
        "views-0-2",
        "4 replicas, f = 1, replica 0 Byzantine, 1 request, views 0..2 (primaries 1 and 2 "
        "correct), sequence number 1, K = 1, log size 1, spec only, cut at depth 6: the f + 1 "
        "rule skips view 1 (the reachable joined_by_f_plus_1, at depth 3); every reachable by "
        "depth 8: 11,665 states, about a second",
        {**_FOUR, "max_view": 2, "spec_only": True},
        Bounds(max_depth=8),
    ),
    Config(
        "watermarks",
        "4 replicas, f = 1, 1 request, view 0 only, sequence numbers 1..2, K = 1, log size 1: "
        "the faulty primary's pre-prepare for n = 2 is above H until a checkpoint is stable "
        "(20,160 states)",
        {**_FOUR, "max_view": 0, "max_seq": 2, "spec_only": True},
    ),
    Config(
        "issue",
        "the issue's bounds: 4 replicas, f = 1, 2 requests, views 0..1, sequence numbers 1..2, "
        "K = 1, log size 2, symmetry (millions of states: time-bounded, or --simulate)",
        {**_FOUR, "requests": ("r1", "r2"), "max_seq": 2, "log_size": 2, "symmetric": True},
        Bounds(max_seconds=120),
    ),
    Config(
        "oracle",
        "the default bounds without symmetry, the impl replicas kept across steps (the oracle's "
        "vectors and traces come from a breadth-first walk of it)",
        {**_FOUR, "oracle": True},
    ),
    Config(
        "oracle-byzantine-new-view",
        "the byzantine-new-view bounds without symmetry, the impl replicas kept across steps: "
        "the oracle's vectors of a faulty primary's NEW-VIEWs, the valid ones accepted and the "
        "doctored ones (O ignoring V's certificates, O with gaps, V short of a quorum) refused",
        {**_FOUR, "byzantine": (1,), "oracle": True, "new_views_only": True},
    ),
    Config(
        "unsafe-3-1",
        "3 replicas configured for f = 1 (3f >= n), replica 0 Byzantine: two quorums of n - f = 2 "
        "share only the faulty replica, and agreement fails",
        {"replicas": 3, "f": 1, "max_view": 0, "spec_only": True},
    ),
    Config(
        "unsafe-4-2",
        "4 replicas configured for f = 2 (3f >= n), replicas 0 and 3 Byzantine: agreement fails",
        {"replicas": 4, "f": 2, "max_view": 0, "spec_only": True},
    ),
)


def config_for(replicas: int, byzantine: int, allow_unsafe: bool = False) -> Config:
    """The config for ``check pbft --replicas N --byzantine F [--allow-unsafe]``.

    The replicas are configured to tolerate f = ``byzantine`` faults (quorums of n - f) and
    that many are Byzantine (replica 0, the primary of view 0, and the highest ids). PBFT needs
    n >= 3f + 1 (OSDI 1999 section 3); otherwise :class:`UnsafeConfigError` unless
    ``allow_unsafe`` (to see the counterexample). Other bounds are the default config's.
    """
    if replicas < 1 or byzantine < 0 or byzantine > replicas:
        raise ValueError(
            f"need 1 <= replicas and 0 <= byzantine <= replicas, got n={replicas}, f={byzantine}"
        )
    safe = 3 * byzantine < replicas
    if not safe and not allow_unsafe:
        raise UnsafeConfigError(
            f"PBFT tolerates f faults only when 3f < n, i.e. n >= 3f + 1; n={replicas} and "
            f"f={byzantine} break it (pass --allow-unsafe to see the counterexample)"
        )
    small = replicas <= 4
    return Config(
        f"n{replicas}-f{byzantine}" + ("" if safe else "-unsafe"),
        f"{replicas} replicas, f = {byzantine} Byzantine, 1 request, views 0..1, sequence "
        "number 1, K = 1, log size 1" + ("" if safe else " (unsafe: 3f >= n)"),
        {
            "replicas": replicas,
            "f": byzantine,
            "max_view": 1 if safe else 0,
            "symmetric": safe,
            "spec_only": not safe,
        },
        Bounds() if small else Bounds(max_seconds=120),
    )


PROTOCOL = ProtocolEntry(
    name="pbft",
    summary="PBFT: normal case, checkpoints with water marks, view changes (Castro & Liskov)",
    source="Castro & Liskov, 'Practical Byzantine Fault Tolerance', OSDI 1999, section 4; "
    "TOCS 20(4) 2002, section 2.3",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
    sized_config=config_for,
)


# -- Benchmark -----------------------------------------------------------------------------------


def bench_pbft(seconds: float) -> dict[str, Any]:
    """States per second of the default config's exhaustive check (cut at ``seconds``)."""
    config = PROTOCOL.default_config
    model = build(config, None)
    started = time.monotonic()
    result = explore(model, Bounds(max_seconds=seconds))
    elapsed = time.monotonic() - started
    return {
        "config": config.name,
        "distinct_states": result.distinct_states,
        "complete": result.complete,
        "seconds": round(elapsed, 3),
        "states_per_second": round(result.distinct_states / elapsed, 1) if elapsed else 0.0,
    }


# -- Hypothesis: random schedules on a larger system ---------------------------------------------

MACHINE_PARAMS = spec.Params(
    n=7,
    f=2,
    byzantine=(0, 6),
    requests=("r1", "r2"),
    max_view=2,
    max_seq=2,
    checkpoint_interval=1,
    log_size=2,
)


class PbftMachine(RuleBasedStateMachine):
    """7 replicas, f = 2, replicas 0 and 6 Byzantine (0 is the equivocating primary of view 0),
    2 requests, views 0..2 (primaries 1 and 2 correct), sequence numbers 1..2, K = 1, log size
    2. Hypothesis picks which enabled rule of the spec fires next (with view changes: timeouts,
    the f + 1 rule, NEW-VIEWs); the impl replicas are driven alongside, their state kept across
    steps, each handed the impl event of the spec action (with its certificate); after every
    step the impl replica's variables and broadcasts must be the spec's (refinement across
    whole runs), every spec invariant must hold, and the step property on every step."""

    machine_params: spec.Params = MACHINE_PARAMS
    machine_rules: spec.Rules = spec.SPEC_RULES
    drive_impl: bool = True

    def __init__(self) -> None:
        super().__init__()
        self.ctx = spec.Context(self.machine_params, self.machine_rules)
        self.refiner = Refiner(spec.Context(self.machine_params))
        self.spec_invariants, self.spec_steps, _ = spec.properties(self.ctx)
        self.state = spec.initial_state(self.machine_params)
        self.nodes = {
            i: impl.new_node(self.refiner.configs[i]) for i in self.machine_params.correct
        }
        self.new_views = 0
        self.executed = 0

    def _take(self, action: spec.Action) -> None:
        post = spec.apply(self.ctx, self.state, action)
        for prop in self.spec_steps:
            require(prop.holds(self.state, action, post), f"{prop.name} broken by {action}")
        if self.drive_impl and not isinstance(action, spec.ClientAccept):
            self._drive(action, post)
        if isinstance(action, spec.NewView):
            self.new_views += 1
        if isinstance(action, spec.Execute):
            self.executed += 1
        self.state = post

    def _drive(self, action: spec.Action, post: spec.SystemState) -> None:
        i = action.replica
        event = self.refiner.event(self.state, action)
        node, effects = impl.step(self.nodes[i], event)
        require(not effects.faults, f"impl refused {event} for {action}: {effects.faults}")
        want = post.replicas[self.machine_params.correct.index(i)]
        got = self.refiner.abstract_node(node)
        require(got == want, f"refinement: impl gave {got}, spec {action} gives {want}")
        sent = {m for b in effects.broadcasts for m in self.refiner.abstract_message(b)}
        new = set(post.pool) - set(self.state.pool)
        require(new <= sent <= set(post.pool), f"refinement: {action} broadcast {sent}")
        self.nodes[i] = node

    @rule(pick=st.integers(min_value=0, max_value=1 << 16))
    def fire(self, pick: int) -> None:
        enabled = list(spec.enabled_actions(self.ctx, self.state))
        if enabled:
            self._take(enabled[pick % len(enabled)])

    @rule(replica=st.integers(min_value=0, max_value=6))
    def prefer_progress(self, replica: int) -> None:
        """Fire the first enabled rule of ``replica`` that is not a timeout."""
        for action in spec.enabled_actions(self.ctx, self.state):
            if getattr(action, "replica", None) == replica and not isinstance(
                action, spec.StartViewChange
            ):
                self._take(action)
                return

    @rule(replica=st.integers(min_value=0, max_value=6))
    def time_out(self, replica: int) -> None:
        """The view-change timer of ``replica`` expires (if it may)."""
        for action in spec.enabled_actions(self.ctx, self.state):
            if action == spec.StartViewChange(replica):
                self._take(action)
                return

    @invariant()
    def spec_invariants_hold(self) -> None:
        for inv in self.spec_invariants:
            require(inv.holds(self.state), f"{inv.name} broken in {self.state}")


# -- The implementation under the model ----------------------------------------------------------
#
# The explored state stays the spec's (so symmetry and state counts are the spec's); at every
# transition the acting replica's impl state is built from the spec state (:class:`Refiner`,
# ``concretize``: its view, executed requests, low water mark, the pre-prepares it accepted and
# its prepared certificates read off its own messages in the pool, all signed with the senders'
# fixed keys), the impl event that carries out the spec action is built with its certificate from
# the pool and the Byzantine alphabet, the impl steps, and ``refinement`` checks that the impl's
# new variables and broadcasts are exactly the spec action's. ``faults_change_nothing`` delivers
# a fixed forged alphabet (:func:`forged_events`) to every replica in every state.


@attrs.frozen
class Forged:
    """A forged or malformed event delivered to a replica: it must be rejected with a fault."""

    replica: int
    event: Any
    fault: impl.FaultKind
    index: int  # the replica's index among the correct ones (as in the state's replicas)
    what: str = ""  # how it is forged, when the fault kind does not say (see new_view_flaw)

    def __str__(self) -> str:
        what = f", {self.what}" if self.what else ""
        return f"Forged(replica={self.replica}, fault={self.fault.value}{what})"


def doctored_new_views(
    ctx: spec.Context, refiner: Refiner, pool: tuple[spec.Msg, ...], shown: set[spec.Msg]
) -> Iterator[Forged]:
    """Every faulty primary's NEW-VIEW that can be shown in ``pool`` (its V signed) and that the
    spec's backups refuse, handed once (``shown``) to the last correct replica, which must refuse
    it too; each named by its flaw."""
    params = ctx.params
    last = len(params.correct) - 1
    for nvs in ctx.tally(pool).new_views.values():
        for nv in nvs:
            if nv.vset and nv not in shown and not ctx.valid_new_view(pool, nv):
                shown.add(nv)
                event = impl.NewViewReceived(refiner.sign(nv, pool, fresh=True))
                fault = impl.FaultKind.MALFORMED_NEW_VIEW
                yield Forged(params.correct[last], event, fault, last, new_view_flaw(ctx, nv))


def new_view_flaw(ctx: spec.Context, nv: spec.Msg) -> str:
    """What is wrong with a faulty primary's NEW-VIEW that backups refuse (section 4.4), in the
    terms of :func:`spec.byzantine_new_views`' variants."""
    if len({m.sender for m in nv.vset}) < ctx.paper_quorum:
        return "V short of a quorum"
    _, _, o = ctx.compute_o(nv.view, nv.vset, paper=True)
    ignored = tuple((n, spec.NULL, w) for n, _, w in o)
    if nv.certs == tuple(c for c in o if c[1] != spec.NULL):
        return "O without its null requests"
    if nv.certs == ignored:
        return "O ignoring V's prepared certificates"
    if nv.certs == tuple(c for c in ignored if c[1] != spec.NULL):
        return "O ignoring V's prepared certificates, without null requests"
    return "O not computed from V"


def node_configs(params: spec.Params) -> dict[int, impl.NodeConfig]:
    seeds = tuple(impl.derive_seed(i) for i in range(params.n))
    keys = tuple(impl.public_key(seed) for seed in seeds)
    return {
        i: impl.NodeConfig(i, seeds[i], keys, params.f, params.checkpoint_interval, params.log_size)
        for i in range(params.n)
    }


class Refiner:
    """Signs spec messages, builds impl replicas and events from spec states, abstracts back."""

    def __init__(self, ctx: spec.Context) -> None:
        self.ctx = ctx
        self.params = ctx.params
        self.configs = node_configs(ctx.params)
        self.client_config = impl.ClientConfig(self.configs[0].public_keys, ctx.params.f)
        self._signed: dict[spec.Msg, impl.Signed] = {}
        self._proofs: dict[tuple[int, spec.Digest], tuple[impl.Signed, ...]] = {}
        self._certs: dict[spec.Cert, tuple[impl.Signed, ...]] = {}
        # digest -> spec value: every request and every state the model can reach
        self.requests = {impl.request_digest(d): d for d in (*ctx.params.requests, spec.NULL)}
        self.states: dict[str, spec.Digest] = {}
        for length in range(ctx.params.max_seq + 1):
            for digest in spec._digests(ctx.params, length):
                self.states[impl.state_digest(digest)] = digest

    # -- spec -> impl --

    def visible(self, pool: tuple[spec.Msg, ...]) -> tuple[spec.Msg, ...]:
        return self.ctx.alphabet + pool

    def sign(self, m: spec.Msg, pool: tuple[spec.Msg, ...], fresh: bool = False) -> impl.Signed:
        """The impl message for ``m`` (nested proofs read from ``pool`` and the alphabet the
        first time; any valid proof will do, so the first one is kept). ``fresh``: the nested
        proofs of a VIEW-CHANGE or NEW-VIEW are read from ``pool`` only (not from what another
        state had signed), to show a replica exactly what this state can back."""
        found = (
            None if fresh and m.kind in (spec.VIEW_CHANGE, spec.NEW_VIEW) else self._signed.get(m)
        )
        if found is not None:
            return found
        seed = self.configs[m.sender].seed
        complete = True  # its nested proofs are whole (else it is signed again next time)
        if m.kind in (spec.PRE_PREPARE, spec.PREPARE, spec.COMMIT):
            d = impl.request_digest(m.request)
            request = m.request if m.kind == spec.PRE_PREPARE else None
            unsigned = impl.Signed(m.kind, m.view, m.seq, d, m.sender, request)
        elif m.kind == spec.CHECKPOINT:
            unsigned = impl.Signed(m.kind, 0, m.seq, impl.state_digest(m.digest), m.sender)
        elif m.kind == spec.VIEW_CHANGE:
            unsigned = impl.Signed(
                m.kind,
                m.view,
                m.seq,
                impl.state_digest(m.digest),
                m.sender,
                None,
                self.proof(m.seq, m.digest, pool, fresh),
                tuple(self.cert(c, pool, fresh) for c in m.certs),
            )
            complete = not fresh and (
                (m.seq == 0 or (m.seq, m.digest) in self._proofs)
                and all(c in self._certs for c in m.certs)
            )
        elif m.kind == spec.NEW_VIEW:
            vs = m.vset or self.new_view_set(pool, m)
            pps = tuple(
                (self.sign(spec.Msg(spec.PRE_PREPARE, m.view, n, d, m.sender), pool),)
                for n, d, _ in m.certs
            )
            unsigned = impl.Signed(
                m.kind,
                m.view,
                m.seq,
                impl.state_digest(m.digest),
                m.sender,
                None,
                tuple(self.sign(v, pool, fresh) for v in vs),
                pps,
            )
            complete = not fresh and all(v in self._signed for v in vs)
        else:
            raise ValueError(f"unknown kind {m.kind}")
        found = impl.sign(seed, unsigned)
        if complete:
            self._signed[m] = found
        return found

    def proof(
        self, seq: int, digest: spec.Digest, pool: tuple[spec.Msg, ...], fresh: bool = False
    ) -> tuple[impl.Signed, ...]:
        """C for (n, d): a quorum of CHECKPOINTs, by sender (empty at n = 0)."""
        if seq == 0:
            return ()
        key = (seq, digest)
        found = None if fresh else self._proofs.get(key)
        if found is None:
            ms = sorted(
                {
                    m.sender: m
                    for m in self.visible(pool)
                    if m.kind == spec.CHECKPOINT and (m.seq, m.digest) == key
                }.items()
            )
            found = tuple(self.sign(m, pool) for _, m in ms[: self.ctx.paper_quorum])
            if len(found) >= self.ctx.paper_quorum and not fresh:
                self._proofs[key] = found
        return found

    def cert(
        self, c: spec.Cert, pool: tuple[spec.Msg, ...], fresh: bool = False
    ) -> tuple[impl.Signed, ...]:
        """A prepared certificate for (n, d, v): the pre-prepare and 2f PREPAREs of backups."""
        found = None if fresh else self._certs.get(c)
        if found is None:
            n, d, v = c
            primary = self.params.primary(v)
            pp = self.sign(spec.Msg(spec.PRE_PREPARE, v, n, d, primary), pool)
            senders = sorted(
                m.sender
                for m in self.visible(pool)
                if m.kind == spec.PREPARE
                and (m.view, m.seq, m.request) == (v, n, d)
                and m.sender != primary
            )
            prepares = tuple(
                self.sign(spec.Msg(spec.PREPARE, v, n, d, s), pool)
                for s in senders[: self.ctx.paper_quorum - 1]
            )
            found = (pp, *prepares)
            if len(prepares) >= self.ctx.paper_quorum - 1 and not fresh:
                self._certs[c] = found
        return found

    def new_view_set(self, pool: tuple[spec.Msg, ...], nv: spec.Msg) -> tuple[spec.Msg, ...]:
        """A V (the primary's VIEW-CHANGE first, then 2f valid others) that gives ``nv``."""
        ctx, p, v = self.ctx, nv.sender, nv.view
        vcs = ctx.tally(pool).view_changes.get(v, [])
        mine = [m for m in vcs if m.sender == p]
        others: dict[int, list[spec.Msg]] = {}
        for m in vcs:
            if m.sender != p and ctx.valid_view_change(pool, m):
                others.setdefault(m.sender, []).append(m)
        want = (nv.seq, nv.digest, nv.certs)
        for senders in itertools.combinations(sorted(others), ctx.quorum - 1):
            for chosen in itertools.product(*(others[s] for s in senders)):
                for own in mine:
                    if ctx.compute_o(v, (own, *chosen)) == want:
                        return (own, *chosen)
        raise LookupError(f"no V gives {nv}")

    def concretize(self, state: spec.SystemState, r: spec.Replica) -> impl.Node:
        """The impl replica standing for spec replica ``r`` in ``state``."""
        pool = state.pool
        config = self.configs[r.id]
        accepted = []
        prepared = []
        own_vc = None
        for m in pool:
            if m.sender != r.id:
                continue
            if m.kind in (spec.PREPARE, spec.PRE_PREPARE) and m.seq > r.low:
                accepted.append((m.view, m.seq, impl.request_digest(m.request)))
            elif m.kind == spec.COMMIT and m.seq > r.low:
                prepared.append(self.cert((m.seq, m.request, m.view), pool))
            elif m.kind == spec.VIEW_CHANGE and m.view == r.view:
                own_vc = self.sign(m, pool)
        return impl.Node(
            config,
            r.view,
            r.active,
            r.executed,
            r.low,
            self.proof(r.low, r.executed[: r.low], pool),
            tuple(sorted(set(accepted))),
            tuple(sorted(prepared, key=impl._cert_key)),
            own_vc,
            spec.next_seq(self.ctx, state, r),
        )

    def event(self, state: spec.SystemState, action: spec.Action) -> impl.Event:
        """The impl event, with its certificate from the pool and the alphabet, for ``action``."""
        ctx, pool = self.ctx, state.pool
        visible = self.visible(pool)
        r = state.replicas[self.params.correct.index(action.replica)]

        def signed(ms: Iterator[spec.Msg]) -> tuple[impl.Signed, ...]:
            return tuple(self.sign(m, pool) for m in sorted(set(ms)))

        if isinstance(action, spec.PrePrepare):
            return impl.RequestReceived(action.request)
        if isinstance(action, spec.Prepare):
            primary = self.params.primary(action.view)
            pp = spec.Msg(spec.PRE_PREPARE, action.view, action.seq, action.request, primary)
            return impl.PrePrepareReceived(self.sign(pp, pool))
        if isinstance(action, spec.Commit):
            v, n, d = action.view, action.seq, action.request
            primary = self.params.primary(v)
            pp = self.sign(spec.Msg(spec.PRE_PREPARE, v, n, d, primary), pool)
            prepares = signed(
                m
                for m in visible
                if m.kind == spec.PREPARE and (m.view, m.seq, m.request) == (v, n, d)
            )
            return impl.PreparedCertificate(pp, prepares)
        if isinstance(action, spec.Execute):
            n, d = action.seq, action.request
            views = sorted(
                m.view
                for m in pool
                if m.kind == spec.COMMIT
                and m.sender == r.id
                and (m.seq, m.request) == (n, d)
                and ctx.committed_local(pool, r.id, m.view, n, d)
            )
            commits = signed(
                m
                for m in visible
                if m.kind == spec.COMMIT and (m.view, m.seq, m.request) == (views[0], n, d)
            )
            return impl.CommitCertificate(commits)
        if isinstance(action, spec.StableCheckpoint):
            key = (action.seq, action.digest)
            checkpoints = signed(
                m for m in visible if m.kind == spec.CHECKPOINT and (m.seq, m.digest) == key
            )
            behind = len(r.executed) < action.seq
            return impl.CheckpointCertificate(checkpoints, action.digest if behind else None)
        if isinstance(action, spec.StartViewChange):
            return impl.Timeout()
        if isinstance(action, spec.JoinViewChange):
            vcs = signed(
                m
                for m in visible
                if m.kind == spec.VIEW_CHANGE
                and m.view >= action.view
                and m.sender != r.id
                and ctx.valid_view_change(pool, m)
            )
            return impl.ViewChangesReceived(vcs)
        if isinstance(action, spec.NewView):
            nv = spec.Msg(
                spec.NEW_VIEW, action.view, action.min_s, "", r.id, action.digest, action.o
            )
            vs = self.new_view_set(pool, nv)
            behind = len(r.executed) < action.min_s
            return impl.ViewChangeQuorum(
                tuple(self.sign(m, pool) for m in vs[1:]), action.digest if behind else None
            )
        assert isinstance(action, spec.AcceptNewView)
        nv_msg = next(
            m
            for m in ctx.tally(pool).new_views.get(action.view, [])
            if (m.seq, m.digest, m.certs, m.vset)
            == (action.min_s, action.digest, action.o, action.vset)
        )
        behind = len(r.executed) < action.min_s
        return impl.NewViewReceived(self.sign(nv_msg, pool), action.digest if behind else None)

    # -- impl -> spec --

    def abstract_node(self, node: impl.Node) -> spec.Replica:
        return spec.Replica(node.config.me, node.view, node.active, node.executed, node.low)

    def abstract_message(self, m: impl.Signed) -> list[spec.Msg]:
        """The spec messages an impl broadcast stands for (a NEW-VIEW carries O's pre-prepares)."""
        if m.kind in (impl.PRE_PREPARE, impl.PREPARE, impl.COMMIT):
            return [spec.Msg(m.kind, m.view, m.seq, self.requests[m.digest], m.sender)]
        if m.kind == impl.CHECKPOINT:
            return [spec.Msg(m.kind, 0, m.seq, "", m.sender, self.states[m.digest])]
        certs = tuple((c[0].seq, c[0].request or "", c[0].view) for c in m.certs)
        out = [spec.Msg(m.kind, m.view, m.seq, "", m.sender, self.states[m.digest], certs)]
        if m.kind == impl.NEW_VIEW:
            out += [
                spec.Msg(spec.PRE_PREPARE, c[0].view, c[0].seq, c[0].request or "", c[0].sender)
                for c in m.certs
            ]
        return out

    def client_accepts(self, state: spec.SystemState, action: spec.ClientAccept) -> Any:
        """The client, holding the spec's accepted results, handed f + 1 matching REPLYs."""
        client = impl.Client(self.client_config, (), state.accepted)
        d, result = action.request, action.result
        senders = [r.id for r in state.replicas if r.executed[result - 1 : result] == (d,)] + list(
            self.params.byzantine
        )
        for s in sorted(senders)[: self.ctx.reply_quorum]:
            reply = impl.Signed(impl.REPLY, 0, result, impl.request_digest(d), s, d)
            client, _ = impl.client_step(
                client, impl.ReplyReceived(impl.sign(self.configs[s].seed, reply))
            )
        return client.accepted


def forged_events(params: spec.Params) -> tuple[tuple[Any, impl.FaultKind], ...]:
    """One bad event per FaultKind that any replica rejects in any state, signed by a faulty
    replica with its own key (a correct replica's key is never the adversary's). Not state. None
    in a config without faulty replicas (``--byzantine 0``): nobody's key could sign them."""
    if not params.byzantine:
        return ()
    b = params.byzantine[0]
    seed = impl.derive_seed(b)
    d = params.requests[0]
    far = params.n * (params.max_view + 2) + b  # a view whose primary is b, above max_view
    pp = impl.sign(seed, impl.Signed(impl.PRE_PREPARE, 0, 1, impl.request_digest(d), b, d))
    return (
        (
            impl.PrePrepareReceived(attrs.evolve(pp, signature=bytes(64))),
            impl.FaultKind.BAD_SIGNATURE,
        ),
        (impl.PrePrepareReceived(attrs.evolve(pp, sender=params.n)), impl.FaultKind.UNKNOWN_SENDER),
        (
            impl.PrePrepareReceived(impl.sign(seed, attrs.evolve(pp, kind=impl.COMMIT))),
            impl.FaultKind.MALFORMED,
        ),
        (
            impl.PrePrepareReceived(impl.sign(seed, attrs.evolve(pp, view=params.n + 1))),
            impl.FaultKind.NOT_PRIMARY,
        ),
        (
            impl.PrePrepareReceived(impl.sign(seed, attrs.evolve(pp, request=spec.NULL))),
            impl.FaultKind.DIGEST_MISMATCH,
        ),
        (
            impl.PrePrepareReceived(impl.sign(seed, attrs.evolve(pp, view=far))),
            impl.FaultKind.WRONG_VIEW,
        ),
        (
            impl.CommitCertificate(
                (impl.sign(seed, impl.Signed(impl.COMMIT, 0, 1, pp.digest, b)),)
            ),
            impl.FaultKind.INSUFFICIENT_QUORUM,
        ),
        (
            impl.CommitCertificate(
                (
                    impl.sign(seed, impl.Signed(impl.COMMIT, 0, 1, pp.digest, b)),
                    impl.sign(seed, impl.Signed(impl.COMMIT, 0, 2, pp.digest, b)),
                )
            ),
            impl.FaultKind.WRONG_CERTIFICATE,
        ),
        (
            impl.ViewChangesReceived(
                (
                    impl.sign(
                        seed,
                        impl.Signed(impl.VIEW_CHANGE, 1, 1, impl.state_digest((d,)), b),
                    ),
                )
            ),
            impl.FaultKind.MALFORMED_VIEW_CHANGE,
        ),
        (
            impl.NewViewReceived(
                impl.sign(seed, impl.Signed(impl.NEW_VIEW, far, 0, impl.state_digest(()), b))
            ),
            impl.FaultKind.MALFORMED_NEW_VIEW,
        ),
    )


def _light_node(refiner: Refiner, r: spec.Replica) -> impl.Node:
    """The impl replica with the spec replica's variables and an empty log (enough for the
    forged events, which every replica refuses on their face)."""
    return impl.Node(
        refiner.configs[r.id], r.view, r.active, r.executed, r.low, (), (), (), None, 1
    )


def _mutated_step(mutant: str | None) -> Any:
    def stepper(node: impl.Node, event: Any) -> tuple[impl.Node, impl.Effects]:
        post, effects = impl.step(node, event)
        if mutant == "impl-forgets-checkpoint" and post.low != node.low:
            post = attrs.evolve(post, low=node.low)
        if mutant == "impl-steps-on-rejected-input" and effects.faults:
            post = attrs.evolve(post, view=node.view + 1, active=False)
        return post, effects

    return stepper


def build_with_impl(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    """The spec model with the impl checked against it at every step (see above)."""
    base = build_spec(config, None)
    params = params_of(config)
    ctx = spec.Context(params)
    refiner = Refiner(ctx)
    stepper = _mutated_step(mutant.name if mutant else None)
    forged = forged_events(params)
    forged_outcome: dict[tuple[spec.Replica, Any], spec.Replica] = {}
    canonicalize = base.canonicalize

    shown: set[spec.Msg] = set()  # the bad Byzantine NEW-VIEWs already shown to the impl

    def actions(state: spec.SystemState) -> Iterator[Any]:
        yield from spec.enabled_actions(ctx, state)
        for k, i in enumerate(params.correct):
            for event, fault in forged:
                yield Forged(i, event, fault, k)
        yield from doctored_new_views(ctx, refiner, state.pool, shown)

    def next_state(state: spec.SystemState, action: Any) -> spec.SystemState:
        if not isinstance(action, Forged):
            return spec.apply(ctx, state, action)
        k = action.index
        r = state.replicas[k]
        key = (r, action.event)
        post = forged_outcome.get(key)
        if post is None:
            node, _ = stepper(_light_node(refiner, r), action.event)
            post = forged_outcome[key] = refiner.abstract_node(node)
        if post == r:
            return state
        replicas = tuple(post if j == k else q for j, q in enumerate(state.replicas))
        return attrs.evolve(state, replicas=replicas)

    def refinement_problem(pre: spec.SystemState, action: Any, post: spec.SystemState) -> str:
        if isinstance(action, Forged):
            return ""
        expected = spec.apply(ctx, pre, action)
        if isinstance(action, spec.ClientAccept):
            got = refiner.client_accepts(pre, action)
            if got != expected.accepted:
                return f"the client accepted {got}, spec {action} gives {expected.accepted}"
            return ""
        k = params.correct.index(action.replica)
        node = refiner.concretize(pre, pre.replicas[k])
        event = refiner.event(pre, action)
        after, effects = stepper(node, event)
        if effects.faults:
            return f"impl refused {type(event).__name__}: {effects.faults}"
        got = refiner.abstract_node(after)
        if got != expected.replicas[k]:
            return f"impl gave {got}, spec {describe(action)} gives {expected.replicas[k]}"
        sent = {m for b in effects.broadcasts for m in refiner.abstract_message(b)}
        new = set(expected.pool) - set(pre.pool)
        if not new <= sent or not sent <= set(expected.pool):
            return f"impl broadcast {sorted(sent)}, spec {describe(action)} sends {sorted(new)}"
        return ""

    def faults_problem(pre: spec.SystemState, action: Any, post: spec.SystemState) -> str:
        if not isinstance(action, Forged):
            return ""
        r = pre.replicas[action.index]
        _, effects = impl.step(_light_node(refiner, r), action.event)
        if canonicalize(post) != canonicalize(pre):
            return f"replica {action.replica} changed on a rejected event"
        if not effects.faults:
            return f"replica {action.replica} accepted a forged event ({action.fault.value})"
        return ""

    steps = tuple(
        p for p in base.step_properties if p.name not in ("refinement", "faults_change_nothing")
    )
    return attrs.evolve(
        base,
        actions=actions,
        next_state=next_state,
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
        describe_action=lambda a: str(a) if isinstance(a, Forged) else describe(a),
    )


# -- The oracle: a deployment of impl replicas, the codec, vectors and trace validation -----------
#
# The ``oracle`` config explores the impl replicas themselves (:class:`OracleState`: the spec
# state and the correct replicas' impl states, kept across steps), so that a case's pre-state is
# exactly what the replica holds and a trace's steps chain. Documents (canonical JSON, see
# :mod:`.codec`; bytes as lowercase hex). A signed message ``M``::
#
#     {"kind": "prepare", "view": 0, "seq": 1, "digest": "<64 hex>", "sender": 2,
#      "request": null | "r1", "proof": [M, ...], "certs": [[M, ...], ...],
#      "signature": "<128 hex>"}
#
#     state    {"me": 1, "seed": "<64 hex>", "public_keys": ["<64 hex>", ...], "f": 1,
#               "checkpoint_interval": 1, "log_size": 1, "view": 0, "active": true,
#               "executed": ["r1"], "low": 0, "checkpoint_proof": [M, ...],
#               "accepted": [[0, 1, "<digest>"], ...], "prepared": [[M, ...], ...],
#               "own_view_change": M | null, "next_seq": 1}
#     event    {"type": "request", "request": "r1"}                     (section 4.2)
#              {"type": "receive", "pre_prepare": M}                    (section 4.2)
#              {"type": "prepared", "pre_prepare": M, "prepares": [M]}  (section 4.2)
#              {"type": "commits", "commits": [M]}                      (section 4.2)
#              {"type": "checkpoints", "checkpoints": [M], "state": ["r1"] | null}  (4.3)
#              {"type": "timeout"}                                      (section 4.4)
#              {"type": "view_changes", "view_changes": [M]}            (section 4.5.2)
#              {"type": "view_change_quorum", "view_changes": [M], "state": [...] | null}
#              {"type": "new_view", "new_view": M, "state": [...] | null}  (section 4.4)
#     effects  {"broadcasts": [M], "replies": [M], "faults": [{"sender": 0, "kind": "..."}]}
#
# The fields of a received message are decoded leniently (any JSON scalar or array; a
# signature that is not hex stays a string): a malformed message is the replica's to refuse with
# a typed :class:`impl.FaultKind`, not the decoder's; its ``proof`` and ``certs`` must be arrays
# of message objects.

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
    plain_from_json,
)
from .vectors import OracleBinding  # noqa: E402

_HEX = re.compile(r"(?:[0-9a-f]{2})*")
_MESSAGE_FIELDS = (
    "kind",
    "view",
    "seq",
    "digest",
    "sender",
    "request",
    "proof",
    "certs",
    "signature",
)


# the forged alphabet is offered while the pool holds at most this many messages: enough for the
# vectors' per-reason cap, and the walk does not encode thousands of refusals it then drops
FORGED_UNTIL = 3


@attrs.frozen(cache_hash=True)
class OracleState:
    # the spec state the replicas refine
    system: spec.SystemState
    # the correct replicas' impl states, in the order of Params.correct
    nodes: tuple[impl.Node, ...]


@attrs.frozen
class Fire:
    """Replica ``index`` (in Params.correct order) handles ``event``, carrying out ``action``."""

    index: int
    action: Any
    event: Any

    def __str__(self) -> str:
        return describe(self.action)


def build_oracle(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    """The impl replicas under the spec, their states kept across steps (the oracle's walk)."""
    params = params_of(config)
    ctx = spec.Context(params)
    refiner = Refiner(ctx)
    # the second oracle config is there for the faulty primary's NEW-VIEWs: the other forged
    # events would only repeat the first config's cases
    forged = forged_events(params) if not config.params.get("new_views_only") else ()
    invariants, steps, reachables = spec.properties(ctx, lambda s: s.system)
    shown: set[spec.Msg] = set()  # the bad Byzantine NEW-VIEWs already handed to a replica

    def initial_states() -> Iterator[OracleState]:
        nodes = tuple(impl.new_node(refiner.configs[i]) for i in params.correct)
        yield OracleState(spec.initial_state(params), nodes)

    def actions(state: OracleState) -> Iterator[Any]:
        for action in spec.enabled_actions(ctx, state.system):
            if not isinstance(action, spec.ClientAccept):
                index = params.correct.index(action.replica)
                yield Fire(index, action, refiner.event(state.system, action))
        if len(state.system.pool) <= FORGED_UNTIL:
            for k, i in enumerate(params.correct):
                for event, fault in forged:
                    yield Forged(i, event, fault, k)
        yield from doctored_new_views(ctx, refiner, state.system.pool, shown)  # the vectors

    def next_state(state: OracleState, action: Any) -> OracleState:
        if isinstance(action, Forged):
            index = action.index
            node, _ = impl.step(state.nodes[index], action.event)
            if node == state.nodes[index]:
                return state
            return attrs.evolve(state, nodes=_put(state.nodes, index, node))
        node, _ = impl.step(state.nodes[action.index], action.event)
        system = spec.apply(ctx, state.system, action.action)
        return OracleState(system, _put(state.nodes, action.index, node))

    def problem(pre: OracleState, action: Any, post: OracleState) -> str:
        for node, r in zip(post.nodes, post.system.replicas, strict=True):
            if refiner.abstract_node(node) != r:
                return f"replica {r.id}: impl {refiner.abstract_node(node)}, spec {r}"
        return ""

    return Model(
        name="pbft",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=invariants,
        step_properties=(
            *steps,
            StepProperty.from_problem(
                "refinement",
                "the impl replicas' variables are the spec's after every step",
                problem,
            ),
            _stub_step_property("faults_change_nothing"),
        ),
        reachables=reachables,
        describe_action=str,
    )


def _put(values: tuple[Any, ...], index: int, value: Any) -> tuple[Any, ...]:
    return tuple(value if k == index else v for k, v in enumerate(values))


def _loose(value: Any) -> JSON:
    """A (possibly malformed) field of a received message as JSON."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple | list):
        return [_loose(v) for v in value]
    return value


def message_to_json(m: Any) -> JSON:
    return {
        "kind": _loose(m.kind),
        "view": _loose(m.view),
        "seq": _loose(m.seq),
        "digest": _loose(m.digest),
        "sender": _loose(m.sender),
        "request": _loose(m.request),
        "proof": [message_to_json(p) for p in m.proof],
        "certs": [[message_to_json(c) for c in cert] for cert in m.certs],
        "signature": _loose(m.signature),
    }


def message_from_json(doc: JSON, path: str) -> impl.Signed:
    """Lenient on the fields (the replica refuses a malformed message), strict on nesting."""
    expect_object(doc, path, _MESSAGE_FIELDS)
    proof = tuple(
        message_from_json(p, f"{path}.proof[{k}]")
        for k, p in enumerate(expect_array(doc["proof"], f"{path}.proof"))
    )
    certs = tuple(
        tuple(
            message_from_json(c, f"{path}.certs[{k}][{j}]")
            for j, c in enumerate(expect_array(cert, f"{path}.certs[{k}]"))
        )
        for k, cert in enumerate(expect_array(doc["certs"], f"{path}.certs"))
    )
    signature = doc["signature"]
    if isinstance(signature, str) and _HEX.fullmatch(signature):
        signature = bytes.fromhex(signature)
    else:
        signature = plain_from_json(signature)
    return impl.Signed(
        *(plain_from_json(doc[f]) for f in ("kind", "view", "seq", "digest", "sender")),
        plain_from_json(doc["request"]),
        proof,
        certs,
        signature,
    )


def _hex(doc: JSON, path: str, size: int | None = None) -> bytes:
    text = expect_str(doc, path)
    if not _HEX.fullmatch(text) or (size is not None and len(text) != 2 * size):
        raise DecodeError(path, "expected lowercase hex" + (f" of {size} bytes" if size else ""))
    return bytes.fromhex(text)


def _messages(doc: JSON, path: str) -> tuple[impl.Signed, ...]:
    return tuple(
        message_from_json(m, f"{path}[{k}]") for k, m in enumerate(expect_array(doc, path))
    )


def _requests(doc: JSON, path: str) -> tuple[str, ...]:
    return tuple(expect_str(d, f"{path}[{k}]") for k, d in enumerate(expect_array(doc, path)))


def _optional_state(doc: JSON, path: str) -> tuple[str, ...] | None:
    return None if doc is None else _requests(doc, path)


_STATE_FIELDS = (
    "me",
    "seed",
    "public_keys",
    "f",
    "checkpoint_interval",
    "log_size",
    "view",
    "active",
    "executed",
    "low",
    "checkpoint_proof",
    "accepted",
    "prepared",
    "own_view_change",
    "next_seq",
)
# event type -> (impl class, its fields: "M" a message, "[M]" messages, "S" a state or null)
_EVENTS: dict[str, tuple[type, tuple[tuple[str, str], ...]]] = {
    "request": (impl.RequestReceived, (("request", "str"),)),
    "receive": (impl.PrePrepareReceived, (("pre_prepare", "M"),)),
    "prepared": (impl.PreparedCertificate, (("pre_prepare", "M"), ("prepares", "[M]"))),
    "commits": (impl.CommitCertificate, (("commits", "[M]"),)),
    "checkpoints": (impl.CheckpointCertificate, (("checkpoints", "[M]"), ("state", "S"))),
    "timeout": (impl.Timeout, ()),
    "view_changes": (impl.ViewChangesReceived, (("view_changes", "[M]"),)),
    "view_change_quorum": (impl.ViewChangeQuorum, (("view_changes", "[M]"), ("state", "S"))),
    "new_view": (impl.NewViewReceived, (("new_view", "M"), ("state", "S"))),
}
_EVENT_TYPES = {cls: name for name, (cls, _) in _EVENTS.items()}
_NAT: dict[str, Any] = {"type": "integer", "minimum": 0}
_HEX_SCHEMA: dict[str, Any] = {"type": "string", "pattern": "^([0-9a-f]{2})*$"}
_M: dict[str, Any] = {"$ref": "#/$defs/message"}


def _with_defs(body: dict[str, Any]) -> dict[str, Any]:
    message = object_schema(
        {
            # any values: a malformed message is the replica's to refuse
            **{f: {} for f in ("kind", "view", "seq", "digest", "sender", "request")},
            "signature": {},
            "proof": {"type": "array", "items": _M},
            "certs": {"type": "array", "items": {"type": "array", "items": _M}},
        }
    )
    return {"$defs": {"message": message}, **body}


@attrs.frozen
class PbftCodec:
    """Encoding of a PBFT replica, its events and its effects (the oracle's interface)."""

    protocol: str = "pbft"

    def schemas(self) -> dict[str, Any]:
        """The state, event and effects schemas (see :mod:`.schemas`)."""
        requests = {"type": "array", "items": {"type": "string"}}
        state = _with_defs(
            object_schema(
                {
                    "me": _NAT,
                    "seed": _HEX_SCHEMA,
                    "public_keys": {"type": "array", "items": _HEX_SCHEMA},
                    "f": _NAT,
                    "checkpoint_interval": {"type": "integer", "minimum": 1},
                    "log_size": {"type": "integer", "minimum": 1},
                    "view": _NAT,
                    "active": {"type": "boolean"},
                    "executed": requests,
                    "low": _NAT,
                    "checkpoint_proof": {"type": "array", "items": _M},
                    "accepted": {
                        "type": "array",
                        "items": {
                            "type": "array",
                            "prefixItems": [_NAT, _NAT, {"type": "string"}],
                            "minItems": 3,
                            "maxItems": 3,
                        },
                    },
                    "prepared": {"type": "array", "items": {"type": "array", "items": _M}},
                    "own_view_change": {"anyOf": [{"type": "null"}, _M]},
                    "next_seq": {"type": "integer", "minimum": 1},
                }
            )
        )
        kinds = {"M": _M, "[M]": {"type": "array", "items": _M}, "str": {"type": "string"}}
        kinds["S"] = {"anyOf": [{"type": "null"}, requests]}
        event = _with_defs(
            {
                "oneOf": [
                    object_schema({"type": {"const": name}, **{f: kinds[k] for f, k in fields}})
                    for name, (_, fields) in _EVENTS.items()
                ]
            }
        )
        effects = _with_defs(
            object_schema(
                {
                    "broadcasts": {"type": "array", "items": _M},
                    "replies": {"type": "array", "items": _M},
                    "faults": {
                        "type": "array",
                        "items": object_schema(
                            {"sender": {}, "kind": {"enum": enum_values(impl.FaultKind)}}
                        ),
                    },
                }
            )
        )
        return {"state": state, "event": event, "effects": effects}

    def encode_state(self, node: impl.Node) -> JSON:
        c = node.config
        return {
            "me": c.me,
            "seed": c.seed.hex(),
            "public_keys": [k.hex() for k in c.public_keys],
            "f": c.f,
            "checkpoint_interval": c.checkpoint_interval,
            "log_size": c.log_size,
            "view": node.view,
            "active": node.active,
            "executed": list(node.executed),
            "low": node.low,
            "checkpoint_proof": [message_to_json(m) for m in node.checkpoint_proof],
            "accepted": [list(a) for a in node.accepted],
            "prepared": [[message_to_json(m) for m in cert] for cert in node.prepared],
            "own_view_change": None
            if node.own_view_change is None
            else message_to_json(node.own_view_change),
            "next_seq": node.next_seq,
        }

    def decode_state(self, doc: JSON, path: str = "$") -> impl.Node:
        expect_object(doc, path, _STATE_FIELDS)
        keys = tuple(
            _hex(k, f"{path}.public_keys[{j}]", 32)
            for j, k in enumerate(expect_array(doc["public_keys"], f"{path}.public_keys"))
        )
        me = expect_int(doc["me"], f"{path}.me", minimum=0)
        if me >= len(keys):
            raise DecodeError(f"{path}.me", f"replica {me} out of range for {len(keys)} keys")
        config = impl.NodeConfig(
            me,
            _hex(doc["seed"], f"{path}.seed", 32),
            keys,
            expect_int(doc["f"], f"{path}.f", minimum=0),
            expect_int(doc["checkpoint_interval"], f"{path}.checkpoint_interval", minimum=1),
            expect_int(doc["log_size"], f"{path}.log_size", minimum=1),
        )
        if not isinstance(doc["active"], bool):
            raise DecodeError(f"{path}.active", "expected a boolean")
        accepted = []
        for j, a in enumerate(expect_array(doc["accepted"], f"{path}.accepted")):
            p = f"{path}.accepted[{j}]"
            items = expect_array(a, p)
            if len(items) != 3:
                raise DecodeError(p, "expected [view, seq, digest]")
            accepted.append(
                (
                    expect_int(items[0], f"{p}[0]", 0),
                    expect_int(items[1], f"{p}[1]", 0),
                    expect_str(items[2], f"{p}[2]"),
                )
            )
        own = doc["own_view_change"]
        return impl.Node(
            config,
            expect_int(doc["view"], f"{path}.view", minimum=0),
            doc["active"],
            _requests(doc["executed"], f"{path}.executed"),
            expect_int(doc["low"], f"{path}.low", minimum=0),
            _messages(doc["checkpoint_proof"], f"{path}.checkpoint_proof"),
            tuple(accepted),
            tuple(
                _messages(cert, f"{path}.prepared[{j}]")
                for j, cert in enumerate(expect_array(doc["prepared"], f"{path}.prepared"))
            ),
            None if own is None else message_from_json(own, f"{path}.own_view_change"),
            expect_int(doc["next_seq"], f"{path}.next_seq", minimum=1),
        )

    def encode_event(self, event: Any) -> JSON:
        name = _EVENT_TYPES[type(event)]
        doc: dict[str, Any] = {"type": name}
        for field, kind in _EVENTS[name][1]:
            value = getattr(event, field)
            if kind == "M":
                doc[field] = message_to_json(value)
            elif kind == "[M]":
                doc[field] = [message_to_json(m) for m in value]
            elif kind == "S":
                doc[field] = None if value is None else list(value)
            else:
                doc[field] = value
        return doc

    def decode_event(self, doc: JSON, path: str = "$") -> Any:
        if not isinstance(doc, dict):
            raise DecodeError(path, "expected an object with a field 'type'")
        name = doc.get("type")
        if name not in _EVENTS:
            known = ", ".join(sorted(_EVENTS))
            raise DecodeError(f"{path}.type", f"unknown event type {name!r} (known: {known})")
        cls, fields = _EVENTS[name]
        expect_object(doc, path, ["type", *(f for f, _ in fields)])
        values = []
        for field, kind in fields:
            p = f"{path}.{field}"
            if kind == "M":
                values.append(message_from_json(doc[field], p))
            elif kind == "[M]":
                values.append(_messages(doc[field], p))
            elif kind == "S":
                values.append(_optional_state(doc[field], p))
            else:
                values.append(expect_str(doc[field], p))
        return cls(*values)

    def encode_effects(self, effects: impl.Effects) -> JSON:
        return {
            "broadcasts": [message_to_json(m) for m in effects.broadcasts],
            "replies": [message_to_json(m) for m in effects.replies],
            "faults": [{"sender": _loose(f.sender), "kind": f.kind.value} for f in effects.faults],
        }

    def handler(self, event: Any) -> str:
        return _EVENT_TYPES[type(event)]

    def step(self, node: impl.Node, event: Any) -> tuple[impl.Node, impl.Effects]:
        return impl.step(node, event)


CODEC = PbftCodec()
ORACLE_CONFIG = "oracle"
ORACLE_PARAMS = params_of(PROTOCOL.config(ORACLE_CONFIG))


def node_event(action: Any) -> tuple[int, Any]:
    """The replica (index among the correct ones) a model action steps, and its impl event."""
    return action.index, action.event


def initial_node(index: int, count: int) -> impl.Node:
    """The oracle config's correct replica ``index`` (of ``count``), in its initial state."""
    return impl.new_node(node_configs(ORACLE_PARAMS)[ORACLE_PARAMS.correct[index]])


def _strictly_equal(a: JSON, b: JSON) -> bool:
    """JSON equality that tells ``1`` from ``true`` and from ``1.0`` (unlike Python's ``==``)."""
    if type(a) is not type(b):
        return False
    if type(a) is list:
        return len(a) == len(b) and all(_strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return a.keys() == b.keys() and all(_strictly_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _show(node: impl.Node) -> str:
    return (
        f"view={node.view} active={node.active} executed={list(node.executed)} low={node.low} "
        f"accepted={len(node.accepted)} prepared={len(node.prepared)}"
    )


def step_checker(codec: PbftCodec = CODEC) -> Any:
    """Trace validation of one replica's step (see :mod:`.validate`).

    For each step: the replica's configuration (id, keys, f, K, k) never changes
    (``identity``); the reference replica (:func:`impl.step`, which the model checker proves
    refines :mod:`spec.pbft` at every step of its bounded runs: ``refinement`` there) is run on
    the recorded pre-state and event; if it refuses the event, the recorded state must be
    unchanged (``faults_change_nothing``) and the effects exactly its one typed fault
    (``typed_fault``); otherwise the recorded state must abstract to the same spec replica
    (view, active, executed requests, low water mark: ``refinement``) and be the reference's in
    full, and the effects (signed broadcasts and replies: Ed25519 is deterministic) must be the
    reference's (``refinement``). Streaming: the check reads the replica's pre-state and the
    event only. What one step cannot show (that a certificate's messages were really sent, the
    cross-replica invariants) is the model checker's.
    """
    from .validate import StepChecker

    def check(
        nodes: tuple[impl.Node, ...], i: int, event: Any, post: impl.Node, effects: Any
    ) -> tuple[str, str, str] | None:
        pre = nodes[i]
        if post.config != pre.config:
            return (
                "identity",
                f"the configuration of replica {pre.config.me} unchanged",
                f"the state of replica {post.config.me} with its own configuration",
            )
        want, want_effects = impl.step(pre, event)
        want_doc = codec.encode_effects(want_effects)
        if want_effects.faults:
            kind = want_effects.faults[0].kind.value
            if post != pre:
                return (
                    "faults_change_nothing",
                    f"the state unchanged: the event is refused ({kind})",
                    _show(post),
                )
            if effects is not None and not _strictly_equal(effects, want_doc):
                return ("typed_fault", f"effects {brief(want_doc)}", f"effects {brief(effects)}")
            return None
        abstract = (want.view, want.active, want.executed, want.low)
        if (post.view, post.active, post.executed, post.low) != abstract or post != want:
            return ("refinement", f"the spec's replica rule gives {_show(want)}", _show(post))
        if effects is not None and not _strictly_equal(effects, want_doc):
            return ("refinement", f"effects {brief(want_doc)}", f"effects {brief(effects)}")
        return None

    return StepChecker(codec=codec, initial_node=initial_node, check=check)


ORACLE = OracleBinding(
    codec=CODEC,
    configs=(ORACLE_CONFIG, "oracle-byzantine-new-view"),
    case_kind=lambda action: action.what if isinstance(action, Forged) else "",
    node_event=node_event,
    nodes=lambda state: state.nodes,
    initial_node=initial_node,
    step_checker=step_checker(CODEC),
)
