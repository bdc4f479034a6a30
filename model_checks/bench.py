"""Benchmarks: model-checking rate per protocol, and trace-validation throughput.

Speed is measured here, never asserted in tests. Figures depend on the machine; the README
records what was seen on the reference machine (2 cores).
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..impl import gcounter as gcounter_impl
from ..impl.state_based import ClientUpdate, GossipTimer, Receive
from ..spec.gcounter import Increment
from .codec import FORMAT, dumps_line
from .gcounter import CODEC


def write_gcounter_trace(path: Path, events: int, replicas: int = 3, seed: int = 1) -> None:
    """A valid G-Counter trace of ``events`` steps: increments, gossip and deliveries."""
    rng = random.Random(seed)
    nodes = [gcounter_impl.new(i, replicas) for i in range(replicas)]
    latest: list[Any] = [None] * replicas  # the last state message each replica sent
    with path.open("w", encoding="utf-8") as out:
        header = {"format": FORMAT, "protocol": "gcounter", "nodes": replicas}
        out.write(dumps_line(header) + "\n")
        for _ in range(events):
            i = rng.randrange(replicas)
            roll = rng.random()
            if roll < 0.3:
                event: Any = ClientUpdate(Increment())
            elif roll < 0.5 or not any(latest):
                event = GossipTimer()
            else:
                event = Receive(rng.choice([m for m in latest if m is not None]))
            nodes[i], effects = gcounter_impl.step(nodes[i], event)
            if effects.broadcasts:
                latest[i] = effects.broadcasts[0]
            line = {
                "node": i,
                "event": CODEC.encode_event(event),
                "state": CODEC.encode_state(nodes[i]),
                "effects": CODEC.encode_effects(effects),
            }
            out.write(dumps_line(line) + "\n")


_CHILD = """
import sys, time
from mnemosyne_consensus.model_checks.gcounter import ORACLE
from mnemosyne_consensus.model_checks.validate import validate_lines
started = time.perf_counter()
with open(sys.argv[1], "rb") as trace:
    result = validate_lines("gcounter", trace, ORACLE.step_checker)
seconds = time.perf_counter() - started
assert result.failure is None, result.failure
# VmHWM: this process's own peak resident memory (ru_maxrss would include the parent's pages
# at fork, which exec does not reset)
with open("/proc/self/status") as status:
    peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(result.steps, seconds, peak_kib)
"""


def bench_validation(events: int) -> dict[str, Any]:
    """Validation throughput on a G-Counter trace, and peak memory at two trace lengths.

    Each validation runs in a fresh interpreter so that its peak resident memory is its own.
    """
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, length in (("short", max(1, events // 10)), ("full", events)):
            path = Path(tmp) / f"trace-{length}.jsonl"
            started = time.perf_counter()
            write_gcounter_trace(path, length)
            written = time.perf_counter() - started
            done = subprocess.run(
                [sys.executable, "-c", _CHILD, str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            steps, seconds, max_rss_kib = done.stdout.split()
            figures[label] = {
                "events": int(steps),
                "seconds": round(float(seconds), 3),
                "events_per_second": round(int(steps) / float(seconds)),
                "peak_rss_mib": round(int(max_rss_kib) / 1024, 1),
                "trace_mib": round(path.stat().st_size / 2**20, 1),
                "generation_seconds": round(written, 1),
            }
    return figures


# -- Protocol figures ----------------------------------------------------------------------------
#
# Beside the model-checking rate, some protocols have figures of their own that the issues ask
# the benchmark to print (proofs verified per second, a large sync, simulated epochs…). Each is a
# function of the time budget in seconds returning named figures (units in the names); modules
# are imported only when their figure is asked for.


def _threshold_crypto(seconds: float) -> dict[str, Any]:
    from .threshold_crypto import bench_threshold

    return bench_threshold(min(seconds, 5.0))


def _avalanche(seconds: float) -> dict[str, Any]:
    from .avalanche import bench_avalanche

    return bench_avalanche(nodes=200, seconds=10.0)  # 10 simulated seconds, a few real ones


def _merkle_crdt(seconds: float) -> dict[str, Any]:
    from .merkle_crdt import bench_merkle_crdt

    return bench_merkle_crdt(min(seconds, 2.0))


def _snowball(seconds: float) -> dict[str, Any]:
    from .snow_sim import bench_snowball

    return bench_snowball(nodes=2000, k=20, beta=20)


def _merkle_tree(seconds: float) -> dict[str, Any]:
    from .merkle_tree import bench_merkle_tree

    return bench_merkle_tree(min(seconds, 2.0))


def _merkle_sync(seconds: float) -> dict[str, Any]:
    from .merkle_sync import bench_merkle_sync

    # the figure: 1,000,000 keys, 100 differing (about a minute and 1.4 GB here)
    return bench_merkle_sync(keys=1_000_000, differing=100)


def _rbc(seconds: float) -> dict[str, Any]:
    from .rbc import bench_rbc

    return bench_rbc()


def _aba(seconds: float) -> dict[str, Any]:
    from .aba import bench_aba_round_game

    return bench_aba_round_game()  # the one-round adversary game, with and without CONF


def _honeybadger(seconds: float) -> dict[str, Any]:
    from .honeybadger import bench_honeybadger

    return {f"n{n}": bench_honeybadger(nodes=n, batch=100) for n in (4, 16)}


FIGURES: dict[str, Callable[[float], dict[str, Any]]] = {
    "snowball": _snowball,
    "avalanche": _avalanche,
    "merkle-tree": _merkle_tree,
    "merkle-sync": _merkle_sync,
    "merkle-crdt": _merkle_crdt,
    "rbc": _rbc,
    "aba": _aba,
    "honeybadger": _honeybadger,
    "threshold-crypto": _threshold_crypto,
}


def flatten(figures: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested figures as ``a.b.c = value`` rows, for printing."""
    rows: list[tuple[str, Any]] = []
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(flatten(value, name + "."))
        else:
            rows.append((name, value))
    return rows
