"""Starting a real fansi server in a thread, and waiting for its runs."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fansi.backends import Backend
from fansi.config import Settings, load_settings
from fansi.serve.server import Server
from fansi.serve.service import Limits


@dataclass
class Live:
    """A server running in a thread."""

    server: Server
    thread: threading.Thread
    errors: list[BaseException]

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the server did not stop"


def start(settings: Settings, *, backend: Backend | None = None, token: str | None = None,
          limits: Limits | None = None) -> Live:
    server = Server(settings, host="127.0.0.1", port=0, token=token, limits=limits,
                    backend=backend)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            server.run()
        except BaseException as exc:  # surfaced by the test that waits for it
            errors.append(exc)

    thread = threading.Thread(target=target, name="fansi-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and not errors and time.monotonic() < deadline:
        time.sleep(0.01)
    if errors:
        raise errors[0]
    assert server.started, "the server did not start in 30 s"
    return Live(server, thread, errors)


def server_settings(home: Path, **overrides: Any) -> Settings:
    return load_settings({"home": str(home), "model": "fake", **overrides})


def wait_for(client: httpx.Client, run_id: str, statuses: tuple[str, ...] = (
        "finished", "failed", "cancelled"), seconds: float = 30) -> dict[str, Any]:
    """The run once its status is one of ``statuses``."""
    deadline = time.monotonic() + seconds
    while True:
        body: dict[str, Any] = client.get(f"/api/runs/{run_id}").json()
        if body["status"] in statuses or time.monotonic() > deadline:
            return body
        time.sleep(0.05)
