"""`fansi serve`: the HTTP service, its web page and its OpenAI-compatible endpoint."""

from __future__ import annotations

from typing import Any

import click

from fansi.cli.options import model_options, search_options, settings_from


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Off loopback a --token is required.")
@click.option("--port", type=int, default=8000, show_default=True,
              help="Port to listen on (0: any free one).")
@click.option("--token", envvar="FANSI_SERVE_TOKEN", metavar="TOKEN",
              help="Bearer token every request must carry [FANSI_SERVE_TOKEN]. Required "
                   "off loopback; the page asks for it once.")
@click.option("--queue", "queue", type=click.IntRange(min=1), default=64, show_default=True,
              help="Jobs that may wait at once; past it a request answers 429.")
@model_options
@search_options
def serve(host: str, port: int, token: str | None, queue: int, **flags: Any) -> None:
    """Serve fansi over HTTP: a web page, a JSON API and an OpenAI-compatible model.

    The model, effort and budget settings are the server's defaults and its
    caps: a request may ask for less, never more. Jobs live in the store, so
    a server that is stopped or killed runs its queued and running jobs again
    when it starts (no finished model call is made twice).

    \b
    Examples:
      fansi serve --model tiny
      fansi serve --host 0.0.0.0 --port 8080 --token "$(openssl rand -hex 16)"
      curl -s localhost:8000/api/runs -d '{"problem": "What is 2+3?"}' \\
           -H 'Content-Type: application/json'
    """
    from fansi.serve import require

    require()
    from fansi.serve.server import Server
    from fansi.serve.service import Limits

    settings = settings_from(**flags)
    server = Server(settings, host=host, port=port, token=token or None,
                    limits=Limits(queue=queue))

    def ready() -> None:
        service = server.service
        click.secho(f"fansi serve: {server.url}/", bold=True, err=True)
        click.echo(f"  model {service.backend.name}, effort up to {settings.effort}, "
                   f"{service.workers} job(s) at a time, queue of {queue}; "
                   f"{'token required' if token else 'no token (loopback only)'}", err=True)
        click.echo(f"  API {server.url}/openapi.json · OpenAI-compatible "
                   f"{server.url}/v1 (model 'fansi') · Ctrl-C stops", err=True)

    server.on_ready = ready
    server.run()
    click.echo("fansi serve: stopped; queued and running jobs go on at the next start.",
               err=True)
