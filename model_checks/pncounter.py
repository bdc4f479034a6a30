"""PN-Counter: configurations, adversary alphabet and mutants for the bounded checks."""

from __future__ import annotations

from typing import Any

from ..impl import pncounter as impl
from ..impl.state_based import StateMessage, new_replica
from ..spec import pncounter as spec
from .codec import CrdtCodec, OpCodec
from .crdt import CrdtSetup, build_model, itf_step_checker, node_event, step_checker, view
from .engine import Model
from .registry_types import Config, Mutant, ProtocolEntry
from .vectors import OracleBinding

# -- Mutants: each pairs a broken spec join/update with the same bug in the impl ----------------


def _dense_to_sparse(dense: spec.Payload) -> impl.Counts:
    p, n = dense
    return tuple((rid, a, b) for rid, (a, b) in enumerate(zip(p, n, strict=True)) if a or b)


def _sparse_binary(dense_op: Any) -> Any:
    """Lifts a join on the spec's dense ``(P, N)`` to the impl's sparse triples (for mutants)."""

    def merge(mine: impl.Counts, theirs: impl.Counts) -> impl.Counts:
        width = 1 + max((entry[0] for entry in (*mine, *theirs)), default=0)
        return _dense_to_sparse(dense_op(impl.to_spec(mine, width), impl.to_spec(theirs, width)))

    return merge


def _decrement_lowers_p(payload: spec.Payload, replica: int, op: spec.Op) -> spec.Payload:
    # the design notes' single signed vector, kept in P: a decrement moves the payload down
    if isinstance(op, spec.Increment):
        return spec.increment(payload, replica)
    p, n = payload
    return (tuple(c - 1 if k == replica else c for k, c in enumerate(p)), n)


def _impl_decrement_lowers_p(replica: Any, op: Any) -> Any:
    if not isinstance(op, spec.Decrement):
        return impl.apply(replica, op)
    entries = {rid: (p, n) for rid, p, n in replica.payload}
    p, n = entries.get(replica.replica_id, (0, 0))
    entries[replica.replica_id] = (p - 1, n)
    counts = tuple((rid, a, b) for rid, (a, b) in sorted(entries.items()) if a or b)
    return type(replica)(replica.replica_id, replica.n, counts, replica.local)


def _impl_decrement_as_increment(replica: Any, op: Any) -> Any:
    if isinstance(op, spec.Decrement):
        return impl.apply(replica, spec.Increment())
    return impl.apply(replica, op)


def _sum_join(x: spec.Payload, y: spec.Payload) -> spec.Payload:
    def add(a: spec.Vector, b: spec.Vector) -> spec.Vector:
        return tuple(i + j for i, j in zip(a, b, strict=True))

    return (add(x[0], y[0]), add(x[1], y[1]))


def _single_vector_join(x: spec.Payload, y: spec.Payload) -> spec.Payload:
    # the design notes' single signed vector, each replica's entry being its net count
    # P[k] - N[k], merged with max: an entry that a decrement lowered loses to the older one
    chosen = [
        (yp, yn) if yp - yn > xp - xn else (xp, xn)
        for xp, xn, yp, yn in zip(x[0], x[1], y[0], y[1], strict=True)
    ]
    return (tuple(p for p, _ in chosen), tuple(n for _, n in chosen))


def _merge_drops_n_join(x: spec.Payload, y: spec.Payload) -> spec.Payload:
    # merges P and forgets to merge N: the local decrements are all a replica ever knows
    return (tuple(max(a, b) for a, b in zip(x[0], y[0], strict=True)), x[1])


MUTANTS = (
    Mutant(
        "decrement-lowers-p",
        "decrement does P[i] -= 1 (the design notes' single signed vector)",
        "updates_inflate",
    ),
    Mutant("sum-merge", "merge adds the vectors instead of taking the maximum", "join_idempotent"),
    Mutant(
        "single-vector",
        "merge keeps each replica's entry with the larger net count P[i] - N[i]",
        "correct_value",
    ),
    Mutant("merge-drops-n", "merge takes the max of P and keeps the local N", "convergence"),
    Mutant("decrement-as-increment", "impl applies a decrement as an increment", "refinement"),
    Mutant(
        "skip-validation",
        "impl merges any payload without checking its shape",
        "faults_change_nothing",
    ),
)

MUTATIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "decrement-lowers-p": ({"update": _decrement_lowers_p}, {"apply": _impl_decrement_lowers_p}),
    "sum-merge": ({"join": _sum_join}, {"merge": _sparse_binary(_sum_join)}),
    "single-vector": (
        {"join": _single_vector_join},
        {"merge": _sparse_binary(_single_vector_join)},
    ),
    "merge-drops-n": (
        {"join": _merge_drops_n_join},
        {"merge": _sparse_binary(_merge_drops_n_join)},
    ),
    "decrement-as-increment": ({}, {"apply": _impl_decrement_as_increment}),
    "skip-validation": ({}, {"validate_payload": lambda payload, n: None}),
}


def forged_messages(config: Config) -> tuple[StateMessage, ...]:
    n = config.params["replicas"]
    return (
        StateMessage(n + 4, ()),  # unknown sender
        StateMessage(0, ((0, 1, -1),)),  # negative decrement count
        StateMessage(1, ((0, 5, 0), (0, 5, 0))),  # duplicated entry: would raise P if accepted
    )


SETUP = CrdtSetup(
    crdt=spec.PNCOUNTER,
    replica_type=impl.PNCOUNTER_REPLICA,
    to_spec=impl.to_spec,
    ops=lambda config, replica, k: (spec.Increment(), spec.Decrement()),
    forged=forged_messages,
    mutations=MUTATIONS,
)

CONFIGS = (
    Config(
        "small",
        "3 replicas, 1 increment or decrement and 1 snapshot each, all delivery orders",
        {"replicas": 3, "updates": 1, "sends": 1},
        expected_distinct_states=54086,
    ),
    Config(
        "tiny",
        "2 replicas, 1 increment or decrement and 1 snapshot each",
        {"replicas": 2, "updates": 1, "sends": 1},
        expected_distinct_states=240,
    ),
)


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    return build_model(SETUP, config, mutant)


PROTOCOL = ProtocolEntry(
    name="pncounter",
    summary="increment/decrement counter, state-based (Shapiro et al. 2011, Spec. 7)",
    source="Shapiro, Preguica, Baquero, Zawirski, INRIA RR-7506 (2011), section 3.1.2",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)

CODEC = CrdtCodec(
    "pncounter",
    impl.PNCOUNTER_REPLICA,
    OpCodec((spec.Increment, spec.Decrement)),
    # sparse counts: [replica, increments, decrements] triples sorted by replica, all-zero omitted
    payload_schema={
        "type": "array",
        "items": {
            "type": "array",
            "prefixItems": [
                {"type": "integer", "minimum": 0},
                {"type": "integer", "minimum": 0},
                {"type": "integer", "minimum": 0},
            ],
            "minItems": 3,
            "maxItems": 3,
        },
    },
    local_schema={"type": "null"},
)

ORACLE = OracleBinding(
    codec=CODEC,
    configs=("small", "tiny"),
    node_event=node_event,
    nodes=lambda state: state.nodes,
    initial_node=lambda i, n: new_replica(impl.PNCOUNTER_REPLICA, i, n),
    step_checker=step_checker(SETUP, CODEC),
    itf_checker=itf_step_checker(SETUP, CODEC),
)
