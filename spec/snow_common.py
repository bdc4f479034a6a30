"""What Slush, Snowflake and Snowball share: parameters, the node's abstract state, the rules.

Sources
    Team Rocket (Rocket, Yin, Sekniqi, van Renesse, Sirer), "Scalable and Probabilistic
    Leaderless BFT Consensus through Metastability", arXiv:1906.08936 v2+ (2019/2020):
    Figure 1 (Slush), Figure 2 (Snowflake), Figure 3 (Snowball). A node repeatedly samples
    ``k`` peers (``K := sample(N \\ u, k)``), queries them (``P := [query(v, col) for v in K]``)
    and updates its colour and counters from the answers ``P``.
    avalanchego, ``snow/consensus/snowball/parameters.go`` (``Parameters.Verify``): the dual
    thresholds ``K/2 < AlphaPreference <= AlphaConfidence <= K`` and ``0 < Beta``;
    ``binary_snowflake.go`` and ``binary_snowball.go`` (``RecordPoll``): a poll with at least
    ``AlphaPreference`` votes for a colour is *successful* (it may move the preference), and it
    counts towards confidence only when it also has ``AlphaConfidence`` votes; a successful poll
    below ``AlphaConfidence`` resets the consecutive counter. With ``alpha_preference ==
    alpha_confidence`` these are exactly the paper's rules with its single ``alpha``.

Sampling is an input
    A round is "given the colours the ``k`` sampled peers answered, update the state": the
    sample and the answers are inputs (a seeded source in simulation, a nondeterministic choice
    in the model checker), so every run replays. Colours are ``0 .. colours-1`` (the paper's R
    and B are 0 and 1; more than two colours follow avalanchego's n-ary instances).

Departure from the paper: no uncoloured node
    Figure 1 lines 1-3 (``onQuery``: an uncoloured node, ``col = ⊥``, adopts the querier's
    colour) and the ``if col = ⊥ then continue`` lines are out of scope here: every node starts
    with a colour, as the client's transaction gives it one. The rules below are the figures'
    loop bodies for a coloured node.

Departure from the original design notes
    The notes' snowflake and snowball do not follow the paper's counter rules (their counter is
    not reset by an unsuccessful query, and it is reset to 0 instead of set to 1 on a colour
    change). The specs in this family follow the paper (v2+ figures) and avalanchego instead.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import attrs

Colour = int

# -- Parameters (avalanchego parameters.go, Parameters.Verify) ----------------------------------


@attrs.frozen
class Params:
    """The snowball parameters: sample size, the two quorums, the decision threshold.

    ``rounds`` is Slush's ``m`` (Figure 1 line 6: a fixed number of rounds, then ``accept``);
    the other protocols ignore it. ``colours`` is the number of colours (2 in the paper).
    """

    k: int
    alpha_preference: int
    alpha_confidence: int
    beta: int
    colours: int = 2
    rounds: int = 1


class ParamReason(enum.Enum):
    """Why a parameter set is refused (avalanchego's ``Verify`` conditions, in its order)."""

    #: the sample is empty: k must be at least 1
    K_NOT_POSITIVE = "k_not_positive"
    #: k/2 < alpha_preference fails: two disjoint preference quorums could fit in one sample
    ALPHA_PREFERENCE_NOT_ABOVE_HALF_K = "alpha_preference_not_above_half_k"
    #: alpha_preference <= alpha_confidence fails
    ALPHA_CONFIDENCE_BELOW_ALPHA_PREFERENCE = "alpha_confidence_below_alpha_preference"
    #: alpha_confidence <= k fails: no sample could ever reach it
    ALPHA_CONFIDENCE_ABOVE_K = "alpha_confidence_above_k"
    #: 0 < beta fails
    BETA_NOT_POSITIVE = "beta_not_positive"
    #: fewer than two colours: there is nothing to agree on
    TOO_FEW_COLOURS = "too_few_colours"
    #: Slush's m (rounds) must be at least 1
    ROUNDS_NOT_POSITIVE = "rounds_not_positive"
    #: k exceeds the other nodes: ``sample(N \\ u, k)`` has no k peers to draw
    K_ABOVE_PEERS = "k_above_peers"


def param_problem(params: Params, nodes: int | None = None) -> ParamReason | None:
    """None if ``params`` is a valid configuration (for ``nodes`` nodes, when given), else the
    first condition it fails."""
    # Verify the sample is not empty
    if params.k < 1:
        return ParamReason.K_NOT_POSITIVE
    # Verify k/2 < alpha_preference (2 * alpha_preference > k: integers, no rounding)
    if 2 * params.alpha_preference <= params.k:
        return ParamReason.ALPHA_PREFERENCE_NOT_ABOVE_HALF_K
    # Verify alpha_preference <= alpha_confidence
    if params.alpha_confidence < params.alpha_preference:
        return ParamReason.ALPHA_CONFIDENCE_BELOW_ALPHA_PREFERENCE
    # Verify alpha_confidence <= k
    if params.alpha_confidence > params.k:
        return ParamReason.ALPHA_CONFIDENCE_ABOVE_K
    # Verify 0 < beta
    if params.beta < 1:
        return ParamReason.BETA_NOT_POSITIVE
    # Verify there are colours to choose between
    if params.colours < 2:
        return ParamReason.TOO_FEW_COLOURS
    # Verify Slush runs at least one round
    if params.rounds < 1:
        return ParamReason.ROUNDS_NOT_POSITIVE
    # Verify a node has k peers to sample (the sample excludes the node itself)
    if nodes is not None and params.k > nodes - 1:
        return ParamReason.K_ABOVE_PEERS
    return None


# -- The abstract node state ---------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class NodeState:
    """One node's variables, named as in the figures.

    Every protocol uses ``col`` and ``decided``; Slush adds ``polls`` (the round ``r``);
    Snowflake adds ``cnt``; Snowball adds ``d`` and ``lastcol``. A protocol leaves the
    variables it does not use at their initial value.
    """

    # preference: the node's current colour (Figure 1-3 ``col``)
    col: Colour
    # consecutive successes: Figure 2 ``cnt`` (Snowflake), Figure 3 ``cnt`` (Snowball)
    cnt: int
    # confidence: Figure 3 ``d[colour]``, the number of successful queries per colour
    d: tuple[int, ...]
    # the colour of the last successful query: Figure 3 ``lastcol``
    lastcol: Colour
    # decision: the accepted colour, or None while undecided (``accept(col)``)
    decided: Colour | None
    # rounds done: Figure 1's ``r`` (Slush stops after m of them)
    polls: int


def initial(colour: Colour, colours: int) -> NodeState:
    """Figure 2 line 2 / Figure 3 lines 2-3: ``col := col0``, counters at 0."""
    return NodeState(col=colour, cnt=0, d=(0,) * colours, lastcol=colour, decided=None, polls=0)


def tally(responses: Sequence[Colour], colours: int) -> tuple[int, ...]:
    """``P.count(col')`` for every colour: how many sampled peers answered each colour."""
    counts = [0] * colours
    for colour in responses:
        counts[colour] += 1
    return tuple(counts)


# -- The observed history: what the checks compare the counters with ----------------------------


@attrs.frozen(cache_hash=True)
class Observed:
    """What a node's polls were, recorded by the checker from the answers alone.

    The counters of a correct node are functions of this record; the invariants compare them,
    so a wrong counter rule shows up however it is written. Recorded only while the node is
    undecided (a decided node runs no more rounds).
    """

    # the node's initial colour (``col0``)
    start: Colour
    # polls answered (a decided node's late answers too; the rest stops at the decision)
    polls: int
    # for each colour, the polls in which it had at least alpha_preference votes
    majorities: tuple[int, ...]
    # the colour of the last poll with an alpha_preference majority (None: none yet)
    last_majority: Colour | None
    # the trailing run of polls each with at least alpha_confidence votes for run_colour
    run_colour: Colour | None
    run_length: int


def nothing_observed(start: Colour, colours: int) -> Observed:
    return Observed(start, 0, (0,) * colours, None, None, 0)


def observe(params: Params, seen: Observed, responses: Sequence[Colour]) -> Observed:
    """``seen`` after one more poll answered ``responses`` (thresholds as defined above)."""
    counts = tally(responses, params.colours)
    winner = next((c for c, n in enumerate(counts) if n >= params.alpha_preference), None)
    majorities = seen.majorities
    if winner is not None:
        majorities = tuple(m + (c == winner) for c, m in enumerate(majorities))
    strong = next((c for c, n in enumerate(counts) if n >= params.alpha_confidence), None)
    if strong is None:
        run_colour, run_length = None, 0
    elif strong == seen.run_colour:
        run_colour, run_length = strong, seen.run_length + 1
    else:
        run_colour, run_length = strong, 1
    return Observed(
        start=seen.start,
        polls=seen.polls + 1,
        majorities=majorities,
        last_majority=winner if winner is not None else seen.last_majority,
        run_colour=run_colour,
        run_length=run_length,
    )


# -- Predicates every protocol of the family states ---------------------------------------------


def preference_valid(params: Params, state: NodeState) -> bool:
    """The preference (and a decision) is one of the configured colours."""
    valid = range(params.colours)
    return state.col in valid and state.lastcol in valid and state.decided in (None, *valid)


def decision_stable(pre: NodeState, post: NodeState) -> bool:
    """A decision never changes: once ``accept(col)`` ran, ``decided`` stays."""
    return pre.decided is None or post.decided == pre.decided


def observe_late(seen: Observed) -> Observed:
    """``seen`` after an answer that reached a node already decided: only the count grows."""
    return attrs.evolve(seen, polls=seen.polls + 1)


def count_for(params: Params, responses: Sequence[Colour], colour: Colour) -> int:
    """``P.count(colour)``, for a colour that may be out of range (then 0 if never answered)."""
    return sum(1 for answered in responses if answered == colour)
