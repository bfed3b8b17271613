"""Models for the Ray tests, importable by the workers (the conftest puts this
folder on their path).

The scripted model answers by content alone, so any worker, in any process,
answers a call as any other would, and a batch over Ray can be compared with
one on a single machine. It can log every call it is asked (its cache key, one
line each, appended) so a test counts what the model was asked for.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fansi.backends import Backend
from fansi.backends.fake import FakeBackend, Reply
from fansi.config import Settings
from fansi.errors import BackendServerError
from fansi.parse import META_SCHEMA, VERDICT_SCHEMA
from fansi.records import GenerateParams, Message
from fansi.store import cache_key

from scripted_model import candidate_text, meta, step_of, under_review, verdict

NAME = "scripted"
#: The engine's schemas by their JSON text, as a server receives them.
SCHEMAS = {json.dumps(json.loads(json.dumps(s)), sort_keys=True): s
           for s in (VERDICT_SCHEMA, META_SCHEMA)}


def _hash(*parts: object) -> int:
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:12], 16)


def reply(messages: Sequence[Message], params: GenerateParams) -> Reply:
    """A reply that depends on the request only: candidates GOOD, BAD or MINOR
    by a hash of the prompt and seed; verdicts by the marker under review."""
    step = step_of(messages, params)
    text = "\n".join(m.content for m in messages)
    pick = _hash(text, params.seed)
    if "POISON" in text and step == "generate":
        os._exit(1)  # the worker process dies, every time
    if "FLAKY" in text:
        return BackendServerError("HTTP 500 from the scripted server")
    if step == "generate":
        marker = ("GOOD", "BAD", "MINOR")[pick % 3]
        return candidate_text(f"{marker} work \\boxed{{{pick % 5}}}")
    if step == "refine":
        return candidate_text(f"GOOD after revision \\boxed{{{pick % 5}}}")
    if step in ("program", "claims"):
        return "Nothing to test."
    if step == "meta":
        return meta(pick % 2 == 0)
    reviewed = under_review(messages)
    if "BAD" in reviewed:
        return verdict(0, ("fatal", "the key step is false"))
    if "MINOR" in reviewed:
        return verdict(0.5, ("minor", "a small gap"))
    return verdict(1)


@dataclass(frozen=True)
class Scripted:
    """Builds the scripted model on a worker (a picklable backend factory).

    Attributes:
        latency_s: Seconds per call.
        log: A file to append each call's cache key to.
    """

    latency_s: float = 0.0
    log: str | None = None

    def __call__(self, spec: str, settings: Settings) -> Backend:
        return self.backend()

    def backend(self) -> FakeBackend:
        def script(messages: Sequence[Message], params: GenerateParams) -> Reply:
            if self.log is not None:
                line = cache_key(NAME, messages, params) + "\n"
                with open(self.log, "a", encoding="utf-8") as f:
                    f.write(line)
            return reply(messages, params)

        return FakeBackend(script, name=NAME, latency_s=self.latency_s)


def asked(log: Path) -> list[str]:
    """The cache keys the model was asked for, in order."""
    return log.read_text().split() if log.exists() else []


class EchoServer:
    """An OpenAI-compatible server on loopback that answers by content (the
    scripted model's replies), logs each request, and can be stopped mid-run.

    Attributes:
        url: The API root, ``http://127.0.0.1:PORT/v1``.
        requests: The body digest of each request, in order.
    """

    def __init__(self, latency_s: float = 0.0) -> None:
        self.requests: list[str] = []
        self.latency_s = latency_s
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append(hashlib.sha256(
                    json.dumps(body, sort_keys=True).encode()).hexdigest())
                time.sleep(owner.latency_s)
                messages = [Message(m["role"], m["content"]) for m in body["messages"]]
                schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema")
                params = GenerateParams(seed=body.get("seed"), json_schema=SCHEMAS.get(
                    json.dumps(schema, sort_keys=True)))
                answer = reply(messages, params)
                text = answer if isinstance(answer, str) else "{}"
                data = json.dumps({
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": len(json.dumps(body)) // 4,
                              "completion_tokens": len(text.split())},
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and close the port: new connections are refused."""
        self._server.shutdown()
        self._server.server_close()


def _timeless(value: Any, drop: frozenset[str] = frozenset()) -> Any:
    """``value`` without what differs from one run to the next: times, durations,
    the folder it was stored in, and the order in which concurrent steps
    finished (lists of records are sorted)."""
    if isinstance(value, dict):
        return {k: _timeless(v, drop) for k, v in value.items()
                if k not in ("created_at", "seconds", "latency_s", "home", *drop)}
    if isinstance(value, list | tuple):
        items = [_timeless(v, drop) for v in value]
        return sorted(items, key=repr) if any(isinstance(v, dict) for v in items) else items
    return value


def stored(db: Path) -> dict[str, Any]:
    """Every run in a store with its records, and every call, apart from times.

    Problems share calls (a check of a candidate's text alone, say), so which
    run made a shared call first, and which found it cached, is a matter of
    timing, on one machine as on many: the calls are compared as one set, and
    the runs' ``cached_calls`` are left out.
    """
    from fansi.records import to_dict
    from fansi.store import Store

    with Store.open(db) as store:
        runs = {summary.id: _timeless(to_dict(store.run_tree(summary.id)),
                                      frozenset({"cached_calls"}))
                for summary in store.runs()}
        calls = sorted((c.cache_key or "", c.completion.text if c.completion else "",
                        c.error or "") for c in store.calls())
        return {"runs": runs, "calls": calls}


async def one_machine(problems: Sequence[Any], settings: Settings, model: Scripted
                      ) -> list[dict[str, Any]]:
    """The batch as ``fansi.api.asolve_many`` runs it on one machine, on the
    scripted model (which asolve_many cannot be given): summary lines, by index."""
    import asyncio

    from fansi import api
    from fansi.checks import CheckPool
    from fansi.store import Store

    backend = model.backend()
    gate = asyncio.Semaphore(settings.concurrency)
    lines: list[dict[str, Any]] = []
    with Store.open(settings.store_path) as store, CheckPool() as checks:

        async def one(index: int, problem: Any) -> None:
            async with gate:
                done = await api.run_stored(problem, settings,
                                            run_id=api.stable_run_id(problem, settings),
                                            backend=backend, store=store, checks=checks)
            lines.append(api.summary(index, problem, api.result_dict(done.result),
                                     skipped=False))

        await asyncio.gather(*(one(i, p) for i, p in enumerate(problems)))
    return sorted(lines, key=lambda line: line["index"])


def timeless_lines(lines: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Summary lines by index, apart from times and ``cached_calls`` (see :func:`stored`)."""
    return sorted((_timeless(line, frozenset({"cached_calls"})) for line in lines),
                  key=lambda line: line["index"])
