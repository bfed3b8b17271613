"""Killing a fansi process with SIGKILL once it has finished some model calls."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import time
from pathlib import Path


def finished_calls(db: Path) -> int:
    """Calls stored with a cache key (finished ones), 0 while the store is being made."""
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn, contextlib.suppress(sqlite3.OperationalError):
        return int(conn.execute(
            "SELECT count(*) FROM calls WHERE cache_key IS NOT NULL").fetchone()[0])
    return 0


def kill_after(child: subprocess.Popen[bytes], db: Path, calls: int, seconds: float) -> None:
    """SIGKILL ``child`` as soon as ``calls`` calls are finished (or ``seconds`` pass)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and child.poll() is None:
        if finished_calls(db) >= calls:
            break
        time.sleep(0.02)
    assert child.poll() is None, "the child finished before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.wait()
