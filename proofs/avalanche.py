"""Avalanche proofs, for every number of transactions, nullifiers and sample sizes.

Source: Team Rocket, "Scalable and Probabilistic Leaderless BFT Consensus through
Metastability" (arXiv:1906.08936, 2019/2020), §4, Figures 4 and 5; the executable spec is
:mod:`mnemosyne_consensus.spec.avalanche`. Avalanche's agreement across nodes is probabilistic
(the simulator measures it); what holds for all sizes is proved here:

* ``strong_preference_unique`` -- at most one member of a conflict set is preferred, hence at
  most one is strongly preferred, so an honest node answers yes to at most one of two
  conflicting transactions (Fig. 5, ``isPreferred``);
* ``one_sample_cannot_confirm_both`` -- with ``2 alpha > k + b``, one sample of k responders of
  which at most b are Byzantine cannot give alpha yes answers to both of two conflicting
  transactions (the quorum condition ``alpha > k/2`` of the paper and of avalanchego's
  ``AlphaPreference``, with the Byzantine answers counted twice);
* ``accept_preserves_exclusivity`` -- the inductive step of ``no_conflicting_acceptance``: if no
  two accepted transactions spend one nullifier, accepting T when no member of ``P_T`` is
  accepted keeps it so (the spec's ``Accept`` guard).

Encoding
    ``Tx``, ``Nullifier``  uninterpreted sorts: any number of transactions and nullifiers.
    ``spends``   ``Array(Tx -> Nullifier)``: T's conflict set is the transactions spending the
                 same nullifier; ``pref``: ``Array(Nullifier -> Tx)``, each set's preference,
                 spending its own nullifier; ``d``: ``Array(Tx -> Int)``, confidences >= 0.
    counts       of yes answers in one sample, as naturals: ``yes_i = honest_i + byzantine_i``.
"""

from __future__ import annotations

from collections.abc import Callable

import z3

from .core import Goal, Proof, ProofMutant, named_proof

PROTOCOL = "avalanche"
SOURCE = "Team Rocket, arXiv:1906.08936, §4, Figures 4 and 5."
ASSUMPTIONS = (
    "transactions and nullifiers range over uninterpreted sorts (any number); each conflict "
    "set's preference spends its nullifier; confidences are naturals; a sample has k >= 1 "
    "responders, of which 0 <= b <= k are Byzantine and answer anything."
)

Tx = z3.DeclareSort("Tx")
Nullifier = z3.DeclareSort("Nullifier")

PREFERRED_ON_TIE = "avalanche/preferred-on-tie"
MAJORITY_WITHOUT_BYZANTINE = "avalanche/majority-without-byzantine"
ACCEPT_DESPITE_CONFLICT = "avalanche/accept-despite-conflict"

MUTANTS = (
    ProofMutant(
        PREFERRED_ON_TIE,
        PROTOCOL,
        "isPreferred(T) holds when d(T) >= d(P_T.pref): a tie makes two members preferred",
        ("avalanche.strong_preference_unique",),
    ),
    ProofMutant(
        MAJORITY_WITHOUT_BYZANTINE,
        PROTOCOL,
        "the quorum condition 2 alpha > k ignores the Byzantine responders of the sample",
        ("avalanche.one_sample_cannot_confirm_both",),
    ),
    ProofMutant(
        ACCEPT_DESPITE_CONFLICT,
        PROTOCOL,
        "Accept(T) without the guard that no member of P_T is accepted",
        ("avalanche.accept_preserves_exclusivity",),
    ),
)


def _spends() -> z3.ArrayRef:
    return z3.Array("spends", Tx, Nullifier)


def _pref() -> z3.ArrayRef:
    return z3.Array("pref", Nullifier, Tx)


def _pref_in_its_set(spends: z3.ArrayRef, pref: z3.ArrayRef) -> z3.BoolRef:
    s = z3.Const("s", Nullifier)
    return z3.ForAll([s], spends[pref[s]] == s)


def preferred(mutant: str | None) -> Callable[..., z3.BoolRef]:
    """Fig. 5 ``isPreferred(T) = (T = P_T.pref)``, or the mutant's tie-breaking reading."""

    def sound(spends: z3.ArrayRef, pref: z3.ArrayRef, d: z3.ArrayRef, t: z3.ExprRef) -> z3.BoolRef:
        return pref[spends[t]] == t

    def on_tie(spends: z3.ArrayRef, pref: z3.ArrayRef, d: z3.ArrayRef, t: z3.ExprRef) -> z3.BoolRef:
        return d[t] >= d[pref[spends[t]]]

    return on_tie if mutant == PREFERRED_ON_TIE else sound


def strong_preference_unique(mutant: str | None) -> Goal:
    """Two different transactions spending one nullifier are never both preferred (so never both
    strongly preferred: an honest node answers yes to at most one of them)."""
    spends, pref = _spends(), _pref()
    d = z3.Array("d", Tx, z3.IntSort())
    t1, t2 = z3.Consts("t1 t2", Tx)
    x = z3.Const("x", Tx)
    is_preferred = preferred(mutant)
    return Goal(
        claim="spends[t1] = spends[t2], t1 != t2, t1 preferred implies t2 not preferred",
        conclusion=z3.Not(is_preferred(spends, pref, d, t2)),
        hypotheses=(
            _pref_in_its_set(spends, pref),
            z3.ForAll([x], d[x] >= 0),
            spends[t1] == spends[t2],
            t1 != t2,
            is_preferred(spends, pref, d, t1),
        ),
        shown=((("t1", t1), ("t2", t2)), (("spends", spends),), (("pref", pref),), (("d", d),)),
    )


def quorum_condition(mutant: str | None) -> Callable[..., z3.BoolRef]:
    """``2 alpha > k + b``: a quorum outweighs the sample's honest half plus its Byzantine part."""

    def sound(alpha: z3.ArithRef, k: z3.ArithRef, b: z3.ArithRef) -> z3.BoolRef:
        return 2 * alpha > k + b

    def without_byzantine(alpha: z3.ArithRef, k: z3.ArithRef, b: z3.ArithRef) -> z3.BoolRef:
        return 2 * alpha > k

    return without_byzantine if mutant == MAJORITY_WITHOUT_BYZANTINE else sound


def one_sample_cannot_confirm_both(mutant: str | None) -> Goal:
    """In one sample of k responders, at most b Byzantine, each honest responder answering yes
    to at most one of two conflicting transactions (``strong_preference_unique``), the quorum
    condition forbids alpha yes answers to both."""
    k, b, alpha = z3.Ints("k b alpha")
    h1, h2, z1, z2 = z3.Ints("honest_yes_T1 honest_yes_T2 byzantine_yes_T1 byzantine_yes_T2")
    return Goal(
        claim="not (yes(T1) >= alpha and yes(T2) >= alpha)",
        conclusion=z3.Not(z3.And(h1 + z1 >= alpha, h2 + z2 >= alpha)),
        hypotheses=(
            k >= 1,
            z3.And(0 <= b, b <= k),
            z3.And(1 <= alpha, alpha <= k),
            quorum_condition(mutant)(alpha, k, b),
            z3.And(h1 >= 0, h2 >= 0, h1 + h2 <= k - b),
            z3.And(0 <= z1, z1 <= b, 0 <= z2, z2 <= b),
        ),
        shown=(
            (("k", k), ("b", b), ("alpha", alpha)),
            (("honest yes T1", h1), ("honest yes T2", h2)),
            (("byzantine yes T1", z1), ("byzantine yes T2", z2)),
        ),
    )


def _exclusive(spends: z3.ArrayRef, accepted: z3.ArrayRef) -> z3.BoolRef:
    x, y = z3.Consts("x y", Tx)
    both = z3.And(accepted[x], accepted[y], spends[x] == spends[y])
    return z3.ForAll([x, y], z3.Implies(both, x == y))


def accept_preserves_exclusivity(mutant: str | None) -> Goal:
    """If no two accepted transactions spend one nullifier, ``Accept(T)`` -- enabled when no
    accepted transaction spends T's nullifier -- keeps it so."""
    spends = _spends()
    accepted = z3.Array("accepted", Tx, z3.BoolSort())
    t = z3.Const("t", Tx)
    u = z3.Const("u", Tx)
    guard = z3.ForAll([u], z3.Implies(accepted[u], spends[u] != spends[t]))
    after = z3.Store(accepted, t, True)
    return Goal(
        claim="exclusive(accepted) and Accept(t) enabled imply exclusive(accepted + {t})",
        conclusion=_exclusive(spends, after),
        hypotheses=(
            _exclusive(spends, accepted),
            *(() if mutant == ACCEPT_DESPITE_CONFLICT else (guard,)),
        ),
        shown=((("t", t),), (("spends", spends),), (("accepted", accepted),)),
    )


PROOFS: tuple[Proof, ...] = tuple(
    named_proof(PROTOCOL, build, ASSUMPTIONS, SOURCE)
    for build in (
        strong_preference_unique,
        one_sample_cannot_confirm_both,
        accept_preserves_exclusivity,
    )
)
