"""The `fansi` command line. Thin: every command calls the library.

Subcommands are imported only when run, so `fansi --help` stays fast.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from fansi.errors import ConfigError, FansiError, InputError

# name -> (module, attribute, one-line help shown by `fansi --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "solve": ("fansi.cli.solve", "solve", "Solve a problem with verify-and-refine."),
    "verify": ("fansi.cli.verify", "verify", "Grade a given solution or proof."),
    "prove": ("fansi.cli.prove", "prove", "Prove the open theorems of a Coq file."),
    "run": ("fansi.cli.batch", "run", "Solve every problem of a JSONL file (resumable)."),
    "runs": ("fansi.cli.runs", "runs", "List the stored runs."),
    "show": ("fansi.cli.runs", "show", "Show a run's tree of candidates and verifications."),
    "models": ("fansi.cli.models", "models", "List the known models and their state."),
    "eval": ("fansi.cli.eval", "eval_group", "Measure accuracy, verifier quality and calibration."),
    "serve": ("fansi.cli.serve", "serve", "Serve a web page, a JSON API and an OpenAI-style API."),
    "label": ("fansi.cli.learn", "label", "Label candidates by scaled verification."),
    "export": ("fansi.cli.learn", "export", "Write labelled candidates as a training dataset."),
    "learn": ("fansi.cli.learn", "learn_group", "Train on exported data (TRL) and write GGUF."),
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when it runs, and turns
    every FansiError into one message and a hint, in one place."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, short) for name, (_, _, short) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FansiError as exc:
            fail(exc)
        except KeyboardInterrupt:
            click.echo("\ninterrupted; what finished is stored (see `fansi runs`).", err=True)
            sys.exit(130)


def fail(exc: FansiError) -> None:
    """Print a FansiError as one line plus a hint and exit non-zero."""
    click.secho(f"error: {exc.message}", fg="red", err=True)
    if exc.hint:
        click.echo(f"hint: {exc.hint}", err=True)
    sys.exit(2 if isinstance(exc, ConfigError | InputError) else 1)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fansi")
def cli() -> None:
    """fansi (反思): self-verifying mathematical reasoning on your own machine.

    A model writes a solution, grades its own work, and independent verifier
    passes look for errors in it. Runs offline on an embedded model by
    default; point --model at any GGUF file or OpenAI-compatible server.

    \b
    Model specs (--model or FANSI_MODEL):
      embedded            Qwen2.5-Coder-1.5B-Instruct, shipped with fansi (default)
      tiny                SmolLM2-135M (fast, writes nonsense; for testing)
      gguf:PATH           any GGUF file, run in-process
      openai:MODEL@URL    any OpenAI-compatible server, e.g.
                          openai:Qwen/Qwen2.5-7B-Instruct@http://gpu-box:8000/v1
      fake                an echo backend for trying the plumbing

    Settings come from defaults < fansi.toml < FANSI_* variables < flags.
    FANSI_HOME holds the models and the run store.
    """


def main() -> None:
    cli()
