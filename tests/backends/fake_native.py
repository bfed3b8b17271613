"""A deterministic stand-in for :class:`fansi.backends.native.NativeModel`.

It follows :class:`fansi.backends.batch_types.BatchModel` and keeps llama.cpp's
rules strictly, so that a scheduler bug shows up as a wrong text or a failed
call rather than as a slightly different number:

- One token per character (``ord``); token 0 is the end of generation.
- The KV cache is unified: ``kv_cells`` cells shared by all sequences, a cell
  freed when no sequence holds it. ``share`` tags the same cells with one
  more sequence (no new cells, as ``llama_memory_seq_cp`` does). A batch that
  does not fit changes nothing and returns 1.
- Every batch token must sit at the next free position of its sequence, and
  only tokens whose logits were asked for can be sampled.
- The next token is read from the model's own cells, never from what the
  scheduler believes they hold: the longest prompt it has tokenized that
  begins the sequence picks a scripted reply, and the tokens after the prompt
  must be a beginning of that reply. A bad prefix copy or truncation thus
  gives a wrong text, or an AssertionError, which the worker turns into a
  failed call.
- Its distribution (``distribution``) is scripted too: at each position the
  scripted token has probability 1/2 and the next ``top - 1`` characters
  after it 1/4, 1/8, ...; so a test can check every number exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from fansi.backends.batch_types import Distribution, Entry
from fansi.records import GenerateParams

END = 0


class Copy(NamedTuple):
    src: int
    dst: int
    start: int
    end: int


class Cut(NamedTuple):
    seq: int
    keep: int


def chatml_replies(replies: Mapping[str, str]) -> Callable[[str], str]:
    """A reply script keyed by the last user message of a ChatML prompt."""

    def reply(prompt: str) -> str:
        question = prompt.rsplit("<|im_start|>user\n", 1)[1].split("<|im_end|>", 1)[0]
        return replies[question]

    return reply


@dataclass(eq=False)
class FakeSampler:
    model: FakeNativeModel
    params: GenerateParams
    grammar: str | None
    closed: bool = False

    def sample(self, index: int) -> int:
        assert not self.closed, "sampled with a closed sampler"
        return self.model.next_token(index)

    def close(self) -> None:
        self.closed = True


@dataclass(eq=False)
class FakeNativeModel:
    """The fake model. Everything it was asked to do is recorded."""

    reply: Callable[[str], str]
    kv_cells: int = 4096
    n_seq: int = 4
    n_batch: int = 512
    #: Refused decodes beyond this fail the call: a worker that keeps
    #: overflowing the cache is stuck, and a test should say so at once.
    max_refused: int = 20
    #: Called with the decode's number (1, 2, ...) as each decode starts, on
    #: the worker thread: a test acts at an exact step through it.
    on_decode: Callable[[int], None] | None = None

    prompts: list[list[int]] = field(default_factory=list)
    batches: list[list[Entry]] = field(default_factory=list)
    #: Decodes refused for want of room (they are not in ``batches``).
    refused: int = 0
    prompt_computed: int = 0
    copies: list[Copy] = field(default_factory=list)
    cuts: list[Cut] = field(default_factory=list)
    samplers: list[FakeSampler] = field(default_factory=list)
    cleared: int = 0
    closed: bool = False
    #: (batch index, sampled token, top) of every ``distribution`` call.
    distributions: list[tuple[int, int, int]] = field(default_factory=list)

    _seqs: dict[int, list[int]] = field(default_factory=dict)
    _cell_token: dict[int, int] = field(default_factory=dict)
    _next_cell: int = 0
    _outputs: dict[int, list[int]] = field(default_factory=dict)

    # --- what the worker calls -------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        tokens = [ord(c) for c in text]
        assert END not in tokens
        self.prompts.append(tokens[:])  # the worker appends to the list it gets
        return tokens

    def piece(self, token: int) -> bytes:
        return b"" if token == END else chr(token).encode()

    def is_end(self, token: int) -> bool:
        return token == END

    def truncate(self, seq: int, keep: int) -> bool:
        self.cuts.append(Cut(seq, keep))
        del self._cells(seq)[keep:]
        self._collect()
        return True

    def share(self, src: int, dst: int, start: int, end: int) -> None:
        source, target = self._cells(src), self._cells(dst)
        assert len(target) == start, f"seq {dst} holds {len(target)} cells, copy starts at {start}"
        assert len(source) >= end, f"seq {src} holds {len(source)} cells, copy ends at {end}"
        self.copies.append(Copy(src, dst, start, end))
        target.extend(source[start:end])

    def clear(self) -> None:
        self.cleared += 1
        self._seqs.clear()
        self._collect()

    def decode(self, entries: list[Entry]) -> int:
        if self.on_decode is not None:
            self.on_decode(len(self.batches) + self.refused + 1)
        assert 0 < len(entries) <= self.n_batch
        assert sum(e.logits for e in entries) <= self.n_seq, "more outputs than sequences"
        if self.used + len(entries) > self.kv_cells:
            self.refused += 1
            assert self.refused <= self.max_refused, "the worker keeps overflowing the cache"
            return 1
        self.batches.append(list(entries))
        self._outputs = {}
        for index, (token, pos, seq, logits) in enumerate(entries):
            assert 0 <= seq < self.n_seq
            cells = self._cells(seq)
            assert pos == len(cells), f"seq {seq} holds {len(cells)} cells, token at {pos}"
            self._cell_token[self._next_cell] = token
            cells.append(self._next_cell)
            self._next_cell += 1
            context = self.tokens(seq)
            if self._in_prompt(context):
                self.prompt_computed += 1
            if logits:
                self._outputs[index] = context
        return 0

    def sampler(self, params: GenerateParams, grammar: str | None) -> FakeSampler:
        sampler = FakeSampler(self, params, grammar)
        self.samplers.append(sampler)
        return sampler

    def distribution(self, index: int, token: int, top: int) -> Distribution:
        self.distributions.append((index, token, top))
        scripted = self.next_token(index)  # also checks that logits were asked for
        ranked = [scripted, *(scripted + i for i in range(1, top))]
        logprobs = [-(rank + 1) * math.log(2) for rank in range(top)]
        mine = logprobs[ranked.index(token)] if token in ranked else -math.inf
        return Distribution(mine, tuple(
            (self.piece(t).decode(), lp) for t, lp in zip(ranked, logprobs, strict=True)))

    def close(self) -> None:
        self.closed = True

    # --- what tests read -------------------------------------------------------

    @property
    def used(self) -> int:
        """Cells held by at least one sequence."""
        return len({c for cells in self._seqs.values() for c in cells})

    def tokens(self, seq: int) -> list[int]:
        return [self._cell_token[c] for c in self._seqs.get(seq, [])]

    def text(self, seq: int) -> str:
        return "".join(map(chr, self.tokens(seq)))

    def open_samplers(self) -> int:
        return sum(not s.closed for s in self.samplers)

    def entries(self, seq: int) -> list[Entry]:
        """Every token decoded on ``seq``, in order."""
        return [e for batch in self.batches for e in batch if e.seq == seq]

    # --- the script ------------------------------------------------------------

    def next_token(self, index: int) -> int:
        assert index in self._outputs, f"no logits were asked for at batch index {index}"
        context = self._outputs[index]
        prompt = max((p for p in self.prompts if context[: len(p)] == p), key=len, default=None)
        assert prompt is not None, f"seq holds no known prompt: {''.join(map(chr, context))!r}"
        script = self.tokenize_reply(self.reply("".join(map(chr, prompt))))
        generated = context[len(prompt) :]
        assert script[: len(generated)] == generated, (
            f"seq continues its prompt with {''.join(map(chr, generated))!r}")
        return script[len(generated)]

    @staticmethod
    def tokenize_reply(text: str) -> list[int]:
        return [*map(ord, text), END]

    def _in_prompt(self, context: list[int]) -> bool:
        """Whether the last token of ``context`` is still part of a prompt."""
        n = len(context)
        return any(len(p) >= n and p[:n] == context for p in self.prompts)

    def _cells(self, seq: int) -> list[int]:
        return self._seqs.setdefault(seq, [])

    def _collect(self) -> None:
        held = {c for cells in self._seqs.values() for c in cells}
        for cell in [c for c in self._cell_token if c not in held]:
            del self._cell_token[cell]
