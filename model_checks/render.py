"""Results as text for a person, as JSON for CI scripts, and traces as ITF for trace viewers.

ITF is the Informal Trace Format of Apalache and Quint (Apalache ADR-015): integers as
``{"#bigint": "-1"}``, sets ``{"#set": [...]}``, maps ``{"#map": [[k, v], ...]}``, tuples
``{"#tup": [...]}``, variants ``{"tag": ..., "value": ...}``, records as plain objects. We write it
ourselves rather than with ``itf-py`` because sets and maps must come out in a canonical order
(two runs give byte-identical files) and our states are slotted attrs classes; the tests read
our output back with ``itf-py`` to make sure the two agree.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .engine import ExplorationResult, Violation

ITF_FORMAT_URL = "https://apalache-mc.org/docs/adr/015adr-trace.html"

# -- Plain values: JSON for CI scripts ---------------------------------------------------------


def to_plain(value: Any) -> Any:
    """A JSON-able rendering: records as objects, collections as lists (sets sorted)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if attrs.has(type(value)):
        fields = {f.name: to_plain(getattr(value, f.name)) for f in attrs.fields(type(value))}
        return {"type": type(value).__name__, **fields}
    if isinstance(value, Mapping):
        return {_plain_key(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted((to_plain(v) for v in value), key=_sort_key)
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return repr(value)


def _plain_key(key: Any) -> str:
    return key if isinstance(key, str) else json.dumps(to_plain(key), sort_keys=True)


def _sort_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# -- ITF -------------------------------------------------------------------------------------------


def to_itf(value: Any) -> Any:
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, int):
        return {"#bigint": str(value)}
    if value is None:
        return {"tag": "None", "value": {"#tup": []}}
    if isinstance(value, enum.Enum):
        return {"tag": value.name, "value": {"#tup": []}}
    if attrs.has(type(value)):
        fields = attrs.fields(type(value))
        record = {f.name: to_itf(getattr(value, f.name)) for f in fields}
        return {"tag": type(value).__name__, "value": record}
    if isinstance(value, Mapping):
        pairs = [[to_itf(k), to_itf(v)] for k, v in value.items()]
        return {"#map": sorted(pairs, key=_sort_key)}
    if isinstance(value, frozenset | set):
        return {"#set": sorted((to_itf(v) for v in value), key=_sort_key)}
    if isinstance(value, tuple | list):
        return {"#tup": [to_itf(v) for v in value]}
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def itf_trace(
    violation: Violation[Any, Any],
    view: Callable[[Any], Mapping[str, Any]],
    source: str,
) -> dict[str, Any]:
    states = []
    variables: list[str] = []
    for index, step in enumerate(violation.trace):
        named = dict(view(step.state))
        variables = list(named)
        state: dict[str, Any] = {"#meta": {"index": index, "action": step.action_text}}
        state.update({name: to_itf(v) for name, v in named.items()})
        states.append(state)
    return {
        "#meta": {
            "format": "ITF",
            "format-description": ITF_FORMAT_URL,
            "source": source,
            "description": f"{violation.kind} {violation.property_name} violated: "
            f"{violation.description}",
        },
        "vars": variables,
        "states": states,
    }


# -- Text for a person ---------------------------------------------------------------------------


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            _flatten(f"{prefix}[{key!r}]" if prefix else str(key), item, out)
    else:
        out[prefix] = repr(value)


def describe_trace(violation: Violation[Any, Any], view: Callable[[Any], Mapping[str, Any]]) -> str:
    """The trace, one action per line, each followed by the variables it changed."""
    lines: list[str] = []
    previous: dict[str, str] = {}
    for index, step in enumerate(violation.trace):
        current: dict[str, str] = {}
        _flatten("", dict(view(step.state)), current)
        if index == 0:
            lines.append("  0. initial state")
            changed = current
        else:
            lines.append(f"  {index}. {step.action_text}")
            changed = {k: v for k, v in current.items() if previous.get(k) != v}
            if not changed:
                lines.append("       (no variable changed)")
        for name, rendered in changed.items():
            lines.append(f"       {name} = {rendered}")
        previous = current
    return "\n".join(lines)


def describe_result(
    label: str,
    result: ExplorationResult[Any, Any],
    view: Callable[[Any], Mapping[str, Any]],
) -> str:
    lines = [summary_line(label, result)]
    if result.violation is not None:
        v = result.violation
        what = {"invariant": "invariant", "step": "step property", "unreached": "reachable"}[v.kind]
        lines.append(f"{what} {v.property_name!r} violated: {v.description}")
        if v.detail:
            lines.append(f"  {v.detail}")
        steps = len(v.trace) - 1
        kind = "shortest trace" if result.mode == "exhaustive" else "trace"
        lines.append(f"{kind} ({steps} step{'' if steps == 1 else 's'}):")
        lines.append(describe_trace(v, view))
    for name in result.unreached:
        lines.append(f"sometimes-property {name!r} was never reached: the model may be vacuous")
    return "\n".join(lines)


def summary_line(label: str, result: ExplorationResult[Any, Any]) -> str:
    verdict = {"ok": "OK", "violation": "VIOLATION", "unreached": "UNREACHED"}[result.outcome]
    bound = f", bounded by {result.bound_hit}" if result.bound_hit else ""
    runs = f", {result.runs} runs" if result.mode == "simulation" else ""
    return (
        f"{label}: {verdict} ({result.mode}{runs}{bound}) -- {result.distinct_states} distinct "
        f"states, {result.states_explored} explored, depth {result.max_depth}, "
        f"{result.seconds:.2f} s, {result.states_per_second:,.0f} states/s"
    )


def result_to_json(
    result: ExplorationResult[Any, Any], view: Callable[[Any], Mapping[str, Any]]
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "mode": result.mode,
        "outcome": result.outcome,
        "complete": result.complete,
        "bound_hit": result.bound_hit,
        "states_explored": result.states_explored,
        "distinct_states": result.distinct_states,
        "max_depth": result.max_depth,
        "seconds": round(result.seconds, 3),
        "runs": result.runs,
        "reached": list(result.reached),
        "unreached": list(result.unreached),
        "violation": None,
    }
    v = result.violation
    if v is not None:
        document["violation"] = {
            "kind": v.kind,
            "property": v.property_name,
            "description": v.description,
            "detail": v.detail,
            "trace": [
                {"action": step.action_text, "state": to_plain(dict(view(step.state)))}
                for step in v.trace
            ],
        }
    return document


def from_itf(value: Any, variants: Mapping[str, Any] | None = None) -> Any:
    """The inverse of :func:`to_itf` on the values our traces hold.

    ``#bigint`` and plain numbers become ints, ``#tup`` tuples, ``#set`` frozensets, ``#map``
    dicts, the ``None`` variant ``None``, and a variant whose tag names a class in ``variants``
    an instance of it built from the record's fields. Raises ``ValueError`` on anything else.
    """
    variants = variants or {}
    if isinstance(value, bool | str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, list):
        return tuple(from_itf(v, variants) for v in value)
    if not isinstance(value, dict):
        raise ValueError(f"not an ITF value: {value!r}")
    if "#bigint" in value:
        text = value["#bigint"]
        if not isinstance(text, str):
            raise ValueError("#bigint must hold a string")
        return int(text)
    if "#tup" in value:
        return tuple(from_itf(v, variants) for v in _items(value["#tup"]))
    if "#set" in value:
        return frozenset(from_itf(v, variants) for v in _items(value["#set"]))
    if "#map" in value:
        pairs = _items(value["#map"])
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise ValueError("#map must hold [key, value] pairs")
        return {from_itf(k, variants): from_itf(v, variants) for k, v in pairs}
    if set(value) == {"tag", "value"}:
        tag = value["tag"]
        if tag == "None":
            return None
        cls = variants.get(tag)
        if cls is None:
            raise ValueError(f"unknown variant {tag!r}")
        fields = value["value"]
        if not isinstance(fields, dict):
            raise ValueError(f"variant {tag!r} must hold a record")
        return cls(**{k: from_itf(v, variants) for k, v in fields.items()})
    return {k: from_itf(v, variants) for k, v in value.items()}


def _items(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"expected an array, got {type(value).__name__}")
    return value
