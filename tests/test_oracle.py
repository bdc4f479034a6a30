"""The oracle: canonical encoding, schemas, vectors, and trace validation."""

import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnemosyne_consensus.model_checks import schemas
from mnemosyne_consensus.model_checks.cli import main
from mnemosyne_consensus.model_checks.codec import DecodeError, dumps, dumps_line
from mnemosyne_consensus.model_checks.oracle import ORACLES
from mnemosyne_consensus.model_checks.validate import TraceFormatError, validate_lines
from mnemosyne_consensus.model_checks.vectors import iter_case_folders, read_case, write_vectors

PROTOCOLS = sorted(ORACLES)


@pytest.fixture(scope="module")
def vector_tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("vectors")
    write_vectors(out, list(ORACLES.values()))
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_generation_is_deterministic(vector_tree, tmp_path):
    write_vectors(tmp_path, list(ORACLES.values()))
    assert _files(tmp_path) == _files(vector_tree)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_vectors_have_positive_and_negative_cases(vector_tree, protocol):
    metas = [read_case(folder)["meta"] for folder in iter_case_folders(vector_tree / protocol)]
    assert any(not m["negative"] for m in metas)
    assert any(m["negative"] for m in metas)
    assert {m["handler"] for m in metas} >= {"receive"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_our_impl_passes_every_vector(vector_tree, protocol):
    _, binding = ORACLES[protocol]
    codec = binding.codec
    count = 0
    for folder in iter_case_folders(vector_tree / protocol):
        case = read_case(folder)
        node = codec.decode_state(case["pre"])
        event = codec.decode_event(case["event"])
        post, effects = codec.step(node, event)
        assert codec.encode_state(post) == case["post"], folder
        assert codec.encode_effects(effects) == case["effects"], folder
        if case["meta"]["negative"]:
            assert case["post"] == case["pre"], f"{folder}: a rejection must change nothing"
        count += 1
    assert count > 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_generated_documents_match_the_shipped_schemas(vector_tree, protocol):
    validator = {
        name: jsonschema.Draft202012Validator(schemas.shipped(name))
        for name in ("meta", "trace-header", "trace-step")
    }
    for document in ("state", "event", "effects"):
        validator[document] = jsonschema.Draft202012Validator(
            schemas.shipped(f"{protocol}/{document}")
        )
    for folder in iter_case_folders(vector_tree / protocol):
        case = read_case(folder)
        validator["meta"].validate(case["meta"])
        validator["state"].validate(case["pre"])
        validator["state"].validate(case["post"])
        validator["event"].validate(case["event"])
        validator["effects"].validate(case["effects"])
    for trace in sorted((vector_tree / protocol / "traces").glob("*.jsonl")):
        header, *steps = [json.loads(line) for line in trace.read_text().splitlines()]
        validator["trace-header"].validate(header)
        for state in header["initial"]:
            validator["state"].validate(state)
        for step in steps:
            validator["trace-step"].validate(step)
            validator["state"].validate(step["state"])
            validator["event"].validate(step["event"])
            validator["effects"].validate(step["effects"])


def test_shipped_schemas_are_the_generated_ones():
    for relative, schema in schemas.all_schemas().items():
        assert schemas.shipped(relative) == schema, f"regenerate schemas/{relative}.json"


def test_canonical_text_is_stable():
    assert dumps({"b": 1, "a": [1, 2]}) == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'
    assert dumps_line({"b": 1, "a": "é"}) == '{"a":"é","b":1}'


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"replica": 0, "replicas": 3, "payload": [[0, -1]], "local": None}, "$.payload"),
        ({"replica": 5, "replicas": 3, "payload": [], "local": None}, "$.replica"),
        ({"replica": 0, "replicas": "3", "payload": [], "local": None}, "$.replicas"),
        ({"replica": 0, "replicas": 3, "payload": []}, "$"),
        ({"replica": 0, "replicas": 3, "payload": [], "local": None, "x": 1}, "$"),
        ([], "$"),
    ],
)
def test_decoding_names_the_bad_field(doc, path):
    codec = ORACLES["gcounter"][1].codec
    with pytest.raises(DecodeError) as error:
        codec.decode_state(doc)
    assert error.value.path == path


# -- trace validation --------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_generated_traces_validate(vector_tree, protocol):
    _, binding = ORACLES[protocol]
    for trace in sorted((vector_tree / protocol / "traces").glob("*.jsonl")):
        with trace.open("rb") as lines:
            result = validate_lines(protocol, lines, binding.step_checker)
        assert result.failure is None, (trace, result.failure)
        assert result.steps > 0


def _gcounter_trace(vector_tree):
    return (vector_tree / "gcounter" / "traces" / "walk-0.jsonl").read_text().splitlines()


def _tampered_increment_trace():
    header = {"format": "mnemosyne-oracle/1", "protocol": "gcounter", "nodes": 2}
    step = {
        "node": 1,
        "event": {"type": "client_update", "op": {"type": "increment"}},
        "state": {"replica": 1, "replicas": 2, "payload": [[1, 2]], "local": None},
    }
    return [dumps_line(header), dumps_line(step)]


def test_a_step_the_spec_forbids_is_reported_with_line_and_rule():
    result = validate_lines(
        "gcounter", _tampered_increment_trace(), ORACLES["gcounter"][1].step_checker
    )
    failure = result.failure
    assert failure is not None and failure.line == 2 and failure.node == 1
    assert failure.property_name == "refinement"
    assert "(0, 1)" in failure.expected and "(0, 2)" in failure.observed


def test_validate_command_exit_codes(tmp_path, vector_tree, capsys):
    good = vector_tree / "gcounter" / "traces" / "walk-0.jsonl"
    assert main(["validate", "gcounter", str(good)]) == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(_tampered_increment_trace()) + "\n")
    assert main(["validate", "gcounter", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "line 2" in out and "refinement" in out
    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text(good.read_text()[:-40])
    assert main(["validate", "gcounter", str(truncated)]) == 2
    err = capsys.readouterr().err
    assert "line " in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["validate", "gcounter", str(tmp_path / "missing.jsonl")]) == 2
    assert main(["validate", "nosuch", str(good)]) == 2


@pytest.mark.parametrize(
    ("lines", "line", "fragment"),
    [
        ([], 1, "empty trace"),
        (['{"format": "mnemosyne-oracle/1", "protocol": "orset", "nodes": 2}'], 1, "trace is of"),
        (['{"format": "x", "protocol": "gcounter", "nodes": 2}'], 1, "$.format"),
        (['{"format": "mnemosyne-oracle/1", "protocol": "gcounter", "nodes": 0}'], 1, "$.nodes"),
        (['{"format": "mnemosyne-oracle/1", "protocol": "gcounter"'], 1, "not JSON"),
        (
            [
                '{"format": "mnemosyne-oracle/1", "protocol": "gcounter", "nodes": 2}',
                '{"node": 2, "event": {"type": "gossip_timer"}, "state": {}}',
            ],
            2,
            "unknown node 2",
        ),
        (
            [
                '{"format": "mnemosyne-oracle/1", "protocol": "gcounter", "nodes": 2}',
                '{"node": 0, "event": {"type": "fly"}, "state": {}}',
            ],
            2,
            "unknown event type",
        ),
        (
            [
                '{"format": "mnemosyne-oracle/1", "protocol": "gcounter", "nodes": 2}',
                '{"node": "0", "event": {"type": "gossip_timer"}, "state": {}}',
            ],
            2,
            "$.node",
        ),
    ],
)
def test_malformed_traces_name_the_line(lines, line, fragment):
    with pytest.raises(TraceFormatError) as error:
        validate_lines("gcounter", lines, ORACLES["gcounter"][1].step_checker)
    assert error.value.line == line
    assert fragment in str(error.value)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def malformed_traces(draw, base):
    lines = list(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        how = draw(st.sampled_from(["truncate", "replace-value", "drop-key", "garbage", "swap"]))
        if how == "truncate":
            cut = draw(st.integers(min_value=0, max_value=len(lines[index])))
            lines[index] = lines[index][:cut]
        elif how == "garbage":
            lines[index] = draw(st.text(max_size=30))
        elif how == "swap" and len(lines) > 1:
            other = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        else:
            try:
                doc = json.loads(lines[index])
            except ValueError:
                continue
            node = doc
            while isinstance(node, dict) and node and draw(st.booleans()):
                key = draw(st.sampled_from(sorted(node)))
                if not isinstance(node[key], dict | list) or not node[key]:
                    break
                child = node[key]
                if isinstance(child, list):
                    break
                node = child
            if isinstance(node, dict) and node:
                key = draw(st.sampled_from(sorted(node)))
                if how == "drop-key":
                    del node[key]
                else:
                    node[key] = draw(json_values)
            lines[index] = json.dumps(doc)
    return lines


_BASE_TRACE = None


def _base_trace():
    global _BASE_TRACE
    if _BASE_TRACE is None:
        from mnemosyne_consensus.model_checks.vectors import random_runs

        entry, binding = ORACLES["gcounter"]
        (run,) = random_runs(entry, binding, runs=1, steps=12, seed=5)
        _BASE_TRACE = [dumps_line(line) for line in run]
    return _BASE_TRACE


@settings(max_examples=10_000)
@given(data=st.data())
def test_ten_thousand_malformed_traces_never_crash(data):
    trace = data.draw(malformed_traces(_base_trace()))
    try:
        result = validate_lines("gcounter", trace, ORACLES["gcounter"][1].step_checker)
    except TraceFormatError as error:
        assert error.line >= 1
    else:
        assert result.steps >= 0


_BASE_TRACES: dict[str, list[str]] = {}


def _base_trace_of(protocol):
    if protocol not in _BASE_TRACES:
        from mnemosyne_consensus.model_checks.vectors import random_runs

        entry, binding = ORACLES[protocol]
        (run,) = random_runs(entry, binding, runs=1, steps=10, seed=5)
        _BASE_TRACES[protocol] = [dumps_line(line) for line in run]
    return _BASE_TRACES[protocol]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@settings(max_examples=200, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_malformed_traces_never_crash_any_validator(protocol, data):
    """Every protocol's decoder and step checker, not only gcounter's: a damaged trace is a
    format error naming its line, or a result (a step the spec forbids, or none), never an
    exception. The drawn traces reach all three outcomes for every protocol."""
    _, binding = ORACLES[protocol]
    trace = data.draw(malformed_traces(_base_trace_of(protocol)))
    try:
        result = validate_lines(protocol, trace, binding.step_checker)
    except TraceFormatError as error:
        assert 1 <= error.line <= len(trace)
    else:
        assert 0 <= result.steps <= len(trace) - 1
        if result.failure is not None:
            assert result.failure.property_name
            assert 2 <= result.failure.line <= len(trace)


# -- ITF traces --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "config", "mutant", "invariant"),
    [
        ("gcounter", "small", "sum-merge", "convergence"),
        ("orset", "small", "remove-unobserved", "correct_value"),
        ("vector-clock", "tiny", "receive-keeps-own", "vc_characterizes_happens_before"),
    ],
)
def test_itf_counterexample_of_a_mutant_fails_validation_at_the_bad_step(
    tmp_path, capsys, protocol, config, mutant, invariant
):
    itf = tmp_path / "trace.itf.json"
    argv = ["check", protocol, "--config", config, "--mutant", mutant, "--invariant", invariant]
    assert main([*argv, "--itf", str(itf), "--quiet"]) == 1
    capsys.readouterr()
    assert main(["validate", protocol, str(itf)]) == 1
    out = capsys.readouterr().out
    assert "state " in out and "refinement" in out


def test_itf_trace_of_a_correct_run_validates():
    import attrs

    from mnemosyne_consensus.model_checks.engine import explore
    from mnemosyne_consensus.model_checks.registry import PROTOCOLS
    from mnemosyne_consensus.model_checks.render import itf_trace
    from mnemosyne_consensus.model_checks.validate import validate_itf
    from mnemosyne_consensus.spec.properties import Invariant

    entry = PROTOCOLS["gcounter"]
    model = entry.build(entry.config("two-increments"), None)
    # the shortest run that brings every update everywhere, found as the "violation" of its
    # negation: a correct run, whose ITF export must validate
    (everywhere,) = [r for r in model.reachables if r.name == "all_updates_everywhere"]
    stop = Invariant("not_yet", "not every update everywhere", lambda s: not everywhere.holds(s))
    result = explore(attrs.evolve(model, invariants=(stop,), step_properties=(), reachables=()))
    document = itf_trace(result.violation, entry.view, source="test")
    outcome = validate_itf("gcounter", json.loads(json.dumps(document)), ORACLES["gcounter"][1])
    assert outcome.failure is None
    assert outcome.steps == len(result.violation.trace) - 1 >= 3


@pytest.mark.parametrize(
    "document",
    [
        {"states": []},
        {"states": [1]},
        {"states": [{"payload": {"#map": [[{"#bigint": "0"}, {"#tup": [{"#tup": []}]}]]}}]},
        {"states": [{"payload": {"#map": "x"}}]},
        {"states": [{"payload": {"tag": "Nope", "value": {}}}]},
        {"states": [{"nothing": 1}]},
    ],
)
def test_malformed_itf_is_a_format_error(document):
    from mnemosyne_consensus.model_checks.validate import validate_itf

    with pytest.raises(TraceFormatError):
        validate_itf("gcounter", document, ORACLES["gcounter"][1])


itf_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=4)
    | st.builds(lambda n: {"#bigint": str(n)}, st.integers()),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.builds(lambda xs: {"#tup": xs}, st.lists(inner, max_size=3))
        | st.builds(lambda xs: {"#set": xs}, st.lists(inner, max_size=3))
        | st.builds(lambda xs: {"#map": xs}, st.lists(st.lists(inner, min_size=2, max_size=2)))
        | st.dictionaries(st.sampled_from(["payload", "updates", "network", "tag", "value"]), inner)
    ),
    max_leaves=10,
)


@settings(max_examples=2_000)
@given(states=st.lists(itf_values, max_size=4))
def test_random_itf_documents_never_crash(states):
    from mnemosyne_consensus.model_checks.validate import validate_itf

    try:
        validate_itf("gcounter", {"states": states}, ORACLES["gcounter"][1])
    except TraceFormatError as error:
        assert error.line >= 0


def test_itf_counterexample_of_a_comparison_bug_has_correct_steps(tmp_path, capsys):
    # non-strict-less breaks the clock *order*, not a transition: its steps follow the spec
    itf = tmp_path / "trace.itf.json"
    argv = ["check", "vector-clock", "--mutant", "non-strict-less", "--itf", str(itf), "--quiet"]
    assert main(argv) == 1
    capsys.readouterr()
    assert main(["validate", "vector-clock", str(itf)]) == 0


def test_the_validators_caches_tell_true_from_one():
    """JSON's true, 1 and 1.0 are different documents although Python's == calls them equal:
    a forged `1` must be decoded (and judged) on its own, not reuse an honest `true`."""
    from mnemosyne_consensus.model_checks.validate import StepChecker

    class Codec:
        def encode_state(self, node):
            return node

        def decode_state(self, doc, path):
            return doc

        def decode_event(self, doc, path):
            return (type(doc["vote"]).__name__, doc["vote"])

    def check(nodes, index, event, post, effects):
        return None if event[0] == "bool" else ("vote_is_a_boolean", "a boolean", repr(event))

    checker = StepChecker(Codec(), lambda i, n: 0, check)
    header = {"format": "mnemosyne-oracle/1", "protocol": "p", "nodes": 1}
    lines = [
        json.dumps(line)
        for line in (
            header,
            {"node": 0, "event": {"vote": True}, "state": 0},
            {"node": 0, "event": {"vote": 1}, "state": 0},
        )
    ]
    result = validate_lines("p", lines, checker)
    assert result.failure is not None and result.failure.line == 3
