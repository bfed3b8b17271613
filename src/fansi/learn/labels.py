"""The labelling rule, and the labels file that ``fansi label`` writes.

The rule is DeepSeekMath-V2's scaled verification made explicit. A candidate
gets n verifier analyses; each analysis that fails it (score 0 or 0.5) has
each of its issues meta-checked m times; an issue is *confirmed* when most of
its m meta-checks call it real and *dismissed* when most call it not real.
Then, in this order:

1. a failed executed check (a counterexample, a copied verdict) stands:
   **wrong**, source ``check``;
2. a reference answer is known, used, and the candidate's answer is not
   equivalent to it (or it states none): **wrong**, source ``reference``;
3. a failing analysis has a confirmed issue: **wrong**, source ``verifier``
   (score: the lowest score among such analyses, 0 or 0.5);
4. at least k analyses pass it and every failing analysis had all of its
   issues dismissed: **correct**, source ``verifier``;
5. for an answer problem (not a proof) the answer matches the reference:
   **correct**, source ``reference``. A matching answer alone never makes a
   proof correct;
6. otherwise **unlabelled**: the evidence does not settle it.

Thresholds on the (calibrated) confidence of the grade can demote a verifier
label to unlabelled: a *correct* one needs ``confidence >= min_confidence``,
a *wrong* one ``confidence <= max_confidence``. Decisive evidence (a failed
check, a reference answer) is not thresholded.

Labels are written to a JSONL file, one :class:`Label` per candidate, each
naming the run and candidate it came from and the run that verified it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fansi.errors import InputError
from fansi.records import CheckResult, MetaCheck, Verification

LabelValue = Literal["correct", "wrong", "unlabelled"]
LabelSource = Literal["verifier", "check", "reference", "none"]
LABEL_SOURCES: tuple[LabelSource, ...] = ("verifier", "check", "reference")
#: Run ids of label runs start with this, so that labelling the store never
#: labels its own verification runs.
LABEL_RUN_PREFIX = "label-"


class LabelRule(BaseModel):
    """The numbers of scaled verification and the thresholds of a label.

    Attributes:
        n: Verifier analyses drawn per candidate.
        m: Meta-checks drawn per issue of a failing analysis.
        k: Passing analyses needed for *correct*.
        min_confidence: Least confidence for a verifier *correct*.
        max_confidence: Most confidence for a verifier *wrong*.
        use_reference: Whether a reference answer may decide a label
            (off to measure the verifier's precision against the references).
        proof: The problems are proofs: a matching answer never makes *correct*.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int = Field(default=4, ge=1)
    m: int = Field(default=1, ge=1)
    k: int = Field(default=3, ge=1)
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    max_confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    use_reference: bool = True
    proof: bool = False

    @model_validator(mode="after")
    def _k_within_n(self) -> LabelRule:
        if self.k > self.n:
            raise ValueError(f"k ({self.k}) cannot exceed the n ({self.n}) analyses drawn")
        return self


@dataclass(frozen=True)
class Evidence:
    """What scaled verification found about one candidate.

    Attributes:
        verifications: The n analyses.
        meta_checks: Every meta-check of their issues (m per issue).
        refuted: Failed executed checks that refute the candidate.
        reference_match: Whether its answer matches the reference; None
            without a reference or when equivalence cannot be judged.
        confidence: The confidence of the grade (calibrated where a map exists).
    """

    verifications: Sequence[Verification]
    meta_checks: Sequence[MetaCheck]
    refuted: Sequence[CheckResult]
    reference_match: bool | None
    confidence: float


@dataclass(frozen=True)
class Decision:
    label: LabelValue
    source: LabelSource
    score: float | None
    reason: str
    passes: int
    fails: int
    unknown: int
    confirmed: int
    dismissed: int


IssueState = Literal["confirmed", "dismissed", "unsettled"]


def issue_states(verification: Verification, meta_checks: Iterable[MetaCheck], m: int
                 ) -> list[IssueState]:
    """Each issue of a verification by the majority of its meta-checks: confirmed
    when more than m/2 call it real, dismissed when more than m/2 call it not
    real, else unsettled (an unanswered meta-check is no vote)."""
    real: Counter[int] = Counter()
    unreal: Counter[int] = Counter()
    for check in meta_checks:
        if check.verification_id != verification.id or check.real is None:
            continue
        (real if check.real else unreal)[check.issue_index] += 1
    states: list[IssueState] = []
    for index in range(len(verification.issues)):
        if real[index] * 2 > m:
            states.append("confirmed")
        elif unreal[index] * 2 > m:
            states.append("dismissed")
        else:
            states.append("unsettled")
    return states


def decide(evidence: Evidence, rule: LabelRule) -> Decision:
    """Label one candidate by the rule in the module docstring."""
    passes = fails = unknown = dismissed = 0
    confirmed_scores: list[float] = []
    for v in evidence.verifications:
        if v.score is None:
            unknown += 1
            continue
        if v.score >= 1:
            passes += 1
            continue
        fails += 1
        states = issue_states(v, evidence.meta_checks, rule.m)
        if "confirmed" in states:
            confirmed_scores.append(v.score)
        elif states and all(s == "dismissed" for s in states):
            dismissed += 1

    def made(label: LabelValue, source: LabelSource, score: float | None, reason: str
             ) -> Decision:
        return Decision(label, source, score, reason, passes, fails, unknown,
                        len(confirmed_scores), dismissed)

    if evidence.refuted:
        names = ", ".join(c.name for c in evidence.refuted)
        return made("wrong", "check", 0.0, f"a failed executed check stands ({names})")
    if rule.use_reference and evidence.reference_match is False:
        return made("wrong", "reference", 0.0, "its answer does not match the reference")
    if confirmed_scores:
        if evidence.confidence > rule.max_confidence:
            return made("unlabelled", "none", None,
                        f"a confirmed issue, but confidence {evidence.confidence:.2f} is above "
                        f"{rule.max_confidence}")
        return made("wrong", "verifier", min(confirmed_scores),
                    f"{len(confirmed_scores)} analysis(es) with a confirmed issue")
    if passes >= rule.k and dismissed == fails:
        if evidence.confidence < rule.min_confidence:
            return made("unlabelled", "none", None,
                        f"{passes} of {len(evidence.verifications)} pass, but confidence "
                        f"{evidence.confidence:.2f} is below {rule.min_confidence}")
        tail = f"; the issues of {fails} failing analysis(es) were dismissed" if fails else ""
        return made("correct", "verifier", 1.0,
                    f"{passes} of {len(evidence.verifications)} analyses pass{tail}")
    if rule.use_reference and evidence.reference_match is True and not rule.proof:
        return made("correct", "reference", 1.0, "its answer matches the reference")
    standing = fails - dismissed
    return made("unlabelled", "none", None,
                f"{passes} pass (k={rule.k}), {standing} failing analysis(es) neither "
                f"confirmed nor dismissed, {unknown} unknown")


class Label(BaseModel):
    """One labelled candidate, as a line of the labels file.

    ``run_id`` and ``candidate_id`` name the candidate in the store (for a
    JSONL of solutions, the label run's own given candidate); ``label_run_id``
    names the verify run that holds the n analyses and their meta-checks.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    candidate_id: str
    label_run_id: str
    problem_id: str
    task: str
    model: str
    verifier: str
    label: LabelValue
    source: LabelSource
    score: float | None
    reason: str
    passes: int
    fails: int
    unknown: int
    confirmed: int
    dismissed: int
    reference_match: bool | None
    confidence: float
    calibrated: bool
    rule: LabelRule


def task_of(problem_id: str) -> str:
    """The task an eval's problem id names (``gsm8k:12:ab34cd56`` -> ``gsm8k``); else ''."""
    task, sep, _ = problem_id.partition(":")
    return task if sep else ""


def read_labels(path: Path) -> list[Label]:
    """Every label of a labels file, or an InputError naming the first bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read the labels file {path}: {exc.strerror}",
                         hint="Make labels first with `fansi label`.") from exc
    labels: list[Label] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            labels.append(Label.model_validate_json(line))
        except ValidationError as exc:
            raise InputError(f"{path}:{number} is not a fansi label: "
                             f"{exc.errors()[0]['msg']}") from exc
    return labels


def write_labels(path: Path, labels: Iterable[Label]) -> list[Label]:
    """Merge ``labels`` into the file: a candidate's new label replaces its old one.

    Returns:
        Every label now in the file.
    """
    kept: dict[tuple[str, str], Label] = {}
    if path.is_file():
        kept = {(old.run_id, old.candidate_id): old for old in read_labels(path)}
    for label in labels:
        kept[(label.run_id, label.candidate_id)] = label
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(label.model_dump_json() + "\n" for label in kept.values()),
                       encoding="utf-8")
    partial.replace(path)
    return list(kept.values())


@dataclass(frozen=True)
class Precision:
    """How often verifier labels agree with the reference answers."""

    correct: int  # verifier-correct labels with a judgeable reference
    correct_agree: int
    wrong: int  # verifier-wrong labels with a judgeable reference
    wrong_agree: int

    @property
    def correct_precision(self) -> float | None:
        return self.correct_agree / self.correct if self.correct else None

    @property
    def wrong_precision(self) -> float | None:
        return self.wrong_agree / self.wrong if self.wrong else None


def precision(labels: Iterable[Label]) -> Precision:
    """The precision of verifier labels against reference answers: of the
    candidates the verifier called correct (wrong), the share whose answer does
    (does not) match the reference. Meaningful only for labels made with
    ``use_reference`` off, where the reference could not decide them."""
    judged = [x for x in labels if x.source == "verifier" and x.reference_match is not None]
    correct = [x for x in judged if x.label == "correct"]
    wrong = [x for x in judged if x.label == "wrong"]
    return Precision(len(correct), sum(x.reference_match is True for x in correct),
                     len(wrong), sum(x.reference_match is False for x in wrong))


def summary(labels: Sequence[Label]) -> dict[str, object]:
    """Counts by label and by source, and the precision against references."""
    found = precision(labels)
    return {
        "labels": len(labels),
        "by_label": dict(Counter(x.label for x in labels)),
        "by_source": dict(Counter(x.source for x in labels if x.label != "unlabelled")),
        "verifier_correct_precision": found.correct_precision,
        "verifier_correct_judged": found.correct,
        "verifier_wrong_precision": found.wrong_precision,
        "verifier_wrong_judged": found.wrong,
    }


def dump_summary(labels: Sequence[Label]) -> str:
    return json.dumps(summary(labels), indent=1, sort_keys=True)


__all__ = [
    "LABEL_RUN_PREFIX",
    "LABEL_SOURCES",
    "Decision",
    "Evidence",
    "Label",
    "LabelRule",
    "LabelSource",
    "LabelValue",
    "Precision",
    "decide",
    "issue_states",
    "precision",
    "read_labels",
    "summary",
    "task_of",
    "write_labels",
]
