"""Arithmetic claims in a solution's steps, found and checked exactly, without a model.

``find_claims`` reads one step (prose, Markdown, LaTeX or plain text) and returns
every ``expression = value`` claim in it, such as ``3 * 4 = 12``,
``$12 \\times 5 = 60$``, ``20 - 8 = 12 apples``, ``\\frac{3}{4} \\cdot 80 = 60``
or ``25% of 80 = 20``. A chain ``2+3 = 5 = 10/2`` gives one claim per ``=``.
``judge`` evaluates both sides exactly with SymPy and says whether they agree;
``check_steps``, registered as ``"arithmetic.check_steps"``, does both for a
list of steps inside a ``CheckPool`` worker. The tokenizer, the parser and exact
evaluation are in ``fansi.checks.expressions``.

A false claim is taken as proof that its step is wrong, so precision comes
before recall: whatever is unclear is skipped, never reported false.

**What is read.** Each side is parsed by a small recursive-descent parser (no
``eval``, no ``sympy.parse_expr``) over numbers (``1,200``, ``1{,}200``,
``2.5``, ``.5``), ``+ - * / ^`` and their Unicode and LaTeX forms (``× · ÷ −``,
``\\times``, ``\\cdot``, ``\\div``, ``**``, ``²``), a spaced ``x`` between
numbers (``5 x 4``), brackets of any kind, ``\\frac{a}{b}``, ``\\sqrt{a}``,
``\\sqrt[n]{a}``, ``√``, ``%`` and ``P% of X``. Currency signs, math delimiters,
LaTeX spacing, ``\\left``/``\\right``, ``\\boxed``, degree signs and Markdown
emphasis are ignored. There is no implicit multiplication: ``2(3+4)`` is not read.

**What is skipped.** A side must be bounded by something that cannot continue
the expression: the start or end of the step, a line break, another ``=``, a
comparison, sentence punctuation, a bracket that opens a remark, or a word of
two or more letters separated by a space. So these give no claim:

- a variable or function next to a side: ``x = 5``, ``2x + 3 = 7``,
  ``f(3) = 7``, ``a_1 = 3``, ``7 = 3y``; in ``x = 3 + 4 = 7`` only ``3 + 4 = 7``
  is a claim;
- a word that is part of the arithmetic: ``3 times 4 = 12``, ``half of 10 = 5``,
  ``sum of 3 and 4 = 7``, ``= 5 thousand``, ``= 2 thirds``, ``= 3 to 1``;
- a number just before the word that bounds a side (``3 apples + 4 = 7``)
  unless that word opens a clause (``so``, ``then``, ``which``...) or the number
  ends an earlier claim, and a number just after the word that ends a side
  (``= 2 hours 30 minutes``);
- ``number = number`` with no operation on either side (``$1 = 100 cents``);
- factorials, ellipses, subscripts, times such as ``3:30``, ranges, mixed numbers
  (``2 1/2``) and anything else the grammar does not cover;
- a side that cannot be evaluated: division by zero, a non-real root, a power
  too large to compute (more than about 20,000 digits).

**When a claim counts as true.** With ``=``, in this order:

1. *exact*: both sides are equal (irrational values: equal to 40 digits);
2. *rounded*: one side is a bare number with ``d`` decimals and the other side
   rounds to it (within half of ``10**-d``: ``10/3 = 3.33``, ``2/3 = 0.67``) or
   truncates to it (``2/3 = 0.66``). A bare integer may be the other side rounded
   either way, as counts are (``100/3 = 33``, ``7/2 = 4`` trips). Two unequal
   integers never agree, nor does ``10/3 = 3.4``;
3. *rounded*, carried: a side that uses a number with two or more decimals,
   which may itself be an earlier rounding, is within 1% of the other
   (``33.33 * 300 = 10000``);
4. a running calculation ``12 * 5 = 60 + 3 = 63``: the first ``=`` is also
   read as ``12 * 5 = 60``;
5. with ``%``, any of three readings: ``p% = p/100``; ``%`` dropped
   (``20/80 * 100 = 25%``); and ``a ± p% = a(1 ± p/100)`` (``80 - 25% = 60``).

With ``≈``, ``\\approx``, ``\\sim`` or ``= about``/``approximately``/``roughly``:
*approximate*, true when the sides differ by at most one unit in the last
significant digit of a bare right side (``≈ 300`` allows 100, ``≈ 3.1`` allows
0.1) and by at most 25% of the left side, or by at most 5% of the left side.

A claim that none of these accepts is false.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from fansi.checks.expressions import (
    ARITH,
    OPERAND_START,
    VALUE_END,
    Mode,
    Neg,
    Node,
    Number,
    Percent,
    Token,
    Unjudgeable,
    evaluate,
    has_percent,
    numbers,
    parse,
    show,
    to_fraction,
    tokenize,
)
from fansi.checks.pool import register

Rule = Literal["exact", "rounded", "approximate"]
"""How a claim was judged; see the module docstring."""


@dataclass(frozen=True, slots=True)
class Claim:
    """One ``expression = value`` claim found in a step.

    Attributes:
        text: The claim as written, from the start of the left side to the end
            of the right side, for example ``"12 \\times 5 = 60"``.
        left: The parsed left side.
        right: The parsed right side.
        approximate: The claim was written with ``≈`` (or ``= about`` and the like).
        start: Offset of ``text`` in the step.
        end: Offset just past ``text`` in the step.
        lead: For a right side that starts ``number operator``, that number: the
            value meant in a running calculation such as ``12 * 5 = 60 + 3``.
    """

    text: str
    left: Node
    right: Node
    approximate: bool
    start: int
    end: int
    lead: Number | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judgement of one claim.

    Attributes:
        left: The exact value of the left side, as SymPy writes it (``"100/3"``).
        right: The exact value of the right side.
        ok: Whether the claim holds under the rules of the module docstring.
        rule: Which rule decided: ``"exact"``, ``"rounded"`` or ``"approximate"``.
    """

    left: str
    right: str
    ok: bool
    rule: Rule


# --- finding claims ----------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NUMBER_WORDS = _words(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
    "eighty ninety hundred hundreds thousand thousands million millions billion billions "
    "trillion dozen dozens half halves third thirds quarter quarters fourth fourths fifth "
    "fifths sixth sixths seventh sevenths eighth eighths ninth ninths tenth tenths twice "
    "thrice double triple"
)
# Words that, before a side, may be part of its arithmetic ("half of 10 = 5").
_LEFT_STOP = _words(
    "of times by over plus minus than per mod modulo into from to with among between squared "
    "cubed square cube root sqrt percent pct each divided multiplied added subtracted less "
    "more negative positive point power factorial log ln lg sin cos tan exp max min gcd lcm "
    "average mean"
)
# Words that, after a side, may change its value ("= 5 thousand", "= 3 to 1").
_RIGHT_STOP = _words(
    "times plus minus over divided multiplied by to out squared cubed percent pct mod "
    "modulo point power raised than factorial"
)
# Words that open a clause, so that a number before them is not an operand ("is 20% so 100 * ...").
_CLAUSE = _words(
    "so then thus hence therefore now which meaning means gives giving yields making makes "
    "leaving leaves"
)
_APPROX_WORDS = _words("about approximately approx roughly around nearly almost circa")
_MAX_SIDE_TOKENS = 200


def find_claims(step: str) -> list[Claim]:
    """Every ``expression = value`` claim in one step of a solution.

    Args:
        step: The step's text: prose, Markdown, LaTeX or plain arithmetic.

    Returns:
        The claims in order of their ``=``, each with both sides parsed. What the
        module docstring lists as skipped is left out.
    """
    tokens = tokenize(step)
    claims = []
    for at, token in enumerate(tokens):
        if token.kind == "eq":
            claim = _claim_at(step, tokens, at)
            if claim is not None:
                claims.append(claim)
    return claims


def _claim_at(step: str, tokens: list[Token], at: int) -> Claim | None:
    approximate = tokens[at].text == "≈"
    after = at + 1
    while after < len(tokens) and tokens[after].kind == "word":
        if tokens[after].text.lower() not in _APPROX_WORDS:
            break
        approximate, after = True, after + 1
        if after < len(tokens) and tokens[after].text == "." and not tokens[after].gap:
            after += 1  # "approx."
    left = _left_side(tokens, at)
    right = _right_side(tokens, after)
    if left is None or right is None:
        return None
    left_node, right_node = parse(tokens[left[0] : left[1]]), parse(tokens[right[0] : right[1]])
    if left_node is None or right_node is None:
        return None
    if _is_bare(left_node) and _is_bare(right_node):
        return None
    lead = None
    first, second = tokens[right[0]], tokens[right[0] + 1] if right[1] - right[0] > 1 else None
    if first.kind == "num" and second is not None and second.kind == "op":
        lead = Number(first.text)
    start, end = tokens[left[0]].start, tokens[right[1] - 1].end
    return Claim(step[start:end], left_node, right_node, approximate, start, end, lead)


def _left_side(tokens: list[Token], at: int) -> tuple[int, int] | None:
    end = at
    while end > 0 and tokens[end - 1].kind == "nl":
        end -= 1  # a chain continued on a new line: "3 + 4 \\ &= 7"
    start = end
    while start > 0 and tokens[start - 1].kind in ARITH:
        start -= 1
    first = start
    depth = _depth(tokens[start:end])
    while depth > 0 and first < end and tokens[first].kind == "open":
        first, depth = first + 1, depth - 1  # "(so 3 + 4 = 7)"
    if first == end or end - first > _MAX_SIDE_TOKENS:
        return None
    if not _bounded_before(tokens, start) or _spaced_sign(tokens, first, end):
        return None
    return first, end


def _right_side(tokens: list[Token], begin: int) -> tuple[int, int] | None:
    end = begin
    while end < len(tokens) and tokens[end].kind in ARITH:
        end += 1
    last = end
    remark = False
    while last > begin and tokens[last - 1].kind == "open" and tokens[last - 1].gap:
        last, remark = last - 1, True  # "= 4 (since ...)"
    depth = _depth(tokens[begin:last])
    while depth < 0 and last > begin and tokens[last - 1].kind == "close":
        last, depth = last - 1, depth + 1  # "(3 + 4 = 7)"
    if last == begin or last - begin > _MAX_SIDE_TOKENS:
        return None
    if not (remark or _bounded_after(tokens, end)) or _spaced_sign(tokens, begin, last):
        return None
    return begin, last


def _depth(tokens: list[Token]) -> int:
    return sum((t.kind == "open") - (t.kind == "close") for t in tokens)


def _spaced_sign(tokens: list[Token], first: int, end: int) -> bool:
    """A side starting ``- 3`` is more likely a dash than a negative number."""
    return tokens[first].text == "-" and first + 1 < end and tokens[first + 1].gap


def _bounded_before(tokens: list[Token], start: int) -> bool:
    if start == 0:
        return True
    prev = tokens[start - 1]
    if prev.kind in ("hard", "nl", "eq"):
        return True
    if prev.kind != "word" or not tokens[start].gap:
        return False
    word = prev.text.lower()
    if len(word) < 2 or word in _LEFT_STOP or word in _NUMBER_WORDS:
        return False
    if start < 2:
        return True
    before = tokens[start - 2]
    if before.kind == "word":
        return before.text.lower() not in _LEFT_STOP | _NUMBER_WORDS
    if before.kind in VALUE_END and word not in _CLAUSE:  # "3 apples + 4", "sum of 3 and 4"
        return _ends_claim(tokens, start - 2)
    return True


def _ends_claim(tokens: list[Token], last: int) -> bool:
    """Whether the value ending at ``last`` is the right side of an ``=``."""
    index = last
    while index >= 0 and tokens[index].kind in ARITH:
        index -= 1
    while index >= 0 and tokens[index].kind == "word":
        if tokens[index].text.lower() not in _APPROX_WORDS:
            return False
        index -= 1
    return index >= 0 and tokens[index].kind == "eq"


def _bounded_after(tokens: list[Token], end: int) -> bool:
    if end == len(tokens):
        return True
    nxt = tokens[end]
    if nxt.kind in ("hard", "nl", "eq"):
        return True
    if nxt.kind != "word" or not nxt.gap:
        return False
    word = nxt.text.lower()
    if word in _RIGHT_STOP or word in _NUMBER_WORDS:
        return False
    if word == "of" and tokens[end - 1].kind == "pct":
        return False  # "= 25% of the total" is not 25%
    following = tokens[end + 1] if end + 1 < len(tokens) else None
    if len(word) < 2 and not (word == "a" and following is not None and _is_long_word(following)):
        return False
    if word == "and":  # "= 7 and 7 * 2 = 14", but not "= 3 and a half"
        return following is None or following.text.lower() not in _NUMBER_WORDS | {"a", "an"}
    # "= 2 hours 30 minutes", "= 3 dollars and 50 cents": a compound quantity.
    for ahead in tokens[end + 1 : end + 3]:
        if ahead.kind in OPERAND_START or ahead.text.lower() in _NUMBER_WORDS:
            return False
        if ahead.kind != "word":
            break
    return True


def _is_long_word(token: Token) -> bool:
    return token.kind == "word" and len(token.text) > 1


# --- judging -----------------------------------------------------------------------

_SAME = Fraction(1, 10**40)


def judge(claim: Claim) -> Verdict | None:
    """Evaluate a claim exactly and decide it by the rules of the module docstring.

    Args:
        claim: A claim from ``find_claims``.

    Returns:
        The verdict, or ``None`` when a side cannot be evaluated (division by
        zero, a non-real root, a power too large to compute).
    """
    modes: tuple[Mode, ...] = ("ratio",)
    if has_percent(claim.left) or has_percent(claim.right):
        modes = ("ratio", "drop", "relative")
    shown: tuple[Any, Any] | None = None
    for mode in modes:
        try:
            left, right = evaluate(claim.left, mode), evaluate(claim.right, mode)
            alternatives = [(claim.right, right)]
            if claim.lead is not None:
                alternatives.append((claim.lead, evaluate(claim.lead, mode)))
        except Unjudgeable:
            if shown is None:
                return None
            continue
        if shown is None:
            shown = (left, right)
        for right_node, value in alternatives:
            rule = _agree(claim, claim.left, left, right_node, value, mode)
            if rule is not None:
                return Verdict(show(left), show(right), True, rule)
    assert shown is not None
    return Verdict(
        show(shown[0]), show(shown[1]), False, "approximate" if claim.approximate else "exact"
    )


def _agree(
    claim: Claim, left_node: Node, left: Any, right_node: Node, right: Any, mode: Mode
) -> Rule | None:
    a, b = to_fraction(left), to_fraction(right)
    diff = abs(a - b)
    inexact = not (left.is_Rational and right.is_Rational)
    if diff == 0 or (inexact and diff <= _SAME * max(Fraction(1), abs(a))):
        return "exact"
    if claim.approximate:
        unit = _unit(right_node, mode)
        close = diff <= abs(a) / 20 or (diff <= unit and diff <= abs(a) / 4)
        return "approximate" if close else None
    if _rounded(b, a, right_node, mode) or _rounded(a, b, left_node, mode):
        return "rounded"
    carried = _carries_rounding(left_node) or _carries_rounding(right_node)
    if carried and diff <= max(abs(a), abs(b)) / 100:
        return "rounded"
    return None


def _rounded(shown: Fraction, exact: Fraction, node: Node, mode: Mode) -> bool:
    """Whether ``shown``, written as the bare number ``node``, is ``exact`` rounded
    (or, with decimals, truncated) to the digits it shows."""
    bare = _bare(node)
    unit = _tolerance(node, mode)
    diff = abs(shown - exact)
    if bare is None or diff >= unit:
        return False
    truncated = abs(shown) <= abs(exact) and (shown >= 0) == (exact >= 0)
    return bare[0].decimals == 0 or truncated or 2 * diff <= unit


def _bare(node: Node) -> tuple[Number, bool] | None:
    """The number of a bare literal (``3``, ``-2.5``, ``25%``) and whether it is a percent."""
    if isinstance(node, Neg):
        node = node.operand
    percent = isinstance(node, Percent)
    if isinstance(node, Percent):
        node = node.operand
    return (node, percent) if isinstance(node, Number) else None


def _is_bare(node: Node) -> bool:
    bare = _bare(node)
    return bare is not None and not bare[1]


def _tolerance(node: Node, mode: Mode) -> Fraction:
    bare = _bare(node)
    if bare is None:
        return Fraction(0)
    number, percent = bare
    scale = Fraction(1, 100) if percent and mode != "drop" else Fraction(1)
    return Fraction(1, 10**number.decimals) * scale


def _unit(node: Node, mode: Mode) -> Fraction:
    """One unit in the last significant digit of a bare number (``300`` -> 100)."""
    bare = _bare(node)
    if bare is None:
        return Fraction(0)
    number, _ = bare
    if number.decimals:
        return _tolerance(node, mode)
    digits = number.text.lstrip("0")
    if not digits:
        return Fraction(0)
    return Fraction(10) ** (len(digits) - len(digits.rstrip("0"))) * _tolerance(node, mode)


def _carries_rounding(node: Node) -> bool:
    return _bare(node) is None and any(n.decimals >= 2 for n in numbers(node))


# --- the worker function -----------------------------------------------------------


@register("arithmetic.check_steps")
def check_steps(steps: list[str]) -> list[dict[str, str | int | bool]]:
    """Find and judge the arithmetic claims in each step of a solution.

    Runs in a ``CheckPool`` worker: ``await pool.run("arithmetic.check_steps",
    steps, timeout_s=...)``.

    Args:
        steps: The solution's steps, in order.

    Returns:
        One entry per judged claim, in order: ``{"step": 0-based step index,
        "text": the claim as written, "left": exact value of the left side,
        "right": exact value of the right side, "ok": bool, "rule": "exact" |
        "rounded" | "approximate"}``. Claims that cannot be evaluated are left out.
    """
    entries: list[dict[str, str | int | bool]] = []
    for index, step in enumerate(steps):
        for claim in find_claims(step):
            verdict = judge(claim)
            if verdict is not None:
                entries.append(
                    {
                        "step": index,
                        "text": claim.text,
                        "left": verdict.left,
                        "right": verdict.right,
                        "ok": verdict.ok,
                        "rule": verdict.rule,
                    }
                )
    return entries
