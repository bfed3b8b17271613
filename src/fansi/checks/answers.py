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
from fansi.parse import boxes

_DELIMITERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
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
        found = boxes(text)
        if found and found[-1].start == 0 and found[-1].end == len(text):
            text = found[-1].content
        if text == before:
            break
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    return text


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
