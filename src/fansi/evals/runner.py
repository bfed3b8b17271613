"""How the harness runs fansi: recorded calls, stored runs, and resumable results.

Runs go through :func:`fansi.api.run_stored`, the one stored-run path, which
also hands back the search with its evidence (every candidate with its
verifications). The harness needs what each call cost even when the call
cache answered it, so a :class:`Recorder` sits *outside* the call cache: a
cached completion carries the tokens and latency of the call that first made
it, so a method's cost is the same whether its samples were drawn now or
reused.

Runs are stored under stable ids (like ``fansi run``), so an interrupted
eval continues its unfinished runs without repeating a finished call, and a
finished item's row in ``results.jsonl`` is not computed again.
"""

from __future__ import annotations

import hashlib
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fansi.backends import Backend, TokenCallback, Wrapper
from fansi.checks import CheckPool
from fansi.config import Schedule, Settings
from fansi.engine.search import Search, SearchResult
from fansi.errors import InputError
from fansi.records import Completion, GenerateParams, Message, Problem
from fansi.store import Store, cache_key


@dataclass(frozen=True)
class EvalOptions:
    """What an eval measures, besides the search settings.

    Attributes:
        task: The task's name, e.g. ``gsm8k``.
        out: The output folder (report, rows, plots).
        data: The data file; None: the task's file under ``shared/data``.
        limit: A seeded, stratified subset of this many items; None: all.
        concurrency: Items in flight at once; None: 1 for local models,
            ``settings.concurrency`` for servers.
        vote_n: Samples for majority voting; None: the search's n.
        schedules: Schedules to run for the scaling curves; empty: the settings' one.
        scale_n: Values of n to run for the scaling curves; empty: the search's n.
        subset: ProofBench only: ``basic``, ``advanced`` or ``all`` problems.
        human_grades: ProofBench only: a CSV or JSONL file of id, grade.
        save_calibration: Store the fitted calibration map in FANSI_HOME.
        report_only: Make no model call: report on the items already done in
            ``out`` (a partial report when some are missing).
    """

    task: str
    out: Path
    data: Path | None = None
    limit: int | None = None
    concurrency: int | None = None
    vote_n: int | None = None
    schedules: tuple[Schedule, ...] = ()
    scale_n: tuple[int, ...] = ()
    subset: Literal["all", "basic", "advanced"] = "all"
    human_grades: Path | None = None
    save_calibration: bool = True
    report_only: bool = False


@dataclass(frozen=True)
class CallCost:
    """One call as a method asked it: what it cost, and whether the cache answered it."""

    key: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cached: bool


@dataclass(frozen=True)
class Cost:
    """What a method spent: tokens, calls, and the model's seconds (sum of call latencies)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    model_s: float = 0.0
    #: Calls the cache answered (already made by another method or run).
    reused_calls: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def of(cls, calls: Iterable[CallCost]) -> Cost:
        """The cost of these calls, each counted once (by cache key)."""
        distinct: dict[str, CallCost] = {}
        fresh: set[str] = set()
        for call in calls:
            distinct.setdefault(call.key, call)
            if not call.cached:
                fresh.add(call.key)
        return cls(
            prompt_tokens=sum(c.prompt_tokens for c in distinct.values()),
            completion_tokens=sum(c.completion_tokens for c in distinct.values()),
            calls=len(distinct),
            model_s=round(sum(c.latency_s for c in distinct.values()), 3),
            reused_calls=len(distinct) - len(fresh),
        )

    def __add__(self, other: Cost) -> Cost:
        """The cost of two methods' calls when no call is shared between them."""
        return Cost(self.prompt_tokens + other.prompt_tokens,
                    self.completion_tokens + other.completion_tokens,
                    self.calls + other.calls, round(self.model_s + other.model_s, 3),
                    self.reused_calls + other.reused_calls)

    def fields(self, prefix: str) -> dict[str, Any]:
        return {
            f"{prefix}prompt_tokens": self.prompt_tokens,
            f"{prefix}completion_tokens": self.completion_tokens,
            f"{prefix}tokens": self.tokens,
            f"{prefix}calls": self.calls,
            f"{prefix}reused_calls": self.reused_calls,
            f"{prefix}model_s": self.model_s,
        }


class Recorder(Wrapper):
    """A backend wrapper that appends the cost of every call to ``log``."""

    def __init__(self, inner: Backend, log: list[CallCost]) -> None:
        super().__init__(inner)
        self.log = log

    async def generate(
        self,
        messages: Sequence[Message],
        params: GenerateParams,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        completion = await self.inner.generate(messages, params, on_token)
        self.log.append(CallCost(
            cache_key(self.identity, messages, params), completion.usage.prompt_tokens,
            completion.usage.completion_tokens, completion.latency_s, completion.cached,
        ))
        return completion


@dataclass
class Env:
    """What every item of an eval shares: settings, the model, the store and the checkers."""

    settings: Settings
    backend: Backend
    model: str
    checksum: str | None
    store: Store
    checks: CheckPool
    options: EvalOptions

    def backend_for(self, run_id: str, log: list[CallCost]) -> Backend:
        """The model behind the call cache (calls recorded under ``run_id``) and a
        recorder, as a stored run has it, for calls made outside a stored run."""
        from fansi.api import backend_stack

        return backend_stack(self.backend, self.store, run_id,
                             wrap=lambda cached: Recorder(cached, log))


@dataclass
class SearchRun:
    result: SearchResult
    search: Search
    calls: list[CallCost]

    @property
    def cost(self) -> Cost:
        return Cost.of(self.calls)


def problem_id(task: str, item_id: str, text: str, answer: str | None = None) -> str:
    """The stored problem's id: the task and item, plus a digest so that two files
    with the same item ids but other texts (or answers) never collide in one store."""
    content = f"{text}\x00{answer or ''}"
    return f"{task}:{item_id}:{hashlib.sha256(content.encode()).hexdigest()[:8]}"


async def run_search(
    env: Env, problem: Problem, settings: Settings, *, given: str | None = None
) -> SearchRun:
    """Run fansi on a problem as a stored run (continued if unfinished, replayed if
    done), through the API's one stored-run path, with the raw confidence kept
    (the harness fits calibration on it).

    Args:
        env: The eval's shared state.
        problem: The problem.
        settings: The settings of this run (an eval may vary n and the schedule).
        given: A solution to grade instead of writing candidates: all k
            verifications are drawn (the fixed schedule), as ``fansi verify`` does.
    """
    from fansi import api

    settings = settings.model_copy(update={"model": env.model})
    run_id = api.stable_run_id(problem, settings, given)
    calls: list[CallCost] = []
    done = await api.run_stored(
        problem, settings, mode="solve" if given is None else "verify", solution=given,
        run_id=run_id, backend=env.backend, store=env.store, checks=env.checks,
        wrap=lambda cached: Recorder(cached, calls), calibrate=False)
    return SearchRun(done.result, done.search, calls)


# --------------------------------------------------------------------------- results


class ResultsFile:
    """``results.jsonl`` in the output folder, one row per finished item, with
    ``eval.json`` beside it naming the settings the rows were made with."""

    def __init__(self, out: Path, manifest: Mapping[str, Any]) -> None:
        self.path = out / "results.jsonl"
        self.manifest_path = out / "eval.json"
        out.mkdir(parents=True, exist_ok=True)
        wanted = json.loads(json.dumps(manifest, sort_keys=True))
        if self.manifest_path.is_file():
            stored = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            if stored != wanted:
                changed = sorted(k for k in wanted.keys() | stored.keys()
                                 if wanted.get(k) != stored.get(k))
                raise InputError(
                    f"{out} holds an eval made with other settings ({', '.join(changed)})",
                    hint="Give another --out, or delete that folder to start over.")
        else:
            self.manifest_path.write_text(json.dumps(wanted, indent=1, sort_keys=True) + "\n",
                                          encoding="utf-8")

    def rows(self) -> dict[str, dict[str, Any]]:
        """The finished rows by item id; a line cut short by a kill is skipped."""
        found: dict[str, dict[str, Any]] = {}
        if not self.path.is_file():
            return found
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("id"), str):
                found[row["id"]] = row
        return found

    def append(self, row: Mapping[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


@dataclass(frozen=True)
class ItemReport:
    """Progress after one item: ``line`` is the task's one-line summary of the row."""

    index: int
    total: int
    id: str
    line: str
    tokens: int
    wall_s: float
    eta_s: float | None


@dataclass
class Eta:
    """Estimates the time left from the items computed so far: rows reused from
    ``results.jsonl`` and items whose every call the cache answered take no time
    and would make the estimate far too short, so they are not counted.

    With ``width`` items run at once, an item's own wall time divided by the
    width is the time each one adds; elapsed time over items computed would
    read ``width`` times too long while the first items are still running.
    """

    total: int
    done: int
    started: float = field(default_factory=time.monotonic)
    computed: int = 0
    width: int = 1
    #: Wall seconds of the computed items that reported theirs.
    item_seconds: float = 0.0
    timed: int = 0

    def step(self, fresh: bool = True, seconds: float | None = None) -> float | None:
        """One more item finished; ``fresh`` when it made at least one model call,
        ``seconds`` its own wall time. None while no item has been computed yet
        (nothing to estimate from)."""
        self.done += 1
        self.computed += fresh
        if fresh and seconds is not None:
            self.item_seconds += seconds
            self.timed += 1
        if not self.computed:
            return None
        left = self.total - self.done
        each = (time.monotonic() - self.started) / self.computed
        if self.timed:
            each = min(each, self.item_seconds / self.timed / max(1, self.width))
        return each * left


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def git_commit() -> str | None:
    """The commit of the source checkout fansi runs from (``+dirty`` if changed), if any."""
    checkout = Path(__file__).resolve().parents[3]
    try:
        head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=True)
        status = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain",
                                 "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


__all__ = [
    "CallCost",
    "Cost",
    "Env",
    "Eta",
    "EvalOptions",
    "ItemReport",
    "Recorder",
    "ResultsFile",
    "SearchRun",
    "file_digest",
    "git_commit",
    "peak_rss_mb",
    "problem_id",
    "run_search",
]
