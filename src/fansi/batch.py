"""Batch solving of a JSONL file of problems: validation first, then resumable runs."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fansi.config import Settings
from fansi.errors import InputError
from fansi.inputs import decode, problem_from_text
from fansi.records import Problem

TEXT_KEYS = ("problem", "question", "text")


def read_jsonl(path: Path, *, max_chars: int) -> list[Problem]:
    """Every problem of a JSONL file, or an InputError naming the first bad line.

    The whole file is checked before anything runs, so a bad line stops the
    batch before it stores anything.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    problems: list[Problem] = []
    for number, line in enumerate(decode(data, source=str(path)).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where} is not JSON: {exc.msg}") from exc
        if not isinstance(row, dict):
            raise InputError(f"{where} must be a JSON object")
        text = next((row[k] for k in TEXT_KEYS if isinstance(row.get(k), str)), None)
        if text is None:
            raise InputError(f"{where} has no problem text under {', '.join(TEXT_KEYS)}")
        try:
            problem = problem_from_text(text, max_chars=max_chars, id=str(row.get("id", number)))
        except InputError as exc:
            raise InputError(f"{where}: {exc.message}", hint=exc.hint) from exc
        answer = row.get("answer")
        problems.append(Problem(problem.text, reference_answer(answer), problem.id))
    if not problems:
        raise InputError(f"{path} holds no problems")
    return problems


def reference_answer(answer: object) -> str | None:
    if answer is None:
        return None
    text = str(answer)
    if "####" in text:
        from fansi.checks.answers import gsm8k_reference

        return gsm8k_reference(text)
    return text.strip() or None


async def solve_all(
    problems: list[Problem],
    settings: Settings,
    *,
    concurrency: int | None,
    report: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """Solve every problem with one shared backend; report one line per problem."""
    from fansi import api
    from fansi.backends import create_backend
    from fansi.checks import CheckPool, equivalent
    from fansi.store import Store

    backend = create_backend(settings.model, settings)
    limit = concurrency or (settings.concurrency if backend.max_concurrency > 1 else 1)
    gate = asyncio.Semaphore(limit)
    totals: dict[str, Any] = {"problems": 0, "pass": 0, "fail": 0, "unknown": 0,
                              "correct": 0, "with_reference": 0, "tokens": 0, "seconds": 0.0}
    started = time.monotonic()

    async def one(index: int, problem: Problem, checks: CheckPool) -> None:
        run_id = api.stable_run_id(problem, settings)
        with Store.open(settings.store_path) as store:
            record = store.run(run_id)
        async with gate:
            if record is not None and record.status == "done" and record.result:
                line = summary(index, problem, record.result, skipped=True)
            else:
                result = await api.asolve(problem, settings=settings, backend=backend,
                                          run_id=run_id)
                line = summary(index, problem, api.result_dict(result), skipped=False)
        if problem.answer is not None:
            line["correct"] = (await equivalent(problem.answer, line["answer"], pool=checks)
                               if line["answer"] else False)
            totals["with_reference"] += 1
            totals["correct"] += line["correct"] is True
        totals["problems"] += 1
        totals[line["verdict"]] += 1
        totals["tokens"] += line["tokens"]
        report(line)

    try:
        async with CheckPool() as checks:
            await asyncio.gather(*(one(i, p, checks) for i, p in enumerate(problems)))
    finally:
        await backend.aclose()
    totals["seconds"] = time.monotonic() - started
    return totals


def summary(index: int, problem: Problem, result: Mapping[str, Any], *, skipped: bool
            ) -> dict[str, Any]:
    best = result.get("best") or {}
    return {
        "index": index,
        "id": problem.id,
        "run_id": result["run_id"],
        "verdict": result["verdict"],
        "score": result["score"],
        "confidence": result["confidence"],
        "answer": best.get("answer"),
        "reference": problem.answer,
        "correct": None,
        "tokens": result["total_tokens"],
        "calls": result["calls"],
        "cached_calls": result["cached_calls"],
        "seconds": result["seconds"],
        "skipped": skipped,
    }
