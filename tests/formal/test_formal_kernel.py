"""The kernel check with the real Coq: what it accepts, and every way around it that it refuses."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import fansi.formal.kernel as kernel
from fansi.formal import Coq, Limits, Theorem, check_proof, parse_file

pytestmark = pytest.mark.formal

NAT = parse_file("Require Import Arith.\n\nTheorem add_comm' : forall a b : nat, a + b = b + a.\n"
                 "Proof.\nAdmitted.\n").theorems[0]
REAL = parse_file("Require Import Reals.\nOpen Scope R_scope.\n\n"
                  "Theorem half : 1 / 2 <> 0.\nProof.\n").theorems[0]
AXIOMATIC = parse_file("Require Import Arith.\nParameter c : nat.\nAxiom c_spec : c = 3.\n"
                       "Theorem c_succ : c + 1 = 4.\nProof.\n").theorems[0]


def assert_refused(result: kernel.KernelResult, stage: kernel.Stage) -> None:
    assert not result.accepted, result
    assert result.stage == stage, result


def test_accepts_a_correct_proof(coq: Coq) -> None:
    result = check_proof(NAT, "intros a b.\nlia.", coq=coq)
    assert result.accepted and result.stage == "accepted" and result.message == ""
    assert result.axioms == ()  # closed under the global context


def test_accepts_a_real_proof_and_lists_the_reals_axioms(coq: Coq) -> None:
    result = check_proof(REAL, "lra.", coq=coq)
    assert result.accepted, result
    assert "ClassicalDedekindReals.sig_forall_dec" in result.axioms


def test_axioms_of_the_original_context_are_allowed(coq: Coq) -> None:
    result = check_proof(AXIOMATIC, "rewrite c_spec. reflexivity.", coq=coq)
    assert result.accepted, result
    assert any(name.endswith(".c_spec") for name in result.axioms)


def test_minif2f_statement_with_its_own_axioms(coq: Coq,
                                               minif2f: Callable[[str], str]) -> None:
    (theorem,) = parse_file(minif2f("amc12a_2016_p3")).theorems
    assert_refused(check_proof(theorem, "intros f Hf. lra.", coq=coq), "compile")


def test_refuses_a_wrong_proof_with_the_compiler_message(coq: Coq) -> None:
    result = check_proof(NAT, "intros a b.\nreflexivity.", coq=coq)
    assert_refused(result, "compile")
    assert "line 2 of the proof" in result.message and "reflexivity" in result.message
    assert result.error_offset == len("intros a b.\n")


@pytest.mark.parametrize(("proof", "imports"), [
    ("Admitted.", ""),
    ("intros. admit.", ""),
    ("Abort. Theorem add_comm' : True. Proof. exact I.", ""),
    ("exact cheat.", "Axiom cheat : False."),
    ("intros. lia. Qed. Axiom cheat : False. Goal True. exact I.", ""),
    ("Declare ML Module \"evil\". lia.", ""),
    ("intros; lia. Qed. Unset Guard Checking. Goal True. exact I.", ""),
    ("#[bypass_check(guard)] intros; lia.", ""),
    ("intros; lia. Qed. Reset add_comm'. Goal True. exact I.", ""),
    ("(* a comment is read too: Admitted. *) intros; lia.", ""),
    ('idtac "(*". Admitted. idtac "*)".', ""),
    ("lia.", 'Load "/tmp/evil.v".'),
    ("lia.", "Module M. End M."),
])
def test_refuses_forbidden_commands_before_compiling(coq: Coq, proof: str, imports: str) -> None:
    assert_refused(check_proof(NAT, proof, imports=imports, coq=coq), "policy")


def test_refuses_a_changed_reading_of_the_statement(coq: Coq) -> None:
    # In nat_scope "1 / 2 <> 0" is false, but the trick here is the other way
    # round: in nat_scope "1 / 2 = 0" is true, in R_scope it is false.
    false_in_r = parse_file("Require Import Reals.\nOpen Scope R_scope.\n"
                            "Theorem t : 1 / 2 = 0.\nProof.\n").theorems[0]
    result = check_proof(false_in_r, "reflexivity.", imports="Open Scope nat_scope.", coq=coq)
    assert_refused(result, "statement")
    assert "original statement" in result.message


def test_refuses_a_require_of_a_file_the_candidate_did_not_get(coq: Coq) -> None:
    assert_refused(check_proof(NAT, "lia.", imports="Require Import Fansi.Evil.", coq=coq),
                   "compile")


def test_refuses_a_proof_that_loops_past_the_time_limit(coq: Coq) -> None:
    loop = ("assert (Pos.iter (fun x : nat => x) 0 (10 ^ 15)%positive = 0) "
            "by (vm_compute; reflexivity).")
    result = check_proof(NAT, loop, imports="From Coq Require Import PArith.",
                         limits=Limits(seconds=3), coq=coq)
    assert_refused(result, "compile")
    assert result.timed_out and result.seconds < 10


# With the textual policy switched off, the later stages still refuse each trick.
@pytest.mark.parametrize(("proof", "imports", "stage"), [
    ("Abort. Theorem add_comm' : True. Proof. exact I.", "", "statement"),
    ("Abort. Module M. Theorem add_comm' : forall a b : nat, a + b = b + a. Admitted. End M. "
     "Import M. Goal True. exact I.", "", "statement"),
    ("intros. admit.", "", "compile"),
    ("Admitted. Goal True. exact I.", "", "assumptions"),
    ("destruct cheat.", "Axiom cheat : False.", "assumptions"),
    ("destruct (loop 0).",
     "Unset Guard Checking. Fixpoint loop (n : nat) : False := loop n. Set Guard Checking.",
     "assumptions"),
])
def test_later_stages_refuse_what_the_policy_would_have(
        coq: Coq, monkeypatch: pytest.MonkeyPatch, proof: str, imports: str,
        stage: kernel.Stage) -> None:
    monkeypatch.setattr(kernel, "policy_violation", lambda proof, imports="": None)
    assert_refused(check_proof(NAT, proof, imports=imports, coq=coq), stage)


def test_coqchk_is_the_last_word(coq: Coq, monkeypatch: pytest.MonkeyPatch) -> None:
    # An axiom that slipped past Print Assumptions is still caught by coqchk.
    monkeypatch.setattr(kernel, "policy_violation", lambda proof, imports="": None)
    monkeypatch.setattr(kernel, "_allowed", lambda printed, library, own: True)
    assert_refused(check_proof(NAT, "destruct cheat.", imports="Axiom cheat : False.", coq=coq),
            "coqchk")


def test_goals_before_the_failing_step(coq: Coq) -> None:
    theorem = parse_file("Theorem plus_n_O' : forall n : nat, n + 0 = n.\nProof.\n").theorems[0]
    proof = "intros n.\ninduction n.\n- reflexivity.\n- simpl. rewrite IHn. reflexvity."
    result = check_proof(theorem, proof, coq=coq)
    assert result.error_offset == proof.index("reflexvity")
    goals = kernel.goals_before(theorem, proof, result.error_offset, coq=coq)
    assert "IHn : n + 0 = n" in goals and "S n = S n" in goals


def test_the_theorem_is_not_trusted_by_its_own_text(coq: Coq) -> None:
    # A Theorem built by hand with a statement that differs from its context's
    # reading is checked against what the context gives, not the header text.
    theorem = Theorem(kind="Theorem", name="t", binders="(n : nat)", statement="n = n",
                      context="Require Import Arith.\n")
    assert check_proof(theorem, "reflexivity.", coq=coq).accepted


def test_interval_proofs_rely_only_on_the_primitive_number_axioms(coq: Coq) -> None:
    theorem = parse_file("Require Import Reals.\nOpen Scope R_scope.\n"
                         "Theorem s : sqrt 2 <= 3 / 2.\nProof.\n").theorems[0]
    result = check_proof(theorem, "interval.", coq=coq,
                         imports="From Interval Require Import Tactic.")
    assert result.accepted, result
    assert any(name.startswith("FloatAxioms.") for name in result.axioms)


def test_a_statement_that_does_not_compile_as_given_is_reported(
        coq: Coq, minif2f: Callable[[str], str]) -> None:
    assert kernel.check_statement(NAT, coq=coq) is None
    # In this miniF2F file "x^2" with x : C is ill-typed: R's power, on a complex x.
    (theorem,) = parse_file(minif2f("amc12_2000_p15")).theorems
    problem = kernel.check_statement(theorem, coq=coq)
    assert problem is not None and 'has type "C"' in problem
