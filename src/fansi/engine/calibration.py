"""Calibration maps: how fansi turns its raw confidence into P(correct), per model.

``fansi eval`` fits the maps (see :mod:`fansi.evals.calibration`) and stores
them in ``FANSI_HOME/calibration/<model>.json``, one file per model spec, with
one map per kind of confidence:

- ``solve``: the confidence of ``fansi solve`` in its best candidate;
- ``verify``: the confidence of ``fansi verify`` in a given solution.

This module reads the files and applies the maps; it fits nothing. A map
resting on fewer than :data:`MIN_FIT_ROWS` dev rows is not applied, and the
confidence stays raw and labelled uncalibrated.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fansi.errors import ConfigError

Kind = Literal["solve", "verify"]
KINDS: tuple[Kind, ...] = ("solve", "verify")
FORMAT = 1


@dataclass(frozen=True)
class IsotonicMap:
    """A non-decreasing piecewise-linear map through fitted points.

    Between two fitted points the map interpolates linearly; outside them it
    is flat (the first and last fitted values).
    """

    xs: tuple[float, ...]
    ys: tuple[float, ...]

    def __call__(self, x: float) -> float:
        if not self.xs:
            raise ValueError("an empty map")
        if x <= self.xs[0]:
            return self.ys[0]
        if x >= self.xs[-1]:
            return self.ys[-1]
        right = bisect.bisect_right(self.xs, x)
        x0, x1 = self.xs[right - 1], self.xs[right]
        y0, y1 = self.ys[right - 1], self.ys[right]
        return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def calibration_path(model: str, home: Path) -> Path:
    """Where the maps of a model spec are stored (the spec made safe as a file name)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("._") or "model"
    return Path(home) / "calibration" / f"{safe}.json"


def read_file(path: Path, model: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the calibration file {path} cannot be read: {exc}",
                          hint="Delete it, or run `fansi eval` again to rewrite it.") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"the calibration file {path} is not in a format this fansi reads",
                          hint="Delete it, or run `fansi eval` again to rewrite it.")
    # Two specs can share a safe file name; a file for another spec is not ours.
    return data if data.get("model") == model else None


#: The fewest dev rows a stored map needs before fansi solve/verify use it.
MIN_FIT_ROWS = 30


def load_map(
    model: str, home: Path, kind: Kind = "solve", *, min_rows: int = MIN_FIT_ROWS
) -> IsotonicMap | None:
    """The stored map of a model spec for one kind of confidence, or None if there is none.

    Raises:
        ConfigError: The file exists but cannot be read.
    """
    data = read_file(calibration_path(model, home), model)
    fitted = ((data or {}).get("kinds", {}).get(kind) or {}).get("map")
    # A map fitted on a handful of rows says more about those rows than about
    # the model; below ``min_rows`` the confidence stays raw (and uncalibrated).
    if not fitted or int(fitted.get("rows", 0)) < min_rows:
        return None
    return IsotonicMap(tuple(map(float, fitted["x"])), tuple(map(float, fitted["y"])))


def calibrated_confidence(
    model: str, raw: float, home: Path, kind: Kind = "solve", *, min_rows: int = MIN_FIT_ROWS
) -> float | None:
    """The calibrated P(correct) for a raw confidence, or None if the model has no map.

    Args:
        model: The model spec, exactly as given to fansi (e.g. ``embedded``).
        raw: The raw confidence from :func:`fansi.engine.confidence.confidence`.
        home: FANSI_HOME (``settings.home``).
        kind: ``solve`` for ``fansi solve``'s result, ``verify`` for ``fansi verify``'s.
        min_rows: Maps fitted on fewer dev rows are not used (None is returned).

    Raises:
        ConfigError: The calibration file exists but cannot be read.
    """
    fitted = load_map(model, home, kind, min_rows=min_rows)
    return None if fitted is None else round(fitted(raw), 3)


__all__ = [
    "FORMAT",
    "KINDS",
    "MIN_FIT_ROWS",
    "IsotonicMap",
    "Kind",
    "calibrated_confidence",
    "calibration_path",
    "load_map",
    "read_file",
]
