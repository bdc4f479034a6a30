"""Tendermint proofs: power-weighted quorum intersection for every n, and the lock lemma.

Source: Buchman, Kwon, Milosevic, "The latest gossip on BFT consensus", 2018: section 2 (the
thresholds 2f+1 and f+1 are "more than 2/3" and "more than 1/3" of the voting power), Algorithm 1
lines 22-43 (the lock rules), and the safety argument of section 4 (Lemma "if f+1 correct
processes lock value v in round r, then ... no correct process prevotes a value v' != v in a
later round"). The executable spec is :mod:`mnemosyne_consensus.spec.tendermint`.

What is proved for ALL n and ALL power distributions
    validators are the integers 0 .. n-1 for a symbolic n >= 1, each with a power ``pw[i] >= 0``
    (an arbitrary array); the power of a set X below k is ``W_X(k)``, pinned by its recursive
    definition. ``weighted_sums`` proves, by induction on k (base and step in one goal), the
    facts about sums that need induction; the two intersection theorems assume it at k = n:

    * ``quorums_share_more_than_a_third`` -- two sets of more than 2/3 of the power share more
      than 1/3 of it;
    * ``quorums_share_a_correct_validator`` -- hence, when the faulty power is at most 1/3, they
      share a correct validator.

What is proved for ALL rounds, over an uninterpreted sort of validators (any number)
    ``lock_lemma`` -- if a quorum precommitted v in round r, no value other than v has a polka in
    any round r' >= r (hence no correct process precommits, and no one decides, another value
    from round r on). It is one goal that covers the base case and the step of a strong
    induction on r' (the induction hypothesis is a hypothesis of the goal), so it holds for every
    round. Its premises are (a) the intersection theorems above, in their abstract form, and
    (b) three facts of ONE correct process: it prevotes once per round (lines 24-32 happen in
    step propose only), it precommits v only after a polka for v (line 36), and it prevotes
    x != v after precommitting v in round r only with a polka for x in a round in [r, r') ("no
    amnesia": lines 22-33 with lockedRound never decreasing, lines 38-39). Those per-process
    facts are NOT proved here for all rounds: they are the spec's step properties
    ``prevote_respects_lock``, ``precommit_only_after_polka``, ``locked_round_monotone`` and the
    invariant ``correct_never_accused``, checked by the model on its bounded rounds (0..2).
"""

from __future__ import annotations

import z3

from .core import Goal, Labelled, Proof, ProofMutant, named_proof

PROTOCOL = "tendermint"
SOURCE = (
    "Buchman, Kwon, Milosevic 2018, section 2 (thresholds), Algorithm 1 lines 22-43, section 4."
)
ASSUMPTIONS = (
    "validators 0..n-1 for any n >= 1 with any powers >= 0 (intersection); for the lock lemma, "
    "any set of validators and rounds, with the per-process lock rules of Algorithm 1 as premises."
)

INCLUSIVE = "tendermint/two-thirds-inclusive"
NO_LOCK = "tendermint/no-lock"

MUTANTS = (
    ProofMutant(
        INCLUSIVE,
        PROTOCOL,
        "a quorum is at least 2/3 of the power (3 W >= 2 T): two quorums may share exactly 1/3, "
        "all of it faulty",
        (
            "tendermint.quorums_share_more_than_a_third",
            "tendermint.quorums_share_a_correct_validator",
        ),
    ),
    ProofMutant(
        NO_LOCK,
        PROTOCOL,
        "correct processes prevote any value, ignoring their lock (no 'no amnesia' premise)",
        ("tendermint.lock_lemma",),
    ),
)

# -- Weighted sums ---------------------------------------------------------------------------------


def validator_set(name: str) -> z3.ArrayRef:
    return z3.Array(name, z3.IntSort(), z3.BoolSort())


def summer(name: str) -> z3.FuncDeclRef:
    return z3.Function(name, z3.IntSort(), z3.IntSort())


class Sums:
    """W_A, W_B, W_(A or B), W_(A and B), W_all, W_F, W_(A and B, not F): power below k."""

    def __init__(self) -> None:
        self.pw = z3.Array("pw", z3.IntSort(), z3.IntSort())
        self.a, self.b, self.f = validator_set("A"), validator_set("B"), validator_set("F")
        self.wa, self.wb = summer("W_A"), summer("W_B")
        self.wu, self.wi = summer("W_AorB"), summer("W_AandB")
        self.wt, self.wf, self.wg = summer("W_all"), summer("W_F"), summer("W_AandB_correct")

    def members(self, j: z3.ArithRef) -> list[tuple[z3.FuncDeclRef, z3.BoolRef]]:
        a, b, f = self.a[j], self.b[j], self.f[j]
        both = z3.And(a, b)
        return [
            (self.wa, a),
            (self.wb, b),
            (self.wu, z3.Or(a, b)),
            (self.wi, both),
            (self.wt, z3.BoolVal(True)),
            (self.wf, f),
            (self.wg, z3.And(both, z3.Not(f))),
        ]

    def step(self, k: z3.ArithRef) -> list[z3.BoolRef]:
        """The recursive definitions at k (and at 0): W_X(k+1) = W_X(k) + (pw[k] if k in X)."""
        out = []
        for w, member in self.members(k):
            out += [w(0) == 0, w(k + 1) == w(k) + z3.If(member, self.pw[k], 0)]
        return out

    def lemma(self, k: z3.ArithRef) -> z3.BoolRef:
        """The facts at k: inclusion-exclusion, the union below the total, the common part
        split by F, and a common correct validator below k when its power is positive."""
        i = z3.Int("i")
        witness = z3.Exists([i], z3.And(0 <= i, i < k, self.a[i], self.b[i], z3.Not(self.f[i])))
        return z3.And(
            self.wa(k) + self.wb(k) == self.wu(k) + self.wi(k),
            self.wu(k) <= self.wt(k),
            self.wi(k) <= self.wf(k) + self.wg(k),
            z3.Implies(self.wg(k) > 0, witness),
        )

    def nonnegative(self) -> z3.BoolRef:
        j = z3.Int("j")
        return z3.ForAll([j], self.pw[j] >= 0)


def quorum(mutant: str | None, w: z3.ArithRef, total: z3.ArithRef) -> z3.BoolRef:
    """2f+1: more than 2/3 of the power (the mutant: at least 2/3)."""
    return 3 * w >= 2 * total if mutant == INCLUSIVE else 3 * w > 2 * total


def _shown(s: Sums, n: z3.ArithRef) -> tuple[tuple[Labelled, ...], ...]:
    return (
        (("n", n), ("W_all", s.wt(n)), ("W_A", s.wa(n)), ("W_B", s.wb(n))),
        (("W_AandB", s.wi(n)), ("W_F", s.wf(n)), ("W_AandB_correct", s.wg(n))),
    )


def weighted_sums(mutant: str | None) -> Goal:
    """The weighted-sum facts hold at 0, and at k + 1 when they hold at k, for every k >= 0,
    every power array with powers >= 0 and every sets A, B, F (an induction on k)."""
    s = Sums()
    k = z3.Int("k")
    j = z3.Int("j")
    return Goal(
        claim="lemma(0) and (lemma(k) implies lemma(k + 1))",
        conclusion=z3.And(s.lemma(z3.IntVal(0)), s.lemma(k + 1)),
        hypotheses=(
            k >= 0,
            z3.ForAll([j], s.pw[j] >= 0),
            *s.step(k),
            s.lemma(k),
        ),
        shown=((("k", k),),),
    )


def quorums_share_more_than_a_third(mutant: str | None) -> Goal:
    """Two sets A, B of validators, each with more than 2/3 of the total power, have more than
    1/3 of the power in common; for every n and powers >= 0, assuming ``weighted_sums`` at n."""
    s = Sums()
    n = z3.Int("n")
    total = s.wt(n)
    return Goal(
        claim="3 W_A > 2 T and 3 W_B > 2 T imply 3 W_(A and B) > T",
        conclusion=3 * s.wi(n) > total,
        hypotheses=(
            n >= 1,
            total > 0,
            s.lemma(n),
            quorum(mutant, s.wa(n), total),
            quorum(mutant, s.wb(n), total),
        ),
        shown=_shown(s, n),
    )


def quorums_share_a_correct_validator(mutant: str | None) -> Goal:
    """If the faulty validators F hold at most 1/3 of the power, two sets of more than 2/3 of
    the power share a correct validator; for every n and powers >= 0, assuming
    ``weighted_sums`` at n."""
    s = Sums()
    n, i = z3.Int("n"), z3.Int("i")
    total = s.wt(n)
    return Goal(
        claim="3 W_A > 2 T, 3 W_B > 2 T and 3 W_F <= T imply some i in A and B, not in F",
        conclusion=z3.Exists([i], z3.And(0 <= i, i < n, s.a[i], s.b[i], z3.Not(s.f[i]))),
        hypotheses=(
            n >= 1,
            total > 0,
            s.nonnegative(),
            s.lemma(n),
            quorum(mutant, s.wa(n), total),
            quorum(mutant, s.wb(n), total),
            3 * s.wf(n) <= total,
        ),
        shown=_shown(s, n),
    )


# -- The lock lemma --------------------------------------------------------------------------------

Validator = z3.DeclareSort("Validator")


def lock_lemma(mutant: str | None) -> Goal:
    """If a quorum precommitted v in round r, then for every round r2 >= r no value x != v has a
    polka (2f+1 prevotes) in r2: base case and step of a strong induction on r2, for every
    number of validators and every round."""
    c = z3.Const("c", Validator)
    r, r2, s = z3.Ints("r r2 s")
    v, x, y = z3.Ints("v x y")
    correct = z3.Function("correct", Validator, z3.BoolSort())
    prevoted = z3.Function("prevoted", Validator, z3.IntSort(), z3.IntSort(), z3.BoolSort())
    precommitted = z3.Function("precommitted", Validator, z3.IntSort(), z3.IntSort(), z3.BoolSort())
    polka = z3.Function("polka", z3.IntSort(), z3.IntSort(), z3.BoolSort())
    # (a) quorum intersection, abstractly: a polka and the precommit quorum of (r, v) share a
    # correct validator meet(s, x); two polkas of one round share a correct validator
    # both(s, x, y) (the existentials Skolemized, which preserves (un)satisfiability)
    meet = z3.Function("meet", z3.IntSort(), z3.IntSort(), Validator)
    both = z3.Function("both", z3.IntSort(), z3.IntSort(), z3.IntSort(), Validator)
    meets_commit = z3.ForAll(
        [s, x],
        z3.Implies(
            polka(s, x),
            z3.And(correct(meet(s, x)), prevoted(meet(s, x), s, x), precommitted(meet(s, x), r, v)),
        ),
    )
    polkas_meet = z3.ForAll(
        [s, x, y],
        z3.Implies(
            z3.And(polka(s, x), polka(s, y)),
            z3.And(
                correct(both(s, x, y)), prevoted(both(s, x, y), s, x), prevoted(both(s, x, y), s, y)
            ),
        ),
    )
    # (b) one correct process: one prevote per round; no amnesia after precommitting v in r
    once = z3.ForAll(
        [c, s, x, y],
        z3.Implies(z3.And(correct(c), prevoted(c, s, x), prevoted(c, s, y)), x == y),
    )
    # (the polka round Skolemized as pol(c, s, x))
    pol = z3.Function("pol", Validator, z3.IntSort(), z3.IntSort(), z3.IntSort())
    no_amnesia = z3.ForAll(
        [c, s, x],
        z3.Implies(
            z3.And(correct(c), precommitted(c, r, v), prevoted(c, s, x), s > r, x != v),
            z3.And(r <= pol(c, s, x), pol(c, s, x) < s, polka(pol(c, s, x), x)),
        ),
    )
    # line 36: a correct process precommits v only after a polka for v in that round
    after_polka = z3.ForAll(
        [c, s, x],
        z3.Implies(z3.And(correct(c), precommitted(c, s, x)), polka(s, x)),
    )
    # the induction hypothesis: no polka for another value in the rounds r .. r2-1
    induction = z3.ForAll([s, x], z3.Implies(z3.And(r <= s, s < r2, x != v), z3.Not(polka(s, x))))
    hypotheses = [r >= 0, r2 >= r, meets_commit, polkas_meet, once, after_polka, induction]
    if mutant != NO_LOCK:
        hypotheses.append(no_amnesia)
    return Goal(
        claim="for every x != v: not polka(r2, x)",
        conclusion=z3.ForAll([x], z3.Implies(x != v, z3.Not(polka(r2, x)))),
        hypotheses=tuple(hypotheses),
        shown=((("r", r), ("r2", r2), ("v", v)),),
    )


PROOFS: tuple[Proof, ...] = tuple(
    named_proof(PROTOCOL, build, ASSUMPTIONS, SOURCE)
    for build in (
        weighted_sums,
        quorums_share_more_than_a_third,
        quorums_share_a_correct_validator,
        lock_lemma,
    )
)
