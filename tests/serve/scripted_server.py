"""A fansi server on the scripted model in its own process, for the tests that kill it.

    python scripted_server.py PORT_FILE CALL_LOG LATENCY_S

It serves on 127.0.0.1 and a free port, written to PORT_FILE once it
listens, in the FANSI_HOME of its environment, at effort medium (so that a
run refines). Every model call it starts is appended to CALL_LOG as its cache
key, so a test can tell which calls this process made.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fansi.backends import TokenCallback
from fansi.backends.fake import FakeBackend
from fansi.config import load_settings
from fansi.records import Completion, GenerateParams, Message
from fansi.serve.server import Server
from fansi.store import cache_key

from scripted_model import Model


class Logged(FakeBackend):
    def __init__(self, log: Path, latency_s: float) -> None:
        super().__init__(Model(solutions=["BAD \\boxed{5}"], refined=["GOOD \\boxed{4}"]),
                         latency_s=latency_s, max_concurrency=2)
        self.log = log

    async def generate(self, messages: Sequence[Message], params: GenerateParams,
                       on_token: TokenCallback | None = None) -> Completion:
        with self.log.open("a", encoding="utf-8") as out:
            out.write(cache_key(self.identity, messages, params) + "\n")
        return await super().generate(messages, params, on_token)


def main(port_file: str, call_log: str, latency_s: str) -> None:
    settings = load_settings({"model": "fake", "effort": "medium"})
    server = Server(settings, port=0, backend=Logged(Path(call_log), float(latency_s)))
    server.on_ready = lambda: Path(port_file).write_text(str(server.port), encoding="utf-8")
    server.run()


if __name__ == "__main__":
    main(*sys.argv[1:4])
