"""Hypothesis stateful runs of every CRDT: 5 replicas, 30-step random schedules.

The machines drive the same impl model the explorer checks, with the spec invariants after every
rule and the step properties (inflation, refinement, refusals change nothing) on every
transition, under the deterministic ``ci`` profile.
"""

import pytest
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from mnemosyne_consensus.model_checks import orset
from mnemosyne_consensus.model_checks.machines import crdt_machine

MACHINE_SETTINGS = settings(settings.get_profile("ci"), max_examples=30, stateful_step_count=30)

TestOrsetMachine = crdt_machine(orset.SETUP, base=orset.PROTOCOL.default_config).TestCase
TestOrsetMachine.settings = MACHINE_SETTINGS


@pytest.mark.parametrize(
    ("module", "mutant"),
    [(orset, "remove-unobserved")],
)
def test_machines_catch_mutants(module, mutant):
    broken = crdt_machine(
        module.SETUP,
        replicas=3,
        mutant=module.PROTOCOL.mutant(mutant),
        base=module.PROTOCOL.default_config,
    )
    with pytest.raises(AssertionError, match="violated"):
        run_state_machine_as_test(broken, settings=settings(MACHINE_SETTINGS, max_examples=300))
