"""Bully election through every layer: spec, impl, bounded model, mutants, Hypothesis, proofs,
codec and trace validation."""

import json
from collections import deque

import attrs
import jsonschema
import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from mnemosyne_consensus.impl import bully as impl
from mnemosyne_consensus.model_checks import bully as model
from mnemosyne_consensus.model_checks import schemas
from mnemosyne_consensus.model_checks.codec import DecodeError, dumps_line
from mnemosyne_consensus.model_checks.engine import explore, simulate
from mnemosyne_consensus.model_checks.registry_types import Config
from mnemosyne_consensus.model_checks.validate import validate_lines
from mnemosyne_consensus.model_checks.vectors import generate_cases, random_runs
from mnemosyne_consensus.proofs import bully as proofs
from mnemosyne_consensus.proofs.core import check_goal
from mnemosyne_consensus.spec import bully as spec

PROTOCOL = model.PROTOCOL
RULES = spec.SPEC_RULES
PARAMS = spec.Params(processes=3, max_crashes=2, max_recoveries=2)
MACHINE_SETTINGS = settings(
    max_examples=30, stateful_step_count=30, derandomize=True, deadline=None
)
NORMAL, ELECTING, WAITING, DOWN = (
    spec.Status.NORMAL,
    spec.Status.ELECTING,
    spec.Status.WAITING,
    spec.Status.DOWN,
)


def msg(kind, sender, receiver):
    return spec.Message(spec.Kind(kind), sender, receiver)


# -- spec: a hand-made execution ----------------------------------------------------------------
#
# Three processes, all naming 2. Process 2 crashes; 0 notices, asks 1 (its ELECTION to 2 is lost)
# and waits; 1 asks 2, hears nothing, and announces itself to 0. Then 2 recovers and, being the
# top process, announces itself at once: everyone names 2 again.

SCRIPT = (
    (spec.Crash(2), "2 crashes"),
    (spec.CoordinatorTimeout(0), "0 finds its coordinator down"),
    (spec.ReceiveElection(msg("election", 0, 1)), "1 answers and starts an election"),
    (spec.ReceiveAnswer(msg("answer", 1, 0)), "0 waits for 1's COORDINATOR"),
    (spec.ElectionTimeout(1), "no one above 1 answered: 1 announces"),
    (spec.ReceiveCoordinator(msg("coordinator", 1, 0)), "0 names 1"),
    (spec.Recover(2), "2 recovers and announces at once"),
    (spec.ReceiveCoordinator(msg("coordinator", 2, 1)), "1 names 2"),
    (spec.ReceiveCoordinator(msg("coordinator", 2, 0)), "0 names 2"),
)
EXPECTED = (
    ((NORMAL, NORMAL, DOWN), (2, 2, None), ()),
    ((ELECTING, NORMAL, DOWN), (2, 2, None), (msg("election", 0, 1),)),
    ((ELECTING, ELECTING, DOWN), (2, 2, None), (msg("answer", 1, 0),)),
    ((WAITING, ELECTING, DOWN), (2, 2, None), ()),
    ((WAITING, NORMAL, DOWN), (2, 1, None), (msg("coordinator", 1, 0),)),
    ((NORMAL, NORMAL, DOWN), (1, 1, None), ()),
    (
        (NORMAL, NORMAL, NORMAL),
        (1, 1, 2),
        (msg("coordinator", 2, 0), msg("coordinator", 2, 1)),
    ),
    ((NORMAL, NORMAL, NORMAL), (1, 2, 2), (msg("coordinator", 2, 0),)),
    ((NORMAL, NORMAL, NORMAL), (2, 2, 2), ()),
)


def run_script():
    state = spec.initial_state(3)
    states = [state]
    for action, why in SCRIPT:
        assert spec.enabled(PARAMS, RULES, state, action), why
        state = spec.next_state(RULES, state, action)
        states.append(state)
    return states


def test_hand_made_execution_follows_the_bully_rule():
    states = run_script()
    for state, (status, coordinator, network) in zip(states[1:], EXPECTED, strict=True):
        assert (state.status, state.coordinator, state.network) == (status, coordinator, network)
    # the ghost: 1 announced while 2 was down, 2 while everyone was up
    assert states[-1].announced == (None, (0, 1), (0, 1, 2))
    for name, _, predicate in spec.INVARIANTS:
        assert all(predicate(RULES, s) for s in states), name
    after_first_election, final = states[6], states[-1]
    assert spec.election_completes(RULES, after_first_election)
    assert spec.recovered_takes_over(RULES, final)
    assert not spec.recovered_takes_over(RULES, after_first_election)


def test_timeouts_fire_only_when_the_awaited_process_is_down_and_nothing_is_in_flight():
    states = run_script()
    # 2 up: no one times out on it
    assert not spec.timeout_enabled(RULES, states[0], spec.CoordinatorTimeout(0))
    assert spec.timeout_enabled(RULES, states[1], spec.CoordinatorTimeout(1))
    # an ELECTION in flight: a timeout never overtakes a message (the paper's "no delay")
    assert not spec.timeout_enabled(RULES, states[2], spec.CoordinatorTimeout(1))
    # 0 waits for 1, which is up: no wait timeout; 1 asked only crashed processes: it may win
    assert not spec.timeout_enabled(RULES, states[4], spec.WaitTimeout(0))
    assert spec.timeout_enabled(RULES, states[4], spec.ElectionTimeout(1))
    # a coordinator does not time out on itself
    assert not spec.timeout_enabled(RULES, states[6], spec.CoordinatorTimeout(1))
    # the unreliable detector of the mutant would
    unreliable, _ = model.rules_and_ops(PROTOCOL.mutant("unreliable-timeout"))
    assert spec.timeout_enabled(unreliable, states[4], spec.WaitTimeout(0))


def test_spec_enabling_conditions_of_the_environment_and_the_network():
    state = spec.initial_state(3)
    assert not spec.enabled(PARAMS, RULES, state, spec.Recover(0))  # up
    spent = attrs.evolve(state, crashes=2)
    assert not spec.enabled(PARAMS, RULES, spent, spec.Crash(0))  # budget spent
    never_sent = spec.ReceiveAnswer(msg("answer", 2, 0))
    assert not spec.enabled(PARAMS, RULES, state, never_sent)
    crashed = spec.next_state(RULES, run_script()[2], spec.Crash(1))
    assert crashed.network == ()  # the ELECTION on its way to 1 is lost with it


def test_a_coordinator_from_below_the_named_one_starts_an_election():
    # 0 names 2 and hears from 1: a stale message, or 2 crashed -- it asks
    state = attrs.evolve(spec.initial_state(3), network=(msg("coordinator", 1, 0),))
    after = spec.next_state(RULES, state, spec.ReceiveCoordinator(msg("coordinator", 1, 0)))
    assert after.status[0] is ELECTING and after.coordinator[0] == 2
    assert after.network == (msg("election", 0, 1), msg("election", 0, 2))
    # while electing, any higher process is accepted
    electing = attrs.evolve(after, network=(msg("coordinator", 1, 0),))
    done = spec.next_state(RULES, electing, spec.ReceiveCoordinator(msg("coordinator", 1, 0)))
    assert (done.status[0], done.coordinator[0]) == (NORMAL, 1)


def test_each_invariant_fails_on_a_state_that_breaks_it():
    up = spec.initial_state(3)
    split = attrs.evolve(up, coordinator=(1, 1, 2), announced=(None, (0, 1), (0, 1, 2)))
    assert not spec.agreement_when_quiescent(RULES, split)
    assert not spec.highest_alive_takes_over(RULES, split)  # 2 is up and nothing can happen
    assert spec.coordinator_was_highest_alive(RULES, split)
    usurper = attrs.evolve(split, announced=(None, (0, 1, 2), (0, 1, 2)))
    assert not spec.coordinator_was_highest_alive(RULES, usurper)
    assert "1 announced with [0, 1, 2] up" in spec.explain(usurper)
    # not quiescent: a disagreement while messages are in flight is no violation
    moving = attrs.evolve(split, network=(msg("coordinator", 2, 0),))
    assert spec.agreement_when_quiescent(RULES, moving)
    # the dead coordinator's followers have a timeout enabled: not final, no violation
    dead = attrs.evolve(split, status=(NORMAL, DOWN, NORMAL), coordinator=(1, None, 2))
    assert spec.highest_alive_takes_over(RULES, dead)


# -- impl ----------------------------------------------------------------------------------------


def test_impl_follows_the_hand_made_execution():
    # the same schedule through impl nodes, compared with the spec state by state
    state = model.initial_deployment(3)
    actions = (
        model.CrashNode(2),
        model.Fire(0, impl.Timer.CHECK),
        model.Deliver(impl.Message(impl.Kind.ELECTION, 0, 1)),
        model.Deliver(impl.Message(impl.Kind.ANSWER, 1, 0)),
        model.Fire(1, impl.Timer.ANSWER),
        model.Deliver(impl.Message(impl.Kind.COORDINATOR, 1, 0)),
        model.RecoverNode(2),
        model.Deliver(impl.Message(impl.Kind.COORDINATOR, 2, 1)),
        model.Deliver(impl.Message(impl.Kind.COORDINATOR, 2, 0)),
    )
    for action, expected in zip(actions, run_script()[1:], strict=True):
        assert action in set(model.enabled_actions(PARAMS, RULES, state, model.abstract))
        state = model.apply_step(impl.STANDARD_OPS, state, action)
        assert model.abstract(state) == expected, action


def test_impl_effects_arm_the_timer_of_each_phase():
    node = impl.new(0, 3)
    node, effects = impl.step(node, impl.Timeout(impl.Timer.CHECK))
    assert node.status is impl.Status.ELECTING and effects.timer is impl.Timer.ANSWER
    assert effects.sends == (
        impl.Message(impl.Kind.ELECTION, 0, 1),
        impl.Message(impl.Kind.ELECTION, 0, 2),
    )
    node, effects = impl.step(node, impl.Receive(impl.Message(impl.Kind.ANSWER, 2, 0)))
    assert node.status is impl.Status.WAITING and effects.timer is impl.Timer.COORDINATOR
    node, effects = impl.step(node, impl.Receive(impl.Message(impl.Kind.COORDINATOR, 2, 0)))
    assert (node.status, node.coordinator) == (impl.Status.NORMAL, 2)
    assert effects == impl.Effects(timer=impl.Timer.CHECK, elected=2)
    # a NORMAL top process asked by a lower one answers and announces itself again
    top, effects = impl.step(impl.new(2, 3), impl.Receive(impl.Message(impl.Kind.ELECTION, 0, 2)))
    assert top == impl.new(2, 3)
    assert effects.sends[0] == impl.Message(impl.Kind.ANSWER, 2, 0)
    assert effects.elected == 2 and effects.timer is None


def test_stale_timers_and_a_crashed_process_change_nothing():
    node = impl.new(1, 3)
    for timer in (impl.Timer.ANSWER, impl.Timer.COORDINATOR):
        assert impl.step(node, impl.Timeout(timer)) == (node, impl.Effects())
    coordinator = impl.new(2, 3)
    assert impl.step(coordinator, impl.Timeout(impl.Timer.CHECK)) == (coordinator, impl.Effects())
    crashed, effects = impl.step(node, impl.Crash())
    assert crashed == impl.down(1, 3) and effects == impl.Effects()
    election = impl.Receive(impl.Message(impl.Kind.ELECTION, 0, 1))
    for event in (election, impl.Timeout(impl.Timer.CHECK), impl.Crash()):
        assert impl.step(crashed, event) == (crashed, impl.Effects())


def test_impl_local_misuse_raises():
    with pytest.raises(ValueError, match="only a crashed process recovers"):
        impl.step(impl.new(1, 3), impl.Recover())
    with pytest.raises(TypeError, match="not a timer"):
        impl.step(impl.new(1, 3), impl.Timeout("answer"))
    with pytest.raises(TypeError, match="cannot handle"):
        impl.step(impl.new(1, 3), "hello")
    with pytest.raises(ValueError, match="out of range"):
        impl.new(3, 3)


def test_recovery_starts_an_election_and_the_top_process_wins_at_once():
    node, effects = impl.step(impl.down(0, 3), impl.Recover())
    assert (node.status, node.coordinator) == (impl.Status.ELECTING, None)
    assert [m.receiver for m in effects.sends] == [1, 2]
    top, effects = impl.step(impl.down(2, 3), impl.Recover())
    assert (top.status, top.coordinator, effects.elected) == (impl.Status.NORMAL, 2, 2)
    assert [(m.kind, m.receiver) for m in effects.sends] == [
        (impl.Kind.COORDINATOR, 0),
        (impl.Kind.COORDINATOR, 1),
    ]


E, A, C = impl.Kind.ELECTION, impl.Kind.ANSWER, impl.Kind.COORDINATOR
BAD_MESSAGES = [
    (impl.Message("hello", 0, 1), impl.FaultKind.UNKNOWN_KIND),
    (impl.Message(None, 0, 1), impl.FaultKind.UNKNOWN_KIND),
    (impl.Message(E, 3, 1), impl.FaultKind.UNKNOWN_SENDER),
    (impl.Message(E, -1, 1), impl.FaultKind.UNKNOWN_SENDER),
    (impl.Message(E, "0", 1), impl.FaultKind.UNKNOWN_SENDER),
    (impl.Message(E, False, 1), impl.FaultKind.UNKNOWN_SENDER),
    (impl.Message(A, 1, 1), impl.FaultKind.UNKNOWN_SENDER),  # itself
    (impl.Message(E, 0, 2), impl.FaultKind.MISROUTED),
    (impl.Message(E, 0, "1"), impl.FaultKind.MISROUTED),
    (impl.Message(E, 2, 1), impl.FaultKind.WRONG_DIRECTION),
    (impl.Message(A, 0, 1), impl.FaultKind.WRONG_DIRECTION),
    (impl.Message(C, 0, 1), impl.FaultKind.WRONG_DIRECTION),
]


@pytest.mark.parametrize(("message", "kind"), BAD_MESSAGES)
@pytest.mark.parametrize("status", [impl.Status.NORMAL, impl.Status.ELECTING])
def test_impl_rejects_bad_messages_and_changes_nothing(message, kind, status):
    node = attrs.evolve(impl.new(1, 3), status=status)
    after, effects = impl.step(node, impl.Receive(message))
    assert after == node
    assert effects.sends == () and effects.timer is None and effects.elected is None
    assert [f.kind for f in effects.faults] == [kind]
    assert effects.faults[0].sender == message.sender and effects.faults[0].detail


def test_every_fault_kind_is_exercised_and_the_forged_alphabet_covers_them():
    assert {kind for _, kind in BAD_MESSAGES} == set(impl.FaultKind)
    kinds = []
    nodes = [impl.new(i, 3) for i in range(3)]
    for process, message in model.forged_deliveries(3):
        after, effects = impl.step(nodes[process], impl.Receive(message))
        assert after == nodes[process] and not effects.sends
        kinds.extend(f.kind for f in effects.faults)
    assert set(kinds) == set(impl.FaultKind) and len(kinds) == len(model.forged_deliveries(3))


# -- bounded model -------------------------------------------------------------------------------

EXHAUSTIBLE = [c for c in PROTOCOL.configs if c.expected_distinct_states is not None]
REACHABLES = {name for name, _, _ in spec.REACHABLES}


def test_default_and_small_configs_are_exhaustible():
    assert [c.name for c in EXHAUSTIBLE] == ["small", "tiny", "pair"]
    assert PROTOCOL.default_config.name == "small"
    assert PROTOCOL.default_config.params["processes"] == 3


@pytest.mark.parametrize("config", EXHAUSTIBLE, ids=lambda c: c.name)
def test_configs_hold_completely_and_pin_state_counts(config):
    result = explore(PROTOCOL.build(config, None))
    assert result.outcome == "ok", result.violation
    assert result.complete
    assert set(result.reached) == REACHABLES
    assert result.distinct_states == config.expected_distinct_states


@pytest.mark.parametrize("mutant", PROTOCOL.mutants, ids=lambda m: m.name)
def test_every_mutant_is_caught_with_a_trace(mutant):
    built = PROTOCOL.build(PROTOCOL.config(mutant.config or "tiny"), mutant)
    result = explore(built.restricted_to([mutant.breaks]))
    assert result.outcome == "violation"
    assert result.violation.property_name == mutant.breaks
    assert result.violation.trace[0].action is None
    assert len(result.violation.trace) >= 2


DESIGN_MUTANTS = [
    # timeouts at any moment make "tiny" large (114,390 states, half a minute): use "pair"
    ("unreliable-timeout", "pair"),
    ("announce-without-asking", "tiny"),
    ("ignore-lower-coordinator", "tiny"),
    ("recover-without-election", "tiny"),
]


@pytest.mark.parametrize(("name", "config"), DESIGN_MUTANTS)
def test_design_mutants_refine_their_own_spec(name, config):
    # the bug is in spec and impl alike: refinement holds, only an invariant sees it
    built = PROTOCOL.build(PROTOCOL.config(config), PROTOCOL.mutant(name))
    assert explore(built.restricted_to(["refinement", "faults_change_nothing"])).outcome == "ok"


def test_every_property_has_a_mutant():
    built = PROTOCOL.build(PROTOCOL.default_config, None)
    always = set(built.property_names()) - REACHABLES
    assert always == {m.breaks for m in PROTOCOL.mutants}


@pytest.mark.parametrize(
    ("name", "steps"),
    [
        # 0 suspects its (live) coordinator, asks, and declares itself winner unanswered
        ("unreliable-timeout", ["process 0: check timeout", "process 0: answer timeout"]),
        # a recovering process names itself without asking anyone above
        ("announce-without-asking", ["process 0: crash", "process 0: recover"]),
        # 1 takes over from the crashed 2; 0, still naming 2, shrugs off 1's announcement
        (
            "ignore-lower-coordinator",
            [
                "process 2: crash",
                "process 1: check timeout",
                "process 1: answer timeout",
                "process 0: receive COORDINATOR from 1",
            ],
        ),
        ("announce-skips-process-0", ["process 2: crash", "process 2: recover"]),
    ],
)
def test_shortest_counterexamples(name, steps):
    mutant = PROTOCOL.mutant(name)
    built = PROTOCOL.build(PROTOCOL.config("tiny"), mutant).restricted_to([mutant.breaks])
    violation = explore(built).violation
    assert [step.action_text for step in violation.trace[1:]] == steps


def test_refinement_counterexample_names_the_missing_announcement():
    mutant = PROTOCOL.mutant("announce-skips-process-0")
    built = PROTOCOL.build(PROTOCOL.config("tiny"), mutant).restricted_to(["refinement"])
    detail = explore(built).violation.detail
    assert detail == (
        "after spec Recover(2): network: spec (COORDINATOR 2->0, COORDINATOR 2->1), "
        "impl (COORDINATOR 2->1)"
    )


def test_without_timely_delivery_a_stale_coordinator_splits_the_processes():
    # the departure the spec documents: drop the synchrony clause of the failure detector and
    # a crashed coordinator's COORDINATOR, still in flight, overtakes its successor's
    config = Config(
        "async",
        "the small config without timely delivery",
        {"processes": 3, "crashes": 2, "recoveries": 1, "timely_delivery": False},
    )
    built = PROTOCOL.build(config, None).restricted_to(["agreement_when_quiescent"])
    violation = explore(built).violation
    assert violation is not None
    steps = [step.action_text for step in violation.trace[1:]]
    assert steps[-2:] == [
        "process 0: receive COORDINATOR from 1",
        "process 0: receive COORDINATOR from 2",
    ]
    assert "0: normal -> 2" in violation.detail and "2: down" in violation.detail


def test_wide_config_simulates_clean():
    result = simulate(PROTOCOL.build(PROTOCOL.config("wide"), None), runs=200, steps=60, seed=3)
    assert result.outcome == "ok", result.violation
    assert result.runs == 200
    assert set(result.reached) == REACHABLES


def test_view_has_plain_named_variables():
    mutant = PROTOCOL.mutant("announce-without-asking")
    built = PROTOCOL.build(PROTOCOL.config("tiny"), mutant)
    last = explore(built.restricted_to([mutant.breaks])).violation.trace[-1].state
    variables = PROTOCOL.view(last)
    assert set(variables) == {
        "status",
        "coordinator",
        "network",
        "crashes",
        "recoveries",
        "announced",
    }
    assert variables["coordinator"] == {0: 0, 1: 2, 2: 2}
    assert variables["announced"] == {0: (0, 1, 2), 2: (0, 1, 2)}
    json.dumps(variables)


# -- Hypothesis ----------------------------------------------------------------------------------

TestBullyMachine = model.BullyMachine.TestCase
TestBullyMachine.settings = MACHINE_SETTINGS


def test_hypothesis_machine_has_five_to_seven_processes():
    assert 5 <= model.BullyMachine.processes <= 7


class UnreliableTimeoutMachine(model.BullyMachine):
    mutant = PROTOCOL.mutant("unreliable-timeout")


class IgnoreLowerCoordinatorMachine(model.BullyMachine):
    mutant = PROTOCOL.mutant("ignore-lower-coordinator")


@pytest.mark.parametrize(
    ("machine", "message"),
    [
        (UnreliableTimeoutMachine, "coordinator_was_highest_alive violated"),
        (IgnoreLowerCoordinatorMachine, "agreement_when_quiescent violated"),
    ],
)
def test_hypothesis_machine_catches_mutants(machine, message):
    # no shrinking: the point is that the machine finds the bug, not the shortest program
    quick = settings(
        MACHINE_SETTINGS, max_examples=200, stateful_step_count=40, phases=[Phase.generate]
    )
    with pytest.raises(AssertionError, match=message):
        run_state_machine_as_test(machine, settings=quick)


# -- proofs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("proof", proofs.PROOFS, ids=lambda p: p.name)
def test_every_proof_is_proved(proof):
    verdict = check_goal(proof.build(None))
    assert verdict.status == "proved", (verdict.reason, verdict.counterexample)


@pytest.mark.parametrize("mutant", proofs.MUTANTS, ids=lambda m: m.name)
def test_proof_mutants_break_exactly_what_they_declare(mutant):
    statuses = {p.name: check_goal(p.build(mutant.name)).status for p in proofs.PROOFS}
    broken = {name for name, status in statuses.items() if status == "counterexample"}
    assert broken == set(mutant.breaks)
    assert {statuses[name] for name in statuses if name not in broken} == {"proved"}


def test_tied_ids_counterexample_shows_two_winners():
    verdict = check_goal(proofs.coordinator_is_unique(proofs.TIES_ALLOWED))
    lines = verdict.counterexample.splitlines()
    assert lines[0] == "alive = {p0, p1}"
    assert lines[1] == "id[p0] = 0, id[p1] = 0"
    assert lines[-1] == "claim violated: wins(alive, c) and wins(alive, d) imply c = d"


def test_non_strict_rule_elects_no_one_even_alone():
    verdict = check_goal(proofs.single_alive_process_is_elected(proofs.NON_STRICT_RULE))
    assert (
        verdict.counterexample == "alive = {p0}\nid[p0] = 0\nx = p0\nclaim violated: wins({x}, x)"
    )


# -- oracle: codec, vectors, trace validation ----------------------------------------------------

CODEC = model.CODEC


@pytest.fixture(scope="module")
def cases():
    return generate_cases(PROTOCOL, model.ORACLE)


def test_vectors_cover_every_handler_and_every_fault_kind(cases):
    assert {c.handler for c in cases} == {"crash", "recover", "timeout", "receive"}
    outcomes = {c.meta["expected"] for c in cases}
    assert {f"fault:{kind.value}" for kind in impl.FaultKind} <= outcomes
    assert "accept" in outcomes
    for case in cases:
        if case.meta["negative"]:
            assert case.post == case.pre


def test_codec_round_trips_every_case(cases):
    for case in cases:
        node = CODEC.decode_state(case.pre)
        event = CODEC.decode_event(case.event)
        assert CODEC.encode_state(node) == case.pre
        assert CODEC.encode_event(event) == case.event
        post, effects = CODEC.step(node, event)
        assert CODEC.encode_state(post) == case.post
        assert CODEC.encode_effects(effects) == case.effects
        assert CODEC.decode_state(case.post) == post


def test_documents_validate_against_the_generated_schemas(cases):
    validators = {
        name: jsonschema.Draft202012Validator(schema)
        for name, schema in schemas.protocol_schemas(CODEC).items()
    }
    for case in cases:
        validators["state"].validate(case.pre)
        validators["state"].validate(case.post)
        validators["event"].validate(case.event)
        validators["effects"].validate(case.effects)


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"process": 0, "processes": 3, "status": "asleep", "coordinator": 2}, "$.status"),
        ({"process": 0, "processes": 3, "status": "normal", "coordinator": 3}, "$.coordinator"),
        ({"process": 0, "processes": 3, "status": "normal", "coordinator": None}, "$.coordinator"),
        ({"process": 0, "processes": 3, "status": "down", "coordinator": 2}, "$.coordinator"),
        ({"process": 3, "processes": 3, "status": "normal", "coordinator": 2}, "$.process"),
        ({"process": 0, "processes": "3", "status": "normal", "coordinator": 2}, "$.processes"),
        ({"process": 0, "processes": 3, "status": "normal"}, "$"),
        ([], "$"),
    ],
)
def test_state_decoding_names_the_bad_field(doc, path):
    with pytest.raises(DecodeError) as error:
        CODEC.decode_state(doc)
    assert error.value.path == path


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"type": "timeout", "timer": "soon"}, "$.timer"),
        ({"type": "nap"}, "$.type"),
        ({"type": "crash", "extra": 1}, "$"),
        ({"type": "receive", "message": {"kind": "election", "sender": 0}}, "$.message"),
    ],
)
def test_event_decoding_names_the_bad_field(doc, path):
    with pytest.raises(DecodeError) as error:
        CODEC.decode_event(doc)
    assert error.value.path == path


def test_a_malformed_message_decodes_for_the_process_to_refuse():
    doc = {"type": "receive", "message": {"kind": "hello", "sender": [0], "receiver": 1}}
    node = impl.new(1, 3)
    post, effects = CODEC.step(node, CODEC.decode_event(doc))
    assert post == node
    assert CODEC.encode_effects(effects)["faults"] == [{"sender": [0], "kind": "unknown_kind"}]


def _walk_edges(config_name, codec):
    """Every (state, action) edge of a config, checked by the clean step checker."""
    built = PROTOCOL.build(PROTOCOL.config(config_name), None)
    check = model.step_checker(model.CODEC).check
    initial = next(iter(built.initial_states()))
    seen, queue, failures, edges = {initial}, deque([initial]), {}, 0
    while queue:
        state = queue.popleft()
        for action in built.actions(state):
            i, event = model.node_event(action)
            post, effects = codec.step(state.nodes[i], event)
            problem = check(state.nodes, i, event, post, codec.encode_effects(effects))
            edges += 1
            if problem is not None:
                failures.setdefault(problem[0], problem)
            successor = built.next_state(state, action)
            if successor not in seen:
                seen.add(successor)
                queue.append(successor)
    return edges, failures


def test_step_checker_accepts_every_step_of_the_model():
    edges, failures = _walk_edges("tiny", CODEC)
    assert failures == {} and edges > 1000


@pytest.mark.parametrize(
    ("name", "property_name"),
    [
        ("announce-skips-process-0", "refinement"),
        ("trusts-direction", "faults_change_nothing"),
        ("recover-without-election", "refinement"),
    ],
)
def test_step_checker_catches_a_broken_process(name, property_name):
    _, ops = model.rules_and_ops(PROTOCOL.mutant(name))
    _, failures = _walk_edges("tiny", model.BullyCodec(ops=ops))
    assert property_name in failures


def test_a_generated_trace_validates():
    runs = list(random_runs(PROTOCOL, model.ORACLE, runs=3, steps=40, seed=11))
    for lines in runs:
        text = [dumps_line(line) for line in lines]
        result = validate_lines("bully", text, model.ORACLE.step_checker)
        assert result.failure is None, result.failure
        assert result.steps == len(lines) - 1 > 0


def _trace(*steps):
    header = {"format": "mnemosyne-oracle/1", "protocol": "bully", "nodes": 3}
    return [dumps_line(header), *(dumps_line(step) for step in steps)]


def _step(pre, event):
    before = CODEC.decode_state(pre)
    post, effects = CODEC.step(before, CODEC.decode_event(event))
    return {
        "node": before.process,
        "event": event,
        "state": CODEC.encode_state(post),
        "effects": CODEC.encode_effects(effects),
    }


def test_a_timeout_while_the_awaited_process_is_up_fails_validation():
    electing = {"process": 0, "processes": 3, "status": "electing", "coordinator": 2}
    lines = _trace(
        _step(CODEC.encode_state(impl.new(2, 3)), {"type": "crash"}),
        _step(CODEC.encode_state(impl.new(0, 3)), {"type": "timeout", "timer": "check"}),
        # 0 asked 1 and 2; 1 is up, yet 0's answer timer "expires"
        _step(electing, {"type": "timeout", "timer": "answer"}),
    )
    failure = validate_lines("bully", lines, model.ORACLE.step_checker).failure
    assert failure is not None and failure.line == 4 and failure.node == 0
    assert failure.property_name == "reliable_failure_detection"
    assert "[1]" in failure.observed


def test_a_recovery_that_skips_an_announcement_fails_validation():
    _, ops = model.rules_and_ops(PROTOCOL.mutant("announce-skips-process-0"))
    broken = model.BullyCodec(ops=ops)
    crashed, _ = impl.step(impl.new(2, 3), impl.Crash())
    post, effects = broken.step(crashed, impl.Recover())
    lines = _trace(
        _step(CODEC.encode_state(impl.new(2, 3)), {"type": "crash"}),
        {
            "node": 2,
            "event": {"type": "recover"},
            "state": CODEC.encode_state(post),
            "effects": broken.encode_effects(effects),
        },
    )
    failure = validate_lines("bully", lines, model.ORACLE.step_checker).failure
    assert failure.line == 3 and failure.property_name == "refinement"
    assert '"receiver":0' in failure.expected and '"receiver":0' not in failure.observed
