"""The run store: runs, problems, candidates, verifications, meta-checks and calls.

Every write commits before its method returns, so a process killed right
after loses nothing. Adding a record whose id is already stored does nothing:
a resumed run replays its steps and writes the same records again.

Threading: a :class:`Store` belongs to the thread that opened it. The engine
calls it straight from the event loop; each call is one short statement and,
with WAL and ``synchronous=NORMAL``, a commit does not wait for the disk. A
second thread (or process) opens its own ``Store`` on the same file.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from fansi.errors import StoreError
from fansi.records import (
    Candidate,
    Completion,
    GenerateParams,
    Issue,
    Message,
    MetaCheck,
    Problem,
    StopReason,
    Usage,
    Verification,
    to_dict,
)
from fansi.store.db import connect, transaction, translate_errors

if TYPE_CHECKING:
    from pydantic import TypeAdapter

RunStatus = Literal["running", "done", "failed", "interrupted"]

#: Statuses a run can be resumed from: ``running`` is what a killed run leaves.
UNFINISHED: tuple[RunStatus, ...] = ("running", "interrupted")

#: Settings never written to disk.
SECRET_SETTINGS = frozenset({"api_key"})

PREVIEW_CHARS = 80


def new_id() -> str:
    """A short random hex id (12 characters)."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class RunSummary:
    """One line of ``fansi runs``."""

    id: str
    created_at: str
    status: RunStatus
    model: str
    problem_id: str
    problem_preview: str


@dataclass(frozen=True)
class RunRecord:
    """A run row: what was asked, with which settings and model, and how it ended."""

    id: str
    created_at: str
    status: RunStatus
    settings: Mapping[str, Any]
    fansi_version: str
    model: str
    model_checksum: str | None
    problem_id: str
    result: Mapping[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class VerificationNode:
    verification: Verification
    meta_checks: tuple[MetaCheck, ...]


@dataclass(frozen=True)
class CandidateNode:
    candidate: Candidate
    verifications: tuple[VerificationNode, ...]


@dataclass(frozen=True)
class RunTree:
    """A whole run for ``fansi show``. ``records.to_dict`` turns it into JSON."""

    run: RunRecord
    problem: Problem
    candidates: tuple[CandidateNode, ...]


@dataclass(frozen=True)
class CallRecord:
    """One backend call as stored. ``error`` is set when the backend raised."""

    model: str
    messages: tuple[Message, ...]
    params: GenerateParams
    completion: Completion | None
    error: str | None = None
    run_id: str | None = None
    cache_key: str | None = None


# What is read back is validated: the file is a boundary that another fansi,
# or a person with the sqlite3 shell, may have written.
_KINDS: dict[str, Any] = {
    "ids": tuple[str, ...],
    "issues": tuple[Issue, ...],
    "messages": tuple[Message, ...],
    "object": dict[str, Any],
    "params": GenerateParams,
    "status": RunStatus,
    "stop_reason": StopReason,
}


@cache
def _adapter(kind: str) -> TypeAdapter[Any]:
    from pydantic import TypeAdapter

    return TypeAdapter(_KINDS[kind])


def _valid(kind: str, value: Any, where: str, *, is_json: bool = True) -> Any:
    """``value`` (JSON text unless ``is_json`` is false) checked as ``kind``; ``None`` stays."""
    from pydantic import ValidationError

    if value is None:
        return None
    adapter = _adapter(kind)
    try:
        return adapter.validate_json(value) if is_json else adapter.validate_python(value)
    except ValidationError as exc:
        raise StoreError(f"the store holds an unreadable {where}: {exc}") from exc


_Record = TypeVar("_Record", Candidate, Verification, MetaCheck)


def _with_id(record: _Record) -> _Record:
    return record if record.id else dataclasses.replace(record, id=new_id())


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _candidate(row: sqlite3.Row) -> Candidate:
    where = f"candidate {row['id']}"
    return Candidate(
        id=row["id"],
        solution=row["solution"],
        self_evaluation=row["self_evaluation"],
        self_score=row["self_score"],
        answer=row["answer"],
        parents=_valid("ids", row["parents_json"], where),
        answered=_valid("ids", row["answered_json"], where),
        round=row["round"],
        truncated=bool(row["truncated"]),
    )


def _verification(row: sqlite3.Row) -> Verification:
    return Verification(
        id=row["id"],
        candidate_id=row["candidate_id"],
        score=row["score"],
        issues=_valid("issues", row["issues_json"], f"verification {row['id']}"),
        raw=row["raw"],
        reason=row["reason"],
        weight=row["weight"],
    )


def _meta_check(row: sqlite3.Row) -> MetaCheck:
    return MetaCheck(
        id=row["id"],
        verification_id=row["verification_id"],
        issue_index=row["issue_index"],
        real=_bool(row["real"]),
        raw=row["raw"],
        reason=row["reason"],
    )


def _run(row: sqlite3.Row) -> RunRecord:
    where = f"run {row['id']}"
    return RunRecord(
        id=row["id"],
        created_at=row["created_at"],
        status=_valid("status", row["status"], where, is_json=False),
        settings=_valid("object", row["settings_json"], where),
        fansi_version=row["fansi_version"],
        model=row["model"],
        model_checksum=row["model_checksum"],
        problem_id=row["problem_id"],
        result=_valid("object", row["result_json"], where),
        error=row["error"],
    )


def _preview(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1] + "…"


class Store:
    """The durable record of runs and backend calls, in one SQLite file.

    Open it with :meth:`open`; use it as a context manager or call
    :meth:`close`. Every method raises :class:`~fansi.errors.StoreError` when
    the database cannot be used.
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
                (run_id, _dump(kept), fansi_version, model, model_checksum, problem_id),
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
            (status, None if result is None else _dump(result), error, run_id),
        )
        if not changed:
            raise StoreError(f"there is no run {run_id}")

    def run(self, run_id: str) -> RunRecord | None:
        """The run with this id, or ``None``."""
        rows = self._rows(f"read run {run_id}", "SELECT * FROM runs WHERE id = ?", (run_id,))
        return _run(rows[0]) if rows else None

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
        return [
            RunSummary(
                id=row["id"],
                created_at=row["created_at"],
                status=_valid("status", row["status"], f"run {row['id']}", is_json=False),
                model=row["model"],
                problem_id=row["problem_id"],
                problem_preview=_preview(row["text"]),
            )
            for row in rows
        ]

    def unfinished_runs(self) -> list[RunSummary]:
        """Runs that did not finish (killed or interrupted), newest first, for resume."""
        return self.runs(unfinished=True)

    def run_tree(self, run_id: str) -> RunTree | None:
        """The whole run: its problem, candidates, their verifications and meta-checks."""
        run = self.run(run_id)
        if run is None:
            return None
        problem = self.problem(run.problem_id)
        if problem is None:  # foreign keys make this unreachable short of manual surgery
            raise StoreError(f"run {run_id} refers to a missing problem {run.problem_id}")
        checks: dict[str, list[MetaCheck]] = {}
        for check in self.meta_checks(run_id):
            checks.setdefault(check.verification_id, []).append(check)
        verifications: dict[str, list[VerificationNode]] = {}
        for verification in self.verifications(run_id):
            node = VerificationNode(verification, tuple(checks.get(verification.id, ())))
            verifications.setdefault(verification.candidate_id, []).append(node)
        candidates = tuple(
            CandidateNode(candidate, tuple(verifications.get(candidate.id, ())))
            for candidate in self.candidates(run_id)
        )
        return RunTree(run=run, problem=problem, candidates=candidates)

    # Candidates, verifications, meta-checks: added as they are made, replayed on resume.

    def _insert(self, table: str, row: Mapping[str, Any], unique: str = "id") -> None:
        # Table and column names come from this module, never from input.
        self._write(
            f"add a row to {table}",
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
            f" ON CONFLICT ({unique}) DO NOTHING",
            tuple(row.values()),
        )

    def _of_run(self, table: str, run_id: str, column: str, value: str | None) -> list[Any]:
        return self._rows(
            f"read {table} of run {run_id}",
            f"SELECT * FROM {table} WHERE run_id = ? AND (? IS NULL OR {column} = ?)"
            " ORDER BY rowid",
            (run_id, value, value),
        )

    def add_candidate(self, run_id: str, candidate: Candidate) -> Candidate:
        """Store a candidate (under a new id if it has none); a stored id is left as it is.

        Returns:
            The candidate as stored, with its id.
        """
        candidate = _with_id(candidate)
        self._insert(
            "candidates",
            {
                "id": candidate.id,
                "run_id": run_id,
                "round": candidate.round,
                "parents_json": _dump(candidate.parents),
                "answered_json": _dump(candidate.answered),
                "solution": candidate.solution,
                "self_evaluation": candidate.self_evaluation,
                "self_score": candidate.self_score,
                "answer": candidate.answer,
                "truncated": int(candidate.truncated),
            },
        )
        return candidate

    def candidates(self, run_id: str) -> list[Candidate]:
        """A run's candidates, in the order they were added."""
        return [_candidate(row) for row in self._of_run("candidates", run_id, "id", None)]

    def add_verification(self, run_id: str, verification: Verification) -> Verification:
        """Store a verification (under a new id if it has none); a stored id is left as it is.

        Returns:
            The verification as stored, with its id.
        """
        verification = _with_id(verification)
        self._insert(
            "verifications",
            {
                "id": verification.id,
                "run_id": run_id,
                "candidate_id": verification.candidate_id,
                "score": verification.score,
                "issues_json": _dump([to_dict(issue) for issue in verification.issues]),
                "raw": verification.raw,
                "reason": verification.reason,
                "weight": verification.weight,
            },
        )
        return verification

    def verifications(self, run_id: str, candidate_id: str | None = None) -> list[Verification]:
        """A run's verifications (of one candidate, if given), in the order they were added."""
        rows = self._of_run("verifications", run_id, "candidate_id", candidate_id)
        return [_verification(row) for row in rows]

    def add_meta_check(self, run_id: str, check: MetaCheck) -> MetaCheck:
        """Store a meta-check (under a new id if it has none); a stored id is left as it is.

        Returns:
            The meta-check as stored, with its id.
        """
        check = _with_id(check)
        self._insert(
            "meta_checks",
            {
                "id": check.id,
                "run_id": run_id,
                "verification_id": check.verification_id,
                "issue_index": check.issue_index,
                "real": None if check.real is None else int(check.real),
                "raw": check.raw,
                "reason": check.reason,
            },
        )
        return check

    def meta_checks(self, run_id: str, verification_id: str | None = None) -> list[MetaCheck]:
        """A run's meta-checks (of one verification, if given), in the order they were added."""
        rows = self._of_run("meta_checks", run_id, "verification_id", verification_id)
        return [_meta_check(row) for row in rows]

    # Calls (the cache itself is fansi.store.cache.CachedBackend)

    def cached_completion(self, cache_key: str) -> Completion | None:
        """The successful call stored under ``cache_key``, marked ``cached``, or ``None``."""
        rows = self._rows(
            "read the call cache", "SELECT * FROM calls WHERE cache_key = ?", (cache_key,)
        )
        completion = _completion(rows[0]) if rows else None
        return dataclasses.replace(completion, cached=True) if completion else None

    def add_call(self, call: CallRecord) -> None:
        """Store one backend call. A second call with the same cache key is not stored."""
        done = call.completion
        self._insert(
            "calls",
            {
                "run_id": call.run_id,
                "cache_key": call.cache_key,
                "model": call.model,
                "messages_json": _dump([to_dict(m) for m in call.messages]),
                "params_json": call.params.key(),
                "error": call.error,
                "response_model": done and done.model,
                "text": done and done.text,
                "stop_reason": done and done.stop_reason,
                "prompt_tokens": done and done.usage.prompt_tokens,
                "completion_tokens": done and done.usage.completion_tokens,
                "latency_s": done and done.latency_s,
            },
            unique="cache_key",
        )

    def calls(self, run_id: str | None = None) -> list[CallRecord]:
        """Stored calls (of one run, if given), oldest first."""
        rows = self._rows(
            "read the stored calls",
            "SELECT * FROM calls WHERE (? IS NULL OR run_id = ?) ORDER BY id",
            (run_id, run_id),
        )
        return [
            CallRecord(
                model=row["model"],
                messages=_valid("messages", row["messages_json"], f"call {row['id']}"),
                params=_valid("params", row["params_json"], f"call {row['id']}"),
                completion=_completion(row),
                error=row["error"],
                run_id=row["run_id"],
                cache_key=row["cache_key"],
            )
            for row in rows
        ]


def _completion(row: sqlite3.Row) -> Completion | None:
    if row["text"] is None:
        return None
    return Completion(
        text=row["text"],
        stop_reason=_valid("stop_reason", row["stop_reason"], f"call {row['id']}", is_json=False),
        usage=Usage(row["prompt_tokens"] or 0, row["completion_tokens"] or 0),
        latency_s=row["latency_s"] or 0.0,
        model=row["response_model"] or row["model"],
    )


__all__ = [
    "PREVIEW_CHARS",
    "SECRET_SETTINGS",
    "UNFINISHED",
    "CallRecord",
    "CandidateNode",
    "RunRecord",
    "RunStatus",
    "RunSummary",
    "RunTree",
    "Store",
    "VerificationNode",
    "new_id",
]
