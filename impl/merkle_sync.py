"""A sans-IO Merkle-sync peer: ``step(node, event) -> (node, effects)``, Ed25519-signed roots.

Refines :mod:`mnemosyne_consensus.spec.merkle_sync` (compact sparse Merkle tree over SHA-256 key
hashes; one-way pull). One node type plays both roles:

Responder (any peer)
    ``Receive(RootRequest())``         -> send ``SignedRoot(root, count, signature)``, signed with
                                          the node's Ed25519 seed over ``"mnemosyne/merkle-sync/
                                          root" || root || count``;
    ``Receive(NodeRequest(path))``     -> send ``NodeAnswer(path, view)``: ``Empty``, ``Leaf(key,
                                          value)`` or ``Branch(count, left, right)``.
Requester (pulling the peer's state)
    ``StartSync()``                    -> send ``RootRequest()``;
    ``Receive(SignedRoot(...))``       -> check the signature with the peer's public key; if the
                                          root is ours, done; else request the root node;
    ``Receive(NodeAnswer(path, view))`` -> check that ``path`` was asked for, that the view
                                          hashes to the hash already authenticated for it (the
                                          signed root, or a branch above it: together they are
                                          the leaf's Merkle proof), that a leaf's key lies under
                                          the path and a branch has two or more keys; request
                                          each child whose hash differs from ours at the same
                                          path; keep leaves and empties *staged*. When nothing is
                                          pending, assemble the new state (ours outside the
                                          staged subtrees, the staged leaves inside), check that
                                          its root is the signed root, and only then apply it.

A lie -- a wrong hash, a wrong or misplaced leaf, a forged signature, a malformed, replayed,
duplicated or unrequested answer -- is a :class:`Fault` with the node left unchanged: nothing of
the peer's data is applied before the whole pull verified. Endless or cyclic answers cannot make
the requester loop: it only asks for paths it chose itself, each at most once (a repeated
answer is unrequested), never deeper than 256 levels, and at most ``2 + 2 · 257 · (n_peer +
n_own)`` requests per pull (the counts from the signed root and our own state;
``BUDGET_EXCEEDED`` beyond).

The tree index (:class:`Index`) is derived data kept beside the store: key hashes sorted, and the
hash of every branch by path, so that the hash and view at any path cost one binary search and
one look-up. No clocks, randomness or I/O; keys are inputs (seeds in the configuration).
"""

from __future__ import annotations

import bisect
import enum
import hashlib
from collections.abc import Iterable
from typing import Any

import attrs

from ..spec.merkle_sync import (
    DEPTH,
    EMPTY,
    ROOT,
    Branch,
    Empty,
    Hash,
    Leaf,
    Path,
    Store,
    View,
    branch_hash,
    children,
    view_hash,
)
from . import ed25519

SIGNING_DOMAIN = b"mnemosyne/merkle-sync/root"

# -- Keys and signatures -------------------------------------------------------------------------


def derive_seed(peer: int, label: str = "mnemosyne/merkle-sync") -> bytes:
    """A fixed 32-byte Ed25519 seed for a peer (test keys: public, deterministic)."""
    return ed25519.derive_seed(f"{label}/{peer}")


public_key = ed25519.public_key


def signed_bytes(root: Hash, count: int) -> bytes:
    return SIGNING_DOMAIN + root + count.to_bytes(8, "big")


def sign_root(seed: bytes, root: Hash, count: int) -> bytes:
    return ed25519.sign(seed, signed_bytes(root, count))


def root_signed_by(key: bytes, root: Hash, count: int, signature: bytes) -> bool:
    return ed25519.verifies(key, signed_bytes(root, count), signature)


# -- The tree index ------------------------------------------------------------------------------


def _kh_int(key: bytes) -> int:
    return int.from_bytes(hashlib.sha256(key).digest(), "big")


def _node_id(path: Path) -> int:
    depth, prefix = path
    return (1 << depth) | prefix


def _leaf(kh: int, key: bytes, value: bytes) -> Hash:
    return hashlib.sha256(b"\x00" + kh.to_bytes(32, "big") + value).digest()


@attrs.frozen(eq=False)
class Index:
    """Key hashes in order, the entries in that order, and every branch's hash by path."""

    khs: list[int]
    entries: list[tuple[bytes, bytes]]
    branches: dict[int, Hash]

    def bounds(self, path: Path) -> tuple[int, int]:
        depth, prefix = path
        shift = DEPTH - depth
        lo = bisect.bisect_left(self.khs, prefix << shift)
        hi = bisect.bisect_left(self.khs, (prefix + 1) << shift, lo)
        return lo, hi

    def hash_at(self, path: Path) -> Hash:
        lo, hi = self.bounds(path)
        if hi == lo:
            return EMPTY
        if hi - lo == 1:
            key, value = self.entries[lo]
            return _leaf(self.khs[lo], key, value)
        return self.branches[_node_id(path)]

    def view_at(self, path: Path) -> View:
        lo, hi = self.bounds(path)
        if hi == lo:
            return Empty()
        if hi - lo == 1:
            return Leaf(*self.entries[lo])
        left, right = children(path)
        return Branch(hi - lo, self.hash_at(left), self.hash_at(right))

    @property
    def count(self) -> int:
        return len(self.khs)

    @property
    def root(self) -> Hash:
        return self.hash_at(ROOT)


def build_index(store: Iterable[tuple[bytes, bytes]]) -> Index:
    """The index of a store: O(n) hashes (one per leaf, one per branch)."""
    ordered = sorted((_kh_int(k), k, v) for k, v in store)
    khs = [kh for kh, _, _ in ordered]
    entries = [(k, v) for _, k, v in ordered]
    branches: dict[int, Hash] = {}

    def build(lo: int, hi: int, depth: int, prefix: int) -> Hash:
        if hi == lo:
            return EMPTY
        if hi - lo == 1:
            return _leaf(khs[lo], *entries[lo])
        mid = bisect.bisect_left(khs, (2 * prefix + 1) << (DEPTH - depth - 1), lo, hi)
        left = build(lo, mid, depth + 1, 2 * prefix)
        right = build(mid, hi, depth + 1, 2 * prefix + 1)
        digest = branch_hash(hi - lo, left, right)
        branches[(1 << depth) | prefix] = digest
        return digest

    build(0, len(khs), 0, 0)
    return Index(khs, entries, branches)


def replaced(index: Index, removed: list[Path], added: list[tuple[bytes, bytes]]) -> Index:
    """The index with every entry under the ``removed`` paths dropped and ``added`` put in.

    Only branches on the paths of the keys that left or came are rehashed, so a pull of d keys
    into n costs O(n) list copying (memory moves, no Python loop over n) and O(d · depth)
    hashing.
    """
    ranges = sorted(index.bounds(path) for path in removed)
    khs: list[int] = []
    entries: list[tuple[bytes, bytes]] = []
    touched: set[int] = set()
    start = 0
    for lo, hi in ranges:
        if lo < start:  # nested in a range already dropped
            lo = start
        khs.extend(index.khs[start:lo])
        entries.extend(index.entries[start:lo])
        touched.update(index.khs[lo:hi])
        start = max(start, hi)
    khs.extend(index.khs[start:])
    entries.extend(index.entries[start:])
    for key, value in added:
        kh = _kh_int(key)
        at = bisect.bisect_left(khs, kh)
        if at < len(khs) and khs[at] == kh:  # the same key (a new value)
            entries[at] = (key, value)
        else:
            khs.insert(at, kh)
            entries.insert(at, (key, value))
        touched.add(kh)
    new = Index(khs, entries, dict(index.branches))
    # rehash every ancestor of a touched key, deepest first
    for depth in range(DEPTH - 1, -1, -1):
        for prefix in sorted({kh >> (DEPTH - depth) for kh in touched}):
            path = (depth, prefix)
            node = _node_id(path)
            lo, hi = new.bounds(path)
            if hi - lo < 2:
                new.branches.pop(node, None)
                continue
            left, right = children(path)
            new.branches[node] = branch_hash(hi - lo, new.hash_at(left), new.hash_at(right))
    return new


def _entries_under(index: Index, paths: list[Path]) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    for path in paths:
        lo, hi = index.bounds(path)
        found.update(index.entries[lo:hi])
    return found


def _store_with(store: Store, gone: dict[bytes, bytes], came: dict[bytes, bytes]) -> Store:
    """``store`` (sorted by key) without the keys of ``gone``, with those of ``came``."""
    keys = [k for k, _ in store]
    entries = list(store)
    for key in gone:
        at = bisect.bisect_left(keys, key)
        del keys[at], entries[at]
    for key, value in sorted(came.items()):
        at = bisect.bisect_left(keys, key)
        keys.insert(at, key)
        entries.insert(at, (key, value))
    return tuple(entries)


# -- Messages, events, effects, faults -----------------------------------------------------------


@attrs.frozen(cache_hash=True)
class RootRequest:
    """ "Send me your signed root"."""


@attrs.frozen(cache_hash=True)
class SignedRoot:
    root: Any
    count: Any
    signature: Any


@attrs.frozen(cache_hash=True)
class NodeRequest:
    path: Any


@attrs.frozen(cache_hash=True)
class NodeAnswer:
    path: Any
    view: Any


Message = RootRequest | SignedRoot | NodeRequest | NodeAnswer


@attrs.frozen(cache_hash=True)
class StartSync:
    """The application asks this node to pull its peer's state."""


@attrs.frozen(cache_hash=True)
class Receive:
    message: Message


Event = StartSync | Receive


class FaultKind(enum.Enum):
    """Why a message from the peer was refused. The node is left unchanged."""

    #: a field has the wrong type or shape (a hash that is not 32 bytes, a path out of range)
    MALFORMED = "malformed"
    #: the root's signature is not the peer's (forged, or over another root or count)
    BAD_SIGNATURE = "bad_signature"
    #: nothing asked for this message: a duplicate, a replay, a cycle, or the wrong phase
    UNSOLICITED = "unsolicited"
    #: the node's content does not hash to the hash authenticated for its path
    WRONG_HASH = "wrong_hash"
    #: a leaf whose key hash does not lie under the node's path
    LEAF_OUT_OF_PLACE = "leaf_out_of_place"
    #: not the shape of a compact tree: a branch with fewer than two keys, a root whose count is
    #: not the signed one, or a whole answer whose root is not the signed root
    NONCANONICAL = "noncanonical"
    #: a branch at the depth of a whole key hash (256): there is nothing left to split on
    DEPTH_EXCEEDED = "depth_exceeded"
    #: the answer would need more requests than the pull's bound allows
    BUDGET_EXCEEDED = "budget_exceeded"


class Rejection(enum.Enum):
    """Why a local request was refused (not a fault of the peer)."""

    #: a sync is already under way
    SYNC_IN_PROGRESS = "sync_in_progress"


@attrs.frozen
class Fault:
    kind: FaultKind
    detail: str


@attrs.frozen
class Effects:
    sends: tuple[Message, ...] = ()
    applied: int | None = None  # keys changed by a completed pull (0: already in sync)
    faults: tuple[Fault, ...] = ()
    rejections: tuple[Rejection, ...] = ()


# -- State ---------------------------------------------------------------------------------------


class Phase(enum.Enum):
    IDLE = "idle"
    AWAIT_ROOT = "await_root"
    DESCENDING = "descending"
    DONE = "done"


@attrs.frozen(cache_hash=True)
class Session:
    """The requester's pull under way."""

    phase: Phase = Phase.IDLE
    root: Hash | None = None  # the peer's signed root
    count: int = 0  # the peer's signed key count
    pending: tuple[tuple[Path, Hash], ...] = ()  # paths asked for, with their authenticated hash
    staged: tuple[tuple[Path, Leaf | Empty], ...] = ()  # verified, not yet applied
    requests: int = 0  # requests sent in this pull


@attrs.frozen(cache_hash=True)
class SyncNode:
    # the replicated state, sorted by key
    store: Store
    # identity: my Ed25519 seed (signs my root) and my peer's public key (checks its root)
    seed: bytes
    peer_key: bytes
    # the pull under way
    session: Session
    # derived from ``store``: not part of the state's identity
    index: Index = attrs.field(eq=False, repr=False)


def new(store: Store, seed: bytes, peer_key: bytes) -> SyncNode:
    ordered = tuple(sorted(dict(store).items()))
    return SyncNode(ordered, seed, peer_key, Session(), build_index(ordered))


@attrs.frozen
class SyncOps:
    """Deliberate bugs the model swaps in (mutants); all false in the protocol."""

    apply_before_verify: bool = False
    keeps_deleted_keys: bool = False
    rerequests_on_duplicate: bool = False
    trusts_unsigned_root: bool = False
    wrong_hash_drops_pending: bool = False


STANDARD_OPS = SyncOps()


def request_budget(peer_count: int, own_count: int) -> int:
    return 2 + 2 * (DEPTH + 1) * (peer_count + own_count)


# -- Transitions ---------------------------------------------------------------------------------


def step(node: SyncNode, event: Event, ops: SyncOps = STANDARD_OPS) -> tuple[SyncNode, Effects]:
    if isinstance(event, StartSync):
        return on_start(node)
    if not isinstance(event, Receive):
        raise TypeError(f"a sync node cannot handle event {event!r}")
    message = event.message
    if isinstance(message, RootRequest):
        signature = sign_root(node.seed, node.index.root, node.index.count)
        return node, Effects(sends=(SignedRoot(node.index.root, node.index.count, signature),))
    if isinstance(message, NodeRequest):
        if not is_path(message.path):
            return node, _fault(FaultKind.MALFORMED, f"no node at {message.path!r}")
        return node, Effects(sends=(NodeAnswer(message.path, node.index.view_at(message.path)),))
    if isinstance(message, SignedRoot):
        return on_signed_root(node, message, ops)
    if isinstance(message, NodeAnswer):
        return on_answer(node, message, ops)
    return node, _fault(FaultKind.MALFORMED, f"unknown message {message!r}")


def _fault(kind: FaultKind, detail: str) -> Effects:
    return Effects(faults=(Fault(kind, detail),))


def on_start(node: SyncNode) -> tuple[SyncNode, Effects]:
    # Verify no pull is under way (a finished one may be followed by another)
    if node.session.phase in (Phase.AWAIT_ROOT, Phase.DESCENDING):
        return node, Effects(rejections=(Rejection.SYNC_IN_PROGRESS,))
    session = Session(phase=Phase.AWAIT_ROOT, requests=1)
    return attrs.evolve(node, session=session), Effects(sends=(RootRequest(),))


def on_signed_root(node: SyncNode, message: SignedRoot, ops: SyncOps) -> tuple[SyncNode, Effects]:
    session = node.session
    # Verify a root was asked for
    if session.phase is not Phase.AWAIT_ROOT:
        return node, _fault(FaultKind.UNSOLICITED, "no root was asked for")
    # Verify the message is well formed
    if not (is_hash(message.root) and is_nat(message.count) and type(message.signature) is bytes):
        return node, _fault(FaultKind.MALFORMED, "a signed root needs a hash, a count, bytes")
    # Verify the peer signed this root and count
    signed = root_signed_by(node.peer_key, message.root, message.count, message.signature)
    if not signed and not ops.trusts_unsigned_root:
        return node, _fault(FaultKind.BAD_SIGNATURE, "not signed by the peer")
    if message.root == node.index.root:
        done = Session(Phase.DONE, message.root, message.count, requests=session.requests)
        return attrs.evolve(node, session=done), Effects(applied=0)
    session = Session(
        Phase.DESCENDING,
        message.root,
        message.count,
        pending=((ROOT, message.root),),
        requests=session.requests + 1,
    )
    return attrs.evolve(node, session=session), Effects(sends=(NodeRequest(ROOT),))


def on_answer(node: SyncNode, message: NodeAnswer, ops: SyncOps) -> tuple[SyncNode, Effects]:
    session = node.session
    pending = dict(session.pending)
    # Verify this node was asked for (and not answered yet)
    if session.phase is not Phase.DESCENDING or message.path not in pending:
        if ops.rerequests_on_duplicate and session.phase is Phase.DESCENDING:
            # mutant: asks again for something, counting one more request
            again = attrs.evolve(session, requests=session.requests + 1)
            return attrs.evolve(node, session=again), _fault(FaultKind.UNSOLICITED, "again")
        return node, _fault(FaultKind.UNSOLICITED, f"{message.path!r} was not asked for")
    path, view = message.path, message.view
    # Verify the view is well formed
    if not is_view(view):
        return node, _fault(FaultKind.MALFORMED, f"not a node view: {view!r}")
    if ops.apply_before_verify and isinstance(view, Leaf):
        # mutant: writes the leaf into the store before checking it
        store = tuple(sorted({**dict(node.store), view.key: view.value}.items()))
        node = attrs.evolve(node, store=store, index=build_index(store))
    # Verify the view hashes to the hash authenticated for this path
    if view_hash(view) != pending[path]:
        if ops.wrong_hash_drops_pending:  # mutant: gives up on the path, yet reports a fault
            del pending[path]
            lost = attrs.evolve(session, pending=tuple(sorted(pending.items())))
            return attrs.evolve(node, session=lost), _fault(FaultKind.WRONG_HASH, "dropped")
        return node, _fault(FaultKind.WRONG_HASH, f"the node at {path} does not hash right")
    # Verify a leaf lies under its path
    if isinstance(view, Leaf) and not _under(_kh_int(view.key), path):
        return node, _fault(FaultKind.LEAF_OUT_OF_PLACE, f"{view.key!r} is not under {path}")
    # Verify a branch has the shape of a compact tree, and the root the signed count
    if isinstance(view, Branch) and view.count < 2:
        return node, _fault(FaultKind.NONCANONICAL, "a branch over fewer than two keys")
    if path == ROOT and _count(view) != session.count:
        return node, _fault(FaultKind.NONCANONICAL, "the root's count is not the signed one")
    if isinstance(view, Branch) and path[0] >= DEPTH:
        return node, _fault(FaultKind.DEPTH_EXCEEDED, f"a branch at depth {path[0]}")
    del pending[path]
    sends: list[Message] = []
    staged = dict(session.staged)
    if isinstance(view, Branch):
        # Descend only into the children whose hash differs from ours at the same path
        for child, digest in zip(children(path), (view.left, view.right), strict=True):
            if node.index.hash_at(child) != digest:
                pending[child] = digest
                sends.append(NodeRequest(child))
    else:
        staged[path] = view
    requests = session.requests + len(sends)
    # Verify the pull stays within its request budget
    if requests > request_budget(session.count, node.index.count):
        return node, _fault(FaultKind.BUDGET_EXCEEDED, f"{requests} requests")
    session = attrs.evolve(
        session,
        pending=tuple(sorted(pending.items())),
        staged=tuple(sorted(staged.items())),
        requests=requests,
    )
    if pending:
        return attrs.evolve(node, session=session), Effects(sends=tuple(sends))
    return finish(node, session, ops)


def finish(node: SyncNode, session: Session, ops: SyncOps) -> tuple[SyncNode, Effects]:
    """Everything differing is fetched and checked: assemble, check the root, then apply."""
    removed = [path for path, _ in session.staged]
    added = [(v.key, v.value) for _, v in session.staged if isinstance(v, Leaf)]
    if ops.keeps_deleted_keys:  # mutant: a union, not a pull (and no root check)
        merged = {**dict(node.store), **dict(added)}
        index = build_index(merged.items())
        store = tuple(sorted(merged.items()))
        changed = _changed(node.store, store)
    else:
        index = replaced(node.index, removed, added)
        # Verify the assembled state is the one the peer signed
        if index.root != session.root:
            return node, _fault(FaultKind.NONCANONICAL, "the assembled root is not the signed one")
        gone, came = _entries_under(node.index, removed), dict(added)
        store = _store_with(node.store, gone, came)
        changed = sum(1 for k in gone.keys() | came.keys() if gone.get(k) != came.get(k))
    done = attrs.evolve(session, phase=Phase.DONE, pending=(), staged=())
    return SyncNode(store, node.seed, node.peer_key, done, index), Effects(applied=changed)


def _changed(before: Store, after: Store) -> int:
    old, new_ = dict(before), dict(after)
    return sum(1 for k in old.keys() | new_.keys() if old.get(k) != new_.get(k))


def _count(view: View) -> int:
    if isinstance(view, Empty):
        return 0
    if isinstance(view, Leaf):
        return 1
    return view.count


def _under(kh: int, path: Path) -> bool:
    depth, prefix = path
    return kh >> (DEPTH - depth) == prefix


# -- Validation helpers ----------------------------------------------------------------------------


def is_nat(value: Any) -> bool:
    return type(value) is int and value >= 0


def is_hash(value: Any) -> bool:
    return type(value) is bytes and len(value) == 32


def is_path(value: Any) -> bool:
    return (
        type(value) is tuple
        and len(value) == 2
        and is_nat(value[0])
        and value[0] <= DEPTH
        and is_nat(value[1])
        and value[1] < (1 << value[0])
    )


def is_view(value: Any) -> bool:
    if isinstance(value, Empty):
        return True
    if isinstance(value, Leaf):
        return type(value.key) is bytes and type(value.value) is bytes
    if isinstance(value, Branch):
        return is_nat(value.count) and is_hash(value.left) and is_hash(value.right)
    return False
