"""Benchmark of `fansi serve` on the fake backend (not a test; run it by hand).

    python benchmarks/serve.py [--clients 50] [--seconds 5]

Starts `fansi serve --model fake` in a subprocess on loopback (its own
FANSI_HOME in a temporary folder) and measures, from one client process:

1. requests per second: ``--clients`` concurrent clients reading
   ``GET /api/runs/{id}`` for ``--seconds``;
2. event latency: ``--clients`` runs submitted at once, each followed on its
   own event stream; latency is when the client read an event minus when
   the server stored it (``at``), over every numbered event;
3. the server's added cost per run: runs made one after another through the
   server (POST, then the stream until ``job_finished``) against the same
   runs made in-process with ``fansi.api.run_stored``, on fresh problems.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
from httpx_sse import aconnect_sse


def start(home: Path) -> tuple[subprocess.Popen[str], str]:
    exe = Path(sys.executable).with_name("fansi")
    child = subprocess.Popen([str(exe), "serve", "--model", "fake", "--port", "0",
                              "--queue", "1000"], stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "FANSI_HOME": str(home)})
    assert child.stderr is not None
    first = child.stderr.readline()
    assert first.startswith("fansi serve: "), first
    return child, first.split()[-1].rstrip("/")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _get(host: str, port: int, path: str, stop: float) -> int:
    """One kept-alive connection asking for ``path`` until ``stop``: a minimal
    HTTP/1.1 client, so that the client's cost does not hide the server's."""
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    done = 0
    try:
        while time.monotonic() < stop:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head[:40]
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            done += 1
    finally:
        writer.close()
    return done


async def requests_per_second(url: str, clients: int, seconds: float, run_id: str) -> float:
    parts = httpx.URL(url)
    assert parts.port is not None
    started = time.monotonic()
    counts = await asyncio.gather(*(_get(parts.host, parts.port, f"/api/runs/{run_id}",
                                         started + seconds) for _ in range(clients)))
    return sum(counts) / (time.monotonic() - started)


async def follow(http: httpx.AsyncClient, problem: str) -> tuple[float, list[float]]:
    """Submit a problem and read its stream: (seconds to job_finished, event latencies)."""
    started = time.monotonic()
    run_id = (await http.post("/api/runs", json={"problem": problem})).json()["id"]
    latencies: list[float] = []
    async with aconnect_sse(http, "GET", f"/api/runs/{run_id}/events") as source:
        async for event in source.aiter_sse():
            if event.event == "token":
                continue
            data = json.loads(event.data)
            stored = datetime.fromisoformat(data["at"].replace("Z", "+00:00")).timestamp()
            latencies.append(time.time() - stored)
            if event.event in ("job_finished", "job_failed"):
                break
    return time.monotonic() - started, latencies


async def event_latency(url: str, clients: int) -> tuple[list[float], float]:
    async with httpx.AsyncClient(base_url=url, timeout=120,
                                 limits=httpx.Limits(max_connections=clients * 2)) as http:
        started = time.monotonic()
        results = await asyncio.gather(*(follow(http, f"Latency problem {i}: what is {i}+1?")
                                         for i in range(clients)))
        elapsed = time.monotonic() - started
    return [lat for _, lats in results for lat in lats], elapsed


async def through_server(url: str, runs: int) -> list[float]:
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        return [(await follow(http, f"Serial problem {i}: what is {i}*2?"))[0]
                for i in range(runs)]


async def in_process(home: Path, runs: int) -> list[float]:
    from fansi import api
    from fansi.checks import CheckPool
    from fansi.config import load_settings
    from fansi.inputs import problem_from_text
    from fansi.store import Store

    settings = load_settings({"model": "fake", "home": str(home)})
    times = []
    with Store.open(settings.store_path) as store:
        async with CheckPool() as pool:
            for i in range(runs):
                problem = problem_from_text(f"In-process problem {i}: what is {i}*2?",
                                            max_chars=settings.max_problem_chars)
                started = time.monotonic()
                await api.run_stored(problem, settings, store=store, checks=pool,
                                     run_id=api.stable_run_id(problem, settings))
                times.append(time.monotonic() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        child, url = start(Path(tmp) / "served")
        try:
            warm = asyncio.run(through_server(url, 2))
            run_id = httpx.get(f"{url}/api/runs").json()["runs"][0]["id"]
            rps = asyncio.run(requests_per_second(url, args.clients, args.seconds, run_id))
            latencies, elapsed = asyncio.run(event_latency(url, args.clients))
            served = asyncio.run(through_server(url, args.runs))
        finally:
            child.terminate()
            child.wait(30)
        local = asyncio.run(in_process(Path(tmp) / "local", args.runs))
    ms = [1000 * x for x in latencies]
    print(f"warm-up runs: {', '.join(f'{t:.2f}' for t in warm)} s")
    print(f"GET /api/runs/{{id}}: {rps:.0f} requests/s with {args.clients} clients")
    print(f"{args.clients} runs at once: all finished in {elapsed:.1f} s "
          f"({args.clients / elapsed:.1f} runs/s); event latency over {len(ms)} events: "
          f"median {statistics.median(ms):.1f} ms, p95 {pct(ms, 0.95):.1f} ms, "
          f"max {max(ms):.1f} ms")
    s, p = statistics.median(served), statistics.median(local)
    print(f"one run at a time, median of {args.runs}: through the server {1000 * s:.0f} ms, "
          f"in-process {1000 * p:.0f} ms, added {1000 * (s - p):.0f} ms per run")


if __name__ == "__main__":
    main()
