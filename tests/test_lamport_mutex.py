"""Lamport mutual exclusion through every layer: spec, impl, bounded model, mutants, Hypothesis,
z3 proofs and the oracle codec."""

import json

import attrs
import jsonschema
import pytest
import z3
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from mnemosyne_consensus.impl import lamport_mutex as impl
from mnemosyne_consensus.model_checks import lamport_mutex as model
from mnemosyne_consensus.model_checks import schemas
from mnemosyne_consensus.model_checks.codec import DecodeError, dumps_line
from mnemosyne_consensus.model_checks.engine import explore, simulate
from mnemosyne_consensus.model_checks.registry_types import Config
from mnemosyne_consensus.model_checks.validate import validate_lines
from mnemosyne_consensus.model_checks.vectors import generate_cases, random_runs
from mnemosyne_consensus.proofs import lamport_mutex as proofs
from mnemosyne_consensus.proofs.core import check_goal
from mnemosyne_consensus.spec import lamport_mutex as spec

PROTOCOL = model.PROTOCOL
MACHINE_SETTINGS = settings(
    max_examples=50, stateful_step_count=60, derandomize=True, deadline=None
)
REQ, ACK, REL = spec.MessageKind.REQUEST, spec.MessageKind.ACK, spec.MessageKind.RELEASE

# -- spec: a hand-made execution -----------------------------------------------------------------
#
# Two processes request at the same time with the same timestamp 1. The tie goes to process 0
# (the lower number); process 1 is granted only after process 0's release reaches it.


def msg(kind, timestamp, sender, receiver):
    return spec.Message(kind, timestamp, sender, receiver)


SCRIPT = (
    spec.RequestAction(0),
    spec.RequestAction(1),
    spec.ReceiveRequest(1, msg(REQ, 1, 0, 1)),
    spec.ReceiveRequest(0, msg(REQ, 1, 1, 0)),
    spec.ReceiveAck(0, msg(ACK, 2, 1, 0)),
    spec.Enter(0),
    spec.ReceiveAck(1, msg(ACK, 2, 0, 1)),
    spec.ReleaseAction(0),
    spec.ReceiveRelease(1, msg(REL, 5, 0, 1)),
    spec.Enter(1),
    spec.ReleaseAction(1),
    spec.ReceiveRelease(0, msg(REL, 8, 1, 0)),
)
# (clock of 0, clock of 1) after each step, worked out by hand from IR1 and IR2 (b)
EXPECTED_CLOCKS = [
    (1, 0),  # rule 1 ticks
    (1, 1),
    (1, 2),  # max(1, 1) + 1
    (2, 2),
    (3, 2),  # the ack from 1 is timestamped 2: max(2, 2) + 1
    (4, 2),  # the grant is an event too
    (4, 3),
    (5, 3),  # release timestamped 5
    (5, 6),
    (5, 7),
    (5, 8),
    (9, 8),  # max(5, 8) + 1
]
R, FIFO = spec.SPEC_RULES, True


def run_script():
    state = spec.initial_state(2)
    states = [state]
    for action in SCRIPT:
        assert spec.enabled(R, FIFO, state, action), action
        state = spec.next_state(R, FIFO, state, action)
        states.append(state)
    return states


def test_hand_made_execution_follows_the_paper():
    states = run_script()
    assert [tuple(p.clock for p in s.processes) for s in states[1:]] == EXPECTED_CLOCKS
    after_acks = states[5]
    # both queues hold both requests; process 0 heads both and has a later message from 1
    assert after_acks.processes[0].queue == after_acks.processes[1].queue == ((1, 0), (1, 1))
    assert spec.may_enter(R, after_acks.processes[0], 0, 2)
    assert not spec.is_head(R, after_acks.processes[1], 1, 2)
    final = states[-1]
    assert final.entries == (spec.Entry((1, 0), ((1, 1),)), spec.Entry((1, 1), ()))
    assert final.network == ()
    assert all(p.phase is spec.Phase.IDLE and p.queue == () for p in final.processes)
    assert final.processes[0].latest == (0, 8) and final.processes[1].latest == (5, 0)
    for state in states:
        assert spec.mutual_exclusion(state) and spec.entries_in_order(state)
        assert not spec.deadlocked(R, FIFO, (1, 1), state)
    assert spec.contention_resolved(final) and spec.all_served((1, 1), final)


def test_acknowledgments_carry_the_receipt_clock():
    states = run_script()
    # after process 1 receives process 0's request it acknowledges with its new clock, 2
    assert msg(ACK, 2, 1, 0) in states[3].network
    assert states[3].processes[1].latest == (1, 0)


def test_the_order_breaks_ties_by_process_number():
    assert spec.lamport_precedes((1, 0), (1, 1), 0, 2)
    assert not spec.lamport_precedes((1, 1), (1, 0), 1, 2)
    assert spec.lamport_precedes((1, 5), (2, 0), 0, 6)
    assert not spec.lamport_precedes((3, 0), (3, 0), 0, 1)


def test_spec_enabling_conditions():
    states = run_script()
    s2 = states[2]  # both requested, nothing received
    assert not spec.enabled(R, FIFO, s2, spec.Enter(0))  # no later message from 1 yet
    assert not spec.enabled(R, FIFO, s2, spec.RequestAction(0))  # already waiting
    assert not spec.enabled(R, FIFO, s2, spec.ReleaseAction(0))  # not critical
    assert not spec.enabled(R, FIFO, s2, spec.ReceiveAck(1, msg(REQ, 1, 0, 1)))  # wrong kind
    assert not spec.enabled(R, FIFO, s2, spec.ReceiveRequest(0, msg(REQ, 1, 0, 1)))  # not to 0
    assert not spec.enabled(R, FIFO, s2, spec.Enter(7))  # no such process
    s3 = states[3]  # channel 1 -> 0 holds REQUEST(1) then ACK(2)
    assert not spec.enabled(R, FIFO, s3, spec.ReceiveAck(0, msg(ACK, 2, 1, 0)))  # not first
    assert spec.enabled(R, False, s3, spec.ReceiveAck(0, msg(ACK, 2, 1, 0)))  # a pool: any


def test_fifo_channels_keep_send_order_and_the_pool_is_canonical():
    a, b = msg(REQ, 1, 1, 0), msg(ACK, 2, 1, 0)
    other = msg(REQ, 1, 0, 1)
    assert spec.enqueue((b,), (a,), fifo=True) == (b, a)  # send order within the channel
    assert spec.enqueue((b,), (a, other), fifo=True) == (other, b, a)  # channels sorted
    assert spec.enqueue((b,), (a,), fifo=False) == (a, b)  # the pool is sorted
    assert list(spec.deliverable((b, a), fifo=True)) == [b]
    assert list(spec.deliverable((b, a), fifo=False)) == [b, a]


def test_the_bound_only_withholds_requests():
    final = run_script()[-1]
    assert list(spec.enabled_actions(R, FIFO, (1, 1), final)) == []
    assert list(spec.enabled_actions(R, FIFO, (2, 1), final)) == [spec.RequestAction(0)]
    # nobody waits, so an end state is no deadlock
    assert not spec.deadlocked(R, FIFO, (1, 1), final)


def test_a_deadlock_and_broken_invariants_are_recognized():
    waiting = spec.Process(3, spec.Phase.WAITING, ((1, 0), (1, 1)), (0, 1))
    other = spec.Process(3, spec.Phase.WAITING, ((1, 0), (1, 1)), (1, 0))
    stuck = spec.SystemState((waiting, other), (), ())
    assert spec.deadlocked(R, FIFO, (1, 1), stuck)  # neither has a later message
    critical = spec.Process(4, spec.Phase.CRITICAL, ((1, 0),), (0, 2))
    both = spec.SystemState((critical, attrs.evolve(critical, queue=((1, 1),))), (), ())
    assert not spec.mutual_exclusion(both)
    assert "0, 1" in spec.explain_mutual_exclusion(both)
    backwards = attrs.evolve(stuck, entries=(spec.Entry((2, 1), ()), spec.Entry((1, 0), ())))
    assert not spec.entries_in_order(backwards)
    assert "(2, 1) was granted before request (1, 0)" in spec.explain_entries_in_order(backwards)
    # a tie between equal timestamps is ordered by process: (1, 0) then (1, 1) is in order
    tie = attrs.evolve(stuck, entries=(spec.Entry((1, 0), ()), spec.Entry((1, 1), ())))
    assert spec.entries_in_order(tie)


# -- impl ----------------------------------------------------------------------------------------


def _impl_event(action):
    if isinstance(action, spec.RequestAction):
        return impl.RequestResource()
    if isinstance(action, spec.Enter):
        return impl.Enter()
    if isinstance(action, spec.ReleaseAction):
        return impl.Release()
    m = action.message
    return impl.Receive(impl.MutexMessage(impl.MessageKind(m.kind.value), m.sender, m.timestamp))


def test_impl_runs_the_hand_made_execution_like_the_spec():
    nodes = [impl.new(0, 2), impl.new(1, 2)]
    for action, expected in zip(SCRIPT, run_script()[1:], strict=True):
        i = action.process
        nodes[i], effects = impl.step(nodes[i], _impl_event(action))
        assert effects.faults == () and effects.rejections == ()
        assert effects.granted == isinstance(action, spec.Enter)
        assert tuple(model.abstract_process(n) for n in nodes) == expected.processes
        sent = {
            spec.Message(spec.MessageKind(m.kind.value), m.timestamp, m.sender, to)
            for to, m in effects.sends
        }
        assert sent <= set(expected.network)


def three_process_history():
    """Process 0 requested; process 1 acknowledged; process 2's acknowledgment is pending."""
    p0, p1, p2 = impl.new(0, 3), impl.new(1, 3), impl.new(2, 3)
    p0, effects = impl.step(p0, impl.RequestResource())
    request = effects.sends[0][1]
    assert effects.sends == ((1, request), (2, request)) and request.timestamp == 1
    p1, ack1 = impl.step(p1, impl.Receive(request))
    p2, ack2 = impl.step(p2, impl.Receive(request))
    p0, _ = impl.step(p0, impl.Receive(ack1.sends[0][1]))
    return p0, p1, p2, ack2.sends[0][1]


def test_rule_5_waits_for_every_other_process():
    p0, _, _, ack2 = three_process_history()
    after, effects = impl.step(p0, impl.Enter())
    assert after == p0 and not effects.granted
    assert [r.reason for r in effects.rejections] == [impl.RejectReason.NO_LATER_MESSAGE]
    p0, _ = impl.step(p0, impl.Receive(ack2))
    p0, effects = impl.step(p0, impl.Enter())
    assert effects.granted and p0.phase is impl.Phase.CRITICAL


BAD_MESSAGES = [
    (impl.MutexMessage(impl.MessageKind.ACK, 3, 5), impl.FaultKind.UNKNOWN_SENDER),
    (impl.MutexMessage(impl.MessageKind.ACK, -1, 5), impl.FaultKind.UNKNOWN_SENDER),
    (impl.MutexMessage(impl.MessageKind.ACK, "0", 5), impl.FaultKind.UNKNOWN_SENDER),
    (impl.MutexMessage(impl.MessageKind.ACK, True, 5), impl.FaultKind.UNKNOWN_SENDER),
    (impl.MutexMessage(impl.MessageKind.ACK, 1, 5), impl.FaultKind.UNKNOWN_SENDER),  # itself
    (impl.MutexMessage("request", 0, 5), impl.FaultKind.UNKNOWN_KIND),  # a string, not a kind
    (impl.MutexMessage(None, 0, 5), impl.FaultKind.UNKNOWN_KIND),
    (impl.MutexMessage(impl.MessageKind.ACK, 0, 0), impl.FaultKind.MALFORMED_TIMESTAMP),
    (impl.MutexMessage(impl.MessageKind.ACK, 0, -3), impl.FaultKind.MALFORMED_TIMESTAMP),
    (impl.MutexMessage(impl.MessageKind.ACK, 0, 2.5), impl.FaultKind.MALFORMED_TIMESTAMP),
    (impl.MutexMessage(impl.MessageKind.ACK, 0, "7"), impl.FaultKind.MALFORMED_TIMESTAMP),
    (impl.MutexMessage(impl.MessageKind.ACK, 0, True), impl.FaultKind.MALFORMED_TIMESTAMP),
    (impl.MutexMessage(impl.MessageKind.ACK, 0, 1), impl.FaultKind.STALE_TIMESTAMP),
    (impl.MutexMessage(impl.MessageKind.RELEASE, 0, 1), impl.FaultKind.STALE_TIMESTAMP),
    (impl.MutexMessage(impl.MessageKind.REQUEST, 0, 4), impl.FaultKind.DUPLICATE_REQUEST),
    (impl.MutexMessage(impl.MessageKind.RELEASE, 2, 4), impl.FaultKind.RELEASE_WITHOUT_REQUEST),
]


@pytest.mark.parametrize(("message", "kind"), BAD_MESSAGES)
def test_impl_rejects_bad_messages_and_changes_nothing(message, kind):
    _, p1, _, _ = three_process_history()  # process 1 queued (1, 0) and has latest (1, 0, 0)
    after, effects = impl.step(p1, impl.Receive(message))
    assert after == p1
    assert effects.sends == () and not effects.granted and effects.rejections == ()
    assert [f.kind for f in effects.faults] == [kind]
    assert effects.faults[0].sender == message.sender and effects.faults[0].detail


def test_every_fault_kind_is_exercised():
    assert {kind for _, kind in BAD_MESSAGES} == set(impl.FaultKind)


def _rejections():
    p0, p1, _, _ = three_process_history()
    waiting_behind, _ = impl.step(p1, impl.RequestResource())  # (2, 1) behind (1, 0)
    return [
        (impl.new(0, 2), impl.Enter(), impl.RejectReason.WRONG_PHASE),
        (impl.new(0, 2), impl.Release(), impl.RejectReason.WRONG_PHASE),
        (p0, impl.RequestResource(), impl.RejectReason.WRONG_PHASE),
        (waiting_behind, impl.Enter(), impl.RejectReason.NOT_AT_HEAD),
        (p0, impl.Enter(), impl.RejectReason.NO_LATER_MESSAGE),
    ]


@pytest.mark.parametrize("index", range(5))
def test_impl_rejects_untimely_requests_and_changes_nothing(index):
    node, event, reason = _rejections()[index]
    after, effects = impl.step(node, event)
    assert after == node
    assert effects.sends == () and effects.faults == () and not effects.granted
    assert [r.reason for r in effects.rejections] == [reason]
    assert effects.rejections[0].detail


def test_every_reject_reason_is_exercised():
    assert {reason for _, _, reason in _rejections()} == set(impl.RejectReason)


def test_impl_misuse_raises():
    with pytest.raises(TypeError, match="cannot handle"):
        impl.step(impl.new(0, 2), "enter")
    with pytest.raises(ValueError, match="out of range"):
        impl.new(2, 2)


def test_forged_alphabet_is_faults_only():
    built = PROTOCOL.build(PROTOCOL.config("tiny"), None)
    state, seen = next(iter(built.initial_states())), set()
    frontier = [state]
    for _ in range(6):  # a few layers of reachable states
        frontier = [built.next_state(s, a) for s in frontier for a in built.actions(s)][:200]
        for s in frontier:
            for node in s.nodes:
                for message in model.shape_forgeries(node.process, 2) + model.state_forgeries(node):
                    after, effects = impl.step(node, impl.Receive(message))
                    assert after == node and len(effects.faults) == 1, message
                    seen.add(effects.faults[0].kind)
    assert seen == set(impl.FaultKind)


# -- bounded model -------------------------------------------------------------------------------

EXHAUSTIBLE = [c for c in PROTOCOL.configs if c.expected_distinct_states is not None]
REACHABLES = {"some_process_enters", "contention_resolved", "all_requests_served"}


def test_default_and_tiny_are_exhaustible():
    assert [c.name for c in EXHAUSTIBLE] == ["small", "tiny"]
    assert PROTOCOL.default_config.params == {"processes": 3, "requests": (2, 1, 0), "fifo": True}


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
    assert result.violation.detail


def test_every_property_has_a_mutant():
    built = PROTOCOL.build(PROTOCOL.default_config, None)
    always = set(built.property_names()) - REACHABLES
    assert always == {m.breaks for m in PROTOCOL.mutants}


@pytest.mark.parametrize(
    ("mutant_name", "holding"),
    [
        # a protocol bug in spec and impl alike refines the (wrong) spec: only invariants see it
        ("replies-alone", "refinement"),
        ("no-ack", "refinement"),
        # a consistent tie-break keeps mutual exclusion; only the order of grants is wrong
        ("ties-descending-everywhere", "mutual_exclusion"),
        ("ties-descending-everywhere", "no_deadlock"),
        ("ties-descending-everywhere", "refinement"),
        # an impl-only clock bug leaves the protocol's invariants alone in these bounds
        ("receive-without-tick", "mutual_exclusion"),
    ],
)
def test_mutants_leave_the_other_property_intact(mutant_name, holding):
    mutant = PROTOCOL.mutant(mutant_name)
    built = PROTOCOL.build(PROTOCOL.config("tiny"), mutant)
    assert explore(built.restricted_to([holding])).outcome == "ok"


def test_replies_alone_counterexample_is_the_design_notes_bug():
    mutant = PROTOCOL.mutant("replies-alone")
    result = explore(PROTOCOL.build(PROTOCOL.config("tiny"), mutant).restricted_to([mutant.breaks]))
    steps = [step.action_text for step in result.violation.trace[1:]]
    # both request at 1, both acknowledge at 2, each enters on the other's acknowledgment
    assert steps == [
        "process 0: request the resource",
        "process 1: request the resource",
        "process 1: receive request(1) from 0",
        "process 0: receive request(1) from 1",
        "process 1: receive ack(2) from 0",
        "process 1: try to enter",
        "process 0: receive ack(2) from 1",
        "process 0: try to enter",
    ]
    assert result.violation.detail == "processes 0, 1 are all in the critical section"


def _non_fifo(requests):
    return Config("x", "non-FIFO", {"processes": 2, "requests": requests, "fifo": False})


def test_non_fifo_with_one_request_each_breaks_the_order_not_mutual_exclusion():
    built = PROTOCOL.build(_non_fifo(1), None)
    assert explore(built.restricted_to(["mutual_exclusion"])).outcome == "ok"
    order = explore(built.restricted_to(["entries_in_order"]))
    assert order.outcome == "violation"
    assert "(1, 1) was granted before request (1, 0)" in order.violation.detail
    # an overtaken message is refused as stale: a process refused an honest message
    refinement = explore(built.restricted_to(["refinement"]))
    assert "refused an honest message" in refinement.violation.detail


def test_non_fifo_mutant_is_the_same_processes_over_the_pool():
    mutant = PROTOCOL.mutant("non-fifo")
    on_tiny = explore(
        PROTOCOL.build(PROTOCOL.config("tiny"), mutant).restricted_to([mutant.breaks])
    )
    on_config = explore(PROTOCOL.build(_non_fifo(2), None).restricted_to([mutant.breaks]))
    assert on_tiny.outcome == on_config.outcome == "violation"
    assert len(on_tiny.violation.trace) == len(on_config.violation.trace) == 13
    # and the FIFO network of the same size is safe
    assert explore(PROTOCOL.build(PROTOCOL.config("tiny"), None)).outcome == "ok"


def test_refinement_counterexample_names_the_clock():
    mutant = PROTOCOL.mutant("receive-without-tick")
    result = explore(PROTOCOL.build(PROTOCOL.config("tiny"), mutant).restricted_to(["refinement"]))
    steps = [step.action_text for step in result.violation.trace[1:]]
    assert steps == ["process 0: request the resource", "process 1: receive request(1) from 0"]
    assert "spec Process(clock=2" in result.violation.detail
    assert "impl Process(clock=1" in result.violation.detail


def test_accepted_replay_is_reported_as_a_changed_state():
    mutant = PROTOCOL.mutant("accepts-replays")
    built = PROTOCOL.build(PROTOCOL.config("tiny"), mutant)
    result = explore(built.restricted_to(["faults_change_nothing"]))
    assert "receive forged" in result.violation.trace[-1].action_text
    pre, post = result.violation.trace[-2].state, result.violation.trace[-1].state
    assert pre != post


def test_three_way_config_simulates_clean():
    config = PROTOCOL.config("three-way")
    # most actions are stutters (forged messages, untimely client events): walks need room
    result = simulate(PROTOCOL.build(config, None), runs=30, steps=300, seed=11)
    assert result.outcome == "ok", result.violation
    assert result.runs == 30
    assert set(result.reached) == REACHABLES


def test_view_has_plain_named_variables():
    mutant = PROTOCOL.mutant("replies-alone")
    result = explore(PROTOCOL.build(PROTOCOL.config("tiny"), mutant))
    variables = PROTOCOL.view(result.violation.trace[-1].state)
    assert set(variables) == {"clock", "phase", "queue", "latest", "network", "grants"}
    assert variables["phase"] == {0: "critical", 1: "critical"}
    assert [g["request"] for g in variables["grants"]] == [(1, 1), (1, 0)]


# -- Hypothesis ----------------------------------------------------------------------------------

TestLamportMutexMachine = model.LamportMutexMachine.TestCase
TestLamportMutexMachine.settings = MACHINE_SETTINGS


class RepliesAloneMachine(model.LamportMutexMachine):
    mutant = PROTOCOL.mutant("replies-alone")


def test_hypothesis_machine_catches_a_mutant():
    # no shrinking: the point is that the machine finds the bug, not the shortest program
    quick = settings(MACHINE_SETTINGS, phases=[Phase.explicit, Phase.generate])
    # both processes in the critical section, or (checked first) granted out of order
    with pytest.raises(AssertionError, match=r"(mutual_exclusion|entries_in_order) violated"):
        run_state_machine_as_test(RepliesAloneMachine, settings=quick)


# -- z3 proofs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("proof", proofs.PROOFS, ids=lambda p: p.name)
def test_every_proof_is_proved(proof):
    assert check_goal(proof.build(None)).status == "proved"


@pytest.mark.parametrize("mutant", proofs.MUTANTS, ids=lambda m: m.name)
def test_proof_mutants_break_exactly_what_they_declare(mutant):
    broken = []
    for proof in proofs.PROOFS:
        verdict = check_goal(proof.build(mutant.name))
        assert verdict.status in ("proved", "counterexample"), verdict
        if verdict.status == "counterexample":
            broken.append(proof.name)
            assert verdict.counterexample.splitlines()[-1].startswith("claim violated: ")
    assert sorted(broken) == sorted(mutant.breaks)


def test_timestamp_only_counterexample_is_a_tie():
    result = check_goal(proofs.order_total(proofs.TIMESTAMP_ONLY))
    assert result.counterexample == (
        "a.ts = 1, a.pid = 0\nb.ts = 1, b.pid = 1\nclaim violated: a != b implies a => b or b => a"
    )


def test_proofs_fix_no_number_of_processes():
    for proof in proofs.PROOFS:
        goal = proof.build(None)
        for line in goal.shown:
            for _, term in line:
                assert term.sort().kind() == z3.Z3_INT_SORT  # unbounded integers


# -- the oracle codec ----------------------------------------------------------------------------

CODEC = model.CODEC


def _reachable_nodes(limit=400):
    built = PROTOCOL.build(PROTOCOL.config("small"), None)
    state = next(iter(built.initial_states()))
    seen, frontier = {state}, [state]
    while frontier and len(seen) < limit:
        state = frontier.pop(0)
        for action in built.actions(state):
            successor = built.next_state(state, action)
            if successor not in seen:
                seen.add(successor)
                frontier.append(successor)
    return {node for s in seen for node in s.nodes}


def test_states_round_trip():
    nodes = _reachable_nodes()
    assert any(n.phase is impl.Phase.CRITICAL for n in nodes)
    for node in nodes:
        doc = CODEC.encode_state(node)
        assert CODEC.decode_state(json.loads(json.dumps(doc))) == node


@pytest.mark.parametrize(
    "event",
    [
        impl.RequestResource(),
        impl.Enter(),
        impl.Release(),
        impl.Receive(impl.MutexMessage(impl.MessageKind.ACK, 1, 4)),
        impl.Receive(impl.MutexMessage("grant", (1, 2), None)),
        impl.Receive(impl.MutexMessage(impl.MessageKind.REQUEST, "x", 2.5)),
    ],
)
def test_events_round_trip(event):
    doc = CODEC.encode_event(event)
    assert CODEC.decode_event(json.loads(json.dumps(doc))) == event


def test_effects_are_canonical():
    p0, _, _, _ = three_process_history()
    _, effects = impl.step(p0, impl.Release())  # wrong phase: a rejection
    assert CODEC.encode_effects(effects) == {
        "sends": [],
        "granted": False,
        "faults": [],
        "rejections": [{"reason": "wrong_phase"}],
    }
    _, effects = impl.step(impl.new(2, 3), impl.RequestResource())
    assert CODEC.encode_effects(effects)["sends"] == [
        {"to": 0, "message": {"kind": "request", "sender": 2, "timestamp": 1}},
        {"to": 1, "message": {"kind": "request", "sender": 2, "timestamp": 1}},
    ]


GOOD_STATE = {
    "process": 1,
    "processes": 3,
    "clock": 4,
    "phase": "waiting",
    "queue": [[1, 0], [3, 1]],
    "latest": [2, 0, 0],
}


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"process": 3}, "$.process"),
        ({"processes": 0}, "$.processes"),
        ({"clock": -1}, "$.clock"),
        ({"phase": "sleeping"}, "$.phase"),
        ({"queue": [[3, 1], [1, 0]]}, "$.queue"),
        ({"queue": [[1, 0], [3, 0]]}, "$.queue"),
        ({"queue": [[0, 1]]}, "$.queue[0][0]"),
        ({"queue": [[1, 5]]}, "$.queue[0][1]"),
        ({"queue": [[1, 1, 1]]}, "$.queue[0]"),
        ({"queue": [[1, 0]]}, "$.queue"),  # waiting without its own request
        ({"latest": [2, 0]}, "$.latest"),
        ({"latest": [2, 1, 0]}, "$.latest[1]"),
        ({"latest": [2, 0, True]}, "$.latest[2]"),
        ({"extra": 1}, "$"),
    ],
)
def test_decoding_names_the_bad_field(change, path):
    assert CODEC.decode_state(GOOD_STATE).clock == 4
    with pytest.raises(DecodeError) as error:
        CODEC.decode_state({**GOOD_STATE, **change})
    assert error.value.path == path


def test_decoding_an_unknown_event_names_the_type():
    with pytest.raises(DecodeError) as error:
        CODEC.decode_event({"type": "acquire"})
    assert error.value.path == "$.type"
    with pytest.raises(DecodeError):
        CODEC.decode_event({"type": "enter", "now": True})


@pytest.fixture(scope="module")
def cases():
    return generate_cases(PROTOCOL, model.ORACLE)


def test_vectors_have_every_fault_and_rejection_and_our_impl_passes_them(cases):
    outcomes = {case.meta["expected"] for case in cases}
    assert {f"fault:{k.value}" for k in impl.FaultKind} <= outcomes
    assert {f"reject:{r.value}" for r in impl.RejectReason} <= outcomes
    assert "accept" in outcomes
    for case in cases:
        post, effects = CODEC.step(CODEC.decode_state(case.pre), CODEC.decode_event(case.event))
        assert CODEC.encode_state(post) == case.post
        assert CODEC.encode_effects(effects) == case.effects
        if case.meta["negative"]:
            assert case.post == case.pre


def test_vectors_match_the_shipped_schemas(cases):
    validators = {
        name: jsonschema.Draft202012Validator(schemas.shipped(f"lamport-mutex/{name}"))
        for name in ("state", "event", "effects")
    }
    assert schemas.protocol_schemas(CODEC) == {
        name: schemas.shipped(f"lamport-mutex/{name}") for name in ("state", "event", "effects")
    }
    for case in cases:
        validators["state"].validate(case.pre)
        validators["state"].validate(case.post)
        validators["event"].validate(case.event)
        validators["effects"].validate(case.effects)


def _trace(seed=3, steps=60):
    (run,) = random_runs(PROTOCOL, model.ORACLE, runs=1, steps=steps, seed=seed)
    return run


def test_a_generated_trace_validates():
    lines = [dumps_line(line) for line in _trace()]
    result = validate_lines("lamport-mutex", lines, model.ORACLE.step_checker)
    assert result.failure is None
    assert result.steps == 60


def _first_step(run, handler):
    for k, line in enumerate(run[1:], start=1):
        if line["event"]["type"] == handler and not line["effects"]["faults"]:
            if not line["effects"]["rejections"]:
                return k
    raise AssertionError(f"no accepted {handler} step")


def test_a_tampered_clock_fails_refinement():
    run = _trace()
    k = _first_step(run, "receive")
    run[k]["state"]["clock"] += 1
    result = validate_lines(
        "lamport-mutex", [dumps_line(x) for x in run], model.ORACLE.step_checker
    )
    assert result.failure is not None and result.failure.line == k + 1
    assert result.failure.property_name == "refinement"


def test_a_missing_acknowledgment_fails_refinement():
    run = _trace()
    k = next(
        k
        for k, line in enumerate(run[1:], start=1)
        if line["event"]["type"] == "receive"
        and line["event"]["message"]["kind"] == "request"
        and line["effects"]["sends"]
    )
    run[k]["effects"]["sends"] = []
    result = validate_lines(
        "lamport-mutex", [dumps_line(x) for x in run], model.ORACLE.step_checker
    )
    assert result.failure.line == k + 1 and result.failure.property_name == "refinement"
    assert "sends" in result.failure.expected


def test_a_trace_of_a_broken_impl_fails_validation():
    broken = attrs.evolve(CODEC, ops=attrs.evolve(impl.STANDARD_OPS, head_required=False))
    nodes = [impl.new(0, 2), impl.new(1, 2)]
    header = {"format": "mnemosyne-oracle/1", "protocol": "lamport-mutex", "nodes": 2}
    lines = [dumps_line(header)]
    # both request, exchange requests and acknowledgments, and process 1 enters out of turn
    script = [(0, impl.RequestResource()), (1, impl.RequestResource())]
    sends: dict[int, list] = {0: [], 1: []}

    def run(i, event):
        nodes[i], effects = broken.step(nodes[i], event)
        for to, message in effects.sends:
            sends[to].append(message)
        lines.append(
            dumps_line(
                {
                    "node": i,
                    "event": broken.encode_event(event),
                    "state": broken.encode_state(nodes[i]),
                    "effects": broken.encode_effects(effects),
                }
            )
        )

    for i, event in script:
        run(i, event)
    run(1, impl.Receive(sends[1].pop(0)))  # the request of 0
    run(0, impl.Receive(sends[0].pop(0)))  # the request of 1
    run(1, impl.Receive(sends[1].pop(0)))  # the acknowledgment of 0
    run(1, impl.Enter())  # granted, though (1, 0) heads its queue
    result = validate_lines("lamport-mutex", lines, model.ORACLE.step_checker)
    assert result.failure is not None and result.failure.line == len(lines)
    assert result.failure.property_name == "faults_change_nothing"
    assert "not_at_head" in result.failure.expected


def test_a_refused_message_must_leave_the_state_alone():
    header = {"format": "mnemosyne-oracle/1", "protocol": "lamport-mutex", "nodes": 2}
    forged = {"kind": "ack", "sender": 0, "timestamp": 0}
    step = {
        "node": 1,
        "event": {"type": "receive", "message": forged},
        "state": {**CODEC.encode_state(impl.new(1, 2)), "clock": 1},
    }
    result = validate_lines(
        "lamport-mutex", [dumps_line(header), dumps_line(step)], model.ORACLE.step_checker
    )
    assert result.failure.property_name == "faults_change_nothing"
    assert "malformed_timestamp" in result.failure.expected
