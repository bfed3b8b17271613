"""The migration list is append-only, and an old store migrates forward whole."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from fansi.records import (
    Candidate,
    CheckResult,
    Completion,
    GenerateParams,
    Message,
    TokenLogprob,
    Usage,
    Verification,
)
from fansi.store import SCHEMA_VERSION, CallRecord, Store
from fansi.store.db import MIGRATIONS, Migration, connect, schema_version

#: sha256 of each released migration's statements joined by newlines. A store
#: in the field has run these exactly: add a migration, never edit one.
RELEASED = {
    1: "2cc5c4e31245b2e3d95dfee6fe31aeeab59cc0b74ef5d2f4abc88bcd22551219",
    2: "3dfe5e718d509f0ed97e201900117e0e45d751e8f001b2f07d06cf94989124df",
    3: "be53cf62ea52f8c3daaf526086b0e953e92d01b4425caa5e417ef331423fefb0",
}


def digest(migration: Migration) -> str:
    return hashlib.sha256("\n".join(migration).encode()).hexdigest()


def test_released_migrations_are_never_edited_or_removed() -> None:
    assert len(MIGRATIONS) >= len(RELEASED)
    assert {v: digest(MIGRATIONS[v - 1]) for v in RELEASED} == RELEASED
    assert len(MIGRATIONS) == SCHEMA_VERSION


def test_the_digest_sees_a_one_character_edit() -> None:
    first = MIGRATIONS[0]
    edited = (first[0].replace("TEXT", "BLOB", 1), *first[1:])
    assert digest(edited) != RELEASED[1]


def version_1_store(path: Path) -> None:
    """A store as fansi wrote it at schema version 1, with one row of each kind."""
    conn = connect(path, MIGRATIONS[:1])
    try:
        assert schema_version(conn) == 1
        conn.executescript(
            """
            INSERT INTO problems (id, text, answer, digest) VALUES ('p1', 'Find x.', '3', 'd');
            INSERT INTO runs (id, settings_json, fansi_version, model, problem_id)
                VALUES ('r1', '{"effort": "low"}', '0.0.9', 'fake', 'p1');
            INSERT INTO candidates (id, run_id, round, parents_json, answered_json, solution,
                self_evaluation, self_score, answer, truncated)
                VALUES ('c1', 'r1', 0, '[]', '[]', 'x = 3', 'fine', 1.0, '3', 0);
            INSERT INTO verifications (id, run_id, candidate_id, score, issues_json, raw,
                reason, weight) VALUES ('v1', 'r1', 'c1', 1.0, '[]', 'raw', '', 1.0);
            INSERT INTO calls (run_id, cache_key, model, messages_json, params_json, text,
                stop_reason, prompt_tokens, completion_tokens, latency_s)
                VALUES ('r1', 'k1', 'fake', '[{"content": "hi", "role": "user"}]',
                        '{"seed": 7}', 'hello', 'stop', 4, 1, 0.5);
            """
        )
    finally:
        conn.close()


def test_a_version_1_store_migrates_forward_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "fansi.db"
    version_1_store(path)
    with Store.open(path) as store:
        run = store.run("r1")
        assert run is not None and run.settings == {"effort": "low"}
        assert store.candidates("r1") == [Candidate("c1", "x = 3", "fine", 1.0, "3")]
        assert store.verifications("r1") == [Verification("v1", "c1", 1.0, (), "raw")]
        assert store.checks("r1") == []
        cached = store.cached_completion("k1")
        assert cached == Completion("hello", "stop", Usage(4, 1), 0.5, "fake", cached=True)
        [call] = store.calls("r1")
        assert (call.messages, call.params) == ((Message("user", "hi"),), GenerateParams(seed=7))
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3


def test_the_new_columns_and_table_round_trip_in_a_migrated_store(tmp_path: Path) -> None:
    path = tmp_path / "fansi.db"
    version_1_store(path)
    check = CheckResult(
        "k1",
        "c1",
        "arithmetic",
        "arithmetic",
        False,
        detail="2*3",
        counterexample="6 != 7",
        location="step 2",
        value="6",
    )
    graded = Verification("v2", "c1", 0.5, (), "raw", p_scores=(0.125, 0.5, 0.375))
    logprobs = (TokenLogprob("1", -0.25, (("1", -0.25), ("0", -1.5))),)
    done = Completion("1", "stop", Usage(3, 1), 0.1, "fake", logprobs=logprobs)
    with Store.open(path) as store:
        store.add_check("r1", check)
        store.add_verification("r1", graded)
        store.add_call(CallRecord("fake", (), GenerateParams(logprobs=2), done, cache_key="k2"))
    with Store.open(path) as store:
        assert store.checks("r1") == [check]
        assert store.verifications("r1", "c1")[1].p_scores == (0.125, 0.5, 0.375)
        replay = store.cached_completion("k2")
        assert replay is not None and replay.logprobs == logprobs
