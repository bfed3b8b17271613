"""``fansi export``: labelled candidates as Hugging Face datasets, in TRL's columns.

Formats (each row also names the run and candidate it came from, and the
source of its label):

- ``sft``: ``messages`` (the writer's prompt, then a verified solution).
- ``dpo``: ``prompt`` / ``chosen`` / ``rejected``: a verified and a refuted
  candidate of the same problem; a refinement verified against the parent it
  revised is paired first (``pair == "lineage"``), then the rest in order.
- ``verifier``: ``prompt`` / ``completion``: the verification prompt and a
  verdict that agrees with the label (a passing analysis of a correct
  candidate, a failing analysis whose issue was confirmed, or, for a
  candidate refuted by an executed check, a verdict written from the check,
  marked ``verdict_source == "check"``), with its ``score``.
- ``prm``: ``prompt`` / ``completions`` / ``labels``: the solution's steps
  (``Step N:`` sections, else lines, as the executed checks split them), each
  True, up to and including the first step that a confirmed issue or a failed
  check locates (False); a wrong candidate whose error has no step is left
  out, and so is a correct one that only its reference answer vouches for.
- ``grpo``: ``prompt`` (the writer's prompt), ``problem`` and ``solution``:
  the reference answer where the problem has one (``solution_source ==
  "reference"``), else the answer of a verified candidate.

A row is never made from an unlabelled candidate, and only the label sources
asked for are used (by default the verifier's and the executed checks', not
the reference answers'); ``export.json`` beside the data counts the rows by
source. Nothing leaves the machine unless ``push_to_hub`` names a repository.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from fansi.config import WriterPrompt
from fansi.engine.checked import VOTES, check_issue
from fansi.engine.executed import split_steps
from fansi.engine.steps import generate_messages, verify_messages
from fansi.errors import ExtraNotInstalled, InputError
from fansi.learn.labels import Label, LabelRule, LabelSource, issue_states
from fansi.records import Candidate, CheckResult, Issue, Message, Problem, Verification
from fansi.store import CandidateNode, Store

Format = Literal["sft", "dpo", "verifier", "prm", "grpo"]
FileFormat = Literal["parquet", "jsonl"]
FORMATS: tuple[Format, ...] = get_args(Format)
Row = dict[str, Any]


@dataclass(frozen=True)
class Filters:
    """Which labels an export uses. Empty tuples mean "all"."""

    runs: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    sources: tuple[LabelSource, ...] = ("verifier", "check")
    min_confidence: float | None = None
    max_confidence: float | None = None

    def keep(self, label: Label) -> bool:
        return (label.label != "unlabelled"
                and label.source in self.sources
                and (not self.runs or label.run_id in self.runs)
                and (not self.tasks or label.task in self.tasks)
                and (not self.models or label.model in self.models)
                and (self.min_confidence is None or label.confidence >= self.min_confidence)
                and (self.max_confidence is None or label.confidence <= self.max_confidence))


@dataclass(frozen=True)
class Labelled:
    """A label with the records it rests on.

    Attributes:
        label: The label.
        problem: The problem.
        candidate: The labelled candidate, from its own run.
        graded: The candidate as the label run graded it, with the n analyses,
            their meta-checks and the executed checks.
    """

    label: Label
    problem: Problem
    candidate: Candidate
    graded: CandidateNode


def gather(labels: Iterable[Label], store: Store) -> list[Labelled]:
    """The stored records of each label, or an InputError for one the store lacks."""
    found: list[Labelled] = []
    candidates: dict[str, dict[str, Candidate]] = {}
    for label in labels:
        if label.run_id not in candidates:
            candidates[label.run_id] = {c.id: c for c in store.candidates(label.run_id)}
        candidate = candidates[label.run_id].get(label.candidate_id)
        tree = store.run_tree(label.label_run_id)
        if candidate is None or tree is None or not tree.candidates:
            raise InputError(
                f"the label of candidate {label.candidate_id} (run {label.run_id}) points at "
                f"records that are not in {store.path}",
                hint="Export from the FANSI_HOME the labels were made in, or label again.")
        found.append(Labelled(label, tree.problem, candidate, tree.candidates[0]))
    return found


def messages(listed: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in listed]


def reply(candidate: Candidate, prompt: WriterPrompt) -> str:
    """The candidate as the writer's reply: its solution and, for the ``full``
    prompt, its own self-evaluation (which ends in its self-score)."""
    if prompt == "plain" or not candidate.self_evaluation:
        return candidate.solution
    return f"## Solution\n{candidate.solution}\n\n## Self-evaluation\n{candidate.self_evaluation}"


def _origin(item: Labelled) -> Row:
    label = item.label
    return {"run_id": label.run_id, "candidate_id": label.candidate_id,
            "label_run_id": label.label_run_id, "problem_id": label.problem_id,
            "label_source": label.source, "confidence": label.confidence}


def sft_rows(items: Sequence[Labelled], prompt: WriterPrompt = "full") -> list[Row]:
    return [{"messages": [*messages(generate_messages(item.problem, prompt)),
                          {"role": "assistant", "content": reply(item.candidate, prompt)}],
             **_origin(item)}
            for item in items if item.label.label == "correct"]


def dpo_rows(items: Sequence[Labelled], prompt: WriterPrompt = "full") -> list[Row]:
    by_problem: dict[str, list[Labelled]] = defaultdict(list)
    for item in items:
        by_problem[item.label.problem_id].append(item)
    rows: list[Row] = []
    for group in by_problem.values():
        good = [i for i in group if i.label.label == "correct"]
        bad = [i for i in group if i.label.label == "wrong"]
        pairs: list[tuple[Labelled, Labelled, str]] = []
        for chosen in good:
            pairs += [(chosen, parent, "lineage") for parent in bad
                      if parent.label.run_id == chosen.label.run_id
                      and parent.candidate.id in chosen.candidate.parents]
        paired_good = {id(c) for c, _, _ in pairs}
        paired_bad = {id(r) for _, r, _ in pairs}
        rest = zip([i for i in good if id(i) not in paired_good],
                   [i for i in bad if id(i) not in paired_bad], strict=False)
        pairs += [(chosen, rejected, "problem") for chosen, rejected in rest]
        for chosen, rejected, kind in pairs:
            chosen_text, rejected_text = (reply(chosen.candidate, prompt),
                                          reply(rejected.candidate, prompt))
            if chosen_text == rejected_text:
                continue
            rows.append({
                "prompt": messages(generate_messages(chosen.problem, prompt)),
                "chosen": [{"role": "assistant", "content": chosen_text}],
                "rejected": [{"role": "assistant", "content": rejected_text}],
                "pair": kind,
                "problem_id": chosen.label.problem_id,
                "chosen_run_id": chosen.label.run_id,
                "chosen_candidate_id": chosen.label.candidate_id,
                "chosen_source": chosen.label.source,
                "rejected_run_id": rejected.label.run_id,
                "rejected_candidate_id": rejected.label.candidate_id,
                "rejected_source": rejected.label.source,
            })
    return rows


def _refuting(node: CandidateNode) -> list[CheckResult]:
    return [c for c in node.checks if not c.passed and c.kind not in VOTES]


def _agreeing(item: Labelled) -> list[tuple[Verification, list[Issue]]]:
    """The label run's analyses that agree with the label, each with the issues
    that stand (confirmed ones for a verifier label, all for a reference one)."""
    rule: LabelRule = item.label.rule
    checks = [mc for node in item.graded.verifications for mc in node.meta_checks]
    agreeing: list[tuple[Verification, list[Issue]]] = []
    for node in item.graded.verifications:
        v = node.verification
        if v.score is None:
            continue
        if item.label.label == "correct":
            if v.score >= 1:
                agreeing.append((v, []))
            continue
        if v.score >= 1:
            continue
        states = issue_states(v, checks, rule.m)
        if item.label.source == "verifier" and "confirmed" in states:
            agreeing.append((v, [i for i, s in zip(v.issues, states, strict=True)
                                 if s == "confirmed"]))
        elif item.label.source == "reference" and "dismissed" not in states:
            agreeing.append((v, list(v.issues)))
    return agreeing


def check_verdict(checks: Sequence[CheckResult]) -> str:
    """A verdict, in the verifier's own JSON form, written from failed executed checks."""
    issues = [check_issue(c) for c in checks]
    return json.dumps({
        "check": "An executed check refutes the solution: "
                 + "; ".join(c.detail or c.name for c in checks),
        "issues": [{"location": i.location, "description": i.description,
                    "severity": i.severity} for i in issues],
        "score": 0,
    }, ensure_ascii=False)


def verifier_rows(items: Sequence[Labelled]) -> list[Row]:
    rows: list[Row] = []
    for item in items:
        graded = item.graded.candidate
        prompt = messages(verify_messages(item.problem, graded))
        base = {**_origin(item), "label": item.label.label}
        refuting = _refuting(item.graded)
        if item.label.source == "check" and refuting:
            rows.append({"prompt": prompt,
                         "completion": [{"role": "assistant", "content": check_verdict(refuting)}],
                         "score": 0.0, "verification_id": "", "verdict_source": "check", **base})
            continue
        for verification, _ in _agreeing(item):
            rows.append({"prompt": prompt,
                         "completion": [{"role": "assistant", "content": verification.raw}],
                         "score": verification.score, "verification_id": verification.id,
                         "verdict_source": "verifier", **base})
    return rows


_LOCATION = re.compile(r"\b(step|line)\s+(\d+)\b", re.IGNORECASE)


def first_error(locations: Sequence[str], steps: Sequence[tuple[str, str]]) -> int | None:
    """The index of the earliest step that any location names ("step 3", "Line 2")."""
    index = {name.lower(): i for i, (name, _) in enumerate(steps)}
    found = [index[f"{m.group(1).lower()} {int(m.group(2))}"]
             for where in locations for m in _LOCATION.finditer(where)
             if f"{m.group(1).lower()} {int(m.group(2))}" in index]
    return min(found) if found else None


def prm_rows(items: Sequence[Labelled]) -> list[Row]:
    rows: list[Row] = []
    for item in items:
        steps = split_steps(item.candidate.solution)
        if not steps:
            continue
        if item.label.label == "correct":
            if item.label.source != "verifier":
                continue  # a matching answer says nothing about the steps
            labels = [True] * len(steps)
        else:
            where = [c.location for c in _refuting(item.graded)]
            where += [i.location for _, issues in _agreeing(item) for i in issues]
            first = first_error(where, steps)
            if first is None:
                continue
            steps = steps[: first + 1]
            labels = [True] * first + [False]
        rows.append({"prompt": item.problem.text, "completions": [text for _, text in steps],
                     "labels": labels, **_origin(item)})
    return rows


def grpo_rows(items: Sequence[Labelled], prompt: WriterPrompt = "full") -> list[Row]:
    rows: list[Row] = []
    seen: set[str] = set()
    ordered = sorted(items, key=lambda i: i.problem.answer is None)  # references first
    for item in ordered:
        pid = item.label.problem_id
        if pid in seen:
            continue
        if item.problem.answer is not None:
            solution, source, origin = item.problem.answer, "reference", ("", "")
        elif item.label.label == "correct" and item.candidate.answer:
            solution, source = item.candidate.answer, "verifier"
            origin = (item.label.run_id, item.label.candidate_id)
        else:
            continue
        seen.add(pid)
        rows.append({"prompt": messages(generate_messages(item.problem, prompt)),
                     "problem": item.problem.text, "solution": solution,
                     "solution_source": source, "problem_id": pid,
                     "run_id": origin[0], "candidate_id": origin[1]})
    return rows


def rows_for(fmt: Format, items: Sequence[Labelled], prompt: WriterPrompt = "full") -> list[Row]:
    """The rows of one format."""
    if fmt == "sft":
        return sft_rows(items, prompt)
    if fmt == "dpo":
        return dpo_rows(items, prompt)
    if fmt == "verifier":
        return verifier_rows(items)
    if fmt == "prm":
        return prm_rows(items)
    return grpo_rows(items, prompt)


def features(fmt: Format) -> Any:
    """The dataset's column types, so that an empty export still has its columns."""
    from datasets import Features, Value

    text, number = Value("string"), Value("float64")
    chat = [{"role": Value("string"), "content": Value("string")}]
    origin = {"run_id": text, "candidate_id": text, "label_run_id": text, "problem_id": text,
              "label_source": text, "confidence": number}
    columns: dict[Format, dict[str, Any]] = {
        "sft": {"messages": chat, **origin},
        "dpo": {"prompt": chat, "chosen": chat, "rejected": chat, "pair": text,
                "problem_id": text, "chosen_run_id": text, "chosen_candidate_id": text,
                "chosen_source": text, "rejected_run_id": text, "rejected_candidate_id": text,
                "rejected_source": text},
        "verifier": {"prompt": chat, "completion": chat, "score": number,
                     "verification_id": text, "verdict_source": text, "label": text, **origin},
        "prm": {"prompt": text, "completions": [text], "labels": [Value("bool")], **origin},
        "grpo": {"prompt": chat, "problem": text, "solution": text, "solution_source": text,
                 "problem_id": text, "run_id": text, "candidate_id": text},
    }
    return Features(columns[fmt])


@dataclass(frozen=True)
class Exported:
    """What an export wrote."""

    format: Format
    out: Path
    rows: int
    files: tuple[Path, ...]
    by_source: dict[str, int] = field(default_factory=dict)


def _sources(fmt: Format, rows: Sequence[Row]) -> dict[str, int]:
    if fmt == "dpo":
        return dict(Counter(f"{r['chosen_source']}/{r['rejected_source']}" for r in rows))
    if fmt == "grpo":
        return dict(Counter(r["solution_source"] for r in rows))
    return dict(Counter(r["label_source"] for r in rows))


def export(fmt: Format, labels: Iterable[Label], store: Store, out: Path, *,
           filters: Filters | None = None, file_format: FileFormat = "parquet",
           prompt: WriterPrompt = "full", push_to_hub: str | None = None) -> Exported:
    """Write one format's dataset to ``out``.

    ``out/dataset`` is the ``save_to_disk`` copy (``datasets.load_from_disk``
    reads it), ``out/<format>.parquet`` or ``.jsonl`` the flat file, and
    ``out/export.json`` what was exported: the filters, the row count and the
    rows per label source.

    Args:
        fmt: The format.
        labels: Labels, e.g. :func:`fansi.learn.labels.read_labels`.
        store: The store the labels' runs are in.
        out: The output folder.
        filters: Which labels to use (by default: every run, and the
            verifier's and checks' labels, not the reference answers').
        file_format: The flat file beside the dataset.
        prompt: The writer prompt the sft, dpo and grpo prompts are made with.
        push_to_hub: A Hub repository to push to; the only online path.

    Returns:
        What was written.
    """
    try:
        from datasets import Dataset
    except ImportError as exc:
        raise ExtraNotInstalled("learn", "fansi export") from exc
    chosen = filters or Filters()
    items = gather([x for x in labels if chosen.keep(x)], store)
    rows = rows_for(fmt, items, prompt)
    columns = features(fmt)
    # An empty list carries no columns; an empty dict of them does.
    dataset = (Dataset.from_list(rows, features=columns) if rows
               else Dataset.from_dict({name: [] for name in columns}, features=columns))
    out.mkdir(parents=True, exist_ok=True)
    # One shard when empty: datasets writes none for 0 rows, and cannot load that.
    dataset.save_to_disk(str(out / "dataset"), num_shards=None if rows else 1)
    flat = out / f"{fmt}.{file_format}"
    if file_format == "parquet":
        dataset.to_parquet(str(flat))
    else:
        dataset.to_json(str(flat), lines=True, force_ascii=False)
    by_source = _sources(fmt, rows)
    manifest = {"format": fmt, "rows": len(rows), "by_source": by_source,
                "labels_used": len(items), "prompt": prompt,
                "filters": {"runs": list(chosen.runs), "tasks": list(chosen.tasks),
                            "models": list(chosen.models), "sources": list(chosen.sources),
                            "min_confidence": chosen.min_confidence,
                            "max_confidence": chosen.max_confidence}}
    (out / "export.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    if push_to_hub:
        dataset.push_to_hub(push_to_hub)
    return Exported(fmt, out, len(rows), (out / "dataset", flat, out / "export.json"),
                    by_source)


__all__ = [
    "FORMATS",
    "Exported",
    "FileFormat",
    "Filters",
    "Format",
    "Labelled",
    "check_verdict",
    "export",
    "features",
    "first_error",
    "gather",
    "reply",
    "rows_for",
]
