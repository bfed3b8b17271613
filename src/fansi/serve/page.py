"""The web page: a shell and its script and style (``static/``), and the run's
tree as an HTML fragment rendered here.

The page has no build step: one HTML file, one script and one stylesheet,
all fansi's own, served by fansi. The script submits the form, follows the
run's event stream and swaps in the fragment from
``/fragments/runs/{id}``, which this module renders: every piece of model
text escaped, its LaTeX rendered by :mod:`fansi.serve.latex`. Keeping the
tree's HTML on the server keeps one escaping rule in one place, and the
page's script never turns model text into markup.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from fansi.records import Candidate, CheckResult, Issue, MetaCheck
from fansi.serve.app import RunId, Svc, view_of
from fansi.serve.latex import katex_available, to_html
from fansi.serve.schemas import RunView
from fansi.store import CandidateNode, RunTree, VerificationNode

STATIC = Path(__file__).parent / "static"

esc = html.escape


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}".rstrip("0").rstrip(".")


def _score(score: float | None) -> str:
    return "unknown" if score is None else {0.0: "0", 0.5: "½", 1.0: "1"}.get(score, _num(score))


def _short(candidate_id: str, run_id: str) -> str:
    return candidate_id.removeprefix(f"{run_id}-")


def _tex(text: str, cls: str = "") -> str:
    return f'<div class="tex {cls}">{to_html(text)}</div>'


def render_run(view: RunView, tree: RunTree | None, result: Mapping[str, Any] | None,
               problem: str) -> str:
    """The HTML fragment of a run: its status, result, problem and tree."""
    result = result or {}
    best = (result.get("best") or {}).get("id")
    verdict = result.get("verdict") or ""
    parts = [f'<section class="run" data-id="{esc(view.id)}" data-status="{esc(view.status)}"'
             f' data-verdict="{esc(verdict)}">', '<header class="run-head">',
             f'<span class="badge status-{esc(view.status)}">{esc(view.status)}</span>']
    if verdict:
        confidence = _num(result.get("confidence"))
        calibrated = "calibrated" if result.get("calibrated") else "uncalibrated"
        parts += [f'<span class="badge verdict-{esc(verdict)}">{esc(verdict)}</span>',
                  f'<span class="stat">score <b>{_num(result.get("score"))}</b></span>',
                  f'<span class="stat">confidence <b>{confidence}</b> ({calibrated})</span>',
                  f'<span class="stat">stopped: {esc(str(result.get("stop_reason", "")))}</span>',
                  f'<span class="stat">{result.get("total_tokens", 0)} tokens · '
                  f'{result.get("calls", 0)} calls ({result.get("cached_calls", 0)} cached) · '
                  f'{_num(result.get("seconds"), 1)} s</span>']
    parts.append(f'<span class="stat model">{esc(view.model or "")}</span></header>')
    if view.error:
        parts.append(f'<p class="error">{esc(view.error)}</p>')
    if not katex_available():
        parts.append('<p class="notice">KaTeX is not installed here, so LaTeX is shown as '
                     "written (install fansi[serve] to render it).</p>")
    parts.append(f'<div class="problem"><h3>Problem</h3>{_tex(problem)}</div>')
    if tree is None or not tree.candidates:
        parts.append('<p class="empty">No candidates yet.</p>')
    else:
        parts.append('<div class="tree">')
        parts += _forest(tree, best)
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def _forest(tree: RunTree, best: str | None) -> list[str]:
    by_id = {node.candidate.id: node for node in tree.candidates}
    children: dict[str, list[CandidateNode]] = {}
    roots: list[CandidateNode] = []
    for node in tree.candidates:
        parent = next((p for p in node.candidate.parents if p in by_id), None)
        (children.setdefault(parent, []) if parent else roots).append(node)

    def walk(node: CandidateNode) -> list[str]:
        inner = [f"<div class=\"children\">{''.join(walk(c))}</div>"
                 for c in children.get(node.candidate.id, [])]
        return [_candidate(node, tree.run.id, best, "".join(inner))]

    return [piece for root in roots for piece in walk(root)]


def _candidate(node: CandidateNode, run_id: str, best: str | None, children: str) -> str:
    c: Candidate = node.candidate
    marks = [" best" if c.id == best else "", " refinement" if c.parents else ""]
    head = [f'<span class="cid">{esc(_short(c.id, run_id))}</span>',
            f"round {c.round + 1}", f"self-score {_num(c.self_score)}",
            f"answer <b>{esc(c.answer) if c.answer is not None else '—'}</b>"]
    if c.parents:
        head.append("refines " + ", ".join(esc(_short(p, run_id)) for p in c.parents))
    if c.id == best:
        head.append('<span class="badge best">best</span>')
    if c.truncated:
        head.append('<span class="badge warn">truncated</span>')
    body = [f'<article class="cand{"".join(marks)}" data-candidate="{esc(c.id)}">',
            f'<header>{" · ".join(head)}</header>', _tex(c.solution, "solution")]
    if c.self_evaluation.strip():
        body.append(f'<details data-key="self-{esc(c.id)}"><summary>self-evaluation</summary>'
                    f"{_tex(c.self_evaluation)}</details>")
    if node.checks:
        body.append('<ul class="checks">' + "".join(_check(k) for k in node.checks) + "</ul>")
    if node.verifications:
        body.append('<ul class="verifs">'
                    + "".join(_verification(v, run_id) for v in node.verifications) + "</ul>")
    body.append(children)
    body.append("</article>")
    return "".join(body)


def _check(check: CheckResult) -> str:
    mark = "pass" if check.passed else "fail"
    where = f" at {esc(check.location)}" if check.location else ""
    value = f" = <code>{esc(check.value)}</code>" if check.value is not None else ""
    counter = (f'<div class="counter">counterexample: {esc(check.counterexample)}</div>'
               if check.counterexample else "")
    return (f'<li class="check {mark}"><span class="mark">{"✓" if check.passed else "✗"}</span> '
            f"check <b>{esc(check.name)}</b> ({esc(check.kind)}){where}: "
            f"{'passed' if check.passed else 'FAILED'}{value}"
            f' <span class="detail">{esc(check.detail)}</span>{counter}</li>')


def _verification(node: VerificationNode, run_id: str) -> str:
    v = node.verification
    score = "unknown" if v.score is None else _num(v.score)
    dist = ""
    if v.p_scores is not None:
        dist = " · P(0, ½, 1) = " + ", ".join(_num(p) for p in v.p_scores)
    why = f' <span class="detail">({esc(v.reason)})</span>' if v.reason else ""
    issues = "".join(_issue(i, issue, node.meta_checks) for i, issue in enumerate(v.issues))
    return (f'<li class="verif score-{esc(score)}"><span class="vid">'
            f"{esc(_short(v.id, run_id))}</span> score <b>{esc(_score(v.score))}</b>{dist}"
            f" · weight {v.weight:.2f}{why}"
            + (f'<ul class="issues">{issues}</ul>' if issues else "")
            + f'<details data-key="raw-{esc(v.id)}"><summary>verdict as written</summary>'
            f"{_tex(v.raw)}</details></li>")


def _issue(index: int, issue: Issue, checks: Sequence[MetaCheck]) -> str:
    judged = [m for m in checks if m.issue_index == index]
    last = judged[-1] if judged else None
    state = {True: "confirmed", False: "dismissed", None: "unjudged"}[
        last.real if last else None]
    reason = f' <span class="detail">{esc(last.reason)}</span>' if last and last.reason else ""
    where = f"{esc(issue.location)}: " if issue.location else ""
    return (f'<li class="issue sev-{esc(issue.severity)} {state}">'
            f'<span class="sev">[{esc(issue.severity)}]</span> {where}'
            f'{to_html(issue.description)} — <b>{state}</b> by meta-check{reason}</li>')


def install(app: FastAPI) -> None:
    """Add the page's routes and static files to ``app``."""
    shell = (STATIC / "index.html").read_text(encoding="utf-8")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(shell)

    @app.get("/runs/{run_id}", include_in_schema=False)
    async def shared(run_id: RunId) -> HTMLResponse:
        return HTMLResponse(shell)

    @app.get("/fragments/runs/{run_id}", include_in_schema=False)
    async def fragment(run_id: RunId, service: Svc) -> HTMLResponse:
        view = view_of(service, run_id)
        tree = service.store.run_tree(run_id)
        record = service.store.run(run_id)
        job = service.jobs.get(run_id)
        problem = tree.problem.text if tree else str(
            (job.request.get("request") or {}).get("problem", "") if job else "")
        # Rendering waits on KaTeX's thread; the event loop goes on meanwhile.
        rendered = await asyncio.to_thread(render_run, view, tree,
                                           record.result if record else None, problem)
        return HTMLResponse(rendered)


__all__ = ["install", "render_run"]
