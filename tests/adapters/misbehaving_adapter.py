"""Misbehaving adapter: each mode breaks the adapter protocol in one way (``conform`` exit 2).

Run as ``python tests/adapters/misbehaving_adapter.py MODE``:

``hang-hello``     reads the hello and never answers
``bad-hello``      answers the hello with something other than ready
``refuse``         answers the hello with an error
``hang``           ready, then never answers the first step
``die``            ready, then writes a last word on stderr and exits 3 on the first step
``garbage``        ready, then prints a line that is not JSON
``not-object``     ready, then answers with a JSON array
``bad-utf8``       ready, then prints bytes that are not UTF-8
``wrong-type``     ready, then answers a step with ``{"type": "ack"}``
``no-effects``     ready, then answers a result without effects
``too-deep``       ready, then answers with a state nested 100,000 arrays deep
``error``          ready, then answers every step with an error (cases fail: exit 1)
``bad-exit``       answers every step correctly, then exits 5 (a warning: exit 0)
``chatty``         answers correctly, with blank lines and a flood of stderr (exit 0)
``trailing``       answers correctly, then writes one line more (a warning: exit 0)

A hanging mode sleeps for a bounded time, so a runner that failed to kill it leaves no
immortal process behind. If ``MISBEHAVING_PIDFILE`` is set, the adapter writes its pid there
first (the tests use it to check that a timeout kills an adapter's whole process group). Only the
modes that answer steps correctly import the implementation: the others start in milliseconds,
so their short timeouts measure the misbehaviour, not the interpreter's start-up.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

HANG_SECONDS = 120


def reply(document: Any) -> None:
    print(json.dumps(document), flush=True)


def main(mode: str) -> int:
    pidfile = os.environ.get("MISBEHAVING_PIDFILE")
    if pidfile:
        with open(pidfile, "w") as out:
            out.write(str(os.getpid()))
    if mode in ("bad-exit", "chatty", "trailing"):
        return {"bad-exit": bad_exit, "chatty": chatty, "trailing": trailing}[mode]()
    sys.stdin.readline()  # the hello
    if mode == "hang-hello":
        time.sleep(HANG_SECONDS)
        return 0
    if mode == "bad-hello":
        reply({"type": "hola"})
        return 0
    if mode == "refuse":
        reply({"type": "error", "message": "this node speaks only raft"})
        return 0
    reply({"type": "ready"})
    for _line in sys.stdin:
        if mode == "hang":
            time.sleep(HANG_SECONDS)
            return 0
        if mode == "die":
            print("panic: simulated crash in step", file=sys.stderr, flush=True)
            return 3
        if mode == "garbage":
            print("Hello from the adapter!", flush=True)
        elif mode == "not-object":
            reply([1, 2, 3])
        elif mode == "bad-utf8":
            sys.stdout.buffer.write(b'{"type": "result", "state": "\xff\xfe"}\n')
            sys.stdout.flush()
        elif mode == "wrong-type":
            reply({"type": "ack"})
        elif mode == "no-effects":
            reply({"type": "result", "state": {}})
        elif mode == "too-deep":
            state = "[" * 100_000 + "]" * 100_000
            print(f'{{"type": "result", "state": {state}, "effects": {{}}}}', flush=True)
        elif mode == "error":
            reply({"type": "error", "message": "cannot decode the state"})
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    return 0


def bad_exit() -> int:
    from reference_adapter import serve

    serve()
    print("exiting with 5 on purpose", file=sys.stderr, flush=True)
    return 5


def trailing() -> int:
    from reference_adapter import serve

    serve()
    reply({"type": "result", "note": "one answer too many"})
    return 0


def chatty() -> int:
    """Logs far more on stderr than a pipe buffer holds: the runner must keep draining it."""
    from reference_adapter import serve

    class Noisy:
        def write(self, text: str) -> None:
            print("x" * 1000, file=sys.stderr)
            sys.stdout.write("\n" + text)

        def flush(self) -> None:
            sys.stdout.flush()

    return serve(stdout=Noisy())  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
