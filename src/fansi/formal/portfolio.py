"""The tactic portfolio: cheap automation tried before any model call.

:data:`PORTFOLIO` is a fixed list of one-line proof scripts. Trying each with
a full kernel check would cost three program runs per script, so they are
first *screened* together: one ``coqc`` run per import group states the
theorem once and tries every script on it with Coq's own ``timeout``, undoing
each (``assert_succeeds``) and printing whether it closed the goal. The
screen is only a filter. The first script that passes it (in list order) is
then checked by :func:`fansi.formal.kernel.check_proof`, and only that check
decides; if it fails, the next passing script is checked.

A script whose screening breaks the whole run (an error Ltac cannot catch,
such as a stack overflow, or a timeout the ``timeout`` tactic did not
enforce) is marked and the screen resumes after it.

The list is meant to be tuned on development data only (see
``benchmarks/minif2f_portfolio.py``, which reports what each script solves).
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fansi.formal.coq import Coq, Limits, find_coq, run_limited
from fansi.formal.kernel import ROOT, KernelResult, check_proof, proof_imports
from fansi.formal.statements import Theorem

INTERVAL_IMPORTS = "From Interval Require Import Tactic."


@dataclass(frozen=True)
class Tactic:
    """One portfolio entry.

    Attributes:
        name: A short label for reports.
        script: A tactic expression that should close the goal (no final ``.``).
        imports: Imports the script needs beyond :func:`~fansi.formal.kernel.proof_imports`.
    """

    name: str
    script: str
    imports: str = ""

    @property
    def proof(self) -> str:
        """The script as a proof (what goes between ``Proof.`` and ``Qed.``)."""
        return f"{self.script}."


#: The decision procedures for arithmetic every proof's imports provide, in the
#: order they are tried; the portfolio chains them and the prover's closer
#: (:data:`fansi.formal.prover.CLOSER`) tries them on every open goal.
ARITH_DECIDERS: tuple[str, ...] = ("lia", "nia", "lra", "nra")
_ARITH = " || ".join(ARITH_DECIDERS)

#: The portfolio, cheapest and most often useful first.
PORTFOLIO: tuple[Tactic, ...] = (
    Tactic("reflexivity", "intros; reflexivity"),
    Tactic("easy", "intros; easy"),
    Tactic("lia", "intros; lia"),
    Tactic("lra", "intros; lra"),
    Tactic("ring", "intros; ring"),
    Tactic("field", "intros; field; lra"),
    Tactic("nia", "intros; nia"),
    Tactic("nra", "intros; nra"),
    Tactic("subst-simpl-lia", "intros; subst; simpl in *; lia"),
    Tactic("subst-simpl-nia", "intros; subst; simpl in *; nia"),
    Tactic("simpl-lra", "intros; subst; simpl in *; lra"),
    Tactic("simpl-nra", "intros; subst; simpl in *; nra"),
    Tactic("split-arith", f"intros; repeat split; ({_ARITH})"),
    Tactic("intuition-arith", f"intros; intuition ({_ARITH})"),
    Tactic("field-simplify-nra", "intros; field_simplify; nra"),
    Tactic("rabs-arith", "intros; unfold Rabs in *; repeat match goal with "
           "| |- context [Rcase_abs ?x] => destruct (Rcase_abs x) "
           "| _ : context [Rcase_abs ?x] |- _ => destruct (Rcase_abs x) end; "
           "(lra || nra)"),
    Tactic("vm-compute", "intros; vm_compute; reflexivity"),
    Tactic("compute-lia", "intros; compute in *; lia"),
    Tactic("congruence", "intros; congruence"),
    Tactic("tauto", "intros; tauto"),
    Tactic("firstorder", "firstorder"),
    Tactic("auto", "intros; auto with *"),
    Tactic("interval", "intros; interval", INTERVAL_IMPORTS),
    Tactic("split-interval", "intros; repeat split; interval", INTERVAL_IMPORTS),
)

Screen = Literal["passed", "failed", "error", "timeout", "skipped"]


@dataclass(frozen=True)
class TacticOutcome:
    """What one portfolio script did on one theorem.

    Attributes:
        name: The script's name.
        screen: ``passed`` (it closed the goal in the screen), ``failed``,
            ``error`` (it broke the screening run), ``timeout`` or ``skipped``
            (not screened: an earlier group already proved the theorem).
        check: The kernel check, for the scripts that were checked.
    """

    name: str
    screen: Screen
    check: KernelResult | None = None


@dataclass(frozen=True)
class PortfolioResult:
    """The portfolio's result on one theorem.

    Attributes:
        proved: Whether a script passed the kernel check.
        tactic: The accepted script's name, or None.
        proof: The accepted proof text, or None.
        imports: The imports the accepted proof was checked with.
        outcomes: One entry per script, in portfolio order.
        seconds: Wall time of the screens and checks.
    """

    proved: bool
    tactic: str | None
    proof: str | None
    imports: str
    outcomes: tuple[TacticOutcome, ...]
    seconds: float


def _imports(tactic: Tactic) -> str:
    return proof_imports(tactic.imports)


_MARK = re.compile(r"FANSI-SCREEN (\d+) (ok|no)")


_LINE = re.compile(r'File "[^"]*", line (\d+)')


def _screen_once(theorem: Theorem, tactics: Sequence[Tactic], imports: str,
                 timeout_s: int, coq: Coq, memory_mb: int) -> tuple[dict[int, Screen], bool,
                                                                   int | None]:
    """One screening run.

    Returns:
        What was printed, whether the run timed out, and the index of the
        script an error was reported on (None: no error, or not on a script).
    """
    probe = dataclasses.replace(theorem, name="fansi_screen")
    lines = [*theorem.context.rstrip().split("\n"), "", *imports.split("\n"), "",
             *probe.header.split("\n"), "Proof."]
    first_line = len(lines) + 1
    for index, tactic in enumerate(tactics):
        script = " ".join(tactic.script.split())
        lines.append(f'tryif assert_succeeds (timeout {timeout_s} (solve [ {script} ])) '
                     f'then idtac "FANSI-SCREEN {index} ok" '
                     f'else idtac "FANSI-SCREEN {index} no".')
    lines.extend(["Abort.", ""])
    limits = Limits(seconds=15 + len(tactics) * (timeout_s + 1), memory_mb=memory_mb)
    with tempfile.TemporaryDirectory(prefix="fansi-screen-") as scratch:
        directory = Path(scratch)
        (directory / "Screen.v").write_text("\n".join(lines), encoding="utf-8")
        run = run_limited([coq.coqc, "-q", "-Q", ".", ROOT, "Screen.v"], cwd=directory,
                          limits=limits, name="screen")
    marks: dict[int, Screen] = {}
    for match in _MARK.finditer(run.stdout):
        marks[int(match.group(1))] = "passed" if match.group(2) == "ok" else "failed"
    located = _LINE.search(run.stderr)
    failing = None
    if located is not None and 0 <= int(located.group(1)) - first_line < len(tactics):
        failing = int(located.group(1)) - first_line
    return marks, run.timed_out, failing


def screen(theorem: Theorem, tactics: Sequence[Tactic], *, tactic_timeout_s: int = 3,
           memory_mb: int = 4096, coq: Coq | None = None) -> list[Screen]:
    """Screen ``tactics`` on ``theorem``, grouped by their imports.

    Returns:
        One screen verdict per tactic, in order.
    """
    coq = coq or find_coq()
    verdicts: list[Screen] = ["skipped"] * len(tactics)
    groups: dict[str, list[int]] = {}
    for index, tactic in enumerate(tactics):
        groups.setdefault(_imports(tactic), []).append(index)
    for imports, members in groups.items():
        pending = list(members)
        while pending:
            marks, timed_out, failing = _screen_once(
                theorem, [tactics[i] for i in pending], imports, tactic_timeout_s, coq,
                memory_mb)
            for position, verdict in marks.items():
                verdicts[pending[position]] = verdict
            if len(marks) == len(pending):
                break
            broken = min(set(range(len(pending))) - marks.keys())
            if not timed_out and failing != broken:
                # The error is not on a script: the statement itself does not
                # elaborate with these imports.
                for index in pending[broken:]:
                    verdicts[index] = "error"
                break
            # The run broke on one script: note it and go on after it.
            verdicts[pending[broken]] = "timeout" if timed_out else "error"
            pending = pending[broken + 1:]
    return verdicts


def run_portfolio(
    theorem: Theorem,
    *,
    tactics: Sequence[Tactic] = PORTFOLIO,
    tactic_timeout_s: int = 3,
    limits: Limits | None = None,
    coq: Coq | None = None,
) -> PortfolioResult:
    """Try the portfolio on ``theorem``: screen every script, then kernel-check the passing ones.

    Blocking; call it in a thread from async code.

    Args:
        theorem: The theorem to prove.
        tactics: The scripts to try, in order of preference.
        tactic_timeout_s: Coq's ``timeout`` for each script in the screen.
        limits: Limits for each kernel-check program run.
        coq: The Coq to use; None finds it on PATH.

    Returns:
        Whether a script was accepted, which, and what every script did.

    Raises:
        ConfigError: If Coq is not installed.
    """
    coq = coq or find_coq()
    limits = limits or Limits()
    start = time.perf_counter()
    verdicts = screen(theorem, tactics, tactic_timeout_s=tactic_timeout_s,
                      memory_mb=limits.memory_mb, coq=coq)
    outcomes = [TacticOutcome(tactic.name, verdict)
                for tactic, verdict in zip(tactics, verdicts, strict=True)]
    for index, tactic in enumerate(tactics):
        if verdicts[index] != "passed":
            continue
        result = check_proof(theorem, tactic.proof, imports=_imports(tactic),
                             limits=limits, coq=coq)
        outcomes[index] = dataclasses.replace(outcomes[index], check=result)
        if result.accepted:
            return PortfolioResult(True, tactic.name, tactic.proof, _imports(tactic),
                                   tuple(outcomes), time.perf_counter() - start)
    return PortfolioResult(False, None, None, "", tuple(outcomes), time.perf_counter() - start)


__all__ = [
    "INTERVAL_IMPORTS",
    "PORTFOLIO",
    "PortfolioResult",
    "Screen",
    "Tactic",
    "TacticOutcome",
    "run_portfolio",
    "screen",
]
