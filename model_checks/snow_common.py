"""The bounded model, Hypothesis machine and oracle codec shared by Slush, Snowflake, Snowball.

Sources: Team Rocket, arXiv:1906.08936 v2+, Figures 1-3; avalanchego
``snow/consensus/snowball`` (see :mod:`mnemosyne_consensus.spec.snow_common`).

The explored state is the *implementation*: one :class:`impl.Node` per honest node, and a ghost
record per node (:class:`spec.Observed`) that the nodes never read -- what each node's polls
were, written by the checker from the answers alone. Nodes ``0 .. honest-1`` are honest; the
last ``byzantine`` node ids are Byzantine and hold no state: they answer any colour.

Actions
    ``Poll(i, responses)`` -- node i queried a sample of ``k`` other nodes and got
        ``responses``: every ``k``-subset of the other nodes, honest members answering their
        current preference (``query(v, col)`` answered with v's ``col``), Byzantine members
        any configured colour. The sample is the action's input, so a trace replays. Enabled
        while the node has had fewer than ``polls`` polls (a decided node still receives late
        answers, which it must ignore).
    ``Forged(i, responses)`` -- a fixed alphabet of malformed responses, one per
        :class:`impl.FaultKind`; always enabled, never state (a refused answer is a stutter).

After every step the checker evaluates, per honest node, each spec invariant over the abstract
node state and its ghost record, and on every transition

* ``refinement``: a ``Poll`` moves node i exactly as the spec's ``round_step`` does on the
  abstraction, with the answered colours; every other node is unchanged;
* ``faults_change_nothing``: a ``Forged`` step leaves the whole state unchanged;
* the spec's step properties (``decision_stable``, the threshold rules).

Mutants are deliberate departures in the implementation's :class:`impl.Ops` (the spec stays the
paper); each names the property it must break. Most of them also break ``refinement``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ..impl import snow_common as impl
from ..spec import snow_common as spec
from ..spec.common import replace_at
from ..spec.properties import Invariant, Reachable, StepProperty
from .codec import (
    JSON,
    DecodeError,
    dumps_line,
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
from .registry_types import Config, Mutant
from .validate import ItfChecker
from .vectors import OracleBinding

Colour = spec.Colour
Responses = tuple[tuple[Any, Any], ...]

# -- State ---------------------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class Deployment:
    # honest nodes (implementation state)
    nodes: tuple[impl.Node, ...]
    # ghost: what each honest node's polls were, recorded from the answers
    seen: tuple[spec.Observed, ...]


# -- Actions -------------------------------------------------------------------------------------


@attrs.frozen
class Poll:
    node: int
    responses: Responses

    def __str__(self) -> str:
        answers = ", ".join(f"{r}:{c}" for r, c in self.responses)
        return f"node {self.node}: poll answered [{answers}]"


@attrs.frozen
class Forged:
    node: int
    responses: Any

    def __str__(self) -> str:
        return f"node {self.node}: forged answers {self.responses!r}"


Action = Poll | Forged


# -- What a protocol supplies -------------------------------------------------------------------


@attrs.frozen
class Setup:
    """One protocol of the family: its spec module, its impl's ``record_poll``, its mutants."""

    protocol: str
    spec_module: ModuleType  # round_step, INVARIANTS, STEPS, REACHABLES
    record: impl.Record
    mutations: Mapping[str, Mapping[str, Any]]  # mutant name -> Ops fields to replace

    def ops(self, mutant: Mutant | None) -> impl.Ops:
        if mutant is None:
            return impl.STANDARD_OPS
        return attrs.evolve(impl.STANDARD_OPS, **self.mutations[mutant.name])

    def step(
        self, node: impl.Node, event: impl.Event, ops: impl.Ops | None = None
    ) -> tuple[impl.Node, impl.Effects]:
        return impl.step(node, event, self.record, ops or impl.STANDARD_OPS)


def params_of(config: Config) -> spec.Params:
    p = config.params
    return spec.Params(
        k=p["k"],
        alpha_preference=p["alpha_preference"],
        alpha_confidence=p.get("alpha_confidence", p["alpha_preference"]),
        beta=p.get("beta", 1),
        colours=p.get("colours", 2),
        rounds=p.get("rounds", 1),
    )


def abstract_node(node: impl.Node) -> spec.NodeState:
    """The abstraction function: the impl's fields under the figures' names."""
    return spec.NodeState(
        col=node.preference,
        cnt=node.confidence,
        d=node.strength,
        lastcol=node.last,
        decided=node.decided,
        polls=node.polls,
    )


def colours_of(responses: Responses) -> tuple[Any, ...]:
    return tuple(colour for _, colour in responses)


# -- The adversary alphabet ----------------------------------------------------------------------


def forged_responses(node: int, n: int, params: spec.Params) -> tuple[Any, ...]:
    """One malformed answer set per fault kind, for ``node`` in an ``n``-node network."""
    peers = [j for j in range(n) if j != node]
    valid = tuple((j, 0) for j in peers[: params.k])
    return (
        ((peers[0],),),  # malformed: a 1-tuple, not a pair
        valid[:-1] if params.k > 1 else (*valid, (peers[-1], 0)),  # wrong sample size
        ((node, 0), *valid[1:]),  # the node itself answers: not a peer
        ((peers[0], 0), (peers[0], 0), *valid[2:]),  # one responder twice
        tuple((j, -1) for j in peers[: params.k]),  # a colour that is not configured
    )


# -- Driving the impl ----------------------------------------------------------------------------


def apply_poll(
    setup: Setup, ops: impl.Ops, params: spec.Params, state: Deployment, action: Poll
) -> Deployment:
    """Hands node i the answers and records the poll in its ghost record."""
    i = action.node
    node = state.nodes[i]
    post, effects = setup.step(node, impl.PollResponse(action.responses), ops)
    if effects.faults:
        if post == node:
            return state
        return attrs.evolve(state, nodes=replace_at(state.nodes, i, post))
    return recorded(params, state, i, post, colours_of(action.responses))


def recorded(
    params: spec.Params, state: Deployment, i: int, post: impl.Node, colours: tuple[Any, ...]
) -> Deployment:
    """The deployment with node i's new state and its poll in the ghost record."""
    seen = state.seen[i]
    if state.nodes[i].decided is None:
        seen = spec.observe(params, seen, colours)
    else:
        seen = spec.observe_late(seen)
    return Deployment(replace_at(state.nodes, i, post), replace_at(state.seen, i, seen))


def honest_answers(state: Deployment, responder: int) -> Colour | None:
    """An honest responder answers its preference; None for a Byzantine one."""
    if responder < len(state.nodes):
        return state.nodes[responder].preference
    return None


def polls_of(state: Deployment, i: int, n: int, params: spec.Params) -> Iterator[Poll]:
    """Every answer set node i can get: each k-subset of the others, Byzantine ones free."""
    peers = [j for j in range(n) if j != i]
    for sample in itertools.combinations(peers, params.k):
        fixed = [honest_answers(state, j) for j in sample]
        free = [pos for pos, c in enumerate(fixed) if c is None]
        for choice in itertools.product(range(params.colours), repeat=len(free)):
            answers = list(fixed)
            for pos, colour in zip(free, choice, strict=True):
                answers[pos] = colour
            yield Poll(i, tuple(zip(sample, answers, strict=True)))


# -- The model -----------------------------------------------------------------------------------


def initial_deployment(
    n: int, honest: int, params: spec.Params, colours: Sequence[int]
) -> Deployment:
    return Deployment(
        nodes=tuple(impl.new(i, n, params, colours[i]) for i in range(honest)),
        seen=tuple(spec.nothing_observed(colours[i], params.colours) for i in range(honest)),
    )


def refinement_problem(
    setup: Setup,
    params: spec.Params,
    pre: Deployment,
    action: Action,
    post: Deployment,
    abstract: Callable[[impl.Node], spec.NodeState] = abstract_node,
) -> str | None:
    """None if the step is a stutter or the spec's round on the abstraction, else why not."""
    if isinstance(action, Forged):
        return None if pre.nodes == post.nodes else "a refused answer set changed a node"
    i = action.node
    for j, (before, after) in enumerate(zip(pre.nodes, post.nodes, strict=True)):
        if j != i and before != after:
            return f"node {j} changed in node {i}'s poll"
    before, after = pre.nodes[i], post.nodes[i]
    if (after.node, after.n, after.params) != (before.node, before.n, before.params):
        return "the node's identity or parameters changed"
    expected = setup.spec_module.round_step(params, abstract(before), colours_of(action.responses))
    if expected == abstract(after):
        return None
    return f"spec round_step gives {expected}, impl {abstract(after)}"


def build_model(setup: Setup, config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    params = params_of(config)
    n: int = config.params["nodes"]
    byzantine: int = config.params.get("byzantine", 0)
    honest = n - byzantine
    budget: int = config.params["polls"]
    start: Sequence[int] = config.params["initial"]
    ops = setup.ops(mutant)
    forged = {i: forged_responses(i, n, params) for i in range(honest)}
    module = setup.spec_module

    def initial_states() -> Iterator[Deployment]:
        first = initial_deployment(n, honest, params, start)
        nodes = tuple(interned.setdefault(node, node) for node in first.nodes)
        yield attrs.evolve(first, nodes=nodes)

    def actions(state: Deployment) -> Iterator[Action]:
        for i in range(honest):
            if state.seen[i].polls < budget:
                yield from polls_of(state, i, n, params)
        for i in range(honest):
            for responses in forged[i]:
                yield Forged(i, responses)

    # impl steps are pure functions of (node, answers), and abstraction of the node: remember
    # them (the same node meets the same answers in many deployments)
    outcomes: dict[tuple[impl.Node, Any], tuple[impl.Node, impl.Effects]] = {}
    abstracted: dict[impl.Node, spec.NodeState] = {}
    interned: dict[impl.Node, impl.Node] = {}

    def stepped(node: impl.Node, responses: Any) -> tuple[impl.Node, impl.Effects]:
        key = (node, responses)
        found = outcomes.get(key)
        if found is None:
            if len(outcomes) >= 1 << 16:
                outcomes.clear()
            post, effects = setup.step(node, impl.PollResponse(responses), ops)
            # interned: equal nodes are one object, so later comparisons are identity checks
            found = outcomes[key] = (interned.setdefault(post, post), effects)
        return found

    def abstract(node: impl.Node) -> spec.NodeState:
        found = abstracted.get(node)
        if found is None:
            if len(abstracted) >= 1 << 16:
                abstracted.clear()
            found = abstracted[node] = abstract_node(node)
        return found

    def next_state(state: Deployment, action: Action) -> Deployment:
        i = action.node
        node = state.nodes[i]
        post, effects = stepped(node, action.responses)
        if isinstance(action, Forged) or effects.faults:
            if post == node:
                return state
            return attrs.evolve(state, nodes=replace_at(state.nodes, i, post))
        return recorded(params, state, i, post, colours_of(action.responses))

    def node_invariant(
        predicate: Callable[[spec.Params, spec.NodeState, spec.Observed], bool],
    ) -> Callable[[Deployment], bool]:
        return lambda state: all(
            predicate(params, abstract(node), seen)
            for node, seen in zip(state.nodes, state.seen, strict=True)
        )

    def node_explainer(
        predicate: Callable[[spec.Params, spec.NodeState, spec.Observed], bool],
    ) -> Callable[[Deployment], str]:
        def explain(state: Deployment) -> str:
            for i, (node, seen) in enumerate(zip(state.nodes, state.seen, strict=True)):
                if not predicate(params, abstract(node), seen):
                    return f"node {i}: {abstract(node)}; its polls: {seen}"
            return ""

        return explain

    def spec_step(
        predicate: Callable[[spec.Params, spec.NodeState, Sequence[Any], spec.NodeState], bool],
    ) -> Callable[[Deployment, Action, Deployment], bool]:
        def holds(pre: Deployment, action: Action, post: Deployment) -> bool:
            if isinstance(action, Forged):
                return True  # faults_change_nothing covers refused answers
            i = action.node
            return predicate(
                params,
                abstract(pre.nodes[i]),
                colours_of(action.responses),
                abstract(post.nodes[i]),
            )

        return holds

    def refines(pre: Deployment, action: Action, post: Deployment) -> bool:
        return refinement_problem(setup, params, pre, action, post, abstract) is None

    def explain_refinement(pre: Deployment, action: Action, post: Deployment) -> str:
        return refinement_problem(setup, params, pre, action, post, abstract) or ""

    def faults_change_nothing(pre: Deployment, action: Action, post: Deployment) -> bool:
        return not isinstance(action, Forged) or post == pre

    def explain_step(pre: Deployment, action: Action, post: Deployment) -> str:
        i = action.node
        return f"node {i}: {abstract(pre.nodes[i])} -> {abstract(post.nodes[i])}"

    invariants = tuple(
        Invariant(name, description, node_invariant(predicate), node_explainer(predicate))
        for name, description, predicate in module.INVARIANTS
    )
    steps: tuple[StepProperty[Any, Any], ...] = (
        StepProperty(
            "refinement",
            "every poll moves the node as the spec's round does; nothing else changes",
            refines,
            explain_refinement,
        ),
        StepProperty(
            "faults_change_nothing",
            "a malformed answer set leaves the whole state unchanged",
            faults_change_nothing,
            explain_step,
        ),
        *(
            StepProperty(name, description, spec_step(predicate), explain_step)
            for name, description, predicate in module.STEPS
        ),
    )
    reachables = tuple(
        Reachable(
            name,
            description,
            lambda state, predicate=predicate: predicate(
                tuple(abstract(node) for node in state.nodes), state.seen
            ),
        )
        for name, description, predicate in module.REACHABLES
    )
    return Model(
        name=setup.protocol,
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=invariants,
        step_properties=steps,
        reachables=reachables,
        describe_action=str,
    )


def view_of(params: spec.Params) -> Callable[[Deployment], Mapping[str, Any]]:
    """Named variables of a deployment, for traces and ITF (the figures' names).

    ``col``, ``cnt``, ``d``, ``lastcol``, ``decided`` (None while undecided) and ``r`` (Figure
    1's round) map each honest node to its abstract variable; ``polls`` is the checker's count
    of answers each node received; ``params`` the configuration (an ITF ``Params`` record).
    """

    def view(state: Deployment) -> Mapping[str, Any]:
        nodes = [abstract_node(node) for node in state.nodes]
        return {
            "params": params,
            "col": {i: s.col for i, s in enumerate(nodes)},
            "cnt": {i: s.cnt for i, s in enumerate(nodes)},
            "d": {i: s.d for i, s in enumerate(nodes)},
            "lastcol": {i: s.lastcol for i, s in enumerate(nodes)},
            "decided": {i: s.decided for i, s in enumerate(nodes)},
            "r": {i: s.polls for i, s in enumerate(nodes)},
            "polls": {i: seen.polls for i, seen in enumerate(state.seen)},
        }

    return view


def view(state: Deployment) -> Mapping[str, Any]:
    """The view of a deployment whose parameters the caller knows (see :func:`view_of`)."""
    params = state.nodes[0].params if state.nodes else spec.Params(1, 1, 1, 1)
    return view_of(params)(state)


# -- Mutations shared by the family (impl Ops fields to replace) ---------------------------------


def _validate_trusting_duplicates(
    node: impl.Node, responses: Any
) -> tuple[impl.FaultKind, Any, str] | None:
    problem = impl.validate(node, responses)
    if problem is not None and problem[0] is impl.FaultKind.DUPLICATE_RESPONDER:
        return None
    return problem


def _validate_trusting_colours(
    node: impl.Node, responses: Any
) -> tuple[impl.FaultKind, Any, str] | None:
    problem = impl.validate(node, responses)
    if problem is not None and problem[0] is impl.FaultKind.UNKNOWN_COLOUR:
        return None
    return problem


def _winner_among_answers(node: impl.Node, bag: Mapping[int, int], alpha: int) -> int | None:
    # counts every answered colour, configured or not
    for colour, votes in sorted(bag.items()):
        if votes >= alpha:
            return colour
    return None


def _increment_preference(strength: tuple[int, ...], preference: int) -> tuple[int, ...]:
    return replace_at(strength, preference, strength[preference] + 1)


COMMON_MUTATIONS: dict[str, dict[str, Any]] = {
    "trusts-duplicates": {"validate": _validate_trusting_duplicates},
    "unchecked-colour": {"validate": _validate_trusting_colours, "winner": _winner_among_answers},
    "decided-keeps-polling": {"done": lambda node: False},
    "half-k-threshold": {"preference_quorum": lambda p: p.k // 2},
    "strict-threshold": {"preference_quorum": lambda p: p.alpha_preference + 1},
    "accept-early": {"rounds_over": lambda polls, rounds: polls >= rounds - 1},
    "decide-at-beta-minus-one": {"finalizes": lambda confidence, beta: confidence >= beta - 1},
    "no-reset-on-failure": {"unsuccessful": lambda confidence: confidence},
    # the poll that changes the colour is not counted (the paper's v1 text: cnt := 0)
    "switch-restarts-at-zero": {"on_change": lambda confidence: -1},
    "confidence-at-alpha-preference": {"confidence_quorum": lambda p: p.alpha_preference},
    "switch-on-last-success": {"stronger": lambda strength, choice, preference: True},
    "confidence-on-failed-poll": {"strength_unsuccessful": _increment_preference},
}

COMMON_MUTANTS: dict[str, tuple[str, str]] = {
    # name -> (description, property it breaks)
    "trusts-duplicates": (
        "validation omits the duplicate-responder check: one peer's answer counts twice",
        "faults_change_nothing",
    ),
    "unchecked-colour": (
        "validation omits the colour check and any answered colour can win the poll",
        "preference_valid",
    ),
    "decided-keeps-polling": (
        "a decided node keeps running rounds on late answers (no 'while undecided')",
        "decision_stable",
    ),
}


def mutants(specific: Sequence[tuple[str, str, str, str | None]]) -> tuple[Mutant, ...]:
    """The family's common mutants and a protocol's own ``(name, description, breaks, config)``."""
    common = tuple(Mutant(name, d, breaks) for name, (d, breaks) in COMMON_MUTANTS.items())
    return (*common, *(Mutant(name, d, breaks, config) for name, d, breaks, config in specific))


# -- Hypothesis: random polls on 5-7 nodes --------------------------------------------------------


def machine_class(
    setup: Setup, params: spec.Params, n: int, byzantine: int, mutant: Mutant | None = None
) -> type[RuleBasedStateMachine]:
    """A RuleBasedStateMachine: random samples and Byzantine answers on ``n`` nodes.

    Each rule hands one poll (a random k-subset of the others, Byzantine members answering a
    drawn colour) or one malformed answer set to a node, checks refinement on the spot, and the
    ``@invariant`` evaluates every spec invariant on every node.
    """
    honest = n - byzantine
    spec_module = setup.spec_module
    ops = setup.ops(mutant)

    class SnowMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.state = initial_deployment(
                n, honest, params, [i % params.colours for i in range(honest)]
            )

        @rule(
            node=st.integers(0, honest - 1),
            pick=st.integers(0, 10**6),
            answers=st.lists(st.integers(0, params.colours - 1), min_size=n, max_size=n),
        )
        def poll(self, node: int, pick: int, answers: list[int]) -> None:
            peers = [j for j in range(n) if j != node]
            samples = list(itertools.combinations(peers, params.k))
            sample = samples[pick % len(samples)]
            # honest members answer their preference, Byzantine ones the drawn colour
            said = [honest_answers(self.state, j) for j in sample]
            responses = tuple(
                (j, answers[j] if colour is None else colour)
                for j, colour in zip(sample, said, strict=True)
            )
            action = Poll(node, responses)
            before = self.state
            self.state = apply_poll(setup, ops, params, before, action)
            problem = refinement_problem(setup, params, before, action, self.state)
            require(problem is None, f"refinement violated by {action}: {problem}")
            for name, _, predicate in spec_module.STEPS:
                require(
                    predicate(
                        params,
                        abstract_node(before.nodes[node]),
                        colours_of(responses),
                        abstract_node(self.state.nodes[node]),
                    ),
                    f"{name} violated by {action}",
                )

        @rule(node=st.integers(0, honest - 1), which=st.integers(0, 4))
        def forged(self, node: int, which: int) -> None:
            responses = forged_responses(node, n, params)[which]
            before = self.state.nodes[node]
            after, effects = setup.step(before, impl.PollResponse(responses), ops)
            require(len(effects.faults) == 1, f"forged {responses!r} was not refused")
            require(after == before, "faults_change_nothing violated")

        @invariant()
        def spec_invariants(self) -> None:
            for name, _, predicate in spec_module.INVARIANTS:
                for i, (node, seen) in enumerate(
                    zip(self.state.nodes, self.state.seen, strict=True)
                ):
                    require(
                        predicate(params, abstract_node(node), seen),
                        f"{name} violated at node {i}: {abstract_node(node)}; polls {seen}",
                    )

    SnowMachine.__name__ = f"{setup.protocol.capitalize()}Machine"
    return SnowMachine


# -- The oracle: canonical encoding, vectors and trace validation --------------------------------
#
# Documents (canonical JSON, see :mod:`.codec`)::
#
#     state    {"node": 0, "nodes": 4,
#               "params": {"k": 3, "alpha_preference": 2, "alpha_confidence": 3, "beta": 2,
#                          "colours": 2, "rounds": 1},
#               "preference": 0, "confidence": 1, "last": 0, "decided": null,
#               "strength": [2, 0], "polls": 0}
#     event    {"type": "receive", "responses": [[1, 0], [2, 1], [3, 0]]}
#     effects  {"decided": null, "faults": [{"responder": 1, "kind": "duplicate_responder"}]}
#
# One handler, ``receive``: the answers to one query. The answers are decoded leniently (any
# JSON; arrays become tuples): a malformed answer set is the node's to refuse with a typed
# :class:`impl.FaultKind`, not the decoder's.

_NAT: dict[str, Any] = {"type": "integer", "minimum": 0}
_POS: dict[str, Any] = {"type": "integer", "minimum": 1}


def _colour_or_null() -> dict[str, Any]:
    return {"anyOf": [{"type": "null"}, _NAT]}


@attrs.frozen
class SnowCodec:
    """Encoding of a Snow-family node, its events and effects (the oracle's interface)."""

    protocol: str
    setup: Setup
    ops: impl.Ops = impl.STANDARD_OPS

    def schemas(self) -> dict[str, Any]:
        params = object_schema(
            {
                "k": _POS,
                "alpha_preference": _POS,
                "alpha_confidence": _POS,
                "beta": _POS,
                "colours": {"type": "integer", "minimum": 2},
                "rounds": _POS,
            }
        )
        state = object_schema(
            {
                "node": _NAT,
                "nodes": {"type": "integer", "minimum": 2},
                "params": params,
                "preference": _NAT,
                "confidence": _NAT,
                "last": _NAT,
                "decided": _colour_or_null(),
                "strength": {"type": "array", "items": _NAT},
                "polls": _NAT,
            }
        )
        event = object_schema({"type": {"const": "receive"}, "responses": {}})
        effects = object_schema(
            {
                "decided": _colour_or_null(),
                "faults": {
                    "type": "array",
                    "items": object_schema(
                        {"responder": {}, "kind": {"enum": enum_values(impl.FaultKind)}}
                    ),
                },
            }
        )
        return {"state": state, "event": event, "effects": effects}

    # states
    def encode_state(self, node: impl.Node) -> JSON:
        p = node.params
        return {
            "node": node.node,
            "nodes": node.n,
            "params": {
                "k": p.k,
                "alpha_preference": p.alpha_preference,
                "alpha_confidence": p.alpha_confidence,
                "beta": p.beta,
                "colours": p.colours,
                "rounds": p.rounds,
            },
            "preference": node.preference,
            "confidence": node.confidence,
            "last": node.last,
            "decided": node.decided,
            "strength": list(node.strength),
            "polls": node.polls,
        }

    def decode_state(self, doc: JSON, path: str = "$") -> impl.Node:
        fields = ["node", "nodes", "params", "preference", "confidence", "last", "decided"]
        expect_object(doc, path, [*fields, "strength", "polls"])
        n = expect_int(doc["nodes"], f"{path}.nodes", minimum=2)
        node = expect_int(doc["node"], f"{path}.node", minimum=0)
        if node >= n:
            raise DecodeError(f"{path}.node", f"node {node} out of range for {n}")
        names = ["k", "alpha_preference", "alpha_confidence", "beta", "colours", "rounds"]
        raw = expect_object(doc["params"], f"{path}.params", names)
        params = spec.Params(**{k: expect_int(raw[k], f"{path}.params.{k}") for k in names})
        problem = spec.param_problem(params, n)
        if problem is not None:
            raise DecodeError(f"{path}.params", f"parameters refused: {problem.value}")

        def colour(key: str) -> int:
            value = expect_int(doc[key], f"{path}.{key}", minimum=0)
            if value >= params.colours:
                raise DecodeError(f"{path}.{key}", f"colour {value} of {params.colours}")
            return value

        decided = None if doc["decided"] is None else colour("decided")
        strength = expect_array(doc["strength"], f"{path}.strength")
        if len(strength) != params.colours:
            raise DecodeError(f"{path}.strength", f"expected {params.colours} entries")
        return impl.Node(
            node=node,
            n=n,
            params=params,
            preference=colour("preference"),
            confidence=expect_int(doc["confidence"], f"{path}.confidence", minimum=0),
            last=colour("last"),
            decided=decided,
            strength=tuple(
                expect_int(s, f"{path}.strength[{k}]", minimum=0) for k, s in enumerate(strength)
            ),
            polls=expect_int(doc["polls"], f"{path}.polls", minimum=0),
        )

    # events
    def encode_event(self, event: impl.Event) -> JSON:
        return {"type": "receive", "responses": plain_to_json(event.responses)}

    def decode_event(self, doc: JSON, path: str = "$") -> impl.Event:
        if not isinstance(doc, dict):
            raise DecodeError(path, "expected an object with a field 'type'")
        if doc.get("type") != "receive":
            raise DecodeError(
                f"{path}.type", f"unknown event type {doc.get('type')!r} (known: receive)"
            )
        expect_object(doc, path, ["type", "responses"])
        # lenient on purpose: the node, not the decoder, refuses malformed answers
        return impl.PollResponse(plain_from_json(doc["responses"]))

    # effects
    def encode_effects(self, effects: impl.Effects) -> JSON:
        return {
            "decided": effects.decided,
            "faults": [
                {"responder": plain_to_json(f.responder), "kind": f.kind.value}
                for f in effects.faults
            ],
        }

    def handler(self, event: impl.Event) -> str:
        return "receive"

    def step(self, node: impl.Node, event: impl.Event) -> tuple[impl.Node, impl.Effects]:
        return self.setup.step(node, event, self.ops)


def node_event(action: Action) -> tuple[int, impl.Event]:
    """The node a model action steps and the impl event it hands it (for the oracle)."""
    return action.node, impl.PollResponse(action.responses)


def refusal(node: impl.Node, responses: Any) -> tuple[impl.FaultKind, Any] | None:
    """Why ``node`` must refuse ``responses`` (kind and responder), or None.

    Written apart from the impl's ``validate``, from the spec's reading of a sample: ``k``
    distinct peers (``sample(N \\ u, k)``), each answering a configured colour. The checks run in
    the order the impl documents; the first that fails names the fault.
    """
    if type(responses) is not tuple or any(
        type(pair) is not tuple or len(pair) != 2 for pair in responses
    ):
        return impl.FaultKind.MALFORMED_RESPONSES, None
    if len(responses) != node.params.k:
        return impl.FaultKind.WRONG_SAMPLE_SIZE, None
    answered: list[Any] = []
    for responder, colour in responses:
        if not (type(responder) is int and 0 <= responder < node.n and responder != node.node):
            return impl.FaultKind.UNKNOWN_RESPONDER, responder
        if responder in answered:
            return impl.FaultKind.DUPLICATE_RESPONDER, responder
        answered.append(responder)
        if not (type(colour) is int and 0 <= colour < node.params.colours):
            return impl.FaultKind.UNKNOWN_COLOUR, responder
    return None


def step_checker(setup: Setup, codec: SnowCodec) -> Any:
    """Trace validation of one node's step against the spec (see :mod:`.validate`).

    Checked for each step: the node's identity and parameters never change and match its place
    in the trace (``identity``); malformed answers (see :func:`refusal`) leave the state
    unchanged (``faults_change_nothing``) with one fault of the right kind (``typed_fault``);
    well-formed answers move the node exactly as the spec's ``round_step`` does on the
    abstraction (``refinement``), and the effects report a decision exactly when one is made.
    """
    from .validate import StepChecker

    def check(
        nodes: tuple[impl.Node, ...], i: int, event: impl.Event, post: impl.Node, effects: Any
    ) -> tuple[str, str, str] | None:
        pre = nodes[i]
        if pre.node != i:
            return ("identity", f"node {i} (its place in the trace)", f"node {pre.node}")
        if (post.node, post.n, post.params) != (pre.node, pre.n, pre.params):
            return (
                "identity",
                f"node {i} of {pre.n} with {pre.params}",
                f"node {post.node} of {post.n} with {post.params}",
            )
        refused = refusal(pre, event.responses)
        if refused is not None:
            kind, responder = refused
            if post != pre:
                return (
                    "faults_change_nothing",
                    f"state unchanged: the answers are refused ({kind.value})",
                    f"{abstract_node(post)}",
                )
            if effects is None:
                return None
            expected = {
                "decided": None,
                "faults": [{"responder": plain_to_json(responder), "kind": kind.value}],
            }
            if dumps_line(effects) != dumps_line(expected):
                return ("typed_fault", f"effects {dumps_line(expected)}", _brief(effects))
            return None
        colours = colours_of(event.responses)
        want = setup.spec_module.round_step(pre.params, abstract_node(pre), colours)
        if abstract_node(post) != want:
            return (
                "refinement",
                f"spec round_step on {abstract_node(pre)} with answers {list(colours)} "
                f"gives {want}",
                f"{abstract_node(post)}",
            )
        if effects is None:
            return None
        newly = want.decided if want.decided is not None and pre.decided is None else None
        expected_effects = {"decided": newly, "faults": []}
        if dumps_line(effects) != dumps_line(expected_effects):
            return ("refinement", f"effects {dumps_line(expected_effects)}", _brief(effects))
        return None

    return StepChecker(
        codec=codec, initial_node=lambda i, n: _default_initial(setup, i, n), check=check
    )


def _brief(value: Any, limit: int = 240) -> str:
    """A reported value on one line, cut to ``limit`` characters (it may be anything)."""
    try:
        text = dumps_line(value)
    except (RecursionError, TypeError, ValueError):
        return "(a value that is not JSON)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


_DEFAULT_PARAMS: dict[str, spec.Params] = {}


def _default_initial(setup: Setup, i: int, n: int) -> impl.Node:
    """A trace without initial states starts with the vector config's parameters, colour i % 2."""
    params = _DEFAULT_PARAMS[setup.protocol]
    return impl.new(i, n, params, i % params.colours, allow_unsafe=True)


def itf_checker(setup: Setup) -> ItfChecker:
    """Validation of an ITF trace of a deployment (what ``check --itf`` writes).

    Variable mapping: ``params`` (a ``Params`` record: k, alpha_preference, alpha_confidence,
    beta, colours, rounds) and, per node index, ``col``, ``cnt``, ``d``, ``lastcol``,
    ``decided`` (None while undecided) and ``r`` (Slush's round; 0 for the others), all
    required; ``polls`` (answers received per node) optional: with it, a poll that left a node's
    variables as they were is checked too. From one state to the next at most one node may
    change (or poll), and its new variables
    must be the spec's ``round_step`` of its old ones for *some* answers of ``k`` configured
    colours (the trace need not record the sample): the validator tries them all.
    """

    def prepare(named: dict[str, Any]) -> dict[str, Any]:
        params = named.get("params")
        if not isinstance(params, spec.Params) or spec.param_problem(params) is not None:
            raise ValueError("'params' must be a valid Params record")
        names = ("col", "cnt", "d", "lastcol", "decided", "r")
        tables = [named.get(name) for name in names]
        if not all(isinstance(t, dict) for t in tables):
            raise ValueError(f"variables {', '.join(names)} must map node indices to values")
        indices = sorted(tables[0])
        if indices != list(range(len(indices))) or any(sorted(t) != indices for t in tables):
            raise ValueError("every variable must map the same nodes 0..n-1")
        nodes = tuple(
            spec.NodeState(
                col=named["col"][i],
                cnt=named["cnt"][i],
                d=named["d"][i],
                lastcol=named["lastcol"][i],
                decided=named["decided"][i],
                polls=named["r"][i],
            )
            for i in indices
        )
        polls = named.get("polls", {})
        if not isinstance(polls, dict) or (polls and sorted(polls) != indices):
            raise ValueError("'polls' must map the same nodes 0..n-1 to counts")
        return {"params": params, "nodes": nodes, "polls": polls}

    def check(
        before: dict[str, Any], after: dict[str, Any], earlier: list[dict[str, Any]]
    ) -> tuple[str, str, str] | None:
        params = before["params"]
        if after["params"] != params:
            return ("identity", f"params stay {params}", f"{after['params']}")
        old, new = before["nodes"], after["nodes"]
        # a node that received answers polled, even if its variables did not change
        polled = [i for i in before["polls"] if before["polls"][i] != after["polls"].get(i)]
        changed = sorted({i for i in range(len(old)) if old[i] != new[i]} | set(polled))
        if len(changed) > 1:
            return ("interleaving", "one node polls at a time", f"nodes {changed}")
        if not changed:
            return None
        i = changed[0]
        for answers in itertools.combinations_with_replacement(range(params.colours), params.k):
            if setup.spec_module.round_step(params, old[i], answers) == new[i]:
                return None
        return (
            "refinement",
            f"node {i}: the spec's round_step from {old[i]} for some answers of {params.k}",
            f"{new[i]}",
        )

    return ItfChecker(variants={"Params": spec.Params}, prepare=prepare, check=check)


def oracle_binding(
    setup: Setup, codec: SnowCodec, configs: tuple[str, ...], params: spec.Params
) -> OracleBinding:
    _DEFAULT_PARAMS[setup.protocol] = params
    return OracleBinding(
        codec=codec,
        configs=configs,
        node_event=node_event,
        nodes=lambda state: state.nodes,
        initial_node=lambda i, n: _default_initial(setup, i, n),
        step_checker=step_checker(setup, codec),
        itf_checker=itf_checker(setup),
    )
