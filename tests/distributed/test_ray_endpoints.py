"""`fansi run --ray` against OpenAI-compatible servers on loopback: a dead
server leaves the rotation, and a killed driver continues where it stopped."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ray_models import EchoServer

from fansi.config import Settings
from fansi.distributed.batch import solve_many
from fansi.records import Problem
from fansi.store import Store

from killing import finished_calls, kill_after

pytestmark = [pytest.mark.ray, pytest.mark.server]


def batch(count: int) -> list[Problem]:
    return [Problem(f"What is {i} times {i}?", None, f"q{i}") for i in range(count)]


async def test_a_dead_server_leaves_the_rotation_and_the_run_completes(
        ray_cluster: ModuleType, tmp_path: Path) -> None:
    first, second = EchoServer(latency_s=0.02), EchoServer(latency_s=0.02)
    spec = f"openai:m@{first.url},{second.url}"
    settings = Settings(home=tmp_path, model=spec, n=2, k=2, rounds=2)

    async def stop_the_second() -> int:
        while len(second.requests) < 10:
            await asyncio.sleep(0.01)
        second.stop()
        return len(first.requests)

    stopping = asyncio.ensure_future(stop_the_second())
    try:
        totals = await solve_many(batch(12), settings)
        served_before = await stopping
    finally:
        first.stop()
    assert totals["problems"] == 12 and totals["failed"] == 0
    assert len(first.requests) > served_before  # the first took over
    with Store.open(settings.store_path) as store:
        assert {run.status for run in store.runs()} == {"done"}
        assert len(store.runs()) == 12


@pytest.mark.subprocess
def test_a_killed_driver_continues_without_repeating_a_finished_call(
        ray_cluster: ModuleType, tmp_path: Path, fansi_home: Path) -> None:
    server = EchoServer(latency_s=0.05)
    data = tmp_path / "p.jsonl"
    data.write_text("".join(json.dumps({"id": p.id, "problem": p.text}) + "\n"
                            for p in batch(10)))
    address = ray_cluster.get_runtime_context().gcs_address
    fansi = str(Path(sys.executable).with_name("fansi"))
    args = [fansi, "run", str(data), "--json", "--model", f"openai:m@{server.url}",
            "-n", "2", "-k", "2", "--rounds", "2", "--ray", address]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    db = fansi_home / "fansi.db"
    try:
        child = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        kill_after(child, db, calls=30, seconds=180)
        stored = finished_calls(db)
        # The killed driver's workers go with it; wait until their CPUs are free.
        deadline = time.monotonic() + 60
        while ray_cluster.available_resources().get("CPU", 0) < 2:
            assert time.monotonic() < deadline, "the killed driver's workers did not go"
            time.sleep(0.2)
        asked = len(server.requests)
        out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    finally:
        server.stop()
    assert out.returncode == 0, out.stderr
    lines: list[dict[str, Any]] = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(p.id for p in batch(10))
    assert "10 problem(s)" in out.stderr
    with Store.open(db) as store:
        assert {run.status for run in store.runs()} == {"done"}
    # Only calls that were not stored when the driver died were asked again.
    repeated = len(server.requests) - len(set(server.requests))
    assert 0 < stored <= finished_calls(db)
    assert repeated <= asked - stored
