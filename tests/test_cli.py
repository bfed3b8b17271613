from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fansi import models as models_module
from fansi.cli import cli
from fansi.models import TINY


def run(*args: str, input: str | bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def test_help_is_light() -> None:
    code = (
        "import sys; from fansi.cli import main; sys.argv=['fansi','--help']\n"
        "try: main()\nexcept SystemExit: pass\n"
        "mods = ('llama_cpp', 'httpx', 'fansi.backends', 'pydantic')\n"
        "heavy = [m for m in mods if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "solve" in out.stdout and "models" in out.stdout
    assert "HEAVY []" in out.stdout


def test_console_script_exists() -> None:
    exe = Path(sys.executable).with_name("fansi")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert "version" in out.stdout


def test_models_json_lists_packaged_models(fansi_home: Path) -> None:
    code, out, _ = run("models", "--json")
    assert code == 0
    rows = {r["spec"]: r for r in json.loads(out)}
    assert set(rows) == {"embedded", "tiny"}
    assert rows["tiny"]["installed"] is True
    assert rows["tiny"]["checksum"] == "absent"


def test_models_prepare_then_verified(fansi_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models_module, "PACKAGED", {"tiny": TINY})
    code, _, err = run("models", "--prepare")
    assert code == 0, err
    code, out, _ = run("models", "--json")
    row = json.loads(out)[0]
    assert row["checksum"] == "verified"
    assert row["size"] == TINY.size


def test_solve_on_fake_prints_text_and_json() -> None:
    code, out, _ = run("solve", "--model", "fake", "What is 1+1?")
    assert code == 0
    assert "What is 1+1?" in out  # the echo model repeats its prompt
    # The echo repeats the prompt's fence markers and its "Self-score" line: text
    # addressed to the grader, so a failed manipulation check, never a pass.
    assert "verdict: FAIL" in out
    assert "executed check manipulation: FAILED" in out
    code, out, _ = run("solve", "--model", "fake", "--json", "-q", "What is 1+1?")
    data = json.loads(out)
    assert data["verdict"] == "fail"
    assert [c["kind"] for c in data["checks"] if not c["passed"]] == ["manipulation"]
    assert data["best"]["solution"]
    assert data["usage"]["completion_tokens"] > 0
    assert data["calibrated"] is False


def test_solve_reads_stdin_and_files(tmp_path: Path) -> None:
    code, out, _ = run("solve", "--model", "fake", "-f", "-", input="from stdin")
    assert code == 0 and "from stdin" in out
    (tmp_path / "p.txt").write_text("from a file")
    code, out, _ = run("solve", "--model", "fake", "-f", str(tmp_path / "p.txt"))
    assert code == 0 and "from a file" in out


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["solve", "--model", "nope", "x"], None, "unknown model spec"),
        (["solve", "--model", "fake", "   "], None, "problem is empty"),
        (["solve", "--model", "fake", "-f", "-"], b"caf\xe9 \xff", "not UTF-8"),
        (["solve", "--model", "gguf:/no/such.gguf", "x"], None, "no GGUF file"),
    ],
)
def test_bad_input_is_one_line_and_a_hint(
    args: list[str], stdin: bytes | None, message: str
) -> None:
    code, out, err = run(*args, input=stdin)
    assert code == 2
    assert message in err
    assert "hint:" in err
    assert "Traceback" not in err + out


def test_huge_problem_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANSI_MAX_PROBLEM_CHARS", "100")
    code, _, err = run("solve", "--model", "fake", "x" * 101)
    assert code == 2 and "over the limit of 100" in err


def test_missing_model_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    ghost = dataclasses.replace(TINY, distributions=("fansi-ghost-part",))
    monkeypatch.setitem(models_module.PACKAGED, "tiny", ghost)
    code, _, err = run("solve", "--model", "tiny", "x")
    assert code == 1
    assert "not installed" in err and "fansi-ghost-part" in err
    assert "scripts/setup.sh" in err


def test_corrupted_model_file_is_refused(fansi_home: Path) -> None:
    models = fansi_home / "models"
    models.mkdir()
    (models / TINY.filename).write_bytes(b"GGUF" + os.urandom(1000))
    code, _, err = run("solve", "--model", "tiny", "x")
    assert code == 1
    assert "checksum mismatch" in err
    assert "Traceback" not in err


@pytest.mark.server
def test_unreachable_server_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANSI_RETRIES", "0")
    code, _, err = run("solve", "--model", "openai:m@http://127.0.0.1:9/v1", "x")
    assert code == 1
    assert "127.0.0.1:9" in err
    assert "Traceback" not in err


@pytest.mark.embedded
def test_solve_smoke_on_embedded_model(model_home: Path) -> None:
    code, out, err = run("solve", "--json", "--effort", "low", "-n", "1", "-k", "1",
                         "--max-tokens", "48", "--verify-tokens", "48", "What is 2+3?")
    assert code == 0, err
    data = json.loads(out)
    assert isinstance(data["best"]["solution"], str) and data["best"]["solution"]
    # k=1: the verdict is the one verification's, and unknown is never a pass.
    (only,) = data["verifications"]
    expected = {1.0: "pass", 0.5: "fail", 0.0: "fail", None: "unknown"}[only["score"]]
    assert data["verdict"] == (expected if only["weight"] > 0 else "unknown")
    assert data["calibrated"] is False and data["raw_confidence"] is None
    assert data["candidates"] == 1
