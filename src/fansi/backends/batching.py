"""Continuous batching: many sequences decoded together, one llama_decode per step.

One worker thread owns the model. Each step it

1. takes new requests (tokenizing them; a prompt that leaves no room in the
   context comes back at once as ``length`` with empty text) and drops
   requests that were cancelled, freeing their slot;
2. admits waiting requests into free slots (``batch`` of them);
3. builds one batch: one token for every sequence that is generating, then
   prompt chunks, oldest request first, up to ``n_batch`` tokens;
4. decodes it and samples a token for each sequence whose logits it asked
   for, with that request's own sampler (temperature, top_p, seed, grammar);
   finished sequences leave, their slot free for the next step.

**Prefix reuse.** A slot's KV cache outlives its request. A new request gets
the free slot whose cache shares the longest prefix with its prompt, keeps
that prefix, and copies any longer prefix that another slot (busy or idle)
already holds (``seq_cp`` on a unified cache shares cells, it copies no data).
A request whose prompt shares a long prefix with an older request still
reading it waits for that reading instead of repeating it: the k
verifications of one candidate, sent at once with one prompt, read it once.
At least one prompt token is always computed, because sampling needs its
logits.

**Room.** All sequences share ``kv_cells`` cells. When a batch does not fit,
the least recently used idle cache is dropped; with none left, the newest
request is preempted: it goes back to the front of the queue with what it
has generated and recomputes it when a slot is free (its sampler state is
kept, so its output is what it would have been).

**Log-probabilities.** A request whose ``params.logprobs`` is above 0 gets,
for each generated token (the end of generation too, as text ""), its
log-probability and the most likely alternatives, read from the logits it
was sampled from: the model's own distribution, before temperature,
top-k/top-p and grammar masking (``BatchModel.distribution``). A token's text
is what it added to the reply, so the texts join to the reply, or run past it
where a stop string cut it. Other requests pay nothing.

Batched numerics: llama.cpp picks kernels by batch shape, so a sequence's
logits in a batch may differ from its logits alone in the last bits. Greedy
decoding follows the same path until a near-tie, not necessarily further;
the same batch on the same cache gives the same result.
"""

from __future__ import annotations

import codecs
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fansi.backends.batch_types import BatchModel, BatchSampler, Entry
from fansi.backends.templates import ChatTemplate
from fansi.errors import BackendError, FansiError, ModelError
from fansi.records import Completion, GenerateParams, Message, StopReason, TokenLogprob, Usage

#: A follower waits for an older request's prompt reading only when it
#: would share at least this many more tokens (a chat template's system
#: prompt alone is not worth a step's wait).
MIN_SHARED = 32


@dataclass
class WorkerStats:
    """What the worker has done so far; benchmarks read these."""

    calls: int = 0
    cancelled: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Seconds the worker spent stepping (not waiting for work).
    busy_s: float = 0.0
    #: llama_decode calls and the most sequences one of them served.
    steps: int = 0
    peak_batch: int = 0
    #: Seconds of llama_decode calls that read prompt tokens (the rest of
    #: the decode time only generated).
    prefill_s: float = 0.0
    #: Prompt tokens of admitted requests, and those actually run through
    #: the model; the difference was reused from the KV cache.
    prefill_submitted: int = 0
    prefill_computed: int = 0
    #: Requests sent back to the queue because the KV cache was full.
    preempted: int = 0


class Output:
    """A request's text: bytes decoded as they come, stop strings cut, and
    streamed pieces held back while they could still begin a stop string."""

    def __init__(self, stop: Sequence[str], emit: Callable[[str], None] | None) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stop = tuple(s for s in stop if s)
        self._longest = max((len(s) for s in self._stop), default=0)
        self._emit = emit
        self._sent = 0
        self.text = ""
        #: The text the last pushed token added (before any stop-string cut).
        self.last = ""
        self.stopped = False

    def push(self, data: bytes) -> bool:
        """Add a token's bytes; True when the text now contains a stop string."""
        start = max(0, len(self.text) - self._longest + 1)
        self.last = self._decoder.decode(data)
        self.text += self.last
        hits = [i for s in self._stop if (i := self.text.find(s, start)) >= 0]
        if hits:
            self.text = self.text[: min(hits)]
            self.stopped = True
            return True
        self._send(len(self.text) - self._held())
        return False

    def finish(self) -> str:
        if not self.stopped:
            self.text += self._decoder.decode(b"", final=True)
        self._send(len(self.text))
        return self.text

    def _held(self) -> int:
        for n in range(min(self._longest - 1, len(self.text)), 0, -1):
            tail = self.text[-n:]
            if any(s.startswith(tail) for s in self._stop):
                return n
        return 0

    def _send(self, end: int) -> None:
        if self._emit is not None and end > self._sent:
            self._emit(self.text[self._sent : end])
        self._sent = max(self._sent, end)


@dataclass(eq=False)
class Request:
    """One call, from submission to its completion.

    ``deliver`` and ``emit`` are thread-safe hand-offs to the caller's event
    loop; ``cancelled`` is set from there and read here.
    """

    messages: Sequence[Message]
    params: GenerateParams
    deliver: Callable[[Completion | BaseException], None]
    emit: Callable[[str], None] | None = None
    submitted: float = field(default_factory=time.perf_counter)
    cancelled: bool = False
    # Set on the worker: the prompt's tokens followed by every sampled token.
    tokens: list[int] = field(default_factory=list)
    n_prompt: int = 0
    max_tokens: int = 0
    order: int = 0
    admitted: bool = False
    sampler: BatchSampler | None = None
    output: Output | None = None
    #: One per generated token, when ``params.logprobs`` asks for them.
    logprobs: list[TokenLogprob] = field(default_factory=list)

    @property
    def generated(self) -> int:
        return len(self.tokens) - self.n_prompt


@dataclass(eq=False)
class Slot:
    """One sequence of the KV cache and the request using it, if any."""

    seq: int
    #: The tokens whose keys and values the cache holds, positions 0..n-1.
    cached: list[int] = field(default_factory=list)
    request: Request | None = None
    last_used: int = 0


def common_prefix(a: Sequence[int], b: Sequence[int], limit: int) -> int:
    """Length of the longest common prefix of ``a`` and ``b``, at most ``limit``.

    Binary search over slice comparisons, which run in C.
    """
    n = min(len(a), len(b), limit)
    if n <= 0 or a[:n] == b[:n]:
        return max(n, 0)
    lo, hi = 0, n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True)
class Loaded:
    model: BatchModel
    template: ChatTemplate


class Batcher:
    """The worker: owns the model and serves every request in batches."""

    def __init__(
        self,
        load: Callable[[], Loaded],
        *,
        name: str,
        slots: int,
        n_ctx: int,
        n_batch: int,
        grammar: Callable[[dict[str, object]], str],
        stats: WorkerStats,
    ) -> None:
        self._load = load
        self._name = name
        self._n_ctx = n_ctx
        self._n_batch = n_batch
        self._grammar = grammar
        self.stats = stats
        self._slots = [Slot(seq) for seq in range(slots)]
        self._waiting: deque[Request] = deque()
        self._loaded: Loaded | None = None
        self._tick = 0
        # After a preemption, admit nothing until a request leaves.
        self._hold = False
        self._cond = threading.Condition()
        self._inbox: list[Request] = []
        # Outcomes are handed over at the end of a step, once the stats count
        # it: a caller that reads them after its call sees its call in them.
        self._outbox: list[tuple[Request, Completion | BaseException]] = []
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="fansi-llama", daemon=True)
        self._thread.start()

    # --- called from other threads ------------------------------------------

    def submit(self, request: Request) -> None:
        with self._cond:
            if self._closing:
                raise BackendError(f"{self._name} is closed")
            self._inbox.append(request)
            self._cond.notify()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify()

    def close(self) -> None:
        """Stop the worker (failing what is still queued) and free the model."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()

    # --- the worker thread ------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._inbox or self._busy() or self._closing):
                    self._cond.wait()
                if self._closing:
                    break
            started = time.perf_counter()
            # Load before taking the inbox: calls sent while the model loads
            # then start together, in one batch.
            if self._loaded is None and not self._load_model():
                continue
            with self._cond:
                incoming, self._inbox = self._inbox, []
            try:
                self._step(incoming)
            except Exception as exc:  # the worker must outlive any one failure
                self._fail_all(BackendError(f"llama.cpp failed on {self._name}: {exc}"))
            self.stats.busy_s += time.perf_counter() - started
            self._hand_over()
        with self._cond:
            incoming, self._inbox = self._inbox, []
        self._waiting.extend(incoming)
        self._fail_all(BackendError(f"{self._name} was closed"))
        self._hand_over()
        if self._loaded is not None:
            self._loaded.model.close()
            self._loaded = None

    def _hand_over(self) -> None:
        outbox, self._outbox = self._outbox, []
        for request, outcome in outbox:
            request.deliver(outcome)

    def _load_model(self) -> bool:
        try:
            self._loaded = self._load()
        except Exception as exc:  # a load that fails fails the calls, not the worker
            error = exc if isinstance(exc, FansiError) else ModelError(
                f"cannot load the model for {self._name}: {exc}")
            with self._cond:
                incoming, self._inbox = self._inbox, []
            for request in [*incoming, *self._waiting]:
                self._outbox.append((request, error))
            self._waiting.clear()
            self._hand_over()
            return False
        return True

    def _busy(self) -> bool:
        return bool(self._waiting) or any(s.request is not None for s in self._slots)

    def _fail_all(self, error: BackendError) -> None:
        """Fail every request in flight and forget the cache, which may be
        inconsistent after a failed decode."""
        for slot in self._slots:
            if slot.request is not None:
                self._outbox.append((self._release(slot), error))
            slot.cached = []
        while self._waiting:
            request = self._waiting.popleft()
            self._close_sampler(request)
            self._outbox.append((request, error))
        if self._loaded is not None:
            self._loaded.model.clear()

    def _step(self, incoming: list[Request]) -> None:
        assert self._loaded is not None
        for request in incoming:
            self._prepare(request, self._loaded)
        self._drop_cancelled()
        self._admit()
        entries, readers = self._plan()
        if not entries:
            return
        model = self._loaded.model
        started = time.perf_counter()
        status = model.decode(entries)
        elapsed = time.perf_counter() - started
        if status == 1:
            self._make_room()
            return
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")
        self.stats.steps += 1
        self.stats.peak_batch = max(self.stats.peak_batch, len({e.seq for e in entries}))
        computed = self.stats.prefill_computed
        for entry in entries:
            slot = self._slots[entry.seq]
            owner = slot.request
            assert owner is not None
            if len(slot.cached) < owner.n_prompt:
                self.stats.prefill_computed += 1
            slot.cached.append(entry.token)
        if self.stats.prefill_computed > computed:
            self.stats.prefill_s += elapsed
        for slot, index in readers:
            self._sample(slot, index, model)

    # --- requests in and out -------------------------------------------------

    def _prepare(self, request: Request, loaded: Loaded) -> None:
        prompt = loaded.template.render(request.messages)
        try:
            tokens = loaded.model.tokenize(prompt)
        except ValueError as exc:
            self._outbox.append((request, BackendError(f"{self._name}: {exc}")))
            return
        request.tokens, request.n_prompt = tokens, len(tokens)
        room = self._n_ctx - len(tokens)
        if room <= 0:
            # Context overflow is an outcome, not a failure.
            self._complete(request, "", "length")
            return
        request.max_tokens = min(request.params.max_tokens or room, room)
        request.output = Output(loaded.template.stop + request.params.stop, request.emit)
        self._waiting.append(request)

    def _drop_cancelled(self) -> None:
        for slot in self._slots:
            if slot.request is not None and slot.request.cancelled:
                self._release(slot)
                self.stats.cancelled += 1
        kept = [r for r in self._waiting if not r.cancelled]
        for request in self._waiting:
            if request.cancelled:
                self._close_sampler(request)
                self.stats.cancelled += 1
        self._waiting = deque(kept)

    def _admit(self) -> None:
        assert self._loaded is not None
        model = self._loaded.model
        if self._hold and any(s.request is not None for s in self._slots):
            return
        self._hold = False
        while self._waiting:
            free = [s for s in self._slots if s.request is None]
            if not free:
                return
            request = self._waiting.popleft()
            limit = len(request.tokens) - 1
            slot = max(free, key=lambda s: (
                common_prefix(request.tokens, s.cached, limit), -s.last_used))
            keep = common_prefix(request.tokens, slot.cached, limit)
            if keep < len(slot.cached) and not model.truncate(slot.seq, keep):
                model.truncate(slot.seq, 0)
                keep = 0
            del slot.cached[keep:]
            if request.sampler is None:
                schema = request.params.json_schema
                try:
                    request.sampler = model.sampler(
                        request.params, None if schema is None else self._grammar(schema))
                except ValueError as exc:
                    self._outbox.append((request, BackendError(f"{self._name}: {exc}")))
                    continue
            if not request.admitted:
                request.admitted = True
                self.stats.prefill_submitted += request.n_prompt
            self._tick += 1
            request.order = self._tick
            slot.request = request

    def _release(self, slot: Slot) -> Request:
        """Detach a slot's request, keeping the slot's cache for reuse."""
        request = slot.request
        assert request is not None
        slot.request = None
        self._hold = False
        self._tick += 1
        slot.last_used = self._tick
        self._close_sampler(request)
        self.stats.calls += 1
        self.stats.prompt_tokens += request.n_prompt
        self.stats.completion_tokens += max(request.generated, 0)
        return request

    def _close_sampler(self, request: Request) -> None:
        if request.sampler is not None:
            request.sampler.close()
            request.sampler = None

    def _complete(self, request: Request, text: str, reason: StopReason) -> None:
        self._outbox.append((request, Completion(
            text=text,
            stop_reason=reason,
            usage=Usage(request.n_prompt, max(request.generated, 0)),
            latency_s=time.perf_counter() - request.submitted,
            model=self._name,
            logprobs=tuple(request.logprobs) if request.params.logprobs > 0 else None,
        )))

    def _finish(self, slot: Slot, reason: StopReason) -> None:
        request = self._release(slot)
        assert request.output is not None
        self._complete(request, request.output.finish(), reason)

    # --- one step ----------------------------------------------------------------

    def _plan(self) -> tuple[list[Entry], list[tuple[Slot, int]]]:
        """The batch for this step, and which slot reads which output."""
        active = sorted((s for s in self._slots if s.request is not None),
                        key=lambda s: s.request.order if s.request else 0)
        entries: list[Entry] = []
        readers: list[tuple[Slot, int]] = []
        # Generating sequences first: each needs one token to move on.
        generating = [s for s in active if self._pending(s) == 1
                      and s.request is not None and s.request.generated > 0]
        for slot in generating:
            request = slot.request
            assert request is not None
            readers.append((slot, len(entries)))
            entries.append(Entry(request.tokens[-1], len(slot.cached), slot.seq, True))
        budget = self._n_batch - len(entries)
        for slot in active:
            if slot in generating or budget <= 0:
                continue
            request = slot.request
            assert request is not None
            self._borrow(slot)
            if self._should_wait(slot, active):
                continue
            start = len(slot.cached)
            chunk = request.tokens[start : start + budget]
            end = start + len(chunk)
            for pos, token in enumerate(chunk, start):
                entries.append(Entry(token, pos, slot.seq, pos == len(request.tokens) - 1))
            if end == len(request.tokens):
                readers.append((slot, len(entries) - 1))
            budget -= len(chunk)
        return entries, readers

    @staticmethod
    def _pending(slot: Slot) -> int:
        assert slot.request is not None
        return len(slot.request.tokens) - len(slot.cached)

    def _borrow(self, slot: Slot) -> None:
        """Copy the longest prefix of the request's tokens any other slot holds."""
        request = slot.request
        assert request is not None and self._loaded is not None
        have = len(slot.cached)
        limit = len(request.tokens) - 1
        best, source = have, None
        for other in self._slots:
            if other is slot or len(other.cached) <= best:
                continue
            shared = common_prefix(request.tokens, other.cached, limit)
            if shared > best:
                best, source = shared, other
        if source is not None:
            self._loaded.model.share(source.seq, slot.seq, have, best)
            slot.cached.extend(request.tokens[have:best])

    def _should_wait(self, slot: Slot, active: list[Slot]) -> bool:
        """Whether an older request is reading a long prefix this one shares."""
        request = slot.request
        assert request is not None
        have = len(slot.cached)
        limit = len(request.tokens) - 1
        for other in active:
            leader = other.request
            if leader is None or leader.order >= request.order:
                continue
            shared = common_prefix(request.tokens, leader.tokens, limit)
            if shared >= have + MIN_SHARED and len(other.cached) < shared:
                return True
        return False

    def _sample(self, slot: Slot, index: int, model: BatchModel) -> None:
        request = slot.request
        assert request is not None and request.sampler is not None
        assert request.output is not None
        token = request.sampler.sample(index)
        request.tokens.append(token)
        end = model.is_end(token)
        stopped = not end and request.output.push(model.piece(token))
        if request.params.logprobs > 0:
            # The token's text is what it added to the reply (a character split
            # across tokens counts in the last), so the texts join to the reply.
            dist = model.distribution(index, token, request.params.logprobs)
            text = "" if end else request.output.last
            request.logprobs.append(TokenLogprob(text, dist.logprob, dist.top))
        if end or stopped:
            self._finish(slot, "stop")
        elif request.generated >= request.max_tokens:
            self._finish(slot, "length")

    def _make_room(self) -> None:
        """The batch did not fit in the KV cache: drop an idle cache, or
        preempt the newest request."""
        assert self._loaded is not None
        model = self._loaded.model
        idle = [s for s in self._slots if s.request is None and s.cached]
        if idle:
            victim = min(idle, key=lambda s: s.last_used)
            model.truncate(victim.seq, 0)
            victim.cached = []
            return
        active = sorted((s for s in self._slots if s.request is not None),
                        key=lambda s: s.request.order if s.request else 0)
        victim = active[-1]
        model.truncate(victim.seq, 0)
        victim.cached = []
        if len(active) == 1:
            # Alone and still no room: the cache is smaller than the context.
            self._finish(victim, "length")
            return
        request = victim.request
        assert request is not None
        victim.request = None
        self._hold = True
        self._waiting.appendleft(request)
        self.stats.preempted += 1
