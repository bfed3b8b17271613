"""`fansi export`: every format round-trips through `datasets`, counted against the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
import pytest
from click.testing import CliRunner

from fansi.cli import cli
from fansi.config import Settings
from fansi.engine.executed import split_steps
from fansi.errors import InputError
from fansi.learn.export import FORMATS, Filters, check_verdict, export, first_error, reply
from fansi.learn.labels import Label
from fansi.parse import parse_verdict
from fansi.records import Candidate, CheckResult
from fansi.store import Store

COLUMNS = {
    "sft": {"messages"},
    "dpo": {"prompt", "chosen", "rejected"},
    "verifier": {"prompt", "completion", "score"},
    "prm": {"prompt", "completions", "labels"},
    "grpo": {"prompt", "solution", "problem"},
}


def load(out: Path) -> Any:
    return datasets.load_from_disk(str(out / "dataset"))


@pytest.mark.parametrize("fmt", FORMATS)
async def test_each_format_round_trips(fmt: Any, labelled: list[Label], settings: Settings,
                                       tmp_path: Path) -> None:
    with Store.open(settings.store_path) as store:
        done = export(fmt, labelled, store, tmp_path / fmt, file_format="jsonl")
        flat = [json.loads(line) for line in (tmp_path / fmt / f"{fmt}.jsonl").open()]
    data = load(tmp_path / fmt)
    assert COLUMNS[fmt] <= set(data.column_names)
    assert len(data) == done.rows == len(flat)
    manifest = json.loads((tmp_path / fmt / "export.json").read_text())
    assert manifest["rows"] == done.rows and manifest["filters"]["sources"] == ["verifier",
                                                                                "check"]


async def test_rows_match_the_store(labelled: list[Label], settings: Settings,
                                    tmp_path: Path) -> None:
    assert [(x.label, x.source) for x in labelled] == [
        ("wrong", "verifier"), ("correct", "verifier"), ("wrong", "reference")]
    wrong, right, _ = labelled
    with Store.open(settings.store_path) as store:
        rows = {fmt: load(export(fmt, labelled, store, tmp_path / fmt).out) for fmt in FORMATS}
        written = {c.id: c for c in store.candidates(right.run_id)}
        label_tree = store.run_tree(right.label_run_id)
    assert label_tree is not None
    # sft: the verified candidate, as the writer's reply to the writer's prompt
    [sft] = rows["sft"]
    assert [m["role"] for m in sft["messages"]] == ["system", "user", "assistant"]
    assert sft["messages"][-1]["content"] == reply(written[right.candidate_id], "full")
    assert (sft["run_id"], sft["candidate_id"], sft["label_source"]) == (
        right.run_id, right.candidate_id, "verifier")
    # dpo: the refinement over the parent it revised
    [pair] = rows["dpo"]
    assert (pair["pair"], pair["chosen_candidate_id"], pair["rejected_candidate_id"]) == (
        "lineage", right.candidate_id, wrong.candidate_id)
    assert written[right.candidate_id].parents == (wrong.candidate_id,)
    assert pair["prompt"] == sft["messages"][:2]
    # verifier: both passing analyses of the right one, both confirmed failing
    # analyses of the wrong one, each a verdict the verifier wrote
    verdicts = rows["verifier"]
    assert len(verdicts) == len(label_tree.candidates[0].verifications) + wrong.confirmed
    assert sorted(verdicts["score"]) == [0.0, 0.0, 1.0, 1.0]
    assert all(parse_verdict(c[-1]["content"]).score == s
               for c, s in zip(verdicts["completion"], verdicts["score"], strict=True))
    # prm: the right one's steps all good; the wrong one up to its located error
    prm = {r["candidate_id"]: r for r in rows["prm"]}
    assert prm[right.candidate_id]["labels"] == [True, True]
    assert prm[wrong.candidate_id]["labels"] == [False]  # "step 1" is where the issue sits
    assert prm[wrong.candidate_id]["completions"] == [split_steps(
        written[wrong.candidate_id].solution)[0][1]]
    # grpo: the verified answer for the problem without a reference; the
    # problem whose only label comes from its reference is left out
    [grpo] = rows["grpo"]
    assert (grpo["solution"], grpo["solution_source"]) == ("4", "verifier")


async def test_filters_and_sources(labelled: list[Label], settings: Settings,
                                   tmp_path: Path) -> None:
    with Store.open(settings.store_path) as store:
        def rows(fmt: Any, **given: Any) -> int:
            out = tmp_path / f"{fmt}-{len(list(tmp_path.iterdir()))}"
            return export(fmt, labelled, store, out, filters=Filters(**given)).rows

        assert rows("grpo", sources=("verifier", "reference")) == 2
        assert rows("sft", runs=("nope",)) == 0
        assert rows("sft", tasks=("gsm8k",)) == 0
        assert rows("sft", models=("fake",)) == 1
        assert rows("sft", min_confidence=1.0) == 0
        assert rows("verifier", sources=("check",)) == 0
        # an empty export still has its columns
        empty = load(tmp_path / next(p.name for p in tmp_path.iterdir() if p.name.startswith(
            "sft-") and json.loads((p / "export.json").read_text())["rows"] == 0))
        assert "messages" in empty.column_names and len(empty) == 0


def test_a_check_verdict_is_a_verdict_the_parser_reads() -> None:
    check = CheckResult("x", "c", "arithmetic", "arithmetic", False, location="step 2",
                        detail="arithmetic error at step 2: 2 + 2 = 5",
                        counterexample="the left side is 4, not 5")
    found = parse_verdict(check_verdict([check]))
    assert found.score == 0 and found.issues[0].location == "step 2"
    assert found.issues[0].severity == "fatal"


def test_first_error_maps_locations_to_steps() -> None:
    steps = split_steps("Step 1: a\nStep 2: b\nStep 3: c")
    assert first_error(["in Step 3", "step 2, where it divides"], steps) == 1
    assert first_error(["the conclusion"], steps) is None
    assert first_error(["line 2"], split_steps("a\nb")) == 1


def test_reply_keeps_the_writers_own_self_evaluation() -> None:
    candidate = Candidate("c", "It is 4.", "Checked.\nSelf-score: 1", 1.0, "4")
    assert reply(candidate, "full") == "## Solution\nIt is 4.\n\n## Self-evaluation\n" \
                                       "Checked.\nSelf-score: 1"
    assert reply(candidate, "plain") == "It is 4."


async def test_the_export_command(labelled: list[Label], fansi_home: Path,
                                  tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(cli, ["export", "--format", "sft", "--out", str(tmp_path / "sft")])
    assert done.exit_code == 0, done.output
    assert "wrote 1 sft row(s)" in done.output and "verifier 1" in done.output
    missing = runner.invoke(cli, ["export", "--format", "sft", "--out", str(tmp_path / "x"),
                                  "--labels", str(tmp_path / "none.jsonl")])
    assert missing.exit_code == 2 and "fansi label" in missing.output


async def test_a_label_without_its_records_is_refused(labelled: list[Label], tmp_path: Path
                                                      ) -> None:
    with Store.open(tmp_path / "other.db") as empty, pytest.raises(InputError):
        export("sft", labelled, empty, tmp_path / "out")
