"""The Slush/Snowflake/Snowball simulator, its exact Markov chain, its mutants and its picture.

Every simulation runs on fixed seeds, so every assertion here is deterministic. Confidence
intervals are Wilson score intervals at 99.9 % (z = 3.29) over 2,000 seeds.
"""

import json
import math
import re
from fractions import Fraction

import attrs
import numpy as np
import pytest

from mnemosyne_consensus.model_checks import snow_exact, snow_sim
from mnemosyne_consensus.model_checks.snow_sim import SnowParams

SEEDS = range(2000)

# -- Parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"alpha_p": 10, "alpha_c": 10}, "αp > k/2"),
        ({"alpha_p": 9, "alpha_c": 12}, "αp > k/2"),
        ({"alpha_p": 15, "alpha_c": 14}, "αc ≥ αp"),
        ({"alpha_p": 15, "alpha_c": 21}, "αc ≤ k"),
        ({"byzantine_fraction": -0.1}, "byzantine_fraction"),
        ({"byzantine_fraction": 1.0}, "byzantine_fraction"),
        ({"nodes": 20}, "n ≥ k + 1"),
        ({"beta": 0}, "β must be at least 1"),
        ({"max_rounds": 0}, "max_rounds"),
        ({"protocol": "avalanche"}, "unknown protocol"),
        ({"adversary": "chaos"}, "unknown adversary"),
        ({"mutant": "nope"}, "unknown mutant"),
        ({"initial_ones": 1.5}, "initial_ones"),
    ],
)
def test_invalid_parameters_are_refused(changes, message):
    good = {"protocol": "snowball", "nodes": 2000, "k": 20, "alpha_p": 15, "alpha_c": 15}
    with pytest.raises(ValueError, match=re.escape(message)):
        SnowParams(**{**good, "beta": 20, **changes})


def test_simulate_refuses_invalid_parameters_and_seed_counts():
    with pytest.raises(ValueError, match="αp > k/2"):
        snow_sim.simulate("snowball", 100, 20, 10, 15, 5, 0.1, "balance", 2, 10, None)
    with pytest.raises(ValueError, match="seeds"):
        snow_sim.simulate("snowball", 100, 20, 15, 15, 5, 0.1, "balance", 0, 10, None)


def test_byzantine_nodes_are_the_floor_of_the_fraction():
    params = SnowParams("snowflake", 2000, 20, 15, 15, 20, byzantine_fraction=0.2)
    assert (params.byzantine, params.correct) == (400, 1600)
    assert SnowParams("slush", 7, 3, 2, 2, 1, byzantine_fraction=0.15).byzantine == 1


# -- Sampling and the Wilson interval -------------------------------------------------------------


@pytest.mark.parametrize(("nodes", "k"), [(2000, 20), (21, 20), (12, 3), (9, 4)])
def test_samples_are_k_distinct_peers_other_than_the_querier(nodes, k):
    rng = np.random.default_rng(7)
    queriers = np.arange(nodes)
    for _ in range(5):
        samples = snow_sim.sample_peers(rng, queriers, nodes, k)
        assert samples.shape == (nodes, k)
        assert ((samples >= 0) & (samples < nodes)).all()
        assert not (samples == queriers[:, None]).any()
        ordered = np.sort(samples, axis=1)
        assert not (ordered[:, 1:] == ordered[:, :-1]).any()


@pytest.mark.parametrize("nodes", [30, 9])  # the sparse path (rejection) and the dense path (keys)
def test_samples_are_uniform_over_peers(nodes):
    rng = np.random.default_rng(3)
    k, draws = 3, 20_000
    samples = snow_sim.sample_peers(rng, np.zeros(draws, dtype=np.int64), nodes, k)
    counts = np.bincount(samples.ravel(), minlength=nodes)
    assert counts[0] == 0
    expected = draws * k / (nodes - 1)
    chi2 = float(((counts[1:] - expected) ** 2 / expected).sum())
    # chi-square with nodes - 2 degrees of freedom: far below its 99.99 % quantile
    assert chi2 < (nodes - 2) + 6 * math.sqrt(2 * (nodes - 2))


def test_wilson_interval_known_values():
    low, high = snow_sim.wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(1.959963984540054**2 / (10 + 3.841458820694124))
    low, high = snow_sim.wilson_interval(5, 10)
    assert (low, high) == pytest.approx((0.2365931, 0.7634069), abs=1e-6)
    assert snow_sim.wilson_interval(10, 10)[1] == 1.0
    with pytest.raises(ValueError):
        snow_sim.wilson_interval(3, 2)


# -- Replay and the cross-check with the specs' round_step ----------------------------------------


def test_every_run_replays_from_its_seed():
    params = SnowParams("snowball", 300, 10, 7, 8, 5, byzantine_fraction=0.1, adversary="echo")
    assert snow_sim.run_once(params, 11) == snow_sim.run_once(params, 11)
    assert snow_sim.run_once(params, 11) != snow_sim.run_once(params, 12)


CROSS_CHECK = [
    SnowParams("slush", 12, 3, 2, 2, 1, max_rounds=8),
    SnowParams("slush", 12, 4, 3, 3, 1, byzantine_fraction=0.2, adversary="balance", max_rounds=8),
    SnowParams(
        "snowflake", 15, 5, 3, 4, 3, byzantine_fraction=0.2, adversary="echo", max_rounds=30
    ),
    SnowParams(
        "snowflake", 15, 5, 3, 4, 3, byzantine_fraction=0.2, adversary="silent", max_rounds=30
    ),
    SnowParams(
        "snowball", 15, 5, 3, 4, 3, byzantine_fraction=0.2, adversary="balance", max_rounds=30
    ),
    SnowParams("snowball", 40, 6, 4, 5, 4, byzantine_fraction=0.1, adversary="echo", max_rounds=40),
    # the paper's one-node-at-a-time scheduler
    SnowParams("slush", 12, 3, 2, 2, 1, max_rounds=4, scheduler="sequential"),
    SnowParams(
        "snowball",
        12,
        4,
        3,
        4,
        2,
        byzantine_fraction=0.2,
        adversary="balance",
        max_rounds=6,
        scheduler="sequential",
    ),
]


def _mismatches(params, draw_params, seed):
    """Node-rounds where the vectorised run (of ``draw_params``) and the specs differ."""
    states, draws = snow_sim.sampled_trajectory(draw_params, seed, params.max_rounds)
    reference = snow_sim.reference_trajectory(params, draws)
    assert len(reference) == len(states)
    # Slush's decision is compared after its m-th synchronous round only
    last = params.max_rounds if params.scheduler == "synchronous" else -1
    return sum(
        not snow_sim.same_node(params, state, i, node, r == last)
        for r, (state, nodes) in enumerate(zip(states, reference, strict=True))
        for i, node in enumerate(nodes)
    )


@pytest.mark.parametrize(
    "params", CROSS_CHECK, ids=lambda p: f"{p.protocol}-{p.adversary}-{p.scheduler}"
)
def test_vectorised_rounds_equal_the_specs_round_step(params):
    decided = flips = 0
    for seed in range(12):
        assert _mismatches(params, params, seed) == 0
        states, _ = snow_sim.sampled_trajectory(params, seed, params.max_rounds)
        decided += int(states[-1].decided.sum())
        flips += sum(int((later.pref != states[0].pref).sum()) for later in states)
    # the comparison is not vacuous: preferences flipped, and (but for Slush) nodes decided
    assert flips > 0
    assert params.protocol == "slush" or decided > 0


@pytest.mark.parametrize(
    ("mutant", "params"),
    [
        ("snowball-last-colour", CROSS_CHECK[4]),
        ("no-reset-on-switch", CROSS_CHECK[2]),
        ("no-reset-on-failure", CROSS_CHECK[3]),
        ("alpha-confidence-ignored", CROSS_CHECK[2]),
    ],
)
def test_cross_check_catches_every_rule_mutant(mutant, params):
    mutated = attrs.evolve(params, mutant=mutant)
    assert sum(_mismatches(params, mutated, seed) for seed in range(12)) > 0


# -- The exact chain -------------------------------------------------------------------------------


def test_exact_chain_hand_computed_slush_rounds():
    # n = 3, k = 2: every node samples both others; the colour-0 node sees two 1s and flips.
    three = snow_exact.analyse(SnowParams("slush", 3, 2, 2, 2, 1, initial_ones=2 / 3), 1)
    assert three.p_final == (0, 1) and three.p_conflict == (1, 0)
    # n = 4, k = 2, two of each: a node flips iff both its peers hold the other colour (1/3);
    # unanimity after one round: both 1s stay and both 0s flip, or the reverse: 2·(2/3·1/3)².
    four = snow_exact.analyse(SnowParams("slush", 4, 2, 2, 2, 1), 1)
    assert four.p_final[1] == Fraction(8, 81)
    assert four.p_conflict[1] == 1 - Fraction(8, 81)


def test_exact_chain_conserves_probability_and_decisions_are_final():
    params = SnowParams("snowflake", 7, 3, 2, 2, 2, byzantine_fraction=0.15, adversary="echo")
    exact = snow_exact.analyse(params, 6, exact=True)
    approx = snow_exact.analyse(params, 6, exact=False)
    assert exact.mass_error == 0 and approx.mass_error < 1e-12
    assert all(isinstance(p, Fraction) for p in exact.p_conflict)
    pairs = zip(exact.p_conflict + exact.p_final, approx.p_conflict + approx.p_final, strict=True)
    for e, a in pairs:
        assert float(e) == pytest.approx(a, abs=1e-12)
    # decisions are final: conflict and finality by round r never decrease
    assert list(exact.p_conflict) == sorted(exact.p_conflict)
    assert list(exact.p_final) == sorted(exact.p_final)
    slush = snow_exact.analyse(SnowParams("slush", 30, 5, 4, 4, 1), 6, exact=True)
    assert slush.p_conflict[-1] + slush.p_final[-1] == 1  # no Byzantine node: split or unanimous


EXACT_VS_SIMULATED = [
    (SnowParams("slush", 12, 3, 2, 2, 1), 4),
    (SnowParams("slush", 12, 3, 2, 2, 1, byzantine_fraction=0.2, adversary="balance"), 6),
    (SnowParams("snowflake", 7, 3, 2, 2, 2, byzantine_fraction=0.15, adversary="echo"), 6),
    (SnowParams("snowflake", 7, 4, 3, 3, 3, byzantine_fraction=0.15, adversary="balance"), 5),
    (SnowParams("snowflake", 7, 5, 3, 5, 2, byzantine_fraction=0.15, adversary="silent"), 5),
    (SnowParams("snowball", 7, 3, 2, 2, 2, byzantine_fraction=0.15, adversary="balance"), 6),
    (SnowParams("snowball", 7, 3, 2, 2, 2, byzantine_fraction=0.15, adversary="echo"), 6),
]
SEQUENTIAL = [
    (
        SnowParams(
            "slush",
            12,
            3,
            2,
            2,
            1,
            byzantine_fraction=0.2,
            adversary="balance",
            scheduler="sequential",
        ),
        3,
    ),
    (
        SnowParams(
            "snowball",
            7,
            3,
            2,
            2,
            2,
            byzantine_fraction=0.15,
            adversary="balance",
            scheduler="sequential",
        ),
        3,
    ),
]


@pytest.mark.parametrize(
    ("params", "rounds"),
    EXACT_VS_SIMULATED,
    ids=lambda v: f"{v.protocol}-{v.adversary}-k{v.k}" if isinstance(v, SnowParams) else str(v),
)
def test_simulated_estimates_cover_the_exact_probabilities(params, rounds):
    comparison = snow_exact.compare(params, rounds, SEEDS)
    assert comparison.inside, comparison
    # the figures are not degenerate: something happens and something can still go either way
    assert 0 < comparison.exact_final


@pytest.mark.parametrize(("params", "rounds"), SEQUENTIAL, ids=[p.protocol for p, _ in SEQUENTIAL])
def test_sequential_estimates_cover_the_exact_probabilities(params, rounds):
    # the sequential scheduler loops per step in Python: fewer seeds, wider intervals
    comparison = snow_exact.compare(params, rounds, range(400))
    assert comparison.inside, comparison
    assert 0 < comparison.exact_final < 1


def test_slush_birth_death_absorption():
    # n = 4, k = 2: from one colour-1 node no 0-node can see two 1s, and the 1-node flips
    assert snow_exact.slush_absorption(SnowParams("slush", 4, 2, 2, 2, 1, initial_ones=0.25)) == 0
    assert snow_exact.slush_absorption(SnowParams("slush", 12, 3, 2, 2, 1)) == Fraction(1, 2)
    params = SnowParams("slush", 12, 3, 2, 2, 1, initial_ones=1 / 3, scheduler="sequential")
    to_ones = snow_exact.slush_absorption(params)
    to_zeros = snow_exact.slush_absorption(attrs.evolve(params, initial_ones=2 / 3))
    assert 0 < to_ones < Fraction(1, 2) < to_zeros < 1  # the minority colour rarely wins
    assert to_ones + to_zeros == 1  # colour symmetry: from 4 ones, all-0 is all-1 from 8 ones
    # the step-by-step chain converges to the birth–death absorption probability
    long_run = snow_exact.analyse(params, 40, exact=False)
    assert long_run.p_all_ones[-1] == pytest.approx(float(to_ones), abs=1e-9)
    assert long_run.p_final[-1] == pytest.approx(1, abs=1e-9)
    # and the sequential simulator, run to absorption, agrees
    runs = [snow_sim.run_once(attrs.evolve(params, max_rounds=60), seed) for seed in range(300)]
    assert all(run.ones_fraction[-1] in (0.0, 1.0) for run in runs)
    ones = sum(run.ones_fraction[-1] == 1.0 for run in runs)
    low, high = snow_sim.wilson_interval(ones, len(runs), snow_exact.Z_999)
    assert low <= to_ones <= high
    with pytest.raises(ValueError, match="not absorbing"):
        snow_exact.slush_absorption(
            SnowParams("slush", 12, 3, 2, 2, 1, byzantine_fraction=0.25, adversary="balance")
        )


# -- Mutants caught by the statistics --------------------------------------------------------------

STATISTIC_MUTANTS = [
    # Snowball that switches on the last colour: fewer conflicts and slower finality here
    ("snowball-last-colour", EXACT_VS_SIMULATED[5]),
    # the counter carries across colours: many more conflicting decisions
    ("no-reset-on-switch", EXACT_VS_SIMULATED[2]),
    # a failed poll keeps the counter: finality comes sooner than the paper's rule allows
    ("no-reset-on-failure", EXACT_VS_SIMULATED[3]),
    # the counter rises below αc: nodes decide where the correct protocol (almost) never does
    ("alpha-confidence-ignored", EXACT_VS_SIMULATED[4]),
]


@pytest.mark.parametrize(
    ("mutant", "case"), STATISTIC_MUTANTS, ids=[m for m, _ in STATISTIC_MUTANTS]
)
def test_statistics_catch_the_mutant(mutant, case):
    params, rounds = case
    honest = snow_exact.analyse(params, rounds, exact=False)
    mutated = snow_exact.compare(attrs.evolve(params, mutant=mutant), rounds, SEEDS)
    # the mutant's own chain still describes its simulation ...
    assert mutated.inside, mutated
    # ... but the paper's exact value lies outside the mutant's confidence interval
    conflict_low, conflict_high = mutated.conflict_ci
    final_low, final_high = mutated.final_ci
    outside_conflict = not conflict_low <= honest.p_conflict[-1] <= conflict_high
    outside_final = not final_low <= honest.p_final[-1] <= final_high
    assert outside_conflict or outside_final


# -- At scale, the report, the picture, the benchmark ---------------------------------------------


def test_snowflake_at_2000_nodes_under_attack_is_safe_and_final():
    report = snow_sim.simulate("snowflake", 2000, 20, 15, 15, 20, 0.1, "echo", 3, 400, None)
    assert report.conflicts == 0 and report.finalised_runs == 3
    assert report.params.byzantine == 200
    assert 20 <= report.finality_rounds_p50 <= 400
    assert report.messages_per_node == pytest.approx(2 * 20 * report.polls_per_node)


def test_report_text_json_and_plot(tmp_path):
    path = tmp_path / "snowball.png"
    report = snow_sim.simulate("snowball", 200, 10, 7, 8, 6, 0.05, "balance", 6, 100, path)
    assert report.plot == str(path)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    document = json.loads(json.dumps(report.to_json()))
    assert document["seeds"] == {"count": 6, "first": 1, "last": 6}
    assert document["conflicts"] == report.conflicts
    assert document["params"]["protocol"] == "snowball"
    low, high = document["conflict_ci95"]
    assert 0 <= low <= document["conflict_rate"] <= high <= 1
    text = report.to_text()
    assert "snowball: n=200" in text and "Wilson" in text and str(path) in text


def test_bench_snowball_reaches_finality_at_2000_nodes():
    figures = snow_sim.bench_snowball(nodes=2000, k=20, beta=20, seed=1)
    assert figures["snowball_rounds_to_finality"] is not None
    assert figures["snowball_rounds_to_finality"] >= 20  # β consecutive successes at least
    assert figures["snowball_conflict"] is False
    assert figures["snowball_seconds"] >= 0
