"""PBFT proofs: quorum intersection for every n >= 3f + 1, and the view-change lemma.

Source: Castro & Liskov, "Practical Byzantine Fault Tolerance", OSDI 1999, section 4.1 (quorums
of 2f + 1 among n = 3f + 1; here n - f for any n >= 3f + 1, see :mod:`..spec.pbft`), 4.2
(prepared, committed-local and the invariant "if prepared(m, v, n, i) and prepared(m', v, n, j)
then D(m) = D(m')"), 4.4 (the view-change protocol and its safety argument: a request
committed-local at a correct replica in view v is prepared at f + 1 correct replicas, one of
which is in every NEW-VIEW's V, whose O re-proposes it). TOCS 2002, section 2.3 and its
appendix proof of safety (BFT-PK) argue the same way.

What is proved for ALL n and f with n >= 3f + 1 (linear integer arithmetic)
    Sets of replicas are encoded by the sizes of their Venn regions (for two sets A, B of an
    n-replica system: |A only|, |B only|, |A and B|, |neither|, all >= 0 and summing to n; with
    the faulty set F, the eight regions of A, B, F). Every pair (or triple) of finite sets has
    such sizes and every such sizes come from sets, so a claim about the sizes is a claim about
    all sets, for every n.

    * ``quorums_intersect`` -- two quorums (>= n - f replicas each) share >= f + 1 replicas;
    * ``quorums_share_a_correct_replica`` -- with at most f faulty, they share a correct one;
    * ``view_change_quorum_meets_committers`` -- the counting half of the view-change lemma: a
      request committed-local at a correct replica has n - f COMMITs, of which >= n - 2f from
      correct replicas (each prepared it, before leaving the view); every set V of n - f
      VIEW-CHANGEs contains one of those correct replicas.

What is proved for ALL views (uninterpreted replicas, integer views; one request slot n)
    ``view_change_lemma`` -- if request d is committed in view v (a prepared certificate for d
    in v, prepared at f + 1 correct replicas), then for every view w >= v every prepared
    certificate for sequence number n is for d: base case and step of a strong induction on w
    in one goal (the induction hypothesis is a premise). Premises: (a) quorum intersection in
    its abstract form (a certificate contains a correct replica's acceptance; two certificates
    of one view share a correct replica: the theorems above); (b) a correct replica accepts
    one digest per (view, n) (section 4.2); (c) in a view w > v a correct backup accepts for n
    only the pre-prepare of the NEW-VIEW's O (it checks O against V, section 4.4), and O takes
    the certificate of the highest view in V, which is a valid certificate of a view in
    [v, w): V holds a correct replica that prepared d in v (``view_change_quorum_meets_
    committers``), whose P keeps for n a certificate of a view >= v. It assumes n > min-s (a
    request at n <= min-s is in the stable checkpoint; the model checks that case:
    ``view_change_preserves_commits``). What is NOT proved here for all sizes: the per-replica
    facts (b), (c) about the rules themselves; the model checks them on its bounded views
    (0..1, and 0..2 in the Hypothesis machine) and sequence numbers.
"""

from __future__ import annotations

import itertools

import z3

from .core import Goal, Proof, ProofMutant, named_proof

PROTOCOL = "pbft"
SOURCE = "Castro & Liskov, OSDI 1999, sections 4.1, 4.2, 4.4; TOCS 2002, section 2.3."
ASSUMPTIONS = (
    "any n >= 3f + 1 >= 1 replicas, quorums of n - f, at most f faulty (counting proofs); for the "
    "view-change lemma, any replicas and views, with the per-replica rules as premises."
)

QUORUM_2F = "pbft/quorum-2f"
IGNORE_CERTIFICATES = "pbft/newview-ignores-certificates"

MUTANTS = (
    ProofMutant(
        QUORUM_2F,
        PROTOCOL,
        "certificates of 2f replicas: with n = 3f + 1 two quorums share only f - 1",
        (
            "pbft.quorums_intersect",
            "pbft.quorums_share_a_correct_replica",
            "pbft.view_change_quorum_meets_committers",
        ),
    ),
    ProofMutant(
        IGNORE_CERTIFICATES,
        PROTOCOL,
        "the new primary's O ignores the prepared certificates of V (no premise (c))",
        ("pbft.view_change_lemma",),
    ),
)


def _quorum(mutant: str | None, n: z3.ArithRef, f: z3.ArithRef) -> z3.ArithRef:
    """The size of a quorum certificate: n - f (the mutant: 2f)."""
    return 2 * f if mutant == QUORUM_2F else n - f


def _system(n: z3.ArithRef, f: z3.ArithRef, mutant: str | None) -> list[z3.BoolRef]:
    """n >= 3f + 1, f >= 0 (the mutant keeps n = 3f + 1 with f >= 1, PBFT's setting, where 2f
    is one short of a quorum)."""
    out = [f >= 0, n >= 3 * f + 1]
    if mutant == QUORUM_2F:
        out += [n == 3 * f + 1, f >= 1]
    return out


def quorums_intersect(mutant: str | None) -> Goal:
    """Two quorums of n - f replicas among n >= 3f + 1 share at least f + 1 replicas, for every
    n and f (Venn regions of the two sets)."""
    n, f = z3.Ints("n f")
    a_only, b_only, both, neither = z3.Ints("A_only B_only A_and_B neither")
    q = _quorum(mutant, n, f)
    return Goal(
        claim="|A and B| >= f + 1",
        conclusion=both >= f + 1,
        hypotheses=(
            *_system(n, f, mutant),
            a_only >= 0,
            b_only >= 0,
            both >= 0,
            neither >= 0,
            a_only + b_only + both + neither == n,
            a_only + both >= q,
            b_only + both >= q,
        ),
        shown=((("n", n), ("f", f)), (("A_only", a_only), ("B_only", b_only), ("A_and_B", both))),
    )


def _regions(prefix: str) -> dict[tuple[bool, bool, bool], z3.ArithRef]:
    """The eight Venn regions of three sets, keyed by membership."""
    out = {}
    for key in itertools.product((True, False), repeat=3):
        label = "".join(c if inside else "_" for c, inside in zip(prefix, key, strict=True))
        out[key] = z3.Int(f"r_{label}")
    return out


def _size(regions: dict[tuple[bool, bool, bool], z3.ArithRef], k: int) -> z3.ArithRef:
    return z3.Sum([v for key, v in regions.items() if key[k]])


def quorums_share_a_correct_replica(mutant: str | None) -> Goal:
    """If at most f of n >= 3f + 1 replicas are faulty, two quorums of n - f share a correct
    replica, for every n and f (Venn regions of A, B and the faulty set F)."""
    n, f = z3.Ints("n f")
    r = _regions("ABF")
    q = _quorum(mutant, n, f)
    shared_correct = r[(True, True, False)]
    return Goal(
        claim="|(A and B) minus F| >= 1",
        conclusion=shared_correct >= 1,
        hypotheses=(
            *_system(n, f, mutant),
            *(v >= 0 for v in r.values()),
            z3.Sum(list(r.values())) == n,
            _size(r, 0) >= q,
            _size(r, 1) >= q,
            _size(r, 2) <= f,
        ),
        shown=(
            (("n", n), ("f", f)),
            (("A_and_B_correct", shared_correct), ("A_and_B_faulty", r[(True, True, True)])),
        ),
    )


def view_change_quorum_meets_committers(mutant: str | None) -> Goal:
    """A request committed-local at a correct replica has n - f COMMITs from distinct replicas;
    at most f are faulty, so at least n - 2f correct replicas prepared it; every set V of n - f
    VIEW-CHANGEs contains one of them, for every n >= 3f + 1 (regions of C, V, F: C the
    committers, V the view-change senders, F the faulty)."""
    n, f = z3.Ints("n f")
    r = _regions("CVF")
    q = _quorum(mutant, n, f)
    correct_committers = z3.Sum([v for key, v in r.items() if key[0] and not key[2]])
    met = r[(True, True, False)]
    return Goal(
        claim="some correct replica that prepared the request is in V",
        conclusion=met >= 1,
        hypotheses=(
            *_system(n, f, mutant),
            *(v >= 0 for v in r.values()),
            z3.Sum(list(r.values())) == n,
            _size(r, 0) >= q,
            _size(r, 1) >= q,
            _size(r, 2) <= f,
        ),
        shown=(
            (("n", n), ("f", f)),
            (("correct_committers", correct_committers), ("correct_committers_in_V", met)),
        ),
    )


Replica = z3.DeclareSort("Replica")


def view_change_lemma(mutant: str | None) -> Goal:
    """If request d is committed in view v, then for every view w >= v every prepared
    certificate for the sequence number is for d: base case and step of a strong induction on
    w (the induction hypothesis is a premise), for every number of replicas and every view."""
    v, w, u = z3.Ints("v w u")
    d, x, y = z3.Ints("d x y")
    c = z3.Const("c", Replica)
    correct = z3.Function("correct", Replica, z3.BoolSort())
    # accepts(c, w, x): correct replica c accepted a pre-prepare for request x in view w
    accepts = z3.Function("accepts", Replica, z3.IntSort(), z3.IntSort(), z3.BoolSort())
    # cert(w, x): a prepared certificate for x in view w exists
    cert = z3.Function("cert", z3.IntSort(), z3.IntSort(), z3.BoolSort())
    # (a) a certificate holds a correct replica's acceptance, acc(w, x); two certificates of a
    # view share a correct replica, both(w, x, y) (the existentials Skolemized)
    acc = z3.Function("acc", z3.IntSort(), z3.IntSort(), Replica)
    both = z3.Function("both", z3.IntSort(), z3.IntSort(), z3.IntSort(), Replica)
    has_correct = z3.ForAll(
        [u, x], z3.Implies(cert(u, x), z3.And(correct(acc(u, x)), accepts(acc(u, x), u, x)))
    )
    meet = z3.ForAll(
        [u, x, y],
        z3.Implies(
            z3.And(cert(u, x), cert(u, y)),
            z3.And(
                correct(both(u, x, y)),
                accepts(both(u, x, y), u, x),
                accepts(both(u, x, y), u, y),
            ),
        ),
    )
    # (b) one digest per (view, n) at a correct replica
    once = z3.ForAll(
        [c, u, x, y],
        z3.Implies(z3.And(correct(c), accepts(c, u, x), accepts(c, u, y)), x == y),
    )
    # (c) in a view u > v a correct backup accepts only O's entry o(u), which is the request of
    # the highest-view certificate in V, of view top(u) in [v, u)
    o = z3.Function("o", z3.IntSort(), z3.IntSort())
    top = z3.Function("top", z3.IntSort(), z3.IntSort())
    from_o = z3.ForAll(
        [c, u, x],
        z3.Implies(z3.And(u > v, correct(c), accepts(c, u, x)), x == o(u)),
    )
    selection = z3.ForAll(
        [u], z3.Implies(u > v, z3.And(v <= top(u), top(u) < u, cert(top(u), o(u))))
    )
    committed = cert(v, d)
    induction = z3.ForAll([u, x], z3.Implies(z3.And(v <= u, u < w, cert(u, x)), x == d))
    hypotheses = [v >= 0, w >= v, committed, has_correct, meet, once, from_o, induction]
    if mutant != IGNORE_CERTIFICATES:
        hypotheses.append(selection)
    return Goal(
        claim="for every x: cert(w, x) implies x = d",
        conclusion=z3.ForAll([x], z3.Implies(cert(w, x), x == d)),
        hypotheses=tuple(hypotheses),
        shown=((("v", v), ("w", w), ("d", d)),),
    )


PROOFS: tuple[Proof, ...] = tuple(
    named_proof(PROTOCOL, build, ASSUMPTIONS, SOURCE)
    for build in (
        quorums_intersect,
        quorums_share_a_correct_replica,
        view_change_quorum_meets_committers,
        view_change_lemma,
    )
)
