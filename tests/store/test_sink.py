"""Record sinks: the store is one, and a memory sink replays into it unchanged."""

from __future__ import annotations

import re
from pathlib import Path

from fansi.records import Candidate, CheckResult, MetaCheck, Problem, Verification
from fansi.store import MemorySink, RecordSink, Store


def write_a_run(sink: RecordSink, run_id: str) -> list[object]:
    """What the engine does: write records as it makes them, some without ids."""
    candidate = sink.add_candidate(run_id, Candidate("", "x = 3", "sure", 1.0, "3"))
    verification = sink.add_verification(
        run_id, Verification("", candidate.id, 1.0, (), "raw", p_scores=(0.0, 0.25, 0.75))
    )
    meta_check = sink.add_meta_check(run_id, MetaCheck("m1", verification.id, 0, True, "raw"))
    check = sink.add_check(run_id, CheckResult("k1", candidate.id, "answer", "answer", True))
    return [candidate, verification, meta_check, check]


def test_a_memory_sink_keeps_records_in_order_with_ids() -> None:
    sink = MemorySink()
    written = write_a_run(sink, "r1")
    assert sink.records == [("r1", record) for record in written]
    candidate, verification = written[:2]
    assert isinstance(candidate, Candidate) and isinstance(verification, Verification)
    assert re.fullmatch(r"[0-9a-f]{12}", candidate.id)
    assert verification.candidate_id == candidate.id


def test_a_replayed_memory_sink_stores_what_the_store_would_have(tmp_path: Path) -> None:
    worker = MemorySink()
    with Store.open(tmp_path / "fansi.db") as store:
        run_id = store.create_run(Problem("Find x."), settings={}, fansi_version="0", model="m")
        candidate, verification, meta_check, check = write_a_run(worker, run_id)
        worker.replay(store)
        worker.replay(store)  # a driver that receives a batch twice stores it once
        assert store.candidates(run_id) == [candidate]
        assert store.verifications(run_id) == [verification]
        assert store.meta_checks(run_id) == [meta_check]
        assert store.checks(run_id) == [check]


def test_a_memory_sink_replays_into_another_sink() -> None:
    worker, driver = MemorySink(), MemorySink()
    write_a_run(worker, "r1")
    worker.replay(driver)
    assert driver.records == worker.records
