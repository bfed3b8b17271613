"""The service behind the HTTP routes: jobs in the store, a bounded queue,
workers that run each job through :func:`fansi.api.run_stored`, and the events.

One :class:`Service` owns the store (the single writer), one backend, one
check pool, and as many workers as the backend can use at once: one for a
backend that runs one call at a time, else ``settings.concurrency`` (at most
the backend's ``max_concurrency``).

Everything runs on one event loop, which is also the thread that opened the
store. A job's events are stored as they come (numbered, so a stream can be
resumed) and wake the streams that listen; the writer's tokens go only to
the streams listening at the moment. A job cancelled by a user ends
``cancelled``; a job that the stopping service interrupts goes back to
``queued``, and the next service to start runs it again, as it does jobs
left ``running`` by a killed one. The call cache means no finished call is
made twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fansi import api
from fansi.backends import Backend, create_backend
from fansi.checks import CheckPool
from fansi.config import Settings
from fansi.engine.events import Event
from fansi.errors import FansiError
from fansi.inputs import problem_from_text
from fansi.serve.schemas import Rejected, RunRequest, resolve, restored_settings, stored_settings
from fansi.store import Store
from fansi.store.jobs import RESUMABLE, TERMINAL, JobRecord, Jobs, JobStatus

log = logging.getLogger("fansi.serve")

#: What a listening stream is handed: None when new events are stored, text for tokens.
Wakeup = str | None


@dataclass(frozen=True)
class Limits:
    """What the service accepts."""

    #: Jobs waiting at once; past it a request answers 429.
    queue: int = 64
    #: Bytes in one request body.
    max_body_bytes: int = 1 << 20
    #: Characters in a solution to grade.
    max_solution_chars: int = 100_000
    #: Seconds a client is told to wait when the queue is full.
    retry_after_s: int = 10


class Service:
    """Jobs, workers and events over one store, backend and check pool.

    Args:
        settings: The server's settings: its defaults and its caps.
        backend: A backend to use instead of one built from ``settings.model``
            (not closed here).
        verifier: A verifying backend to use instead of ``settings.verifier_model``.
        limits: What the service accepts.
    """

    def __init__(self, settings: Settings, *, backend: Backend | None = None,
                 verifier: Backend | None = None, limits: Limits | None = None) -> None:
        self.settings = settings
        self.limits = limits or Limits()
        self._given = (backend, verifier)
        self._stack = AsyncExitStack()
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancelling: set[str] = set()
        self._listeners: dict[str, set[asyncio.Queue[Wakeup]]] = {}
        self._ended: dict[str, asyncio.Event] = {}
        self._progress: dict[str, dict[str, Any]] = {}
        self.closing = False
        self.workers = 0

    # --- life ------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, the backends and the pool; queue the unfinished jobs; start workers.

        Raises:
            FansiError: The store, the model or the pool cannot be opened.
        """
        stack = self._stack
        try:
            self.store = stack.enter_context(Store.open(self.settings.store_path))
            self.jobs = Jobs(self.store)
            backend, verifier = self._given
            self.backend = backend or await self._own(self.settings.model)
            wanted = self.settings.verifier_model
            self.verifier = verifier or (await self._own(wanted)
                                         if wanted not in (None, self.settings.model) else None)
            self.pool = await stack.enter_async_context(CheckPool())
        except BaseException:
            await stack.aclose()
            raise
        for job in self.jobs.with_status(*RESUMABLE):
            if job.status == "running":
                self.jobs.set_status(job.id, "queued")
            self._emit(job.id, "job_resumed", was=job.status)
            self._queue.put_nowait(job.id)
        most = self.backend.max_concurrency
        self.workers = 1 if most <= 1 else min(self.settings.concurrency, most)
        self._workers = [asyncio.create_task(self._work(), name=f"fansi-worker-{i}")
                         for i in range(self.workers)]

    async def _own(self, spec: str | None) -> Backend:
        assert spec is not None
        made = create_backend(spec, self.settings)
        self._stack.push_async_callback(made.aclose)
        return made

    def close_streams(self) -> None:
        """End every event stream and wait (the server is stopping)."""
        self.closing = True
        for listeners in self._listeners.values():
            for queue in listeners:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(None)
        for ended in self._ended.values():
            ended.set()

    async def stop(self) -> None:
        """End the streams, stop the workers (their jobs go back to the queue), close all."""
        self.close_streams()
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        await self._stack.aclose()

    # --- requests ----------------------------------------------------------

    def submit(self, request: RunRequest) -> JobRecord:
        """Queue a request as a job, or find the job that already answers it.

        The job's id is the run's stable id, so the same request finds the
        same job: a queued, running or finished one is returned as it is, and
        a failed or cancelled one is queued again (to continue its run).

        Raises:
            Rejected: 422 for a request over the caps, 429 when the queue is full.
            InputError: The problem is empty or too long.
        """
        settings = resolve(request, self.settings)
        problem = problem_from_text(request.problem, max_chars=settings.max_problem_chars)
        solution = None
        if request.mode == "verify":
            assert request.solution is not None
            solution = request.solution.strip()
            if len(solution) > self.limits.max_solution_chars:
                raise Rejected(422, f"the solution has {len(solution):,} characters, over the "
                                    f"limit of {self.limits.max_solution_chars:,}")
        run_id = api.stable_run_id(problem, settings, solution)
        found = self.jobs.get(run_id)
        if found is not None and found.status not in ("failed", "cancelled"):
            return found
        queued = self.jobs.count("queued")
        if queued >= self.limits.queue:
            raise Rejected(429, f"the queue is full ({queued} jobs waiting); try again later",
                           headers={"Retry-After": str(self.limits.retry_after_s)})
        job = self.jobs.add(run_id, {
            "request": request.model_dump(mode="json", exclude_none=True),
            "settings": stored_settings(settings),
        })
        self._emit(run_id, "job_queued", position=queued + 1)
        self._queue.put_nowait(run_id)
        return job

    async def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued or running job (cancelling a cancelled one changes nothing).

        Raises:
            Rejected: 404 for no such job, 409 for one that already ended otherwise.
        """
        job = self.jobs.get(job_id)
        if job is None:
            if self.store.run(job_id) is not None:
                raise Rejected(409, f"run {job_id} was not started by this service; "
                                    "there is no job to cancel")
            raise Rejected(404, f"there is no run {job_id}")
        if job.status == "queued":
            self._end(job_id, "cancelled", "job_cancelled")
        elif job.status == "running":
            self._cancelling.add(job_id)
            task = self._tasks.get(job_id)
            if task is not None:
                task.cancel()
                await asyncio.wait({task}, timeout=30)
        elif job.status != "cancelled":
            raise Rejected(409, f"run {job_id} has already {job.status}; it cannot be cancelled")
        found = self.jobs.get(job_id)
        assert found is not None
        return found

    async def wait(self, job_id: str) -> JobRecord:
        """The job once it has ended (finished, failed or cancelled)."""
        while True:
            job = self.jobs.get(job_id)
            if job is None or job.status in TERMINAL or self.closing:
                if job is None:
                    raise Rejected(404, f"there is no run {job_id}")
                return job
            await self._ended.setdefault(job_id, asyncio.Event()).wait()

    @asynccontextmanager
    async def listen(self, job_id: str) -> AsyncIterator[asyncio.Queue[Wakeup]]:
        """A queue that is woken for each stored event of the job and handed its tokens."""
        queue: asyncio.Queue[Wakeup] = asyncio.Queue(maxsize=1024)
        self._listeners.setdefault(job_id, set()).add(queue)
        try:
            yield queue
        finally:
            listeners = self._listeners.get(job_id, set())
            listeners.discard(queue)
            if not listeners:
                self._listeners.pop(job_id, None)

    def running(self) -> int:
        return len(self._tasks)

    # --- the workers ---------------------------------------------------------

    async def _work(self) -> None:
        while True:
            job_id = await self._queue.get()
            job = self.jobs.get(job_id)
            if job is None or job.status != "queued" or job_id in self._tasks:
                continue
            task = asyncio.create_task(self._run(job), name=f"fansi-job-{job_id}")
            self._tasks[job_id] = task
            try:
                await asyncio.wait({task})
            except asyncio.CancelledError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                raise

    async def _run(self, job: JobRecord) -> None:
        try:
            if (now := self.jobs.get(job.id)) is None or now.status != "queued":
                return  # cancelled between the queue and here
            self.jobs.set_status(job.id, "running")
            self._emit(job.id, "job_started")
            stored = await self._engine(job)
        except asyncio.CancelledError:
            if job.id in self._cancelling:
                self._end(job.id, "cancelled", "job_cancelled")
            else:
                self._end(job.id, "queued", "job_paused", reason="the server is stopping")
            raise
        except FansiError as exc:
            self._end(job.id, "failed", "job_failed", error=exc.message, hint=exc.hint)
        except Exception as exc:
            log.exception("job %s failed", job.id)
            self._end(job.id, "failed", "job_failed", error=f"internal error: "
                      f"{type(exc).__name__}: {exc}", hint="This is a bug in fansi.")
        else:
            result = stored.result
            self._end(job.id, "finished", "job_finished", verdict=result.verdict,
                      score=result.score, confidence=result.confidence,
                      calibrated=result.calibrated)
        finally:
            self._tasks.pop(job.id, None)
            self._cancelling.discard(job.id)
            self._progress.pop(job.id, None)

    async def _engine(self, job: JobRecord) -> api.Stored:
        request = RunRequest.model_validate(job.request["request"])
        try:
            settings = restored_settings(dict(job.request["settings"]), self.settings)
        except ValueError as exc:
            raise FansiError(f"job {job.id} has settings this fansi cannot read: {exc}") from exc
        problem = problem_from_text(request.problem, max_chars=settings.max_problem_chars)
        solution = request.solution.strip() if request.solution is not None else None
        return await api.run_stored(
            problem, settings, mode=request.mode, solution=solution, run_id=job.id,
            backend=self.backend, verifier=self.verifier, store=self.store, checks=self.pool,
            on_event=lambda event: self._engine_event(job.id, event),
            on_token=lambda text: self._token(job.id, text),
        )

    # --- events --------------------------------------------------------------

    def _engine_event(self, job_id: str, event: Event) -> None:
        progress = {"round": event.round, "tokens": event.tokens, "calls": event.calls,
                    "seconds": round(event.seconds, 3)}
        self._progress[job_id] = progress
        # Events carry plain data; anything else is shown as text rather than lost.
        data = json.loads(json.dumps(event.data, default=str))
        self._store_event(job_id, event.kind, {**progress, "data": data})

    def _emit(self, job_id: str, kind: str, **data: Any) -> None:
        progress = self._progress.get(job_id, {"round": 0, "tokens": 0, "calls": 0,
                                                "seconds": 0.0})
        self._store_event(job_id, kind, {**progress, "data": data})

    def _store_event(self, job_id: str, kind: str, data: Mapping[str, Any]) -> None:
        self.jobs.add_event(job_id, kind, data)
        for queue in self._listeners.get(job_id, ()):
            if not queue.full():
                queue.put_nowait(None)

    def _end(self, job_id: str, status: JobStatus, kind: str, **data: Any) -> None:
        """Store the job's last event and its status together (no await between),
        so a stream that sees the status has every event."""
        self._emit(job_id, kind, **data)
        self.jobs.set_status(job_id, status, error=data.get("error"))
        if (ended := self._ended.pop(job_id, None)) is not None:
            ended.set()

    def _token(self, job_id: str, text: str) -> None:
        for queue in self._listeners.get(job_id, ()):
            if not queue.full():
                queue.put_nowait(text)


__all__ = ["Limits", "Service", "Wakeup"]
