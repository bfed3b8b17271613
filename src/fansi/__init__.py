"""fansi (反思): self-verifying mathematical reasoning on your own machine."""

from __future__ import annotations

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

__version__ = "0.1.0"

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
]
