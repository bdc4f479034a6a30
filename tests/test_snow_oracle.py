"""The Snow family's oracle: canonical codec, vectors with negative cases, trace validation."""

import json

import attrs
import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnemosyne_consensus.impl import snow_common as impl
from mnemosyne_consensus.model_checks import schemas
from mnemosyne_consensus.model_checks import slush as model_slush
from mnemosyne_consensus.model_checks import snow_common as model
from mnemosyne_consensus.model_checks import snowball as model_snowball
from mnemosyne_consensus.model_checks import snowflake as model_snowflake
from mnemosyne_consensus.model_checks.codec import DecodeError, dumps_line
from mnemosyne_consensus.model_checks.engine import explore
from mnemosyne_consensus.model_checks.render import itf_trace
from mnemosyne_consensus.model_checks.validate import validate_itf, validate_lines
from mnemosyne_consensus.model_checks.vectors import generate_cases, random_runs
from mnemosyne_consensus.spec.properties import Invariant
from mnemosyne_consensus.spec.snow_common import Params

MODELS = {"slush": model_slush, "snowflake": model_snowflake, "snowball": model_snowball}
PARAMS = Params(k=3, alpha_preference=2, alpha_confidence=3, beta=2)


def _tiny_binding(protocol):
    return attrs.evolve(MODELS[protocol].ORACLE, configs=("tiny",))


@pytest.fixture(scope="module", params=sorted(MODELS))
def cases(request):
    protocol = request.param
    module = MODELS[protocol]
    return protocol, generate_cases(module.PROTOCOL, _tiny_binding(protocol))


def test_vectors_have_accepts_and_every_fault_kind(cases):
    _, found = cases
    outcomes = {case.meta["expected"] for case in found}
    assert "accept" in outcomes
    assert {f"fault:{kind.value}" for kind in impl.FaultKind} <= outcomes
    assert {case.handler for case in found} == {"receive"}
    assert any(case.effects["decided"] is not None for case in found)


def test_our_impl_passes_every_vector_and_schemas_hold(cases):
    protocol, found = cases
    codec = MODELS[protocol].CODEC
    validators = {
        name.split("/")[-1]: jsonschema.Draft202012Validator(schema)
        for name, schema in schemas.protocol_schemas(codec).items()
    }
    for case in found:
        node, event = codec.decode_state(case.pre), codec.decode_event(case.event)
        post, effects = codec.step(node, event)
        assert codec.encode_state(post) == case.post
        assert codec.encode_effects(effects) == case.effects
        if case.meta["negative"]:
            assert case.post == case.pre
        for document in ("pre", "post"):
            validators["state"].validate(getattr(case, document))
        validators["event"].validate(case.event)
        validators["effects"].validate(case.effects)


def test_the_step_checker_accepts_every_vector_and_rejects_a_wrong_post(cases):
    protocol, found = cases
    binding = MODELS[protocol].ORACLE
    codec, checker = binding.codec, binding.step_checker
    for case in found:
        pre = codec.decode_state(case.pre)
        nodes = tuple(
            pre if i == pre.node else impl.new(i, pre.n, pre.params, 0, allow_unsafe=True)
            for i in range(pre.n)
        )
        event, post = codec.decode_event(case.event), codec.decode_state(case.post)
        assert checker.check(nodes, pre.node, event, post, case.effects) is None, case.name
        wrong = attrs.evolve(post, polls=post.polls + 1)
        problem = checker.check(nodes, pre.node, event, wrong, case.effects)
        expected = "faults_change_nothing" if case.meta["negative"] else "refinement"
        assert problem is not None and problem[0] == expected, case.name


@pytest.mark.parametrize("protocol", sorted(MODELS))
def test_generated_traces_validate_and_a_tampered_one_fails_at_its_line(protocol):
    module = MODELS[protocol]
    (lines,) = random_runs(module.PROTOCOL, module.ORACLE, runs=1, steps=30, seed=3)
    text = [dumps_line(line) for line in lines]
    result = validate_lines(protocol, text, module.ORACLE.step_checker)
    assert result.failure is None and result.steps == 30
    # tamper the first accepted step: the node reports one more success than it had
    index = next(i for i, line in enumerate(lines[1:], start=1) if not line["effects"]["faults"])
    tampered = json.loads(text[index])
    tampered["state"]["confidence"] += 1
    text[index] = dumps_line(tampered)
    failure = validate_lines(protocol, text, module.ORACLE.step_checker).failure
    assert failure is not None and failure.line == index + 1
    assert failure.property_name == "refinement"


def _trace(node_state, steps):
    header = {
        "format": "mnemosyne-oracle/1",
        "protocol": "snowflake",
        "nodes": 1,
        "initial": [node_state],
    }
    return [dumps_line(header), *(dumps_line(step) for step in steps)]


def test_a_refused_answer_set_must_leave_the_state_and_name_its_fault():
    codec = model_snowflake.CODEC
    start = codec.encode_state(impl.new(0, 5, PARAMS, 0))
    duplicate = {"type": "receive", "responses": [[1, 0], [1, 0], [2, 0]]}
    fault = {"responder": 1, "kind": "duplicate_responder"}
    good = {
        "node": 0,
        "event": duplicate,
        "state": start,
        "effects": {"decided": None, "faults": [fault]},
    }
    checker = model_snowflake.ORACLE.step_checker
    assert validate_lines("snowflake", _trace(start, [good]), checker).failure is None
    wrong_kind = json.loads(json.dumps(good))
    wrong_kind["effects"]["faults"][0]["kind"] = "unknown_colour"
    failure = validate_lines("snowflake", _trace(start, [wrong_kind]), checker).failure
    assert failure.property_name == "typed_fault"
    moved = json.loads(json.dumps(good))
    moved["state"]["confidence"] = 1
    failure = validate_lines("snowflake", _trace(start, [moved]), checker).failure
    assert failure.property_name == "faults_change_nothing"


def test_a_missed_decision_effect_is_reported():
    codec = model_snowflake.CODEC
    node = impl.new(0, 5, PARAMS, 0)
    once, _ = model_snowflake.SETUP.step(node, impl.PollResponse(((1, 0), (2, 0), (3, 0))))
    event = {"type": "receive", "responses": [[1, 0], [2, 0], [4, 0]]}
    twice, effects = model_snowflake.SETUP.step(once, codec.decode_event(event))
    assert effects.decided == 0
    step = {
        "node": 0,
        "event": event,
        "state": codec.encode_state(twice),
        "effects": {"decided": None, "faults": []},
    }
    failure = validate_lines(
        "snowflake", _trace(codec.encode_state(once), [step]), model_snowflake.ORACLE.step_checker
    ).failure
    assert failure.property_name == "refinement" and "decided" in failure.expected


# -- ITF traces of the model --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "mutant", "invariant"),
    [
        ("snowflake", "no-reset-on-failure", "snowflake_counter_is_consecutive_successes"),
        ("snowball", "switch-on-last-success", "snowball_preference_has_highest_confidence"),
        ("slush", "accept-early", "slush_accepts_after_m_rounds"),
    ],
)
def test_itf_counterexample_of_a_mutant_fails_validation_at_its_last_step(
    protocol, mutant, invariant
):
    module = MODELS[protocol]
    entry = module.PROTOCOL
    broken = entry.mutant(mutant)
    result = explore(
        entry.build(entry.config(broken.config or "tiny"), broken).restricted_to([invariant])
    )
    document = json.loads(json.dumps(itf_trace(result.violation, entry.view, source="test")))
    outcome = validate_itf(protocol, document, module.ORACLE)
    assert outcome.failure is not None and outcome.failure.property_name == "refinement"
    assert outcome.failure.line == len(result.violation.trace) - 1


@pytest.mark.parametrize("protocol", sorted(MODELS))
def test_itf_trace_of_a_correct_run_to_a_decision_validates(protocol):
    module = MODELS[protocol]
    entry = module.PROTOCOL
    model_ = entry.build(entry.default_config, None)
    (decides,) = [r for r in model_.reachables if r.name == "some_node_decides"]
    stop = Invariant("undecided", "no decision yet", lambda s: not decides.holds(s))
    result = explore(attrs.evolve(model_, invariants=(stop,), step_properties=(), reachables=()))
    document = json.loads(json.dumps(itf_trace(result.violation, entry.view, source="test")))
    outcome = validate_itf(protocol, document, module.ORACLE)
    assert outcome.failure is None and outcome.steps == len(result.violation.trace) - 1 >= 1


# -- the codec ----------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", sorted(MODELS))
def test_states_of_the_tiny_model_round_trip(protocol):
    module = MODELS[protocol]
    codec = module.CODEC
    cases = generate_cases(module.PROTOCOL, _tiny_binding(protocol))
    for case in cases[:40]:
        node = codec.decode_state(case.pre)
        assert codec.encode_state(node) == case.pre
        assert codec.decode_event(codec.encode_event(codec.decode_event(case.event))) == (
            codec.decode_event(case.event)
        )


def _state_doc():
    return model_snowball.CODEC.encode_state(impl.new(1, 5, PARAMS, 1))


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d.pop("polls"), "$"),
        (lambda d: d.update(extra=1), "$"),
        (lambda d: d.update(node=5), "$.node"),
        (lambda d: d.update(nodes="5"), "$.nodes"),
        (lambda d: d["params"].update(alpha_preference=1), "$.params"),
        (lambda d: d["params"].update(beta=True), "$.params.beta"),
        (lambda d: d.update(preference=2), "$.preference"),
        (lambda d: d.update(decided=-1), "$.decided"),
        (lambda d: d.update(strength=[0]), "$.strength"),
        (lambda d: d.update(strength=[0, "1"]), "$.strength[1]"),
        (lambda d: d.update(confidence=-1), "$.confidence"),
    ],
)
def test_state_decoding_names_the_bad_field(change, path):
    doc = _state_doc()
    change(doc)
    with pytest.raises(DecodeError) as error:
        model_snowball.CODEC.decode_state(doc)
    assert error.value.path == path


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ([], "$"),
        ({"type": "query", "responses": []}, "$.type"),
        ({"type": "receive"}, "$"),
        ({"type": "receive", "responses": [], "x": 1}, "$"),
    ],
)
def test_event_decoding_names_the_bad_field(doc, path):
    with pytest.raises(DecodeError) as error:
        model_slush.CODEC.decode_event(doc)
    assert error.value.path == path


answers = st.one_of(
    st.lists(
        st.tuples(
            st.one_of(st.integers(-1, 6), st.booleans(), st.text(max_size=1)),
            st.one_of(st.integers(-1, 3), st.none(), st.booleans()),
        ),
        max_size=5,
    ).map(tuple),
    st.lists(st.tuples(st.integers(0, 5)), max_size=3).map(tuple),
    st.integers(),
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(responses=answers)
def test_refusal_agrees_with_the_impl(responses):
    node = impl.new(0, 5, PARAMS, 0)
    problem = impl.validate(node, responses)
    refused = model.refusal(node, responses)
    assert (problem is None) == (refused is None)
    if problem is not None:
        assert (problem[0], problem[1]) == refused
