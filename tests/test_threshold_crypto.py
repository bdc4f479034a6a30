"""Threshold cryptography for HoneyBadgerBFT: group, coin (CKS 2005), TDH2, erasure coding.

What these tests establish, and what they do not: they check the algebra and the validation
(round trips, any f+1 valid shares agree, f shares are refused, every typed rejection, tampered
shares and proofs are caught, the proof-skipping mutant lets a Byzantine share through and
breaks the result). Security properties (CCA security of TDH2, unpredictability of the coin,
soundness of the DLEQ proofs) rest on assumptions (DDH/CDH in secp256k1, SHA-256 as a random
oracle) that no test can establish; ``test_coin_not_determined_by_f_shares`` states precisely
the information-theoretic part that it does check.
"""

import functools
import json

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnemosyne_consensus.impl import erasure
from mnemosyne_consensus.impl import threshold_coin as coin
from mnemosyne_consensus.impl import threshold_encryption as tenc
from mnemosyne_consensus.impl import threshold_group as group
from mnemosyne_consensus.model_checks import threshold_crypto as model
from mnemosyne_consensus.model_checks.codec import DecodeError

CI = settings(derandomize=True, deadline=None, max_examples=25)
SIZES = [(4, 1), (7, 2)]
NAME = b"aba/epoch-0/node-2/round-3"


@functools.cache
def coin_keys(n, f):
    return coin.deal_coin(n, f + 1, f"test/coin/{n}".encode())


@functools.cache
def enc_keys(n, f):
    return tenc.deal_encryption(n, f + 1, f"test/tdh2/{n}".encode())


@functools.cache
def coin_shares(n, f, name=NAME):
    public, secrets = coin_keys(n, f)
    return tuple(coin.coin_share(public, s, name) for s in secrets)


@functools.cache
def ciphertext(n, f, plaintext=b"a batch of transactions", label=b"epoch/0/proposer/1"):
    public, _ = enc_keys(n, f)
    return tenc.encrypt(public, label, plaintext, bytes(range(32)))


@functools.cache
def dec_shares(n, f):
    public, secrets = enc_keys(n, f)
    ct = ciphertext(n, f)
    return tuple(tenc.decryption_share(public, s, ct) for s in secrets)


def other_point(data):
    """A different valid point (data·g), so that decoding passes and only the proof can fail."""
    return group.encode_point(group.add(group.decode_point(data), group.GENERATOR))


def subsets(n, f):
    """Hypothesis: a subset of at least f+1 distinct node indices, in any order."""
    return st.lists(st.integers(0, n - 1), min_size=f + 1, max_size=n, unique=True)


# -- The group ------------------------------------------------------------------------------------


@CI
@given(
    coefficients=st.lists(st.integers(0, group.ORDER - 1), min_size=1, max_size=6),
    extra=st.integers(0, 3),
    data=st.data(),
)
def test_lagrange_interpolation_recovers_f0_from_any_large_enough_subset(coefficients, extra, data):
    k = len(coefficients)
    indices = data.draw(
        st.lists(st.integers(0, 40), min_size=k + extra, max_size=k + extra, unique=True)
    )
    points = [(i, group.eval_polynomial(coefficients, group.eval_point(i))) for i in indices]
    assert group.interpolate_at_zero(points) == coefficients[0]


def test_lagrange_refuses_duplicate_indices():
    with pytest.raises(ValueError):
        group.lagrange_at_zero([1, 1])


def test_interpolation_in_the_exponent_matches_the_scalar_one():
    poly = (5, 7, 11)
    points = [
        (i, group.base_mul(group.eval_polynomial(poly, group.eval_point(i)))) for i in (0, 3, 6)
    ]
    assert group.encode_point(group.interpolate_in_exponent(points)) == group.encode_point(
        group.base_mul(5)
    )


def test_identity_is_handled_without_home_made_arithmetic():
    p = group.base_mul(12345)
    assert group.add(p, group.mul(p, group.ORDER - 1)) is None  # p · p^{-1} = 1
    assert group.mul(p, 0) is None and group.base_mul(group.ORDER) is None
    assert group.add(None, p) is p and group.add() is None
    assert group.encode_point(None) == bytes(33)


def test_hash_to_point_is_deterministic_domain_separated_and_on_the_curve():
    a, b = group.hash_to_point("x", b"m"), group.hash_to_point("x", b"m")
    assert a.format() == b.format()
    assert group.hash_to_point("y", b"m").format() != a.format()
    assert group.hash_to_point("x", b"n").format() != a.format()
    assert group.decode_point(a.format()).format() == a.format()
    assert a.format()[0] == 2  # the even-y point of the hashed x-coordinate


@pytest.mark.parametrize(
    "data",
    [b"", bytes(33), b"\x02" + bytes(32), b"\x04" + bytes(32), b"\x02" + b"\xff" * 32, "02"],
)
def test_decode_point_refuses_what_is_not_a_point(data):
    with pytest.raises(group.GroupError):
        group.decode_point(data)
    assert not group.is_point(data)


def test_dleq_proof_round_trip_and_rejections():
    g2 = group.hash_to_point("t", b"base")
    proof = group.dleq_prove("t", b"ctx", 42, group.GENERATOR, g2)
    h1, h2 = group.base_mul(42), group.mul(g2, 42)
    assert group.dleq_verify("t", b"ctx", group.GENERATOR, h1, g2, h2, proof)
    # another context, another statement, another exponent, a tampered proof: all refused
    assert not group.dleq_verify("t", b"other", group.GENERATOR, h1, g2, h2, proof)
    assert not group.dleq_verify("u", b"ctx", group.GENERATOR, h1, g2, h2, proof)
    assert not group.dleq_verify("t", b"ctx", group.GENERATOR, h1, g2, group.mul(g2, 43), proof)
    bad = attrs.evolve(proof, response=(proof.response + 1) % group.ORDER)
    assert not group.dleq_verify("t", b"ctx", group.GENERATOR, h1, g2, h2, bad)
    assert not group.dleq_verify("t", b"ctx", group.GENERATOR, h1, g2, h2, group.Dleq(-1, 0))


def test_dealing_refuses_bad_thresholds():
    for n, k in [(4, 0), (4, 5), (256, 2)]:
        with pytest.raises(ValueError):
            coin.deal_coin(n, k, b"s")
        with pytest.raises(ValueError):
            tenc.deal_encryption(n, k, b"s")


# -- The coin -------------------------------------------------------------------------------------


def master_secret(seed, k, domain):
    return group.deal_polynomial(domain, seed, k - 1)[0]


@pytest.mark.parametrize(("n", "f"), SIZES)
def test_coin_is_the_hash_of_the_name_to_the_master_secret(n, f):
    """F(C) = H'(C, H(C)^x): a deterministic function of the name and the master secret x."""
    public, secrets = coin_keys(n, f)
    x = master_secret(f"test/coin/{n}".encode(), f + 1, coin.DOMAIN)
    sigma = group.mul(coin.coin_base(NAME), x)
    expected = group.hash_parts(coin.DOMAIN + "/value", NAME, group.encode_point(sigma))
    value = coin.combine_coin_shares(public, NAME, coin_shares(n, f))
    assert value == coin.CoinValue(NAME, expected)
    assert value.bit in (0, 1)
    assert group.encode_point(group.base_mul(x)) == public.public_key
    # deterministic: the same inputs give the same shares and the same coin
    assert coin.coin_share(public, secrets[0], NAME) == coin_shares(n, f)[0]


@pytest.mark.parametrize(("n", "f"), SIZES)
@CI
@given(data=st.data())
def test_any_f_plus_1_valid_coin_shares_give_the_same_coin(n, f, data):
    public, _ = coin_keys(n, f)
    shares = coin_shares(n, f)
    chosen = data.draw(subsets(n, f))
    reference = coin.combine_coin_shares(public, NAME, shares[: f + 1])
    assert isinstance(reference, coin.CoinValue)
    assert coin.combine_coin_shares(public, NAME, [shares[i] for i in chosen]) == reference


@pytest.mark.parametrize(("n", "f"), SIZES)
def test_f_coin_shares_are_not_enough(n, f):
    public, _ = coin_keys(n, f)
    shares = coin_shares(n, f)
    for j in range(n - f + 1):
        assert coin.combine_coin_shares(public, NAME, shares[j : j + f]) == coin.Rejected(
            coin.CoinFault.TOO_FEW_SHARES
        )
    # f valid shares and one duplicate of them are still f distinct nodes
    assert coin.combine_coin_shares(public, NAME, [*shares[:f], shares[0]]).reason is (
        coin.CoinFault.DUPLICATE_INDEX
    )


def test_coin_not_determined_by_f_shares():
    """What is checked: the f secret key shares of a coalition (hence its f coin shares) are
    consistent with *every* master secret. Two dealings that agree on the coalition's shares
    but differ in the master secret give byte-identical coin shares to the coalition and
    different coins. So no function of the coalition's shares alone yields the coin.

    What is assumed (CKS 2005, random-oracle model, CDH): that the public verification keys
    g^{x_i}, which do differ between the two dealings, do not help either.
    """
    n, f = 7, 2
    public, secrets = coin_keys(n, f)
    coalition = secrets[:f]
    # a second dealing: the polynomial through (0, x') and the coalition's points
    x_other = 987654321
    points = [(-1, x_other), *((s.index, s.secret) for s in coalition)]

    def at(index):  # Lagrange through the points, evaluated at node ``index``
        xs = [group.eval_point(i) for i, _ in points]
        x = group.eval_point(index)
        total = 0
        for j, (_, yj) in enumerate(points):
            num = den = 1
            for m, xm in enumerate(xs):
                if m != j:
                    num, den = num * (x - xm) % group.ORDER, den * (xs[j] - xm) % group.ORDER
            total += yj * num * pow(den, -1, group.ORDER)
        return total % group.ORDER

    other_secrets = tuple(coin.CoinSecretShare(i, at(i)) for i in range(n))
    other_public = coin.CoinPublicKey(
        n,
        f + 1,
        group.encode_point(group.base_mul(x_other)),
        tuple(group.encode_point(group.base_mul(s.secret)) for s in other_secrets),
    )
    assert other_secrets[:f] == coalition  # the coalition cannot tell the dealings apart
    for s, t in zip(coalition, other_secrets[:f], strict=True):
        assert coin.coin_share(public, s, NAME) == coin.coin_share(other_public, t, NAME)
    first = coin.toss(public, secrets[: f + 1], NAME)
    second = coin.toss(other_public, other_secrets[: f + 1], NAME)
    assert isinstance(first, coin.CoinValue) and isinstance(second, coin.CoinValue)
    assert first.digest != second.digest
    # and f shares are refused, whatever the coalition adds that is not a valid share
    forged = attrs.evolve(coin_shares(n, f)[f], value=other_point(coin_shares(n, f)[f].value))
    assert coin.combine_coin_shares(public, NAME, [*coin_shares(n, f)[:f], forged]) == (
        coin.Rejected(coin.CoinFault.BAD_PROOF, f)
    )


def test_coins_of_different_names_are_independent_values():
    public, secrets = coin_keys(4, 1)
    values = {coin.toss(public, secrets[:2], f"round/{r}".encode()).digest for r in range(16)}
    bits = {coin.toss(public, secrets[:2], f"round/{r}".encode()).bit for r in range(16)}
    assert len(values) == 16 and bits == {0, 1}


def coin_fault_cases():
    public, _ = coin_keys(4, 1)
    shares = coin_shares(4, 1)
    good = shares[1]
    return {
        coin.CoinFault.MALFORMED: [
            (attrs.evolve(good, value=b"\x02" + bytes(32)), 1),
            (attrs.evolve(good, value=b"short"), 1),
            (attrs.evolve(good, proof=group.Dleq(group.ORDER, 0)), 1),
            (attrs.evolve(good, index=True), 1),
            ("not a share", 1),
        ],
        coin.CoinFault.UNKNOWN_INDEX: [
            (attrs.evolve(good, index=4), None),
            (attrs.evolve(good, index=-1), None),
        ],
        coin.CoinFault.WRONG_SENDER: [(good, 0)],
        coin.CoinFault.WRONG_NAME: [(coin.coin_share(public, coin_keys(4, 1)[1][1], b"x"), 1)],
        coin.CoinFault.BAD_PROOF: [
            (attrs.evolve(good, value=other_point(good.value)), 1),
            (attrs.evolve(good, value=shares[0].value), 1),
            (attrs.evolve(shares[0], index=1), 1),
            (attrs.evolve(good, proof=attrs.evolve(good.proof, challenge=7)), 1),
        ],
    }


@pytest.mark.parametrize("fault", list(coin.CoinFault))
def test_every_coin_fault_is_reported(fault):
    public, _ = coin_keys(4, 1)
    shares = coin_shares(4, 1)
    if fault is coin.CoinFault.DUPLICATE_INDEX:
        got = coin.combine_coin_shares(public, NAME, [shares[2], shares[2]])
        assert got == coin.Rejected(fault, 2)
        return
    if fault is coin.CoinFault.TOO_FEW_SHARES:
        assert coin.combine_coin_shares(public, NAME, [shares[2]]) == coin.Rejected(fault)
        return
    for share, sender in coin_fault_cases()[fault]:
        assert coin.verify_coin_share(public, NAME, share, sender) is fault, share
        if sender is not None and fault is not coin.CoinFault.WRONG_SENDER:
            got = coin.combine_coin_shares(public, NAME, [share, shares[3]])
            assert isinstance(got, coin.Rejected) and got.reason is fault


@CI
@given(
    index=st.integers(0, 3),
    field=st.sampled_from(["value", "challenge", "response"]),
    delta=st.integers(1, 2**64),
)
def test_a_tampered_coin_share_or_proof_is_rejected(index, field, delta):
    public, _ = coin_keys(4, 1)
    share = coin_shares(4, 1)[index]
    if field == "value":
        point = group.add(group.decode_point(share.value), group.base_mul(delta))
        tampered = attrs.evolve(share, value=group.encode_point(point))
    else:
        old = getattr(share.proof, field)
        proof = attrs.evolve(share.proof, **{field: (old + delta) % group.ORDER})
        tampered = attrs.evolve(share, proof=proof)
    assert coin.verify_coin_share(public, NAME, share, index) is None
    assert coin.verify_coin_share(public, NAME, tampered, index) is coin.CoinFault.BAD_PROOF


# -- TDH2 threshold encryption --------------------------------------------------------------------


@pytest.mark.parametrize(("n", "f"), SIZES)
def test_encryption_round_trip(n, f):
    public, secrets = enc_keys(n, f)
    ct = ciphertext(n, f)
    assert tenc.verify_ciphertext(ct) is None
    assert tenc.verify_ciphertext(ct, b"epoch/0/proposer/1") is None
    assert tenc.decrypt_with(public, secrets[-(f + 1) :], ct) == b"a batch of transactions"
    for share in dec_shares(n, f):
        assert tenc.verify_decryption_share(public, ct, share, share.index) is None


def test_encryption_is_a_function_of_its_randomness():
    public, _ = enc_keys(4, 1)
    a = tenc.encrypt(public, b"L", b"m", bytes(32))
    assert a == tenc.encrypt(public, b"L", b"m", bytes(32))
    assert a != tenc.encrypt(public, b"L", b"m", bytes(31) + b"\x01")
    assert a.body != b"m" and len(a.body) == 1 + 16  # AES-GCM: ciphertext and 16-byte tag
    with pytest.raises(ValueError):
        tenc.encrypt(public, b"L", b"m", bytes(31))


@pytest.mark.parametrize(("n", "f"), SIZES)
@CI
@given(data=st.data(), plaintext=st.binary(max_size=64))
def test_any_f_plus_1_valid_decryption_shares_give_the_plaintext(n, f, data, plaintext):
    public, secrets = enc_keys(n, f)
    ct = tenc.encrypt(public, b"label", plaintext, b"r" * 32)
    chosen = data.draw(subsets(n, f))
    shares = [tenc.decryption_share(public, secrets[i], ct) for i in chosen]
    assert tenc.combine_shares(public, ct, shares) == plaintext


@pytest.mark.parametrize(("n", "f"), SIZES)
def test_f_decryption_shares_are_not_enough(n, f):
    public, _ = enc_keys(n, f)
    ct, shares = ciphertext(n, f), dec_shares(n, f)
    for j in range(n - f + 1):
        assert tenc.combine_shares(public, ct, shares[j : j + f]) == tenc.Rejected(
            tenc.DecryptionFault.TOO_FEW_SHARES
        )


def test_no_share_for_an_invalid_ciphertext():
    public, secrets = enc_keys(4, 1)
    ct = ciphertext(4, 1)
    bad = attrs.evolve(ct, header=attrs.evolve(ct.header, c=bytes(32)))
    assert tenc.decryption_share(public, secrets[0], bad) == tenc.Rejected(
        tenc.DecryptionFault.INVALID_CIPHERTEXT
    )


@CI
@given(
    field=st.sampled_from(["label", "c", "u", "u_bar", "e", "f"]),
    delta=st.integers(1, 2**64),
)
def test_a_tampered_ciphertext_is_invalid(field, delta):
    ct = ciphertext(4, 1)
    h = ct.header
    if field == "label":
        value = h.label + delta.to_bytes(9, "big")
    elif field == "c":
        value = (int.from_bytes(h.c, "big") ^ delta).to_bytes(32, "big")
    elif field in ("u", "u_bar"):
        value = group.encode_point(
            group.add(group.decode_point(getattr(h, field)), group.base_mul(delta))
        )
    else:
        value = (getattr(h, field) + delta) % group.ORDER
    tampered = attrs.evolve(ct, header=attrs.evolve(h, **{field: value}))
    assert tenc.verify_ciphertext(tampered) is tenc.DecryptionFault.INVALID_CIPHERTEXT


def decryption_fault_cases():
    public, secrets = enc_keys(4, 1)
    ct, shares = ciphertext(4, 1), dec_shares(4, 1)
    good = shares[1]
    other = tenc.decryption_share(public, secrets[1], ciphertext(4, 1, b"another"))
    h = ct.header
    return {
        tenc.DecryptionFault.MALFORMED: [
            (ct, attrs.evolve(good, value=b"\x03" + bytes(32)), 1),
            (ct, attrs.evolve(good, proof=group.Dleq(0, group.ORDER)), 1),
            (ct, attrs.evolve(good, index="1"), 1),
            (attrs.evolve(ct, header=attrs.evolve(h, u=b"\x02" + bytes(32))), good, 1),
            (attrs.evolve(ct, header=attrs.evolve(h, c=b"short")), good, 1),
            (attrs.evolve(ct, body=None), good, 1),
        ],
        tenc.DecryptionFault.INVALID_CIPHERTEXT: [
            (attrs.evolve(ct, header=attrs.evolve(h, e=(h.e + 1) % group.ORDER)), good, 1),
        ],
        tenc.DecryptionFault.UNKNOWN_INDEX: [(ct, attrs.evolve(good, index=9), None)],
        tenc.DecryptionFault.WRONG_SENDER: [(ct, good, 3)],
        tenc.DecryptionFault.WRONG_CIPHERTEXT: [
            (ct, other, 1),
            (attrs.evolve(ct, body=ct.body + b"\x00"), good, 1),
        ],
        tenc.DecryptionFault.BAD_PROOF: [
            (ct, attrs.evolve(good, value=other_point(good.value)), 1),
            (ct, attrs.evolve(shares[2], index=1), 1),
            (ct, attrs.evolve(good, proof=attrs.evolve(good.proof, response=1)), 1),
        ],
    }


@pytest.mark.parametrize("fault", list(tenc.DecryptionFault))
def test_every_decryption_fault_is_reported(fault):
    public, secrets = enc_keys(4, 1)
    ct, shares = ciphertext(4, 1), dec_shares(4, 1)
    if fault is tenc.DecryptionFault.WRONG_LABEL:
        assert tenc.verify_ciphertext(ct, b"epoch/1/proposer/1") is fault
        return
    if fault is tenc.DecryptionFault.DUPLICATE_INDEX:
        assert tenc.combine_shares(public, ct, [shares[0], shares[0]]) == tenc.Rejected(fault, 0)
        return
    if fault is tenc.DecryptionFault.TOO_FEW_SHARES:
        assert tenc.combine_shares(public, ct, [shares[3]]) == tenc.Rejected(fault)
        return
    if fault is tenc.DecryptionFault.DECRYPTION_FAILED:
        # a Byzantine encryptor: a valid TDH2 part, a body that no key opens
        junk = tenc.Ciphertext(tenc.encapsulate(public, b"L", bytes(32), b"q" * 32), bytes(40))
        assert tenc.verify_ciphertext(junk) is None
        junk_shares = [tenc.decryption_share(public, s, junk) for s in secrets]
        for i, j in [(0, 1), (2, 3), (1, 3)]:  # every pair of nodes reaches the same refusal
            got = tenc.combine_shares(public, junk, [junk_shares[i], junk_shares[j]])
            assert got == tenc.Rejected(fault)
        return
    for c, share, sender in decryption_fault_cases()[fault]:
        assert tenc.verify_decryption_share(public, c, share, sender) is fault, share
        if sender is not None and fault is not tenc.DecryptionFault.WRONG_SENDER:
            got = tenc.combine_shares(public, c, [share, shares[3]])
            assert isinstance(got, tenc.Rejected) and got.reason is fault


@CI
@given(
    index=st.integers(0, 3),
    field=st.sampled_from(["value", "challenge", "response"]),
    delta=st.integers(1, 2**64),
)
def test_a_tampered_decryption_share_or_proof_is_rejected(index, field, delta):
    public, _ = enc_keys(4, 1)
    ct, share = ciphertext(4, 1), dec_shares(4, 1)[index]
    if field == "value":
        point = group.add(group.decode_point(share.value), group.base_mul(delta))
        tampered = attrs.evolve(share, value=group.encode_point(point))
    else:
        old = getattr(share.proof, field)
        tampered = attrs.evolve(
            share, proof=attrs.evolve(share.proof, **{field: (old + delta) % group.ORDER})
        )
    assert tenc.verify_decryption_share(public, ct, tampered, index) is (
        tenc.DecryptionFault.BAD_PROOF
    )


# -- The mutant: accepting a share without its proof ----------------------------------------------


def byzantine_decryption_share():
    """Node 0's share with a wrong value (u^{x_0}·g) and its old proof: well formed, not valid."""
    share = dec_shares(4, 1)[0]
    return attrs.evolve(share, value=other_point(share.value))


def test_mutant_decryption_accepting_an_unproven_share_gets_a_wrong_key_or_fails():
    public, _ = enc_keys(4, 1)
    ct, honest = ciphertext(4, 1), dec_shares(4, 1)[1]
    byz = byzantine_decryption_share()
    # the correct node refuses the Byzantine share on receipt ...
    assert tenc.verify_decryption_share(public, ct, byz, 0) is tenc.DecryptionFault.BAD_PROOF
    # ... and then decrypts with the next f+1 valid shares
    assert tenc.combine_verified_shares(public, ct, [honest, dec_shares(4, 1)[2]]) == (
        b"a batch of transactions"
    )
    # the mutant node accepts it ...
    assert tenc.verify_decryption_share_skipping_proof(public, ct, byz, 0) is None
    # ... recovers a wrong key, and the payload does not open: the batch is lost
    right_key = tenc.combine_key_verified(public, ct, [honest, dec_shares(4, 1)[2]])
    wrong_key = tenc.combine_key_verified(public, ct, [byz, honest])
    assert isinstance(wrong_key, bytes) and wrong_key != right_key
    assert tenc.combine_verified_shares(public, ct, [byz, honest]) == tenc.Rejected(
        tenc.DecryptionFault.DECRYPTION_FAILED
    )
    # while an honest node that checks every proof refuses the same set, naming the culprit
    assert tenc.combine_shares(public, ct, [byz, honest]) == tenc.Rejected(
        tenc.DecryptionFault.BAD_PROOF, 0
    )


def test_mutant_coin_accepting_an_unproven_share_lets_a_byzantine_node_choose_the_coin():
    public, _ = coin_keys(4, 1)
    shares = coin_shares(4, 1)
    honest = coin.combine_coin_shares(public, NAME, shares[:2])
    # Node 0 tries values σ_0·g^j until the mutant's coin has the bit it wants (one flip)
    wanted = 1 - honest.bit
    for j in range(1, 64):
        byz = attrs.evolve(
            shares[0],
            value=group.encode_point(
                group.add(group.decode_point(shares[0].value), group.base_mul(j))
            ),
        )
        assert coin.verify_coin_share_skipping_proof(public, NAME, byz, 0) is None
        biased = coin.combine_verified_coin_shares(public, NAME, [byz, shares[1]])
        if biased.bit == wanted:
            break
    assert biased.bit == wanted and biased.digest != honest.digest
    assert coin.verify_coin_share(public, NAME, byz, 0) is coin.CoinFault.BAD_PROOF
    assert coin.combine_coin_shares(public, NAME, [byz, shares[1]]) == coin.Rejected(
        coin.CoinFault.BAD_PROOF, 0
    )


# -- Erasure coding and the Merkle commitment -----------------------------------------------------


@CI
@given(
    payload=st.binary(max_size=300),
    code=st.sampled_from([(1, 1), (1, 4), (2, 4), (3, 7), (6, 16), (4, 5)]),
    data=st.data(),
)
def test_any_k_blocks_reconstruct_the_payload(payload, code, data):
    k, n = code
    d = erasure.disperse(payload, k, n)
    assert len(d.blocks) == n and len({len(b) for b in d.blocks}) == 1
    for j in range(n):
        assert erasure.verify_branch(d.root, n, j, d.blocks[j], d.branches[j]) is None
    chosen = data.draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=n, unique=True))
    blocks = [(j, d.blocks[j]) for j in chosen]
    assert erasure.decode(blocks, k, n) == payload
    assert erasure.reconstruct(d.root, blocks, k, n) == payload
    assert erasure.decode(blocks[: k - 1], k, n) == erasure.Rejected(
        erasure.ErasureFault.TOO_FEW_SHARES
    )


def test_tree_depth_and_branch_length():
    assert [erasure.tree_depth(n) for n in (1, 2, 3, 4, 5, 8, 9, 16)] == [0, 1, 2, 2, 3, 3, 4, 4]
    d = erasure.disperse(b"x", 3, 7)
    assert {len(b) for b in d.branches} == {3}
    assert d.root == erasure.merkle_root(d.blocks)
    assert d.branches[5] == erasure.merkle_branch(d.blocks, 5)


def test_a_node_hash_is_not_a_leaf_hash():
    left, right = erasure.leaf_hash(b"a"), erasure.leaf_hash(b"b")
    assert erasure.node_hash(left, right) != erasure.leaf_hash(left + right)


def erasure_cases():
    d = erasure.disperse(b"some proposal bytes", 2, 4)
    blocks = list(enumerate(d.blocks))
    forged = (*d.blocks[:3], bytes(len(d.blocks[3])))
    forged_root = erasure.merkle_root(forged)
    return d, blocks, forged, forged_root


@pytest.mark.parametrize("fault", list(erasure.ErasureFault))
def test_every_erasure_fault_is_reported(fault):
    d, blocks, forged, forged_root = erasure_cases()
    ok = (d.root, 4, 1, d.blocks[1], d.branches[1])
    if fault is erasure.ErasureFault.MALFORMED:
        assert erasure.verify_branch(d.root, 4, 1, "not bytes", d.branches[1]) is fault
        assert erasure.decode([(0, b"ab"), (1, b"abc")], 2, 4).reason is fault
        assert erasure.decode([(0, "ab"), (1, b"ab")], 2, 4).reason is fault
    elif fault is erasure.ErasureFault.WRONG_INDEX:
        assert erasure.verify_branch(d.root, 4, 4, d.blocks[1], d.branches[1]) is fault
        assert erasure.decode([(5, d.blocks[0]), *blocks], 2, 4) == erasure.Rejected(fault, 5)
    elif fault is erasure.ErasureFault.BAD_BRANCH:
        assert erasure.verify_branch(*ok) is None
        assert erasure.verify_branch(d.root, 4, 2, d.blocks[1], d.branches[1]) is fault
        assert erasure.verify_branch(d.root, 4, 1, d.blocks[2], d.branches[1]) is fault
        assert erasure.verify_branch(d.root, 4, 1, d.blocks[1], d.branches[1][:1]) is fault
        assert erasure.verify_branch(d.root, 4, 1, d.blocks[1], (b"x", b"y")) is fault
        assert erasure.verify_branch(forged_root, 4, 1, d.blocks[1], d.branches[1]) is fault
    elif fault is erasure.ErasureFault.DUPLICATE_INDEX:
        assert erasure.decode([blocks[1], blocks[1]], 2, 4) == erasure.Rejected(fault, 1)
    elif fault is erasure.ErasureFault.TOO_FEW_SHARES:
        assert erasure.reconstruct(d.root, blocks[:1], 2, 4) == erasure.Rejected(fault)
    elif fault is erasure.ErasureFault.BAD_FRAMING:
        # a length prefix larger than the data, and non-zero padding
        assert erasure.decode([(0, b"\x00" * 7 + b"\x09")], 1, 1) == erasure.Rejected(fault)
        assert erasure.decode([(0, b"\x00" * 8 + b"\x01")], 1, 1) == erasure.Rejected(fault)
    elif fault is erasure.ErasureFault.INCONSISTENT_SHARES:
        # a Byzantine sender committed to blocks of no codeword: every set of k blocks under
        # that root is refused, whether it includes the forged block or not
        for pair in [(0, 1), (2, 3), (1, 3), (0, 2)]:
            chosen = [(j, forged[j]) for j in pair]
            assert erasure.reconstruct(forged_root, chosen, 2, 4) == erasure.Rejected(fault)
    else:  # pragma: no cover - a new member needs a case here
        pytest.fail(f"no case for {fault}")


def test_erasure_misuse_raises():
    with pytest.raises(ValueError):
        erasure.encode(b"x", 0, 4)
    with pytest.raises(ValueError):
        erasure.encode(b"x", 5, 4)
    with pytest.raises(TypeError):
        erasure.encode("x", 1, 4)


# -- Codec, vectors and benchmark -----------------------------------------------------------------


def test_codec_round_trips():
    cpub, _ = coin_keys(4, 1)
    epub, _ = enc_keys(4, 1)
    assert model.decode_coin_public_key(json.loads(json.dumps(model.encode_public_key(cpub)))) == (
        cpub
    )
    assert model.decode_encryption_public_key(model.encode_public_key(epub)) == epub
    for share in coin_shares(4, 1):
        assert model.decode_coin_share(model.encode_coin_share(share)) == share
    assert model.decode_ciphertext(model.encode_ciphertext(ciphertext(4, 1))) == ciphertext(4, 1)
    for share in dec_shares(4, 1):
        assert model.decode_decryption_share(model.encode_decryption_share(share)) == share


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.update(index="1"), "$.index"),
        (lambda d: d.update(value="0G"), "$.value"),
        (lambda d: d["proof"].update(challenge="00"), "$.proof.challenge"),
        (lambda d: d.update(extra=1), "$"),
        (lambda d: d.pop("name"), "$"),
    ],
)
def test_codec_refuses_bad_documents_with_a_path(mutate, path):
    doc = model.encode_coin_share(coin_shares(4, 1)[0])
    mutate(doc)
    with pytest.raises(DecodeError) as info:
        model.decode_coin_share(doc)
    assert info.value.path == path


def test_codec_leaves_curve_checks_to_the_verifier():
    """An off-curve point decodes; the verifier's typed reason is what conformance compares."""
    doc = model.encode_coin_share(coin_shares(4, 1)[1])
    doc["value"] = "02" + "00" * 32
    share = model.decode_coin_share(doc)
    assert coin.verify_coin_share(coin_keys(4, 1)[0], NAME, share, 1) is coin.CoinFault.MALFORMED


FAMILIES = [
    (coin.CoinFault, ("coin-",)),
    (tenc.DecryptionFault, ("ciphertext", "decryption-")),
    (erasure.ErasureFault, ("erasure-",)),
]


def test_crypto_vectors_are_deterministic_cover_every_fault_and_pass():
    vectors = model.crypto_vectors()
    assert json.dumps(vectors, sort_keys=True) == json.dumps(model.crypto_vectors(), sort_keys=True)
    assert len({v["id"] for v in vectors}) == len(vectors)
    for faults, prefixes in FAMILIES:
        family = [v for v in vectors if v["kind"].startswith(prefixes)]
        verdicts = [v["expected"] for v in family]
        # positive cases: "valid", or a value (a coin, a plaintext)
        assert "valid" in verdicts and any(isinstance(e, dict) for e in verdicts)
        # negative cases: exactly the family's typed reasons, every one of them
        reasons = {e for e in verdicts if isinstance(e, str)} - {"valid"}
        assert reasons == {f.value for f in faults}, faults
    assert all(model.check_crypto_vector(v) for v in vectors)
    # a vector with a wrong expectation fails the check
    assert not model.check_crypto_vector(dict(vectors[0], expected="bad-proof"))


def test_written_vectors_replay(tmp_path):
    path = model.write_crypto_vectors(tmp_path)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["format"] == "mnemosyne-oracle/1" and document["cases"]
    assert all(model.check_crypto_vector(case) for case in document["cases"])
    # another implementation's wrong verdict is caught: e.g. one that skips proofs
    case = next(c for c in document["cases"] if c["id"] == "coin-share/bad-proof-value")
    assert case["expected"] == "bad-proof"
    assert (
        model.encode_verdict(
            coin.verify_coin_share_skipping_proof(
                model.decode_coin_public_key(case["input"]["public"]),
                bytes.fromhex(case["input"]["name"]),
                model.decode_coin_share(case["input"]["share"]),
                case["input"]["sender"],
            )
        )
        != case["expected"]
    )


def test_bench_threshold_reports_rates():
    figures = model.bench_threshold(0.04)
    for key in ("n4_f1", "n16_f5"):
        assert figures[key]["threshold_decryptions_per_second"] > 0
        assert figures[key]["coin_flips_per_second"] > 0
