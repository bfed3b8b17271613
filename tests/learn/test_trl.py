"""Each exported format, as it is, in the matching TRL trainer: one step on SmolLM2-135M.

Plumbing only: the loss is finite and the weights move, nothing about maths.
TRL 1.x has no process-reward trainer, so the prm rows are checked against
its stepwise-supervision convention instead.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest

from fansi.backends.fake import FakeBackend
from fansi.config import Settings
from fansi.learn.export import export
from fansi.learn.labels import Label
from fansi.learn.rewards import VerifiedReward, answer_reward
from fansi.learn.train import Recipe, fit, load_model, load_rows
from fansi.store import Store

pytestmark = pytest.mark.learn


@pytest.fixture(scope="module")
def tiny(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """The tiny model, loaded once from its GGUF file, dequantized."""
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    return load_model(f"gguf:{tiny_gguf}", settings)


def exported(fmt: Any, labelled: list[Label], settings: Settings, out: Path) -> Any:
    # The plain writer prompt is a third of the full one's length: shorter steps.
    with Store.open(settings.store_path) as store:
        export(fmt, labelled, store, out, prompt="plain")
    return out


def one_step(method: Any, tiny: tuple[Any, Any], data: Path, out: Path,
             rewards: tuple[Any, ...] = (), **recipe: Any) -> Any:
    model, tokenizer = tiny
    rows = load_rows(data, method)
    return fit(Recipe(method=method, steps=1, batch_size=2, max_length=512, **recipe),
               copy.deepcopy(model), tokenizer, rows, out, rewards)


def test_sft_rows_train(tiny: tuple[Any, Any], labelled: list[Label], settings: Settings,
                        tmp_path: Path) -> None:
    done = one_step("sft", tiny, exported("sft", labelled, settings, tmp_path / "sft"),
                    tmp_path / "out")
    assert done.loss_before is not None and math.isfinite(done.loss_before)
    assert done.weights_changed
    assert (done.checkpoint / "config.json").is_file()


def test_verifier_rows_train_as_prompt_completion(tiny: tuple[Any, Any], labelled: list[Label],
                                                  settings: Settings, tmp_path: Path) -> None:
    from datasets import load_from_disk

    data = exported("verifier", labelled, settings, tmp_path / "verifier")
    rows = load_from_disk(str(data / "dataset")).select_columns(["prompt", "completion"])
    model, tokenizer = tiny
    from trl.trainer.sft_config import SFTConfig
    from trl.trainer.sft_trainer import SFTTrainer

    trainer = SFTTrainer(model=copy.deepcopy(model), processing_class=tokenizer,
                         train_dataset=rows,
                         args=SFTConfig(output_dir=str(tmp_path / "t"), max_steps=1,
                                        per_device_train_batch_size=2, max_length=1024,
                                        report_to="none", save_strategy="no", bf16=False,
                                        gradient_checkpointing=False, use_cpu=True))
    # only the verdict is learned: the prompt's tokens are masked out of the loss
    first = trainer.train_dataset[0]
    learned = [t for t in first["labels"] if t != -100]
    assert 0 < len(learned) < len(first["input_ids"])
    assert math.isfinite(trainer.train().training_loss)


def test_dpo_rows_train(tiny: tuple[Any, Any], labelled: list[Label], settings: Settings,
                        tmp_path: Path) -> None:
    done = one_step("dpo", tiny, exported("dpo", labelled, settings, tmp_path / "dpo"),
                    tmp_path / "out")
    assert done.loss_before is not None and math.isfinite(done.loss_before)
    assert math.isclose(done.loss_before, math.log(2), rel_tol=1e-3)  # policy == reference
    assert done.weights_changed


def test_grpo_rows_train_with_fansi_rewards(tiny: tuple[Any, Any], labelled: list[Label],
                                            settings: Settings, verifier: Any,
                                            tmp_path: Path) -> None:
    model = verifier()
    verified = VerifiedReward(backend=FakeBackend(model), settings=settings, k=1,
                              checks="none")
    data = exported("grpo", labelled, settings, tmp_path / "grpo")
    done = one_step("grpo", tiny, data, tmp_path / "out", (answer_reward, verified),
                    max_completion_length=8)
    assert done.train_loss is not None and math.isfinite(done.train_loss)
    assert model.count("verify") >= 1  # the verified reward graded the completions


def test_prm_rows_follow_trls_stepwise_convention(labelled: list[Label], settings: Settings,
                                                  tmp_path: Path) -> None:
    from datasets import load_from_disk
    from trl.data_utils import is_conversational

    data = load_from_disk(str(exported("prm", labelled, settings, tmp_path / "prm") / "dataset"))
    assert len(data) == 2
    for row in data:
        assert isinstance(row["prompt"], str) and not is_conversational(row)
        assert len(row["completions"]) == len(row["labels"]) > 0
        assert all(isinstance(label, bool) for label in row["labels"])
