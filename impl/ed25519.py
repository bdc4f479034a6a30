"""Ed25519 keys and signatures for every signed protocol (RFC 8032, through ``cryptography``).

Keys are inputs: a node's key is a 32-byte seed from its configuration, never generated here.
:func:`derive_seed` gives the fixed, public test seeds the models and vectors use. Ed25519
signing is deterministic, so the same bytes under the same seed always give the same signature;
signing and verification are pure and memoized (the model checker asks the same question many
times).
"""

from __future__ import annotations

import functools
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def derive_seed(name: str) -> bytes:
    """A fixed 32-byte seed for ``name`` (e.g. "mnemosyne/pbft/replica/1"): test keys only."""
    return hashlib.sha256(name.encode()).digest()


@functools.cache
def public_key(seed: bytes) -> bytes:
    """The raw 32-byte public key of ``seed``."""
    key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@functools.lru_cache(maxsize=1 << 16)
def sign(seed: bytes, data: bytes) -> bytes:
    """The 64-byte signature of ``data`` under ``seed``."""
    return Ed25519PrivateKey.from_private_bytes(seed).sign(data)


@functools.lru_cache(maxsize=1 << 16)
def verifies(key: bytes, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is a valid signature of ``data`` under the public ``key`` (a key
    or signature of the wrong shape does not verify; nothing raises)."""
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, data)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
