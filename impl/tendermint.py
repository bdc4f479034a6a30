"""A sans-IO Tendermint node: ``step(node, event) -> (node, effects)``, with Ed25519 signatures.

Refines :mod:`mnemosyne_consensus.spec.tendermint` (Buchman, Kwon, Milosevic 2018,
Algorithm 1). The node keeps exactly the variables of Algorithm 1 (lines 1-9) and no message
log: every event that fires an upon-rule carries the signed messages the rule needs (its
*certificate*: the proposal and the 2f+1 prevotes of a polka, the 2f+1 precommits of a commit,
the f+1 messages of a higher round), and the node validates all of them before acting. The
transport (gossip) is what assembles certificates from what it received; this module is the
part every node must get right. This is a departure from a node that stores an inbox, chosen so
that the model checker's state stays the spec's (one global pool, DESIGN.md).

Events (one per rule of Algorithm 1)
    ``ProposeRequest(value)``          lines 14-19: the application's getValue() for the round;
                                       local misuse (not the proposer, proposed already) raises;
    ``ProposalReceived(proposal, polka)``  lines 22-27 (``vr = -1``, no polka) and 28-33;
    ``PolkaReceived(proposal, prevotes)``  lines 36-43;
    ``NilPolkaReceived(prevotes)``     lines 44-46;
    ``TimeoutPropose()``               lines 21, 57-60 (the timer the node asked for);
    ``TimeoutPrevote(prevotes)``       lines 34-35, 61-64 (2f+1 prevotes of any kind, then timer);
    ``TimeoutPrecommit(precommits)``   lines 47-48, 65-67 (2f+1 precommits of any kind, then timer);
    ``CommitReceived(proposal, precommits)``  lines 49-54;
    ``RoundSkipReceived(messages)``    lines 55-56 (f+1 of the power in a higher round).
An event whose rule does not apply in the node's current height, round and step is ignored
(no state change, no fault): the network is asynchronous and stale messages are normal.

Validation (one check per line, in this order; the first failure is the fault, nothing changes)
    UNKNOWN_VALIDATOR, MALFORMED, WRONG_HEIGHT, BAD_SIGNATURE, NOT_PROPOSER, then the
    certificate's content: WRONG_CERTIFICATE (a message of another kind, round or value than the
    rule needs) and INSUFFICIENT_POWER (the distinct senders fall short of the threshold).
    Two different messages of one sender, kind and round inside one event are equivocation:
    both are reported in ``Effects.evidence`` and the sender is counted once.

Keys are inputs: each validator's Ed25519 key comes from a 32-byte seed in the configuration
(:func:`derive_seed` gives the fixed seeds the model uses); signing is deterministic (RFC 8032),
so the same message always has the same signature, and signatures are memoized.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Iterable

import attrs

from . import ed25519

PROPOSAL, PREVOTE, PRECOMMIT = "proposal", "prevote", "precommit"
KINDS = (PROPOSAL, PREVOTE, PRECOMMIT)
PROPOSE_STEP, PREVOTE_STEP, PRECOMMIT_STEP = 0, 1, 2

# -- Keys and signatures -------------------------------------------------------------------------


def derive_seed(validator: int, label: str = "mnemosyne/tendermint") -> bytes:
    """A fixed 32-byte Ed25519 seed for a validator (test keys: public, deterministic)."""
    return ed25519.derive_seed(f"{label}/validator/{validator}")


public_key = ed25519.public_key


def payload(kind: str, height: int, round_: int, sender: int, value: str | None, vr: int) -> bytes:
    """The signed bytes: canonical JSON of the message fields."""
    return json.dumps([kind, height, round_, sender, value, vr], separators=(",", ":")).encode()


@functools.lru_cache(maxsize=1 << 16)
def _signed_by(key: bytes, m: Signed) -> bool:
    """``m``'s signature verifies under ``key`` (memoized per message: the check is pure)."""
    return ed25519.verifies(key, m.data(), m.signature)


# -- Messages, configuration, state --------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class Signed:
    """A signed ⟨PROPOSAL, h, r, v, vr⟩, ⟨PREVOTE, h, r, v|nil⟩ or ⟨PRECOMMIT, h, r, v|nil⟩."""

    kind: str
    height: int
    round: int
    sender: int
    value: str | None
    valid_round: int  # -1 for votes
    signature: bytes

    def data(self) -> bytes:
        return payload(
            self.kind, self.height, self.round, self.sender, self.value, self.valid_round
        )


def sign(
    seed: bytes, kind: str, height: int, round_: int, sender: int, value: str | None, vr: int = -1
) -> Signed:
    data = payload(kind, height, round_, sender, value, vr)
    return Signed(kind, height, round_, sender, value, vr, ed25519.sign(seed, data))


@attrs.frozen(cache_hash=True)
class Validators:
    """The validator set of a chain: public keys and voting power, and valid(v)."""

    public_keys: tuple[bytes, ...]
    powers: tuple[int, ...]
    values: tuple[str, ...]  # valid(v): the application accepts exactly these

    @property
    def total(self) -> int:
        return sum(self.powers)

    def proposer(self, height: int, round_: int) -> int:
        """proposer(h, r): round robin, as the spec."""
        return (height + round_) % len(self.powers)


@attrs.frozen(cache_hash=True)
class NodeConfig:
    me: int
    seed: bytes  # my Ed25519 seed (an input, never generated here)
    validators: Validators


@attrs.frozen(cache_hash=True)
class Node:
    # identity and configuration (constant)
    config: NodeConfig
    # position: h_p, round_p, step_p, and whether I proposed in this round (lines 14-19)
    height: int
    round: int
    step: int
    proposed: bool
    # decision_p[0..height-1]: (value, round of the deciding precommits)
    decisions: tuple[tuple[str, int], ...]
    # lock and valid value (lines 6-9)
    locked_value: str | None
    locked_round: int
    valid_value: str | None
    valid_round: int


def new_node(config: NodeConfig) -> Node:
    """Lines 1-10: height 0, StartRound(0)."""
    return Node(config, 0, 0, PROPOSE_STEP, False, (), None, -1, None, -1)


# -- Events --------------------------------------------------------------------------------------


@attrs.frozen
class ProposeRequest:
    value: str


@attrs.frozen
class ProposalReceived:
    proposal: Signed
    polka: tuple[Signed, ...] = ()  # 2f+1 prevotes for the value in round vr when vr >= 0


@attrs.frozen
class PolkaReceived:
    proposal: Signed
    prevotes: tuple[Signed, ...]


@attrs.frozen
class NilPolkaReceived:
    prevotes: tuple[Signed, ...]


@attrs.frozen
class TimeoutPropose:
    pass


@attrs.frozen
class TimeoutPrevote:
    prevotes: tuple[Signed, ...]


@attrs.frozen
class TimeoutPrecommit:
    precommits: tuple[Signed, ...]


@attrs.frozen
class CommitReceived:
    proposal: Signed
    precommits: tuple[Signed, ...]


@attrs.frozen
class RoundSkipReceived:
    messages: tuple[Signed, ...]


Event = (
    ProposeRequest
    | ProposalReceived
    | PolkaReceived
    | NilPolkaReceived
    | TimeoutPropose
    | TimeoutPrevote
    | TimeoutPrecommit
    | CommitReceived
    | RoundSkipReceived
)

# -- Effects -------------------------------------------------------------------------------------


class FaultKind(enum.Enum):
    """Why a peer's input was rejected (the node's state is unchanged)."""

    UNKNOWN_VALIDATOR = "unknown_validator"  #: the sender is not in the validator set
    MALFORMED = "malformed"  #: a field has the wrong type or range (kind, round, vr, value)
    WRONG_HEIGHT = "wrong_height"  #: the message is for another height than the node's
    BAD_SIGNATURE = "bad_signature"  #: the signature does not verify under the sender's key
    NOT_PROPOSER = "not_proposer"  #: a proposal signed by someone else than proposer(h, r)
    WRONG_CERTIFICATE = "wrong_certificate"  #: a message of another kind/round/value than needed
    INSUFFICIENT_POWER = "insufficient_power"  #: the distinct senders do not reach the threshold


@attrs.frozen
class Fault:
    sender: int | None
    kind: FaultKind


@attrs.frozen
class Effects:
    broadcasts: tuple[Signed, ...] = ()
    decisions: tuple[tuple[int, str], ...] = ()  # (height, value)
    timers: tuple[tuple[str, int, int], ...] = ()  # (timeout kind, height, round) to schedule
    evidence: tuple[tuple[Signed, Signed], ...] = ()  # equivocation: two messages of one slot
    faults: tuple[Fault, ...] = ()


NOTHING = Effects()
EvidenceList = tuple[tuple[Signed, Signed], ...]


class LocalMisuseError(Exception):
    """The application asked for something the protocol does not allow (a bug of the caller)."""


# -- Validation ----------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    """An integer, and not a bool (which Python counts as one)."""
    return type(value) is int


def message_fault(node: Node, m: Signed) -> FaultKind | None:
    """The first fault of one message on its own, before any certificate check (or None)."""
    vs = node.config.validators
    # Verify that the sender is a validator
    if not _is_int(m.sender) or not 0 <= m.sender < len(vs.powers):
        return FaultKind.UNKNOWN_VALIDATOR
    # Verify the fields' shapes
    if m.kind not in KINDS or not _is_int(m.round) or m.round < 0:
        return FaultKind.MALFORMED
    if not _is_int(m.height) or not isinstance(m.signature, bytes):
        return FaultKind.MALFORMED
    if m.value is not None and not isinstance(m.value, str):
        return FaultKind.MALFORMED
    if not _is_int(m.valid_round):
        return FaultKind.MALFORMED
    if m.kind == PROPOSAL and (m.value is None or not -1 <= m.valid_round < m.round):
        return FaultKind.MALFORMED
    if m.kind != PROPOSAL and m.valid_round != -1:
        return FaultKind.MALFORMED
    # Verify the height
    if m.height != node.height:
        return FaultKind.WRONG_HEIGHT
    # Verify the signature
    if not _signed_by(vs.public_keys[m.sender], m):
        return FaultKind.BAD_SIGNATURE
    # Verify that a proposal comes from the round's proposer
    if m.kind == PROPOSAL and m.sender != vs.proposer(m.height, m.round):
        return FaultKind.NOT_PROPOSER
    return None


def _reject(sender: int | None, kind: FaultKind) -> tuple[None, Effects]:
    return None, Effects(faults=(Fault(sender, kind),))


def _validate(
    node: Node, messages: Iterable[Signed]
) -> tuple[Fault | None, tuple[tuple[Signed, Signed], ...]]:
    """The first fault of ``messages`` (or None) and the equivocations among them."""
    seen: dict[tuple[int, str, int], Signed] = {}
    evidence: list[tuple[Signed, Signed]] = []
    for m in messages:
        if not isinstance(m, Signed):
            return Fault(None, FaultKind.MALFORMED), ()
        fault = message_fault(node, m)
        if fault is not None:
            return Fault(m.sender if _is_int(m.sender) else None, fault), ()
        key = (m.sender, m.kind, m.round)
        first = seen.setdefault(key, m)
        if first != m:
            evidence.append((first, m))
    return None, tuple(evidence)


def _power(node: Node, messages: Iterable[Signed]) -> int:
    """The power of the distinct senders of ``messages``."""
    return sum(node.config.validators.powers[s] for s in {m.sender for m in messages})


def has_quorum(node: Node, messages: Iterable[Signed]) -> bool:
    """2f + 1: the distinct senders hold more than 2/3 of the power."""
    return 3 * _power(node, messages) > 2 * node.config.validators.total


def has_one_third(node: Node, messages: Iterable[Signed]) -> bool:
    """f + 1: the distinct senders hold more than 1/3 of the power."""
    return 3 * _power(node, messages) > node.config.validators.total


def _certificate_fault(
    node: Node, messages: tuple[Signed, ...], kind: str, round_: int, value: object = ...
) -> FaultKind | None:
    """Every message is ``kind`` of ``round_`` (and for ``value`` unless ``...``), 2f+1 power."""
    for m in messages:
        if m.kind != kind or m.round != round_ or (value is not ... and m.value != value):
            return FaultKind.WRONG_CERTIFICATE
    if not has_quorum(node, messages):
        return FaultKind.INSUFFICIENT_POWER
    return None


# -- Transitions ---------------------------------------------------------------------------------


def _broadcast(node: Node, kind: str, value: str | None, vr: int = -1) -> Signed:
    c = node.config
    return sign(c.seed, kind, node.height, node.round, c.me, value, vr)


def _start_round(node: Node, round_: int) -> tuple[Node, tuple[tuple[str, int, int], ...]]:
    """StartRound (lines 11-13, 20-21); the proposal waits for the application's ProposeRequest."""
    node = attrs.evolve(node, round=round_, step=PROPOSE_STEP, proposed=False)
    if node.config.validators.proposer(node.height, round_) == node.config.me:
        return node, ()
    return node, (("propose", node.height, round_),)


def _valid(node: Node, value: str | None) -> bool:
    return value in node.config.validators.values


def _prevote(
    node: Node, value: str | None, unlocked: bool, evidence: EvidenceList
) -> tuple[Node, Effects]:
    """Lines 23-27 / 29-33."""
    if _valid(node, value) and (unlocked or node.locked_value == value):
        vote: str | None = value
    else:
        vote = None
    message = _broadcast(node, PREVOTE, vote)
    return attrs.evolve(node, step=PREVOTE_STEP), Effects(broadcasts=(message,), evidence=evidence)


def step(node: Node, event: Event) -> tuple[Node, Effects]:
    """Handles one event; a peer's bad input is a fault and leaves ``node`` unchanged."""
    if isinstance(event, ProposeRequest):
        return _propose(node, event.value)
    if isinstance(event, TimeoutPropose):
        # lines 57-60 (the timer is for the current height and round, else it is stale)
        if node.step != PROPOSE_STEP or _is_proposer(node):
            return node, NOTHING
        message = _broadcast(node, PREVOTE, None)
        return attrs.evolve(node, step=PREVOTE_STEP), Effects(broadcasts=(message,))
    carried = _carried(event)
    fault, evidence = _validate(node, carried)
    if fault is not None:
        return node, Effects(faults=(fault,))
    handler = _HANDLERS[type(event)]
    result = handler(node, event, evidence)
    if isinstance(result, Fault):
        return node, Effects(faults=(result,))
    return result


def _is_proposer(node: Node) -> bool:
    return node.config.validators.proposer(node.height, node.round) == node.config.me


def _propose(node: Node, value: str) -> tuple[Node, Effects]:
    """Lines 14-19."""
    if not _is_proposer(node) or node.step != PROPOSE_STEP or node.proposed:
        raise LocalMisuseError(f"node {node.config.me} may not propose now")
    if node.valid_value is not None:
        value = node.valid_value  # lines 15-16
    elif not _valid(node, value):
        raise LocalMisuseError(f"getValue() returned an invalid value {value!r}")
    message = _broadcast(node, PROPOSAL, value, node.valid_round)
    return attrs.evolve(node, proposed=True), Effects(broadcasts=(message,))


def _carried(event: Event) -> tuple[Signed, ...]:
    if isinstance(event, ProposalReceived):
        return (event.proposal, *event.polka)
    if isinstance(event, PolkaReceived):
        return (event.proposal, *event.prevotes)
    if isinstance(event, CommitReceived):
        return (event.proposal, *event.precommits)
    if isinstance(event, NilPolkaReceived | TimeoutPrevote):
        return event.prevotes
    if isinstance(event, TimeoutPrecommit):
        return event.precommits
    if isinstance(event, RoundSkipReceived):
        return event.messages
    raise TypeError(f"unknown event type {type(event).__name__}")


def _is_proposal(m: Signed) -> bool:
    return m.kind == PROPOSAL


Result = tuple[Node, Effects] | Fault


def _on_proposal(node: Node, event: ProposalReceived, evidence: EvidenceList) -> Result:
    """Lines 22-33."""
    p = event.proposal
    if not _is_proposal(p):
        return Fault(p.sender, FaultKind.WRONG_CERTIFICATE)
    if p.valid_round == -1:
        if event.polka:
            return Fault(p.sender, FaultKind.WRONG_CERTIFICATE)
    else:
        bad = _certificate_fault(node, event.polka, PREVOTE, p.valid_round, p.value)
        if bad is not None:
            return Fault(p.sender, bad)
    if p.round != node.round or node.step != PROPOSE_STEP:
        return node, Effects(evidence=evidence)  # not this rule's moment: ignored
    if p.valid_round == -1:
        return _prevote(node, p.value, node.locked_round == -1, evidence)  # line 23
    return _prevote(node, p.value, node.locked_round <= p.valid_round, evidence)  # line 29


def _on_polka(node: Node, event: PolkaReceived, evidence: EvidenceList) -> Result:
    """Lines 36-43."""
    p = event.proposal
    if not _is_proposal(p):
        return Fault(p.sender, FaultKind.WRONG_CERTIFICATE)
    bad = _certificate_fault(node, event.prevotes, PREVOTE, p.round, p.value)
    if bad is not None:
        return Fault(p.sender, bad)
    if p.round != node.round or node.step == PROPOSE_STEP or node.valid_round >= node.round:
        return node, Effects(evidence=evidence)
    if not _valid(node, p.value):
        return node, Effects(evidence=evidence)
    broadcasts: tuple[Signed, ...] = ()
    if node.step == PREVOTE_STEP:  # lines 37-41
        broadcasts = (_broadcast(node, PRECOMMIT, p.value),)
        node = attrs.evolve(
            node, locked_value=p.value, locked_round=node.round, step=PRECOMMIT_STEP
        )
    node = attrs.evolve(node, valid_value=p.value, valid_round=node.round)  # lines 42-43
    return node, Effects(broadcasts=broadcasts, evidence=evidence)


def _on_nil_polka(node: Node, event: NilPolkaReceived, evidence: EvidenceList) -> Result:
    """Lines 44-46."""
    bad = _certificate_fault(node, event.prevotes, PREVOTE, node.round, None)
    if bad is not None:
        return Fault(None, bad)
    if node.step != PREVOTE_STEP:
        return node, Effects(evidence=evidence)
    message = _broadcast(node, PRECOMMIT, None)
    node = attrs.evolve(node, step=PRECOMMIT_STEP)
    return node, Effects(broadcasts=(message,), evidence=evidence)


def _on_timeout_prevote(node: Node, event: TimeoutPrevote, evidence: EvidenceList) -> Result:
    """Lines 34-35 and 61-64."""
    bad = _certificate_fault(node, event.prevotes, PREVOTE, node.round)
    if bad is not None:
        return Fault(None, bad)
    if node.step != PREVOTE_STEP:
        return node, Effects(evidence=evidence)
    message = _broadcast(node, PRECOMMIT, None)
    node = attrs.evolve(node, step=PRECOMMIT_STEP)
    return node, Effects(broadcasts=(message,), evidence=evidence)


def _on_timeout_precommit(node: Node, event: TimeoutPrecommit, evidence: EvidenceList) -> Result:
    """Lines 47-48 and 65-67."""
    bad = _certificate_fault(node, event.precommits, PRECOMMIT, node.round)
    if bad is not None:
        return Fault(None, bad)
    node, timers = _start_round(node, node.round + 1)
    return node, Effects(timers=timers, evidence=evidence)


def _on_commit(node: Node, event: CommitReceived, evidence: EvidenceList) -> Result:
    """Lines 49-54."""
    p = event.proposal
    if not _is_proposal(p):
        return Fault(p.sender, FaultKind.WRONG_CERTIFICATE)
    bad = _certificate_fault(node, event.precommits, PRECOMMIT, p.round, p.value)
    if bad is not None:
        return Fault(p.sender, bad)
    if not _valid(node, p.value):
        return node, Effects(evidence=evidence)
    decided = (*node.decisions, (p.value, p.round))
    fresh = Node(node.config, node.height + 1, 0, PROPOSE_STEP, False, decided, None, -1, None, -1)
    fresh, timers = _start_round(fresh, 0)
    effects = Effects(decisions=((node.height, p.value),), timers=timers, evidence=evidence)
    return fresh, effects


def _on_round_skip(node: Node, event: RoundSkipReceived, evidence: EvidenceList) -> Result:
    """Lines 55-56: f+1 of the power, all in one round above round_p."""
    rounds = {m.round for m in event.messages}
    if len(rounds) != 1:
        return Fault(None, FaultKind.WRONG_CERTIFICATE)
    (target,) = rounds
    if not has_one_third(node, event.messages):
        return Fault(None, FaultKind.INSUFFICIENT_POWER)
    if target <= node.round:
        return node, Effects(evidence=evidence)
    node, timers = _start_round(node, target)
    return node, Effects(timers=timers, evidence=evidence)


_HANDLERS = {
    ProposalReceived: _on_proposal,
    PolkaReceived: _on_polka,
    NilPolkaReceived: _on_nil_polka,
    TimeoutPrevote: _on_timeout_prevote,
    TimeoutPrecommit: _on_timeout_precommit,
    CommitReceived: _on_commit,
    RoundSkipReceived: _on_round_skip,
}
