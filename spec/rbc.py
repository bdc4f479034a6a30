"""Bracha's reliable broadcast: the executable specification.

Source
    G. Bracha, "Asynchronous Byzantine agreement protocols", Information and Computation 75(2),
    1987, the broadcast primitive of section 2 (Fig. 1, "initial / echo / ready" messages, three
    steps); also Cachin, Guerraoui, Rodrigues, "Introduction to Reliable and Secure Distributed
    Programming" (2011), Algorithm 3.18 "Authenticated Double-Echo Broadcast" (the same protocol
    with the thresholds written for n > 3f). HoneyBadgerBFT (Miller et al., CCS 2016, section 4.2
    and Figure 2) uses the erasure-coded variant of Cachin & Tessaro (AVID, SRDS 2005) with the
    same ECHO/READY thresholds; that variant lives in :mod:`mnemosyne_consensus.impl.rbc` only,
    this spec is the value-level protocol both variants refine.

The rules (one action each, named after the message it sends)
    :class:`Broadcast`    the sender (if correct) sends ⟨VAL, v⟩ to every node;
    :class:`Echo`         on the first ⟨VAL, v⟩ from the sender: send ⟨ECHO, v⟩ (once);
    :class:`ReadyOnEcho`  on ⌈(n+f+1)/2⌉ ⟨ECHO, v⟩ from distinct nodes: send ⟨READY, v⟩ (once);
    :class:`ReadyOnReady` on f+1 ⟨READY, v⟩ (amplification): send ⟨READY, v⟩ (once);
    :class:`Deliver`      on 2f+1 ⟨READY, v⟩: deliver v (once).

Thresholds. Bracha writes "(n+t)/2 echo messages"; the threshold used here is the smallest
integer strictly above (n+f)/2, ⌈(n+f+1)/2⌉, for every n > 3f: two sets of that size share at
least f+1 nodes, hence a correct one, so no two correct nodes send READY for different values
(proofs.rbc.echo_quorums_share_a_correct_node). For n = 3f+1 it equals 2f+1, the HoneyBadger
paper's "N − f" (Figure 2); written as ⌈(n+f+1)/2⌉ the spec stays correct for n > 3f+1, where a
plain 2f+1 would not be (two sets of 2f+1 among n = 3f+2 share only f nodes).

Modelling choices (as in the community TLA+ specs of BFT protocols, see DESIGN.md)
    * ONE global pool of the messages correct nodes sent; a rule of node p reads the pool (a
      message in the pool may or may not have reached p yet: the rule is enabled, not forced).
    * Byzantine messages are a FIXED alphabet readable at any time, not state: a Byzantine sender
      offers ⟨VAL, v⟩ for every v (equivocation: different nodes may echo different values), and
      every Byzantine node offers ⟨ECHO, v⟩ and ⟨READY, v⟩ for every v. Selective sending is free:
      no rule is obliged to read an alphabet message, and a node may read it while another never
      does.
    * Values come from a fixed alphabet ``values``; a correct sender broadcasts ``params.input``.
    * Liveness (validity's "every correct node delivers", totality) is checked as a bounded
      property of *fair* runs: a run is fair when every message of a correct node reaches every
      correct node; each rule fires at most once per node, so every fair run ends, and it ends in
      a state where no rule is enabled by the pool alone (:func:`quiescent`). The liveness
      invariants say what must hold in every such end state; Byzantine messages are optional
      there (a Byzantine node may stop sending at any time).

Departures from the original design notes: none of the notes' code is used; the notes had no
reliable broadcast (the issue asks for Bracha's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import attrs

from .common import replace_at
from .properties import Invariant, Reachable

Value = str
VAL, ECHO, READY = "val", "echo", "ready"


# -- Parameters and rules ------------------------------------------------------------------------


@attrs.frozen
class Params:
    """n nodes 0..n-1, the sender, the Byzantine nodes, the value alphabet, the correct input."""

    n: int
    f: int
    sender: int
    byzantine: tuple[int, ...]
    values: tuple[Value, ...]
    input: Value  # what a correct sender broadcasts (ignored when the sender is Byzantine)

    @property
    def correct(self) -> tuple[int, ...]:
        return tuple(i for i in range(self.n) if i not in self.byzantine)

    @property
    def sender_correct(self) -> bool:
        return self.sender not in self.byzantine


@attrs.frozen
class Rules:
    """Thresholds and switches of the protocol; :data:`SPEC_RULES` is Bracha's."""

    echo_threshold: Callable[[int, int], int] = lambda n, f: (n + f + 2) // 2  # ⌈(n+f+1)/2⌉
    amplify_threshold: Callable[[int, int], int] = lambda n, f: f + 1
    deliver_threshold: Callable[[int, int], int] = lambda n, f: 2 * f + 1
    amplify: bool = True  # ReadyOnReady exists
    check_val_sender: bool = True  # Echo reads ⟨VAL⟩ only from the sender


SPEC_RULES = Rules()


# -- State ---------------------------------------------------------------------------------------


@attrs.frozen(cache_hash=True, order=True)
class Message:
    """⟨VAL, v⟩ (sender: the broadcaster), ⟨ECHO, v⟩ or ⟨READY, v⟩ from ``sender``."""

    kind: str
    sender: int
    value: Value


@attrs.frozen(cache_hash=True)
class Process:
    """The variables of one correct node: what it echoed, readied and delivered (None: not)."""

    # identity (constant)
    id: int
    # the once-only sends of the protocol
    echoed: Value | None
    readied: Value | None
    # the output
    delivered: Value | None


@attrs.frozen(cache_hash=True)
class SystemState:
    # correct nodes, in the order of Params.correct
    processes: tuple[Process, ...]
    # every message a correct node sent, sorted; never removed
    pool: tuple[Message, ...]


def initial_state(params: Params) -> SystemState:
    return SystemState(tuple(Process(p, None, None, None) for p in params.correct), ())


def byzantine_alphabet(params: Params) -> tuple[Message, ...]:
    """Every message a Byzantine node may send: VAL (if it is the sender), ECHO and READY for
    every value of the alphabet (maximal equivocation)."""
    out: list[Message] = []
    for b in params.byzantine:
        for v in params.values:
            if b == params.sender:
                out.append(Message(VAL, b, v))
            out += [Message(ECHO, b, v), Message(READY, b, v)]
    # a forged VAL from a Byzantine non-sender: correct nodes must ignore it
    if params.sender_correct:
        for b in params.byzantine:
            out += [Message(VAL, b, v) for v in params.values]
    return tuple(sorted(out))


class Context:
    """Params, rules and the alphabet, with the tallies of a pool memoized."""

    def __init__(self, params: Params, rules: Rules = SPEC_RULES) -> None:
        self.params = params
        self.rules = rules
        self.alphabet = byzantine_alphabet(params)
        n, f = params.n, params.f
        self.echo_quorum = rules.echo_threshold(n, f)
        self.amplify_quorum = rules.amplify_threshold(n, f)
        self.deliver_quorum = rules.deliver_threshold(n, f)
        self._tallies: dict[tuple[tuple[Message, ...], bool], dict[tuple[str, Value], int]] = {}

    def tally(
        self, pool: tuple[Message, ...], byzantine: bool = True
    ) -> dict[tuple[str, Value], int]:
        """(kind, value) -> number of distinct senders, over the pool (and the alphabet)."""
        key = (pool, byzantine)
        found = self._tallies.get(key)
        if found is None:
            if len(self._tallies) > 100_000:
                self._tallies.clear()
            senders: dict[tuple[str, Value], set[int]] = {}
            for m in (*pool, *self.alphabet) if byzantine else pool:
                senders.setdefault((m.kind, m.value), set()).add(m.sender)
            found = self._tallies[key] = {k: len(s) for k, s in senders.items()}
        return found

    def vals(self, pool: tuple[Message, ...], byzantine: bool = True) -> tuple[Value, ...]:
        """Values v of a visible ⟨VAL, v⟩ that Echo accepts (from the sender, unless mutated)."""
        seen = (*pool, *self.alphabet) if byzantine else pool
        return tuple(
            sorted(
                {
                    m.value
                    for m in seen
                    if m.kind == VAL
                    and (m.sender == self.params.sender or not self.rules.check_val_sender)
                }
            )
        )


# -- Actions -------------------------------------------------------------------------------------


@attrs.frozen
class Broadcast:
    """Bracha step 0 / HB Fig. 2 "upon input(v)": the correct sender sends ⟨VAL, v⟩ to all."""

    value: Value


@attrs.frozen
class Echo:
    """Bracha step 1 / HB Fig. 2 "upon receiving VAL": first ⟨VAL, v⟩ from the sender: echo v."""

    process: int
    value: Value


@attrs.frozen
class ReadyOnEcho:
    """Bracha step 2 / HB Fig. 2 "upon receiving N − f ECHO": ⌈(n+f+1)/2⌉ echoes: ready v."""

    process: int
    value: Value


@attrs.frozen
class ReadyOnReady:
    """Bracha step 2 (second clause) / HB Fig. 2 "upon f+1 READY": amplification: ready v."""

    process: int
    value: Value


@attrs.frozen
class Deliver:
    """Bracha step 3 / HB Fig. 2 "upon 2f+1 READY": deliver v."""

    process: int
    value: Value


Action = Broadcast | Echo | ReadyOnEcho | ReadyOnReady | Deliver


def enabled_actions(ctx: Context, state: SystemState, byzantine: bool = True) -> Iterator[Action]:
    """Every enabled action, in a fixed order; ``byzantine=False`` reads the pool only."""
    params = ctx.params
    if params.sender_correct and not any(m.kind == VAL for m in state.pool):
        yield Broadcast(params.input)
    t = ctx.tally(state.pool, byzantine)
    vals = ctx.vals(state.pool, byzantine)
    for proc in state.processes:
        p = proc.id
        if proc.echoed is None:
            for v in vals:
                yield Echo(p, v)
        if proc.readied is None:
            for v in params.values:
                if t.get((ECHO, v), 0) >= ctx.echo_quorum:
                    yield ReadyOnEcho(p, v)
                if ctx.rules.amplify and t.get((READY, v), 0) >= ctx.amplify_quorum:
                    yield ReadyOnReady(p, v)
        if proc.delivered is None:
            for v in params.values:
                if t.get((READY, v), 0) >= ctx.deliver_quorum:
                    yield Deliver(p, v)


def _send(pool: tuple[Message, ...], m: Message) -> tuple[Message, ...]:
    return pool if m in pool else tuple(sorted((*pool, m)))


def apply(ctx: Context, state: SystemState, action: Action) -> SystemState:
    """The effect of an enabled ``action``."""
    if isinstance(action, Broadcast):
        return attrs.evolve(
            state, pool=_send(state.pool, Message(VAL, ctx.params.sender, action.value))
        )
    i = ctx.params.correct.index(action.process)
    proc = state.processes[i]
    pool = state.pool
    v = action.value
    if isinstance(action, Echo):
        proc = attrs.evolve(proc, echoed=v)
        pool = _send(pool, Message(ECHO, proc.id, v))
    elif isinstance(action, ReadyOnEcho | ReadyOnReady):
        proc = attrs.evolve(proc, readied=v)
        pool = _send(pool, Message(READY, proc.id, v))
    else:
        proc = attrs.evolve(proc, delivered=v)
    return SystemState(replace_at(state.processes, i, proc), pool)


def quiescent(ctx: Context, state: SystemState) -> bool:
    """The end of a fair run: no rule is enabled by the correct nodes' messages alone."""
    return next(enabled_actions(ctx, state, byzantine=False), None) is None


# -- Invariants ----------------------------------------------------------------------------------


def _delivered(state: SystemState) -> set[Value]:
    return {p.delivered for p in state.processes if p.delivered is not None}


def agreement(ctx: Context, state: SystemState) -> bool:
    """No two correct nodes deliver different values (Bracha Lemma 2 / CGR "agreement")."""
    return len(_delivered(state)) <= 1


def validity(ctx: Context, state: SystemState) -> bool:
    """If the sender is correct, a correct node delivers only the sender's value (integrity)."""
    return not ctx.params.sender_correct or _delivered(state) <= {ctx.params.input}


def ready_agreement(ctx: Context, state: SystemState) -> bool:
    """No two correct nodes send READY for different values (the lemma behind agreement)."""
    return len({p.readied for p in state.processes if p.readied is not None}) <= 1


def validity_liveness(ctx: Context, state: SystemState) -> bool:
    """Bounded liveness: in the end state of a fair run with a correct sender, every correct node
    delivered the sender's value (CGR "validity")."""
    if not ctx.params.sender_correct or not quiescent(ctx, state):
        return True
    return all(p.delivered == ctx.params.input for p in state.processes)


def totality(ctx: Context, state: SystemState) -> bool:
    """Bounded liveness: in the end state of a fair run, if a correct node delivered then every
    correct node delivered (CGR "totality"; Bracha Lemma 3)."""
    if not _delivered(state) or not quiescent(ctx, state):
        return True
    return all(p.delivered is not None for p in state.processes)


INVARIANTS: tuple[tuple[str, str, Callable[[Context, SystemState], bool]], ...] = (
    ("agreement", "no two correct nodes deliver different values", agreement),
    ("validity", "with a correct sender only its value is delivered", validity),
    ("ready_agreement", "no two correct nodes send READY for different values", ready_agreement),
    (
        "validity_liveness",
        "a fair run with a correct sender ends with every correct node delivering its value",
        validity_liveness,
    ),
    (
        "totality",
        "a fair run in which one correct node delivers ends with every correct node delivering",
        totality,
    ),
)


# -- Reachables ----------------------------------------------------------------------------------


def value_delivered(ctx: Context, state: SystemState) -> bool:
    return bool(_delivered(state))


def all_delivered(ctx: Context, state: SystemState) -> bool:
    return all(p.delivered is not None for p in state.processes)


def fair_run_ended(ctx: Context, state: SystemState) -> bool:
    """A fair run's end state with a delivery (the liveness invariants are not vacuous)."""
    return bool(_delivered(state)) and quiescent(ctx, state)


def echoes_split(ctx: Context, state: SystemState) -> bool:
    """Correct nodes echoed different values: the sender equivocated."""
    return len({p.echoed for p in state.processes if p.echoed is not None}) > 1


def nothing_delivered_at_end(ctx: Context, state: SystemState) -> bool:
    """A fair run may end with no delivery at all (a Byzantine sender that stays silent)."""
    return not _delivered(state) and quiescent(ctx, state)


REACHABLES: tuple[tuple[str, str, Callable[[Context, SystemState], bool]], ...] = (
    ("value_delivered", "a correct node delivers", value_delivered),
    ("all_delivered", "every correct node delivers", all_delivered),
    ("fair_run_ended", "a fair run ends after a delivery", fair_run_ended),
)
BYZANTINE_SENDER_REACHABLES: tuple[tuple[str, str, Callable[[Context, SystemState], bool]], ...] = (
    ("echoes_split", "correct nodes echo different values of an equivocating sender", echoes_split),
    (
        "nothing_delivered_at_end",
        "a fair run ends with no delivery (a silent Byzantine sender)",
        nothing_delivered_at_end,
    ),
)


def properties(
    ctx: Context, project: Callable[[Any], SystemState] | None = None
) -> tuple[tuple[Invariant[Any], ...], tuple[Reachable[Any], ...]]:
    """The registries, read through ``project`` (state of the model -> :class:`SystemState`)."""
    proj = project or (lambda s: s)

    def inv(f: Callable[[Context, SystemState], bool]) -> Callable[[Any], bool]:
        return lambda s: f(ctx, proj(s))

    invariants = tuple(Invariant(n, d, inv(f)) for n, d, f in INVARIANTS)
    wanted = REACHABLES + (() if ctx.params.sender_correct else BYZANTINE_SENDER_REACHABLES)
    return invariants, tuple(Reachable(n, d, inv(f)) for n, d, f in wanted)
