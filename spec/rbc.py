"""Bracha's reliable broadcast: the executable specification.

Source
    G. Bracha, "Asynchronous Byzantine agreement protocols", Information and Computation 75(2),
    1987, the broadcast primitive of section 2 (Fig. 1, "initial / echo / ready" messages, three
    steps); also Cachin, Guerraoui, Rodrigues, "Introduction to Reliable and Secure Distributed
    Programming" (2011), Algorithm 3.18 "Authenticated Double-Echo Broadcast" (the same protocol
    with the thresholds written for n > 3f). HoneyBadgerBFT (Miller et al., CCS 2016, section 4.2
    and Figure 2) uses the erasure-coded variant of Cachin & Tessaro (AVID, SRDS 2005) with the
    same ECHO/READY thresholds (N − f = ⌈(n+f+1)/2⌉ at n = 3f+1); that variant has its own spec
    at the end of this module (:class:`Dispersal`, the ``avid_*`` rules and invariants), with the
    abstract erasure coding explained there.

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

import itertools
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


# == The erasure-coded variant: HoneyBadgerBFT Figure 2 (Cachin & Tessaro's AVID) =================
#
# Source: Miller et al., CCS 2016, section 4.2 and Figure 2 ("RBC"); Cachin, Tessaro, SRDS 2005.
#
#   upon input(v) (the sender):  {s_j} := (N−2f, N) erasure coding of v; h := Merkle root over
#                                {s_j}; send VAL(h, b_j, s_j) to each node j (b_j: the branch)
#   upon VAL(h, b_i, s_i) from the sender:          multicast ECHO(h, b_i, s_i)
#   upon ECHO(h, b_j, s_j) from node j:             discard it unless b_j proves s_j is leaf j of h
#   upon valid ECHO(h, ·, ·) from N − f nodes:      interpolate {s'_j} from any N − 2f leaves,
#                                                   recompute the root h'; if h' ≠ h abort;
#                                                   else multicast READY(h) (once)
#   upon f + 1 READY(h):                            multicast READY(h) (once)
#   upon 2f + 1 READY(h):                           wait for N − 2f ECHO(h), decode v (output)
#
# The coding is abstract but faithful. A dispersal (:class:`Dispersal`) is a root h naming an
# assignment of blocks to indices: block j is either "the j-th block of the encoding of value v"
# (written v) or a block of no encoding of the alphabet (JUNK). The Merkle root binds the blocks:
# a valid ECHO from node j under h carries h's block j and nothing else (a wrong block fails the
# branch check and is refused: in the spec it is simply not a message; the impl model feeds such
# blocks to the nodes and checks they are refused). Decoding k = N − 2f blocks (:func:`interpolate`)
# gives v when they are all blocks of v, and otherwise a garbage value named after the blocks used
# (what Reed–Solomon interpolation of those k blocks gives); the re-encoding of a decoded value
# agrees with h's blocks exactly where they are blocks of it, a garbage value's re-encoding exactly
# at the k positions it was decoded from (an MDS code: two codewords that agree on k positions are
# equal). Hence a dispersal passes the root check iff it is *consistent* (every block one value's),
# whichever k blocks were decoded; mutants that check less than the root see the difference.
#
# Departures from Figure 2, both the reference code's and :func:`impl.rbc.avid_step`'s:
#   * output (deliver or abort) ends the instance: a node that finished takes no further step;
#     a node sends READY before it outputs (Deliver/AbortOnReady need READY sent, which f+1 READY
#     always allow: 2f+1 ≥ f+1), so ending loses no READY another node needs;
#   * the abort of "upon N − f ECHO" is checked while READY(h) is not yet sent (a node that sent
#     READY checks the same blocks again at output, with the same verdict);
#   * "any N − 2f leaves": the rule may decode from any of the visible ECHOs; the impl decodes the
#     N − 2f of lowest index it holds (one of those choices).

JUNK = "*"
ABORT = "abort"


@attrs.frozen(order=True)
class Dispersal:
    """A root h and the block it commits to at each index (a value's block, or JUNK)."""

    root: str
    blocks: tuple[Value, ...]

    @property
    def consistent(self) -> bool:
        """All blocks are blocks of one value's encoding: the root check passes."""
        return len(set(self.blocks)) == 1 and self.blocks[0] != JUNK

    @property
    def value(self) -> Value | None:
        return self.blocks[0] if self.consistent else None


def consistent_dispersal(root: str, value: Value, n: int) -> Dispersal:
    """What a correct sender disperses: the n blocks of ``value``'s encoding."""
    return Dispersal(root, (value,) * n)


@attrs.frozen
class AvidParams:
    """n nodes, the sender, the Byzantine nodes, the dispersals of the alphabet (roots a Byzantine
    node may send, echo or ready), and the correct sender's dispersal (``input`` names its root;
    it is ignored when the sender is Byzantine)."""

    n: int
    f: int
    sender: int
    byzantine: tuple[int, ...]
    dispersals: tuple[Dispersal, ...]
    input: str

    @property
    def correct(self) -> tuple[int, ...]:
        return tuple(i for i in range(self.n) if i not in self.byzantine)

    @property
    def sender_correct(self) -> bool:
        return self.sender not in self.byzantine

    @property
    def k(self) -> int:
        """Blocks needed to decode: N − 2f (HB Fig. 2)."""
        return self.n - 2 * self.f

    def dispersal(self, root: str) -> Dispersal:
        return next(d for d in self.dispersals if d.root == root)


@attrs.frozen
class AvidRules:
    """Thresholds and switches; :data:`AVID_RULES` is Figure 2's."""

    echo_threshold: Callable[[int, int], int] = lambda n, f: n - f  # "N − f" valid ECHOs
    amplify: bool = True  # READY on f+1 READYs
    deliver_echoes: Callable[[int, int], int] = lambda n, f: n - 2 * f  # "wait for N − 2f ECHO"
    check: str = "root"  # re-encode and compare with: "root" h, "received" blocks only, "none"
    check_val_sender: bool = True  # ECHO only the VAL of the sender


AVID_RULES = AvidRules()


@attrs.frozen(cache_hash=True, order=True)
class AvidMessage:
    """VAL(h, b_to, s_to) from the sender to ``to``; ECHO(h, b_s, s_s) or READY(h) from
    ``sender`` to all (``to`` = -1). An ECHO's block is h's block ``sender`` (the branch check)."""

    kind: str
    sender: int
    root: str
    to: int = -1


@attrs.frozen(cache_hash=True)
class AvidProcess:
    """The variables of one correct node: the roots it echoed and readied, its output."""

    # identity (constant)
    id: int
    # the once-only sends of the protocol
    echoed: str | None
    readied: str | None
    # the output (at most one of them; either ends the instance)
    delivered: Value | None
    aborted: bool

    @property
    def finished(self) -> bool:
        return self.delivered is not None or self.aborted


@attrs.frozen(cache_hash=True)
class AvidState:
    # correct nodes, in the order of AvidParams.correct
    processes: tuple[AvidProcess, ...]
    # every message a correct node sent, sorted; never removed
    pool: tuple[AvidMessage, ...]


def avid_initial_state(params: AvidParams) -> AvidState:
    return AvidState(tuple(AvidProcess(p, None, None, None, False) for p in params.correct), ())


def avid_alphabet(params: AvidParams) -> tuple[AvidMessage, ...]:
    """Every message a Byzantine node may send: a Byzantine sender's VAL of every root to every
    correct node (so different roots to different nodes), ECHO (its own, valid block) and READY
    of every root from every Byzantine node, and a Byzantine non-sender's forged VALs."""
    out: list[AvidMessage] = []
    for b in params.byzantine:
        for d in params.dispersals:
            out += [AvidMessage(VAL, b, d.root, to) for to in params.correct]
            out += [AvidMessage(ECHO, b, d.root), AvidMessage(READY, b, d.root)]
    return tuple(sorted(out))


def interpolate(d: Dispersal, used: tuple[int, ...]) -> tuple[Value, frozenset[int]]:
    """The value the k blocks ``used`` of ``d`` decode to, and the indices where its re-encoding
    agrees with ``d``'s blocks: a value's blocks where d has them; for garbage, ``used`` only."""
    labels = {d.blocks[j] for j in used}
    if len(labels) == 1 and JUNK not in labels:
        (v,) = labels
        return v, frozenset(j for j, b in enumerate(d.blocks) if b == v)
    return f"?{d.root}{''.join(map(str, used))}", frozenset(used)


class AvidContext:
    """Params, rules and the alphabet, with the tallies of a pool memoized."""

    def __init__(self, params: AvidParams, rules: AvidRules = AVID_RULES) -> None:
        self.params = params
        self.rules = rules
        self.alphabet = avid_alphabet(params)
        n, f = params.n, params.f
        self.echo_quorum = rules.echo_threshold(n, f)
        self.amplify_quorum = f + 1
        self.deliver_quorum = 2 * f + 1
        self.deliver_echoes = rules.deliver_echoes(n, f)
        self._tallies: dict[tuple[tuple[AvidMessage, ...], bool], Any] = {}
        self._outcomes: dict[tuple[str, frozenset[int], int], tuple[Value, ...]] = {}

    def tally(
        self, pool: tuple[AvidMessage, ...], byzantine: bool = True
    ) -> tuple[dict[str, frozenset[int]], dict[str, int], dict[int, tuple[str, ...]]]:
        """root -> the ECHO senders; root -> the number of READY senders; node -> the roots of
        the VALs it may echo; over the pool (and the alphabet)."""
        key = (pool, byzantine)
        found = self._tallies.get(key)
        if found is None:
            if len(self._tallies) > 100_000:
                self._tallies.clear()
            echoes: dict[str, set[int]] = {}
            readies: dict[str, set[int]] = {}
            vals: dict[int, set[str]] = {}
            for m in (*pool, *self.alphabet) if byzantine else pool:
                if m.kind == ECHO:
                    echoes.setdefault(m.root, set()).add(m.sender)
                elif m.kind == READY:
                    readies.setdefault(m.root, set()).add(m.sender)
                elif m.sender == self.params.sender or not self.rules.check_val_sender:
                    vals.setdefault(m.to, set()).add(m.root)
            found = (
                {r: frozenset(s) for r, s in echoes.items()},
                {r: len(s) for r, s in readies.items()},
                {p: tuple(sorted(r)) for p, r in vals.items()},
            )
            self._tallies[key] = found
        return found

    def outcomes(self, root: str, senders: frozenset[int], size: int) -> tuple[Value, ...]:
        """The outputs (a value or ABORT) of decoding and checking ``root`` from any ``size`` of
        the ECHOs of ``senders``: decode the k of lowest index, re-encode, compare (Fig. 2)."""
        key = (root, senders, size)
        found = self._outcomes.get(key)
        if found is None:
            d = self.params.dispersal(root)
            k = self.params.k
            out: set[Value] = set()
            for chosen in itertools.combinations(sorted(senders), size):
                value, agree = interpolate(d, chosen[:k])
                checked = {
                    "root": range(self.params.n),
                    "received": chosen,
                    "none": (),
                }[self.rules.check]
                out.add(value if all(j in agree for j in checked) else ABORT)
            found = self._outcomes[key] = tuple(sorted(out))
        return found


@attrs.frozen
class Disperse:
    """HB Fig. 2 "upon input(v)": the correct sender sends VAL(h, b_j, s_j) to every node j."""

    root: str


@attrs.frozen
class AvidEcho:
    """HB Fig. 2 "upon receiving VAL(h, b_i, s_i) from P_Sender": multicast ECHO(h, b_i, s_i)."""

    process: int
    root: str


@attrs.frozen
class AvidReadyOnEcho:
    """HB Fig. 2 "upon N − f valid ECHO(h)": the interpolated blocks re-encode to h: READY(h)."""

    process: int
    root: str


@attrs.frozen
class AvidAbortOnEcho:
    """HB Fig. 2 "upon N − f valid ECHO(h)": the re-encoding's root h' ≠ h: abort."""

    process: int
    root: str


@attrs.frozen
class AvidReadyOnReady:
    """HB Fig. 2 "upon f + 1 matching READY(h)": READY(h) (amplification)."""

    process: int
    root: str


@attrs.frozen
class AvidDeliver:
    """HB Fig. 2 "upon 2f + 1 READY(h), wait for N − 2f ECHO(h), decode v": output ``value``."""

    process: int
    root: str
    value: Value


@attrs.frozen
class AvidAbortOnReady:
    """HB Fig. 2 at output: the decoded blocks do not re-encode to h: abort."""

    process: int
    root: str


AvidAction = (
    Disperse
    | AvidEcho
    | AvidReadyOnEcho
    | AvidAbortOnEcho
    | AvidReadyOnReady
    | AvidDeliver
    | AvidAbortOnReady
)


def avid_enabled_actions(
    ctx: AvidContext, state: AvidState, byzantine: bool = True
) -> Iterator[AvidAction]:
    """Every enabled action, in a fixed order; ``byzantine=False`` reads the pool only."""
    params = ctx.params
    if params.sender_correct and not any(m.kind == VAL for m in state.pool):
        yield Disperse(params.input)
    echoes, readies, vals = ctx.tally(state.pool, byzantine)
    roots = [d.root for d in params.dispersals]
    for proc in state.processes:
        p = proc.id
        if proc.finished:
            continue
        if proc.echoed is None:
            for h in vals.get(p, ()):
                yield AvidEcho(p, h)
        if proc.readied is None:
            for h in roots:
                senders = echoes.get(h, frozenset())
                if len(senders) >= ctx.echo_quorum:
                    outs = ctx.outcomes(h, senders, ctx.echo_quorum)
                    if any(o != ABORT for o in outs):
                        yield AvidReadyOnEcho(p, h)
                    if ABORT in outs:
                        yield AvidAbortOnEcho(p, h)
                if ctx.rules.amplify and readies.get(h, 0) >= ctx.amplify_quorum:
                    yield AvidReadyOnReady(p, h)
        else:
            for h in roots:
                senders = echoes.get(h, frozenset())
                if readies.get(h, 0) < ctx.deliver_quorum or len(senders) < ctx.deliver_echoes:
                    continue
                finals: set[Value] = set()
                for size in range(max(ctx.deliver_echoes, params.k), len(senders) + 1):
                    finals.update(ctx.outcomes(h, senders, size))
                for o in sorted(finals):
                    yield AvidAbortOnReady(p, h) if o == ABORT else AvidDeliver(p, h, o)


def _avid_send(pool: tuple[AvidMessage, ...], ms: list[AvidMessage]) -> tuple[AvidMessage, ...]:
    new = [m for m in ms if m not in pool]
    return tuple(sorted((*pool, *new))) if new else pool


def avid_apply(ctx: AvidContext, state: AvidState, action: AvidAction) -> AvidState:
    """The effect of an enabled ``action``."""
    params = ctx.params
    if isinstance(action, Disperse):
        sends = [AvidMessage(VAL, params.sender, action.root, to) for to in range(params.n)]
        return attrs.evolve(state, pool=_avid_send(state.pool, sends))
    i = params.correct.index(action.process)
    proc = state.processes[i]
    pool = state.pool
    h = action.root
    if isinstance(action, AvidEcho):
        proc = attrs.evolve(proc, echoed=h)
        pool = _avid_send(pool, [AvidMessage(ECHO, proc.id, h)])
    elif isinstance(action, AvidReadyOnEcho | AvidReadyOnReady):
        proc = attrs.evolve(proc, readied=h)
        pool = _avid_send(pool, [AvidMessage(READY, proc.id, h)])
    elif isinstance(action, AvidDeliver):
        proc = attrs.evolve(proc, delivered=action.value)
    else:
        proc = attrs.evolve(proc, aborted=True)
    return AvidState(replace_at(state.processes, i, proc), pool)


def avid_quiescent(ctx: AvidContext, state: AvidState) -> bool:
    """The end of a fair run: no rule is enabled by the correct nodes' messages alone."""
    return next(avid_enabled_actions(ctx, state, byzantine=False), None) is None


# -- Invariants of the erasure-coded variant -------------------------------------------------------


def _avid_delivered(state: AvidState) -> set[Value]:
    return {p.delivered for p in state.processes if p.delivered is not None}


def _input_value(ctx: AvidContext) -> Value | None:
    return ctx.params.dispersal(ctx.params.input).value


def avid_agreement(ctx: AvidContext, state: AvidState) -> bool:
    """No two correct nodes deliver different values (HB section 4.2, RBC "agreement")."""
    return len(_avid_delivered(state)) <= 1


def avid_outcome_agreement(ctx: AvidContext, state: AvidState) -> bool:
    """The correct nodes that finished all delivered (one value) or all aborted: no dispersal is
    delivered by one correct node and aborted by another (the point of Fig. 2's re-encoding)."""
    return not (_avid_delivered(state) and any(p.aborted for p in state.processes))


def avid_validity(ctx: AvidContext, state: AvidState) -> bool:
    """With a correct sender, a correct node outputs only the sender's value (no abort)."""
    if not ctx.params.sender_correct:
        return True
    v = _input_value(ctx)
    return all(p.delivered in (None, v) and not p.aborted for p in state.processes)


def avid_ready_agreement(ctx: AvidContext, state: AvidState) -> bool:
    """No two correct nodes send READY for different roots (the lemma behind agreement)."""
    return len({p.readied for p in state.processes if p.readied is not None}) <= 1


def avid_validity_liveness(ctx: AvidContext, state: AvidState) -> bool:
    """Bounded liveness: a fair run with a correct sender ends with every correct node
    delivering its value (HB section 4.2, RBC "validity")."""
    if not ctx.params.sender_correct or not avid_quiescent(ctx, state):
        return True
    return all(p.delivered == _input_value(ctx) for p in state.processes)


def avid_totality(ctx: AvidContext, state: AvidState) -> bool:
    """Bounded liveness: a fair run in which a correct node delivers ends with every correct
    node delivering (HB section 4.2, RBC "totality"). Abort is not total: a node may never
    gather N − f ECHOs of a root others aborted, and nobody delivers it (ACS votes 0)."""
    if not _avid_delivered(state) or not avid_quiescent(ctx, state):
        return True
    return all(p.delivered is not None for p in state.processes)


AVID_INVARIANTS: tuple[tuple[str, str, Callable[[AvidContext, AvidState], bool]], ...] = (
    ("agreement", "no two correct nodes deliver different values", avid_agreement),
    (
        "outcome_agreement",
        "no dispersal is delivered by one correct node and aborted by another",
        avid_outcome_agreement,
    ),
    ("validity", "with a correct sender only its value is output", avid_validity),
    (
        "ready_agreement",
        "no two correct nodes send READY for different roots",
        avid_ready_agreement,
    ),
    (
        "validity_liveness",
        "a fair run with a correct sender ends with every correct node delivering its value",
        avid_validity_liveness,
    ),
    (
        "totality",
        "a fair run in which one correct node delivers ends with every correct node delivering",
        avid_totality,
    ),
)


def avid_value_delivered(ctx: AvidContext, state: AvidState) -> bool:
    return bool(_avid_delivered(state))


def avid_all_delivered(ctx: AvidContext, state: AvidState) -> bool:
    return all(p.delivered is not None for p in state.processes)


def avid_fair_run_ended(ctx: AvidContext, state: AvidState) -> bool:
    """A fair run's end state with a delivery (the liveness invariants are not vacuous)."""
    return bool(_avid_delivered(state)) and avid_quiescent(ctx, state)


def avid_aborted(ctx: AvidContext, state: AvidState) -> bool:
    """A correct node aborted (an inconsistent dispersal caught by the re-encoding)."""
    return any(p.aborted for p in state.processes)


def avid_all_aborted_at_end(ctx: AvidContext, state: AvidState) -> bool:
    """A fair run ends with every correct node aborting."""
    return all(p.aborted for p in state.processes) and avid_quiescent(ctx, state)


def avid_echoes_split(ctx: AvidContext, state: AvidState) -> bool:
    """Correct nodes echoed different roots: the sender sent different roots to different nodes."""
    return len({p.echoed for p in state.processes if p.echoed is not None}) > 1


AVID_REACHABLES: tuple[tuple[str, str, Callable[[AvidContext, AvidState], bool]], ...] = (
    ("value_delivered", "a correct node delivers", avid_value_delivered),
    ("all_delivered", "every correct node delivers", avid_all_delivered),
    ("fair_run_ended", "a fair run ends after a delivery", avid_fair_run_ended),
)
AVID_BYZANTINE_SENDER_REACHABLES: tuple[
    tuple[str, str, Callable[[AvidContext, AvidState], bool]], ...
] = (
    ("aborted", "a correct node aborts an inconsistent dispersal", avid_aborted),
    (
        "all_aborted_at_end",
        "a fair run ends with every correct node aborting",
        avid_all_aborted_at_end,
    ),
    ("echoes_split", "correct nodes echo different roots of a Byzantine sender", avid_echoes_split),
)


def avid_properties(
    ctx: AvidContext, project: Callable[[Any], AvidState] | None = None
) -> tuple[tuple[Invariant[Any], ...], tuple[Reachable[Any], ...]]:
    """The registries, read through ``project`` (state of the model -> :class:`AvidState`)."""
    proj = project or (lambda s: s)

    def inv(f: Callable[[AvidContext, AvidState], bool]) -> Callable[[Any], bool]:
        return lambda s: f(ctx, proj(s))

    invariants = tuple(Invariant(n, d, inv(f)) for n, d, f in AVID_INVARIANTS)
    wanted = AVID_REACHABLES + (
        () if ctx.params.sender_correct else AVID_BYZANTINE_SENDER_REACHABLES
    )
    return invariants, tuple(Reachable(n, d, inv(f)) for n, d, f in wanted)
