"""CheckPool: results as data, killing at the timeout, limits in the child only, CheckError."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fansi.checks import CheckPool, JobResult, register
from fansi.checks import pool as pool_module
from fansi.checks.worker import FILE_BYTES
from fansi.errors import CheckError

pytestmark = pytest.mark.subprocess

# --- functions the workers run (module level, so a worker can import them) ---------


def add(a: int, b: int) -> int:
    return a + b


def pid() -> int:
    return os.getpid()


def cwd() -> str:
    return os.getcwd()


def limits() -> list[int]:
    kinds = (resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_FSIZE, resource.RLIMIT_CORE)
    return [resource.getrlimit(kind)[0] for kind in kinds]


def pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@register("tests.hang")
def hang(marker: str | None = None) -> None:
    if marker is not None:
        Path(marker).touch()
    while True:
        time.sleep(1)


def spin() -> None:
    while True:
        pass


def hog() -> int:
    chunks = [bytearray(64 << 20) for _ in range(64)]  # 4 GiB in 64 MiB steps
    return len(chunks)


def boom() -> None:
    raise ValueError("bad input")


def not_json() -> object:
    return {1, 2}


def die() -> None:
    sys.stderr.write("last words\n")
    sys.stderr.flush()
    os._exit(3)


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def noisy() -> str:
    print("chatter on stdout")
    return "quiet:" + sys.stdin.read()


# --- tests --------------------------------------------------------------------------


@pytest.fixture
def pool() -> Iterator[CheckPool]:
    with CheckPool(memory_bytes=512 << 20) as pool:
        yield pool


def _gone(process_id: int) -> bool:
    try:
        os.kill(process_id, 0)
    except ProcessLookupError:
        return True
    return False


async def test_runs_a_function_and_returns_its_value(pool: CheckPool) -> None:
    assert await pool.run(add, 2, 3) == JobResult("ok", 5, "")


async def test_hung_worker_is_killed_at_the_timeout_and_replaced(pool: CheckPool) -> None:
    first = await pool.run(pid)
    assert first.status == "ok"
    assert isinstance(first.value, int)

    result = await pool.run("tests.hang", timeout_s=0.5)

    assert result.status == "timeout"
    assert result.value is None
    assert "0.5 s" in result.detail
    assert _gone(first.value)
    after = await pool.run(pid)
    assert after.status == "ok"
    assert after.value != first.value
    assert await pool.run(add, 1, 1) == JobResult("ok", 2, "")


async def test_busy_loop_times_out_too(pool: CheckPool) -> None:
    result = await pool.run(spin, timeout_s=0.5)
    assert result.status == "timeout"
    assert (await pool.run(add, 1, 2)).value == 3


async def test_memory_hog_is_an_error_and_the_parent_is_untouched(pool: CheckPool) -> None:
    parent_limit = resource.getrlimit(resource.RLIMIT_AS)

    result = await pool.run(hog, timeout_s=60)

    assert result.status == "error"
    assert "MemoryError" in result.detail
    assert resource.getrlimit(resource.RLIMIT_AS) == parent_limit
    assert (await pool.run(add, 2, 2)).value == 4


async def test_limits_are_set_in_the_worker(pool: CheckPool) -> None:
    result = await pool.run(limits, timeout_s=5)
    assert result.status == "ok"
    assert isinstance(result.value, list)
    memory, cpu, file_size, core = result.value
    assert memory == 512 << 20
    assert (file_size, core) == (FILE_BYTES, 0)
    assert isinstance(cpu, int)
    assert 0 < cpu <= 5 + 1 + 30  # the job's allowance plus the CPU the worker has used
    assert resource.getrlimit(resource.RLIMIT_CPU)[0] != cpu


async def test_worker_runs_in_its_own_scratch_directory(pool: CheckPool) -> None:
    result = await pool.run(cwd)
    assert isinstance(result.value, str)
    scratch = Path(result.value)
    assert scratch != Path.cwd()
    assert scratch.is_dir()
    pool.close()
    assert not scratch.exists()


async def test_exception_is_an_error_with_its_message(pool: CheckPool) -> None:
    result = await pool.run(boom)
    assert result == JobResult("error", None, "ValueError: bad input")
    assert (await pool.run(add, 3, 3)).value == 6


async def test_non_json_result_is_an_error(pool: CheckPool) -> None:
    result = await pool.run(not_json)
    assert result.status == "error"
    assert "JSON serializable" in result.detail


async def test_worker_exit_is_an_error_with_its_stderr(pool: CheckPool) -> None:
    result = await pool.run(die)
    assert result.status == "error"
    assert "exit status 3" in result.detail
    assert "last words" in result.detail
    killed = await pool.run(kill_self)
    assert killed.status == "error"
    assert "SIGKILL" in killed.detail
    assert (await pool.run(add, 4, 4)).value == 8


async def test_printing_and_reading_stdin_do_not_corrupt_the_protocol(pool: CheckPool) -> None:
    assert await pool.run(noisy) == JobResult("ok", "quiet:", "")


async def test_cancelling_the_caller_kills_the_running_job(pool: CheckPool) -> None:
    first = await pool.run(pid)
    assert isinstance(first.value, int)
    # The job may write only in its scratch directory, so the marker goes there.
    scratch = await pool.run(cwd)
    assert isinstance(scratch.value, str)
    marker = Path(scratch.value) / "started"
    task = asyncio.create_task(pool.run("tests.hang", marker.name, timeout_s=600))

    async def started() -> None:
        while not marker.exists():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(started(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # Were the worker not killed, this would wait out the 600 s job and fail here.
    after = await asyncio.wait_for(pool.run(pid), 30)
    assert after.status == "ok"
    assert after.value != first.value
    assert _gone(first.value)


async def test_size_bounds_the_workers() -> None:
    with CheckPool(size=2) as two:
        pids = await asyncio.gather(two.run(pid_after, 0.3), two.run(pid_after, 0.3))
    assert pids[0].value != pids[1].value
    with CheckPool(size=1) as one:
        pids = await asyncio.gather(one.run(pid_after, 0.1), one.run(pid_after, 0.1))
    assert pids[0].value == pids[1].value


async def test_close_kills_workers_and_refuses_new_jobs() -> None:
    pool = CheckPool()
    worker = await pool.run(pid)
    assert isinstance(worker.value, int)
    pool.close()
    pool.close()
    assert _gone(worker.value)
    with pytest.raises(CheckError, match="closed"):
        await pool.run(add, 1, 2)


def test_run_sync_outside_an_event_loop(pool: CheckPool) -> None:
    assert pool.run_sync(add, 20, 22) == JobResult("ok", 42, "")
    assert pool.run_sync("tests.hang", timeout_s=0.3).status == "timeout"


async def test_misuse_raises(pool: CheckPool) -> None:
    with pytest.raises(ValueError, match="registered"):
        await pool.run("no.such.check")
    with pytest.raises(ValueError, match="module-level"):
        await pool.run(lambda: 1)
    with pytest.raises(TypeError, match="JSON"):
        await pool.run(add, {1}, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        await pool.run(add, 1, 2, timeout_s=0)
    with pytest.raises(ValueError, match="already registered"):
        register("tests.hang")(spin)
    assert register("tests.hang")(hang) is hang


async def test_a_worker_that_dies_before_greeting_is_a_check_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bootstrap = "import sys; print('no sandbox', file=sys.stderr); sys.exit(7)"
    monkeypatch.setattr(pool_module, "_BOOTSTRAP", bootstrap)
    with CheckPool() as pool:
        with pytest.raises(CheckError, match=r"failed to start: .*\(exit status 7\): no sandbox"):
            await pool.run(add, 1, 2)
        assert pool.isolation is None


async def test_a_worker_that_cannot_be_started_is_a_check_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    with CheckPool() as pool, pytest.raises(CheckError, match="cannot start") as raised:
        await pool.run(add, 1, 2)
    assert isinstance(raised.value.__cause__, OSError)


def forge_reply() -> None:
    # worker.serve keeps its request pipe on fd 3 and its reply pipe on fd 4.
    os.write(4, b'{"ok": true, "value": "forged"}\n{"ok": true')


async def test_a_garbled_reply_is_an_error_and_retires_the_worker(pool: CheckPool) -> None:
    first = await pool.run(pid)
    result = await pool.run(forge_reply, timeout_s=5)
    assert result.status == "error"
    assert "protocol" in result.detail
    after = await pool.run(pid)
    assert after.status == "ok"
    assert after.value != first.value


# --- untrusted jobs get a worker of their own --------------------------------------


@register("tests.untrusted_pid", untrusted=True)
def untrusted_pid() -> int:
    return os.getpid()


def patch_builtins() -> int:
    """What model-written code could do to a reused worker: make every later
    ``abs`` lie. Returns the worker's pid."""
    import builtins

    builtins.abs = lambda x: 0  # type: ignore[assignment]
    return os.getpid()


@register("tests.untrusted_patch", untrusted=True)
def untrusted_patch() -> int:
    return patch_builtins()


def absolute(x: int) -> int:
    return abs(x)


async def test_an_untrusted_job_retires_its_worker_and_a_trusted_one_does_not(
        pool: CheckPool) -> None:
    first = await pool.run(pid)
    assert (await pool.run(pid)).value == first.value  # trusted jobs reuse the worker
    ran = await pool.run("tests.untrusted_pid")
    assert ran.status == "ok" and ran.value == first.value  # it may take a used worker...
    after = await pool.run(pid)
    assert after.value != ran.value  # ...but none after it runs there
    assert _gone(int(str(ran.value)))
    assert (await pool.run(pid)).value == after.value  # the fresh worker is reused


async def test_what_untrusted_code_changes_does_not_reach_the_next_job(pool: CheckPool) -> None:
    patched = await pool.run("tests.untrusted_patch")
    assert patched.status == "ok"
    assert (await pool.run(absolute, -3)).value == 3
    # The same code run as a trusted job poisons its worker for the next one:
    # the reason model-written code is registered as untrusted.
    await pool.run(patch_builtins)
    assert (await pool.run(absolute, -3)).value == 0
