"""A sans-IO Avalanche node: ``step(node, event) -> (node, effects)``.

Refines :mod:`mnemosyne_consensus.spec.avalanche` (Team Rocket 2019/2020, §4, Figures 4 and 5).
The node keeps the DAG of the transactions it knows, one conflict set per nullifier (``pref``,
``last``, ``cnt``), the set ``Q`` of queried transactions, its chits, each known transaction's
confidence ``d(T)`` (kept incrementally: a successful query of T adds one to every ancestor's
``d``, which is the progeny sum of §4 maintained in place) and its decisions.

Events
    ``ReceiveTx(tx)``        -- a transaction arrives (gossip, or issued by a client): Fig. 4
                                ``onReceiveTx``;
    ``PeerQuery(sender, tx)`` -- a peer queries the node about tx: Fig. 5 ``onQuery``: receive
                                it, then answer ``isStronglyPreferred(tx)``;
    ``PollResult(tx, answers)`` -- the answers of the sample the node queried about tx, as
                                ``(responder, vote)`` pairs: one iteration of Fig. 4's loop, then
                                every transaction ``isAccepted`` now allows is accepted.
    Which transaction to query, and whom, are the caller's inputs (:func:`unqueried` lists the
    candidates); the node holds no clock and draws no random number.

Effects (one frozen record)
    ``responses`` -- ``(peer, tx, vote)`` answers to send;
    ``accepted``  -- transactions accepted by this step, in the order they were accepted;
    ``faults``    -- the input was malformed or impossible: the state is unchanged.

Wire transaction ``TxMessage(id, nullifier, parents)``: ``id`` a natural, ``nullifier`` the
natural it spends (``None``: it spends nothing), ``parents`` a sorted tuple of distinct ids.
Receiving a transaction already known with the same content is a no-op, not a fault.

Exceptions are kept for local misuse (an unknown event type); a peer's bad input is a
:class:`Fault` value and changes nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs

# -- Faults --------------------------------------------------------------------------------------


class FaultKind(enum.Enum):
    """Why an input was rejected. The node's state is left unchanged."""

    #: a transaction's id or parents are not naturals (parents sorted and distinct)
    MALFORMED_TRANSACTION = "malformed_transaction"
    #: a transaction spends nothing (no nullifier): it cannot be in any conflict set
    SPENDS_NOTHING = "spends_nothing"
    #: a known id arrives with a different nullifier or parents
    ID_REUSED = "id_reused"
    #: a transaction names a parent the node does not know (a vertex joins with its ancestry)
    UNKNOWN_PARENT = "unknown_parent"
    #: a transaction's ancestry (itself included) spends one nullifier twice
    CONFLICTING_ANCESTRY = "conflicting_ancestry"
    #: a peer query comes from a sender that is not a peer of this node
    UNKNOWN_SENDER = "unknown_sender"
    #: a query response is not k (responder, boolean vote) pairs
    MALFORMED_RESPONSE = "malformed_response"
    #: a responder of a query response is not a peer (out of range, or the node itself)
    UNKNOWN_RESPONDER = "unknown_responder"
    #: a responder answers twice in one query response
    DUPLICATE_RESPONDER = "duplicate_responder"
    #: a query response is about a transaction the node does not know
    UNKNOWN_TRANSACTION = "unknown_transaction"
    #: a query response is about a transaction already queried (each is queried once)
    ALREADY_QUERIED = "already_queried"


@attrs.frozen
class Fault:
    sender: Any  # the peer or responder to blame, if one; else None
    kind: FaultKind
    detail: str


# -- Messages, events, effects, state ------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class TxMessage:
    """A transaction on the wire. Fields are typed ``Any``: a peer may put anything in them."""

    id: Any
    nullifier: Any
    parents: Any


@attrs.frozen
class ReceiveTx:
    tx: TxMessage


@attrs.frozen
class PeerQuery:
    sender: Any
    tx: TxMessage


@attrs.frozen
class PollResult:
    tx: Any
    answers: Any  # tuple of (responder, vote)


Event = ReceiveTx | PeerQuery | PollResult


@attrs.frozen
class Effects:
    responses: tuple[tuple[int, int, bool], ...] = ()
    accepted: tuple[int, ...] = ()
    faults: tuple[Fault, ...] = ()


@attrs.frozen
class Params:
    """Sample size ``k``, quorum ``alpha``, early-commitment and counter thresholds."""

    k: int
    alpha: int
    beta1: int
    beta2: int


@attrs.frozen(cache_hash=True)
class Tx:
    """A known transaction."""

    id: int
    nullifier: int
    parents: tuple[int, ...]


@attrs.frozen(cache_hash=True)
class ConflictRecord:
    """``P_T`` for one nullifier: members in arrival order, ``pref``, ``last``, ``cnt``."""

    nullifier: int
    members: tuple[int, ...]
    pref: int
    last: int
    cnt: int


@attrs.frozen(cache_hash=True)
class NodeState:
    # identity and parameters
    node: int
    n: int
    params: Params
    # the DAG: known transactions sorted by id, and d(T) for each, in the same order
    known: tuple[Tx, ...]
    confidence: tuple[int, ...]
    # conflict sets, sorted by nullifier
    conflicts: tuple[ConflictRecord, ...]
    # queries: Q and the chits (sorted ids)
    queried: tuple[int, ...]
    chits: tuple[int, ...]
    # decisions (sorted ids)
    accepted: tuple[int, ...]


def new(node: int, n: int, params: Params) -> NodeState:
    if not 0 <= node < n:
        raise ValueError(f"node id {node} out of range for {n} nodes")
    if not 0 < params.alpha <= params.k < n:
        raise ValueError(f"need 0 < alpha <= k < n, got {params} with n = {n}")
    if params.beta1 < 1 or params.beta2 < 1:
        raise ValueError(f"thresholds must be at least 1, got {params}")
    return NodeState(node, n, params, (), (), (), (), (), ())


# -- Reading the state ---------------------------------------------------------------------------


def index_of(state: NodeState, tx: int) -> int | None:
    """The position of ``tx`` in ``state.known`` (binary search: ``known`` is sorted)."""
    known = state.known
    lo, hi = 0, len(known)
    while lo < hi:
        mid = (lo + hi) // 2
        if known[mid].id < tx:
            lo = mid + 1
        else:
            hi = mid
    if lo < len(known) and known[lo].id == tx:
        return lo
    return None


def known_tx(state: NodeState, tx: int) -> Tx:
    """The known transaction ``tx`` (a caller that names an unknown one has a bug)."""
    at = index_of(state, tx)
    if at is None:
        raise KeyError(f"node {state.node} does not know transaction {tx}")
    return state.known[at]


def record_of(state: NodeState, nullifier: int) -> ConflictRecord | None:
    for record in state.conflicts:
        if record.nullifier == nullifier:
            return record
    return None


def ancestors(state: NodeState, tx: int) -> list[int]:
    """``T' <-* T``: tx and everything it builds on (tx must be known)."""
    known = state.known
    seen = {tx}
    order = [tx]
    stack = [tx]
    while stack:
        at = index_of(state, stack.pop())
        if at is None:
            continue
        for p in known[at].parents:
            if p not in seen:
                seen.add(p)
                order.append(p)
                stack.append(p)
    return order


def is_preferred(state: NodeState, tx: int) -> bool:
    at = index_of(state, tx)
    if at is None:
        return False
    record = record_of(state, state.known[at].nullifier)
    return record is not None and record.pref == tx


def is_strongly_preferred(state: NodeState, tx: int) -> bool:
    """Fig. 5: every ``T' <-* T`` is the preference of its conflict set."""
    return all(is_preferred(state, a) for a in ancestors(state, tx))


def unqueried(state: NodeState) -> tuple[int, ...]:
    """Fig. 4 ``find T that satisfies T ∈ 𝒯 ∧ T ∉ Q``: the candidates, in id order."""
    queried = set(state.queried)
    return tuple(t.id for t in state.known if t.id not in queried)


# -- Transitions ---------------------------------------------------------------------------------


def step(state: NodeState, event: Event, ops: NodeOps | None = None) -> tuple[NodeState, Effects]:
    """The node's whole behaviour: one event in, the new state and its effects out."""
    ops = ops or STANDARD_OPS
    if isinstance(event, ReceiveTx):
        return on_receive(state, event.tx, ops)
    if isinstance(event, PeerQuery):
        return on_query(state, event, ops)
    if isinstance(event, PollResult):
        return on_poll(state, event, ops)
    raise TypeError(f"node {state.node} cannot handle event {event!r}")


def on_receive(state: NodeState, message: TxMessage, ops: NodeOps) -> tuple[NodeState, Effects]:
    problem = ops.validate_tx(state, message)
    if problem is not None:
        kind, detail = problem
        return state, Effects(faults=(Fault(None, kind, detail),))
    return ops.receive(state, message), Effects()


def on_query(state: NodeState, event: PeerQuery, ops: NodeOps) -> tuple[NodeState, Effects]:
    sender = event.sender
    # Verify the sender is a peer
    if not (is_nat(sender) and sender < state.n and sender != state.node):
        fault = Fault(sender, FaultKind.UNKNOWN_SENDER, f"node {state.node} has no peer {sender!r}")
        return state, Effects(faults=(fault,))
    # "onReceiveTx(T)"
    problem = ops.validate_tx(state, event.tx)
    if problem is not None:
        kind, detail = problem
        return state, Effects(faults=(Fault(sender, kind, detail),))
    state = ops.receive(state, event.tx)
    # "respond(j, isStronglyPreferred(T))"
    vote = ops.answer(state, event.tx.id)
    return state, Effects(responses=((sender, event.tx.id, vote),))


def on_poll(state: NodeState, event: PollResult, ops: NodeOps) -> tuple[NodeState, Effects]:
    problem = ops.validate_poll(state, event)
    if problem is not None:
        blame, kind, detail = problem
        return state, Effects(faults=(Fault(blame, kind, detail),))
    votes = tuple(vote for _, vote in event.answers)
    state = ops.query(state, ops, event.tx, votes)
    state, accepted = ops.decide(state, ops)
    return state, Effects(accepted=accepted)


# -- Validation ----------------------------------------------------------------------------------


def validate_tx(state: NodeState, message: TxMessage) -> tuple[FaultKind, str] | None:
    """None if ``message`` may be received, else the fault kind and a one-line reason."""
    tx_id, nullifier, parents = message.id, message.nullifier, message.parents
    # Verify the id and the parents are naturals, the parents sorted and distinct
    if not is_nat(tx_id):
        return FaultKind.MALFORMED_TRANSACTION, f"id {tx_id!r} is not a natural"
    if not (isinstance(parents, tuple) and all(is_nat(p) for p in parents)):
        return FaultKind.MALFORMED_TRANSACTION, f"parents {parents!r} are not naturals"
    if list(parents) != sorted(set(parents)):
        return FaultKind.MALFORMED_TRANSACTION, f"parents {parents!r} not sorted and distinct"
    # Verify it spends something
    if nullifier is None:
        return FaultKind.SPENDS_NOTHING, f"transaction {tx_id} spends no nullifier"
    if not is_nat(nullifier):
        return FaultKind.MALFORMED_TRANSACTION, f"nullifier {nullifier!r} is not a natural"
    # Verify a known id comes with the same content (a repeat is a no-op, not a fault)
    at = index_of(state, tx_id)
    if at is not None:
        if state.known[at] != Tx(tx_id, nullifier, parents):
            return FaultKind.ID_REUSED, f"transaction {tx_id} is known with other content"
        return None
    # Verify every parent is known
    for p in parents:
        if index_of(state, p) is None:
            return FaultKind.UNKNOWN_PARENT, f"transaction {tx_id} names unknown parent {p}"
    # Verify the ancestry spends every nullifier once
    spent = [nullifier]
    seen: set[int] = set()
    for p in parents:
        for a in ancestors(state, p):
            if a not in seen:
                seen.add(a)
                spent.append(known_tx(state, a).nullifier)
    if len(set(spent)) != len(spent):
        return (
            FaultKind.CONFLICTING_ANCESTRY,
            f"transaction {tx_id} and its ancestors spend a nullifier twice",
        )
    return None


def validate_poll(state: NodeState, event: PollResult) -> tuple[Any, FaultKind, str] | None:
    """None if the response may be counted, else (who to blame, fault kind, reason)."""
    answers, k = event.answers, state.params.k
    # Verify the response is k (responder, boolean vote) pairs
    if not (isinstance(answers, tuple) and len(answers) == k):
        return None, FaultKind.MALFORMED_RESPONSE, f"expected {k} answers, got {answers!r}"
    for answer in answers:
        if not (isinstance(answer, tuple) and len(answer) == 2 and type(answer[1]) is bool):
            return None, FaultKind.MALFORMED_RESPONSE, f"answer {answer!r} is not (peer, bool)"
    # Verify every responder is a peer, answering once
    seen: set[int] = set()
    for responder, _ in answers:
        if not (is_nat(responder) and responder < state.n and responder != state.node):
            return responder, FaultKind.UNKNOWN_RESPONDER, f"{responder!r} is not a peer"
        if responder in seen:
            return responder, FaultKind.DUPLICATE_RESPONDER, f"{responder} answered twice"
        seen.add(responder)
    # Verify the query is of a known transaction, not queried before
    tx = event.tx
    if not is_nat(tx) or index_of(state, tx) is None:
        return None, FaultKind.UNKNOWN_TRANSACTION, f"transaction {tx!r} is not known"
    if tx in state.queried:
        return None, FaultKind.ALREADY_QUERIED, f"transaction {tx} was queried already"
    return None


# -- The rules (Fig. 4 and 5) --------------------------------------------------------------------


def receive(state: NodeState, message: TxMessage) -> NodeState:
    """Fig. 4 ``onReceiveTx(T)`` for a validated message (a repeat changes nothing)."""
    if index_of(state, message.id) is not None:
        return state
    tx = Tx(message.id, message.nullifier, message.parents)
    at = 0
    while at < len(state.known) and state.known[at].id < tx.id:
        at += 1
    known = (*state.known[:at], tx, *state.known[at:])
    confidence = (*state.confidence[:at], 0, *state.confidence[at:])  # c_uT := 0
    record = record_of(state, tx.nullifier)
    if record is None:
        fresh = ConflictRecord(tx.nullifier, (tx.id,), tx.id, tx.id, 0)
        conflicts = tuple(sorted((*state.conflicts, fresh), key=lambda r: r.nullifier))
    else:
        grown = attrs.evolve(record, members=(*record.members, tx.id))
        conflicts = tuple(grown if r is record else r for r in state.conflicts)
    return attrs.evolve(state, known=known, confidence=confidence, conflicts=conflicts)


def query(state: NodeState, ops: NodeOps, tx: int, votes: tuple[bool, ...]) -> NodeState:
    """Fig. 4, one iteration of ``avalancheLoop`` on a validated response."""
    lineage = ancestors(state, tx)
    by_nullifier: dict[int, int] = {}
    for a in lineage:
        by_nullifier[known_tx(state, a).nullifier] = a
    marked = tuple(sorted({*state.queried, tx}))  # "Q := Q ∪ {T}"
    if ops.tally(votes) >= state.params.alpha:  # "if P >= alpha"
        queried = marked if ops.mark_queried(True) else state.queried
        # "c_uT := 1", and d(T') += 1 for every T' <-* T (T is in each one's progeny)
        raised = set(lineage) if ops.progeny_confidence else {tx}
        confidence = tuple(
            d + 1 if t.id in raised else d
            for t, d in zip(state.known, state.confidence, strict=True)
        )
        chits = tuple(sorted({*state.chits, tx}))
        d = {t.id: c for t, c in zip(state.known, confidence, strict=True)}
        conflicts = []
        for record in state.conflicts:
            a = by_nullifier.get(record.nullifier)
            if a is None:
                conflicts.append(record)
                continue
            pref = record.pref
            # "if d(T') > d(P_T'.pref) then P_T'.pref := T'"
            if ops.switch(d[a], d[pref]):
                pref = tx if ops.pref_to_queried else a
            # "if T' != P_T'.last then P_T'.last := T', P_T'.cnt := 1 else ++P_T'.cnt"
            last, cnt = (a, 1) if a != record.last else (a, record.cnt + 1)
            conflicts.append(attrs.evolve(record, pref=pref, last=last, cnt=cnt))
        return attrs.evolve(
            state, confidence=confidence, chits=chits, conflicts=tuple(conflicts), queried=queried
        )
    queried = marked if ops.mark_queried(False) else state.queried
    # the else branch: "P_T'.cnt := 0" for every T' <-* T (c_uT stays 0)
    if not ops.reset_on_failure:
        return attrs.evolve(state, queried=queried)
    conflicts = tuple(
        attrs.evolve(r, cnt=0) if r.nullifier in by_nullifier and r.cnt else r
        for r in state.conflicts
    )
    return attrs.evolve(state, conflicts=conflicts, queried=queried)


def is_accepted(state: NodeState, ops: NodeOps, at: int) -> bool:
    """Fig. 5 ``isAccepted``: safe early commitment or the consecutive counter."""
    t = state.known[at]
    record = record_of(state, t.nullifier)
    if record is None:
        return False
    # the consecutive counter: "P_T.cnt >= beta2", for T = P_T.last
    if record.last == t.id and record.cnt >= state.params.beta2:
        return True
    # safe early commitment: parents accepted, "|P_T| = 1", "d(T) >= beta1"
    accepted = set(state.accepted)
    return (
        all(p in accepted for p in t.parents)
        and (len(record.members) == 1 or not ops.early_needs_single)
        and state.confidence[at] >= state.params.beta1
    )


def decide(state: NodeState, ops: NodeOps) -> tuple[NodeState, tuple[int, ...]]:
    """Accepts, to a fixpoint in id order, every T with ``isAccepted(T)`` whose conflict set has
    no accepted member yet (decisions are final and exclusive)."""
    accepted = set(state.accepted)
    if not ops.latch:
        # a bug: acceptance recomputed from scratch, as if it were a current predicate
        accepted = set()
        state = attrs.evolve(state, accepted=())
    decided = {r.nullifier for r in state.conflicts if any(m in accepted for m in r.members)}
    newly: list[int] = []
    changed = True
    while changed:
        changed = False
        for at, t in enumerate(state.known):
            if t.id in accepted:
                continue
            if ops.exclusive and t.nullifier in decided:
                continue
            if is_accepted(state, ops, at):
                accepted.add(t.id)
                decided.add(t.nullifier)
                newly.append(t.id)
                state = attrs.evolve(state, accepted=tuple(sorted(accepted)))
                changed = True
    return state, tuple(newly)


# -- What a node computes with -------------------------------------------------------------------


@attrs.frozen
class NodeOps:
    """What a node computes with. The model swaps deliberate bugs (mutants) in here."""

    validate_tx: Callable[[NodeState, TxMessage], tuple[FaultKind, str] | None]
    validate_poll: Callable[[NodeState, PollResult], tuple[Any, FaultKind, str] | None]
    receive: Callable[[NodeState, TxMessage], NodeState]
    answer: Callable[[NodeState, int], bool]
    query: Callable[[NodeState, NodeOps, int, tuple[bool, ...]], NodeState]
    decide: Callable[[NodeState, NodeOps], tuple[NodeState, tuple[int, ...]]]
    tally: Callable[[tuple[bool, ...]], int]  # the number of yes answers
    switch: Callable[[int, int], bool]  # "d(T') > d(P_T'.pref)"
    mark_queried: Callable[[bool], bool]  # "Q := Q ∪ {T}" after a success (True) / failure
    reset_on_failure: bool = True
    progeny_confidence: bool = True
    pref_to_queried: bool = False
    early_needs_single: bool = True
    exclusive: bool = True
    latch: bool = True


def _count_yes(votes: tuple[bool, ...]) -> int:
    return sum(1 for v in votes if v is True)


def _greater(d_new: int, d_pref: int) -> bool:
    return d_new > d_pref


def _always(success: bool) -> bool:
    return True


STANDARD_OPS = NodeOps(
    validate_tx=validate_tx,
    validate_poll=validate_poll,
    receive=receive,
    answer=is_strongly_preferred,
    query=query,
    decide=decide,
    tally=_count_yes,
    switch=_greater,
    mark_queried=_always,
)


def is_nat(value: Any) -> bool:
    """A natural number (bool is not one, though Python thinks it is an int)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
