"""State-based replication of a CvRDT: the system every state-based CRDT spec plugs into.

Source: Shapiro, Preguiça, Baquero, Zawirski, "A comprehensive study of Convergent and
Commutative Replicated Data Types", INRIA RR-7506 (2011), §2.2 ("State-based replication",
Specification 1) and §2.2.1 / Definition 2.4 (CvRDT: a join semilattice whose updates inflate),
Proposition 2.1 (any two replicas of a CvRDT that have received the same updates converge).

State
    ``payloads[i]``  -- replica i's payload (an element of the data type's semilattice);
    ``sent``         -- the network: every state ever sent, as the set of snapshots; a snapshot is
                        delivered in any order, any number of times, or never (§2.2: "the system
                        transmits the state ... eventually, but possibly after an arbitrary delay,
                        out of order, duplicated");
    ghost variables, which no replica reads, so that invariants can talk about *updates*:
    ``updates``      -- every update issued, in issue order (its index is its uid);
    ``seen[i]``      -- the uids whose effect replica i's payload reflects (the paper's causal
                        history C(x_i), §2.1).

Actions (one per rule of Specification 1)
    ``Update(i, op)``   -- replica i applies ``op`` at its source (the "update" clause);
    ``Send(i)``         -- replica i sends its whole state (the "send" clause);
    ``Deliver(i, s)``   -- replica i merges a snapshot from the network (the "merge" clause).

Invariants (each a named predicate, checked in every state of every run)
    ``join_commutative``, ``join_associative``, ``join_idempotent``, ``join_upper_bound`` on the
    payloads that actually occur; ``convergence`` (strong eventual consistency: equal causal
    histories give equal query results, Definition 2.3); ``correct_value`` (the query equals
    the data type's sequential specification applied to the updates seen). And one transition
    property, ``updates_inflate``: every update and every merge moves a payload up the
    semilattice order (Definition 2.4, "monotonic semilattice").

The design notes' CRDT pseudo-code merged with wall-clock timestamps and no tie-break; this spec
takes timestamps and tags as inputs (``op`` carries them) so every run replays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import product
from typing import Any, Generic, TypeVar

import attrs

from .common import replace_at
from .properties import Invariant, Reachable, StepProperty

P = TypeVar("P")  # payload
Op = TypeVar("Op")  # update operation, including the inputs it needs (tags, timestamps)
V = TypeVar("V")  # query result

# -- The data type: what each CRDT module provides ---------------------------------------------


@attrs.frozen(cache_hash=True)
class UpdateRecord:
    """Ghost record of one update: who issued it, what it was, and what its source had seen."""

    uid: int
    replica: int
    op: Any
    observed: frozenset[int]  # uids in the source's causal history when it applied the update


@attrs.frozen
class CvRDT(Generic[P, Op, V]):
    """A convergent replicated data type (Shapiro et al. Definition 2.4)."""

    name: str
    initial: Callable[[int], P]  # the payload every replica starts with, for n replicas
    update_enabled: Callable[[P, int, Op], bool]  # the update's precondition at its source
    update: Callable[[P, int, Op], P]  # replica i applies op at its source
    join: Callable[[P, P], P]  # least upper bound ("merge")
    leq: Callable[[P, P], bool]  # the semilattice order ("compare")
    query: Callable[[P], V]
    # sequential specification: the value the updates seen must produce (§3, each type's intent)
    intended: Callable[[Sequence[UpdateRecord]], V]


# -- State ---------------------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class Snapshot:
    """A state in the network: who sent it, the payload, and (ghost) the updates it reflects."""

    sender: int
    payload: Any
    seen: frozenset[int]


@attrs.frozen(cache_hash=True)
class SystemState:
    # replicas
    payloads: tuple[Any, ...]
    # network: every snapshot ever sent
    sent: frozenset[Snapshot]
    # ghost: updates issued, and the causal history of each replica
    updates: tuple[UpdateRecord, ...]
    seen: tuple[frozenset[int], ...]


def initial_state(crdt: CvRDT[Any, Any, Any], n: int) -> SystemState:
    return SystemState(
        payloads=tuple(crdt.initial(n) for _ in range(n)),
        sent=frozenset(),
        updates=(),
        seen=tuple(frozenset() for _ in range(n)),
    )


# -- Actions -------------------------------------------------------------------------------------


@attrs.frozen
class Update:
    replica: int
    op: Any


@attrs.frozen
class Send:
    replica: int


@attrs.frozen
class Deliver:
    replica: int
    snapshot: Snapshot


Action = Update | Send | Deliver


def update_enabled(crdt: CvRDT[Any, Any, Any], state: SystemState, action: Update) -> bool:
    # Spec 1 "update": the operation's precondition holds at the source
    return crdt.update_enabled(state.payloads[action.replica], action.replica, action.op)


def apply_update(crdt: CvRDT[Any, Any, Any], state: SystemState, action: Update) -> SystemState:
    i = action.replica
    record = UpdateRecord(len(state.updates), i, action.op, state.seen[i])
    # (every field named, changed or not: attrs.evolve costs more than the rest of the step)
    return SystemState(
        payloads=replace_at(state.payloads, i, crdt.update(state.payloads[i], i, action.op)),
        sent=state.sent,
        updates=(*state.updates, record),
        seen=replace_at(state.seen, i, state.seen[i] | {record.uid}),
    )


def send_enabled(state: SystemState, action: Send) -> bool:
    # Spec 1 "send": always enabled; the network bound is the model's, not the protocol's
    return 0 <= action.replica < len(state.payloads)


def apply_send(state: SystemState, action: Send) -> SystemState:
    i = action.replica
    snapshot = Snapshot(i, state.payloads[i], state.seen[i])
    return SystemState(
        payloads=state.payloads,
        sent=state.sent | {snapshot},
        updates=state.updates,
        seen=state.seen,
    )


def deliver_enabled(state: SystemState, action: Deliver) -> bool:
    # Spec 1 "merge": only a state that was sent can arrive; it stays in the network (duplication)
    return action.snapshot in state.sent


def apply_deliver(crdt: CvRDT[Any, Any, Any], state: SystemState, action: Deliver) -> SystemState:
    i = action.replica
    return SystemState(
        payloads=replace_at(
            state.payloads, i, crdt.join(state.payloads[i], action.snapshot.payload)
        ),
        sent=state.sent,
        updates=state.updates,
        seen=replace_at(state.seen, i, state.seen[i] | action.snapshot.seen),
    )


def enabled(crdt: CvRDT[Any, Any, Any], state: SystemState, action: Action) -> bool:
    if isinstance(action, Update):
        return update_enabled(crdt, state, action)
    if isinstance(action, Send):
        return send_enabled(state, action)
    return deliver_enabled(state, action)


def next_state(crdt: CvRDT[Any, Any, Any], state: SystemState, action: Action) -> SystemState:
    if isinstance(action, Update):
        return apply_update(crdt, state, action)
    if isinstance(action, Send):
        return apply_send(state, action)
    return apply_deliver(crdt, state, action)


# -- Invariants ----------------------------------------------------------------------------------


def join_commutative(crdt: CvRDT[Any, Any, Any], state: SystemState) -> bool:
    ps = state.payloads
    return all(crdt.join(a, b) == crdt.join(b, a) for a, b in product(ps, ps))


def join_associative(crdt: CvRDT[Any, Any, Any], state: SystemState) -> bool:
    ps = state.payloads
    j = crdt.join
    return all(j(j(a, b), c) == j(a, j(b, c)) for a, b, c in product(ps, ps, ps))


def join_idempotent(crdt: CvRDT[Any, Any, Any], state: SystemState) -> bool:
    return all(crdt.join(p, p) == p for p in state.payloads)


def join_upper_bound(crdt: CvRDT[Any, Any, Any], state: SystemState) -> bool:
    ps = state.payloads
    return all(
        crdt.leq(a, crdt.join(a, b)) and crdt.leq(b, crdt.join(a, b)) for a, b in product(ps, ps)
    )


def convergence(crdt: CvRDT[Any, Any, Any], state: SystemState) -> bool:
    """Strong eventual consistency (Definition 2.3): equal causal histories, equal values."""
    values = [crdt.query(p) for p in state.payloads]
    n = len(values)
    return all(
        values[i] == values[j]
        for i in range(n)
        for j in range(i + 1, n)
        if state.seen[i] == state.seen[j]
    )


def correct_value(crdt: CvRDT[Any, Any, Any], state: SystemState) -> bool:
    """Each replica's query equals the sequential specification over the updates it has seen."""
    return all(
        crdt.query(p) == crdt.intended([state.updates[u] for u in sorted(seen)])
        for p, seen in zip(state.payloads, state.seen, strict=True)
    )


def witness(name: str, crdt: CvRDT[Any, Any, Any], state: SystemState) -> str:
    """Names the replicas and values that break invariant ``name`` in ``state``."""
    ps, j = state.payloads, crdt.join
    n = len(ps)
    pairs = [(i, k) for i in range(n) for k in range(n)]
    if name == "join_idempotent":
        for i, p in enumerate(ps):
            if j(p, p) != p:
                return f"replica {i}: p = {p!r} but join(p, p) = {j(p, p)!r}"
    if name == "join_commutative":
        for i, k in pairs:
            if j(ps[i], ps[k]) != j(ps[k], ps[i]):
                return (
                    f"replicas {i}, {k}: join(a, b) = {j(ps[i], ps[k])!r} but "
                    f"join(b, a) = {j(ps[k], ps[i])!r}"
                )
    if name == "join_associative":
        for i, k in pairs:
            for m in range(n):
                a, b, c = ps[i], ps[k], ps[m]
                if j(j(a, b), c) != j(a, j(b, c)):
                    return (
                        f"replicas {i}, {k}, {m}: join(join(a, b), c) = {j(j(a, b), c)!r} but "
                        f"join(a, join(b, c)) = {j(a, j(b, c))!r}"
                    )
    if name == "join_upper_bound":
        for i, k in pairs:
            joined = j(ps[i], ps[k])
            if not (crdt.leq(ps[i], joined) and crdt.leq(ps[k], joined)):
                return f"replicas {i}, {k}: join = {joined!r} is not above both payloads"
    if name == "convergence":
        for i, k in pairs:
            if i < k and state.seen[i] == state.seen[k]:
                a, b = crdt.query(ps[i]), crdt.query(ps[k])
                if a != b:
                    return (
                        f"replicas {i} and {k} have seen updates {sorted(state.seen[i])} "
                        f"but read {a!r} and {b!r}"
                    )
    if name == "correct_value":
        for i, (p, seen) in enumerate(zip(ps, state.seen, strict=True)):
            want = crdt.intended([state.updates[u] for u in sorted(seen)])
            if crdt.query(p) != want:
                return (
                    f"replica {i} has seen updates {sorted(seen)} and reads {crdt.query(p)!r}; "
                    f"the sequential specification gives {want!r}"
                )
    return ""


def updates_inflate(crdt: CvRDT[Any, Any, Any], pre: SystemState, post: SystemState) -> bool:
    """Every payload only moves up the order: updates and merges inflate (Definition 2.4)."""
    return all(a is b or crdt.leq(a, b) for a, b in zip(pre.payloads, post.payloads, strict=True))


def all_updates_everywhere(state: SystemState) -> bool:
    """Sometimes: updates from at least two replicas have reached every replica."""
    everything = frozenset(range(len(state.updates)))
    sources = {u.replica for u in state.updates}
    return len(sources) >= 2 and all(seen == everything for seen in state.seen)


def concurrent_merge(state: SystemState) -> bool:
    """Sometimes: a replica holds two updates that were concurrent (neither observed the other)."""
    for seen in state.seen:
        records = [state.updates[u] for u in seen]
        for a in records:
            for b in records:
                if a.uid < b.uid and a.uid not in b.observed:
                    return True
    return False


def invariants(
    crdt: CvRDT[Any, Any, Any], project: Callable[[Any], SystemState]
) -> tuple[Invariant[Any], ...]:
    """The registry of state invariants, read through ``project`` (an abstraction function)."""

    # Every invariant below reads the replicas and the ghost, never the network, and a lattice
    # law reads the payloads only. Those parts recur in many states: memoizing the pure
    # predicates on them changes no verdict and saves most of the work.
    def memoized(
        name: str,
        description: str,
        predicate: Callable[..., bool],
        key: Callable[[SystemState], Any],
    ) -> Invariant[Any]:
        verdicts: dict[Any, bool] = {}

        def holds(s: Any) -> bool:
            abstract = project(s)
            k = key(abstract)
            verdict = verdicts.get(k)
            if verdict is None:
                verdict = verdicts[k] = predicate(crdt, abstract)
            return verdict

        def explain(s: Any) -> str:
            return witness(name, crdt, project(s))

        return Invariant(name, description, holds, explain)

    def lift_law(name: str, description: str, law: Callable[..., bool]) -> Invariant[Any]:
        return memoized(name, description, law, lambda a: a.payloads)

    def lift(name: str, description: str, predicate: Callable[..., bool]) -> Invariant[Any]:
        return memoized(name, description, predicate, lambda a: (a.payloads, a.seen, a.updates))

    return (
        lift_law("join_idempotent", "join(a, a) = a for every replica payload", join_idempotent),
        lift_law(
            "join_commutative", "join(a, b) = join(b, a) for replica payloads", join_commutative
        ),
        lift_law("join_associative", "join is associative on replica payloads", join_associative),
        lift_law("join_upper_bound", "a <= join(a, b) and b <= join(a, b)", join_upper_bound),
        lift("convergence", "replicas that have seen the same updates agree", convergence),
        lift("correct_value", "query = sequential spec of the updates seen", correct_value),
    )


def step_properties(
    crdt: CvRDT[Any, Any, Any], project: Callable[[Any], SystemState]
) -> tuple[StepProperty[Any, Any], ...]:
    def holds(pre: Any, _action: Any, post: Any) -> bool:
        return updates_inflate(crdt, project(pre), project(post))

    def explain(pre: Any, _action: Any, post: Any) -> str:
        before, after = project(pre), project(post)
        for i, (a, b) in enumerate(zip(before.payloads, after.payloads, strict=True)):
            if not crdt.leq(a, b):
                return f"replica {i} went from {a!r} to {b!r}, which is not above it"
        return ""

    return (
        StepProperty("updates_inflate", "updates and merges only inflate payloads", holds, explain),
    )


def reachables(project: Callable[[Any], SystemState]) -> tuple[Reachable[Any], ...]:
    return (
        Reachable(
            "all_updates_everywhere",
            "updates of two replicas reach every replica",
            lambda s: all_updates_everywhere(project(s)),
        ),
        Reachable(
            "concurrent_merge",
            "a replica merges two concurrent updates",
            lambda s: concurrent_merge(project(s)),
        ),
    )
