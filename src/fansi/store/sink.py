"""Where the engine writes the records of a run: the store, or a list.

The engine needs only the four writes of :class:`RecordSink`. The store has a
single writer, so a worker that cannot write it (a Ray worker, a test) writes
to a :class:`MemorySink` and the one writer replays that into the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from fansi.records import Candidate, CheckResult, MetaCheck, Verification
from fansi.store.rows import RecordT, with_id

#: A record a sink takes.
SinkRecord = Candidate | Verification | MetaCheck | CheckResult


class RecordSink(Protocol):
    """The writes the engine makes as a run goes. :class:`~fansi.store.Store` is one.

    Each takes the run's id and a record, gives the record a new id if it has
    none, and returns it with its id.
    """

    def add_candidate(self, run_id: str, candidate: Candidate) -> Candidate: ...

    def add_verification(self, run_id: str, verification: Verification) -> Verification: ...

    def add_meta_check(self, run_id: str, check: MetaCheck) -> MetaCheck: ...

    def add_check(self, run_id: str, check: CheckResult) -> CheckResult: ...


class MemorySink:
    """A :class:`RecordSink` that keeps what it is given in a list, in order.

    A record added twice is kept twice; the store keeps the first on replay.

    Attributes:
        records: ``(run_id, record)`` pairs, oldest first.
    """

    def __init__(self) -> None:
        self.records: list[tuple[str, SinkRecord]] = []

    def _add(self, run_id: str, record: RecordT) -> RecordT:
        record = with_id(record)
        self.records.append((run_id, record))
        return record

    def add_candidate(self, run_id: str, candidate: Candidate) -> Candidate:
        return self._add(run_id, candidate)

    def add_verification(self, run_id: str, verification: Verification) -> Verification:
        return self._add(run_id, verification)

    def add_meta_check(self, run_id: str, check: MetaCheck) -> MetaCheck:
        return self._add(run_id, check)

    def add_check(self, run_id: str, check: CheckResult) -> CheckResult:
        return self._add(run_id, check)

    def replay(self, sink: RecordSink) -> None:
        """Write every record to ``sink`` in the order it came (a candidate
        before what refers to it), ids kept."""
        for run_id, record in self.records:
            match record:
                case Candidate():
                    sink.add_candidate(run_id, record)
                case Verification():
                    sink.add_verification(run_id, record)
                case MetaCheck():
                    sink.add_meta_check(run_id, record)
                case CheckResult():
                    sink.add_check(run_id, record)


if TYPE_CHECKING:
    from fansi.store.runs import Store

    # mypy holds both to the protocol.
    _STORE: type[RecordSink] = Store
    _MEMORY: type[RecordSink] = MemorySink


__all__ = ["MemorySink", "RecordSink", "SinkRecord"]
