"""Vector clocks in the oracle: codec, vectors, trace validation and the live runner."""

import io
import json
import shlex
import sys
from pathlib import Path

import attrs
import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnemosyne_consensus.impl import vector_clock as impl
from mnemosyne_consensus.model_checks import conform
from mnemosyne_consensus.model_checks import vector_clock as model
from mnemosyne_consensus.model_checks.cli import main
from mnemosyne_consensus.model_checks.codec import DecodeError, dumps_line
from mnemosyne_consensus.model_checks.oracle import ORACLES
from mnemosyne_consensus.model_checks.validate import TraceFormatError, validate_lines
from mnemosyne_consensus.model_checks.vectors import (
    generate_cases,
    iter_case_folders,
    read_case,
    write_vectors,
)

PROTOCOL = "vector-clock"
ENTRY, ORACLE = ORACLES[PROTOCOL]
CODEC = ORACLE.codec
CHECKER = ORACLE.step_checker
ADAPTERS = Path(__file__).resolve().parent / "adapters"
HEADER = {"format": "mnemosyne-oracle/1", "protocol": PROTOCOL, "nodes": 3}


def trace(*steps):
    """A JSON-lines trace of three processes (default initial states) with these steps."""
    return [dumps_line(HEADER), *(dumps_line(step) for step in steps)]


def state(process, clock):
    return {"process": process, "processes": len(clock), "clock": list(clock)}


def message(sender, message_id, clock):
    return {"sender": sender, "message_id": message_id, "clock": clock}


def effects(timestamp=None, sends=(), faults=()):
    return {"timestamp": timestamp, "sends": list(sends), "faults": list(faults)}


def receive(sender, message_id, clock):
    return {"type": "receive", "message": message(sender, message_id, clock)}


# process 0 broadcasts, process 1 receives it: the honest prefix of the hand-made traces
SEND_0 = {
    "node": 0,
    "event": {"type": "send", "to": None},
    "state": state(0, (1, 0, 0)),
    "effects": effects(
        [1, 0, 0],
        sends=[{"to": j, "message": message(0, 1, [1, 0, 0])} for j in (1, 2)],
    ),
}
RECEIVE_1 = {
    "node": 1,
    "event": receive(0, 1, [1, 0, 0]),
    "state": state(1, (1, 1, 0)),
    "effects": effects([1, 1, 0]),
}


@pytest.fixture(scope="module")
def cases():
    return generate_cases(ENTRY, ORACLE)


# -- codec: round trips and canonical documents ---------------------------------------------------


@given(
    st.integers(min_value=1, max_value=6).flatmap(
        lambda n: st.tuples(
            st.integers(min_value=0, max_value=n - 1),
            st.lists(st.integers(min_value=0, max_value=2**70), min_size=n, max_size=n),
        ).map(lambda pc: impl.ProcessState(pc[0], n, tuple(pc[1])))
    )
)
def test_states_round_trip(node):
    doc = CODEC.encode_state(node)
    assert CODEC.decode_state(json.loads(dumps_line(doc))) == node
    assert doc == {"process": node.process, "processes": node.n, "clock": list(node.clock)}


@pytest.mark.parametrize(
    "event",
    [
        impl.LocalEvent(),
        impl.SendRequest(None),
        impl.SendRequest(2),
        impl.Receive(impl.ClockMessage(1, 3, (0, 3, 1))),
        # malformed messages round-trip too: they are data for the process to refuse
        *(impl.Receive(m) for m in model.forged_messages(3, 3)),
        impl.Receive(impl.ClockMessage("one", None, (1, (2,), "x"))),
    ],
)
def test_events_round_trip(event):
    doc = CODEC.encode_event(event)
    assert CODEC.decode_event(json.loads(dumps_line(doc))) == event
    assert CODEC.handler(event) in {"local", "send", "receive"}


def test_effects_are_canonical():
    node = impl.ProcessState(1, 3, (2, 0, 1))
    _, sent = CODEC.step(node, impl.SendRequest(None))
    assert CODEC.encode_effects(sent) == effects(
        [2, 1, 1], sends=[{"to": j, "message": message(1, 1, [2, 1, 1])} for j in (0, 2)]
    )
    _, refused = CODEC.step(node, impl.Receive(impl.ClockMessage(9, 1, (1, 0, 0))))
    # the fault's free-text detail is not part of the encoding; its typed kind is
    assert CODEC.encode_effects(refused) == effects(
        faults=[{"sender": 9, "kind": impl.FaultKind.UNKNOWN_SENDER.value}]
    )
    assert refused.faults[0].detail


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"process": 0, "processes": 3, "clock": [0, 0, -1]}, "$.clock[2]"),
        ({"process": 0, "processes": 3, "clock": [0, True, 0]}, "$.clock[1]"),
        ({"process": 0, "processes": 3, "clock": [1.0, 0, 0]}, "$.clock[0]"),
        ({"process": 0, "processes": 3, "clock": [0, 0]}, "$.clock"),
        ({"process": 0, "processes": 3, "clock": "000"}, "$.clock"),
        ({"process": 3, "processes": 3, "clock": [0, 0, 0]}, "$.process"),
        ({"process": -1, "processes": 3, "clock": [0, 0, 0]}, "$.process"),
        ({"process": 0, "processes": 0, "clock": []}, "$.processes"),
        ({"process": 0, "processes": "3", "clock": [0, 0, 0]}, "$.processes"),
        ({"process": 0, "processes": 3}, "$"),
        ({"process": 0, "processes": 3, "clock": [0, 0, 0], "n": 3}, "$"),
        ([0, 0, 0], "$"),
    ],
)
def test_state_decoding_names_the_bad_field(doc, path):
    with pytest.raises(DecodeError) as error:
        CODEC.decode_state(doc)
    assert error.value.path == path


def test_state_decoding_extends_the_given_path():
    with pytest.raises(DecodeError) as error:
        CODEC.decode_state({"process": 0, "processes": 2, "clock": [0, -3]}, "$.initial[1]")
    assert error.value.path == "$.initial[1].clock[1]"


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"type": "tick"}, "$.type"),
        ({"type": "local", "to": None}, "$"),
        ({"type": "send"}, "$"),
        ({"type": "send", "to": -1}, "$.to"),
        ({"type": "send", "to": "all"}, "$.to"),
        ({"type": "receive", "message": {"sender": 0, "clock": [1, 0]}}, "$.message"),
        ({"type": "receive", "message": [0, 1, [1, 0]]}, "$.message"),
        ("local", "$"),
    ],
)
def test_event_decoding_names_the_bad_field(doc, path):
    with pytest.raises(DecodeError) as error:
        CODEC.decode_event(doc)
    assert error.value.path == path


@pytest.mark.parametrize(
    ("msg", "kind"),
    [
        (message(7, 1, [1, 0, 0]), "unknown_sender"),
        (message("0", 1, [1, 0, 0]), "unknown_sender"),
        (message(1, 1, [0, 1, 0]), "unknown_sender"),  # the receiver itself
        (message(0, 1, [1, 0]), "wrong_length"),
        (message(0, 1, {"0": 1}), "wrong_length"),
        (message(0, 1, [1, -1, 0]), "malformed_entry"),
        (message(0, 1, [1, 0.5, 0]), "malformed_entry"),
        (message(0, 1, [1, False, 0]), "malformed_entry"),
        (message(0, 0, [0, 0, 0]), "send_not_counted"),
        (message(0, 2, [1, 0, 0]), "mismatched_id"),
        (message(0, 1.0, [1, 0, 0]), "mismatched_id"),
        (message(0, 1, [1, 5, 0]), "future_own_entry"),
    ],
)
def test_malformed_messages_decode_and_are_refused_with_their_kind(msg, kind):
    event_doc = {"type": "receive", "message": msg}
    jsonschema.Draft202012Validator(CODEC.schemas()["event"]).validate(event_doc)
    node = CODEC.decode_state(state(1, (0, 0, 0)))
    post, out = CODEC.step(node, CODEC.decode_event(event_doc))
    assert post == node
    assert CODEC.encode_effects(out)["faults"] == [{"sender": msg["sender"], "kind": kind}]
    assert out.timestamp is None and out.sends == ()
    # the checker's own account of refusals agrees with the implementation's
    assert model.refusal(node, CODEC.decode_event(event_doc).message) is impl.FaultKind(kind)


@given(
    sender=st.one_of(st.integers(-1, 4), st.booleans(), st.none()),
    message_id=st.one_of(st.integers(-1, 4), st.booleans(), st.floats(0, 4)),
    clock=st.lists(st.one_of(st.integers(-1, 4), st.booleans()), min_size=2, max_size=4),
    own=st.integers(0, 4),
)
def test_refusal_agrees_with_the_impl(sender, message_id, clock, own):
    node = impl.ProcessState(1, 3, (2, own, 0))
    msg = impl.ClockMessage(sender, message_id, tuple(clock))
    problem = impl.validate(node, msg)
    assert model.refusal(node, msg) == (problem[0] if problem else None)


def test_state_schema_is_strict():
    validator = jsonschema.Draft202012Validator(CODEC.schemas()["state"])
    validator.validate(state(1, (0, 2, 1)))
    for bad in (
        {"process": 0, "processes": 3, "clock": [0, -1, 0]},
        {"process": 0, "processes": 3, "clock": [0, 1.5, 0]},
        {"process": 0, "processes": 3},
        {"process": 0, "processes": 3, "clock": [0, 0, 0], "extra": 1},
    ):
        assert not validator.is_valid(bad), bad


# -- vectors ---------------------------------------------------------------------------------------


def test_vectors_cover_every_handler_and_several_fault_kinds(cases):
    outcomes = {(c.handler, c.meta["expected"]) for c in cases}
    assert {("local", "accept"), ("send", "accept"), ("receive", "accept")} <= outcomes
    faults = {o.removeprefix("fault:") for h, o in outcomes if o.startswith("fault:")}
    assert faults == {kind.value for kind in impl.FaultKind}
    for case in cases:
        if case.meta["negative"]:
            assert case.handler == "receive"
            assert case.post == case.pre and case.effects["timestamp"] is None
    # three processes (broadcasts to two) and two (the tiny config) are both covered
    assert {case.pre["processes"] for case in cases} == {2, 3}
    assert any(len(case.effects["sends"]) == 2 for case in cases)


def _nodes_around(pre_doc):
    """The trace's nodes with ``pre_doc`` at its place, the others initial."""
    pre = CODEC.decode_state(pre_doc)
    return tuple(pre if i == pre.process else impl.new(i, pre.n) for i in range(pre.n))


def test_the_step_checker_accepts_every_vector_and_rejects_a_wrong_post(cases):
    for case in cases:
        nodes = _nodes_around(case.pre)
        index = case.pre["process"]
        event = CODEC.decode_event(case.event)
        post = CODEC.decode_state(case.post)
        assert CHECKER.check(nodes, index, event, post, case.effects) is None, case.name
        assert CHECKER.check(nodes, index, event, post, None) is None, case.name
        wrong = attrs.evolve(post, clock=(post.clock[0] + 1, *post.clock[1:]))
        problem = CHECKER.check(nodes, index, event, wrong, None)
        assert problem is not None, case.name
        expected = "faults_change_nothing" if case.meta["negative"] else "refinement"
        assert problem[0] == expected, (case.name, problem)


def test_vectors_and_traces_on_disk(tmp_path):
    counts = write_vectors(tmp_path, [(ENTRY, ORACLE)], traces=2)
    root = tmp_path / PROTOCOL
    assert counts[PROTOCOL] == len(list(iter_case_folders(root))) > 0
    metas = [read_case(folder)["meta"] for folder in iter_case_folders(root)]
    assert any(m["negative"] for m in metas) and any(not m["negative"] for m in metas)
    for walk in sorted((root / "traces").glob("*.jsonl")):
        with walk.open("rb") as lines:
            result = validate_lines(PROTOCOL, lines, CHECKER)
        assert result.failure is None and result.steps > 0


# -- trace validation ------------------------------------------------------------------------------


def test_an_honest_hand_made_trace_validates():
    relay = {
        "node": 1,
        "event": {"type": "send", "to": 2},
        "state": state(1, (1, 2, 0)),
        "effects": effects([1, 2, 0], sends=[{"to": 2, "message": message(1, 2, [1, 2, 0])}]),
    }
    local = {"node": 2, "event": {"type": "local"}, "state": state(2, (0, 0, 1))}
    merge = {
        "node": 2,
        "event": receive(1, 2, [1, 2, 0]),
        "state": state(2, (1, 2, 2)),
        "effects": effects([1, 2, 2]),
    }
    # a late, duplicated delivery of the first message: allowed, and merged like any other
    again = {"node": 2, "event": receive(0, 1, [1, 0, 0]), "state": state(2, (1, 2, 3))}
    result = validate_lines(PROTOCOL, trace(SEND_0, RECEIVE_1, relay, local, merge, again), CHECKER)
    assert result.failure is None and result.steps == 6


def test_a_wrong_clock_after_a_receive_is_reported_at_its_line():
    tampered = {"node": 1, "event": RECEIVE_1["event"], "state": state(1, (1, 2, 0))}
    failure = validate_lines(PROTOCOL, trace(SEND_0, tampered), CHECKER).failure
    assert failure is not None and failure.line == 3 and failure.node == 1
    assert failure.property_name == "refinement"
    assert "[1, 1, 0]" in failure.expected and "Receive" in failure.expected
    assert failure.observed == "clock [1, 2, 0]"


def test_a_refused_malformed_message_with_the_state_unchanged_validates():
    bad = receive(0, 1, [1, -1, 0])
    fault = {"sender": 0, "kind": "malformed_entry"}
    refused = {"node": 1, "event": bad, "state": state(1, (0, 0, 0))}
    with_effects = {**refused, "effects": effects(faults=[fault])}
    for step in (refused, with_effects):
        result = validate_lines(PROTOCOL, trace(step), CHECKER)
        assert result.failure is None and result.steps == 1
    # after an honest prefix, too (the state unchanged is then a non-initial one)
    later = {**with_effects, "state": state(1, (1, 1, 0))}
    assert validate_lines(PROTOCOL, trace(SEND_0, RECEIVE_1, later), CHECKER).failure is None


@pytest.mark.parametrize(
    ("step", "property_name", "fragment"),
    [
        # a malformed message merged anyway
        (
            {"node": 1, "event": receive(0, 1, [1, 7, 0]), "state": state(1, (1, 8, 0))},
            "faults_change_nothing",
            "future_own_entry",
        ),
        # refused, but with the wrong kind, or without saying so
        (
            {
                "node": 1,
                "event": receive(0, 1, [1, 0]),
                "state": state(1, (0, 0, 0)),
                "effects": effects(faults=[{"sender": 0, "kind": "malformed_entry"}]),
            },
            "typed_fault",
            "wrong_length",
        ),
        (
            {
                "node": 1,
                "event": receive(5, 1, [1, 0, 0]),
                "state": state(1, (0, 0, 0)),
                "effects": effects(),
            },
            "typed_fault",
            "unknown_sender",
        ),
        # a well-formed message refused
        (
            {
                "node": 1,
                "event": receive(0, 1, [1, 0, 0]),
                "state": state(1, (0, 0, 0)),
                "effects": effects(faults=[{"sender": 0, "kind": "unknown_sender"}]),
            },
            "refinement",
            "[1, 1, 0]",
        ),
        # a local event that does not tick, or ticks another entry
        ({"node": 0, "event": {"type": "local"}, "state": state(0, (0, 0, 0))}, "refinement", ""),
        ({"node": 0, "event": {"type": "local"}, "state": state(0, (0, 1, 0))}, "refinement", ""),
        # a send whose message is numbered or addressed wrongly, or whose stamp is stale
        (
            {
                **SEND_0,
                "effects": effects(
                    [1, 0, 0],
                    sends=[{"to": j, "message": message(0, 7, [1, 0, 0])} for j in (1, 2)],
                ),
            },
            "refinement",
            "message_id",
        ),
        (
            {**SEND_0, "effects": {**SEND_0["effects"], "sends": SEND_0["effects"]["sends"][:1]}},
            "refinement",
            "sends",
        ),
        ({**SEND_0, "effects": {**SEND_0["effects"], "timestamp": [0, 0, 0]}}, "refinement", ""),
        ({**SEND_0, "effects": {**SEND_0["effects"], "timestamp": [True, 0, 0]}}, "refinement", ""),
        (
            {**SEND_0, "effects": {**SEND_0["effects"], "note": "x"}},
            "refinement",
            "exactly the fields",
        ),
        (
            {"node": 0, "event": {"type": "send", "to": 0}, "state": state(0, (1, 0, 0))},
            "refinement",
            "enabled",
        ),
        # a process that turns into another
        ({"node": 0, "event": {"type": "local"}, "state": state(1, (0, 1, 0))}, "identity", ""),
    ],
)
def test_steps_the_spec_forbids(step, property_name, fragment):
    failure = validate_lines(PROTOCOL, trace(step), CHECKER).failure
    assert failure is not None and failure.line == 2
    assert failure.property_name == property_name, failure
    assert fragment in failure.expected + failure.observed, failure


def test_initial_states_of_the_wrong_process_are_caught():
    header = {**HEADER, "nodes": 2, "initial": [state(0, (0, 0)), state(0, (0, 0))]}
    step = {"node": 1, "event": {"type": "local"}, "state": state(1, (0, 1))}
    failure = validate_lines(PROTOCOL, [dumps_line(header), dumps_line(step)], CHECKER).failure
    assert failure is not None and failure.property_name == "identity"


def test_malformed_states_in_a_trace_are_format_errors():
    step = {**RECEIVE_1, "state": {"process": 1, "processes": 3, "clock": [1, 1, -1]}}
    with pytest.raises(TraceFormatError) as error:
        validate_lines(PROTOCOL, trace(SEND_0, step), CHECKER)
    assert error.value.line == 3 and "$.state.clock[2]" in str(error.value)


def test_validation_streams_a_long_trace():
    # a generator: nothing holds the trace, and the checker keeps no history
    def lines():
        yield dumps_line(HEADER)
        for k in range(1, 20_001):
            yield dumps_line({"node": 2, "event": {"type": "local"}, "state": state(2, (0, 0, k))})

    result = validate_lines(PROTOCOL, lines(), CHECKER)
    assert result.failure is None and result.steps == 20_000


def test_validate_command(tmp_path, capsys):
    write_vectors(tmp_path, [(ENTRY, ORACLE)], traces=1)
    good = tmp_path / PROTOCOL / "traces" / "walk-0.jsonl"
    assert main(["validate", PROTOCOL, str(good)]) == 0
    lines = good.read_text().splitlines()
    for number, text in enumerate(lines[1:], start=2):
        step = json.loads(text)
        if step["event"]["type"] == "receive" and not step["effects"]["faults"]:
            step["state"]["clock"][step["node"]] += 1  # one tick too many
            lines[number - 1] = dumps_line(step)
            break
    else:
        pytest.fail("the walk has no accepted receive")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["validate", PROTOCOL, str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"line {number}" in out and "refinement" in out


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=10,
)
FUZZ_BASE = None


def _fuzz_base():
    global FUZZ_BASE
    if FUZZ_BASE is None:
        from mnemosyne_consensus.model_checks.vectors import random_runs

        (run,) = random_runs(ENTRY, ORACLE, runs=1, steps=10, seed=3)
        FUZZ_BASE = [dumps_line(line) for line in run]
        assert validate_lines(PROTOCOL, FUZZ_BASE, CHECKER).failure is None
    return FUZZ_BASE


@settings(max_examples=1_000)
@given(data=st.data())
def test_tampered_traces_never_crash_the_validator(data):
    lines = list(_fuzz_base())
    for _ in range(data.draw(st.integers(1, 3))):
        number = data.draw(st.integers(1, len(lines) - 1))
        doc = json.loads(lines[number])
        # replace a value somewhere in the event, the state or the effects
        node = doc[data.draw(st.sampled_from(["event", "state", "effects"]))]
        while isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node)))
            if isinstance(node[key], dict) and node[key] and data.draw(st.booleans()):
                node = node[key]
                continue
            node[key] = data.draw(json_values)
            break
        lines[number] = json.dumps(doc)
    try:
        result = validate_lines(PROTOCOL, lines, CHECKER)
    except TraceFormatError as error:
        assert error.line >= 2
    else:
        if result.failure is not None:
            assert result.failure.property_name in {
                "identity",
                "refinement",
                "faults_change_nothing",
                "typed_fault",
            }


# -- the live runner -------------------------------------------------------------------------------


def test_conform_catches_an_adapter_that_drops_faults(tmp_path):
    write_vectors(tmp_path, [(ENTRY, ORACLE)], traces=0)
    command = shlex.join([sys.executable, str(ADAPTERS / "buggy_adapter.py"), "drop-faults"])
    out, err = io.StringIO(), io.StringIO()
    code = conform.main_conform(PROTOCOL, command, tmp_path, stdout=out, stderr=err)
    assert code == 1, err.getvalue()
    assert "$.effects.faults" in out.getvalue() and "fault-" in out.getvalue()
    reference = shlex.join([sys.executable, str(ADAPTERS / "reference_adapter.py")])
    out = io.StringIO()
    assert conform.main_conform(PROTOCOL, reference, tmp_path, stdout=out, stderr=err) == 0
