"""Slush (Figure 1): bounded model, mutants, Hypothesis machine and oracle binding.

Everything but the protocol's own choices lives in :mod:`.snow_common` (the model, its
actions and adversary, the codec); see there for the semantics. Slush is not Byzantine
fault tolerant, and the model shows it: ``conflicting_decisions`` is reachable.

Measured (one core, this machine): ``default`` (3 honest nodes and 1 Byzantine, k = 2,
alpha = 2, m = 2 rounds, 2 polls per node) has 1,903 distinct states and takes about 0.7 s;
``tiny`` (2 honest, 2 Byzantine, 3 polls per node, so late answers reach decided nodes) has 484
and takes about 0.3 s. Larger networks are left to the Hypothesis machine (6 nodes, k = 4).
"""

from __future__ import annotations

from typing import Any

from ..impl import slush as impl_slush
from ..spec import slush as spec_slush
from .engine import Model
from .registry_types import Config, Mutant, ProtocolEntry
from .snow_common import (
    COMMON_MUTATIONS,
    Setup,
    SnowCodec,
    build_model,
    machine_class,
    mutants,
    oracle_binding,
    params_of,
    view,
)

MUTATIONS = {**COMMON_MUTATIONS, "strict-threshold-refines": COMMON_MUTATIONS["strict-threshold"]}
SETUP = Setup("slush", spec_slush, impl_slush.record_poll, MUTATIONS)

MUTANTS = mutants(
    (
        (
            "half-k-threshold",
            "a poll succeeds for a colour with k // 2 answers instead of alpha_preference",
            "preference_moves_on_alpha_preference",
            None,
        ),
        (
            "strict-threshold",
            "a poll succeeds only with more than alpha_preference answers (> instead of >=)",
            "slush_preference_is_last_majority",
            None,
        ),
        (
            "accept-early",
            "the node accepts after m - 1 rounds instead of m (Figure 1 line 15)",
            "slush_accepts_after_m_rounds",
            None,
        ),
        (
            "strict-threshold-refines",
            "the same > threshold, caught by refinement against the spec's round",
            "refinement",
            None,
        ),
    )
)

CONFIGS = (
    Config(
        "default",
        "3 honest nodes and 1 Byzantine, k = 2, alpha = 2, m = 2 rounds, 2 polls per node, "
        "initial colours 0, 0, 1",
        {
            "nodes": 4,
            "byzantine": 1,
            "k": 2,
            "alpha_preference": 2,
            "rounds": 2,
            "polls": 2,
            "initial": (0, 0, 1),
        },
        expected_distinct_states=1903,
    ),
    Config(
        "tiny",
        "2 honest nodes and 2 Byzantine (free answers: every local rule is reachable), "
        "k = 2, alpha = 2, m = 2 rounds, 3 polls per node",
        {
            "nodes": 4,
            "byzantine": 2,
            "k": 2,
            "alpha_preference": 2,
            "rounds": 2,
            "polls": 3,
            "initial": (0, 1),
        },
        expected_distinct_states=484,
    ),
)


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    return build_model(SETUP, config, mutant)


PROTOCOL = ProtocolEntry(
    name="slush",
    summary="Slush: metastable colour flipping by repeated sampling (not BFT)",
    source="Team Rocket, arXiv:1906.08936 v2+, Figure 1; avalanchego binary_slush.go",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)

# -- Hypothesis: 6 nodes, one Byzantine, k = 4 (a 2-2 split is an unsuccessful poll) ---------

MACHINE_PARAMS = params_of(
    Config("machine", "", {"k": 4, "alpha_preference": 3, "rounds": 4, "polls": 0})
)
SlushMachine = machine_class(SETUP, MACHINE_PARAMS, n=6, byzantine=1)

# -- Oracle --------------------------------------------------------------------------------------

CODEC = SnowCodec("slush", SETUP)
ORACLE = oracle_binding(SETUP, CODEC, ("default", "tiny"), params_of(CONFIGS[0]))
