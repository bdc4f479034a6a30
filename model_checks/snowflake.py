"""Snowflake (Figure 2): bounded model, mutants, Hypothesis machine and oracle binding.

Everything but the protocol's own choices lives in :mod:`.snow_common` (the model, its
actions and adversary, the codec); see there for the semantics. The default configuration has
``alpha_preference < alpha_confidence`` (2 and 3 of k = 3), so the dual-threshold rules are
exercised: a 2-of-3 poll moves the preference but resets the counter.

Measured (one core, this machine): ``default`` (3 honest nodes and 1 Byzantine, k = 3,
alpha_preference = 2, alpha_confidence = 3, beta = 2, 3 polls per node) has 8,211 distinct
states and takes about 2 s; ``tiny`` (2 honest, 2 Byzantine, k = 2, 3 polls per node, so late
answers reach decided nodes) has 900 and takes about 0.3 s. Larger networks are left to the
Hypothesis machine (6 nodes, one Byzantine, k = 4, alpha_preference = 3, alpha_confidence = 4).
"""

from __future__ import annotations

from typing import Any

from ..impl import snowflake as impl_snowflake
from ..spec import snowflake as spec_snowflake
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
SETUP = Setup("snowflake", spec_snowflake, impl_snowflake.record_poll, MUTATIONS)

MUTANTS = mutants(
    (
        (
            "no-reset-on-failure",
            "an unsuccessful poll keeps cnt (Figure 2 line 15 missing; the design notes' bug)",
            "snowflake_counter_is_consecutive_successes",
            None,
        ),
        (
            "switch-restarts-at-zero",
            "the poll that changes the colour is not counted: cnt := 0, not 1 (line 12)",
            "snowflake_counter_is_consecutive_successes",
            None,
        ),
        (
            "decide-at-beta-minus-one",
            "the node accepts at cnt >= beta - 1 (line 14)",
            "acceptance_needs_beta_successes",
            None,
        ),
        (
            "confidence-at-alpha-preference",
            "cnt grows on alpha_preference answers instead of alpha_confidence",
            "dual_thresholds",
            "default",  # needs alpha_preference < alpha_confidence
        ),
        (
            "half-k-threshold",
            "a poll succeeds for a colour with k // 2 answers instead of alpha_preference",
            "dual_thresholds",
            None,
        ),
        (
            "strict-threshold-refines",
            "a poll succeeds only with more than alpha_preference answers (> for >=)",
            "refinement",
            None,
        ),
    )
)

CONFIGS = (
    Config(
        "default",
        "3 honest nodes and 1 Byzantine, k = 3, alpha_preference = 2, alpha_confidence = 3, "
        "beta = 2, at most 3 polls per node, initial colours 0, 0, 1",
        {
            "nodes": 4,
            "byzantine": 1,
            "k": 3,
            "alpha_preference": 2,
            "alpha_confidence": 3,
            "beta": 2,
            "polls": 3,
            "initial": (0, 0, 1),
        },
        expected_distinct_states=8211,
    ),
    Config(
        "tiny",
        "2 honest nodes and 2 Byzantine (free answers: every local rule is reachable), "
        "k = 2, alpha = 2, beta = 2, 3 polls per node",
        {
            "nodes": 4,
            "byzantine": 2,
            "k": 2,
            "alpha_preference": 2,
            "beta": 2,
            "polls": 3,
            "initial": (0, 1),
        },
        expected_distinct_states=900,
    ),
)


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    return build_model(SETUP, config, mutant)


PROTOCOL = ProtocolEntry(
    name="snowflake",
    summary="Snowflake: Slush with a counter of consecutive successes (BFT)",
    source="Team Rocket, arXiv:1906.08936 v2+, Figure 2; avalanchego binary_snowflake.go",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)

# -- Hypothesis: 6 nodes, one Byzantine, k = 4 (a 2-2 split is an unsuccessful poll) ---------

MACHINE_PARAMS = params_of(
    Config(
        "machine",
        "",
        {"k": 4, "alpha_preference": 3, "alpha_confidence": 4, "beta": 3, "polls": 0},
    )
)
SnowflakeMachine = machine_class(SETUP, MACHINE_PARAMS, n=6, byzantine=1)

# -- Oracle --------------------------------------------------------------------------------------

CODEC = SnowCodec("snowflake", SETUP)
ORACLE = oracle_binding(SETUP, CODEC, ("default", "tiny"), params_of(CONFIGS[0]))
