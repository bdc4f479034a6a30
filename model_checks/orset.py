"""OR-Set: configurations, adversary alphabet and mutants for the bounded checks.

Client operations: replica i's k-th update is ``add(e)`` with the tag ``(i, k)`` or ``remove(e)``,
for each element ``e`` of the configuration's alphabet (a remove of an absent element is rejected
by the replica: a stutter). Tags are therefore fresh by construction, and the model still runs
the replica's freshness checks on every add.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ..impl import orset as impl
from ..impl.state_based import Rejection, Replica, StateMessage, new_replica
from ..spec import orset as spec
from ..spec.properties import Reachable
from .codec import CrdtCodec, OpCodec
from .crdt import CrdtSetup, build_model, itf_step_checker, node_event, step_checker, view
from .engine import Model
from .registry_types import Config, Mutant, ProtocolEntry
from .vectors import OracleBinding

# -- Mutants: each pairs a broken spec join/update with the same bug in the impl ----------------

SpecJoin = Callable[[spec.Payload, spec.Payload], spec.Payload]


def _lift_join(spec_join: SpecJoin) -> Callable[[impl.Payload, impl.Payload], impl.Payload]:
    """Runs a spec-level join on the impl's representation, through the abstraction (mutants)."""

    def merge(mine: impl.Payload, theirs: impl.Payload) -> impl.Payload:
        # to_spec ignores n: the OR-Set payload does not depend on the number of replicas
        return impl.from_spec(spec_join(impl.to_spec(mine, 0), impl.to_spec(theirs, 0)))

    return merge


def _removed_elements(payload: spec.Payload) -> set[str]:
    return {e for e, _ in payload.removed}


def _remove_wins_join(x: spec.Payload, y: spec.Payload) -> spec.Payload:
    """The design notes' bug: a tombstone of ``e`` on one side also kills the tags of ``e`` that
    side never observed, so a remove beats a concurrent add (remove-wins).

    On every payload the bounded runs reach it is commutative, associative, idempotent and an
    upper bound: only the causal properties notice. ``correct_value`` (a concurrent add is
    lost) and ``convergence`` (an add issued *after* observing the remove also dies when its
    tag reaches a replica that holds the tombstone first, so the result depends on delivery
    order and not only on the updates seen).
    """
    joined = spec.join(x, y)
    known_x, known_y = set(x.added), set(y.added)
    unobserved = [
        (e, t)
        for e, t in joined.added
        if ((e, t) not in known_x and e in _removed_elements(x))
        or ((e, t) not in known_y and e in _removed_elements(y))
    ]
    return spec.Payload(joined.added, spec.canonical((*joined.removed, *unobserved)))


def _intersect_tombstones_join(x: spec.Payload, y: spec.Payload) -> spec.Payload:
    """Merge unions the adds but keeps only the tombstones both sides have: not an upper bound."""
    return spec.Payload(
        spec.canonical((*x.added, *y.added)), tuple(p for p in x.removed if p in set(y.removed))
    )


def _keep_my_tombstones_join(x: spec.Payload, y: spec.Payload) -> spec.Payload:
    """Merge unions the adds but ignores the other side's tombstones: not commutative."""
    return spec.Payload(spec.canonical((*x.added, *y.added)), x.removed)


def _impl_remove_without_tombstone(replica: Replica[impl.Payload], op: Any) -> Any:
    """Impl-only bug: remove drops the live tags but records no tombstone, so the removal is
    forgotten (and the add with it) instead of being gossiped."""
    result = impl.apply(replica, op)
    if isinstance(op, spec.Remove) and not isinstance(result, Rejection):
        live, _ = result.payload
        _, tombstones = replica.payload
        return attrs.evolve(result, payload=(live, tombstones))
    return result


MUTANTS = (
    Mutant(
        "remove-unobserved",
        "a remove also kills tags of the element it never observed (remove-wins, the design "
        "notes' bug)",
        "correct_value",
    ),
    Mutant(
        "merge-intersects-tombstones",
        "merge keeps only the tombstones both sides have",
        "join_upper_bound",
    ),
    Mutant(
        "merge-keeps-my-tombstones",
        "merge ignores the other side's tombstones",
        "join_commutative",
    ),
    Mutant(
        "remove-forgets-tombstone",
        "impl remove drops the live tags without recording tombstones",
        "refinement",
    ),
)

MUTATIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "remove-unobserved": ({"join": _remove_wins_join}, {"merge": _lift_join(_remove_wins_join)}),
    "merge-intersects-tombstones": (
        {"join": _intersect_tombstones_join},
        {"merge": _lift_join(_intersect_tombstones_join)},
    ),
    "merge-keeps-my-tombstones": (
        {"join": _keep_my_tombstones_join},
        {"merge": _lift_join(_keep_my_tombstones_join)},
    ),
    "remove-forgets-tombstone": ({}, {"apply": _impl_remove_without_tombstone}),
}


# -- Configuration ---------------------------------------------------------------------------------


def client_ops(config: Config, replica: int, k: int) -> tuple[spec.Op, ...]:
    """Replica i's k-th update: add(e) tagged (i, k), or remove(e), for each element e."""
    alphabet: tuple[str, ...] = config.params["elements"]
    adds = tuple(spec.Add(e, (replica, k)) for e in alphabet)
    removes = tuple(spec.Remove(e) for e in alphabet)
    return (*adds, *removes)


def forged_messages(config: Config) -> tuple[StateMessage, ...]:
    n = config.params["replicas"]
    e = config.params["elements"][0]
    return (
        StateMessage(n + 4, impl.EMPTY),  # unknown sender
        StateMessage(0, (((e, ((n, 0),)),), ())),  # a tag naming no replica
        StateMessage(1, (((e, ((0, 0),)),), ((e, (0, 0)),))),  # one tag both live and dead
    )


SETUP = CrdtSetup(
    crdt=spec.ORSET,
    replica_type=impl.ORSET_REPLICA,
    to_spec=impl.to_spec,
    ops=client_ops,
    forged=forged_messages,
    extra_reachables=(
        Reachable(
            "add_wins",
            "a replica has seen concurrent add(e) and remove(e), and e is present",
            spec.add_wins,
        ),
    ),
    mutations=MUTATIONS,
)

# Measured bounds (exhaustive, one core): 3 replicas with 2 updates each exceed 800 000 states and
# two minutes, so the 3-replica default keeps one update each; the 2-replica configs cover
# add-remove-re-add at one replica, re-sent snapshots and a second element.
CONFIGS = (
    Config(
        "small",
        "3 replicas, 1 element, 1 update and 1 snapshot each, all delivery orders",
        {"replicas": 3, "elements": ("x",), "updates": 1, "sends": 1},
        expected_distinct_states=11333,
    ),
    Config(
        "tiny",
        "2 replicas, 1 element, 2 updates and 1 snapshot each",
        {"replicas": 2, "elements": ("x",), "updates": 2, "sends": 1},
        expected_distinct_states=2732,
    ),
    Config(
        "deep",
        "2 replicas, 1 element, 2 updates and 2 snapshots each",
        {"replicas": 2, "elements": ("x",), "updates": 2, "sends": 2},
        expected_distinct_states=28142,
    ),
    Config(
        "two-elements",
        "2 replicas, 2 elements, 2 updates and 1 snapshot each",
        {"replicas": 2, "elements": ("x", "y"), "updates": 2, "sends": 1},
        expected_distinct_states=23264,
    ),
)


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    return build_model(SETUP, config, mutant)


PROTOCOL = ProtocolEntry(
    name="orset",
    summary="add-wins observed-remove set, state-based (Shapiro et al. 2011, Spec. 15)",
    source="Shapiro, Preguica, Baquero, Zawirski, INRIA RR-7506 (2011), section 3.3.5",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)

_TAG_SCHEMA = {
    "type": "array",
    "prefixItems": [{"type": "integer", "minimum": 0}, {"type": "integer", "minimum": 0}],
    "minItems": 2,
    "maxItems": 2,
}

CODEC = CrdtCodec(
    "orset",
    impl.ORSET_REPLICA,
    OpCodec((spec.Add, spec.Remove)),
    # [live, tombstones]: live = [[element, [[replica, counter], ...]], ...] sorted by element,
    # tombstones = [[element, [replica, counter]], ...] sorted
    payload_schema={
        "type": "array",
        "prefixItems": [
            {
                "type": "array",
                "items": {
                    "type": "array",
                    "prefixItems": [
                        {"type": "string"},
                        {"type": "array", "items": _TAG_SCHEMA, "minItems": 1},
                    ],
                    "minItems": 2,
                    "maxItems": 2,
                },
            },
            {
                "type": "array",
                "items": {
                    "type": "array",
                    "prefixItems": [{"type": "string"}, _TAG_SCHEMA],
                    "minItems": 2,
                    "maxItems": 2,
                },
            },
        ],
        "minItems": 2,
        "maxItems": 2,
    },
    # the counters of the tags this replica has minted, sorted
    local_schema={"type": "array", "items": {"type": "integer", "minimum": 0}},
)

ORACLE = OracleBinding(
    codec=CODEC,
    configs=("small", "tiny"),
    node_event=node_event,
    nodes=lambda state: state.nodes,
    initial_node=lambda i, n: new_replica(impl.ORSET_REPLICA, i, n),
    step_checker=step_checker(SETUP, CODEC),
    itf_checker=itf_step_checker(SETUP, CODEC),
)
