"""The loaders on the real shared files, and the seeded stratified subset."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from fansi.errors import InputError
from fansi.evals import data
from fansi.evals.data import AnswerItem, stratified_subset

SHARED = Path(__file__).parents[2].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(),
                                  reason=f"the shared data folder {SHARED} is not here")


@needs_shared
def test_gsm8k_loader() -> None:
    items = data.load_gsm8k(SHARED / "gsm8k" / "test_dev.jsonl")
    assert len(items) == 1000
    assert items[0].id == "0" and items[0].answer == "18"
    assert items[0].problem.startswith("Janet’s ducks lay 16 eggs")
    assert all(i.answer and "####" not in i.answer and "," not in i.answer for i in items)


@needs_shared
def test_math500_and_aime_loaders() -> None:
    math = data.load_math500(SHARED / "math500" / "test_dev.jsonl")
    assert len(math) == 400
    assert math[0].answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert math[0].stratum == "Precalculus/2"
    assert len({i.stratum for i in math}) > 20
    aime = data.load_aime24(SHARED / "aime24" / "test.jsonl")
    assert len(aime) == 30 and aime[0].answer == "204" and aime[0].id == "60"


@needs_shared
def test_verifier_loaders() -> None:
    solutions = data.load_gsm8k_solutions(SHARED / "gsm8k" / "model_solutions_dev.jsonl")
    assert len(solutions) == 4000
    assert Counter(s.wrong for s in solutions) == {True: 2459, False: 1541}
    assert solutions[0].id == "gsm8k-0-6b_finetuning" and solutions[0].wrong
    bench = data.load_processbench(SHARED / "processbench" / "gsm8k.json")
    assert len(bench) == 400
    assert sum(s.wrong for s in bench) == 207
    wrong = next(s for s in bench if s.first_wrong is not None)
    assert wrong.wrong and wrong.stratum == "wrong"
    # The text the verifier sees numbers the steps from 1.
    assert wrong.solution.startswith("Step 1: ")
    assert f"Step {len(wrong.steps)}: " in wrong.solution
    assert all((s.first_wrong is None) == (not s.wrong) for s in bench)
    assert len(data.load_processbench(SHARED / "processbench" / "math.json")) == 1000


@needs_shared
def test_proofbench_loader() -> None:
    items = data.load_proofbench(SHARED / "imo_proofbench" / "proofbench_v2.csv")
    assert len(items) == 60
    assert sum(i.id.startswith("PB-Basic") for i in items) == 30
    first = items[0]
    assert first.id == "PB-Basic-001" and first.category == "Algebra"
    assert first.stratum == "Algebra/IMO-easy"
    assert "(Partial)" in first.guidelines and first.reference


@needs_shared
def test_default_path_finds_the_shared_files(tmp_path: Path) -> None:
    # From anywhere: the checkout fansi runs from has ../shared/data beside it,
    # and that is the data_dir setting's default.
    from fansi.config import load_settings

    root = load_settings({"home": str(tmp_path)}, env={}, cwd=tmp_path).data_dir
    found = data.default_path("gsm8k", root=root)
    assert found.resolve() == (SHARED / "gsm8k" / "test_dev.jsonl").resolve()


def test_default_path_missing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot find the gsm8k data"):
        data.default_path("gsm8k", root=tmp_path)


def test_loaders_name_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "q", "answer": "#### 3"}\n{"question": "q2"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2 has no answer"):
        data.load_gsm8k(path)
    path.write_text('[{"id": "a", "problem": "p", "steps": ["s"], "label": 3}]')
    with pytest.raises(InputError, match="label"):
        data.load_processbench(path)


def items(strata: dict[str, int]) -> list[AnswerItem]:
    return [AnswerItem(f"{name}-{i}", "p", "1", name)
            for name, count in strata.items() for i in range(count)]


def test_subset_is_deterministic_stratified_and_in_file_order() -> None:
    pool = items({"a": 50, "b": 30, "c": 20})
    first = stratified_subset(pool, 10, seed=0)
    assert first == stratified_subset(pool, 10, seed=0)
    assert Counter(i.stratum for i in first) == {"a": 5, "b": 3, "c": 2}
    positions = [pool.index(i) for i in first]
    assert positions == sorted(positions)
    other = stratified_subset(pool, 10, seed=1)
    assert Counter(i.stratum for i in other) == {"a": 5, "b": 3, "c": 2}
    assert other != first


def test_subset_rounds_by_largest_remainder() -> None:
    pool = items({"a": 5, "b": 3, "c": 2})
    chosen = stratified_subset(pool, 4, seed=3)
    # quotas 2.0, 1.2, 0.8 -> 2, 1, 1
    assert Counter(i.stratum for i in chosen) == {"a": 2, "b": 1, "c": 1}
    assert len(stratified_subset(pool, 1, seed=0)) == 1


def test_subset_limits() -> None:
    pool = items({"a": 3})
    assert stratified_subset(pool, None, seed=0) == pool
    assert stratified_subset(pool, 10, seed=0) == pool
    assert stratified_subset(pool, 0, seed=0) == []
    with pytest.raises(InputError, match="repeats"):
        stratified_subset(pool + pool[:1], 2, seed=0)


@needs_shared
def test_subset_of_real_data_keeps_label_and_subject_shares() -> None:
    bench = data.load_processbench(SHARED / "processbench" / "gsm8k.json")
    chosen = stratified_subset(bench, 40, seed=0)
    assert Counter(s.stratum for s in chosen) == {"wrong": 21, "correct": 19}
    assert [s.id for s in chosen] == [s.id for s in stratified_subset(bench, 40, seed=0)]
    # A larger --limit keeps the smaller subset, so an eval can be grown in place.
    assert {s.id for s in stratified_subset(bench, 20, seed=0)} <= {s.id for s in chosen}
    math = data.load_math500(SHARED / "math500" / "test_dev.jsonl")
    subjects = Counter(i.stratum.split("/")[0] for i in stratified_subset(math, 40, seed=0))
    assert sum(subjects.values()) == 40
    assert len(subjects) >= 6  # every subject is represented


def test_processbench_loader_on_a_small_file(tmp_path: Path) -> None:
    path = tmp_path / "pb.json"
    path.write_text(json.dumps([
        {"id": "x", "problem": "p", "steps": ["a", "b"], "label": 1},
        {"id": "y", "problem": "p", "steps": ["a"], "label": -1},
    ]))
    x, y = data.load_processbench(path)
    assert x.first_wrong == 1 and x.wrong and x.solution == "Step 1: a\n\nStep 2: b"
    assert y.first_wrong is None and not y.wrong
