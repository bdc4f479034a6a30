"""G-Counter through every layer: spec, impl validation, bounded model, mutants, Hypothesis."""

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from mnemosyne_consensus.impl import gcounter as impl
from mnemosyne_consensus.impl.state_based import (
    ClientUpdate,
    FaultKind,
    GossipTimer,
    Receive,
    RejectReason,
    StateMessage,
)
from mnemosyne_consensus.model_checks import gcounter
from mnemosyne_consensus.model_checks.engine import explore
from mnemosyne_consensus.model_checks.machines import crdt_machine
from mnemosyne_consensus.spec import gcounter as spec

# -- spec --------------------------------------------------------------------------------------


def test_spec_join_is_pointwise_max_and_value_is_sum():
    assert spec.join((1, 0, 2), (0, 3, 1)) == (1, 3, 2)
    assert spec.value((1, 3, 2)) == 6
    assert spec.leq((1, 0, 2), (1, 3, 2))
    assert not spec.leq((1, 3, 2), (1, 0, 2))
    assert spec.increment((0, 0, 0), 1, spec.Increment()) == (0, 1, 0)


# -- impl --------------------------------------------------------------------------------------


def test_impl_increment_gossip_and_merge():
    a, b = impl.new(0, 3), impl.new(1, 3)
    a, effects = impl.step(a, ClientUpdate(spec.Increment()))
    assert effects.rejections == () and a.payload == ((0, 1),)
    a, effects = impl.step(a, GossipTimer())
    (message,) = effects.broadcasts
    b, effects = impl.step(b, Receive(message))
    assert effects.faults == () and impl.to_spec(b.payload, 3) == (1, 0, 0)
    b2, _ = impl.step(b, Receive(message))  # duplicate delivery changes nothing
    assert b2 == b


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (StateMessage(9, ()), FaultKind.UNKNOWN_SENDER),
        (StateMessage("zero", ()), FaultKind.UNKNOWN_SENDER),
        (StateMessage(1, ((0, -1),)), FaultKind.MALFORMED_PAYLOAD),
        (StateMessage(1, ((3, 1),)), FaultKind.MALFORMED_PAYLOAD),
        (StateMessage(1, ((1, 1), (0, 1))), FaultKind.MALFORMED_PAYLOAD),
        (StateMessage(1, ((0, True),)), FaultKind.MALFORMED_PAYLOAD),
        (StateMessage(1, "garbage"), FaultKind.MALFORMED_PAYLOAD),
    ],
)
def test_impl_rejects_bad_messages_and_changes_nothing(message, kind):
    node, _ = impl.step(impl.new(0, 3), ClientUpdate(spec.Increment()))
    after, effects = impl.step(node, Receive(message))
    assert after == node
    assert [f.kind for f in effects.faults] == [kind]
    assert effects.faults[0].detail


def test_impl_rejects_unknown_operation_and_changes_nothing():
    node = impl.new(0, 3)
    after, effects = impl.step(node, ClientUpdate("decrement"))
    assert after == node
    assert [r.reason for r in effects.rejections] == [RejectReason.MALFORMED_OPERATION]


# -- bounded model -----------------------------------------------------------------------------


@pytest.mark.parametrize("config_name", ["tiny", "small"])
def test_default_configs_hold_and_pin_state_counts(config_name):
    config = gcounter.PROTOCOL.config(config_name)
    result = explore(gcounter.PROTOCOL.build(config, None))
    assert result.outcome == "ok", result.violation
    assert result.complete
    assert set(result.reached) == {"all_updates_everywhere", "concurrent_merge"}
    assert result.distinct_states == config.expected_distinct_states


@pytest.mark.parametrize("mutant", gcounter.MUTANTS, ids=lambda m: m.name)
def test_every_mutant_is_caught_with_a_trace(mutant):
    config = gcounter.PROTOCOL.config(mutant.config or "tiny")
    model = gcounter.PROTOCOL.build(config, mutant)
    result = explore(model.restricted_to([mutant.breaks]))
    assert result.outcome == "violation"
    assert result.violation.property_name == mutant.breaks
    assert result.violation.trace[0].action is None
    assert len(result.violation.trace) >= 2


def test_shortest_counterexample_is_pinned():
    mutant = gcounter.PROTOCOL.mutant("sum-merge")
    model = gcounter.PROTOCOL.build(gcounter.PROTOCOL.config("small"), mutant)
    result = explore(model.restricted_to(["convergence"]))
    steps = [step.action_text for step in result.violation.trace[1:]]
    # the shortest way to make sum-merge disagree: update, gossip, deliver twice
    assert len(steps) == 4
    assert steps[0].endswith("client update Increment()")


# -- Hypothesis --------------------------------------------------------------------------------

GCounterMachine = crdt_machine(gcounter.SETUP)
TestGCounterMachine = GCounterMachine.TestCase
TestGCounterMachine.settings = settings(
    settings.get_profile("ci"), max_examples=40, stateful_step_count=30
)


def test_hypothesis_machine_catches_a_mutant():
    broken = crdt_machine(gcounter.SETUP, mutant=gcounter.PROTOCOL.mutant("sum-merge"))
    with pytest.raises(AssertionError, match="violated"):
        run_state_machine_as_test(
            broken,
            settings=settings(settings.get_profile("ci"), max_examples=40, stateful_step_count=30),
        )
