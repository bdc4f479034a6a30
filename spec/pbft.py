"""PBFT (Practical Byzantine Fault Tolerance): the executable specification.

Source
    M. Castro and B. Liskov, "Practical Byzantine Fault Tolerance", OSDI 1999: section 4.1
    (primary p = v mod |R|, quorums), 4.2 (normal case: REQUEST, PRE-PREPARE, PREPARE, COMMIT,
    REPLY; the predicates prepared and committed-local), 4.3 (garbage collection: checkpoints,
    stable checkpoints, the low and high water marks h and H = h + k), 4.4 (view changes:
    VIEW-CHANGE with the checkpoint proof C and the prepared certificates P, NEW-VIEW with V and
    O, null requests filling the gaps), 4.5.2 (liveness: a replica that sees f + 1 VIEW-CHANGE
    messages for higher views joins the smallest of them). M. Castro and B. Liskov, "Practical
    Byzantine Fault Tolerance and Proactive Recovery", ACM TOCS 20(4), 2002: section 2.3 (the
    algorithm with signatures, BFT-PK, which is the one specified here) and section 4 (the
    view-change protocol; with signatures the O set is computed as in OSDI section 4.4). Every
    action below names the rule it follows.

Departures from the original design notes
    The notes' SimplifiedPBFT computed f as int(0.33 * n), had no checkpoints and only a sketch
    of the view change. Here f is a parameter (the number of faults the replicas are configured
    to tolerate, checked against n by the model's ``config_for``), checkpoints and view changes
    follow the papers.

Modelling choices (each stated where it is used)
    * Quorums are ``n - f`` replicas: 2f + 1 when n = 3f + 1, the paper's setting (section 4.1).
      For n > 3f + 1 the paper's 2f + 1 would let two quorums meet in a faulty replica only; n - f
      is the size every quorum certificate needs so that any two share n - 2f >= f + 1 replicas.
      A prepared certificate is the pre-prepare plus ``n - f - 1`` PREPAREs of distinct backups
      (the paper's "2f prepares from different backups").
    * ONE global pool of the messages correct replicas sent (no inboxes; the community TLA+ BFT
      specs' shape, DESIGN.md); a rule reads the pool, so delivery is in any order, any number of
      times, or never. Byzantine messages are a FIXED alphabet (:func:`byzantine_alphabet`), not
      state. The pool is never pruned: garbage collection (section 4.3) is each replica's low
      water mark h, below which it reads and keeps nothing; a Byzantine replica keeps every
      message it ever saw, so the pool (what was ever signed) is exactly what it can show.
    * "Replica i has the message in its log" is: i sent it (its PREPARE accepts a pre-prepare,
      its COMMIT says prepared became true at i: "replica i multicasts COMMIT when prepared
      becomes true", section 4.2), or it is in the pool. So the P set of i's VIEW-CHANGE holds
      the certificates of i's own COMMITs; a replica that has not yet sent its COMMIT is one that
      has not yet received its 2f-th PREPARE.
    * Digests are the requests themselves (the spec does not hash); the impl hashes. The state
      machine's state after n requests is the sequence executed so far (including null
      requests), so a checkpoint's digest is that sequence, and the result of a request is the
      sequence number at which it ran (a result that depends on the agreed order).
    * Clients: every request is sent at the start (the client's REQUEST is in the pool); the
      client accepts a result on f + 1 matching REPLYs (section 4.1). A correct replica replies
      when it executes (section 4.2), so its replies are read off its executed sequence.
    * State transfer (section 4.3, "fetch"): a replica that learns a stable checkpoint beyond
      what it executed adopts the certified state in one step (the checkpoint proof certifies
      the digest, which is the state here).
    * Timers: the view-change timer may expire at any time while the replica waits for a request
      it knows of to execute (the asynchronous model: timeouts only matter for liveness). Views
      are bounded by ``max_view``, sequence numbers by ``max_seq``.
    * Committed-local: the replica's own COMMIT and a quorum of matching COMMITs in the pool, in
      any view the replica was in (its log keeps what it accepted in earlier views).
    * A correct primary pre-prepares each request at most once per view, and not a request it
      has executed (the paper relies on client timestamps to drop duplicates; this keeps the
      model small and changes no safety argument).
    * A Byzantine primary of a view v >= 1 signs NEW-VIEWs from the alphabet
      (:func:`byzantine_new_views`): each names its V explicitly (``Msg.vset``: VIEW-CHANGEs of
      any senders, any contents) and counts only once every message of V exists (a correct
      replica's VIEW-CHANGE is in the pool; the adversary cannot forge it). Its O is the one V
      gives, or O ignoring V's prepared certificates (nulls in their place), or O with the null
      requests left out (gaps), or V is not a quorum. A correct backup accepts it only if V is a
      quorum of valid VIEW-CHANGEs for v from distinct replicas and (min-s, O) is what V gives
      (:meth:`Context.valid_new_view`; TOCS 2002 section 2.3 / OSDI section 4.4: "the backup
      verifies that O is correct by performing a computation similar to the one used by the
      primary to create O"). A correct primary's NEW-VIEW keeps its V implicit (``vset`` empty:
      it was computed from a valid V by :meth:`Context.new_view_choices`).
    * Accepting a NEW-VIEW, a backup adds O's pre-prepares to its log and multicasts a PREPARE
      for each (section 4.4), here for those within its water marks after min-s's checkpoint;
      so it is bound to O and later accepts no other pre-prepare for those (v, n).
    * The f + 1 rule (section 4.5.2, :class:`JoinViewChange`): with views 0..1 the view it
      joins is the one a timeout would reach, and the state it yields is the timeout's, so no
      predicate on states can tell that it fired. With views 0..2 it can skip a view: a
      replica that sent a VIEW-CHANGE for v + 2 but none for v + 1 while no NEW-VIEW for v + 1
      exists can only have joined by the f + 1 rule. That is the "sometimes" companion
      :func:`joined_by_f_plus_1`, a reachable of the configs whose views reach 2 (the model's
      ``views-0-2``; not of the default, where it cannot hold).

State (grouped by role): :class:`Replica`, :class:`Msg` (the pool), :class:`SystemState`.
Actions: one class per rule, :func:`enabled_actions` (enabling conditions) apart from
:func:`apply` (effects). Properties: :data:`INVARIANTS`, :data:`STEP_PROPERTIES`,
:data:`REACHABLES`, instantiated by :func:`properties`.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import attrs

from .properties import Invariant, Reachable, StepProperty

Request = str  # a client request (its digest D(m) is the request itself)
NULL = "null"  # the null request of section 4.4 (executes as a no-op)
Digest = tuple[str, ...]  # the state after n requests: the n requests executed, in order
Cert = tuple[int, str, int]  # a prepared certificate (n, d, v) of a VIEW-CHANGE's P set

PRE_PREPARE, PREPARE, COMMIT = "pre-prepare", "prepare", "commit"
CHECKPOINT, VIEW_CHANGE, NEW_VIEW = "checkpoint", "view-change", "new-view"
KINDS = (PRE_PREPARE, PREPARE, COMMIT, CHECKPOINT, VIEW_CHANGE, NEW_VIEW)


# -- Parameters and rules ------------------------------------------------------------------------


@attrs.frozen
class Params:
    """A configuration: replicas, faults, requests and bounds."""

    n: int  # |R|, replicas 0..n-1
    f: int  # the faults the replicas are configured to tolerate (quorum n - f)
    byzantine: tuple[int, ...]  # the faulty replicas (the rest follow the paper)
    requests: tuple[Request, ...]  # the clients' requests, sent at the start
    max_view: int  # views 0..max_view
    max_seq: int  # sequence numbers 1..max_seq
    checkpoint_interval: int  # K: a checkpoint after every request with n mod K = 0
    log_size: int  # k of section 4.3: H = h + k

    @property
    def correct(self) -> tuple[int, ...]:
        return _correct(self.n, self.byzantine)

    def primary(self, view: int) -> int:
        """p = v mod |R| (section 4.1)."""
        return view % self.n


@functools.cache
def _correct(n: int, byzantine: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(i for i in range(n) if i not in byzantine)


@attrs.frozen
class Rules:
    """Switches the model's mutants flip; :data:`SPEC_RULES` is the paper."""

    quorum_override: int | None = None  # mutant: certificates of this many replicas
    require_prepared: bool = True  # COMMIT only once prepared (section 4.2)
    newview_uses_certificates: bool = True  # O from the P sets (section 4.4)
    check_new_view: bool = True  # a backup checks a NEW-VIEW's V and O (section 4.4)
    weak_checkpoint: bool = False  # mutant: stable on f + 1 CHECKPOINTs
    check_watermarks: bool = True  # accept a pre-prepare only with h < n <= H (section 4.2)
    client_replies: int | None = None  # mutant: accept on this many replies (paper: f + 1)


SPEC_RULES = Rules()


# -- State ---------------------------------------------------------------------------------------


class Msg(NamedTuple):
    """A signed message; the fields a kind does not use are left at their defaults.

    ⟨PRE-PREPARE, v, n, d⟩, ⟨PREPARE, v, n, d, i⟩, ⟨COMMIT, v, n, d, i⟩: ``view, seq, request``;
    ⟨CHECKPOINT, n, d, i⟩: ``seq`` and the state ``digest``;
    ⟨VIEW-CHANGE, v, n, C, P, i⟩: ``view``, the stable checkpoint ``seq`` and ``digest`` (C is
    the quorum of CHECKPOINTs for it, read from the pool), ``certs`` = P as (n, d, v);
    ⟨NEW-VIEW, v, V, O⟩: ``view``, min-s as ``seq`` with its ``digest``, ``certs`` = O as
    (n, d, v), ``vset`` = V for a Byzantine primary's (a correct primary's V is implicit, see
    the module docstring).

    A NamedTuple rather than an attrs class: states hold many messages, and a tuple's hash,
    equality and order run in C (the pool is a sorted tuple of them).
    """

    kind: str
    view: int
    seq: int
    request: str
    sender: int
    digest: Digest = ()
    certs: tuple[Cert, ...] = ()
    vset: tuple[Msg, ...] = ()


@attrs.frozen(cache_hash=True)
class Replica:
    """The variables of one correct replica (its log is the pool, read above ``low``)."""

    # identity
    id: int
    # view: the current view v and whether it is active (False: between VIEW-CHANGE and NEW-VIEW)
    view: int
    active: bool
    # service state: the requests executed, in sequence order (its length is the last executed n)
    executed: tuple[Request, ...]
    # h: the sequence number of the last stable checkpoint (the low water mark, section 4.3)
    low: int


@attrs.frozen(cache_hash=True)
class SystemState:
    # correct replicas, in the order of Params.correct
    replicas: tuple[Replica, ...]
    # every message a correct replica sent, sorted; never removed
    pool: tuple[Msg, ...]
    # the results the client accepted: (request, result), sorted
    accepted: tuple[tuple[Request, int], ...]


def initial_state(params: Params) -> SystemState:
    return SystemState(tuple(Replica(i, 0, True, (), 0) for i in params.correct), (), ())


# -- The Byzantine alphabet ----------------------------------------------------------------------


def _digests(params: Params, length: int) -> list[Digest]:
    return [tuple(d) for d in itertools.product((*params.requests, NULL), repeat=length)]


def checkpoint_seqs(params: Params) -> list[int]:
    k = params.checkpoint_interval
    return [s for s in range(0, params.max_seq + 1) if s % k == 0]


def byzantine_alphabet(params: Params) -> tuple[Msg, ...]:
    """Every message a faulty replica may sign, readable by every rule at any time.

    As primary of view v: PRE-PREPAREs for every sequence number and every request or the null
    request (equivocation: several per sequence number). As any replica: PREPAREs and COMMITs
    for everything, CHECKPOINTs for every state, VIEW-CHANGEs with every checkpoint and every P
    set of at most one certificate per sequence number (a P entry or a checkpoint proof counts
    only if its signed messages exist: :meth:`Context.valid_view_change`).
    """
    out: list[Msg] = []
    values = (*params.requests, NULL)
    for b in params.byzantine:
        for v in range(params.max_view + 1):
            for s in range(1, params.max_seq + 1):
                for d in values:
                    if params.primary(v) == b:
                        out.append(Msg(PRE_PREPARE, v, s, d, b))
                    out.append(Msg(PREPARE, v, s, d, b))
                    out.append(Msg(COMMIT, v, s, d, b))
        for s in checkpoint_seqs(params):
            if s > 0:
                for digest in _digests(params, s):
                    out.append(Msg(CHECKPOINT, 0, s, "", b, digest))
        for v in range(1, params.max_view + 1):
            out += view_changes_of(params, b, v)
    out += byzantine_new_views(params)
    return tuple(sorted(out))


def view_changes_of(params: Params, sender: int, v: int) -> list[Msg]:
    """Every ⟨VIEW-CHANGE, v, n, C, P, i⟩ ``sender`` could sign: every checkpoint and every P
    set of at most one certificate per sequence number (valid or not)."""
    values = (*params.requests, NULL)
    out = []
    for low in checkpoint_seqs(params):
        top = min(params.max_seq, low + params.log_size)
        options: list[list[Cert | None]] = [
            [None, *((s, d, w) for d in values for w in range(v))] for s in range(low + 1, top + 1)
        ]
        for digest in _digests(params, low):
            for choice in itertools.product(*options):
                certs = tuple(c for c in choice if c is not None)
                out.append(Msg(VIEW_CHANGE, v, low, "", sender, digest, certs))
    return out


def byzantine_new_views(params: Params) -> list[Msg]:
    """The NEW-VIEWs a Byzantine primary of v >= 1 may sign (see the module docstring): for
    every V of VIEW-CHANGEs for v from a quorum of distinct replicas, the well-formed one, one
    whose O ignores V's prepared certificates, one with gaps (O without its null requests),
    both; for every V of one replica fewer, the one V gives. A correct replica's VIEW-CHANGE in
    V may not exist: such a NEW-VIEW counts only once it does (:class:`Tally`)."""
    quorum = params.n - params.f
    ctx = Context(params, SPEC_RULES, alphabet=())
    out: set[Msg] = set()
    for v in range(1, params.max_view + 1):
        p = params.primary(v)
        if p not in params.byzantine:
            continue
        contents = {i: view_changes_of(params, i, v) for i in range(params.n)}
        for size in (quorum, quorum - 1):
            for senders in itertools.combinations(range(params.n), size):
                for vs in itertools.product(*(contents[i] for i in senders)):
                    min_s, digest, o = ctx.compute_o(v, vs)
                    variants = {o}
                    if size == quorum:
                        ignored = tuple((n, NULL, w) for n, _, w in o)
                        variants |= {ignored, *(_without_nulls(x) for x in (o, ignored))}
                    for x in variants:
                        out.add(Msg(NEW_VIEW, v, min_s, "", p, digest, x, tuple(vs)))
    return sorted(out)


def _without_nulls(o: tuple[Cert, ...]) -> tuple[Cert, ...]:
    return tuple(c for c in o if c[1] != NULL)


# -- What the visible messages say ---------------------------------------------------------------


class Tally:
    """Indexes of the visible messages (pool and alphabet)."""

    __slots__ = ("checkpoints", "commits", "new_views", "pre_prepares", "prepares", "view_changes")

    def __init__(
        self, params: Params, messages: tuple[Msg, ...], signed: frozenset[Msg] = frozenset()
    ) -> None:
        # (v, n) -> requests pre-prepared by primary(v)
        self.pre_prepares: dict[tuple[int, int], set[str]] = {}
        # (v, n, d) -> senders of PREPARE (backups only) / of COMMIT
        self.prepares: dict[tuple[int, int, str], set[int]] = {}
        self.commits: dict[tuple[int, int, str], set[int]] = {}
        # (n, digest) -> senders of CHECKPOINT
        self.checkpoints: dict[tuple[int, Digest], set[int]] = {}
        # v -> VIEW-CHANGE / NEW-VIEW messages for view v
        self.view_changes: dict[int, list[Msg]] = {}
        self.new_views: dict[int, list[Msg]] = {}
        for m in messages:
            if m.kind == PRE_PREPARE:
                if m.sender == params.primary(m.view):
                    self.pre_prepares.setdefault((m.view, m.seq), set()).add(m.request)
            elif m.kind == PREPARE:
                if m.sender != params.primary(m.view):
                    self.prepares.setdefault((m.view, m.seq, m.request), set()).add(m.sender)
            elif m.kind == COMMIT:
                self.commits.setdefault((m.view, m.seq, m.request), set()).add(m.sender)
            elif m.kind == CHECKPOINT:
                self.checkpoints.setdefault((m.seq, m.digest), set()).add(m.sender)
            elif m.kind == VIEW_CHANGE:
                self.view_changes.setdefault(m.view, []).append(m)
            elif m.kind == NEW_VIEW:
                # a Byzantine NEW-VIEW shows only once every VIEW-CHANGE of its V was signed
                if all(x in signed for x in m.vset):
                    self.new_views.setdefault(m.view, []).append(m)


class Context:
    """Params, rules and the alphabet, with tallies memoized on the pool."""

    def __init__(
        self, params: Params, rules: Rules = SPEC_RULES, alphabet: tuple[Msg, ...] | None = None
    ) -> None:
        self.params = params
        self.rules = rules
        self.alphabet = byzantine_alphabet(params) if alphabet is None else alphabet
        self._alphabet_set = frozenset(self.alphabet)
        self._tallies: dict[tuple[Msg, ...], Tally] = {}
        self._new_views: dict[tuple[Any, ...], list[tuple[int, Digest, tuple[Cert, ...]]]] = {}
        self._sets: dict[tuple[Msg, ...], frozenset[Msg]] = {}

    def tally(self, pool: tuple[Msg, ...]) -> Tally:
        found = self._tallies.get(pool)
        if found is None:
            if len(self._tallies) >= 100_000:
                self._tallies.clear()
            signed = self._alphabet_set | self._pool_set(pool)
            found = self._tallies[pool] = Tally(self.params, self.alphabet + pool, signed)
        return found

    # -- thresholds (section 4.1) --

    @property
    def quorum(self) -> int:
        """A quorum certificate: n - f replicas (2f + 1 when n = 3f + 1)."""
        q = self.rules.quorum_override
        return q if q is not None else self.params.n - self.params.f

    @property
    def paper_quorum(self) -> int:
        return self.params.n - self.params.f

    @property
    def checkpoint_quorum(self) -> int:
        return self.params.f + 1 if self.rules.weak_checkpoint else self.quorum

    @property
    def reply_quorum(self) -> int:
        r = self.rules.client_replies
        return r if r is not None else self.params.f + 1

    # -- predicates of section 4.2 --

    def accepted_pre_prepare(self, pool: tuple[Msg, ...], i: int, v: int, n: int, d: str) -> bool:
        """i's log holds the pre-prepare (v, n, d): i is the primary and sent it, or i accepted
        it (its PREPARE)."""
        if self.params.primary(v) == i:
            return Msg(PRE_PREPARE, v, n, d, i) in self._pool_set(pool)
        return Msg(PREPARE, v, n, d, i) in self._pool_set(pool)

    def prepared(
        self, pool: tuple[Msg, ...], i: int, v: int, n: int, d: str, quorum: int | None = None
    ) -> bool:
        """prepared(m, v, n, i) (section 4.2): the request, its pre-prepare in view v with
        sequence number n, and 2f PREPAREs from different backups that match it."""
        q = self.quorum if quorum is None else quorum
        if not self.accepted_pre_prepare(pool, i, v, n, d):
            return False
        return len(self.tally(pool).prepares.get((v, n, d), ())) >= q - 1

    def committed_local(self, pool: tuple[Msg, ...], i: int, v: int, n: int, d: str) -> bool:
        """committed-local(m, v, n, i) (section 4.2): prepared at i (i sent its COMMIT) and 2f + 1
        matching COMMITs from different replicas (possibly including its own)."""
        if Msg(COMMIT, v, n, d, i) not in self._pool_set(pool):
            return False
        return len(self.tally(pool).commits.get((v, n, d), ())) >= self.quorum

    def _pool_set(self, pool: tuple[Msg, ...]) -> frozenset[Msg]:
        cache = self._sets
        found = cache.get(pool)
        if found is None:
            if len(cache) >= 100_000:
                cache.clear()
            found = cache[pool] = frozenset(pool)
        return found

    # -- view changes (section 4.4) --

    def stable_proof(self, pool: tuple[Msg, ...], seq: int, digest: Digest) -> bool:
        """C: a quorum of CHECKPOINTs for (n, d) exists (n = 0 is the initial state)."""
        if seq == 0:
            return digest == ()
        return len(self.tally(pool).checkpoints.get((seq, digest), ())) >= self.checkpoint_quorum

    def certificate_exists(self, pool: tuple[Msg, ...], cert: Cert) -> bool:
        """A prepared certificate's signed messages exist: the pre-prepare of primary(v) and
        2f PREPAREs of distinct backups for (v, n, d)."""
        n, d, v = cert
        t = self.tally(pool)
        return d in t.pre_prepares.get((v, n), ()) and (
            len(t.prepares.get((v, n, d), ())) >= self.quorum - 1
        )

    def valid_view_change(self, pool: tuple[Msg, ...], m: Msg) -> bool:
        """A VIEW-CHANGE is valid: its checkpoint proof holds, every P entry has a certificate
        in a view below v, above the checkpoint and within the log, at most one per n."""
        if m.sender in self.params.correct:
            return True  # correct replicas send only valid ones (and the pool is unforgeable)
        if not self.stable_proof(pool, m.seq, m.digest):
            return False
        seqs = [c[0] for c in m.certs]
        if len(set(seqs)) != len(seqs):
            return False
        for cert in m.certs:
            n, _, w = cert
            if not (m.seq < n <= m.seq + self.params.log_size and w < m.view):
                return False
            if not self.certificate_exists(pool, cert):
                return False
        return True

    def new_view_choices(
        self, pool: tuple[Msg, ...], p: int, v: int
    ) -> list[tuple[int, Digest, tuple[Cert, ...]]]:
        """Every (min-s, its digest, O) the primary p of view v can compute from a set V of
        2f + 1 valid VIEW-CHANGEs for v from distinct replicas, its own among them."""
        key = (pool, p, v)
        found = self._new_views.get(key)
        if found is not None:
            return found
        mine = [m for m in self.tally(pool).view_changes.get(v, []) if m.sender == p]
        others: dict[int, list[Msg]] = {}
        for m in self.tally(pool).view_changes.get(v, []):
            if m.sender != p and self.valid_view_change(pool, m):
                others.setdefault(m.sender, []).append(m)
        results: set[tuple[int, Digest, tuple[Cert, ...]]] = set()
        if mine:
            for senders in itertools.combinations(sorted(others), self.quorum - 1):
                for chosen in itertools.product(*(others[s] for s in senders)):
                    for own in mine:
                        results.add(self.compute_o(v, (own, *chosen)))
        found = sorted(results)
        if len(self._new_views) >= 100_000:
            self._new_views.clear()
        self._new_views[key] = found
        return found

    def valid_new_view(self, pool: tuple[Msg, ...], m: Msg) -> bool:
        """A backup's check of ⟨NEW-VIEW, v, V, O⟩ (section 4.4; TOCS 2002 section 2.3): V holds
        valid VIEW-CHANGEs for v from a quorum of distinct replicas, and min-s, its digest and
        O are what the primary's computation gives from V. A correct primary's is valid (it
        computed it so); the mutant ``backup-accepts-any-new-view`` skips the check."""
        if m.sender in self.params.correct or not self.rules.check_new_view:
            return True
        senders = {x.sender for x in m.vset}
        if len(senders) != len(m.vset) or len(senders) < self.paper_quorum:
            return False
        for x in m.vset:
            if x.kind != VIEW_CHANGE or x.view != m.view or not self.valid_view_change(pool, x):
                return False
        return self.compute_o(m.view, m.vset, paper=True) == (m.seq, m.digest, m.certs)

    def compute_o(
        self, v: int, vs: tuple[Msg, ...], paper: bool = False
    ) -> tuple[int, Digest, tuple[Cert, ...]]:
        """Section 4.4: min-s is the latest stable checkpoint in V, max-s the highest sequence
        number in a P set of V; for every n in (min-s, max-s] a pre-prepare for the request of
        the certificate with the highest view in V for n, or for the null request if none."""
        best = max(vs, key=lambda m: m.seq)
        min_s, digest = best.seq, best.digest
        certs = [c for m in vs for c in m.certs]
        max_s = max([min_s, *(c[0] for c in certs)])
        o: list[Cert] = []
        for n in range(min_s + 1, max_s + 1):
            here = [c for c in certs if c[0] == n]
            if here and (paper or self.rules.newview_uses_certificates):
                top = max(here, key=lambda c: (c[2], c[1]))
                o.append((n, top[1], v))
            else:
                o.append((n, NULL, v))
        return min_s, digest, tuple(o)


# -- Actions -------------------------------------------------------------------------------------
# ``replica`` is a correct replica's id.


@attrs.frozen
class PrePrepare:
    """Section 4.2: the primary assigns the next sequence number n to request d and multicasts
    ⟨PRE-PREPARE, v, n, d⟩ (n within its water marks)."""

    replica: int
    seq: int
    request: Request


@attrs.frozen
class Prepare:
    """Section 4.2: a backup accepts ⟨PRE-PREPARE, v, n, d⟩ (its view, h < n <= H, no other
    digest accepted for v and n) and multicasts ⟨PREPARE, v, n, d, i⟩."""

    replica: int
    view: int
    seq: int
    request: Request


@attrs.frozen
class Commit:
    """Section 4.2: prepared(m, v, n, i) becomes true; i multicasts ⟨COMMIT, v, n, D(m), i⟩."""

    replica: int
    view: int
    seq: int
    request: Request


@attrs.frozen
class Execute:
    """Section 4.2: committed-local(m, v, n, i) and every lower sequence number executed:
    execute, REPLY; section 4.3: a CHECKPOINT when n mod K = 0."""

    replica: int
    seq: int
    request: Request


@attrs.frozen
class StableCheckpoint:
    """Section 4.3: a quorum of matching CHECKPOINTs for n: the checkpoint is stable, h = n, the
    log below is discarded (and the certified state fetched if i is behind)."""

    replica: int
    seq: int
    digest: Digest


@attrs.frozen
class StartViewChange:
    """Section 4.4: the timer expires while i waits for a request: move to v + 1 and multicast
    ⟨VIEW-CHANGE, v + 1, n, C, P, i⟩."""

    replica: int


@attrs.frozen
class JoinViewChange:
    """Section 4.5.2: f + 1 valid VIEW-CHANGEs from other replicas for views above i's: send a
    VIEW-CHANGE for the smallest view in that set (``view``: the least view of some set of
    f + 1 valid VIEW-CHANGEs from distinct other replicas that i may have received)."""

    replica: int
    view: int


@attrs.frozen
class NewView:
    """Section 4.4: the primary of v with 2f valid VIEW-CHANGEs from others and its own
    multicasts ⟨NEW-VIEW, v, V, O⟩ (and O's pre-prepares), and enters v."""

    replica: int
    view: int
    min_s: int
    digest: Digest
    o: tuple[Cert, ...]


@attrs.frozen
class AcceptNewView:
    """Section 4.4: a backup accepts a correct NEW-VIEW for v > its view (or = its view while
    changing) from the primary of v (:meth:`Context.valid_new_view`), enters v, takes min-s's
    checkpoint if newer, adds O's pre-prepares to its log and multicasts a PREPARE for each
    (within its water marks). ``o`` and ``vset`` name the NEW-VIEW (``vset`` is empty for a
    correct primary's)."""

    replica: int
    view: int
    min_s: int
    digest: Digest
    o: tuple[Cert, ...] = ()
    vset: tuple[Msg, ...] = ()


@attrs.frozen
class ClientAccept:
    """Section 4.1: the client accepts result r of request d on f + 1 matching REPLYs from
    different replicas."""

    request: Request
    result: int


Action = (
    PrePrepare
    | Prepare
    | Commit
    | Execute
    | StableCheckpoint
    | StartViewChange
    | JoinViewChange
    | NewView
    | AcceptNewView
    | ClientAccept
)


# -- Enabling conditions -------------------------------------------------------------------------


def in_window(params: Params, replica: Replica, seq: int) -> bool:
    """h < n <= H = h + k (section 4.3)."""
    return replica.low < seq <= replica.low + params.log_size


def next_seq(ctx: Context, state: SystemState, replica: Replica) -> int:
    """The primary's next sequence number in its view: after its own pre-prepares, after
    max-s of its NEW-VIEW, and after its low water mark."""
    v = replica.view
    used = [replica.low]
    for m in state.pool:
        if m.view == v and m.sender == replica.id and m.kind in (PRE_PREPARE, NEW_VIEW):
            used.append(m.seq)
            used += [c[0] for c in m.certs]
    return max(used) + 1


def replies(ctx: Context, state: SystemState) -> dict[tuple[Request, int], set[int]]:
    """(request, result) -> replicas that replied it: the correct replicas' executed requests
    and the faulty replicas' replies for everything."""
    out: dict[tuple[Request, int], set[int]] = {}
    for r in state.replicas:
        for k, d in enumerate(r.executed):
            if d != NULL:
                out.setdefault((d, k + 1), set()).add(r.id)
    for b in ctx.params.byzantine:
        for d in ctx.params.requests:
            for s in range(1, ctx.params.max_seq + 1):
                out.setdefault((d, s), set()).add(b)
    return out


def own_view_change(ctx: Context, state: SystemState, replica: Replica) -> Msg:
    """⟨VIEW-CHANGE, v + 1, n, C, P, i⟩ (section 4.4): the last stable checkpoint (n, its
    digest) and, per sequence number above it, the prepared certificate of the highest view."""
    best: dict[int, Cert] = {}
    for m in state.pool:
        if m.kind == COMMIT and m.sender == replica.id and in_window(ctx.params, replica, m.seq):
            if m.seq not in best or best[m.seq][2] < m.view:
                best[m.seq] = (m.seq, m.request, m.view)
    certs = tuple(best[s] for s in sorted(best))
    digest = replica.executed[: replica.low]
    return Msg(VIEW_CHANGE, replica.view, replica.low, "", replica.id, digest, certs)


def enabled_actions(ctx: Context, state: SystemState) -> Iterator[Action]:
    """Every action enabled in ``state``, replica by replica, in a fixed order."""
    params, rules = ctx.params, ctx.rules
    t = ctx.tally(state.pool)
    sent = ctx._pool_set(state.pool)
    for r in state.replicas:
        i, v = r.id, r.view
        primary = params.primary(v) == i
        if r.active and primary:
            n = next_seq(ctx, state, r)
            if n <= params.max_seq and in_window(params, r, n):
                assigned = {
                    m.request
                    for m in state.pool
                    if m.kind == PRE_PREPARE and m.view == v and m.sender == i
                }
                for d in params.requests:
                    if d not in assigned and d not in r.executed:
                        yield PrePrepare(i, n, d)
        if r.active and not primary:
            for (pv, n), ds in sorted(t.pre_prepares.items()):
                if pv != v or not (in_window(params, r, n) or not rules.check_watermarks):
                    continue
                if n <= r.low:
                    continue
                mine = [d for d in ds if Msg(PREPARE, v, n, d, i) in sent]
                if mine:
                    continue  # accepted one already for (v, n)
                for d in sorted(ds):
                    yield Prepare(i, v, n, d)
        if r.active:
            for (pv, n, d), _ in sorted(t.prepares.items()) if rules.require_prepared else ():
                if pv == v and in_window(params, r, n) and Msg(COMMIT, v, n, d, i) not in sent:
                    if ctx.prepared(state.pool, i, v, n, d):
                        yield Commit(i, v, n, d)
            if not rules.require_prepared:
                for m in state.pool:
                    if m.kind in (PREPARE, PRE_PREPARE) and m.sender == i and m.view == v:
                        c = Msg(COMMIT, v, m.seq, m.request, i)
                        if in_window(params, r, m.seq) and c not in sent:
                            yield Commit(i, v, m.seq, m.request)
        n = len(r.executed) + 1
        if in_window(params, r, n):
            done = set()
            for (cv, cn, d), senders in sorted(t.commits.items()):
                if cn == n and d not in done and len(senders) >= ctx.quorum:
                    if Msg(COMMIT, cv, cn, d, i) in sent:
                        done.add(d)
                        yield Execute(i, n, d)
        for (s, digest), senders in sorted(t.checkpoints.items()):
            if s > r.low and len(senders) >= ctx.checkpoint_quorum:
                yield StableCheckpoint(i, s, digest)
        if v < params.max_view and any(d not in r.executed for d in params.requests):
            yield StartViewChange(i)
        higher: dict[int, set[int]] = {}
        for w, msgs in t.view_changes.items():
            if w > v:
                for m in msgs:
                    if m.sender != i and ctx.valid_view_change(state.pool, m):
                        higher.setdefault(w, set()).add(m.sender)
        # the replica may have received any f + 1 of them (delivery is in any order): it joins
        # the smallest view of the set it holds, so every w that is the least of some such set
        for w in sorted(higher):
            at_least = set().union(*(ss for u, ss in higher.items() if u >= w))
            if len(at_least) >= params.f + 1:
                yield JoinViewChange(i, w)
        if not r.active and primary:
            for min_s, digest, o in ctx.new_view_choices(state.pool, i, v):
                yield NewView(i, v, min_s, digest, o)
        for w, msgs in sorted(t.new_views.items()):
            if (w > v or (w == v and not r.active)) and params.primary(w) != i:
                for m in sorted(msgs):
                    if ctx.valid_new_view(state.pool, m):
                        yield AcceptNewView(i, w, m.seq, m.digest, m.certs, m.vset)
    reps = replies(ctx, state)
    taken = {d for d, _ in state.accepted}
    for (d, result), senders in sorted(reps.items()):
        if d not in taken and len(senders) >= ctx.reply_quorum:
            yield ClientAccept(d, result)


# -- Effects -------------------------------------------------------------------------------------


def _send(pool: tuple[Msg, ...], *messages: Msg) -> tuple[Msg, ...]:
    """The pool with ``messages`` added, kept sorted and without duplicates."""
    out = list(pool)
    for m in messages:
        k = bisect.bisect_left(out, m)
        if k == len(out) or out[k] != m:
            out.insert(k, m)
    return pool if len(out) == len(pool) else tuple(out)


def _take_checkpoint(r: Replica, seq: int, digest: Digest) -> Replica:
    """h = n; the state is fetched when i has not executed that far (section 4.3)."""
    if seq <= r.low:
        return r
    executed = r.executed if len(r.executed) >= seq else digest
    return attrs.evolve(r, low=seq, executed=executed)


def apply(ctx: Context, state: SystemState, action: Action) -> SystemState:
    """The effect of an enabled ``action`` (see :func:`enabled_actions`)."""
    params = ctx.params
    pool, accepted = state.pool, state.accepted
    if isinstance(action, ClientAccept):
        accepted = tuple(sorted((*accepted, (action.request, action.result))))
        return SystemState(state.replicas, pool, accepted)
    k = params.correct.index(action.replica)
    r = state.replicas[k]
    i = r.id
    if isinstance(action, PrePrepare):
        pool = _send(pool, Msg(PRE_PREPARE, r.view, action.seq, action.request, i))
    elif isinstance(action, Prepare):
        pool = _send(pool, Msg(PREPARE, action.view, action.seq, action.request, i))
    elif isinstance(action, Commit):
        pool = _send(pool, Msg(COMMIT, action.view, action.seq, action.request, i))
    elif isinstance(action, Execute):
        executed = (*r.executed, action.request)
        r = attrs.evolve(r, executed=executed)
        if action.seq % params.checkpoint_interval == 0:
            pool = _send(pool, Msg(CHECKPOINT, 0, action.seq, "", i, executed))
    elif isinstance(action, StableCheckpoint):
        r = _take_checkpoint(r, action.seq, action.digest)
    elif isinstance(action, StartViewChange | JoinViewChange):
        w = r.view + 1 if isinstance(action, StartViewChange) else action.view
        r = attrs.evolve(r, view=w, active=False)
        pool = _send(pool, own_view_change(ctx, state, r))
    elif isinstance(action, NewView):
        o = action.o
        nv = Msg(NEW_VIEW, action.view, action.min_s, "", i, action.digest, o)
        pre = [Msg(PRE_PREPARE, action.view, n, d, i) for n, d, _ in o]
        pool = _send(pool, nv, *pre)
        r = _take_checkpoint(attrs.evolve(r, active=True), action.min_s, action.digest)
    elif isinstance(action, AcceptNewView):
        r = attrs.evolve(r, view=action.view, active=True)
        r = _take_checkpoint(r, action.min_s, action.digest)
        prepares = [
            Msg(PREPARE, action.view, n, d, i) for n, d, _ in action.o if in_window(params, r, n)
        ]
        pool = _send(pool, *prepares)
    replicas = tuple(r if j == k else q for j, q in enumerate(state.replicas))
    return SystemState(replicas, pool, accepted)


# -- Invariants ----------------------------------------------------------------------------------


def _correct_commits(ctx: Context, state: SystemState) -> Iterator[Msg]:
    return (m for m in state.pool if m.kind == COMMIT)


def committed_agreement(ctx: Context, state: SystemState) -> bool:
    """No two correct replicas are committed-local on different requests at one sequence
    number, in any views (section 4.2, the safety property of section 4 / TOCS section 2.3)."""
    seen: dict[int, str] = {}
    for m in _correct_commits(ctx, state):
        if ctx.committed_local(state.pool, m.sender, m.view, m.seq, m.request):
            if seen.setdefault(m.seq, m.request) != m.request:
                return False
    return True


def prepared_unique(ctx: Context, state: SystemState) -> bool:
    """prepared(m, v, n, i) and prepared(m', v, n, j) for correct i, j imply D(m) = D(m')
    (section 4.2: the pre-prepare and prepare phases order requests within a view)."""
    seen: dict[tuple[int, int], str] = {}
    for m in state.pool:
        if m.kind in (PREPARE, PRE_PREPARE):
            if ctx.prepared(state.pool, m.sender, m.view, m.seq, m.request):
                if seen.setdefault((m.view, m.seq), m.request) != m.request:
                    return False
    return True


def view_change_preserves_commits(ctx: Context, state: SystemState) -> bool:
    """A request committed-local at a correct replica in view v' is, in every NEW-VIEW for a
    view v > v' that a correct replica accepts (a correct primary's, or a Byzantine one that
    passes the backups' check), re-proposed at the same sequence number in O, or covered by
    min-s's checkpoint (section 4.4: the view-change protocol preserves committed requests)."""
    committed = [
        m
        for m in _correct_commits(ctx, state)
        if ctx.committed_local(state.pool, m.sender, m.view, m.seq, m.request)
    ]
    if not committed:
        return True
    t = ctx.tally(state.pool)
    for nv in (nv for nvs in t.new_views.values() for nv in nvs):
        if not ctx.valid_new_view(state.pool, nv):
            continue
        o = {(n, d) for n, d, _ in nv.certs}
        for m in committed:
            if m.view >= nv.view:
                continue
            if m.seq <= nv.seq:
                if nv.digest[m.seq - 1] != m.request:
                    return False
            elif (m.seq, m.request) not in o:
                return False
    return True


def executed_prefix(ctx: Context, state: SystemState) -> bool:
    """The executed sequences of correct replicas are prefixes of one another (they execute
    committed requests in sequence-number order, section 4.2)."""
    rs = sorted((r.executed for r in state.replicas), key=len)
    return all(b[: len(a)] == a for a, b in itertools.pairwise(rs))


def client_accepts_computed(ctx: Context, state: SystemState) -> bool:
    """A client accepts only a result that a correct replica computed (f + 1 replies include a
    correct one, section 4.1)."""
    for d, result in state.accepted:
        if not any(r.executed[result - 1 : result] == (d,) for r in state.replicas):
            return False
    return True


def gc_keeps_needed_state(ctx: Context, state: SystemState) -> bool:
    """Garbage collection never drops what a correct replica still needs: every correct
    replica has executed (or fetched) up to its low water mark h, and the state at h is held by
    at least f + 1 correct replicas, so anyone behind can fetch it with a proof (section 4.3:
    the log is discarded only below a checkpoint proved by 2f + 1 CHECKPOINTs)."""
    for r in state.replicas:
        if r.low == 0:
            continue
        if len(r.executed) < r.low:
            return False
        digest = r.executed[: r.low]
        holders = sum(1 for q in state.replicas if q.executed[: r.low] == digest)
        if holders < ctx.params.f + 1:
            return False
    return True


def watermarks_respected(ctx: Context, state: SystemState) -> bool:
    """A correct replica's PRE-PREPAREs, PREPAREs and COMMITs have n <= H = h + k (section 4.2:
    a backup accepts a pre-prepare only if h < n <= H; h only grows, so this is an invariant)."""
    replicas = {r.id: r for r in state.replicas}
    for m in state.pool:
        if m.kind in (PRE_PREPARE, PREPARE, COMMIT):
            if m.seq > replicas[m.sender].low + ctx.params.log_size:
                return False
    return True


INVARIANTS: tuple[tuple[str, str, Callable[[Context, SystemState], bool]], ...] = (
    (
        "committed_agreement",
        "no two correct replicas commit different requests at one sequence number",
        committed_agreement,
    ),
    (
        "prepared_unique",
        "at most one request is prepared per (view, sequence number) among correct replicas",
        prepared_unique,
    ),
    (
        "view_change_preserves_commits",
        "a request committed before a view change is re-proposed at its sequence number after",
        view_change_preserves_commits,
    ),
    (
        "executed_prefix",
        "the executed histories of correct replicas are prefixes of one another",
        executed_prefix,
    ),
    (
        "client_accepts_computed",
        "a client accepts only a result some correct replica computed",
        client_accepts_computed,
    ),
    (
        "gc_keeps_needed_state",
        "the state below a low water mark is held by f + 1 correct replicas",
        gc_keeps_needed_state,
    ),
    (
        "watermarks_respected",
        "correct replicas send PRE-PREPARE/PREPARE/COMMIT only with n <= h + k",
        watermarks_respected,
    ),
)


# -- Step properties -----------------------------------------------------------------------------


def commit_only_when_prepared(
    ctx: Context, pre: SystemState, action: Any, post: SystemState
) -> bool:
    """A correct replica sends ⟨COMMIT, v, n, d, i⟩ only when prepared(m, v, n, i) holds with
    the paper's 2f PREPAREs (section 4.2). Read off the action (the only one that sends a
    COMMIT), so that it holds under symmetry reduction, where ``post`` may be a renaming."""
    if not isinstance(action, Commit):
        return True
    q = ctx.paper_quorum
    return ctx.prepared(pre.pool, action.replica, action.view, action.seq, action.request, q)


STEP_PROPERTIES: tuple[tuple[str, str, Callable[[Context, Any, Any, Any], bool]], ...] = (
    (
        "commit_only_when_prepared",
        "a correct replica commits only requests prepared at it (pre-prepare and 2f prepares)",
        commit_only_when_prepared,
    ),
)


# -- Reachables ----------------------------------------------------------------------------------


def request_committed(ctx: Context, state: SystemState) -> bool:
    return any(d != NULL for r in state.replicas for d in r.executed)


def checkpoint_stable(ctx: Context, state: SystemState) -> bool:
    return any(r.low > 0 for r in state.replicas)


def view_change_completed(ctx: Context, state: SystemState) -> bool:
    return any(r.view > 0 and r.active for r in state.replicas)


def client_accepted(ctx: Context, state: SystemState) -> bool:
    return bool(state.accepted)


def committed_after_view_change(ctx: Context, state: SystemState) -> bool:
    """A request executed from a certificate of a view above 0 (the NEW-VIEW's O carried it)."""
    return any(
        m.kind == COMMIT
        and m.view > 0
        and m.request != NULL
        and len(ctx.tally(state.pool).commits.get((m.view, m.seq, m.request), ())) >= ctx.quorum
        for m in state.pool
    )


def joined_by_f_plus_1(ctx: Context, state: SystemState) -> bool:
    """A correct replica sent a VIEW-CHANGE for a view w >= 2 but none for w - 1, and no
    NEW-VIEW for w - 1 exists: it never was in w - 1, so it skipped that view by the f + 1
    rule (section 4.5.2; a timeout moves one view, a NEW-VIEW for w - 1 does not exist)."""
    t = ctx.tally(state.pool)
    for m in state.pool:
        if m.kind == VIEW_CHANGE and m.view >= 2 and not t.new_views.get(m.view - 1):
            if not any(
                x.kind == VIEW_CHANGE and x.view == m.view - 1 and x.sender == m.sender
                for x in state.pool
            ):
                return True
    return False


# reachables of the configs whose views reach 2 only
REACHABLES_VIEWS_2: tuple[tuple[str, str, Callable[[Context, SystemState], bool]], ...] = (
    (
        "joined_by_f_plus_1",
        "a correct replica skips a view by the f + 1 rule (section 4.5.2)",
        joined_by_f_plus_1,
    ),
)

REACHABLES: tuple[tuple[str, str, Callable[[Context, SystemState], bool]], ...] = (
    ("request_committed", "a correct replica executes a client request", request_committed),
    ("checkpoint_stable", "a correct replica's checkpoint becomes stable", checkpoint_stable),
    (
        "view_change_completed",
        "a correct replica enters view 1 on a NEW-VIEW",
        view_change_completed,
    ),
    ("client_accepted", "the client accepts a result on f + 1 replies", client_accepted),
    (
        "committed_after_view_change",
        "a request gathers a commit quorum in a view above 0",
        committed_after_view_change,
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
    extra = REACHABLES_VIEWS_2 if ctx.params.max_view >= 2 else ()
    reach = tuple(Reachable(n, d, inv(f)) for n, d, f in (*REACHABLES, *extra))
    return invariants, steps, reach
