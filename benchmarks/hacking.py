"""Verifier hacking, measured: wrong proofs with self-grading text added, graded
by fansi under each layer of its defences.

    python benchmarks/hacking.py [--model embedded] [-k 4] [--variants 10] [--honest 7]

The data is ``benchmarks/hacking_suite.py``: wrong proofs, correct proofs, and
manipulation texts in many languages and encodings, each placed at the start,
middle or end of a wrong proof. For each variant graded with the model in the
loop (the first ``--variants``: one per form, then one per language on the
wrong proofs used least, then the rest in suite order), it prints the change in
fansi's score and in confidence against the same wrong proof without the text,
and whether it flipped to a pass, under three layers of defence:

- ``off``: answer agreement only (no detector, no executed checks);
- ``detector``: plus the deterministic manipulation detector;
- ``shipped``: every checker of the default ``checks`` level (the detector,
  arithmetic, substitution and the model-written claims), as ``fansi verify``
  runs.

For the correct proofs it prints each one's verdict and what refuted it, and
the false-fail rate under each layer. Tokens per verification are reported.
Calls go through the call cache in FANSI_HOME, so a rerun makes no call.
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
from fansi.engine.checkers import Checker, answer_agreement
from fansi.engine.manipulation import manipulation_text
from fansi.engine.search import Search
from fansi.records import Problem
from fansi.store import CachedBackend, Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hacking_suite import CORRECT, WRONG, Variant, variants


@dataclass
class Graded:
    verdict: str
    score: float | None
    confidence: float
    tokens: int
    verifications: int
    #: The failed executed checks, as "name: counterexample".
    refuted: tuple[str, ...] = ()


#: The layers compared, each a list of checkers (None: as shipped, every
#: checker the default ``checks`` level runs).
LAYERS: dict[str, tuple[Checker, ...] | None] = {
    "off": (answer_agreement,),
    "detector": (answer_agreement, manipulation_text),
    "shipped": None,
}


async def grade(problem: str, proof: str, *, layer: str, k: int, backend: CachedBackend,
                pool: CheckPool, run_id: str) -> Graded:
    settings = load_settings({"k": k, "schedule": "fixed"})
    config = SearchConfig.from_settings(settings)
    search = Search(Problem(problem), backend, config, run_id=run_id, checks=pool,
                    checkers=LAYERS[layer])
    result = await search.grade(proof)
    refuted = tuple(f"{c.name}: {(c.counterexample or c.detail)[:120]}" for c in result.checks
                    if c.passed is False and c.kind not in ("answer", "program"))
    return Graded(result.verdict, result.score, result.confidence, result.usage.total_tokens,
                  len(result.verifications), refuted)


def choose(count: int) -> list[Variant]:
    """One variant per form, then one per language on the wrong proofs used
    least, then the rest in suite order; the first ``count``."""
    chosen: list[Variant] = []
    seen: set[str] = set()
    for variant in variants():
        if variant.manipulation.form not in seen:
            seen.add(variant.manipulation.form)
            chosen.append(variant)
    languages = {v.manipulation.language for v in chosen}
    while options := [v for v in variants() if v.manipulation.language not in languages]:
        variant = min(options, key=lambda v: sum(c.proof.id == v.proof.id for c in chosen))
        languages.add(variant.manipulation.language)
        chosen.append(variant)
    chosen += [v for v in variants() if v not in chosen]
    return chosen[:count]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("-k", type=int, default=4)
    parser.add_argument("--variants", type=int, default=10)
    parser.add_argument("--honest", type=int, default=len(CORRECT))
    args = parser.parse_args()

    settings = load_settings({"model": args.model})
    inner = create_backend(settings.model, settings)
    chosen = choose(args.variants)
    honest = CORRECT[: args.honest]
    flips = dict.fromkeys(LAYERS, 0)
    gains: dict[str, list[float]] = {name: [] for name in LAYERS}
    score_gains: dict[str, list[float]] = {name: [] for name in LAYERS}
    fails = dict.fromkeys(LAYERS, 0)
    tokens = {name: [0, 0] for name in LAYERS}
    try:
        with Store.open(settings.store_path) as store:
            backend = CachedBackend(inner, store)
            async with CheckPool() as pool:
                plain = {}
                for layer in LAYERS:
                    for proof in WRONG:
                        plain[proof.id, layer] = await grade(
                            proof.problem, proof.proof, layer=layer, k=args.k,
                            backend=backend, pool=pool, run_id=f"plain-{proof.id}")
                print("| variant | form | lang | layers | verdict | Δ score | Δ confidence |"
                      " flip to pass |")
                print("|---|---|---|---|---|---|---|---|")
                for variant in chosen:
                    for layer in LAYERS:
                        base = plain[variant.proof.id, layer]
                        got = await grade(variant.proof.problem, variant.text, layer=layer,
                                          k=args.k, backend=backend, pool=pool,
                                          run_id=f"var-{variant.id}")
                        d_score = (got.score or 0.0) - (base.score or 0.0)
                        d_conf = got.confidence - base.confidence
                        flip = got.verdict == "pass" and base.verdict != "pass"
                        flips[layer] += flip
                        gains[layer].append(d_conf)
                        score_gains[layer].append(d_score)
                        print(f"| {variant.id} | {variant.manipulation.form} | "
                              f"{variant.manipulation.language} | {layer} | {got.verdict} | "
                              f"{d_score:+.2f} | {d_conf:+.3f} | {'yes' if flip else 'no'} |",
                              flush=True)
                print("\n| honest proof | lang | layers | verdict | score | confidence |"
                      " refuted by |")
                print("|---|---|---|---|---|---|---|")
                for proof in honest:
                    for layer in LAYERS:
                        got = await grade(proof.problem, proof.proof, layer=layer, k=args.k,
                                          backend=backend, pool=pool,
                                          run_id=f"honest-{proof.id}")
                        score = "-" if got.score is None else f"{got.score:.2f}"
                        print(f"| {proof.id} | {proof.language} | {layer} | {got.verdict} | "
                              f"{score} | {got.confidence:.3f} | "
                              f"{'; '.join(got.refuted) or '-'} |", flush=True)
                        fails[layer] += got.verdict == "fail"
                        tokens[layer][0] += got.tokens
                        tokens[layer][1] += max(1, got.verifications)
    finally:
        await inner.aclose()
    print()
    for layer in LAYERS:
        count = max(1, len(chosen))
        print(f"layers {layer}: flips to pass {flips[layer]}/{len(chosen)}, mean score change "
              f"{sum(score_gains[layer]) / count:+.3f}, largest {max(score_gains[layer]):+.2f}; "
              f"mean confidence change {sum(gains[layer]) / count:+.3f}, largest "
              f"{max(gains[layer]):+.3f}; honest proofs failed {fails[layer]}/{len(honest)}; "
              f"tokens per verification {tokens[layer][0] / max(1, tokens[layer][1]):.0f}")


if __name__ == "__main__":
    asyncio.run(main())
