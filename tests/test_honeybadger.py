"""HoneyBadgerBFT epochs: the spec's model, its mutants, the impl with real crypto, the machine."""

import pytest
from hypothesis import settings

from mnemosyne_consensus.impl import honeybadger as impl
from mnemosyne_consensus.impl import threshold_encryption as tpke
from mnemosyne_consensus.model_checks import honeybadger as model
from mnemosyne_consensus.model_checks.engine import explore
from mnemosyne_consensus.spec import honeybadger as spec


@pytest.mark.parametrize("name", ["default", "tiny"])
def test_configs_hold_completely_with_pinned_counts(name):
    config = model.PROTOCOL.config(name)
    m = model.build(config, None)
    result = explore(m)
    assert result.outcome == "ok", result.violation
    assert result.complete and not result.unreached
    assert result.distinct_states == config.expected_distinct_states


@pytest.mark.parametrize("mutant", model.MUTANTS, ids=lambda m: m.name)
def test_every_mutant_is_caught_with_a_trace(mutant):
    m = model.build(model.PROTOCOL.config(mutant.config or "tiny"), mutant)
    result = explore(m.restricted_to([mutant.breaks]))
    assert result.outcome == "violation"
    assert result.violation.property_name == mutant.breaks
    assert result.violation.trace[0].action is None and len(result.violation.trace) >= 2


def test_every_always_property_has_a_mutant():
    m = model.build(model.PROTOCOL.default_config, None)
    broken = {mu.breaks for mu in model.MUTANTS}
    assert {p.name for p in (*m.invariants, *m.step_properties)} <= broken


def test_spec_batches_are_floor_b_over_n_of_the_first_b():
    p = spec.Params(4, 1, 8, ((),) * 3, ((),), 1)
    queue = tuple("abcdefghij")
    options = spec.batches(spec.SPEC_RULES, p, queue)
    assert ("a", "b") in options and ("a", "i") not in options
    assert all(len(b) == 2 and set(b) <= set("abcdefgh") for b in options)


def test_spec_commit_outputs_the_sorted_union_and_drops_garbage():
    p = spec.Params(4, 1, 4, (("b",), ("a",), ("a",)), ((), spec.GARBAGE), 1)
    r = spec.SPEC_RULES
    s = spec.initial_state(p)
    for i, b in enumerate((("b",), ("a",), ("a",))):
        s = spec.apply(r, p, s, spec.Propose(i, b))
    acs_out = spec.AcsOutput(((0, ("b",)), (1, ("a",)), (3, spec.GARBAGE)))
    assert acs_out in set(spec.enabled_actions(r, p, s))
    s = spec.apply(r, p, s, acs_out)
    commits = [a for a in spec.enabled_actions(r, p, s) if a.node == 0]
    assert commits == [spec.Commit(0, (("b",), ("a",), ()))]
    s = spec.apply(r, p, s, commits[0])
    assert s.logs[0] == (("a", "b"),) and s.queues[0] == ()


# -- impl, real cryptography ---------------------------------------------------------------


def _node(i=0, n=4, f=1, batch=4, queue=()):
    public, secrets = model.keys(n, f)
    return impl.new_node(impl.NodeConfig(i, n, f, batch, public, secrets[i]), queue)


def test_select_batch_is_a_seeded_subset_of_the_window():
    queue = tuple(f"t{k}" for k in range(20))
    a = impl.select_batch(queue, 8, 4, b"s" * 16)
    assert len(a) == 2 and set(a) <= set(queue[:8])
    assert a == impl.select_batch(queue, 8, 4, b"s" * 16)
    picks = {impl.select_batch(queue, 8, 4, bytes([k]) * 16) for k in range(20)}
    assert len(picks) > 5


def test_ciphertext_encoding_round_trips_and_refuses_junk():
    public, _ = model.keys(4, 1)
    ct = tpke.encrypt(public, impl.epoch_label(0), impl.encode_batch(("a",)), bytes(32))
    assert impl.decode_ciphertext(impl.encode_ciphertext(ct)) == ct
    assert impl.decode_ciphertext("garbage") is None
    assert impl.decode_ciphertext("zz:1:2:3:4:5:6") is None
    assert impl.decode_batch(b"[1]") is None and impl.decode_batch(b"{") is None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cluster_epochs_agree_and_output_only_input_transactions(seed):
    queues = [("a", "b", "c"), ("a", "d"), ("b", "e"), ()]
    cluster = model.Cluster(4, 1, 4, queues, seed=seed)
    for _ in range(3):
        cluster.run_epoch()
    assert cluster.agreement() and cluster.integrity()
    assert len(cluster.blocks) == 3
    assert any(tx.startswith("byz") for by in cluster.blocks for b in by.values() for tx in b)


def test_garbage_proposal_contributes_nothing_everywhere():
    cluster = model.Cluster(4, 1, 4, [("a",), ("a",), ("b",), ()], seed=5, byzantine_garbage=True)
    cluster.run_epoch()
    assert cluster.agreement()
    assert set(cluster.blocks[0][0]) <= {"a", "b"}


def _scripted_epoch(ops):
    """Node 0 gets the Byzantine node's bad shares before any correct share, others last."""
    cluster = model.Cluster(4, 1, 4, [("a",), ("b",), ("c",), ()], seed=7, ops=ops)
    for i in cluster.correct:
        cluster.start_epoch(i)
    cluster.byzantine_propose(3, 0)
    while not all(node.subset for node in cluster.nodes):
        for j in range(4):
            cluster.decide(0, j)
        cluster.tell_decisions()
        for i in cluster.correct:
            acs = [k for k, (_, m) in enumerate(cluster.inbox[i]) if isinstance(m, impl.AcsMessage)]
            if acs:
                cluster.deliver(i, acs[0])
    cluster.byzantine_shares(3)
    faults = []
    for i in cluster.correct:

        def rank(item, i=i):
            return (item[0] != 3) if i == 0 else (item[0] == 3)

        while cluster.inbox[i]:
            k = min(range(len(cluster.inbox[i])), key=lambda k: rank(cluster.inbox[i][k]))
            sender, message = cluster.inbox[i].pop(k)
            before = cluster.nodes[i]
            effects = cluster.apply(i, impl.Receive(sender, message))
            if effects.faults:
                assert cluster.nodes[i] == before
                faults += [f.kind for f in effects.faults]
    return cluster, faults


def test_bad_decryption_share_is_refused_by_its_proof():
    cluster, faults = _scripted_epoch(impl.STANDARD_OPS)
    assert tpke.DecryptionFault.BAD_PROOF in faults
    assert len(cluster.blocks) == 1 and len(cluster.blocks[0]) == 3
    assert cluster.agreement()


def test_mutant_accepting_shares_without_proof_breaks_agreement():
    ops = impl.Ops(verify_share=tpke.verify_decryption_share_skipping_proof)
    cluster, faults = _scripted_epoch(ops)
    assert tpke.DecryptionFault.BAD_PROOF not in faults
    blocks = cluster.blocks[0]
    assert len(blocks) == 3 and not cluster.agreement()
    assert len(blocks[0]) < len(blocks[1])  # node 0's keys were spoiled: it dropped batches


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("junk", impl.FaultKind.MALFORMED),
        (impl.AcsMessage(5, impl.rbc_impl.Message("echo", 1, "v")), impl.FaultKind.FUTURE_EPOCH),
        (impl.DecMessage(0, 9, None), impl.FaultKind.MALFORMED),
        (impl.DecMessage(0, 1, "share"), impl.FaultKind.MALFORMED),
    ],
)
def test_each_fault_kind_leaves_the_node_unchanged(message, kind):
    node = _node()
    new, eff = impl.step(node, impl.Receive(2, message))
    assert new == node
    assert [f.kind for f in eff.faults] == [kind]


def _at_acs_output():
    c = model.Cluster(4, 1, 4, [("a",), ("b",), ("c",), ()], seed=7)
    for i in c.correct:
        c.start_epoch(i)
    c.byzantine_propose(3, 0)
    while not all(node.subset for node in c.nodes):
        for j in range(4):
            c.decide(0, j)
        c.tell_decisions()
        for i in c.correct:
            acs = [k for k, (_, m) in enumerate(c.inbox[i]) if isinstance(m, impl.AcsMessage)]
            if acs:
                c.deliver(i, acs[0])
    return c


def test_share_faults_after_acs_output_leave_the_node_unchanged():
    c = _at_acs_output()
    node = c.nodes[1]
    message = next(m for s, m in c.inbox[1] if s == 2 and isinstance(m, impl.DecMessage))
    j, share = message.proposer, message.share
    cases = [
        (2, impl.DecMessage(0, j, model.bad_share(share)), tpke.DecryptionFault.BAD_PROOF),
        (3, message, tpke.DecryptionFault.WRONG_SENDER),
    ]
    left_out = [k for k in range(4) if k not in dict(node.subset)]
    if left_out:
        cases.append((2, impl.DecMessage(0, left_out[0], share), impl.FaultKind.NOT_IN_SUBSET))
    for sender, msg, kind in cases:
        new, eff = impl.step(node, impl.Receive(sender, msg))
        assert new == node and [f.kind for f in eff.faults] == [kind]
    node, eff = impl.step(node, impl.Receive(2, message))
    assert not eff.faults
    if node.plaintexts[j] is None:
        new, eff = impl.step(node, impl.Receive(2, message))
        assert new == node and [f.kind for f in eff.faults] == [impl.FaultKind.DUPLICATE_SHARE]


def test_local_misuse_raises():
    node = _node(queue=("a",))
    node, eff = impl.step(node, impl.StartEpoch(bytes(16)))
    assert eff.broadcasts[0].message.kind == "val"
    with pytest.raises(impl.LocalMisuseError):
        impl.step(node, impl.StartEpoch(bytes(16)))
    with pytest.raises(impl.LocalMisuseError):
        impl.step(_node(), impl.StartEpoch(b"short"))


def test_censorship_light_load_outputs_in_the_next_epoch():
    for seed in (1, 2, 3):
        result = model.censorship_run(4, 1, 8, backlog=1, seed=seed)
        assert result["light_load"] and result["all_output"] and result["agreement"]
        assert result["max_epoch_of_output"] == 0  # the bound: the very next epoch


def test_censorship_backlog_is_cleared_within_a_few_epochs():
    result = model.censorship_run(4, 1, 8, backlog=6, seed=1)
    assert not result["light_load"] and result["all_output"] and result["agreement"]
    assert result["max_epoch_of_output"] <= 10


@pytest.mark.parametrize(
    "machine", [model.HoneyBadgerMachine, model.HoneyBadgerMachineSeven], ids=["n4", "n7"]
)
def test_hypothesis_machine_real_crypto(machine):
    class Run(machine):
        pass

    Run.TestCase.settings = settings(
        max_examples=8, stateful_step_count=30, derandomize=True, deadline=None
    )
    Run.TestCase().runTest()


def test_bench_reports_epochs_per_second():
    for aba in ("real", "ideal"):
        result = model.bench_honeybadger(4, batch=20, epochs=1, aba=aba)
        assert result["epochs_per_second"] > 0 and result["transactions_output"] > 0
        assert result["aba"] == aba


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cluster_with_the_real_aba_agrees_epoch_after_epoch(seed):
    """Real ABAs embedded in every epoch's ACS (their messages through the scheduler too), the
    coin's session = the epoch: three epochs, every correct node outputs the same block."""
    queues = [("a", "b", "c"), ("a", "d"), ("b", "e"), ()]
    cluster = model.Cluster(4, 1, 4, queues, seed=seed, aba="real")
    for epoch in range(3):
        cluster.run_epoch()
        assert len(set(cluster.blocks[epoch].values())) == 1
        assert set(cluster.blocks[epoch]) == set(cluster.correct)
        assert all(node.acs.abas[0].config.session == epoch + 1 for node in cluster.nodes)
    assert cluster.agreement() and cluster.integrity()
    assert {"a", "b", "c", "d", "e"} <= {tx for by in cluster.blocks for tx in by[0]}


def test_real_aba_decisions_are_not_events():
    cluster = model.Cluster(4, 1, 4, [("a",), ("b",), ("c",), ()], seed=1, aba="real")
    with pytest.raises(impl.LocalMisuseError):
        impl.step(cluster.nodes[0], impl.AbaDecided(0, 0, 1))
    with pytest.raises(ValueError):
        model.Cluster(4, 1, 4, [("a",), ("b",), ("c",), ()], aba="oracle")


def test_hypothesis_machine_real_aba_epochs_end_to_end():
    class Run(model.HoneyBadgerRealAbaMachine):
        pass

    Run.TestCase.settings = settings(
        max_examples=10, stateful_step_count=20, derandomize=True, deadline=None
    )
    Run.TestCase().runTest()


def test_hypothesis_machine_catches_decryption_without_share_proofs():
    class Mutant(model.HoneyBadgerMachine):
        OPS = impl.Ops(verify_share=tpke.verify_decryption_share_skipping_proof)

    Mutant.TestCase.settings = settings(
        max_examples=60, stateful_step_count=30, derandomize=True, deadline=None
    )
    with pytest.raises(AssertionError, match="blocks differ"):
        Mutant.TestCase().runTest()


def test_a_second_early_share_from_one_node_is_a_duplicate():
    c = _at_acs_output()
    message = next(m for s, m in c.inbox[1] if s == 2 and isinstance(m, impl.DecMessage))
    node = _node(1)  # has not seen ACS's output yet: shares wait, unverified
    node, eff = impl.step(node, impl.Receive(2, message))
    assert not eff.faults and node.early == ((2, message.proposer, message.share),)
    new, eff = impl.step(node, impl.Receive(2, message))
    assert new == node and [f.kind for f in eff.faults] == [impl.FaultKind.DUPLICATE_SHARE]
    new, eff = impl.step(node, impl.Receive(7, message))
    assert new == node and [f.kind.value for f in eff.faults] == ["unknown_sender"]
