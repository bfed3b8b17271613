"""The engine: the steps of the loop, the search controller, budgets, confidence.

The four steps (generate, verify, meta-check, refine) live in
:mod:`fansi.engine.steps`.
"""

from __future__ import annotations

from fansi.engine.steps import generate, meta_check, refine, reweigh, verify

__all__ = ["generate", "meta_check", "refine", "reweigh", "verify"]
