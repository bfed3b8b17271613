"""Verifier quality on labelled solutions (ProcessBench, GSM8K model solutions).

The verifier judges each labelled solution two ways, with the same model:

- **one verifier sample**: verification 0 alone, without meta-checking or
  executed checks;
- **fansi**: executed checks first (a refuted solution is flagged with its
  counterexample and not sent to the verifier), then all k verifier samples
  with meta-checks, aggregated as ``fansi verify`` does (pass: all k pass;
  fail: a failing verdict that meta-checking did not dismiss; unknown otherwise).

Sample 0 is the same call in both (seeds follow the solution's text and the
sample's index), so the call cache makes it once.

"Flagged" means a failing verdict. Precision, recall and F1 are for the class
"wrong"; the false-pass rate is the share of wrong solutions passed; an
unknown verdict is neither a flag nor a pass. ProcessBench's steps are
numbered ``Step 1: ...`` in the text shown to the verifier, and the earliest
step an issue's location names (``step N``) is compared with the labelled
first wrong step. As in ProcessBench, a wrong solution counts as *located*
when it is flagged at exactly that step, a correct one when it is passed, and
their harmonic mean is reported as ProcessBench's F1.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fansi.engine.checked import Checked, check_issue, outcome
from fansi.engine.search import Search
from fansi.evals import plots
from fansi.evals.data import Item, SolutionItem
from fansi.evals.metrics import flag_stats, harmonic, wilson
from fansi.evals.report import Summary, Table, fraction, num, pct
from fansi.evals.runner import CallCost, Cost, Env, problem_id, run_search
from fansi.records import Budget, Issue, Problem

METHODS = (("single", "one verifier sample"), ("fansi", "fansi (k samples + meta-checks)"))
VERDICTS = ("fail", "pass", "unknown")

_STEP = re.compile(r"\bsteps?\s*(?:#|no\.?|number)?\s*(\d+)", re.IGNORECASE)


def step_named(location: str) -> int | None:
    """The first step number an issue's location names ("Step 3", "steps 2-3": 2, 2)."""
    found = _STEP.search(location)
    return int(found.group(1)) if found else None


def earliest_step(issues: Sequence[Issue]) -> int | None:
    steps = [s for s in (step_named(i.location) for i in issues) if s is not None]
    return min(steps) if steps else None


def standing_issues(checked: Checked) -> list[Issue]:
    """Failed executed checks (located where the false claim is), then issues of
    failing verdicts that meta-checking did not dismiss, in report order."""
    dismissed = {(c.verification_id, c.issue_index) for c in checked.meta_checks
                 if c.real is False}
    return [check_issue(c) for c in checked.refuted()] + [
        issue for v in checked.verifications if outcome(v) == "fail"
        for index, issue in enumerate(v.issues) if (v.id, index) not in dismissed]


async def run_item(env: Env, item: Item) -> tuple[dict[str, Any], list[CallCost]]:
    assert isinstance(item, SolutionItem)
    problem = Problem(item.problem, None, problem_id(env.options.task, item.id, item.problem))
    solution = item.solution.strip()
    main = await run_search(env, problem, env.settings, given=solution)
    (checked,) = main.search.ranked()

    # One verifier sample: verification 0 of the same candidate, no meta-check.
    log: list[CallCost] = []
    config = dataclasses.replace(main.search.config, k=1, schedule="fixed", meta_check=False,
                                 checks="none", budget=Budget())
    single = Search(problem, env.backend_for(main.result.run_id, log), config,
                    run_id=main.result.run_id)
    single_result = await single.grade(solution, id=checked.candidate.id)
    single_verdict = single_result.verdict
    single_issues = [i for v in single_result.verifications if outcome(v) == "fail"
                     for i in v.issues]

    label_step = item.first_wrong + 1 if item.first_wrong is not None else None
    row: dict[str, Any] = {"id": item.id, "stratum": item.stratum, "wrong": item.wrong,
                           "first_wrong_step": label_step, "run_id": main.result.run_id}
    for name, verdict, issues, cost in (
        ("single", single_verdict, single_issues, Cost.of(log)),
        ("fansi", main.result.verdict, standing_issues(checked), main.cost),
    ):
        step = earliest_step(issues) if verdict == "fail" else None
        row.update({
            f"{name}_verdict": verdict,
            f"{name}_flagged": verdict == "fail",
            f"{name}_step": step,
            f"{name}_located": (verdict == "fail" and step == label_step
                                if label_step is not None else None),
            **cost.fields(f"{name}_"),
        })
    row.update({"fansi_score": main.result.score, "fansi_confidence": main.result.confidence,
                "fansi_verifications": len(checked.verifications),
                "fansi_dismissed": sum(c.real is False for c in checked.meta_checks)})
    return row, main.calls + log


def describe(row: Mapping[str, Any]) -> str:
    label = "wrong" if row["wrong"] else "correct"
    if row.get("first_wrong_step"):
        label += f" at step {row['first_wrong_step']}"
    return (f"label {label}; one sample {row['single_verdict']}, fansi {row['fansi_verdict']}"
            + (f" at step {row['fansi_step']}" if row.get("fansi_step") else ""))


def summarize(rows: Sequence[Mapping[str, Any]], out: Path, title: str) -> Summary:
    summary = Summary()
    wrong = [bool(r["wrong"]) for r in rows]
    stepped = any(r.get("first_wrong_step") is not None for r in rows)
    table = []
    located_rows = []
    matrices: dict[str, list[list[int]]] = {}
    for name, label in METHODS:
        verdicts = [r[f"{name}_verdict"] for r in rows]
        stats = flag_stats(wrong, verdicts)
        tokens = sum(r[f"{name}_tokens"] for r in rows) / len(rows) if rows else None
        summary.metrics.update({
            f"{name}.precision": stats.precision, f"{name}.recall": stats.recall,
            f"{name}.f1": stats.f1, f"{name}.false_pass_rate": stats.false_pass_rate,
            f"{name}.unknown_rate": stats.unknown_rate, f"{name}.tokens": tokens,
        })
        table.append([label, pct(stats.precision), pct(stats.recall), pct(stats.f1),
                      pct(stats.false_pass_rate), pct(stats.unknown_rate), num(tokens, 0)])
        matrices[label] = [[sum(1 for w, v in zip(wrong, verdicts, strict=True)
                                if w == truth and v == verdict) for verdict in VERDICTS]
                           for truth in (True, False)]
        if stepped:
            wrong_rows = [r for r in rows if r["wrong"]]
            right_rows = [r for r in rows if not r["wrong"]]
            located = wilson(sum(bool(r[f"{name}_located"]) for r in wrong_rows),
                             len(wrong_rows))
            flagged = [r for r in wrong_rows if r[f"{name}_flagged"]]
            among = wilson(sum(bool(r[f"{name}_located"]) for r in flagged), len(flagged))
            passed = wilson(sum(r[f"{name}_verdict"] == "pass" for r in right_rows),
                            len(right_rows))
            pb_f1 = harmonic(located.value, passed.value)
            summary.metrics.update({f"{name}.located": located.value,
                                    f"{name}.located_if_flagged": among.value,
                                    f"{name}.correct_passed": passed.value,
                                    f"{name}.processbench_f1": pb_f1})
            located_rows.append([label, fraction(located), fraction(among), fraction(passed),
                                 pct(pb_f1)])
    summary.tables.append(Table(
        "Flagging wrong solutions",
        ["verifier", "precision", "recall", "F1", "false-pass rate", "unknown", "tokens / sol."],
        table,
        note=f"{sum(wrong)} wrong and {len(rows) - sum(wrong)} correct solution(s). A flag is "
             "a failing verdict; an unknown verdict is neither a flag nor a pass (it lowers "
             "recall but is no false pass)."))
    if located_rows:
        summary.tables.append(Table(
            "Locating the first wrong step",
            ["verifier", "wrong: first error located", "located, of those flagged",
             "correct: passed", "ProcessBench F1"], located_rows,
            note="Located: flagged, and the earliest step its standing issues name is the "
                 "labelled first wrong step. ProcessBench F1 is the harmonic mean of the first "
                 "and third columns."))
    reused = sum(r["single_reused_calls"] for r in rows)
    summary.notes.append(
        "Reused: verification 0 is one call shared by both verifiers; fansi adds samples "
        f"1..k-1 and the meta-checks. When the rows were computed, the call cache answered "
        f"{reused} of the one-sample verifier's {sum(r['single_calls'] for r in rows)} "
        "call(s) (fansi had made them).")
    if rows:
        summary.plots.append(plots.confusion(
            out / "confusion.png", matrices, rows=["wrong", "correct"], columns=VERDICTS,
            title=f"{title}: verdicts against labels"))
    return summary


__all__ = ["describe", "earliest_step", "run_item", "standing_issues", "step_named",
           "summarize"]
