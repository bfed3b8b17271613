"""Metrics and calibration on hand-made cases whose answers are known."""

from __future__ import annotations

import itertools
import json
import random
import time
from pathlib import Path

import pytest

from fansi.engine import calibration as maps
from fansi.engine.calibration import IsotonicMap
from fansi.errors import ConfigError
from fansi.evals import calibration
from fansi.evals.calibration import fit_isotonic, pav
from fansi.evals.metrics import ece, flag_stats, harmonic, mae, pearson, reliability, wilson
from fansi.evals.runner import Eta
from fansi.evals.tasks_answers import majority
from fansi.evals.tasks_verifier import earliest_step, step_named
from fansi.records import Issue


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    (8, 10, 0.4902, 0.9433),  # the textbook example
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (1, 2, 0.0945, 0.9055),
])
def test_wilson_interval(k: int, n: int, low: float, high: float) -> None:
    p = wilson(k, n)
    assert p.low == pytest.approx(low, abs=1e-4)
    assert p.high == pytest.approx(high, abs=1e-4)
    assert p.value == k / n


def test_wilson_edges() -> None:
    assert wilson(0, 0).value is None and (wilson(0, 0).low, wilson(0, 0).high) == (0.0, 1.0)
    assert wilson(0, 5).low == 0.0 and wilson(5, 5).high == 1.0
    with pytest.raises(ValueError):
        wilson(3, 2)


def test_flag_stats_precision_recall_f1_false_pass() -> None:
    wrong = [True, True, True, False, False]
    verdicts = ["fail", "fail", "pass", "fail", "unknown"]
    s = flag_stats(wrong, verdicts)  # type: ignore[arg-type]
    assert (s.true_flags, s.false_flags, s.wrong, s.correct) == (2, 1, 3, 2)
    assert s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(2 / 3)
    assert s.false_pass_rate == pytest.approx(1 / 3)
    assert s.unknown_rate == pytest.approx(1 / 5)


def test_flag_stats_unknown_is_a_miss_not_a_false_pass() -> None:
    s = flag_stats([True, True, False], ["fail", "unknown", "pass"])
    assert s.precision == 1.0
    assert s.recall == 0.5
    assert s.f1 == pytest.approx(2 / 3)
    assert s.false_pass_rate == 0.0


def test_flag_stats_that_flag_nothing() -> None:
    s = flag_stats([True, False], ["pass", "pass"])
    assert s.precision is None
    assert s.recall == 0.0 and s.f1 == 0.0 and s.false_pass_rate == 1.0
    assert flag_stats([False], ["pass"]).f1 is None  # no wrong solution: F1 undefined


def test_harmonic_mean() -> None:
    assert harmonic(0.5, 1.0) == pytest.approx(2 / 3)
    assert harmonic(0.0, 0.0) == 0.0
    assert harmonic(None, 1.0) is None


def test_ece_and_reliability_bins() -> None:
    conf = [0.9, 0.9, 0.1, 0.1]
    correct = [True, False, False, False]
    # bin 0.9: confidence 0.9, accuracy 0.5; bin 0.1: confidence 0.1, accuracy 0
    assert ece(conf, correct) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)
    bins = reliability(conf, correct)
    assert len(bins) == 10
    assert [b.count for b in bins] == [0, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert bins[9].accuracy == 0.5 and bins[9].confidence == pytest.approx(0.9)
    assert reliability([1.0], [True])[9].count == 1  # 1.0 falls in the last bin
    assert ece([0.0, 1.0], [False, True]) == 0.0
    assert ece([], []) is None


def test_pearson_and_mae() -> None:
    assert pearson([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    assert pearson([1, 2, 3], [6, 4, 2]) == pytest.approx(-1.0)
    assert pearson([1, 1, 1], [1, 2, 3]) is None
    assert pearson([1], [2]) is None
    assert mae([0, 7, 6], [1, 7, 4]) == pytest.approx(1.0)
    assert mae([], []) is None


def test_pav_textbook_example() -> None:
    assert pav([1, 3, 2, 4, 3, 5]) == pytest.approx([1, 2.5, 2.5, 3.5, 3.5, 5])
    assert pav([3, 2, 1]) == pytest.approx([2, 2, 2])
    assert pav([1, 2, 3]) == [1, 2, 3]
    # weights pull the pooled mean: (3*1 + 1*3) / 4
    assert pav([3, 1], [1, 3]) == pytest.approx([1.5, 1.5])


def test_fit_isotonic_is_monotone_and_within_the_outcomes() -> None:
    rng = random.Random(7)
    x = [rng.random() for _ in range(300)]
    y = [float(rng.random() < xi) for xi in x]
    fitted = fit_isotonic(x, y)
    grid = [i / 100 for i in range(101)]
    values = [fitted(g) for g in grid]
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(values))
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values[-1] > values[0]


def test_fit_pools_equal_x_and_interpolates() -> None:
    fitted = fit_isotonic([0.2, 0.2, 0.8, 0.8], [0, 1, 1, 1])
    assert fitted.xs == (0.2, 0.8) and fitted.ys == (0.5, 1.0)
    assert fitted(0.5) == pytest.approx(0.75)
    assert fitted(0.0) == 0.5 and fitted(1.0) == 1.0
    assert IsotonicMap((0.0, 1.0), (0.0, 1.0))(0.25) == 0.25


def test_calibration_store_round_trip(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert maps.calibrated_confidence("embedded", 0.5, home, min_rows=1) is None
    calibration.save_rows("embedded", "solve", "gsm8k", [(0.2, False), (0.8, True)], home,
                          settings={"k": 2})
    assert maps.calibrated_confidence("embedded", 0.8, home, min_rows=1) == 1.0
    assert maps.calibrated_confidence("embedded", 0.5, home, min_rows=1) == 0.5
    # by default a map fitted on two rows is not used
    assert maps.calibrated_confidence("embedded", 0.8, home) is None
    assert maps.calibrated_confidence("embedded", 0.5, home, "verify", min_rows=1) is None
    assert maps.calibrated_confidence("tiny", 0.5, home, min_rows=1) is None
    # Another task adds rows; the same task replaces its own.
    calibration.save_rows("embedded", "solve", "math500", [(0.8, False)], home, settings={})
    assert maps.calibrated_confidence("embedded", 0.8, home, min_rows=1) == 0.5
    calibration.save_rows("embedded", "solve", "math500", [(0.8, True)], home, settings={})
    assert maps.calibrated_confidence("embedded", 0.8, home, min_rows=1) == 1.0
    stored = json.loads(maps.calibration_path("embedded", home).read_text())
    assert sorted(stored["kinds"]["solve"]["tasks"]) == ["gsm8k", "math500"]


def test_calibration_path_is_safe_and_checks_the_model(tmp_path: Path) -> None:
    spec = "openai:Qwen/Qwen2.5-7B@http://box:8000/v1"
    path = maps.calibration_path(spec, tmp_path)
    assert path.parent == tmp_path / "calibration" and "/" not in path.name
    calibration.save_rows(spec, "solve", "gsm8k", [(0.5, True)], tmp_path, settings={})
    assert maps.calibrated_confidence(spec, 0.1, tmp_path, min_rows=1) == 1.0
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot be read"):
        maps.calibrated_confidence(spec, 0.1, tmp_path, min_rows=1)


def test_dev_and_held_halves_are_fixed_and_both_used() -> None:
    ids = [str(i) for i in range(200)]
    dev = [i for i in ids if calibration.is_dev(i)]
    assert dev == [i for i in ids if calibration.is_dev(i)]
    assert 60 < len(dev) < 140


def test_step_numbers_from_issue_locations() -> None:
    assert step_named("Step 3") == 3
    assert step_named("in steps 2-3, the sum") == 2
    assert step_named("step #4: 'so x = 2'") == 4
    assert step_named("the second paragraph") is None
    issues = [Issue("Step 4", "x", "major"), Issue("near the end", "y", "minor"),
              Issue("step 2", "z", "fatal")]
    assert earliest_step(issues) == 2
    assert earliest_step([]) is None


def test_majority_breaks_ties_by_first_seen() -> None:
    assert majority([0, 1, 1, 0]) == 0
    assert majority([None, 1, 0, 0]) == 0
    assert majority([2, 1, 1]) == 1
    assert majority([None, None]) is None


def test_eta_ignores_items_the_cache_answered() -> None:
    eta = Eta(total=4, done=0, started=0.0)
    assert eta.step(fresh=False) is None  # nothing computed yet: no estimate
    eta.started = time.monotonic() - 10.0  # one fresh item took 10 s
    left = eta.step(fresh=True)
    assert left is not None and 19.0 <= left <= 25.0  # 2 items left at ~10 s each
    assert eta.done == 2 and eta.computed == 1


def test_eta_divides_an_items_time_by_the_items_run_at_once() -> None:
    # Four at once, each taking 100 s: the first lands after 100 s with 7 left,
    # which take 7 * 100 / 4 s more, not 7 * 100 s.
    eta = Eta(total=8, done=0, started=time.monotonic() - 100.0, width=4)
    left = eta.step(fresh=True, seconds=100.0)
    assert left is not None and 170.0 <= left <= 180.0
    # A width of one is the plain elapsed rate, whatever the item reports.
    solo = Eta(total=3, done=0, started=time.monotonic() - 10.0)
    left = solo.step(fresh=True, seconds=30.0)
    assert left is not None and 19.0 <= left <= 25.0


def test_calibration_pools_the_rows_of_every_task_and_kind(tmp_path: Path) -> None:
    calibration.save_rows("m", "solve", "gsm8k", [(0.2, False), (0.9, True)], tmp_path,
                          settings={})
    calibration.save_rows("m", "verify", "processbench", [(0.2, True), (0.6, False)],
                          tmp_path, settings={})
    solve = maps.load_map("m", tmp_path, "solve", min_rows=1)
    verify = maps.load_map("m", tmp_path, "verify", min_rows=1)
    assert solve is not None and solve == verify
    # 0.2 is right once and wrong once across the pooled rows, and 0.6 wrong:
    # the monotone fit pools them at 1/3; only 0.9 is always right
    assert solve(0.2) == pytest.approx(1 / 3) and solve(0.9) == 1.0
    assert maps.load_map("m", tmp_path, "solve", min_rows=5) is None  # 4 rows in all
