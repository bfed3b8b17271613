"""Label precision against GSM8K reference answers, and the dataset sizes it yields.

    python benchmarks/label_gsm8k.py --limit 16 -n 2 -k 2 --model embedded

Takes model-written GSM8K solutions (shared/data/gsm8k/model_solutions_dev.jsonl:
each with ``is_correct``, whether its final answer is right), half right and
half wrong, picked by a seeded draw. Labels them by scaled verification with
the reference answers turned off (they would otherwise decide the labels
themselves), then measures the labels against the references:

- precision of *correct*: of the solutions labelled correct, the share whose
  answer is right; precision of *wrong*: of those labelled wrong, the share
  whose answer is wrong; coverage: the share that got a label at all;
- then exports every format from the labels and counts the rows.

A GSM8K answer line ``A: 26`` is rewritten as ``\\boxed{26}`` and the
calculator annotations ``<<16-3=13>>`` are dropped, so that the engine reads
the answer as it reads a candidate's. The store is a fresh FANSI_HOME under
--out unless --home is given (the call cache then makes a rerun free).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import resource
import time
from pathlib import Path
from typing import Any

from fansi.config import load_settings
from fansi.learn.export import FORMATS, Filters, export
from fansi.learn.labelling import label_targets, solution_targets
from fansi.learn.labels import LabelRule, summary, write_labels
from fansi.store import Store

DATA = (Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k"
        / "model_solutions_dev.jsonl")
ANSWER = re.compile(r"^A:\s*(.+?)\s*$", re.MULTILINE)
CALCULATOR = re.compile(r"<<[^>]*>>")


def as_candidate(text: str) -> str:
    return ANSWER.sub(lambda m: f"The answer is \\boxed{{{m.group(1)}}}.",
                      CALCULATOR.sub("", text))


def reference(text: str) -> str:
    found = ANSWER.findall(text)
    return found[-1] if found else ""


def pick(rows: list[dict[str, Any]], limit: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    right = [r for r in rows if r["is_correct"]]
    wrong = [r for r in rows if not r["is_correct"]]
    rng.shuffle(right)
    rng.shuffle(wrong)
    return right[: limit // 2] + wrong[: limit - limit // 2]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("-n", type=int, default=2)
    parser.add_argument("-k", type=int, default=2)
    parser.add_argument("-m", type=int, default=1)
    parser.add_argument("--verify-tokens", type=int, default=640)
    parser.add_argument("--checks", default="deterministic")
    parser.add_argument("--out", type=Path, default=Path("bench-label-gsm8k"))
    parser.add_argument("--home", type=Path)
    args = parser.parse_args()

    rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    chosen = pick(rows, args.limit, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    given = args.out / "solutions.jsonl"
    given.write_text("".join(json.dumps({
        "problem": r["question"], "solution": as_candidate(r["solution"]),
        "answer": reference(r["reference"]), "id": r["id"]}) + "\n" for r in chosen))
    right = {r["id"]: bool(r["is_correct"]) for r in chosen}

    settings = load_settings({"home": args.home or args.out / "home", "model": args.model,
                              "verify_tokens": args.verify_tokens, "checks": args.checks})
    rule = LabelRule(n=args.n, k=args.k, m=args.m, use_reference=False)
    started = time.monotonic()
    with Store.open(settings.store_path) as store:
        targets = solution_targets(given, max_chars=settings.max_problem_chars)
        labels = await label_targets(
            targets, settings, rule, store=store,
            on_label=lambda x: print(f"{x.problem_id}: {x.label} ({x.source}) "
                                     f"{x.passes}/{rule.n} pass", flush=True))
        seconds = time.monotonic() - started
        write_labels(args.out / "labels.jsonl", labels)
        sizes = {}
        for fmt in FORMATS:
            done = export(fmt, labels, store, args.out / "export" / fmt,
                          filters=Filters(sources=("verifier", "check")))
            sizes[fmt] = done.rows
    truth = [right[t.problem.id] for t in targets]
    correct = [ok for x, ok in zip(labels, truth, strict=True) if x.label == "correct"]
    wrong = [ok for x, ok in zip(labels, truth, strict=True) if x.label == "wrong"]
    report = {
        "model": args.model, "solutions": len(labels), "right": sum(right.values()),
        "rule": rule.model_dump(),
        "labelled_correct": len(correct),
        "correct_precision": sum(correct) / len(correct) if correct else None,
        "labelled_wrong": len(wrong),
        "wrong_precision": sum(not ok for ok in wrong) / len(wrong) if wrong else None,
        "wrong_by_source": {s: sum(x.source == s and x.label == "wrong" for x in labels)
                            for s in ("verifier", "check")},
        "coverage": (len(correct) + len(wrong)) / len(labels),
        "summary": summary(labels),
        "export_rows": sizes,
        "seconds": round(seconds, 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
