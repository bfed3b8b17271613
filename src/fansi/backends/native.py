"""A thin layer over llama.cpp's C API (through llama-cpp-python's ctypes bindings).

It holds what the batching worker needs and nothing more: one model, one
context whose KV cache is shared by many sequences, a token batch, and
per-request samplers. Everything here runs on the worker thread.

The KV cache is *unified*: all sequences draw cells from one buffer of
``kv_cells`` cells, each can grow up to the whole buffer, and copying a prefix
from one sequence to another (``seq_cp``) only tags the same cells with one
more sequence id, so shared prefixes cost neither compute nor memory. Flash
attention is on where the build supports it: its CPU kernel skips masked
cells, so a token's attention costs what its own sequence holds, not what the
whole cache holds, and a sequence's result does not depend on where in the
buffer its cells lie.

Imported only by the worker when it loads a model: ``llama_cpp`` is heavy.
"""

from __future__ import annotations

import ctypes
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp as lib
import numpy as np

from fansi.backends.batch_types import Distribution
from fansi.backends.batch_types import Entry as Entry  # re-exported: the batch format
from fansi.records import GenerateParams

# llama-cpp-python prints llama.cpp's log to stderr by its logger's level, and
# it maps ggml's log levels one step too high (warnings come out as errors,
# e.g. "failed to find a memory slot", which here is an expected outcome).
# Failures reach callers as return codes turned into exceptions instead.
logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL)

#: llama-cpp-python's defaults for create_completion, kept so that a call
#: samples as it did before batching.
TOP_K = 40
TOP_P = 0.95
MIN_P = 0.05
TEMPERATURE = 0.8

_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)


@dataclass(frozen=True)
class ContextShape:
    kv_cells: int
    n_seq: int
    n_batch: int
    n_threads: int


class NativeModel:
    """One GGUF model with a multi-sequence context; the worker's
    :class:`~fansi.backends.batch_types.BatchModel`."""

    def __init__(self, path: Path, shape: ContextShape) -> None:
        lib.llama_backend_init()
        self.shape = shape
        self._model = lib.llama_model_load_from_file(
            str(path).encode(), lib.llama_model_default_params()
        )
        if not self._model:
            raise ValueError(f"llama.cpp could not load {path}")
        self.vocab = lib.llama_model_get_vocab(self._model)
        self.n_vocab = int(lib.llama_vocab_n_tokens(self.vocab))
        params = lib.llama_context_default_params()
        params.n_ctx = shape.kv_cells
        params.n_batch = shape.n_batch
        params.n_ubatch = min(shape.n_batch, 512)
        params.n_seq_max = shape.n_seq
        # A batch asks for at most one row of logits per sequence; the default
        # (one per batch token) would hold n_batch x vocab floats, 300 MB for
        # a 150k vocabulary.
        params.n_outputs_max = shape.n_seq
        params.kv_unified = True
        params.n_threads = shape.n_threads
        params.n_threads_batch = shape.n_threads
        params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_AUTO
        params.no_perf = True
        self.ctx = lib.llama_init_from_model(self._model, params)
        if not self.ctx:
            lib.llama_model_free(self._model)
            raise ValueError(f"llama.cpp could not create a context of {shape.kv_cells} cells")
        self._memory = lib.llama_get_memory(self.ctx)
        self._batch = lib.llama_batch_init(shape.n_batch, 0, 1)
        # Scratch for constrained sampling: every token id with its logit.
        self._candidates = np.zeros(self.n_vocab, dtype=_TOKEN_DATA)
        self._candidates["id"] = np.arange(self.n_vocab, dtype=np.int32)
        self._piece = ctypes.create_string_buffer(256)

    def close(self) -> None:
        lib.llama_batch_free(self._batch)
        lib.llama_free(self.ctx)
        lib.llama_model_free(self._model)

    # --- vocabulary ------------------------------------------------------

    def metadata(self, key: str) -> str:
        buf = ctypes.create_string_buffer(512)
        n = lib.llama_model_meta_val_str(self._model, key.encode(), buf, len(buf))
        return buf.value.decode(errors="replace") if n >= 0 else ""

    def tokenize(self, text: str) -> list[int]:
        """Tokens of a rendered prompt: special tokens parsed, no BOS added
        (the chat template writes every special token itself)."""
        data = text.encode()
        room = len(data) + 16
        tokens = (lib.llama_token * room)()
        n = lib.llama_tokenize(self.vocab, data, len(data), tokens, room, False, True)
        if n < 0:
            raise ValueError(f"cannot tokenize a prompt of {len(data)} bytes")
        return list(tokens[:n])

    def piece(self, token: int) -> bytes:
        """The bytes a sampled token stands for; control tokens render as nothing."""
        n = lib.llama_token_to_piece(self.vocab, token, self._piece, len(self._piece), 0, False)
        if n < 0:  # longer than the buffer: llama.cpp says how long
            self._piece = ctypes.create_string_buffer(-n)
            n = lib.llama_token_to_piece(self.vocab, token, self._piece, -n, 0, False)
        return self._piece.raw[:n]

    def is_end(self, token: int) -> bool:
        return bool(lib.llama_vocab_is_eog(self.vocab, token))

    # --- the KV cache ------------------------------------------------------

    def truncate(self, seq: int, keep: int) -> bool:
        """Drop a sequence's cells from position ``keep`` on; False if the
        memory cannot cut a sequence (then drop it all with ``keep=0``)."""
        return bool(lib.llama_memory_seq_rm(self._memory, seq, keep, -1))

    def share(self, src: int, dst: int, start: int, end: int) -> None:
        """Give ``dst`` the cells of ``src`` at positions ``[start, end)``."""
        lib.llama_memory_seq_cp(self._memory, src, dst, start, end)

    def clear(self) -> None:
        lib.llama_memory_clear(self._memory, False)

    # --- compute -------------------------------------------------------------

    def decode(self, entries: list[Entry]) -> int:
        """Run one batch; llama.cpp's status (0 ok, 1 no room in the KV cache)."""
        batch = self._batch
        for i, (token, pos, seq, logits) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        batch.n_tokens = len(entries)
        return int(lib.llama_decode(self.ctx, batch))

    def sampler(self, params: GenerateParams, grammar: str | None) -> Sampler:
        return Sampler(self, params, grammar)

    def distribution(self, index: int, token: int, top: int) -> Distribution:
        """``token``'s log-probability and the ``top`` most likely tokens at the
        ``index``-th logits of the last batch.

        A log-softmax of the raw logits over the whole vocabulary: the
        model's own distribution, before temperature, top-k/top-p and the
        grammar (a schema-constrained reply's alternatives may include tokens
        the grammar forbids; a reader renormalises over the ones it allows).
        Samplers copy the logits, so they are intact after sampling. Costs
        one pass over the vocabulary and a partial sort, only for calls that
        ask.
        """
        logits = np.ctypeslib.as_array(
            lib.llama_get_logits_ith(self.ctx, index), shape=(self.n_vocab,))
        peak = float(logits.max())
        norm = peak + math.log(float(np.exp(logits - peak).sum()))
        k = min(top, self.n_vocab)
        best = np.argpartition(logits, -k)[-k:]
        best = best[np.argsort(-logits[best], kind="stable")]
        return Distribution(
            float(logits[token]) - norm,
            tuple((self.piece(int(t)).decode(errors="replace"), float(logits[t]) - norm)
                  for t in best),
        )

    def constrained(self, index: int, chain: Any, grammar: Any) -> int:
        """Sample from the ``index``-th logits of the last batch with the
        grammar applied to the whole vocabulary first."""
        logits = lib.llama_get_logits_ith(self.ctx, index)
        self._candidates["logit"] = np.ctypeslib.as_array(logits, shape=(self.n_vocab,))
        self._candidates["p"] = 0.0
        array = lib.llama_token_data_array(
            self._candidates.ctypes.data_as(lib.llama_token_data_p), self.n_vocab, -1, False
        )
        lib.llama_sampler_apply(grammar, ctypes.byref(array))
        lib.llama_sampler_apply(chain, ctypes.byref(array))
        return int(array.data[array.selected].id)


class Sampler:
    """One request's sampling state: a llama.cpp sampler chain seeded for the
    request, and its grammar when it asks for a JSON schema.

    A grammar is checked against the token the chain picks and applied to the
    whole vocabulary only when that token breaks it (llama.cpp's own common
    sampler does the same): most tokens of a well-prompted reply fit, and
    checking 150k tokens against a grammar costs more than a decode step.
    """

    def __init__(self, model: NativeModel, params: GenerateParams, grammar: str | None) -> None:
        self._model = model
        self._chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        temperature = TEMPERATURE if params.temperature is None else params.temperature
        if temperature <= 0:
            self._add(lib.llama_sampler_init_greedy())
        else:
            seed = lib.LLAMA_DEFAULT_SEED if params.seed is None else params.seed & 0xFFFFFFFF
            self._add(lib.llama_sampler_init_top_k(TOP_K))
            self._add(lib.llama_sampler_init_top_p(
                TOP_P if params.top_p is None else params.top_p, 1))
            self._add(lib.llama_sampler_init_min_p(MIN_P, 1))
            self._add(lib.llama_sampler_init_temp(temperature))
            self._add(lib.llama_sampler_init_dist(seed))
        self._grammar: Any = None
        if grammar is not None:
            self._grammar = lib.llama_sampler_init_grammar(
                model.vocab, grammar.encode(), b"root"
            )
            if not self._grammar:
                self.close()
                raise ValueError("llama.cpp rejected the grammar made from the JSON schema")

    def _add(self, sampler: Any) -> None:
        lib.llama_sampler_chain_add(self._chain, sampler)

    def sample(self, index: int) -> int:
        """A token from the ``index``-th logits of the last batch, accepted
        into the sampler's state."""
        token = int(lib.llama_sampler_sample(self._chain, self._model.ctx, index))
        if self._grammar is None:
            return token
        if not self._fits(token):
            token = self._model.constrained(index, self._chain, self._grammar)
        lib.llama_sampler_accept(self._grammar, token)
        return token

    def _fits(self, token: int) -> bool:
        probe = lib.llama_token_data(token, 1.0, 0.0)
        array = lib.llama_token_data_array(ctypes.pointer(probe), 1, -1, False)
        lib.llama_sampler_apply(self._grammar, ctypes.byref(array))
        return not math.isinf(probe.logit)

    def close(self) -> None:
        if self._grammar:
            lib.llama_sampler_free(self._grammar)
            self._grammar = None
        if self._chain:
            lib.llama_sampler_free(self._chain)
            self._chain = None
