"""Raft leader election through every layer: spec, impl, bounded model, mutants, Hypothesis, z3."""

import attrs
import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from mnemosyne_consensus.impl import raft_election as impl
from mnemosyne_consensus.model_checks import raft_election as model
from mnemosyne_consensus.model_checks.engine import explore, simulate
from mnemosyne_consensus.proofs import raft_election as proofs
from mnemosyne_consensus.proofs.core import check_goal
from mnemosyne_consensus.spec import raft_election as spec

PROTOCOL = model.PROTOCOL
RULES = spec.SPEC_RULES
MACHINE_SETTINGS = settings(
    max_examples=50, stateful_step_count=30, derandomize=True, deadline=None
)
F, C, L = spec.Role.FOLLOWER, spec.Role.CANDIDATE, spec.Role.LEADER

# -- spec: the election restriction and the quorum (§5.4.1, §5.2) ------------------------------


@pytest.mark.parametrize(
    ("candidate", "voter", "expected"),
    [
        ((2, 1), (1, 5), True),  # a later last term wins, however short the log
        ((1, 5), (2, 1), False),
        ((1, 3), (1, 2), True),  # same last term: the longer log wins
        ((1, 2), (1, 2), True),  # equal logs: at least as up-to-date
        ((1, 2), (1, 3), False),
        ((0, 0), (0, 0), True),  # two empty logs
        ((0, 0), (1, 1), False),
        ((1, 1), (0, 0), True),
    ],
)
def test_up_to_date_follows_section_5_4_1(candidate, voter, expected):
    got = spec.at_least_as_up_to_date(spec.LogPosition(*candidate), spec.LogPosition(*voter))
    assert got is expected
    assert impl.up_to_date(candidate, voter) is expected


@pytest.mark.parametrize(
    ("votes", "servers", "expected"),
    [(1, 1, True), (1, 2, False), (2, 2, True), (2, 3, True), (1, 3, False), (2, 4, False)],
)
def test_a_quorum_is_more_than_half(votes, servers, expected):
    assert spec.is_quorum(votes, servers) is expected
    assert impl.is_quorum(votes, servers) is expected
    # the floor-half mutant differs exactly when n is even and the votes are half
    assert model._half_is_quorum(votes, servers) is (expected or 2 * votes == servers)


# -- spec: a hand-made election ------------------------------------------------------------------
#
#   logs: server 0 ends at (1, 2), server 1 at (1, 1), server 2 at (0, 0); T0 = 1
#   server 0 times out (term 2), server 2 grants it, server 1 times out too (term 2, a split),
#   server 0 counts server 2's vote and wins term 2; server 1 refuses server 0 (voted for
#   itself); then server 1 times out again (term 3) and server 0, the leader, steps down.

LOGS = tuple(spec.LogPosition(*p) for p in ((1, 2), (1, 1), (0, 0)))
REQUEST_0 = spec.RequestVote(2, 0, 1, 2)
REQUEST_1 = spec.RequestVote(2, 1, 1, 1)
GRANT_2_TO_0 = spec.RequestVoteResponse(2, 2, 0, True)
DENY_1_TO_0 = spec.RequestVoteResponse(2, 1, 0, False)
REQUEST_1_TERM_3 = spec.RequestVote(3, 1, 1, 1)


def run(state, *actions, rules=RULES):
    for action in actions:
        assert spec.enabled(rules, state, action), action
        state = spec.next_state(rules, state, action)
    return state


def test_hand_made_election_in_three_servers():
    state = spec.initial_state(LOGS)
    assert spec.initial_term(LOGS) == 1
    assert state.servers == (spec.Server(1, None, F, ()),) * 3
    state = run(state, spec.Timeout(0))
    assert state.servers[0] == spec.Server(2, 0, C, (0,))
    assert state.messages == (REQUEST_0,)
    assert state.votes == (spec.Vote(2, 0, 0),)
    # server 2 is at term 1: the request's term 2 first takes UpdateTerm, then it is handled
    assert not spec.enabled(RULES, state, spec.HandleRequestVote(2, REQUEST_0))
    state = run(state, spec.UpdateTerm(2, REQUEST_0), spec.HandleRequestVote(2, REQUEST_0))
    assert state.servers[2] == spec.Server(2, 0, F, ())
    assert GRANT_2_TO_0 in state.messages
    state = run(state, spec.Timeout(1))
    assert state.servers[1] == spec.Server(2, 1, C, (1,))
    # a split vote: server 0 has 1 vote of 3 until server 2's grant arrives
    assert not spec.enabled(RULES, state, spec.BecomeLeader(0))
    state = run(state, spec.HandleRequestVoteResponse(0, GRANT_2_TO_0), spec.BecomeLeader(0))
    assert state.servers[0] == spec.Server(2, 0, L, (0, 2))
    assert state.elections == (spec.Election(2, 0, (0, 2)),)
    # server 1 voted for itself in term 2: it refuses server 0, and server 0 refuses server 1
    state = run(state, spec.HandleRequestVote(1, REQUEST_0), spec.HandleRequestVote(0, REQUEST_1))
    assert DENY_1_TO_0 in state.messages
    assert spec.RequestVoteResponse(2, 0, 1, False) in state.messages
    assert spec.is_stale_denial(state, DENY_1_TO_0)  # it can never change anything
    assert not spec.enabled(RULES, state, spec.HandleRequestVoteResponse(0, DENY_1_TO_0))
    # server 1 tries again in term 3; the leader sees the higher term and steps down
    state = run(state, spec.Timeout(1), spec.UpdateTerm(0, REQUEST_1_TERM_3))
    assert state.servers[0] == spec.Server(3, None, F, ())
    # ... and, its log being more up-to-date than server 1's, refuses its vote
    state = run(state, spec.HandleRequestVote(0, REQUEST_1_TERM_3))
    assert spec.RequestVoteResponse(3, 0, 1, False) in state.messages
    for name, _description, predicate, _explain in spec.INVARIANTS:
        assert predicate(state), name
    reached = {name for name, _d, predicate in spec.REACHABLES if predicate(state)}
    assert reached == {"leader_elected", "leader_stepped_down"}


def test_spec_enabling_conditions():
    state = run(spec.initial_state(LOGS), spec.Timeout(0))
    assert not spec.enabled(RULES, state, spec.HandleRequestVote(0, REQUEST_0))  # own request
    assert not spec.enabled(RULES, state, spec.UpdateTerm(1, REQUEST_1))  # never sent
    assert not spec.enabled(RULES, state, spec.Timeout(3))  # no server 3
    grant = spec.RequestVoteResponse(2, 1, 0, True)
    state = run(state, spec.UpdateTerm(1, REQUEST_0), spec.HandleRequestVote(1, REQUEST_0))
    assert not spec.enabled(RULES, state, spec.HandleRequestVoteResponse(2, grant))  # not its
    state = run(state, spec.HandleRequestVoteResponse(0, grant), spec.BecomeLeader(0))
    assert not spec.enabled(RULES, state, spec.Timeout(0))  # leaders have no election timeout
    # a restarted leader is a follower of the same term, with its vote kept
    restarted = run(state, spec.Restart(0))
    assert restarted.servers[0] == spec.Server(2, 0, F, ())
    assert spec.enabled(RULES, restarted, spec.DropMessage(grant))
    assert grant not in run(restarted, spec.DropMessage(grant)).messages


def test_a_stale_vote_is_not_counted_and_a_duplicate_counts_once():
    state = run(spec.initial_state(LOGS), spec.Timeout(1))
    request = spec.RequestVote(2, 1, 1, 1)
    state = run(state, spec.UpdateTerm(2, request), spec.HandleRequestVote(2, request))
    old_grant = spec.RequestVoteResponse(2, 2, 1, True)
    later = run(state, spec.Timeout(1))
    assert not spec.enabled(RULES, later, spec.HandleRequestVoteResponse(1, old_grant))
    # the design notes' bug, as the count-stale-votes mutant has it, would count it
    stale_rules = attrs.evolve(RULES, counts_response=model._not_newer)
    assert spec.enabled(stale_rules, later, spec.HandleRequestVoteResponse(1, old_grant))
    once = run(state, spec.HandleRequestVoteResponse(1, old_grant))
    assert run(once, spec.HandleRequestVoteResponse(1, old_grant)) == once


def test_receive_actions_is_the_longest_enabled_chain():
    state = run(spec.initial_state(LOGS), spec.Timeout(0))
    chain = spec.receive_actions(RULES, state, 1, REQUEST_0)
    assert [type(a) for a, _ in chain] == [spec.UpdateTerm, spec.HandleRequestVote]
    grant = spec.RequestVoteResponse(2, 1, 0, True)
    state = chain[-1][1]
    chain = spec.receive_actions(RULES, state, 0, grant)
    assert [type(a) for a, _ in chain] == [spec.HandleRequestVoteResponse, spec.BecomeLeader]
    # a denial of the candidate's own term: nothing to do
    assert spec.receive_actions(RULES, state, 0, spec.RequestVoteResponse(2, 1, 0, False)) == ()
    # a single server wins as soon as it times out
    solo = spec.initial_state((spec.LogPosition(0, 0),))
    assert [type(a) for a, _ in spec.timeout_actions(RULES, solo, 0)] == [
        spec.Timeout,
        spec.BecomeLeader,
    ]


def _with_ghost(votes=(), elections=()):
    state = spec.initial_state(LOGS)
    return attrs.evolve(state, votes=tuple(sorted(votes)), elections=tuple(sorted(elections)))


def test_invariants_fail_on_hand_made_bad_histories():
    two_leaders = _with_ghost(elections=[spec.Election(2, 0, (0, 2)), spec.Election(2, 1, (1, 2))])
    assert not spec.election_safety(two_leaders)
    assert spec.explain_election_safety(two_leaders) == (
        "term 2 has two leaders: server 0 (votes of (0, 2)) and server 1 (votes of (1, 2))"
    )
    # the same leader twice, or leaders of different terms, are fine
    assert spec.election_safety(
        _with_ghost(elections=[spec.Election(2, 0, (0, 2)), spec.Election(3, 1, (1, 2))])
    )
    double = _with_ghost(votes=[spec.Vote(2, 2, 0), spec.Vote(2, 2, 1), spec.Vote(3, 2, 1)])
    assert not spec.vote_once_per_term(double)
    assert "server 2 voted twice in term 2" in spec.explain_vote_once(double)
    assert spec.vote_once_per_term(_with_ghost(votes=[spec.Vote(2, 2, 0), spec.Vote(3, 2, 1)]))
    # server 2's empty log wins with server 0's vote: 0's log is more up-to-date
    outdated = _with_ghost(elections=[spec.Election(2, 2, (0, 2))])
    assert not spec.leader_log_up_to_date(outdated)
    assert "voter 0's log ends at (term 1, index 2)" in spec.explain_leader_log(outdated)
    minority = _with_ghost(elections=[spec.Election(2, 0, (0,))])
    assert not spec.leader_log_up_to_date(minority)
    assert "not a majority of 3 servers" in spec.explain_leader_log(minority)
    assert spec.leader_log_up_to_date(_with_ghost(elections=[spec.Election(2, 1, (1, 2))]))


# -- impl ----------------------------------------------------------------------------------------


def server(i=0, n=3, log=(1, 2), term=1, voted_for=None, role=impl.Role.FOLLOWER, votes=()):
    return impl.ServerState(i, n, *log, term, voted_for, role, votes)


def test_impl_timeout_starts_an_election():
    node, effects = impl.step(server(0), impl.ElectionTimeout())
    assert node == server(0, term=2, voted_for=0, role=impl.Role.CANDIDATE, votes=(0,))
    request = impl.RequestVote(2, 0, 1, 2)
    assert effects == impl.Effects(
        sends=((1, request), (2, request)),
        vote=impl.Vote(2, 0),
        elected=None,
        reset_election_timer=True,
    )
    # a candidate that times out starts a new election; a leader ignores the timer
    again, _ = impl.step(node, impl.ElectionTimeout())
    assert (again.current_term, again.votes_granted) == (3, (0,))
    leader = server(0, term=2, voted_for=0, role=impl.Role.LEADER, votes=(0, 1))
    assert impl.step(leader, impl.ElectionTimeout()) == (leader, impl.Effects())
    # alone, a server wins at once
    solo, effects = impl.step(impl.new(0, 1), impl.ElectionTimeout())
    assert solo.role is impl.Role.LEADER and effects.elected == 1 and effects.sends == ()


def test_impl_request_vote_receiver():
    request = impl.RequestVote(2, 1, 1, 1)
    # server 2 (empty log, term 1): the higher term, then the vote
    node, effects = impl.step(server(2, log=(0, 0)), impl.Receive(request))
    assert node == server(2, log=(0, 0), term=2, voted_for=1)
    granted = impl.RequestVoteResponse(2, 2, 1, True)
    assert effects == impl.Effects(
        sends=((1, granted),), vote=impl.Vote(2, 1), reset_election_timer=True
    )
    # the same request again: the same vote (votedFor is the candidate), nothing new
    assert impl.step(node, impl.Receive(request))[0] == node
    # another candidate of the same term: refused, with the term
    other, effects = impl.step(node, impl.Receive(impl.RequestVote(2, 0, 1, 2)))
    assert other == node
    assert effects.sends == ((0, impl.RequestVoteResponse(2, 2, 0, False)),)
    assert effects.vote is None and not effects.reset_election_timer
    # server 0's log (1, 2) is more up-to-date than server 1's (1, 1): refused
    node, effects = impl.step(server(0), impl.Receive(request))
    assert node == server(0, term=2)
    assert effects.sends == ((1, impl.RequestVoteResponse(2, 0, 1, False)),)
    # a request of an older term: "reply false", with the current term
    node, effects = impl.step(server(0, term=3), impl.Receive(request))
    assert node == server(0, term=3)
    assert effects.sends == ((1, impl.RequestVoteResponse(3, 0, 1, False)),)


def test_impl_counts_votes_of_its_term_only():
    candidate = server(1, log=(1, 1), term=2, voted_for=1, role=impl.Role.CANDIDATE, votes=(1,))
    stale = impl.RequestVoteResponse(1, 2, 1, True)
    assert impl.step(candidate, impl.Receive(stale)) == (candidate, impl.Effects())
    denied = impl.RequestVoteResponse(2, 0, 1, False)
    assert impl.step(candidate, impl.Receive(denied)) == (candidate, impl.Effects())
    node, effects = impl.step(candidate, impl.Receive(impl.RequestVoteResponse(2, 2, 1, True)))
    assert node.role is impl.Role.LEADER and node.votes_granted == (1, 2)
    assert effects == impl.Effects(elected=2)
    # a leader ignores further votes
    assert impl.step(node, impl.Receive(impl.RequestVoteResponse(2, 0, 1, True)))[0] == node


def test_impl_steps_down_on_a_higher_term_in_a_response():
    leader = server(0, term=2, voted_for=0, role=impl.Role.LEADER, votes=(0, 2))
    node, effects = impl.step(leader, impl.Receive(impl.RequestVoteResponse(3, 1, 0, False)))
    assert node == server(0, term=3)
    assert effects == impl.Effects()


def test_impl_restart_keeps_the_persistent_state():
    candidate = server(1, log=(1, 1), term=2, voted_for=1, role=impl.Role.CANDIDATE, votes=(1,))
    node, effects = impl.step(candidate, impl.Restart())
    assert node == server(1, log=(1, 1), term=2, voted_for=1)
    assert effects == impl.Effects(reset_election_timer=True)


BAD_MESSAGES = [
    (impl.RequestVote(2, 3, 0, 0), impl.FaultKind.UNKNOWN_SENDER),
    (impl.RequestVote(2, -1, 0, 0), impl.FaultKind.UNKNOWN_SENDER),
    (impl.RequestVote(2, "s0", 0, 0), impl.FaultKind.UNKNOWN_SENDER),
    (impl.RequestVote(2, True, 0, 0), impl.FaultKind.UNKNOWN_SENDER),
    (impl.RequestVote(2, 1, 0, 0), impl.FaultKind.UNKNOWN_SENDER),  # the receiver itself
    (impl.RequestVoteResponse(2, 1, 0, True), impl.FaultKind.UNKNOWN_SENDER),  # itself
    (impl.RequestVoteResponse(2, 0, 2, True), impl.FaultKind.MISADDRESSED),
    (impl.RequestVoteResponse(2, 0, "1", True), impl.FaultKind.MISADDRESSED),
    (impl.RequestVote(0, 0, 0, 0), impl.FaultKind.MALFORMED_TERM),
    (impl.RequestVote(-2, 0, 0, 0), impl.FaultKind.MALFORMED_TERM),
    (impl.RequestVote(2.0, 0, 0, 0), impl.FaultKind.MALFORMED_TERM),
    (impl.RequestVoteResponse(True, 0, 1, True), impl.FaultKind.MALFORMED_TERM),
    (impl.RequestVote(2, 0, 1, 0), impl.FaultKind.MALFORMED_LOG_POSITION),
    (impl.RequestVote(2, 0, 0, 4), impl.FaultKind.MALFORMED_LOG_POSITION),
    (impl.RequestVote(2, 0, -1, 1), impl.FaultKind.MALFORMED_LOG_POSITION),
    (impl.RequestVote(2, 0, 1, (1,)), impl.FaultKind.MALFORMED_LOG_POSITION),
    (impl.RequestVote(2, 0, 2, 5), impl.FaultKind.LOG_AHEAD_OF_TERM),
    (impl.RequestVote(2, 0, 3, 5), impl.FaultKind.LOG_AHEAD_OF_TERM),
    (impl.RequestVoteResponse(2, 0, 1, 1), impl.FaultKind.MALFORMED_GRANT),
    (impl.RequestVoteResponse(2, 0, 1, None), impl.FaultKind.MALFORMED_GRANT),
    (impl.RequestVoteResponse(3, 0, 1, True), impl.FaultKind.GRANT_FROM_FUTURE),
]


@pytest.mark.parametrize(("message", "kind"), BAD_MESSAGES)
def test_impl_refuses_bad_messages_and_changes_nothing(message, kind):
    node = server(1, log=(1, 1), term=2, voted_for=1, role=impl.Role.CANDIDATE, votes=(1,))
    after, effects = impl.step(node, impl.Receive(message))
    assert after == node
    assert effects.sends == () and effects.vote is None and effects.elected is None
    assert not effects.reset_election_timer
    assert [f.kind for f in effects.faults] == [kind]
    sender = message.candidate if isinstance(message, impl.RequestVote) else message.voter
    assert effects.faults[0].sender == sender and effects.faults[0].detail
    assert model.refusal(node, message) is kind  # the trace checker's own account agrees


def test_every_fault_kind_is_exercised():
    assert {kind for _, kind in BAD_MESSAGES} == set(impl.FaultKind)


def test_impl_believes_a_higher_term_in_a_denial():
    # a denial cannot be told from an honest one: Figure 2 says to step down
    node = server(1, log=(1, 1), term=2, voted_for=1, role=impl.Role.CANDIDATE, votes=(1,))
    after, effects = impl.step(node, impl.Receive(impl.RequestVoteResponse(9, 0, 1, False)))
    assert after == server(1, log=(1, 1), term=9) and effects.faults == ()


def test_impl_local_misuse_raises():
    with pytest.raises(TypeError, match="cannot handle event"):
        impl.step(server(0), "timeout")
    with pytest.raises(TypeError, match="cannot handle message"):
        impl.step(server(0), impl.Receive(("RequestVote", 2)))
    with pytest.raises(ValueError, match="out of range"):
        impl.new(3, 3)
    with pytest.raises(ValueError, match="empty log"):
        impl.new(0, 3, 1, 0)
    with pytest.raises(ValueError, match="below the last log term"):
        impl.new(0, 3, 2, 1, current_term=1)


@pytest.mark.parametrize("receiver", [0, 1, 2])
def test_model_forged_alphabet_is_one_message_per_fault_kind(receiver):
    node = impl.new(receiver, 3, 1, 1, current_term=3)
    kinds = []
    for message in model.forged_messages(3, receiver, max_term=3):
        after, effects = impl.step(node, impl.Receive(message))
        assert after == node
        kinds.extend(f.kind for f in effects.faults)
    assert kinds == list(impl.FaultKind)


# -- bounded model -------------------------------------------------------------------------------

EXHAUSTIBLE = [c for c in PROTOCOL.configs if c.expected_distinct_states is not None]
ALL_REACHABLES = {name for name, _d, _p in spec.REACHABLES}


def test_default_tiny_and_four_are_exhaustible():
    assert [c.name for c in EXHAUSTIBLE] == ["three", "tiny", "four"]
    assert PROTOCOL.default_config.name == "three"


@pytest.mark.parametrize("config", EXHAUSTIBLE, ids=lambda c: c.name)
def test_configs_hold_completely_and_pin_state_counts(config):
    built = PROTOCOL.build(config, None)
    result = explore(built)
    assert result.outcome == "ok", result.violation
    assert result.complete
    assert set(result.reached) == {r.name for r in built.reachables}
    assert result.distinct_states == config.expected_distinct_states


def test_only_a_single_term_config_leaves_the_later_term_reachables_out():
    for config in EXHAUSTIBLE:
        names = {r.name for r in PROTOCOL.build(config, None).reachables}
        expected = {"leader_elected"} if config.name == "four" else ALL_REACHABLES
        assert names == expected, config.name


def test_a_leader_steps_down_on_a_higher_term_without_any_restart():
    # with no restart a leader leaves office only by UpdateTerm: the reachable is the real thing
    tiny = PROTOCOL.config("tiny")
    config = attrs.evolve(tiny, params={**tiny.params, "restarts": 0})
    built = PROTOCOL.build(config, None).restricted_to(["leader_stepped_down"])
    result = explore(built)
    assert result.outcome == "ok" and result.reached == ("leader_stepped_down",)


def test_the_network_never_holds_a_stale_denial():
    built = PROTOCOL.build(PROTOCOL.config("tiny"), None)
    seen = []

    def no_stale_denial(state):
        seen.append(state)
        return not any(model.is_stale_denial(state.nodes, m) for m in state.network)

    check = attrs.evolve(built.invariants[0], name="no_stale_denial", holds=no_stale_denial)
    result = explore(attrs.evolve(built, invariants=(check,), step_properties=(), reachables=()))
    assert result.outcome == "ok"
    # and denials that still matter (a higher term than the candidate's) do travel
    assert any(
        isinstance(m, impl.RequestVoteResponse) and not m.granted
        for state in seen
        for m in state.network
    )


@pytest.mark.parametrize("mutant", PROTOCOL.mutants, ids=lambda m: m.name)
def test_every_mutant_is_caught_with_a_trace(mutant):
    built = PROTOCOL.build(PROTOCOL.config(mutant.config or "tiny"), mutant)
    result = explore(built.restricted_to([mutant.breaks]))
    assert result.outcome == "violation"
    assert result.violation.property_name == mutant.breaks
    assert result.violation.trace[0].action is None
    assert len(result.violation.trace) >= 2
    assert result.violation.detail


def test_every_property_has_a_mutant():
    built = PROTOCOL.build(PROTOCOL.default_config, None)
    always = {p.name for p in (*built.invariants, *built.step_properties)}
    assert always == {m.breaks for m in PROTOCOL.mutants}


@pytest.mark.parametrize(
    ("mutant_name", "config", "holding"),
    [
        # a rule bug in spec and impl alike refines the (wrong) spec: only the invariant sees it
        ("forget-vote-on-restart", "tiny", "refinement"),
        ("no-log-check", "tiny", "refinement"),
        ("floor-half", "four", "refinement"),
        # with two servers only the longer log can ever win: stale votes elect no one twice
        ("count-stale-votes", "tiny", "election_safety"),
        # the floor-half quorum is a majority when n is odd
        ("floor-half", "three", "election_safety"),
        # keeping votedFor on a step-down only makes a server refuse more: still safe
        ("step-down-keeps-vote", "three", "vote_once_per_term"),
        ("step-down-keeps-vote", "three", "election_safety"),
    ],
)
def test_mutants_leave_other_properties_intact(mutant_name, config, holding):
    mutant = PROTOCOL.mutant(mutant_name)
    built = PROTOCOL.build(PROTOCOL.config(config), mutant)
    assert explore(built.restricted_to([holding])).outcome == "ok"


def test_floor_half_counterexample_is_two_disjoint_halves():
    mutant = PROTOCOL.mutant("floor-half")
    built = PROTOCOL.build(PROTOCOL.config("four"), mutant).restricted_to(["election_safety"])
    violation = explore(built).violation
    assert [step.action_text for step in violation.trace[1:]] == [
        "server 0: election timeout",
        "server 1: election timeout",
        "server 2: receive RequestVote(term 2, candidate 0, last log (1, 1))",
        "server 3: receive RequestVote(term 2, candidate 1, last log (1, 1))",
        "server 0: receive vote granted (term 2, voter 2, candidate 0)",
        "server 1: receive vote granted (term 2, voter 3, candidate 1)",
    ]
    assert violation.detail == (
        "term 2 has two leaders: server 0 (votes of (0, 2)) and server 1 (votes of (1, 3))"
    )


def test_no_log_check_counterexample_elects_the_empty_log():
    mutant = PROTOCOL.mutant("no-log-check")
    built = PROTOCOL.build(PROTOCOL.config("tiny"), mutant)
    violation = explore(built.restricted_to(["leader_log_up_to_date"])).violation
    assert len(violation.trace) == 4  # timeout, the vote, its count
    assert violation.detail.startswith("server 1 won term 2, but voter 0's log ends at (term 1")


def test_refinement_counterexample_names_the_kept_vote():
    mutant = PROTOCOL.mutant("step-down-keeps-vote")
    built = PROTOCOL.build(PROTOCOL.config("tiny"), mutant).restricted_to(["refinement"])
    violation = explore(built).violation
    assert violation.trace[-1].action_text.startswith("server 1: receive RequestVote(term 3")
    assert "after UpdateTerm, then HandleRequestVote" in violation.detail
    assert "spec term 3, votedFor 0" in violation.detail
    assert "impl term 3, votedFor 1" in violation.detail


def test_five_servers_simulate_clean():
    config = PROTOCOL.config("five")
    result = simulate(PROTOCOL.build(config, None), runs=60, steps=100, seed=11)
    assert result.outcome == "ok", result.violation
    assert result.runs == 60
    assert set(result.reached) == ALL_REACHABLES


def test_view_has_raft_tla_variables():
    mutant = PROTOCOL.mutant("floor-half")
    built = PROTOCOL.build(PROTOCOL.config("four"), mutant).restricted_to(["election_safety"])
    variables = PROTOCOL.view(explore(built).violation.trace[-1].state)
    assert set(variables) == {
        "currentTerm",
        "votedFor",
        "state",
        "votesGranted",
        "lastLog",
        "messages",
        "votes",
        "elections",
        "restarts",
    }
    assert variables["state"] == {0: "leader", 1: "leader", 2: "follower", 3: "follower"}
    assert [e["leader"] for e in variables["elections"]] == [0, 1]


# -- Hypothesis ----------------------------------------------------------------------------------

TestRaftElectionMachine = model.RaftElectionMachine.TestCase
TestRaftElectionMachine.settings = MACHINE_SETTINGS


class NoLogCheckMachine(model.RaftElectionMachine):
    mutant = PROTOCOL.mutant("no-log-check")


class ForgetVoteMachine(model.RaftElectionMachine):
    mutant = PROTOCOL.mutant("forget-vote-on-restart")


@pytest.mark.parametrize(
    ("machine", "message"),
    [
        (NoLogCheckMachine, "leader_log_up_to_date violated"),
        (ForgetVoteMachine, "vote_once_per_term violated"),
    ],
)
def test_hypothesis_machine_catches_mutants(machine, message):
    # no shrinking: the point is that the machine finds the bug, not the shortest program
    quick = settings(MACHINE_SETTINGS, max_examples=200, phases=[Phase.explicit, Phase.generate])
    with pytest.raises(AssertionError, match=message):
        run_state_machine_as_test(machine, settings=quick)


# -- z3 proofs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("proof", proofs.PROOFS, ids=lambda p: p.name)
def test_every_proof_is_proved(proof):
    verdict = check_goal(proof.build(None))
    assert verdict.status == "proved", (verdict.status, verdict.reason, verdict.counterexample)


@pytest.mark.parametrize("mutant", proofs.MUTANTS, ids=lambda m: m.name)
def test_proof_mutants_break_exactly_what_they_declare(mutant):
    broken = []
    for proof in proofs.PROOFS:
        verdict = check_goal(proof.build(mutant.name))
        assert verdict.status in {"proved", "counterexample"}, (proof.name, verdict.reason)
        if verdict.status == "counterexample":
            broken.append(proof.name)
            lines = verdict.counterexample.splitlines()
            assert lines[-1].startswith("claim violated: ")
            assert all(" = " in line for line in lines[:-1])
    assert sorted(broken) == sorted(mutant.breaks)


def test_floor_half_counterexample_is_two_servers_split_in_halves():
    verdict = check_goal(proofs.majorities_intersect(proofs.FLOOR_HALF))
    lines = verdict.counterexample.splitlines()
    assert lines[0] == "n = 2, |A| = 1, |B| = 1"
    assert lines[-1] == "claim violated: 2|A| > n and 2|B| > n imply a server in both"


def test_proofs_are_named_and_described():
    names = [p.name for p in proofs.PROOFS]
    assert names == [
        "raft-election.disjoint_counts_fit",
        "raft-election.majorities_intersect",
        "raft-election.one_leader_per_term",
        "raft-election.up_to_date_reflexive",
        "raft-election.up_to_date_transitive",
        "raft-election.up_to_date_total",
    ]
    for proof in proofs.PROOFS:
        assert "Assumptions:" in proof.description and "§5" in proof.description
