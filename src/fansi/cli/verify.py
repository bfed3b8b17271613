"""`fansi verify`: grade a given solution with k verifier samples and meta-checks."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from fansi.cli.options import checks_option, model_options, settings_from
from fansi.config import EFFORTS


@click.command()
@click.option("-p", "--problem", "problem", help="The problem text.")
@click.option("-P", "--problem-file", type=click.Path(dir_okay=False, allow_dash=True),
              help="Read the problem from a file.")
@click.option("-s", "--solution", "solution_file", required=True,
              type=click.Path(dir_okay=False, allow_dash=True),
              help="The solution or proof to grade ('-' for standard input).")
@click.option("-k", "k", type=int, help="Verifier samples to draw [the effort's k].")
@click.option("--effort", type=click.Choice(EFFORTS),
              help="Preset that sets k when -k is not given [low].")
@model_options
@checks_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on standard error.")
def verify(problem: str | None, problem_file: str | None, solution_file: str,
           as_json: bool, quiet: bool, **flags: Any) -> None:
    """Grade the proof in SOLUTION_FILE for a problem.

    All k verifier samples are drawn; each issue they report is meta-checked,
    and the verdict, score, confirmed issues and confidence are printed.

    \b
    Example:
      fansi verify -p "Prove that 2 is the only even prime." -s proof.md -k 4
    """
    from fansi import api
    from fansi.cli.progress import Progress
    from fansi.cli.render import render_result
    from fansi.cli.solve import read_problem_arg
    from fansi.inputs import decode, read_text_file

    settings = settings_from(**flags)
    text = read_problem_arg(problem, problem_file)
    if solution_file == "-":
        solution = decode(sys.stdin.buffer.read(), source="standard input")
    else:
        solution = read_text_file(Path(solution_file))
    progress = Progress(quiet=quiet)
    try:
        result = asyncio.run(api.averify(text, solution, settings=settings, on_event=progress))
    finally:
        progress.close()
    if as_json:
        click.echo(json.dumps(api.result_dict(result), indent=2, ensure_ascii=False))
    else:
        click.echo(render_result(result, show_solution=False))
