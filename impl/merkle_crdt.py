"""A sans-IO Merkle-CRDT replica: ``step(replica, event) -> (replica, effects)``.

Refines :mod:`mnemosyne_consensus.spec.merkle_crdt` (Sanjuán et al. 2020, §III Merkle-Clocks,
§IV Merkle-CRDTs). The wire encoding of a node, its id (SHA-256 of the canonical encoding) and
its signed bytes are the spec's (:func:`spec.node_id`, :func:`spec.signed_bytes`): they are the
format, not a behaviour, and an implementation in another language must reproduce them bit for
bit. What this module adds is the replica: its store, heads, per-peer pending buffer, the
incrementally maintained CRDT state, and the validation of everything a peer sends.

Events (the paper's components: the Broadcaster announces heads, the DAG-Syncer fetches by id)
    ``Issue(op)``                        a client operation: a new node on the replica's heads,
                                         signed, applied, and its new heads announced;
    ``HeadsReceived(peer, heads)``       a peer's announcement: fetch every id not held;
    ``FetchRequest(peer, ident)``        a peer asks for a node by id: send it if stored;
    ``NodeReceived(peer, ident, node)``  a node arrives under the id it was fetched by: verify,
                                         then accept (and every pending node it made ready) or
                                         buffer it and fetch its missing parents.

Validation of a received node, one check per line, in this order; the first failure is the
fault and the replica is unchanged: ``MALFORMED``, ``HASH_MISMATCH``, ``UNKNOWN_AUTHOR``,
``BAD_SIGNATURE``; then, for a node that must wait, ``PENDING_FULL`` when the delivering peer
already has ``bound`` nodes waiting (the spec's documented policy: refuse, never evict).
A node already held is ignored (no fault: gossip repeats). Applying is incremental and in
causal order (a node is applied once all its parents are); the spec's evaluation of the store
in its deterministic topological order is the reference the model compares against, and the
two agree because the operations' effects commute (:mod:`mnemosyne_consensus.proofs.merkle_crdt`).

Keys are inputs: a replica's Ed25519 seed is in its configuration (:func:`derive_seed` gives the
fixed test seeds); RFC 8032 signing is deterministic, so the same node always has the same id.
An invalid client request (``remove(e)`` with ``e`` absent, an unknown op) is a
:class:`Rejection`, the state unchanged. No clocks, randomness or I/O.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..spec import gcounter, orset
from ..spec import merkle_crdt as spec
from ..spec.merkle_crdt import AddOp, CrdtState, IncrementOp, Node, NodeId, PublicKey, RemoveOp
from . import ed25519

# -- Keys and signatures ---------------------------------------------------------------------------


def derive_seed(index: int, label: str = "mnemosyne/merkle-crdt") -> bytes:
    """A fixed 32-byte Ed25519 seed (test keys: public and deterministic)."""
    return ed25519.derive_seed(f"{label}/author/{index}")


def public_key(seed: bytes) -> PublicKey:
    return ed25519.public_key(seed)


@functools.lru_cache(maxsize=1 << 16)
def make_node(seed: bytes, op: Any, parents: tuple[NodeId, ...]) -> Node:
    """The node ``seed``'s owner signs for ``op`` on ``parents`` (sorted here)."""
    parents = tuple(sorted(set(parents)))
    author = public_key(seed)
    signature = ed25519.sign(seed, spec.signed_bytes(author, op, parents))
    return Node(author, op, parents, signature)


# -- Configuration and state -----------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class ReplicaConfig:
    me: int  # my position in ``members``
    seed: bytes  # my Ed25519 seed (an input, never generated here)
    members: tuple[PublicKey, ...]  # every author whose nodes are accepted, in counter order
    bound: int  # nodes that may wait per delivering peer


@attrs.frozen(cache_hash=True)
class Replica:
    # identity and configuration (constant)
    config: ReplicaConfig
    # the Merkle-Clock: accepted nodes (causally closed), sorted by id, and its heads
    store: spec.Store
    heads: tuple[NodeId, ...]
    # valid nodes waiting for a missing parent: (delivering peer, id, node), sorted
    pending: spec.Pending
    # the CRDT payloads, maintained incrementally as nodes are applied
    crdt: CrdtState


def new_replica(config: ReplicaConfig) -> Replica:
    if not 0 <= config.me < len(config.members) or config.bound < 1:
        raise ValueError(f"bad replica configuration {config!r}")
    if public_key(config.seed) != config.members[config.me]:
        raise ValueError("the seed's public key is not members[me]")
    return Replica(config, (), (), (), spec.initial_crdt(config.members))


# -- Events ----------------------------------------------------------------------------------------


@attrs.frozen
class Issue:
    op: Any


@attrs.frozen
class HeadsReceived:
    peer: int
    heads: Any  # tuple of ids; a peer may send anything


@attrs.frozen
class FetchRequest:
    peer: int
    ident: Any


@attrs.frozen(cache_hash=True)
class NodeReceived:
    peer: int
    ident: Any  # the id the node was fetched or announced under
    node: Any


Event = Issue | HeadsReceived | FetchRequest | NodeReceived

# -- Effects ---------------------------------------------------------------------------------------


class FaultKind(enum.Enum):
    """Why a peer's input was refused. The replica's state is left unchanged."""

    #: a field has the wrong type or shape (key, signature, op, unsorted or non-id parents)
    MALFORMED = "malformed"
    #: the id the node came under is not the SHA-256 of its canonical encoding
    HASH_MISMATCH = "hash_mismatch"
    #: the node's author is not a member of this replica set
    UNKNOWN_AUTHOR = "unknown_author"
    #: the Ed25519 signature does not verify under the author's key
    BAD_SIGNATURE = "bad_signature"
    #: the node must wait for a parent, and its peer already has ``bound`` nodes waiting
    PENDING_FULL = "pending_full"


class RejectionReason(enum.Enum):
    """Why a local client request was refused. The replica's state is left unchanged."""

    #: ``remove(e)`` while ``e`` is absent (the OR-Set's source precondition, Spec 15)
    ELEMENT_ABSENT = "element_absent"
    #: not an operation of this data type
    UNKNOWN_OP = "unknown_op"


@attrs.frozen
class Fault:
    peer: int
    kind: FaultKind


@attrs.frozen
class Effects:
    announce: tuple[NodeId, ...] | None = None  # new heads for the Broadcaster
    sends: tuple[tuple[int, NodeId, Node], ...] = ()  # (peer, id, node) answers to fetches
    fetches: tuple[tuple[int, NodeId], ...] = ()  # (peer, id) for the DAG-Syncer
    applied: tuple[NodeId, ...] = ()  # nodes applied to the CRDT, in order
    faults: tuple[Fault, ...] = ()
    rejections: tuple[RejectionReason, ...] = ()


NOTHING = Effects()

# -- What a replica computes with (the model swaps mutants in here) --------------------------------


def validate(members: tuple[PublicKey, ...], ident: Any, node: Any) -> FaultKind | None:
    """None if ``node`` may be buffered or accepted under ``ident``, else the fault."""
    # Verify every field has its type
    if not (spec.well_formed(node) and spec.is_id(ident)):
        return FaultKind.MALFORMED
    # Verify the id is the hash of the content (content addressing, paper §III)
    if spec.node_id(node) != ident:
        return FaultKind.HASH_MISMATCH
    # Verify the author is a member
    if node.author not in members:
        return FaultKind.UNKNOWN_AUTHOR
    # Verify the author signed exactly this content
    if not spec.signature_valid(node):
        return FaultKind.BAD_SIGNATURE
    return None


def apply_node(
    config: ReplicaConfig, table: Mapping[NodeId, Node], crdt: CrdtState, ident: NodeId, node: Node
) -> CrdtState:
    """The downstream effect of one node's operation, its causal past already applied."""
    op = node.op
    if isinstance(op, AddOp):
        tagged = orset.Add(op.element, ident.hex())  # type: ignore[arg-type]
        return attrs.evolve(crdt, orset=orset.add(crdt.orset, tagged))
    if isinstance(op, RemoveOp):
        observed = orset.Payload((), spec.observed_adds(table, node, op.element))
        return attrs.evolve(crdt, orset=orset.join(crdt.orset, observed))
    index = config.members.index(node.author)
    return attrs.evolve(crdt, counter=gcounter.increment(crdt.counter, index, gcounter.Increment()))


def issue_parents(replica: Replica) -> tuple[NodeId, ...]:
    """A new node's parents: every current head (paper §III: the new root covers them all)."""
    return replica.heads


@attrs.frozen
class Rules:
    """The replica's computations; :data:`STANDARD` is the protocol as specified."""

    validate: Callable[[tuple[PublicKey, ...], Any, Any], FaultKind | None] = validate
    apply: Callable[[ReplicaConfig, Mapping[NodeId, Node], CrdtState, NodeId, Node], CrdtState] = (
        apply_node
    )
    parents: Callable[[Replica], tuple[NodeId, ...]] = issue_parents
    # mutant switches; every one is off in the protocol as specified
    trust_fetched_parents: bool = False  # accept unchecked a node a pending node names
    unbounded_pending: bool = False
    apply_without_parents: bool = False
    evict_and_refuse: bool = False
    first_fork_wins: bool = False


STANDARD = Rules()

# -- Transitions -----------------------------------------------------------------------------------


def step(replica: Replica, event: Event, rules: Rules = STANDARD) -> tuple[Replica, Effects]:
    """The replica's whole behaviour: one event in, the new state and its effects out."""
    if isinstance(event, NodeReceived):
        return on_node(replica, event, rules)
    if isinstance(event, Issue):
        return on_issue(replica, event, rules)
    if isinstance(event, HeadsReceived):
        return on_heads(replica, event)
    if isinstance(event, FetchRequest):
        return on_fetch(replica, event)
    raise TypeError(f"replica {replica.config.me} cannot handle event {event!r}")


def on_issue(replica: Replica, event: Issue, rules: Rules) -> tuple[Replica, Effects]:
    op = event.op
    # Verify the request is an operation of the data type, enabled at the source
    if not (
        isinstance(op, IncrementOp)
        or (isinstance(op, AddOp | RemoveOp) and isinstance(op.element, str))
    ):
        return replica, Effects(rejections=(RejectionReason.UNKNOWN_OP,))
    if isinstance(op, RemoveOp) and not orset.lookup(replica.crdt.orset, op.element):
        return replica, Effects(rejections=(RejectionReason.ELEMENT_ABSENT,))
    node = make_node(replica.config.seed, op, rules.parents(replica))
    ident = spec.node_id(node)
    after, applied = _accept(replica, ident, node, rules)
    return after, Effects(announce=after.heads, applied=applied)


def on_heads(replica: Replica, event: HeadsReceived) -> tuple[Replica, Effects]:
    heads = event.heads
    # Verify the announcement is a tuple of ids
    if not (isinstance(heads, tuple) and all(spec.is_id(h) for h in heads)):
        return replica, Effects(faults=(Fault(event.peer, FaultKind.MALFORMED),))
    wanted = sorted({h for h in heads if not _holds(replica, h)})
    return replica, Effects(fetches=tuple((event.peer, h) for h in wanted))


def on_fetch(replica: Replica, event: FetchRequest) -> tuple[Replica, Effects]:
    if not spec.is_id(event.ident):
        return replica, Effects(faults=(Fault(event.peer, FaultKind.MALFORMED),))
    node = dict(replica.store).get(event.ident)
    if node is None:
        return replica, NOTHING  # not ours to answer: the peer asks someone else
    return replica, Effects(sends=((event.peer, event.ident, node),))


def on_node(replica: Replica, event: NodeReceived, rules: Rules) -> tuple[Replica, Effects]:
    ident, node, peer = event.ident, event.node, event.peer
    trusted = rules.trust_fetched_parents and _awaited(replica, ident)
    if not trusted:
        fault = rules.validate(replica.config.members, ident, node)
        if fault is not None:
            return replica, Effects(faults=(Fault(peer, fault),))
    if _holds(replica, ident):
        return replica, NOTHING  # a duplicate: gossip repeats itself
    if rules.first_fork_wins and _forks(replica, node):
        return replica, NOTHING
    stored = {i for i, _ in replica.store}
    missing = tuple(p for p in node.parents if p not in stored)
    if not missing or rules.apply_without_parents:
        after, applied = _accept(replica, ident, node, rules)
        return after, Effects(applied=applied)
    waiting = [e for e in replica.pending if e[0] == peer]
    if len(waiting) >= replica.config.bound and not rules.unbounded_pending:
        if rules.evict_and_refuse:
            evicted = tuple(e for e in replica.pending if e != waiting[0])
            replica = attrs.evolve(replica, pending=evicted)
        return replica, Effects(faults=(Fault(peer, FaultKind.PENDING_FULL),))
    pending = tuple(sorted((*replica.pending, (peer, ident, node)), key=lambda e: (e[0], e[1])))
    unfetched = tuple((peer, p) for p in missing if not _holds(replica, p))
    return attrs.evolve(replica, pending=pending), Effects(fetches=unfetched)


def _holds(replica: Replica, ident: Any) -> bool:
    return any(i == ident for i, _ in replica.store) or any(
        i == ident for _, i, _ in replica.pending
    )


def _awaited(replica: Replica, ident: Any) -> bool:
    """Some pending node names ``ident`` as a parent (the mutant's "vouched for by a root")."""
    return any(ident in n.parents for _, _, n in replica.pending)


def _forks(replica: Replica, node: Node) -> bool:
    return any(
        n.author == node.author and n.parents == node.parents
        for _, n in (*replica.store, *((i, n) for _, i, n in replica.pending))
    )


def _accept(
    replica: Replica, ident: NodeId, node: Node, rules: Rules
) -> tuple[Replica, tuple[NodeId, ...]]:
    """Stores and applies ``node``, then every pending node that became ready (in order)."""
    table = dict(replica.store)
    heads = set(replica.heads)
    pending = list(replica.pending)
    crdt = replica.crdt
    applied: list[NodeId] = []
    ready: list[tuple[NodeId, Node]] = [(ident, node)]
    while ready:
        current, content = ready.pop(0)
        if current in table:
            continue
        table[current] = content
        heads -= set(content.parents)
        heads.add(current)
        crdt = rules.apply(replica.config, table, crdt, current, content)
        applied.append(current)
        for entry in list(pending):
            if all(p in table for p in entry[2].parents):
                pending.remove(entry)
                ready.append((entry[1], entry[2]))
    after = attrs.evolve(
        replica,
        store=tuple(sorted(table.items())),
        heads=tuple(sorted(heads)),
        pending=tuple(pending),
        crdt=crdt,
    )
    return after, tuple(applied)


def value(replica: Replica) -> tuple[tuple[str, ...], int]:
    """What a client reads: the set's elements and the counter's value."""
    return spec.value(replica.crdt)
