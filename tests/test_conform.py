"""The live conformance runner against the adapters in tests/adapters.

The reference adapter (our implementation behind the adapter protocol) must pass every case of
every protocol; a buggy one must fail with a readable diff (exit 1); every way of breaking the
protocol must end the run with exit 2 and a one-line message, quickly and without leaving a
process behind. Each run is guarded by a generous deadline so a runner bug fails the test
instead of hanging the suite.
"""

import io
import json
import os
import shlex
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest

from mnemosyne_consensus.model_checks import conform, oracle, vectors
from mnemosyne_consensus.model_checks.codec import FORMAT

ADAPTERS = Path(__file__).resolve().parent / "adapters"
PROTOCOLS = list(oracle.ORACLES)
GUARD_SECONDS = 120  # far above any run here; only a hung runner gets near it


def adapter(script, *args):
    return shlex.join([sys.executable, str(ADAPTERS / script), *args])


def run(protocol, command, vectors_dir=None, timeout=conform.DEFAULT_TIMEOUT, as_json=False):
    """main_conform in a thread with a deadline: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    result = {}

    def target():
        result["code"] = conform.main_conform(
            protocol, command, vectors_dir, timeout, as_json, stdout=out, stderr=err
        )

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(GUARD_SECONDS)
    assert not thread.is_alive(), f"conform did not return within {GUARD_SECONDS} s"
    assert "code" in result, err.getvalue()  # an exception escaped main_conform
    return result["code"], out.getvalue(), err.getvalue()


def assert_one_line_error(code, out, err, fragment):
    assert code == 2, (out, err)
    assert out == ""
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("mnemosyne-consensus: error: "), err
    assert fragment in err, err


@pytest.fixture(scope="session")
def vector_tree(tmp_path_factory):
    """Every protocol's vectors, generated once for the session."""
    root = tmp_path_factory.mktemp("vectors")
    counts = vectors.write_vectors(root, list(oracle.ORACLES.values()), traces=0)
    assert all(counts[name] > 0 for name in PROTOCOLS)
    return root


@pytest.fixture
def gcounter_tree(vector_tree, tmp_path):
    """A private copy of the G-Counter vectors, for tests that damage them."""
    shutil.copytree(vector_tree / "gcounter", tmp_path / "gcounter")
    return tmp_path


# -- the reference adapter passes everything -----------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_reference_adapter_passes_every_case(protocol, vector_tree):
    code, out, err = run(protocol, adapter("reference_adapter.py"), vector_tree, as_json=True)
    report = json.loads(out)
    assert code == 0, report["failures"][:3]
    assert report["ok"] and report["failed"] == 0 and report["failures"] == []
    assert report["total"] > 0 and report["passed"] == report["total"]
    assert report["protocol"] == protocol and report["format"] == FORMAT
    assert err == ""


def test_reference_adapter_on_generated_vectors():
    code, out, err = run("gcounter", adapter("reference_adapter.py"))
    assert code == 0, out + err
    assert "vectors: generated" in out
    assert out.rstrip().endswith("cases: all passed")


def test_protocol_folder_itself_is_accepted(vector_tree):
    code, out, _ = run("gcounter", adapter("reference_adapter.py"), vector_tree / "gcounter")
    assert code == 0, out


# -- a buggy adapter fails with a readable diff --------------------------------------------------


def test_sum_merge_bug_is_reported_with_a_state_diff(vector_tree):
    code, out, _ = run("gcounter", adapter("buggy_adapter.py", "sum-merge"), vector_tree)
    assert code == 1
    code_json, out_json, _ = run(
        "gcounter", adapter("buggy_adapter.py", "sum-merge"), vector_tree, as_json=True
    )
    report = json.loads(out_json)
    assert code_json == 1 and not report["ok"]
    assert report["failed"] > 0 and report["passed"] + report["failed"] == report["total"]
    failure = report["failures"][0]
    assert failure["case"].startswith("receive/")
    assert failure["event"]["type"] == "receive"
    assert failure["expected"]["state"] != failure["actual"]["state"]
    # the human report names the case and explains the difference field by field
    assert f"FAIL {failure['case']}" in out
    for line in failure["diff"]:
        assert line.startswith("$.state.payload[")
        assert f"    {line}" in out
    assert f"{report['total']} cases: {report['passed']} passed, {report['failed']} failed" in out


def test_dropped_faults_are_reported_as_missing_items(vector_tree):
    code, out, _ = run("gcounter", adapter("buggy_adapter.py", "drop-faults"), vector_tree)
    assert code == 1
    assert "FAIL receive/" in out and "fault-unknown_sender" in out
    assert '$.effects.faults: expected 1 item, got 0 (expected [{"kind":"unknown_sender"' in out


def test_error_answers_fail_their_cases_and_the_run_goes_on(vector_tree):
    code, out, _ = run("gcounter", adapter("misbehaving_adapter.py", "error"), vector_tree)
    assert code == 1
    assert "adapter reported an error instead of a result: cannot decode the state" in out
    assert "cases: 0 passed" in out


# -- unusable adapters: exit 2, one line, quickly -------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "timeout", "fragment"),
    [
        ("hang-hello", 1, "adapter timed out after 1 s on hello; killed it"),
        ("hang", 2, "adapter timed out after 2 s on case client_update/0000-accept (1 of "),
        ("die", 10, "adapter exited with code 3 on case client_update/0000-accept"),
        ("garbage", 10, "adapter spoke malformed JSON on case client_update/0000-accept"),
        ("not-object", 10, "a JSON value that is not an object on case client_update/"),
        ("bad-utf8", 10, "adapter wrote invalid UTF-8 on case client_update/0000-accept"),
        ("bad-hello", 10, 'adapter answered hello with {"type":"hola"}, expected'),
        ("refuse", 10, "adapter refused protocol 'gcounter'"),
        ("wrong-type", 10, 'with {"type":"ack"}, expected a result or an error'),
        ("no-effects", 10, "has no field 'effects'"),
        ("too-deep", 10, "adapter sent JSON nested too deeply on case client_update/0000-accept"),
    ],
)
def test_unusable_adapter(mode, timeout, fragment, vector_tree):
    code, out, err = run("gcounter", adapter("misbehaving_adapter.py", mode), vector_tree, timeout)
    assert_one_line_error(code, out, err, fragment)


def test_a_value_too_deep_to_print_is_named_not_raised():
    """A reply that parsed may still be too deep for the encoder that quotes it in a diff."""
    deep: list = []
    for _ in range(10_000):
        deep = [deep]
    assert conform._quote(deep) == "(a value too deeply nested to print)"
    assert conform.diff_documents({"view": 1}, {"view": deep}) == [
        "$.view: expected 1, got (a value too deeply nested to print)"
    ]


def test_a_dying_adapters_last_stderr_line_is_quoted(vector_tree):
    code, out, err = run("gcounter", adapter("misbehaving_adapter.py", "die"), vector_tree)
    assert_one_line_error(code, out, err, "last stderr: panic: simulated crash in step")


def test_an_adapter_that_exits_at_once(vector_tree):
    command = shlex.join([sys.executable, "-c", "import sys; sys.exit(4)"])
    code, out, err = run("gcounter", command, vector_tree)
    assert_one_line_error(code, out, err, "adapter exited with code 4 on hello")


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_an_adapter_killed_by_a_signal(vector_tree):
    command = shlex.join(
        [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
    )
    code, out, err = run("gcounter", command, vector_tree)
    assert_one_line_error(code, out, err, "adapter was killed by SIGKILL on hello")


def _alive(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead, just not yet reaped


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_timeout_kills_the_adapters_children_too(vector_tree, tmp_path, monkeypatch):
    """A wrapper (``sh -c``, ``cargo run``) must not leave its hung child behind."""
    pidfile = tmp_path / "pid"
    monkeypatch.setenv("MISBEHAVING_PIDFILE", str(pidfile))
    inner = adapter("misbehaving_adapter.py", "hang-hello")
    command = shlex.join(["sh", "-c", f"{inner}; exit 0"])  # not exec: the adapter is a child
    code, out, err = run("gcounter", command, vector_tree, timeout=2)
    assert_one_line_error(code, out, err, "timed out after 2 s on hello")
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def test_command_not_found(vector_tree):
    code, out, err = run("gcounter", "/nonexistent/mnemosyne-adapter --flag", vector_tree)
    assert_one_line_error(
        code, out, err, "adapter command not found: /nonexistent/mnemosyne-adapter"
    )


@pytest.mark.skipif(os.name != "posix", reason="execute permission")
def test_command_not_executable(vector_tree, tmp_path):
    script = tmp_path / "adapter.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    code, out, err = run("gcounter", str(script), vector_tree)
    assert_one_line_error(code, out, err, "adapter command is not executable")


@pytest.mark.parametrize(
    ("command", "fragment"),
    [("", "--adapter is empty"), ('python "unbalanced', "cannot parse --adapter")],
)
def test_bad_adapter_command(command, fragment, vector_tree):
    assert_one_line_error(*run("gcounter", command, vector_tree), fragment)


# -- warnings that change no verdict -------------------------------------------------------------


def test_a_non_zero_exit_after_the_last_case_is_a_warning(vector_tree):
    code, out, err = run("gcounter", adapter("misbehaving_adapter.py", "bad-exit"), vector_tree)
    assert code == 0, out + err
    assert "all passed" in out
    assert err == (
        "mnemosyne-consensus: warning: adapter exited with code 5 after the last case; "
        "last stderr: exiting with 5 on purpose\n"
    )


def test_lines_after_the_last_answer_are_a_warning(vector_tree):
    code, out, err = run("gcounter", adapter("misbehaving_adapter.py", "trailing"), vector_tree)
    assert code == 0, out + err
    assert err.startswith("mnemosyne-consensus: warning: adapter wrote 1 line(s) nobody asked for")
    assert "one answer too many" in err


def test_blank_lines_and_a_flood_of_stderr_are_fine(vector_tree):
    code, out, err = run("gcounter", adapter("misbehaving_adapter.py", "chatty"), vector_tree)
    assert code == 0, out + err
    assert err == ""


# -- bad usage and bad vectors: exit 2 -----------------------------------------------------------


def test_unknown_protocol():
    code, out, err = run("no-such-protocol", adapter("reference_adapter.py"))
    assert_one_line_error(code, out, err, "unknown protocol 'no-such-protocol' (known: gcounter")


def test_unknown_protocol_in_a_vector_tree(vector_tree):
    code, out, err = run("no-such-protocol", adapter("reference_adapter.py"), vector_tree)
    assert_one_line_error(code, out, err, "no vectors for protocol 'no-such-protocol' in")


def test_missing_vectors_directory(tmp_path):
    code, out, err = run("gcounter", adapter("reference_adapter.py"), tmp_path / "absent")
    assert_one_line_error(code, out, err, "does not exist")


def test_empty_vector_folder(tmp_path):
    (tmp_path / "gcounter").mkdir()
    code, out, err = run("gcounter", adapter("reference_adapter.py"), tmp_path)
    assert_one_line_error(code, out, err, "no conformance cases in")


def _first_case(tree):
    return sorted((tree / "gcounter" / "receive").iterdir())[0]


def test_malformed_vector_file(gcounter_tree):
    (_first_case(gcounter_tree) / "post.json").write_text("{not json")
    code, out, err = run("gcounter", adapter("reference_adapter.py"), gcounter_tree)
    assert_one_line_error(code, out, err, "malformed vector file")
    assert "post.json" in err


def test_missing_vector_file(gcounter_tree):
    (_first_case(gcounter_tree) / "effects.json").unlink()
    code, out, err = run("gcounter", adapter("reference_adapter.py"), gcounter_tree)
    assert_one_line_error(code, out, err, "effects.json is missing")


def test_vectors_of_another_format(gcounter_tree):
    meta_path = _first_case(gcounter_tree) / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "format": "mnemosyne-oracle/0"}))
    code, out, err = run("gcounter", adapter("reference_adapter.py"), gcounter_tree)
    assert_one_line_error(code, out, err, "is in format 'mnemosyne-oracle/0'")


def test_bad_vectors_are_reported_before_any_adapter_starts(gcounter_tree):
    (_first_case(gcounter_tree) / "pre.json").write_text("[")
    code, out, err = run("gcounter", "/nonexistent/adapter", gcounter_tree)
    assert_one_line_error(code, out, err, "malformed vector file")


# -- the diff -------------------------------------------------------------------------------------


def test_diff_of_equal_documents_is_empty():
    document = {"state": {"payload": [[0, 1]], "local": None}, "effects": {"faults": []}}
    assert conform.diff_documents(document, json.loads(json.dumps(document))) == []


def test_diff_paths_and_wording():
    expected = {"state": {"payload": [[0, 2]], "local": None}, "effects": {"faults": [1]}}
    actual = {"state": {"payload": [[0, 1]], "extra": 3}, "effects": {"faults": []}}
    assert conform.diff_documents(expected, actual) == [
        "$.effects.faults: expected 1 item, got 0 (expected [1], got [])",
        "$.state.extra: unexpected field (got 3)",
        "$.state.local: missing (expected null)",
        "$.state.payload[0][1]: expected 2, got 1",
    ]


@pytest.mark.parametrize(
    ("expected", "actual", "line"),
    [
        (1, True, "$: expected 1, got true"),
        (2, 2.0, "$: expected 2, got 2.0"),
        ("2", 2, '$: expected "2", got 2'),
        ([1], {"a": 1}, '$: expected [1], got {"a":1}'),
        ({"odd key": 1}, {"odd key": 2}, '$["odd key"]: expected 1, got 2'),
    ],
)
def test_diff_is_strict_about_json_types(expected, actual, line):
    assert conform.diff_documents(expected, actual) == [line]


def test_long_values_are_cut_in_diff_lines():
    (line,) = conform.diff_documents("x" * 1000, "y")
    assert len(line) < 2 * conform.QUOTE_LIMIT and line.count("...") == 1


def test_the_report_names_an_actual_document_too_deep_to_print():
    deep: list = []
    for _ in range(10_000):
        deep = [deep]
    failure = conform.CaseFailure("h/0000-accept", {}, {}, {}, {"view": 1}, deep, ("$: differs",))
    report = conform.ConformanceReport("gcounter", "adapter", "vectors", 1, 0, (failure,))
    assert "  actual:   (a value too deeply nested to print)" in conform.render_report(report)
