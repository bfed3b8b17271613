"""Final answers: normalisation, extraction, Math-Verify equivalence, clustering, GSM8K."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fansi.checks import (
    CheckPool,
    JobResult,
    cluster_answers,
    equivalent,
    normalize,
)
from fansi.errors import InputError
from fansi.evals.data import gsm8k_reference
from fansi.parse import final_answer


@pytest.fixture(scope="module")
def pool() -> Iterator[CheckPool]:
    # One pool for the module, so that Math-Verify is imported once per worker.
    with CheckPool() as pool:
        yield pool


class ScriptedPool:
    """Stands in for a CheckPool: returns one scripted result and counts the calls."""

    def __init__(self, result: JobResult | None = None) -> None:
        self.result = result
        self.calls: list[tuple[Any, ...]] = []

    async def run(self, fn: Any, *args: Any, timeout_s: float = 10.0) -> JobResult:
        self.calls.append((fn, *args))
        if self.result is None:
            raise AssertionError("no subprocess was expected")
        return self.result


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  42  ", "42"),
        ("42.", "42"),
        ("$42$", "42"),
        ("$$\\frac{1}{2}$$", "\\frac{1}{2}"),
        ("\\(x+1\\)", "x+1"),
        ("$\\boxed{42}$.", "42"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("1,000", "1000"),
        ("-1,234,567.5", "-1234567.5"),
        ("(1,100)", "(1,100)"),
        ("x  +\n 1", "x + 1"),
        ("\\boxed{1}+\\boxed{2}", "\\boxed{1}+\\boxed{2}"),
        (" $ $ ", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so the answer is \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),
        ("first \\boxed{1}, finally \\boxed{ {2}^{3} }", "{2}^{3}"),
        ("\\fbox{7}", "7"),
        ("no box here: 5", None),
        ("\\boxed{3} then \\boxed{4", "3"),
        ("\\boxed {7}", "7"),
        ("Final answer: 12", "12"),
        ("\\boxed{5}\nFinal answer: 6", "5"),
    ],
)
def test_final_answer(text: str, expected: str | None) -> None:
    assert final_answer(text) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1/2", "0.5", True),
        ("\\frac{1}{2}", "0.5", True),
        ("0.5", "\\frac{1}{2}", True),
        ("2", "3", False),
        ("x^2+2x+1", "(x+1)^2", True),
        ("x^2+2x+1", "(x-1)^2", False),
        ("1,000", "1000", True),
        ("1,000", "1001", False),
        ("\\sqrt{2}/2", "\\frac{1}{\\sqrt{2}}", True),
        ("\\boxed{6}", "$6.0$", True),
        ("\\frac{", "1", None),
        ("", "1", None),
    ],
)
async def test_equivalent(pool: CheckPool, a: str, b: str, expected: bool | None) -> None:
    assert await equivalent(a, b, pool=pool) is expected


@pytest.mark.parametrize(("a", "b"), [("1,000", "1000"), ("$\\boxed{42}$.", "42"), ("x", " x ")])
async def test_equal_after_normalising_needs_no_subprocess(a: str, b: str) -> None:
    stub = ScriptedPool()
    assert await equivalent(a, b, pool=stub) is True  # type: ignore[arg-type]
    assert stub.calls == []


@pytest.mark.parametrize(
    "result",
    [
        JobResult("timeout", None, "no result within 10 s"),
        JobResult("error", None, "MemoryError"),
        JobResult("ok", None, ""),
    ],
)
async def test_cannot_judge_is_none(result: JobResult) -> None:
    stub = ScriptedPool(result)
    assert await equivalent("1/2", "0.5", pool=stub) is None  # type: ignore[arg-type]
    assert stub.calls == [("answers.equivalent", "1/2", "0.5")]


async def test_cluster_answers(pool: CheckPool) -> None:
    answers = ["1/2", "0.5", None, "3", "\\frac{1}{2}", "3.0", "", "x^2", "$3$"]
    assert await cluster_answers(answers, pool=pool) == [0, 0, None, 1, 0, 1, None, 2, 1]


async def test_cluster_answers_reuses_identical_representatives() -> None:
    stub = ScriptedPool(JobResult("ok", False, ""))
    ids = await cluster_answers(["7", "8", "$8$", None], pool=stub)  # type: ignore[arg-type]
    assert ids == [0, 1, 1, None]
    assert stub.calls == [("answers.equivalent", "7", "8")]


async def test_cluster_answers_of_nothing(pool: CheckPool) -> None:
    assert await cluster_answers([], pool=pool) == []
    assert await cluster_answers([None, " "], pool=pool) == [None, None]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("Natalia sold 48 clips.\n48 + 24 = 72\n#### 1,234", "1234"),
        ("#### 72", "72"),
        ("It costs $5.\n#### $-5", "-5"),
        ("a #### b #### 3.5\n", "3.5"),
    ],
)
def test_gsm8k_reference(field: str, expected: str) -> None:
    assert gsm8k_reference(field) == expected


@pytest.mark.parametrize("field", ["no marker at all: 42", "#### ", ""])
def test_gsm8k_reference_without_an_answer_raises(field: str) -> None:
    with pytest.raises(InputError):
        gsm8k_reference(field)
