"""Arithmetic as a solution writes it: tokens, a restricted parser and exact values.

The half of ``fansi.checks.arithmetic`` that does not decide anything: it reads
text into ``Token``s (numbers without their separators, operators in every
spelling, words, punctuation that can or cannot bound an expression), parses a
run of tokens into a small expression tree with a recursive-descent parser (no
``eval``, no ``sympy.parse_expr``), and evaluates a tree exactly with SymPy.
Which runs of tokens are claims, and when a claim holds, is
``fansi.checks.arithmetic``'s business; its docstring lists what the grammar reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, TypeAlias

Mode = Literal["ratio", "drop", "relative"]
"""How ``p%`` is read: ``p/100``; ``p`` (the sign dropped); or, as the right operand
of ``+`` or ``-``, relative to the left one (``a - p% = a(1 - p/100)``)."""

_Kind = Literal[
    "num", "op", "open", "close", "frac", "sqrt", "pct", "eq", "word", "hard", "soft", "nl"
]


# --- expressions -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Number:
    """A number as written, without separators: ``"1200"``, ``"2.5"``."""

    text: str

    @property
    def decimals(self) -> int:
        """How many digits it has after the decimal point."""
        return len(self.text.partition(".")[2])


@dataclass(frozen=True, slots=True)
class Neg:
    """``-operand``."""

    operand: Node


@dataclass(frozen=True, slots=True)
class Percent:
    """``operand%``, read as ``Mode`` says."""

    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    """``left op right``; ``^`` is a power."""

    op: Literal["+", "-", "*", "/", "^"]
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Root:
    """``\\sqrt[degree]{radicand}``; the square root when ``degree`` is None."""

    radicand: Node
    degree: Node | None = None


Node: TypeAlias = "Number | Neg | Percent | Binary | Root"


# --- tokens ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    """One token of a step, with its offsets in the text.

    ``kind`` is one of: ``num`` (``text`` without separators), ``op`` (``text``
    one of ``+ - * / ^``), ``open``, ``close``, ``frac``, ``sqrt``, ``pct``, ``eq``
    (``text`` ``=`` or ``≈``), ``word``, ``nl`` (a line break), ``hard``
    (punctuation or a relation that ends an expression) or ``soft`` (anything
    that might belong to one: ``\\pi``, ``_``, a factorial's ``!``).
    """

    kind: _Kind
    text: str
    start: int
    end: int
    gap: bool  # whitespace, or a delimiter such as "$", between this token and the last


_NUMBER = re.compile(r"\d{1,3}(?:(?:,|\{,\})\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+")
_LETTERS = r"(?![A-Za-z])"
# (kind, pattern), tried in order at each position. "gap" and "skip" emit nothing:
# a gap separates tokens (whitespace, "$"), a skip is invisible (\left, degrees).
_SCANNER: list[tuple[str, re.Pattern[str]]] = [
    (kind, re.compile(pattern))
    for kind, pattern in [
        ("nl", r"\r?\n|\\\\|\\newline" + _LETTERS),
        ("gap", r"[ \t\f\v\r\u00a0]+|\\[,;:! ]|\\q?quad" + _LETTERS + r"|~"),
        ("gap", r"\\\$|\$|\\[()\[\]]|[`&€£¥]"),
        ("skip", r"\\(?:left|right|[bB]igg?[lr]?|displaystyle|textstyle|boxed)" + _LETTERS),
        ("skip", r"\^\s*(?:\\circ|\{\s*\\circ\s*\})|°"),
        ("text", r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mathit|mbox|operatorname)\s*\{"),
        ("num", _NUMBER.pattern),
        ("frac", r"\\[dtc]?frac" + _LETTERS),
        ("sqrt", r"\\sqrt" + _LETTERS + r"|√"),
        ("op", r"\\(?:times|cdot|div|ast)" + _LETTERS + r"|[+×·⋅∙÷/^−]"),
        ("minus", r"-"),
        ("star", r"\*\*?"),
        ("dash", r"[–—]"),
        ("square", r"[²³]"),
        ("soft", r"==+|=>|=<"),
        ("hard", r"<=|>=|!=|[<>≤≥≠]|\\(?:le|leq|ge|geq|ne|neq|lt|gt)" + _LETTERS),
        ("approx", r"\\(?:approx|simeq|sim)" + _LETTERS + r"|[≈≃≅]"),
        ("eq", r"="),
        ("pct", r"\\%|%"),
        ("soft", r"\\[{}]"),
        ("open", r"[(\[{]"),
        ("close", r"[)\]}]"),
        (
            "hard",
            r"\\(?:Rightarrow|Longrightarrow|implies|rightarrow|to|iff|therefore|because)"
            + _LETTERS
            + r"|[⇒→∴∵⟹•]",
        ),
        ("soft", r"\\[A-Za-z]+"),
        ("word", r"[A-Za-z]+"),
        ("soft", r"\.{2,}|…"),
        ("punct", r"[.,;:!?]"),
        ("soft", r"."),
    ]
]
_OPS = {
    "\\times": "*",
    "\\cdot": "*",
    "\\ast": "*",
    "×": "*",
    "·": "*",
    "⋅": "*",
    "∙": "*",
    "\\div": "/",
    "÷": "/",
    "−": "-",
}
ARITH = frozenset({"num", "op", "open", "close", "frac", "sqrt", "pct"})
"""The kinds of token an arithmetic expression is made of."""
VALUE_END = frozenset({"num", "close", "pct"})
"""The kinds of token a value can end with."""
OPERAND_START = frozenset({"num", "open", "frac", "sqrt"})
"""The kinds of token an operand can start with."""


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``; whitespace, ``$``, ``\\left`` and the like leave only ``gap``."""
    tokens: list[Token] = []
    _scan(text, 0, len(text), tokens)
    return _reinterpret_words(tokens)


def _scan(text: str, pos: int, stop: int, tokens: list[Token], gap: bool = False) -> None:
    while pos < stop:
        kind, match = _next_match(text, pos, stop)
        start, end, raw = pos, match.end(), match.group()
        pos = end
        prev = tokens[-1] if tokens else None
        if kind == "gap":
            gap = True
            continue
        if kind == "skip":
            continue
        if kind == "text":
            close = _matching_brace(text, end - 1, stop)
            if close is None:
                kind = "soft"
            else:
                _scan(text, end, close, tokens, gap=True)  # the words inside \text{...}
                gap, pos = True, close + 1
                continue
        if kind in ("minus", "star") and raw != "**" and _line_start(text, start, stop):
            gap = True  # a Markdown bullet
            continue
        if kind == "star":
            binary = prev is not None and prev.kind in VALUE_END and _operand_follows(text, end)
            if not binary:
                gap = True  # Markdown emphasis
                continue
            kind, raw = "op", "^" if raw == "**" else "*"
        elif kind == "minus":
            kind = "op"
        elif kind == "dash":
            spaced = gap and end < stop and text[end].isspace()
            as_minus = spaced and prev is not None and prev.kind in VALUE_END
            kind, raw = ("op", "-") if as_minus and _operand_follows(text, end) else ("soft", raw)
        elif kind == "square":
            if prev is not None and prev.kind in VALUE_END and not gap:
                tokens.append(Token("op", "^", start, end, False))
                kind, raw, gap = "num", "2" if raw == "²" else "3", False
            else:
                kind = "soft"
        elif kind == "approx":
            kind, raw = "eq", "≈"
        elif kind == "num":
            raw = raw.replace("{,}", "").replace(",", "")
        elif kind == "op":
            raw = _OPS.get(raw, raw)
        elif kind == "punct":
            kind = "hard" if _ends_sentence(text, start, end, stop) else "soft"
        tokens.append(Token(kind, raw, start, end, gap))  # type: ignore[arg-type]
        gap = False


def _next_match(text: str, pos: int, stop: int) -> tuple[str, re.Match[str]]:
    for kind, pattern in _SCANNER:
        match = pattern.match(text, pos, stop)
        if match:
            return kind, match
    raise AssertionError("unreachable: the last pattern matches any character")


def _matching_brace(text: str, open_at: int, stop: int) -> int | None:
    depth = 0
    for index in range(open_at, stop):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def _line_start(text: str, start: int, stop: int) -> bool:
    """Whether a ``-`` or ``*`` at ``start`` opens a line and is followed by a space."""
    line = text.rfind("\n", 0, start) + 1
    return text[line:start].strip() == "" and start + 1 < stop and text[start + 1] in " \t"


def _operand_follows(text: str, end: int) -> bool:
    rest = text[end:].lstrip(" \t$")
    return bool(rest) and (rest[0].isdigit() or rest[0] in "([{.\\-")


def _ends_sentence(text: str, start: int, end: int, stop: int) -> bool:
    """Punctuation bounds a side unless it sits inside a number-like run (``3:30``, ``5!``)."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < stop else " "
    if before.isdigit() and after.isdigit():
        return False
    # "!" after a number is a factorial
    return not (text[start] == "!" and (before.isdigit() or before in ")}"))


def _reinterpret_words(tokens: list[Token]) -> list[Token]:
    """``5 x 4``, ``25% of 80``, ``3/4 of 80`` and ``equals`` are arithmetic."""
    out = list(tokens)
    for i, token in enumerate(tokens):
        if token.kind != "word":
            continue
        prev = tokens[i - 1] if i > 0 else None
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        word = token.text.lower()
        followed = nxt is not None and nxt.kind in OPERAND_START
        if word == "x" and followed and prev is not None and prev.kind in VALUE_END:
            assert nxt is not None
            if token.gap and nxt.gap:
                out[i] = Token("op", "*", token.start, token.end, True)
        elif word == "of" and followed and prev is not None:
            fraction = (
                i >= 3
                and prev.kind == "num"
                and tokens[i - 2].text == "/"
                and tokens[i - 3].kind == "num"
            )
            if prev.kind == "pct" or fraction:
                out[i] = Token("op", "*", token.start, token.end, True)
        elif word == "equals":
            out[i] = Token("eq", "=", token.start, token.end, token.gap)
    return out


# --- parsing -----------------------------------------------------------------------

_BRACKETS = {"(": ")", "[": "]", "{": "}"}


class _Unparsed(Exception):
    pass


def parse(tokens: list[Token]) -> Node | None:
    """The expression that ``tokens`` spell, all of them, or None if they spell none."""
    parser = _Parser(tokens)
    try:
        node = parser.sum()
        if parser.at != len(tokens):
            raise _Unparsed
    except (_Unparsed, RecursionError):
        return None
    return node


class _Parser:
    """Recursive descent over ``sum := product (+|- product)*`` and so on down."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def _peek(self, kind: str, text: str | None = None) -> bool:
        if self.at >= len(self.tokens):
            return False
        token = self.tokens[self.at]
        return token.kind == kind and (text is None or token.text == text)

    def _take(self) -> Token:
        if self.at >= len(self.tokens):
            raise _Unparsed
        self.at += 1
        return self.tokens[self.at - 1]

    def sum(self) -> Node:
        node = self.product()
        while self._peek("op", "+") or self._peek("op", "-"):
            node = Binary("+" if self._take().text == "+" else "-", node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while self._peek("op", "*") or self._peek("op", "/"):
            node = Binary("*" if self._take().text == "*" else "/", node, self.unary())
        return node

    def unary(self) -> Node:
        if self._peek("op", "-"):
            self._take()
            return Neg(self.unary())
        base = self.postfix()
        if self._peek("op", "^"):
            self._take()
            return Binary("^", base, self.unary())  # right-associative; -2^2 is -(2^2)
        return base

    def postfix(self) -> Node:
        node = self.primary()
        while self._peek("pct"):
            self._take()
            node = Percent(node)
        return node

    def primary(self) -> Node:
        token = self._take()
        if token.kind == "num":
            return Number(token.text)
        if token.kind == "open":
            inner = self.sum()
            if self._take().text != _BRACKETS[token.text]:
                raise _Unparsed
            return inner
        if token.kind == "frac":
            return Binary("/", self._braced(), self._braced())
        if token.kind == "sqrt":
            degree = None
            if token.text == "\\sqrt" and self._peek("open", "["):
                self._take()
                degree = self.sum()
                if self._take().text != "]":
                    raise _Unparsed
            if not self._peek("open"):
                raise _Unparsed
            return Root(self.primary(), degree)
        raise _Unparsed

    def _braced(self) -> Node:
        if not self._peek("open", "{"):
            raise _Unparsed
        return self.primary()


# --- exact values ----------------------------------------------------------------

_MAX_DIGITS = 20_000


class Unjudgeable(Exception):
    """A value that cannot be computed: division by zero, a non-real root, a huge power."""


def numbers(node: Node) -> list[Number]:
    """The number literals in ``node``, left to right."""
    if isinstance(node, Number):
        return [node]
    if isinstance(node, Neg | Percent):
        return numbers(node.operand)
    if isinstance(node, Binary):
        return numbers(node.left) + numbers(node.right)
    return numbers(node.radicand) + (numbers(node.degree) if node.degree else [])


def has_percent(node: Node) -> bool:
    """Whether ``node`` has a ``%`` anywhere."""
    if isinstance(node, Percent):
        return True
    if isinstance(node, Neg):
        return has_percent(node.operand)
    if isinstance(node, Binary):
        return has_percent(node.left) or has_percent(node.right)
    return False


def evaluate(node: Node, mode: Mode) -> Any:
    """The exact value of ``node`` as a real SymPy number; raises ``Unjudgeable``."""
    import sympy  # type: ignore[import-untyped]

    value = _compute(node, mode, sympy)
    if not (value.is_real and value.is_finite):
        raise Unjudgeable
    return value


def _compute(node: Node, mode: Mode, sympy: Any) -> Any:
    def recurse(n: Node) -> Any:
        return _compute(n, mode, sympy)

    if isinstance(node, Number):
        if len(node.text) > 200:
            raise Unjudgeable
        return sympy.Rational(node.text)
    if isinstance(node, Neg):
        return -recurse(node.operand)
    if isinstance(node, Percent):
        return recurse(node.operand) / (1 if mode == "drop" else 100)
    if isinstance(node, Root):
        return _root(
            recurse(node.radicand), recurse(node.degree) if node.degree else sympy.Integer(2), sympy
        )
    if mode == "relative" and node.op in "+-" and isinstance(node.right, Percent):
        share = recurse(node.right.operand) / 100
        return recurse(node.left) * (1 + share if node.op == "+" else 1 - share)
    left, right = recurse(node.left), recurse(node.right)
    operations: dict[str, Callable[[Any, Any], Any]] = {
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
        "/": _divide,
        "^": lambda a, b: _power(a, b, sympy),
    }
    return operations[node.op](left, right)


def _divide(a: Any, b: Any) -> Any:
    if b == 0:
        raise Unjudgeable
    return a / b


def _power(base: Any, exponent: Any, sympy: Any) -> Any:
    if not exponent.is_Rational or (base == 0 and exponent <= 0):
        raise Unjudgeable
    if exponent.is_Integer:
        size = len(str(abs(base.p))) + len(str(base.q)) if base.is_Rational else 50
        if size * abs(int(exponent)) > _MAX_DIGITS:
            raise Unjudgeable
        return base**exponent
    if base < 0 or exponent.q > 64 or abs(exponent.p) > 64 * exponent.q:
        raise Unjudgeable
    return sympy.Pow(base, exponent)


def _root(radicand: Any, degree: Any, sympy: Any) -> Any:
    if not degree.is_Integer or not 2 <= degree <= 64:
        raise Unjudgeable
    if radicand < 0:
        if degree % 2 == 0:
            raise Unjudgeable
        return sympy.real_root(radicand, degree)
    return sympy.root(radicand, degree)


def to_fraction(value: Any) -> Fraction:
    """A SymPy value as a ``Fraction``: exact when rational, else to 60 digits."""
    if value.is_Rational:
        return Fraction(int(value.p), int(value.q))
    return Fraction(str(value.evalf(60)))


def show(value: Any) -> str:
    """A SymPy value as SymPy writes it (``100/3``), or to 15 digits when that is long."""
    text = str(value)
    return text if len(text) <= 40 else str(value.evalf(15))
