"""Merkle-CRDT: bounded model with a Byzantine author, mutants, Hypothesis machine, oracle, bench.

Source: Sanjuán, Pöyhtäri, Teixeira, Psaras 2020, §III-§IV (see
:mod:`mnemosyne_consensus.spec.merkle_crdt`).

The explored state is the *implementation*: the correct :class:`impl.Replica` s, one global
pool of the nodes correct replicas issued (gossip: any replica may receive any of them, in any
order, any number of times, or never), and a ghost (``received``) the replicas never read: the
ids of the valid nodes each replica was handed and did not refuse for ``pending_full``. The
DAG-Syncer's fetch-by-id and the Broadcaster's head announcements are abstracted into the
delivery of a node under an id; they change no state (a test drives them through the impl).

The Byzantine member (position ``n`` of the membership, a real Ed25519 key) and an outsider
(a key that is not a member) contribute a fixed alphabet of nodes (:func:`byzantine_alphabet`),
always deliverable to every correct replica from the Byzantine peer, not state:

* ``fork-a``, ``fork-b``    two different operations signed on the same (empty) parents: a fork
                            of the Byzantine author's own chain;
* ``child``                 a node on ``fork-b`` (it waits when ``fork-b`` has not arrived);
* ``orphan-1``, ``orphan-2`` validly signed nodes on a parent id nobody ever made: they wait
                            forever, filling the Byzantine peer's share of the pending buffer;
* ``forged``                a member's node whose signature is not the member's;
* ``tampered``              a valid node delivered under another id (the id the orphans wait for);
* ``outsider``              a validly signed node by a key that is not a member;
* ``malformed``             a node whose operation has a non-string element.

After every step the checker evaluates every spec invariant on the abstraction
(:func:`abstract`), and two step properties: ``refinement`` (the replica's new store and
pending buffer are the spec action's -- ``Issue`` for a client operation, ``Receive`` for a
delivery -- and its heads are the heads of its store) and ``faults_change_nothing`` (a step the
impl answered with a fault left the replica unchanged).

Measured on one core of a shared 2-core machine: ``small`` (the default) has 40,588 distinct
states and takes 13-16 s; ``tiny`` 2,380 states, about 1 s; ``wide`` (the whole alphabet, the
increment op too) 231,154 states in about 220 s, so it is bounded by time; ``three`` (3
replicas) is for simulation. The Hypothesis machine runs 5 replicas.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from ..impl import merkle_crdt as impl
from ..spec import merkle_crdt as spec
from ..spec.common import replace_at
from ..spec.merkle_crdt import AddOp, IncrementOp, Node, NodeId, RemoveOp
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

# -- The Byzantine alphabet ------------------------------------------------------------------------

MISSING = hashlib.sha256(b"mnemosyne/merkle-crdt/a node nobody made").digest()


@attrs.frozen(cache_hash=True)
class Wire:
    """A node as delivered: the id it comes under and its content; ``name`` for traces."""

    name: str
    ident: Any
    node: Any

    def __str__(self) -> str:
        return self.name


def members_of(n: int) -> tuple[bytes, ...]:
    """``n`` correct members and the Byzantine one (position ``n``)."""
    return tuple(impl.public_key(impl.derive_seed(i)) for i in range(n + 1))


def byzantine_alphabet(n: int) -> dict[str, Wire]:
    """The Byzantine member's and the outsider's nodes (fixed, not state)."""
    byz, outsider = impl.derive_seed(n), impl.derive_seed(n + 1)
    fork_a = impl.make_node(byz, IncrementOp(), ())
    fork_b = impl.make_node(byz, AddOp("x"), ())
    child = impl.make_node(byz, RemoveOp("x"), (spec.node_id(fork_b),))
    orphan_1 = impl.make_node(byz, AddOp("y"), (MISSING,))
    orphan_2 = impl.make_node(byz, AddOp("z"), (MISSING,))
    # a member's content with the outsider's signature over it
    signed_by_outsider = impl.make_node(outsider, AddOp("x"), ())
    forged = Node(impl.public_key(byz), AddOp("w"), (), signed_by_outsider.signature)
    honest_content = impl.make_node(byz, AddOp("w"), ())
    outsider_node = impl.make_node(outsider, AddOp("x"), ())
    malformed = Node(impl.public_key(byz), AddOp(7), (), fork_a.signature)

    def named(name: str, node: Node, ident: NodeId | None = None) -> Wire:
        return Wire(name, spec.node_id(node) if ident is None else ident, node)

    wires = (
        named("fork-a", fork_a),
        named("fork-b", fork_b),
        named("child", child),
        named("orphan-1", orphan_1),
        named("orphan-2", orphan_2),
        named("forged", forged),
        named("tampered", honest_content, MISSING),
        named("outsider", outsider_node),
        Wire("malformed", b"\x00" * 32, malformed),
    )
    return {w.name: w for w in wires}


# -- State -----------------------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class Deployment:
    # correct replicas (implementation state)
    replicas: tuple[impl.Replica, ...]
    # network: every node a correct replica issued, as (author, wire), sorted by id
    pool: tuple[tuple[int, Wire], ...]
    # ghost: the valid node ids each replica was handed and did not refuse, sorted
    received: tuple[tuple[NodeId, ...], ...]


@attrs.frozen
class IssueOp:
    replica: int
    op: Any

    def __str__(self) -> str:
        return f"replica {self.replica}: issue {spec.op_doc(self.op)}"


@attrs.frozen
class Deliver:
    replica: int
    peer: int
    wire: Wire

    def __str__(self) -> str:
        return f"replica {self.replica}: receive {self.wire} from peer {self.peer}"


@attrs.frozen
class Announce:
    """The Broadcaster brings ``peer``'s heads to ``replica`` (it answers with fetches)."""

    replica: int
    peer: int
    heads: tuple[NodeId, ...]

    def __str__(self) -> str:
        return f"replica {self.replica}: heads of peer {self.peer}"


@attrs.frozen
class Fetch:
    """``peer``'s DAG-Syncer asks ``replica`` for a node by id."""

    replica: int
    peer: int
    ident: NodeId

    def __str__(self) -> str:
        return f"replica {self.replica}: peer {self.peer} asks for {self.ident.hex()[:8]}"


Action = IssueOp | Deliver | Announce | Fetch

# invalid client requests, always available (like the Byzantine alphabet, not state): a remove
# of an element nobody adds, and an add of something that is not an element
INVALID_REQUESTS = (RemoveOp("v"), AddOp(7))

# -- Mutants ---------------------------------------------------------------------------------------


def _no_signature_check(members: Any, ident: Any, node: Any) -> impl.FaultKind | None:
    fault = impl.validate(members, ident, node)
    return None if fault is impl.FaultKind.BAD_SIGNATURE else fault


def _no_hash_check(members: Any, ident: Any, node: Any) -> impl.FaultKind | None:
    if not (spec.well_formed(node) and spec.is_id(ident)):
        return impl.FaultKind.MALFORMED
    if node.author not in members:
        return impl.FaultKind.UNKNOWN_AUTHOR
    return None if spec.signature_valid(node) else impl.FaultKind.BAD_SIGNATURE


def _no_author_check(members: Any, ident: Any, node: Any) -> impl.FaultKind | None:
    fault = impl.validate(members, ident, node)
    return None if fault is impl.FaultKind.UNKNOWN_AUTHOR else fault


def _apply_remove_at_receiver(
    config: impl.ReplicaConfig, table: Any, crdt: spec.CrdtState, ident: NodeId, node: Node
) -> spec.CrdtState:
    """The receiver's view decides: remove(e) tombstones every tag of e present here now."""
    if isinstance(node.op, RemoveOp):
        seen = spec.orset.Payload((), tuple(p for p in crdt.orset.added if p[0] == node.op.element))
        return attrs.evolve(crdt, orset=spec.orset.join(crdt.orset, seen))
    return impl.apply_node(config, table, crdt, ident, node)


def _credit_receiver(
    config: impl.ReplicaConfig, table: Any, crdt: spec.CrdtState, ident: NodeId, node: Node
) -> spec.CrdtState:
    """increment() credited to the replica that applies it, not to the node's author."""
    if isinstance(node.op, IncrementOp):
        counter = spec.gcounter.increment(crdt.counter, config.me, spec.gcounter.Increment())
        return attrs.evolve(crdt, counter=counter)
    return impl.apply_node(config, table, crdt, ident, node)


def _own_chain_parents(replica: impl.Replica) -> tuple[NodeId, ...]:
    """A new node links only the replica's own heads (the others' history is left out)."""
    table = dict(replica.store)
    mine = replica.config.members[replica.config.me]
    return tuple(h for h in replica.heads if table[h].author == mine)


MUTANTS = (
    Mutant(
        "trust-signed-root",
        "the design notes' merge: a node that a buffered (signed, verified) node names as a "
        "parent is accepted without checking its hash or signature",
        "no_tampered_node_accepted",
    ),
    Mutant(
        "no-hash-check",
        "a node is accepted under whatever id it arrives with (signature and author checked)",
        "no_tampered_node_accepted",
    ),
    Mutant(
        "no-signature-check",
        "a node is accepted without verifying its Ed25519 signature",
        "no_bad_signature_accepted",
    ),
    Mutant(
        "no-author-check",
        "a node is verified under the key it names, members or not",
        "no_unknown_author_accepted",
    ),
    Mutant(
        "pending-unbounded",
        "nodes waiting for a parent are buffered without a per-peer bound",
        "pending_bounded",
    ),
    Mutant(
        "no-causal-wait",
        "a node is applied at once, even when a parent is missing",
        "causal_delivery",
    ),
    Mutant(
        "remove-at-receiver",
        "remove(e) tombstones every tag of e the *receiver* holds, so the result depends on "
        "the order concurrent nodes arrive in",
        "convergence",
    ),
    Mutant(
        "credit-receiver",
        "increment() is credited to the applying replica's entry, not the author's",
        "state_matches_dag",
    ),
    Mutant(
        "first-fork-wins",
        "a second node of one author on the same parents (a fork) is silently dropped",
        "fork_no_divergence",
    ),
    Mutant(
        "evict-and-refuse",
        "a full buffer evicts the peer's oldest waiting node and still reports pending_full",
        "faults_change_nothing",
    ),
    Mutant(
        "own-chain-parents",
        "a new node's parents are the replica's own heads only, not all its heads",
        "refinement",
    ),
)

RULES: dict[str, impl.Rules] = {
    "trust-signed-root": impl.Rules(trust_fetched_parents=True),
    "no-hash-check": impl.Rules(validate=_no_hash_check),
    "no-signature-check": impl.Rules(validate=_no_signature_check),
    "no-author-check": impl.Rules(validate=_no_author_check),
    "pending-unbounded": impl.Rules(unbounded_pending=True),
    "no-causal-wait": impl.Rules(apply_without_parents=True),
    "remove-at-receiver": impl.Rules(apply=_apply_remove_at_receiver),
    "credit-receiver": impl.Rules(apply=_credit_receiver),
    "first-fork-wins": impl.Rules(first_fork_wins=True),
    "evict-and-refuse": impl.Rules(evict_and_refuse=True),
    "own-chain-parents": impl.Rules(parents=_own_chain_parents),
}


def rules_for(mutant: Mutant | None) -> impl.Rules:
    return impl.STANDARD if mutant is None else RULES[mutant.name]


# -- Building the model ----------------------------------------------------------------------------


def initial_deployment(n: int, bound: int) -> Deployment:
    members = members_of(n)
    replicas = tuple(
        impl.new_replica(impl.ReplicaConfig(i, impl.derive_seed(i), members, bound))
        for i in range(n)
    )
    return Deployment(replicas, (), tuple(() for _ in range(n)))


def view_of(replica: impl.Replica) -> spec.ReplicaView:
    return spec.ReplicaView(replica.store, replica.pending)


def abstract(state: Deployment) -> spec.SystemView:
    """The abstraction: each replica's store and buffer, its CRDT state, and the ghost."""
    first = state.replicas[0].config
    return spec.SystemView(
        members=first.members,
        bound=first.bound,
        replicas=tuple(view_of(r) for r in state.replicas),
        states=tuple(r.crdt for r in state.replicas),
        received=tuple(frozenset(r) for r in state.received),
        byzantine=first.members[-1],
    )


@attrs.frozen
class Outcome:
    """One replica's step: its new state, its effects, and the refinement verdict."""

    after: impl.Replica
    effects: impl.Effects
    problem: str | None  # None: the step is the spec action it stands for


def replica_step(rules: impl.Rules, replica: impl.Replica, event: impl.Event) -> Outcome:
    """Hands ``event`` to ``replica`` and checks the step against the spec."""
    after, effects = impl.step(replica, event, rules)
    return Outcome(after, effects, refinement_problem(replica, event, after, effects))


def refinement_problem(
    before: impl.Replica, event: impl.Event, after: impl.Replica, effects: impl.Effects
) -> str | None:
    """None if the replica's step is the spec action it stands for (Issue, Receive)."""
    config = before.config
    if after.config != config:
        return "the step changed the replica's configuration"
    if after.heads != spec.heads(after.store):
        return f"heads {[h.hex()[:8] for h in after.heads]} are not the heads of the store"
    if isinstance(event, impl.Issue):
        if effects.rejections:
            return None if after == before else "a rejected request changed the replica"
        known = dict(before.store)
        new = [n for ident, n in after.store if ident not in known]
        if len(new) != 1:
            return f"an issue stored {len(new)} new nodes, not 1"
        if not spec.issue_enabled(config.members, config.me, view_of(before), new[0]):
            return f"spec Issue of {spec.op_doc(new[0].op)} is not enabled (its parents, author)"
        expected = spec.issue(view_of(before), new[0])
    elif isinstance(event, impl.NodeReceived):
        expected, _ = spec.receive(
            config.members, config.bound, view_of(before), event.peer, event.ident, event.node
        )
    else:
        expected = view_of(before)
    got = view_of(after)
    if expected != got:
        return (
            f"spec gives {len(expected.store)} stored and {len(expected.pending)} waiting "
            f"nodes, the impl {len(got.store)} and {len(got.pending)}"
        )
    return None


def event_of(action: Action) -> impl.Event:
    if isinstance(action, IssueOp):
        return impl.Issue(action.op)
    if isinstance(action, Announce):
        return impl.HeadsReceived(action.peer, action.heads)
    if isinstance(action, Fetch):
        return impl.FetchRequest(action.peer, action.ident)
    return impl.NodeReceived(action.peer, action.wire.ident, action.wire.node)


def apply_outcome(state: Deployment, action: Action, outcome: Outcome) -> Deployment:
    """The deployment after one replica's step: its new state, the pool and the ghost."""
    i = action.replica
    before = state.replicas[i]
    effects = outcome.effects
    if isinstance(action, Announce | Fetch):
        return state  # answered with fetches or sends: no state changes
    if isinstance(action, IssueOp):
        if effects.rejections or not effects.applied:
            return state
        ident = effects.applied[0]
        node = dict(outcome.after.store)[ident]
        wire = Wire(
            f"{i}:{'/'.join(map(str, spec.op_doc(action.op)))}@{ident.hex()[:6]}", ident, node
        )
        pool = tuple(sorted((*state.pool, (i, wire)), key=lambda e: e[1].ident))
        received = _with(state.received, i, ident)
        return Deployment(replace_at(state.replicas, i, outcome.after), pool, received)
    wire = action.wire
    valid = spec.validity(before.config.members, wire.ident, wire.node) is None
    full = any(f.kind is impl.FaultKind.PENDING_FULL for f in effects.faults)
    received = _with(state.received, i, wire.ident) if valid and not full else state.received
    if outcome.after == before and received is state.received:
        return state
    return Deployment(replace_at(state.replicas, i, outcome.after), state.pool, received)


def apply_action(
    rules: impl.Rules, state: Deployment, action: Action
) -> tuple[Deployment, Outcome]:
    """Hands one event to one replica (unmemoized; the Hypothesis machine's entry point)."""
    outcome = replica_step(rules, state.replicas[action.replica], event_of(action))
    return apply_outcome(state, action, outcome), outcome


def _with(
    received: tuple[tuple[NodeId, ...], ...], i: int, ident: NodeId
) -> tuple[tuple[NodeId, ...], ...]:
    if ident in received[i]:
        return received
    return replace_at(received, i, tuple(sorted((*received[i], ident))))


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    n: int = config.params["replicas"]
    bound: int = config.params["bound"]
    max_ops: int = config.params["ops"]
    op_alphabet: tuple[Any, ...] = config.params["op_alphabet"]
    names: tuple[str, ...] = config.params["byzantine"]
    gossip: bool = config.params.get("gossip", False)
    rules = rules_for(mutant)
    alphabet = byzantine_alphabet(n)
    byzantine = tuple(alphabet[name] for name in names)

    def initial_states() -> Iterator[Deployment]:
        yield initial_deployment(n, bound)

    def actions(state: Deployment) -> Iterator[Action]:
        if len(state.pool) < max_ops:
            # every op of the alphabet, enabled or not: a remove of an absent element is an
            # invalid client request, rejected with the state unchanged (a stutter)
            for i in range(len(state.replicas)):
                for op in op_alphabet:
                    yield IssueOp(i, op)
        for i, replica in enumerate(state.replicas):
            for op in INVALID_REQUESTS:
                yield IssueOp(i, op)
            if gossip:
                for j, other in enumerate(state.replicas):
                    if j != i:
                        yield Announce(i, j, other.heads)
                        for ident in replica.heads:
                            yield Fetch(i, j, ident)
        for i, replica in enumerate(state.replicas):
            held = {ident for ident, _ in replica.store} | {e[1] for e in replica.pending}
            for author, wire in state.pool:
                if author != i and wire.ident not in held:
                    yield Deliver(i, author, wire)
            for wire in byzantine:
                if wire.ident not in held:
                    yield Deliver(i, n, wire)

    # impl.step is pure: a replica's step depends on the replica and the event only, and the
    # same replica meets the same event in many deployments (the alphabet is re-sent in every
    # state), so each replica-level step is computed and checked once
    memo: dict[tuple[impl.Replica, Action], Outcome] = {}

    def outcome_of(state: Deployment, action: Action) -> Outcome:
        replica = state.replicas[action.replica]
        key = (replica, action)
        found = memo.get(key)
        if found is None:
            if len(memo) >= 1 << 17:
                memo.clear()
            found = memo[key] = replica_step(rules, replica, event_of(action))
        return found

    def next_state(state: Deployment, action: Action) -> Deployment:
        return apply_outcome(state, action, outcome_of(state, action))

    def refines(pre: Deployment, action: Action, post: Deployment) -> bool:
        return outcome_of(pre, action).problem is None

    def explain_refinement(pre: Deployment, action: Action, post: Deployment) -> str:
        return f"{action}: {outcome_of(pre, action).problem}"

    def faults_change_nothing(pre: Deployment, action: Action, post: Deployment) -> bool:
        if outcome_of(pre, action).effects.faults:
            return post.replicas[action.replica] == pre.replicas[action.replica]
        return True

    def explain_fault(pre: Deployment, action: Action, post: Deployment) -> str:
        i = action.replica
        kinds = [f.kind.value for f in outcome_of(pre, action).effects.faults]
        return (
            f"replica {i} reported {kinds} but its buffer went from "
            f"{len(pre.replicas[i].pending)} to {len(post.replicas[i].pending)} nodes"
        )

    recent: dict[int, tuple[Deployment, spec.SystemView]] = {}

    def project(state: Deployment) -> spec.SystemView:
        hit = recent.get(id(state))
        if hit is not None and hit[0] is state:
            return hit[1]
        projected = abstract(state)
        if len(recent) >= 8:
            recent.clear()
        recent[id(state)] = (state, projected)
        return projected

    steps: tuple[StepProperty[Any, Any], ...] = (
        StepProperty(
            "refinement",
            "every replica step is the enabled spec action (Issue, Receive) it stands for",
            refines,
            explain_refinement,
        ),
        StepProperty(
            "faults_change_nothing",
            "a step answered with a fault leaves the replica unchanged",
            faults_change_nothing,
            explain_fault,
        ),
    )
    return Model(
        name="merkle-crdt",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=spec.invariants(project),
        step_properties=steps,
        reachables=spec.reachables(project),
        describe_action=str,
    )


def view(state: Deployment) -> Mapping[str, Any]:
    """Named variables of a deployment, for traces and ITF (ids shortened to 8 hex digits)."""

    def short(ident: bytes) -> str:
        return ident.hex()[:8]

    return {
        "store": {
            i: tuple(f"{short(k)}:{spec.op_doc(n.op)}" for k, n in r.store)
            for i, r in enumerate(state.replicas)
        },
        "heads": {i: tuple(short(h) for h in r.heads) for i, r in enumerate(state.replicas)},
        "pending": {
            i: tuple(f"{p}:{short(k)}" for p, k, _ in r.pending)
            for i, r in enumerate(state.replicas)
        },
        "value": {i: impl.value(r) for i, r in enumerate(state.replicas)},
        "pool": tuple(str(w) for _, w in state.pool),
    }


ALL_BYZANTINE = (
    "fork-a",
    "fork-b",
    "child",
    "orphan-1",
    "orphan-2",
    "forged",
    "tampered",
    "outsider",
    "malformed",
)
# one orphan is enough to fill a buffer of one; the child of fork-b is the second waiting node
SMALL_BYZANTINE = tuple(name for name in ALL_BYZANTINE if name != "orphan-2")
CONFIGS = (
    Config(
        "small",
        "2 correct replicas and a Byzantine author (a fork, a child of a fork, an orphan, "
        "forged, tampered, outsider and malformed nodes), 2 client operations among add(x) "
        "and remove(x), 1 waiting node per peer (40,588 distinct states, about 13 s)",
        {
            "replicas": 2,
            "bound": 1,
            "ops": 2,
            "op_alphabet": (AddOp("x"), RemoveOp("x")),
            "byzantine": SMALL_BYZANTINE,
        },
        expected_distinct_states=40588,
    ),
    Config(
        "tiny",
        "2 correct replicas, 1 client operation add(x), the same Byzantine alphabet, 1 waiting "
        "node per peer (2,380 distinct states, under 1 s)",
        {
            "replicas": 2,
            "bound": 1,
            "ops": 1,
            "op_alphabet": (AddOp("x"),),
            "byzantine": SMALL_BYZANTINE,
            "gossip": True,
        },
        expected_distinct_states=2380,
    ),
    Config(
        "wide",
        "2 correct replicas, 2 client operations among add(x), remove(x), increment(), the "
        "whole Byzantine alphabet (two orphans) (231,154 distinct states, minutes: bounded "
        "by time)",
        {
            "replicas": 2,
            "bound": 1,
            "ops": 2,
            "op_alphabet": (AddOp("x"), RemoveOp("x"), IncrementOp()),
            "byzantine": ALL_BYZANTINE,
        },
        Bounds(max_seconds=60),
    ),
    Config(
        "three",
        "3 correct replicas, 2 client operations, the whole Byzantine alphabet, 2 waiting "
        "nodes per peer (simulation, or bounded by time)",
        {
            "replicas": 3,
            "bound": 2,
            "ops": 2,
            "op_alphabet": (AddOp("x"), RemoveOp("x"), IncrementOp()),
            "byzantine": ALL_BYZANTINE,
        },
        Bounds(max_seconds=60),
    ),
)

PROTOCOL = ProtocolEntry(
    name="merkle-crdt",
    summary="signed Merkle-CRDT (OR-Set + G-Counter over a Merkle-DAG) with a Byzantine author",
    source="Sanjuán, Pöyhtäri, Teixeira, Psaras, Merkle-CRDTs, arXiv:2004.00107 (2020), §III-IV",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)


# -- Hypothesis: random schedules at 5 replicas ----------------------------------------------------


class MerkleCrdtMachine(RuleBasedStateMachine):
    """Random schedules of 5 correct impl replicas and the Byzantine alphabet.

    Rules issue client operations (valid or not), deliver issued nodes and Byzantine ones, and
    run the DAG-Syncer for real: a replica receives a peer's heads, fetches what it lacks from
    that peer by id, and keeps fetching the parents its buffered nodes wait for. Every step is
    checked for refinement on the spot; the ``@invariant`` runs the spec's registry on the
    abstraction. Subclass with ``mutant`` set to run the machine against a shipped bug.
    """

    replicas = 5
    bound = 2
    mutant: Mutant | None = None
    nodes = Bundle("nodes")
    alphabet = tuple(byzantine_alphabet(replicas).values())
    ops = (AddOp("x"), AddOp("y"), RemoveOp("x"), RemoveOp("y"), IncrementOp())

    def __init__(self) -> None:
        super().__init__()
        self.rules = rules_for(self.mutant)
        self.state = initial_deployment(self.replicas, self.bound)

    def _do(self, action: Action) -> Outcome:
        self.state, outcome = apply_action(self.rules, self.state, action)
        require(outcome.problem is None, f"refinement violated by {action}: {outcome.problem}")
        if outcome.effects.faults:
            require(
                self.state.replicas[action.replica] == outcome.after,
                "faults_change_nothing violated",
            )
        return outcome

    @rule(target=nodes, replica=st.integers(0, replicas - 1), which=st.integers(0, 4))
    def issue(self, replica: int, which: int) -> Any:
        outcome = self._do(IssueOp(replica, self.ops[which]))
        if outcome.effects.rejections:
            return (replica, None)
        ident = outcome.effects.applied[0]
        return (replica, Wire("issued", ident, dict(outcome.after.store)[ident]))

    @rule(issued=nodes, replica=st.integers(0, replicas - 1))
    def deliver(self, issued: tuple[int, Wire | None], replica: int) -> None:
        author, wire = issued
        if wire is not None and author != replica:
            self._do(Deliver(replica, author, wire))

    @rule(replica=st.integers(0, replicas - 1), which=st.integers(0, len(alphabet) - 1))
    def deliver_byzantine(self, replica: int, which: int) -> None:
        self._do(Deliver(replica, self.replicas, self.alphabet[which]))

    @precondition(lambda self: bool(self.state.pool))
    @rule(replica=st.integers(0, replicas - 1), peer=st.integers(0, replicas - 1))
    def sync(self, replica: int, peer: int) -> None:
        """The Broadcaster brings ``peer``'s heads; the DAG-Syncer fetches down to known nodes."""
        if replica == peer:
            return
        source = self.state.replicas[peer]
        _, effects = impl.step(
            self.state.replicas[replica], impl.HeadsReceived(peer, source.heads), self.rules
        )
        wanted = list(effects.fetches)
        for _ in range(64):
            if not wanted:
                break
            asked, ident = wanted.pop(0)
            _, answer = impl.step(source, impl.FetchRequest(replica, ident), self.rules)
            for _, sent_id, node in answer.sends:
                outcome = self._do(Deliver(replica, asked, Wire("fetched", sent_id, node)))
                wanted.extend(outcome.effects.fetches)

    @invariant()
    def spec_invariants(self) -> None:
        system = abstract(self.state)
        for name, _, predicate in spec.INVARIANTS:
            require(predicate(system), f"{name} violated")


# -- The oracle: canonical encoding, vectors and trace validation ----------------------------------
#
# Documents (canonical JSON, see :mod:`.codec`; bytes as lowercase hex)::
#
#     node     {"author": K, "op": O, "parents": [ID, ...], "signature": SIG}
#     op       {"type": "add", "element": "x"} | {"type": "remove", "element": "x"}
#              | {"type": "increment"}
#     state    {"me": 0, "seed": S, "members": [K, ...], "bound": 1,
#               "store": [{"id": ID, "node": N}, ...], "heads": [ID, ...],
#               "pending": [{"peer": 2, "id": ID, "node": N}, ...],
#               "crdt": {"added": [["x", TAG], ...], "removed": [...], "counter": [0, 1, 0]}}
#     event    {"type": "issue", "op": O}
#              {"type": "receive", "peer": 2, "id": ID, "node": N}
#              {"type": "heads", "peer": 1, "heads": [ID, ...]}
#              {"type": "fetch", "peer": 1, "id": ID}
#     effects  {"announce": null | [ID, ...], "sends": [{"peer", "id", "node"}],
#               "fetches": [{"peer", "id"}], "applied": [ID, ...],
#               "faults": [{"peer", "kind"}], "rejections": [{"reason"}]}
#
# The fields of a received node, id, heads or op are decoded leniently (a hex string becomes
# bytes, anything else stays a plain value): a malformed node is the replica's to refuse with
# ``malformed``, not the decoder's.

_HEX = frozenset("0123456789abcdef")


def _loose(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple | list):
        return [_loose(v) for v in value]
    if isinstance(value, AddOp | RemoveOp | IncrementOp):
        return op_to_json(value)
    if isinstance(value, Node):
        return node_to_json(value)
    return plain_to_json(value)


def _unhex(doc: Any) -> Any:
    if isinstance(doc, str) and len(doc) % 2 == 0 and doc and set(doc) <= _HEX:
        return bytes.fromhex(doc)
    if isinstance(doc, list):
        return tuple(_unhex(d) for d in doc)
    return plain_from_json(doc)


def op_to_json(op: Any) -> Any:
    if isinstance(op, AddOp | RemoveOp):
        kind = "add" if isinstance(op, AddOp) else "remove"
        return {"type": kind, "element": _loose(op.element)}
    if isinstance(op, IncrementOp):
        return {"type": "increment"}
    return _loose(op)


def op_from_json(doc: Any) -> Any:
    """Lenient: a well-shaped op object becomes the op, anything else a plain value."""
    if isinstance(doc, dict):
        kind = doc.get("type")
        if kind in ("add", "remove") and set(doc) == {"type", "element"}:
            cls = AddOp if kind == "add" else RemoveOp
            return cls(plain_from_json(doc["element"]))
        if kind == "increment" and set(doc) == {"type"}:
            return IncrementOp()
    return plain_from_json(doc)


def node_to_json(node: Any) -> Any:
    """A node's document. Memoized for well-formed nodes (states re-encode the same nodes over
    and over): callers must not mutate the document they get."""
    if not isinstance(node, Node):
        return _loose(node)
    if spec.well_formed(node):
        return _node_doc(node)
    return _node_doc.__wrapped__(node)


@functools.lru_cache(maxsize=1 << 14)
def _node_doc(node: Node) -> Any:
    return {
        "author": _loose(node.author),
        "op": op_to_json(node.op),
        "parents": _loose(node.parents),
        "signature": _loose(node.signature),
    }


def node_from_json(doc: Any) -> Any:
    if isinstance(doc, dict) and set(doc) == {"author", "op", "parents", "signature"}:
        return Node(
            _unhex(doc["author"]), op_from_json(doc["op"]), _unhex(doc["parents"]),
            _unhex(doc["signature"]),
        )  # fmt: skip
    return plain_from_json(doc)


_HEXSTR: dict[str, Any] = {"type": "string", "pattern": "^([0-9a-f]{2})*$"}
_ID: dict[str, Any] = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_NAT: dict[str, Any] = {"type": "integer", "minimum": 0}


def _strict_node(doc: Any, path: str) -> Node:
    node = node_from_json(doc)
    if not spec.well_formed(node):
        raise DecodeError(path, "expected a well-formed node (author, op, parents, signature)")
    return node


def _strict_id(doc: Any, path: str) -> NodeId:
    if not (isinstance(doc, str) and len(doc) == 64 and set(doc) <= _HEX):
        raise DecodeError(path, "expected a node id: 64 lowercase hex digits")
    return bytes.fromhex(doc)


@attrs.frozen
class MerkleCrdtCodec:
    """Encoding of a Merkle-CRDT replica, its events and its effects (the oracle's interface).

    ``rules`` are the replica's computations (:data:`impl.STANDARD`); an adapter that wants a
    deliberately broken replica swaps them.
    """

    protocol: str = "merkle-crdt"
    rules: impl.Rules = impl.STANDARD

    def schemas(self) -> dict[str, Any]:
        node = object_schema({"author": {}, "op": {}, "parents": {}, "signature": {}})
        stored = object_schema(
            {
                "author": _ID,
                "op": {"type": "object"},
                "parents": {"type": "array", "items": _ID},
                "signature": _HEXSTR,
            }
        )
        pair = {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2}
        state = object_schema(
            {
                "me": _NAT,
                "seed": _ID,
                "members": {"type": "array", "items": _ID},
                "bound": {"type": "integer", "minimum": 1},
                "store": {
                    "type": "array",
                    "items": object_schema({"id": _ID, "node": stored}),
                },
                "heads": {"type": "array", "items": _ID},
                "pending": {
                    "type": "array",
                    "items": object_schema({"peer": _NAT, "id": _ID, "node": stored}),
                },
                "crdt": object_schema(
                    {
                        "added": {"type": "array", "items": pair},
                        "removed": {"type": "array", "items": pair},
                        "counter": {"type": "array", "items": _NAT},
                    }
                ),
            }
        )
        event = {
            "oneOf": [
                object_schema({"type": {"const": "issue"}, "op": {}}),
                object_schema({"type": {"const": "receive"}, "peer": _NAT, "id": {}, "node": node}),
                object_schema({"type": {"const": "heads"}, "peer": _NAT, "heads": {}}),
                object_schema({"type": {"const": "fetch"}, "peer": _NAT, "id": {}}),
            ]
        }
        effects = object_schema(
            {
                "announce": {"anyOf": [{"type": "null"}, {"type": "array", "items": _ID}]},
                "sends": {
                    "type": "array",
                    "items": object_schema({"peer": _NAT, "id": _ID, "node": stored}),
                },
                "fetches": {"type": "array", "items": object_schema({"peer": _NAT, "id": _ID})},
                "applied": {"type": "array", "items": _ID},
                "faults": {
                    "type": "array",
                    "items": object_schema(
                        {"peer": _NAT, "kind": {"enum": enum_values(impl.FaultKind)}}
                    ),
                },
                "rejections": {
                    "type": "array",
                    "items": object_schema({"reason": {"enum": enum_values(impl.RejectionReason)}}),
                },
            }
        )
        return {"state": state, "event": event, "effects": effects}

    # states
    def encode_state(self, replica: impl.Replica) -> JSON:
        config = replica.config
        return {
            "me": config.me,
            "seed": config.seed.hex(),
            "members": [k.hex() for k in config.members],
            "bound": config.bound,
            "store": [{"id": i.hex(), "node": node_to_json(n)} for i, n in replica.store],
            "heads": [h.hex() for h in replica.heads],
            "pending": [
                {"peer": p, "id": i.hex(), "node": node_to_json(n)} for p, i, n in replica.pending
            ],
            "crdt": {
                "added": [list(pair) for pair in replica.crdt.orset.added],
                "removed": [list(pair) for pair in replica.crdt.orset.removed],
                "counter": list(replica.crdt.counter),
            },
        }

    def decode_state(self, doc: JSON, path: str = "$") -> impl.Replica:
        fields = ["me", "seed", "members", "bound", "store", "heads", "pending", "crdt"]
        expect_object(doc, path, fields)
        members = tuple(
            _strict_id(k, f"{path}.members[{n}]")
            for n, k in enumerate(expect_array(doc["members"], f"{path}.members"))
        )
        me = expect_int(doc["me"], f"{path}.me", minimum=0)
        if me >= len(members):
            raise DecodeError(f"{path}.me", f"replica {me} out of range for {len(members)}")
        seed = _strict_id(doc["seed"], f"{path}.seed")
        if impl.public_key(seed) != members[me]:
            raise DecodeError(f"{path}.seed", "the seed's public key is not members[me]")
        config = impl.ReplicaConfig(me, seed, members, expect_int(doc["bound"], f"{path}.bound", 1))
        store = []
        for n, entry in enumerate(expect_array(doc["store"], f"{path}.store")):
            where = f"{path}.store[{n}]"
            expect_object(entry, where, ["id", "node"])
            store.append(
                (_strict_id(entry["id"], f"{where}.id"), _strict_node(entry["node"], where))
            )
        pending = []
        for n, entry in enumerate(expect_array(doc["pending"], f"{path}.pending")):
            where = f"{path}.pending[{n}]"
            expect_object(entry, where, ["peer", "id", "node"])
            pending.append(
                (
                    expect_int(entry["peer"], f"{where}.peer", 0),
                    _strict_id(entry["id"], f"{where}.id"),
                    _strict_node(entry["node"], f"{where}.node"),
                )
            )
        heads = tuple(
            _strict_id(h, f"{path}.heads[{n}]")
            for n, h in enumerate(expect_array(doc["heads"], f"{path}.heads"))
        )
        crdt = expect_object(doc["crdt"], f"{path}.crdt", ["added", "removed", "counter"])
        pairs = []
        for part in ("added", "removed"):
            items = expect_array(crdt[part], f"{path}.crdt.{part}")
            for n, item in enumerate(items):
                if not (
                    isinstance(item, list) and len(item) == 2 and all(type(x) is str for x in item)
                ):
                    raise DecodeError(f"{path}.crdt.{part}[{n}]", "expected [element, tag]")
            pairs.append(tuple(tuple(item) for item in items))
        counter = tuple(
            expect_int(c, f"{path}.crdt.counter[{n}]", 0)
            for n, c in enumerate(expect_array(crdt["counter"], f"{path}.crdt.counter"))
        )
        if len(counter) != len(members):
            raise DecodeError(f"{path}.crdt.counter", f"expected {len(members)} entries")
        payload = spec.orset.Payload(pairs[0], pairs[1])
        return impl.Replica(
            config, tuple(store), heads, tuple(pending), spec.CrdtState(payload, counter)
        )

    # events
    def encode_event(self, event: impl.Event) -> JSON:
        if isinstance(event, impl.Issue):
            return {"type": "issue", "op": op_to_json(event.op)}
        if isinstance(event, impl.NodeReceived):
            return {
                "type": "receive",
                "peer": event.peer,
                "id": _loose(event.ident),
                "node": node_to_json(event.node),
            }
        if isinstance(event, impl.HeadsReceived):
            return {"type": "heads", "peer": event.peer, "heads": _loose(event.heads)}
        return {"type": "fetch", "peer": event.peer, "id": _loose(event.ident)}

    def decode_event(self, doc: JSON, path: str = "$") -> impl.Event:
        if not isinstance(doc, dict):
            raise DecodeError(path, "expected an object with a field 'type'")
        kind = doc.get("type")
        if kind == "issue":
            expect_object(doc, path, ["type", "op"])
            return impl.Issue(op_from_json(doc["op"]))
        if kind == "receive":
            expect_object(doc, path, ["type", "peer", "id", "node"])
            peer = expect_int(doc["peer"], f"{path}.peer", 0)
            return impl.NodeReceived(peer, _unhex(doc["id"]), node_from_json(doc["node"]))
        if kind == "heads":
            expect_object(doc, path, ["type", "peer", "heads"])
            return impl.HeadsReceived(
                expect_int(doc["peer"], f"{path}.peer", 0), _unhex(doc["heads"])
            )
        if kind == "fetch":
            expect_object(doc, path, ["type", "peer", "id"])
            return impl.FetchRequest(expect_int(doc["peer"], f"{path}.peer", 0), _unhex(doc["id"]))
        raise DecodeError(
            f"{path}.type", f"unknown event type {kind!r} (known: fetch, heads, issue, receive)"
        )

    # effects
    def encode_effects(self, effects: impl.Effects) -> JSON:
        return {
            "announce": None if effects.announce is None else [h.hex() for h in effects.announce],
            "sends": [
                {"peer": p, "id": i.hex(), "node": node_to_json(n)} for p, i, n in effects.sends
            ],
            "fetches": [{"peer": p, "id": i.hex()} for p, i in effects.fetches],
            "applied": [i.hex() for i in effects.applied],
            "faults": [{"peer": f.peer, "kind": f.kind.value} for f in effects.faults],
            "rejections": [{"reason": r.value} for r in effects.rejections],
        }

    def handler(self, event: impl.Event) -> str:
        return {
            impl.Issue: "issue",
            impl.NodeReceived: "receive",
            impl.HeadsReceived: "heads",
            impl.FetchRequest: "fetch",
        }[type(event)]

    def step(self, replica: impl.Replica, event: impl.Event) -> tuple[impl.Replica, impl.Effects]:
        return impl.step(replica, event, self.rules)


CODEC = MerkleCrdtCodec()


def node_event(action: Action) -> tuple[int, impl.Event]:
    """The replica a model action steps and the impl event it hands it (for the oracle)."""
    return action.replica, event_of(action)


def initial_node(index: int, n: int, bound: int = 1) -> impl.Replica:
    """Replica ``index`` of ``n`` correct ones (members: those and the Byzantine one)."""
    members = members_of(n)
    return impl.new_replica(impl.ReplicaConfig(index, impl.derive_seed(index), members, bound))


def _empty_effects() -> dict[str, Any]:
    return {
        "announce": None,
        "sends": [],
        "fetches": [],
        "applied": [],
        "faults": [],
        "rejections": [],
    }


def _expected_step(
    pre: impl.Replica, event: impl.Event, post: impl.Replica
) -> tuple[str, dict[str, Any], spec.ReplicaView, str]:
    """What the spec requires of ``event`` at ``pre``: (rule, effects, view, outcome).

    The ``applied`` list is left to the caller (any causal order of the new nodes is allowed).
    """
    config = pre.config
    before = view_of(pre)
    effects = _empty_effects()
    held = {i for i, _ in pre.store} | {i for _, i, _ in pre.pending}
    if isinstance(event, impl.NodeReceived):
        view, outcome = spec.receive(
            config.members, config.bound, before, event.peer, event.ident, event.node
        )
        if outcome not in ("accepted", "pending", "duplicate"):
            effects["faults"] = [{"peer": event.peer, "kind": outcome}]
        if outcome == "pending":
            stored = {i for i, _ in pre.store}
            effects["fetches"] = [
                {"peer": event.peer, "id": p.hex()}
                for p in event.node.parents
                if p not in stored and p not in held
            ]
        return "spec Receive", effects, view, outcome
    if isinstance(event, impl.Issue):
        op = event.op
        if not spec.op_enabled(pre.crdt, op) or not (
            isinstance(op, IncrementOp) or isinstance(getattr(op, "element", None), str)
        ):
            unknown = not isinstance(op, AddOp | RemoveOp | IncrementOp) or not isinstance(
                getattr(op, "element", ""), str
            )
            reason = (
                impl.RejectionReason.UNKNOWN_OP if unknown else impl.RejectionReason.ELEMENT_ABSENT
            )
            effects["rejections"] = [{"reason": reason.value}]
            return "spec Issue (not enabled)", effects, before, reason.value
        new = [n for i, n in post.store if i not in dict(pre.store)]
        if len(new) != 1 or not spec.issue_enabled(config.members, config.me, before, new[0]):
            return "spec Issue: one new node of mine on my heads", effects, before, "issue-bad"
        view = spec.issue(before, new[0])
        effects["announce"] = [h.hex() for h in spec.heads(view.store)]
        return "spec Issue", effects, view, "issued"
    if isinstance(event, impl.HeadsReceived):
        heads = event.heads
        if not (isinstance(heads, tuple) and all(spec.is_id(h) for h in heads)):
            effects["faults"] = [{"peer": event.peer, "kind": "malformed"}]
        else:
            effects["fetches"] = [
                {"peer": event.peer, "id": h.hex()} for h in sorted(set(heads) - held)
            ]
        return "heads announcement", effects, before, "heads"
    if not spec.is_id(event.ident):
        effects["faults"] = [{"peer": event.peer, "kind": "malformed"}]
    else:
        node = dict(pre.store).get(event.ident)
        if node is not None:
            effects["sends"] = [
                {"peer": event.peer, "id": event.ident.hex(), "node": node_to_json(node)}
            ]
    return "fetch request", effects, before, "fetch"


def step_checker(codec: MerkleCrdtCodec = CODEC) -> Any:
    """Trace validation of one replica step against the spec (see :mod:`.validate`).

    Checked for each step: the configuration never changes (``identity``); the store and
    buffer after the step are the spec's ``Issue`` / ``Receive`` result, the heads are the
    store's and the CRDT state is the spec's evaluation of the store (``refinement``); a refused
    node or request leaves the replica unchanged (``faults_change_nothing``) and is reported as
    one fault or rejection of the spec's kind (``typed_fault``); when effects are recorded,
    ``applied`` lists exactly the newly stored nodes in a causal order, and the other effect
    fields are exactly the spec's (``refinement``).
    """
    from .validate import StepChecker

    def check(
        nodes: tuple[impl.Replica, ...], i: int, event: impl.Event, post: impl.Replica, effects: Any
    ) -> tuple[str, str, str] | None:
        pre = nodes[i]
        if pre.config.me != i or post.config != pre.config:
            return ("identity", f"replica {i} with an unchanged configuration", "another one")
        rule, expected, view, outcome = _expected_step(pre, event, post)
        if outcome == "issue-bad":
            return ("refinement", rule, f"{len(post.store) - len(pre.store)} new nodes")
        refused = bool(expected["faults"] or expected["rejections"])
        if refused and post != pre:
            return ("faults_change_nothing", f"{rule}: {outcome}, nothing changes", "a change")
        got = view_of(post)
        if got != view:
            return (
                "refinement",
                f"{rule}: {len(view.store)} stored, {len(view.pending)} waiting",
                f"{len(got.store)} stored, {len(got.pending)} waiting",
            )
        if post.heads != spec.heads(post.store):
            return ("refinement", "heads are the heads of the store", "other heads")
        if post.crdt != spec._evaluate(pre.config.members, post.store):
            return ("refinement", "the CRDT state is the evaluation of the DAG", "another state")
        if effects is None:
            return None
        new_ids = [k for k, _ in post.store if k not in dict(pre.store)]
        applied = effects.get("applied") if isinstance(effects, dict) else None
        if isinstance(applied, list) and sorted(applied) == sorted(k.hex() for k in new_ids):
            done = {k for k, _ in pre.store}
            table = dict(post.store)
            for hexid in applied:
                ident = bytes.fromhex(hexid)
                if any(p not in done for p in table[ident].parents):
                    return ("refinement", "applied in a causal order", f"{hexid} before a parent")
                done.add(ident)
            expected["applied"] = applied
        else:
            expected["applied"] = [k.hex() for k in new_ids]
        if effects != expected:
            kind = "typed_fault" if refused or effects.get("faults") else "refinement"
            return (
                kind,
                f"{rule}: effects {dumps_line(expected)[:240]}",
                dumps_line(effects)[:240],
            )
        return None

    return StepChecker(codec=codec, initial_node=initial_node, check=check)


ORACLE = OracleBinding(
    codec=CODEC,
    configs=("tiny",),
    node_event=node_event,
    nodes=lambda state: state.replicas,
    initial_node=initial_node,
    step_checker=step_checker(CODEC),
)


# -- Benchmark -------------------------------------------------------------------------------------


def bench_merkle_crdt(seconds: float = 2.0) -> dict[str, Any]:
    """Nodes verified (hash, membership, Ed25519) and applied per second by a fresh replica.

    Four authors build a DAG (each issues on its heads after merging a neighbour's node, so the
    DAG has concurrency); a fresh replica then receives every node in a topological order. The
    DAG is grown until building it took about a third of ``seconds``.
    """
    members = members_of(3)
    authors = [initial_node(i, 3, bound=4) for i in range(3)]
    ops = (AddOp("a"), IncrementOp(), AddOp("b"), RemoveOp("a"), IncrementOp())
    order: list[tuple[int, NodeId, Node]] = []
    started = time.perf_counter()
    k = 0
    while time.perf_counter() - started < seconds / 3 or k < 30:
        i = k % 3
        op = ops[k % len(ops)]
        if isinstance(op, RemoveOp) and not spec.orset.lookup(authors[i].crdt.orset, op.element):
            op = AddOp("a")
        authors[i], effects = impl.step(authors[i], impl.Issue(op))
        ident = effects.applied[0]
        node = dict(authors[i].store)[ident]
        order.append((i, ident, node))
        j = (i + 1) % 3
        authors[j], _ = impl.step(authors[j], impl.NodeReceived(i, ident, node))
        k += 1
    built = time.perf_counter() - started
    spec.signature_valid.cache_clear()
    spec.node_id.cache_clear()
    spec._well_formed.cache_clear()
    replica = initial_node(0, 3, bound=4)
    replica = attrs.evolve(replica, config=attrs.evolve(replica.config, me=0))
    begin = time.perf_counter()
    for peer, ident, node in order:
        fresh = Node(node.author, node.op, node.parents, bytes(node.signature))  # uncached copy
        replica, effects = impl.step(replica, impl.NodeReceived(peer, ident, fresh))
    took = time.perf_counter() - begin
    reference = spec.evaluate(members, replica.store)
    return {
        "merkle_crdt_nodes": len(order),
        "merkle_crdt_build_seconds": round(built, 3),
        "merkle_crdt_verify_apply_seconds": round(took, 3),
        "merkle_crdt_nodes_verified_applied_per_second": round(len(order) / took, 1),
        "merkle_crdt_state_matches_spec": reference == replica.crdt,
        "merkle_crdt_heads": len(replica.heads),
    }
