"""The tactic portfolio with the real Coq."""

from __future__ import annotations

import pytest

from fansi.formal import PORTFOLIO, Coq, Tactic, parse_file, run_portfolio
from fansi.formal.portfolio import screen

pytestmark = pytest.mark.formal

EASY = parse_file("Require Import Arith.\n"
                  "Theorem easy_lia : forall a b : nat, a < b -> 2 * a + 1 <= 2 * b.\n"
                  "Proof.\n").theorems[0]
FALSE = parse_file("Theorem not_true : forall n : nat, n = 0.\nProof.\n").theorems[0]


def test_proves_an_easy_lia_statement_and_says_which_script(coq: Coq) -> None:
    result = run_portfolio(EASY, coq=coq)
    assert result.proved and result.tactic == "lia" and result.proof == "intros; lia."
    by_name = {outcome.name: outcome for outcome in result.outcomes}
    assert len(result.outcomes) == len(PORTFOLIO)
    assert by_name["lia"].screen == "passed"
    assert by_name["lia"].check is not None and by_name["lia"].check.accepted
    assert by_name["reflexivity"].screen == "failed"


def test_a_false_statement_is_not_proved(coq: Coq) -> None:
    result = run_portfolio(FALSE, coq=coq)
    assert not result.proved and result.tactic is None and result.proof is None
    assert all(outcome.check is None for outcome in result.outcomes)


def test_a_script_that_breaks_the_screen_is_marked_and_the_rest_still_run(coq: Coq) -> None:
    tactics = (Tactic("unknown", "intros; no_such_tactic"), Tactic("lia", "intros; lia"))
    assert screen(EASY, tactics, coq=coq) == ["error", "passed"]


def test_a_screen_that_passes_but_fails_the_kernel_check_is_not_accepted(
        coq: Coq) -> None:
    # Passes the screen (the goal is closed) but leaves an admitted hole:
    # the kernel check's policy refuses the proof.
    tactics = (Tactic("cheat", "intros; admit"),)
    result = run_portfolio(EASY, tactics=tactics, coq=coq)
    (outcome,) = result.outcomes
    assert not result.proved
    assert outcome.check is not None and outcome.check.stage == "policy"
