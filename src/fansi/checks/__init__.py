"""Deterministic checks, run in a killable, resource-limited subprocess pool.

``CheckPool`` runs a check function in a worker process under memory, CPU and
wall-clock limits; ``answers`` decides final-answer equivalence with Math-Verify
inside such a worker. Importing this package is cheap: Math-Verify and SymPy are
imported only by the workers.
"""

from __future__ import annotations

from fansi.checks.answers import cluster_answers, equivalent, normalize
from fansi.checks.pool import JSON, CheckPool, Isolation, JobResult, Status, register

__all__ = [
    "JSON",
    "CheckPool",
    "Isolation",
    "JobResult",
    "Status",
    "cluster_answers",
    "equivalent",
    "normalize",
    "register",
]
