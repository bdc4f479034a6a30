"""Asynchronous binary agreement (MMR with the CONF round): the executable specification.

Sources
    A. Mostéfaoui, H. Moumen, M. Raynal, "Signature-free asynchronous binary Byzantine consensus
    with t < n/3, O(n²) messages, and O(1) expected time", J. ACM 62(4), 2015 (PODC 2014):
    Figure 1 (BV-broadcast: "if EST(v) received from t+1 processes and not yet broadcast then
    broadcast EST(v)"; "if EST(v) received from 2t+1 processes then bin_values ← bin_values ∪
    {v}") and Figure 2, lines 01-09 (est; BV-broadcast EST[r](est); wait bin_values[r] ≠ ∅;
    broadcast AUX[r](w), w ∈ bin_values[r]; wait until a set ``values`` ⊆ bin_values[r] is carried
    by AUX[r] from n−t distinct processes; s ← random(); if values = {v} then est ← v, and if
    v = s decide(v) if not yet done; else est ← s). HoneyBadgerBFT (Miller et al., CCS 2016,
    Figure 4) uses it with BVAL for EST and a threshold coin (f+1 shares).
    The CONF round: amiller/HoneyBadgerBFT issue #59 (E. MacBrough's report: the threshold coin
    is revealed as soon as ONE correct node releases its share, with the f Byzantine shares, so
    the adversary sees s while it still schedules the AUX messages of the other nodes, and can
    keep their estimates split forever) and poanetwork/hbbft issue #37 ("Fix Common Coin use in
    Agreement": "the algorithm needs a third round of messages (Conf)"). After the AUX phase a
    node broadcasts CONF[r](values) and waits for CONF[r] messages from n−f distinct nodes whose
    sets are ⊆ bin_values[r]; only then does it release its coin share; its ``vals`` is the
    union of those n−f sets (MMR's line 06 rule applied to CONF).

    Departure (documented, and checked): poanetwork/hbbft keeps its *own* CONF set as ``vals``
    (``conf_values`` in ``binary_agreement.rs``). The mutant ``conf-own-values`` of
    :mod:`mnemosyne_consensus.model_checks.aba` models that choice; see its result there.

Rules (one action per rule)
    :class:`RelayBval`  Fig. 1: f+1 BVAL[r](b) and not yet sent: send BVAL[r](b);
    :class:`AcceptBval` Fig. 1: 2f+1 BVAL[r](b) (and BVAL[r](b) sent: the f+1 relay comes
                        first): b joins bin_values[r]; with Fig. 2 lines 04-05
                        merged: the first value accepted is the one sent in AUX[r] (the scheduler
                        picks which value is accepted first, so no behaviour is lost);
    :class:`FinishAux`  Fig. 2 line 06: values ⊆ bin_values carried by AUX from n−f nodes; with
                        CONF: send CONF[r](values), else release the coin share;
    :class:`FinishConf` the CONF round: n−f CONF[r] ⊆ bin_values; vals = their union; release
                        the coin share;
    :class:`OpenCoin`   the threshold coin of round r opens once ONE correct node released its
                        share (the f Byzantine shares are always available): its value is a
                        nondeterministic choice made at that moment, so no state before it can
                        depend on it (the adversary cannot see it earlier), and every state after
                        may (the adversary schedules with full knowledge of it);
    :class:`NextRound`  Fig. 2 lines 07-09: est ← v if vals = {v}; if v = s decide v,
                        broadcast TERM[r+1](v) and halt; else est ← s; then round r+1 and
                        BVAL[r+1](est);
    :class:`DecideByTerm` hbbft's expedite termination: TERM(v) from f+1 distinct nodes, each
                        of a round t <= the node's round: decide v, broadcast TERM[round](v),
                        halt.

Termination (poanetwork/hbbft, ``src/binary_agreement/binary_agreement.rs``: ``decide`` sends
``Term(b)`` and the instance terminates; ``handle_term`` decides on more than f ``Term(b)``;
``received_term`` "count as BVal, Aux and Conf messages for all future epochs"). MMR's processes
keep running after deciding, which starves nobody but never stops; ours halt on deciding, and a
TERM[t](v) in the pool counts as its sender's BVAL[r](v), AUX[r](v) and CONF[r]({v}) for every
round r >= t (:meth:`Context.tally`), so the nodes still running find their n−f quorums. A node
deciding by f+1 TERMs sends TERM of its *current* round, where hbbft sends the next one: with
hbbft's choice the node's current round misses its AUX/CONF forever and a slower correct node
can wait there for ever (mutant ``term-next-round``, caught by :func:`terminates`). Our choice
is safe: f+1 TERMs with t <= round include a correct one, so the round is after the first
decision, where every correct node holds the decided value only (MMR's Lemma: est = v after a
decision of v), and the virtual messages repeat what the node sent there.
An undecided node halts after the bounded last round ``max_round`` (the model's bound).

Model (DESIGN.md): one global pool of correct messages; the Byzantine alphabet offers BVAL[r](b),
AUX[r](b), CONF[r](S) and (configs with "term") TERM[t](b) for every r, t, b, S (equivocation);
selective sending is free. The liveness property (:func:`terminates`) is checked on the ends of
fair runs (nothing enabled by the correct nodes' messages alone; decided nodes have halted)
under a *good coin*: from round ``gst`` on, the coin equals the one value a
correct node may still hold as a singleton (any value when there is none), which is what an
unpredictable coin gives with probability at least 1/2 in each round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import combinations, product
from typing import Any

import attrs

from .common import replace_at
from .properties import Invariant, Reachable

BVAL, AUX, CONF, TERM = "bval", "aux", "conf", "term"
VALUE_SETS: tuple[tuple[int, ...], ...] = ((0,), (1,), (0, 1))
# phases of a round
BV, AUX_SENT, CONF_SENT, COIN, HALTED = 0, 1, 2, 3, 4


@attrs.frozen
class Params:
    n: int
    f: int
    byzantine: tuple[int, ...]
    inputs: tuple[tuple[int, ...], ...]  # the correct nodes' inputs, one tuple per initial state
    max_round: int
    coin: str = "free"  # "free": nondeterministic; "good": favourable from round gst on
    gst: int = 0
    silent_byzantine: bool = False
    byzantine_kinds: tuple[str, ...] = ("bval", "aux", "conf")  # what the alphabet offers
    # (add "term" for the Byzantine TERM[t](b), t in term_from..max_round + 1)
    term_from: int = 0

    @property
    def correct(self) -> tuple[int, ...]:
        return tuple(i for i in range(self.n) if i not in self.byzantine)


@attrs.frozen
class Rules:
    """Switches the mutants flip; :data:`SPEC_RULES` is MMR with the CONF round."""

    conf_round: bool = True
    conf_own_values: bool = False  # hbbft: vals = own CONF set, not the union
    relay_threshold: Callable[[int, int], int] = lambda n, f: f + 1
    relay: bool = True
    decide_ignores_coin: bool = False
    aux_quorum: Callable[[int, int], int] = lambda n, f: n - f
    term_threshold: Callable[[int, int], int] = lambda n, f: f + 1
    term_next_round: bool = False  # hbbft: a TERM decision sends TERM of the next round


SPEC_RULES = Rules()


@attrs.frozen(cache_hash=True, order=True)
class Message:
    kind: str
    round: int
    sender: int
    value: Any  # 0/1 for BVAL, AUX and TERM, a tuple of values for CONF


@attrs.frozen(cache_hash=True)
class Process:
    """One correct node's variables in its current round."""

    # identity
    id: int
    # position
    round: int
    phase: int
    # MMR's est, and its value at the start of every round so far (for the invariants)
    est: int
    ests: tuple[int, ...]
    # BV-broadcast: values sent in BVAL[r'] for every round r' <= round (relays go on for past
    # rounds: MMR's BV-broadcast is a background task), and bin_values[round]
    sent: tuple[tuple[int, ...], ...]
    bin_values: tuple[int, ...]
    # the AUX phase's result (the CONF content), and the values the coin step reads
    aux_vals: tuple[int, ...] | None
    vals: tuple[int, ...] | None
    # decide(v): (value, round), once
    decided: tuple[int, int] | None


@attrs.frozen(cache_hash=True)
class Coin:
    """The coin of a round: its value and the singletons committed when it opened."""

    value: int
    committed: tuple[int, ...]


@attrs.frozen(cache_hash=True)
class SystemState:
    processes: tuple[Process, ...]
    pool: tuple[Message, ...]
    coins: tuple[Coin | None, ...]  # one per round 0..max_round


def initial_states(params: Params) -> Iterator[SystemState]:
    for inputs in params.inputs:
        procs = tuple(
            Process(p, 0, BV, v, (v,), ((v,),), (), None, None, None)
            for p, v in zip(params.correct, inputs, strict=True)
        )
        pool = tuple(
            sorted(Message(BVAL, 0, p, v) for p, v in zip(params.correct, inputs, strict=True))
        )
        yield SystemState(procs, pool, (None,) * (params.max_round + 1))


def byzantine_alphabet(params: Params) -> tuple[Message, ...]:
    if params.silent_byzantine:
        return ()
    out = []
    for b in params.byzantine:
        for r in range(params.max_round + 1):
            for v in (0, 1):
                out += [Message(BVAL, r, b, v), Message(AUX, r, b, v)]
            out += [Message(CONF, r, b, s) for s in VALUE_SETS]
        rounds = range(params.term_from, params.max_round + 2)
        out += [Message(TERM, t, b, v) for t in rounds for v in (0, 1)]
    return tuple(sorted(m for m in out if m.kind in params.byzantine_kinds))


class Context:
    def __init__(self, params: Params, rules: Rules = SPEC_RULES) -> None:
        self.params = params
        self.rules = rules
        self.alphabet = byzantine_alphabet(params)
        self._cache: dict[
            tuple[tuple[Message, ...], bool], dict[tuple[str, int], dict[int, set[Any]]]
        ] = {}

    def tally(
        self, pool: tuple[Message, ...], byzantine: bool = True
    ) -> dict[tuple[str, int], dict[int, set[Any]]]:
        """(kind, round) -> sender -> the values it sent; a TERM[t](v) also counts as its
        sender's BVAL[r](v), AUX[r](v) and CONF[r]({v}) for every round r >= t (hbbft)."""
        key = (pool, byzantine)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) > 100_000:
                self._cache.clear()
            found = {}
            for m in (*pool, *self.alphabet) if byzantine else pool:
                found.setdefault((m.kind, m.round), {}).setdefault(m.sender, set()).add(m.value)
                if m.kind == TERM:
                    for r in range(m.round, self.params.max_round + 1):
                        for kind, v in ((BVAL, m.value), (AUX, m.value), (CONF, (m.value,))):
                            found.setdefault((kind, r), {}).setdefault(m.sender, set()).add(v)
            self._cache[key] = found
        return found


def count(t: dict[tuple[str, int], dict[int, set[Any]]], kind: str, r: int, v: Any) -> int:
    return sum(1 for vs in t.get((kind, r), {}).values() if v in vs)


def aux_options(ctx: Context, t: Any, proc: Process) -> list[tuple[int, ...]]:
    """Fig. 2 line 06: the sets ``values`` ⊆ bin_values carried by AUX from n−f distinct nodes
    (each node counted with one AUX)."""
    need = ctx.rules.aux_quorum(ctx.params.n, ctx.params.f)
    senders = t.get((AUX, proc.round), {})
    out = []
    for s in VALUE_SETS:
        if not set(s) <= set(proc.bin_values):
            continue
        carriers = {q: vs & set(s) for q, vs in senders.items() if vs & set(s)}
        if len(carriers) < need:
            continue
        if len(s) == 2:
            zeros = [q for q, vs in carriers.items() if 0 in vs]
            ones = [q for q, vs in carriers.items() if 1 in vs]
            if not any(a != b for a in zeros for b in ones):
                continue
        out.append(s)
    return out


def conf_options(ctx: Context, t: Any, proc: Process) -> list[tuple[int, ...]]:
    """The CONF round: unions of the sets of n−f CONF[r] from distinct nodes, each ⊆ bin_values."""
    need = ctx.rules.aux_quorum(ctx.params.n, ctx.params.f)
    senders = {
        q: [s for s in sets if set(s) <= set(proc.bin_values)]
        for q, sets in t.get((CONF, proc.round), {}).items()
    }
    senders = {q: s for q, s in senders.items() if s}
    unions: set[tuple[int, ...]] = set()
    for group in combinations(sorted(senders), need):
        for choice in product(*(senders[q] for q in group)):
            unions.add(tuple(sorted(set().union(*choice))))
    return sorted(unions)


# -- Actions -------------------------------------------------------------------------------------


@attrs.frozen
class RelayBval:
    """MMR Fig. 1: f+1 BVAL[r](b) received and BVAL[r](b) not yet sent: send it (also for a
    round the node has left)."""

    process: int
    round: int
    value: int


@attrs.frozen
class AcceptBval:
    """MMR Fig. 1 (2t+1 rule) with Fig. 2 lines 04-05: b joins bin_values; AUX[r](first b)."""

    process: int
    value: int


@attrs.frozen
class FinishAux:
    """MMR Fig. 2 line 06: ``values`` from n−f AUX; CONF[r](values) (or the coin, unfixed)."""

    process: int
    values: tuple[int, ...]


@attrs.frozen
class FinishConf:
    """The CONF round (HB #59 / hbbft #37): n−f CONF ⊆ bin_values; vals = their union."""

    process: int
    values: tuple[int, ...]


@attrs.frozen
class OpenCoin:
    """The threshold coin of ``round`` opens (one correct share + f Byzantine ones): value s."""

    round: int
    value: int


@attrs.frozen
class NextRound:
    """MMR Fig. 2 lines 07-09: est, decide, next round."""

    process: int


@attrs.frozen
class DecideByTerm:
    """hbbft's expedite termination: f+1 TERM(v) of rounds <= ours: decide v, TERM, halt."""

    process: int
    value: int


Action = RelayBval | AcceptBval | FinishAux | FinishConf | OpenCoin | NextRound | DecideByTerm


def term_senders(t: Any, r: int, v: int) -> int:
    """Distinct senders of a TERM[t](v) with t <= r."""
    return len({q for rr in range(r + 1) for q, vs in t.get((TERM, rr), {}).items() if v in vs})


def committed_singletons(state: SystemState, r: int) -> tuple[int, ...]:
    """The values v with a correct node whose AUX phase of round r ended with {v}."""
    return tuple(
        sorted(
            {
                p.aux_vals[0]
                for p in state.processes
                if p.round == r and p.aux_vals and len(p.aux_vals) == 1
            }
        )
    )


def good_coin(state: SystemState, r: int) -> int:
    """The favourable coin: the committed singleton if there is one, else 1."""
    committed = committed_singletons(state, r)
    return committed[0] if committed else 1


def enabled_actions(ctx: Context, state: SystemState, byzantine: bool = True) -> Iterator[Action]:
    params, rules = ctx.params, ctx.rules
    t = ctx.tally(state.pool, byzantine and not params.silent_byzantine)
    f = params.f
    for proc in state.processes:
        p, r = proc.id, proc.round
        if proc.phase == HALTED:
            continue
        relays = [
            RelayBval(p, rr, v)
            for rr, sent in enumerate(proc.sent)
            for v in (0, 1)
            if rules.relay
            and v not in sent
            and count(t, BVAL, rr, v) >= rules.relay_threshold(params.n, f)
        ]
        yield from relays
        for v in (0, 1):
            if term_senders(t, r, v) >= rules.term_threshold(params.n, f):
                yield DecideByTerm(p, v)
        if proc.phase < COIN:
            for v in (0, 1):
                # relayed first (2f+1 >= f+1; the impl relays before it accepts): a node that
                # halts has relayed every value it accepted
                relayed = v in proc.sent[r] or not rules.relay
                if relayed and v not in proc.bin_values and count(t, BVAL, r, v) >= 2 * f + 1:
                    yield AcceptBval(p, v)
        if proc.phase == AUX_SENT:
            for s in aux_options(ctx, t, proc):
                yield FinishAux(p, s)
        if proc.phase == CONF_SENT:
            options = conf_options(ctx, t, proc)
            if rules.conf_own_values:
                options = options[:1]
            for s in options:
                yield FinishConf(p, s)
        if proc.phase == COIN and state.coins[r] is not None:
            yield NextRound(p)
    for r, coin in enumerate(state.coins):
        if coin is None and any(p.round == r and p.phase == COIN for p in state.processes):
            if params.coin == "good" and r >= params.gst:
                yield OpenCoin(r, good_coin(state, r))
            else:
                yield OpenCoin(r, 0)
                yield OpenCoin(r, 1)


def _send(pool: tuple[Message, ...], m: Message) -> tuple[Message, ...]:
    return pool if m in pool else tuple(sorted((*pool, m)))


def apply(ctx: Context, state: SystemState, action: Action) -> SystemState:
    params, rules = ctx.params, ctx.rules
    if isinstance(action, OpenCoin):
        coin = Coin(action.value, committed_singletons(state, action.round))
        return attrs.evolve(state, coins=replace_at(state.coins, action.round, coin))
    i = params.correct.index(action.process)
    proc = state.processes[i]
    p, r = proc.id, proc.round
    pool = state.pool
    if isinstance(action, RelayBval):
        rr = action.round
        pool = _send(pool, Message(BVAL, rr, p, action.value))
        sent = tuple(sorted((*proc.sent[rr], action.value)))
        proc = attrs.evolve(proc, sent=replace_at(proc.sent, rr, sent))
    elif isinstance(action, AcceptBval):
        proc = attrs.evolve(proc, bin_values=tuple(sorted((*proc.bin_values, action.value))))
        if proc.phase == BV:
            pool = _send(pool, Message(AUX, r, p, action.value))
            proc = attrs.evolve(proc, phase=AUX_SENT)
    elif isinstance(action, FinishAux):
        proc = attrs.evolve(proc, aux_vals=action.values)
        if rules.conf_round:
            pool = _send(pool, Message(CONF, r, p, action.values))
            proc = attrs.evolve(proc, phase=CONF_SENT)
        else:
            proc = attrs.evolve(proc, vals=action.values, phase=COIN)
    elif isinstance(action, FinishConf):
        vals = proc.aux_vals if rules.conf_own_values else action.values
        proc = attrs.evolve(proc, vals=vals, phase=COIN)
    elif isinstance(action, DecideByTerm):
        v = action.value
        pool = _send(pool, Message(TERM, r + (1 if rules.term_next_round else 0), p, v))
        proc = attrs.evolve(proc, phase=HALTED, decided=(v, r))
    else:
        coin = state.coins[r]
        if coin is None or proc.vals is None:
            raise ValueError(f"NextRound({p}) is not enabled: no coin or no vals in round {r}")
        s = coin.value
        decided = proc.decided
        if len(proc.vals) == 1:
            est = proc.vals[0]
            if est == s or rules.decide_ignores_coin:
                # decide, TERM[r+1](est), halt
                pool = _send(pool, Message(TERM, r + 1, p, est))
                proc = attrs.evolve(proc, est=est, phase=HALTED, decided=(est, r))
                return attrs.evolve(
                    state, processes=replace_at(state.processes, i, proc), pool=pool
                )
        else:
            est = s
        if r < params.max_round:
            sent = (*proc.sent, (est,))
            proc = Process(p, r + 1, BV, est, (*proc.ests, est), sent, (), None, None, decided)
            pool = _send(pool, Message(BVAL, r + 1, p, est))
        else:
            proc = attrs.evolve(proc, est=est, phase=HALTED, decided=decided)
    return attrs.evolve(state, processes=replace_at(state.processes, i, proc), pool=pool)


def quiescent(ctx: Context, state: SystemState) -> bool:
    """The end of a fair run: nothing enabled by the correct nodes' messages (and coins)."""
    return next(enabled_actions(ctx, state, byzantine=False), None) is None


# -- Invariants ----------------------------------------------------------------------------------


def agreement(ctx: Context, state: SystemState) -> bool:
    """No two correct nodes decide differently (MMR, BBC-Agreement)."""
    return len({p.decided[0] for p in state.processes if p.decided}) <= 1


def validity(ctx: Context, state: SystemState) -> bool:
    """A decided value was proposed by a correct node (MMR, BBC-Validity)."""
    inputs = {p.ests[0] for p in state.processes}
    return all(p.decided[0] in inputs for p in state.processes if p.decided)


def no_adaptive_split(ctx: Context, state: SystemState) -> bool:
    """A correct node that ends round r with vals = {v}, v ≠ coin(r), saw a singleton that some
    correct node had committed to {v} before the coin of r opened: the adversary cannot choose
    the singleton after seeing the coin (the property the CONF round restores, HB #59)."""
    for p in state.processes:
        if p.phase == COIN and p.vals is not None and len(p.vals) == 1:
            coin = state.coins[p.round]
            if coin is not None and p.vals[0] != coin.value and p.vals[0] not in coin.committed:
                return False
    return True


def terminates(ctx: Context, state: SystemState) -> bool:
    """Bounded liveness (good-coin configs): every fair run ends with every correct node
    decided."""
    if ctx.params.coin != "good" or not quiescent(ctx, state):
        return True
    return all(p.decided is not None for p in state.processes)


INVARIANTS: tuple[tuple[str, str, Callable[[Context, SystemState], bool]], ...] = (
    ("agreement", "no two correct nodes decide differently", agreement),
    ("validity", "a decided value was some correct node's input", validity),
    (
        "no_adaptive_split",
        "a singleton other than the coin was committed by a correct node before the coin opened",
        no_adaptive_split,
    ),
    (
        "terminates",
        "with a good coin every fair run ends with all correct nodes decided (good-coin configs)",
        terminates,
    ),
)


def value_decided(ctx: Context, state: SystemState) -> bool:
    return any(p.decided for p in state.processes)


def decided_in_round_1(ctx: Context, state: SystemState) -> bool:
    return any(p.decided and p.decided[1] == 1 for p in state.processes)


def decided_by_term(ctx: Context, state: SystemState) -> bool:
    """A correct node decided by f+1 TERMs (its TERM is of its decision round)."""
    return any(
        p.decided and Message(TERM, p.decided[1], p.id, p.decided[0]) in state.pool
        for p in state.processes
    )


def both_bin_values(ctx: Context, state: SystemState) -> bool:
    return any(len(p.bin_values) == 2 for p in state.processes)


def estimates_split(ctx: Context, state: SystemState) -> bool:
    """Correct nodes start round 1 with different estimates."""
    return len({p.ests[1] for p in state.processes if len(p.ests) > 1}) > 1


def coin_opened(ctx: Context, state: SystemState) -> bool:
    return any(c is not None for c in state.coins)


def all_decided(ctx: Context, state: SystemState) -> bool:
    return all(p.decided for p in state.processes)


REACHABLES: tuple[tuple[str, str, Callable[[Context, SystemState], bool]], ...] = (
    ("value_decided", "a correct node decides", value_decided),
    ("all_decided", "every correct node decides", all_decided),
    ("both_bin_values", "a correct node has both values in bin_values", both_bin_values),
    ("coin_opened", "a coin opens", coin_opened),
)
LATER_ROUND_REACHABLES: tuple[tuple[str, str, Callable[[Context, SystemState], bool]], ...] = (
    ("decided_in_round_1", "a correct node decides in round 1", decided_in_round_1),
    ("estimates_split", "correct nodes start round 1 with different estimates", estimates_split),
    ("decided_by_term", "a correct node decides by f+1 TERMs", decided_by_term),
)


def properties(
    ctx: Context, project: Callable[[Any], SystemState] | None = None
) -> tuple[tuple[Invariant[Any], ...], tuple[Reachable[Any], ...]]:
    proj = project or (lambda s: s)

    def inv(f: Callable[[Context, SystemState], bool]) -> Callable[[Any], bool]:
        return lambda s: f(ctx, proj(s))

    invariants = tuple(Invariant(n, d, inv(f)) for n, d, f in INVARIANTS)
    wanted = REACHABLES + (LATER_ROUND_REACHABLES if ctx.params.max_round >= 1 else ())
    return invariants, tuple(Reachable(n, d, inv(f)) for n, d, f in wanted)
