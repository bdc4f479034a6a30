"""A sans-IO asynchronous-common-subset node: ``step(node, event) -> (node, effects)``.

Refines :mod:`mnemosyne_consensus.spec.acs` (HoneyBadgerBFT, Miller et al. CCS 2016, §4.4,
Figure 4). One node runs n reliable-broadcast instances, RBC_0..RBC_{n-1}, each a real
:mod:`mnemosyne_consensus.impl.rbc` node (Bracha's echo/ready), and drives n binary agreements
BA_0..BA_{n-1}. Messages of RBC_j carry j (``rbc.Message.instance``); the node routes each to
its instance and lifts the instance's faults.

The binary agreements come in two ways:

* *ports* (``NodeConfig.aba`` None): the node emits ``aba_inputs`` (j, b) effects and takes
  ``AbaDecided(j, b)`` events, so a caller plugs in any ABA (the model checks and the
  HoneyBadger simulation plug in the ideal functionality: one decision per instance, a bit some
  correct node input);
* *embedded* (``NodeConfig.aba`` an :class:`AbaSetup`): the node runs n real
  :mod:`mnemosyne_consensus.impl.aba` nodes (MMR with the CONF round and the threshold coin),
  routes each ``aba.Message`` to BA_j by its instance (``session·n + j``), gives each the ACS
  session (:attr:`AbaSetup.session`, HoneyBadger's epoch) so that its coin names
  ``aba/session/instance/round`` are fresh in every session, and feeds their decisions to
  Figure 4's rules itself. An ABA node that decides broadcasts TERM and halts (hbbft's
  termination, see :mod:`.aba`); the TERMs let the other nodes' instances finish, so a node
  whose ACS has output may stop taking this session's messages.

Figure 4, rule by rule (each fired in the step of the event that enables it):
    line 1  RBC_j delivers v_j and BA_j has no input yet: ``AbaInput(j, 1)``;
    line 2  BA decisions of 1 from at least n − f instances: ``AbaInput(j, 0)`` for every BA_j
            not yet given input;
    line 3  every BA decided and every RBC_j of C = {j : BA_j decided 1} delivered: output the
            entries (j, v_j) for j ∈ C, sorted by j (``Effects.output``), once.

Events
    ``Propose(value)``              the application's input (local; a second one raises);
    ``Receive(sender, message)``    an RBC message from a peer (faults: see :class:`FaultKind`
                                    and the RBC's own kinds, lifted with their instance);
    ``AbaDecided(instance, bit)``   BA_instance decided (ports only: local, from the ABA the
                                    caller runs; a second, different decision, or any with
                                    embedded ABAs, raises LocalMisuseError).
"""

from __future__ import annotations

import enum

import attrs

from . import aba, rbc
from . import threshold_coin as coin

Entry = tuple[int, str]


@attrs.frozen(cache_hash=True)
class AbaSetup:
    """Embedded binary agreements: their last round, the coin keys, and the ACS session."""

    max_round: int
    coin_public: coin.CoinPublicKey
    coin_secret: coin.CoinSecretShare = attrs.field(repr=False)
    session: int = 0


@attrs.frozen(cache_hash=True)
class NodeConfig:
    me: int
    n: int
    f: int
    aba: AbaSetup | None = None  # None: the BAs are ports (events and effects)


@attrs.frozen(cache_hash=True)
class Node:
    # identity and configuration (constant)
    config: NodeConfig
    # the n RBC instances this node takes part in (instance j: proposer j)
    rbcs: tuple[rbc.Node, ...]
    # RBC outputs v_j (None: not delivered yet)
    delivered: tuple[str | None, ...]
    # the BA ports: the input given to BA_j and its decision (None: not yet)
    ba_input: tuple[int | None, ...]
    ba_decision: tuple[int | None, ...]
    # the ACS output (None: not yet)
    output: tuple[Entry, ...] | None
    # the embedded ABA nodes (None: the BAs are ports)
    abas: tuple[aba.Node, ...] | None = None


def new_node(config: NodeConfig) -> Node:
    n, f = config.n, config.f
    rbcs = tuple(rbc.new_node(rbc.NodeConfig(config.me, n, f, j)) for j in range(n))
    abas = None
    setup = config.aba
    if setup is not None:
        abas = tuple(
            aba.new_node(
                aba.NodeConfig(
                    config.me,
                    n,
                    f,
                    setup.session * n + j,
                    setup.max_round,
                    setup.coin_public,
                    setup.coin_secret,
                    session=setup.session,
                )
            )
            for j in range(n)
        )
    return Node(config, rbcs, (None,) * n, (None,) * n, (None,) * n, None, abas)


@attrs.frozen
class Propose:
    value: str


@attrs.frozen
class Receive:
    sender: int
    message: rbc.Message | aba.Message


@attrs.frozen
class AbaDecided:
    instance: int
    bit: int


Event = Propose | Receive | AbaDecided


class FaultKind(enum.Enum):
    """Why a peer's message was rejected at the ACS level (the node's state is unchanged)."""

    MALFORMED = "malformed"  #: not an RBC (or embedded ABA) message, or a non-int instance
    UNKNOWN_INSTANCE = "unknown_instance"  #: the instance is not one of this session's n


@attrs.frozen
class Fault:
    sender: object
    kind: FaultKind | rbc.FaultKind | aba.FaultKind
    instance: int | None = None  # the RBC/BA index j that refused it (None: refused by ACS)


@attrs.frozen
class Effects:
    broadcasts: tuple[rbc.Message | aba.Message, ...] = ()
    aba_inputs: tuple[tuple[int, int], ...] = ()
    output: tuple[Entry, ...] | None = None
    faults: tuple[Fault, ...] = ()


NOTHING = Effects()


class LocalMisuseError(Exception):
    """The application (or the ABA it runs) asked for something the protocol does not allow."""


def _lift_rbc(node: Node, j: int, event: rbc.Event) -> tuple[Node, Effects]:
    sub, out = rbc.step(node.rbcs[j], event)
    faults = tuple(Fault(f.sender, f.kind, j) for f in out.faults)
    if faults:
        return node, Effects(faults=faults)
    node = attrs.evolve(node, rbcs=(*node.rbcs[:j], sub, *node.rbcs[j + 1 :]))
    acc = _Acc(list(out.broadcasts))
    if out.delivered is not None:
        node = attrs.evolve(
            node, delivered=(*node.delivered[:j], out.delivered, *node.delivered[j + 1 :])
        )
        # Fig. 4 line 1: input 1 to BA_j unless an input was already provided
        if node.ba_input[j] is None:
            node = _give_input(node, j, 1, acc)
    return _finish(node, acc)


@attrs.define
class _Acc:
    """What one step emits, gathered while sub-protocol steps cascade."""

    broadcasts: list[rbc.Message | aba.Message]
    inputs: list[tuple[int, int]] = attrs.Factory(list)


def _finish(node: Node, acc: _Acc) -> tuple[Node, Effects]:
    node, output = _try_output(node)
    effects = Effects(broadcasts=tuple(acc.broadcasts), aba_inputs=tuple(acc.inputs), output=output)
    return node, effects


def _give_input(node: Node, j: int, bit: int, acc: _Acc) -> Node:
    acc.inputs.append((j, bit))
    node = attrs.evolve(node, ba_input=(*node.ba_input[:j], bit, *node.ba_input[j + 1 :]))
    if node.abas is None:
        return node
    sub, out = aba.step(node.abas[j], aba.Input(bit))
    return _lift_aba_out(node, j, sub, out, acc)


def _lift_aba_out(node: Node, j: int, sub: aba.Node, out: aba.Effects, acc: _Acc) -> Node:
    assert node.abas is not None
    node = attrs.evolve(node, abas=(*node.abas[:j], sub, *node.abas[j + 1 :]))
    acc.broadcasts.extend(out.broadcasts)
    if out.decided is not None and node.ba_decision[j] is None:
        node = _record_decision(node, j, out.decided, acc)
    return node


def _try_output(node: Node) -> tuple[Node, tuple[Entry, ...] | None]:
    # Fig. 4 line 3: all BAs completed, and every RBC_j with BA_j = 1 delivered
    if node.output is not None or None in node.ba_decision:
        return node, None
    chosen = [j for j, d in enumerate(node.ba_decision) if d == 1]
    entries = []
    for j in chosen:
        v = node.delivered[j]
        if v is None:
            return node, None
        entries.append((j, v))
    output = tuple(entries)
    return attrs.evolve(node, output=output), output


def step(node: Node, event: Event) -> tuple[Node, Effects]:
    """Handles one event; a peer's bad message is a fault and leaves ``node`` unchanged."""
    c = node.config
    if isinstance(event, Propose):
        try:
            return _lift_rbc(node, c.me, rbc.Input(event.value))
        except rbc.LocalMisuseError as error:
            raise LocalMisuseError(str(error)) from error
    if isinstance(event, AbaDecided):
        return _decided(node, event)
    message = event.message
    if isinstance(message, aba.Message) and node.abas is not None:
        return _receive_aba(node, event.sender, message)
    # Verify the message's shape and instance (the RBC instance checks the rest)
    if not isinstance(message, rbc.Message) or type(message.instance) is not int:
        return node, Effects(faults=(Fault(event.sender, FaultKind.MALFORMED),))
    if not 0 <= message.instance < c.n:
        return node, Effects(faults=(Fault(event.sender, FaultKind.UNKNOWN_INSTANCE),))
    return _lift_rbc(node, message.instance, rbc.Receive(event.sender, message))


def _receive_aba(node: Node, sender: int, message: aba.Message) -> tuple[Node, Effects]:
    c = node.config
    assert node.abas is not None and c.aba is not None
    # Verify the instance belongs to this session (BA_j is instance session·n + j)
    if type(message.instance) is not int:
        return node, Effects(faults=(Fault(sender, FaultKind.MALFORMED),))
    j = message.instance - c.aba.session * c.n
    if not 0 <= j < c.n:
        return node, Effects(faults=(Fault(sender, FaultKind.UNKNOWN_INSTANCE),))
    sub, out = aba.step(node.abas[j], aba.Receive(sender, message))
    if out.faults:
        return node, Effects(faults=tuple(Fault(f.sender, f.kind, j) for f in out.faults))
    acc = _Acc([])
    node = _lift_aba_out(node, j, sub, out, acc)
    return _finish(node, acc)


def _decided(node: Node, event: AbaDecided) -> tuple[Node, Effects]:
    c = node.config
    j, bit = event.instance, event.bit
    if node.abas is not None:
        raise LocalMisuseError("the BAs are embedded: their decisions are not events")
    if type(j) is not int or not 0 <= j < c.n or bit not in (0, 1) or type(bit) is not int:
        raise LocalMisuseError(f"no BA decision {bit!r} for instance {j!r}")
    if node.ba_decision[j] is not None:
        if node.ba_decision[j] != bit:
            raise LocalMisuseError(f"BA_{j} decided twice, {node.ba_decision[j]} then {bit}")
        return node, NOTHING
    acc = _Acc([])
    node = _record_decision(node, j, bit, acc)
    return _finish(node, acc)


def _record_decision(node: Node, j: int, bit: int, acc: _Acc) -> Node:
    c = node.config
    node = attrs.evolve(node, ba_decision=(*node.ba_decision[:j], bit, *node.ba_decision[j + 1 :]))
    # Fig. 4 line 2: n − f ones: input 0 to every BA not yet given input
    if sum(d == 1 for d in node.ba_decision) >= c.n - c.f:
        for k in range(c.n):
            if node.ba_input[k] is None:
                node = _give_input(node, k, 0, acc)
    return node
