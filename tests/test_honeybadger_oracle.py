"""HoneyBadger epochs in the oracle: codec, vectors with bad shares and bad proofs, traces."""

import copy
import itertools
import json

import attrs
import jsonschema
import pytest

from mnemosyne_consensus.impl import honeybadger as impl
from mnemosyne_consensus.model_checks import honeybadger as model
from mnemosyne_consensus.model_checks import oracle, schemas
from mnemosyne_consensus.model_checks.codec import DecodeError, dumps_line
from mnemosyne_consensus.model_checks.engine import explore
from mnemosyne_consensus.model_checks.validate import validate_lines
from mnemosyne_consensus.model_checks.vectors import (
    generate_cases,
    iter_case_folders,
    random_runs,
    read_case,
    write_vectors,
)

PROTOCOL = "honeybadger"
CODEC = model.CODEC


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    """The oracle registry with honeybadger in it (patched in memory until oracle.py lists it)."""
    monkeypatch.setitem(oracle.ORACLES, PROTOCOL, (model.PROTOCOL, model.ORACLE))


@pytest.fixture(scope="module")
def cases():
    return generate_cases(model.PROTOCOL, model.ORACLE)


@pytest.fixture(scope="module")
def vector_tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("vectors")
    write_vectors(out, [(model.PROTOCOL, model.ORACLE)], traces=2)
    return out


@pytest.fixture(scope="module")
def validators(tmp_path_factory):
    """The protocol's schemas, written to a scratch dir and read back (as they would ship)."""
    out = tmp_path_factory.mktemp("schemas")
    result = {}
    for name, schema in schemas.protocol_schemas(CODEC).items():
        path = out / f"{name}.json"
        path.write_text(json.dumps(schema))
        loaded = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(loaded)
        result[name] = jsonschema.Draft202012Validator(loaded)
    return result


@pytest.mark.parametrize("name", ["impl", "impl-garbage", "impl-decrypt"])
def test_impl_configs_hold_completely_with_pinned_counts(name):
    config = model.PROTOCOL.config(name)
    result = explore(model.build(config, None))
    assert result.outcome == "ok", result.violation
    assert result.complete and not result.unreached
    assert result.distinct_states == config.expected_distinct_states
    assert model.view(next(iter(model.build(config, None).initial_states())))["epoch"] == 0


def test_generation_is_deterministic_byte_for_byte(vector_tree, tmp_path):
    write_vectors(tmp_path, [(model.PROTOCOL, model.ORACLE)], traces=2)
    files = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert files == sorted(
        p.relative_to(vector_tree) for p in vector_tree.rglob("*") if p.is_file()
    )
    assert all((tmp_path / f).read_bytes() == (vector_tree / f).read_bytes() for f in files)


def test_vectors_have_positive_cases_of_every_handler(cases):
    positive = {c.handler for c in cases if not c.meta["negative"]}
    assert positive == {"submit", "start_epoch", "receive", "receive_share", "aba_decided"}
    # a block is output (the decryption of f+1 verified shares completes the epoch)
    assert any(c.effects["block"] is not None for c in cases)
    # a share that arrives before S is known is kept for later
    assert any(c.post["early"] and not c.pre["early"] for c in cases)


@pytest.mark.parametrize(
    ("layer", "kind"),
    [
        ("tdh2", "bad-proof"),  # a wrong value, or a tampered DLEQ proof
        ("rbc", "unknown_sender"),  # a share from an impostor
        ("epoch", "duplicate_share"),  # the same node's share twice
        ("tdh2", "wrong-ciphertext"),  # a share of another proposer's ciphertext
        ("epoch", "future_epoch"),  # a share of another epoch
        ("tdh2", "wrong-sender"),
        ("tdh2", "unknown-index"),
        ("tdh2", "malformed"),  # a value that is not a point
        ("epoch", "malformed"),  # a proposer outside 0..n-1
        ("epoch", "not_in_subset"),
    ],
)
def test_negative_share_cases_are_refused_with_the_state_unchanged(cases, layer, kind):
    found = [
        c
        for c in cases
        if c.handler == "receive_share"
        and [(f["layer"], f["kind"]) for f in c.effects["faults"]] == [(layer, kind)]
    ]
    assert found, (layer, kind)
    for case in found:
        assert case.meta["negative"] and case.post == case.pre


def test_both_bad_proof_shapes_are_vectors(cases):
    bad = [c for c in cases if c.meta["expected"] == "fault:bad-proof"]
    proofs = {dumps_line(c.event["message"]["share"]["proof"]) for c in bad}
    values = {c.event["message"]["share"]["value"] for c in bad}
    assert len(proofs) >= 2 and len(values) >= 2  # tampered proof; wrong value (own proof)


def test_a_proposal_that_is_no_ciphertext_contributes_nothing(cases):
    """impl-garbage: v_3 is no ciphertext; S holds it as unusable, y_3 is empty at once, and a
    share for it is ignored (nothing to decrypt), not refused."""
    garbage = [c for c in cases if c.pre["subset"] and [3, None] in c.pre["subset"]]
    assert garbage
    assert all(c.pre["plaintexts"][3] == [] for c in garbage)
    case = garbage[0]
    node = CODEC.decode_state(case.pre)
    share = next(c for c in cases if c.meta["expected"] == "fault:bad-proof")
    event = CODEC.decode_event(share.event)
    event = impl.Receive(3, impl.DecMessage(0, 3, event.message.share))
    post, effects = CODEC.step(node, event)
    assert post == node and effects == impl.NOTHING


def test_our_impl_passes_every_vector_and_documents_validate(vector_tree, validators):
    count = negatives = 0
    for folder in iter_case_folders(vector_tree / PROTOCOL):
        case = read_case(folder)
        node = CODEC.decode_state(case["pre"])
        post, effects = CODEC.step(node, CODEC.decode_event(case["event"]))
        assert CODEC.encode_state(post) == case["post"], folder
        assert CODEC.encode_effects(effects) == case["effects"], folder
        assert CODEC.encode_state(node) == case["pre"], folder  # the decoding round-trips
        if case["meta"]["negative"]:
            assert case["post"] == case["pre"], folder
            negatives += 1
        for document, name in (("pre", "state"), ("post", "state"), ("event", "event")):
            validators[name].validate(case[document])
        validators["effects"].validate(case["effects"])
        count += 1
    assert count > 100 and negatives > 20


def test_generated_traces_validate(vector_tree, validators):
    traces = sorted((vector_tree / PROTOCOL / "traces").glob("*.jsonl"))
    assert traces
    checker = model.ORACLE.step_checker
    for trace in traces:
        lines = trace.read_text().splitlines()
        header, *steps = [json.loads(line) for line in lines]
        for doc in header["initial"]:
            validators["state"].validate(doc)
        for step in steps:
            validators["event"].validate(step["event"])
            validators["state"].validate(step["state"])
            validators["effects"].validate(step["effects"])
        result = validate_lines(PROTOCOL, lines, checker)
        assert result.failure is None, (trace, result.failure)
        assert result.steps == len(steps) > 0


def _run_to_block():
    """A random run of the 'impl' config that outputs a block, as trace lines."""
    for lines in random_runs(model.PROTOCOL, model.ORACLE, runs=6, steps=120, seed=5):
        if any(line.get("effects", {}).get("block") for line in lines[1:]):
            return lines
    raise AssertionError("no run reached a block")


def test_a_trace_through_a_block_validates():
    lines = _run_to_block()
    result = validate_lines(PROTOCOL, [dumps_line(x) for x in lines], model.ORACLE.step_checker)
    assert result.failure is None, result.failure


def test_walks_of_every_impl_config_validate():
    """Traces ship from 'impl-decrypt'; walks of 'impl' (early shares, then S) and of
    'impl-garbage' (an unusable v_3) validate too."""
    early_then_s = False
    for config in ("impl", "impl-garbage"):
        binding = attrs.evolve(model.ORACLE, configs=(config,))
        for lines in random_runs(model.PROTOCOL, binding, runs=4, steps=80, seed=3):
            text = [dumps_line(x) for x in lines]
            result = validate_lines(PROTOCOL, text, binding.step_checker)
            assert result.failure is None, (config, result.failure)
            for before, after in itertools.pairwise(lines[1:]):
                if before["state"]["early"] and after["state"]["subset"]:
                    early_then_s = True
    assert early_then_s


def _tampered(lines, predicate, change):
    lines = copy.deepcopy(lines)
    for number, line in enumerate(lines[1:], start=2):
        if predicate(line):
            change(line)
            return number, [dumps_line(x) for x in lines]
    raise AssertionError("no step to tamper with")


def test_a_node_that_keeps_a_refused_share_is_caught(cases):
    # a step whose share was refused: the node reports the state after a stutter as changed
    share_case = next(c for c in cases if c.meta["expected"] == "fault:bad-proof")
    header = {"format": "mnemosyne-oracle/1", "protocol": PROTOCOL, "nodes": 1}
    header["initial"] = [share_case.pre]
    post = copy.deepcopy(share_case.pre)
    post["early"] = [[3, 0, share_case.event["message"]["share"]]]
    step = {"node": 0, "event": share_case.event, "state": post, "effects": share_case.effects}
    result = validate_lines(
        PROTOCOL, [dumps_line(header), dumps_line(step)], model.ORACLE.step_checker
    )
    assert result.failure is not None
    assert result.failure.property_name == "faults_change_nothing"


def test_a_wrong_block_is_caught_by_the_independent_checks():
    lines = _run_to_block()

    def unsorted(line):
        line["state"]["log"][-1] = [*reversed(line["state"]["log"][-1]), "a"]

    number, tampered = _tampered(lines, lambda x: x.get("effects", {}).get("block"), unsorted)
    result = validate_lines(PROTOCOL, tampered, model.ORACLE.step_checker)
    assert result.failure is not None and result.failure.line == number
    assert result.failure.property_name == "sorted_block"


def test_a_wrong_fault_kind_is_a_typed_fault_failure(cases):
    case = next(c for c in cases if c.meta["expected"] == "fault:wrong-ciphertext")
    effects = copy.deepcopy(case.effects)
    effects["faults"][0]["kind"] = "bad-proof"
    header = {
        "format": "mnemosyne-oracle/1",
        "protocol": PROTOCOL,
        "nodes": 1,
        "initial": [case.pre],
    }
    step = {"node": 0, "event": case.event, "state": case.post, "effects": effects}
    result = validate_lines(
        PROTOCOL, [dumps_line(header), dumps_line(step)], model.ORACLE.step_checker
    )
    assert result.failure is not None and result.failure.property_name == "typed_fault"


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.update(me=9), "$.me"),
        (lambda d: d["keys"].update(secret_share="00"), "$.keys.secret_share"),
        (lambda d: d.update(plaintexts=[None]), "$.plaintexts"),
        (lambda d: d["keys"].update(public_key="XY"), "$.keys.public_key"),
        (lambda d: d.pop("early"), "$"),
    ],
)
def test_state_decoding_names_the_bad_field(cases, mutate, path):
    doc = copy.deepcopy(cases[0].pre)
    mutate(doc)
    with pytest.raises(DecodeError) as error:
        CODEC.decode_state(doc)
    assert error.value.path == path


def test_a_malformed_share_in_a_message_decodes_leniently_and_is_refused(cases):
    case = next(c for c in cases if c.meta["expected"] == "fault:bad-proof")
    event = copy.deepcopy(case.event)
    event["message"]["share"]["proof"]["challenge"] = "not hex"
    decoded = CODEC.decode_event(event)
    assert not isinstance(decoded.message.share, impl.tpke.DecryptionShare)
    node = CODEC.decode_state(case.pre)
    post, effects = CODEC.step(node, decoded)
    assert post == node
    assert [(f["layer"], f["kind"]) for f in CODEC.encode_effects(effects)["faults"]] == [
        ("epoch", "malformed")
    ]
