"""The threshold coin of Cachin, Kursawe and Shoup (2005): Diffie–Hellman coin tossing.

Source: C. Cachin, K. Kursawe, V. Shoup, "Random Oracles in Constantinople: Practical
Asynchronous Byzantine Agreement Using Cryptography", J. Cryptology 18(3), 2005 (PODC 2000):
the Diffie–Hellman-based threshold coin-tossing scheme of its section on threshold coin-tossing
(the numbering differs between the PODC and journal versions, so this module names the
algorithms rather than section numbers). The HoneyBadgerBFT paper (Miller et al., CCS 2016)
instantiates the common coin of the Mostéfaoui–Moumen–Raynal ABA with threshold f+1.

The scheme, with the paper's names
    Dealer   (trusted; a DKG is out of scope): a random polynomial f of degree k−1 over Z_q,
             secret x = f(0), node i's share x_i = f(i+1), verification keys g_i = g^{x_i},
             public key g^x. Here :func:`deal_coin` derives f from a ``seed`` (an input).
    Share    for the coin named C: g̃ = H(C) (hash to the group, :func:`group.hash_to_point`),
             σ_i = g̃^{x_i}, with a DLEQ proof that log_g g_i = log_{g̃} σ_i.
    Verify   the proof against g_i and g̃ (:func:`verify_coin_share`).
    Combine  any k valid shares: σ = g̃^{x} = ∏ σ_j^{λ_j} (Lagrange at 0 in the exponent),
             and the coin value F(C) = H'(σ) (:func:`combine_coin_shares`).
Thresholds: CKS's (n, k, t) dual threshold needs t < k ≤ n − t; the ABA uses k = t+1 = f+1:
f Byzantine shares alone can never reach k, and the n − f correct nodes always can.

Unpredictability (CKS's security property, proved there in the random-oracle model under CDH):
no coalition of at most k−1 = f nodes can predict F(C) before a correct node has released its
share for C, because with f shares σ = g̃^x is a Diffie–Hellman value. Robustness: a share with
a verifying proof is, under DLEQ soundness, exactly g̃^{x_i}, so every k valid shares combine
to the same σ and the value is a deterministic function of C and the master secret x.

Assumptions, not proved here (z3 is not used for cryptography): CDH hardness in secp256k1,
SHA-256 as a random oracle (for H, H' and the Fiat–Shamir challenge), DLEQ soundness. The tests
check the algebra (round trips, any k shares agree, k−1 are refused, tampering is caught) and
the information-theoretic half of unpredictability: the f secret key shares of a coalition are
consistent with every master secret, so two dealings that agree on them give the coalition
identical coin shares and different coins. That the public verification keys do not help
either is the paper's theorem under the assumptions above, not something a test establishes.

Departures: the DLEQ hash covers the whole statement (g, g_i, g̃, σ_i), both commitments and
the coin name, with a domain tag of its own; node indices are 0-based with evaluation points
i+1; the coin value is the 32-byte H'(C, σ) with :attr:`CoinValue.bit` its low bit, so one
function serves ABA (a bit) and anything that wants bytes.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence

import attrs

from mnemosyne_consensus.impl import threshold_group as group

DOMAIN = "coin"


class CoinFault(enum.Enum):
    """Why a coin share, or a set of shares, is refused."""

    MALFORMED = "malformed"
    """A field has the wrong type, length or range, or a point is not on the curve."""
    UNKNOWN_INDEX = "unknown-index"
    """The share's index is not a node of the key (not in 0..n−1)."""
    WRONG_SENDER = "wrong-sender"
    """The share names another node than the one it arrived from."""
    WRONG_NAME = "wrong-name"
    """The share is for another coin than the one being tossed."""
    BAD_PROOF = "bad-proof"
    """The DLEQ proof does not verify against the node's verification key."""
    DUPLICATE_INDEX = "duplicate-index"
    """Two shares of one node in the set being combined."""
    TOO_FEW_SHARES = "too-few-shares"
    """Fewer shares than the threshold k (= f+1): the coin is not determined yet."""


# -- Keys (trusted dealer) ------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class CoinPublicKey:
    """What everybody knows: n, the threshold k, g^x and the verification keys g^{x_i}."""

    n: int
    threshold: int
    public_key: bytes
    verification_keys: tuple[bytes, ...]


@attrs.frozen
class CoinSecretShare:
    """Node ``index``'s secret share x_i = f(index+1) (never printed)."""

    index: int
    secret: int = attrs.field(repr=False)


def deal_coin(
    n: int, threshold: int, seed: bytes
) -> tuple[CoinPublicKey, tuple[CoinSecretShare, ...]]:
    """The trusted dealer: keys for an (n, threshold) coin from the dealer's ``seed``.

    A trusted dealer is assumed (as in CKS 2005 and HoneyBadgerBFT); a distributed key
    generation is out of scope. The seed is the dealer's only randomness: the same seed gives
    the same keys. For ABA use ``threshold = f + 1``.
    """
    group.check_threshold(n, threshold)
    poly = group.deal_polynomial(DOMAIN, seed, threshold - 1)
    secrets = tuple(
        CoinSecretShare(i, group.eval_polynomial(poly, group.eval_point(i))) for i in range(n)
    )
    public = CoinPublicKey(
        n,
        threshold,
        group.encode_point(group.base_mul(poly[0])),
        tuple(group.encode_point(group.base_mul(s.secret)) for s in secrets),
    )
    return public, secrets


# -- Shares ---------------------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class CoinShare:
    """Node ``index``'s share σ_i = H(name)^{x_i} of the coin ``name``, with its DLEQ proof."""

    index: int
    name: bytes
    value: bytes  # σ_i, 33-byte compressed point
    proof: group.Dleq


@attrs.frozen
class CoinValue:
    """The coin F(name) = H'(name, σ): 32 bytes; ``bit`` is its low bit (the ABA coin)."""

    name: bytes
    digest: bytes

    @property
    def bit(self) -> int:
        return self.digest[-1] & 1


@attrs.frozen
class Rejected:
    """A refusal: the reason and the offending share's index (None when about the whole set)."""

    reason: CoinFault
    index: int | None = None


@functools.lru_cache(maxsize=1 << 12)
def coin_base(name: bytes) -> group.PublicKey:
    """g̃ = H(name): the coin's base point, whose logarithm nobody knows (memoized)."""
    return group.hash_to_point(DOMAIN + "/name", name)


def coin_share(public: CoinPublicKey, secret: CoinSecretShare, name: bytes) -> CoinShare:
    """Node ``secret.index``'s share of coin ``name`` (deterministic: same inputs, same share)."""
    base = coin_base(name)
    proof = group.dleq_prove(DOMAIN, name, secret.secret, group.GENERATOR, base)
    value = group.encode_point(group.mul(base, secret.secret))
    return CoinShare(secret.index, name, value, proof)


def _check_structure(
    public: CoinPublicKey, name: bytes, share: CoinShare, sender: int | None
) -> CoinFault | None:
    # Verify the fields' types and ranges
    if not isinstance(share, CoinShare) or type(share.index) is not int:
        return CoinFault.MALFORMED
    if not isinstance(share.name, bytes) or not isinstance(share.proof, group.Dleq):
        return CoinFault.MALFORMED
    if not (group.is_scalar(share.proof.challenge) and group.is_scalar(share.proof.response)):
        return CoinFault.MALFORMED
    if not group.is_point(share.value):
        return CoinFault.MALFORMED
    # Verify the index is a node of the key
    if not 0 <= share.index < public.n:
        return CoinFault.UNKNOWN_INDEX
    # Verify the share names the node it came from
    if sender is not None and share.index != sender:
        return CoinFault.WRONG_SENDER
    # Verify the share is for this coin
    if share.name != name:
        return CoinFault.WRONG_NAME
    return None


def verify_coin_share(
    public: CoinPublicKey, name: bytes, share: CoinShare, sender: int | None = None
) -> CoinFault | None:
    """None if ``share`` is a valid share of coin ``name`` (from node ``sender`` if given).

    Checks, in order, each with its reason: MALFORMED, UNKNOWN_INDEX, WRONG_SENDER, WRONG_NAME,
    then BAD_PROOF (the DLEQ proof that log_g g_i = log_{H(name)} σ_i).
    """
    fault = _check_structure(public, name, share, sender)
    if fault is not None:
        return fault
    # Verify the proof of correctness against the node's verification key
    ok = _proof_verifies(public.verification_keys[share.index], name, share.value, share.proof)
    return None if ok else CoinFault.BAD_PROOF


@functools.lru_cache(maxsize=1 << 16)
def _proof_verifies(verification_key: bytes, name: bytes, value: bytes, proof: group.Dleq) -> bool:
    """The DLEQ check log_g g_i = log_{H(name)} σ_i (memoized: it is pure, and model runs and
    Hypothesis machines verify the same share in many states)."""
    return group.dleq_verify(
        DOMAIN,
        name,
        group.GENERATOR,
        group.decode_point(verification_key),
        coin_base(name),
        group.decode_point(value),
        proof,
    )


def clear_caches() -> None:
    """Forget memoized proof checks and coin bases (benchmarks measure the work)."""
    _proof_verifies.cache_clear()
    coin_base.cache_clear()


def verify_coin_share_skipping_proof(
    public: CoinPublicKey, name: bytes, share: CoinShare, sender: int | None = None
) -> CoinFault | None:
    """MUTANT (issue 8: "accepting a share without its proof"): every check but the proof.

    For model checks and tests only: a node that uses this instead of :func:`verify_coin_share`
    lets a Byzantine node's well-formed but wrong σ_i into the combination.
    """
    return _check_structure(public, name, share, sender)


def _coin_value(name: bytes, sigma: group.Point) -> CoinValue:
    return CoinValue(name, group.hash_parts(DOMAIN + "/value", name, group.encode_point(sigma)))


def combine_verified_coin_shares(
    public: CoinPublicKey, name: bytes, shares: Sequence[CoinShare]
) -> CoinValue | Rejected:
    """The coin from shares the caller has already verified one by one (proofs not rechecked).

    For a node that runs :func:`verify_coin_share` on receipt and keeps only valid shares.
    Checks the set: no DUPLICATE_INDEX, at least ``threshold`` shares (else TOO_FEW_SHARES),
    every share's structure (MALFORMED, UNKNOWN_INDEX, WRONG_NAME). Uses the ``threshold``
    shares of lowest index, so the result does not depend on the order of ``shares``.
    """
    seen: set[int] = set()
    for share in shares:
        fault = _check_structure(public, name, share, None)
        if fault is not None:
            return Rejected(fault, getattr(share, "index", None))
        if share.index in seen:
            return Rejected(CoinFault.DUPLICATE_INDEX, share.index)
        seen.add(share.index)
    if len(seen) < public.threshold:
        return Rejected(CoinFault.TOO_FEW_SHARES)
    chosen = sorted(shares, key=lambda s: s.index)[: public.threshold]
    sigma = group.interpolate_in_exponent([(s.index, group.decode_point(s.value)) for s in chosen])
    return _coin_value(name, sigma)


def combine_coin_shares(
    public: CoinPublicKey, name: bytes, shares: Sequence[CoinShare]
) -> CoinValue | Rejected:
    """The coin F(name) from at least ``threshold`` shares, every one verified here.

    The first refusal wins: a share's own fault (with its index), then DUPLICATE_INDEX, then
    TOO_FEW_SHARES. With k valid shares of distinct nodes the value is the same whichever k.
    """
    for share in shares:
        fault = verify_coin_share(public, name, share)
        if fault is not None:
            return Rejected(fault, getattr(share, "index", None))
    return combine_verified_coin_shares(public, name, shares)


def toss(
    public: CoinPublicKey, secrets: Sequence[CoinSecretShare], name: bytes
) -> CoinValue | Rejected:
    """The coin ``name`` computed from the given secret shares (tests, benchmarks, models)."""
    return combine_coin_shares(public, name, [coin_share(public, s, name) for s in secrets])
