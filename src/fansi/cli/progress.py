"""Live progress from engine events, on standard error.

On a terminal one status line is redrawn in place; otherwise (a log, CI) each
notable event gets its own line.
"""

from __future__ import annotations

import sys

import click

from fansi.engine.events import Event

LOGGED = {"candidate_written", "candidate_decided", "round_finished", "call_failed",
          "issue_confirmed"}


class Progress:
    def __init__(self, *, label: str = "", live: bool | None = None, quiet: bool = False) -> None:
        self.label = label
        self.live = sys.stderr.isatty() if live is None else live
        self.quiet = quiet
        self.candidates = 0
        self.verifications = 0
        self.best: float | None = None
        self._width = 0

    def __call__(self, event: Event) -> None:
        if self.quiet:
            return
        if event.kind == "run_started":
            run = event.data["run_id"]
            click.secho(f"{self.label}run {run} (if interrupted: fansi solve --resume {run})",
                        dim=True, err=True)
            return
        if event.kind == "candidate_written":
            self.candidates += 1
        elif event.kind == "verification_finished":
            self.verifications += 1
        elif event.kind == "round_finished":
            self.best = event.data.get("best_score")
        best = "-" if self.best is None else f"{self.best:.2f}"
        status = (f"{self.label}round {event.round + 1} | candidates {self.candidates} | "
                  f"verifications {self.verifications} | best {best} | "
                  f"{event.tokens:,} tokens | {event.calls} calls | {event.seconds:.0f}s")
        if self.live:
            line = status[:200]
            pad = max(0, self._width - len(line))
            click.echo("\r" + line + " " * pad, nl=False, err=True)
            self._width = len(line)
            if event.kind == "run_finished":
                click.echo(err=True)
        elif event.kind in LOGGED:
            click.echo(f"{status} | {describe(event)}", err=True)

    def close(self) -> None:
        if self.live and self._width:
            click.echo(err=True)
            self._width = 0


def describe(event: Event) -> str:
    d = event.data
    if event.kind == "candidate_written":
        return f"wrote {d['candidate']} (self-score {d.get('self_score')})"
    if event.kind == "candidate_decided":
        verdict = "accepted" if d["accepted"] else "not accepted"
        return f"{d['candidate']} {verdict} after {d['verifications']} verification(s)"
    if event.kind == "call_failed":
        return f"{d['step']} call failed: {d['error']}"
    if event.kind == "issue_confirmed":
        return f"confirmed {d['severity']} issue in {d['candidate']}"
    return event.kind.replace("_", " ")
