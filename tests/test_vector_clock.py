"""Vector clocks through every layer: spec, impl validation, bounded model, mutants, Hypothesis."""

import itertools

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from mnemosyne_consensus.impl import vector_clock as impl
from mnemosyne_consensus.model_checks import vector_clock as model
from mnemosyne_consensus.model_checks.engine import explore, simulate
from mnemosyne_consensus.spec import vector_clock as spec

PROTOCOL = model.PROTOCOL
MACHINE_SETTINGS = settings(
    max_examples=50, stateful_step_count=30, derandomize=True, deadline=None
)

# -- spec: a hand-made execution ----------------------------------------------------------------
#
#   p0:  a0 local ---- a1 send m1 ------------------------------------------
#                            \
#   p1:  b0 send m2 --------- b1 receive m1 ---- b2 send m3 ---------------
#              \                                      \
#   p2:  c0 local ----------------------------------- c1 receive m3 ---- c2 receive m2

SCRIPT = (
    spec.LocalEvent(0),
    spec.Send(0, (1,), "m1"),
    spec.Send(1, (2,), "m2"),
    spec.LocalEvent(2),
    spec.Receive(1, "m1"),
    spec.Send(1, (2,), "m3"),
    spec.Receive(2, "m3"),
    spec.Receive(2, "m2"),
)
EXPECTED_CLOCKS = {
    "a0": (1, 0, 0),
    "a1": (2, 0, 0),
    "b0": (0, 1, 0),
    "b1": (2, 2, 0),
    "b2": (2, 3, 0),
    "c0": (0, 0, 1),
    "c1": (2, 3, 2),
    "c2": (2, 3, 3),
}
# e -> f for every pair, written out by hand from the picture (program order, then messages)
EXPECTED_HAPPENS_BEFORE = {
    ("a0", "a1"), ("a0", "b1"), ("a0", "b2"), ("a0", "c1"), ("a0", "c2"),
    ("a1", "b1"), ("a1", "b2"), ("a1", "c1"), ("a1", "c2"),
    ("b0", "b1"), ("b0", "b2"), ("b0", "c1"), ("b0", "c2"),
    ("b1", "b2"), ("b1", "c1"), ("b1", "c2"),
    ("b2", "c1"), ("b2", "c2"),
    ("c0", "c1"), ("c0", "c2"),
    ("c1", "c2"),
}  # fmt: skip
NAMES = {(0, 0): "a0", (0, 1): "a1", (1, 0): "b0", (1, 1): "b1", (1, 2): "b2"}
NAMES |= {(2, 0): "c0", (2, 1): "c1", (2, 2): "c2"}


def run_script(rules=spec.SPEC_RULES):
    state = spec.initial_state(3)
    for action in SCRIPT:
        assert spec.enabled(state, action), action
        state = spec.next_state(rules, state, action)
    return state


def test_hand_made_execution_has_the_expected_clocks_and_happens_before():
    state = run_script()
    rel = spec.relations(spec.SPEC_ORDER, state.history)
    names = [NAMES[e.process, e.index] for e in rel.events]
    assert {names[k]: e.clock for k, e in enumerate(rel.events)} == EXPECTED_CLOCKS
    happens_before = {(names[e], names[f]) for f, past in enumerate(rel.past) for e in past}
    assert happens_before == EXPECTED_HAPPENS_BEFORE
    # and the clocks say the same, pair by pair (Mattern's theorem on this execution)
    by_clock = {(names[e], names[f]) for f, less in enumerate(rel.clock_less) for e in less}
    assert by_clock == EXPECTED_HAPPENS_BEFORE
    assert spec.concurrent(EXPECTED_CLOCKS["a1"], EXPECTED_CLOCKS["b0"])
    assert spec.concurrent(EXPECTED_CLOCKS["c0"], EXPECTED_CLOCKS["b2"])
    assert state.clocks == ((2, 0, 0), (2, 3, 0), (2, 3, 3))
    for name, _description, predicate in (*spec.INVARIANTS, *spec.REACHABLES):
        assert predicate(rel), name


def test_impl_stamps_the_hand_made_execution_like_the_spec():
    nodes = [impl.new(i, 3) for i in range(3)]
    in_flight = {}
    stamps = {}
    events_so_far = [0, 0, 0]
    for action in SCRIPT:
        i = action.process
        if isinstance(action, spec.LocalEvent):
            nodes[i], effects = impl.step(nodes[i], impl.LocalEvent())
        elif isinstance(action, spec.Send):
            nodes[i], effects = impl.step(nodes[i], impl.SendRequest(action.to[0]))
            ((to, message),) = effects.sends
            assert to == action.to[0]
            in_flight[action.message] = message
        else:
            nodes[i], effects = impl.step(nodes[i], impl.Receive(in_flight[action.message]))
            assert effects.faults == ()
        stamps[NAMES[i, events_so_far[i]]] = effects.timestamp
        events_so_far[i] += 1
    assert stamps == EXPECTED_CLOCKS
    assert tuple(node.clock for node in nodes) == run_script().clocks


def test_a_causal_cycle_is_caught_by_irreflexivity():
    # a malformed history: each process receives the other's message before sending its own
    history = (
        (
            spec.Event(0, 0, spec.EventKind.RECEIVE, "y", (1, 1)),
            spec.Event(0, 1, spec.EventKind.SEND, "x", (2, 1)),
        ),
        (
            spec.Event(1, 0, spec.EventKind.RECEIVE, "x", (1, 1)),
            spec.Event(1, 1, spec.EventKind.SEND, "y", (1, 2)),
        ),
    )
    rel = spec.relations(spec.SPEC_ORDER, history)
    assert not spec.happens_before_irreflexive(rel)


def test_spec_enabling_conditions():
    state = spec.next_state(spec.SPEC_RULES, spec.initial_state(3), spec.Send(0, (1,), "m"))
    assert not spec.enabled(state, spec.Send(1, (1,), "n"))  # to itself
    assert not spec.enabled(state, spec.Send(1, (2, 0), "n"))  # destinations unsorted
    assert not spec.enabled(state, spec.Send(1, (3,), "n"))  # no process 3
    assert not spec.enabled(state, spec.Send(1, (0,), "m"))  # id already used
    assert not spec.enabled(state, spec.Receive(2, "m"))  # not addressed to 2
    assert not spec.enabled(state, spec.Receive(1, "n"))  # never sent
    assert spec.enabled(state, spec.Receive(1, "m"))
    again = spec.next_state(spec.SPEC_RULES, state, spec.Receive(1, "m"))
    assert spec.enabled(again, spec.Receive(1, "m"))  # duplicates stay deliverable
    assert spec.next_state(spec.SPEC_RULES, again, spec.Receive(1, "m")).clocks[1] == (1, 2, 0)


# -- impl ----------------------------------------------------------------------------------------


def test_impl_broadcast_is_one_event_with_one_message():
    node, effects = impl.step(impl.new(1, 3), impl.LocalEvent())
    assert effects.timestamp == (0, 1, 0) and node.clock == (0, 1, 0)
    node, effects = impl.step(node, impl.SendRequest())
    assert effects.timestamp == (0, 2, 0) == node.clock
    message = impl.ClockMessage(1, 2, (0, 2, 0))
    assert effects.sends == ((0, message), (2, message))


@pytest.mark.parametrize("to", [1, 3, -1, "2", True])
def test_impl_send_to_a_non_peer_is_local_misuse(to):
    with pytest.raises(ValueError, match="cannot send"):
        impl.step(impl.new(1, 3), impl.SendRequest(to))


def test_impl_comparison_agrees_with_the_spec_definition():
    vectors = list(itertools.product(range(3), repeat=3))
    for v, w in itertools.product(vectors, vectors):
        assert impl.happened_before(v, w) == spec.less(v, w), (v, w)
        assert impl.concurrent(v, w) == spec.concurrent(v, w), (v, w)


BAD_MESSAGES = [
    (impl.ClockMessage(3, 1, (0, 0, 0, 1)), impl.FaultKind.UNKNOWN_SENDER),
    (impl.ClockMessage(-1, 1, (1, 0, 0)), impl.FaultKind.UNKNOWN_SENDER),
    (impl.ClockMessage("p0", 1, (1, 0, 0)), impl.FaultKind.UNKNOWN_SENDER),
    (impl.ClockMessage(1, 1, (0, 1, 0)), impl.FaultKind.UNKNOWN_SENDER),  # itself
    (impl.ClockMessage(0, 1, (1, 0)), impl.FaultKind.WRONG_LENGTH),
    (impl.ClockMessage(0, 1, (1, 0, 0, 0)), impl.FaultKind.WRONG_LENGTH),
    (impl.ClockMessage(0, 1, [1, 0, 0]), impl.FaultKind.WRONG_LENGTH),
    (impl.ClockMessage(0, 1, (1, -1, 0)), impl.FaultKind.MALFORMED_ENTRY),
    (impl.ClockMessage(0, 1, (1, 0.5, 0)), impl.FaultKind.MALFORMED_ENTRY),
    (impl.ClockMessage(0, 1, (1, 0, True)), impl.FaultKind.MALFORMED_ENTRY),
    (impl.ClockMessage(0, 1, (1, "0", 0)), impl.FaultKind.MALFORMED_ENTRY),
    (impl.ClockMessage(0, 0, (0, 0, 0)), impl.FaultKind.SEND_NOT_COUNTED),
    (impl.ClockMessage(0, 2, (1, 0, 0)), impl.FaultKind.MISMATCHED_ID),
    (impl.ClockMessage(0, True, (1, 0, 0)), impl.FaultKind.MISMATCHED_ID),
    (impl.ClockMessage(0, 1, (1, 2, 0)), impl.FaultKind.FUTURE_OWN_ENTRY),
]


@pytest.mark.parametrize(("message", "kind"), BAD_MESSAGES)
def test_impl_rejects_bad_messages_and_changes_nothing(message, kind):
    node, _ = impl.step(impl.new(1, 3), impl.LocalEvent())  # process 1 has had one event
    after, effects = impl.step(node, impl.Receive(message))
    assert after == node
    assert effects.timestamp is None and effects.sends == ()
    assert [f.kind for f in effects.faults] == [kind]
    assert effects.faults[0].sender == message.sender and effects.faults[0].detail


def test_every_fault_kind_is_exercised():
    assert {kind for _, kind in BAD_MESSAGES} == set(impl.FaultKind)


def test_impl_accepts_stale_and_duplicate_messages():
    # an older message arriving after a newer one is legitimate on a reordering network
    node = impl.new(1, 3)
    node, _ = impl.step(node, impl.Receive(impl.ClockMessage(0, 2, (2, 0, 0))))
    after, effects = impl.step(node, impl.Receive(impl.ClockMessage(0, 1, (1, 0, 0))))
    assert effects.faults == () and after.clock == (2, 2, 0)
    again, effects = impl.step(after, impl.Receive(impl.ClockMessage(0, 1, (1, 0, 0))))
    assert effects.faults == () and again.clock == (2, 3, 0)


def test_model_forged_alphabet_is_one_message_per_fault_kind():
    node = impl.new(1, 3)
    kinds = []
    for message in model.forged_messages(3, 3):
        after, effects = impl.step(node, impl.Receive(message))
        assert after == node
        kinds.extend(f.kind for f in effects.faults)
    assert kinds == list(impl.FaultKind)


# -- bounded model -------------------------------------------------------------------------------


EXHAUSTIBLE = [c for c in PROTOCOL.configs if c.expected_distinct_states is not None]


def test_default_and_tiny_are_exhaustible():
    assert [c.name for c in EXHAUSTIBLE] == ["small", "tiny"]
    assert PROTOCOL.default_config.name == "small"


@pytest.mark.parametrize("config", EXHAUSTIBLE, ids=lambda c: c.name)
def test_configs_hold_completely_and_pin_state_counts(config):
    result = explore(PROTOCOL.build(config, None))
    assert result.outcome == "ok", result.violation
    assert result.complete
    assert set(result.reached) == {"concurrent_events", "causal_chain"}
    assert result.distinct_states == config.expected_distinct_states


@pytest.mark.parametrize("mutant", PROTOCOL.mutants, ids=lambda m: m.name)
def test_every_mutant_is_caught_with_a_trace(mutant):
    model_ = PROTOCOL.build(PROTOCOL.config(mutant.config or "tiny"), mutant)
    result = explore(model_.restricted_to([mutant.breaks]))
    assert result.outcome == "violation"
    assert result.violation.property_name == mutant.breaks
    assert result.violation.trace[0].action is None
    assert len(result.violation.trace) >= 2


@pytest.mark.parametrize(
    ("mutant_name", "holding"),
    [
        # distinct events never share a vector, so "<=" for "<" only shows on e versus e
        ("non-strict-less", "vc_characterizes_happens_before"),
        # a rule bug in spec and impl alike refines the (wrong) spec: only the invariant sees it
        ("receive-keeps-own", "refinement"),
        ("receive-without-increment", "refinement"),
    ],
)
def test_mutants_leave_the_other_property_intact(mutant_name, holding):
    mutant = PROTOCOL.mutant(mutant_name)
    built = PROTOCOL.build(PROTOCOL.config("tiny"), mutant)
    assert explore(built.restricted_to([holding])).outcome == "ok"
    assert explore(built.restricted_to([mutant.breaks])).outcome == "violation"


def test_every_property_has_a_mutant():
    built = PROTOCOL.build(PROTOCOL.default_config, None)
    always = set(built.property_names()) - {"concurrent_events", "causal_chain"}
    assert always == {m.breaks for m in PROTOCOL.mutants}


def test_wide_config_simulates_clean():
    config = PROTOCOL.config("wide")
    result = simulate(PROTOCOL.build(config, None), runs=40, steps=40, seed=7)
    assert result.outcome == "ok", result.violation
    assert result.runs == 40
    assert set(result.reached) == {"concurrent_events", "causal_chain"}


def test_refinement_counterexample_is_a_receive():
    mutant = PROTOCOL.mutant("merge-skips-last-entry")
    result = explore(PROTOCOL.build(PROTOCOL.config("tiny"), mutant).restricted_to(["refinement"]))
    steps = [step.action_text for step in result.violation.trace[1:]]
    # shortest: process 1 sends, process 0 receives and does not merge entry 1
    assert steps == ["process 1: send to everyone", "process 0: receive message 1 of 1 (0, 1)"]
    assert "clocks: spec ((1, 1), (0, 1)), impl ((1, 0), (0, 1))" in result.violation.detail


def test_view_has_plain_named_variables():
    result = explore(PROTOCOL.build(PROTOCOL.config("tiny"), PROTOCOL.mutant("non-strict-less")))
    variables = PROTOCOL.view(result.violation.trace[-1].state)
    assert set(variables) == {"clock", "history", "network"}
    ((process, (event,)),) = [(i, line) for i, line in variables["history"].items() if line]
    assert event["kind"] in {"local", "send"} and sum(event["clock"]) == 1
    assert variables["clock"][process] == event["clock"]


# -- Hypothesis ----------------------------------------------------------------------------------

TestVectorClockMachine = model.VectorClockMachine.TestCase
TestVectorClockMachine.settings = MACHINE_SETTINGS


class ReceiveKeepsOwnMachine(model.VectorClockMachine):
    mutant = PROTOCOL.mutant("receive-keeps-own")


def test_hypothesis_machine_catches_a_mutant():
    # no shrinking: the point is that the machine finds the bug, not the shortest program
    quick = settings(MACHINE_SETTINGS, phases=[Phase.explicit, Phase.generate])
    with pytest.raises(AssertionError, match="vc_characterizes_happens_before violated"):
        run_state_machine_as_test(ReceiveKeepsOwnMachine, settings=quick)
