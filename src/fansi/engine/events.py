"""Typed events the engine reports while it works. The engine prints nothing;
the CLI's progress display (and later the HTTP service) consumes these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

EventKind = Literal[
    "run_started",
    "candidate_written",
    "verification_finished",
    "issue_confirmed",
    "candidate_decided",
    "check_finished",
    "program_voted",
    "round_finished",
    "call_failed",
    "run_finished",
]


@dataclass(frozen=True)
class Event:
    kind: EventKind
    round: int
    tokens: int
    calls: int
    seconds: float
    data: dict[str, Any] = field(default_factory=dict)


EventHandler = Callable[[Event], None]
