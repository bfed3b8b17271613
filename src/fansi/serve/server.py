"""Serving the application with uvicorn on a socket we bind, around a started service.

The service starts before the server listens, so a model that cannot be
loaded is reported as the error it is, and stops after the server has
closed, so running jobs go back to the queue for the next start.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import uvicorn

from fansi.backends import Backend
from fansi.config import Settings
from fansi.errors import ConfigError
from fansi.serve.app import create_app
from fansi.serve.guard import is_loopback
from fansi.serve.service import Limits, Service

#: Seconds open streams get to end when the server stops.
GRACE_S = 3


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Naming the protocol matters: asyncio sets TCP_NODELAY only on sockets
    # whose proto is IPPROTO_TCP, and without it every answer on a kept-alive
    # connection waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                          hint="Pick another --port, or stop what listens there.") from exc
    sock.setblocking(False)
    return sock


class _Uvicorn(uvicorn.Server):
    """uvicorn that ends the service's streams as it starts to shut down, so
    that open event streams do not hold the shutdown for its whole grace."""

    def __init__(self, service: Service, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.service = service

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.service.close_streams()
        await super().shutdown(sockets)
        # uvicorn raises the signal that stopped it again once it has shut
        # down; fansi has its own service to stop first, and then exits.
        self._captured_signals.clear()


class Server:
    """A fansi service behind uvicorn.

    Args:
        settings: The server's settings (its defaults and caps).
        host: Where to listen; off loopback a token is required.
        port: The port; 0 picks a free one (see :attr:`url` once bound).
        token: The bearer token, or None.
        limits: Queue and size limits.
        backend: A backend to serve instead of ``settings.model`` (tests).
        verifier: A verifying backend to use instead of ``settings.verifier_model``.
    """

    def __init__(self, settings: Settings, *, host: str = "127.0.0.1", port: int = 8000,
                 token: str | None = None, limits: Limits | None = None,
                 backend: Backend | None = None, verifier: Backend | None = None) -> None:
        self.service = Service(settings, backend=backend, verifier=verifier, limits=limits)
        self.app = create_app(self.service, token=token, public=not is_loopback(host))
        self.host = host
        #: Called once the service has started and the socket listens.
        self.on_ready: Callable[[], None] | None = None
        self.socket = bind(host, port)
        self.port: int = self.socket.getsockname()[1]
        self._uvicorn = _Uvicorn(self.service, uvicorn.Config(
            self.app, lifespan="off", log_level="warning", timeout_graceful_shutdown=GRACE_S,
            access_log=False))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def started(self) -> bool:
        return bool(self._uvicorn.started)

    async def serve(self) -> None:
        """Start the service, serve until :meth:`stop` (or Ctrl-C), then stop the service.

        Raises:
            FansiError: The service cannot start (store, model, check pool).
        """
        try:
            await self.service.start()
            if self.on_ready is not None:
                self.on_ready()
            await self._uvicorn.serve(sockets=[self.socket])
        finally:
            await self.service.stop()
            self.socket.close()

    def stop(self) -> None:
        """Ask the server to stop (from any thread)."""
        self._uvicorn.should_exit = True

    def run(self) -> None:
        """:meth:`serve` on a fresh event loop."""
        asyncio.run(self.serve())


__all__ = ["Server", "bind"]
