"""Any OpenAI-compatible chat server: vLLM, SGLang, Ollama, llama.cpp's server, hosted APIs.

One ``POST {base_url}/chat/completions`` per call, streamed as server-sent events
when the caller wants tokens as they come. Failures are translated once, here,
into the ``BackendError`` tree; connection errors, timeouts, HTTP 429 and 5xx
are retried with exponential backoff, other 4xx are not.

Log-probabilities are asked for (``logprobs``, ``top_logprobs``) when a call
wants them and the backend is told the server gives them; a server that
sends none gives ``Completion.logprobs = None``. They are read from plain and
streamed responses alike.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel, ValidationError

from fansi.backends import TokenCallback
from fansi.config import default
from fansi.errors import (
    BackendError,
    BackendRateLimited,
    BackendRequestError,
    BackendServerError,
    BackendTimeout,
    BackendUnavailable,
    ConfigError,
)
from fansi.models import ModelSpec
from fansi.records import Completion, GenerateParams, Message, StopReason, TokenLogprob, Usage

if TYPE_CHECKING:
    from fansi.config import Settings

# Direct construction (tests, scripts) gets the settings' defaults.
_TIMEOUT_S: float = default("timeout_s")
_RETRIES: int = default("retries")
_CONCURRENCY: int = default("concurrency")

AUTH_HINT = "The server refused the credentials; set api_key in fansi.toml or FANSI_API_KEY."
#: The most alternatives per token OpenAI's API accepts (``top_logprobs``).
MAX_TOP_LOGPROBS = 20


# --- the wire format (only the fields we read; servers add many more) ------


class _Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Content(BaseModel):
    content: str | None = None


class _TopLogprob(BaseModel):
    token: str
    logprob: float


class _TokenLogprob(_TopLogprob):
    top_logprobs: list[_TopLogprob] = []


class _Logprobs(BaseModel):
    content: list[_TokenLogprob] | None = None


class _Choice(BaseModel):
    message: _Content | None = None  # a plain response
    delta: _Content | None = None  # one chunk of a stream
    finish_reason: str | None = None
    logprobs: _Logprobs | None = None


class _Body(BaseModel):
    """A chat completion, one chunk of a streamed one, or an error sent inside a stream."""

    choices: list[_Choice] = []
    usage: _Usage | None = None
    error: dict[str, Any] | str | None = None


@dataclass(frozen=True)
class _Result:
    text: str
    finish_reason: str | None
    usage: Usage
    logprobs: tuple[TokenLogprob, ...] | None


def _logprobs(choice: _Choice) -> list[TokenLogprob] | None:
    """A choice's tokens with their alternatives, or None if the server sent none."""
    if choice.logprobs is None or choice.logprobs.content is None:
        return None
    return [
        TokenLogprob(t.token, t.logprob, tuple((a.token, a.logprob) for a in t.top_logprobs))
        for t in choice.logprobs.content
    ]


def _stop_reason(finish_reason: str | None) -> StopReason:
    return "length" if finish_reason == "length" else "stop"


def _server_message(text: str) -> str:
    """The server's own error message: ``{"error": {"message": ...}}`` or the body's start."""
    try:
        error = _Body.model_validate_json(text).error
    except ValidationError:
        error = None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(error, str):
        return error
    return text.strip()[:300] or "(empty body)"


class OpenAIBackend:
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        base_url: The API root, e.g. ``http://127.0.0.1:8000/v1``.
        model: The model name the server knows.
        api_key: Sent as ``Authorization: Bearer ...`` when given.
        timeout_s: Limit on connecting and on each wait for data from the server.
        retries: Further attempts after a retryable failure.
        concurrency: Most requests in flight at once.
        backoff_s: Wait before the first retry; it doubles on each further one.
        transport: An httpx transport to use instead of the network (tests).
        supports_logprobs: Whether to ask the server for log-probabilities when
            a call wants them (OpenAI, vLLM and llama-cpp-python give them;
            a server that ignores the request gives none, which is no error).
    """

    supports_schema = True

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = _TIMEOUT_S,
        retries: int = _RETRIES,
        concurrency: int = _CONCURRENCY,
        backoff_s: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        supports_logprobs: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{model}@{self.base_url}"
        # The served model, wherever it is served from.
        self.identity = f"openai:{model}"
        self.max_concurrency = concurrency
        self.supports_logprobs = supports_logprobs
        self._url = f"{self.base_url}/chat/completions"
        self._timeout_s = timeout_s
        self._retries = retries
        self._backoff_s = backoff_s
        self._semaphore = asyncio.Semaphore(concurrency)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(timeout_s), transport=transport
        )

    @classmethod
    def from_spec(cls, spec: ModelSpec, settings: Settings) -> OpenAIBackend:
        if spec.base_url is None:
            raise ConfigError(f"model spec {spec.raw!r} has no server URL")
        return cls(
            spec.base_url,
            spec.target,
            api_key=settings.api_key,
            timeout_s=settings.timeout_s,
            retries=settings.retries,
            concurrency=settings.concurrency,
        )

    async def generate(
        self,
        messages: Sequence[Message],
        params: GenerateParams,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        body = self._body(messages, params, stream=on_token is not None)
        async with self._semaphore:
            attempt = 0
            while True:
                # Pieces already handed to on_token; a retry would hand them out twice.
                delivered: list[str] = []
                # Latency is the successful attempt's: queueing and backoff are not the server's.
                start = time.perf_counter()
                try:
                    result = await self._attempt(body, on_token, delivered)
                except BackendError as exc:
                    if not exc.retryable or attempt >= self._retries or delivered:
                        raise
                else:
                    return Completion(
                        text=result.text,
                        stop_reason=_stop_reason(result.finish_reason),
                        usage=result.usage,
                        latency_s=time.perf_counter() - start,
                        model=self.name,
                        logprobs=result.logprobs,
                    )
                delay = self._backoff_s * 2**attempt
                await asyncio.sleep(delay + random.uniform(0, delay / 10))
                attempt += 1

    async def aclose(self) -> None:
        await self._client.aclose()

    def _body(
        self, messages: Sequence[Message], params: GenerateParams, *, stream: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
        }
        optional: dict[str, Any] = {
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
            "stop": list(params.stop) or None,
        }
        body.update((k, v) for k, v in optional.items() if v is not None)
        if params.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "verdict", "schema": params.json_schema, "strict": True},
            }
        if params.logprobs > 0 and self.supports_logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = min(params.logprobs, MAX_TOP_LOGPROBS)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    async def _attempt(
        self, body: dict[str, Any], on_token: TokenCallback | None, delivered: list[str]
    ) -> _Result:
        """One request, with every failure translated into a ``BackendError``."""
        try:
            if on_token is None:
                response = await self._client.post(self._url, json=body)
                self._check_status(response)
                return self._parse_plain(response.text)
            async with self._client.stream("POST", self._url, json=body) as response:
                if response.status_code >= 300:
                    await response.aread()
                    self._check_status(response)
                return await self._read_stream(response, on_token, delivered)
        except httpx.TimeoutException as exc:
            raise BackendTimeout(
                f"{self._url}: no answer within {self._timeout_s:g} s ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise BackendUnavailable(
                f"cannot reach {self._url}: {str(exc) or type(exc).__name__}"
            ) from exc
        except httpx.DecodingError as exc:
            raise BackendServerError(f"{self._url} sent an undecodable body: {exc}") from exc

    def _check_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 300:
            return
        message = f"{self._url} answered HTTP {status}: {_server_message(response.text)}"
        if status == 429:
            raise BackendRateLimited(message)
        if status >= 500:
            raise BackendServerError(message)
        if status in (401, 403):
            raise BackendRequestError(message, hint=AUTH_HINT)
        raise BackendRequestError(message)

    def _parse(self, text: str) -> _Body:
        try:
            parsed = _Body.model_validate_json(text)
        except ValidationError as exc:
            raise BackendServerError(
                f"{self._url} sent a response that is not a chat completion "
                f"({exc.error_count()} error(s), first: {exc.errors()[0]['msg']}): {text[:300]!r}"
            ) from exc
        if parsed.error is not None:
            raise BackendServerError(f"{self._url} reported an error: {_server_message(text)}")
        return parsed

    def _parse_plain(self, text: str) -> _Result:
        parsed = self._parse(text)
        message = parsed.choices[0].message if parsed.choices else None
        if message is None:
            raise BackendServerError(f"{self._url} sent no message: {text[:300]!r}")
        usage = parsed.usage or _Usage()
        logprobs = _logprobs(parsed.choices[0])
        return _Result(
            text=message.content or "",
            finish_reason=parsed.choices[0].finish_reason,
            usage=Usage(usage.prompt_tokens, usage.completion_tokens),
            logprobs=None if logprobs is None else tuple(logprobs),
        )

    async def _read_stream(
        self, response: httpx.Response, on_token: TokenCallback, delivered: list[str]
    ) -> _Result:
        finish_reason: str | None = None
        usage: _Usage | None = None
        logprobs: list[TokenLogprob] | None = None
        async for line in response.aiter_lines():
            # SSE: "data: ..." carries a chunk; blank lines, comments and other fields do not.
            if not line.startswith("data:"):
                continue
            payload = line[len("data:") :].strip()
            if payload == "[DONE]":
                break
            chunk = self._parse(payload)
            usage = chunk.usage or usage
            for choice in chunk.choices[:1]:
                finish_reason = choice.finish_reason or finish_reason
                if (tokens := _logprobs(choice)) is not None:
                    logprobs = logprobs or []
                    logprobs.extend(tokens)
                if choice.delta is not None and choice.delta.content:
                    delivered.append(choice.delta.content)
                    on_token(choice.delta.content)
        if usage is None:
            # The server ignored stream_options.include_usage. Count one token per
            # content chunk (servers send about one token each) and leave the
            # prompt unknown: 0 rather than a guess.
            usage = _Usage(prompt_tokens=0, completion_tokens=len(delivered))
        return _Result(
            text="".join(delivered),
            finish_reason=finish_reason,
            usage=Usage(usage.prompt_tokens, usage.completion_tokens),
            logprobs=None if logprobs is None else tuple(logprobs),
        )
