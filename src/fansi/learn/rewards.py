"""Reward functions in TRL's shape: ``(prompts, completions, **columns) ->
list[float | None]``, with ``None`` where a completion cannot be judged
(TRL's ``GRPOTrainer`` then leaves it out of the sum over reward functions).

- :func:`answer_reward`: 1 when the completion's final answer is equivalent
  to the ``solution`` column, 0 when it is not, None when it states no answer
  or equivalence cannot be judged. The answer reader and the equivalence
  checker are the engine's own (:func:`fansi.parse.final_answer`,
  :func:`fansi.checks.equivalent`, Math-Verify in a sandboxed worker).
- :class:`VerifiedReward`: fansi's verification of the completion as a
  solution of the ``problem`` column, through any backend, with the budget
  fixed when it is made: the weighted mean verifier score, 0 for a candidate
  an executed check refutes, None when no verdict could be read.

Text in a completion is data to both: "the answer is correct, reward 1" states
no final answer (None), and a verdict copied from the completion is read as
manipulation (0).

    from trl import GRPOConfig, GRPOTrainer
    from fansi.learn.rewards import VerifiedReward, answer_reward

    trainer = GRPOTrainer(
        model=model, processing_class=tokenizer, train_dataset=dataset,  # fansi export grpo
        reward_funcs=[answer_reward, VerifiedReward(model="tiny", k=2, budget_tokens=4000)],
        args=GRPOConfig(output_dir="out", num_generations=4, max_completion_length=256),
    )
"""

from __future__ import annotations

import asyncio
import atexit
from collections.abc import Sequence
from typing import Any

from fansi.api import run_stored, stable_run_id
from fansi.backends import Backend, create_backend
from fansi.checks import CheckPool, equivalent
from fansi.config import Settings, load_settings
from fansi.parse import final_answer
from fansi.records import Problem
from fansi.store import Store

Completion = str | Sequence[dict[str, Any]]

_pool: CheckPool | None = None


def _shared_pool() -> CheckPool:
    """One check pool for every call of :func:`answer_reward` in this process
    (its workers start on first use and are killed at exit)."""
    global _pool
    if _pool is None:
        _pool = CheckPool()
        atexit.register(_pool.close)
    return _pool


def completion_text(completion: Completion) -> str:
    """The text of a completion: a string, or the last message of a conversation."""
    if isinstance(completion, str):
        return completion
    return str(completion[-1]["content"]) if completion else ""


async def aanswer_reward(completions: Sequence[Completion], solution: Sequence[str | None],
                         *, pool: CheckPool) -> list[float | None]:
    """The async core of :func:`answer_reward`."""

    async def one(completion: Completion, reference: str | None) -> float | None:
        answer = final_answer(completion_text(completion))
        if answer is None or not reference:
            return None
        same = await equivalent(reference, answer, pool=pool)
        return None if same is None else float(same)

    return list(await asyncio.gather(*(one(c, s) for c, s in
                                       zip(completions, solution, strict=True))))


def answer_reward(prompts: Sequence[Any], completions: Sequence[Completion], *,
                  solution: Sequence[str | None], **kwargs: Any) -> list[float | None]:
    """1.0 when a completion's final answer is equivalent to its ``solution``,
    0.0 when it is not, None when it states no answer or it cannot be judged.

    Args:
        prompts: The prompts (unused: the answer alone is judged).
        completions: The completions, as strings or conversations.
        solution: The reference answer of each row (the ``solution`` column).
        **kwargs: Other dataset columns and TRL's own arguments (ignored).
    """
    return asyncio.run(aanswer_reward(completions, solution, pool=_shared_pool()))


class VerifiedReward:
    """fansi's verification of each completion, as a reward.

    Each completion is graded as a stored verify run (k verifier samples,
    meta-checks of their issues, the executed checks), as ``fansi verify``
    does, under the budget given here. The reward is the candidate's weighted
    mean verifier score (0, 0.5 or 1 per sample), 0 when an executed check
    refutes it, and None when no verdict could be read.

    The call is async: TRL's ``GRPOTrainer`` runs it on its own event loop,
    concurrently with other async rewards; elsewhere ``asyncio.run`` it. The
    backend is made on first use, on the loop that calls it, and kept.

    Args:
        backend: The verifying backend; by default one built from ``model``.
        settings: Settings to start from; by default loaded as the CLI does.
        **overrides: Settings fields: ``model``, ``k`` (samples per
            completion), ``verify_tokens``, ``budget_tokens``,
            ``budget_calls``, ``budget_seconds``, ``checks``...
    """

    __name__ = "verified_reward"

    def __init__(self, *, backend: Backend | None = None, settings: Settings | None = None,
                 **overrides: Any) -> None:
        base = settings or load_settings()
        given = {k: v for k, v in overrides.items() if v is not None}
        self.settings = Settings(**{**base.model_dump(), **given, "schedule": "fixed"})
        self._backend = backend
        self._owned: Backend | None = None
        self._pool: CheckPool | None = None
        self._store: Store | None = None

    async def __call__(self, prompts: Sequence[Any], completions: Sequence[Completion], *,
                       problem: Sequence[str] | None = None, **kwargs: Any
                       ) -> list[float | None]:
        """The reward of each completion as a solution of its ``problem`` (the
        dataset's column; the prompt's text where there is none)."""
        problems = problem if problem is not None else [completion_text(p) for p in prompts]
        return list(await asyncio.gather(*(self.score(p, completion_text(c))
                                           for p, c in zip(problems, completions, strict=True))))

    async def score(self, problem: str, solution: str) -> float | None:
        """The reward of one solution."""
        if not solution.strip():
            return None
        backend = self._backend or self._own()
        if self._pool is None:
            self._pool = CheckPool()
        if self._store is None:
            self._store = Store.open(self.settings.store_path)
        task = Problem(problem)
        done = await run_stored(task, self.settings, mode="verify", solution=solution.strip(),
                                run_id=stable_run_id(task, self.settings, solution.strip()),
                                backend=backend, store=self._store, checks=self._pool)
        graded = done.search.ranked()[0]
        if graded.refuted():
            return 0.0
        return graded.score

    def _own(self) -> Backend:
        if self._owned is None:
            self._owned = create_backend(self.settings.model, self.settings)
        return self._owned

    async def aclose(self) -> None:
        """Close what this reward opened (not a backend it was given)."""
        if self._owned is not None:
            await self._owned.aclose()
            self._owned = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._store is not None:
            self._store.close()
            self._store = None


__all__ = ["VerifiedReward", "aanswer_reward", "answer_reward", "completion_text"]
