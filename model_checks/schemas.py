"""JSON Schemas of the oracle's documents, shipped in ``schemas/`` inside the package.

The files are generated from the codecs (so they cannot drift from the encoding; a test
compares the shipped files with a fresh generation). Regenerate after changing an encoding::

    python -m mnemosyne_consensus.model_checks.schemas --write

Layout: ``schemas/<protocol>/{state,event,effects}.json`` per protocol, and the shared
``schemas/{meta,trace-header,trace-step}.json`` (plus ``itf.json`` for counterexample traces).
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Any

from .codec import FORMAT, dumps, object_schema

DRAFT = "https://json-schema.org/draft/2020-12/schema"
NAT = {"type": "integer", "minimum": 0}


def _schema(title: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": DRAFT, "title": title, **body}


def shared_schemas() -> dict[str, dict[str, Any]]:
    return {
        "meta": _schema(
            "meta.json of a conformance vector",
            object_schema(
                {
                    "format": {"const": FORMAT},
                    "protocol": {"type": "string"},
                    "handler": {"type": "string"},
                    "case": {"type": "string"},
                    "negative": {"type": "boolean"},
                    "expected": {"type": "string", "pattern": "^(accept|fault:.+|reject:.+)$"},
                    "source": {"type": "string"},
                }
            ),
        ),
        "trace-header": _schema(
            "first line of a JSON-lines trace",
            object_schema(
                {
                    "format": {"const": FORMAT},
                    "protocol": {"type": "string"},
                    "nodes": {"type": "integer", "minimum": 1},
                    "initial": {"type": "array"},
                },
                required=["format", "nodes", "protocol"],
            ),
        ),
        "trace-step": _schema(
            "one observed step of a JSON-lines trace",
            object_schema(
                {
                    "node": NAT,
                    "event": {"type": "object"},
                    "state": {"type": "object"},
                    "effects": {"type": "object"},
                },
                required=["event", "node", "state"],
            ),
        ),
    }


def protocol_schemas(codec: Any) -> dict[str, dict[str, Any]]:
    """The state, event and effects schemas of one protocol, from its codec."""
    return {
        name: _schema(f"{codec.protocol} {name}", body) for name, body in codec.schemas().items()
    }


def all_schemas() -> dict[str, dict[str, Any]]:
    """Relative path (without .json) -> schema, for every shipped schema but ITF's."""
    from .oracle import ORACLES

    schemas = dict(shared_schemas())
    for name, (_, binding) in ORACLES.items():
        for document, schema in protocol_schemas(binding.codec).items():
            schemas[f"{name}/{document}"] = schema
    return schemas


def shipped(relative: str) -> dict[str, Any]:
    """A schema as shipped in the package."""
    import json

    text = resources.files(__package__).joinpath(f"schemas/{relative}.json").read_text()
    return json.loads(text)


def write(directory: Path) -> None:
    for relative, schema in all_schemas().items():
        path = directory / f"{relative}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(schema))


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m mnemosyne_consensus.model_checks.schemas --write")
    write(Path(__file__).resolve().parent / "schemas")
