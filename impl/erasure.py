"""Reed–Solomon erasure coding (zfec) and a Merkle commitment, for AVID-style broadcast.

Sources: C. Cachin, S. Tessaro, "Asynchronous Verifiable Information Dispersal" (SRDS 2005):
disperse a payload as n erasure-coded blocks of which any k reconstruct it, each block with a
proof of membership in a commitment; Miller et al., "The Honey Badger of BFT Protocols" (CCS
2016), Figure 2 (its reliable broadcast, RBC): the sender encodes v with an (N−2f, N) code into
blocks {s_j}, builds a Merkle tree over them with root h, sends VAL(h, b_j, s_j) to node j with
b_j the branch of s_j; nodes ECHO(h, b_j, s_j); a node that can output decodes v from N−2f
blocks, re-encodes it, recomputes the Merkle root and gives up on the broadcast if that root
is not h. That re-encoding check is :func:`reconstruct` here (INCONSISTENT_SHARES): a Byzantine
sender that commits to blocks of no codeword is detected by every correct node alike, whichever
N−2f blocks each one decodes.

Coding. :func:`encode` frames the payload as an 8-byte big-endian length followed by the bytes,
pads with zeros to a multiple of k and splits it into k equal primary blocks; zfec (Rizzo's
Vandermonde Reed–Solomon code over GF(2^8), a maintained C library) adds n − k secondary
blocks. The code is systematic, and any k distinct blocks give the k primary blocks back.
Limits of zfec: 1 ≤ k ≤ n ≤ 256.

Merkle tree (self-contained; RFC 6962/9162 trees live elsewhere in the project and are not
used here so that this module stands alone): SHA-256, leaf hash H(0x00 ‖ block), node hash
H(0x01 ‖ left ‖ right) (the leaf/node domain separation of RFC 6962 §2.1, which stops a node
being passed off as a leaf); the leaves are padded to the next power of two with H(0x02), so
every branch has exactly ceil(log2 n) siblings, listed from the leaf up.

Everything is a pure function; faults are values (:class:`ErasureFault`), misuse (bad k or n,
non-bytes payload) raises ValueError or TypeError.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence

import attrs
import zfec

LENGTH_BYTES = 8
HASH_BYTES = 32


class ErasureFault(enum.Enum):
    """Why a block, a branch or a set of blocks is refused."""

    MALFORMED = "malformed"
    """A field has the wrong type, or the blocks of a set have different lengths."""
    WRONG_INDEX = "wrong-index"
    """The block's index is not in 0..n−1 (or not the index its branch was made for)."""
    BAD_BRANCH = "bad-branch"
    """The Merkle branch does not lead from the block to the root (or has the wrong length)."""
    DUPLICATE_INDEX = "duplicate-index"
    """Two blocks with one index in the set being decoded."""
    TOO_FEW_SHARES = "too-few-shares"
    """Fewer than k distinct blocks: the payload is not determined."""
    BAD_FRAMING = "bad-framing"
    """The decoded bytes do not hold a length prefix and zero padding consistent with them."""
    INCONSISTENT_SHARES = "inconsistent-shares"
    """Re-encoding the decoded payload does not give the committed root (HB Fig. 2 abort)."""


@attrs.frozen
class Rejected:
    """A refusal: the reason and the offending block's index (None when about the whole set)."""

    reason: ErasureFault
    index: int | None = None


def check_code(k: int, n: int) -> None:
    """Local misuse check of a (k, n) code: 1 ≤ k ≤ n ≤ 256 (zfec's limits)."""
    if not (isinstance(k, int) and isinstance(n, int)):
        raise TypeError("k and n are ints")
    if not 1 <= k <= n <= 256:
        raise ValueError(f"need 1 <= k <= n <= 256, got k={k}, n={n}")


# -- Reed–Solomon coding --------------------------------------------------------------------------


def encode(payload: bytes, k: int, n: int) -> tuple[bytes, ...]:
    """n blocks of equal length, any k of which give ``payload`` back (:func:`decode`)."""
    check_code(k, n)
    if not isinstance(payload, bytes):
        raise TypeError("payload is bytes")
    framed = len(payload).to_bytes(LENGTH_BYTES, "big") + payload
    size = -(-len(framed) // k)
    framed += bytes(size * k - len(framed))
    primary = tuple(framed[j * size : (j + 1) * size] for j in range(k))
    return tuple(bytes(b) for b in zfec.Encoder(k, n).encode(primary))


def _unframe(data: bytes) -> bytes | Rejected:
    if len(data) < LENGTH_BYTES:
        return Rejected(ErasureFault.BAD_FRAMING)
    length = int.from_bytes(data[:LENGTH_BYTES], "big")
    end = LENGTH_BYTES + length
    # Verify the length fits and the padding is zeros (the only padding encode() writes)
    if end > len(data) or any(data[end:]):
        return Rejected(ErasureFault.BAD_FRAMING)
    return data[LENGTH_BYTES:end]


def decode(blocks: Sequence[tuple[int, bytes]], k: int, n: int) -> bytes | Rejected:
    """The payload from (index, block) pairs: at least k distinct indices, equal lengths.

    Refusals, in this order: MALFORMED (not bytes), WRONG_INDEX, DUPLICATE_INDEX, MALFORMED
    (blocks of different lengths, or empty), TOO_FEW_SHARES, BAD_FRAMING. Decodes from the k
    blocks of lowest index. Without a commitment, blocks of no codeword decode to some
    bytes: use :func:`reconstruct` to check them against the Merkle root.
    """
    check_code(k, n)
    seen: dict[int, bytes] = {}
    for index, block in blocks:
        if not isinstance(index, int) or not isinstance(block, bytes):
            return Rejected(ErasureFault.MALFORMED)
        if not 0 <= index < n:
            return Rejected(ErasureFault.WRONG_INDEX, index)
        if index in seen:
            return Rejected(ErasureFault.DUPLICATE_INDEX, index)
        seen[index] = block
    # Verify the blocks are of one non-zero length (encode() never makes empty blocks)
    if len({len(b) for b in seen.values()}) > 1 or b"" in seen.values():
        return Rejected(ErasureFault.MALFORMED)
    if len(seen) < k:
        return Rejected(ErasureFault.TOO_FEW_SHARES)
    chosen = sorted(seen.items())[:k]
    primary = zfec.Decoder(k, n).decode(tuple(b for _, b in chosen), tuple(i for i, _ in chosen))
    return _unframe(b"".join(bytes(b) for b in primary))


# -- Merkle commitment ----------------------------------------------------------------------------


def leaf_hash(block: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + block).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_LEAF = hashlib.sha256(b"\x02").digest()


def tree_depth(n: int) -> int:
    """The number of siblings in every branch of a tree over n leaves: ceil(log2 n)."""
    return max(0, (n - 1).bit_length())


def _levels(blocks: Sequence[bytes]) -> list[list[bytes]]:
    level = [leaf_hash(b) for b in blocks]
    level += [EMPTY_LEAF] * ((1 << tree_depth(len(blocks))) - len(level))
    levels = [level]
    while len(level) > 1:
        level = [node_hash(level[j], level[j + 1]) for j in range(0, len(level), 2)]
        levels.append(level)
    return levels


def merkle_root(blocks: Sequence[bytes]) -> bytes:
    """The root of the tree over ``blocks`` (at least one)."""
    if not blocks:
        raise ValueError("merkle_root: no blocks")
    return _levels(blocks)[-1][0]


def merkle_branch(blocks: Sequence[bytes], index: int) -> tuple[bytes, ...]:
    """The siblings on the path from leaf ``index`` to the root, from the leaf up."""
    if not 0 <= index < len(blocks):
        raise ValueError("merkle_branch: index out of range")
    levels = _levels(blocks)
    return tuple(levels[d][(index >> d) ^ 1] for d in range(len(levels) - 1))


def verify_branch(
    root: bytes, n: int, index: int, block: bytes, branch: Sequence[bytes]
) -> ErasureFault | None:
    """None if ``branch`` proves that ``block`` is leaf ``index`` of the n-leaf tree ``root``.

    Refusals: MALFORMED (types), WRONG_INDEX (not in 0..n−1), BAD_BRANCH (wrong length,
    a sibling that is not 32 bytes, or a different root).
    """
    # Verify the types
    if not isinstance(block, bytes) or not isinstance(root, bytes) or not isinstance(index, int):
        return ErasureFault.MALFORMED
    # Verify the index is a leaf of the tree
    if not 0 <= index < n:
        return ErasureFault.WRONG_INDEX
    # Verify the branch's shape
    branch = tuple(branch)
    if len(branch) != tree_depth(n):
        return ErasureFault.BAD_BRANCH
    if any(not isinstance(s, bytes) or len(s) != HASH_BYTES for s in branch):
        return ErasureFault.BAD_BRANCH
    # Verify the path hashes up to the root
    h = leaf_hash(block)
    for depth, sibling in enumerate(branch):
        h = node_hash(sibling, h) if (index >> depth) & 1 else node_hash(h, sibling)
    return None if h == root else ErasureFault.BAD_BRANCH


# -- Dispersal (the sender's side of HB Fig. 2) and reconstruction --------------------------------


@attrs.frozen
class Dispersal:
    """What the RBC sender computes: the root h, the blocks s_j and the branches b_j."""

    k: int
    n: int
    root: bytes
    blocks: tuple[bytes, ...]
    branches: tuple[tuple[bytes, ...], ...]


def disperse(payload: bytes, k: int, n: int) -> Dispersal:
    """Encode ``payload`` into n blocks (any k suffice) and commit to them (HB Fig. 2, VAL)."""
    blocks = encode(payload, k, n)
    levels = _levels(blocks)
    branches = tuple(
        tuple(levels[d][(j >> d) ^ 1] for d in range(len(levels) - 1)) for j in range(n)
    )
    return Dispersal(k, n, levels[-1][0], blocks, branches)


def reconstruct(
    root: bytes, blocks: Sequence[tuple[int, bytes]], k: int, n: int
) -> bytes | Rejected:
    """The payload committed to by ``root``, from at least k blocks (HB Fig. 2, upon output).

    Decodes, re-encodes, recomputes the Merkle root and refuses with INCONSISTENT_SHARES if it
    is not ``root``: the blocks then came from no codeword (a Byzantine sender), and every
    correct node that decodes any k blocks under this root reaches the same refusal. The
    blocks are expected to have passed :func:`verify_branch` on receipt.
    """
    payload = decode(blocks, k, n)
    if isinstance(payload, Rejected):
        if payload.reason is ErasureFault.BAD_FRAMING:
            return Rejected(ErasureFault.INCONSISTENT_SHARES)
        return payload
    # Verify the payload re-encodes to the committed root
    if merkle_root(encode(payload, k, n)) != root:
        return Rejected(ErasureFault.INCONSISTENT_SHARES)
    return payload
