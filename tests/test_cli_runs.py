"""The store-facing commands: verify, run (batch, resumable), runs, show."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fansi.cli import cli

from killing import kill_after


def run(*args: str, input: str | bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_verify_on_fake_prints_a_verdict(tmp_path: Path) -> None:
    (tmp_path / "proof.md").write_text("Trivially true. \\boxed{4}")
    code, out, err = run("verify", "--model", "fake", "-p", "What is 2+2?",
                         "-s", str(tmp_path / "proof.md"), "-k", "2", "-q")
    assert code == 0, err
    assert "verdict: UNKNOWN" in out  # an echo is no verdict
    assert "2 verification(s)" in out


def test_verify_refuses_an_empty_solution(tmp_path: Path) -> None:
    (tmp_path / "empty.md").write_text("  \n")
    code, _, err = run("verify", "--model", "fake", "-p", "x", "-s", str(tmp_path / "empty.md"))
    assert code == 2 and "solution is empty" in err


def test_run_then_runs_then_show(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "p.jsonl", [
        {"id": "a", "question": "What is 1+1?", "answer": "#### 2"},
        {"id": "b", "problem": "What is 2+2?"},
    ])
    code, out, err = run("run", str(data), "--model", "fake", "--json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert sorted(line["id"] for line in lines) == ["a", "b"]
    by_id = {line["id"]: line for line in lines}
    assert by_id["a"]["reference"] == "2"
    # the echo repeats the prompt: whatever it boxes, it is not the reference 2
    assert by_id["a"]["correct"] is not True
    assert by_id["b"]["correct"] is None
    assert "2 problem(s)" in err

    # Again: both are found done and nothing is recomputed.
    code, out, _ = run("run", str(data), "--model", "fake", "--json")
    assert all(json.loads(line)["skipped"] for line in out.splitlines())

    code, out, _ = run("runs")
    assert code == 0
    run_id = by_id["a"]["run_id"]
    assert run_id in out and "done" in out

    code, out, _ = run("show", run_id)
    assert code == 0
    assert "What is 1+1?" in out
    assert f"{run_id}-r0c0" in out
    code, out, _ = run("show", run_id, "--json")
    tree = json.loads(out)
    assert tree["run"]["id"] == run_id
    assert len(tree["candidates"]) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"question": "ok"}\nnot json\n', "p.jsonl:2 is not JSON"),
        (b'{"question": "ok"}\n[1, 2]\n', "p.jsonl:2 must be a JSON object"),
        (b'{"q": "where is the text"}\n', "p.jsonl:1 has no problem text"),
        (b'{"question": "   "}\n', "p.jsonl:1: the problem is empty"),
        (b"\n\n", "holds no problems"),
        (b'{"question": "caf\xe9"}\n', "not UTF-8"),
    ],
)
def test_bad_jsonl_stops_before_anything_is_stored(
    tmp_path: Path, fansi_home: Path, content: bytes, message: str
) -> None:
    (tmp_path / "p.jsonl").write_bytes(content)
    code, _, err = run("run", str(tmp_path / "p.jsonl"), "--model", "fake")
    assert code == 2
    assert message in err
    assert not (fansi_home / "fansi.db").exists()


def test_show_unknown_run() -> None:
    code, _, err = run("show", "nope")
    assert code == 2 and "no run 'nope'" in err


@pytest.mark.tiny
@pytest.mark.subprocess
def test_run_killed_with_sigkill_resumes_without_repeating_calls(
    tmp_path: Path, fansi_home: Path, model_home: Path
) -> None:
    """`fansi run` on SmolLM2, killed mid-batch and started again."""
    data = write_jsonl(tmp_path / "p.jsonl", [
        {"id": str(i), "question": f"What is {i} plus {i}?"} for i in range(3)
    ])
    fansi = str(Path(sys.executable).with_name("fansi"))
    args = [fansi, "run", str(data), "--model", "tiny", "--json", "-n", "1", "-k", "1",
            "--max-tokens", "24", "--verify-tokens", "24", "--threads", "2"]
    env = dict(os.environ)
    child = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = fansi_home / "fansi.db"
    kill_after(child, db, calls=3, seconds=120)
    with sqlite3.connect(db) as conn:
        before = conn.execute("SELECT count(*) FROM calls WHERE cache_key IS NOT NULL"
                              ).fetchone()[0]
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, check=True)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted(line["id"] for line in lines) == ["0", "1", "2"]
    fresh = sum(line["calls"] - line["cached_calls"] for line in lines if not line["skipped"])
    cached = sum(line["cached_calls"] for line in lines if not line["skipped"])
    with sqlite3.connect(db) as conn:
        after = conn.execute("SELECT count(*) FROM calls WHERE cache_key IS NOT NULL"
                             ).fetchone()[0]
        statuses = {row[0] for row in conn.execute("SELECT status FROM runs")}
    assert statuses == {"done"}
    # Nothing lost: the killed run's calls were replayed from the cache ...
    assert cached + sum(line["calls"] for line in lines if line["skipped"]) >= before
    # ... and nothing repeated: every fresh call added exactly one new row.
    assert after == before + fresh
