"""Merkle hash trees of an append-only log: tree hash, inclusion and consistency proofs.

Source
    RFC 9162, "Certificate Transparency Version 2.0" (Laurie, Messeri, Stradling, 2021), §2.1
    (the same definitions as RFC 6962 §2.1):

    §2.1.1   ``MTH({}) = HASH()``; ``MTH({d(0)}) = HASH(0x00 || d(0))``; for n > 1, with k the
             largest power of two smaller than n, ``MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) ||
             MTH(D[k:n]))``. The 0x00 / 0x01 prefixes are the *domain separation* of leaves and
             interior nodes (the second-preimage defence, §2.1.1's note).
    §2.1.3.1 ``PATH(m, D[n])``: ``PATH(0, {d(0)}) = {}``; for n > 1, if m < k then
             ``PATH(m, D[0:k]) : MTH(D[k:n])``, else ``PATH(m - k, D[k:n]) : MTH(D[0:k])``.
    §2.1.3.2 the verifier's loop over the path (``fn``, ``sn``; implemented in
             :mod:`mnemosyne_consensus.impl.merkle_tree`).
    §2.1.4.1 ``PROOF(m, D[n]) = SUBPROOF(m, D[n], true)`` for 0 < m < n, with
             ``SUBPROOF(m, D[m], true) = {}``, ``SUBPROOF(m, D[m], false) = {MTH(D[m])}``, and for
             m < n: if m <= k, ``SUBPROOF(m, D[0:k], b) : MTH(D[k:n])``, else
             ``SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])``.
    §2.1.4.2 the verifier's loop over the consistency path (``fn``, ``sn``, ``fr``, ``sr``; in
             the impl).

This module is the *definition*: the recursive functions of §2.1.1, §2.1.3.1 and §2.1.4.1 as
written, and verification stated declaratively, by running those recursions backwards (the
root a path yields when its hashes are put where ``PATH``/``SUBPROOF`` put them). The impl
runs the RFC's bit-twiddling loops of §2.1.3.2 and §2.1.4.2; the model checks that the two agree
on every proof, honest or tampered (``refinement``).

Sizes RFC 9162 leaves open. ``PROOF`` is defined for 0 < m < n only. Like the Go reference
(transparency-dev/merkle ``proof.VerifyConsistency``) a consistency claim with m = n holds iff the
path is empty and the roots are equal. Unlike it, a claim with m = 0 is refused: the Go code
accepts any roots with an empty path, so such a claim "verifies" whatever its second root is,
which would break "verifies iff honest" for a reason that has nothing to do with the proof. A
verifier's *first* tree head is therefore adopted without a consistency proof (trust on first
use: in CT the head is taken on the log's signature, §4.10), every later one only with a proof
from the trusted head. An inclusion claim needs index < size.

State (the model's "protocol": an append-only log and a verifier)
    ``log``       -- the leaves of the log, in order (only ever appended to);
    ``trusted``   -- the verifier's trusted tree head (size, root), initially the empty tree;
    ``previous``  -- the head it trusted before (ghost: read by the invariant only);
    ``last``      -- the verdict of the last proof the verifier checked (ghost).

Actions (one per rule)
    ``Append(leaf)``               -- the log appends a leaf (§2.1: logs are append-only);
    ``CheckInclusion(claim)``      -- the verifier checks an inclusion claim (§2.1.3.2);
    ``CheckConsistency(claim)``    -- the verifier checks a consistency claim (§2.1.4.2);
    ``UpdateHead(size, root, path)`` -- the verifier moves its trusted head forward iff the
                                     consistency proof from its current head verifies
                                     (:func:`head_update_holds`).

Hash collision resistance of SHA-256 is an assumption throughout: "verifies iff honest" means
"iff honest, or the adversary found a SHA-256 collision", which no check here can exclude.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from cryptography.hazmat.primitives import hashes

Hash = bytes

# -- Hashing (§2.1.1) ----------------------------------------------------------------------------


def sha256(data: bytes) -> Hash:
    """SHA-256 through ``cryptography`` (RFC 9162 §2.1: the log's hash algorithm)."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


@attrs.frozen
class Hasher:
    """How leaves and interior nodes are hashed; the model swaps a broken one in (mutants)."""

    empty: Callable[[], Hash]
    leaf: Callable[[bytes], Hash]
    node: Callable[[Hash, Hash], Hash]


def rfc_leaf_hash(data: bytes) -> Hash:
    """``HASH(0x00 || d)``: a leaf (§2.1.1)."""
    return sha256(b"\x00" + data)


def rfc_node_hash(left: Hash, right: Hash) -> Hash:
    """``HASH(0x01 || left || right)``: an interior node (§2.1.1)."""
    return sha256(b"\x01" + left + right)


def rfc_empty_hash() -> Hash:
    """``MTH({}) = HASH()``: the hash of the empty string (§2.1.1)."""
    return sha256(b"")


RFC_HASHER = Hasher(empty=rfc_empty_hash, leaf=rfc_leaf_hash, node=rfc_node_hash)


def split(n: int) -> int:
    """k: the largest power of two smaller than n (n > 1), §2.1.1."""
    if n < 2:
        raise ValueError(f"split of a tree of {n} leaves")
    return 1 << ((n - 1).bit_length() - 1)


def mth(leaves: tuple[bytes, ...], h: Hasher = RFC_HASHER) -> Hash:
    """The Merkle Tree Hash ``MTH(D[n])`` (§2.1.1)."""
    n = len(leaves)
    if n == 0:
        return h.empty()
    if n == 1:
        return h.leaf(leaves[0])
    k = split(n)
    return h.node(mth(leaves[:k], h), mth(leaves[k:], h))


# -- Proof generation (§2.1.3.1, §2.1.4.1) -------------------------------------------------------


def path(m: int, leaves: tuple[bytes, ...], h: Hasher = RFC_HASHER) -> tuple[Hash, ...]:
    """``PATH(m, D[n])``, the inclusion proof of leaf m (§2.1.3.1); needs 0 <= m < n."""
    n = len(leaves)
    if not 0 <= m < n:
        raise ValueError(f"PATH({m}, D[{n}]) is undefined")
    if n == 1:
        return ()
    k = split(n)
    if m < k:
        return (*path(m, leaves[:k], h), mth(leaves[k:], h))
    return (*path(m - k, leaves[k:], h), mth(leaves[:k], h))


def subproof(
    m: int, leaves: tuple[bytes, ...], b: bool, h: Hasher = RFC_HASHER
) -> tuple[Hash, ...]:
    """``SUBPROOF(m, D[n], b)`` (§2.1.4.1); needs 0 < m <= n."""
    n = len(leaves)
    if m == n:
        return () if b else (mth(leaves, h),)
    k = split(n)
    if m <= k:
        return (*subproof(m, leaves[:k], b, h), mth(leaves[k:], h))
    return (*subproof(m - k, leaves[k:], False, h), mth(leaves[:k], h))


def proof(m: int, leaves: tuple[bytes, ...], h: Hasher = RFC_HASHER) -> tuple[Hash, ...]:
    """``PROOF(m, D[n])`` (§2.1.4.1), extended to m = 0 and m = n by the empty proof."""
    n = len(leaves)
    if not 0 <= m <= n:
        raise ValueError(f"PROOF({m}, D[{n}]) is undefined")
    if m in (0, n):
        return ()
    return subproof(m, leaves, True, h)


# -- Verification, declaratively: the recursions run backwards ----------------------------------


def root_from_path(
    m: int, n: int, leaf_hash: Hash, hashes_: tuple[Hash, ...], h: Hasher = RFC_HASHER
) -> Hash | None:
    """The root that ``hashes_`` yields as ``PATH(m, D[n])`` around the leaf; None if ill-shaped.

    The last hash of a path is the sibling of the top split (§2.1.3.1 appends it last): it is on
    the right when m is in the left subtree (m < k), on the left otherwise.
    """
    if not 0 <= m < n:
        return None
    if n == 1:
        return leaf_hash if not hashes_ else None
    if not hashes_:
        return None
    k = split(n)
    if m < k:
        inner = root_from_path(m, k, leaf_hash, hashes_[:-1], h)
        return None if inner is None else h.node(inner, hashes_[-1])
    inner = root_from_path(m - k, n - k, leaf_hash, hashes_[:-1], h)
    return None if inner is None else h.node(hashes_[-1], inner)


def inclusion_holds(
    index: int,
    size: int,
    leaf: bytes,
    hashes_: tuple[Hash, ...],
    root: Hash,
    h: Hasher = RFC_HASHER,
) -> bool:
    """The leaf is at ``index`` of the tree of ``size`` leaves and root ``root``, by the path."""
    return root_from_path(index, size, h.leaf(leaf), hashes_, h) == root


def roots_from_subproof(
    m: int, n: int, b: bool, first: Hash, hashes_: tuple[Hash, ...], h: Hasher = RFC_HASHER
) -> tuple[Hash, Hash] | None:
    """(old root, new root) that ``hashes_`` yields as ``SUBPROOF(m, D[n], b)``; None if ill-shaped.

    With b true and m = n the subtree *is* the old tree, whose root the verifier already holds
    (``first``); with b false it is the proof's single hash. Otherwise the last hash is the
    sibling of the top split, as in :func:`root_from_path`.
    """
    if m == n:
        if b:
            return (first, first) if not hashes_ else None
        return (hashes_[0], hashes_[0]) if len(hashes_) == 1 else None
    if not hashes_:
        return None
    k = split(n)
    if m <= k:
        inner = roots_from_subproof(m, k, b, first, hashes_[:-1], h)
        if inner is None:
            return None
        return inner[0], h.node(inner[1], hashes_[-1])
    inner = roots_from_subproof(m - k, n - k, False, first, hashes_[:-1], h)
    if inner is None:
        return None
    return h.node(hashes_[-1], inner[0]), h.node(hashes_[-1], inner[1])


def consistency_holds(
    first: int,
    second: int,
    first_root: Hash,
    second_root: Hash,
    hashes_: tuple[Hash, ...],
    h: Hasher = RFC_HASHER,
) -> bool:
    """The tree of ``first`` leaves and root ``first_root`` is a prefix of the second one."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not hashes_ and first_root == second_root
    if first == 0:
        return False  # PROOF(0, D[n]) is undefined (§2.1.4.1): there is nothing to prove
    roots = roots_from_subproof(first, second, True, first_root, hashes_, h)
    return roots == (first_root, second_root)


# -- Claims: what a verifier is handed -----------------------------------------------------------


@attrs.frozen
class InclusionClaim:
    """ "``leaf`` is entry ``index`` of the tree of ``size`` leaves whose root is ``root``"."""

    index: int
    size: int
    leaf: bytes
    path: tuple[Hash, ...]
    root: Hash


@attrs.frozen
class ConsistencyClaim:
    """ "The tree (``first``, ``first_root``) is a prefix of (``second``, ``second_root``)"."""

    first: int
    second: int
    first_root: Hash
    second_root: Hash
    path: tuple[Hash, ...]


@attrs.frozen(cache_hash=True)
class TreeHead:
    size: int
    root: Hash


def honest_inclusion(claim: InclusionClaim, tree: tuple[bytes, ...] | None, h: Hasher) -> bool:
    """The claim is the one an honest log with leaves ``tree`` generates (§2.1.3.1).

    ``tree`` is the tree the claim's root names (None: no tree of the universe has that root).
    """
    return (
        tree is not None
        and len(tree) == claim.size
        and 0 <= claim.index < claim.size
        and tree[claim.index] == claim.leaf
        and mth(tree, h) == claim.root
        and path(claim.index, tree, h) == claim.path
    )


def honest_consistency(
    claim: ConsistencyClaim,
    old: tuple[bytes, ...] | None,
    new: tuple[bytes, ...] | None,
    h: Hasher,
) -> bool:
    """The claim is the one an honest log generates between its trees ``old`` and ``new``."""
    if claim.first == claim.second:
        # the relation claimed is equality of the roots, which the claim itself shows
        return not claim.path and claim.first_root == claim.second_root
    return (
        0 < claim.first
        and old is not None
        and new is not None
        and len(old) == claim.first
        and len(new) == claim.second
        and claim.first <= claim.second
        and new[: claim.first] == old
        and mth(old, h) == claim.first_root
        and mth(new, h) == claim.second_root
        and proof(claim.first, new, h) == claim.path
    )


# -- State and actions ---------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class Verdict:
    """What the verifier said about a claim, next to what the claim was (ghost)."""

    kind: str  # "inclusion" or "consistency"
    honest: bool  # the claim is what an honest log generates for the trees it names
    accepted: bool  # the verifier accepted it


@attrs.frozen(cache_hash=True)
class LogState:
    # the log (prover): its leaves, append-only
    log: tuple[bytes, ...]
    # the verifier: its trusted head, and the one it trusted before (ghost)
    trusted: TreeHead
    previous: TreeHead
    # ghost: the verdict on the last claim checked
    last: Verdict | None


def initial_state(h: Hasher = RFC_HASHER) -> LogState:
    empty = TreeHead(0, mth((), h))
    return LogState(log=(), trusted=empty, previous=empty, last=None)


def append_enabled(state: LogState, max_size: int) -> bool:
    # Verify the bound of the model run (the RFC's logs are unbounded)
    return len(state.log) < max_size


def apply_append(state: LogState, leaf: bytes) -> LogState:
    """§2.1: the log appends one entry; nothing already in it changes."""
    return attrs.evolve(state, log=(*state.log, leaf))


def head_update_holds(
    trusted: TreeHead, head: TreeHead, hashes_: tuple[Hash, ...], h: Hasher = RFC_HASHER
) -> bool:
    """The verifier may move from ``trusted`` to ``head`` with proof ``hashes_``.

    From the empty tree, the first head is taken as given (with an empty proof): trust on first
    use. Otherwise the proof must show the trusted tree a prefix of the new one (§2.1.4.2).
    """
    if trusted.size == 0:
        return not hashes_
    return consistency_holds(trusted.size, head.size, trusted.root, head.root, hashes_, h)


def apply_update_head(state: LogState, head: TreeHead, accepted: bool) -> LogState:
    """The verifier adopts ``head`` iff :func:`head_update_holds`."""
    if not accepted:
        return state
    return attrs.evolve(state, previous=state.trusted, trusted=head)


# -- Invariants (named predicates) ---------------------------------------------------------------


def inclusion_verifies_iff_honest(state: LogState) -> bool:
    """An inclusion proof is accepted iff it was honestly generated for the tree it names."""
    last = state.last
    return last is None or last.kind != "inclusion" or last.accepted == last.honest


def consistency_verifies_iff_honest(state: LogState) -> bool:
    """A consistency proof is accepted iff it was honestly generated for the trees it names."""
    last = state.last
    return last is None or last.kind != "consistency" or last.accepted == last.honest


def append_only_consistent(
    state: LogState,
    verify: Callable[[ConsistencyClaim], bool],
    generate: Callable[[int, tuple[bytes, ...]], tuple[Hash, ...]],
    h: Hasher = RFC_HASHER,
) -> bool:
    """Every old root of the log is consistent with every newer one, by the proofs it serves."""
    log = state.log
    roots = [mth(log[:size], h) for size in range(len(log) + 1)]
    for second in range(1, len(log) + 1):
        for first in range(1, second + 1):
            claim = ConsistencyClaim(
                first, second, roots[first], roots[second], generate(first, log[:second])
            )
            if not verify(claim):
                return False
    return True


def heads_append_only(
    state: LogState, tree_of: Callable[[TreeHead], tuple[bytes, ...] | None]
) -> bool:
    """The verifier's previous head names a prefix of the tree its trusted head names."""
    old, new = tree_of(state.previous), tree_of(state.trusted)
    return old is not None and new is not None and new[: len(old)] == old


# -- Reachables ----------------------------------------------------------------------------------


def tampered_proof_rejected(state: LogState) -> bool:
    """Sometimes: a dishonest proof is checked (and, when the invariant holds, rejected)."""
    return state.last is not None and not state.last.honest


def honest_proof_accepted(state: LogState) -> bool:
    """Sometimes: an honest proof is checked."""
    return state.last is not None and state.last.honest


def head_advanced(state: LogState) -> bool:
    """Sometimes: the verifier moved its trusted head forward from a non-empty one."""
    return state.previous.size > 0 and state.trusted.size > state.previous.size
