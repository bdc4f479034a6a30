"""Trace validation: does a run recorded from another implementation follow the spec?

Trace format (JSON lines, UTF-8; ``mnemosyne-consensus vectors generate`` writes examples)::

    {"format": "mnemosyne-oracle/1", "protocol": "gcounter", "nodes": 3, "initial": [S0, S1, S2]}
    {"node": 0, "event": E, "state": S, "effects": F}
    ...

The first line is the header: the format version, the protocol, the number of nodes and
(optionally) each node's initial state (by default, the protocol's initial state of node i).
Each further line is one observed step: which node stepped, the event it handled, the state it
reported afterwards, and (optionally) the effects it emitted, all in the canonical encoding of
:mod:`codec`. Blank lines are ignored.

For every step the validator checks that the transition from the node's previous state to the
reported one is one the *spec* allows for that event (an enabled spec action, or a stutter when
the node rejected its input), that the reported effects agree with it, and the invariants that
can be read off the nodes' observable states. The trace is streamed: memory stays bounded by the
number of nodes, whatever the trace length.

Results: :class:`TraceFormatError` (malformed trace: exit 2, with the line number) or a
:class:`StepFailure` (the trace breaks the spec: exit 1, with the line, the step, what the spec
allowed or required, and the property broken).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs
import orjson

from .codec import FORMAT, DecodeError, expect_int, expect_object


class TraceFormatError(Exception):
    """The trace is not a well-formed trace of the protocol (exit code 2)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@attrs.frozen
class StepFailure:
    """A step the spec does not allow, or an invariant the observed states break (exit 1)."""

    line: int  # the line of a JSON-lines trace, or the state index of an ITF trace
    node: int
    event: Any
    property_name: str
    expected: str
    observed: str
    unit: str = "line"


@attrs.frozen
class ValidationResult:
    steps: int
    failure: StepFailure | None


@attrs.frozen
class StepChecker:
    """What a protocol supplies to validate one node's step against its spec.

    ``check(nodes, index, event, post, effects_doc)`` returns ``None`` when the step is allowed,
    else ``(property, expected, observed)``; ``nodes`` holds every node's state *before* the
    step (the validator stores ``post`` afterwards).
    """

    codec: Any
    initial_node: Callable[[int, int], Any]
    check: Callable[[tuple[Any, ...], int, Any, Any, Any], tuple[str, str, str] | None]


def _parse(line_number: int, text: str | bytes) -> Any:
    # orjson: the standard parser alone would cap validation well below 100,000 events/s
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise TraceFormatError(line_number, f"not JSON ({error.msg})") from None


def _decoded(line_number: int, decode: Callable[[Any, str], Any], doc: Any, path: str) -> Any:
    try:
        return decode(doc, path)
    except DecodeError as error:
        raise TraceFormatError(line_number, str(error)) from None
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as error:
        # a decoder that trips over a value it did not expect still means "malformed"
        raise TraceFormatError(line_number, f"{path}: malformed ({type(error).__name__})") from None


def _numbered(lines: Iterable[str | bytes]) -> Iterator[tuple[int, str | bytes]]:
    # orjson parses bytes directly and rejects invalid UTF-8 itself ("not JSON")
    for number, raw in enumerate(lines, start=1):
        if raw.strip():
            yield number, raw


def validate_lines(protocol: str, lines: Iterable[str], checker: StepChecker) -> ValidationResult:
    """Validates a JSON-lines trace of ``protocol``; raises TraceFormatError if malformed."""
    codec = checker.codec
    numbered = _numbered(lines)
    try:
        line_number, text = next(numbered)
    except StopIteration:
        raise TraceFormatError(1, "empty trace: expected a header line") from None
    header = _parse(line_number, text)
    try:
        expect_object(header, "$", ["format", "protocol", "nodes"], ["initial"])
        if header["format"] != FORMAT:
            raise DecodeError("$.format", f"expected {FORMAT!r}, got {header['format']!r}")
        if header["protocol"] != protocol:
            raise DecodeError(
                "$.protocol", f"trace is of {header['protocol']!r}, validating {protocol!r}"
            )
        n = expect_int(header["nodes"], "$.nodes", minimum=1)
    except DecodeError as error:
        raise TraceFormatError(line_number, f"bad header: {error}") from None
    if n > 10_000:
        raise TraceFormatError(line_number, f"$.nodes: {n} nodes is beyond this validator")
    if "initial" in header:
        initial = header["initial"]
        if not isinstance(initial, list) or len(initial) != n:
            raise TraceFormatError(line_number, f"$.initial: expected an array of {n} states")
        nodes = tuple(
            _decoded(line_number, codec.decode_state, doc, f"$.initial[{i}]")
            for i, doc in enumerate(initial)
        )
        for i, node in enumerate(nodes):
            if getattr(node, "replica_id", i) != i:
                raise TraceFormatError(line_number, f"$.initial[{i}]: state of another node")
    else:
        nodes = tuple(checker.initial_node(i, n) for i in range(n))

    # Equal documents decode to equal values, so two caches skip most decoding in long traces:
    # each node's last reported state (a stutter reports it again), and recent events of each
    # type (gossip ticks, increments and re-delivered messages recur). Both are bounded. They
    # compare canonical bytes, not documents: Python's == holds for 1 == True == 1.0, which
    # would let a forged `1` reuse the decoding of an honest `true`.
    last_state_docs: list[bytes] = [_canonical(codec.encode_state(node)) for node in nodes]
    recent_events: dict[Any, list[tuple[Any, Any]]] = {}
    steps = 0
    for line_number, text in numbered:
        doc = _parse(line_number, text)
        try:
            expect_object(doc, "$", ["node", "event", "state"], ["effects"])
            index = expect_int(doc["node"], "$.node", minimum=0)
        except DecodeError as error:
            raise TraceFormatError(line_number, str(error)) from None
        if index >= n:
            raise TraceFormatError(line_number, f"$.node: unknown node {index} (nodes: 0..{n - 1})")
        event_doc = doc["event"]
        kind = event_doc.get("type") if type(event_doc) is dict else None
        recent = recent_events.setdefault(kind if type(kind) is str else None, [])
        event_key = _canonical(event_doc)
        for cached_key, cached_event in recent:
            if cached_key == event_key:
                event = cached_event
                break
        else:
            event = _decoded(line_number, codec.decode_event, event_doc, "$.event")
            recent.insert(0, (event_key, event))
            del recent[8:]
        state_doc = doc["state"]
        state_key = _canonical(state_doc)
        if state_key == last_state_docs[index]:
            post = nodes[index]
        else:
            post = _decoded(line_number, codec.decode_state, state_doc, "$.state")
            last_state_docs[index] = state_key
        effects = doc.get("effects")
        if effects is not None and type(effects) is not dict:
            raise TraceFormatError(line_number, "$.effects: expected an object")
        problem = checker.check(nodes, index, event, post, effects)
        steps += 1
        if problem is not None:
            name, expected, observed = problem
            return ValidationResult(
                steps, StepFailure(line_number, index, event_doc, name, expected, observed)
            )
        nodes = (*nodes[:index], post, *nodes[index + 1 :])
    return ValidationResult(steps, None)


def _canonical(document: Any) -> bytes:
    """The document's canonical bytes: equal only when the documents are equal as JSON."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


# -- ITF traces ------------------------------------------------------------------------------------


def is_itf(document: Any) -> bool:
    return type(document) is dict and "states" in document and "format" not in document


@attrs.frozen
class ItfChecker:
    """What a protocol supplies to validate an ITF trace of a whole deployment.

    ``prepare`` turns one state's decoded variables into the form ``check`` reads -- it must
    hold ``"nodes"``, one observable value per node -- and raises ``ValueError`` with a
    one-line reason when the state is malformed. ``check(before, after, earlier)`` returns
    ``None`` when the step from ``before`` to ``after`` is one the spec allows, else
    ``(property, expected, observed)``; ``earlier`` holds every prepared state before ``after``.
    """

    variants: Mapping[str, Any]
    prepare: Callable[[dict[str, Any]], dict[str, Any]]
    check: Callable[
        [dict[str, Any], dict[str, Any], list[dict[str, Any]]], tuple[str, str, str] | None
    ]


def validate_itf(protocol: str, document: Any, binding: Any) -> ValidationResult:
    """Validates an ITF trace (Apalache ADR-015) of a whole deployment against the spec.

    The protocol's ``itf_checker`` says which variables it reads (see its docstring); errors in
    the document raise :class:`TraceFormatError` naming the state index (reported as its line).
    """
    from .render import from_itf

    checker: ItfChecker | None = getattr(binding, "itf_checker", None)
    if checker is None:
        raise TraceFormatError(1, f"ITF traces are not supported for {protocol}")
    states = document.get("states")
    if not isinstance(states, list) or not states:
        raise TraceFormatError(1, "ITF: 'states' must be a non-empty array")
    prepared: list[dict[str, Any]] = []
    for index, raw in enumerate(states):
        if type(raw) is not dict:
            raise TraceFormatError(index, "ITF: a state must be an object")
        try:
            named = {k: from_itf(v, checker.variants) for k, v in raw.items() if k != "#meta"}
            state = checker.prepare(named)
        except (ValueError, TypeError, RecursionError) as error:
            raise TraceFormatError(index, f"ITF state {index}: {error}") from None
        if prepared and len(state["nodes"]) != len(prepared[0]["nodes"]):
            raise TraceFormatError(index, f"ITF state {index}: the number of nodes changed")
        prepared.append(state)
    for index in range(1, len(prepared)):
        before, after = prepared[index - 1], prepared[index]
        try:
            problem = checker.check(before, after, prepared[:index])
        except (TypeError, ValueError, IndexError, KeyError) as error:
            raise TraceFormatError(index, f"ITF state {index}: malformed ({error})") from None
        if problem is not None:
            name, expected, observed = problem
            meta = states[index].get("#meta")
            action = meta.get("action") if isinstance(meta, dict) else None
            pairs = zip(before["nodes"], after["nodes"], strict=True)
            changed = [i for i, (x, y) in enumerate(pairs) if x != y]
            node = changed[0] if changed else -1
            return ValidationResult(
                index, StepFailure(index, node, action, name, expected, observed, "state")
            )
    return ValidationResult(len(prepared) - 1, None)
