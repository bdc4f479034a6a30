"""The message-driven Tendermint replica: log, equivocation across deliveries, certificates."""

from collections import deque

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from mnemosyne_consensus.impl import tendermint as engine
from mnemosyne_consensus.impl import tendermint_replica as rep
from mnemosyne_consensus.impl.tendermint import PRECOMMIT, PREVOTE, PROPOSAL, FaultKind

VALUES = ("v0", "v1")


def validators(n: int) -> engine.Validators:
    keys = tuple(engine.public_key(engine.derive_seed(i)) for i in range(n))
    return engine.Validators(keys, (1,) * n, VALUES)


def config(me: int, n: int) -> engine.NodeConfig:
    return engine.NodeConfig(me, engine.derive_seed(me), validators(n))


def signed(sender, kind, round_, value, height=0, vr=-1):
    return engine.sign(engine.derive_seed(sender), kind, height, round_, sender, value, vr)


class Network:
    """A fair network: every broadcast reaches every replica, timers fire only when idle."""

    def __init__(self, n: int, correct, deliver_to=None) -> None:
        self.replicas = {}
        self.queue: deque = deque()
        self.timers: dict[int, list] = {p: [] for p in correct}
        self.evidence: list = []
        self.deliver_to = deliver_to or (lambda sender, target, m: True)
        for p in correct:
            self.replicas[p], effects = rep.start(config(p, n))
            self.timers[p].extend(effects.timers)

    def effects(self, p, effects) -> None:
        for m in effects.broadcasts:
            for q in self.replicas:
                if q != p and self.deliver_to(p, q, m):
                    self.queue.append((q, rep.Deliver(m)))
        self.timers[p].extend(effects.timers)
        self.evidence.extend(effects.evidence)
        assert not effects.faults, effects.faults

    def send(self, p, event) -> None:
        self.replicas[p], effects = rep.step(self.replicas[p], event)
        self.effects(p, effects)

    def run(self, heights: int, propose=lambda p, r: "v0", max_events: int = 10_000) -> None:
        for _ in range(max_events):
            for p, r in self.replicas.items():
                if rep.is_proposer(r) and r.node.height < heights:
                    self.send(p, rep.Propose(propose(p, r)))
            if self.queue:
                self.send(*self.queue.popleft())
                continue
            pending = [(p, t) for p, ts in self.timers.items() for t in ts]
            if not pending or all(r.node.height >= heights for r in self.replicas.values()):
                return
            p, t = pending[0]
            self.timers[p].remove(t)
            self.send(p, rep.Timeout(*t))
        raise AssertionError("no quiescence")


def test_four_correct_replicas_decide_two_heights_from_single_messages():
    net = Network(4, range(4))
    net.run(heights=2, propose=lambda p, r: VALUES[r.node.height % 2])
    for r in net.replicas.values():
        assert r.node.decisions == (("v0", 0), ("v1", 0))
        assert r.node.height == 2
    assert net.evidence == []


def test_a_silent_proposer_costs_one_round_then_the_next_proposer_decides():
    # validator 0 (proposer of height 0, round 0) is silent: the others time out to round 1
    net = Network(4, (1, 2, 3))
    net.run(heights=1)
    for r in net.replicas.values():
        assert r.node.decisions == (("v0", 1),)


def test_equivocating_votes_across_deliveries_are_evidence_once_and_counted_once():
    replica, _ = rep.start(config(1, 4))
    first, second = signed(0, PREVOTE, 0, "v0"), signed(0, PREVOTE, 0, "v1")
    replica, effects = rep.step(replica, rep.Deliver(first))
    assert effects.evidence == ()
    replica, effects = rep.step(replica, rep.Deliver(second))
    assert effects.evidence == ((first, second),)
    assert second not in replica.log and first in replica.log
    again, effects = rep.step(replica, rep.Deliver(signed(0, PREVOTE, 0, None)))
    assert effects.evidence == ()  # the slot was reported already
    assert again.log == replica.log


def test_bad_messages_are_typed_faults_and_change_nothing():
    replica, _ = rep.start(config(1, 4))
    good = signed(2, PREVOTE, 0, "v0")
    cases = {
        FaultKind.BAD_SIGNATURE: attrs.evolve(good, signature=bytes(64)),
        FaultKind.UNKNOWN_VALIDATOR: attrs.evolve(good, sender=9),
        FaultKind.WRONG_HEIGHT: signed(2, PREVOTE, 0, "v0", height=3),
        FaultKind.NOT_PROPOSER: signed(2, PROPOSAL, 0, "v0"),
        FaultKind.MALFORMED: attrs.evolve(good, round=-1),
    }
    for kind, message in cases.items():
        after, effects = rep.step(replica, rep.Deliver(message))
        assert after == replica
        assert [f.kind for f in effects.faults] == [kind]
    after, effects = rep.step(replica, rep.Deliver("not a message"))
    assert after == replica and effects.faults[0].kind is FaultKind.MALFORMED


def test_stale_and_unrequested_timeouts_change_nothing():
    replica, _ = rep.start(config(1, 4))
    for event in (rep.Timeout("prevote", 0, 0), rep.Timeout("propose", 0, 1)):
        assert rep.step(replica, event) == (replica, engine.NOTHING)
    after, effects = rep.step(replica, rep.Timeout("lunch", 0, 0))
    assert after == replica and effects.faults[0].kind is FaultKind.MALFORMED


def test_equivocating_proposer_cannot_stop_a_replica_from_following_the_majority():
    # proposer 0 equivocates: replica 3 sees v1 first, replicas 1 and 2 see v0; 1, 2 and 0's
    # prevotes for v0 form a polka and a commit, which replica 3 must still be able to apply.
    net = Network(4, (1, 2, 3))
    p0, p1 = signed(0, PROPOSAL, 0, "v0"), signed(0, PROPOSAL, 0, "v1")
    net.send(3, rep.Deliver(p1))
    net.send(3, rep.Deliver(p0))
    assert net.evidence == [(p1, p0)]
    assert p0 in net.replicas[3].log  # kept: its value is valid
    net.send(1, rep.Deliver(p0))
    net.send(2, rep.Deliver(p0))
    for q in (1, 2, 3):
        net.send(q, rep.Deliver(signed(0, PREVOTE, 0, "v0")))
        net.send(q, rep.Deliver(signed(0, PRECOMMIT, 0, "v0")))
    net.run(heights=1)
    for r in net.replicas.values():
        assert r.node.decisions == (("v0", 0),)


# -- Hypothesis: 7 validators, 2 Byzantine, message by message -----------------------------------

N, BYZANTINE = 7, (0, 4)
CORRECT = tuple(p for p in range(N) if p not in BYZANTINE)


class ReplicaMachine(RuleBasedStateMachine):
    """Correct replicas receive any message of the pool (correct replicas' broadcasts and
    anything the two Byzantine validators sign: equivocating proposals and votes, any round up
    to 2, heights 0 and 1), in any order, any number of times; timers fire in any order."""

    def __init__(self) -> None:
        super().__init__()
        self.replicas = {}
        self.timers: dict[int, list] = {}
        for p in CORRECT:
            self.replicas[p], effects = rep.start(config(p, N))
            self.timers[p] = list(effects.timers)
        self.pool: list[engine.Signed] = []
        self.evidence: list = []
        self.decided: dict[int, set[str]] = {}

    def _effects(self, p, effects) -> None:
        for fault in effects.faults:  # correct senders' messages fault only when far ahead
            assert fault.sender in BYZANTINE or fault.kind is FaultKind.WRONG_HEIGHT, fault
        self.pool.extend(m for m in effects.broadcasts if m not in self.pool)
        self.timers[p].extend(effects.timers)
        self.evidence.extend(effects.evidence)
        for height, value in effects.decisions:
            self.decided.setdefault(height, set()).add(value)

    @rule(receiver=st.sampled_from(CORRECT), pick=st.integers(0, 1 << 16))
    def deliver(self, receiver, pick) -> None:
        if self.pool:
            event = rep.Deliver(self.pool[pick % len(self.pool)])
            before = self.replicas[receiver]
            self.replicas[receiver], effects = rep.step(before, event)
            if effects.faults:
                assert self.replicas[receiver] == before, "a fault changed the replica"
            self._effects(receiver, effects)

    @rule(value=st.sampled_from(VALUES), sweeps=st.integers(1, 30))
    def fair_sweeps(self, value, sweeps) -> None:
        """A fair stretch: proposers propose, every pool message reaches every correct replica,
        and when nothing is left to deliver each replica's oldest timer fires."""
        for _ in range(sweeps):
            self._propose(value)
            before = dict(self.replicas)
            for m in list(self.pool):
                for p in CORRECT:
                    self.replicas[p], effects = rep.step(self.replicas[p], rep.Deliver(m))
                    self._effects(p, effects)
            if self.replicas == before:
                for p in CORRECT:
                    if self.timers[p]:
                        timer = self.timers[p].pop(0)
                        self.replicas[p], effects = rep.step(self.replicas[p], rep.Timeout(*timer))
                        self._effects(p, effects)

    @rule(
        sender=st.sampled_from(BYZANTINE),
        kind=st.sampled_from((PROPOSAL, PREVOTE, PRECOMMIT)),
        round_=st.integers(0, 2),
        value=st.sampled_from((*VALUES, None)),
        height=st.integers(0, 1),
    )
    def byzantine_signs(self, sender, kind, round_, value, height) -> None:
        if kind == PROPOSAL and value is None:
            value = VALUES[0]
        message = signed(sender, kind, round_, value, height=height)
        if message not in self.pool:
            self.pool.append(message)

    @rule(
        sender=st.sampled_from(BYZANTINE),
        kind=st.sampled_from((PROPOSAL, PREVOTE, PRECOMMIT)),
        round_=st.integers(0, 2),
        height=st.integers(0, 1),
    )
    def byzantine_equivocates(self, sender, kind, round_, height) -> None:
        """Two different messages for one slot: v0 and v1 (or v1 and nil for votes)."""
        second = VALUES[1] if kind == PROPOSAL else None
        for value in (VALUES[0], second):
            self.byzantine_signs(sender, kind, round_, value, height)

    @rule(receiver=st.sampled_from(CORRECT), pick=st.integers(0, 1 << 16))
    def timeout(self, receiver, pick) -> None:
        if self.timers[receiver]:
            timer = self.timers[receiver].pop(pick % len(self.timers[receiver]))
            self.replicas[receiver], effects = rep.step(
                self.replicas[receiver], rep.Timeout(*timer)
            )
            self._effects(receiver, effects)

    @precondition(lambda self: any(rep.is_proposer(r) for r in self.replicas.values()))
    @rule(value=st.sampled_from(VALUES))
    def propose(self, value) -> None:
        self._propose(value)

    def _propose(self, value) -> None:
        for p, r in self.replicas.items():
            if rep.is_proposer(r) and r.node.height < 2:
                self.replicas[p], effects = rep.step(r, rep.Propose(value))
                self._effects(p, effects)

    @invariant()
    def agreement(self) -> None:
        for height, values in self.decided.items():
            assert len(values) == 1, f"height {height}: correct replicas decided {values}"

    @invariant()
    def validity(self) -> None:
        for values in self.decided.values():
            assert values <= set(VALUES)

    @invariant()
    def evidence_is_genuine(self) -> None:
        """Every evidence pair: two different, validly signed messages of one Byzantine slot."""
        for a, b in self.evidence:
            assert a != b and (a.sender, a.kind, a.round, a.height) == (
                b.sender,
                b.kind,
                b.round,
                b.height,
            )
            assert a.sender in BYZANTINE
            key = engine.public_key(engine.derive_seed(a.sender))
            assert engine._signed_by(key, a) and engine._signed_by(key, b)

    @invariant()
    def one_vote_per_slot(self) -> None:
        for r in self.replicas.values():
            slots = [(m.height, m.sender, m.kind, m.round) for m in r.log if m.kind != PROPOSAL]
            assert len(slots) == len(set(slots)), f"a vote slot counted twice: {slots}"


TestReplicaMachine = ReplicaMachine.TestCase


def test_the_machine_reaches_decisions_and_evidence_not_only_vacuous_runs():
    """The machine's invariants are not vacuous: some runs decide and some report evidence."""
    seen = {"decided": 0, "evidence": 0}

    class Counting(ReplicaMachine):
        def teardown(self) -> None:
            seen["decided"] += bool(self.decided)
            seen["evidence"] += bool(self.evidence)

    run_state_machine_as_test(Counting, settings=settings(max_examples=50))
    assert seen["decided"] > 0 and seen["evidence"] > 0, seen


def test_the_machine_catches_a_replica_that_counts_equivocating_votes(monkeypatch):
    monkeypatch.setattr(rep, "_keeps", lambda replica, m: True)  # the mutant: keep every vote
    machine = ReplicaMachine()
    machine.byzantine_equivocates(sender=0, kind=PREVOTE, round_=0, height=0)
    machine.fair_sweeps(value="v0", sweeps=1)
    with pytest.raises(AssertionError, match="a vote slot counted twice"):
        machine.one_vote_per_slot()
