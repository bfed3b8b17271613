"""fansi as an OpenAI-compatible model: plain and streamed, with the real
`openai` client, and with fansi's own `openai:` backend pointed at it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import openai
import pytest

import fansi
from serve.serving import Live

pytestmark = pytest.mark.server

ASK = [{"role": "system", "content": "You are careful."},
       {"role": "user", "content": "What is 2+2?"}]


def test_models_lists_fansi(live: Live) -> None:
    with live.client() as client:
        body = client.get("/v1/models").json()
    assert body["object"] == "list" and [m["id"] for m in body["data"]] == ["fansi"]


def test_a_completion_is_the_best_solution_with_fansis_verdict(live: Live) -> None:
    with live.client() as client:
        body = client.post("/v1/chat/completions", json={
            "model": "fansi", "messages": ASK, "temperature": 0, "logprobs": True}).json()
        run = client.get(f"/api/runs/{body['fansi']['run_id']}").json()
    assert body["object"] == "chat.completion"
    [choice] = body["choices"]
    assert choice["message"] == {"role": "assistant", "content": "GOOD \\boxed{4}"}
    assert choice["finish_reason"] == "stop"
    extra = body["fansi"]
    assert extra["verdict"] == "pass" and extra["score"] == 1.0 and extra["answer"] == "4"
    assert 0 < extra["confidence"] <= 1
    assert run["status"] == "finished" and run["problem_text"] == "What is 2+2?"
    assert body["usage"]["total_tokens"] == sum(
        body["usage"][k] for k in ("prompt_tokens", "completion_tokens")) > 0


def test_a_streamed_completion_ends_with_done(live: Live) -> None:
    with live.client() as client, client.stream("POST", "/v1/chat/completions", json={
            "model": "fansi", "messages": ASK, "stream": True,
            "stream_options": {"include_usage": True}}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "GOOD \\boxed{4}"
    last = next(c for c in reversed(chunks) if c["choices"])
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["fansi"]["verdict"] == "pass"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_bad_chat_requests_answer_4xx_in_openais_shape(live: Live) -> None:
    with live.client() as client:
        unknown = client.post("/v1/chat/completions", json={"model": "gpt-9", "messages": ASK})
        assert unknown.status_code == 404 and "gpt-9" in unknown.json()["error"]["message"]
        nobody = client.post("/v1/chat/completions", json={
            "model": "fansi", "messages": [{"role": "system", "content": "hi"}]})
        assert nobody.status_code == 422 and "user message" in nobody.json()["error"]["message"]
        empty = client.post("/v1/chat/completions", json={"model": "fansi", "messages": []})
        assert empty.status_code == 422 and "messages" in empty.json()["error"]["message"]
        over = client.post("/v1/chat/completions", json={
            "model": "fansi", "messages": ASK, "max_tokens": 10**6})
        assert over.status_code == 422 and "cap" in over.json()["error"]["message"]


def test_the_openai_client_reads_fansi_plainly_and_streamed(live: Live) -> None:
    client = openai.OpenAI(base_url=f"{live.url}/v1", api_key="unused", max_retries=0)
    completion = client.chat.completions.create(model="fansi", messages=ASK)  # type: ignore[arg-type]
    assert completion.choices[0].message.content == "GOOD \\boxed{4}"
    extra = completion.model_extra or {}
    assert extra["fansi"]["verdict"] == "pass"
    stream = client.chat.completions.create(model="fansi", messages=ASK,  # type: ignore[arg-type]
                                            stream=True)
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(pieces) == "GOOD \\boxed{4}"
    assert [m.id for m in client.models.list()] == ["fansi"]


def test_the_openai_client_needs_the_token_when_there_is_one(serve: Callable[..., Live]
                                                              ) -> None:
    live = serve(token="s3cret-token")
    wrong = openai.OpenAI(base_url=f"{live.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="fansi", messages=ASK)  # type: ignore[arg-type]
    right = openai.OpenAI(base_url=f"{live.url}/v1", api_key="s3cret-token", max_retries=0)
    reply = right.chat.completions.create(model="fansi", messages=ASK)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "GOOD \\boxed{4}"


def test_fansis_own_openai_backend_can_use_a_fansi_server(live: Live, tmp_path: Path) -> None:
    # fansi (in another home) solving through a fansi server as its model.
    streamed: list[str] = []
    outer = fansi.solve("What is 2+2?", model=f"openai:fansi@{live.url}/v1",
                        home=str(tmp_path / "outer"), retries=0, on_token=streamed.append)
    assert outer.best is not None
    assert "GOOD \\boxed{4}" in outer.best.solution
    assert "GOOD \\boxed{4}" in "".join(streamed)  # its writer calls went as streams
    assert outer.failed_calls == 0 and outer.calls > 0
    with live.client() as client:
        inner = client.get("/api/runs", params={"limit": 500}).json()["runs"]
    assert inner and all(r["status"] == "finished" for r in inner)
