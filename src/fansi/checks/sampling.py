"""Sampling a SymPy expression at values its symbols' assumptions allow.

Used by the assertion check: SymPy's ``==`` is structural, so an equality
SymPy cannot reduce is judged at sampled values instead of being taken as a
counterexample (see :mod:`fansi.checks.assertions`).
"""

from __future__ import annotations

import types
from typing import Any

#: Values tried for each free symbol (those its assumptions allow), in turn.
_SAMPLES = (1, 2, 3, 5, 7, 0, -1, -2, -3, 4)


def zero_at_samples(sympy: types.ModuleType, difference: Any) -> bool:
    """Whether ``difference`` is 0 at sampled values of its free symbols (at
    least three points evaluated, none of them nonzero)."""
    symbols = sorted(difference.free_symbols, key=str)
    allowed = [[v for v in _SAMPLES if _allowed(symbol, v)] for symbol in symbols]
    if not all(allowed):
        return False
    evaluated = 0
    for shift in range(len(_SAMPLES)):
        point = {symbol: values[(shift + place) % len(values)]
                 for place, (symbol, values) in enumerate(zip(symbols, allowed, strict=True))}
        value = difference.subs(point)
        if value.free_symbols or value.has(sympy.nan, sympy.zoo):
            continue
        evaluated += 1
        if not bool(sympy.Abs(sympy.N(value)) < 1e-9):
            return False
    return evaluated >= 3


def _allowed(symbol: Any, value: int) -> bool:
    checks = (
        (symbol.is_positive, value > 0),
        (symbol.is_nonnegative, value >= 0),
        (symbol.is_negative, value < 0),
        (symbol.is_nonpositive, value <= 0),
        (symbol.is_nonzero, value != 0),
        (symbol.is_even, value % 2 == 0),
        (symbol.is_odd, value % 2 == 1),
    )
    return all(holds for required, holds in checks if required)


__all__ = ["zero_at_samples"]
