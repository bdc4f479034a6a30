"""Tendermint (Algorithm 1): hand-made spec examples, bounded model checks, mutants, Hypothesis."""

import os

import attrs
import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from mnemosyne_consensus.impl import tendermint as impl
from mnemosyne_consensus.model_checks import tendermint as model
from mnemosyne_consensus.model_checks.engine import Bounds, explore, simulate
from mnemosyne_consensus.proofs import tendermint as proofs
from mnemosyne_consensus.proofs.core import check_goal
from mnemosyne_consensus.spec import tendermint as spec

PROTOCOL = model.PROTOCOL
FOUR = spec.Params(powers=(1, 1, 1, 1), byzantine=(0,), values=("v0", "v1"), max_round=2)
SLOW = pytest.mark.skipif(
    not os.environ.get("MNEMOSYNE_SLOW"), reason="40-80 s each: set MNEMOSYNE_SLOW=1"
)


def run(ctx, actions, state=None):
    """Applies ``actions`` one by one, each of which must be enabled."""
    state = state or spec.initial_state(ctx.params)
    for action in actions:
        enabled = list(spec.enabled_actions(ctx, state))
        assert action in enabled, (action, enabled)
        state = spec.apply(ctx, state, action)
    return state


def proc(ctx, state, p):
    return state.processes[ctx.params.correct.index(p)]


# -- thresholds and proposer ---------------------------------------------------------------------


def test_thresholds_are_strictly_more_than_two_thirds_and_one_third_of_the_power():
    rules = spec.SPEC_RULES
    assert [spec.is_quorum(FOUR, rules, k) for k in range(5)] == [False, False, False, True, True]
    assert [spec.is_one_third(FOUR, k) for k in range(5)] == [False, False, True, True, True]
    three = attrs.evolve(FOUR, powers=(1, 1, 1))
    assert not spec.is_quorum(three, rules, 2)  # 2 of 3 is exactly 2/3: not a quorum
    assert spec.is_quorum(three, spec.Rules(strict_quorum=False), 2)  # the mutant's reading
    weighted = attrs.evolve(FOUR, powers=(1, 2, 1))
    assert spec.is_quorum(weighted, rules, 3) and not spec.is_quorum(weighted, rules, 2)


def test_proposer_rotates_round_robin_over_heights_and_rounds():
    assert [spec.proposer(FOUR, 0, r) for r in range(5)] == [0, 1, 2, 3, 0]
    assert [spec.proposer(FOUR, 1, r) for r in range(2)] == [1, 2]


# -- hand-made executions ------------------------------------------------------------------------


def test_happy_path_locks_then_decides_and_moves_to_the_next_height():
    ctx = spec.Context(attrs.evolve(FOUR, heights=2))
    # round 0: the Byzantine proposer 0 has proposed both values; 1 and 2 prevote v0
    state = run(ctx, [spec.PrevoteOnProposal(1, "v0"), spec.PrevoteOnProposal(2, "v0")])
    assert proc(ctx, state, 1).step is spec.Step.PREVOTE
    # polka {0, 1, 2} for v0: lines 36-43 lock v0 in round 0 and set the valid value
    state = run(ctx, [spec.PrecommitOnPolka(1, "v0")], state)
    p1 = proc(ctx, state, 1)
    assert (p1.locked_value, p1.locked_round, p1.valid_value, p1.valid_round) == ("v0", 0, "v0", 0)
    assert p1.step is spec.Step.PRECOMMIT
    assert spec.Message(spec.Kind.PRECOMMIT, 0, 0, 1, "v0") in state.pool
    # 3 has not voted at all, yet decides on the precommits of {0, 1, 2} (lines 49-54)
    state = run(ctx, [spec.PrecommitOnPolka(2, "v0"), spec.Decide(3, 0, "v0")], state)
    p3 = proc(ctx, state, 3)
    assert p3.decisions == (spec.Decision("v0", 0), None)
    assert (p3.height, p3.round, p3.step, p3.locked_round, p3.valid_round) == (
        1,
        0,
        spec.Step.PROPOSE,
        -1,
        -1,
    )
    # height 1, round 0: validator 1 proposes
    assert spec.Propose(1, "v0") not in spec.enabled_actions(ctx, state)  # 1 is still at h 0
    state = run(ctx, [spec.Decide(1, 0, "v0"), spec.Propose(1, "v1")], state)
    assert spec.Message(spec.Kind.PROPOSAL, 1, 0, 1, "v1", -1) in state.pool


def _locked_on_v0_in_round_0(ctx):
    """1 locks v0 in round 0; 1, 2, 3 move to round 1 on 2f+1 precommits of round 0."""
    return run(
        ctx,
        [
            spec.PrevoteOnProposal(1, "v0"),
            spec.PrevoteOnProposal(2, "v0"),
            spec.PrecommitOnPolka(1, "v0"),
            spec.TimeoutPropose(3),
            spec.TimeoutPrevote(2),
            spec.TimeoutPrecommit(1),
            spec.TimeoutPrecommit(2),
        ],
    )


def test_proposer_reproposes_its_valid_value_with_its_valid_round():
    ctx = spec.Context(FOUR)
    state = _locked_on_v0_in_round_0(ctx)
    # validator 1 proposes round 1: only its validValue v0, with vr = 0 (lines 15-16, 19)
    assert [a for a in spec.enabled_actions(ctx, state) if isinstance(a, spec.Propose)] == [
        spec.Propose(1, "v0")
    ]
    state = run(ctx, [spec.Propose(1, "v0")], state)
    assert spec.Message(spec.Kind.PROPOSAL, 0, 1, 1, "v0", 0) in state.pool
    # 2 is not locked (it precommitted nil): rule 28 with the polka of round 0
    state = run(ctx, [spec.PrevoteOnPolkaProposal(2, "v0", 0)], state)
    assert spec.Message(spec.Kind.PREVOTE, 0, 1, 2, "v0") in state.pool


def test_a_locked_process_prevotes_nil_for_another_value_without_a_newer_polka():
    params = attrs.evolve(FOUR, byzantine=(1,))  # the round 1 proposer is Byzantine
    ctx = spec.Context(params)
    state = run(
        ctx,
        [
            spec.Propose(0, "v0"),
            spec.PrevoteOnProposal(0, "v0"),
            spec.PrevoteOnProposal(2, "v0"),
            spec.PrecommitOnPolka(2, "v0"),  # 2 locks v0 in round 0
            spec.TimeoutPropose(3),
            spec.TimeoutPrevote(0),
            spec.TimeoutPrecommit(2),
        ],
    )
    # the Byzantine proposer of round 1 proposes v1 with vr = -1 (line 22) and with vr = 0
    # (line 28, which needs a polka for v1 in round 0: there is none, so the rule is disabled)
    enabled = list(spec.enabled_actions(ctx, state))
    assert spec.PrevoteOnProposal(2, "v1") in enabled
    assert spec.PrevoteOnPolkaProposal(2, "v1", 0) not in enabled
    after = run(ctx, [spec.PrevoteOnProposal(2, "v1")], state)
    assert spec.Message(spec.Kind.PREVOTE, 0, 1, 2, None) in after.pool  # line 26: nil
    # the mutant that skips the polka check enables line 28: 2 prevotes v1 against its lock
    loose = spec.Context(params, spec.Rules(polka_to_unlock=False))
    assert spec.PrevoteOnPolkaProposal(2, "v1", 0) in spec.enabled_actions(loose, state)
    bad = spec.apply(loose, state, spec.PrevoteOnPolkaProposal(2, "v1", 0))
    assert spec.Message(spec.Kind.PREVOTE, 0, 1, 2, "v1") in bad.pool
    assert not spec.prevote_respects_lock(loose, state, None, bad)
    assert spec.prevote_respects_lock(ctx, state, None, after)


def test_round_skip_needs_more_than_one_third_of_the_power_in_the_higher_round():
    ctx = spec.Context(FOUR)
    # 1 and 2 reach round 1 on 2f+1 precommits of round 0; 3 still in round 0
    state = run(
        ctx,
        [
            spec.TimeoutPropose(1),
            spec.TimeoutPropose(2),
            spec.TimeoutPrevote(1),
            spec.TimeoutPrevote(2),
            spec.TimeoutPrecommit(1),
        ],
    )
    # messages of round 1 so far: the Byzantine 0's alphabet only (power 1, not > 4/3)
    assert spec.RoundSkip(3, 1) not in spec.enabled_actions(ctx, state)
    state = run(ctx, [spec.Propose(1, "v1")], state)  # 1's proposal: now {0, 1}, power 2
    assert spec.RoundSkip(3, 1) in spec.enabled_actions(ctx, state)
    state = run(ctx, [spec.RoundSkip(3, 1)], state)
    assert (proc(ctx, state, 3).round, proc(ctx, state, 3).step) == (1, spec.Step.PROPOSE)


def test_valid_value_is_updated_once_in_precommit_step_for_the_first_time():
    ctx = spec.Context(FOUR)
    state = run(
        ctx,
        [
            spec.PrevoteOnProposal(1, "v0"),
            spec.PrevoteOnProposal(2, "v0"),
            spec.TimeoutPrevote(1),  # 1 precommits nil, not locked
            spec.PrecommitOnPolka(1, "v0"),  # line 36 in step precommit: valid only
        ],
    )
    p1 = proc(ctx, state, 1)
    assert (p1.locked_round, p1.valid_value, p1.valid_round) == (-1, "v0", 0)
    assert spec.Message(spec.Kind.PRECOMMIT, 0, 0, 1, "v0") not in state.pool
    assert spec.PrecommitOnPolka(1, "v0") not in spec.enabled_actions(ctx, state)


# -- accountability ------------------------------------------------------------------------------


def _m(kind, r, sender, value, vr=-1):
    return spec.Message(kind, 0, r, sender, value, vr)


PV, PC = spec.Kind.PREVOTE, spec.Kind.PRECOMMIT


def test_misbehaving_convicts_equivocation_and_amnesia_only():
    params = spec.Params(powers=(1, 1, 1, 1), byzantine=(), values=("v0", "v1"), max_round=2)
    ctx = spec.Context(params)
    equivocation = (_m(PV, 0, 0, "v0"), _m(PV, 0, 0, "v1"))
    assert spec.misbehaving(ctx, equivocation, 0) == {0}
    # 1 precommits v0 in round 0, prevotes v1 in round 2 with no polka for v1 in rounds 0..1
    amnesia = (_m(PC, 0, 1, "v0"), _m(PV, 2, 1, "v1"))
    assert spec.misbehaving(ctx, amnesia, 0) == {1}
    # the same with a polka for v1 in round 1 (prevotes of 0, 2, 3) is a justified unlock
    polka = tuple(_m(PV, 1, s, "v1") for s in (0, 2, 3))
    assert spec.misbehaving(ctx, amnesia + polka, 0) == frozenset()
    # a nil prevote or a prevote for the locked value is never amnesia
    fine = (_m(PC, 0, 1, "v0"), _m(PV, 1, 1, None), _m(PV, 2, 1, "v0"))
    assert spec.misbehaving(ctx, fine, 0) == frozenset()


@pytest.mark.parametrize("name", ["unsafe", "unsafe-amnesia"])
def test_unsafe_configs_break_agreement_while_accountability_holds(name):
    entry = PROTOCOL.config(name)
    m = model.build_spec(entry, None)  # the spec's own states, to read the trace directly
    broken = explore(m.restricted_to(["agreement"]))
    assert broken.outcome == "violation" and broken.violation.property_name == "agreement"
    last = broken.violation.trace[-1].state
    assert not spec.agreement(spec.Context(model.params_of(entry)), last)
    others = [n for n in m.property_names() if n != "agreement"]
    kept = explore(m.restricted_to(others))
    assert kept.complete and kept.outcome in ("ok", "unreached"), kept.violation
    # the disagreement convicts the two faulty validators, by equivocation or by amnesia
    ctx = spec.Context(model.params_of(entry))
    assert ctx.convicted(last.pool, 0) == {0, 1}


# -- bounded model checks ------------------------------------------------------------------------


def test_tiny_holds_completely_with_its_pinned_state_count():
    config = PROTOCOL.config("tiny")
    result = explore(model.build(config, None))
    assert result.outcome == "ok" and result.complete
    assert result.distinct_states == config.expected_distinct_states == 9983


def test_default_config_holds_completely_and_reaches_everything():
    config = PROTOCOL.default_config
    m = model.build(config, None)
    result = explore(m)
    assert result.outcome == "ok" and result.complete, result.violation
    assert set(result.reached) == {r.name for r in m.reachables}
    assert "second_height_reached" in result.reached
    assert result.distinct_states == config.expected_distinct_states


@SLOW
@pytest.mark.parametrize("name", ["four", "weighted-rounds", "lock"])
def test_larger_configs_hold_completely(name):
    config = PROTOCOL.config(name)
    result = explore(model.build(config, None))
    assert result.complete and result.outcome in ("ok", "unreached"), result.violation
    assert result.distinct_states == config.expected_distinct_states


def test_threshold_config_is_safe_with_strict_thresholds():
    # 3 validators, 1 Byzantine: n = 3f, yet > 2/3 means all three, so two quorums share a
    # correct validator (the >= 2/3 mutant, below, breaks agreement on this very config)
    result = explore(model.build(PROTOCOL.config("threshold"), None))
    assert result.complete and result.violation is None


def test_issue_config_simulates_clean():
    m = model.build(PROTOCOL.config("issue"), None)
    result = simulate(m, runs=40, steps=80, seed=7)
    assert result.violation is None
    assert "value_decided" in result.reached


@pytest.mark.parametrize("mutant", PROTOCOL.mutants, ids=lambda m: m.name)
def test_every_mutant_is_caught_with_a_trace(mutant):
    config = PROTOCOL.config(mutant.config or "tiny")
    result = explore(model.build(config, mutant).restricted_to([mutant.breaks]))
    assert result.outcome == "violation"
    assert result.violation.property_name == mutant.breaks
    assert result.violation.trace[0].action is None and len(result.violation.trace) >= 2


def test_no_lock_counterexample_decides_two_values_in_two_rounds():
    mutant = PROTOCOL.mutant("no-lock")
    result = explore(model.build(PROTOCOL.config("lock"), mutant).restricted_to(["agreement"]))
    last = result.violation.trace[-1].state
    decided = {(d.value, d.round) for p in last.processes if (d := p.decisions[0])}
    assert {v for v, _ in decided} == {"v0", "v1"}
    assert {r for _, r in decided} == {0, 1}


def test_every_always_property_has_a_mutant():
    m = model.build(PROTOCOL.default_config, None)
    always = {p.name for p in (*m.invariants, *m.step_properties)}
    assert always == {mu.breaks for mu in PROTOCOL.mutants}


def test_view_uses_the_tendermint_acc_variable_names():
    config = PROTOCOL.config("tiny")
    state = spec.initial_state(model.params_of(config))
    view = PROTOCOL.view(state)
    assert set(view) >= {"round", "step", "decision", "lockedValue", "lockedRound"}
    assert set(view) >= {"validValue", "validRound", "msgsPropose", "msgsPrevote"}
    assert view["lockedRound"] == {1: -1, 2: -1}  # validators 1 and 2 are the correct ones


def test_byzantine_alphabets():
    params = model.params_of(PROTOCOL.config("tiny"))
    alphabet = spec.byzantine_alphabet(params)
    proposals = [m for m in alphabet if m.kind is spec.Kind.PROPOSAL]
    # validator 0 proposes round 0 only (round 1 is validator 1's): both values, vr = -1
    assert {(m.round, m.value, m.valid_round) for m in proposals} == {(0, "v0", -1), (0, "v1", -1)}
    assert len([m for m in alphabet if m.kind is PV]) == 2 * 3  # 2 rounds x {v0, v1, nil}
    amnesia = spec.byzantine_alphabet(model.params_of(PROTOCOL.config("unsafe-amnesia")))
    keys = [(m.sender, m.kind, m.round) for m in amnesia]
    assert len(keys) == len(set(keys))  # never two messages of one type and round


# -- Hypothesis ----------------------------------------------------------------------------------


def test_hypothesis_machine_seven_validators_two_byzantine():
    heights = []

    class Recording(model.TendermintMachine):
        def teardown(self):
            heights.append(max(p.height for p in self.state.processes))

    run_state_machine_as_test(
        Recording,
        settings=settings(max_examples=25, stateful_step_count=80, derandomize=True, deadline=None),
    )


def test_hypothesis_machine_catches_the_lock_on_prevote_mutant():
    class LockOnPrevote(model.TendermintMachine):
        machine_params = attrs.evolve(model.MACHINE_PARAMS, byzantine=(1,), powers=(1,) * 4)
        machine_rules = spec.Rules(lock_on_prevote=True)

    with pytest.raises(AssertionError, match="lock_set_on_polka"):
        run_state_machine_as_test(
            LockOnPrevote,
            settings=settings(
                max_examples=50, stateful_step_count=40, derandomize=True, deadline=None
            ),
        )


# -- proofs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("proof", proofs.PROOFS, ids=lambda p: p.name)
def test_every_proof_is_proved(proof):
    verdict = check_goal(proof.build(None), 10_000)
    assert verdict.status == "proved", (verdict.reason, verdict.counterexample)


@pytest.mark.parametrize(
    ("mutant", "proof"),
    [(m, p) for m in proofs.MUTANTS for p in proofs.PROOFS],
    ids=lambda x: x.name,
)
def test_proof_mutants_break_exactly_what_they_claim(mutant, proof):
    verdict = check_goal(proof.build(mutant.name), 10_000)
    if proof.name in mutant.breaks:
        assert verdict.status == "counterexample", verdict.reason
        assert "claim violated" in verdict.counterexample
    else:
        assert verdict.status == "proved", (verdict.reason, verdict.counterexample)


def test_inclusive_threshold_counterexample_shares_exactly_a_third():
    proof = next(p for p in proofs.PROOFS if p.name.endswith("share_more_than_a_third"))
    verdict = check_goal(proof.build(proofs.INCLUSIVE), 10_000)
    assert verdict.status == "counterexample"
    assert "W_all = 3" in verdict.counterexample and "W_AandB = 1" in verdict.counterexample


# -- impl: validation, faults, evidence ----------------------------------------------------------

IMPL_PARAMS = model.params_of(PROTOCOL.config("tiny"))  # powers 1, 2, 1; validator 0 Byzantine
CONFIGS = model.node_configs(IMPL_PARAMS)
SEEDS = [impl.derive_seed(i) for i in range(3)]


def _node(p=1):
    return impl.new_node(CONFIGS[IMPL_PARAMS.correct.index(p)])


def _sig(sender, kind, value, round_=0, vr=-1, height=0):
    return impl.sign(SEEDS[sender], kind, height, round_, sender, value, vr)


def test_keys_are_inputs_and_signatures_deterministic():
    assert impl.derive_seed(1) == impl.derive_seed(1) != impl.derive_seed(2)
    assert len(impl.public_key(impl.derive_seed(1))) == 32
    a = _sig(0, impl.PREVOTE, "v0")
    assert a == _sig(0, impl.PREVOTE, "v0") and len(a.signature) == 64


@pytest.mark.parametrize(("event", "kind"), model.forged_events(IMPL_PARAMS))
def test_every_fault_kind_rejects_and_leaves_the_node_unchanged(event, kind):
    node = _node()
    post, effects = impl.step(node, event)
    assert post == node
    assert [f.kind for f in effects.faults] == [kind]
    assert effects.broadcasts == () and effects.decisions == ()


def test_every_fault_kind_is_exercised():
    assert {k for _, k in model.forged_events(IMPL_PARAMS)} == set(impl.FaultKind)


def test_a_proposal_signed_with_another_validators_key_is_a_bad_signature():
    forged = impl.sign(SEEDS[1], impl.PROPOSAL, 0, 0, 0, "v0")  # claims sender 0, key of 1
    post, effects = impl.step(_node(2), impl.ProposalReceived(forged))
    assert effects.faults == (impl.Fault(0, impl.FaultKind.BAD_SIGNATURE),)
    assert post == _node(2)


def test_impl_prevotes_a_valid_proposal_and_precommits_on_a_polka():
    node = _node(1)
    proposal = _sig(0, impl.PROPOSAL, "v0")
    node, effects = impl.step(node, impl.ProposalReceived(proposal))
    assert effects.broadcasts == (_sig(1, impl.PREVOTE, "v0"),)
    assert node.step == impl.PREVOTE_STEP
    # power 1 + 2 = 3 of 4: a polka
    prevotes = (_sig(0, impl.PREVOTE, "v0"), _sig(1, impl.PREVOTE, "v0"))
    node, effects = impl.step(node, impl.PolkaReceived(proposal, prevotes))
    assert effects.broadcasts == (_sig(1, impl.PRECOMMIT, "v0"),)
    assert (node.locked_value, node.locked_round, node.valid_round) == ("v0", 0, 0)
    precommits = (_sig(0, impl.PRECOMMIT, "v0"), _sig(1, impl.PRECOMMIT, "v0"))
    node, effects = impl.step(node, impl.CommitReceived(proposal, precommits))
    assert effects.decisions == ((0, "v0"),)
    assert (node.height, node.round, node.locked_round, node.decisions) == (1, 0, -1, (("v0", 0),))


def test_impl_reports_equivocation_as_evidence_and_counts_the_sender_once():
    node = _node(2)
    node, _ = impl.step(node, impl.TimeoutPropose())
    a, b = _sig(0, impl.PREVOTE, "v0"), _sig(0, impl.PREVOTE, "v1")
    # 0 twice (power 1) and 2 (power 1): only 2 of 4 distinct power -> insufficient
    post, effects = impl.step(node, impl.TimeoutPrevote((a, b, _sig(2, impl.PREVOTE, None))))
    assert [f.kind for f in effects.faults] == [impl.FaultKind.INSUFFICIENT_POWER]
    assert post == node
    prevotes = (a, b, _sig(1, impl.PREVOTE, None), _sig(2, impl.PREVOTE, None))
    post, effects = impl.step(node, impl.TimeoutPrevote(prevotes))
    assert effects.evidence == ((a, b),)
    assert post.step == impl.PRECOMMIT_STEP
    assert effects.broadcasts == (_sig(2, impl.PRECOMMIT, None),)


def test_impl_ignores_stale_events_without_a_fault():
    node = _node(1)
    stale = _sig(0, impl.PROPOSAL, "v0")
    node, _ = impl.step(node, impl.TimeoutPropose())  # 1 is not proposer of round 0
    post, effects = impl.step(node, impl.ProposalReceived(stale))  # already in prevote
    assert post == node and effects.faults == () and effects.broadcasts == ()


def test_proposing_out_of_turn_is_local_misuse():
    with pytest.raises(impl.LocalMisuseError):
        impl.step(_node(2), impl.ProposeRequest("v0"))  # proposer of round 0 is 0


def test_impl_model_has_the_spec_models_state_count():
    config = PROTOCOL.config("tiny")
    by_impl = explore(model.build(config, None))
    by_spec = explore(model.build_spec(config, None))
    assert by_impl.outcome == by_spec.outcome == "ok"
    assert by_impl.distinct_states == by_spec.distinct_states == 9983


def test_oracle_config_is_tiny_plus_a_refused_equivocation():
    """The oracle's config adds one forged event (an equivocating round skip): it is refused and
    changes nothing, so the state count is tiny's."""
    config = PROTOCOL.config(model.ORACLE_CONFIG)
    result = explore(model.build(config, None))
    assert result.outcome == "ok"
    assert result.distinct_states == config.expected_distinct_states
    assert config.expected_distinct_states == PROTOCOL.config("tiny").expected_distinct_states
    ((event, kind),) = model.equivocation_events(IMPL_PARAMS)
    first, second = event.messages
    assert (first.sender, first.kind, first.round) == (second.sender, second.kind, second.round)
    node = impl.new_node(model.node_configs(IMPL_PARAMS)[0])
    post, effects = impl.step(node, event)
    assert post == node and [f.kind for f in effects.faults] == [kind]


# -- bounded liveness ----------------------------------------------------------------------------


def test_liveness_holds_in_every_fair_run_with_its_pinned_state_count():
    config = PROTOCOL.config("liveness")
    result = explore(model.build(config, None))
    assert result.outcome == "ok" and result.complete
    assert result.distinct_states == config.expected_distinct_states == model.LIVENESS_STATES


def test_liveness_bound_is_tight():
    """One step fewer than the bound and the longest fair run has not decided yet."""
    config = PROTOCOL.config("liveness")
    within = config.params["within"]
    tighter = attrs.evolve(config, params={**config.params, "within": within - 1})
    result = explore(model.build(tighter, None).restricted_to(["eventually_decides"]))
    assert result.outcome == "violation"
    assert f"after {within - 1} steps" in result.violation.detail


def test_no_round_skip_leaves_the_lagging_process_behind_and_nobody_decides():
    mutant = PROTOCOL.mutant("no-round-skip")
    config = PROTOCOL.config("liveness")
    result = explore(model.build(config, mutant).restricted_to(["eventually_decides"]))
    assert result.outcome == "violation"
    assert "stuck" in result.violation.detail
    last = result.violation.trace[-1].state.system
    assert [p.round for p in last.processes] == [1, 1, 0]
    assert all(p.decisions[0] is None for p in last.processes)
    # the correct protocol, in that very state, skips the lagging process to round 1
    ctx = spec.Context(model.params_of(config))
    ctx.alphabet = ()
    assert spec.RoundSkip(3, 1) in model.fair_actions(ctx, last)


def test_no_round_skip_is_safe():
    """Dropping lines 55-56 costs liveness only: the tiny config's safety properties hold."""
    mutant = PROTOCOL.mutant("no-round-skip")
    result = explore(model.build(PROTOCOL.config("tiny"), mutant))
    assert result.outcome == "ok"


# -- Sized configs (check tendermint --validators N --byzantine F) --------------------------------


def test_sized_configs_refuse_what_the_paper_does_not_tolerate():
    with pytest.raises(model.UnsafeConfigError, match=r"3F < N.*--allow-unsafe"):
        model.sized_config(4, 2)
    for bad in ((0, 0), (4, -1), (3, 3)):
        with pytest.raises(ValueError):
            model.sized_config(*bad)
    unsafe = model.sized_config(4, 2, allow_unsafe=True)
    assert model.params_of(unsafe).byzantine == (0, 1)


def test_no_byzantine_validator_means_no_forged_events():
    """``check tendermint --validators 4 --byzantine 0``: nobody's key can sign a forged message,
    and the run needs none."""
    config = model.sized_config(4, 0)
    assert "none Byzantine" in config.description
    assert model.forged_events(model.params_of(config)) == ()
    result = explore(model.build(config, None), Bounds(max_states=3_000))
    assert result.violation is None and result.distinct_states >= 3_000
