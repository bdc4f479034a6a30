"""A sans-IO Merkle-log verifier, with the RFC 9162 proof loops and a level-indexed prover.

Refines :mod:`mnemosyne_consensus.spec.merkle_tree` (RFC 9162 §2.1). Two halves:

Prover (the log's side): :class:`LogTree` keeps the leaf hashes and, level by level, the hashes
of every complete aligned subtree of 2^i leaves, so that ``MTH`` of any range the RFC's recursion
asks for costs O(log n) look-ups; :func:`inclusion_path` and :func:`consistency_path` produce
exactly ``PATH`` (§2.1.3.1) and ``PROOF`` (§2.1.4.1).

Verifier (a client or auditor): :func:`verify_inclusion` is RFC 9162 §2.1.3.2 step by step and
:func:`verify_consistency` is §2.1.4.2 step by step (the ``fn``/``sn`` loops), taking sizes, hashes
and paths as received. The node :class:`VerifierState` holds the tree head it trusts; events

    ``ReceiveHead(size, root, path)``          -- a newer tree head and the consistency proof
                                                  from the trusted one: adopt it iff it verifies;
    ``ReceiveInclusion(index, size, leaf, path, root)``
                                               -- check that ``leaf`` is in that tree;
    ``ReceiveConsistency(first, second, first_root, second_root, path)``
                                               -- check that one tree extends another.

Effects: ``accepted`` (what was verified: "head", "inclusion", "consistency"; None on a fault)
and ``faults``. A bad message returns a typed :class:`Fault` and leaves the state unchanged.
Signing tree heads (RFC 9162 §4.10) is outside this protocol: merkle-sync signs its roots.
No clocks, randomness or I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs

from ..spec.merkle_tree import RFC_HASHER, Hash, Hasher, TreeHead

HASH_SIZE = 32

# -- The verifier's loops (RFC 9162 §2.1.3.2 and §2.1.4.2) ---------------------------------------


def verify_inclusion(
    index: int,
    size: int,
    leaf_hash: Hash,
    hashes: tuple[Hash, ...],
    root: Hash,
    h: Hasher = RFC_HASHER,
) -> bool:
    """RFC 9162 §2.1.3.2, steps 1-5."""
    # 1. Compare leaf_index against tree_size; fail if leaf_index >= tree_size
    if index >= size:
        return False
    # 2. Set fn to leaf_index and sn to tree_size - 1
    fn, sn = index, size - 1
    # 3. Set r to hash
    r = leaf_hash
    # 4. For each value p in the inclusion_path array
    for p in hashes:
        # a. If sn is 0, stop the iteration and fail
        if sn == 0:
            return False
        # b. If LSB(fn) is set, or if fn is equal to sn, then
        if fn & 1 or fn == sn:
            # 1. Set r to HASH(0x01 || p || r)
            r = h.node(p, r)
            # 2. If LSB(fn) is not set, right-shift both fn and sn equally until either LSB(fn)
            #    is set or fn is 0
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            # Otherwise set r to HASH(0x01 || r || p)
            r = h.node(r, p)
        # c. Finally, right-shift both fn and sn one time
        fn >>= 1
        sn >>= 1
    # 5. Compare sn to 0 and r against the root_hash
    return sn == 0 and r == root


def verify_consistency(
    first: int,
    second: int,
    first_hash: Hash,
    second_hash: Hash,
    hashes: tuple[Hash, ...],
    h: Hasher = RFC_HASHER,
    check_first: bool = True,
    prepend_first: bool = True,
) -> bool:
    """RFC 9162 §2.1.4.2, steps 1-7, for 0 < first < second; the edge sizes as the spec says.

    ``check_first`` and ``prepend_first`` are true in the protocol; the model's mutants turn off
    step 7's comparison of ``fr`` with ``first_hash`` and step 2's prepending.
    """
    if not 0 <= first <= second:
        return False
    if first == second:
        return not hashes and first_hash == second_hash
    if first == 0:
        return False  # PROOF(0, D[n]) is undefined (§2.1.4.1); see the spec's module docstring
    # 1. If consistency_path is an empty array, stop and fail
    if not hashes:
        return False
    path = list(hashes)
    # 2. If first is an exact power of 2, prepend first_hash to the consistency_path array
    if first & (first - 1) == 0 and prepend_first:
        path.insert(0, first_hash)
    # 3. Set fn to first - 1 and sn to second - 1
    fn, sn = first - 1, second - 1
    # 4. If LSB(fn) is set, right-shift both fn and sn equally until LSB(fn) is not set
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. Set both fr and sr to the first value in the consistency_path array
    fr = sr = path[0]
    # 6. For each subsequent value c in the consistency_path array
    for c in path[1:]:
        # a. If sn is 0, stop the iteration and fail
        if sn == 0:
            return False
        # b. If LSB(fn) is set, or if fn is equal to sn, then
        if fn & 1 or fn == sn:
            # 1. Set fr to HASH(0x01 || c || fr); 2. set sr to HASH(0x01 || c || sr)
            fr = h.node(c, fr)
            sr = h.node(c, sr)
            # 3. If LSB(fn) is not set, right-shift both fn and sn equally until either LSB(fn)
            #    is set or fn is 0
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            # Otherwise set sr to HASH(0x01 || sr || c)
            sr = h.node(sr, c)
        # c. Finally, right-shift both fn and sn one time
        fn >>= 1
        sn >>= 1
    # 7. fr equals first_hash, sr equals second_hash, and sn is 0
    return (fr == first_hash or not check_first) and sr == second_hash and sn == 0


# -- The prover ----------------------------------------------------------------------------------


@attrs.frozen
class LogTree:
    """Leaf hashes and the hashes of all complete aligned subtrees, level by level.

    ``levels[i][j]`` is ``MTH`` of leaves ``[j * 2^i, (j + 1) * 2^i)``.
    """

    levels: tuple[tuple[Hash, ...], ...]
    hasher: Hasher = RFC_HASHER

    @property
    def size(self) -> int:
        return len(self.levels[0]) if self.levels else 0


def build(leaves: tuple[bytes, ...], h: Hasher = RFC_HASHER) -> LogTree:
    """The tree of ``leaves`` (the leaf *data*: hashed here with ``h.leaf``)."""
    return build_from_hashes(tuple(h.leaf(d) for d in leaves), h)


def build_from_hashes(leaf_hashes: tuple[Hash, ...], h: Hasher = RFC_HASHER) -> LogTree:
    levels = [leaf_hashes]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append(tuple(h.node(below[j], below[j + 1]) for j in range(0, len(below) - 1, 2)))
    return LogTree(tuple(levels) if leaf_hashes else (), h)


def range_hash(tree: LogTree, start: int, size: int) -> Hash:
    """``MTH`` of leaves ``[start, start + size)``, where ``start`` is a multiple of the largest
    power of two <= size (every range the RFC's recursion visits is)."""
    h = tree.hasher
    if size == 0:
        return h.empty()
    level = size.bit_length() - 1
    if size == 1 << level:
        return tree.levels[level][start >> level]
    k = 1 << level  # the largest power of two below size (size is not one)
    return h.node(range_hash(tree, start, k), range_hash(tree, start + k, size - k))


def root(tree: LogTree, size: int | None = None) -> Hash:
    """``MTH(D[size])`` of the first ``size`` leaves (default: all)."""
    return range_hash(tree, 0, tree.size if size is None else size)


def inclusion_path(tree: LogTree, index: int, size: int) -> tuple[Hash, ...]:
    """``PATH(index, D[size])`` (§2.1.3.1), without recursion: top split first, then reversed."""
    if not 0 <= index < size <= tree.size:
        raise ValueError(f"no inclusion path for leaf {index} of {size} (log of {tree.size})")
    siblings: list[Hash] = []
    start, n, m = 0, size, index
    while n > 1:
        k = 1 << ((n - 1).bit_length() - 1)
        if m < k:
            siblings.append(range_hash(tree, start + k, n - k))
            n = k
        else:
            siblings.append(range_hash(tree, start, k))
            start, n, m = start + k, n - k, m - k
    return tuple(reversed(siblings))


def consistency_path(tree: LogTree, first: int, second: int) -> tuple[Hash, ...]:
    """``PROOF(first, D[second])`` (§2.1.4.1), without recursion; empty for first in {0, second}."""
    if not 0 <= first <= second <= tree.size:
        raise ValueError(f"no consistency proof from {first} to {second} (log of {tree.size})")
    if first in (0, second):
        return ()
    siblings: list[Hash] = []
    start, n, m, b = 0, second, first, True
    while m != n:
        k = 1 << ((n - 1).bit_length() - 1)
        if m <= k:
            siblings.append(range_hash(tree, start + k, n - k))
            n = k
        else:
            siblings.append(range_hash(tree, start, k))
            start, n, m, b = start + k, n - k, m - k, False
    if not b:
        siblings.append(range_hash(tree, start, n))
    return tuple(reversed(siblings))


# -- The verifier node ---------------------------------------------------------------------------


class FaultKind(enum.Enum):
    """Why a received proof or head was refused. The verifier's state is left unchanged."""

    #: a size or index is not a natural number, or a hash is not 32 bytes
    MALFORMED = "malformed"
    #: the leaf index is not below the tree size (§2.1.3.2 step 1)
    INDEX_OUT_OF_RANGE = "index_out_of_range"
    #: the inclusion path does not lead from the leaf to the root (§2.1.3.2)
    INCLUSION_PROOF_INVALID = "inclusion_proof_invalid"
    #: the second tree is smaller than the first (or the head is older than the trusted one)
    SIZE_REGRESSION = "size_regression"
    #: the consistency path does not join the two roots (§2.1.4.2)
    CONSISTENCY_PROOF_INVALID = "consistency_proof_invalid"


@attrs.frozen
class Fault:
    kind: FaultKind
    detail: str


@attrs.frozen(cache_hash=True)
class ReceiveHead:
    size: Any
    root: Any
    path: Any


@attrs.frozen(cache_hash=True)
class ReceiveInclusion:
    index: Any
    size: Any
    leaf: Any
    path: Any
    root: Any


@attrs.frozen(cache_hash=True)
class ReceiveConsistency:
    first: Any
    second: Any
    first_root: Any
    second_root: Any
    path: Any


Event = ReceiveHead | ReceiveInclusion | ReceiveConsistency


@attrs.frozen
class Effects:
    accepted: str | None = None  # "head", "inclusion" or "consistency"
    faults: tuple[Fault, ...] = ()


@attrs.frozen(cache_hash=True)
class VerifierState:
    # the tree head this verifier trusts (initially the empty tree)
    trusted: TreeHead


def new(h: Hasher = RFC_HASHER) -> VerifierState:
    return VerifierState(TreeHead(0, h.empty()))


@attrs.frozen
class VerifierOps:
    """What the verifier computes with; the model swaps deliberate bugs (mutants) in here."""

    hasher: Hasher
    verify_inclusion: Callable[[int, int, Hash, tuple[Hash, ...], Hash, Hasher], bool]
    verify_consistency: Callable[[int, int, Hash, Hash, tuple[Hash, ...], Hasher], bool]
    # a head is adopted only after its proof verified (the mutants break this)
    head_needs_proof: bool = True
    fault_adopts_size: bool = False


STANDARD_OPS = VerifierOps(
    hasher=RFC_HASHER,
    verify_inclusion=verify_inclusion,
    verify_consistency=verify_consistency,
)


def step(
    state: VerifierState, event: Event, ops: VerifierOps = STANDARD_OPS
) -> tuple[VerifierState, Effects]:
    """The verifier's whole behaviour: one received message in, the new state and effects out."""
    if isinstance(event, ReceiveHead):
        return on_head(state, event, ops)
    if isinstance(event, ReceiveInclusion):
        return state, on_inclusion(event, ops)
    if isinstance(event, ReceiveConsistency):
        return state, on_consistency(event, ops)
    raise TypeError(f"the verifier cannot handle event {event!r}")


def _fault(kind: FaultKind, detail: str) -> Effects:
    return Effects(faults=(Fault(kind, detail),))


def on_head(
    state: VerifierState, event: ReceiveHead, ops: VerifierOps
) -> tuple[VerifierState, Effects]:
    trusted = state.trusted
    # Verify the message is well formed
    if not (is_nat(event.size) and is_hash(event.root) and is_path(event.path)):
        return state, _fault(FaultKind.MALFORMED, "a head needs a size, a root and a path")
    # Verify the head is not older than the trusted one
    if event.size < trusted.size:
        return state, _fault(
            FaultKind.SIZE_REGRESSION, f"head of {event.size} < trusted {trusted.size}"
        )
    # Verify the trusted tree is a prefix of the new one (§2.1.4.2)
    head = TreeHead(event.size, event.root)
    if trusted.size == 0:
        # the first head is taken on trust (the log's signature), with an empty proof
        proved = event.path == ()
    else:
        proved = ops.verify_consistency(
            trusted.size, event.size, trusted.root, event.root, event.path, ops.hasher
        )
    if not proved and ops.head_needs_proof:
        if ops.fault_adopts_size:  # mutant: records the size before checking the proof
            return VerifierState(TreeHead(event.size, trusted.root)), _fault(
                FaultKind.CONSISTENCY_PROOF_INVALID, "the proof does not join the two roots"
            )
        return state, _fault(
            FaultKind.CONSISTENCY_PROOF_INVALID, "the proof does not join the two roots"
        )
    return VerifierState(head), Effects(accepted="head")


def on_inclusion(event: ReceiveInclusion, ops: VerifierOps) -> Effects:
    # Verify the message is well formed
    if not (
        is_nat(event.index)
        and is_nat(event.size)
        and isinstance(event.leaf, bytes)
        and is_path(event.path)
        and is_hash(event.root)
    ):
        return _fault(FaultKind.MALFORMED, "an inclusion proof needs index, size, leaf, path, root")
    # Verify the index is inside the tree (§2.1.3.2 step 1)
    if event.index >= event.size:
        return _fault(FaultKind.INDEX_OUT_OF_RANGE, f"leaf {event.index} of {event.size}")
    # Verify the path leads from the leaf to the root (§2.1.3.2 steps 2-5)
    leaf_hash = ops.hasher.leaf(event.leaf)
    if not ops.verify_inclusion(
        event.index, event.size, leaf_hash, event.path, event.root, ops.hasher
    ):
        return _fault(FaultKind.INCLUSION_PROOF_INVALID, "the path does not lead to the root")
    return Effects(accepted="inclusion")


def on_consistency(event: ReceiveConsistency, ops: VerifierOps) -> Effects:
    # Verify the message is well formed
    if not (
        is_nat(event.first)
        and is_nat(event.second)
        and is_hash(event.first_root)
        and is_hash(event.second_root)
        and is_path(event.path)
    ):
        return _fault(FaultKind.MALFORMED, "a consistency proof needs two sizes, two roots, a path")
    # Verify the second tree is not smaller than the first
    if event.first > event.second:
        return _fault(FaultKind.SIZE_REGRESSION, f"{event.first} > {event.second}")
    # Verify the path joins the two roots (§2.1.4.2)
    if not ops.verify_consistency(
        event.first, event.second, event.first_root, event.second_root, event.path, ops.hasher
    ):
        return _fault(FaultKind.CONSISTENCY_PROOF_INVALID, "the proof does not join the roots")
    return Effects(accepted="consistency")


def is_nat(value: Any) -> bool:
    return type(value) is int and value >= 0


def is_hash(value: Any) -> bool:
    return type(value) is bytes and len(value) == HASH_SIZE


def is_path(value: Any) -> bool:
    return type(value) is tuple and all(is_hash(p) for p in value)


# -- The log node (the prover's state machine) ---------------------------------------------------


@attrs.frozen(cache_hash=True)
class AppendRequest:
    """A client asks the log to append ``leaf`` (its data, any bytes)."""

    leaf: Any


@attrs.frozen(cache_hash=True)
class LogNode:
    # the log's entries, in order (append-only)
    leaves: tuple[bytes, ...]


class RejectReason(enum.Enum):
    """Why the log refused a client request. Its state is left unchanged."""

    #: the leaf is not a byte string
    MALFORMED_LEAF = "malformed_leaf"


@attrs.frozen
class LogEffects:
    head: TreeHead | None = None  # the new tree head after an append
    rejections: tuple[RejectReason, ...] = ()


def step_log(
    node: LogNode, event: AppendRequest, h: Hasher = RFC_HASHER
) -> tuple[LogNode, LogEffects]:
    """The log appends a leaf and announces its new head (RFC 9162 §2.1, append-only)."""
    if not isinstance(event, AppendRequest):
        raise TypeError(f"the log cannot handle event {event!r}")
    # Verify the leaf is data
    if type(event.leaf) is not bytes:
        return node, LogEffects(rejections=(RejectReason.MALFORMED_LEAF,))
    leaves = (*node.leaves, event.leaf)
    return LogNode(leaves), LogEffects(head=TreeHead(len(leaves), root(build(leaves, h))))
