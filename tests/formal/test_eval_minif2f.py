"""`fansi eval minif2f`: the portfolio alone, what the model adds, and the attempt budgets,
on a folder of .v files, the scripted backend and the real Coq."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fansi.backends.fake import FakeBackend
from fansi.cli import cli
from fansi.config import load_settings
from fansi.evals.data import load_formal
from fansi.evals.harness import run_eval
from fansi.evals.runner import EvalOptions
from fansi.formal import Coq
from fansi.records import GenerateParams, Message

LISTS = ("Require Import List.\nImport ListNotations.\nRequire Import Arith.\n\n"
         "Theorem double_length : forall l : list nat, length (l ++ l) = 2 * length l.\n"
         "Proof.\n")
FILES = {
    "easy_1": "Theorem easy_1 : forall a b : nat, a + b = b + a.\nProof.\n",
    "lists_1": LISTS,
    "wrong_1": "Theorem wrong_1 : forall n : nat, n + 1 = n.\nProof.\n",
    "easy_2": "Require Import Arith.\n\nTheorem easy_2 : 2 + 2 = 4.\nProof.\n",
}
WRONG = "```coq\nintros l.\nsimpl.\nreflexivity.\n```"
RIGHT = "```coq\nintros l.\nrewrite app_length.\nlia.\n```"


def folder(tmp_path: Path, names: Sequence[str]) -> Path:
    data = tmp_path / "valid"
    data.mkdir()
    for name in names:
        (data / f"{name}.v").write_text(FILES[name], encoding="utf-8")
    return data


def rows(out: Path) -> dict[str, dict[str, Any]]:
    found = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {row["id"]: row for row in found}


def repairs_right(messages: Sequence[Message], params: GenerateParams) -> str:
    """A model whose fresh attempts fail and whose repairs are the right list proof."""
    return RIGHT if len(messages) > 2 else WRONG


def test_the_loader_reads_a_folder_of_statements(tmp_path: Path) -> None:
    items = load_formal(folder(tmp_path, ["easy_1", "lists_1"]))
    assert [(i.id, i.stratum, i.theorem.name) for i in items] == [
        ("easy_1", "easy", "easy_1"), ("lists_1", "lists", "double_length")]


@pytest.mark.formal
async def test_portfolio_model_and_budgets_on_three_theorems(
    tmp_path: Path, fansi_home: Path, coq: Coq
) -> None:
    data = folder(tmp_path, ["easy_1", "lists_1", "wrong_1"])
    out = tmp_path / "out"
    settings = load_settings({"k": 1, "budget_calls": 2})
    model = FakeBackend(repairs_right)
    summary = await run_eval(EvalOptions("minif2f", out, data=data), settings, backend=model)
    by_id = rows(out)
    assert sorted(by_id) == ["easy_1", "lists_1", "wrong_1"]
    easy, lists, wrong = by_id["easy_1"], by_id["lists_1"], by_id["wrong_1"]
    assert easy["portfolio_proved"] and easy["tokens"] == 0 and easy["portfolio_tactic"]
    assert not lists["portfolio_proved"] and lists["model_proved"]
    assert (lists["model_attempt"], lists["model_repair"]) == (0, 1)
    assert [b["proved"] for b in lists["budgets"]] == [True, True, True]
    assert lists["budgets"][0]["tokens"] == lists["tokens"] > 0
    assert not wrong["proved"] and wrong["stopped"] == "budget" and wrong["calls"] == 2
    assert summary.metrics["portfolio.proved"] == pytest.approx(1 / 3)
    for size in (1, 2, 4):
        assert summary.metrics[f"budget.{size}.proved"] == pytest.approx(2 / 3)
        assert summary.metrics[f"budget.{size}.model_added"] == 1
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| portfolio alone | 33.3% (1/3) |" in report
    assert "| portfolio + model, 4 attempt(s) | 66.7% (2/3) |" in report
    assert "| attempt budgets | 1, 2, 4 |" in report
    assert (out / "proved.png").is_file() and (out / "summary.json").is_file()

    # Run again: every row is reused, no model call is made.
    again = FakeBackend(["never asked"])
    await run_eval(EvalOptions("minif2f", out, data=data), settings, backend=again)
    assert again.calls == []


@pytest.mark.formal
def test_the_command_writes_a_report_with_the_limited_rows(tmp_path: Path, coq: Coq) -> None:
    data = folder(tmp_path, list(FILES))
    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["eval", "minif2f", "--data", str(data), "--limit", "3",
                                      "--model", "fake", "-k", "1", "--budget-calls", "1",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    chosen = rows(out)
    assert len(chosen) == 3
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| items | 3 of 4 " in report
    per_theorem = report.split("### Per theorem")[1].split("\n\n")[1]
    assert sum(f"| {name} |" in per_theorem for name in chosen) == 3
    assert "[3/3]" in result.stderr
