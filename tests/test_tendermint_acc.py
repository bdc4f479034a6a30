"""Traces of the community Tendermint spec (Quint's port of TendermintAcc) checked against ours.

The traces in tests/data/quint were written by ``quint run`` (0.33.1, TypeScript backend) on
``examples/cosmos/tendermint/Tendermint.qnt`` instantiated by ``MC.qnt`` (4 processes, p4
faulty, rounds 0..2); only their ``evidence*`` variables were removed to keep the files small.
"""

import copy
import json
from pathlib import Path

import pytest

from mnemosyne_consensus.model_checks import cli
from mnemosyne_consensus.model_checks import tendermint_acc as acc
from mnemosyne_consensus.model_checks.codec import DecodeError

DATA = Path(__file__).parent / "data" / "quint"
MAPPING_FILE = DATA / "tendermint_n4_f1_mapping.json"
TRACES = sorted(DATA.glob("tendermint_n4_f1_*.itf.json"))


def load(path):
    return json.loads(path.read_text())


MAPPING = acc.decode_mapping(load(MAPPING_FILE))


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_quint_traces_follow_our_spec(path):
    result = acc.validate_acc_trace(load(path), MAPPING)
    assert result.failure is None and result.states == len(load(path)["states"])


def test_the_traces_are_not_trivial_they_lock_and_decide():
    decides = load(DATA / "tendermint_n4_f1_decides.itf.json")["states"][-1]
    decisions = dict(acc._plain(decides["MC::Tendermint::decision"]))
    assert set(decisions.values()) == {"v1"}
    locks = load(DATA / "tendermint_n4_f1_locks.itf.json")["states"][-1]
    assert "v0" in dict(acc._plain(locks["MC::Tendermint::lockedValue"])).values()


def _tampered(path, index, variable, process, value):
    doc = load(path)
    states = doc["states"]
    for state in states[index:]:
        entries = state[f"MC::Tendermint::{variable}"]["#map"]
        state[f"MC::Tendermint::{variable}"]["#map"] = [
            [k, value if k == process else v] for k, v in entries
        ]
    return doc


def test_a_lock_without_a_polka_is_refused_at_the_state_it_appears():
    path = DATA / "tendermint_n4_f1_decides.itf.json"
    doc = _tampered(path, 2, "lockedValue", "p1", "v0")
    result = acc.validate_acc_trace(doc, MAPPING)
    assert result.failure is not None and result.failure.index == 2
    assert "p1" in result.failure.changed and "'v0'" in result.failure.changed


def test_a_message_a_correct_process_never_sent_is_refused():
    path = DATA / "tendermint_n4_f1_locks.itf.json"
    doc = load(path)
    forged = {"id": "v1", "round": {"#bigint": "0"}, "src": "p2"}
    for state in doc["states"][1:]:
        pool = state["MC::Tendermint::msgsPrecommit"]["#map"]
        pool[0][1]["#set"].append(copy.deepcopy(forged))
    result = acc.validate_acc_trace(doc, MAPPING)
    assert result.failure is not None and result.failure.index == 1
    assert "precommit" in result.failure.changed


def test_mappings_that_cannot_mean_anything_are_refused_with_the_field():
    good = load(MAPPING_FILE)
    cases = [
        ({**good, "proposer": {"0": "p2"}}, "$.proposer.0", "round robin"),
        ({**good, "faulty": ["p3", "p4"]}, "$.faulty", "N = 3T + 1"),
        ({**good, "faulty": ["p9"]}, "$.faulty[0]", "not in processes"),
        ({**good, "processes": {"p1": 0, "p2": 2}}, "$.processes", "ids must be"),
        ({k: v for k, v in good.items() if k != "max_round"}, "$.max_round", "missing"),
    ]
    for doc, path, message in cases:
        with pytest.raises(DecodeError) as caught:
            acc.decode_mapping(doc)
        assert caught.value.path == path and message in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("round", {"#map": "oops"}, "malformed ITF value"),
        ("round", {"#map": [["p1"]]}, "malformed ITF value"),
        ("round", {"#bigint": "x"}, "malformed ITF value"),
        ("step", [1, 2], "expected an ITF #map"),
        ("msgsPrevote", {"#map": [[{"#bigint": "0"}, {"#set": [{"src": "p1"}]}]]}, "without"),
        ("msgsPropose", {"#map": [[{"#bigint": "0"}, "x"]]}, "expected a #set"),
    ],
)
def test_a_malformed_trace_is_refused_with_the_variable_not_crashed_on(variable, value, message):
    doc = load(TRACES[0])
    doc["states"][2][f"MC::Tendermint::{variable}"] = value
    with pytest.raises(DecodeError) as caught:
        acc.validate_acc_trace(doc, MAPPING)
    assert caught.value.path == f"$.states[2].{variable}" and message in str(caught.value)


def test_a_proposer_key_that_is_not_a_round_is_refused():
    with pytest.raises(DecodeError, match="keys are rounds"):
        acc.decode_mapping({**load(MAPPING_FILE), "proposer": {"zero": "p1"}})


def test_cli_validates_and_reports_the_failing_state(tmp_path, capsys):
    trace = TRACES[0]
    assert cli.main(["validate", "tendermint", str(trace), "--acc-mapping", str(MAPPING_FILE)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.itf.json"
    doc = _tampered(DATA / "tendermint_n4_f1_decides.itf.json", 2, "lockedValue", "p1", "v0")
    bad.write_text(json.dumps(doc))
    assert cli.main(["validate", "tendermint", str(bad), "--acc-mapping", str(MAPPING_FILE)]) == 1
    assert "state 2" in capsys.readouterr().out
    code = cli.main(["validate", "gcounter", str(bad), "--acc-mapping", str(MAPPING_FILE)])
    assert code == 2
    assert cli.main(["validate", "tendermint", str(bad), "--acc-mapping", str(bad)]) == 2
    assert "bad mapping" in capsys.readouterr().err
