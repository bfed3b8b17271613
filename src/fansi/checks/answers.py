"""Final-answer equivalence, decided by tools rather than by a model.

Two answers that are the same string after light normalisation are equal at
once. Anything else goes to Math-Verify, which runs inside a ``CheckPool``
worker: SymPy can take unbounded time or memory on adversarial input, and
Math-Verify's own timeouts use ``signal.alarm``, which fansi does not use. In
the worker both are turned off (``parse(..., parsing_timeout=None)`` and
``verify(..., timeout_seconds=None)``); the pool's wall-clock timeout, which
kills the worker, takes their place.

``equivalent`` answers ``True``, ``False`` or ``None`` for "cannot judge" (an
empty answer, a parse failure, a timeout, a worker error).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fansi.checks.pool import CheckPool, register
from fansi.errors import InputError

_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
_BOX_COMMANDS = ("\\boxed", "\\fbox")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def normalize(answer: str) -> str:
    """Lightly normalise a final answer so that trivially equal answers compare equal.

    Removes surrounding whitespace, math delimiters (``$``, ``$$``, ``\\(``,
    ``\\[``), a ``\\boxed{...}`` around the whole answer and a trailing period,
    repeatedly; collapses runs of whitespace; and drops thousands separators
    from a plain number (``1,000`` becomes ``1000``; ``(1,100)`` is left alone).

    Args:
        answer: The answer text.

    Returns:
        The normalised answer; empty if nothing is left.
    """
    text = " ".join(answer.split())
    while True:
        before = text
        text = text.strip().removesuffix(".").strip()
        for left, right in _DELIMITERS:
            wrapped = len(text) >= len(left) + len(right)
            if wrapped and text.startswith(left) and text.endswith(right):
                text = text[len(left) : -len(right)]
                break
        boxed = _boxed_contents(text)
        if boxed and boxed[-1][0] == 0 and boxed[-1][1] == len(text):
            text = boxed[-1][2]
        if text == before:
            break
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    return text


def extract(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) in a solution.

    Braces inside the box may nest. A box whose braces never close is skipped.

    Args:
        text: A solution as the model wrote it.

    Returns:
        The boxed content, stripped, or ``None`` if the text has no complete box.
    """
    boxed = _boxed_contents(text)
    return boxed[-1][2].strip() if boxed else None


def _boxed_contents(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every complete box command in ``text``, in order."""
    found = []
    for command in _BOX_COMMANDS:
        start = text.find(command + "{")
        while start != -1:
            open_at = start + len(command)
            close_at = _matching_brace(text, open_at)
            if close_at is not None:
                found.append((start, close_at + 1, text[open_at + 1 : close_at]))
            start = text.find(command + "{", start + 1)
    return sorted(found)


def _matching_brace(text: str, open_at: int) -> int | None:
    depth = 0
    for index in range(open_at, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


async def equivalent(a: str, b: str, *, pool: CheckPool, timeout_s: float = 10.0) -> bool | None:
    """Whether two final answers are mathematically the same.

    Equal strings after ``normalize`` short-circuit without a subprocess.
    Otherwise both are parsed as LaTeX by Math-Verify in a pool worker, with
    ``a`` as the reference (Math-Verify's "gold"), so ``"1/2"``, ``"0.5"`` and
    ``"\\frac{1}{2}"`` agree, as do ``"x^2+2x+1"`` and ``"(x+1)^2"``.

    Args:
        a: The reference answer.
        b: The answer to judge against it.
        pool: The pool whose workers run Math-Verify.
        timeout_s: Wall-clock limit for the comparison.

    Returns:
        ``True`` or ``False``, or ``None`` when it cannot be judged: an answer is
        empty or cannot be parsed, the comparison timed out, or the worker failed.
    """
    gold, target = normalize(a), normalize(b)
    if not gold or not target:
        return None
    if gold == target:
        return True
    result = await pool.run("answers.equivalent", gold, target, timeout_s=timeout_s)
    if result.status == "ok" and isinstance(result.value, bool):
        return result.value
    return None


async def cluster_answers(
    answers: Sequence[str | None], *, pool: CheckPool, timeout_s: float = 10.0
) -> list[int | None]:
    """Group answers by equivalence, greedily, against each cluster's first answer.

    Each answer joins the first cluster whose representative it is equivalent to
    (``None`` from ``equivalent`` counts as not equivalent), or opens a new one.
    Cluster ids count from 0 in order of first appearance.

    Args:
        answers: Final answers; ``None`` or an empty answer means "no answer".
        pool: The pool whose workers run Math-Verify.
        timeout_s: Wall-clock limit for each comparison.

    Returns:
        One cluster id per answer, ``None`` where there was no answer.
    """
    representatives: list[str] = []
    ids: list[int | None] = []
    for answer in answers:
        text = normalize(answer) if answer is not None else ""
        if not text:
            ids.append(None)
            continue
        cluster = await _find_cluster(representatives, text, pool, timeout_s)
        if cluster is None:
            representatives.append(text)
            cluster = len(representatives) - 1
        ids.append(cluster)
    return ids


async def _find_cluster(
    representatives: list[str], text: str, pool: CheckPool, timeout_s: float
) -> int | None:
    # An identical representative costs no subprocess, so it is looked for first.
    if text in representatives:
        return representatives.index(text)
    for cluster, representative in enumerate(representatives):
        if await equivalent(representative, text, pool=pool, timeout_s=timeout_s):
            return cluster
    return None


def gsm8k_reference(answer_field: str) -> str:
    """The reference answer of a GSM8K item: the number after the last ``####``.

    Args:
        answer_field: The dataset's ``answer`` field, worked solution included.

    Returns:
        The number with thousands separators and dollar signs removed,
        for example ``"1234"`` for ``"... #### 1,234"``.

    Raises:
        InputError: If the field has no ``####`` or nothing after it.
    """
    _, marker, tail = answer_field.rpartition("####")
    reference = normalize(tail.replace(",", "").replace("$", ""))
    if not marker or not reference:
        raise InputError("a GSM8K answer field must end with '#### <number>'")
    return reference


@register("answers.equivalent")
def _judge(gold: str, target: str) -> bool | None:
    """Worker side of ``equivalent``: Math-Verify with its signal timeouts off."""
    import logging

    from math_verify import parse, verify

    # Math-Verify warns once that its timeouts are off; the pool enforces ours instead.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    parsed_gold = parse(f"${gold}$", parsing_timeout=None)
    parsed_target = parse(f"${target}$", parsing_timeout=None)
    if not parsed_gold or not parsed_target:
        return None
    # A failed parse falls back to the raw string, and Math-Verify calls a string
    # unequal to any expression; that is "cannot judge", not "different".
    if _is_math(parsed_gold) != _is_math(parsed_target):
        return None
    return bool(verify(parsed_gold, parsed_target, timeout_seconds=None))


def _is_math(parsed: list[object]) -> bool:
    """Whether Math-Verify parsed a SymPy object, not only a fallback string."""
    return any(not isinstance(item, str) for item in parsed)
