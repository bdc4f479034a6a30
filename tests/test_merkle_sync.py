"""Merkle state sync through every layer: tree, pull, lies refused, model, mutants, oracle."""

import json

import attrs
import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from mnemosyne_consensus.impl import merkle_sync as impl
from mnemosyne_consensus.model_checks import merkle_sync as model
from mnemosyne_consensus.model_checks.engine import explore
from mnemosyne_consensus.model_checks.validate import validate_lines
from mnemosyne_consensus.model_checks.vectors import generate_cases, random_runs
from mnemosyne_consensus.spec import merkle_sync as spec
from mnemosyne_consensus.spec.merkle_sync import EMPTY, ROOT, Branch, Empty, Leaf

PROTOCOL = model.PROTOCOL
SEED_A, SEED_B = model.SEED_A, model.SEED_B


def store(**entries):
    return spec.canonical({k.encode(): v.encode() for k, v in entries.items()})


def pair(a_store, b_store):
    a = impl.new(a_store, SEED_A, impl.public_key(SEED_B))
    b = impl.new(b_store, SEED_B, impl.public_key(SEED_A))
    return a, b


def pull(a, b):
    """Runs a pull to the end, answers in order; returns A and the number of requests."""
    a, effects = impl.step(a, impl.StartSync())
    queue = list(effects.sends)
    while queue:
        _, answer = impl.step(b, impl.Receive(queue.pop(0)))
        for message in answer.sends:
            a, effects = impl.step(a, impl.Receive(message))
            assert not effects.faults, effects.faults
            queue.extend(effects.sends)
    return a


# -- the commitment: hand-computed hashes --------------------------------------------------------


def test_the_tree_of_three_keys_is_the_hand_computed_one():
    # key hashes: k0 = 1101..., k1 = 0110..., k2 = 0000...: k0 alone on the right, k1 and k2
    # split one level further down on the left
    s = store(k0="x", k1="y", k2="z")
    leaf = {k: spec.leaf_hash(k, v) for k, v in s}
    left = spec.branch_hash(2, leaf[b"k2"], leaf[b"k1"])
    root = spec.branch_hash(3, left, leaf[b"k0"])
    assert spec.root_hash(s) == root == impl.build_index(s).root
    assert spec.view_at(s, (1, 0)) == Branch(2, leaf[b"k2"], leaf[b"k1"])
    assert spec.view_at(s, (1, 1)) == Leaf(b"k0", b"x")
    # below a leaf the same key is still the subtree's only one; beside it, nothing
    assert spec.view_at(s, (2, 3)) == Leaf(b"k0", b"x")
    assert spec.view_at(s, (2, 2)) == Empty()
    assert spec.leaf_hash(b"k0", b"x") == spec.sha256(b"\x00" + spec.sha256(b"k0") + b"x")
    assert spec.root_hash(()) == EMPTY == bytes(32)


def test_the_shape_depends_only_on_the_keys_present():
    one, other = store(k0="x", k1="y", k2="z"), store(k0="p", k1="q", k2="r")
    for path in ((0, 0), (1, 0), (1, 1), (2, 0), (2, 1)):
        assert type(spec.view_at(one, path)) is type(spec.view_at(other, path))


def test_incremental_index_update_equals_a_rebuild():
    before = spec.canonical({f"k{i}".encode(): b"v" for i in range(40)})
    after_entries = dict(before)
    del after_entries[b"k3"], after_entries[b"k17"]
    after_entries[b"new"] = b"n"
    after_entries[b"k5"] = b"changed"
    after = spec.canonical(after_entries)
    index = impl.build_index(before)
    removed = [(256, int.from_bytes(spec.key_hash(k), "big")) for k in (b"k3", b"k17", b"k5")]
    updated = impl.replaced(index, removed, [(b"new", b"n"), (b"k5", b"changed")])
    assert updated.root == spec.root_hash(after) == impl.build_index(after).root


# -- the pull ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a_store", "b_store"),
    [
        (store(), store(k0="x", k1="y")),
        (store(k0="x", k1="y"), store()),
        (store(k0="x", k1="y", k2="z"), store(k0="x", k1="Y", k3="w")),
        (store(k0="x"), store(k0="x")),
    ],
)
def test_a_pull_makes_a_equal_to_b_within_the_request_bound(a_store, b_store):
    a, b = pair(a_store, b_store)
    after = pull(a, b)
    assert after.store == b_store
    assert after.session.phase is impl.Phase.DONE
    assert after.session.requests <= spec.request_bound(a_store, b_store)


def test_equal_states_need_one_request():
    a, b = pair(store(k0="x"), store(k0="x"))
    assert pull(a, b).session.requests == 1


def _descending(a_store, b_store):
    """A after the signed root, waiting for the root node."""
    a, b = pair(a_store, b_store)
    a, _ = impl.step(a, impl.StartSync())
    _, answer = impl.step(b, impl.Receive(impl.RootRequest()))
    (signed,) = answer.sends
    a, _ = impl.step(a, impl.Receive(signed))
    return a, b, signed


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda a, b, s: impl.SignedRoot(s.root, s.count, impl.sign_root(SEED_A, s.root, 0)),
         impl.FaultKind.UNSOLICITED),
        (lambda a, b, s: impl.NodeAnswer((1, 0), Empty()), impl.FaultKind.UNSOLICITED),
        (lambda a, b, s: impl.NodeAnswer(ROOT, "view"), impl.FaultKind.MALFORMED),
        (lambda a, b, s: impl.NodeAnswer(ROOT, Empty()), impl.FaultKind.WRONG_HASH),
        (lambda a, b, s: impl.NodeAnswer(ROOT, Leaf(b"k0", b"lie")), impl.FaultKind.WRONG_HASH),
    ],
)  # fmt: skip
def test_lies_while_descending_are_refused_with_a_unchanged(make, kind):
    a, b, signed = _descending(store(k0="x"), store(k0="x", k1="y", k2="z"))
    after, effects = impl.step(a, impl.Receive(make(a, b, signed)))
    assert after == a
    assert [f.kind for f in effects.faults] == [kind]


def test_a_forged_root_signature_is_refused():
    a, _ = pair(store(k0="x"), store(k1="y"))
    a, _ = impl.step(a, impl.StartSync())
    root = spec.root_hash(store(k1="y"))
    forged = impl.SignedRoot(root, 1, impl.sign_root(model.SEED_BYZANTINE, root, 1))
    after, effects = impl.step(a, impl.Receive(forged))
    assert after == a and [f.kind for f in effects.faults] == [impl.FaultKind.BAD_SIGNATURE]
    tampered_count = impl.SignedRoot(root, 2, impl.sign_root(SEED_B, root, 1))
    after, effects = impl.step(a, impl.Receive(tampered_count))
    assert after == a and [f.kind for f in effects.faults] == [impl.FaultKind.BAD_SIGNATURE]


def _lying_root(view, count):
    """A descending under a root the peer B signed over ``view`` (a Byzantine B)."""
    a, _ = pair(store(k2="z"), ())
    a, _ = impl.step(a, impl.StartSync())
    root = spec.view_hash(view)
    a, effects = impl.step(
        a, impl.Receive(impl.SignedRoot(root, count, impl.sign_root(SEED_B, root, count)))
    )
    assert not effects.faults
    return a


def test_a_leaf_out_of_place_is_refused():
    out_of_place = Leaf(b"k0", b"x")  # k0's hash starts with 1: it cannot sit under path 0
    top = Branch(2, spec.view_hash(out_of_place), EMPTY)
    a = _lying_root(top, 2)
    a, effects = impl.step(a, impl.Receive(impl.NodeAnswer(ROOT, top)))
    assert not effects.faults
    after, effects = impl.step(a, impl.Receive(impl.NodeAnswer((1, 0), out_of_place)))
    assert after == a and [f.kind for f in effects.faults] == [impl.FaultKind.LEAF_OUT_OF_PLACE]


def test_noncanonical_branches_and_counts_are_refused():
    thin = Branch(1, spec.leaf_hash(b"k1", b"x"), EMPTY)
    a = _lying_root(thin, 1)
    after, effects = impl.step(a, impl.Receive(impl.NodeAnswer(ROOT, thin)))
    assert after == a and [f.kind for f in effects.faults] == [impl.FaultKind.NONCANONICAL]
    miscounted = Branch(3, spec.leaf_hash(b"k1", b"x"), EMPTY)
    a = _lying_root(miscounted, 2)
    after, effects = impl.step(a, impl.Receive(impl.NodeAnswer(ROOT, miscounted)))
    assert after == a and [f.kind for f in effects.faults] == [impl.FaultKind.NONCANONICAL]


def test_a_branch_at_full_depth_is_refused():
    a, _, _ = _descending(store(), store(k0="x", k1="y"))
    deep = (spec.DEPTH, 0)
    view = Branch(2, EMPTY, EMPTY)
    session = attrs.evolve(a.session, pending=((deep, spec.view_hash(view)),))
    a = attrs.evolve(a, session=session)
    after, effects = impl.step(a, impl.Receive(impl.NodeAnswer(deep, view)))
    assert after == a and [f.kind for f in effects.faults] == [impl.FaultKind.DEPTH_EXCEEDED]


def test_the_request_budget_is_enforced():
    a, b, _ = _descending(store(), store(k0="x", k1="y"))
    session = attrs.evolve(a.session, requests=impl.request_budget(a.session.count, 0))
    a = attrs.evolve(a, session=session)
    view = b.index.view_at(ROOT)
    after, effects = impl.step(a, impl.Receive(impl.NodeAnswer(ROOT, view)))
    assert after == a and [f.kind for f in effects.faults] == [impl.FaultKind.BUDGET_EXCEEDED]


def test_a_second_start_is_rejected_while_a_pull_runs():
    a, _, _ = _descending(store(), store(k0="x"))
    after, effects = impl.step(a, impl.StartSync())
    assert after == a and effects.rejections == (impl.Rejection.SYNC_IN_PROGRESS,)


# -- the model -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_configs_hold_exhaustively_with_pinned_state_counts(name):
    config = PROTOCOL.config(name)
    model_ = PROTOCOL.build(config, None)
    result = explore(model_)
    assert result.outcome == "ok", result.violation
    assert result.complete and not result.unreached
    assert result.distinct_states == config.expected_distinct_states


@pytest.mark.parametrize("mutant", PROTOCOL.mutants, ids=lambda m: m.name)
def test_every_mutant_is_caught_with_a_trace(mutant):
    config = PROTOCOL.config(mutant.config or "tiny")
    result = explore(PROTOCOL.build(config, mutant).restricted_to([mutant.breaks]))
    assert result.outcome == "violation"
    assert result.violation.property_name == mutant.breaks
    assert len(result.violation.trace) >= 2


def test_apply_before_verify_applies_a_forged_leaf():
    mutant = PROTOCOL.mutant("apply-before-verify")
    model_ = PROTOCOL.build(PROTOCOL.config("tiny"), mutant)
    result = explore(model_.restricted_to(["nothing_unverified_applied"]))
    assert "forged" in result.violation.trace[-1].action_text


def test_every_always_property_has_a_mutant():
    model_ = PROTOCOL.build(PROTOCOL.default_config, None)
    always = {p.name for p in (*model_.invariants, *model_.step_properties)}
    assert always == {m.breaks for m in PROTOCOL.mutants}


def test_hypothesis_machine_five_peers():
    model.MerkleSyncMachine.completed = 0
    run_state_machine_as_test(
        model.MerkleSyncMachine,
        settings=settings(max_examples=25, stateful_step_count=40, derandomize=True, deadline=None),
    )
    assert model.MerkleSyncMachine.completed >= 10  # pulls ran to the end, not just started


def test_bench_counts_messages_against_the_bound():
    figures = model.bench_merkle_sync(keys=2_000, differing=10)
    assert figures["keys_changed_by_pull"] == 10
    assert figures["requests"] <= figures["request_bound_2_plus_2_d_log2n_plus_1"]
    assert figures["bytes_exchanged"] < figures["naive_full_transfer_bytes"]


# -- oracle --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cases():
    return generate_cases(PROTOCOL, model.ORACLE)


def test_vectors_have_lies_and_forged_signatures(cases):
    outcomes = {c.meta["expected"] for c in cases}
    assert {c.handler for c in cases} == {"start_sync", "receive"}
    assert {"fault:bad_signature", "fault:wrong_hash", "fault:leaf_out_of_place"} <= outcomes
    for case in cases:
        node = model.CODEC.decode_state(case.pre)
        post, effects = model.CODEC.step(node, model.CODEC.decode_event(case.event))
        assert model.CODEC.encode_state(post) == case.post
        assert model.CODEC.encode_effects(effects) == case.effects
        if case.meta["negative"]:
            assert case.post == case.pre


def test_codec_round_trips_a_node_mid_pull():
    a, _, _ = _descending(store(k0="x"), store(k0="x", k1="y", k2="z"))
    codec = model.CODEC
    doc = json.loads(json.dumps(codec.encode_state(a)))
    assert codec.decode_state(doc) == a
    for message in (
        impl.RootRequest(),
        impl.NodeRequest((3, 5)),
        impl.NodeAnswer((1, 1), Leaf(b"k", b"v")),
        impl.NodeAnswer(ROOT, Branch(2, EMPTY, bytes(range(32)))),
    ):
        event = impl.Receive(message)
        assert codec.decode_event(json.loads(json.dumps(codec.encode_event(event)))) == event


def test_generated_trace_validates_and_an_unverified_apply_is_caught():
    (run,) = random_runs(PROTOCOL, model.ORACLE, runs=1, steps=30, seed=3)
    lines = [json.dumps(line) for line in run]
    result = validate_lines("merkle-sync", lines, model.ORACLE.step_checker)
    assert result.failure is None and result.steps == 30
    header = json.loads(lines[0])
    a = model.initial_node(0, 2)
    started, _ = impl.step(a, impl.StartSync())
    forged_store = attrs.evolve(started, store=store(k0="lie"))
    step = {
        "node": 0,
        "event": {"type": "start_sync"},
        "state": model.CODEC.encode_state(forged_store),
    }
    header.pop("initial", None)
    failed = validate_lines(
        "merkle-sync", [json.dumps(header), json.dumps(step)], model.ORACLE.step_checker
    )
    assert failed.failure is not None and failed.failure.property_name == "refinement"
