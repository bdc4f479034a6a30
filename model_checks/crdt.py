"""Model of a state-based CRDT deployment: impl replicas, a network of snapshots, refinement.

The explored state is the *implementation*: one ``impl.state_based.Replica``
per replica, the set of state messages ever sent, and ghost variables (the updates issued and
each replica's causal history) that the replicas never read. After every step the checker:

* maps the state to the spec's :class:`~mnemosyne_consensus.spec.state_based.SystemState` and
  evaluates every spec invariant there;
* checks *refinement*: the abstract transition is exactly the spec action the impl step stands
  for (``ClientUpdate`` -> ``Update``, ``GossipTimer`` -> ``Send``, ``Receive`` -> ``Deliver``)
  and that action is enabled, or the abstract state did not change (a stutter: a rejected
  request or a forged message);
* checks that every fault and rejection leaves the replica's state unchanged.

Network semantics (DESIGN.md): messages are never removed, so each is delivered in any order,
any number of times, or never. A replica does not receive its own snapshots (that delivery is a
no-op for any join). The adversary alphabet (``forged``) is a fixed set of malformed messages that
every replica may receive at any time: it is not state, so it costs no state-space.

Bounds: at most ``updates`` client updates and ``sends`` distinct snapshots per replica. Both
are derived from the state (the ghost update log and the network), so they add no variables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from ..impl import state_based as impl
from ..spec import state_based as spec
from ..spec.common import replace_at
from ..spec.properties import Invariant, Reachable, StepProperty
from .engine import Model
from .registry_types import Config, Mutant


@attrs.frozen(cache_hash=True)
class InFlight:
    """A message in the network, with the ghost causal history of the payload it carries."""

    message: impl.StateMessage
    seen: frozenset[int]


@attrs.frozen(cache_hash=True)
class Deployment:
    # replicas (implementation state)
    nodes: tuple[impl.Replica[Any], ...]
    # network: every state message ever sent, as a sorted tuple without duplicates (canonical,
    # and iterated in a fixed order so that traces do not depend on hash seeds)
    network: tuple[InFlight, ...]
    # ghost: updates issued (uid = index) and each replica's causal history
    updates: tuple[spec.UpdateRecord, ...]
    seen: tuple[frozenset[int], ...]


# -- Actions of the model (impl events delivered to a replica) -----------------------------------


@attrs.frozen(cache_hash=True)
class LocalUpdate:
    replica: int
    op: Any

    def __str__(self) -> str:
        return f"replica {self.replica}: client update {self.op!r}"


@attrs.frozen(cache_hash=True)
class Gossip:
    replica: int

    def __str__(self) -> str:
        return f"replica {self.replica}: gossip timer fires, broadcast state"


@attrs.frozen(cache_hash=True)
class Deliver:
    replica: int
    packet: InFlight

    def __str__(self) -> str:
        m = self.packet.message
        return f"replica {self.replica}: receive state of replica {m.sender}: {m.payload!r}"


@attrs.frozen(cache_hash=True)
class DeliverForged:
    replica: int
    message: impl.StateMessage

    def __str__(self) -> str:
        m = self.message
        return f"replica {self.replica}: receive forged message from {m.sender!r}: {m.payload!r}"


ModelAction = LocalUpdate | Gossip | Deliver | DeliverForged


@attrs.frozen
class CrdtSetup:
    """Everything the generic model needs to know about one CRDT."""

    crdt: spec.CvRDT[Any, Any, Any]
    replica_type: impl.ReplicaType[Any]
    to_spec: Callable[[Any, int], Any]  # impl payload, n -> spec payload
    # the client operations replica i may issue as its k-th update (tags/timestamps are inputs)
    ops: Callable[[Config, int, int], tuple[Any, ...]]
    forged: Callable[[Config], tuple[impl.StateMessage, ...]]
    extra_reachables: tuple[Reachable[spec.SystemState], ...] = ()
    # mutant name -> (spec replacements, impl replacements), applied with attrs.evolve
    mutations: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = attrs.Factory(dict)


def build_model(setup: CrdtSetup, config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    n: int = config.params["replicas"]
    max_updates: int = config.params["updates"]
    max_sends: int = config.params["sends"]
    crdt, rtype = setup.crdt, setup.replica_type
    if mutant is not None:
        spec_patch, impl_patch = setup.mutations[mutant.name]
        crdt = attrs.evolve(crdt, **spec_patch)
        rtype = attrs.evolve(rtype, **impl_patch)
    forged = setup.forged(config)
    op_table = {(i, k): setup.ops(config, i, k) for i in range(n) for k in range(max_updates)}

    def initial_states() -> Iterator[Deployment]:
        nodes = tuple(impl.new_replica(rtype, i, n) for i in range(n))
        yield Deployment(
            nodes=tuple(interned.setdefault(node, node) for node in nodes),
            network=(),
            updates=(),
            seen=tuple(frozenset() for _ in range(n)),
        )

    # Action objects are built once and reused: the search asks for them millions of times.
    update_actions = {
        (i, k): tuple(LocalUpdate(i, op) for op in op_table[i, k])
        for i in range(n)
        for k in range(max_updates)
    }
    gossip_actions = tuple(Gossip(i) for i in range(n))
    forged_actions = tuple(DeliverForged(i, m) for m in forged for i in range(n))
    deliver_actions: dict[InFlight, tuple[Deliver, ...]] = {}

    def actions(state: Deployment) -> Iterator[ModelAction]:
        issued = [0] * n
        for record in state.updates:
            issued[record.replica] += 1
        in_flight = [0] * n
        for packet in state.network:
            in_flight[packet.message.sender] += 1
        for i in range(n):
            if issued[i] < max_updates:
                yield from update_actions[i, issued[i]]
            if in_flight[i] < max_sends:
                yield gossip_actions[i]
        # A delivery whose outcome for the receiver in its current state is already known to
        # change nothing (the memoized step left the replica as it was, and the packet brings no
        # update it has not seen) leads back to this very state: such a self-loop can break no
        # property and reach no state, so it is not offered again.
        nodes, seen = state.nodes, state.seen
        for packet in state.network:
            deliveries = deliver_actions.get(packet)
            if deliveries is None:
                deliveries = deliver_actions[packet] = tuple(
                    Deliver(i, packet) for i in range(n) if i != packet.message.sender
                )
            for action in deliveries:
                node = nodes[action.replica]
                known = step_results.get((node, action))
                if known is None or known[0] is not node or not packet.seen <= seen[action.replica]:
                    yield action
        for action in forged_actions:
            node = nodes[action.replica]
            known = step_results.get((node, action))
            if known is None or known[0] is not node:
                yield action

    # The replicas' step function is pure, and a replica passes through only a handful of states
    # while the deployment passes through thousands: memoizing its result on (replica, action)
    # -- the action determines the event -- gives the same results and saves most of the work.
    # Replica states are interned (one object per value), so that these lookups compare
    # replicas by identity instead of field by field.
    step_results: dict[tuple[impl.Replica[Any], ModelAction], tuple[Any, impl.Effects]] = {}
    interned: dict[impl.Replica[Any], impl.Replica[Any]] = {}

    def step(node: impl.Replica[Any], action: ModelAction) -> tuple[Any, impl.Effects]:
        key = (node, action)
        result = step_results.get(key)
        if result is None:
            new_node, effects = impl.step(rtype, node, node_event(action)[1])
            new_node = interned.setdefault(new_node, new_node)
            result = step_results[key] = (new_node, effects)
        return result

    def next_state(state: Deployment, action: ModelAction) -> Deployment:
        i = action.replica
        node = state.nodes[i]
        new_node, effects = step(node, action)
        if isinstance(action, LocalUpdate):
            if effects.rejections:
                return state
            record = spec.UpdateRecord(len(state.updates), i, action.op, state.seen[i])
            return Deployment(
                replace_at(state.nodes, i, new_node),
                state.network,
                (*state.updates, record),
                replace_at(state.seen, i, state.seen[i] | {record.uid}),
            )
        if isinstance(action, Gossip):
            sent = {InFlight(m, state.seen[i]) for m in effects.broadcasts}
            if sent <= set(state.network):
                return state
            network = tuple(sorted(set(state.network) | sent, key=_packet_order))
            return Deployment(state.nodes, network, state.updates, state.seen)
        if isinstance(action, Deliver) and not effects.faults:
            known = state.seen[i]
            if action.packet.seen <= known:
                if new_node is node or new_node == node:
                    return state
                seen = state.seen
            else:
                seen = replace_at(state.seen, i, known | action.packet.seen)
            return Deployment(
                replace_at(state.nodes, i, new_node), state.network, state.updates, seen
            )
        # a refused message (the model still applies whatever the replica did, so that a
        # replica that wrongly accepts it is caught by ``faults_change_nothing``)
        if new_node is node or new_node == node:
            return state
        return Deployment(
            replace_at(state.nodes, i, new_node), state.network, state.updates, state.seen
        )

    # -- abstraction to the spec, memoized on the object (consecutive checks share it) ---------
    payload_cache: dict[tuple[int, Any], Any] = {}

    def abstract_payload(payload: Any) -> Any:
        key = (n, payload)
        found = payload_cache.get(key)
        if found is None:
            found = payload_cache[key] = setup.to_spec(payload, n)
        return found

    # replicas are interned, so their abstract payloads can be remembered per replica object
    node_payloads: dict[impl.Replica[Any], Any] = {}

    def abstract_node(node: impl.Replica[Any]) -> Any:
        found = node_payloads.get(node)
        if found is None:
            found = node_payloads[node] = abstract_payload(node.payload)
        return found

    # Consecutive checks read the same two states (the one being expanded and its successor):
    # remember the last two projections by identity. Networks recur across many states.
    recent: list[Any] = [None, None, None, None]  # state, projection, state, projection
    network_cache: dict[tuple[InFlight, ...], frozenset[spec.Snapshot]] = {}

    def project(state: Deployment) -> spec.SystemState:
        if recent[0] is state:
            return recent[1]  # type: ignore[no-any-return]
        if recent[2] is state:
            return recent[3]  # type: ignore[no-any-return]
        sent = network_cache.get(state.network)
        if sent is None:
            sent = network_cache[state.network] = frozenset(
                spec.Snapshot(p.message.sender, abstract_payload(p.message.payload), p.seen)
                for p in state.network
            )
        abstract = spec.SystemState(
            payloads=tuple([abstract_node(node) for node in state.nodes]),
            sent=sent,
            updates=state.updates,
            seen=state.seen,
        )
        recent[2], recent[3] = recent[0], recent[1]
        recent[0], recent[1] = state, abstract
        return abstract

    spec_actions: dict[ModelAction, spec.Action | None] = {}

    def spec_action(pre: Deployment, action: ModelAction) -> spec.Action | None:
        found = spec_actions.get(action, spec_actions)
        if found is not spec_actions:
            return found  # type: ignore[return-value]
        result: spec.Action | None = None  # a forged message has no spec counterpart
        if isinstance(action, LocalUpdate):
            result = spec.Update(action.replica, action.op)
        elif isinstance(action, Gossip):
            result = spec.Send(action.replica)
        elif isinstance(action, Deliver):
            p = action.packet
            snapshot = spec.Snapshot(p.message.sender, abstract_payload(p.message.payload), p.seen)
            result = spec.Deliver(action.replica, snapshot)
        spec_actions[action] = result
        return result

    def refines(pre: Deployment, action: ModelAction, post: Deployment) -> bool:
        return _refinement_problem(pre, action, post) is None

    def _refinement_problem(pre: Deployment, action: ModelAction, post: Deployment) -> str | None:
        before, after = project(pre), project(post)
        if after == before:
            return None  # stutter
        expected_action = spec_action(pre, action)
        if expected_action is None:
            return "the step changed the abstract state but corresponds to no spec action"
        if not spec.enabled(crdt, before, expected_action):
            return f"spec action {expected_action!r} is not enabled"
        expected = spec.next_state(crdt, before, expected_action)
        if expected != after:
            return (
                f"spec action {expected_action!r} gives payloads {expected.payloads!r}, "
                f"the impl reached {after.payloads!r}"
            )
        return None

    def explain_refinement(pre: Deployment, action: ModelAction, post: Deployment) -> str:
        return _refinement_problem(pre, action, post) or ""

    def faults_change_nothing(pre: Deployment, action: ModelAction, post: Deployment) -> bool:
        if isinstance(action, DeliverForged):
            return post == pre
        if isinstance(action, LocalUpdate) and len(post.updates) == len(pre.updates):
            return post.nodes == pre.nodes  # a rejected request
        return True

    invariants: tuple[Invariant[Any], ...] = spec.invariants(crdt, project)
    steps: tuple[StepProperty[Any, Any], ...] = (
        *spec.step_properties(crdt, project),
        StepProperty(
            "refinement",
            "every impl step is an enabled spec action or a stutter",
            refines,
            explain_refinement,
        ),
        StepProperty(
            "faults_change_nothing",
            "a rejected request or a malformed message leaves the state unchanged",
            faults_change_nothing,
        ),
    )
    reachables = (
        *spec.reachables(project),
        *(
            Reachable(r.name, r.description, _lift(project, r.holds))
            for r in setup.extra_reachables
        ),
    )
    return Model(
        name=crdt.name,
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=invariants,
        step_properties=steps,
        reachables=reachables,
        describe_action=str,
    )


def _lift(
    project: Callable[[Deployment], spec.SystemState], holds: Callable[[spec.SystemState], bool]
) -> Callable[[Deployment], bool]:
    return lambda state: holds(project(state))


def _packet_order(packet: InFlight) -> tuple[str, str, tuple[int, ...]]:
    m = packet.message
    return (repr(m.sender), repr(m.payload), tuple(sorted(packet.seen)))


def view(state: Deployment) -> Mapping[str, Any]:
    """Named variables of a deployment, for traces and ITF."""
    named: dict[str, Any] = {"payload": {i: node.payload for i, node in enumerate(state.nodes)}}
    named["local"] = {i: node.local for i, node in enumerate(state.nodes)}
    named["network"] = tuple((p.message.sender, p.message.payload) for p in state.network)
    named["updates"] = tuple((u.uid, u.replica, u.op) for u in state.updates)
    named["seen"] = dict(enumerate(state.seen))
    return named


def node_event(action: ModelAction) -> tuple[int, impl.Event]:
    """The replica a model action steps and the impl event it hands it (for the oracle)."""
    if isinstance(action, LocalUpdate):
        return action.replica, impl.ClientUpdate(action.op)
    if isinstance(action, Gossip):
        return action.replica, impl.GossipTimer()
    if isinstance(action, Deliver):
        return action.replica, impl.Receive(action.packet.message)
    return action.replica, impl.Receive(action.message)


def step_checker(setup: CrdtSetup, codec: Any) -> Any:
    """Trace validation of one replica step against the spec (see :mod:`validate`).

    Checked for each step: the replica's identity does not change; the abstract payload moves by
    exactly the spec action the event stands for (``Update`` when the spec enables it, ``Deliver``
    of a well-formed message) or stays put (a rejected input: a stutter); payloads only inflate;
    a fault or rejection comes with an unchanged state; a gossip broadcasts the replica's own
    payload; every reported state is well formed (decoding validates it). The lattice laws are
    properties of the spec's join, not of a trace (the proofs and the model runs check them);
    invariants that need the ghost history of updates (``convergence``, ``correct_value``) are
    the model checker's: a streamed trace does not keep that history.
    """
    from .validate import StepChecker

    crdt, rtype = setup.crdt, setup.replica_type
    abstract_cache: dict[tuple[int, Any], Any] = {}

    def abstract(payload: Any, n: int) -> Any:
        key = (n, payload)
        found = abstract_cache.get(key)
        if found is None:
            if len(abstract_cache) > 4096:
                abstract_cache.clear()  # bounded memory, whatever the trace length
            found = abstract_cache[key] = setup.to_spec(payload, n)
        return found

    def check(
        nodes: tuple[impl.Replica[Any], ...],
        i: int,
        event: impl.Event,
        post: impl.Replica[Any],
        effects: Any,
    ) -> tuple[str, str, str] | None:
        pre = nodes[i]
        if post is pre and not (effects is not None and isinstance(event, impl.GossipTimer)):
            return None  # the same state reported again: a stutter, always allowed
        if (post.replica_id, post.n) != (pre.replica_id, pre.n):
            return (
                "identity",
                f"replica {pre.replica_id} of {pre.n}",
                f"replica {post.replica_id} of {post.n}",
            )
        n = pre.n
        before, after = abstract(pre.payload, n), abstract(post.payload, n)
        refused = bool(effects and (effects.get("faults") or effects.get("rejections")))
        if refused and post != pre:
            return ("faults_change_nothing", "the state unchanged after a refusal", repr(after))
        if not crdt.leq(before, after):
            return ("updates_inflate", f"a payload above {before!r}", repr(after))
        if isinstance(event, impl.GossipTimer):
            if after != before:
                return ("refinement", f"spec Send: payload stays {before!r}", repr(after))
            if effects is not None:
                sent = effects.get("broadcasts")
                if not (isinstance(sent, list) and len(sent) == 1):
                    return ("refinement", "spec Send: one broadcast of the state", repr(sent))
                if sent[0] != {"sender": i, "payload": codec.payload_to_json(pre.payload)}:
                    return (
                        "refinement",
                        "spec Send: broadcast of the replica's own state",
                        repr(sent[0]),
                    )
        elif after != before:
            if isinstance(event, impl.ClientUpdate):
                if not crdt.update_enabled(before, i, event.op):
                    return ("refinement", f"{event.op!r} is not enabled at {before!r}", repr(after))
                expected = crdt.update(before, i, event.op)
                if expected != after:
                    return (
                        "refinement",
                        f"spec Update {event.op!r} gives {expected!r}",
                        repr(after),
                    )
                return None
            else:
                message = event.message
                sender_ok = impl.is_nat(message.sender) and message.sender < n
                if not sender_ok or rtype.validate_payload(message.payload, n) is not None:
                    return (
                        "refinement",
                        "a malformed message is refused, state unchanged",
                        repr(after),
                    )
                expected = crdt.join(before, abstract(message.payload, n))
                if expected != after:
                    what = "spec Deliver: join with the message"
                    return ("refinement", f"{what} gives {expected!r}", repr(after))
        return None

    return StepChecker(
        codec=codec,
        initial_node=lambda i, n: impl.new_replica(rtype, i, n),
        check=check,
    )


def itf_step_checker(setup: CrdtSetup, codec: Any) -> Any:
    """Validation of an ITF trace of a CRDT deployment (what ``check --itf`` writes).

    Variable mapping: ``payload`` (required) maps each node index to its payload in this
    implementation's representation; ``updates`` (optional) is the sequence of
    ``(uid, replica, op)`` issued so far; ``network`` (optional) the ``(sender, payload)``
    messages sent so far. From one state to the next at most one node's payload may change, and
    its new payload must be the spec's ``update`` of an operation newly recorded in ``updates``
    for that node, or the spec's ``join`` with a payload in the earlier state's ``network``
    (without that variable: with any payload some node held earlier). A payload never shrinks.
    """
    from .validate import ItfChecker

    crdt = setup.crdt

    def prepare(named: dict[str, Any]) -> dict[str, Any]:
        payloads = named.get("payload")
        if not isinstance(payloads, dict) or sorted(payloads) != list(range(len(payloads))):
            raise ValueError("'payload' must map nodes 0..n-1 to payloads")
        n = len(payloads)
        if n == 0:
            raise ValueError("'payload' names no node")
        for node, payload in payloads.items():
            problem = setup.replica_type.validate_payload(payload, n)
            if problem is not None:
                raise ValueError(f"payload of node {node}: {problem}")
        for optional in ("updates", "network"):
            if optional in named and not isinstance(named[optional], tuple | frozenset):
                raise ValueError(f"{optional!r} must be a sequence")
        return {**named, "nodes": tuple(payloads[i] for i in range(n))}

    def check(
        before: dict[str, Any], after: dict[str, Any], earlier: list[dict[str, Any]]
    ) -> tuple[str, str, str] | None:
        old, new = before["nodes"], after["nodes"]
        n = len(old)
        changed = [i for i in range(n) if old[i] != new[i]]
        if len(changed) > 1:
            return ("interleaving", "one node steps at a time", f"nodes {changed} changed")
        if not changed:
            return None
        i = changed[0]
        a, b = setup.to_spec(old[i], n), setup.to_spec(new[i], n)
        if not crdt.leq(a, b):
            return ("updates_inflate", f"node {i}: a payload above {a!r}", repr(b))
        recorded = after.get("updates", ())[len(before.get("updates", ())) :]
        for entry in recorded:
            if len(entry) == 3 and entry[1] == i:
                op = entry[2]
                if crdt.update_enabled(a, i, op) and crdt.update(a, i, op) == b:
                    return None
        if "network" in before:
            sources = [payload for _, payload in before["network"]]
        else:
            sources = [p for state in earlier for p in state["nodes"]]
        for payload in sources:
            if setup.replica_type.validate_payload(payload, n) is None:
                if crdt.join(a, setup.to_spec(payload, n)) == b:
                    return None
        return (
            "refinement",
            f"node {i}: the spec's update by a newly recorded operation, or a join with a sent "
            f"state, from {a!r}",
            repr(b),
        )

    variants = {cls.__name__: cls for cls in codec.ops.classes}
    return ItfChecker(variants=variants, prepare=prepare, check=check)
