"""Options shared by several commands, and settings resolution from them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from fansi.config import CHECKS, EFFORTS, SCHEDULES, Settings, default, load_settings

F = TypeVar("F", bound=Callable[..., Any])


def _apply(fn: F, options: list[Callable[[F], F]]) -> F:
    for option in reversed(options):
        fn = option(fn)
    return fn


checks_option = click.option(
    "--checks", type=click.Choice(CHECKS),
    help="Executed checks: none; deterministic (arithmetic, no model-written code); all "
         "(also model-written programs and assertions, run sandboxed: no network, no "
         f"writes outside a scratch folder) [{default('checks')}].")


def _presets() -> str:
    from fansi.engine.budget import EFFORTS as PRESETS

    return ", ".join(f"{name} {'/'.join(map(str, PRESETS[name]))}" for name in EFFORTS)


def model_options(fn: F) -> F:
    """--model, --home and the generation flags; help shows the settings' defaults."""
    return _apply(fn, [
        click.option("--model", "-m",
                     help=f"Model spec [{default('model')}]. See `fansi models`."),
        click.option("--verifier-model",
                     help="Model spec that verifies (verdicts, meta-checks, executed-claim "
                          "checks) [the --model]."),
        click.option("--max-tokens", type=int,
                     help=f"Most tokens per written solution [{default('max_tokens')}]."),
        click.option("--verify-tokens", type=int,
                     help=f"Most tokens per verdict [{default('verify_tokens')}]."),
        click.option("--temperature", type=float,
                     help=f"Sampling temperature [{default('temperature')}]."),
        click.option("--seed", type=int,
                     help=f"Base seed [{default('seed')}]. The same seed repeats (and "
                          "reuses) the same calls."),
        click.option("--threads", type=int, help="CPU threads for local models [all cores]."),
        click.option("--home", type=click.Path(file_okay=False), help="Data folder [FANSI_HOME]."),
    ])


def search_options(fn: F) -> F:
    """Effort, schedule, the four search numbers and the budgets."""
    return _apply(fn, [
        click.option("--effort", type=click.Choice(EFFORTS),
                     help=f"Preset for n/k/m/rounds: {_presets()} [{default('effort')}]."),
        click.option("--schedule", type=click.Choice(SCHEDULES),
                     help="Verification schedule: adaptive (stop when clear), fixed (n x k "
                          "grid), streak (accept after k passes in a row) "
                          f"[{default('schedule')}]."),
        click.option("-n", "n", type=int, help="Candidates written in round 1."),
        click.option("-k", "k", type=int, help="Passing verifications needed to accept."),
        click.option("--refine", "m", type=int, help="Candidates refined per later round (m)."),
        click.option("--rounds", type=int, help="Rounds in all (1 = no refinement)."),
        checks_option,
        click.option("--budget-tokens", type=int, help="Stop after this many tokens."),
        click.option("--budget-calls", type=int, help="Stop after this many model calls."),
        click.option("--budget-seconds", type=float,
                     help="Stop after this many seconds; a model call still running then "
                          "is cancelled."),
    ])


def settings_from(**flags: Any) -> Settings:
    """Resolve settings once, with the command's flags on top."""
    return load_settings(flags)
