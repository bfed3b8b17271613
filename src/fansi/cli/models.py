"""`fansi models`: the known models, whether installed, and checksum state."""

from __future__ import annotations

import json

import click

from fansi.cli.options import settings_from


@click.command()
@click.option("--check", is_flag=True, help="Hash the model files now (takes seconds).")
@click.option("--prepare", is_flag=True,
              help="Join and verify every installed packaged model now, not at first use.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--home", type=click.Path(file_okay=False), help="Data folder [FANSI_HOME].")
def models(check: bool, prepare: bool, as_json: bool, home: str | None) -> None:
    """List the known model specs, whether each is installed, its file, size
    and checksum state.

    Besides the packaged models below, any GGUF file (gguf:PATH) or
    OpenAI-compatible server (openai:MODEL@URL) can be used with --model.
    """
    from fansi.models import PACKAGED, ensure_packaged, status

    settings = settings_from(home=home)
    if prepare:
        for model in PACKAGED.values():
            if status(model, settings.models_dir).installed:
                path = ensure_packaged(model, settings.models_dir)
                click.echo(f"{model.name}: ready at {path}", err=True)
    rows = [status(m, settings.models_dir, check=check) for m in PACKAGED.values()]
    if as_json:
        out = [
            {
                "spec": r.name, "description": r.description, "installed": r.installed,
                "path": str(r.path) if r.path else None, "size": r.size,
                "checksum": r.checksum, "detail": r.detail,
            }
            for r in rows
        ]
        click.echo(json.dumps(out, indent=2))
        return
    for r in rows:
        mark = click.style("installed", fg="green") if r.installed else click.style(
            "not installed", fg="red")
        click.echo(f"{click.style(r.name, bold=True):<20} {mark}  {r.description}")
        if r.path:
            size = f"{r.size / 1e6:,.0f} MB" if r.size else "?"
            click.echo(f"    file: {r.path} ({size}), checksum {r.checksum}")
        else:
            click.echo(f"    {r.detail}")
    click.echo("gguf:PATH             any GGUF file, run in-process")
    click.echo("openai:MODEL@URL      any OpenAI-compatible server (vLLM, SGLang, Ollama, ...)")
    click.echo("fake                  echo backend, for trying the plumbing")
