"""Plain records that flow between backends, the engine and the store.

They are frozen dataclasses: cheap, hashable where useful, and trivially
turned into JSON with :func:`to_dict`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]
StopReason = Literal["stop", "length", "cancelled"]
Severity = Literal["minor", "major", "fatal"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class GenerateParams:
    """Sampling settings for one call. ``None`` means "the backend's default"."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    # A JSON schema the output must follow (constrained decoding where the
    # backend supports it; a plain instruction where it does not).
    json_schema: dict[str, Any] | None = None
    # Alternatives per generated token to return with their log-probabilities
    # (0: none). Only backends with ``supports_logprobs`` honour it.
    logprobs: int = 0

    def key(self) -> str:
        """A stable string for cache keys."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token with its log-probability and the most likely
    alternatives at that position (``top``: (token text, logprob) pairs)."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Completion:
    """What a backend returns. Truncation is data (``stop_reason="length"``).

    ``logprobs`` holds one entry per generated token when the call asked for
    them (``GenerateParams.logprobs``) and the backend can give them; else None.
    """

    text: str
    stop_reason: StopReason
    usage: Usage
    latency_s: float
    model: str
    cached: bool = False
    logprobs: tuple[TokenLogprob, ...] | None = None


@dataclass(frozen=True)
class Problem:
    text: str
    # The reference final answer, when one is known (evaluation only).
    answer: str | None = None
    id: str = ""

    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Issue:
    location: str
    description: str
    severity: Severity


@dataclass(frozen=True)
class Candidate:
    id: str
    solution: str
    self_evaluation: str
    self_score: float | None
    answer: str | None
    parents: tuple[str, ...] = ()
    # Ids of the verifications whose issues this candidate answers.
    answered: tuple[str, ...] = ()
    round: int = 0
    truncated: bool = False


@dataclass(frozen=True)
class Verification:
    """One verifier sample. ``score is None`` means *unknown*, never a pass."""

    id: str
    candidate_id: str
    score: float | None
    issues: tuple[Issue, ...]
    raw: str
    reason: str = ""
    weight: float = 1.0
    #: P(score = 0), P(0.5), P(1) read from the token distribution at the
    #: score, where the backend gives log-probabilities; else None.
    p_scores: tuple[float, float, float] | None = None

    @property
    def p_pass(self) -> float | None:
        """P(score = 1), or None without a distribution."""
        return None if self.p_scores is None else self.p_scores[2]

    @property
    def expected_score(self) -> float | None:
        """The score's expectation under the distribution; else the sampled score."""
        if self.p_scores is None:
            return self.score
        return 0.5 * self.p_scores[1] + self.p_scores[2]


@dataclass(frozen=True)
class MetaCheck:
    id: str
    verification_id: str
    issue_index: int
    real: bool | None
    raw: str
    reason: str = ""


CheckKind = Literal["answer", "program", "claim", "arithmetic", "formal", "manipulation"]


@dataclass(frozen=True)
class CheckResult:
    """What one executed check found about one candidate.

    A check that cannot judge returns ``None`` instead of a result, so a
    ``CheckResult`` always holds a decision: ``passed`` or not. A failed check
    is decisive evidence (a counterexample needs no meta-check).

    Attributes:
        id: The record id (unique in the run).
        candidate_id: The candidate the check is about.
        name: The checker's name, e.g. ``"arithmetic"``.
        kind: What sort of evidence it is.
        passed: Whether the candidate survived the check.
        detail: What was checked and how, for the store and the web page.
        counterexample: For a failed check, the evidence that refutes the claim.
        location: Where in the candidate the checked claim sits (``"step 3"``).
        value: A value the check computed, e.g. a program's printed answer.
    """

    id: str
    candidate_id: str
    name: str
    kind: CheckKind
    passed: bool
    detail: str = ""
    counterexample: str = ""
    location: str = ""
    value: str | None = None


@dataclass(frozen=True)
class Budget:
    """Caps on what a run may spend. ``None`` means no cap."""

    tokens: int | None = None
    calls: int | None = None
    seconds: float | None = None


def to_dict(record: Any) -> Any:
    """A JSON-ready dict of any record above (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(record)))


__all__ = [
    "Budget",
    "Candidate",
    "CheckKind",
    "CheckResult",
    "Completion",
    "GenerateParams",
    "Issue",
    "Message",
    "MetaCheck",
    "Problem",
    "TokenLogprob",
    "Usage",
    "Verification",
    "to_dict",
]
