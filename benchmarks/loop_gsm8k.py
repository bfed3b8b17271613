"""The loop on GSM8K problems: first candidate vs selected candidate, and the
tokens the adaptive schedule spends against the fixed n x k grid.

    python benchmarks/loop_gsm8k.py --limit 10 --effort low

Both schedules run on the same problems with the same seeds, so the fixed
grid reuses every sample the adaptive run drew (through the call cache) and
draws only what adaptive skipped; tokens are counted for every call, cached
or not, so each schedule's figure is what it would cost on its own. Wall
time is per pass; the fixed pass's is low because most of its calls come from
the cache (its call count says how many).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from fansi import api
from fansi.backends import create_backend
from fansi.checks import CheckPool, equivalent
from fansi.config import load_settings
from fansi.evals.data import reference_answer
from fansi.inputs import read_jsonl
from fansi.records import Problem
from fansi.store import Store

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "test_dev.jsonl"


async def correct(checks: CheckPool, problem: Problem, answer: str | None) -> bool:
    if answer is None or problem.answer is None:
        return False
    return await equivalent(problem.answer, answer, pool=checks) is True


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--effort", default="low")
    parser.add_argument("--out", type=Path, help="Write per-problem rows as JSONL here.")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="Problems in flight at once (the backend batches their calls).")
    args = parser.parse_args()

    base = load_settings({"model": args.model, "effort": args.effort})
    problems = read_jsonl(args.data, max_chars=base.max_problem_chars,
                          answer=reference_answer)[: args.limit]
    backend = create_backend(base.model, base)
    rows: list[dict[str, Any]] = []
    totals: dict[str, dict[str, float]] = {}
    try:
        async with CheckPool() as checks:
            for schedule in ("adaptive", "fixed"):
                settings = base.model_copy(update={"schedule": schedule})
                gate = asyncio.Semaphore(args.concurrency)
                started = time.monotonic()

                async def one(problem: Problem, settings: Any = settings,
                              gate: asyncio.Semaphore = gate) -> dict[str, Any]:
                    async with gate:
                        began = time.monotonic()
                        run_id = api.stable_run_id(problem, settings)
                        result = await api.asolve(problem, settings=settings, backend=backend,
                                                  run_id=run_id)
                        seconds = time.monotonic() - began
                    with Store.open(settings.store_path) as store:
                        first = next(c for c in store.candidates(run_id)
                                     if c.id.endswith("r0c0"))
                    best = result.best.answer if result.best else None
                    row = {
                        "schedule": settings.schedule, "id": problem.id,
                        "reference": problem.answer, "first_answer": first.answer,
                        "selected_answer": best,
                        "first_correct": await correct(checks, problem, first.answer),
                        "selected_correct": await correct(checks, problem, best),
                        "verdict": result.verdict, "confidence": result.confidence,
                        "tokens": result.usage.total_tokens, "calls": result.calls,
                        "cached_calls": result.cached_calls, "seconds": round(seconds, 1),
                    }
                    print(json.dumps(row), flush=True)
                    return row

                done = await asyncio.gather(*(one(p) for p in problems))
                rows.extend(done)
                totals[schedule] = {
                    "tokens": sum(r["tokens"] for r in done),
                    "seconds": time.monotonic() - started,
                    "first": sum(r["first_correct"] for r in done),
                    "selected": sum(r["selected_correct"] for r in done),
                    "calls": sum(r["calls"] for r in done),
                    "cached": sum(r["cached_calls"] for r in done),
                }
    finally:
        await backend.aclose()
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    n = len(problems)
    print(f"\n{n} GSM8K problems, model {args.model}, effort {args.effort}\n")
    print("| schedule | first candidate correct | selected correct | tokens | calls "
          "(from cache) | wall s |")
    print("|---|---|---|---|---|---|")
    for schedule, t in totals.items():
        print(f"| {schedule} | {t['first']:.0f}/{n} | {t['selected']:.0f}/{n} | "
              f"{t['tokens']:,.0f} | {t['calls']:.0f} ({t['cached']:.0f}) | "
              f"{t['seconds']:.0f} |")
    ratio = totals["adaptive"]["tokens"] / max(1.0, totals["fixed"]["tokens"])
    print(f"\nadaptive / fixed tokens: {ratio:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
