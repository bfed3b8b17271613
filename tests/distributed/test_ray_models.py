"""Workers that load a local GGUF model once each (SmolLM2, plumbing only), and
eval items run on workers as the harness runs them on one machine."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ray_models import Scripted, stored

from fansi.backends.fake import FakeBackend
from fansi.checks import CheckPool
from fansi.config import Settings
from fansi.distributed.batch import solve_many
from fansi.distributed.evals import ClusterModel, RayItems
from fansi.distributed.pool import WorkerPool
from fansi.evals import tasks_answers
from fansi.evals.data import AnswerItem
from fansi.evals.runner import Env, EvalOptions
from fansi.models import TINY
from fansi.records import GenerateParams, Message
from fansi.store import Store

pytestmark = pytest.mark.ray


@pytest.mark.tiny
async def test_four_problems_on_local_gguf_workers(ray_cluster: ModuleType,
                                                   model_home: Path) -> None:
    from fansi.records import Problem

    settings = Settings(home=model_home, model="tiny", n=1, k=1, rounds=1, max_tokens=24,
                        verify_tokens=24, meta_tokens=24, threads=1, checks="none")
    lines: list[dict[str, Any]] = []
    totals = await solve_many([Problem(f"What is {i} plus 2?", str(i + 2), f"t{i}")
                               for i in range(4)], settings, on_result=lines.append)
    assert totals["problems"] == 4 and totals["failed"] == 0
    assert totals["tokens"] > 0
    with Store.open(settings.store_path) as store:
        for line in lines:
            record = store.run(line["run_id"])
            assert record is not None and record.status == "done"
            assert record.model_checksum == TINY.sha256
            tree = store.run_tree(line["run_id"])
            assert tree is not None and len(tree.candidates) == 1
            assert len(store.calls(line["run_id"])) == line["calls"] - line["cached_calls"]


async def test_an_eval_item_on_a_worker_gives_the_row_it_gives_on_one_machine(
        ray_cluster: ModuleType, tmp_path: Path) -> None:
    item = AnswerItem("g1", "What is 3 + 3?", "6")

    def env_in(home: Path, store: Store, checks: CheckPool) -> Env:
        settings = Settings(home=home, model="fake", n=2, k=2, rounds=2)
        options = EvalOptions(task="gsm8k", out=home / "out")
        return Env(settings, Scripted().backend(), "fake", None, store, checks, options)

    def timeless(value: Any) -> Any:
        """The row without the model's seconds (sums of call latencies)."""
        if isinstance(value, dict):
            return {k: timeless(v) for k, v in value.items() if not k.endswith("model_s")}
        return [timeless(v) for v in value] if isinstance(value, list) else value

    with CheckPool() as checks:
        with Store.open(tmp_path / "local.db") as store:
            want, want_calls = await tasks_answers.run_item(
                env_in(tmp_path / "local", store, checks), item)
        with Store.open(tmp_path / "ray.db") as store:
            env = env_in(tmp_path / "ray", store, checks)
            pool = WorkerPool(ray_cluster, env.settings, make=Scripted(), workers=1)
            try:
                await pool.start()
                row, calls = await RayItems(pool, tasks_answers.run_item)(env, item)
                # The harness's name for the cluster's model calls a worker's model.
                direct = await ClusterModel(pool, "fake").generate(
                    [Message("user", "Write the program for the problem")], GenerateParams())
            finally:
                await pool.close()
    assert timeless(row) == timeless(want)
    assert sorted(c.key for c in calls) == sorted(c.key for c in want_calls)
    assert stored(tmp_path / "ray.db") == stored(tmp_path / "local.db")
    assert isinstance(env.backend, FakeBackend) and not env.backend.calls  # all on the worker
    assert direct.text == "Nothing to test."
