"""Inference backends behind one protocol.

A backend is anything with ``async generate(messages, params, on_token=None)
-> Completion`` and ``async aclose()``. Capabilities are class attributes.
A registry maps spec kinds to factories; each factory imports its heavy
dependency lazily.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from fansi.models import Kind, ModelSpec, parse_spec
from fansi.records import Completion, GenerateParams, Message

if TYPE_CHECKING:
    from fansi.config import Settings

TokenCallback = Callable[[str], None]


class Backend(Protocol):
    #: Name shown to users and stored with every call, e.g. ``embedded``.
    name: str
    #: What the model is, for the call cache: a GGUF file's checksum or the
    #: served model's name; never a path or URL, which can change.
    identity: str
    #: Whether ``params.json_schema`` is enforced by constrained decoding.
    supports_schema: bool
    #: Whether ``params.logprobs`` is honoured: the completion then carries
    #: each token's log-probability and its most likely alternatives.
    supports_logprobs: bool
    #: How many calls it is useful to have in flight at once.
    max_concurrency: int

    async def generate(
        self,
        messages: Sequence[Message],
        params: GenerateParams,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        """Generate one completion. Only infrastructure failures raise (``BackendError``)."""
        ...

    async def aclose(self) -> None:
        """Release threads, models and connections."""
        ...


class Wrapper:
    """A backend that delegates to another one. Wrappers (the call cache, the
    meter, recorders) subclass it and override ``generate``."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = inner.name
        self.identity = inner.identity
        self.supports_schema = inner.supports_schema
        self.supports_logprobs = inner.supports_logprobs
        self.max_concurrency = inner.max_concurrency

    async def generate(
        self,
        messages: Sequence[Message],
        params: GenerateParams,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        return await self.inner.generate(messages, params, on_token)

    async def aclose(self) -> None:
        """Close the wrapped backend."""
        await self.inner.aclose()


def _make_llamacpp(spec: ModelSpec, settings: Settings) -> Backend:
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        from fansi.errors import ExtraNotInstalled

        raise ExtraNotInstalled("local", f"the in-process model {spec.raw!r}")
    from fansi.backends.llamacpp import LlamaCppBackend

    return LlamaCppBackend.from_spec(spec, settings)


def _make_openai(spec: ModelSpec, settings: Settings) -> Backend:
    from fansi.backends.openai import OpenAIBackend

    return OpenAIBackend.from_spec(spec, settings)


def _make_fake(spec: ModelSpec, settings: Settings) -> Backend:
    from fansi.backends.fake import FakeBackend

    return FakeBackend.echo()


REGISTRY: dict[Kind, Callable[[ModelSpec, Settings], Backend]] = {
    "llamacpp": _make_llamacpp,
    "openai": _make_openai,
    "fake": _make_fake,
}


def create_backend(spec: str | ModelSpec, settings: Settings) -> Backend:
    """Build the backend for a model spec string such as ``embedded``."""
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    return REGISTRY[parsed.kind](parsed, settings)


__all__ = ["Backend", "TokenCallback", "Wrapper", "create_backend"]
