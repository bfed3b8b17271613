"""`fansi solve`: solve one problem with the full verify-and-refine loop."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from fansi.cli.options import model_options, search_options, settings_from


def read_problem_arg(text: str | None, file: str | None) -> str:
    """The problem text from TEXT or -f FILE ('-' for standard input)."""
    from fansi.inputs import decode, read_text_file

    if (text is None) == (file is None):
        raise click.UsageError("give the problem as TEXT or with -f FILE (not both)")
    if file == "-":
        return decode(sys.stdin.buffer.read(), source="standard input")
    if file is not None:
        return read_text_file(Path(file))
    assert text is not None
    return text


@click.command()
@click.argument("text", required=False)
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False, allow_dash=True),
              help="Read the problem from a file ('-' for standard input).")
@model_options
@search_options
@click.option("--resume", "resume", metavar="RUN_ID",
              help="Continue an interrupted run (finished calls are not repeated).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on standard error.")
def solve(text: str | None, file: str | None, resume: str | None, as_json: bool, quiet: bool,
          **flags: Any) -> None:
    """Solve a problem given as TEXT or with -f FILE, and check the answer.

    fansi writes n candidate solutions, has each verified by independent
    verifier samples (issues are meta-checked), refines the best ones against
    the confirmed issues, and prints the best candidate with its verdict,
    the issues found and a confidence. Progress goes to standard error.

    \b
    Examples:
      fansi solve "Prove that the product of two odd integers is odd."
      fansi solve -f problem.txt --effort medium --model gguf:~/models/qwen7b.gguf
      fansi solve --resume 3f2a9c01d4e5
    """
    from fansi import api
    from fansi.cli.progress import Progress
    from fansi.cli.render import render_result
    from fansi.inputs import problem_from_text

    # On a terminal the proofs are shown as they are written; the progress
    # then goes line by line so it does not overwrite them.
    stream = sys.stdout.isatty() and not as_json and not quiet
    progress = Progress(quiet=quiet, live=False if stream else None)
    on_token = echo_dim if stream else None
    if resume:
        if text or file:
            raise click.UsageError("--resume takes no problem")
        result = asyncio.run(api.aresume(resume, on_event=progress, on_token=on_token,
                                         home=flags.get("home")))
    else:
        settings = settings_from(**flags)
        problem = problem_from_text(read_problem_arg(text, file),
                                    max_chars=settings.max_problem_chars)
        if not quiet:
            click.secho(f"solving with {settings.model} (effort {settings.effort}, schedule "
                        f"{settings.schedule}) …", dim=True, err=True)
        try:
            result = asyncio.run(api.asolve(problem, settings=settings, on_event=progress,
                                            on_token=on_token))
        finally:
            progress.close()
    if stream:
        click.echo()
    if as_json:
        click.echo(json.dumps(api.result_dict(result), indent=2, ensure_ascii=False))
    else:
        click.echo(render_result(result))


def echo_dim(piece: str) -> None:
    click.secho(piece, nl=False, dim=True)
    sys.stdout.flush()
