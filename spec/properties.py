"""Named properties, shared by every spec: the vocabulary of "always" and "sometimes".

* ``Invariant``     -- "always": a predicate every reachable state satisfies;
* ``StepProperty``  -- "always": a predicate every transition ``(pre, action, post)`` satisfies
  (inflation of CRDT updates, refinement of a spec, "a fault leaves the state unchanged");
* ``Reachable``     -- "sometimes": some reachable state satisfies it, so that a model in which
  nothing interesting can happen fails instead of passing vacuously.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import attrs

S = TypeVar("S", bound=Hashable)
A = TypeVar("A")


@attrs.frozen
class Invariant(Generic[S]):
    """An "always" property of states; ``explain`` may say what is wrong in a failing state."""

    name: str
    description: str
    holds: Callable[[S], bool]
    explain: Callable[[S], str] | None = None

    @classmethod
    def from_problem(cls, name: str, description: str, problem: Callable[[S], str]) -> Invariant[S]:
        """The invariant "``problem`` finds nothing", with ``problem``'s text as the explanation
        (for checks that find what is wrong anyway, so that it is written once)."""
        return cls(name, description, lambda state: not problem(state), problem)


@attrs.frozen
class StepProperty(Generic[S, A]):
    """An "always" property of transitions; ``explain`` may say what went wrong.

    A step property must hold on stutters (``post`` is ``pre``): it constrains what changes, and
    the explorer does not evaluate it on transitions that return the very same state.
    """

    name: str
    description: str
    holds: Callable[[S, A, S], bool]
    explain: Callable[[S, A, S], str] | None = None

    @classmethod
    def from_problem(
        cls, name: str, description: str, problem: Callable[[S, A, S], str]
    ) -> StepProperty[S, A]:
        """The step property "``problem`` finds nothing", with ``problem``'s text as the
        explanation (see :meth:`Invariant.from_problem`)."""
        return cls(name, description, lambda pre, act, post: not problem(pre, act, post), problem)


@attrs.frozen
class Reachable(Generic[S]):
    """A "sometimes" property: at least one reachable state must satisfy it."""

    name: str
    description: str
    holds: Callable[[S], bool]
