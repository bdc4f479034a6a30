"""A sans-IO binary-agreement node (MMR with the CONF round): ``step(node, event)``.

Refines :mod:`mnemosyne_consensus.spec.aba` (Mostéfaoui-Moumen-Raynal, JACM 2015, Figures 1-2,
with the CONF round of amiller/HoneyBadgerBFT#59 and poanetwork/hbbft#37, and hbbft's TERM
message for termination). One node of one agreement *instance* (in ACS: one per proposer, named
by ``instance``) of one *session* (in HoneyBadger: the epoch).

The node keeps MMR's variables and its tallies: every BVAL[r](v) it received (a correct node may
send both values in a round: its estimate and a relay), the first AUX[r] and CONF[r] of every
node, and the valid coin shares of every round. Its own messages are counted when sent.

The coin (Cachin-Kursawe-Shoup, :mod:`.threshold_coin`): with ``coin_secret`` configured, a node
that finishes its CONF phase in round r broadcasts its share of the coin named
``aba/session/instance/round`` (:func:`coin_name`; deterministic, with its DLEQ proof: the
session makes every HoneyBadger epoch's coins fresh, so the adversary cannot learn a coin from a
previous epoch); f+1 valid shares (``threshold = f+1``:
one correct share and the f Byzantine ones suffice) give the coin's bit to every node that has
them. Without ``coin_secret`` the coin is an input event ``CoinOpened`` (a test harness's coin).

Choices the spec leaves open, made as hbbft makes them: ``values`` (Fig. 2 line 06) is every value
of bin_values carried by a received AUX, once AUXs with values in bin_values come from n−f
nodes; ``vals`` is the union of the CONF sets in bin_values once those come from n−f nodes.
Both are options the spec allows. It keeps relaying BVALs of past rounds while it runs (MMR's
BV-broadcast is a background task); its rules fire relays first, so a node has relayed every
value it accepted into bin_values before it can halt (the spec's AcceptBval asks the same).

Termination (poanetwork/hbbft ``src/binary_agreement/binary_agreement.rs``: ``decide``,
``handle_term``, ``received_term``; our own code): a node that decides b in round r (coin rule)
broadcasts TERM[r+1](b) and halts; TERM[t](b) from a node counts as its BVAL[r'](b), AUX[r'](b)
and CONF[r']({b}) for every round r' >= t (it will send nothing else there); TERM(b) from f+1
distinct nodes with t <= the current round (at least one correct node decided b) makes the node
decide b, broadcast TERM[current round](b) and halt. Departure from hbbft, which sends TERM of
the *next* round after a TERM decision (and queues a TERM of a later epoch): in our model of
that choice the node's current round misses its AUX/CONF and a slower correct node can wait
there for ever (the spec's mutant ``term-next-round``, a counterexample with 20 steps); a TERM
of the current round is safe because every correct node in a round after the first decision
holds the decided value only. After the last round (``max_round``) an undecided node halts too
(the bound of the model checks).

Events: ``Input(value)`` (once; local misuse raises), ``Receive(sender, message)``,
``CoinOpened(round, value)`` (only without ``coin_secret``).
Validation (the first failure is the fault, nothing changes): UNKNOWN_SENDER, MALFORMED,
WRONG_INSTANCE, WRONG_ROUND (a round beyond ``max_round``; ``max_round + 1`` for TERM),
DUPLICATE, EQUIVOCATION (a second AUX/CONF of a round, or a second TERM, with another value),
BAD_COIN_SHARE (:func:`.threshold_coin.verify_coin_share` refuses; ``detail`` is its reason, e.g.
``wrong-name`` for a share of another session, instance or round).
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from . import threshold_coin as coin

BVAL, AUX, CONF, COIN, TERM = "bval", "aux", "conf", "coin", "term"
KINDS = (BVAL, AUX, CONF, COIN, TERM)
VALUE_SETS = ((0,), (1,), (0, 1))
BV, AUX_SENT, CONF_SENT, COIN_WAIT, HALTED = 0, 1, 2, 3, 4


@attrs.frozen(cache_hash=True)
class NodeConfig:
    me: int
    n: int
    f: int
    instance: int
    max_round: int
    coin_public: coin.CoinPublicKey | None = None
    coin_secret: coin.CoinSecretShare | None = attrs.field(default=None, repr=False)
    conf_round: bool = True  # False: the unfixed protocol (for the attack tests only)
    session: int = 0  # the session (HoneyBadger: the epoch), part of every coin name


@attrs.frozen(cache_hash=True)
class Message:
    """BVAL[r](v), AUX[r](v), CONF[r](S), COIN[r](share) or TERM[t](v) of ``instance``."""

    kind: str
    instance: int
    round: int
    value: object


@attrs.frozen(cache_hash=True)
class Node:
    # identity and configuration (constant)
    config: NodeConfig
    # MMR's variables: round, phase within it, est, and est at the start of every round
    round: int
    phase: int
    est: int | None
    ests: tuple[int, ...]
    # BV-broadcast: values sent per round, bin_values of the current round
    sent: tuple[tuple[int, ...], ...]
    bin_values: tuple[int, ...]
    # the AUX phase's result (the CONF content) and the coin step's vals
    aux_vals: tuple[int, ...] | None
    vals: tuple[int, ...] | None
    decided: tuple[int, int] | None
    # tallies: (round, sender, value) received or sent
    bvals: tuple[tuple[int, int, int], ...]
    auxes: tuple[tuple[int, int, int], ...]
    confs: tuple[tuple[int, int, tuple[int, ...]], ...]
    shares: tuple[tuple[int, int, coin.CoinShare], ...]
    # coins known: (round, bit)
    coins: tuple[tuple[int, int], ...]
    # TERM messages received or sent: (round t, sender, value)
    terms: tuple[tuple[int, int, int], ...] = ()


def new_node(config: NodeConfig) -> Node:
    return Node(config, 0, BV, None, (), ((),), (), None, None, None, (), (), (), (), (), ())


@attrs.frozen
class Input:
    value: int


@attrs.frozen
class Receive:
    sender: object
    message: object


@attrs.frozen
class CoinOpened:
    round: int
    value: int


Event = Input | Receive | CoinOpened


class FaultKind(enum.Enum):
    """Why a peer's message was rejected (the node's state is unchanged)."""

    UNKNOWN_SENDER = "unknown_sender"  #: the sender is not another node of the instance
    MALFORMED = "malformed"  #: a field has the wrong type or range
    WRONG_INSTANCE = "wrong_instance"  #: the message belongs to another agreement instance
    WRONG_ROUND = "wrong_round"  #: the round is beyond the last round this node runs
    DUPLICATE = "duplicate"  #: the same message again from one sender
    EQUIVOCATION = "equivocation"  #: a second AUX/CONF of a round, or TERM, with another value
    BAD_COIN_SHARE = "bad_coin_share"  #: the coin share is refused (proof, index, name)


@attrs.frozen
class Fault:
    sender: object
    kind: FaultKind
    detail: str = ""


@attrs.frozen
class Effects:
    broadcasts: tuple[Message, ...] = ()
    decided: int | None = None
    faults: tuple[Fault, ...] = ()


NOTHING = Effects()


class LocalMisuseError(Exception):
    """The application asked for something the protocol does not allow."""


def coin_name(session: int, instance: int, round_: int) -> bytes:
    """The threshold coin's name for ``round_`` of ``instance`` in ``session``."""
    return f"aba/{session}/{instance}/{round_}".encode()


def _is_bit(v: object) -> bool:
    return type(v) is int and v in (0, 1)


def _fault(node: Node, sender: object, m: object) -> tuple[FaultKind, str] | None:
    c = node.config
    # Verify the sender
    if type(sender) is not int or not 0 <= sender < c.n or sender == c.me:
        return FaultKind.UNKNOWN_SENDER, ""
    # Verify the shape
    if not isinstance(m, Message) or m.kind not in KINDS or type(m.instance) is not int:
        return FaultKind.MALFORMED, ""
    if type(m.round) is not int or m.round < 0:
        return FaultKind.MALFORMED, ""
    if m.kind in (BVAL, AUX, TERM) and not _is_bit(m.value):
        return FaultKind.MALFORMED, ""
    if m.kind == CONF and m.value not in VALUE_SETS:
        return FaultKind.MALFORMED, ""
    if m.kind == COIN and not isinstance(m.value, coin.CoinShare):
        return FaultKind.MALFORMED, ""
    # Verify the instance and the round
    if m.instance != c.instance:
        return FaultKind.WRONG_INSTANCE, ""
    if m.round > c.max_round + (1 if m.kind == TERM else 0):
        return FaultKind.WRONG_ROUND, ""
    # Verify that the sender did not send this before
    r = m.round
    if m.kind == BVAL:
        if (r, sender, m.value) in node.bvals:
            return FaultKind.DUPLICATE, ""
    elif m.kind == TERM:
        first_term = next(((t, v) for t, s, v in node.terms if s == sender), None)
        if first_term is not None:
            same = first_term == (r, m.value)
            return (FaultKind.DUPLICATE if same else FaultKind.EQUIVOCATION), ""
    elif m.kind in (AUX, CONF):
        tally = node.auxes if m.kind == AUX else node.confs
        first = next((v for rr, s, v in tally if rr == r and s == sender), None)
        if first is not None:
            kind = FaultKind.DUPLICATE if first == m.value else FaultKind.EQUIVOCATION
            return kind, ""
    else:
        if any(rr == r and s == sender for rr, s, _ in node.shares):
            return FaultKind.DUPLICATE, ""
        if c.coin_public is None:
            return FaultKind.BAD_COIN_SHARE, "no coin keys configured"
        # Verify the share and its DLEQ proof
        name = coin_name(c.session, c.instance, r)
        why = coin.verify_coin_share(c.coin_public, name, m.value, sender)
        if why is not None:
            return FaultKind.BAD_COIN_SHARE, why.value
    return None


def step(node: Node, event: Event) -> tuple[Node, Effects]:
    """Handles one event; a peer's bad input is a fault and leaves ``node`` unchanged."""
    c = node.config
    sent: list[Message] = []
    if isinstance(event, Input):
        if node.est is not None or not _is_bit(event.value):
            raise LocalMisuseError(f"node {c.me} may not propose {event.value!r} now")
        v = event.value
        node = attrs.evolve(node, est=v, ests=(v,), sent=((v,),))
        node = _record(node, c.me, Message(BVAL, c.instance, 0, v))
        sent.append(Message(BVAL, c.instance, 0, v))
        return _fire(node, sent)
    if isinstance(event, CoinOpened):
        if c.coin_secret is not None or not _is_bit(event.value):
            raise LocalMisuseError("the coin is computed from shares at this node")
        if any(r == event.round for r, _ in node.coins):
            return node, NOTHING
        node = attrs.evolve(node, coins=tuple(sorted((*node.coins, (event.round, event.value)))))
        return _fire(node, sent)
    if node.phase == HALTED:
        return node, NOTHING
    problem = _fault(node, event.sender, event.message)
    if problem is not None:
        kind, detail = problem
        return node, Effects(faults=(Fault(event.sender, kind, detail),))
    message, sender = event.message, event.sender
    if not isinstance(message, Message) or type(sender) is not int:  # unreachable: validated
        raise TypeError("validated message expected")
    node = _record(node, sender, message)
    if node.est is None:
        return node, NOTHING  # not started: tallies only
    return _fire(node, sent)


def _record(node: Node, sender: int, m: Message) -> Node:
    r = m.round
    if m.kind == BVAL:
        return attrs.evolve(node, bvals=tuple(sorted((*node.bvals, (r, sender, m.value)))))
    if m.kind == AUX:
        return attrs.evolve(node, auxes=tuple(sorted((*node.auxes, (r, sender, m.value)))))
    if m.kind == CONF:
        return attrs.evolve(node, confs=tuple(sorted((*node.confs, (r, sender, m.value)))))
    if m.kind == TERM:
        return attrs.evolve(node, terms=tuple(sorted((*node.terms, (r, sender, m.value)))))
    shares = tuple(sorted((*node.shares, (r, sender, m.value)), key=lambda x: (x[0], x[1])))
    node = attrs.evolve(node, shares=shares)
    c = node.config
    mine = [s for rr, _, s in shares if rr == r]
    if c.coin_public is not None and not any(rr == r for rr, _ in node.coins):
        if len(mine) >= c.coin_public.threshold:
            name = coin_name(c.session, c.instance, r)
            value = coin.combine_verified_coin_shares(c.coin_public, name, mine)
            if isinstance(value, coin.CoinValue):
                node = attrs.evolve(node, coins=tuple(sorted((*node.coins, (r, value.bit)))))
    return node


def _bval_senders(node: Node, r: int, v: int) -> int:
    """Senders of BVAL[r](v), a TERM[t](v) with t <= r counting as one (hbbft)."""
    senders = {s for rr, s, vv in node.bvals if rr == r and vv == v}
    return len(senders | {s for t, s, vv in node.terms if t <= r and vv == v})


def _firsts(node: Node, tally: tuple[tuple[int, int, Any], ...], r: int) -> dict[int, Any]:
    """Each sender's AUX (or CONF) value of round r; a TERM[t](v), t <= r, stands for one the
    sender did not send (as v, or {v} for CONF)."""
    out: dict[int, Any] = {s: v for rr, s, v in tally if rr == r}
    conf = tally is node.confs
    for t, s, v in node.terms:
        if t <= r and s not in out:
            out[s] = (v,) if conf else v
    return out


def _fire(node: Node, sent: list[Message]) -> tuple[Node, Effects]:
    """Runs every enabled rule until none is (each sends at most once)."""
    decided: int | None = None
    changed = True
    while changed:
        changed = False
        node, out, dec = _one_rule(node)
        if out is not None:
            changed = True
            sent.extend(out)
            if dec is not None:
                decided = dec
    return node, Effects(broadcasts=tuple(sent), decided=decided)


def _send(node: Node, m: Message) -> Node:
    return _record(node, node.config.me, m)


def _one_rule(node: Node) -> tuple[Node, list[Message] | None, int | None]:
    c = node.config
    f, n, r = c.f, c.n, node.round
    if node.phase == HALTED:
        return node, None, None
    # MMR Fig. 1: relay on f+1 BVAL (every round so far)
    for rr, sent in enumerate(node.sent):
        for v in (0, 1):
            if v not in sent and _bval_senders(node, rr, v) >= f + 1:
                m = Message(BVAL, c.instance, rr, v)
                new_sent = tuple(sorted((*sent, v)))
                node = attrs.evolve(node, sent=(*node.sent[:rr], new_sent, *node.sent[rr + 1 :]))
                return _send(node, m), [m], None
    # hbbft's TERM rule, after the relays (a halted node relays nothing): TERM(v) from f+1
    # nodes (in rounds up to ours): decide v, TERM, halt
    if node.decided is None:
        for v in (0, 1):
            if len({s for t, s, vv in node.terms if t <= r and vv == v}) >= f + 1:
                m = Message(TERM, c.instance, r, v)
                node = attrs.evolve(node, phase=HALTED, decided=(v, r))
                return _send(node, m), [m], v
    # MMR Fig. 1: accept on 2f+1 BVAL; Fig. 2 lines 04-05: AUX of the first value
    if node.phase < COIN_WAIT:
        for v in (0, 1):
            if v not in node.bin_values and _bval_senders(node, r, v) >= 2 * f + 1:
                node = attrs.evolve(node, bin_values=tuple(sorted((*node.bin_values, v))))
                if node.phase == BV:
                    m = Message(AUX, c.instance, r, v)
                    return attrs.evolve(_send(node, m), phase=AUX_SENT), [m], None
                return node, [], None
    # Fig. 2 line 06: values carried by AUX from n−f nodes, within bin_values
    if node.phase == AUX_SENT:
        auxes = {s: v for s, v in _firsts(node, node.auxes, r).items() if v in node.bin_values}
        if len(auxes) >= n - f:
            vals = tuple(sorted(set(auxes.values())))
            if c.conf_round:
                m = Message(CONF, c.instance, r, vals)
                node = attrs.evolve(_send(node, m), aux_vals=vals, phase=CONF_SENT)
                return node, [m], None
            node = attrs.evolve(node, aux_vals=vals, vals=vals, phase=COIN_WAIT)
            return _invoke_coin(node)
    # the CONF round: n−f CONF within bin_values; vals = their union
    if node.phase == CONF_SENT:
        bins = set(node.bin_values)
        good = [v for v in _firsts(node, node.confs, r).values() if set(v) <= bins]
        if len(good) >= n - f:
            vals = tuple(sorted(set().union(*(set(v) for v in good))))
            return _invoke_coin(attrs.evolve(node, vals=vals, phase=COIN_WAIT))
    # Fig. 2 lines 07-09 once the coin of the round is known
    if node.phase == COIN_WAIT:
        s = dict(node.coins).get(r)
        if s is not None and node.vals is not None:
            if len(node.vals) == 1:
                est = node.vals[0]
                if est == s:
                    # decide, TERM[r+1](est) and halt (hbbft's ``decide``)
                    m = Message(TERM, c.instance, r + 1, est)
                    node = attrs.evolve(node, est=est, phase=HALTED, decided=(est, r))
                    return _send(node, m), [m], est
            else:
                est = s
            if r >= c.max_round:
                return attrs.evolve(node, est=est, phase=HALTED), [], None
            m = Message(BVAL, c.instance, r + 1, est)
            node = attrs.evolve(
                node,
                round=r + 1,
                phase=BV,
                est=est,
                ests=(*node.ests, est),
                sent=(*node.sent, (est,)),
                bin_values=(),
                aux_vals=None,
                vals=None,
            )
            return _send(node, m), [m], None
    return node, None, None


def _invoke_coin(node: Node) -> tuple[Node, list[Message] | None, int | None]:
    """Release this node's coin share of the round (if it holds a coin key)."""
    c = node.config
    if c.coin_secret is None or c.coin_public is None:
        return node, [], None
    name = coin_name(c.session, c.instance, node.round)
    share = coin.coin_share(c.coin_public, c.coin_secret, name)
    m = Message(COIN, c.instance, node.round, share)
    return _send(node, m), [m], None
