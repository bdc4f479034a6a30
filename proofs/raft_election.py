"""Raft leader election proofs, for every number of servers.

Source: D. Ongaro and J. Ousterhout, "In search of an understandable consensus algorithm",
USENIX ATC 2014: §5.2 ("each server will vote for at most one candidate in a given term ... The
majority rule ensures that at most one candidate can win the election for a particular term")
and §5.4.1 (the up-to-date comparison of logs). raft.tla states the same fact about its
``Quorum``: "the only important property is that every quorum overlaps with every other".
The executable spec is :mod:`mnemosyne_consensus.spec.raft_election`.

Encoding
    servers    the integers ``0 .. n-1``, for a symbolic ``n >= 1``: no proof fixes n.
    a set      ``Array(Int -> Bool)``, its members among the servers.
    ``|X|``    a counting function ``c_X: Int -> Int`` pinned by its definition,
               ``c_X(0) = 0`` and ``c_X(k+1) = c_X(k) + (1 if k in X else 0)`` for ``k >= 0``:
               ``c_X(k)`` is the number of members of X below k, and ``|X| = c_X(n)``.
    majority   ``2 |X| > n`` (:func:`spec.is_quorum`).
    log        a last-log position ``(term, index)``: two naturals, both 0 for an empty log.

z3 does not do induction by itself, so the one fact about counting that needs it is proved as an
induction of its own (``disjoint_counts_fit``: base and step in one goal, for every k and every
pair of sets) and then assumed, instantiated at ``k = n``, by the proofs that use it.
"""

from __future__ import annotations

from collections.abc import Callable

import z3

from .core import Goal, Labelled, Proof, ProofMutant, named_proof

PROTOCOL = "raft-election"
SOURCE = "Ongaro and Ousterhout, USENIX ATC 2014, §5.2 and §5.4.1; raft.tla, Quorum."
ASSUMPTIONS = (
    "servers are 0..n-1 for any n >= 1; set sizes are given by their counting functions; "
    "log positions are pairs of naturals, (0, 0) for an empty log and no other 0."
)

# -- Counting -------------------------------------------------------------------------------------


def server_set(name: str) -> z3.ArrayRef:
    return z3.Array(name, z3.IntSort(), z3.BoolSort())


def counter(name: str) -> z3.FuncDeclRef:
    return z3.Function(name, z3.IntSort(), z3.IntSort())


def counts(count: z3.FuncDeclRef, members: z3.ArrayRef) -> tuple[z3.BoolRef, ...]:
    """``count`` is the counting function of ``members``: its definition, for every k >= 0."""
    k = z3.Int("k")
    step = count(k + 1) == count(k) + z3.If(members[k], 1, 0)
    return (count(0) == 0, z3.ForAll([k], z3.Implies(k >= 0, step)))


def counts_at(
    count: z3.FuncDeclRef, members: z3.ArrayRef, k: z3.ArithRef
) -> tuple[z3.BoolRef, ...]:
    """The definition of ``count`` where an induction step at ``k`` needs it (no quantifier)."""
    return (count(0) == 0, count(k + 1) == count(k) + z3.If(members[k], 1, 0))


def disjoint_below(a: z3.ArrayRef, b: z3.ArrayRef, k: z3.ArithRef) -> z3.BoolRef:
    """No server below k is in both sets."""
    s = z3.Int("s")
    return z3.ForAll([s], z3.Implies(z3.And(0 <= s, s < k), z3.Not(z3.And(a[s], b[s]))))


def fit(
    a: z3.ArrayRef,
    b: z3.ArrayRef,
    count_a: z3.FuncDeclRef,
    count_b: z3.FuncDeclRef,
    k: z3.ArithRef,
) -> z3.BoolRef:
    """The lemma at k: if A and B are disjoint below k, their members below k number <= k."""
    return z3.Implies(disjoint_below(a, b, k), count_a(k) + count_b(k) <= k)


# -- Quorums --------------------------------------------------------------------------------------

FLOOR_HALF = "raft-election/floor-half"
POINTWISE_LOG_ORDER = "raft-election/pointwise-log-order"

Quorum = Callable[[z3.ArithRef, z3.ArithRef], z3.BoolRef]


def majority(size: z3.ArithRef, n: z3.ArithRef) -> z3.BoolRef:
    """More than half the servers: ``2 |X| > n``."""
    return 2 * size > n


def half(size: z3.ArithRef, n: z3.ArithRef) -> z3.BoolRef:
    """The ``floor-half`` mutant: at least half, ``|X| >= n/2`` (``2 |X| >= n``)."""
    return 2 * size >= n


def quorum(mutant: str | None) -> Quorum:
    return half if mutant == FLOOR_HALF else majority


MUTANTS = (
    ProofMutant(
        FLOOR_HALF,
        PROTOCOL,
        "a quorum is at least half the servers (|A| >= n/2): two disjoint halves when n is even",
        ("raft-election.majorities_intersect", "raft-election.one_leader_per_term"),
    ),
    ProofMutant(
        POINTWISE_LOG_ORDER,
        PROTOCOL,
        "a log is at least as up-to-date when both its last term and its length are >= "
        "(forgets that a later last term wins outright)",
        ("raft-election.up_to_date_total",),
    ),
)


# a counterexample shows servers 0 .. 2 (the smallest ones have n = 2: entries at n and above
# belong to no server and do not matter)
SHOWN_SERVERS = 3


def _members(label: str, members: z3.ArrayRef) -> tuple[Labelled, ...]:
    return tuple((f"{label}[{j}]", members[j]) for j in range(SHOWN_SERVERS))


def _sizes(n: z3.ArithRef, *named: tuple[str, z3.FuncDeclRef]) -> tuple[Labelled, ...]:
    return (("n", n), *((f"|{label}|", count(n)) for label, count in named))


def disjoint_counts_fit(mutant: str | None) -> Goal:
    """Two sets with no common server below k have at most k members below k, together: the
    base case (k = 0) and the induction step (k to k + 1), for every k >= 0 and every A, B."""
    a, b = server_set("A"), server_set("B")
    count_a, count_b = counter("count_A"), counter("count_B")
    k = z3.Int("k")
    return Goal(
        claim="fit(0) and (fit(k) implies fit(k + 1)), fit(k) = A, B disjoint below k implies "
        "count_A(k) + count_B(k) <= k",
        conclusion=z3.And(
            fit(a, b, count_a, count_b, z3.IntVal(0)),
            fit(a, b, count_a, count_b, k + 1),
        ),
        hypotheses=(
            k >= 0,
            *counts_at(count_a, a, k),
            *counts_at(count_b, b, k),
            fit(a, b, count_a, count_b, k),
        ),
        shown=((("k", k), ("A", a), ("B", b)),),
    )


def majorities_intersect(mutant: str | None) -> Goal:
    """Any two majorities of the n servers have a server in common (raft.tla: "every quorum
    overlaps with every other"), assuming the induction lemma ``disjoint_counts_fit`` at n."""
    a, b = server_set("A"), server_set("B")
    count_a, count_b = counter("count_A"), counter("count_B")
    n, s = z3.Int("n"), z3.Int("s")
    is_quorum = quorum(mutant)
    return Goal(
        claim="2|A| > n and 2|B| > n imply a server in both",
        conclusion=z3.Exists([s], z3.And(0 <= s, s < n, a[s], b[s])),
        hypotheses=(
            n >= 1,
            *counts(count_a, a),
            *counts(count_b, b),
            fit(a, b, count_a, count_b, n),
            is_quorum(count_a(n), n),
            is_quorum(count_b(n), n),
        ),
        shown=(
            _sizes(n, ("A", count_a), ("B", count_b)),
            _members("A", a),
            _members("B", b),
        ),
    )


def one_leader_per_term(mutant: str | None) -> Goal:
    """Election safety from the vote rule (§5.2): if each server votes for at most one candidate
    in a term (``vote[s]``) and candidates c1 and c2 each have the votes of a majority, then
    c1 = c2; assuming the induction lemma ``disjoint_counts_fit`` at n."""
    vote = z3.Array("vote", z3.IntSort(), z3.IntSort())
    c1, c2 = z3.Ints("c1 c2")
    s = z3.Int("s")
    voters_1 = z3.Lambda([s], vote[s] == c1)
    voters_2 = z3.Lambda([s], vote[s] == c2)
    count_1, count_2 = counter("count_voters_c1"), counter("count_voters_c2")
    n = z3.Int("n")
    is_quorum = quorum(mutant)
    return Goal(
        claim="c1 and c2 both voted in by a majority of one term imply c1 = c2",
        conclusion=c1 == c2,
        hypotheses=(
            n >= 1,
            0 <= c1,
            c1 < n,
            0 <= c2,
            c2 < n,
            *counts(count_1, voters_1),
            *counts(count_2, voters_2),
            fit(voters_1, voters_2, count_1, count_2, n),
            is_quorum(count_1(n), n),
            is_quorum(count_2(n), n),
        ),
        shown=(
            (("n", n), ("c1", c1), ("c2", c2)),
            (("|votes for c1|", count_1(n)), ("|votes for c2|", count_2(n))),
            tuple((f"vote[{j}]", vote[j]) for j in range(SHOWN_SERVERS)),
        ),
    )


# -- The up-to-date comparison (§5.4.1) ----------------------------------------------------------

Log = tuple[z3.ArithRef, z3.ArithRef]
Compare = Callable[[Log, Log], z3.BoolRef]


def log_position(name: str) -> Log:
    return z3.Int(f"{name}.term"), z3.Int(f"{name}.index")


def natural_log(log: Log) -> z3.BoolRef:
    """A last-log position: two naturals, both 0 (an empty log) or both >= 1."""
    return z3.And(log[0] >= 0, log[1] >= 0, (log[0] == 0) == (log[1] == 0))


def up_to_date(candidate: Log, voter: Log) -> z3.BoolRef:
    """§5.4.1: the later last term wins; with equal last terms, the longer log."""
    return z3.Or(
        candidate[0] > voter[0], z3.And(candidate[0] == voter[0], candidate[1] >= voter[1])
    )


def pointwise_up_to_date(candidate: Log, voter: Log) -> z3.BoolRef:
    """The ``pointwise-log-order`` mutant: both the last term and the length at least as big."""
    return z3.And(candidate[0] >= voter[0], candidate[1] >= voter[1])


def compare(mutant: str | None) -> Compare:
    return pointwise_up_to_date if mutant == POINTWISE_LOG_ORDER else up_to_date


def _logs(*names: str) -> list[Log]:
    return [log_position(name) for name in names]


def _show_logs(**logs: Log) -> tuple[tuple[Labelled, ...], ...]:
    return tuple(((f"{k}.term", v[0]), (f"{k}.index", v[1])) for k, v in logs.items())


def up_to_date_reflexive(mutant: str | None) -> Goal:
    """Every log is at least as up-to-date as itself."""
    (a,) = _logs("a")
    return Goal(
        claim="a >= a",
        conclusion=compare(mutant)(a, a),
        hypotheses=(natural_log(a),),
        shown=_show_logs(a=a),
    )


def up_to_date_transitive(mutant: str | None) -> Goal:
    """If a is at least as up-to-date as b, and b as c, then a is as c."""
    a, b, c = _logs("a", "b", "c")
    at_least = compare(mutant)
    return Goal(
        claim="a >= b and b >= c imply a >= c",
        conclusion=at_least(a, c),
        hypotheses=(*(natural_log(x) for x in (a, b, c)), at_least(a, b), at_least(b, c)),
        shown=_show_logs(a=a, b=b, c=c),
    )


def up_to_date_total(mutant: str | None) -> Goal:
    """Any two logs are comparable: one is at least as up-to-date as the other. With
    reflexivity and transitivity, the comparison is a total preorder: the logs of any set of
    servers have a most up-to-date one, which every voter of the set would accept."""
    a, b = _logs("a", "b")
    at_least = compare(mutant)
    return Goal(
        claim="a >= b or b >= a",
        conclusion=z3.Or(at_least(a, b), at_least(b, a)),
        hypotheses=(natural_log(a), natural_log(b)),
        shown=_show_logs(a=a, b=b),
    )


PROOFS: tuple[Proof, ...] = tuple(
    named_proof(PROTOCOL, build, ASSUMPTIONS, SOURCE)
    for build in (
        disjoint_counts_fit,
        majorities_intersect,
        one_leader_per_term,
        up_to_date_reflexive,
        up_to_date_transitive,
        up_to_date_total,
    )
)
