"""The canonical JSON encoding of node states, events and effects: the oracle's wire format.

Version: ``FORMAT = "mnemosyne-oracle/1"``; every vector's ``meta.json`` carries it, and a
breaking change to any encoding below bumps it.

Canonical means: one document per value. Objects are written with sorted keys; collections that
are sets in the spec are written as arrays in sorted order; integers stay integers (no floats
anywhere); bytes are lowercase hex strings; the optional free-text ``detail`` of a fault or
rejection is *not* part of the encoding (wording is not conformance: the typed ``kind`` or
``reason`` is). Two equal values therefore give byte-identical documents under
:func:`dumps`, and conformance is plain equality of documents.

Decoding is strict for node states (an implementation must report well-formed states) and
raises :class:`DecodeError` naming the path of the bad field (``$.payload[1][0]``). Decoding
of a *received message's payload* is deliberately lenient: a malformed payload is data the node
itself must reject (with ``FaultKind.MALFORMED_PAYLOAD``), so it decodes to a plain value and
the node's validation speaks.

State-based CRDT documents (``gcounter``, ``pncounter``, ``lww-register``, ``orset``)::

    state    {"replica": 0, "replicas": 3, "payload": P, "local": L}
    event    {"type": "client_update", "op": {"type": "increment"}}
             {"type": "gossip_timer"}
             {"type": "receive", "message": {"sender": 1, "payload": P}}
    effects  {"broadcasts": [{"sender": 0, "payload": P}],
              "faults": [{"sender": 9, "kind": "unknown_sender"}],
              "rejections": [{"reason": "stale_timestamp"}]}

``P`` and ``L`` are the implementation's payload and bookkeeping with tuples written as arrays
(each protocol's module docstring in ``impl/`` describes its payload); operations are objects
with a ``type`` (the operation's class name in snake case) and its fields.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from ..impl import state_based as crdt_impl

FORMAT = "mnemosyne-oracle/1"

JSON = Any


class DecodeError(ValueError):
    """A document that is not a valid encoding; ``path`` points at the offending field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def dumps(document: JSON) -> str:
    """The canonical text of a document: sorted keys, two-space indent, trailing newline."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def dumps_line(document: JSON) -> str:
    """The canonical one-line text of a document (JSON lines), without the newline."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- generic values: tuples <-> arrays -----------------------------------------------------------


def brief(value: JSON, limit: int | None = 240) -> str:
    """A reported value on one line, cut to ``limit`` characters (None: whole), for messages: it
    may be anything a peer or an adapter sent, so a value the encoder refuses is named, not
    raised."""
    try:
        text = dumps_line(value)
    except (RecursionError, TypeError, ValueError):
        return "(a value too deeply nested to print)"
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def plain_to_json(value: Any) -> JSON:
    """Tuples as arrays, recursively; ints, strings, booleans and null as themselves."""
    if isinstance(value, tuple | list):
        return [plain_to_json(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, enum.Enum):
        return value.value
    if value is None or isinstance(value, bool | int | str):
        return value
    raise TypeError(f"no canonical JSON for {type(value).__name__}: {value!r}")


def plain_from_json(value: JSON) -> Any:
    """Arrays as tuples, recursively (the inverse of :func:`plain_to_json` on plain values).

    An object becomes a sorted tuple of (key, value) pairs: a shape no payload has, so the
    node's validation rejects it. (Exact type tests: this runs once per value of every line
    of a validated trace.)
    """
    kind = type(value)
    if kind is list:
        return tuple([plain_from_json(v) if type(v) in _NESTED else v for v in value])
    if kind is dict:
        return tuple(sorted((k, plain_from_json(v)) for k, v in value.items()))
    return value


_NESTED = (list, dict)


def expect_object(
    doc: JSON, path: str, required: Sequence[str], optional: Sequence[str] = ()
) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise DecodeError(path, f"expected an object, got {_kind(doc)}")
    for key in required:
        if key not in doc:
            raise DecodeError(path, f"missing field {key!r}")
    extra = set(doc) - set(required) - set(optional)
    if extra:
        raise DecodeError(path, f"unexpected field {sorted(extra)[0]!r}")
    return doc


def expect_int(doc: JSON, path: str, minimum: int | None = None) -> int:
    if not isinstance(doc, int) or isinstance(doc, bool):
        raise DecodeError(path, f"expected an integer, got {_kind(doc)}")
    if minimum is not None and doc < minimum:
        raise DecodeError(path, f"expected an integer >= {minimum}, got {doc}")
    return doc


def expect_str(doc: JSON, path: str) -> str:
    if not isinstance(doc, str):
        raise DecodeError(path, f"expected a string, got {_kind(doc)}")
    return doc


def expect_array(doc: JSON, path: str) -> list[Any]:
    if not isinstance(doc, list):
        raise DecodeError(path, f"expected an array, got {_kind(doc)}")
    return doc


def _kind(doc: JSON) -> str:
    if doc is None:
        return "null"
    if isinstance(doc, bool):
        return "a boolean"
    if isinstance(doc, int):
        return "an integer"
    if isinstance(doc, float):
        return "a number with a fraction"
    if isinstance(doc, str):
        return "a string"
    if isinstance(doc, list):
        return "an array"
    return "an object"


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# -- operations: attrs records <-> {"type": ..., fields} ----------------------------------------


@attrs.frozen
class OpCodec:
    """Client operations of a data type: attrs classes whose fields are plain values."""

    classes: tuple[type, ...]

    def encode(self, op: Any) -> JSON:
        fields = {f.name: plain_to_json(getattr(op, f.name)) for f in attrs.fields(type(op))}
        return {"type": snake_case(type(op).__name__), **fields}

    def schema(self, cls: type) -> dict[str, Any]:
        names = [f.name for f in attrs.fields(cls)]
        return {
            "type": "object",
            "properties": {"type": {"const": snake_case(cls.__name__)}, **{n: {} for n in names}},
            "required": sorted(["type", *names]),
            "additionalProperties": False,
        }

    def decode(self, doc: JSON, path: str) -> Any:
        if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
            raise DecodeError(path, "expected an object with a string field 'type'")
        by_name = {snake_case(c.__name__): c for c in self.classes}
        cls = by_name.get(doc["type"])
        if cls is None:
            known = ", ".join(sorted(by_name))
            raise DecodeError(f"{path}.type", f"unknown operation {doc['type']!r} (known: {known})")
        names = [f.name for f in attrs.fields(cls)]
        expect_object(doc, path, ["type", *names])
        return cls(**{name: plain_from_json(doc[name]) for name in names})


# -- state-based CRDT nodes -----------------------------------------------------------------------


@attrs.frozen
class CrdtCodec:
    """Encoding of one state-based CRDT's replica, events and effects."""

    protocol: str
    replica_type: crdt_impl.ReplicaType[Any]
    ops: OpCodec
    # the replica's bookkeeping (``Replica.local``): JSON -> value, raising DecodeError
    decode_local: Callable[[JSON, str], Any] = lambda doc, path: plain_from_json(doc)
    payload_to_json: Callable[[Any], JSON] = plain_to_json
    payload_from_json: Callable[[JSON], Any] = plain_from_json
    # JSON Schemas of a well-formed payload and of the bookkeeping (``{}``: any value)
    payload_schema: Mapping[str, Any] = attrs.Factory(dict)
    local_schema: Mapping[str, Any] = attrs.Factory(dict)

    def schemas(self) -> dict[str, Any]:
        """The state, event and effects schemas (see :mod:`schemas`)."""
        nat = {"type": "integer", "minimum": 0}
        payload = dict(self.payload_schema)
        state = {
            "type": "object",
            "properties": {
                "replica": nat,
                "replicas": {"type": "integer", "minimum": 1},
                "payload": payload,
                "local": dict(self.local_schema),
            },
            "required": ["local", "payload", "replica", "replicas"],
            "additionalProperties": False,
        }
        ops = [self.ops.schema(cls) for cls in self.ops.classes]
        event = {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"type": {"const": "client_update"}, "op": {"oneOf": ops}},
                    "required": ["op", "type"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {"type": {"const": "gossip_timer"}},
                    "required": ["type"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": "receive"},
                        # any payload: a malformed one is the node's to reject
                        "message": {
                            "type": "object",
                            "properties": {"sender": {}, "payload": {}},
                            "required": ["payload", "sender"],
                            "additionalProperties": False,
                        },
                    },
                    "required": ["message", "type"],
                    "additionalProperties": False,
                },
            ]
        }
        effects = {
            "type": "object",
            "properties": {
                "broadcasts": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"sender": nat, "payload": payload},
                        "required": ["payload", "sender"],
                        "additionalProperties": False,
                    },
                },
                "faults": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "sender": {},
                            "kind": {"enum": enum_values(crdt_impl.FaultKind)},
                        },
                        "required": ["kind", "sender"],
                        "additionalProperties": False,
                    },
                },
                "rejections": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"reason": {"enum": enum_values(crdt_impl.RejectReason)}},
                        "required": ["reason"],
                        "additionalProperties": False,
                    },
                },
            },
            "required": ["broadcasts", "faults", "rejections"],
            "additionalProperties": False,
        }
        return {"state": state, "event": event, "effects": effects}

    # states
    def encode_state(self, node: crdt_impl.Replica[Any]) -> JSON:
        return {
            "replica": node.replica_id,
            "replicas": node.n,
            "payload": self.payload_to_json(node.payload),
            "local": plain_to_json(node.local),
        }

    def decode_state(self, doc: JSON, path: str = "$") -> crdt_impl.Replica[Any]:
        expect_object(doc, path, ["replica", "replicas", "payload", "local"])
        n = expect_int(doc["replicas"], f"{path}.replicas", minimum=1)
        replica = expect_int(doc["replica"], f"{path}.replica", minimum=0)
        if replica >= n:
            raise DecodeError(f"{path}.replica", f"replica {replica} out of range for {n}")
        payload = self.payload_from_json(doc["payload"])
        problem = self.replica_type.validate_payload(payload, n)
        if problem is not None:
            raise DecodeError(f"{path}.payload", problem)
        local = self.decode_local(doc["local"], f"{path}.local")
        return crdt_impl.Replica(replica, n, payload, local)

    # events
    def encode_event(self, event: crdt_impl.Event) -> JSON:
        if isinstance(event, crdt_impl.ClientUpdate):
            return {"type": "client_update", "op": self.ops.encode(event.op)}
        if isinstance(event, crdt_impl.GossipTimer):
            return {"type": "gossip_timer"}
        message = event.message
        return {
            "type": "receive",
            "message": {
                "sender": plain_to_json(message.sender),
                "payload": self.payload_to_json_lenient(message.payload),
            },
        }

    def payload_to_json_lenient(self, payload: Any) -> JSON:
        try:
            return self.payload_to_json(payload)
        except (TypeError, ValueError, AttributeError):
            return plain_to_json(payload)

    def decode_event(self, doc: JSON, path: str = "$") -> crdt_impl.Event:
        if not isinstance(doc, dict):
            raise DecodeError(path, f"expected an object, got {_kind(doc)}")
        kind = doc.get("type")
        if kind == "client_update":
            expect_object(doc, path, ["type", "op"])
            return crdt_impl.ClientUpdate(self.ops.decode(doc["op"], f"{path}.op"))
        if kind == "gossip_timer":
            expect_object(doc, path, ["type"])
            return crdt_impl.GossipTimer()
        if kind == "receive":
            expect_object(doc, path, ["type", "message"])
            message = expect_object(doc["message"], f"{path}.message", ["sender", "payload"])
            # lenient on purpose: the node, not the decoder, rejects a malformed message
            return crdt_impl.Receive(
                crdt_impl.StateMessage(
                    plain_from_json(message["sender"]), self.payload_from_json(message["payload"])
                )
            )
        raise DecodeError(
            f"{path}.type",
            f"unknown event type {kind!r} (known: client_update, gossip_timer, receive)",
        )

    # effects
    def encode_effects(self, effects: crdt_impl.Effects) -> JSON:
        return {
            "broadcasts": [
                {"sender": m.sender, "payload": self.payload_to_json(m.payload)}
                for m in effects.broadcasts
            ],
            "faults": [
                {"sender": plain_to_json(f.sender), "kind": f.kind.value} for f in effects.faults
            ],
            "rejections": [{"reason": r.reason.value} for r in effects.rejections],
        }

    def handler(self, event: crdt_impl.Event) -> str:
        return {
            crdt_impl.ClientUpdate: "client_update",
            crdt_impl.GossipTimer: "gossip_timer",
            crdt_impl.Receive: "receive",
        }[type(event)]

    def step(
        self, node: crdt_impl.Replica[Any], event: crdt_impl.Event
    ) -> tuple[crdt_impl.Replica[Any], crdt_impl.Effects]:
        return crdt_impl.step(self.replica_type, node, event)


def enum_values(kind: type[enum.Enum]) -> list[str]:
    return [member.value for member in kind]


def object_schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """The JSON Schema of a closed object: these properties, all of them required unless
    ``required`` says which, and no others (the codecs' documents never carry extra fields)."""
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(properties) if required is None else required,
        "additionalProperties": False,
    }
