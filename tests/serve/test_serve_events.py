"""The event stream, read with httpx-sse: contents, order, tokens, and resuming
with Last-Event-ID."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from httpx_sse import connect_sse

from fansi.backends.fake import FakeBackend
from serve.serving import Live, wait_for

from scripted_model import Model

pytestmark = pytest.mark.server

PROBLEM = "What is 2+2?"


def read(live: Live, run_id: str, **headers: str) -> list[tuple[str, str, dict[str, object]]]:
    """Every (event, id, data) of the run's stream until it closes."""
    with live.client() as client, connect_sse(client, "GET", f"/api/runs/{run_id}/events",
                                              headers=headers) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        return [(e.event, e.id, json.loads(e.data)) for e in source.iter_sse()]


def test_the_stream_tells_the_whole_run_and_closes(serve: Callable[..., Live]) -> None:
    live = serve(backend=FakeBackend(Model(), latency_s=0.1))
    with live.client() as client:
        run_id = client.post("/api/runs", json={"problem": PROBLEM}).json()["id"]
    events = read(live, run_id)
    kinds = [kind for kind, _, _ in events if kind != "token"]
    assert kinds[:3] == ["job_queued", "job_started", "run_started"]
    assert kinds[-2:] == ["run_finished", "job_finished"]
    assert kinds.count("candidate_written") == 2
    assert "verification_finished" in kinds and "round_finished" in kinds
    numbered = [(int(i), data) for kind, i, data in events if kind != "token"]
    assert [n for n, _ in numbered] == list(range(1, len(numbered) + 1))
    finished = numbered[-1][1]
    assert finished["kind"] == "job_finished"
    assert finished["data"] == {"verdict": "pass", "score": 1.0, "confidence": finished["data"][
        "confidence"], "calibrated": False}
    assert finished["calls"] >= 6 and finished["tokens"] > 0
    written = next(d for k, _, d in events if k == "candidate_written")
    assert str(written["data"]["candidate"]).startswith(run_id)
    # The text being written streams live (only to who listens at the time).
    tokens = "".join(str(d["text"]) for k, _, d in events if k == "token")
    assert "I would rather not write code." in tokens


def test_a_stream_resumes_after_the_last_event_id(live: Live) -> None:
    with live.client() as client:
        run_id = client.post("/api/runs", json={"problem": PROBLEM}).json()["id"]
        wait_for(client, run_id)
    whole = [(k, i) for k, i, _ in read(live, run_id)]
    assert all(k != "token" for k, _ in whole)  # tokens are not kept
    rest = [(k, i) for k, i, _ in read(live, run_id, **{"Last-Event-ID": "3"})]
    assert rest == whole[3:]
    assert [(k, i) for k, i, _ in read(live, run_id, **{"Last-Event-ID": whole[-1][1]})] == []
    with live.client() as client:
        after = client.get(f"/api/runs/{run_id}/events", params={"after": 5})
        assert after.status_code == 200
        assert after.text.count("\nid: ") + after.text.startswith("id: ") \
            == len(whole) - 5
        bad = client.get(f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "x"})
        assert bad.status_code == 422 and "Last-Event-ID" in bad.json()["detail"]


def test_a_client_that_disconnects_mid_run_loses_nothing(serve: Callable[..., Live]) -> None:
    live = serve(backend=FakeBackend(Model(), latency_s=0.05, max_concurrency=1))
    with live.client() as client:
        run_id = client.post("/api/runs", json={"problem": PROBLEM}).json()["id"]
        with connect_sse(client, "GET", f"/api/runs/{run_id}/events") as source:
            seen = []
            for event in source.iter_sse():
                if event.event != "token":
                    seen.append((event.event, event.id))
                if len(seen) == 4:
                    break
        assert wait_for(client, run_id)["status"] == "finished"
    rest = [(k, i) for k, i, _ in read(live, run_id, **{"Last-Event-ID": seen[-1][1]})]
    whole = [(k, i) for k, i, _ in read(live, run_id)]
    assert seen + rest == whole
    assert whole[-1][0] == "job_finished"
