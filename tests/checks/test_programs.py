"""Model-written programs and assertions: answers, errors as data, counterexamples
that name the failing values, trivial assertions that cannot judge, and the pool's
limits on code that hangs or hogs memory."""

from __future__ import annotations

from typing import Any

import pytest

from fansi.checks import CheckPool
from fansi.checks.programs import extract_program, run_assertions, run_program

# --- programs ----------------------------------------------------------------------


def test_a_program_that_computes_the_answer_returns_it() -> None:
    code = (
        "import sympy\n"
        "x = sympy.symbols('x')\n"
        "print('solving...')\n"
        "print(sympy.solve(3 * x + 5 - 80, x)[0])\n"
    )
    assert run_program(code, 1000) == {
        "ok": True,
        "stdout": "solving...\n25\n",
        "answer": "25",
        "error": "",
    }


def test_a_main_block_runs_and_exit_zero_is_success() -> None:
    code = "import sys\nif __name__ == '__main__':\n    print(42)\n    sys.exit(0)\n"
    assert run_program(code, 100)["answer"] == "42"
    failed = run_program("import sys\nprint(42)\nsys.exit(2)", 100)
    assert failed["ok"] is False and failed["answer"] is None
    assert failed["error"] == "SystemExit: 2"


def test_a_crashing_program_returns_its_error_and_no_answer() -> None:
    out = run_program("print(12)\nprint([1, 2][5])", 100)
    assert out["ok"] is False
    assert out["answer"] is None
    assert out["error"] == "IndexError: list index out of range"
    assert out["stdout"] == "12\n"
    syntax = run_program("print(1 +)", 100)
    assert syntax["ok"] is False and syntax["error"].startswith("SyntaxError")


def test_a_program_that_prints_nothing_has_no_answer() -> None:
    out = run_program("answer = 6 * 7", 100)
    assert out == {"ok": True, "stdout": "", "answer": None, "error": ""}
    assert run_program("print()\nprint('   ')", 100)["answer"] is None


def test_huge_output_is_cut_and_stops_the_program_even_if_it_catches_that() -> None:
    code = (
        "try:\n    while True:\n        print('spam')\nexcept BaseException:\n    pass\nprint(7)\n"
    )
    out = run_program(code, 100)
    assert out["ok"] is False and out["answer"] is None
    assert len(out["stdout"]) == 100
    assert out["error"].startswith("OutputLimit")


def test_the_last_complete_python_fence_is_the_program() -> None:
    reply = (
        "First try:\n```python\nprint(1)\n```\nBetter:\n```py\nprint(2)\n```\n"
        "Output:\n```\n2\n```\n"
    )
    assert extract_program(reply) == "print(2)\n"
    assert extract_program("- item\n  ```python\n  print(3)\n  ```\n") == "print(3)\n"
    assert extract_program("The answer is 4.") is None
    assert extract_program("```python\nprint(5)\n") is None  # truncated


# --- assertions --------------------------------------------------------------------


def judged(code: str) -> list[Any]:
    out = run_assertions(code)
    assert out["error"] == ""
    return [result["passed"] for result in out["results"]]


def test_a_false_brute_force_claim_fails_with_the_failing_values() -> None:
    code = (
        "primes = {p for p in range(2, 5000) if all(p % d for d in range(2, p))}\n"
        "for n in range(1, 20):\n"
        "    assert n**2 + n + 41 in primes\n"  # true for these n
        "for n in range(1, 60):\n"
        "    assert n**2 + n + 41 in primes\n"  # n = 40 gives 1681 = 41**2
    )
    out = run_assertions(code)
    first, second = out["results"]
    assert first["passed"] is True and first["counterexample"] == ""
    assert second["passed"] is False
    assert "n = 40" in second["counterexample"]
    assert "n ** 2 + n + 41 = 1681" in second["counterexample"]
    assert second["line"] == 4 and second["source"].startswith("for n in range(1, 60)")


def test_the_failing_case_of_all_is_named_and_a_message_comes_first() -> None:
    code = (
        "def f(x):\n    return 1\n"
        "assert all(f(a + b) == f(a) + f(b) for a in range(3) for b in range(3)), 'additive'\n"
    )
    (result,) = run_assertions(code)["results"]
    assert result["passed"] is False
    assert result["counterexample"].startswith("additive; a = 0; b = 0")
    assert "f(a) + f(b) = 2" in result["counterexample"]


def test_a_failure_counts_even_when_the_code_catches_it() -> None:
    code = (
        "for k in range(10):\n"
        "    try:\n        assert k < 7\n"
        "    except AssertionError:\n        pass\n"
    )
    (result,) = run_assertions(code)["results"]
    assert result["passed"] is False and result["counterexample"] == "k = 7"


def test_an_assert_in_a_called_function_is_a_claim_and_an_uncalled_one_is_nothing() -> None:
    code = (
        "def never():\n    assert False\n"
        "def check(n):\n    assert n % 5 != 3, f'n={n}'\n"
        "for i in range(10):\n    check(i)\n"
    )
    (result,) = run_assertions(code)["results"]
    assert result["passed"] is False
    assert result["counterexample"].startswith("n=3; n = 3")


@pytest.mark.parametrize(
    "assertion",
    [
        "assert True",
        "assert 1 == 1",
        "assert 2 + 2 == 5",  # constant arithmetic is not the candidate's claim
        "assert (x, 'x is positive')",
        "assert x == x",
        "assert f(x) <= f(x)",
        "assert x + x == 2 * x",
        "assert (x + 1)**2 == x**2 + 2*x + 1",
        "assert x > 100 or True",
        "for n in range(5):\n    assert n * (n + 1) == n**2 + n",
    ],
)
def test_trivial_assertions_cannot_judge(assertion: str) -> None:
    out = run_assertions(f"x = -3\ndef f(t):\n    return t\n{assertion}\n")
    (result,) = out["results"]
    assert result["passed"] is None
    assert result["reason"].startswith("trivial")


def test_real_claims_pass_and_unclear_ones_cannot_judge() -> None:
    code = (
        "import math, sympy as sp\n"
        "x = sp.symbols('x')\n"
        "a = 0.1\n"
        "assert sp.factor(x**2 - 1) == (x - 1) * (x + 1)\n"  # holds
        "assert (x + 1)**2 == sp.expand((x + 1)**2)\n"  # equal, though not structurally
        "assert a * 3 == 0.3\n"  # equal up to float rounding
        "for n in range(0):\n    assert n > 5\n"  # no assertion runs
        "assert math.sqrt(a - 1) > 0\n"  # raises ValueError
    )
    out = run_assertions(code)
    assert [r["passed"] for r in out["results"]] == [True, True, True, None, None]
    assert out["results"][3]["reason"] == "no assertion ran"
    assert out["results"][4]["reason"] == "ValueError: math domain error"


def test_claims_run_in_order_and_a_failed_setup_judges_nothing() -> None:
    assert judged("x = 5\nassert x * (x - 5) == 0\nx = 6\nassert x * (x - 5) == 0\n") == [
        True,
        False,
    ]
    out = run_assertions("y = 2\nassert y > 1\nz = 1 / 0\nassert y > 3\n")
    assert out["results"] == []
    assert out["error"] == "setup at line 3 failed: ZeroDivisionError: division by zero"
    assert run_assertions("assert (")["error"].startswith("SyntaxError")


# --- through the pool --------------------------------------------------------------


@pytest.mark.subprocess
async def test_hanging_and_memory_hungry_code_is_stopped_by_the_pool() -> None:
    async with CheckPool(memory_bytes=1 << 30) as pool:
        hung = await pool.run("programs.run", "while True:\n    pass\n", 100, timeout_s=2)
        hog = await pool.run("programs.run", "x = [0] * (1 << 31)\nprint(1)", 100, timeout_s=20)
        loop = await pool.run("programs.assertions", "while True:\n    assert 1\n", timeout_s=2)
        answered = await pool.run("programs.run", "print(6 * 7)", 100, timeout_s=20)
    assert hung.status == "timeout"
    assert loop.status == "timeout"
    # The address-space cap turns the allocation into a MemoryError inside the program.
    assert hog.status == "ok" and isinstance(hog.value, dict)
    assert hog.value["ok"] is False and hog.value["answer"] is None
    assert hog.value["error"].startswith("MemoryError")
    # The pool replaced the killed worker and still answers.
    assert answered.status == "ok" and isinstance(answered.value, dict)
    assert answered.value["answer"] == "42"


def test_symbolic_equality_sympy_cannot_decide_is_not_a_counterexample() -> None:
    # The README example's false refutation: the product of two odd numbers,
    # symbolic, reduced mod 2. SymPy leaves Mod(...) unevaluated, so == is False.
    code = (
        "import sympy as sp\n"
        "k, m = sp.symbols('k m')\n"
        "product = sp.expand((2*k + 1) * (2*m + 1))\n"
        "assert product % 2 == 1\n"
        "assert sp.expand((k + 1)**2) == k**2 + 1\n"  # false: differs at k = 1
    )
    out = run_assertions(code)
    first, second = out["results"]
    assert first["passed"] is None
    assert first["reason"].startswith("symbolic")
    assert second["passed"] is False
    assert "k**2 + 1" in second["counterexample"]


def test_symbolic_samples_respect_the_symbols_assumptions() -> None:
    # floor(sqrt(x**2 + 1)) == x holds for positive integers, which SymPy cannot
    # show: sampled at positive values only, it cannot be refuted; for a plain
    # integer symbol, x = 0 refutes it.
    claim = "assert sp.floor(sp.sqrt(x**2 + 1)) == x\n"
    positive = run_assertions("import sympy as sp\n"
                              "x = sp.symbols('x', positive=True, integer=True)\n" + claim)
    assert positive["results"][0]["passed"] is None
    assert positive["results"][0]["reason"].startswith("symbolic")
    plain = run_assertions("import sympy as sp\nx = sp.symbols('x', integer=True)\n" + claim)
    assert plain["results"][0]["passed"] is False
