"""z3 proofs that hold for every number of replicas: lattice laws, orders, update properties.

Run one with :func:`run_proof`, all with :func:`run_all`; each returns :class:`ProofResult`
records ("proved", "counterexample" with a readable model, "unknown" with the solver's reason,
or "vacuous" when a claim's hypotheses contradict each other). The registry is
:data:`PROOFS`; deliberately broken encodings that auditors can run are :data:`MUTANTS`.
"""

from .core import Goal, Proof, ProofMutant, ProofResult
from .harness import (
    MUTANTS,
    PROOFS,
    PROTOCOLS,
    MutantMismatchError,
    ProofUsageError,
    UnknownMutantError,
    UnknownProofError,
    find_mutant,
    find_proof,
    run_all,
    run_proof,
    summary,
)

__all__ = [
    "MUTANTS",
    "PROOFS",
    "PROTOCOLS",
    "Goal",
    "MutantMismatchError",
    "Proof",
    "ProofMutant",
    "ProofResult",
    "ProofUsageError",
    "UnknownMutantError",
    "UnknownProofError",
    "find_mutant",
    "find_proof",
    "run_all",
    "run_proof",
    "summary",
]
