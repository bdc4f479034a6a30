"""Raft leader election (no log replication): terms, votes, the election restriction.

Sources
    D. Ongaro and J. Ousterhout, "In search of an understandable consensus algorithm",
    USENIX ATC 2014: §5.1 (terms: "If a server's current term is smaller than the other's, then
    it updates its current term to the larger value. If a candidate or leader discovers that its
    term is out of date, it immediately reverts to follower state"), §5.2 (leader election),
    §5.4.1 (election restriction: the up-to-date comparison of logs) and Figure 2 ("State",
    "RequestVote RPC", "Rules for Servers").
    D. Ongaro, the TLA+ specification ``raft.tla`` (2014): the facts below were cross-checked
    with its actions ``Timeout``, ``UpdateTerm``, ``HandleRequestVoteRequest``,
    ``HandleRequestVoteResponse``, ``BecomeLeader``, ``Restart``, its ``Quorum`` (subsets of more
    than half the servers) and its ``elections`` history variable.

State (grouped by role, as raft.tla groups its variables)
    constants   ``logs[i]``: the position ``(term, index)`` of server i's last log entry,
                ``(0, 0)`` for an empty log. Logs are FIXED INPUTS of a configuration (no
                replication here), so that the election restriction has something to compare.
    servers     per server, Figure 2's *persistent* state ``currentTerm`` and ``votedFor``
                (kept across a restart) and the *volatile* ``role`` (follower, candidate,
                leader) and ``votesGranted`` (raft.tla: the servers whose vote this candidate
                received in its current term), lost on a restart.
    network     every message ever sent (one global pool). Nothing is removed: a message is
                received in any order, any number of times, or never (raft.tla's
                ``DuplicateMessage`` and ``DropMessage`` come for free).
    ghost       history variables no server reads: ``votes``, every vote cast (a candidate's
                vote for itself included), and ``elections``, every election won with its
                voters; both survive restarts and step-downs, which is what lets the invariants
                speak about the whole history.

Initial state
    Every server is a follower at term ``T0`` = the largest last-log term (Figure 2: a
    server's current term is never below the term of an entry it holds), with ``votedFor``
    null. No message of term ``T0`` is ever sent, so the votes of ``T0`` (cast before the
    modelled history) never matter; elections happen in terms ``T0 + 1`` and later.

Actions (one per rule of Figure 2; the enabling condition is a predicate of its own)
    ``Timeout(i)``                   -- Rules for Servers, Followers: "If election timeout
        elapses ...: convert to candidate"; Candidates: "If election timeout elapses: start new
        election" -- "Increment currentTerm, Vote for self, ..., Send RequestVote RPCs to all
        other servers". Enabled at a follower or candidate (leaders have no election timeout).
    ``UpdateTerm(i, m)``             -- Rules for Servers, All Servers: "If RPC request or
        response contains term T > currentTerm: set currentTerm = T, convert to follower".
        ``votedFor`` becomes null (it is the vote "in current term", Figure 2 "State").
    ``HandleRequestVote(i, m)``      -- RequestVote RPC, receiver implementation: "1. Reply
        false if term < currentTerm. 2. If votedFor is null or candidateId, and candidate's log
        is at least as up-to-date as receiver's log, grant vote". Enabled once the request's
        term is not above the receiver's (a higher term first takes ``UpdateTerm``, as in
        raft.tla); the reply carries the receiver's ``currentTerm`` "for candidate to update
        itself".
    ``HandleRequestVoteResponse(i, m)`` -- Candidates: the granted vote of the candidate's
        current term is counted. A response of an older term is stale and ignored (raft.tla's
        ``DropStaleResponse``: a stutter here, since the pool keeps every message); a response
        of a higher term takes ``UpdateTerm``.
    ``BecomeLeader(i)``              -- Candidates: "If votes received from majority of servers:
        become leader" (§5.2).
    ``Restart(i)``                   -- a crash and restart: persistent state kept, volatile
        state reset (raft.tla ``Restart``). The number of restarts is bounded by the model.
    ``DropMessage(m)``               -- the network loses a message (raft.tla ``DropMessage``).
        The model takes it for *stale denials* only, eagerly (see :func:`stale_denials`):
        a denied vote whose term is not above its candidate's current term can never change
        anything (``UpdateTerm`` needs a higher term, the handler a granted vote, and a
        server's term never decreases), so dropping it loses only stutters -- and it keeps the
        pool from remembering every "no" ever said, which multiplied the state space ~50-fold.

Invariants (named predicates, registry :data:`INVARIANTS`)
    ``election_safety``        -- "at most one leader can be elected in a given term" (Figure 3,
        §5.2), over the ghost ``elections``, so that it holds across step-downs and restarts;
    ``vote_once_per_term``     -- "each server will vote for at most one candidate in a given
        term" (§5.2), over the ghost ``votes``, across restarts;
    ``leader_log_up_to_date``  -- §5.4.1: at the moment a candidate wins, its voters are a
        majority, and each voter's log is no more up-to-date than the winner's.
    The invariants use this module's definitions (:func:`at_least_as_up_to_date`,
    :func:`is_quorum`), never the rules under check: the rules are code that can be wrong.
Reachables (so that a run in which nothing happens fails)
    ``leader_elected``, ``leader_elected_in_later_term`` (in a term ``>= T0 + 2``: an election
    after an earlier one) and ``leader_stepped_down`` (a server elected in term t is a follower
    in a later term: without restarts, only ``UpdateTerm`` applied to that very leader gets
    there, since a leader has no timeout and leaves office by no other rule).

Departures, and why
    * From the original design notes: their messages carry no terms. We follow the source:
      every RequestVote and every response carries the sender's term (Figure 2), which is what
      makes step-down possible and what stops a candidate from counting a vote cast in an
      earlier term; the model ships that bug as the mutant ``count-stale-votes``, and it breaks
      election safety.
    * From raft.tla: the candidate votes for itself at ``Timeout`` (Figure 2, "Vote for self"),
      where raft.tla sends itself a RequestVote; the RequestVote is one pool entry addressed to
      every other server, sent at ``Timeout`` (Figure 2 "Send RequestVote RPCs to all other
      servers"), rather than one message per destination sent by a separate action; re-sending
      is unnecessary since the pool re-delivers. ``votesResponded`` is omitted (raft.tla uses it
      only to stop re-sending). ``UpdateTerm`` clears ``votesGranted`` (raft.tla leaves it; a
      follower never reads it and ``Timeout`` resets it, so the behaviours are the same).
    * No AppendEntries: leaders send no heartbeats, so a candidate never steps down on hearing
      from a leader of its own term (§5.2). That removes transitions, never adds one, so every
      safety property shown here is about a subset of Raft's behaviours.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from .common import replace_at
from .properties import Invariant, Reachable

# -- Logs and the election restriction (§5.4.1) --------------------------------------------------


@attrs.frozen(cache_hash=True, order=True)
class LogPosition:
    """The term and index of a log's last entry; ``(0, 0)`` for an empty log."""

    term: int
    index: int


def at_least_as_up_to_date(candidate: LogPosition, voter: LogPosition) -> bool:
    """§5.4.1: "If the logs have last entries with different terms, then the log with the later
    term is more up-to-date. If the logs end with the same term, then whichever log is longer is
    more up-to-date." True when the candidate's log is at least as up-to-date as the voter's."""
    return candidate.term > voter.term or (
        candidate.term == voter.term and candidate.index >= voter.index
    )


def is_quorum(votes: int, servers: int) -> bool:
    """A majority: more than half the servers (raft.tla ``Quorum``: ``Cardinality(i) * 2 >
    Cardinality(Server)``). Any two majorities intersect (proved in
    :mod:`mnemosyne_consensus.proofs.raft_election`)."""
    return 2 * votes > servers


# -- State ---------------------------------------------------------------------------------------


class Role(enum.Enum):
    FOLLOWER = "follower"
    CANDIDATE = "candidate"
    LEADER = "leader"


@attrs.frozen(cache_hash=True)
class Server:
    # persistent state (Figure 2): on stable storage, kept across a restart
    current_term: int
    voted_for: int | None
    # volatile state: lost on a restart
    role: Role
    votes_granted: tuple[int, ...]  # sorted: who voted for this candidate in current_term


@attrs.frozen(cache_hash=True)
class RequestVote:
    """Figure 2, RequestVote RPC arguments (``candidateId`` is ``candidate``)."""

    term: int
    candidate: int
    last_log_term: int
    last_log_index: int


@attrs.frozen(cache_hash=True)
class RequestVoteResponse:
    """Figure 2, RequestVote RPC results, with who answered whom (RPC routing)."""

    term: int
    voter: int
    candidate: int
    granted: bool


Message = RequestVote | RequestVoteResponse


@attrs.frozen(cache_hash=True, order=True)
class Vote:
    """Ghost: ``voter`` voted for ``candidate`` in ``term``."""

    term: int
    voter: int
    candidate: int


@attrs.frozen(cache_hash=True, order=True)
class Election:
    """Ghost: ``leader`` won ``term`` with the votes of ``voters`` (sorted)."""

    term: int
    leader: int
    voters: tuple[int, ...]


@attrs.frozen(cache_hash=True)
class ElectionState:
    # constants: each server's last log position (fixed inputs; nothing is replicated here)
    logs: tuple[LogPosition, ...]
    # servers: persistent and volatile state of each
    servers: tuple[Server, ...]
    # network: every message ever sent, in canonical order (see message_key); never removed
    messages: tuple[Message, ...]
    # ghost: every vote cast and every election won, sorted; never read by a server
    votes: tuple[Vote, ...]
    elections: tuple[Election, ...]


def initial_term(logs: tuple[LogPosition, ...]) -> int:
    """``T0``: the largest last-log term (every server starts there)."""
    return max((log.term for log in logs), default=0)


def initial_state(logs: tuple[LogPosition, ...]) -> ElectionState:
    term = initial_term(logs)
    follower = Server(term, None, Role.FOLLOWER, ())
    return ElectionState(logs, tuple(follower for _ in logs), (), (), ())


def message_key(message: Message) -> tuple[int, ...]:
    """The canonical order of the pool: requests, then responses, field by field."""
    if isinstance(message, RequestVote):
        return (0, message.term, message.candidate, message.last_log_term, message.last_log_index)
    return (1, message.term, message.voter, message.candidate, int(message.granted))


def with_messages(messages: tuple[Message, ...], new: Iterable[Message]) -> tuple[Message, ...]:
    """The pool with ``new`` messages added (a set: sending twice is sending once)."""
    added = [m for m in new if m not in messages]
    if not added:
        return messages
    return tuple(sorted({*messages, *added}, key=message_key))


def _with(items: tuple[Any, ...], item: Any) -> tuple[Any, ...]:
    """A sorted tuple with ``item`` added (once)."""
    return items if item in items else tuple(sorted((*items, item)))


# -- The rules under check -----------------------------------------------------------------------


def restart_server(server: Server) -> Server:
    """raft.tla ``Restart``: persistent state kept, volatile state reset."""
    return Server(server.current_term, server.voted_for, Role.FOLLOWER, ())


@attrs.frozen
class ElectionRules:
    """What servers compute with: the model swaps deliberate bugs (mutants) in here."""

    up_to_date: Callable[[LogPosition, LogPosition], bool]  # (candidate's log, voter's log)
    is_quorum: Callable[[int, int], bool]  # (votes, servers)
    restart: Callable[[Server], Server]
    # which responses a candidate counts: (response term, candidate's current term)
    counts_response: Callable[[int, int], bool]


def _same_term(response_term: int, current_term: int) -> bool:
    return response_term == current_term


SPEC_RULES = ElectionRules(
    up_to_date=at_least_as_up_to_date,
    is_quorum=is_quorum,
    restart=restart_server,
    counts_response=_same_term,
)

# -- Actions -------------------------------------------------------------------------------------


@attrs.frozen
class Timeout:
    server: int


@attrs.frozen
class UpdateTerm:
    server: int
    message: Message


@attrs.frozen
class HandleRequestVote:
    server: int
    message: RequestVote


@attrs.frozen
class HandleRequestVoteResponse:
    server: int
    message: RequestVoteResponse


@attrs.frozen
class BecomeLeader:
    server: int


@attrs.frozen
class Restart:
    server: int


@attrs.frozen
class DropMessage:
    message: Message


Action = (
    Timeout
    | UpdateTerm
    | HandleRequestVote
    | HandleRequestVoteResponse
    | BecomeLeader
    | Restart
    | DropMessage
)


def _exists(state: ElectionState, server: int) -> bool:
    return 0 <= server < len(state.servers)


def receivable(state: ElectionState, server: int, message: Message) -> bool:
    """``message`` was sent, and to ``server``: a request to every server but its candidate, a
    response to the candidate that asked."""
    # Verify the message was sent (it stays in the pool: duplicates are allowed)
    if message not in state.messages:
        return False
    # Verify it is addressed to this server
    if isinstance(message, RequestVote):
        return message.candidate != server
    return message.candidate == server


def timeout_enabled(rules: ElectionRules, state: ElectionState, action: Timeout) -> bool:
    # Verify the server exists and is not a leader (leaders have no election timeout)
    return _exists(state, action.server) and state.servers[action.server].role != Role.LEADER


def update_term_enabled(rules: ElectionRules, state: ElectionState, action: UpdateTerm) -> bool:
    i, m = action.server, action.message
    # Verify the message reached this server
    if not (_exists(state, i) and receivable(state, i, m)):
        return False
    # Verify it carries a term above the server's
    return m.term > state.servers[i].current_term


def handle_request_vote_enabled(
    rules: ElectionRules, state: ElectionState, action: HandleRequestVote
) -> bool:
    i, m = action.server, action.message
    # Verify the request reached this server
    if not (_exists(state, i) and isinstance(m, RequestVote) and receivable(state, i, m)):
        return False
    # Verify the server already knows the request's term (a higher one takes UpdateTerm first)
    return m.term <= state.servers[i].current_term


def handle_response_enabled(
    rules: ElectionRules, state: ElectionState, action: HandleRequestVoteResponse
) -> bool:
    i, m = action.server, action.message
    # Verify the response reached this candidate
    if not (_exists(state, i) and isinstance(m, RequestVoteResponse) and receivable(state, i, m)):
        return False
    server = state.servers[i]
    # Verify the server is a candidate (a follower or leader has no votes to count)
    if server.role != Role.CANDIDATE:
        return False
    # Verify the vote was granted, in the candidate's current term (older ones are stale)
    return m.granted and rules.counts_response(m.term, server.current_term)


def become_leader_enabled(rules: ElectionRules, state: ElectionState, action: BecomeLeader) -> bool:
    i = action.server
    if not _exists(state, i):
        return False
    server = state.servers[i]
    # Verify the server is a candidate with votes from a majority of servers
    return server.role == Role.CANDIDATE and rules.is_quorum(
        len(server.votes_granted), len(state.servers)
    )


def restart_enabled(rules: ElectionRules, state: ElectionState, action: Restart) -> bool:
    # Verify the server exists; a crash needs no other condition
    return _exists(state, action.server)


def drop_message_enabled(rules: ElectionRules, state: ElectionState, action: DropMessage) -> bool:
    # Verify the message is in the pool; the network may lose any message
    return action.message in state.messages


def apply_timeout(rules: ElectionRules, state: ElectionState, action: Timeout) -> ElectionState:
    i = action.server
    # Increment currentTerm; vote for self; send RequestVote RPCs to all other servers
    term = state.servers[i].current_term + 1
    log = state.logs[i]
    return attrs.evolve(
        state,
        servers=replace_at(state.servers, i, Server(term, i, Role.CANDIDATE, (i,))),
        messages=with_messages(state.messages, (RequestVote(term, i, log.term, log.index),)),
        votes=_with(state.votes, Vote(term, i, i)),
    )


def apply_update_term(
    rules: ElectionRules, state: ElectionState, action: UpdateTerm
) -> ElectionState:
    i = action.server
    # set currentTerm = T, convert to follower (no vote cast in the new term yet)
    follower = Server(action.message.term, None, Role.FOLLOWER, ())
    return attrs.evolve(state, servers=replace_at(state.servers, i, follower))


def grants_vote(rules: ElectionRules, state: ElectionState, action: HandleRequestVote) -> bool:
    """RequestVote receiver, steps 1 and 2 (Figure 2)."""
    i, m = action.server, action.message
    server = state.servers[i]
    candidate_log = LogPosition(m.last_log_term, m.last_log_index)
    return (
        # 1. Reply false if term < currentTerm
        m.term == server.current_term
        # 2. If votedFor is null or candidateId,
        and server.voted_for in (None, m.candidate)
        # and candidate's log is at least as up-to-date as receiver's log, grant vote
        and rules.up_to_date(candidate_log, state.logs[i])
    )


def apply_handle_request_vote(
    rules: ElectionRules, state: ElectionState, action: HandleRequestVote
) -> ElectionState:
    i, m = action.server, action.message
    server = state.servers[i]
    granted = grants_vote(rules, state, action)
    reply = RequestVoteResponse(server.current_term, i, m.candidate, granted)
    if not granted:
        return attrs.evolve(state, messages=with_messages(state.messages, (reply,)))
    return attrs.evolve(
        state,
        servers=replace_at(state.servers, i, attrs.evolve(server, voted_for=m.candidate)),
        messages=with_messages(state.messages, (reply,)),
        votes=_with(state.votes, Vote(server.current_term, i, m.candidate)),
    )


def apply_handle_response(
    rules: ElectionRules, state: ElectionState, action: HandleRequestVoteResponse
) -> ElectionState:
    i = action.server
    server = state.servers[i]
    votes = _with(server.votes_granted, action.message.voter)
    return attrs.evolve(
        state, servers=replace_at(state.servers, i, attrs.evolve(server, votes_granted=votes))
    )


def apply_become_leader(
    rules: ElectionRules, state: ElectionState, action: BecomeLeader
) -> ElectionState:
    i = action.server
    server = state.servers[i]
    won = Election(server.current_term, i, server.votes_granted)
    return attrs.evolve(
        state,
        servers=replace_at(state.servers, i, attrs.evolve(server, role=Role.LEADER)),
        elections=_with(state.elections, won),
    )


def apply_restart(rules: ElectionRules, state: ElectionState, action: Restart) -> ElectionState:
    i = action.server
    return attrs.evolve(
        state, servers=replace_at(state.servers, i, rules.restart(state.servers[i]))
    )


def apply_drop_message(
    rules: ElectionRules, state: ElectionState, action: DropMessage
) -> ElectionState:
    return attrs.evolve(state, messages=tuple(m for m in state.messages if m != action.message))


_RULES: dict[type, tuple[Callable[..., bool], Callable[..., ElectionState]]] = {
    Timeout: (timeout_enabled, apply_timeout),
    UpdateTerm: (update_term_enabled, apply_update_term),
    HandleRequestVote: (handle_request_vote_enabled, apply_handle_request_vote),
    HandleRequestVoteResponse: (handle_response_enabled, apply_handle_response),
    BecomeLeader: (become_leader_enabled, apply_become_leader),
    Restart: (restart_enabled, apply_restart),
    DropMessage: (drop_message_enabled, apply_drop_message),
}


def enabled(rules: ElectionRules, state: ElectionState, action: Action) -> bool:
    return _RULES[type(action)][0](rules, state, action)


def next_state(rules: ElectionRules, state: ElectionState, action: Action) -> ElectionState:
    """The effect of an enabled action (the caller checks :func:`enabled` first)."""
    return _RULES[type(action)][1](rules, state, action)


def receive_actions(
    rules: ElectionRules, state: ElectionState, server: int, message: Message
) -> tuple[tuple[Action, ElectionState], ...]:
    """The spec steps one receipt of ``message`` at ``server`` may take, in order.

    The longest chain of enabled actions: ``UpdateTerm`` if the message's term is higher, then
    the handler of the message if enabled, then ``BecomeLeader`` if enabled. Each entry pairs an
    action with the state after it. A server that takes any prefix of the chain follows the spec
    (the empty prefix is a stutter: the message is still in the pool for later).
    """
    chain: list[tuple[Action, ElectionState]] = []
    handler: Action
    steps: list[Action] = [UpdateTerm(server, message)]
    if isinstance(message, RequestVote):
        handler = HandleRequestVote(server, message)
    else:
        handler = HandleRequestVoteResponse(server, message)
    steps += [handler, BecomeLeader(server)]
    for action in steps:
        if enabled(rules, state, action):
            state = next_state(rules, state, action)
            chain.append((action, state))
        elif action is not steps[0]:
            break
    return tuple(chain)


def timeout_actions(
    rules: ElectionRules, state: ElectionState, server: int
) -> tuple[tuple[Action, ElectionState], ...]:
    """``Timeout``, then ``BecomeLeader`` if enabled (a one-server cluster wins at once)."""
    chain: list[tuple[Action, ElectionState]] = []
    for action in (Timeout(server), BecomeLeader(server)):
        if not enabled(rules, state, action):
            break
        state = next_state(rules, state, action)
        chain.append((action, state))
    return tuple(chain)


def is_stale_denial(state: ElectionState, message: Message) -> bool:
    """A denied vote whose term is not above its candidate's current term.

    Every delivery of it is a stutter, now and forever: ``UpdateTerm`` needs a term above the
    candidate's, ``HandleRequestVoteResponse`` a granted vote, and a server's term never
    decreases (not even across a restart). This holds for every :class:`ElectionRules`.
    """
    return (
        isinstance(message, RequestVoteResponse)
        and not message.granted
        and message.term <= state.servers[message.candidate].current_term
    )


def stale_denials(state: ElectionState) -> tuple[Message, ...]:
    return tuple(m for m in state.messages if is_stale_denial(state, m))


def drop_stale_denials(rules: ElectionRules, state: ElectionState) -> ElectionState:
    """``DropMessage`` of every stale denial (what the model's network does after each step)."""
    for message in stale_denials(state):
        state = next_state(rules, state, DropMessage(message))
    return state


# -- Invariants ----------------------------------------------------------------------------------


def _two_leaders(state: ElectionState) -> tuple[Election, Election] | None:
    by_term: dict[int, Election] = {}
    for election in state.elections:
        other = by_term.setdefault(election.term, election)
        if other.leader != election.leader:
            return other, election
    return None


def election_safety(state: ElectionState) -> bool:
    """At most one leader can be elected in a given term (Figure 3, §5.2)."""
    return _two_leaders(state) is None


def explain_election_safety(state: ElectionState) -> str:
    pair = _two_leaders(state)
    if pair is None:
        return ""
    first, second = pair
    return (
        f"term {first.term} has two leaders: server {first.leader} (votes of {first.voters}) "
        f"and server {second.leader} (votes of {second.voters})"
    )


def _double_vote(state: ElectionState) -> tuple[Vote, Vote] | None:
    by_voter: dict[tuple[int, int], Vote] = {}
    for vote in state.votes:
        other = by_voter.setdefault((vote.term, vote.voter), vote)
        if other.candidate != vote.candidate:
            return other, vote
    return None


def vote_once_per_term(state: ElectionState) -> bool:
    """Each server votes for at most one candidate in a given term (§5.2)."""
    return _double_vote(state) is None


def explain_vote_once(state: ElectionState) -> str:
    pair = _double_vote(state)
    if pair is None:
        return ""
    first, second = pair
    return (
        f"server {first.voter} voted twice in term {first.term}: for server {first.candidate} "
        f"and for server {second.candidate}"
    )


def _unqualified_win(state: ElectionState) -> tuple[Election, str] | None:
    n = len(state.servers)
    for election in state.elections:
        if not is_quorum(len(election.voters), n):
            return election, f"its voters {election.voters} are not a majority of {n} servers"
        leader_log = state.logs[election.leader]
        for voter in election.voters:
            if not at_least_as_up_to_date(leader_log, state.logs[voter]):
                return election, (
                    f"voter {voter}'s log ends at {_position(state.logs[voter])}, more up-to-date "
                    f"than the leader's {_position(leader_log)}"
                )
    return None


def leader_log_up_to_date(state: ElectionState) -> bool:
    """§5.4.1: every winner's voters are a majority whose logs are no more up-to-date than its."""
    return _unqualified_win(state) is None


def explain_leader_log(state: ElectionState) -> str:
    found = _unqualified_win(state)
    if found is None:
        return ""
    election, why = found
    return f"server {election.leader} won term {election.term}, but {why}"


def _position(log: LogPosition) -> str:
    return f"(term {log.term}, index {log.index})"


# -- Reachables ----------------------------------------------------------------------------------


def leader_elected(state: ElectionState) -> bool:
    """Sometimes: a candidate wins an election."""
    return bool(state.elections)


def leader_elected_in_later_term(state: ElectionState) -> bool:
    """Sometimes: a leader is elected in term ``T0 + 2`` or later (an election after another)."""
    later = initial_term(state.logs) + 2
    return any(e.term >= later for e in state.elections)


def leader_stepped_down(state: ElectionState) -> bool:
    """Sometimes: a server elected leader in term t is a follower in a later term."""
    return any(
        state.servers[e.leader].role == Role.FOLLOWER
        and state.servers[e.leader].current_term > e.term
        for e in state.elections
    )


# -- Registry ------------------------------------------------------------------------------------

Predicate = Callable[[ElectionState], bool]
Explainer = Callable[[ElectionState], str]

INVARIANTS: tuple[tuple[str, str, Predicate, Explainer], ...] = (
    (
        "election_safety",
        "at most one leader is elected in a given term (Figure 3, §5.2)",
        election_safety,
        explain_election_safety,
    ),
    (
        "vote_once_per_term",
        "each server votes for at most one candidate in a given term (§5.2)",
        vote_once_per_term,
        explain_vote_once,
    ),
    (
        "leader_log_up_to_date",
        "a winner's voters are a majority with logs no more up-to-date than its own (§5.4.1)",
        leader_log_up_to_date,
        explain_leader_log,
    ),
)

REACHABLES: tuple[tuple[str, str, Predicate], ...] = (
    ("leader_elected", "a candidate wins an election", leader_elected),
    (
        "leader_elected_in_later_term",
        "a leader is elected in term T0 + 2 or later (after an earlier election term)",
        leader_elected_in_later_term,
    ),
    (
        "leader_stepped_down",
        "a server elected leader in term t is a follower in a later term (§5.1)",
        leader_stepped_down,
    ),
)


def invariants(project: Callable[[Any], ElectionState]) -> tuple[Invariant[Any], ...]:
    """The registry of state invariants, read through ``project`` (a model's abstraction)."""
    return tuple(
        Invariant(
            name,
            description,
            _compose(predicate, project),
            _compose_explain(explain, project),
        )
        for name, description, predicate, explain in INVARIANTS
    )


def reachables(project: Callable[[Any], ElectionState]) -> tuple[Reachable[Any], ...]:
    return tuple(
        Reachable(name, description, _compose(predicate, project))
        for name, description, predicate in REACHABLES
    )


def _compose(
    predicate: Predicate, project: Callable[[Any], ElectionState]
) -> Callable[[Any], bool]:
    return lambda state: predicate(project(state))


def _compose_explain(
    explain: Explainer, project: Callable[[Any], ElectionState]
) -> Callable[[Any], str]:
    return lambda state: explain(project(state))
