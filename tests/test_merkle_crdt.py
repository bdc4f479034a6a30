"""Merkle-CRDT through every layer: spec, impl validation, bounded model, mutants, Hypothesis,
proofs and the oracle codec."""

import itertools
import json

import attrs
import jsonschema
import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from mnemosyne_consensus.impl import merkle_crdt as impl
from mnemosyne_consensus.model_checks import merkle_crdt as model
from mnemosyne_consensus.model_checks import schemas
from mnemosyne_consensus.model_checks.engine import explore, simulate
from mnemosyne_consensus.model_checks.validate import validate_lines
from mnemosyne_consensus.model_checks.vectors import random_runs
from mnemosyne_consensus.proofs import merkle_crdt as proofs
from mnemosyne_consensus.proofs.core import check_goal
from mnemosyne_consensus.spec import merkle_crdt as spec
from mnemosyne_consensus.spec.merkle_crdt import AddOp, IncrementOp, Node, RemoveOp

PROTOCOL = model.PROTOCOL
SEEDS = [impl.derive_seed(i) for i in range(4)]
MEMBERS = tuple(impl.public_key(s) for s in SEEDS[:3])  # three members; SEEDS[3] is an outsider
MACHINE_SETTINGS = settings(
    max_examples=25, stateful_step_count=30, derandomize=True, deadline=None
)


def node(author: int, op, *parents: Node) -> tuple[bytes, Node]:
    made = impl.make_node(SEEDS[author], op, tuple(spec.node_id(p) for p in parents))
    return spec.node_id(made), made


def replica(me: int = 0, bound: int = 2) -> impl.Replica:
    return impl.new_replica(impl.ReplicaConfig(me, SEEDS[me], MEMBERS, bound))


def receive(r: impl.Replica, peer: int, ident: bytes, n) -> tuple[impl.Replica, impl.Effects]:
    return impl.step(r, impl.NodeReceived(peer, ident, n))


# -- spec: a hand-made DAG ------------------------------------------------------------------------
#
#   a: add(x) by 0 ----------------------.
#                                         +-- c: remove(x) by 2, on {a, b}: observes a only
#   b: remove(x) by 1 (concurrent with a) '
#   d: add(x) by 1 on {b}   (concurrent with c: add wins)       e: increment() by 0 and by 2

A_ID, A = node(0, AddOp("x"))
B_ID, B = node(1, RemoveOp("x"))
C_ID, C = node(2, RemoveOp("x"), A, B)
D_ID, D = node(1, AddOp("x"), B)
E_ID, E = node(0, IncrementOp())
F_ID, F = node(2, IncrementOp(), E)
DAG = tuple(sorted([(A_ID, A), (B_ID, B), (C_ID, C), (D_ID, D), (E_ID, E), (F_ID, F)]))


def test_hand_made_dag_has_the_expected_heads_and_value():
    assert set(spec.heads(DAG)) == {C_ID, D_ID, F_ID}
    state = spec.evaluate(MEMBERS, DAG)
    # c removed a's tag (observed), not d's (concurrent): add wins; b observed nothing
    assert spec.value(state) == (("x",), 2)
    assert state.orset.removed == (("x", A_ID.hex()),)
    assert state.counter == (1, 0, 1)
    assert spec.observed_adds(dict(DAG), C, "x") == (("x", A_ID.hex()),)


def test_every_topological_order_gives_the_same_state():
    table = dict(DAG)
    orders = [
        order
        for order in itertools.permutations(table)
        if all(order.index(p) < order.index(i) for i in order for p in table[i].parents)
    ]
    assert len(orders) > 20
    results = set()
    for order in orders:
        state = spec.initial_crdt(MEMBERS)
        for i in order:
            state = spec.apply_op(MEMBERS, table, state, i, table[i])
        results.add(state)
    assert results == {spec.evaluate(MEMBERS, DAG)}


def test_spec_receive_waits_for_parents_then_drains():
    view = spec.EMPTY_VIEW
    view, outcome = spec.receive(MEMBERS, 2, view, 2, C_ID, C)
    assert outcome == "pending" and view.store == ()
    view, outcome = spec.receive(MEMBERS, 2, view, 0, A_ID, A)
    assert outcome == "accepted" and [i for i, _ in view.store] == [A_ID]
    view, outcome = spec.receive(MEMBERS, 2, view, 1, B_ID, B)
    assert outcome == "accepted" and view.pending == ()
    assert {i for i, _ in view.store} == {A_ID, B_ID, C_ID}
    assert spec.receive(MEMBERS, 2, view, 1, B_ID, B) == (view, "duplicate")


def test_spec_pending_bound_refuses_and_changes_nothing():
    view, _ = spec.receive(MEMBERS, 1, spec.EMPTY_VIEW, 2, C_ID, C)
    assert spec.receive(MEMBERS, 1, view, 2, D_ID, D) == (view, spec.PENDING_FULL)
    # another peer has its own share of the buffer
    assert spec.receive(MEMBERS, 1, view, 1, D_ID, D)[1] == "pending"


def test_spec_issue_enabling_conditions():
    view = spec.ReplicaView(((A_ID, A),), ())
    good = impl.make_node(SEEDS[0], RemoveOp("x"), (A_ID,))
    assert spec.issue_enabled(MEMBERS, 0, view, good)
    assert not spec.issue_enabled(MEMBERS, 1, view, good)  # not replica 1's node
    assert not spec.issue_enabled(MEMBERS, 0, view, impl.make_node(SEEDS[0], RemoveOp("x"), ()))
    assert not spec.issue_enabled(
        MEMBERS, 0, view, impl.make_node(SEEDS[0], RemoveOp("y"), (A_ID,))
    )


# -- impl: validation, faults, rejections ----------------------------------------------------------

OUTSIDER = impl.make_node(SEEDS[3], AddOp("x"), ())
FORGED = Node(MEMBERS[1], AddOp("x"), (), OUTSIDER.signature)
BAD_CASES = [
    ("malformed", A_ID, Node(MEMBERS[0], AddOp(7), (), A.signature), impl.FaultKind.MALFORMED),
    (
        "unsorted",
        C_ID,
        Node(C.author, C.op, C.parents[::-1], C.signature),
        impl.FaultKind.MALFORMED,
    ),
    ("short id", A_ID[:5], A, impl.FaultKind.MALFORMED),
    ("not a node", A_ID, ("x",), impl.FaultKind.MALFORMED),
    ("wrong id", B_ID, A, impl.FaultKind.HASH_MISMATCH),
    ("outsider", spec.node_id(OUTSIDER), OUTSIDER, impl.FaultKind.UNKNOWN_AUTHOR),
    ("forged", spec.node_id(FORGED), FORGED, impl.FaultKind.BAD_SIGNATURE),
]


@pytest.mark.parametrize(
    ("ident", "n", "kind"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES]
)
def test_impl_refuses_bad_nodes_and_changes_nothing(ident, n, kind):
    r, _ = receive(replica(), 1, A_ID, A)
    after, effects = receive(r, 2, ident, n)
    assert after == r
    assert effects.faults == (impl.Fault(2, kind),)
    assert effects.applied == () and effects.fetches == ()


def test_impl_pending_full_is_refused_per_peer_and_changes_nothing():
    r = replica(bound=1)
    r, effects = receive(r, 2, C_ID, C)
    assert effects.fetches == tuple(sorted([(2, A_ID), (2, B_ID)]))
    assert len(r.pending) == 1
    after, effects = receive(r, 2, D_ID, D)
    assert after == r and effects.faults == (impl.Fault(2, impl.FaultKind.PENDING_FULL),)
    after, effects = receive(r, 1, D_ID, D)
    assert len(after.pending) == 2 and effects.faults == ()


def test_every_fault_kind_is_exercised():
    kinds = {c[3] for c in BAD_CASES} | {impl.FaultKind.PENDING_FULL}
    assert kinds == set(impl.FaultKind)


@pytest.mark.parametrize(
    ("op", "reason"),
    [
        (RemoveOp("x"), impl.RejectionReason.ELEMENT_ABSENT),
        (AddOp(7), impl.RejectionReason.UNKNOWN_OP),
        ("increment", impl.RejectionReason.UNKNOWN_OP),
    ],
)
def test_invalid_requests_are_rejected_and_change_nothing(op, reason):
    r = replica()
    after, effects = impl.step(r, impl.Issue(op))
    assert after == r and effects.rejections == (reason,)


def test_impl_applies_in_causal_order_whatever_the_arrival_order():
    expected = spec.evaluate(MEMBERS, DAG)
    entries = [(A_ID, A), (B_ID, B), (C_ID, C), (D_ID, D), (E_ID, E), (F_ID, F)]
    for order in (entries, entries[::-1], entries[2:] + entries[:2]):
        r = replica(bound=6)
        for ident, n in order:
            r, _ = receive(r, 1, ident, n)
        assert r.store == DAG and r.pending == ()
        assert r.crdt == expected and set(r.heads) == {C_ID, D_ID, F_ID}


def test_forks_are_both_accepted_in_either_order():
    fork_a, fork_b = node(2, AddOp("y")), node(2, IncrementOp())
    one, two = replica(0), replica(1)
    for ident, n in (fork_a, fork_b):
        one, _ = receive(one, 2, ident, n)
    for ident, n in (fork_b, fork_a):
        two, _ = receive(two, 2, ident, n)
    assert one.store == two.store and one.crdt == two.crdt and len(one.heads) == 2


def test_heads_and_fetch_sync_two_replicas():
    a, b = replica(0), replica(1)
    for op in (AddOp("x"), IncrementOp(), RemoveOp("x")):
        a, _ = impl.step(a, impl.Issue(op))
    b, _ = impl.step(b, impl.Issue(AddOp("y")))
    # b learns a's heads, then fetches down to what it holds
    b, effects = impl.step(b, impl.HeadsReceived(0, a.heads))
    wanted = list(effects.fetches)
    while wanted:
        _, ident = wanted.pop(0)
        _, answer = impl.step(a, impl.FetchRequest(1, ident))
        for _, sent_id, n in answer.sends:
            b, got = receive(b, 0, sent_id, n)
            wanted.extend(got.fetches)
    assert {i for i, _ in a.store} <= {i for i, _ in b.store}
    assert impl.value(b) == (("y",), 1)
    # an unknown id is not answered; a malformed one is a fault
    assert impl.step(a, impl.FetchRequest(1, b"\x01" * 32))[1] == impl.NOTHING
    assert impl.step(a, impl.FetchRequest(1, "x"))[1].faults[0].kind is impl.FaultKind.MALFORMED
    assert impl.step(a, impl.HeadsReceived(1, ["x"]))[1].faults[0].kind is impl.FaultKind.MALFORMED


# -- the bounded model -----------------------------------------------------------------------------


def test_byzantine_alphabet_is_refused_as_documented():
    alphabet = model.byzantine_alphabet(2)
    members = model.members_of(2)
    expected = {
        "forged": "bad_signature",
        "tampered": "hash_mismatch",
        "outsider": "unknown_author",
        "malformed": "malformed",
    }
    for name, wire in alphabet.items():
        assert spec.validity(members, wire.ident, wire.node) == expected.get(name), name


@pytest.mark.parametrize("config", ["small", "tiny"])
def test_configs_hold_completely_and_pin_state_counts(config):
    entry = PROTOCOL.config(config)
    result = explore(PROTOCOL.build(entry, None))
    assert result.outcome == "ok", result.violation
    assert result.complete and not result.unreached
    assert result.distinct_states == entry.expected_distinct_states


@pytest.mark.parametrize("mutant", PROTOCOL.mutants, ids=lambda m: m.name)
def test_every_mutant_is_caught_with_a_trace(mutant):
    model_ = PROTOCOL.build(PROTOCOL.config(mutant.config or "tiny"), mutant)
    result = explore(model_.restricted_to([mutant.breaks]))
    assert result.outcome == "violation"
    assert result.violation.property_name == mutant.breaks
    assert result.violation.trace[0].action is None and len(result.violation.trace) >= 2


def test_trust_signed_root_accepts_the_tampered_node_only_after_a_signed_child():
    mutant = PROTOCOL.mutant("trust-signed-root")
    result = explore(PROTOCOL.build(PROTOCOL.config("tiny"), mutant).restricted_to([mutant.breaks]))
    steps = [s.action_text for s in result.violation.trace[1:]]
    assert steps == [
        "replica 0: receive orphan-1 from peer 2",
        "replica 0: receive tampered from peer 2",
    ]


def test_every_always_property_has_a_mutant():
    model_ = PROTOCOL.build(PROTOCOL.default_config, None)
    always = {p.name for p in (*model_.invariants, *model_.step_properties)}
    assert always == {m.breaks for m in PROTOCOL.mutants}
    assert len(model_.reachables) >= len(model_.invariants) - 2


def test_three_replica_config_simulates_clean():
    model_ = PROTOCOL.build(PROTOCOL.config("three"), None)
    result = simulate(model_, runs=40, steps=25, seed=7)
    assert result.outcome in ("ok", "unreached"), result.violation


def test_view_has_plain_named_variables():
    model_ = PROTOCOL.build(PROTOCOL.config("tiny"), None)
    state = next(iter(model_.initial_states()))
    action = next(a for a in model_.actions(state) if isinstance(a, model.Deliver))
    shown = model.view(model_.next_state(state, action))
    assert set(shown) == {"store", "heads", "pending", "value", "pool"}
    json.dumps(shown)


# -- Hypothesis at 5 replicas ----------------------------------------------------------------------


def test_hypothesis_machine_holds():
    run_state_machine_as_test(model.MerkleCrdtMachine, settings=MACHINE_SETTINGS)


def test_hypothesis_machine_catches_a_mutant():
    class Broken(model.MerkleCrdtMachine):
        mutant = PROTOCOL.mutant("credit-receiver")

    with pytest.raises(Exception, match="state_matches_dag violated"):
        run_state_machine_as_test(Broken, settings=MACHINE_SETTINGS)


# -- proofs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("proof", proofs.PROOFS, ids=lambda p: p.name)
def test_proofs_hold(proof):
    assert check_goal(proof.build(None)).status == "proved"


@pytest.mark.parametrize(
    ("mutant", "name"),
    [
        (proofs.RECEIVER, "merkle-crdt.op_effects_commute"),
        (proofs.RECEIVER, "merkle-crdt.concurrent_add_survives"),
        (proofs.ALL_TAGS, "merkle-crdt.concurrent_add_survives"),
        (proofs.ALL_TAGS, "merkle-crdt.op_effects_commute"),
        (proofs.RECEIVER, "merkle-crdt.effects_inflate"),
    ],
)
def test_proof_mutants_break_exactly_what_they_list(mutant, name):
    listed = {m.name: m.breaks for m in proofs.MUTANTS}[mutant]
    proof = next(p for p in proofs.PROOFS if p.name == name)
    verdict = check_goal(proof.build(mutant))
    assert verdict.status == ("counterexample" if name in listed else "proved")
    if verdict.status == "counterexample":
        assert "claim violated" in verdict.counterexample


# -- the oracle codec ------------------------------------------------------------------------------


def test_codec_round_trips_states_and_events():
    codec = model.CODEC
    r = replica(bound=3)
    for ident, n in ((C_ID, C), (A_ID, A), (E_ID, E)):
        r, _ = receive(r, 1, ident, n)
    doc = codec.encode_state(r)
    assert codec.decode_state(json.loads(json.dumps(doc))) == r
    events = [
        impl.Issue(AddOp("x")),
        impl.Issue(IncrementOp()),
        impl.Issue(AddOp(7)),
        impl.NodeReceived(2, B_ID, B),
        impl.NodeReceived(2, A_ID, Node(MEMBERS[0], AddOp(7), (), A.signature)),
        impl.HeadsReceived(1, (A_ID, C_ID)),
        impl.FetchRequest(1, A_ID),
    ]
    for event in events:
        doc = codec.encode_event(event)
        assert codec.decode_event(json.loads(json.dumps(doc))) == event
        _, effects = codec.step(r, event)
        json.dumps(codec.encode_effects(effects))


def test_codec_state_decoding_names_the_bad_field():
    from mnemosyne_consensus.model_checks.codec import DecodeError

    doc = model.CODEC.encode_state(replica())
    bad = {**doc, "seed": impl.derive_seed(9).hex()}
    with pytest.raises(DecodeError) as error:
        model.CODEC.decode_state(bad)
    assert error.value.path == "$.seed"
    with pytest.raises(DecodeError) as error:
        model.CODEC.decode_state({**doc, "heads": ["zz"]})
    assert error.value.path == "$.heads[0]"


def test_generated_trace_validates_and_matches_the_schemas():
    validators = {
        name: jsonschema.Draft202012Validator(schema)
        for name, schema in schemas.protocol_schemas(model.CODEC).items()
    }
    (lines,) = list(random_runs(PROTOCOL, model.ORACLE, runs=1, steps=30, seed=3))
    for state in lines[0]["initial"]:
        validators["state"].validate(state)
    for step in lines[1:]:
        validators["state"].validate(step["state"])
        validators["event"].validate(step["event"])
        validators["effects"].validate(step["effects"])
    text = [json.dumps(line) for line in lines]
    result = validate_lines("merkle-crdt", text, model.ORACLE.step_checker)
    assert result.failure is None and result.steps == 30


def test_trace_validation_catches_a_replica_that_skips_the_signature_check():
    header = {"format": "mnemosyne-oracle/1", "protocol": "merkle-crdt", "nodes": 2}
    forged = model.byzantine_alphabet(2)["forged"]
    broken = attrs.evolve(model.CODEC, rules=model.RULES["no-signature-check"])
    start = model.initial_node(0, 2)
    event = impl.NodeReceived(2, forged.ident, forged.node)
    after, effects = broken.step(start, event)
    step = {
        "node": 0,
        "event": broken.encode_event(event),
        "state": broken.encode_state(after),
        "effects": broken.encode_effects(effects),
    }
    text = [json.dumps(header), json.dumps(step)]
    result = validate_lines("merkle-crdt", text, model.ORACLE.step_checker)
    assert result.failure is not None and result.failure.line == 2
    assert result.failure.property_name == "faults_change_nothing"


def test_benchmark_reports_nodes_per_second():
    figures = model.bench_merkle_crdt(0.3)
    assert figures["merkle_crdt_nodes_verified_applied_per_second"] > 0
    assert figures["merkle_crdt_state_matches_spec"] is True
