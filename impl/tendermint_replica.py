"""A message-driven Tendermint replica: the vote log and certificate assembly around the node.

:mod:`mnemosyne_consensus.impl.tendermint` is the rule engine of Algorithm 1 (Buchman, Kwon,
Milosevic 2018): each of its events carries the signed messages its upon-rule needs. This module
is the layer between the network and that engine, the one a real replica also needs:

* it receives **one signed message at a time** (``Deliver``), validates it on its own (same
  checks and fault kinds as the node: unknown validator, malformed, wrong height, bad signature,
  proposal from a non-proposer) and keeps it in a log of the current height;
* it detects **equivocation across deliveries**: a second, different vote of one validator for
  one (round, step), or a second, different proposal of one round's proposer, is emitted once as
  evidence (``Effects.evidence``, the two signed messages), and the second vote is *not counted*
  (counting any subset of what validators really signed is sound, and correct validators' power
  alone reaches every threshold when faulty power is below 1/3);
* it **assembles the certificates** of lines 22-56 from the log, hands them to the node's
  ``step``, and repeats until no rule fires (each firing moves the node's (height, round, step)
  or its valid round forward, so this ends);
* it schedules the timeouts of lines 34 and 47 ("2f+1 ⟨PREVOTE/PRECOMMIT, h, round, *⟩ for the
  first time") and turns a ``Timeout`` event back into the node's timeout rule with the
  certificate that started the timer.

Departures and choices, stated for auditors:

* The log holds two heights, the node's and the next one: a faster validator's messages of
  height h+1 arrive before this replica decides h, and must count once it gets there. They are
  validated on arrival (the same checks, at their height). A message of a height already decided
  is stale, not faulty: it is dropped without a fault. A message of a height beyond h+1 is
  refused with ``WRONG_HEIGHT``, so a Byzantine validator cannot grow the log with far heights;
  a real transport re-gossips such messages when this replica gets there (CometBFT's consensus
  reactor does this from its peers' announced height and round).
* Several proposals of one round are kept when their values are valid (``valid(v)`` is a finite
  set here, so this is bounded): a correct replica that saw the equivocating proposer's other
  proposal first still needs this one to apply the polka and commit rules (lines 36, 49) when the
  others' votes go for it. Only the first proposal with an invalid value is kept (line 22 needs
  one to prevote nil).
* Own messages enter the log when sent (a validator counts its own vote), exactly like delivered
  ones.

Everything is pure and deterministic: ``step(replica, event) -> (replica, effects)``; the state is
a frozen, hashable value; the log keeps delivery order, so two replicas fed the same events are
equal.
"""

from __future__ import annotations

import attrs

from . import tendermint as engine
from .tendermint import (
    NOTHING,
    PRECOMMIT,
    PREVOTE,
    PREVOTE_STEP,
    PROPOSAL,
    Effects,
    Fault,
    FaultKind,
    Node,
    NodeConfig,
    Signed,
)

TIMEOUT_KINDS = ("propose", "prevote", "precommit")
MAX_FIRINGS = 10_000  # a bound on rule firings per event; exceeding it is a bug in this module

# -- State and events ----------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class Replica:
    # the rule engine: Algorithm 1's variables (lines 1-9)
    node: Node
    # validated messages of heights node.height and node.height + 1, in delivery order (one
    # vote per sender, height, round and step)
    log: tuple[Signed, ...]
    # (height, round, kind, sender) slots whose equivocation has been reported, once each
    reported: tuple[tuple[int, int, str, int], ...]
    # timeouts asked for at this height: (kind, round), so each is asked for "the first time" only
    timers: tuple[tuple[str, int], ...]


@attrs.frozen
class Deliver:
    """A signed message from the network (any sender, any content: it is validated here)."""

    message: Signed


@attrs.frozen
class Propose:
    """The application's getValue() for the round this replica proposes in (lines 14-19)."""

    value: str


@attrs.frozen
class Timeout:
    """A timer this replica asked for (``Effects.timers``) has expired."""

    kind: str  # "propose", "prevote" or "precommit"
    height: int
    round: int


Event = Deliver | Propose | Timeout


def start(config: NodeConfig) -> tuple[Replica, Effects]:
    """Lines 1-10: height 0, StartRound(0), with the propose timer when not the proposer."""
    node = engine.new_node(config)
    replica = Replica(node, (), (), ())
    if config.validators.proposer(0, 0) == config.me:
        return replica, NOTHING
    return replica, Effects(timers=(("propose", 0, 0),))


# -- Reading the log -----------------------------------------------------------------------------


def _current(replica: Replica) -> tuple[Signed, ...]:
    """The logged messages of the node's height (the only ones the rules read)."""
    return tuple(m for m in replica.log if m.height == replica.node.height)


def _votes(replica: Replica, kind: str, round_: int, value: object = ...) -> tuple[Signed, ...]:
    """The logged ``kind`` votes of ``round_`` (for ``value`` unless ``...``)."""
    return tuple(
        m
        for m in _current(replica)
        if m.kind == kind and m.round == round_ and (value is ... or m.value == value)
    )


def _proposals(replica: Replica, round_: int | None = None) -> tuple[Signed, ...]:
    return tuple(
        m for m in _current(replica) if m.kind == PROPOSAL and (round_ is None or m.round == round_)
    )


# -- Receiving one message -----------------------------------------------------------------------


def _conflict(replica: Replica, m: Signed) -> Signed | None:
    """The logged message that ``m`` equivocates with, if any (same sender, slot and height)."""
    for other in replica.log:
        same_slot = _slot(other) == _slot(m)
        if same_slot and other != m:
            return other
    return None


def _keeps(replica: Replica, m: Signed) -> bool:
    """Whether an equivocating ``m`` is still kept: a proposal with a valid value (see above)."""
    return m.kind == PROPOSAL and m.value in replica.node.config.validators.values


def _slot(m: Signed) -> tuple[int, int, str, int]:
    return (m.height, m.round, m.kind, m.sender)


def _deliver(replica: Replica, m: object) -> tuple[Replica, Effects]:
    if not isinstance(m, Signed):
        return replica, Effects(faults=(Fault(None, FaultKind.MALFORMED),))
    node = replica.node
    if type(m.height) is int and node.height + 1 == m.height:
        node = attrs.evolve(node, height=m.height)  # validated as at its height (see above)
    fault = engine.message_fault(node, m)
    if fault is FaultKind.WRONG_HEIGHT and m.height < node.height:
        return replica, NOTHING  # stale: that height is decided
    if fault is not None:
        sender = m.sender if type(m.sender) is int else None
        return replica, Effects(faults=(Fault(sender, fault),))
    if m in replica.log:
        return replica, NOTHING  # a duplicate: gossip delivers messages more than once
    evidence: tuple[tuple[Signed, Signed], ...] = ()
    other = _conflict(replica, m)
    if other is not None:
        slot = _slot(m)
        if slot not in replica.reported:
            evidence = ((other, m),)
            replica = attrs.evolve(replica, reported=(*replica.reported, slot))
        if not _keeps(replica, m):
            return replica, Effects(evidence=evidence)
    replica = attrs.evolve(replica, log=(*replica.log, m))
    replica, effects = _progress(replica)
    return replica, _merge(Effects(evidence=evidence), effects)


# -- Firing the rules ----------------------------------------------------------------------------


def _candidates(replica: Replica) -> list[engine.Event]:
    """The node events whose certificates the log holds now, in the order of Algorithm 1."""
    node = replica.node
    r = node.round
    events: list[engine.Event] = []
    for p in _proposals(replica, r):  # lines 22 and 28
        if p.valid_round == -1:
            events.append(engine.ProposalReceived(p))
        else:
            polka = _votes(replica, PREVOTE, p.valid_round, p.value)
            if engine.has_quorum(replica.node, polka):
                events.append(engine.ProposalReceived(p, polka))
    for p in _proposals(replica, r):  # line 36
        prevotes = _votes(replica, PREVOTE, r, p.value)
        if engine.has_quorum(replica.node, prevotes):
            events.append(engine.PolkaReceived(p, prevotes))
    nil_prevotes = _votes(replica, PREVOTE, r, None)  # line 44
    if engine.has_quorum(replica.node, nil_prevotes):
        events.append(engine.NilPolkaReceived(nil_prevotes))
    for p in _proposals(replica):  # line 49, any round
        precommits = _votes(replica, PRECOMMIT, p.round, p.value)
        if engine.has_quorum(replica.node, precommits):
            events.append(engine.CommitReceived(p, precommits))
    for later in sorted({m.round for m in _current(replica) if m.round > r}):  # line 55
        messages = tuple(m for m in _current(replica) if m.round == later)
        if engine.has_one_third(replica.node, messages):
            events.append(engine.RoundSkipReceived(messages))
            break
    return events


def _fire(replica: Replica, event: engine.Event) -> tuple[Replica, Effects] | None:
    """Steps the node; None when the rule does not apply now (nothing would change)."""
    node, effects = engine.step(replica.node, event)
    if effects.faults:
        raise AssertionError(f"a certificate built from the validated log was refused: {effects}")
    if node == replica.node and not (effects.broadcasts or effects.decisions):
        return None
    return _moved(replica, node, effects), effects


def _moved(replica: Replica, node: Node, effects: Effects) -> Replica:
    """The replica after its node moved: own messages logged; at a new height, the log keeps
    that height's messages (delivered early) and the timers start afresh."""
    if node.height != replica.node.height:
        log = tuple(m for m in replica.log if m.height == node.height)
        reported = tuple(s for s in replica.reported if s[0] == node.height)
        return Replica(node, log, reported, ())
    log = replica.log + tuple(m for m in effects.broadcasts if m not in replica.log)
    return attrs.evolve(replica, node=node, log=log)


def _timers(replica: Replica) -> tuple[Replica, tuple[tuple[str, int, int], ...]]:
    """Lines 34 and 47: schedule a timeout the first time 2f+1 votes of any kind are logged."""
    node = replica.node
    r = node.round
    wanted = []
    if node.step == PREVOTE_STEP and engine.has_quorum(replica.node, _votes(replica, PREVOTE, r)):
        wanted.append(("prevote", r))
    if engine.has_quorum(replica.node, _votes(replica, PRECOMMIT, r)):
        wanted.append(("precommit", r))
    new = tuple(t for t in wanted if t not in replica.timers)
    if not new:
        return replica, ()
    replica = attrs.evolve(replica, timers=replica.timers + new)
    return replica, tuple((kind, node.height, round_) for kind, round_ in new)


def _progress(replica: Replica) -> tuple[Replica, Effects]:
    """Fires rules until none applies, then schedules the timeouts that became due."""
    total = NOTHING
    for _ in range(MAX_FIRINGS):
        for event in _candidates(replica):
            fired = _fire(replica, event)
            if fired is not None:
                replica, effects = fired
                total = _merge(total, effects)
                break
        else:
            replica, timers = _timers(replica)
            return replica, _merge(total, Effects(timers=timers))
    raise AssertionError("rules kept firing: a bug in the replica's certificate assembly")


def _merge(a: Effects, b: Effects) -> Effects:
    return Effects(
        broadcasts=a.broadcasts + b.broadcasts,
        decisions=a.decisions + b.decisions,
        timers=a.timers + b.timers,
        evidence=a.evidence + b.evidence,
        faults=a.faults + b.faults,
    )


# -- Timeouts and proposals ----------------------------------------------------------------------


def _timeout(replica: Replica, event: Timeout) -> tuple[Replica, Effects]:
    node = replica.node
    if event.kind not in TIMEOUT_KINDS:
        return replica, Effects(faults=(Fault(None, FaultKind.MALFORMED),))
    if (event.height, event.round) != (node.height, node.round):
        return replica, NOTHING  # a stale timer: its round is over
    if event.kind == "propose":
        fired = _fire(replica, engine.TimeoutPropose())
    elif (event.kind, event.round) not in replica.timers:
        return replica, NOTHING  # never asked for
    elif event.kind == "prevote":
        fired = _fire(replica, engine.TimeoutPrevote(_votes(replica, PREVOTE, node.round)))
    else:
        fired = _fire(replica, engine.TimeoutPrecommit(_votes(replica, PRECOMMIT, node.round)))
    if fired is None:
        return replica, NOTHING
    replica, effects = fired
    replica, more = _progress(replica)
    return replica, _merge(effects, more)


def step(replica: Replica, event: Event) -> tuple[Replica, Effects]:
    """Handles one event; a peer's bad input is a fault and leaves ``replica`` unchanged.

    ``Propose`` when this replica may not propose raises ``engine.LocalMisuseError`` (a bug of
    the caller, not a peer's input).
    """
    if isinstance(event, Deliver):
        return _deliver(replica, event.message)
    if isinstance(event, Timeout):
        return _timeout(replica, event)
    if isinstance(event, Propose):
        node, effects = engine.step(replica.node, engine.ProposeRequest(event.value))
        replica = _moved(replica, node, effects)
        replica, more = _progress(replica)
        return replica, _merge(effects, more)
    raise TypeError(f"unknown event type {type(event).__name__}")


def is_proposer(replica: Replica) -> bool:
    """Whether this replica proposes in its current round and has not yet (lines 14-19)."""
    node = replica.node
    mine = node.config.validators.proposer(node.height, node.round) == node.config.me
    return mine and node.step == engine.PROPOSE_STEP and not node.proposed
