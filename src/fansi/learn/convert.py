"""A trained checkpoint back to GGUF, with the converter that ships in llama.cpp's source.

llama.cpp's ``convert_hf_to_gguf.py`` (with its ``conversion/`` package and
its own ``gguf-py``) is not in any wheel, but it is in the source
distribution of llama-cpp-python. :func:`install_converter` takes those
files from such an sdist (or a llama.cpp checkout) and keeps them in
``$FANSI_HOME/tools/llama.cpp``; :func:`to_gguf` runs the script on a
``save_pretrained`` folder. The result runs with ``--model gguf:PATH``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Literal

from fansi.errors import ConfigError, FansiError, InputError

SCRIPT = "convert_hf_to_gguf.py"
#: What the script needs beside it, as found in a llama.cpp source tree.
PARTS = (SCRIPT, "conversion", "gguf-py")
OutType = Literal["f32", "f16", "bf16", "q8_0"]
SDIST_HINT = ("Run `fansi learn converter` (it fetches llama-cpp-python's source "
              "distribution with pip), or pass --sdist with one you have.")


def converter_dir(home: Path) -> Path:
    """Where :func:`install_converter` puts the converter by default."""
    return home / "tools" / "llama.cpp"


def find_converter(home: Path, given: Path | None = None) -> Path:
    """The converter script: ``given`` (the script or a folder holding it), else
    the one installed in ``home``.

    Raises:
        ConfigError: There is none.
    """
    where = given if given is not None else converter_dir(home)
    script = where / SCRIPT if where.is_dir() else where
    if not script.is_file() or script.name != SCRIPT:
        raise ConfigError(f"no llama.cpp GGUF converter at {where}", hint=SDIST_HINT)
    return script


def _source_tree(root: Path) -> Path:
    """The llama.cpp folder in an unpacked sdist or checkout: the one holding the script."""
    for candidate in (root, *sorted(root.glob("*")), *sorted(root.glob("*/vendor/llama.cpp"))):
        if (candidate / SCRIPT).is_file():
            return candidate
    raise InputError(f"{root} holds no llama.cpp source with {SCRIPT}", hint=SDIST_HINT)


def _download_sdist(into: Path) -> Path:
    """llama-cpp-python's source distribution, of the installed version, fetched by pip."""
    try:
        version = metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError as exc:
        raise ConfigError("llama-cpp-python is not installed, so its version is unknown",
                          hint="Pass --sdist with a llama-cpp-python source distribution.") from exc
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
         f"llama-cpp-python=={version}", "-d", str(into)],
        capture_output=True, text=True, check=False)
    found = sorted(into.glob("llama_cpp_python-*.tar.gz"))
    if done.returncode != 0 or not found:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no sdist"]
        raise FansiError(f"pip could not fetch llama-cpp-python {version}'s source: {tail[0]}",
                         hint="Pass --sdist with a llama-cpp-python source distribution.")
    return found[0]


def install_converter(dest: Path, source: Path | None = None) -> Path:
    """Put llama.cpp's converter in ``dest`` and return the script's path.

    Args:
        dest: The folder (replaced if it exists).
        source: A llama-cpp-python sdist (``.tar.gz``) or a folder holding
            llama.cpp's source; by default pip fetches the sdist of the
            installed llama-cpp-python (the only step here that goes online).
    """
    with tempfile.TemporaryDirectory(prefix="fansi-converter-") as scratch:
        work = Path(scratch)
        if source is None:
            source = _download_sdist(work)
        if source.is_file():
            with tarfile.open(source) as archive:
                wanted = [m for m in archive.getmembers()
                          if any(f"/vendor/llama.cpp/{part}" in f"/{m.name}" for part in PARTS)]
                if not wanted:
                    raise InputError(f"{source} holds no llama.cpp converter", hint=SDIST_HINT)
                archive.extractall(work / "unpacked", members=wanted, filter="data")
            tree = _source_tree(work / "unpacked")
        elif source.is_dir():
            tree = _source_tree(source)
        else:
            raise InputError(f"no sdist or folder at {source}", hint=SDIST_HINT)
        staged = work / "staged"
        staged.mkdir()
        for part in PARTS:
            path = tree / part
            if path.is_dir():
                shutil.copytree(path, staged / part)
            else:
                shutil.copy2(path, staged / part)
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staged), str(dest))
    return dest / SCRIPT


def to_gguf(checkpoint: Path, out: Path, *, converter: Path, outtype: OutType = "q8_0") -> Path:
    """Convert a ``save_pretrained`` folder to one GGUF file.

    Raises:
        FansiError: The converter failed; the message ends with its last line.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, str(converter), str(checkpoint), "--outfile", str(out),
         "--outtype", outtype],
        capture_output=True, text=True, check=False)
    if done.returncode != 0 or not out.is_file():
        lines = (done.stderr or done.stdout).strip().splitlines()
        shown = "\n".join(lines[-5:]) if lines else "no output"
        raise FansiError(f"the GGUF conversion of {checkpoint} failed:\n{shown}",
                         hint="Check that the learn extra is installed (the converter needs "
                              "torch, transformers and sentencepiece).")
    return out


__all__ = ["PARTS", "SCRIPT", "OutType", "converter_dir", "find_converter",
           "install_converter", "to_gguf"]
