"""The guard: tokens (bearer and session cookie), Host and Origin on a loopback
server without one, and the rule that a public server needs a token."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from fansi.config import load_settings
from fansi.errors import ConfigError
from fansi.serve.app import create_app
from fansi.serve.guard import (
    COOKIE,
    authorized,
    foreign_origin,
    host_of,
    is_loopback,
    session_value,
)
from fansi.serve.service import Service
from serve.serving import Live

TOKEN = "correct-horse-battery"


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("LOCALHOST.", True),
    ("app.localhost", True), ("::1", True), ("[::1]", True), ("0.0.0.0", False),
    ("::", False), ("192.168.1.5", False), ("example.com", False), ("localhost.evil.com", False),
    ("", False),
])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_host_headers_lose_their_port() -> None:
    assert [host_of(h) for h in ("127.0.0.1:8000", "[::1]:80", "localhost", "evil.com:1")] \
        == ["127.0.0.1", "::1", "localhost", "evil.com"]


def test_a_token_is_read_from_the_header_or_the_cookie_only_when_right() -> None:
    assert authorized({"authorization": f"Bearer {TOKEN}"}, TOKEN)
    assert authorized({"authorization": f"bearer  {TOKEN} "}, TOKEN)
    assert not authorized({"authorization": "Bearer nope"}, TOKEN)
    assert not authorized({"authorization": TOKEN}, TOKEN)
    assert not authorized({}, TOKEN)
    cookie = f"other=1; {COOKIE}={session_value(TOKEN)}"
    assert authorized({"cookie": cookie}, TOKEN)
    assert not authorized({"cookie": f"{COOKIE}={TOKEN}"}, TOKEN)  # it holds a digest
    assert session_value(TOKEN) != session_value(TOKEN + "x")


def test_rebinding_hosts_and_foreign_origins_are_named() -> None:
    assert foreign_origin({"host": "127.0.0.1:8000"}) is None
    assert foreign_origin({"host": "localhost:8000", "origin": "http://localhost:8000"}) is None
    assert "evil.example" in (foreign_origin({"host": "evil.example:8000"}) or "")
    assert "origin" in (foreign_origin({"host": "127.0.0.1", "origin": "https://evil.example"})
                        or "")
    assert foreign_origin({"host": "127.0.0.1", "origin": "null"}) is not None
    assert foreign_origin({}) is not None


def test_a_server_off_loopback_needs_a_token() -> None:
    service = Service(load_settings({"model": "fake"}))
    with pytest.raises(ConfigError, match="needs a token"):
        create_app(service, token=None, public=True)
    assert create_app(service, token=TOKEN, public=True) is not None


@pytest.mark.server
def test_with_a_token_every_route_but_the_page_needs_it(serve: Callable[..., Live]) -> None:
    live = serve(token=TOKEN)
    with live.client() as anonymous:
        for method, path in [("GET", "/api/runs"), ("GET", "/api/info"),
                             ("POST", "/api/runs"), ("GET", "/api/runs/x/events"),
                             ("DELETE", "/api/runs/x"), ("GET", "/fragments/runs/x"),
                             ("GET", "/v1/models")]:
            answer = anonymous.request(method, path)
            assert answer.status_code == 401, (method, path)
            assert answer.headers["www-authenticate"] == "Bearer"
        assert "error" in anonymous.get("/v1/models").json()
        assert "token" in anonymous.get("/api/runs").json()["detail"]
        for path in ("/", "/runs/abc", "/static/app.js", "/openapi.json"):
            assert anonymous.get(path).status_code == 200, path
    with live.client(headers={"Authorization": "Bearer wrong"}) as wrong:
        assert wrong.get("/api/runs").status_code == 401
    with live.client(headers={"Authorization": f"Bearer {TOKEN}"}) as right:
        assert right.get("/api/runs").status_code == 200
        assert right.post("/api/runs", json={"problem": "What is 1+1?"}).status_code == 202


@pytest.mark.server
def test_the_page_trades_the_token_for_a_strict_httponly_cookie(serve: Callable[..., Live]
                                                                 ) -> None:
    live = serve(token=TOKEN)
    with live.client() as browser:
        refused = browser.post("/api/session", json={"token": "guess"})
        assert refused.status_code == 401 and COOKIE not in browser.cookies
        accepted = browser.post("/api/session", json={"token": TOKEN})
        assert accepted.status_code == 204
        cookie = accepted.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert TOKEN not in cookie
        assert browser.get("/api/info").json()["token_required"] is True


@pytest.mark.server
def test_loopback_without_a_token_works_but_refuses_foreign_hosts(live: Live) -> None:
    with live.client() as client:
        assert client.get("/api/info").json()["token_required"] is False
        assert client.get("/api/runs").status_code == 200
        rebound = client.get("/api/runs", headers={"Host": "evil.example"})
        assert rebound.status_code == 403 and "evil.example" in rebound.json()["detail"]
        posted = client.post("/api/runs", json={"problem": "x"},
                             headers={"Origin": "https://evil.example"})
        assert posted.status_code == 403
        assert client.post("/api/runs", json={"problem": "What is 1+1?"},
                           headers={"Origin": live.url}).status_code == 202
    # The same server through "localhost" is the same machine.
    port = live.server.port
    assert httpx.get(f"http://localhost:{port}/api/info", timeout=10).status_code == 200


@pytest.mark.server
def test_pages_carry_a_content_security_policy(live: Live) -> None:
    with live.client() as client:
        page = client.get("/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<script src="/static/app.js"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere
