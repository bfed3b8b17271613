"""The evaluation harness: accuracy, verifier quality, proofs, scaling and calibration.

- :mod:`fansi.evals.data`: loaders for the benchmark files and the seeded,
  stratified ``--limit`` subset.
- :mod:`fansi.evals.harness`: :func:`~fansi.evals.harness.run_eval`, the
  resumable loop behind ``fansi eval TASK``.
- ``tasks_answers``, ``tasks_verifier``, ``tasks_proofs``, ``tasks_formal``: what
  one item of each kind of task runs and how its rows are summarised.
- :mod:`fansi.evals.metrics` and :mod:`fansi.evals.calibration`: the numbers
  (Wilson intervals, F1, ECE, Pearson; isotonic calibration and its storage).
- :mod:`fansi.evals.report` and :mod:`fansi.evals.plots`: ``report.md``,
  ``summary.json``, the PNGs, and ``fansi eval compare``.

Importing this package is cheap; the modules above are imported when used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["answers", "verifier", "proofs", "formal"]


@dataclass(frozen=True)
class Task:
    """A benchmark task: its kind, how it is titled, stratified and described."""

    name: str
    kind: Kind
    title: str
    strata: str
    short: str


TASKS: dict[str, Task] = {t.name: t for t in (
    Task("gsm8k", "answers", "GSM8K", "one stratum",
         "GSM8K: one sample vs majority vote vs fansi."),
    Task("math500", "answers", "MATH-500", "subject and level",
         "MATH-500: one sample vs majority vote vs fansi."),
    Task("aime24", "answers", "AIME 2024", "one stratum",
         "AIME 2024: one sample vs majority vote vs fansi."),
    Task("processbench", "verifier", "ProcessBench", "label (correct / wrong)",
         "ProcessBench: does the verifier find the first wrong step?"),
    Task("gsm8k-solutions", "verifier", "GSM8K model solutions", "label (correct / wrong)",
         "GSM8K model solutions: does the verifier flag the wrong ones?"),
    Task("imo-proofbench", "proofs", "IMO-ProofBench", "category and level",
         "IMO-ProofBench: fansi's proofs, graded 0-7."),
    Task("minif2f", "formal", "miniF2F (Coq)", "competition (file name)",
         "miniF2F in Coq: the portfolio, what the model adds, 1/2/4 attempts."),
)}

__all__ = ["TASKS", "Kind", "Task"]
