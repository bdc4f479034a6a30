"""The z3 proof engine: goals, proof and mutant records, and the solver run.

A **goal** is a claim ``hypotheses ⟹ conclusion`` over free z3 constants; every free constant is
implicitly universally quantified. Replica ids, processes, elements and tags are constants of
*uninterpreted sorts*, so a goal speaks about every number of replicas at once, never a fixed n.

Running a goal asserts the hypotheses and the **negation** of the conclusion:

* ``unsat``   -- no assignment falsifies the claim: **proved** (but see vacuity below);
* ``sat``     -- the model is a **counterexample**, rendered as short readable text;
* ``unknown`` -- timeout or incompleteness (quantifiers, nonlinear arithmetic): **unknown**, with
  the solver's reason. An unknown is never reported as proved.

Vacuity: a claim whose hypotheses contradict each other is "proved" for no payload at all. After
an ``unsat`` the engine therefore checks that the hypotheses alone are satisfiable; if they are
not, the status is **vacuous**, and if that check itself is inconclusive the status is
**unknown** -- in neither case "proved" (the proof analogue of the model checker's "sometimes").

Counterexamples are rendered from the terms the goal names (``shown``): scalars as ``k = r0``,
integer arrays entry by entry over the model's finite universe (``a[r0] = 1, a[r1] = 0``), and
boolean arrays as the set where they hold (``A = {(e0, t0)}``). Before rendering, the engine looks
for a *small* counterexample (universes of 1, 2, 3, ... elements, integers of small magnitude),
as a person would write one; if none is found quickly, it renders the solver's first model.

Bounded, and the same on every machine. z3 does not always honour its wall-clock ``timeout``: on
quantified goals it was seen to run a 500 ms check for 42 s here, and for over an hour on a CI
machine. So every solver call also carries a **resource limit** (z3's ``rlimit``, a count of
solver steps), which z3 checks where the timer is ignored and which does not depend on the
machine's speed; the small-counterexample search is bounded by it alone, so it shrinks to the
same counterexample everywhere. As a last guard, :func:`check_goal` runs the solver in a forked
child process and abandons it when it outlives its budget: the verdict is then "unknown" (or the
first, unshrunk counterexample, if z3 had already found one), never a hung run.
"""

from __future__ import annotations

import inspect
import multiprocessing
import multiprocessing.connection
import re
import time
import traceback
from collections.abc import Callable
from itertools import product
from typing import Any, Literal

import attrs
import z3

Status = Literal["proved", "counterexample", "unknown", "vacuous"]

DEFAULT_TIMEOUT_MS = 10_000
# search for a small counterexample: (universe size, largest |integer|), tried in this order
SHRINK_LEVELS: tuple[tuple[int, int], ...] = ((1, 1), (2, 1), (2, 2), (3, 3), (3, 8))
# a backstop only: the resource limit below decides, on every machine (it is reached after about
# 0.25 s here, so this timer fires first only on a machine some twenty times slower)
SHRINK_TIMEOUT_MS = 5_000
# z3 solver steps per small-counterexample check: the successful checks of the shipped mutants
# take at most ~0.45 M (raft-election's majorities at size 3); z3 spends ~2 M in 500 ms here
SHRINK_RLIMIT = 1_000_000
# solver steps allowed per millisecond of a goal's timeout: a backstop, generous enough that the
# wall-clock timeout stays the limit a user sets (z3 spends ~4,000 per ms here)
RLIMIT_PER_MS = 20_000
# a child process is abandoned this long after its solver calls' own limits should have stopped it
WALL_SLACK_SECONDS = 20.0
MAX_RENDERED_ELEMENTS = 6  # entries shown per array dimension

Labelled = tuple[str, z3.ExprRef]


# -- Records --------------------------------------------------------------------------------------


@attrs.frozen
class Goal:
    """A claim ``hypotheses ⟹ conclusion`` and what to show if it fails.

    ``claim`` is the conclusion as a person writes it (shown with a counterexample); ``shown``
    lists the lines of a counterexample, each a group of labelled terms (inputs first, then the
    derived terms the claim compares).
    """

    claim: str
    conclusion: z3.BoolRef
    hypotheses: tuple[z3.BoolRef, ...] = ()
    shown: tuple[tuple[Labelled, ...], ...] = ()
    # search for a smaller counterexample (:func:`_small_model`); off for goals where that
    # search is known to end on the first model anyway, to save its cost
    shrink: bool = True


@attrs.frozen
class Proof:
    """A named claim: ``build(mutant)`` encodes it, for the sound encoding (None) or a mutant."""

    name: str  # "<protocol>.<property>", e.g. "gcounter.join_commutative"
    protocol: str
    description: str  # what is proved, under which assumptions, after which paper section
    build: Callable[[str | None], Goal]


@attrs.frozen
class ProofMutant:
    """A deliberately broken encoding, shipped so that auditors can watch proofs fail.

    ``breaks`` lists exactly the proofs that must yield a counterexample under the mutant; every
    other proof of the protocol still holds (the tests check both directions).
    """

    name: str  # "<protocol>/<bug>", e.g. "gcounter/sum-merge"
    protocol: str
    description: str
    breaks: tuple[str, ...]


@attrs.frozen
class ProofResult:
    name: str
    status: Status
    seconds: float
    counterexample: str  # readable model when status == "counterexample", else ""
    description: str
    mutant: str | None = None
    reason: str = ""  # the solver's reason when status is "unknown" or "vacuous"

    @property
    def proved(self) -> bool:
        return self.status == "proved"

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def describe(build: Callable[..., Any], assumptions: str, source: str) -> str:
    """A proof's description: the claim (``build``'s docstring), its assumptions, its source."""
    claim = " ".join((inspect.getdoc(build) or build.__name__).split())
    return f"{claim} Assumptions: {assumptions} Source: {source}"


def named_proof(
    protocol: str, build: Callable[[str | None], Goal], assumptions: str, source: str
) -> Proof:
    """The proof ``<protocol>.<build's name>``, described by ``build``'s docstring."""
    return Proof(
        name=f"{protocol}.{build.__name__}",
        protocol=protocol,
        description=describe(build, assumptions, source),
        build=build,
    )


# -- Running a goal -------------------------------------------------------------------------------


@attrs.frozen
class Verdict:
    """What z3 said about a goal, before the registry names it (see :class:`ProofResult`)."""

    status: Status
    seconds: float
    counterexample: str = ""
    reason: str = ""


def check_goal(
    goal: Goal, timeout_ms: int = DEFAULT_TIMEOUT_MS, *, isolate: bool = True
) -> Verdict:
    """Decides ``goal``: asserts its hypotheses and the negated conclusion, then asks z3.

    ``timeout_ms`` bounds each solver call: the refutation attempt, then either the vacuity check
    (after unsat) or the search for a small counterexample (after sat, at most
    ``SHRINK_RLIMIT`` solver steps per level, falling back to the first model).

    With ``isolate`` (the default, where the platform can fork) the solver runs in a child
    process that is abandoned if it outlives its budget (see the module docstring); without it,
    in this process, trusting z3 to honour its limits.
    """
    if isolate and "fork" in multiprocessing.get_all_start_methods():
        return _check_in_child(goal, timeout_ms)
    return _decide(goal, timeout_ms)


def _decide(
    goal: Goal, timeout_ms: int, provisional: Callable[[Verdict], None] | None = None
) -> Verdict:
    """The decision itself; ``provisional`` hears of the first counterexample before shrinking."""
    start = time.perf_counter()
    goal = _isolated(goal)
    solver = _solver(goal, timeout_ms)
    solver.add(*goal.hypotheses)
    solver.add(z3.Not(goal.conclusion))
    answer = solver.check()
    if answer == z3.sat:
        first = solver.model()
        if not goal.shrink:
            return Verdict("counterexample", _elapsed(start), render(goal, first))
        if provisional is not None:
            provisional(Verdict("counterexample", _elapsed(start), render(goal, first), _UNSHRUNK))
        model = _small_model(goal) or first
        return Verdict("counterexample", _elapsed(start), render(goal, model))
    if answer == z3.unknown:
        return Verdict("unknown", _elapsed(start), reason=solver.reason_unknown())
    # unsat: the claim holds for every assignment satisfying the hypotheses; are there any?
    premises = _solver(goal, timeout_ms)
    premises.add(*goal.hypotheses)
    consistent = premises.check()
    if consistent == z3.sat:
        return Verdict("proved", _elapsed(start))
    if consistent == z3.unsat:
        return Verdict("vacuous", _elapsed(start), reason="the hypotheses are unsatisfiable")
    why = premises.reason_unknown()
    return Verdict(
        "unknown", _elapsed(start), reason=f"could not show the hypotheses satisfiable: {why}"
    )


_UNSHRUNK = "the search for a smaller counterexample outlived its budget; this is z3's first model"


def _check_in_child(goal: Goal, timeout_ms: int) -> Verdict:
    """:func:`_decide` in a forked child, abandoned when it outlives its budget.

    Budget: two solver calls of ``timeout_ms`` each (refutation, then vacuity) plus
    ``WALL_SLACK_SECONDS``; once the child reports a first counterexample, the shrinking search
    gets ``WALL_SLACK_SECONDS`` more. The child's answer comes back over a pipe (fork shares the
    goal's z3 terms, so nothing z3 needs pickling; the verdict is plain data).
    """
    start = time.perf_counter()
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(goal, timeout_ms, sender), daemon=True)
    child.start()
    sender.close()
    deadline = start + 2 * timeout_ms / 1000 + WALL_SLACK_SECONDS
    first: Verdict | None = None
    try:
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0 or not receiver.poll(remaining):
                break
            try:
                kind, payload = receiver.recv()
            except EOFError:  # the child died without a verdict (z3 crashed, or was killed)
                child.join()
                if first is not None:  # while shrinking: the counterexample stands
                    return attrs.evolve(first, seconds=_elapsed(start))
                return Verdict(
                    "unknown",
                    _elapsed(start),
                    reason=f"the z3 process ended without a verdict (exit code {child.exitcode})",
                )
            if kind == "final":
                return attrs.evolve(payload, seconds=_elapsed(start))
            if kind == "error":
                raise ProofEngineError(f"the z3 process raised:\n{payload}")
            first = payload
            deadline = time.perf_counter() + WALL_SLACK_SECONDS
    finally:
        child.kill()
        child.join()
        receiver.close()
    if first is not None:
        return attrs.evolve(first, seconds=_elapsed(start))
    return Verdict(
        "unknown",
        _elapsed(start),
        reason=f"z3 outlived its {timeout_ms} ms timeout; abandoned after {_elapsed(start):.0f} s",
    )


def _child(goal: Goal, timeout_ms: int, sender: multiprocessing.connection.Connection) -> None:
    try:
        verdict = _decide(goal, timeout_ms, lambda first: sender.send(("first", first)))
        sender.send(("final", verdict))
    except BaseException:  # reported to the parent, which raises it
        sender.send(("error", traceback.format_exc()))
    finally:
        sender.close()


class ProofEngineError(RuntimeError):
    """The solver run raised (a bug in a goal's encoding or in the engine), in a child process."""


def _isolated(goal: Goal) -> Goal:
    """``goal`` in a z3 context of its own.

    z3's heuristics depend on every term its context has seen, so a goal checked in the shared
    context can get a different model (or, near a timeout, a different answer) depending on which
    proofs ran before it. A fresh context makes each run reproducible, whatever ran before.
    """
    ctx = z3.Context()
    return Goal(
        claim=goal.claim,
        conclusion=goal.conclusion.translate(ctx),
        hypotheses=tuple(h.translate(ctx) for h in goal.hypotheses),
        shown=tuple(
            tuple((label, term.translate(ctx)) for label, term in line) for line in goal.shown
        ),
        shrink=goal.shrink,
    )


def _solver(goal: Goal, timeout_ms: int, rlimit: int | None = None) -> z3.Solver:
    """A solver in the goal's context, bounded by ``timeout_ms`` and by a resource limit."""
    solver = z3.Solver(ctx=goal.conclusion.ctx)
    solver.set("timeout", timeout_ms)
    solver.set("rlimit", rlimit if rlimit is not None else timeout_ms * RLIMIT_PER_MS)
    return solver


def _elapsed(start: float) -> float:
    return time.perf_counter() - start


def _small_model(goal: Goal) -> z3.ModelRef | None:
    """A counterexample with few replicas (elements, tags...) and small integers, if found fast."""
    terms = [term for line in goal.shown for _, term in line]
    sorts = _uninterpreted_sorts(terms)
    inputs = [term for term in terms if _is_free_constant(term)]  # derived terms follow from them
    for size, bound in SHRINK_LEVELS:
        solver = _solver(goal, SHRINK_TIMEOUT_MS, SHRINK_RLIMIT)
        solver.add(*goal.hypotheses)
        solver.add(z3.Not(goal.conclusion))
        for sort in sorts:
            solver.add(_at_most(sort, size))
        for term in inputs:
            solver.add(_small_integers(term, bound))
        if solver.check() == z3.sat:
            return solver.model()
    return None


def _is_free_constant(term: z3.ExprRef) -> bool:
    return z3.is_const(term) and term.decl().kind() == z3.Z3_OP_UNINTERPRETED


def _at_most(sort: z3.SortRef, size: int) -> z3.BoolRef:
    witnesses = [z3.FreshConst(sort, "shrink") for _ in range(size)]
    x = z3.FreshConst(sort, "x")
    return z3.ForAll([x], z3.Or([x == w for w in witnesses]))


def _small_integers(term: z3.ExprRef, bound: int) -> z3.BoolRef:
    sort = term.sort()
    if sort.kind() == z3.Z3_INT_SORT:
        return z3.And(-bound <= term, term <= bound)
    if sort.kind() == z3.Z3_ARRAY_SORT and sort.range().kind() == z3.Z3_INT_SORT:
        xs = [z3.FreshConst(d, "x") for d in _domains(sort)]
        entry = z3.Select(term, *xs)
        return z3.ForAll(xs, z3.And(-bound <= entry, entry <= bound))
    return z3.BoolVal(True, term.ctx)


def _uninterpreted_sorts(terms: list[z3.ExprRef]) -> list[z3.SortRef]:
    found: list[z3.SortRef] = []
    for term in terms:
        sort = term.sort()
        candidates = _domains(sort) if sort.kind() == z3.Z3_ARRAY_SORT else [sort]
        for candidate in candidates:
            if candidate.kind() == z3.Z3_UNINTERPRETED_SORT and candidate not in found:
                found.append(candidate)
    return found


def _domains(sort: z3.ArraySortRef) -> list[z3.SortRef]:
    arity = z3.Z3_get_array_arity(sort.ctx_ref(), sort.ast)
    return [sort.domain_n(i) for i in range(arity)]


# -- Rendering a counterexample -------------------------------------------------------------------


def render(goal: Goal, model: z3.ModelRef) -> str:
    """The counterexample as short lines: inputs, derived terms, then the claim that fails."""
    lines = [
        ", ".join(_render_term(label, term, model) for label, term in line) for line in goal.shown
    ]
    lines.append(f"claim violated: {goal.claim}")
    return "\n".join(line for line in lines if line)


def _render_term(label: str, term: z3.ExprRef, model: z3.ModelRef) -> str:
    sort = term.sort()
    if sort.kind() != z3.Z3_ARRAY_SORT:
        return f"{label} = {_value(model.eval(term, model_completion=True))}"
    domains = _domains(sort)
    universes = [_universe(model, d) for d in domains]
    if any(u is None for u in universes):  # not over uninterpreted sorts: z3's own rendering
        return f"{label} = {model.eval(term, model_completion=True)}"
    points = list(product(*[u or [] for u in universes]))
    entries = [(p, model.eval(z3.Select(term, *p), model_completion=True)) for p in points]
    if sort.range().kind() == z3.Z3_BOOL_SORT:
        members = [_point(p) for p, v in entries if z3.is_true(v)]
        return f"{label} = {{{', '.join(members)}}}"
    return ", ".join(f"{label}[{_index(p)}] = {_value(v)}" for p, v in entries)


def _universe(model: z3.ModelRef, sort: z3.SortRef) -> list[z3.ExprRef] | None:
    if sort.kind() != z3.Z3_UNINTERPRETED_SORT:
        return None
    elements = model.get_universe(sort)
    if elements is None:  # no element of the sort in the model: show z3's own term instead
        return None
    # the first few elements only; a shrunk counterexample has at most SHRINK_LEVELS' sizes
    ordered = sorted(elements, key=lambda e: _element_index(str(e)))
    return ordered[:MAX_RENDERED_ELEMENTS]


def _point(point: tuple[z3.ExprRef, ...]) -> str:
    """A set member: ``e0``, or ``(e0, t1)`` for a pair."""
    return _index(point) if len(point) == 1 else f"({_index(point)})"


def _index(point: tuple[z3.ExprRef, ...]) -> str:
    """An array subscript: ``r0``, or ``e0, t1`` for a two-dimensional array."""
    return ", ".join(_value(p) for p in point)


_ELEMENT = re.compile(r"^(\w+)!val!(\d+)$")


def _element_index(text: str) -> int:
    match = _ELEMENT.match(text)
    return int(match.group(2)) if match else 0


def _value(value: z3.ExprRef) -> str:
    """``Replica!val!0`` -> ``r0``; integers and booleans as Python writes them."""
    text = str(value)
    match = _ELEMENT.match(text)
    if match:
        return f"{match.group(1)[0].lower()}{match.group(2)}"
    if z3.is_true(value):
        return "true"
    if z3.is_false(value):
        return "false"
    return text
