"""The jobs table (fansi.store.jobs): queueing, requeueing, numbered events, the listing."""

from __future__ import annotations

from pathlib import Path

import pytest

from fansi.errors import StoreError
from fansi.records import Problem
from fansi.store import Store
from fansi.store.jobs import Jobs


@pytest.fixture
def jobs(tmp_path: Path) -> Jobs:
    return Jobs(Store.open(tmp_path / "fansi.db"))


def test_a_job_is_queued_moved_and_queued_again_with_its_events_kept(jobs: Jobs) -> None:
    job = jobs.add("j1", {"request": {"problem": "p"}})
    assert (job.status, job.request, job.error) == ("queued", {"request": {"problem": "p"}}, None)
    assert [jobs.add_event("j1", "job_queued", {"n": 1}) for _ in range(3)] == [1, 2, 3]
    jobs.set_status("j1", "failed", error="boom")
    failed = jobs.get("j1")
    assert failed is not None and (failed.status, failed.error) == ("failed", "boom")
    again = jobs.add("j1", {"request": {"problem": "p"}, "more": True})
    assert again.status == "queued" and again.error is None and again.request["more"] is True
    assert jobs.add_event("j1", "job_queued", {}) == 4
    assert [e.seq for e in jobs.events("j1", after=2)] == [3, 4]
    assert jobs.events("j1", after=1, limit=1)[0].data == {"n": 1}
    assert jobs.get("nothing") is None


def test_statuses_are_counted_and_resumable_jobs_listed_oldest_first(jobs: Jobs) -> None:
    for name in ("a", "b", "c"):
        jobs.add(name, {})
    jobs.set_status("b", "running")
    jobs.set_status("c", "finished")
    assert [j.id for j in jobs.with_status("queued", "running")] == ["a", "b"]
    assert (jobs.count("queued"), jobs.count("running"), jobs.count("cancelled")) == (1, 1, 0)
    with pytest.raises(StoreError):
        jobs.set_status("a", "lost")  # type: ignore[arg-type]


def test_the_listing_joins_jobs_and_runs_and_searches_problems(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "fansi.db")
    jobs = Jobs(store)
    jobs.add("queued1", {"request": {"problem": "Find 50% of x_1."}})
    store.create_run(Problem("What is 2+2?"), settings={}, fansi_version="0", model="fake",
                     run_id="cli-run")
    store.set_run_status("cli-run", "done", result={"verdict": "pass", "confidence": 0.9})
    listed = {row.id: row for row in jobs.listing()}
    assert set(listed) == {"queued1", "cli-run"}
    assert (listed["queued1"].job_status, listed["queued1"].run_status) == ("queued", None)
    assert listed["queued1"].problem_preview == "Find 50% of x_1."
    assert listed["cli-run"].job_status is None and listed["cli-run"].run_status == "done"
    assert listed["cli-run"].result == {"verdict": "pass", "confidence": 0.9}
    assert [r.id for r in jobs.listing(query="50%")] == ["queued1"]
    assert [r.id for r in jobs.listing(query="%")] == ["queued1"]  # a literal percent sign
    assert [r.id for r in jobs.listing(query="x_1")] == ["queued1"]
    assert [r.id for r in jobs.listing(query="2+2")] == ["cli-run"]
    assert [r.id for r in jobs.listing(query="cli-")] == ["cli-run"]
    assert [r.id for r in jobs.listing(query="_")] == ["queued1"]  # a literal underscore
    assert jobs.listed("cli-run") == listed["cli-run"] and jobs.listed("none") is None
    store.close()
