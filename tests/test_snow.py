"""Slush, Snowflake, Snowball: spec, impl, model, mutants, Hypothesis machines and proofs."""

import itertools

import attrs
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from mnemosyne_consensus.impl import slush as impl_slush
from mnemosyne_consensus.impl import snow_common as impl
from mnemosyne_consensus.impl import snowball as impl_snowball
from mnemosyne_consensus.impl import snowflake as impl_snowflake
from mnemosyne_consensus.model_checks import slush as model_slush
from mnemosyne_consensus.model_checks import snow_common as model
from mnemosyne_consensus.model_checks import snowball as model_snowball
from mnemosyne_consensus.model_checks import snowflake as model_snowflake
from mnemosyne_consensus.model_checks.engine import explore
from mnemosyne_consensus.model_checks.registry_types import Mutant
from mnemosyne_consensus.proofs import slush as proofs_slush
from mnemosyne_consensus.proofs import snowball as proofs_snowball
from mnemosyne_consensus.proofs import snowflake as proofs_snowflake
from mnemosyne_consensus.proofs.core import check_goal
from mnemosyne_consensus.spec import slush, snowball, snowflake
from mnemosyne_consensus.spec.snow_common import (
    ParamReason,
    Params,
    initial,
    nothing_observed,
    observe,
    param_problem,
)

MODELS = {"slush": model_slush, "snowflake": model_snowflake, "snowball": model_snowball}
SPECS = {"slush": slush, "snowflake": snowflake, "snowball": snowball}
IMPLS = {"slush": impl_slush, "snowflake": impl_snowflake, "snowball": impl_snowball}
PROOFS = {"slush": proofs_slush, "snowflake": proofs_snowflake, "snowball": proofs_snowball}
MACHINE_SETTINGS = settings(
    max_examples=25, stateful_step_count=30, derandomize=True, deadline=None
)

# Figure 2/3 with one alpha (k = 3, alpha = 2) and beta = 2; dual thresholds where stated
ONE_ALPHA = Params(k=3, alpha_preference=2, alpha_confidence=2, beta=2)
DUAL = Params(k=3, alpha_preference=2, alpha_confidence=3, beta=2)


def run(module, params, colour, polls):
    state = initial(colour, params.colours)
    for responses in polls:
        state = module.round_step(params, state, responses)
    return state


# -- spec: hand-made runs, line by line ---------------------------------------------------------


def test_slush_adopts_each_majority_and_accepts_after_m_rounds():
    params = attrs.evolve(ONE_ALPHA, rounds=3)
    state = initial(0, 2)
    state = slush.round_step(params, state, (1, 1, 0))  # lines 12-14: 2 of 3 for colour 1
    assert (state.col, state.polls, state.decided) == (1, 1, None)
    state = slush.round_step(params, state, (0, 1, 0))  # back to 0
    assert (state.col, state.decided) == (0, None)
    state = slush.round_step(params, state, (0, 1, 1))  # third round: 1, and accept (line 15)
    assert (state.col, state.polls, state.decided) == (1, 3, 1)
    # a decided node runs no more rounds
    assert slush.round_step(params, state, (0, 0, 0)) == state


def test_snowflake_counter_follows_figure_2():
    state = initial(0, 2)
    state = snowflake.round_step(ONE_ALPHA, state, (0, 0, 1))  # line 13: cnt++
    assert (state.col, state.cnt) == (0, 1)
    state = snowflake.round_step(ONE_ALPHA, state, (1, 1, 0))  # line 12: switch, cnt := 1
    assert (state.col, state.cnt, state.decided) == (1, 1, None)
    # with a third colour, a sample can have no majority at all
    state = snowflake.round_step(attrs.evolve(ONE_ALPHA, colours=3), state, (0, 1, 2))
    assert (state.col, state.cnt) == (1, 0)  # line 15: maj = false, cnt := 0
    state = snowflake.round_step(ONE_ALPHA, state, (1, 1, 1))
    state = snowflake.round_step(ONE_ALPHA, state, (1, 0, 1))  # cnt = 2 = beta: accept
    assert (state.cnt, state.decided) == (2, 1)


def test_snowflake_dual_thresholds_move_the_preference_but_reset_the_counter():
    state = run(snowflake, DUAL, 0, [(0, 0, 0)])
    assert state.cnt == 1
    state = snowflake.round_step(DUAL, state, (0, 0, 1))  # alpha_preference, not confidence
    assert (state.col, state.cnt) == (0, 0)
    state = snowflake.round_step(DUAL, state, (1, 1, 0))  # moves the preference, counts 0
    assert (state.col, state.cnt) == (1, 0)
    state = run(snowflake, DUAL, 1, [(1, 1, 1), (1, 1, 1)])
    assert state.decided == 1


def test_snowball_switches_only_on_strictly_higher_confidence():
    state = run(snowball, ONE_ALPHA, 0, [(0, 0, 1), (1, 0, 0)])
    assert state.decided == 0  # two consecutive successes for 0 decide (beta = 2, line 18)
    params = attrs.evolve(ONE_ALPHA, beta=3)
    state = run(snowball, params, 0, [(0, 0, 1), (0, 1, 0)])
    assert (state.col, state.d, state.lastcol, state.cnt) == (0, (2, 0), 0, 2)
    state = snowball.round_step(params, state, (1, 1, 0))  # line 12: d[1] = 1 < d[0]
    assert (state.col, state.d, state.lastcol, state.cnt) == (0, (2, 1), 1, 1)
    state = snowball.round_step(params, state, (1, 1, 1))  # d[1] = 2: a tie keeps col (l. 13)
    assert (state.col, state.d, state.lastcol, state.cnt) == (0, (2, 2), 1, 2)
    state = snowball.round_step(params, state, (0, 1, 1))  # d[1] = 3 > 2: switch; cnt 3
    assert (state.col, state.d, state.decided) == (1, (2, 3), 1)


def test_snowball_decides_lastcol_when_it_differs_from_col():
    # the departure from Figure 3 line 18 (accept(col)): the decision is backed by beta
    # consecutive successes, as avalanchego's Preference() returns the snowflake's choice
    params = attrs.evolve(ONE_ALPHA, colours=3)  # a third colour allows polls with no majority
    split = (0, 1, 2)
    state = run(snowball, params, 0, [(0, 0, 1), split, (0, 0, 1), split])
    assert (state.col, state.d, state.cnt) == (0, (2, 0, 0), 0)
    state = snowball.round_step(params, state, (1, 1, 0))
    assert (state.col, state.d, state.lastcol, state.cnt) == (0, (2, 1, 0), 1, 1)
    state = snowball.round_step(params, state, (1, 1, 2))
    # d[1] = d[0]: the preference stays 0 (line 13), but 1 had beta consecutive successes
    assert (state.col, state.d, state.lastcol, state.decided) == (0, (2, 2, 0), 1, 1)


def test_observed_record_counts_runs_and_majorities():
    seen = nothing_observed(0, 2)
    for responses in [(0, 0, 0), (0, 0, 1), (1, 1, 1)]:
        seen = observe(DUAL, seen, responses)
    assert (seen.polls, seen.majorities, seen.last_majority) == (3, (2, 1), 1)
    assert (seen.run_colour, seen.run_length) == (1, 1)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        (Params(0, 1, 1, 1), ParamReason.K_NOT_POSITIVE),
        (Params(4, 2, 3, 1), ParamReason.ALPHA_PREFERENCE_NOT_ABOVE_HALF_K),
        (Params(5, 4, 3, 1), ParamReason.ALPHA_CONFIDENCE_BELOW_ALPHA_PREFERENCE),
        (Params(5, 3, 6, 1), ParamReason.ALPHA_CONFIDENCE_ABOVE_K),
        (Params(5, 3, 4, 0), ParamReason.BETA_NOT_POSITIVE),
        (Params(5, 3, 4, 1, colours=1), ParamReason.TOO_FEW_COLOURS),
        (Params(5, 3, 4, 1, rounds=0), ParamReason.ROUNDS_NOT_POSITIVE),
    ],
)
def test_parameters_are_refused_with_a_typed_reason(params, reason):
    assert param_problem(params) is reason
    with pytest.raises(impl.ParameterError) as error:
        impl.new(0, 10, params, 0)
    assert error.value.reason is reason


def test_unsafe_parameters_only_on_request_and_sample_must_fit():
    unsafe = Params(k=4, alpha_preference=2, alpha_confidence=2, beta=1)
    node = impl.new(0, 6, unsafe, 0, allow_unsafe=True)
    # with alpha = k/2 a split sample "succeeds" for colour 0 (the loop's first match)
    after, _ = impl_snowflake.step(node, impl.PollResponse(((1, 0), (2, 0), (3, 1), (4, 1))))
    assert after.confidence == 1
    assert param_problem(Params(3, 2, 2, 1), nodes=3) is ParamReason.K_ABOVE_PEERS
    with pytest.raises(impl.ParameterError):
        impl.new(0, 3, Params(3, 2, 2, 1), 0)
    with pytest.raises(ValueError, match="initial colour"):
        impl.new(0, 5, Params(3, 2, 2, 1), 2)


# -- impl: faults leave the state unchanged -----------------------------------------------------

GOOD = ((1, 0), (2, 1), (3, 0))
BAD = [
    ("not a tuple", impl.FaultKind.MALFORMED_RESPONSES, None),
    (((1, 0), (2,), (3, 0)), impl.FaultKind.MALFORMED_RESPONSES, None),
    (((1, 0), (2, 1)), impl.FaultKind.WRONG_SAMPLE_SIZE, None),
    (((1, 0), (2, 1), (3, 0), (4, 0)), impl.FaultKind.WRONG_SAMPLE_SIZE, None),
    (((0, 0), (2, 1), (3, 0)), impl.FaultKind.UNKNOWN_RESPONDER, 0),
    (((1, 0), (9, 1), (3, 0)), impl.FaultKind.UNKNOWN_RESPONDER, 9),
    (((1, 0), ("2", 1), (3, 0)), impl.FaultKind.UNKNOWN_RESPONDER, "2"),
    (((1, 0), (True, 1), (3, 0)), impl.FaultKind.UNKNOWN_RESPONDER, True),
    (((1, 0), (1, 1), (3, 0)), impl.FaultKind.DUPLICATE_RESPONDER, 1),
    (((1, 0), (2, 2), (3, 0)), impl.FaultKind.UNKNOWN_COLOUR, 2),
    (((1, 0), (2, -1), (3, 0)), impl.FaultKind.UNKNOWN_COLOUR, 2),
    (((1, 0), (2, None), (3, 0)), impl.FaultKind.UNKNOWN_COLOUR, 2),
]


@pytest.mark.parametrize("protocol", sorted(IMPLS))
@pytest.mark.parametrize(("responses", "kind", "responder"), BAD)
def test_bad_answers_are_typed_faults_and_change_nothing(protocol, responses, kind, responder):
    node = impl.new(0, 5, DUAL, 0)
    node, _ = IMPLS[protocol].step(node, impl.PollResponse(GOOD))  # some history first
    after, effects = IMPLS[protocol].step(node, impl.PollResponse(responses))
    assert after == node
    assert [(f.kind, f.responder) for f in effects.faults] == [(kind, responder)]
    assert effects.decided is None


def test_every_fault_kind_is_exercised():
    assert {kind for _, kind, _ in BAD} == set(impl.FaultKind)


def test_decided_node_ignores_late_answers_and_reports_the_decision_once():
    node = impl.new(0, 5, DUAL, 0)
    node, first = impl_snowball.step(node, impl.PollResponse(((1, 0), (2, 0), (3, 0))))
    node, second = impl_snowball.step(node, impl.PollResponse(((1, 0), (2, 0), (4, 0))))
    assert (first.decided, second.decided, node.decided) == (None, 0, 0)
    after, effects = impl_snowball.step(node, impl.PollResponse(((1, 1), (2, 1), (3, 1))))
    assert after == node and effects == impl.Effects()


def test_local_misuse_raises():
    node = impl.new(0, 5, DUAL, 0)
    with pytest.raises(TypeError):
        impl_slush.step(node, "poll")
    with pytest.raises(ValueError, match="out of range"):
        impl.new(5, 5, DUAL, 0)


# -- impl refines spec on any answers (Hypothesis, outside the model's bounds) -----------------


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    protocol=st.sampled_from(sorted(SPECS)),
    k=st.integers(1, 5),
    extra=st.integers(0, 2),
    beta=st.integers(1, 4),
    colours=st.integers(2, 3),
    start=st.integers(0, 2),
    polls=st.lists(st.lists(st.integers(0, 2), min_size=5, max_size=5), max_size=12),
)
def test_impl_round_equals_spec_round_step(protocol, k, extra, beta, colours, start, polls):
    ap = k // 2 + 1
    params = Params(k, ap, min(k, ap + extra), beta, colours=colours, rounds=beta)
    node = impl.new(0, k + 1, params, start % colours)
    state = model.abstract_node(node)
    for answers in polls:
        colours_answered = tuple(a % colours for a in answers[:k])
        responses = tuple(zip(range(1, k + 1), colours_answered, strict=True))
        node, effects = IMPLS[protocol].step(node, impl.PollResponse(responses))
        before = state
        state = SPECS[protocol].round_step(params, state, colours_answered)
        assert model.abstract_node(node) == state
        assert effects.decided == (state.decided if before.decided is None else None)


# -- the bounded model --------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", sorted(MODELS))
def test_configs_hold_completely_and_pin_state_counts(protocol):
    entry = MODELS[protocol].PROTOCOL
    for config in entry.configs:
        model_ = entry.build(config, None)
        result = explore(model_)
        assert result.outcome == "ok", result.violation
        assert result.complete and set(result.reached) == {r.name for r in model_.reachables}
        assert result.distinct_states == config.expected_distinct_states


def _mutant_cases():
    for protocol, module in sorted(MODELS.items()):
        for mutant in module.MUTANTS:
            yield pytest.param(protocol, mutant, id=f"{protocol}/{mutant.name}")


@pytest.mark.parametrize(("protocol", "mutant"), list(_mutant_cases()))
def test_every_mutant_is_caught_with_a_trace(protocol, mutant):
    entry = MODELS[protocol].PROTOCOL
    model_ = entry.build(entry.config(mutant.config or "tiny"), mutant)
    result = explore(model_.restricted_to([mutant.breaks]))
    assert result.outcome == "violation"
    assert result.violation.property_name == mutant.breaks
    assert result.violation.trace[0].action is None and len(result.violation.trace) >= 2


@pytest.mark.parametrize("protocol", sorted(MODELS))
def test_every_always_property_has_a_mutant(protocol):
    entry = MODELS[protocol].PROTOCOL
    model_ = entry.build(entry.default_config, None)
    always = {p.name for p in (*model_.invariants, *model_.step_properties)}
    assert always == {m.breaks for m in entry.mutants}
    assert len({m.name for m in entry.mutants}) == len(entry.mutants)


def test_the_no_reset_mutant_counterexample_is_a_failed_poll():
    entry = model_snowflake.PROTOCOL
    mutant = entry.mutant("no-reset-on-failure")
    result = explore(entry.build(entry.config("tiny"), mutant).restricted_to([mutant.breaks]))
    last = result.violation.trace[-1]
    counts = [c for _, c in last.action.responses]
    assert len(set(counts)) == 2  # a split: no majority, yet cnt kept its value
    assert "cnt=1" in result.violation.detail


def test_forged_alphabet_is_one_answer_set_per_fault_kind():
    node = impl.new(0, 4, model_snowflake.params_of(model_snowflake.CONFIGS[0]), 0)
    kinds = []
    for responses in model.forged_responses(0, 4, node.params):
        _, effects = impl_snowflake.step(node, impl.PollResponse(responses))
        kinds.append(effects.faults[0].kind)
    assert sorted(kinds, key=lambda k: k.value) == sorted(impl.FaultKind, key=lambda k: k.value)


def test_slush_is_not_safe_and_the_model_shows_conflicting_decisions():
    entry = model_slush.PROTOCOL
    model_ = entry.build(entry.default_config, None)
    (conflict,) = [r for r in model_.reachables if r.name == "conflicting_decisions"]
    assert "not BFT" in conflict.description


def test_view_names_the_figures_variables():
    entry = model_snowball.PROTOCOL
    state = next(iter(entry.build(entry.default_config, None).initial_states()))
    view = entry.view(state)
    assert set(view) == {"params", "col", "cnt", "d", "lastcol", "decided", "r", "polls"}
    assert view["params"] == model_snowball.params_of(entry.default_config)
    assert view["col"] == {0: 0, 1: 0, 2: 1} and view["d"][0] == (0, 0)


# -- Hypothesis machines at 6 nodes (one Byzantine) ---------------------------------------------


@pytest.mark.parametrize("protocol", sorted(MODELS))
def test_hypothesis_machine(protocol):
    machine = getattr(MODELS[protocol], f"{protocol.capitalize()}Machine")
    run_state_machine_as_test(machine, settings=MACHINE_SETTINGS)


def test_hypothesis_machine_catches_a_mutant():
    mutant = model_snowball.PROTOCOL.mutant("confidence-on-failed-poll")
    machine = model.machine_class(
        model_snowball.SETUP, model_snowball.MACHINE_PARAMS, n=6, byzantine=1, mutant=mutant
    )
    with pytest.raises(AssertionError):
        run_state_machine_as_test(
            machine,
            settings=settings(MACHINE_SETTINGS, max_examples=100, phases=[Phase.generate]),
        )


# -- proofs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", sorted(PROOFS))
def test_proofs_hold_and_each_proof_mutant_breaks_exactly_its_proofs(protocol):
    module = PROOFS[protocol]
    assert module.PROTOCOL == protocol and module.PROOFS
    for proof in module.PROOFS:
        assert check_goal(proof.build(None)).status == "proved", proof.name
    for mutant in module.MUTANTS:
        for proof in module.PROOFS:
            verdict = check_goal(proof.build(mutant.name))
            expected = "counterexample" if proof.name in mutant.breaks else "proved"
            assert verdict.status == expected, (mutant.name, proof.name)
            if expected == "counterexample":
                assert "claim violated" in verdict.counterexample


# -- the spec registries are complete and named as the docstrings say ---------------------------


@pytest.mark.parametrize("protocol", sorted(SPECS))
def test_registries_pair_always_with_sometimes(protocol):
    module = SPECS[protocol]
    assert module.INVARIANTS and module.STEPS and module.REACHABLES
    names = [name for name, _, _ in (*module.INVARIANTS, *module.STEPS)]
    for name in names:
        assert name in (module.__doc__ or ""), name


def test_all_answer_sets_of_a_tiny_sample_keep_the_invariants_on_one_node():
    # every sequence of 4 polls of k = 3 over 2 colours, for each protocol: the invariants hold
    for protocol, module in SPECS.items():
        params = attrs.evolve(DUAL, rounds=3)
        answer_sets = list(itertools.product(range(2), repeat=3))
        for polls in itertools.product(answer_sets, repeat=3):
            state, seen = initial(1, 2), nothing_observed(1, 2)
            for responses in polls:
                decided = state.decided is not None
                state = module.round_step(params, state, responses)
                seen = seen if decided else observe(params, seen, responses)
                for name, _, predicate in module.INVARIANTS:
                    assert predicate(params, state, seen), (protocol, name, polls)


def test_machine_params_are_safe():
    for module in MODELS.values():
        assert param_problem(module.MACHINE_PARAMS, 6) is None
        assert isinstance(module.PROTOCOL.mutants[0], Mutant)
