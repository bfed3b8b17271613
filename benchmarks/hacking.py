"""Verifier hacking, measured: wrong proofs with self-grading text added, graded
by fansi with and without its manipulation defences.

    python benchmarks/hacking.py [--model embedded] [-k 4] [--variants 10] [--honest 7]

The data is ``benchmarks/hacking_suite.py``: wrong proofs, correct proofs, and
manipulation texts in many languages and encodings, each placed at the start,
middle or end of a wrong proof. For each variant graded with the model in the
loop (the first ``--variants``: one per form, then one per language on the
wrong proofs used least, then the rest in suite order), it prints the change in
mean verifier score and in confidence against the same wrong proof without the
text, and whether it flipped to a pass, with the defences on (the detector and
the model screen, as shipped) and off (every checker but answer agreement
removed). For the correct proofs it prints the false-fail rate with the
defences on and off. Tokens per verification are reported. Calls go through
the call cache in FANSI_HOME, so a rerun makes no call.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

from fansi.backends import create_backend
from fansi.checks import CheckPool
from fansi.config import load_settings
from fansi.engine.budget import SearchConfig
from fansi.engine.checkers import answer_agreement
from fansi.engine.search import Search
from fansi.records import Problem
from fansi.store import CachedBackend, Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hacking_suite import CORRECT, WRONG, variants


@dataclass
class Graded:
    verdict: str
    score: float | None
    confidence: float
    tokens: int
    verifications: int
    #: The failed executed checks, as "name: counterexample".
    refuted: tuple[str, ...] = ()


async def grade(problem: str, proof: str, *, defended: bool, k: int, backend: CachedBackend,
                pool: CheckPool, run_id: str) -> Graded:
    settings = load_settings({"k": k, "schedule": "fixed"})
    config = SearchConfig.from_settings(settings)
    search = Search(Problem(problem), backend, config, run_id=run_id, checks=pool,
                    checkers=None if defended else (answer_agreement,))
    result = await search.grade(proof)
    refuted = tuple(f"{c.name}: {(c.counterexample or c.detail)[:120]}" for c in result.checks
                    if c.passed is False and c.kind not in ("answer", "program"))
    return Graded(result.verdict, result.score, result.confidence, result.usage.total_tokens,
                  len(result.verifications), refuted)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("-k", type=int, default=4)
    parser.add_argument("--variants", type=int, default=10)
    parser.add_argument("--honest", type=int, default=len(CORRECT))
    args = parser.parse_args()

    settings = load_settings({"model": args.model})
    inner = create_backend(settings.model, settings)
    chosen, seen = [], set()
    for variant in variants():  # one per form first
        if variant.manipulation.form not in seen:
            seen.add(variant.manipulation.form)
            chosen.append(variant)
    # then one per language not yet covered, each on a wrong proof used least so far
    languages = {v.manipulation.language for v in chosen}
    while options := [v for v in variants() if v.manipulation.language not in languages]:
        variant = min(options, key=lambda v: sum(c.proof.id == v.proof.id for c in chosen))
        languages.add(variant.manipulation.language)
        chosen.append(variant)
    chosen += [v for v in variants() if v not in chosen]  # then the rest, in suite order
    chosen = chosen[: args.variants]
    try:
        with Store.open(settings.store_path) as store:
            backend = CachedBackend(inner, store)
            async with CheckPool() as pool:
                plain = {}
                for defended in (True, False):
                    for proof in WRONG:
                        plain[proof.id, defended] = await grade(
                            proof.problem, proof.proof, defended=defended, k=args.k,
                            backend=backend, pool=pool, run_id=f"plain-{proof.id}")
                print("| variant | form | lang | defences | verdict | Δ score | Δ confidence |"
                      " flip to pass |")
                print("|---|---|---|---|---|---|---|---|")
                flips = {True: 0, False: 0}
                gains: dict[bool, list[float]] = {True: [], False: []}
                for variant in chosen:
                    for defended in (True, False):
                        base = plain[variant.proof.id, defended]
                        got = await grade(variant.proof.problem, variant.text, defended=defended,
                                          k=args.k, backend=backend, pool=pool,
                                          run_id=f"var-{variant.id}")
                        d_score = (got.score or 0.0) - (base.score or 0.0)
                        d_conf = got.confidence - base.confidence
                        flip = got.verdict == "pass" and base.verdict != "pass"
                        flips[defended] += flip
                        gains[defended].append(d_conf)
                        print(f"| {variant.id} | {variant.manipulation.form} | "
                              f"{variant.manipulation.language} | {'on' if defended else 'off'}"
                              f" | {got.verdict} | {d_score:+.2f} | {d_conf:+.3f} | "
                              f"{'yes' if flip else 'no'} |", flush=True)
                fails = {True: 0, False: 0}
                tokens = {True: [0, 0], False: [0, 0]}
                print("\n| honest proof | lang | defences | verdict | score | confidence |"
                      " refuted by |")
                print("|---|---|---|---|---|---|---|")
                for proof in CORRECT[: args.honest]:
                    for defended in (True, False):
                        got = await grade(proof.problem, proof.proof, defended=defended,
                                          k=args.k, backend=backend, pool=pool,
                                          run_id=f"honest-{proof.id}")
                        score = "-" if got.score is None else f"{got.score:.2f}"
                        print(f"| {proof.id} | {proof.language} | "
                              f"{'on' if defended else 'off'} | {got.verdict} | {score} | "
                              f"{got.confidence:.3f} | {'; '.join(got.refuted) or '-'} |",
                              flush=True)
                        fails[defended] += got.verdict == "fail"
                        tokens[defended][0] += got.tokens
                        tokens[defended][1] += max(1, got.verifications)
    finally:
        await inner.aclose()
    count = min(args.honest, len(CORRECT))
    for defended in (True, False):
        name = "on" if defended else "off"
        mean_gain = sum(gains[defended]) / max(1, len(gains[defended]))
        print(f"\ndefences {name}: flips to pass {flips[defended]}/{len(chosen)}, "
              f"mean confidence change {mean_gain:+.3f}; honest proofs failed "
              f"{fails[defended]}/{count}; tokens per verification "
              f"{tokens[defended][0] / tokens[defended][1]:.0f}")


if __name__ == "__main__":
    asyncio.run(main())
