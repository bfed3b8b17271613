"""`fansi runs` and `fansi show`: what the store holds."""

from __future__ import annotations

import json

import click


def _store(home: str | None):  # type: ignore[no-untyped-def]
    from fansi.cli.options import settings_from
    from fansi.store import Store

    return Store.open(settings_from(home=home).store_path)


@click.command()
@click.option("--limit", type=int, default=20, show_default=True, help="Newest N runs.")
@click.option("--unfinished", is_flag=True, help="Only runs that can be resumed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--home", type=click.Path(file_okay=False), help="Data folder [FANSI_HOME].")
def runs(limit: int, unfinished: bool, as_json: bool, home: str | None) -> None:
    """List the stored runs, newest first."""
    from fansi.records import to_dict

    with _store(home) as store:
        rows = store.runs(limit=limit, unfinished=unfinished)
        results = {r.id: (store.run(r.id) or None) for r in rows}
    if as_json:
        click.echo(json.dumps([to_dict(r) for r in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no runs yet; try `fansi solve \"...\"`", err=True)
    for r in rows:
        record = results[r.id]
        verdict = ""
        if record is not None and record.result:
            verdict = f"{record.result.get('verdict', '')} conf={record.result.get('confidence')}"
        click.echo(f"{r.id}  {r.created_at[:19]}  {r.status:<11} {r.model:<12} {verdict:<22} "
                   f"{r.problem_preview}")


@click.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the whole tree as JSON.")
@click.option("--full", is_flag=True, help="Print every solution in full.")
@click.option("--home", type=click.Path(file_okay=False), help="Data folder [FANSI_HOME].")
def show(run_id: str, as_json: bool, full: bool, home: str | None) -> None:
    """Show a run: its problem and the tree of candidates, verifications,
    meta-checks and refinements."""
    from fansi.errors import InputError
    from fansi.records import to_dict

    with _store(home) as store:
        tree = store.run_tree(run_id)
    if tree is None:
        raise InputError(f"no run {run_id!r}", hint="List the runs with `fansi runs`.")
    if as_json:
        click.echo(json.dumps(to_dict(tree), indent=2, ensure_ascii=False))
        return
    run = tree.run
    click.echo(f"run {run.id}  {run.status}  model {run.model}  fansi {run.fansi_version}  "
               f"{run.created_at[:19]}")
    if run.error:
        click.secho(f"error: {run.error}", fg="red")
    click.echo(f"problem: {tree.problem.text}")
    if run.result:
        res = run.result
        best = (res.get("best") or {}).get("id")
        click.echo(f"result: {res.get('verdict')} score={res.get('score')} "
                   f"confidence={res.get('confidence')} best={best} "
                   f"stop={res.get('stop_reason')} tokens={res.get('total_tokens')}")
    children: dict[str, list[str]] = {}
    for node in tree.candidates:
        for parent in node.candidate.parents:
            children.setdefault(parent, []).append(node.candidate.id)
    by_id = {node.candidate.id: node for node in tree.candidates}
    roots = [n for n in tree.candidates if not set(n.candidate.parents) & set(by_id)]

    def walk(node_id: str, depth: int) -> None:
        node = by_id[node_id]
        c = node.candidate
        pad = "    " * depth
        text = c.solution.strip() if full else c.solution.strip().replace("\n", " ")[:100]
        click.echo(f"{pad}● {c.id} (round {c.round + 1}) self-score={c.self_score} "
                   f"answer={c.answer}{' [truncated]' if c.truncated else ''}")
        click.echo(f"{pad}  {text}")
        for check in node.checks:
            mark = "passed" if check.passed else "FAILED"
            value = f" = {check.value}" if check.value is not None else ""
            where = f" at {check.location}" if check.location else ""
            click.echo(f"{pad}  ├ check {check.name} ({check.kind}){where}: {mark}{value}"
                       f" — {check.detail[:120]}")
            if check.counterexample:
                click.echo(f"{pad}  │   counterexample: {check.counterexample[:200]}")
        for vnode in node.verifications:
            v = vnode.verification
            score = "unknown" if v.score is None else f"{v.score:g}"
            why = f" ({v.reason})" if v.reason else ""
            click.echo(f"{pad}  ├ {v.id}: score {score} weight {v.weight:.2f}{why}")
            for index, issue in enumerate(v.issues):
                checks = [m for m in vnode.meta_checks if m.issue_index == index]
                judged = {True: "confirmed", False: "dismissed", None: "unjudged"}[
                    checks[-1].real if checks else None]
                click.echo(f"{pad}  │   [{issue.severity}] {issue.location}: "
                           f"{issue.description[:120]} — {judged}")
        for child in children.get(node_id, []):
            walk(child, depth + 1)

    for root in roots:
        walk(root.candidate.id, 0)
