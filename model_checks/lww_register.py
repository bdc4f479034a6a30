"""LWW-Register: configurations, adversary alphabet and mutants for the bounded checks.

Replica i may write any value of ``values[i]`` with any timestamp of ``timestamps``. Giving each
replica values of its own makes every write's value tell which write won, so a replica that
keeps the wrong write shows a wrong value. With two timestamps and several replicas, two writes
with *equal* timestamps from different replicas are reachable, which is where a register without
a tie-break diverges (the ``tie_broken`` reachable makes sure the model gets there).
"""

from __future__ import annotations

from itertools import product
from typing import Any

import attrs

from ..impl import lww_register as impl
from ..impl.state_based import StateMessage, new_replica
from ..spec import lww_register as spec
from ..spec.properties import Reachable
from ..spec.state_based import SystemState
from .codec import CrdtCodec, OpCodec
from .crdt import CrdtSetup, build_model, itf_step_checker, node_event, step_checker, view
from .engine import Model
from .registry_types import Config, Mutant, ProtocolEntry
from .vectors import OracleBinding

# -- Mutants: each pairs a broken spec join/update with the same bug in the impl ----------------


def _timestamp_only_join(x: spec.Payload, y: spec.Payload) -> spec.Payload:
    # the design notes' merge: compare timestamps only, keep the local write on a tie
    return y if y.timestamp > x.timestamp else x


def _impl_timestamp_only_merge(mine: impl.Register, theirs: impl.Register) -> impl.Register:
    return theirs if theirs[0] > mine[0] else mine


def _keep_incoming_join(x: spec.Payload, y: spec.Payload) -> spec.Payload:
    return y


def _impl_keep_incoming_merge(mine: impl.Register, theirs: impl.Register) -> impl.Register:
    return theirs


def _any_write_enabled(payload: spec.Payload, replica: int, op: spec.Assign) -> bool:
    # the precondition without its last clause: a write need not win at its source
    return isinstance(op, spec.Assign) and op.timestamp >= 0 and replica >= 0


def _impl_assign_unchecked(replica: Any, op: Any) -> Any:
    # the impl's type checks, without the STALE_TIMESTAMP one
    if not (isinstance(op, spec.Assign) and impl.is_value(op.value) and op.timestamp >= 0):
        return impl.assign(replica, op)
    return attrs.evolve(replica, payload=(op.timestamp, replica.replica_id, op.value))


MUTANTS = (
    Mutant(
        "no-tiebreak",
        "merge compares timestamps only and keeps the local write on a tie (design notes)",
        "convergence",
    ),
    Mutant("keep-incoming", "merge always adopts the incoming register", "join_commutative"),
    Mutant(
        "stale-overwrite",
        "a write need not exceed the register's (timestamp, replica): older writes overwrite",
        "correct_value",
    ),
    Mutant(
        "impl-accepts-stale",
        "impl accepts a write that does not exceed the register's (timestamp, replica)",
        "refinement",
    ),
    Mutant(
        "skip-validation",
        "impl merges any payload without checking its shape",
        "faults_change_nothing",
    ),
)

MUTATIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "no-tiebreak": ({"join": _timestamp_only_join}, {"merge": _impl_timestamp_only_merge}),
    "keep-incoming": ({"join": _keep_incoming_join}, {"merge": _impl_keep_incoming_merge}),
    "stale-overwrite": (
        {"update_enabled": _any_write_enabled},
        {"apply": _impl_assign_unchecked},
    ),
    "impl-accepts-stale": ({}, {"apply": _impl_assign_unchecked}),
    "skip-validation": ({}, {"validate_payload": lambda payload, n: None}),
}


def tie_broken(state: SystemState) -> bool:
    """Sometimes: a replica has seen two writes with equal timestamps from different replicas."""
    for seen in state.seen:
        records = [state.updates[u] for u in sorted(seen)]
        for a in records:
            for b in records:
                if a.replica < b.replica and a.op.timestamp == b.op.timestamp:
                    return True
    return False


# for a config that names no timestamps or values (the Hypothesis machine's, which only sets
# replicas, updates and sends): three timestamps, and value "r<i>" for replica i
DEFAULT_TIMESTAMPS = (1, 2, 3)


def assignments(config: Config, replica: int, k: int) -> tuple[spec.Assign, ...]:
    """The writes replica ``replica`` may issue as its k-th: its values, every timestamp."""
    params = config.params
    timestamps = params.get("timestamps", DEFAULT_TIMESTAMPS)
    values = params["values"][replica] if "values" in params else (f"r{replica}",)
    return tuple(spec.Assign(v, t) for t, v in product(timestamps, values))


def forged_messages(config: Config) -> tuple[StateMessage, ...]:
    n = config.params["replicas"]
    return (
        StateMessage(n + 4, impl.EMPTY),  # unknown sender
        StateMessage(0, (1, n, "a")),  # a write attributed to no replica of the configuration
    )


SETUP = CrdtSetup(
    crdt=spec.LWW_REGISTER,
    replica_type=impl.LWW_REGISTER_REPLICA,
    to_spec=impl.to_spec,
    ops=assignments,
    forged=forged_messages,
    extra_reachables=(
        Reachable(
            "tie_broken",
            "a replica sees two writes with equal timestamps from different replicas",
            tie_broken,
        ),
    ),
    mutations=MUTATIONS,
)

CONFIGS = (
    Config(
        "small",
        "3 replicas, 1 write each (replica i writes value 'abc'[i], timestamp 1|2), 1 snapshot "
        "each, all delivery orders",
        {
            "replicas": 3,
            "updates": 1,
            "sends": 1,
            "values": (("a",), ("b",), ("c",)),
            "timestamps": (1, 2),
        },
        expected_distinct_states=40642,
    ),
    Config(
        "tiny",
        "2 replicas, 1 write (value a|b, timestamp 1|2) and 1 snapshot each",
        {
            "replicas": 2,
            "updates": 1,
            "sends": 1,
            "values": (("a", "b"), ("a", "b")),
            "timestamps": (1, 2),
        },
        expected_distinct_states=796,
    ),
)


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    return build_model(SETUP, config, mutant)


PROTOCOL = ProtocolEntry(
    name="lww-register",
    summary="last-writer-wins register, state-based (Shapiro et al. 2011, Spec. 8)",
    source="Shapiro, Preguica, Baquero, Zawirski, INRIA RR-7506 (2011), section 3.2.1",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)

CODEC = CrdtCodec(
    "lww-register",
    impl.LWW_REGISTER_REPLICA,
    OpCodec((spec.Assign,)),
    # [timestamp, replica, value]; the empty register is exactly [0, -1, null]
    payload_schema={
        "oneOf": [
            {"const": [0, spec.BOTTOM_REPLICA, None]},
            {
                "type": "array",
                "prefixItems": [
                    {"type": "integer", "minimum": 0},
                    {"type": "integer", "minimum": 0},
                    {"type": ["string", "integer"]},
                ],
                "minItems": 3,
                "maxItems": 3,
            },
        ]
    },
    local_schema={"type": "null"},
)

ORACLE = OracleBinding(
    codec=CODEC,
    configs=("small", "tiny"),
    node_event=node_event,
    nodes=lambda state: state.nodes,
    initial_node=lambda i, n: new_replica(impl.LWW_REGISTER_REPLICA, i, n),
    step_checker=step_checker(SETUP, CODEC),
    itf_checker=itf_step_checker(SETUP, CODEC),
)
