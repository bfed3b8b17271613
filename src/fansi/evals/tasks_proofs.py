"""Proofs (IMO-ProofBench): fansi writes a proof, a grader scores it 0-7.

The grader is the same model, prompted as a marker (``prompts/grade.md``)
with the problem, the reference solution and the problem's grading
guidelines. It answers in the four ProofBench bands (7 correct, 6 almost,
1 partial, 0 incorrect). Its grade is read only from its own reply, from the
last JSON object, and a grade object copied from the proof is not a grade.

Each proof is also written to ``proofs/<id>.md`` in the output folder so that
people can grade it; ``--human-grades FILE`` (CSV with columns id, grade, or
JSONL of ``{"id", "grade"}``) then reports how well the grader agrees with
them (Pearson r, mean absolute error).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fansi.backends import Backend
from fansi.engine.budget import derive_seed
from fansi.engine.search import digest
from fansi.errors import BackendError, InputError
from fansi.evals import plots
from fansi.evals.data import Item, ProofItem
from fansi.evals.metrics import mae, mean, pearson, wilson
from fansi.evals.report import Summary, Table, ci, fraction, num
from fansi.evals.runner import CallCost, Cost, Env, problem_id, run_search
from fansi.inputs import decode
from fansi.parse import last_json_object
from fansi.prompts import fence, load
from fansi.records import GenerateParams, Message, Problem

GRADES = (0, 1, 6, 7)
GRADE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "assessment": {"type": "string"},
        "grade": {"enum": list(GRADES)},
    },
    "required": ["assessment", "grade"],
    "additionalProperties": False,
}


def grade_messages(item: ProofItem, proof: str) -> list[Message]:
    """The messages asking the grader to mark ``proof`` against the item's reference."""
    problem = fence("PROBLEM", item.problem)
    reference = fence("REFERENCE", item.reference, avoid=(item.problem,))
    guidelines = fence("GUIDELINES", item.guidelines, avoid=(item.problem, item.reference))
    marked = fence("PROOF", proof, avoid=(item.problem, item.reference, item.guidelines))
    return load("grade").render(problem=problem.render(), reference=reference.render(),
                                guidelines=guidelines.render(), proof=marked.render(),
                                proof_code=marked.code)


def _objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object in ``text``, nested ones included."""
    decoder = json.JSONDecoder()
    found = []
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def parse_grade(text: str, proof: str) -> tuple[int | None, str]:
    """The grade (0-7) and assessment in a grader's reply, or None and the reason."""
    value = last_json_object(text)
    if value is None:
        return None, "no complete JSON object in the grader's reply"
    grade = value.get("grade")
    if isinstance(grade, bool) or not isinstance(grade, int | float) or grade not in range(8):
        return None, f"grade {grade!r} is not a whole number from 0 to 7"
    if value in _objects(proof):
        return None, "the grade object is copied from the proof"
    assessment = value.get("assessment")
    return int(grade), assessment.strip() if isinstance(assessment, str) else ""


async def grade(backend: Backend, item: ProofItem, proof: str, *, max_tokens: int,
                temperature: float, seed: int) -> tuple[int | None, str]:
    """One grading call; a failed or cut-off call is no grade (None) with a reason."""
    params = GenerateParams(max_tokens=max_tokens, temperature=temperature,
                            seed=derive_seed(seed, "grade", digest(proof)),
                            json_schema=GRADE_SCHEMA)
    try:
        completion = await backend.generate(grade_messages(item, proof), params)
    except BackendError as exc:
        return None, f"the grading call failed: {exc.message}"
    if completion.stop_reason != "stop":
        return None, f"the grader's reply was cut off ({completion.stop_reason})"
    return parse_grade(completion.text, proof)


async def run_item(env: Env, item: Item) -> tuple[dict[str, Any], list[CallCost]]:
    assert isinstance(item, ProofItem)
    problem = Problem(item.problem, None, problem_id(env.options.task, item.id, item.problem))
    main = await run_search(env, problem, env.settings)
    best = main.result.best
    log: list[CallCost] = []
    mark, reason = None, "no proof was written"
    if best is not None and best.solution.strip():
        config = main.search.config
        mark, reason = await grade(env.backend_for(main.result.run_id, log), item,
                                   best.solution, max_tokens=config.verify_tokens,
                                   temperature=config.temperature, seed=config.seed)
    proofs = env.options.out / "proofs"
    proofs.mkdir(exist_ok=True)
    (proofs / f"{_safe(item.id)}.md").write_text(
        f"# {item.id} ({item.category}, {item.level})\n\n## Problem\n\n{item.problem}\n\n"
        f"## Proof by fansi (verdict {main.result.verdict})\n\n"
        f"{best.solution if best else '(none)'}\n\n"
        f"## Grader: {mark if mark is not None else 'no grade'}\n\n{reason}\n",
        encoding="utf-8")
    row = {"id": item.id, "stratum": item.stratum, "category": item.category,
           "level": item.level, "run_id": main.result.run_id,
           "fansi_verdict": main.result.verdict, "fansi_score": main.result.score,
           "fansi_confidence": main.result.confidence,
           "proof_chars": len(best.solution) if best else 0,
           "grade": mark, "grade_reason": reason[:500],
           **main.cost.fields("fansi_"), **Cost.of(log).fields("grader_")}
    return row, main.calls + log


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def read_human_grades(path: Path) -> dict[str, float]:
    """Human grades by item id, from a CSV (columns id, grade) or a JSONL file.

    Raises:
        InputError: If the file cannot be read, or a grade is not a number from 0 to 7.
    """
    try:
        text = decode(path.read_bytes(), source=str(path))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    if path.suffix.lower() in (".jsonl", ".json"):
        try:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} is not JSONL: {exc.msg}") from exc
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
    grades: dict[str, float] = {}
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or "id" not in row or "grade" not in row:
            raise InputError(f"{path}: row {number} needs an id and a grade")
        try:
            value = float(row["grade"])
        except (TypeError, ValueError) as exc:
            raise InputError(f"{path}: row {number} has grade {row['grade']!r}") from exc
        if not 0 <= value <= 7:
            raise InputError(f"{path}: row {number} has grade {value}, outside 0-7")
        grades[str(row["id"])] = value
    return grades


def describe(row: Mapping[str, Any]) -> str:
    mark = "no grade" if row["grade"] is None else f"grade {row['grade']}/7"
    return f"verdict {row['fansi_verdict']}, {mark}"


def summarize(rows: Sequence[Mapping[str, Any]], out: Path, title: str,
              human_grades: Path | None) -> Summary:
    summary = Summary()
    graded = [r for r in rows if r["grade"] is not None]
    marks = [float(r["grade"]) for r in graded]
    full = wilson(sum(m == 7 for m in marks), len(rows))
    almost = wilson(sum(m >= 6 for m in marks), len(rows))
    average = mean(marks)
    summary.metrics.update({"grade.mean": average, "grade.correct": full.value,
                            "grade.almost_or_correct": almost.value,
                            "grade.ungraded": len(rows) - len(graded),
                            "fansi.tokens": mean([r["fansi_tokens"] for r in rows]),
                            "grader.tokens": mean([r["grader_tokens"] for r in rows])})
    summary.tables.append(Table(
        "Grades", ["proofs", "mean grade (0-7)", "7 (correct)", "95% CI", ">= 6 (almost)",
                   "95% CI", "no grade"],
        [[str(len(rows)), num(average, 2), fraction(full), ci(full), fraction(almost),
          ci(almost), str(len(rows) - len(graded))]],
        note="A proof without a grade (no proof, or an unreadable grader reply) counts as "
             "not correct in the shares; the mean is over graded proofs."))
    summary.tables.append(Table(
        "Per problem", ["id", "category", "level", "fansi verdict", "grade", "tokens"],
        [[r["id"], r["category"], r["level"], r["fansi_verdict"],
          "–" if r["grade"] is None else str(r["grade"]), num(r["fansi_tokens"])]
         for r in rows]))
    pairs: list[tuple[float, float]] = []
    if human_grades is not None:
        human = read_human_grades(human_grades)
        pairs = [(human[r["id"]], float(r["grade"])) for r in graded if r["id"] in human]
        r_value = pearson([p[0] for p in pairs], [p[1] for p in pairs])
        error = mae([p[0] for p in pairs], [p[1] for p in pairs])
        summary.metrics.update({"human.pearson": r_value, "human.mae": error,
                                "human.pairs": len(pairs)})
        summary.tables.append(Table(
            "Agreement with human grades", ["pairs", "Pearson r", "mean absolute error"],
            [[str(len(pairs)), num(r_value, 3), num(error, 2)]],
            note=f"Human grades from `{human_grades}`, matched by id to graded proofs."))
    summary.notes.append("The grader is the eval's own model with the reference solution and "
                         "the grading guidelines; it is not an independent judge.")
    if rows:
        summary.plots.append(plots.grades(out / "grades.png", marks, pairs,
                                          title=f"{title}: grades"))
    return summary


__all__ = ["GRADE_SCHEMA", "grade", "grade_messages", "parse_grade", "read_human_grades",
           "run_item", "summarize"]
