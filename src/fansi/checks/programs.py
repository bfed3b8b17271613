"""Model-written programs, run in a ``CheckPool`` worker, and the assertions check.

``run_program``, registered as ``"programs.run"``, runs a program that should
print a problem's final answer and returns what it printed; ``extract_program``
pulls the program out of a model's reply (cheap, and it runs anywhere). The
assertions check, ``run_assertions`` (``"programs.assertions"``), lives in
``fansi.checks.assertions``; importing this module registers both.

The program runs in the worker's own interpreter, with fresh globals, stdout
captured (the worker's fd 1 is its log) and capped, stderr discarded, and
whatever it raises turned into data. The pool supplies the sandbox (no network,
writes only to scratch, memory, CPU and wall clock), and its timeout is the only
one: a program that hangs comes back from the pool as ``"timeout"``. The code
shares the worker's process, so it could forge its own reply (the pool's
docstring says so): a check must treat these results as the word of the code
it ran, no more. Both jobs are registered as ``untrusted``, so the worker is
retired after each: nothing the code changes reaches another candidate's check.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import re
import textwrap
from typing import Any

from fansi.checks.assertions import Discard, describe, run_assertions
from fansi.checks.pool import register

__all__ = ["extract_program", "run_assertions", "run_program"]

_FENCE = re.compile(
    r"^([ \t]*)```[ \t]*(?:python3?|py)[ \t]*\n(.*?)^[ \t]*```[ \t]*$",
    re.IGNORECASE | re.MULTILINE | re.DOTALL,
)


def extract_program(text: str) -> str | None:
    """The program in a model's reply: the last complete, non-empty fenced block
    tagged ``python``, ``python3`` or ``py``.

    Untagged fences are not read (they are as often output or prose), nor is a
    fence left open by a truncated reply. An indented fence is dedented.

    Args:
        text: The model's reply.

    Returns:
        The program's source, or ``None`` if the reply has no such block.
    """
    blocks = [textwrap.dedent(m.group(2)) for m in _FENCE.finditer(text)]
    blocks = [block for block in blocks if block.strip()]
    return blocks[-1] if blocks else None


class _OutputLimit(BaseException):
    """Raised into a program that prints too much; a BaseException so that
    ``except Exception`` in the program does not swallow it."""


class _Capture(io.StringIO):
    """A stdout that keeps at most ``limit`` characters and stops the program past it."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.overflowed = False

    def write(self, text: str) -> int:
        room = self.limit - self.tell()
        if len(text) > room or self.overflowed:
            super().write(text[: max(room, 0)])
            self.overflowed = True
            raise _OutputLimit
        return super().write(text)


@register("programs.run", untrusted=True)
def run_program(code: str, max_output_chars: int) -> dict[str, str | bool | None]:
    """Run a model-written program that prints a final answer.

    Runs in a ``CheckPool`` worker: ``await pool.run("programs.run", code, 4000,
    timeout_s=...)``. The program runs with fresh globals and ``__name__ ==
    "__main__"``, so an ``if __name__ == "__main__":`` block runs. It may import
    anything installed, SymPy and ``math`` included. ``sys.exit()`` or
    ``sys.exit(0)`` ends it normally.

    Args:
        code: The program's source.
        max_output_chars: The most characters it may print; past that it is
            stopped and the run is not ok.

    Returns:
        ``{"ok": bool, "stdout": str, "answer": str | None, "error": str}``:
        ``ok`` is true when the program ran to its end (or exited with status 0)
        within the output limit; ``stdout`` is what it printed (at most
        ``max_output_chars``); ``answer`` is the last non-empty printed line,
        stripped, or ``None`` when it printed nothing or did not run ok;
        ``error`` is ``"ExcType: message"`` when not ok, else ``""``.
    """
    if max_output_chars < 1:
        raise ValueError("max_output_chars must be positive")
    out = _Capture(max_output_chars)
    error = ""
    try:
        compiled = compile(code, "<program>", "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError) as exc:
        error = describe(exc)
    else:
        namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(Discard()):
            try:
                exec(compiled, namespace)
            except SystemExit as exc:
                if exc.code not in (None, 0):
                    error = f"SystemExit: {exc.code}"
            except _OutputLimit:
                pass
            except BaseException as exc:  # the program's failure is data
                error = describe(exc)
    if out.overflowed:
        error = f"OutputLimit: printed more than {max_output_chars} characters"
    stdout = out.getvalue()
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    ok = not error
    return {
        "ok": ok,
        "stdout": stdout,
        "answer": lines[-1] if ok and lines else None,
        "error": error,
    }
