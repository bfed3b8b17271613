"""What a worker sends the driver, and how each side handles it.

A worker runs the engine's own stored-run path (:func:`fansi.api.run_stored`)
on a :class:`RelayStore`: a scratch store in the worker's memory that passes
every write on to the driver as it is made. The driver applies the writes to
the one real store (:class:`Receiver`), so the store keeps a single writer and
a worker that dies costs only the calls it had in flight.

The call cache on a worker answers from three places, in order: the scratch
store (the calls of this run that the driver sent with the task, and those
made since), then the driver's store (:class:`Lookup` asks; the driver
answers), then the model. A problem retried on another worker therefore
replays its finished calls instead of paying for them again.

Every message is a small frozen dataclass; Ray pickles them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fansi.backends import Backend, TokenCallback, Wrapper
from fansi.records import (
    Candidate,
    CheckResult,
    Completion,
    GenerateParams,
    Message,
    MetaCheck,
    Problem,
    Verification,
)
from fansi.store import CallRecord, MemorySink, RunStatus, Store, cache_key
from fansi.store.db import connect
from fansi.store.rows import RecordT
from fansi.store.sink import SinkRecord


@dataclass(frozen=True)
class Created:
    """A run was created (the driver creates it unless it has it already)."""

    run_id: str
    problem: Problem
    settings: Mapping[str, Any]
    fansi_version: str
    model: str
    model_checksum: str | None


@dataclass(frozen=True)
class Status:
    """A run's status changed."""

    run_id: str
    status: RunStatus
    result: Mapping[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class Record:
    """A candidate, verification, meta-check or executed check of a run."""

    run_id: str
    record: SinkRecord


@dataclass(frozen=True)
class Call:
    """A model call, stored the moment it returned."""

    call: CallRecord


@dataclass(frozen=True)
class Ask:
    """A call the worker's cache cannot answer: does the driver's store hold it?"""

    token: int
    key: str


@dataclass(frozen=True)
class Finished:
    """The job is done; ``value`` is what it returns."""

    value: Any


@dataclass(frozen=True)
class Failed:
    """The job raised. ``fatal`` errors (bad settings, a missing model or extra)
    would fail every problem alike, so they stop the batch instead of being retried."""

    reason: str
    hint: str = ""
    fatal: bool = False


#: What the driver writes to its store.
Write = Created | Status | Record | Call
#: Everything a worker sends, in the order it happened.
Sent = Write | Ask | Finished | Failed


class RelayStore(Store):
    """A scratch store in memory whose every write is also handed to ``send``.

    It is a real :class:`~fansi.store.Store`, so the engine, the call cache and
    the eval harness use it unchanged; only the driver's store is kept.

    Args:
        send: Takes each write as it is made (the worker queues it for the driver).
        calls: Finished calls to answer from (sent with the task); not sent back.
    """

    def __init__(self, send: Callable[[Write], None], calls: Iterable[CallRecord] = ()) -> None:
        memory = Path(":memory:")
        super().__init__(connect(memory), memory)
        for call in calls:
            # Its run lives in the driver's store, not here.
            super().add_call(dataclasses.replace(call, run_id=None))
        self._send = send

    def create_run(
        self,
        problem: Problem,
        *,
        settings: Mapping[str, Any],
        fansi_version: str,
        model: str,
        model_checksum: str | None = None,
        run_id: str | None = None,
    ) -> str:
        made = super().create_run(problem, settings=settings, fansi_version=fansi_version,
                                  model=model, model_checksum=model_checksum, run_id=run_id)
        self._send(Created(made, problem, dict(settings), fansi_version, model, model_checksum))
        return made

    def set_run_status(
        self,
        run_id: str,
        status: RunStatus,
        *,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        super().set_run_status(run_id, status, result=result, error=error)
        self._send(Status(run_id, status, result, error))

    def add_candidate(self, run_id: str, candidate: Candidate) -> Candidate:
        return self._relay(run_id, super().add_candidate(run_id, candidate))

    def add_verification(self, run_id: str, verification: Verification) -> Verification:
        return self._relay(run_id, super().add_verification(run_id, verification))

    def add_meta_check(self, run_id: str, check: MetaCheck) -> MetaCheck:
        return self._relay(run_id, super().add_meta_check(run_id, check))

    def add_check(self, run_id: str, check: CheckResult) -> CheckResult:
        return self._relay(run_id, super().add_check(run_id, check))

    def add_call(self, call: CallRecord) -> None:
        super().add_call(call)
        # A call the driver answered is in its store already.
        if call.completion is None or not call.completion.cached:
            self._send(Call(call))

    def _relay(self, run_id: str, record: RecordT) -> RecordT:
        self._send(Record(run_id, record))
        return record


#: Asks the driver for a stored call by its cache key.
AskDriver = Callable[[str], Awaitable[Completion | None]]


class Lookup(Wrapper):
    """Answers a call from the driver's store when it holds it, else calls the model.

    It sits inside the worker's call cache, which stores what comes back
    either way (the driver ignores a call it has already).
    """

    def __init__(self, inner: Backend, ask: AskDriver) -> None:
        super().__init__(inner)
        self._ask = ask

    async def generate(
        self,
        messages: Sequence[Message],
        params: GenerateParams,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        stored = await self._ask(cache_key(self.identity, messages, params))
        if stored is None:
            return await self.inner.generate(messages, params, on_token)
        if on_token is not None:
            on_token(stored.text)
        return stored


class Receiver:
    """The driver's half: applies a worker's writes to the store, in the order made.

    Two rules keep the store as one machine would leave it: a run that exists
    is not created again, and a run that is done keeps the result of the run
    that did the work when a replay finishes it again.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def apply(self, write: Write) -> None:
        store = self.store
        match write:
            case Call(call):
                store.add_call(call)
            case Record(run_id, record):
                one = MemorySink()
                one.records.append((run_id, record))
                one.replay(store)
            case Created(run_id, problem, settings, version, model, checksum):
                if store.run(run_id) is None:
                    store.create_run(problem, settings=settings, fansi_version=version,
                                     model=model, model_checksum=checksum, run_id=run_id)
            case Status(run_id, status, result, error):
                known = store.run(run_id)
                if known is not None and known.status == "done" and status == "done":
                    return
                store.set_run_status(run_id, status, result=result, error=error)

    def answer(self, ask: Ask) -> Completion | None:
        return self.store.cached_completion(ask.key)


def finished_calls(store: Store, run_id: str) -> tuple[CallRecord, ...]:
    """The calls of a run that the cache can answer, to send with its task."""
    return tuple(c for c in store.calls(run_id) if c.cache_key is not None)


__all__ = [
    "Ask",
    "AskDriver",
    "Call",
    "Created",
    "Failed",
    "Finished",
    "Lookup",
    "Receiver",
    "Record",
    "RelayStore",
    "Sent",
    "Status",
    "Write",
    "finished_calls",
]
