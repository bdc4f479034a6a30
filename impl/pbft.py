"""A sans-IO PBFT replica and client: ``step(node, event) -> (node, effects)``, Ed25519-signed.

Refines :mod:`mnemosyne_consensus.spec.pbft` (Castro & Liskov, OSDI 1999 section 4; TOCS 2002
section 2.3, BFT-PK: every message is signed). The replica keeps the spec's variables (view,
whether the view is active, the executed requests, the low water mark h) and what it must show
or remember: the proof C of its stable checkpoint, the pre-prepares it accepted, its prepared
certificates (the P set of its next VIEW-CHANGE), its own VIEW-CHANGE and the primary's next
sequence number. Every event that fires a rule carries the signed messages the rule needs (its
*certificate*: the pre-prepare and 2f PREPAREs of prepared, the 2f + 1 COMMITs of
committed-local, the 2f + 1 CHECKPOINTs of a stable checkpoint, the VIEW-CHANGEs of a NEW-VIEW);
the transport assembles certificates, the replica validates every message before acting.

Events (one per rule of the spec)
    ``RequestReceived(request)``             section 4.2: the primary pre-prepares a request;
    ``PrePrepareReceived(pre_prepare)``      section 4.2: a backup accepts it and prepares;
    ``PreparedCertificate(pre_prepare, prepares)``  section 4.2: prepared, multicast COMMIT;
    ``CommitCertificate(commits)``           section 4.2: committed-local, execute, REPLY and
                                             (section 4.3) CHECKPOINT every K requests;
    ``CheckpointCertificate(checkpoints, state)``   section 4.3: stable checkpoint, GC (and the
                                             state, fetched, when the replica is behind);
    ``Timeout()``                            section 4.4: VIEW-CHANGE for v + 1;
    ``ViewChangesReceived(view_changes)``    section 4.5.2: f + 1 for higher views: join;
    ``ViewChangeQuorum(view_changes, state)``  section 4.4: the new primary's NEW-VIEW;
    ``NewViewReceived(new_view, state)``     section 4.4: a backup checks O against V, enters
                                             the new view and PREPAREs O's pre-prepares.
An event whose rule does not apply now (a certificate for a request the replica has not
accepted, an execution out of order, an old checkpoint) changes nothing and is no fault: the
network is asynchronous. A client (:class:`Client`) accepts on f + 1 matching REPLYs.

Validation (the first failure is the fault; the state is unchanged): UNKNOWN_SENDER, MALFORMED,
BAD_SIGNATURE, NOT_PRIMARY, DIGEST_MISMATCH, WRONG_VIEW, OUT_OF_WATERMARKS,
CONFLICTING_PRE_PREPARE, WRONG_CERTIFICATE, INSUFFICIENT_QUORUM, MALFORMED_VIEW_CHANGE,
MALFORMED_NEW_VIEW (see :class:`FaultKind`).

Keys are inputs: each replica's Ed25519 key comes from a 32-byte seed (:func:`derive_seed` gives
the public test seeds the model uses); Ed25519 signing is deterministic (RFC 8032), and
signatures and verifications are memoized.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
from collections.abc import Iterable

import attrs

from . import ed25519

PRE_PREPARE, PREPARE, COMMIT = "pre-prepare", "prepare", "commit"
CHECKPOINT, VIEW_CHANGE, NEW_VIEW, REPLY = "checkpoint", "view-change", "new-view", "reply"
KINDS = (PRE_PREPARE, PREPARE, COMMIT, CHECKPOINT, VIEW_CHANGE, NEW_VIEW, REPLY)
NULL = "null"  # the null request (section 4.4)

# -- Keys, digests and signatures ----------------------------------------------------------------


def derive_seed(replica: int, label: str = "mnemosyne/pbft") -> bytes:
    """A fixed 32-byte Ed25519 seed for a replica (test keys: public, deterministic)."""
    return ed25519.derive_seed(f"{label}/replica/{replica}")


public_key = ed25519.public_key


@functools.lru_cache(maxsize=1 << 12)
def request_digest(request: str) -> str:
    """D(m): the SHA-256 of the request, in hex."""
    return hashlib.sha256(b"request:" + request.encode()).hexdigest()


@functools.lru_cache(maxsize=1 << 12)
def state_digest(executed: tuple[str, ...]) -> str:
    """The digest of the service state after ``executed`` (a checkpoint's d)."""
    return hashlib.sha256(b"state:" + json.dumps(list(executed)).encode()).hexdigest()


@attrs.frozen(cache_hash=True)
class Signed:
    """A signed PBFT message. Fields a kind does not use keep their defaults.

    PRE-PREPARE ⟨v, n, d⟩ with the request m; PREPARE and COMMIT ⟨v, n, d, i⟩; CHECKPOINT
    ⟨n, d, i⟩ (d the state digest); VIEW-CHANGE ⟨v, n, C, P, i⟩ (n and d its stable checkpoint,
    ``proof`` = C, ``certs`` = P, each a pre-prepare and its prepares); NEW-VIEW ⟨v, V, O⟩
    (``proof`` = V, ``certs`` = O, each a one-message tuple); REPLY ⟨v, t, c, i, r⟩ (``seq`` the
    result, ``request`` the request it answers).
    """

    kind: str
    view: int
    seq: int
    digest: str
    sender: int
    request: str | None = None
    proof: tuple[Signed, ...] = ()
    certs: tuple[tuple[Signed, ...], ...] = ()
    signature: bytes = b""

    def data(self) -> bytes:
        return _payload(self)

    def ident(self) -> str:
        """The message's identity inside another message: the hash of its bytes and signature."""
        return _ident(self)


@functools.lru_cache(maxsize=1 << 16)
def _payload(m: Signed) -> bytes:
    fields = [
        m.kind,
        m.view,
        m.seq,
        m.digest,
        m.sender,
        m.request,
        [p.ident() for p in m.proof],
        [[c.ident() for c in cert] for cert in m.certs],
    ]
    return json.dumps(fields, separators=(",", ":")).encode()


@functools.lru_cache(maxsize=1 << 16)
def _ident(m: Signed) -> str:
    return hashlib.sha256(m.data() + m.signature).hexdigest()


def sign(seed: bytes, unsigned: Signed) -> Signed:
    """``unsigned`` signed with ``seed`` (its ``signature`` field is replaced; the signed bytes
    never include a signature of the message itself)."""
    return attrs.evolve(unsigned, signature=ed25519.sign(seed, unsigned.data()))


@functools.lru_cache(maxsize=1 << 16)
def signed_by(key: bytes, m: Signed) -> bool:
    """``m``'s signature verifies under ``key`` (memoized per message: the check is pure)."""
    return ed25519.verifies(key, m.data(), m.signature)


# -- Configuration, state --------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class NodeConfig:
    """A replica's constants: its id and key seed (inputs), the replicas' public keys, f, K
    (checkpoint interval) and k (log size: H = h + k)."""

    me: int
    seed: bytes
    public_keys: tuple[bytes, ...]
    f: int
    checkpoint_interval: int
    log_size: int

    @property
    def n(self) -> int:
        return len(self.public_keys)

    @property
    def quorum(self) -> int:
        """n - f (2f + 1 when n = 3f + 1), as the spec."""
        return self.n - self.f

    def primary(self, view: int) -> int:
        return view % self.n


@attrs.frozen(cache_hash=True)
class Node:
    # identity and configuration (constant)
    config: NodeConfig
    # view: the current view and whether it is active (False between VIEW-CHANGE and NEW-VIEW)
    view: int
    active: bool
    # service state: the requests executed in sequence order
    executed: tuple[str, ...]
    # the last stable checkpoint h and its proof C (2f + 1 CHECKPOINTs; empty at h = 0)
    low: int
    checkpoint_proof: tuple[Signed, ...]
    # the log above h: pre-prepares accepted as (v, n, d), sorted
    accepted: tuple[tuple[int, int, str], ...]
    # prepared certificates (pre-prepare, prepares...) for which COMMIT was sent, sorted
    prepared: tuple[tuple[Signed, ...], ...]
    # my VIEW-CHANGE for the current view (None in view 0 or before any view change)
    own_view_change: Signed | None
    # as primary: the next sequence number to assign in the current view
    next_seq: int


def new_node(config: NodeConfig) -> Node:
    return Node(config, 0, True, (), 0, (), (), (), None, 1)


# -- Events --------------------------------------------------------------------------------------


@attrs.frozen
class RequestReceived:
    request: str


@attrs.frozen
class PrePrepareReceived:
    pre_prepare: Signed


@attrs.frozen
class PreparedCertificate:
    pre_prepare: Signed
    prepares: tuple[Signed, ...]


@attrs.frozen
class CommitCertificate:
    commits: tuple[Signed, ...]


@attrs.frozen
class CheckpointCertificate:
    checkpoints: tuple[Signed, ...]
    state: tuple[str, ...] | None = None  # the fetched state, when the replica is behind


@attrs.frozen
class Timeout:
    pass


@attrs.frozen
class ViewChangesReceived:
    view_changes: tuple[Signed, ...]


@attrs.frozen
class ViewChangeQuorum:
    view_changes: tuple[Signed, ...]
    state: tuple[str, ...] | None = None


@attrs.frozen
class NewViewReceived:
    new_view: Signed
    state: tuple[str, ...] | None = None


Event = (
    RequestReceived
    | PrePrepareReceived
    | PreparedCertificate
    | CommitCertificate
    | CheckpointCertificate
    | Timeout
    | ViewChangesReceived
    | ViewChangeQuorum
    | NewViewReceived
)


# -- Effects -------------------------------------------------------------------------------------


class FaultKind(enum.Enum):
    """Why a peer's input was rejected (the replica's state is unchanged)."""

    UNKNOWN_SENDER = "unknown_sender"  #: the sender is not a replica
    MALFORMED = "malformed"  #: a field has the wrong type, kind or range
    BAD_SIGNATURE = "bad_signature"  #: the signature does not verify under the sender's key
    NOT_PRIMARY = "not_primary"  #: a pre-prepare or new-view not from the primary of its view
    DIGEST_MISMATCH = "digest_mismatch"  #: a digest that does not match the request or state
    WRONG_VIEW = "wrong_view"  #: a message for another view than the replica's active one
    OUT_OF_WATERMARKS = "out_of_watermarks"  #: a sequence number outside h < n <= H
    CONFLICTING_PRE_PREPARE = "conflicting_pre_prepare"  #: another digest for an accepted (v, n)
    WRONG_CERTIFICATE = "wrong_certificate"  #: a certificate mixing views, numbers or digests
    INSUFFICIENT_QUORUM = "insufficient_quorum"  #: too few distinct (valid) senders
    MALFORMED_VIEW_CHANGE = "malformed_view_change"  #: a bad checkpoint proof or P certificate
    MALFORMED_NEW_VIEW = "malformed_new_view"  #: bad V, or an O that does not follow from V


@attrs.frozen
class Fault:
    sender: int | None
    kind: FaultKind


@attrs.frozen
class Effects:
    broadcasts: tuple[Signed, ...] = ()
    replies: tuple[Signed, ...] = ()  # REPLYs to the client
    faults: tuple[Fault, ...] = ()


NOTHING = Effects()


class LocalMisuseError(Exception):
    """The caller asked for something the protocol does not allow (a bug of the caller)."""


# -- Validation ----------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return type(value) is int


def _message_fault(config: NodeConfig, m: object, kinds: tuple[str, ...]) -> Fault | None:
    """Sender, shape, signature and, for pre-prepares, primary and digest."""
    if not isinstance(m, Signed):
        return Fault(None, FaultKind.MALFORMED)
    # Verify that the sender is a replica
    if not _is_int(m.sender) or not 0 <= m.sender < config.n:
        return Fault(None, FaultKind.UNKNOWN_SENDER)
    # Verify the fields' shapes
    if m.kind not in kinds or not _is_int(m.view) or not _is_int(m.seq):
        return Fault(m.sender, FaultKind.MALFORMED)
    if m.view < 0 or m.seq < 0 or not isinstance(m.digest, str):
        return Fault(m.sender, FaultKind.MALFORMED)
    if not isinstance(m.signature, bytes) or not isinstance(m.proof, tuple):
        return Fault(m.sender, FaultKind.MALFORMED)
    # Verify the signature
    if not signed_by(config.public_keys[m.sender], m):
        return Fault(m.sender, FaultKind.BAD_SIGNATURE)
    if m.kind == PRE_PREPARE:
        # Verify that a pre-prepare comes from the primary of its view
        if m.sender != config.primary(m.view):
            return Fault(m.sender, FaultKind.NOT_PRIMARY)
        # Verify that the digest is the request's
        if not isinstance(m.request, str) or m.digest != request_digest(m.request):
            return Fault(m.sender, FaultKind.DIGEST_MISMATCH)
    return None


def _all_fault(config: NodeConfig, ms: Iterable[object], kinds: tuple[str, ...]) -> Fault | None:
    for m in ms:
        fault = _message_fault(config, m, kinds)
        if fault is not None:
            return fault
    return None


def _in_window(node: Node, seq: int) -> bool:
    return node.low < seq <= node.low + node.config.log_size


def _prepared_certificate_fault(config: NodeConfig, cert: tuple[Signed, ...]) -> FaultKind | None:
    """A pre-prepare and 2f PREPAREs of distinct backups matching it (section 4.2)."""
    if not cert or _all_fault(config, cert[:1], (PRE_PREPARE,)) is not None:
        return FaultKind.WRONG_CERTIFICATE
    pp = cert[0]
    if _all_fault(config, cert[1:], (PREPARE,)) is not None:
        return FaultKind.WRONG_CERTIFICATE
    for m in cert[1:]:
        if (m.view, m.seq, m.digest) != (pp.view, pp.seq, pp.digest):
            return FaultKind.WRONG_CERTIFICATE
    backups = {m.sender for m in cert[1:]} - {config.primary(pp.view)}
    if len(backups) < config.quorum - 1:
        return FaultKind.INSUFFICIENT_QUORUM
    return None


def _checkpoint_proof_fault(config: NodeConfig, seq: int, digest: str, proof: tuple) -> bool:
    """C: 2f + 1 CHECKPOINTs of distinct replicas for (n, d); n = 0 needs none."""
    if seq == 0:
        return digest != state_digest(()) or bool(proof)
    if _all_fault(config, proof, (CHECKPOINT,)) is not None:
        return True
    if any((m.seq, m.digest) != (seq, digest) for m in proof):
        return True
    return len({m.sender for m in proof}) < config.quorum


def view_change_fault(config: NodeConfig, m: Signed) -> FaultKind | None:
    """A VIEW-CHANGE is valid (section 4.4): signed, its C proves its checkpoint, and every P
    entry is a prepared certificate of a view below v with h < n <= h + k, one per n."""
    fault = _message_fault(config, m, (VIEW_CHANGE,))
    if fault is not None:
        return fault.kind
    if m.view < 1 or not isinstance(m.certs, tuple):
        return FaultKind.MALFORMED_VIEW_CHANGE
    if _checkpoint_proof_fault(config, m.seq, m.digest, m.proof):
        return FaultKind.MALFORMED_VIEW_CHANGE
    seen: set[int] = set()
    for cert in m.certs:
        if not isinstance(cert, tuple) or _prepared_certificate_fault(config, cert) is not None:
            return FaultKind.MALFORMED_VIEW_CHANGE
        pp = cert[0]
        if pp.seq in seen or pp.view >= m.view or not m.seq < pp.seq <= m.seq + config.log_size:
            return FaultKind.MALFORMED_VIEW_CHANGE
        seen.add(pp.seq)
    return None


def compute_o(
    config: NodeConfig, view: int, vs: Iterable[Signed]
) -> tuple[int, str, tuple[tuple[int, str, str], ...]]:
    """Section 4.4: (min-s, its state digest, O as (n, d, request)) from the VIEW-CHANGEs V:
    for n in (min-s, max-s] the request of the P certificate with the highest view, or null."""
    vs = tuple(vs)
    best = max(vs, key=lambda m: (m.seq, m.digest))
    min_s, digest = best.seq, best.digest
    pps = [cert[0] for m in vs for cert in m.certs]
    max_s = max([min_s, *(pp.seq for pp in pps)])
    o = []
    for n in range(min_s + 1, max_s + 1):
        here = [pp for pp in pps if pp.seq == n]
        if here:
            top = max(here, key=lambda pp: (pp.view, pp.request or ""))
            o.append((n, top.digest, top.request or ""))
        else:
            o.append((n, request_digest(NULL), NULL))
    return min_s, digest, tuple(o)


# -- Transitions ---------------------------------------------------------------------------------


def _signed(node: Node, unsigned: Signed) -> Signed:
    return sign(node.config.seed, unsigned)


def _fault(sender: int | None, kind: FaultKind) -> Fault:
    return Fault(sender, kind)


def _gc(node: Node) -> Node:
    """Discard the log at and below h (section 4.3)."""
    return attrs.evolve(
        node,
        accepted=tuple(a for a in node.accepted if a[1] > node.low),
        prepared=tuple(c for c in node.prepared if c[0].seq > node.low),
    )


def _take_checkpoint(
    node: Node, seq: int, digest: str, proof: tuple[Signed, ...], state: tuple[str, ...] | None
) -> Node | FaultKind:
    """h = n with proof C; the state is fetched (``state``) when the replica is behind."""
    if seq <= node.low:
        return node
    if len(node.executed) >= seq:
        if state_digest(node.executed[:seq]) != digest:
            return FaultKind.DIGEST_MISMATCH
        executed = node.executed
    else:
        if state is None or len(state) != seq or state_digest(tuple(state)) != digest:
            return FaultKind.DIGEST_MISMATCH
        executed = tuple(state)
    proof = tuple(sorted(proof, key=lambda m: m.sender))[: node.config.quorum] if seq else ()
    return _gc(attrs.evolve(node, low=seq, checkpoint_proof=proof, executed=executed))


def own_view_change(node: Node, view: int) -> Signed:
    """⟨VIEW-CHANGE, v, n, C, P, i⟩: the stable checkpoint and, per n above it, the prepared
    certificate of the highest view."""
    best: dict[int, tuple[Signed, ...]] = {}
    for cert in node.prepared:
        pp = cert[0]
        if _in_window(node, pp.seq) and (pp.seq not in best or best[pp.seq][0].view < pp.view):
            best[pp.seq] = cert
    certs = tuple(best[s] for s in sorted(best))
    digest = state_digest(node.executed[: node.low])
    vc = Signed(VIEW_CHANGE, view, node.low, digest, node.config.me, None, node.checkpoint_proof)
    return _signed(node, attrs.evolve(vc, certs=certs))


def _enter_view_change(node: Node, view: int) -> tuple[Node, Effects]:
    vc = own_view_change(node, view)
    node = attrs.evolve(node, view=view, active=False, own_view_change=vc)
    return node, Effects(broadcasts=(vc,))


Result = tuple[Node, Effects] | Fault


def step(node: Node, event: Event) -> tuple[Node, Effects]:
    """Handles one event; a peer's bad input is a fault and leaves ``node`` unchanged."""
    handler = _HANDLERS.get(type(event))
    if handler is None:
        raise LocalMisuseError(f"unknown event type {type(event).__name__}")
    result = handler(node, event)
    if isinstance(result, Fault):
        return node, Effects(faults=(result,))
    return result


def _on_request(node: Node, event: RequestReceived) -> Result:
    """Section 4.2: the primary assigns the next n to the request and multicasts PRE-PREPARE."""
    c = node.config
    d = request_digest(event.request)
    if c.primary(node.view) != c.me or not node.active:
        return node, NOTHING  # a backup waits for the primary (its timer runs)
    if event.request in node.executed or any(
        a[0] == node.view and a[2] == d for a in node.accepted
    ):
        return node, NOTHING  # executed or assigned already in this view
    n = max(node.next_seq, node.low + 1)
    if not _in_window(node, n):
        return node, NOTHING  # above H: wait for a stable checkpoint
    pp = _signed(node, Signed(PRE_PREPARE, node.view, n, d, c.me, event.request))
    accepted = tuple(sorted((*node.accepted, (node.view, n, d))))
    return attrs.evolve(node, accepted=accepted, next_seq=n + 1), Effects(broadcasts=(pp,))


def _on_pre_prepare(node: Node, event: PrePrepareReceived) -> Result:
    """Section 4.2: a backup accepts a pre-prepare in its view, h < n <= H, no other digest
    accepted for (v, n); it multicasts PREPARE."""
    c = node.config
    pp = event.pre_prepare
    fault = _message_fault(c, pp, (PRE_PREPARE,))
    if fault is not None:
        return fault
    # Verify the view
    if pp.view != node.view or not node.active:
        return _fault(pp.sender, FaultKind.WRONG_VIEW)
    # Verify the water marks
    if not _in_window(node, pp.seq):
        return _fault(pp.sender, FaultKind.OUT_OF_WATERMARKS)
    if c.me == c.primary(pp.view):
        return node, NOTHING  # the primary's own pre-prepare
    # Verify that no other digest was accepted for (v, n)
    mine = [a for a in node.accepted if a[:2] == (pp.view, pp.seq)]
    if mine and mine[0][2] != pp.digest:
        return _fault(pp.sender, FaultKind.CONFLICTING_PRE_PREPARE)
    if mine:
        return node, NOTHING
    prepare = _signed(node, Signed(PREPARE, pp.view, pp.seq, pp.digest, c.me))
    accepted = tuple(sorted((*node.accepted, (pp.view, pp.seq, pp.digest))))
    return attrs.evolve(node, accepted=accepted), Effects(broadcasts=(prepare,))


def _on_prepared(node: Node, event: PreparedCertificate) -> Result:
    """Section 4.2: prepared(m, v, n, i) becomes true: multicast COMMIT."""
    c = node.config
    cert = (event.pre_prepare, *event.prepares)
    fault = _all_fault(c, cert[:1], (PRE_PREPARE,)) or _all_fault(c, cert[1:], (PREPARE,))
    if fault is not None:
        return fault
    pp = event.pre_prepare
    bad = _prepared_certificate_fault(c, cert)
    if bad is not None:
        return _fault(pp.sender, bad)
    if pp.view != node.view or not node.active:
        return _fault(pp.sender, FaultKind.WRONG_VIEW)
    if not _in_window(node, pp.seq):
        return _fault(pp.sender, FaultKind.OUT_OF_WATERMARKS)
    if (pp.view, pp.seq, pp.digest) not in node.accepted:
        return node, NOTHING  # not accepted (yet): no prepared
    if any(x[0] == pp for x in node.prepared):
        return node, NOTHING  # committed already
    commit = _signed(node, Signed(COMMIT, pp.view, pp.seq, pp.digest, c.me))
    backups = sorted(
        {m.sender: m for m in event.prepares if m.sender != c.primary(pp.view)}.items()
    )
    kept = (pp, *(m for _, m in backups[: c.quorum - 1]))
    prepared = tuple(sorted((*node.prepared, kept), key=_cert_key))
    return attrs.evolve(node, prepared=prepared), Effects(broadcasts=(commit,))


def _cert_key(cert: tuple[Signed, ...]) -> tuple[int, int, str]:
    return (cert[0].view, cert[0].seq, cert[0].digest)


def _on_commits(node: Node, event: CommitCertificate) -> Result:
    """Section 4.2: committed-local and every lower n executed: execute and REPLY; section 4.3:
    CHECKPOINT when n mod K = 0."""
    c = node.config
    fault = _all_fault(c, event.commits, (COMMIT,))
    if fault is not None:
        return fault
    if not event.commits:
        return _fault(None, FaultKind.INSUFFICIENT_QUORUM)
    first = event.commits[0]
    key = (first.view, first.seq, first.digest)
    if any((m.view, m.seq, m.digest) != key for m in event.commits):
        return _fault(None, FaultKind.WRONG_CERTIFICATE)
    if len({m.sender for m in event.commits}) < c.quorum:
        return _fault(None, FaultKind.INSUFFICIENT_QUORUM)
    mine = [cert for cert in node.prepared if _cert_key(cert) == key]
    n = first.seq
    if not mine or n != len(node.executed) + 1 or not _in_window(node, n):
        return node, NOTHING  # not prepared here, or not next in order: wait
    request = mine[0][0].request or ""
    executed = (*node.executed, request)
    node = attrs.evolve(node, executed=executed)
    replies: tuple[Signed, ...] = ()
    if request != NULL:
        reply = Signed(REPLY, node.view, n, request_digest(request), c.me, request)
        replies = (_signed(node, reply),)
    broadcasts: tuple[Signed, ...] = ()
    if n % c.checkpoint_interval == 0:
        checkpoint = Signed(CHECKPOINT, 0, n, state_digest(executed), c.me)
        broadcasts = (_signed(node, checkpoint),)
    return node, Effects(broadcasts=broadcasts, replies=replies)


def _on_checkpoints(node: Node, event: CheckpointCertificate) -> Result:
    """Section 4.3: 2f + 1 matching CHECKPOINTs: stable; h = n; discard the log below."""
    c = node.config
    fault = _all_fault(c, event.checkpoints, (CHECKPOINT,))
    if fault is not None:
        return fault
    if not event.checkpoints:
        return _fault(None, FaultKind.INSUFFICIENT_QUORUM)
    first = event.checkpoints[0]
    if any((m.seq, m.digest) != (first.seq, first.digest) for m in event.checkpoints):
        return _fault(None, FaultKind.WRONG_CERTIFICATE)
    if len({m.sender for m in event.checkpoints}) < c.quorum:
        return _fault(None, FaultKind.INSUFFICIENT_QUORUM)
    result = _take_checkpoint(node, first.seq, first.digest, event.checkpoints, event.state)
    if isinstance(result, FaultKind):
        return _fault(None, result)
    return result, NOTHING


def _on_timeout(node: Node, event: Timeout) -> Result:
    """Section 4.4: the timer expires in view v: VIEW-CHANGE for v + 1."""
    return _enter_view_change(node, node.view + 1)


def _on_view_changes(node: Node, event: ViewChangesReceived) -> Result:
    """Section 4.5.2: f + 1 valid VIEW-CHANGEs from others for views above mine: join the
    smallest of those views."""
    c = node.config
    for m in event.view_changes:
        bad = view_change_fault(c, m)
        if bad is not None:
            return _fault(m.sender if isinstance(m, Signed) else None, bad)
    higher = [m for m in event.view_changes if m.view > node.view and m.sender != c.me]
    if len({m.sender for m in higher}) < c.f + 1:
        return _fault(None, FaultKind.INSUFFICIENT_QUORUM)
    return _enter_view_change(node, min(m.view for m in higher))


def _on_view_change_quorum(node: Node, event: ViewChangeQuorum) -> Result:
    """Section 4.4: the primary of v with 2f valid VIEW-CHANGEs for v from others multicasts
    ⟨NEW-VIEW, v, V, O⟩ and enters v."""
    c = node.config
    if c.primary(node.view) != c.me or node.active or node.own_view_change is None:
        return node, NOTHING
    for m in event.view_changes:
        bad = view_change_fault(c, m)
        if bad is not None:
            return _fault(m.sender if isinstance(m, Signed) else None, bad)
        if m.view != node.view:
            return _fault(m.sender, FaultKind.WRONG_VIEW)
    others = {m.sender: m for m in event.view_changes if m.sender != c.me}
    if len(others) < c.quorum - 1:
        return _fault(None, FaultKind.INSUFFICIENT_QUORUM)
    vs = (node.own_view_change, *(others[s] for s in sorted(others)))
    min_s, digest, o = compute_o(c, node.view, vs)
    pps = tuple(
        _signed(node, Signed(PRE_PREPARE, node.view, n, d, c.me, request)) for n, d, request in o
    )
    nv = Signed(NEW_VIEW, node.view, min_s, digest, c.me, None, vs, tuple((pp,) for pp in pps))
    nv = _signed(node, nv)
    best = max(vs, key=lambda m: (m.seq, m.digest))
    taken = _take_checkpoint(node, min_s, digest, best.proof, event.state)
    if isinstance(taken, FaultKind):
        return _fault(None, taken)
    accepted = tuple(sorted({*taken.accepted, *((node.view, n, d) for n, d, _ in o)}))
    top = max([min_s, *(n for n, _, _ in o)])
    taken = attrs.evolve(taken, active=True, accepted=accepted, next_seq=max(top, taken.low) + 1)
    return taken, Effects(broadcasts=(nv,))


def new_view_fault(config: NodeConfig, nv: Signed) -> FaultKind | None:
    """A NEW-VIEW is valid (section 4.4): from the primary of v, V holds 2f + 1 valid
    VIEW-CHANGEs for v from distinct replicas, and O is exactly what V gives."""
    fault = _message_fault(config, nv, (NEW_VIEW,))
    if fault is not None:
        return fault.kind
    if nv.sender != config.primary(nv.view):
        return FaultKind.NOT_PRIMARY
    senders = set()
    for m in nv.proof:
        if not isinstance(m, Signed) or view_change_fault(config, m) is not None:
            return FaultKind.MALFORMED_NEW_VIEW
        if m.view != nv.view:
            return FaultKind.MALFORMED_NEW_VIEW
        senders.add(m.sender)
    if len(senders) < config.quorum or len(senders) != len(nv.proof):
        return FaultKind.MALFORMED_NEW_VIEW
    min_s, digest, o = compute_o(config, nv.view, nv.proof)
    if (nv.seq, nv.digest) != (min_s, digest) or len(nv.certs) != len(o):
        return FaultKind.MALFORMED_NEW_VIEW
    for cert, (n, d, request) in zip(nv.certs, o, strict=True):
        if not isinstance(cert, tuple) or len(cert) != 1:
            return FaultKind.MALFORMED_NEW_VIEW
        pp = cert[0]
        if _message_fault(config, pp, (PRE_PREPARE,)) is not None:
            return FaultKind.MALFORMED_NEW_VIEW
        if (pp.view, pp.seq, pp.digest, pp.request) != (nv.view, n, d, request):
            return FaultKind.MALFORMED_NEW_VIEW
    return None


def _on_new_view(node: Node, event: NewViewReceived) -> Result:
    """Section 4.4: a backup accepts a valid NEW-VIEW for a view above its own (or its own
    while changing), enters it, takes min-s's checkpoint if newer, adds O's pre-prepares to its
    log and multicasts a PREPARE for each within its water marks (so it accepts no other
    pre-prepare for those sequence numbers in the new view)."""
    c = node.config
    nv = event.new_view
    bad = new_view_fault(c, nv)
    if bad is not None:
        return _fault(nv.sender if isinstance(nv, Signed) and _is_int(nv.sender) else None, bad)
    if not (nv.view > node.view or (nv.view == node.view and not node.active)):
        return _fault(nv.sender, FaultKind.WRONG_VIEW)
    if c.me == nv.sender:
        return node, NOTHING
    best = max(nv.proof, key=lambda m: (m.seq, m.digest))
    taken = _take_checkpoint(node, nv.seq, nv.digest, best.proof, event.state)
    if isinstance(taken, FaultKind):
        return _fault(None, taken)
    taken = attrs.evolve(taken, view=nv.view, active=True)
    o = [cert[0] for cert in nv.certs if _in_window(taken, cert[0].seq)]
    prepares = tuple(_signed(node, Signed(PREPARE, nv.view, pp.seq, pp.digest, c.me)) for pp in o)
    accepted = tuple(sorted({*taken.accepted, *((nv.view, pp.seq, pp.digest) for pp in o)}))
    return attrs.evolve(taken, accepted=accepted), Effects(broadcasts=prepares)


_HANDLERS = {
    RequestReceived: _on_request,
    PrePrepareReceived: _on_pre_prepare,
    PreparedCertificate: _on_prepared,
    CommitCertificate: _on_commits,
    CheckpointCertificate: _on_checkpoints,
    Timeout: _on_timeout,
    ViewChangesReceived: _on_view_changes,
    ViewChangeQuorum: _on_view_change_quorum,
    NewViewReceived: _on_new_view,
}


# -- The client ----------------------------------------------------------------------------------


@attrs.frozen(cache_hash=True)
class ClientConfig:
    public_keys: tuple[bytes, ...]
    f: int


@attrs.frozen(cache_hash=True)
class Client:
    # configuration (constant)
    config: ClientConfig
    # the valid replies received: (request, result, sender), sorted
    replies: tuple[tuple[str, int, int], ...]
    # the results accepted: (request, result), sorted
    accepted: tuple[tuple[str, int], ...]


@attrs.frozen
class ReplyReceived:
    reply: Signed


@attrs.frozen
class ClientEffects:
    accepted: tuple[tuple[str, int], ...] = ()
    faults: tuple[Fault, ...] = ()


def new_client(config: ClientConfig) -> Client:
    return Client(config, (), ())


def client_step(client: Client, event: ReplyReceived) -> tuple[Client, ClientEffects]:
    """Section 4.1: the client waits for f + 1 replies with the same result from different
    replicas (at least one is correct) and accepts it."""
    c = client.config
    m = event.reply
    if not isinstance(m, Signed):
        return client, ClientEffects(faults=(Fault(None, FaultKind.MALFORMED),))
    if not _is_int(m.sender) or not 0 <= m.sender < len(c.public_keys):
        return client, ClientEffects(faults=(Fault(None, FaultKind.UNKNOWN_SENDER),))
    if m.kind != REPLY or not _is_int(m.seq) or not isinstance(m.request, str):
        return client, ClientEffects(faults=(Fault(m.sender, FaultKind.MALFORMED),))
    if not signed_by(c.public_keys[m.sender], m):
        return client, ClientEffects(faults=(Fault(m.sender, FaultKind.BAD_SIGNATURE),))
    if m.digest != request_digest(m.request):
        return client, ClientEffects(faults=(Fault(m.sender, FaultKind.DIGEST_MISMATCH),))
    entry = (m.request, m.seq, m.sender)
    replies = client.replies if entry in client.replies else tuple(sorted((*client.replies, entry)))
    client = attrs.evolve(client, replies=replies)
    if any(d == m.request for d, _ in client.accepted):
        return client, ClientEffects()
    senders = {s for d, r, s in replies if (d, r) == (m.request, m.seq)}
    if len(senders) < c.f + 1:
        return client, ClientEffects()
    accepted = tuple(sorted((*client.accepted, (m.request, m.seq))))
    return attrs.evolve(client, accepted=accepted), ClientEffects(accepted=((m.request, m.seq),))
