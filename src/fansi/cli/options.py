"""Options shared by several commands, and settings resolution from them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from fansi.config import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])


def model_options(fn: F) -> F:
    """--model, --home and the generation flags, in that order in --help."""
    options = [
        click.option("--model", "-m", help="Model spec (default: embedded). See `fansi models`."),
        click.option("--max-tokens", type=int, help="Most tokens per generation [1024]."),
        click.option("--temperature", type=float, help="Sampling temperature [backend default]."),
        click.option("--seed", type=int, help="Random seed, for reproducible runs."),
        click.option("--threads", type=int, help="CPU threads for local models [all cores]."),
        click.option("--home", type=click.Path(file_okay=False), help="Data folder [FANSI_HOME]."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def settings_from(**flags: Any) -> Settings:
    """Resolve settings once, with the command's flags on top."""
    return load_settings(flags)
