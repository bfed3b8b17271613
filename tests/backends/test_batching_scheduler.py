"""The batching worker on a fake model (fake_native.py): batching, prefix
reuse and borrowing, eviction, preemption, cancellation, stop strings and
usage, with exact token counts.

Calls that must start in one step are submitted while the model "loads"
(the worker takes its inbox only after loading); a test acts at an exact
step through the fake's ``on_decode`` hook. Nothing depends on timing.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from backends.fake_native import Copy, Cut, FakeNativeModel, chatml_replies
from fansi.backends.batching import (
    MIN_SHARED,
    Batcher,
    Loaded,
    Request,
    WorkerStats,
    common_prefix,
)
from fansi.backends.templates import TEMPLATES
from fansi.records import Completion, GenerateParams, Message

TEMPLATE = TEMPLATES["chatml"]  # no system prompt, so prompts are just the question
HEAD = len("<|im_start|>user\n")  # what every prompt shares
GREEDY = GenerateParams(temperature=0)

# Long enough that sharing it is worth waiting for (MIN_SHARED tokens).
CONTEXT = "Lemma 3 holds for every prime p > 2 by the argument of section 2. "
assert len(CONTEXT) > MIN_SHARED


def prompt(question: str) -> str:
    return TEMPLATE.render([Message("user", question)])


@dataclass(eq=False)
class Call:
    """One request and what came back for it."""

    question: str
    params: GenerateParams = GREEDY
    pieces: list[str] = field(default_factory=list)
    outcome: Completion | BaseException | None = None
    _done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.request = Request(
            [Message("user", self.question)], self.params, self._deliver, self.pieces.append)

    def _deliver(self, outcome: Completion | BaseException) -> None:
        assert self.outcome is None, "delivered twice"
        self.outcome = outcome
        self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def result(self) -> Completion:
        # A guard against a hung worker, not a measurement.
        assert self._done.wait(30), f"no outcome for {self.question!r}"
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        assert isinstance(self.outcome, Completion)
        return self.outcome

    @property
    def tokens(self) -> list[int]:
        """The prompt's tokens, as the fake model reads them."""
        return [ord(c) for c in prompt(self.question)]

    @property
    def n_prompt(self) -> int:
        return len(self.tokens)


def reusable(call: Call, cached: Call) -> int:
    """How many of ``call``'s prompt tokens ``cached``'s cache can give it
    (never the last: sampling needs its logits)."""
    return common_prefix(call.tokens, cached.tokens, call.n_prompt - 1)


@dataclass
class Worker:
    model: FakeNativeModel
    batcher: Batcher
    stats: WorkerStats
    loading: threading.Event

    def submit(self, *calls: Call) -> None:
        """Submit calls; the first submission's calls start in one step."""
        for call in calls:
            self.batcher.submit(call.request)
        self.loading.set()


Start = Callable[..., Worker]


@pytest.fixture
def start() -> Iterator[Start]:
    workers: list[Worker] = []

    def start(
        replies: dict[str, str], *, slots: int, kv_cells: int = 4096,
        n_ctx: int = 4096, n_batch: int = 512,
    ) -> Worker:
        model = FakeNativeModel(
            chatml_replies(replies), kv_cells=kv_cells, n_seq=slots, n_batch=n_batch)
        loading = threading.Event()

        def load() -> Loaded:
            loading.wait()
            return Loaded(model, TEMPLATE)

        stats = WorkerStats()
        batcher = Batcher(load, name="fake", slots=slots, n_ctx=n_ctx, n_batch=n_batch,
                          grammar=json.dumps, stats=stats)
        workers.append(Worker(model, batcher, stats, loading))
        return workers[-1]

    yield start
    for worker in workers:
        worker.loading.set()
        worker.batcher.close()
        assert worker.model.closed


# --- batching ---------------------------------------------------------------------


def test_concurrent_requests_are_decoded_together_and_each_gets_its_own_text(start: Start) -> None:
    replies = {"alpha?": "one", "beta?": "a second reply", "gamma?": "the third, longest reply"}
    worker = start(replies, slots=3)
    calls = [Call(q, GenerateParams(temperature=0, seed=i)) for i, q in enumerate(replies)]
    worker.submit(*calls)

    for call in calls:
        done = call.result()
        assert done.text == replies[call.question]
        assert "".join(call.pieces) == replies[call.question]
        assert done.stop_reason == "stop"
    model = worker.model
    # One decode reads all three prompts, then one decode per step serves
    # every sequence still generating.
    assert {e.seq for e in model.batches[0]} == {0, 1, 2}
    assert len(model.batches[0]) == sum(c.n_prompt for c in calls)
    assert len(model.batches) == 1 + max(map(len, replies.values()))
    assert worker.stats.peak_batch == 3
    # Each request samples with its own sampler, made from its own params.
    assert [s.params for s in model.samplers] == [c.params for c in calls]
    assert model.open_samplers() == 0


def test_prompts_are_read_in_chunks_that_leave_room_for_generating_sequences(start: Start) -> None:
    replies = {"a?": "first reply", "b?": "second reply"}
    n_batch = 16
    worker = start(replies, slots=2, n_batch=n_batch)
    a, b = Call("a?"), Call("b?")
    assert a.n_prompt == b.n_prompt > 2 * n_batch
    worker.submit(a, b)

    assert a.result().text == "first reply"
    assert b.result().text == "second reply"
    model = worker.model  # which also checks that no batch exceeds n_batch
    assert max(map(len, model.batches)) == n_batch
    # b started once a had read the template's head, and took it from a.
    assert model.copies == [Copy(0, 1, 0, HEAD)]
    assert model.prompt_computed == a.n_prompt + b.n_prompt - HEAD
    for batch in model.batches:
        # One token for each generating sequence first, then prompt chunks.
        kinds = [e.pos >= a.n_prompt for e in batch]
        assert kinds == sorted(kinds, reverse=True)
    # b's prompt was read alongside a's generation, not after it.
    assert any({e.seq for e in batch if e.pos >= a.n_prompt} == {0}
               and {e.seq for e in batch if e.pos < b.n_prompt} == {1}
               for batch in model.batches)


# --- prefix reuse -------------------------------------------------------------------


@pytest.mark.parametrize("second", [CONTEXT + "Is q odd?", CONTEXT + "Is p odd?"])
def test_a_later_request_computes_only_the_suffix_it_does_not_share(
    start: Start, second: str,
) -> None:
    first = CONTEXT + "Is p odd?"
    replies = {first: "Yes.", CONTEXT + "Is q odd?": "Not always."}
    worker = start(replies, slots=2)
    a = Call(first)
    worker.submit(a)
    assert a.result().text == "Yes."
    computed = worker.model.prompt_computed
    assert computed == worker.stats.prefill_computed == a.n_prompt

    b = Call(second)
    worker.submit(b)

    assert b.result().text == replies[second]
    shared = reusable(b, a)
    assert shared >= len(CONTEXT)
    # An identical prompt still computes its last token: sampling needs its logits.
    assert worker.model.prompt_computed - computed == b.n_prompt - shared
    assert worker.stats.prefill_computed == worker.model.prompt_computed
    assert worker.stats.prefill_submitted == a.n_prompt + b.n_prompt
    # It ran on the sequence holding the prefix: no copy was needed.
    assert worker.model.copies == []
    assert worker.model.entries(1) == []


def test_a_request_takes_the_free_slot_sharing_its_longest_prefix(start: Start) -> None:
    other, mine = "Unrelated question?", CONTEXT + "Is p odd?"
    replies = {other: "Short.", mine: "Yes: a prime other than 2 is odd.",
               CONTEXT + "Is q odd?": "Not always."}
    worker = start(replies, slots=2)
    first = [Call(other), Call(mine)]
    worker.submit(*first)
    for call in first:
        call.result()
    model = worker.model
    n_batches, computed = len(model.batches), model.prompt_computed
    # Slot 0 finished first: on recency alone the worker would pick it.
    b = Call(CONTEXT + "Is q odd?")
    worker.submit(b)

    assert b.result().text == "Not always."
    assert all(e.seq == 1 for batch in model.batches[n_batches:] for e in batch)
    assert model.prompt_computed - computed == b.n_prompt - reusable(b, first[1])
    assert model.copies == []


@pytest.mark.parametrize("second", [CONTEXT + "Is p odd?", CONTEXT + "Is q odd?"])
def test_a_request_waits_for_an_in_flight_prefix_and_borrows_it(start: Start, second: str) -> None:
    first = CONTEXT + "Is p odd?"
    replies = {first: "Yes.", CONTEXT + "Is q odd?": "Not always."}
    worker = start(replies, slots=2)
    a, b = Call(first), Call(second)
    worker.submit(a, b)

    assert a.result().text == "Yes."
    assert b.result().text == replies[second]
    model = worker.model
    shared = reusable(b, a)
    # b read nothing while a read the prefix, then took a's cells for it.
    assert all(e.seq == 0 for e in model.batches[0])
    assert model.copies == [Copy(0, 1, 0, shared)]
    assert model.prompt_computed == a.n_prompt + b.n_prompt - shared
    assert worker.stats.prefill_computed == model.prompt_computed
    assert model.entries(1)[0].pos == shared


def test_a_short_shared_prefix_is_not_waited_for(start: Start) -> None:
    replies = {"Is p odd?": "Yes.", "Is q odd?": "Not always."}
    worker = start(replies, slots=2)
    a, b = Call("Is p odd?"), Call("Is q odd?")
    assert reusable(b, a) < MIN_SHARED
    worker.submit(a, b)

    assert a.result().text == "Yes."
    assert b.result().text == "Not always."
    assert {e.seq for e in worker.model.batches[0]} == {0, 1}
    assert worker.model.copies == []
    assert worker.model.prompt_computed == a.n_prompt + b.n_prompt


# --- room in the KV cache ---------------------------------------------------------------


def test_the_least_recently_used_idle_cache_is_evicted_first(start: Start) -> None:
    a, b, c = Call("Question A?"), Call("Question B?"), Call(CONTEXT + "Is p odd?")
    d = Call(CONTEXT + "Is q odd?")
    replies = {a.question: "Medium reply.", b.question: "Short",
               c.question: "A reply of some thirty chars.",
               d.question: "A far longer reply, longer than the last one by a lot, sixty+."}
    size = {call: call.n_prompt + len(replies[call.question]) for call in (a, b, c, d)}
    # a, b and c fill the cache exactly; d fits once one idle cache goes.
    assert size[c] < size[d] <= size[b] + size[c]
    kv_cells = size[a] + size[b] + size[c]
    worker = start(replies, slots=3, kv_cells=kv_cells)
    worker.submit(a, b, c)
    for call in (a, b, c):
        assert call.result().text == replies[call.question]
    # b (slot 1) finished first, then a (slot 0), then c (slot 2).
    model = worker.model
    assert model.refused == 0
    assert model.used == kv_cells

    worker.submit(d)  # it shares c's prefix, so it takes slot 2
    assert d.result().text == replies[d.question]

    assert model.refused == 1
    assert Cut(1, 0) in model.cuts
    assert Cut(0, 0) not in model.cuts
    assert model.text(0) == prompt(a.question) + replies[a.question]
    assert model.text(1) == ""
    assert worker.stats.preempted == 0

    # The worker knows what is left: a's cache is reused, b's is gone.
    computed = model.prompt_computed
    again_a = Call(a.question)
    worker.submit(again_a)
    assert again_a.result().text == replies[a.question]
    assert model.prompt_computed - computed == 1
    computed = model.prompt_computed
    again_b = Call(b.question)
    worker.submit(again_b)
    assert again_b.result().text == replies[b.question]
    assert model.prompt_computed - computed == again_b.n_prompt - reusable(again_b, a)


def test_a_full_cache_preempts_the_newest_request_which_resumes_with_its_text(start: Start) -> None:
    replies = {"first?": "The first reply, forty characters long...",
               "second?": "The second reply, also forty chars long."}
    a, b = Call("first?"), Call("second?")
    # Room for both prompts and a few tokens each, and for either alone.
    kv_cells = a.n_prompt + b.n_prompt + 10
    assert kv_cells >= b.n_prompt + len(replies["second?"])
    worker = start(replies, slots=2, kv_cells=kv_cells)
    worker.submit(a, b)

    for call in (a, b):
        done = call.result()
        text = replies[call.question]
        assert done.text == text
        assert "".join(call.pieces) == text  # nothing streamed twice on resuming
        assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (
            call.n_prompt, len(text) + 1)
    model = worker.model
    assert worker.stats.preempted == 1
    assert model.refused == 1
    # b kept its sampler, and re-read its prompt (less what a's cache shared).
    assert len(model.samplers) == 2
    assert model.prompt_computed == a.n_prompt + b.n_prompt + (b.n_prompt - HEAD)
    assert worker.stats.prefill_computed == model.prompt_computed
    # Its generated tokens were recomputed too, before it generated more.
    resumed = [e for e in model.entries(0) if e.pos >= b.n_prompt and not e.logits]
    assert resumed


def test_a_request_alone_too_big_for_the_cache_ends_as_length(start: Start) -> None:
    replies = {"q?": "a reply longer than the cache has room for"}
    call = Call("q?")
    kv_cells = call.n_prompt + 5
    worker = start(replies, slots=2, kv_cells=kv_cells)
    worker.submit(call)

    done = call.result()
    # Five generated tokens were decoded; the sixth was sampled, then found no room.
    assert done.text == replies["q?"][:6]
    assert done.stop_reason == "length"
    assert done.usage.completion_tokens == 6
    assert worker.model.used == 0


# --- cancellation --------------------------------------------------------------------


def test_cancelling_a_running_request_frees_its_slot_for_the_next(start: Start) -> None:
    replies = {"long?": "A reply that would take many steps to finish.", "next?": "ok"}
    worker = start(replies, slots=1)
    a, b = Call("long?"), Call("next?")

    def cancel(decode: int) -> None:
        if decode == 4:
            a.request.cancelled = True

    worker.model.on_decode = cancel
    worker.submit(a, b)

    assert b.result().text == "ok"
    assert not a.done
    # a: its prompt and three generated tokens; b: its prompt and "ok".
    assert len(worker.model.batches) == 4 + 1 + len("ok")
    assert worker.stats.cancelled == 1
    assert worker.model.open_samplers() == 0
    # The slot's cache outlived the cancelled request.
    assert worker.model.prompt_computed == a.n_prompt + b.n_prompt - HEAD


def test_cancelling_a_waiting_request_drops_it_unread(start: Start) -> None:
    replies = {"first?": "one two", "second?": "never", "third?": "three"}
    worker = start(replies, slots=1)
    calls = [Call(q, GenerateParams(temperature=0, seed=i)) for i, q in enumerate(replies)]
    first, second, third = calls

    def cancel(decode: int) -> None:
        if decode == 2:
            second.request.cancelled = True

    worker.model.on_decode = cancel
    worker.submit(*calls)

    assert first.result().text == "one two"
    assert third.result().text == "three"
    assert not second.done
    assert [s.params.seed for s in worker.model.samplers] == [0, 2]
    assert worker.stats.cancelled == 1
    assert "never" not in worker.model.text(0)


# --- stop strings and usage ----------------------------------------------------------


@pytest.mark.parametrize(("stop", "reply", "text", "tokens"), [
    (("STOP",), "hello STOP world", "hello ", "hello STOP"),
    ((), "done<|im_end|>and more", "done", "done<|im_end|>"),  # the template's stop
    (("abc",), "ab abcd", "ab ", "ab abc"),  # "ab" held back, then sent
])
def test_stop_strings_end_the_reply_and_are_never_streamed(
    start: Start, stop: tuple[str, ...], reply: str, text: str, tokens: str,
) -> None:
    worker = start({"q?": reply}, slots=1)
    call = Call("q?", GenerateParams(temperature=0, stop=stop))
    worker.submit(call)

    done = call.result()
    assert done.text == text
    assert "".join(call.pieces) == text
    assert done.stop_reason == "stop"
    # Generation ends with the token that completes the stop string.
    assert done.usage.completion_tokens == len(tokens)
    assert len(worker.model.batches) == len(tokens)


def test_usage_counts_are_exact(start: Start) -> None:
    replies = {"a?": "four", "b?": "a reply cut at five tokens",
               "the longest question?": "no room left"}
    ends, capped = Call("a?"), Call("b?", GenerateParams(temperature=0, max_tokens=5))
    room = Call("the longest question?")
    too_long = Call("x" * 200)
    n_ctx = room.n_prompt + 3
    worker = start(replies, slots=4, n_ctx=n_ctx)
    worker.submit(ends, capped, room, too_long)

    results = {call: call.result() for call in (ends, capped, room, too_long)}
    expected = {
        ends: ("four", "stop", len("four") + 1),  # the end token counts
        capped: ("a rep", "length", 5),
        room: ("no ", "length", 3),  # the context's room caps the reply
        too_long: ("", "length", 0),  # no room at all: never decoded
    }
    for call, (text, reason, completion_tokens) in expected.items():
        done = results[call]
        assert (done.text, done.stop_reason) == (text, reason)
        assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (
            call.n_prompt, completion_tokens)
    decoded = (ends, capped, room)
    assert worker.stats.calls == len(decoded)
    assert worker.stats.prompt_tokens == sum(c.n_prompt for c in decoded)
    assert worker.stats.completion_tokens == 5 + 5 + 3
    assert worker.model.prompt_computed == sum(c.n_prompt for c in decoded)


# --- log-probabilities ------------------------------------------------------------------


def scripted_distribution(char: str, top: int) -> tuple[tuple[str, float], ...]:
    """What the fake model gives at a position whose scripted token is ``char``."""
    token = ord(char) if char else 0
    return tuple((chr(token + i) if token + i else "", -(i + 1) * math.log(2))
                 for i in range(top))


def test_logprobs_come_for_each_token_of_the_calls_that_ask_only(start: Start) -> None:
    replies = {"a?": "yes", "b?": "no thanks"}
    worker = start(replies, slots=2)
    asks = Call("a?", GenerateParams(temperature=0, logprobs=3))
    plain = Call("b?")
    worker.submit(asks, plain)

    done = asks.result()
    assert done.text == "yes"
    assert plain.result().logprobs is None
    assert done.logprobs is not None
    # One per generated token, the end of generation included (as text "").
    assert len(done.logprobs) == done.usage.completion_tokens == len("yes") + 1
    assert [t.token for t in done.logprobs] == ["y", "e", "s", ""]
    for entry, char in zip(done.logprobs, ["y", "e", "s", ""], strict=True):
        assert entry.logprob == -math.log(2)
        assert entry.top == scripted_distribution(char, 3)
    # The other call's tokens cost no distribution.
    model = worker.model
    assert len(model.distributions) == len(done.logprobs)
    assert {top for _, _, top in model.distributions} == {3}
    # One decode per token sampled for the longer call: both ran together.
    assert len(model.batches) == len("no thanks") + 1


def test_logprobs_run_past_a_stop_string_and_survive_preemption(start: Start) -> None:
    replies = {"first?": "The first reply, forty characters long...",
               "second?": "The second reply: STOP and no more."}
    a = Call("first?", GenerateParams(temperature=0, logprobs=1))
    b = Call("second?", GenerateParams(temperature=0, logprobs=1, stop=("STOP",)))
    worker = start(replies, slots=2, kv_cells=a.n_prompt + b.n_prompt + 10)
    worker.submit(a, b)

    first, second = a.result(), b.result()
    assert worker.stats.preempted == 1  # b was sent back and resumed
    assert first.logprobs is not None and second.logprobs is not None
    assert "".join(t.token for t in first.logprobs) == first.text == replies["first?"]
    assert second.text == "The second reply: "
    assert "".join(t.token for t in second.logprobs) == "The second reply: STOP"
    for done in (first, second):
        assert len(done.logprobs or ()) == done.usage.completion_tokens
        assert all(len(t.top) == 1 and t.top[0] == (t.token, t.logprob)
                   for t in done.logprobs or ())


def test_a_prompt_with_no_room_has_no_tokens_to_score(start: Start) -> None:
    call = Call("x" * 200, GenerateParams(logprobs=5))
    worker = start({}, slots=1, n_ctx=100)
    worker.submit(call)
    done = call.result()
    assert (done.text, done.stop_reason, done.logprobs) == ("", "length", ())
