"""Merkle-CRDT: an operation-based CRDT replicated over a signed, content-addressed Merkle-DAG.

Source: Sanjuán, Pöyhtäri, Teixeira, Psaras, "Merkle-CRDTs: Merkle-DAGs meet CRDTs",
arXiv:2004.00107 (2020). Sections are cited by number and title as in that preprint (the
titles are the stable reference if a later version renumbers them):

* §III (Merkle-Clocks): a *Merkle-Clock* is a Merkle-DAG whose nodes are events; a node names
  its direct predecessors by their content identifier (CID, here the SHA-256 of the node's
  canonical encoding), so the DAG below a root is the root's causal past, and two Merkle-Clocks
  are merged by taking the union of their nodes (the heads of the union are the new roots).
  The Merkle-Clock is a grow-only set of nodes, hence itself a CRDT.
* §IV (Merkle-CRDTs): a *Merkle-CRDT* is a Merkle-Clock whose nodes carry CRDT payloads. A
  replica has three parts: the Merkle-Clock, a **DAG-Syncer** (fetches nodes by CID from other
  replicas) and a **Broadcaster** (announces new roots). On a root announcement a replica walks
  down the DAG, fetching what it does not hold, until it reaches nodes it has. For
  operation-based payloads (§IV, "Merkle-CRDTs for operation-based CRDTs") the Merkle-Clock
  gives causal delivery: an operation is applied after every operation in its causal past, and
  concurrent operations commute, so every replica holding the same DAG reaches the same state.

This spec
    Operations   ``AddOp(e)`` and ``RemoveOp(e)`` of the add-wins OR-Set (Shapiro et al. 2011,
                 §3.3.5, Spec 15; :mod:`.orset`) and ``IncrementOp()`` of the G-Counter (§3.1.1,
                 Spec 6; :mod:`.gcounter`). The OR-Set's unique tag of ``add(e)`` is the hex id
                 of the node that carries it (unique by collision resistance); ``remove(e)``
                 tombstones the tags of ``e`` added in the node's causal past -- what its source
                 had *observed* -- and no other. The G-Counter's entry is the author's position
                 in the membership.
    Node         ``(author, op, parents, signature)``: the author's Ed25519 public key, the
                 operation, the sorted ids of the author's heads when it made the node, and the
                 author's signature over ``signed_bytes(author, op, parents)``.
                 ``node_id = SHA-256(canonical encoding of all four fields)``.
    Validity     ``validity(members, claimed_id, node)``, checked in this order: well formed
                 (``malformed``), the id it was delivered under is its hash (``hash_mismatch``),
                 the author is a member (``unknown_author``), the signature verifies under the
                 author's key (``bad_signature``).
    Replica      ``ReplicaView(store, pending)``: the accepted nodes (a causally closed sub-DAG)
                 and the valid nodes waiting for a missing ancestor, each with the peer that
                 delivered it. The CRDT state is a *function of the store*: :func:`evaluate`
                 applies the operations in a deterministic topological order (depth, then id).
    Actions      ``Issue(replica, node)``: a client operation made into a node on the replica's
                 heads (paper §IV: a new root); enabled when the node is the replica's own,
                 validly signed, on exactly its heads, and the operation's precondition holds
                 at the source (``remove(e)`` needs ``e`` present).
                 ``Receive(replica, peer, claimed_id, node)``: the DAG-Syncer hands over a node.
                 An invalid node changes nothing; a node already held changes nothing; a node
                 whose parents are all accepted is accepted, then every pending node that has
                 become ready is accepted too (repeatedly); otherwise it waits in ``pending``.
    Bound        at most ``bound`` pending nodes per delivering peer. **Policy when the bound is
                 hit: the new node is refused (``pending_full``) and nothing changes**; the peer
                 may deliver it again later (the DAG-Syncer re-fetches by hash). A Byzantine
                 peer can thus fill only its own share of the buffer, never evict another peer's
                 nodes, and never make a replica hold more than ``bound`` nodes per peer.

Departures, and why
    * The paper trusts the DAG-Syncer's content addressing and leaves authentication out of
      scope; the original design notes signed *roots* only and accepted the DAG below a
      signed root without tying the signature to each node's content. Here every node is signed
      by its author and every node is hash-checked and signature-checked before it is buffered
      or accepted, because a signed root says nothing about a node fetched under a hash that a
      Byzantine peer chose. The root-only check ships as the mutant ``trust-signed-root``.
    * The paper's replicas apply payloads as the DAG walk reaches them; this spec buffers a
      node until its ancestors are present (causal delivery, §IV for op-based payloads), and
      bounds that buffer per peer: go-ds-crdt bounds its DAG walk by a worker pool
      (``Options.NumWorkers``) and a fetch timeout (``Options.DAGSyncerTimeout``), not by a
      count of nodes waiting per peer, which is the denial-of-service concern of the issue.
    * A Byzantine author may sign two different nodes on the same parents (a fork of its own
      chain). Nothing in a Merkle-CRDT needs one chain per author: both forks are valid,
      concurrent nodes and every correct replica accepts both. Picking one (first seen wins)
      would let the fork split correct replicas; that ships as the mutant ``first-fork-wins``.

Assumptions (not proved anywhere here): SHA-256 is collision resistant (distinct contents have
distinct ids, so an id names one node and one OR-Set tag) and Ed25519 is existentially
unforgeable (only an author's seed signs for its key). The model checker treats both as facts.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import gcounter, orset
from .properties import Invariant, Reachable

NodeId = bytes  # 32 bytes: SHA-256 of the node's canonical encoding
PublicKey = bytes  # 32 bytes: a raw Ed25519 public key
DOMAIN = b"mnemosyne/merkle-crdt/v1\n"

# -- Operations ------------------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class AddOp:
    """OR-Set ``add(e)``; its unique tag is the id of the node that carries it."""

    element: str


@attrs.frozen(cache_hash=True)
class RemoveOp:
    """OR-Set ``remove(e)``: tombstones the adds of ``e`` in the node's causal past."""

    element: str


@attrs.frozen(cache_hash=True)
class IncrementOp:
    """G-Counter ``increment()`` at the author's entry."""


Op = AddOp | RemoveOp | IncrementOp


def op_doc(op: Any) -> Any:
    """The canonical plain form of an operation (what is signed and hashed)."""
    if isinstance(op, AddOp):
        return ["add", op.element]
    if isinstance(op, RemoveOp):
        return ["remove", op.element]
    if isinstance(op, IncrementOp):
        return ["increment"]
    return ["?", repr(op)]


# -- Nodes, ids, signatures ------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class Node:
    """One Merkle-DAG node. Fields are typed ``Any`` on the wire: a peer may send anything."""

    author: Any  # PublicKey
    op: Any  # Op
    parents: Any  # tuple[NodeId, ...], sorted, no repeats
    signature: Any  # 64 bytes


def _hex(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else repr(value)


def signed_bytes(author: Any, op: Any, parents: Any) -> bytes:
    """What the author signs: domain, author key, operation, parent ids (canonical JSON)."""
    body = [_hex(author), op_doc(op), [_hex(p) for p in parents]]
    return DOMAIN + json.dumps(body, separators=(",", ":")).encode()


@functools.lru_cache(maxsize=1 << 16)
def node_id(node: Node) -> NodeId:
    """The content identifier: SHA-256 of the canonical encoding of all four fields."""
    data = signed_bytes(node.author, node.op, node.parents) + b"\n" + _hex(node.signature).encode()
    return hashlib.sha256(data).digest()


@functools.lru_cache(maxsize=1 << 16)
def signature_valid(node: Node) -> bool:
    """The signature verifies under the node's author key (RFC 8032, via ``cryptography``)."""
    if not (isinstance(node.author, bytes) and isinstance(node.signature, bytes)):
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(node.author)
        key.verify(node.signature, signed_bytes(node.author, node.op, node.parents))
    except (InvalidSignature, ValueError):
        return False
    return True


def is_id(value: Any) -> bool:
    return isinstance(value, bytes) and len(value) == 32


def well_formed(node: Any) -> bool:
    """Every field has its type: key and signature bytes, a known op, sorted distinct ids."""
    if not isinstance(node, Node):
        return False
    try:
        return _well_formed(node)
    except TypeError:  # a field a peer filled with something unhashable
        return _well_formed.__wrapped__(node)


@functools.lru_cache(maxsize=1 << 16)
def _well_formed(node: Node) -> bool:
    if not isinstance(node, Node):
        return False
    if not (isinstance(node.author, bytes) and len(node.author) == 32):
        return False
    if not (isinstance(node.signature, bytes) and len(node.signature) == 64):
        return False
    op = node.op
    if not (
        isinstance(op, IncrementOp)
        or (isinstance(op, AddOp | RemoveOp) and isinstance(op.element, str))
    ):
        return False
    parents = node.parents
    return (
        isinstance(parents, tuple)
        and all(is_id(p) for p in parents)
        and list(parents) == sorted(set(parents))
    )


MALFORMED, HASH_MISMATCH, UNKNOWN_AUTHOR, BAD_SIGNATURE = (
    "malformed",
    "hash_mismatch",
    "unknown_author",
    "bad_signature",
)
PENDING_FULL = "pending_full"


def validity(members: tuple[PublicKey, ...], claimed: Any, node: Any) -> str | None:
    """None if ``node`` may be buffered or accepted under ``claimed``, else the defect."""
    # Verify the node is well formed
    if not (well_formed(node) and is_id(claimed)):
        return MALFORMED
    # Verify the id it was delivered under is the hash of its content
    if node_id(node) != claimed:
        return HASH_MISMATCH
    # Verify the author is a member
    if node.author not in members:
        return UNKNOWN_AUTHOR
    # Verify the author signed it
    if not signature_valid(node):
        return BAD_SIGNATURE
    return None


# -- The DAG ---------------------------------------------------------------------------------------

Store = tuple[tuple[NodeId, Node], ...]  # sorted by id
Pending = tuple[tuple[int, NodeId, Node], ...]  # sorted by (peer, id)


def heads(store: Store) -> tuple[NodeId, ...]:
    """The roots of the Merkle-Clock: stored nodes that no stored node names as a parent."""
    named = {p for _, n in store for p in n.parents}
    return tuple(i for i, _ in store if i not in named)


def causal_past(store: Mapping[NodeId, Node], start: Iterable[NodeId]) -> set[NodeId]:
    """Every id reachable from ``start`` through parent links (``start`` included)."""
    seen: set[NodeId] = set()
    stack = list(start)
    while stack:
        current = stack.pop()
        if current in seen or current not in store:
            continue
        seen.add(current)
        stack.extend(store[current].parents)
    return seen


def topological_order(store: Store) -> list[NodeId]:
    """A deterministic topological order: by depth (longest path from a root), then by id.

    Iterative, so that a long history does not hit the recursion limit; a parent link that
    closes a cycle (impossible for hash-checked nodes, possible in a mutant's store) is ignored.
    """
    table = dict(store)
    depth: dict[NodeId, int] = {}
    for start in table:
        stack, open_ = [start], {start}
        while stack:
            current = stack[-1]
            parents = [p for p in table[current].parents if p in table and p != current]
            todo = [p for p in parents if p not in depth and p not in open_]
            if todo:
                stack.extend(todo)
                open_.update(todo)
                continue
            stack.pop()
            open_.discard(current)
            if current not in depth:
                depth[current] = 1 + max((depth.get(p, -1) for p in parents), default=-1)
    return sorted(table, key=lambda i: (depth[i], i))


# -- The CRDT state --------------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class CrdtState:
    """The payloads of the two CRDTs the DAG carries."""

    orset: orset.Payload  # (A, R) of Spec 15, tags are node ids in hex
    counter: gcounter.Payload  # one entry per member


def initial_crdt(members: tuple[PublicKey, ...]) -> CrdtState:
    return CrdtState(orset.EMPTY, gcounter.initial(len(members)))


def observed_adds(table: Mapping[NodeId, Node], node: Node, element: str) -> tuple[Any, ...]:
    """The ``(e, tag)`` pairs of the adds of ``element`` in ``node``'s strict causal past."""
    past = causal_past(table, node.parents)
    return orset.canonical((element, i.hex()) for i in past if table[i].op == AddOp(element))


def apply_op(
    members: tuple[PublicKey, ...],
    table: Mapping[NodeId, Node],
    state: CrdtState,
    ident: NodeId,
    node: Node,
) -> CrdtState:
    """The effect of one node's operation (the downstream part of op-based Spec 15 / Spec 6)."""
    op = node.op
    if isinstance(op, AddOp):
        added = orset.add(state.orset, orset.Add(op.element, ident.hex()))  # type: ignore[arg-type]
        return attrs.evolve(state, orset=added)
    if isinstance(op, RemoveOp):
        tombstones = orset.Payload((), observed_adds(table, node, op.element))
        return attrs.evolve(state, orset=orset.join(state.orset, tombstones))
    if node.author in members:
        index = members.index(node.author)
        return attrs.evolve(
            state, counter=gcounter.increment(state.counter, index, gcounter.Increment())
        )
    return state


def evaluate(members: tuple[PublicKey, ...], store: Store) -> CrdtState:
    """The CRDT state of a DAG: every operation, in a deterministic topological order."""
    table = dict(store)
    state = initial_crdt(members)
    for ident in topological_order(store):
        state = apply_op(members, table, state, ident, table[ident])
    return state


def value(state: CrdtState) -> tuple[tuple[str, ...], int]:
    """What a client reads: the OR-Set's elements and the counter's value."""
    return orset.elements(state.orset), gcounter.value(state.counter)


# -- Replicas and actions --------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class ReplicaView:
    # the Merkle-Clock: accepted nodes, causally closed, sorted by id
    store: Store
    # valid nodes waiting for an ancestor, with the peer that delivered each, sorted
    pending: Pending


EMPTY_VIEW = ReplicaView((), ())


def holds(view: ReplicaView, ident: NodeId) -> bool:
    return any(i == ident for i, _ in view.store) or any(i == ident for _, i, _ in view.pending)


def op_enabled(state: CrdtState, op: Any) -> bool:
    """The source precondition: ``remove(e)`` needs ``e`` present (Spec 15); others none."""
    if isinstance(op, RemoveOp):
        return orset.lookup(state.orset, op.element)
    return isinstance(op, AddOp | IncrementOp)


def issue_enabled(members: tuple[PublicKey, ...], me: int, view: ReplicaView, node: Node) -> bool:
    """``Issue``: the replica's own, valid node on exactly its heads, its op enabled."""
    ident = node_id(node) if well_formed(node) else b""
    # Verify the node is valid and new
    if validity(members, ident, node) is not None or holds(view, ident):
        return False
    # Verify it is the issuing replica's own node
    if node.author != members[me]:
        return False
    # Verify its parents are the replica's heads (paper §III: a new root over the current ones)
    if node.parents != heads(view.store):
        return False
    # Verify the operation's source precondition
    return op_enabled(evaluate(members, view.store), node.op)


def issue(view: ReplicaView, node: Node) -> ReplicaView:
    return attrs.evolve(view, store=_sorted_store((*view.store, (node_id(node), node))))


def receive(
    members: tuple[PublicKey, ...],
    bound: int,
    view: ReplicaView,
    peer: int,
    claimed: Any,
    node: Any,
) -> tuple[ReplicaView, str]:
    """``Receive``: the new view and the outcome (``accepted``, ``pending``, ``duplicate`` or a
    defect / ``pending_full``, both leaving the view unchanged)."""
    defect = validity(members, claimed, node)
    if defect is not None:
        return view, defect
    if holds(view, claimed):
        return view, "duplicate"
    stored = {i for i, _ in view.store}
    if all(p in stored for p in node.parents):
        return drain(attrs.evolve(view, store=_sorted_store((*view.store, (claimed, node))))), (
            "accepted"
        )
    if sum(1 for q, _, _ in view.pending if q == peer) >= bound:
        return view, PENDING_FULL
    pending = tuple(sorted((*view.pending, (peer, claimed, node)), key=_pending_key))
    return attrs.evolve(view, pending=pending), "pending"


def drain(view: ReplicaView) -> ReplicaView:
    """Accepts every pending node whose parents are all accepted, until none is ready."""
    store, pending = list(view.store), list(view.pending)
    stored = {i for i, _ in store}
    progress = True
    while progress:
        progress = False
        for entry in list(pending):
            _, ident, node = entry
            if all(p in stored for p in node.parents):
                pending.remove(entry)
                if ident not in stored:
                    store.append((ident, node))
                    stored.add(ident)
                progress = True
    return ReplicaView(_sorted_store(store), tuple(pending))


def _sorted_store(entries: Iterable[tuple[NodeId, Node]]) -> Store:
    return tuple(sorted(dict(entries).items()))


def _pending_key(entry: tuple[int, NodeId, Node]) -> tuple[int, NodeId]:
    return entry[0], entry[1]


# -- The system the invariants read ----------------------------------------------------------------


@attrs.frozen
class SystemView:
    """Every correct replica, abstracted: its view, the CRDT state it reports, and (ghost) the
    ids of the valid nodes it was handed and did not refuse for ``pending_full``."""

    members: tuple[PublicKey, ...]
    bound: int
    replicas: tuple[ReplicaView, ...]
    states: tuple[CrdtState, ...]
    received: tuple[frozenset[NodeId], ...]
    byzantine: PublicKey | None = None  # the Byzantine member's key, for the reachables


def _pairs(n: int) -> Iterable[tuple[int, int]]:
    return ((i, j) for i in range(n) for j in range(i + 1, n))


def _all_nodes(view: ReplicaView) -> Iterable[tuple[NodeId, Node]]:
    yield from view.store
    for _, ident, node in view.pending:
        yield ident, node


def convergence(s: SystemView) -> bool:
    """Two correct replicas with the same heads have the same CRDT state (§III/§IV)."""
    hs = [heads(r.store) for r in s.replicas]
    return all(s.states[i] == s.states[j] for i, j in _pairs(len(hs)) if hs[i] == hs[j])


def state_matches_dag(s: SystemView) -> bool:
    """Each correct replica's CRDT state is the evaluation of its DAG."""
    return all(
        st == _evaluate(s.members, r.store) for r, st in zip(s.replicas, s.states, strict=True)
    )


def no_bad_signature_accepted(s: SystemView) -> bool:
    """No stored or buffered node has a signature that fails under its author's key."""
    return all(signature_valid(n) for r in s.replicas for _, n in _all_nodes(r))


def no_tampered_node_accepted(s: SystemView) -> bool:
    """Every stored or buffered node sits under the hash of its own content."""
    return all(well_formed(n) and node_id(n) == i for r in s.replicas for i, n in _all_nodes(r))


def no_unknown_author_accepted(s: SystemView) -> bool:
    """Every stored or buffered node's author is a member."""
    return all(n.author in s.members for r in s.replicas for _, n in _all_nodes(r))


def fork_no_divergence(s: SystemView) -> bool:
    """Two correct replicas handed the same valid nodes hold the same DAG and state, whatever
    forks the Byzantine author signed and in whatever order they arrived."""
    return all(
        s.replicas[i].store == s.replicas[j].store and s.states[i] == s.states[j]
        for i, j in _pairs(len(s.replicas))
        if s.received[i] == s.received[j]
    )


def pending_bounded(s: SystemView) -> bool:
    """At most ``bound`` nodes wait per delivering peer."""
    for r in s.replicas:
        counts: dict[int, int] = {}
        for peer, _, _ in r.pending:
            counts[peer] = counts.get(peer, 0) + 1
            if counts[peer] > s.bound:
                return False
    return True


def causal_delivery(s: SystemView) -> bool:
    """The store is causally closed, and a pending node really waits for a missing parent."""
    for r in s.replicas:
        stored = {i for i, _ in r.store}
        if any(p not in stored for _, n in r.store for p in n.parents):
            return False
        if any(all(p in stored for p in n.parents) for _, _, n in r.pending):
            return False
    return True


# -- Reachables ------------------------------------------------------------------------------------


def _concurrent_pair(store: Store) -> bool:
    table = dict(store)
    pasts = {i: causal_past(table, [i]) for i in table}
    ids = list(table)
    return any(a not in pasts[b] and b not in pasts[a] for a in ids for b in ids if a < b)


def converged_with_concurrency(s: SystemView) -> bool:
    """Sometimes: two correct replicas have the same heads over a DAG with concurrent nodes."""
    return any(
        s.replicas[i].store
        and heads(s.replicas[i].store) == heads(s.replicas[j].store)
        and _concurrent_pair(s.replicas[i].store)
        for i, j in _pairs(len(s.replicas))
    )


def add_wins(s: SystemView) -> bool:
    """Sometimes: a DAG holds ``remove(e)`` and a concurrent ``add(e)``, and ``e`` is present."""
    for r, st in zip(s.replicas, s.states, strict=True):
        table = dict(r.store)
        present = orset.elements(st.orset)
        for i, n in r.store:
            if isinstance(n.op, RemoveOp) and n.op.element in present:
                past = causal_past(table, [i])
                for j, m in r.store:
                    if m.op == AddOp(n.op.element) and j not in past:
                        return True
    return False


def byzantine_node_accepted(s: SystemView) -> bool:
    """Sometimes: a correct replica accepted a (validly signed) node of the Byzantine member."""
    return any(n.author == s.byzantine for r in s.replicas for _, n in r.store)


def fork_accepted(s: SystemView) -> bool:
    """Sometimes: a correct replica holds two different nodes of one author on the same parents."""
    for r in s.replicas:
        seen: set[tuple[Any, Any]] = set()
        for _, n in r.store:
            key = (n.author, n.parents)
            if key in seen:
                return True
            seen.add(key)
    return False


def pending_full(s: SystemView) -> bool:
    """Sometimes: a peer's share of some replica's buffer is full."""
    for r in s.replicas:
        peers = [p for p, _, _ in r.pending]
        if any(peers.count(p) >= s.bound for p in set(peers)):
            return True
    return False


def cross_author_merge(s: SystemView) -> bool:
    """Sometimes: a replica stores a node built on another author's node (histories merged)."""
    for r in s.replicas:
        table = dict(r.store)
        for _, n in r.store:
            if any(table[p].author != n.author for p in n.parents if p in table):
                return True
    return False


_EVALUATIONS: dict[tuple[tuple[PublicKey, ...], Store], CrdtState] = {}


def _evaluate(members: tuple[PublicKey, ...], store: Store) -> CrdtState:
    key = (members, store)
    found = _EVALUATIONS.get(key)
    if found is None:
        if len(_EVALUATIONS) >= 1 << 16:
            _EVALUATIONS.clear()
        found = _EVALUATIONS[key] = evaluate(members, store)
    return found


INVARIANTS: tuple[tuple[str, str, Callable[[SystemView], bool]], ...] = (
    ("convergence", "correct replicas with the same heads have the same state", convergence),
    ("state_matches_dag", "a replica's CRDT state is the evaluation of its DAG", state_matches_dag),
    (
        "no_bad_signature_accepted",
        "no stored or buffered node has a bad signature",
        no_bad_signature_accepted,
    ),
    (
        "no_tampered_node_accepted",
        "every stored or buffered node is under the hash of its content",
        no_tampered_node_accepted,
    ),
    (
        "no_unknown_author_accepted",
        "every stored or buffered node's author is a member",
        no_unknown_author_accepted,
    ),
    (
        "fork_no_divergence",
        "replicas handed the same valid nodes (forks included) hold the same DAG and state",
        fork_no_divergence,
    ),
    ("pending_bounded", "at most `bound` nodes wait per peer", pending_bounded),
    (
        "causal_delivery",
        "the store is causally closed; pending nodes wait for a missing parent",
        causal_delivery,
    ),
)

REACHABLES: tuple[tuple[str, str, Callable[[SystemView], bool]], ...] = (
    (
        "converged_with_concurrency",
        "two replicas with the same heads over concurrent nodes",
        converged_with_concurrency,
    ),
    ("add_wins", "remove(e) and a concurrent add(e) in one DAG, e present", add_wins),
    (
        "byzantine_node_accepted",
        "a correct replica accepted a Byzantine node",
        byzantine_node_accepted,
    ),
    ("fork_accepted", "a correct replica holds both nodes of a fork", fork_accepted),
    ("pending_full", "a peer's share of a replica's buffer is full", pending_full),
    (
        "cross_author_merge",
        "a replica stores a node built on another author's node",
        cross_author_merge,
    ),
)


def explain(s: SystemView) -> str:
    """What a failing state looks like: each replica's heads, buffer size and value."""
    parts = []
    for k, (r, st) in enumerate(zip(s.replicas, s.states, strict=True)):
        shown = ",".join(h.hex()[:8] for h in heads(r.store))
        parts.append(f"replica {k}: heads [{shown}], {len(r.pending)} waiting, value {value(st)}")
    return "; ".join(parts)


def invariants(project: Callable[[Any], SystemView]) -> tuple[Invariant[Any], ...]:
    return tuple(
        Invariant(
            name, description, _compose(predicate, project), lambda state: explain(project(state))
        )
        for name, description, predicate in INVARIANTS
    )


def reachables(project: Callable[[Any], SystemView]) -> tuple[Reachable[Any], ...]:
    return tuple(
        Reachable(name, description, _compose(predicate, project))
        for name, description, predicate in REACHABLES
    )


def _compose(
    predicate: Callable[[SystemView], bool], project: Callable[[Any], SystemView]
) -> Callable[[Any], bool]:
    return lambda state: predicate(project(state))
