"""A sans-IO HoneyBadgerBFT node, one epoch at a time: ``step(node, event, ops)``.

Refines :mod:`mnemosyne_consensus.spec.honeybadger`. Source: Miller, Xia, Croman, Shi, Song,
"The Honey Badger of BFT Protocols", CCS 2016, §4.5 and Figure 1 ("HoneyBadgerBFT", for party
P_i in epoch r):

    line 1  "let proposed be a random selection of ⌊B/N⌋ transactions from the first B elements
            of buf"                                    -> :func:`select_batch` (``StartEpoch``);
    line 2  "encrypt x := TPKE.Enc(PK, proposed)"      -> :func:`threshold_encryption.encrypt`
            with label = the epoch, randomness derived from the event's seed;
    line 3  "pass x as input to ACS_r"                 -> :mod:`.acs` (``Propose``);
    line 4  "receive {v_j}_{j∈S}, where S ⊂ [1..N], from ACS_r";
    line 5  "for each j ∈ S: let e_j := TPKE.DecShare(SK_i, v_j); multicast DEC(r, j, i, e_j);
            wait to receive at least f+1 messages of the form DEC(r, j, k, e_{j,k});
            decode y_j := TPKE.Dec(PK, {(k, e_{j,k})})" -> shares verified one by one with their
            DLEQ proofs (:func:`threshold_encryption.verify_decryption_share`), combined as soon
            as f+1 are valid;
    line 6  "let block_r := sorted(∪_{j∈S} y_j)"       -> the sorted set of the transactions;
    line 7  "set buf := buf − block_r"                 -> the queue loses the block's
            transactions; the node moves to epoch r + 1.

Randomness is an input (``StartEpoch.seed``): the subset is the ⌊B/N⌋ of the first B queued
transactions with the least SHA-256(seed, tx), and the encryption's randomness is
SHA-256(seed, node); the same seed gives the same proposal.

A proposal v_j that is not a well-formed ciphertext with label r and a valid TDH2 proof, or whose
body does not open under the combined key (DECRYPTION_FAILED), or whose plaintext is not a JSON
list of strings, contributes nothing: every correct node gets the same v_j from ACS, and with
verified shares the same key, so all drop it alike (the paper leaves this case implicit).

The binary agreements of ACS come in two ways (see :mod:`.acs`):

* *real* (``NodeConfig.coin_public`` set): every epoch's ACS embeds n real
  :mod:`.aba` nodes (MMR with the CONF round, hbbft's TERM termination, the
  Cachin-Kursawe-Shoup threshold coin) whose *session* is the epoch, so each epoch's coins are
  fresh (coin name ``aba/epoch/instance/round``); their messages travel as ``AcsMessage`` like
  the RBC ones. A node that output its block leaves the epoch: its ABAs have decided and sent
  TERM, its RBCs of the subset have sent READY, and it has sent its decryption shares, which is
  all the slower nodes need from it;
* *ports* (no coin keys): the node emits ``aba_inputs`` (epoch, j, bit) and takes
  ``AbaDecided`` events from whatever ABA the caller runs (the simulation's ideal one).

Messages of another epoch: a past epoch's are ignored (no fault: late messages are normal); a
future epoch's are refused with FUTURE_EPOCH and the state unchanged, for the transport to
deliver again later (the node keeps one epoch's state).
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable

import attrs

from . import aba as aba_impl
from . import acs as acs_impl
from . import rbc as rbc_impl
from . import threshold_coin as coin
from . import threshold_encryption as tpke
from .threshold_group import Dleq

VerifyShare = Callable[
    [tpke.EncryptionPublicKey, tpke.Ciphertext, tpke.DecryptionShare, "int | None"],
    "tpke.DecryptionFault | None",
]


@attrs.frozen
class Ops:
    """The checks a node runs; :data:`STANDARD_OPS` is the protocol, mutants swap one."""

    verify_share: VerifyShare = tpke.verify_decryption_share


STANDARD_OPS = Ops()


@attrs.frozen(cache_hash=True)
class NodeConfig:
    me: int
    n: int
    f: int
    batch_size: int  # B
    public: tpke.EncryptionPublicKey
    secret: tpke.DecryptionKeyShare = attrs.field(repr=False)
    # the real ABAs' threshold coin (None: the ABAs are ports) and their last round
    coin_public: coin.CoinPublicKey | None = None
    coin_secret: coin.CoinSecretShare | None = attrs.field(default=None, repr=False)
    aba_max_round: int = 64


@attrs.frozen(cache_hash=True)
class Node:
    # identity, keys and configuration (constant)
    config: NodeConfig
    # the application's queue (buf) and the blocks output so far
    queue: tuple[str, ...]
    log: tuple[tuple[str, ...], ...]
    # the current epoch r, whether this node proposed in it, and its ACS instance
    epoch: int
    proposed: bool
    acs: acs_impl.Node
    # decryption: ACS's output S as (j, ciphertext or None if unusable), or None before it;
    # the verified shares per proposer of S; shares received before S was known; the y_j
    subset: tuple[tuple[int, tpke.Ciphertext | None], ...] | None
    shares: tuple[tuple[tpke.DecryptionShare, ...], ...]
    early: tuple[tuple[int, int, tpke.DecryptionShare], ...]
    plaintexts: tuple[tuple[str, ...] | None, ...]


def new_node(config: NodeConfig, queue: tuple[str, ...] = ()) -> Node:
    return _fresh_epoch(config, queue, (), 0)


def _fresh_epoch(
    config: NodeConfig, queue: tuple[str, ...], log: tuple[tuple[str, ...], ...], epoch: int
) -> Node:
    setup = None
    if config.coin_public is not None and config.coin_secret is not None:
        # the epoch is the ABAs' session: fresh coins every epoch
        setup = acs_impl.AbaSetup(
            config.aba_max_round, config.coin_public, config.coin_secret, session=epoch
        )
    acs = acs_impl.new_node(acs_impl.NodeConfig(config.me, config.n, config.f, setup))
    n = config.n
    return Node(config, queue, log, epoch, False, acs, None, ((),) * n, (), (None,) * n)


# -- Messages and events ------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class AcsMessage:
    """A message of epoch ``epoch``'s ACS: an RBC message, or a real ABA's (with instance)."""

    epoch: int
    message: rbc_impl.Message | aba_impl.Message


@attrs.frozen(cache_hash=True)
class DecMessage:
    """DEC(r, j, i, e_j): node i's decryption share of proposer j's ciphertext in epoch r."""

    epoch: int
    proposer: int
    share: tpke.DecryptionShare


Message = AcsMessage | DecMessage


@attrs.frozen
class Submit:
    """The application queues transactions (local)."""

    transactions: tuple[str, ...]


@attrs.frozen
class StartEpoch:
    """Propose in the current epoch; ``seed`` is the randomness (at least 16 bytes)."""

    seed: bytes


@attrs.frozen
class Receive:
    sender: int
    message: Message


@attrs.frozen
class AbaDecided:
    epoch: int
    instance: int
    bit: int


Event = Submit | StartEpoch | Receive | AbaDecided


class FaultKind(enum.Enum):
    """Why a peer's message was rejected by the epoch layer (the node's state is unchanged)."""

    MALFORMED = "malformed"  #: not a message of this protocol, or a field of the wrong type
    FUTURE_EPOCH = "future_epoch"  #: a message of a later epoch (the transport may retry)
    NOT_IN_SUBSET = "not_in_subset"  #: a share for a proposer that ACS left out
    DUPLICATE_SHARE = "duplicate_share"  #: a second share from one node for one proposer


@attrs.frozen
class Fault:
    sender: object
    kind: FaultKind | acs_impl.FaultKind | rbc_impl.FaultKind | tpke.DecryptionFault
    detail: str = ""


@attrs.frozen
class Block:
    epoch: int
    transactions: tuple[str, ...]


@attrs.frozen
class Effects:
    broadcasts: tuple[Message, ...] = ()
    aba_inputs: tuple[tuple[int, int, int], ...] = ()  # (epoch, instance, bit)
    block: Block | None = None
    faults: tuple[Fault, ...] = ()


NOTHING = Effects()


class LocalMisuseError(Exception):
    """The application asked for something the protocol does not allow."""


# -- Figure 1, lines 1-2: the proposal ----------------------------------------------------------


def select_batch(queue: tuple[str, ...], batch_size: int, n: int, seed: bytes) -> tuple[str, ...]:
    """Fig. 1 line 1: ⌊B/N⌋ of the first B transactions, chosen by the seed (sorted)."""
    window = tuple(dict.fromkeys(queue[:batch_size]))
    k = batch_size // n
    ranked = sorted(window, key=lambda tx: hashlib.sha256(seed + tx.encode()).digest())
    return tuple(sorted(ranked[:k]))


def encode_batch(transactions: tuple[str, ...]) -> bytes:
    return json.dumps(list(transactions), separators=(",", ":")).encode()


def decode_batch(plaintext: bytes) -> tuple[str, ...] | None:
    try:
        value = json.loads(plaintext)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(tx, str) for tx in value):
        return None
    return tuple(value)


def epoch_label(epoch: int) -> bytes:
    return b"honeybadger/epoch/" + str(epoch).encode()


def encode_ciphertext(ct: tpke.Ciphertext) -> str:
    """A ciphertext as the RBC value (a string): hex fields joined by ':'."""
    h = ct.header
    return ":".join(
        (h.label.hex(), h.c.hex(), h.u.hex(), h.u_bar.hex(), f"{h.e:x}", f"{h.f:x}", ct.body.hex())
    )


def decode_ciphertext(value: str) -> tpke.Ciphertext | None:
    parts = value.split(":")
    if len(parts) != 7:
        return None
    try:
        label, c, u, u_bar = (bytes.fromhex(p) for p in parts[:4])
        e, f = int(parts[4], 16), int(parts[5], 16)
        body = bytes.fromhex(parts[6])
    except ValueError:
        return None
    return tpke.Ciphertext(tpke.Tdh2Ciphertext(label, c, u, u_bar, e, f), body)


def _seeded(seed: bytes, me: int) -> bytes:
    return hashlib.sha256(b"honeybadger/encrypt/" + seed + me.to_bytes(2, "big")).digest()


# -- The step function --------------------------------------------------------------------------


def step(node: Node, event: Event, ops: Ops = STANDARD_OPS) -> tuple[Node, Effects]:
    """Handles one event; a peer's bad message is a fault and leaves ``node`` unchanged."""
    c = node.config
    if isinstance(event, Submit):
        return attrs.evolve(node, queue=node.queue + tuple(event.transactions)), NOTHING
    if isinstance(event, StartEpoch):
        if node.proposed:
            raise LocalMisuseError(f"node {c.me} already proposed in epoch {node.epoch}")
        if not isinstance(event.seed, bytes) or len(event.seed) < 16:
            raise LocalMisuseError("StartEpoch needs a seed of at least 16 bytes")
        batch = select_batch(node.queue, c.batch_size, c.n, event.seed)
        ct = tpke.encrypt(
            c.public, epoch_label(node.epoch), encode_batch(batch), _seeded(event.seed, c.me)
        )
        node = attrs.evolve(node, proposed=True)
        return _lift_acs(node, acs_impl.Propose(encode_ciphertext(ct)), ops)
    if isinstance(event, AbaDecided):
        if node.acs.abas is not None:
            raise LocalMisuseError("the ABAs are real (embedded): their decisions are not events")
        if event.epoch != node.epoch:
            raise LocalMisuseError(f"a BA decision of epoch {event.epoch} in {node.epoch}")
        return _lift_acs(node, acs_impl.AbaDecided(event.instance, event.bit), ops)
    sender, message = event.sender, event.message
    # Verify the sender and the message's shape and epoch
    if type(sender) is not int or not 0 <= sender < c.n or sender == c.me:
        return node, Effects(faults=(Fault(sender, acs_impl.rbc.FaultKind.UNKNOWN_SENDER),))
    if not isinstance(message, AcsMessage | DecMessage) or type(message.epoch) is not int:
        return node, Effects(faults=(Fault(sender, FaultKind.MALFORMED),))
    if message.epoch < node.epoch:
        return node, NOTHING  # late: the epoch is over
    if message.epoch > node.epoch:
        return node, Effects(faults=(Fault(sender, FaultKind.FUTURE_EPOCH),))
    if isinstance(message, AcsMessage):
        return _lift_acs(node, acs_impl.Receive(sender, message.message), ops)
    return _receive_share(node, sender, message, ops)


def _lift_acs(node: Node, event: acs_impl.Event, ops: Ops) -> tuple[Node, Effects]:
    sub, out = acs_impl.step(node.acs, event)
    if out.faults:
        return node, Effects(
            faults=tuple(Fault(f.sender, f.kind, f"rbc {f.instance}") for f in out.faults)
        )
    node = attrs.evolve(node, acs=sub)
    broadcasts: list[Message] = [AcsMessage(node.epoch, m) for m in out.broadcasts]
    inputs = tuple((node.epoch, j, b) for j, b in out.aba_inputs)
    if out.output is None:
        return node, Effects(broadcasts=tuple(broadcasts), aba_inputs=inputs)
    # Fig. 1 line 4: ACS output {v_j}_{j∈S}; line 5: our share of each usable ciphertext
    label = epoch_label(node.epoch)
    subset = []
    for j, value in out.output:
        ct = decode_ciphertext(value)
        if ct is not None and tpke.verify_ciphertext(ct, label) is not None:
            ct = None
        subset.append((j, ct))
    node = attrs.evolve(node, subset=tuple(subset))
    for j, ct in node.subset or ():
        if ct is None:
            node = _set_plaintext(node, j, ())
            continue
        share = tpke.decryption_share(node.config.public, node.config.secret, ct)
        assert isinstance(share, tpke.DecryptionShare)  # ct was verified above
        broadcasts.append(DecMessage(node.epoch, j, share))
        node = _add_share(node, j, share)
    # shares that arrived before S was known: verified now, in arrival order
    early, node = node.early, attrs.evolve(node, early=())
    for sender, j, share in early:
        node, _ = _accept_share(node, sender, j, share, ops)
    for j, _ in node.subset or ():
        node = _try_decrypt(node, j)
    node, block = _try_block(node)
    return node, Effects(broadcasts=tuple(broadcasts), aba_inputs=inputs, block=block)


def _receive_share(node: Node, sender: int, message: DecMessage, ops: Ops) -> tuple[Node, Effects]:
    j, share = message.proposer, message.share
    if type(j) is not int or not 0 <= j < node.config.n:
        return node, Effects(faults=(Fault(sender, FaultKind.MALFORMED),))
    if not isinstance(share, tpke.DecryptionShare) or not isinstance(share.proof, Dleq):
        return node, Effects(faults=(Fault(sender, FaultKind.MALFORMED),))
    if node.subset is None:
        # S is not known yet: keep the first share of each sender for each proposer
        if any(s == sender and k == j for s, k, _ in node.early):
            return node, Effects(faults=(Fault(sender, FaultKind.DUPLICATE_SHARE),))
        return attrs.evolve(node, early=(*node.early, (sender, j, share))), NOTHING
    new, fault = _accept_share(node, sender, j, share, ops)
    if fault is not None:
        return node, Effects(faults=(fault,))
    new = _try_decrypt(new, j)
    new, block = _try_block(new)
    return new, Effects(block=block)


def _accept_share(
    node: Node, sender: int, j: int, share: tpke.DecryptionShare, ops: Ops
) -> tuple[Node, Fault | None]:
    ciphertexts = dict(node.subset or ())
    if j not in ciphertexts:
        return node, Fault(sender, FaultKind.NOT_IN_SUBSET)
    ct = ciphertexts[j]
    if ct is None or node.plaintexts[j] is not None:
        return node, None  # nothing to decrypt (any more): the share is not needed
    if any(s.index == sender for s in node.shares[j]):
        return node, Fault(sender, FaultKind.DUPLICATE_SHARE)
    # Verify the share (index = sender, for this ciphertext, its DLEQ proof)
    problem = ops.verify_share(node.config.public, ct, share, sender)
    if problem is not None:
        return node, Fault(sender, problem)
    return _add_share(node, j, share), None


def _add_share(node: Node, j: int, share: tpke.DecryptionShare) -> Node:
    shares = (*node.shares[:j], (*node.shares[j], share), *node.shares[j + 1 :])
    return attrs.evolve(node, shares=shares)


def _set_plaintext(node: Node, j: int, txs: tuple[str, ...]) -> Node:
    return attrs.evolve(node, plaintexts=(*node.plaintexts[:j], txs, *node.plaintexts[j + 1 :]))


def _try_decrypt(node: Node, j: int) -> Node:
    """Fig. 1 line 5: with f+1 verified shares, y_j := TPKE.Dec (a failure contributes nothing)."""
    ct = dict(node.subset or ()).get(j)
    c = node.config
    if ct is None or node.plaintexts[j] is not None or len(node.shares[j]) < c.f + 1:
        return node
    plain = tpke.combine_verified_shares(c.public, ct, node.shares[j][: c.f + 1])
    txs = decode_batch(plain) if isinstance(plain, bytes) else None
    return _set_plaintext(node, j, txs if txs is not None else ())


def _try_block(node: Node) -> tuple[Node, Block | None]:
    """Fig. 1 lines 6-7: every y_j known: the sorted block; the queue loses it; next epoch."""
    if node.subset is None or any(node.plaintexts[j] is None for j, _ in node.subset):
        return node, None
    txs = tuple(sorted({tx for j, _ in node.subset for tx in node.plaintexts[j] or ()}))
    chosen = set(txs)
    queue = tuple(tx for tx in node.queue if tx not in chosen)
    block = Block(node.epoch, txs)
    fresh = _fresh_epoch(node.config, queue, (*node.log, txs), node.epoch + 1)
    return fresh, block
