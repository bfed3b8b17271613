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
@click.option("--formal", "formal", type=click.Path(dir_okay=False, exists=True,
                                                     path_type=Path),
              metavar="FILE.v",
              help="Prove the open theorems of a Coq file: the informal loop proves each "
                   "statement in words first, and its best proof is the formal writer's "
                   "sketch (then as `fansi prove`).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on standard error.")
def solve(text: str | None, file: str | None, resume: str | None, formal: Path | None,
          as_json: bool, quiet: bool, **flags: Any) -> None:
    """Solve a problem given as TEXT or with -f FILE, and check the answer.

    fansi writes n candidate solutions, has each verified by independent
    verifier samples (issues are meta-checked), refines the best ones against
    the confirmed issues, and prints the best candidate with its verdict,
    the issues found and a confidence. Progress goes to standard error.

    With --formal FILE.v the problem is each open theorem of a Coq file:
    fansi solves its statement informally, then gives the best informal proof
    to the formal prover as a sketch; the output and exit status are those of
    `fansi prove` (a proof counts only when the Coq kernel accepts it).

    \b
    Examples:
      fansi solve "Prove that the product of two odd integers is odd."
      fansi solve -f problem.txt --effort medium --model gguf:~/models/qwen7b.gguf
      fansi solve --resume 3f2a9c01d4e5
      fansi solve --formal mathd_algebra_10.v
    """
    from fansi import api
    from fansi.cli.progress import Progress
    from fansi.cli.render import render_result
    from fansi.inputs import problem_from_text

    if formal is not None:
        if text or file or resume:
            raise click.UsageError("--formal takes no problem text, -f or --resume")
        solve_formal(formal, as_json=as_json, quiet=quiet, flags=flags)
        return

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


def solve_formal(file: Path, *, as_json: bool, quiet: bool, flags: dict[str, Any]) -> None:
    """`fansi solve --formal`: the informal loop's proof as the formal prover's sketch."""
    from fansi.cli.progress import Progress
    from fansi.cli.prove import progress_line, render
    from fansi.provers import aprove, prove_dict

    settings = settings_from(**flags)
    if not quiet:
        click.secho(f"solving {file} informally, then formally, with {settings.model} "
                    f"(effort {settings.effort}) …", dim=True, err=True)
    progress = Progress(quiet=quiet, live=False)
    try:
        result = asyncio.run(aprove(file, settings=settings, sketch=True, on_informal=progress,
                                    on_event=None if quiet else progress_line))
    finally:
        progress.close()
    if as_json:
        click.echo(json.dumps(prove_dict(result), indent=2, ensure_ascii=False))
    else:
        click.echo(render(result, None))
    sys.exit(0 if result.proved else 1)


def echo_dim(piece: str) -> None:
    click.secho(piece, nl=False, dim=True)
    sys.stdout.flush()
