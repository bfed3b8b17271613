"""Every test gets a temporary FANSI_HOME, a clean FANSI_* environment and a
scratch working directory. Model files are joined once per session and shared
read-only through a symlinked models folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fansi.config import Settings, load_settings


@pytest.fixture(autouse=True)
def fansi_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in list(os.environ):
        if name.startswith("FANSI_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("FANSI_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    yield home


@pytest.fixture(scope="session")
def shared_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def model_home(fansi_home: Path, shared_models: Path) -> Path:
    """A FANSI_HOME whose models folder is the session's shared one."""
    (fansi_home / "models").symlink_to(shared_models, target_is_directory=True)
    return fansi_home


@pytest.fixture
def settings(fansi_home: Path) -> Settings:
    return load_settings()
