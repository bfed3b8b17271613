"""``fansi learn sft|dpo|grpo``: train with TRL on an exported dataset, write GGUF back.

The model is a local one: ``embedded``, ``tiny``, ``gguf:PATH`` (loaded from
its GGUF file through transformers' GGUF support, dequantized, so nothing is
downloaded) or a ``save_pretrained`` folder from an earlier round. After
training, the checkpoint is saved and, unless asked not to, converted to GGUF
by llama.cpp's converter (:mod:`fansi.learn.convert`), so that
``fansi solve --model gguf:OUT/model.gguf`` runs the new model. That closes
the loop: solve -> label -> export -> train -> solve.

Each run also measures the loss on its first training batch before and after
training (SFT and DPO): on a batch it was trained on, it should go down.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from fansi.config import Settings
from fansi.errors import ConfigError, ExtraNotInstalled, InputError
from fansi.learn.convert import OutType, find_converter, to_gguf
from fansi.models import parse_spec, resolve_gguf

Method = Literal["sft", "dpo", "grpo"]
METHODS: tuple[Method, ...] = get_args(Method)
#: The columns each trainer reads; the export's provenance columns are dropped.
COLUMNS: dict[Method, tuple[str, ...]] = {
    "sft": ("messages",),
    "dpo": ("prompt", "chosen", "rejected"),
    "grpo": ("prompt", "problem", "solution"),
}
Reward = Callable[..., Any]


@dataclass(frozen=True)
class Recipe:
    """How to train. The defaults are a plumbing run: a few steps, small batches.

    Attributes:
        method: sft, dpo or grpo.
        steps: Optimizer steps.
        learning_rate: Constant learning rate.
        batch_size: Rows per step (GRPO: completions per step).
        max_length: Longest tokenized row; longer ones are truncated.
        seed: The trainer's seed.
        beta: DPO's KL weight.
        num_generations: GRPO's completions per prompt.
        max_completion_length: GRPO's longest completion, in tokens.
        outtype: The GGUF file's tensor type.
    """

    method: Method = "sft"
    steps: int = 8
    learning_rate: float = 1e-4
    batch_size: int = 2
    max_length: int = 2048
    seed: int = 0
    beta: float = 0.1
    num_generations: int = 2
    max_completion_length: int = 64
    outtype: OutType = "q8_0"


@dataclass(frozen=True)
class Trained:
    """What a training run did and wrote.

    Attributes:
        checkpoint: The ``save_pretrained`` folder (model and tokenizer).
        gguf: The converted GGUF file; None when conversion was not asked for.
        rows: Rows in the training set.
        loss_before: Loss on the first training batch before training (None for GRPO).
        loss_after: The same batch's loss after training.
        train_loss: The trainer's mean training loss.
        weights_changed: Whether any trainable weight moved.
        seconds: Wall time of the whole run.
    """

    method: Method
    checkpoint: Path
    gguf: Path | None
    rows: int
    steps: int
    loss_before: float | None
    loss_after: float | None
    train_loss: float | None
    weights_changed: bool
    seconds: float


def model_source(spec: str, settings: Settings) -> tuple[Path, str | None]:
    """The folder to load a model from, and its GGUF file's name (None for a
    ``save_pretrained`` folder)."""
    folder = Path(spec).expanduser()
    if folder.is_dir():
        return folder, None
    parsed = parse_spec(spec)
    if parsed.kind != "llamacpp":
        raise ConfigError(f"cannot train {spec!r}: training needs a local model",
                          hint="Use embedded, tiny, gguf:PATH or a checkpoint folder.")
    path, _ = resolve_gguf(parsed, settings.models_dir)
    return path.parent, path.name


def load_model(spec: str, settings: Settings) -> tuple[Any, Any]:
    """A trainable (float32) transformers model and its tokenizer, from local files only."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig
    except ImportError as exc:
        raise ExtraNotInstalled("learn", "training") from exc
    folder, gguf = model_source(spec, settings)
    if gguf is None:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True,
                                                     dtype=torch.float32)
    else:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf, local_files_only=True)
        # Dequantized into plain weights: a packed GGUF model cannot be trained or saved.
        model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=gguf, local_files_only=True, dtype=torch.float32,
            quantization_config=GgufConfig(dequantize=True))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def load_rows(data: Path, method: Method) -> Any:
    """An exported dataset (the export's folder or its ``dataset`` folder), with
    only the columns the trainer reads."""
    from datasets import load_from_disk

    folder = data / "dataset" if (data / "dataset").is_dir() else data
    if not (folder / "dataset_info.json").is_file():
        raise InputError(f"{data} holds no exported dataset",
                         hint=f"Make one with `fansi export --format {method} --out DIR`.")
    dataset = load_from_disk(str(folder))
    missing = [c for c in COLUMNS[method] if c not in dataset.column_names]
    if missing:
        raise InputError(f"{data} is not a {method} dataset (no {', '.join(missing)} column)",
                         hint=f"Export it with `fansi export --format {method}`.")
    if len(dataset) == 0:
        raise InputError(f"{data} has no rows to train on",
                         hint="Label more candidates, or widen the export's filters.")
    return dataset.select_columns(list(COLUMNS[method]))


def _trainer(recipe: Recipe, model: Any, tokenizer: Any, dataset: Any, out: Path,
             rewards: Sequence[Reward]) -> Any:
    import torch
    from trl.trainer.dpo_config import DPOConfig
    from trl.trainer.dpo_trainer import DPOTrainer
    from trl.trainer.grpo_config import GRPOConfig
    from trl.trainer.grpo_trainer import GRPOTrainer
    from trl.trainer.sft_config import SFTConfig
    from trl.trainer.sft_trainer import SFTTrainer

    gpu = torch.cuda.is_available()
    # TRL defaults to bf16 and activation checkpointing, which a GPU wants and
    # a CPU run does not (bf16 is refused there; checkpointing only slows it).
    common: dict[str, Any] = {
        "bf16": gpu and torch.cuda.is_bf16_supported(), "gradient_checkpointing": gpu,
        "use_cpu": not gpu, "output_dir": str(out / "trainer"), "max_steps": recipe.steps,
        "per_device_train_batch_size": recipe.batch_size, "learning_rate": recipe.learning_rate,
        "lr_scheduler_type": "constant", "logging_steps": 1, "save_strategy": "no",
        "report_to": "none", "seed": recipe.seed, "dataloader_num_workers": 0,
    }
    if recipe.method == "sft":
        return SFTTrainer(model=model, processing_class=tokenizer, train_dataset=dataset,
                          args=SFTConfig(max_length=recipe.max_length, **common))
    if recipe.method == "dpo":
        # The reference is a frozen copy of the start: TRL would otherwise load it
        # again by name, and a model read from a GGUF file has no name to load by.
        reference = copy.deepcopy(model).eval().requires_grad_(False)
        return DPOTrainer(model=model, ref_model=reference, processing_class=tokenizer,
                          train_dataset=dataset,
                          args=DPOConfig(max_length=recipe.max_length, beta=recipe.beta,
                                         **common))
    if not rewards:
        raise ConfigError("GRPO needs at least one reward function")
    return GRPOTrainer(
        model=model, processing_class=tokenizer, train_dataset=dataset,
        reward_funcs=list(rewards),
        # No KL term (TRL's default): with one, TRL would load the reference again
        # by name, and a model read from a GGUF file has none.
        args=GRPOConfig(num_generations=recipe.num_generations,
                        max_completion_length=recipe.max_completion_length, beta=0.0,
                        **common))


def _fingerprint(model: Any) -> list[float]:
    return [float(p.detach().double().sum()) for p in model.parameters() if p.requires_grad]


def _batch_loss(trainer: Any, batch: Any) -> float:
    import torch

    with torch.no_grad():
        return float(trainer.compute_loss(trainer.model, trainer._prepare_inputs(batch)))


@dataclass(frozen=True)
class Fitted:
    """What one trainer run measured (see :class:`Trained`)."""

    checkpoint: Path
    loss_before: float | None
    loss_after: float | None
    train_loss: float | None
    weights_changed: bool


def fit(recipe: Recipe, network: Any, tokenizer: Any, dataset: Any, out: Path,
        rewards: Sequence[Reward] = ()) -> Fitted:
    """Train a loaded model on loaded rows and save it to ``out/checkpoint``."""
    trainer = _trainer(recipe, network, tokenizer, dataset, out, rewards)
    if len(trainer.train_dataset) == 0:
        raise InputError(f"no row fits in {recipe.max_length} tokens (TRL drops longer ones)",
                         hint="Raise --max-length.")
    before_weights = _fingerprint(trainer.model)
    batch = None if recipe.method == "grpo" else next(iter(trainer.get_train_dataloader()))
    before = None if batch is None else _batch_loss(trainer, batch)
    output = trainer.train()
    after = None if batch is None else _batch_loss(trainer, batch)
    changed = _fingerprint(trainer.model) != before_weights
    checkpoint = out / "checkpoint"
    trainer.save_model(str(checkpoint))
    tokenizer.save_pretrained(str(checkpoint))
    return Fitted(checkpoint, before, after, float(output.training_loss), changed)


def train(data: Path, out: Path, settings: Settings, recipe: Recipe, *, model: str | None = None,
          gguf: bool = True, converter: Path | None = None,
          rewards: Sequence[Reward] = ()) -> Trained:
    """Train ``model`` (default ``settings.model``) on an exported dataset.

    Args:
        data: The export's folder.
        out: Where ``checkpoint/`` and ``model.gguf`` go.
        settings: Resolved settings (home, threads).
        recipe: The method and its numbers.
        model: A local model spec or checkpoint folder.
        gguf: Convert the checkpoint to ``out/model.gguf``.
        converter: llama.cpp's converter script or its folder (default: the one
            ``fansi learn converter`` installed).
        rewards: GRPO's reward functions (e.g. :func:`fansi.learn.rewards.answer_reward`).
    """
    started = time.monotonic()
    script = find_converter(settings.home, converter) if gguf else None  # fail before training
    try:
        import torch
    except ImportError as exc:
        raise ExtraNotInstalled("learn", "training") from exc
    if settings.threads:
        torch.set_num_threads(settings.threads)
    dataset = load_rows(data, recipe.method)
    network, tokenizer = load_model(model or settings.model, settings)
    done = fit(recipe, network, tokenizer, dataset, out, rewards)
    written = None
    if script is not None:
        written = to_gguf(done.checkpoint, out / "model.gguf", converter=script,
                          outtype=recipe.outtype)
    return Trained(recipe.method, done.checkpoint, written, len(dataset), recipe.steps,
                   done.loss_before, done.loss_after, done.train_loss, done.weights_changed,
                   time.monotonic() - started)


__all__ = ["COLUMNS", "METHODS", "Fitted", "Method", "Recipe", "Trained", "fit", "load_model",
           "load_rows", "model_source", "train"]
