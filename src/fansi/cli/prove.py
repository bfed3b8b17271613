"""`fansi prove`: write proofs that Coq's kernel accepts for the open theorems of a .v file."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from fansi.cli.options import model_options, search_options, settings_from

if TYPE_CHECKING:
    from fansi.formal import FormalEvent
    from fansi.provers import ProveResult

#: How much of Coq's message a progress line shows.
MESSAGE_HEAD = 100


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@model_options
@search_options
@click.option("--repairs", type=click.IntRange(min=0),
              help="Repairs per attempt on Coq's messages [default: k].")
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the file with every proof found to OUT.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on standard error.")
def prove(file: Path, out: Path | None, as_json: bool, quiet: bool, **flags: Any) -> None:
    """Prove the open theorems of the Coq file FILE.

    A theorem is open when its proof is missing, only `Proof.`, or ends in
    `Admitted.` or `Abort.`. For each, fansi first tries a fixed portfolio of
    automation (lia, nia, lra, nra, ring, field, interval, ...), then asks the
    model for a proof script; when Coq refuses it, the compiler's message and
    the goals at the failing step go back to the model for a repair. A proof
    counts only when the Coq kernel accepts it against the original statement
    (allow-listed axioms, re-checked by coqchk).

    -n sets the fresh model attempts per theorem and --repairs (default: -k)
    the repairs per attempt (both from --effort unless given); the budgets cap
    each theorem.
    --refine, --rounds, --schedule and --checks do not apply.

    Each theorem is a stored run (`fansi show RUN_ID` draws its attempts and
    Coq's messages). Running the same command again continues an interrupted
    run and repeats no finished model call.

    Exit status: 0 when every theorem was proved, 1 when some were not, 2 for
    a bad file or setting (for example, Coq not installed).

    \b
    Examples:
      fansi prove mathd_algebra_10.v
      fansi prove problems.v --effort medium --out proved.v
      fansi prove problems.v -n 4 -k 1 --budget-seconds 120 --json
    """
    from fansi.provers import aprove, prove_dict

    settings = settings_from(**flags)
    if not quiet:
        click.secho(f"proving {file} with {settings.model} (effort {settings.effort}) …",
                    dim=True, err=True)
    result = asyncio.run(aprove(file, settings=settings,
                                on_event=None if quiet else progress_line))
    if out is not None:
        out.write_text(result.file_text, encoding="utf-8")
    if as_json:
        click.echo(json.dumps(prove_dict(result), indent=2, ensure_ascii=False))
    else:
        click.echo(render(result, out))
    sys.exit(0 if result.proved else 1)


def _head(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= MESSAGE_HEAD else line[: MESSAGE_HEAD - 1] + "…"


def progress_line(event: FormalEvent) -> None:
    """One line on standard error per portfolio, attempt and finished search."""
    name = event.theorem
    cost = f"{event.tokens:,} tok | {event.calls} calls | {event.seconds:.0f}s"
    if event.kind == "portfolio_tried" and event.portfolio is not None:
        portfolio = event.portfolio
        what = (f"proved by {portfolio.tactic}" if portfolio.proved
                else f"no script of {len(portfolio.outcomes)} proved it")
        click.echo(f"{name}: portfolio: {what} ({portfolio.seconds:.1f}s)", err=True)
    elif event.kind == "attempt_checked" and event.attempt is not None:
        attempt = event.attempt
        stage = click.style("accepted", fg="green") if attempt.accepted else attempt.stage
        message = f" — {_head(attempt.message)}" if attempt.message else ""
        click.echo(f"{name}: attempt {attempt.attempt + 1} repair {attempt.repair}: "
                   f"{stage}{message} | {cost}", err=True)
    elif event.kind == "search_finished" and event.result is not None:
        result = event.result
        if result.stopped == "invalid":
            click.echo(f"{name}: the statement does not compile: {_head(result.error)}",
                       err=True)


def render(result: ProveResult, out: Path | None) -> str:
    """The text report: each theorem's outcome and proof, then the totals."""
    lines: list[str] = []
    tokens = calls = 0
    for proof in result.theorems:
        search = proof.search
        tokens += search.usage.total_tokens
        calls += search.calls
        if search.found:
            if search.source == "portfolio" and search.portfolio is not None:
                how = f"by the portfolio ({search.portfolio.tactic})"
            else:
                last = search.attempts[-1]
                how = f"by the model (attempt {last.attempt + 1}, repair {last.repair})"
            lines.append(click.style(f"✓ {search.theorem.name}", fg="green", bold=True)
                         + f" proved {how}")
            lines += ["Proof.", *(f"  {line}" for line in (search.proof or "").splitlines()),
                      "Qed."]
        elif search.stopped == "invalid":
            lines.append(click.style(f"✗ {search.theorem.name}", fg="red", bold=True)
                         + f": the statement does not compile: {_head(search.error)}")
        else:
            why = {"budget": "the budget ran out",
                   "attempts": "the attempts ran out"}.get(search.stopped, search.stopped)
            lines.append(click.style(f"✗ {search.theorem.name}", fg="red", bold=True)
                         + f": no proof found ({why}; {len(search.attempts)} model "
                           "attempt(s) and repairs)")
        lines.append(click.style(
            f"  run {proof.run_id}: {search.usage.total_tokens:,} tokens in {search.calls} "
            f"calls, {search.seconds:.1f}s", dim=True))
    proved = sum(t.found for t in result.theorems)
    total = f"{proved} of {len(result.theorems)} theorem(s) proved; {tokens:,} tokens in " \
            f"{calls} calls"
    if out is not None:
        total += f"; wrote {out}"
    lines.append(click.style(total, bold=True))
    return "\n".join(lines)
