"""Ray itself: connecting, and a pool of worker actors that runs jobs with retries.

Each worker is a Ray actor (:class:`fansi.distributed.worker.Worker`) that
keeps its model for its whole life, with a few jobs in flight at once (its
lanes). A job runs on one worker; everything it writes streams back and is
applied to the driver's store as it arrives. When a worker dies, the pool
replaces it and runs the job again elsewhere; the retry replays the job's
finished calls from the store. A job that keeps failing comes back as an
:class:`Outcome` with the reason, and the batch goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fansi.config import Settings
from fansi.distributed.relay import Ask, Failed, Finished, Receiver
from fansi.distributed.worker import BackendFactory, Job, Worker
from fansi.errors import ExtraNotInstalled, FansiError
from fansi.models import parse_spec

if TYPE_CHECKING:
    from types import ModuleType

#: Attempts per job, the first included.
ATTEMPTS = 3


def import_ray(what: str = "--ray") -> ModuleType:
    """The ``ray`` module, or :class:`~fansi.errors.ExtraNotInstalled` with the install hint."""
    try:
        import ray
    except ImportError as exc:
        raise ExtraNotInstalled("ray", what) from exc
    return ray


@contextmanager
def connected(address: str | None) -> Iterator[ModuleType]:
    """Ray, connected to the cluster at ``address`` (``auto``, ``HOST:PORT``), or
    to a local instance started here when ``address`` is None.

    Usage statistics are off and no dashboard is started. A connection made
    here is closed on exit; one that was open already (a test's) is left open.
    """
    # Ray reads this when it starts; nothing of fansi reads it.
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    # A worker's own output (a model loading, say) is not the batch's output.
    options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address is None:
        options["include_dashboard"] = False
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError) as exc:
        raise FansiError(f"cannot connect to Ray at {address}: {exc}",
                         hint="Start it with `ray start --head`, or drop the address "
                              "to start a local instance.") from exc
    try:
        yield ray
    finally:
        ray.shutdown()


@dataclass(frozen=True)
class Outcome:
    """How a job ended: its value, or why it failed after ``attempts`` tries."""

    value: Any = None
    error: str | None = None
    attempts: int = 1


class WorkerPool:
    """Worker actors over a Ray cluster, and the dispatch of jobs to them.

    Args:
        ray: The connected ``ray`` module (see :func:`connected`).
        settings: The batch's settings; every worker builds its model from them.
        workers: How many workers; by default as many as the cluster has room
            for (one per CPU, or per ``threads`` CPUs for a local model).
        make: Builds a worker's model from a spec (tests give a scripted one).
        attempts: Tries per job before it is given up as failed.
    """

    def __init__(self, ray: ModuleType, settings: Settings, *, workers: int | None = None,
                 make: BackendFactory | None = None, attempts: int = ATTEMPTS) -> None:
        local = parse_spec(settings.model).kind == "llamacpp"
        self._cpus = (settings.threads or 1) if local else 1
        room = int(ray.cluster_resources().get("CPU", 1)) // self._cpus
        self._ray = ray
        self._settings = settings
        self._make = make
        self._attempts = attempts
        self._actor = ray.remote(num_cpus=self._cpus, max_restarts=0)(Worker)
        self.actors: list[Any] = [self._spawn() for _ in range(workers or max(1, room))]
        self._free: asyncio.Queue[int] = asyncio.Queue()
        self.slots = 0
        #: Workers replaced after they died.
        self.replaced = 0

    def _spawn(self) -> Any:
        return self._actor.remote(self._settings, self._make)

    async def start(self, lanes: int | None = None) -> None:
        """Load the model on every worker and open ``lanes`` jobs per worker (by
        default ``settings.concurrency``, or 1 for a model that takes one call at a time).

        Raises:
            FansiError: A worker cannot load its model.
        """
        ready = await asyncio.gather(*(actor.ready.remote() for actor in self.actors))
        for answer in ready:
            if isinstance(answer, Failed):
                raise FansiError(f"a Ray worker cannot start: {answer.reason}",
                                 hint=answer.hint or None)
        if lanes is None:
            lanes = self._settings.concurrency if min(ready) > 1 else 1
        for _ in range(lanes):
            for index in range(len(self.actors)):
                self._free.put_nowait(index)
        self.slots = lanes * len(self.actors)

    async def run(self, job: Job, receiver: Receiver) -> Outcome:
        """Run ``job`` on a free worker, applying what it sends to ``receiver``'s store.

        Raises:
            FansiError: The job failed in a way every job would (bad settings,
                a missing model); the batch should stop.
        """
        ray_error = self._ray.exceptions
        reason = ""
        for attempt in range(1, self._attempts + 1):
            index = await self._free.get()
            actor = self.actors[index]
            try:
                end = await self._once(actor, job, receiver)
            except ray_error.RayActorError as exc:
                self._replace(index, actor)
                reason = f"its worker died ({first_line(exc)})"
                continue
            except ray_error.RayError as exc:
                reason = f"Ray failed ({first_line(exc)})"
                continue
            finally:
                self._free.put_nowait(index)
            if isinstance(end, Finished):
                return Outcome(end.value, attempts=attempt)
            if end.fatal:
                raise FansiError(end.reason, hint=end.hint or None)
            reason = end.reason
        return Outcome(error=f"failed {self._attempts} time(s); last: {reason}",
                       attempts=self._attempts)

    async def _once(self, actor: Any, job: Job, receiver: Receiver) -> Finished | Failed:
        stream = actor.run.options(num_returns="streaming").remote(job)
        async for ref in stream:
            for sent in await ref:
                if isinstance(sent, Ask):
                    actor.answer.remote(sent.token, receiver.answer(sent))
                elif isinstance(sent, Finished | Failed):
                    return sent
                else:
                    receiver.apply(sent)
        raise self._ray.exceptions.RaySystemError("a worker's job ended without its result")

    def _replace(self, index: int, dead: Any) -> None:
        # The lanes of one worker see its death together; the first replaces it.
        if self.actors[index] is not dead:
            return
        self._ray.kill(dead, no_restart=True)
        self.actors[index] = self._spawn()
        self.replaced += 1

    async def close(self) -> None:
        """Close every worker's model and check pool, then end the workers."""
        closing = [actor.close.remote() for actor in self.actors]
        await asyncio.wait([asyncio.ensure_future(_awaited(c)) for c in closing], timeout=10)
        for actor in self.actors:
            self._ray.kill(actor, no_restart=True)


async def _awaited(ref: Any) -> None:
    try:
        await ref
    except Exception:  # a worker that is gone has nothing left to close
        return


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["ATTEMPTS", "Outcome", "WorkerPool", "connected", "first_line", "import_ray"]
