"""The durable store: runs, their records and the call cache, in one SQLite file.

``Store.open(settings.store_path)`` opens (and migrates) it; wrap a backend in
``CachedBackend(backend, store, run_id)`` so that no finished call is made twice.
"""

from __future__ import annotations

from fansi.store.cache import CachedBackend, cache_key
from fansi.store.db import SCHEMA_VERSION
from fansi.store.runs import (
    UNFINISHED,
    CallRecord,
    CandidateNode,
    RunRecord,
    RunStatus,
    RunSummary,
    RunTree,
    Store,
    VerificationNode,
    new_id,
)

__all__ = [
    "SCHEMA_VERSION",
    "UNFINISHED",
    "CachedBackend",
    "CallRecord",
    "CandidateNode",
    "RunRecord",
    "RunStatus",
    "RunSummary",
    "RunTree",
    "Store",
    "VerificationNode",
    "cache_key",
    "new_id",
]
