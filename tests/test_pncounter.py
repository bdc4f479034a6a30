"""PN-Counter (Shapiro et al. 2011, Spec. 7): spec, impl and bounded model checks."""

from __future__ import annotations

from itertools import product

import jsonschema
import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from mnemosyne_consensus.impl import pncounter as impl
from mnemosyne_consensus.impl.state_based import (
    ClientUpdate,
    FaultKind,
    GossipTimer,
    Receive,
    RejectReason,
    StateMessage,
)
from mnemosyne_consensus.model_checks.codec import DecodeError
from mnemosyne_consensus.model_checks.engine import explore
from mnemosyne_consensus.model_checks.machines import crdt_machine
from mnemosyne_consensus.model_checks.pncounter import CODEC, CONFIGS, MUTANTS, PROTOCOL, SETUP
from mnemosyne_consensus.model_checks.registry_types import Mutant
from mnemosyne_consensus.spec import gcounter
from mnemosyne_consensus.spec import pncounter as spec
from mnemosyne_consensus.spec.state_based import UpdateRecord

# -- Spec -----------------------------------------------------------------------------------------


def test_initial_payload_is_two_zero_vectors() -> None:
    assert spec.initial(3) == ((0, 0, 0), (0, 0, 0))
    assert spec.value(spec.initial(3)) == 0


def test_increment_raises_p_and_decrement_raises_n() -> None:
    payload = spec.initial(3)
    payload = spec.update(payload, 1, spec.Increment())
    assert payload == ((0, 1, 0), (0, 0, 0))
    payload = spec.update(payload, 2, spec.Decrement())
    payload = spec.update(payload, 2, spec.Decrement())
    assert payload == ((0, 1, 0), (0, 0, 2))
    assert spec.value(payload) == -1


def test_both_updates_inflate() -> None:
    before = ((1, 0), (0, 3))
    for op in (spec.Increment(), spec.Decrement()):
        after = spec.update(before, 0, op)
        assert spec.leq(before, after)
        assert not spec.leq(after, before)


def test_join_is_pointwise_max_on_p_and_n() -> None:
    x = ((2, 0, 1), (0, 4, 0))
    y = ((1, 3, 1), (1, 0, 0))
    assert spec.join(x, y) == ((2, 3, 1), (1, 4, 0))
    assert spec.join(y, x) == spec.join(x, y)
    assert spec.join(x, x) == x
    assert spec.value(spec.join(x, y)) == 6 - 5


def test_leq_needs_both_vectors_below() -> None:
    assert spec.leq(((1, 0), (0, 0)), ((1, 1), (0, 0)))
    # P below but N above: incomparable, in either direction
    assert not spec.leq(((0, 0), (1, 0)), ((1, 0), (0, 0)))
    assert not spec.leq(((1, 0), (0, 0)), ((0, 0), (1, 0)))


def test_update_enabled_only_for_counter_ops_at_known_replicas() -> None:
    payload = spec.initial(2)
    assert spec.update_enabled(payload, 0, spec.Increment())
    assert spec.update_enabled(payload, 1, spec.Decrement())
    assert not spec.update_enabled(payload, 2, spec.Increment())
    assert not spec.update_enabled(payload, 0, gcounter.Increment())  # type: ignore[arg-type]


def test_intended_is_increments_minus_decrements() -> None:
    ops = (spec.Increment(), spec.Decrement(), spec.Decrement(), spec.Increment(), spec.Decrement())
    records = [UpdateRecord(uid, uid % 2, op, frozenset()) for uid, op in enumerate(ops)]
    assert spec.intended(records) == 2 - 3
    assert spec.intended([]) == 0


# -- Impl -----------------------------------------------------------------------------------------


def test_impl_updates_keep_a_sparse_sorted_map() -> None:
    replica = impl.new(2, 3)
    assert replica.payload == ()
    replica, effects = impl.step(replica, ClientUpdate(spec.Decrement()))
    assert not effects.rejections
    replica, _ = impl.step(replica, ClientUpdate(spec.Increment()))
    assert replica.payload == ((2, 1, 1),)
    assert impl.to_spec(replica.payload, 3) == ((0, 0, 1), (0, 0, 1))
    _, effects = impl.step(replica, GossipTimer())
    assert effects.broadcasts == (StateMessage(2, ((2, 1, 1),)),)


def test_impl_receive_merges_entrywise() -> None:
    replica = impl.new(0, 3)
    replica, _ = impl.step(replica, ClientUpdate(spec.Increment()))
    message = StateMessage(1, ((0, 0, 2), (1, 3, 0)))
    merged, effects = impl.step(replica, Receive(message))
    assert effects.faults == ()
    assert merged.payload == ((0, 1, 2), (1, 3, 0))


def _all_sparse_payloads(n: int, top: int) -> list[impl.Counts]:
    pairs = list(product(range(top + 1), repeat=2))
    return [
        tuple((rid, p, d) for rid, (p, d) in enumerate(choice) if p or d)
        for choice in product(pairs, repeat=n)
    ]


def test_impl_merge_refines_spec_join() -> None:
    payloads = _all_sparse_payloads(2, 1)
    for mine, theirs in product(payloads, payloads):
        assert impl.validate_payload(mine, 2) is None
        merged = impl.merge(mine, theirs)
        assert impl.validate_payload(merged, 2) is None
        assert impl.to_spec(merged, 2) == spec.join(impl.to_spec(mine, 2), impl.to_spec(theirs, 2))


@pytest.mark.parametrize("op", [gcounter.Increment(), "increment", None, spec.Increment])
def test_impl_rejects_malformed_operation_and_changes_nothing(op: object) -> None:
    replica, _ = impl.step(impl.new(0, 2), ClientUpdate(spec.Increment()))
    after, effects = impl.step(replica, ClientUpdate(op))
    assert [r.reason for r in effects.rejections] == [RejectReason.MALFORMED_OPERATION]
    assert after == replica


@pytest.mark.parametrize("sender", [2, 7, -1, "1", None, True])
def test_impl_faults_unknown_sender_and_changes_nothing(sender: object) -> None:
    replica = impl.new(0, 2)
    after, effects = impl.step(replica, Receive(StateMessage(sender, ((1, 1, 0),))))
    assert [f.kind for f in effects.faults] == [FaultKind.UNKNOWN_SENDER]
    assert effects.faults[0].sender == sender
    assert after == replica


@pytest.mark.parametrize(
    "payload",
    [
        [(1, 1, 0)],  # a list, not a tuple
        ((1, 1),),  # a pair, not a triple
        ((2, 1, 0),),  # replica 2 of 2
        ((-1, 1, 0),),  # negative replica
        ((1, 1, 0), (0, 1, 0)),  # out of order
        ((1, 1, 0), (1, 2, 0)),  # duplicated replica
        ((1, -1, 0),),  # negative increment count
        ((1, 0, -2),),  # negative decrement count
        ((1, True, 0),),  # bool is not a count
        ((1, 1.0, 0),),  # float is not a count
        ((1, 0, 0),),  # all-zero entries are omitted
    ],
)
def test_impl_faults_malformed_payload_and_changes_nothing(payload: object) -> None:
    replica, _ = impl.step(impl.new(0, 2), ClientUpdate(spec.Decrement()))
    after, effects = impl.step(replica, Receive(StateMessage(1, payload)))
    assert [f.kind for f in effects.faults] == [FaultKind.MALFORMED_PAYLOAD]
    assert after == replica


def test_codec_round_trips_states_and_events() -> None:
    replica, _ = impl.step(impl.new(1, 3), ClientUpdate(spec.Decrement()))
    document = CODEC.encode_state(replica)
    assert document == {"replica": 1, "replicas": 3, "payload": [[1, 0, 1]], "local": None}
    assert CODEC.decode_state(document) == replica
    jsonschema.validate(document, CODEC.schemas()["state"])
    for op in (spec.Increment(), spec.Decrement()):
        event_doc = CODEC.encode_event(ClientUpdate(op))
        assert CODEC.decode_event(event_doc) == ClientUpdate(op)
        jsonschema.validate(event_doc, CODEC.schemas()["event"])


def test_codec_refuses_a_malformed_state() -> None:
    with pytest.raises(DecodeError) as error:
        CODEC.decode_state({"replica": 0, "replicas": 2, "payload": [[0, 0, 0]], "local": None})
    assert error.value.path == "$.payload"


# -- Model checks ---------------------------------------------------------------------------------


def test_default_config_is_the_small_one() -> None:
    assert PROTOCOL.default_config.name == "small"
    assert PROTOCOL.default_config.params == {"replicas": 3, "updates": 1, "sends": 1}


@pytest.mark.parametrize(
    ("config_name", "distinct"), [("tiny", 240), ("small", 54086)], ids=["tiny", "small"]
)
def test_config_explores_completely(config_name: str, distinct: int) -> None:
    config = PROTOCOL.config(config_name)
    result = explore(PROTOCOL.build(config, None))
    assert result.outcome == "ok"
    assert result.complete
    assert result.violation is None
    assert set(result.reached) == {"all_updates_everywhere", "concurrent_merge"}
    assert result.distinct_states == distinct == config.expected_distinct_states


def test_every_config_pins_its_state_count() -> None:
    assert all(config.expected_distinct_states is not None for config in CONFIGS)


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_is_caught(mutant: Mutant) -> None:
    assert PROTOCOL.mutant(mutant.name) is mutant
    model = PROTOCOL.build(PROTOCOL.default_config, mutant).restricted_to([mutant.breaks])
    result = explore(model)
    assert result.outcome == "violation"
    assert result.violation is not None
    assert result.violation.property_name == mutant.breaks
    trace = result.violation.trace
    assert len(trace) >= 2
    assert trace[0].action is None
    assert trace[0].state == next(iter(model.initial_states()))


def test_decrement_lowers_p_is_caught_on_the_first_decrement() -> None:
    mutant = PROTOCOL.mutant("decrement-lowers-p")
    assert mutant is not None
    model = PROTOCOL.build(PROTOCOL.config("tiny"), mutant).restricted_to(["updates_inflate"])
    violation = explore(model).violation
    assert violation is not None
    assert [step.action_text for step in violation.trace[1:]] == [
        "replica 0: client update Decrement()"
    ]


def test_single_vector_loses_a_decrement_on_merge() -> None:
    mutant = PROTOCOL.mutant("single-vector")
    assert mutant is not None
    model = PROTOCOL.build(PROTOCOL.config("tiny"), mutant).restricted_to(["correct_value"])
    violation = explore(model).violation
    assert violation is not None
    last = violation.trace[-1].state
    # replica 1 has seen replica 0's decrement, but its entry for replica 0 did not take it
    assert last.seen[1] == frozenset({0})
    assert spec.value(impl.to_spec(last.nodes[1].payload, 2)) == 0


# -- Hypothesis: random schedules at 5 replicas, 6 updates and 8 snapshots each -------------------

HYPOTHESIS_SETTINGS = settings(settings.get_profile("ci"), max_examples=40, stateful_step_count=30)
PNCounterMachine = crdt_machine(SETUP)
TestPNCounterMachine = PNCounterMachine.TestCase
TestPNCounterMachine.settings = HYPOTHESIS_SETTINGS


def test_hypothesis_machine_catches_a_mutant() -> None:
    broken = crdt_machine(SETUP, mutant=PROTOCOL.mutant("merge-drops-n"))
    with pytest.raises(AssertionError, match="violated"):
        run_state_machine_as_test(broken, settings=HYPOTHESIS_SETTINGS)
