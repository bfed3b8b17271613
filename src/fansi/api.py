"""The Python API: solve and verify, async first, with thin sync wrappers.

    >>> import fansi
    >>> result = fansi.solve("Prove that the product of two odd integers is odd.")
    >>> result.verdict, result.confidence, result.best.solution

Every run is recorded in the SQLite store in FANSI_HOME, and every model call
goes through the call cache, so a run that was interrupted continues where it
stopped (``resume=RUN_ID``) without repeating a finished call.

One function owns a stored run, :func:`run_stored`: it creates (or finds) the
run, builds the backend stack (:func:`backend_stack`), opens the check pool,
runs the engine, applies calibration and sets the final status. ``solve``,
``verify``, ``fansi run`` and ``fansi eval`` all go through it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from fansi import prompts
from fansi._version import __version__
from fansi.backends import Backend, TokenCallback, create_backend
from fansi.backends.wrappers import Streaming
from fansi.checks import CheckPool, equivalent
from fansi.config import RESULT_NEUTRAL, Settings, load_settings
from fansi.engine.budget import SearchConfig
from fansi.engine.calibration import calibrated_confidence
from fansi.engine.events import EventHandler
from fansi.engine.search import Search, SearchResult
from fansi.errors import ConfigError, InputError
from fansi.inputs import problem_from_text
from fansi.models import parse_spec
from fansi.records import Problem, to_dict
from fansi.store import CachedBackend, Store

Mode = Literal["solve", "verify"]
#: Wraps the cached backend of one run (the eval harness records costs with it).
Wrap = Callable[[Backend], Backend]


def model_checksum(spec: str) -> str | None:
    """The sha256 of a packaged model; None for other files and for servers."""
    try:
        packaged = parse_spec(spec).packaged
    except ConfigError:
        return None
    return packaged.sha256 if packaged else None


def stable_run_id(problem: Problem, settings: Settings, solution: str | None = None) -> str:
    """A run id that is the same for the same problem, search settings and
    prompts (and given solution, for a verify run), so that re-running a batch
    finds the runs it started before, and a fansi whose prompts changed starts
    fresh runs instead of replaying old ones over records written with other
    prompts."""
    wanted = settings.model_dump(mode="json", exclude=set(RESULT_NEUTRAL))
    text = json.dumps([problem.text, problem.id, wanted, prompts.digest()], sort_keys=True)
    base = hashlib.sha256(text.encode()).hexdigest()[:12]
    if solution is None:
        return base
    return hashlib.sha256(f"verify|{base}|{solution}".encode()).hexdigest()[:12]


def stored_settings(settings: Settings, mode: Mode) -> dict[str, Any]:
    """What a run records of how it was made: its settings, its mode and the
    digest of the prompts it used (so that a resume with other prompts can be
    refused)."""
    extra = {"mode": "verify"} if mode == "verify" else {}
    return {**settings.model_dump(mode="json"), "prompts": prompts.digest(), **extra}


def backend_stack(
    inner: Backend, store: Store, run_id: str, *,
    on_token: TokenCallback | None = None, wrap: Wrap | None = None,
) -> Backend:
    """The backend a stored run calls: the call cache (calls recorded under
    ``run_id``), then an optional ``wrap`` (e.g. a cost recorder, which must sit
    outside the cache to see cached calls), then terminal streaming. The meter
    that enforces budgets is the search's own, outside all of these."""
    stack: Backend = CachedBackend(inner, store, run_id=run_id)
    if wrap is not None:
        stack = wrap(stack)
    if on_token is not None:
        stack = Streaming(stack, on_token)
    return stack


@dataclass(frozen=True)
class Stored:
    """A finished stored run: its result and the search with its evidence."""

    result: SearchResult
    search: Search


@asynccontextmanager
async def _opened(settings: Settings, store: Store | None) -> AsyncIterator[Store]:
    if store is not None:
        yield store
        return
    opened = Store.open(settings.store_path)
    try:
        yield opened
    finally:
        opened.close()


@asynccontextmanager
async def opened_backend(settings: Settings, given: Backend | None) -> AsyncIterator[Backend]:
    """``given``, or the backend of ``settings.model``, closed on exit."""
    if given is not None:
        yield given
        return
    made = create_backend(settings.model, settings)
    try:
        yield made
    finally:
        await made.aclose()


@asynccontextmanager
async def _verifier(settings: Settings, given: Backend | None
                    ) -> AsyncIterator[Backend | None]:
    """The verifying model when it is not the writer; None when the writer verifies."""
    if given is not None or settings.verifier_model in (None, settings.model):
        yield given
        return
    assert settings.verifier_model is not None
    made = create_backend(settings.verifier_model, settings)
    try:
        yield made
    finally:
        await made.aclose()


@asynccontextmanager
async def _pool(given: CheckPool | None) -> AsyncIterator[CheckPool]:
    if given is not None:
        yield given
        return
    async with CheckPool() as made:
        yield made


async def run_stored(
    problem: Problem,
    settings: Settings,
    *,
    mode: Mode = "solve",
    solution: str | None = None,
    run_id: str | None = None,
    backend: Backend | None = None,
    store: Store | None = None,
    checks: CheckPool | None = None,
    on_event: EventHandler | None = None,
    on_token: TokenCallback | None = None,
    wrap: Wrap | None = None,
    calibrate: bool = True,
    verifier: Backend | None = None,
) -> Stored:
    """Run the engine on one problem as a stored run: the one path every caller takes.

    Args:
        problem: The problem.
        settings: Resolved settings.
        mode: ``solve`` runs the loop; ``verify`` grades ``solution`` with all
            k verifications (the fixed schedule), as ``fansi verify`` does.
        solution: The solution to grade (verify mode only).
        run_id: The run's id; an existing run with this id is continued (a
            finished one is replayed from the call cache and keeps its result).
        backend: A backend to use instead of one built from ``settings.model``
            (not closed here); its ``name`` then stands for the model.
        store: An open store to use instead of opening ``settings.store_path``.
        checks: A check pool to share instead of opening one.
        on_event: Called with each engine event.
        on_token: Streams the writer's text, one call at a time.
        wrap: Wraps the cached backend (see :func:`backend_stack`).
        calibrate: Replace the raw confidence by the model's fitted map.
        verifier: A backend that verifies, instead of one built from
            ``settings.verifier_model`` (not closed here); by default the
            writer verifies too.

    Returns:
        The result (stored with the run) and the search with its evidence.

    Raises:
        FansiError: The run failed; it is marked failed (or interrupted on
            Ctrl-C or cancellation) and can be resumed.
    """
    if (mode == "verify") != (solution is not None):
        raise ValueError("a verify run needs a solution, and only a verify run takes one")
    if mode == "verify":
        settings = settings.model_copy(update={"schedule": "fixed"})
    model = backend.name if backend is not None else settings.model
    async with _opened(settings, store) as db:
        record = db.run(run_id) if run_id else None
        if record is None:
            run_id = db.create_run(problem, settings=stored_settings(settings, mode),
                                   fansi_version=__version__, model=model,
                                   model_checksum=model_checksum(model), run_id=run_id)
        assert run_id is not None
        async with opened_backend(settings, backend) as inner, _pool(checks) as pool, \
                _verifier(settings, verifier) as judge:
            stack = backend_stack(inner, db, run_id, on_token=on_token, wrap=wrap)
            checking = None if judge is None else backend_stack(judge, db, run_id, wrap=wrap)
            search = Search(problem, stack, SearchConfig.from_settings(settings),
                            run_id=run_id, sink=db, on_event=on_event, checks=pool,
                            verifier=checking)
            try:
                result = await (search.run() if solution is None else search.grade(solution))
            except BaseException as exc:
                interrupted = not isinstance(exc, Exception)  # Ctrl-C, cancellation
                db.set_run_status(run_id, "interrupted" if interrupted else "failed",
                                  error=f"{type(exc).__name__}: {exc}")
                raise
        if calibrate:
            result = _calibrated(result, model, settings, mode)
        # A replayed run keeps the result (and the seconds) of the run that did the work.
        if record is None or record.status != "done":
            db.set_run_status(run_id, "done", result=result_dict(result))
        return Stored(result, search)


def _calibrated(result: SearchResult, model: str, settings: Settings, kind: Mode
                ) -> SearchResult:
    """The result with the model's fitted map applied, where `fansi eval` made one."""
    fitted = calibrated_confidence(model, result.confidence, settings.home, kind)
    if fitted is None:
        return result
    return dataclasses.replace(result, confidence=fitted, calibrated=True,
                               raw_confidence=result.confidence)


def _settings(settings: Settings | None, overrides: dict[str, Any]) -> Settings:
    if settings is None:
        return load_settings(overrides)
    given = {k: v for k, v in overrides.items() if v is not None}
    return settings.model_copy(update=given) if given else settings


def _problem(problem: str | Problem, settings: Settings) -> Problem:
    if isinstance(problem, Problem):
        return problem
    return problem_from_text(problem, max_chars=settings.max_problem_chars)


async def asolve(
    problem: str | Problem,
    *,
    settings: Settings | None = None,
    backend: Backend | None = None,
    on_event: EventHandler | None = None,
    on_token: TokenCallback | None = None,
    run_id: str | None = None,
    **overrides: Any,
) -> SearchResult:
    """Solve a problem with the full loop and return the best candidate and its verdict.

    Args:
        problem: The problem text (or a Problem).
        settings: Resolved settings; by default they are loaded from
            fansi.toml and the environment, with ``overrides`` on top.
        backend: A backend to use instead of building one from ``settings.model``
            (it is not closed here).
        on_event: Called with each engine Event, e.g. to show progress.
        on_token: Called with the text of the writer's calls as it is generated
            (one call at a time; verdicts are not streamed).
        run_id: Give an id to make the run findable (``fansi run`` does);
            an existing unfinished run with this id is continued.
        **overrides: Any Settings field, e.g. ``model="tiny"``, ``effort="medium"``.

    Returns:
        The SearchResult; it is also stored under ``result.run_id``.
    """
    settings = _settings(settings, overrides)
    stored = await run_stored(_problem(problem, settings), settings, run_id=run_id,
                              backend=backend, on_event=on_event, on_token=on_token)
    return stored.result


async def averify(
    problem: str | Problem,
    solution: str,
    *,
    settings: Settings | None = None,
    backend: Backend | None = None,
    on_event: EventHandler | None = None,
    **overrides: Any,
) -> SearchResult:
    """Grade a given solution with k verifier samples, meta-checks and the checkers.

    The solution is treated as one candidate; all k verifications are drawn
    (the fixed schedule), so the grade does not depend on the order of verdicts.
    """
    settings = _settings(settings, overrides)
    if not solution.strip():
        raise InputError("the solution is empty")
    stored = await run_stored(_problem(problem, settings), settings, mode="verify",
                              solution=solution.strip(), backend=backend, on_event=on_event)
    return stored.result


async def aresume(
    run_id: str, *, backend: Backend | None = None, on_event: EventHandler | None = None,
    on_token: TokenCallback | None = None, home: str | None = None,
) -> SearchResult:
    """Continue a stored run with the settings it was started with."""
    base = load_settings({"home": home})
    with Store.open(base.store_path) as store:
        record = store.run(run_id)
        if record is None:
            raise InputError(f"no run {run_id!r} in {base.store_path}",
                             hint="List the runs with `fansi runs`.")
        made_with = record.settings.get("prompts")
        if made_with is not None and made_with != prompts.digest():
            raise ConfigError(
                f"run {run_id} was made with other prompts (fansi {record.fansi_version}); "
                "continuing it would mix records written with two prompt sets",
                hint="Start the problem again as a new run.")
        if record.settings.get("mode") == "verify":
            raise InputError(f"run {run_id} graded a given solution; verify it again instead",
                             hint="Run `fansi verify` with the same problem and solution.")
        if record.settings.get("mode") == "prove":
            raise InputError(f"run {run_id} is a formal proof search",
                             hint="Run `fansi prove FILE.v` again; it continues its runs.")
        problem = store.problem(record.problem_id)
        assert problem is not None
        # What the run decided by comes from the run; where and how fast, from here.
        made = {k: v for k, v in record.settings.items()
                if k in Settings.model_fields and k not in RESULT_NEUTRAL}
        here = {k: getattr(base, k) for k in RESULT_NEUTRAL}
        try:
            settings = Settings(**{**made, **here})
        except ValueError as exc:
            raise ConfigError(f"run {run_id} has settings this fansi cannot read: {exc}") from exc
        done = await run_stored(problem, settings, run_id=run_id, backend=backend,
                                store=store, on_event=on_event, on_token=on_token)
        return done.result


async def asolve_many(
    problems: Sequence[Problem],
    settings: Settings,
    *,
    concurrency: int | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Solve many problems with one shared backend and check pool, resumably.

    Each problem is a stored run under a stable id: a problem whose run is done
    is skipped (its stored result is reported), an unfinished one continues.
    A problem with a reference answer is marked correct or wrong by symbolic
    equivalence with the selected answer.

    Args:
        problems: The problems, each with an id and optionally ``answer``.
        settings: Resolved settings.
        concurrency: Problems in flight at once; by default 1 for a backend
            that runs one call at a time, else ``settings.concurrency``.
        on_result: Called with one summary dict per problem as it finishes.

    Returns:
        Totals: problems, pass / fail / unknown, correct of those with a
        reference, tokens and seconds.
    """
    totals = new_totals()
    started = time.monotonic()
    async with opened_backend(settings, None) as backend:
        limit = concurrency or (settings.concurrency if backend.max_concurrency > 1 else 1)
        gate = asyncio.Semaphore(limit)
        with Store.open(settings.store_path) as store:
            async with CheckPool() as checks:

                async def one(index: int, problem: Problem) -> None:
                    run_id = stable_run_id(problem, settings)
                    record = store.run(run_id)
                    async with gate:
                        if record is not None and record.status == "done" and record.result:
                            line = summary(index, problem, record.result, skipped=True)
                        else:
                            done = await run_stored(problem, settings, run_id=run_id,
                                                    backend=backend, store=store, checks=checks)
                            line = summary(index, problem, result_dict(done.result),
                                           skipped=False)
                    await tally(totals, problem, line, checks)
                    if on_result is not None:
                        on_result(line)

                await asyncio.gather(*(one(i, p) for i, p in enumerate(problems)))
    totals["seconds"] = time.monotonic() - started
    return totals


def new_totals() -> dict[str, Any]:
    """The totals of a batch before its first problem."""
    return {"problems": 0, "pass": 0, "fail": 0, "unknown": 0, "correct": 0,
            "with_reference": 0, "tokens": 0, "seconds": 0.0}


async def tally(totals: dict[str, Any], problem: Problem, line: dict[str, Any],
                checks: CheckPool) -> None:
    """Count one problem's summary line into a batch's totals; a reference answer
    marks the line correct or wrong by symbolic equivalence."""
    if problem.answer is not None:
        line["correct"] = (await equivalent(problem.answer, line["answer"], pool=checks)
                           if line["answer"] else False)
        totals["with_reference"] += 1
        totals["correct"] += line["correct"] is True
    totals["problems"] += 1
    totals[line["verdict"]] += 1
    totals["tokens"] += line["tokens"]


def summary(index: int, problem: Problem, result: Mapping[str, Any], *, skipped: bool
            ) -> dict[str, Any]:
    """One problem's line in a batch: verdict, answer, cost, and its run."""
    best = result.get("best") or {}
    return {
        "index": index,
        "id": problem.id,
        "run_id": result["run_id"],
        "verdict": result["verdict"],
        "score": result["score"],
        "confidence": result["confidence"],
        "answer": best.get("answer"),
        "reference": problem.answer,
        "correct": None,
        "tokens": result["total_tokens"],
        "calls": result["calls"],
        "cached_calls": result["cached_calls"],
        "seconds": result["seconds"],
        "skipped": skipped,
    }


def solve(problem: str | Problem, **kwargs: Any) -> SearchResult:
    """Synchronous :func:`asolve`."""
    return asyncio.run(asolve(problem, **kwargs))


def verify(problem: str | Problem, solution: str, **kwargs: Any) -> SearchResult:
    """Synchronous :func:`averify`."""
    return asyncio.run(averify(problem, solution, **kwargs))


def result_dict(result: SearchResult) -> dict[str, Any]:
    """A JSON-ready dict of a result (what ``--json`` prints and the store keeps)."""
    data: dict[str, Any] = to_dict(result)
    data["total_tokens"] = result.usage.total_tokens
    return data
