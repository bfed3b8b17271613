"""The worker half of the check pool: the process that runs jobs.

``pool._Worker`` starts ``python -I -c <bootstrap>``, which calls ``serve``. Before
it reads any request, the worker, still single-threaded, shuts itself in:

1. It moves the protocol onto private copies of stdin and stdout, so that a job
   that prints or reads input cannot corrupt it.
2. ``unshare(CLONE_NEWUSER | CLONE_NEWNET)``, with the user's own uid and gid
   mapped: the worker gets a network namespace of its own, whose only device is
   a loopback that is down. The user namespace comes first even for root, so
   that the worker holds no capability outside it (root with CAP_SYS_ADMIN in
   the host's namespace could ``setns`` back into the host's network). Where
   user namespaces are refused, root falls back to the network namespace alone.
3. Resource limits: ``RLIMIT_AS`` (the pool's memory cap), ``RLIMIT_FSIZE``
   (``FILE_BYTES`` per file), ``RLIMIT_CORE`` 0; ``RLIMIT_CPU`` is set per job.
4. ``PR_SET_NO_NEW_PRIVS``, then Landlock, through raw syscalls: read and
   execute anywhere, write only beneath the scratch directory (the working
   directory) and to ``/dev/null``; from ABI 4 no TCP bind or connect; from
   ABI 6 no signals and no abstract Unix sockets beyond the worker itself.
5. A seccomp filter (x86-64 and arm64) that refuses ``socket``, ``connect`` and
   ``bind``; new processes (``fork``, ``vfork``, ``clone`` without
   ``CLONE_THREAD``; ``clone3`` answers ENOSYS so that threads fall back to
   ``clone``); leaving the sandbox (``setns``, ``unshare``, mounts,
   ``chroot``); reaching other processes (``ptrace``, ``process_vm_*``,
   signals to anyone but itself, pidfds); and kernel-wide calls (modules,
   ``kexec``, ``bpf``, ``perf_event_open``, keyrings, ``io_uring``,
   ``userfaultfd``, ``open_by_handle_at``, ``reboot``). Any other architecture's
   calls kill the worker, which closes the x32 and 32-bit back doors.

A step the kernel refuses is skipped and recorded: the worker's first line is
its ``Isolation``, which the pool publishes as ``CheckPool.isolation``. Then it
answers one JSON request per line with one JSON reply per line.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import importlib
import json
import math
import os
import platform
import resource
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Literal, TypeAlias

JSON: TypeAlias = "str | int | float | bool | list[JSON] | dict[str, JSON] | None"
"""A JSON value: what a job may take as arguments and return."""

Namespace = Literal["user+net", "net", "none"]

FILE_BYTES = 64 << 20
"""The largest file a job may write (``RLIMIT_FSIZE``); a bigger write fails with EFBIG."""

_DETAIL_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Isolation:
    """What a worker enforces on itself, as it reported when it started.

    Attributes:
        namespace: ``"user+net"`` for its own user and network namespaces,
            ``"net"`` for a network namespace alone (root without user
            namespaces), ``"none"`` where neither could be made.
        landlock_abi: The Landlock ABI version applied; 0 where Landlock is
            unavailable, so that writes are not confined.
        seccomp: Whether the syscall filter is installed.
        problems: Why each missing layer is missing, for logs; empty when none is.
    """

    namespace: Namespace
    landlock_abi: int
    seccomp: bool
    problems: tuple[str, ...] = ()

    @property
    def network_blocked(self) -> bool:
        """Whether some layer keeps a job off every network, loopback included."""
        return self.namespace != "none" or self.seccomp

    @property
    def writes_confined(self) -> bool:
        """Whether writes outside the scratch directory are refused."""
        return self.landlock_abi > 0

    @property
    def summary(self) -> str:
        """One line for logs, for example ``namespace=user+net landlock=7 seccomp=on``."""
        seccomp = "on" if self.seccomp else "off"
        line = f"namespace={self.namespace} landlock={self.landlock_abi} seccomp={seccomp}"
        return "; ".join((line, *self.problems))

    def encode(self) -> bytes:
        """The worker's first line."""
        return json.dumps({"isolation": dataclasses.asdict(self)}).encode() + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> Isolation:
        """Read a worker's first line; raises ValueError, KeyError or TypeError if malformed."""
        fields = json.loads(line)["isolation"]
        return cls(
            fields["namespace"],
            int(fields["landlock_abi"]),
            bool(fields["seccomp"]),
            tuple(str(problem) for problem in fields["problems"]),
        )


def serve(config_json: str) -> None:
    """The worker's main loop: shut itself in, greet, then answer one request per line."""
    config = json.loads(config_json)
    requests, replies = _private_protocol()
    isolation = sandbox(config["memory_bytes"])
    replies.write(isolation.encode())
    replies.flush()
    for line in requests:
        request = json.loads(line)
        _limit_cpu(request["cpu_s"])
        replies.write(_answer(request["ref"], request["args"]) + b"\n")
        replies.flush()


def _private_protocol() -> tuple[IO[bytes], IO[bytes]]:
    # Fd 0 becomes /dev/null and fd 1 the log (the parent's stderr file).
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return requests, replies


def sandbox(memory_bytes: int) -> Isolation:
    """Apply every layer this kernel allows to the calling process, for good.

    The working directory is the scratch directory. Must run while the process
    has one thread: the kernel creates a user namespace only for such a process.

    Args:
        memory_bytes: The address-space cap (``RLIMIT_AS``).

    Returns:
        What took effect.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    problems: list[str] = []
    # Namespaces first: writing the uid map is a write outside scratch.
    namespace = _own_namespaces(libc, problems)
    _cap(resource.RLIMIT_AS, memory_bytes)
    _cap(resource.RLIMIT_FSIZE, FILE_BYTES)
    _cap(resource.RLIMIT_CORE, 0)
    # Landlock and seccomp both need this (or CAP_SYS_ADMIN, which we must not use).
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, _ulong(1), _ulong(0), _ulong(0), _ulong(0)),
           "prctl(PR_SET_NO_NEW_PRIVS)")
    landlock_abi = _landlock(libc, problems)
    seccomp = _seccomp(libc, problems)
    # Libraries that make temporary files find scratch instead of an unwritable /tmp.
    os.environ["TMPDIR"] = os.getcwd()
    return Isolation(namespace, landlock_abi, seccomp, tuple(problems))


def _cap(limit: int, value: int) -> None:
    _, hard = resource.getrlimit(limit)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(limit, (value, value))


def _limit_cpu(seconds: int) -> None:
    # RLIMIT_CPU counts the whole life of the process, so each job gets the CPU
    # time used so far plus its own allowance. At the soft limit the kernel sends
    # SIGXCPU, which ends the worker.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime) + seconds
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _answer(ref: str, args: list[JSON]) -> bytes:
    try:
        module, _, qualname = ref.partition(":")
        target: object = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
        if not callable(target):
            raise TypeError(f"{ref} is not callable")
        value = target(*args)
        return json.dumps({"ok": True, "value": value}).encode()
    except Exception as exc:
        message = str(exc)
        detail = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
        return json.dumps({"ok": False, "detail": detail[:_DETAIL_CHARS]}).encode()


# --- the kernel, through ctypes -------------------------------------------------------

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_CLONE_THREAD = 0x00010000


def _ulong(value: int) -> ctypes.c_ulong:
    # prctl and syscall are variadic: an untyped Python int would go as a C int.
    return ctypes.c_ulong(value)


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def _own_namespaces(libc: ctypes.CDLL, problems: list[str]) -> Namespace:
    uid, gid = os.geteuid(), os.getegid()
    try:
        _check(libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET), "unshare(CLONE_NEWUSER|CLONE_NEWNET)")
    except OSError as exc:
        refused = exc
    else:
        # Map our own ids only, which needs no privilege; unmapped, the worker could
        # not create files. gid_map requires setgroups to be denied first. There is
        # no way back out of the namespace, so a failure here ends the worker.
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                           ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as file:
                file.write(text)
        return "user+net"
    try:
        _check(libc.unshare(_CLONE_NEWNET), "unshare(CLONE_NEWNET)")
    except OSError as exc:
        problems.append(f"no network namespace: {refused}; {exc}")
        return "none"
    problems.append(f"no user namespace ({refused}); the network namespace alone")
    return "net"


# Landlock: struct landlock_ruleset_attr, which grew with the ABI, and the
# packed struct landlock_path_beneath_attr.
_LANDLOCK_CREATE_RULESET, _LANDLOCK_ADD_RULE, _LANDLOCK_RESTRICT_SELF = 444, 445, 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 14, 1 << 15
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),  # ABI 1
        ("handled_access_net", ctypes.c_uint64),  # ABI 4
        ("scoped", ctypes.c_uint64),  # ABI 6
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _fs_rights(abi: int) -> int:
    """Every filesystem right the ABI knows: 13 in ABI 1, then REFER, TRUNCATE, IOCTL_DEV."""
    known = 13 + (abi >= 2) + (abi >= 3) + (abi >= 5)
    return (1 << known) - 1


def _landlock(libc: ctypes.CDLL, problems: list[str]) -> int:
    try:
        abi = _check(libc.syscall(_ulong(_LANDLOCK_CREATE_RULESET), None, _ulong(0),
                                  _ulong(_LANDLOCK_CREATE_RULESET_VERSION)), "Landlock")
        handled = _fs_rights(abi)
        attr = _RulesetAttr(handled, _NET_BIND_TCP | _NET_CONNECT_TCP,
                            _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL)
        # An older kernel rejects fields it does not know, so pass only its own.
        size = 8 if abi < 4 else 16 if abi < 6 else 24
        ruleset = _check(libc.syscall(_ulong(_LANDLOCK_CREATE_RULESET), ctypes.byref(attr),
                                      _ulong(size), _ulong(0)), "landlock_create_ruleset")
        try:
            file_rights = _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
            # Scratch is "." so that it is found even where its parents are closed to us.
            for path, allowed in (("/", _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR),
                                  (".", handled), (os.devnull, file_rights & handled)):
                _allow_beneath(libc, ruleset, path, allowed)
            _check(libc.syscall(_ulong(_LANDLOCK_RESTRICT_SELF), ruleset, _ulong(0)),
                   "landlock_restrict_self")
        finally:
            os.close(ruleset)
    except OSError as exc:
        problems.append(f"no Landlock, so writes are not confined: {exc}")
        return 0
    return abi


def _allow_beneath(libc: ctypes.CDLL, ruleset: int, path: str, allowed: int) -> None:
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        rule = _PathBeneathAttr(allowed, fd)
        _check(libc.syscall(_ulong(_LANDLOCK_ADD_RULE), ruleset,
                            _ulong(_LANDLOCK_RULE_PATH_BENEATH), ctypes.byref(rule), _ulong(0)),
               f"landlock_add_rule({path})")
    finally:
        os.close(fd)


# Seccomp: a classic BPF program over struct seccomp_data (nr at offset 0, arch
# at 4, the arguments from 16, 8 bytes each, low half first on these
# little-endian machines). An op is (code, jump if true, jump if false, operand).
_Op: TypeAlias = tuple[int, int, int, int]
_LOAD, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_NR, _ARCH, _ARG0 = 0, 4, 16
_ALLOW, _KILL = 0x7FFF0000, 0x80000000


def _refuse(code: int) -> int:
    """The filter action that fails a syscall with ``errno`` ``code``."""
    return 0x00050000 | code


_COMMON = {"pidfd_send_signal": 424, "io_uring_setup": 425, "io_uring_enter": 426,
           "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
           "fsmount": 432, "pidfd_open": 434, "clone3": 435}
_SYSCALLS = {
    "x86_64": (0xC000003E, _COMMON | {
        "socket": 41, "connect": 42, "bind": 49, "clone": 56, "fork": 57, "vfork": 58,
        "kill": 62, "ptrace": 101, "rt_sigqueueinfo": 129, "pivot_root": 155, "chroot": 161,
        "mount": 165, "umount2": 166, "reboot": 169, "init_module": 175, "delete_module": 176,
        "tkill": 200, "tgkill": 234, "kexec_load": 246, "add_key": 248, "request_key": 249,
        "keyctl": 250, "unshare": 272, "rt_tgsigqueueinfo": 297, "perf_event_open": 298,
        "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310,
        "process_vm_writev": 311, "finit_module": 313, "kexec_file_load": 320, "bpf": 321,
        "userfaultfd": 323}),
    "aarch64": (0xC00000B7, _COMMON | {
        "umount2": 39, "mount": 40, "pivot_root": 41, "chroot": 51, "unshare": 97,
        "kexec_load": 104, "init_module": 105, "delete_module": 106, "ptrace": 117,
        "kill": 129, "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138, "reboot": 142,
        "socket": 198, "bind": 200, "connect": 203, "add_key": 217, "request_key": 218,
        "keyctl": 219, "clone": 220, "rt_tgsigqueueinfo": 240, "perf_event_open": 241,
        "open_by_handle_at": 265, "setns": 268, "process_vm_readv": 270,
        "process_vm_writev": 271, "finit_module": 273, "bpf": 280, "userfaultfd": 282,
        "kexec_file_load": 294}),
}
_REFUSED = (
    (("socket", "connect", "bind"), _refuse(errno.EACCES)),
    (("fork", "vfork", "setns", "unshare", "mount", "umount2", "pivot_root", "chroot",
      "open_tree", "move_mount", "fsopen", "fsmount", "ptrace", "process_vm_readv",
      "process_vm_writev", "tkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open",
      "pidfd_send_signal", "init_module", "finit_module", "delete_module", "kexec_load",
      "kexec_file_load", "bpf", "perf_event_open", "add_key", "request_key", "keyctl",
      "userfaultfd", "open_by_handle_at", "reboot"), _refuse(errno.EPERM)),
    # ENOSYS, not EPERM: glibc then makes threads with clone, and I/O without io_uring.
    (("clone3", "io_uring_setup", "io_uring_enter", "io_uring_register"), _refuse(errno.ENOSYS)),
)


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _seccomp(libc: ctypes.CDLL, problems: list[str]) -> bool:
    machine = platform.machine()
    if machine not in _SYSCALLS:
        problems.append(f"no seccomp filter: no syscall table for {machine}")
        return False
    try:
        _install_filter(libc, _program(machine, os.getpid()))
    except OSError as exc:
        problems.append(f"no seccomp filter: {exc}")
        return False
    return True


def _program(machine: str, pid: int) -> list[_Op]:
    audit_arch, numbers = _SYSCALLS[machine]
    ops: list[_Op] = [(_LOAD, 0, 0, _ARCH), (_JEQ, 1, 0, audit_arch), (_RET, 0, 0, _KILL),
                     (_LOAD, 0, 0, _NR)]
    if machine == "x86_64":
        # x32 calls are numbered from bit 30 and would slip past every rule below.
        ops += [(_JGE, 0, 1, 0x40000000), (_RET, 0, 0, _KILL)]
    for names, action in _REFUSED:
        for name in names:
            if name in numbers:  # arm64 has no fork or vfork
                ops += [(_JEQ, 0, 1, numbers[name]), (_RET, 0, 0, action)]
    threads_only = [(_LOAD, 0, 0, _ARG0), (_JSET, 1, 0, _CLONE_THREAD),
                    (_RET, 0, 0, _refuse(errno.EPERM)), (_RET, 0, 0, _ALLOW)]
    ops += _when(numbers["clone"], threads_only)
    # kill(0), kill(pid) and kill(-pid) reach only the worker's own process group.
    ops += _when(numbers["kill"], _first_arg_in([0, pid, -pid & 0xFFFFFFFF]))
    ops += _when(numbers["tgkill"], _first_arg_in([pid]))
    ops.append((_RET, 0, 0, _ALLOW))
    return ops


def _when(nr: int, body: list[_Op]) -> list[_Op]:
    """Run ``body``, which ends by returning, for syscall ``nr``; skip it otherwise."""
    return [(_JEQ, 0, len(body), nr), *body]


def _first_arg_in(values: Sequence[int]) -> list[_Op]:
    """Allow the call if its first argument's low 32 bits are one of ``values``."""
    tests = [(_JEQ, len(values) - i, 0, value) for i, value in enumerate(values)]
    return [(_LOAD, 0, 0, _ARG0), *tests, (_RET, 0, 0, _refuse(errno.EPERM)), (_RET, 0, 0, _ALLOW)]


def _install_filter(libc: ctypes.CDLL, ops: list[_Op]) -> None:
    """Install a seccomp filter; needs ``PR_SET_NO_NEW_PRIVS`` already set."""
    program = (_SockFilter * len(ops))(*(_SockFilter(*op) for op in ops))
    fprog = _SockFprog(len(ops), program)
    _check(libc.prctl(_PR_SET_SECCOMP, _ulong(_SECCOMP_MODE_FILTER), ctypes.byref(fprog),
                      _ulong(0), _ulong(0)), "prctl(PR_SET_SECCOMP)")
