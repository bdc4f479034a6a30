"""The command-line contract: outputs, JSON documents and exit codes 0 / 1 / 2."""

import json
import subprocess
import sys

import pytest

from mnemosyne_consensus.model_checks.cli import main
from mnemosyne_consensus.model_checks.registry import PROTOCOLS


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_protocols_configs_properties_and_mutants(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    for entry in PROTOCOLS.values():
        assert entry.name in out
        for mutant in entry.mutants:
            assert f"mutant {mutant.name}" in out
    code, out, _ = run(capsys, "list", "--json")
    document = json.loads(out)
    assert {p["protocol"] for p in document["protocols"]} == set(PROTOCOLS)


def test_check_passes_with_summary_table(capsys):
    code, out, _ = run(capsys, "check", "gcounter", "--config", "tiny", "--quiet")
    assert code == 0
    assert "gcounter/tiny: OK (exhaustive)" in out
    assert "all properties hold" in out


def test_check_json_document(capsys):
    code, out, _ = run(capsys, "check", "gcounter", "--config", "tiny", "--json", "--quiet")
    assert code == 0
    document = json.loads(out)
    (result,) = document["results"]
    assert document["ok"] is True
    assert result["outcome"] == "ok" and result["distinct_states"] == 72 and result["complete"]


def test_mutant_exits_1_with_trace_and_itf(capsys, tmp_path):
    itf = tmp_path / "trace.itf.json"
    code, out, _ = run(
        capsys,
        "check",
        "gcounter",
        "--config",
        "tiny",
        "--mutant",
        "sum-merge",
        "--itf",
        str(itf),
        "--quiet",
    )
    assert code == 1
    assert "invariant 'join_idempotent' violated" in out
    assert "0. initial state" in out and "1. replica" in out
    document = json.loads(itf.read_text())
    assert document["states"][0]["#meta"]["index"] == 0


def test_invariant_selection(capsys):
    code, out, _ = run(
        capsys,
        "check",
        "gcounter",
        "--config",
        "tiny",
        "--mutant",
        "sum-merge",
        "--invariant",
        "convergence",
        "--quiet",
    )
    assert code == 1 and "'convergence' violated" in out


def test_simulation_mode(capsys):
    code, out, _ = run(
        capsys, "check", "gcounter", "--simulate", "200", "--steps", "40", "--seed", "3", "--quiet"
    )
    assert code == 0 and "simulation, 200 runs" in out


def test_simulation_too_short_to_reach_a_sometimes_property_fails(capsys):
    code, out, _ = run(
        capsys, "check", "gcounter", "--simulate", "5", "--steps", "3", "--seed", "3", "--quiet"
    )
    assert code == 1 and "was never reached" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "nosuch"], "unknown protocol 'nosuch'"),
        (["check", "gcounter", "--mutant", "nosuch"], "unknown mutant 'nosuch'"),
        (["check", "gcounter", "--config", "nosuch"], "unknown config 'nosuch'"),
        (["check", "gcounter", "--invariant", "nosuch"], "unknown property"),
        (["check"], "exactly one of PROTOCOL or --all"),
        (["check", "--all", "--mutant", "sum-merge"], "need a single PROTOCOL"),
        (["check", "gcounter", "--steps", "3"], "--steps only applies with --simulate"),
        (["check", "tendermint", "--validators", "4", "--byzantine", "2"], "--allow-unsafe"),
        (["check", "tendermint", "--validators", "3", "--byzantine", "3"], "no correct validator"),
        (["check", "tendermint", "--validators", "4"], "go together"),
        (["check", "tendermint", "--allow-unsafe"], "goes with --replicas"),
        (["check", "gcounter", "--replicas", "3", "--byzantine", "0"], "named configs only"),
        (["check", "--all", "--replicas", "4", "--byzantine", "1"], "need a single PROTOCOL"),
        (["vectors", "generate", "unused", "--protocol", "nosuch"], "threshold-crypto)"),
    ],
)
def test_bad_usage_exits_2_with_one_line(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_an_unsafe_size_asked_for_on_purpose_shows_the_counterexample(capsys):
    argv = ["check", "tendermint", "--validators", "4", "--byzantine", "2", "--allow-unsafe"]
    code, out, _ = run(capsys, *argv, "--quiet")
    assert code == 1
    assert "tendermint/n4-f2" in out and "agreement" in out


def test_unwritable_itf_file_is_bad_input(capsys, tmp_path):
    target = tmp_path / "missing-dir" / "trace.json"
    code, out, err = run(
        capsys,
        "check",
        "gcounter",
        "--config",
        "tiny",
        "--mutant",
        "sum-merge",
        "--itf",
        str(target),
        "--quiet",
    )
    assert code == 2 and "cannot write ITF trace" in err
    assert out == ""  # refused before the run


def test_itf_file_that_cannot_be_written_after_the_run_is_bad_input(capsys, tmp_path):
    argv = ["check", "gcounter", "--config", "tiny", "--mutant", "sum-merge"]
    code, _, err = run(capsys, *argv, "--itf", str(tmp_path), "--quiet")  # a directory
    assert code == 2 and "cannot write ITF trace" in err


@pytest.mark.parametrize("argv", [["check", "gcounter", "--depth", "-1"], ["bogus"]])
def test_argparse_errors_exit_2(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


def test_console_script_runs_as_module():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnemosyne_consensus.model_checks",
            "check",
            "gcounter",
            "--config",
            "tiny",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout


def test_bench_reports_rates(capsys):
    code, out, _ = run(
        capsys, "bench", "gcounter", "--seconds", "5", "--trace-events", "2000", "--json"
    )
    assert code == 0
    document = json.loads(out)
    assert document["trace_validation"]["full"]["events"] == 2000
    (row,) = document["bench"]
    assert row["protocol"] == "gcounter" and row["distinct_states"] > 0
    assert row["distinct_states_per_second"] > 0


def test_bench_prints_a_protocols_own_figures_and_refuses_unknown_names(capsys):
    argv = ("bench", "threshold-crypto", "--seconds", "1", "--trace-events", "0", "--json")
    code, out, _ = run(capsys, *argv)
    assert code == 0
    figures = json.loads(out)["figures"]["threshold-crypto"]
    assert figures["n4_f1"]["coin_flips_per_second"] > 0
    code, _, err = run(capsys, "bench", "nosuch")
    assert code == 2 and "nothing to benchmark called nosuch" in err


def test_prove_all_exits_0(capsys):
    code, out, _ = run(capsys, "prove", "--all")
    assert code == 0 and "proved" in out.splitlines()[-1]


def test_prove_with_mutant_exits_1_with_counterexample(capsys):
    code, out, _ = run(
        capsys, "prove", "gcounter.join_idempotent", "--mutant", "gcounter/sum-merge"
    )
    assert code == 1
    assert "COUNTEREXAMPLE" in out and "claim violated" in out


def test_prove_json(capsys):
    code, out, _ = run(capsys, "prove", "vector-clock", "--json")
    document = json.loads(out)
    assert code == 0 and document["ok"] is True and document["total"] >= 5


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["prove", "nosuch"], "unknown proof 'nosuch'"),
        (["prove", "gcounter.join_idempotent", "--mutant", "nosuch"], "unknown mutant"),
        (["prove", "gcounter.join_idempotent", "--mutant", "orset/remove-unobserved"], "is for"),
        (["prove"], "give a proof or protocol NAME"),
    ],
)
def test_prove_bad_usage_exits_2(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_simulate_snowball_reports_statistics_and_draws_the_plot(capsys, tmp_path):
    picture = tmp_path / "snowball.png"
    argv = ["simulate", "snowball", "--nodes", "200", "--seeds", "3", "--plot", str(picture)]
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["finalised_runs"] == 3 and report["conflicts"] == 0
    assert picture.read_bytes().startswith(b"\x89PNG")
    code, _, err = run(capsys, "simulate", "snowball", "--alpha-p", "5")
    assert code == 2 and "αp > k/2" in err


def test_simulate_fail_on_conflict_exits_1_when_weak_parameters_split_the_network(capsys):
    argv = ["simulate", "snowball", "--nodes", "100", "--k", "5", "--alpha-p", "3", "--beta", "1"]
    argv += ["--byzantine-fraction", "0.2", "--adversary", "echo", "--seeds", "10"]
    code, out, _ = run(capsys, *argv, "--fail-on-conflict")
    assert code == 1 and "conflicting decisions: 0/" not in out


def test_vectors_generate_writes_the_threshold_crypto_cases(capsys, tmp_path):
    from mnemosyne_consensus.model_checks.threshold_crypto import check_crypto_vector

    code, out, _ = run(
        capsys, "vectors", "generate", str(tmp_path), "--protocol", "threshold-crypto"
    )
    assert code == 0 and "threshold-crypto" in out
    document = json.loads((tmp_path / "threshold-crypto" / "threshold-crypto.json").read_text())
    assert document["cases"] and all(check_crypto_vector(case) for case in document["cases"])
