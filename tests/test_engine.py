"""The explorer on toy models whose answers are known by hand."""

import itertools
import json
from importlib import resources

import attrs
import jsonschema
import pytest

from mnemosyne_consensus.model_checks.engine import Bounds, Model, explore, simulate
from mnemosyne_consensus.model_checks.render import describe_result, itf_trace, to_itf
from mnemosyne_consensus.spec.properties import Invariant, Reachable, StepProperty


@attrs.frozen
class Counters:
    a: int
    b: int


def counters_model(limit=3, bad=None, step_props=(), reach=()):
    """Two counters, each incremented up to ``limit``: (limit+1)^2 states."""

    def actions(s):
        if s.a < limit:
            yield "inc a"
        if s.b < limit:
            yield "inc b"
        yield "noop"

    def next_state(s, action):
        if action == "inc a":
            return Counters(s.a + 1, s.b)
        if action == "inc b":
            return Counters(s.a, s.b + 1)
        return s

    invariants = () if bad is None else (Invariant("not_bad", "never the bad state", bad),)
    return Model(
        name="counters",
        initial_states=lambda: [Counters(0, 0)],
        actions=actions,
        next_state=next_state,
        invariants=invariants,
        step_properties=tuple(step_props),
        reachables=tuple(reach),
    )


def test_exhaustive_count_and_depth():
    result = explore(counters_model(limit=3))
    assert result.outcome == "ok" and result.complete
    assert result.distinct_states == 16
    assert result.max_depth == 6


def test_violation_has_shortest_trace():
    result = explore(counters_model(limit=3, bad=lambda s: not (s.a == 2 and s.b == 1)))
    assert result.outcome == "violation"
    trace = result.violation.trace
    assert len(trace) == 4  # initial + three increments, the shortest path to (2, 1)
    assert trace[0].action is None and trace[0].state == Counters(0, 0)
    assert trace[-1].state == Counters(2, 1)
    for before, after in itertools.pairwise(trace):
        assert after.state.a + after.state.b == before.state.a + before.state.b + 1


def test_violating_initial_state_is_reported():
    result = explore(counters_model(bad=lambda s: s != Counters(0, 0)))
    assert result.outcome == "violation" and len(result.violation.trace) == 1


def test_step_property_checked_on_every_edge_even_into_visited_states():
    seen_edges = []

    def record(pre, action, post):
        seen_edges.append((pre, post))
        return True

    explore(counters_model(limit=1, step_props=[StepProperty("rec", "records", record)]))
    # 4 states; edges that change state: (0,0)->(1,0), (0,0)->(0,1), (1,0)->(1,1), (0,1)->(1,1)
    assert sorted(seen_edges, key=repr) == sorted(
        [
            (Counters(0, 0), Counters(1, 0)),
            (Counters(0, 0), Counters(0, 1)),
            (Counters(1, 0), Counters(1, 1)),
            (Counters(0, 1), Counters(1, 1)),
        ],
        key=repr,
    )


def test_failing_step_property_gives_trace_ending_in_the_bad_edge():
    def no_b_after_a(pre, action, post):
        return not (pre.a == 1 and action == "inc b")

    result = explore(counters_model(step_props=[StepProperty("order", "a then b", no_b_after_a)]))
    assert result.outcome == "violation"
    assert result.violation.kind == "step"
    assert [s.action for s in result.violation.trace[1:]] == ["inc a", "inc b"]


def test_bounds_are_honoured_and_reported():
    result = explore(counters_model(limit=10), Bounds(max_depth=2))
    assert result.bound_hit == "depth" and not result.complete
    assert result.distinct_states == 6  # (0,0) (1,0) (0,1) (2,0) (1,1) (0,2)
    result = explore(counters_model(limit=10), Bounds(max_states=20))
    assert result.bound_hit == "states" and result.distinct_states >= 20


def test_unreached_sometimes_property_fails_the_run():
    never = Reachable("b_is_5", "b reaches 5", lambda s: s.b == 5)
    result = explore(counters_model(limit=3, reach=[never]))
    assert result.outcome == "unreached" and result.unreached == ("b_is_5",)
    sometimes = Reachable("b_is_3", "b reaches 3", lambda s: s.b == 3)
    assert explore(counters_model(limit=3, reach=[sometimes])).outcome == "ok"


def test_simulation_is_seeded_and_finds_violations():
    model = counters_model(limit=5, bad=lambda s: not (s.a == 5 and s.b == 5))
    one = simulate(model, runs=200, steps=30, seed=7)
    two = simulate(model, runs=200, steps=30, seed=7)
    assert one.outcome == "violation"
    assert [s.action for s in one.violation.trace] == [s.action for s in two.violation.trace]
    clean = simulate(counters_model(limit=5), runs=20, steps=10, seed=1)
    assert clean.outcome == "ok" and clean.runs == 20


def test_restricted_to_rejects_unknown_names():
    model = counters_model(bad=lambda s: True)
    assert model.restricted_to(["not_bad"]).property_names() == ("not_bad",)
    with pytest.raises(KeyError):
        model.restricted_to(["nonsense"])


def test_symmetry_canonicalization_reduces_states_with_same_verdict():
    plain = counters_model(limit=3, bad=lambda s: s.a + s.b < 6)
    reduced = attrs.evolve(plain, canonicalize=lambda s: Counters(min(s.a, s.b), max(s.a, s.b)))
    full, sym = explore(plain), explore(reduced)
    assert full.outcome == sym.outcome == "violation"
    assert len(full.violation.trace) == len(sym.violation.trace)
    assert explore(attrs.evolve(reduced, invariants=())).distinct_states == 10


def test_itf_trace_is_valid_and_readable_by_itf_py():
    from itf_py import itf

    model = counters_model(limit=3, bad=lambda s: s.a < 2)
    result = explore(model)
    document = itf_trace(result.violation, lambda s: {"a": s.a, "b": s.b}, source="counters")
    schema = json.loads(
        resources.files("mnemosyne_consensus.model_checks").joinpath("schemas/itf.json").read_text()
    )
    jsonschema.validate(document, schema)
    trace = itf.trace_from_json(json.loads(json.dumps(document)))
    assert [s.values["a"] for s in trace.states] == [0, 1, 2]
    assert trace.vars == ["a", "b"]


def test_itf_values_are_canonical():
    assert to_itf(frozenset({3, 1, 2})) == to_itf(frozenset({2, 3, 1}))
    assert to_itf({"x": (1, "y")}) == {"#map": [["x", {"#tup": [{"#bigint": "1"}, "y"]}]]}
    assert to_itf(None) == {"tag": "None", "value": {"#tup": []}}
    assert to_itf(True) is True


def test_text_rendering_lists_changed_variables_only():
    result = explore(counters_model(limit=3, bad=lambda s: s.a < 1))
    text = describe_result("counters", result, lambda s: {"a": s.a, "b": s.b})
    assert "VIOLATION" in text and "1. inc a" in text
    assert text.splitlines()[-1].strip() == "a = 1"
