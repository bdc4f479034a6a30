"""The prime-order group of the threshold schemes: secp256k1 through coincurve (libsecp256k1).

Everything here is a pure function of its inputs; no randomness is drawn (keys come from a
seed, proof nonces are derived deterministically from the secret and the statement, as in
RFC 6979 and RFC 8032). All curve arithmetic is libsecp256k1's, reached through coincurve:
``PublicKey.from_valid_secret`` (g^k), ``PublicKey.multiply`` (P^k), ``PublicKey.combine_keys``
(P·Q) and ``PublicKey(data)`` (decoding, with the on-curve check). This module only does
arithmetic on *scalars* (integers mod the group order q) and hashing; it never touches
coordinates, except to offer a candidate x-coordinate to libsecp256k1's decoder in
:func:`hash_to_point`.

Notation (multiplicative, as in the papers): the group G = ⟨g⟩ has prime order q; g is the
secp256k1 base point (SEC 2, §2.4.1). The identity of G (the point at infinity) has no coincurve
object: it is ``None`` inside this module and never appears in a public key, share or
ciphertext (:func:`decode_point` refuses it).

Wire encoding: a point is its 33-byte SEC 1 compressed encoding (SEC 1 v2, §2.3.3); a scalar is
an ``int`` in [0, q) (32 bytes big-endian where it is hashed).

Node indices are 0-based (node ``i`` of ``n``); the Shamir evaluation point of node ``i`` is
``i + 1`` (:func:`eval_point`), since the secret sits at 0.

Assumptions, not checked by anything here (z3 is not used for the cryptography): the discrete
logarithm, computational and decisional Diffie–Hellman problems (DL, CDH, DDH) are hard in
secp256k1; SHA-256 is modelled as a random oracle (the Fiat–Shamir transform, hash-to-point and
the key-derivation hashes rely on it); under those, the Chaum–Pedersen DLEQ proof below is
sound and zero-knowledge (Chaum & Pedersen, CRYPTO '92; Fiat & Shamir, CRYPTO '86).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import attrs
from coincurve import PublicKey

# The order q of secp256k1's group (SEC 2 v2, §2.4.1, "n").
ORDER: int = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
POINT_BYTES = 33
DOMAIN = b"mnemosyne/threshold/v1/"

Point = PublicKey | None  # a group element inside this module; None is the identity


class GroupError(ValueError):
    """A byte string that is not the encoding of a non-identity point of the group."""


# -- Hashing with domain separation ---------------------------------------------------------------


def hash_parts(domain: str, *parts: bytes) -> bytes:
    """SHA-256 of a domain tag and length-prefixed parts (no two inputs share an encoding)."""
    h = hashlib.sha256()
    tag = DOMAIN + domain.encode()
    h.update(len(tag).to_bytes(2, "big") + tag)
    for part in parts:
        h.update(len(part).to_bytes(8, "big") + part)
    return h.digest()


def hash_to_scalar(domain: str, *parts: bytes) -> int:
    """A scalar in [0, q) from 512 hashed bits (two SHA-256 blocks), so the bias is 2^-256."""
    wide = hash_parts(domain + "/0", *parts) + hash_parts(domain + "/1", *parts)
    return int.from_bytes(wide, "big") % ORDER


def nonzero_scalar(domain: str, *parts: bytes) -> int:
    """A scalar in [1, q): :func:`hash_to_scalar` with a counter until it is not zero."""
    counter = 0
    while True:
        k = hash_to_scalar(domain, *parts, counter.to_bytes(4, "big"))
        if k != 0:
            return k
        counter += 1  # probability 1/q: never in practice, but the function stays total


def hash_to_point(domain: str, message: bytes) -> PublicKey:
    """A point nobody knows the discrete logarithm of: try-and-increment on SHA-256.

    x = SHA-256(domain, message, counter) for counter = 0, 1, …; the first x that
    libsecp256k1 accepts as the x-coordinate of a point with even y (prefix 0x02) gives the
    point. About half the candidates succeed, so the loop ends after two tries on average.
    In the random-oracle model the result is a uniformly random point whose logarithm to g is
    unknown to everybody (the point of hashing rather than computing g^H(m)).
    """
    for counter in range(1 << 16):
        x = hash_parts("hash-to-point/" + domain, message, counter.to_bytes(4, "big"))
        try:
            return PublicKey(b"\x02" + x)
        except ValueError:
            continue
    raise AssertionError("hash_to_point: 65536 failures in a row (probability 2^-65536)")


def scalar_bytes(k: int) -> bytes:
    """The 32-byte big-endian encoding of a scalar in [0, q)."""
    return (k % ORDER).to_bytes(32, "big")


# -- Group operations (libsecp256k1 through coincurve) -------------------------------------------

GENERATOR: PublicKey = PublicKey.from_valid_secret((1).to_bytes(32, "big"))


def base_mul(k: int) -> Point:
    """g^k; the identity when k ≡ 0 (mod q)."""
    k %= ORDER
    if k == 0:
        return None
    return PublicKey.from_valid_secret(k.to_bytes(32, "big"))


def mul(p: Point, k: int) -> Point:
    """p^k; the identity when p is the identity or k ≡ 0 (mod q)."""
    k %= ORDER
    if p is None or k == 0:
        return None
    return p.multiply(k.to_bytes(32, "big"))


def add(*points: Point) -> Point:
    """The group product p·q·…; identities are skipped, a sum that cancels is the identity."""
    present = [p for p in points if p is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    try:
        return PublicKey.combine_keys(present)
    except ValueError:  # libsecp256k1 refuses a sum that is the point at infinity
        return None


def multi_mul(terms: Iterable[tuple[Point, int]]) -> Point:
    """∏ p_j^{k_j}."""
    return add(*(mul(p, k) for p, k in terms))


def encode_point(p: Point) -> bytes:
    """33-byte SEC 1 compressed encoding; the identity as 33 zero bytes (only ever hashed)."""
    if p is None:
        return bytes(POINT_BYTES)
    return p.format(compressed=True)


def decode_point(data: bytes) -> PublicKey:
    """The point a 33-byte compressed encoding stands for; GroupError if it is none.

    Checks: the type and length, the 0x02/0x03 prefix, and (libsecp256k1) that x is below the
    field prime and x^3 + 7 is a square. The identity has no such encoding, so it is refused.
    """
    if not isinstance(data, bytes) or len(data) != POINT_BYTES or data[0] not in (2, 3):
        raise GroupError("not a 33-byte compressed point")
    try:
        return PublicKey(data)
    except ValueError as exc:
        raise GroupError("not a point of secp256k1") from exc


def is_point(data: object) -> bool:
    """``data`` is the encoding of a non-identity point."""
    try:
        decode_point(data)  # type: ignore[arg-type]
    except GroupError:
        return False
    return True


def is_scalar(k: object) -> bool:
    """``k`` is an int in [0, q) (and not a bool)."""
    return isinstance(k, int) and not isinstance(k, bool) and 0 <= k < ORDER


# -- Shamir sharing and Lagrange interpolation over Z_q -------------------------------------------


def eval_point(index: int) -> int:
    """The evaluation point of node ``index`` (0-based): index + 1, never 0."""
    return index + 1


def eval_polynomial(coefficients: Sequence[int], x: int) -> int:
    """a_0 + a_1 x + … + a_{k-1} x^{k-1} mod q (Horner)."""
    acc = 0
    for a in reversed(coefficients):
        acc = (acc * x + a) % ORDER
    return acc


def lagrange_at_zero(indices: Sequence[int]) -> tuple[int, ...]:
    """λ_j for j in ``indices`` (0-based nodes): f(0) = Σ λ_j f(j+1) for every f of degree < len.

    λ_j = ∏_{m ≠ j} x_m / (x_m − x_j) mod q with x = index + 1 (Shamir 1979). Indices must be
    distinct and in [0, q−1); ValueError otherwise (local misuse: callers check first).
    """
    xs = [eval_point(i) for i in indices]
    if len(set(xs)) != len(xs) or any(not 0 < x < ORDER for x in xs):
        raise ValueError("lagrange_at_zero: indices must be distinct and in range")
    coefficients = []
    for j, xj in enumerate(xs):
        num, den = 1, 1
        for m, xm in enumerate(xs):
            if m != j:
                num = num * xm % ORDER
                den = den * (xm - xj) % ORDER
        coefficients.append(num * pow(den, -1, ORDER) % ORDER)
    return tuple(coefficients)


def interpolate_at_zero(points: Sequence[tuple[int, int]]) -> int:
    """f(0) from (index, f(index+1)) pairs over Z_q."""
    lambdas = lagrange_at_zero([i for i, _ in points])
    return sum(lam * y for lam, (_, y) in zip(lambdas, points, strict=True)) % ORDER


def interpolate_in_exponent(points: Sequence[tuple[int, Point]]) -> Point:
    """g^{f(0)} from (index, g^{f(index+1)}) pairs: ∏ P_j^{λ_j} (the combining step)."""
    lambdas = lagrange_at_zero([i for i, _ in points])
    return multi_mul((p, lam) for lam, (_, p) in zip(lambdas, points, strict=True))


def deal_polynomial(domain: str, seed: bytes, degree: int) -> tuple[int, ...]:
    """The dealer's random polynomial: degree+1 nonzero coefficients derived from ``seed``.

    The seed is the trusted dealer's randomness, an input (a 32-byte secret from a CSPRNG in a
    deployment, a fixed public string in tests and model runs).
    """
    return tuple(
        nonzero_scalar("deal/" + domain, seed, j.to_bytes(4, "big")) for j in range(degree + 1)
    )


def check_threshold(n: int, threshold: int) -> None:
    """Local misuse check of a (threshold, n) sharing: 1 ≤ threshold ≤ n ≤ 255."""
    if not (isinstance(n, int) and isinstance(threshold, int)):
        raise TypeError("n and threshold are ints")
    if not 1 <= threshold <= n <= 255:
        raise ValueError(f"need 1 <= threshold <= n <= 255, got threshold={threshold}, n={n}")


# -- Chaum–Pedersen proof of equality of discrete logarithms (DLEQ) -------------------------------


@attrs.frozen(cache_hash=True)
class Dleq:
    """A non-interactive proof that log_{g1} h1 = log_{g2} h2 (challenge c, response z).

    Chaum & Pedersen (CRYPTO '92), made non-interactive with Fiat–Shamir: the prover takes a
    nonce w, sends a1 = g1^w, a2 = g2^w, gets c = H(g1, h1, g2, h2, a1, a2, context) and answers
    z = w + c·x. The verifier recomputes a1 = g1^z · h1^{-c}, a2 = g2^z · h2^{-c} and checks c.
    This is the proof of CKS 2005 (coin shares) and of TDH2's decryption shares (Shoup &
    Gennaro), with the whole statement and a context string in the hash (TDH2's H4 hashes only
    u_i, û_i, ĥ_i; hashing more binds the proof to its statement and costs nothing).
    """

    challenge: int
    response: int


def _dleq_challenge(
    domain: str, context: bytes, statement: Sequence[Point], commitments: Sequence[Point]
) -> int:
    return hash_to_scalar(
        "dleq/" + domain, context, *(encode_point(p) for p in (*statement, *commitments))
    )


def dleq_prove(
    domain: str,
    context: bytes,
    secret: int,
    g1: PublicKey,
    g2: PublicKey,
    aux: bytes = b"",
) -> Dleq:
    """A DLEQ proof for h1 = g1^secret and h2 = g2^secret.

    The nonce is derived, not drawn: w = H(secret, statement, context, aux) (deterministic
    nonces as in RFC 6979 / RFC 8032; ``aux`` lets a caller mix in fresh randomness as an input).
    """
    h1, h2 = mul(g1, secret), mul(g2, secret)
    statement = (g1, h1, g2, h2)
    w = nonzero_scalar(
        "dleq-nonce/" + domain,
        scalar_bytes(secret),
        context,
        aux,
        *(encode_point(p) for p in statement),
    )
    c = _dleq_challenge(domain, context, statement, (mul(g1, w), mul(g2, w)))
    return Dleq(c, (w + c * secret) % ORDER)


def dleq_verify(
    domain: str,
    context: bytes,
    g1: PublicKey,
    h1: PublicKey,
    g2: PublicKey,
    h2: PublicKey,
    proof: Dleq,
) -> bool:
    """The proof verifies for the statement log_{g1} h1 = log_{g2} h2 (False if malformed)."""
    if not (is_scalar(proof.challenge) and is_scalar(proof.response)):
        return False
    c, z = proof.challenge, proof.response
    a1 = add(mul(g1, z), mul(h1, ORDER - c))
    a2 = add(mul(g2, z), mul(h2, ORDER - c))
    return _dleq_challenge(domain, context, (g1, h1, g2, h2), (a1, a2)) == c
