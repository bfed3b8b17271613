"""Fixtures for the formal tier: the real Coq, and miniF2F statements from the shared data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fansi.errors import ConfigError
from fansi.formal import Coq, find_coq

#: The shared data folder next to the repository.
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MINIF2F = DATA / "minif2f_rocq" / "valid"


def pytest_configure(config: pytest.Config) -> None:
    # Until pyproject.toml lists it (the suite runs with --strict-markers).
    config.addinivalue_line("markers", "formal: runs the real Coq (coqc and coqchk)")


@pytest.fixture(scope="session")
def coq() -> Coq:
    """The installed Coq; the formal tier fails, with the install command, without it."""
    try:
        return find_coq()
    except ConfigError as exc:
        pytest.fail(exc.message)


@pytest.fixture
def minif2f() -> Callable[[str], str]:
    """Read one miniF2F statement file by name (skips when the shared data is absent)."""

    def read(name: str) -> str:
        path = MINIF2F / f"{name}.v"
        if not path.exists():
            pytest.skip(f"the shared miniF2F data is not at {MINIF2F}")
        return path.read_text(encoding="utf-8")

    return read
