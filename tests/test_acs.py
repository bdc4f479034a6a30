"""ACS (HoneyBadgerBFT Figure 4): the spec's model, its mutants, the impl and its machine."""

import attrs
import jsonschema
import pytest
from hypothesis import settings

from mnemosyne_consensus.impl import acs as impl
from mnemosyne_consensus.impl import rbc
from mnemosyne_consensus.model_checks import acs as model
from mnemosyne_consensus.model_checks import schemas
from mnemosyne_consensus.model_checks.codec import DecodeError, dumps_line
from mnemosyne_consensus.model_checks.engine import explore, simulate
from mnemosyne_consensus.model_checks.validate import validate_lines
from mnemosyne_consensus.model_checks.vectors import generate_cases, random_runs
from mnemosyne_consensus.proofs import acs as proofs
from mnemosyne_consensus.proofs.core import check_goal
from mnemosyne_consensus.spec import acs as spec


def _explore(config_name, mutant=None, only=None):
    m = model.build(model.PROTOCOL.config(config_name), mutant)
    if only is not None:
        m = m.restricted_to([only])
    return m, explore(m)


@pytest.mark.parametrize("name", ["default", "tiny"])
def test_configs_hold_completely_with_pinned_counts(name):
    config = model.PROTOCOL.config(name)
    m, result = _explore(name)
    assert result.outcome == "ok", result.violation
    assert result.complete and not result.unreached
    assert set(result.reached) == {r.name for r in m.reachables}
    assert result.distinct_states == config.expected_distinct_states


def test_silent_byzantine_proposer_can_neither_be_included_nor_exclude_a_correct_one():
    m = model.build(model.PROTOCOL.config("tiny"), None)
    assert {r.name for r in m.reachables} == {"some_output", "all_output"}


@pytest.mark.parametrize("mutant", model.MUTANTS, ids=lambda m: m.name)
def test_every_mutant_is_caught_with_a_trace(mutant):
    _, result = _explore(mutant.config or "tiny", mutant, mutant.breaks)
    assert result.outcome == "violation"
    assert result.violation.property_name == mutant.breaks
    assert result.violation.trace[0].action is None and len(result.violation.trace) >= 2


def test_every_always_property_has_a_mutant():
    m = model.build(model.PROTOCOL.default_config, None)
    broken = {mu.breaks for mu in model.MUTANTS}
    assert {p.name for p in (*m.invariants, *m.step_properties)} <= broken


def test_the_early_output_mutant_outputs_fewer_than_n_minus_f_proposals():
    mutant = model.PROTOCOL.mutant("output-before-n-f-ones")
    _, result = _explore("default", mutant, "enough_proposals")
    last = result.violation.trace[-1].state
    assert any(o is not None and len(o) < 3 for o in last.output)


def test_per_node_and_n7_configs_simulate_clean():
    for name in ("per-node", "n7"):
        m = model.build(model.PROTOCOL.config(name), None)
        result = simulate(m, runs=60, steps=80, seed=3)
        assert result.outcome in ("ok", "unreached"), result.violation


def test_hand_made_spec_run_outputs_every_correct_proposal_and_the_byzantine_one():
    p = spec.Params(4, 1, ("x",))
    s = spec.initial_state(p)
    r = spec.SPEC_RULES
    for i in p.correct:
        for j in range(4):
            value = "x" if j == 3 else spec.proposal(j)
            s = spec.next_state(r, p, s, spec.RbcDeliver(i, j, value))
    assert s.ba_input == ((1, 1, 1, 1),) * 3
    for j in range(4):
        s = spec.next_state(r, p, s, spec.BaDecide(j, 1))
    expected = ((0, "v0"), (1, "v1"), (2, "v2"), (3, "x"))
    assert s.output == (expected,) * 3
    with pytest.raises(ValueError):
        spec.next_state(r, p, s, spec.BaDecide(0, 0))


def test_spec_line_2_inputs_zero_after_n_minus_f_ones():
    p = spec.Params(4, 1, ("x",))
    r = spec.SPEC_RULES
    s = spec.initial_state(p)
    for j in range(3):
        s = spec.next_state(r, p, s, spec.RbcDeliver(0, j, spec.proposal(j)))
    assert s.ba_input[0] == (1, 1, 1, -1)
    for j in range(2):
        s = spec.next_state(r, p, s, spec.BaDecide(j, 1))
    assert s.ba_input[0][3] == -1
    s = spec.next_state(r, p, s, spec.BaDecide(2, 1))
    assert s.ba_input == ((1, 1, 1, 0), (0, 0, 0, 0), (0, 0, 0, 0))
    # BA_3 may only decide 0 now (validity); node 0 then outputs without RBC_3
    assert spec.BaDecide(3, 1) not in set(spec.enabled_actions(p, s))
    s = spec.next_state(r, p, s, spec.BaDecide(3, 0))
    assert s.output[0] == ((0, "v0"), (1, "v1"), (2, "v2"))
    assert s.output[1] is None  # waits for RBC_0..2


def test_symmetry_canonicalization_keeps_the_invariants():
    p = spec.Params(4, 1, ("x",))
    s = spec.initial_state(p)
    s = spec.next_state(spec.SPEC_RULES, p, s, spec.RbcDeliver(1, 0, "v0"))
    t = spec.permute(p, s, (1, 0, 2))
    assert t.delivered == (2, 0, 0) and t.rbc_value[1] == "v1"
    assert spec.canonicalizer(p)(s) == spec.canonicalizer(p)(t)


# -- the impl -------------------------------------------------------------------------------


def _cluster(n=4, f=1):
    return [impl.new_node(impl.NodeConfig(i, n, f)) for i in range(n)]


def _run_all_rbcs(nodes):
    pending = []
    for i, node in enumerate(nodes):
        nodes[i], eff = impl.step(node, impl.Propose(f"v{i}"))
        pending += [(i, m) for m in eff.broadcasts]
    inputs = {}
    while pending:
        sender, m = pending.pop(0)
        for k in range(len(nodes)):
            if k != sender:
                nodes[k], eff = impl.step(nodes[k], impl.Receive(sender, m))
                assert not eff.faults
                pending += [(k, x) for x in eff.broadcasts]
                for j, b in eff.aba_inputs:
                    inputs.setdefault(k, {})[j] = b
    return inputs


def test_impl_composes_real_rbcs_inputs_one_then_outputs_on_decisions():
    nodes = _cluster()
    inputs = _run_all_rbcs(nodes)
    assert all(inputs[k] == {0: 1, 1: 1, 2: 1, 3: 1} for k in range(4))
    for k in range(4):
        outputs = []
        for j in range(4):
            nodes[k], eff = impl.step(nodes[k], impl.AbaDecided(j, 1 if j != 2 else 0))
            outputs.append(eff.output)
        assert outputs[:3] == [None, None, None]
        assert outputs[3] == ((0, "v0"), (1, "v1"), (3, "v3"))


def test_impl_line_2_inputs_zero_to_the_rest_after_n_minus_f_ones():
    node = impl.new_node(impl.NodeConfig(0, 4, 1))
    for j in range(2):
        node, eff = impl.step(node, impl.AbaDecided(j, 1))
        assert eff.aba_inputs == ()
    node, eff = impl.step(node, impl.AbaDecided(2, 1))
    assert eff.aba_inputs == ((0, 0), (1, 0), (2, 0), (3, 0))


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("not a message", impl.FaultKind.MALFORMED),
        (rbc.Message("echo", "1", "v"), impl.FaultKind.MALFORMED),
        (rbc.Message("echo", 9, "v"), impl.FaultKind.UNKNOWN_INSTANCE),
        (rbc.Message("val", 1, "v"), rbc.FaultKind.NOT_SENDER),
    ],
)
def test_each_fault_kind_leaves_the_node_unchanged(message, kind):
    node = impl.new_node(impl.NodeConfig(0, 4, 1))
    new, eff = impl.step(node, impl.Receive(2, message))
    assert new == node
    assert [f.kind for f in eff.faults] == [kind]


def test_local_misuse_raises():
    node = impl.new_node(impl.NodeConfig(0, 4, 1))
    node, _ = impl.step(node, impl.Propose("v0"))
    with pytest.raises(impl.LocalMisuseError):
        impl.step(node, impl.Propose("again"))
    node, _ = impl.step(node, impl.AbaDecided(1, 1))
    with pytest.raises(impl.LocalMisuseError):
        impl.step(node, impl.AbaDecided(1, 0))


@pytest.mark.parametrize("machine", [model.AcsMachine, model.AcsMachineSeven], ids=["n4", "n7"])
def test_hypothesis_machine(machine):
    class Run(machine):
        pass

    Run.TestCase.settings = settings(
        max_examples=25, stateful_step_count=60, derandomize=True, deadline=None
    )
    Run.TestCase().runTest()


def test_hypothesis_machine_catches_an_impl_that_outputs_before_n_minus_f_ones(monkeypatch):
    def early(node):
        if node.output is not None:
            return node, None
        entries = tuple(
            (j, v)
            for j, (d, v) in enumerate(zip(node.ba_decision, node.delivered, strict=True))
            if d == 1 and v is not None
        )
        if not entries:
            return node, None
        return impl.attrs.evolve(node, output=entries), entries

    monkeypatch.setattr(impl, "_try_output", early)

    class Run(model.AcsMachine):
        pass

    Run.TestCase.settings = settings(
        max_examples=100, stateful_step_count=60, derandomize=True, deadline=None
    )
    with pytest.raises(AssertionError, match=r"enough_proposals|agreement"):
        Run.TestCase().runTest()


# -- z3 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("proof", proofs.PROOFS, ids=lambda p: p.name)
def test_every_proof_is_proved(proof):
    verdict = check_goal(proof.build(None))
    assert verdict.status == "proved", verdict


@pytest.mark.parametrize("mutant", proofs.MUTANTS, ids=lambda m: m.name)
def test_proof_mutants_break_exactly_what_they_claim(mutant):
    for proof in proofs.PROOFS:
        verdict = check_goal(proof.build(mutant.name))
        expected = "counterexample" if proof.name in mutant.breaks else "proved"
        assert verdict.status == expected, (proof.name, verdict)
        if expected == "counterexample":
            assert verdict.counterexample.splitlines()[-1].startswith("claim violated: ")


# -- embedded ABAs: real RBC + real MMR ABA with the CONF round + real threshold coin ---------


@pytest.mark.parametrize(
    ("n", "f", "seed", "byzantine"),
    [(4, 1, 0, "x"), (4, 1, 1, "x"), (4, 1, 2, None), (7, 2, 1, "x")],
)
def test_embedded_abas_with_the_real_coin_agree_and_output(n, f, seed, byzantine):
    result = model.run_embedded(n, f, seed, max_round=6, byzantine_value=byzantine)
    assert result["all_output"] and result["agreement"]
    state_outputs = [o for o in result["outputs"]]
    assert len(state_outputs[0]) >= n - f
    assert sum(j < n - f for j, _ in state_outputs[0]) >= n - 2 * f


def _embedded_node():
    from mnemosyne_consensus.impl import aba
    from mnemosyne_consensus.impl import threshold_coin as coin

    public, secrets = coin.deal_coin(4, 2, b"test")
    config = impl.NodeConfig(0, 4, 1, impl.AbaSetup(3, public, secrets[0], session=2))
    return impl.new_node(config), aba


def test_embedded_aba_messages_are_routed_by_session_and_faults_change_nothing():
    node, aba = _embedded_node()
    assert [a.config.instance for a in node.abas] == [8, 9, 10, 11]
    for message, kind in [
        (aba.Message("bval", 3, 0, 1), impl.FaultKind.UNKNOWN_INSTANCE),
        (aba.Message("bval", "9", 0, 1), impl.FaultKind.MALFORMED),
        (aba.Message("bval", 9, 0, 7), aba.FaultKind.MALFORMED),
        (aba.Message("bval", 9, 99, 1), aba.FaultKind.WRONG_ROUND),
    ]:
        new, eff = impl.step(node, impl.Receive(1, message))
        assert new == node and [f.kind for f in eff.faults] == [kind]
    new, eff = impl.step(node, impl.Receive(1, aba.Message("bval", 9, 0, 1)))
    assert not eff.faults and new.abas[1] != node.abas[1]
    with pytest.raises(impl.LocalMisuseError):
        impl.step(node, impl.AbaDecided(0, 1))


def test_embedded_rbc_delivery_starts_the_ba_with_input_one():
    node, aba = _embedded_node()
    node, eff = impl.step(node, impl.Propose("v0"))
    for sender in (1, 2):
        node, eff = impl.step(node, impl.Receive(sender, rbc.Message("ready", 0, "v0")))
    assert node.delivered[0] == "v0" and node.ba_input[0] == 1
    assert aba.Message("bval", 8, 0, 1) in eff.broadcasts


# -- oracle: codec, vectors, schemas, traces --------------------------------------------------


@pytest.fixture(scope="module")
def cases():
    binding = attrs.evolve(model.ORACLE, configs=("impl-decide",))
    return generate_cases(model.PROTOCOL, binding, max_states=4000)


def test_vectors_have_positive_and_negative_cases_of_every_handler(cases):
    outcomes = {c.meta["expected"] for c in cases}
    assert "accept" in outcomes
    assert {"fault:equivocation", "fault:unknown_instance", "fault:malformed"} <= outcomes
    assert {c.handler for c in cases} == {"receive", "aba_decided"}


def test_our_impl_passes_every_vector_and_documents_match_the_schemas(cases):
    codec = model.CODEC
    validators = {
        k: jsonschema.Draft202012Validator(v) for k, v in schemas.protocol_schemas(codec).items()
    }
    for case in cases:
        node, event = codec.decode_state(case.pre), codec.decode_event(case.event)
        post, effects = codec.step(node, event)
        assert codec.encode_state(post) == case.post
        assert codec.encode_effects(effects) == case.effects
        if case.meta["negative"]:
            assert case.post == case.pre
        validators["state"].validate(case.pre)
        validators["event"].validate(case.event)
        validators["effects"].validate(case.effects)


def _trace():
    (lines,) = random_runs(model.PROTOCOL, model.ORACLE, runs=1, steps=40, seed=4)
    return [dumps_line(line) for line in lines]


def test_generated_trace_validates_and_reaches_an_output():
    lines = _trace()
    result = validate_lines("acs", lines, model.ORACLE.step_checker)
    assert result.failure is None and result.steps == 40
    assert any('"output":[[' in line for line in lines[1:])


def test_a_tampered_trace_is_refused_with_the_rule_it_breaks():
    import json

    lines = _trace()
    for k in range(1, len(lines)):
        step = json.loads(lines[k])
        if step["event"]["type"] == "aba_decided":
            step["state"]["ba_input"] = [1] * 4  # inputs 1 where Figure 4 gives 0 or none
            lines[k] = dumps_line(step)
            break
    result = validate_lines("acs", lines, model.ORACLE.step_checker)
    assert result.failure is not None and result.failure.property_name == "refinement"
    assert result.failure.line == k + 1


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.update(me=7), "$.me"),
        (lambda d: d.update(f=2), "$.f"),
        (lambda d: d["rbcs"][1].update(echoes=[[9, "v"]]), "$.rbcs[1].echoes[0][0]"),
        (lambda d: d.update(ba_input=[0, 1, 2, None]), "$.ba_input[2]"),
        (lambda d: d.update(delivered=[None]), "$.delivered"),
        (lambda d: d.update(extra=1), "$"),
    ],
)
def test_state_decoding_names_the_bad_field(mutate, path):
    doc = model.CODEC.encode_state(impl.new_node(impl.NodeConfig(0, 4, 1)))
    mutate(doc)
    with pytest.raises(DecodeError) as error:
        model.CODEC.decode_state(doc)
    assert error.value.path == path


def test_impl_config_explores_a_bounded_prefix_cleanly():
    config = model.PROTOCOL.config("impl-decide")
    m = model.build(config, None)
    result = explore(m, attrs.evolve(config.bounds, max_states=3000))
    assert result.outcome == "ok" and result.bound_hit == "states"
