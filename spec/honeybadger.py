"""HoneyBadgerBFT epochs over an abstract ACS and abstract threshold decryption: the spec.

Source: Miller, Xia, Croman, Shi, Song, "The Honey Badger of BFT Protocols", CCS 2016, §4.5,
Figure 1 ("HoneyBadgerBFT", for party P_i in epoch r). One spec rule per line group:

* lines 1-3 (a random ⌊B/N⌋ of the first B transactions of buf, threshold-encrypted, input to
  ACS_r)                                                  -> :class:`Propose` (the random choice is
  nondeterministic: every subset the rule allows);
* line 4 (ACS_r outputs {v_j}_{j∈S})                      -> :class:`AcsOutput`: the abstract
  ACS with exactly its guarantees (:mod:`.acs`): one S for all, |S| ≥ N − f, at least N − 2f
  correct proposers, a correct proposer's v_j is its proposal; the Byzantine proposer's v_j is
  any batch of ``byzantine_batches`` or :data:`GARBAGE` (a ciphertext that does not decrypt);
* line 5 (f+1 verified decryption shares give y_j)         -> :class:`Commit`: y_j is the
  plaintext (TDH2 with verified shares: any f+1 valid shares give the one key), and nothing for
  GARBAGE (every correct node fails alike: same ciphertext, same key);
* lines 6-7 (block_r := sorted(∪ y_j); buf := buf − block_r) -> :class:`Commit` too (a node's
  decryptions are independent of each other and of other nodes, so one step does them all).

Modelling choices: correct nodes move to epoch r+1 together once all committed epoch r (epochs
are independent instances, so this loses no behaviour of one epoch); the cryptography is
abstract (its algebra and rejections are tested in tests/test_threshold_crypto.py; the
Hypothesis machine of :mod:`mnemosyne_consensus.model_checks.honeybadger` runs the real one).

Properties: :func:`agreement` (correct nodes' logs agree epoch by epoch), :func:`integrity`
(every output transaction was input: queued by a correct node or proposed by the Byzantine
one), and the step property :func:`censorship_resilience`, the deterministic case of HB §4.5's
censorship argument: if at the start of an epoch every correct queue holds at most ⌊B/N⌋
transactions (so each correct node proposes all of its own), a transaction queued at f+1
correct nodes is in that epoch's block (S holds N − 2f correct proposers and only N − 2f − 1
correct nodes lack the transaction). Under heavier load the paper's bound is probabilistic
(O(T/B + λ) epochs); the simulation checks it (see the model checks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import combinations, product
from typing import Any

import attrs

from .common import replace_at
from .properties import Invariant, Reachable, StepProperty

GARBAGE = ("<garbage>",)  # a Byzantine v_j whose ciphertext does not decrypt
Batch = tuple[str, ...]


@attrs.frozen
class Params:
    n: int
    f: int
    batch_size: int  # B
    queues: tuple[Batch, ...]  # the correct nodes' initial queues (nodes 0..n-f-1)
    byzantine_batches: tuple[Batch, ...]  # what the Byzantine proposer may contribute
    epochs: int

    @property
    def correct(self) -> tuple[int, ...]:
        return tuple(range(self.n - self.f))

    def inputs(self) -> frozenset[str]:
        """Every transaction some node input (correct queues, Byzantine proposals)."""
        batches = (*self.queues, *(b for b in self.byzantine_batches if b != GARBAGE))
        return frozenset(tx for q in batches for tx in q)


@attrs.frozen
class Rules:
    """Switches the mutants flip; :data:`SPEC_RULES` is Figure 1."""

    # Fig. 1 line 1: the window is the first B of buf (the mutant skips the head: buf[1:B+1])
    window_start: int = 0
    # line 5: shares are verified (False: a Byzantine share may spoil one node's key)
    verify_shares: bool = True
    # GARBAGE contributes nothing (True: the undecryptable bytes are output as a transaction)
    output_garbage: bool = False


SPEC_RULES = Rules()


@attrs.frozen(cache_hash=True)
class SystemState:
    # the epoch every correct node is in (they move together; see the module docstring)
    epoch: int
    # per correct node: buf and the blocks output so far
    queues: tuple[Batch, ...]
    # ghost: the correct nodes' queues when this epoch began (the censorship check reads it)
    epoch_queues: tuple[Batch, ...]
    logs: tuple[tuple[Batch, ...], ...]
    # this epoch: each correct node's proposal (None: not yet), ACS's output S as (j, v_j)
    proposals: tuple[Batch | None, ...]
    subset: tuple[tuple[int, Batch], ...] | None


def initial_state(params: Params) -> SystemState:
    c = len(params.correct)
    return SystemState(0, params.queues, params.queues, ((),) * c, (None,) * c, None)


# -- Actions ------------------------------------------------------------------------------------


@attrs.frozen
class Propose:
    node: int
    batch: Batch

    def __str__(self) -> str:
        return f"node {self.node}: proposes {list(self.batch)}"


@attrs.frozen
class AcsOutput:
    subset: tuple[tuple[int, Batch], ...]

    def __str__(self) -> str:
        return "ACS outputs " + ", ".join(f"{j}: {list(b)}" for j, b in self.subset)


@attrs.frozen
class Commit:
    """Node ``node`` decrypts every v_j of S (``plaintexts``, in S's order) and outputs."""

    node: int
    plaintexts: tuple[Batch, ...]

    def __str__(self) -> str:
        return f"node {self.node}: decrypts {[list(p) for p in self.plaintexts]} and outputs"


Action = Propose | AcsOutput | Commit


def window(rules: Rules, params: Params, queue: Batch) -> Batch:
    return queue[rules.window_start : rules.window_start + params.batch_size]


def batches(rules: Rules, params: Params, queue: Batch) -> list[Batch]:
    """Fig. 1 line 1: every ⌊B/N⌋-subset of the window (all of it if it is smaller)."""
    w = window(rules, params, queue)
    k = min(params.batch_size // params.n, len(w))
    return sorted({tuple(sorted(c)) for c in combinations(w, k)})


def decryptions(rules: Rules, params: Params, value: Batch, proposer: int) -> list[Batch]:
    """Fig. 1 line 5: what a node may get for v_j (several: only when shares go unverified)."""
    if value == GARBAGE:
        return [GARBAGE if rules.output_garbage else ()]
    if rules.verify_shares or not value:
        return [value]
    # a Byzantine share among the first f+1 spoils the key: DECRYPTION_FAILED, nothing
    return [value, ()]


def enabled_actions(rules: Rules, params: Params, state: SystemState) -> Iterator[Action]:
    if state.epoch >= params.epochs:
        return
    if state.subset is None:
        for i in params.correct:
            if state.proposals[i] is None:
                for b in batches(rules, params, state.queues[i]):
                    yield Propose(i, b)
        yield from _acs_outputs(params, state)
        return
    options = [decryptions(rules, params, value, j) for j, value in state.subset]
    for i in params.correct:
        if len(state.logs[i]) == state.epoch:
            for plaintexts in product(*options):
                yield Commit(i, plaintexts)


def _acs_outputs(params: Params, state: SystemState) -> Iterator[AcsOutput]:
    """ACS guarantees: |S| ≥ N − f, ≥ N − 2f correct proposers, each of which proposed."""
    proposed = [i for i in params.correct if state.proposals[i] is not None]
    byz = tuple(range(len(params.correct), params.n))
    for k in range(params.n - 2 * params.f, len(proposed) + 1):
        for correct in combinations(proposed, k):
            for m in range(0, len(byz) + 1):
                if k + m < params.n - params.f:
                    continue
                for chosen in combinations(byz, m):
                    for values in _products(params.byzantine_batches, m):
                        entries = [(i, state.proposals[i] or ()) for i in correct]
                        entries += list(zip(chosen, values, strict=True))
                        yield AcsOutput(tuple(sorted(entries)))


def _products(options: tuple[Batch, ...], m: int) -> Iterator[tuple[Batch, ...]]:
    if m == 0:
        yield ()
        return
    for first in options:
        for rest in _products(options, m - 1):
            yield (first, *rest)


def apply(rules: Rules, params: Params, state: SystemState, action: Action) -> SystemState:
    if isinstance(action, Propose):
        return attrs.evolve(state, proposals=replace_at(state.proposals, action.node, action.batch))
    if isinstance(action, AcsOutput):
        return attrs.evolve(state, subset=action.subset)
    # Commit: Fig. 1 line 5 (the y_j), lines 6-7
    i = action.node
    block = tuple(sorted({tx for y in action.plaintexts for tx in y}))
    queue = tuple(tx for tx in state.queues[i] if tx not in block)
    state = attrs.evolve(
        state,
        queues=replace_at(state.queues, i, queue),
        logs=replace_at(state.logs, i, (*state.logs[i], block)),
    )
    if all(len(log) == state.epoch + 1 for log in state.logs):
        c = len(params.correct)
        state = SystemState(
            state.epoch + 1, state.queues, state.queues, state.logs, (None,) * c, None
        )
    return state


# -- Properties ---------------------------------------------------------------------------------


def agreement(params: Params, state: SystemState) -> bool:
    """Correct nodes output the same block in every epoch both have finished."""
    logs = state.logs
    return all(a[e] == b[e] for a in logs for b in logs for e in range(min(len(a), len(b))))


def integrity(params: Params, state: SystemState) -> bool:
    """Every output transaction was input by some node."""
    inputs = params.inputs()
    return all(tx in inputs for log in state.logs for block in log for tx in block)


def light_load(params: Params, queues: tuple[Batch, ...]) -> bool:
    return all(len(q) <= params.batch_size // params.n for q in queues)


def censorship_resilience(params: Params, pre: SystemState, action: Any, post: SystemState) -> bool:
    """Under light load, a transaction queued at f+1 correct nodes is in the epoch's block."""
    queues = pre.epoch_queues
    if not isinstance(action, Commit) or not light_load(params, queues):
        return True
    block = post.logs[action.node][-1]
    for tx in {tx for q in queues for tx in q}:
        if sum(tx in q for q in queues) >= params.f + 1 and tx not in block:
            return False
    return True


def some_block(params: Params, state: SystemState) -> bool:
    return any(block for log in state.logs for block in log)


def byzantine_tx_output(params: Params, state: SystemState) -> bool:
    own = {tx for q in params.queues for tx in q}
    return any(tx not in own for log in state.logs for block in log for tx in block)


def left_for_later(params: Params, state: SystemState) -> bool:
    return any(log and q for log, q in zip(state.logs, state.queues, strict=True))


def last_epoch_done(params: Params, state: SystemState) -> bool:
    return state.epoch >= params.epochs


def properties(
    params: Params,
) -> tuple[
    tuple[Invariant[SystemState], ...],
    tuple[StepProperty[SystemState, Any], ...],
    tuple[Reachable[SystemState], ...],
]:
    def bind(p: Callable[[Params, SystemState], bool]) -> Callable[[SystemState], bool]:
        return lambda s: p(params, s)

    def logs(s: SystemState) -> str:
        return "; ".join(f"node {i}: {[list(b) for b in log]}" for i, log in enumerate(s.logs))

    def censored(pre: SystemState, a: Any, post: SystemState) -> str:
        return f"queues at the epoch's start {pre.epoch_queues}; block {post.logs[a.node][-1]}"

    invariants = (
        Invariant(
            "agreement", "correct nodes output the same block per epoch", bind(agreement), logs
        ),
        Invariant("integrity", "every output transaction was input", bind(integrity), logs),
    )
    steps = (
        StepProperty(
            "censorship_resilience",
            "under light load a transaction queued at f+1 correct nodes is in the epoch's block",
            lambda pre, a, post: censorship_resilience(params, pre, a, post),
            censored,
        ),
    )
    reachables = (
        Reachable("some_block", "a non-empty block is output", bind(some_block)),
        Reachable(
            "byzantine_tx_output",
            "a transaction proposed by the Byzantine node only is output",
            bind(byzantine_tx_output),
        ),
        Reachable(
            "left_for_later", "a queued transaction waits for a later epoch", bind(left_for_later)
        ),
        Reachable("last_epoch_done", "every epoch of the bound is finished", bind(last_epoch_done)),
    )
    return invariants, steps, reachables
