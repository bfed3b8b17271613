"""Formal proofs (miniF2F in Coq): the portfolio alone, what the model adds, and both
at budgets of 1, 2 and 4 attempts.

Each theorem is one stored prover run (:func:`fansi.provers.prove_stored`, the
path ``fansi prove`` takes) with as many fresh attempts as the largest budget
(:func:`attempt_grid`: 1, 2, 4 and the settings' n) and ``k`` repairs per
attempt. Attempts are made in order and each call's seed depends only on its
place, (attempt, repair), so a run with ``b`` attempts makes exactly the first
``b`` attempts of the larger run: every budget is read off the one run as a
prefix, with the tokens and seconds that prefix spent. A proof counts only
when the Coq kernel accepted it (original statement, allow-listed axioms,
``coqchk``); a statement that does not compile with this Coq counts as not
proved, and the report says how many there were.

Seconds are wall seconds measured when the row was computed: the statement
check, the portfolio, and each attempt's generation and kernel checks. An
attempt the call cache answered (an eval resumed mid-theorem) costs only its
checks; its tokens are those of the call that made it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fansi.engine.budget import SearchConfig
from fansi.evals import plots
from fansi.evals.data import FormalItem, Item
from fansi.evals.metrics import mean, wilson
from fansi.evals.report import Summary, Table, ci, fraction, num
from fansi.evals.runner import CallCost, Env, Recorder, problem_id

#: The attempt budgets every report shows.
BUDGETS = (1, 2, 4)


def attempt_grid(n: int) -> tuple[int, ...]:
    """The attempt budgets reported: :data:`BUDGETS` and the search's ``n``."""
    return tuple(sorted({*BUDGETS, n}))


async def run_item(env: Env, item: Item) -> tuple[dict[str, Any], list[CallCost]]:
    from fansi.formal import find_coq
    from fansi.provers import prove_stored, theorem_problem

    assert isinstance(item, FormalItem)
    grid = attempt_grid(SearchConfig.from_settings(env.settings).n)
    settings = env.settings.model_copy(update={"n": grid[-1]})
    text = theorem_problem(item.theorem).text
    calls: list[CallCost] = []
    proof = await prove_stored(
        item.theorem, settings, backend=env.backend, store=env.store, coq=find_coq(),
        model=env.model, problem_id=problem_id(env.options.task, item.id, text),
        wrap=lambda cached: Recorder(cached, calls))
    search = proof.search
    portfolio = search.portfolio
    portfolio_proved = portfolio is not None and portfolio.proved
    accepted = next((a for a in search.attempts if a.accepted), None)
    # What the search spent before any model call: the statement check and the portfolio.
    before_model = search.seconds - sum(a.seconds for a in search.attempts)
    budgets = []
    for size in grid:
        within = [a for a in search.attempts if a.attempt < size]
        budgets.append({
            "attempts": size,
            "proved": portfolio_proved or (accepted is not None and accepted.attempt < size),
            "tokens": sum(a.usage.total_tokens for a in within),
            "calls": len(within),
            "seconds": round(before_model + sum(a.seconds for a in within), 3),
        })
    row: dict[str, Any] = {
        "id": item.id, "stratum": item.stratum, "theorem": item.theorem.name,
        "run_id": proof.run_id, "valid": search.stopped != "invalid",
        "error": search.error[:300],
        "portfolio_proved": portfolio_proved,
        "portfolio_tactic": portfolio.tactic if portfolio is not None else None,
        "portfolio_passed": [o.name for o in portfolio.outcomes if o.screen == "passed"]
                            if portfolio is not None else [],
        "portfolio_s": round(before_model, 3),
        "model_proved": search.source == "model",
        "model_attempt": accepted.attempt if accepted is not None else None,
        "model_repair": accepted.repair if accepted is not None else None,
        "proved": search.found, "stopped": search.stopped,
        "stages": [a.stage for a in search.attempts],
        "search_tokens": search.usage.total_tokens, "search_s": round(search.seconds, 3),
        "budgets": budgets,
    }
    return row, calls


def describe(row: Mapping[str, Any]) -> str:
    if not row["valid"]:
        return "statement does not compile"
    if row["portfolio_proved"]:
        return f"portfolio ({row['portfolio_tactic']})"
    if row["model_proved"]:
        return f"model (attempt {row['model_attempt'] + 1}, repair {row['model_repair']})"
    return f"not proved ({len(row['stages'])} attempt(s), {row['stopped']})"


def summarize(rows: Sequence[Mapping[str, Any]], out: Path, title: str) -> Summary:
    summary = Summary()
    total = len(rows)
    portfolio = wilson(sum(bool(r["portfolio_proved"]) for r in rows), total)
    portfolio_s = mean([r["portfolio_s"] for r in rows])
    table = [["portfolio alone", fraction(portfolio), ci(portfolio), "0", num(portfolio_s),
              "0"]]
    summary.metrics.update({"portfolio.proved": portfolio.value,
                            "portfolio.seconds": portfolio_s})
    grid = [b["attempts"] for b in rows[0]["budgets"]] if rows else list(BUDGETS)
    series = [(0.0, portfolio.value or 0.0)]
    added = []
    for index, size in enumerate(grid):
        points = [r["budgets"][index] for r in rows]
        proved = wilson(sum(bool(p["proved"]) for p in points), total)
        tokens = mean([p["tokens"] for p in points])
        seconds = mean([p["seconds"] for p in points])
        calls = mean([p["calls"] for p in points])
        table.append([f"portfolio + model, {size} attempt(s)", fraction(proved), ci(proved),
                      num(tokens, 0), num(seconds), num(calls)])
        series.append((tokens or 0.0, proved.value or 0.0))
        by_model = [r for r, p in zip(rows, points, strict=True)
                    if p["proved"] and not r["portfolio_proved"]]
        repaired = sum(r["model_repair"] > 0 for r in by_model)
        added.append([str(size), str(len(by_model)), str(repaired),
                      str(len(by_model) - repaired)])
        summary.metrics.update({f"budget.{size}.proved": proved.value,
                                f"budget.{size}.tokens": tokens,
                                f"budget.{size}.seconds": seconds,
                                f"budget.{size}.model_added": len(by_model)})
    invalid = sum(not r["valid"] for r in rows)
    summary.metrics["invalid"] = invalid
    summary.tables.append(Table(
        "Proved", ["method", "proved", "95% CI (Wilson)", "tokens / theorem",
                   "seconds / theorem", "model calls / theorem"], table,
        note="Every budget is a prefix of one run per theorem: b fresh attempts, each with "
             "its repairs on Coq's messages. Seconds include the statement check and the "
             "portfolio; a proof counts only when the Coq kernel accepted it."))
    summary.tables.append(Table(
        "What the model adds", ["attempts", "theorems the model proved that the portfolio "
                                "did not", "of them by a repair", "of them by a fresh attempt"],
        added))
    passed: Counter[str] = Counter(name for r in rows for name in r["portfolio_passed"])
    accepted: Counter[str] = Counter(r["portfolio_tactic"] for r in rows
                                     if r["portfolio_tactic"])
    summary.tables.append(Table(
        "Portfolio scripts", ["script", "passed the screen on", "gave the accepted proof on"],
        [[name, str(passed[name]), str(accepted[name])]
         for name in sorted(passed, key=lambda n: (-passed[n], n))],
        note="Scripts are tried in a fixed order; the first whose proof the kernel accepts "
             "is the one credited. Tune the list on development data only."))
    summary.tables.append(Table(
        "Per theorem", ["id", "stratum", "portfolio", "model", "stopped", "tokens", "seconds"],
        [[r["id"], r["stratum"], r["portfolio_tactic"] or "–",
          "–" if r["model_attempt"] is None
          else f"attempt {r['model_attempt'] + 1}, repair {r['model_repair']}",
          r["stopped"], num(r["search_tokens"]), num(r["search_s"])] for r in rows]))
    if invalid:
        summary.notes.append(f"{invalid} statement(s) do not compile with this Coq and count "
                             "as not proved (see their rows' `error`).")
    summary.notes.append("Repairs per attempt are the search's k; the eval runs as many "
                         f"fresh attempts as its largest budget ({grid[-1] if grid else 0}).")
    if rows:
        summary.plots.append(plots.scaling(out / "proved.png",
                                           {"portfolio, then the model": series},
                                           title=f"{title}: proved vs tokens"))
    return summary


__all__ = ["BUDGETS", "attempt_grid", "describe", "run_item", "summarize"]
