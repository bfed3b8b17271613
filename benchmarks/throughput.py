"""Throughput of the in-process llama.cpp backend: one sequence, batched decoding,
and the loop's real workload, with the prompt tokens prefix reuse saved.

    python benchmarks/throughput.py                # embedded 1.5B model (minutes)
    python benchmarks/throughput.py --quick        # tiny model, small sizes (smoke)

In order, in one process:

(c) a solve through the engine (``fansi.api.asolve``: store, call cache,
    search, checks), n=4 candidates then k=4 verifications each (the fixed
    schedule), with short replies so it fits in a few minutes; aggregate
    generated tokens per second of wall time, the prompt tokens computed vs
    submitted (d), the mean batch and the backend's busy share. The peak RSS
    of the process is read right after it.
(k) the prompt tokens computed for k verifications of one candidate, sent
    together, against one verification alone (each on a fresh cache).
(a) one call alone: decode tokens per second (first token to last).
(b) the batched decode ceiling: B independent sequences (sharing a prompt
    prefix, read once) decoded in lockstep straight through llama_decode,
    no scheduler, no engine.

Ratios printed: (c)/(a), (c)/(b at the workload's mean batch), and the
k-verification prefill ratio. The figures depend on what else the CPU runs;
the load average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from fansi import api
from fansi.backends.llamacpp import LlamaCppBackend
from fansi.config import load_settings
from fansi.engine import steps
from fansi.models import Family, parse_spec, resolve_gguf
from fansi.records import GenerateParams, Message, Problem

PROBLEM = (
    "Let n be a positive integer. Prove that n^3 - n is divisible by 6, "
    "and find the remainder when 7^100 is divided by 13."
)
STORY = [Message("user", "Write a long story about a lighthouse keeper and a storm.")]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def backend(path: Path, family: Family | None, name: str, args: argparse.Namespace
            ) -> LlamaCppBackend:
    return LlamaCppBackend(path, name=name, family=family, n_ctx=args.context,
                           n_threads=args.threads, batch=args.batch)


async def workload(path: Path, family: Family | None, name: str, args: argparse.Namespace
                   ) -> dict[str, Any]:
    """(c) and (d): one solve through the engine."""
    model = backend(path, family, name, args)
    with tempfile.TemporaryDirectory() as home:
        settings = load_settings({
            "home": home, "model": name, "n": 4, "k": 4, "m": 1, "rounds": 1,
            "schedule": "fixed", "max_tokens": args.max_tokens,
            "verify_tokens": args.verify_tokens, "seed": 0,
        })
        try:
            # Load the model first: loading is not throughput.
            await model.generate([Message("user", "Hi")], GenerateParams(max_tokens=1))
            before = dict(vars(model.stats))
            started = time.perf_counter()
            result = await api.asolve(PROBLEM, settings=settings, backend=model)
            wall = time.perf_counter() - started
        finally:
            await model.aclose()
    stats = {k: v - before[k] for k, v in vars(model.stats).items() if k != "peak_batch"}
    return {
        "wall_s": wall,
        "calls": stats["calls"],
        "generated": stats["completion_tokens"],
        "tok_s": stats["completion_tokens"] / wall,
        "mean_batch": stats["completion_tokens"] / max(stats["steps"], 1),
        "peak_batch": model.stats.peak_batch,
        "busy": stats["busy_s"] / wall,
        "prefill_s": stats["prefill_s"],
        "generating_tok_s": stats["completion_tokens"] / (stats["busy_s"] - stats["prefill_s"]),
        "prefill_submitted": stats["prefill_submitted"],
        "prefill_computed": stats["prefill_computed"],
        "preempted": stats["preempted"],
        "rss_gb": peak_rss_gb(),
        "candidate": result.best,
        "problem": result.problem,
    }


async def verify_prefill(path: Path, family: Family | None, name: str, problem: Problem,
                         candidate: Any, k: int, args: argparse.Namespace) -> int:
    """Prompt tokens computed for k verifications of one candidate on a fresh cache."""
    model = backend(path, family, name, args)
    try:
        await asyncio.gather(*(
            steps.verify(model, problem, candidate,
                         GenerateParams(max_tokens=1, temperature=0.7, seed=i))
            for i in range(k)))
    finally:
        await model.aclose()
    return model.stats.prefill_computed


async def single(path: Path, family: Family | None, name: str, args: argparse.Namespace
                 ) -> float:
    """(a): decode tokens per second of one call alone, first token to last."""
    model = backend(path, family, name, args)
    seen: list[float] = []
    try:
        out = await model.generate(
            STORY, GenerateParams(max_tokens=args.decode_steps + 1, temperature=0.0),
            on_token=lambda _: seen.append(time.perf_counter()))
        done = time.perf_counter()
    finally:
        await model.aclose()
    return (out.usage.completion_tokens - 1) / (done - seen[0])


def ceiling(path: Path, sizes: list[int], prefix: int, args: argparse.Namespace
            ) -> tuple[dict[int, float], float]:
    """(b): tokens per second of B sequences decoded in lockstep, and the
    prompt-reading rate of the shared prefix."""
    from fansi.backends.native import ContextShape, Entry, NativeModel

    model = NativeModel(path, ContextShape(
        kv_cells=max(4096, prefix + 64 * max(sizes)), n_seq=max(sizes), n_batch=512,
        n_threads=args.threads or os.cpu_count() or 1))
    greedy = GenerateParams(temperature=0.0)
    try:
        # One shared prefix, read once on sequence 0, as the issue measures.
        tokens = [1000 + (i * 7919) % 20000 for i in range(prefix)]
        started = time.perf_counter()
        for at in range(0, prefix, 512):
            chunk = tokens[at : at + 512]
            status = model.decode([Entry(t, at + j, 0, False) for j, t in enumerate(chunk)])
            assert status == 0, status
        read_rate = prefix / (time.perf_counter() - started)
        rates: dict[int, float] = {}
        for size in sizes:
            for seq in range(size):
                model.truncate(seq, prefix)
                if seq:
                    model.share(0, seq, 0, prefix)
            samplers = [model.sampler(greedy, None) for _ in range(size)]
            last = [100 + seq for seq in range(size)]
            pos = prefix
            for step in range(args.decode_steps + 1):
                if step == 1:  # the first step reads the distinct suffixes
                    started = time.perf_counter()
                status = model.decode([Entry(last[s], pos, s, True) for s in range(size)])
                assert status == 0, status
                last = [samplers[s].sample(s) for s in range(size)]
                pos += 1
            rates[size] = size * args.decode_steps / (time.perf_counter() - started)
            for sampler in samplers:
                sampler.close()
    finally:
        model.close()
    return rates, read_rate


def at_batch(rates: dict[int, float], batch: float) -> float:
    """The ceiling at a fractional batch, interpolated between measured sizes."""
    sizes = sorted(rates)
    if batch <= sizes[0]:
        return rates[sizes[0]]
    for lo, hi in itertools.pairwise(sizes):
        if batch <= hi:
            return rates[lo] + (rates[hi] - rates[lo]) * (batch - lo) / (hi - lo)
    return rates[sizes[-1]]


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="Model spec [embedded; tiny with --quick].")
    parser.add_argument("--quick", action="store_true", help="Tiny model, small sizes.")
    parser.add_argument("--max-tokens", type=int, help="Tokens per candidate [160; 48 quick].")
    parser.add_argument("--verify-tokens", type=int, help="Tokens per verdict [96; 32 quick].")
    parser.add_argument("--decode-steps", type=int, help="Steps timed in (a), (b) [32; 16].")
    parser.add_argument("--batch", type=int, help="Backend batch [the settings' default].")
    parser.add_argument("--threads", type=int, help="CPU threads [all cores].")
    parser.add_argument("--context", type=int, default=8192)
    args = parser.parse_args()
    quick = args.quick
    args.max_tokens = args.max_tokens or (48 if quick else 160)
    args.verify_tokens = args.verify_tokens or (32 if quick else 96)
    args.decode_steps = args.decode_steps or (16 if quick else 32)
    args.batch = args.batch or load_settings().batch
    spec = parse_spec(args.model or ("tiny" if quick else "embedded"))
    path, family = resolve_gguf(spec, load_settings().models_dir)
    sizes = [1, 2, 4, 8, 16]
    k = 4
    print(f"model {spec.raw} ({path.name}), batch {args.batch}, threads "
          f"{args.threads or os.cpu_count()}, load average {load_average()}", flush=True)

    began = time.perf_counter()
    work = await workload(path, family, spec.raw, args)
    print(f"(c) solve: {work['calls']} calls, {work['generated']} tokens in "
          f"{work['wall_s']:.1f}s", flush=True)
    one = await verify_prefill(path, family, spec.raw, work["problem"], work["candidate"], 1,
                               args)
    many = await verify_prefill(path, family, spec.raw, work["problem"], work["candidate"], k,
                                args)
    print(f"(k) prefill: 1 verification {one}, {k} verifications {many}", flush=True)
    alone = await single(path, family, spec.raw, args)
    print(f"(a) one call: {alone:.1f} tok/s", flush=True)
    rates, read_rate = ceiling(path, sizes, 512, args)
    print("(b) ceiling: " + ", ".join(f"B={b} {r:.1f}" for b, r in rates.items())
          + f" tok/s; prompt reading {read_rate:.0f} tok/s", flush=True)
    total = time.perf_counter() - began

    c = work["tok_s"]
    same_b = at_batch(rates, work["mean_batch"])
    prefill_ratio = many / one
    print(f"\nload average at the end: {load_average()}; {total:.0f}s in all\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| (a) one call alone, decode | {alone:.1f} tok/s |")
    for size, rate in rates.items():
        print(f"| (b) decode ceiling, B={size} | {rate:.1f} tok/s |")
    print(f"| prompt reading (512-token chunks) | {read_rate:.0f} tok/s |")
    print(f"| (c) solve n=4 k=4: generated / wall | {c:.1f} tok/s "
          f"({work['generated']} tokens, {work['wall_s']:.0f}s, {work['calls']} calls) |")
    print(f"| (c) mean / peak batch | {work['mean_batch']:.1f} / {work['peak_batch']} |")
    print(f"| (c) backend busy share of wall | {work['busy']:.1%} |")
    print(f"| (c) wall in steps that read prompts | {work['prefill_s']:.0f}s "
          f"({work['prefill_s'] / work['wall_s']:.0%}) |")
    print(f"| (c) generated / busy time outside those steps | "
          f"{work['generating_tok_s']:.1f} tok/s |")
    share = work["prefill_computed"] / work["prefill_submitted"]
    print(f"| (d) prompt tokens computed / submitted | {work['prefill_computed']} / "
          f"{work['prefill_submitted']} ({share:.0%}) |")
    print(f"| (c) preemptions | {work['preempted']} |")
    print(f"| peak RSS of the process after (c) | {work['rss_gb']:.2f} GB |")
    print()
    print("| target | figure | |")
    print("|---|---|---|")
    print(f"| (c) >= 3x (a) | {c / alone:.2f}x | {verdict(c >= 3 * alone)} |")
    print(f"| (c) >= 0.8x (b) at the same B ({work['mean_batch']:.1f}: {same_b:.1f} tok/s) | "
          f"{c / same_b:.2f}x | {verdict(c >= 0.8 * same_b)} |")
    print(f"| prefill of {k} verifications <= 1.3x one | {prefill_ratio:.2f}x "
          f"({many} / {one} tokens) | {verdict(prefill_ratio <= 1.3)} |")
    print(f"| peak RSS <= 2.5 GB | {work['rss_gb']:.2f} GB | {verdict(work['rss_gb'] <= 2.5)} |")


if __name__ == "__main__":
    asyncio.run(main())
