"""A scripted backend for logic tests. It records every call it receives."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fansi.backends import TokenCallback
from fansi.errors import BackendError
from fansi.records import Completion, GenerateParams, Message, StopReason, Usage

#: A scripted reply: text, a full Completion (returned as it is, so a script
#: gives log-probabilities through ``Completion.logprobs``), or an exception
#: to raise. A text reply has no log-probabilities.
Reply = str | Completion | BackendError
Script = Callable[[Sequence[Message], GenerateParams], Reply]


@dataclass(frozen=True)
class FakeCall:
    messages: tuple[Message, ...]
    params: GenerateParams


class FakeBackend:
    """Replies from a list (in order, then the last one repeats) or a callable.

    ``supports_logprobs`` is what the backend claims, so that a caller asks
    for log-probabilities; the script supplies them.
    """

    supports_schema = False
    supports_logprobs = False

    def __init__(
        self,
        script: Sequence[Reply] | Script,
        *,
        name: str = "fake",
        latency_s: float = 0.0,
        max_concurrency: int = 64,
        supports_logprobs: bool = False,
    ) -> None:
        if not callable(script) and not script:
            raise ValueError("FakeBackend needs at least one scripted reply")
        self._script = script
        self.name = name
        self.identity = name
        self.latency_s = latency_s
        self.max_concurrency = max_concurrency
        self.supports_logprobs = supports_logprobs
        self.calls: list[FakeCall] = []
        self.closed = False

    @classmethod
    def echo(cls) -> FakeBackend:
        """The backend behind the ``fake`` spec: echoes the last user message."""
        return cls(lambda messages, params: f"echo: {messages[-1].content}")

    def _next(self, messages: Sequence[Message], params: GenerateParams) -> Reply:
        if callable(self._script):
            return self._script(messages, params)
        index = min(len(self.calls) - 1, len(self._script) - 1)
        return self._script[index]

    async def generate(
        self,
        messages: Sequence[Message],
        params: GenerateParams,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        start = time.perf_counter()
        self.calls.append(FakeCall(tuple(messages), params))
        reply = self._next(messages, params)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if isinstance(reply, BackendError):
            raise reply
        if isinstance(reply, Completion):
            return reply
        words = reply.split()
        stop: StopReason = "stop"
        if params.max_tokens is not None and len(words) > params.max_tokens:
            words, stop = words[: params.max_tokens], "length"
            reply = " ".join(words)
        if on_token is not None:
            for word in reply.split(" "):
                on_token(word + " ")
        prompt_tokens = sum(len(m.content.split()) for m in messages)
        return Completion(
            text=reply,
            stop_reason=stop,
            usage=Usage(prompt_tokens, len(words)),
            latency_s=time.perf_counter() - start,
            model=self.name,
        )

    async def aclose(self) -> None:
        self.closed = True
