"""TRL-shaped reward functions: ``fansi.rewards.answer_reward`` and
``fansi.rewards.VerifiedReward`` (see :mod:`fansi.learn.rewards`)."""

from __future__ import annotations

from fansi.learn.rewards import VerifiedReward, aanswer_reward, answer_reward, completion_text

__all__ = ["VerifiedReward", "aanswer_reward", "answer_reward", "completion_text"]
