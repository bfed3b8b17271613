"""The in-process llama.cpp backend on SmolLM2-135M: plumbing only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fansi.backends.llamacpp import LlamaCppBackend
from fansi.models import TINY, ensure_packaged
from fansi.records import GenerateParams, Message

pytestmark = pytest.mark.tiny

MSG = [Message("user", "Count from one to ten.")]


@pytest.fixture
async def tiny(shared_models: Path) -> AsyncIterator[LlamaCppBackend]:
    path = ensure_packaged(TINY, shared_models)
    backend = LlamaCppBackend(path, name="tiny", family="smollm2", n_ctx=1024, n_threads=2)
    yield backend
    await backend.aclose()


async def test_usage_and_length_stop(tiny: LlamaCppBackend) -> None:
    out = await tiny.generate(MSG, GenerateParams(max_tokens=5, temperature=0.0))
    assert out.stop_reason == "length"
    assert out.usage.completion_tokens == 5
    assert out.usage.prompt_tokens > 10
    assert out.model == "tiny"
    assert out.latency_s > 0


async def test_natural_stop_is_stop(tiny: LlamaCppBackend) -> None:
    out = await tiny.generate(
        [Message("user", "Say yes.")], GenerateParams(max_tokens=200, temperature=0.0)
    )
    assert out.stop_reason == "stop"
    assert "<|im_end|>" not in out.text
    assert 0 < out.usage.completion_tokens < 200


async def test_seed_reproduces_text(tiny: LlamaCppBackend) -> None:
    params = GenerateParams(max_tokens=24, temperature=1.0, seed=1234)
    first = await tiny.generate(MSG, params)
    # Another call in between moves the KV cache and the sampler state.
    await tiny.generate([Message("user", "Hello")], GenerateParams(max_tokens=8, seed=9))
    second = await tiny.generate(MSG, params)
    assert first.text == second.text
    other = await tiny.generate(MSG, GenerateParams(max_tokens=24, temperature=1.0, seed=99))
    assert other.text != first.text


async def test_concurrent_calls_all_complete(tiny: LlamaCppBackend) -> None:
    prompts = [f"Write the number {i} in words." for i in range(4)]
    outs = await asyncio.gather(
        *(tiny.generate([Message("user", p)], GenerateParams(max_tokens=6, seed=i))
          for i, p in enumerate(prompts))
    )
    assert len(outs) == 4
    assert all(o.usage.completion_tokens > 0 for o in outs)


async def test_streaming_pieces_make_the_text(tiny: LlamaCppBackend) -> None:
    pieces: list[str] = []
    out = await tiny.generate(MSG, GenerateParams(max_tokens=12, seed=1), on_token=pieces.append)
    await asyncio.sleep(0)  # let call_soon_threadsafe callbacks run
    assert pieces
    assert "".join(pieces) == out.text


async def test_json_schema_is_enforced(tiny: LlamaCppBackend) -> None:
    schema = {
        "type": "object",
        "properties": {"score": {"enum": [0, 0.5, 1]}},
        "required": ["score"],
        "additionalProperties": False,
    }
    out = await tiny.generate(
        [Message("user", "Grade this: 1+1=3. Answer in JSON.")],
        GenerateParams(max_tokens=40, seed=3, json_schema=schema),
    )
    assert json.loads(out.text)["score"] in (0, 0.5, 1)


async def test_cancel_frees_the_worker(tiny: LlamaCppBackend) -> None:
    started = asyncio.Event()
    essay = [Message("user", "Write a very long essay on the history of Rome.")]
    params = GenerateParams(max_tokens=900, seed=5)
    long = asyncio.create_task(tiny.generate(essay, params, on_token=lambda _: started.set()))
    await started.wait()
    long.cancel()
    with pytest.raises(asyncio.CancelledError):
        await long
    nxt = await tiny.generate(MSG, GenerateParams(max_tokens=3))
    assert nxt.usage.completion_tokens == 3
    # The worker stopped the cancelled call early instead of finishing 900 tokens.
    assert tiny.stats.cancelled == 1
    assert tiny.stats.completion_tokens < 900


async def test_context_overflow_is_data(tiny: LlamaCppBackend) -> None:
    out = await tiny.generate([Message("user", "word " * 2000)], GenerateParams(max_tokens=5))
    assert out.stop_reason == "length"
    assert out.text == ""
    assert out.usage.prompt_tokens > 1024
