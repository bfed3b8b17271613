"""Reading .v files: sentences, open theorems and their contexts (no Coq needed)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fansi.errors import ConfigError, InputError
from fansi.formal import find_coq, parse_file
from fansi.formal.statements import declared_axioms, split_sentences, strip_comments


def test_minif2f_file_ending_in_admitted(minif2f: Callable[[str], str]) -> None:
    parsed = parse_file(minif2f("aime_1983_p9"))
    (theorem,) = parsed.theorems
    assert (theorem.kind, theorem.name, theorem.binders) == ("Theorem", "aime_1983_p9", "")
    assert theorem.statement.startswith("forall (x : R), 0 < x -> x < PI ->")
    assert theorem.statement.endswith("(x * sin x)")
    assert theorem.context == "Require Import Reals.\nOpen Scope R_scope.\n"
    assert parsed.preamble == theorem.context
    assert "Admitted" not in theorem.header and theorem.header.endswith("(x * sin x).")


def test_minif2f_file_ending_in_proof(minif2f: Callable[[str], str]) -> None:
    (theorem,) = parse_file(minif2f("aimeII_2001_p3")).theorems
    assert theorem.name == "aimeII_2001_p3"
    assert theorem.statement.endswith("(x 531%nat + x 753%nat + x 975%nat)%Z = 898%Z")
    assert theorem.context.startswith("Require Import ZArith.\nRequire Import Nat.")


def test_context_axioms_are_recorded(minif2f: Callable[[str], str]) -> None:
    (theorem,) = parse_file(minif2f("amc12a_2016_p3")).theorems
    assert theorem.context_axioms == ("Rfloor", "Rfloor_spec")
    assert "Parameter Rfloor" in theorem.context


def test_two_open_theorems_each_leave_the_other_out(minif2f: Callable[[str], str]) -> None:
    first, second = parse_file(minif2f("imo_1966_p5")).theorems
    assert (first.name, second.name) == ("imo_1966_p5", "imo_1966_p5'")
    assert first.binders.startswith("(x a : nat -> R)") and "(H6 :" in first.binders
    assert first.proposition.startswith("forall (x a : nat -> R)")
    assert "imo_1966_p5" not in second.context  # the unproved sibling is not a premise
    assert second.binders == ""


def test_closed_lemmas_and_definitions_stay_in_the_context() -> None:
    source = ("Require Import Arith.\nDefinition f (n : nat) := n + 1.\n"
              "Lemma f_pos : forall n, 0 < f n.\nProof. intros; unfold f; auto with arith. Qed.\n"
              "Example e : f 1 = 2 := eq_refl.\n"
              "Theorem goal (n : nat) : f n = S n.\nProof.\nAbort.\n")
    (theorem,) = parse_file(source).theorems
    assert (theorem.name, theorem.binders, theorem.statement) == ("goal", "(n : nat)", "f n = S n")
    assert "Lemma f_pos" in theorem.context and "Example e" in theorem.context


def test_sentences_respect_nested_comments_and_strings() -> None:
    source = 'Check 1. (* a (* nested *) "*)" comment. *) Check "a. b". Check Nat.add.'
    assert [s.text for s in split_sentences(source)] == ["Check 1.", 'Check "a. b".',
                                                         "Check Nat.add."]
    assert strip_comments('a (* x "*)" y *) b') == "a   b"


def test_declared_axioms_skip_section_variables_and_qualify_modules() -> None:
    context = ("Section S. Variable x : nat. Hypothesis hx : x = 1. End S.\n"
               "Module M. Parameter p : nat. End M.\nAxioms (a : nat) (b c : bool).\n")
    assert declared_axioms(context) == ("M.p", "a", "b", "c")


@pytest.mark.parametrize(("source", "fragment"), [
    ("", "no Coq sentences"),
    ("Require Import Arith.\n", "no theorem with an open proof"),
    ("Theorem t : True.\nProof. exact I. Qed.\n", "no theorem with an open proof"),
    ("Theorem t : True.\nProof. exact I.\n", "not terminated"),
    ("Theorem t : True. (* never closed\n", "unterminated comment"),
    ("Theorem t : True.\nProof.\nAdmitted.\nCheck", "does not end with '.'"),
    ("Theorem t True.\nAdmitted.\n", "no top-level ':'"),
])
def test_malformed_files_are_input_errors(source: str, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        parse_file(source, path="x.v")


def test_missing_coq_is_a_one_line_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        find_coq("/nonexistent-bin")
    assert "bash scripts/install-coq.sh" in caught.value.message
    assert "\n" not in caught.value.message
