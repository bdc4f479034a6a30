"""Merkle state sync: a key-value state committed by a compact sparse Merkle tree, pulled by a peer.

Sources
    The commitment is a *compact sparse Merkle tree* over SHA-256 key hashes (the sparse Merkle
    tree of Laurie and Kasper, "Revocation Transparency", 2012, with empty subtrees and
    single-key subtrees cut short as in Diem's Jellyfish Merkle tree, Gao et al. 2021, §3).
    Hashing and domain separation follow RFC 9162 §2.1.1 (0x00 for leaves, 0x01 for interior
    nodes). The sync is a descent of differing subtrees, as in anti-entropy with Merkle trees
    (Dynamo, DeCandia et al., SOSP 2007, §4.7), with every answer checked against a hash that is
    already authenticated by the peer's Ed25519-signed root (RFC 8032).

Why this structure (and not the original design notes')
    The design notes' MerkleStateSync compared two trees node by node assuming the same shape.
    Here the shape is a function of the *set of keys present* alone: key k sits on the path given
    by the bits of ``SHA-256(k)``; a subtree with no key is ``EMPTY``, a subtree with exactly one
    key is that key's leaf (wherever it is), and a subtree with two or more keys is a branch over
    its two halves. So the same path names the same key range in both peers' trees, whatever
    their contents, and two peers find their differences by descending only where hashes differ.
    A Merkle search tree would do too; this tree is simpler to state and its depth is
    O(log n) in expectation for hashed keys (at most 256).

Hashes (``H`` = SHA-256)
    ``EMPTY``                         = 32 zero bytes;
    ``leaf(k, v)``                    = H(0x00 || H(k) || v)  (the key hash, then the value);
    ``branch(c, l, r)``               = H(0x01 || c as 8 bytes, big-endian || l || r),
    where c is the number of keys below the branch: it lets a verifier check a branch's shape
    (c >= 2) and bounds the work a peer can cause (see the impl).

Paths
    A node is named by ``(depth, prefix)``: the keys whose hash starts with the ``depth`` bits
    ``prefix``. The root is ``(0, 0)``; the children of ``(d, p)`` are ``(d + 1, 2p)`` and
    ``(d + 1, 2p + 1)``.

Sync semantics (deliberately simple): a one-way *pull*. Peer A asks peer B for B's signed root,
descends every subtree whose hash differs from A's own at the same path, and when every
differing subtree has been fetched and checked, replaces its whole state by B's: keys B has are
set to B's values, keys only A has are deleted. There is no merge rule: to merge both ways, each
peer pulls from the other and the application resolves (a union or last-writer rule belongs in a
CRDT, see merkle-crdt).

State (of the model: two peers, A pulling from B)
    ``a``, ``b``      -- the two stores (sorted tuples of (key, value));
    ``a_initial``     -- A's store before the sync (ghost);
Actions
    ``Pull``          -- A's store becomes B's (the only action that changes a store).
Every other step of the protocol (requests, answers, refused lies) is a stutter of this spec.

Hash collision resistance of SHA-256 and unforgeability of Ed25519 are assumptions: a peer that
finds a collision can make a lie verify; nothing here can rule that out.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from cryptography.hazmat.primitives import hashes

Hash = bytes
Store = tuple[tuple[bytes, bytes], ...]  # sorted by key, one value per key
Path = tuple[int, int]  # (depth, prefix)

DEPTH = 256  # bits of a key hash
EMPTY: Hash = bytes(32)
ROOT: Path = (0, 0)


def sha256(data: bytes) -> Hash:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


def key_hash(key: bytes) -> Hash:
    return sha256(key)


def leaf_hash(key: bytes, value: bytes) -> Hash:
    """``H(0x00 || H(k) || v)``."""
    return sha256(b"\x00" + key_hash(key) + value)


def branch_hash(count: int, left: Hash, right: Hash) -> Hash:
    """``H(0x01 || count || left || right)``."""
    return sha256(b"\x01" + count.to_bytes(8, "big") + left + right)


def prefix_of(kh: Hash, depth: int) -> int:
    """The first ``depth`` bits of a key hash, as an integer."""
    return int.from_bytes(kh, "big") >> (DEPTH - depth)


def under(kh: Hash, path: Path) -> bool:
    """The key hash lies in the subtree at ``path``."""
    depth, prefix = path
    return prefix_of(kh, depth) == prefix


def children(path: Path) -> tuple[Path, Path]:
    depth, prefix = path
    return (depth + 1, 2 * prefix), (depth + 1, 2 * prefix + 1)


def canonical(entries: Mapping[bytes, bytes]) -> Store:
    return tuple(sorted(entries.items()))


# -- The commitment (declarative: a recursion over the set of keys) ------------------------------


@attrs.frozen(cache_hash=True)
class Empty:
    """The view of a subtree with no key."""


@attrs.frozen(cache_hash=True)
class Leaf:
    """The view of a subtree with exactly one key."""

    key: bytes
    value: bytes


@attrs.frozen(cache_hash=True)
class Branch:
    """The view of a subtree with two or more keys: its key count and its halves' hashes."""

    count: int
    left: Hash
    right: Hash


View = Empty | Leaf | Branch


def entries_under(store: Store, path: Path) -> Store:
    return tuple((k, v) for k, v in store if under(key_hash(k), path))


def view_at(store: Store, path: Path) -> View:
    """What an honest peer with ``store`` answers for the node at ``path``."""
    inside = entries_under(store, path)
    if not inside:
        return Empty()
    if len(inside) == 1:
        return Leaf(*inside[0])
    left, right = children(path)
    return Branch(len(inside), hash_at(inside, left), hash_at(inside, right))


def view_hash(view: View) -> Hash:
    if isinstance(view, Empty):
        return EMPTY
    if isinstance(view, Leaf):
        return leaf_hash(view.key, view.value)
    return branch_hash(view.count, view.left, view.right)


def hash_at(store: Store, path: Path) -> Hash:
    """The hash of the subtree at ``path`` of the tree of ``store``."""
    return view_hash(view_at(store, path))


def root_hash(store: Store) -> Hash:
    return hash_at(store, ROOT)


def depth_of(store: Store) -> int:
    """The depth of the deepest branch of the tree (0 for at most one key)."""

    def walk(path: Path, inside: Store) -> int:
        if len(inside) < 2:
            return 0
        left, right = children(path)
        deepest = 0
        for child in (left, right):
            deepest = max(deepest, walk(child, entries_under(inside, child)))
        return 1 + deepest

    return walk(ROOT, store)


def differing_keys(a: Store, b: Store) -> int:
    """d: the keys whose value differs between the stores (present in one only counts)."""
    da, db = dict(a), dict(b)
    return sum(1 for k in set(da) | set(db) if da.get(k) != db.get(k))


def request_bound(a: Store, b: Store) -> int:
    """Requests an honest pull may send: 1 when the roots agree, else 2 + 2·d·(D + 1).

    One root request, one request for B's root node, and at most two children for each branch
    on the way to a differing key: at most D + 1 branches per differing key, D the deeper
    tree's depth. D is O(log n) in expectation for hashed keys, so this is O(d · log n).
    """
    if root_hash(a) == root_hash(b):
        return 1
    depth = max(depth_of(a), depth_of(b))
    return 2 + 2 * differing_keys(a, b) * (depth + 1)


# -- State, action, invariants -------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class SyncState:
    # the two peers' stores
    a: Store
    b: Store
    # ghost: A's store before the sync
    a_initial: Store


def pull_enabled(state: SyncState) -> bool:
    # Verify there is something to pull (a pull of an equal state is a stutter)
    return state.a != state.b


def apply_pull(state: SyncState) -> SyncState:
    """A's state becomes B's: every differing key takes B's value or is deleted."""
    return attrs.evolve(state, a=state.b)


def synced_states_equal(state: SyncState, completed_with_honest_peer: bool) -> bool:
    """After a completed sync with an honest peer, both states are equal."""
    return not completed_with_honest_peer or state.a == state.b


def nothing_unverified_applied(state: SyncState) -> bool:
    """A holds either its own state or the peer's: never a mix, never a lie."""
    return state.a in (state.a_initial, state.b)


def messages_bounded(state: SyncState, requests_sent: int) -> bool:
    """A sent at most :func:`request_bound` requests for this pull."""
    return requests_sent <= request_bound(state.a_initial, state.b)
