"""``report.md`` and ``summary.json`` of an eval, and ``fansi eval compare``.

A task summarises its rows into a :class:`Summary`: flat ``metrics`` (what
``compare`` lines up), Markdown tables and notes. This module adds the
header (settings, model checksum, fansi version, git commit, data file),
the cost totals, calibration and the data attribution, and writes both files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fansi.errors import InputError
from fansi.evals.metrics import Proportion

Number = float | int | None


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    note: str = ""

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join("---" for _ in self.columns) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines)


@dataclass
class Summary:
    """What a task makes of its rows."""

    metrics: dict[str, Number] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def num(value: Number, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def ci(p: Proportion) -> str:
    """``[low, high]`` of a Wilson interval, in percent."""
    return f"[{100 * p.low:.1f}, {100 * p.high:.1f}]" if p.total else "–"


def fraction(p: Proportion) -> str:
    return f"{pct(p.value)} ({p.successes}/{p.total})"


def cost_totals(rows: Sequence[Mapping[str, Any]]) -> dict[str, Number]:
    """What the eval spent on its items, each call counted once per item."""
    return {
        "prompt_tokens": sum(int(r.get("prompt_tokens", 0)) for r in rows),
        "completion_tokens": sum(int(r.get("completion_tokens", 0)) for r in rows),
        "calls": sum(int(r.get("calls", 0)) for r in rows),
        "fresh_calls": sum(int(r.get("fresh_calls", 0)) for r in rows),
        "model_s": round(sum(float(r.get("model_s", 0.0)) for r in rows), 1),
        "wall_s": round(sum(float(r.get("wall_s", 0.0)) for r in rows), 1),
        "peak_rss_mb": max((float(r.get("peak_rss_mb", 0.0)) for r in rows), default=None),
    }


def render(header: Mapping[str, Any], summary: Summary, totals: Mapping[str, Number],
           attribution: str) -> str:
    """The whole ``report.md``."""
    settings = header["settings"]
    lines = [f"# fansi eval: {header['task']}", ""]
    facts = [
        ("model", f"`{header['model']}`"),
        ("model checksum", f"`{header['checksum']}`" if header.get("checksum") else "–"),
        ("fansi", header["fansi_version"]),
        ("git commit", header.get("git_commit") or "–"),
        ("data", f"`{header['data']}` (sha256 {header['data_digest']})"),
        ("items", f"{header['items']} of {header['available']}"
                  + (f" (seeded stratified subset, seed {header['seed']}, by "
                     f"{header['strata']})" if header["items"] < header["available"] else "")),
        ("search", ", ".join(f"{k} {settings.get(k)}" for k in
                             ("effort", "schedule", "n", "k", "m", "rounds"))),
        ("tokens per call", f"write {settings.get('max_tokens')}, verify "
                            f"{settings.get('verify_tokens')}"),
        ("sampling", f"temperature {settings.get('temperature')}, seed {settings.get('seed')}"),
        ("budgets", ", ".join(f"{k} {settings.get('budget_' + k) or 'none'}"
                              for k in ("tokens", "calls", "seconds"))),
        ("finished", header["finished_at"]),
    ]
    if header.get("planned", header["items"]) > header["items"]:
        facts.insert(6, ("partial", f"only {header['items']} of the {header['planned']} items "
                                    "planned are done (--report-only)"))
    facts += [(k, str(v)) for k, v in header.get("options", {}).items()]
    lines += ["| setting | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in facts]
    for table in summary.tables:
        lines += ["", table.markdown()]
    for plot in summary.plots:
        lines += ["", f"![{plot}]({plot})"]
    if summary.notes:
        lines += ["", "### Notes", ""] + [f"- {note}" for note in summary.notes]
    lines += [
        "", "### Cost", "",
        "Each call is counted once per item, whether it was made now or answered by the "
        "call cache (a cached call keeps the tokens and latency of the call that made it). "
        "*Model seconds* add up call latencies; *wall seconds* are the time the eval spent "
        "on its items when they were computed.", "",
        "| prompt tokens | completion tokens | calls | of them made now | model s | wall s "
        "| peak RSS |",
        "|---|---|---|---|---|---|---|",
        f"| {num(totals['prompt_tokens'])} | {num(totals['completion_tokens'])} "
        f"| {num(totals['calls'])} | {num(totals['fresh_calls'])} | {num(totals['model_s'])} "
        f"| {num(totals['wall_s'])} | {num(totals['peak_rss_mb'])} MiB |",
        "", "### Data", "", attribution, "",
    ]
    return "\n".join(lines)


def write(out: Path, header: Mapping[str, Any], summary: Summary,
          rows: Sequence[Mapping[str, Any]], attribution: str) -> None:
    """Write ``report.md`` and ``summary.json`` into ``out``."""
    totals = cost_totals(rows)
    (out / "report.md").write_text(render(header, summary, totals, attribution),
                                   encoding="utf-8")
    data = {**header, "metrics": summary.metrics, "cost": totals}
    (out / "summary.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n",
                                      encoding="utf-8")


# --------------------------------------------------------------------------- compare


def _summary(folder: Path) -> dict[str, Any]:
    path = folder / "summary.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} cannot be read: {exc}",
                         hint="Give folders written by `fansi eval ... --out`.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise InputError(f"{path} is not an eval summary")
    return data


def compare(first: Path, second: Path) -> str:
    """Two evals side by side, as Markdown: settings that differ, then every metric."""
    a, b = _summary(first), _summary(second)
    lines = [f"# fansi eval compare: `{first}` vs `{second}`", "",
             "| | A | B |", "|---|---|---|"]
    for key in ("task", "model", "checksum", "fansi_version", "git_commit", "items"):
        lines.append(f"| {key} | {_cell(a.get(key))} | {_cell(b.get(key))} |")
    sa, sb = a.get("settings", {}), b.get("settings", {})
    for key in sorted(sa.keys() | sb.keys()):
        if sa.get(key) != sb.get(key):
            lines.append(f"| {key} | {_cell(sa.get(key))} | {_cell(sb.get(key))} |")
    lines += ["", "| metric | A | B | B − A |", "|---|---|---|---|"]
    ma, mb = a["metrics"], b["metrics"]
    for key in list(ma) + [k for k in mb if k not in ma]:
        va, vb = ma.get(key), mb.get(key)
        delta = vb - va if isinstance(va, int | float) and isinstance(vb, int | float) else None
        lines.append(f"| {key} | {_cell(va)} | {_cell(vb)} | {_cell(delta, signed=True)} |")
    ca, cb = a.get("cost", {}), b.get("cost", {})
    for key in ("prompt_tokens", "completion_tokens", "calls", "model_s", "peak_rss_mb"):
        va, vb = ca.get(key), cb.get(key)
        delta = vb - va if isinstance(va, int | float) and isinstance(vb, int | float) else None
        lines.append(f"| cost.{key} | {_cell(va)} | {_cell(vb)} | {_cell(delta, signed=True)} |")
    return "\n".join(lines) + "\n"


def _cell(value: Any, *, signed: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:+.4g}" if signed else f"{value:.4g}"
    if isinstance(value, int) and signed:
        return f"{value:+d}"
    return str(value)


__all__ = ["Summary", "Table", "ci", "compare", "cost_totals", "fraction", "num", "pct",
           "render", "write"]
