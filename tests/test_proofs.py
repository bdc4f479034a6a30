"""The z3 proofs: every claim is proved, every mutant is refuted, nothing else passes as proved."""

from __future__ import annotations

import json
import os
import time

import pytest
import z3

from mnemosyne_consensus.proofs import (
    MUTANTS,
    PROOFS,
    PROTOCOLS,
    MutantMismatchError,
    ProofUsageError,
    UnknownMutantError,
    UnknownProofError,
    find_proof,
    run_all,
    run_proof,
    summary,
)
from mnemosyne_consensus.proofs.core import Goal, check_goal

TIMEOUT_MS = 30_000  # generous: a loaded CI machine must not turn a proof "unknown"

BROKEN = [(m.name, proof) for m in MUTANTS for proof in m.breaks]


# -- The sound encodings: everything is proved ----------------------------------------------------


@pytest.mark.parametrize("name", [p.name for p in PROOFS])
def test_every_proof_is_proved(name):
    result = run_proof(name, timeout_ms=TIMEOUT_MS)
    assert result.status == "proved", (result.status, result.reason, result.counterexample)
    assert result.proved
    assert result.counterexample == ""
    assert result.reason == ""
    assert result.mutant is None


def test_run_all_proves_everything():
    results = run_all(timeout_ms=TIMEOUT_MS)
    assert [r.name for r in results] == [p.name for p in PROOFS]
    assert {r.status for r in results} == {"proved"}
    report = summary(results)
    assert report["all_proved"] is True
    assert report["by_status"] == {"proved": len(PROOFS)}
    json.dumps(report)  # the report is JSON as it stands


# -- The mutants: each breaks exactly the proofs it claims, with a readable model ----------------


@pytest.mark.parametrize(("mutant", "name"), BROKEN)
def test_mutant_yields_counterexample(mutant, name):
    result = run_proof(name, mutant=mutant, timeout_ms=TIMEOUT_MS)
    assert result.status == "counterexample", (result.status, result.reason)
    assert not result.proved
    assert result.mutant == mutant
    lines = result.counterexample.splitlines()
    assert len(lines) >= 2
    assert all(line.strip() for line in lines)
    assert lines[-1].startswith("claim violated: ")
    assert all(" = " in line for line in lines[:-1])  # every other line names values
    assert "!val!" not in result.counterexample  # z3's element names are rewritten (r0, e0...)


@pytest.mark.parametrize("mutant", [m.name for m in MUTANTS])
def test_mutant_breaks_exactly_what_it_declares(mutant):
    declared = next(m for m in MUTANTS if m.name == mutant).breaks
    results = run_all(mutant=mutant, timeout_ms=TIMEOUT_MS)
    broken = [r.name for r in results if r.status == "counterexample"]
    assert sorted(broken) == sorted(declared)
    assert {r.status for r in results if r.name not in declared} <= {"proved"}


def test_sum_merge_counterexample_is_the_smallest():
    result = run_proof("gcounter.join_idempotent", mutant="gcounter/sum-merge")
    assert result.counterexample == (
        "a[r0] = 1\njoin(a, a)[r0] = 2\nclaim violated: join(a, a) = a"
    )


def test_counterexample_does_not_depend_on_what_ran_before():
    first = run_proof("vector-clock.lt_transitive", mutant="vector-clock/exists-less")
    run_all()
    again = run_proof("vector-clock.lt_transitive", mutant="vector-clock/exists-less")
    assert again.counterexample == first.counterexample


def test_add_wins_counterexample_shows_the_tombstoned_add():
    result = run_proof("orset.add_wins", mutant="orset/remove-unobserved")
    assert result.status == "counterexample"
    assert "e = e0, t = t0" in result.counterexample
    assert ".R = {(e0, t0)}" in result.counterexample


# -- The registry ---------------------------------------------------------------------------------


def test_registry_names_are_unique_and_prefixed():
    names = [p.name for p in PROOFS]
    assert len(names) == len(set(names))
    for proof in PROOFS:
        assert proof.protocol in PROTOCOLS
        assert proof.name.startswith(f"{proof.protocol}.")
    mutant_names = [m.name for m in MUTANTS]
    assert len(mutant_names) == len(set(mutant_names))
    for mutant in MUTANTS:
        assert mutant.name.startswith(f"{mutant.protocol}/")
        assert mutant.breaks
        for name in mutant.breaks:
            assert find_proof(name).protocol == mutant.protocol


def test_required_mutants_are_shipped():
    required = {
        "gcounter/sum-merge",
        "gcounter/min-merge",
        "lww-register/no-tiebreak",
        "lww-register/no-unique-writes",
        "orset/remove-unobserved",
        "pncounter/decrement-lowers-p",
        "vector-clock/non-strict-less",
        "vector-clock/exists-less",
    }
    assert required <= {m.name for m in MUTANTS}


def test_every_protocol_has_its_semilattice_or_order_proofs():
    names = {p.name for p in PROOFS}
    for protocol in ("gcounter", "pncounter", "lww-register", "orset"):
        for law in ("join_commutative", "join_associative", "join_idempotent", "join_least"):
            assert f"{protocol}.{law}" in names
    for law in ("lt_irreflexive", "lt_transitive", "lt_asymmetric", "concurrent_symmetric"):
        assert f"vector-clock.{law}" in names


def test_descriptions_state_claim_assumptions_and_source():
    for proof in PROOFS:
        assert "Assumptions:" in proof.description
        assert "Source:" in proof.description
        claim = proof.description.split(" Assumptions:")[0]
        assert len(claim) > 10


def test_replica_ids_are_never_a_fixed_set():
    """Every array in a goal is indexed by an uninterpreted sort or by the unbounded integers
    (servers 0..n-1 for a symbolic n, as the Raft majority proofs count): no proof fixes n."""
    for proof in PROOFS:
        goal = proof.build(None)
        for line in goal.shown:
            for _, term in line:
                sort = term.sort()
                if sort.kind() == z3.Z3_ARRAY_SORT:
                    arity = z3.Z3_get_array_arity(sort.ctx_ref(), sort.ast)
                    domains = [sort.domain_n(i) for i in range(arity)]
                    unbounded = (z3.Z3_UNINTERPRETED_SORT, z3.Z3_INT_SORT)
                    assert all(d.kind() in unbounded for d in domains), proof.name


def test_result_is_json():
    result = run_proof("orset.add_wins", mutant="orset/remove-unobserved")
    data = json.loads(json.dumps(result.to_json()))
    assert data["name"] == "orset.add_wins"
    assert data["status"] == "counterexample"
    assert data["mutant"] == "orset/remove-unobserved"
    assert data["counterexample"] == result.counterexample
    assert data["description"] == result.description
    assert isinstance(data["seconds"], float)


# -- Unknown and vacuous results are never "proved" -----------------------------------------------


def test_hard_goal_with_tiny_timeout_is_unknown():
    x, y, z = z3.Ints("x y z")
    fermat_3 = Goal(
        claim="x^3 + y^3 != z^3",
        conclusion=x * x * x + y * y * y != z * z * z,
        hypotheses=(x > 0, y > 0, z > 0),
        shown=((("x", x), ("y", y), ("z", z)),),
    )
    verdict = check_goal(fermat_3, timeout_ms=50)
    assert verdict.status == "unknown"
    assert verdict.reason
    assert verdict.counterexample == ""


def test_solver_unknown_is_reported_as_unknown(monkeypatch):
    monkeypatch.setattr(z3.Solver, "check", lambda self, *args: z3.unknown)
    monkeypatch.setattr(z3.Solver, "reason_unknown", lambda self: "canceled")
    result = run_proof("gcounter.join_commutative")
    assert result.status == "unknown"
    assert not result.proved
    assert result.reason == "canceled"
    assert summary((result,))["all_proved"] is False


def test_unconfirmed_hypotheses_are_unknown_not_proved(monkeypatch):
    answers = iter([z3.unsat, z3.unknown])  # the claim holds, but are the hypotheses satisfiable?
    monkeypatch.setattr(z3.Solver, "check", lambda self, *args: next(answers))
    monkeypatch.setattr(z3.Solver, "reason_unknown", lambda self: "timeout")
    result = run_proof("gcounter.join_commutative")
    assert result.status == "unknown"
    assert "hypotheses" in result.reason


def test_contradictory_hypotheses_are_vacuous_not_proved():
    x = z3.Int("x")
    goal = Goal(claim="x = 7", conclusion=x == 7, hypotheses=(x > 0, x < 0))
    verdict = check_goal(goal)
    assert verdict.status == "vacuous"
    assert verdict.reason


# -- Misuse raises typed errors with one-line messages --------------------------------------------


def test_unknown_proof_name_raises():
    with pytest.raises(UnknownProofError) as caught:
        run_proof("gcounter.no_such_law")
    assert isinstance(caught.value, KeyError)
    assert isinstance(caught.value, ProofUsageError)
    message = str(caught.value)
    assert "gcounter.no_such_law" in message
    assert "\n" not in message
    assert not message.startswith(("'", '"'))  # not KeyError's repr-quoted message


def test_unknown_mutant_name_raises():
    with pytest.raises(UnknownMutantError, match="gcounter/no-such-bug"):
        run_proof("gcounter.join_commutative", mutant="gcounter/no-such-bug")
    with pytest.raises(UnknownMutantError):
        run_all(mutant="gcounter/no-such-bug")


def test_mutant_of_another_protocol_raises():
    with pytest.raises(MutantMismatchError) as caught:
        run_proof("gcounter.join_commutative", mutant="orset/remove-unobserved")
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert "orset/remove-unobserved" in message
    assert "gcounter.join_commutative" in message
    assert "\n" not in message


def test_a_goal_can_opt_out_of_the_small_model_search(monkeypatch):
    """merkle-crdt's three-operation lemma does: no level of its search succeeds within the
    search's resource limit. It still yields a counterexample under its mutant."""
    from mnemosyne_consensus.proofs import core

    def searched(goal):
        raise AssertionError("the small-model search ran for a goal that opted out")

    monkeypatch.setattr(core, "_small_model", searched)
    name = "merkle-crdt.any_order_of_three_agrees"
    result = run_proof(name, mutant="merkle-crdt/remove-at-receiver", timeout_ms=TIMEOUT_MS)
    assert result.status == "counterexample"
    assert result.counterexample.splitlines()[-1].startswith("claim violated: ")


# -- A solver that outlives its limits is abandoned, never a hung run ------------------------------


def _stall(*args, **kwargs):
    time.sleep(3600)


def test_solver_that_ignores_its_timeout_is_abandoned_as_unknown(monkeypatch):
    from mnemosyne_consensus.proofs import core

    monkeypatch.setattr(core, "WALL_SLACK_SECONDS", 1.0)
    monkeypatch.setattr(z3.Solver, "check", _stall)  # forked into the child, which stalls
    result = run_proof("gcounter.join_commutative", timeout_ms=100)
    assert result.status == "unknown"
    assert "outlived its 100 ms timeout" in result.reason


def test_shrinking_that_outlives_its_budget_keeps_the_first_counterexample(monkeypatch):
    from mnemosyne_consensus.proofs import core

    monkeypatch.setattr(core, "WALL_SLACK_SECONDS", 1.0)
    monkeypatch.setattr(core, "_small_model", _stall)
    result = run_proof("gcounter.join_idempotent", mutant="gcounter/sum-merge")
    assert result.status == "counterexample"
    assert result.counterexample.splitlines()[-1] == "claim violated: join(a, a) = a"
    assert "first model" in result.reason


def test_solver_process_that_dies_is_unknown(monkeypatch):
    monkeypatch.setattr(z3.Solver, "check", lambda self, *args: os._exit(3))
    result = run_proof("gcounter.join_commutative")
    assert result.status == "unknown"
    assert "exit code 3" in result.reason


def test_solver_process_that_dies_while_shrinking_keeps_the_first_counterexample(monkeypatch):
    from mnemosyne_consensus.proofs import core

    monkeypatch.setattr(core, "_small_model", lambda goal: os._exit(3))
    result = run_proof("gcounter.join_idempotent", mutant="gcounter/sum-merge")
    assert result.status == "counterexample"
    assert "first model" in result.reason


def test_engine_error_in_the_solver_process_is_raised(monkeypatch):
    from mnemosyne_consensus.proofs import core

    def broken(*args, **kwargs):
        raise ValueError("an encoding bug")

    monkeypatch.setattr(core, "_isolated", broken)
    with pytest.raises(core.ProofEngineError, match="an encoding bug"):
        run_proof("gcounter.join_commutative")


def test_in_process_check_gives_the_same_verdict():
    goal = find_proof("orset.add_wins").build("orset/remove-unobserved")
    forked = check_goal(goal)
    here = check_goal(goal, isolate=False)
    assert (forked.status, forked.counterexample) == (here.status, here.counterexample)


def test_small_counterexample_is_decided_by_solver_steps_not_seconds(monkeypatch):
    """The shrinking search stops on z3's resource limit, which no machine's speed changes: a
    timer 12 times longer finds the same counterexample (raft's size-2 level runs out of
    steps in either case)."""
    from mnemosyne_consensus.proofs import core

    name, mutant = "raft-election.majorities_intersect", "raft-election/floor-half"
    usual = run_proof(name, mutant=mutant, timeout_ms=TIMEOUT_MS)
    monkeypatch.setattr(core, "SHRINK_TIMEOUT_MS", 60_000)
    patient = run_proof(name, mutant=mutant, timeout_ms=TIMEOUT_MS)
    assert usual.status == patient.status == "counterexample"
    assert usual.counterexample == patient.counterexample
