"""In-process GGUF inference with llama.cpp, with continuous batching.

Up to ``batch`` calls are decoded together, one llama_decode per step, on one
worker thread (see :mod:`fansi.backends.batching`); the event loop never
blocks. Calls that share a prompt prefix with a sequence in the KV cache
(the verifications of one candidate) reuse it instead of reading it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fansi.backends import TokenCallback
from fansi.backends.batching import Batcher, Loaded, Request, WorkerStats
from fansi.backends.templates import TEMPLATES, family_from_metadata
from fansi.config import default
from fansi.errors import ModelError
from fansi.models import Family, ModelSpec, file_identity, resolve_gguf
from fansi.records import Completion, GenerateParams, Message

if TYPE_CHECKING:
    from fansi.config import Settings

#: Calls decoded together when nothing says otherwise.
# Direct construction (tests, scripts) gets the settings' defaults.
_CONTEXT: int = default("context")
_BATCH: int = default("batch")
#: Default KV cache across all sequences: enough for a few verification
#: prompts of a long proof and their replies, within a laptop's memory.
DEFAULT_KV_CELLS = 16384
#: Most tokens one llama_decode reads (prompt chunks and generating sequences).
N_BATCH = 512

__all__ = ["LlamaCppBackend", "WorkerStats"]


class LlamaCppBackend:
    """A GGUF model run in this process, serving many calls at once.

    Args:
        path: The GGUF file.
        name: Name shown to users and stored with every call.
        family: The chat template's family; read from the file when omitted.
        n_ctx: Context of one call: prompt plus reply, in tokens.
        n_threads: CPU threads; all cores when omitted.
        batch: Calls decoded together (the worker's slots).
        kv_cells: KV cache cells shared by all calls; at least ``n_ctx``.
            Omitted: ``min(batch * n_ctx, 16384)``, or ``n_ctx`` if larger.
    """

    supports_schema = True
    #: From the logits each token was sampled from (see batching).
    supports_logprobs = True

    def __init__(
        self,
        path: Path,
        *,
        name: str | None = None,
        identity: str | None = None,
        family: Family | None = None,
        n_ctx: int = _CONTEXT,
        n_threads: int | None = None,
        batch: int = _BATCH,
        kv_cells: int | None = None,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.path = path
        self.name = name or f"gguf:{path}"
        # What the model is (its file's checksum), not where it lies.
        self.identity = identity or self.name
        self.max_concurrency = batch
        self._family = family
        self._n_ctx = n_ctx
        self._n_threads = n_threads or os.cpu_count() or 1
        default_cells = max(n_ctx, min(batch * n_ctx, DEFAULT_KV_CELLS))
        self._kv_cells = max(n_ctx, kv_cells or default_cells)
        self._grammars: dict[str, str] = {}
        self._batcher: Batcher | None = None
        self.stats = WorkerStats()

    @classmethod
    def from_spec(cls, spec: ModelSpec, settings: Settings) -> LlamaCppBackend:
        path, family = resolve_gguf(spec, settings.models_dir)
        packaged = spec.packaged
        return cls(
            path,
            name=spec.raw,
            identity=f"sha256:{packaged.sha256}" if packaged else file_identity(path),
            family=family,
            n_ctx=settings.context,
            n_threads=settings.threads,
            batch=settings.batch,
        )

    # --- run on the worker thread --------------------------------------------

    def _load(self) -> Loaded:
        try:
            from fansi.backends.native import ContextShape, NativeModel
        except ImportError as exc:
            raise ModelError(
                "llama-cpp-python is not installed",
                hint="Run `bash scripts/setup.sh`; it builds llama-cpp-python portably.",
            ) from exc
        shape = ContextShape(
            kv_cells=self._kv_cells,
            n_seq=self.max_concurrency,
            n_batch=max(N_BATCH, self.max_concurrency),
            n_threads=self._n_threads,
        )
        try:
            model = NativeModel(self.path, shape)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"cannot load {self.path}: {exc}") from exc
        keys = ("general.name", "general.basename", "general.architecture")
        family = self._family or family_from_metadata({k: model.metadata(k) for k in keys})
        return Loaded(model, TEMPLATES[family])

    def _grammar(self, schema: dict[str, Any]) -> str:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            from llama_cpp.llama_grammar import json_schema_to_gbnf

            try:
                self._grammars[key] = json_schema_to_gbnf(key)
            except Exception as exc:  # the converter raises bare Exceptions
                raise ValueError(f"cannot turn the JSON schema into a grammar: {exc}") from exc
        return self._grammars[key]

    def _worker(self) -> Batcher:
        if self._batcher is None:
            self._batcher = Batcher(
                self._load,
                name=self.name,
                slots=self.max_concurrency,
                n_ctx=self._n_ctx,
                n_batch=max(N_BATCH, self.max_concurrency),
                grammar=self._grammar,
                stats=self.stats,
            )
        return self._batcher

    # --- the async face ----------------------------------------------------------

    async def generate(
        self,
        messages: Sequence[Message],
        params: GenerateParams,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Completion] = loop.create_future()

        def settle(outcome: Completion | BaseException) -> None:
            if future.done():
                return
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

        def deliver(outcome: Completion | BaseException) -> None:
            # A loop closed under a call has no one left to tell.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, outcome)

        emit = None
        if on_token is not None:
            callback = on_token

            def emit(piece: str) -> None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(callback, piece)

        request = Request(messages, params, deliver, emit)
        worker = self._worker()
        worker.submit(request)
        try:
            return await future
        except asyncio.CancelledError:
            # The worker drops the sequence at its next step and frees the slot.
            request.cancelled = True
            worker.wake()
            raise

    async def aclose(self) -> None:
        if self._batcher is not None:
            batcher, self._batcher = self._batcher, None
            await asyncio.to_thread(batcher.close)
