"""Bully election proofs: the bully rule elects the unique maximum, for every number of processes.

Source: H. Garcia-Molina, "Elections in a distributed computing system", IEEE Transactions on
Computers C-31(1), 1982, the Bully Algorithm: a process that finds every higher-priority process
down (its ``AreYouUp`` calls all time out) makes itself coordinator. The executable spec is
:mod:`mnemosyne_consensus.spec.bully` (``ElectionTimeout`` is enabled exactly when every higher
process is down); this module states the rule in z3.

Encoding
    ``Process``  an uninterpreted sort: processes, as many as you like (no proof fixes n).
    ``alive``    ``Array(Process -> Bool)``: the processes that are up.
    ``id``       ``Array(Process -> Int)``: each process's id, its priority. Ids are distinct
                 (``∀a, b. id[a] = id[b] ⇒ a = b``), as the paper requires.
    rule         ``wins(alive, c)``: ``alive[c] ∧ ∀j. alive[j] ⇒ ¬(id[j] > id[c])`` -- c is up
                 and no process with a higher id is (the spec's failure-detector condition).
    maximum      ``alive[c] ∧ ∀j. alive[j] ⇒ id[j] <= id[c]``.

"For every finite alive set" by induction
    First-order logic cannot say "finite", so existence is proved as an induction on the alive
    set, built from one process by adding processes one at a time: the base
    (``single_alive_process_is_elected``) and the step (``adding_a_process_keeps_a_coordinator``,
    which elects the larger of the old maximum and the newcomer). With
    ``rule_elects_the_maximum`` (the rule picks exactly the maximum) and
    ``coordinator_is_unique`` (two winners are one process, by distinct ids), every finite
    non-empty alive set has exactly one coordinator under the bully rule, and it is the maximum.
    ``recovered_higher_process_takes_over`` is the step read the other way: a process with a
    higher id coming back displaces the coordinator.

Mutants: ``bully/non-strict-rule`` (a process defers to every alive process whose id is *at
least* its own, itself included) and ``bully/ties-allowed`` (ids need not be distinct).
"""

from __future__ import annotations

from collections.abc import Callable

import z3

from .core import Goal, Labelled, Proof, ProofMutant, named_proof

PROTOCOL = "bully"
SOURCE = "Garcia-Molina 1982, the Bully Algorithm (procedure Election)."
ASSUMPTIONS = (
    "process ids are distinct integers; processes range over an uninterpreted sort (any number "
    "of processes); existence is by induction on the finite alive set."
)

Process = z3.DeclareSort("Process")

Higher = Callable[[z3.ArithRef, z3.ArithRef], z3.BoolRef]

# -- The rule -------------------------------------------------------------------------------------


def alive_set(name: str) -> z3.ArrayRef:
    return z3.Array(name, Process, z3.BoolSort())


def ids(name: str = "id") -> z3.ArrayRef:
    return z3.Array(name, Process, z3.IntSort())


def strictly_higher(a: z3.ArithRef, b: z3.ArithRef) -> z3.BoolRef:
    """The bully rule's comparison: a's id is higher than b's."""
    return a > b


def at_least(a: z3.ArithRef, b: z3.ArithRef) -> z3.BoolRef:
    """The ``non-strict-rule`` mutant's comparison: a's id is at least b's."""
    return a >= b


def wins(higher: Higher, alive: z3.ArrayRef, rank: z3.ArrayRef, c: z3.ExprRef) -> z3.BoolRef:
    """The bully rule: c is up and no process with a higher id is up."""
    j = z3.Const("j", Process)
    return z3.And(alive[c], z3.ForAll([j], z3.Implies(alive[j], z3.Not(higher(rank[j], rank[c])))))


def is_maximum(alive: z3.ArrayRef, rank: z3.ArrayRef, c: z3.ExprRef) -> z3.BoolRef:
    """c is up and no up process has a larger id (the rule-free definition of the maximum)."""
    j = z3.Const("j", Process)
    return z3.And(alive[c], z3.ForAll([j], z3.Implies(alive[j], rank[j] <= rank[c])))


def distinct_ids(rank: z3.ArrayRef) -> z3.BoolRef:
    a, b = z3.Consts("a b", Process)
    return z3.ForAll([a, b], z3.Implies(rank[a] == rank[b], a == b))


# -- Mutants --------------------------------------------------------------------------------------

NON_STRICT_RULE = "bully/non-strict-rule"
TIES_ALLOWED = "bully/ties-allowed"

MUTANTS = (
    ProofMutant(
        NON_STRICT_RULE,
        PROTOCOL,
        "the rule compares ids with >=: a process defers to any alive process whose id is at "
        "least its own, itself included, so no one is ever elected",
        (
            "bully.rule_elects_the_maximum",
            "bully.single_alive_process_is_elected",
            "bully.adding_a_process_keeps_a_coordinator",
            "bully.recovered_higher_process_takes_over",
        ),
    ),
    ProofMutant(
        TIES_ALLOWED,
        PROTOCOL,
        "ids need not be distinct: two alive processes sharing the top id are both elected",
        ("bully.coordinator_is_unique",),
    ),
)


def higher_of(mutant: str | None) -> Higher:
    return at_least if mutant == NON_STRICT_RULE else strictly_higher


def id_premises(mutant: str | None, rank: z3.ArrayRef) -> tuple[z3.BoolRef, ...]:
    return () if mutant == TIES_ALLOWED else (distinct_ids(rank),)


def _shown(
    alive: z3.ExprRef, rank: z3.ArrayRef, *named: tuple[str, z3.ExprRef]
) -> tuple[tuple[Labelled, ...], ...]:
    return ((("alive", alive),), (("id", rank),), tuple(named))


# -- The proofs -----------------------------------------------------------------------------------


def rule_elects_the_maximum(mutant: str | None) -> Goal:
    """The bully rule elects c exactly when c is the maximum of the alive set."""
    alive, rank = alive_set("alive"), ids()
    c = z3.Const("c", Process)
    return Goal(
        claim="wins(alive, c) iff c is the maximum of alive",
        conclusion=wins(higher_of(mutant), alive, rank, c) == is_maximum(alive, rank, c),
        hypotheses=id_premises(mutant, rank),
        shown=_shown(alive, rank, ("c", c)),
    )


def coordinator_is_unique(mutant: str | None) -> Goal:
    """Two processes the bully rule elects from one alive set are the same process."""
    alive, rank = alive_set("alive"), ids()
    c, d = z3.Consts("c d", Process)
    higher = higher_of(mutant)
    return Goal(
        claim="wins(alive, c) and wins(alive, d) imply c = d",
        conclusion=z3.Implies(
            z3.And(wins(higher, alive, rank, c), wins(higher, alive, rank, d)), c == d
        ),
        hypotheses=id_premises(mutant, rank),
        shown=_shown(alive, rank, ("c", c), ("d", d)),
    )


def single_alive_process_is_elected(mutant: str | None) -> Goal:
    """Induction base: when x alone is up, the bully rule elects x."""
    rank = ids()
    x = z3.Const("x", Process)
    alone = z3.Store(z3.K(Process, z3.BoolVal(False)), x, z3.BoolVal(True))
    return Goal(
        claim="wins({x}, x)",
        conclusion=wins(higher_of(mutant), alone, rank, x),
        hypotheses=id_premises(mutant, rank),
        shown=_shown(alone, rank, ("x", x)),
    )


def adding_a_process_keeps_a_coordinator(mutant: str | None) -> Goal:
    """Induction step: if m is the maximum of alive, the bully rule elects the larger of m and x
    from alive ∪ {x} -- so every finite non-empty alive set has a coordinator."""
    alive, rank = alive_set("alive"), ids()
    m, x = z3.Consts("m x", Process)
    grown = z3.Store(alive, x, z3.BoolVal(True))
    larger = z3.If(rank[x] > rank[m], x, m)
    return Goal(
        claim="m maximum of alive implies wins(alive ∪ {x}, larger of m and x)",
        conclusion=wins(higher_of(mutant), grown, rank, larger),
        hypotheses=(*id_premises(mutant, rank), is_maximum(alive, rank, m)),
        shown=(*_shown(alive, rank, ("m", m), ("x", x)), (("alive ∪ {x}", grown),)),
    )


def recovered_higher_process_takes_over(mutant: str | None) -> Goal:
    """A process h with a higher id than the coordinator c comes back up: the bully rule now
    elects h, and no longer c."""
    alive, rank = alive_set("alive"), ids()
    c, h = z3.Consts("c h", Process)
    back = z3.Store(alive, h, z3.BoolVal(True))
    higher = higher_of(mutant)
    return Goal(
        claim="wins(alive ∪ {h}, h) and not wins(alive ∪ {h}, c)",
        conclusion=z3.And(wins(higher, back, rank, h), z3.Not(wins(higher, back, rank, c))),
        hypotheses=(*id_premises(mutant, rank), is_maximum(alive, rank, c), rank[h] > rank[c]),
        shown=(*_shown(alive, rank, ("c", c), ("h", h)), (("alive ∪ {h}", back),)),
    )


PROOFS: tuple[Proof, ...] = tuple(
    named_proof(PROTOCOL, build, ASSUMPTIONS, SOURCE)
    for build in (
        rule_elects_the_maximum,
        coordinator_is_unique,
        single_alive_process_is_elected,
        adding_a_process_keeps_a_coordinator,
        recovered_higher_process_takes_over,
    )
)
