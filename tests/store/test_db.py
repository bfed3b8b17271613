"""The connection, its pragmas and the ordered migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fansi.errors import StoreError
from fansi.records import Problem
from fansi.store import SCHEMA_VERSION, Store
from fansi.store.db import BUSY_TIMEOUT_S, connect, migrate, schema_version

TABLES = {"runs", "problems", "candidates", "verifications", "meta_checks", "checks", "calls"}


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def test_open_creates_folders_and_applies_every_migration(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "fansi.db"
    Store.open(path).close()
    assert path.is_file()
    assert tables(path) >= TABLES
    assert user_version(path) == SCHEMA_VERSION >= 1


def test_reopen_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "fansi.db"
    with Store.open(path) as store:
        run_id = store.create_run(Problem("2+2?"), settings={}, fansi_version="0", model="m")
    with Store.open(path) as store:
        run = store.run(run_id)
    assert run is not None and run.model == "m"
    assert user_version(path) == SCHEMA_VERSION


def test_indexes_cover_lookups_by_run(tmp_path: Path) -> None:
    path = tmp_path / "fansi.db"
    Store.open(path).close()
    with sqlite3.connect(path) as conn:
        indexed = {
            table
            for (table,) in conn.execute(
                "SELECT m.name FROM sqlite_master m, pragma_index_list(m.name) i,"
                " pragma_index_info(i.name) c WHERE m.type = 'table' AND c.name = 'run_id'"
            )
        }
    assert indexed == {"candidates", "verifications", "meta_checks", "checks", "calls"}


M1 = ("CREATE TABLE a (x INTEGER)", "INSERT INTO a VALUES (1)")
M2 = ("CREATE TABLE b (y INTEGER)",)
BROKEN = ("CREATE TABLE c (z INTEGER)", "INSERT INTO nowhere VALUES (1)")


def plain(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_an_old_database_gets_only_the_migrations_it_lacks(tmp_path: Path) -> None:
    conn = plain(tmp_path / "x.db")
    assert migrate(conn, [M1]) == 1
    # M1 is not idempotent (CREATE TABLE without IF NOT EXISTS, an INSERT), so
    # running it twice would fail or duplicate the row.
    assert migrate(conn, [M1, M2]) == 2
    assert migrate(conn, [M1, M2]) == 2
    assert conn.execute("SELECT count(*) FROM a").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM b").fetchone()[0] == 0
    assert schema_version(conn) == 2


def test_a_failed_migration_is_rolled_back_whole(tmp_path: Path) -> None:
    conn = plain(tmp_path / "x.db")
    with pytest.raises(StoreError, match="migration 2"):
        migrate(conn, [M1, BROKEN])
    assert schema_version(conn) == 1
    names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert names == {"a"}
    assert not conn.in_transaction


def test_a_store_from_a_newer_fansi_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fansi.db"
    Store.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer fansi") as info:
        Store.open(path)
    assert "Upgrade fansi" in info.value.hint
    assert user_version(path) == SCHEMA_VERSION + 1


def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "fansi.db"
    garbage = b"this is not a database, just some bytes\n" * 200
    path.write_bytes(garbage)
    with pytest.raises(StoreError, match="not a database") as info:
        Store.open(path)
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)
    assert path.read_bytes() == garbage


def test_a_folder_in_the_way_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fansi.db"
    path.mkdir()
    with pytest.raises(StoreError):
        Store.open(path)


def test_every_connection_has_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    conn = connect(tmp_path / "fansi.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == int(BUSY_TIMEOUT_S * 1000)
        # Autocommit: nothing is left pending after a write.
        conn.execute("INSERT INTO problems (id, text, digest) VALUES ('p', 't', 'd')")
        assert not conn.in_transaction
    finally:
        conn.close()


def test_foreign_keys_are_enforced_through_the_store(tmp_path: Path) -> None:
    from fansi.records import Candidate

    with Store.open(tmp_path / "fansi.db") as store, pytest.raises(StoreError, match="FOREIGN"):
        store.add_candidate("no-such-run", Candidate("c", "s", "e", None, None))


def test_two_stores_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    path = tmp_path / "fansi.db"
    with Store.open(path) as writer, Store.open(path) as reader:
        assert reader.runs() == []
        run_id = writer.create_run(Problem("p"), settings={}, fansi_version="0", model="m")
        assert [r.id for r in reader.runs()] == [run_id]


def test_a_closed_store_raises_store_error(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "fansi.db")
    store.close()
    store.close()
    with pytest.raises(StoreError):
        store.runs()
