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

Censorship resilience is checked twice: in the spec as a step property (light load: the next
epoch), and in simulation by :func:`censorship_run` (a transaction queued at f+1 correct nodes,
under light load, is in the next block; under a backlog, the number of epochs is measured).
"""

from __future__ import annotations

import functools
import hashlib
import random
import time
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
from .engine import Model
from .machines import require
from .registry_types import Config, Mutant, ProtocolEntry

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


def view(state: spec.SystemState) -> Mapping[str, Any]:
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
