"""The service's jobs: what was asked, where each job stands, and the events it reported.

A job is one request to the HTTP service (``fansi serve``), and its id is the
id of the run it makes. It is ``queued`` until a worker takes it, ``running``
while the engine works on it, and then ``finished``, ``failed`` or
``cancelled``. A service that starts again runs its queued and running jobs
again; the call cache makes that cheap.

Events are numbered per job from 1 and kept, so a client that lost its event
stream asks for the events after the last number it saw (``Last-Event-ID``).

The jobs live in the store's file and use the store's connection, so they
follow its rules: every write commits before the method returns, and the
process that owns the store (the service) is the one that writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from fansi.errors import StoreError
from fansi.store.db import translate_errors
from fansi.store.rows import PREVIEW_CHARS, RunStatus, dump, valid
from fansi.store.runs import Store

JobStatus = Literal["queued", "running", "finished", "failed", "cancelled"]
JOB_STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)
#: Statuses a job does not leave by itself.
TERMINAL: tuple[JobStatus, ...] = ("finished", "failed", "cancelled")
#: Statuses a service that starts again picks up.
RESUMABLE: tuple[JobStatus, ...] = ("queued", "running")


@dataclass(frozen=True)
class JobRecord:
    """One job: its request (JSON-ready), where it stands, and its error if it failed."""

    id: str
    created_at: str
    updated_at: str
    status: JobStatus
    request: Mapping[str, Any]
    error: str | None


@dataclass(frozen=True)
class JobEvent:
    """One stored event of a job; ``seq`` counts from 1 within the job."""

    job_id: str
    seq: int
    kind: str
    data: Mapping[str, Any]
    created_at: str


@dataclass(frozen=True)
class Listed:
    """One row of the service's list: a job, a run, or both (same id)."""

    id: str
    created_at: str
    job_status: JobStatus | None
    run_status: RunStatus | None
    model: str | None
    problem_preview: str
    result: Mapping[str, Any] | None
    error: str | None


def _job(row: sqlite3.Row) -> JobRecord:
    where = f"job {row['id']}"
    return JobRecord(
        id=row["id"], created_at=row["created_at"], updated_at=row["updated_at"],
        status=_status(row["status"], where), request=valid("object", row["request_json"], where),
        error=row["error"],
    )


def _status(value: str, where: str) -> JobStatus:
    if value not in JOB_STATUSES:
        raise StoreError(f"the store holds an unreadable status {value!r} of {where}")
    return value


class Jobs:
    """The jobs table and the job events, on an open :class:`Store`'s connection.

    It belongs to the thread that opened the store, as the store does.
    """

    def __init__(self, store: Store) -> None:
        # The store's own connection: one writer, one transaction order.
        self._conn = store._conn

    def _rows(self, action: str, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with translate_errors(action):
            return self._conn.execute(sql, args).fetchall()

    def _write(self, action: str, sql: str, args: Sequence[Any] = ()) -> int:
        with translate_errors(action):
            return self._conn.execute(sql, args).rowcount

    def add(self, job_id: str, request: Mapping[str, Any]) -> JobRecord:
        """Queue a new job, or queue again the job with this id (its events are kept).

        Returns:
            The job as stored, in status ``queued``.
        """
        self._write(
            f"queue job {job_id}",
            "INSERT INTO jobs (id, request_json) VALUES (?, ?) ON CONFLICT (id) DO UPDATE"
            " SET status = 'queued', request_json = excluded.request_json, error = NULL,"
            " updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            (job_id, dump(request)),
        )
        job = self.get(job_id)
        assert job is not None
        return job

    def set_status(self, job_id: str, status: JobStatus, *, error: str | None = None) -> None:
        """Move a job to ``status`` (``error`` is kept for a failed one, else cleared)."""
        self._write(
            f"set the status of job {job_id}",
            "UPDATE jobs SET status = ?, error = ?,"
            " updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
            (status, error, job_id),
        )

    def get(self, job_id: str) -> JobRecord | None:
        """The job with this id, or ``None``."""
        rows = self._rows(f"read job {job_id}", "SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def with_status(self, *statuses: JobStatus) -> list[JobRecord]:
        """Jobs in any of ``statuses``, oldest first (the order they are run in)."""
        rows = self._rows(
            "list jobs",
            f"SELECT * FROM jobs WHERE status IN ({', '.join('?' * len(statuses))})"
            " ORDER BY created_at, rowid",
            statuses,
        )
        return [_job(row) for row in rows]

    def count(self, status: JobStatus) -> int:
        rows = self._rows("count jobs", "SELECT count(*) FROM jobs WHERE status = ?", (status,))
        return int(rows[0][0])

    def add_event(self, job_id: str, kind: str, data: Mapping[str, Any]) -> int:
        """Store one event of a job under the next number, and return the number."""
        rows = self._rows(
            f"add an event of job {job_id}",
            "INSERT INTO job_events (job_id, seq, kind, data_json)"
            " SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ? FROM job_events WHERE job_id = ?"
            " RETURNING seq",
            (job_id, kind, dump(data), job_id),
        )
        return int(rows[0][0])

    def events(self, job_id: str, *, after: int = 0, limit: int = 500) -> list[JobEvent]:
        """A job's events numbered above ``after``, in order, at most ``limit``."""
        rows = self._rows(
            f"read the events of job {job_id}",
            "SELECT * FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (job_id, after, limit),
        )
        return [JobEvent(job_id, int(r["seq"]), r["kind"],
                         valid("object", r["data_json"], f"event {r['seq']} of job {job_id}"),
                         r["created_at"]) for r in rows]

    def listed(self, run_id: str) -> Listed | None:
        """The list's row of one job or run, or ``None``."""
        rows = self.listing(only=run_id, limit=1)
        return rows[0] if rows else None

    def listing(self, *, query: str = "", limit: int = 50, offset: int = 0,
                only: str | None = None) -> list[Listed]:
        """Jobs and runs together, newest first; ``query`` matches the problem
        text (case-insensitively) or the start of the id; ``only`` picks one id."""
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._rows(
            "list the jobs and runs",
            """
            WITH ids AS (
                SELECT id, MIN(created_at) AS created_at FROM (
                    SELECT id, created_at FROM jobs WHERE ? IS NULL OR id = ?
                    UNION ALL
                    SELECT id, created_at FROM runs WHERE ? IS NULL OR id = ?
                ) GROUP BY id
            )
            SELECT * FROM (
                SELECT ids.id, ids.created_at, j.status AS job_status, r.status AS run_status,
                       r.model, r.result_json, COALESCE(j.error, r.error) AS error,
                       COALESCE(p.text, json_extract(j.request_json, '$.request.problem'), '')
                           AS problem_text
                FROM ids
                LEFT JOIN jobs j ON j.id = ids.id
                LEFT JOIN runs r ON r.id = ids.id
                LEFT JOIN problems p ON p.id = r.problem_id
            )
            WHERE (? = '' OR problem_text LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\')
            ORDER BY created_at DESC, id
            LIMIT ? OFFSET ?
            """,
            (only, only, only, only, query, pattern, pattern[1:], limit, offset),
        )
        listed = []
        for row in rows:
            where = f"run {row['id']}"
            text = " ".join(str(row["problem_text"]).split())
            preview = text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
            listed.append(Listed(
                id=row["id"], created_at=row["created_at"],
                job_status=None if row["job_status"] is None
                else _status(row["job_status"], where),
                run_status=None if row["run_status"] is None
                else valid("status", row["run_status"], where, is_json=False),
                model=row["model"], problem_preview=preview,
                result=None if row["result_json"] is None
                else valid("object", row["result_json"], where),
                error=row["error"],
            ))
        return listed


__all__ = ["JOB_STATUSES", "RESUMABLE", "TERMINAL", "JobEvent", "JobRecord", "JobStatus", "Jobs",
           "Listed"]
