"""Time and peak memory of one closed loop on CPU: solve -> label -> export ->
SFT -> GGUF -> solve with the new model.

    python benchmarks/learn_loop.py --model tiny --steps 3 --converter PATH

The same steps as tests/learn/test_loop_tiny.py, each timed, in a fresh
FANSI_HOME under --out. Peak RSS is this process's (the model loads, the
training) and, separately, its children's (the check workers and llama.cpp's
converter). Plumbing figures: the tiny model writes nonsense.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from pathlib import Path
from typing import Any

from fansi import api
from fansi.config import load_settings
from fansi.learn.convert import converter_dir, find_converter, install_converter
from fansi.learn.export import Filters, export
from fansi.learn.labelling import label_targets, solution_targets, stored_targets
from fansi.learn.labels import LabelRule, write_labels
from fansi.learn.train import Recipe, train
from fansi.records import Problem
from fansi.store import Store

PROBLEMS = [Problem("What is 2 + 2?", "4", "two"), Problem("What is 9 - 3?", "6", "six")]
GIVEN = [
    {"problem": "What is 3 + 4?", "solution": "3 + 4 = 7, so the answer is \\boxed{7}.",
     "answer": "7", "id": "add"},
    {"problem": "What is 5 * 6?", "solution": "5 * 6 = 30, so the answer is \\boxed{30}.",
     "answer": "30", "id": "mul"},
]


def peak_mb(who: int) -> int:
    return resource.getrusage(who).ru_maxrss // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--converter", type=Path, help="llama.cpp's converter, or an sdist")
    parser.add_argument("--out", type=Path, default=Path("bench-learn-loop"))
    args = parser.parse_args()

    small: dict[str, Any] = {"home": args.out / "home", "model": args.model, "max_tokens": 32,
                             "verify_tokens": 48, "meta_tokens": 48, "n": 1, "k": 1,
                             "rounds": 1, "checks": "deterministic"}
    settings = load_settings(small)
    if args.converter is not None and args.converter.suffix == ".gz":
        install_converter(converter_dir(settings.home), args.converter)
        args.converter = None
    script = find_converter(settings.home, args.converter)
    stages: dict[str, float] = {}
    clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        stages[name] = round(now - clock, 1)
        clock = now

    asyncio.run(api.asolve_many(PROBLEMS, settings))
    lap("solve")
    given = args.out / "given.jsonl"
    given.write_text("".join(json.dumps(row) + "\n" for row in GIVEN))
    with Store.open(settings.store_path) as store:
        targets = stored_targets(store) + solution_targets(given, max_chars=1000)
        labels = asyncio.run(label_targets(targets, settings, LabelRule(n=1, k=1), store=store))
        write_labels(args.out / "labels.jsonl", labels)
        lap("label")
        rows = export("sft", labels, store, args.out / "sft",
                      filters=Filters(sources=("verifier", "check", "reference"))).rows
    lap("export")
    trained = train(args.out / "sft", args.out / "round1", settings,
                    Recipe(steps=args.steps, learning_rate=2e-4, max_length=1024),
                    model=args.model, converter=script)
    lap("train_and_convert")
    assert trained.gguf is not None
    after = load_settings({**small, "model": f"gguf:{trained.gguf}", "checks": "none"})
    result = asyncio.run(api.asolve("What is 3 + 4?", settings=after))
    lap("solve_with_new_model")
    print(json.dumps({
        "labels": {x.candidate_id: f"{x.label}/{x.source}" for x in labels},
        "sft_rows": rows, "loss_before": trained.loss_before, "loss_after": trained.loss_after,
        "gguf_mb": trained.gguf.stat().st_size // 2**20, "new_model_tokens":
            result.usage.total_tokens, "seconds": stages, "total_seconds": sum(stages.values()),
        "peak_rss_mb": peak_mb(resource.RUSAGE_SELF),
        "peak_rss_children_mb": peak_mb(resource.RUSAGE_CHILDREN),
    }, indent=1))


if __name__ == "__main__":
    main()
