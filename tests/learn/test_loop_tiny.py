"""The loop closed on SmolLM2-135M on CPU: solve -> label -> export -> train ->
GGUF -> solve with the new model. Plumbing only; the model writes nonsense."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from fansi import api
from fansi.cli import cli
from fansi.config import load_settings
from fansi.learn.labelling import label_targets, labels_path, solution_targets, stored_targets
from fansi.learn.labels import LabelRule, write_labels
from fansi.learn.train import Recipe, train
from fansi.records import Problem
from fansi.store import Store

pytestmark = [pytest.mark.learn, pytest.mark.tiny]

SMALL = {"model": "tiny", "max_tokens": 32, "verify_tokens": 48, "meta_tokens": 48,
         "threads": 2, "n": 1, "k": 1, "rounds": 1, "checks": "deterministic"}
#: Given solutions with their reference answers: labelled by the tiny verifier
#: and the reference, so that the batch is sure to hold a verified solution.
GIVEN = [
    {"problem": "What is 3 + 4?", "solution": "3 + 4 = 7, so the answer is \\boxed{7}.",
     "answer": "7", "id": "add"},
    {"problem": "What is 5 * 6?", "solution": "5 * 6 = 30, so the answer is \\boxed{30}.",
     "answer": "30", "id": "mul"},
]


def test_the_loop_closes_on_tiny(model_home: Path, converter: Path, tmp_path: Path) -> None:
    settings = load_settings(SMALL)
    # 1. a tiny batch is solved and labelled
    totals = asyncio.run(api.asolve_many([Problem("What is 2 + 2?", "4", "two")], settings))
    assert totals["problems"] == 1
    given = tmp_path / "given.jsonl"
    given.write_text("".join(json.dumps(row) + "\n" for row in GIVEN))
    rule = LabelRule(n=1, k=1)
    with Store.open(settings.store_path) as store:
        targets = stored_targets(store) + solution_targets(given, max_chars=1000)
        labels = asyncio.run(label_targets(targets, settings, rule, store=store))
    assert len(labels) == 3 and all(x.label_run_id for x in labels)
    write_labels(labels_path(settings), labels)

    runner = CliRunner()
    done = runner.invoke(cli, ["export", "--format", "sft", "--out", str(tmp_path / "sft"),
                               "--source", "verifier", "--source", "check",
                               "--source", "reference", "--prompt", "plain"])
    assert done.exit_code == 0, done.output
    rows = json.loads((tmp_path / "sft" / "export.json").read_text())["rows"]
    assert rows >= 1, f"no verified solution to train on: {[x.reason for x in labels]}"

    # 2. a few SFT steps; the loss goes down on a batch it was trained on
    trained = train(tmp_path / "sft", tmp_path / "round1", settings,
                    Recipe(steps=2, learning_rate=2e-4, batch_size=2, max_length=512),
                    model="tiny", converter=converter)
    assert trained.loss_before is not None and trained.loss_after is not None
    assert math.isfinite(trained.loss_before)
    assert trained.loss_after < trained.loss_before
    assert trained.weights_changed
    # 3. saved and converted to GGUF
    assert (trained.checkpoint / "model.safetensors").is_file()
    assert trained.gguf is not None and trained.gguf.stat().st_size > 1_000_000

    # 4. it loads back through gguf: and `fansi solve` runs with it
    solved = runner.invoke(cli, ["solve", "What is 3 + 4?", "--model", f"gguf:{trained.gguf}",
                                 "-n", "1", "-k", "1", "--rounds", "1", "--max-tokens", "16",
                                 "--verify-tokens", "32", "--threads", "2", "--checks", "none",
                                 "--json", "-q"])
    assert solved.exit_code == 0, solved.output
    result = json.loads(solved.output)
    assert result["best"] is not None and result["total_tokens"] > 0
    with Store.open(settings.store_path) as store:
        run = store.run(result["run_id"])
    assert run is not None and run.model == f"gguf:{trained.gguf}"
