"""The service end to end on SmolLM2-135M (plumbing only: the model writes nonsense)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fansi.store import Store
from serve.serving import server_settings, start, wait_for

pytestmark = [pytest.mark.tiny, pytest.mark.server]

SMALL = {"model": "tiny", "max_tokens": 32, "verify_tokens": 48, "threads": 2, "n": 1, "k": 1,
         "checks": "none"}


def test_the_api_and_the_openai_endpoint_on_smollm2(model_home: Path) -> None:
    live = start(server_settings(model_home, **SMALL))
    try:
        with live.client() as client:
            assert client.get("/api/info").json()["model"] == "tiny"
            run_id = client.post("/api/runs", json={"problem": "What is 3 + 4?"}).json()["id"]
            done = wait_for(client, run_id, seconds=600)
            assert done["status"] == "finished", done["error"]
            assert done["result"]["total_tokens"] > 0
            [candidate] = done["tree"]["candidates"]
            assert candidate["verifications"], "the candidate was verified"
            chat = client.post("/v1/chat/completions", timeout=600, json={
                "model": "fansi", "messages": [{"role": "user", "content": "What is 3 + 4?"}]})
            body = chat.json()
            assert chat.status_code == 200, body
            # The same question is the same run, answered from the store.
            assert body["fansi"]["run_id"] == run_id
            assert body["choices"][0]["message"]["content"] == \
                done["result"]["best"]["solution"]
    finally:
        live.stop()
    with Store.open(model_home / "fansi.db") as store:
        record = store.run(run_id)
    assert record is not None and record.status == "done"
    assert record.model_checksum is not None  # the packaged model's sha256
