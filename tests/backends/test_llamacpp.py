"""The in-process llama.cpp backend on SmolLM2-135M: plumbing only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backends.logprobs import assert_logprobs
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


async def test_greedy_logprobs_are_the_top_alternatives(tiny: LlamaCppBackend) -> None:
    out = await tiny.generate(MSG, GenerateParams(max_tokens=16, temperature=0.0, logprobs=5))
    assert_logprobs(out, top=5, greedy=True)
    assert out.logprobs is not None
    assert "".join(t.token for t in out.logprobs) == out.text
    assert all(len(t.top) == 5 for t in out.logprobs)
    # Only calls that ask pay for them.
    plain = await tiny.generate(MSG, GenerateParams(max_tokens=4, temperature=0.0))
    assert plain.logprobs is None


async def test_logprobs_under_a_grammar_are_the_unconstrained_distribution(
    tiny: LlamaCppBackend,
) -> None:
    schema = {"type": "object", "properties": {"score": {"enum": [0, 0.5, 1]}},
              "required": ["score"], "additionalProperties": False}
    out = await tiny.generate(
        [Message("user", "Grade this: 1+1=3. Answer in JSON.")],
        GenerateParams(max_tokens=40, temperature=0.0, json_schema=schema, logprobs=3))
    assert json.loads(out.text)["score"] in (0, 0.5, 1)
    assert_logprobs(out, top=3, greedy=False)
    assert out.logprobs is not None
    # Greedy, yet some token is not the top one: the grammar forced it, and
    # its logprob is the model's own, before the grammar.
    assert any(t.logprob < t.top[0][1] for t in out.logprobs)


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


# --- continuous batching -----------------------------------------------------

PROMPTS = [f"Write the number {i} in words and then count to {i + 3}." for i in range(6)]
ESSAY = [Message("user", "Write a very long essay on the history of Rome.")]


def backend_for(path: Path, **kwargs: object) -> LlamaCppBackend:
    # One thread: these tests are about plumbing, and a second thread that
    # spins while the CPU is shared slows every step down many times over.
    options: dict[str, object] = {"n_ctx": 1024, "n_threads": 1, **kwargs}
    return LlamaCppBackend(path, name="tiny", family="smollm2", **options)  # type: ignore[arg-type]


def shared_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


async def test_batched_calls_continue_their_own_prompts(shared_models: Path) -> None:
    """Six greedy calls in one batch each continue their own prompt.

    The texts need not equal the same prompts run alone: llama.cpp chooses
    matrix and attention kernels by batch shape, so a sequence's logits in a
    batch can differ from its logits alone in the last bits, and greedy
    decoding parts ways at the first near-tie (SmolLM2 at Q4_1 has many).
    What holds is that each text starts as its own prompt's solo text does,
    and shares more with it than with any other prompt's.
    """
    path = ensure_packaged(TINY, shared_models)
    params = GenerateParams(max_tokens=16, temperature=0.0)
    batched_backend = backend_for(path)
    try:
        batched = await asyncio.gather(
            *(batched_backend.generate([Message("user", p)], params) for p in PROMPTS))
        assert batched_backend.stats.peak_batch == len(PROMPTS)
    finally:
        await batched_backend.aclose()
    alone_backend = backend_for(path, batch=1)
    try:
        alone = [await alone_backend.generate([Message("user", p)], params) for p in PROMPTS]
    finally:
        await alone_backend.aclose()
    for i, out in enumerate(batched):
        assert out.usage.prompt_tokens == alone[i].usage.prompt_tokens
        own = shared_prefix(out.text, alone[i].text)
        assert own >= 8, (out.text, alone[i].text)
        others = [shared_prefix(out.text, alone[j].text) for j in range(len(PROMPTS)) if j != i]
        assert own > max(others), (out.text, alone[i].text)


async def test_seeded_batch_reproduces_on_a_fresh_cache(shared_models: Path) -> None:
    path = ensure_packaged(TINY, shared_models)
    texts: list[list[str]] = []
    for _ in range(2):
        backend = backend_for(path)
        try:
            outs = await asyncio.gather(*(
                backend.generate(MSG, GenerateParams(max_tokens=20, temperature=1.0, seed=s))
                for s in (11, 12, 13)))
        finally:
            await backend.aclose()
        texts.append([o.text for o in outs])
    assert texts[0] == texts[1]
    # Per-request seeds: one prompt, three seeds, not one text three times.
    assert len(set(texts[0])) > 1


async def test_cancel_frees_the_slot_for_a_queued_call(shared_models: Path) -> None:
    backend = backend_for(ensure_packaged(TINY, shared_models), batch=2)
    try:
        started = asyncio.Event()
        first = asyncio.create_task(backend.generate(
            ESSAY, GenerateParams(max_tokens=900, seed=5), on_token=lambda _: started.set()))
        second = asyncio.create_task(
            backend.generate(ESSAY, GenerateParams(max_tokens=900, temperature=0.0)))
        await started.wait()
        # Both slots are busy: this call queues.
        queued = asyncio.create_task(backend.generate(MSG, GenerateParams(max_tokens=3)))
        await asyncio.sleep(0.05)
        assert not queued.done()
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        out = await queued
        assert out.usage.completion_tokens == 3
        # It ran in the freed slot, next to the other essay, not after it.
        assert not second.done()
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        await backend.generate(MSG, GenerateParams(max_tokens=1))
        assert backend.stats.cancelled == 2
    finally:
        await backend.aclose()


async def test_identical_prompts_are_read_once(tiny: LlamaCppBackend) -> None:
    """k calls with one prompt (the verifications of one candidate) read it once;
    every other call computes only its last prompt token, whose logits it samples."""
    prompt = [Message("user", "Here is a long text to review. " * 30 + "Review it.")]
    k = 4
    outs = await asyncio.gather(
        *(tiny.generate(prompt, GenerateParams(max_tokens=4, seed=i)) for i in range(k)))
    size = outs[0].usage.prompt_tokens
    assert size > 200
    assert tiny.stats.prefill_submitted == k * size
    assert tiny.stats.prefill_computed == size + (k - 1)


async def test_a_finished_call_leaves_its_prefix_for_the_next(tiny: LlamaCppBackend) -> None:
    first = await tiny.generate(MSG, GenerateParams(max_tokens=4, seed=1))
    computed = tiny.stats.prefill_computed
    assert computed == first.usage.prompt_tokens
    longer = [*MSG, Message("assistant", "One, two."), Message("user", "Go on.")]
    second = await tiny.generate(longer, GenerateParams(max_tokens=4, seed=2))
    # The second prompt starts with the first one's turn, minus its header.
    fresh = tiny.stats.prefill_computed - computed
    assert 0 < fresh < second.usage.prompt_tokens - first.usage.prompt_tokens + 8


async def test_usage_is_exact_for_each_call_in_a_batch(tiny: LlamaCppBackend) -> None:
    limits = [1, 3, 7, 12]
    pieces: list[list[str]] = [[] for _ in limits]
    outs = await asyncio.gather(*(
        tiny.generate(ESSAY, GenerateParams(max_tokens=n, seed=n), on_token=pieces[i].append)
        for i, n in enumerate(limits)))
    await asyncio.sleep(0)
    for n, out, streamed in zip(limits, outs, pieces, strict=True):
        if out.stop_reason == "length":
            assert out.usage.completion_tokens == n
        else:
            assert out.stop_reason == "stop"
            assert out.usage.completion_tokens < n
        assert "".join(streamed) == out.text
    assert sum(o.usage.completion_tokens for o in outs) == tiny.stats.completion_tokens


async def test_json_schema_holds_in_a_mixed_batch(tiny: LlamaCppBackend) -> None:
    schema = {
        "type": "object",
        "properties": {"score": {"enum": [0, 0.5, 1]}},
        "required": ["score"],
        "additionalProperties": False,
    }
    calls = [
        tiny.generate([Message("user", f"Grade this: 1+1={i}. Answer in JSON.")],
                      GenerateParams(max_tokens=40, seed=i,
                                     json_schema=schema if i % 2 == 0 else None))
        for i in range(6)
    ]
    outs = await asyncio.gather(*calls)
    for out in outs[::2]:
        assert out.stop_reason == "stop"
        assert json.loads(out.text)["score"] in (0, 0.5, 1)
    assert tiny.stats.peak_batch == 6


async def test_a_full_cache_preempts_and_resumes(shared_models: Path) -> None:
    """Four long calls in a cache with room for about one: the newest is sent
    back to the queue when a step does not fit, and every call still ends
    with its full length."""
    backend = backend_for(ensure_packaged(TINY, shared_models),
                          n_ctx=256, kv_cells=256, batch=4)
    try:
        outs = await asyncio.gather(*(
            backend.generate(ESSAY, GenerateParams(max_tokens=80, seed=s)) for s in range(4)))
    finally:
        await backend.aclose()
    assert backend.stats.preempted > 0
    for out in outs:
        if out.stop_reason == "length":
            assert out.usage.completion_tokens == 80
        else:
            assert out.usage.completion_tokens < 80
    assert backend.stats.calls == 4


async def test_batch_setting_sets_concurrency(model_home: Path) -> None:
    from fansi.config import load_settings
    from fansi.models import parse_spec

    settings = load_settings({"batch": 3})
    backend = LlamaCppBackend.from_spec(parse_spec("tiny"), settings)
    assert backend.max_concurrency == 3
    outs = await asyncio.gather(
        *(backend.generate(MSG, GenerateParams(max_tokens=2, seed=i)) for i in range(5)))
    await backend.aclose()
    assert all(o.usage.completion_tokens == 2 for o in outs)
    assert backend.stats.peak_batch == 3


async def test_a_file_that_is_not_a_model_fails_each_call(tmp_path: Path) -> None:
    from fansi.errors import ModelError

    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model" * 100)
    backend = LlamaCppBackend(junk, n_threads=1)
    try:
        for _ in range(2):  # the worker outlives the failure
            with pytest.raises(ModelError):
                await backend.generate(MSG, GenerateParams(max_tokens=1))
    finally:
        await backend.aclose()
