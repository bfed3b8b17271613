"""Text rendering of results for the terminal."""

from __future__ import annotations

import click

from fansi.engine.search import SearchResult

VERDICT_COLOURS = {"pass": "green", "fail": "red", "unknown": "yellow"}


def rule(title: str) -> str:
    return click.style(f"── {title} " + "─" * max(0, 60 - len(title)), bold=True)


def render_result(result: SearchResult, *, show_solution: bool = True) -> str:
    lines: list[str] = []
    best = result.best
    if best is None:
        lines.append(click.style("No candidate could be written (see the failed calls).",
                                 fg="red"))
    elif show_solution:
        lineage = f", refines {', '.join(best.parents)}" if best.parents else ""
        lines += [rule(f"Best candidate {best.id} (round {best.round + 1}{lineage})"),
                  best.solution.strip()]
        if best.truncated:
            lines.append(click.style("[cut off at the token limit]", fg="yellow"))
    lines.append(rule("Verdict"))
    colour = VERDICT_COLOURS[result.verdict]
    score = "-" if result.score is None else f"{result.score:.2f}"
    passes = sum(1 for v in result.verifications if v.score == 1 and v.weight > 0)
    unknown = sum(1 for v in result.verifications if v.score is None)
    lines.append(
        f"verdict: {click.style(result.verdict.upper(), fg=colour, bold=True)}   "
        f"score {score}   ({len(result.verifications)} verification(s): {passes} pass, "
        f"{unknown} unknown)"
    )
    if result.calibrated:
        lines.append(f"confidence: {result.confidence:.2f} (calibrated by `fansi eval`; "
                     f"raw {result.raw_confidence:.2f})")
    else:
        lines.append(f"confidence: {result.confidence:.2f} (uncalibrated)")
    if best is not None and best.answer:
        lines.append(f"final answer: {best.answer}")
    if best is not None and best.self_score is not None:
        lines.append(f"writer's self-score: {best.self_score:g}")
    for check in result.checks:
        if check.kind in ("answer", "program"):
            lines.append(f"{check.name.replace('_', ' ')}: {check.value} ({check.detail})")
        else:
            mark = "passed" if check.passed else click.style("FAILED", fg="red")
            lines.append(f"executed check {check.name}: {mark} — {check.detail}")
    if result.issues:
        lines.append("issues found:")
        for issue in result.issues:
            lines.append(f"  - [{issue.severity}] {issue.location}: {issue.description}")
    for v in result.verifications:
        if v.score is None and v.reason:
            lines.append(click.style(f"  ({v.id}: unknown, {v.reason})", dim=True))
    lines.append(click.style(
        f"run {result.run_id}: {result.candidates} candidate(s), {result.rounds} round(s), "
        f"stop: {result.stop_reason}; {result.usage.total_tokens:,} tokens in {result.calls} "
        f"calls ({result.cached_calls} cached, {result.failed_calls} failed), "
        f"{result.seconds:.1f}s", dim=True))
    return "\n".join(lines)
