"""`fansi prove`: progress, --json, --out, exit codes, errors, and `fansi show` of a formal run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fansi.backends.fake import FakeBackend
from fansi.cli import cli
from fansi.formal import Coq, find_coq

CONTEXT = "Require Import List.\nImport ListNotations.\nRequire Import Arith.\n\n"
EASY = "Theorem add_comm_easy : forall a b : nat, a + b = b + a.\nProof.\nAdmitted.\n\n"
LISTS = ("Theorem double_length : forall l : list nat, length (l ++ l) = 2 * length l.\n"
         "Proof.\nAdmitted.\n")
WRONG = "Here is my proof:\n```coq\nintros l.\nsimpl.\nreflexivity.\n```\n"
RIGHT = "Fixed:\n```coq\nintros l.\nrewrite app_length.\nlia.\n```"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def scripted(monkeypatch: pytest.MonkeyPatch, backend: FakeBackend) -> None:
    """Make the command's model this scripted backend."""
    monkeypatch.setattr("fansi.api.create_backend", lambda spec, settings: backend)


@pytest.mark.formal
def test_prove_shows_progress_writes_the_file_and_the_runs_show_the_attempts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, coq: Coq
) -> None:
    source = tmp_path / "two.v"
    source.write_text(CONTEXT + EASY + LISTS, encoding="utf-8")
    backend = FakeBackend([WRONG, RIGHT])
    scripted(monkeypatch, backend)
    out = tmp_path / "proved.v"
    code, stdout, stderr = run("prove", str(source), "--out", str(out))
    assert code == 0, stderr
    assert "✓ add_comm_easy proved by the portfolio (lia)" in stdout
    assert "✓ double_length proved by the model (attempt 1, repair 1)" in stdout
    assert "2 of 2 theorem(s) proved" in stdout
    assert "add_comm_easy: portfolio: proved by lia" in stderr
    assert "double_length: attempt 1 repair 0: compile — " in stderr
    assert "double_length: attempt 1 repair 1: accepted" in stderr
    assert "rewrite app_length" in out.read_text(encoding="utf-8")
    assert len(backend.calls) == 2

    # Again, as JSON: the same runs, replayed from the cache.
    again = FakeBackend(["never asked"])
    scripted(monkeypatch, again)
    code, stdout, _ = run("prove", str(source), "--json", "--quiet")
    assert code == 0 and again.calls == []
    data = json.loads(stdout)
    assert data["proved"] is True and data["path"] == str(source)
    easy, lists = data["theorems"]
    assert (easy["source"], easy["tactic"], easy["calls"]) == ("portfolio", "lia", 0)
    assert [a["stage"] for a in lists["attempt_log"]] == ["compile", "accepted"]
    assert "reflexivity" in lists["attempt_log"][0]["message"]
    assert "rewrite app_length" in data["file_text"]

    code, stdout, _ = run("show", lists["run_id"])
    assert code == 0
    assert f"{lists['run_id']}-a0r0" in stdout and f"{lists['run_id']}-a0r1" in stdout
    assert "check coq (formal): FAILED — compile" in stdout
    assert "check coq (formal): passed — accepted" in stdout
    message = lists["attempt_log"][0]["message"]
    assert f"counterexample: {message[:60]}" in stdout
    code, stdout, _ = run("runs")
    assert lists["run_id"] in stdout and easy["run_id"] in stdout


@pytest.mark.formal
def test_a_theorem_left_unproved_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, coq: Coq
) -> None:
    source = tmp_path / "lists.v"
    source.write_text(CONTEXT + LISTS, encoding="utf-8")
    scripted(monkeypatch, FakeBackend(["I do not know."]))
    code, stdout, stderr = run("prove", str(source), "--budget-calls", "1")
    assert code == 1
    assert "✗ double_length: no proof found (the budget ran out; 1 model attempt(s)" in stdout
    assert "0 of 1 theorem(s) proved" in stdout
    assert "attempt 1 repair 0: extract — no proof script was found" in stderr


def test_no_coq_is_one_error_line_with_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "lists.v"
    source.write_text(CONTEXT + LISTS, encoding="utf-8")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    find_coq.cache_clear()
    try:
        code, stdout, stderr = run("prove", str(source))
    finally:
        find_coq.cache_clear()
    assert code == 2 and stdout == ""
    [error] = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert "coqc was not found" in error and "bash scripts/install-coq.sh" in error


def test_a_malformed_file_is_an_input_error_with_its_line(tmp_path: Path) -> None:
    source = tmp_path / "bad.v"
    source.write_text("Require Import Arith.\n\nTheorem t : 1 = 1.\n(* oops\n", encoding="utf-8")
    code, _, stderr = run("prove", str(source))
    assert code == 2
    assert f"error: {source}: unterminated comment at line 4, column 1" in stderr


def test_help_names_the_exit_codes() -> None:
    code, stdout, _ = run("prove", "--help")
    assert code == 0
    assert "0 when every theorem was proved, 1 when some were not" in " ".join(stdout.split())
    code, stdout, _ = run("--help")
    assert "prove" in stdout


@pytest.mark.formal
def test_solve_formal_solves_informally_then_proves_with_the_sketch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, coq: Coq
) -> None:
    from scripted_model import Model

    informal = Model(solutions=["GOOD: by app_length the length doubles."])

    def model(messages, params):  # type: ignore[no-untyped-def]
        text = "\n".join(m.content for m in messages)
        if "<<<THEOREM-" not in text:
            return informal(messages, params)
        return RIGHT if "<<<SKETCH-" in text else WRONG

    source = tmp_path / "lists.v"
    source.write_text(CONTEXT + LISTS, encoding="utf-8")
    scripted(monkeypatch, FakeBackend(model))
    code, stdout, stderr = run("solve", "--formal", str(source), "-n", "1", "--json")
    assert code == 0, stderr
    (theorem,) = json.loads(stdout)["theorems"]
    assert theorem["found"] and theorem["source"] == "model"
    assert theorem["sketch_run_id"] and informal.count("generate") >= 1
    assert "solving" in stderr and "informally, then formally" in stderr
    code, _, stderr = run("solve", "--formal", str(source), "some text")
    assert code == 2 and "--formal takes no problem text" in stderr
