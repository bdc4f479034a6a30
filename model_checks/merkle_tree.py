"""Merkle trees (RFC 9162 §2.1): bounded model, mutants, Hypothesis machine and oracle binding.

Source: RFC 9162 §2.1 (see :mod:`mnemosyne_consensus.spec.merkle_tree`).

The "protocol" is an append-only log and a verifier. The explored state is the log's leaves
(:class:`impl.LogNode`), the verifier (:class:`impl.VerifierState`: its trusted tree head) and two
ghosts the nodes never read: the head the verifier trusted before, and the verdict on the last
proof it checked together with whether that proof was honest. Actions:

* ``Append(leaf)``      -- the log appends a leaf of the alphabet (at most ``max_size``);
* ``Check(tamper, m)``  -- the verifier checks an inclusion or consistency proof ``m``: one the
  log generated honestly for some prefix (every index, every pair of sizes), or that proof
  tampered with one rule of a fixed alphabet -- ``flipped-path`` (a bit of the first hash),
  ``truncated-path``, ``extended-path``, ``wrong-index``, ``wrong-leaf``, ``other-head`` (the
  path checked against another head of the log), ``forked-root`` / ``forked-old-root`` /
  ``forked-new-root`` (heads of a fork: the log with its first leaf changed),
  ``first-plus-one``, ``second-plus-one``, ``from-empty`` (a consistency claim from size 0,
  which RFC 9162 does not define) and ``interior-as-leaf`` (the second-preimage forgery: the
  two child hashes of an interior node presented as a leaf's data, one level up); plus four
  malformed or impossible claims, the same in every state (one per fault kind);
* ``Head(tamper, m)``   -- the verifier is offered a newer tree head with a consistency proof
  from its trusted head: the log's own, a fork's (an honest proof *for the fork*), one with a
  flipped proof hash, a malformed one and an older one. The first head after the empty tree is
  taken on trust (RFC 9162 defines no proof from size 0; a real client takes it on the log's
  signature), so a fork's head can be the first one; from then on the verifier stays on that
  tree's line.

"Honest" is decided by the spec alone: a claim is honest iff it equals what ``PATH``/``PROOF``
(§2.1.3.1, §2.1.4.1) generate for the trees its roots name, looked up among every tree of at
most ``max_size`` leaves over the alphabet (every root a claim names comes from one of them).
Sizes and roots are tampered only *together*, to another real head: a verifier takes both from
one signed tree head (RFC 9162 §4.10). With the size alone tampered, the RFC's loop accepts some
proofs for trees that do not exist -- e.g. leaf 0 of the 3-leaf tree [a, a, a] "in a tree of 4
leaves" with the 3-leaf root: the loop consumes two hashes for both sizes and never reads the
size again -- so "verifies iff honest" holds for authenticated heads, not for free-standing
sizes (the tests show that example). Checked after every step:

* invariants ``inclusion_verifies_iff_honest``, ``consistency_verifies_iff_honest`` (on the last
  verdict), ``append_only_consistent`` (every old root of the log is consistent with every newer
  one, by the proofs the log serves and the verifier's check) and ``heads_append_only`` (the
  verifier's previous head names a prefix of its trusted head's tree);
* step properties ``refinement`` (the impl's RFC loops give the verdict of the spec's recursive
  definitions, and heads move as the spec says) and ``faults_change_nothing`` (a refused head
  leaves the verifier unchanged).

Measured (one core, other jobs running): ``small`` (4 leaves over {a, b}) has 2,374 distinct
states and takes about 5 s; ``tiny`` (3 leaves) has 694 and takes about 1 s.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ..impl import merkle_tree as impl
from ..spec import merkle_tree as spec
from ..spec.merkle_tree import Hash, Hasher, TreeHead
from ..spec.properties import Invariant, Reachable, StepProperty
from .codec import JSON, DecodeError, enum_values, expect_int, expect_object, object_schema
from .engine import Model
from .machines import require
from .registry_types import Config, Mutant, ProtocolEntry
from .vectors import OracleBinding

# -- State and actions ---------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class Deployment:
    # the log (prover)
    log: impl.LogNode
    # the verifier (implementation state: its trusted head)
    verifier: impl.VerifierState
    # ghost: the head the verifier trusted before its current one
    previous: TreeHead
    # ghost: the verdict on the last proof checked
    last: spec.Verdict | None


@attrs.frozen(cache_hash=True)
class Append:
    leaf: bytes

    def __str__(self) -> str:
        return f"log: append {self.leaf!r}"


@attrs.frozen(cache_hash=True)
class Check:
    tamper: str
    message: impl.ReceiveInclusion | impl.ReceiveConsistency

    def __str__(self) -> str:
        return f"verifier: check {self.tamper} {_describe(self.message)}"


@attrs.frozen(cache_hash=True)
class Head:
    tamper: str
    message: impl.ReceiveHead

    def __str__(self) -> str:
        m = self.message
        return f"verifier: {self.tamper} head of size {m.size} root {_short(m.root)}"


ModelAction = Append | Check | Head


def _short(value: Any) -> str:
    return value.hex()[:8] if isinstance(value, bytes) else repr(value)


def _describe(m: impl.ReceiveInclusion | impl.ReceiveConsistency) -> str:
    if isinstance(m, impl.ReceiveInclusion):
        return (
            f"inclusion of {m.leaf!r} at {m.index} in {m.size} "
            f"(root {_short(m.root)}, {len(m.path)} hashes)"
        )
    return (
        f"consistency {m.first}->{m.second} (roots {_short(m.first_root)}, "
        f"{_short(m.second_root)}, {len(m.path)} hashes)"
    )


# -- Mutants -------------------------------------------------------------------------------------


def _plain_leaf(data: bytes) -> Hash:
    return spec.sha256(data)


def _plain_node(left: Hash, right: Hash) -> Hash:
    return spec.sha256(left + right)


NO_SEPARATION = Hasher(empty=spec.rfc_empty_hash, leaf=_plain_leaf, node=_plain_node)


def _skips_old_root(
    first: int,
    second: int,
    first_hash: Hash,
    second_hash: Hash,
    hashes: tuple[Hash, ...],
    h: Hasher,
) -> bool:
    return impl.verify_consistency(first, second, first_hash, second_hash, hashes, h, False)


def _no_prepend(
    first: int,
    second: int,
    first_hash: Hash,
    second_hash: Hash,
    hashes: tuple[Hash, ...],
    h: Hasher,
) -> bool:
    # forgets step 2 of §2.1.4.2 (prepend first_hash when first is a power of two)
    return impl.verify_consistency(
        first, second, first_hash, second_hash, hashes, h, prepend_first=False
    )


def _lsb_only(
    index: int, size: int, leaf_hash: Hash, hashes: tuple[Hash, ...], root: Hash, h: Hasher
) -> bool:
    # §2.1.3.2 step 4.b without "or fn is equal to sn": the last leaf of a tree whose right
    # border is ragged (3 leaves, 5, ...) hashes its sibling on the wrong side
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in hashes:
        if sn == 0:
            return False
        if fn & 1:
            r = h.node(p, r)
        else:
            r = h.node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


MUTANTS = (
    Mutant(
        "no-domain-separation",
        "leaves hashed as HASH(d) and nodes as HASH(l || r), no 0x00/0x01 prefixes (spec and "
        "impl agree): an interior node's children, presented as a leaf, verify",
        "inclusion_verifies_iff_honest",
    ),
    Mutant(
        "consistency-skips-old-root",
        "§2.1.4.2 step 7 without 'fr equals first_hash': a proof from another tree passes",
        "consistency_verifies_iff_honest",
        # the old root goes unchecked only from a size that is no power of two: 3 -> 4
        config="small",
    ),
    Mutant(
        "head-update-without-proof",
        "the verifier adopts any newer head, proof or not",
        "heads_append_only",
        config="tiny",
    ),
    Mutant(
        "consistency-no-prepend",
        "§2.1.4.2 without step 2: proofs from a power-of-two size (1, 2, 4...) never verify",
        "append_only_consistent",
    ),
    Mutant(
        "inclusion-lsb-only",
        "§2.1.3.2 step 4.b without 'or fn is equal to sn' (impl only): the RFC loop parts from "
        "the spec's PATH on a ragged right border",
        "refinement",
    ),
    Mutant(
        "fault-adopts-size",
        "a refused head still moves the trusted size (the root stays)",
        "faults_change_nothing",
        config="tiny",
    ),
)


def ops_for(mutant: Mutant | None) -> tuple[Hasher, impl.VerifierOps]:
    """The spec's hasher and the verifier's ops, with ``mutant``'s bug in them."""
    name = mutant.name if mutant else None
    ops = impl.STANDARD_OPS
    if name == "no-domain-separation":
        return NO_SEPARATION, attrs.evolve(ops, hasher=NO_SEPARATION)
    if name == "consistency-skips-old-root":
        return spec.RFC_HASHER, attrs.evolve(ops, verify_consistency=_skips_old_root)
    if name == "head-update-without-proof":
        return spec.RFC_HASHER, attrs.evolve(ops, head_needs_proof=False)
    if name == "consistency-no-prepend":
        return spec.RFC_HASHER, attrs.evolve(ops, verify_consistency=_no_prepend)
    if name == "inclusion-lsb-only":
        return spec.RFC_HASHER, attrs.evolve(ops, verify_inclusion=_lsb_only)
    if name == "fault-adopts-size":
        return spec.RFC_HASHER, attrs.evolve(ops, fault_adopts_size=True)
    return spec.RFC_HASHER, ops


# -- The adversary's alphabet: honest proofs of the log, and tamperings of them ------------------


def _flip(hashes: tuple[Hash, ...]) -> tuple[Hash, ...]:
    first = hashes[0]
    return (bytes([first[0] ^ 1]) + first[1:], *hashes[1:])


def fork_of(log: tuple[bytes, ...], alphabet: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """The log with its first leaf replaced by the next leaf of the alphabet."""
    if not log:
        return log
    other = alphabet[(alphabet.index(log[0]) + 1) % len(alphabet)]
    return (other, *log[1:])


class Prover:
    """The log's honest proofs (impl generation), memoized per tree."""

    def __init__(self, h: Hasher) -> None:
        self.h = h
        self.trees: dict[tuple[bytes, ...], impl.LogTree] = {}

    def tree(self, leaves: tuple[bytes, ...]) -> impl.LogTree:
        found = self.trees.get(leaves)
        if found is None:
            found = self.trees[leaves] = impl.build(leaves, self.h)
        return found

    def root(self, leaves: tuple[bytes, ...]) -> Hash:
        return impl.root(self.tree(leaves)) if leaves else self.h.empty()

    def inclusion(self, index: int, leaves: tuple[bytes, ...]) -> tuple[Hash, ...]:
        return impl.inclusion_path(self.tree(leaves), index, len(leaves))

    def consistency(self, first: int, leaves: tuple[bytes, ...]) -> tuple[Hash, ...]:
        if not leaves:
            return ()
        return impl.consistency_path(self.tree(leaves), first, len(leaves))


def inclusion_offers(
    log: tuple[bytes, ...], alphabet: tuple[bytes, ...], prover: Prover
) -> list[Check]:
    """Honest inclusion proofs for every (index, prefix size), and their tamperings.

    Sizes and roots come in pairs that are real tree heads (the log's or the fork's): a verifier
    takes both from one signed head. The one exception is ``interior-as-leaf``, the attack
    domain separation exists for, which claims the log's root at the size where the forged
    leaf would sit.
    """
    h = prover.h
    fork = fork_of(log, alphabet)
    offers: list[Check] = []
    for size in range(1, len(log) + 1):
        tree = log[:size]
        root = prover.root(tree)
        other_size = size + 1 if size < len(log) else size - 1
        for index in range(size):
            leaf = tree[index]
            path = prover.inclusion(index, tree)

            def offer(tamper: str, i: int, s: int, d: bytes, p: tuple[Hash, ...], r: Hash) -> None:
                offers.append(Check(tamper, impl.ReceiveInclusion(i, s, d, p, r)))

            offer("honest", index, size, leaf, path, root)
            if path:
                offer("flipped-path", index, size, leaf, _flip(path), root)
                offer("truncated-path", index, size, leaf, path[:-1], root)
            offer("extended-path", index, size, leaf, (*path, root), root)
            if size > 1:
                wrong = index + 1 if index + 1 < size else index - 1
                offer("wrong-index", wrong, size, leaf, path, root)
            other = alphabet[(alphabet.index(leaf) + 1) % len(alphabet)]
            offer("wrong-leaf", index, size, other, path, root)
            if index < other_size:
                offer("other-head", index, other_size, leaf, path, prover.root(log[:other_size]))
            offer("forked-root", index, size, leaf, path, prover.root(fork[:size]))
            if size >= 2 and index == 0:
                # the interior node over leaves 0 and 1, its children's hashes as a leaf's data,
                # one level up: at index 0 of a tree half the size, under the log's root
                data = h.leaf(tree[0]) + h.leaf(tree[1])
                offer("interior-as-leaf", 0, (size + 1) // 2, data, path[1:], root)
    return offers


def consistency_offers(
    log: tuple[bytes, ...], alphabet: tuple[bytes, ...], prover: Prover
) -> list[Check]:
    """Honest consistency proofs for every pair of prefix sizes, and their tamperings."""
    offers: list[Check] = []
    fork = fork_of(log, alphabet)
    roots = [prover.root(log[:n]) for n in range(len(log) + 1)]
    for second in range(len(log) + 1):
        for first in range(second + 1):
            r1, r2 = roots[first], roots[second]
            path = prover.consistency(first, log[:second])

            def offer(tamper: str, m: int, n: int, a: Hash, b: Hash, p: tuple[Hash, ...]) -> None:
                offers.append(Check(tamper, impl.ReceiveConsistency(m, n, a, b, p)))

            if first == 0:
                offer("from-empty", first, second, r1, r2, path)  # PROOF(0, D[n]) is undefined
                continue
            offer("honest", first, second, r1, r2, path)
            if path:
                offer("flipped-path", first, second, r1, r2, _flip(path))
                offer("truncated-path", first, second, r1, r2, path[:-1])
            offer("extended-path", first, second, r1, r2, (*path, r1))
            if first < second:
                offer("first-plus-one", first + 1, second, roots[first + 1], r2, path)
            if second < len(log):
                offer("second-plus-one", first, second + 1, r1, roots[second + 1], path)
            offer("forked-old-root", first, second, prover.root(fork[:first]), r2, path)
            offer("forked-new-root", first, second, r1, prover.root(fork[:second]), path)
    return offers


def garbage_offers(h: Hasher) -> tuple[Check, ...]:
    """Malformed and impossible claims, the same in every state (one per fault kind)."""
    empty = h.empty()
    return (
        Check("malformed", impl.ReceiveInclusion(0, 1, b"a", (), b"not a hash")),
        Check("malformed", impl.ReceiveConsistency(1, -1, empty, empty, ())),
        Check("index-out-of-range", impl.ReceiveInclusion(1, 1, b"a", (), empty)),
        Check("size-regression", impl.ReceiveConsistency(2, 1, empty, empty, ())),
    )


def head_offers(
    log: tuple[bytes, ...], trusted: TreeHead, alphabet: tuple[bytes, ...], prover: Prover
) -> list[Head]:
    offers: list[Head] = [Head("malformed", impl.ReceiveHead(1, trusted.root, (b"x",)))]
    if trusted.size > 0:
        stale = impl.ReceiveHead(trusted.size - 1, prover.root(log[: trusted.size - 1]), ())
        offers.append(Head("size-regression", stale))
    fork = fork_of(log, alphabet)
    m = trusted.size
    for n in range(m, len(log) + 1):
        honest = prover.consistency(m, log[:n])
        offers.append(Head("honest", impl.ReceiveHead(n, prover.root(log[:n]), honest)))
        if honest:
            flipped = _flip(honest)
            offers.append(Head("flipped-path", impl.ReceiveHead(n, prover.root(log[:n]), flipped)))
        if n >= 1:
            forked = prover.consistency(m, fork[:n])
            offers.append(Head("fork", impl.ReceiveHead(n, prover.root(fork[:n]), forked)))
    return offers


# -- The spec's view: honesty, verdicts, abstraction ---------------------------------------------


class Universe:
    """Every tree of at most ``max_size`` leaves over the alphabet, by (size, root)."""

    def __init__(self, alphabet: tuple[bytes, ...], max_size: int, h: Hasher) -> None:
        self.h = h
        self.trees: dict[tuple[int, Hash], tuple[bytes, ...]] = {}
        for size in range(max_size + 1):
            for tree in itertools.product(alphabet, repeat=size):
                self.trees.setdefault((size, spec.mth(tree, h)), tree)

    def tree_of(self, head: TreeHead) -> tuple[bytes, ...] | None:
        return self.trees.get((head.size, head.root))

    def honest(self, message: impl.ReceiveInclusion | impl.ReceiveConsistency) -> bool:
        if isinstance(message, impl.ReceiveInclusion):
            claim = spec.InclusionClaim(
                message.index, message.size, message.leaf, message.path, message.root
            )
            return spec.honest_inclusion(
                claim, self.trees.get((message.size, message.root)), self.h
            )
        consistency = spec.ConsistencyClaim(
            message.first, message.second, message.first_root, message.second_root, message.path
        )
        old = self.trees.get((message.first, message.first_root))
        new = self.trees.get((message.second, message.second_root))
        return spec.honest_consistency(consistency, old, new, self.h)


def spec_verdict(
    message: impl.ReceiveInclusion | impl.ReceiveConsistency | impl.ReceiveHead,
    h: Hasher,
    trusted: TreeHead | None = None,
) -> bool:
    """Does the spec's (recursive, declarative) verification accept the message?"""
    if isinstance(message, impl.ReceiveInclusion):
        return spec.inclusion_holds(
            message.index, message.size, message.leaf, message.path, message.root, h
        )
    if isinstance(message, impl.ReceiveConsistency):
        return spec.consistency_holds(
            message.first,
            message.second,
            message.first_root,
            message.second_root,
            message.path,
            h,
        )
    if trusted is None:
        raise ValueError("a head is checked against the trusted head: pass it")
    head = TreeHead(message.size, message.root)
    return spec.head_update_holds(trusted, head, message.path, h)


def abstract(state: Deployment) -> spec.LogState:
    return spec.LogState(
        log=state.log.leaves,
        trusted=state.verifier.trusted,
        previous=state.previous,
        last=state.last,
    )


# -- The model -----------------------------------------------------------------------------------


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    max_size: int = config.params["max_size"]
    alphabet: tuple[bytes, ...] = tuple(config.params["alphabet"])
    h, ops = ops_for(mutant)
    prover = Prover(ops.hasher)
    universe = Universe(alphabet, max_size, h)
    garbage = garbage_offers(h)
    check_offers: dict[tuple[bytes, ...], tuple[Check, ...]] = {}
    check_outcomes: dict[Check, tuple[bool, bool]] = {}  # (honest, impl accepted)
    head_cache: dict[tuple[tuple[bytes, ...], TreeHead], tuple[Head, ...]] = {}
    steps: dict[tuple[impl.VerifierState, impl.ReceiveHead], impl.VerifierState] = {}

    def initial_states() -> Iterator[Deployment]:
        verifier = impl.new(ops.hasher)
        yield Deployment(impl.LogNode(()), verifier, verifier.trusted, None)

    def actions(state: Deployment) -> Iterator[ModelAction]:
        log = state.log.leaves
        if len(log) < max_size:
            for leaf in alphabet:
                yield Append(leaf)
        offers = check_offers.get(log)
        if offers is None:
            offers = check_offers[log] = (
                *inclusion_offers(log, alphabet, prover),
                *consistency_offers(log, alphabet, prover),
                *garbage,
            )
        yield from offers
        key = (log, state.verifier.trusted)
        heads = head_cache.get(key)
        if heads is None:
            heads = head_cache[key] = tuple(head_offers(log, key[1], alphabet, prover))
        yield from heads

    def head_step(verifier: impl.VerifierState, message: impl.ReceiveHead) -> impl.VerifierState:
        key = (verifier, message)
        found = steps.get(key)
        if found is None:
            found = steps[key] = impl.step(verifier, message, ops)[0]
        return found

    def next_state(state: Deployment, action: ModelAction) -> Deployment:
        if isinstance(action, Append):
            node, _ = impl.step_log(state.log, impl.AppendRequest(action.leaf), ops.hasher)
            return attrs.evolve(state, log=node)
        if isinstance(action, Check):
            outcome = check_outcomes.get(action)
            if outcome is None:
                _, effects = impl.step(state.verifier, action.message, ops)
                honest = universe.honest(action.message)
                outcome = check_outcomes[action] = (honest, effects.accepted is not None)
            kind = (
                "inclusion" if isinstance(action.message, impl.ReceiveInclusion) else "consistency"
            )
            verdict = spec.Verdict(kind, outcome[0], outcome[1])
            return state if state.last == verdict else attrs.evolve(state, last=verdict)
        verifier = head_step(state.verifier, action.message)
        if verifier == state.verifier:
            return state
        if verifier.trusted.root == state.verifier.trusted.root:  # only the size moved
            return attrs.evolve(state, verifier=verifier)
        return attrs.evolve(state, verifier=verifier, previous=state.verifier.trusted)

    # -- properties
    consistent_cache: dict[tuple[bytes, ...], bool] = {}

    def append_only(state: Deployment) -> bool:
        log = state.log.leaves
        found = consistent_cache.get(log)
        if found is None:

            def verify(claim: spec.ConsistencyClaim) -> bool:
                message = impl.ReceiveConsistency(
                    claim.first, claim.second, claim.first_root, claim.second_root, claim.path
                )
                return impl.step(impl.new(ops.hasher), message, ops)[1].accepted is not None

            found = consistent_cache[log] = spec.append_only_consistent(
                abstract(state), verify, lambda m, leaves: prover.consistency(m, leaves), h
            )
        return found

    def refinement_problem(pre: Deployment, action: ModelAction, post: Deployment) -> str | None:
        if isinstance(action, Append):
            if not spec.append_enabled(abstract(pre), max_size):
                return f"Append {action.leaf!r} is not enabled"
            wanted_log = spec.apply_append(abstract(pre), action.leaf).log
            if post.log.leaves != wanted_log:
                return f"the log became {post.log.leaves!r}; spec Append gives {wanted_log!r}"
            return None
        if isinstance(action, Check):
            if post.last is None:
                return "no verdict was recorded"
            wanted = spec_verdict(action.message, h)
            if post.last.accepted != wanted:
                return (
                    f"the impl {'accepted' if post.last.accepted else 'refused'}; the spec "
                    f"{'accepts' if wanted else 'refuses'}"
                )
            return None
        trusted = pre.verifier.trusted
        message = action.message
        head = TreeHead(message.size, message.root)
        accepted = impl.is_nat(message.size) and spec_verdict(message, h, trusted)
        wanted_head = spec.apply_update_head(abstract(pre), head, accepted).trusted
        if post.verifier.trusted != wanted_head:
            return (
                f"trusted head {post.verifier.trusted}; the spec's UpdateHead gives {wanted_head}"
            )
        return None

    def refines(pre: Deployment, action: ModelAction, post: Deployment) -> bool:
        return refinement_problem(pre, action, post) is None

    def faults_change_nothing(pre: Deployment, action: ModelAction, post: Deployment) -> bool:
        if not isinstance(action, Head):
            return True
        _, effects = impl.step(pre.verifier, action.message, ops)
        return not effects.faults or post.verifier == pre.verifier

    def explain_fault(pre: Deployment, action: ModelAction, post: Deployment) -> str:
        return (
            f"refused head, yet the trusted head went {pre.verifier.trusted} -> "
            f"{post.verifier.trusted}"
        )

    a = abstract
    invariants = (
        Invariant(
            "inclusion_verifies_iff_honest",
            "an inclusion proof is accepted iff it is the honest PATH for the tree it names",
            lambda s: spec.inclusion_verifies_iff_honest(a(s)),
            lambda s: f"last verdict {s.last}",
        ),
        Invariant(
            "consistency_verifies_iff_honest",
            "a consistency proof is accepted iff it is the honest PROOF for the trees it names",
            lambda s: spec.consistency_verifies_iff_honest(a(s)),
            lambda s: f"last verdict {s.last}",
        ),
        Invariant(
            "append_only_consistent",
            "every old root of the log is consistent with every newer one, by its proofs",
            append_only,
            lambda s: f"log {s.log.leaves!r}",
        ),
        Invariant(
            "heads_append_only",
            "the verifier's previous head names a prefix of its trusted head's tree",
            lambda s: spec.heads_append_only(a(s), universe.tree_of),
            lambda s: (
                f"previous {universe.tree_of(s.previous)!r}, trusted "
                f"{universe.tree_of(s.verifier.trusted)!r}"
            ),
        ),
    )
    step_properties = (
        StepProperty(
            "refinement",
            "the impl's RFC loops agree with the spec's recursive definitions on every proof",
            refines,
            lambda pre, act, post: refinement_problem(pre, act, post) or "",
        ),
        StepProperty(
            "faults_change_nothing",
            "a refused head leaves the verifier unchanged",
            faults_change_nothing,
            explain_fault,
        ),
    )
    reachables = (
        Reachable(
            "tampered_proof_checked",
            "a dishonest proof is checked",
            lambda s: spec.tampered_proof_rejected(a(s)),
        ),
        Reachable(
            "honest_proof_accepted",
            "an honest proof is checked",
            lambda s: spec.honest_proof_accepted(a(s)),
        ),
        Reachable(
            "head_advanced",
            "the verifier moves from a non-empty head to a larger one",
            lambda s: spec.head_advanced(a(s)),
        ),
        Reachable(
            "log_full",
            "the log holds max_size leaves",
            lambda s: len(s.log.leaves) == max_size,
        ),
    )
    return Model(
        name="merkle-tree",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        invariants=invariants,
        step_properties=step_properties,
        reachables=reachables,
        describe_action=str,
    )


def view(state: Deployment) -> Mapping[str, Any]:
    """Named variables of a deployment, for traces and ITF."""
    last = state.last
    return {
        "log": tuple(leaf.hex() for leaf in state.log.leaves),
        "trusted": {"size": state.verifier.trusted.size, "root": state.verifier.trusted.root.hex()},
        "previous": {"size": state.previous.size, "root": state.previous.root.hex()},
        "last": None
        if last is None
        else {"kind": last.kind, "honest": last.honest, "accepted": last.accepted},
    }


CONFIGS = (
    Config(
        "small",
        "a log of at most 4 leaves over {a, b}: every tree, every index and pair of sizes, "
        "every tampering of the alphabet, forks and head updates",
        {"max_size": 4, "alphabet": (b"a", b"b")},
        expected_distinct_states=2374,
    ),
    Config(
        "tiny",
        "a log of at most 3 leaves over {a, b}",
        {"max_size": 3, "alphabet": (b"a", b"b")},
        expected_distinct_states=694,
    ),
)

PROTOCOL = ProtocolEntry(
    name="merkle-tree",
    summary="RFC 9162 Merkle tree hash, inclusion and consistency proofs verify iff honest",
    source="RFC 9162 (Certificate Transparency 2.0), section 2.1; RFC 6962 section 2.1",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)


# -- Hypothesis: random logs, five verifiers, random tampering ------------------------------------


class MerkleTreeMachine(RuleBasedStateMachine):
    """One log of up to 40 random leaves and five verifiers following it; random tampering.

    Each rule hands one message to one verifier (the impl) and checks on the spot that it is
    accepted iff it equals what the spec's ``PATH``/``PROOF`` give for the log, i.e. iff honest;
    the invariants check that every verifier's trusted head is a prefix of the log and that the
    impl's verdicts agree with the spec's recursive verification (refinement). Heads, sizes and
    roots are always real heads of the log: see the module docstring for why.
    """

    verifiers = 5
    max_leaves = 40

    def __init__(self) -> None:
        super().__init__()
        self.leaves: tuple[bytes, ...] = ()
        self.tree = impl.build(())
        self.nodes = [impl.new() for _ in range(self.verifiers)]

    def _root(self, size: int) -> Hash:
        return impl.root(self.tree, size) if size else spec.rfc_empty_hash()

    def _verdict(self, message: Any, honest: bool) -> None:
        node = self.nodes[0]
        after, effects = impl.step(node, message)
        accepted = effects.accepted is not None
        require(after == node, "a stateless check changed the verifier")
        require(accepted == honest, f"accepted={accepted} but honest={honest}: {message!r}")
        require(accepted == spec_verdict(message, spec.RFC_HASHER), f"refinement: {message!r}")

    @rule(leaf=st.binary(max_size=6))
    def append(self, leaf: bytes) -> None:
        if len(self.leaves) < self.max_leaves:
            self.leaves = (*self.leaves, leaf)
            self.tree = impl.build(self.leaves)

    @rule(who=st.integers(0, verifiers - 1), data=st.data())
    def update_head(self, who: int, data: st.DataObject) -> None:
        node = self.nodes[who]
        m = node.trusted.size
        n = data.draw(st.integers(m, len(self.leaves)))
        path = impl.consistency_path(self.tree, m, n) if m else ()
        after, effects = impl.step(node, impl.ReceiveHead(n, self._root(n), path))
        require(not effects.faults, f"an honest head was refused: {effects.faults}")
        self.nodes[who] = after

    @rule(data=st.data(), tamper=st.sampled_from(["none", "flip", "index", "leaf", "head"]))
    def check_inclusion(self, data: st.DataObject, tamper: str) -> None:
        if not self.leaves:
            return
        size = data.draw(st.integers(1, len(self.leaves)))
        index = data.draw(st.integers(0, size - 1))
        path = impl.inclusion_path(self.tree, index, size)
        leaf, claimed_size, claimed_index = self.leaves[index], size, index
        if tamper == "flip" and path:
            k = data.draw(st.integers(0, len(path) - 1))
            bit = data.draw(st.integers(0, 255))
            flipped = bytearray(path[k])
            flipped[bit // 8] ^= 1 << (bit % 8)
            path = (*path[:k], bytes(flipped), *path[k + 1 :])
        elif tamper == "index":
            claimed_index = data.draw(st.integers(0, size - 1))
        elif tamper == "leaf":
            leaf = data.draw(st.binary(max_size=6))
        elif tamper == "head":
            claimed_size = data.draw(st.integers(max(1, index + 1), len(self.leaves)))
        tree = self.leaves[:claimed_size]
        honest = (
            claimed_index < claimed_size
            and tree[claimed_index] == leaf
            and spec.path(claimed_index, tree) == path
        )
        root = self._root(claimed_size)
        self._verdict(impl.ReceiveInclusion(claimed_index, claimed_size, leaf, path, root), honest)

    @rule(data=st.data(), tamper=st.sampled_from(["none", "flip", "first", "drop"]))
    def check_consistency(self, data: st.DataObject, tamper: str) -> None:
        if not self.leaves:
            return
        second = data.draw(st.integers(1, len(self.leaves)))
        first = data.draw(st.integers(1, second))
        path = impl.consistency_path(self.tree, first, second)
        claimed_first = first
        if tamper == "flip" and path:
            k = data.draw(st.integers(0, len(path) - 1))
            path = (*path[:k], bytes([path[k][0] ^ 0x80]) + path[k][1:], *path[k + 1 :])
        elif tamper == "first":
            claimed_first = data.draw(st.integers(1, second))
        elif tamper == "drop" and path:
            path = path[:-1]
        honest = spec.proof(claimed_first, self.leaves[:second]) == path
        message = impl.ReceiveConsistency(
            claimed_first, second, self._root(claimed_first), self._root(second), path
        )
        self._verdict(message, honest)

    @invariant()
    def heads_are_prefixes_of_the_log(self) -> None:
        for node in self.nodes:
            size = node.trusted.size
            require(size <= len(self.leaves), "a verifier trusts a head beyond the log")
            require(node.trusted.root == spec.mth(self.leaves[:size]), "a head off the log")


# -- The oracle: canonical encoding, vectors and trace validation --------------------------------
#
# Two nodes: node 0 is the log, node 1 the verifier. Documents (canonical JSON, bytes as hex)::
#
#     state    {"role": "log", "leaves": ["61", "62"]}
#              {"role": "verifier", "trusted": {"size": 2, "root": "<64 hex>"}}
#     event    {"type": "append", "leaf": "61"}                               (to the log)
#              {"type": "receive", "message": {"type": "head", "size": 2, "root": R,
#                                              "path": [H, ...]}}               (to the verifier)
#              {"type": "receive", "message": {"type": "inclusion", "index": 0, "size": 2,
#                                              "leaf": "61", "path": [H], "root": R}}
#              {"type": "receive", "message": {"type": "consistency", "first": 1, "second": 2,
#                                              "first_root": R1, "second_root": R2, "path": [H]}}
#     effects  {"head": {"size": 2, "root": R}, "rejections": []}              (the log)
#              {"accepted": "inclusion", "faults": []}                         (the verifier)
#              {"accepted": null, "faults": [{"kind": "inclusion_proof_invalid"}]}
#
# Handlers: ``append`` and ``receive``. A received message's fields decode leniently (a hex
# string becomes bytes, an array a tuple, anything else stays as it is): a malformed message is
# the verifier's to refuse (``malformed``), not the decoder's.

_HEX: dict[str, Any] = {"type": "string", "pattern": "^([0-9a-f]{2})*$"}
_HASH: dict[str, Any] = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_NAT: dict[str, Any] = {"type": "integer", "minimum": 0}


def _loose_to_json(value: Any) -> JSON:
    if type(value) is bytes:
        return value.hex()
    if isinstance(value, tuple | list):
        return [_loose_to_json(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"no JSON for {type(value).__name__}")


def _loose_from_json(value: JSON) -> Any:
    if type(value) is str and len(value) % 2 == 0:
        try:
            return bytes.fromhex(value)
        except ValueError:
            return value
    if type(value) is list:
        return tuple(_loose_from_json(v) for v in value)
    if type(value) is dict:
        return tuple(sorted((k, _loose_from_json(v)) for k, v in value.items()))
    return value


_MESSAGE_FIELDS: dict[str, tuple[type, tuple[str, ...]]] = {
    "head": (impl.ReceiveHead, ("size", "root", "path")),
    "inclusion": (impl.ReceiveInclusion, ("index", "size", "leaf", "path", "root")),
    "consistency": (
        impl.ReceiveConsistency,
        ("first", "second", "first_root", "second_root", "path"),
    ),
}
_MESSAGE_TYPE = {cls: name for name, (cls, _) in _MESSAGE_FIELDS.items()}


def _head_doc(head: TreeHead) -> JSON:
    return {"size": head.size, "root": head.root.hex()}


def _expect_hex(doc: JSON, path: str, length: int | None = None) -> bytes:
    if type(doc) is not str:
        raise DecodeError(path, "expected a hex string")
    try:
        value = bytes.fromhex(doc)
    except ValueError:
        raise DecodeError(path, "not a hex string") from None
    if doc != value.hex():
        raise DecodeError(path, "hex must be lowercase, two digits a byte")
    if length is not None and len(value) != length:
        raise DecodeError(path, f"expected {length} bytes, got {len(value)}")
    return value


@attrs.frozen
class MerkleTreeCodec:
    """Encoding of the log and the verifier, their events and effects (the oracle's interface)."""

    protocol: str = "merkle-tree"
    ops: impl.VerifierOps = impl.STANDARD_OPS

    def schemas(self) -> dict[str, Any]:
        head = object_schema({"size": _NAT, "root": _HASH})
        state = {
            "oneOf": [
                object_schema(
                    {"role": {"const": "log"}, "leaves": {"type": "array", "items": _HEX}}
                ),
                object_schema({"role": {"const": "verifier"}, "trusted": head}),
            ]
        }
        any_message = {
            "type": "object",
            "properties": {"type": {"enum": sorted(_MESSAGE_FIELDS)}},
            "required": ["type"],
        }
        event = {
            "oneOf": [
                object_schema({"type": {"const": "append"}, "leaf": {}}),
                object_schema({"type": {"const": "receive"}, "message": any_message}),
            ]
        }
        effects = {
            "oneOf": [
                object_schema(
                    {
                        "head": {"anyOf": [{"type": "null"}, head]},
                        "rejections": {
                            "type": "array",
                            "items": object_schema(
                                {"reason": {"enum": enum_values(impl.RejectReason)}}
                            ),
                        },
                    }
                ),
                object_schema(
                    {
                        "accepted": {"enum": [None, "head", "inclusion", "consistency"]},
                        "faults": {
                            "type": "array",
                            "items": object_schema({"kind": {"enum": enum_values(impl.FaultKind)}}),
                        },
                    }
                ),
            ]
        }
        return {"state": state, "event": event, "effects": effects}

    # states
    def encode_state(self, node: impl.LogNode | impl.VerifierState) -> JSON:
        if isinstance(node, impl.LogNode):
            return {"role": "log", "leaves": [leaf.hex() for leaf in node.leaves]}
        return {"role": "verifier", "trusted": _head_doc(node.trusted)}

    def decode_state(self, doc: JSON, path: str = "$") -> impl.LogNode | impl.VerifierState:
        if not isinstance(doc, dict):
            raise DecodeError(path, "expected an object with a field 'role'")
        role = doc.get("role")
        if role == "log":
            expect_object(doc, path, ["role", "leaves"])
            leaves = doc["leaves"]
            if not isinstance(leaves, list):
                raise DecodeError(f"{path}.leaves", "expected an array")
            return impl.LogNode(
                tuple(_expect_hex(d, f"{path}.leaves[{k}]") for k, d in enumerate(leaves))
            )
        if role == "verifier":
            expect_object(doc, path, ["role", "trusted"])
            head = expect_object(doc["trusted"], f"{path}.trusted", ["size", "root"])
            size = expect_int(head["size"], f"{path}.trusted.size", minimum=0)
            root = _expect_hex(head["root"], f"{path}.trusted.root", impl.HASH_SIZE)
            return impl.VerifierState(TreeHead(size, root))
        raise DecodeError(f"{path}.role", f"unknown role {role!r} (known: log, verifier)")

    # events
    def encode_event(self, event: Any) -> JSON:
        if isinstance(event, impl.AppendRequest):
            return {"type": "append", "leaf": _loose_to_json(event.leaf)}
        name = _MESSAGE_TYPE[type(event)]
        _, fields = _MESSAGE_FIELDS[name]
        message = {"type": name, **{f: _loose_to_json(getattr(event, f)) for f in fields}}
        return {"type": "receive", "message": message}

    def decode_event(self, doc: JSON, path: str = "$") -> Any:
        if not isinstance(doc, dict):
            raise DecodeError(path, "expected an object with a field 'type'")
        kind = doc.get("type")
        if kind == "append":
            expect_object(doc, path, ["type", "leaf"])
            return impl.AppendRequest(_loose_from_json(doc["leaf"]))
        if kind == "receive":
            expect_object(doc, path, ["type", "message"])
            message = doc["message"]
            if not isinstance(message, dict) or message.get("type") not in _MESSAGE_FIELDS:
                known = ", ".join(sorted(_MESSAGE_FIELDS))
                raise DecodeError(f"{path}.message.type", f"unknown message type (known: {known})")
            cls, fields = _MESSAGE_FIELDS[message["type"]]
            expect_object(message, f"{path}.message", ["type", *fields])
            # lenient on purpose: the verifier, not the decoder, refuses a malformed message
            return cls(*(_loose_from_json(message[f]) for f in fields))
        raise DecodeError(f"{path}.type", f"unknown event type {kind!r} (known: append, receive)")

    # effects
    def encode_effects(self, effects: impl.Effects | impl.LogEffects) -> JSON:
        if isinstance(effects, impl.LogEffects):
            return {
                "head": None if effects.head is None else _head_doc(effects.head),
                "rejections": [{"reason": r.value} for r in effects.rejections],
            }
        return {
            "accepted": effects.accepted,
            "faults": [{"kind": f.kind.value} for f in effects.faults],
        }

    def handler(self, event: Any) -> str:
        return "append" if isinstance(event, impl.AppendRequest) else "receive"

    def step(self, node: Any, event: Any) -> tuple[Any, Any]:
        if isinstance(node, impl.LogNode):
            if not isinstance(event, impl.AppendRequest):
                raise TypeError(f"the log cannot handle {event!r}")
            return impl.step_log(node, event, self.ops.hasher)
        return impl.step(node, event, self.ops)


CODEC = MerkleTreeCodec()


def node_event(action: ModelAction) -> tuple[int, Any]:
    """The node a model action steps (0: the log, 1: the verifier) and its impl event."""
    if isinstance(action, Append):
        return 0, impl.AppendRequest(action.leaf)
    return 1, action.message


def initial_node(index: int, n: int) -> impl.LogNode | impl.VerifierState:
    return impl.LogNode(()) if index == 0 else impl.new()


def refusal(state: impl.VerifierState, message: Any) -> impl.FaultKind | None:
    """Why the verifier must refuse ``message``, by the spec (written apart from the impl)."""

    def nat(v: Any) -> bool:
        return type(v) is int and v >= 0

    def digest(v: Any) -> bool:
        return type(v) is bytes and len(v) == impl.HASH_SIZE

    def hashes(v: Any) -> bool:
        return type(v) is tuple and all(digest(x) for x in v)

    if isinstance(message, impl.ReceiveHead):
        if not (nat(message.size) and digest(message.root) and hashes(message.path)):
            return impl.FaultKind.MALFORMED
        if message.size < state.trusted.size:
            return impl.FaultKind.SIZE_REGRESSION
        if not spec_verdict(message, spec.RFC_HASHER, state.trusted):
            return impl.FaultKind.CONSISTENCY_PROOF_INVALID
        return None
    if isinstance(message, impl.ReceiveInclusion):
        well_formed = nat(message.index) and nat(message.size) and type(message.leaf) is bytes
        if not (well_formed and hashes(message.path) and digest(message.root)):
            return impl.FaultKind.MALFORMED
        if message.index >= message.size:
            return impl.FaultKind.INDEX_OUT_OF_RANGE
        if not spec_verdict(message, spec.RFC_HASHER):
            return impl.FaultKind.INCLUSION_PROOF_INVALID
        return None
    if not (nat(message.first) and nat(message.second) and hashes(message.path)):
        return impl.FaultKind.MALFORMED
    if not (digest(message.first_root) and digest(message.second_root)):
        return impl.FaultKind.MALFORMED
    if message.first > message.second:
        return impl.FaultKind.SIZE_REGRESSION
    if not spec_verdict(message, spec.RFC_HASHER):
        return impl.FaultKind.CONSISTENCY_PROOF_INVALID
    return None


def step_checker(codec: MerkleTreeCodec = CODEC) -> Any:
    """Trace validation of one node's step against the spec (see :mod:`.validate`).

    Node 0 is the log: an append adds exactly the leaf and announces ``MTH`` of the new log
    (``refinement``); a leaf that is not bytes is rejected, the log unchanged. Node 1 is the
    verifier: a message is accepted iff the spec's recursive verification accepts it (see
    :func:`refusal`), a head is adopted exactly then (``refinement``), and a refused message
    leaves the state unchanged (``faults_change_nothing``) with one fault of the spec's kind
    (``typed_fault``).
    """
    from .validate import StepChecker

    def check(
        nodes: tuple[Any, ...], i: int, event: Any, post: Any, effects: Any
    ) -> tuple[str, str, str] | None:
        pre = nodes[i]
        if i == 0:
            if not (isinstance(pre, impl.LogNode) and isinstance(post, impl.LogNode)):
                return ("identity", "node 0 is the log", f"{type(post).__name__}")
            if not isinstance(event, impl.AppendRequest):
                return ("refinement", "the log handles appends", repr(event))
            if type(event.leaf) is not bytes:
                if post != pre:
                    return ("faults_change_nothing", "the log unchanged", repr(post.leaves))
                expected: JSON = {"head": None, "rejections": [{"reason": "malformed_leaf"}]}
            else:
                leaves = (*pre.leaves, event.leaf)
                if post.leaves != leaves:
                    return ("refinement", f"spec Append gives {len(leaves)} leaves", repr(post))
                expected = {
                    "head": _head_doc(TreeHead(len(leaves), spec.mth(leaves))),
                    "rejections": [],
                }
        else:
            if not (isinstance(pre, impl.VerifierState) and isinstance(post, impl.VerifierState)):
                return ("identity", "node 1 is the verifier", f"{type(post).__name__}")
            if isinstance(event, impl.AppendRequest):
                return ("refinement", "the verifier handles received messages", repr(event))
            kind = refusal(pre, event)
            if kind is not None:
                if post != pre:
                    return (
                        "faults_change_nothing",
                        f"trusted head unchanged: the message is refused ({kind.value})",
                        repr(post.trusted),
                    )
                expected = {"accepted": None, "faults": [{"kind": kind.value}]}
            else:
                wanted = pre
                if isinstance(event, impl.ReceiveHead):
                    wanted = impl.VerifierState(TreeHead(event.size, event.root))
                if post != wanted:
                    return (
                        "refinement",
                        f"spec UpdateHead gives {wanted.trusted}",
                        repr(post.trusted),
                    )
                expected = {"accepted": _MESSAGE_TYPE[type(event)], "faults": []}
        if effects is None or effects == expected:
            return None
        prop = "typed_fault" if expected.get("faults") or effects.get("faults") else "refinement"
        return (prop, dumps_json(expected), dumps_json(effects))

    return StepChecker(codec=codec, initial_node=initial_node, check=check)


def dumps_json(doc: JSON) -> str:
    from .codec import dumps_line

    return dumps_line(doc)


ORACLE = OracleBinding(
    codec=CODEC,
    configs=("tiny",),
    node_event=node_event,
    nodes=lambda state: (state.log, state.verifier),
    initial_node=initial_node,
    step_checker=step_checker(CODEC),
)


# -- Benchmark ------------------------------------------------------------------------------------


def bench_merkle_tree(seconds: float = 2.0) -> dict[str, Any]:
    """Inclusion proofs verified per second (RFC 9162 §2.1.3.2 loop), on a 65,536-leaf log.

    Proofs are generated ahead of the clock for random leaves (seeded); the clock runs over
    verification only, including hashing the leaf.
    """
    rng = random.Random(9162)
    size = 1 << 16
    leaves = tuple(i.to_bytes(4, "big") for i in range(size))
    started = time.perf_counter()
    tree = impl.build(leaves)
    build_seconds = time.perf_counter() - started
    root = impl.root(tree)
    samples = []
    for _ in range(512):
        index = rng.randrange(size)
        samples.append((index, leaves[index], impl.inclusion_path(tree, index, size)))
    verified = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for index, leaf, path in samples:
            ok = impl.verify_inclusion(index, size, spec.rfc_leaf_hash(leaf), path, root)
            require(ok, "an honest proof failed")
            verified += 1
    elapsed = time.perf_counter() - started
    return {
        "tree_leaves": size,
        "tree_build_seconds": round(build_seconds, 3),
        "proof_hashes": int(math.log2(size)),
        "inclusion_proofs_verified": verified,
        "seconds": round(elapsed, 3),
        "inclusion_proofs_verified_per_second": round(verified / elapsed),
    }
