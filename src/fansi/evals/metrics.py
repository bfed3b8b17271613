"""Metrics for the evaluation harness, written out so that each can be checked by hand.

- :func:`wilson`: the Wilson score interval for a proportion (95% by default).
  Unlike the normal approximation it stays inside [0, 1] and behaves at 0/n
  and n/n, which matters for the small samples a laptop can afford.
- :func:`flag_stats`: precision, recall and F1 of a verifier for the class
  "flagged as wrong", and the false-pass rate (wrong solutions it passed).
- :func:`reliability` and :func:`ece`: the expected calibration error over
  equal-width confidence bins, and the bins behind a reliability diagram.
- :func:`pearson` and :func:`mae`: agreement between two sets of grades.

Nothing here imports numpy: the inputs are a few hundred numbers at most.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["pass", "fail", "unknown"]

#: z for a two-sided 95% interval.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Proportion:
    """``successes`` out of ``total``, with its Wilson interval."""

    successes: int
    total: int
    low: float
    high: float

    @property
    def value(self) -> float | None:
        return self.successes / self.total if self.total else None


def wilson(successes: int, total: int, z: float = Z95) -> Proportion:
    """The Wilson score interval for ``successes`` out of ``total``.

    Args:
        successes: How many succeeded (0 <= successes <= total).
        total: How many were tried. With none, the interval is all of [0, 1].
        z: The normal quantile; the default gives a two-sided 95% interval.

    Returns:
        The proportion with the interval's bounds.

    Raises:
        ValueError: If the counts are impossible.
    """
    if total < 0 or not 0 <= successes <= total:
        raise ValueError(f"impossible counts: {successes} of {total}")
    if total == 0:
        return Proportion(0, 0, 0.0, 1.0)
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    # Rounded so that 0/n and n/n give exactly 0 and 1, not a rounding error away.
    low, high = round(centre - half, 12), round(centre + half, 12)
    return Proportion(successes, total, max(0.0, low), min(1.0, high))


@dataclass(frozen=True)
class FlagStats:
    """A verifier's decisions on labelled solutions, for the class "wrong".

    A *flag* is a failing verdict. An *unknown* verdict is neither a flag nor
    a pass: it counts against recall (a wrong solution not flagged) but not
    as a false pass, and :attr:`unknown_rate` reports how often it happens.
    """

    true_flags: int  # wrong solutions flagged
    false_flags: int  # correct solutions flagged
    wrong: int  # wrong solutions in all
    correct: int  # correct solutions in all
    wrong_passed: int  # wrong solutions passed
    unknown: int  # verdicts that were neither pass nor fail

    @property
    def precision(self) -> float | None:
        flagged = self.true_flags + self.false_flags
        return self.true_flags / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        return self.true_flags / self.wrong if self.wrong else None

    @property
    def f1(self) -> float | None:
        # With wrong solutions present, flagging none of them scores 0, not "undefined".
        if not self.wrong:
            return None
        return 2 * self.true_flags / (2 * self.true_flags + self.false_flags
                                      + self.wrong - self.true_flags)

    @property
    def false_pass_rate(self) -> float | None:
        return self.wrong_passed / self.wrong if self.wrong else None

    @property
    def unknown_rate(self) -> float | None:
        total = self.wrong + self.correct
        return self.unknown / total if total else None


def flag_stats(wrong: Sequence[bool], verdicts: Sequence[Verdict]) -> FlagStats:
    """Count a verifier's flags against the labels.

    Args:
        wrong: For each solution, whether it is wrong (the label).
        verdicts: For each solution, the verifier's verdict.
    """
    if len(wrong) != len(verdicts):
        raise ValueError("one verdict per label")
    pairs = list(zip(wrong, verdicts, strict=True))
    return FlagStats(
        true_flags=sum(w and v == "fail" for w, v in pairs),
        false_flags=sum(not w and v == "fail" for w, v in pairs),
        wrong=sum(wrong),
        correct=len(wrong) - sum(wrong),
        wrong_passed=sum(w and v == "pass" for w, v in pairs),
        unknown=sum(v == "unknown" for _, v in pairs),
    )


def harmonic(a: float | None, b: float | None) -> float | None:
    """The harmonic mean of two rates (ProcessBench's F1 of its two accuracies)."""
    if a is None or b is None:
        return None
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)


@dataclass(frozen=True)
class Bin:
    """One bin of a reliability diagram: confidences in [low, high)."""

    low: float
    high: float
    count: int
    confidence: float | None  # mean confidence of the rows in the bin
    accuracy: float | None  # share of them that were correct


def reliability(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10
                ) -> list[Bin]:
    """Equal-width bins over [0, 1]; a confidence of exactly 1 falls in the last bin."""
    if len(confidence) != len(correct):
        raise ValueError("one outcome per confidence")
    if bins < 1:
        raise ValueError("bins must be at least 1")
    members: list[list[int]] = [[] for _ in range(bins)]
    for index, c in enumerate(confidence):
        members[min(bins - 1, max(0, int(c * bins)))].append(index)
    out = []
    for b, rows in enumerate(members):
        conf = sum(confidence[i] for i in rows) / len(rows) if rows else None
        acc = sum(correct[i] for i in rows) / len(rows) if rows else None
        out.append(Bin(b / bins, (b + 1) / bins, len(rows), conf, acc))
    return out


def ece(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float | None:
    """Expected calibration error: the count-weighted mean |accuracy - confidence| over bins.

    Returns:
        The error in [0, 1], or None when there are no rows.
    """
    total = len(confidence)
    if total == 0:
        return None
    return sum(
        b.count / total * abs((b.accuracy or 0.0) - (b.confidence or 0.0))
        for b in reliability(confidence, correct, bins)
        if b.count
    )


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's correlation; None with fewer than two pairs or a constant side."""
    if len(x) != len(y):
        raise ValueError("x and y must be the same length")
    n = len(x)
    if n < 2:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def mae(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Mean absolute error between paired values; None when there are none."""
    if len(x) != len(y):
        raise ValueError("x and y must be the same length")
    return sum(abs(a - b) for a, b in zip(x, y, strict=True)) / len(x) if x else None


@dataclass(frozen=True)
class Paired:
    """Two methods on the same items: items only the first got right, only the
    second, and McNemar's exact two-sided p-value on those discordant pairs."""

    only_a: int
    only_b: int
    p_value: float


def mcnemar(a: Sequence[bool], b: Sequence[bool]) -> Paired:
    """McNemar's exact test (a binomial test on the discordant pairs, p = 1/2).

    Raises:
        ValueError: If the two sequences differ in length.
    """
    if len(a) != len(b):
        raise ValueError("paired outcomes must be of the same length")
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return Paired(0, 0, 1.0)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return Paired(only_a, only_b, min(1.0, 2 * tail))


def auroc(scores: Sequence[float], positive: Sequence[bool]) -> float | None:
    """The area under the ROC curve: P(a positive outranks a negative), ties half.
    None without both classes."""
    pos = [s for s, y in zip(scores, positive, strict=True) if y]
    neg = [s for s, y in zip(scores, positive, strict=True) if not y]
    if not pos or not neg:
        return None
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


__all__ = [
    "Z95",
    "Bin",
    "FlagStats",
    "Proportion",
    "Verdict",
    "ece",
    "flag_stats",
    "harmonic",
    "mae",
    "mean",
    "pearson",
    "reliability",
    "wilson",
]
