from __future__ import annotations

from pathlib import Path

import pytest

from fansi.config import load_settings
from fansi.errors import ConfigError


def test_defaults(fansi_home: Path) -> None:
    s = load_settings()
    assert s.home == fansi_home
    assert s.model == "embedded"
    assert s.max_tokens == 1024
    # Resolved here, once: the call cache replays a run by its seed.
    assert s.seed == 0 and s.temperature == 0.7
    assert s.models_dir == fansi_home / "models"


def test_precedence_file_env_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fansi.toml").write_text('model = "tiny"\nmax_tokens = 10\nseed = 1\nretries = 7\n')
    monkeypatch.setenv("FANSI_MAX_TOKENS", "20")
    monkeypatch.setenv("FANSI_SEED", "2")
    s = load_settings({"seed": 3, "model": None})
    assert s.model == "tiny"  # file beats default; a None flag is ignored
    assert s.retries == 7
    assert s.max_tokens == 20  # env beats file
    assert s.seed == 3  # flag beats env


def test_fansi_table_and_home_file(fansi_home: Path) -> None:
    (fansi_home / "fansi.toml").write_text('[fansi]\nmodel = "fake"\n')
    assert load_settings().model == "fake"


def test_settings_are_frozen(fansi_home: Path) -> None:
    s = load_settings()
    with pytest.raises(ValueError):
        s.model = "tiny"  # type: ignore[misc]


def test_bad_toml(tmp_path: Path) -> None:
    (tmp_path / "fansi.toml").write_text("model = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


def test_unknown_key_and_bad_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fansi.toml").write_text("modle = 'tiny'\n")
    with pytest.raises(ConfigError, match="modle"):
        load_settings()
    (tmp_path / "fansi.toml").unlink()
    monkeypatch.setenv("FANSI_MAX_TOKENS", "lots")
    with pytest.raises(ConfigError, match="max_tokens"):
        load_settings()


def test_explicit_config_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FANSI_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="not a file"):
        load_settings()
