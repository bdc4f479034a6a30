"""Threshold encryption for HoneyBadgerBFT: TDH2 on secp256k1, payloads under AES-GCM.

Source: V. Shoup, R. Gennaro, "Securing Threshold Cryptosystems against Chosen Ciphertext
Attack", EUROCRYPT '98 / J. Cryptology 15(2), 2002: the scheme TDH2 (CCA-secure in the random
oracle model under DDH), with the paper's algorithm names below. HoneyBadgerBFT (Miller et al.,
CCS 2016, the TPKE.Setup / Enc / DecShare / Dec interface of its threshold-encryption section)
uses the pairing-based scheme of Baek & Zheng (2003); secp256k1 has no pairing, so we use TDH2,
which offers the same interface with the same guarantees: labelled CCA security, decryption
shares that anyone can check (here by a DLEQ proof instead of a pairing equation), and f+1
shares to decrypt. The HB paper encrypts a fresh symmetric key with the threshold scheme and
the batch with that key (its "TPKE.Enc(pk, key), AES(key, batch)"); so do we, with AES-256-GCM.

TDH2, as implemented (G = ⟨g⟩ of prime order q; ḡ a second generator, :func:`second_generator`)
    Key generation  (trusted dealer, a DKG is out of scope): x = f(0) for a random polynomial f
        of degree k−1; x_i = f(i+1); public key h = g^x; verification keys h_i = g^{x_i}.
        :func:`deal_encryption` derives f from the dealer's ``seed`` (an input).
    Encryption of a 32-byte key m with label L, randomness r, s ∈ Z_q (derived from the caller's
        ``randomness`` bytes): c = H1(h^r) ⊕ m, u = g^r, w = g^s, ū = ḡ^r, w̄ = ḡ^s,
        e = H2(c, L, u, w, ū, w̄), f = s + r·e; ciphertext (c, L, u, ū, e, f).
    Ciphertext verification: w = g^f / u^e, w̄ = ḡ^f / ū^e, check e = H2(c, L, u, w, ū, w̄)
        (a proof that log_g u = log_ḡ ū: this is what makes the scheme CCA secure).
    Decryption share of node i (only for a valid ciphertext): u_i = u^{x_i} with a DLEQ proof
        (e_i, f_i) that log_u u_i = log_g h_i.
    Share verification: the ciphertext is valid and the proof verifies.
    Combining: k valid shares, h^r = ∏ u_j^{λ_j}, m = H1(h^r) ⊕ c.

Threshold. Shares are combined when k = f+1 valid ones are at hand (:func:`deal_encryption`
with ``threshold = f + 1``). Why f+1: secrecy needs k > f (the f Byzantine nodes together must
not decrypt before a correct node releases its share, which in HB happens only after ACS fixed
the batch: that is what stops censorship by content); liveness needs k ≤ n − f (the correct
nodes alone must suffice); n > 3f gives f+1 ≤ n − f. The catalogue's "threshold decryption needs
n−f honest shares" (DESIGN.md) is the liveness side of the same statement: all n − f ≥ 2f+1
correct nodes release shares, every one verifies, so f+1 valid shares always arrive whatever the
f Byzantine nodes send; since proofs are checked, any f+1 valid shares give the one plaintext.

Payloads (the hybrid part, HB's batch encryption): :func:`encrypt` draws nothing: the caller's
``randomness`` (≥ 32 bytes) yields the AES key K, r and s by domain-separated hashing. The body
is AES-256-GCM(K, nonce = 12 zero bytes, AAD = the encoded TDH2 part); a zero nonce is safe
because each K encrypts exactly one message, and the AAD binds the body to the label and the
key encapsulation. A ciphertext whose TDH2 part is valid but whose body does not decrypt under
the combined key (a Byzantine encryptor can make one) yields DECRYPTION_FAILED, which every
correct node computes alike (same K, same body), so it is a deterministic outcome, not a fork.

Assumptions, not proved here (z3 is not used for cryptography): DDH hardness in secp256k1 and
SHA-256 as a random oracle (Shoup & Gennaro's proof of TDH2), DLEQ soundness, AES-GCM as an
authenticated cipher. The tests check the algebra and every rejection; CCA security is the
paper's theorem.

Departures from TDH2 as printed: the decryption-share proof hashes the whole statement and the
ciphertext's identifier (TDH2's H4 hashes u_i, û_i, ĥ_i only); shares carry the ciphertext's
identifier so that a share for another ciphertext is refused by name (WRONG_CIPHERTEXT) rather
than as a bad proof; the message is always a 32-byte AES key.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mnemosyne_consensus.impl import threshold_group as group

DOMAIN = "tdh2"
KEY_BYTES = 32
NONCE = bytes(12)


class DecryptionFault(enum.Enum):
    """Why a ciphertext, a decryption share, or a set of shares is refused."""

    MALFORMED = "malformed"
    """A field has the wrong type, length or range, or a point is not on the curve."""
    WRONG_LABEL = "wrong-label"
    """The ciphertext carries another label than the one the caller expects."""
    INVALID_CIPHERTEXT = "invalid-ciphertext"
    """TDH2's ciphertext proof (e, f) fails: no share may be produced or combined for it."""
    UNKNOWN_INDEX = "unknown-index"
    """The share's index is not a node of the key (not in 0..n−1)."""
    WRONG_SENDER = "wrong-sender"
    """The share names another node than the one it arrived from."""
    WRONG_CIPHERTEXT = "wrong-ciphertext"
    """The share is for another ciphertext than the one being decrypted."""
    BAD_PROOF = "bad-proof"
    """The share's DLEQ proof does not verify against the node's verification key."""
    DUPLICATE_INDEX = "duplicate-index"
    """Two shares of one node in the set being combined."""
    TOO_FEW_SHARES = "too-few-shares"
    """Fewer shares than the threshold k (= f+1): the key cannot be recovered yet."""
    DECRYPTION_FAILED = "decryption-failed"
    """AES-GCM refuses the body under the combined key (a bad body, or bad shares let in)."""


@attrs.frozen
class Rejected:
    """A refusal: the reason and the offending share's index (None when not about one share)."""

    reason: DecryptionFault
    index: int | None = None


# -- Keys (trusted dealer) ------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class EncryptionPublicKey:
    """What everybody knows: n, the threshold k, h = g^x and the verification keys h_i."""

    n: int
    threshold: int
    public_key: bytes
    verification_keys: tuple[bytes, ...]


@attrs.frozen
class DecryptionKeyShare:
    """Node ``index``'s secret share x_i = f(index+1) (never printed)."""

    index: int
    secret: int = attrs.field(repr=False)


def second_generator() -> group.PublicKey:
    """ḡ: TDH2's second generator, hashed to the group so that log_g ḡ is unknown."""
    return group.hash_to_point(DOMAIN, b"second generator")


_GBAR = second_generator()


def deal_encryption(
    n: int, threshold: int, seed: bytes
) -> tuple[EncryptionPublicKey, tuple[DecryptionKeyShare, ...]]:
    """TDH2's key generation by a trusted dealer, from the dealer's ``seed``.

    A trusted dealer is assumed (as in Shoup–Gennaro and HoneyBadgerBFT); a distributed key
    generation is out of scope. For HoneyBadgerBFT use ``threshold = f + 1``.
    """
    group.check_threshold(n, threshold)
    poly = group.deal_polynomial(DOMAIN, seed, threshold - 1)
    shares = tuple(
        DecryptionKeyShare(i, group.eval_polynomial(poly, group.eval_point(i))) for i in range(n)
    )
    public = EncryptionPublicKey(
        n,
        threshold,
        group.encode_point(group.base_mul(poly[0])),
        tuple(group.encode_point(group.base_mul(s.secret)) for s in shares),
    )
    return public, shares


# -- Ciphertexts ----------------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class Tdh2Ciphertext:
    """TDH2's (c, L, u, ū, e, f): the encapsulated 32-byte key and its validity proof."""

    label: bytes
    c: bytes  # H1(h^r) XOR key, 32 bytes
    u: bytes  # g^r
    u_bar: bytes  # ḡ^r
    e: int
    f: int


@attrs.frozen(cache_hash=True)
class Ciphertext:
    """A threshold-encrypted payload: the TDH2 part and the AES-256-GCM body."""

    header: Tdh2Ciphertext
    body: bytes


def encode_header(header: Tdh2Ciphertext) -> bytes:
    """Canonical bytes of the TDH2 part (the AAD of the body and the ciphertext's identity)."""
    return group.hash_parts(
        DOMAIN + "/header",
        header.label,
        header.c,
        header.u,
        header.u_bar,
        group.scalar_bytes(header.e),
        group.scalar_bytes(header.f),
    )


def ciphertext_id(ciphertext: Ciphertext) -> bytes:
    """A 32-byte identifier of the whole ciphertext (what decryption shares refer to)."""
    return group.hash_parts(DOMAIN + "/id", encode_header(ciphertext.header), ciphertext.body)


def _mask(point: group.Point) -> bytes:
    """H1: the 32-byte mask from h^r."""
    return group.hash_parts(DOMAIN + "/H1", group.encode_point(point))


def _h2(label: bytes, c: bytes, points: Sequence[group.Point]) -> int:
    """H2(c, L, u, w, ū, w̄)."""
    return group.hash_to_scalar(DOMAIN + "/H2", c, label, *(group.encode_point(p) for p in points))


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def encapsulate(
    public: EncryptionPublicKey, label: bytes, key: bytes, randomness: bytes
) -> Tdh2Ciphertext:
    """TDH2 encryption of the 32-byte ``key`` under ``label``; r, s derived from ``randomness``."""
    if len(key) != KEY_BYTES or len(randomness) < 32:
        raise ValueError("encapsulate: a 32-byte key and at least 32 bytes of randomness")
    h = group.decode_point(public.public_key)
    r = group.nonzero_scalar(DOMAIN + "/r", randomness)
    s = group.nonzero_scalar(DOMAIN + "/s", randomness)
    c = _xor(key, _mask(group.mul(h, r)))
    u, u_bar = group.base_mul(r), group.mul(_GBAR, r)
    w, w_bar = group.base_mul(s), group.mul(_GBAR, s)
    e = _h2(label, c, (u, w, u_bar, w_bar))
    f = (s + r * e) % group.ORDER
    return Tdh2Ciphertext(label, c, group.encode_point(u), group.encode_point(u_bar), e, f)


def encrypt(
    public: EncryptionPublicKey, label: bytes, plaintext: bytes, randomness: bytes
) -> Ciphertext:
    """Hybrid encryption (HB's TPKE.Enc of a fresh key, then the payload under that key).

    ``randomness``: at least 32 bytes from the caller (fresh per message in a deployment; the
    same randomness gives the same ciphertext). Local misuse (short randomness) raises.
    """
    if not isinstance(randomness, bytes) or len(randomness) < 32:
        raise ValueError("encrypt: at least 32 bytes of randomness")
    key = group.hash_parts(DOMAIN + "/aes-key", randomness)
    header = encapsulate(public, label, key, randomness)
    body = AESGCM(key).encrypt(NONCE, plaintext, encode_header(header))
    return Ciphertext(header, body)


def _header_structure(ciphertext: object) -> DecryptionFault | None:
    if not isinstance(ciphertext, Ciphertext) or not isinstance(ciphertext.body, bytes):
        return DecryptionFault.MALFORMED
    header = ciphertext.header
    if not isinstance(header, Tdh2Ciphertext) or not isinstance(header.label, bytes):
        return DecryptionFault.MALFORMED
    if not isinstance(header.c, bytes) or len(header.c) != KEY_BYTES:
        return DecryptionFault.MALFORMED
    if not (group.is_scalar(header.e) and group.is_scalar(header.f)):
        return DecryptionFault.MALFORMED
    if not (group.is_point(header.u) and group.is_point(header.u_bar)):
        return DecryptionFault.MALFORMED
    return None


def verify_ciphertext(ciphertext: Ciphertext, label: bytes | None = None) -> DecryptionFault | None:
    """None if the ciphertext is well formed, carries ``label`` (if given) and TDH2's proof holds.

    TDH2's ciphertext verification: w = g^f·u^{-e}, w̄ = ḡ^f·ū^{-e}, e = H2(c, L, u, w, ū, w̄).
    The body is not checked here (only the combined key can); see DECRYPTION_FAILED.
    """
    fault = _header_structure(ciphertext)
    if fault is not None:
        return fault
    header = ciphertext.header
    # Verify the label is the expected one
    if label is not None and header.label != label:
        return DecryptionFault.WRONG_LABEL
    # Verify TDH2's proof that log_g u = log_ḡ ū
    if not _ciphertext_proof_holds(header):
        return DecryptionFault.INVALID_CIPHERTEXT
    return None


@functools.lru_cache(maxsize=1 << 14)
def _ciphertext_proof_holds(header: Tdh2Ciphertext) -> bool:
    """e = H2(c, L, u, g^f·u^{-e}, ū, ḡ^f·ū^{-e}) (memoized: pure, checked on every share)."""
    u, u_bar = group.decode_point(header.u), group.decode_point(header.u_bar)
    minus_e = group.ORDER - header.e
    w = group.add(group.base_mul(header.f), group.mul(u, minus_e))
    w_bar = group.add(group.mul(_GBAR, header.f), group.mul(u_bar, minus_e))
    return _h2(header.label, header.c, (u, w, u_bar, w_bar)) == header.e


def clear_caches() -> None:
    """Forget memoized proof checks (benchmarks measure the work, not the cache)."""
    _ciphertext_proof_holds.cache_clear()
    _share_proof_holds.cache_clear()


# -- Decryption shares ----------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class DecryptionShare:
    """Node ``index``'s u_i = u^{x_i} for the ciphertext ``ciphertext_id``, with its DLEQ proof."""

    index: int
    ciphertext_id: bytes
    value: bytes  # u_i, 33-byte compressed point
    proof: group.Dleq


def decryption_share(
    public: EncryptionPublicKey, secret: DecryptionKeyShare, ciphertext: Ciphertext
) -> DecryptionShare | Rejected:
    """Node ``secret.index``'s share for a valid ciphertext (HB's TPKE.DecShare).

    TDH2: a server refuses an invalid ciphertext, so this returns Rejected(MALFORMED or
    INVALID_CIPHERTEXT) instead of a share. Deterministic (derived proof nonce).
    """
    fault = verify_ciphertext(ciphertext)
    if fault is not None:
        return Rejected(fault)
    cid = ciphertext_id(ciphertext)
    u = group.decode_point(ciphertext.header.u)
    proof = group.dleq_prove(DOMAIN + "/share", cid, secret.secret, group.GENERATOR, u)
    return DecryptionShare(
        secret.index, cid, group.encode_point(group.mul(u, secret.secret)), proof
    )


def _share_structure(
    public: EncryptionPublicKey, cid: bytes, share: object, sender: int | None
) -> DecryptionFault | None:
    # Verify the fields' types and ranges
    if not isinstance(share, DecryptionShare) or type(share.index) is not int:
        return DecryptionFault.MALFORMED
    if not isinstance(share.ciphertext_id, bytes) or not isinstance(share.proof, group.Dleq):
        return DecryptionFault.MALFORMED
    if not (group.is_scalar(share.proof.challenge) and group.is_scalar(share.proof.response)):
        return DecryptionFault.MALFORMED
    if not group.is_point(share.value):
        return DecryptionFault.MALFORMED
    # Verify the index is a node of the key
    if not 0 <= share.index < public.n:
        return DecryptionFault.UNKNOWN_INDEX
    # Verify the share names the node it came from
    if sender is not None and share.index != sender:
        return DecryptionFault.WRONG_SENDER
    # Verify the share is for this ciphertext
    if share.ciphertext_id != cid:
        return DecryptionFault.WRONG_CIPHERTEXT
    return None


def verify_decryption_share(
    public: EncryptionPublicKey,
    ciphertext: Ciphertext,
    share: DecryptionShare,
    sender: int | None = None,
) -> DecryptionFault | None:
    """None if ``share`` is a valid decryption share of ``ciphertext`` (from ``sender`` if given).

    Checks, in order: the ciphertext (MALFORMED, INVALID_CIPHERTEXT), then the share's
    MALFORMED, UNKNOWN_INDEX, WRONG_SENDER, WRONG_CIPHERTEXT, and BAD_PROOF (the DLEQ proof that
    log_g h_i = log_u u_i).
    """
    fault = verify_ciphertext(ciphertext)
    if fault is not None:
        return fault
    return _verify_share_of_valid(public, ciphertext, share, sender)


def _verify_share_of_valid(
    public: EncryptionPublicKey,
    ciphertext: Ciphertext,
    share: DecryptionShare,
    sender: int | None,
) -> DecryptionFault | None:
    cid = ciphertext_id(ciphertext)
    fault = _share_structure(public, cid, share, sender)
    if fault is not None:
        return fault
    # Verify the proof of correctness against the node's verification key
    key = public.verification_keys[share.index]
    ok = _share_proof_holds(key, cid, ciphertext.header.u, share.value, share.proof)
    return None if ok else DecryptionFault.BAD_PROOF


@functools.lru_cache(maxsize=1 << 16)
def _share_proof_holds(key: bytes, cid: bytes, u: bytes, value: bytes, proof: group.Dleq) -> bool:
    """The DLEQ check log_g h_i = log_u u_i (memoized: pure, and repeated in model runs)."""
    return group.dleq_verify(
        DOMAIN + "/share",
        cid,
        group.GENERATOR,
        group.decode_point(key),
        group.decode_point(u),
        group.decode_point(value),
        proof,
    )


def verify_decryption_share_skipping_proof(
    public: EncryptionPublicKey,
    ciphertext: Ciphertext,
    share: DecryptionShare,
    sender: int | None = None,
) -> DecryptionFault | None:
    """MUTANT (issue 8: "decryption accepting a share without its proof"): all checks but one.

    For model checks and tests only: a node that uses this instead of
    :func:`verify_decryption_share` lets a Byzantine node's well-formed but wrong u_i into the
    combination, which then yields a wrong key (DECRYPTION_FAILED on the body, or a wrong
    plaintext from :func:`combine_key_verified`).
    """
    fault = verify_ciphertext(ciphertext)
    if fault is not None:
        return fault
    return _share_structure(public, ciphertext_id(ciphertext), share, sender)


def combine_key_verified(
    public: EncryptionPublicKey, ciphertext: Ciphertext, shares: Sequence[DecryptionShare]
) -> bytes | Rejected:
    """TDH2's combining: the 32-byte key from shares the caller has verified one by one.

    Proofs are not rechecked (for a node that verified each share on receipt); the set is:
    the ciphertext is valid, each share well formed and for it, no DUPLICATE_INDEX, at least
    ``threshold`` shares (else TOO_FEW_SHARES). Uses the ``threshold`` shares of lowest index.
    """
    fault = verify_ciphertext(ciphertext)
    if fault is not None:
        return Rejected(fault)
    cid = ciphertext_id(ciphertext)
    seen: set[int] = set()
    for share in shares:
        fault = _share_structure(public, cid, share, None)
        if fault is not None:
            return Rejected(fault, getattr(share, "index", None))
        if share.index in seen:
            return Rejected(DecryptionFault.DUPLICATE_INDEX, share.index)
        seen.add(share.index)
    if len(seen) < public.threshold:
        return Rejected(DecryptionFault.TOO_FEW_SHARES)
    chosen = sorted(shares, key=lambda s: s.index)[: public.threshold]
    h_r = group.interpolate_in_exponent([(s.index, group.decode_point(s.value)) for s in chosen])
    return _xor(ciphertext.header.c, _mask(h_r))


def _open_body(ciphertext: Ciphertext, key: bytes) -> bytes | Rejected:
    try:
        return AESGCM(key).decrypt(NONCE, ciphertext.body, encode_header(ciphertext.header))
    except InvalidTag:
        return Rejected(DecryptionFault.DECRYPTION_FAILED)


def combine_verified_shares(
    public: EncryptionPublicKey, ciphertext: Ciphertext, shares: Sequence[DecryptionShare]
) -> bytes | Rejected:
    """The plaintext from shares already verified one by one (HB's TPKE.Dec after checks)."""
    key = combine_key_verified(public, ciphertext, shares)
    if isinstance(key, Rejected):
        return key
    return _open_body(ciphertext, key)


def combine_shares(
    public: EncryptionPublicKey, ciphertext: Ciphertext, shares: Sequence[DecryptionShare]
) -> bytes | Rejected:
    """The plaintext from at least ``threshold`` shares, each verified here (HB's TPKE.Dec).

    The first refusal wins: the ciphertext's fault, a share's fault with its index, then
    DUPLICATE_INDEX, TOO_FEW_SHARES, and DECRYPTION_FAILED if the body does not open.
    """
    fault = verify_ciphertext(ciphertext)
    if fault is not None:
        return Rejected(fault)
    for share in shares:
        fault = _verify_share_of_valid(public, ciphertext, share, None)
        if fault is not None:
            return Rejected(fault, getattr(share, "index", None))
    return combine_verified_shares(public, ciphertext, shares)


def decrypt_with(
    public: EncryptionPublicKey,
    secrets: Sequence[DecryptionKeyShare],
    ciphertext: Ciphertext,
) -> bytes | Rejected:
    """Shares from the given key shares, then combined (tests, benchmarks, models)."""
    shares = []
    for secret in secrets:
        share = decryption_share(public, secret, ciphertext)
        if isinstance(share, Rejected):
            return share
        shares.append(share)
    return combine_shares(public, ciphertext, shares)
