"""``fansi run --ray``: a batch of problems over a Ray cluster, one store on the driver.

It keeps the contract of :func:`fansi.api.asolve_many`: stable run ids, done
runs skipped, unfinished ones continued, one summary line per problem as it
finishes, the same totals. What changes is where a problem runs: on a worker,
through the same :func:`fansi.api.run_stored`, with its records and calls
streaming back to the driver's store as they are made.

A problem whose worker keeps dying, or whose run keeps failing, is marked
failed with the reason after the pool's attempts, and the batch goes on; its
summary line carries the reason under ``error``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fansi import api
from fansi._version import __version__
from fansi.checks import CheckPool
from fansi.config import Settings
from fansi.distributed.pool import ATTEMPTS, WorkerPool, connected
from fansi.distributed.relay import Receiver, finished_calls
from fansi.distributed.worker import BackendFactory, Context
from fansi.records import Problem
from fansi.store import CallRecord, Store


@dataclass(frozen=True)
class SolveJob:
    """One problem of a batch, as :func:`fansi.api.asolve_many` runs it."""

    problem: Problem
    settings: Settings
    run_id: str
    calls: tuple[CallRecord, ...] = ()

    async def __call__(self, context: Context) -> dict[str, Any]:
        done = await api.run_stored(self.problem, self.settings, run_id=self.run_id,
                                    backend=context.backend, store=context.store,
                                    checks=context.checks, verifier=context.verifier)
        return api.result_dict(done.result)


def failed_line(index: int, problem: Problem, run_id: str, error: str) -> dict[str, Any]:
    """The summary line of a problem given up on: no verdict, and why."""
    return {"index": index, "id": problem.id, "run_id": run_id, "verdict": "unknown",
            "score": None, "confidence": 0.0, "answer": None, "reference": problem.answer,
            "correct": None, "tokens": 0, "calls": 0, "cached_calls": 0, "seconds": 0.0,
            "skipped": False, "error": error}


def mark_failed(store: Store, problem: Problem, settings: Settings, run_id: str,
                error: str) -> None:
    """Mark a run failed with the reason, creating it if no worker got as far
    (so that ``fansi runs`` lists it and a later run continues it)."""
    if store.run(run_id) is None:
        store.create_run(problem, settings=api.stored_settings(settings, "solve"),
                         fansi_version=__version__, model=settings.model,
                         model_checksum=api.model_checksum(settings.model), run_id=run_id)
    store.set_run_status(run_id, "failed", error=error)


async def solve_many(
    problems: Sequence[Problem],
    settings: Settings,
    *,
    address: str | None = None,
    concurrency: int | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    workers: int | None = None,
    make: BackendFactory | None = None,
    attempts: int = ATTEMPTS,
    on_pool: Callable[[WorkerPool], None] | None = None,
) -> dict[str, Any]:
    """Solve many problems on a Ray cluster, resumably, as ``asolve_many`` does on one machine.

    Args:
        problems: The problems, each with an id and optionally ``answer``.
        settings: Resolved settings.
        address: The cluster (``auto``, ``HOST:PORT``); None starts a local one.
        concurrency: Problems in flight per worker [``settings.concurrency``,
            1 for a model that takes one call at a time].
        on_result: Called with one summary dict per problem as it finishes.
        workers: How many workers [as many as the cluster has CPUs for].
        make: Builds each worker's model from a spec (tests).
        attempts: Tries per problem before it is marked failed.
        on_pool: Called with the started pool (tests kill its workers).

    Returns:
        The totals of ``asolve_many``, plus ``failed``: problems given up on.
    """
    totals = {**api.new_totals(), "failed": 0}
    started = time.monotonic()
    with connected(address) as ray, Store.open(settings.store_path) as store, \
            CheckPool() as checks:
        pool = WorkerPool(ray, settings, workers=workers, make=make, attempts=attempts)
        receiver = Receiver(store)
        try:
            await pool.start(concurrency)
            if on_pool is not None:
                on_pool(pool)

            async def one(index: int, problem: Problem) -> None:
                run_id = api.stable_run_id(problem, settings)
                record = store.run(run_id)
                if record is not None and record.status == "done" and record.result:
                    line = api.summary(index, problem, record.result, skipped=True)
                else:
                    job = SolveJob(problem, settings, run_id, finished_calls(store, run_id))
                    outcome = await pool.run(job, receiver)
                    if outcome.error is None:
                        line = api.summary(index, problem, outcome.value, skipped=False)
                    else:
                        line = failed_line(index, problem, run_id, outcome.error)
                        mark_failed(store, problem, settings, run_id, outcome.error)
                        totals["failed"] += 1
                await api.tally(totals, problem, line, checks)
                if on_result is not None:
                    on_result(line)

            await _all([one(i, p) for i, p in enumerate(problems)])
        finally:
            await pool.close()
    totals["seconds"] = time.monotonic() - started
    return totals


async def _all(jobs: list[Any]) -> None:
    """Run every job; on an error, stop the others before the store closes under them."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


__all__ = ["SolveJob", "failed_line", "mark_failed", "solve_many"]
