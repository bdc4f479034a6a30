"""HoneyBadgerBFT epochs: bounded model of the spec, mutants, a real-crypto simulation, a
Hypothesis machine and the benchmark.

Sources: HoneyBadgerBFT (Miller et al., CCS 2016) §4.5, Figure 1; see
:mod:`mnemosyne_consensus.spec.honeybadger`.

* The exhaustive model explores the spec (abstract ACS and decryption) at n = 4, f = 1, B = 4
  (so ⌊B/N⌋ = 1), with the Byzantine proposer contributing nothing, a transaction of its own,
  or a ciphertext that does not decrypt. Measured (one core, loaded machine): ``default``
  53,401 distinct states in about 2 s; ``tiny`` 1,955 in 0.1 s.
* :class:`Cluster` runs the *implementation* (:mod:`mnemosyne_consensus.impl.honeybadger`):
  every message of every node -- the Bracha RBC messages of ACS and the DEC shares -- goes
  through a seeded random scheduler, with the real TDH2 threshold encryption and share proofs
  (:mod:`mnemosyne_consensus.impl.threshold_encryption`). The binary agreements of ACS are
  either real (``aba="real"``: every BVAL/AUX/CONF/COIN/TERM message of n embedded MMR nodes
  per epoch through the same scheduler, with the real threshold coin, session = epoch) or the
  ideal functionality (``aba="ideal"``: BA_j decides once every correct node input, a bit some
  correct node input, chosen by the seeded scheduler). The Byzantine nodes propose (a
  ciphertext of their own transaction, or garbage), send decryption shares with a wrong value
  (refused as BAD_PROOF), and are otherwise silent (so every ABA round needs every correct
  node, or its TERM).
* :class:`HoneyBadgerMachine` drives a cluster (ideal ABA) at n = 4 and 7 with
  Hypothesis-chosen schedules and checks agreement and integrity after every step;
  :class:`HoneyBadgerRealAbaMachine` does the same at n = 4 with the real ABA and runs epochs
  end to end.
* :func:`bench_honeybadger` measures simulated epochs per second (real or ideal ABA).
* The oracle (:data:`CODEC`, :func:`step_checker`, :data:`ORACLE`): the configs ``impl``,
  ``impl-garbage`` and ``impl-decrypt`` run impl node 0 (ports mode, real TDH2) against a
  scripted honest epoch of its peers and a forged alphabet of bad decryption shares (bad
  proofs, wrong ciphertext, wrong sender, unknown index, impostor, later epoch, duplicates);
  vectors and traces come from them.

Censorship resilience is checked twice: in the spec as a step property (light load: the next
epoch), and in simulation by :func:`censorship_run` (a transaction queued at f+1 correct nodes,
under light load, is in the next block; under a backlog, the number of epochs is measured).
"""

from __future__ import annotations

import functools
import hashlib
import random
import time
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ..impl import honeybadger as impl
from ..impl import threshold_coin as coin
from ..impl import threshold_encryption as tpke
from ..impl import threshold_group as group
from ..spec import honeybadger as spec
from .acs import CODEC as ACS_CODEC
from .acs import _message_from_json as _acs_message_from_json
from .acs import _message_to_json as _acs_message_to_json
from .codec import (
    JSON,
    DecodeError,
    dumps_line,
    expect_array,
    expect_int,
    expect_object,
    expect_str,
    object_schema,
    plain_from_json,
    plain_to_json,
)
from .engine import Model
from .machines import require
from .registry_types import Config, Mutant, ProtocolEntry
from .vectors import OracleBinding

# -- The exhaustive model of the spec -----------------------------------------------------------

CONFIGS = (
    Config(
        "default",
        "n = 4, f = 1, B = 4, queues [a b c] [a c] [b d], 3 epochs; the Byzantine proposer "
        "contributes nothing, 'd' (also queued at a correct node), 'e' or garbage",
        {
            "n": 4,
            "f": 1,
            "batch_size": 4,
            "queues": (("a", "b", "c"), ("a", "c"), ("b", "d")),
            "byzantine_batches": ((), ("d",), ("e",), spec.GARBAGE),
            "epochs": 3,
        },
        expected_distinct_states=53401,
    ),
    Config(
        "tiny",
        "n = 4, f = 1, B = 4, queues [a c] [a] [b], 2 epochs",
        {
            "n": 4,
            "f": 1,
            "batch_size": 4,
            "queues": (("a", "c"), ("a",), ("b",)),
            "byzantine_batches": ((), ("d",), spec.GARBAGE),
            "epochs": 2,
        },
        expected_distinct_states=1955,
    ),
    Config(
        "impl",
        "the impl (ports mode, real TDH2) at n = 4, f = 1: node 0 against a scripted honest "
        "epoch of nodes 1, 2 (the Byzantine node 3 silent, S = {0, 1, 2}) and a forged "
        "alphabet of bad shares and proofs (the oracle's vectors and traces come from it)",
        {"n": 4, "f": 1, "impl": True, "byzantine": "silent"},
        expected_distinct_states=1008,
    ),
    Config(
        "impl-garbage",
        "as 'impl', with node 3's RBC delivering a string that is no ciphertext: S = {0..3}, "
        "v_3 contributes nothing",
        {"n": 4, "f": 1, "impl": True, "byzantine": "garbage"},
        expected_distinct_states=697,
    ),
    Config(
        "impl-decrypt",
        "as 'impl', from the state where node 0 knows S (every ACS message and decision "
        "delivered): the decryption phase, its shares and the block",
        {"n": 4, "f": 1, "impl": True, "byzantine": "silent", "start": "decrypt"},
        expected_distinct_states=28,
    ),
)

MUTANTS = (
    Mutant(
        "accept-share-without-proof",
        "decryption shares are not checked against their DLEQ proofs: a Byzantine share among "
        "a node's first f+1 spoils its key, so that node drops a contribution others keep",
        "agreement",
    ),
    Mutant(
        "window-skips-head",
        "the batch is drawn from buf[1:B+1] instead of the first B: under light load the oldest "
        "transaction is never proposed",
        "censorship_resilience",
    ),
    Mutant(
        "output-undecryptable",
        "a contribution that does not decrypt is output as a transaction instead of dropped",
        "integrity",
    ),
)

MUTATIONS: dict[str, dict[str, Any]] = {
    "accept-share-without-proof": {"verify_shares": False},
    "window-skips-head": {"window_start": 1},
    "output-undecryptable": {"output_garbage": True},
}


def params_of(config: Config) -> spec.Params:
    p = config.params
    return spec.Params(
        p["n"],
        p["f"],
        p["batch_size"],
        tuple(tuple(q) for q in p["queues"]),
        tuple(tuple(b) for b in p["byzantine_batches"]),
        p["epochs"],
    )


def build(config: Config, mutant: Mutant | None) -> Model[Any, Any]:
    if config.params.get("impl"):
        return build_impl(config, mutant)
    params = params_of(config)
    rules = spec.SPEC_RULES
    if mutant is not None:
        rules = attrs.evolve(rules, **MUTATIONS[mutant.name])
    invariants, steps, reachables = spec.properties(params)

    def initial_states() -> Iterator[spec.SystemState]:
        yield spec.initial_state(params)

    return Model(
        name="honeybadger",
        initial_states=initial_states,
        actions=lambda s: spec.enabled_actions(rules, params, s),
        next_state=lambda s, a: spec.apply(rules, params, s, a),
        invariants=invariants,
        step_properties=steps,
        reachables=reachables,
        describe_action=str,
    )


def view(state: Any) -> Mapping[str, Any]:
    if isinstance(state, OracleState):  # the impl configs: node 0 and its script
        node = state.node
        return {
            "epoch": node.epoch,
            "queue": node.queue,
            "log": node.log,
            "proposed": node.proposed,
            "subset": None if node.subset is None else tuple(j for j, _ in node.subset),
            "shares": {j: tuple(s.index for s in row) for j, row in enumerate(node.shares)},
            "early": tuple((s, j) for s, j, _ in node.early),
            "script_position": state.position,
            "decisions_told": state.decided,
        }
    return {
        "epoch": state.epoch,
        "queues": dict(enumerate(state.queues)),
        "logs": dict(enumerate(state.logs)),
        "proposals": {i: p for i, p in enumerate(state.proposals) if p is not None},
        "subset": state.subset,
    }


PROTOCOL = ProtocolEntry(
    name="honeybadger",
    summary="HoneyBadgerBFT epochs: batch, threshold-encrypt, ACS, decrypt, sorted block",
    source="Miller, Xia, Croman, Shi, Song, The Honey Badger of BFT Protocols, CCS 2016, §4.5",
    configs=CONFIGS,
    mutants=MUTANTS,
    build=build,
    view=view,
)


# -- A cluster of impl nodes under a seeded scheduler (real cryptography) ----------------------


@functools.lru_cache(maxsize=8)
def keys(n: int, f: int) -> tuple[tpke.EncryptionPublicKey, tuple[tpke.DecryptionKeyShare, ...]]:
    """The trusted dealer's TDH2 keys for n nodes, threshold f+1 (seeded: an input)."""
    return tpke.deal_encryption(n, f + 1, b"mnemosyne/honeybadger/dealer/" + bytes([n, f]))


@functools.lru_cache(maxsize=8)
def coin_keys(n: int, f: int) -> tuple[coin.CoinPublicKey, tuple[coin.CoinSecretShare, ...]]:
    """The trusted dealer's threshold-coin keys for n nodes, threshold f+1 (seeded: an input)."""
    return coin.deal_coin(n, f + 1, b"mnemosyne/honeybadger/coin/" + bytes([n, f]))


def bad_share(share: tpke.DecryptionShare) -> tpke.DecryptionShare:
    """The share with a wrong but well-formed value (u_i times g): its proof no longer holds."""
    value = group.encode_point(group.add(group.decode_point(share.value), group.base_mul(1)))
    return attrs.evolve(share, value=value)


class Cluster:
    """n − f correct impl nodes and f scripted Byzantine ones, one network; the binary
    agreements real (``aba="real"``, embedded in every node's ACS) or ideal (``"ideal"``)."""

    def __init__(
        self,
        n: int,
        f: int,
        batch_size: int,
        queues: list[tuple[str, ...]],
        seed: int = 1,
        ops: impl.Ops = impl.STANDARD_OPS,
        byzantine_garbage: bool = False,
        aba: str = "ideal",
        aba_max_round: int = 64,
    ) -> None:
        if aba not in ("ideal", "real"):
            raise ValueError(f"aba must be 'ideal' or 'real', not {aba!r}")
        self.n, self.f, self.batch_size = n, f, batch_size
        self.aba = aba
        self.rng = random.Random(seed)
        self.ops = ops
        self.byzantine_garbage = byzantine_garbage
        public, secrets = keys(n, f)
        self.public, self.secrets = public, secrets
        coin_public, coin_secrets = coin_keys(n, f) if aba == "real" else (None, None)
        self.nodes = [
            impl.new_node(
                impl.NodeConfig(
                    i,
                    n,
                    f,
                    batch_size,
                    public,
                    secrets[i],
                    coin_public,
                    None if coin_secrets is None else coin_secrets[i],
                    aba_max_round,
                ),
                queues[i],
            )
            for i in range(n - f)
        ]
        self.submitted = {tx for q in queues for tx in q}
        # network: per receiver, the messages in flight (sender, message)
        self.inbox: list[list[tuple[int, impl.Message]]] = [[] for _ in range(n)]
        self.aba_inputs: dict[tuple[int, int], dict[int, int]] = {}
        self.decisions: dict[tuple[int, int], int] = {}
        self.blocks: list[dict[int, tuple[str, ...]]] = []  # per epoch: node -> block
        self.byzantine_epoch: dict[int, int] = {}  # Byzantine node -> epochs it proposed in
        self.steps = 0

    @property
    def correct(self) -> range:
        return range(self.n - self.f)

    def _broadcast(self, sender: int, messages: tuple[impl.Message, ...]) -> None:
        for m in messages:
            for k in self.correct:
                if k != sender:
                    self.inbox[k].append((sender, m))

    def apply(self, i: int, event: impl.Event) -> impl.Effects:
        node = self.nodes[i]
        new, effects = impl.step(node, event, self.ops)
        self.steps += 1
        if effects.faults:
            require(new == node, f"node {i}: a fault changed the state: {effects.faults}")
        self.nodes[i] = new
        self._broadcast(i, effects.broadcasts)
        for epoch, j, bit in effects.aba_inputs:
            self.aba_inputs.setdefault((epoch, j), {})[i] = bit
        if effects.block is not None:
            b = effects.block
            while len(self.blocks) <= b.epoch:
                self.blocks.append({})
            self.blocks[b.epoch][i] = b.transactions
        return effects

    def start_epoch(self, i: int) -> None:
        if not self.nodes[i].proposed:
            self.apply(i, impl.StartEpoch(self.rng.randbytes(32)))

    def byzantine_propose(self, b: int, epoch: int) -> None:
        """Byzantine node b's proposal in ``epoch``: its own transaction, or garbage."""
        if self.byzantine_epoch.get(b, -1) >= epoch:
            return
        self.byzantine_epoch[b] = epoch
        if self.byzantine_garbage:
            value = "garbage"
        else:
            tx = f"byz{b}-e{epoch}"
            self.submitted.add(tx)
            ct = tpke.encrypt(
                self.public,
                impl.epoch_label(epoch),
                impl.encode_batch((tx,)),
                hashlib.sha256(tx.encode()).digest(),
            )
            value = impl.encode_ciphertext(ct)
        self._broadcast(b, (impl.AcsMessage(epoch, impl.rbc_impl.Message("val", b, value)),))

    def byzantine_shares(self, b: int) -> None:
        """Byzantine node b sends a wrong share for every ciphertext of S some node knows."""
        for node in self.nodes:
            for j, ct in node.subset or ():
                if ct is not None:
                    share = tpke.decryption_share(self.public, self.secrets[b], ct)
                    assert isinstance(share, tpke.DecryptionShare)
                    message = impl.DecMessage(node.epoch, j, bad_share(share))
                    self._broadcast(b, (message,))
            if node.subset:
                return

    def deliver(self, i: int, k: int) -> None:
        sender, message = self.inbox[i].pop(k)
        effects = self.apply(i, impl.Receive(sender, message))
        if any(f.kind is impl.FaultKind.FUTURE_EPOCH for f in effects.faults):
            self.inbox[i].append((sender, message))  # the transport tries again later

    def decide(self, epoch: int, j: int) -> bool:
        """The ideal BA_j of ``epoch``: once every correct node input, a bit one of them input."""
        inputs = self.aba_inputs.get((epoch, j), {})
        if self.aba == "real" or (epoch, j) in self.decisions or len(inputs) < len(self.correct):
            return False
        self.decisions[(epoch, j)] = self.rng.choice(sorted(set(inputs.values())))
        return True

    def tell_decisions(self) -> bool:
        told = False
        if self.aba == "real":
            return told
        for i in self.correct:
            node = self.nodes[i]
            for j in range(self.n):
                bit = self.decisions.get((node.epoch, j))
                if bit is not None and node.acs.ba_decision[j] is None:
                    self.apply(i, impl.AbaDecided(node.epoch, j, bit))
                    told = True
        return told

    def deliverable(self) -> list[tuple[int, int]]:
        return [(i, k) for i in self.correct for k in range(len(self.inbox[i]))]

    def run_epoch(self, max_steps: int = 10_000_000) -> None:
        """One epoch to the end under the seeded scheduler: every correct node outputs it."""
        epoch = min(node.epoch for node in self.nodes)
        for i in self.correct:
            if self.nodes[i].epoch == epoch:
                self.start_epoch(i)
        for b in range(self.n - self.f, self.n):
            self.byzantine_propose(b, epoch)
        shares_sent = False
        while any(node.epoch == epoch for node in self.nodes):
            if self.steps > max_steps:
                raise RuntimeError("the epoch did not finish")
            progressed = self.tell_decisions()
            for j in range(self.n):
                progressed = self.decide(epoch, j) or progressed
            if not shares_sent and any(node.subset for node in self.nodes):
                for b in range(self.n - self.f, self.n):
                    self.byzantine_shares(b)
                shares_sent = True
            pending = [i for i in self.correct if self.inbox[i]]
            if not pending:
                if not progressed:
                    raise RuntimeError("the epoch is stuck with nothing in flight")
                continue
            i = self.rng.choice(pending)
            self.deliver(i, self.rng.randrange(len(self.inbox[i])))

    # -- properties
    def agreement(self) -> bool:
        return all(len(set(by_node.values())) <= 1 for by_node in self.blocks)

    def integrity(self) -> bool:
        return all(
            tx in self.submitted for by_node in self.blocks for b in by_node.values() for tx in b
        )


def censorship_run(
    n: int, f: int, batch_size: int, backlog: int, seed: int = 1, epochs: int = 50
) -> dict[str, Any]:
    """Every transaction queued at exactly f+1 correct nodes (chosen by the seed); runs epochs
    until all are output and reports, per transaction, the epoch that output it.

    With ``backlog`` ≤ ⌊B/N⌋ per node (light load) the spec's bound is one epoch; the result
    says whether it held. Heavier backlogs report the epochs taken (HB §4.5: O(T/B + λ)).
    """
    rng = random.Random(seed)
    correct = list(range(n - f))
    queues: list[list[str]] = [[] for _ in range(n)]
    txs = []
    for t in range(backlog * (n - f) // (f + 1)):
        tx = f"tx{t:04d}"
        txs.append(tx)
        for i in rng.sample(correct, f + 1):
            queues[i].append(tx)
    cluster = Cluster(n, f, batch_size, [tuple(q) for q in queues], seed=seed)
    output_at: dict[str, int] = {}
    for e in range(epochs):
        cluster.run_epoch()
        for tx in cluster.blocks[e][0]:
            output_at.setdefault(tx, e)
        if len(output_at) >= len(txs):
            break
    light = all(len(q) <= batch_size // n for q in queues)
    return {
        "transactions": len(txs),
        "max_queue": max(len(q) for q in queues),
        "light_load": light,
        "epochs_run": len(cluster.blocks),
        "all_output": all(tx in output_at for tx in txs),
        "max_epoch_of_output": max(output_at.values(), default=-1),
        "agreement": cluster.agreement(),
    }


def bench_honeybadger(
    nodes: int, batch: int = 100, epochs: int = 3, seed: int = 1, aba: str = "real"
) -> dict[str, Any]:
    """Simulated epochs per second: every message of every node (Bracha RBC of ACS, DEC shares,
    and with ``aba="real"`` every BVAL/AUX/CONF/COIN/TERM of the n embedded binary agreements
    per epoch, with the real threshold coin) through the seeded scheduler, real TDH2
    encryption, shares and proofs; ``aba="ideal"`` replaces the binary agreements by the ideal
    functionality. Each correct node starts with 2·B queued transactions; f = ⌊(n−1)/3⌋
    Byzantine nodes propose and send bad shares, and are silent in the ABAs. The dealers' key
    generation is outside the timing."""
    f = (nodes - 1) // 3
    queues = [tuple(f"n{i}-tx{t:05d}" for t in range(2 * batch)) for i in range(nodes - f)] + [
        ()
    ] * f
    keys(nodes, f)  # the dealers are not part of an epoch
    if aba == "real":
        coin_keys(nodes, f)
    tpke.clear_caches()
    cluster = Cluster(nodes, f, batch, queues, seed=seed, aba=aba)
    started = time.perf_counter()
    for _ in range(epochs):
        cluster.run_epoch()
    seconds = time.perf_counter() - started
    require(cluster.agreement(), "the benchmark's epochs disagree")
    return {
        "nodes": nodes,
        "batch_transactions": batch,
        "epochs": epochs,
        "seconds": round(seconds, 3),
        "epochs_per_second": round(epochs / seconds, 3),
        "node_steps": cluster.steps,
        "transactions_output": sum(len(b[0]) for b in cluster.blocks),
        "aba": aba,
        "simulated": (
            "every RBC, ABA (BVAL/AUX/CONF/COIN/TERM, real threshold coin) and DEC message of "
            "every node"
            if aba == "real"
            else "every RBC and DEC message of every node; ABA as the ideal functionality"
        ),
    }


# -- Hypothesis machine -------------------------------------------------------------------------


class HoneyBadgerMachine(RuleBasedStateMachine):
    """Hypothesis-chosen schedules of a real-crypto cluster (override N, F; keep it small)."""

    N = 4
    F = 1
    BATCH = 4
    OPS = impl.STANDARD_OPS

    def __init__(self) -> None:
        super().__init__()
        n, f = self.N, self.F
        queues = [(f"t{i}-0", f"t{i}-1", "shared") for i in range(n - f)]
        self.cluster = Cluster(n, f, self.BATCH, [*queues, *[()] * f], seed=n, ops=self.OPS)

    @rule(data=st.data())
    def start_epoch(self, data: st.DataObject) -> None:
        i = data.draw(st.sampled_from(self.cluster.correct))
        self.cluster.start_epoch(i)

    @rule(data=st.data(), garbage=st.booleans())
    def byzantine_propose(self, data: st.DataObject, garbage: bool) -> None:
        c = self.cluster
        b = data.draw(st.sampled_from(range(c.n - c.f, c.n)))
        c.byzantine_garbage = garbage
        c.byzantine_propose(b, min(node.epoch for node in c.nodes))

    @rule(data=st.data())
    def byzantine_shares(self, data: st.DataObject) -> None:
        c = self.cluster
        c.byzantine_shares(data.draw(st.sampled_from(range(c.n - c.f, c.n))))

    @precondition(lambda self: bool(self.cluster.deliverable()))
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        i, k = data.draw(st.sampled_from(self.cluster.deliverable()))
        self.cluster.deliver(i, k)

    @rule()
    def abas(self) -> None:
        c = self.cluster
        for epoch in {node.epoch for node in c.nodes}:
            for j in range(c.n):
                c.decide(epoch, j)
        c.tell_decisions()

    @rule()
    def finish_epoch(self) -> None:
        """The fair scheduler ends the oldest epoch: every correct node outputs its block."""
        self.cluster.run_epoch()

    @invariant()
    def agreement_and_integrity(self) -> None:
        c = self.cluster
        require(c.agreement(), f"blocks differ: {c.blocks}")
        require(c.integrity(), f"a block holds a transaction nobody input: {c.blocks}")


class HoneyBadgerMachineSeven(HoneyBadgerMachine):
    N = 7
    F = 2
    BATCH = 7


class HoneyBadgerRealAbaMachine(RuleBasedStateMachine):
    """Epochs end to end with the real ABA (embedded MMR + CONF + TERM, the threshold coin with
    session = epoch) at n = 4: Hypothesis chooses the seed of each epoch's scheduler, which
    Byzantine proposal (its transaction or garbage) and when the Byzantine node sends bad
    decryption shares, and may deliver single messages between epochs (so nodes run in
    different epochs). After every step: agreement on every epoch's block, integrity; after
    every epoch, the block is the same at every correct node and the blocks keep coming."""

    N = 4
    F = 1
    BATCH = 4

    def __init__(self) -> None:
        super().__init__()
        n, f = self.N, self.F
        queues = [(f"t{i}-0", f"t{i}-1", f"t{i}-2", "shared") for i in range(n - f)]
        self.cluster = Cluster(n, f, self.BATCH, [*queues, *[()] * f], seed=n, aba="real")

    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        c = self.cluster
        for i in c.correct:
            if not c.nodes[i].proposed:
                c.start_epoch(i)
        pending = c.deliverable()
        if pending:
            i, k = data.draw(st.sampled_from(pending))
            c.deliver(i, k)

    @rule(seed=st.integers(0, 2**16), garbage=st.booleans())
    def run_epoch(self, seed: int, garbage: bool) -> None:
        c = self.cluster
        epoch = min(node.epoch for node in c.nodes)
        c.rng.seed(seed)
        c.byzantine_garbage = garbage
        c.run_epoch()
        require(len(c.blocks) > epoch, f"epoch {epoch} produced no block")
        by_node = c.blocks[epoch]
        require(set(by_node) == set(c.correct), f"epoch {epoch}: not every node output")
        require(len(set(by_node.values())) == 1, f"epoch {epoch}: blocks differ {by_node}")

    @invariant()
    def agreement_and_integrity(self) -> None:
        c = self.cluster
        require(c.agreement(), f"blocks differ: {c.blocks}")
        require(c.integrity(), f"a block holds a transaction nobody input: {c.blocks}")


# -- The impl as a model: one node under test (the oracle's source of vectors and traces) ------
#
# The node under test is correct node 0 in ports mode (the ideal ABA decides; see
# :mod:`mnemosyne_consensus.impl.honeybadger`). Its peers are scripted: a deterministic honest epoch
# of the three correct nodes (FIFO delivery, seeds derived from the node and the epoch) gives every
# message nodes 1, 2 (and, in "impl-garbage", the Byzantine node 3) sent and the ideal ABA's
# decisions in order; the model hands node 0 those messages in that order, interleaved with the
# decisions, a network duplicate of the last one, its own StartEpoch (and a Submit once epoch 0 is
# over), and a fixed alphabet of forged messages (bad shares, bad proofs, impostors). Node 0's own
# messages are the same whatever the order it runs in (its proposal is fixed by its seed), so the
# peers' script stays consistent with every schedule the model takes. Keeping one node live keeps
# the reachable states to a few hundred (vector generation well under 5 s).

ORACLE_QUEUES: tuple[tuple[str, ...], ...] = (("a", "b"), ("a", "c"), ("b", "d"))
ORACLE_SUBMIT = "z"
ORACLE_BYZANTINE = 3
ORACLE_IMPOSTOR = 7


def oracle_seed(node: int, epoch: int) -> bytes:
    """StartEpoch's randomness in the oracle runs: fixed by the node and the epoch (an input)."""
    return hashlib.sha256(b"mnemosyne/honeybadger/oracle/" + bytes([node, epoch])).digest()


def oracle_node_config(i: int, n: int = 4, f: int = 1, batch_size: int = 4) -> impl.NodeConfig:
    public, secrets = keys(n, f)
    return impl.NodeConfig(i, n, f, batch_size, public, secrets[i])


def _oracle_initial_node(i: int) -> impl.Node:
    return impl.new_node(oracle_node_config(i), ORACLE_QUEUES[i])


@functools.lru_cache(maxsize=4)
def honest_epoch(
    byzantine: str,
) -> tuple[tuple[tuple[int, impl.Message], ...], tuple[tuple[int, int], ...]]:
    """Epoch 0 of the three correct nodes, FIFO; once nothing is in flight, the ideal ABA decides
    every BA all correct nodes input to (1 if one of them input 1): every broadcast message
    (sender, message) in order, and the decisions (instance, bit) in order. ``byzantine``:
    "silent" (S = {0, 1, 2}) or "garbage" (node 3's RBC delivers the string 'garbage', not a
    ciphertext: S = {0, 1, 2, 3})."""
    correct = range(3)
    nodes = [_oracle_initial_node(i) for i in correct]
    sent: list[tuple[int, impl.Message]] = []
    flight: deque[tuple[int, int, impl.Message]] = deque()
    inputs: dict[int, dict[int, int]] = {}
    decisions: list[tuple[int, int]] = []

    def run(i: int, event: impl.Event) -> None:
        nodes[i], effects = impl.step(nodes[i], event)
        require(not effects.faults, f"the honest epoch faulted: {effects.faults}")
        for m in effects.broadcasts:
            sent.append((i, m))
            flight.extend((k, i, m) for k in correct if k != i)
        for _, j, bit in effects.aba_inputs:
            inputs.setdefault(j, {})[i] = bit

    for i in correct:
        run(i, impl.StartEpoch(oracle_seed(i, 0)))
    if byzantine == "garbage":
        val = impl.AcsMessage(
            0, impl.rbc_impl.Message(impl.rbc_impl.VAL, ORACLE_BYZANTINE, "garbage")
        )
        sent.append((ORACLE_BYZANTINE, val))
        flight.extend((k, ORACLE_BYZANTINE, val) for k in correct)
    while any(node.epoch == 0 for node in nodes):
        if flight:
            k, s, m = flight.popleft()
            if nodes[k].epoch == 0:
                run(k, impl.Receive(s, m))
            continue
        # nothing in flight: the BAs whose every correct node input decide
        ready = [j for j in range(4) if len(inputs.get(j, {})) == 3]
        ready = [j for j in ready if all(j != d for d, _ in decisions)]
        require(bool(ready), "the honest epoch is stuck")
        for j in ready:
            bit = max(inputs[j].values())
            decisions.append((j, bit))
            for i in correct:
                if nodes[i].epoch == 0:
                    run(i, impl.AbaDecided(0, j, bit))
    return tuple(sent), tuple(decisions)


@attrs.frozen(cache_hash=True)
class OracleState:
    """Node 0's state, how much of the peers' script it got, how many decisions it was told."""

    node: impl.Node
    position: int
    decided: int


@attrs.frozen
class OracleAction:
    """Node 0 handles ``event``; ``kind`` says where the event comes from (for traces)."""

    kind: str  # "start", "submit", "script", "again", "decide", "forged"
    event: Any

    def __str__(self) -> str:
        return f"node 0 ({self.kind}): {self.event!r}"[:200]


def _tamper_proof(share: tpke.DecryptionShare) -> tpke.DecryptionShare:
    proof = share.proof
    return attrs.evolve(
        share, proof=attrs.evolve(proof, response=(proof.response + 1) % group.ORDER)
    )


def forged_alphabet(byzantine: str) -> tuple[tuple[Any, Any], ...]:
    """What the Byzantine node 3 and an impostor (7) send node 0: fixed, not state.

    Decryption shares of the honest ciphertexts v_0, v_1 that node 0 must refuse -- a wrong
    value (BAD_PROOF), a tampered proof (BAD_PROOF), another ciphertext's share
    (WRONG_CIPHERTEXT), another node's share (WRONG_SENDER), an index outside the key
    (UNKNOWN_INDEX), a value that is not a point (MALFORMED), a later epoch's (FUTURE_EPOCH),
    an impostor's (UNKNOWN_SENDER), a proposer outside 0..n-1 (MALFORMED), a proposer outside
    S (NOT_IN_SUBSET; ignored when S holds it with an unusable ciphertext) -- node 3's *valid*
    share of v_0 (taken; a second copy is a DUPLICATE_SHARE), its proposal of a string that is
    no ciphertext (taken by RBC: it contributes nothing if it reaches S), and junk.
    """
    sent, _ = honest_epoch(byzantine)
    public, secrets = keys(4, 1)
    vals = {
        m.message.instance: m.message.value
        for s, m in sent
        if isinstance(m, impl.AcsMessage) and m.message.kind == impl.rbc_impl.VAL
    }
    ct0 = impl.decode_ciphertext(vals[0])
    ct1 = impl.decode_ciphertext(vals[1])
    if ct0 is None or ct1 is None:
        raise RuntimeError("the honest proposals of nodes 0 and 1 are not ciphertexts")
    b = ORACLE_BYZANTINE

    def share(index: int, ct: tpke.Ciphertext) -> tpke.DecryptionShare:
        s = tpke.decryption_share(public, secrets[index], ct)
        if not isinstance(s, tpke.DecryptionShare):
            raise RuntimeError(f"no share for an honest ciphertext: {s}")
        return s

    own0, own1, other0 = share(b, ct0), share(b, ct1), share(1, ct0)

    def dec(j: int, s: Any, epoch: int = 0) -> impl.DecMessage:
        return impl.DecMessage(epoch, j, s)

    rbc_message = impl.rbc_impl.Message
    return (
        (b, dec(0, bad_share(own0))),
        (b, dec(0, _tamper_proof(own0))),
        (b, dec(0, own1)),
        (b, dec(0, other0)),
        (b, dec(0, attrs.evolve(own0, index=9))),
        (b, dec(0, attrs.evolve(own0, value=bytes(5)))),
        (b, dec(0, own0, epoch=1)),
        (ORACLE_IMPOSTOR, dec(0, own0)),
        (b, dec(9, own0)),
        (b, dec(3, own0)),
        (b, dec(0, own0)),
        (b, impl.AcsMessage(0, rbc_message(impl.rbc_impl.VAL, b, "garbage"))),
        (b, impl.AcsMessage(0, rbc_message(impl.rbc_impl.ECHO, 9, "x"))),
        (b, "junk"),
    )


def build_impl(config: Config, mutant: Mutant | None = None) -> Model[Any, Any]:
    """Node 0 of the impl (ports mode) against its scripted peers and the forged alphabet (not
    exhaustible in general; these configs are small: see :data:`CONFIGS`)."""
    if mutant is not None:
        raise ValueError("the impl configs have no mutants (the spec's configs do)")
    byzantine = config.params.get("byzantine", "silent")
    script, decisions = honest_epoch(byzantine)
    script = tuple((s, m) for s, m in script if s != 0)
    alphabet = forged_alphabet(byzantine)
    early_ok = alphabet[0]  # the one forged share offered before S is known (kept, then dropped)
    decrypting = config.params.get("start") == "decrypt"
    if decrypting:
        # the ACS messages first, then the shares (any order is one the network may take)
        script = tuple(sorted(script, key=lambda sm: isinstance(sm[1], impl.DecMessage)))

    def initial_states() -> Iterator[OracleState]:
        state = OracleState(_oracle_initial_node(0), 0, 0)
        if decrypting:
            # node 0 proposed, got every ACS message and every decision: S is known
            state = next_state(state, OracleAction("start", impl.StartEpoch(oracle_seed(0, 0))))
            while not isinstance(script[state.position][1], impl.DecMessage):
                state = next_state(
                    state, OracleAction("script", impl.Receive(*script[state.position]))
                )
            for j, bit in decisions:
                state = next_state(state, OracleAction("decide", impl.AbaDecided(0, j, bit)))
            require(state.node.subset is not None, "the decryption phase has no S")
        yield state

    def actions(state: OracleState) -> Iterator[OracleAction]:
        node = state.node
        if not node.proposed and node.epoch <= 1:
            yield OracleAction("start", impl.StartEpoch(oracle_seed(0, node.epoch)))
        if node.epoch == 1 and not node.proposed and ORACLE_SUBMIT not in node.queue:
            # after epoch 0 (a Submit before it would change node 0's proposal, which the
            # peers' script has fixed)
            yield OracleAction("submit", impl.Submit((ORACLE_SUBMIT,)))
        if state.position < len(script):
            yield OracleAction("script", impl.Receive(*script[state.position]))
        if state.position > 0:
            yield OracleAction("again", impl.Receive(*script[state.position - 1]))
        if node.proposed and node.epoch == 0 and state.decided < len(decisions):
            j, bit = decisions[state.decided]
            yield OracleAction("decide", impl.AbaDecided(0, j, bit))
        if node.epoch == 0:
            for sender, message in alphabet:
                if node.subset is not None or (sender, message) == early_ok:
                    yield OracleAction("forged", impl.Receive(sender, message))
                elif not isinstance(message, impl.DecMessage):
                    yield OracleAction("forged", impl.Receive(sender, message))

    def next_state(state: OracleState, action: OracleAction) -> OracleState:
        node, _ = impl.step(state.node, action.event)
        position = state.position + (action.kind == "script")
        decided = state.decided + (action.kind == "decide")
        if node == state.node and position == state.position and decided == state.decided:
            return state
        return OracleState(node, position, decided)

    def faults_change_nothing(pre: OracleState, action: OracleAction, post: OracleState) -> bool:
        _, effects = impl.step(pre.node, action.event)
        return not effects.faults or post.node == pre.node

    from ..spec.properties import Reachable, StepProperty

    return Model(
        name="honeybadger-impl",
        initial_states=initial_states,
        actions=actions,
        next_state=next_state,
        step_properties=(
            StepProperty(
                "faults_change_nothing",
                "a refused message leaves the node unchanged",
                faults_change_nothing,
            ),
        ),
        reachables=(
            Reachable("block_output", "node 0 outputs epoch 0's block", lambda s: s.node.epoch > 0),
        ),
        describe_action=str,
    )


def oracle_node_event(action: OracleAction) -> tuple[int, impl.Event]:
    """The node a model action steps (always node 0, the node under test) and its event."""
    return 0, action.event


# -- Oracle: the canonical encoding of a HoneyBadger node (ports mode), events and effects -----
#
# state    {"me", "n", "f", "batch_size",
#           "keys": {"threshold", "public_key", "verification_keys", "secret_share"},
#           "queue": [tx], "log": [[tx]], "epoch", "proposed", "acs": <acs state document>,
#           "subset": null | [[j, ciphertext | null]], "shares": [[share]] (n lists),
#           "early": [[sender, j, share]], "plaintexts": [null | [tx]] (n entries)}
# share    {"index", "ciphertext_id": hex, "value": hex (33-byte point),
#           "proof": {"challenge": hex, "response": hex}}   (scalars: 64 hex digits)
# message  {"type": "acs", "epoch", "message": <RBC message>}
#          {"type": "dec", "epoch", "proposer", "share": share}
# event    {"type": "submit", "transactions"} | {"type": "start_epoch", "seed": hex}
#          {"type": "receive", "sender", "message"} | {"type": "aba_decided", "epoch", "instance",
#          "bit"}
# effects  {"broadcasts": [message], "aba_inputs": [[epoch, j, bit]],
#           "block": null | {"epoch", "transactions"}, "faults": [{"sender", "layer", "kind"}]}
#
# A ciphertext is the impl's RBC value (:func:`impl.encode_ciphertext`: hex fields joined by
# ':'). A fault's "layer" names the check that refused the message (epoch, acs, rbc, aba, tdh2):
# several layers have a "malformed", and conformance must tell them apart. The secret share is
# in the state on purpose: the dealer's keys are an input of these test vectors.

_HEX = {"type": "string", "pattern": "^([0-9a-f]{2})*$"}
_SCALAR = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_NAT = {"type": "integer", "minimum": 0}
_TXS = {"type": "array", "items": {"type": "string"}}
_LAYERS: dict[type, str] = {
    impl.FaultKind: "epoch",
    impl.acs_impl.FaultKind: "acs",
    impl.rbc_impl.FaultKind: "rbc",
    impl.aba_impl.FaultKind: "aba",
    tpke.DecryptionFault: "tdh2",
}


def _hex_bytes(doc: JSON, path: str) -> bytes:
    text = expect_str(doc, path)
    if len(text) % 2 or text != text.lower():
        raise DecodeError(path, "expected lowercase hex of whole bytes")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise DecodeError(path, "expected lowercase hex of whole bytes") from None


def _scalar_to_json(k: int) -> str:
    return f"{k:064x}"


def _scalar(doc: JSON, path: str) -> int:
    text = expect_str(doc, path)
    if len(text) != 64 or text != text.lower():
        raise DecodeError(path, "expected a scalar as 64 lowercase hex digits")
    try:
        return int(text, 16)
    except ValueError:
        raise DecodeError(path, "expected a scalar as 64 lowercase hex digits") from None


def share_to_json(share: tpke.DecryptionShare) -> JSON:
    return {
        "index": share.index,
        "ciphertext_id": share.ciphertext_id.hex(),
        "value": share.value.hex(),
        "proof": {
            "challenge": _scalar_to_json(share.proof.challenge),
            "response": _scalar_to_json(share.proof.response),
        },
    }


def share_from_json(doc: JSON, path: str) -> tpke.DecryptionShare:
    """Strict: a share as a node state holds it (any field of the right type)."""
    expect_object(doc, path, ["index", "ciphertext_id", "value", "proof"])
    proof = expect_object(doc["proof"], f"{path}.proof", ["challenge", "response"])
    return tpke.DecryptionShare(
        expect_int(doc["index"], f"{path}.index"),
        _hex_bytes(doc["ciphertext_id"], f"{path}.ciphertext_id"),
        _hex_bytes(doc["value"], f"{path}.value"),
        group.Dleq(
            _scalar(proof["challenge"], f"{path}.proof.challenge"),
            _scalar(proof["response"], f"{path}.proof.response"),
        ),
    )


def message_to_json(message: Any) -> JSON:
    if isinstance(message, impl.AcsMessage):
        return {
            "type": "acs",
            "epoch": plain_to_json(message.epoch),
            "message": _acs_message_to_json(message.message),
        }
    if isinstance(message, impl.DecMessage):
        share = message.share
        return {
            "type": "dec",
            "epoch": plain_to_json(message.epoch),
            "proposer": plain_to_json(message.proposer),
            "share": share_to_json(share)
            if isinstance(share, tpke.DecryptionShare)
            else plain_to_json(share),
        }
    return plain_to_json(message)


def message_from_json(doc: JSON) -> Any:
    """Lenient: a received message decodes to what it says; the node's validation speaks (a
    share that is not well typed decodes to a plain value, which the node refuses)."""
    if (
        isinstance(doc, dict)
        and doc.get("type") == "acs"
        and set(doc) == {"type", "epoch", "message"}
    ):
        return impl.AcsMessage(
            plain_from_json(doc["epoch"]), _acs_message_from_json(doc["message"])
        )
    if (
        isinstance(doc, dict)
        and doc.get("type") == "dec"
        and set(doc)
        == {
            "type",
            "epoch",
            "proposer",
            "share",
        }
    ):
        try:
            share: Any = share_from_json(doc["share"], "$")
        except DecodeError:
            share = plain_from_json(doc["share"])
        return impl.DecMessage(
            plain_from_json(doc["epoch"]), plain_from_json(doc["proposer"]), share
        )
    return plain_from_json(doc)


def _share_schema() -> dict[str, Any]:
    return object_schema(
        {
            "index": {"type": "integer"},
            "ciphertext_id": _HEX,
            "value": _HEX,
            "proof": object_schema({"challenge": _SCALAR, "response": _SCALAR}),
        }
    )


@attrs.frozen
class HoneyBadgerCodec:
    """Encoding of a HoneyBadger node with ABA ports (embedded ABAs are not in the oracle)."""

    protocol: str = "honeybadger"

    def schemas(self) -> dict[str, Any]:
        share = _share_schema()
        acs_schemas = ACS_CODEC.schemas()
        message = {
            "oneOf": [
                object_schema({"type": {"const": "acs"}, "epoch": _NAT, "message": {}}),
                object_schema(
                    {"type": {"const": "dec"}, "epoch": _NAT, "proposer": _NAT, "share": share}
                ),
            ]
        }
        state = object_schema(
            {
                "me": _NAT,
                "n": {"type": "integer", "minimum": 1},
                "f": _NAT,
                "batch_size": {"type": "integer", "minimum": 1},
                "keys": object_schema(
                    {
                        "threshold": {"type": "integer", "minimum": 1},
                        "public_key": _HEX,
                        "verification_keys": {"type": "array", "items": _HEX},
                        "secret_share": _SCALAR,
                    }
                ),
                "queue": _TXS,
                "log": {"type": "array", "items": _TXS},
                "epoch": _NAT,
                "proposed": {"type": "boolean"},
                "acs": acs_schemas["state"],
                "subset": {
                    "oneOf": [
                        {"type": "null"},
                        {
                            "type": "array",
                            "items": {
                                "type": "array",
                                "prefixItems": [_NAT, {"type": ["string", "null"]}],
                                "minItems": 2,
                                "maxItems": 2,
                            },
                        },
                    ]
                },
                "shares": {"type": "array", "items": {"type": "array", "items": share}},
                "early": {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "prefixItems": [_NAT, _NAT, share],
                        "minItems": 3,
                        "maxItems": 3,
                    },
                },
                "plaintexts": {"type": "array", "items": {"oneOf": [{"type": "null"}, _TXS]}},
            }
        )
        event = {
            "oneOf": [
                object_schema({"type": {"const": "submit"}, "transactions": _TXS}),
                object_schema({"type": {"const": "start_epoch"}, "seed": _HEX}),
                # any message: a malformed one is the node's to refuse
                object_schema({"type": {"const": "receive"}, "sender": {}, "message": {}}),
                object_schema(
                    {
                        "type": {"const": "aba_decided"},
                        "epoch": _NAT,
                        "instance": _NAT,
                        "bit": {"enum": [0, 1]},
                    }
                ),
            ]
        }
        kinds = sorted({k.value for kind in _LAYERS for k in kind})
        effects = object_schema(
            {
                "broadcasts": {"type": "array", "items": message},
                "aba_inputs": {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "prefixItems": [_NAT, _NAT, {"enum": [0, 1]}],
                        "minItems": 3,
                        "maxItems": 3,
                    },
                },
                "block": {
                    "oneOf": [
                        {"type": "null"},
                        object_schema({"epoch": _NAT, "transactions": _TXS}),
                    ]
                },
                "faults": {
                    "type": "array",
                    "items": object_schema(
                        {
                            "sender": {},
                            "layer": {"enum": sorted(_LAYERS.values())},
                            "kind": {"enum": kinds},
                        }
                    ),
                },
            }
        )
        return {"state": state, "event": event, "effects": effects}

    # states
    def encode_state(self, node: impl.Node) -> JSON:
        c = node.config
        if c.coin_public is not None:
            raise ValueError("the oracle encodes HoneyBadger nodes with ABA ports only")
        return {
            "me": c.me,
            "n": c.n,
            "f": c.f,
            "batch_size": c.batch_size,
            "keys": {
                "threshold": c.public.threshold,
                "public_key": c.public.public_key.hex(),
                "verification_keys": [k.hex() for k in c.public.verification_keys],
                "secret_share": _scalar_to_json(c.secret.secret),
            },
            "queue": list(node.queue),
            "log": [list(block) for block in node.log],
            "epoch": node.epoch,
            "proposed": node.proposed,
            "acs": ACS_CODEC.encode_state(node.acs),
            "subset": None
            if node.subset is None
            else [[j, None if ct is None else impl.encode_ciphertext(ct)] for j, ct in node.subset],
            "shares": [[share_to_json(s) for s in row] for row in node.shares],
            "early": [[s, j, share_to_json(share)] for s, j, share in node.early],
            "plaintexts": [None if p is None else list(p) for p in node.plaintexts],
        }

    def decode_state(self, doc: JSON, path: str = "$") -> impl.Node:
        fields = [
            "me", "n", "f", "batch_size", "keys", "queue", "log", "epoch", "proposed", "acs",
            "subset", "shares", "early", "plaintexts",
        ]  # fmt: skip
        expect_object(doc, path, fields)
        n = expect_int(doc["n"], f"{path}.n", minimum=1)
        f = expect_int(doc["f"], f"{path}.f", minimum=0)
        me = expect_int(doc["me"], f"{path}.me", minimum=0)
        if me >= n:
            raise DecodeError(f"{path}.me", f"node {me} is not one of 0..{n - 1}")
        if 3 * f >= n:
            raise DecodeError(f"{path}.f", f"n = {n} needs 3f < n, got f = {f}")
        batch_size = expect_int(doc["batch_size"], f"{path}.batch_size", minimum=1)
        k = f"{path}.keys"
        keys_doc = expect_object(
            doc["keys"], k, ["threshold", "public_key", "verification_keys", "secret_share"]
        )
        vks = expect_array(keys_doc["verification_keys"], f"{k}.verification_keys")
        if len(vks) != n:
            raise DecodeError(f"{k}.verification_keys", f"expected {n} keys")
        public = tpke.EncryptionPublicKey(
            n,
            expect_int(keys_doc["threshold"], f"{k}.threshold", minimum=1),
            _hex_bytes(keys_doc["public_key"], f"{k}.public_key"),
            tuple(_hex_bytes(v, f"{k}.verification_keys[{i}]") for i, v in enumerate(vks)),
        )
        secret = tpke.DecryptionKeyShare(me, _scalar(keys_doc["secret_share"], f"{k}.secret_share"))
        config = impl.NodeConfig(me, n, f, batch_size, public, secret)

        def txs(value: JSON, p: str) -> tuple[str, ...]:
            return tuple(expect_str(t, f"{p}[{i}]") for i, t in enumerate(expect_array(value, p)))

        def row(name: str) -> list[Any]:
            items = expect_array(doc[name], f"{path}.{name}")
            if len(items) != n:
                raise DecodeError(f"{path}.{name}", f"expected {n} entries")
            return items

        log = expect_array(doc["log"], f"{path}.log")
        proposed = doc["proposed"]
        if not isinstance(proposed, bool):
            raise DecodeError(f"{path}.proposed", "expected a boolean")
        acs = ACS_CODEC.decode_state(doc["acs"], f"{path}.acs")
        if (acs.config.me, acs.config.n, acs.config.f) != (me, n, f):
            raise DecodeError(f"{path}.acs", "the ACS state of another node or size")
        subset: tuple[tuple[int, tpke.Ciphertext | None], ...] | None = None
        if doc["subset"] is not None:
            entries = []
            for i, item in enumerate(expect_array(doc["subset"], f"{path}.subset")):
                p = f"{path}.subset[{i}]"
                if not isinstance(item, list) or len(item) != 2:
                    raise DecodeError(p, "expected a pair [proposer, ciphertext or null]")
                j = expect_int(item[0], f"{p}[0]", minimum=0)
                if j >= n:
                    raise DecodeError(f"{p}[0]", f"node {j} is not one of 0..{n - 1}")
                ct = None
                if item[1] is not None:
                    ct = impl.decode_ciphertext(expect_str(item[1], f"{p}[1]"))
                    if ct is None:
                        raise DecodeError(f"{p}[1]", "not a ciphertext encoding")
                entries.append((j, ct))
            subset = tuple(entries)
        shares = tuple(
            tuple(
                share_from_json(s, f"{path}.shares[{j}][{i}]")
                for i, s in enumerate(expect_array(r, f"{path}.shares[{j}]"))
            )
            for j, r in enumerate(row("shares"))
        )
        early = []
        for i, item in enumerate(expect_array(doc["early"], f"{path}.early")):
            p = f"{path}.early[{i}]"
            if not isinstance(item, list) or len(item) != 3:
                raise DecodeError(p, "expected [sender, proposer, share]")
            early.append(
                (
                    expect_int(item[0], f"{p}[0]", minimum=0),
                    expect_int(item[1], f"{p}[1]", minimum=0),
                    share_from_json(item[2], f"{p}[2]"),
                )
            )
        plaintexts = tuple(
            None if p is None else txs(p, f"{path}.plaintexts[{j}]")
            for j, p in enumerate(row("plaintexts"))
        )
        return impl.Node(
            config,
            txs(doc["queue"], f"{path}.queue"),
            tuple(txs(b, f"{path}.log[{i}]") for i, b in enumerate(log)),
            expect_int(doc["epoch"], f"{path}.epoch", minimum=0),
            proposed,
            acs,
            subset,
            shares,
            tuple(early),
            plaintexts,
        )

    # events
    def encode_event(self, event: impl.Event) -> JSON:
        if isinstance(event, impl.Submit):
            return {"type": "submit", "transactions": list(event.transactions)}
        if isinstance(event, impl.StartEpoch):
            return {"type": "start_epoch", "seed": event.seed.hex()}
        if isinstance(event, impl.AbaDecided):
            return {
                "type": "aba_decided",
                "epoch": event.epoch,
                "instance": event.instance,
                "bit": event.bit,
            }
        return {
            "type": "receive",
            "sender": plain_to_json(event.sender),
            "message": message_to_json(event.message),
        }

    def decode_event(self, doc: JSON, path: str = "$") -> impl.Event:
        optional = ["transactions", "seed", "sender", "message", "epoch", "instance", "bit"]
        expect_object(doc, path, ["type"], optional)
        kind = doc["type"]
        if kind == "submit":
            expect_object(doc, path, ["type", "transactions"])
            items = expect_array(doc["transactions"], f"{path}.transactions")
            return impl.Submit(
                tuple(expect_str(t, f"{path}.transactions[{i}]") for i, t in enumerate(items))
            )
        if kind == "start_epoch":
            expect_object(doc, path, ["type", "seed"])
            return impl.StartEpoch(_hex_bytes(doc["seed"], f"{path}.seed"))
        if kind == "aba_decided":
            expect_object(doc, path, ["type", "epoch", "instance", "bit"])
            bit = expect_int(doc["bit"], f"{path}.bit", minimum=0)
            if bit > 1:
                raise DecodeError(f"{path}.bit", f"expected 0 or 1, got {bit}")
            return impl.AbaDecided(
                expect_int(doc["epoch"], f"{path}.epoch", minimum=0),
                expect_int(doc["instance"], f"{path}.instance", minimum=0),
                bit,
            )
        if kind == "receive":
            expect_object(doc, path, ["type", "sender", "message"])
            return impl.Receive(plain_from_json(doc["sender"]), message_from_json(doc["message"]))
        raise DecodeError(
            f"{path}.type",
            f"unknown event type {kind!r} (known: aba_decided, receive, start_epoch, submit)",
        )

    # effects
    def encode_effects(self, effects: impl.Effects) -> JSON:
        return {
            "broadcasts": [message_to_json(m) for m in effects.broadcasts],
            "aba_inputs": [list(t) for t in effects.aba_inputs],
            "block": None
            if effects.block is None
            else {"epoch": effects.block.epoch, "transactions": list(effects.block.transactions)},
            "faults": [
                {
                    "sender": plain_to_json(x.sender),
                    "layer": _LAYERS[type(x.kind)],
                    "kind": x.kind.value,
                }
                for x in effects.faults
            ],
        }

    def handler(self, event: impl.Event) -> str:
        if isinstance(event, impl.Receive):
            # the shares are the point of these vectors: their own handler folder
            return "receive_share" if isinstance(event.message, impl.DecMessage) else "receive"
        return {
            impl.Submit: "submit",
            impl.StartEpoch: "start_epoch",
            impl.AbaDecided: "aba_decided",
        }[type(event)]

    def step(self, node: impl.Node, event: impl.Event) -> tuple[impl.Node, impl.Effects]:
        return impl.step(node, event)


CODEC = HoneyBadgerCodec()


def _added_shares(pre: impl.Node, post: impl.Node) -> list[tuple[int, tpke.DecryptionShare]]:
    """The verified shares ``post`` holds that ``pre`` did not (same epoch only)."""
    if post.epoch != pre.epoch or len(post.shares) != len(pre.shares):
        return []
    return [
        (j, share)
        for j, (old, new) in enumerate(zip(pre.shares, post.shares, strict=True))
        for share in new
        if share not in old
    ]


def _independent_check(
    pre: impl.Node, event: impl.Event, post: impl.Node
) -> tuple[str, str, str] | None:
    """Checks read off HB Figure 1 and TDH2 without running the reference step."""
    # the log only grows, by at most one block, and a block is sorted without repeats (line 6)
    if post.log[: len(pre.log)] != pre.log or len(post.log) > len(pre.log) + 1:
        return (
            "log_append_only",
            f"the log {pre.log} extended by at most one block",
            str(post.log),
        )
    if len(post.log) == len(pre.log) + 1:
        block = post.log[-1]
        if list(block) != sorted(set(block)) or post.epoch != pre.epoch + 1:
            return (
                "sorted_block",
                "a sorted block without repeats, then the next epoch",
                str(block),
            )
        # line 7: buf := buf − block_r
        queue = pre.queue + (event.transactions if isinstance(event, impl.Submit) else ())
        if post.queue != tuple(tx for tx in queue if tx not in set(block)):
            return (
                "queue_loses_block",
                "the queue without the block's transactions",
                str(post.queue),
            )
    # line 5: a share is kept only with a valid DLEQ proof, from the node it names
    me = pre.config.me
    arrivals = list(pre.early)
    if isinstance(event, impl.Receive) and isinstance(event.message, impl.DecMessage):
        arrivals.append((event.sender, event.message.proposer, event.message.share))
    subset = dict(post.subset or ())
    for j, share in _added_shares(pre, post):
        ct = subset.get(j)
        # who sent it: this event, an early arrival, or the node itself (its own share)
        senders = [s for s, k, e in arrivals if k == j and e == share]
        senders += [me] if share.index == me else []
        if ct is None or share.index not in senders:
            return ("verified_shares", f"shares for proposer {j} from their senders", str(share))
        if tpke.verify_decryption_share(pre.config.public, ct, share, share.index) is not None:
            return ("verified_shares", f"only verified shares kept for proposer {j}", str(share))
    return None


def step_checker(codec: HoneyBadgerCodec = CODEC) -> Any:
    """Trace validation of one HoneyBadger node's step (see :mod:`.validate`).

    For each step: the configuration (id, size, B, keys) never changes (``identity``); checks
    read off HB Figure 1 and TDH2 directly -- the log grows by at most one sorted block and the
    epoch with it (``log_append_only``, ``sorted_block``), the queue loses the block
    (``queue_loses_block``), every share newly kept has a valid DLEQ proof for its ciphertext
    and names its sender (``verified_shares``, checked with
    :func:`tpke.verify_decryption_share` on the recorded state); then the reference node
    (:func:`impl.step`, which the Hypothesis machines and the model checks hold to the spec) is
    run on the recorded pre-state: if it refuses the event, the recorded state must be unchanged
    (``faults_change_nothing``) and the effects its typed fault (``typed_fault``); otherwise the
    state and effects must be the reference's (``refinement``; TDH2 shares and proofs are
    deterministic). What one step cannot show (that a message was sent, cross-node agreement)
    is the model checks'."""
    from .validate import StepChecker

    def check(
        nodes: tuple[impl.Node, ...], i: int, event: impl.Event, post: impl.Node, effects: Any
    ) -> tuple[str, str, str] | None:
        pre = nodes[i]
        if post.config != pre.config:
            return ("identity", f"node {pre.config.me}'s configuration unchanged", "another one")
        try:
            want, want_effects = impl.step(pre, event)
        except impl.LocalMisuseError as error:
            return ("refinement", f"no step: {error}", "a step")
        want_doc = codec.encode_effects(want_effects)
        if want_effects.faults:
            kind = want_effects.faults[0].kind.value
            if post != pre:
                return ("faults_change_nothing", f"the message is refused ({kind})", "a change")
            if effects is not None and dumps_line(effects) != dumps_line(want_doc):
                return ("typed_fault", f"effects {dumps_line(want_doc)}", dumps_line(effects))
            return None
        problem = _independent_check(pre, event, post)
        if problem is not None:
            return problem
        if post != want:
            return (
                "refinement",
                f"state {dumps_line(codec.encode_state(want))[:400]}",
                dumps_line(codec.encode_state(post))[:400],
            )
        if effects is not None and dumps_line(effects) != dumps_line(want_doc):
            return ("refinement", f"effects {dumps_line(want_doc)}", dumps_line(effects))
        return None

    return StepChecker(codec=codec, initial_node=_trace_initial_node, check=check)


def _trace_initial_node(i: int, n: int) -> impl.Node:
    """Node i of a trace without initial states: the oracle's keys and queues (n = 4)."""
    return _oracle_initial_node(i)


def _oracle_nodes(state: OracleState) -> tuple[impl.Node, ...]:
    return (state.node,)


ORACLE = OracleBinding(
    codec=CODEC,
    # the decryption phase first (its cases would otherwise be steps the longer walks already
    # saw, their buckets full before they reach a block); traces come from it too. The node
    # under test is node 0: a trace holds that one node.
    configs=("impl-decrypt", "impl", "impl-garbage"),
    node_event=oracle_node_event,
    nodes=_oracle_nodes,
    initial_node=_trace_initial_node,
    step_checker=step_checker(CODEC),
)
