"""Raft leader election in the oracle: codec, schemas, vectors and trace validation."""

import json

import attrs
import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mnemosyne_consensus.impl import raft_election as impl
from mnemosyne_consensus.model_checks import raft_election as model
from mnemosyne_consensus.model_checks import schemas
from mnemosyne_consensus.model_checks.codec import DecodeError, dumps_line
from mnemosyne_consensus.model_checks.validate import validate_lines
from mnemosyne_consensus.model_checks.vectors import (
    generate_cases,
    iter_case_folders,
    read_case,
    write_vectors,
)

PROTOCOL = "raft-election"
ENTRY, ORACLE = model.PROTOCOL, model.ORACLE
CODEC = ORACLE.codec
CHECKER = ORACLE.step_checker
SCHEMAS = schemas.protocol_schemas(CODEC)
LOGS = ((1, 2), (1, 1), (0, 0))


def state(i, term=1, voted_for=None, role="follower", votes=()):
    log_term, log_index = LOGS[i]
    return {
        "server": i,
        "servers": 3,
        "last_log_term": log_term,
        "last_log_index": log_index,
        "current_term": term,
        "voted_for": voted_for,
        "role": role,
        "votes_granted": list(votes),
    }


def request(term, candidate):
    log_term, log_index = LOGS[candidate]
    return {
        "type": "request_vote",
        "term": term,
        "candidate": candidate,
        "last_log_term": log_term,
        "last_log_index": log_index,
    }


def response(term, voter, candidate, granted):
    return {
        "type": "request_vote_response",
        "term": term,
        "voter": voter,
        "candidate": candidate,
        "granted": granted,
    }


def effects(sends=(), vote=None, elected=None, reset=False, faults=()):
    return {
        "sends": list(sends),
        "vote": vote,
        "elected": elected,
        "reset_election_timer": reset,
        "faults": list(faults),
    }


def receive(message):
    return {"type": "receive", "message": message}


HEADER = {
    "format": "mnemosyne-oracle/1",
    "protocol": PROTOCOL,
    "nodes": 3,
    "initial": [state(i) for i in range(3)],
}


def trace(*steps):
    return [dumps_line(HEADER), *(dumps_line(step) for step in steps)]


# server 0 times out, server 2 grants it, server 0 wins with the vote
TIMEOUT_0 = {
    "node": 0,
    "event": {"type": "timeout"},
    "state": state(0, 2, 0, "candidate", (0,)),
    "effects": effects(
        [{"to": j, "message": request(2, 0)} for j in (1, 2)],
        vote={"term": 2, "candidate": 0},
        reset=True,
    ),
}
GRANT_2 = {
    "node": 2,
    "event": receive(request(2, 0)),
    "state": state(2, 2, 0),
    "effects": effects(
        [{"to": 0, "message": response(2, 2, 0, True)}],
        vote={"term": 2, "candidate": 0},
        reset=True,
    ),
}
WIN_0 = {
    "node": 0,
    "event": receive(response(2, 2, 0, True)),
    "state": state(0, 2, 0, "leader", (0, 2)),
    "effects": effects(elected=2),
}


@pytest.fixture(scope="module")
def cases():
    return generate_cases(ENTRY, ORACLE)


# -- codec: round trips and canonical documents ---------------------------------------------------


@st.composite
def server_states(draw):
    n = draw(st.integers(1, 6))
    log_term = draw(st.integers(0, 5))
    log_index = 0 if log_term == 0 else draw(st.integers(1, 2**70))
    return impl.ServerState(
        draw(st.integers(0, n - 1)),
        n,
        log_term,
        log_index,
        draw(st.integers(log_term, 2**70)),
        draw(st.none() | st.integers(0, n - 1)),
        draw(st.sampled_from(impl.Role)),
        tuple(sorted(draw(st.sets(st.integers(0, n - 1))))),
    )


@given(server_states())
def test_states_round_trip(node):
    doc = CODEC.encode_state(node)
    assert CODEC.decode_state(json.loads(dumps_line(doc))) == node
    jsonschema.Draft202012Validator(SCHEMAS["state"]).validate(doc)


@pytest.mark.parametrize(
    "event",
    [
        impl.ElectionTimeout(),
        impl.Restart(),
        impl.Receive(impl.RequestVote(2, 0, 1, 2)),
        impl.Receive(impl.RequestVoteResponse(2, 1, 0, False)),
        # malformed messages round-trip too: they are data for the server to refuse
        *(impl.Receive(m) for m in model.forged_messages(3, 1, 3)),
        impl.Receive(impl.RequestVote("two", None, (1, "x"), 2.5)),
    ],
)
def test_events_round_trip(event):
    doc = CODEC.encode_event(event)
    assert CODEC.decode_event(json.loads(dumps_line(doc))) == event
    assert CODEC.handler(event) in {"timeout", "restart", "receive"}
    jsonschema.Draft202012Validator(SCHEMAS["event"]).validate(doc)


def test_effects_are_canonical():
    node = CODEC.decode_state(state(0))
    _, started = CODEC.step(node, impl.ElectionTimeout())
    assert CODEC.encode_effects(started) == TIMEOUT_0["effects"]
    _, refused = CODEC.step(node, impl.Receive(impl.RequestVote(2, 9, 0, 0)))
    # the fault's free-text detail is not part of the encoding; its typed kind is
    assert CODEC.encode_effects(refused) == effects(
        faults=[{"sender": 9, "kind": impl.FaultKind.UNKNOWN_SENDER.value}]
    )
    assert refused.faults[0].detail
    jsonschema.Draft202012Validator(SCHEMAS["effects"]).validate(CODEC.encode_effects(started))


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"servers": 0}, "$.servers"),
        ({"server": 3}, "$.server"),
        ({"server": -1}, "$.server"),
        ({"last_log_term": 1, "last_log_index": 0}, "$.last_log_index"),
        ({"last_log_term": True}, "$.last_log_term"),
        ({"current_term": 0}, "$.current_term"),  # below the last log term (1)
        ({"current_term": 1.0}, "$.current_term"),
        ({"voted_for": 3}, "$.voted_for"),
        ({"voted_for": "0"}, "$.voted_for"),
        ({"role": "king"}, "$.role"),
        ({"votes_granted": [1, 0]}, "$.votes_granted"),
        ({"votes_granted": [0, 0]}, "$.votes_granted"),
        ({"votes_granted": [0, 7]}, "$.votes_granted[1]"),
        ({"votes_granted": "0"}, "$.votes_granted"),
        ({"extra": 1}, "$"),
    ],
)
def test_state_decoding_names_the_bad_field(changes, path):
    with pytest.raises(DecodeError) as error:
        CODEC.decode_state({**state(0), **changes})
    assert error.value.path == path


def test_state_schema_is_strict_where_a_schema_can_be():
    validator = jsonschema.Draft202012Validator(SCHEMAS["state"])
    validator.validate(state(0, 2, 0, "candidate", (0,)))
    for changes in (
        {"role": "king"},
        {"voted_for": "0"},
        {"votes_granted": [0, 0]},
        {"current_term": -1},
        {"last_log_term": True},
        {"extra": 1},
    ):
        assert not validator.is_valid({**state(0), **changes}), changes
    without_role = state(0)
    del without_role["role"]
    assert not validator.is_valid(without_role)


def test_state_decoding_extends_the_given_path():
    with pytest.raises(DecodeError) as error:
        CODEC.decode_state({**state(1), "role": None}, "$.initial[1]")
    assert error.value.path == "$.initial[1].role"


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"type": "tick"}, "$.type"),
        ({"type": "timeout", "at": 5}, "$"),
        ({"type": "receive"}, "$"),
        ({"type": "receive", "message": {"type": "append_entries"}}, "$.message.type"),
        ({"type": "receive", "message": {"type": "request_vote", "term": 1}}, "$.message"),
        ({"type": "receive", "message": [1, 2]}, "$.message"),
        ("timeout", "$"),
    ],
)
def test_event_decoding_names_the_bad_field(doc, path):
    with pytest.raises(DecodeError) as error:
        CODEC.decode_event(doc)
    assert error.value.path == path


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ({**request(2, 0), "candidate": 7}, "unknown_sender"),
        ({**request(2, 0), "candidate": 1}, "unknown_sender"),  # the receiver itself
        (response(2, 0, 2, True), "misaddressed"),
        ({**request(2, 0), "term": 0}, "malformed_term"),
        ({**request(2, 0), "term": "2"}, "malformed_term"),
        ({**request(2, 0), "last_log_index": 0}, "malformed_log_position"),
        ({**request(2, 0), "last_log_term": [1]}, "malformed_log_position"),
        ({**request(2, 0), "last_log_term": 2}, "log_ahead_of_term"),
        (response(2, 0, 1, 1), "malformed_grant"),
        (response(5, 0, 1, True), "grant_from_future"),
    ],
)
def test_malformed_messages_decode_and_are_refused_with_their_kind(message, kind):
    event_doc = receive(message)
    jsonschema.Draft202012Validator(SCHEMAS["event"]).validate(event_doc)
    node = CODEC.decode_state(state(1, 2, 1, "candidate", (1,)))
    post, out = CODEC.step(node, CODEC.decode_event(event_doc))
    assert post == node
    sender = message.get("candidate") if message["type"] == "request_vote" else message["voter"]
    assert CODEC.encode_effects(out) == effects(faults=[{"sender": sender, "kind": kind}])
    assert model.refusal(node, CODEC.decode_event(event_doc).message) is impl.FaultKind(kind)


values = st.one_of(
    st.integers(-1, 4), st.booleans(), st.none(), st.floats(0, 4), st.text(max_size=1)
)


@given(
    request_vote=st.booleans(),
    fields=st.tuples(values, values, values, values),
    term=st.integers(0, 4),
)
def test_refusal_agrees_with_the_impl(request_vote, fields, term):
    node = impl.ServerState(1, 3, 1, 1, max(term, 1), None, impl.Role.FOLLOWER, ())
    cls = impl.RequestVote if request_vote else impl.RequestVoteResponse
    message = cls(*fields)
    problem = impl.validate(node, message)
    assert model.refusal(node, message) == (problem[0] if problem else None)


# -- vectors ---------------------------------------------------------------------------------------


def test_vectors_cover_every_handler_and_every_fault_kind(cases):
    outcomes = {(c.handler, c.meta["expected"]) for c in cases}
    assert {("timeout", "accept"), ("restart", "accept"), ("receive", "accept")} <= outcomes
    faults = {o.removeprefix("fault:") for _, o in outcomes if o.startswith("fault:")}
    assert faults == {kind.value for kind in impl.FaultKind}
    for case in cases:
        if case.meta["negative"]:
            assert case.handler == "receive"
            assert case.post == case.pre and case.effects["sends"] == []
    # three servers and two (the tiny config); wins, votes and step-downs all occur
    assert {case.pre["servers"] for case in cases} == {2, 3}
    assert any(case.effects["elected"] is not None for case in cases)
    assert any(case.effects["vote"] is not None and case.handler == "receive" for case in cases)
    assert any(
        case.pre["role"] != "follower" and case.post["role"] == "follower"
        for case in cases
        if case.handler == "receive"
    )


def _nodes_around(pre_doc):
    """The trace's nodes with ``pre_doc`` at its place, the others initial followers."""
    pre = CODEC.decode_state(pre_doc)
    logs = LOGS if pre.n == 3 else ((1, 1), (0, 0))
    return tuple(
        pre if i == pre.server else impl.new(i, pre.n, *logs[i], current_term=1)
        for i in range(pre.n)
    )


def test_our_impl_passes_every_vector_and_the_checker_accepts_it(cases):
    for case in cases:
        node = CODEC.decode_state(case.pre)
        event = CODEC.decode_event(case.event)
        post, out = CODEC.step(node, event)
        assert CODEC.encode_state(post) == case.post, case.name
        assert CODEC.encode_effects(out) == case.effects, case.name
        for document, schema in (("pre", "state"), ("post", "state"), ("event", "event")):
            jsonschema.Draft202012Validator(SCHEMAS[schema]).validate(getattr(case, document))
        jsonschema.Draft202012Validator(SCHEMAS["effects"]).validate(case.effects)
        nodes, index = _nodes_around(case.pre), case.pre["server"]
        assert CHECKER.check(nodes, index, event, post, case.effects) is None, case.name
        assert CHECKER.check(nodes, index, event, post, None) is None, case.name


def test_the_checker_rejects_a_wrong_term_after_every_vector(cases):
    for case in cases:
        nodes, index = _nodes_around(case.pre), case.pre["server"]
        event = CODEC.decode_event(case.event)
        post = CODEC.decode_state(case.post)
        wrong = attrs.evolve(post, current_term=post.current_term + 5)
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
    walks = sorted((root / "traces").glob("*.jsonl"))
    assert len(walks) == 2
    for walk in walks:
        with walk.open("rb") as lines:
            result = validate_lines(PROTOCOL, lines, CHECKER)
        assert result.failure is None and result.steps > 0
        header, *steps = [json.loads(line) for line in walk.read_text().splitlines()]
        for doc in header["initial"]:
            jsonschema.Draft202012Validator(SCHEMAS["state"]).validate(doc)
        for step in steps:
            jsonschema.Draft202012Validator(SCHEMAS["event"]).validate(step["event"])
            jsonschema.Draft202012Validator(SCHEMAS["effects"]).validate(step["effects"])


# -- trace validation ------------------------------------------------------------------------------


def test_an_honest_hand_made_election_validates():
    # after server 0 wins, server 1 grants it too (0's log (1, 2) beats its (1, 1)), and the
    # late vote changes nothing; server 1 campaigns in term 3, and the leader steps down and
    # refuses it (its log is more up-to-date); server 1 restarts, keeping term and vote
    grant_1 = {
        "node": 1,
        "event": receive(request(2, 0)),
        "state": state(1, 2, 0),
        "effects": effects(
            [{"to": 0, "message": response(2, 1, 0, True)}],
            vote={"term": 2, "candidate": 0},
            reset=True,
        ),
    }
    late_vote = {"node": 0, "event": receive(response(2, 1, 0, True)), "state": WIN_0["state"]}
    timeout_1 = {
        "node": 1,
        "event": {"type": "timeout"},
        "state": state(1, 3, 1, "candidate", (1,)),
    }
    step_down = {
        "node": 0,
        "event": receive(request(3, 1)),
        "state": state(0, 3),
        "effects": effects([{"to": 1, "message": response(3, 0, 1, False)}]),
    }
    restart = {"node": 1, "event": {"type": "restart"}, "state": state(1, 3, 1)}
    steps = (TIMEOUT_0, GRANT_2, WIN_0, grant_1, late_vote, timeout_1, step_down, restart)
    result = validate_lines(PROTOCOL, trace(*steps), CHECKER)
    assert result.failure is None and result.steps == 8


def test_a_lazy_but_allowed_step_validates():
    # the spec lets a server take UpdateTerm and answer the request later (a prefix of the chain)
    lazy = {
        "node": 2,
        "event": receive(request(2, 0)),
        "state": state(2, 2),
        "effects": effects(),
    }
    assert validate_lines(PROTOCOL, trace(TIMEOUT_0, lazy), CHECKER).failure is None


@pytest.mark.parametrize(
    ("step", "property_name", "fragment"),
    [
        # server 0 grants server 2, though 0's log (1, 2) is more up-to-date than 2's (0, 0)
        (
            {
                "node": 0,
                "event": receive({**request(2, 2)}),
                "state": state(0, 2, 2),
            },
            "refinement",
            "voted_for None",
        ),
        # a vote granted, but the response says no
        (
            {
                **GRANT_2,
                "effects": {
                    **GRANT_2["effects"],
                    "sends": [{"to": 0, "message": response(2, 2, 0, False)}],
                },
            },
            "refinement",
            "effects",
        ),
        # the timeout without the vote for self
        ({**TIMEOUT_0, "state": state(0, 2, None, "candidate", ())}, "refinement", "Timeout"),
        # a refused message changing the state, or refused with the wrong kind, or accepted
        (
            {"node": 1, "event": receive(response(9, 0, 1, True)), "state": state(1, 9)},
            "faults_change_nothing",
            "grant_from_future",
        ),
        (
            {
                "node": 1,
                "event": receive(response(2, 0, 2, True)),
                "state": state(1),
                "effects": effects(faults=[{"sender": 0, "kind": "unknown_sender"}]),
            },
            "typed_fault",
            "misaddressed",
        ),
        (
            {
                "node": 1,
                "event": receive(request(2, 0)),
                "state": state(1),
                "effects": effects(faults=[{"sender": 0, "kind": "unknown_sender"}]),
            },
            "typed_fault",
            "no fault",
        ),
        # a server that changes its log or turns into another
        (
            {**GRANT_2, "state": {**GRANT_2["state"], "last_log_index": 3, "last_log_term": 1}},
            "identity",
            "last log",
        ),
    ],
)
def test_steps_the_spec_forbids_are_reported(step, property_name, fragment):
    steps = (TIMEOUT_0, step) if step["node"] == 2 else (step,)
    failure = validate_lines(PROTOCOL, trace(*steps), CHECKER).failure
    assert failure is not None
    assert failure.property_name == property_name, failure
    assert fragment in failure.expected + failure.observed, failure
    assert failure.line == len(steps) + 1
