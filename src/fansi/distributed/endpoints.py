"""Several servers of one model, used as one backend: spread the load, drop a dead one.

A spec with several URLs, ``openai:MODEL@http://gpu1:8000/v1,http://gpu2:8000/v1``,
names one model served in several places (say one vLLM server per GPU node).
Each call goes to the server with the fewest calls in flight. A server that
fails with a retryable error (it cannot be reached, timed out, 429 or 5xx)
leaves the rotation for ``cooldown_s`` and the call moves to another one.
When every server is out, the one due back first is tried again after a
backoff, up to the settings' ``retries`` per server.

Every server of a pool has the same identity, so the call cache does not care
which one answered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from fansi.backends import Backend, TokenCallback, create_backend
from fansi.config import Settings
from fansi.errors import BackendError, ConfigError
from fansi.models import parse_spec
from fansi.records import Completion, GenerateParams, Message


@dataclass
class _Member:
    backend: Backend
    in_flight: int = 0
    out_until: float = 0.0


class EndpointPool:
    """One model behind several backends that serve it.

    Args:
        members: The servers, all of the same model (the same ``identity``).
        name: What the pool is called (the spec).
        cooldown_s: How long a failed server stays out of the rotation.
        retries: Further tries per server after a retryable failure.
        backoff_s: The first wait when every server is out; it doubles each time.
    """

    def __init__(self, members: Sequence[Backend], *, name: str, cooldown_s: float = 30.0,
                 retries: int = 3, backoff_s: float = 0.5) -> None:
        if not members:
            raise ValueError("an EndpointPool needs at least one server")
        if len({m.identity for m in members}) != 1:
            raise ConfigError("the servers of one spec must serve the same model")
        self._members = [_Member(m) for m in members]
        self.name = name
        self.identity = members[0].identity
        self.supports_schema = all(m.supports_schema for m in members)
        self.supports_logprobs = all(m.supports_logprobs for m in members)
        self.max_concurrency = sum(m.max_concurrency for m in members)
        self._cooldown_s = cooldown_s
        self._tries = (retries + 1) * len(members)
        self._backoff_s = backoff_s

    def live(self) -> list[Backend]:
        """The servers in the rotation now."""
        now = time.monotonic()
        return [m.backend for m in self._members if m.out_until <= now]

    def _pick(self) -> _Member:
        now = time.monotonic()
        live = [m for m in self._members if m.out_until <= now]
        if live:
            return min(live, key=lambda m: m.in_flight)
        return min(self._members, key=lambda m: m.out_until)

    async def generate(
        self,
        messages: Sequence[Message],
        params: GenerateParams,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        delivered = False

        def relay(piece: str) -> None:
            nonlocal delivered
            delivered = True
            assert on_token is not None
            on_token(piece)

        waited = 0
        for attempt in range(1, self._tries + 1):
            member = self._pick()
            if member.out_until > time.monotonic():
                # Every server is out: back off as one server's retries would.
                await asyncio.sleep(self._backoff_s * 2**waited)
                waited += 1
            member.in_flight += 1
            try:
                return await member.backend.generate(
                    messages, params, None if on_token is None else relay)
            except BackendError as exc:
                # Text already shown cannot be taken back by asking another server.
                if not exc.retryable or delivered or attempt == self._tries:
                    raise
                member.out_until = time.monotonic() + self._cooldown_s
            finally:
                member.in_flight -= 1
        raise AssertionError("unreachable: the last try raises")

    async def aclose(self) -> None:
        for member in self._members:
            await member.backend.aclose()


def model_backend(spec: str, settings: Settings) -> Backend:
    """The backend for a spec on a worker: :func:`fansi.backends.create_backend`,
    or an :class:`EndpointPool` for an ``openai:`` spec with several URLs."""
    parsed = parse_spec(spec)
    urls = [u.strip() for u in (parsed.base_url or "").split(",") if u.strip()]
    if parsed.kind != "openai" or len(urls) < 2:
        return create_backend(parsed, settings)
    from fansi.backends.openai import OpenAIBackend

    # The pool moves a failed call to the next server; each server tries once.
    members = [OpenAIBackend(url, parsed.target, api_key=settings.api_key,
                             timeout_s=settings.timeout_s, retries=0,
                             concurrency=settings.concurrency) for url in urls]
    return EndpointPool(members, name=spec, retries=settings.retries)


__all__ = ["EndpointPool", "model_backend"]
