"""fansi as an OpenAI-compatible model: ``POST /v1/chat/completions`` and ``GET /v1/models``.

The problem is the last user message; earlier messages are not read. The
reply is the best candidate's solution, and fansi's verdict, score,
confidence and run id travel in the extra ``fansi`` field of the completion
(and of the last chunk of a stream). A request runs as a job like any other,
so the same question asked twice is answered from the stored run.

Of the sampling fields only ``seed`` (another seed, another run) and
``max_tokens`` (tokens per written solution, within the server's cap) are
read; the rest (temperature, logprobs, response formats, tools) are accepted
and ignored, because the loop sets its own.

With ``stream: true`` the answer comes as ``chat.completion.chunk`` events
once the run has ended (comments keep the connection alive meanwhile),
ending with ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.sse import KEEPALIVE_COMMENT, format_sse_event
from pydantic import BaseModel, ConfigDict, Field

from fansi.serve.app import Svc
from fansi.serve.schemas import OpenAIError, Rejected, RunRequest, errors
from fansi.serve.service import Service
from fansi.store.jobs import JobRecord

MODEL = "fansi"
#: Seconds between keep-alive comments while a streamed run works.
PING_S = 15.0
#: Words per content chunk of a streamed answer.
WORDS_PER_CHUNK = 16


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str = Field(max_length=64)
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """An OpenAI chat completion request; unknown fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=1000)
    stream: bool = False
    stream_options: StreamOptions | None = None
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)

    def problem(self) -> str:
        asked = [m.text() for m in self.messages if m.role == "user"]
        if not asked or not asked[-1].strip():
            raise Rejected(422, "the request has no user message with text; the last one "
                                "is the problem")
        return asked[-1]


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "fansi"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


router = APIRouter(prefix="/v1", tags=["openai"], responses=errors(OpenAIError))


@router.get("/models")
async def models() -> ModelList:
    """The one model this server serves: ``fansi``."""
    return ModelList(data=[ModelCard(id=MODEL)])


@router.post("/chat/completions", responses={
    200: {"description": "A chat completion, or with stream=true its chunks as server-sent "
                         "events.", "content": {"text/event-stream": {}}},
    **errors(OpenAIError, {"404": "No such model.", "409": "The run was cancelled.",
                             "429": "The queue is full.", "502": "The run failed."})})
async def chat(body: ChatRequest, service: Svc) -> Any:
    """Solve the last user message; the reply is fansi's best verified solution."""
    if body.model != MODEL:
        raise Rejected(404, f"the model {body.model!r} does not exist; this server serves "
                            f"{MODEL!r}")
    max_tokens = body.max_completion_tokens or body.max_tokens
    job = service.submit(RunRequest(problem=body.problem(), seed=body.seed,
                                    max_tokens=max_tokens))
    if body.stream:
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        return StreamingResponse(_stream(service, job, include_usage),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})
    done = await service.wait(job.id)
    if done.status != "finished":
        return _failed(done)
    answer = _answer(service, done)
    return {
        "id": f"chatcmpl-{job.id}", "object": "chat.completion", "created": answer["created"],
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer["text"]},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": answer["usage"], "fansi": answer["fansi"],
    }


def _failed(job: JobRecord) -> JSONResponse:
    message = f"the run {job.status}: {job.error or 'no reason recorded'}"
    return JSONResponse({"error": {"message": message, "type": "fansi_error",
                                   "run_id": job.id}}, 502 if job.status == "failed" else 409)


def _answer(service: Service, job: JobRecord) -> dict[str, Any]:
    record = service.store.run(job.id)
    result: dict[str, Any] = dict(record.result or {}) if record else {}
    best = result.get("best") or {}
    usage = result.get("usage") or {}
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return {
        "text": best.get("solution") or "",
        "created": int(time.time()),
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "total_tokens": prompt + completion},
        "fansi": {"run_id": job.id, "verdict": result.get("verdict"),
                  "score": result.get("score"), "confidence": result.get("confidence"),
                  "calibrated": result.get("calibrated"), "answer": best.get("answer"),
                  "stop_reason": result.get("stop_reason"), "url": f"/runs/{job.id}"},
    }


def _sse(data: dict[str, Any] | str) -> bytes:
    return format_sse_event(data_str=data if isinstance(data, str) else json.dumps(data))


def chunks(text: str) -> list[str]:
    """The answer in pieces of a few words, whitespace kept, that join back to it."""
    words = re.findall(r"\s*\S+\s*|\s+", text)
    return ["".join(words[i:i + WORDS_PER_CHUNK]) for i in range(0, len(words), WORDS_PER_CHUNK)]


async def _stream(service: Service, job: JobRecord, include_usage: bool
                  ) -> AsyncIterator[bytes]:
    created = int(time.time())
    head = {"id": f"chatcmpl-{job.id}", "object": "chat.completion.chunk", "created": created,
            "model": MODEL}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return _sse({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                          "logprobs": None}], **extra})

    yield chunk({"role": "assistant", "content": ""})
    waiting = asyncio.ensure_future(service.wait(job.id))
    try:
        while not waiting.done():
            done, _ = await asyncio.wait({waiting}, timeout=PING_S)
            if not done:
                yield KEEPALIVE_COMMENT
    finally:
        if not waiting.done():
            waiting.cancel()
    ended = waiting.result()
    if ended.status != "finished":
        yield _sse({"error": {"message": f"the run {ended.status}: {ended.error or ''}",
                              "type": "fansi_error", "run_id": ended.id}})
        yield _sse("[DONE]")
        return
    answer = _answer(service, ended)
    for piece in chunks(answer["text"]):
        yield chunk({"content": piece})
    yield chunk({}, "stop", fansi=answer["fansi"])
    if include_usage:
        yield _sse({**head, "choices": [], "usage": answer["usage"]})
    yield _sse("[DONE]")


__all__ = ["MODEL", "ChatRequest", "chunks", "router"]
