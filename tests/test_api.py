"""The Python API over the store: records, call cache, resume, kill -9."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fansi
from fansi import api
from fansi.backends.fake import FakeBackend
from fansi.config import load_settings
from fansi.errors import InputError
from fansi.store import Store, cache_key

from killing import kill_after
from scripted_model import Model, backend

PROBLEM = "What is 2+2? Prove it."


def store_path(home: Path) -> Path:
    return home / "fansi.db"


async def test_solve_records_the_run(fansi_home: Path) -> None:
    result = await fansi.asolve(PROBLEM, backend=backend(Model()), k=2)
    assert result.verdict == "pass"
    with Store.open(store_path(fansi_home)) as store:
        record = store.run(result.run_id)
        tree = store.run_tree(result.run_id)
        calls = store.calls(result.run_id)
    assert record is not None and record.status == "done"
    assert record.result is not None and record.result["verdict"] == "pass"
    assert record.settings["k"] == 2
    assert "api_key" not in record.settings
    assert tree is not None and len(tree.candidates) == 2
    # identical calls (same text, same seed) are made once and then cached
    assert len(calls) == result.calls - result.cached_calls
    assert all(c.completion is not None and c.completion.text for c in calls)


async def test_same_run_again_is_served_from_the_cache(fansi_home: Path) -> None:
    first = await fansi.asolve(PROBLEM, backend=backend(Model()), run_id="fixed-id")
    again = FakeBackend(Model())
    second = await fansi.asolve(PROBLEM, backend=again, run_id="fixed-id")
    assert again.calls == []
    assert second.cached_calls == second.calls == first.calls
    assert second.best == first.best
    assert second.verdict == first.verdict


async def test_another_seed_draws_new_samples(fansi_home: Path) -> None:
    first = await fansi.asolve(PROBLEM, backend=backend(Model()), seed=1)
    fresh = FakeBackend(Model())
    second = await fansi.asolve(PROBLEM, backend=fresh, seed=2)
    # Not one call of the second run came from what the first run cached: its
    # only cache hits are its own repeats (two candidates with the same text
    # share their verifications), as in the first run.
    assert second.cached_calls == first.cached_calls
    assert len(fresh.calls) == second.calls - second.cached_calls


async def test_verify_grades_a_given_solution(fansi_home: Path) -> None:
    model = Model()
    result = await fansi.averify(PROBLEM, "BAD reasoning, \\boxed{5}", backend=backend(model),
                                 k=3)
    # verify draws all k samples (fixed schedule) and meta-checks the issues
    assert model.count("verify") == 3
    # the three verdicts are the same text, so the meta-check is asked once
    assert model.count("meta") == 1
    assert result.verdict == "fail"
    assert result.best is not None and result.best.answer == "5"
    assert result.issues and result.issues[0].severity == "fatal"


@pytest.mark.parametrize("text", ["", "   \n  "])
async def test_empty_problem_stores_nothing(fansi_home: Path, text: str) -> None:
    with pytest.raises(InputError):
        await fansi.asolve(text, backend=backend(Model()))
    assert not store_path(fansi_home).exists() or Store.open(store_path(fansi_home)).runs() == []


async def test_resume_of_unknown_run_is_a_clear_error(fansi_home: Path) -> None:
    with pytest.raises(InputError, match="no run 'nope'"):
        await api.aresume("nope", backend=backend(Model()))


async def test_a_run_made_with_other_prompts_is_not_resumed(
        fansi_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fansi import prompts
    from fansi.errors import BackendUnavailable, ConfigError

    dead = FakeBackend([BackendUnavailable("connection refused")])
    with pytest.raises(BackendUnavailable):
        await fansi.asolve(PROBLEM, backend=dead, run_id="r-old")
    with Store.open(store_path(fansi_home)) as store:
        record = store.run("r-old")
    assert record is not None and record.settings["prompts"] == prompts.digest()
    monkeypatch.setattr(prompts, "digest", lambda: "another-prompt-set")
    model = Model()
    with pytest.raises(ConfigError, match="other prompts"):
        await api.aresume("r-old", backend=backend(model))
    assert model.steps == []  # refused before any call


async def test_a_failed_run_is_marked_and_resumable(fansi_home: Path) -> None:
    from fansi.errors import BackendUnavailable

    dead = FakeBackend([BackendUnavailable("connection refused")])
    with pytest.raises(BackendUnavailable):
        await fansi.asolve(PROBLEM, backend=dead, run_id="r-dead")
    with Store.open(store_path(fansi_home)) as store:
        record = store.run("r-dead")
    assert record is not None and record.status == "failed"
    assert record.error is not None and "connection refused" in record.error
    result = await api.aresume("r-dead", backend=backend(Model()))
    assert result.verdict == "pass"


CHILD = textwrap.dedent("""
    import asyncio, sys
    sys.path.insert(0, {tests!r})
    from scripted_model import Model
    from fansi.backends.fake import FakeBackend
    import fansi
    model = Model(solutions=["BAD \\\\boxed{{5}}"], refined=["GOOD \\\\boxed{{4}}"])
    backend = FakeBackend(model, latency_s=0.05)
    asyncio.run(fansi.asolve({problem!r}, backend=backend, run_id="killed", n=2, k=2,
                             rounds=3, m=2))
""")


@pytest.mark.subprocess
def test_kill_9_mid_run_then_resume_repeats_no_finished_call(fansi_home: Path) -> None:
    tests = str(Path(__file__).parent)
    code = CHILD.format(tests=tests, problem=PROBLEM)
    child = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ))
    db = store_path(fansi_home)
    kill_after(child, db, calls=4, seconds=60)
    with sqlite3.connect(db) as conn:
        before = {row[0] for row in conn.execute(
            "SELECT cache_key FROM calls WHERE cache_key IS NOT NULL")}
        status = conn.execute("SELECT status FROM runs WHERE id='killed'").fetchone()[0]
    assert status == "running"  # what a killed run leaves behind
    assert len(before) >= 4

    model = Model(solutions=["BAD \\boxed{5}"], refined=["GOOD \\boxed{4}"])
    fresh = FakeBackend(model)
    result = fansi.solve(PROBLEM, backend=fresh, run_id="killed", n=2, k=2, rounds=3, m=2)
    repeated = [c for c in fresh.calls if cache_key(fresh.name, c.messages, c.params) in before]
    assert repeated == []
    assert result.cached_calls >= len(before)
    assert result.verdict == "pass"
    with Store.open(db) as store:
        record = store.run("killed")
        assert record is not None and record.status == "done"
        # every call is stored once: the killed run's and the fresh ones
        assert len(store.calls("killed")) == len(before) + len(fresh.calls)


def test_stable_run_ids_follow_problem_and_settings(fansi_home: Path) -> None:
    s = load_settings()
    p = fansi.Problem("x", id="1")
    assert api.stable_run_id(p, s) == api.stable_run_id(p, s)
    assert api.stable_run_id(p, s) != api.stable_run_id(fansi.Problem("y", id="1"), s)
    other = s.model_copy(update={"effort": "medium"})
    assert api.stable_run_id(p, s) != api.stable_run_id(p, other)


def test_changed_prompts_give_new_run_ids(fansi_home: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from fansi import prompts

    s, p = load_settings(), fansi.Problem("x", id="1")
    assert len(prompts.digest()) == 12 and prompts.digest() == prompts.digest()
    before = api.stable_run_id(p, s)
    monkeypatch.setattr(prompts, "digest", lambda: "another-prompt-set")
    assert api.stable_run_id(p, s) != before


async def test_writer_calls_stream_tokens_and_verdicts_do_not(fansi_home: Path) -> None:
    pieces: list[str] = []
    result = await fansi.asolve(PROBLEM, backend=backend(Model()), n=1, k=1,
                                on_token=pieces.append)
    streamed = "".join(pieces)
    assert result.best is not None
    assert "GOOD" in streamed  # the candidate was shown as it was written
    assert '"score"' not in streamed  # the verdict JSON was not


async def test_solve_reports_calibrated_confidence_once_a_map_exists(fansi_home: Path) -> None:
    from fansi.evals.calibration import save_rows

    first = await fansi.asolve(PROBLEM, backend=backend(Model()), model="fake")
    assert first.calibrated is False and first.raw_confidence is None
    # a map that says: whatever the raw number, this model is right 20% of the time
    few = [(0.1, False), (0.5, False), (0.9, False), (0.95, True), (0.2, False)]
    save_rows("fake", "solve", "gsm8k", few, fansi_home, settings={})
    # too few rows to trust: the confidence stays raw
    unfitted = await fansi.asolve(PROBLEM, backend=backend(Model()), model="fake", seed=4)
    assert unfitted.calibrated is False
    # enough rows: this model is right about 20% of the time whatever the raw number
    save_rows("fake", "solve", "gsm8k", few * 8, fansi_home, settings={})
    second = await fansi.asolve(PROBLEM, backend=backend(Model()), model="fake", seed=5)
    assert second.calibrated is True
    assert second.raw_confidence is not None
    # The map fitted independently here gives the same number.
    from fansi.evals.calibration import fit_isotonic

    expected = fit_isotonic([x for x, _ in few], [float(y) for _, y in few])
    assert second.confidence == round(expected(second.raw_confidence), 3)
    assert second.confidence != second.raw_confidence


@pytest.mark.parametrize(("solution", "answer"), [
    ("GOOD so it is \\fbox{3}", "3"),
    ("GOOD so it is \\boxed {7}", "7"),
    ("GOOD the sum.\nFinal answer: 12", "12"),
])
async def test_solve_and_verify_read_the_same_answer(fansi_home: Path, solution: str,
                                                     answer: str) -> None:
    # The two readers of old disagreed on each of these; now one reader serves both.
    solved = await fansi.asolve(PROBLEM, backend=backend(Model(solutions=[solution])), n=1,
                                k=1)
    graded = await fansi.averify(PROBLEM, solution, backend=backend(Model()), k=1)
    assert solved.best is not None and graded.best is not None
    assert solved.best.answer == graded.best.answer == answer


async def test_a_killed_resumed_run_replays_by_its_stored_seed(fansi_home: Path) -> None:
    # The seed is resolved once, at the edge, and stored with the run; a resume
    # reads it back from the run, not from today's settings, so it replays.
    first = await fansi.asolve(PROBLEM, backend=backend(Model()), run_id="seeded", seed=7)
    with Store.open(store_path(fansi_home)) as store:
        record = store.run("seeded")
        assert record is not None and record.settings["seed"] == 7
        store.set_run_status("seeded", "interrupted", error="killed")
    again = FakeBackend(Model())
    resumed = await fansi.aresume("seeded", backend=again)
    assert again.calls == []
    assert resumed.best == first.best
