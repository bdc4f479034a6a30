"""Exact probabilities of a safety failure and of finality for small Slush/Snowflake/Snowball runs.

Source: Team Rocket, arXiv:1906.08936 (2019/2020). The paper's analysis models Slush and
Snowflake as a Markov chain over *the number of nodes of each colour*: a node that samples k of
the other nodes sees a hypergeometric number of each colour, and the chance that it switches
depends only on how many nodes hold each colour. This module computes such a chain exactly.

**The chain modelled** (the same model ``snow_sim`` simulates; see its docstring):

- *Scheduler: synchronous rounds* (``scheduler="synchronous"``, the default). In each round
  every undecided correct node (Slush: every correct node) draws its own k-sample without
  replacement from the n − 1 other nodes, independently of the others; all answers are read
  from the start of the round.
- *Scheduler: one node at a time* (``scheduler="sequential"``), the paper's birth–death
  scheduler: a round is n_c steps; in each step one node, uniform among the active ones, polls
  the current state and moves. For Slush the state is then the number of correct nodes of
  colour 1 and each step moves it by at most one (the paper's birth–death chain);
  ``slush_absorption`` gives that chain's probability of ending on colour 1.
- *State.* Correct nodes are interchangeable, so the state is the multiset of node *types*
  (col, lastcol, cnt, d[1] − d[0], decided), i.e. the number of correct nodes of each type. For
  Slush a type is just the colour, and the chain is the paper's chain over the number of nodes
  per colour. Snowball's preference depends on d[0] and d[1] only through their difference, so
  the type keeps d[1] − d[0] (d is stored as (max(0, −Δ), max(0, Δ))). A decided node only
  answers, with its decision: its type is (decision, decision, 0, 0, 0, 1). The number of
  states grows with the counters: Slush is cheap up to n ≈ 30 and beyond, Snowflake and
  Snowball are meant for n_c ≤ 7 with small β and a few rounds (n_c = 8 with αp < αc and
  Snowball's d already reaches 10⁵ states by round 2).
- *Adversary.* b = ⌊f·n⌋ Byzantine nodes answer as ``snow_sim`` says (balance, echo, silent):
  their answer depends only on the querier's colour and on X, so the chain stays over counts.
- *Per-node transition.* A querier of colour c, when X correct nodes answer colour 1, sees
  R₁ = X − [c = 1] + b·[adversary answers 1] answers of colour 1 among the n − 1 others
  (b Byzantine nodes) and likewise R₀ for colour 0; the number of 1-answers in its sample is
  hypergeometric: P(j) = C(R₁, j)·C(n − 1 − R₁, k − j) / C(n − 1, k). Since αp > k/2, at most
  one colour reaches αp. The outcome (colour, reaches αc?) or "no majority" fixes the node's next
  type through ``snow_sim.apply_polls`` (the very rule the simulator runs, mutants included).
  Nodes of one type move as a multinomial; types combine by convolution.

What is computed, per round r = 0..R:

- ``p_conflict[r]``: P(by round r two correct nodes have decided different colours) for
  Snowflake/Snowball (decisions are final, so it is non-decreasing); for Slush, whose nodes
  accept after m rounds, P(the correct nodes are not unanimous after r rounds), i.e. the
  probability of a safety failure with m = r;
- ``p_final[r]``: P(every correct node has decided by round r) (Slush: unanimous at round r);
- ``p_all_ones[r]``: P(every correct node answers colour 1 after round r).

Both schedulers are what ``snow_sim`` runs with the same ``scheduler``.

With ``exact=True`` every probability is a ``fractions.Fraction``; with ``exact=False`` they are
floats, and ``mass_error`` reports |1 − Σ P| after the last round, the accumulated rounding error
(typically below 1e-12 at these sizes).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import attrs
import numpy as np

from .snow_sim import SimState, SnowParams, apply_polls, run_once, wilson_interval

# A node type: (col, lastcol, cnt, d0, d1, decided) with d normalised as described above.
NodeType = tuple[int, int, int, int, int, int]
# A chain state: the sorted (type, how many correct nodes) pairs.
ChainState = tuple[tuple[NodeType, int], ...]


@attrs.frozen
class ExactResult:
    """Per-round probabilities of the chain (index r = after r rounds)."""

    params: SnowParams
    exact: bool
    p_conflict: tuple[Any, ...]  # Fraction or float
    p_final: tuple[Any, ...]
    p_all_ones: tuple[Any, ...]  # every correct node answers colour 1
    states: int  # distinct chain states met over all rounds
    mass_error: float  # |1 − total probability| after the last round (0 when exact)
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.params.protocol,
            "nodes": self.params.nodes,
            "byzantine": self.params.byzantine,
            "adversary": self.params.adversary,
            "k": self.params.k,
            "alpha_p": self.params.alpha_p,
            "alpha_c": self.params.alpha_c,
            "beta": self.params.beta,
            "initial_ones": self.params.initial_one_count,
            "exact": self.exact,
            "p_conflict": [float(p) for p in self.p_conflict],
            "p_final": [float(p) for p in self.p_final],
            "p_all_ones": [float(p) for p in self.p_all_ones],
            "states": self.states,
            "mass_error": self.mass_error,
            "seconds": self.seconds,
        }


def _normalise(params: SnowParams, t: NodeType) -> NodeType:
    col, last, cnt, d0, d1, decided = t
    if params.protocol == "slush":
        return (col, col, 0, 0, 0, 0)
    if decided:  # a decided node only answers, with its decision (lastcol)
        return (last, last, 0, 0, 0, 1)
    if params.protocol == "snowflake":
        return (col, col, cnt, 0, 0, 0)
    low = min(d0, d1)
    return (col, last, cnt, d0 - low, d1 - low, 0)


def _initial(params: SnowParams) -> ChainState:
    ones = params.initial_one_count
    zeros = params.correct - ones
    pairs = [(_normalise(params, (c, c, 0, 0, 0, 0)), m) for c, m in ((0, zeros), (1, ones)) if m]
    return tuple(sorted(pairs))


# Outcome of one poll: (majority colour or -1, its count as far as the rules care)
Outcome = tuple[int, int]


def _outcomes(params: SnowParams) -> tuple[Outcome, ...]:
    strong = [(c, params.alpha_c) for c in (0, 1)]
    weak = [(c, params.alpha_p) for c in (0, 1)] if params.alpha_p < params.alpha_c else []
    return (*strong, *weak, (-1, 0))


@functools.cache
def _next_type(params: SnowParams, t: NodeType, outcome: Outcome) -> NodeType:
    """The querier's next type: ``snow_sim.apply_polls`` on a one-node state."""
    col, last, cnt, d0, d1, decided = t
    state = SimState(
        pref=np.array([col], dtype=np.int8),
        last=np.array([last], dtype=np.int8),
        cnt=np.array([cnt], dtype=np.int32),
        strength=np.array([[d0, d1]], dtype=np.int32),
        decided=np.array([bool(decided)]),
        decided_round=np.array([-1], dtype=np.int32),
    )
    new = apply_polls(
        params,
        state,
        np.array([0]),
        np.array([outcome[0]], dtype=np.int8),
        np.array([outcome[1]], dtype=np.int32),
        1,
    )
    raw = (
        int(new.pref[0]),
        int(new.last[0]),
        int(new.cnt[0]),
        int(new.strength[0, 0]),
        int(new.strength[0, 1]),
        int(new.decided[0]),
    )
    return _normalise(params, raw)


def _byzantine_answer(params: SnowParams, own: int, ones: int) -> int | None:
    """The adversary's answer to a querier of colour ``own`` (as ``snow_sim.byzantine_answers``)."""
    if params.adversary == "silent":
        return None
    if params.adversary == "echo":
        return own
    zeros = params.correct - ones
    if ones == zeros:
        return 1 - own
    return 1 if ones < zeros else 0


@functools.cache
def _outcome_probabilities(
    params: SnowParams, own: int, ones: int, exact: bool
) -> tuple[tuple[Outcome, Any], ...]:
    """P(outcome) of one poll by a querier of colour ``own`` when ``ones`` correct prefer 1."""
    others = params.nodes - 1
    byz = _byzantine_answer(params, own, ones)
    answering = {
        1: ones - (own == 1) + params.byzantine * (byz == 1),
        0: params.correct - ones - (own == 0) + params.byzantine * (byz == 0),
    }
    total = math.comb(others, params.k)

    def mass(colour: int, low: int, high: int) -> Fraction:
        r = answering[colour]
        ways = sum(math.comb(r, j) * math.comb(others - r, params.k - j) for j in range(low, high))
        return Fraction(ways, total)

    result: list[tuple[Outcome, Fraction]] = []
    k, ap, ac = params.k, params.alpha_p, params.alpha_c
    for colour in (0, 1):
        result.append(((colour, ac), mass(colour, ac, k + 1)))
    if ap < ac:
        for colour in (0, 1):
            result.append(((colour, ap), mass(colour, ap, ac)))
    result.append(((-1, 0), 1 - sum(p for _, p in result)))
    if exact:
        return tuple((o, p) for o, p in result if p)
    return tuple((o, float(p)) for o, p in result if p)


def _compositions(m: int, parts: int) -> Iterator[tuple[int, ...]]:
    if parts == 1:
        yield (m,)
        return
    for first in range(m + 1):
        for rest in _compositions(m - first, parts - 1):
            yield (first, *rest)


def _group_moves(
    params: SnowParams, t: NodeType, m: int, ones: int, exact: bool
) -> list[tuple[dict[NodeType, int], Any]]:
    """Where ``m`` nodes of type ``t`` go in one round: (type counts, probability) pairs."""
    if t[5] and params.protocol != "slush":  # decided: no more queries
        return [({t: m}, 1)]
    targets: dict[NodeType, Any] = {}
    for outcome, p in _outcome_probabilities(params, t[0], ones, exact):
        nxt = _next_type(params, t, outcome)
        targets[nxt] = targets.get(nxt, 0) + p
    items = sorted(targets.items())
    moves = []
    for split in _compositions(m, len(items)):
        weight: Any = math.factorial(m)
        for a in split:
            weight //= math.factorial(a)
        prob: Any = weight
        for (_, p), a in zip(items, split, strict=True):
            if a:
                prob *= p**a
        if prob:
            moves.append(({nt: a for (nt, _), a in zip(items, split, strict=True) if a}, prob))
    return moves


def _transition(params: SnowParams, state: ChainState, exact: bool) -> dict[ChainState, Any]:
    ones = sum(m for t, m in state if t[0] == 1)
    partial: dict[tuple[tuple[NodeType, int], ...], Any] = {(): 1}
    for t, m in state:
        moves = _group_moves(params, t, m, ones, exact)
        merged: dict[tuple[tuple[NodeType, int], ...], Any] = {}
        for acc, p in partial.items():
            base = dict(acc)
            for counts, q in moves:
                combined = dict(base)
                for nt, a in counts.items():
                    combined[nt] = combined.get(nt, 0) + a
                key = tuple(sorted(combined.items()))
                merged[key] = merged.get(key, 0) + p * q
        partial = merged
    return partial


def _step_transition(params: SnowParams, state: ChainState, exact: bool) -> dict[ChainState, Any]:
    """One step of the sequential scheduler: a uniformly chosen active node polls and updates."""
    ones = sum(m for t, m in state if t[0] == 1)
    active = [(t, m) for t, m in state if params.protocol == "slush" or not t[5]]
    total = sum(m for _, m in active)
    if total == 0:
        return {state: 1}
    result: dict[ChainState, Any] = {}
    for t, m in active:
        chosen = Fraction(m, total) if exact else m / total
        for outcome, p in _outcome_probabilities(params, t[0], ones, exact):
            counts = dict(state)
            counts[t] -= 1
            if not counts[t]:
                del counts[t]
            nt = _next_type(params, t, outcome)
            counts[nt] = counts.get(nt, 0) + 1
            key = tuple(sorted(counts.items()))
            result[key] = result.get(key, 0) + chosen * p
    return result


def _conflict(params: SnowParams, state: ChainState) -> bool:
    if params.protocol == "slush":
        return len({t[0] for t, _ in state}) > 1
    return len({t[0] for t, _ in state if t[5]}) > 1


def _all_ones(state: ChainState) -> bool:
    return all(t[0] == 1 for t, _ in state)


def _final(params: SnowParams, state: ChainState) -> bool:
    if params.protocol == "slush":
        return len({t[0] for t, _ in state}) == 1
    return all(t[5] for t, _ in state)


def analyse(params: SnowParams, rounds: int, exact: bool = True) -> ExactResult:
    """The chain's distribution after 0..``rounds`` rounds, as conflict and finality probabilities.

    Meant for small networks (a few to ~30 correct nodes for Slush, up to ~8 for Snowflake and
    Snowball, whose counters multiply the node types); ``params.mutant`` is honoured.
    """
    if rounds < 0:
        raise ValueError(f"rounds must be non-negative, got {rounds}")
    started = time.perf_counter()
    cache: dict[ChainState, dict[ChainState, Any]] = {}
    dist: dict[ChainState, Any] = {_initial(params): Fraction(1) if exact else 1.0}
    seen = set(dist)
    zero: Any = Fraction(0) if exact else 0.0
    conflict = [sum((p for s, p in dist.items() if _conflict(params, s)), zero)]
    final = [sum((p for s, p in dist.items() if _final(params, s)), zero)]
    all_ones = [sum((p for s, p in dist.items() if _all_ones(s)), zero)]
    sequential = params.scheduler == "sequential"
    step = _step_transition if sequential else _transition
    for _ in range(rounds):
        for _ in range(params.correct if sequential else 1):
            nxt: dict[ChainState, Any] = {}
            for state, p in dist.items():
                if state not in cache:
                    cache[state] = step(params, state, exact)
                for target, q in cache[state].items():
                    nxt[target] = nxt.get(target, 0) + p * q
            dist = nxt
            seen.update(dist)
        conflict.append(sum((p for s, p in dist.items() if _conflict(params, s)), zero))
        final.append(sum((p for s, p in dist.items() if _final(params, s)), zero))
        all_ones.append(sum((p for s, p in dist.items() if _all_ones(s)), zero))
    total = sum(dist.values())
    return ExactResult(
        params=params,
        exact=exact,
        p_conflict=tuple(conflict),
        p_final=tuple(final),
        p_all_ones=tuple(all_ones),
        states=len(seen),
        mass_error=abs(1.0 - float(total)),
        seconds=time.perf_counter() - started,
    )


# -- The simulator against the chain --------------------------------------------------------------

Z_999 = 3.2905267314919255  # the standard normal's 99.95 % quantile: two-sided 99.9 % intervals


@attrs.frozen
class Comparison:
    """The chain's exact probabilities after ``rounds`` and the simulator's estimates of them."""

    exact_conflict: float
    exact_final: float
    runs: int
    conflicts: int  # runs with a conflicting decision by the last round (Slush: not unanimous)
    finals: int  # runs in which every correct node decided (Slush: unanimous) by the last round
    conflict_ci: tuple[float, float]
    final_ci: tuple[float, float]

    @property
    def inside(self) -> bool:
        """Both exact values lie inside the simulator's intervals."""
        low_c, high_c = self.conflict_ci
        low_f, high_f = self.final_ci
        return low_c <= self.exact_conflict <= high_c and low_f <= self.exact_final <= high_f


def compare(
    params: SnowParams, rounds: int, seeds: range, z: float = Z_999, exact: bool = True
) -> Comparison:
    """Run the simulator for exactly ``rounds`` rounds on every seed and compare with ``analyse``.

    ``params`` gives the protocol, network, adversary and mutant; its ``max_rounds`` is replaced
    by ``rounds`` (for Slush that is its m). The intervals are Wilson score intervals at ``z``.
    The chain is computed in exact arithmetic unless ``exact`` is false.
    """
    chain = analyse(params, rounds, exact=exact)
    run_params = attrs.evolve(params, max_rounds=rounds)
    runs = [run_once(run_params, seed) for seed in seeds]
    conflicts = sum(run.conflict for run in runs)
    if params.protocol == "slush":
        finals = sum(run.ones_fraction[-1] in (0.0, 1.0) for run in runs)
    else:
        finals = sum(run.finality_round is not None for run in runs)
    return Comparison(
        exact_conflict=float(chain.p_conflict[-1]),
        exact_final=float(chain.p_final[-1]),
        runs=len(runs),
        conflicts=conflicts,
        finals=finals,
        conflict_ci=wilson_interval(conflicts, len(runs), z),
        final_ci=wilson_interval(finals, len(runs), z),
    )


def slush_absorption(params: SnowParams) -> Fraction:
    """P(Slush ends with every correct node on colour 1), from ``params.initial_one_count``.

    The paper's birth–death chain: under the sequential scheduler the number x of correct nodes
    of colour 1 moves up with probability ∝ p_x = (n_c − x)·P(a colour-0 node sees ≥ αp ones) and
    down with q_x = x·P(a colour-1 node sees ≥ αp zeros). With 0 and n_c absorbing, the
    probability h(x) of absorption at n_c solves h(0) = 0, h(n_c) = 1 and
    (p_x + q_x)·h(x) = p_x·h(x + 1) + q_x·h(x − 1) (a state with p_x = q_x = 0 is stuck: h = 0);
    the tridiagonal system is solved exactly (Fractions, Thomas algorithm). Where every p_x > 0
    this is the gambler's-ruin sum Σ_{i<x₀} Π_{j≤i} q_j/p_j / Σ_{i<n_c} Π_{j≤i} q_j/p_j.
    Raises ``ValueError`` if the protocol is not Slush, if the adversary keeps 0 or n_c from
    absorbing, or if two neighbouring states trap the chain between them.
    """
    if params.protocol != "slush":
        raise ValueError("the birth–death chain describes Slush")
    nc = params.correct

    def moves(own: int, x: int) -> Fraction:  # P(a node of colour ``own`` switches colour)
        outcomes = _outcome_probabilities(params, own, x, True)
        return sum((p for (c, _), p in outcomes if c == 1 - own), Fraction(0))

    if moves(0, 0) or moves(1, nc):
        raise ValueError("0 and n_c are not absorbing under this adversary")
    x0 = params.initial_one_count
    if x0 in (0, nc):
        return Fraction(int(x0 == nc))
    # forward sweep over x = 1 .. n_c − 1: h(x) = d'(x) − c'(x)·h(x + 1)
    c_prime: list[Fraction] = []
    d_prime: list[Fraction] = []
    for x in range(1, nc):
        p, q = (nc - x) * moves(0, x), x * moves(1, x)
        if not p and not q:  # stuck: the network stays split forever
            c_prime.append(Fraction(0))
            d_prime.append(Fraction(0))
            continue
        a, b, c = -q, p + q, -p
        d = p if x == nc - 1 else Fraction(0)  # h(n_c) = 1 moved to the right-hand side
        c = Fraction(0) if x == nc - 1 else c
        previous_c = c_prime[-1] if c_prime else Fraction(0)
        previous_d = d_prime[-1] if d_prime else Fraction(0)
        denominator = b - a * previous_c
        if not denominator:
            raise ValueError(f"states {x - 1} and {x} trap the chain between them")
        c_prime.append(c / denominator)
        d_prime.append((d - a * previous_d) / denominator)
    h = [Fraction(0)] * (nc + 1)
    h[nc] = Fraction(1)
    for x in range(nc - 1, 0, -1):
        h[x] = d_prime[x - 1] - c_prime[x - 1] * (h[x + 1] if x < nc - 1 else 0)
    return h[x0]
