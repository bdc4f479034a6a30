"""Avalanche: the DAG of transactions, chits, confidence and acceptance, at one node.

Source
    Team Rocket (M. Yin, K. Sekniqi, R. van Renesse, E. G. Sirer), "Scalable and Probabilistic
    Leaderless BFT Consensus through Metastability", arXiv:1906.08936 (2019, revised 2020),
    §4 (Avalanche), Figure 4 ("Avalanche: the main loop") and Figure 5 ("Avalanche: voting and
    decision primitives"). The pseudo-code statements are quoted next to each rule below (the
    figures are short; the statement is a sturdier reference than a line number).

Vocabulary (§4)
    transaction ``T``   spends a nullifier (Mnemosyne's name for the UTXO of the paper) and
                        names its parents ``T' <- T``; ``T' <-* T`` is the reflexive-transitive
                        closure ("T' is an ancestor of T, or T itself").
    conflict set ``P_T`` the known transactions spending T's nullifier, with ``P_T.pref``
                        (the preferred member), ``P_T.last`` and ``P_T.cnt`` (the member that
                        last had a successful query, and for how many queries in a row).
                        Mnemosyne's nullifier registration *is* a conflict set per nullifier: at
                        most one transaction spending a nullifier is ever accepted.
    chit ``c_uT``       1 if u's query of T got at least ``alpha`` of ``k`` yes answers, else 0;
                        each transaction is queried once (``Q``).
    confidence ``d(T)`` ``sum of c_uT' over T <-* T'``: the chits of T's progeny (T included).
    preferred           ``isPreferred(T) = (T = P_T.pref)``.
    strongly preferred  ``isStronglyPreferred(T) = for all T' <-* T: isPreferred(T')``; it is
                        what a node answers when queried about T (Fig. 5, onQuery).
    accepted            ``isAccepted(T) = ((for all T' <- T: isAccepted(T')) and |P_T| = 1 and
                        d(T) >= beta1)  or  P_T.cnt >= beta2`` (Fig. 5): safe early commitment
                        or the consecutive counter.

State (one node's local view; the rules of the paper are local, cross-node safety is
probabilistic and is measured by the simulator, not checked here)
    ``known``      the DAG ``𝒯``, sorted by id; every parent of a known transaction is known;
    ``conflicts``  one record per nullifier: members in arrival order, ``pref``, ``last``, ``cnt``;
    ``queried``    ``Q``; ``chits``: the transactions with ``c_uT = 1`` (both sorted);
    ``accepted``   the decisions, sorted.

Actions (one per rule; enabling condition apart from the effect)
    ``ReceiveTx(T)``  Fig. 4 ``onReceiveTx``: a new T joins 𝒯 with ``c_uT := 0``; a new conflict
                      set starts with ``pref := T, last := T, cnt := 0``, an existing one gains
                      T. Enabled when T is new and its parents are known (a vertex is added only
                      with its ancestry) and its ancestry spends no nullifier twice (see
                      Departures).
    ``Query(T, votes)`` Fig. 4, one iteration of ``avalancheLoop``: ``find T ∈ 𝒯 ∧ T ∉ Q``;
                      ``K := sample(N \\ u, k)``; ``P := Σ_{v∈K} query(v, T)``. ``votes`` are the
                      k answers (the sample and the answers are inputs). If ``P >= alpha``:
                      ``c_uT := 1`` and, ``for T' ∈ 𝒯 : T' <-* T``: ``if d(T') > d(P_T'.pref)
                      then P_T'.pref := T'``; ``if T' != P_T'.last then P_T'.last := T',
                      P_T'.cnt := 1 else ++P_T'.cnt``. Otherwise (the figure's ``else``
                      branch) ``P_T'.cnt := 0`` for the same T': a failed query breaks the run
                      of consecutive successes. Either way ``Q := Q ∪ {T}``.
    ``Accept(T)``     Fig. 5 ``isAccepted(T)`` holds and no member of ``P_T`` is accepted yet.

Departures, and why
    * Decisions are final and exclusive. The figures state ``isAccepted`` as a predicate that a
      node evaluates; §4 commits a transaction when it holds. We latch it (``accepted`` only
      grows) and accept at most one member per conflict set: ``isAccepted`` alone does not
      exclude it (``|P_T| = 1`` holds for an early commitment before a double spend arrives,
      and ``P_T.cnt`` can then climb again for the double spend). avalanchego's conflict graph
      does the same: ``Updateable`` in ``snow/consensus/snowstorm/conflicts.go`` returns an
      accepted transaction's conflicts as rejectable in the same call or an earlier one.
    * ``P_T.cnt >= beta2`` accepts ``P_T.last``, the member whose consecutive successes the
      counter counts; the figure writes it for the conflict set, leaving the member implicit.
    * ``isAccepted(T')`` of a parent is read as "T' was accepted" (the latch above); the
      impl accepts to a fixpoint after every query, so the two agree.
    * A transaction spends exactly one nullifier. The paper lets a multi-input transaction sit
      in several conflict sets (accepted only when every input is); a Mnemosyne nullifier
      registration spends one nullifier, so one conflict set per transaction suffices.
    * A transaction whose ancestry (itself included) spends one nullifier twice can never be
      strongly preferred and the paper's honest parent selection never builds one; we refuse it
      (``ReceiveTx`` is not enabled, the impl reports a fault), so every ``P_T'`` is touched at
      most once per query and the loop's order does not matter.
    * The counters are the paper's (``last``/``cnt`` per conflict set, reset by a failed query;
      confidence as the progeny's chits), not the design notes' (the issue records that their
      Snowflake/Snowball counters depart from the paper; the DAG follows Fig. 4 and 5 alone).

Properties (named predicates over :class:`View`, in three registries below)
    :data:`INVARIANTS` ("always", on states): ``ancestry_closed``, ``preference_in_conflict_set``,
    ``no_conflicting_acceptance``, ``chits_only_for_queried``;
    :data:`STEP_RULES` ("always", on a query ``pre -> post``): ``chit_rule``, ``counter_rule``,
    ``preference_rule`` (Fig. 4, field by field);
    :data:`REACHABLES` ("sometimes"): ``accepted_by_early_commitment`` and
    ``accepted_by_counter`` (companions of ``no_conflicting_acceptance``, the counter and chit
    rules: both acceptance paths are taken, the second with a double spend present),
    ``preference_switched`` (of ``preference_in_conflict_set`` and ``preference_rule``) and
    ``not_strongly_preferred`` (of ``ancestry_closed``: an ancestor's loss is seen by a child).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import attrs

from .properties import Invariant, Reachable

TxId = int
Nullifier = int

# -- State ---------------------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class Transaction:
    """A vertex of the DAG: what it spends and what it builds on."""

    id: TxId
    nullifier: Nullifier
    parents: tuple[TxId, ...]  # sorted, distinct


@attrs.frozen(cache_hash=True)
class ConflictSet:
    """``P_T`` for one nullifier: its members and the paper's ``pref``, ``last`` and ``cnt``."""

    nullifier: Nullifier
    members: tuple[TxId, ...]  # in arrival order: the first is the initial preference
    pref: TxId
    last: TxId
    cnt: int


@attrs.frozen(cache_hash=True)
class View:
    # the DAG 𝒯: every known transaction, sorted by id
    known: tuple[Transaction, ...]
    # the conflict sets P, sorted by nullifier
    conflicts: tuple[ConflictSet, ...]
    # the queries: Q, and the transactions with c_uT = 1 (both sorted)
    queried: tuple[TxId, ...]
    chits: tuple[TxId, ...]
    # the decisions (sorted)
    accepted: tuple[TxId, ...]


@attrs.frozen
class Params:
    """Sample size ``k``, quorum ``alpha`` and the two acceptance thresholds."""

    k: int
    alpha: int
    beta1: int
    beta2: int


EMPTY = View(known=(), conflicts=(), queried=(), chits=(), accepted=())

# -- Derived quantities (Fig. 5 and §4) ----------------------------------------------------------


def transaction(view: View, tx: TxId) -> Transaction | None:
    for t in view.known:
        if t.id == tx:
            return t
    return None


def conflict_set(view: View, nullifier: Nullifier) -> ConflictSet | None:
    for s in view.conflicts:
        if s.nullifier == nullifier:
            return s
    return None


def conflict_set_of(view: View, tx: TxId) -> ConflictSet:
    t = transaction(view, tx)
    s = None if t is None else conflict_set(view, t.nullifier)
    if s is None:
        raise KeyError(f"transaction {tx} is not known")
    return s


def ancestry(view: View, tx: TxId) -> tuple[TxId, ...]:
    """``{T' : T' <-* T}``, sorted: T and every transaction it builds on, transitively."""
    parents = {t.id: t.parents for t in view.known}
    seen = {tx}
    stack = [tx]
    while stack:
        for p in parents.get(stack.pop(), ()):
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return tuple(sorted(seen))


def progeny(view: View, tx: TxId) -> tuple[TxId, ...]:
    """``{T' : T <-* T'}``, sorted: T and every known transaction that builds on it."""
    return tuple(t.id for t in view.known if tx in ancestry(view, t.id))


def confidence(view: View, tx: TxId) -> int:
    """``d(T)``: the sum of the chits of T's progeny (§4)."""
    chits = set(view.chits)
    return sum(1 for t in progeny(view, tx) if t in chits)


def is_preferred(view: View, tx: TxId) -> bool:
    """Fig. 5: ``isPreferred(T) = (T = P_T.pref)``."""
    return conflict_set_of(view, tx).pref == tx


def is_strongly_preferred(view: View, tx: TxId) -> bool:
    """Fig. 5: ``isStronglyPreferred(T) = for all T' <-* T: isPreferred(T')``."""
    return all(is_preferred(view, a) for a in ancestry(view, tx))


def early_commitment(view: View, params: Params, tx: TxId) -> bool:
    """Fig. 5, safe early commitment: parents accepted, ``|P_T| = 1``, ``d(T) >= beta1``."""
    t = transaction(view, tx)
    if t is None:
        return False
    accepted = set(view.accepted)
    return (
        all(p in accepted for p in t.parents)
        and len(conflict_set_of(view, tx).members) == 1
        and confidence(view, tx) >= params.beta1
    )


def consecutive_counter(view: View, params: Params, tx: TxId) -> bool:
    """Fig. 5, the consecutive counter: ``P_T.cnt >= beta2``, for ``T = P_T.last``."""
    s = conflict_set_of(view, tx)
    return s.last == tx and s.cnt >= params.beta2


def is_accepted(view: View, params: Params, tx: TxId) -> bool:
    """Fig. 5: ``isAccepted(T)``, either branch."""
    return early_commitment(view, params, tx) or consecutive_counter(view, params, tx)


def ancestry_conflict_free(view: View, tx: Transaction) -> bool:
    """T and its ancestors spend pairwise different nullifiers (T not yet in ``view``)."""
    ancestors = {a for p in tx.parents for a in ancestry(view, p)}
    spent = [tx.nullifier, *(_nullifier(view, a) for a in ancestors)]
    return len(set(spent)) == len(spent)


def _nullifier(view: View, tx: TxId) -> Nullifier:
    t = transaction(view, tx)
    if t is None:
        raise KeyError(f"transaction {tx} is not known")
    return t.nullifier


# -- Actions -------------------------------------------------------------------------------------


@attrs.frozen
class ReceiveTx:
    tx: Transaction


@attrs.frozen
class Query:
    tx: TxId
    votes: tuple[bool, ...]  # the k answers of the sample, in the order they were counted


@attrs.frozen
class Accept:
    tx: TxId


Action = ReceiveTx | Query | Accept


def receive_enabled(view: View, action: ReceiveTx) -> bool:
    tx = action.tx
    # Verify T is new: onReceiveTx does nothing for T ∈ 𝒯
    if transaction(view, tx.id) is not None:
        return False
    # Verify every parent is known: a vertex joins the DAG with its ancestry
    known = {t.id for t in view.known}
    if not all(p in known for p in tx.parents):
        return False
    # Verify the ancestry spends no nullifier twice (see Departures)
    return ancestry_conflict_free(view, tx)


def query_enabled(view: View, params: Params, action: Query) -> bool:
    # Verify "find T that satisfies T ∈ 𝒯 ∧ T ∉ Q"
    if transaction(view, action.tx) is None or action.tx in view.queried:
        return False
    # Verify the sample answered: k answers
    return len(action.votes) == params.k


def accept_enabled(view: View, params: Params, action: Accept) -> bool:
    tx = action.tx
    # Verify T is known and not decided yet
    if transaction(view, tx) is None or tx in view.accepted:
        return False
    # Verify no other member of P_T is accepted: a decision is final and exclusive
    accepted = set(view.accepted)
    if any(m in accepted for m in conflict_set_of(view, tx).members):
        return False
    # Verify isAccepted(T) (Fig. 5)
    return is_accepted(view, params, tx)


def apply_receive(view: View, action: ReceiveTx) -> View:
    """Fig. 4 ``onReceiveTx(T)``: ``𝒯 := 𝒯 ∪ {T}``, ``c_uT := 0``, and P_T as described."""
    tx = action.tx
    known = tuple(sorted((*view.known, tx), key=lambda t: t.id))
    old = conflict_set(view, tx.nullifier)
    if old is None:
        # "P_T := {T}, P_T.pref := T, P_T.last := T, P_T.cnt := 0"
        fresh = ConflictSet(tx.nullifier, (tx.id,), tx.id, tx.id, 0)
        conflicts = tuple(sorted((*view.conflicts, fresh), key=lambda s: s.nullifier))
    else:
        # "P_T := P_T ∪ {T}"
        grown = attrs.evolve(old, members=(*old.members, tx.id))
        conflicts = tuple(grown if s is old else s for s in view.conflicts)
    return attrs.evolve(view, known=known, conflicts=conflicts)


def apply_query(view: View, params: Params, action: Query) -> View:
    """Fig. 4, one iteration of ``avalancheLoop`` on T with the sample's answers."""
    tx = action.tx
    touched = {_nullifier(view, a): a for a in ancestry(view, tx)}
    queried = tuple(sorted((*view.queried, tx)))  # "Q := Q ∪ {T}"
    if sum(action.votes) >= params.alpha:  # "if P >= alpha"
        after_chit = attrs.evolve(view, chits=tuple(sorted((*view.chits, tx))))  # "c_uT := 1"
        conflicts = []
        for s in view.conflicts:
            a = touched.get(s.nullifier)
            if a is None:
                conflicts.append(s)
                continue
            pref = s.pref
            # "if d(T') > d(P_T'.pref) then P_T'.pref := T'"
            if confidence(after_chit, a) > confidence(after_chit, s.pref):
                pref = a
            # "if T' != P_T'.last then P_T'.last := T', P_T'.cnt := 1 else ++P_T'.cnt"
            last, cnt = (a, 1) if a != s.last else (s.last, s.cnt + 1)
            conflicts.append(attrs.evolve(s, pref=pref, last=last, cnt=cnt))
        return attrs.evolve(after_chit, conflicts=tuple(conflicts), queried=queried)
    # otherwise "P_T'.cnt := 0" for every T' <-* T, and c_uT stays 0 forever
    reset = tuple(attrs.evolve(s, cnt=0) if s.nullifier in touched else s for s in view.conflicts)
    return attrs.evolve(view, conflicts=reset, queried=queried)


def apply_accept(view: View, action: Accept) -> View:
    return attrs.evolve(view, accepted=tuple(sorted((*view.accepted, action.tx))))


def enabled(view: View, params: Params, action: Action) -> bool:
    if isinstance(action, ReceiveTx):
        return receive_enabled(view, action)
    if isinstance(action, Query):
        return query_enabled(view, params, action)
    return accept_enabled(view, params, action)


def next_state(view: View, params: Params, action: Action) -> View:
    if isinstance(action, ReceiveTx):
        return apply_receive(view, action)
    if isinstance(action, Query):
        return apply_query(view, params, action)
    return apply_accept(view, action)


def decide(view: View, params: Params) -> tuple[View, tuple[TxId, ...]]:
    """Every enabled ``Accept``, in id order, to a fixpoint (an acceptance may enable a child's
    early commitment); returns the view and the transactions accepted, in order."""
    newly: list[TxId] = []
    changed = True
    while changed:
        changed = False
        for t in view.known:
            action = Accept(t.id)
            if accept_enabled(view, params, action):
                view = apply_accept(view, action)
                newly.append(t.id)
                changed = True
    return view, tuple(newly)


def actions(view: View, params: Params, universe: tuple[Transaction, ...]) -> Iterator[Action]:
    """The enabled actions, receiving from ``universe`` and with every multiset of k votes."""
    for tx in universe:
        action: Action = ReceiveTx(tx)
        if receive_enabled(view, action):
            yield action
    for t in view.known:
        if t.id not in view.queried:
            for yes in range(params.k + 1):
                yield Query(t.id, (False,) * (params.k - yes) + (True,) * yes)
        if accept_enabled(view, params, Accept(t.id)):
            yield Accept(t.id)


# -- Invariants (named predicates over a view) ---------------------------------------------------


def ancestry_closed(view: View) -> bool:
    """A vertex is only in the DAG with its parents (§4: the DAG is closed under ancestry)."""
    known = {t.id for t in view.known}
    return all(p in known for t in view.known for p in t.parents)


def preference_in_conflict_set(view: View) -> bool:
    """Every P_T is exactly the known spenders of its nullifier, and its pref and last are
    members of it (Fig. 4: both are only ever set to a T' of that set)."""
    by_nullifier: dict[Nullifier, set[TxId]] = {}
    for t in view.known:
        by_nullifier.setdefault(t.nullifier, set()).add(t.id)
    if {s.nullifier for s in view.conflicts} != set(by_nullifier):
        return False
    return all(
        len(set(s.members)) == len(s.members)
        and set(s.members) == by_nullifier[s.nullifier]
        and s.pref in s.members
        and s.last in s.members
        and s.cnt >= 0
        for s in view.conflicts
    )


def no_conflicting_acceptance(view: View) -> bool:
    """No two transactions of one conflict set (one nullifier) are both accepted."""
    spent = [_nullifier(view, tx) for tx in view.accepted if transaction(view, tx) is not None]
    return len(spent) == len(set(spent)) == len(view.accepted)


def chits_only_for_queried(view: View) -> bool:
    """``c_uT = 1`` only for a queried T (Fig. 4: the chit is set by T's own query)."""
    return set(view.chits) <= set(view.queried)


INVARIANTS: tuple[tuple[str, str, Callable[[View], bool]], ...] = (
    ("ancestry_closed", "every parent of a known transaction is known", ancestry_closed),
    (
        "preference_in_conflict_set",
        "each P_T holds exactly its nullifier's known spenders; pref and last are members",
        preference_in_conflict_set,
    ),
    (
        "no_conflicting_acceptance",
        "no two transactions spending one nullifier are both accepted",
        no_conflicting_acceptance,
    ),
    ("chits_only_for_queried", "c_uT = 1 only for queried transactions", chits_only_for_queried),
)

# -- Reachables ----------------------------------------------------------------------------------


def accepted_by_early_commitment(view: View, params: Params) -> bool:
    """Sometimes: an accepted T with ``|P_T| = 1`` whose ``P_T.cnt`` is below beta2."""
    return any(
        len(conflict_set_of(view, tx).members) == 1 and conflict_set_of(view, tx).cnt < params.beta2
        for tx in view.accepted
    )


def accepted_by_counter(view: View) -> bool:
    """Sometimes: an accepted T whose conflict set has another member (only beta2 accepts it)."""
    return any(len(conflict_set_of(view, tx).members) > 1 for tx in view.accepted)


def preference_switched(view: View) -> bool:
    """Sometimes: a conflict set prefers a member other than the first one it received."""
    return any(s.pref != s.members[0] for s in view.conflicts)


def not_strongly_preferred(view: View) -> bool:
    """Sometimes: a preferred transaction that is not strongly preferred (an ancestor lost)."""
    return any(
        is_preferred(view, t.id) and not is_strongly_preferred(view, t.id) for t in view.known
    )


REACHABLES: tuple[tuple[str, str, Callable[[View, Params], bool]], ...] = (
    (
        "accepted_by_early_commitment",
        "a transaction is accepted by safe early commitment (beta1)",
        accepted_by_early_commitment,
    ),
    (
        "accepted_by_counter",
        "a transaction with a conflicting one is accepted by the counter (beta2)",
        lambda view, params: accepted_by_counter(view),
    ),
    (
        "preference_switched",
        "a conflict set's preference moved to a later member",
        lambda view, params: preference_switched(view),
    ),
    (
        "not_strongly_preferred",
        "a preferred transaction is not strongly preferred",
        lambda view, params: not_strongly_preferred(view),
    ),
)


def reachables(project: Callable[[object], View], params: Params) -> tuple[Reachable[object], ...]:
    """The registry of "sometimes" properties, read through ``project`` (state -> View)."""
    return tuple(
        Reachable(name, description, _with_params(predicate, project, params))
        for name, description, predicate in REACHABLES
    )


def _with_params(
    predicate: Callable[[View, Params], bool], project: Callable[[object], View], params: Params
) -> Callable[[object], bool]:
    return lambda state: predicate(project(state), params)


def invariants(project: Callable[[object], View]) -> tuple[Invariant[object], ...]:
    """The registry of state invariants, read through ``project`` (state -> View)."""
    return tuple(
        Invariant(name, description, _compose(predicate, project))
        for name, description, predicate in INVARIANTS
    )


def _compose(
    predicate: Callable[[View], bool], project: Callable[[object], View]
) -> Callable[[object], bool]:
    return lambda state: predicate(project(state))


# -- Step rules: how one query or decision may change a view -------------------------------------


def chit_rule(pre: View, params: Params, tx: TxId, votes: tuple[bool, ...], post: View) -> bool:
    """Fig. 4: after querying T, ``c_uT = 1`` iff at least alpha answers were yes; no other chit
    changes."""
    success = sum(1 for v in votes if v is True) >= params.alpha
    expected = set(pre.chits) | ({tx} if success else set())
    return set(post.chits) == expected


def counter_rule(pre: View, params: Params, tx: TxId, votes: tuple[bool, ...], post: View) -> bool:
    """Fig. 4: each P_T' with ``T' <-* T`` gets ``last := T', cnt := 1`` or ``++cnt`` on success
    and ``cnt := 0`` on failure; every other conflict set's counter is unchanged."""
    success = sum(1 for v in votes if v is True) >= params.alpha
    touched = {_nullifier(pre, a): a for a in ancestry(pre, tx)}
    for s in post.conflicts:
        before = conflict_set(pre, s.nullifier)
        if before is None:
            return False
        a = touched.get(s.nullifier)
        if a is None:
            expected = (before.last, before.cnt)
        elif not success:
            expected = (before.last, 0)
        else:
            expected = (a, 1) if a != before.last else (a, before.cnt + 1)
        if (s.last, s.cnt) != expected:
            return False
    return True


def preference_rule(
    pre: View, params: Params, tx: TxId, votes: tuple[bool, ...], post: View
) -> bool:
    """Fig. 4: a preference moves only on a successful query, only in a conflict set of T's
    ancestry, and only to the ancestor T' when ``d(T') > d(P_T'.pref)`` (confidences after the
    chit)."""
    success = sum(1 for v in votes if v is True) >= params.alpha
    touched = {_nullifier(pre, a): a for a in ancestry(pre, tx)}
    with_chit = attrs.evolve(pre, chits=tuple(sorted({*pre.chits, tx}))) if success else pre
    for s in post.conflicts:
        before = conflict_set(pre, s.nullifier)
        if before is None:
            return False
        a = touched.get(s.nullifier)
        expected = before.pref
        if success and a is not None:
            if confidence(with_chit, a) > confidence(with_chit, before.pref):
                expected = a
        if s.pref != expected:
            return False
    return True


STEP_RULES: tuple[
    tuple[str, str, Callable[[View, Params, TxId, tuple[bool, ...], View], bool]], ...
] = (
    ("chit_rule", "c_uT := 1 iff at least alpha of the k answers are yes", chit_rule),
    ("counter_rule", "Fig. 4's last/cnt updates, and the reset on failure", counter_rule),
    ("preference_rule", "pref moves to T' only when d(T') > d(pref)", preference_rule),
)
