"""Hypothesis stateful testing of the CRDT deployments: random schedules at larger sizes.

The machine drives the very model the explorer checks (impl step functions, network, ghost) with
random schedules instead of all of them, and asserts every spec invariant after every rule and
every step property on every transition. State messages go into a Bundle when a replica gossips,
and deliveries draw from it, so a message can be delivered late, twice, or never.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, precondition, rule

from ..impl.state_based import StateMessage
from .crdt import (
    CrdtSetup,
    Deliver,
    DeliverForged,
    Deployment,
    Gossip,
    InFlight,
    LocalUpdate,
    build_model,
)
from .engine import Model
from .registry_types import Config, Mutant


class PropertyViolation(AssertionError):
    """A spec property failed during a Hypothesis run."""


def require(holds: bool, message: str) -> None:
    """Fails a Hypothesis run; not a bare assert, so it also fails under ``python -O``."""
    if not holds:
        raise PropertyViolation(message)


def crdt_machine(
    setup: CrdtSetup,
    replicas: int = 5,
    updates: int = 6,
    sends: int = 8,
    mutant: Mutant | None = None,
    base: Config | None = None,
) -> type[RuleBasedStateMachine]:
    """A RuleBasedStateMachine class for one CRDT, e.g. ``crdt_machine(SETUP).TestCase``.

    ``base`` supplies the protocol's other parameters (e.g. the OR-Set's element alphabet);
    the sizes given here override its own.
    """
    config = Config(
        "hypothesis",
        f"{replicas} replicas, up to {updates} updates and {sends} snapshots each",
        {
            **(base.params if base else {}),
            "replicas": replicas,
            "updates": updates,
            "sends": sends,
        },
    )
    model: Model[Any, Any] = build_model(setup, config, mutant)
    forged = setup.forged(config)
    replica_ids = st.integers(min_value=0, max_value=replicas - 1)

    class CrdtMachine(RuleBasedStateMachine):
        messages = Bundle("messages")

        def __init__(self) -> None:
            super().__init__()
            self.state: Deployment = next(iter(model.initial_states()))

        def _enabled(self, kind: type, replica: int) -> list[Any]:
            return [
                a for a in model.actions(self.state) if isinstance(a, kind) and a.replica == replica
            ]

        def _take(self, action: Any) -> None:
            before = self.state
            after = model.next_state(before, action)
            for prop in model.step_properties:
                if after is not before and not prop.holds(before, action, after):
                    detail = prop.explain(before, action, after) if prop.explain else ""
                    raise PropertyViolation(f"{prop.name} violated by {action}: {detail}")
            self.state = after

        @rule(replica=replica_ids, data=st.data())
        def client_update(self, replica: int, data: st.DataObject) -> None:
            options = self._enabled(LocalUpdate, replica)
            if options:
                self._take(data.draw(st.sampled_from(options), label="update"))

        @rule(target=messages, replica=replica_ids)
        def gossip(self, replica: int) -> Any:
            node = self.state.nodes[replica]
            packet = InFlight(StateMessage(replica, node.payload), self.state.seen[replica])
            if self._enabled(Gossip, replica):
                self._take(Gossip(replica))
            # past the model's send bound the replica stays silent: nothing new to deliver
            return packet if packet in self.state.network else None

        @precondition(lambda self: bool(self.state.network))
        @rule(replica=replica_ids, packet=messages)
        def deliver(self, replica: int, packet: InFlight | None) -> None:
            if packet is not None and packet.message.sender != replica:
                self._take(Deliver(replica, packet))

        @rule(replica=replica_ids, message=st.sampled_from(forged))
        def deliver_forged(self, replica: int, message: Any) -> None:
            self._take(DeliverForged(replica, message))

        @invariant()
        def spec_invariants_hold(self) -> None:
            for inv in model.invariants:
                if not inv.holds(self.state):
                    raise PropertyViolation(f"invariant {inv.name} violated: {inv.description}")

    CrdtMachine.__name__ = f"{setup.crdt.name.title().replace('-', '')}Machine"
    return CrdtMachine
