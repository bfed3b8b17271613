"""fansi.provers: a .v file's theorems as stored, resumable runs, on the scripted backend
and the real Coq."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from fansi.backends.fake import FakeBackend
from fansi.config import Settings
from fansi.errors import BackendError, ConfigError, InputError
from fansi.formal import Coq, find_coq
from fansi.provers import aprove, completed_source, prove, prove_run_id
from fansi.store import Store

CONTEXT = "Require Import List.\nImport ListNotations.\nRequire Import Arith.\n\n"
EASY = "Theorem add_comm_easy : forall a b : nat, a + b = b + a.\nProof.\nAdmitted.\n\n"
LISTS = ("Theorem double_length : forall l : list nat, length (l ++ l) = 2 * length l.\n"
         "Proof.\nAdmitted.\n")
TWO = CONTEXT + EASY + LISTS
WRONG = "Here is my proof:\n```coq\nintros l.\nsimpl.\nreflexivity.\n```\n"
RIGHT = "Fixed:\n```coq\nintros l.\nrewrite app_length.\nlia.\n```"


def write(tmp_path: Path, text: str, name: str = "two.v") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.formal
async def test_portfolio_then_a_model_repair_stored_and_replayed(
    tmp_path: Path, settings: Settings, coq: Coq
) -> None:
    path = write(tmp_path, TWO)
    backend = FakeBackend([WRONG, RIGHT])
    result = await aprove(path, settings=settings, backend=backend)
    easy, lists = result.theorems
    assert result.proved and [t.name for t in result.theorems] == ["add_comm_easy",
                                                                   "double_length"]
    assert easy.search.source == "portfolio" and easy.search.calls == 0
    assert lists.search.source == "model" and len(backend.calls) == 2
    assert [(a.attempt, a.repair, a.stage) for a in lists.search.attempts] == [
        (0, 0, "compile"), (0, 1, "accepted")]

    with Store.open(settings.store_path) as store:
        for proof in result.theorems:
            run = store.run(proof.run_id)
            assert run is not None and run.status == "done" and run.model == "fake"
            assert run.settings["mode"] == "prove" and run.result is not None
        lists_run = store.run(lists.run_id)
        assert lists_run is not None and lists_run.result is not None
        assert lists_run.result["found"] and lists_run.result["source"] == "model"
        assert lists_run.result["calls"] == 2 and lists_run.result["tokens"] > 0
        first, repair = store.candidates(lists.run_id)
        assert first.id == f"{lists.run_id}-a0r0" and first.solution.endswith("reflexivity.")
        assert repair.parents == (first.id,) and repair.round == 1
        [failed] = store.checks(lists.run_id, first.id)
        assert (failed.kind, failed.name, failed.passed, failed.detail) == (
            "formal", "coq", False, "compile")
        assert failed.counterexample == lists.search.attempts[0].message != ""
        assert store.checks(lists.run_id, repair.id)[0].passed
        [tactic] = store.candidates(easy.run_id)
        assert tactic.solution == easy.search.proof and store.checks(easy.run_id)[0].passed

    # The same file again: the same runs, every call answered by the cache.
    again = FakeBackend(["never asked"])
    replay = await aprove(path, settings=settings, backend=again)
    assert again.calls == [] and replay.proved
    assert [t.run_id for t in replay.theorems] == [t.run_id for t in result.theorems]
    with Store.open(settings.store_path) as store:
        assert len(store.candidates(lists.run_id)) == 2

    # The completed file holds both proofs and compiles as a whole.
    completed = write(tmp_path, result.file_text, "Completed.v")
    assert "intros; lia." in result.file_text and "rewrite app_length" in result.file_text
    assert "Admitted" not in result.file_text
    done = subprocess.run([coq.coqc, "-q", completed.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.formal
async def test_a_failed_run_is_marked_and_continues_without_repeating_a_call(
    tmp_path: Path, settings: Settings, coq: Coq
) -> None:
    path = write(tmp_path, CONTEXT + LISTS, "lists.v")
    broken = FakeBackend([WRONG, BackendError("the server went away")])
    with pytest.raises(BackendError):
        await aprove(path, settings=settings, backend=broken)
    with Store.open(settings.store_path) as store:
        [run] = store.runs()
        record = store.run(run.id)
        assert record is not None and record.status == "failed"
        assert "the server went away" in (record.error or "")
        assert len(store.candidates(run.id)) == 1  # the finished attempt is kept
    fixed = FakeBackend([RIGHT])
    result = await aprove(path, settings=settings, backend=fixed)
    assert result.proved and result.theorems[0].run_id == run.id
    assert len(fixed.calls) == 1  # only the repair: the first call came from the cache
    with Store.open(settings.store_path) as store:
        record = store.run(run.id)
        assert record is not None and record.status == "done"


def test_the_run_id_is_stable_and_follows_the_settings(settings: Settings) -> None:
    from fansi.formal import parse_file

    theorem = parse_file(TWO).theorems[1]
    same = prove_run_id(theorem, settings, model="fake")
    assert same == prove_run_id(theorem, settings.model_copy(update={"threads": 3}),
                                model="fake")
    assert same != prove_run_id(theorem, settings.model_copy(update={"seed": 5}), model="fake")
    assert same != prove_run_id(theorem, settings, model="other")
    assert same != prove_run_id(parse_file(TWO).theorems[0], settings, model="fake")


def test_no_coq_is_one_config_error_naming_the_install_command(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    find_coq.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"install-coq\.sh") as caught:
            prove(TWO, settings=settings, backend=FakeBackend(["never"]))
    finally:
        find_coq.cache_clear()
    assert "\n" not in caught.value.message
    with Store.open(settings.store_path) as store:
        assert store.runs() == []


def test_a_malformed_file_names_the_line(settings: Settings) -> None:
    with pytest.raises(InputError, match=r"unterminated comment at line 5, column 1"):
        prove(CONTEXT + "(* never closed\n" + LISTS, settings=settings,
              backend=FakeBackend(["never"]))


def test_the_completed_file_leaves_unproved_and_closed_theorems_alone() -> None:
    from fansi.formal import parse_file

    source = ("Lemma done_already : True.\nProof. exact I. Qed.\n\n"
              "Theorem a : True.\nProof.\nAdmitted.\n\nTheorem b : 1 = 1.\n")
    theorems = parse_file(source).theorems

    searches = [SimpleNamespace(theorem=theorems[0], proof=None, imports=""),
                SimpleNamespace(theorem=theorems[1], proof="reflexivity.",
                                imports="From Coq Require Import Lia Lra Psatz.")]
    completed = completed_source(source, searches)  # type: ignore[arg-type]
    assert completed.startswith("Lemma done_already : True.\nProof. exact I. Qed.\n\n"
                                "Theorem a : True.\nProof.\nAdmitted.\n\n")
    assert completed.endswith("From Coq Require Import Lia Lra Psatz.\nTheorem b : 1 = 1.\n"
                              "Proof.\n  reflexivity.\nQed.\n")


@pytest.mark.formal
async def test_solve_formal_gives_the_best_informal_proof_to_the_prover_as_a_sketch(
    tmp_path: Path, settings: Settings, coq: Coq
) -> None:
    from scripted_model import Model

    informal = Model(solutions=["GOOD: the length of l ++ l is length l + length l by "
                                "app_length, which is 2 * length l."])
    prove_calls: list[str] = []

    def model(messages, params):  # type: ignore[no-untyped-def]
        text = "\n".join(m.content for m in messages)
        if "<<<THEOREM-" not in text:
            return informal(messages, params)
        prove_calls.append(text)
        # The formal writer proves it only when the sketch names the lemma.
        return RIGHT if "<<<SKETCH-" in text and "app_length" in text else WRONG

    path = write(tmp_path, CONTEXT + LISTS, "lists.v")
    plain = await aprove(path, settings=settings.model_copy(update={"n": 1, "repairs": 0}),
                         backend=FakeBackend(model))
    assert not plain.proved and plain.theorems[0].sketch_run_id is None
    assert informal.count("generate") == 0
    sketched = await aprove(path, settings=settings.model_copy(update={"n": 1, "repairs": 0}),
                            backend=FakeBackend(model), sketch=True)
    (proof,) = sketched.theorems
    assert sketched.proved and proof.search.source == "model"
    assert informal.count("generate") >= 1 and informal.count("verify") >= 1
    assert "<<<SKETCH-" in prove_calls[-1] and "<<<SKETCH-" not in prove_calls[0]
    # The sketch is part of the run's identity; the informal run is stored too.
    assert proof.run_id != plain.theorems[0].run_id
    with Store.open(settings.store_path) as store:
        run = store.run(proof.sketch_run_id or "")
        assert run is not None and run.status == "done"
        problem = store.problem(run.problem_id)
        assert problem is not None
        assert "stated in Coq" in problem.text and "double_length" in problem.text
        stored = store.run(proof.run_id)
        assert stored is not None and stored.result is not None
        assert stored.result["sketch_run_id"] == proof.sketch_run_id
