"""The SQLite connection and the ordered schema migrations.

Every connection runs in WAL mode with a busy timeout and foreign keys on, so
that ``fansi show`` can read while a run writes, and two processes that open
the store at once wait for each other instead of failing.

The schema version lives in ``PRAGMA user_version``. Each migration is applied
in its own ``BEGIN IMMEDIATE`` transaction that also bumps the version, so a
migration is applied completely or not at all, and two processes that open a
fresh store at the same moment apply it once. A store written by a newer fansi
(a version above :data:`SCHEMA_VERSION`) is refused rather than guessed at.

Connections use ``isolation_level=None``: each statement commits on its own
unless it runs inside :func:`transaction`. That is what makes a write durable
the moment the method that made it returns.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from fansi.errors import StoreError

#: Seconds a connection waits for another process's write lock.
BUSY_TIMEOUT_S = 10.0

#: A migration is an ordered list of SQL statements run in one transaction.
Migration = tuple[str, ...]

_NOW = "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"

#: Append-only: a store in the field has run every entry it knows, so an entry
#: once released never changes (tests/store/test_migrations.py holds a digest
#: of each). A schema change is a new entry at the end.
MIGRATIONS: tuple[Migration, ...] = (
    # 1: the initial schema.
    (
        f"""
        CREATE TABLE problems (
            id TEXT PRIMARY KEY,
            text TEXT NOT NULL,
            answer TEXT,
            digest TEXT NOT NULL,
            created_at TEXT NOT NULL DEFAULT {_NOW}
        )
        """,
        "CREATE INDEX problems_digest ON problems(digest)",
        f"""
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL DEFAULT {_NOW},
            status TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
            settings_json TEXT NOT NULL,
            fansi_version TEXT NOT NULL,
            model TEXT NOT NULL,
            model_checksum TEXT,
            problem_id TEXT NOT NULL REFERENCES problems(id),
            result_json TEXT,
            error TEXT
        )
        """,
        "CREATE INDEX runs_created_at ON runs(created_at)",
        "CREATE INDEX runs_status ON runs(status)",
        "CREATE INDEX runs_problem_id ON runs(problem_id)",
        f"""
        CREATE TABLE candidates (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            round INTEGER NOT NULL CHECK (round >= 0),
            parents_json TEXT NOT NULL,
            answered_json TEXT NOT NULL,
            solution TEXT NOT NULL,
            self_evaluation TEXT NOT NULL,
            self_score REAL,
            answer TEXT,
            truncated INTEGER NOT NULL CHECK (truncated IN (0, 1)),
            created_at TEXT NOT NULL DEFAULT {_NOW}
        )
        """,
        "CREATE INDEX candidates_run_id ON candidates(run_id)",
        f"""
        CREATE TABLE verifications (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            candidate_id TEXT NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
            -- NULL is "unknown", never a pass.
            score REAL CHECK (score IS NULL OR (score >= 0 AND score <= 1)),
            issues_json TEXT NOT NULL,
            raw TEXT NOT NULL,
            reason TEXT NOT NULL,
            weight REAL NOT NULL,
            created_at TEXT NOT NULL DEFAULT {_NOW}
        )
        """,
        "CREATE INDEX verifications_run_id ON verifications(run_id)",
        "CREATE INDEX verifications_candidate_id ON verifications(candidate_id)",
        f"""
        CREATE TABLE meta_checks (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            verification_id TEXT NOT NULL REFERENCES verifications(id) ON DELETE CASCADE,
            issue_index INTEGER NOT NULL CHECK (issue_index >= 0),
            real INTEGER CHECK (real IS NULL OR real IN (0, 1)),
            raw TEXT NOT NULL,
            reason TEXT NOT NULL,
            created_at TEXT NOT NULL DEFAULT {_NOW}
        )
        """,
        "CREATE INDEX meta_checks_run_id ON meta_checks(run_id)",
        "CREATE INDEX meta_checks_verification_id ON meta_checks(verification_id)",
        # A failed or cancelled call keeps its row (tokens were spent, the
        # error is worth seeing) but no cache key, so it never serves a hit.
        f"""
        CREATE TABLE calls (
            id INTEGER PRIMARY KEY,
            run_id TEXT REFERENCES runs(id) ON DELETE SET NULL,
            cache_key TEXT UNIQUE,
            model TEXT NOT NULL,
            response_model TEXT,
            messages_json TEXT NOT NULL,
            params_json TEXT NOT NULL,
            text TEXT,
            stop_reason TEXT
                CHECK (stop_reason IS NULL OR stop_reason IN ('stop', 'length', 'cancelled')),
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            latency_s REAL,
            error TEXT,
            created_at TEXT NOT NULL DEFAULT {_NOW},
            CHECK (error IS NULL OR cache_key IS NULL),
            CHECK (cache_key IS NULL OR text IS NOT NULL)
        )
        """,
        "CREATE INDEX calls_run_id ON calls(run_id)",
    ),
    # 2: executed checks, verifier score distributions, token log-probabilities.
    (
        # ``kind`` is validated on read, not by a CHECK: new kinds of check
        # would otherwise each need the table rebuilt.
        f"""
        CREATE TABLE checks (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            candidate_id TEXT NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            passed INTEGER NOT NULL CHECK (passed IN (0, 1)),
            detail TEXT NOT NULL,
            counterexample TEXT NOT NULL,
            location TEXT NOT NULL,
            value TEXT,
            created_at TEXT NOT NULL DEFAULT {_NOW}
        )
        """,
        "CREATE INDEX checks_run_id ON checks(run_id)",
        "CREATE INDEX checks_candidate_id ON checks(candidate_id)",
        # [P(score = 0), P(0.5), P(1)], or NULL when the backend gave no distribution.
        "ALTER TABLE verifications ADD COLUMN p_scores_json TEXT",
        # A replayed call must read the same probabilities, so the cache keeps them.
        "ALTER TABLE calls ADD COLUMN logprobs_json TEXT",
    ),
    # 3: the service's jobs and the events each one reported.
    (
        # A job's id is its run's id. There is no foreign key: a queued job
        # has no run yet (the run is made when the job starts).
        f"""
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL DEFAULT {_NOW},
            updated_at TEXT NOT NULL DEFAULT {_NOW},
            status TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'finished', 'failed', 'cancelled')),
            request_json TEXT NOT NULL,
            error TEXT
        )
        """,
        "CREATE INDEX jobs_status ON jobs(status)",
        "CREATE INDEX jobs_created_at ON jobs(created_at)",
        f"""
        CREATE TABLE job_events (
            job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL CHECK (seq >= 1),
            kind TEXT NOT NULL,
            data_json TEXT NOT NULL,
            created_at TEXT NOT NULL DEFAULT {_NOW},
            PRIMARY KEY (job_id, seq)
        )
        """,
    ),
)

#: The schema version this fansi writes and understands.
SCHEMA_VERSION = len(MIGRATIONS)


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Turn any ``sqlite3.Error`` raised inside into a ``StoreError`` about ``action``."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"cannot {action}: {exc}") from exc


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in one write transaction, committed on success, rolled back on error.

    ``BEGIN IMMEDIATE`` takes the write lock up front, so a concurrent writer
    waits out the busy timeout here instead of failing halfway through.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database (0 for a new, empty file)."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply the migrations the database lacks, in order, one transaction each.

    Args:
        conn: An open connection in autocommit mode (``isolation_level=None``).
        migrations: The ordered migrations; the default is fansi's own schema.

    Returns:
        The schema version after migrating.

    Raises:
        StoreError: The database is newer than ``migrations`` or a migration failed.
    """
    known = len(migrations)
    with translate_errors("read the store's schema version"):
        found = schema_version(conn)
    if found > known:
        raise StoreError(
            f"the store was written by a newer fansi (schema version {found}; "
            f"this fansi knows up to {known})",
            hint="Upgrade fansi, or point FANSI_HOME at another folder.",
        )
    for version, statements in enumerate(migrations, start=1):
        if version <= found:
            continue
        with translate_errors(f"apply store migration {version}"), transaction(conn):
            # Another process may have migrated while we waited for the lock.
            if schema_version(conn) >= version:
                continue
            for statement in statements:
                conn.execute(statement)
            # PRAGMA takes no parameters; ``version`` is an int we computed.
            conn.execute(f"PRAGMA user_version = {version:d}")
    return max(found, known)


def connect(path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the store at ``path``.

    The connection belongs to the thread that opened it (sqlite3's default
    ``check_same_thread``); see :class:`fansi.store.Store` for why.

    Raises:
        StoreError: The file cannot be opened, is not SQLite, or is from a newer fansi.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the folder for the store {path}: {exc}") from exc
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the store {path}: {exc}") from exc
    try:
        with translate_errors(f"open the store {path}"):
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000):d}")
            # The first read of a file that is not SQLite fails here.
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            # In WAL mode NORMAL loses nothing when the process dies, only on
            # power loss, and it keeps fsync out of the event loop.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn, migrations)
    except BaseException:
        conn.close()
        raise
    return conn


__all__ = [
    "BUSY_TIMEOUT_S",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Migration",
    "connect",
    "migrate",
    "schema_version",
    "transaction",
    "translate_errors",
]
