"""Codec, conformance vectors and benchmark of the threshold cryptography of HoneyBadgerBFT.

The modules :mod:`~mnemosyne_consensus.impl.threshold_group`, ``threshold_coin``,
``threshold_encryption`` and ``erasure`` are pure functions, not nodes: they have no state and
no events, so they do not fit the oracle's node-step shape (``OracleBinding``: state, event,
step, effects). The RBC, ABA, ACS and HoneyBadger protocols are what that oracle serves; their
codecs carry the shares below inside messages, using the encoders of this module. What another
implementation can check here instead is a list of *crypto vectors*: inputs, and the verdict
our implementation reaches (a value, or the typed reason of a refusal), in the canonical JSON
of :mod:`model_checks.codec` (bytes as lowercase hex, scalars as 64 hex digits).

Documents::

    dleq              {"challenge": "<64 hex>", "response": "<64 hex>"}
    coin public key   {"n": 4, "threshold": 2, "public_key": "<66 hex>",
                       "verification_keys": ["<66 hex>", ...]}
    coin share        {"index": 1, "name": "<hex>", "value": "<66 hex>", "proof": DLEQ}
    encryption key    as the coin public key
    ciphertext        {"header": {"label": "<hex>", "c": "<64 hex>", "u": "<66 hex>",
                       "u_bar": "<66 hex>", "e": "<64 hex>", "f": "<64 hex>"}, "body": "<hex>"}
    decryption share  {"index": 1, "ciphertext_id": "<64 hex>", "value": "<66 hex>",
                       "proof": DLEQ}
    verdict           "valid", or a fault's value ("bad-proof", "too-few-shares", …)

Decoding checks the JSON shape only (objects, integers, lowercase hex); a point that is not on
the curve or a scalar ≥ q decodes, and the verifier then refuses it as ``malformed``: that is
the typed reason an implementation must reproduce, not a decoding error.

Vectors (:func:`crypto_vectors`): ``{"id", "kind", "input", "expected"}`` with kinds
``coin-share`` (verify one share), ``coin-combine``, ``ciphertext`` (verify), ``decryption-share``
(verify one share), ``decryption-combine``, ``erasure-branch``, ``erasure-decode`` (no
commitment) and ``erasure-reconstruct`` (decode, re-encode, compare with the root);
:func:`check_crypto_vector` replays one against this implementation.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from ..impl import erasure
from ..impl import threshold_coin as coin
from ..impl import threshold_encryption as tenc
from ..impl import threshold_group as group
from .codec import (
    FORMAT,
    JSON,
    DecodeError,
    dumps,
    expect_array,
    expect_int,
    expect_object,
    expect_str,
)

VALID = "valid"
_HEX = re.compile(r"(?:[0-9a-f]{2})*")

# -- Primitive fields -----------------------------------------------------------------------------


def hex_in(doc: JSON, path: str, length: int | None = None) -> bytes:
    """Lowercase hex (of exactly ``length`` bytes if given) to bytes."""
    text = expect_str(doc, path)
    if not _HEX.fullmatch(text) or (length is not None and len(text) != 2 * length):
        size = "" if length is None else f"{2 * length} "
        raise DecodeError(path, f"expected {size}lowercase hex digits")
    return bytes.fromhex(text)


def scalar_out(k: int) -> str:
    """A scalar as 64 hex digits (values ≥ q are written too: negative vectors carry them)."""
    return k.to_bytes(32, "big").hex()


def scalar_in(doc: JSON, path: str) -> int:
    return int.from_bytes(hex_in(doc, path, 32), "big")


def encode_dleq(proof: group.Dleq) -> JSON:
    return {"challenge": scalar_out(proof.challenge), "response": scalar_out(proof.response)}


def decode_dleq(doc: JSON, path: str = "$") -> group.Dleq:
    expect_object(doc, path, ("challenge", "response"))
    return group.Dleq(
        scalar_in(doc["challenge"], f"{path}.challenge"),
        scalar_in(doc["response"], f"{path}.response"),
    )


# -- Keys -----------------------------------------------------------------------------------------


def encode_public_key(public: coin.CoinPublicKey | tenc.EncryptionPublicKey) -> JSON:
    return {
        "n": public.n,
        "threshold": public.threshold,
        "public_key": public.public_key.hex(),
        "verification_keys": [k.hex() for k in public.verification_keys],
    }


def _decode_key_fields(doc: JSON, path: str) -> tuple[int, int, bytes, tuple[bytes, ...]]:
    expect_object(doc, path, ("n", "threshold", "public_key", "verification_keys"))
    n = expect_int(doc["n"], f"{path}.n", 1)
    threshold = expect_int(doc["threshold"], f"{path}.threshold", 1)
    keys = expect_array(doc["verification_keys"], f"{path}.verification_keys")
    if len(keys) != n or threshold > n:
        raise DecodeError(path, "need n verification keys and threshold <= n")
    return (
        n,
        threshold,
        hex_in(doc["public_key"], f"{path}.public_key", group.POINT_BYTES),
        tuple(
            hex_in(k, f"{path}.verification_keys[{i}]", group.POINT_BYTES)
            for i, k in enumerate(keys)
        ),
    )


def decode_coin_public_key(doc: JSON, path: str = "$") -> coin.CoinPublicKey:
    return coin.CoinPublicKey(*_decode_key_fields(doc, path))


def decode_encryption_public_key(doc: JSON, path: str = "$") -> tenc.EncryptionPublicKey:
    return tenc.EncryptionPublicKey(*_decode_key_fields(doc, path))


# -- Coin shares ----------------------------------------------------------------------------------


def encode_coin_share(share: coin.CoinShare) -> JSON:
    return {
        "index": share.index,
        "name": share.name.hex(),
        "value": share.value.hex(),
        "proof": encode_dleq(share.proof),
    }


def decode_coin_share(doc: JSON, path: str = "$") -> coin.CoinShare:
    expect_object(doc, path, ("index", "name", "value", "proof"))
    return coin.CoinShare(
        expect_int(doc["index"], f"{path}.index"),
        hex_in(doc["name"], f"{path}.name"),
        hex_in(doc["value"], f"{path}.value"),
        decode_dleq(doc["proof"], f"{path}.proof"),
    )


# -- Ciphertexts and decryption shares ------------------------------------------------------------


def encode_ciphertext(ciphertext: tenc.Ciphertext) -> JSON:
    h = ciphertext.header
    return {
        "header": {
            "label": h.label.hex(),
            "c": h.c.hex(),
            "u": h.u.hex(),
            "u_bar": h.u_bar.hex(),
            "e": scalar_out(h.e),
            "f": scalar_out(h.f),
        },
        "body": ciphertext.body.hex(),
    }


def decode_ciphertext(doc: JSON, path: str = "$") -> tenc.Ciphertext:
    expect_object(doc, path, ("header", "body"))
    hp = f"{path}.header"
    h = expect_object(doc["header"], hp, ("label", "c", "u", "u_bar", "e", "f"))
    header = tenc.Tdh2Ciphertext(
        hex_in(h["label"], f"{hp}.label"),
        hex_in(h["c"], f"{hp}.c"),
        hex_in(h["u"], f"{hp}.u"),
        hex_in(h["u_bar"], f"{hp}.u_bar"),
        scalar_in(h["e"], f"{hp}.e"),
        scalar_in(h["f"], f"{hp}.f"),
    )
    return tenc.Ciphertext(header, hex_in(doc["body"], f"{path}.body"))


def encode_decryption_share(share: tenc.DecryptionShare) -> JSON:
    return {
        "index": share.index,
        "ciphertext_id": share.ciphertext_id.hex(),
        "value": share.value.hex(),
        "proof": encode_dleq(share.proof),
    }


def decode_decryption_share(doc: JSON, path: str = "$") -> tenc.DecryptionShare:
    expect_object(doc, path, ("index", "ciphertext_id", "value", "proof"))
    return tenc.DecryptionShare(
        expect_int(doc["index"], f"{path}.index"),
        hex_in(doc["ciphertext_id"], f"{path}.ciphertext_id"),
        hex_in(doc["value"], f"{path}.value"),
        decode_dleq(doc["proof"], f"{path}.proof"),
    )


# -- Verdicts -------------------------------------------------------------------------------------


def encode_verdict(outcome: Any) -> JSON:
    """``valid`` for None, a fault's value, a Rejected's reason, or a result as hex."""
    if outcome is None:
        return VALID
    if isinstance(outcome, coin.Rejected | tenc.Rejected | erasure.Rejected):
        return outcome.reason.value
    if isinstance(outcome, coin.CoinFault | tenc.DecryptionFault | erasure.ErasureFault):
        return outcome.value
    if isinstance(outcome, coin.CoinValue):
        return {"coin": outcome.digest.hex(), "bit": outcome.bit}
    if isinstance(outcome, bytes):
        return {"plaintext": outcome.hex()}
    raise TypeError(f"no verdict for {outcome!r}")


# -- Vectors --------------------------------------------------------------------------------------


def _tamper_point(data: bytes) -> bytes:
    """Another valid point: the encoding of data·g (so the proof, not the decoder, fails)."""
    return group.encode_point(group.add(group.decode_point(data), group.GENERATOR))


def _coin_cases(public: coin.CoinPublicKey, secrets: tuple[coin.CoinSecretShare, ...]) -> list:
    name = b"aba/0/round/1"
    shares = [coin.coin_share(public, s, name) for s in secrets]
    good = shares[1]
    flipped = attrs.evolve(good.proof, response=(good.proof.response + 1) % group.ORDER)
    singles = {
        "valid": (good, 1),
        "bad-proof-value": (attrs.evolve(good, value=_tamper_point(good.value)), 1),
        "bad-proof-response": (attrs.evolve(good, proof=flipped), 1),
        "wrong-sender": (good, 2),
        "wrong-name": (coin.coin_share(public, secrets[1], b"aba/0/round/2"), 1),
        "unknown-index": (attrs.evolve(good, index=public.n), None),
        "off-curve": (attrs.evolve(good, value=b"\x02" + bytes(32)), 1),
        "scalar-out-of-range": (
            attrs.evolve(good, proof=attrs.evolve(good.proof, challenge=group.ORDER)),
            1,
        ),
        "another-nodes-share": (attrs.evolve(shares[0], index=1), 1),
    }
    cases = []
    for label, (share, sender) in singles.items():
        cases.append(
            {
                "id": f"coin-share/{label}",
                "kind": "coin-share",
                "input": {
                    "public": encode_public_key(public),
                    "name": name.hex(),
                    "share": encode_coin_share(share),
                    "sender": sender,
                },
                "expected": encode_verdict(coin.verify_coin_share(public, name, share, sender)),
            }
        )
    k = public.threshold
    bad = attrs.evolve(shares[0], value=_tamper_point(shares[0].value))
    sets = {
        "first-k": shares[:k],
        "last-k": shares[-k:],
        "all": shares,
        "too-few": shares[: k - 1],
        "duplicate": [shares[0], *shares[: k - 1]] if k > 1 else [shares[0], shares[0]],
        "one-bad": [bad, *shares[1:]],
    }
    for label, chosen in sets.items():
        cases.append(
            {
                "id": f"coin-combine/{label}",
                "kind": "coin-combine",
                "input": {
                    "public": encode_public_key(public),
                    "name": name.hex(),
                    "shares": [encode_coin_share(s) for s in chosen],
                },
                "expected": encode_verdict(coin.combine_coin_shares(public, name, chosen)),
            }
        )
    return cases


def _share(
    public: tenc.EncryptionPublicKey, secret: tenc.DecryptionKeyShare, ct: tenc.Ciphertext
) -> tenc.DecryptionShare:
    share = tenc.decryption_share(public, secret, ct)
    if isinstance(share, tenc.Rejected):
        raise AssertionError(f"vector generation: no share for a valid ciphertext: {share}")
    return share


def _encryption_cases(
    public: tenc.EncryptionPublicKey, secrets: tuple[tenc.DecryptionKeyShare, ...]
) -> list:
    label = b"honeybadger/epoch/0/proposer/2"
    ct = tenc.encrypt(public, label, b"batch of transactions", bytes(range(32)))
    shares = [_share(public, s, ct) for s in secrets]
    other = tenc.encrypt(public, label, b"another batch", bytes(range(1, 33)))
    h = ct.header
    ciphertexts = {
        "valid": (ct, None),
        "wrong-label": (ct, b"honeybadger/epoch/1/proposer/2"),
        "tampered-c": (attrs.evolve(ct, header=attrs.evolve(h, c=bytes(32))), None),
        "tampered-label": (attrs.evolve(ct, header=attrs.evolve(h, label=b"x")), None),
        "tampered-u": (attrs.evolve(ct, header=attrs.evolve(h, u=_tamper_point(h.u))), None),
        "off-curve-u": (attrs.evolve(ct, header=attrs.evolve(h, u=b"\x03" + bytes(32))), None),
        "f-out-of-range": (attrs.evolve(ct, header=attrs.evolve(h, f=group.ORDER)), None),
    }
    cases = []
    for name, (c, expected_label) in ciphertexts.items():
        cases.append(
            {
                "id": f"ciphertext/{name}",
                "kind": "ciphertext",
                "input": {
                    "ciphertext": encode_ciphertext(c),
                    "label": None if expected_label is None else expected_label.hex(),
                },
                "expected": encode_verdict(tenc.verify_ciphertext(c, expected_label)),
            }
        )
    good = shares[1]
    other_share = _share(public, secrets[1], other)
    flipped = attrs.evolve(good.proof, challenge=(good.proof.challenge + 1) % group.ORDER)
    singles = {
        "valid": (good, 1),
        "bad-proof-value": (attrs.evolve(good, value=_tamper_point(good.value)), 1),
        "bad-proof-challenge": (attrs.evolve(good, proof=flipped), 1),
        "wrong-sender": (good, 0),
        "wrong-ciphertext": (other_share, 1),
        "unknown-index": (attrs.evolve(good, index=-1), None),
        "off-curve": (attrs.evolve(good, value=b"\x02" + bytes(32)), 1),
    }
    for name, (share, sender) in singles.items():
        cases.append(
            {
                "id": f"decryption-share/{name}",
                "kind": "decryption-share",
                "input": {
                    "public": encode_public_key(public),
                    "ciphertext": encode_ciphertext(ct),
                    "share": encode_decryption_share(share),
                    "sender": sender,
                },
                "expected": encode_verdict(tenc.verify_decryption_share(public, ct, share, sender)),
            }
        )
    k = public.threshold
    # A Byzantine encryptor: a valid TDH2 part whose body no key opens (every node agrees)
    junk = tenc.Ciphertext(
        tenc.encapsulate(public, label, bytes(32), bytes(range(2, 34))), b"\x00" * 40
    )
    junk_shares = [_share(public, s, junk) for s in secrets[:k]]
    bad = attrs.evolve(shares[0], value=_tamper_point(shares[0].value))
    sets = {
        "first-k": (ct, shares[:k]),
        "last-k": (ct, shares[-k:]),
        "too-few": (ct, shares[: k - 1]),
        "duplicate": (ct, [shares[0], shares[0], *shares[1 : k - 1]]),
        "one-bad": (ct, [bad, *shares[1:]]),
        "undecryptable-body": (junk, junk_shares),
    }
    for name, (c, chosen) in sets.items():
        cases.append(
            {
                "id": f"decryption-combine/{name}",
                "kind": "decryption-combine",
                "input": {
                    "public": encode_public_key(public),
                    "ciphertext": encode_ciphertext(c),
                    "shares": [encode_decryption_share(s) for s in chosen],
                },
                "expected": encode_verdict(tenc.combine_shares(public, c, chosen)),
            }
        )
    return cases


def _erasure_cases(k: int, n: int) -> list:
    d = erasure.disperse(b"a proposal of several transactions", k, n)
    cases = []
    branches = {
        "valid": (1, d.blocks[1], d.branches[1]),
        "wrong-index": (n, d.blocks[1], d.branches[1]),
        "other-leaf": (2, d.blocks[1], d.branches[1]),
        "tampered-block": (1, b"\x00" + d.blocks[1][1:], d.branches[1]),
        "short-branch": (1, d.blocks[1], d.branches[1][:-1]),
    }
    for name, (index, block, branch) in branches.items():
        cases.append(
            {
                "id": f"erasure-branch/{name}",
                "kind": "erasure-branch",
                "input": {
                    "root": d.root.hex(),
                    "n": n,
                    "index": index,
                    "block": block.hex(),
                    "branch": [s.hex() for s in branch],
                },
                "expected": encode_verdict(erasure.verify_branch(d.root, n, index, block, branch)),
            }
        )
    # A Byzantine sender: commits to blocks of no codeword (block n-1 zeroed)
    forged = (*d.blocks[:-1], bytes(len(d.blocks[-1])))
    forged_root = erasure.merkle_root(forged)
    sets = {
        "first-k": (d.root, list(enumerate(d.blocks))[:k]),
        "last-k": (d.root, list(enumerate(d.blocks))[-k:]),
        "too-few": (d.root, list(enumerate(d.blocks))[: k - 1]),
        "inconsistent": (forged_root, list(enumerate(forged))[-k:]),
    }
    decodes = {
        "valid": list(enumerate(d.blocks))[1 : k + 1],
        "wrong-index": [(n, d.blocks[0]), *enumerate(d.blocks)],
        "duplicate-index": [(0, d.blocks[0]), (0, d.blocks[0]), *enumerate(d.blocks)],
        "unequal-lengths": [(0, d.blocks[0]), (1, d.blocks[1] + b"\x00")],
        "bad-framing": [(j, b"\xff" * len(d.blocks[0])) for j in range(k)],
    }
    for name, blocks in decodes.items():
        cases.append(
            {
                "id": f"erasure-decode/{name}",
                "kind": "erasure-decode",
                "input": {"k": k, "n": n, "blocks": [[i, b.hex()] for i, b in blocks]},
                "expected": encode_verdict(erasure.decode(blocks, k, n)),
            }
        )
    for name, (root, blocks) in sets.items():
        cases.append(
            {
                "id": f"erasure-reconstruct/{name}",
                "kind": "erasure-reconstruct",
                "input": {
                    "root": root.hex(),
                    "k": k,
                    "n": n,
                    "blocks": [[i, b.hex()] for i, b in blocks],
                },
                "expected": encode_verdict(erasure.reconstruct(root, blocks, k, n)),
            }
        )
    return cases


def crypto_vectors(n: int = 4, f: int = 1, seed: bytes = b"mnemosyne/vectors") -> list[JSON]:
    """Deterministic conformance cases (positive and negative) at n nodes, f faults."""
    coin_public, coin_secrets = coin.deal_coin(n, f + 1, seed + b"/coin")
    enc_public, enc_secrets = tenc.deal_encryption(n, f + 1, seed + b"/tdh2")
    return [
        *_coin_cases(coin_public, coin_secrets),
        *_encryption_cases(enc_public, enc_secrets),
        *_erasure_cases(n - 2 * f, n),
    ]


def _sender(doc: JSON, path: str) -> int | None:
    return None if doc is None else expect_int(doc, path)


def run_crypto_vector(case: JSON) -> JSON:
    """Our verdict on a case's input (the ``expected`` field is not read)."""
    kind = expect_str(case["kind"], "$.kind")
    inp = case["input"]
    p = "$.input"
    if kind == "coin-share":
        public = decode_coin_public_key(inp["public"], f"{p}.public")
        share = decode_coin_share(inp["share"], f"{p}.share")
        name = hex_in(inp["name"], f"{p}.name")
        return encode_verdict(
            coin.verify_coin_share(public, name, share, _sender(inp["sender"], f"{p}.sender"))
        )
    if kind == "coin-combine":
        public = decode_coin_public_key(inp["public"], f"{p}.public")
        name = hex_in(inp["name"], f"{p}.name")
        shares = [
            decode_coin_share(s, f"{p}.shares[{i}]")
            for i, s in enumerate(expect_array(inp["shares"], f"{p}.shares"))
        ]
        return encode_verdict(coin.combine_coin_shares(public, name, shares))
    if kind == "ciphertext":
        ct = decode_ciphertext(inp["ciphertext"], f"{p}.ciphertext")
        label = None if inp["label"] is None else hex_in(inp["label"], f"{p}.label")
        return encode_verdict(tenc.verify_ciphertext(ct, label))
    if kind == "decryption-share":
        public_e = decode_encryption_public_key(inp["public"], f"{p}.public")
        ct = decode_ciphertext(inp["ciphertext"], f"{p}.ciphertext")
        dshare = decode_decryption_share(inp["share"], f"{p}.share")
        sender = _sender(inp["sender"], f"{p}.sender")
        return encode_verdict(tenc.verify_decryption_share(public_e, ct, dshare, sender))
    if kind == "decryption-combine":
        public_e = decode_encryption_public_key(inp["public"], f"{p}.public")
        ct = decode_ciphertext(inp["ciphertext"], f"{p}.ciphertext")
        dshares = [
            decode_decryption_share(s, f"{p}.shares[{i}]")
            for i, s in enumerate(expect_array(inp["shares"], f"{p}.shares"))
        ]
        return encode_verdict(tenc.combine_shares(public_e, ct, dshares))
    if kind == "erasure-branch":
        branch = [hex_in(s, f"{p}.branch[{i}]") for i, s in enumerate(inp["branch"])]
        return encode_verdict(
            erasure.verify_branch(
                hex_in(inp["root"], f"{p}.root", 32),
                expect_int(inp["n"], f"{p}.n", 1),
                expect_int(inp["index"], f"{p}.index"),
                hex_in(inp["block"], f"{p}.block"),
                branch,
            )
        )
    if kind in ("erasure-decode", "erasure-reconstruct"):
        blocks = [
            (expect_int(b[0], f"{p}.blocks[{i}][0]"), hex_in(b[1], f"{p}.blocks[{i}][1]"))
            for i, b in enumerate(expect_array(inp["blocks"], f"{p}.blocks"))
        ]
        k = expect_int(inp["k"], f"{p}.k", 1)
        n = expect_int(inp["n"], f"{p}.n", 1)
        if kind == "erasure-decode":
            return encode_verdict(erasure.decode(blocks, k, n))
        return encode_verdict(
            erasure.reconstruct(
                hex_in(inp["root"], f"{p}.root", 32),
                blocks,
                k,
                n,
            )
        )
    raise DecodeError("$.kind", f"unknown kind {kind!r}")


def check_crypto_vector(case: JSON) -> bool:
    """Our implementation reaches the case's expected verdict."""
    return run_crypto_vector(case) == case["expected"]


def write_crypto_vectors(directory: Path) -> Path:
    """Writes ``threshold-crypto.json`` ({"format", "n", "f", "cases"}) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "threshold-crypto.json"
    document = {"format": FORMAT, "n": 4, "f": 1, "cases": crypto_vectors(4, 1)}
    path.write_text(dumps(document), encoding="utf-8")
    return path


# -- Benchmark ------------------------------------------------------------------------------------


def _rate(work: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``work`` over about ``seconds`` (at least one call)."""
    count, started = 0, time.perf_counter()
    while True:
        work()
        count += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return count / elapsed


def bench_threshold(seconds: float) -> dict[str, Any]:
    """Threshold decryptions and coin flips per second at (n, f) = (4, 1) and (16, 5).

    One *decryption* = f+1 nodes each make a decryption share of a 1 KiB payload's ciphertext,
    then one node verifies the ciphertext and the f+1 shares' proofs, combines them and opens
    the AES-GCM body (what a HoneyBadger node does per proposal, minus the network). One *coin
    flip* = f+1 coin shares made, then verified and combined by one node. Single core.
    ``seconds`` is split evenly over the four measurements.
    """
    share = max(seconds / 4, 0.01)
    figures: dict[str, Any] = {"seconds_per_measurement": round(share, 3)}
    payload = bytes(1024)
    for n, f in ((4, 1), (16, 5)):
        k = f + 1
        enc_public, enc_secrets = tenc.deal_encryption(n, k, b"bench/tdh2")
        coin_public, coin_secrets = coin.deal_coin(n, k, b"bench/coin")
        ct = tenc.encrypt(enc_public, b"bench", payload, bytes(32))
        counter = iter(range(1 << 62))

        def decryption(
            pk: tenc.EncryptionPublicKey = enc_public,
            sk: tuple[tenc.DecryptionKeyShare, ...] = enc_secrets[:k],
            c: tenc.Ciphertext = ct,
        ) -> None:
            tenc.clear_caches()  # the same ciphertext each time: measure the proofs, not a cache
            if tenc.decrypt_with(pk, sk, c) != payload:
                raise AssertionError("benchmark decryption failed")

        def flip(
            pk: coin.CoinPublicKey = coin_public,
            sk: tuple[coin.CoinSecretShare, ...] = coin_secrets[:k],
            names: Iterator[int] = counter,
        ) -> None:
            coin.clear_caches()
            name = next(names).to_bytes(8, "big")  # a fresh coin each time
            if not isinstance(coin.toss(pk, sk, name), coin.CoinValue):
                raise AssertionError("benchmark coin flip failed")

        figures[f"n{n}_f{f}"] = {
            "threshold_decryptions_per_second": round(_rate(decryption, share), 1),
            "coin_flips_per_second": round(_rate(flip, share), 1),
        }
    return figures
