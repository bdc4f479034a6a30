"""Raft leader election: bounded model, mutants, a Hypothesis state machine and the oracle.

Sources: Ongaro and Ousterhout, USENIX ATC 2014, §5.1, §5.2, §5.4.1, Figure 2; Ongaro's
raft.tla (see :mod:`mnemosyne_consensus.spec.raft_election`).

The explored state is the *implementation*: one :class:`impl.ServerState` per server, one global
pool of every message sent (never removed: delivered in any order, any number of times, or
never), a ghost record of the votes cast and the elections won -- read off the effects the
servers report (``Effects.vote``, ``Effects.elected``), never read by a server -- and the number
of restarts so far. After every step the checker

* maps the state to the spec's :class:`spec.ElectionState` and evaluates every spec invariant
  there (election safety, one vote per term, the election restriction);
* checks ``refinement``: the step is a stutter or ends where some prefix of the spec steps it
  stands for ends -- ``Timeout`` (then ``BecomeLeader``), ``Restart``, or for a delivery
  ``UpdateTerm`` if the term is higher, the message's handler, then ``BecomeLeader`` (see
  :func:`spec.receive_actions`); the comparison covers every server, the pool and the ghost;
* checks ``faults_change_nothing``: every message of a small fixed alphabet of forged or
  malformed messages (one per :class:`impl.FaultKind` and receiver; always receivable, not
  state, so free in state space) leaves the whole state unchanged.

Bounds: terms up to ``max_term`` (a ``Timeout`` is enabled below it; messages carry no later
term) and at most ``restarts`` restarts in all, counted in the state (a restart that changes
nothing -- a follower with no votes -- is a stutter and is not counted). Logs are fixed inputs,
one last-log position per server; every server starts at term ``T0`` = the largest last-log
term. A config with one election term leaves out the reachables about later terms.

State-space discipline: the network drops *stale denials* -- a denied vote whose term is not
above its candidate's current term -- as soon as they are sent or become stale (raft.tla's
``DropMessage``, taken eagerly for these only; see :func:`spec.is_stale_denial`). Every delivery
of one is a stutter for ever, so no behaviour is lost, and refinement compares with the spec
state after the same drops. Remembering every "no" multiplied the states about fifty-fold.

Measured on this machine (one core, the engine's breadth-first search): ``three`` (3 servers,
terms to 3, two restarts) has 6,630 distinct states, about 2 s; ``tiny`` (2 servers) 118;
``four`` (4 servers, one election term, one restart) 473; ``deep`` (3 servers, terms to 4, one
restart) about 125,000 in about a minute, too slow for CI. Larger systems are left to
``--simulate`` (config ``five``) and the Hypothesis machine (five servers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
)

from ..impl import raft_election as impl
from ..spec import raft_election as spec
from ..spec.common import replace_at
from ..spec.properties import StepProperty
from .codec import (
    JSON,
    DecodeError,
    dumps_line,
    enum_values,
    expect_array,
    expect_int,
    expect_object,
    object_schema,
    plain_from_json,
    plain_to_json,
)
from .engine import Bounds, Model
from .machines import require
from .registry_types import Config, Mutant, ProtocolEntry
from .vectors import OracleBinding

# -- State ---------------------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class Deployment:
    # servers (implementation state)
    nodes: tuple[impl.ServerState, ...]
    # network: every message sent, in canonical order (see message_key); never removed
    network: tuple[impl.Message, ...]
    # ghost: the votes cast and the elections won, as the servers reported them
    votes: tuple[spec.Vote, ...]
    elections: tuple[spec.Election, ...]
    # bound: restarts so far (in all)
    restarts: int


def message_key(message: impl.Message) -> tuple[Any, ...]:
    """Requests, then responses, field by field (any field a repr, so forged ones sort too)."""
    if isinstance(message, impl.RequestVote):
        fields: tuple[Any, ...] = (
            message.term,
            message.candidate,
            message.last_log_term,
            message.last_log_index,
        )
        return (0, *(repr(f) for f in fields))
    fields = (message.term, message.voter, message.candidate, message.granted)
    return (1, *(repr(f) for f in fields))


def receivers(message: impl.Message, n: int) -> tuple[int, ...]:
    """Who a sent message reaches: a request every server but its candidate, a response the
    candidate it answers."""
    if isinstance(message, impl.RequestVote):
        return tuple(j for j in range(n) if j != message.candidate)
    return (message.candidate,)


# -- Actions of the model (impl events handed to a server) ---------------------------------------


@attrs.frozen
class Timeout:
    server: int

    def __str__(self) -> str:
        return f"server {self.server}: election timeout"


@attrs.frozen
class Deliver:
    server: int
    message: impl.Message

    def __str__(self) -> str:
        return f"server {self.server}: receive {describe_message(self.message)}"


@attrs.frozen
class Restart:
    server: int

    def __str__(self) -> str:
        return f"server {self.server}: crash and restart"


@attrs.frozen
class DeliverForged:
    server: int
    message: impl.Message

    def __str__(self) -> str:
        return f"server {self.server}: receive forged {describe_message(self.message)}"


ModelAction = Timeout | Deliver | Restart | DeliverForged


def describe_message(message: impl.Message) -> str:
    if isinstance(message, impl.RequestVote):
        return (
            f"RequestVote(term {message.term!r}, candidate {message.candidate!r}, "
            f"last log ({message.last_log_term!r}, {message.last_log_index!r}))"
        )
    verdict = {True: "granted", False: "denied"}.get(message.granted, repr(message.granted))
    return (
        f"vote {verdict} (term {message.term!r}, voter {message.voter!r}, "
        f"candidate {message.candidate!r})"
    )


# -- Adversary alphabet --------------------------------------------------------------------------


def forged_messages(n: int, receiver: int, max_term: int) -> tuple[impl.Message, ...]:
    """One malformed or impossible message per fault kind, at ``receiver`` (order: FaultKind).

    ``max_term`` bounds the terms the model reaches, so a grant of ``max_term + 1`` is always
    from the future.
    """
    if n < 2:
        raise ValueError("the forged alphabet needs a peer: at least two servers")
    peer = (receiver + 1) % n
    return (
        impl.RequestVote(1, n, 0, 0),  # unknown sender
        impl.RequestVoteResponse(1, peer, peer, True),  # a response for another candidate
        impl.RequestVote(0, peer, 0, 0),  # term 0
        impl.RequestVote(1, peer, 0, 3),  # index 3 of an empty log
        impl.RequestVote(1, peer, 1, 1),  # a log entry of the campaign's own term
        impl.RequestVoteResponse(1, peer, receiver, "yes"),  # grant not a boolean
        impl.RequestVoteResponse(max_term + 1, peer, receiver, True),  # a grant from the future
    )


# -- Mutants -------------------------------------------------------------------------------------


def _spec_restart_forgetting_vote(server: spec.Server) -> spec.Server:
    return spec.Server(server.current_term, None, spec.Role.FOLLOWER, ())


def _impl_restart_forgetting_vote(state: impl.ServerState) -> impl.ServerState:
    # votedFor kept in memory only: the restarted server may vote again in the same term
    return attrs.evolve(state, voted_for=None, role=impl.Role.FOLLOWER, votes_granted=())


def _any_log(candidate: Any, voter: Any) -> bool:
    return True


def _half_is_quorum(votes: int, servers: int) -> bool:
    # |votes| >= n/2: a majority when n is odd, two disjoint halves when n is even
    return 2 * votes >= servers


def _not_newer(response_term: int, current_term: int) -> bool:
    # a vote is counted whatever term it was cast in (the design notes' term-less messages)
    return response_term <= current_term


def _observe_term_keeping_vote(state: impl.ServerState, term: int) -> impl.ServerState:
    return attrs.evolve(state, current_term=term, role=impl.Role.FOLLOWER, votes_granted=())


def _validate_trusting_future_grants(
    state: impl.ServerState, message: impl.Message
) -> tuple[impl.FaultKind, str] | None:
    problem = impl.validate(state, message)
    if problem is not None and problem[0] is impl.FaultKind.GRANT_FROM_FUTURE:
        return None
    return problem


MUTANTS = (
    Mutant(
        "forget-vote-on-restart",
        "votedFor is not persistent: a restarted server may vote again in the same term "
        "(spec and impl agree)",
        "vote_once_per_term",
    ),
    Mutant(
        "no-log-check",
        "a vote is granted without the §5.4.1 up-to-date check (spec and impl agree)",
        "leader_log_up_to_date",
    ),
    Mutant(
        "floor-half",
        "a quorum is half the servers, |votes| >= n/2 (spec and impl agree); the same as a "
        "majority for odd n, two disjoint halves for even n",
        "election_safety",
        config="four",
    ),
    Mutant(
        "count-stale-votes",
        "a candidate counts granted votes of earlier terms, as with the design notes' term-less "
        "messages (spec and impl agree)",
        "election_safety",
        config="three",  # two servers: only the longer log can ever win
    ),
    Mutant(
        "step-down-keeps-vote",
        "the impl keeps votedFor when a higher term makes it a follower; the spec is right",
        "refinement",
    ),
    Mutant(
        "trusts-future-grant",
        "the impl's validation omits the GRANT_FROM_FUTURE check and steps down to the forged term",
        "faults_change_nothing",
    ),
)

# mutant name -> (spec rule replacements, impl op replacements), applied with attrs.evolve. A
# wrong rule goes into spec and impl alike, so that refinement holds and only the invariant can
# catch it; an impl-only bug leaves the spec right, so refinement catches it.
MUTATIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "forget-vote-on-restart": (
        {"restart": _spec_restart_forgetting_vote},
        {"restart": _impl_restart_forgetting_vote},
    ),
    "no-log-check": ({"up_to_date": _any_log}, {"up_to_date": _any_log}),
    "floor-half": ({"is_quorum": _half_is_quorum}, {"is_quorum": _half_is_quorum}),
    "count-stale-votes": ({"counts_response": _not_newer}, {"counts_response": _not_newer}),
    "step-down-keeps-vote": ({}, {"observe_term": _observe_term_keeping_vote}),
    "trusts-future-grant": ({}, {"validate": _validate_trusting_future_grants}),
}


def rules_and_ops(mutant: Mutant | None) -> tuple[spec.ElectionRules, impl.ElectionOps]:
    """The spec rules and impl ops of the protocol, with ``mutant``'s bug in them."""
    if mutant is None:
        return spec.SPEC_RULES, impl.STANDARD_OPS
    spec_patch, impl_patch = MUTATIONS[mutant.name]
    return attrs.evolve(spec.SPEC_RULES, **spec_patch), attrs.evolve(
        impl.STANDARD_OPS, **impl_patch
    )


# -- Driving the impl: one event, recorded in the network and the ghost -------------------------


def impl_event(action: ModelAction) -> impl.Event:
    if isinstance(action, Timeout):
        return impl.ElectionTimeout()
    if isinstance(action, Restart):
        return impl.Restart()
    return impl.Receive(action.message)


def record(
    state: Deployment,
    i: int,
    node: impl.ServerState,
    effects: impl.Effects,
    restarted: bool = False,
) -> Deployment:
    """``state`` after server i stepped to ``node`` with ``effects`` (``state`` itself if nothing
    changed, so the explorer skips the step properties of a stutter)."""
    nodes = state.nodes if node == state.nodes[i] else replace_at(state.nodes, i, node)
    network = state.network
    new = [m for _, m in effects.sends if m not in network and not is_stale_denial(nodes, m)]
    if new:
        network = tuple(sorted({*network, *new}, key=message_key))
    if nodes is not state.nodes and node.current_term != state.nodes[i].current_term:
        # a higher term at server i makes some denials addressed to it stale: drop them
        kept = tuple(m for m in network if not is_stale_denial(nodes, m))
        if len(kept) != len(network):
            network = kept
    votes = state.votes
    if effects.vote is not None:
        vote = spec.Vote(effects.vote.term, i, effects.vote.candidate)
        if vote not in votes:
            votes = tuple(sorted((*votes, vote), key=_vote_key))
    elections = state.elections
    if effects.elected is not None:
        won = spec.Election(effects.elected, i, node.votes_granted)
        if won not in elections:
            elections = tuple(sorted((*elections, won), key=_election_key))
    if nodes is state.nodes and not restarted and network is state.network:
        if votes is state.votes and elections is state.elections:
            return state
    return Deployment(
        nodes=nodes,
        network=network,
        votes=votes,
        elections=elections,
        restarts=state.restarts + 1 if restarted else state.restarts,
    )


def _vote_key(vote: spec.Vote) -> tuple[int, int, int]:
    return (vote.term, vote.voter, vote.candidate)


def _election_key(election: spec.Election) -> tuple[int, int, tuple[int, ...]]:
    return (election.term, election.leader, election.voters)


def is_stale_denial(nodes: tuple[impl.ServerState, ...], message: impl.Message) -> bool:
    """A denial whose term is not above its candidate's: every delivery of it is a stutter, for
    ever (see :func:`spec.is_stale_denial`), so the network drops it (raft.tla ``DropMessage``).
    """
    return (
        isinstance(message, impl.RequestVoteResponse)
        and message.granted is False
        and message.term <= nodes[message.candidate].current_term
    )


def apply_step(ops: impl.ElectionOps, state: Deployment, action: ModelAction) -> Deployment:
    """Hands ``action``'s event to its server and records what happened."""
    i = action.server
    node, effects = impl.step(state.nodes[i], impl_event(action), ops)
    return record(state, i, node, effects, restarted=isinstance(action, Restart))


# -- Abstraction and refinement ------------------------------------------------------------------


def abstract_message(message: impl.Message) -> spec.Message:
    if isinstance(message, impl.RequestVote):
        return spec.RequestVote(
            message.term, message.candidate, message.last_log_term, message.last_log_index
        )
    return spec.RequestVoteResponse(message.term, message.voter, message.candidate, message.granted)


def abstract_server(node: impl.ServerState) -> spec.Server:
    return spec.Server(
        node.current_term, node.voted_for, spec.Role(node.role.value), node.votes_granted
    )


def logs_of(nodes: tuple[impl.ServerState, ...]) -> tuple[spec.LogPosition, ...]:
    return tuple(spec.LogPosition(node.last_log_term, node.last_log_index) for node in nodes)


def abstract_network(network: tuple[impl.Message, ...]) -> tuple[spec.Message, ...]:
    return tuple(sorted((abstract_message(m) for m in network), key=spec.message_key))


def abstract(state: Deployment) -> spec.ElectionState:
    """The abstraction function: servers, pool and ghost, in the spec's terms."""
    return spec.ElectionState(
        logs=logs_of(state.nodes),
        servers=tuple(abstract_server(node) for node in state.nodes),
        messages=abstract_network(state.network),
        votes=state.votes,
        elections=state.elections,
    )


def spec_chain(
    rules: spec.ElectionRules, before: spec.ElectionState, action: ModelAction
) -> tuple[tuple[spec.Action, spec.ElectionState], ...]:
    """The spec steps ``action`` stands for, each with the state after it (see module doc)."""
    i = action.server
    if isinstance(action, Timeout):
        return spec.timeout_actions(rules, before, i)
    if isinstance(action, Restart):
        restart = spec.Restart(i)
        return ((restart, spec.next_state(rules, before, restart)),)
    if isinstance(action, Deliver):
        return spec.receive_actions(rules, before, i, abstract_message(action.message))
    return ()  # a forged message is in no pool: only a stutter refines it


def refinement_problem(
    rules: spec.ElectionRules,
    pre: Deployment,
    action: ModelAction,
    post: Deployment,
    project: Callable[[Deployment], spec.ElectionState] = abstract,
) -> str | None:
    """None if the step is a stutter or ends where a prefix of its spec steps ends, else why."""
    before, after = project(pre), project(post)
    if after == before:
        return None
    # each prefix of the spec steps, then the network's drop of the denials it made stale
    chain = [
        (step, spec.drop_stale_denials(rules, state))
        for step, state in spec_chain(rules, before, action)
    ]
    if any(expected == after for _, expected in chain):
        return None
    if not chain:
        return f"no spec action is enabled for {action}, but the state changed"
    names = ", then ".join(type(a).__name__ for a, _ in chain)
    expected = chain[-1][1]
    return f"after {names}: " + "; ".join(_differences(expected, after))


def _differences(expected: spec.ElectionState, after: spec.ElectionState) -> list[str]:
    found = []
    for i, (want, got) in enumerate(zip(expected.servers, after.servers, strict=True)):
        if want != got:
            found.append(f"server {i}: spec {_show_server(want)}, impl {_show_server(got)}")
    if expected.messages != after.messages:
        extra = sorted(set(after.messages) - set(expected.messages), key=spec.message_key)
        missing = sorted(set(expected.messages) - set(after.messages), key=spec.message_key)
        found.append(f"messages: only the impl sent {extra}; only the spec sent {missing}")
    if expected.votes != after.votes:
        found.append(f"votes: spec {expected.votes}, impl {after.votes}")
    if expected.elections != after.elections:
        found.append(f"elections: spec {expected.elections}, impl {after.elections}")
    return found


def _show_server(server: spec.Server) -> str:
    return (
        f"term {server.current_term}, votedFor {server.voted_for}, {server.role.value}, "
        f"votes {server.votes_granted}"
    )


_UNKNOWN = object()  # not yet computed (a memo entry may be None: the server ignored the event)

# -- The model -----------------------------------------------------------------------------------


def initial_deployment(logs: tuple[tuple[int, int], ...]) -> Deployment:
    n = len(logs)
    term = max(t for t, _ in logs)
    nodes = tuple(impl.new(i, n, t, x, current_term=term) for i, (t, x) in enumerate(logs))
    return Deployment(nodes=nodes, network=(), votes=(), elections=(), restarts=0)


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    logs: tuple[tuple[int, int], ...] = tuple(tuple(log) for log in config.params["logs"])
    max_term: int = config.params["max_term"]
    max_restarts: int = config.params["restarts"]
    n = len(logs)
    rules, ops = rules_and_ops(mutant)
    forged = tuple(forged_messages(n, j, max_term) for j in range(n))
    timeouts = tuple(Timeout(i) for i in range(n))
    restarts = tuple(Restart(i) for i in range(n))
    forged_actions = tuple(DeliverForged(j, m) for j in range(n) for m in forged[j])
    deliveries: dict[impl.Message, tuple[Deliver, ...]] = {}

    def initial_states() -> Iterator[Deployment]:
        yield initial_deployment(logs)

    def actions(state: Deployment) -> Iterator[ModelAction]:
        for i, node in enumerate(state.nodes):
            # leaders have no election timeout; terms stop at max_term
            if node.role != impl.Role.LEADER and node.current_term < max_term:
                yield timeouts[i]
        if state.restarts < max_restarts:
            yield from restarts
        for message in state.network:
            found = deliveries.get(message)
            if found is None:
                found = deliveries[message] = tuple(
                    Deliver(j, message) for j in receivers(message, n)
                )
            yield from found
        # the forged alphabet is always receivable (it adds no state: each is a stutter)
        yield from forged_actions

    # impl.step is a pure function: remember what a (server state, event) pair gives, since the
    # same few server states meet the same few messages in most global states
    outcomes: dict[tuple[impl.ServerState, Any], Any] = {}

    def next_state(state: Deployment, action: ModelAction) -> Deployment:
        i = action.server
        node = state.nodes[i]
        key = (node, action.message if isinstance(action, Deliver | DeliverForged) else action)
        outcome = outcomes.get(key, _UNKNOWN)
        if outcome is _UNKNOWN:
            new_node, effects = impl.step(node, impl_event(action), ops)
            # None: the server ignored the event (same state, nothing to send or record)
            quiet = new_node == node and not (effects.sends or effects.vote or effects.elected)
            outcome = outcomes[key] = None if quiet else (new_node, effects)
        if outcome is None:
            return state
        return record(state, i, *outcome, restarted=isinstance(action, Restart))

    # -- abstraction, memoized: many states share a network, and the explorer checks every
    # property of one state (and both ends of a step) one after the other
    network_cache: dict[tuple[impl.Message, ...], tuple[spec.Message, ...]] = {}
    server_cache: dict[impl.ServerState, spec.Server] = {}
    spec_logs = spec.initial_state(tuple(spec.LogPosition(*log) for log in logs)).logs
    recent: dict[int, tuple[Deployment, spec.ElectionState]] = {}

    def project(state: Deployment) -> spec.ElectionState:
        hit = recent.get(id(state))
        if hit is not None and hit[0] is state:
            return hit[1]
        network = network_cache.get(state.network)
        if network is None:
            if len(network_cache) >= 65536:
                network_cache.clear()
            network = network_cache[state.network] = abstract_network(state.network)
        servers = []
        for node in state.nodes:
            server = server_cache.get(node)
            if server is None:
                server = server_cache[node] = abstract_server(node)
            servers.append(server)
        projected = spec.ElectionState(
            spec_logs, tuple(servers), network, state.votes, state.elections
        )
        if len(recent) >= 8:
            recent.clear()
        recent[id(state)] = (state, projected)
        return projected

    def refines(pre: Deployment, action: ModelAction, post: Deployment) -> bool:
        return refinement_problem(rules, pre, action, post, project) is None

    def explain_refinement(pre: Deployment, action: ModelAction, post: Deployment) -> str:
        return refinement_problem(rules, pre, action, post, project) or ""

    def faults_change_nothing(pre: Deployment, action: ModelAction, post: Deployment) -> bool:
        return post == pre if isinstance(action, DeliverForged) else True

    def explain_fault(pre: Deployment, action: ModelAction, post: Deployment) -> str:
        i = action.server
        return (
            f"server {i} went from {_show_server(abstract_server(pre.nodes[i]))} "
            f"to {_show_server(abstract_server(post.nodes[i]))}"
        )

    steps: tuple[StepProperty[Any, Any], ...] = (
        StepProperty(
            "refinement",
            "every impl step is a stutter or a prefix of the enabled spec steps it stands for",
            refines,
            explain_refinement,
        ),
        StepProperty(
            "faults_change_nothing",
            "a forged or malformed message leaves the whole state unchanged",
            faults_change_nothing,
            explain_fault,
        ),
    )
    # with a single election term, nothing can happen in a later one: those reachables are
    # left out rather than reported unreached (the model says so in its description)
    later = spec.initial_term(spec_logs) + 2 <= max_term
    reachables = tuple(
        r
        for r in spec.reachables(project)
        if later or r.name not in ("leader_elected_in_later_term", "leader_stepped_down")
    )
    return Model(
        name="raft-election",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=spec.invariants(project),
        step_properties=steps,
        reachables=reachables,
        describe_action=str,
    )


def view(state: Deployment) -> Mapping[str, Any]:
    """Named variables of a deployment (raft.tla's names), for traces and ITF."""
    return {
        "currentTerm": {i: node.current_term for i, node in enumerate(state.nodes)},
        "votedFor": {i: node.voted_for for i, node in enumerate(state.nodes)},
        "state": {i: node.role.value for i, node in enumerate(state.nodes)},
        "votesGranted": {i: node.votes_granted for i, node in enumerate(state.nodes)},
        "lastLog": {i: (n.last_log_term, n.last_log_index) for i, n in enumerate(state.nodes)},
        "messages": tuple(_message_view(m) for m in state.network),
        "votes": tuple((v.term, v.voter, v.candidate) for v in state.votes),
        "elections": tuple(
            {"term": e.term, "leader": e.leader, "voters": e.voters} for e in state.elections
        ),
        "restarts": state.restarts,
    }


def _message_view(message: impl.Message) -> dict[str, Any]:
    if isinstance(message, impl.RequestVote):
        return {
            "type": "RequestVote",
            "term": message.term,
            "candidate": message.candidate,
            "lastLogTerm": message.last_log_term,
            "lastLogIndex": message.last_log_index,
        }
    return {
        "type": "RequestVoteResponse",
        "term": message.term,
        "voter": message.voter,
        "candidate": message.candidate,
        "granted": message.granted,
    }


CONFIGS = (
    Config(
        "three",
        "3 servers with last log positions (1,2), (1,1), (0,0); elections in terms 2 and 3; "
        "two restarts; every delivery order, duplication and loss",
        {"logs": ((1, 2), (1, 1), (0, 0)), "max_term": 3, "restarts": 2},
        expected_distinct_states=6630,
    ),
    Config(
        "tiny",
        "2 servers with last log positions (1,1), (0,0); elections in terms 2 and 3; one restart",
        {"logs": ((1, 1), (0, 0)), "max_term": 3, "restarts": 1},
        expected_distinct_states=118,
    ),
    Config(
        "four",
        "4 servers with last log positions (1,1), (1,1), (0,0), (0,0); one election term; one "
        "restart (even n: where 'half' is no majority)",
        {"logs": ((1, 1), (1, 1), (0, 0), (0, 0)), "max_term": 2, "restarts": 1},
        expected_distinct_states=473,
    ),
    Config(
        "deep",
        "3 servers as in 'three'; elections in terms 2 to 4; one restart (about 125,000 "
        "states: a minute or so, not run in CI)",
        {"logs": ((1, 2), (1, 1), (0, 0)), "max_term": 4, "restarts": 1},
        Bounds(max_seconds=600),
    ),
    Config(
        "five",
        "5 servers with mixed logs; elections in terms 2 to 4; two restarts (simulation)",
        {"logs": ((1, 1), (1, 2), (1, 2), (0, 0), (1, 1)), "max_term": 4, "restarts": 2},
        Bounds(max_seconds=120),
    ),
)

PROTOCOL = ProtocolEntry(
    name="raft-election",
    summary="Raft leader election: one leader per term, one vote per term, up-to-date leaders",
    source="Ongaro and Ousterhout, USENIX ATC 2014, sections 5.1, 5.2, 5.4.1 and Figure 2",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)


# -- Hypothesis: random schedules on a larger system ---------------------------------------------


class RaftElectionMachine(RuleBasedStateMachine):
    """Random schedules of 5 impl servers, unbounded terms; every spec invariant after every step.

    Each rule hands one event to one server (through :func:`apply_step`, as the model does) and
    checks refinement on the spot; the ``@invariant`` methods evaluate the spec's predicates on
    the abstraction. Sent messages go to a Bundle, so deliveries, duplicate deliveries and lost
    messages are all drawn by Hypothesis; a ``flush`` rule delivers the whole network in a drawn
    server order, so that elections of five servers complete within a short run (about a third
    of the runs elect a leader, with step-downs and later terms). Subclass with ``mutant`` set to
    run the same machine against a shipped bug.
    """

    logs: tuple[tuple[int, int], ...] = ((1, 1), (1, 2), (1, 2), (0, 0), (1, 1))
    servers = 5
    mutant: Mutant | None = None
    messages = Bundle("messages")

    def __init__(self) -> None:
        super().__init__()
        self.rules, self.ops = rules_and_ops(self.mutant)
        self.state = initial_deployment(self.logs)
        # terms stay far below 1000 in a run, so a grant of term 1001 is always from the future
        self.forged = tuple(forged_messages(self.servers, j, 1000) for j in range(self.servers))

    def _step(self, action: ModelAction) -> Any:
        before = self.state
        self.state = apply_step(self.ops, before, action)
        problem = refinement_problem(self.rules, before, action, self.state)
        require(problem is None, f"refinement violated by {action}: {problem}")
        sent = sorted(set(self.state.network) - set(before.network), key=message_key)
        return multiple(*sent)

    # -- rules: one per event the host or the network can hand a server ----------------------

    @rule(target=messages, server=st.integers(0, servers - 1))
    def election_timeout(self, server: int) -> Any:
        return self._step(Timeout(server))

    @rule(target=messages, message=messages, pick=st.integers(0, servers - 1))
    def deliver(self, message: impl.Message, pick: int) -> Any:
        # a message stays in the Bundle: it can be delivered again, or never
        reached = receivers(message, self.servers)
        return self._step(Deliver(reached[pick % len(reached)], message))

    @rule(target=messages, order=st.permutations(range(servers)))
    def flush(self, order: list[int]) -> Any:
        # every message in the network to every receiver, servers in ``order``, until nothing
        # new is sent (at most three rounds): a burst in which an election can run to its end
        sent: list[impl.Message] = []
        for _ in range(3):
            network = self.state.network
            for server in order:
                for message in network:
                    if server in receivers(message, self.servers):
                        sent.extend(self._step(Deliver(server, message)).values)
            if self.state.network == network:
                break
        return multiple(*sent)

    @precondition(lambda self: self.state.restarts < 3)
    @rule(server=st.integers(0, servers - 1))
    def restart(self, server: int) -> None:
        self._step(Restart(server))

    @rule(server=st.integers(0, servers - 1), which=st.integers(0, len(impl.FaultKind) - 1))
    def receive_forged(self, server: int, which: int) -> None:
        node = self.state.nodes[server]
        message = self.forged[server][which]
        after, effects = impl.step(node, impl.Receive(message), self.ops)
        require(len(effects.faults) == 1, f"forged {message!r} was not a fault")
        require(after == node, "faults_change_nothing violated: a forged message changed state")

    # -- invariants: the spec's registry, on the abstraction ----------------------------------

    def _check(self, predicate: spec.Predicate, explain: spec.Explainer, name: str) -> None:
        projected = abstract(self.state)
        require(predicate(projected), f"{name} violated: {explain(projected)}")

    @invariant()
    def election_safety(self) -> None:
        self._check(spec.election_safety, spec.explain_election_safety, "election_safety")

    @invariant()
    def vote_once_per_term(self) -> None:
        self._check(spec.vote_once_per_term, spec.explain_vote_once, "vote_once_per_term")

    @invariant()
    def leader_log_up_to_date(self) -> None:
        self._check(spec.leader_log_up_to_date, spec.explain_leader_log, "leader_log_up_to_date")


# -- The oracle: canonical encoding, vectors and trace validation --------------------------------
#
# Documents (canonical JSON, see :mod:`.codec`; the schemas are generated from
# :meth:`RaftElectionCodec.schemas`)::
#
#     state    {"server": 0, "servers": 3, "last_log_term": 1, "last_log_index": 2,
#               "current_term": 2, "voted_for": 0, "role": "candidate", "votes_granted": [0]}
#     event    {"type": "timeout"}
#              {"type": "restart"}
#              {"type": "receive", "message": M}
#     M        {"type": "request_vote", "term": 2, "candidate": 0,
#               "last_log_term": 1, "last_log_index": 2}
#              {"type": "request_vote_response", "term": 2, "voter": 1, "candidate": 0,
#               "granted": true}
#     effects  {"sends": [{"to": 1, "message": M}, ...],     (sorted by "to")
#               "vote": {"term": 2, "candidate": 0},        (null: no vote cast)
#               "elected": 2,                               (null: not elected in this step)
#               "reset_election_timer": true,
#               "faults": [{"sender": 7, "kind": "unknown_sender"}]}
#
# Handlers: ``timeout``, ``restart``, ``receive``. A received message's fields are decoded
# leniently (any JSON value; arrays become tuples): a malformed message is the server's to
# refuse, with a typed :class:`impl.FaultKind`, not the decoder's. Its ``type`` must be one of
# the two message types, though: anything else is no Raft message at all.


def _loose_to_json(value: Any) -> JSON:
    """A value of a (possibly malformed) received message as JSON: tuples as arrays."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return plain_to_json(value)


def message_to_json(message: impl.Message) -> JSON:
    if isinstance(message, impl.RequestVote):
        return {
            "type": "request_vote",
            "term": _loose_to_json(message.term),
            "candidate": _loose_to_json(message.candidate),
            "last_log_term": _loose_to_json(message.last_log_term),
            "last_log_index": _loose_to_json(message.last_log_index),
        }
    return {
        "type": "request_vote_response",
        "term": _loose_to_json(message.term),
        "voter": _loose_to_json(message.voter),
        "candidate": _loose_to_json(message.candidate),
        "granted": _loose_to_json(message.granted),
    }


_MESSAGE_FIELDS: dict[str, tuple[type, tuple[str, ...]]] = {
    "request_vote": (impl.RequestVote, ("term", "candidate", "last_log_term", "last_log_index")),
    "request_vote_response": (impl.RequestVoteResponse, ("term", "voter", "candidate", "granted")),
}


def message_from_json(doc: JSON, path: str) -> impl.Message:
    if not isinstance(doc, dict):
        raise DecodeError(path, "expected an object with a field 'type'")
    kind = doc.get("type")
    if kind not in _MESSAGE_FIELDS:
        known = ", ".join(sorted(_MESSAGE_FIELDS))
        raise DecodeError(f"{path}.type", f"unknown message type {kind!r} (known: {known})")
    cls, fields = _MESSAGE_FIELDS[kind]
    expect_object(doc, path, ["type", *fields])
    # lenient on purpose: the server, not the decoder, refuses a malformed message
    return cls(*(plain_from_json(doc[f]) for f in fields))


_NAT: dict[str, Any] = {"type": "integer", "minimum": 0}
_TERM: dict[str, Any] = {"type": "integer", "minimum": 1}


def _message_schema(kind: str, strict: bool) -> dict[str, Any]:
    """A message's schema: any field values when received (``strict`` false), else as sent."""
    _, fields = _MESSAGE_FIELDS[kind]
    honest: dict[str, Any] = {
        "term": _TERM,
        "candidate": _NAT,
        "voter": _NAT,
        "last_log_term": _NAT,
        "last_log_index": _NAT,
        "granted": {"type": "boolean"},
    }
    return object_schema(
        {"type": {"const": kind}, **{f: honest[f] if strict else {} for f in fields}}
    )


@attrs.frozen
class RaftElectionCodec:
    """Encoding of a Raft server (election only), its events and its effects.

    ``ops`` are the server's operations (:data:`impl.STANDARD_OPS`); an adapter that wants a
    deliberately broken server swaps them with ``attrs.evolve``.
    """

    protocol: str = "raft-election"
    ops: impl.ElectionOps = impl.STANDARD_OPS

    def schemas(self) -> dict[str, Any]:
        """The state, event and effects schemas (see :mod:`.schemas`)."""
        state = object_schema(
            {
                "server": _NAT,
                "servers": {"type": "integer", "minimum": 1},
                "last_log_term": _NAT,
                "last_log_index": _NAT,
                "current_term": _NAT,
                "voted_for": {"anyOf": [{"type": "null"}, _NAT]},
                "role": {"enum": enum_values(impl.Role)},
                "votes_granted": {"type": "array", "items": _NAT, "uniqueItems": True},
            }
        )
        received = {"oneOf": [_message_schema(k, strict=False) for k in _MESSAGE_FIELDS]}
        event = {
            "oneOf": [
                object_schema({"type": {"const": "timeout"}}),
                object_schema({"type": {"const": "restart"}}),
                object_schema({"type": {"const": "receive"}, "message": received}),
            ]
        }
        sent = {"oneOf": [_message_schema(k, strict=True) for k in _MESSAGE_FIELDS]}
        effects = object_schema(
            {
                "sends": {"type": "array", "items": object_schema({"to": _NAT, "message": sent})},
                "vote": {
                    "anyOf": [{"type": "null"}, object_schema({"term": _TERM, "candidate": _NAT})]
                },
                "elected": {"anyOf": [{"type": "null"}, _TERM]},
                "reset_election_timer": {"type": "boolean"},
                "faults": {
                    "type": "array",
                    "items": object_schema(
                        {"sender": {}, "kind": {"enum": enum_values(impl.FaultKind)}}
                    ),
                },
            }
        )
        return {"state": state, "event": event, "effects": effects}

    # states
    def encode_state(self, node: impl.ServerState) -> JSON:
        return {
            "server": node.server,
            "servers": node.n,
            "last_log_term": node.last_log_term,
            "last_log_index": node.last_log_index,
            "current_term": node.current_term,
            "voted_for": node.voted_for,
            "role": node.role.value,
            "votes_granted": list(node.votes_granted),
        }

    def decode_state(self, doc: JSON, path: str = "$") -> impl.ServerState:
        fields = [
            "server",
            "servers",
            "last_log_term",
            "last_log_index",
            "current_term",
            "voted_for",
            "role",
            "votes_granted",
        ]
        expect_object(doc, path, fields)
        n = expect_int(doc["servers"], f"{path}.servers", minimum=1)
        server = expect_int(doc["server"], f"{path}.server", minimum=0)
        if server >= n:
            raise DecodeError(f"{path}.server", f"server {server} out of range for {n}")
        log_term = expect_int(doc["last_log_term"], f"{path}.last_log_term", minimum=0)
        log_index = expect_int(doc["last_log_index"], f"{path}.last_log_index", minimum=0)
        if (log_term == 0) != (log_index == 0):
            raise DecodeError(
                f"{path}.last_log_index",
                f"({log_term}, {log_index}) is no log's last position: only an empty log, "
                "(0, 0), has a 0",
            )
        term = expect_int(doc["current_term"], f"{path}.current_term", minimum=log_term)
        voted_for = doc["voted_for"]
        if voted_for is not None:
            expect_int(voted_for, f"{path}.voted_for", minimum=0)
            if voted_for >= n:
                raise DecodeError(f"{path}.voted_for", f"no server {voted_for} among {n}")
        role = doc["role"]
        if role not in enum_values(impl.Role):
            known = ", ".join(enum_values(impl.Role))
            raise DecodeError(f"{path}.role", f"unknown role {role!r} (known: {known})")
        votes = expect_array(doc["votes_granted"], f"{path}.votes_granted")
        for k, voter in enumerate(votes):
            expect_int(voter, f"{path}.votes_granted[{k}]", minimum=0)
            if voter >= n:
                raise DecodeError(f"{path}.votes_granted[{k}]", f"no server {voter} among {n}")
            if k and voter <= votes[k - 1]:
                raise DecodeError(
                    f"{path}.votes_granted", "expected distinct servers in increasing order"
                )
        return impl.ServerState(
            server, n, log_term, log_index, term, voted_for, impl.Role(role), tuple(votes)
        )

    # events
    def encode_event(self, event: impl.Event) -> JSON:
        if isinstance(event, impl.ElectionTimeout):
            return {"type": "timeout"}
        if isinstance(event, impl.Restart):
            return {"type": "restart"}
        return {"type": "receive", "message": message_to_json(event.message)}

    def decode_event(self, doc: JSON, path: str = "$") -> impl.Event:
        if not isinstance(doc, dict):
            raise DecodeError(path, "expected an object with a field 'type'")
        kind = doc.get("type")
        if kind == "timeout":
            expect_object(doc, path, ["type"])
            return impl.ElectionTimeout()
        if kind == "restart":
            expect_object(doc, path, ["type"])
            return impl.Restart()
        if kind == "receive":
            expect_object(doc, path, ["type", "message"])
            return impl.Receive(message_from_json(doc["message"], f"{path}.message"))
        raise DecodeError(
            f"{path}.type", f"unknown event type {kind!r} (known: receive, restart, timeout)"
        )

    # effects
    def encode_effects(self, effects: impl.Effects) -> JSON:
        vote = effects.vote
        return {
            "sends": [
                {"to": to, "message": message_to_json(message)}
                for to, message in sorted(effects.sends, key=lambda sent: sent[0])
            ],
            "vote": None if vote is None else {"term": vote.term, "candidate": vote.candidate},
            "elected": effects.elected,
            "reset_election_timer": effects.reset_election_timer,
            "faults": [
                {"sender": _loose_to_json(f.sender), "kind": f.kind.value} for f in effects.faults
            ],
        }

    def handler(self, event: impl.Event) -> str:
        return {impl.ElectionTimeout: "timeout", impl.Restart: "restart", impl.Receive: "receive"}[
            type(event)
        ]

    def step(
        self, node: impl.ServerState, event: impl.Event
    ) -> tuple[impl.ServerState, impl.Effects]:
        return impl.step(node, event, self.ops)


CODEC = RaftElectionCodec()


def node_event(action: ModelAction) -> tuple[int, impl.Event]:
    """The server a model action steps and the impl event it hands it (for the oracle)."""
    return action.server, impl_event(action)


def _is_nat(value: Any) -> bool:
    return type(value) is int and value >= 0


def refusal(state: impl.ServerState, message: impl.Message) -> impl.FaultKind | None:
    """Why ``state``'s server must refuse ``message``, or None if it must handle it.

    Every message in the spec's pool was sent by a server of the configuration, in a term an
    election began (>= 1): a request by a candidate whose log ends at a real position (``(0,
    0)`` or two naturals >= 1) with a last term below the campaign's, a response with a boolean
    grant to the candidate that asked -- and a granted vote is of a term the candidate has
    reached, since it asked in its own. A message failing one of these can be no spec receipt;
    the checks run in the order the impl documents and the first that fails names the fault.
    (Written here apart from the impl's ``validate``, so that the trace checker does not take
    the implementation's word for it.)
    """
    me, n = state.server, state.n
    if isinstance(message, impl.RequestVote):
        sender = message.candidate
    else:
        sender = message.voter
    if not (_is_nat(sender) and sender < n and sender != me):
        return impl.FaultKind.UNKNOWN_SENDER
    if isinstance(message, impl.RequestVoteResponse) and message.candidate != me:
        return impl.FaultKind.MISADDRESSED
    if not (_is_nat(message.term) and message.term >= 1):
        return impl.FaultKind.MALFORMED_TERM
    if isinstance(message, impl.RequestVote):
        log_term, log_index = message.last_log_term, message.last_log_index
        if not (_is_nat(log_term) and _is_nat(log_index)) or (log_term == 0) != (log_index == 0):
            return impl.FaultKind.MALFORMED_LOG_POSITION
        if log_term >= message.term:
            return impl.FaultKind.LOG_AHEAD_OF_TERM
        return None
    if type(message.granted) is not bool:
        return impl.FaultKind.MALFORMED_GRANT
    if message.granted and message.term > state.current_term:
        return impl.FaultKind.GRANT_FROM_FUTURE
    return None


def _strictly_equal(a: JSON, b: JSON) -> bool:
    """JSON equality that tells ``1`` from ``true`` and from ``1.0`` (unlike Python's ``==``)."""
    if type(a) is not type(b):
        return False
    if type(a) is list:
        return len(a) == len(b) and all(_strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return a.keys() == b.keys() and all(_strictly_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _spec_message_to_json(message: spec.Message) -> JSON:
    if isinstance(message, spec.RequestVote):
        sent: impl.Message = impl.RequestVote(
            message.term, message.candidate, message.last_log_term, message.last_log_index
        )
    else:
        sent = impl.RequestVoteResponse(
            message.term, message.voter, message.candidate, message.granted
        )
    return message_to_json(sent)


def expected_effects(
    before: spec.ElectionState,
    after: spec.ElectionState,
    i: int,
    actions: tuple[spec.Action, ...],
) -> dict[str, Any]:
    """The effects document of server i's step from ``before`` to ``after`` by ``actions``.

    Sends are the messages the steps added to the pool (a request goes to every server but its
    candidate, a response to its candidate); the vote is the one server i cast; ``elected`` the
    term it won; the election timer is reset when an election starts, a vote is granted, or the
    server restarts (Figure 2, Followers and Candidates).
    """
    n = len(before.servers)
    sends = []
    for message in after.messages:
        if message in before.messages:
            continue
        if isinstance(message, spec.RequestVote):
            destinations: tuple[int, ...] = tuple(j for j in range(n) if j != message.candidate)
        else:
            destinations = (message.candidate,)
        sends.extend({"to": j, "message": _spec_message_to_json(message)} for j in destinations)
    sends.sort(key=lambda sent: sent["to"])
    votes = [v for v in after.votes if v not in before.votes and v.voter == i]
    elections = [e for e in after.elections if e not in before.elections and e.leader == i]
    restarted = any(isinstance(a, spec.Restart) for a in actions)
    return {
        "sends": sends,
        "vote": {"term": votes[0].term, "candidate": votes[0].candidate} if votes else None,
        "elected": elections[0].term if elections else None,
        "reset_election_timer": bool(votes) or restarted,
        "faults": [],
    }


def _show_node(server: spec.Server) -> str:
    return (
        f"term {server.current_term}, voted_for {server.voted_for}, {server.role.value}, "
        f"votes_granted {list(server.votes_granted)}"
    )


def step_checker(codec: RaftElectionCodec = CODEC) -> Any:
    """Trace validation of one server step against the spec (see :mod:`.validate`).

    Checked for each step, against :mod:`spec.raft_election`'s rules: the server's identity and
    log (``server``, ``servers``, ``last_log_term``, ``last_log_index``) never change and match
    its place in the trace (``identity``); a message that cannot be in the spec's pool (see
    :func:`refusal`) leaves the state unchanged (``faults_change_nothing``) and is reported as one
    fault of the right kind (``typed_fault``); any other step ends where a prefix of the spec
    steps it stands for ends (a stutter, or ``Timeout`` then ``BecomeLeader``; ``Restart``;
    ``UpdateTerm``, the handler, then ``BecomeLeader``), with the effects of that prefix when the
    step records them (``refinement``; see :func:`expected_effects`).

    The spec steps are taken on a spec state built from every server's state before the step,
    with the received message in the pool. Streaming: the check reads the servers' states before
    the step and nothing else. What a single step cannot show is left to the model checker: that
    a received message was really sent (a request may even claim another log than its
    candidate's), and the ghost-based invariants (one vote per term, one leader per term), which
    need the whole history.
    """
    from .validate import StepChecker

    rules = spec.SPEC_RULES

    def check(
        nodes: tuple[impl.ServerState, ...],
        i: int,
        event: impl.Event,
        post: impl.ServerState,
        effects: Any,
    ) -> tuple[str, str, str] | None:
        pre, n = nodes[i], len(nodes)
        if (pre.server, pre.n) != (i, n):
            return (
                "identity",
                f"server {i} of {n} (node {i} of the trace)",
                f"the state before the step is server {pre.server} of {pre.n}",
            )
        fixed = (pre.server, pre.n, pre.last_log_term, pre.last_log_index)
        if (post.server, post.n, post.last_log_term, post.last_log_index) != fixed:
            return (
                "identity",
                f"server {i} of {n}, last log ({pre.last_log_term}, {pre.last_log_index})",
                f"server {post.server} of {post.n}, last log "
                f"({post.last_log_term}, {post.last_log_index})",
            )
        if isinstance(event, impl.Receive):
            kind = refusal(pre, event.message)
            if kind is not None:
                if post != pre:
                    return (
                        "faults_change_nothing",
                        f"state unchanged: the message is refused ({kind.value})",
                        _show_node(abstract_server(post)),
                    )
                if effects is None:
                    return None
                sender = (
                    event.message.candidate
                    if isinstance(event.message, impl.RequestVote)
                    else event.message.voter
                )
                refused = {
                    "sends": [],
                    "vote": None,
                    "elected": None,
                    "reset_election_timer": False,
                    "faults": [{"sender": _loose_to_json(sender), "kind": kind.value}],
                }
                if _strictly_equal(effects, refused):
                    return None
                return (
                    "typed_fault",
                    f"the message refused: {dumps_line(refused)}",
                    dumps_line(effects),
                )
        before = spec.ElectionState(
            logs=logs_of(nodes),
            servers=tuple(abstract_server(node) for node in nodes),
            messages=(abstract_message(event.message),) if isinstance(event, impl.Receive) else (),
            votes=(),
            elections=(),
        )
        if isinstance(event, impl.ElectionTimeout):
            chain = spec.timeout_actions(rules, before, i)
        elif isinstance(event, impl.Restart):
            chain = ((spec.Restart(i), spec.next_state(rules, before, spec.Restart(i))),)
        else:
            chain = spec.receive_actions(rules, before, i, abstract_message(event.message))
        # every prefix of the chain: the empty one (a stutter) first
        prefixes = [((), before)] + [
            (tuple(a for a, _ in chain[: k + 1]), chain[k][1]) for k in range(len(chain))
        ]
        reached = abstract_server(post)
        matching = [(acts, s) for acts, s in prefixes if s.servers[i] == reached]
        if not matching:
            names = ", then ".join(type(a).__name__ for a, _ in chain) or "a stutter"
            allowed = "; or ".join(_show_node(s.servers[i]) for _, s in prefixes)
            return ("refinement", f"after {names}: {allowed}", _show_node(reached))
        if effects is None:
            return None
        wanted = [expected_effects(before, s, i, acts) for acts, s in matching]
        if any(_strictly_equal(effects, want) for want in wanted):
            return None
        if effects.get("faults"):
            return (
                "typed_fault",
                "no fault: the event is one the spec allows",
                dumps_line(effects),
            )
        return ("refinement", f"effects {dumps_line(wanted[-1])}", dumps_line(effects))

    return StepChecker(codec=codec, initial_node=impl.new, check=check)


ORACLE = OracleBinding(
    codec=CODEC,
    # vectors from "three" (three servers: split votes, step-downs, restarts), then "tiny"
    configs=("three", "tiny"),
    node_event=node_event,
    nodes=lambda state: state.nodes,
    initial_node=impl.new,
    step_checker=step_checker(CODEC),
)
