"""In-process GGUF inference with llama-cpp-python.

The model lives on one dedicated worker thread; calls queue there and the
event loop never blocks. llama.cpp keeps the KV cache of the previous prompt
and reuses its longest common prefix, so calls that share a long prefix (the
verifications of one candidate) skip most of their prompt reading.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fansi.backends import TokenCallback
from fansi.backends.templates import TEMPLATES, ChatTemplate, family_from_metadata
from fansi.errors import BackendError, ModelError
from fansi.models import Family, ModelSpec, resolve_gguf
from fansi.records import Completion, GenerateParams, Message, StopReason, Usage

if TYPE_CHECKING:
    from fansi.config import Settings


@dataclass
class WorkerStats:
    """What the worker has done so far; benchmarks read busy_s against wall time."""

    calls: int = 0
    cancelled: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    busy_s: float = 0.0


class LlamaCppBackend:
    """A GGUF model run in this process on a dedicated worker thread."""

    supports_schema = True
    # Calls are served one at a time on the worker; more in flight only queue.
    max_concurrency = 1

    def __init__(
        self,
        path: Path,
        *,
        name: str | None = None,
        family: Family | None = None,
        n_ctx: int = 8192,
        n_threads: int | None = None,
    ) -> None:
        self.path = path
        self.name = name or f"gguf:{path}"
        self._family = family
        self._n_ctx = n_ctx
        self._n_threads = n_threads or os.cpu_count() or 1
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fansi-llama")
        self._llama: Any = None
        self._template: ChatTemplate | None = None
        self._grammars: dict[str, Any] = {}
        self.stats = WorkerStats()

    @classmethod
    def from_spec(cls, spec: ModelSpec, settings: Settings) -> LlamaCppBackend:
        path, family = resolve_gguf(spec, settings.models_dir)
        return cls(
            path,
            name=spec.raw,
            family=family,
            n_ctx=settings.context,
            n_threads=settings.threads,
        )

    # --- everything below the line runs on the worker thread -------------

    def _load(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise ModelError(
                    "llama-cpp-python is not installed",
                    hint="Run `bash scripts/setup.sh`; it builds llama-cpp-python portably.",
                ) from exc
            try:
                self._llama = Llama(
                    model_path=str(self.path),
                    n_ctx=self._n_ctx,
                    n_threads=self._n_threads,
                    n_threads_batch=self._n_threads,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"cannot load {self.path}: {exc}") from exc
            family = self._family or family_from_metadata(dict(self._llama.metadata))
            self._template = TEMPLATES[family]
        return self._llama

    def _grammar(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            from llama_cpp.llama_grammar import LlamaGrammar

            self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
        return self._grammars[key]

    def _run(
        self,
        messages: Sequence[Message],
        params: GenerateParams,
        emit: TokenCallback | None,
        cancelled: threading.Event,
    ) -> Completion:
        start = time.perf_counter()
        llama = self._load()
        assert self._template is not None
        prompt = self._template.render(messages)
        prompt_tokens = len(llama.tokenize(prompt.encode(), add_bos=False, special=True))
        room = self._n_ctx - prompt_tokens
        if room <= 0:
            # Context overflow is an outcome, not a failure.
            return Completion("", "length", Usage(prompt_tokens, 0),
                              time.perf_counter() - start, self.name)
        max_tokens = min(params.max_tokens or room, room)
        # llama-cpp-python calls the stopping criterion once per sampled token
        # with the tokens evaluated so far, and once more after the last one
        # with the same length; distinct lengths therefore count the sampled
        # tokens exactly, in streaming and plain mode alike.
        seen: set[int] = set()

        def stop_when(ids: Any, _logits: Any) -> bool:
            seen.add(len(ids))
            return cancelled.is_set()

        from llama_cpp import StoppingCriteriaList

        kwargs: dict[str, Any] = {
            "max_tokens": max_tokens,
            "stop": list(self._template.stop + params.stop),
            "stopping_criteria": StoppingCriteriaList([stop_when]),
        }
        if params.temperature is not None:
            kwargs["temperature"] = params.temperature
        if params.top_p is not None:
            kwargs["top_p"] = params.top_p
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if params.json_schema is not None:
            kwargs["grammar"] = self._grammar(params.json_schema)
        try:
            if emit is None:
                out = llama.create_completion(prompt, **kwargs)
                text = out["choices"][0]["text"]
                finish = out["choices"][0]["finish_reason"]
            else:
                pieces: list[str] = []
                finish = None
                for chunk in llama.create_completion(prompt, stream=True, **kwargs):
                    piece = chunk["choices"][0]["text"]
                    if piece:
                        pieces.append(piece)
                        emit(piece)
                    finish = chunk["choices"][0].get("finish_reason") or finish
                text = "".join(pieces)
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"llama.cpp failed on {self.name}: {exc}") from exc
        generated = len(seen)
        reason: StopReason = "length" if finish == "length" else "stop"
        if cancelled.is_set():
            reason = "cancelled"
            self.stats.cancelled += 1
        self.stats.calls += 1
        self.stats.prompt_tokens += prompt_tokens
        self.stats.completion_tokens += generated
        self.stats.busy_s += time.perf_counter() - start
        return Completion(
            text=text,
            stop_reason=reason,
            usage=Usage(prompt_tokens, generated),
            latency_s=time.perf_counter() - start,
            model=self.name,
        )

    # --- the async face ----------------------------------------------------

    async def generate(
        self,
        messages: Sequence[Message],
        params: GenerateParams,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        loop = asyncio.get_running_loop()
        cancelled = threading.Event()
        emit: TokenCallback | None = None
        if on_token is not None:
            callback = on_token

            def emit(piece: str) -> None:
                loop.call_soon_threadsafe(callback, piece)

        future = loop.run_in_executor(self._executor, self._run, messages, params, emit, cancelled)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # Tell the worker to stop at its next token so the slot frees up.
            cancelled.set()
            raise

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._unload)
        self._executor.shutdown(wait=True)

    def _unload(self) -> None:
        if self._llama is not None:
            self._llama.close()
            self._llama = None
