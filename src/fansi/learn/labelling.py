"""``fansi label``: scaled verification of stored candidates or given solutions.

Each candidate is graded as a stored verify run (``api.run_stored`` with
``mode="verify"``): n analyses on the fixed schedule, the engine's meta-check
of every failing analysis and its executed checks. ``m - 1`` further
meta-checks per failing analysis are drawn here and stored in the same run.
The evidence then goes through :func:`fansi.learn.labels.decide`.

A label run's id is ``label-`` plus the stable id of (problem, settings,
solution), so labelling again replays every finished call from the cache,
and the verification calls that the source run already made (same problem,
same solution text, same seed) are cache hits too.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from fansi import api
from fansi.backends import Backend, create_backend
from fansi.checks import CheckPool, equivalent
from fansi.config import Settings
from fansi.engine import steps
from fansi.engine.budget import derive_seed
from fansi.engine.checked import Checked
from fansi.errors import BackendError, InputError
from fansi.inputs import problem_from_text, read_text_file
from fansi.learn.labels import LABEL_RUN_PREFIX, Evidence, Label, LabelRule, decide, task_of
from fansi.records import Candidate, GenerateParams, MetaCheck, Problem
from fansi.store import Store


@dataclass(frozen=True)
class Target:
    """A candidate to label.

    Attributes:
        problem: Its problem, with the reference answer where one is known.
        candidate: The candidate (its ``answer`` is compared with the reference).
        run_id: The stored run it comes from; '' for a given solution, whose
            label then points at the label run's own candidate.
        model: The model that wrote it ('given' for a given solution).
    """

    problem: Problem
    candidate: Candidate
    run_id: str
    model: str


def stored_targets(store: Store, *, runs: Sequence[str] = (), tasks: Sequence[str] = (),
                   models: Sequence[str] = ()) -> list[Target]:
    """Every candidate of the stored runs that pass the filters (label runs excepted).

    Args:
        store: The open store.
        runs: Only these run ids (all when empty).
        tasks: Only runs whose problem belongs to one of these eval tasks.
        models: Only runs made with one of these model specs.
    """
    targets: list[Target] = []
    for summary in reversed(store.runs()):  # oldest first
        if summary.id.startswith(LABEL_RUN_PREFIX):
            continue
        if ((runs and summary.id not in runs)
                or (tasks and task_of(summary.problem_id) not in tasks)
                or (models and summary.model not in models)):
            continue
        problem = store.problem(summary.problem_id)
        assert problem is not None  # a run's problem row is kept by a foreign key
        targets.extend(Target(problem, candidate, summary.id, summary.model)
                       for candidate in store.candidates(summary.id))
    return targets


class SolutionRow(BaseModel):
    """One line of a solutions file: a problem, a solution to label, and
    optionally the reference answer and an id for the problem."""

    model_config = ConfigDict(extra="ignore")

    problem: str
    solution: str
    answer: str | None = None
    id: str = ""


def solution_targets(path: Path, *, max_chars: int) -> list[Target]:
    """The solutions of a JSONL file, or an InputError naming the first bad line."""
    from fansi.parse import final_answer

    targets: list[Target] = []
    for number, line in enumerate(read_text_file(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = SolutionRow.model_validate_json(line)
        except ValidationError as exc:
            raise InputError(f"{path}:{number}: {exc.errors()[0]['msg']} "
                             "(each line needs a problem and a solution)") from exc
        if not row.solution.strip():
            raise InputError(f"{path}:{number}: the solution is empty")
        text = problem_from_text(row.problem, max_chars=max_chars).text
        solution = row.solution.strip()
        candidate = Candidate("", solution, "", None, final_answer(solution))
        targets.append(Target(Problem(text, row.answer, row.id), candidate, "", "given"))
    if not targets:
        raise InputError(f"{path} holds no solutions")
    return targets


def verify_settings(settings: Settings, rule: LabelRule) -> Settings:
    """The settings of a label run: n analyses on the fixed schedule, meta-checks on."""
    return settings.model_copy(update={"k": rule.n, "schedule": "fixed"})


def label_run_id(problem: Problem, settings: Settings, solution: str) -> str:
    return LABEL_RUN_PREFIX + api.stable_run_id(problem, settings, solution)


@asynccontextmanager
async def _made(spec: str, settings: Settings, given: Backend | None
                ) -> AsyncIterator[Backend]:
    if given is not None:
        yield given
        return
    backend = create_backend(spec, settings)
    try:
        yield backend
    finally:
        await backend.aclose()


async def label_targets(
    targets: Sequence[Target],
    settings: Settings,
    rule: LabelRule,
    *,
    backend: Backend | None = None,
    verifier: Backend | None = None,
    store: Store | None = None,
    concurrency: int | None = None,
    on_label: Callable[[Label], None] | None = None,
) -> list[Label]:
    """Label each target by scaled verification, as stored verify runs.

    Args:
        targets: The candidates.
        settings: Resolved settings; ``model`` (or ``verifier_model``) verifies.
        rule: n, m, k and the thresholds.
        backend: A backend to use instead of one built from ``settings.model``.
        verifier: A verifying backend instead of ``settings.verifier_model``'s.
        store: An open store instead of ``settings.store_path``.
        concurrency: Candidates in flight; by default 1 for a backend that runs
            one call at a time, else ``settings.concurrency``.
        on_label: Called with each label as it is made.

    Returns:
        One label per target, in order.
    """
    wanted = verify_settings(settings, rule)
    judge_spec = settings.verifier_model or settings.model
    separate = verifier is not None or judge_spec != settings.model
    opened = store or Store.open(settings.store_path)
    try:
        async with _made(settings.model, settings, backend) as writer, \
                _made(judge_spec, settings, verifier if separate else writer) as judge:
            limit = concurrency or (settings.concurrency if writer.max_concurrency > 1 else 1)
            gate = asyncio.Semaphore(limit)
            with CheckPool() as pool:

                async def one(target: Target) -> Label:
                    async with gate:
                        label = await _label_one(target, wanted, rule, writer=writer,
                                                 judge=judge if separate else None,
                                                 store=opened, pool=pool)
                    if on_label is not None:
                        on_label(label)
                    return label

                return list(await asyncio.gather(*(one(t) for t in targets)))
    finally:
        if store is None:
            opened.close()


async def _label_one(target: Target, settings: Settings, rule: LabelRule, *, writer: Backend,
                     judge: Backend | None, store: Store, pool: CheckPool) -> Label:
    problem, candidate = target.problem, target.candidate
    run_id = label_run_id(problem, settings, candidate.solution)
    done = await api.run_stored(problem, settings, mode="verify", solution=candidate.solution,
                                run_id=run_id, backend=writer, store=store, checks=pool,
                                verifier=judge)
    graded = done.search.ranked()[0]
    extra = await _more_meta_checks(graded, problem, settings, rule.m,
                                    api.backend_stack(judge or writer, store, run_id))
    for check in extra:
        store.add_meta_check(run_id, check)
    match = await _reference_match(problem, candidate.answer, rule, pool)
    evidence = Evidence(graded.verifications, [*graded.meta_checks, *extra], graded.refuted(),
                        match, done.result.confidence)
    decision = decide(evidence, rule)
    record = store.run(run_id)
    assert record is not None
    return Label(
        run_id=target.run_id or run_id,
        candidate_id=candidate.id if target.run_id else graded.candidate.id,
        label_run_id=run_id,
        problem_id=record.problem_id,
        task=task_of(record.problem_id),
        model=target.model,
        verifier=settings.verifier_model or settings.model,
        label=decision.label,
        source=decision.source,
        score=decision.score,
        reason=decision.reason,
        passes=decision.passes,
        fails=decision.fails,
        unknown=decision.unknown,
        confirmed=decision.confirmed,
        dismissed=decision.dismissed,
        reference_match=match,
        confidence=done.result.confidence,
        calibrated=done.result.calibrated,
        rule=rule,
    )


async def _more_meta_checks(graded: Checked, problem: Problem, settings: Settings, m: int,
                            backend: Backend) -> list[MetaCheck]:
    """Meta-checks 2..m of each failing analysis that lists issues (the engine drew
    the first). A call that fails gives no votes, as in the engine."""
    if m <= 1:
        return []
    found: list[MetaCheck] = []
    for verification in graded.verifications:
        if verification.score is None or verification.score >= 1 or not verification.issues:
            continue
        text = hashlib.sha256(verification.raw.encode()).hexdigest()[:16]
        for draw in range(1, m):
            params = GenerateParams(max_tokens=settings.meta_tokens,
                                    temperature=settings.temperature,
                                    seed=derive_seed(settings.seed, "meta", text, draw))
            try:
                found += await steps.meta_check(backend, problem, graded.candidate, verification,
                                                params, id=f"{verification.id}-m{draw}")
            except BackendError:
                continue
    return found


async def _reference_match(problem: Problem, answer: str | None, rule: LabelRule,
                           pool: CheckPool) -> bool | None:
    """Whether the answer matches the reference: None without one (or when it
    cannot be judged); False when an answer problem's candidate states none."""
    if problem.answer is None:
        return None
    if answer is None:
        return None if rule.proof else False
    return await equivalent(problem.answer, answer, pool=pool)


def labels_path(settings: Settings) -> Path:
    """Where ``fansi label`` writes and ``fansi export`` reads by default."""
    return settings.home / "labels.jsonl"


__all__ = [
    "SolutionRow",
    "Target",
    "label_run_id",
    "label_targets",
    "labels_path",
    "solution_targets",
    "stored_targets",
    "verify_settings",
]
