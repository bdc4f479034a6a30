"""Vector clock proofs, for every number of processes.

Sources: C. J. Fidge, "Timestamps in message-passing systems that preserve the partial ordering"
(1988), and F. Mattern, "Virtual time and global states of distributed systems" (1989):
each process keeps a vector of counters; a local or send event ticks its own entry, a receive
takes the pointwise max with the message's vector and then ticks; ``VC(e) < VC(f)`` iff e
happened before f.

Encoding
    ``Proc``   an uninterpreted sort: process ids, as many as you like.
    clock      ``Array(Proc -> Int)``; well formed when every entry is a natural number.
    ``a <= b`` ``∀k. a[k] <= b[k]``.
    ``a < b``  ``a <= b ∧ ∃k. a[k] < b[k]`` (less-or-equal and different).
    ``a ∥ b``  ``¬(a < b) ∧ ¬(b < a)`` (concurrent).
    tick       at process i: ``V[i] := V[i] + 1`` (a local event or a send).
    receive    at process i of a message stamped m: ``V := tick(max(V, m), i)``.

Only the ``<`` relation has mutants here; the merge is the G-Counter's (:mod:`.gcounter`).
"""

from __future__ import annotations

from collections.abc import Callable

import z3

from .core import Goal, Labelled, Proof, ProofMutant, named_proof
from .gcounter import counts, increment, natural, pointwise_leq, pointwise_max
from .lattice import Lattice, join_least, join_upper_bound, premises, semilattice_proofs, show

PROTOCOL = "vector-clock"
SOURCE = "Fidge 1988; Mattern 1989 (vector time and its order)."
ASSUMPTIONS = (
    "every entry of a clock is a natural number; process ids range over an uninterpreted sort "
    "(any number of processes)."
)

Proc = z3.DeclareSort("Proc")

Relation = Callable[[z3.ExprRef, z3.ExprRef], z3.BoolRef]

# -- The clocks -----------------------------------------------------------------------------------


def clock(name: str) -> z3.ExprRef:
    return counts(name, Proc)


def less(a: z3.ExprRef, b: z3.ExprRef) -> z3.BoolRef:
    """``a < b``: every entry <=, some entry <."""
    k = z3.Const("k", Proc)
    return z3.And(pointwise_leq(a, b), z3.Exists([k], a[k] < b[k]))


def tick(v: z3.ExprRef, i: z3.ExprRef) -> z3.ExprRef:
    """A local or send event at process i: ``V[i] := V[i] + 1``."""
    return increment(v, i)


def receive(v: z3.ExprRef, m: z3.ExprRef, i: z3.ExprRef) -> z3.ExprRef:
    """Process i receives a message stamped m: ``V := max(V, m)``, then the receive event ticks."""
    return tick(pointwise_max(v, m), i)


# -- Mutants --------------------------------------------------------------------------------------

NON_STRICT_LESS = "vector-clock/non-strict-less"
EXISTS_LESS = "vector-clock/exists-less"


def non_strict_less(a: z3.ExprRef, b: z3.ExprRef) -> z3.BoolRef:
    """The ``non-strict-less`` mutant: ``a < b`` as pointwise ``<=``."""
    return pointwise_leq(a, b)


def exists_less(a: z3.ExprRef, b: z3.ExprRef) -> z3.BoolRef:
    """The ``exists-less`` mutant: ``a < b`` when some entry is smaller."""
    k = z3.Const("k", Proc)
    return z3.Exists([k], a[k] < b[k])


MUTANTS = (
    ProofMutant(
        NON_STRICT_LESS,
        PROTOCOL,
        "happened-before compares with pointwise <= (forgets 'and different')",
        (
            "vector-clock.lt_irreflexive",
            "vector-clock.lt_asymmetric",
            "vector-clock.lt_is_leq_and_different",
        ),
    ),
    ProofMutant(
        EXISTS_LESS,
        PROTOCOL,
        "happened-before holds when some entry is smaller (forgets 'every entry <=')",
        (
            "vector-clock.lt_asymmetric",
            "vector-clock.lt_transitive",
            "vector-clock.lt_is_leq_and_different",
        ),
    ),
)

_LESS: dict[str, Relation] = {NON_STRICT_LESS: non_strict_less, EXISTS_LESS: exists_less}


def lt(mutant: str | None) -> Relation:
    return _LESS.get(mutant or "", less)


def encoding(mutant: str | None) -> Lattice[z3.ExprRef]:
    """Clocks under receive's max: the G-Counter lattice over processes (no mutant changes it)."""
    return Lattice(
        fresh=clock,
        parts=lambda v: (("", v),),
        well_formed=natural,
        join=pointwise_max,
        leq=pointwise_leq,
    )


def _clocks(*names: str) -> list[z3.ExprRef]:
    return [clock(name) for name in names]


def _show(*named: tuple[str, z3.ExprRef]) -> tuple[tuple[Labelled, ...], ...]:
    return tuple(show(encoding(None), label, v) for label, v in named)


# -- The order ------------------------------------------------------------------------------------


def lt_irreflexive(mutant: str | None) -> Goal:
    """happened-before is irreflexive: not VC(a) < VC(a)."""
    (a,) = _clocks("a")
    return Goal(
        claim="not a < a",
        conclusion=z3.Not(lt(mutant)(a, a)),
        hypotheses=(natural(a),),
        shown=_show(("a", a)),
    )


def lt_asymmetric(mutant: str | None) -> Goal:
    """happened-before is asymmetric: a < b implies not b < a."""
    a, b = _clocks("a", "b")
    less_than = lt(mutant)
    return Goal(
        claim="a < b implies not b < a",
        conclusion=z3.Not(less_than(b, a)),
        hypotheses=(natural(a), natural(b), less_than(a, b)),
        shown=_show(("a", a), ("b", b)),
    )


def lt_transitive(mutant: str | None) -> Goal:
    """happened-before is transitive: a < b and b < c imply a < c."""
    a, b, c = _clocks("a", "b", "c")
    less_than = lt(mutant)
    return Goal(
        claim="a < b and b < c imply a < c",
        conclusion=less_than(a, c),
        hypotheses=(natural(a), natural(b), natural(c), less_than(a, b), less_than(b, c)),
        shown=_show(("a", a), ("b", b), ("c", c)),
    )


def lt_is_leq_and_different(mutant: str | None) -> Goal:
    """a < b exactly when a <= b and a != b: the strict order of the clock lattice."""
    a, b = _clocks("a", "b")
    return Goal(
        claim="a < b iff (a <= b and a != b)",
        conclusion=lt(mutant)(a, b) == z3.And(pointwise_leq(a, b), a != b),
        hypotheses=(natural(a), natural(b)),
        shown=_show(("a", a), ("b", b)),
    )


def concurrent_symmetric(mutant: str | None) -> Goal:
    """concurrency is symmetric: a ∥ b implies b ∥ a, where a ∥ b is neither a < b nor b < a."""
    a, b = _clocks("a", "b")
    less_than = lt(mutant)

    def concurrent(x: z3.ExprRef, y: z3.ExprRef) -> z3.BoolRef:
        return z3.And(z3.Not(less_than(x, y)), z3.Not(less_than(y, x)))

    return Goal(
        claim="a ∥ b implies b ∥ a",
        conclusion=concurrent(b, a),
        hypotheses=(natural(a), natural(b), concurrent(a, b)),
        shown=_show(("a", a), ("b", b)),
    )


# -- The events -----------------------------------------------------------------------------------


def receive_dominates(mutant: str | None) -> Goal:
    """a receive's clock is above both: v < receive(v, m, i) and m < receive(v, m, i)."""
    v, m = _clocks("v", "m")
    i = z3.Const("i", Proc)
    after = receive(v, m, i)
    less_than = lt(mutant)
    return Goal(
        claim="v < receive(v, m, i) and m < receive(v, m, i)",
        conclusion=z3.And(less_than(v, after), less_than(m, after)),
        hypotheses=(natural(v), natural(m)),
        shown=(*_show(("v", v), ("m", m)), (("i", i),), *_show(("receive(v, m, i)", after))),
    )


def tick_advances(mutant: str | None) -> Goal:
    """a local or send event advances the clock: v < tick(v, i)."""
    (v,) = _clocks("v")
    i = z3.Const("i", Proc)
    after = tick(v, i)
    return Goal(
        claim="v < tick(v, i)",
        conclusion=lt(mutant)(v, after),
        hypotheses=premises(encoding(mutant), v),
        shown=(*_show(("v", v)), (("i", i),), *_show(("tick(v, i)", after))),
    )


PROOFS: tuple[Proof, ...] = (
    *(
        named_proof(PROTOCOL, build, ASSUMPTIONS, SOURCE)
        for build in (
            lt_irreflexive,
            lt_asymmetric,
            lt_transitive,
            lt_is_leq_and_different,
            concurrent_symmetric,
        )
    ),
    # receive's max is the least upper bound of the two clocks (the G-Counter merge laws)
    *semilattice_proofs(
        PROTOCOL, encoding, ASSUMPTIONS, SOURCE, laws=(join_upper_bound, join_least)
    ),
    named_proof(PROTOCOL, receive_dominates, ASSUMPTIONS, SOURCE),
    named_proof(PROTOCOL, tick_advances, ASSUMPTIONS, SOURCE),
)
