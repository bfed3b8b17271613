"""Calibration: a monotone map from fansi's raw confidence to P(correct), per model.

The map is an isotonic regression fitted with pool-adjacent-violators (PAV)
on the *dev* half of an eval's rows, and judged (ECE, reliability diagram) on
the *held* half, which the fit never sees. The halves are fixed by a hash of
each item's id, so the same item always lands on the same side.

Maps are stored in ``FANSI_HOME/calibration/<model>.json``, one file per
model spec, with one map per kind of confidence:

- ``solve``: the confidence of ``fansi solve`` in its best candidate, from
  the answer benchmarks (is the selected answer right?);
- ``verify``: the confidence of ``fansi verify`` in a given solution, from the
  verifier benchmarks (is the labelled solution correct?).

The file keeps the dev rows of each task that contributed, so an eval of one
task replaces that task's rows and the map is refitted on the union of tasks.
Raw confidence depends on the search settings too (k, the schedule); the
settings of each contribution are recorded next to its rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fansi.engine.calibration import FORMAT, IsotonicMap, Kind, calibration_path, read_file


def pav(values: Sequence[float], weights: Sequence[float] | None = None) -> list[float]:
    """Pool adjacent violators: the non-decreasing sequence closest to ``values``.

    It minimises the weighted sum of squared differences. Each value starts as
    its own block; while a block's mean exceeds the next block's, the two are
    merged into one with their weighted mean.

    Args:
        values: The sequence, in the order of the variable it should increase with.
        weights: Positive weights (all 1 when omitted).

    Returns:
        The fitted values, one per input value.
    """
    weights = [1.0] * len(values) if weights is None else list(weights)
    if len(weights) != len(values):
        raise ValueError("one weight per value")
    # Each block: [mean, weight, size]
    blocks: list[list[float]] = []
    for value, weight in zip(values, weights, strict=True):
        if weight <= 0:
            raise ValueError("weights must be positive")
        blocks.append([float(value), float(weight), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean2, weight2, size2 = blocks.pop()
            mean1, weight1, size1 = blocks[-1]
            total = weight1 + weight2
            blocks[-1] = [(mean1 * weight1 + mean2 * weight2) / total, total, size1 + size2]
    fitted: list[float] = []
    for mean, _, size in blocks:
        fitted.extend([mean] * int(size))
    return fitted


def fit_isotonic(x: Sequence[float], y: Sequence[float]) -> IsotonicMap:
    """Fit a non-decreasing map from ``x`` (raw confidence) to ``y`` (0 or 1 outcomes).

    Rows with the same ``x`` are pooled first (their mean, weighted by count),
    so the map is a function; then PAV runs over the distinct ``x`` in order.

    Raises:
        ValueError: With no rows, or ``x`` and ``y`` of different lengths.
    """
    if len(x) != len(y):
        raise ValueError("x and y must be the same length")
    if not x:
        raise ValueError("cannot fit a map to no rows")
    pooled: dict[float, list[float]] = {}
    for xi, yi in zip(x, y, strict=True):
        pooled.setdefault(float(xi), []).append(float(yi))
    xs = sorted(pooled)
    means = [sum(pooled[v]) / len(pooled[v]) for v in xs]
    counts = [float(len(pooled[v])) for v in xs]
    return IsotonicMap(tuple(xs), tuple(pav(means, counts)))


def is_dev(item_id: str, seed: int = 0) -> bool:
    """Whether an item belongs to the dev half (fit) rather than the held half (judge)."""
    digest = hashlib.sha256(f"calibration|{seed}|{item_id}".encode()).digest()
    return digest[0] % 2 == 0


# --------------------------------------------------------------------------- storage


def save_rows(
    model: str,
    kind: Kind,
    task: str,
    rows: Sequence[tuple[float, bool]],
    home: Path,
    *,
    settings: Mapping[str, Any],
    checksum: str | None = None,
) -> IsotonicMap:
    """Replace one task's dev rows in the model's calibration file and refit the
    model's map on the dev rows of every task and kind, pooled.

    Args:
        model: The model spec the rows were measured with.
        kind: Which confidence the rows are about.
        task: The eval task they come from (its earlier rows are replaced).
        rows: (raw confidence, correct) pairs from the dev half.
        home: FANSI_HOME.
        settings: The search settings of the eval, kept for the record.
        checksum: The model file's sha256, when known.

    Returns:
        The map now stored for ``kind``, fitted on every task's rows.
    """
    if not rows:
        raise ValueError("no rows to calibrate on")
    path = calibration_path(model, home)
    data = read_file(path, model) or {"format": FORMAT, "model": model, "kinds": {}}
    data["checksum"] = checksum
    entry = data["kinds"].setdefault(kind, {"tasks": {}})
    entry["tasks"][task] = {
        "rows": [[round(float(c), 6), bool(ok)] for c, ok in rows],
        "settings": dict(settings),
    }
    # One map from the pooled dev rows of every task and both kinds: the raw
    # confidence is one function of the evidence whatever the task, and a map
    # resting on more rows is a better map.
    every = [row for each in data["kinds"].values() for contribution in each["tasks"].values()
             for row in contribution["rows"]]
    fitted = fit_isotonic([r[0] for r in every], [float(r[1]) for r in every])
    for each in data["kinds"].values():
        each["map"] = {"x": list(fitted.xs), "y": list(fitted.ys), "rows": len(every)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return fitted


__all__ = ["fit_isotonic", "is_dev", "pav", "save_rows"]
