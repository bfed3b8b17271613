"""fansi (反思): self-verifying mathematical reasoning on your own machine."""

from __future__ import annotations

from fansi._version import __version__
from fansi.errors import FansiError
from fansi.records import (
    Budget,
    Candidate,
    Completion,
    GenerateParams,
    Issue,
    Message,
    MetaCheck,
    Problem,
    Usage,
    Verification,
)


def __getattr__(name: str) -> object:
    # The API pulls in the engine and the store; load it on first use so that
    # `import fansi` (and every check worker) stays light.
    if name in _API:
        from fansi import api

        return getattr(api, name)
    if name in _PROVE:
        from fansi import provers

        return getattr(provers, name)
    raise AttributeError(f"module 'fansi' has no attribute {name!r}")


_API = ("solve", "asolve", "verify", "averify", "aresume")
_PROVE = ("prove", "aprove")

__all__ = [
    "Budget",
    "Candidate",
    "Completion",
    "FansiError",
    "GenerateParams",
    "Issue",
    "Message",
    "MetaCheck",
    "Problem",
    "Usage",
    "Verification",
    "__version__",
    "aprove",
    "aresume",
    "asolve",
    "averify",
    "prove",
    "solve",
    "verify",
]
