"""A sans-IO Bracha reliable-broadcast node: ``step(node, event) -> (node, effects)``.

Refines :mod:`mnemosyne_consensus.spec.rbc` (Bracha 1987, section 2; HoneyBadgerBFT Figure 2
for the thresholds). One node of one broadcast *instance*: the instance is named by its sender
(in ACS there are n instances, one per proposer, and every message carries its instance).

The node keeps the protocol's variables and its own tallies: the first ⟨VAL⟩ it got from the
sender, and the first ⟨ECHO⟩ and ⟨READY⟩ of every node (channels are authenticated: the
transport tells who sent a message; there are no signatures in Bracha's protocol). Its own
ECHO and READY are counted when sent (the transport does not loop them back).

Events
    ``Input(value)``           the sender's application broadcasts ``value`` (local: a second
                               input, or an input at another node, raises LocalMisuseError);
    ``Receive(sender, message)``  a message from node ``sender``.
Rules fired after a receipt, in this order: echo (first VAL), ready on ⌈(n+f+1)/2⌉ echoes or on
f+1 readies, deliver on 2f+1 readies. A node that sent READY no longer needs echoes and ignores
them; a node that delivered ignores everything (no fault: late messages are normal).

Validation (one check per line, in this order; the first failure is the fault, nothing changes)
    UNKNOWN_SENDER, MALFORMED, WRONG_INSTANCE, NOT_SENDER (a VAL from another node than the
    instance's sender), DUPLICATE (the same message again from one sender), EQUIVOCATION (a second
    VAL/ECHO/READY with another value from one sender: the first one counts).

The erasure-coded variant of the HoneyBadger paper (Figure 2; Cachin & Tessaro's AVID) is
:func:`avid_step` below, on :mod:`.erasure` (zfec Reed-Solomon and a Merkle commitment); it
refines the AVID section of :mod:`mnemosyne_consensus.spec.rbc` (checked step by step by the
``avid-impl*`` configs of :mod:`mnemosyne_consensus.model_checks.rbc`).
"""

from __future__ import annotations

import enum

import attrs

from . import erasure

VAL, ECHO, READY = "val", "echo", "ready"
KINDS = (VAL, ECHO, READY)


def echo_quorum(n: int, f: int) -> int:
    """⌈(n+f+1)/2⌉: the smallest integer strictly above (n+f)/2 (2f+1 when n = 3f+1)."""
    return (n + f + 2) // 2


@attrs.frozen(cache_hash=True)
class NodeConfig:
    me: int
    n: int
    f: int
    sender: int  # the instance: whose broadcast this is


@attrs.frozen(cache_hash=True)
class Message:
    """⟨VAL, v⟩, ⟨ECHO, v⟩ or ⟨READY, v⟩ of the broadcast instance of node ``instance``."""

    kind: str
    instance: int
    value: str


@attrs.frozen(cache_hash=True)
class Node:
    # identity and configuration (constant)
    config: NodeConfig
    # the once-only sends and the output (None: not yet)
    echoed: str | None
    readied: str | None
    delivered: str | None
    # tallies: the first VAL from the sender; (sender, value) of the first ECHO/READY per node
    val: str | None
    echoes: tuple[tuple[int, str], ...]
    readies: tuple[tuple[int, str], ...]


def new_node(config: NodeConfig) -> Node:
    return Node(config, None, None, None, None, (), ())


@attrs.frozen
class Input:
    value: str


@attrs.frozen
class Receive:
    sender: int
    message: Message


Event = Input | Receive


class FaultKind(enum.Enum):
    """Why a peer's message was rejected (the node's state is unchanged)."""

    UNKNOWN_SENDER = "unknown_sender"  #: the sender is not a node of the instance
    MALFORMED = "malformed"  #: a field has the wrong type (kind, instance, value)
    WRONG_INSTANCE = "wrong_instance"  #: the message belongs to another broadcast instance
    NOT_SENDER = "not_sender"  #: a VAL from another node than the instance's sender
    DUPLICATE = "duplicate"  #: the same message again from one sender
    EQUIVOCATION = "equivocation"  #: a second message of one kind with another value
    BAD_BRANCH = (
        "bad_branch"  #: (AVID) a block whose Merkle branch does not verify, or not its index
    )


@attrs.frozen
class Fault:
    sender: object
    kind: FaultKind


@attrs.frozen
class Effects:
    broadcasts: tuple[Message, ...] = ()
    delivered: str | None = None
    faults: tuple[Fault, ...] = ()


NOTHING = Effects()


class LocalMisuseError(Exception):
    """The application asked for something the protocol does not allow."""


def _fault(message: object, sender: object, node: Node) -> FaultKind | None:
    c = node.config
    # Verify that the sender is another node of the instance
    if type(sender) is not int or not 0 <= sender < c.n or sender == c.me:
        return FaultKind.UNKNOWN_SENDER
    # Verify the fields' shapes
    if not isinstance(message, Message) or message.kind not in KINDS:
        return FaultKind.MALFORMED
    if type(message.instance) is not int or type(message.value) is not str:
        return FaultKind.MALFORMED
    # Verify the instance
    if message.instance != c.sender:
        return FaultKind.WRONG_INSTANCE
    # Verify that a VAL comes from the sender
    if message.kind == VAL and sender != c.sender:
        return FaultKind.NOT_SENDER
    # Verify that the sender did not send this kind before
    if message.kind == VAL:
        first = node.val
    else:
        tally = node.echoes if message.kind == ECHO else node.readies
        first = next((v for s, v in tally if s == sender), None)
    if first is not None:
        return FaultKind.DUPLICATE if first == message.value else FaultKind.EQUIVOCATION
    return None


def _count(tally: tuple[tuple[int, str], ...], value: str) -> int:
    return sum(1 for _, v in tally if v == value)


def _add(
    tally: tuple[tuple[int, str], ...], sender: int, value: str
) -> tuple[tuple[int, str], ...]:
    return tuple(sorted((*tally, (sender, value))))


def step(node: Node, event: Event) -> tuple[Node, Effects]:
    """Handles one event; a peer's bad input is a fault and leaves ``node`` unchanged."""
    c = node.config
    if isinstance(event, Input):
        if c.me != c.sender or node.val is not None:
            raise LocalMisuseError(f"node {c.me} may not broadcast in instance {c.sender}")
        out = Message(VAL, c.sender, event.value)
        node = attrs.evolve(node, val=event.value)
        return _fire(node, [out])
    message, sender = event.message, event.sender
    if node.delivered is not None:
        return node, NOTHING  # terminated: late messages are ignored
    if isinstance(message, Message) and message.kind == ECHO and node.readied is not None:
        if _fault(message, sender, node) in (None, FaultKind.DUPLICATE, FaultKind.EQUIVOCATION):
            return node, NOTHING  # echoes no longer matter once READY is sent
    kind = _fault(message, sender, node)
    if kind is not None:
        return node, Effects(faults=(Fault(sender, kind),))
    if type(sender) is not int:  # unreachable: validated above
        raise TypeError("validated sender expected")
    if message.kind == VAL:
        node = attrs.evolve(node, val=message.value)
    elif message.kind == ECHO:
        node = attrs.evolve(node, echoes=_add(node.echoes, sender, message.value))
    else:
        node = attrs.evolve(node, readies=_add(node.readies, sender, message.value))
    return _fire(node, [])


def _fire(node: Node, sent: list[Message]) -> tuple[Node, Effects]:
    """Runs the rules that the new tallies enable (each at most once)."""
    c = node.config
    me = c.me
    if node.echoed is None and node.val is not None:
        v = node.val
        sent.append(Message(ECHO, c.sender, v))
        node = attrs.evolve(node, echoed=v, echoes=_add(node.echoes, me, v))
    if node.readied is None:
        for v in sorted({v for _, v in node.echoes} | {v for _, v in node.readies}):
            if (
                _count(node.echoes, v) >= echo_quorum(c.n, c.f)
                or _count(node.readies, v) >= c.f + 1
            ):
                sent.append(Message(READY, c.sender, v))
                node = attrs.evolve(node, readied=v, readies=_add(node.readies, me, v))
                break
    delivered = None
    if node.delivered is None:
        for v in sorted({v for _, v in node.readies}):
            if _count(node.readies, v) >= 2 * c.f + 1:
                node = attrs.evolve(node, delivered=v)
                delivered = v
                break
    return node, Effects(broadcasts=tuple(sent), delivered=delivered)


# -- The erasure-coded variant (HoneyBadgerBFT Figure 2, Cachin & Tessaro's AVID) -----------------
#
#   sender input v:   {s_j} = RS(N−2f, N) encoding of v, h = Merkle root; VAL(h, b_j, s_j) to j
#   VAL(h, b_i, s_i) from the sender (first):   multicast ECHO(h, b_i, s_i)
#   valid ECHO(h, b_j, s_j) from N − f nodes:   decode from N−2f blocks, re-encode, recompute the
#                                               root; if it is not h, abort; else READY(h) (once)
#   f+1 READY(h):                               READY(h) (once; amplification)
#   2f+1 READY(h) and N−2f valid ECHO(h):       decode v, re-encode check, deliver v (or abort)
#
# Thresholds are the paper's (N − f echoes; N − f ≥ ⌈(N+f+1)/2⌉ for every N > 3f). A block is
# valid when its branch proves it is leaf j of h, j being the node that echoes it (or, in a VAL,
# the recipient). "Abort" ends the instance without output: every correct node that decodes
# under h reaches the same verdict (erasure.reconstruct), so abort is agreed on like a value.


@attrs.frozen(cache_hash=True)
class AvidVal:
    instance: int
    root: bytes
    index: int
    block: bytes
    branch: tuple[bytes, ...]


@attrs.frozen(cache_hash=True)
class AvidEcho:
    instance: int
    root: bytes
    index: int
    block: bytes
    branch: tuple[bytes, ...]


@attrs.frozen(cache_hash=True)
class AvidReady:
    instance: int
    root: bytes


@attrs.frozen(cache_hash=True)
class AvidNode:
    # identity and configuration (constant)
    config: NodeConfig
    # the once-only sends (the root echoed / readied) and the outcome
    echoed: bytes | None
    readied: bytes | None
    delivered: bytes | None
    aborted: bool
    # tallies: the first VAL's root, (sender, root, block) of valid ECHOs, (sender, root) READYs
    val_root: bytes | None
    echoes: tuple[tuple[int, bytes, bytes], ...]
    readies: tuple[tuple[int, bytes], ...]


def new_avid_node(config: NodeConfig) -> AvidNode:
    return AvidNode(config, None, None, None, False, None, (), ())


@attrs.frozen
class AvidEffects:
    sends: tuple[tuple[int, AvidVal], ...] = ()  # point-to-point VALs (the sender only)
    broadcasts: tuple[AvidEcho | AvidReady, ...] = ()
    delivered: bytes | None = None
    aborted: bool = False
    faults: tuple[Fault, ...] = ()


def _avid_k(c: NodeConfig) -> int:
    return c.n - 2 * c.f


def _avid_fault(node: AvidNode, sender: object, m: object) -> FaultKind | None:
    c = node.config
    # Verify the sender
    if type(sender) is not int or not 0 <= sender < c.n or sender == c.me:
        return FaultKind.UNKNOWN_SENDER
    # Verify the shape
    if not isinstance(m, AvidVal | AvidEcho | AvidReady):
        return FaultKind.MALFORMED
    if type(m.instance) is not int or not isinstance(m.root, bytes) or len(m.root) != 32:
        return FaultKind.MALFORMED
    if m.instance != c.sender:
        return FaultKind.WRONG_INSTANCE
    if isinstance(m, AvidReady):
        first = dict(node.readies).get(sender)
        if first is not None:
            return FaultKind.DUPLICATE if first == m.root else FaultKind.EQUIVOCATION
        return None
    if not isinstance(m.block, bytes) or not isinstance(m.branch, tuple):
        return FaultKind.MALFORMED
    if isinstance(m, AvidVal):
        # Verify that the VAL comes from the sender, with the recipient's own block
        if sender != c.sender:
            return FaultKind.NOT_SENDER
        if node.val_root is not None:
            return FaultKind.DUPLICATE if node.val_root == m.root else FaultKind.EQUIVOCATION
        owner = c.me
    else:
        first_echo = next((r for s, r, _ in node.echoes if s == sender), None)
        if first_echo is not None:
            return FaultKind.DUPLICATE if first_echo == m.root else FaultKind.EQUIVOCATION
        owner = sender
    # Verify the block is leaf `owner` of the tree with this root
    if m.index != owner or erasure.verify_branch(m.root, c.n, m.index, m.block, m.branch):
        return FaultKind.BAD_BRANCH
    return None


def avid_step(node: AvidNode, event: Input | Receive) -> tuple[AvidNode, AvidEffects]:
    """One event of the erasure-coded RBC; ``Input.value`` is the payload (bytes)."""
    c = node.config
    if isinstance(event, Input):
        if c.me != c.sender or node.val_root is not None or not isinstance(event.value, bytes):
            raise LocalMisuseError(f"node {c.me} may not broadcast in instance {c.sender}")
        d = erasure.disperse(event.value, _avid_k(c), c.n)
        vals = tuple(
            (j, AvidVal(c.sender, d.root, j, d.blocks[j], d.branches[j])) for j in range(c.n)
        )
        mine = vals[c.me][1]
        node = attrs.evolve(node, val_root=d.root)
        node, effects = _avid_fire(node, [], mine)
        return node, attrs.evolve(effects, sends=tuple(v for v in vals if v[0] != c.me))
    if node.delivered is not None or node.aborted:
        return node, AvidEffects()
    kind = _avid_fault(node, event.sender, event.message)
    if kind is not None:
        return node, AvidEffects(faults=(Fault(event.sender, kind),))
    m, sender = event.message, event.sender
    mine_val = None
    if isinstance(m, AvidVal):
        node = attrs.evolve(node, val_root=m.root)
        mine_val = m
    elif isinstance(m, AvidEcho):
        entry = (sender, m.root, m.block)
        node = attrs.evolve(node, echoes=tuple(sorted((*node.echoes, entry))))
    else:
        node = attrs.evolve(node, readies=tuple(sorted((*node.readies, (sender, m.root)))))
    return _avid_fire(node, [], mine_val)


def _blocks(node: AvidNode, root: bytes) -> list[tuple[int, bytes]]:
    return [(s, b) for s, r, b in node.echoes if r == root]


def _avid_fire(
    node: AvidNode, out: list[AvidEcho | AvidReady], val: AvidVal | None
) -> tuple[AvidNode, AvidEffects]:
    c = node.config
    k = _avid_k(c)
    if val is not None and node.echoed is None:
        echo = AvidEcho(c.sender, val.root, val.index, val.block, val.branch)
        out.append(echo)
        entry = (c.me, val.root, val.block)
        node = attrs.evolve(node, echoed=val.root, echoes=tuple(sorted((*node.echoes, entry))))
    if node.readied is None:
        roots = sorted({r for _, r, _ in node.echoes} | {r for _, r in node.readies})
        for root in roots:
            blocks = _blocks(node, root)
            if len(blocks) >= c.n - c.f:
                # decode from N−2f blocks, re-encode, compare the root (HB Fig. 2)
                if isinstance(erasure.reconstruct(root, blocks[:k], k, c.n), erasure.Rejected):
                    return attrs.evolve(node, aborted=True), AvidEffects(
                        broadcasts=tuple(out), aborted=True
                    )
            elif sum(1 for _, r in node.readies if r == root) < c.f + 1:
                continue
            out.append(AvidReady(c.sender, root))
            node = attrs.evolve(
                node, readied=root, readies=tuple(sorted((*node.readies, (c.me, root))))
            )
            break
    for root in sorted({r for _, r in node.readies}):
        if sum(1 for _, r in node.readies if r == root) >= 2 * c.f + 1:
            blocks = _blocks(node, root)
            if len(blocks) >= k:
                payload = erasure.reconstruct(root, blocks[:k], k, c.n)
                if isinstance(payload, erasure.Rejected):
                    node = attrs.evolve(node, aborted=True)
                    return node, AvidEffects(broadcasts=tuple(out), aborted=True)
                node = attrs.evolve(node, delivered=payload)
                return node, AvidEffects(broadcasts=tuple(out), delivered=payload)
    return node, AvidEffects(broadcasts=tuple(out))
