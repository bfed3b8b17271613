"""`fansi run --ray` on a local Ray cluster: the same results as one machine,
killed workers cost only their calls in flight, and a problem that keeps
failing is marked failed with the reason while the batch goes on."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ray_models import Scripted, asked, one_machine, stored, timeless_lines

from fansi.config import Settings
from fansi.distributed.batch import solve_many
from fansi.distributed.pool import WorkerPool
from fansi.records import Problem
from fansi.store import Store

pytestmark = pytest.mark.ray


def problems(count: int, *extra: str) -> list[Problem]:
    made = [Problem(f"What is {i} + {i}?", str(2 * i) if i % 2 else None, f"p{i}")
            for i in range(count)]
    return made + [Problem(f"{word}: what is 1 + 1?", None, word.lower()) for word in extra]


def settings_in(home: Path, **more: Any) -> Settings:
    return Settings(home=home, model="fake", n=2, k=2, rounds=2, **more)


def stored_keys(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute(
            "SELECT cache_key FROM calls WHERE cache_key IS NOT NULL")}


async def until(condition: Callable[[], bool], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


async def test_a_batch_over_ray_equals_the_batch_on_one_machine(
        ray_cluster: ModuleType, tmp_path: Path) -> None:
    batch = problems(200)
    local, remote = settings_in(tmp_path / "local"), settings_in(tmp_path / "ray")
    want = await one_machine(batch, local, Scripted())
    lines: list[dict[str, Any]] = []
    totals = await solve_many(batch, remote, make=Scripted(), on_result=lines.append)
    assert totals["problems"] == 200 and totals["failed"] == 0
    assert totals["with_reference"] == 100
    for line in want:
        line["correct"] = None
    for line in lines:
        line["correct"] = None  # compared with the reference only over Ray
    assert timeless_lines(lines) == timeless_lines(want)
    got, expected = stored(remote.store_path), stored(local.store_path)
    assert got == expected
    assert len(got["runs"]) == 200 and len(got["calls"]) > 1000
    assert {run["run"]["status"] for run in got["runs"].values()} == {"done"}


async def test_killed_workers_lose_only_their_calls_in_flight(
        ray_cluster: ModuleType, tmp_path: Path) -> None:
    batch = problems(16)
    settings = settings_in(tmp_path / "ray")
    log = tmp_path / "asked.log"
    model = Scripted(latency_s=0.05, log=str(log))
    db = settings.store_path
    kills: list[tuple[set[str], int]] = []  # what was stored, and asked, at each kill

    async def kill(pool: WorkerPool) -> None:
        await until(lambda: db.exists() and len(stored_keys(db)) >= 20)
        kills.append((stored_keys(db), len(asked(log))))
        ray_cluster.kill(pool.actors[0])
        await until(lambda: len(stored_keys(db)) >= len(kills[0][0]) + 40)
        pid = await pool.actors[1].pid.remote()
        kills.append((stored_keys(db), len(asked(log))))
        os.kill(pid, signal.SIGKILL)

    killing: list[asyncio.Task[None]] = []
    totals = await solve_many(
        batch, settings, make=model, workers=2,
        on_pool=lambda pool: killing.append(asyncio.ensure_future(kill(pool))))
    await killing[0]
    assert len(kills) == 2
    assert totals["problems"] == 16 and totals["failed"] == 0

    keys = asked(log)
    for done, at in kills:
        # No call stored before a kill was asked of the model after it.
        assert not done & set(keys[at:])
    assert len(keys) > len(set(keys))  # calls in flight were asked again ...
    # ... and nothing was lost: the store holds what one machine leaves.
    want = settings_in(tmp_path / "local")
    await one_machine(batch, want, Scripted())
    assert stored(db) == stored(want.store_path)

    # Run again: every problem is done, so nothing is asked of the model.
    lines: list[dict[str, Any]] = []
    again = await solve_many(batch, settings, make=model, on_result=lines.append)
    assert again["problems"] == 16
    assert all(line["skipped"] for line in lines)
    assert asked(log) == keys


async def test_a_problem_that_keeps_failing_is_marked_failed_and_the_batch_goes_on(
        ray_cluster: ModuleType, tmp_path: Path) -> None:
    batch = problems(4, "POISON", "FLAKY")
    settings = settings_in(tmp_path)
    lines: dict[str, dict[str, Any]] = {}
    pools: list[WorkerPool] = []
    totals = await solve_many(batch, settings, make=Scripted(), attempts=2, concurrency=1,
                              on_result=lambda line: lines.update({line["id"]: line}),
                              on_pool=pools.append)
    assert totals["problems"] == 6 and totals["failed"] == 2
    assert pools[0].replaced == 2  # POISON killed its worker on both attempts
    assert "failed 2 time(s)" in lines["poison"]["error"]
    assert "worker died" in lines["poison"]["error"]
    assert "BackendServerError" in lines["flaky"]["error"]
    assert all("error" not in lines[f"p{i}"] for i in range(4))
    with Store.open(settings.store_path) as store:
        for name in ("poison", "flaky"):
            record = store.run(lines[name]["run_id"])
            assert record is not None and record.status == "failed"
            assert record.error == lines[name]["error"]
        assert {store.run(lines[f"p{i}"]["run_id"]).status for i in range(4)} == {"done"}
