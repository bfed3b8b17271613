"""The JSON API end to end against a real server on the scripted model."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fansi.backends.fake import FakeBackend
from fansi.serve.service import Limits
from fansi.store import Store
from serve.serving import Live, wait_for

from scripted_model import Model

pytestmark = pytest.mark.server

PROBLEM = "What is $2+2$? Give the value."


def test_a_submitted_problem_is_solved_and_stored_as_a_run(live: Live, fansi_home: Path) -> None:
    with live.client() as client:
        answer = client.post("/api/runs", json={"problem": PROBLEM})
        assert answer.status_code == 202
        run_id = answer.json()["id"]
        assert answer.headers["location"] == f"/api/runs/{run_id}"
        assert answer.json()["url"] == f"/runs/{run_id}"
        done = wait_for(client, run_id)
    assert done["status"] == "finished" and done["verdict"] == "pass"
    assert done["mode"] == "solve" and done["problem_text"] == PROBLEM
    assert done["result"]["best"]["answer"] == "4"
    [first, *_] = done["tree"]["candidates"]
    assert first["candidate"]["solution"] == "GOOD \\boxed{4}"
    assert first["verifications"][0]["verification"]["score"] == 1.0
    # The same run that `fansi runs` and `fansi show` read.
    with Store.open(fansi_home / "fansi.db") as store:
        record = store.run(run_id)
    assert record is not None and record.status == "done"
    assert record.result is not None and record.result["verdict"] == "pass"


def test_the_same_request_finds_the_same_run_and_makes_no_new_call(serve: Callable[..., Live]
                                                                    ) -> None:
    model = Model()
    live = serve(backend=FakeBackend(model))
    with live.client() as client:
        first = client.post("/api/runs", json={"problem": PROBLEM}).json()["id"]
        wait_for(client, first)
        calls = len(model.steps)
        again = client.post("/api/runs", json={"problem": PROBLEM})
        assert again.status_code == 202 and again.json()["id"] == first
        assert again.json()["status"] == "finished"
        other = client.post("/api/runs", json={"problem": PROBLEM, "seed": 7}).json()["id"]
        assert other != first
        wait_for(client, other)
    assert len(model.steps) > calls  # the other seed ran; the repeat did not


def test_a_solution_is_graded_in_verify_mode(live: Live) -> None:
    with live.client() as client:
        run_id = client.post("/api/runs", json={
            "mode": "verify", "problem": PROBLEM, "solution": "BAD: it is \\boxed{5}"}).json()["id"]
        done = wait_for(client, run_id)
    assert done["mode"] == "verify" and done["verdict"] == "fail"
    [given] = done["tree"]["candidates"]
    assert given["candidate"]["solution"] == "BAD: it is \\boxed{5}"
    issue = given["verifications"][0]["verification"]["issues"][0]
    assert issue["severity"] == "fatal"


def test_runs_are_listed_newest_first_and_searchable(live: Live) -> None:
    with live.client() as client:
        a = client.post("/api/runs", json={"problem": "Find 50% of 8."}).json()["id"]
        b = client.post("/api/runs", json={"problem": "Find x_1 if x_1 = 3."}).json()["id"]
        wait_for(client, a), wait_for(client, b)
        listed = client.get("/api/runs").json()["runs"]
        assert [r["id"] for r in listed] == [b, a]
        assert [r["id"] for r in client.get("/api/runs", params={"q": "50%"}).json()["runs"]] \
            == [a]
        assert [r["id"] for r in client.get("/api/runs", params={"q": "X_1"}).json()["runs"]] \
            == [b]
        assert [r["id"] for r in client.get("/api/runs", params={"q": a[:6]}).json()["runs"]] \
            == [a]
        assert client.get("/api/runs", params={"q": "nothing like it"}).json()["runs"] == []
        page = client.get("/api/runs", params={"limit": 1, "offset": 1}).json()
        assert [r["id"] for r in page["runs"]] == [a]


@pytest.mark.parametrize(("body", "status", "words"), [
    ({}, 422, "problem"),
    ({"problem": ""}, 422, "problem"),
    ({"problem": "   "}, 422, "empty"),
    ({"problem": "x", "temperature": 2}, 422, "temperature"),
    ({"problem": "x", "mode": "verify"}, 422, "solution"),
    ({"problem": "x", "solution": "y"}, 422, "solution"),
    ({"problem": "x", "n": 0}, 422, "n"),
    ({"problem": "x", "n": 64}, 422, "over this server's cap"),
    ({"problem": "x", "effort": "heavy"}, 422, "over this server's cap"),
    ({"problem": "x", "max_tokens": 10**6}, 422, "over this server's cap"),
    ({"problem": "x", "effort": "enormous"}, 422, "effort"),
    ({"problem": "x" * 20_001}, 422, "over the limit"),
    ({"problem": "x\u0000y"}, 422, "NUL"),
    ({"problem": 5}, 422, "problem"),
])
def test_bad_requests_answer_4xx_with_a_message(live: Live, body: dict[str, object],
                                                status: int, words: str) -> None:
    with live.client() as client:
        answer = client.post("/api/runs", json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]


def test_malformed_bodies_and_ids_answer_4xx(live: Live) -> None:
    with live.client() as client:
        assert client.post("/api/runs", content=b"{not json",
                           headers={"content-type": "application/json"}).status_code == 422
        surrogate = b'{"problem": "\\ud800"}'
        answer = client.post("/api/runs", content=surrogate,
                             headers={"content-type": "application/json"})
        assert answer.status_code == 422 and "problem" in answer.json()["detail"]
        assert client.post("/api/runs", content=json.dumps({"problem": "x" * (2 << 20)}),
                           headers={"content-type": "application/json"}).status_code == 413
        assert client.get("/api/runs/no-such-run").status_code == 404
        assert "no run" in client.get("/api/runs/no-such-run").json()["detail"]
        assert client.get("/api/runs/bad%20id").status_code == 422
        assert client.get("/api/runs", params={"limit": 0}).status_code == 422
        assert client.delete("/api/runs/no-such-run").status_code == 404
        assert client.get("/api/runs/no-such-run/events").status_code == 404


def test_a_full_queue_answers_429_with_retry_after(serve: Callable[..., Live]) -> None:
    slow = FakeBackend(Model(), latency_s=0.2, max_concurrency=1)
    live = serve(backend=slow, limits=Limits(queue=1))
    with live.client() as client:
        ids = [client.post("/api/runs", json={"problem": PROBLEM, "seed": 1}).json()["id"]]
        wait_for(client, ids[0], ("running",))
        ids.append(client.post("/api/runs", json={"problem": PROBLEM, "seed": 2}).json()["id"])
        full = client.post("/api/runs", json={"problem": PROBLEM, "seed": 3})
        assert full.status_code == 429
        assert full.headers["retry-after"] == "10" and "queue is full" in full.json()["detail"]
        info = client.get("/api/info").json()
        assert (info["queued"], info["running"], info["workers"]) == (1, 1, 1)
        # The refused request was not lost halfway: it is simply not there.
        assert len(client.get("/api/runs").json()["runs"]) == 2
        for run_id in ids:
            assert wait_for(client, run_id)["status"] == "finished"


def test_cancel_a_queued_and_a_running_job(serve: Callable[..., Live], fansi_home: Path) -> None:
    slow = FakeBackend(Model(), latency_s=0.3, max_concurrency=1)
    live = serve(backend=slow)
    with live.client() as client:
        running = client.post("/api/runs", json={"problem": PROBLEM, "seed": 1}).json()["id"]
        queued = client.post("/api/runs", json={"problem": PROBLEM, "seed": 2}).json()["id"]
        wait_for(client, running, ("running",))
        first = client.delete(f"/api/runs/{queued}")
        assert first.status_code == 200 and first.json()["status"] == "cancelled"
        second = client.delete(f"/api/runs/{running}")
        assert second.status_code == 200 and second.json()["status"] == "cancelled"
        assert client.delete(f"/api/runs/{running}").json()["status"] == "cancelled"
        time.sleep(0.5)
        assert client.get(f"/api/runs/{queued}").json()["status"] == "cancelled"
        # Submitting it again continues the run that was cancelled.
        again = client.post("/api/runs", json={"problem": PROBLEM, "seed": 1}).json()
        assert again["id"] == running and again["status"] == "queued"
        assert wait_for(client, running)["status"] == "finished"
        finished = client.delete(f"/api/runs/{running}")
        assert finished.status_code == 409 and "already finished" in finished.json()["detail"]
    with Store.open(fansi_home / "fansi.db") as store:
        assert store.run(queued) is None  # it never started
        record = store.run(running)
    assert record is not None and record.status == "done"


def test_a_run_made_by_the_cli_is_shown_but_not_cancelled(live: Live, fansi_home: Path) -> None:
    import fansi

    result = fansi.solve("What is 3+3?", backend=FakeBackend(Model()), run_id="made-by-cli",
                         home=str(fansi_home))
    with live.client() as client:
        shown = client.get("/api/runs/made-by-cli").json()
        assert shown["status"] == "finished" and shown["verdict"] == result.verdict
        assert shown["mode"] == "solve" and shown["request"] is None
        assert client.delete("/api/runs/made-by-cli").status_code == 409
        assert client.get("/api/runs/made-by-cli/events").status_code == 404


def test_openapi_describes_the_api(live: Live) -> None:
    with live.client() as client:
        spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"post", "get"} <= set(paths["/api/runs"])
    assert {"get", "delete"} <= set(paths["/api/runs/{run_id}"])
    assert "text/event-stream" in json.dumps(paths["/api/runs/{run_id}/events"])
    assert "/v1/chat/completions" in paths and "/v1/models" in paths
    assert "/fragments/runs/{run_id}" not in paths
