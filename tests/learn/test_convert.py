"""llama.cpp's GGUF converter: installed from a source distribution, found, refused."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from fansi.cli import cli
from fansi.errors import ConfigError, InputError
from fansi.learn.convert import converter_dir, find_converter, install_converter

TREE = "llama_cpp_python-9.9.9/vendor/llama.cpp"


def sdist(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "src"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    path = tmp_path / "llama_cpp_python-9.9.9.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        archive.add(root / "llama_cpp_python-9.9.9", arcname="llama_cpp_python-9.9.9")
    return path


def test_install_takes_only_the_converter_from_an_sdist(tmp_path: Path) -> None:
    path = sdist(tmp_path, {f"{TREE}/convert_hf_to_gguf.py": "print('convert')",
                            f"{TREE}/conversion/__init__.py": "",
                            f"{TREE}/gguf-py/gguf/__init__.py": "",
                            f"{TREE}/src/llama.cpp": "int main;",
                            "llama_cpp_python-9.9.9/setup.py": ""})
    script = install_converter(tmp_path / "tools", path)
    assert script == tmp_path / "tools" / "convert_hf_to_gguf.py"
    assert sorted(p.name for p in (tmp_path / "tools").iterdir()) == [
        "conversion", "convert_hf_to_gguf.py", "gguf-py"]
    assert find_converter(tmp_path, tmp_path / "tools") == script
    assert find_converter(tmp_path, script) == script


def test_an_sdist_without_the_converter_is_refused(tmp_path: Path) -> None:
    path = sdist(tmp_path, {"llama_cpp_python-9.9.9/setup.py": ""})
    with pytest.raises(InputError, match=r"no llama\.cpp converter"):
        install_converter(tmp_path / "tools", path)


def test_a_missing_converter_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        find_converter(tmp_path)
    assert "fansi learn converter" in caught.value.hint


def test_the_converter_command_installs_into_the_home(fansi_home: Path, tmp_path: Path) -> None:
    path = sdist(tmp_path, {f"{TREE}/convert_hf_to_gguf.py": "", f"{TREE}/conversion/a.py": "",
                            f"{TREE}/gguf-py/gguf/__init__.py": ""})
    done = CliRunner().invoke(cli, ["learn", "converter", "--sdist", str(path)])
    assert done.exit_code == 0, done.output
    assert (converter_dir(fansi_home) / "convert_hf_to_gguf.py").is_file()


def test_training_without_a_converter_stops_before_it_starts(fansi_home: Path,
                                                             tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    done = CliRunner().invoke(cli, ["learn", "sft", "--data", str(tmp_path / "data"),
                                    "--out", str(tmp_path / "out"), "--model", "tiny"])
    assert done.exit_code == 2
    assert "no llama.cpp GGUF converter" in done.output and "fansi learn converter" in done.output
    assert not (tmp_path / "out").exists()
