"""The worker: a Ray actor that holds a model for its whole life and runs jobs.

A job is one problem (``fansi run``) or one eval item (``fansi eval``): a
picklable callable that gets a :class:`Context` and runs the engine's own code
on it. The worker streams what the job writes back to the driver as it goes
(:meth:`Worker.run` is a Ray streaming generator), and answers the job's cache
misses from the driver's store through :meth:`Worker.answer`.

This module does not import Ray: :mod:`fansi.distributed.pool` turns
:class:`Worker` into an actor.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fansi.backends import Backend
from fansi.checks import CheckPool
from fansi.config import Settings
from fansi.distributed.endpoints import model_backend
from fansi.distributed.relay import Ask, Failed, Finished, Lookup, RelayStore, Sent, Write
from fansi.errors import ConfigError, ExtraNotInstalled, FansiError, InputError, ModelError
from fansi.records import Completion, GenerateParams, Message
from fansi.store import CallRecord

#: Builds a worker's model from a spec; the default is :func:`model_backend`.
BackendFactory = Callable[[str, Settings], Backend]

#: Errors that every problem would meet alike: the batch stops instead of retrying.
FATAL = (ConfigError, InputError, ModelError, ExtraNotInstalled)


@dataclass(frozen=True)
class Context:
    """What a job runs with on a worker.

    Attributes:
        backend: The worker's model, behind the driver's call cache.
        verifier: The verifying model (same wrapping), or None when the writer verifies.
        store: The relay store (the job's writes go to the driver).
        checks: The worker's sandboxed check pool.
    """

    backend: Backend
    verifier: Backend | None
    store: RelayStore
    checks: CheckPool


class Job(Protocol):
    """One unit of work: a problem or an eval item."""

    @property
    def calls(self) -> tuple[CallRecord, ...]:
        """Finished calls sent with the job for the worker's cache."""

    async def __call__(self, context: Context) -> Any: ...


@dataclass
class _Held:
    backend: Backend
    verifier: Backend | None
    checks: CheckPool


class Worker:
    """Holds the model, the verifier and a check pool; runs one job per call of :meth:`run`.

    Args:
        settings: The batch's settings (the model and verifier specs).
        make: Builds a model from a spec (tests give a scripted one).
    """

    def __init__(self, settings: Settings, make: BackendFactory | None = None) -> None:
        self._settings = settings
        self._make = make or model_backend
        self._holding: asyncio.Task[_Held] | None = None
        self._asked: dict[int, asyncio.Future[Completion | None]] = {}
        self._tokens = itertools.count()

    async def _hold(self) -> _Held:
        # Jobs that start together wait for one model, not one each.
        if self._holding is None:
            self._holding = asyncio.ensure_future(self._load())
        return await self._holding

    async def _load(self) -> _Held:
        settings = self._settings
        backend = self._make(settings.model, settings)
        verifier = (None if settings.verifier_model in (None, settings.model)
                    else self._make(settings.verifier_model, settings))
        return _Held(backend, verifier, CheckPool())

    async def close(self) -> None:
        """Close the models and the check pool (the pool calls it before it goes)."""
        if self._holding is None or not self._holding.done() or self._holding.exception():
            return
        held = self._holding.result()
        held.checks.close()
        await held.backend.aclose()
        if held.verifier is not None:
            await held.verifier.aclose()

    async def ready(self) -> int | Failed:
        """Load the model; return how many calls it takes at once, or why it cannot start."""
        try:
            held = await self._hold()
        except Exception as exc:
            return failure(exc)
        return held.backend.max_concurrency

    def pid(self) -> int:
        """The worker's process id (tests kill it)."""
        return os.getpid()

    async def generate(self, messages: list[Message], params: GenerateParams) -> Completion:
        """One call to the worker's model, outside any job (no cache: the caller has one)."""
        held = await self._hold()
        return await held.backend.generate(messages, params)

    async def answer(self, token: int, completion: Completion | None) -> None:
        """The driver's answer to an :class:`~fansi.distributed.relay.Ask`."""
        waiting = self._asked.pop(token, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(completion)

    async def run(self, job: Job) -> AsyncIterator[list[Sent]]:
        """Run ``job``, yielding what it writes and asks, in order, as it goes.

        Each yield is the batch of messages made since the last one; the last
        batch ends with :class:`~fansi.distributed.relay.Finished` or
        :class:`~fansi.distributed.relay.Failed`.
        """
        outbox: asyncio.Queue[Sent] = asyncio.Queue()

        async def ask(key: str) -> Completion | None:
            token = next(self._tokens)
            waiting: asyncio.Future[Completion | None] = (
                asyncio.get_running_loop().create_future())
            self._asked[token] = waiting
            outbox.put_nowait(Ask(token, key))
            return await waiting

        def send(write: Write) -> None:
            outbox.put_nowait(write)

        async def work() -> None:
            store: RelayStore | None = None
            try:
                held = await self._hold()
                store = RelayStore(send, job.calls)
                verifier = None if held.verifier is None else Lookup(held.verifier, ask)
                context = Context(Lookup(held.backend, ask), verifier, store, held.checks)
                outbox.put_nowait(Finished(await job(context)))
            except Exception as exc:
                outbox.put_nowait(failure(exc))
            finally:
                if store is not None:
                    store.close()

        task = asyncio.ensure_future(work())
        try:
            while True:
                batch = [await outbox.get()]
                while not outbox.empty():
                    batch.append(outbox.get_nowait())
                yield batch
                if isinstance(batch[-1], Finished | Failed):
                    return
        finally:
            task.cancel()


def failure(exc: Exception) -> Failed:
    """A job's exception as data (exceptions with their own arguments do not
    always survive pickling)."""
    if isinstance(exc, FansiError):
        return Failed(f"{type(exc).__name__}: {exc.message}", exc.hint, isinstance(exc, FATAL))
    return Failed(f"{type(exc).__name__}: {exc}")


__all__ = ["FATAL", "BackendFactory", "Context", "Job", "Worker", "failure"]
