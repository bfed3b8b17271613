"""Records of a proof search: each model attempt, the whole search, and its events.

They are frozen dataclasses, so :func:`fansi.records.to_dict` turns any of
them into JSON for the store and the progress display. An attempt is a node in
the attempt tree: fresh attempt ``a`` is ``(a, 0)``, and its ``r``-th repair
``(a, r)`` answers the compiler's message on ``(a, r - 1)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from fansi.formal.kernel import KernelResult, candidate_source
from fansi.formal.portfolio import PortfolioResult
from fansi.formal.statements import Theorem
from fansi.records import StopReason, Usage

#: How far an attempt got: ``extract`` when no proof script could be read from
#: the reply, else the kernel check's stage.
AttemptStage = Literal["extract", "policy", "compile", "statement", "libraries",
                       "assumptions", "coqchk", "accepted"]
Stopped = Literal["proved", "attempts", "budget", "invalid"]
FormalEventKind = Literal["portfolio_tried", "attempt_started", "attempt_checked",
                          "search_finished"]


@dataclass(frozen=True)
class ProofAttempt:
    """One model call and the kernel check of what it wrote.

    Attributes:
        attempt: Which fresh attempt this belongs to (0-based).
        repair: 0 for the fresh attempt, r for its r-th repair.
        seed: The sampling seed the call used.
        reply: The model's raw reply.
        imports: The extra import sentences read from the reply.
        proof: The proof script read from the reply, or None if there was none.
        stage: How far it got (``"accepted"`` when it passed).
        message: The compiler's (or extractor's) message, trimmed; "" when accepted.
        goals: The goals just before the failing sentence, when known.
        usage: The call's tokens.
        stop_reason: Why generation stopped (``"length"``: truncated).
        seconds: Generation plus checking time.
        check: The full kernel verdict, when the proof was checked.
    """

    attempt: int
    repair: int
    seed: int
    reply: str
    imports: str
    proof: str | None
    stage: AttemptStage
    message: str
    goals: str
    usage: Usage
    stop_reason: StopReason
    seconds: float
    check: KernelResult | None = None

    @property
    def accepted(self) -> bool:
        return self.stage == "accepted"

    @property
    def parent(self) -> tuple[int, int] | None:
        """The attempt this one repairs, or None for a fresh attempt."""
        return (self.attempt, self.repair - 1) if self.repair else None


@dataclass(frozen=True)
class ProofSearchResult:
    """The outcome of :func:`fansi.formal.prover.prove_theorem` on one theorem.

    Attributes:
        theorem: The theorem searched for.
        found: Whether a proof passed the kernel check.
        source: Where the proof came from: ``"portfolio"``, ``"model"`` or None.
        proof: The accepted proof script, or None.
        imports: The imports the accepted proof was checked with.
        portfolio: What the portfolio did (None when it was not run).
        attempts: Every model attempt and repair, in the order they were made.
        usage: Tokens over all model calls.
        calls: Number of model calls.
        seconds: Wall time of the whole search.
        stopped: Why the search ended: a proof, attempts used up, the budget, or
            an ``invalid`` statement (one that does not compile in its own file).
        error: For an invalid statement, Coq's message; else "".
    """

    theorem: Theorem
    found: bool
    source: Literal["portfolio", "model"] | None
    proof: str | None
    imports: str
    portfolio: PortfolioResult | None
    attempts: tuple[ProofAttempt, ...]
    usage: Usage
    calls: int
    seconds: float
    stopped: Stopped
    error: str = ""

    @property
    def file_text(self) -> str | None:
        """A complete ``.v`` file with the accepted proof, as it was checked; None if none."""
        if self.proof is None:
            return None
        return candidate_source(self.theorem, self.proof, imports=self.imports)


@dataclass(frozen=True)
class FormalEvent:
    """Something the prover did, for progress displays. The prover prints nothing.

    Attributes:
        kind: What happened.
        theorem: The theorem's name.
        tokens: Tokens spent so far on this theorem.
        calls: Model calls so far.
        seconds: Seconds since the search started.
        index: ``(attempt, repair)`` for ``attempt_started``.
        attempt: The finished attempt, for ``attempt_checked``.
        portfolio: The portfolio's result, for ``portfolio_tried``.
        result: The whole search, for ``search_finished``.
    """

    kind: FormalEventKind
    theorem: str
    tokens: int
    calls: int
    seconds: float
    index: tuple[int, int] | None = None
    attempt: ProofAttempt | None = None
    portfolio: PortfolioResult | None = None
    result: ProofSearchResult | None = None


FormalEventHandler = Callable[[FormalEvent], None]

__all__ = [
    "AttemptStage",
    "FormalEvent",
    "FormalEventHandler",
    "FormalEventKind",
    "ProofAttempt",
    "ProofSearchResult",
    "Stopped",
]
