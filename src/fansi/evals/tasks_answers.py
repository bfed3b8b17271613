"""Answer benchmarks (GSM8K, MATH-500, AIME 2024): one sample, majority vote, fansi.

For each problem, with the same model and the same per-call token caps:

- **fansi**: the full loop at the eval's settings; its best candidate's answer.
- **one sample**: the first candidate fansi wrote (sample 0). It is drawn
  exactly as a one-sample run would draw it, and reused from the call cache.
- **majority vote**: the most common answer among samples 0..N-1 (answers
  clustered by symbolic equivalence; a tie goes to the answer seen first).
  N is ``--vote-n``, by default fansi's n, so the vote reuses fansi's own
  candidates; samples beyond n are drawn as a run with larger n would draw them.

Scaling curves. Majority voting at 1..N samples uses prefixes of the same
samples, so its curve is nested and costs nothing extra. For the search, each
point is a real run at one (schedule, n): ``--schedules`` and ``--scale-n``
choose the grid. Samples are seeded by their content, so runs at nested
settings share their calls through the cache and the grid costs the union of
its runs' calls, not their sum. The x axis is what each method would spend on
its own (cached calls counted at their original cost).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fansi.checks import cluster_answers, equivalent
from fansi.config import Schedule
from fansi.engine.budget import SearchConfig
from fansi.engine.search import Search
from fansi.evals import plots
from fansi.evals.data import AnswerItem, Item
from fansi.evals.metrics import mcnemar, mean, wilson
from fansi.evals.report import Summary, Table, ci, fraction, num
from fansi.evals.runner import CallCost, Cost, Env, problem_id, run_search
from fansi.records import Budget, Candidate, Problem

METHODS = (("single", "one sample"), ("vote", "majority vote"), ("fansi", "fansi (verified)"))


def vote_size(env: Env) -> int:
    return env.options.vote_n or SearchConfig.from_settings(env.settings).n


async def _samples(env: Env, problem: Problem, search: Search, count: int,
                   calls: list[CallCost]) -> list[tuple[Candidate | None, Cost]]:
    """Samples 0..count-1 as ``search`` writes its round 0 (so fansi's own are cache
    hits), each with its own recorder so that each sample's cost is its own."""
    config = dataclasses.replace(search.config, budget=Budget())

    async def draw(index: int) -> tuple[Candidate | None, Cost]:
        log: list[CallCost] = []
        sampler = Search(problem, env.backend_for(search.run_id, log), config,
                         run_id=search.run_id)
        candidate = await sampler.sample(index)
        calls.extend(log)
        return candidate, Cost.of(log)

    return list(await asyncio.gather(*(draw(i) for i in range(count))))


async def _right(env: Env, reference: str, answer: str | None) -> bool:
    if not answer:
        return False
    return await equivalent(reference, answer, pool=env.checks) is True


def majority(clusters: Sequence[int | None]) -> int | None:
    """The cluster with the most members; a tie goes to the one seen first."""
    counts: dict[int, int] = {}
    for cluster in clusters:
        if cluster is not None:
            counts[cluster] = counts.get(cluster, 0) + 1
    return max(counts, key=lambda c: (counts[c], -c)) if counts else None


async def run_item(env: Env, item: Item) -> tuple[dict[str, Any], list[CallCost]]:
    assert isinstance(item, AnswerItem)
    settings = env.settings
    problem = Problem(item.problem, item.answer,
                      problem_id(env.options.task, item.id, item.problem, item.answer))
    main = await run_search(env, problem, settings)
    calls: list[CallCost] = list(main.calls)
    best = main.result.best
    row: dict[str, Any] = {
        "id": item.id, "stratum": item.stratum, "reference": item.answer,
        "run_id": main.result.run_id,
        "fansi_answer": best.answer if best else None,
        "fansi_correct": await _right(env, item.answer, best.answer if best else None),
        "fansi_verdict": main.result.verdict, "fansi_score": main.result.score,
        "fansi_confidence": main.result.confidence, "fansi_stop": main.result.stop_reason,
        "fansi_candidates": main.result.candidates, **main.cost.fields("fansi_"),
    }
    # The ceiling selection can reach: any candidate right (pass@n), and the
    # program route on its own (the plurality of the programs' answers).
    pool_answers = [c.candidate.answer for c in main.search.ranked()]
    row["oracle_correct"] = any([await _right(env, item.answer, a) for a in pool_answers])
    program_answers = [v.answer for v in main.search.votes()]
    program_clusters = await cluster_answers(program_answers, pool=env.checks)
    program_winner = majority(program_clusters)
    row["program_answer"] = (program_answers[program_clusters.index(program_winner)]
                             if program_winner is not None else None)
    row["program_correct"] = await _right(env, item.answer, row["program_answer"])
    row["programs"] = len(program_answers)

    count = vote_size(env)
    samples = await _samples(env, problem, main.search, count, calls)
    answers = [c.answer if c else None for c, _ in samples]
    clusters = await cluster_answers(answers, pool=env.checks)
    first: dict[int, str | None] = {}  # each cluster's first answer stands for it
    for cluster, answer in zip(clusters, answers, strict=True):
        if cluster is not None:
            first.setdefault(cluster, answer)
    right = {c: await _right(env, item.answer, a) for c, a in first.items()}
    curve = []
    for size in range(1, count + 1):
        winner = majority(clusters[:size])
        cost = sum((c for _, c in samples[:size]), Cost())
        curve.append({"n": size, "correct": winner is not None and right[winner],
                      "tokens": cost.tokens, "model_s": cost.model_s})
    winner = majority(clusters)
    row.update({
        "single_answer": answers[0],
        "single_correct": clusters[0] is not None and right[clusters[0]],
        **samples[0][1].fields("single_"),
        "vote_answer": first[winner] if winner is not None else None,
        "vote_correct": winner is not None and right[winner],
        "vote_n": count,
        "vote_agreement": clusters.count(winner) / count if winner is not None else 0.0,
        **sum((c for _, c in samples), Cost()).fields("vote_"),
        "vote_curve": curve,
    })

    scaling = []
    for schedule, n in grid(env):
        changed = settings.model_copy(update={"schedule": schedule, "n": n})
        same = (schedule, n) == (settings.schedule, main.search.config.n)
        run = main if same else await run_search(env, problem, changed)
        calls += run.calls
        answer = run.result.best.answer if run.result.best else None
        scaling.append({"schedule": schedule, "n": n,
                        "correct": await _right(env, item.answer, answer),
                        "confidence": run.result.confidence, "tokens": run.cost.tokens,
                        "model_s": run.cost.model_s, "reused_calls": run.cost.reused_calls,
                        "calls": run.cost.calls})
    row["scaling"] = scaling
    return row, calls


def grid(env: Env) -> list[tuple[Schedule, int]]:
    schedules = env.options.schedules or (env.settings.schedule,)
    sizes = env.options.scale_n or (SearchConfig.from_settings(env.settings).n,)
    return [(s, n) for s in schedules for n in sizes]


def describe(row: Mapping[str, Any]) -> str:
    marks = " ".join(f"{name}={'right' if row[f'{name}_correct'] else 'wrong'}"
                     for name, _ in METHODS)
    return f"{marks} (answer {row['fansi_answer']!s:.20}, ref {row['reference']!s:.20})"


def summarize(rows: Sequence[Mapping[str, Any]], out: Path, title: str) -> Summary:
    summary = Summary()
    methods = []
    for name, label in METHODS:
        p = wilson(sum(bool(r[f"{name}_correct"]) for r in rows), len(rows))
        tokens = mean([r[f"{name}_tokens"] for r in rows])
        seconds = mean([r[f"{name}_model_s"] for r in rows])
        calls = mean([r[f"{name}_calls"] for r in rows])
        summary.metrics.update({f"{name}.accuracy": p.value, f"{name}.ci_low": p.low,
                                f"{name}.ci_high": p.high, f"{name}.tokens": tokens,
                                f"{name}.model_s": seconds})
        methods.append([label, fraction(p), ci(p), num(tokens, 0), num(seconds), num(calls)])
    vote_n = rows[0]["vote_n"] if rows else 0
    summary.tables.append(Table(
        "Accuracy", ["method", "accuracy", "95% CI (Wilson)", "tokens / problem",
                     "model s / problem", "calls / problem"], methods,
        note=f"Majority vote over {vote_n} sample(s). Same model and per-call token caps "
             "for all three; the columns on the right show what each spent."))
    correct = {name: [bool(r[f"{name}_correct"]) for r in rows] for name, _ in METHODS}
    paired_rows = []
    for other in ("single", "vote"):
        test = mcnemar(correct["fansi"], correct[other])
        paired_rows.append([f"fansi vs {dict(METHODS)[other]}", str(test.only_a),
                            str(test.only_b), num(test.p_value, 3)])
        summary.metrics[f"paired.fansi_vs_{other}.p"] = test.p_value
    summary.tables.append(Table(
        "Paired comparison", ["comparison", "only fansi right", "only the other right",
                              "McNemar exact p"], paired_rows,
        note="On the same items. A difference of a few items at these sizes is no result "
             "either way."))
    oracle = wilson(sum(bool(r.get("oracle_correct")) for r in rows), len(rows))
    with_programs = [r for r in rows if r.get("programs")]
    program = wilson(sum(bool(r.get("program_correct")) for r in with_programs),
                     len(with_programs))
    summary.metrics.update({"oracle.accuracy": oracle.value, "program.accuracy": program.value})
    summary.tables.append(Table(
        "Ceiling and the program route", ["measure", "accuracy", "95% CI (Wilson)"],
        [["pass@n: any of fansi's candidates right", fraction(oracle), ci(oracle)],
         ["program route alone (plurality of the programs' answers)", fraction(program),
          ci(program)]],
        note="pass@n is the most any selection from fansi's pool could reach. The program "
             "route counts only items where programs ran."))
    reused = {name: (sum(r[f"{name}_reused_calls"] for r in rows),
                     sum(r[f"{name}_calls"] for r in rows)) for name in ("single", "vote")}
    grid_calls = [(p["reused_calls"], p["calls"]) for r in rows for p in r["scaling"]]
    summary.notes += [
        "Reused: the one-sample baseline is fansi's first candidate (sample 0) and the "
        "majority vote's samples are fansi's own round-0 candidates (samples beyond fansi's n "
        "are drawn as a larger-n run would draw them). When the rows were computed, the call "
        f"cache answered {reused['single'][0]} of the one-sample baseline's "
        f"{reused['single'][1]} call(s), {reused['vote'][0]} of the vote's "
        f"{reused['vote'][1]}, and {sum(a for a, _ in grid_calls)} of the scaling runs' "
        f"{sum(b for _, b in grid_calls)} (fansi's own run included); a reused call is "
        "counted at the cost of the call that first made it.",
        "An answer counts as right when Math-Verify finds it equivalent to the reference; "
        "an answer it cannot judge counts as wrong.",
    ]

    series: dict[str, list[tuple[float, float]]] = {}
    scaling_rows = []
    for size in range(1, vote_n + 1):
        points = [r["vote_curve"][size - 1] for r in rows]
        acc = sum(bool(p["correct"]) for p in points) / len(points)
        tokens = mean([p["tokens"] for p in points]) or 0.0
        series.setdefault("majority vote", []).append((tokens, acc))
        scaling_rows.append(["majority vote", f"{size} sample(s)", f"{100 * acc:.1f}%",
                             num(tokens, 0)])
    keys = sorted({(p["schedule"], p["n"]) for r in rows for p in r["scaling"]})
    for schedule, n in keys:
        points = [p for r in rows for p in r["scaling"] if (p["schedule"], p["n"]) == (schedule,
                                                                                       n)]
        acc = sum(bool(p["correct"]) for p in points) / len(points)
        tokens = mean([p["tokens"] for p in points]) or 0.0
        series.setdefault(f"fansi {schedule}", []).append((tokens, acc))
        scaling_rows.append([f"fansi {schedule}", f"n = {n}", f"{100 * acc:.1f}%",
                             num(tokens, 0)])
        summary.metrics[f"scaling.{schedule}.n{n}.accuracy"] = acc
        summary.metrics[f"scaling.{schedule}.n{n}.tokens"] = tokens
    summary.tables.append(Table(
        "Test-time scaling", ["series", "setting", "accuracy", "tokens / problem"],
        scaling_rows,
        note="Majority vote at k samples uses samples 0..k-1 of the same draws (nested). "
             "Each fansi point is a run at that schedule and n; runs share samples through "
             "the call cache, and tokens are what each would spend on its own."))
    if rows:
        summary.plots.append(plots.scaling(out / "scaling.png", series,
                                           title=f"{title}: accuracy vs tokens"))
    return summary


__all__ = ["describe", "majority", "run_item", "summarize"]
