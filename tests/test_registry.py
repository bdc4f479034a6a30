"""Properties of the whole registry: every default config holds, every check can fail."""

import pytest

from mnemosyne_consensus.model_checks.engine import explore
from mnemosyne_consensus.model_checks.registry import PROTOCOLS

ENTRIES = list(PROTOCOLS.values())


def _config_for(entry, mutant):
    names = {c.name for c in entry.configs}
    return entry.config(mutant.config or ("tiny" if "tiny" in names else None))


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_default_config_holds_completely_with_its_pinned_state_count(entry):
    config = entry.default_config
    model = entry.build(config, None)
    result = explore(model)
    assert result.outcome == "ok", result.violation
    assert result.complete and not result.unreached
    assert set(result.reached) == {r.name for r in model.reachables}
    assert config.expected_distinct_states is not None, "pin the default config's state count"
    assert result.distinct_states == config.expected_distinct_states


@pytest.mark.parametrize(
    ("entry", "mutant"),
    [(entry, mutant) for entry in ENTRIES for mutant in entry.mutants],
    ids=lambda x: getattr(x, "name", None),
)
def test_every_mutant_breaks_the_property_it_names_with_a_trace(entry, mutant):
    model = entry.build(_config_for(entry, mutant), mutant)
    assert mutant.breaks in model.property_names()
    result = explore(model.restricted_to([mutant.breaks]))
    assert result.outcome == "violation"
    assert result.violation.property_name == mutant.breaks
    assert result.violation.trace[0].action is None
    assert len(result.violation.trace) >= 2


def test_every_always_property_has_a_mutant_that_breaks_it():
    broken = {m.breaks for entry in ENTRIES for m in entry.mutants}
    for entry in ENTRIES:
        model = entry.build(entry.default_config, None)
        always = [p.name for p in (*model.invariants, *model.step_properties)]
        missing = [name for name in always if name not in broken]
        assert not missing, f"{entry.name}: no mutant breaks {missing}"


def test_every_protocol_has_sometimes_properties():
    for entry in ENTRIES:
        assert entry.build(entry.default_config, None).reachables, entry.name
