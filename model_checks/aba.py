"""Model checks of binary agreement (MMR with the CONF round and hbbft's TERM termination):
configs, mutants, the attack.

What is here
    * The exhaustive model of :mod:`spec.aba` (one global pool, the Byzantine alphabet, the coin
      as a choice made when it opens: no state before the opening depends on its value, every
      state after may), with configs ``default`` (Byzantine BVAL/AUX equivocation, round 0),
      ``tiny``, ``full-alphabet`` (CONF equivocation too), ``unanimous``, ``two-rounds``, ``term``
      (Byzantine TERMs) and the bounded-liveness configs ``liveness-tiny`` / ``liveness`` /
      ``liveness-term`` (a good coin from GST = round 0; deciders halt after their TERM).
    * Rule mutants explored on the spec, among them the unfixed protocol (``no-conf``,
      HoneyBadgerBFT's original Figure 4), the own-CONF-values variant (``conf-own-values``),
      a decision on one TERM (``decide-on-one-term``, agreement) and hbbft's TERM of the next
      round after a TERM decision (``term-next-round``, termination).
    * :func:`issue59_attack`: the published attack of amiller/HoneyBadgerBFT#59 as a scripted
      adversary (scheduler + one Byzantine node) against a fair seeded coin; and
      :func:`round_game`, the exhaustive one-round game behind it (benchmark-sized).
    * The impl (:mod:`impl.aba`) under the model: configs ``impl`` / ``impl-tiny`` (external
      coin, refinement and faults at every step, impl mutants), and :class:`AbaMachine` /
      :class:`AbaMachineSeven`, Hypothesis machines at n = 4 and 7 with the real CKS threshold
      coin
      (:mod:`impl.threshold_coin`, dealer keys from a fixed seed).
    * The oracle: :data:`CODEC`, :func:`node_event`, :func:`step_checker`, :data:`ORACLE`
      (nodes with an external coin; coin shares are the threshold-coin module's business).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ..impl import aba as impl
from ..impl import threshold_coin as coin
from ..spec import aba as spec
from ..spec.properties import StepProperty
from .codec import (
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
from .registry_types import Config, Mutant, ProtocolEntry
from .vectors import OracleBinding

SOURCE = (
    "Mostéfaoui, Moumen, Raynal, JACM 2015, Figures 1-2; Miller et al. CCS 2016 Figure 4; "
    "amiller/HoneyBadgerBFT#59; poanetwork/hbbft#37"
)

MUTANTS = (
    Mutant(
        "no-conf",
        "the unfixed ABA (no CONF round): the adversary sees the coin after one correct node "
        "finished its AUX phase and steers another node's AUX phase to the other singleton",
        "no_adaptive_split",
        config="default",
    ),
    Mutant(
        "conf-own-values",
        "the CONF round, but vals is the node's own CONF set (not the union of the n−f CONFs), "
        "as poanetwork/hbbft does: with a Byzantine CONF the adversary still picks the singleton "
        "after the coin",
        "no_adaptive_split",
        config="full-alphabet",
    ),
    Mutant(
        "relay-threshold-too-low",
        "relay BVAL(b) after f BVALs instead of f+1: a Byzantine BVAL alone brings b into "
        "bin_values, so a value no correct node proposed is decided",
        "validity",
        config="unanimous",
    ),
    Mutant(
        "weak-quorums-no-coin",
        "AUX and CONF quorums of f+1 instead of n−f, and a singleton decided without waiting "
        "for the coin (a 'decide on a quorum' shortcut): two correct nodes hold different "
        "singletons in one round and both decide",
        "agreement",
        config="full-alphabet",
    ),
    Mutant(
        "impl-ignores-instance",
        "the impl accepts a message of another agreement instance as its own",
        "faults_change_nothing",
        config="impl",
    ),
    Mutant(
        "impl-aux-twice",
        "the impl sends AUX again for the second value that joins bin_values",
        "refinement",
        config="impl-tiny",
    ),
    Mutant(
        "decide-on-one-term",
        "decide v on a single TERM(v) instead of f+1: the Byzantine node's TERM makes a correct "
        "node decide the value the others do not",
        "agreement",
        config="term",
    ),
    Mutant(
        "term-next-round",
        "hbbft's choice: a node deciding by f+1 TERMs sends TERM of the NEXT round, so its "
        "current round misses its AUX and CONF and a slower correct node waits there for ever",
        "terminates",
        config="liveness-term",
    ),
    Mutant(
        "aux-quorum-n",
        "wait for AUX from all n nodes instead of n−f: a silent Byzantine node blocks the round",
        "terminates",
        config="liveness",
    ),
)

IMPL_MUTANTS = ("impl-ignores-instance", "impl-aux-twice")

RULE_MUTANTS = {
    "no-conf": spec.Rules(conf_round=False),
    "conf-own-values": spec.Rules(conf_own_values=True),
    "relay-threshold-too-low": spec.Rules(relay_threshold=lambda n, f: f),
    "aux-quorum-n": spec.Rules(aux_quorum=lambda n, f: n),
    "weak-quorums-no-coin": spec.Rules(aux_quorum=lambda n, f: f + 1, decide_ignores_coin=True),
    "decide-on-one-term": spec.Rules(term_threshold=lambda n, f: 1),
    "term-next-round": spec.Rules(term_next_round=True),
}


def params_of(config: Config) -> spec.Params:
    p = config.params
    return spec.Params(
        n=p["n"],
        f=p["f"],
        byzantine=tuple(p["byzantine"]),
        inputs=tuple(tuple(i) for i in p["inputs"]),
        max_round=p["max_round"],
        coin=p.get("coin", "free"),
        gst=p.get("gst", 0),
        silent_byzantine=p.get("silent_byzantine", False),
        byzantine_kinds=tuple(p.get("byzantine_kinds", ("bval", "aux", "conf"))),
        term_from=p.get("term_from", 0),
    )


def _always_true(pre: Any, action: Any, post: Any) -> bool:
    return True


# the spec-level model carries the impl model's step-property names (vacuous there)
_IMPL_ONLY_STEPS = (
    StepProperty("refinement", "no impl under this model (spec explored directly)", _always_true),
    StepProperty(
        "faults_change_nothing", "no impl under this model (spec explored directly)", _always_true
    ),
)


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    if config.params.get("level") == "impl" or (mutant and mutant.name in IMPL_MUTANTS):
        return build_impl(config, mutant)
    params = params_of(config)
    rules = RULE_MUTANTS.get(mutant.name, spec.SPEC_RULES) if mutant else spec.SPEC_RULES
    ctx = spec.Context(params, rules)
    invariants, reachables = spec.properties(ctx)
    return Model(
        name="aba",
        initial_states=lambda: spec.initial_states(params),
        actions=lambda s: spec.enabled_actions(ctx, s),
        next_state=lambda s, a: spec.apply(ctx, s, a),
        invariants=invariants,
        step_properties=_IMPL_ONLY_STEPS,
        reachables=reachables,
    )


def view(state: Any) -> Mapping[str, Any]:
    procs = state.processes
    return {
        "round": {p.id: p.round for p in procs},
        "phase": {p.id: p.phase for p in procs},
        "est": {p.id: p.est for p in procs},
        "bin_values": {p.id: p.bin_values for p in procs},
        "vals": {p.id: p.vals for p in procs},
        "decided": {p.id: p.decided for p in procs},
        "coins": tuple(None if c is None else c.value for c in state.coins),
        "pool": tuple(f"{m.kind}:{m.round}:{m.sender}:{m.value}" for m in state.pool),
    }


_FOUR = {"n": 4, "f": 1, "byzantine": (3,)}

CONFIGS = (
    Config(
        "default",
        "n = 4, f = 1, Byzantine node 3 equivocating BVAL and AUX (selective sending), inputs "
        "(0, 1, 1), round 0 with its coin",
        {**_FOUR, "inputs": ((0, 1, 1),), "max_round": 0, "byzantine_kinds": ("bval", "aux")},
        expected_distinct_states=10781,
    ),
    Config(
        "tiny",
        "n = 4, f = 1, Byzantine node 3 equivocating BVAL only, inputs (0, 1, 1), round 0",
        {**_FOUR, "inputs": ((0, 1, 1),), "max_round": 0, "byzantine_kinds": ("bval",)},
        expected_distinct_states=2758,
    ),
    Config(
        "full-alphabet",
        "n = 4, f = 1, Byzantine node 3 equivocating BVAL, AUX and CONF, round 0 (a few seconds)",
        {**_FOUR, "inputs": ((0, 1, 1),), "max_round": 0},
        expected_distinct_states=49456,
    ),
    Config(
        "two-rounds",
        "n = 4, f = 1, Byzantine node 3 equivocating BVAL, rounds 0..1 (decisions in round 1)",
        {**_FOUR, "inputs": ((0, 1, 1),), "max_round": 1, "byzantine_kinds": ("bval",)},
        expected_distinct_states=4187,
    ),
    Config(
        "unanimous",
        "n = 4, f = 1, Byzantine node 3, every correct input 1, round 0 only",
        {**_FOUR, "inputs": ((1, 1, 1),), "max_round": 0},
        expected_distinct_states=197,
    ),
    Config(
        "term",
        "n = 4, f = 1, Byzantine node 3 sending any TERM[t](b) (which counts as its BVAL, AUX "
        "and CONF from round t on), every correct input 1, round 0",
        {**_FOUR, "inputs": ((1, 1, 1),), "max_round": 0, "byzantine_kinds": ("term",)},
        expected_distinct_states=197,
    ),
    Config(
        "impl",
        "the impl nodes (external coin) under the spec: n = 4, f = 1, Byzantine node 3 "
        "equivocating BVAL/AUX/CONF and sending TERMs, inputs (0, 1, 1), round 0; first "
        "20,000 states",
        {
            **_FOUR,
            "inputs": ((0, 1, 1),),
            "max_round": 0,
            "level": "impl",
            "byzantine_kinds": ("bval", "aux", "conf", "term"),
        },
        bounds=Bounds(max_states=20_000),
    ),
    Config(
        "impl-tiny",
        "the impl nodes (external coin) under the spec, Byzantine node 3 equivocating BVAL "
        "only, inputs (0, 1, 1), round 0; first 5,000 states",
        {
            **_FOUR,
            "inputs": ((0, 1, 1),),
            "max_round": 0,
            "level": "impl",
            "byzantine_kinds": ("bval",),
        },
        bounds=Bounds(max_states=5_000),
    ),
    Config(
        "liveness-tiny",
        "bounded liveness as 'liveness', the Byzantine node equivocating BVAL only (CI-sized)",
        {
            **_FOUR,
            "inputs": ((0, 1, 1),),
            "max_round": 1,
            "coin": "good",
            "byzantine_kinds": ("bval",),
        },
        expected_distinct_states=2238,
    ),
    Config(
        "liveness",
        "bounded liveness: n = 4, f = 1, Byzantine node 3 equivocating BVAL and AUX, inputs "
        "(0, 1, 1), a good coin from round 0 (GST), rounds 0..1: every fair run ends with all "
        "correct nodes decided (12,577 states, a few seconds)",
        {
            **_FOUR,
            "inputs": ((0, 1, 1),),
            "max_round": 1,
            "coin": "good",
            "byzantine_kinds": ("bval", "aux"),
        },
        expected_distinct_states=12577,
    ),
    Config(
        "liveness-term",
        "bounded liveness with halting deciders and Byzantine TERMs: n = 4, f = 1, Byzantine "
        "node 3 equivocating BVAL and CONF and sending any TERM[t](b), t >= 1, a good coin from "
        "round 0, rounds 0..1: every fair run ends with all correct nodes decided",
        {
            **_FOUR,
            "inputs": ((0, 1, 1),),
            "max_round": 1,
            "coin": "good",
            "byzantine_kinds": ("bval", "conf", "term"),
            "term_from": 1,
        },
        expected_distinct_states=12631,
    ),
)

PROTOCOL = ProtocolEntry(
    name="aba",
    summary=(
        "MMR binary agreement with the CONF round, TERM termination and a threshold coin, "
        "n = 4, f = 1"
    ),
    source=SOURCE,
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)


# -- The published attack (amiller/HoneyBadgerBFT#59) as a one-round game -------------------------


def _round_graph(
    params: spec.Params, rules: spec.Rules
) -> tuple[spec.Context, dict[Any, list[Any]]]:
    """Every state of round 0 (max_round must be 0) and its successors."""
    ctx = spec.Context(params, rules)
    graph: dict[Any, list[Any]] = {}
    stack = list(spec.initial_states(params))
    while stack:
        s = stack.pop()
        if s in graph:
            continue
        succ = [spec.apply(ctx, s, a) for a in spec.enabled_actions(ctx, s)]
        graph[s] = succ
        stack.extend(t for t in succ if t not in graph)
    return ctx, graph


def _split_end(s: spec.SystemState) -> bool:
    """Every correct node ended round 0, undecided, and their estimates differ."""
    procs = s.processes
    done = all(p.phase == spec.HALTED for p in procs)
    return done and len({p.est for p in procs}) > 1 and not any(p.decided for p in procs)


@functools.cache
def round_game(inputs: tuple[int, ...], rules: spec.Rules) -> dict[str, Any]:
    """Can the adversary (scheduler + Byzantine node 3 equivocating BVAL/AUX) keep the correct
    estimates split across a round WHATEVER the coin turns out to be?

    For every state in which the coin may open (one correct share released), the adversary wins
    if for BOTH coin values some continuation ends the round with split estimates and no
    decision: the coin does not help. Returns the number of such states and, when there is one,
    the est vectors it can end with for coin 0 and coin 1.
    """
    params = spec.Params(4, 1, (3,), (inputs,), 0, byzantine_kinds=("bval", "aux"))
    ctx, graph = _round_graph(params, rules)
    can_split: dict[Any, bool] = {}
    ends: dict[Any, tuple[int, ...] | None] = {}

    def split_from(s: Any) -> bool:
        found = can_split.get(s)
        if found is None:
            order = [s]
            # iterative post-order over the DAG (every action makes progress)
            while order:
                top = order[-1]
                pending = [t for t in graph[top] if t not in can_split]
                if pending:
                    order.extend(pending)
                    continue
                order.pop()
                if top in can_split:
                    continue
                if _split_end(top):
                    can_split[top], ends[top] = True, tuple(p.est for p in top.processes)
                else:
                    winners = [t for t in graph[top] if can_split[t]]
                    can_split[top] = bool(winners)
                    ends[top] = ends[winners[0]] if winners else None
            found = can_split[s]
        return found

    wins = []
    pre_coin = 0
    for s in graph:
        if s.coins[0] is None and any(p.phase == spec.COIN for p in s.processes):
            pre_coin += 1
            after = {v: spec.apply(ctx, s, spec.OpenCoin(0, v)) for v in (0, 1)}
            if all(split_from(t) for t in after.values()):
                wins.append((ends[after[0]], ends[after[1]]))
    return {"pre_coin_states": pre_coin, "adversary_wins": len(wins), "example": wins[:1]}


def bench_aba_round_game() -> dict[str, Any]:
    """The one-round game of :func:`round_game` for both protocols (tens of seconds each)."""
    import time

    out: dict[str, Any] = {}
    for name, rules in (("unfixed", spec.Rules(conf_round=False)), ("fixed", spec.SPEC_RULES)):
        started = time.monotonic()
        game = round_game((0, 1, 1), rules)
        out[f"{name}_pre_coin_states"] = game["pre_coin_states"]
        out[f"{name}_adversary_wins_states"] = game["adversary_wins"]
        out[f"{name}_seconds"] = time.monotonic() - started
    return out


@attrs.frozen
class AttackRun:
    """What the scripted adversary of :func:`issue59_attack` achieved."""

    rounds: int  # rounds played
    estimates: tuple[tuple[int, ...], ...]  # correct estimates at the start of each round
    coins: tuple[int, ...]  # the coin of each round played
    decided: tuple[tuple[int, int] | None, ...]  # each correct node's (value, round)


def _attack_choice(
    state: spec.SystemState, enabled: list[spec.Action], params: spec.Params, coins: list[int]
) -> spec.Action:
    """MacBrough's schedule (HB #59), as priorities over the enabled actions.

    Roles in every round: x = first correct node, y = second, w = third; Byzantine node 3 sends
    whatever is asked of it (both BVALs, both AUXs, any CONF). Before the coin: every relay; x
    accepts 0 first (AUX(0)), y accepts 1 first (AUX(1)); x and y end their AUX phase with
    {0, 1} (and CONF); x releases its share and the coin opens with the next value of the fair
    coin (the adversary does not choose it). After the coin s: w accepts ¬s first (AUX(¬s)) and
    ends its AUX (and CONF) phase with {¬s} if the protocol lets it; everything else only when
    nothing preferred is enabled."""
    x, y, w = params.correct
    procs = {p.id: p for p in state.processes}
    r = min(p.round for p in state.processes)
    coin = state.coins[r]
    wanted: list[spec.Action] = [a for a in enabled if isinstance(a, spec.RelayBval)]
    if coin is None:
        wanted += [spec.AcceptBval(x, 0), spec.AcceptBval(y, 1)]
        if procs[x].phase != spec.BV and procs[y].phase != spec.BV:
            wanted += [spec.AcceptBval(x, 1), spec.AcceptBval(y, 0)]
        wanted += [spec.FinishAux(x, (0, 1)), spec.FinishAux(y, (0, 1))]
        wanted += [spec.FinishConf(x, (0, 1)), spec.FinishConf(y, (0, 1))]
        wanted += [spec.OpenCoin(r, coins[r])]
    else:
        bad = 1 - coin.value
        wanted += [spec.AcceptBval(w, bad), spec.FinishAux(w, (bad,)), spec.FinishConf(w, (bad,))]
        wanted += [a for a in enabled if isinstance(a, spec.NextRound)]
    for action in wanted:
        if action in enabled:
            return action
    # nothing preferred is enabled: the fair scheduler moves the laggards of round r on first
    # (the coin stays fair: the adversary never picks its value)
    behind = [
        a
        for a in enabled
        if not isinstance(a, spec.OpenCoin | spec.RelayBval) and procs[a.process].round == r
    ]
    for action in (*behind, *enabled):
        if not isinstance(action, spec.OpenCoin):
            return action
    return spec.OpenCoin(r, coins[r])


def issue59_attack(rounds: int, seed: int, rules: spec.Rules = spec.SPEC_RULES) -> AttackRun:
    """Runs the scripted adversary of :func:`_attack_choice` against the spec with ``rules``
    (e.g. ``Rules(conf_round=False)``, the unfixed protocol) for ``rounds`` rounds, with a fair
    coin drawn from ``seed``; every state is checked against agreement and validity."""
    import random

    rng = random.Random(seed)
    coins = [rng.randrange(2) for _ in range(rounds)]
    params = spec.Params(4, 1, (3,), ((0, 1, 1),), rounds - 1)
    ctx = spec.Context(params, rules)
    (state,) = spec.initial_states(params)
    for _ in range(100 * rounds):
        enabled = list(spec.enabled_actions(ctx, state))
        if not enabled:
            break
        state = spec.apply(ctx, state, _attack_choice(state, enabled, params, coins))
        if not (spec.agreement(ctx, state) and spec.validity(ctx, state)):
            raise AssertionError(f"safety broken under the attack: {state}")
    procs = state.processes
    played = sum(1 for c in state.coins if c is not None)
    played_ests = min(len(p.ests) for p in procs)
    estimates = tuple(tuple(p.ests[r] for p in procs) for r in range(played_ests))
    return AttackRun(
        rounds=played,
        estimates=estimates,
        coins=tuple(c.value for c in state.coins if c is not None),
        decided=tuple(p.decided for p in procs),
    )


# -- Hypothesis: impl nodes with the real threshold coin, at n = 4 and n = 7 -----------------------

ALL_KINDS = ("bval", "aux", "conf", "term")


def to_spec_process(node: impl.Node) -> spec.Process:
    """The abstraction of an impl node (started: ``est`` is set) to the spec's variables."""
    if node.est is None:
        raise ValueError("an impl node before its input has no spec counterpart")
    return spec.Process(
        node.config.me,
        node.round,
        node.phase,
        node.est,
        node.ests,
        node.sent,
        node.bin_values,
        node.aux_vals,
        node.vals,
        node.decided,
    )


def to_spec_message(me: int, m: impl.Message) -> spec.Message | None:
    if m.kind == impl.COIN:
        return None
    return spec.Message(m.kind, m.round, me, m.value)


def refinement_path(
    ctx: spec.Context,
    pre: spec.SystemState,
    process: int,
    target: tuple[tuple[spec.Process, ...], tuple[spec.Message, ...]],
    coins: dict[int, int],
    depth: int = 14,
) -> spec.SystemState | None:
    """A state reached from ``pre`` by enabled spec actions of ``process`` (and openings of coins
    with their true values ``coins``) whose processes and pool are ``target``; None if none."""
    frontier = [pre]
    seen = {pre}
    for _ in range(depth + 1):
        nxt = []
        for s in frontier:
            if (s.processes, s.pool) == target:
                return s
            for a in spec.enabled_actions(ctx, s):
                if isinstance(a, spec.OpenCoin):
                    if coins.get(a.round) != a.value:
                        continue
                elif a.process != process:
                    continue
                t = spec.apply(ctx, s, a)
                if t not in seen:
                    seen.add(t)
                    nxt.append(t)
        frontier = nxt
    return None


class AbaMachine(RuleBasedStateMachine):
    """Correct impl nodes with the CKS threshold coin (trusted dealer's keys from a fixed seed),
    f Byzantine nodes sending any BVAL/AUX/CONF and valid or forged coin shares to anyone, random
    delivery. After every step: the step refines the spec (a path of enabled spec actions of that
    node, the coin opening with its true value as soon as a correct share is out, which is when
    the adversary can compute it), and agreement, validity and no_adaptive_split hold."""

    N, F, ROUNDS = 4, 1, 2

    def __init__(self) -> None:
        super().__init__()
        n, f = self.N, self.F
        self.correct = tuple(range(n - f))
        self.byzantine = tuple(range(n - f, n))
        self.public, self.secrets = coin.deal_coin(n, f + 1, b"mnemosyne/aba/machine")
        self.true_coins = {}
        for r in range(self.ROUNDS + 1):
            name = impl.coin_name(0, 0, r)
            shares = [coin.coin_share(self.public, s, name) for s in self.secrets[: f + 1]]
            value = coin.combine_coin_shares(self.public, name, shares)
            assert isinstance(value, coin.CoinValue)
            self.true_coins[r] = value.bit
        self.nodes: dict[int, impl.Node] = {}
        self.in_flight: list[tuple[int, int, impl.Message]] = []
        self.ghost: spec.SystemState | None = None
        self.ctx: spec.Context | None = None

    @initialize(inputs=st.lists(st.integers(0, 1), min_size=3, max_size=6))
    def start(self, inputs: list[int]) -> None:
        values = tuple((inputs * 3)[: len(self.correct)])
        params = spec.Params(
            self.N, self.F, self.byzantine, (values,), self.ROUNDS, byzantine_kinds=ALL_KINDS
        )
        self.ctx = spec.Context(params)
        (self.ghost,) = spec.initial_states(params)
        for p, v in zip(self.correct, values, strict=True):
            config = impl.NodeConfig(
                p, self.N, self.F, 0, self.ROUNDS, self.public, self.secrets[p]
            )
            node, effects = impl.step(impl.new_node(config), impl.Input(v))
            self.nodes[p] = node
            self._send(p, effects)
        self._check_ghost_matches()

    def _send(self, me: int, effects: impl.Effects) -> None:
        for m in effects.broadcasts:
            self.in_flight += [(to, me, m) for to in self.correct if to != me]

    def _check_ghost_matches(self) -> None:
        assert self.ghost is not None
        procs = tuple(to_spec_process(self.nodes[p]) for p in self.correct)
        assert procs == self.ghost.processes

    def _apply(self, me: int, sender: int, message: impl.Message) -> None:
        assert self.ghost is not None and self.ctx is not None
        pre = self.nodes[me]
        post, effects = impl.step(pre, impl.Receive(sender, message))
        if effects.faults:
            assert post == pre, "a refused message changed the node"
            return
        self.nodes[me] = post
        self._send(me, effects)
        sent = {to_spec_message(me, m) for m in effects.broadcasts} - {None}
        pool = tuple(sorted({*self.ghost.pool, *sent}))
        procs = tuple(to_spec_process(self.nodes[p]) for p in self.correct)
        found = refinement_path(self.ctx, self.ghost, me, (procs, pool), self.true_coins)
        assert found is not None, f"node {me}: no spec path to {procs[self.correct.index(me)]}"
        self.ghost = found
        for m in effects.broadcasts:
            if m.kind == impl.COIN and self.ghost.coins[m.round] is None:
                self.ghost = spec.apply(
                    self.ctx, self.ghost, spec.OpenCoin(m.round, self.true_coins[m.round])
                )

    @precondition(lambda self: bool(self.in_flight))
    @rule(pick=st.integers(min_value=0, max_value=10_000))
    def deliver(self, pick: int) -> None:
        to, frm, m = self.in_flight.pop(pick % len(self.in_flight))
        self._apply(to, frm, m)

    @precondition(lambda self: self.ghost is not None)
    @rule(
        kind=st.sampled_from((impl.BVAL, impl.AUX, impl.CONF, impl.COIN, impl.TERM, "forged-coin")),
        round_=st.integers(0, 3),
        value=st.integers(0, 2),
        to=st.integers(0, 10_000),
        byz=st.integers(0, 10_000),
    )
    def byzantine_sends(self, kind: str, round_: int, value: int, to: int, byz: int) -> None:
        b = self.byzantine[byz % len(self.byzantine)]
        target = self.correct[to % len(self.correct)]
        if kind in (impl.BVAL, impl.AUX, impl.TERM):
            m = impl.Message(kind, 0, round_, value % 2)
        elif kind == impl.CONF:
            m = impl.Message(kind, 0, round_, impl.VALUE_SETS[value])
        else:
            share = coin.coin_share(self.public, self.secrets[b], impl.coin_name(0, 0, round_))
            if kind == "forged-coin":  # another node's sigma under b's index: the proof fails
                name = impl.coin_name(0, 0, round_)
                other = coin.coin_share(self.public, self.secrets[0], name)
                share = attrs.evolve(share, value=other.value)
            m = impl.Message(impl.COIN, 0, round_, share)
        self._apply(target, b, m)

    @invariant()
    def spec_invariants_hold(self) -> None:
        if self.ghost is None or self.ctx is None:
            return
        for name, _, holds in spec.INVARIANTS[:3]:
            assert holds(self.ctx, self.ghost), name


class AbaMachineSeven(AbaMachine):
    """n = 7, f = 2, rounds 0..1."""

    N, F, ROUNDS = 7, 2, 1


# -- The impl under the model (external coin), for the oracle --------------------------------------

ORACLE_PARAMS = spec.Params(4, 1, (3,), ((0, 1, 1),), 0, byzantine_kinds=ALL_KINDS)


@attrs.frozen(cache_hash=True)
class Deployment:
    # the correct nodes (ids 0..2), started with their inputs
    nodes: tuple[impl.Node, ...]
    # every message a correct node sent: (sender, message), sorted
    pool: tuple[tuple[int, impl.Message], ...]
    # the spec's coins (value and committed singletons), as the spec opens them
    coins: tuple[spec.Coin | None, ...]


@attrs.frozen
class Deliver:
    process: int
    sender: int
    message: impl.Message

    def __str__(self) -> str:
        m = self.message
        what = f"{m.kind.upper()}[{m.round}]({m.value})"
        return f"node {self.process} receives {what} from {self.sender}"


@attrs.frozen
class CoinTo:
    """The coin of ``round`` reaches node ``process`` (it opens with its first delivery)."""

    process: int
    round: int
    value: int

    def __str__(self) -> str:
        return f"node {self.process} learns coin[{self.round}] = {self.value}"


@attrs.frozen
class ForgedAba:
    process: int
    event: impl.Receive
    fault: impl.FaultKind

    def __str__(self) -> str:
        return f"node {self.process} receives a forged message ({self.fault.value})"


def _message_key(item: tuple[int, impl.Message]) -> tuple[int, str, int, str]:
    sender, m = item
    return (sender, m.kind, m.round, repr(m.value))


def oracle_alphabet(params: spec.Params) -> tuple[tuple[int, impl.Message], ...]:
    return tuple(
        (m.sender, impl.Message(m.kind, 0, m.round, m.value))
        for m in spec.byzantine_alphabet(params)
    )


def forged_aba_events(params: spec.Params) -> tuple[tuple[impl.Receive, impl.FaultKind], ...]:
    b = params.byzantine[0]
    return (
        (impl.Receive(9, impl.Message(impl.BVAL, 0, 0, 1)), impl.FaultKind.UNKNOWN_SENDER),
        (impl.Receive(b, impl.Message(impl.BVAL, 0, 0, 2)), impl.FaultKind.MALFORMED),
        (impl.Receive(b, impl.Message(impl.BVAL, 1, 0, 1)), impl.FaultKind.WRONG_INSTANCE),
        (impl.Receive(b, impl.Message(impl.AUX, 0, 5, 1)), impl.FaultKind.WRONG_ROUND),
        (impl.Receive(b, impl.Message(impl.COIN, 0, 0, "share")), impl.FaultKind.MALFORMED),
        (impl.Receive(b, impl.Message(impl.TERM, 0, 0, 2)), impl.FaultKind.MALFORMED),
        (impl.Receive(b, impl.Message(impl.TERM, 0, 9, 1)), impl.FaultKind.WRONG_ROUND),
    )


def oracle_node(me: int, params: spec.Params = ORACLE_PARAMS) -> impl.Node:
    """Correct node ``me`` of the oracle's deployment before its input (external coin)."""
    return impl.new_node(impl.NodeConfig(me, params.n, params.f, 0, params.max_round))


def _recorded(node: impl.Node, sender: int, m: impl.Message) -> bool:
    if m.kind == impl.BVAL:
        return (m.round, sender, m.value) in node.bvals
    if m.kind == impl.TERM:
        return any(s == sender for _, s, _ in node.terms)
    tally = node.auxes if m.kind == impl.AUX else node.confs
    return (m.round, sender, m.value) in tally


def _mutated_step(mutant: str | None) -> Any:
    def stepper(node: impl.Node, event: impl.Event) -> tuple[impl.Node, impl.Effects]:
        if mutant == "impl-ignores-instance" and isinstance(event, impl.Receive):
            m = event.message
            if isinstance(m, impl.Message) and m.instance != node.config.instance:
                event = impl.Receive(event.sender, attrs.evolve(m, instance=node.config.instance))
        post, effects = impl.step(node, event)
        if mutant == "impl-aux-twice" and len(post.bin_values) == 2 > len(node.bin_values):
            if node.phase != impl.BV and post.round == node.round:
                (new,) = set(post.bin_values) - set(node.bin_values)
                aux = impl.Message(impl.AUX, node.config.instance, node.round, new)
                auxes = tuple(sorted({*post.auxes, (node.round, node.config.me, new)}))
                post = attrs.evolve(post, auxes=auxes)
                effects = attrs.evolve(effects, broadcasts=(*effects.broadcasts, aux))
        return post, effects

    return stepper


def build_impl(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    """Impl nodes (external coin) on one pool plus the Byzantine alphabet, refinement checked."""
    params = params_of(config)
    ctx = spec.Context(params)
    stepper = _mutated_step(mutant.name if mutant else None)
    alphabet = oracle_alphabet(params)
    forged = forged_aba_events(params)
    correct = params.correct

    def project(state: Deployment) -> spec.SystemState:
        procs = tuple(to_spec_process(n) for n in state.nodes)
        pool = tuple(sorted({to_spec_message(s, m) for s, m in state.pool} - {None}))
        return spec.SystemState(procs, pool, state.coins)

    def initial_states() -> Any:
        for inputs in params.inputs:
            nodes, pool = [], []
            for p, v in zip(correct, inputs, strict=True):
                node, effects = impl.step(oracle_node(p, params), impl.Input(v))
                nodes.append(node)
                pool += [(p, m) for m in effects.broadcasts]
            yield Deployment(
                tuple(nodes),
                tuple(sorted(pool, key=_message_key)),
                (None,) * (params.max_round + 1),
            )

    def actions(state: Deployment) -> Any:
        for p, node in zip(correct, state.nodes, strict=True):
            if node.phase == impl.HALTED:
                continue
            for sender, m in (*state.pool, *alphabet):
                if sender != p and not _recorded(node, sender, m):
                    yield Deliver(p, sender, m)
            if node.phase == impl.COIN_WAIT and all(r != node.round for r, _ in node.coins):
                coin_ = state.coins[node.round]
                opened = any(
                    q.round == node.round and q.phase == impl.COIN_WAIT for q in state.nodes
                )
                if coin_ is not None:
                    yield CoinTo(p, node.round, coin_.value)
                elif opened:
                    yield CoinTo(p, node.round, 0)
                    yield CoinTo(p, node.round, 1)
            for event, fault in forged:
                yield ForgedAba(p, event, fault)

    def next_state(state: Deployment, action: Any) -> Deployment:
        i = correct.index(action.process)
        coins = state.coins
        if isinstance(action, CoinTo):
            event: impl.Event = impl.CoinOpened(action.round, action.value)
            if coins[action.round] is None:
                opened = spec.apply(ctx, project(state), spec.OpenCoin(action.round, action.value))
                coins = opened.coins
        elif isinstance(action, Deliver):
            event = impl.Receive(action.sender, action.message)
        else:
            event = action.event
        post, effects = stepper(state.nodes[i], event)
        if post == state.nodes[i] and coins == state.coins:
            return state
        sent = [(action.process, m) for m in effects.broadcasts]
        pool = tuple(sorted({*state.pool, *sent}, key=_message_key)) if sent else state.pool
        nodes = (*state.nodes[:i], post, *state.nodes[i + 1 :])
        return Deployment(nodes, pool, coins)

    def refinement_problem(pre: Deployment, action: Any, post: Deployment) -> str:
        a, b = project(pre), project(post)
        if a == b:
            return ""
        if isinstance(action, CoinTo) and pre.coins[action.round] is None:
            a = spec.apply(ctx, a, spec.OpenCoin(action.round, action.value))
        coins = {r: c.value for r, c in enumerate(b.coins) if c is not None}
        found = refinement_path(ctx, a, action.process, (b.processes, b.pool), coins)
        return "" if found is not None and found.coins == b.coins else f"no spec path to {b}"

    def faults_problem(pre: Deployment, action: Any, post: Deployment) -> str:
        if not isinstance(action, ForgedAba):
            return ""
        _, effects = stepper(pre.nodes[correct.index(action.process)], action.event)
        if post != pre or not effects.faults:
            return f"node {action.process} accepted or changed on {action}"
        return ""

    invariants, reachables = spec.properties(ctx, project)
    return Model(
        name="aba",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=invariants,
        step_properties=(
            StepProperty.from_problem(
                "refinement",
                "every impl step is a path of enabled spec actions of that node",
                refinement_problem,
            ),
            StepProperty.from_problem(
                "faults_change_nothing",
                "a forged message is refused with a fault and changes nothing",
                faults_problem,
            ),
        ),
        reachables=reachables,
    )


# -- The oracle: canonical JSON of nodes (external coin), events and effects -----------------------

_NAT = {"type": "integer", "minimum": 0}
_BIT = {"enum": [0, 1]}
_SET = {"enum": [[0], [1], [0, 1]]}
_MAYBE_SET = {"anyOf": [{"type": "null"}, _SET]}


def _triples(value: Any) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {
            "type": "array",
            "prefixItems": [_NAT, _NAT, value],
            "minItems": 3,
            "maxItems": 3,
        },
    }


def _loose(value: Any) -> Any:
    try:
        return plain_to_json(value)
    except TypeError:
        return repr(value)


def _msg_json(m: Any) -> Any:
    return {
        "kind": _loose(getattr(m, "kind", None)),
        "instance": _loose(getattr(m, "instance", None)),
        "round": _loose(getattr(m, "round", None)),
        "value": _loose(getattr(m, "value", None)),
    }


class AbaCodec:
    """Encoding of an ABA node with an external coin (no coin keys), its events and effects.

    state    {"me", "n", "f", "session", "instance", "max_round", "round", "phase", "est", "ests",
              "sent", "bin_values", "aux_vals", "vals", "decided", "bvals", "auxes", "confs",
              "terms", "coins"}
             (tallies as [round, sender, value] triples, coins as [round, bit] pairs)
    event    {"type": "input", "value": b} | {"type": "coin", "round": r, "value": b}
             {"type": "receive", "sender": s, "message": {"kind", "instance", "round", "value"}}
    effects  {"broadcasts": [message...], "decided": b | null, "faults": [{"sender", "kind"}]}
    Nodes that hold threshold-coin keys are not covered by this encoding (their coin shares
    are the threshold-coin module's vectors).
    """

    protocol = "aba"

    def schemas(self) -> dict[str, Any]:
        state = object_schema(
            {
                "me": _NAT,
                "n": {"type": "integer", "minimum": 1},
                "f": _NAT,
                "session": _NAT,
                "instance": _NAT,
                "max_round": _NAT,
                "round": _NAT,
                "phase": {"enum": [0, 1, 2, 3, 4]},
                "est": {"anyOf": [{"type": "null"}, _BIT]},
                "ests": {"type": "array", "items": _BIT},
                "sent": {"type": "array", "items": {"type": "array", "items": _BIT}},
                "bin_values": {"type": "array", "items": _BIT},
                "aux_vals": _MAYBE_SET,
                "vals": _MAYBE_SET,
                "decided": {
                    "anyOf": [
                        {"type": "null"},
                        {
                            "type": "array",
                            "prefixItems": [_BIT, _NAT],
                            "minItems": 2,
                            "maxItems": 2,
                        },
                    ]
                },
                "bvals": _triples(_BIT),
                "auxes": _triples(_BIT),
                "confs": _triples(_SET),
                "terms": _triples(_BIT),
                "coins": {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "prefixItems": [_NAT, _BIT],
                        "minItems": 2,
                        "maxItems": 2,
                    },
                },
            }
        )
        sent = object_schema(
            {
                "kind": {"enum": [impl.BVAL, impl.AUX, impl.CONF, impl.TERM]},
                "instance": _NAT,
                "round": _NAT,
                "value": {},
            }
        )
        event = {
            "oneOf": [
                object_schema({"type": {"const": "input"}, "value": _BIT}),
                object_schema({"type": {"const": "coin"}, "round": _NAT, "value": _BIT}),
                object_schema(
                    {
                        "type": {"const": "receive"},
                        "sender": {},
                        "message": object_schema(
                            {"kind": {}, "instance": {}, "round": {}, "value": {}}
                        ),
                    }
                ),
            ]
        }
        effects = object_schema(
            {
                "broadcasts": {"type": "array", "items": sent},
                "decided": {"anyOf": [{"type": "null"}, _BIT]},
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
            "session": c.session,
            "instance": c.instance,
            "max_round": c.max_round,
            "round": node.round,
            "phase": node.phase,
            "est": node.est,
            "ests": list(node.ests),
            "sent": [list(s) for s in node.sent],
            "bin_values": list(node.bin_values),
            "aux_vals": None if node.aux_vals is None else list(node.aux_vals),
            "vals": None if node.vals is None else list(node.vals),
            "decided": None if node.decided is None else list(node.decided),
            "bvals": [list(t) for t in node.bvals],
            "auxes": [list(t) for t in node.auxes],
            "confs": [[r, s, list(v)] for r, s, v in node.confs],
            "terms": [list(t) for t in node.terms],
            "coins": [list(c_) for c_ in node.coins],
        }

    def decode_state(self, doc: Any, path: str = "$") -> impl.Node:
        names = list(self.schemas()["state"]["properties"])
        expect_object(doc, path, names)
        n = expect_int(doc["n"], f"{path}.n", minimum=1)
        ints = {
            k: expect_int(doc[k], f"{path}.{k}", minimum=0)
            for k in ("me", "f", "session", "instance", "max_round", "round", "phase")
        }
        if ints["me"] >= n:
            raise DecodeError(f"{path}.me", f"node {ints['me']} out of range for {n}")
        if ints["phase"] > impl.HALTED:
            raise DecodeError(f"{path}.phase", "expected a phase 0..4")

        def bit(v: Any, where: str) -> int:
            if v not in (0, 1) or type(v) is not int:
                raise DecodeError(where, "expected 0 or 1")
            return int(v)

        def bits(v: Any, where: str) -> tuple[int, ...]:
            return tuple(bit(x, f"{where}[{k}]") for k, x in enumerate(expect_array(v, where)))

        def value_set(v: Any, where: str) -> tuple[int, ...]:
            out = bits(v, where)
            if out not in impl.VALUE_SETS:
                raise DecodeError(where, "expected [0], [1] or [0, 1]")
            return out

        def triples(key: str, value: Any) -> tuple[Any, ...]:
            out = []
            for k, item in enumerate(expect_array(doc[key], f"{path}.{key}")):
                where = f"{path}.{key}[{k}]"
                t = expect_array(item, where)
                if len(t) != 3:
                    raise DecodeError(where, "expected [round, sender, value]")
                r = expect_int(t[0], f"{where}[0]", minimum=0)
                s = expect_int(t[1], f"{where}[1]", minimum=0)
                out.append((r, s, value(t[2], f"{where}[2]")))
            if out != sorted(out):
                raise DecodeError(f"{path}.{key}", "expected sorted entries")
            return tuple(out)

        est = None if doc["est"] is None else bit(doc["est"], f"{path}.est")
        decided = None
        if doc["decided"] is not None:
            d = expect_array(doc["decided"], f"{path}.decided")
            if len(d) != 2:
                raise DecodeError(f"{path}.decided", "expected [value, round]")
            decided = (bit(d[0], f"{path}.decided[0]"), expect_int(d[1], f"{path}.decided[1]", 0))
        coins = []
        for k, item in enumerate(expect_array(doc["coins"], f"{path}.coins")):
            pair = expect_array(item, f"{path}.coins[{k}]")
            if len(pair) != 2:
                raise DecodeError(f"{path}.coins[{k}]", "expected [round, bit]")
            coins.append(
                (
                    expect_int(pair[0], f"{path}.coins[{k}][0]", 0),
                    bit(pair[1], f"{path}.coins[{k}][1]"),
                )
            )
        sent = tuple(
            bits(s, f"{path}.sent[{k}]")
            for k, s in enumerate(expect_array(doc["sent"], f"{path}.sent"))
        )
        config = impl.NodeConfig(
            ints["me"], n, ints["f"], ints["instance"], ints["max_round"], session=ints["session"]
        )
        return impl.Node(
            config,
            ints["round"],
            ints["phase"],
            est,
            bits(doc["ests"], f"{path}.ests"),
            sent,
            bits(doc["bin_values"], f"{path}.bin_values"),
            None if doc["aux_vals"] is None else value_set(doc["aux_vals"], f"{path}.aux_vals"),
            None if doc["vals"] is None else value_set(doc["vals"], f"{path}.vals"),
            decided,
            triples("bvals", bit),
            triples("auxes", bit),
            triples("confs", value_set),
            (),
            tuple(sorted(coins)),
            triples("terms", bit),
        )

    def encode_event(self, event: impl.Event) -> Any:
        if isinstance(event, impl.Input):
            return {"type": "input", "value": _loose(event.value)}
        if isinstance(event, impl.CoinOpened):
            return {"type": "coin", "round": _loose(event.round), "value": _loose(event.value)}
        return {
            "type": "receive",
            "sender": _loose(event.sender),
            "message": _msg_json(event.message),
        }

    def decode_event(self, doc: Any, path: str = "$") -> impl.Event:
        if not isinstance(doc, dict):
            raise DecodeError(path, "expected an object with a field 'type'")
        kind = doc.get("type")
        if kind == "input":
            expect_object(doc, path, ["type", "value"])
            return impl.Input(expect_int(doc["value"], f"{path}.value", minimum=0))
        if kind == "coin":
            expect_object(doc, path, ["type", "round", "value"])
            return impl.CoinOpened(
                expect_int(doc["round"], f"{path}.round", 0),
                expect_int(doc["value"], f"{path}.value", 0),
            )
        if kind == "receive":
            expect_object(doc, path, ["type", "sender", "message"])
            m = expect_object(
                doc["message"], f"{path}.message", ["kind", "instance", "round", "value"]
            )
            # lenient on purpose: the node, not the decoder, refuses a malformed message
            message = impl.Message(
                *(plain_from_json(m[k]) for k in ("kind", "instance", "round", "value"))
            )
            return impl.Receive(plain_from_json(doc["sender"]), message)
        raise DecodeError(
            f"{path}.type", f"unknown event type {kind!r} (known: coin, input, receive)"
        )

    def encode_effects(self, effects: impl.Effects) -> Any:
        return {
            "broadcasts": [_msg_json(m) for m in effects.broadcasts],
            "decided": effects.decided,
            "faults": [{"sender": _loose(f.sender), "kind": f.kind.value} for f in effects.faults],
        }

    def handler(self, event: impl.Event) -> str:
        if isinstance(event, impl.Input):
            return "input"
        return "coin" if isinstance(event, impl.CoinOpened) else "receive"

    def step(self, node: impl.Node, event: impl.Event) -> tuple[impl.Node, impl.Effects]:
        return impl.step(node, event)


CODEC = AbaCodec()


def node_event(action: Any) -> tuple[int, impl.Event]:
    """The node a model action of the ``impl`` config steps (ids 0..2 are its indices)."""
    if isinstance(action, CoinTo):
        return action.process, impl.CoinOpened(action.round, action.value)
    if isinstance(action, Deliver):
        return action.process, impl.Receive(action.sender, action.message)
    return action.process, action.event


def initial_node(index: int, nodes: int) -> impl.Node:
    """Node ``index`` of a trace of ``nodes`` correct nodes, before its input: the deployment has
    one more node (the last, Byzantine), f = (n − 1) // 3, rounds 0..0, instance 0."""
    n = nodes + 1
    return impl.new_node(impl.NodeConfig(index, n, (n - 1) // 3, 0, 0))


def refusal(node: impl.Node, sender: Any, m: Any) -> impl.FaultKind | None:
    """Why ``node`` must refuse ``m`` from ``sender`` (checked apart from the impl, in the order
    it documents); None if it must take it (or, halted, ignore it)."""
    c = node.config
    if node.phase == impl.HALTED:
        return None
    if not (type(sender) is int and 0 <= sender < c.n and sender != c.me):
        return impl.FaultKind.UNKNOWN_SENDER
    if not isinstance(m, impl.Message) or m.kind not in impl.KINDS or type(m.instance) is not int:
        return impl.FaultKind.MALFORMED
    if type(m.round) is not int or m.round < 0:
        return impl.FaultKind.MALFORMED
    bits = (impl.BVAL, impl.AUX, impl.TERM)
    if m.kind in bits and not (type(m.value) is int and m.value in (0, 1)):
        return impl.FaultKind.MALFORMED
    if m.kind == impl.CONF and m.value not in impl.VALUE_SETS:
        return impl.FaultKind.MALFORMED
    if m.kind == impl.COIN:
        return impl.FaultKind.MALFORMED  # no share decodes into this encoding (no coin keys)
    if m.instance != c.instance:
        return impl.FaultKind.WRONG_INSTANCE
    if m.round > c.max_round + (1 if m.kind == impl.TERM else 0):
        return impl.FaultKind.WRONG_ROUND
    if m.kind == impl.BVAL:
        return impl.FaultKind.DUPLICATE if (m.round, sender, m.value) in node.bvals else None
    if m.kind == impl.TERM:
        term = next(((r, v) for r, s, v in node.terms if s == sender), None)
        if term is None:
            return None
        same = term == (m.round, m.value)
        return impl.FaultKind.DUPLICATE if same else impl.FaultKind.EQUIVOCATION
    tally = node.auxes if m.kind == impl.AUX else node.confs
    first = next((v for r, s, v in tally if r == m.round and s == sender), None)
    if first is None:
        return None
    return impl.FaultKind.DUPLICATE if first == m.value else impl.FaultKind.EQUIVOCATION


def _local_view(node: impl.Node) -> tuple[spec.Context, spec.SystemState]:
    """The node's own evidence as a spec state: its tallies are the pool, its coins the coins."""
    c = node.config
    others = tuple(i for i in range(c.n) if i != c.me)
    est = node.est if node.est is not None else 0
    params = spec.Params(c.n, c.f, others, ((est,),), c.max_round)
    ctx = spec.Context(params)
    ctx.alphabet = ()
    pool = [spec.Message(spec.BVAL, r, s, v) for r, s, v in node.bvals]
    pool += [spec.Message(spec.AUX, r, s, v) for r, s, v in node.auxes]
    pool += [spec.Message(spec.CONF, r, s, v) for r, s, v in node.confs]
    pool += [spec.Message(spec.TERM, r, s, v) for r, s, v in node.terms]
    coins = [None] * (c.max_round + 1)
    for r, v in node.coins:
        if r <= c.max_round:
            coins[r] = spec.Coin(v, ())
    procs = (to_spec_process(node),) if node.est is not None else ()
    return ctx, spec.SystemState(procs, tuple(sorted(set(pool))), tuple(coins))


def step_checker(codec: AbaCodec = CODEC) -> Any:
    """Trace validation of one ABA node's step (external coin) against the spec.

    Checked: the configuration never changes (``identity``); a message :func:`refusal` names is
    refused with that fault and changes nothing (``typed_fault``, ``faults_change_nothing``);
    otherwise the receipt (or input, or coin) is recorded (``record``) and the node's MMR
    variables move by a path of enabled spec actions over its own evidence (``refinement``), the
    effects sending exactly its new messages and reporting a new decision.
    """
    from .validate import StepChecker

    def check(
        nodes: tuple[impl.Node, ...], i: int, event: impl.Event, post: impl.Node, effects: Any
    ) -> tuple[str, str, str] | None:
        pre = nodes[i]
        if post.config != pre.config:
            return ("identity", f"configuration {pre.config}", f"{post.config}")
        recorded = pre
        if isinstance(event, impl.Input):
            if pre.est is not None or event.value not in (0, 1):
                return ("refinement", "no input now (local misuse)", "an input")
            v = event.value
            me = pre.config.me
            recorded = attrs.evolve(
                pre, est=v, ests=(v,), sent=((v,),), bvals=tuple(sorted({*pre.bvals, (0, me, v)}))
            )
        elif isinstance(event, impl.CoinOpened):
            if any(r == event.round for r, _ in pre.coins):
                return (
                    None
                    if post == pre
                    else ("refinement", "a known coin changes nothing", "a change")
                )
            recorded = attrs.evolve(
                pre, coins=tuple(sorted((*pre.coins, (event.round, event.value))))
            )
        else:
            kind = refusal(pre, event.sender, event.message)
            if kind is not None:
                if post != pre:
                    return ("faults_change_nothing", f"no change ({kind.value})", "a change")
                fault = {"sender": _loose(event.sender), "kind": kind.value}
                if effects is not None and effects.get("faults") != [fault]:
                    return ("typed_fault", f"faults [{fault}]", str(effects.get("faults")))
                return None
            if pre.phase == impl.HALTED:
                return None if post == pre else ("refinement", "a halted node ignores", "a change")
            m = event.message
            entry = (m.round, event.sender, m.value)
            if m.kind == impl.BVAL:
                recorded = attrs.evolve(pre, bvals=tuple(sorted((*pre.bvals, entry))))
            elif m.kind == impl.TERM:
                recorded = attrs.evolve(pre, terms=tuple(sorted((*pre.terms, entry))))
            elif m.kind == impl.AUX:
                recorded = attrs.evolve(pre, auxes=tuple(sorted((*pre.auxes, entry))))
            else:
                recorded = attrs.evolve(pre, confs=tuple(sorted((*pre.confs, entry))))
        me = pre.config.me
        for name in ("bvals", "auxes", "confs", "terms"):
            before, after = set(getattr(recorded, name)), set(getattr(post, name))
            if not before <= after or any(s != me for _, s, _ in after - before):
                return (
                    "record",
                    f"{name}: the receipt plus the node's own messages",
                    str(sorted(after)),
                )
        if post.coins != recorded.coins:
            return ("record", f"coins {list(recorded.coins)}", str(list(post.coins)))
        if recorded.est is None:
            return (
                None
                if post == recorded
                else ("refinement", "not started: tallies only", "a change")
            )
        ctx, seen = _local_view(recorded)
        _, after = _local_view(post)
        coins = {r: c.value for r, c in enumerate(after.coins) if c is not None}
        found = refinement_path(ctx, seen, me, (after.processes, after.pool), coins)
        if found is None:
            return (
                "refinement",
                "a path of enabled spec actions over the node's evidence",
                str(to_spec_process(post)),
            )
        if effects is not None:
            new = []
            tallies = (
                ("bvals", impl.BVAL),
                ("auxes", impl.AUX),
                ("confs", impl.CONF),
                ("terms", impl.TERM),
            )
            for name, kind in tallies:
                for r, _, v in sorted(set(getattr(post, name)) - set(getattr(recorded, name))):
                    new.append(_msg_json(impl.Message(kind, pre.config.instance, r, v)))
            if isinstance(event, impl.Input):
                new.append(_msg_json(impl.Message(impl.BVAL, pre.config.instance, 0, event.value)))
            decided = post.decided[0] if post.decided and not pre.decided else None
            got = sorted(effects.get("broadcasts") or [], key=dumps_line)
            if (
                got != sorted(new, key=dumps_line)
                or effects.get("decided") != decided
                or effects.get("faults")
            ):
                want = {"broadcasts": new, "decided": decided, "faults": []}
                return ("refinement", f"effects {want}", str(effects))
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
