"""The durable store: runs, their records and the call cache, in one SQLite file.

``Store.open(settings.store_path)`` opens (and migrates) it; wrap a backend in
``CachedBackend(backend, store, run_id)`` so that no finished call is made twice.
The engine writes a run's records to a :class:`RecordSink`: the store itself,
or a :class:`MemorySink` that the store's one writer replays later.
"""

from __future__ import annotations

from fansi.store.cache import CachedBackend, cache_key
from fansi.store.db import SCHEMA_VERSION
from fansi.store.rows import CallRecord, RunRecord, RunStatus, RunSummary, new_id
from fansi.store.runs import UNFINISHED, CandidateNode, RunTree, Store, VerificationNode
from fansi.store.sink import MemorySink, RecordSink

__all__ = [
    "SCHEMA_VERSION",
    "UNFINISHED",
    "CachedBackend",
    "CallRecord",
    "CandidateNode",
    "MemorySink",
    "RecordSink",
    "RunRecord",
    "RunStatus",
    "RunSummary",
    "RunTree",
    "Store",
    "VerificationNode",
    "cache_key",
    "new_id",
]
