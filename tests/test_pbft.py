"""PBFT: hand-made spec examples, bounded model checks, mutants, symmetry, impl faults, proofs."""

import os

import attrs
import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from mnemosyne_consensus.impl import pbft as impl
from mnemosyne_consensus.model_checks import pbft as model
from mnemosyne_consensus.model_checks.engine import Bounds, explore, simulate
from mnemosyne_consensus.model_checks.registry_types import Config
from mnemosyne_consensus.proofs import pbft as proofs
from mnemosyne_consensus.proofs.core import check_goal
from mnemosyne_consensus.spec import pbft as spec

PROTOCOL = model.PROTOCOL
FOUR = model.params_of(PROTOCOL.config("default"))  # 4 replicas, f = 1, replica 0 Byzantine
SLOW = pytest.mark.skipif(
    not os.environ.get("MNEMOSYNE_SLOW"), reason="30-60 s: set MNEMOSYNE_SLOW=1"
)
R = "r1"


def run(ctx, actions, state=None):
    """Applies ``actions`` one by one, each of which must be enabled."""
    state = state or spec.initial_state(ctx.params)
    for action in actions:
        enabled = list(spec.enabled_actions(ctx, state))
        assert action in enabled, (action, enabled)
        state = spec.apply(ctx, state, action)
    return state


def rep(ctx, state, i):
    return state.replicas[ctx.params.correct.index(i)]


# -- thresholds ----------------------------------------------------------------------------------


def test_quorums_are_n_minus_f_and_the_primary_rotates():
    ctx = spec.Context(FOUR)
    assert (ctx.quorum, ctx.checkpoint_quorum, ctx.reply_quorum) == (3, 3, 2)
    assert [FOUR.primary(v) for v in range(5)] == [0, 1, 2, 3, 0]
    seven = attrs.evolve(FOUR, n=7, f=2, byzantine=(0, 6))
    assert spec.Context(seven).quorum == 5  # 2f + 1 with n = 3f + 1
    assert spec.Context(FOUR, spec.Rules(quorum_override=2)).quorum == 2  # the mutant's


def test_byzantine_alphabet_equivocates_only_as_the_primary_of_its_views():
    alphabet = spec.byzantine_alphabet(FOUR)
    pre = {(m.view, m.seq, m.request) for m in alphabet if m.kind == spec.PRE_PREPARE}
    assert pre == {(0, 1, R), (0, 1, spec.NULL)}  # view 1's primary (replica 1) is correct
    assert all(m.sender == 0 for m in alphabet)
    assert alphabet == tuple(sorted(alphabet))


# -- hand-made executions ------------------------------------------------------------------------


def _commit_r1_in_view_0(ctx):
    """Replicas 1-3 accept the faulty primary's pre-prepare for r1, prepare, commit; replica 1
    executes r1 (its COMMIT and those of 2 and 3)."""
    acts = [spec.Prepare(i, 0, 1, R) for i in (1, 2, 3)]
    acts += [spec.Commit(i, 0, 1, R) for i in (1, 2, 3)]
    acts += [spec.Execute(1, 1, R)]
    return run(ctx, acts)


def test_normal_case_executes_replies_checkpoints_and_collects_garbage():
    ctx = spec.Context(FOUR)
    state = _commit_r1_in_view_0(ctx)
    assert rep(ctx, state, 1).executed == (R,)
    assert spec.Msg(spec.CHECKPOINT, 0, 1, "", 1, (R,)) in state.pool  # K = 1
    # one correct reply and the faulty replica's: f + 1 = 2 replies, the client accepts
    state = run(ctx, [spec.ClientAccept(R, 1)], state)
    assert state.accepted == ((R, 1),)
    state = run(ctx, [spec.Execute(2, 1, R), spec.StableCheckpoint(3, 1, (R,))], state)
    # replica 3 had not executed r1: it fetched the certified state with the checkpoint
    assert rep(ctx, state, 3) == spec.Replica(3, 0, True, (R,), 1)
    assert all(inv.holds(state) for inv in spec.properties(ctx)[0])


def test_a_backup_accepts_one_digest_per_view_and_sequence_number():
    ctx = spec.Context(FOUR)
    state = run(ctx, [spec.Prepare(1, 0, 1, R)])
    enabled = list(spec.enabled_actions(ctx, state))
    assert spec.Prepare(1, 0, 1, spec.NULL) not in enabled
    assert spec.Prepare(2, 0, 1, spec.NULL) in enabled  # the equivocation reaches replica 2
    # two backups with different digests: neither request gathers 2f prepares
    state = run(ctx, [spec.Prepare(2, 0, 1, spec.NULL)], state)
    assert not any(isinstance(a, spec.Commit) for a in spec.enabled_actions(ctx, state))


def test_view_change_re_proposes_the_committed_request_at_its_sequence_number():
    ctx = spec.Context(FOUR)
    state = _commit_r1_in_view_0(ctx)
    state = run(ctx, [spec.StartViewChange(i) for i in (2, 3)], state)
    vc = next(m for m in state.pool if m.kind == spec.VIEW_CHANGE and m.sender == 2)
    assert vc.certs == ((1, R, 0),)  # P: r1 prepared at 2 in view 0
    # replica 1 has executed every request: its timer is off, but f + 1 VIEW-CHANGEs (2, 3)
    assert spec.StartViewChange(1) not in spec.enabled_actions(ctx, state)
    state = run(ctx, [spec.JoinViewChange(1, 1)], state)
    new_views = [a for a in spec.enabled_actions(ctx, state) if isinstance(a, spec.NewView)]
    assert new_views and all(a.o == ((1, R, 1),) for a in new_views)
    state = run(ctx, [new_views[0], spec.AcceptNewView(2, 1, 0, (), ((1, R, 1),))], state)
    assert rep(ctx, state, 2).view == 1 and rep(ctx, state, 2).active
    assert spec.Msg(spec.PRE_PREPARE, 1, 1, R, 1) in state.pool
    # accepting the NEW-VIEW, the backup logs O's pre-prepares and multicasts their PREPAREs
    assert spec.Msg(spec.PREPARE, 1, 1, R, 2) in state.pool
    assert not any(
        isinstance(a, spec.Prepare) and a.replica == 2 for a in spec.enabled_actions(ctx, state)
    )
    assert all(inv.holds(state) for inv in spec.properties(ctx)[0])


def test_o_fills_gaps_with_null_requests_and_takes_the_highest_view():
    params = attrs.evolve(FOUR, max_seq=3, log_size=3, max_view=2)
    ctx = spec.Context(params)
    a = spec.Msg(spec.VIEW_CHANGE, 2, 0, "", 1, (), ((3, "r1", 0),))
    b = spec.Msg(spec.VIEW_CHANGE, 2, 0, "", 2, (), ((3, "r2", 1),))
    c = spec.Msg(spec.VIEW_CHANGE, 2, 0, "", 3, ())
    assert ctx.compute_o(2, (a, b, c)) == (
        0,
        (),
        ((1, spec.NULL, 2), (2, spec.NULL, 2), (3, "r2", 2)),
    )
    ignoring = spec.Context(params, spec.Rules(newview_uses_certificates=False))
    assert ignoring.compute_o(2, (a, b, c))[2][2] == (3, spec.NULL, 2)


def test_byzantine_view_changes_count_only_with_their_signed_evidence():
    ctx = spec.Context(FOUR)
    state = spec.initial_state(FOUR)
    claim = spec.Msg(spec.VIEW_CHANGE, 1, 0, "", 0, (), ((1, R, 0),))
    assert claim in ctx.alphabet and not ctx.valid_view_change(state.pool, claim)
    state = run(ctx, [spec.Prepare(i, 0, 1, R) for i in (1, 2)], state)
    assert ctx.valid_view_change(state.pool, claim)  # the pre-prepare and 2f prepares exist
    forged_checkpoint = spec.Msg(spec.VIEW_CHANGE, 1, 1, "", 0, (R,))
    assert not ctx.valid_view_change(state.pool, forged_checkpoint)  # no 2f + 1 CHECKPOINTs


# -- model checks --------------------------------------------------------------------------------


def test_tiny_holds_with_its_pinned_state_count():
    result = explore(PROTOCOL.build(PROTOCOL.config("tiny"), None))
    assert result.violation is None and result.complete
    assert result.distinct_states == model.TINY_STATES == 452
    # view 0 only: the view-change companions are out of reach there, everything else reached
    assert set(result.unreached) == {"view_change_completed", "committed_after_view_change"}


@SLOW
def test_default_config_holds_completely_and_reaches_everything():
    config = PROTOCOL.default_config
    result = explore(PROTOCOL.build(config, None))
    assert result.outcome == "ok" and result.complete, result.violation
    assert result.distinct_states == config.expected_distinct_states == model.DEFAULT_STATES


@SLOW
def test_symmetry_reduction_keeps_the_default_verdict():
    config = PROTOCOL.default_config
    plain = attrs.evolve(config, params={**config.params, "symmetric": False})
    reduced = explore(model.build_spec(config, None))
    full = explore(model.build_spec(plain, None))
    assert reduced.outcome == full.outcome == "ok"
    assert set(reduced.reached) == set(full.reached)
    assert full.distinct_states == 100981 and reduced.distinct_states == model.DEFAULT_STATES


def _symmetric(config):
    return attrs.evolve(config, params={**config.params, "symmetric": True})


@pytest.mark.parametrize(
    "mutant",
    [None, *(m for m in model.MUTANTS if m.name not in model.IMPL_MUTANTS)],
    ids=lambda m: getattr(m, "name", "none"),
)
def test_symmetry_reduced_and_unreduced_runs_agree(mutant):
    """tlaplus#816, stateright#19: the verdict of a reduced run is the unreduced one's."""
    config = PROTOCOL.config(mutant.config if mutant and mutant.config else "tiny")
    if mutant is not None and mutant.name == "newview-ignores-certificates":
        config = attrs.evolve(config, params={**config.params, "symmetric": False})
    verdicts = []
    for c in (config, _symmetric(config)):
        m = model.build_spec(c, mutant)
        if mutant is not None:
            m = m.restricted_to([mutant.breaks])
        result = explore(m, Bounds(max_seconds=60))
        assert result.complete or result.violation
        verdicts.append(
            (
                result.outcome,
                result.violation and result.violation.property_name,
                set(result.reached),
            )
        )
    assert verdicts[0] == verdicts[1]


def test_symmetry_reduces_the_tiny_config():
    reduced = explore(model.build_spec(_symmetric(PROTOCOL.config("tiny")), None))
    assert reduced.complete and reduced.distinct_states < model.TINY_STATES
    assert model.interchangeable(FOUR) == (2, 3)


def test_sorting_representatives_agree_with_enumerated_ones(monkeypatch):
    """5 replicas, replica 0 Byzantine, view 0: replicas 1-4 are interchangeable (23 renamings).
    Sorting them by what they did, as configs with more of them must (``--replicas 100`` has 98!
    renamings), keeps the verdict and what is reached, and here reduces as much as trying every
    renaming."""
    config = Config("five", "test", {"replicas": 5, "f": 1, "max_view": 0})
    runs = {}
    for name, symmetric, enumerated in (
        ("none", False, 4),
        ("enumerated", True, 4),
        ("sorted", True, 0),
    ):
        monkeypatch.setattr(model, "MAX_ENUMERATED", enumerated)
        c = attrs.evolve(config, params={**config.params, "symmetric": symmetric})
        runs[name] = explore(model.build_spec(c, None))
    assert all(r.complete for r in runs.values())
    verdicts = {(r.outcome, frozenset(r.reached)) for r in runs.values()}
    assert len(verdicts) == 1
    sizes = {name: r.distinct_states for name, r in runs.items()}
    assert sizes == {"none": 1285, "enumerated": 170, "sorted": 170}


def test_many_interchangeable_replicas_are_sorted_not_enumerated():
    params = model.params_of(model.config_for(100, 1))
    assert len(model.interchangeable(params)) == 98
    canonicalize = model.canonicalizer(params)  # would never return with 98! renamings
    state = spec.initial_state(params)
    assert canonicalize(state) == state
    mapping = model.sorting_renaming(params, state)
    assert all(a == b for a, b in mapping.items())  # equal replicas keep their ids


def test_no_byzantine_replica_means_no_forged_events():
    """``check pbft --replicas 4 --byzantine 0``: nobody's key can sign a forged message."""
    config = model.config_for(4, 0)
    assert model.forged_events(model.params_of(config)) == ()
    result = explore(model.build(config, None))
    assert result.complete and result.outcome == "ok"


@pytest.mark.parametrize("mutant", model.MUTANTS, ids=lambda m: m.name)
def test_every_mutant_is_caught_with_a_trace(mutant):
    config = PROTOCOL.config(mutant.config or "tiny")
    result = explore(PROTOCOL.build(config, mutant).restricted_to([mutant.breaks]))
    assert result.outcome == "violation"
    assert result.violation.property_name == mutant.breaks
    assert result.violation.trace[0].action is None and len(result.violation.trace) >= 2


def test_every_always_property_has_a_mutant():
    model_ = PROTOCOL.build(PROTOCOL.default_config, None)
    always = {p.name for p in (*model_.invariants, *model_.step_properties)}
    assert always == {m.breaks for m in model.MUTANTS}
    assert {r.name for r in model_.reachables} == {
        "request_committed",
        "checkpoint_stable",
        "view_change_completed",
        "client_accepted",
        "committed_after_view_change",
    }


def test_quorum_2f_counterexample_commits_both_equivocated_requests():
    mutant = PROTOCOL.mutant("quorum-2f")
    result = explore(PROTOCOL.build(PROTOCOL.config("tiny"), mutant).restricted_to([mutant.breaks]))
    last = result.violation.trace[-1].state
    commits = {(m.sender, m.request) for m in last.pool if m.kind == spec.COMMIT}
    assert {d for _, d in commits} == {R, spec.NULL}


@pytest.mark.parametrize("name", ["unsafe-3-1", "unsafe-4-2"])
def test_unsafe_configs_break_agreement(name):
    m = PROTOCOL.build(PROTOCOL.config(name), None).restricted_to(["committed_agreement"])
    result = explore(m)
    assert result.outcome == "violation"
    assert result.violation.property_name == "committed_agreement"


def test_issue_config_simulates_clean():
    m = PROTOCOL.build(PROTOCOL.config("issue"), None)
    result = simulate(m, runs=15, steps=40, seed=7, max_seconds=8)
    assert result.violation is None


# -- config_for (the CLI's --replicas/--byzantine) -----------------------------------------------


def test_config_for_refuses_unsafe_thresholds_unless_allowed():
    with pytest.raises(model.UnsafeConfigError, match=r"3f < n.*n >= 3f \+ 1.*--allow-unsafe"):
        model.config_for(3, 1)
    with pytest.raises(model.UnsafeConfigError):
        model.config_for(4, 2)
    assert issubclass(model.UnsafeConfigError, ValueError)
    for bad in ((0, 0), (4, -1), (3, 4)):
        with pytest.raises(ValueError, match="need"):
            model.config_for(*bad)
    safe = model.config_for(4, 1)
    assert safe.params == {**PROTOCOL.default_config.params, "max_view": 1, "spec_only": False}
    assert model.params_of(model.config_for(7, 2)).byzantine == (0, 6)


@pytest.mark.parametrize(("n", "f"), [(3, 1), (4, 2)])
def test_config_for_unsafe_yields_the_agreement_counterexample(n, f):
    config = model.config_for(n, f, allow_unsafe=True)
    result = explore(PROTOCOL.build(config, None).restricted_to(["committed_agreement"]))
    assert result.outcome == "violation"


def test_bench_reports_states_per_second():
    figures = model.bench_pbft(0.5)
    assert figures["config"] == "default" and figures["distinct_states"] > 0
    assert figures["states_per_second"] > 0


# -- Hypothesis ----------------------------------------------------------------------------------


def test_hypothesis_machine_seven_replicas_two_byzantine_drives_the_impl():
    seen = []

    class Recording(model.PbftMachine):
        def teardown(self):
            seen.append((self.new_views, self.executed))

    run_state_machine_as_test(
        Recording,
        settings=settings(max_examples=15, stateful_step_count=60, derandomize=True, deadline=None),
    )
    assert any(nv > 0 for nv, _ in seen) and any(ex > 0 for _, ex in seen)


def test_hypothesis_machine_catches_the_quorum_2f_mutant():
    class Quorum2f(model.PbftMachine):
        machine_params = attrs.evolve(model.MACHINE_PARAMS, max_view=0, requests=("r1",))
        machine_rules = spec.Rules(quorum_override=4)
        drive_impl = False

    with pytest.raises(AssertionError, match=r"prepared|committed_agreement|executed"):
        run_state_machine_as_test(
            Quorum2f,
            settings=settings(
                max_examples=80, stateful_step_count=40, derandomize=True, deadline=None
            ),
        )


# -- proofs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("proof", proofs.PROOFS, ids=lambda p: p.name)
def test_every_proof_is_proved(proof):
    verdict = check_goal(proof.build(None), 10_000)
    assert verdict.status == "proved", (verdict.reason, verdict.counterexample)


@pytest.mark.parametrize(
    ("mutant", "proof"),
    [(m, p) for m in proofs.MUTANTS for p in proofs.PROOFS],
    ids=lambda x: x.name,
)
def test_proof_mutants_break_exactly_what_they_claim(mutant, proof):
    verdict = check_goal(proof.build(mutant.name), 10_000)
    if proof.name in mutant.breaks:
        assert verdict.status == "counterexample", verdict.reason
        assert "claim violated" in verdict.counterexample
    else:
        assert verdict.status == "proved", (verdict.reason, verdict.counterexample)


def test_quorum_2f_proof_counterexample_is_four_replicas_sharing_nobody():
    verdict = check_goal(proofs.quorums_intersect(proofs.QUORUM_2F))
    assert "n = 4, f = 1" in verdict.counterexample and "A_and_B = 0" in verdict.counterexample


# -- impl ----------------------------------------------------------------------------------------

CONFIGS = model.node_configs(FOUR)
SEEDS = [impl.derive_seed(i) for i in range(4)]
D = impl.request_digest(R)


def _sig(sender, kind, view, seq, digest=D, request=None, **kw):
    return impl.sign(SEEDS[sender], impl.Signed(kind, view, seq, digest, sender, request, **kw))


def _pp(view=0, seq=1, request=R):
    return _sig(
        FOUR.primary(view), impl.PRE_PREPARE, view, seq, impl.request_digest(request), request
    )


def test_keys_are_inputs_and_signatures_deterministic():
    assert impl.derive_seed(1) == impl.derive_seed(1) != impl.derive_seed(2)
    assert len(impl.public_key(impl.derive_seed(1))) == 32
    assert _pp() == _pp() and len(_pp().signature) == 64


@pytest.mark.parametrize(("event", "kind"), model.forged_events(FOUR), ids=lambda x: str(x)[:30])
def test_forged_events_are_refused_with_their_fault_and_change_nothing(event, kind):
    node = impl.new_node(CONFIGS[1])
    post, effects = impl.step(node, event)
    assert post == node
    assert [f.kind for f in effects.faults] == [kind]
    assert effects.broadcasts == () and effects.replies == ()


def _backup_with_accepted_pp():
    node, effects = impl.step(impl.new_node(CONFIGS[2]), impl.PrePrepareReceived(_pp()))
    assert effects.broadcasts == (_sig(2, impl.PREPARE, 0, 1),)
    return node


STATEFUL_FAULTS = [
    # another digest for an accepted (v, n): the primary equivocates
    (impl.PrePrepareReceived(_pp(request=spec.NULL)), impl.FaultKind.CONFLICTING_PRE_PREPARE),
    # n = 2 > H = h + k = 1
    (impl.PrePrepareReceived(_pp(seq=2)), impl.FaultKind.OUT_OF_WATERMARKS),
    # a prepare of another sequence number in the certificate
    (
        impl.PreparedCertificate(_pp(), (_sig(2, impl.PREPARE, 0, 1), _sig(3, impl.PREPARE, 0, 2))),
        impl.FaultKind.WRONG_CERTIFICATE,
    ),
    # 2f = 2 prepares needed, one given
    (
        impl.PreparedCertificate(_pp(), (_sig(2, impl.PREPARE, 0, 1),)),
        impl.FaultKind.INSUFFICIENT_QUORUM,
    ),
    # a checkpoint quorum for a state the replica is behind on, without the state
    (
        impl.CheckpointCertificate(
            tuple(_sig(s, impl.CHECKPOINT, 0, 1, impl.state_digest((R,))) for s in (0, 1, 3))
        ),
        impl.FaultKind.DIGEST_MISMATCH,
    ),
]


@pytest.mark.parametrize(("event", "kind"), STATEFUL_FAULTS, ids=lambda x: str(x)[:30])
def test_stateful_faults_are_refused_and_change_nothing(event, kind):
    node = _backup_with_accepted_pp()
    post, effects = impl.step(node, event)
    assert post == node and [f.kind for f in effects.faults] == [kind]


def test_every_fault_kind_is_exercised():
    kinds = {k for _, k in model.forged_events(FOUR)} | {k for _, k in STATEFUL_FAULTS}
    assert kinds == set(impl.FaultKind)


def test_a_pre_prepare_signed_with_another_replicas_key_is_a_bad_signature():
    forged = impl.sign(SEEDS[1], impl.Signed(impl.PRE_PREPARE, 0, 1, D, 0, R))  # 0's, 1's key
    node = impl.new_node(CONFIGS[2])
    post, effects = impl.step(node, impl.PrePrepareReceived(forged))
    assert effects.faults == (impl.Fault(0, impl.FaultKind.BAD_SIGNATURE),) and post == node


def _run_normal_case():
    """All four replicas correct (replica 0 the primary): r1 runs to a stable checkpoint."""
    nodes = {i: impl.new_node(CONFIGS[i]) for i in range(4)}
    nodes[0], eff = impl.step(nodes[0], impl.RequestReceived(R))
    (pp,) = eff.broadcasts
    prepares = []
    for i in (1, 2, 3):
        nodes[i], eff = impl.step(nodes[i], impl.PrePrepareReceived(pp))
        prepares += eff.broadcasts
    commits = []
    for i in range(4):
        nodes[i], eff = impl.step(nodes[i], impl.PreparedCertificate(pp, tuple(prepares)))
        commits += eff.broadcasts
    checkpoints, replies = [], []
    for i in range(4):
        nodes[i], eff = impl.step(nodes[i], impl.CommitCertificate(tuple(commits)))
        checkpoints += eff.broadcasts
        replies += eff.replies
    for i in range(4):
        nodes[i], eff = impl.step(nodes[i], impl.CheckpointCertificate(tuple(checkpoints)))
        assert not eff.faults
    return nodes, replies


def test_impl_normal_case_executes_replies_and_collects_garbage():
    nodes, replies = _run_normal_case()
    assert all(n.executed == (R,) and n.low == 1 for n in nodes.values())
    assert all(n.accepted == () and n.prepared == () for n in nodes.values())  # GC below h
    assert len(nodes[2].checkpoint_proof) == 3
    client = impl.new_client(impl.ClientConfig(CONFIGS[0].public_keys, 1))
    client, eff = impl.client_step(client, impl.ReplyReceived(replies[0]))
    assert eff.accepted == ()
    client, eff = impl.client_step(client, impl.ReplyReceived(replies[1]))
    assert eff.accepted == ((R, 1),)
    bogus = _sig(3, impl.REPLY, 0, 1, impl.request_digest("r2"), R)
    _, eff = impl.client_step(client, impl.ReplyReceived(bogus))
    assert eff.faults == (impl.Fault(3, impl.FaultKind.DIGEST_MISMATCH),)


def test_impl_new_view_carries_prepared_requests_and_rejects_a_doctored_o():
    nodes = {i: impl.new_node(CONFIGS[i]) for i in range(4)}
    pp = _pp()
    prepares = []
    for i in (1, 2, 3):
        nodes[i], eff = impl.step(nodes[i], impl.PrePrepareReceived(pp))
        prepares += eff.broadcasts
    for i in (1, 2, 3):
        nodes[i], _ = impl.step(nodes[i], impl.PreparedCertificate(pp, tuple(prepares)))
    vcs = {}
    for i in (1, 2, 3):
        nodes[i], eff = impl.step(nodes[i], impl.Timeout())
        (vcs[i],) = eff.broadcasts
        assert [c[0].request for c in vcs[i].certs] == [R]
    nodes[1], eff = impl.step(nodes[1], impl.ViewChangeQuorum((vcs[2], vcs[3])))
    (nv,) = eff.broadcasts
    assert [(c[0].seq, c[0].request, c[0].view) for c in nv.certs] == [(1, R, 1)]
    assert nodes[1].active and nodes[1].view == 1
    # a NEW-VIEW whose O drops the prepared request does not follow from V
    null_pp = _sig(1, impl.PRE_PREPARE, 1, 1, impl.request_digest(spec.NULL), spec.NULL)
    doctored = impl.sign(SEEDS[1], attrs.evolve(nv, certs=((null_pp,),)))
    post, eff = impl.step(nodes[2], impl.NewViewReceived(doctored))
    assert eff.faults == (impl.Fault(1, impl.FaultKind.MALFORMED_NEW_VIEW),) and post == nodes[2]
    post, eff = impl.step(nodes[2], impl.NewViewReceived(nv))
    assert not eff.faults and post.view == 1 and post.active
    # section 4.4: the backup logs O's pre-prepare and multicasts its PREPARE
    assert (1, 1, impl.request_digest(R)) in post.accepted
    ((prepare),) = eff.broadcasts
    assert (prepare.kind, prepare.view, prepare.seq, prepare.sender) == (impl.PREPARE, 1, 1, 2)
    # so it refuses the (Byzantine) primary's second pre-prepare for (1, 1)
    _, eff = impl.step(post, impl.PrePrepareReceived(null_pp))
    assert eff.faults == (impl.Fault(1, impl.FaultKind.CONFLICTING_PRE_PREPARE),)
    # a VIEW-CHANGE whose P certificate lacks its prepares is malformed
    thin = impl.sign(SEEDS[3], attrs.evolve(vcs[3], certs=((pp,),)))
    post, eff = impl.step(nodes[2], impl.ViewChangesReceived((thin,)))
    assert eff.faults == (impl.Fault(3, impl.FaultKind.MALFORMED_VIEW_CHANGE),)


def test_impl_ignores_premature_events_without_a_fault():
    node = impl.new_node(CONFIGS[2])
    commits = tuple(_sig(s, impl.COMMIT, 0, 1) for s in (0, 1, 3))
    assert impl.step(node, impl.CommitCertificate(commits)) == (node, impl.NOTHING)
    assert impl.step(node, impl.RequestReceived(R)) == (node, impl.NOTHING)  # not the primary


def test_refinement_catches_an_impl_that_forgets_its_checkpoint():
    mutant = PROTOCOL.mutant("impl-forgets-checkpoint")
    result = explore(PROTOCOL.build(PROTOCOL.config("tiny"), mutant).restricted_to(["refinement"]))
    assert isinstance(result.violation.trace[-1].action, spec.StableCheckpoint)
    assert "impl gave" in result.violation.detail


# -- a Byzantine primary of view 1 (config byzantine-new-view) ------------------------------------

BYZ1 = model.params_of(PROTOCOL.config("byzantine-new-view"))  # replica 1 Byzantine


def _attack_setup(ctx):
    """View 0 (correct primary 0) commits r1 at replicas 0 and 2 (COMMITs of 0, 2 and the faulty
    1); replicas 2 and 3 time out (their P sets carry r1's certificate), replica 0 too."""
    acts = [spec.PrePrepare(0, 1, R), spec.Prepare(2, 0, 1, R)]
    acts += [spec.Commit(i, 0, 1, R) for i in (0, 2)]
    acts += [spec.StartViewChange(i) for i in (0, 2, 3)]
    return run(ctx, acts)


def _vc(state, i):
    return next(m for m in state.pool if m.kind == spec.VIEW_CHANGE and m.sender == i)


def test_byzantine_alphabet_has_new_views_of_every_kind_for_the_faulty_primary():
    alphabet = spec.byzantine_alphabet(BYZ1)
    nvs = [m for m in alphabet if m.kind == spec.NEW_VIEW]
    assert nvs and all(m.sender == 1 and m.view == 1 and m.vset for m in nvs)
    assert {len(m.vset) for m in nvs} == {2, 3}  # quorums and one short
    ctx = spec.Context(BYZ1)
    wrong = [m for m in nvs if ctx.compute_o(1, m.vset, paper=True)[2] != m.certs]
    assert any(m.certs == () for m in wrong) and any(m.certs for m in wrong)
    # the default config's view 1 primary is correct: no NEW-VIEW in its alphabet
    assert not any(m.kind == spec.NEW_VIEW for m in spec.byzantine_alphabet(FOUR))


def test_backups_accept_only_a_byzantine_new_view_whose_o_follows_from_a_quorum_v():
    ctx = spec.Context(BYZ1)
    state = _attack_setup(ctx)
    assert spec.committed_agreement(ctx, state) and ctx.committed_local(state.pool, 0, 0, 1, R)
    byz_vc = spec.Msg(spec.VIEW_CHANGE, 1, 0, "", 1)  # the faulty replica hides everything
    v_good = (_vc(state, 2), _vc(state, 3), byz_vc)
    accepts = {
        (a.o, a.vset)
        for a in spec.enabled_actions(ctx, state)
        if isinstance(a, spec.AcceptNewView) and a.replica == 2
    }
    cert = ((1, R, 1),)
    assert (cert, tuple(sorted(v_good))) in {(o, tuple(sorted(v))) for o, v in accepts}
    # every NEW-VIEW a backup accepts re-proposes r1 at 1: O ignoring the certificate, O with a
    # gap, or V of two replicas that omit it are all refused
    assert all(o == cert for o, _ in accepts), accepts
    shown = [nv for nvs in ctx.tally(state.pool).new_views.values() for nv in nvs]
    bad = [nv for nv in shown if not ctx.valid_new_view(state.pool, nv)]
    assert {nv.certs for nv in bad} >= {(), ((1, spec.NULL, 1),), cert}
    assert any(len(nv.vset) == 2 for nv in bad)
    # the impl refuses every one of them and accepts the good ones
    refiner = model.Refiner(ctx)
    node = refiner.concretize(state, rep(ctx, state, 2))
    for nv in bad:
        post, eff = impl.step(node, impl.NewViewReceived(refiner.sign(nv, state.pool, fresh=True)))
        assert eff.faults == (impl.Fault(1, impl.FaultKind.MALFORMED_NEW_VIEW),) and post == node
    good = spec.Msg(spec.NEW_VIEW, 1, 0, "", 1, (), cert, v_good)
    post, eff = impl.step(node, impl.NewViewReceived(refiner.sign(good, state.pool, fresh=True)))
    assert not eff.faults and (post.view, post.active) == (1, True)


def test_backup_accepts_any_new_view_mutant_loses_a_committed_request():
    """The attack the mutant lets through, by hand: O of the faulty primary ignores r1's
    certificate, backups 0 and 3 accept it, and null commits at sequence number 1 in view 1."""
    mutant = PROTOCOL.mutant("backup-accepts-any-new-view")
    ctx = spec.Context(BYZ1, model.rules_for(BYZ1, mutant))
    state = _attack_setup(ctx)
    byz_vc = spec.Msg(spec.VIEW_CHANGE, 1, 0, "", 1)
    vs = tuple(sorted((_vc(state, 0), _vc(state, 3), byz_vc)))
    lying = ((1, spec.NULL, 1),)
    assert not spec.Context(BYZ1).valid_new_view(
        state.pool, spec.Msg(spec.NEW_VIEW, 1, 0, "", 1, (), lying, vs)
    )
    acts = [spec.AcceptNewView(i, 1, 0, (), lying, vs) for i in (0, 3)]
    acts += [spec.Commit(i, 1, 1, spec.NULL) for i in (0, 3)]
    state = run(ctx, acts, state)
    assert ctx.committed_local(state.pool, 0, 1, 1, spec.NULL)
    assert not spec.committed_agreement(ctx, state)
    assert not spec.view_change_preserves_commits(ctx, state)
    # with the paper's check, neither AcceptNewView is enabled
    paper = spec.Context(BYZ1)
    assert spec.AcceptNewView(0, 1, 0, (), lying, vs) not in spec.enabled_actions(
        paper, _attack_setup(paper)
    )


def test_byzantine_new_view_mutant_breaks_agreement_in_the_model_too():
    mutant = PROTOCOL.mutant("backup-accepts-any-new-view")
    m = PROTOCOL.build(PROTOCOL.config("byzantine-new-view"), mutant)
    result = explore(m.restricted_to(["committed_agreement"]), Bounds(max_seconds=60))
    assert result.violation and result.violation.property_name == "committed_agreement"
    actions = [step.action for step in result.violation.trace[1:]]
    assert any(isinstance(a, spec.AcceptNewView) and a.vset for a in actions)


@SLOW
def test_byzantine_new_view_config_holds_with_the_impl_and_its_pinned_count():
    config = PROTOCOL.config("byzantine-new-view")
    result = explore(PROTOCOL.build(config, None))
    assert result.outcome == "ok" and result.complete, result.violation
    assert result.distinct_states == config.expected_distinct_states
    assert config.expected_distinct_states == model.BYZANTINE_NEW_VIEW_STATES == 31849


# -- the f + 1 rule (section 4.5.2) --------------------------------------------------------------


def test_the_f_plus_1_rule_can_skip_a_view():
    params = model.params_of(PROTOCOL.config("views-0-2"))
    ctx = spec.Context(params)
    state = run(ctx, [spec.StartViewChange(1), spec.StartViewChange(1)])
    assert not spec.joined_by_f_plus_1(ctx, state)
    enabled = list(spec.enabled_actions(ctx, state))
    # VIEW-CHANGEs of 0 (faulty, any view) and 1 (view 2): the least view of a set of f + 1
    assert spec.JoinViewChange(2, 1) in enabled and spec.JoinViewChange(2, 2) in enabled
    state = run(ctx, [spec.JoinViewChange(2, 2)], state)
    assert rep(ctx, state, 2).view == 2 and spec.joined_by_f_plus_1(ctx, state)
    # a timeout moves one view: the same replica timing out twice is not a skip
    other = run(ctx, [spec.StartViewChange(1), spec.StartViewChange(1)])
    other = run(ctx, [spec.StartViewChange(2), spec.StartViewChange(2)], other)
    assert not spec.joined_by_f_plus_1(ctx, other)
    assert "joined_by_f_plus_1" not in {
        r.name for r in PROTOCOL.build(PROTOCOL.default_config, None).reachables
    }


def test_views_0_2_config_reaches_every_reachable_with_its_pinned_count():
    config = PROTOCOL.config("views-0-2")
    result = explore(PROTOCOL.build(config, None), config.bounds)
    assert result.outcome == "ok" and result.violation is None and not result.unreached
    assert "joined_by_f_plus_1" in result.reached
    assert result.distinct_states == 11665
