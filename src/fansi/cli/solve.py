"""`fansi solve`: solve one problem."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from fansi.cli.options import model_options, settings_from


@click.command()
@click.argument("text", required=False)
@click.option("-f", "--file", "file", type=click.Path(dir_okay=False, allow_dash=True),
              help="Read the problem from a file ('-' for standard input).")
@model_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def solve(text: str | None, file: str | None, as_json: bool, **flags: Any) -> None:
    """Solve a problem given as TEXT or with -f FILE.

    \b
    Example:
      fansi solve "Prove that the product of two odd integers is odd."
    """
    from fansi.inputs import decode, problem_from_text, read_text_file

    settings = settings_from(**flags)
    if (text is None) == (file is None):
        raise click.UsageError("give the problem as TEXT or with -f FILE (not both)")
    if file == "-":
        text = decode(sys.stdin.buffer.read(), source="standard input")
    elif file is not None:
        text = read_text_file(Path(file))
    assert text is not None
    problem = problem_from_text(text, max_chars=settings.max_problem_chars)
    stream = sys.stdout.isatty() and not as_json
    result = asyncio.run(_solve(problem.text, settings, stream))
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    elif stream:
        click.echo()
    else:
        click.echo(result["solution"])
    if not as_json:
        click.secho(
            f"[{result['model']}: {result['usage']['completion_tokens']} tokens, "
            f"{result['seconds']:.1f}s, stop={result['stop_reason']}]",
            dim=True, err=True,
        )


async def _solve(text: str, settings: Any, stream: bool) -> dict[str, Any]:
    from fansi.backends import create_backend
    from fansi.records import GenerateParams, Message

    click.secho(f"loading {settings.model} …", dim=True, err=True)
    backend = create_backend(settings.model, settings)
    try:
        params = GenerateParams(
            max_tokens=settings.max_tokens, temperature=settings.temperature, seed=settings.seed
        )
        messages = [
            Message("system", "You are a careful mathematician. Write a complete, rigorous "
                              "solution. If the problem asks for a value, end with "
                              "\\boxed{answer}."),
            Message("user", text),
        ]

        def echo(piece: str) -> None:
            click.echo(piece, nl=False)
            sys.stdout.flush()

        completion = await backend.generate(messages, params, on_token=echo if stream else None)
    finally:
        await backend.aclose()
    return {
        "problem": text,
        "solution": completion.text,
        "model": completion.model,
        "stop_reason": completion.stop_reason,
        "usage": {
            "prompt_tokens": completion.usage.prompt_tokens,
            "completion_tokens": completion.usage.completion_tokens,
        },
        "seconds": completion.latency_s,
    }
