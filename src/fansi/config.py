"""Settings, resolved once at the edge.

Precedence, lowest first: built-in defaults < ``fansi.toml`` < ``FANSI_*``
environment variables < explicit flags. The file is the first of
``$FANSI_CONFIG``, ``./fansi.toml`` and ``$FANSI_HOME/fansi.toml`` that exists.
Nothing below this module reads the environment.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fansi.errors import ConfigError

Effort = Literal["low", "medium", "high", "heavy"]
Schedule = Literal["adaptive", "fixed", "streak"]
Checks = Literal["none", "deterministic", "all"]
WriterPrompt = Literal["full", "plain"]

EFFORTS: tuple[Effort, ...] = get_args(Effort)
SCHEDULES: tuple[Schedule, ...] = get_args(Schedule)
CHECKS: tuple[Checks, ...] = get_args(Checks)


def default_home() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("fansi", appauthor=False))


class Settings(BaseModel):
    """Every setting fansi reads, and the only place a default lives.

    Frozen. ``None`` means "the backend's default" for backend settings and
    "no cap" for budgets; search numbers left ``None`` come from the effort
    preset. The seed and the temperature are always concrete, because the
    call cache replays a run by them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path = Field(default_factory=default_home)
    model: str = "embedded"
    # The model that verifies (verdicts, meta-checks, executed-claim checks);
    # unset: the writer model.
    verifier_model: str | None = None
    # Generation
    # The writer's prompt: "full" asks for a solution, a self-evaluation and a
    # self-score; "plain" asks for the solution alone (no self-score).
    writer_prompt: WriterPrompt = "full"
    max_tokens: int = Field(default=1024, ge=1)
    # Verdicts are short JSON; a cap keeps a looping small model from
    # spending a solution's worth of tokens on one.
    verify_tokens: int = Field(default=640, ge=1)
    # A meta-check answers one short question per issue.
    meta_tokens: int = Field(default=384, ge=1)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    seed: int = 0
    # Local inference
    threads: int | None = Field(default=None, ge=1)
    context: int = Field(default=8192, ge=256)
    # Calls the in-process model decodes together (continuous batching).
    batch: int = Field(default=8, ge=1)
    # Remote inference
    api_key: str | None = None
    timeout_s: float = Field(default=600.0, gt=0)
    retries: int = Field(default=3, ge=0)
    concurrency: int = Field(default=4, ge=1)
    # The search (see fansi.engine)
    effort: Effort = "low"
    schedule: Schedule = "adaptive"
    # Each of these overrides the effort preset when set.
    n: int | None = Field(default=None, ge=1)
    k: int | None = Field(default=None, ge=1)
    m: int | None = Field(default=None, ge=0)
    rounds: int | None = Field(default=None, ge=1)
    # Formal proving: repairs per attempt on Coq's messages; unset: k.
    repairs: int | None = Field(default=None, ge=0)
    # Executed checks: none; deterministic (arithmetic, answer equivalence: no
    # model-written code); all (also model-written programs and assertions,
    # run in the sandbox).
    checks: Checks = "all"
    # Programs written per problem to compute its answer (votes); unset: n.
    programs: int | None = Field(default=None, ge=0)
    # Budgets cap any preset; None means no cap.
    budget_tokens: int | None = Field(default=None, ge=1)
    budget_calls: int | None = Field(default=None, ge=1)
    budget_seconds: float | None = Field(default=None, gt=0)
    max_problem_chars: int = Field(default=20_000, ge=1)
    # Where `fansi eval` finds the benchmark files when no --data is given.
    data_dir: Path = Field(default_factory=lambda: default_data_dir())

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def store_path(self) -> Path:
        return self.home / "fansi.db"


FIELDS = tuple(Settings.model_fields)

#: Settings that change no model call and no decision: where, how fast, how
#: parallel. Runs and eval rows made with other values of these are reused.
RESULT_NEUTRAL = frozenset({
    "home", "api_key", "threads", "batch", "concurrency", "timeout_s", "retries", "data_dir",
})


def default(name: str) -> Any:
    """The built-in default of a setting (for help texts)."""
    field = Settings.model_fields[name]
    return field.get_default(call_default_factory=True)


def default_data_dir(cwd: Path | None = None) -> Path:
    """Where the benchmark files are when ``data_dir`` is not set: the first of
    ``../shared/data`` and ``./shared/data`` from the working directory, and
    ``shared/data`` beside the source checkout, that exists (else the first)."""
    cwd = Path.cwd() if cwd is None else cwd
    checkout = Path(__file__).resolve().parents[2]
    roots = [cwd.parent / "shared" / "data", cwd / "shared" / "data",
             checkout.parent / "shared" / "data"]
    return next((root for root in roots if root.is_dir()), roots[0])


def _config_file(env: Mapping[str, str], cwd: Path, home: Path) -> Path | None:
    explicit = env.get("FANSI_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"FANSI_CONFIG points at {path}, which is not a file")
        return path
    for path in (cwd / "fansi.toml", home / "fansi.toml"):
        if path.is_file():
            return path
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    # Accept both a flat file and one with a [fansi] table.
    table = data.get("fansi", data)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [fansi] must be a table")
    return table


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in FIELDS:
        raw = env.get(f"FANSI_{name.upper()}")
        if raw is not None and raw != "":
            values[name] = raw
    return values


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve settings from every source. Flags whose value is ``None`` are ignored."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    from_env = _from_env(env)
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    home = Path(given.get("home") or from_env.get("home") or default_home()).expanduser()
    path = _config_file(env, cwd, home)
    from_file = _read_toml(path) if path else {}
    merged = {"data_dir": default_data_dir(cwd), **from_file, **from_env, **given}
    try:
        return Settings(**merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        source = f" (from {path})" if path and where in from_file else ""
        raise ConfigError(f"invalid setting {where}{source}: {first['msg']}") from exc
