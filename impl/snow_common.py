"""The sans-IO node of the Snow family: ``step(node, event) -> (node, effects)``.

Refines :mod:`mnemosyne_consensus.spec.slush`, :mod:`~mnemosyne_consensus.spec.snowflake` and
:mod:`~mnemosyne_consensus.spec.snowball` (Team Rocket, arXiv:1906.08936 v2+, Figures 1-3).
The protocol-specific bookkeeping follows avalanchego's ``snow/consensus/snowball``
(``binary_slush.go``, ``binary_snowflake.go``, ``binary_snowball.go``: ``RecordPoll`` with a
vote count and a choice, ``RecordUnsuccessfulPoll``); each protocol's module supplies its
``record_poll`` and this module does what they share: parameter checks, validation of a
query's responses with typed faults, and the step function.

Events
    ``PollResponse(responses)`` -- the answers to one query of ``k`` sampled peers, as
        ``(responder, colour)`` pairs (the sample is the caller's: sampling is an input).
        Handler name ``receive``.

Effects (one frozen record)
    ``decided`` -- the colour the node accepted in this step (None if it did not decide now);
    ``faults``  -- the responses were malformed: the state is unchanged.

Faults (:class:`FaultKind`): a response set that is not ``k`` pairs, names a responder that is
not another node of the configuration, names one responder twice, or carries a colour that is
not configured. A response set that arrives after the node decided is ignored (the loop ended:
``while undecided``), without a fault.

Parameters are refused at construction with a typed :class:`~.spec.snow_common.ParamReason`
(avalanchego's ``Parameters.Verify``: ``K/2 < AlphaPreference <= AlphaConfidence <= K``,
``0 < Beta``) unless the caller passes ``allow_unsafe=True`` -- for experiments on unsafe
configurations, never for a deployment. No clocks, randomness or I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..spec.snow_common import ParamReason, Params, param_problem

Colour = int


class FaultKind(enum.Enum):
    """Why a query's responses were rejected. The node's state is left unchanged."""

    #: the responses are not a tuple of (responder, colour) pairs
    MALFORMED_RESPONSES = "malformed_responses"
    #: the number of responses is not the sample size k
    WRONG_SAMPLE_SIZE = "wrong_sample_size"
    #: a responder is not another node of the configuration (out of range, not an integer,
    #: or the node itself: the sample is drawn from N minus u)
    UNKNOWN_RESPONDER = "unknown_responder"
    #: one responder answers twice in one sample (a sample is a set of peers)
    DUPLICATE_RESPONDER = "duplicate_responder"
    #: a colour that is not one of the configured colours
    UNKNOWN_COLOUR = "unknown_colour"


@attrs.frozen
class Fault:
    responder: Any  # the offending responder, or None when the whole set is at fault
    kind: FaultKind
    detail: str


class ParameterError(ValueError):
    """A node was configured with parameters that fail avalanchego's conditions (local misuse)."""

    def __init__(self, reason: ParamReason, params: Params) -> None:
        super().__init__(f"{reason.value}: {params}")
        self.reason = reason
        self.params = params


# -- State, events, effects ----------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class Node:
    # identity and configuration
    node: int
    n: int
    params: Params
    # slush (binary_slush.go): the preference
    preference: Colour
    # snowflake (binary_snowflake.go): consecutive successes, the choice they count, finalized
    confidence: int
    last: Colour
    decided: Colour | None
    # snowball (binary_snowball.go): successful polls per colour ("preferenceStrength")
    strength: tuple[int, ...]
    # slush: the rounds run (Figure 1's r; Slush accepts after m = params.rounds)
    polls: int


@attrs.frozen
class PollResponse:
    responses: Any  # tuple of (responder, colour) pairs; anything a peer sends


Event = PollResponse


@attrs.frozen
class Effects:
    decided: Colour | None = None
    faults: tuple[Fault, ...] = ()


def new(node: int, n: int, params: Params, colour: Colour, *, allow_unsafe: bool = False) -> Node:
    """A node with initial colour ``colour``; refuses unsafe parameters unless asked not to."""
    if not (isinstance(node, int) and 0 <= node < n):
        raise ValueError(f"node id {node!r} out of range for {n} nodes")
    problem = param_problem(params, n)
    if problem is not None and not allow_unsafe:
        raise ParameterError(problem, params)
    if not (isinstance(colour, int) and 0 <= colour < params.colours):
        raise ValueError(f"initial colour {colour!r} is not one of {params.colours} colours")
    return Node(
        node=node,
        n=n,
        params=params,
        preference=colour,
        confidence=0,
        last=colour,
        decided=None,
        strength=(0,) * params.colours,
        polls=0,
    )


# -- Validation ----------------------------------------------------------------------------------


def is_nat(value: Any) -> bool:
    """A natural number (bool is not one, though Python thinks it is an int)."""
    return type(value) is int and value >= 0


def validate(node: Node, responses: Any) -> tuple[FaultKind, Any, str] | None:
    """None if ``responses`` may be counted, else the fault kind, responder and a reason."""
    # Verify the shape: a tuple of (responder, colour) pairs
    if not isinstance(responses, tuple) or not all(
        isinstance(pair, tuple) and len(pair) == 2 for pair in responses
    ):
        return FaultKind.MALFORMED_RESPONSES, None, "not a tuple of (responder, colour) pairs"
    # Verify the sample has k members
    if len(responses) != node.params.k:
        return (
            FaultKind.WRONG_SAMPLE_SIZE,
            None,
            f"{len(responses)} responses for a sample of k = {node.params.k}",
        )
    seen: set[int] = set()
    for responder, colour in responses:
        # Verify the responder is another node (the sample is drawn from N minus u)
        if not (is_nat(responder) and responder < node.n and responder != node.node):
            return FaultKind.UNKNOWN_RESPONDER, responder, f"node {node.node} has no peer it"
        # Verify nobody answers twice
        if responder in seen:
            return FaultKind.DUPLICATE_RESPONDER, responder, "answered twice in one sample"
        seen.add(responder)
        # Verify the colour is configured
        if not (is_nat(colour) and colour < node.params.colours):
            return FaultKind.UNKNOWN_COLOUR, responder, f"colour {colour!r} is not configured"
    return None


def counts_of(node: Node, responses: tuple[tuple[int, Colour], ...]) -> dict[Colour, int]:
    """Votes per answered colour (the poll's "bag", avalanchego ``bag.Bag``)."""
    bag: dict[Colour, int] = {}
    for _, colour in responses:
        bag[colour] = bag.get(colour, 0) + 1
    return bag


def poll_winner(node: Node, bag: Mapping[Colour, int], alpha: int) -> Colour | None:
    """The configured colour with at least ``alpha`` votes, if any (``bag.Mode``)."""
    for colour in range(node.params.colours):
        if bag.get(colour, 0) >= alpha:
            return colour
    return None


# -- What a node computes with -------------------------------------------------------------------


@attrs.frozen
class Ops:
    """The parts a node computes with. The model swaps deliberate bugs (mutants) in here."""

    validate: Callable[[Node, Any], tuple[FaultKind, Any, str] | None] = validate
    # the colour a poll is successful for, at a threshold
    winner: Callable[[Node, Mapping[Colour, int], int], Colour | None] = poll_winner
    # the threshold a successful poll needs (alpha_preference) and the confidence one
    preference_quorum: Callable[[Params], int] = lambda p: p.alpha_preference
    confidence_quorum: Callable[[Params], int] = lambda p: p.alpha_confidence
    # binary_snowflake.go: "finalized = confidence >= beta"
    finalizes: Callable[[int, int], bool] = lambda confidence, beta: confidence >= beta
    # RecordUnsuccessfulPoll clears the confidence
    unsuccessful: Callable[[int], int] = lambda confidence: 0
    # a change of choice clears the confidence before the poll is counted
    on_change: Callable[[int], int] = lambda confidence: 0
    # binary_snowball.go: "if preferenceStrength[choice] > preferenceStrength[preference]"
    stronger: Callable[[tuple[int, ...], Colour, Colour], bool] = (
        lambda strength, choice, preference: strength[choice] > strength[preference]
    )
    # an unsuccessful poll changes no preference strength
    strength_unsuccessful: Callable[[tuple[int, ...], Colour], tuple[int, ...]] = (
        lambda strength, preference: strength
    )
    # "while undecided": a finalized node ignores late polls
    done: Callable[[Node], bool] = lambda node: node.decided is not None
    # Slush accepts after m rounds
    rounds_over: Callable[[int, int], bool] = lambda polls, rounds: polls >= rounds


STANDARD_OPS = Ops()

Record = Callable[[Node, dict[Colour, int], Ops], Node]


def step(node: Node, event: Event, record: Record, ops: Ops | None = None) -> tuple[Node, Effects]:
    """The node's whole behaviour: one query's responses in, the new state and effects out."""
    ops = ops or STANDARD_OPS
    if not isinstance(event, PollResponse):
        raise TypeError(f"node {node.node} cannot handle event {event!r}")
    problem = ops.validate(node, event.responses)
    if problem is not None:
        kind, responder, detail = problem
        return node, Effects(faults=(Fault(responder, kind, detail),))
    if ops.done(node):
        return node, Effects()
    post = record(node, counts_of(node, event.responses), ops)
    newly = post.decided if post.decided is not None and post.decided != node.decided else None
    return post, Effects(decided=newly)
