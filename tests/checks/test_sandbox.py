"""The worker sandbox: no network, no writes outside scratch, no new processes, an honest report.

Each job below is first shown to work in the test process where that matters,
so that its failure in a worker is the sandbox's doing.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fansi.checks import CheckPool, Isolation

pytestmark = pytest.mark.subprocess

# --- jobs the workers run (module level, so a worker can import them) --------------


def connect_tcp(port: int) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(("127.0.0.1", port))
    return "connected"


def send_udp(port: int) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"hello", ("127.0.0.1", port))
    return "sent"


def reach_the_internet() -> str:
    socket.create_connection(("1.1.1.1", 53), timeout=5).close()
    return "connected"


def namespaces() -> list[str]:
    return [os.readlink(f"/proc/self/ns/{kind}") for kind in ("net", "user")]


def write(path: str) -> str:
    Path(path).write_text("written")
    return Path(path).read_text()


def make_dir(path: str) -> None:
    os.mkdir(path)


def remove(path: str) -> None:
    os.remove(path)


def move_into_scratch(path: str) -> None:
    os.rename(path, "moved.txt")


def scratch_and_tempfile() -> list[str]:
    with tempfile.NamedTemporaryFile(delete=False) as file:
        file.write(b"x")
    with open(os.devnull, "w") as devnull:
        devnull.write("discarded")
    return [os.getcwd(), file.name]


def run_a_program() -> int:
    return subprocess.run(["true"], check=False).returncode


def fork() -> int:
    child = os.fork()
    if child == 0:
        os._exit(0)
    return child


def in_a_thread() -> int:
    results: list[int] = []
    thread = threading.Thread(target=lambda: results.append(6 * 7))
    thread.start()
    thread.join()
    return results[0]


def terminate(process_id: int) -> None:
    os.kill(process_id, signal.SIGTERM)


def add(a: int, b: int) -> int:
    return a + b


# --- independent probes of what this kernel allows ----------------------------------


def landlock_abi() -> int:
    """The kernel's Landlock ABI, asked directly (this restricts nothing); 0 if none."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(0, int(abi))


def user_namespaces_work(*as_user: str) -> bool:
    """Whether util-linux's unshare can make a user and network namespace."""
    command = [*as_user, "unshare", "--user", "--net", "true"]
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


def run_sandbox(scratch: Path, prelude: str, after: str) -> dict[str, object]:
    """Run ``worker.sandbox`` in a fresh interpreter, after ``prelude``; print ``after``'s dict."""
    script = "\n".join([
        "import ctypes, errno, json, os, socket, struct, sys",
        "sys.path[:] = json.loads(sys.argv[1])",
        "from fansi.checks import worker",
        "os.chdir(sys.argv[2])",
        prelude,
        "isolation = worker.sandbox(1 << 30)",
        "report = {'isolation': [isolation.namespace, isolation.landlock_abi,"
        " isolation.seccomp, list(isolation.problems)]}",
        after,
        "print(json.dumps(report))",
    ])
    paths = json.dumps([os.path.abspath(p) for p in sys.path])
    done = subprocess.run([sys.executable, "-c", script, paths, str(scratch)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return report


# --- tests --------------------------------------------------------------------------


@pytest.fixture
def pool() -> Iterator[CheckPool]:
    with CheckPool(memory_bytes=512 << 20) as pool:
        yield pool


async def test_tcp_to_a_listener_in_the_test_process_fails(pool: CheckPool) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        assert connect_tcp(port) == "connected"
        listener.accept()[0].close()

        result = await pool.run(connect_tcp, port, timeout_s=15)

        assert result.status == "error"
        assert "PermissionError" in result.detail
        listener.settimeout(0.5)
        with pytest.raises(TimeoutError):
            listener.accept()


async def test_udp_to_the_test_process_fails(pool: CheckPool) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(0.5)
        port = receiver.getsockname()[1]
        assert send_udp(port) == "sent"
        assert receiver.recv(16) == b"hello"

        result = await pool.run(send_udp, port, timeout_s=15)

        assert result.status == "error"
        with pytest.raises(TimeoutError):
            receiver.recv(16)


async def test_the_internet_fails_at_once(pool: CheckPool) -> None:
    assert (await pool.run(add, 1, 1)).value == 2  # the worker is up; time only the job
    started = time.monotonic()
    result = await pool.run(reach_the_internet, timeout_s=15)
    assert result.status == "error"
    assert time.monotonic() - started < 2


async def test_a_worker_has_its_own_network_and_user_namespaces(pool: CheckPool) -> None:
    result = await pool.run(namespaces)
    assert isinstance(result.value, list)
    ours = namespaces()
    assert result.value[0] != ours[0]
    assert result.value[1] != ours[1]


@pytest.mark.parametrize("operation", ["overwrite", "create", "make_dir", "remove", "move"])
async def test_nothing_outside_scratch_changes(
    pool: CheckPool, tmp_path: Path, operation: str
) -> None:
    existing = tmp_path / "existing.txt"
    existing.write_text("original")
    fresh = tmp_path / "fresh"
    jobs = {
        "overwrite": (write, existing),
        "create": (write, fresh),
        "make_dir": (make_dir, fresh),
        "remove": (remove, existing),
        "move": (move_into_scratch, existing),
    }
    job, path = jobs[operation]

    result = await pool.run(job, str(path), timeout_s=15)

    assert result.status == "error"
    assert "PermissionError" in result.detail
    assert existing.read_text() == "original"
    assert not fresh.exists()


async def test_nothing_appears_in_tmp(pool: CheckPool) -> None:
    target = Path("/tmp") / f"fansi-sandbox-{uuid.uuid4().hex}"
    try:
        result = await pool.run(write, str(target), timeout_s=15)
        assert result.status == "error"
        assert not target.exists()
    finally:
        target.unlink(missing_ok=True)


async def test_scratch_tempfiles_and_dev_null_are_writable(pool: CheckPool) -> None:
    assert (await pool.run(write, "inside.txt")).value == "written"
    result = await pool.run(scratch_and_tempfile)
    assert result.status == "ok", result.detail
    assert isinstance(result.value, list)
    scratch, temporary = result.value
    assert Path(temporary).parent == Path(scratch)
    assert (Path(scratch) / "inside.txt").read_text() == "written"


async def test_no_new_processes_but_threads_work(pool: CheckPool) -> None:
    for job in (run_a_program, fork):
        result = await pool.run(job, timeout_s=15)
        assert result.status == "error"
        assert "PermissionError" in result.detail
    assert (await pool.run(in_a_thread)).value == 42


async def test_signals_do_not_leave_the_worker(pool: CheckPool) -> None:
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        result = await pool.run(terminate, bystander.pid, timeout_s=15)
        assert result.status == "error"
        assert "PermissionError" in result.detail
        time.sleep(0.2)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


async def test_the_pool_reports_what_this_kernel_allows(pool: CheckPool) -> None:
    assert pool.isolation is None
    assert (await pool.run(add, 2, 2)).value == 4
    isolation = pool.isolation
    assert isinstance(isolation, Isolation)
    assert isolation.landlock_abi == landlock_abi()
    if user_namespaces_work():
        assert isolation.namespace == "user+net"
    else:
        assert isolation.namespace != "user+net"
    assert isolation.seccomp == (platform.machine() in ("x86_64", "aarch64"))
    complete = isolation.landlock_abi > 0 and isolation.seccomp and isolation.namespace != "none"
    assert (isolation.problems == ()) == complete
    assert isolation.network_blocked
    assert isolation.writes_confined == (isolation.landlock_abi > 0)


# A seccomp filter of the test's own, installed before the sandbox: Landlock and
# unshare answer ENOSYS, as on a kernel built without them.
_WITHOUT_LANDLOCK_OR_NAMESPACES = """
unshare = {"x86_64": 272, "aarch64": 97}[os.uname().machine]
ops = [(0x20, 0, 0, 0)]
for nr in (444, 445, 446, unshare):
    ops += [(0x15, 0, 1, nr), (0x06, 0, 0, 0x00050000 | errno.ENOSYS)]
ops.append((0x06, 0, 0, 0x7FFF0000))
code = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *op) for op in ops))
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
libc = ctypes.CDLL(None, use_errno=True)
zero = ctypes.c_ulong(0)
assert libc.prctl(38, ctypes.c_ulong(1), zero, zero, zero) == 0  # PR_SET_NO_NEW_PRIVS
prog = Fprog(len(ops), ctypes.cast(code, ctypes.c_void_p))
assert libc.prctl(22, ctypes.c_ulong(2), ctypes.byref(prog), zero, zero) == 0  # a seccomp filter
"""


@pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"), reason="no syscall table")
def test_a_missing_layer_is_reported_not_faked(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    outside = tmp_path / "outside.txt"
    after = f"""
with open({str(outside)!r}, "w") as file:
    file.write("unconfined")
try:
    socket.socket(socket.AF_INET)
    report["socket"] = "allowed"
except OSError as exc:
    report["socket"] = exc.strerror
"""
    report = run_sandbox(scratch, _WITHOUT_LANDLOCK_OR_NAMESPACES, after)

    namespace, abi, seccomp, problems = report["isolation"]  # type: ignore[misc]
    assert (namespace, abi, seccomp) == ("none", 0, True)
    assert any("Landlock" in problem for problem in problems)
    assert any("network namespace" in problem for problem in problems)
    # What the report says is missing is indeed missing, and what it says is there holds.
    assert outside.read_text() == "unconfined"
    assert report["socket"] == "Permission denied"


@pytest.mark.skipif(os.geteuid() != 0, reason="the pool's own tests already run as non-root")
def test_a_non_root_worker_gets_the_same_sandbox(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    shutil.chown(scratch, 65534, 65534)
    # Dumpable again, as a process started by that user is: a uid change clears it,
    # which would leave /proc/self (and the uid map) owned by root.
    drop = ("os.setgroups([]); os.setgid(65534); os.setuid(65534); "
            "ctypes.CDLL(None).prctl(4, ctypes.c_ulong(1), 0, 0, 0)")
    outside = Path("/tmp") / f"fansi-sandbox-{uuid.uuid4().hex}"
    after = f"""
with open("inside.txt", "w") as file:
    file.write("ok")
report["uid"] = os.getuid()
try:
    open({str(outside)!r}, "w").close()
    report["outside"] = "written"
except OSError as exc:
    report["outside"] = exc.strerror
"""
    try:
        report = run_sandbox(scratch, drop, after)
    finally:
        outside.unlink(missing_ok=True)

    namespace, abi, seccomp, problems = report["isolation"]  # type: ignore[misc]
    nobody = ("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups")
    expected = "user+net" if user_namespaces_work(*nobody) else "none"
    assert namespace == expected, problems
    assert abi == landlock_abi()
    assert seccomp
    assert report["uid"] == 65534
    assert (scratch / "inside.txt").read_text() == "ok"
    assert report["outside"] == ("Permission denied" if abi else "written")
