"""The worker's relay store and the driver's receiver, without Ray: a run made
through them leaves the driver's store as a run made on one machine does."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ray_models import Scripted, asked, stored

from fansi import api
from fansi.backends.fake import FakeBackend
from fansi.checks import CheckPool
from fansi.config import Settings
from fansi.distributed.endpoints import EndpointPool, model_backend
from fansi.distributed.pool import import_ray
from fansi.distributed.relay import Ask, Lookup, Receiver, RelayStore, Write, finished_calls
from fansi.errors import BackendUnavailable, ExtraNotInstalled
from fansi.records import Completion, GenerateParams, Message, Problem
from fansi.store import Store

PROBLEMS = [Problem(f"What is {i} + {i}?", None, f"p{i}") for i in range(3)]


def settings_in(home: Path) -> Settings:
    return Settings(home=home, model="fake", n=2, k=2, rounds=2)


async def relayed(problem: Problem, settings: Settings, driver: Store, model: FakeBackend,
                  checks: CheckPool) -> int:
    """Run a problem on a relay store whose writes reach ``driver`` (as a Ray
    worker's do) and whose misses the driver answers; return the writes made."""
    receiver = Receiver(driver)
    writes: list[Write] = []

    async def ask(key: str) -> Completion | None:
        return receiver.answer(Ask(0, key))

    run_id = api.stable_run_id(problem, settings)
    store = RelayStore(writes.append, finished_calls(driver, run_id))
    try:
        await api.run_stored(problem, settings, run_id=run_id, backend=Lookup(model, ask),
                             store=store, checks=checks)
    finally:
        store.close()
    for write in writes:
        receiver.apply(write)
    return len(writes)


async def test_a_relayed_run_stores_what_a_local_run_stores(tmp_path: Path) -> None:
    local, remote = settings_in(tmp_path / "local"), settings_in(tmp_path / "remote")
    with CheckPool() as checks:
        with Store.open(local.store_path) as store:
            for problem in PROBLEMS:
                await api.run_stored(problem, local, run_id=api.stable_run_id(problem, local),
                                     backend=Scripted().backend(), store=store, checks=checks)
        with Store.open(remote.store_path) as driver:
            for problem in PROBLEMS:
                assert await relayed(problem, remote, driver, Scripted().backend(), checks)
    want, got = stored(local.store_path), stored(remote.store_path)
    assert got == want
    assert all(run["run"]["status"] == "done" for run in got["runs"].values())
    assert all(run["candidates"] for run in got["runs"].values())


async def test_a_rerun_is_answered_by_the_driver_and_keeps_the_first_result(
        tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    log = tmp_path / "asked.log"
    with CheckPool() as checks, Store.open(settings.store_path) as driver:
        await relayed(PROBLEMS[0], settings, driver, Scripted(log=str(log)).backend(), checks)
        first = asked(log)
        record = driver.run(api.stable_run_id(PROBLEMS[0], settings))
        assert record is not None and record.result is not None
        # Sent with the task, or asked of the driver: the model is asked nothing again.
        await relayed(PROBLEMS[0], settings, driver, Scripted(log=str(log)).backend(), checks)
        again = driver.run(record.id)
    assert asked(log) == first and len(set(first)) == len(first)
    assert again is not None and again.result == record.result


async def test_the_endpoint_pool_moves_calls_off_a_dead_server() -> None:
    dead = FakeBackend([BackendUnavailable("connection refused")], name="a")
    live = FakeBackend(["ok"], name="a")
    pool = EndpointPool([dead, live], name="a", cooldown_s=60, backoff_s=0)
    for _ in range(4):
        done = await pool.generate([Message("user", "hi")], GenerateParams())
        assert done.text == "ok"
    assert len(dead.calls) == 1  # tried once, then out of the rotation
    assert len(live.calls) == 4
    assert pool.live() == [live]


async def test_the_endpoint_pool_gives_up_when_every_server_is_down() -> None:
    servers = [FakeBackend([BackendUnavailable("down")], name="a") for _ in range(2)]
    pool = EndpointPool(servers, name="a", retries=1, backoff_s=0)
    with pytest.raises(BackendUnavailable):
        await pool.generate([Message("user", "hi")], GenerateParams())
    assert [len(s.calls) for s in servers] == [2, 2]


def test_a_spec_with_several_urls_is_a_pool(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    made = model_backend("openai:m@http://127.0.0.1:1/v1,http://127.0.0.1:2/v1", settings)
    assert isinstance(made, EndpointPool)
    assert made.identity == "openai:m"
    assert len(made.live()) == 2


def test_without_the_extra_ray_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ExtraNotInstalled) as caught:
        import_ray()
    assert "fansi[ray]" in caught.value.message
    assert "pip install 'fansi[ray]'" in caught.value.hint
