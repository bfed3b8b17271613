"""Effort presets, the search configuration, and the meter that enforces budgets."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from fansi.backends import Backend, TokenCallback, Wrapper
from fansi.config import Checks, Effort, Schedule, Settings, WriterPrompt, default
from fansi.errors import BudgetSpent
from fansi.records import Budget, Completion, GenerateParams, Message, Usage

#: effort -> (n candidates, k verifications, m refined per round, rounds)
EFFORTS: dict[Effort, tuple[int, int, int, int]] = {
    "low": (2, 2, 1, 1),
    "medium": (4, 4, 2, 2),
    "high": (8, 8, 4, 4),
    "heavy": (64, 64, 8, 16),
}


# The settings' defaults, so that a SearchConfig made without settings (tests,
# scripts) searches as a default run does; no default is written twice.
_DEFAULTS = {name: default(name) for name in (
    "effort", "schedule", "max_tokens", "verify_tokens", "meta_tokens", "temperature", "seed",
    "checks", "writer_prompt")}
_PRESET = EFFORTS[_DEFAULTS["effort"]]


@dataclass(frozen=True)
class SearchConfig:
    """Every knob of the search. Build one with :meth:`from_settings` (or
    :meth:`from_effort` in tests and scripts); the defaults are the settings'.

    ``rounds`` counts rounds in all: round 0 writes ``n`` candidates, each
    later round refines the best ``m``. ``k`` is how many passing
    verifications a candidate needs to be accepted.
    """

    n: int = _PRESET[0]
    k: int = _PRESET[1]
    m: int = _PRESET[2]
    rounds: int = _PRESET[3]
    schedule: Schedule = _DEFAULTS["schedule"]
    #: adaptive: verifications launched at once per candidate.
    wave: int = 2
    #: streak: consecutive failures after which a candidate is given up.
    reject_after: int = 2
    meta_check: bool = True
    max_tokens: int = _DEFAULTS["max_tokens"]
    verify_tokens: int = _DEFAULTS["verify_tokens"]
    meta_tokens: int = _DEFAULTS["meta_tokens"]
    temperature: float = _DEFAULTS["temperature"]
    seed: int = _DEFAULTS["seed"]
    budget: Budget = field(default_factory=Budget)
    #: Executed checks: none, deterministic (no model-written code) or all.
    checks: Checks = _DEFAULTS["checks"]
    #: Programs written per problem (answer votes) when checks is "all";
    #: None: as many as candidates.
    programs: int | None = None
    #: The writer's prompt: full (with self-evaluation) or plain.
    writer_prompt: WriterPrompt = _DEFAULTS["writer_prompt"]

    @classmethod
    def from_settings(cls, settings: Settings) -> SearchConfig:
        """The search that resolved settings ask for: the effort's preset, with
        any of n, k, m and rounds that are set on top, capped by the budgets."""
        return cls.from_effort(
            settings.effort,
            n=settings.n,
            k=settings.k,
            m=settings.m,
            rounds=settings.rounds,
            schedule=settings.schedule,
            max_tokens=settings.max_tokens,
            verify_tokens=settings.verify_tokens,
            # A meta-check never needs more room than the verdict it judges.
            meta_tokens=min(settings.meta_tokens, settings.verify_tokens),
            temperature=settings.temperature,
            seed=settings.seed,
            budget=Budget(settings.budget_tokens, settings.budget_calls,
                          settings.budget_seconds),
            checks=settings.checks,
            programs=settings.programs,
            writer_prompt=settings.writer_prompt,
        )

    @classmethod
    def from_effort(cls, effort: Effort = "low", **overrides: object) -> SearchConfig:
        n, k, m, rounds = EFFORTS[effort]
        given = {key: value for key, value in overrides.items() if value is not None}
        return replace(cls(n=n, k=k, m=m, rounds=rounds), **given)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        if self.programs is not None and self.programs < 0:
            raise ValueError("programs must be at least 0")
        for name in ("n", "k", "rounds", "wave", "reject_after", "max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.m < 0:
            raise ValueError("m must be at least 0")


def derive_seed(base: int, *parts: object) -> int:
    """A per-call seed from the run's seed and the call's place in the search.

    Every sample gets its own seed, so samples differ, and a resumed run asks
    exactly the same calls again (which the call cache then answers).
    """
    text = "|".join(str(p) for p in (base, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF


@dataclass
class Meter:
    """Counts what a run spends. Cached calls count too, so that a resumed run
    makes the same budget decisions as the run it continues."""

    budget: Budget
    usage: Usage = field(default_factory=Usage)
    calls: int = 0
    cached_calls: int = 0
    failed_calls: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def seconds_left(self) -> float | None:
        """Seconds until the time budget runs out (never below 0); None without one."""
        if self.budget.seconds is None:
            return None
        return max(0.0, self.budget.seconds - self.seconds)

    def exhausted(self) -> str | None:
        """Which cap is spent ("tokens", "calls", "seconds"), or None."""
        b = self.budget
        if b.tokens is not None and self.usage.total_tokens >= b.tokens:
            return "tokens"
        if b.calls is not None and self.calls >= b.calls:
            return "calls"
        if b.seconds is not None and self.seconds >= b.seconds:
            return "seconds"
        return None

    def add(self, completion: Completion) -> None:
        self.calls += 1
        self.usage = self.usage + completion.usage
        if completion.cached:
            self.cached_calls += 1


class MeteredBackend(Wrapper):
    """Wraps a backend and feeds every completion to a :class:`Meter`.

    With a time budget, a call still running when it runs out is cancelled
    (an in-process model frees its slot) and raises :class:`BudgetSpent`, so
    ``--budget-seconds`` bounds the run even when one reply is long. The tokens
    a cancelled call had produced are not counted: no completion came back.
    """

    def __init__(self, inner: Backend, meter: Meter) -> None:
        super().__init__(inner)
        self.meter = meter

    async def generate(
        self,
        messages: Sequence[Message],
        params: GenerateParams,
        on_token: TokenCallback | None = None,
    ) -> Completion:
        left = self.meter.seconds_left()
        call = self.inner.generate(messages, params, on_token)
        try:
            if left is None:
                completion = await call
            else:
                try:
                    completion = await asyncio.wait_for(call, timeout=left)
                except TimeoutError:
                    raise BudgetSpent(f"the time budget of {self.meter.budget.seconds:g} s "
                                      "ran out during the call") from None
        except BudgetSpent:
            raise
        except Exception:
            self.meter.failed_calls += 1
            raise
        self.meter.add(completion)
        return completion
