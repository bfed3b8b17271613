"""The stated answer substituted into the problem's functional equation: refuted with
the point that breaks it, held when it satisfies it, and silent on what it cannot read."""

from __future__ import annotations

import pytest

from fansi.checks.substitution import check_substitution, equations, plain, stated_functions

# IMO-ProofBench PB-Basic-003, as the shared data writes it.
PB_BASIC_003 = (r"Find all functions $f\colon \mathbb{R} \rightarrow \mathbb{R}$ such that for "
                "all $a,b \\in \\mathbb{R}$,\n \\[ (b - a)f(f(a)) = a f(a + f(b)). \\]")
# Built like it: Cauchy's equation on the integers.
CAUCHY = (r"Determine all functions $g: \mathbb{Z} \to \mathbb{Z}$ with "
          r"$$g(x + y) = g(x) + g(y)$$ for all integers $x, y$.")


def test_an_answer_that_fails_the_equation_is_refuted_with_the_point() -> None:
    out = check_substitution(PB_BASIC_003, "f(x) = 1")
    assert out["equations"] == 1 and out["functions"] == 1 and out["held"] == []
    (refuted,) = out["refuted"]
    assert refuted["function"] == "f(x) = 1"
    # At a = 0, b = 1 the left side is (1 - 0) * 1 = 1 and the right side 0 * 1 = 0.
    assert refuted["counterexample"] == ("at a = 0, b = 1: (-a + b)*f(f(a)) = 1, "
                                         "but a*f(a + f(b)) = 0")


def test_the_true_answers_hold_and_a_family_is_refuted_only_if_no_member_fits() -> None:
    out = check_substitution(PB_BASIC_003, r"f(x) = 0 \text{ and } f(x) = -x + k")
    assert out["refuted"] == [] and out["held"] == ["f(x) = 0", "f(x) = k - x"]
    # g(x) = c x works for every c; g(x) = x + c only for c = 0, which is tried.
    assert check_substitution(CAUCHY, "g(x) = cx, g(x) = x + c")["refuted"] == []
    out = check_substitution(CAUCHY, r"g(x) = x^2 + c")
    assert [r["function"] for r in out["refuted"]] == ["g(x) = c + x**2"]


def test_latex_arithmetic_is_read_and_anything_else_is_not() -> None:
    assert plain(r"\frac{x}{2} \cdot \left(y + 1\right)") == "((x)/(2)) * (y + 1 )"
    assert plain(r"\sqrt{x^{2}}") == "sqrt(x^(2))"
    for unread in (r"\sin x", "x_1", "__import__(os)", "exit()", "x \\in S", "f'(x)"):
        assert plain(unread) is None, unread
    assert stated_functions("f(x) = exit()", "f") == []
    # Not an equation of the function: a condition, an inequality, another letter.
    assert equations(r"Let $f(1) \le 2$ and $h(x) = x$ and $x = 3$.", "f") == []


@pytest.mark.parametrize("answer", ["12", r"\frac{1}{2}", "all linear functions",
                                    "f(x) = 2x for all x",
                                    "f is constant", "f(x) = \\sin x"])
def test_answers_it_cannot_read_give_nothing(answer: str) -> None:
    out = check_substitution(PB_BASIC_003, answer)
    assert out["functions"] == 0 and out["refuted"] == [] and out["held"] == []


def test_positive_domains_are_sampled_at_positive_values() -> None:
    # f(x) = 1/x satisfies f(x) f(y) = f(xy) everywhere it is defined; on the
    # positive reals there is no point to skip.
    problem = r"Find all $f: \mathbb{R}^+ \to \mathbb{R}^+$ with $f(x)f(y) = f(xy)$."
    assert check_substitution(problem, r"f(x) = \frac{1}{x}")["held"] == ["f(x) = 1/x"]
    assert check_substitution(problem, "f(x) = x + 1")["refuted"]


def test_a_problem_without_latex_is_read_from_such_that_to_for_all() -> None:
    problem = "Find all functions f: ℝ → ℝ such that f(x)f(y) - f(xy) = x + y for all real x, y."
    (refuted,) = check_substitution(problem, "f(x) = 1")["refuted"]
    assert refuted["counterexample"] == "at x = 0, y = 1: f(x)*f(y) - f(x*y) = 0, but x + y = 1"
    assert check_substitution(problem, "f(x) = x + 1")["held"] == ["f(x) = x + 1"]
    # The sides differ by a constant: no point is needed to show it.
    (wrong,) = check_substitution("Find all f: ℕ → ℕ such that f(n + 1) = f(n) + 2.",
                                  "f(n) = 3n")["refuted"]
    assert wrong["counterexample"].startswith("everywhere: f(n + 1) = 3*n + 3")
