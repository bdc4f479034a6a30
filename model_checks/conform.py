"""The live conformance runner: ``mnemosyne-consensus conform PROTOCOL --adapter "COMMAND ARGS"``.

Modelled on Jepsen Maelstrom: the runner starts a foreign implementation's *adapter* (a small
program around the node under test), hands it every conformance vector of one protocol over JSON
lines, and compares each answer with the oracle's. The vectors are the ones written by
:mod:`.vectors` (generated on the fly unless ``--vectors DIR`` is given), so a live run and an
offline replay of the vector tree check exactly the same cases.

Adapter protocol (``mnemosyne-oracle/1``)
-----------------------------------------

The runner starts the adapter as ``COMMAND ARGS`` (split like a POSIX shell does, no shell
involved) and talks to it over its standard input and output:

* **JSON lines.** Every message is one JSON object on one line, UTF-8, terminated by ``\\n``.
  Key order and whitespace inside a line do not matter; blank lines from the adapter are
  ignored; any other line that is not a JSON object makes the adapter unusable (so logs go to
  stderr, never to stdout). Numbers are integers: ``2.0`` is not ``2``, ``true`` is not ``1``.
* **Handshake.** The runner's first line is
  ``{"type": "hello", "format": "mnemosyne-oracle/1", "protocol": "<protocol>"}``.
  The adapter answers ``{"type": "ready"}`` if it implements that protocol in that format, or
  ``{"type": "error", "message": "<why>"}`` if it does not; any other answer means unusable.
* **Steps.** Then, once per case and one at a time (the runner waits for each answer before it
  sends the next step), the runner sends
  ``{"type": "step", "case": "<handler>/<case>", "state": PRE, "event": EVENT}``
  and the adapter loads the node state ``PRE``, hands it the event ``EVENT`` and answers
  ``{"type": "result", "state": POST, "effects": EFFECTS}`` with the node's state after the
  event and the effects it emitted. ``PRE``, ``EVENT``, ``POST`` and ``EFFECTS`` are the canonical
  encodings of :mod:`.codec` (the same documents as the vector files ``pre.json``,
  ``event.json``, ``post.json`` and ``effects.json``). Other fields of the answer are ignored.
  An adapter that cannot process one case (e.g. it cannot decode the state) may answer
  ``{"type": "error", "message": "<why>"}``: that case fails and the run goes on.
* **Shutdown.** After the last case the runner closes the adapter's stdin; the adapter should
  exit with status 0. A non-zero status, or lines on stdout that answer nothing, are reported
  as warnings and do not change the verdict.
* **Stderr** is free for logs; the runner keeps its last lines for its error messages.
* **Timeout.** Every answer (``ready`` included) must arrive within ``--timeout`` seconds
  (default 10); otherwise the runner kills the adapter (its whole process group, so wrappers
  such as ``cargo run`` or ``sh -c`` take their children with them).

Verdict
-------

A case passes when ``{"state": POST, "effects": EFFECTS}`` from the adapter equals the vector's
document (JSON value equality, strict about types). A failure is reported with the case id, the
pre-state, the event, both documents and a field-by-field diff (``$.state.payload[0][1]:
expected 2, got 1``). Exit codes, as everywhere in the command line: 0 every case passed;
1 some case failed; 2 the adapter is unusable (cannot be started, dies, hangs, speaks something
other than this protocol) or bad usage (unknown protocol, missing or malformed vectors), with a
one-line message on stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TextIO

import attrs

from . import oracle, vectors
from .codec import FORMAT, brief, dumps_line

JSON = Any

DEFAULT_TIMEOUT = 10.0
EXIT_OK, EXIT_MISMATCH, EXIT_UNUSABLE = 0, 1, 2

#: how many of the adapter's last stderr lines are kept for error messages
STDERR_TAIL = 20
#: longest excerpt of a document or an adapter's line quoted in a one-line message
QUOTE_LIMIT = 160
#: how long to wait for the adapter's output to drain once it has exited
DRAIN_SECONDS = 1.0

_PARTS = ("meta", "pre", "event", "post", "effects")


class ConformError(Exception):
    """The run stops without a verdict: exit code 2, reported in one line."""


class ConformUsageError(ConformError):
    """Bad usage or bad input: unknown protocol, missing or malformed vectors, bad command."""


class AdapterUnusable(ConformError):
    """The adapter cannot be tested: it does not start, dies, hangs or breaks the protocol."""


# -- vectors --------------------------------------------------------------------------------------


@attrs.frozen
class VectorCase:
    """One conformance vector: the step the adapter is asked to take and the oracle's answer."""

    id: str  # "<handler>/<case>", as in the vector tree
    meta: dict[str, Any]
    pre: JSON
    event: JSON
    post: JSON
    effects: JSON

    @property
    def expected(self) -> dict[str, JSON]:
        return {"state": self.post, "effects": self.effects}


def protocol_dir(vectors_dir: Path, protocol: str) -> Path:
    """The protocol's folder of a vector tree: ``DIR/<protocol>``, or ``DIR`` itself if it is one.

    Accepting both spares implementers the guesswork of whether to pass the tree's root or the
    protocol folder they copied into their repository.
    """
    if not vectors_dir.is_dir():
        raise ConformUsageError(f"vectors directory {vectors_dir} does not exist")
    candidate = vectors_dir / protocol
    if candidate.is_dir():
        return candidate
    if vectors_dir.name == protocol:
        return vectors_dir
    try:
        found = sorted(p.name for p in vectors_dir.iterdir() if p.is_dir())
    except OSError as error:
        raise ConformUsageError(f"cannot read vectors directory {vectors_dir}: {error}") from None
    listing = f" (found: {', '.join(found)})" if found else " (it is empty)"
    raise ConformUsageError(f"no vectors for protocol {protocol!r} in {vectors_dir}{listing}")


def load_cases(folder: Path, protocol: str) -> list[VectorCase]:
    """Every case of one protocol's vector folder, in a stable order, checked before any run.

    Reading the whole tree up front means a broken vector tree is reported as bad input (exit 2)
    before an adapter is even started, never as the adapter's fault halfway through a run.
    """
    try:
        handlers = sorted(p for p in folder.iterdir() if p.is_dir() and p.name != "traces")
        case_folders = [c for h in handlers for c in sorted(p for p in h.iterdir() if p.is_dir())]
    except OSError as error:
        raise ConformUsageError(f"cannot read vectors in {folder}: {error}") from None
    if not case_folders:
        raise ConformUsageError(f"no conformance cases in {folder}")
    return [_load_case(case_folder, protocol) for case_folder in case_folders]


def _load_case(folder: Path, protocol: str) -> VectorCase:
    parts: dict[str, JSON] = {}
    for part in _PARTS:
        path = folder / f"{part}.json"
        try:
            parts[part] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConformUsageError(f"malformed vector {folder}: {part}.json is missing") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ConformUsageError(f"cannot read vector file {path}: {error}") from None
        except json.JSONDecodeError as error:
            raise ConformUsageError(f"malformed vector file {path}: {error}") from None
        except RecursionError:
            raise ConformUsageError(f"malformed vector file {path}: nested too deeply") from None
    meta = parts["meta"]
    if not isinstance(meta, dict):
        raise ConformUsageError(f"malformed vector file {folder / 'meta.json'}: not an object")
    if meta.get("format") != FORMAT:
        raise ConformUsageError(
            f"vector {folder} is in format {meta.get('format')!r}; this runner speaks {FORMAT!r}"
        )
    if meta.get("protocol") != protocol:
        raise ConformUsageError(
            f"vector {folder} belongs to protocol {meta.get('protocol')!r}, not {protocol!r}"
        )
    return VectorCase(
        f"{folder.parent.name}/{folder.name}",
        meta,
        parts["pre"],
        parts["event"],
        parts["post"],
        parts["effects"],
    )


def generate_cases(protocol: str) -> list[VectorCase]:
    """The protocol's vectors, generated into a temporary tree and read back like any other.

    Going through the files (rather than using the in-memory cases) keeps one code path: a live
    run without ``--vectors`` checks exactly what ``--vectors`` on a fresh tree would.
    """
    try:
        binding = oracle.oracle(protocol)
    except KeyError as error:
        raise ConformUsageError(error.args[0]) from None
    with tempfile.TemporaryDirectory(prefix="mnemosyne-conform-") as tmp:
        vectors.write_vectors(Path(tmp), [binding], traces=0)
        return load_cases(Path(tmp) / protocol, protocol)


# -- comparison -----------------------------------------------------------------------------------


def _quote_line(text: str, limit: int = QUOTE_LIMIT) -> str:
    """A line of text cut to ``limit`` characters, so one-line messages stay one line."""
    text = text.replace("\n", " ").replace("\r", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quote(document: JSON, limit: int = QUOTE_LIMIT) -> str:
    """A document on one line, cut to ``limit`` characters for messages."""
    return brief(document, limit)


def _child(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _items(count: int) -> str:
    return f"{count} item" if count == 1 else f"{count} items"


def diff_documents(expected: JSON, actual: JSON, path: str = "$") -> list[str]:
    """Field-by-field differences between two JSON documents; empty when they are equal.

    Equality is strict about JSON types, unlike Python's ``==``: ``true`` is not ``1`` and
    ``2.0`` is not ``2`` (the canonical encoding has no floats and no boolean counts). Objects
    are compared key by key (missing and unexpected keys are reported as such); arrays of equal
    length element by element; arrays of different lengths in one line with both values, since
    an element-wise diff of shifted sorted sets would point at the wrong places.
    """
    if isinstance(expected, dict) and isinstance(actual, dict):
        lines: list[str] = []
        for key in sorted(set(expected) | set(actual)):
            child = _child(path, key)
            if key not in actual:
                lines.append(f"{child}: missing (expected {_quote(expected[key])})")
            elif key not in expected:
                lines.append(f"{child}: unexpected field (got {_quote(actual[key])})")
            else:
                lines.extend(diff_documents(expected[key], actual[key], child))
        return lines
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [
                f"{path}: expected {_items(len(expected))}, got {len(actual)} "
                f"(expected {_quote(expected)}, got {_quote(actual)})"
            ]
        lines = []
        for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
            lines.extend(diff_documents(e, a, f"{path}[{index}]"))
        return lines
    if type(expected) is type(actual) and expected == actual:
        return []
    return [f"{path}: expected {_quote(expected)}, got {_quote(actual)}"]


# -- the report -----------------------------------------------------------------------------------


@attrs.frozen
class CaseFailure:
    """A case whose answer differs from the oracle's (or that the adapter refused)."""

    case: str
    meta: dict[str, Any]
    pre: JSON
    event: JSON
    expected: JSON
    actual: JSON
    diff: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "expected_outcome": self.meta.get("expected"),
            "pre": self.pre,
            "event": self.event,
            "expected": self.expected,
            "actual": self.actual,
            "diff": list(self.diff),
        }


@attrs.frozen
class ConformanceReport:
    protocol: str
    adapter: str
    vectors: str  # the vector folder, or "generated"
    total: int
    passed: int
    failures: tuple[CaseFailure, ...]
    # e.g. a non-zero exit status after the last case: worth telling, not a conformance failure
    warnings: tuple[str, ...] = ()

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_MISMATCH

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "format": FORMAT,
            "protocol": self.protocol,
            "adapter": self.adapter,
            "vectors": self.vectors,
            "total": self.total,
            "passed": self.passed,
            "failed": self.failed,
            "failures": [f.to_json() for f in self.failures],
            "warnings": list(self.warnings),
        }


def render_report(report: ConformanceReport) -> str:
    """The human-readable report: each failure with its documents and diff, then the tally."""
    lines = [
        f"conform {report.protocol}: adapter {report.adapter}",
        f"vectors: {report.vectors} ({report.total} cases)",
    ]
    for failure in report.failures:
        outcome = failure.meta.get("expected")
        lines += [
            "",
            f"FAIL {failure.case}" + (f" (expected outcome: {outcome})" if outcome else ""),
            f"  pre:      {dumps_line(failure.pre)}",
            f"  event:    {dumps_line(failure.event)}",
            f"  expected: {dumps_line(failure.expected)}",
            f"  actual:   {brief(failure.actual, None)}",  # the adapter's: may not encode
            "  diff:",
            *(f"    {line}" for line in failure.diff),
        ]
    verdict = "all passed" if report.ok else f"{report.passed} passed, {report.failed} failed"
    lines += ["", f"{report.total} cases: {verdict}"]
    return "\n".join(lines)


# -- the adapter process --------------------------------------------------------------------------

_EOF = object()


def split_command(command: str) -> list[str]:
    """``--adapter`` as an argument vector, split like a POSIX shell (quotes, no expansion)."""
    try:
        argv = shlex.split(command)
    except ValueError as error:
        raise ConformUsageError(f"cannot parse --adapter {command!r}: {error}") from None
    if not argv:
        raise ConformUsageError("--adapter is empty: give the command that starts the adapter")
    return argv


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class AdapterProcess:
    """A running adapter, driven so that no pipe and no silent adapter can block the runner.

    A writer thread feeds stdin (a hung adapter that stops reading cannot stall a write), one
    reader thread turns stdout into a queue of lines (so every answer is awaited with a
    timeout), another keeps the tail of stderr (so a chatty adapter cannot fill its pipe and
    deadlock, and its last words end up in our error messages). Pipes are binary and decoded
    here, strictly, so invalid UTF-8 is reported as what it is instead of killing a thread.
    """

    def __init__(self, argv: list[str], timeout: float) -> None:
        self.argv = argv
        self.timeout = timeout
        name = argv[0]
        # its own process group, so a timeout kills wrappers' children too (see kill())
        group: dict[str, Any] = {"process_group": 0} if os.name == "posix" else {}
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                **group,
            )
        except FileNotFoundError:
            raise AdapterUnusable(f"adapter command not found: {name}") from None
        except PermissionError:
            raise AdapterUnusable(f"adapter command is not executable: {name}") from None
        except OSError as error:
            reason = error.strerror or str(error)
            raise AdapterUnusable(f"adapter command {name} failed to start: {reason}") from None
        self._lines: queue.Queue[Any] = queue.Queue()
        self._outbox: queue.Queue[bytes | None] = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL)
        assert self.process.stdin and self.process.stdout and self.process.stderr
        self._writer = threading.Thread(
            target=self._write_loop, args=(self.process.stdin,), daemon=True
        )
        self._reader = threading.Thread(
            target=self._read_loop, args=(self.process.stdout, self._lines.put), daemon=True
        )
        self._stderr_thread = threading.Thread(
            target=self._read_loop, args=(self.process.stderr, self._keep_stderr), daemon=True
        )
        for thread in (self._writer, self._reader, self._stderr_thread):
            thread.start()

    # threads

    def _write_loop(self, stdin: IO[bytes]) -> None:
        while (data := self._outbox.get()) is not None:
            try:
                stdin.write(data)
                stdin.flush()
            except (OSError, ValueError):  # the adapter is gone; the stdout reader sees EOF
                break
        with contextlib.suppress(OSError, ValueError):
            stdin.close()

    @staticmethod
    def _read_loop(stream: IO[bytes], sink: Callable[[Any], None]) -> None:
        try:
            for line in iter(stream.readline, b""):
                sink(line)
        except (OSError, ValueError):
            pass
        finally:
            sink(_EOF)

    def _keep_stderr(self, line: Any) -> None:
        if line is not _EOF:
            self._stderr.append(line.decode("utf-8", errors="replace").rstrip("\r\n"))

    # talking

    def send(self, document: JSON) -> None:
        self._outbox.put((dumps_line(document) + "\n").encode("utf-8"))

    def receive(self, during: str) -> dict[str, Any]:
        """The adapter's next message (a JSON object), or AdapterUnusable saying what went wrong.

        ``during`` names what the runner was waiting for ("hello", "case receive/0003-accept"),
        so every message says where the adapter failed.
        """
        # one deadline per answer: an adapter trickling blank lines does not extend it
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise AdapterUnusable(
                    f"adapter timed out after {self.timeout:g} s on {during}; killed it"
                ) from None
            if line is _EOF:
                raise AdapterUnusable(f"adapter {self._death()} on {during}{self.last_words()}")
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                self.kill()
                raise AdapterUnusable(
                    f"adapter wrote invalid UTF-8 on {during}: {_quote_line(repr(line))}"
                ) from None
            if not text.strip():
                continue
            try:
                document = json.loads(text, parse_constant=_reject_constant)
            except (ValueError, RecursionError) as error:
                self.kill()
                what = (
                    "sent JSON nested too deeply"
                    if isinstance(error, RecursionError)
                    else "spoke malformed JSON"
                )
                raise AdapterUnusable(
                    f"adapter {what} on {during}: {_quote_line(text.strip())}"
                ) from None
            if not isinstance(document, dict):
                self.kill()
                raise AdapterUnusable(
                    f"adapter sent a JSON value that is not an object on {during}: "
                    f"{_quote(document)}"
                )
            return document

    def _death(self) -> str:
        """Why stdout ended: the exit status if the adapter exits soon, else that it hung up."""
        try:
            code = self.process.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return "closed its stdout"
        self._stderr_thread.join(DRAIN_SECONDS)
        return _describe_exit(code)

    def last_words(self) -> str:
        """``"; last stderr: ..."`` with the adapter's last non-blank stderr line, if any."""
        for line in reversed(self._stderr):
            if line.strip():
                return f"; last stderr: {_quote_line(line.strip())}"
        return ""

    # ending

    def finish(self) -> list[str]:
        """Closes stdin and waits for a clean exit; returns warnings (they change no verdict)."""
        self._outbox.put(None)
        try:
            code = self.process.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return [f"adapter did not exit within {self.timeout:g} s after stdin was closed"]
        warnings = []
        # an adapter that answers twice per step is out of step with the runner: say so
        self._reader.join(DRAIN_SECONDS)
        extra = [line for line in self._pending() if line.strip()]
        if extra:
            warnings.append(
                f"adapter wrote {len(extra)} line(s) nobody asked for, the last: "
                f"{_quote_line(extra[-1].decode('utf-8', errors='replace').strip())}"
            )
        if code != 0:
            self._stderr_thread.join(DRAIN_SECONDS)
            warnings.append(
                f"adapter {_describe_exit(code)} after the last case{self.last_words()}"
            )
        return warnings

    def _pending(self) -> list[bytes]:
        lines = []
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return lines
            if line is not _EOF:
                lines.append(line)

    def kill(self) -> None:
        """Kills the adapter and its process group (if still running) and reaps it."""
        if self.process.poll() is None:
            # the group id is the adapter's pid; it cannot be recycled while the adapter is
            # unreaped, so this reaches only processes the adapter started
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.name == "posix":
                    os.killpg(self.process.pid, signal.SIGKILL)
                else:
                    self.process.kill()
            self.process.wait()
        self._outbox.put(None)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# -- the run --------------------------------------------------------------------------------------


def run_conformance(
    protocol: str,
    adapter_command: str,
    vectors_dir: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ConformanceReport:
    """Drives the adapter through every case of ``protocol`` and compares its answers.

    Vectors come from ``vectors_dir`` (``DIR/<protocol>`` or the protocol folder itself) or, when
    it is None, are generated from the oracle. Raises :class:`ConformUsageError` for bad usage
    or vectors and :class:`AdapterUnusable` when the adapter cannot be tested; mismatches are
    not exceptions but the report's failures.
    """
    if not timeout > 0:
        raise ConformUsageError(f"--timeout must be positive, got {timeout:g}")
    argv = split_command(adapter_command)
    if vectors_dir is None:
        cases = generate_cases(protocol)
        source = "generated"
    else:
        cases = load_cases(protocol_dir(vectors_dir, protocol), protocol)
        source = str(vectors_dir)
    adapter = AdapterProcess(argv, timeout)
    try:
        _handshake(adapter, protocol)
        failures = [
            failure
            for number, case in enumerate(cases, 1)
            if (failure := _run_case(adapter, case, f"case {case.id} ({number} of {len(cases)})"))
        ]
        warnings = adapter.finish()
    finally:
        adapter.kill()  # whatever happened (even ^C), no adapter outlives the run
    return ConformanceReport(
        protocol=protocol,
        adapter=adapter_command,
        vectors=source,
        total=len(cases),
        passed=len(cases) - len(failures),
        failures=tuple(failures),
        warnings=tuple(warnings),
    )


def _handshake(adapter: AdapterProcess, protocol: str) -> None:
    adapter.send({"type": "hello", "format": FORMAT, "protocol": protocol})
    reply = adapter.receive("hello")
    if reply.get("type") == "ready":
        return
    if reply.get("type") == "error":
        raise AdapterUnusable(
            f"adapter refused protocol {protocol!r} in format {FORMAT!r}: {_message(reply)}"
        )
    raise AdapterUnusable(
        f'adapter answered hello with {_quote(reply)}, expected {{"type":"ready"}}'
    )


def _message(reply: dict[str, Any]) -> str:
    message = reply.get("message")
    return _quote_line(message) if isinstance(message, str) else "(no message)"


def _run_case(adapter: AdapterProcess, case: VectorCase, during: str) -> CaseFailure | None:
    adapter.send({"type": "step", "case": case.id, "state": case.pre, "event": case.event})
    reply = adapter.receive(during)
    kind = reply.get("type")
    if kind == "error":
        actual: JSON = {"error": reply.get("message")}
        diff = [f"$: adapter reported an error instead of a result: {_message(reply)}"]
    elif kind == "result":
        for field in ("state", "effects"):
            if field not in reply:
                adapter.kill()
                raise AdapterUnusable(f"adapter's result on {during} has no field {field!r}")
        actual = {"state": reply["state"], "effects": reply["effects"]}
        diff = diff_documents(case.expected, actual)
    else:
        adapter.kill()
        raise AdapterUnusable(
            f"adapter answered {during} with {_quote(reply)}, expected a result or an error"
        )
    if not diff:
        return None
    return CaseFailure(case.id, case.meta, case.pre, case.event, case.expected, actual, tuple(diff))


# -- the command ----------------------------------------------------------------------------------


def main_conform(
    protocol: str,
    adapter: str,
    vectors: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    as_json: bool = False,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """``mnemosyne-consensus conform``: runs, prints the report, returns the exit code.

    0 every case passed, 1 some case failed (report on stdout: human readable, or one JSON
    document with ``as_json``), 2 bad usage, bad vectors or an unusable adapter (one line on
    stderr, nothing on stdout, no traceback). Warnings go to stderr and into the JSON document.
    """
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    try:
        report = run_conformance(protocol, adapter, vectors, timeout)
    except ConformError as error:
        print(f"mnemosyne-consensus: error: {error}", file=err, flush=True)
        return EXIT_UNUSABLE
    for warning in report.warnings:
        print(f"mnemosyne-consensus: warning: {warning}", file=err, flush=True)
    if as_json:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False), file=out, flush=True)
    else:
        print(render_report(report), file=out, flush=True)
    return report.exit_code
