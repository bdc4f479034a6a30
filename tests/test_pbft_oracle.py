"""PBFT's oracle: codec round trips, vectors, schemas, and trace validation."""

import json

import attrs
import jsonschema
import pytest

from mnemosyne_consensus.impl import pbft as impl
from mnemosyne_consensus.model_checks import pbft as model
from mnemosyne_consensus.model_checks import schemas
from mnemosyne_consensus.model_checks.codec import DecodeError, dumps_line
from mnemosyne_consensus.model_checks.validate import validate_lines
from mnemosyne_consensus.model_checks.vectors import (
    iter_case_folders,
    random_runs,
    read_case,
    write_vectors,
)

CODEC = model.CODEC
PROTOCOL = model.PROTOCOL
ORACLE = model.ORACLE
SCHEMAS = {
    name: jsonschema.Draft202012Validator(schema)
    for name, schema in schemas.protocol_schemas(CODEC).items()
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("pbft-vectors")
    write_vectors(out, [(PROTOCOL, ORACLE)])
    return out


def _files(root):
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_vectors_are_deterministic_and_cover_every_handler(tree, tmp_path):
    write_vectors(tmp_path, [(PROTOCOL, ORACLE)])
    assert _files(tmp_path) == _files(tree)
    metas = [read_case(f)["meta"] for f in iter_case_folders(tree / "pbft")]
    assert {m["handler"] for m in metas} == set(model._EVENTS)
    assert any(m["negative"] for m in metas) and any(not m["negative"] for m in metas)
    refused = {m["expected"] for m in metas if m["negative"]}
    assert "fault:bad_signature" in refused and "fault:malformed_new_view" in refused


def test_vectors_refuse_each_way_a_faulty_primary_doctors_a_new_view(tree):
    """Section 4.4: the oracle's second config has a faulty primary of view 1; a backup must
    refuse its NEW-VIEW when O does not follow from V, and accept it when it does."""
    metas = [read_case(f)["meta"] for f in iter_case_folders(tree / "pbft")]
    metas = [m for m in metas if m["handler"] == "new_view"]
    doctored = {
        flaw: [m for m in metas if m["negative"] and flaw in m["source"]]
        for flaw in (
            "V short of a quorum",
            "O without its null requests",
            "O ignoring V's prepared certificates)",
            "O ignoring V's prepared certificates, without null requests",
        )
    }
    for flaw, cases in doctored.items():
        assert cases, flaw
        assert all(m["expected"] == "fault:malformed_new_view" for m in cases)
        assert all("'oracle-byzantine-new-view'" in m["source"] for m in cases)
    accepted = [m for m in metas if not m["negative"] and "byzantine-new-view" in m["source"]]
    assert any("AcceptNewView" in m["source"] and "vset=[" in m["source"] for m in accepted)


def test_our_impl_passes_every_vector_and_documents_match_the_schemas(tree):
    count = 0
    for folder in iter_case_folders(tree / "pbft"):
        case = read_case(folder)
        for part, schema in (("pre", "state"), ("post", "state"), ("event", "event")):
            SCHEMAS[schema].validate(case[part])
        SCHEMAS["effects"].validate(case["effects"])
        node = CODEC.decode_state(case["pre"])
        post, effects = CODEC.step(node, CODEC.decode_event(case["event"]))
        assert CODEC.encode_state(post) == case["post"], folder
        assert CODEC.encode_effects(effects) == case["effects"], folder
        if case["meta"]["negative"]:
            assert case["post"] == case["pre"]
        count += 1
    assert count > 100


def test_generated_traces_validate(tree):
    traces = sorted((tree / "pbft" / "traces").glob("*.jsonl"))
    assert traces
    for trace in traces:
        lines = trace.read_text().splitlines()
        result = validate_lines("pbft", lines, ORACLE.step_checker)
        assert result.failure is None, result.failure
        assert result.steps == len(lines) - 1
        for line in lines[1:]:
            step = json.loads(line)
            SCHEMAS["state"].validate(step["state"])
            SCHEMAS["event"].validate(step["event"])


def _walk():
    (run,) = random_runs(PROTOCOL, ORACLE, runs=1, steps=40, seed=3)
    return run


def test_a_trace_that_skips_an_execution_fails_refinement():
    run = _walk()
    k = next(
        i
        for i, line in enumerate(run)
        if i and line["event"]["type"] == "commits" and line["state"]["executed"]
    )
    run[k]["state"]["executed"] = []
    result = validate_lines("pbft", [dumps_line(line) for line in run], ORACLE.step_checker)
    assert result.failure is not None and result.failure.line == k + 1
    assert result.failure.property_name == "refinement"


def test_a_trace_whose_replica_acts_on_a_forged_message_fails():
    node = model.initial_node(0, 3)
    forged, kind = model.forged_events(model.ORACLE_PARAMS)[0]
    moved = attrs.evolve(node, view=1)
    lines = [
        {"format": "mnemosyne-oracle/1", "protocol": "pbft", "nodes": 3},
        {
            "node": 0,
            "event": CODEC.encode_event(forged),
            "state": CODEC.encode_state(moved),
            "effects": CODEC.encode_effects(impl.Effects(faults=(impl.Fault(0, kind),))),
        },
    ]
    result = validate_lines("pbft", [dumps_line(x) for x in lines], ORACLE.step_checker)
    assert result.failure.property_name == "faults_change_nothing"
    lines[1]["state"] = CODEC.encode_state(node)
    lines[1]["effects"]["faults"] = []
    result = validate_lines("pbft", [dumps_line(x) for x in lines], ORACLE.step_checker)
    assert result.failure.property_name == "typed_fault"


def test_codec_round_trips_states_events_and_effects():
    run = _walk()
    for line in run[1:]:
        assert CODEC.encode_state(CODEC.decode_state(line["state"])) == line["state"]
        assert CODEC.encode_event(CODEC.decode_event(line["event"])) == line["event"]
    for event, _ in model.forged_events(model.ORACLE_PARAMS):
        doc = CODEC.encode_event(event)
        assert CODEC.encode_event(CODEC.decode_event(doc)) == doc
        SCHEMAS["event"].validate(doc)


def test_a_malformed_received_message_decodes_and_is_the_replicas_to_refuse():
    node = model.initial_node(0, 3)
    doc = CODEC.encode_event(model.forged_events(model.ORACLE_PARAMS)[0][0])
    doc["pre_prepare"]["signature"] = "not hex"
    doc["pre_prepare"]["view"] = [1, 2]
    post, effects = CODEC.step(node, CODEC.decode_event(doc))
    assert post == node and [f.kind for f in effects.faults] == [impl.FaultKind.MALFORMED]


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.update(me=9), "$.me"),
        (lambda d: d.update(seed="xyz"), "$.seed"),
        (lambda d: d.pop("low"), "$"),
        (lambda d: d.update(accepted=[[0, 1]]), "$.accepted[0]"),
        (lambda d: d.update(active=1), "$.active"),
        (lambda d: d.update(executed=[1]), "$.executed[0]"),
    ],
)
def test_decoding_a_bad_state_names_the_field(mutate, path):
    doc = CODEC.encode_state(model.initial_node(1, 3))
    mutate(doc)
    with pytest.raises(DecodeError) as error:
        CODEC.decode_state(doc)
    assert error.value.path == path


def test_decoding_a_bad_event_names_the_field():
    with pytest.raises(DecodeError) as error:
        CODEC.decode_event({"type": "commits", "commits": [{"kind": "commit"}]})
    assert error.value.path == "$.commits[0]"
    with pytest.raises(DecodeError) as error:
        CODEC.decode_event({"type": "gossip"})
    assert error.value.path == "$.type"
