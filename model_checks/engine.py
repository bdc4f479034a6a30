"""The bounded model-checking engine: breadth-first exploration and random simulation.

A *model* is data: its initial states, the actions enabled in a state, the effect of an action,
and three kinds of named properties:

* ``Invariant``      -- an "always" predicate on every reachable state;
* ``StepProperty``   -- an "always" predicate on every transition ``(pre, action, post)``
  (inflation of CRDT updates, refinement of a spec, "a fault leaves the state unchanged");
* ``Reachable``      -- a "sometimes" predicate: some reachable state must satisfy it, so that a
  model in which nothing interesting can happen fails instead of passing vacuously.

States must be immutable and hashable. The explorer stores one 64-bit fingerprint per distinct
state (Python's ``hash``; a collision could hide a state, with odds of about n^2 / 2^65 for n
states) together with the parent fingerprint and the action that first reached it, so that on a
violation it rebuilds the *shortest* trace by replaying those actions from the initial state.

Step properties are checked on every transition, including transitions into states seen before,
because a transition property is about the edge, not the target.
"""

from __future__ import annotations

import gc
import random
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Generic, Literal, TypeVar

import attrs

from ..spec.properties import Invariant, Reachable, StepProperty

S = TypeVar("S", bound=Hashable)
A = TypeVar("A")

Outcome = Literal["ok", "violation", "unreached"]


def _identity(state: Any) -> Any:
    return state


@attrs.frozen
class Model(Generic[S, A]):
    """A transition system with its properties.

    ``canonicalize`` maps a state to the representative of its symmetry class; the explorer
    stores and expands representatives only. Leave it as the identity unless the symmetry is
    sound for every property of the model.
    """

    name: str
    initial_states: Callable[[], Iterable[S]]
    actions: Callable[[S], Iterable[A]]
    next_state: Callable[[S, A], S]
    invariants: tuple[Invariant[S], ...] = ()
    step_properties: tuple[StepProperty[S, A], ...] = ()
    reachables: tuple[Reachable[S], ...] = ()
    describe_action: Callable[[A], str] = str
    canonicalize: Callable[[S], S] = _identity

    def property_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in (*self.invariants, *self.step_properties, *self.reachables))

    def restricted_to(self, names: Iterable[str]) -> Model[S, A]:
        """The same model checking only the named properties (``check --invariant``)."""
        wanted = set(names)
        unknown = wanted - set(self.property_names())
        if unknown:
            raise KeyError(", ".join(sorted(unknown)))
        return attrs.evolve(
            self,
            invariants=tuple(p for p in self.invariants if p.name in wanted),
            step_properties=tuple(p for p in self.step_properties if p.name in wanted),
            reachables=tuple(p for p in self.reachables if p.name in wanted),
        )


@attrs.frozen
class TraceStep(Generic[S, A]):
    """One line of a trace: the action taken (``None`` at the start) and the state after it."""

    action: A | None
    action_text: str
    state: S


@attrs.frozen
class Violation(Generic[S, A]):
    """What failed: an invariant (state), a step property (transition) or a reachable (never)."""

    kind: Literal["invariant", "step", "unreached"]
    property_name: str
    description: str
    detail: str
    trace: tuple[TraceStep[S, A], ...]


@attrs.frozen
class Bounds:
    """Exploration bounds; ``None`` means unbounded."""

    max_depth: int | None = None
    max_states: int | None = None
    max_seconds: float | None = None


@attrs.frozen
class ExplorationResult(Generic[S, A]):
    """The data of one run. ``bound_hit`` names the bound that cut the search short, if any."""

    mode: Literal["exhaustive", "simulation"]
    outcome: Outcome
    states_explored: int
    distinct_states: int
    max_depth: int
    seconds: float
    violation: Violation[S, A] | None
    reached: tuple[str, ...]
    unreached: tuple[str, ...]
    bound_hit: str | None = None
    runs: int = 0

    @property
    def complete(self) -> bool:
        """True when the whole bounded state space was explored."""
        return self.mode == "exhaustive" and self.bound_hit is None

    @property
    def states_per_second(self) -> float:
        return self.distinct_states / self.seconds if self.seconds > 0 else 0.0


ProgressCallback = Callable[[Mapping[str, float]], None]


class _Progress:
    """Calls ``report`` at most every ``interval`` seconds; cheap to poll in the hot loop."""

    def __init__(self, report: ProgressCallback | None, interval: float, started: float) -> None:
        self.report = report
        self.interval = interval
        self.started = started
        self.next_at = started + interval

    def poll(self, now: float, **figures: float) -> None:
        if self.report is not None and now >= self.next_at:
            self.next_at = now + self.interval
            elapsed = now - self.started
            figures["seconds"] = elapsed
            figures["rate"] = figures.get("distinct", 0.0) / elapsed if elapsed else 0.0
            self.report(figures)


def _broken(invariant: Invariant[S], trace: tuple[TraceStep[S, A], ...]) -> Violation[S, A]:
    """The violation of a state invariant, explained on the trace's last state if it can be."""
    detail = invariant.explain(trace[-1].state) if invariant.explain else ""
    return Violation("invariant", invariant.name, invariant.description, detail, trace)


def _first_failed_invariant(model: Model[S, A], state: S) -> Invariant[S] | None:
    for invariant in model.invariants:
        if not invariant.holds(state):
            return invariant
    return None


def _first_failed_step(
    model: Model[S, A], pre: S, action: A, post: S
) -> tuple[StepProperty[S, A], str] | None:
    for prop in model.step_properties:
        if not prop.holds(pre, action, post):
            detail = prop.explain(pre, action, post) if prop.explain else ""
            return prop, detail
    return None


def _trace_from(
    model: Model[S, A], initial: S, actions: Sequence[A]
) -> tuple[TraceStep[S, A], ...]:
    """Replays ``actions`` from ``initial`` (canonicalizing as the explorer did)."""
    state = initial
    steps: list[TraceStep[S, A]] = [TraceStep(None, "initial state", state)]
    for action in actions:
        state = model.canonicalize(model.next_state(state, action))
        steps.append(TraceStep(action, model.describe_action(action), state))
    return tuple(steps)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """States and the search's tables hold no reference cycles; the cyclic collector would only
    rescan the ever-growing tables over and over (about 5-10% of a search), so it waits."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def explore(
    model: Model[S, A],
    bounds: Bounds | None = None,
    progress: ProgressCallback | None = None,
    progress_interval: float = 2.0,
) -> ExplorationResult[S, A]:
    """Breadth-first exploration; the first violation found has a shortest trace."""
    with _cyclic_gc_paused():
        return _explore(model, bounds, progress, progress_interval)


def _explore(
    model: Model[S, A],
    bounds: Bounds | None = None,
    progress: ProgressCallback | None = None,
    progress_interval: float = 2.0,
) -> ExplorationResult[S, A]:
    bounds = bounds or Bounds()
    started = time.monotonic()
    ticker = _Progress(progress, progress_interval, started)
    canonicalize = model.canonicalize
    actions_of = model.actions
    next_state = model.next_state
    check_steps = bool(model.step_properties)
    pending = {r.name: r for r in model.reachables}

    initials: list[S] = []
    # fingerprint -> (parent fingerprint, action) or (None, index of the initial state)
    parents: dict[int, tuple[int | None, Any]] = {}
    queue: deque[tuple[S, int, int]] = deque()
    explored = 0
    deepest = 0
    bound_hit: str | None = None

    def finish(outcome: Outcome, violation: Violation[S, A] | None) -> ExplorationResult[S, A]:
        unreached = tuple(pending) if outcome != "violation" else ()
        if outcome == "ok" and unreached:
            outcome = "unreached"
        return ExplorationResult(
            mode="exhaustive",
            outcome=outcome,
            states_explored=explored,
            distinct_states=len(parents),
            max_depth=deepest,
            seconds=time.monotonic() - started,
            violation=violation,
            reached=tuple(r.name for r in model.reachables if r.name not in pending),
            unreached=unreached,
            bound_hit=bound_hit,
        )

    def path_to(fp: int) -> tuple[S, list[A]]:
        actions: list[A] = []
        parent, step = parents[fp]
        while parent is not None:
            actions.append(step)
            parent, step = parents[parent]
        actions.reverse()
        return initials[step], actions

    def mark_reached(state: S) -> None:
        for name, reachable in list(pending.items()):
            if reachable.holds(state):
                del pending[name]

    for state in model.initial_states():
        state = canonicalize(state)
        fp = hash(state)
        explored += 1
        if fp in parents:
            continue
        parents[fp] = (None, len(initials))
        initials.append(state)
        broken = _first_failed_invariant(model, state)
        if broken is not None:
            trace = _trace_from(model, state, ())
            return finish(
                "violation",
                _broken(broken, trace),
            )
        mark_reached(state)
        queue.append((state, fp, 0))

    step_checks = tuple((p.holds, p) for p in model.step_properties)
    state_checks = tuple((p.holds, p) for p in model.invariants)
    symmetric = canonicalize is not _identity
    max_depth, max_states, max_seconds = bounds.max_depth, bounds.max_states, bounds.max_seconds
    while queue:
        state, fp, depth = queue.popleft()
        if max_depth is not None and depth >= max_depth:
            bound_hit = bound_hit or "depth"
            continue
        for action in actions_of(state):
            successor = next_state(state, action)
            if symmetric:
                successor = canonicalize(successor)
            explored += 1
            # a stutter (the action returned the very same state) satisfies every step property
            # of this engine's contract -- they constrain changes, never forbid standing still --
            # and leads to a state already visited
            if successor is state:
                continue
            if check_steps:
                for holds, prop in step_checks:
                    if not holds(state, action, successor):
                        detail = prop.explain(state, action, successor) if prop.explain else ""
                        initial, path = path_to(fp)
                        trace = _trace_from(model, initial, [*path, action])
                        return finish(
                            "violation",
                            Violation("step", prop.name, prop.description, detail, trace),
                        )
            succ_fp = hash(successor)
            if succ_fp in parents:
                continue
            parents[succ_fp] = (fp, action)
            if depth >= deepest:
                deepest = depth + 1
            for holds, invariant in state_checks:
                if not holds(successor):
                    initial, path = path_to(succ_fp)
                    trace = _trace_from(model, initial, path)
                    return finish(
                        "violation",
                        _broken(invariant, trace),
                    )
            if pending:
                mark_reached(successor)
            queue.append((successor, succ_fp, depth + 1))
        if max_states is not None and len(parents) >= max_states:
            bound_hit = "states"
            break
        now = time.monotonic()
        if max_seconds is not None and now - started >= max_seconds:
            bound_hit = "time"
            break
        ticker.poll(now, distinct=len(parents), explored=explored, depth=depth, queue=len(queue))
    return finish("ok", None)


def simulate(
    model: Model[S, A],
    runs: int,
    steps: int,
    seed: int,
    max_seconds: float | None = None,
    progress: ProgressCallback | None = None,
    progress_interval: float = 2.0,
) -> ExplorationResult[S, A]:
    """Seeded random walks; see :func:`_simulate`."""
    with _cyclic_gc_paused():
        return _simulate(model, runs, steps, seed, max_seconds, progress, progress_interval)


def _simulate(
    model: Model[S, A],
    runs: int,
    steps: int,
    seed: int,
    max_seconds: float | None = None,
    progress: ProgressCallback | None = None,
    progress_interval: float = 2.0,
) -> ExplorationResult[S, A]:
    """``runs`` random walks of at most ``steps`` actions each, from a seeded generator.

    The same seed gives the same walks. A violation's trace is the walk that found it (not
    necessarily the shortest one).
    """
    started = time.monotonic()
    ticker = _Progress(progress, progress_interval, started)
    rng = random.Random(seed)
    pending = {r.name: r for r in model.reachables}
    initials = [model.canonicalize(s) for s in model.initial_states()]
    seen: set[int] = set()
    explored = 0
    deepest = 0
    runs_done = 0
    bound_hit: str | None = None

    def result(outcome: Outcome, violation: Violation[S, A] | None) -> ExplorationResult[S, A]:
        unreached = tuple(pending) if outcome != "violation" else ()
        if outcome == "ok" and unreached:
            outcome = "unreached"
        return ExplorationResult(
            mode="simulation",
            outcome=outcome,
            states_explored=explored,
            distinct_states=len(seen),
            max_depth=deepest,
            seconds=time.monotonic() - started,
            violation=violation,
            reached=tuple(r.name for r in model.reachables if r.name not in pending),
            unreached=unreached,
            bound_hit=bound_hit,
            runs=runs_done,
        )

    def visit(state: S) -> Invariant[S] | None:
        seen.add(hash(state))
        for name, reachable in list(pending.items()):
            if reachable.holds(state):
                del pending[name]
        return _first_failed_invariant(model, state)

    for _ in range(runs):
        state = rng.choice(initials)
        walk: list[A] = []
        explored += 1
        broken = visit(state)
        if broken is not None:
            trace = _trace_from(model, state, ())
            return result("violation", _broken(broken, trace))
        initial = state
        for _ in range(steps):
            enabled = list(model.actions(state))
            if not enabled:
                break
            action = rng.choice(enabled)
            successor = model.canonicalize(model.next_state(state, action))
            explored += 1
            walk.append(action)
            deepest = max(deepest, len(walk))
            failed = _first_failed_step(model, state, action, successor)
            if failed is not None:
                prop, detail = failed
                trace = _trace_from(model, initial, walk)
                return result(
                    "violation", Violation("step", prop.name, prop.description, detail, trace)
                )
            broken = visit(successor)
            if broken is not None:
                trace = _trace_from(model, initial, walk)
                return result(
                    "violation",
                    _broken(broken, trace),
                )
            state = successor
        runs_done += 1
        now = time.monotonic()
        if max_seconds is not None and now - started >= max_seconds:
            bound_hit = "time"
            break
        ticker.poll(now, distinct=len(seen), explored=explored, depth=deepest, queue=0)
    return result("ok", None)
