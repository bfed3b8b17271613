"""The stated answer, substituted into the problem's functional equation, without a model.

``check_substitution``, registered as ``"substitution.check"``, takes a problem
that asks for functions satisfying an equation (``Find all f: R -> R such that
(b - a) f(f(a)) = a f(a + f(b))``) and a candidate's final answer (``f(x) = 1``,
``f(x) = 0 and f(x) = -x + k``), puts each stated function into each equation,
and evaluates both sides exactly at sample points of the variables. A stated
function that makes an equation false at a point is refuted, with that point
and both sides' values as the counterexample. This is the check that catches a
proof whose answer does not satisfy the equation, whatever the proof says.

**What is read.** The equations are the problem's math segments (``\\[...\\]``,
``$$...$$``, ``$...$``, ``\\(...\\)``; in a problem with none, the text from
"such that" to "for all" or the end of the sentence) with exactly one ``=``
and an application of the function; the function is the letter declared as ``f\\colon`` or ``f :``
(else ``f``). The answer is split at "and", "or", commas and semicolons, and
each piece of the form ``f(x) = expression`` is one stated function. LaTeX is
turned into plain arithmetic (``\\frac``, ``\\cdot``, ``\\times``, ``^{...}``,
``\\sqrt``, ``\\left``/``\\right``, implicit products such as ``xy``); anything
else with a backslash, any word of three or more letters other than ``sqrt``,
a two-letter English word, and any character outside arithmetic makes that
segment unread, never a failure.
The text is parsed with SymPy's ``parse_expr`` with every single letter bound to
a symbol (so no name reaches Python's builtins), inside the sandboxed worker;
the job is registered as ``untrusted`` (``parse_expr`` evaluates what it
parses), so it is the last job its worker runs.

**Where it is evaluated.** Variables range over small integers (positive ones
when the domain is N, Z+ or R+, or the problem says "positive"); for a
function with constants (``-x + k``), each of a few values of each constant
is tried, and the family is refuted only when every value tried fails: the
candidate may have stated a condition on the constant outside its answer.
Points where a side is undefined (division by zero) are skipped.

Precision comes first: whatever cannot be read is skipped, never reported false.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from fansi.checks.pool import register

_SEGMENT = re.compile(r"\\\[(.+?)\\\]|\$\$(.+?)\$\$|\\\((.+?)\\\)|\$(.+?)\$", re.DOTALL)
_SUCH_THAT = re.compile(r"\bsuch that\s+(.+?)(?:\s+(?:for all|for every|for any|holds)\b|"
                        r"[.;](?:\s|$)|$)", re.IGNORECASE | re.DOTALL)
_DECLARED = re.compile(r"\b([a-zA-Z])\s*(?:\\colon|:)\s*(?:\\mathbb|[ℝℤℕℚ])")
_POSITIVE = re.compile(r"\\mathbb\s*\{?\s*[NRZQ]\s*\}?\s*(?:\^\s*\{?\s*\+|_\s*\{?\s*>\s*0)|"
                       r"\\mathbb\s*\{?\s*N\b|[ℕ]|[ℝℤℚ]\s*(?:⁺|\^\s*\+|_\s*\{?>\s*0)|"
                       r"\bpositive\b", re.IGNORECASE)
_SPLIT = re.compile(r"\\text\s*\{[^{}]*\}|\\quad|\\qquad|\band\b|\bor\b|[,;]", re.IGNORECASE)
_SPACING = re.compile(r"\\left|\\right|\\[,;:!]|\\ |\\displaystyle|\\big|\\Big")
_WORD = re.compile(r"[A-Za-z]{2,}")
_ALLOWED = re.compile(r"^[A-Za-z0-9+\-*/^(). ]*$")
_FUNCTIONS = ("sqrt", "pi")
_PROSE = frozenset({"is", "if", "of", "at", "in", "on", "to", "be", "as", "by", "an", "we",
                    "it", "so", "or", "no", "for", "and"})
#: Values of the variables (in turn) and of a stated function's constants.
_INTEGERS = (0, 1, -1, 2, -2, 3, -3, 5)
_POSITIVES = (1, 2, 3, 5, 4, 7)
_CONSTANTS = (0, 1, 2, -1)
#: Points tried per equation and constant value, at most.
_POINTS = 24


def _braced(text: str, start: int) -> tuple[str, int] | None:
    """The contents of the ``{...}`` group at ``start`` and the index after it."""
    if start >= len(text) or text[start] != "{":
        return None
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:index], index + 1
    return None


def plain(latex: str) -> str | None:
    """LaTeX arithmetic as plain text SymPy can parse, or None if it is more than that."""
    text = _SPACING.sub(" ", latex).replace("\\cdot", "*").replace("\\times", "*")
    text = text.replace("\\pi", " pi ").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    while "\\frac" in text:
        at = text.index("\\frac")
        top = _braced(text, at + 5)
        bottom = _braced(text, top[1]) if top else None
        if top is None or bottom is None:
            return None
        text = f"{text[:at]}(({top[0]})/({bottom[0]})){text[bottom[1]:]}"
    while "\\sqrt" in text:
        at = text.index("\\sqrt")
        inner = _braced(text, at + 5)
        if inner is None:
            return None
        text = f"{text[:at]} sqrt({inner[0]}){text[inner[1]:]}"
    text = text.replace("{", "(").replace("}", ")").strip().rstrip(".")
    if not _ALLOWED.match(text) or "__" in text:
        return None
    for word in _WORD.findall(text):
        # Two letters are a product (xy); longer words, and two-letter English
        # words, are prose ("for all x"), so the segment is not plain arithmetic.
        if word not in _FUNCTIONS and (len(word) > 2 or word.lower() in _PROSE):
            return None
    return " ".join(text.split())


def _parse(text: str, function: str) -> Any:
    import sympy  # type: ignore[import-untyped]
    from sympy.parsing.sympy_parser import (  # type: ignore[import-untyped]
        convert_xor,
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    names: dict[str, Any] = {c: sympy.Symbol(c) for c in "abcdefghijklmnopqrstuvwxyz"}
    names.update({c: sympy.Symbol(c) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"})
    names.update({"sqrt": sympy.sqrt, "pi": sympy.pi, function: sympy.Function(function)})
    transformations = (*standard_transformations, implicit_multiplication_application,
                       convert_xor)
    # No builtins: only what parse_expr's generated code needs to build numbers.
    node_types = {"Integer": sympy.Integer, "Rational": sympy.Rational, "Float": sympy.Float,
                  "Symbol": sympy.Symbol}
    return parse_expr(text, local_dict=names, global_dict={"__builtins__": {}, **node_types},
                      transformations=transformations)


def _segments(problem: str) -> list[str]:
    """The problem's math segments; for a problem written without LaTeX
    delimiters, the text after "such that" up to "for all" or the sentence's end."""
    segments = [next(g for g in m.groups() if g is not None) for m in _SEGMENT.finditer(problem)]
    if not segments:
        segments = [m.group(1) for m in _SUCH_THAT.finditer(problem)]
    return segments


def equations(problem: str, function: str) -> list[tuple[Any, Any]]:
    """The problem's equations that apply ``function``, as SymPy (left, right)."""
    found = []
    for segment in _segments(problem):
        if segment.count("=") != 1 or re.search(r"[<>]|\\[lgn]eq?\b|\\ne", segment):
            continue
        if not re.search(rf"(?<![A-Za-z\\]){function}\s*\(", segment):
            continue
        sides = [plain(side) for side in segment.split("=")]
        if None in sides:
            continue
        try:
            left, right = (_parse(str(side), function) for side in sides)
        except Exception:  # unreadable: skipped
            continue
        found.append((left, right))
    return found


def stated_functions(answer: str, function: str) -> list[tuple[Any, Any]]:
    """Each ``function(v) = expression`` piece of ``answer``, as (v, expression)."""
    import sympy

    stated = []
    for piece in _SPLIT.split(answer):
        match = re.match(rf"^\s*{function}\s*\(\s*([a-z])\s*\)\s*=\s*(.+?)\s*$", piece, re.DOTALL)
        if match is None:
            continue
        text = plain(match.group(2))
        if text is None:
            continue
        try:
            expression = _parse(text, function)
        except Exception:
            continue
        if expression.has(sympy.Function(function)):
            continue
        stated.append((sympy.Symbol(match.group(1)), expression))
    return stated


def _first_failure(residual: Any, variables: list[Any], values: tuple[int, ...]
                   ) -> dict[Any, int] | None:
    import sympy

    tried = 0
    for point in itertools.product(values, repeat=len(variables)):
        if tried >= _POINTS:
            break
        assignment = dict(zip(variables, point, strict=True))
        try:  # every variable is a number now: subs evaluates, no simplify needed
            value = residual.subs(assignment)
        except Exception:
            continue
        if value.free_symbols or value.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
            continue
        tried += 1
        if abs(complex(sympy.N(value))) > 1e-9:
            return assignment
    return None


@register("substitution.check", untrusted=True)
def check_substitution(problem: str, answer: str) -> dict[str, Any]:
    """Substitute each function the answer states into each equation of the problem.

    Returns:
        ``{"equations": n, "functions": m, "refuted": [...], "held": [...]}``:
        each refuted entry is ``{"function": "f(x) = 1", "counterexample": str}``;
        each held one is the function as text. Nothing read: zeros and empty lists.
    """
    import sympy

    declared = _DECLARED.findall(problem)
    function = declared[0] if declared else "f"
    found = equations(problem, function)
    stated = stated_functions(answer, function) if found else []
    values = _POSITIVES if _POSITIVE.search(problem) else _INTEGERS
    refuted, held = [], []
    applied = sympy.Function(function)
    for variable, expression in stated:
        shown = f"{function}({variable}) = {expression}"
        constants = sorted(expression.free_symbols - {variable}, key=str)
        tries = list(itertools.product(_CONSTANTS, repeat=len(constants)))
        failures = []
        for constant_values in tries:
            fixed = expression.subs(dict(zip(constants, constant_values, strict=True)))
            candidate = sympy.Lambda(variable, fixed)
            failure = None
            for left, right in found:
                sides = (left.replace(applied, candidate), right.replace(applied, candidate))
                residual = sides[0] - sides[1]
                variables = sorted(residual.free_symbols, key=str)
                point = _first_failure(residual, variables, values)
                if point is not None:
                    failure = _describe((left, right), sides, point, constants,
                                        constant_values)
                    break
            if failure is None:
                break
            failures.append(failure)
        if len(failures) == len(tries):
            refuted.append({"function": shown, "counterexample": failures[0]})
        else:
            held.append(shown)
    return {"equations": len(found), "functions": len(stated), "refuted": refuted,
            "held": held}


def _describe(written: tuple[Any, Any], sides: tuple[Any, Any], point: dict[Any, int],
              constants: list[Any], constant_values: tuple[int, ...]) -> str:
    import sympy

    where = ", ".join(f"{name} = {value}" for name, value in sorted(point.items(), key=str))
    where = f"at {where}" if where else "everywhere"
    if constants:
        where += "; " + ", ".join(f"{c} = {v}" for c, v in zip(constants, constant_values,
                                                              strict=True))
    left, right = (sympy.simplify(side.subs(point)) for side in sides)
    return f"{where}: {written[0]} = {left}, but {written[1]} = {right}"


__all__ = ["check_substitution", "equations", "plain", "stated_functions"]
