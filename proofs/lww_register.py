"""LWW-Register proofs, for every number of replicas and every timestamp.

Source: Shapiro et al., "A comprehensive study of CRDTs" (INRIA RR-7506, 2011), §3.2.1,
Specification 8 (state-based Last-Writer-Wins Register); laws of §2.2.1, Def. 2.4.

Encoding
    payload   ``(timestamp, replica, value)``, three integers; well formed when the timestamp and
              the replica id are natural numbers (replica ids are numbers here, not an
              uninterpreted sort, because the tie-break orders them; still unboundedly many).
    compare   lexicographic on ``(timestamp, replica)``: the paper assumes unique timestamps and
              the replica id is what makes them unique (two replicas may read the same clock).
    merge     the larger of the two payloads under ``compare`` (the right one on a tie of keys).
    assign    ``assign(ts, i, v)`` at replica i, enabled when ``(ts, i) > (timestamp, replica)``.
              Spec 8 reads the timestamp from a clock consistent with causality; a spec has no
              clocks, so the timestamp is an input and that requirement is the precondition.

Coherence assumption (unique writes): two payloads of one execution with equal
``(timestamp, replica)`` carry equal values -- a replica writes at most once per timestamp. Every
law assumes it of every two payloads it mentions; without it, merging two different writes with
the same key depends on the argument order (the mutant ``lww-register/no-unique-writes``).
"""

from __future__ import annotations

import attrs
import z3

from .core import Goal, Labelled, Proof, ProofMutant, named_proof
from .lattice import Lattice, inflation, premises, semilattice_proofs, show

PROTOCOL = "lww-register"
SOURCE = "Shapiro et al. 2011, §3.2.1, Specification 8; §2.2.1, Definition 2.4."
ASSUMPTIONS = (
    "timestamps and replica ids are natural numbers; unique writes: any two payloads with equal "
    "(timestamp, replica) have equal values."
)


@attrs.frozen
class Stamped:
    """An LWW-Register payload: the value and the (timestamp, replica) key of its write."""

    timestamp: z3.ArithRef
    replica: z3.ArithRef
    value: z3.ArithRef


# -- The data type --------------------------------------------------------------------------------


def fresh(name: str) -> Stamped:
    return Stamped(*z3.Ints(f"{name}.timestamp {name}.replica {name}.value"))


def parts(x: Stamped) -> tuple[Labelled, ...]:
    return (("timestamp", x.timestamp), ("replica", x.replica), ("value", x.value))


def well_formed(x: Stamped) -> z3.BoolRef:
    return z3.And(x.timestamp >= 0, x.replica >= 0)


def key_leq(t1: z3.ArithRef, r1: z3.ArithRef, t2: z3.ArithRef, r2: z3.ArithRef) -> z3.BoolRef:
    """``(t1, r1) <= (t2, r2)`` lexicographically."""
    return z3.Or(t1 < t2, z3.And(t1 == t2, r1 <= r2))


def leq(x: Stamped, y: Stamped) -> z3.BoolRef:
    return key_leq(x.timestamp, x.replica, y.timestamp, y.replica)


def pick(condition: z3.BoolRef, x: Stamped, y: Stamped) -> Stamped:
    """``x if condition else y``, component by component."""
    return Stamped(
        z3.If(condition, x.timestamp, y.timestamp),
        z3.If(condition, x.replica, y.replica),
        z3.If(condition, x.value, y.value),
    )


def join(x: Stamped, y: Stamped) -> Stamped:
    """Spec 8 ``merge``: keep the payload with the larger key."""
    return pick(leq(x, y), y, x)


def unique_writes(x: Stamped, y: Stamped) -> z3.BoolRef:
    same_key = z3.And(x.timestamp == y.timestamp, x.replica == y.replica)
    return z3.Implies(same_key, x.value == y.value)


def assign_enabled(x: Stamped, timestamp: z3.ArithRef, replica: z3.ArithRef) -> z3.BoolRef:
    """Spec 8 ``assign``'s precondition: the new key is above the current one."""
    return z3.Not(key_leq(timestamp, replica, x.timestamp, x.replica))


def assign(x: Stamped, timestamp: z3.ArithRef, replica: z3.ArithRef, value: z3.ArithRef) -> Stamped:
    """Spec 8 ``assign(w)`` at ``replica``, with its timestamp as an input."""
    return Stamped(timestamp, replica, value)


# -- Mutants --------------------------------------------------------------------------------------

NO_TIEBREAK = "lww-register/no-tiebreak"
NO_UNIQUE_WRITES = "lww-register/no-unique-writes"


def timestamp_leq(x: Stamped, y: Stamped) -> z3.BoolRef:
    """The ``no-tiebreak`` mutant's compare: timestamps only."""
    return x.timestamp <= y.timestamp


def join_keep_left_on_ties(x: Stamped, y: Stamped) -> Stamped:
    """The ``no-tiebreak`` mutant's merge: the later timestamp; on a tie, the left payload."""
    return pick(y.timestamp > x.timestamp, y, x)


MUTANTS = (
    ProofMutant(
        NO_TIEBREAK,
        PROTOCOL,
        "compare timestamps only and keep the left payload on a tie (the design notes' tie bug)",
        ("lww-register.join_commutative", "lww-register.leq_antisymmetric"),
    ),
    ProofMutant(
        NO_UNIQUE_WRITES,
        PROTOCOL,
        "drop the unique-writes hypothesis: two writes may share a (timestamp, replica) key",
        ("lww-register.join_commutative", "lww-register.leq_antisymmetric"),
    ),
)


def encoding(mutant: str | None) -> Lattice[Stamped]:
    if mutant == NO_TIEBREAK:
        return Lattice(
            fresh, parts, well_formed, join_keep_left_on_ties, timestamp_leq, unique_writes
        )
    if mutant == NO_UNIQUE_WRITES:
        return Lattice(fresh, parts, well_formed, join, leq)
    return Lattice(fresh, parts, well_formed, join, leq, unique_writes)


# -- Update proofs --------------------------------------------------------------------------------


def _assign_inputs() -> tuple[z3.ArithRef, z3.ArithRef, z3.ArithRef]:
    ts, i, v = z3.Ints("ts i v")
    return ts, i, v


def _assign_hypotheses(p: Stamped, ts: z3.ArithRef, i: z3.ArithRef) -> tuple[z3.BoolRef, ...]:
    """The writer i is a replica (a natural number) and assign is enabled."""
    return (i >= 0, assign_enabled(p, ts, i))


def assign_inflates(mutant: str | None) -> Goal:
    """assign inflates: if (ts, i) > p's key (its precondition), then p < assign(p, ts, i, v)."""
    lattice = encoding(mutant)
    p = fresh("p")
    ts, i, v = _assign_inputs()
    inputs: tuple[Labelled, ...] = (("ts", ts), ("i", i), ("v", v))
    after = assign(p, ts, i, v)
    return inflation(
        lattice, p, after, "assign(p, ts, i, v)", _assign_hypotheses(p, ts, i), (inputs,)
    )


def assign_preserves_well_formed(mutant: str | None) -> Goal:
    """assign stays inside the payload type: if (ts, i) > p's key, the new key is natural."""
    lattice = encoding(mutant)
    p = fresh("p")
    ts, i, v = _assign_inputs()
    after = assign(p, ts, i, v)
    return Goal(
        claim="assign(p, ts, i, v) is well formed",
        conclusion=lattice.well_formed(after),
        hypotheses=(*premises(lattice, p), *_assign_hypotheses(p, ts, i)),
        shown=(show(lattice, "p", p), (("ts", ts), ("i", i), ("v", v))),
    )


PROOFS: tuple[Proof, ...] = (
    *semilattice_proofs(PROTOCOL, encoding, ASSUMPTIONS, SOURCE),
    named_proof(PROTOCOL, assign_inflates, ASSUMPTIONS, SOURCE),
    named_proof(PROTOCOL, assign_preserves_well_formed, ASSUMPTIONS, SOURCE),
)
