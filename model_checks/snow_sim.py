"""Vectorised simulator of Slush, Snowflake and Snowball (binary colours) under a Byzantine
adversary.

Source: Team Rocket, "Scalable and Probabilistic Leaderless BFT Consensus through Metastability"
(arXiv:1906.08936, 2019/2020): Figure 1 (Slush), Figure 2 (Snowflake), Figure 3 (Snowball); and
avalanchego's dual thresholds (``snow/consensus/snowball/binary_snowflake.go``, ``RecordPoll``;
``binary_snowball.go``): a poll whose majority colour has at least αp votes is *successful* and
moves the preference, only one with at least αc votes raises the confidence counter, with
K/2 < αp ≤ αc ≤ K. With αp = αc = α the rules are exactly the paper's figures.

**The model simulated** (the one ``snow_exact`` computes exactly, so the two can be compared):

- *Synchronous rounds.* In round r every undecided correct node queries k distinct peers sampled
  uniformly without replacement from the n − 1 other nodes (Fig. 1–3, ``sample(N \\ u, k)``). All
  answers are read from the state at the start of the round, then every querier applies its rule.
  The paper's analysis instead lets one node at a time query (its birth–death chain); synchronous
  rounds are what a large network does in wall-clock time and what a vectorised simulator does.
  ``scheduler="sequential"`` runs the paper's scheduler instead: a round is n_c steps, and in
  each step one node drawn uniformly from the active correct nodes (Slush: all correct nodes;
  otherwise the undecided ones) polls the current state and updates at once. It loops in Python
  per step and is meant for small networks (the exact chain covers both schedulers).
- *Answers.* A correct node answers with its preference ``col`` (Fig. 1, ``onQuery``); a decided
  node keeps answering with its decision (avalanchego's ``Preference`` once finalized). Every
  correct node starts coloured (``col0 ≠ ⊥``): the uncoloured start of Fig. 1 (``onQuery``
  colouring a ⊥ node) is not simulated, as in ``spec/snow_common.py``.
- *Byzantine nodes* are the last ⌊f·n⌋ node ids. They answer as the adversary says (they are
  omniscient and adaptive, as the paper's adversary):

  ``balance``  the paper's balance attack: the colour fewer correct nodes prefer (on a tie, the
               colour opposite to the querier's preference), to keep the network split;
  ``echo``     the querier's own preference, so that both halves of a split gain confidence;
  ``silent``   no answer (a crashed node): its slot in the sample counts for neither colour.
- *Decisions.* Snowflake and Snowball decide when the counter reaches β (Fig. 2 and 3, "if cnt ≥ β
  then accept(col)"). Snowball decides ``lastcol``, the colour that had the β consecutive
  successes, as ``spec/snowball.py`` does (a departure from Fig. 3, which accepts ``col``; it
  follows avalanchego's ``binarySnowball.Preference`` after finalization). Slush has no counter:
  every correct node accepts its colour after ``max_rounds`` rounds (Fig. 1, the loop over
  r ∈ {1..m}).
- The per-node rules are cross-checked against ``spec/slush.py``, ``spec/snowflake.py`` and
  ``spec/snowball.py`` (``round_step``) by ``reference_trajectory`` on the same samples.

A *conflicting decision* (a safety failure) is two correct nodes deciding different colours.
Every run has its own seed (``numpy.random.default_rng(seed)``) and replays exactly.

Mutants (deliberate departures from the paper's counter and threshold rules, caught by the
statistics in ``tests/test_snow_sim.py``) are selected by name with ``SnowParams.mutant``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

PROTOCOLS = ("slush", "snowflake", "snowball")
SCHEDULERS = ("synchronous", "sequential")
ADVERSARIES = ("balance", "echo", "silent")
# name -> what the mutant changes (each a departure from Fig. 2/3 or avalanchego's thresholds)
MUTANTS: dict[str, str] = {
    "snowball-last-colour": "Snowball prefers the colour of the last successful poll instead of "
    "the colour with the larger d[·] (Fig. 3, lines 'if d[col'] > d[col] then col := col'')",
    "no-reset-on-switch": "the counter keeps counting when the majority colour changes instead "
    "of restarting at 1 (Fig. 2/3: 'if col' ≠ lastcol then ... cnt := 1')",
    "no-reset-on-failure": "the counter is kept on a poll without an αp-majority instead of "
    "being reset (Fig. 2/3: 'if maj = false then cnt := 0')",
    "alpha-confidence-ignored": "an αp-majority raises the counter even below αc "
    "(avalanchego RecordPoll: only count ≥ αc increments the confidence)",
}
NO_ANSWER = -1  # a silent Byzantine node's slot in the answer matrix
Z_95 = 1.959963984540054  # the standard normal's 97.5 % quantile


# -- Parameters --------------------------------------------------------------------------------


@attrs.frozen
class SnowParams:
    """One simulated configuration; invalid parameters raise ``ValueError`` when constructed."""

    # the protocol and the network
    protocol: str
    nodes: int
    k: int
    # the thresholds: αp moves the preference, αc raises the counter, β counters decide
    alpha_p: int
    alpha_c: int
    beta: int
    # the adversary
    byzantine_fraction: float = 0.0
    adversary: str = "balance"
    # the run: rounds before giving up (Slush: the m of Fig. 1), the initial split
    max_rounds: int = 200
    initial_ones: float = 0.5  # fraction of correct nodes whose col0 is colour 1
    mutant: str | None = None
    # who queries when: every active node per round, or one random active node per step
    scheduler: str = "synchronous"

    def __attrs_post_init__(self) -> None:
        _validate(self)

    @property
    def byzantine(self) -> int:
        """⌊f·n⌋ Byzantine nodes: the highest node ids."""
        return math.floor(self.byzantine_fraction * self.nodes + 1e-9)

    @property
    def correct(self) -> int:
        return self.nodes - self.byzantine

    @property
    def initial_one_count(self) -> int:
        """How many correct nodes start with colour 1 (they are ids 0 .. count − 1)."""
        return round(self.initial_ones * self.correct)


def _validate(p: SnowParams) -> None:
    # Verify the protocol, adversary and mutant are known
    if p.protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {p.protocol!r}; expected one of {PROTOCOLS}")
    if p.adversary not in ADVERSARIES:
        raise ValueError(f"unknown adversary {p.adversary!r}; expected one of {ADVERSARIES}")
    if p.scheduler not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {p.scheduler!r}; expected one of {SCHEDULERS}")
    if p.mutant is not None and p.mutant not in MUTANTS:
        raise ValueError(f"unknown mutant {p.mutant!r}; expected one of {sorted(MUTANTS)}")
    # Verify the sample fits in the network: k distinct peers other than the querier
    if p.k < 1:
        raise ValueError(f"k must be at least 1, got k={p.k}")
    if p.nodes < p.k + 1:
        raise ValueError(f"need n ≥ k + 1 to sample k peers other than the querier: n={p.nodes}")
    # Verify K/2 < αp ≤ αc ≤ K (avalanchego parameters.go)
    if 2 * p.alpha_p <= p.k:
        raise ValueError(f"need αp > k/2 (one majority per poll): αp={p.alpha_p}, k={p.k}")
    if p.alpha_c < p.alpha_p:
        raise ValueError(f"need αc ≥ αp: αc={p.alpha_c}, αp={p.alpha_p}")
    if p.alpha_c > p.k:
        raise ValueError(f"need αc ≤ k: αc={p.alpha_c}, k={p.k}")
    # Verify the counters and the run length
    if p.beta < 1:
        raise ValueError(f"β must be at least 1, got β={p.beta}")
    if p.max_rounds < 1:
        raise ValueError(f"max_rounds must be at least 1, got {p.max_rounds}")
    # Verify the fractions
    if not 0.0 <= p.byzantine_fraction < 1.0:
        raise ValueError(f"byzantine_fraction must be in [0, 1): {p.byzantine_fraction}")
    if not 0.0 <= p.initial_ones <= 1.0:
        raise ValueError(f"initial_ones must be in [0, 1]: {p.initial_ones}")
    if p.nodes - math.floor(p.byzantine_fraction * p.nodes + 1e-9) < 2:
        raise ValueError("need at least two correct nodes")


# -- State of one run: one numpy array per variable, indexed by correct node id ------------------


@attrs.define
class SimState:
    """The correct nodes' variables (Fig. 1-3), one array entry per correct node."""

    # the preference col (Slush, Snowflake, Snowball) and Snowball's lastcol
    pref: np.ndarray  # int8
    last: np.ndarray  # int8; Slush and Snowflake keep it equal to pref
    # the counters: cnt (Fig. 2/3) and d[0], d[1] (Fig. 3) as an (n_c, 2) array
    cnt: np.ndarray  # int32
    strength: np.ndarray  # int32
    # the decision (a decided node's decision is its ``last``) and the round it was taken in
    decided: np.ndarray  # bool
    decided_round: np.ndarray  # int32, -1 while undecided

    def copy(self) -> SimState:
        return SimState(*(a.copy() for a in attrs.astuple(self, recurse=False)))

    def answered(self) -> np.ndarray:
        """The colour each correct node answers queries with: its decision, else ``col``."""
        return np.where(self.decided, self.last, self.pref).astype(np.int8)


def initial_state(params: SnowParams) -> SimState:
    """Correct nodes 0 .. c − 1 start with colour 1, the others with colour 0; counters 0."""
    nc = params.correct
    pref = np.zeros(nc, dtype=np.int8)
    pref[: params.initial_one_count] = 1
    return SimState(
        pref=pref,
        last=pref.copy(),
        cnt=np.zeros(nc, dtype=np.int32),
        strength=np.zeros((nc, 2), dtype=np.int32),
        decided=np.zeros(nc, dtype=bool),
        decided_round=np.full(nc, -1, dtype=np.int32),
    )


# -- Sampling: k distinct peers other than the querier ---------------------------------------------


def sample_peers(rng: np.random.Generator, queriers: np.ndarray, nodes: int, k: int) -> np.ndarray:
    """A (len(queriers), k) matrix: row i is a uniform k-subset of the nodes other than queriers[i].

    Sparse samples (4k ≤ n − 1) draw with replacement and redraw the rows that repeat a peer
    (rejection sampling keeps the k-subset uniform); dense ones take the k smallest of n − 1
    random keys. Peers are drawn from 0 .. n − 2 and shifted past the querier's own id.
    """
    m = queriers.size
    if 4 * k <= nodes - 1:
        draws = rng.integers(0, nodes - 1, size=(m, k))
        todo = np.arange(m)
        while True:
            rows = np.sort(draws[todo], axis=1)
            repeats = (rows[:, 1:] == rows[:, :-1]).any(axis=1)
            todo = todo[repeats]
            if todo.size == 0:
                break
            draws[todo] = rng.integers(0, nodes - 1, size=(todo.size, k))
    else:
        keys = rng.random((m, nodes - 1))
        draws = np.argpartition(keys, k - 1, axis=1)[:, :k]
    return draws + (draws >= queriers[:, None])


# -- One synchronous round ------------------------------------------------------------------------


def byzantine_answers(params: SnowParams, state: SimState, queriers: np.ndarray) -> np.ndarray:
    """What every Byzantine node answers to each querier (one value per querier)."""
    if params.adversary == "silent":
        return np.full(queriers.size, NO_ANSWER, dtype=np.int8)
    answered = state.answered()
    own = answered[queriers]
    if params.adversary == "echo":
        return own
    ones = int(answered.sum())
    zeros = params.correct - ones
    if ones == zeros:  # balance on a tie: push the querier away from its preference
        return (1 - own).astype(np.int8)
    minority = 1 if ones < zeros else 0
    return np.full(queriers.size, minority, dtype=np.int8)


def answer_matrix(
    params: SnowParams, state: SimState, queriers: np.ndarray, samples: np.ndarray
) -> np.ndarray:
    """The colour each sampled peer answers (``NO_ANSWER`` for silence), read from ``state``."""
    nc = params.correct
    correct_peer = samples < nc
    answers = state.answered()[np.where(correct_peer, samples, 0)]
    byz = byzantine_answers(params, state, queriers)
    return np.where(correct_peer, answers, byz[:, None]).astype(np.int8)


def poll_outcome(params: SnowParams, answers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per poll: the colour with an αp-majority (−1 when none) and its number of votes."""
    ones = (answers == 1).sum(axis=1)
    zeros = (answers == 0).sum(axis=1)
    choice = np.where(ones >= params.alpha_p, 1, np.where(zeros >= params.alpha_p, 0, -1))
    count = np.where(choice == 1, ones, np.where(choice == 0, zeros, 0))
    return choice.astype(np.int8), count.astype(np.int32)


def apply_polls(
    params: SnowParams,
    state: SimState,
    queriers: np.ndarray,
    choice: np.ndarray,
    count: np.ndarray,
    round_no: int,
) -> SimState:
    """Each querier's rule (Fig. 1, 2 or 3 with dual thresholds) given its poll's outcome.

    Pure: returns a new state. ``choice[i]`` is the αp-majority colour of queriers[i]'s poll (−1:
    none) and ``count[i]`` its votes.
    """
    new = state.copy()
    mutant = params.mutant
    success = choice >= 0  # "P.count(col') ≥ α" for some col' (maj = true)
    pick = np.where(success, choice, 0).astype(np.int8)
    pref = state.pref[queriers]
    if params.protocol == "slush":
        # Fig. 1: col := col' on an α-majority
        new.pref[queriers] = np.where(success, pick, pref)
        new.last[queriers] = new.pref[queriers]
        return new
    # strong: the majority also reaches αc and may raise the counter
    strong = (
        success if mutant == "alpha-confidence-ignored" else success & (count >= params.alpha_c)
    )
    cnt = state.cnt[queriers]
    if params.protocol == "snowflake":
        previous = pref  # Fig. 2 compares col' with col
        new_pref = np.where(success, pick, pref)
    else:
        # Fig. 3: d[col']++; if d[col'] > d[col] then col := col'
        strength = state.strength[queriers].copy()
        rows = np.flatnonzero(success)
        strength[rows, pick[rows]] += 1
        new.strength[queriers] = strength
        mine = strength[np.arange(queriers.size), pick]
        other = strength[np.arange(queriers.size), 1 - pick]
        if mutant == "snowball-last-colour":
            new_pref = np.where(success, pick, pref)
        else:
            new_pref = np.where(success & (mine > other), pick, pref)
        previous = state.last[queriers]  # Fig. 3 compares col' with lastcol
    # Fig. 2/3: if col' ≠ lastcol then cnt := 1 else cnt++; if maj = false then cnt := 0
    # (avalanchego: a majority below αc resets the counter too)
    switched = success & (pick != previous)
    restart = cnt + 1 if mutant == "no-reset-on-switch" else np.ones_like(cnt)
    failed = cnt if mutant == "no-reset-on-failure" else np.zeros_like(cnt)
    new_cnt = np.where(strong, np.where(switched, restart, cnt + 1), np.where(success, 0, failed))
    new.cnt[queriers] = new_cnt
    new.pref[queriers] = new_pref
    new.last[queriers] = np.where(success, pick, previous)
    # Fig. 2/3: if cnt ≥ β then accept (the decision is ``last``: Snowball decides lastcol)
    accept = new_cnt >= params.beta
    new.decided[queriers] = accept
    new.decided_round[queriers[accept]] = round_no
    return new


def vector_round(
    params: SnowParams, state: SimState, queriers: np.ndarray, samples: np.ndarray, round_no: int
) -> SimState:
    """One draw: every querier polls its sampled peers (answers read from ``state``), then
    applies its rule. Synchronous rounds are one draw; the sequential scheduler's steps too."""
    answers = answer_matrix(params, state, queriers, samples)
    choice, count = poll_outcome(params, answers)
    return apply_polls(params, state, queriers, choice, count, round_no)


def active_nodes(params: SnowParams, state: SimState) -> np.ndarray:
    """The correct nodes that query this round (Slush: all; otherwise the undecided)."""
    if params.protocol == "slush":
        return np.arange(params.correct)
    return np.flatnonzero(~state.decided)


# One draw: the nodes that queried together and the peers each sampled
Draw = tuple[np.ndarray, np.ndarray]


def round_draws(
    params: SnowParams, rng: np.random.Generator, state: SimState, round_no: int
) -> Iterator[tuple[Draw, SimState]]:
    """The draws of one round, each with the state after it.

    Synchronous: one draw, every active node at once. Sequential: n_c draws of one node each,
    drawn uniformly from the nodes active at that step.
    """
    if params.scheduler == "synchronous":
        queriers = active_nodes(params, state)
        if queriers.size:
            samples = sample_peers(rng, queriers, params.nodes, params.k)
            yield (queriers, samples), vector_round(params, state, queriers, samples, round_no)
        return
    for _ in range(params.correct):
        active = active_nodes(params, state)
        if active.size == 0:
            return
        queriers = active[rng.integers(active.size, size=1)]
        samples = sample_peers(rng, queriers, params.nodes, params.k)
        state = vector_round(params, state, queriers, samples, round_no)
        yield (queriers, samples), state


# -- Cross-check: the same rounds, node by node, through the specs' round_step -------------------


def sampled_trajectory(
    params: SnowParams, seed: int, rounds: int
) -> tuple[list[SimState], list[Draw]]:
    """The initial state, then the state after every draw of ``rounds`` rounds, and the draws.

    The same draws as ``run_once`` with the same seed, without its Slush shortcut.
    """
    rng = np.random.default_rng(seed)
    states, draws = [initial_state(params)], []
    for round_no in range(1, rounds + 1):
        for draw, after in round_draws(params, rng, states[-1], round_no):
            states.append(after)
            draws.append(draw)
    return states, draws


def reference_trajectory(params: SnowParams, draws: Sequence[Draw]) -> list[list[Any]]:
    """The same rounds computed one node at a time with ``spec/<protocol>.py``'s ``round_step``.

    Each correct node is a ``spec.snow_common.NodeState``; answers are read in a plain loop from
    the nodes' states at the start of the round, and the Byzantine answers follow the adversary
    as described in the module docstring (written again here, per node). Returns the node states
    after rounds 0..len(draws). The spec modules are imported lazily (they belong to the protocol
    modules, which this simulator does not need at run time).
    """
    import importlib

    common = importlib.import_module("..spec.snow_common", __package__)
    spec = importlib.import_module(f"..spec.{params.protocol}", __package__)
    if params.mutant is not None:
        raise ValueError("the specs have no mutants: compare un-mutated runs only")
    # Slush accepts after m polls of its own: m rounds when synchronous; never here when a
    # sequential node polls a random number of times (then only col is compared)
    synchronous = params.scheduler == "synchronous"
    spec_params = common.Params(
        k=params.k,
        alpha_preference=params.alpha_p,
        alpha_confidence=params.alpha_c,
        beta=params.beta,
        colours=2,
        rounds=params.max_rounds if synchronous else len(draws) + 1,
    )
    nc = params.correct
    ones0 = params.initial_one_count
    nodes = [common.initial(1 if i < ones0 else 0, 2) for i in range(nc)]
    history = [nodes]
    for queriers, samples in draws:
        answered = [n.decided if n.decided is not None else n.col for n in nodes]
        ones = sum(answered)
        after = list(nodes)
        for row, i in enumerate(queriers.tolist()):
            own = answered[i]
            if params.adversary == "echo":
                byzantine: int | None = own
            elif params.adversary == "silent":
                byzantine = None
            elif 2 * ones == nc:
                byzantine = 1 - own
            else:
                byzantine = 1 if 2 * ones < nc else 0
            responses = []
            for peer in samples[row].tolist():
                if peer < nc:
                    responses.append(answered[peer])
                elif byzantine is not None:
                    responses.append(byzantine)
            after[i] = spec.round_step(spec_params, nodes[i], responses)
        nodes = after
        history.append(nodes)
    return history


def same_node(params: SnowParams, state: SimState, i: int, node: Any, final: bool) -> bool:
    """Whether node ``i`` of the vectorised ``state`` equals the spec's ``node`` (the variables
    the protocol uses; Slush's decision only after its last round, when ``final``)."""
    if int(state.pref[i]) != node.col:
        return False
    if params.protocol == "slush":
        return not final or node.decided == node.col
    decision = int(state.last[i]) if state.decided[i] else None
    if int(state.cnt[i]) != node.cnt or decision != node.decided:
        return False
    if params.protocol == "snowball":
        return int(state.last[i]) == node.lastcol and tuple(state.strength[i].tolist()) == node.d
    return True


# -- Runs and reports ------------------------------------------------------------------------------


@attrs.frozen
class RunResult:
    """The outcome of one seeded run."""

    seed: int
    conflict: bool  # two correct nodes decided different colours
    finality_round: int | None  # the round by which every correct node had decided
    first_decision_round: int | None
    decided: tuple[int, int]  # correct nodes that decided colour 0, colour 1
    polls: int  # queries of k peers made by correct nodes
    ones_fraction: tuple[float, ...]  # per round 0..R, correct nodes answering colour 1


def run_once(params: SnowParams, seed: int) -> RunResult:
    """One run to finality (or ``max_rounds``), replayable from ``seed``."""
    rng = np.random.default_rng(seed)
    state = initial_state(params)
    nc = params.correct
    fractions = [float(state.answered().sum()) / nc]
    polls = 0
    rounds = 0
    for round_no in range(1, params.max_rounds + 1):
        if active_nodes(params, state).size == 0:
            break
        for (queriers, _), after in round_draws(params, rng, state, round_no):
            polls += queriers.size
            state = after
        rounds = round_no
        fractions.append(float(state.answered().sum()) / nc)
        if params.protocol == "slush" and params.byzantine == 0 and fractions[-1] in (0.0, 1.0):
            # unanimity without Byzantine nodes is absorbing: the remaining rounds change nothing
            left = params.max_rounds - round_no
            polls += left * nc
            fractions.extend([fractions[-1]] * left)
            rounds = params.max_rounds
            break
    if params.protocol == "slush":
        # Fig. 1: accept(col) after m rounds
        ones = int(state.pref.sum())
        decided = (nc - ones, ones)
        finality: int | None = rounds
        first: int | None = rounds
    else:
        ones = int(state.last[state.decided].sum())
        decided = (int(state.decided.sum()) - ones, ones)
        finality = int(state.decided_round.max()) if state.decided.all() else None
        first = int(state.decided_round[state.decided].min()) if state.decided.any() else None
    return RunResult(
        seed=seed,
        conflict=decided[0] > 0 and decided[1] > 0,
        finality_round=finality,
        first_decision_round=first,
        decided=decided,
        polls=polls,
        ones_fraction=tuple(fractions),
    )


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927).

    centre = (p̂ + z²/2n) / (1 + z²/n), half-width = z·sqrt(p̂(1 − p̂)/n + z²/4n²) / (1 + z²/n).
    """
    if trials <= 0:
        raise ValueError("a confidence interval needs at least one trial")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be in [0, trials]: {successes}/{trials}")
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


@attrs.frozen
class SimulationReport:
    """What ``simulate`` measured over its seeds."""

    params: SnowParams
    seeds: tuple[int, ...]
    conflicts: int
    conflict_rate: float
    conflict_ci95: tuple[float, float]  # Wilson score interval
    finalised_runs: int  # runs in which every correct node decided within max_rounds
    finality_rounds_mean: float | None
    finality_rounds_p50: float | None
    finality_rounds_p99: float | None
    first_decision_rounds_mean: float | None
    polls_per_node: float  # queries of k peers per correct node, mean over runs
    messages_per_node: float  # queries plus replies per correct node: 2·k·polls
    seconds: float
    plot: str | None = None
    runs: tuple[RunResult, ...] = attrs.field(default=(), repr=False, eq=False)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready document (the per-run trajectories are left out)."""
        return {
            "params": attrs.asdict(self.params),
            "byzantine_nodes": self.params.byzantine,
            "seeds": {"count": len(self.seeds), "first": self.seeds[0], "last": self.seeds[-1]},
            "conflicts": self.conflicts,
            "conflict_rate": self.conflict_rate,
            "conflict_ci95": list(self.conflict_ci95),
            "finalised_runs": self.finalised_runs,
            "finality_rounds": {
                "mean": self.finality_rounds_mean,
                "p50": self.finality_rounds_p50,
                "p99": self.finality_rounds_p99,
            },
            "first_decision_rounds_mean": self.first_decision_rounds_mean,
            "polls_per_node": self.polls_per_node,
            "messages_per_node": self.messages_per_node,
            "seconds": self.seconds,
            "plot": self.plot,
        }

    def to_text(self) -> str:
        p = self.params
        low, high = self.conflict_ci95

        def fmt(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}"

        lines = [
            f"{p.protocol}: n={p.nodes} (byzantine {p.byzantine}, adversary {p.adversary}), "
            f"k={p.k}, αp={p.alpha_p}, αc={p.alpha_c}, β={p.beta}, max rounds {p.max_rounds}"
            + (f", {p.scheduler} scheduler" if p.scheduler != "synchronous" else "")
            + (f", mutant {p.mutant}" if p.mutant else ""),
            f"runs: {len(self.seeds)} (seeds {self.seeds[0]}..{self.seeds[-1]}), "
            f"{self.seconds:.2f} s",
            f"conflicting decisions: {self.conflicts}/{len(self.seeds)} = "
            f"{self.conflict_rate:.4g} (95% Wilson CI [{low:.4g}, {high:.4g}])",
            f"finalised runs: {self.finalised_runs}/{len(self.seeds)}; rounds to finality "
            f"mean {fmt(self.finality_rounds_mean)}, p50 {fmt(self.finality_rounds_p50)}, "
            f"p99 {fmt(self.finality_rounds_p99)}; first decision mean "
            f"{fmt(self.first_decision_rounds_mean)}",
            f"per correct node: {self.polls_per_node:.1f} polls, "
            f"{self.messages_per_node:.1f} messages (queries + replies)",
        ]
        if self.plot:
            lines.append(f"plot: {self.plot}")
        return "\n".join(lines)


def _stat(values: Sequence[int], q: float | None = None) -> float | None:
    if not values:
        return None
    array = np.asarray(values, dtype=float)
    return float(array.mean()) if q is None else float(np.percentile(array, q))


def run_many(params: SnowParams, seeds: Sequence[int]) -> SimulationReport:
    """Run every seed and summarise; the runs are kept on the report for plotting."""
    if not seeds:
        raise ValueError("need at least one seed")
    started = time.perf_counter()
    runs = tuple(run_once(params, seed) for seed in seeds)
    seconds = time.perf_counter() - started
    conflicts = sum(run.conflict for run in runs)
    final = [run.finality_round for run in runs if run.finality_round is not None]
    first = [run.first_decision_round for run in runs if run.first_decision_round is not None]
    polls = float(np.mean([run.polls for run in runs])) / params.correct
    return SimulationReport(
        params=params,
        seeds=tuple(seeds),
        conflicts=conflicts,
        conflict_rate=conflicts / len(runs),
        conflict_ci95=wilson_interval(conflicts, len(runs)),
        finalised_runs=len(final),
        finality_rounds_mean=_stat(final),
        finality_rounds_p50=_stat(final, 50),
        finality_rounds_p99=_stat(final, 99),
        first_decision_rounds_mean=_stat(first),
        polls_per_node=polls,
        messages_per_node=2 * params.k * polls,
        seconds=seconds,
        runs=runs,
    )


def simulate(
    protocol: str,
    nodes: int,
    k: int,
    alpha_p: int,
    alpha_c: int,
    beta: int,
    byzantine_fraction: float,
    adversary: str,
    seeds: int,
    max_rounds: int,
    plot: Path | None,
    scheduler: str = "synchronous",
) -> SimulationReport:
    """The ``mnemosyne-consensus simulate`` entry point: ``seeds`` runs with seeds 1..seeds.

    Raises ``ValueError`` on invalid parameters. With ``plot``, writes the per-round colour
    fractions of every run as a PNG (``snow_plot.plot_runs``).
    """
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    params = SnowParams(
        protocol=protocol,
        nodes=nodes,
        k=k,
        alpha_p=alpha_p,
        alpha_c=alpha_c,
        beta=beta,
        byzantine_fraction=byzantine_fraction,
        adversary=adversary,
        max_rounds=max_rounds,
        scheduler=scheduler,
    )
    report = run_many(params, range(1, seeds + 1))
    if plot is not None:
        from .snow_plot import plot_runs  # matplotlib only when a picture is asked for

        plot_runs(report, plot)
        report = attrs.evolve(report, plot=str(plot))
    return report


def bench_snowball(nodes: int = 2000, k: int = 20, beta: int = 20, seed: int = 1) -> dict[str, Any]:
    """Snowball to finality at n nodes (no Byzantine node, an even initial split): one run."""
    alpha = max(k // 2 + 1, (3 * k) // 4)  # αp = αc = 15 at k = 20, avalanchego's default
    params = SnowParams(
        protocol="snowball",
        nodes=nodes,
        k=k,
        alpha_p=alpha,
        alpha_c=alpha,
        beta=beta,
        max_rounds=10_000,
    )
    started = time.perf_counter()
    run = run_once(params, seed)
    seconds = time.perf_counter() - started
    return {
        "snowball_nodes": nodes,
        "snowball_k": k,
        "snowball_beta": beta,
        "snowball_seconds": round(seconds, 3),
        "snowball_rounds_to_finality": run.finality_round,
        "snowball_polls_per_node": run.polls / params.correct,
        "snowball_conflict": run.conflict,
    }
