"""The model prover: extraction and seeds (no Coq), and the loop on the fake backend with Coq."""

from __future__ import annotations

import pytest

from fansi.backends.fake import FakeBackend
from fansi.formal import (
    CLOSER,
    Coq,
    FormalEvent,
    closed_prefix,
    derive_seed,
    extract_proof,
    parse_file,
    proof_messages,
    prove_theorem,
)

LISTS = parse_file("Require Import List.\nImport ListNotations.\nRequire Import Arith.\n\n"
                   "Theorem double_length : forall l : list nat, length (l ++ l) = 2 * length l.\n"
                   "Proof.\nAdmitted.\n").theorems[0]
WRONG = "Here is my proof:\n```coq\nintros l.\nsimpl.\nreflexivity.\n```\n"
RIGHT = "Fixed:\n```coq\nintros l.\nrewrite app_length.\nlia.\n```"


def test_extracts_the_tactics_from_a_restated_theorem() -> None:
    reply = ("Sure.\n```coq\nRequire Import Lia.\nFrom Interval Require Import Tactic.\n"
             "Theorem double_length : forall l, length (l ++ l) = 2 * length l.\nProof.\n"
             "  intros l.\n  - rewrite app_length.\n    lia.\nQed.\n```\nDone.")
    extracted = extract_proof(reply)
    assert extracted is not None
    assert extracted.imports == "Require Import Lia.\nFrom Interval Require Import Tactic."
    assert extracted.proof == "intros l.\n- rewrite app_length.\n  lia."


def test_extracts_without_a_fence_and_keeps_admitted_for_the_policy() -> None:
    extracted = extract_proof("Proof.\nintros. Admitted.")
    assert extracted is not None and extracted.proof == "intros. Admitted."
    assert extract_proof("```\nsplit; lia.\n```") == extract_proof("split; lia.")
    assert extract_proof("I am not sure.") is None


@pytest.mark.parametrize("reply", ["", "I do not know how to prove this",
                                   "```coq\nno sentence here\n```", "Qed.",
                                   "(* never closed"])
def test_garbage_yields_no_proof(reply: str) -> None:
    assert extract_proof(reply) is None


def test_seeds_are_a_pure_function_of_the_call() -> None:
    seeds = {derive_seed(7, LISTS, a, r) for a in range(3) for r in range(3)}
    assert len(seeds) == 9
    assert derive_seed(7, LISTS, 1, 2) == derive_seed(7, LISTS, 1, 2)
    assert derive_seed(8, LISTS, 1, 2) != derive_seed(7, LISTS, 1, 2)


def test_the_prompt_fences_the_context_and_the_theorem() -> None:
    system, user = proof_messages(LISTS, sketch="Lengths add up.")
    assert system.role == "system" and "```coq" in system.content
    assert "<<<THEOREM-" in user.content and "double_length" in user.content
    assert "<<<CONTEXT-" in user.content and "<<<SKETCH-" in user.content


@pytest.mark.formal
async def test_a_repair_fixes_a_scripted_error(coq: Coq) -> None:
    backend = FakeBackend([WRONG, RIGHT])
    events: list[FormalEvent] = []
    result = await prove_theorem(LISTS, backend, attempts=2, repairs=2, max_tokens=256,
                                 temperature=0.7, seed=3, on_event=events.append, coq=coq)
    assert result.found and result.source == "model" and result.stopped == "proved"
    assert result.proof == "intros l.\nrewrite app_length.\nlia."
    first, repair = result.attempts
    assert (first.attempt, first.repair, first.stage) == (0, 0, "compile")
    assert "reflexivity" in first.message and first.goals  # the goal state went back too
    assert (repair.attempt, repair.repair, repair.parent, repair.accepted) == (0, 1, (0, 0), True)
    assert result.portfolio is not None and not result.portfolio.proved
    assert result.calls == len(backend.calls) == 2
    assert result.usage.completion_tokens == first.usage.completion_tokens + \
        repair.usage.completion_tokens
    # The repair continues the conversation: the refused reply, then Coq's message.
    repair_call = backend.calls[1].messages
    assert repair_call[2].role == "assistant" and repair_call[2].content == WRONG
    assert first.message in repair_call[3].content and "<<<ERROR-" in repair_call[3].content
    assert [call.params.seed for call in backend.calls] == [derive_seed(3, LISTS, 0, 0),
                                                            derive_seed(3, LISTS, 0, 1)]
    assert [e.kind for e in events] == ["portfolio_tried", "attempt_started", "attempt_checked",
                                        "attempt_started", "attempt_checked", "search_finished"]
    assert result.file_text is not None and "rewrite app_length" in result.file_text


@pytest.mark.formal
async def test_garbage_replies_end_not_found_within_budget(coq: Coq) -> None:
    backend = FakeBackend(["I am not sure.", "```coq\nAdmitted.\n```", "lol"])
    result = await prove_theorem(LISTS, backend, attempts=2, repairs=1, max_tokens=64,
                                 temperature=0.0, seed=0, tactics=(), coq=coq)
    assert not result.found and result.proof is None and result.stopped == "attempts"
    assert result.calls == len(backend.calls) == 4 and result.portfolio is None
    assert [a.stage for a in result.attempts] == ["extract", "policy", "extract", "extract"]
    assert [(a.attempt, a.repair) for a in result.attempts] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert result.file_text is None


@pytest.mark.formal
async def test_the_portfolio_answers_before_any_model_call(coq: Coq) -> None:
    theorem = parse_file("Theorem t : forall a b : nat, a + b = b + a.\nProof.\n").theorems[0]
    backend = FakeBackend(["never asked"])
    result = await prove_theorem(theorem, backend, attempts=3, repairs=1, max_tokens=64,
                                 temperature=0.0, seed=0, coq=coq)
    assert result.found and result.source == "portfolio" and result.calls == 0
    assert backend.calls == []


@pytest.mark.formal
async def test_the_budget_stops_the_search(coq: Coq) -> None:
    from fansi.records import Budget

    backend = FakeBackend(["lol"])
    result = await prove_theorem(LISTS, backend, attempts=5, repairs=5, max_tokens=64,
                                 temperature=0.0, seed=0, tactics=(), budget=Budget(calls=3),
                                 coq=coq)
    assert result.stopped == "budget" and result.calls == 3


@pytest.mark.formal
async def test_a_reply_that_outruns_the_time_budget_is_cut_off(coq: Coq) -> None:
    import asyncio

    from fansi.records import Budget

    backend = FakeBackend([RIGHT], latency_s=3600.0)
    events: list[FormalEvent] = []
    # 10 s leaves the statement check time to finish, so the call does start.
    result = await asyncio.wait_for(
        prove_theorem(LISTS, backend, attempts=2, repairs=1, max_tokens=64, temperature=0.0,
                      seed=0, tactics=(), budget=Budget(seconds=10), coq=coq,
                      on_event=events.append),
        timeout=300)  # a guard against a hang, not a speed assertion
    assert [e.kind for e in events] == ["attempt_started", "search_finished"]
    assert result.stopped == "budget" and not result.found
    assert result.calls == 0 and result.attempts == ()


@pytest.mark.formal
async def test_an_invalid_statement_costs_no_model_call(coq: Coq) -> None:
    theorem = parse_file("Theorem t : forall n : nat, n = true.\nProof.\n").theorems[0]
    backend = FakeBackend(["never asked"])
    result = await prove_theorem(theorem, backend, attempts=2, repairs=1, max_tokens=64,
                                 temperature=0.0, seed=0, coq=coq)
    assert result.stopped == "invalid" and not result.found and backend.calls == []
    assert "does not compile" in result.error and result.portfolio is None


def test_the_closer_follows_the_sentences_that_ran_without_bullets() -> None:
    proof = "intros x.\nsplit.\n- lia.\n- { nlinarith. }\n+ auto."
    failing = proof.index("nlinarith")
    assert closed_prefix(proof, failing) == f"intros x.\nsplit.\nlia.\n{CLOSER}."
    # Goals left open at Qed (no offset in the proof): every sentence is kept.
    assert closed_prefix("intros.\n{ simpl. }", None) == f"intros.\nsimpl.\n{CLOSER}."
    assert closed_prefix("nlinarith.", 0) is None  # nothing ran first: that is the portfolio


@pytest.mark.formal
async def test_the_portfolio_closes_what_a_failed_proof_left_without_a_repair_call(
        coq: Coq) -> None:
    # The model did the real step (app_length) and then used a Lean tactic.
    backend = FakeBackend(["```coq\nintros l.\nrewrite app_length.\nnlinarith.\n```",
                           "never asked"])
    result = await prove_theorem(LISTS, backend, attempts=1, repairs=2, max_tokens=128,
                                 temperature=0.0, seed=0, tactics=(), coq=coq)
    assert result.found and result.source == "model" and result.calls == 1
    (attempt,) = result.attempts
    assert attempt.accepted and attempt.check is not None and attempt.check.accepted
    assert attempt.proof == f"intros l.\nrewrite app_length.\n{CLOSER}."
