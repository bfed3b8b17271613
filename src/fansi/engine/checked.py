"""A candidate in the pool with the evidence gathered about it.

Its own module so that the search, the evidence function and confidence can
all read it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from fansi.records import Candidate, CheckResult, Issue, MetaCheck, Verification

Outcome = Literal["pass", "fail", "unknown"]

SEVERITY_RANK = {"fatal": 0, "major": 1, "minor": 2}
#: Check kinds that are votes about the answer, not verdicts on the candidate:
#: disagreeing with them is no refutation.
VOTES = frozenset({"answer", "program"})
MAX_FEEDBACK_ISSUES = 5


def outcome(v: Verification) -> Outcome:
    if v.score is None or v.weight == 0:
        return "unknown"
    return "pass" if v.score >= 1 else "fail"


def check_issue(check: CheckResult) -> Issue:
    """A failed executed check as the fatal issue it is; its counterexample is the evidence."""
    evidence = f" Counterexample: {check.counterexample}" if check.counterexample else ""
    return Issue(check.location, f"{check.detail}{evidence}".strip(), "fatal")


@dataclass
class Checked:
    """A candidate in the pool with the evidence gathered about it."""

    candidate: Candidate
    verifications: list[Verification] = field(default_factory=list)
    meta_checks: list[MetaCheck] = field(default_factory=list)
    #: Executed checks, latest per checker name.
    checks: dict[str, CheckResult] = field(default_factory=dict)
    accepted: bool = False
    cluster: int | None = None
    answer_support: float | None = None

    def outcomes(self) -> list[Outcome]:
        return [outcome(v) for v in self.verifications]

    @property
    def score(self) -> float | None:
        """Mean verified score, weighted by what meta-checking left standing."""
        known = [v for v in self.verifications if v.score is not None and v.weight > 0]
        weight = sum(v.weight for v in known)
        if not known or weight == 0:
            return None
        return sum(v.weight * (v.score or 0.0) for v in known) / weight

    def confirmed_issues(self) -> list[Issue]:
        """Failed executed checks (fatal, with their counterexample), then issues a
        meta-check judged real, else those of standing failing verdicts."""
        real = {(c.verification_id, c.issue_index) for c in self.meta_checks if c.real}
        confirmed: list[Issue] = [check_issue(c) for c in self.refuted()]
        standing: list[Issue] = []
        for v in self.verifications:
            if outcome(v) != "fail":
                continue
            for index, issue in enumerate(v.issues):
                (confirmed if (v.id, index) in real else standing).append(issue)
        chosen = confirmed if len(confirmed) > len(self.refuted()) else confirmed + standing
        return sorted(chosen, key=lambda i: SEVERITY_RANK[i.severity])[:MAX_FEEDBACK_ISSUES]

    def refuted(self) -> list[CheckResult]:
        """Failed executed checks: decisive evidence against the candidate."""
        return [c for c in self.checks.values() if not c.passed and c.kind not in VOTES]



