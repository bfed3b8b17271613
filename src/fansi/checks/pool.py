"""A small pool of killable, sandboxed worker subprocesses for checks.

Each job runs in a worker process (``fansi.checks.worker``) that has shut
itself in before it runs anything, and in its own scratch working directory.
The *parent* enforces a wall-clock timeout: a worker that has not answered in
time is killed with ``SIGKILL`` and replaced, and the job comes back as a
``JobResult`` with status ``"timeout"``. A job that raises, or a worker that
dies (out of memory, CPU cap, crash), comes back with status ``"error"``. Only
misuse and infrastructure failures raise; the latter as ``CheckError`` (the
pool is closed, or a worker cannot start). Nothing here uses ``signal.alarm``,
so the pool works from any thread and any event loop.

Why plain subprocesses speaking JSON lines, not ``multiprocessing``:

- One hung worker must be killed and replaced on its own. ``multiprocessing.Pool``
  cannot kill a single worker, and ``ProcessPoolExecutor`` is marked broken as a
  whole once one of its workers dies.
- The ``spawn`` and ``forkserver`` contexts re-import the parent's ``__main__`` in
  the child, which misbehaves in scripts without a ``__main__`` guard. Our worker
  runs a fixed one-line bootstrap and imports only the module of the function
  it is asked to run.
- JSON keeps the wire format explicit and inert: arguments and results are plain
  data, and nothing a worker sends back can run code in the parent (unpickling can).
- The child sets its own limits and sandbox before it runs any job, so there is
  no ``preexec_fn``, which is unsafe in a process with threads.
- The parent side is blocking pipe I/O on the pool's own threads, so one pool
  serves any number of event loops, including the fresh loop of each ``run_sync``.
  (asyncio subprocess transports are bound to the loop that made them.)

Jobs are named either by a registered name (see ``register``) or by a module-level
function, which the worker imports by ``module:qualname``. Arguments and return
values must be JSON values.

Isolation. Model-written code runs in these workers, so each one enforces, on
itself and for good (``fansi.checks.worker`` says how):

- No network: its own user and network namespaces, whose only device is a
  loopback that is down, so that nothing is reachable, the host's loopback
  included; a seccomp filter that refuses ``socket``, ``connect`` and ``bind``
  for every address family (``socketpair`` still works); and Landlock's TCP
  rules (ABI 4).
- No writes outside scratch: Landlock lets a job create, change, rename or
  delete files only beneath its scratch directory, and write ``/dev/null``.
  ``TMPDIR`` points at scratch.
- No new processes and no reaching out: seccomp refuses ``fork`` and non-thread
  ``clone`` (threads work), namespace and mount calls, ``ptrace``, signals to
  other processes, and kernel-wide calls; Landlock (ABI 6) scopes signals too.
- Limits: ``RLIMIT_AS`` (``memory_bytes``), ``RLIMIT_CPU`` per job,
  ``RLIMIT_FSIZE`` (``worker.FILE_BYTES`` per file), no core files, and the
  parent's wall clock.

Not enforced: reads (a job may read what the parent's user may, except other
processes' private ``/proc`` files and what only root's override of file modes
allowed; it may list other processes in ``/proc``); the total size and number
of files in scratch; ``RLIMIT_NPROC`` (root ignores it; seccomp stops forks
instead). And a job shares its process with the worker's reply pipe: a check's
verdict on code that it runs in its own process is only as trustworthy as
that code, which can forge the reply. A job registered as ``untrusted`` (model-
written code, or model text a parser evaluates) is the last job its worker
runs: what it changes in its process dies with it.

A layer that this kernel or container refuses (no user namespaces, no Landlock,
an architecture without a syscall table) is skipped, never faked: the worker
says what took effect, ``CheckPool.isolation`` holds it, and the pool logs a
warning once when a layer is missing.

The wall-clock timeout starts when a worker picks the job up, not when it is
queued, and it includes the worker's first import of the job's module (but not
the worker's start). The CPU cap is set per job to the timeout (rounded up)
plus one second; it stops a worker whose parent died mid-job from spinning
forever. A worker sleeping in an orphaned job is not stopped by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import queue
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Literal, TypeVar

from fansi.checks.worker import JSON, Isolation
from fansi.errors import CheckError

__all__ = ["JSON", "CheckPool", "Isolation", "JobResult", "Status", "register"]

Status = Literal["ok", "timeout", "error"]

F = TypeVar("F", bound=Callable[..., object])

_BOOTSTRAP = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1])['path']; "
    "from fansi.checks.worker import serve; serve(sys.argv[1])"
)
_START_TIMEOUT_S = 60.0
_LOG_TAIL_BYTES = 800

_REGISTRY: dict[str, str] = {}
#: The references of jobs registered as ``untrusted``: their worker runs one job.
_UNTRUSTED: set[str] = set()

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobResult:
    """The outcome of one job.

    Attributes:
        status: ``"ok"`` when the function returned, ``"timeout"`` when the worker
            was killed at the wall-clock limit, ``"error"`` when the function
            raised, returned a non-JSON value, or the worker died.
        value: The function's return value when ``status`` is ``"ok"``, else ``None``.
        detail: Why the job did not return, for logs and the store; empty when ok.
    """

    status: Status
    value: JSON = None
    detail: str = ""


def register(name: str, *, untrusted: bool = False) -> Callable[[F], F]:
    """Register a module-level function under a short name for ``CheckPool.run``.

    Args:
        name: The name jobs use, for example ``"answers.equivalent"``.
        untrusted: The job runs code (or evaluates text) a model wrote. Its
            worker is retired after the job, so nothing that code changed in
            its process (patched builtins, a replaced judge, threads left
            running) reaches a later job; the next job gets a fresh worker.

    Returns:
        A decorator that registers the function and returns it unchanged.

    Raises:
        ValueError: If the name is taken by another function, or the function
            cannot be imported by a worker (a lambda, a nested function, or a
            function defined in ``__main__``).
    """

    def decorator(fn: F) -> F:
        ref = _reference(fn)
        if _REGISTRY.setdefault(name, ref) != ref:
            raise ValueError(f"check {name!r} is already registered as {_REGISTRY[name]}")
        if untrusted:
            _UNTRUSTED.add(ref)
        return fn

    return decorator


def _reference(fn: Callable[..., object]) -> str:
    module, qualname = fn.__module__, fn.__qualname__
    if "<" in qualname or module == "__main__":
        raise ValueError(
            f"{module}.{qualname} cannot run in a worker: use a module-level function "
            "defined in an importable module"
        )
    return f"{module}:{qualname}"


def _resolve(fn: str | Callable[..., object]) -> str:
    if not isinstance(fn, str):
        return _reference(fn)
    try:
        return _REGISTRY[fn]
    except KeyError:
        raise ValueError(f"no check is registered as {fn!r}") from None


class CheckPool:
    """A bounded pool of sandboxed worker subprocesses that run checks.

    Workers start lazily, one per concurrent job, up to ``size``. Use it as a
    context manager, or call ``close()``, so that no worker outlives it::

        async with CheckPool() as pool:
            result = await pool.run("answers.equivalent", "1/2", "0.5", timeout_s=5)

    Args:
        size: The most jobs that run at once; further jobs wait their turn.
        memory_bytes: The address-space cap (``RLIMIT_AS``) of each worker.

    Attributes:
        isolation: What the workers enforce on themselves (see the module
            docstring), as the latest worker to start reported it; ``None``
            until a worker has started.
    """

    def __init__(self, size: int = 1, *, memory_bytes: int = 1 << 30) -> None:
        if size < 1:
            raise ValueError("a CheckPool needs at least one worker")
        self._memory_bytes = memory_bytes
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="fansi-check")
        # One slot per executor thread: a live worker to reuse, or None to start one.
        self._slots: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        for _ in range(size):
            self._slots.put(None)
        self._lock = threading.Lock()
        self._live: set[_Worker] = set()
        self._closed = False
        self.isolation: Isolation | None = None

    async def run(
        self, fn: str | Callable[..., object], *args: JSON, timeout_s: float = 10.0
    ) -> JobResult:
        """Run ``fn(*args)`` in a worker and wait for its result.

        Args:
            fn: A name given to ``register``, or a module-level function.
            *args: JSON arguments for the function.
            timeout_s: Wall-clock seconds the job may take once a worker has it.
                At the limit the worker is killed and replaced.

        Returns:
            The job's ``JobResult``. Cancelling the awaiting task kills the
            worker that runs the job.

        Raises:
            ValueError: If ``fn`` is not registered or not importable by a worker,
                or ``timeout_s`` is not positive.
            TypeError: If an argument is not a JSON value.
            CheckError: If the pool is closed, or a worker cannot be started.
        """
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        ref = _resolve(fn)
        request = _encode_request(ref, list(args), timeout_s)
        if self._closed:
            raise CheckError("the CheckPool is closed")
        job = _Job()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._work, job, request,
                                              timeout_s, ref in _UNTRUSTED)
        except asyncio.CancelledError:
            job.cancel()
            raise

    def run_sync(
        self, fn: str | Callable[..., object], *args: JSON, timeout_s: float = 10.0
    ) -> JobResult:
        """Blocking form of ``run``, for code outside an event loop."""
        return asyncio.run(self.run(fn, *args, timeout_s=timeout_s))

    def close(self) -> None:
        """Kill every worker, delete their scratch directories and wait for running jobs.

        Jobs still running end with status ``"error"``; jobs still queued are dropped.
        Closing twice is harmless.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            live = list(self._live)
        for worker in live:
            worker.kill()
        self._executor.shutdown(wait=True, cancel_futures=True)
        while True:
            try:
                idle = self._slots.get_nowait()
            except queue.Empty:
                break
            if idle is not None:
                self._retire(idle)

    def __enter__(self) -> CheckPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> CheckPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _work(self, job: _Job, request: bytes, timeout_s: float, untrusted: bool) -> JobResult:
        """Run one job on an executor thread; each thread holds one slot at a time.
        The worker is retired after an ``untrusted`` job, whatever its result."""
        slot = self._slots.get()
        try:
            worker = slot = slot or self._spawn()
            if not job.attach(worker):
                return JobResult("error", None, "cancelled before it started")
            result, healthy = worker.call(request, timeout_s)
            if job.detach():
                result, healthy = JobResult("error", None, "cancelled"), False
            elif self._closed and result.status == "error":
                result = JobResult("error", None, "the pool was closed")
            if not healthy or untrusted:
                self._retire(worker)
                slot = None
            return result
        finally:
            self._slots.put(slot)

    def _spawn(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise CheckError("the CheckPool is closed")
            try:
                worker = _Worker(self._memory_bytes)
            except OSError as exc:
                raise CheckError(f"cannot start a check worker: {exc}") from exc
            self._live.add(worker)
        # The greeting is awaited outside the lock, so that close() can kill a
        # worker that is still starting.
        try:
            isolation = worker.greeting()
        except CheckError:
            self._retire(worker)
            if self._closed:
                raise CheckError("the CheckPool is closed") from None
            raise
        if isolation.problems and self.isolation != isolation:
            _log.warning("check workers are not fully isolated: %s", isolation.summary)
        self.isolation = isolation
        return worker

    def _retire(self, worker: _Worker) -> None:
        worker.kill()
        worker.cleanup()
        with self._lock:
            self._live.discard(worker)


class _Job:
    """Links a job to its worker so that cancelling the awaiting task can kill it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._worker: _Worker | None = None
        self._cancelled = False

    def attach(self, worker: _Worker) -> bool:
        """Record the worker; False if the job was cancelled before it started."""
        with self._lock:
            self._worker = worker
            return not self._cancelled

    def detach(self) -> bool:
        """Forget the worker; True if the job was cancelled (and its worker killed)."""
        with self._lock:
            self._worker = None
            return self._cancelled

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._worker is not None:
                self._worker.kill()


class _Worker:
    """One worker subprocess, its pipes and its scratch directory (parent side).

    Raises:
        OSError: If the scratch directory or the process cannot be made.
    """

    def __init__(self, memory_bytes: int) -> None:
        self.root = tempfile.mkdtemp(prefix="fansi-check-")
        scratch = os.path.join(self.root, "work")
        self.log_path = os.path.join(self.root, "worker.log")
        config = {"memory_bytes": memory_bytes, "path": [os.path.abspath(p) for p in sys.path]}
        try:
            os.mkdir(scratch)
            with open(self.log_path, "wb") as log:
                # -I: ignore PYTHON* variables and the working directory; the path comes
                # from the parent so that the worker imports exactly what the parent would.
                # A new session keeps Ctrl-C away from workers and lets us kill the group.
                self.proc = subprocess.Popen(
                    [sys.executable, "-I", "-c", _BOOTSTRAP, json.dumps(config)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    cwd=scratch,
                    start_new_session=True,
                )
        except OSError:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._stdin: IO[bytes] = self.proc.stdin
        self._stdout: IO[bytes] = self.proc.stdout

    def greeting(self) -> Isolation:
        """Wait for the worker's first line, which says how it has shut itself in.

        Raises:
            CheckError: If the worker dies, stalls or says something else first.
        """
        line = self._read_line(_START_TIMEOUT_S)
        if line is None:
            raise CheckError(f"a check worker did not start within {_START_TIMEOUT_S:g} s")
        if not line:
            raise CheckError(f"a check worker failed to start: {self._died().detail}")
        try:
            return Isolation.decode(line)
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckError(f"a check worker sent no greeting but {line[:200]!r}") from exc

    def call(self, request: bytes, timeout_s: float) -> tuple[JobResult, bool]:
        """Send one request and wait for the reply; returns (result, worker still usable)."""
        try:
            self._stdin.write(request)
            self._stdin.flush()
        except OSError:
            return self._died(), False
        line = self._read_line(timeout_s)
        if line is None:
            self.kill()
            return JobResult("timeout", None, f"no result within {timeout_s:g} s"), False
        if not line:
            return self._died(), False
        return _decode_reply(line)

    def _read_line(self, timeout_s: float) -> bytes | None:
        """One reply line; b"" if the worker closed its end, None at the deadline."""
        fd = self._stdout.fileno()
        buffer = bytearray()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            deadline = time.monotonic() + timeout_s
            while not buffer.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                if not selector.select(remaining):
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return b""
                buffer += chunk
        return bytes(buffer)

    def _died(self) -> JobResult:
        code = self.proc.wait()
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        detail = f"the worker died ({how})"
        tail = self._log_tail()
        return JobResult("error", None, f"{detail}: {tail}" if tail else detail)

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(0, os.path.getsize(self.log_path) - _LOG_TAIL_BYTES))
                return log.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the worker and anything it started; safe from any thread, and twice."""
        # Only while the leader is unreaped is its pid surely still our process group.
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def cleanup(self) -> None:
        """Reap the (killed) worker, close its pipes and delete its directory."""
        self.proc.wait()
        for pipe in (self._stdin, self._stdout):
            with contextlib.suppress(OSError):
                pipe.close()
        shutil.rmtree(self.root, ignore_errors=True)


def _decode_reply(line: bytes) -> tuple[JobResult, bool]:
    # The job's own code shares the worker with the reply pipe and may write to
    # it; whatever is not exactly one well-formed reply retires the worker.
    try:
        reply = json.loads(line) if line.count(b"\n") == 1 else None
    except ValueError:
        reply = None
    match reply:
        case {"ok": True, "value": value}:
            return JobResult("ok", value), True
        case {"ok": False, "detail": str(detail)}:
            return JobResult("error", None, detail), True
    return JobResult("error", None, f"the worker broke the protocol: {line[:200]!r}"), False


def _encode_request(ref: str, args: list[JSON], timeout_s: float) -> bytes:
    try:
        payload = json.dumps({"ref": ref, "args": args, "cpu_s": math.ceil(timeout_s) + 1})
    except (TypeError, ValueError) as exc:
        raise TypeError(f"arguments to a check must be JSON values: {exc}") from exc
    return payload.encode() + b"\n"
