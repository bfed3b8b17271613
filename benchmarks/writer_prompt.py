"""One greedy sample per GSM8K problem with each writer prompt: full vs plain.

    python benchmarks/writer_prompt.py --limit 40 [--model embedded]

The shipped ("full") prompt asks for a solution, a self-evaluation and a
self-score; the "plain" prompt asks for the solution alone. Both write at
temperature 0 on the same seeded, stratified subset of the dev file, through
the call cache in FANSI_HOME (a rerun makes no call). Items are split into
two halves by a hash of their id: the prompt is chosen on the *dev* half and
reported on the *held* half, which the choice never saw. Prints accuracy per
prompt and half, and McNemar's exact p on the paired outcomes.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from fansi.backends import create_backend
from fansi.checks import CheckPool, equivalent
from fansi.config import load_settings
from fansi.engine.budget import SearchConfig
from fansi.engine.search import Search
from fansi.evals import data
from fansi.evals.calibration import is_dev
from fansi.evals.metrics import mcnemar, wilson
from fansi.records import Problem
from fansi.store import CachedBackend, Store

PROMPTS = ("full", "plain")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--data", type=Path)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    settings = load_settings({"model": args.model, "temperature": 0.0})
    path = args.data or data.default_path("gsm8k", root=settings.data_dir)
    items = data.stratified_subset(data.load_gsm8k(path), args.limit, settings.seed)
    backend = create_backend(settings.model, settings)
    gate = asyncio.Semaphore(args.concurrency)
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        with Store.open(settings.store_path) as store:
            async with CheckPool() as checks:

                async def one(item: data.AnswerItem, prompt: str) -> dict[str, Any]:
                    problem = Problem(item.problem, item.answer, f"gsm8k:{item.id}")
                    config = SearchConfig.from_settings(
                        settings.model_copy(update={"writer_prompt": prompt}))
                    run_id = f"writer-{prompt}-{item.id}"
                    stack = CachedBackend(backend, store)
                    async with gate:
                        candidate = await Search(problem, stack, config, run_id=run_id).sample(0)
                    answer = candidate.answer if candidate else None
                    right = bool(answer) and await equivalent(item.answer, answer or "",
                                                              pool=checks) is True
                    row = {"id": item.id, "prompt": prompt, "answer": answer,
                           "reference": item.answer, "correct": right,
                           "dev": is_dev(item.id, settings.seed)}
                    print(row, flush=True)
                    return row

                jobs = [one(i, p) for i in items if isinstance(i, data.AnswerItem)
                        for p in PROMPTS]
                rows = list(await asyncio.gather(*jobs))
    finally:
        await backend.aclose()

    print(f"\n{len(items)} GSM8K dev problems, model {args.model}, greedy, "
          f"{time.monotonic() - started:.0f}s\n")
    print("| half | prompt | accuracy | 95% CI |")
    print("|---|---|---|---|")
    for half, wanted in (("dev (choose)", True), ("held (report)", False), ("all", None)):
        outcome: dict[str, list[bool]] = {}
        for prompt in PROMPTS:
            chosen = sorted((r for r in rows if r["prompt"] == prompt
                             and (wanted is None or r["dev"] == wanted)), key=lambda r: r["id"])
            outcome[prompt] = [r["correct"] for r in chosen]
            p = wilson(sum(outcome[prompt]), len(outcome[prompt]))
            print(f"| {half} | {prompt} | {p.value:.1%} ({sum(outcome[prompt])}/"
                  f"{len(outcome[prompt])}) | {p.low:.1%}-{p.high:.1%} |")
        test = mcnemar(outcome["plain"], outcome["full"])
        print(f"| {half} | plain vs full | only plain right {test.only_a}, only full right "
              f"{test.only_b} | McNemar p = {test.p_value:.3f} |")


if __name__ == "__main__":
    asyncio.run(main())
