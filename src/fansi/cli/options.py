"""Options shared by several commands, and settings resolution from them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from fansi.config import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])


def _apply(fn: F, options: list[Callable[[F], F]]) -> F:
    for option in reversed(options):
        fn = option(fn)
    return fn


def model_options(fn: F) -> F:
    """--model, --home and the generation flags."""
    return _apply(fn, [
        click.option("--model", "-m", help="Model spec (default: embedded). See `fansi models`."),
        click.option("--max-tokens", type=int, help="Most tokens per written solution [1024]."),
        click.option("--verify-tokens", type=int, help="Most tokens per verdict [640]."),
        click.option("--temperature", type=float, help="Sampling temperature [0.7]."),
        click.option("--seed", type=int,
                     help="Base seed [0]. The same seed repeats (and reuses) the same calls."),
        click.option("--threads", type=int, help="CPU threads for local models [all cores]."),
        click.option("--home", type=click.Path(file_okay=False), help="Data folder [FANSI_HOME]."),
    ])


def search_options(fn: F) -> F:
    """Effort, schedule, the four search numbers and the budgets."""
    return _apply(fn, [
        click.option("--effort", type=click.Choice(["low", "medium", "high", "heavy"]),
                     help="Preset for n/k/m/rounds: low 2/2/1/1, medium 4/4/2/2, "
                          "high 8/8/4/4, heavy 64/64/8/16 [low]."),
        click.option("--schedule", type=click.Choice(["adaptive", "fixed", "streak"]),
                     help="Verification schedule: adaptive (stop when clear), fixed (n x k "
                          "grid), streak (accept after k passes in a row) [adaptive]."),
        click.option("-n", "n", type=int, help="Candidates written in round 1."),
        click.option("-k", "k", type=int, help="Passing verifications needed to accept."),
        click.option("--refine", "m", type=int, help="Candidates refined per later round (m)."),
        click.option("--rounds", type=int, help="Rounds in all (1 = no refinement)."),
        click.option("--budget-tokens", type=int, help="Stop after this many tokens."),
        click.option("--budget-calls", type=int, help="Stop after this many model calls."),
        click.option("--budget-seconds", type=float, help="Stop after this many seconds."),
    ])


def settings_from(**flags: Any) -> Settings:
    """Resolve settings once, with the command's flags on top."""
    return load_settings(flags)
