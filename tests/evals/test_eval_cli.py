"""`fansi eval` from the command line: the `fake` spec, compare, and SmolLM2 for plumbing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fansi.cli import cli

SHARED = Path(__file__).parents[2].parent / "shared" / "data"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def read_rows(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_gsm8k_on_the_fake_spec(tmp_path: Path, answers_file: Path) -> None:
    out = tmp_path / "gsm8k"
    code, stdout, stderr = run("eval", "gsm8k", "--model", "fake", "--data", str(answers_file),
                               "--out", str(out))
    assert code == 0, stderr
    assert f"wrote {out / 'report.md'}" in stdout
    assert "| method | accuracy | 95% CI (Wilson) |" in stdout
    assert "[3/3]" in stderr and "ETA" in stderr
    rows = read_rows(out)
    assert len(rows) == 3
    for column in ("single_correct", "vote_correct", "fansi_correct", "fansi_tokens",
                   "vote_tokens", "single_tokens", "prompt_tokens", "completion_tokens",
                   "calls", "wall_s", "peak_rss_mb", "vote_curve", "scaling"):
        assert all(column in row for row in rows), column
    assert all(row["fansi_correct"] is False for row in rows)  # an echo answers nothing
    report = (out / "report.md").read_text()
    assert "| model | `fake` |" in report and "| fansi | " in report
    assert "### Test-time scaling" in report
    for name in ("scaling.png", "reliability.png", "summary.json", "eval.json"):
        assert (out / name).is_file(), name

    code, _, stderr = run("eval", "gsm8k", "--model", "fake", "--data", str(answers_file),
                          "--out", str(out))
    assert code == 0 and "3 already done" in stderr and "[1/3]" not in stderr


def test_report_only_reports_the_items_done_and_calls_nothing(tmp_path: Path,
                                                            answers_file: Path) -> None:
    out = tmp_path / "partial"
    base = ["eval", "gsm8k", "--model", "fake", "--data", str(answers_file), "--out", str(out)]
    code, _, err = run(*base, "--report-only")
    assert code == 2 and "holds no eval" in err and not out.exists()
    code, _, err = run(*base, "--limit", "3", "-q")
    assert code == 0, err
    results = out / "results.jsonl"
    kept = results.read_text().splitlines()
    results.write_text("\n".join(kept[:2]) + "\n")  # as if the run had been stopped
    (out / "report.md").unlink()
    code, stdout, err = run(*base, "--limit", "3", "--report-only")
    assert code == 0, err
    assert "2 already done" in err and "reporting on those only" in err and "[" not in err
    assert "wrote" in stdout
    assert len(read_rows(out)) == 2  # nothing ran
    summary = json.loads((out / "summary.json").read_text())
    assert summary["items"] == 2
    assert "| partial | only 2 of the 3 items planned are done (--report-only) |" in (
        out / "report.md").read_text()


def test_processbench_on_the_fake_spec(tmp_path: Path, steps_file: Path) -> None:
    out = tmp_path / "pb"
    code, _, stderr = run("eval", "processbench", "--model", "fake", "--data", str(steps_file),
                          "-k", "1", "--limit", "2", "--out", str(out), "-q")
    assert code == 0, stderr
    assert stderr == ""  # quiet
    rows = read_rows(out)
    assert sorted(str(r["stratum"]) for r in rows) == ["correct", "wrong"]  # stratified
    for column in ("wrong", "first_wrong_step", "single_verdict", "fansi_verdict",
                   "single_located", "fansi_step", "fansi_confidence", "fansi_tokens"):
        assert all(column in row for row in rows), column
    assert all(r["fansi_verdict"] == "unknown" for r in rows)  # an echo is no verdict
    report = (out / "report.md").read_text()
    assert "### Flagging wrong solutions" in report and "false-pass rate" in report
    assert (out / "confusion.png").is_file() and (out / "reliability.png").is_file()


def test_compare_two_evals(tmp_path: Path, answers_file: Path) -> None:
    for name, k in (("a", "1"), ("b", "2")):
        code, _, err = run("eval", "gsm8k", "--model", "fake", "--data", str(answers_file),
                           "-k", k, "--out", str(tmp_path / name), "-q",
                           "--no-save-calibration")
        assert code == 0, err
    code, out, err = run("eval", "compare", str(tmp_path / "a"), str(tmp_path / "b"),
                         "--out", str(tmp_path / "cmp.md"))
    assert code == 0, err
    assert "| k | 1 | 2 |" in out
    assert "| fansi.accuracy | 0 | 0 | +0 |" in out
    assert "fansi.tokens" in out and "cost.calls" in out
    assert (tmp_path / "cmp.md").read_text() == out
    assert not (tmp_path / "home" / "calibration").exists()


def test_compare_needs_eval_folders(tmp_path: Path) -> None:
    code, _, err = run("eval", "compare", str(tmp_path), str(tmp_path))
    assert code == 2 and "summary.json" in err


def test_bad_options_are_usage_errors(tmp_path: Path, answers_file: Path) -> None:
    code, _, err = run("eval", "gsm8k", "--model", "fake", "--data", str(answers_file),
                       "--schedules", "adaptive,eager")
    assert code == 2 and "eager" in err
    code, _, err = run("eval", "gsm8k", "--model", "fake", "--data", str(answers_file),
                       "--scale-n", "1,two")
    assert code == 2 and "comma-separated" in err


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the shared data folder {SHARED} is not here")
def test_default_data_and_proofbench_subset_on_the_fake_spec(tmp_path: Path) -> None:
    out = tmp_path / "proofs"
    code, _, err = run("eval", "imo-proofbench", "--model", "fake", "--subset", "basic",
                       "--limit", "2", "--out", str(out), "-q")
    assert code == 0, err
    rows = read_rows(out)
    assert len(rows) == 2 and all(str(r["id"]).startswith("PB-Basic") for r in rows)
    assert all(r["grade"] is None for r in rows)  # an echo is no grade
    assert len(list((out / "proofs").glob("*.md"))) == 2


@pytest.mark.tiny
def test_gsm8k_on_smollm2(tmp_path: Path, model_home: Path, answers_file: Path) -> None:
    data = SHARED / "gsm8k" / "test_dev.jsonl"
    out = tmp_path / "tiny"
    args = ["eval", "gsm8k", "--model", "tiny", "--limit", "3", "-n", "1", "-k", "1",
            "--max-tokens", "32", "--verify-tokens", "32", "--threads", "2",
            "--data", str(data if data.is_file() else answers_file), "--out", str(out)]
    code, _, err = run(*args)
    assert code == 0, err
    rows = read_rows(out)
    assert len(rows) == 3
    for r in rows:
        # A candidate and a verdict, unless an executed check refuted the candidate first.
        calls = int(str(r["fresh_calls"]))
        assert calls >= 2 or (calls == 1 and r["fansi_verdict"] == "fail"), r
    assert all(int(str(r["completion_tokens"])) > 0 for r in rows)
    assert all(r["vote_n"] == 1 and r["single_tokens"] == r["vote_tokens"] for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["checksum"] == (
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")
    assert (out / "report.md").is_file() and (out / "scaling.png").is_file()
    code, _, err = run(*args)
    assert code == 0 and "3 already done" in err
