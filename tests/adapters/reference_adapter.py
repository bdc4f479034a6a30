"""Reference adapter: the Python implementation behind the ``conform`` adapter protocol.

Run as ``python tests/adapters/reference_adapter.py``. It is what a foreign implementation's
adapter looks like, with our own implementation inside: decode the state and the event with the
oracle's codec, step the node, encode the new state and the effects. It must pass every case
(``tests/test_conform.py`` checks that), which keeps the runner, the codec and the vectors honest
with each other. The other adapters in this folder reuse :func:`serve` with a different
:data:`Answer`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from mnemosyne_consensus.model_checks.codec import FORMAT, DecodeError, dumps_line
from mnemosyne_consensus.model_checks.oracle import ORACLES

#: (codec, state document, event document) -> (post-state document, effects document)
Answer = Callable[[Any, Any, Any], tuple[Any, Any]]


def answer(codec: Any, state: Any, event: Any) -> tuple[Any, Any]:
    """One step of our implementation, between canonical documents."""
    node = codec.decode_state(state)
    post, effects = codec.step(node, codec.decode_event(event))
    return codec.encode_state(post), codec.encode_effects(effects)


def reply(stdout: TextIO, document: Any) -> None:
    stdout.write(dumps_line(document) + "\n")
    stdout.flush()


def serve(step: Answer = answer, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Speaks the adapter protocol until stdin closes; returns the exit status."""
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    hello = json.loads(stdin.readline() or "null")
    if not isinstance(hello, dict) or hello.get("type") != "hello":
        reply(stdout, {"type": "error", "message": f"expected a hello, got {hello!r}"})
        return 1
    protocol = hello.get("protocol")
    if hello.get("format") != FORMAT:
        reply(stdout, {"type": "error", "message": f"unsupported format {hello.get('format')!r}"})
        return 1
    if protocol not in ORACLES:
        reply(stdout, {"type": "error", "message": f"unsupported protocol {protocol!r}"})
        return 1
    codec = ORACLES[protocol][1].codec
    reply(stdout, {"type": "ready"})
    for line in stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        if message.get("type") != "step":
            reply(stdout, {"type": "error", "message": f"unexpected message {message!r}"})
            continue
        try:
            post, effects = step(codec, message["state"], message["event"])
        except DecodeError as error:
            reply(stdout, {"type": "error", "message": str(error)})
            continue
        reply(stdout, {"type": "result", "state": post, "effects": effects})
    return 0


def main() -> int:
    # the protocol is UTF-8 whatever the locale says
    sys.stdin.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    sys.stdout.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    return serve()


if __name__ == "__main__":
    sys.exit(main())
