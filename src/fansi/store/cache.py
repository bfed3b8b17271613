"""The call cache: a backend wrapper that answers repeated calls from the store.

A call is identified by the model's identity, the messages and the sampling
parameters, seed included. The identity names what computes the answer (a
GGUF file's sha256, an ``openai:`` server's model name), not where it lives,
so a model file moved or served under another name still finds its calls.
The engine gives every sample its own seed, so two samples of one prompt are
two calls, while the same sample asked again (a run resumed after a kill) is
answered from the store without touching the model.

Every call is stored before :meth:`CachedBackend.generate` returns. Failed
calls and cancelled completions are stored too, for the record, but without a
cache key: they are made again next time.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace

from fansi.backends import Backend, TokenCallback, Wrapper
from fansi.errors import BackendError
from fansi.records import Completion, GenerateParams, Message
from fansi.store.rows import CallRecord
from fansi.store.runs import Store

#: Bumped when the key's recipe changes, so old entries stop matching.
KEY_VERSION = 2


def cache_key(identity: str, messages: Sequence[Message], params: GenerateParams) -> str:
    """The sha256 hex digest that identifies one call.

    Args:
        identity: What computes the answer (see :class:`CachedBackend`).
        messages: The chat messages, in order.
        params: The sampling parameters; their seed tells samples apart.
    """
    canonical = json.dumps(
        {
            "version": KEY_VERSION,
            "identity": identity,
            "messages": [[m.role, m.content] for m in messages],
            "params": params.key(),
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class CachedBackend(Wrapper):
    """A :class:`~fansi.backends.Backend` that stores every call and replays stored ones.

    ``aclose`` closes the inner backend; the store belongs to the caller.

    Args:
        backend: The backend that makes the calls the store cannot answer.
        store: Where calls are stored and looked up.
        run_id: The run the calls are made for, recorded with each new call.
        identity: What the calls are keyed by: the same identity answers the
            same calls, whatever the backend's ``name``. The default is the
            backend's ``identity``.

    Attributes:
        hits: Calls answered from the store.
        misses: Calls passed to the inner backend, failed ones included.
    """

    def __init__(
        self,
        backend: Backend,
        store: Store,
        run_id: str | None = None,
        *,
        identity: str | None = None,
    ) -> None:
        super().__init__(backend)
        self.store = store
        self.run_id = run_id
        self.identity = backend.identity if identity is None else identity
        self.hits = 0
        self.misses = 0
        # Identical calls in flight at once are made once: the others wait.
        self._inflight: dict[str, asyncio.Future[Completion]] = {}

    async def generate(
        self,
        messages: Sequence[Message],
        params: GenerateParams,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        """Answer from the store if this exact call succeeded before; otherwise call and store.

        Raises:
            BackendError: The inner backend failed; the failure is stored first.
            StoreError: The store cannot be used.
        """
        key = cache_key(self.identity, messages, params)
        stored = self.store.cached_completion(key)
        if stored is not None:
            self.hits += 1
            if on_token is not None:
                on_token(stored.text)
            return stored
        pending = self._inflight.get(key)
        if pending is not None:
            completion = await asyncio.shield(pending)
            self.hits += 1
            if on_token is not None:
                on_token(completion.text)
            return replace(completion, cached=True)
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            completion = await self._call(key, messages, params, on_token)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: nobody may be waiting
            raise
        else:
            future.set_result(completion)
            return completion
        finally:
            del self._inflight[key]

    async def _call(
        self,
        key: str,
        messages: Sequence[Message],
        params: GenerateParams,
        on_token: TokenCallback | None,
    ) -> Completion:
        self.misses += 1
        call = CallRecord(
            model=self.name,
            messages=tuple(messages),
            params=params,
            completion=None,
            run_id=self.run_id,
        )
        try:
            completion = await self.inner.generate(messages, params, on_token)
        except BackendError as exc:
            self.store.add_call(replace(call, error=f"{type(exc).__name__}: {exc}"))
            raise
        # A cancelled completion is cut short on purpose; replaying it would
        # hand a later caller a fragment it never asked for.
        cacheable = completion.stop_reason != "cancelled"
        self.store.add_call(
            replace(call, completion=completion, cache_key=key if cacheable else None)
        )
        return completion


__all__ = ["KEY_VERSION", "CachedBackend", "cache_key"]
