"""The registry of z3 proofs and mutants, and the functions that run them.

Every proof is registered once, in :data:`PROOFS`, named ``<protocol>.<property>``; every mutant
in :data:`MUTANTS`, named ``<protocol>/<bug>``. ``run_proof(name)`` asserts the negation of the
claim and asks z3 (see :mod:`.core` for what each status means):

    >>> run_proof("gcounter.join_commutative").status
    'proved'
    >>> print(run_proof("gcounter.join_idempotent", mutant="gcounter/sum-merge").counterexample)
    a[r0] = 1
    join(a, a)[r0] = 2
    claim violated: join(a, a) = a

Misuse -- an unknown proof or mutant name, or a mutant of another protocol -- raises a
:class:`ProofUsageError` subclass with a one-line message; a failed proof is a result, not an
exception.
"""

from __future__ import annotations

from . import (
    aba,
    acs,
    avalanche,
    bully,
    gcounter,
    lamport_mutex,
    lww_register,
    merkle_crdt,
    merkle_tree,
    orset,
    pbft,
    pncounter,
    raft_election,
    rbc,
    slush,
    snowball,
    snowflake,
    tendermint,
    vector_clock,
)
from .core import DEFAULT_TIMEOUT_MS, Proof, ProofMutant, ProofResult, check_goal

PROTOCOL_MODULES = (
    gcounter,
    pncounter,
    lww_register,
    orset,
    vector_clock,
    merkle_tree,
    merkle_crdt,
    bully,
    raft_election,
    lamport_mutex,
    tendermint,
    pbft,
    rbc,
    aba,
    acs,
    slush,
    snowflake,
    snowball,
    avalanche,
)

PROOFS: tuple[Proof, ...] = tuple(p for module in PROTOCOL_MODULES for p in module.PROOFS)
MUTANTS: tuple[ProofMutant, ...] = tuple(m for module in PROTOCOL_MODULES for m in module.MUTANTS)
PROTOCOLS: tuple[str, ...] = tuple(module.PROTOCOL for module in PROTOCOL_MODULES)


# -- Errors: local misuse only --------------------------------------------------------------------


class ProofUsageError(Exception):
    """A request the registry cannot serve; the message is one line, fit for a CLI."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownProofError(ProofUsageError, KeyError):
    """No proof of that name is registered."""


class UnknownMutantError(ProofUsageError, KeyError):
    """No mutant of that name is registered."""


class MutantMismatchError(ProofUsageError, ValueError):
    """The mutant belongs to another protocol than the proof."""


# -- Look-ups -------------------------------------------------------------------------------------


def find_proof(name: str) -> Proof:
    for proof in PROOFS:
        if proof.name == name:
            return proof
    raise UnknownProofError(f"unknown proof {name!r} (known: {', '.join(p.name for p in PROOFS)})")


def find_mutant(name: str) -> ProofMutant:
    for mutant in MUTANTS:
        if mutant.name == name:
            return mutant
    raise UnknownMutantError(
        f"unknown mutant {name!r} (known: {', '.join(m.name for m in MUTANTS)})"
    )


def proofs_of(protocol: str) -> tuple[Proof, ...]:
    if protocol not in PROTOCOLS:
        raise UnknownProofError(f"unknown protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")
    return tuple(p for p in PROOFS if p.protocol == protocol)


# -- Running --------------------------------------------------------------------------------------


def run_proof(
    name: str, mutant: str | None = None, timeout_ms: int = DEFAULT_TIMEOUT_MS
) -> ProofResult:
    """Runs one proof, on the sound encoding or on ``mutant`` (of the same protocol).

    ``timeout_ms`` bounds each z3 call (see :func:`.core.check_goal`); a timeout is "unknown".
    """
    proof = find_proof(name)
    if mutant is not None:
        broken = find_mutant(mutant)
        if broken.protocol != proof.protocol:
            raise MutantMismatchError(
                f"mutant {mutant!r} is for {broken.protocol}, not for {proof.name}"
            )
    verdict = check_goal(proof.build(mutant), timeout_ms)
    return ProofResult(
        name=proof.name,
        status=verdict.status,
        seconds=verdict.seconds,
        counterexample=verdict.counterexample,
        description=proof.description,
        mutant=mutant,
        reason=verdict.reason,
    )


def run_all(
    mutant: str | None = None, timeout_ms: int = DEFAULT_TIMEOUT_MS
) -> tuple[ProofResult, ...]:
    """Runs every proof; with ``mutant``, every proof of that mutant's protocol under it."""
    if mutant is None:
        return tuple(run_proof(p.name, None, timeout_ms) for p in PROOFS)
    protocol = find_mutant(mutant).protocol
    return tuple(run_proof(p.name, mutant, timeout_ms) for p in proofs_of(protocol))


def summary(results: tuple[ProofResult, ...]) -> dict[str, object]:
    """A JSON-ready report of several results: counts by status, total time, and each result."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    return {
        "total": len(results),
        "by_status": counts,
        "seconds": sum(r.seconds for r in results),
        "all_proved": all(r.proved for r in results),
        "results": [r.to_json() for r in results],
    }
