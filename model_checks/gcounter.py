"""G-Counter: configurations, adversary alphabet and mutants for the bounded checks."""

from __future__ import annotations

from typing import Any

from ..impl import gcounter as impl
from ..impl.state_based import StateMessage, new_replica
from ..spec import gcounter as spec
from .codec import CrdtCodec, OpCodec
from .crdt import CrdtSetup, build_model, itf_step_checker, node_event, step_checker, view
from .engine import Bounds, Model
from .registry_types import Config, Mutant, ProtocolEntry
from .vectors import OracleBinding

# -- Mutants: each pairs a broken spec join/update with the same bug in the impl ----------------


def _dense_to_sparse(dense: tuple[int, ...]) -> impl.Counts:
    return tuple((rid, c) for rid, c in enumerate(dense) if c)


def _sparse_binary(dense_op: Any) -> Any:
    """Lifts a join on dense vectors to the impl's sparse representation (for mutants)."""

    def merge(mine: impl.Counts, theirs: impl.Counts) -> impl.Counts:
        width = 1 + max((rid for rid, _ in (*mine, *theirs)), default=0)
        return _dense_to_sparse(dense_op(impl.to_spec(mine, width), impl.to_spec(theirs, width)))

    return merge


def _sum_join(x: spec.Payload, y: spec.Payload) -> spec.Payload:
    return tuple(a + b for a, b in zip(x, y, strict=True))


def _average_join(x: spec.Payload, y: spec.Payload) -> spec.Payload:
    return tuple(-((-a - b) // 2) for a, b in zip(x, y, strict=True))


def _adopt_larger_total(x: spec.Payload, y: spec.Payload) -> spec.Payload:
    return x if sum(x) >= sum(y) else y


def _min_join(x: spec.Payload, y: spec.Payload) -> spec.Payload:
    return tuple(min(a, b) for a, b in zip(x, y, strict=True))


def _increment_by_two(payload: spec.Payload, replica: int, op: spec.Increment) -> spec.Payload:
    return tuple(c + 2 if k == replica else c for k, c in enumerate(payload))


def _impl_increment_by_two(replica: Any, op: Any) -> Any:
    once = impl.increment(replica, op)
    return impl.increment(once, op)


def _impl_increment_neighbour(replica: Any, op: Any) -> Any:
    counts = dict(replica.payload)
    target = (replica.replica_id + 1) % replica.n
    counts[target] = counts.get(target, 0) + 1
    return type(replica)(
        replica.replica_id, replica.n, tuple(sorted(counts.items())), replica.local
    )


MUTANTS = (
    Mutant("sum-merge", "merge adds the vectors (the design notes' bug)", "join_idempotent"),
    Mutant(
        "average-merge",
        "merge takes the rounded-up mean of each entry",
        "join_associative",
        config="two-increments",
    ),
    Mutant(
        "adopt-larger-total", "merge keeps whichever vector has the larger sum", "join_commutative"
    ),
    Mutant("min-merge", "merge takes the pointwise minimum (a meet)", "join_upper_bound"),
    Mutant("increment-by-two", "increment adds two (spec and impl agree)", "correct_value"),
    Mutant("increment-neighbour", "impl increments the next replica's entry", "refinement"),
    Mutant(
        "skip-validation",
        "impl merges any payload without checking its shape",
        "faults_change_nothing",
    ),
)

MUTATIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "sum-merge": ({"join": _sum_join}, {"merge": _sparse_binary(_sum_join)}),
    "average-merge": ({"join": _average_join}, {"merge": _sparse_binary(_average_join)}),
    "adopt-larger-total": (
        {"join": _adopt_larger_total},
        {"merge": _sparse_binary(_adopt_larger_total)},
    ),
    "min-merge": ({"join": _min_join}, {"merge": _sparse_binary(_min_join)}),
    "increment-by-two": ({"update": _increment_by_two}, {"apply": _impl_increment_by_two}),
    "increment-neighbour": ({}, {"apply": _impl_increment_neighbour}),
    "skip-validation": ({}, {"validate_payload": lambda payload, n: None}),
}


def forged_messages(config: Config) -> tuple[StateMessage, ...]:
    n = config.params["replicas"]
    return (
        StateMessage(n + 4, ()),  # unknown sender
        StateMessage(0, ((0, -1),)),  # negative count
        StateMessage(1, ((0, 5), (0, 5))),  # duplicated entry: would raise a count if accepted
    )


SETUP = CrdtSetup(
    crdt=spec.GCOUNTER,
    replica_type=impl.GCOUNTER_REPLICA,
    to_spec=impl.to_spec,
    ops=lambda config, replica, k: (spec.Increment(),),
    forged=forged_messages,
    mutations=MUTATIONS,
)

CONFIGS = (
    Config(
        "small",
        "3 replicas, 1 increment and 1 snapshot each, every delivery order and duplication",
        {"replicas": 3, "updates": 1, "sends": 1},
        expected_distinct_states=7349,
    ),
    Config(
        "tiny",
        "2 replicas, 1 increment and 1 snapshot each",
        {"replicas": 2, "updates": 1, "sends": 1},
        expected_distinct_states=72,
    ),
    Config(
        "two-increments",
        "2 replicas, 2 increments and 1 snapshot each",
        {"replicas": 2, "updates": 2, "sends": 1},
        expected_distinct_states=838,
    ),
    Config(
        "two-rounds",
        "3 replicas, 1 increment and 2 snapshots each (about 115,000 states)",
        {"replicas": 3, "updates": 1, "sends": 2},
        expected_distinct_states=115556,
    ),
    Config(
        "deep",
        "3 replicas, 2 increments and 1 snapshot each; too large to exhaust, cut at 60 s",
        {"replicas": 3, "updates": 2, "sends": 1},
        Bounds(max_seconds=60),
    ),
)


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    return build_model(SETUP, config, mutant)


PROTOCOL = ProtocolEntry(
    name="gcounter",
    summary="grow-only counter, state-based (Shapiro et al. 2011, Spec. 6)",
    source="Shapiro, Preguica, Baquero, Zawirski, INRIA RR-7506 (2011), section 3.1.1",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)

CODEC = CrdtCodec(
    "gcounter",
    impl.GCOUNTER_REPLICA,
    OpCodec((spec.Increment,)),
    # sparse counts: [replica, count] pairs sorted by replica, zero counts omitted
    payload_schema={
        "type": "array",
        "items": {
            "type": "array",
            "prefixItems": [
                {"type": "integer", "minimum": 0},
                {"type": "integer", "minimum": 1},
            ],
            "minItems": 2,
            "maxItems": 2,
        },
    },
    local_schema={"type": "null"},
)

ORACLE = OracleBinding(
    codec=CODEC,
    configs=("small", "two-increments"),
    node_event=node_event,
    nodes=lambda state: state.nodes,
    initial_node=lambda i, n: new_replica(impl.GCOUNTER_REPLICA, i, n),
    step_checker=step_checker(SETUP, CODEC),
    itf_checker=itf_step_checker(SETUP, CODEC),
)
