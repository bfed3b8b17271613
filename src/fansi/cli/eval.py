"""`fansi eval`: measure accuracy, verifier quality, proofs and calibration."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from fansi.cli.options import model_options, search_options, settings_from
from fansi.evals import TASKS

F = TypeVar("F", bound=Callable[..., Any])

EPILOG = """\b
Output in --out DIR: report.md, results.jsonl (one row per item), summary.json
and PNG plots. --seed seeds the samples and picks the --limit subset. Run the
same command again to continue an interrupted eval: it reuses the rows in DIR
and every stored model call.
"""


@click.group("eval")
def eval_group() -> None:
    """Measure accuracy, verifier quality and calibration on benchmark files.

    \b
    Examples:
      fansi eval gsm8k --limit 20 --effort low --out runs/gsm8k
      fansi eval processbench --limit 40 -k 2 --out runs/pb
      fansi eval imo-proofbench --subset basic --limit 1 --out runs/proofs
      fansi eval compare runs/gsm8k runs/gsm8k-medium
    """


def _csv(kind: type[int] | type[str]) -> Callable[[click.Context, click.Parameter, str | None],
                                                  tuple[Any, ...]]:
    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[Any, ...]:
        if not value:
            return ()
        parts = [p.strip() for p in value.split(",") if p.strip()]
        try:
            return tuple(kind(p) for p in parts)
        except ValueError as exc:
            raise click.BadParameter(f"{value!r} is not a comma-separated list") from exc
    return parse


def _schedules(ctx: click.Context, param: click.Parameter, value: str | None
               ) -> tuple[str, ...]:
    names = cast(tuple[str, ...], _csv(str)(ctx, param, value))
    unknown = [n for n in names if n not in ("adaptive", "fixed", "streak")]
    if unknown:
        raise click.BadParameter(f"unknown schedule(s): {', '.join(unknown)}")
    return names


def _task_options(kind: str, fn: F) -> F:
    options = [
        click.option("--data", type=click.Path(dir_okay=kind == "formal", exists=True,
                                               path_type=Path),
                     help="The folder of .v files [its folder under ../shared/data]."
                          if kind == "formal" else
                          "The data file [the task's file under ../shared/data]."),
        click.option("--limit", type=click.IntRange(min=0),
                     help="A seeded, stratified subset of N items (the same every time)."),
        click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path),
                     help="Output folder [eval-TASK]."),
        click.option("--concurrency", "-c", type=click.IntRange(min=1),
                     help="Items at once [1 for local models, FANSI_CONCURRENCY for servers]."),
        click.option("--quiet", "-q", is_flag=True, help="No progress on standard error."),
        click.option("--report-only", is_flag=True,
                     help="Make no model call: write the report on the items already done "
                          "in --out (the same options as the run), marked partial when some "
                          "are missing. Safe while that run goes on."),
        click.option("--ray", "ray", is_flag=False, flag_value="local", default=None,
                     metavar="[ADDRESS]",
                     help="Run the items on a Ray cluster (auto, HOST:PORT); with no "
                          "address, a local one. --concurrency is then per worker."),
    ]
    if kind == "answers":
        options += [
            click.option("--vote-n", type=click.IntRange(min=1),
                         help="Samples for majority voting [n: fansi's own candidates]."),
            click.option("--schedules", callback=_schedules,
                         help="Scaling curves: schedules to run, e.g. adaptive,fixed "
                              "[--schedule]."),
            click.option("--scale-n", callback=_csv(int),
                         help="Scaling curves: values of n to run, e.g. 1,2,4 [n]."),
        ]
    if kind == "proofs":
        options += [
            click.option("--subset", type=click.Choice(["all", "basic", "advanced"]),
                         default="all", show_default=True, help="Which ProofBench problems."),
            click.option("--human-grades", type=click.Path(dir_okay=False, exists=True,
                                                           path_type=Path),
                         help="CSV (id,grade) or JSONL of human grades: report agreement."),
        ]
    if kind == "formal":
        options.append(click.option(
            "--repairs", type=click.IntRange(min=0),
            help="Repairs per attempt on Coq's messages [default: k]; 0 makes every "
                 "model call a fresh attempt."))
    if kind in ("answers", "verifier"):
        options.append(click.option(
            "--save-calibration/--no-save-calibration", default=True,
            help="Store the fitted confidence map in FANSI_HOME/calibration [save]."))
    for option in reversed(options):
        fn = option(fn)
    return fn


def _command(task: str, kind: str, short: str) -> click.Command:
    def command(**flags: Any) -> None:
        _run(task, flags)

    command.__doc__ = f"{short}\n\n{EPILOG}"
    decorated = _task_options(kind, search_options(model_options(command)))
    return click.command(task, short_help=short)(decorated)


def _run(task: str, flags: dict[str, Any]) -> None:
    from fansi.evals.harness import run_eval
    from fansi.evals.runner import EvalOptions, ItemReport

    quiet = flags.pop("quiet")
    ray = flags.pop("ray")
    options = EvalOptions(
        task=task,
        out=flags.pop("out") or Path(f"eval-{task}"),
        data=flags.pop("data"),
        limit=flags.pop("limit"),
        concurrency=flags.pop("concurrency"),
        vote_n=flags.pop("vote_n", None),
        schedules=flags.pop("schedules", ()),
        scale_n=flags.pop("scale_n", ()),
        subset=flags.pop("subset", "all"),
        human_grades=flags.pop("human_grades", None),
        save_calibration=flags.pop("save_calibration", False),
        report_only=flags.pop("report_only"),
    )
    settings = settings_from(**flags)

    def note(line: str) -> None:
        if not quiet:
            click.secho(f"{line}; model {settings.model}", dim=True, err=True)

    def progress(item: ItemReport) -> None:
        if not quiet:
            click.echo(f"[{item.index}/{item.total}] {item.id}: {item.line} | "
                       f"{item.tokens:,} tok | {item.wall_s:.0f}s | ETA {_clock(item.eta_s)}",
                       err=True)

    try:
        if ray is None:
            summary = asyncio.run(run_eval(options, settings, on_item=progress, on_note=note))
        else:
            from fansi.distributed.evals import run_eval as run_on_ray

            summary = asyncio.run(run_on_ray(options, settings, on_item=progress, on_note=note,
                                             address=None if ray == "local" else ray))
    except KeyboardInterrupt:
        click.echo("\ninterrupted; run the same command again to continue the eval.", err=True)
        raise
    click.echo(f"wrote {options.out / 'report.md'}")
    if summary.tables:
        click.echo(summary.tables[0].markdown())


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


for _task in TASKS.values():
    eval_group.add_command(_command(_task.name, _task.kind, _task.short))


@eval_group.command("compare")
@click.argument("first", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("second", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the comparison to this Markdown file.")
def compare(first: Path, second: Path, out: Path | None) -> None:
    """Put two eval reports side by side (settings that differ, then every metric)."""
    from fansi.evals.report import compare as side_by_side

    text = side_by_side(first, second)
    if out is not None:
        out.write_text(text, encoding="utf-8")
    click.echo(text, nl=False)
