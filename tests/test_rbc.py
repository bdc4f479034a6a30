"""Bracha reliable broadcast: model checks, mutants, faults, spec examples, proofs."""

import pytest

from mnemosyne_consensus.impl import rbc as impl
from mnemosyne_consensus.model_checks import rbc
from mnemosyne_consensus.model_checks.engine import Bounds, explore
from mnemosyne_consensus.proofs import rbc as proofs
from mnemosyne_consensus.proofs.core import check_goal
from mnemosyne_consensus.spec import rbc as spec


@pytest.mark.parametrize(("config", "states"), [("default", 517), ("correct-sender", 149)])
def test_configs_hold_exhaustively_with_pinned_counts(config, states):
    model = rbc.build(rbc.PROTOCOL.config(config), None)
    result = explore(model)
    assert result.outcome == "ok" and result.complete
    assert set(result.reached) == {r.name for r in model.reachables}
    assert result.distinct_states == states


def test_impl_refines_the_spec_on_a_bounded_run():
    config = rbc.PROTOCOL.config("impl")
    result = explore(rbc.build(config, None), Bounds(max_states=3_000))
    assert result.outcome in ("ok", "unreached") and result.violation is None
    assert result.distinct_states >= 3_000


@pytest.mark.parametrize("mutant", rbc.MUTANTS, ids=lambda m: m.name)
def test_every_mutant_is_caught(mutant):
    model = rbc.build(rbc.PROTOCOL.config(mutant.config or "tiny"), mutant)
    result = explore(model.restricted_to([mutant.breaks]))
    assert result.outcome == "violation"
    assert result.violation.property_name == mutant.breaks
    assert len(result.violation.trace) >= 2


def test_every_always_property_has_a_mutant():
    model = rbc.build(rbc.PROTOCOL.default_config, None)
    always = {p.name for p in (*model.invariants, *model.step_properties)}
    assert always <= {m.breaks for m in rbc.MUTANTS}


def _node(me=0, sender=3):
    return impl.new_node(impl.NodeConfig(me, 4, 1, sender))


@pytest.mark.parametrize(
    ("sender", "message", "kind"),
    [
        (9, impl.Message(impl.ECHO, 3, "a"), impl.FaultKind.UNKNOWN_SENDER),
        (0, impl.Message(impl.ECHO, 3, "a"), impl.FaultKind.UNKNOWN_SENDER),
        (1, impl.Message("hello", 3, "a"), impl.FaultKind.MALFORMED),
        (1, impl.Message(impl.ECHO, 3, 7), impl.FaultKind.MALFORMED),
        (1, impl.Message(impl.ECHO, 2, "a"), impl.FaultKind.WRONG_INSTANCE),
        (1, impl.Message(impl.VAL, 3, "a"), impl.FaultKind.NOT_SENDER),
    ],
)
def test_faults_leave_the_state_unchanged(sender, message, kind):
    node = _node()
    post, effects = impl.step(node, impl.Receive(sender, message))
    assert post == node
    assert [f.kind for f in effects.faults] == [kind]


def test_duplicate_and_equivocation_are_refused():
    node, _ = impl.step(_node(), impl.Receive(1, impl.Message(impl.READY, 3, "a")))
    for value, kind in (("a", impl.FaultKind.DUPLICATE), ("b", impl.FaultKind.EQUIVOCATION)):
        post, effects = impl.step(node, impl.Receive(1, impl.Message(impl.READY, 3, value)))
        assert post == node and [f.kind for f in effects.faults] == [kind]


def test_a_correct_broadcast_is_delivered_by_every_node():
    nodes = [impl.new_node(impl.NodeConfig(i, 4, 1, 0)) for i in range(4)]
    queue = []
    nodes[0], eff = impl.step(nodes[0], impl.Input("a"))
    queue += [(0, m) for m in eff.broadcasts]
    delivered = {}
    while queue:
        frm, m = queue.pop(0)
        for i in range(4):
            if i != frm:
                nodes[i], eff = impl.step(nodes[i], impl.Receive(frm, m))
                assert not eff.faults
                queue += [(i, x) for x in eff.broadcasts]
                if eff.delivered:
                    delivered[i] = eff.delivered
    assert delivered == {i: "a" for i in range(4)}
    with pytest.raises(impl.LocalMisuseError):
        impl.step(nodes[0], impl.Input("b"))


def test_spec_thresholds_for_n_4_and_7():
    assert spec.Context(spec.Params(4, 1, 0, (3,), ("a",), "a")).echo_quorum == 3
    assert spec.Context(spec.Params(7, 2, 0, (6,), ("a",), "a")).echo_quorum == 5
    assert impl.echo_quorum(5, 1) == 4  # ⌈(5+1+1)/2⌉, not 2f+1 = 3


def test_spec_example_equivocating_sender_splits_echoes_but_not_readies():
    params = rbc.params_of(rbc.PROTOCOL.config("default"))
    ctx = spec.Context(params)
    s = spec.initial_state(params)
    for p, v in ((0, "a"), (1, "a"), (2, "b")):
        s = spec.apply(ctx, s, spec.Echo(p, v))
    enabled = set(spec.enabled_actions(ctx, s))
    assert spec.ReadyOnEcho(0, "a") in enabled and spec.ReadyOnEcho(0, "b") not in enabled


def test_proofs_hold_and_mutants_give_counterexamples():
    for proof in proofs.PROOFS:
        assert check_goal(proof.build(None)).status == "proved", proof.name
    for mutant in proofs.MUTANTS:
        for proof in proofs.PROOFS:
            status = check_goal(proof.build(mutant.name)).status
            expected = "counterexample" if proof.name in mutant.breaks else "proved"
            assert status == expected, (mutant.name, proof.name)


# -- Hypothesis machines ------------------------------------------------------------------------

TestRbcMachine = rbc.RbcMachine.TestCase
TestRbcMachineSeven = rbc.RbcMachineSeven.TestCase


# -- Oracle ---------------------------------------------------------------------------------------


def test_codec_round_trips_and_rejects_bad_documents():
    from mnemosyne_consensus.model_checks.codec import DecodeError

    codec = rbc.CODEC
    node = _node()
    node, _ = impl.step(node, impl.Receive(1, impl.Message(impl.ECHO, 3, "a")))
    node, _ = impl.step(node, impl.Receive(3, impl.Message(impl.VAL, 3, "b")))
    doc = codec.encode_state(node)
    assert codec.decode_state(doc) == node
    event = impl.Receive(2, impl.Message(impl.READY, 3, "a"))
    assert codec.decode_event(codec.encode_event(event)) == event
    with pytest.raises(DecodeError) as error:
        codec.decode_state({**doc, "echoes": [[9, "a"]]})
    assert error.value.path == "$.echoes[0][0]"


def _walk(tmp_path):
    from mnemosyne_consensus.model_checks.vectors import random_runs

    (run,) = random_runs(rbc.PROTOCOL, rbc.ORACLE, runs=1, steps=30, seed=8)
    return run


def test_a_generated_trace_validates_and_a_tampered_one_fails(tmp_path):
    from mnemosyne_consensus.model_checks.codec import dumps_line
    from mnemosyne_consensus.model_checks.validate import validate_lines

    run = _walk(tmp_path)
    lines = [dumps_line(line) for line in run]
    result = validate_lines("rbc", lines, rbc.ORACLE.step_checker)
    assert result.failure is None and result.steps == len(run) - 1
    # a node that reports a delivery it has no quorum for
    header, first, *_ = run
    forged = dict(first)
    forged["state"] = {**first["state"], "delivered": "a", "readied": "a"}
    forged["effects"] = None
    forged.pop("effects")
    bad = validate_lines("rbc", [dumps_line(header), dumps_line(forged)], rbc.ORACLE.step_checker)
    assert bad.failure is not None and bad.failure.property_name in ("record", "refinement")


def test_vectors_have_positive_and_negative_cases_and_our_impl_passes_them():
    from mnemosyne_consensus.model_checks.vectors import generate_cases

    cases = generate_cases(rbc.PROTOCOL, rbc.ORACLE)
    outcomes = {c.meta["expected"] for c in cases}
    assert (
        "accept" in outcomes and "fault:equivocation" in outcomes and "fault:not_sender" in outcomes
    )
    for case in cases:
        node = rbc.CODEC.decode_state(case.pre)
        post, effects = rbc.CODEC.step(node, rbc.CODEC.decode_event(case.event))
        assert rbc.CODEC.encode_state(post) == case.post
        assert rbc.CODEC.encode_effects(effects) == case.effects


# -- The erasure-coded variant (HB Figure 2 / AVID) -----------------------------------------------

import random  # noqa: E402

from mnemosyne_consensus.impl import erasure  # noqa: E402


def _avid_run(n, f, sender_vals, byzantine_sender, seed, extra=(), start=None):
    """Runs correct AVID nodes with random delivery; ``sender_vals`` are (to, AvidVal) sends of
    the sender (correct or not); ``extra`` are (from, to, message) Byzantine messages."""
    sender = n - 1 if byzantine_sender else 0
    correct = [i for i in range(n) if not (byzantine_sender and i == sender)]
    nodes = {i: impl.new_avid_node(impl.NodeConfig(i, n, f, sender)) for i in correct}
    nodes.update(start or {})
    flight = [(sender, to, m) for to, m in sender_vals if to in nodes] + list(extra)
    outcome = {}
    rng = random.Random(seed)
    while flight:
        frm, to, m = flight.pop(rng.randrange(len(flight)))
        nodes[to], eff = impl.avid_step(nodes[to], impl.Receive(frm, m))
        flight += [(to, j, x) for x in eff.broadcasts for j in nodes if j != to]
        if eff.delivered is not None or eff.aborted:
            outcome[to] = eff.delivered if eff.delivered is not None else "abort"
    return nodes, outcome


@pytest.mark.parametrize(("n", "f"), [(4, 1), (7, 2)])
@pytest.mark.parametrize("seed", range(3))
def test_avid_correct_sender_every_node_delivers(n, f, seed):
    payload = bytes(range(50)) * 3
    node = impl.new_avid_node(impl.NodeConfig(0, n, f, 0))
    node, eff = impl.avid_step(node, impl.Input(payload))
    assert len(eff.sends) == n - 1 and len(eff.broadcasts) == 1
    flight = [(0, j, eff.broadcasts[0]) for j in range(1, n)]
    _, outcome = _avid_run(n, f, eff.sends, False, seed, flight, start={0: node})
    assert outcome == {i: payload for i in range(n)}


def _inconsistent_dispersal(n, f):
    """A Byzantine sender's commitment to blocks of no codeword (one block replaced)."""
    d = erasure.disperse(b"honey badger" * 5, n - 2 * f, n)
    blocks = list(d.blocks)
    blocks[1] = bytes(len(blocks[1]))
    root = erasure.merkle_root(blocks)
    branches = [erasure.merkle_branch(blocks, j) for j in range(n)]
    return root, blocks, branches


@pytest.mark.parametrize("seed", range(3))
def test_avid_inconsistent_encoding_is_aborted_by_every_correct_node(seed):
    n, f = 4, 1
    root, blocks, branches = _inconsistent_dispersal(n, f)
    vals = [(j, impl.AvidVal(3, root, j, blocks[j], branches[j])) for j in range(3)]
    echo = impl.AvidEcho(3, root, 3, blocks[3], branches[3])
    _, outcome = _avid_run(n, f, vals, True, seed, [(3, j, echo) for j in range(3)])
    assert outcome == {0: "abort", 1: "abort", 2: "abort"}


@pytest.mark.parametrize("seed", range(4))
def test_avid_equivocating_sender_cannot_split_deliveries(seed):
    n, f = 4, 1
    a = erasure.disperse(b"A" * 40, 2, 4)
    b = erasure.disperse(b"B" * 40, 2, 4)
    vals = [(0, impl.AvidVal(3, a.root, 0, a.blocks[0], a.branches[0]))]
    vals += [(1, impl.AvidVal(3, a.root, 1, a.blocks[1], a.branches[1]))]
    vals += [(2, impl.AvidVal(3, b.root, 2, b.blocks[2], b.branches[2]))]
    extra = [
        (3, j, impl.AvidEcho(3, d.root, 3, d.blocks[3], d.branches[3]))
        for j, d in ((0, a), (1, a), (2, b))
    ]
    extra += [(3, j, impl.AvidReady(3, r)) for j in range(3) for r in (a.root, b.root)]
    _, outcome = _avid_run(n, f, vals, True, seed, extra)
    assert len(set(outcome.values())) <= 1


def test_avid_faults_leave_the_state_unchanged():
    d = erasure.disperse(b"x" * 30, 2, 4)
    node = impl.new_avid_node(impl.NodeConfig(1, 4, 1, 0))
    cases = [
        (0, impl.AvidVal(0, d.root, 0, d.blocks[0], d.branches[0]), impl.FaultKind.BAD_BRANCH),
        (0, impl.AvidVal(0, d.root, 1, d.blocks[0], d.branches[1]), impl.FaultKind.BAD_BRANCH),
        (2, impl.AvidVal(0, d.root, 1, d.blocks[1], d.branches[1]), impl.FaultKind.NOT_SENDER),
        (2, impl.AvidEcho(5, d.root, 2, d.blocks[2], d.branches[2]), impl.FaultKind.WRONG_INSTANCE),
        (2, impl.AvidReady(0, b"short"), impl.FaultKind.MALFORMED),
        (9, impl.AvidReady(0, d.root), impl.FaultKind.UNKNOWN_SENDER),
    ]
    for sender, message, kind in cases:
        post, eff = impl.avid_step(node, impl.Receive(sender, message))
        assert post == node and [x.kind for x in eff.faults] == [kind], kind
    node, _ = impl.avid_step(node, impl.Receive(2, impl.AvidReady(0, d.root)))
    for root, kind in (
        (d.root, impl.FaultKind.DUPLICATE),
        (b"\0" * 32, impl.FaultKind.EQUIVOCATION),
    ):
        post, eff = impl.avid_step(node, impl.Receive(2, impl.AvidReady(0, root)))
        assert post == node and [x.kind for x in eff.faults] == [kind]


@pytest.mark.parametrize("machine", [rbc.RbcMachine, rbc.RbcMachineSeven], ids=["n4", "n7"])
def test_machine_runs_with_byzantine_noise_deliver_one_value(machine):
    m = machine()
    rng = random.Random(0)
    if m.params.sender_correct:
        m.sender_inputs("a")
    for _ in range(400):
        if m.in_flight and rng.random() < 0.8:
            m.deliver(rng.randrange(10_000))
        else:
            m.byzantine_sends(rng.randrange(10_000), rng.randrange(10_000))
        m.spec_invariants_hold()
    delivered = {node.delivered for node in m.nodes.values()}
    assert len(delivered) == 1 and None not in delivered


# -- The erasure-coded variant in the model (spec, mutants, avid_step under the spec) -------------

from mnemosyne_consensus.model_checks.engine import simulate  # noqa: E402


@pytest.mark.parametrize(("config", "states"), [("avid", 905), ("avid-correct-sender", 101)])
def test_avid_configs_hold_exhaustively_with_pinned_counts(config, states):
    model = rbc.build(rbc.PROTOCOL.config(config), None)
    result = explore(model)
    assert result.outcome == "ok" and result.complete
    assert set(result.reached) == {r.name for r in model.reachables}
    assert result.distinct_states == states == rbc.PROTOCOL.config(config).expected_distinct_states


def test_every_always_property_of_the_avid_model_has_an_avid_mutant():
    for config in ("avid", "avid-impl"):
        model = rbc.build(rbc.PROTOCOL.config(config), None)
        always = {p.name for p in (*model.invariants, *model.step_properties)}
        assert always <= {m.breaks for m in rbc.MUTANTS if m.name.startswith("avid-")}


def test_avid_step_refines_the_spec_breadth_first():
    config = rbc.PROTOCOL.config("avid-impl")
    result = explore(rbc.build(config, None), Bounds(max_states=3_000))
    assert result.violation is None and result.distinct_states >= 3_000
    assert "echoes_split" in result.reached


@pytest.mark.parametrize("config", ["avid-impl", "avid-impl-correct-sender"])
def test_avid_step_refines_the_spec_on_random_runs_to_the_end(config):
    model = rbc.build(rbc.PROTOCOL.config(config), None)
    result = simulate(model, runs=150, steps=200, seed=1)
    assert result.outcome == "ok" and result.violation is None
    assert set(result.reached) == {r.name for r in model.reachables}


def _avid_params(config="avid"):
    return rbc.avid_params_of(rbc.PROTOCOL.config(config))


def test_the_abstract_coding_matches_zfec_and_the_merkle_root():
    """For every dispersal of the model and every N − 2f blocks: the abstract interpolation
    names the payload zfec decodes (a value's payload, or garbage), the re-encoding agrees with
    the real blocks exactly where the abstraction says, and the root check (erasure.reconstruct)
    refuses exactly the inconsistent dispersals."""
    import itertools

    params = _avid_params()
    real = rbc.real_dispersals(params)
    k, n = params.k, params.n
    payloads = {rbc.avid_payload(v): v for v in ("a", "b")}
    for d in params.dispersals:
        blocks, root = real.blocks[d.root], real.roots[d.root]
        for used in itertools.combinations(range(n), k):
            value, agree = spec.interpolate(d, used)
            decoded = erasure.decode([(j, blocks[j]) for j in used], k, n)
            if value in payloads.values():
                assert decoded == rbc.avid_payload(value)
            else:
                assert value.startswith("?") and decoded not in payloads
            if isinstance(decoded, bytes):
                again = erasure.encode(decoded, k, n)
                assert {j for j in range(n) if again[j] == blocks[j]} == agree
            verdict = erasure.reconstruct(root, [(j, blocks[j]) for j in used], k, n)
            assert isinstance(verdict, erasure.Rejected) == (not d.consistent), (d, used)


def test_spec_example_an_inconsistent_dispersal_is_aborted_whichever_blocks_are_decoded():
    params = _avid_params()
    ctx = spec.AvidContext(params)
    senders = frozenset({0, 1, 2, 3})
    assert ctx.outcomes("X", senders, 3) == (spec.ABORT,)
    assert ctx.outcomes("Y", senders, 2) == (spec.ABORT,)
    assert ctx.outcomes("A", senders, 2) == ("a",)
    # checking only the blocks received, the verdict depends on which ones (the mutant's bug)
    lax = spec.AvidContext(params, rbc.AVID_RULE_MUTANTS["avid-check-received-blocks"])
    assert set(lax.outcomes("X", senders, 3)) == {spec.ABORT, "a"}


def test_spec_example_split_roots_echo_but_ready_only_on_n_minus_f():
    params = _avid_params()
    ctx = spec.AvidContext(params)
    s = spec.avid_initial_state(params)
    for p, h in ((0, "A"), (1, "A"), (2, "X")):
        s = spec.avid_apply(ctx, s, spec.AvidEcho(p, h))
    enabled = set(spec.avid_enabled_actions(ctx, s))
    assert spec.AvidReadyOnEcho(0, "A") in enabled  # 0, 1 and the Byzantine node's ECHO(A)
    assert spec.AvidAbortOnEcho(0, "X") not in enabled  # only 2 and the Byzantine node
    assert spec.avid_quiescent(ctx, s)  # the correct ECHOs alone: a fair run may end here
    s = spec.avid_apply(ctx, s, spec.AvidReadyOnEcho(0, "A"))
    assert spec.avid_ready_agreement(ctx, s) and spec.avid_outcome_agreement(ctx, s)


def test_avid_forged_events_are_refused_by_avid_step():
    params = _avid_params()
    real = rbc.real_dispersals(params)
    node = impl.new_avid_node(impl.NodeConfig(0, 4, 1, 3))
    for event, kind in rbc.avid_forged_events(params, real, 0):
        post, effects = impl.avid_step(node, event)
        assert post == node and [f.kind for f in effects.faults] == [kind]


TestAvidMachine = rbc.AvidMachine.TestCase
TestAvidMachineCorrectSender = rbc.AvidMachineCorrectSender.TestCase
TestAvidMachineSeven = rbc.AvidMachineSeven.TestCase


def test_avid_machine_runs_deliver_or_abort_together():
    """Random schedules of the n = 4 machines, then a fair end: a correct sender's value is
    delivered by all; a Byzantine sender's runs end with all delivering one value, or nobody
    delivering (some may abort); both kinds of end occur."""
    ends = set()
    for machine in (rbc.AvidMachine, rbc.AvidMachineCorrectSender):
        for seed in range(30):
            m = machine()
            rng = random.Random(seed)
            if m.params.sender_correct:
                m.sender_inputs()
            for _ in range(150):
                if m.in_flight and rng.random() < 0.6:
                    m.deliver(rng.randrange(10_000))
                else:
                    m.byzantine_sends(rng.randrange(10_000), rng.randrange(10_000))
                m.spec_invariants_hold()
            m.drain()
            procs = m.abstract().processes
            delivered = {p.delivered for p in procs}
            if m.params.sender_correct:
                assert delivered == {"a"}
            elif delivered - {None}:
                assert len(delivered) == 1 and not any(p.aborted for p in procs)
            ends.add("abort" if any(p.aborted for p in procs) else str(sorted(delivered, key=str)))
    assert {"abort", "['a']", "['b']"} <= ends
