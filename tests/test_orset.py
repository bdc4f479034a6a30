"""OR-Set (add-wins, Shapiro et al. 2011 §3.3.5): spec, impl validation, model checks, mutants."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnemosyne_consensus.impl import orset as impl
from mnemosyne_consensus.impl.state_based import (
    ClientUpdate,
    FaultKind,
    GossipTimer,
    Receive,
    RejectReason,
    StateMessage,
)
from mnemosyne_consensus.model_checks.engine import explore
from mnemosyne_consensus.model_checks.orset import PROTOCOL, forged_messages
from mnemosyne_consensus.spec import orset as spec
from mnemosyne_consensus.spec.state_based import UpdateRecord

# -- Model checks ----------------------------------------------------------------------------------

PINNED = {"small": 11333, "tiny": 2732, "deep": 28142, "two-elements": 23264}


@pytest.mark.parametrize("config", PROTOCOL.configs, ids=lambda c: c.name)
def test_config_explores_completely(config):
    result = explore(PROTOCOL.build(config, None))
    assert result.outcome == "ok", result.violation
    assert result.complete
    assert "add_wins" in result.reached
    assert result.unreached == ()
    assert result.distinct_states == PINNED[config.name] == config.expected_distinct_states


def test_default_config_is_three_replicas():
    assert PROTOCOL.default_config.name == "small"
    assert PROTOCOL.default_config.params["replicas"] == 3


@pytest.mark.parametrize("mutant", PROTOCOL.mutants, ids=lambda m: m.name)
@pytest.mark.parametrize("config_name", ["small", "tiny"])
def test_mutant_caught(mutant, config_name):
    config = PROTOCOL.config(config_name)
    result = explore(PROTOCOL.build(config, mutant).restricted_to([mutant.breaks]))
    assert result.outcome == "violation"
    assert result.violation is not None
    assert result.violation.property_name == mutant.breaks
    assert len(result.violation.trace) > 1


def test_remove_unobserved_shortest_trace_is_the_concurrent_add():
    tiny = PROTOCOL.config("tiny")
    mutant = PROTOCOL.mutant("remove-unobserved")
    result = explore(PROTOCOL.build(tiny, mutant).restricted_to([mutant.breaks]))
    actions = [step.action_text for step in result.violation.trace[1:]]
    assert actions == [
        "replica 0: client update Add(element='x', tag=(0, 0))",
        "replica 0: client update Remove(element='x')",
        "replica 0: gossip timer fires, broadcast state",
        "replica 1: client update Add(element='x', tag=(1, 0))",
        "replica 1: receive state of replica 0: ((), (('x', (0, 0)),))",
    ]


def test_remove_unobserved_passes_every_lattice_law_on_tiny():
    # remove-wins by merge looks like a semilattice: only the causal properties catch it (a
    # tag arriving after a tombstone dies even when its add had observed the remove, so the
    # result depends on delivery order as well as on the updates seen)
    tiny = PROTOCOL.config("tiny")
    mutant = PROTOCOL.mutant("remove-unobserved")
    model = PROTOCOL.build(tiny, mutant)
    broken = {
        name
        for name in model.property_names()
        if explore(model.restricted_to([name])).outcome == "violation"
    }
    assert broken == {"convergence", "correct_value"}


# -- Spec ------------------------------------------------------------------------------------------


def _update(payload, replica, op):
    assert spec.update_enabled(payload, replica, op)
    return spec.update(payload, replica, op)


def test_concurrent_add_and_remove_add_wins_in_both_merge_orders():
    r0 = _update(spec.EMPTY, 0, spec.Add("x", (0, 0)))
    r1 = spec.join(spec.EMPTY, r0)
    r1 = _update(r1, 1, spec.Remove("x"))  # observed only (0, 0)
    r0 = _update(r0, 0, spec.Add("x", (0, 1)))  # concurrent with the remove
    assert spec.elements(r1) == ()
    assert spec.join(r0, r1) == spec.join(r1, r0)
    assert spec.elements(spec.join(r0, r1)) == ("x",)
    assert spec.elements(spec.join(r1, r0)) == ("x",)


def test_remove_after_observing_every_add_is_absent():
    r0 = _update(spec.EMPTY, 0, spec.Add("x", (0, 0)))
    r1 = _update(spec.EMPTY, 1, spec.Add("x", (1, 0)))
    r1 = spec.join(r1, r0)
    r1 = _update(r1, 1, spec.Remove("x"))
    assert spec.elements(r1) == ()
    assert spec.elements(spec.join(r0, r1)) == ()
    assert spec.elements(spec.join(r1, r0)) == ()


def test_re_add_after_remove_is_present():
    p = _update(spec.EMPTY, 0, spec.Add("x", (0, 0)))
    p = _update(p, 0, spec.Remove("x"))
    p = _update(p, 0, spec.Add("x", (0, 1)))
    assert spec.lookup(p, "x")
    assert spec.elements(p) == ("x",)


def test_payload_is_canonical_whatever_the_order():
    a = _update(spec.EMPTY, 0, spec.Add("y", (0, 0)))
    a = _update(a, 0, spec.Add("x", (0, 1)))
    b = _update(spec.EMPTY, 0, spec.Add("x", (0, 1)))
    b = _update(b, 0, spec.Add("y", (0, 0)))
    assert a == b
    assert a.added == (("x", (0, 1)), ("y", (0, 0)))


def test_spec_preconditions():
    p = _update(spec.EMPTY, 0, spec.Add("x", (0, 0)))
    assert not spec.update_enabled(p, 0, spec.Add("y", (0, 0)))  # tag used
    assert not spec.update_enabled(p, 0, spec.Add("y", (1, 0)))  # another replica's tag
    assert not spec.update_enabled(p, 0, spec.Add("y", (0, -1)))  # not a tag
    assert not spec.update_enabled(p, 0, spec.Remove("y"))  # absent
    assert not spec.update_enabled(p, 0, "add y")  # not an op
    assert spec.update_enabled(p, 0, spec.Remove("x"))
    removed = spec.update(p, 0, spec.Remove("x"))
    assert not spec.update_enabled(removed, 0, spec.Add("z", (0, 0)))  # tombstoned tag, still used


def test_lattice_order_and_join():
    a = _update(spec.EMPTY, 0, spec.Add("x", (0, 0)))
    b = _update(a, 0, spec.Remove("x"))
    c = _update(spec.EMPTY, 1, spec.Add("x", (1, 0)))
    assert spec.leq(spec.EMPTY, a) and spec.leq(a, b) and not spec.leq(b, a)
    j = spec.join(b, c)
    assert spec.leq(b, j) and spec.leq(c, j)
    assert spec.join(j, j) == j


def _record(uid, replica, op, observed=()):
    return UpdateRecord(uid, replica, op, frozenset(observed))


def test_intended_is_add_wins():
    add0 = _record(0, 0, spec.Add("x", (0, 0)))
    remove = _record(1, 1, spec.Remove("x"), observed={0})
    add_concurrent = _record(2, 0, spec.Add("x", (0, 1)), observed={0})
    add_y = _record(3, 1, spec.Add("y", (1, 0)), observed={0, 1})
    assert spec.intended([add0]) == ("x",)
    assert spec.intended([add0, remove]) == ()
    assert spec.intended([add0, remove, add_concurrent]) == ("x",)
    assert spec.intended([add0, remove, add_y]) == ("y",)


# -- Impl: client operations -----------------------------------------------------------------------


def _apply(replica, op):
    return impl.step(replica, ClientUpdate(op))


def _with_x(replica_id=0, n=3):
    replica, effects = _apply(impl.new(replica_id, n), spec.Add("x", (replica_id, 0)))
    assert effects.rejections == ()
    return replica


def test_impl_add_and_remove():
    r = _with_x()
    assert r.payload == ((("x", ((0, 0),)),), ())
    assert r.local == (0,)
    r, effects = _apply(r, spec.Remove("x"))
    assert effects.rejections == ()
    assert r.payload == ((), (("x", (0, 0)),))
    assert r.local == (0,)


@pytest.mark.parametrize(
    "op",
    [
        "add x",
        None,
        spec.Add(1, (0, 1)),
        spec.Add("y", (0, -1)),
        spec.Add("y", (True, 1)),
        spec.Add("y", "tag"),
        spec.Add("y", (0, 1, 2)),
        spec.Add("y", (7, 0)),  # names no replica of the configuration
        spec.Remove(("x",)),
    ],
)
def test_impl_rejects_malformed_operation(op):
    r = _with_x()
    new, effects = _apply(r, op)
    assert [j.reason for j in effects.rejections] == [RejectReason.MALFORMED_OPERATION]
    assert new == r
    assert effects.broadcasts == () and effects.faults == ()


def test_impl_rejects_another_replicas_tag():
    r = _with_x()
    new, effects = _apply(r, spec.Add("y", (1, 5)))
    assert [j.reason for j in effects.rejections] == [RejectReason.TAG_NOT_FRESH]
    assert new == r


def test_impl_rejects_a_reused_tag_even_after_its_removal():
    r = _with_x()
    new, effects = _apply(r, spec.Add("y", (0, 0)))
    assert [j.reason for j in effects.rejections] == [RejectReason.TAG_NOT_FRESH]
    assert new == r
    removed, _ = _apply(r, spec.Remove("x"))
    again, effects = _apply(removed, spec.Add("x", (0, 0)))
    assert [j.reason for j in effects.rejections] == [RejectReason.TAG_NOT_FRESH]
    assert again == removed


def test_impl_rejects_a_tag_a_peer_already_circulated():
    # a well-formed state from replica 1 carrying a tag in replica 0's name
    r = impl.new(0, 3)
    r, effects = impl.step(r, Receive(StateMessage(1, ((("x", ((0, 4),)),), ()))))
    assert effects.faults == ()
    new, effects = _apply(r, spec.Add("y", (0, 4)))
    assert [j.reason for j in effects.rejections] == [RejectReason.TAG_NOT_FRESH]
    assert new == r


@pytest.mark.parametrize("element", ["y", "x"])
def test_impl_rejects_removing_an_absent_element(element):
    r = _with_x()
    if element == "x":
        r, _ = _apply(r, spec.Remove("x"))  # absent again once removed
    new, effects = _apply(r, spec.Remove(element))
    assert [j.reason for j in effects.rejections] == [RejectReason.PRECONDITION_FAILED]
    assert new == r


def test_impl_remove_keeps_unobserved_tags():
    r0 = _with_x(0)
    r1 = _with_x(1)
    r1, _ = impl.step(r1, Receive(StateMessage(0, r0.payload)))
    r1, _ = _apply(r1, spec.Remove("x"))
    r0, _ = _apply(r0, spec.Add("x", (0, 1)))  # concurrent with the remove
    for a, b in ((r0, r1), (r1, r0)):
        merged, _ = impl.step(a, Receive(StateMessage(b.replica_id, b.payload)))
        assert merged.payload == ((("x", ((0, 1),)),), (("x", (0, 0)), ("x", (1, 0))))


def test_impl_gossip_broadcasts_the_payload():
    r = _with_x()
    new, effects = impl.step(r, GossipTimer())
    assert new == r
    assert effects.broadcasts == (StateMessage(0, r.payload),)


# -- Impl: messages from peers ---------------------------------------------------------------------


@pytest.mark.parametrize("sender", [3, 7, -1, "1", None])
def test_impl_faults_unknown_sender(sender):
    r = _with_x()
    new, effects = impl.step(r, Receive(StateMessage(sender, impl.EMPTY)))
    assert [f.kind for f in effects.faults] == [FaultKind.UNKNOWN_SENDER]
    assert new == r


MALFORMED_PAYLOADS = {
    "not a tuple": [(), ()],
    "wrong arity": ((), (), ()),
    "live not a tuple": ([], ()),
    "tombstones not a tuple": ((), frozenset()),
    "entry not a pair": ((("x",),), ()),
    "element not a string": (((1, ((0, 0),)),), ()),
    "empty tags": ((("x", ()),), ()),
    "tags not a tuple": ((("x", [(0, 0)]),), ()),
    "elements unsorted": ((("y", ((0, 0),)), ("x", ((0, 1),))), ()),
    "element duplicated": ((("x", ((0, 0),)), ("x", ((0, 1),))), ()),
    "tag names no replica": ((("x", ((3, 0),)),), ()),
    "negative counter": ((("x", ((0, -1),)),), ()),
    "bool in tag": ((("x", ((0, True),)),), ()),
    "tag not a pair": ((("x", ((0, 0, 0),)),), ()),
    "tags unsorted": ((("x", ((1, 0), (0, 0))),), ()),
    "tag duplicated": ((("x", ((0, 0), (0, 0))),), ()),
    "tag on two elements": ((("x", ((0, 0),)), ("y", ((0, 0),))), ()),
    "tag live and tombstoned": ((("x", ((0, 0),)),), (("x", (0, 0)),)),
    "tombstone not a pair": ((), (("x",),)),
    "tombstone element not a string": ((), ((1, (0, 0)),)),
    "tombstone tag bad": ((), (("x", (0, -2)),)),
    "tombstones unsorted": ((), (("y", (0, 0)), ("x", (0, 1)))),
    "tombstone duplicated": ((), (("x", (0, 0)), ("x", (0, 0)))),
    "tombstone tag on two elements": ((), (("x", (0, 0)), ("y", (0, 0)))),
}


@pytest.mark.parametrize("payload", MALFORMED_PAYLOADS.values(), ids=MALFORMED_PAYLOADS.keys())
def test_impl_faults_malformed_payload(payload):
    r = _with_x()
    new, effects = impl.step(r, Receive(StateMessage(1, payload)))
    assert [f.kind for f in effects.faults] == [FaultKind.MALFORMED_PAYLOAD]
    assert effects.faults[0].sender == 1
    assert new == r


def test_impl_accepts_a_tombstone_without_live_add():
    # documented decision: a tombstone stands for its add and its removal
    r = impl.new(0, 2)
    new, effects = impl.step(r, Receive(StateMessage(1, ((), (("x", (1, 0)),)))))
    assert effects.faults == ()
    assert new.payload == ((), (("x", (1, 0)),))
    assert impl.to_spec(new.payload, 2) == spec.Payload((("x", (1, 0)),), (("x", (1, 0)),))


def test_model_forged_messages_are_all_rejected():
    config = PROTOCOL.default_config
    r = _with_x(0, config.params["replicas"])
    for message in forged_messages(config):
        new, effects = impl.step(r, Receive(message))
        assert len(effects.faults) == 1
        assert new == r


# -- Impl refines spec (random schedules) ----------------------------------------------------------

N = 3

_op = st.one_of(
    st.builds(lambda i, e: ("add", i, e), st.integers(0, N - 1), st.sampled_from("xy")),
    st.builds(lambda i, e: ("remove", i, e), st.integers(0, N - 1), st.sampled_from("xy")),
    st.builds(lambda i, j: ("merge", i, j), st.integers(0, N - 1), st.integers(0, N - 1)),
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(_op, max_size=25))
def test_impl_matches_spec_through_abstraction(schedule):
    replicas = [impl.new(i, N) for i in range(N)]
    abstract = [spec.EMPTY] * N
    counters = [0] * N
    for kind, i, arg in schedule:
        if kind == "merge":
            message = StateMessage(arg, replicas[arg].payload)
            replicas[i], effects = impl.step(replicas[i], Receive(message))
            assert effects.faults == ()
            abstract[i] = spec.join(abstract[i], abstract[arg])
        else:
            op = spec.Add(arg, (i, counters[i])) if kind == "add" else spec.Remove(arg)
            enabled = spec.update_enabled(abstract[i], i, op)
            replicas[i], effects = _apply(replicas[i], op)
            assert (effects.rejections == ()) == enabled
            if enabled:
                abstract[i] = spec.update(abstract[i], i, op)
                if kind == "add":
                    counters[i] += 1
        for r, a in zip(replicas, abstract, strict=True):
            assert impl.validate_payload(r.payload, N) is None
            assert impl.to_spec(r.payload, N) == a
            assert impl.from_spec(a) == r.payload
