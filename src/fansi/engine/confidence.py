"""Confidence: an estimate of P(correct) from the evidence about a candidate.

Uncalibrated: the weights below are a reasoned prior, not a fit. The
evaluation harness fits a monotone map from this raw number to observed
accuracy per model; until a model has one, fansi labels the number
"uncalibrated".
"""

from __future__ import annotations

from statistics import pstdev
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fansi.engine.checked import Checked


def confidence(checked: Checked) -> float:
    """A number in [0, 1] from verification scores, their agreement and coverage,
    meta-check outcomes, the writer's self-score and answer agreement."""
    known = [v for v in checked.verifications if v.score is not None and v.weight > 0]
    evidence = sum(v.weight for v in known)
    # Beta(1, 1) prior on "a verifier passes it": two passes give 0.75, not 1,
    # so a handful of verdicts cannot claim certainty.
    posterior = (sum(v.weight * (v.score or 0.0) for v in known) + 1.0) / (evidence + 2.0)
    # Verifiers that disagree with each other make any mean less trustworthy.
    spread = pstdev([v.score or 0.0 for v in known]) if len(known) > 1 else 0.0
    agreement = 1.0 - min(1.0, 2.0 * spread)
    confirmed = sum(1 for c in checked.meta_checks if c.real)
    self_score = 0.5 if checked.candidate.self_score is None else checked.candidate.self_score
    support = posterior if checked.answer_support is None else checked.answer_support
    raw = 0.65 * posterior * (0.5 + 0.5 * agreement) + 0.15 * self_score + 0.20 * support
    if confirmed:
        raw *= 0.5
    if checked.candidate.truncated:
        raw *= 0.5
    return round(min(1.0, max(0.0, raw)), 3)
