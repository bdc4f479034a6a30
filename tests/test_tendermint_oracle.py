"""Tendermint in the oracle: codec, negative vectors, and trace validation against the spec."""

import copy
import json
from collections import deque

import attrs
import jsonschema
import pytest

from mnemosyne_consensus.impl import tendermint as impl
from mnemosyne_consensus.model_checks import schemas
from mnemosyne_consensus.model_checks import tendermint as model
from mnemosyne_consensus.model_checks.codec import DecodeError, dumps_line
from mnemosyne_consensus.model_checks.oracle import ORACLES
from mnemosyne_consensus.model_checks.validate import TraceFormatError, validate_lines
from mnemosyne_consensus.model_checks.vectors import generate_cases, random_runs

PROTOCOL = "tendermint"
ENTRY, ORACLE = ORACLES[PROTOCOL]
CODEC = ORACLE.codec
CHECKER = ORACLE.step_checker
PARAMS = model.params_of(ENTRY.config(model.ORACLE_CONFIG))


@pytest.fixture(scope="module")
def cases():
    return generate_cases(ENTRY, ORACLE)


@pytest.fixture(scope="module")
def walk():
    """The first random walk of the oracle config, as JSON-lines text (header first)."""
    lines = next(iter(random_runs(ENTRY, ORACLE, 1, 40, seed=7)))
    return [dumps_line(line) for line in lines]


def _reachable(count):
    """The first ``count`` deployments of the oracle config, breadth first, with their actions."""
    m = ENTRY.build(ENTRY.config(model.ORACLE_CONFIG), None)
    start = next(iter(m.initial_states()))
    seen, queue, out = {start}, deque([start]), []
    while queue and len(out) < count:
        state = queue.popleft()
        actions = list(m.actions(state))
        out.append((state, actions))
        for action in actions:
            nxt = m.next_state(state, action)
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return out


REACHABLE = _reachable(150)
NODE = REACHABLE[0][0].nodes[0]  # validator 1, height 0, round 0, initial


def _good_message(**changes):
    seed = impl.derive_seed(0)
    m = impl.sign(seed, impl.PROPOSAL, 0, 0, 0, "v0")
    return attrs.evolve(m, **changes) if changes else m


# -- codec ---------------------------------------------------------------------------------------


def test_states_round_trip_and_are_canonical():
    nodes = {node for state, _ in REACHABLE for node in state.nodes}
    assert len(nodes) > 20
    for node in nodes:
        doc = CODEC.encode_state(node)
        assert CODEC.decode_state(doc) == node
        assert CODEC.encode_state(CODEC.decode_state(doc)) == doc
        assert doc["seed"] == node.config.seed.hex() and doc["seed"].islower()


def test_events_round_trip_including_forged_ones():
    events = {ORACLE.node_event(a)[1] for _, actions in REACHABLE for a in actions}
    assert {CODEC.handler(e) for e in events} >= {"propose", "receive", "round_skip"}
    for event in events:
        doc = CODEC.encode_event(event)
        assert CODEC.decode_event(doc) == event
        assert dumps_line(CODEC.encode_event(CODEC.decode_event(doc))) == dumps_line(doc)


def test_signatures_are_lowercase_hex_in_effects():
    _, effects = impl.step(NODE, impl.TimeoutPropose())
    doc = CODEC.encode_effects(effects)
    (sent,) = doc["broadcasts"]
    assert (
        sent["signature"] == effects.broadcasts[0].signature.hex() and len(sent["signature"]) == 128
    )
    assert doc["timers"] == [] and doc["faults"] == [] and doc["evidence"] == []
    jsonschema.Draft202012Validator(schemas.shipped("tendermint/effects")).validate(doc)


def _state_doc(**changes):
    doc = copy.deepcopy(CODEC.encode_state(NODE))
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            doc[outer][inner] = value
        else:
            doc[key] = value
    return doc


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"me": 7}, "$.me"),
        ({"me": "1"}, "$.me"),
        ({"seed": "AB" * 32}, "$.seed"),
        ({"seed": impl.derive_seed(2).hex()}, "$.seed"),
        ({"validators.public_keys": ["00"]}, "$.validators.public_keys[0]"),
        ({"validators.powers": [1, 2]}, "$.validators.powers"),
        ({"validators.powers": [1, 0, 1]}, "$.validators.powers[1]"),
        ({"validators.values": ["v0", 1]}, "$.validators.values[1]"),
        ({"step": "decide"}, "$.step"),
        ({"proposed": 0}, "$.proposed"),
        ({"decisions": [{"value": "v0", "round": 0}]}, "$.decisions"),
        ({"height": 1, "decisions": [{"value": "v0"}]}, "$.decisions[0]"),
        ({"locked_round": -2}, "$.locked_round"),
        ({"valid_value": 3}, "$.valid_value"),
        ({"extra": 1}, "$"),
    ],
)
def test_state_decoding_names_the_bad_field(changes, path):
    with pytest.raises(DecodeError) as error:
        CODEC.decode_state(_state_doc(**changes))
    assert error.value.path == path


def test_state_decoding_extends_the_given_path():
    with pytest.raises(DecodeError) as error:
        CODEC.decode_state(_state_doc(round=-1), "$.initial[1]")
    assert error.value.path == "$.initial[1].round"


MESSAGE = model.message_to_json(_good_message())


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ([], "$"),
        ({"type": "vote"}, "$.type"),
        ({"type": "propose", "value": None}, "$.value"),
        ({"type": "timeout_propose", "round": 0}, "$"),
        ({"type": "receive", "proposal": MESSAGE}, "$"),
        ({"type": "receive", "proposal": MESSAGE, "polka": {}}, "$.polka"),
        ({"type": "receive", "proposal": [], "polka": []}, "$.proposal"),
        ({"type": "nil_polka", "prevotes": [MESSAGE, {"kind": "prevote"}]}, "$.prevotes[1]"),
        ({"type": "round_skip", "messages": [{**MESSAGE, "extra": 1}]}, "$.messages[0]"),
    ],
)
def test_event_decoding_names_the_bad_field(doc, path):
    with pytest.raises(DecodeError) as error:
        CODEC.decode_event(doc)
    assert error.value.path == path


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({"signature": "not hex"}, impl.FaultKind.MALFORMED),
        ({"signature": "00" * 64}, impl.FaultKind.BAD_SIGNATURE),
        ({"signature": "ab"}, impl.FaultKind.BAD_SIGNATURE),
        ({"sender": 9}, impl.FaultKind.UNKNOWN_VALIDATOR),
        ({"sender": "0"}, impl.FaultKind.UNKNOWN_VALIDATOR),
        ({"value": ["v0"]}, impl.FaultKind.MALFORMED),
        ({"kind": "vote"}, impl.FaultKind.MALFORMED),
        ({"round": 1.5}, impl.FaultKind.MALFORMED),
        ({"height": 3}, impl.FaultKind.WRONG_HEIGHT),
        ({"value": "v1"}, impl.FaultKind.BAD_SIGNATURE),
    ],
)
def test_malformed_messages_decode_and_are_refused_with_their_kind(changes, kind):
    event = CODEC.decode_event({"type": "receive", "proposal": {**MESSAGE, **changes}, "polka": []})
    post, effects = CODEC.step(NODE, event)
    assert post == NODE
    assert [f.kind for f in effects.faults] == [kind]
    # the checker's own validation, written apart from the impl, agrees
    assert model.event_refusal(NODE, event)[1] is kind


# -- vectors -------------------------------------------------------------------------------------


def test_negative_vectors_cover_every_fault_kind(cases):
    negatives = [c for c in cases if c.meta["negative"]]
    kinds = {f["kind"] for c in negatives for f in c.effects["faults"]}
    assert kinds == {k.value for k in impl.FaultKind}
    for c in negatives:
        assert c.post == c.pre
    expected = {c.meta["expected"] for c in negatives}
    assert {"fault:bad_signature", "fault:wrong_height"} <= expected


def test_an_equivocation_vector_counts_the_equivocator_once(cases):
    """Two different prevotes of one sender and round as the f+1 of a round skip: refused."""
    found = []
    for c in cases:
        if c.handler != "round_skip" or c.meta["expected"] != "fault:insufficient_power":
            continue
        messages = c.event["messages"]
        slots = {(m["sender"], m["kind"], m["round"]) for m in messages}
        if len(slots) < len(messages):
            found.append(c)
    assert found
    # counted per message, the two prevotes would reach f+1 (power 2 of 4 > 4/3)
    assert 3 * 2 * PARAMS.powers[PARAMS.byzantine[0]] > sum(PARAMS.powers)


def test_positive_vectors_report_equivocation_as_evidence(cases):
    with_evidence = [c for c in cases if c.effects["evidence"]]
    assert with_evidence
    for c in with_evidence:
        for first, second in c.effects["evidence"]:
            assert first != second
            assert (first["sender"], first["kind"], first["round"]) == (
                second["sender"],
                second["kind"],
                second["round"],
            )


def test_vectors_cover_every_rule(cases):
    handlers = {c.handler for c in cases if not c.meta["negative"]}
    assert handlers == {
        "propose",
        "timeout_propose",
        "receive",
        "polka",
        "nil_polka",
        "timeout_prevote",
        "timeout_precommit",
        "commit",
        "round_skip",
    }


def test_the_step_checker_accepts_every_vector_and_rejects_a_wrong_post(cases):
    for c in cases:
        pre = CODEC.decode_state(c.pre)
        event = CODEC.decode_event(c.event)
        post = CODEC.decode_state(c.post)
        assert CHECKER.check((pre,), 0, event, post, c.effects) is None, c.name
    accepted = next(c for c in cases if c.handler == "polka" and not c.meta["negative"])
    pre = CODEC.decode_state(accepted.pre)
    event = CODEC.decode_event(accepted.event)
    wrong = attrs.evolve(CODEC.decode_state(accepted.post), locked_round=5)
    problem = CHECKER.check((pre,), 0, event, wrong, accepted.effects)
    assert problem is not None and problem[0] == "refinement"


# -- traces --------------------------------------------------------------------------------------


def test_a_generated_walk_validates(walk):
    result = validate_lines(PROTOCOL, walk, CHECKER)
    assert result.failure is None and result.steps == len(walk) - 1


def _tamper(walk, predicate, change):
    """The walk with ``change`` applied to the first step matching ``predicate``; its line."""
    lines = list(walk)
    for index in range(1, len(lines)):
        doc = json.loads(lines[index])
        if predicate(doc):
            change(doc)
            lines[index] = dumps_line(doc)
            return lines, index + 1
    raise AssertionError("no step to tamper with")


def test_a_forged_broadcast_signature_is_reported_at_its_line(walk):
    def change(doc):
        doc["effects"]["broadcasts"][0]["signature"] = "00" * 64

    lines, line = _tamper(walk, lambda d: d["effects"]["broadcasts"], change)
    failure = validate_lines(PROTOCOL, lines, CHECKER).failure
    assert failure is not None and failure.line == line
    assert failure.property_name == "refinement"


def test_a_wrong_round_after_a_step_is_reported_at_its_line(walk):
    def change(doc):
        doc["state"]["round"] += 1

    lines, line = _tamper(walk, lambda d: d["event"]["type"] == "timeout_propose", change)
    failure = validate_lines(PROTOCOL, lines, CHECKER).failure
    assert failure is not None and failure.line == line
    assert failure.property_name == "refinement"
    assert "spec TimeoutPropose" in failure.expected and "step=prevote" in failure.expected


def _header(nodes):
    return {
        "format": "mnemosyne-oracle/1",
        "protocol": PROTOCOL,
        "nodes": len(nodes),
        "initial": [CODEC.encode_state(n) for n in nodes],
    }


def test_accepting_a_bad_signature_is_caught():
    bad = _good_message(signature=bytes(64))
    event = impl.ProposalReceived(bad)
    # a node that prevotes on the forged proposal instead of refusing it
    honest = impl.ProposalReceived(_good_message())
    post, effects = impl.step(NODE, honest)
    assert post != NODE
    step = {
        "node": 0,
        "event": CODEC.encode_event(event),
        "state": CODEC.encode_state(post),
        "effects": CODEC.encode_effects(effects),
    }
    lines = [dumps_line(_header([NODE])), dumps_line(step)]
    failure = validate_lines(PROTOCOL, lines, CHECKER).failure
    assert failure is not None and failure.line == 2
    assert failure.property_name == "faults_change_nothing"
    assert "bad_signature" in failure.expected


def test_a_refusal_with_the_wrong_fault_kind_is_caught():
    event = impl.ProposalReceived(_good_message(height=1))  # wrong height
    effects = impl.Effects(faults=(impl.Fault(0, impl.FaultKind.BAD_SIGNATURE),))
    step = {
        "node": 0,
        "event": CODEC.encode_event(event),
        "state": CODEC.encode_state(NODE),
        "effects": CODEC.encode_effects(effects),
    }
    failure = validate_lines(PROTOCOL, [dumps_line(_header([NODE])), dumps_line(step)], CHECKER)
    assert failure.failure is not None and failure.failure.property_name == "typed_fault"
    assert "wrong_height" in failure.failure.expected


def test_a_propose_by_a_non_proposer_is_caught():
    # validator 1 is not proposer(0, 0) = 0: the spec enables no Propose for it
    post = attrs.evolve(NODE, proposed=True)
    step = {
        "node": 0,
        "event": {"type": "propose", "value": "v0"},
        "state": CODEC.encode_state(post),
    }
    failure = validate_lines(PROTOCOL, [dumps_line(_header([NODE])), dumps_line(step)], CHECKER)
    assert failure.failure is not None and failure.failure.property_name == "refinement"
    assert "spec Propose enabled" in failure.failure.expected


def test_a_changed_configuration_is_an_identity_failure():
    other = model.node_configs(PARAMS)[1]
    post = impl.new_node(other)
    step = {"node": 0, "event": {"type": "timeout_propose"}, "state": CODEC.encode_state(post)}
    failure = validate_lines(PROTOCOL, [dumps_line(_header([NODE])), dumps_line(step)], CHECKER)
    assert failure.failure is not None and failure.failure.property_name == "identity"


def test_default_initial_states_are_the_test_keys():
    header = {"format": "mnemosyne-oracle/1", "protocol": PROTOCOL, "nodes": 4}
    node = ORACLE.initial_node(2, 4)
    post, effects = impl.step(node, impl.TimeoutPropose())
    step = {
        "node": 2,
        "event": {"type": "timeout_propose"},
        "state": CODEC.encode_state(post),
        "effects": CODEC.encode_effects(effects),
    }
    result = validate_lines(PROTOCOL, [dumps_line(header), dumps_line(step)], CHECKER)
    assert result.failure is None and result.steps == 1


def test_a_malformed_state_in_a_trace_is_a_format_error(walk):
    lines = list(walk)
    doc = json.loads(lines[1])
    doc["state"]["seed"] = "zz"
    lines[1] = dumps_line(doc)
    with pytest.raises(TraceFormatError) as error:
        validate_lines(PROTOCOL, lines, CHECKER)
    assert error.value.line == 2 and "$.state.seed" in str(error.value)


def _first_receive_case(tmp_path):
    from mnemosyne_consensus.model_checks.oracle import ORACLES
    from mnemosyne_consensus.model_checks.vectors import iter_case_folders, read_case, write_vectors

    write_vectors(tmp_path, [ORACLES["tendermint"]])
    for folder in iter_case_folders(tmp_path / "tendermint"):
        case = read_case(folder)
        if case["meta"]["handler"] == "receive" and not case["meta"]["negative"]:
            return ORACLES["tendermint"][1].codec, case
    raise AssertionError("no positive receive case")


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("valid_round", "x", "malformed"),
        ("valid_round", None, "malformed"),
        ("round", True, "malformed"),
        ("sender", True, "unknown_validator"),
        ("height", 0.5, "malformed"),
    ],
)
def test_mistyped_proposal_fields_are_refused_not_crashed(tmp_path, field, value, kind):
    codec, case = _first_receive_case(tmp_path)
    event = dict(case["event"])
    event["proposal"] = {**event["proposal"], field: value}
    node = codec.decode_state(case["pre"])
    post, effects = codec.step(node, codec.decode_event(event))
    assert post == node
    assert [f["kind"] for f in codec.encode_effects(effects)["faults"]] == [kind]
