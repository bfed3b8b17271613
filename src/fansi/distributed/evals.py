"""``fansi eval --ray``: the eval harness, with each item run on a Ray worker.

The harness runs as on one machine (it selects the items, keeps
``results.jsonl``, reports and calibrates on the driver); only the running of
one item moves: :class:`RayItems` sends it to a worker, which runs the task's
own ``run_item`` against its relay store, and hands back the row and the cost
of its calls. Runs, records and calls stream into the driver's store as they
are made, as for ``fansi run --ray``.

An item that keeps failing stops the eval with the reason, as an error would
on one machine; running the same command again continues it.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fansi.backends import TokenCallback
from fansi.config import Settings
from fansi.distributed.pool import WorkerPool, connected
from fansi.distributed.relay import Receiver
from fansi.distributed.worker import BackendFactory, Context
from fansi.errors import FansiError
from fansi.evals.data import Item
from fansi.evals.report import Summary
from fansi.evals.runner import CallCost, Env, EvalOptions, ItemReport
from fansi.records import Completion, GenerateParams, Message
from fansi.store import CallRecord

Row = dict[str, Any]


#: How the harness runs one item: the task's own ``run_item``.
ItemRunner = Callable[[Env, Item], Awaitable[tuple[Row, list[CallCost]]]]


@dataclass(frozen=True)
class ItemJob:
    """One eval item, run on a worker as the harness runs it on one machine."""

    run_item: ItemRunner
    options: EvalOptions
    settings: Settings
    model: str
    checksum: str | None
    item: Item
    calls: tuple[CallRecord, ...] = ()

    async def __call__(self, context: Context) -> tuple[Row, list[CallCost]]:
        env = Env(self.settings, context.backend, self.model, self.checksum, context.store,
                  context.checks, self.options)
        return await self.run_item(env, self.item)


class RayItems:
    """Runs an eval's items on the pool: the harness's ``run_item``, sent to a worker.

    Args:
        pool: A started worker pool.
        run_item: The task's own ``run_item`` (a module-level function, which
            the worker imports by name).
    """

    def __init__(self, pool: WorkerPool, run_item: ItemRunner) -> None:
        self.pool = pool
        self.run_item = run_item

    async def __call__(self, env: Env, item: Item) -> tuple[Row, list[CallCost]]:
        """The item's row and calls, as the task's ``run_item`` gives them.

        Raises:
            FansiError: The item failed on every attempt.
        """
        job = ItemJob(self.run_item, env.options, env.settings, env.model, env.checksum, item)
        outcome = await self.pool.run(job, Receiver(env.store))
        if outcome.error is not None:
            raise FansiError(f"eval item {item.id} {outcome.error}",
                             hint="Run the same command again to continue the eval.")
        row, calls = outcome.value
        return row, calls


class ClusterModel:
    """The cluster's model as one backend on the driver: each call goes to a
    worker in turn. The harness names the model by it; items run on the
    workers, so the driver calls it only for work outside an item."""

    supports_schema = False
    supports_logprobs = False

    def __init__(self, pool: WorkerPool, name: str) -> None:
        self._pool = pool
        self.name = name
        self.identity = name
        self.max_concurrency = max(1, pool.slots)
        self._turn = itertools.count()

    async def generate(self, messages: Sequence[Message], params: GenerateParams,
                       on_token: TokenCallback | None = None) -> Completion:
        actors = self._pool.actors
        actor = actors[next(self._turn) % len(actors)]
        completion: Completion = await actor.generate.remote(list(messages), params)
        if on_token is not None:
            on_token(completion.text)
        return completion

    async def aclose(self) -> None:
        """The pool closes the workers."""


async def run_eval(
    options: EvalOptions,
    settings: Settings,
    *,
    address: str | None = None,
    on_item: Callable[[ItemReport], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    make: BackendFactory | None = None,
) -> Summary:
    """:func:`fansi.evals.harness.run_eval` with the items run on a Ray cluster.

    ``options.concurrency`` is the number of items in flight per worker.
    """
    from fansi.evals import harness

    with connected(address) as ray:
        pool = WorkerPool(ray, settings, make=make)
        try:
            await pool.start(options.concurrency)
            spread = dataclasses.replace(options, concurrency=pool.slots)
            return await harness.run_eval(
                spread, settings, backend=ClusterModel(pool, settings.model),
                on_item=on_item, on_note=on_note,
                item_runner=lambda run_item: RayItems(pool, run_item))
        finally:
            await pool.close()


__all__ = ["ClusterModel", "ItemJob", "ItemRunner", "RayItems", "run_eval"]
