"""What the engine costs around the model: orchestration speed on a zero-latency
fake backend, and how long a real backend waits on the engine during a solve.

    python benchmarks/overhead.py              # fake-backend runs, then a tiny-model solve
    python benchmarks/overhead.py --quick      # smaller runs

1. The fake backend answers at once, so the wall time of a search is all
   engine: building prompts, parsing replies, the schedule, events, and (in
   the ``api.asolve`` rows) the SQLite store and call cache. Model calls
   orchestrated per second, and the engine's share of the wall time (the rest
   is spent inside the fake's ``generate``). Candidates without a final
   answer leave out answer clustering, which runs in the check pool's
   subprocess; a row with answers includes it.
2. A solve on the tiny model through ``api.asolve``: the backend's busy time
   (its worker stepping) against the solve's wall time; the rest is time the
   model sat idle waiting for the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fansi import api
from fansi.backends import TokenCallback
from fansi.backends.fake import FakeBackend
from fansi.backends.llamacpp import LlamaCppBackend
from fansi.config import load_settings
from fansi.engine.budget import SearchConfig
from fansi.engine.search import run_search
from fansi.models import TINY, ensure_packaged
from fansi.parse import META_SCHEMA, VERDICT_SCHEMA
from fansi.records import Completion, GenerateParams, Message, Problem

PROBLEM = "Prove that the product of two odd integers is odd, and compute 2 + 2."


def scripted(with_answer: bool) -> Any:
    """Replies by step: a candidate; a verdict that fails (with an issue) for
    every other seed, so that meta-checks run too; a meta-check."""

    def reply(messages: Sequence[Message], params: GenerateParams) -> str:
        if params.json_schema == VERDICT_SCHEMA:
            if (params.seed or 0) % 2:
                return json.dumps({"check": "Step 2 is unjustified.", "score": 0, "issues": [
                    {"location": "step 2", "description": "no reason given",
                     "severity": "major"}]})
            return json.dumps({"check": "Every step holds.", "issues": [], "score": 1})
        if params.json_schema == META_SCHEMA:
            return json.dumps({"checks": [{"issue": 1, "reason": "it is so", "real": True}]})
        answer = " The sum is \\boxed{4}." if with_answer else ""
        return ("## Solution\nWrite the integers as 2a+1 and 2b+1; their product is "
                f"2(2ab+a+b)+1, which is odd.{answer}\n\n## Self-evaluation\nEach step "
                "follows from the one before.\nSelf-score: 1")

    return reply


class Timed:
    """A backend wrapper that adds up the time spent inside ``generate``."""

    def __init__(self, inner: FakeBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.supports_schema = inner.supports_schema
        self.max_concurrency = inner.max_concurrency
        self.inside_s = 0.0

    async def generate(self, messages: Sequence[Message], params: GenerateParams,
                       on_token: TokenCallback | None = None) -> Completion:
        started = time.perf_counter()
        try:
            return await self.inner.generate(messages, params, on_token)
        finally:
            self.inside_s += time.perf_counter() - started

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Row:
    what: str
    calls: int
    wall_s: float
    inside_s: float

    def line(self) -> str:
        engine = 1 - self.inside_s / self.wall_s
        return (f"| {self.what} | {self.calls} | {self.wall_s:.2f} | "
                f"{self.calls / self.wall_s:,.0f} | {1e6 * self.wall_s / self.calls:.0f} | "
                f"{engine:.1%} |")


async def fake_search(n: int, k: int, with_answer: bool) -> Row:
    backend = Timed(FakeBackend(scripted(with_answer), max_concurrency=8))
    config = SearchConfig(n=n, k=k, rounds=1, schedule="fixed")
    started = time.perf_counter()
    result = await run_search(Problem(PROBLEM), backend, config, run_id="bench")
    wall = time.perf_counter() - started
    what = f"run_search n={n} k={k} fixed, {'with' if with_answer else 'no'} answers"
    return Row(what, result.calls, wall, backend.inside_s)


async def fake_solve(n: int, k: int) -> Row:
    backend = Timed(FakeBackend(scripted(False), max_concurrency=8))
    with tempfile.TemporaryDirectory() as home:
        settings = load_settings({"home": home, "model": "fake", "n": n, "k": k,
                                  "rounds": 1, "schedule": "fixed"})
        started = time.perf_counter()
        result = await api.asolve(PROBLEM, settings=settings, backend=backend)
        wall = time.perf_counter() - started
    return Row(f"api.asolve n={n} k={k} fixed (store, call cache)", result.calls, wall,
               backend.inside_s)


async def tiny_solve(effort: str, max_tokens: int, verify_tokens: int) -> dict[str, float]:
    path = ensure_packaged(TINY, load_settings().models_dir)
    model = LlamaCppBackend(path, name="tiny", family="smollm2")
    with tempfile.TemporaryDirectory() as home:
        settings = load_settings({"home": home, "model": "tiny", "effort": effort,
                                  "max_tokens": max_tokens, "verify_tokens": verify_tokens,
                                  "seed": 0})
        try:
            # Load the model first: loading is not the engine's doing.
            await model.generate([Message("user", "Hi")], GenerateParams(max_tokens=1))
            busy, calls = model.stats.busy_s, model.stats.calls
            started = time.perf_counter()
            await api.asolve(PROBLEM, settings=settings, backend=model)
            wall = time.perf_counter() - started
        finally:
            await model.aclose()
    busy = model.stats.busy_s - busy
    return {"wall": wall, "busy": busy, "idle": 1 - busy / wall,
            "calls": model.stats.calls - calls}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Smaller runs.")
    parser.add_argument("--effort", default="medium", help="Effort of the tiny-model solve.")
    args = parser.parse_args()
    n, k = (8, 16) if args.quick else (32, 64)

    rows = [
        await fake_search(n, k, with_answer=False),
        await fake_search(n, k, with_answer=True),
        await fake_solve(n, k),
    ]
    for row in rows:
        print(f"{row.what}: {row.calls} calls in {row.wall_s:.2f}s", flush=True)
    tiny = await tiny_solve(args.effort, 64 if args.quick else 128, 48 if args.quick else 96)
    print(f"tiny solve: {tiny['calls']:.0f} calls, {tiny['wall']:.1f}s wall, "
          f"{tiny['busy']:.1f}s busy", flush=True)

    print()
    print("| fake backend, zero latency | calls | wall s | calls/s | µs per call | "
          "engine share |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(row.line())
    print()
    print("| tiny model solve | figure |")
    print("|---|---|")
    print(f"| effort {args.effort}: calls / wall | {tiny['calls']:.0f} / {tiny['wall']:.1f}s |")
    print(f"| backend busy | {tiny['busy']:.1f}s |")
    print(f"| backend idle share of wall | {tiny['idle']:.1%} |")
    print()
    print("| target | figure | |")
    print("|---|---|---|")
    best = rows[0]
    rate = best.calls / best.wall_s
    print(f"| orchestration >= 2,000 calls/s (fake, no answers) | {rate:,.0f} | "
          f"{'met' if rate >= 2000 else 'NOT met'} |")
    for row in rows[1:]:
        r = row.calls / row.wall_s
        print(f"| same, {row.what} | {r:,.0f} | {'met' if r >= 2000 else 'NOT met'} |")
    print(f"| backend idle < 5% of a solve's wall | {tiny['idle']:.1%} | "
          f"{'met' if tiny['idle'] < 0.05 else 'NOT met'} |")


if __name__ == "__main__":
    asyncio.run(main())
