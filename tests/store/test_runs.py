"""Runs and their records: round trips, idempotent replays, listings and the tree."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fansi.errors import StoreError
from fansi.records import (
    Candidate,
    CheckResult,
    Issue,
    MetaCheck,
    Problem,
    Verification,
    to_dict,
)
from fansi.store import RunTree, Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "fansi.db") as store:
        yield store


def new_run(store: Store, text: str = "Prove that 1 + 1 = 2.") -> str:
    return store.create_run(Problem(text), settings={}, fansi_version="0.1.0", model="fake")


CANDIDATE = Candidate(
    id="c1",
    solution="Since 1 + 1 = 2 by definition.",
    self_evaluation="Looks right.",
    self_score=None,
    answer=None,
    parents=("c0", "c00"),
    answered=("v0",),
    round=2,
    truncated=True,
)
ISSUES = (
    Issue(location="line 1", description="circular", severity="fatal"),
    Issue(location="end", description="no conclusion", severity="minor"),
)


def test_a_run_records_settings_version_model_and_checksum(store: Store) -> None:
    settings = {"model": "embedded", "seed": 3, "api_key": "sk-secret", "home": "/tmp/h"}
    run_id = store.create_run(
        Problem("What is 2+2?", answer="4"),
        settings=settings,
        fansi_version="0.1.0",
        model="embedded",
        model_checksum="abc123",
    )
    run = store.run(run_id)
    assert run is not None
    assert (run.id, run.status, run.result, run.error) == (run_id, "running", None, None)
    assert run.settings == {"model": "embedded", "seed": 3, "home": "/tmp/h"}
    assert (run.fansi_version, run.model, run.model_checksum) == ("0.1.0", "embedded", "abc123")
    assert store.problem(run.problem_id) == Problem("What is 2+2?", "4", run.problem_id)
    assert re.fullmatch(r"[0-9a-f]{12}", run_id)


def test_the_api_key_never_reaches_the_file(store: Store) -> None:
    store.create_run(Problem("p"), settings={"api_key": "sk-secret"}, fansi_version="0", model="m")
    # The write may still sit in the WAL file, so read every file of the store.
    files = list(store.path.parent.glob("fansi.db*"))
    assert any(f.name.endswith("-wal") for f in files)
    assert all(b"sk-secret" not in f.read_bytes() for f in files)


def test_a_given_run_id_is_used_and_cannot_be_reused(store: Store) -> None:
    assert store.create_run(Problem("p"), settings={}, fansi_version="0", model="m", run_id="r1")
    with pytest.raises(StoreError, match="r1"):
        store.create_run(Problem("q"), settings={}, fansi_version="0", model="m", run_id="r1")
    # The failed run left no stray problem behind: the transaction rolled back.
    assert [r.problem_preview for r in store.runs()] == ["p"]
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT count(*) FROM problems").fetchone()[0] == 1


def test_runs_of_one_problem_share_its_row(store: Store) -> None:
    a = store.run(new_run(store, "same text"))
    b = store.run(new_run(store, "same text"))
    other = store.run(
        store.create_run(
            Problem("same text", answer="7"), settings={}, fansi_version="0", model="m"
        )
    )
    assert a and b and other
    assert a.problem_id == b.problem_id != other.problem_id


def test_a_problem_id_cannot_change_its_text(store: Store) -> None:
    store.create_run(Problem("one", id="p1"), settings={}, fansi_version="0", model="m")
    store.create_run(Problem("one", id="p1"), settings={}, fansi_version="0", model="m")
    with pytest.raises(StoreError, match="p1"):
        store.create_run(Problem("two", id="p1"), settings={}, fansi_version="0", model="m")


def test_status_and_result_are_set_and_cleared(store: Store) -> None:
    run_id = new_run(store)
    store.set_run_status(run_id, "failed", error="backend down")
    run = store.run(run_id)
    assert run and (run.status, run.error) == ("failed", "backend down")
    store.set_run_status(run_id, "done", result={"verdict": "pass", "confidence": 0.9})
    run = store.run(run_id)
    assert run and run.status == "done"
    assert run.result == {"verdict": "pass", "confidence": 0.9}
    assert run.error is None


def test_bad_status_and_unknown_run_raise_store_error(store: Store) -> None:
    run_id = new_run(store)
    with pytest.raises(StoreError):
        store.set_run_status(run_id, "exploded")  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="no run"):
        store.set_run_status("nope", "done")
    assert store.run("nope") is None
    assert store.run_tree("nope") is None


def test_candidates_round_trip(store: Store) -> None:
    run_id = new_run(store)
    other = Candidate("c2", "s", "e", 0.5, "42")
    assert store.add_candidate(run_id, CANDIDATE) == CANDIDATE
    store.add_candidate(run_id, other)
    assert store.candidates(run_id) == [CANDIDATE, other]
    assert store.candidates(new_run(store)) == []


def test_verifications_round_trip_with_issues_and_unknown_scores(store: Store) -> None:
    run_id = new_run(store)
    store.add_candidate(run_id, CANDIDATE)
    unknown = Verification("v1", "c1", None, (), "garbled", reason="no score found")
    failing = Verification("v2", "c1", 0.0, ISSUES, "raw text", weight=0.25)
    half = Verification("v3", "c1", 0.5, ISSUES[:1], "raw", p_scores=(0.1, 0.7, 0.2))
    for verification in (unknown, failing, half):
        store.add_verification(run_id, verification)
    stored = store.verifications(run_id)
    assert stored == [unknown, failing, half]
    assert stored[0].score is None
    assert [v.p_scores for v in stored] == [None, None, (0.1, 0.7, 0.2)]
    assert stored[2].p_pass == 0.2 and stored[0].p_pass is None
    assert isinstance(stored[1].issues, tuple) and isinstance(stored[1].issues[0], Issue)
    assert store.verifications(run_id, candidate_id="c1") == stored
    assert store.verifications(run_id, candidate_id="c9") == []


def test_meta_checks_round_trip_with_unknown_verdicts(store: Store) -> None:
    run_id = new_run(store)
    store.add_candidate(run_id, CANDIDATE)
    store.add_verification(run_id, Verification("v1", "c1", 0.0, ISSUES, "raw"))
    checks = [
        MetaCheck("m1", "v1", 0, True, "real"),
        MetaCheck("m2", "v1", 1, False, "not real", reason="misread"),
        MetaCheck("m3", "v1", 1, None, "???", reason="unparseable"),
    ]
    for check in checks:
        store.add_meta_check(run_id, check)
    assert store.meta_checks(run_id) == checks
    assert [c.real for c in store.meta_checks(run_id, verification_id="v1")] == [
        True,
        False,
        None,
    ]


def test_checks_round_trip_and_filter_by_candidate(store: Store) -> None:
    run_id = new_run(store)
    store.add_candidate(run_id, CANDIDATE)
    store.add_candidate(run_id, Candidate("c2", "s", "e", None, "6"))
    failed = CheckResult(
        "k1",
        "c1",
        "arithmetic",
        "arithmetic",
        False,
        detail="evaluated 17 * 23",
        counterexample="17 * 23 = 391, not 401",
        location="step 3",
    )
    passed = CheckResult("k2", "c2", "program", "program", True, value="6")
    other = CheckResult("k3", "c1", "answer", "answer", True, value=None)
    for check in (failed, passed, other):
        assert store.add_check(run_id, check) == check
    assert store.checks(run_id) == [failed, passed, other]
    assert store.checks(run_id, candidate_id="c1") == [failed, other]
    assert [c.passed for c in store.checks(run_id)] == [False, True, True]
    assert store.checks(run_id, candidate_id="c9") == []
    assert store.checks(new_run(store)) == []


def test_records_without_ids_get_fresh_ones(store: Store) -> None:
    run_id = new_run(store)
    first = store.add_candidate(run_id, Candidate("", "a", "e", None, None))
    second = store.add_candidate(run_id, Candidate("", "b", "e", None, None))
    assert re.fullmatch(r"[0-9a-f]{12}", first.id) and first.id != second.id
    verification = store.add_verification(run_id, Verification("", first.id, 1.0, (), "ok"))
    meta_check = store.add_meta_check(run_id, MetaCheck("", verification.id, 0, None, "r"))
    check = store.add_check(run_id, CheckResult("", first.id, "answer", "answer", True))
    assert re.fullmatch(r"[0-9a-f]{12}", check.id)
    assert [c.id for c in store.candidates(run_id)] == [first.id, second.id]
    assert store.meta_checks(run_id) == [meta_check]
    assert store.checks(run_id) == [check]


def test_replayed_records_are_stored_once_and_keep_the_first_version(store: Store) -> None:
    run_id = new_run(store)
    verification = Verification("v1", "c1", 1.0, (), "raw")
    meta_check = MetaCheck("m1", "v1", 0, True, "raw")
    check = CheckResult("k1", "c1", "answer", "answer", True)
    for _ in range(2):
        store.add_candidate(run_id, CANDIDATE)
        store.add_verification(run_id, verification)
        store.add_meta_check(run_id, meta_check)
        store.add_check(run_id, check)
    store.add_candidate(run_id, Candidate("c1", "rewritten", "e", 1.0, None))
    store.add_check(run_id, CheckResult("k1", "c1", "answer", "answer", False))
    assert store.candidates(run_id) == [CANDIDATE]
    assert store.verifications(run_id) == [verification]
    assert store.meta_checks(run_id) == [meta_check]
    assert store.checks(run_id) == [check]


def test_records_that_break_the_schema_raise_store_error(store: Store) -> None:
    run_id = new_run(store)
    with pytest.raises(StoreError, match="FOREIGN"):
        store.add_verification(run_id, Verification("v", "missing", 1.0, (), "raw"))
    store.add_candidate(run_id, CANDIDATE)
    with pytest.raises(StoreError, match="CHECK"):
        store.add_verification(run_id, Verification("v", "c1", 3.0, (), "raw"))
    assert store.verifications(run_id) == []
    with pytest.raises(StoreError, match="FOREIGN"):
        store.add_check(run_id, CheckResult("k", "missing", "answer", "answer", True))
    assert store.checks(run_id) == []


def test_a_hand_edited_json_column_is_reported_not_returned(store: Store) -> None:
    run_id = new_run(store)
    store.add_candidate(run_id, CANDIDATE)
    store.add_verification(run_id, Verification("v1", "c1", 0.0, ISSUES, "raw"))
    bad = json.dumps([{"location": "x", "description": "y", "severity": "catastrophic"}])
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE verifications SET issues_json = ?", (bad,))
    with pytest.raises(StoreError, match="verification v1"):
        store.verifications(run_id)


@pytest.mark.parametrize(
    ("sql", "read", "where"),
    [
        ("UPDATE verifications SET p_scores_json = '[0.5]'", Store.verifications, "verification"),
        ("UPDATE checks SET kind = 'astrology'", Store.checks, "check k1"),
    ],
)
def test_hand_edited_new_columns_are_reported(
    store: Store, sql: str, read: Callable[[Store, str], object], where: str
) -> None:
    run_id = new_run(store)
    store.add_candidate(run_id, CANDIDATE)
    store.add_verification(run_id, Verification("v1", "c1", 0.0, (), "raw", p_scores=(1, 0, 0)))
    store.add_check(run_id, CheckResult("k1", "c1", "answer", "answer", True))
    with sqlite3.connect(store.path) as conn:
        conn.execute(sql)
    with pytest.raises(StoreError, match=where):
        read(store, run_id)


def test_runs_are_listed_newest_first_with_a_preview(store: Store) -> None:
    long_text = "Let  n be\n a positive integer. " + "x" * 200
    ids = [new_run(store, "first"), new_run(store, "second"), new_run(store, long_text)]
    runs = store.runs()
    assert [r.id for r in runs] == ids[::-1]
    assert [r.problem_preview for r in runs[1:]] == ["second", "first"]
    preview = runs[0].problem_preview
    assert preview.startswith("Let n be a positive integer. xx") and preview.endswith("…")
    assert len(preview) == 80 and "\n" not in preview
    assert all(r.status == "running" and r.model == "fake" and r.created_at for r in runs)
    assert [r.id for r in store.runs(limit=2)] == ids[:0:-1]


def test_unfinished_runs_are_the_running_and_interrupted_ones(store: Store) -> None:
    running, interrupted, done, failed = (new_run(store, str(i)) for i in range(4))
    store.set_run_status(interrupted, "interrupted")
    store.set_run_status(done, "done", result={})
    store.set_run_status(failed, "failed", error="x")
    assert [r.id for r in store.unfinished_runs()] == [interrupted, running]
    assert [r.id for r in store.runs(unfinished=True, limit=1)] == [interrupted]


def test_the_run_tree_nests_candidates_verifications_and_meta_checks(store: Store) -> None:
    run_id = store.create_run(
        Problem("Find x.", answer="3"),
        settings={"effort": "low"},
        fansi_version="0",
        model="fake",
    )
    noise = new_run(store, "another run")
    store.add_candidate(noise, Candidate("n1", "s", "e", None, None))
    c2 = Candidate("c2", "x = 3", "sure", 1.0, "3", parents=("c1",), round=1)
    store.add_candidate(run_id, CANDIDATE)
    store.add_candidate(run_id, c2)
    v1 = Verification("v1", "c1", 0.0, ISSUES, "raw")
    v2 = Verification("v2", "c2", 1.0, (), "raw")
    v3 = Verification("v3", "c1", None, (), "raw")
    for verification in (v1, v2, v3):
        store.add_verification(run_id, verification)
    m1 = MetaCheck("m1", "v1", 0, True, "raw")
    m2 = MetaCheck("m2", "v1", 1, False, "raw")
    store.add_meta_check(run_id, m1)
    store.add_meta_check(run_id, m2)
    k1 = CheckResult("k1", "c2", "answer", "answer", True, value="3")
    k2 = CheckResult("k2", "c2", "program", "program", False, counterexample="x = 4")
    store.add_check(run_id, k1)
    store.add_check(run_id, k2)
    store.add_check(noise, CheckResult("k9", "n1", "answer", "answer", True))

    tree = store.run_tree(run_id)
    assert isinstance(tree, RunTree)
    assert tree.run.id == run_id and tree.run.settings == {"effort": "low"}
    assert (tree.problem.text, tree.problem.answer) == ("Find x.", "3")
    assert [node.candidate for node in tree.candidates] == [CANDIDATE, c2]
    first, second = tree.candidates
    assert [n.verification for n in first.verifications] == [v1, v3]
    assert [n.meta_checks for n in first.verifications] == [(m1, m2), ()]
    assert [n.verification for n in second.verifications] == [v2]
    assert (first.checks, second.checks) == ((), (k1, k2))
    # The tree turns into JSON as it is, for `fansi show --json`.
    data = json.loads(json.dumps(to_dict(tree)))
    issues = data["candidates"][0]["verifications"][0]["verification"]["issues"]
    assert issues[0]["severity"] == "fatal"
    assert data["candidates"][1]["checks"][1]["counterexample"] == "x = 4"
