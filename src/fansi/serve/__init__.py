"""fansi as a service: an HTTP API with live events, a web page that shows the
proof tree, and an OpenAI-compatible endpoint (``fansi serve``).

- :mod:`fansi.serve.service`: jobs in the store, a bounded queue, workers that
  run each job through :func:`fansi.api.run_stored`, and the events.
- :mod:`fansi.serve.app`: the FastAPI routes under ``/api`` and the error answers.
- :mod:`fansi.serve.openai`: ``/v1/chat/completions`` and ``/v1/models``.
- :mod:`fansi.serve.page` and ``static/``: the web page; :mod:`fansi.serve.latex`
  renders the LaTeX in model text, on the server.
- :mod:`fansi.serve.guard`: token, Host and Origin checks, body limits.
- :mod:`fansi.serve.server`: uvicorn around a started service.

FastAPI and uvicorn come with the ``serve`` extra; this package's modules
import them, so import them through :func:`require` for a clear error.
"""

from __future__ import annotations

import importlib.util

from fansi.errors import ExtraNotInstalled

#: The modules the service cannot run without.
NEEDS = ("fastapi", "uvicorn")


def require() -> None:
    """Raise ExtraNotInstalled unless FastAPI and uvicorn are installed."""
    missing = [name for name in NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        raise ExtraNotInstalled("serve", f"`fansi serve` ({', '.join(missing)} missing)")


__all__ = ["require"]
