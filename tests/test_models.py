from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from fansi.errors import ConfigError, ModelChecksumError, ModelNotInstalled
from fansi.models import (
    EMBEDDED,
    TINY,
    ensure_packaged,
    is_verified,
    parse_spec,
    resolve_gguf,
    status,
)


@pytest.mark.parametrize(
    ("spec", "kind", "target", "url"),
    [
        ("embedded", "llamacpp", "embedded", None),
        ("tiny", "llamacpp", "tiny", None),
        ("fake", "fake", "fake", None),
        ("gguf:/m/x.gguf", "llamacpp", "/m/x.gguf", None),
        ("openai:qwen@http://h:8000/v1/", "openai", "qwen", "http://h:8000/v1"),
        ("openai:org/m@x@https://h/v1", "openai", "org/m@x", "https://h/v1"),
    ],
)
def test_parse_spec(spec: str, kind: str, target: str, url: str | None) -> None:
    parsed = parse_spec(spec)
    assert (parsed.kind, parsed.target, parsed.base_url) == (kind, target, url)


@pytest.mark.parametrize("spec", ["", "gpt", "gguf:", "openai:qwen", "openai:m@ftp://x"])
def test_parse_spec_rejects(spec: str) -> None:
    with pytest.raises(ConfigError):
        parse_spec(spec)


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


def test_missing_packages_name_the_install_command(models_dir: Path) -> None:
    ghost = dataclasses.replace(EMBEDDED, distributions=("fansi-no-such-part1", "fansi-nope2"))
    with pytest.raises(ModelNotInstalled) as err:
        ensure_packaged(ghost, models_dir)
    assert "fansi-no-such-part1" in err.value.message
    assert "scripts/setup.sh" in err.value.hint
    assert not models_dir.exists()


def test_gguf_path_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no GGUF file"):
        resolve_gguf(parse_spec(f"gguf:{tmp_path / 'x.gguf'}"), tmp_path)


def test_join_verifies_and_stamps(models_dir: Path) -> None:
    path = ensure_packaged(TINY, models_dir)
    assert path.stat().st_size == TINY.size
    assert is_verified(path, TINY.sha256)
    assert status(TINY, models_dir).checksum == "verified"
    assert [p.name for p in models_dir.iterdir() if "partial" in p.name] == []


def test_wrong_checksum_refuses_and_leaves_nothing(models_dir: Path) -> None:
    wrong = dataclasses.replace(TINY, sha256="0" * 64)
    with pytest.raises(ModelChecksumError, match="checksum mismatch"):
        ensure_packaged(wrong, models_dir)
    assert list(models_dir.iterdir()) == []


def test_corrupted_file_is_refused(models_dir: Path) -> None:
    path = ensure_packaged(TINY, models_dir)
    with path.open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\xff" * 16)
    os.utime(path, ns=(1, 1))  # a changed mtime invalidates the stamp
    assert status(TINY, models_dir).checksum == "unverified"
    assert status(TINY, models_dir, check=True).checksum == "mismatch"
    with pytest.raises(ModelChecksumError) as err:
        ensure_packaged(TINY, models_dir)
    assert "Delete the file" in err.value.hint


def test_a_missing_local_extra_names_its_install_command(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    import importlib.util

    from fansi.backends import create_backend
    from fansi.config import load_settings
    from fansi.errors import ExtraNotInstalled

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    settings = load_settings({"home": str(tmp_path)}, env={}, cwd=tmp_path)
    with pytest.raises(ExtraNotInstalled) as caught:
        create_backend("embedded", settings)
    assert "fansi[local]" in caught.value.message
    assert "pip install 'fansi[local]'" in caught.value.hint
