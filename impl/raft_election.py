"""A sans-IO Raft server, leader election only: ``step(server, event) -> (server, effects)``.

Refines :mod:`mnemosyne_consensus.spec.raft_election` (Ongaro and Ousterhout, USENIX ATC 2014,
§5.1, §5.2, §5.4.1 and Figure 2). The server keeps Figure 2's persistent state (``currentTerm``,
``votedFor``) and the volatile role and votes of its candidacy; its log is a fixed input here,
known by the position ``(term, index)`` of its last entry.

Events
    ``ElectionTimeout()`` -- the randomized election timer fired (the host draws the timeout:
        randomness is an input). A follower or candidate starts an election (Figure 2, Rules for
        Servers: increment currentTerm, vote for self, send RequestVote to all other servers); a
        leader ignores it (a late timer that raced with the election is harmless).
    ``Receive(message)``  -- a RequestVote or a RequestVote response arrived. A message with a
        higher term first makes the server a follower of that term (Rules for All Servers).
    ``Restart()``         -- the server crashed and came back: it keeps ``current_term`` and
        ``voted_for`` (the host must have them on stable storage) and forgets the rest.

Effects (one frozen record)
    ``sends``      -- ``(destination, message)`` pairs, sorted by destination;
    ``vote``       -- the vote this step cast, ``Vote(term, candidate)``. Whenever a step
                      changes ``current_term`` or ``voted_for``, the host must persist them
                      *before* transmitting ``sends`` (Figure 2: "Updated on stable storage
                      before responding to RPCs");
    ``elected``    -- the term in which this server just became leader;
    ``reset_election_timer`` -- draw a fresh randomized election timeout: on starting an
                      election, on granting a vote (Figure 2, Followers) and on restart;
    ``faults``     -- a peer's message was malformed or impossible; the state is unchanged.

Wire messages
    ``RequestVote(term, candidate, last_log_term, last_log_index)`` and
    ``RequestVoteResponse(term, voter, candidate, granted)``; the response names the candidate it
    answers (the RPC's routing), so that a misrouted one is refused, not counted.

What a server can check, and what it cannot
    It can check a message's shape (known peer, natural numbers, a boolean grant), that a
    candidate's log claim is possible (an empty log has index 0 and term 0; a candidate's term is
    above every term in its log, since its current term was at least that before it incremented
    it), that a response is addressed to it, and that a vote granted to it was granted in a term
    it has reached (a voter grants only in the term of the request, and this server's term has
    only grown since it asked). It can *not* tell whether a candidate's log really ends where it
    claims (logs are not authenticated; Raft is safe under non-Byzantine conditions only, §2),
    nor whether a denial's term is real: a higher term in a denial is believed, as Figure 2
    requires.

Exceptions are kept for local misuse (an unknown event or message type); a peer's bad message is
a :class:`Fault` value and leaves the state unchanged. No clocks, randomness or I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs

# -- State ---------------------------------------------------------------------------------------


class Role(enum.Enum):
    FOLLOWER = "follower"
    CANDIDATE = "candidate"
    LEADER = "leader"


@attrs.frozen(cache_hash=True)
class ServerState:
    # identity and configuration: fixed for the server's life
    server: int
    n: int
    last_log_term: int  # the term of the last log entry (0: empty log)
    last_log_index: int  # its index (0: empty log)
    # persistent state (Figure 2): on stable storage, kept across a restart
    current_term: int
    voted_for: int | None
    # volatile state: lost on a restart
    role: Role
    votes_granted: tuple[int, ...]  # sorted: who voted for this candidate in current_term


def new(
    server: int,
    n: int,
    last_log_term: int = 0,
    last_log_index: int = 0,
    current_term: int | None = None,
) -> ServerState:
    """A follower with no vote cast, at ``current_term`` (default: its last log term)."""
    if not (is_nat(n) and n >= 1 and is_nat(server) and server < n):
        raise ValueError(f"server id {server!r} out of range for {n!r} servers")
    if not (is_nat(last_log_term) and is_nat(last_log_index)):
        raise ValueError(f"log position ({last_log_term!r}, {last_log_index!r}) is not natural")
    if (last_log_term == 0) != (last_log_index == 0):
        raise ValueError("an empty log has term 0 and index 0, and only an empty log does")
    term = last_log_term if current_term is None else current_term
    if not (is_nat(term) and term >= last_log_term):
        raise ValueError(f"current term {term!r} is below the last log term {last_log_term}")
    return ServerState(server, n, last_log_term, last_log_index, term, None, Role.FOLLOWER, ())


# -- Messages, events, effects -------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class RequestVote:
    """Wire message; fields are typed ``Any``: a peer may put anything in them."""

    term: Any
    candidate: Any
    last_log_term: Any
    last_log_index: Any


@attrs.frozen(cache_hash=True)
class RequestVoteResponse:
    """Wire message; fields are typed ``Any``: a peer may put anything in them."""

    term: Any
    voter: Any
    candidate: Any
    granted: Any


Message = RequestVote | RequestVoteResponse


@attrs.frozen
class ElectionTimeout:
    pass


@attrs.frozen
class Receive:
    message: Message


@attrs.frozen
class Restart:
    pass


Event = ElectionTimeout | Receive | Restart


class FaultKind(enum.Enum):
    """Why a message from a peer was refused. The server's state is left unchanged."""

    #: the sender (a request's candidate, a response's voter) is not another server of this
    #: configuration: out of range, not an integer, or this very server
    UNKNOWN_SENDER = "unknown_sender"
    #: a response answers another candidate than this server
    MISADDRESSED = "misaddressed"
    #: the term is not an integer >= 1 (every message is sent in a term that an election began)
    MALFORMED_TERM = "malformed_term"
    #: the candidate's last log position is not two naturals, or not an empty log's (0, 0) when
    #: either is 0
    MALFORMED_LOG_POSITION = "malformed_log_position"
    #: the candidate's last log term is not below the term it campaigns in
    LOG_AHEAD_OF_TERM = "log_ahead_of_term"
    #: the response's grant is not a boolean
    MALFORMED_GRANT = "malformed_grant"
    #: a vote granted in a term this server has not reached, so it never asked for it
    GRANT_FROM_FUTURE = "grant_from_future"


@attrs.frozen
class Fault:
    sender: Any
    kind: FaultKind
    detail: str


@attrs.frozen(order=True)
class Vote:
    """A vote cast in this step: for ``candidate`` (possibly this server) in ``term``."""

    term: int
    candidate: int


@attrs.frozen
class Effects:
    sends: tuple[tuple[int, Message], ...] = ()
    vote: Vote | None = None
    elected: int | None = None
    reset_election_timer: bool = False
    faults: tuple[Fault, ...] = ()


NO_EFFECTS = Effects()

# -- Transitions ---------------------------------------------------------------------------------


def step(
    state: ServerState, event: Event, ops: ElectionOps | None = None
) -> tuple[ServerState, Effects]:
    """The server's whole behaviour: one event in, the new state and its effects out.

    ``ops`` defaults to :data:`STANDARD_OPS`, the algorithm as published. An event that is not
    one of this module's (a missing key of :data:`HANDLERS`) is local misuse: ``TypeError``.
    """
    handler = HANDLERS.get((state.role, type(event)))
    if handler is None:
        raise TypeError(
            f"server {state.server} cannot handle event {event!r} when role={state.role.value}"
        )
    return handler(state, event, ops or STANDARD_OPS)


def on_election_timeout(
    state: ServerState, event: ElectionTimeout, ops: ElectionOps
) -> tuple[ServerState, Effects]:
    """Rules for Servers, Followers and Candidates: start an election."""
    me = state.server
    # Increment currentTerm; vote for self
    term = state.current_term + 1
    candidate = attrs.evolve(
        state, current_term=term, voted_for=me, role=Role.CANDIDATE, votes_granted=(me,)
    )
    # Send RequestVote RPCs to all other servers
    request = RequestVote(term, me, state.last_log_term, state.last_log_index)
    sends = tuple((j, request) for j in range(state.n) if j != me)
    candidate, elected = _maybe_win(candidate, ops)
    effects = Effects(sends, Vote(term, me), elected, reset_election_timer=True)
    return candidate, effects


def ignore_election_timeout(
    state: ServerState, event: ElectionTimeout, ops: ElectionOps
) -> tuple[ServerState, Effects]:
    """A leader has no election timeout: a late timer that raced with the election is ignored."""
    return state, NO_EFFECTS


def on_restart(state: ServerState, event: Restart, ops: ElectionOps) -> tuple[ServerState, Effects]:
    """Crash and recovery: persistent state kept, volatile state lost; a fresh timer."""
    return ops.restart(state), Effects(reset_election_timer=True)


def on_receive(state: ServerState, event: Receive, ops: ElectionOps) -> tuple[ServerState, Effects]:
    """Validate, then the Rules for All Servers (a higher term), then the message's handler."""
    message = event.message
    if not isinstance(message, RequestVote | RequestVoteResponse):
        raise TypeError(f"server {state.server} cannot handle message {message!r}")
    problem = ops.validate(state, message)
    if problem is not None:
        kind, detail = problem
        sender = message.candidate if isinstance(message, RequestVote) else message.voter
        return state, Effects(faults=(Fault(sender, kind, detail),))
    # Rules for All Servers: a higher term makes this server a follower of that term
    if message.term > state.current_term:
        state = ops.observe_term(state, message.term)
    if isinstance(message, RequestVote):
        return on_request_vote(state, message, ops)
    return on_request_vote_response(state, message, ops)


def on_request_vote(
    state: ServerState, request: RequestVote, ops: ElectionOps
) -> tuple[ServerState, Effects]:
    """RequestVote RPC, receiver implementation (Figure 2)."""
    candidate_log = (request.last_log_term, request.last_log_index)
    own_log = (state.last_log_term, state.last_log_index)
    granted = (
        # 1. Reply false if term < currentTerm
        request.term == state.current_term
        # 2. If votedFor is null or candidateId, and candidate's log is at least as
        # up-to-date as receiver's log, grant vote
        and state.voted_for in (None, request.candidate)
        and ops.up_to_date(candidate_log, own_log)
    )
    reply = RequestVoteResponse(state.current_term, state.server, request.candidate, granted)
    if not granted:
        return state, Effects(sends=((request.candidate, reply),))
    voted = attrs.evolve(state, voted_for=request.candidate)
    vote = Vote(state.current_term, request.candidate)
    return voted, Effects(((request.candidate, reply),), vote, reset_election_timer=True)


def on_request_vote_response(
    state: ServerState, response: RequestVoteResponse, ops: ElectionOps
) -> tuple[ServerState, Effects]:
    """Candidates: count a vote granted in the current term; win on a majority (§5.2)."""
    if state.role != Role.CANDIDATE or not response.granted:
        return state, NO_EFFECTS
    if not ops.counts_response(response.term, state.current_term):
        return state, NO_EFFECTS  # stale: a vote of an earlier term counts for nothing now
    if response.voter in state.votes_granted:
        return state, NO_EFFECTS  # a duplicate
    votes = tuple(sorted((*state.votes_granted, response.voter)))
    candidate, elected = _maybe_win(attrs.evolve(state, votes_granted=votes), ops)
    return candidate, Effects(elected=elected)


def _maybe_win(state: ServerState, ops: ElectionOps) -> tuple[ServerState, int | None]:
    """A candidate with votes from a majority of servers becomes leader at once."""
    if ops.is_quorum(len(state.votes_granted), state.n):
        return attrs.evolve(state, role=Role.LEADER), state.current_term
    return state, None


def observe_term(state: ServerState, term: int) -> ServerState:
    """Set currentTerm = T, convert to follower, with no vote cast in the new term."""
    return attrs.evolve(
        state, current_term=term, voted_for=None, role=Role.FOLLOWER, votes_granted=()
    )


def restart(state: ServerState) -> ServerState:
    """Crash and recovery: persistent state kept, volatile state reset."""
    return attrs.evolve(state, role=Role.FOLLOWER, votes_granted=())


def up_to_date(candidate: tuple[int, int], own: tuple[int, int]) -> bool:
    """§5.4.1: the later last term wins; with equal last terms, the longer log."""
    return candidate[0] > own[0] or (candidate[0] == own[0] and candidate[1] >= own[1])


def is_quorum(votes: int, servers: int) -> bool:
    """A majority: more than half the servers."""
    return 2 * votes > servers


def counts_response(response_term: int, current_term: int) -> bool:
    """Only a vote of the candidate's current term counts."""
    return response_term == current_term


def validate(state: ServerState, message: Message) -> tuple[FaultKind, str] | None:
    """None if ``message`` may be handled, else the fault kind and a one-line reason."""
    me, n = state.server, state.n
    request = isinstance(message, RequestVote)
    sender = message.candidate if request else message.voter
    # Verify the sender is another server of this configuration
    if not (is_nat(sender) and sender < n and sender != me):
        return FaultKind.UNKNOWN_SENDER, f"server {me} has no peer {sender!r}"
    # Verify a response answers this server
    if not request and message.candidate != me:
        return (
            FaultKind.MISADDRESSED,
            f"a response to candidate {message.candidate!r} reached server {me}",
        )
    # Verify the term is one an election began
    if not (is_nat(message.term) and message.term >= 1):
        return FaultKind.MALFORMED_TERM, f"term {message.term!r} is not an integer >= 1"
    if isinstance(message, RequestVote):
        log_term, log_index = message.last_log_term, message.last_log_index
        # Verify the candidate's log position is a possible one
        if not (is_nat(log_term) and is_nat(log_index) and (log_term == 0) == (log_index == 0)):
            return (
                FaultKind.MALFORMED_LOG_POSITION,
                f"last log position ({log_term!r}, {log_index!r}) is no log's",
            )
        # Verify the candidate's log holds no entry of its campaign's term or later
        if log_term >= message.term:
            return (
                FaultKind.LOG_AHEAD_OF_TERM,
                f"last log term {log_term} is not below the request's term {message.term}",
            )
        return None
    # Verify the grant is a boolean
    if not isinstance(message.granted, bool):
        return FaultKind.MALFORMED_GRANT, f"grant {message.granted!r} is not a boolean"
    # Verify a granted vote is of a term this server has reached (it asked in its own term)
    if message.granted and message.term > state.current_term:
        return (
            FaultKind.GRANT_FROM_FUTURE,
            f"a vote granted in term {message.term}, but server {me} is at term "
            f"{state.current_term}",
        )
    return None


# (role, event type) -> handler: the whole transition table of a server
HANDLERS: dict[
    tuple[Role, type], Callable[[ServerState, Any, ElectionOps], tuple[ServerState, Effects]]
] = {
    (Role.FOLLOWER, ElectionTimeout): on_election_timeout,
    (Role.CANDIDATE, ElectionTimeout): on_election_timeout,
    (Role.LEADER, ElectionTimeout): ignore_election_timeout,
    **{(role, Receive): on_receive for role in Role},
    **{(role, Restart): on_restart for role in Role},
}

# -- What a server computes with -----------------------------------------------------------------


@attrs.frozen
class ElectionOps:
    """What a server computes with. The model swaps deliberate bugs (mutants) in here."""

    up_to_date: Callable[[tuple[int, int], tuple[int, int]], bool]  # (candidate's, own) log
    is_quorum: Callable[[int, int], bool]  # (votes, servers)
    restart: Callable[[ServerState], ServerState]
    observe_term: Callable[[ServerState, int], ServerState]
    counts_response: Callable[[int, int], bool]  # (response term, current term)
    validate: Callable[[ServerState, Message], tuple[FaultKind, str] | None]


STANDARD_OPS = ElectionOps(
    up_to_date=up_to_date,
    is_quorum=is_quorum,
    restart=restart,
    observe_term=observe_term,
    counts_response=counts_response,
    validate=validate,
)


def is_nat(value: Any) -> bool:
    """A natural number (bool is not one, though Python thinks it is an int)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
