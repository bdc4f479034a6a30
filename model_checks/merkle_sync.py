"""Merkle state sync: bounded model with a lying peer, mutants, Hypothesis machine, oracle, bench.

Source: :mod:`mnemosyne_consensus.spec.merkle_sync` (compact sparse Merkle tree over SHA-256 key
hashes, Ed25519-signed roots, one-way pull).

The explored state is the implementation: peer A (:class:`impl.SyncNode`, pulling), peer B (the
same node type, answering), the pool of every message sent (requests from A, answers from B:
never removed, so each is delivered any number of times, in any order, or never) and a ghost,
A's store before the pull. Initial states: every pair of stores over the configured keys and
values. Actions:

* ``Start``           -- the application asks A to pull (once per run);
* ``Answer(request)`` -- B handles a request from the pool (its answer joins the pool);
* ``Deliver(answer)`` -- A handles an answer from the pool (again and again: duplicates);
* ``Forged(message)`` -- A receives a message of a fixed alphabet of lies, the same in every
  state: roots signed with another key (``bad_signature``), roots B signs over *malformed* trees
  (a leaf out of place, a branch over one key), node answers with the wrong content (empty,
  a forged value, a malformed view) at the top paths. Signatures are unforgeable: only B's key
  signs B's roots, so the lies B signs are B's own (a Byzantine B).

Checked after every step: ``synced_states_equal`` (a pull completed under B's real root leaves
A equal to B), ``nothing_unverified_applied`` (A holds its old store or B's, never a mix or a
lie), ``messages_bounded`` (a pull under B's real root sent at most ``2 + 2·d·(D + 1)``
requests, :func:`spec.request_bound`), and the step properties ``refinement`` (A's store changes
only by the spec's ``Pull``, to B's store) and ``faults_change_nothing``
(a refused message leaves A unchanged, session included). A lie that happens to be the truth
(a forged copy of B's own answer) is accepted like B's: answers are checked, not trusted.

Measured (one core, other jobs running): ``small`` (4 keys, 256 pairs of stores) has 11,583
distinct states, about 6 s; ``tiny`` 3,228 states, about 1 s; ``values`` 34,514, about 16 s.
``DEPTH_EXCEEDED`` and ``BUDGET_EXCEEDED`` cannot arise with a handful of keys (trees two or
three levels deep); the tests drive them by hand.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import time
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ..impl import merkle_sync as impl
from ..spec import merkle_sync as spec
from ..spec.merkle_sync import EMPTY, ROOT, Branch, Empty, Leaf, Store
from ..spec.properties import Invariant, Reachable, StepProperty
from .codec import JSON, DecodeError, enum_values, expect_int, expect_object, object_schema
from .engine import Model
from .machines import require
from .registry_types import Config, Mutant, ProtocolEntry
from .vectors import OracleBinding

SEED_A, SEED_B, SEED_BYZANTINE = (impl.derive_seed(i) for i in (0, 1, 2))
KEY_A, KEY_B = impl.public_key(SEED_A), impl.public_key(SEED_B)

# -- State and actions ---------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class Deployment:
    # the peers: A pulls from B
    a: impl.SyncNode
    b: impl.SyncNode
    # network: every message sent, in a canonical order
    pool: tuple[impl.Message, ...]
    # ghost: A's store before the pull
    a_initial: Store


@attrs.frozen(cache_hash=True)
class Start:
    def __str__(self) -> str:
        return "A: start a pull"


@attrs.frozen(cache_hash=True)
class Answer:
    request: impl.RootRequest | impl.NodeRequest

    def __str__(self) -> str:
        return f"B: answer {_describe(self.request)}"


@attrs.frozen(cache_hash=True)
class Deliver:
    message: impl.SignedRoot | impl.NodeAnswer

    def __str__(self) -> str:
        return f"A: receive {_describe(self.message)}"


@attrs.frozen(cache_hash=True)
class Forged:
    name: str
    message: impl.Message

    def __str__(self) -> str:
        return f"A: receive forged ({self.name}) {_describe(self.message)}"


ModelAction = Start | Answer | Deliver | Forged


def path_text(path: Any) -> str:
    if not impl.is_path(path):
        return repr(path)
    depth, prefix = path
    return format(prefix, f"0{depth}b") if depth else "root"


def _describe(message: Any) -> str:
    if isinstance(message, impl.RootRequest):
        return "root request"
    if isinstance(message, impl.SignedRoot):
        root = message.root.hex()[:8] if isinstance(message.root, bytes) else message.root
        return f"signed root {root} of {message.count} keys"
    if isinstance(message, impl.NodeRequest):
        return f"request for node {path_text(message.path)}"
    view = message.view
    if isinstance(view, Leaf):
        shown = f"leaf {view.key!r}={view.value!r}"
    elif isinstance(view, Branch):
        shown = f"branch of {view.count}"
    else:
        shown = "empty" if isinstance(view, Empty) else repr(view)
    return f"node {path_text(message.path)}: {shown}"


def _order(message: impl.Message) -> str:
    return repr(message)


# -- The lying peer's alphabet -------------------------------------------------------------------


def forged_messages(keys: tuple[bytes, ...], b_store: Store | None = None) -> tuple[Forged, ...]:
    """A fixed alphabet of lies (computed from the configuration's keys only)."""
    out_of_place = next(k for k in keys if hashlib.sha256(k).digest()[0] >= 0x80)
    left_key = next(k for k in keys if hashlib.sha256(k).digest()[0] < 0x80)
    bad_root = spec.branch_hash(2, spec.leaf_hash(out_of_place, b"x"), EMPTY)
    thin_root = spec.branch_hash(1, spec.leaf_hash(left_key, b"x"), EMPTY)
    lies = [
        Forged(
            "bad_signature", impl.SignedRoot(EMPTY, 0, impl.sign_root(SEED_BYZANTINE, EMPTY, 0))
        ),
        Forged("byzantine_root", impl.SignedRoot(bad_root, 2, impl.sign_root(SEED_B, bad_root, 2))),
        Forged("thin_root", impl.SignedRoot(thin_root, 1, impl.sign_root(SEED_B, thin_root, 1))),
        Forged("empty_root", impl.NodeAnswer(ROOT, Empty())),
        Forged(
            "byzantine_root", impl.NodeAnswer(ROOT, Branch(2, bad_root_left(out_of_place), EMPTY))
        ),
        Forged(
            "thin_root", impl.NodeAnswer(ROOT, Branch(1, spec.leaf_hash(left_key, b"x"), EMPTY))
        ),
        Forged("out_of_place", impl.NodeAnswer((1, 0), Leaf(out_of_place, b"x"))),
        Forged("wrong_leaf", impl.NodeAnswer(ROOT, Leaf(keys[0], b"forged"))),
        Forged("malformed", impl.NodeAnswer(ROOT, "not a view")),
    ]
    for path in ((1, 0), (1, 1)):
        lies.append(Forged("wrong_empty", impl.NodeAnswer(path, Empty())))
        lies.append(Forged("wrong_leaf", impl.NodeAnswer(path, Leaf(left_key, b"forged"))))
    if b_store is not None:
        root, count = spec.root_hash(b_store), len(b_store)
        signature = impl.sign_root(SEED_BYZANTINE, root, count)
        lies.append(Forged("bad_signature", impl.SignedRoot(root, count, signature)))
    return tuple(lies)


def bad_root_left(out_of_place: bytes) -> bytes:
    return spec.leaf_hash(out_of_place, b"x")


# -- Mutants -------------------------------------------------------------------------------------

MUTANTS = (
    Mutant(
        "apply-before-verify",
        "A writes a received leaf into its store before checking its hash",
        "nothing_unverified_applied",
    ),
    Mutant(
        "keeps-deleted-keys",
        "A merges the fetched leaves into its store (a union, without the final root check) "
        "instead of taking the peer's state: keys the peer lacks survive",
        "synced_states_equal",
    ),
    Mutant(
        "rerequests-on-duplicate",
        "A asks again whenever an answer comes that it did not expect (cyclic answers loop it)",
        "messages_bounded",
    ),
    Mutant(
        "trusts-unsigned-root",
        "A skips the Ed25519 check of the peer's root",
        "refinement",
    ),
    Mutant(
        "wrong-hash-drops-pending",
        "A gives up on a path whose answer hashes wrong (reporting the fault all the same)",
        "faults_change_nothing",
    ),
)

_OPS = {
    "apply-before-verify": impl.SyncOps(apply_before_verify=True),
    "keeps-deleted-keys": impl.SyncOps(keeps_deleted_keys=True),
    "rerequests-on-duplicate": impl.SyncOps(rerequests_on_duplicate=True),
    "trusts-unsigned-root": impl.SyncOps(trusts_unsigned_root=True),
    "wrong-hash-drops-pending": impl.SyncOps(wrong_hash_drops_pending=True),
}


def ops_for(mutant: Mutant | None) -> impl.SyncOps:
    return impl.STANDARD_OPS if mutant is None else _OPS[mutant.name]


# -- The model -----------------------------------------------------------------------------------


def stores(keys: tuple[bytes, ...], values: tuple[bytes, ...]) -> list[Store]:
    """Every store over the keys: each key absent or holding one of the values."""
    choices = [(None, *values)] * len(keys)
    result = []
    for picked in itertools.product(*choices):
        result.append(tuple((k, v) for k, v in zip(keys, picked, strict=True) if v is not None))
    return result


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    keys: tuple[bytes, ...] = tuple(config.params["keys"])
    values: tuple[bytes, ...] = tuple(config.params["values"])
    ops = ops_for(mutant)
    forged = forged_messages(keys)
    roots: dict[Store, bytes] = {}
    bounds: dict[tuple[Store, Store], int] = {}
    answers: dict[tuple[impl.SyncNode, Any], tuple[impl.SyncNode, impl.Effects]] = {}

    def root_of(store: Store) -> bytes:
        found = roots.get(store)
        if found is None:
            found = roots[store] = spec.root_hash(store)
        return found

    def a_step(node: impl.SyncNode, event: Any) -> tuple[impl.SyncNode, impl.Effects]:
        key = (node, event)
        found = answers.get(key)
        if found is None:
            found = answers[key] = impl.step(node, event, ops)
        return found

    def initial_states() -> Iterator[Deployment]:
        every = stores(keys, values)
        for a_store, b_store in itertools.product(every, every):
            yield Deployment(
                impl.new(a_store, SEED_A, KEY_B), impl.new(b_store, SEED_B, KEY_A), (), a_store
            )

    def actions(state: Deployment) -> Iterator[ModelAction]:
        if state.a.session.phase is impl.Phase.IDLE:
            yield Start()
        for message in state.pool:
            if isinstance(message, impl.RootRequest | impl.NodeRequest):
                yield Answer(message)
            else:
                yield Deliver(message)
        yield from forged

    def next_state(state: Deployment, action: ModelAction) -> Deployment:
        if isinstance(action, Answer):
            _, effects = impl.step(state.b, impl.Receive(action.request))
            return _sent(state, state.a, effects.sends)
        if isinstance(action, Start):
            node, effects = a_step(state.a, impl.StartSync())
        elif isinstance(action, Deliver):
            node, effects = a_step(state.a, impl.Receive(action.message))
        else:
            node, effects = a_step(state.a, impl.Receive(action.message))
        if node == state.a and not effects.sends:
            return state
        return _sent(state, node, effects.sends)

    def _sent(state: Deployment, a: impl.SyncNode, sends: tuple[Any, ...]) -> Deployment:
        pool = state.pool
        fresh = [m for m in sends if m not in pool]
        if fresh:
            pool = tuple(sorted((*pool, *fresh), key=_order))
        if a == state.a and pool is state.pool:
            return state
        return attrs.evolve(state, a=a, pool=pool)

    def abstract(state: Deployment) -> spec.SyncState:
        return spec.SyncState(state.a.store, state.b.store, state.a_initial)

    def honest_pull(state: Deployment) -> bool:
        return state.a.session.root in (None, root_of(state.b.store))

    def completed_honestly(state: Deployment) -> bool:
        session = state.a.session
        return session.phase is impl.Phase.DONE and session.root == root_of(state.b.store)

    def bounded(state: Deployment) -> bool:
        if not honest_pull(state):
            return True  # a lying peer is bounded by the request budget instead
        key = (state.a_initial, state.b.store)
        bound = bounds.get(key)
        if bound is None:
            bound = bounds[key] = spec.request_bound(*key)
        return state.a.session.requests <= bound  # spec.messages_bounded, memoized

    def refinement_problem(pre: Deployment, action: ModelAction, post: Deployment) -> str | None:
        if pre.a.store == post.a.store:
            return None  # a stutter of the spec
        if not spec.pull_enabled(abstract(pre)):
            return "A's store changed though it equals B's"
        if post.a.store != spec.apply_pull(abstract(pre)).a:
            return f"A's store became {post.a.store!r}, not B's {pre.b.store!r} (spec Pull)"
        # (the answer that completes a pull may come from anyone: it is checked, not trusted)
        return None

    def faults_change_nothing(pre: Deployment, action: ModelAction, post: Deployment) -> bool:
        if not isinstance(action, Deliver | Forged):
            return True
        _, effects = a_step(pre.a, impl.Receive(action.message))
        return not effects.faults or post.a == pre.a

    invariants = (
        Invariant(
            "synced_states_equal",
            "after a completed pull under B's real signed root, A's state equals B's",
            lambda s: spec.synced_states_equal(abstract(s), completed_honestly(s)),
            lambda s: f"A {s.a.store!r}, B {s.b.store!r}",
        ),
        Invariant(
            "nothing_unverified_applied",
            "A holds its old state or B's: nothing of a lie, no partial pull",
            lambda s: spec.nothing_unverified_applied(abstract(s)),
            lambda s: f"A {s.a.store!r}, before {s.a_initial!r}, B {s.b.store!r}",
        ),
        Invariant(
            "messages_bounded",
            "a pull under B's real root sends at most 2 + 2·d·(D + 1) requests",
            bounded,
            lambda s: (
                f"{s.a.session.requests} requests, bound "
                f"{spec.request_bound(s.a_initial, s.b.store)}"
            ),
        ),
    )
    step_properties = (
        StepProperty(
            "refinement",
            "A's store changes only by the spec's Pull, to B's store",
            lambda pre, act, post: refinement_problem(pre, act, post) is None,
            lambda pre, act, post: refinement_problem(pre, act, post) or "",
        ),
        StepProperty(
            "faults_change_nothing",
            "a refused message leaves A unchanged, session included",
            faults_change_nothing,
            lambda pre, act, post: f"A's session went {pre.a.session} -> {post.a.session}",
        ),
    )
    reachables = (
        Reachable(
            "pulled_a_difference",
            "a pull completed and changed A's state to B's",
            lambda s: completed_honestly(s) and s.a.store != s.a_initial,
        ),
        Reachable(
            "pulled_a_deletion",
            "a completed pull deleted a key B does not have",
            lambda s: completed_honestly(s) and bool(set(dict(s.a_initial)) - set(dict(s.b.store))),
        ),
        Reachable(
            "already_in_sync",
            "equal roots: the pull ends after one request",
            lambda s: completed_honestly(s) and s.a.session.requests == 1,
        ),
        Reachable(
            "descended_two_levels",
            "a pull asked for nodes two levels down",
            lambda s: any(p[0] >= 2 for p, _ in s.a.session.pending) or s.a.session.requests >= 4,
        ),
        Reachable(
            "accepted_a_lying_root",
            "A descends under a root B signed over a malformed tree (and applies nothing of it)",
            lambda s: not honest_pull(s),
        ),
    )
    return Model(
        name="merkle-sync",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=invariants,
        step_properties=step_properties,
        reachables=reachables,
        describe_action=str,
    )


def _store_view(store: Store) -> dict[str, str]:
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in store}


def view(state: Deployment) -> Mapping[str, Any]:
    """Named variables of a deployment, for traces and ITF."""
    session = state.a.session
    return {
        "a": _store_view(state.a.store),
        "b": _store_view(state.b.store),
        "a_initial": _store_view(state.a_initial),
        "phase": session.phase.value,
        "pending": tuple(path_text(p) for p, _ in session.pending),
        "requests": session.requests,
        "pool": tuple(_describe(m) for m in state.pool),
    }


CONFIGS = (
    Config(
        "small",
        "4 keys, one value: every pair of stores (256), every delivery order and duplication, "
        "the lying peer's alphabet",
        {"keys": (b"k0", b"k1", b"k2", b"k3"), "values": (b"x",)},
        expected_distinct_states=11583,
    ),
    Config(
        "tiny",
        "2 keys, two values: every pair of stores (81)",
        {"keys": (b"k0", b"k1"), "values": (b"x", b"y")},
        expected_distinct_states=3228,
    ),
    Config(
        "values",
        "3 keys, two values: every pair of stores (729); about 16 s",
        {"keys": (b"k0", b"k1", b"k2"), "values": (b"x", b"y")},
        expected_distinct_states=34514,
    ),
)

PROTOCOL = ProtocolEntry(
    name="merkle-sync",
    summary="pull a peer's key-value state by descending differing subtrees of a compact sparse "
    "Merkle tree under an Ed25519-signed root; lies are refused, nothing unverified applied",
    source="RFC 9162 section 2.1.1 hashing; Laurie-Kasper sparse Merkle trees (2012); "
    "Jellyfish Merkle tree (Gao et al. 2021); Dynamo anti-entropy (SOSP 2007, section 4.7)",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)


# -- Hypothesis: five peers pulling from each other, with lies and duplicates ------------------


class MerkleSyncMachine(RuleBasedStateMachine):
    """Five peers with random stores (up to 10 keys) pulling from each other in random order.

    A pull runs message by message: each rule either delivers the next honest answer, delivers
    one again (a duplicate), or delivers a lie (a forged value, a wrong hash, a bad signature);
    a lie and a duplicate must be refused with the node unchanged. Invariants: a node holds its
    store before the pull or its peer's (nothing unverified applied), and a completed pull leaves
    both equal within the request bound.
    """

    peers = 5
    completed = 0  # pulls completed, over all runs (the tests read it)

    def __init__(self) -> None:
        super().__init__()
        self.seeds = [impl.derive_seed(10 + i) for i in range(self.peers)]
        self.nodes: list[impl.SyncNode] = []
        self.pull: tuple[int, int] | None = None  # (puller, peer)
        self.inbox: list[Any] = []  # the peer's answers not delivered yet
        self.delivered: list[Any] = []
        self.before: Store = ()

    def _node(self, i: int, j: int, store: Store) -> impl.SyncNode:
        return impl.new(store, self.seeds[i], impl.public_key(self.seeds[j]))

    @initialize(
        contents=st.lists(
            st.dictionaries(st.binary(min_size=1, max_size=3), st.binary(max_size=2), max_size=10),
            min_size=5,
            max_size=5,
        ),
    )
    def setup(self, contents: list[dict[bytes, bytes]]) -> None:
        self.stores = [spec.canonical(c) for c in contents]
        self.nodes = [self._node(i, i, s) for i, s in enumerate(self.stores)]

    @rule(puller=st.integers(0, peers - 1), offset=st.integers(1, peers - 1))
    def start(self, puller: int, offset: int) -> None:
        if self.pull is not None:
            return
        peer = (puller + offset) % self.peers
        node = self._node(puller, peer, self.nodes[puller].store)
        self.before = node.store
        node, effects = impl.step(node, impl.StartSync())
        self.nodes[puller] = node
        self.pull = (puller, peer)
        self.inbox, self.delivered = [], []
        self._answer(effects.sends)

    def _answer(self, requests: tuple[Any, ...]) -> None:
        require(self.pull is not None, "no pull under way")
        responder = self.nodes[self.pull[1]]
        for request in requests:
            _, effects = impl.step(responder, impl.Receive(request))
            self.inbox.extend(effects.sends)

    def _deliver(self, message: Any) -> impl.Effects:
        require(self.pull is not None, "no pull under way")
        puller = self.pull[0]
        node, effects = impl.step(self.nodes[puller], impl.Receive(message))
        if effects.faults:
            require(node == self.nodes[puller], "a refused message changed the node")
        self.nodes[puller] = node
        return effects

    @rule(picks=st.lists(st.integers(0, 100), min_size=1, max_size=12))
    def deliver(self, picks: list[int]) -> None:
        for pick in picks:  # a burst of honest answers, in an order Hypothesis picks
            if self.pull is None or not self.inbox:
                return
            self._deliver_honest(self.inbox.pop(pick % len(self.inbox)))

    def _deliver_honest(self, message: Any) -> None:
        effects = self._deliver(message)
        require(not effects.faults, f"an honest answer was refused: {effects.faults}")
        self.delivered.append(message)
        self._answer(effects.sends)
        if effects.applied is not None:
            puller, peer = self.pull
            require(self.nodes[puller].store == self.nodes[peer].store, "pull did not converge")
            bound = spec.request_bound(self.before, self.nodes[peer].store)
            require(self.nodes[puller].session.requests <= bound, "too many requests")
            self.pull = None
            type(self).completed += 1

    @rule(pick=st.integers(0, 100))
    def deliver_again(self, pick: int) -> None:
        if self.pull is None or not self.delivered:
            return
        effects = self._deliver(self.delivered[pick % len(self.delivered)])
        require(bool(effects.faults), "a duplicate answer was accepted")

    @rule(pick=st.integers(0, 100), lie=st.sampled_from(["value", "hash", "signature"]))
    def deliver_lie(self, pick: int, lie: str) -> None:
        if self.pull is None or not self.inbox:
            return
        message = self.inbox[pick % len(self.inbox)]
        if isinstance(message, impl.SignedRoot):
            forged: Any = impl.SignedRoot(
                message.root, message.count, impl.sign_root(SEED_BYZANTINE, message.root, 0)
            )
        elif isinstance(message.view, Leaf) and lie == "value":
            forged = impl.NodeAnswer(message.path, Leaf(message.view.key, b"lie"))
        elif isinstance(message.view, Branch):
            left = bytes([message.view.left[0] ^ 1]) + message.view.left[1:]
            forged = impl.NodeAnswer(message.path, attrs.evolve(message.view, left=left))
        else:
            forged = impl.NodeAnswer(message.path, Leaf(b"?", b"lie"))
        effects = self._deliver(forged)
        require(bool(effects.faults), f"a lie was accepted: {forged!r}")

    @invariant()
    def nothing_unverified_applied(self) -> None:
        if self.pull is not None:
            puller, peer = self.pull
            store = self.nodes[puller].store
            require(store in (self.before, self.nodes[peer].store), "a partial or forged state")


# -- The oracle ----------------------------------------------------------------------------------
#
# Node 0 is A (pulling), node 1 is B (answering). Documents (canonical JSON, bytes as hex, a
# path as its bits, "" for the root)::
#
#     state    {"store": [["6b30", "78"]], "seed": S, "peer_key": K,
#               "session": {"phase": "descending", "root": R, "count": 3,
#                           "pending": [["01", H]], "staged": [["1", V]], "requests": 3}}
#     event    {"type": "start_sync"}
#              {"type": "receive", "message": M}
#     message  {"type": "root_request"}  {"type": "signed_root", "root": R, "count": 3,
#              "signature": G}  {"type": "node_request", "path": "01"}
#              {"type": "node_answer", "path": "01", "view": V}
#     view     {"type": "empty"}  {"type": "leaf", "key": "6b30", "value": "78"}
#              {"type": "branch", "count": 2, "left": H, "right": H}
#     effects  {"sends": [M, ...], "applied": 1 | null, "faults": [{"kind": "wrong_hash"}],
#               "rejections": [{"reason": "sync_in_progress"}]}
#
# A received message's fields decode leniently (hex to bytes, "0101" to a path): the node, not
# the decoder, refuses a malformed one.

_HEX: dict[str, Any] = {"type": "string", "pattern": "^([0-9a-f]{2})*$"}
_HASH: dict[str, Any] = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_BITS: dict[str, Any] = {"type": "string", "pattern": "^[01]*$"}
_NAT: dict[str, Any] = {"type": "integer", "minimum": 0}


def _path_doc(path: Any) -> JSON:
    if impl.is_path(path):
        depth, prefix = path
        return format(prefix, f"0{depth}b") if depth else ""
    return _loose(path)


def _path_from(doc: JSON) -> Any:
    if type(doc) is str and all(c in "01" for c in doc) and len(doc) <= spec.DEPTH:
        return (len(doc), int(doc, 2) if doc else 0)
    return _unloose(doc)


def _loose(value: Any) -> JSON:
    if type(value) is bytes:
        return value.hex()
    if isinstance(value, tuple | list):
        return [_loose(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return repr(value)


def _unloose(value: JSON) -> Any:
    if type(value) is str and len(value) % 2 == 0:
        try:
            return bytes.fromhex(value)
        except ValueError:
            return value
    if type(value) is list:
        return tuple(_unloose(v) for v in value)
    if type(value) is dict:
        return tuple(sorted((k, _unloose(v)) for k, v in value.items()))
    return value


def _view_doc(view: Any) -> JSON:
    if isinstance(view, Empty):
        return {"type": "empty"}
    if isinstance(view, Leaf):
        return {"type": "leaf", "key": _loose(view.key), "value": _loose(view.value)}
    if isinstance(view, Branch):
        return {
            "type": "branch",
            "count": view.count,
            "left": _loose(view.left),
            "right": _loose(view.right),
        }
    return _loose(view)


def _view_from(doc: JSON) -> Any:
    if isinstance(doc, dict):
        kind = doc.get("type")
        if kind == "empty" and set(doc) == {"type"}:
            return Empty()
        if kind == "leaf" and set(doc) == {"type", "key", "value"}:
            return Leaf(_unloose(doc["key"]), _unloose(doc["value"]))
        if kind == "branch" and set(doc) == {"type", "count", "left", "right"}:
            return Branch(doc["count"], _unloose(doc["left"]), _unloose(doc["right"]))
    return _unloose(doc)


def _message_doc(message: Any) -> JSON:
    if isinstance(message, impl.RootRequest):
        return {"type": "root_request"}
    if isinstance(message, impl.SignedRoot):
        return {
            "type": "signed_root",
            "root": _loose(message.root),
            "count": _loose(message.count),
            "signature": _loose(message.signature),
        }
    if isinstance(message, impl.NodeRequest):
        return {"type": "node_request", "path": _path_doc(message.path)}
    return {"type": "node_answer", "path": _path_doc(message.path), "view": _view_doc(message.view)}


def _message_from(doc: JSON, path: str) -> Any:
    if not isinstance(doc, dict):
        raise DecodeError(path, "expected a message object")
    kind = doc.get("type")
    if kind == "root_request":
        expect_object(doc, path, ["type"])
        return impl.RootRequest()
    if kind == "signed_root":
        expect_object(doc, path, ["type", "root", "count", "signature"])
        return impl.SignedRoot(_unloose(doc["root"]), doc["count"], _unloose(doc["signature"]))
    if kind == "node_request":
        expect_object(doc, path, ["type", "path"])
        return impl.NodeRequest(_path_from(doc["path"]))
    if kind == "node_answer":
        expect_object(doc, path, ["type", "path", "view"])
        return impl.NodeAnswer(_path_from(doc["path"]), _view_from(doc["view"]))
    raise DecodeError(f"{path}.type", f"unknown message type {kind!r}")


def _hex(doc: JSON, path: str, size: int | None = None) -> bytes:
    if type(doc) is not str:
        raise DecodeError(path, "expected a hex string")
    try:
        value = bytes.fromhex(doc)
    except ValueError:
        raise DecodeError(path, "not a hex string") from None
    if value.hex() != doc or (size is not None and len(value) != size):
        raise DecodeError(path, "expected lowercase hex" + (f" of {size} bytes" if size else ""))
    return value


def _strict_path(doc: JSON, path: str) -> tuple[int, int]:
    decoded = _path_from(doc)
    if not impl.is_path(decoded):
        raise DecodeError(path, "expected a path: a string of 0s and 1s")
    return decoded


def _strict_view(doc: JSON, path: str) -> Leaf | Empty:
    view = _view_from(doc)
    if not (isinstance(view, Leaf | Empty) and impl.is_view(view)):
        raise DecodeError(path, "expected a leaf or an empty view")
    return view


@attrs.frozen
class MerkleSyncCodec:
    """Encoding of a sync node, its events and effects (the oracle's interface)."""

    protocol: str = "merkle-sync"
    ops: impl.SyncOps = impl.STANDARD_OPS

    def schemas(self) -> dict[str, Any]:
        view_schema = {
            "oneOf": [
                object_schema({"type": {"const": "empty"}}),
                object_schema({"type": {"const": "leaf"}, "key": _HEX, "value": _HEX}),
                object_schema(
                    {"type": {"const": "branch"}, "count": _NAT, "left": _HASH, "right": _HASH}
                ),
            ]
        }
        pair = {"type": "array", "prefixItems": [_BITS, {}], "minItems": 2, "maxItems": 2}
        session = object_schema(
            {
                "phase": {"enum": enum_values(impl.Phase)},
                "root": {"anyOf": [{"type": "null"}, _HASH]},
                "count": _NAT,
                "pending": {"type": "array", "items": pair},
                "staged": {"type": "array", "items": pair},
                "requests": _NAT,
            }
        )
        state = object_schema(
            {
                "store": {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "prefixItems": [_HEX, _HEX],
                        "minItems": 2,
                        "maxItems": 2,
                    },
                },
                "seed": _HASH,
                "peer_key": _HASH,
                "session": session,
            }
        )
        message = {
            "type": "object",
            "properties": {
                "type": {"enum": ["node_answer", "node_request", "root_request", "signed_root"]}
            },
            "required": ["type"],
        }
        event = {
            "oneOf": [
                object_schema({"type": {"const": "start_sync"}}),
                object_schema({"type": {"const": "receive"}, "message": message}),
            ]
        }
        effects = object_schema(
            {
                "sends": {"type": "array", "items": message},
                "applied": {"anyOf": [{"type": "null"}, _NAT]},
                "faults": {
                    "type": "array",
                    "items": object_schema({"kind": {"enum": enum_values(impl.FaultKind)}}),
                },
                "rejections": {
                    "type": "array",
                    "items": object_schema({"reason": {"enum": enum_values(impl.Rejection)}}),
                },
            }
        )
        del view_schema  # views are inside messages, decoded leniently
        return {"state": state, "event": event, "effects": effects}

    def encode_state(self, node: impl.SyncNode) -> JSON:
        s = node.session
        return {
            "store": [[k.hex(), v.hex()] for k, v in node.store],
            "seed": node.seed.hex(),
            "peer_key": node.peer_key.hex(),
            "session": {
                "phase": s.phase.value,
                "root": None if s.root is None else s.root.hex(),
                "count": s.count,
                "pending": [[_path_doc(p), h.hex()] for p, h in s.pending],
                "staged": [[_path_doc(p), _view_doc(v)] for p, v in s.staged],
                "requests": s.requests,
            },
        }

    def decode_state(self, doc: JSON, path: str = "$") -> impl.SyncNode:
        expect_object(doc, path, ["store", "seed", "peer_key", "session"])
        entries = doc["store"]
        if not isinstance(entries, list):
            raise DecodeError(f"{path}.store", "expected an array of [key, value]")
        store = []
        for i, entry in enumerate(entries):
            if not (isinstance(entry, list) and len(entry) == 2):
                raise DecodeError(f"{path}.store[{i}]", "expected [key, value]")
            store.append(
                (_hex(entry[0], f"{path}.store[{i}][0]"), _hex(entry[1], f"{path}.store[{i}][1]"))
            )
        if [k for k, _ in store] != sorted({k for k, _ in store}):
            raise DecodeError(f"{path}.store", "keys must be sorted and distinct")
        seed = _hex(doc["seed"], f"{path}.seed", 32)
        peer_key = _hex(doc["peer_key"], f"{path}.peer_key", 32)
        sp = f"{path}.session"
        s = expect_object(
            doc["session"], sp, ["phase", "root", "count", "pending", "staged", "requests"]
        )
        try:
            phase = impl.Phase(s["phase"])
        except ValueError:
            raise DecodeError(f"{sp}.phase", f"unknown phase {s['phase']!r}") from None
        root = None if s["root"] is None else _hex(s["root"], f"{sp}.root", 32)
        pending = tuple(
            (_strict_path(p[0], f"{sp}.pending[{i}]"), _hex(p[1], f"{sp}.pending[{i}][1]", 32))
            for i, p in enumerate(_pairs(s["pending"], f"{sp}.pending"))
        )
        staged = tuple(
            (_strict_path(p[0], f"{sp}.staged[{i}]"), _strict_view(p[1], f"{sp}.staged[{i}][1]"))
            for i, p in enumerate(_pairs(s["staged"], f"{sp}.staged"))
        )
        session = impl.Session(
            phase,
            root,
            expect_int(s["count"], f"{sp}.count", minimum=0),
            pending,
            staged,
            expect_int(s["requests"], f"{sp}.requests", minimum=0),
        )
        node = impl.new(tuple(store), seed, peer_key)
        return attrs.evolve(node, session=session)

    def encode_event(self, event: impl.Event) -> JSON:
        if isinstance(event, impl.StartSync):
            return {"type": "start_sync"}
        return {"type": "receive", "message": _message_doc(event.message)}

    def decode_event(self, doc: JSON, path: str = "$") -> impl.Event:
        if not isinstance(doc, dict):
            raise DecodeError(path, "expected an object with a field 'type'")
        kind = doc.get("type")
        if kind == "start_sync":
            expect_object(doc, path, ["type"])
            return impl.StartSync()
        if kind == "receive":
            expect_object(doc, path, ["type", "message"])
            return impl.Receive(_message_from(doc["message"], f"{path}.message"))
        raise DecodeError(f"{path}.type", f"unknown event type {kind!r}")

    def encode_effects(self, effects: impl.Effects) -> JSON:
        return {
            "sends": [_message_doc(m) for m in effects.sends],
            "applied": effects.applied,
            "faults": [{"kind": f.kind.value} for f in effects.faults],
            "rejections": [{"reason": r.value} for r in effects.rejections],
        }

    def handler(self, event: impl.Event) -> str:
        return "start_sync" if isinstance(event, impl.StartSync) else "receive"

    def step(self, node: impl.SyncNode, event: impl.Event) -> tuple[impl.SyncNode, impl.Effects]:
        return impl.step(node, event, self.ops)


def _pairs(doc: JSON, path: str) -> list[list[Any]]:
    if not isinstance(doc, list) or not all(isinstance(p, list) and len(p) == 2 for p in doc):
        raise DecodeError(path, "expected an array of pairs")
    return doc


CODEC = MerkleSyncCodec()


def node_event(action: ModelAction) -> tuple[int, impl.Event]:
    """The node a model action steps (0: A, 1: B) and its impl event."""
    if isinstance(action, Start):
        return 0, impl.StartSync()
    if isinstance(action, Answer):
        return 1, impl.Receive(action.request)
    return 0, impl.Receive(action.message)


def initial_node(index: int, n: int) -> impl.SyncNode:
    me, peer = (SEED_A, KEY_B) if index == 0 else (SEED_B, KEY_A)
    return impl.new((), me, peer)


def step_checker(codec: MerkleSyncCodec = CODEC) -> Any:
    """Trace validation of one node's step (see :mod:`.validate`).

    The expected step is the reference implementation's (this module's impl, the oracle's own);
    on top, the spec's rules are checked independently: a node's store changes only when a pull
    completes, and then to a state whose root (:func:`spec.root_hash`, the declarative
    recursion) is the signed root the node verified (``refinement``); a refused message leaves
    the node unchanged (``faults_change_nothing``).
    """
    from .validate import StepChecker

    def check(
        nodes: tuple[impl.SyncNode, ...], i: int, event: Any, post: Any, effects: Any
    ) -> tuple[str, str, str] | None:
        pre = nodes[i]
        expected_node, expected_effects = impl.step(pre, event, codec.ops)
        if post.store != pre.store:
            root = spec.root_hash(post.store)
            if post.session.phase is not impl.Phase.DONE or root != post.session.root:
                return (
                    "refinement",
                    "a store changes only to the verified signed root",
                    f"root {root.hex()[:16]}",
                )
        if expected_effects.faults and post != pre:
            kind = expected_effects.faults[0].kind.value
            return ("faults_change_nothing", f"the node unchanged ({kind})", "a changed node")
        if post != expected_node:
            return (
                "refinement",
                f"state {codec.encode_state(expected_node)['session']}",
                f"state {codec.encode_state(post)['session']}",
            )
        if effects is None:
            return None
        wanted = codec.encode_effects(expected_effects)
        if effects != wanted:
            prop = "typed_fault" if wanted["faults"] or effects.get("faults") else "refinement"
            return (prop, repr(wanted), repr(effects))
        return None

    return StepChecker(codec=codec, initial_node=initial_node, check=check)


ORACLE = OracleBinding(
    codec=CODEC,
    configs=("tiny",),
    node_event=node_event,
    nodes=lambda state: (state.a, state.b),
    initial_node=initial_node,
    step_checker=step_checker(CODEC),
)


# -- Benchmark ------------------------------------------------------------------------------------


def bench_merkle_sync(keys: int = 1_000_000, differing: int = 100) -> dict[str, Any]:
    """A pull of ``differing`` changed keys out of ``keys``, against the naive full transfer.

    Builds both peers' trees (timed apart), then runs the pull message by message between two
    impl nodes and counts requests, answers, hashes and bytes on the wire (hashes 32 bytes,
    keys and values as they are, a path as its bits rounded up to bytes plus one length byte,
    a signature 64 bytes). The naive transfer sends every (key, value). Seeded: deterministic.
    """
    rng = random.Random(7)
    started = time.perf_counter()
    base = {i.to_bytes(8, "big"): rng.randbytes(8) for i in range(keys)}
    theirs = dict(base)
    # d differing keys: half with a new value, a quarter deleted, a quarter new
    values, deletions = differing // 2, differing // 4
    changed = rng.sample(sorted(base), values + deletions)
    for k in changed[:values]:
        theirs[k] = b"changed!"
    for k in changed[values:]:
        del theirs[k]
    for i in range(differing - values - deletions):
        theirs[(keys + i).to_bytes(8, "big")] = b"new-key!"
    generate = time.perf_counter() - started
    started = time.perf_counter()
    a = impl.new(tuple(base.items()), SEED_A, KEY_B)
    b = impl.new(tuple(theirs.items()), SEED_B, KEY_A)
    build_seconds = time.perf_counter() - started
    wire = {"requests": 0, "answers": 0, "hashes": 0, "bytes": 0}
    started = time.perf_counter()
    a, effects = impl.step(a, impl.StartSync())
    queue = list(effects.sends)
    applied = None
    while queue:
        request = queue.pop()
        wire["requests"] += 1
        wire["bytes"] += _wire_size(request)
        _, answer = impl.step(b, impl.Receive(request))
        for message in answer.sends:
            wire["answers"] += 1
            wire["bytes"] += _wire_size(message)
            wire["hashes"] += _hashes_in(message)
            a, effects = impl.step(a, impl.Receive(message))
            require(not effects.faults, f"honest sync refused: {effects.faults}")
            queue.extend(effects.sends)
            if effects.applied is not None:
                applied = effects.applied
    sync_seconds = time.perf_counter() - started
    require(a.store == b.store, "the pull did not converge")
    depth = max(1, (keys - 1).bit_length())
    naive = sum(len(k) + len(v) for k, v in theirs.items())
    return {
        "keys": keys,
        "differing_keys": differing,
        "keys_changed_by_pull": applied,
        "generate_seconds": round(generate, 2),
        "tree_build_seconds_both_peers": round(build_seconds, 2),
        "sync_seconds": round(sync_seconds, 3),
        "requests": wire["requests"],
        "answers": wire["answers"],
        "hashes_exchanged": wire["hashes"],
        "bytes_exchanged": wire["bytes"],
        "naive_full_transfer_bytes": naive,
        "bytes_ratio_naive_over_sync": round(naive / max(1, wire["bytes"]), 1),
        "request_bound_2_plus_2_d_log2n_plus_1": 2 + 2 * differing * (depth + 1),
    }


def _wire_size(message: Any) -> int:
    if isinstance(message, impl.RootRequest):
        return 1
    if isinstance(message, impl.SignedRoot):
        return 1 + 32 + 8 + 64
    if isinstance(message, impl.NodeRequest):
        return 2 + (message.path[0] + 7) // 8
    view = message.view
    size = 2 + (message.path[0] + 7) // 8
    if isinstance(view, Leaf):
        return size + len(view.key) + len(view.value)
    if isinstance(view, Branch):
        return size + 8 + 64
    return size


def _hashes_in(message: Any) -> int:
    if isinstance(message, impl.SignedRoot):
        return 1
    if isinstance(message, impl.NodeAnswer) and isinstance(message.view, Branch):
        return 2
    return 0
