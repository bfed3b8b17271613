"""Model-written programs and assertions, run as pool jobs: answers, failures,
counterexamples, trivial assertions, and programs that hang, hog memory or
reach out."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from fansi.checks import CheckPool
from fansi.checks.programs import run_assertions, run_program

pytestmark = pytest.mark.subprocess


@pytest.fixture(scope="module")
def pool() -> Iterator[CheckPool]:
    with CheckPool(memory_bytes=1 << 30) as pool:
        yield pool


def test_a_program_prints_its_answer() -> None:
    out = run_program("from fractions import Fraction\nprint(Fraction(3, 4) * 80)", 100)
    assert out == {"ok": True, "stdout": "60\n", "answer": "60", "error": ""}


def test_a_crashing_or_silent_program_gives_no_answer() -> None:
    crashed = run_program("print('partial')\n1 / 0", 100)
    assert crashed["ok"] is False and crashed["error"].startswith("ZeroDivisionError")
    assert run_program("x = 3", 100)["answer"] is None
    assert run_program("this is not python", 100)["ok"] is False


def test_output_is_capped() -> None:
    out = run_program("print('x' * 10_000)", 50)
    assert len(out["stdout"]) == 50


def test_a_false_brute_force_claim_fails_with_the_failing_case() -> None:
    code = ("def is_prime(m):\n    return m > 1 and all(m % d for d in range(2, m))\n"
            "for n in range(0, 60):\n    assert is_prime(n * n + n + 41), 'n^2+n+41 is prime'\n")
    out = run_assertions(code)
    (result,) = out["results"]
    assert result["passed"] is False
    assert "n^2+n+41 is prime" in result["counterexample"]
    assert re.search(r"\bn ?= ?40\b", result["counterexample"])


def test_true_claims_pass_and_trivial_ones_cannot_judge() -> None:
    code = ("import sympy\nx = sympy.symbols('x')\n"
            "assert sympy.simplify((x + 1)**2 - (x**2 + 2*x + 1)) == 0\n"
            "assert True\nassert 1 == 1\nassert x == x\n")
    out = run_assertions(code)
    assert [r["passed"] for r in out["results"]] == [True, None, None, None]


def test_setup_that_fails_judges_nothing() -> None:
    out = run_assertions("import not_a_module\nassert 1 + 1 == 3\n")
    assert out["results"] == [] and "setup" in out["error"]


def test_an_assert_in_an_uncalled_function_counts_for_nothing() -> None:
    out = run_assertions("def f():\n    assert 1 == 2\n")
    assert out == {"results": [], "error": ""}


async def test_a_hanging_program_is_killed_at_its_limit(pool: CheckPool) -> None:
    result = await pool.run("programs.run", "while True:\n    pass", 100, timeout_s=1.0)
    assert result.status == "timeout"


async def test_a_memory_hungry_program_dies_without_an_answer(pool: CheckPool) -> None:
    result = await pool.run("programs.run", "x = bytearray(4 << 30)\nprint(1)", 100,
                            timeout_s=10.0)
    # MemoryError inside the program is data; a worker killed for memory is an error
    assert result.status == "error" or (result.value is not None
                                        and result.value["answer"] is None)


async def test_a_program_cannot_reach_the_network_or_write_outside(
        pool: CheckPool, tmp_path: object) -> None:
    code = ("import socket\ns = socket.socket()\ns.settimeout(2)\n"
            "s.connect(('127.0.0.1', 9))\nprint('connected')")
    result = await pool.run("programs.run", code, 100, timeout_s=10.0)
    assert result.status == "ok" and result.value is not None
    assert result.value["answer"] is None and result.value["ok"] is False
    target = f"{tmp_path}/escaped.txt"
    wrote = await pool.run("programs.run", f"open({target!r}, 'w').write('x')\nprint('done')",
                           100, timeout_s=10.0)
    assert wrote.value is not None and wrote.value["answer"] is None
    import os

    assert not os.path.exists(target)
