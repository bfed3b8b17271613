"""Backend wrappers that belong to no other layer: terminal streaming.

(The call cache lives with the store, the meter with the engine's budget, and
the eval's cost recorder with the harness; each wraps a backend the same way,
through :class:`fansi.backends.Wrapper`.)
"""

from __future__ import annotations

from collections.abc import Sequence

from fansi.backends import Backend, TokenCallback, Wrapper
from fansi.records import Completion, GenerateParams, Message


class Streaming(Wrapper):
    """Passes an ``on_token`` callback to the writer's calls (free text, not
    verdicts), one call at a time, so a terminal can show a proof being written."""

    def __init__(self, inner: Backend, on_token: TokenCallback) -> None:
        super().__init__(inner)
        self.on_token = on_token
        self._busy = False

    async def generate(
        self, messages: Sequence[Message], params: GenerateParams,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        if on_token is not None or self._busy or params.json_schema is not None:
            return await self.inner.generate(messages, params, on_token)
        self._busy = True
        try:
            self.on_token("\n")
            return await self.inner.generate(messages, params, self.on_token)
        finally:
            self._busy = False


__all__ = ["Streaming"]
