"""Fixtures: a real fansi server on 127.0.0.1 and a free port, in a thread of
the test process, on the scripted model (tests/scripted_model.py) unless a test
gives another backend, so that a run takes well under a second."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fansi.backends import Backend
from fansi.backends.fake import FakeBackend
from fansi.serve.service import Limits
from serve.serving import Live, server_settings, start

from scripted_model import Model


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives Debian's Chromium with Playwright")


@pytest.fixture
def serve(fansi_home: Path) -> Iterator[Callable[..., Live]]:
    """Start servers (``serve(backend=..., token=..., limits=..., **settings)``);
    all are stopped at the end of the test."""
    started: list[Live] = []

    def make(*, backend: Backend | None = None, token: str | None = None,
             limits: Limits | None = None, **overrides: Any) -> Live:
        live = start(server_settings(fansi_home, **overrides),
                     backend=backend if backend is not None else FakeBackend(Model()),
                     token=token, limits=limits)
        started.append(live)
        return live

    yield make
    for live in started:
        if live.thread.is_alive():
            live.stop()


@pytest.fixture
def live(serve: Callable[..., Live]) -> Live:
    """One server on the scripted model."""
    return serve()
