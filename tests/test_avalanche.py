"""Avalanche DAG through every layer: spec, impl faults, bounded model, mutants, Hypothesis,
proofs, the oracle codec and vectors, and the benchmark's two engines."""

import json

import jsonschema
import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from mnemosyne_consensus.impl import avalanche as impl
from mnemosyne_consensus.model_checks import avalanche as model
from mnemosyne_consensus.model_checks import schemas
from mnemosyne_consensus.model_checks.codec import DecodeError
from mnemosyne_consensus.model_checks.engine import Model, explore
from mnemosyne_consensus.model_checks.machines import PropertyViolation
from mnemosyne_consensus.model_checks.validate import validate_lines
from mnemosyne_consensus.model_checks.vectors import (
    generate_cases,
    iter_case_folders,
    read_case,
    write_vectors,
)
from mnemosyne_consensus.proofs import avalanche as proofs
from mnemosyne_consensus.proofs.core import check_goal
from mnemosyne_consensus.spec import avalanche as spec

PROTOCOL = model.PROTOCOL
PARAMS = spec.Params(k=2, alpha=2, beta1=1, beta2=2)
YES, NO = (True, True), (True, False)

A = spec.Transaction(0, 0, ())  # spends nullifier 0
B = spec.Transaction(1, 0, ())  # double-spends nullifier 0
C = spec.Transaction(2, 1, (1,))  # builds on B
D = spec.Transaction(3, 2, (0,))  # builds on A


def run(view, *actions):
    for action in actions:
        assert spec.enabled(view, PARAMS, action), action
        view = spec.next_state(view, PARAMS, action)
    return view


# -- spec: hand-made runs of Fig. 4 and Fig. 5 --------------------------------------------------


def test_a_successful_query_credits_every_ancestor_and_moves_the_preference():
    view = run(spec.EMPTY, spec.ReceiveTx(A), spec.ReceiveTx(B), spec.ReceiveTx(C))
    (double_spend, _child) = view.conflicts
    assert (double_spend.members, double_spend.pref, double_spend.last, double_spend.cnt) == (
        (0, 1),
        0,
        0,
        0,
    )
    assert spec.is_preferred(view, 2) and not spec.is_strongly_preferred(view, 2)
    view = run(view, spec.Query(2, YES))
    assert view.chits == (2,) and view.queried == (2,)
    assert spec.confidence(view, 1) == 1 and spec.confidence(view, 2) == 1
    assert spec.confidence(view, 0) == 0
    double_spend = spec.conflict_set(view, 0)
    # d(B) = 1 > d(A) = 0: B becomes the preference; its run of successes starts at 1
    assert (double_spend.pref, double_spend.last, double_spend.cnt) == (1, 1, 1)
    assert spec.is_strongly_preferred(view, 2)
    assert spec.preference_switched(view)


def test_a_failed_query_resets_the_counters_of_the_ancestry_only():
    view = run(
        spec.EMPTY,
        spec.ReceiveTx(A),
        spec.ReceiveTx(B),
        spec.ReceiveTx(C),
        spec.ReceiveTx(D),
        spec.Query(3, YES),
    )
    assert spec.conflict_set(view, 0).cnt == 1 and spec.conflict_set(view, 2).cnt == 1
    view = run(view, spec.Query(2, NO))  # 1 of 2 yes < alpha
    assert 2 not in view.chits and 2 in view.queried
    assert spec.conflict_set(view, 0).cnt == 0  # B's set: in the ancestry of 2
    assert spec.conflict_set(view, 2).cnt == 1  # D's set: untouched


def test_early_commitment_then_the_counter():
    # A alone: one success gives d(A) = 1 >= beta1 with |P_A| = 1 -- safe early commitment
    view = run(spec.EMPTY, spec.ReceiveTx(A), spec.Query(0, YES))
    assert spec.early_commitment(view, PARAMS, 0) and not spec.consecutive_counter(view, PARAMS, 0)
    view, accepted = spec.decide(view, PARAMS)
    assert accepted == (0,) and spec.accepted_by_early_commitment(view, PARAMS)
    # B arrives: the set is decided, and B stays out however its counter climbs
    view = run(view, spec.ReceiveTx(B), spec.ReceiveTx(C), spec.Query(1, YES), spec.Query(2, YES))
    assert spec.consecutive_counter(view, PARAMS, 1)
    assert not spec.accept_enabled(view, PARAMS, spec.Accept(1))
    # C: its parent B is not accepted and its own run of successes is 1 < beta2
    assert spec.decide(view, PARAMS) == (view, ())
    assert spec.no_conflicting_acceptance(view)


def test_the_counter_accepts_a_transaction_that_has_a_conflict():
    view = run(
        spec.EMPTY,
        spec.ReceiveTx(A),
        spec.ReceiveTx(B),
        spec.ReceiveTx(D),
        spec.Query(0, YES),
        spec.Query(3, YES),
    )
    assert not spec.early_commitment(view, PARAMS, 0)  # |P_A| = 2
    view, accepted = spec.decide(view, PARAMS)
    assert accepted == (0, 3) and spec.accepted_by_counter(view)


def test_receive_needs_known_parents_and_a_conflict_free_ancestry():
    assert not spec.receive_enabled(spec.EMPTY, spec.ReceiveTx(C))
    view = run(spec.EMPTY, spec.ReceiveTx(B), spec.ReceiveTx(C))
    spends_b_again = spec.Transaction(9, 0, (2,))
    assert not spec.receive_enabled(view, spec.ReceiveTx(spends_b_again))
    assert not spec.query_enabled(view, PARAMS, spec.Query(1, (True,)))  # k answers needed


def test_the_spec_alone_explores_with_its_invariants_and_reachables():
    universe = tuple(spec.Transaction(i, n, ps) for i, n, ps in model.TINY_UNIVERSE)
    spec_model = Model(
        name="avalanche-spec",
        initial_states=lambda: [spec.EMPTY],
        actions=lambda view: spec.actions(view, PARAMS, universe),
        next_state=lambda view, action: spec.next_state(view, PARAMS, action),
        invariants=spec.invariants(lambda view: view),
        reachables=spec.reachables(lambda view: view, PARAMS),
    )
    result = explore(spec_model)
    assert result.outcome == "ok" and result.complete, result.violation
    # more states than the impl model: there, a query and its acceptances are one step
    assert result.distinct_states > PROTOCOL.config("tiny").expected_distinct_states


# -- impl: every fault kind, with the state unchanged --------------------------------------------


def _node():
    node = impl.new(0, 4, impl.Params(k=2, alpha=2, beta1=1, beta2=2))
    for tx in (impl.TxMessage(0, 0, ()), impl.TxMessage(1, 0, ()), impl.TxMessage(2, 1, (1,))):
        node, effects = impl.step(node, impl.ReceiveTx(tx))
        assert not effects.faults
    node, effects = impl.step(node, impl.PollResult(0, ((1, True), (2, True))))
    assert not effects.faults
    return node


FAULTS = [
    (impl.ReceiveTx(impl.TxMessage("x", 0, ())), impl.FaultKind.MALFORMED_TRANSACTION),
    (impl.ReceiveTx(impl.TxMessage(5, 3, (2, 1))), impl.FaultKind.MALFORMED_TRANSACTION),
    (impl.ReceiveTx(impl.TxMessage(5, None, ())), impl.FaultKind.SPENDS_NOTHING),
    (impl.ReceiveTx(impl.TxMessage(0, 7, ())), impl.FaultKind.ID_REUSED),
    (impl.ReceiveTx(impl.TxMessage(5, 3, (4,))), impl.FaultKind.UNKNOWN_PARENT),
    (impl.ReceiveTx(impl.TxMessage(5, 0, (2,))), impl.FaultKind.CONFLICTING_ANCESTRY),
    (impl.PeerQuery(0, impl.TxMessage(0, 0, ())), impl.FaultKind.UNKNOWN_SENDER),
    (impl.PeerQuery(9, impl.TxMessage(0, 0, ())), impl.FaultKind.UNKNOWN_SENDER),
    (impl.PollResult(1, ((1, True),)), impl.FaultKind.MALFORMED_RESPONSE),
    (impl.PollResult(1, ((1, True), (2, 1))), impl.FaultKind.MALFORMED_RESPONSE),
    (impl.PollResult(1, ((0, True), (2, True))), impl.FaultKind.UNKNOWN_RESPONDER),
    (impl.PollResult(1, ((4, True), (2, True))), impl.FaultKind.UNKNOWN_RESPONDER),
    (impl.PollResult(1, ((2, True), (2, True))), impl.FaultKind.DUPLICATE_RESPONDER),
    (impl.PollResult(7, ((1, True), (2, True))), impl.FaultKind.UNKNOWN_TRANSACTION),
    (impl.PollResult(0, ((1, True), (2, True))), impl.FaultKind.ALREADY_QUERIED),
]


@pytest.mark.parametrize(("event", "kind"), FAULTS, ids=lambda x: getattr(x, "value", None))
def test_each_fault_kind_leaves_the_state_unchanged(event, kind):
    node = _node()
    after, effects = impl.step(node, event)
    assert [f.kind for f in effects.faults] == [kind]
    assert after == node
    assert not effects.responses and not effects.accepted
    # the oracle's refusal, written against the spec, names the same fault
    assert model.refusal(node, event)[1] is kind


def test_every_fault_kind_is_tested():
    assert {kind for _, kind in FAULTS} == set(impl.FaultKind)


def test_a_peer_query_receives_the_transaction_and_answers_strong_preference():
    node = _node()
    node, effects = impl.step(node, impl.PeerQuery(3, impl.TxMessage(2, 1, (1,))))
    # 2 builds on 1, which lost to 0 (d(0) = 1): preferred, not strongly preferred
    assert effects.responses == ((3, 2, False),)
    node, effects = impl.step(node, impl.PeerQuery(3, impl.TxMessage(4, 5, (0,))))
    assert effects.responses == ((3, 4, True),) and impl.index_of(node, 4) is not None
    assert impl.step(node, impl.ReceiveTx(impl.TxMessage(4, 5, (0,))))[0] == node  # a repeat


def test_a_poll_reports_its_acceptances_in_order():
    node = impl.new(0, 3, impl.Params(k=2, alpha=2, beta1=1, beta2=2))
    node, _ = impl.step(node, impl.ReceiveTx(impl.TxMessage(0, 0, ())))
    node, _ = impl.step(node, impl.ReceiveTx(impl.TxMessage(1, 1, (0,))))
    node, effects = impl.step(node, impl.PollResult(1, ((1, True), (2, True))))
    assert effects.accepted == (0, 1) and node.accepted == (0, 1)
    assert node.confidence == (1, 1)


# -- the bounded model ---------------------------------------------------------------------------


@pytest.mark.parametrize("config", [c.name for c in PROTOCOL.configs])
def test_configs_hold_exhaustively_with_their_pinned_counts(config):
    cfg = PROTOCOL.config(config)
    result = explore(PROTOCOL.build(cfg, None))
    assert result.outcome == "ok", result.violation
    assert result.complete and not result.unreached
    assert result.distinct_states == cfg.expected_distinct_states


@pytest.mark.parametrize("mutant", PROTOCOL.mutants, ids=lambda m: m.name)
def test_every_mutant_is_caught_with_a_trace(mutant):
    config = PROTOCOL.config(mutant.config or "tiny")
    result = explore(PROTOCOL.build(config, mutant).restricted_to([mutant.breaks]))
    assert result.outcome == "violation"
    assert result.violation.property_name == mutant.breaks
    assert result.violation.trace[0].action is None and len(result.violation.trace) >= 2


def test_every_always_property_has_a_mutant():
    built = PROTOCOL.build(PROTOCOL.default_config, None)
    always = {p.name for p in (*built.invariants, *built.step_properties)}
    assert always == {m.breaks for m in PROTOCOL.mutants}


def test_the_required_conflict_mutant_has_the_shortest_double_acceptance():
    mutant = PROTOCOL.mutant("accept-despite-conflict")
    model_ = PROTOCOL.build(PROTOCOL.config("tiny"), mutant)
    result = explore(model_.restricted_to(["no_conflicting_acceptance"]))
    last = result.violation.trace[-1].state
    assert {0, 1} <= set(last.accepted)  # both spenders of nullifier 0
    texts = [step.action_text for step in result.violation.trace[1:]]
    assert texts[-1] == "query tx 2: 2 of 2 yes"


# -- Hypothesis: 6 nodes, one Byzantine responder ------------------------------------------------

MACHINE_SETTINGS = settings(
    max_examples=25, stateful_step_count=30, derandomize=True, deadline=None
)


def test_hypothesis_machine_holds():
    run_state_machine_as_test(model.AvalancheMachine, settings=MACHINE_SETTINGS)


def test_hypothesis_machine_reaches_acceptances_and_double_spends():
    seen = {"accepted": 0, "double_spends": 0}

    class Counting(model.AvalancheMachine):
        def teardown(self):
            honest = self.states[: self.byzantine]
            seen["accepted"] += sum(len(s.accepted) for s in honest)
            seen["double_spends"] += sum(
                1 for s in honest for r in s.conflicts if len(r.members) > 1
            )

    run_state_machine_as_test(Counting, settings=MACHINE_SETTINGS)
    assert seen["accepted"] > 0 and seen["double_spends"] > 0


def test_hypothesis_machine_catches_a_mutant():
    class Mutated(model.AvalancheMachine):
        mutant = PROTOCOL.mutant("counter-not-reset")

    # no shrinking: finding the bug is the point, and shrinking 6-node runs takes a minute
    fast = settings(MACHINE_SETTINGS, phases=[Phase.explicit, Phase.reuse, Phase.generate])
    with pytest.raises(PropertyViolation, match=r"counter_rule|refinement"):
        run_state_machine_as_test(Mutated, settings=fast)


# -- proofs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("proof", proofs.PROOFS, ids=lambda p: p.name)
def test_every_proof_is_proved_and_exactly_its_mutants_break_it(proof):
    assert check_goal(proof.build(None)).status == "proved"
    for mutant in proofs.MUTANTS:
        verdict = check_goal(proof.build(mutant.name))
        expected = "counterexample" if proof.name in mutant.breaks else "proved"
        assert verdict.status == expected, (proof.name, mutant.name)


def test_the_conflict_mutant_counterexample_shows_two_accepted_spenders():
    goal = proofs.accept_preserves_exclusivity(proofs.ACCEPT_DESPITE_CONFLICT)
    verdict = check_goal(goal)
    assert verdict.status == "counterexample"
    assert (
        "accepted = {t1}" in verdict.counterexample and "spends[t0] = n0" in verdict.counterexample
    )


# -- the oracle: codec, vectors, schemas, traces -------------------------------------------------

CODEC = model.CODEC


@pytest.fixture(scope="module")
def cases():
    return generate_cases(PROTOCOL, model.ORACLE)


def test_states_events_and_effects_round_trip(cases):
    for case in cases:
        node = CODEC.decode_state(case.pre)
        assert CODEC.encode_state(node) == case.pre
        event = CODEC.decode_event(case.event)
        assert CODEC.encode_event(event) == case.event
        post, effects = CODEC.step(node, event)
        assert CODEC.encode_state(post) == case.post
        assert CODEC.encode_effects(effects) == case.effects


def test_vectors_cover_every_handler_with_positive_and_negative_cases(cases):
    outcomes = {(c.handler, c.meta["negative"]) for c in cases}
    for handler in ("receive", "query", "poll"):
        assert (handler, False) in outcomes and (handler, True) in outcomes
    kinds = {c.meta["expected"] for c in cases if c.meta["negative"]}
    assert len(kinds) >= 10


def test_the_step_checker_accepts_every_vector_and_rejects_a_wrong_post(cases):
    checker = model.ORACLE.step_checker
    peers = (model.initial_node(1, 3), model.initial_node(2, 3))
    for case in cases:
        node, event = CODEC.decode_state(case.pre), CODEC.decode_event(case.event)
        post = CODEC.decode_state(case.post)
        assert checker.check((node, *peers), 0, event, post, case.effects) is None
    polls = [c for c in cases if c.handler == "poll" and not c.meta["negative"]]
    case = next(c for c in polls if c.post["chits"])
    tampered = json.loads(json.dumps(case.post))
    tampered["conflicts"][0]["cnt"] += 5
    node, event = CODEC.decode_state(case.pre), CODEC.decode_event(case.event)
    problem = checker.check((node, *peers), 0, event, CODEC.decode_state(tampered), None)
    assert problem is not None and problem[0] == "refinement"
    refused = next(c for c in cases if c.meta["negative"])
    node, event = CODEC.decode_state(refused.pre), CODEC.decode_event(refused.event)
    problem = checker.check((node, *peers), 0, event, node, {**refused.effects, "faults": []})
    assert problem is not None and problem[0] == "typed_fault"


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"node": 0}, "$"),
        ("nope", "$"),
    ],
)
def test_state_decoding_names_the_bad_field(doc, path):
    with pytest.raises(DecodeError) as error:
        CODEC.decode_state(doc)
    assert error.value.path == path


def test_state_decoding_names_nested_fields():
    good = CODEC.encode_state(_node())
    for mutate, path in (
        (lambda d: d["known"][1].update(id=-1), "$.known[1].id"),
        (lambda d: d["conflicts"][0].update(cnt="1"), "$.conflicts[0].cnt"),
        (lambda d: d["params"].update(k=9), "$.params"),
        (lambda d: d.update(confidence=[0]), "$.confidence"),
        (lambda d: d.update(node=4), "$.node"),
    ):
        doc = json.loads(json.dumps(good))
        mutate(doc)
        with pytest.raises(DecodeError) as error:
            CODEC.decode_state(doc)
        assert error.value.path == path


def test_event_decoding_is_lenient_about_payloads_and_strict_about_shape():
    event = CODEC.decode_event({"type": "poll", "tx": 0, "answers": [[1, "yes"], [2, True]]})
    assert event == impl.PollResult(0, ((1, "yes"), (2, True)))
    with pytest.raises(DecodeError) as error:
        CODEC.decode_event({"type": "fly"})
    assert error.value.path == "$.type"
    with pytest.raises(DecodeError):
        CODEC.decode_event({"type": "receive", "tx": {"id": 1}})


def test_vectors_and_traces_on_disk_validate_against_the_schemas(tmp_path):
    counts = write_vectors(tmp_path, [(PROTOCOL, model.ORACLE)])
    assert counts["avalanche"] > 0
    validators = {
        name: jsonschema.Draft202012Validator(schema)
        for name, schema in schemas.protocol_schemas(CODEC).items()
    }
    root = tmp_path / "avalanche"
    for folder in iter_case_folders(root):
        case = read_case(folder)
        for part, document in (("pre", "state"), ("post", "state"), ("event", "event")):
            validators[document].validate(case[part])
        validators["effects"].validate(case["effects"])
    traces = sorted((root / "traces").glob("*.jsonl"))
    assert traces
    for trace in traces:
        with trace.open("rb") as lines:
            result = validate_lines("avalanche", lines, model.ORACLE.step_checker)
        assert result.failure is None and result.steps > 0
        for line in trace.read_text().splitlines()[1:]:
            step = json.loads(line)
            validators["state"].validate(step["state"])
            validators["event"].validate(step["event"])
            validators["effects"].validate(step["effects"])


# -- the benchmark's engines ---------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "byzantine"), [(1, 0), (2, 0), (3, 2)])
def test_the_fast_engine_makes_the_impls_decisions(seed, byzantine):
    params = impl.Params(k=4, alpha=3, beta1=2, beta2=3)
    reference, fast = model._ImplEngine(10, params), model._FastEngine(10, params)
    run = {"seconds": 6, "seed": seed, "k": 4, "double_spend_rate": 0.3, "per_second": 3}
    run |= {"rounds": 2, "byzantine": byzantine}
    assert model.run_network(reference, 10, **run) == model.run_network(fast, 10, **run)
    for i in range(10 - byzantine):
        assert reference.snapshot(i) == fast.snapshot(i)
    assert any(reference.states[i].accepted for i in range(10))


def test_bench_reports_accepted_transactions_per_simulated_second():
    figures = model.bench_avalanche(nodes=30, seconds=4, seed=3)
    assert figures["simulated_seconds"] == 4 and figures["issued_tx"] == 12
    assert figures["accepted_tx_per_simulated_second"] > 0
    assert figures["conflicting_decisions"] == 0
    assert model.bench_avalanche(nodes=30, seconds=4, seed=3)["queries"] == figures["queries"]
    attacked = model.bench_avalanche(nodes=30, seconds=4, seed=3, byzantine_fraction=0.2)
    assert attacked["byzantine_nodes"] == 6
