"""Avalanche DAG: bounded model, mutants, a Hypothesis machine, the oracle and a benchmark.

Source: Team Rocket 2019/2020, §4, Figures 4 and 5 (see :mod:`mnemosyne_consensus.spec.avalanche`).

The explored state is one *implementation* node (:class:`impl.NodeState`): its local view is
all the paper's rules read or write, so the exhaustive model is that view. Its inputs are
nondeterministic: which transaction of a small fixed universe arrives next (gossip, or a peer's
query), which known transaction it queries, and how many of the ``k`` sampled peers answer yes
(every count from 0 to k: Byzantine responders may answer anything, so every count is possible).
After every step the checker evaluates, on the abstraction (:func:`abstract`, a
:class:`spec.View`),

* the spec's invariants: ``ancestry_closed``, ``preference_in_conflict_set``,
  ``no_conflicting_acceptance``, ``chits_only_for_queried``; and the impl's
  ``confidence_is_progeny_sum`` (its incremental ``d(T)`` is §4's sum over the progeny);
* step properties: ``decision_final`` (an accepted transaction stays accepted),
  ``acceptance_meets_threshold`` (a new acceptance satisfies Fig. 5's ``isAccepted``),
  ``chit_rule``, ``counter_rule`` and ``preference_rule`` (Fig. 4, field by field),
  ``answer_rule`` (a peer's query is answered with ``isStronglyPreferred``), ``refinement``
  (the step is the enabled spec action it stands for -- ``ReceiveTx``, or ``Query`` followed
  by every enabled ``Accept`` -- or a stutter) and ``faults_change_nothing`` (an input the node
  refuses, and every event of a fixed forged alphabet, leaves the state unchanged).

Every always-property has a mutant (:data:`MUTANTS`, bugs put in the impl's :class:`NodeOps`;
the spec stays the paper's, so most mutants also break ``refinement``) that breaks it with a
trace when the check is restricted to the property its record names. Cross-node agreement is
probabilistic in Avalanche; the Hypothesis machine runs 6 nodes (one Byzantine responder) to
exercise the impl at scale, and the benchmark reports the rate of conflicting decisions.

Measured (one core, each a complete exhaustive run): ``small`` 833 distinct states in about 0.8 s,
``tiny`` 173 in 0.1 s, ``chain`` 3,871 in about 5 s (82,701 transitions; every transition
replays the step properties, which read the spec's progeny sums). A larger universe (a third
spender of nullifier 0) has 11,558 states and takes about 20 s; it is left to the Hypothesis
machine and the benchmark.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from ..impl import avalanche as impl
from ..spec import avalanche as spec
from ..spec.properties import Invariant, StepProperty
from .codec import (
    JSON,
    DecodeError,
    enum_values,
    expect_array,
    expect_int,
    expect_object,
    object_schema,
    plain_from_json,
    plain_to_json,
)
from .engine import Model
from .machines import require
from .registry_types import Config, Mutant, ProtocolEntry
from .vectors import OracleBinding

# -- Model actions (impl events handed to node 0) ------------------------------------------------


@attrs.frozen
class Deliver:
    """A transaction of the universe arrives by gossip."""

    tx: impl.TxMessage

    def __str__(self) -> str:
        return f"receive tx {self.tx.id} (spends {self.tx.nullifier}, parents {self.tx.parents})"


@attrs.frozen
class Answer:
    """Peer 1 queries the node about a transaction of the universe."""

    tx: impl.TxMessage

    def __str__(self) -> str:
        return f"peer 1 queries tx {self.tx.id}"


@attrs.frozen
class Poll:
    """The node's query of ``tx``: ``yes`` of the k sampled peers (1..k) answered yes."""

    tx: int
    yes: int
    k: int

    def event(self) -> impl.PollResult:
        votes = (False,) * (self.k - self.yes) + (True,) * self.yes
        return impl.PollResult(self.tx, tuple((r + 1, v) for r, v in enumerate(votes)))

    def __str__(self) -> str:
        return f"query tx {self.tx}: {self.yes} of {self.k} yes"


@attrs.frozen
class Forged:
    """An event of the fixed forged alphabet; ``label`` names the fault it must raise."""

    label: str
    event: Any

    def __str__(self) -> str:
        return f"forged ({self.label}): {self.event!r}"


ModelAction = Deliver | Answer | Poll | Forged


def impl_event(action: ModelAction) -> impl.Event:
    if isinstance(action, Deliver):
        return impl.ReceiveTx(action.tx)
    if isinstance(action, Answer):
        return impl.PeerQuery(1, action.tx)
    if isinstance(action, Poll):
        return action.event()
    return action.event


# -- Configuration -------------------------------------------------------------------------------


def params_of(config: Config) -> impl.Params:
    p = config.params
    return impl.Params(p["k"], p["alpha"], p["beta1"], p["beta2"])


def spec_params(params: impl.Params) -> spec.Params:
    return spec.Params(params.k, params.alpha, params.beta1, params.beta2)


def universe_of(config: Config) -> tuple[impl.TxMessage, ...]:
    return tuple(impl.TxMessage(i, n, tuple(ps)) for i, n, ps in config.params["universe"])


def forged_events(
    universe: tuple[impl.TxMessage, ...], k: int
) -> tuple[tuple[Forged, str | None], ...]:
    """One forged event per fault kind; the second item, when given, is the condition under
    which the event is offered (``"known"``/``"queried"``: of transaction 0).

    Assumes the universe starts as every config's does: 0 and 1 spend one nullifier, 2 builds
    on 1 and spends another, so a transaction spending 0's nullifier on top of 2 always
    conflicts with its ancestry (or names a parent not yet known).
    """
    t0, t1, t2 = universe[0], universe[1], universe[2]
    if not (t0.nullifier == t1.nullifier and t2.parents == (t1.id,)):
        raise ValueError("the forged alphabet needs universe 0, 1 conflicting and 2 on top of 1")
    ghost = max(t.id for t in universe) + 10  # an id that no transaction of the universe has
    yes = tuple((r + 1, True) for r in range(k))
    return (
        (Forged("spends nothing", impl.ReceiveTx(impl.TxMessage(ghost, None, ()))), None),
        (Forged("malformed id", impl.ReceiveTx(impl.TxMessage(-1, 0, ()))), None),
        (Forged("unknown parent", impl.ReceiveTx(impl.TxMessage(ghost, 9, (ghost + 1,)))), None),
        (
            Forged(
                "conflicting ancestry",
                impl.ReceiveTx(impl.TxMessage(ghost, t0.nullifier, (t2.id,))),
            ),
            None,
        ),
        (Forged("id reused", impl.ReceiveTx(impl.TxMessage(t0.id, t0.nullifier, (t2.id,)))), None),
        (Forged("query from self", impl.PeerQuery(0, t0)), None),
        (
            Forged(
                "query of a tx spending nothing", impl.PeerQuery(1, impl.TxMessage(ghost, None, ()))
            ),
            None,
        ),
        (Forged("responder is self", impl.PollResult(t0.id, ((0, True), *yes[1:]))), None),
        (Forged("duplicate responder", impl.PollResult(t0.id, ((1, True),) * k)), None),
        (Forged("vote not a boolean", impl.PollResult(t0.id, ((1, "yes"), *yes[1:]))), None),
        (Forged("too few answers", impl.PollResult(t0.id, yes[1:])), None),
        (Forged("unknown transaction", impl.PollResult(ghost, yes)), None),
        (Forged("already queried", impl.PollResult(t0.id, yes)), "queried"),
    )


# -- Mutants -------------------------------------------------------------------------------------


def _count_answers(votes: tuple[bool, ...]) -> int:
    return len(votes)


def _at_least(d_new: int, d_pref: int) -> bool:
    return d_new >= d_pref


def _not_on_success(success: bool) -> bool:
    return not success


def _not_on_failure(success: bool) -> bool:
    return success


def _tx_without_parent_check(
    state: impl.NodeState, message: impl.TxMessage
) -> tuple[impl.FaultKind, str] | None:
    problem = impl.validate_tx(state, message)
    if problem is not None and problem[0] is impl.FaultKind.UNKNOWN_PARENT:
        return None
    return problem


def _poll_counting_duplicates(
    state: impl.NodeState, event: impl.PollResult
) -> tuple[Any, impl.FaultKind, str] | None:
    problem = impl.validate_poll(state, event)
    if problem is not None and problem[1] is impl.FaultKind.DUPLICATE_RESPONDER:
        if impl.index_of(state, event.tx) is None or event.tx in state.queried:
            return problem  # keep the later checks, so only the duplicate itself slips through
        return None
    return problem


MUTANTS = (
    Mutant(
        "accept-despite-conflict",
        "a transaction is accepted although another member of its conflict set is accepted",
        "no_conflicting_acceptance",
    ),
    Mutant(
        "chit-from-any-answer",
        "the quorum counts every answer, not the yes (strongly preferred) answers",
        "chit_rule",
    ),
    Mutant(
        "confidence-not-summed",
        "a successful query raises only T's own d(T), not its ancestors' (no progeny sum)",
        "confidence_is_progeny_sum",
    ),
    Mutant(
        "counter-not-reset",
        "a failed query leaves P_T'.cnt as it was (no reset of the consecutive counter)",
        "counter_rule",
    ),
    Mutant(
        "pref-on-tie",
        "the preference moves when d(T') >= d(P_T'.pref) (ties switch)",
        "preference_rule",
    ),
    Mutant(
        "pref-set-to-queried",
        "P_T'.pref := T (the queried transaction) instead of T'",
        "preference_in_conflict_set",
    ),
    Mutant(
        "acceptance-not-latched",
        "acceptance is recomputed after each query, so a decision can be undone",
        "decision_final",
    ),
    Mutant(
        "early-commit-ignores-conflicts",
        "safe early commitment without |P_T| = 1",
        "acceptance_meets_threshold",
    ),
    Mutant(
        "answer-preferred-only",
        "a peer's query is answered with isPreferred(T), not isStronglyPreferred(T)",
        "answer_rule",
    ),
    Mutant(
        "success-not-marked",
        "Q := Q ∪ {T} only after a failed query: a chit without a query mark",
        "chits_only_for_queried",
    ),
    Mutant(
        "failure-not-marked",
        "Q := Q ∪ {T} only after a successful query (spec unchanged): caught by refinement",
        "refinement",
    ),
    Mutant(
        "receive-before-parents",
        "a transaction is added to the DAG before its parents are known",
        "ancestry_closed",
    ),
    Mutant(
        "duplicate-responder-counted",
        "a query response naming one responder twice is counted",
        "faults_change_nothing",
    ),
)

OPS_PATCHES: dict[str, dict[str, Any]] = {
    "accept-despite-conflict": {"exclusive": False},
    "chit-from-any-answer": {"tally": _count_answers},
    "confidence-not-summed": {"progeny_confidence": False},
    "counter-not-reset": {"reset_on_failure": False},
    "pref-on-tie": {"switch": _at_least},
    "pref-set-to-queried": {"pref_to_queried": True},
    "acceptance-not-latched": {"latch": False},
    "early-commit-ignores-conflicts": {"early_needs_single": False},
    "answer-preferred-only": {"answer": impl.is_preferred},
    "success-not-marked": {"mark_queried": _not_on_success},
    "failure-not-marked": {"mark_queried": _not_on_failure},
    "receive-before-parents": {"validate_tx": _tx_without_parent_check},
    "duplicate-responder-counted": {"validate_poll": _poll_counting_duplicates},
}


def ops_for(mutant: Mutant | str | None) -> impl.NodeOps:
    name = mutant.name if isinstance(mutant, Mutant) else mutant
    if name is None:
        return impl.STANDARD_OPS
    return attrs.evolve(impl.STANDARD_OPS, **OPS_PATCHES[name])


# -- Abstraction ---------------------------------------------------------------------------------


def abstract(node: impl.NodeState) -> spec.View:
    """The abstraction function: the impl's view without its cached confidences."""
    return spec.View(
        known=tuple(spec.Transaction(t.id, t.nullifier, t.parents) for t in node.known),
        conflicts=tuple(
            spec.ConflictSet(r.nullifier, r.members, r.pref, r.last, r.cnt) for r in node.conflicts
        ),
        queried=node.queried,
        chits=node.chits,
        accepted=node.accepted,
    )


def spec_tx(message: impl.TxMessage) -> spec.Transaction:
    return spec.Transaction(message.id, message.nullifier, message.parents)


def expected_view(
    params: spec.Params, before: spec.View, event: impl.Event
) -> spec.View | str | None:
    """The spec's post-view for an accepted impl event (None: a stutter), or why none exists."""
    if isinstance(event, impl.ReceiveTx | impl.PeerQuery):
        if spec.transaction(before, event.tx.id) is not None:
            return None  # a repeat: onReceiveTx does nothing for T ∈ 𝒯
        action: spec.Action = spec.ReceiveTx(spec_tx(event.tx))
        if not spec.enabled(before, params, action):
            return f"spec {action} is not enabled"
        return spec.next_state(before, params, action)
    votes = tuple(v for _, v in event.answers)
    query = spec.Query(event.tx, votes)
    if not spec.enabled(before, params, query):
        return f"spec {query} is not enabled"
    after, _ = spec.decide(spec.next_state(before, params, query), params)
    return after


def confidence_matches(node: impl.NodeState) -> bool:
    view = abstract(node)
    return all(
        d == spec.confidence(view, t.id) for t, d in zip(node.known, node.confidence, strict=True)
    )


# -- The model -----------------------------------------------------------------------------------


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    params = params_of(config)
    sparams = spec_params(params)
    n: int = config.params["nodes"]
    universe = universe_of(config)
    ops = ops_for(mutant)
    forged = forged_events(universe, params.k)

    def initial_states() -> Iterator[impl.NodeState]:
        yield impl.new(0, n, params)

    def actions(node: impl.NodeState) -> Iterator[ModelAction]:
        known = {t.id for t in node.known}
        for tx in universe:
            if tx.id not in known:
                yield Deliver(tx)
            yield Answer(tx)
        for tx in impl.unqueried(node):
            for yes in range(params.k + 1):
                yield Poll(tx, yes, params.k)
        for action, condition in forged:
            if condition is None or universe[0].id in node.queried:
                yield action

    # impl.step is pure: remember the outcome of (node, event), since the step properties
    # replay it to read the effects (the state does not keep them)
    # (keyed by the action, not the event: 1 == True in Python, and a forged vote of 1 must not
    # share an entry with an honest True)
    outcomes: dict[tuple[impl.NodeState, Any], tuple[impl.NodeState, impl.Effects]] = {}

    def run(node: impl.NodeState, action: ModelAction) -> tuple[impl.NodeState, impl.Effects]:
        key = (node, action)
        found = outcomes.get(key)
        if found is None:
            if len(outcomes) >= 200_000:
                outcomes.clear()
            found = outcomes[key] = impl.step(node, impl_event(action), ops)
        return found

    def next_state(node: impl.NodeState, action: ModelAction) -> impl.NodeState:
        post, _ = run(node, action)
        return node if post == node else post

    views: dict[impl.NodeState, spec.View] = {}

    def project(node: Any) -> spec.View:
        found = views.get(node)
        if found is None:
            if len(views) >= 200_000:
                views.clear()
            found = views[node] = abstract(node)
        return found

    # -- step properties ----------------------------------------------------------------------

    def decision_final(pre: Any, action: Any, post: Any) -> bool:
        return set(pre.accepted) <= set(post.accepted)

    def acceptance_meets_threshold(pre: Any, action: Any, post: Any) -> bool:
        view = project(post)
        new = set(post.accepted) - set(pre.accepted)
        return all(spec.is_accepted(view, sparams, tx) for tx in new)

    def _poll_votes(action: Any) -> tuple[bool, ...] | None:
        if isinstance(action, Poll):
            return tuple(v for _, v in action.event().answers)
        return None

    def _untouched_sets(pre: Any, post: Any, fields: tuple[str, ...]) -> bool:
        """Outside a query: existing conflict sets keep ``fields``; a new set starts with its
        only member as pref and last and cnt 0 (onReceiveTx)."""
        before, after = project(pre), project(post)
        for s in after.conflicts:
            old = spec.conflict_set(before, s.nullifier)
            if old is None:
                if (s.pref, s.last, s.cnt) != (s.members[0], s.members[0], 0):
                    return False
            elif any(getattr(s, f) != getattr(old, f) for f in fields):
                return False
        return True

    def _queried_ok(pre: Any, action: Any, post: Any) -> bool:
        # a query rule only speaks about a query the node counted (no fault)
        return isinstance(action, Poll) and action.tx in impl.unqueried(pre)

    def chit_rule(pre: Any, action: Any, post: Any) -> bool:
        votes = _poll_votes(action)
        if votes is None or not _queried_ok(pre, action, post):
            return set(pre.chits) == set(post.chits)
        return spec.chit_rule(project(pre), sparams, action.tx, votes, project(post))

    def counter_rule(pre: Any, action: Any, post: Any) -> bool:
        votes = _poll_votes(action)
        if votes is None or not _queried_ok(pre, action, post):
            return _untouched_sets(pre, post, ("last", "cnt"))
        return spec.counter_rule(project(pre), sparams, action.tx, votes, project(post))

    def preference_rule(pre: Any, action: Any, post: Any) -> bool:
        votes = _poll_votes(action)
        if votes is None or not _queried_ok(pre, action, post):
            return _untouched_sets(pre, post, ("pref",))
        return spec.preference_rule(project(pre), sparams, action.tx, votes, project(post))

    def answer_rule(pre: Any, action: Any, post: Any) -> bool:
        if not isinstance(action, Answer):
            return True
        _, effects = run(pre, action)
        if effects.faults:
            return not effects.responses
        expected = spec.is_strongly_preferred(project(post), action.tx.id)
        return effects.responses == ((1, action.tx.id, expected),)

    def refinement_problem(pre: Any, action: Any, post: Any) -> str | None:
        before, after = project(pre), project(post)
        if after == before:
            return None
        if isinstance(action, Forged):
            return "a forged event changed the abstract state"
        expected = expected_view(sparams, before, impl_event(action))
        if isinstance(expected, str):
            return expected
        if expected is None or expected != after:
            return f"spec gives {expected}, impl gives {after}"
        return None

    def faults_change_nothing(pre: Any, action: Any, post: Any) -> bool:
        if isinstance(action, Forged):
            return post == pre
        _, effects = run(pre, action)
        return not effects.faults or post == pre

    def _explain_step(name: str) -> Any:
        def explain(pre: Any, action: Any, post: Any) -> str:
            if name == "refinement":
                return refinement_problem(pre, action, post) or ""
            return f"{action}: {project(pre)} -> {project(post)}"

        return explain

    # Fig. 4's rules, named and described in the spec's STEP_RULES registry
    query_rules = {
        "chit_rule": chit_rule,
        "counter_rule": counter_rule,
        "preference_rule": preference_rule,
    }
    rules = (
        ("decision_final", "an accepted transaction stays accepted", decision_final),
        (
            "acceptance_meets_threshold",
            "a newly accepted T satisfies isAccepted: early commitment (beta1) or counter (beta2)",
            acceptance_meets_threshold,
        ),
        *((name, description, query_rules[name]) for name, description, _ in spec.STEP_RULES),
        ("answer_rule", "a peer's query is answered with isStronglyPreferred(T)", answer_rule),
        (
            "refinement",
            "every impl step is the enabled spec action it stands for, or a stutter",
            lambda pre, a, post: refinement_problem(pre, a, post) is None,
        ),
        (
            "faults_change_nothing",
            "a refused input, and every forged event, leaves the state unchanged",
            faults_change_nothing,
        ),
    )
    steps = tuple(
        StepProperty(name, description, holds, _explain_step(name))
        for name, description, holds in rules
    )
    invariants = (
        *spec.invariants(project),
        Invariant(
            "confidence_is_progeny_sum",
            "the impl's d(T) equals the sum of the chits of T's progeny (§4)",
            confidence_matches,
        ),
    )
    return Model(
        name="avalanche",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=invariants,
        step_properties=steps,
        reachables=spec.reachables(project, sparams),
        describe_action=str,
    )


def view(node: impl.NodeState) -> Mapping[str, Any]:
    """Named variables of the node, for traces and ITF."""
    return {
        "known": tuple(
            {"id": t.id, "nullifier": t.nullifier, "parents": t.parents} for t in node.known
        ),
        "confidence": {t.id: d for t, d in zip(node.known, node.confidence, strict=True)},
        "conflicts": tuple(
            {
                "nullifier": r.nullifier,
                "members": r.members,
                "pref": r.pref,
                "last": r.last,
                "cnt": r.cnt,
            }
            for r in node.conflicts
        ),
        "queried": node.queried,
        "chits": node.chits,
        "accepted": node.accepted,
    }


# universe entries: (id, nullifier, parents). 0 and 1 double-spend nullifier 0; 2 builds on 1.
TINY_UNIVERSE = ((0, 0, ()), (1, 0, ()), (2, 1, (1,)))
SMALL_UNIVERSE = ((0, 0, ()), (1, 0, ()), (2, 1, (1,)), (3, 2, (0,)))
CHAIN_UNIVERSE = (*SMALL_UNIVERSE, (4, 3, (2,)))

CONFIGS = (
    Config(
        "small",
        "one node, 4 transactions (a double spend, a child of each side), k = 2, alpha = 2, "
        "beta1 = 1, beta2 = 2; every arrival order, every query outcome, the forged alphabet",
        {"nodes": 3, "k": 2, "alpha": 2, "beta1": 1, "beta2": 2, "universe": SMALL_UNIVERSE},
        expected_distinct_states=833,
    ),
    Config(
        "tiny",
        "one node, 3 transactions (a double spend and a child of one side), k = 2, alpha = 2, "
        "beta1 = 1, beta2 = 2",
        {"nodes": 3, "k": 2, "alpha": 2, "beta1": 1, "beta2": 2, "universe": TINY_UNIVERSE},
        expected_distinct_states=173,
    ),
    Config(
        "chain",
        "one node, 5 transactions: 'small' and a grandchild on the side of 1, so confidence and "
        "counters flow through two generations; k = 2, alpha = 2, beta1 = 1, beta2 = 2",
        {"nodes": 3, "k": 2, "alpha": 2, "beta1": 1, "beta2": 2, "universe": CHAIN_UNIVERSE},
        expected_distinct_states=3871,
    ),
)

PROTOCOL = ProtocolEntry(
    name="avalanche",
    summary="Avalanche DAG: chits, confidence, preference and acceptance (Team Rocket 2019/2020)",
    source="Team Rocket, arXiv:1906.08936, section 4, Figures 4 and 5",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)


# -- Hypothesis: 6 nodes, one Byzantine responder ------------------------------------------------


class AvalancheMachine(RuleBasedStateMachine):
    """Random runs of 6 impl nodes, node 5 a Byzantine responder (it answers anything).

    Rules: a node issues a transaction (a fresh nullifier or a double spend of a used one, on up
    to two of its strongly preferred transactions, as the paper's parent selection does);
    gossip hands a transaction to a node (refused with a fault while its parents are unknown);
    a node queries one of its unqueried transactions, sampling k distinct peers that answer
    through their own ``onQuery`` (so they receive the transaction too). After each step:
    refinement and Fig. 4's rules on the stepping node, ``isStronglyPreferred`` answers, and
    every spec invariant on every honest node. Subclass with ``mutant`` set to run a bug.
    """

    nodes = 6
    byzantine = 5
    params = impl.Params(k=3, alpha=2, beta1=1, beta2=2)
    mutant: Mutant | None = None
    txs = Bundle("txs")

    def __init__(self) -> None:
        super().__init__()
        self.ops = ops_for(self.mutant)
        self.sparams = spec_params(self.params)
        self.states = [impl.new(i, self.nodes, self.params) for i in range(self.nodes)]
        self.messages: dict[int, impl.TxMessage] = {}
        self.nullifiers: list[int] = []

    def _step(self, i: int, event: impl.Event) -> impl.Effects:
        pre = self.states[i]
        post, effects = impl.step(pre, event, self.ops)
        before, after = abstract(pre), abstract(post)
        if effects.faults:
            require(post == pre, f"faults_change_nothing: node {i} changed on {event!r}")
        elif isinstance(event, impl.PollResult | impl.ReceiveTx | impl.PeerQuery):
            expected = expected_view(self.sparams, before, event)
            wanted = before if expected is None else expected
            require(wanted == after, f"refinement: node {i} on {event!r}: {wanted} != {after}")
        if isinstance(event, impl.PollResult) and not effects.faults:
            votes = tuple(v for _, v in event.answers)
            for name, _, law in spec.STEP_RULES:
                require(law(before, self.sparams, event.tx, votes, after), f"{name}: {event!r}")
            require(set(before.accepted) <= set(after.accepted), "decision_final")
        if isinstance(event, impl.PeerQuery) and not effects.faults:
            vote = spec.is_strongly_preferred(after, event.tx.id)
            require(effects.responses == ((event.sender, event.tx.id, vote),), "answer_rule")
        self.states[i] = post
        return effects

    @rule(
        target=txs,
        node=st.integers(0, nodes - 2),
        double_spend=st.booleans(),
        pick=st.integers(0, 1 << 10),
    )
    def issue(self, node: int, double_spend: bool, pick: int) -> int:
        state = self.states[node]
        if double_spend and self.nullifiers:
            nullifier = self.nullifiers[pick % len(self.nullifiers)]
        else:
            nullifier = len(self.nullifiers)
            self.nullifiers.append(nullifier)
        preferred = [t.id for t in state.known if impl.is_strongly_preferred(state, t.id)]
        chosen = {preferred[(pick + j) % len(preferred)] for j in range(2)} if preferred else set()
        tx = impl.TxMessage(len(self.messages), nullifier, tuple(sorted(chosen)))
        self.messages[tx.id] = tx
        self._step(node, impl.ReceiveTx(tx))
        return tx.id

    @rule(tx=txs, node=st.integers(-1, nodes - 2))
    def gossip(self, tx: int, node: int) -> None:
        """Node ``node`` receives ``tx``; -1: every honest node does."""
        for j in range(self.nodes - 1) if node < 0 else (node,):
            self._step(j, impl.ReceiveTx(self.messages[tx]))

    def _can_query(self) -> list[int]:
        return [i for i in range(self.nodes - 1) if impl.unqueried(self.states[i])]

    @precondition(lambda self: bool(self._can_query()))
    @rule(
        who=st.integers(0, nodes - 2),
        pick=st.integers(0, 1 << 10),
        sample=st.permutations(range(nodes)),
        lies=st.lists(st.booleans(), min_size=3, max_size=3),
    )
    def query(self, who: int, pick: int, sample: list[int], lies: list[bool]) -> None:
        able = self._can_query()
        node = able[who % len(able)]
        candidates = impl.unqueried(self.states[node])
        tx = candidates[pick % len(candidates)]
        peers = [j for j in sample if j != node][: self.params.k]
        answers = []
        for slot, j in enumerate(peers):
            if j == self.byzantine:
                answers.append((j, lies[slot]))
                continue
            effects = self._step(j, impl.PeerQuery(node, self.messages[tx]))
            # a peer that cannot receive T (a parent missing) answers no
            answers.append((j, bool(effects.responses and effects.responses[0][2])))
        self._step(node, impl.PollResult(tx, tuple(answers)))

    @precondition(lambda self: bool(self.messages))
    @rule(node=st.integers(0, nodes - 2), responder=st.integers(-1, nodes))
    def forged_response(self, node: int, responder: int) -> None:
        known = [t.id for t in self.states[node].known]
        tx = known[0] if known else 0
        answers = tuple((responder, True) for _ in range(self.params.k))  # a duplicate at least
        effects = self._step(node, impl.PollResult(tx, answers))
        require(bool(effects.faults), f"forged response {answers!r} was counted")

    @invariant()
    def spec_invariants_hold(self) -> None:
        for i in range(self.nodes - 1):
            view = abstract(self.states[i])
            for name, _, predicate in spec.INVARIANTS:
                require(predicate(view), f"{name} broken at node {i}: {view}")
            require(confidence_matches(self.states[i]), f"confidence_is_progeny_sum at node {i}")


# -- The oracle: canonical encoding, vectors and trace validation --------------------------------
#
# Documents (canonical JSON, see :mod:`.codec`; schemas from :meth:`AvalancheCodec.schemas`)::
#
#     state    {"node": 0, "nodes": 3, "params": {"k": 2, "alpha": 2, "beta1": 1, "beta2": 2},
#               "known": [{"id": 0, "nullifier": 0, "parents": []}, ...],   (sorted by id)
#               "confidence": [1, ...],                  (d(T), in the order of "known")
#               "conflicts": [{"nullifier": 0, "members": [0, 1], "pref": 0, "last": 0,
#                              "cnt": 1}, ...],          (sorted by nullifier; members in
#                                                         arrival order)
#               "queried": [0], "chits": [0], "accepted": []}
#     event    {"type": "receive", "tx": {"id": 2, "nullifier": 1, "parents": [1]}}
#              {"type": "query", "sender": 1, "tx": {...}}                 (Fig. 5, onQuery)
#              {"type": "poll", "tx": 0, "answers": [[1, true], [2, false]]}  (Fig. 4, a query
#                                                          and its k answers)
#     effects  {"responses": [{"to": 1, "tx": 2, "vote": false}],
#               "accepted": [0, 2],                      (in the order they were accepted)
#               "faults": [{"sender": 7, "kind": "unknown_responder"}]}
#
# Handlers: ``receive``, ``query``, ``poll``. A transaction's fields, a query's sender and a
# response's answers are decoded leniently (any JSON value, arrays as tuples): a malformed input
# is the node's to refuse with a typed :class:`impl.FaultKind`, not the decoder's.

_NAT: dict[str, Any] = {"type": "integer", "minimum": 0}
_IDS: dict[str, Any] = {"type": "array", "items": _NAT}


def _loose(value: Any) -> JSON:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, tuple | list):
        return [_loose(v) for v in value]
    return plain_to_json(value)


def _tx_to_json(tx: impl.TxMessage) -> JSON:
    return {"id": _loose(tx.id), "nullifier": _loose(tx.nullifier), "parents": _loose(tx.parents)}


def _tx_from_json(doc: JSON, path: str) -> impl.TxMessage:
    expect_object(doc, path, ["id", "nullifier", "parents"])
    return impl.TxMessage(*(plain_from_json(doc[f]) for f in ("id", "nullifier", "parents")))


def _ids(doc: JSON, path: str) -> tuple[int, ...]:
    items = expect_array(doc, path)
    return tuple(expect_int(v, f"{path}[{k}]", minimum=0) for k, v in enumerate(items))


@attrs.frozen
class AvalancheCodec:
    """Encoding of an Avalanche node, its events and its effects (the oracle's interface)."""

    protocol: str = "avalanche"
    ops: impl.NodeOps = impl.STANDARD_OPS

    def schemas(self) -> dict[str, Any]:
        """The state, event and effects schemas (see :mod:`.schemas`)."""
        params = object_schema({"k": _NAT, "alpha": _NAT, "beta1": _NAT, "beta2": _NAT})
        known = object_schema({"id": _NAT, "nullifier": _NAT, "parents": _IDS})
        conflict = object_schema(
            {"nullifier": _NAT, "members": _IDS, "pref": _NAT, "last": _NAT, "cnt": _NAT}
        )
        state = object_schema(
            {
                "node": _NAT,
                "nodes": {"type": "integer", "minimum": 2},
                "params": params,
                "known": {"type": "array", "items": known},
                "confidence": _IDS,
                "conflicts": {"type": "array", "items": conflict},
                "queried": _IDS,
                "chits": _IDS,
                "accepted": _IDS,
            }
        )
        loose_tx = object_schema({"id": {}, "nullifier": {}, "parents": {}})
        event = {
            "oneOf": [
                object_schema({"type": {"const": "receive"}, "tx": loose_tx}),
                object_schema({"type": {"const": "query"}, "sender": {}, "tx": loose_tx}),
                object_schema({"type": {"const": "poll"}, "tx": {}, "answers": {}}),
            ]
        }
        effects = object_schema(
            {
                "responses": {
                    "type": "array",
                    "items": object_schema({"to": _NAT, "tx": _NAT, "vote": {"type": "boolean"}}),
                },
                "accepted": _IDS,
                "faults": {
                    "type": "array",
                    "items": object_schema(
                        {"sender": {}, "kind": {"enum": enum_values(impl.FaultKind)}}
                    ),
                },
            }
        )
        return {"state": state, "event": event, "effects": effects}

    # states
    def encode_state(self, node: impl.NodeState) -> JSON:
        p = node.params
        return {
            "node": node.node,
            "nodes": node.n,
            "params": {"k": p.k, "alpha": p.alpha, "beta1": p.beta1, "beta2": p.beta2},
            "known": [
                {"id": t.id, "nullifier": t.nullifier, "parents": list(t.parents)}
                for t in node.known
            ],
            "confidence": list(node.confidence),
            "conflicts": [
                {
                    "nullifier": r.nullifier,
                    "members": list(r.members),
                    "pref": r.pref,
                    "last": r.last,
                    "cnt": r.cnt,
                }
                for r in node.conflicts
            ],
            "queried": list(node.queried),
            "chits": list(node.chits),
            "accepted": list(node.accepted),
        }

    def decode_state(self, doc: JSON, path: str = "$") -> impl.NodeState:
        fields = ["node", "nodes", "params", "known", "confidence", "conflicts", "queried"]
        expect_object(doc, path, [*fields, "chits", "accepted"])
        n = expect_int(doc["nodes"], f"{path}.nodes", minimum=2)
        node = expect_int(doc["node"], f"{path}.node", minimum=0)
        if node >= n:
            raise DecodeError(f"{path}.node", f"node {node} out of range for {n}")
        p = expect_object(doc["params"], f"{path}.params", ["k", "alpha", "beta1", "beta2"])
        params = impl.Params(
            *(
                expect_int(p[f], f"{path}.params.{f}", minimum=1)
                for f in ("k", "alpha", "beta1", "beta2")
            )
        )
        if not params.alpha <= params.k < n:
            raise DecodeError(f"{path}.params", f"need alpha <= k < nodes, got {params}")
        known: list[impl.Tx] = []
        for i, t in enumerate(expect_array(doc["known"], f"{path}.known")):
            at = f"{path}.known[{i}]"
            expect_object(t, at, ["id", "nullifier", "parents"])
            known.append(
                impl.Tx(
                    expect_int(t["id"], f"{at}.id", minimum=0),
                    expect_int(t["nullifier"], f"{at}.nullifier", minimum=0),
                    _ids(t["parents"], f"{at}.parents"),
                )
            )
        if [t.id for t in known] != sorted({t.id for t in known}):
            raise DecodeError(f"{path}.known", "transactions must be sorted by id, ids distinct")
        confidence = _ids(doc["confidence"], f"{path}.confidence")
        if len(confidence) != len(known):
            raise DecodeError(f"{path}.confidence", f"expected {len(known)} entries")
        conflicts: list[impl.ConflictRecord] = []
        for i, r in enumerate(expect_array(doc["conflicts"], f"{path}.conflicts")):
            at = f"{path}.conflicts[{i}]"
            expect_object(r, at, ["nullifier", "members", "pref", "last", "cnt"])
            conflicts.append(
                impl.ConflictRecord(
                    expect_int(r["nullifier"], f"{at}.nullifier", minimum=0),
                    _ids(r["members"], f"{at}.members"),
                    expect_int(r["pref"], f"{at}.pref", minimum=0),
                    expect_int(r["last"], f"{at}.last", minimum=0),
                    expect_int(r["cnt"], f"{at}.cnt", minimum=0),
                )
            )
        return impl.NodeState(
            node,
            n,
            params,
            tuple(known),
            confidence,
            tuple(conflicts),
            _ids(doc["queried"], f"{path}.queried"),
            _ids(doc["chits"], f"{path}.chits"),
            _ids(doc["accepted"], f"{path}.accepted"),
        )

    # events
    def encode_event(self, event: impl.Event) -> JSON:
        if isinstance(event, impl.ReceiveTx):
            return {"type": "receive", "tx": _tx_to_json(event.tx)}
        if isinstance(event, impl.PeerQuery):
            return {"type": "query", "sender": _loose(event.sender), "tx": _tx_to_json(event.tx)}
        return {"type": "poll", "tx": _loose(event.tx), "answers": _loose(event.answers)}

    def decode_event(self, doc: JSON, path: str = "$") -> impl.Event:
        if not isinstance(doc, dict):
            raise DecodeError(path, "expected an object with a field 'type'")
        kind = doc.get("type")
        if kind == "receive":
            expect_object(doc, path, ["type", "tx"])
            return impl.ReceiveTx(_tx_from_json(doc["tx"], f"{path}.tx"))
        if kind == "query":
            expect_object(doc, path, ["type", "sender", "tx"])
            tx = _tx_from_json(doc["tx"], f"{path}.tx")
            return impl.PeerQuery(plain_from_json(doc["sender"]), tx)
        if kind == "poll":
            expect_object(doc, path, ["type", "tx", "answers"])
            return impl.PollResult(plain_from_json(doc["tx"]), plain_from_json(doc["answers"]))
        raise DecodeError(
            f"{path}.type", f"unknown event type {kind!r} (known: poll, query, receive)"
        )

    # effects
    def encode_effects(self, effects: impl.Effects) -> JSON:
        return {
            "responses": [{"to": to, "tx": tx, "vote": vote} for to, tx, vote in effects.responses],
            "accepted": list(effects.accepted),
            "faults": [{"sender": _loose(f.sender), "kind": f.kind.value} for f in effects.faults],
        }

    def handler(self, event: impl.Event) -> str:
        return {impl.ReceiveTx: "receive", impl.PeerQuery: "query", impl.PollResult: "poll"}[
            type(event)
        ]

    def step(self, node: impl.NodeState, event: impl.Event) -> tuple[impl.NodeState, impl.Effects]:
        return impl.step(node, event, self.ops)


CODEC = AvalancheCodec()
ORACLE_PARAMS = impl.Params(k=2, alpha=2, beta1=1, beta2=2)


def node_event(action: ModelAction) -> tuple[int, impl.Event]:
    """The node a model action steps (always node 0) and the impl event it hands it."""
    return 0, impl_event(action)


def initial_node(index: int, n: int) -> impl.NodeState:
    """A node of the oracle's configs (k = 2, alpha = 2, beta1 = 1, beta2 = 2)."""
    return impl.new(index, n, ORACLE_PARAMS)


def _is_nat(value: Any) -> bool:
    return type(value) is int and value >= 0


def tx_refusal(view: spec.View, message: impl.TxMessage) -> impl.FaultKind | None:
    """Why a node with ``view`` must refuse ``message``, or None if it must receive it.

    Written against the spec (its ``ReceiveTx`` enabling condition), not the impl's
    validation: the checks run in the order the impl documents, the first failing one names the
    fault. A transaction already known with the same content is received as a no-op.
    """
    tx_id, nullifier, parents = message.id, message.nullifier, message.parents
    if not _is_nat(tx_id):
        return impl.FaultKind.MALFORMED_TRANSACTION
    if not (type(parents) is tuple and all(_is_nat(p) for p in parents)):
        return impl.FaultKind.MALFORMED_TRANSACTION
    if list(parents) != sorted(set(parents)):
        return impl.FaultKind.MALFORMED_TRANSACTION
    if nullifier is None:
        return impl.FaultKind.SPENDS_NOTHING
    if not _is_nat(nullifier):
        return impl.FaultKind.MALFORMED_TRANSACTION
    tx = spec.Transaction(tx_id, nullifier, parents)
    known = spec.transaction(view, tx_id)
    if known is not None:
        return None if known == tx else impl.FaultKind.ID_REUSED
    if any(spec.transaction(view, p) is None for p in parents):
        return impl.FaultKind.UNKNOWN_PARENT
    if not spec.ancestry_conflict_free(view, tx):
        return impl.FaultKind.CONFLICTING_ANCESTRY
    return None


def refusal(node: impl.NodeState, event: impl.Event) -> tuple[Any, impl.FaultKind] | None:
    """Who to blame and why ``node`` must refuse ``event``, or None if it must handle it."""
    view = abstract(node)
    if isinstance(event, impl.ReceiveTx):
        kind = tx_refusal(view, event.tx)
        return None if kind is None else (None, kind)
    if isinstance(event, impl.PeerQuery):
        sender = event.sender
        if not (_is_nat(sender) and sender < node.n and sender != node.node):
            return sender, impl.FaultKind.UNKNOWN_SENDER
        kind = tx_refusal(view, event.tx)
        return None if kind is None else (sender, kind)
    answers, k = event.answers, node.params.k
    if not (type(answers) is tuple and len(answers) == k):
        return None, impl.FaultKind.MALFORMED_RESPONSE
    if not all(type(a) is tuple and len(a) == 2 and type(a[1]) is bool for a in answers):
        return None, impl.FaultKind.MALFORMED_RESPONSE
    seen: set[Any] = set()
    for responder, _ in answers:
        if not (_is_nat(responder) and responder < node.n and responder != node.node):
            return responder, impl.FaultKind.UNKNOWN_RESPONDER
        if responder in seen:
            return responder, impl.FaultKind.DUPLICATE_RESPONDER
        seen.add(responder)
    if not _is_nat(event.tx) or spec.transaction(view, event.tx) is None:
        return None, impl.FaultKind.UNKNOWN_TRANSACTION
    if event.tx in view.queried:
        return None, impl.FaultKind.ALREADY_QUERIED
    return None


def expected_step(
    node: impl.NodeState, event: impl.Event
) -> tuple[spec.View, JSON] | tuple[None, JSON]:
    """The spec's post-view (None: the node must refuse) and the effects document it implies."""
    params = spec_params(node.params)
    refused = refusal(node, event)
    if refused is not None:
        blame, kind = refused
        fault = {"sender": _loose(blame), "kind": kind.value}
        return None, {"responses": [], "accepted": [], "faults": [fault]}
    before = abstract(node)
    if isinstance(event, impl.PollResult):
        votes = tuple(v for _, v in event.answers)
        after, accepted = spec.decide(
            spec.next_state(before, params, spec.Query(event.tx, votes)), params
        )
        return after, {"responses": [], "accepted": list(accepted), "faults": []}
    after_or_none = expected_view(params, before, event)
    after = before if after_or_none is None else after_or_none
    if not isinstance(after, spec.View):
        raise AssertionError(f"refusal() accepted an event the spec does not enable: {after}")
    responses = []
    if isinstance(event, impl.PeerQuery):
        vote = spec.is_strongly_preferred(after, event.tx.id)
        responses = [{"to": event.sender, "tx": event.tx.id, "vote": vote}]
    return after, {"responses": responses, "accepted": [], "faults": []}


def step_checker(codec: AvalancheCodec = CODEC) -> Any:
    """Trace validation of one node step against the spec (see :mod:`.validate`).

    For each step: the node's identity and parameters never change; an event the spec cannot
    take (see :func:`refusal`) leaves the state unchanged (``faults_change_nothing``) and is
    reported as one fault of the right kind (``typed_fault``); otherwise the reported state's
    view is the spec's (``ReceiveTx``; ``Query`` then every enabled ``Accept``; a stutter for a
    repeat), its confidences are the progeny sums (``confidence_is_progeny_sum``), and the
    effects are the spec's (``refinement``): the answer ``isStronglyPreferred`` to a query, the
    accepted transactions in order. Streaming: only the node's previous state is read.
    """
    from .validate import StepChecker

    def check(
        nodes: tuple[impl.NodeState, ...],
        i: int,
        event: impl.Event,
        post: impl.NodeState,
        effects: Any,
    ) -> tuple[str, str, str] | None:
        pre, n = nodes[i], len(nodes)
        if (pre.node, pre.n) != (i, n) or (post.node, post.n, post.params) != (
            pre.node,
            pre.n,
            pre.params,
        ):
            return (
                "identity",
                f"node {i} of {n} with parameters {pre.params}",
                f"node {post.node} of {post.n} with {post.params}",
            )
        after, wanted = expected_step(pre, event)
        if after is None:
            if post != pre:
                return (
                    "faults_change_nothing",
                    "the state unchanged: the input is refused",
                    f"state changed to {codec.encode_state(post)}",
                )
            if effects is not None and effects != wanted:
                return ("typed_fault", f"effects {wanted}", f"effects {effects}")
            return None
        observed = abstract(post)
        if observed != after:
            return ("refinement", f"view {after}", f"view {observed}")
        if not confidence_matches(post):
            return (
                "confidence_is_progeny_sum",
                "d(T) = chits of T's progeny",
                f"confidence {post.confidence}",
            )
        if effects is not None and effects != wanted:
            kind = "typed_fault" if effects.get("faults") else "refinement"
            return (kind, f"effects {wanted}", f"effects {effects}")
        return None

    return StepChecker(codec=codec, initial_node=initial_node, check=check)


ORACLE = OracleBinding(
    codec=CODEC,
    # vectors and traces from "small": a double spend, a child on each side, the forged alphabet
    configs=("small",),
    node_event=node_event,
    # node 0 is the model's node; its peers (the responders 1..k) are idle in the model
    nodes=lambda state: (state, *(initial_node(j, state.n) for j in range(1, state.n))),
    initial_node=initial_node,
    step_checker=step_checker(CODEC),
)


# -- Benchmark: an Avalanche network, transactions accepted per simulated second -----------------
#
# Time: in one *simulated second* every node runs ``queries_per_second`` iterations of Fig. 4's
# loop (each queries one of its unqueried transactions, drawn at random, sampling k peers that
# answer through onQuery), after clients have issued ``nodes // 10`` new transactions (each by a
# random node, on up to two random strongly preferred transactions without known children -- the
# frontier, §4 "parent selection"; a fraction of them double-spend the nullifier of another
# transaction issued in the same second). Transactions issued in one second reach every node by
# gossip at the start of the next (peers queried earlier receive them through onQuery, as in the
# paper). All randomness comes from one seeded generator.
#
# Two engines run the same rules: :class:`_ImplEngine` steps the sans-IO impl (the reference)
# and :class:`_FastEngine` keeps each node's view in mutable dictionaries with ancestries
# computed once per transaction; :func:`bench_avalanche` uses the fast one, and a test runs both
# on a small network and requires identical decisions, preferences and counters at every node.


@attrs.frozen
class _Issued:
    tx: impl.TxMessage
    ancestry: tuple[int, ...]  # T' <-* T, T included


class _ImplEngine:
    """The reference: one :class:`impl.NodeState` per node, stepped through :func:`impl.step`."""

    def __init__(self, nodes: int, params: impl.Params) -> None:
        self.states = [impl.new(i, nodes, params) for i in range(nodes)]

    def receive(self, i: int, issued: _Issued) -> bool:
        self.states[i], effects = impl.step(self.states[i], impl.ReceiveTx(issued.tx))
        return not effects.faults

    def answer(self, j: int, querier: int, issued: _Issued) -> bool:
        self.states[j], effects = impl.step(self.states[j], impl.PeerQuery(querier, issued.tx))
        return bool(effects.responses and effects.responses[0][2])

    def poll(self, i: int, tx: int, answers: tuple[tuple[int, bool], ...]) -> None:
        self.states[i], effects = impl.step(self.states[i], impl.PollResult(tx, answers))
        if effects.faults:
            raise AssertionError(f"node {i} refused its own query: {effects.faults}")

    def unqueried(self, i: int) -> tuple[int, ...]:
        return impl.unqueried(self.states[i])

    def frontier(self, i: int) -> tuple[int, ...]:
        state = self.states[i]
        with_children = {p for t in state.known for p in t.parents}
        return tuple(
            t.id
            for t in state.known
            if t.id not in with_children and impl.is_strongly_preferred(state, t.id)
        )

    def snapshot(self, i: int) -> tuple[Any, ...]:
        s = self.states[i]
        counters = tuple((r.nullifier, r.pref, r.last, r.cnt) for r in s.conflicts)
        return (s.accepted, s.chits, s.queried, counters, s.confidence)


class _FastEngine:
    """The same rules on mutable per-node dictionaries (see the comment above)."""

    def __init__(self, nodes: int, params: impl.Params) -> None:
        self.params = params
        self.issued: dict[int, _Issued] = {}
        self.children: dict[int, list[int]] = {}
        self.known: list[set[int]] = [set() for _ in range(nodes)]
        self.queried: list[set[int]] = [set() for _ in range(nodes)]
        self.chits: list[set[int]] = [set() for _ in range(nodes)]
        self.d: list[dict[int, int]] = [{} for _ in range(nodes)]
        # per node, per nullifier: [members, pref, last, cnt]
        self.sets: list[dict[int, list[Any]]] = [{} for _ in range(nodes)]
        self.accepted: list[set[int]] = [set() for _ in range(nodes)]
        self.decided: list[set[int]] = [set() for _ in range(nodes)]
        self.order: list[list[int]] = [[] for _ in range(nodes)]  # known ids, ascending

    def register(self, issued: _Issued) -> None:
        self.issued[issued.tx.id] = issued
        for p in issued.tx.parents:
            self.children.setdefault(p, []).append(issued.tx.id)

    def receive(self, i: int, issued: _Issued) -> bool:
        tx = issued.tx
        if tx.id in self.known[i]:
            return True
        if not all(p in self.known[i] for p in tx.parents):
            return False
        spent = [self.issued[a].tx.nullifier for a in issued.ancestry]
        if len(set(spent)) != len(spent):
            return False
        self.known[i].add(tx.id)
        self.d[i][tx.id] = 0
        order = self.order[i]
        if not order or order[-1] < tx.id:
            order.append(tx.id)
        else:
            order.append(tx.id)
            order.sort()
        record = self.sets[i].get(tx.nullifier)
        if record is None:
            self.sets[i][tx.nullifier] = [[tx.id], tx.id, tx.id, 0]
        else:
            record[0].append(tx.id)
        return True

    def strongly_preferred(self, i: int, tx: int) -> bool:
        sets, issued = self.sets[i], self.issued
        return all(sets[issued[a].tx.nullifier][1] == a for a in issued[tx].ancestry)

    def answer(self, j: int, querier: int, issued: _Issued) -> bool:
        if not self.receive(j, issued):
            return False
        return self.strongly_preferred(j, issued.tx.id)

    def poll(self, i: int, tx: int, answers: tuple[tuple[int, bool], ...]) -> None:
        params, issued, sets, d = self.params, self.issued, self.sets[i], self.d[i]
        lineage = issued[tx].ancestry
        self.queried[i].add(tx)
        if sum(1 for _, v in answers if v) < params.alpha:
            for a in lineage:
                sets[issued[a].tx.nullifier][3] = 0
            return
        self.chits[i].add(tx)
        for a in lineage:
            d[a] += 1
        for a in lineage:
            record = sets[issued[a].tx.nullifier]
            if d[a] > d[record[1]]:
                record[1] = a
            if a != record[2]:
                record[2], record[3] = a, 1
            else:
                record[3] += 1
        self._decide(i, sorted(lineage))

    def _acceptable(self, i: int, tx: int) -> bool:
        params, issued = self.params, self.issued[tx]
        record = self.sets[i][issued.tx.nullifier]
        if record[2] == tx and record[3] >= params.beta2:
            return True
        accepted = self.accepted[i]
        return (
            all(p in accepted for p in issued.tx.parents)
            and len(record[0]) == 1
            and self.d[i][tx] >= params.beta1
        )

    def _decide(self, i: int, candidates: list[int]) -> None:
        accepted, decided, known = self.accepted[i], self.decided[i], self.known[i]
        pending = sorted(set(candidates))
        while pending:
            newly: list[int] = []
            for tx in pending:
                nullifier = self.issued[tx].tx.nullifier
                if tx in accepted or nullifier in decided:
                    continue
                if self._acceptable(i, tx):
                    accepted.add(tx)
                    decided.add(nullifier)
                    newly.append(tx)
            # an acceptance can enable a child's early commitment (its parents accepted)
            pending = sorted({c for tx in newly for c in self.children.get(tx, ()) if c in known})

    def unqueried(self, i: int) -> tuple[int, ...]:
        queried = self.queried[i]
        return tuple(tx for tx in self.order[i] if tx not in queried)

    def frontier(self, i: int) -> tuple[int, ...]:
        known = self.known[i]
        return tuple(
            tx
            for tx in self.order[i]
            if not any(c in known for c in self.children.get(tx, ()))
            and self.strongly_preferred(i, tx)
        )

    def snapshot(self, i: int) -> tuple[Any, ...]:
        counters = tuple(
            (nullifier, r[1], r[2], r[3]) for nullifier, r in sorted(self.sets[i].items())
        )
        order = self.order[i]
        return (
            tuple(sorted(self.accepted[i])),
            tuple(sorted(self.chits[i])),
            tuple(sorted(self.queried[i])),
            counters,
            tuple(self.d[i][tx] for tx in order),
        )


def run_network(
    engine: Any,
    nodes: int,
    seconds: int,
    seed: int,
    k: int,
    double_spend_rate: float,
    per_second: int | None = None,
    rounds: int = 1,
    byzantine: int = 0,
) -> dict[str, int]:
    """Drives ``engine`` for ``seconds`` simulated seconds (see the comment above);
    ``per_second`` new transactions a second (default ``nodes // 10``, at least 1), ``rounds``
    queries per node a second. The last ``byzantine`` nodes are Byzantine: they issue and query
    nothing and answer yes to every query -- to both sides of every double spend, the answer
    that most helps two conflicting transactions to be accepted."""
    honest = nodes - byzantine
    if honest < 1:
        raise ValueError(f"{byzantine} Byzantine nodes of {nodes} leave no honest node")
    rng = random.Random(seed)
    register = getattr(engine, "register", None)
    issued: list[_Issued] = []
    ancestry: dict[int, tuple[int, ...]] = {}
    per_second = per_second or max(1, nodes // 10)
    counts = {"issued": 0, "double_spends": 0, "queries": 0}
    inbox: list[_Issued] = []
    for _ in range(seconds):
        # gossip: last second's transactions reach every node, in id order
        for item in inbox:
            for i in range(honest):
                engine.receive(i, item)
        inbox = []
        # clients issue this second's transactions
        fresh: list[_Issued] = []
        for _ in range(per_second):
            issuer = rng.randrange(honest)
            if fresh and rng.random() < double_spend_rate:
                nullifier = rng.choice(fresh).tx.nullifier
                counts["double_spends"] += 1
            else:
                nullifier = len(issued)
            tx_id = len(issued)
            tips = engine.frontier(issuer)
            chosen = tuple(sorted(rng.sample(tips, min(2, len(tips)))))
            for parents in (chosen, ()):
                lineage = {tx_id}
                for p in parents:
                    lineage.update(ancestry[p])
                item = _Issued(impl.TxMessage(tx_id, nullifier, parents), tuple(sorted(lineage)))
                spent = [issued[a].tx.nullifier for a in lineage if a != tx_id]
                if nullifier not in spent:
                    break
            ancestry[tx_id] = item.ancestry
            issued.append(item)
            if register is not None:
                register(item)
            engine.receive(issuer, item)
            fresh.append(item)
            counts["issued"] += 1
        inbox = fresh
        # every node runs ``rounds`` iterations of the main loop
        for _ in range(rounds):
            for i in range(honest):
                candidates = engine.unqueried(i)
                if not candidates:
                    continue
                tx = candidates[rng.randrange(len(candidates))]
                peers = rng.sample([j for j in range(nodes) if j != i], k)
                answers = tuple(
                    (j, True if j >= honest else engine.answer(j, i, issued[tx])) for j in peers
                )
                engine.poll(i, tx, answers)
                counts["queries"] += 1
    return counts


def bench_avalanche(
    nodes: int = 200,
    seconds: float = 10.0,
    seed: int = 1,
    *,
    k: int = 10,
    alpha: int = 8,
    beta1: int = 3,
    beta2: int = 6,
    double_spend_rate: float = 0.05,
    queries_per_second: int = 5,
    byzantine_fraction: float = 0.0,
) -> dict[str, Any]:
    """An Avalanche network of ``nodes`` nodes for ``seconds`` simulated seconds.

    Reports transactions accepted per simulated second (mean over honest nodes), how many were
    accepted by every honest node, conflicting decisions across honest nodes (two spenders of
    one nullifier accepted anywhere: Avalanche's safety is probabilistic, so this is measured,
    not assumed) and the wall-clock time. ``byzantine_fraction`` of the nodes answer yes to
    every query (see :func:`run_network`).

    Defaults: k = 10 and alpha = 8, as in the paper's evaluation (which takes beta1 = 11 and
    beta2 = 150); beta1 = 3 and beta2 = 6 here, so that a 10-second run decides; 5 queries per
    node per simulated second (one every 200 ms, about a wide-area round trip); ``nodes // 10``
    new transactions per simulated second, 5% of them double spends. The rate includes the
    warm-up: the first transactions need beta1 queries of their progeny before anything is
    accepted.
    """
    params = impl.Params(k, alpha, beta1, beta2)
    engine = _FastEngine(nodes, params)
    whole = int(seconds)
    byzantine = int(byzantine_fraction * nodes)
    started = time.perf_counter()
    counts = run_network(
        engine,
        nodes,
        whole,
        seed,
        k,
        double_spend_rate,
        rounds=queries_per_second,
        byzantine=byzantine,
    )
    wall = time.perf_counter() - started
    decisions = engine.accepted[: nodes - byzantine]
    accepted = [len(a) for a in decisions]
    by_all = set.intersection(*decisions)
    winners: dict[int, set[int]] = {}
    for decided in decisions:
        for tx in decided:
            winners.setdefault(engine.issued[tx].tx.nullifier, set()).add(tx)
    return {
        "nodes": nodes,
        "byzantine_nodes": byzantine,
        "simulated_seconds": whole,
        "k": k,
        "alpha": alpha,
        "beta1": beta1,
        "beta2": beta2,
        "queries_per_node_per_simulated_second": queries_per_second,
        "issued_tx": counts["issued"],
        "double_spend_tx": counts["double_spends"],
        "queries": counts["queries"],
        "accepted_tx_per_simulated_second": sum(accepted) / len(accepted) / max(whole, 1),
        "accepted_by_every_node_tx": len(by_all),
        "conflicting_decisions": sum(1 for w in winners.values() if len(w) > 1),
        "wall_seconds": wall,
    }
