"""What the batching worker (:mod:`fansi.backends.batching`) needs of a model.

:class:`fansi.backends.native.NativeModel` implements it over llama.cpp, and
tests fake it (tests/backends/fake_native.py). Every method is called on the
worker thread only.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from fansi.records import GenerateParams


class Entry(NamedTuple):
    """One token of a batch: which sequence, at which position, and whether
    its logits are wanted (only for tokens a sampler will read)."""

    token: int
    pos: int
    seq: int
    logits: bool


class Distribution(NamedTuple):
    """A sampled token's log-probability and the most likely tokens at its
    position, as (piece text, log-probability) pairs, most likely first."""

    logprob: float
    top: tuple[tuple[str, float], ...]


class BatchSampler(Protocol):
    """One request's sampling state (:class:`fansi.backends.native.Sampler`)."""

    def sample(self, index: int) -> int:
        """A token from the ``index``-th logits of the last batch, accepted
        into the sampler's state."""
        ...

    def close(self) -> None: ...


class BatchModel(Protocol):
    """What the worker uses of a model."""

    def tokenize(self, text: str) -> list[int]: ...

    def piece(self, token: int) -> bytes: ...

    def is_end(self, token: int) -> bool: ...

    def truncate(self, seq: int, keep: int) -> bool:
        """Drop a sequence's cells from position ``keep`` on; False if the
        memory cannot cut a sequence."""
        ...

    def share(self, src: int, dst: int, start: int, end: int) -> None:
        """Give ``dst`` the cells of ``src`` at positions ``[start, end)``."""
        ...

    def clear(self) -> None: ...

    def decode(self, entries: list[Entry]) -> int:
        """Run one batch: 0 ok, 1 no room in the KV cache, else a failure."""
        ...

    def sampler(self, params: GenerateParams, grammar: str | None) -> BatchSampler: ...

    def distribution(self, index: int, token: int, top: int) -> Distribution:
        """``token``'s log-probability and the ``top`` most likely tokens at
        the ``index``-th logits of the last batch: the model's own
        distribution (a log-softmax of the raw logits over the whole
        vocabulary), before temperature, top-k/top-p or any grammar."""
        ...

    def close(self) -> None: ...


__all__ = ["BatchModel", "BatchSampler", "Distribution", "Entry"]
