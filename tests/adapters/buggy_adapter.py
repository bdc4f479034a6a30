"""Buggy adapter: the reference adapter with a seeded bug the runner must catch and explain.

Run as ``python tests/adapters/buggy_adapter.py [BUG]``:

``sum-merge`` (default)
    merging a received G-Counter adds the counts instead of taking their maximum (the design
    notes' bug, also the model's ``sum-merge`` mutant): a state diff on ``$.state.payload``;
``drop-faults``
    the node never reports faults on bad messages (any protocol): ``$.effects.faults``.
"""

from __future__ import annotations

import sys
from typing import Any

import attrs
from reference_adapter import answer, serve


def sum_merge(mine: Any, theirs: Any) -> Any:
    counts = dict(mine)
    for rid, count in theirs:
        counts[rid] = counts.get(rid, 0) + count
    return tuple(sorted(counts.items()))


def answer_sum_merge(codec: Any, state: Any, event: Any) -> tuple[Any, Any]:
    buggy = attrs.evolve(codec, replica_type=attrs.evolve(codec.replica_type, merge=sum_merge))
    return answer(buggy, state, event)


def answer_drop_faults(codec: Any, state: Any, event: Any) -> tuple[Any, Any]:
    post, effects = answer(codec, state, event)
    return post, {**effects, "faults": []}


BUGS = {"sum-merge": answer_sum_merge, "drop-faults": answer_drop_faults}


if __name__ == "__main__":
    bug = sys.argv[1] if len(sys.argv) > 1 else "sum-merge"
    sys.exit(serve(BUGS[bug]))
