"""`fansi serve`: the command, its refusals, and a real start and stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from fansi.cli import cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_serve_is_a_command_and_its_help_stays_light() -> None:
    code, out, _ = run("--help")
    assert code == 0 and "serve" in out
    code, out, _ = run("serve", "--help")
    assert code == 0
    assert "--host" in out and "--token" in out and "--queue" in out and "--effort" in out
    probe = ("import sys; from fansi.cli import main; sys.argv=['fansi','--help']\n"
             "try: main()\nexcept SystemExit: pass\n"
             "print('HEAVY', [m for m in ('fastapi', 'uvicorn', 'fansi.serve') "
             "if m in sys.modules])")
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           check=True)
    assert "HEAVY []" in shown.stdout


def test_listening_off_loopback_without_a_token_is_refused() -> None:
    code, _, err = run("serve", "--model", "fake", "--host", "0.0.0.0", "--port", "0")
    assert code == 2
    assert "needs a token" in err and "--token" in err and "Traceback" not in err


def test_a_port_in_use_is_reported() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run("serve", "--model", "fake", "--port", str(port))
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err


@pytest.mark.server
@pytest.mark.subprocess
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "term"])
def test_fansi_serve_starts_prints_its_url_and_stops_cleanly(fansi_home: Path,
                                                             stop: signal.Signals) -> None:
    exe = Path(sys.executable).with_name("fansi")
    child = subprocess.Popen([str(exe), "serve", "--model", "fake", "--port", "0"],
                             stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert child.stderr is not None
        first = child.stderr.readline()
        assert first.startswith("fansi serve: http://127.0.0.1:"), first
        url = first.split()[-1].rstrip("/")
        info = httpx.get(f"{url}/api/info", timeout=10).json()
        assert info["model"] == "fake" and info["token_required"] is False
        run_id = httpx.post(f"{url}/api/runs", json={"problem": "What is 1+1?"},
                            timeout=10).json()["id"]
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/api/runs/{run_id}", timeout=10).json()["status"] != "finished":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        child.send_signal(stop)
        code = child.wait(30)
        rest = child.stderr.read() if child.stderr else ""
    assert code == 0, rest
    assert "stopped" in rest and "Traceback" not in rest
    assert (fansi_home / "fansi.db").exists()
