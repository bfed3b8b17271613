"""Confidence: an estimate of P(correct) from the evidence about a candidate.

Uncalibrated: the formula below is a reasoned prior, not a fit. The
evaluation harness fits a monotone map from this raw number to observed
accuracy per model (:mod:`fansi.engine.calibration`); until a model has one,
fansi labels the number "uncalibrated".

What the candidate says about itself (its self-score, any verdict it writes)
never enters: only the verifiers' P(pass), the executed checks and the vote.
"""

from __future__ import annotations

from fansi.engine.checked import Checked
from fansi.engine.evidence import p_pass


def confidence(checked: Checked, share: float | None = None) -> float:
    """A number in [0, 1]: the verifier posterior P(pass), averaged with the
    share of the vote its answer won (``share``; None for problems without
    answers); 0 when an executed check refuted it; halved on a confirmed issue
    and on truncation."""
    if checked.refuted():
        return 0.0
    posterior = p_pass(checked)
    raw = posterior if share is None else 0.5 * posterior + 0.5 * share
    if any(c.real for c in checked.meta_checks):
        raw *= 0.5
    if checked.candidate.truncated:
        raw *= 0.5
    return round(min(1.0, max(0.0, raw)), 3)
