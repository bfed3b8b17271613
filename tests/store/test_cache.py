"""The call cache: hits, misses, failures, cancellations and durability."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from fansi.backends import Backend
from fansi.backends.fake import FakeBackend
from fansi.errors import BackendUnavailable
from fansi.records import Completion, GenerateParams, Message, Problem, TokenLogprob, Usage
from fansi.store import CachedBackend, Store, cache_key

SRC = Path(__file__).resolve().parents[2] / "src"
PROMPT = (Message("system", "You are careful."), Message("user", "Prove 1 + 1 = 2."))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "fansi.db") as store:
        yield store


def test_the_key_is_stable_and_tells_apart_model_messages_and_params() -> None:
    base = cache_key("m", PROMPT, GenerateParams(seed=1, temperature=0.7))
    assert base == cache_key("m", list(PROMPT), GenerateParams(temperature=0.7, seed=1))
    # The recipe, written out: changing it without bumping KEY_VERSION fails here.
    recipe = {
        "version": 2,
        "identity": "m",
        "messages": [["system", "You are careful."], ["user", "Prove 1 + 1 = 2."]],
        "params": GenerateParams(seed=1, temperature=0.7).key(),
    }
    canonical = json.dumps(recipe, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert base == hashlib.sha256(canonical.encode()).hexdigest()
    variants = {
        cache_key("other", PROMPT, GenerateParams(seed=1, temperature=0.7)),
        cache_key("m", PROMPT, GenerateParams(seed=2, temperature=0.7)),
        cache_key("m", PROMPT, GenerateParams(seed=1, temperature=0.8)),
        cache_key("m", PROMPT[1:], GenerateParams(seed=1, temperature=0.7)),
        cache_key("m", (Message("user", "You are careful."), PROMPT[1]), GenerateParams(seed=1)),
        cache_key("m", PROMPT, GenerateParams(seed=1, temperature=0.7, stop=("\n",))),
    }
    assert base not in variants and len(variants) == 6


def test_the_wrapper_looks_like_its_backend_and_closes_it(store: Store) -> None:
    fake = FakeBackend(["x"], name="fake-7", max_concurrency=3)
    cached: Backend = CachedBackend(fake, store)
    assert (cached.name, cached.supports_schema, cached.max_concurrency) == ("fake-7", False, 3)
    asyncio.run(cached.aclose())
    assert fake.closed


async def test_a_repeated_call_is_answered_from_the_store(store: Store) -> None:
    fake = FakeBackend(["one two three"])
    run_id = store.create_run(Problem("p"), settings={}, fansi_version="0", model="fake")
    cached = CachedBackend(fake, store, run_id=run_id)
    params = GenerateParams(seed=11, max_tokens=50)
    first = await cached.generate(PROMPT, params)
    tokens: list[str] = []
    second = await cached.generate(PROMPT, params, on_token=tokens.append)
    assert len(fake.calls) == 1
    assert (cached.hits, cached.misses) == (1, 1)
    assert not first.cached and second.cached
    assert (second.text, second.stop_reason, second.usage, second.model) == (
        first.text,
        first.stop_reason,
        first.usage,
        first.model,
    )
    assert tokens == ["one two three"]
    [call] = store.calls(run_id)
    assert call.messages == PROMPT and call.params == params
    assert call.completion == first
    assert first.usage == Usage(9, 3)
    assert call.cache_key == cache_key("fake", PROMPT, params)


async def test_one_identity_shares_its_calls_whatever_the_backend_is_named(
    store: Store,
) -> None:
    first = FakeBackend(["from the first"], name="llamacpp:/models/a.gguf")
    moved = FakeBackend(["must not be called"], name="llamacpp:/elsewhere/a.gguf")
    other = FakeBackend(["from another model"], name="llamacpp:/models/a.gguf")
    params = GenerateParams(seed=3)
    one = await CachedBackend(first, store, identity="sha256-aaa").generate(PROMPT, params)
    two = await CachedBackend(moved, store, identity="sha256-aaa").generate(PROMPT, params)
    three = await CachedBackend(other, store, identity="sha256-bbb").generate(PROMPT, params)
    assert (one.text, two.text, three.text) == ("from the first",) * 2 + ("from another model",)
    assert (two.cached, three.cached) == (True, False)
    assert (len(first.calls), moved.calls, len(other.calls)) == (1, [], 1)
    assert [c.cache_key for c in store.calls()] == [
        cache_key("sha256-aaa", PROMPT, params),
        cache_key("sha256-bbb", PROMPT, params),
    ]
    # The stored call still names the backend the user saw.
    assert [c.model for c in store.calls()] == ["llamacpp:/models/a.gguf"] * 2


def test_the_identity_defaults_to_the_backend_name(store: Store) -> None:
    assert CachedBackend(FakeBackend(["x"], name="fake-9"), store).identity == "fake-9"
    named = CachedBackend(FakeBackend(["x"], name="fake-9"), store, identity="sha256-ccc")
    assert (named.identity, named.name) == ("sha256-ccc", "fake-9")


async def test_a_replayed_call_reads_the_same_log_probabilities(tmp_path: Path) -> None:
    logprobs = (
        TokenLogprob("SCORE", -0.01, (("SCORE", -0.01), ("Score", -4.75))),
        TokenLogprob("1", -0.3125, (("1", -0.3125), ("0", -1.5), ("0.5", float("-inf")))),
    )
    made = Completion("SCORE 1", "stop", Usage(7, 2), 0.2, "fake", logprobs=logprobs)
    params = GenerateParams(seed=1, logprobs=3)
    path = tmp_path / "fansi.db"
    with Store.open(path) as store:
        assert await CachedBackend(FakeBackend([made]), store).generate(PROMPT, params) == made
    with Store.open(path) as store:
        replay = await CachedBackend(FakeBackend(["not this"]), store).generate(PROMPT, params)
        [call] = store.calls()
    assert replay.cached and replay.logprobs == logprobs
    assert call.completion == made
    # Asking for no log-probabilities is another call.
    assert cache_key("fake", PROMPT, params) != cache_key("fake", PROMPT, GenerateParams(seed=1))


async def test_another_seed_is_another_call(store: Store) -> None:
    fake = FakeBackend(lambda messages, params: f"sample {params.seed}")
    cached = CachedBackend(fake, store)
    texts = [(await cached.generate(PROMPT, GenerateParams(seed=s))).text for s in (1, 2, 1)]
    assert texts == ["sample 1", "sample 2", "sample 1"]
    assert len(fake.calls) == 2
    assert (cached.hits, cached.misses) == (1, 2)


async def test_the_cache_outlives_the_process_that_filled_it(tmp_path: Path) -> None:
    path = tmp_path / "fansi.db"
    with Store.open(path) as store:
        await CachedBackend(FakeBackend(["kept"]), store).generate(PROMPT, GenerateParams())
    fake = FakeBackend(["not this"])
    with Store.open(path) as store:
        completion = await CachedBackend(fake, store).generate(PROMPT, GenerateParams())
    assert (completion.text, completion.cached, fake.calls) == ("kept", True, [])


async def test_a_failed_call_is_recorded_and_made_again(store: Store) -> None:
    fake = FakeBackend([BackendUnavailable("server went away"), "recovered"])
    cached = CachedBackend(fake, store)
    with pytest.raises(BackendUnavailable, match="went away"):
        await cached.generate(PROMPT, GenerateParams(seed=5))
    [failed] = store.calls()
    assert failed.error == "BackendUnavailable: server went away"
    assert failed.completion is None and failed.cache_key is None
    assert failed.messages == PROMPT

    again = await cached.generate(PROMPT, GenerateParams(seed=5))
    assert (again.text, again.cached, len(fake.calls)) == ("recovered", False, 2)
    third = await cached.generate(PROMPT, GenerateParams(seed=5))
    assert (third.text, third.cached, len(fake.calls)) == ("recovered", True, 2)
    assert [c.error is None for c in store.calls()] == [False, True]


async def test_a_cancelled_completion_is_recorded_but_not_replayed(store: Store) -> None:
    cut = Completion("half a pro", "cancelled", Usage(5, 3), 0.1, "fake")
    fake = FakeBackend([cut])
    cached = CachedBackend(fake, store)
    for _ in range(2):
        assert (await cached.generate(PROMPT, GenerateParams(seed=1))) == cut
    assert len(fake.calls) == 2 and cached.hits == 0
    calls = store.calls()
    assert [c.cache_key for c in calls] == [None, None]
    assert [c.completion for c in calls] == [cut, cut]


async def test_a_truncated_completion_is_data_and_is_cached(store: Store) -> None:
    fake = FakeBackend(["a b c d e f"])
    cached = CachedBackend(fake, store)
    params = GenerateParams(seed=1, max_tokens=2)
    first = await cached.generate(PROMPT, params)
    second = await cached.generate(PROMPT, params)
    assert first.stop_reason == second.stop_reason == "length"
    assert (second.text, second.cached, len(fake.calls)) == ("a b", True, 1)


async def test_concurrent_calls_are_all_stored(store: Store) -> None:
    fake = FakeBackend(lambda messages, params: f"s{params.seed}", latency_s=0.01)
    cached = CachedBackend(fake, store)
    params = [GenerateParams(seed=s) for s in range(20)]
    results = await asyncio.gather(*(cached.generate(PROMPT, p) for p in params))
    assert [r.text for r in results] == [f"s{s}" for s in range(20)]
    assert sorted(c.completion.text for c in store.calls() if c.completion) == sorted(
        f"s{s}" for s in range(20)
    )


CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys

    from fansi.backends.fake import FakeBackend
    from fansi.records import Candidate, GenerateParams, Message, Problem
    from fansi.store import CachedBackend, Store


    async def main() -> None:
        store = Store.open(sys.argv[1])
        run_id = store.create_run(
            Problem("durable?"), settings={}, fansi_version="0", model="fake", run_id="r1"
        )
        store.add_candidate(run_id, Candidate("c1", "proof", "fine", 1.0, None))
        backend = CachedBackend(FakeBackend(["written before the kill"]), store, run_id)
        await backend.generate([Message("user", "hi")], GenerateParams(seed=7))
        os.kill(os.getpid(), signal.SIGKILL)


    asyncio.run(main())
    """
)


async def test_a_call_survives_kill_9_right_after_it_returns(tmp_path: Path) -> None:
    path = tmp_path / "fansi.db"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], env=env, capture_output=True, timeout=120
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()

    fake = FakeBackend(["must not be called"])
    with Store.open(path) as store:
        [call] = store.calls("r1")
        assert call.completion is not None
        assert call.completion.text == "written before the kill"
        assert [r.id for r in store.unfinished_runs()] == ["r1"]
        assert [c.id for c in store.candidates("r1")] == ["c1"]
        cached = CachedBackend(fake, store, "r1")
        replay = await cached.generate([Message("user", "hi")], GenerateParams(seed=7))
    assert (replay.text, replay.cached, fake.calls) == ("written before the kill", True, [])
