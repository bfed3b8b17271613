"""The run store: runs, problems, candidates, verifications, checks and calls.

Every write commits before its method returns, so a process killed right
after loses nothing. Adding a record whose id is already stored does nothing:
a resumed run replays its steps and writes the same records again. How each
record maps to its row is :mod:`fansi.store.rows`.

Threading: a :class:`Store` belongs to the thread that opened it. The engine
calls it straight from the event loop; each call is one short statement and,
with WAL and ``synchronous=NORMAL``, a commit does not wait for the disk. A
second thread (or process) opens its own ``Store`` on the same file.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from fansi.errors import StoreError
from fansi.records import (
    Candidate,
    CheckResult,
    Completion,
    MetaCheck,
    Problem,
    Verification,
)
from fansi.store.db import connect, transaction, translate_errors
from fansi.store.rows import (
    CANDIDATES,
    CHECKS,
    META_CHECKS,
    VERIFICATIONS,
    CallRecord,
    RecordT,
    RunRecord,
    RunStatus,
    RunSummary,
    Table,
    call_record,
    call_row,
    completion,
    dump,
    new_id,
    run_record,
    run_summary,
    with_id,
)

#: Statuses a run can be resumed from: ``running`` is what a killed run leaves.
UNFINISHED: tuple[RunStatus, ...] = ("running", "interrupted")

#: Settings never written to disk.
SECRET_SETTINGS = frozenset({"api_key"})


@dataclass(frozen=True)
class VerificationNode:
    verification: Verification
    meta_checks: tuple[MetaCheck, ...]


@dataclass(frozen=True)
class CandidateNode:
    candidate: Candidate
    verifications: tuple[VerificationNode, ...]
    #: The executed checks of the candidate, in the order they were added.
    checks: tuple[CheckResult, ...] = ()


@dataclass(frozen=True)
class RunTree:
    """A whole run for ``fansi show``. ``records.to_dict`` turns it into JSON."""

    run: RunRecord
    problem: Problem
    candidates: tuple[CandidateNode, ...]


class Store:
    """The durable record of runs and backend calls, in one SQLite file.

    Open it with :meth:`open`; use it as a context manager or call
    :meth:`close`. Every method raises :class:`~fansi.errors.StoreError` when
    the database cannot be used. It is a :class:`~fansi.store.RecordSink`.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._conn.row_factory = sqlite3.Row
        self.path = path

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """Open the store at ``path``, creating its folder and migrating its schema.

        Raises:
            StoreError: The file is not a fansi store, or one from a newer fansi.
        """
        path = Path(path).expanduser()
        return cls(connect(path), path)

    def close(self) -> None:
        """Close the connection. Closing twice is harmless."""
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _rows(self, action: str, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with translate_errors(action):
            return self._conn.execute(sql, args).fetchall()

    def _write(self, action: str, sql: str, args: Sequence[Any] = ()) -> int:
        with translate_errors(action):
            return self._conn.execute(sql, args).rowcount

    def _insert(self, table: str, row: Mapping[str, Any], unique: str = "id") -> None:
        # Table and column names come from this package, never from input.
        self._write(
            f"add a row to {table}",
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
            f" ON CONFLICT ({unique}) DO NOTHING",
            tuple(row.values()),
        )

    # Runs

    def create_run(
        self,
        problem: Problem,
        *,
        settings: Mapping[str, Any],
        fansi_version: str,
        model: str,
        model_checksum: str | None = None,
        run_id: str | None = None,
    ) -> str:
        """Record a new run, in status ``running``, and its problem.

        Args:
            problem: The problem; it is stored under ``problem.id``, or a new id.
            settings: The resolved settings as JSON-ready data, e.g.
                ``Settings.model_dump(mode="json")``. Secrets are left out.
            fansi_version: The package version that runs it.
            model: The model spec or name.
            model_checksum: The model file's sha256, when there is a file.
            run_id: The run's id; a new one when not given.

        Returns:
            The run id.
        """
        run_id = run_id or new_id()
        kept = {k: v for k, v in settings.items() if k not in SECRET_SETTINGS}
        with translate_errors(f"create run {run_id}"), transaction(self._conn) as conn:
            problem_id = self._problem_id(problem)
            conn.execute(
                "INSERT INTO problems (id, text, answer, digest) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (id) DO NOTHING",
                (problem_id, problem.text, problem.answer, problem.digest()),
            )
            conn.execute(
                "INSERT INTO runs (id, settings_json, fansi_version, model, model_checksum,"
                " problem_id) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, dump(kept), fansi_version, model, model_checksum, problem_id),
            )
        return run_id

    def _problem_id(self, problem: Problem) -> str:
        """The id to store ``problem`` under: its own, a stored twin's, or a new one.

        Reusing a twin's id lets every run of one problem point at one row.
        """
        rows = self._conn.execute(
            "SELECT id, text, answer FROM problems WHERE id = ? OR (? = '' AND digest = ?)",
            (problem.id, problem.id, problem.digest()),
        ).fetchall()
        for row in rows:
            same = (row["text"], row["answer"]) == (problem.text, problem.answer)
            if row["id"] == problem.id and not same:
                raise StoreError(f"problem {problem.id} is already stored with another text")
            if same:
                return str(row["id"])
        return problem.id or new_id()

    def set_run_status(
        self,
        run_id: str,
        status: RunStatus,
        *,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """Set a run's status, result and error (``None`` clears them).

        Raises:
            StoreError: There is no such run, or the status is not a known one.
        """
        changed = self._write(
            f"set the status of run {run_id}",
            "UPDATE runs SET status = ?, result_json = ?, error = ? WHERE id = ?",
            (status, None if result is None else dump(result), error, run_id),
        )
        if not changed:
            raise StoreError(f"there is no run {run_id}")

    def run(self, run_id: str) -> RunRecord | None:
        """The run with this id, or ``None``."""
        rows = self._rows(f"read run {run_id}", "SELECT * FROM runs WHERE id = ?", (run_id,))
        return run_record(rows[0]) if rows else None

    def problem(self, problem_id: str) -> Problem | None:
        """The problem with this id, or ``None``."""
        rows = self._rows(
            f"read problem {problem_id}", "SELECT * FROM problems WHERE id = ?", (problem_id,)
        )
        if not rows:
            return None
        return Problem(text=rows[0]["text"], answer=rows[0]["answer"], id=rows[0]["id"])

    def runs(self, *, limit: int | None = None, unfinished: bool = False) -> list[RunSummary]:
        """Runs, newest first.

        Args:
            limit: At most this many; all when ``None``.
            unfinished: Only runs that can be resumed (``running`` or ``interrupted``).
        """
        where = f"WHERE r.status IN ({', '.join('?' * len(UNFINISHED))})" if unfinished else ""
        rows = self._rows(
            "list runs",
            "SELECT r.id, r.created_at, r.status, r.model, r.problem_id, p.text"
            f" FROM runs r JOIN problems p ON p.id = r.problem_id {where}"
            " ORDER BY r.created_at DESC, r.rowid DESC LIMIT ?",
            (*(UNFINISHED if unfinished else ()), -1 if limit is None else limit),
        )
        return [run_summary(row) for row in rows]

    def unfinished_runs(self) -> list[RunSummary]:
        """Runs that did not finish (killed or interrupted), newest first, for resume."""
        return self.runs(unfinished=True)

    def run_tree(self, run_id: str) -> RunTree | None:
        """The whole run: its problem, candidates, their checks, verifications and meta-checks."""
        run = self.run(run_id)
        if run is None:
            return None
        problem = self.problem(run.problem_id)
        if problem is None:  # foreign keys make this unreachable short of manual surgery
            raise StoreError(f"run {run_id} refers to a missing problem {run.problem_id}")
        meta_checks: dict[str, list[MetaCheck]] = {}
        for meta_check in self.meta_checks(run_id):
            meta_checks.setdefault(meta_check.verification_id, []).append(meta_check)
        verifications: dict[str, list[VerificationNode]] = {}
        for verification in self.verifications(run_id):
            node = VerificationNode(verification, tuple(meta_checks.get(verification.id, ())))
            verifications.setdefault(verification.candidate_id, []).append(node)
        checks: dict[str, list[CheckResult]] = {}
        for check in self.checks(run_id):
            checks.setdefault(check.candidate_id, []).append(check)
        candidates = tuple(
            CandidateNode(
                candidate,
                tuple(verifications.get(candidate.id, ())),
                tuple(checks.get(candidate.id, ())),
            )
            for candidate in self.candidates(run_id)
        )
        return RunTree(run=run, problem=problem, candidates=candidates)

    # Candidates, verifications, meta-checks, checks: added as they are made,
    # replayed on resume.

    def _add(self, table: Table[RecordT], run_id: str, record: RecordT) -> RecordT:
        record = with_id(record)
        self._insert(table.name, table.to_row(run_id, record))
        return record

    def _read(self, table: Table[RecordT], run_id: str, value: str | None = None) -> list[RecordT]:
        """The run's rows of ``table``, only those whose ``table.by`` is ``value`` if given."""
        rows = self._rows(
            f"read {table.name} of run {run_id}",
            f"SELECT * FROM {table.name} WHERE run_id = ? AND (? IS NULL OR {table.by} = ?)"
            " ORDER BY rowid",
            (run_id, value, value),
        )
        return [table.from_row(row) for row in rows]

    def add_candidate(self, run_id: str, candidate: Candidate) -> Candidate:
        """Store a candidate (under a new id if it has none); a stored id is left as it is.

        Returns:
            The candidate as stored, with its id.
        """
        return self._add(CANDIDATES, run_id, candidate)

    def candidates(self, run_id: str) -> list[Candidate]:
        """A run's candidates, in the order they were added."""
        return self._read(CANDIDATES, run_id)

    def add_verification(self, run_id: str, verification: Verification) -> Verification:
        """Store a verification (under a new id if it has none); a stored id is left as it is.

        Returns:
            The verification as stored, with its id.
        """
        return self._add(VERIFICATIONS, run_id, verification)

    def verifications(self, run_id: str, candidate_id: str | None = None) -> list[Verification]:
        """A run's verifications (of one candidate, if given), in the order they were added."""
        return self._read(VERIFICATIONS, run_id, candidate_id)

    def add_meta_check(self, run_id: str, check: MetaCheck) -> MetaCheck:
        """Store a meta-check (under a new id if it has none); a stored id is left as it is.

        Returns:
            The meta-check as stored, with its id.
        """
        return self._add(META_CHECKS, run_id, check)

    def meta_checks(self, run_id: str, verification_id: str | None = None) -> list[MetaCheck]:
        """A run's meta-checks (of one verification, if given), in the order they were added."""
        return self._read(META_CHECKS, run_id, verification_id)

    def add_check(self, run_id: str, check: CheckResult) -> CheckResult:
        """Store an executed check (under a new id if it has none); a stored id is left as it is.

        Returns:
            The check as stored, with its id.
        """
        return self._add(CHECKS, run_id, check)

    def checks(self, run_id: str, candidate_id: str | None = None) -> list[CheckResult]:
        """A run's executed checks (of one candidate, if given), in the order they were added."""
        return self._read(CHECKS, run_id, candidate_id)

    # Calls (the cache itself is fansi.store.cache.CachedBackend)

    def cached_completion(self, cache_key: str) -> Completion | None:
        """The successful call stored under ``cache_key``, marked ``cached``, or ``None``.

        It comes back as it was made, log-probabilities included.
        """
        rows = self._rows(
            "read the call cache", "SELECT * FROM calls WHERE cache_key = ?", (cache_key,)
        )
        stored = completion(rows[0]) if rows else None
        return dataclasses.replace(stored, cached=True) if stored else None

    def add_call(self, call: CallRecord) -> None:
        """Store one backend call. A second call with the same cache key is not stored."""
        self._insert("calls", call_row(call), unique="cache_key")

    def calls(self, run_id: str | None = None) -> list[CallRecord]:
        """Stored calls (of one run, if given), oldest first."""
        rows = self._rows(
            "read the stored calls",
            "SELECT * FROM calls WHERE (? IS NULL OR run_id = ?) ORDER BY id",
            (run_id, run_id),
        )
        return [call_record(row) for row in rows]


__all__ = [
    "SECRET_SETTINGS",
    "UNFINISHED",
    "CandidateNode",
    "RunTree",
    "Store",
    "VerificationNode",
]
