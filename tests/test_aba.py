"""Binary agreement (MMR + CONF): model checks, mutants, the issue-59 attack, proofs."""

import pytest

from mnemosyne_consensus.model_checks import aba
from mnemosyne_consensus.model_checks.engine import explore
from mnemosyne_consensus.proofs import aba as proofs
from mnemosyne_consensus.proofs.core import check_goal
from mnemosyne_consensus.spec import aba as spec

CHEAP_MUTANTS = aba.MUTANTS


@pytest.mark.parametrize(("config", "states"), [("tiny", 2758), ("unanimous", 197), ("term", 197)])
def test_configs_hold_exhaustively_with_pinned_counts(config, states):
    result = explore(aba.build(aba.PROTOCOL.config(config), None))
    assert result.outcome in ("ok", "unreached") and result.violation is None
    assert result.complete and result.distinct_states == states


def test_bounded_liveness_every_fair_run_with_a_good_coin_decides():
    config = aba.PROTOCOL.config("liveness-tiny")
    model = aba.build(config, None)
    result = explore(model)
    assert result.outcome == "unreached" and result.violation is None and result.complete
    assert "all_decided" in result.reached and "decided_in_round_1" in result.reached
    # with a good coin the estimates never split: the fix's guarantee, seen from the other side
    assert "estimates_split" in result.unreached
    assert result.distinct_states == config.expected_distinct_states


@pytest.mark.parametrize("mutant", CHEAP_MUTANTS, ids=lambda m: m.name)
def test_every_mutant_is_caught(mutant):
    model = aba.build(aba.PROTOCOL.config(mutant.config or "tiny"), mutant)
    result = explore(model.restricted_to([mutant.breaks]))
    assert result.outcome == "violation"
    assert result.violation.property_name == mutant.breaks
    assert len(result.violation.trace) >= 2


def test_every_always_property_has_a_mutant():
    model = aba.build(aba.PROTOCOL.default_config, None)
    always = {p.name for p in (*model.invariants, *model.step_properties)}
    assert always <= {m.breaks for m in aba.MUTANTS}


def test_bounded_liveness_with_halting_deciders_and_byzantine_terms():
    """Decided nodes halt after TERM; the Byzantine node sends any TERM[t](b), t >= 1: every
    fair run with a good coin still ends with every correct node decided."""
    config = aba.PROTOCOL.config("liveness-term")
    result = explore(aba.build(config, None))
    assert result.violation is None and result.complete
    assert {"all_decided", "decided_in_round_1", "decided_by_term"} <= set(result.reached)
    assert result.distinct_states == config.expected_distinct_states == 12631


def test_spec_example_a_decided_node_halts_and_its_term_stands_for_it():
    """Node 0 decides 1 in round 0 (TERM[1](1)) and halts; in round 1 its TERM counts as its
    BVAL, AUX and CONF, so nodes 1 and 2 alone (Byzantine node 3 silent) finish round 1; f+1
    TERMs (node 0's and node 1's) decide node 2 without its coin."""
    params = spec.Params(4, 1, (3,), ((1, 1, 1),), 2, silent_byzantine=True)
    ctx = spec.Context(params)
    (s,) = spec.initial_states(params)
    for p in params.correct:
        s = spec.apply(ctx, s, spec.AcceptBval(p, 1))
    for p in params.correct:
        s = spec.apply(ctx, s, spec.FinishAux(p, (1,)))
    for p in params.correct:
        s = spec.apply(ctx, s, spec.FinishConf(p, (1,)))
    s = spec.apply(ctx, s, spec.OpenCoin(0, 0))  # coin 0: est 1, nobody decides
    for p in params.correct:
        s = spec.apply(ctx, s, spec.NextRound(p))
    for p in params.correct:
        s = spec.apply(ctx, s, spec.AcceptBval(p, 1))
    for p in params.correct:
        s = spec.apply(ctx, s, spec.FinishAux(p, (1,)))
    for p in params.correct:
        s = spec.apply(ctx, s, spec.FinishConf(p, (1,)))
    s = spec.apply(ctx, s, spec.OpenCoin(1, 1))
    s = spec.apply(ctx, s, spec.NextRound(0))
    assert s.processes[0].decided == (1, 1) and s.processes[0].phase == spec.HALTED
    assert spec.Message(spec.TERM, 2, 0, 1) in s.pool
    assert spec.DecideByTerm(1, 1) not in set(spec.enabled_actions(ctx, s))  # one TERM: no
    s = spec.apply(ctx, s, spec.NextRound(1))
    assert spec.DecideByTerm(2, 1) not in set(spec.enabled_actions(ctx, s))  # t = 2 > round 1
    # a halted node sends nothing more and is never enabled
    assert not any(getattr(a, "process", None) in (0, 1) for a in spec.enabled_actions(ctx, s))
    s = spec.apply(ctx, s, spec.NextRound(2))
    assert s.processes[2].decided == (1, 1)
    assert spec.all_decided(ctx, s) and spec.agreement(ctx, s)


def test_spec_example_unanimous_inputs_decide_with_a_matching_coin():
    params = aba.params_of(aba.PROTOCOL.config("unanimous"))
    ctx = spec.Context(params)
    (s,) = spec.initial_states(params)
    for p in params.correct:
        s = spec.apply(ctx, s, spec.AcceptBval(p, 1))
    for p in params.correct:
        s = spec.apply(ctx, s, spec.FinishAux(p, (1,)))
    for p in params.correct:
        s = spec.apply(ctx, s, spec.FinishConf(p, (1,)))
    s = spec.apply(ctx, s, spec.OpenCoin(0, 1))
    for p in params.correct:
        s = spec.apply(ctx, s, spec.NextRound(p))
    assert all(p.decided == (1, 0) for p in s.processes)


def test_proofs_hold_and_mutants_give_counterexamples():
    for proof in proofs.PROOFS:
        assert check_goal(proof.build(None)).status == "proved", proof.name
    for mutant in proofs.MUTANTS:
        for proof in proofs.PROOFS:
            status = check_goal(proof.build(mutant.name)).status
            expected = "counterexample" if proof.name in mutant.breaks else "proved"
            assert status == expected, (mutant.name, proof.name)


@pytest.mark.parametrize("seed", [59, 1, 2])
def test_issue59_attack_stalls_the_unfixed_aba_but_not_the_fixed_one(seed):
    """amiller/HoneyBadgerBFT#59: with a fair seeded coin that the adversary only sees once it
    opens, the scripted adversary keeps the unfixed protocol's estimates split for 10 rounds
    (nobody decides); under the same adversary the protocol with CONF is unanimous after one
    round and decides."""
    unfixed = aba.issue59_attack(10, seed, aba.RULE_MUTANTS["no-conf"])
    assert unfixed.rounds == 10 and unfixed.decided == (None, None, None)
    assert all(len(set(ests)) == 2 for ests in unfixed.estimates)
    fixed = aba.issue59_attack(10, seed)
    assert len(set(fixed.estimates[1])) == 1
    assert all(d is not None for d in fixed.decided)
    assert len({d[0] for d in fixed.decided}) == 1


def test_the_own_conf_values_variant_falls_to_the_same_attack():
    """vals = own CONF set (hbbft's conf_values): a Byzantine CONF({¬s}) lets the adversary
    finish w's CONF phase with the singleton it picked after seeing the coin."""
    run = aba.issue59_attack(10, 59, aba.RULE_MUTANTS["conf-own-values"])
    assert run.decided == (None, None, None)
    assert all(len(set(ests)) == 2 for ests in run.estimates)


# -- The impl: faults, the real coin, Hypothesis machines ------------------------------------------

from hypothesis import settings  # noqa: E402

from mnemosyne_consensus.impl import aba as impl  # noqa: E402
from mnemosyne_consensus.impl import threshold_coin as coin  # noqa: E402

PUBLIC, SECRETS = coin.deal_coin(4, 2, b"mnemosyne/aba/test")


def _started(me=0, value=1):
    config = impl.NodeConfig(me, 4, 1, 0, 2, PUBLIC, SECRETS[me])
    node, effects = impl.step(impl.new_node(config), impl.Input(value))
    assert effects.broadcasts == (impl.Message(impl.BVAL, 0, 0, value),)
    return node


def _share(index, round_=0):
    return coin.coin_share(PUBLIC, SECRETS[index], impl.coin_name(0, 0, round_))


@pytest.mark.parametrize(
    ("sender", "message", "kind"),
    [
        (7, impl.Message(impl.BVAL, 0, 0, 1), impl.FaultKind.UNKNOWN_SENDER),
        (0, impl.Message(impl.BVAL, 0, 0, 1), impl.FaultKind.UNKNOWN_SENDER),
        (1, impl.Message(impl.BVAL, 0, 0, 2), impl.FaultKind.MALFORMED),
        (1, impl.Message(impl.CONF, 0, 0, (1, 0)), impl.FaultKind.MALFORMED),
        (1, impl.Message("est", 0, 0, 1), impl.FaultKind.MALFORMED),
        (1, impl.Message(impl.BVAL, 5, 0, 1), impl.FaultKind.WRONG_INSTANCE),
        (1, impl.Message(impl.BVAL, 0, 3, 1), impl.FaultKind.WRONG_ROUND),
        (3, impl.Message(impl.COIN, 0, 0, _share(2)), impl.FaultKind.BAD_COIN_SHARE),
    ],
)
def test_faults_leave_the_state_unchanged(sender, message, kind):
    node = _started()
    post, effects = impl.step(node, impl.Receive(sender, message))
    assert post == node and [f.kind for f in effects.faults] == [kind]


def test_coins_of_two_sessions_differ_and_shares_do_not_cross_sessions():
    """The coin name carries the session (HoneyBadger's epoch): the same instance and round in
    two sessions name two coins, and a share of session 0 is refused in session 1."""
    assert impl.coin_name(0, 2, 1) != impl.coin_name(1, 2, 1)
    bits = []
    for session in range(8):
        name = impl.coin_name(session, 0, 0)
        shares = [coin.coin_share(PUBLIC, SECRETS[i], name) for i in (0, 1)]
        value = coin.combine_coin_shares(PUBLIC, name, shares)
        assert isinstance(value, coin.CoinValue)
        bits.append(value.bit)
    assert set(bits) == {0, 1}  # not one coin repeated across sessions
    config = impl.NodeConfig(0, 4, 1, 0, 2, PUBLIC, SECRETS[0], session=1)
    node, _ = impl.step(impl.new_node(config), impl.Input(1))
    old = _share(3)  # session 0's share of node 3, instance 0, round 0
    post, effects = impl.step(node, impl.Receive(3, impl.Message(impl.COIN, 0, 0, old)))
    assert post == node
    assert [(f.kind, f.detail) for f in effects.faults] == [
        (impl.FaultKind.BAD_COIN_SHARE, coin.CoinFault.WRONG_NAME.value)
    ]
    fresh = coin.coin_share(PUBLIC, SECRETS[3], impl.coin_name(1, 0, 0))
    post, effects = impl.step(node, impl.Receive(3, impl.Message(impl.COIN, 0, 0, fresh)))
    assert not effects.faults and post != node


def test_term_rules_in_the_impl():
    """One TERM does not decide; f+1 TERM(b) of rounds <= ours decide b, broadcast TERM of our
    round and halt; a second TERM from a sender is a duplicate or an equivocation."""
    node = _started(0, 0)
    node, effects = impl.step(node, impl.Receive(3, impl.Message(impl.TERM, 0, 0, 1)))
    assert effects.decided is None and not effects.faults
    for m, kind in (
        (impl.Message(impl.TERM, 0, 0, 1), impl.FaultKind.DUPLICATE),
        (impl.Message(impl.TERM, 0, 0, 0), impl.FaultKind.EQUIVOCATION),
        (impl.Message(impl.TERM, 0, 4, 1), impl.FaultKind.WRONG_ROUND),
        (impl.Message(impl.TERM, 0, 0, 2), impl.FaultKind.MALFORMED),
    ):
        post, effects = impl.step(node, impl.Receive(3, m))
        assert post == node and [f.kind for f in effects.faults] == [kind]
    later, effects = impl.step(node, impl.Receive(2, impl.Message(impl.TERM, 0, 1, 1)))
    assert later.decided is None and effects.decided is None  # TERM[1]: not in round 0
    node, effects = impl.step(node, impl.Receive(1, impl.Message(impl.TERM, 0, 0, 1)))
    assert effects.decided == 1 and node.phase == impl.HALTED and node.decided == (1, 0)
    assert impl.Message(impl.TERM, 0, 0, 1) in effects.broadcasts
    # halted: everything is ignored
    assert impl.step(node, impl.Receive(2, impl.Message(impl.BVAL, 0, 0, 1))) == (
        node,
        impl.NOTHING,
    )


@pytest.mark.parametrize("seed", range(6))
def test_three_correct_nodes_decide_and_halt_with_a_silent_byzantine_node(seed):
    """n = 4, node 3 silent, random delivery, the real coin: every correct node decides the
    same value, every one halts (TERMs stand in for the nodes that stopped)."""
    import random

    rng = random.Random(seed)
    nodes = {}
    queue = []
    for p in range(3):
        config = impl.NodeConfig(p, 4, 1, 0, 40, PUBLIC, SECRETS[p], session=seed)
        nodes[p], effects = impl.step(impl.new_node(config), impl.Input(rng.randrange(2)))
        queue += [(p, q, m) for m in effects.broadcasts for q in range(3) if q != p]
    decided = {}
    while queue:
        frm, to, m = queue.pop(rng.randrange(len(queue)))
        nodes[to], effects = impl.step(nodes[to], impl.Receive(frm, m))
        assert not effects.faults
        queue += [(to, q, x) for x in effects.broadcasts for q in range(3) if q != to]
        if effects.decided is not None:
            decided[to] = effects.decided
    assert len(decided) == 3 and len(set(decided.values())) == 1
    assert all(node.phase == impl.HALTED for node in nodes.values())


def test_a_share_with_a_forged_proof_is_refused():
    import attrs

    share = attrs.evolve(_share(3), value=_share(2).value)
    node = _started()
    post, effects = impl.step(node, impl.Receive(3, impl.Message(impl.COIN, 0, 0, share)))
    assert post == node
    assert [(f.kind, f.detail) for f in effects.faults] == [
        (impl.FaultKind.BAD_COIN_SHARE, coin.CoinFault.BAD_PROOF.value)
    ]


def test_duplicate_and_equivocation_are_refused():
    node = _started()
    node, _ = impl.step(node, impl.Receive(3, impl.Message(impl.AUX, 0, 0, 1)))
    for value, kind in ((1, impl.FaultKind.DUPLICATE), (0, impl.FaultKind.EQUIVOCATION)):
        post, effects = impl.step(node, impl.Receive(3, impl.Message(impl.AUX, 0, 0, value)))
        assert post == node and [f.kind for f in effects.faults] == [kind]
    node, _ = impl.step(node, impl.Receive(3, impl.Message(impl.BVAL, 0, 0, 0)))
    node2, _ = impl.step(node, impl.Receive(3, impl.Message(impl.BVAL, 0, 0, 1)))
    assert node2 != node  # a correct node may send BVAL for both values (estimate + relay)
    with pytest.raises(impl.LocalMisuseError):
        impl.step(node, impl.Input(0))


def test_four_correct_impl_nodes_decide_with_the_real_coin():
    nodes = {p: _started(p, 1) for p in range(4)}
    queue = [(p, impl.Message(impl.BVAL, 0, 0, 1)) for p in range(4)]
    decided = {}
    while queue:
        frm, m = queue.pop(0)
        for p in range(4):
            if p != frm:
                nodes[p], effects = impl.step(nodes[p], impl.Receive(frm, m))
                assert not effects.faults
                queue += [(p, x) for x in effects.broadcasts]
                if effects.decided is not None:
                    decided[p] = effects.decided
    assert decided and set(decided.values()) == {1}


MACHINE = settings(max_examples=12, stateful_step_count=120, deadline=None, derandomize=True)


TestAbaMachine = aba.AbaMachine.TestCase
TestAbaMachine.settings = MACHINE
TestAbaMachineSeven = aba.AbaMachineSeven.TestCase
TestAbaMachineSeven.settings = MACHINE


# -- Oracle ---------------------------------------------------------------------------------------


def test_default_config_is_pinned():
    config = aba.PROTOCOL.default_config
    result = explore(aba.build(config, None))
    assert result.outcome == "ok" and result.complete
    assert result.distinct_states == config.expected_distinct_states == 10781


def test_codec_round_trips_and_names_bad_fields():
    from mnemosyne_consensus.model_checks.codec import DecodeError

    node = aba.oracle_node(0)
    node, _ = impl.step(node, impl.Input(1))
    node, _ = impl.step(node, impl.Receive(3, impl.Message(impl.CONF, 0, 0, (0, 1))))
    doc = aba.CODEC.encode_state(node)
    assert aba.CODEC.decode_state(doc) == node
    for event in (impl.Receive(2, impl.Message(impl.AUX, 0, 0, 1)), impl.CoinOpened(0, 1)):
        assert aba.CODEC.decode_event(aba.CODEC.encode_event(event)) == event
    with pytest.raises(DecodeError) as error:
        aba.CODEC.decode_state({**doc, "confs": [[0, 3, [1, 0]]]})
    assert error.value.path == "$.confs[0][2]"


def test_a_generated_trace_validates_and_a_tampered_one_fails():
    from mnemosyne_consensus.model_checks.codec import dumps_line
    from mnemosyne_consensus.model_checks.validate import validate_lines
    from mnemosyne_consensus.model_checks.vectors import random_runs

    (run,) = random_runs(aba.PROTOCOL, aba.ORACLE, runs=1, steps=30, seed=3)
    result = validate_lines("aba", [dumps_line(x) for x in run], aba.ORACLE.step_checker)
    assert result.failure is None and result.steps == len(run) - 1
    header, first, *_ = run
    forged = {**first, "state": {**first["state"], "decided": [1, 0]}}
    bad = validate_lines("aba", [dumps_line(header), dumps_line(forged)], aba.ORACLE.step_checker)
    assert bad.failure is not None and bad.failure.property_name == "refinement"


def test_vectors_have_negative_cases_and_our_impl_passes_them():
    from mnemosyne_consensus.model_checks.vectors import generate_cases

    cases = generate_cases(aba.PROTOCOL, aba.ORACLE)
    outcomes = {c.meta["expected"] for c in cases}
    assert {"accept", "fault:equivocation", "fault:wrong_round"} <= outcomes
    for case in cases:
        node = aba.CODEC.decode_state(case.pre)
        post, effects = aba.CODEC.step(node, aba.CODEC.decode_event(case.event))
        assert aba.CODEC.encode_state(post) == case.post
        assert aba.CODEC.encode_effects(effects) == case.effects


def test_machine_with_every_message_delivered_decides():
    import random

    machine = aba.AbaMachine()
    machine.start([0, 1, 1])
    rng = random.Random(4)
    while machine.in_flight:
        machine.deliver(rng.randrange(10_000))
        machine.spec_invariants_hold()
    assert all(node.decided is not None for node in machine.nodes.values())


def test_the_trace_checker_accepts_a_term_decision_and_refuses_one_on_a_single_term():
    """An external-coin node (n = 4, rounds 0..2) ends round 0 with vals {1} and coin 0 (est 1,
    round 1), then takes TERM[1](1) from nodes 1 and 3: it decides 1 by the TERM rule, sends
    TERM[1](1) and halts. Every step passes the oracle's step checker; a node that decided on
    the first TERM alone fails it (refinement)."""
    import attrs

    check = aba.step_checker().check
    node, _ = impl.step(impl.new_node(impl.NodeConfig(0, 4, 1, 0, 2)), impl.Input(1))
    events = [impl.Receive(q, impl.Message(impl.BVAL, 0, 0, 1)) for q in (1, 2)]
    events += [impl.Receive(q, impl.Message(impl.AUX, 0, 0, 1)) for q in (1, 2)]
    events += [impl.Receive(q, impl.Message(impl.CONF, 0, 0, (1,))) for q in (1, 2)]
    events += [impl.CoinOpened(0, 0)]
    events += [impl.Receive(q, impl.Message(impl.TERM, 0, 1, 1)) for q in (1, 3)]
    for event in events:
        post, effects = impl.step(node, event)
        assert check((node,), 0, event, post, aba.CODEC.encode_effects(effects)) is None, event
        if event == events[-2]:
            one_term = (node, event, post)
        node = post
    assert node.decided == (1, 1) and node.phase == impl.HALTED
    assert impl.Message(impl.TERM, 0, 1, 1) in effects.broadcasts
    pre, event, post = one_term
    forged = attrs.evolve(post, phase=impl.HALTED, decided=(1, 1))
    forged = attrs.evolve(forged, terms=tuple(sorted((*forged.terms, (1, 0, 1)))))
    effects_doc = {
        "broadcasts": [{"kind": "term", "instance": 0, "round": 1, "value": 1}],
        "decided": 1,
        "faults": [],
    }
    assert check((pre,), 0, event, forged, effects_doc)[0] == "refinement"
