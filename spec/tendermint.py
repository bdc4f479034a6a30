"""Tendermint BFT consensus: the executable specification of Algorithm 1.

Source
    Buchman, Kwon, Milosevic, "The latest gossip on BFT consensus", arXiv:1807.04938 (2018),
    Algorithm 1 ("Tendermint consensus algorithm"); every action below cites its lines. The
    state variables and the shape of the model follow the community TLA+ specification
    TendermintAcc (Informal Systems, in CometBFT's ``spec/``) and its Quint port: per correct
    process ``round, step, decision, lockedValue, lockedRound, validValue, validRound``; ONE
    global pool of the messages correct processes sent (a receiver's rule reads the pool, it
    keeps no inbox); Byzantine messages as a FIXED alphabet that every rule may read at any
    time (it is not state, so it costs no states).

Departures from the original design notes
    The notes' "TendermintLite" had no lock rules; they are unsafe (mutant ``no-lock`` in
    :mod:`mnemosyne_consensus.model_checks.tendermint` yields a disagreement). This spec follows
    the paper: lines 22-33 (prevote only the locked value unless a newer polka), 36-43 (lock and
    valid value), and the proposer re-proposing ``validValue`` (lines 15-16).

Modelling choices (each one is the TLA+ spec's too)
    * Thresholds are in voting power: the paper's "2f + 1" is *more than two thirds* of the total
      power and "f + 1" *more than one third* (paper, section 2). Counting is over distinct
      senders, so an equivocator counts once per value it voted for.
    * ``proposer(h, r) = (h + r) mod n``: a deterministic round robin (the paper only requires a
      deterministic function; CometBFT weights it by power, which changes no safety argument).
    * ``getValue()`` (line 18) is a nondeterministic choice among the valid values, made by the
      separate action :class:`Propose` (lines 14-19), so that StartRound (lines 11-13, 20-21) is a
      plain function that every rule calling it can share (TendermintAcc's ``InsertProposal``).
    * Timeouts are events that may fire at any time once scheduled, which is the asynchronous
      model (timeouts matter for liveness only). A timeout is scheduled by a rule whose
      condition only grows with the pool (lines 21, 34, 47), so "scheduled in this round" is
      "the condition holds now in this round and step": each "schedule" rule is merged with its
      handler into one action, e.g. :class:`TimeoutPrevote` is lines 34-35 with 61-64.
    * "For the first time" (line 36) is "validRound < round": the rule sets validRound to the
      current round, and nothing else does.
    * Heights are bounded (``heights``); a process that decided the last height halts there.
      Rounds are bounded (``max_round``, ``later_max_round``): rules that would start a later
      round are disabled.
    * Deciding (lines 49-54) records ``decision[h]`` with the round of the deciding precommits,
      so that "a decision in a round > 0" can be asked.

State (grouped by role, see :class:`Process` and :class:`SystemState`)
Actions (one per rule of Algorithm 1, see the classes below)
Properties: :data:`INVARIANTS`, :data:`STEP_PROPERTIES` (the lock rules as transitions) and
:data:`REACHABLES`, instantiated by :func:`properties`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from .properties import Invariant, Reachable, StepProperty

Value = str  # a proposed value; nil is None
NIL = None
Vote = Value | None


class Step(enum.IntEnum):
    """step_p (Alg. 1 line 4), ordered as the paper's ``step_p >= prevote`` (line 36) needs."""

    PROPOSE = 0
    PREVOTE = 1
    PRECOMMIT = 2


class Kind(enum.Enum):
    PROPOSAL = "proposal"
    PREVOTE = "prevote"
    PRECOMMIT = "precommit"


# -- Parameters and rules ------------------------------------------------------------------------


@attrs.frozen
class Params:
    """A configuration: validators with their power, who is Byzantine, values and bounds."""

    powers: tuple[int, ...]  # voting power of validator i
    byzantine: tuple[int, ...]  # ids of the faulty validators (the rest follow Algorithm 1)
    values: tuple[Value, ...]  # the values valid() accepts (line 23); getValue() picks one
    max_round: int  # rounds 0..max_round at height 0
    heights: int = 1  # heights 0..heights-1
    invalid_values: tuple[Value, ...] = ()  # values valid() rejects; only the faulty propose them
    # the Byzantine alphabet: "equivocate" (every message a faulty validator may sign) or
    # "amnesia" (one vote per round and type, for values[r mod len(values)]: no equivocation)
    alphabet: str = "equivocate"
    # rounds 0..later_max_round at heights >= 1 (None: max_round), to bound a second height
    later_max_round: int | None = None

    @property
    def n(self) -> int:
        return len(self.powers)

    @property
    def total(self) -> int:
        return sum(self.powers)

    @property
    def correct(self) -> tuple[int, ...]:
        return tuple(i for i in range(self.n) if i not in self.byzantine)

    def top_round(self, height: int) -> int:
        """The last round explored at ``height``."""
        if height == 0 or self.later_max_round is None:
            return self.max_round
        return self.later_max_round

    def rounds(self, height: int) -> range:
        return range(self.top_round(height) + 1)


@attrs.frozen
class Rules:
    """Switches of Algorithm 1 that the model's mutants flip; :data:`SPEC_RULES` is the paper."""

    respect_lock: bool = True  # lines 23 and 29 test lockedRound / lockedValue
    polka_to_unlock: bool = True  # line 28 needs 2f+1 prevotes for id(v) in round vr
    strict_quorum: bool = True  # "2f + 1" is > 2/3 of the power (False: >= 2/3)
    repropose_valid_value: bool = True  # lines 15-16 propose validValue when there is one
    check_valid: bool = True  # valid(v) of lines 23, 29, 36, 50
    polka_for_value: bool = True  # line 36 counts prevotes for id(v) (False: for anything)
    keep_lock_across_rounds: bool = True  # StartRound keeps the lock (False: resets it)
    lock_on_prevote: bool = False  # mutant: lines 22-27 lock the value they prevote
    valid_on_proposal: bool = False  # mutant: lines 22-27 set validValue without a polka


SPEC_RULES = Rules()


def proposer(params: Params, height: int, round_: int) -> int:
    """proposer(h, r) (Alg. 1 lines 14, 22): deterministic round robin."""
    return (height + round_) % params.n


def is_quorum(params: Params, rules: Rules, power: int) -> bool:
    """ "2f + 1": more than two thirds of the total voting power."""
    if rules.strict_quorum:
        return 3 * power > 2 * params.total
    return 3 * power >= 2 * params.total


def is_one_third(params: Params, power: int) -> bool:
    """ "f + 1": more than one third of the total voting power (line 55)."""
    return 3 * power > params.total


def power_of(params: Params, senders: frozenset[int]) -> int:
    return sum(params.powers[i] for i in senders)


def is_valid(params: Params, rules: Rules, value: Value) -> bool:
    """valid(v) (line 23): the application's validity predicate."""
    return value in params.values or not rules.check_valid


# -- State ---------------------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class Message:
    """⟨PROPOSAL, h, r, v, vr⟩, ⟨PREVOTE, h, r, id(v)|nil⟩ or ⟨PRECOMMIT, h, r, id(v)|nil⟩.

    ``id(v)`` is ``v`` itself here (the spec does not hash); ``valid_round`` is -1 for votes.
    """

    kind: Kind
    height: int
    round: int
    sender: int
    value: Vote
    valid_round: int = -1


def message_key(m: Message) -> tuple[int, int, str, int, str, int]:
    """The canonical order of messages in the pool (nil sorts first)."""
    return (m.height, m.round, m.kind.value, m.sender, m.value or "", m.valid_round)


@attrs.frozen(cache_hash=True)
class Decision:
    value: Value
    round: int  # the round of the 2f+1 precommits that decided it


@attrs.frozen(cache_hash=True)
class Process:
    """The variables of one correct process (Alg. 1 lines 1-9)."""

    # identity: the validator id p (a constant)
    id: int
    # position: height h_p, round_p, step_p
    height: int
    round: int
    step: Step
    # decision_p[h] for every height, None until decided
    decisions: tuple[Decision | None, ...]
    # the lock: the value precommitted in lockedRound (lines 38-39)
    locked_value: Value | None
    locked_round: int
    # the latest polka seen in a current round (lines 42-43), re-proposed by lines 15-16
    valid_value: Value | None
    valid_round: int


@attrs.frozen(cache_hash=True)
class SystemState:
    # correct processes, in the order of Params.correct
    processes: tuple[Process, ...]
    # every message a correct process broadcast, in message_key order; never removed
    pool: tuple[Message, ...]


def new_process(params: Params, p: int) -> Process:
    """Lines 1-10: height 0, then ``upon start do StartRound(0)``."""
    return Process(p, 0, 0, Step.PROPOSE, (None,) * params.heights, None, -1, None, -1)


def initial_state(params: Params) -> SystemState:
    return SystemState(tuple(new_process(params, p) for p in params.correct), ())


# -- The Byzantine alphabet ----------------------------------------------------------------------


def byzantine_alphabet(params: Params) -> tuple[Message, ...]:
    """The fixed set of messages the faulty validators sent, readable by every rule at any time.

    "equivocate": every vote for every value, nil and every invalid value, and every proposal
    the validator could sign as proposer (any value, any vr < r): maximal equivocation.
    "amnesia": in round r one prevote and one precommit for ``values[r mod len]`` and, as
    proposer, that value with vr = -1: never two messages of one type and round, but votes
    that forget an earlier precommit.
    """
    out: list[Message] = []
    everything: tuple[Vote, ...] = (*params.values, *params.invalid_values, None)
    for b in params.byzantine:
        for h in range(params.heights):
            for r in params.rounds(h):
                mine = proposer(params, h, r) == b
                if params.alphabet == "amnesia":
                    v = params.values[r % len(params.values)]
                    out += [Message(Kind.PREVOTE, h, r, b, v), Message(Kind.PRECOMMIT, h, r, b, v)]
                    if mine:
                        out.append(Message(Kind.PROPOSAL, h, r, b, v, -1))
                    continue
                for vote in everything:
                    out.append(Message(Kind.PREVOTE, h, r, b, vote))
                    out.append(Message(Kind.PRECOMMIT, h, r, b, vote))
                if mine:
                    for v in (*params.values, *params.invalid_values):
                        for vr in range(-1, r):
                            out.append(Message(Kind.PROPOSAL, h, r, b, v, vr))
    return tuple(sorted(out, key=message_key))


class Tally:
    """What the visible messages (pool and alphabet) of one height say, round by round."""

    __slots__ = ("precommits", "precommitters", "prevoters", "prevotes", "proposals", "senders")

    def __init__(self, params: Params, height: int, messages: tuple[Message, ...]) -> None:
        # round -> {(v, vr)} proposed by proposer(h, r)
        self.proposals: dict[int, set[tuple[Value, int]]] = {}
        # (round, vote) -> senders of that prevote / precommit
        self.prevotes: dict[tuple[int, Vote], set[int]] = {}
        self.precommits: dict[tuple[int, Vote], set[int]] = {}
        # round -> senders of any prevote / any precommit / any message
        self.prevoters: dict[int, set[int]] = {}
        self.precommitters: dict[int, set[int]] = {}
        self.senders: dict[int, set[int]] = {}
        for m in messages:
            if m.height != height:
                continue
            self.senders.setdefault(m.round, set()).add(m.sender)
            if m.kind is Kind.PROPOSAL:
                if m.sender == proposer(params, height, m.round) and m.value is not None:
                    self.proposals.setdefault(m.round, set()).add((m.value, m.valid_round))
            elif m.kind is Kind.PREVOTE:
                self.prevotes.setdefault((m.round, m.value), set()).add(m.sender)
                self.prevoters.setdefault(m.round, set()).add(m.sender)
            else:
                self.precommits.setdefault((m.round, m.value), set()).add(m.sender)
                self.precommitters.setdefault(m.round, set()).add(m.sender)


class Context:
    """Params, rules and the alphabet, with tallies memoized on (pool, height)."""

    def __init__(self, params: Params, rules: Rules = SPEC_RULES) -> None:
        self.params = params
        self.rules = rules
        self.alphabet = byzantine_alphabet(params)
        self._tallies: dict[tuple[tuple[Message, ...], int], Tally] = {}
        self._convicted: dict[tuple[tuple[Message, ...], int], frozenset[int]] = {}

    def tally(self, pool: tuple[Message, ...], height: int) -> Tally:
        key = (pool, height)
        found = self._tallies.get(key)
        if found is None:
            if len(self._tallies) >= 200_000:
                self._tallies.clear()
            found = self._tallies[key] = Tally(self.params, height, self.alphabet + pool)
        return found

    def convicted(self, pool: tuple[Message, ...], height: int) -> frozenset[int]:
        """:func:`misbehaving` on the alphabet and the pool, memoized on (pool, height)."""
        key = (pool, height)
        found = self._convicted.get(key)
        if found is None:
            if len(self._convicted) >= 200_000:
                self._convicted.clear()
            found = self._convicted[key] = misbehaving(self, self.alphabet + pool, height)
        return found

    def quorum(self, senders: set[int] | None) -> bool:
        if not senders:
            return False
        return is_quorum(self.params, self.rules, sum(self.params.powers[i] for i in senders))

    def polka(self, t: Tally, round_: int, value: Vote) -> bool:
        """2f + 1 ⟨PREVOTE, h, round, id(v)⟩."""
        return self.quorum(t.prevotes.get((round_, value)))

    def valid(self, value: Value) -> bool:
        return is_valid(self.params, self.rules, value)


# -- Actions -------------------------------------------------------------------------------------
# ``process`` is a validator id (a correct one).


@attrs.frozen
class Propose:
    """Lines 14-19: the proposer of (h_p, round_p) broadcasts validValue or getValue()."""

    process: int
    value: Value


@attrs.frozen
class PrevoteOnProposal:
    """Lines 22-27: a proposal with vr = -1, in step propose."""

    process: int
    value: Value


@attrs.frozen
class PrevoteOnPolkaProposal:
    """Lines 28-33: a proposal with 0 <= vr < round_p and a polka for it in round vr."""

    process: int
    value: Value
    valid_round: int


@attrs.frozen
class TimeoutPropose:
    """Lines 21 and 57-60: the proposal did not come in time; prevote nil."""

    process: int


@attrs.frozen
class TimeoutPrevote:
    """Lines 34-35 and 61-64: 2f+1 prevotes of any kind, then the timeout; precommit nil."""

    process: int


@attrs.frozen
class PrecommitOnPolka:
    """Lines 36-43: a proposal and a polka for it in round_p: lock (if in prevote), valid."""

    process: int
    value: Value


@attrs.frozen
class PrecommitNil:
    """Lines 44-46: 2f+1 prevotes for nil in round_p, in step prevote."""

    process: int


@attrs.frozen
class TimeoutPrecommit:
    """Lines 47-48 and 65-67: 2f+1 precommits of any kind, then the timeout; next round."""

    process: int


@attrs.frozen
class Decide:
    """Lines 49-54: a proposal of round r and 2f+1 precommits for it: decide, next height."""

    process: int
    round: int
    value: Value


@attrs.frozen
class RoundSkip:
    """Lines 55-56: f+1 messages of a higher round: StartRound(round)."""

    process: int
    round: int


Action = (
    Propose
    | PrevoteOnProposal
    | PrevoteOnPolkaProposal
    | TimeoutPropose
    | TimeoutPrevote
    | PrecommitOnPolka
    | PrecommitNil
    | TimeoutPrecommit
    | Decide
    | RoundSkip
)


# -- Enabling conditions -------------------------------------------------------------------------


def _index(ctx: Context, process: int) -> int:
    return ctx.params.correct.index(process)


def _has_proposed(state: SystemState, p: int, height: int, round_: int) -> bool:
    return any(
        m.kind is Kind.PROPOSAL and m.sender == p and m.height == height and m.round == round_
        for m in state.pool
    )


def enabled_actions(ctx: Context, state: SystemState) -> Iterator[Action]:
    """Every action enabled in ``state``, process by process, in a fixed order."""
    params, rules = ctx.params, ctx.rules
    for p, proc in zip(params.correct, state.processes, strict=True):
        h, r, step = proc.height, proc.round, proc.step
        if h >= params.heights:
            continue  # halted after the last height
        t = ctx.tally(state.pool, h)
        proposals = t.proposals.get(r, ())
        if step is Step.PROPOSE:
            if proposer(params, h, r) == p:
                # lines 14-19
                if not _has_proposed(state, p, h, r):
                    if proc.valid_value is not None and rules.repropose_valid_value:
                        yield Propose(p, proc.valid_value)
                    else:
                        for v in params.values:
                            yield Propose(p, v)
            else:
                # lines 21, 57-60
                yield TimeoutPropose(p)
            for v, vr in sorted(proposals):
                if vr == -1:
                    # lines 22-27
                    yield PrevoteOnProposal(p, v)
                elif 0 <= vr < r and (not rules.polka_to_unlock or ctx.polka(t, vr, v)):
                    # lines 28-33
                    yield PrevoteOnPolkaProposal(p, v, vr)
        if step is Step.PREVOTE:
            if ctx.quorum(t.prevoters.get(r)):
                yield TimeoutPrevote(p)  # lines 34-35, 61-64
            if ctx.polka(t, r, None):
                yield PrecommitNil(p)  # lines 44-46
        if step >= Step.PREVOTE and proc.valid_round < r:
            # lines 36-43, "for the first time" in this round
            for v in sorted({v for v, _ in proposals}):
                if rules.polka_for_value:
                    polka = ctx.polka(t, r, v)
                else:
                    polka = ctx.quorum(t.prevoters.get(r))
                if polka and ctx.valid(v):
                    yield PrecommitOnPolka(p, v)
        if r < params.top_round(h) and ctx.quorum(t.precommitters.get(r)):
            yield TimeoutPrecommit(p)  # lines 47-48, 65-67
        for rr in params.rounds(h):
            # lines 49-54 (decision_p[h_p] is nil: a process moves on once it decides)
            for v in sorted({v for v, _ in t.proposals.get(rr, ())}):
                if ctx.quorum(t.precommits.get((rr, v))) and ctx.valid(v):
                    yield Decide(p, rr, v)
        for rr in range(r + 1, params.top_round(h) + 1):
            # lines 55-56
            senders = t.senders.get(rr)
            if senders and is_one_third(params, sum(params.powers[i] for i in senders)):
                yield RoundSkip(p, rr)


# -- Effects -------------------------------------------------------------------------------------


def _broadcast(pool: tuple[Message, ...], message: Message) -> tuple[Message, ...]:
    if message in pool:
        return pool
    return tuple(sorted((*pool, message), key=message_key))


def start_round(ctx: Context, proc: Process, round_: int) -> Process:
    """StartRound (lines 11-13, 20-21): the proposal itself is :class:`Propose`."""
    proc = attrs.evolve(proc, round=round_, step=Step.PROPOSE)
    if not ctx.rules.keep_lock_across_rounds:
        proc = attrs.evolve(proc, locked_value=None, locked_round=-1)
    return proc


def _prevote_value(ctx: Context, proc: Process, v: Value, unlocked: bool) -> Vote:
    """Lines 23-26 / 29-32: id(v) if valid and the lock allows it, else nil."""
    if ctx.valid(v) and (unlocked or proc.locked_value == v or not ctx.rules.respect_lock):
        return v
    return None


def apply(ctx: Context, state: SystemState, action: Action) -> SystemState:
    """The effect of an enabled ``action`` (see :func:`enabled_actions`)."""
    params = ctx.params
    i = _index(ctx, action.process)
    proc = state.processes[i]
    h, r, p = proc.height, proc.round, action.process
    pool = state.pool
    if isinstance(action, Propose):
        vr = proc.valid_round
        pool = _broadcast(pool, Message(Kind.PROPOSAL, h, r, p, action.value, vr))
    elif isinstance(action, PrevoteOnProposal | PrevoteOnPolkaProposal):
        if isinstance(action, PrevoteOnProposal):
            unlocked = proc.locked_round == -1  # line 23
        else:
            unlocked = proc.locked_round <= action.valid_round  # line 29
        vote = _prevote_value(ctx, proc, action.value, unlocked)
        pool = _broadcast(pool, Message(Kind.PREVOTE, h, r, p, vote))
        proc = attrs.evolve(proc, step=Step.PREVOTE)
        if vote is not None and ctx.rules.lock_on_prevote:
            proc = attrs.evolve(proc, locked_value=vote, locked_round=r)
        if ctx.rules.valid_on_proposal:
            proc = attrs.evolve(proc, valid_value=action.value, valid_round=r)
    elif isinstance(action, TimeoutPropose):
        pool = _broadcast(pool, Message(Kind.PREVOTE, h, r, p, None))  # line 59
        proc = attrs.evolve(proc, step=Step.PREVOTE)
    elif isinstance(action, TimeoutPrevote | PrecommitNil):
        pool = _broadcast(pool, Message(Kind.PRECOMMIT, h, r, p, None))  # lines 45, 63
        proc = attrs.evolve(proc, step=Step.PRECOMMIT)
    elif isinstance(action, PrecommitOnPolka):
        v = action.value
        if proc.step is Step.PREVOTE:  # lines 37-41
            proc = attrs.evolve(proc, locked_value=v, locked_round=r, step=Step.PRECOMMIT)
            pool = _broadcast(pool, Message(Kind.PRECOMMIT, h, r, p, v))
        proc = attrs.evolve(proc, valid_value=v, valid_round=r)  # lines 42-43
    elif isinstance(action, TimeoutPrecommit):
        proc = start_round(ctx, proc, r + 1)  # line 67
    elif isinstance(action, Decide):
        decisions = tuple(
            Decision(action.value, action.round) if k == h else d
            for k, d in enumerate(proc.decisions)
        )
        # lines 51-54: decide, next height, reset the locks, StartRound(0)
        proc = Process(p, h + 1, 0, Step.PROPOSE, decisions, None, -1, None, -1)
        if h + 1 < params.heights:
            proc = start_round(ctx, proc, 0)
    elif isinstance(action, RoundSkip):
        proc = start_round(ctx, proc, action.round)  # line 56
    processes = tuple(proc if k == i else q for k, q in enumerate(state.processes))
    return SystemState(processes, pool)


# -- Accountability: what the messages prove about their senders ---------------------------------


def misbehaving(ctx: Context, messages: tuple[Message, ...], height: int) -> frozenset[int]:
    """Validators the messages of ``height`` prove faulty (TendermintAcc's notion):

    * equivocation -- two different messages of one type in one round;
    * amnesia -- a precommit for v in round r and a prevote for v' (not nil, not v) in a later
      round r' with no polka for v' in any round r'' with r <= r'' < r' (no correct process
      prevotes against its lock without such a polka, lines 23 and 29).
    """
    own = [m for m in messages if m.height == height]
    t = Tally(ctx.params, height, tuple(own))
    seen: dict[tuple[int, Kind, int], Message] = {}
    faulty: set[int] = set()
    for m in own:
        key = (m.sender, m.kind, m.round)
        if key in seen and seen[key] != m:
            faulty.add(m.sender)
        seen.setdefault(key, m)
    for pc in own:
        if pc.kind is not Kind.PRECOMMIT or pc.value is None:
            continue
        for pv in own:
            if (
                pv.kind is Kind.PREVOTE
                and pv.sender == pc.sender
                and pv.round > pc.round
                and pv.value is not None
                and pv.value != pc.value
                and not any(ctx.polka(t, rr, pv.value) for rr in range(pc.round, pv.round))
            ):
                faulty.add(pc.sender)
    return frozenset(faulty)


# -- Invariants ----------------------------------------------------------------------------------


def _decided(state: SystemState, height: int) -> set[Value]:
    return {d.value for proc in state.processes if (d := proc.decisions[height]) is not None}


def agreement(ctx: Context, state: SystemState) -> bool:
    """No two correct processes decide differently at one height (paper, section 3)."""
    return all(len(_decided(state, h)) <= 1 for h in range(ctx.params.heights))


def validity(ctx: Context, state: SystemState) -> bool:
    """A correct process decides only a valid value that was proposed at that height."""
    for h in range(ctx.params.heights):
        t = ctx.tally(state.pool, h)
        proposed = {v for props in t.proposals.values() for v, _ in props}
        for v in _decided(state, h):
            if v not in ctx.params.values or v not in proposed:
                return False
    return True


def accountability(ctx: Context, state: SystemState) -> bool:
    """If correct processes disagree at a height, the validators the messages prove faulty
    (equivocation or amnesia) hold more than one third of the power."""
    for h in range(ctx.params.heights):
        if len(_decided(state, h)) > 1:
            faulty = ctx.convicted(state.pool, h)
            if not is_one_third(ctx.params, power_of(ctx.params, faulty)):
                return False
    return True


def correct_never_accused(ctx: Context, state: SystemState) -> bool:
    """The messages never prove a correct process faulty (no equivocation, no amnesia)."""
    correct = set(ctx.params.correct)
    return not any(ctx.convicted(state.pool, h) & correct for h in range(ctx.params.heights))


def proposals_justified(ctx: Context, state: SystemState) -> bool:
    """A correct proposal ⟨PROPOSAL, h, r, v, vr⟩ with vr >= 0 has vr < r and a polka for v in
    round vr (lines 15-16 with 42-43: validRound is the round of a polka for validValue)."""
    for m in state.pool:
        if m.kind is Kind.PROPOSAL and m.valid_round >= 0:
            t = ctx.tally(state.pool, m.height)
            if not (m.valid_round < m.round and ctx.polka(t, m.valid_round, m.value)):
                return False
    return True


INVARIANTS: tuple[tuple[str, str, Callable[[Context, SystemState], bool]], ...] = (
    ("agreement", "no two correct processes decide differently at a height", agreement),
    ("validity", "only valid, proposed values are decided", validity),
    (
        "accountability",
        "a disagreement convicts validators of more than 1/3 of the power",
        accountability,
    ),
    (
        "correct_never_accused",
        "no correct process equivocates or prevotes against its lock (amnesia)",
        correct_never_accused,
    ),
    (
        "proposals_justified",
        "a correct proposal's vr >= 0 names an earlier round with a polka for its value",
        proposals_justified,
    ),
)


# -- Step properties: the lock rules as transitions ----------------------------------------------


def _new_messages(pre: SystemState, post: SystemState) -> list[Message]:
    if len(post.pool) == len(pre.pool):
        return []
    old = set(pre.pool)
    return [m for m in post.pool if m not in old]


def _pairs(ctx: Context, pre: SystemState, post: SystemState) -> Iterator[tuple[Process, Process]]:
    """(before, after) of every correct process that stayed at its height."""
    for a, b in zip(pre.processes, post.processes, strict=True):
        if a.height == b.height and a != b:
            yield a, b


def prevote_respects_lock(ctx: Context, pre: SystemState, action: Any, post: SystemState) -> bool:
    """A correct process prevotes id(v) only if unlocked, locked on v, or it saw a polka for v
    in a round vr with lockedRound <= vr < round (lines 22-33)."""
    correct = ctx.params.correct
    for m in _new_messages(pre, post):
        if m.kind is not Kind.PREVOTE or m.value is None:
            continue
        proc = pre.processes[correct.index(m.sender)]
        if proc.locked_round == -1 or proc.locked_value == m.value:
            continue
        t = ctx.tally(pre.pool, m.height)
        if not any(ctx.polka(t, vr, m.value) for vr in range(proc.locked_round, m.round)):
            return False
    return True


def precommit_only_after_polka(
    ctx: Context, pre: SystemState, action: Any, post: SystemState
) -> bool:
    """A correct process precommits id(v) in round r only after 2f+1 prevotes for id(v) in r
    (lines 36-40)."""
    for m in _new_messages(pre, post):
        if m.kind is Kind.PRECOMMIT and m.value is not None:
            if not ctx.polka(ctx.tally(pre.pool, m.height), m.round, m.value):
                return False
    return True


def locked_round_monotone(ctx: Context, pre: SystemState, action: Any, post: SystemState) -> bool:
    """Within a height, lockedRound never decreases (only lines 38-39 write it)."""
    return all(b.locked_round >= a.locked_round for a, b in _pairs(ctx, pre, post))


def lock_set_on_polka(ctx: Context, pre: SystemState, action: Any, post: SystemState) -> bool:
    """A new lock (lockedValue, lockedRound) is the current round and a value with a polka in
    it (lines 36-39)."""
    for a, b in _pairs(ctx, pre, post):
        if (b.locked_value, b.locked_round) != (a.locked_value, a.locked_round):
            if b.locked_round >= 0:
                t = ctx.tally(pre.pool, a.height)
                if b.locked_round != a.round or not ctx.polka(t, a.round, b.locked_value):
                    return False
    return True


def valid_set_on_polka(ctx: Context, pre: SystemState, action: Any, post: SystemState) -> bool:
    """A new (validValue, validRound) is the current round and a value with a polka in it
    (lines 36, 42-43)."""
    for a, b in _pairs(ctx, pre, post):
        if (b.valid_value, b.valid_round) != (a.valid_value, a.valid_round):
            if b.valid_round >= 0:
                t = ctx.tally(pre.pool, a.height)
                if b.valid_round != a.round or not ctx.polka(t, a.round, b.valid_value):
                    return False
    return True


STEP_PROPERTIES: tuple[tuple[str, str, Callable[[Context, Any, Any, Any], bool]], ...] = (
    (
        "prevote_respects_lock",
        "prevote id(v) only unlocked, locked on v, or after a polka for v in [lockedRound, r)",
        prevote_respects_lock,
    ),
    (
        "precommit_only_after_polka",
        "precommit id(v) in round r only after 2f+1 prevotes for id(v) in r",
        precommit_only_after_polka,
    ),
    (
        "locked_round_monotone",
        "lockedRound never decreases within a height",
        locked_round_monotone,
    ),
    (
        "lock_set_on_polka",
        "the lock changes only to a polka of the current round",
        lock_set_on_polka,
    ),
    (
        "valid_set_on_polka",
        "validValue/validRound change only to a polka of the current round",
        valid_set_on_polka,
    ),
)


# -- Reachables ----------------------------------------------------------------------------------


def value_decided(ctx: Context, state: SystemState) -> bool:
    return any(d is not None for proc in state.processes for d in proc.decisions)


def decided_in_later_round(ctx: Context, state: SystemState) -> bool:
    return any(d is not None and d.round > 0 for proc in state.processes for d in proc.decisions)


def second_height_reached(ctx: Context, state: SystemState) -> bool:
    return ctx.params.heights > 1 and any(proc.height >= 1 for proc in state.processes)


def relocked(ctx: Context, state: SystemState) -> bool:
    """A correct process precommits two different values at one height: it locked on a later
    polka (lines 36-41), the lock rules' interesting case."""
    seen: dict[tuple[int, int], Vote] = {}
    for m in state.pool:
        if m.kind is Kind.PRECOMMIT and m.value is not None:
            earlier = seen.setdefault((m.sender, m.height), m.value)
            if earlier != m.value:
                return True
    return False


def valid_value_reproposed(ctx: Context, state: SystemState) -> bool:
    return any(m.kind is Kind.PROPOSAL and m.valid_round >= 0 for m in state.pool)


REACHABLES: tuple[tuple[str, str, Callable[[Context, SystemState], bool]], ...] = (
    ("value_decided", "a correct process decides", value_decided),
    ("decided_in_later_round", "a correct process decides in a round > 0", decided_in_later_round),
    (
        "second_height_reached",
        "a correct process reaches height 1 (the second)",
        second_height_reached,
    ),
    ("relocked", "a correct process precommits two different values at a height", relocked),
    (
        "valid_value_reproposed",
        "a correct proposer re-proposes its validValue (vr >= 0)",
        valid_value_reproposed,
    ),
)


def properties(
    ctx: Context, project: Callable[[Any], SystemState] | None = None
) -> tuple[
    tuple[Invariant[Any], ...], tuple[StepProperty[Any, Any], ...], tuple[Reachable[Any], ...]
]:
    """The registries, read through ``project`` (state of the model -> :class:`SystemState`)."""
    proj = project or (lambda s: s)

    def inv(f: Callable[[Context, SystemState], bool]) -> Callable[[Any], bool]:
        return lambda s: f(ctx, proj(s))

    def stp(f: Callable[[Context, Any, Any, Any], bool]) -> Callable[[Any, Any, Any], bool]:
        return lambda a, act, b: f(ctx, proj(a), act, proj(b))

    invariants = tuple(Invariant(n, d, inv(f)) for n, d, f in INVARIANTS)
    steps = tuple(StepProperty(n, d, stp(f)) for n, d, f in STEP_PROPERTIES)
    wanted = (
        REACHABLES
        if ctx.params.heights > 1
        else tuple(x for x in REACHABLES if x[0] != "second_height_reached")
    )
    reach = tuple(Reachable(n, d, inv(f)) for n, d, f in wanted)
    return invariants, steps, reach
