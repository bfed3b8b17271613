"""Finding Coq, and running its programs under limits.

Every ``coqc`` and ``coqchk`` run is a subprocess in its own session (its own
process group), with:

- a wall-clock limit: on expiry the whole group gets SIGKILL;
- an address-space, CPU-time and file-size limit, set by a small Python
  bootstrap that then ``exec``\\ s the program (``preexec_fn`` is not safe in a
  threaded process, and the checks run in threads);
- a scratch working directory and a minimal environment;
- stdout and stderr written to files in the scratch directory (so a proof
  that prints without end fills a capped file, not this process's memory),
  of which the last :data:`OUTPUT_CHARS` characters are read back.

No signal handler is installed in this process: the timeout is the
``communicate`` deadline.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fansi.errors import ConfigError

#: The command that installs Coq and the libraries fansi uses.
INSTALL_COMMAND = "bash scripts/install-coq.sh"
#: How much of a program's stdout and stderr is kept, from the end.
OUTPUT_CHARS = 200_000
#: The largest output file a checked program may write, in bytes.
MAX_FILE_BYTES = 64 * 1024 * 1024

_BOOTSTRAP = """\
import os, resource, sys
memory, cpu, fsize = (int(value) for value in sys.argv[1:4])
resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
os.execv(sys.argv[4], sys.argv[4:])
"""


@dataclass(frozen=True)
class Limits:
    """Limits for one Coq program run.

    Attributes:
        seconds: Wall-clock seconds before the process group is killed.
        memory_mb: Address-space limit in MiB.
    """

    seconds: float = 60.0
    memory_mb: int = 4096


@dataclass(frozen=True)
class Coq:
    """The Coq programs found on this machine.

    Attributes:
        coqc: Path of the compiler.
        coqchk: Path of the independent checker.
        version: The version number, e.g. ``"8.16.1"``.
    """

    coqc: str
    coqchk: str
    version: str


@dataclass(frozen=True)
class Run:
    """The outcome of one program run. ``returncode`` is None when it was killed on timeout."""

    returncode: int | None
    stdout: str
    stderr: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def output(self) -> str:
        """stdout then stderr, as a person would have seen them."""
        return "\n".join(part for part in (self.stdout.strip(), self.stderr.strip()) if part)


def _missing(program: str) -> ConfigError:
    return ConfigError(
        f"formal mode needs Coq: {program} was not found on PATH; "
        f"install it with `{INSTALL_COMMAND}`",
        hint=f"Run `{INSTALL_COMMAND}` (Debian: coq, libcoq-coquelicot, libcoq-interval, "
             "libcoq-mathcomp-ssreflect).",
    )


@cache
def find_coq(bin_dir: str | None = None) -> Coq:
    """Locate ``coqc`` and ``coqchk`` (on PATH, or in ``bin_dir``) and read the version.

    Args:
        bin_dir: A folder holding both programs; None searches PATH.

    Returns:
        The programs and the version, cached for the life of the process.

    Raises:
        ConfigError: If either program is missing or does not run; the message
            names the install command.
    """
    found = []
    for program in ("coqc", "coqchk"):
        path = shutil.which(program, path=bin_dir)
        if path is None:
            raise _missing(program)
        found.append(path)
    try:
        done = subprocess.run([found[0], "--print-version"], capture_output=True, text=True,
                              timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"formal mode needs Coq, but `{found[0]} --print-version` failed: "
                          f"{exc}", hint=f"Reinstall it with `{INSTALL_COMMAND}`.") from exc
    version = done.stdout.split()[0] if done.stdout.split() else "unknown"
    return Coq(coqc=found[0], coqchk=found[1], version=version)


def _tail(path: Path) -> str:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return ""
    with path.open("rb") as handle:
        if size > OUTPUT_CHARS:
            handle.seek(size - OUTPUT_CHARS)
        return handle.read().decode("utf-8", errors="replace")


def run_limited(argv: list[str], *, cwd: Path, limits: Limits, name: str) -> Run:
    """Run one program in ``cwd`` under ``limits``; its output goes to ``cwd``.

    Args:
        argv: The program (an absolute path) and its arguments.
        cwd: The scratch directory to run in.
        limits: Wall-clock and memory limits.
        name: A file-name stem for the captured output (``<name>.out``, ``.err``).

    Returns:
        The run; a timeout is a run with ``returncode`` None, not an exception.
    """
    memory = limits.memory_mb * 1024 * 1024
    cpu = max(1, int(limits.seconds) + 1)
    command = [sys.executable, "-I", "-S", "-c", _BOOTSTRAP,
               str(memory), str(cpu), str(MAX_FILE_BYTES), *argv]
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd),
                   "LANG": "C.UTF-8", "TMPDIR": str(cwd)}
    out_path, err_path = cwd / f"{name}.out", cwd / f"{name}.err"
    start = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=err, env=environment, start_new_session=True)
        returncode: int | None = None
        try:
            returncode = process.wait(timeout=limits.seconds)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if returncode is None:
                # Not reaped yet, so the group id is still this one: kill the
                # program and anything it started.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return Run(returncode=returncode, stdout=_tail(out_path), stderr=_tail(err_path),
               seconds=time.perf_counter() - start)


__all__ = ["INSTALL_COMMAND", "Coq", "Limits", "Run", "find_coq", "run_limited"]
