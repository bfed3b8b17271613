"""The service's guard, in front of every route: token, Host and Origin, body size.

- **A token** is required on every route but the page's shell when the server
  was given one, and a server that listens off loopback must be given one.
  It comes as ``Authorization: Bearer TOKEN`` or, for the page (a browser's
  EventSource cannot send headers), as the session cookie that
  ``POST /api/session`` trades for it: SameSite=Strict and HttpOnly, holding an
  HMAC of the token rather than the token. Both are compared in constant time.
- **On loopback without a token** the Host header, and the Origin header when
  there is one, must name a loopback host. A web page elsewhere that points
  its own domain at 127.0.0.1 (DNS rebinding) is refused.
- **Bodies** are read whole, up to ``max_body`` bytes, before any route sees
  them; a larger one answers 413.

It is plain ASGI, so that a refusal costs no routing and cannot be skipped by
a route that forgets a dependency.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "fansi_session"
#: Paths anyone may load: the page's shell, its static files, the API's
#: description, and the door that trades a token for the session cookie.
OPEN_PATHS = ("/", "/openapi.json", "/api/session", "/favicon.ico")
OPEN_PREFIXES = ("/static/", "/runs/")
#: The page runs only its own script, and nothing may frame it. KaTeX's
#: error marks carry a style attribute, which is inert.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")


def is_loopback(host: str) -> bool:
    """Whether a host name or address (without a port) is this machine's loopback."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_of(value: str) -> str:
    """The host of a Host header (``name:port``, ``[::1]:port``)."""
    value = value.strip()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


def session_value(token: str) -> str:
    """What the session cookie holds for ``token``: a keyed digest, not the token."""
    return hmac.new(token.encode(), b"fansi-session", hashlib.sha256).hexdigest()


def same(given: str, wanted: str) -> bool:
    return hmac.compare_digest(given.encode(), wanted.encode())


def _cookie(headers: dict[str, str]) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return None


def authorized(headers: dict[str, str], token: str) -> bool:
    """Whether a request carries ``token``: as a bearer token or as the session cookie."""
    scheme, _, given = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and same(given.strip(), token):
        return True
    cookie = _cookie(headers)
    return cookie is not None and same(cookie, session_value(token))


def foreign_origin(headers: dict[str, str]) -> str | None:
    """On a token-less loopback server: why the Host or Origin is refused, or None."""
    host = host_of(headers.get("host", ""))
    if not is_loopback(host):
        return f"the Host {host or '(none)'!r} is not a loopback name of this server"
    origin = headers.get("origin")
    if origin is not None:
        parsed = urlsplit(origin)
        if parsed.scheme not in ("http", "https") or not is_loopback(parsed.hostname or ""):
            return f"requests from the origin {origin!r} are refused"
    return None


class Guard:
    """ASGI middleware: the rules in the module's docstring.

    Args:
        app: The application behind it.
        token: The token, or None for a loopback server without one.
        max_body: The most bytes a request body may have.
    """

    def __init__(self, app: ASGIApp, *, token: str | None, max_body: int) -> None:
        self.app = app
        self.token = token
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        path: str = scope.get("path", "")
        v1 = path.startswith("/v1/")
        if self.token is None:
            refused = foreign_origin(headers)
            if refused is not None:
                await _refuse(send, 403, refused, v1=v1)
                return
        elif not (path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)) \
                and not authorized(headers, self.token):
            await _refuse(send, 401, "this server needs its token: send `Authorization: "
                          "Bearer TOKEN` (the page asks for it once)", v1=v1,
                          extra=[(b"www-authenticate", b"Bearer")])
            return
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            await _refuse(send, 413, f"the request body is over {self.max_body:,} bytes", v1=v1)
            return
        body = bytearray()
        more = scope["method"] in ("POST", "PUT", "PATCH", "DELETE")
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(b"", message, receive), _secure(send))
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                await _refuse(send, 413, f"the request body is over {self.max_body:,} bytes",
                              v1=v1)
                return
        await self.app(scope, _replay(bytes(body), None, receive), _secure(send))


def _replay(body: bytes, pending: Message | None, receive: Receive) -> Receive:
    """A receive that hands out the body read ahead once, then the real channel."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return pending or {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _secure(send: Send) -> Send:
    """Adds the headers every answer carries."""

    async def secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers += [(b"x-content-type-options", b"nosniff"),
                        (b"referrer-policy", b"no-referrer"),
                        (b"x-frame-options", b"DENY")]
            if any(k.lower() == b"content-type" and v.startswith(b"text/html")
                   for k, v in headers):
                headers.append((b"content-security-policy", CSP.encode()))
            message["headers"] = headers
        await send(message)

    return secured


async def _refuse(send: Send, status: int, message: str, *, v1: bool,
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    """An error answer in the route's own shape: OpenAI's under /v1, FastAPI's elsewhere."""
    body = {"error": {"message": message, "type": "invalid_request_error"}} if v1 \
        else {"detail": message}
    data = json.dumps(body).encode()
    await _secure(send)({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()), *(extra or [])],
    })
    await send({"type": "http.response.body", "body": data})


__all__ = ["COOKIE", "Guard", "authorized", "foreign_origin", "host_of", "is_loopback",
           "session_value"]
