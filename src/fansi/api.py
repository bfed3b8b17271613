"""The Python API: solve and verify, async first, with thin sync wrappers.

    >>> import fansi
    >>> result = fansi.solve("Prove that the product of two odd integers is odd.")
    >>> result.verdict, result.confidence, result.best.solution

Every run is recorded in the SQLite store in FANSI_HOME, and every model call
goes through the call cache, so a run that was interrupted continues where it
stopped (``resume=RUN_ID``) without repeating a finished call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from fansi import __version__, prompts
from fansi.backends import Backend, TokenCallback, Wrapper, create_backend
from fansi.checks import CheckPool
from fansi.config import Settings, load_settings
from fansi.engine.budget import SearchConfig
from fansi.engine.events import EventHandler
from fansi.engine.search import Search, SearchResult
from fansi.errors import ConfigError, InputError
from fansi.inputs import problem_from_text
from fansi.models import parse_spec
from fansi.records import Budget, Candidate, Completion, GenerateParams, Message, Problem
from fansi.store import CachedBackend, Store


class _Streaming(Wrapper):
    """Passes an ``on_token`` callback to the writer's calls (free text, not
    verdicts), one call at a time, so a terminal can show a proof being written."""

    def __init__(self, inner: Backend, on_token: TokenCallback) -> None:
        super().__init__(inner)
        self.on_token = on_token
        self._busy = False

    async def generate(
        self, messages: Sequence[Message], params: GenerateParams,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        if on_token is not None or self._busy or params.json_schema is not None:
            return await self.inner.generate(messages, params, on_token)
        self._busy = True
        try:
            self.on_token("\n")
            return await self.inner.generate(messages, params, self.on_token)
        finally:
            self._busy = False


def search_config(settings: Settings) -> SearchConfig:
    """The search configuration that a set of resolved settings asks for."""
    return SearchConfig.from_effort(
        settings.effort,
        n=settings.n,
        k=settings.k,
        m=settings.m,
        rounds=settings.rounds,
        schedule=settings.schedule,
        max_tokens=settings.max_tokens,
        verify_tokens=settings.verify_tokens,
        meta_tokens=min(384, settings.verify_tokens),
        temperature=settings.temperature if settings.temperature is not None else 0.7,
        seed=settings.seed if settings.seed is not None else 0,
        budget=Budget(settings.budget_tokens, settings.budget_calls, settings.budget_seconds),
    )


def model_checksum(spec: str) -> str | None:
    """The sha256 of a packaged model; None for other files and for servers."""
    try:
        packaged = parse_spec(spec).packaged
    except ConfigError:
        return None
    return packaged.sha256 if packaged else None


def stable_run_id(problem: Problem, settings: Settings) -> str:
    """A run id that is the same for the same problem, search settings and
    prompts, so that re-running a batch finds the runs it started before, and a
    fansi whose prompts changed starts fresh runs instead of replaying old ones
    over records written with other prompts."""
    # Only what changes the answer: not where, how fast or how parallel.
    wanted = settings.model_dump(mode="json", exclude={
        "home", "api_key", "threads", "batch", "concurrency", "timeout_s", "retries"})
    text = json.dumps([problem.text, problem.id, wanted, prompts.digest()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def stored_settings(settings: Settings, **extra: str) -> dict[str, Any]:
    """What a run records of how it was made: its settings and the digest of the
    prompts it used (so that a resume with other prompts can be refused)."""
    return {**settings.model_dump(mode="json"), "prompts": prompts.digest(), **extra}


@contextmanager
def _store(settings: Settings) -> Iterator[Store]:
    store = Store.open(settings.store_path)
    try:
        yield store
    finally:
        store.close()


def _settings(settings: Settings | None, overrides: dict[str, Any]) -> Settings:
    if settings is None:
        return load_settings(overrides)
    given = {k: v for k, v in overrides.items() if v is not None}
    return settings.model_copy(update=given) if given else settings


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
    if isinstance(problem, str):
        problem = problem_from_text(problem, max_chars=settings.max_problem_chars)
    with _store(settings) as store:
        record = store.run(run_id) if run_id else None
        if record is None:
            run_id = store.create_run(
                problem,
                settings=stored_settings(settings),
                fansi_version=__version__,
                model=backend.name if backend else settings.model,
                model_checksum=model_checksum(backend.name if backend else settings.model),
                run_id=run_id,
            )
        assert run_id is not None
        return await _run(store, run_id, problem, settings, backend, on_event, on_token)


async def aresume(
    run_id: str, *, backend: Backend | None = None, on_event: EventHandler | None = None,
    on_token: TokenCallback | None = None, home: str | None = None,
) -> SearchResult:
    """Continue a stored run with the settings it was started with."""
    base = load_settings({"home": home})
    with _store(base) as store:
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
        problem = store.problem(record.problem_id)
        assert problem is not None
        stored = {k: v for k, v in record.settings.items() if k in Settings.model_fields}
        try:
            settings = Settings(**{**stored, "home": base.home, "api_key": base.api_key})
        except ValueError as exc:
            raise ConfigError(f"run {run_id} has settings this fansi cannot read: {exc}") from exc
        return await _run(store, run_id, problem, settings, backend, on_event, on_token)


async def _run(
    store: Store,
    run_id: str,
    problem: Problem,
    settings: Settings,
    backend: Backend | None,
    on_event: EventHandler | None,
    on_token: TokenCallback | None = None,
) -> SearchResult:
    own = backend is None
    inner = backend if backend is not None else create_backend(settings.model, settings)
    cached: Backend = CachedBackend(inner, store, run_id=run_id)
    if on_token is not None:
        cached = _Streaming(cached, on_token)
    try:
        async with CheckPool() as checks:
            result, _ = await search_stored(store, run_id, problem, settings, cached,
                                            on_event=on_event, checks=checks)
    finally:
        if own:
            await inner.aclose()
    result = calibrate(result, settings, "solve")
    store.set_run_status(run_id, "done", result=result_dict(result))
    return result


async def search_stored(
    store: Store,
    run_id: str,
    problem: Problem,
    settings: Settings,
    backend: Backend,
    *,
    given: str | None = None,
    on_event: EventHandler | None = None,
    checks: CheckPool | None = None,
) -> tuple[SearchResult, Search]:
    """Run the loop for a stored run, or with ``given`` grade that solution as
    ``fansi verify`` does (all k verifications: the fixed schedule).

    A failure marks the run failed (or interrupted) and is raised; marking it
    done is the caller's, who may still change the result (calibration).
    """
    from fansi.checks.answers import extract

    if given is not None:
        settings = settings.model_copy(update={"schedule": "fixed"})
    search = Search(problem, backend, search_config(settings), run_id=run_id, store=store,
                    on_event=on_event, checks=checks)
    try:
        if given is None:
            result = await search.run()
        else:
            checked = search.admit(Candidate(f"{run_id}-given", given, "", None, extract(given)))
            assert checked is not None
            await search.verify_candidate(checked)
            result = search.result("rounds")
    except BaseException as exc:
        interrupted = not isinstance(exc, Exception)  # Ctrl-C, cancellation
        store.set_run_status(run_id, "interrupted" if interrupted else "failed",
                             error=f"{type(exc).__name__}: {exc}")
        raise
    return result, search


def calibrate(result: SearchResult, settings: Settings, kind: Literal["solve", "verify"]
              ) -> SearchResult:
    """Replace the raw confidence by the model's fitted map, where `fansi eval` made one."""
    from fansi.evals.calibration import calibrated_confidence

    fitted = calibrated_confidence(settings.model, result.confidence, settings.home, kind)
    if fitted is None:
        return result
    return dataclasses.replace(result, confidence=fitted, calibrated=True,
                               raw_confidence=result.confidence)


async def averify(
    problem: str | Problem,
    solution: str,
    *,
    settings: Settings | None = None,
    backend: Backend | None = None,
    on_event: EventHandler | None = None,
    **overrides: Any,
) -> SearchResult:
    """Grade a given solution with k verifier samples and meta-checks.

    The solution is treated as one candidate; all k verifications are drawn
    (the fixed schedule), so the grade does not depend on the order of verdicts.
    """
    settings = _settings(settings, overrides)
    if isinstance(problem, str):
        problem = problem_from_text(problem, max_chars=settings.max_problem_chars)
    if not solution.strip():
        raise InputError("the solution is empty")
    with _store(settings) as store:
        run_id = store.create_run(
            problem, settings=stored_settings(settings, mode="verify"),
            fansi_version=__version__, model=backend.name if backend else settings.model,
            model_checksum=model_checksum(backend.name if backend else settings.model),
        )
        own = backend is None
        inner = backend if backend is not None else create_backend(settings.model, settings)
        try:
            result, _ = await search_stored(store, run_id, problem, settings,
                                            CachedBackend(inner, store, run_id=run_id),
                                            given=solution.strip(), on_event=on_event)
        finally:
            if own:
                await inner.aclose()
        result = calibrate(result, settings, "verify")
        store.set_run_status(run_id, "done", result=result_dict(result))
        return result


def solve(problem: str | Problem, **kwargs: Any) -> SearchResult:
    """Synchronous :func:`asolve`."""
    return asyncio.run(asolve(problem, **kwargs))


def verify(problem: str | Problem, solution: str, **kwargs: Any) -> SearchResult:
    """Synchronous :func:`averify`."""
    return asyncio.run(averify(problem, solution, **kwargs))


def result_dict(result: SearchResult) -> dict[str, Any]:
    """A JSON-ready dict of a result (what ``--json`` prints and the store keeps)."""
    from fansi.records import to_dict

    data: dict[str, Any] = to_dict(result)
    data["total_tokens"] = result.usage.total_tokens
    return data
