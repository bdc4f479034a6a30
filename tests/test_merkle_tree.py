"""Merkle trees (RFC 9162 §2.1) through every layer: vectors, spec, impl, model, proofs, oracle."""

import json

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from mnemosyne_consensus.impl import merkle_tree as impl
from mnemosyne_consensus.model_checks import merkle_tree as model
from mnemosyne_consensus.model_checks.engine import explore
from mnemosyne_consensus.model_checks.validate import validate_lines
from mnemosyne_consensus.model_checks.vectors import generate_cases, random_runs
from mnemosyne_consensus.proofs import merkle_tree as proofs
from mnemosyne_consensus.proofs.core import check_goal
from mnemosyne_consensus.spec import merkle_tree as spec

PROTOCOL = model.PROTOCOL

# -- Published test vectors ---------------------------------------------------------------------
# The leaf inputs and hashes below are the RFC 6962 test data of transparency-dev/merkle
# (testonly/constants.go: LeafInputs, RootHashes; proof/verify_test.go: inclusionProofs,
# consistencyProofs), the same data as google/certificate-transparency's C++ tests.

LEAVES = tuple(
    bytes.fromhex(x)
    for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f")
)  # fmt: skip
EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ROOTS = (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)
H = {
    "l1": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "n23": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "n4567": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    "l4": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "l6": "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "n67": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "n0123": "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "n01": "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "l0": "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "n45": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
}
# (leaf index, tree size, path) -- the Go file numbers leaves from 1
INCLUSION = (
    (0, 8, ("l1", "n23", "n4567")),
    (5, 8, ("l4", "n67", "n0123")),
    (2, 3, ("n01",)),
    (1, 5, ("l0", "n23", "l4")),
)
CONSISTENCY = (
    (1, 8, ("l1", "n23", "n4567")),
    (6, 8, ("n45", "n67", "n0123")),
    (2, 5, ("n23", "l4")),
    (6, 7, ("n45", "l6", "n0123")),
)


def _path(names):
    return tuple(bytes.fromhex(H[n]) for n in names)


def test_tree_hashes_match_the_published_roots():
    assert spec.mth(()).hex() == EMPTY_ROOT
    for size, root in enumerate(ROOTS, start=1):
        assert spec.mth(LEAVES[:size]).hex() == root
        assert impl.root(impl.build(LEAVES[:size])).hex() == root


@pytest.mark.parametrize(("index", "size", "names"), INCLUSION)
def test_inclusion_proofs_match_the_published_ones(index, size, names):
    tree = LEAVES[:size]
    expected = _path(names)
    assert spec.path(index, tree) == expected
    assert impl.inclusion_path(impl.build(tree), index, size) == expected
    root = bytes.fromhex(ROOTS[size - 1])
    leaf_hash = spec.rfc_leaf_hash(tree[index])
    assert impl.verify_inclusion(index, size, leaf_hash, expected, root)
    assert spec.inclusion_holds(index, size, tree[index], expected, root)


@pytest.mark.parametrize(("first", "second", "names"), CONSISTENCY)
def test_consistency_proofs_match_the_published_ones(first, second, names):
    tree = LEAVES[:second]
    expected = _path(names)
    assert spec.proof(first, tree) == expected
    assert impl.consistency_path(impl.build(tree), first, second) == expected
    r1, r2 = bytes.fromhex(ROOTS[first - 1]), bytes.fromhex(ROOTS[second - 1])
    assert impl.verify_consistency(first, second, r1, r2, expected)
    assert spec.consistency_holds(first, second, r1, r2, expected)
    # the Go suite's corruptions: all refused by both
    for bad in (
        (first, second, r2, r1, expected),
        (first, second, r1, r2, expected[:-1]),
        (first, second, r1, r2, (*expected, r1)),
        (first, second, r1, r2, (bytes([expected[0][0] ^ 16]) + expected[0][1:], *expected[1:])),
        (first + 1, second, r1, r2, expected),
        (first, second * 2, r1, r2, expected),
    ):
        assert not impl.verify_consistency(*bad)
        assert not spec.consistency_holds(*bad)


def test_spec_and_impl_agree_on_every_proof_of_trees_up_to_64_leaves():
    for n in range(1, 65):
        leaves = tuple(i.to_bytes(2, "big") for i in range(n))
        tree = impl.build(leaves)
        root = spec.mth(leaves)
        assert impl.root(tree) == root
        for m in range(n):
            path = spec.path(m, leaves)
            assert impl.inclusion_path(tree, m, n) == path
            assert impl.verify_inclusion(m, n, spec.rfc_leaf_hash(leaves[m]), path, root)
        for m in range(1, n + 1):
            proof = spec.proof(m, leaves)
            assert impl.consistency_path(tree, m, n) == proof
            assert impl.verify_consistency(m, n, spec.mth(leaves[:m]), root, proof)


def test_path_lengths_are_the_closed_forms_the_z3_lemmas_use():
    def length(m, last):
        inner = (m ^ last).bit_length()
        return inner + bin(m >> inner).count("1")

    # the impl's PATH and PROOF equal the spec's (checked above up to 64 leaves) and are cheap
    for n in range(1, 200):
        tree = impl.build(tuple(bytes([i % 256]) for i in range(n)))
        for m in range(n):
            assert len(impl.inclusion_path(tree, m, n)) == length(m, n - 1)
        for m in range(1, n):
            shift = (m & -m).bit_length() - 1
            power_of_two = m & (m - 1) == 0
            expected = 1 + length((m - 1) >> shift, (n - 1) >> shift) - power_of_two
            assert len(impl.consistency_path(tree, m, n)) == expected


def test_a_size_without_its_root_is_not_authenticated_by_an_inclusion_proof():
    # why the model tampers sizes only together with roots: leaf 0 of [a, a, a] "verifies" in
    # a tree of 4 leaves whose root is the 3-leaf root (the RFC's loop never reads the size
    # again once sn reaches 0) -- a verifier must take size and root from one signed head
    leaves = (b"a", b"a", b"a")
    path, root = spec.path(0, leaves), spec.mth(leaves)
    assert impl.verify_inclusion(0, 4, spec.rfc_leaf_hash(b"a"), path, root)
    assert spec.inclusion_holds(0, 4, b"a", path, root)


def test_the_second_preimage_forgery_needs_the_missing_domain_separation():
    leaves = (b"a", b"b", b"c", b"d")
    for h, forged_verifies in ((spec.RFC_HASHER, False), (model.NO_SEPARATION, True)):
        root, path = spec.mth(leaves, h), spec.path(0, leaves, h)
        data = h.leaf(b"a") + h.leaf(b"b")  # the interior node over leaves 0 and 1
        assert impl.verify_inclusion(0, 2, h.leaf(data), path[1:], root, h) is forged_verifies
        assert spec.inclusion_holds(0, 2, data, path[1:], root, h) is forged_verifies


def test_consistency_from_the_empty_tree_is_refused_and_a_first_head_is_taken_on_trust():
    empty = spec.mth(())
    assert not spec.consistency_holds(0, 1, empty, spec.mth((b"a",)), ())
    assert not impl.verify_consistency(0, 1, empty, spec.mth((b"a",)), ())
    node, effects = impl.step(impl.new(), impl.ReceiveHead(1, spec.mth((b"a",)), ()))
    assert effects.accepted == "head" and node.trusted.size == 1


# -- the verifier: every fault kind, state unchanged ---------------------------------------------


def _trusted_node():
    leaves = (b"a", b"b", b"c")
    node = impl.VerifierState(spec.TreeHead(3, spec.mth(leaves)))
    return node, leaves


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        (impl.ReceiveHead(4, b"short", ()), impl.FaultKind.MALFORMED),
        (impl.ReceiveInclusion(0, 1, "text", (), bytes(32)), impl.FaultKind.MALFORMED),
        (impl.ReceiveConsistency(True, 2, bytes(32), bytes(32), ()), impl.FaultKind.MALFORMED),
        (impl.ReceiveInclusion(3, 3, b"a", (), bytes(32)), impl.FaultKind.INDEX_OUT_OF_RANGE),
        (impl.ReceiveInclusion(0, 3, b"a", (), bytes(32)), impl.FaultKind.INCLUSION_PROOF_INVALID),
        (impl.ReceiveHead(2, bytes(32), ()), impl.FaultKind.SIZE_REGRESSION),
        (impl.ReceiveConsistency(3, 2, bytes(32), bytes(32), ()), impl.FaultKind.SIZE_REGRESSION),
        (impl.ReceiveHead(4, bytes(32), (bytes(32),)), impl.FaultKind.CONSISTENCY_PROOF_INVALID),
        (
            impl.ReceiveConsistency(1, 2, bytes(32), bytes(32), (bytes(32),)),
            impl.FaultKind.CONSISTENCY_PROOF_INVALID,
        ),
    ],
)
def test_every_fault_kind_leaves_the_verifier_unchanged(event, kind):
    node, _ = _trusted_node()
    after, effects = impl.step(node, event)
    assert after == node
    assert [f.kind for f in effects.faults] == [kind]
    assert effects.accepted is None
    assert model.refusal(node, event) is kind


def test_an_honest_head_moves_the_verifier_forward():
    node, leaves = _trusted_node()
    longer = (*leaves, b"d", b"e")
    proof = spec.proof(3, longer)
    after, effects = impl.step(node, impl.ReceiveHead(5, spec.mth(longer), proof))
    assert effects.accepted == "head" and not effects.faults
    assert after.trusted == spec.TreeHead(5, spec.mth(longer))


def test_a_log_rejects_a_leaf_that_is_not_bytes():
    log = impl.LogNode((b"a",))
    after, effects = impl.step_log(log, impl.AppendRequest("a"))
    assert after == log and effects.rejections == (impl.RejectReason.MALFORMED_LEAF,)
    after, effects = impl.step_log(log, impl.AppendRequest(b"b"))
    assert after.leaves == (b"a", b"b")
    assert effects.head == spec.TreeHead(2, spec.mth((b"a", b"b")))


# -- the model -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_configs_hold_exhaustively_with_pinned_state_counts(name):
    config = PROTOCOL.config(name)
    model_ = PROTOCOL.build(config, None)
    result = explore(model_)
    assert result.outcome == "ok", result.violation
    assert result.complete and not result.unreached
    assert result.distinct_states == config.expected_distinct_states


@pytest.mark.parametrize("mutant", PROTOCOL.mutants, ids=lambda m: m.name)
def test_every_mutant_is_caught_with_a_trace(mutant):
    config = PROTOCOL.config(mutant.config or "tiny")
    result = explore(PROTOCOL.build(config, mutant).restricted_to([mutant.breaks]))
    assert result.outcome == "violation"
    assert result.violation.property_name == mutant.breaks
    assert len(result.violation.trace) >= 2


def test_the_domain_separation_mutant_is_caught_by_the_interior_node_forgery():
    mutant = PROTOCOL.mutant("no-domain-separation")
    result = explore(PROTOCOL.build(PROTOCOL.config("tiny"), mutant))
    assert result.violation.property_name == "inclusion_verifies_iff_honest"
    assert "interior-as-leaf" in result.violation.trace[-1].action_text


def test_the_skipped_old_root_mutant_accepts_a_forked_old_root():
    mutant = PROTOCOL.mutant("consistency-skips-old-root")
    model_ = PROTOCOL.build(PROTOCOL.config("small"), mutant)
    result = explore(model_.restricted_to(["consistency_verifies_iff_honest"]))
    assert "forked-old-root" in result.violation.trace[-1].action_text


def test_every_always_property_has_a_mutant():
    model_ = PROTOCOL.build(PROTOCOL.default_config, None)
    always = {p.name for p in (*model_.invariants, *model_.step_properties)}
    assert always == {m.breaks for m in PROTOCOL.mutants}


def test_hypothesis_machine_random_logs_and_tampering():
    run_state_machine_as_test(
        model.MerkleTreeMachine,
        settings=settings(max_examples=30, stateful_step_count=40, derandomize=True, deadline=None),
    )


# -- proofs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("proof", proofs.PROOFS, ids=lambda p: p.name)
def test_proofs_are_proved(proof):
    assert check_goal(proof.build(None)).status == "proved"


@pytest.mark.parametrize(
    ("mutant", "name"), [(m.name, p) for m in proofs.MUTANTS for p in m.breaks]
)
def test_proof_mutants_have_counterexamples(mutant, name):
    (proof,) = [p for p in proofs.PROOFS if p.name == name]
    verdict = check_goal(proof.build(mutant))
    assert verdict.status == "counterexample"
    assert "claim violated" in verdict.counterexample


# -- oracle --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cases():
    return generate_cases(PROTOCOL, model.ORACLE)


def test_vectors_have_every_fault_kind_and_both_handlers(cases):
    outcomes = {c.meta["expected"] for c in cases}
    assert {c.handler for c in cases} == {"append", "receive"}
    assert {f"fault:{k.value}" for k in impl.FaultKind} <= outcomes
    for case in cases:
        node = model.CODEC.decode_state(case.pre)
        post, effects = model.CODEC.step(node, model.CODEC.decode_event(case.event))
        assert model.CODEC.encode_state(post) == case.post
        assert model.CODEC.encode_effects(effects) == case.effects
        if case.meta["negative"]:
            assert case.post == case.pre


def test_codec_round_trips():
    codec = model.CODEC
    node, leaves = _trusted_node()
    for state in (node, impl.LogNode(leaves)):
        assert codec.decode_state(json.loads(json.dumps(codec.encode_state(state)))) == state
    for event in (
        impl.AppendRequest(b"x"),
        impl.ReceiveHead(3, bytes(32), (bytes(32),)),
        impl.ReceiveInclusion(0, 3, b"a", (bytes(32), bytes(32)), bytes(32)),
        impl.ReceiveConsistency(1, 3, bytes(32), bytes(32), ()),
    ):
        assert codec.decode_event(json.loads(json.dumps(codec.encode_event(event)))) == event


def test_generated_trace_validates_and_a_wrong_head_is_caught():
    (run,) = random_runs(PROTOCOL, model.ORACLE, runs=1, steps=30, seed=7)
    lines = [json.dumps(line) for line in run]
    result = validate_lines("merkle-tree", lines, model.ORACLE.step_checker)
    assert result.failure is None and result.steps == 30
    header = {"format": "mnemosyne-oracle/1", "protocol": "merkle-tree", "nodes": 2}
    bad = {  # a verifier adopting a head without any proof
        "node": 1,
        "event": {"type": "receive", "message": {"type": "head", "size": 1,
                                                 "root": "00" * 32, "path": []}},
        "state": {"role": "verifier", "trusted": {"size": 1, "root": "00" * 32}},
    }  # fmt: skip
    step_ok = validate_lines(
        "merkle-tree", [json.dumps(header), json.dumps(bad)], model.ORACLE.step_checker
    )
    assert step_ok.failure is None  # the first head is taken on trust
    wrong = dict(bad, state={"role": "verifier", "trusted": {"size": 2, "root": "00" * 32}})
    failed = validate_lines(
        "merkle-tree", [json.dumps(header), json.dumps(wrong)], model.ORACLE.step_checker
    )
    assert failed.failure is not None and failed.failure.property_name == "refinement"
