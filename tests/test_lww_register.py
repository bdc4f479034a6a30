"""LWW-Register (Shapiro et al. 2011, Spec. 8): spec, impl and bounded model checks."""

from __future__ import annotations

from itertools import product

import jsonschema
import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from mnemosyne_consensus.impl import lww_register as impl
from mnemosyne_consensus.impl.state_based import (
    NO_EFFECTS,
    ClientUpdate,
    FaultKind,
    GossipTimer,
    Receive,
    RejectReason,
    Replica,
    StateMessage,
)
from mnemosyne_consensus.model_checks.codec import DecodeError
from mnemosyne_consensus.model_checks.engine import explore
from mnemosyne_consensus.model_checks.lww_register import (
    CODEC,
    CONFIGS,
    MUTANTS,
    PROTOCOL,
    SETUP,
    tie_broken,
)
from mnemosyne_consensus.model_checks.machines import crdt_machine
from mnemosyne_consensus.model_checks.registry_types import Mutant
from mnemosyne_consensus.spec import lww_register as spec
from mnemosyne_consensus.spec.state_based import SystemState, UpdateRecord

Payload = spec.Payload

# -- Spec -----------------------------------------------------------------------------------------


def test_bottom_is_below_every_write() -> None:
    assert spec.initial(3) == spec.BOTTOM == Payload(0, -1, None)
    assert spec.value(spec.BOTTOM) is None
    for write in (Payload(0, 0, "a"), Payload(1, 2, "b")):
        assert spec.leq(spec.BOTTOM, write)
        assert not spec.leq(write, spec.BOTTOM)
        assert spec.join(spec.BOTTOM, write) == spec.join(write, spec.BOTTOM) == write


def test_larger_timestamp_wins_in_both_merge_orders() -> None:
    older, newer = Payload(1, 2, "old"), Payload(2, 0, "new")
    assert spec.join(older, newer) == newer
    assert spec.join(newer, older) == newer
    assert spec.leq(older, newer)
    assert not spec.leq(newer, older)


def test_equal_timestamps_are_resolved_by_replica_id_in_both_merge_orders() -> None:
    low, high = Payload(5, 0, "from 0"), Payload(5, 1, "from 1")
    assert spec.join(low, high) == high
    assert spec.join(high, low) == high
    assert spec.value(spec.join(high, low)) == "from 1"
    assert spec.leq(low, high)
    assert not spec.leq(high, low)


def test_join_is_idempotent_and_associative_on_hand_examples() -> None:
    writes = [spec.BOTTOM, Payload(1, 0, "a"), Payload(1, 1, "b"), Payload(2, 0, "c")]
    for x in writes:
        assert spec.join(x, x) == x
    for x, y, z in product(writes, writes, writes):
        assert spec.join(spec.join(x, y), z) == spec.join(x, spec.join(y, z))


def test_assign_tags_the_value_with_timestamp_and_replica() -> None:
    payload = spec.assign(spec.BOTTOM, 2, spec.Assign("v", 7))
    assert payload == Payload(7, 2, "v")
    assert spec.value(payload) == "v"


def test_a_write_must_win_at_its_source() -> None:
    held = Payload(2, 1, "b")
    assert spec.update_enabled(held, 2, spec.Assign("c", 2))  # (2, 2) > (2, 1): tie-break wins
    assert not spec.update_enabled(held, 0, spec.Assign("c", 2))  # (2, 0) < (2, 1)
    assert not spec.update_enabled(held, 1, spec.Assign("c", 2))  # (2, 1): the same key again
    assert not spec.update_enabled(held, 3, spec.Assign("c", 1))  # older timestamp
    assert spec.update_enabled(held, 0, spec.Assign("c", 3))
    assert spec.update_enabled(spec.BOTTOM, 0, spec.Assign("c", 0))  # (0, 0) > (0, -1)


def test_update_enabled_rejects_malformed_writes() -> None:
    assert not spec.update_enabled(spec.BOTTOM, 0, spec.Assign("c", -1))
    assert not spec.update_enabled(spec.BOTTOM, 0, spec.Assign("c", True))
    assert not spec.update_enabled(spec.BOTTOM, -1, spec.Assign("c", 1))
    assert not spec.update_enabled(spec.BOTTOM, 0, "assign")  # type: ignore[arg-type]


def test_intended_is_the_value_of_the_largest_write_seen() -> None:
    writes = [(0, spec.Assign("a", 2)), (1, spec.Assign("b", 2)), (2, spec.Assign("c", 1))]
    records = [UpdateRecord(uid, r, op, frozenset()) for uid, (r, op) in enumerate(writes)]
    assert spec.intended(records) == "b"  # (2, 1) is the largest key
    assert spec.intended(records[::-1]) == "b"
    assert spec.intended([records[0], records[2]]) == "a"
    assert spec.intended([]) is None


# -- Impl -----------------------------------------------------------------------------------------


def _holding(register: impl.Register, replica_id: int = 0, n: int = 3) -> Replica[impl.Register]:
    """A replica that has merged ``register`` from a peer."""
    replica, effects = impl.step(impl.new(replica_id, n), Receive(StateMessage(2, register)))
    assert effects.faults == ()
    assert replica.payload == register
    return replica


def test_impl_write_then_gossip() -> None:
    replica, effects = impl.step(impl.new(1, 3), ClientUpdate(spec.Assign("x", 4)))
    assert effects.rejections == ()
    assert replica.payload == (4, 1, "x")
    assert impl.to_spec(replica.payload, 3) == Payload(4, 1, "x")
    _, effects = impl.step(replica, GossipTimer())
    assert effects.broadcasts == (StateMessage(1, (4, 1, "x")),)


def test_impl_accepts_an_equal_timestamp_that_wins_the_tie_break() -> None:
    replica = _holding((2, 1, "b"), replica_id=2)
    after, effects = impl.step(replica, ClientUpdate(spec.Assign("c", 2)))
    assert effects.rejections == ()
    assert after.payload == (2, 2, "c")


def test_impl_merge_refines_spec_join() -> None:
    registers = [impl.EMPTY, *((t, r, v) for t in (0, 1, 2) for r in (0, 1) for v in ("a", 7))]
    for mine, theirs in product(registers, registers):
        assert impl.validate_payload(mine, 2) is None
        if mine[:2] == theirs[:2] and mine != theirs:
            continue  # two writes with one key never occur (the spec's precondition)
        merged = impl.merge(mine, theirs)
        assert impl.to_spec(merged, 2) == spec.join(impl.to_spec(mine, 2), impl.to_spec(theirs, 2))


@pytest.mark.parametrize(
    ("held", "replica_id", "timestamp"),
    [
        ((2, 1, "b"), 0, 2),  # (2, 0) loses the tie-break to (2, 1)
        ((2, 1, "b"), 1, 2),  # (2, 1) is the key held: not fresh
        ((2, 1, "b"), 2, 1),  # an older timestamp
    ],
)
def test_impl_rejects_stale_timestamp_and_changes_nothing(
    held: impl.Register, replica_id: int, timestamp: int
) -> None:
    replica = _holding(held, replica_id)
    after, effects = impl.step(replica, ClientUpdate(spec.Assign("new", timestamp)))
    assert [r.reason for r in effects.rejections] == [RejectReason.STALE_TIMESTAMP]
    assert after == replica


def test_impl_rejects_rewriting_its_own_timestamp() -> None:
    replica, _ = impl.step(impl.new(0, 2), ClientUpdate(spec.Assign("a", 1)))
    after, effects = impl.step(replica, ClientUpdate(spec.Assign("b", 1)))
    assert [r.reason for r in effects.rejections] == [RejectReason.STALE_TIMESTAMP]
    assert after == replica


@pytest.mark.parametrize(
    "op",
    [
        "assign",  # not an Assign
        None,
        spec.Assign("a", -1),  # negative timestamp
        spec.Assign("a", True),  # bool is not a timestamp
        spec.Assign("a", 1.5),  # float is not a timestamp
        spec.Assign(None, 3),  # None is the empty register's value, not one to write
        spec.Assign(2.5, 3),  # neither string nor integer
        spec.Assign(False, 3),  # bool is not an integer value
    ],
)
def test_impl_rejects_malformed_operation_and_changes_nothing(op: object) -> None:
    replica = _holding((1, 1, "b"))
    after, effects = impl.step(replica, ClientUpdate(op))
    assert [r.reason for r in effects.rejections] == [RejectReason.MALFORMED_OPERATION]
    assert after == replica


@pytest.mark.parametrize("sender", [3, 9, -1, "0", None, True])
def test_impl_faults_unknown_sender_and_changes_nothing(sender: object) -> None:
    replica = _holding((1, 1, "b"))
    after, effects = impl.step(replica, Receive(StateMessage(sender, (5, 0, "x"))))
    assert [f.kind for f in effects.faults] == [FaultKind.UNKNOWN_SENDER]
    assert effects.faults[0].sender == sender
    assert after == replica


@pytest.mark.parametrize(
    "payload",
    [
        [5, 0, "x"],  # a list, not a tuple
        (5, 0),  # a pair, not a triple
        (5, 0, "x", 1),  # four fields
        (0, -1, "x"),  # an empty register holds no value
        (3, -1, None),  # an empty register has timestamp 0
        (False, -1, None),  # bool is not a timestamp, even for the empty register
        (5, 3, "x"),  # replica 3 of 3
        (5, -2, "x"),  # negative replica
        (5, True, "x"),  # bool is not a replica id
        (-5, 0, "x"),  # negative timestamp
        (5.0, 0, "x"),  # float timestamp
        (5, 0, None),  # a write of no value
        (5, 0, 1.5),  # neither string nor integer
    ],
)
def test_impl_faults_malformed_payload_and_changes_nothing(payload: object) -> None:
    replica = _holding((1, 1, "b"))
    after, effects = impl.step(replica, Receive(StateMessage(0, payload)))
    assert [f.kind for f in effects.faults] == [FaultKind.MALFORMED_PAYLOAD]
    assert after == replica


def test_impl_accepts_the_empty_register_from_the_wire() -> None:
    replica = _holding((1, 1, "b"))
    after, effects = impl.step(replica, Receive(StateMessage(0, (0, -1, None))))
    assert effects == NO_EFFECTS
    assert after == replica


@pytest.mark.parametrize("register", [impl.EMPTY, (2, 1, "b"), (0, 0, 7)])
def test_codec_round_trips_states(register: impl.Register) -> None:
    replica = Replica(1, 3, register, None)
    document = CODEC.encode_state(replica)
    assert document["payload"] == list(register)
    assert CODEC.decode_state(document) == replica
    jsonschema.validate(document, CODEC.schemas()["state"])


def test_codec_round_trips_an_assignment() -> None:
    event = ClientUpdate(spec.Assign("a", 2))
    document = CODEC.encode_event(event)
    assert document == {
        "type": "client_update",
        "op": {"type": "assign", "value": "a", "timestamp": 2},
    }
    assert CODEC.decode_event(document) == event
    jsonschema.validate(document, CODEC.schemas()["event"])


@pytest.mark.parametrize("payload", [[0, -1, "x"], [1, 3, "x"], [1, 0, None], [1, 0]])
def test_codec_refuses_a_malformed_state(payload: list[object]) -> None:
    document = {"replica": 0, "replicas": 3, "payload": payload, "local": None}
    with pytest.raises(DecodeError) as error:
        CODEC.decode_state(document)
    assert error.value.path == "$.payload"


@pytest.mark.parametrize("payload", [[0, -1, "x"], [3, -1, None], [1, 0, None], [1, 0]])
def test_state_schema_refuses_a_malformed_register(payload: list[object]) -> None:
    document = {"replica": 0, "replicas": 3, "payload": payload, "local": None}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, CODEC.schemas()["state"])


# -- Model checks ---------------------------------------------------------------------------------


def test_default_config_is_the_small_one() -> None:
    config = PROTOCOL.default_config
    assert config.name == "small"
    assert config.params["replicas"] == 3
    assert config.params["timestamps"] == (1, 2)


@pytest.mark.parametrize(
    ("config_name", "distinct"), [("tiny", 796), ("small", 40642)], ids=["tiny", "small"]
)
def test_config_explores_completely(config_name: str, distinct: int) -> None:
    config = PROTOCOL.config(config_name)
    result = explore(PROTOCOL.build(config, None))
    assert result.outcome == "ok"
    assert result.complete
    assert result.violation is None
    assert set(result.reached) == {"all_updates_everywhere", "concurrent_merge", "tie_broken"}
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


def test_no_tiebreak_diverges_on_equal_timestamps() -> None:
    mutant = PROTOCOL.mutant("no-tiebreak")
    assert mutant is not None
    model = PROTOCOL.build(PROTOCOL.config("tiny"), mutant).restricted_to(["convergence"])
    violation = explore(model).violation
    assert violation is not None
    last = violation.trace[-1].state
    # both replicas have seen both writes, which share a timestamp, and each kept its own
    assert last.seen[0] == last.seen[1] == frozenset({0, 1})
    assert last.updates[0].op.timestamp == last.updates[1].op.timestamp
    assert [node.payload[1] for node in last.nodes] == [0, 1]


def test_tie_broken_needs_equal_timestamps_from_two_replicas() -> None:
    def state(writes: list[tuple[int, int]]) -> SystemState:
        updates = tuple(
            UpdateRecord(uid, r, spec.Assign("v", t), frozenset())
            for uid, (r, t) in enumerate(writes)
        )
        everything = frozenset(range(len(updates)))
        return SystemState((spec.BOTTOM,) * 2, frozenset(), updates, (everything, frozenset()))

    assert tie_broken(state([(0, 1), (1, 1)]))
    assert not tie_broken(state([(0, 1), (1, 2)]))
    assert not tie_broken(state([(0, 1), (0, 1)]))


# -- Hypothesis: random schedules at 5 replicas, 6 updates and 8 snapshots each -------------------

HYPOTHESIS_SETTINGS = settings(settings.get_profile("ci"), max_examples=40, stateful_step_count=30)
LwwRegisterMachine = crdt_machine(SETUP)
TestLwwRegisterMachine = LwwRegisterMachine.TestCase
TestLwwRegisterMachine.settings = HYPOTHESIS_SETTINGS


def test_hypothesis_machine_catches_a_mutant() -> None:
    broken = crdt_machine(SETUP, mutant=PROTOCOL.mutant("keep-incoming"))
    with pytest.raises(AssertionError, match="violated"):
        run_state_machine_as_test(broken, settings=HYPOTHESIS_SETTINGS)
