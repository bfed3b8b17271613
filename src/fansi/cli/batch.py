"""`fansi run`: solve every problem of a JSONL file, resumably."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click

from fansi.cli.options import model_options, search_options, settings_from


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@model_options
@search_options
@click.option("--concurrency", "-c", type=int, default=None,
              help="Problems solved at once [1 for local models, FANSI_CONCURRENCY for servers].")
@click.option("--limit", type=int, help="Only the first N problems.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per problem.")
@click.option("--ray", "ray", is_flag=False, flag_value="local", default=None,
              metavar="[ADDRESS]",
              help="Spread the problems over a Ray cluster (auto, HOST:PORT); with no "
                   "address, a local one. --concurrency is then per worker.")
def run(file: str, concurrency: int | None, limit: int | None, as_json: bool,
        ray: str | None, **flags: Any) -> None:
    """Solve every problem in FILE, a JSONL file with one object per line.

    Each line needs the problem under "problem", "question" or "text", and
    may give an "id" and a reference "answer" (GSM8K's "#### N" form is
    understood). A reference answer is compared with the final answer by
    symbolic equivalence.

    Killed and started again with the same options, it skips the problems
    already done and continues the others without repeating a finished model
    call. One summary line per problem goes to standard output.

    \b
    Example:
      fansi run ../shared/data/gsm8k/test_dev.jsonl --limit 10 --effort low
    """
    from fansi.api import asolve_many
    from fansi.evals.data import reference_answer
    from fansi.inputs import read_jsonl

    settings = settings_from(**flags)
    problems = read_jsonl(Path(file), max_chars=settings.max_problem_chars,
                          answer=reference_answer)
    if limit is not None:
        problems = problems[:limit]

    def report(line: dict[str, Any]) -> None:
        if as_json:
            click.echo(json.dumps(line, ensure_ascii=False))
            return
        score = "-" if line["score"] is None else f"{line['score']:.2f}"
        ref = ""
        if line.get("reference") is not None:
            mark = {True: "correct", False: "wrong", None: "?"}[line["correct"]]
            ref = f" (ref {line['reference']}: {mark})"
        cached = " [already done]" if line["skipped"] else ""
        click.echo(
            f"[{line['index'] + 1}/{len(problems)}] {line['id']}: {line['verdict']} "
            f"score={score} conf={line['confidence']:.2f} answer={line['answer']}{ref} "
            f"tokens={line['tokens']:,} {line['seconds']:.0f}s run={line['run_id']}{cached}"
        )

    if ray is None:
        totals = asyncio.run(asolve_many(problems, settings, concurrency=concurrency,
                                         on_result=report))
    else:
        from fansi.distributed.batch import solve_many

        def report_failure(line: dict[str, Any]) -> None:
            report(line)
            if line.get("error"):
                click.secho(f"  {line['id']} failed: {line['error']}", err=True)

        totals = asyncio.run(solve_many(problems, settings, concurrency=concurrency,
                                        address=None if ray == "local" else ray,
                                        on_result=report_failure))
    click.secho(
        f"{totals['problems']} problem(s): {totals['pass']} pass, {totals['fail']} fail, "
        f"{totals['unknown']} unknown; correct {totals['correct']}/{totals['with_reference']} "
        f"with a reference; {totals['tokens']:,} tokens, {totals['seconds']:.0f}s",
        err=True,
    )
