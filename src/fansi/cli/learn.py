"""`fansi label`, `fansi export` and `fansi learn`: verified runs become training data."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from fansi.cli.options import checks_option, model_options, settings_from

F = TypeVar("F", bound=Callable[..., Any])

SOURCES = ("verifier", "check", "reference")


def _filter_options(fn: F) -> F:
    options = [
        click.option("--run", "runs", multiple=True, metavar="ID",
                     help="Only this run's candidates (repeatable) [every run]."),
        click.option("--task", "tasks", multiple=True,
                     help="Only runs of this eval task, e.g. gsm8k (repeatable)."),
        click.option("--written-by", "models", multiple=True, metavar="SPEC",
                     help="Only runs whose candidates this model wrote (repeatable)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.command("label")
@_filter_options
@click.option("--solutions", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Label the solutions of a JSONL file instead of stored candidates "
                   "(each line: problem, solution, and optionally answer and id).")
@click.option("-n", "n", type=click.IntRange(min=1), default=4, show_default=True,
              help="Verifier analyses per candidate.")
@click.option("--meta", "m", type=click.IntRange(min=1), default=1, show_default=True,
              help="Meta-checks per issue of a failing analysis (m); the majority decides.")
@click.option("-k", "k", type=click.IntRange(min=1),
              help="Passing analyses needed for 'correct' [3, or n if smaller].")
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Least confidence of a verifier 'correct' (else unlabelled).")
@click.option("--max-confidence", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help="Most confidence of a verifier 'wrong' (else unlabelled).")
@click.option("--proof", is_flag=True,
              help="The problems are proofs: a matching answer never makes one correct.")
@click.option("--reference/--no-reference", "use_reference", default=True,
              help="Let reference answers decide labels [on]; with --no-reference they are only "
                   "compared, to measure the verifier's precision against them.")
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="The labels file (merged) [FANSI_HOME/labels.jsonl].")
@click.option("--concurrency", "-c", type=click.IntRange(min=1),
              help="Candidates at once [1 for local models, FANSI_CONCURRENCY for servers].")
@model_options
@checks_option
@click.option("--quiet", "-q", is_flag=True, help="No line per label on standard error.")
def label(runs: tuple[str, ...], tasks: tuple[str, ...], models: tuple[str, ...],
          solutions: Path | None, n: int, m: int, k: int | None, min_confidence: float,
          max_confidence: float, proof: bool, use_reference: bool, out: Path | None,
          concurrency: int | None, quiet: bool, **flags: Any) -> None:
    """Label candidates by scaled verification: correct, wrong or unlabelled.

    Each candidate gets n verifier analyses (--model verifies) and each issue
    of a failing one m meta-checks. It is correct when at least k analyses
    pass it and every failing analysis had its issues dismissed; wrong when a
    confirmed issue, a failed executed check or a mismatched reference answer
    stands; otherwise unlabelled. Each label names its source.

    \b
    Examples:
      fansi label --task gsm8k -n 4 -k 3
      fansi label --solutions proofs.jsonl --proof -n 8 --meta 3 -k 6
    """
    from fansi.learn.labelling import (
        label_targets,
        labels_path,
        solution_targets,
        stored_targets,
    )
    from fansi.learn.labels import LabelRule, summary, write_labels
    from fansi.store import Store

    settings = settings_from(**flags)
    rule = LabelRule(n=n, m=m, k=k or min(3, n), min_confidence=min_confidence,
                     max_confidence=max_confidence, use_reference=use_reference, proof=proof)
    with Store.open(settings.store_path) as store:
        if solutions is not None:
            targets = solution_targets(solutions, max_chars=settings.max_problem_chars)
        else:
            targets = stored_targets(store, runs=runs, tasks=tasks, models=models)
        if not targets:
            click.echo("no candidates to label (see `fansi runs`)", err=True)
            return

        def report(made: Any) -> None:
            if not quiet:
                click.echo(f"{made.candidate_id}: {made.label} ({made.source}) "
                           f"{made.passes}/{rule.n} pass; {made.reason}", err=True)

        labels = asyncio.run(label_targets(targets, settings, rule, store=store,
                                           concurrency=concurrency, on_label=report))
    path = out or labels_path(settings)
    write_labels(path, labels)
    click.echo(f"wrote {len(labels)} label(s) to {path}")
    click.echo(json.dumps(summary(labels), indent=1, sort_keys=True))


@click.command("export")
@click.option("--format", "fmt", required=True,
              type=click.Choice(["sft", "dpo", "verifier", "prm", "grpo"]),
              help="sft: messages; dpo: prompt/chosen/rejected; verifier: prompt/completion "
                   "verdicts; prm: prompt/completions/labels per step; grpo: prompt/solution.")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder: dataset/ (save_to_disk), the flat file, export.json.")
@click.option("--labels", "labels_file", type=click.Path(dir_okay=False, path_type=Path),
              help="The labels file [FANSI_HOME/labels.jsonl].")
@_filter_options
@click.option("--source", "sources", multiple=True, type=click.Choice(SOURCES),
              help="Label sources to use (repeatable) [verifier and check; reference answers "
                   "only when named].")
@click.option("--min-confidence", type=click.FloatRange(0, 1),
              help="Only labels whose grade has at least this confidence.")
@click.option("--max-confidence", type=click.FloatRange(0, 1),
              help="Only labels whose grade has at most this confidence.")
@click.option("--file-format", type=click.Choice(["parquet", "jsonl"]), default="parquet",
              show_default=True, help="The flat file written beside the dataset.")
@click.option("--prompt", type=click.Choice(["full", "plain"]), default="full", show_default=True,
              help="The writer prompt of sft, dpo and grpo rows (full: with a self-evaluation).")
@click.option("--push-to-hub", metavar="REPO",
              help="Also push the dataset to this Hub repository (the only online path).")
@click.option("--home", type=click.Path(file_okay=False), help="Data folder [FANSI_HOME].")
def export(fmt: Any, out: Path, labels_file: Path | None, runs: tuple[str, ...],
           tasks: tuple[str, ...], models: tuple[str, ...], sources: tuple[Any, ...],
           min_confidence: float | None, max_confidence: float | None, file_format: Any,
           prompt: Any, push_to_hub: str | None, home: str | None) -> None:
    """Write labelled candidates as a Hugging Face dataset in TRL's columns.

    No row is made from an unlabelled candidate, every row names the run and
    candidate it came from, and export.json counts the rows by label source.

    \b
    Examples:
      fansi export --format sft --out data/sft
      fansi export --format dpo --task gsm8k --source verifier --out data/dpo
    """
    from fansi.learn.export import Filters
    from fansi.learn.export import export as write
    from fansi.learn.labelling import labels_path
    from fansi.learn.labels import read_labels
    from fansi.store import Store

    settings = settings_from(home=home)
    labels = read_labels(labels_file or labels_path(settings))
    filters = Filters(runs=runs, tasks=tasks, models=models,
                      sources=sources or ("verifier", "check"),
                      min_confidence=min_confidence, max_confidence=max_confidence)
    with Store.open(settings.store_path) as store:
        done = write(fmt, labels, store, out, filters=filters, file_format=file_format,
                     prompt=prompt, push_to_hub=push_to_hub)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(done.by_source.items())) or "none"
    click.echo(f"wrote {done.rows} {fmt} row(s) to {out} (by label source: {counts})")


@click.group("learn")
def learn_group() -> None:
    """Train on an exported dataset with TRL, and write the model back as GGUF.

    \b
    One round of the loop, on the tiny model:
      fansi run problems.jsonl --model tiny
      fansi label --model tiny
      fansi export --format sft --out data/sft
      fansi learn sft --data data/sft --model tiny --out round1
      fansi solve "What is 3 + 4?" --model gguf:round1/model.gguf
    """


def _train_options(fn: F) -> F:
    options = [
        click.option("--data", required=True, type=click.Path(file_okay=False, exists=True,
                                                              path_type=Path),
                     help="The folder `fansi export` wrote."),
        click.option("--out", "-o", required=True, type=click.Path(file_okay=False,
                                                                   path_type=Path),
                     help="Where checkpoint/ and model.gguf go."),
        click.option("--model", "-m",
                     help="A local model spec or checkpoint folder [FANSI_MODEL]."),
        click.option("--steps", type=click.IntRange(min=1), default=8, show_default=True),
        click.option("--lr", "learning_rate", type=float, default=1e-4, show_default=True),
        click.option("--batch-size", type=click.IntRange(min=1), default=2, show_default=True),
        click.option("--max-length", type=click.IntRange(min=16), default=2048,
                     show_default=True, help="Longest tokenized row."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--gguf/--no-gguf", default=True,
                     help="Convert the checkpoint to OUT/model.gguf [on]."),
        click.option("--converter", type=click.Path(exists=True, path_type=Path),
                     help="llama.cpp's convert_hf_to_gguf.py or its folder "
                          "[the one `fansi learn converter` installed]."),
        click.option("--outtype", type=click.Choice(["f32", "f16", "bf16", "q8_0"]),
                     default="q8_0", show_default=True, help="The GGUF file's tensor type."),
        click.option("--threads", type=int, help="CPU threads [all cores]."),
        click.option("--home", type=click.Path(file_okay=False), help="Data folder [FANSI_HOME]."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _run(method: Any, flags: dict[str, Any], rewards: tuple[Any, ...] = ()) -> None:
    from fansi.learn.train import Recipe, train

    settings = settings_from(home=flags.pop("home"), threads=flags.pop("threads"))
    data, out, model = flags.pop("data"), flags.pop("out"), flags.pop("model")
    gguf, converter = flags.pop("gguf"), flags.pop("converter")
    recipe = Recipe(method=method, **flags)
    done = train(data, out, settings, recipe, model=model, gguf=gguf, converter=converter,
                 rewards=rewards)
    if done.loss_before is not None and done.loss_after is not None:
        click.echo(f"loss on the first batch: {done.loss_before:.4f} -> {done.loss_after:.4f}")
    click.echo(f"trained {done.steps} step(s) on {done.rows} row(s) in {done.seconds:.0f}s; "
               f"checkpoint {done.checkpoint}")
    if done.gguf is not None:
        click.echo(f"run it: fansi solve --model gguf:{done.gguf} \"...\"")


@learn_group.command("sft")
@_train_options
def sft(**flags: Any) -> None:
    """Supervised fine-tuning on verified solutions (`fansi export --format sft`)."""
    _run("sft", flags)


@learn_group.command("dpo")
@_train_options
@click.option("--beta", type=float, default=0.1, show_default=True, help="DPO's KL weight.")
def dpo(**flags: Any) -> None:
    """Preference training on verified/refuted pairs (`fansi export --format dpo`)."""
    _run("dpo", flags)


@learn_group.command("grpo")
@_train_options
@click.option("--reward", "reward_names", multiple=True, type=click.Choice(["answer", "verified"]),
              help="Reward functions (repeatable) [answer]: answer equivalence with the "
                   "solution column; fansi's verification of each completion.")
@click.option("--reward-model", help="The model that verifies for --reward verified [FANSI_MODEL].")
@click.option("--reward-k", type=click.IntRange(min=1), default=1, show_default=True,
              help="Verifier samples per completion for --reward verified.")
@click.option("--num-generations", type=click.IntRange(min=2), default=2, show_default=True)
@click.option("--max-completion-length", type=click.IntRange(min=1), default=64,
              show_default=True)
def grpo(reward_names: tuple[str, ...], reward_model: str | None, reward_k: int,
         **flags: Any) -> None:
    """GRPO on prompts with a solution column (`fansi export --format grpo`)."""
    from fansi.learn.rewards import VerifiedReward, answer_reward

    rewards: list[Any] = []
    for name in reward_names or ("answer",):
        if name == "answer":
            rewards.append(answer_reward)
        else:
            base = settings_from(home=flags["home"], threads=flags["threads"])
            rewards.append(VerifiedReward(settings=base, model=reward_model, k=reward_k))
    _run("grpo", flags, tuple(rewards))


@learn_group.command("converter")
@click.option("--sdist", type=click.Path(exists=True, path_type=Path),
              help="A llama-cpp-python source distribution (.tar.gz) or a llama.cpp checkout "
                   "[fetched by pip: the installed llama-cpp-python's version].")
@click.option("--home", type=click.Path(file_okay=False), help="Data folder [FANSI_HOME].")
def converter(sdist: Path | None, home: str | None) -> None:
    """Install llama.cpp's GGUF converter into FANSI_HOME/tools (for --gguf)."""
    from fansi.learn.convert import converter_dir, install_converter

    settings = settings_from(home=home)
    script = install_converter(converter_dir(settings.home), sdist)
    click.echo(f"installed {script}")
