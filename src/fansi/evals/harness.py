"""The eval loop: select items, run each once (resumably), then report, plot, calibrate.

    items = stratified_subset(load(data), limit, seed)
    for each item not yet in results.jsonl:  row = task.run_item(...); append row
    summary = task.summarize(rows) + calibration; write report.md, summary.json, PNGs

An eval killed at any point is continued by running the same command again:
finished items are read back from ``results.jsonl``, and an item that was cut
short continues its stored runs, so no finished model call is made twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fansi._version import __version__
from fansi.backends import Backend
from fansi.config import RESULT_NEUTRAL, Settings
from fansi.engine.budget import SearchConfig
from fansi.engine.calibration import Kind as ConfidenceKind
from fansi.engine.calibration import calibration_path
from fansi.errors import InputError
from fansi.evals import TASKS, Kind, Task, calibration, data, plots
from fansi.evals.metrics import auroc, ece, reliability
from fansi.evals.report import Summary, Table, num, pct
from fansi.evals.runner import (
    CallCost,
    Cost,
    Env,
    Eta,
    EvalOptions,
    ItemReport,
    ResultsFile,
    git_commit,
    peak_rss_mb,
)

#: Confidence at or above which a result counts as "confident" in reports.
CONFIDENT = 0.9


def false_pass_at(confidence: Sequence[float], correct: Sequence[bool],
                  threshold: float = CONFIDENT) -> float | None:
    """The share of wrong results among those at or above ``threshold``."""
    chosen = [ok for c, ok in zip(confidence, correct, strict=True) if c >= threshold]
    return None if not chosen else sum(not ok for ok in chosen) / len(chosen)


Row = dict[str, Any]
ItemRunner = Callable[[Env, data.Item], Awaitable[tuple[Row, list[CallCost]]]]



def _runner(kind: Kind) -> Callable[[Env, data.Item], Awaitable[tuple[Row, list[CallCost]]]]:
    from fansi.evals import tasks_answers, tasks_formal, tasks_proofs, tasks_verifier

    return {"answers": tasks_answers.run_item, "verifier": tasks_verifier.run_item,
            "proofs": tasks_proofs.run_item, "formal": tasks_formal.run_item}[kind]


def _describe(kind: Kind, row: Mapping[str, Any]) -> str:
    from fansi.evals import tasks_answers, tasks_formal, tasks_proofs, tasks_verifier

    if kind == "answers":
        return tasks_answers.describe(row)
    if kind == "verifier":
        return tasks_verifier.describe(row)
    if kind == "formal":
        return tasks_formal.describe(row)
    return tasks_proofs.describe(row)


def select(task: Task, path: Path, options: EvalOptions, seed: int
           ) -> tuple[list[data.Item], int]:
    """The items an eval runs (and how many the file holds for it)."""
    items = list(data.LOADERS[task.name](path))
    if task.name == "imo-proofbench" and options.subset != "all":
        prefix = {"basic": "PB-Basic", "advanced": "PB-Advanced"}[options.subset]
        items = [i for i in items if i.id.startswith(prefix)]
    if not items:
        raise InputError(f"{path} holds no {options.subset} items for {task.name}")
    return data.stratified_subset(items, options.limit, seed), len(items)


async def run_eval(
    options: EvalOptions,
    settings: Settings,
    *,
    backend: Backend | None = None,
    on_item: Callable[[ItemReport], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    item_runner: Callable[[ItemRunner], ItemRunner] | None = None,
) -> Summary:
    """Run an eval into ``options.out`` and return its summary.

    Args:
        options: The task and what to measure.
        settings: Resolved settings: the model and the search.
        backend: A backend to use instead of building one from ``settings.model``
            (it is not closed here); its ``name`` then stands for the model.
        on_item: Called after each item that was computed (not those reused).
        on_note: Called with a line about the plan (items, already done).
        item_runner: Wraps how one item runs (``fansi eval --ray`` sends each
            item to a worker).
    """
    from fansi import api
    from fansi.checks import CheckPool
    from fansi.store import Store

    task = TASKS[options.task]
    path = options.data or data.default_path(task.name, root=settings.data_dir)
    config = SearchConfig.from_settings(settings)
    items, available = select(task, path, options, config.seed)
    own = backend is None
    model = settings.model if backend is None else backend.name
    checksum = api.model_checksum(model)
    wanted = {k: v for k, v in settings.model_dump(mode="json").items() if k not in RESULT_NEUTRAL}
    manifest = {"task": task.name, "model": model, "data_digest": data.path_digest(path),
                "settings": wanted, "vote_n": options.vote_n,
                "schedules": list(options.schedules), "scale_n": list(options.scale_n)}
    if options.report_only and not (options.out / "eval.json").is_file():
        raise InputError(f"{options.out} holds no eval to report on",
                         hint="Give the --out of a run (started without --report-only).")
    results = ResultsFile(options.out, manifest)
    rows = results.rows()
    todo = [item for item in items if item.id not in rows]
    if on_note is not None:
        on_note(f"{task.name}: {len(items)} item(s) of {available}, "
                f"{len(items) - len(todo)} already done in {results.path}"
                + ("; reporting on those only" if options.report_only else ""))
    if options.report_only:
        if len(todo) == len(items):
            raise InputError(f"no item of this eval is done in {results.path}: nothing to "
                             "report (run it without --report-only first)")
        # A partial report covers the items done; the header says how many were planned.
        items = [item for item in items if item.id in rows]
    elif todo:
        inner = backend if backend is not None else _create(settings)
        try:
            with Store.open(settings.store_path) as store:
                async with CheckPool() as checks:
                    env = Env(settings, inner, model, checksum, store, checks, options)
                    run_item = _runner(task.kind)
                    if item_runner is not None:
                        run_item = item_runner(run_item)
                    await _run_items(env, task, run_item, todo, len(items), results, rows,
                                     on_item)
        finally:
            if own:
                await inner.aclose()
    chosen = [rows[item.id] for item in items]
    summary = summarize(task, chosen, options, settings, model, checksum, config.seed)
    header = {
        "task": task.name, "title": task.title, "model": model, "checksum": checksum,
        "fansi_version": __version__, "git_commit": git_commit(), "data": str(path),
        "data_digest": manifest["data_digest"], "items": len(items), "available": available,
        "planned": len(items) + len(todo) if options.report_only else len(items),
        "seed": config.seed, "strata": task.strata,
        "settings": {**wanted, "n": config.n, "k": config.k, "m": config.m,
                     "rounds": config.rounds, "temperature": config.temperature,
                     "seed": config.seed},
        "options": _shown_options(task, options, config.n),
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    from fansi.evals import report

    report.write(options.out, header, summary, chosen, data.ATTRIBUTION[task.name])
    return summary


def _create(settings: Settings) -> Backend:
    from fansi.backends import create_backend

    return create_backend(settings.model, settings)


async def _run_items(env: Env, task: Task, run_item: ItemRunner, todo: Sequence[data.Item],
                     total: int, results: ResultsFile, rows: dict[str, Row],
                     on_item: Callable[[ItemReport], None] | None) -> None:
    limit = env.options.concurrency or (
        env.settings.concurrency if env.backend.max_concurrency > 1 else 1)
    gate = asyncio.Semaphore(limit)
    eta = Eta(total=total, done=total - len(todo), width=limit)

    async def one(item: data.Item) -> None:
        async with gate:
            started = time.monotonic()
            row, calls = await run_item(env, item)
            fresh = {c.key for c in calls if not c.cached}
            row.update({**Cost.of(calls).fields(""), "fresh_calls": len(fresh),
                        "wall_s": round(time.monotonic() - started, 3),
                        "peak_rss_mb": peak_rss_mb()})
            results.append(row)
            rows[item.id] = row
            left = eta.step(fresh=bool(fresh), seconds=row["wall_s"])
            if on_item is not None:
                on_item(ItemReport(eta.done, total, item.id, _describe(task.kind, row),
                                   row["tokens"], row["wall_s"], left))

    tasks = [asyncio.ensure_future(one(item)) for item in todo]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        # Stop the other items before the store and the checkers close under them.
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _shown_options(task: Task, options: EvalOptions, n: int) -> dict[str, str]:
    shown = {"limit": str(options.limit) if options.limit is not None else "all"}
    if task.kind == "answers":
        shown["majority vote samples"] = str(options.vote_n or n)
        shown["scaling grid"] = (f"schedules {', '.join(options.schedules) or 'as set'}; "
                                 f"n {', '.join(map(str, options.scale_n)) or n}")
    if task.kind == "proofs":
        shown["subset"] = options.subset
    if task.kind == "formal":
        from fansi.evals.tasks_formal import attempt_grid

        shown["attempt budgets"] = ", ".join(map(str, attempt_grid(n)))
    return shown


def summarize(task: Task, rows: Sequence[Row], options: EvalOptions, settings: Settings,
              model: str, checksum: str | None, seed: int) -> Summary:
    """The task's summary of ``rows``, with calibration for answers and verifiers."""
    from fansi.evals import tasks_answers, tasks_formal, tasks_proofs, tasks_verifier

    if task.kind == "answers":
        summary = tasks_answers.summarize(rows, options.out, task.title)
        outcomes = [(r["id"], r["fansi_confidence"], bool(r["fansi_correct"])) for r in rows]
        _calibrate(summary, task, "solve", outcomes, options, settings, model, checksum, seed)
    elif task.kind == "verifier":
        summary = tasks_verifier.summarize(rows, options.out, task.title)
        outcomes = [(r["id"], r["fansi_confidence"], not r["wrong"]) for r in rows]
        _calibrate(summary, task, "verify", outcomes, options, settings, model, checksum, seed)
    elif task.kind == "formal":
        summary = tasks_formal.summarize(rows, options.out, task.title)
    else:
        summary = tasks_proofs.summarize(rows, options.out, task.title, options.human_grades)
    return summary


def _calibrate(summary: Summary, task: Task, kind: ConfidenceKind,
               outcomes: Sequence[tuple[str, float, bool]], options: EvalOptions,
               settings: Settings, model: str, checksum: str | None, seed: int) -> None:
    """Fit the confidence map on the dev half, judge it on the held half, store it."""
    dev = [(c, ok) for i, c, ok in outcomes if calibration.is_dev(i, seed)]
    held = [(c, ok) for i, c, ok in outcomes if not calibration.is_dev(i, seed)]
    if not dev or not held:
        summary.notes.append(f"Calibration skipped: {len(dev)} dev and {len(held)} held row(s); "
                             "both halves need at least one.")
        return
    fitted = calibration.fit_isotonic([c for c, _ in dev], [float(ok) for _, ok in dev])
    raw = [c for c, _ in held]
    mapped = [fitted(c) for c in raw]
    truth = [ok for _, ok in held]
    raw_ece, cal_ece = ece(raw, truth), ece(mapped, truth)
    summary.metrics.update({"calibration.ece_raw": raw_ece,
                            "calibration.ece_calibrated": cal_ece,
                            "calibration.auroc": auroc(raw, truth),
                            "calibration.false_pass_at_0.9": false_pass_at(mapped, truth),
                            "calibration.dev_rows": len(dev),
                            "calibration.held_rows": len(held)})

    def row(name: str, values: Sequence[float]) -> list[str]:
        fp = false_pass_at(values, truth)
        confident = sum(v >= CONFIDENT for v in values)
        return [name, num(ece(values, truth), 3), num(auroc(values, truth), 3),
                f"{pct(fp)} of {confident}", str(len(dev)), str(len(held))]

    base = sum(truth) / len(truth)
    summary.tables.append(Table(
        "Calibration", ["confidence", "ECE on held rows (10 bins)", "AUROC",
                        f"wrong among confidence >= {CONFIDENT}", "dev rows", "held rows"],
        [row("raw", raw), row("calibrated (isotonic, fitted on dev)", mapped),
         row(f"constant at the base rate ({base:.2f})", [base] * len(truth))],
        note="Rows are split into dev and held halves by a hash of the item id and the seed. "
             "The map is fitted on dev only (pool-adjacent-violators) and judged on held; "
             "a constant at the base rate is shown for comparison (its AUROC is 0.5)."))
    summary.plots.append(plots.reliability(
        options.out / "reliability.png",
        {"raw": reliability(raw, truth), "calibrated": reliability(mapped, truth)},
        title=f"{task.title}: reliability (held rows)"))
    if options.save_calibration and not options.report_only:
        calibration.save_rows(model, kind, task.name, dev, settings.home,
                              settings={k: v for k, v in settings.model_dump(mode="json").items()
                                        if k not in RESULT_NEUTRAL},
                              checksum=checksum)
        where = calibration_path(model, settings.home)
        summary.notes.append(f"Calibration map for `{model}` ({kind}) stored in `{where}`; "
                             f"this task's {len(dev)} dev row(s) replace its earlier ones.")


__all__ = ["run_eval", "select", "summarize"]
