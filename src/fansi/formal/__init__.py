"""Formal mode: theorems in Coq, proved by a tactic portfolio and a model, checked by the kernel.

The public surface:

- :func:`parse_file` reads a ``.v`` file into its open theorems
  (:class:`Theorem`, each with the context it is checked in);
- :func:`check_proof` kernel-checks one proof script (:class:`KernelResult`);
- :func:`run_portfolio` tries the cheap automation of :data:`PORTFOLIO`
  (:class:`PortfolioResult`);
- :func:`prove_theorem` runs the portfolio, then model attempts with repairs
  on Coq's messages (:class:`ProofSearchResult`, :class:`FormalEvent`); the
  goals a failed attempt leaves are first offered to :data:`CLOSER`;
- :func:`find_coq` locates Coq, raising ``ConfigError`` with the install
  command when it is missing.

Every module here uses only the standard library, fansi's records, errors,
prompts and backend protocol, so importing it is cheap.
"""

from fansi.formal.coq import INSTALL_COMMAND, Coq, Limits, find_coq
from fansi.formal.kernel import (
    ALLOWED_AXIOM_MODULES,
    ALLOWED_AXIOMS,
    ALLOWED_ROOTS,
    STANDARD_IMPORTS,
    KernelResult,
    Stage,
    candidate_source,
    check_proof,
    check_statement,
    goals_before,
    policy_violation,
    proof_imports,
)
from fansi.formal.portfolio import (
    PORTFOLIO,
    PortfolioResult,
    Tactic,
    TacticOutcome,
    run_portfolio,
)
from fansi.formal.prover import (
    CLOSER,
    ExtractedProof,
    closed_prefix,
    derive_seed,
    extract_proof,
    proof_messages,
    prove_theorem,
    repair_messages,
)
from fansi.formal.results import (
    AttemptStage,
    FormalEvent,
    FormalEventHandler,
    ProofAttempt,
    ProofSearchResult,
)
from fansi.formal.statements import FormalFile, Theorem, parse_file

__all__ = [
    "ALLOWED_AXIOMS",
    "ALLOWED_AXIOM_MODULES",
    "ALLOWED_ROOTS",
    "CLOSER",
    "INSTALL_COMMAND",
    "PORTFOLIO",
    "STANDARD_IMPORTS",
    "AttemptStage",
    "Coq",
    "ExtractedProof",
    "FormalEvent",
    "FormalEventHandler",
    "FormalFile",
    "KernelResult",
    "Limits",
    "PortfolioResult",
    "ProofAttempt",
    "ProofSearchResult",
    "Stage",
    "Tactic",
    "TacticOutcome",
    "Theorem",
    "candidate_source",
    "check_proof",
    "check_statement",
    "closed_prefix",
    "derive_seed",
    "extract_proof",
    "find_coq",
    "goals_before",
    "parse_file",
    "policy_violation",
    "proof_imports",
    "proof_messages",
    "prove_theorem",
    "repair_messages",
    "run_portfolio",
]
