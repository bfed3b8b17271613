"""The labelling rule, case by case, and the labels file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from fansi.errors import InputError
from fansi.learn.labels import (
    Evidence,
    Label,
    LabelRule,
    decide,
    issue_states,
    precision,
    read_labels,
    task_of,
    write_labels,
)
from fansi.records import CheckResult, Issue, MetaCheck, Verification

ISSUE = Issue("step 2", "the step divides by zero", "fatal")


def analysis(index: int, score: float | None, issues: int = 0) -> Verification:
    return Verification(f"v{index}", "c", score, (ISSUE,) * issues, raw=f"verdict {index}")


def meta(index: int, *real: bool | None, draw: int = 0) -> list[MetaCheck]:
    return [MetaCheck(f"v{index}-m{draw}-{i}", f"v{index}", i, r, raw="")
            for i, r in enumerate(real)]


def evidence(verifications: list[Verification], meta_checks: list[MetaCheck] | None = None,
             *, refuted: bool = False, match: bool | None = None,
             confidence: float = 0.5) -> Evidence:
    checks = [CheckResult("x", "c", "arithmetic", "arithmetic", False, location="step 1")]
    return Evidence(verifications, meta_checks or [], checks if refuted else [], match,
                    confidence)


PASSES = [analysis(i, 1.0) for i in range(3)]
RULE = LabelRule(n=4, k=3)


def test_k_passing_analyses_make_it_correct() -> None:
    found = decide(evidence([*PASSES, analysis(3, None)]), RULE)
    assert (found.label, found.source, found.score) == ("correct", "verifier", 1.0)
    assert (found.passes, found.fails, found.unknown) == (3, 0, 1)


def test_fewer_than_k_passes_leave_it_unlabelled() -> None:
    found = decide(evidence([*PASSES[:2], analysis(2, None), analysis(3, None)]), RULE)
    assert (found.label, found.source, found.score) == ("unlabelled", "none", None)


def test_a_meta_check_dismissing_the_only_failing_issue_lets_it_be_correct() -> None:
    failing = analysis(3, 0.0, issues=1)
    found = decide(evidence([*PASSES, failing], meta(3, False)), RULE)
    assert (found.label, found.source, found.dismissed) == ("correct", "verifier", 1)
    # the same analysis with its issue left standing blocks the label
    assert decide(evidence([*PASSES, failing], meta(3, None)), RULE).label == "unlabelled"
    assert decide(evidence([*PASSES, failing]), RULE).label == "unlabelled"


def test_one_dismissed_issue_of_two_is_not_a_dismissed_analysis() -> None:
    failing = analysis(3, 0.0, issues=2)
    assert decide(evidence([*PASSES, failing], meta(3, False, None)), RULE).label == "unlabelled"


def test_a_confirmed_issue_makes_it_wrong_with_the_analysis_score() -> None:
    found = decide(evidence([*PASSES, analysis(3, 0.5, issues=1)], meta(3, True)), RULE)
    assert (found.label, found.source, found.score, found.confirmed) == (
        "wrong", "verifier", 0.5, 1)


def test_a_failing_analysis_without_issues_cannot_be_dismissed() -> None:
    assert decide(evidence([*PASSES, analysis(3, 0.0)]), RULE).label == "unlabelled"


def test_a_failed_executed_check_makes_it_wrong_whatever_the_verifier_says() -> None:
    found = decide(evidence([*PASSES, analysis(3, 1.0)], refuted=True, confidence=0.99), RULE)
    assert (found.label, found.source, found.score) == ("wrong", "check", 0.0)


def test_a_reference_answer_overrides_a_verifier_pass() -> None:
    found = decide(evidence([*PASSES, analysis(3, 1.0)], match=False), RULE)
    assert (found.label, found.source) == ("wrong", "reference")
    # ... unless the reference is only measured against
    measured = decide(evidence([*PASSES, analysis(3, 1.0)], match=False),
                      RULE.model_copy(update={"use_reference": False}))
    assert (measured.label, measured.source) == ("correct", "verifier")


def test_a_matching_answer_labels_an_answer_problem_but_never_a_proof() -> None:
    unsettled = [analysis(0, 1.0), analysis(1, None)]
    found = decide(evidence(unsettled, match=True), RULE)
    assert (found.label, found.source) == ("correct", "reference")
    proof = decide(evidence(unsettled, match=True), RULE.model_copy(update={"proof": True}))
    assert proof.label == "unlabelled"
    # and a confirmed issue outweighs a matching answer
    flawed = [analysis(0, 0.0, issues=1)]
    assert decide(evidence(flawed, meta(0, True), match=True), RULE).label == "wrong"


def test_confidence_thresholds_demote_verifier_labels_only() -> None:
    strict = LabelRule(n=4, k=3, min_confidence=0.8, max_confidence=0.2)
    assert decide(evidence(PASSES, confidence=0.7), strict).label == "unlabelled"
    assert decide(evidence(PASSES, confidence=0.8), strict).label == "correct"
    confirmed = evidence([analysis(0, 0.0, issues=1)], meta(0, True), confidence=0.3)
    assert decide(confirmed, strict).label == "unlabelled"
    assert decide(evidence(PASSES, refuted=True, confidence=0.9), strict).label == "wrong"


def test_m_meta_checks_decide_an_issue_by_majority() -> None:
    failing = analysis(0, 0.0, issues=1)
    two_of_three = meta(0, True) + meta(0, True, draw=1) + meta(0, False, draw=2)
    assert issue_states(failing, two_of_three, 3) == ["confirmed"]
    split = meta(0, True) + meta(0, False, draw=1) + meta(0, None, draw=2)
    assert issue_states(failing, split, 3) == ["unsettled"]
    # one vote of three is no majority, even unopposed
    assert issue_states(failing, meta(0, False), 3) == ["unsettled"]
    assert issue_states(failing, meta(0, False), 1) == ["dismissed"]
    # meta-checks of another analysis do not count
    assert issue_states(analysis(1, 0.0, issues=1), two_of_three, 3) == ["unsettled"]


def test_k_cannot_exceed_n() -> None:
    with pytest.raises(ValidationError):
        LabelRule(n=2, k=3)


def make_label(candidate: str, label: str = "correct", source: str = "verifier",
               match: bool | None = True) -> Label:
    return Label(run_id="r", candidate_id=candidate, label_run_id="label-x",
                 problem_id="gsm8k:1:abcd", task="gsm8k", model="tiny", verifier="tiny",
                 label=label, source=source, score=1.0, reason="", passes=3, fails=0,  # type: ignore[arg-type]
                 unknown=0, confirmed=0, dismissed=0, reference_match=match, confidence=0.5,
                 calibrated=False, rule=RULE)


def test_the_labels_file_merges_by_candidate(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    write_labels(path, [make_label("a"), make_label("b")])
    merged = write_labels(path, [make_label("a", "wrong", match=False)])
    assert [(x.candidate_id, x.label) for x in merged] == [("a", "wrong"), ("b", "correct")]
    assert read_labels(path) == merged
    path.write_text("{}\n")
    with pytest.raises(InputError, match=r"labels\.jsonl:1"):
        read_labels(path)


def test_precision_counts_verifier_labels_against_references() -> None:
    labels = [make_label("a"), make_label("b", match=False), make_label("c", match=None),
              make_label("d", "wrong", match=False), make_label("e", source="reference")]
    found = precision(labels)
    assert (found.correct, found.correct_agree, found.wrong, found.wrong_agree) == (2, 1, 1, 1)
    assert found.correct_precision == 0.5


def test_task_of_reads_the_eval_problem_id() -> None:
    assert task_of("gsm8k:12:ab34cd56") == "gsm8k"
    assert task_of("0f3a") == ""
