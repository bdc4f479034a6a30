"""Conformance vectors and whole-run traces, generated from the model runs.

Layout (stable; implementations script against it)::

    OUT_DIR/<protocol>/<handler>/<case>/meta.json     what the case is, and the format version
                                        pre.json      the node state before the event
                                        event.json    the event handed to the node
                                        post.json     the node state the spec requires after it
                                        effects.json  the effects the node must emit
    OUT_DIR/<protocol>/traces/<name>.jsonl            whole runs, in the trace format of
                                                      ``mnemosyne-consensus validate``

Cases come from the bounded model runs: a breadth-first walk of the protocol's vector config
visits reachable deployment states, and every enabled action there is a (node, event) step; each
distinct (pre, event) pair becomes a case, in breadth-first order, up to a per-handler cap.
Negative cases are the steps in which the node must reject its input (a typed fault or
rejection, state unchanged): forged messages of the adversary alphabet and invalid client
requests. Generation is deterministic: the same version gives byte-identical trees.
"""

from __future__ import annotations

import random
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from .codec import FORMAT, dumps, dumps_line
from .registry_types import ProtocolEntry


@attrs.frozen
class OracleBinding:
    """How a protocol's model and codec meet: the oracle's view of one protocol."""

    codec: Any  # encode_state, decode_state, encode_event, decode_event, encode_effects, ...
    # the model configs that vectors come from (traces come from the first)
    configs: tuple[str, ...]
    # which node a model action steps, and the impl event it hands that node
    node_event: Callable[[Any], tuple[int, Any]]
    nodes: Callable[[Any], tuple[Any, ...]]
    # an impl node's initial state for (index, number of nodes)
    initial_node: Callable[[int, int], Any]
    # validates one node's step of a recorded trace against the spec (validate.StepChecker)
    step_checker: Any = None
    # validates a step of an ITF trace of a whole deployment (None: ITF not supported)
    itf_checker: Any = None
    positives_per_handler: int = 24
    negatives_per_reason: int = 4
    # a finer kind of case than its outcome, for actions whose outcome alone hides how they
    # differ (e.g. the ways a NEW-VIEW can be doctored, all refused as malformed): each kind
    # gets its own quota; "" for none
    case_kind: Callable[[Any], str] = attrs.field(default=lambda action: "")


@attrs.frozen
class Case:
    handler: str
    name: str
    meta: dict[str, Any]
    pre: Any
    event: Any
    post: Any
    effects: Any


def _outcome(effects_doc: dict[str, Any]) -> str:
    if effects_doc.get("faults"):
        return "fault:" + ",".join(f["kind"] for f in effects_doc["faults"])
    if effects_doc.get("rejections"):
        return "reject:" + ",".join(r["reason"] for r in effects_doc["rejections"])
    return "accept"


def generate_cases(
    entry: ProtocolEntry, binding: OracleBinding, max_states: int = 20_000
) -> list[Case]:
    """Walks the model breadth-first and collects the cases, deterministically."""
    seen_steps: set[tuple[str, str]] = set()
    per_bucket: dict[str, int] = {}
    cases: list[Case] = []
    for config in binding.configs:
        _collect(entry, binding, config, max_states, seen_steps, per_bucket, cases)
    return cases


def _collect(
    entry: ProtocolEntry,
    binding: OracleBinding,
    config: str,
    max_states: int,
    seen_steps: set[tuple[str, str]],
    per_bucket: dict[str, int],
    cases: list[Case],
) -> None:
    codec = binding.codec
    model = entry.build(entry.config(config), None)
    visited: set[Any] = set()
    queue: deque[Any] = deque()
    for state in model.initial_states():
        if state not in visited:
            visited.add(state)
            queue.append(state)
    # Stop once the walk has gone ``quiet_after`` states without finding a new case: the rest
    # of the state space only repeats steps already collected (deterministic either way).
    quiet_after, quiet = 2_000, 0
    while queue and len(visited) <= max_states and quiet < quiet_after:
        state = queue.popleft()
        before = len(cases)
        nodes = binding.nodes(state)
        for action in model.actions(state):
            index, event = binding.node_event(action)
            pre = codec.encode_state(nodes[index])
            event_doc = codec.encode_event(event)
            key = (dumps_line(pre), dumps_line(event_doc))
            if key not in seen_steps:
                seen_steps.add(key)
                post_node, effects = codec.step(nodes[index], event)
                effects_doc = codec.encode_effects(effects)
                outcome = _outcome(effects_doc)
                handler = codec.handler(event)
                bucket = f"{config}/{handler}/{outcome}/{binding.case_kind(action)}"
                cap = (
                    binding.positives_per_handler
                    if outcome == "accept"
                    else binding.negatives_per_reason
                )
                if per_bucket.get(bucket, 0) < cap:
                    per_bucket[bucket] = per_bucket.get(bucket, 0) + 1
                    number = sum(1 for c in cases if c.handler == handler)
                    name = f"{number:04d}-{outcome.replace(':', '-').replace(',', '-')}"
                    meta = {
                        "format": FORMAT,
                        "protocol": entry.name,
                        "handler": handler,
                        "case": name,
                        "negative": outcome != "accept",
                        "expected": outcome,
                        "source": f"bounded model run of config {config!r}: "
                        f"node {index} in a reachable state, action: {action}",
                    }
                    cases.append(
                        Case(
                            handler,
                            name,
                            meta,
                            pre,
                            event_doc,
                            codec.encode_state(post_node),
                            effects_doc,
                        )
                    )
            successor = model.next_state(state, action)
            if successor not in visited:
                visited.add(successor)
                queue.append(successor)
        quiet = 0 if len(cases) > before else quiet + 1


def random_runs(
    entry: ProtocolEntry, binding: OracleBinding, runs: int, steps: int, seed: int
) -> Iterator[list[dict[str, Any]]]:
    """Seeded random walks of the model, as trace documents (header line, then one per step)."""
    codec = binding.codec
    model = entry.build(entry.config(binding.configs[0]), None)
    rng = random.Random(seed)
    for _ in range(runs):
        state = next(iter(model.initial_states()))
        nodes = binding.nodes(state)
        lines: list[dict[str, Any]] = [
            {
                "format": FORMAT,
                "protocol": entry.name,
                "nodes": len(nodes),
                "initial": [codec.encode_state(node) for node in nodes],
            }
        ]
        for _ in range(steps):
            actions = list(model.actions(state))
            if not actions:
                break
            # Mostly take actions that change the deployment, so that a trace is not a long run
            # of refused forged messages; one step in ten is any action, refusals included.
            moving = [a for a in actions if model.next_state(state, a) != state]
            action = rng.choice(moving if moving and rng.random() < 0.9 else actions)
            index, event = binding.node_event(action)
            post, effects = codec.step(binding.nodes(state)[index], event)
            lines.append(
                {
                    "node": index,
                    "event": codec.encode_event(event),
                    "state": codec.encode_state(post),
                    "effects": codec.encode_effects(effects),
                }
            )
            state = model.next_state(state, action)
        yield lines


def write_vectors(
    out_dir: Path, protocols: list[tuple[ProtocolEntry, OracleBinding]], traces: int = 3
) -> dict[str, int]:
    """Writes the vector tree; returns the number of cases per protocol."""
    counts: dict[str, int] = {}
    for entry, binding in protocols:
        root = out_dir / entry.name
        if root.exists():
            shutil.rmtree(root)
        cases = generate_cases(entry, binding)
        for case in cases:
            folder = root / case.handler / case.name
            folder.mkdir(parents=True)
            for part in ("meta", "pre", "event", "post", "effects"):
                (folder / f"{part}.json").write_text(dumps(getattr(case, part)))
        trace_dir = root / "traces"
        trace_dir.mkdir(parents=True, exist_ok=True)
        for number, lines in enumerate(
            random_runs(entry, binding, traces, 40, seed=number_seed(entry.name))
        ):
            text = "".join(dumps_line(line) + "\n" for line in lines)
            (trace_dir / f"walk-{number}.jsonl").write_text(text)
        counts[entry.name] = len(cases)
    return counts


def number_seed(name: str) -> int:
    """A seed derived from the protocol name without Python's randomized string hash."""
    return sum((i + 1) * ord(c) for i, c in enumerate(name))


def read_case(folder: Path) -> dict[str, Any]:
    import json

    return {
        part: json.loads((folder / f"{part}.json").read_text())
        for part in ("meta", "pre", "event", "post", "effects")
    }


def iter_case_folders(protocol_dir: Path) -> Iterator[Path]:
    """Case folders of one protocol, in a stable order (handler, then case name)."""
    for handler in sorted(p for p in protocol_dir.iterdir() if p.is_dir() and p.name != "traces"):
        yield from sorted(p for p in handler.iterdir() if p.is_dir())
