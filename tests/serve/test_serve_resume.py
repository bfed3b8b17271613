"""Jobs survive the server: a stopped server's queued and running jobs run when
the next one starts, and a server killed with SIGKILL mid-run loses nothing and
repeats no finished call."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from fansi.backends.fake import FakeBackend
from fansi.store import Store, cache_key
from serve.serving import Live, wait_for

from killing import kill_after
from scripted_model import Model

pytestmark = pytest.mark.server

PROBLEM = "What is 2+2?"
HELPER = Path(__file__).with_name("scripted_server.py")


def finished_keys(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute(
            "SELECT cache_key FROM calls WHERE cache_key IS NOT NULL")}


def test_a_stopped_servers_jobs_run_when_the_next_one_starts(
        serve: Callable[..., Live], fansi_home: Path) -> None:
    first = serve(backend=FakeBackend(Model(), latency_s=0.3, max_concurrency=1))
    with first.client() as client:
        running = client.post("/api/runs", json={"problem": PROBLEM, "seed": 1}).json()["id"]
        queued = client.post("/api/runs", json={"problem": PROBLEM, "seed": 2}).json()["id"]
        wait_for(client, running, ("running",))
        time.sleep(0.4)  # a call or two finishes
    first.stop()
    db = fansi_home / "fansi.db"
    with Store.open(db) as store:
        from fansi.store.jobs import Jobs

        jobs = Jobs(store)
        assert [j.id for j in jobs.with_status("queued")] == [running, queued]
        paused = [e.kind for e in jobs.events(running)]
        record = store.run(running)
    assert paused[-1] == "job_paused"
    assert record is not None and record.status == "interrupted"
    before = finished_keys(db)
    assert before

    fresh = FakeBackend(Model())
    second = serve(backend=fresh)
    with second.client() as client:
        for run_id in (running, queued):
            assert wait_for(client, run_id)["status"] == "finished"
        kinds = [k for k in client.get(f"/api/runs/{running}/events").text.split("\n")
                 if k.startswith("event: ")]
    assert "event: job_resumed" in kinds and kinds[-1] == "event: job_finished"
    made = {cache_key(fresh.identity, c.messages, c.params) for c in fresh.calls}
    assert not made & before  # no finished call was made again


def start_child(home: Path, tmp: Path, name: str, latency: str
                ) -> tuple[subprocess.Popen[bytes], str, Path]:
    port_file, log = tmp / f"{name}.port", tmp / f"{name}.calls"
    env = {**os.environ, "FANSI_HOME": str(home)}
    child = subprocess.Popen([sys.executable, str(HELPER), str(port_file), str(log), latency],
                             env=env)
    deadline = time.monotonic() + 60
    while not port_file.exists() or not port_file.read_text():
        assert child.poll() is None, "the server died"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    return child, f"http://127.0.0.1:{port_file.read_text()}", log


@pytest.mark.subprocess
def test_a_server_killed_mid_run_finishes_the_run_after_a_restart(
        fansi_home: Path, tmp_path: Path) -> None:
    db = fansi_home / "fansi.db"
    child, url, _ = start_child(fansi_home, tmp_path, "first", "0.1")
    try:
        answer = httpx.post(f"{url}/api/runs", json={"problem": PROBLEM}, timeout=10)
        assert answer.status_code == 202
        run_id = answer.json()["id"]
        kill_after(child, db, calls=4, seconds=60)
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            child.wait()
    before = finished_keys(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM jobs WHERE id = ?", (run_id,)).fetchone()[0] \
            == "running"  # what a killed server leaves behind

    child, url, log = start_child(fansi_home, tmp_path, "second", "0")
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            done = wait_for(client, run_id, seconds=60)
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(30)
    assert done["status"] == "finished" and done["verdict"] == "pass"
    assert done["result"]["rounds"] == 2  # it refined after the restart
    made = log.read_text().split()
    assert made and not set(made) & before  # no finished call was made again
    with Store.open(db) as store:
        # Every call is stored once: the killed server's and the new ones.
        assert len(store.calls(run_id)) == len(before) + len(made)
