"""`fansi label` on scripted runs: scaled verification as stored verify runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import fansi
from fansi.backends.fake import FakeBackend
from fansi.cli import cli
from fansi.config import Settings
from fansi.errors import InputError
from fansi.learn import labelling
from fansi.learn.labelling import Target, label_targets, solution_targets, stored_targets
from fansi.learn.labels import LABEL_RUN_PREFIX, Label, LabelRule, read_labels
from fansi.records import Candidate, Problem
from fansi.store import Store

RULE = LabelRule(n=3, k=2)


def given(problem: str, solution: str, answer: str | None = None) -> Target:
    from fansi.parse import final_answer

    return Target(Problem(problem, answer), Candidate("", solution, "", None,
                                                      final_answer(solution)), "", "given")


async def label(settings: Settings, model: Any, *targets: Target, rule: LabelRule = RULE
                ) -> list[Label]:
    return await label_targets(list(targets), settings, rule, backend=FakeBackend(model))


async def test_every_case_of_the_rule_on_scripted_verdicts(settings: Settings,
                                                           verifier: Any) -> None:
    labels = await label(
        settings.model_copy(update={"checks": "deterministic"}), verifier(),
        given("What is 2+2?", "GOOD, so \\boxed{4}"),
        given("What is 2+2?", "BAD, so \\boxed{5}"),
        given("What is 2+2?", "FLAKY, so \\boxed{4}"),  # its one failing issue is dismissed
        given("What is 2+2?", "GOOD, so \\boxed{5}", answer="4"),  # the reference overrides
        given("What is 2+2?", "GOOD: 2 + 2 = 5, so \\boxed{5}"),  # arithmetic refutes it
        given("What is 2+2?", "GARBLE \\boxed{4}"),  # no readable verdict
        given("What is 2+2?", "GARBLE \\boxed{4}.", answer="4"),  # the reference decides
    )
    assert [(x.label, x.source) for x in labels] == [
        ("correct", "verifier"), ("wrong", "verifier"), ("correct", "verifier"),
        ("wrong", "reference"), ("wrong", "check"), ("unlabelled", "none"),
        ("correct", "reference"),
    ]
    assert labels[2].dismissed == 1 and labels[2].passes == 2
    assert labels[3].passes == 3  # the verifier passed it; the reference answer did not
    assert all(x.label_run_id.startswith(LABEL_RUN_PREFIX) for x in labels)
    # a given solution's label points at the label run's own candidate
    assert labels[0].run_id == labels[0].label_run_id
    assert labels[0].candidate_id == f"{labels[0].label_run_id}-given"


async def test_stored_candidates_are_labelled_and_label_runs_are_not(settings: Settings,
                                                                     verifier: Any) -> None:
    writer = verifier(solutions=["BAD \\boxed{5}"], refined=["GOOD after revision \\boxed{4}"])
    result = await fansi.asolve(Problem("What is 2+2?", "4"), backend=FakeBackend(writer),
                                n=1, k=1, rounds=2, m=1, settings=settings)
    assert result.verdict == "pass"
    with Store.open(settings.store_path) as store:
        targets = stored_targets(store)
        assert [t.run_id for t in targets] == [result.run_id] * 2
        labels = await label_targets(targets, settings, RULE, backend=FakeBackend(verifier()),
                                     store=store)
        # a mismatched reference answer is the more objective source of a wrong label
        assert [(x.label, x.source) for x in labels] == [
            ("wrong", "reference"), ("correct", "verifier")]
        assert labels[0].confirmed == 3  # though the verifier's issue was confirmed too
        assert [x.candidate_id for x in labels] == [c.id for c in store.candidates(result.run_id)]
        assert {x.run_id for x in labels} == {result.run_id}
        # the label runs are stored, and labelling again does not label them
        assert all(store.run(x.label_run_id) is not None for x in labels)
        assert len(stored_targets(store)) == 2
        assert stored_targets(store, tasks=["gsm8k"]) == []
        assert stored_targets(store, models=["fake"]) == targets


async def test_labelling_again_replays_from_the_cache(settings: Settings, verifier: Any
                                                      ) -> None:
    target = given("What is 2+2?", "FLAKY \\boxed{4}")
    first = await label(settings, verifier(), target)
    again = verifier()
    second = await label(settings, again, target)
    assert again.steps == []
    assert first == second


async def test_m_meta_checks_are_drawn_and_stored(settings: Settings, verifier: Any) -> None:
    rule = LabelRule(n=2, m=3, k=1)
    model = verifier()
    [made] = await label(settings, model, given("What is 2+2?", "BAD \\boxed{5}"), rule=rule)
    assert (made.label, made.source) == ("wrong", "verifier")
    with Store.open(settings.store_path) as store:
        checks = store.meta_checks(made.label_run_id)
    # two failing analyses with the same text: the engine's meta-check, then two
    # more draws each (same verdict text, same seeds: the cache answers repeats)
    assert len(checks) == 2 * 3
    assert model.count("meta") == 3


def test_solutions_file_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "solutions.jsonl"
    path.write_text(json.dumps({"problem": "What is 2+2?", "solution": "It is \\boxed{4}",
                                "answer": "4", "id": "p1"}) + "\n\n")
    [target] = solution_targets(path, max_chars=1000)
    assert (target.problem.answer, target.candidate.answer, target.problem.id) == ("4", "4", "p1")
    path.write_text(json.dumps({"problem": "What is 2+2?"}) + "\n")
    with pytest.raises(InputError, match=r"solutions\.jsonl:1"):
        solution_targets(path, max_chars=1000)


def test_the_label_command_writes_labels(fansi_home: Path, tmp_path: Path, verifier: Any,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labelling, "create_backend",
                        lambda spec, settings: FakeBackend(verifier()))
    path = tmp_path / "solutions.jsonl"
    rows = [{"problem": "What is 2+2?", "solution": "GOOD \\boxed{4}", "answer": "4"},
            {"problem": "What is 2+2?", "solution": "GOOD \\boxed{5}", "answer": "4"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    runner = CliRunner()
    done = runner.invoke(cli, ["label", "--solutions", str(path), "-n", "2", "--model", "fake",
                               "--checks", "none", "-q"])
    assert done.exit_code == 0, done.output
    labels = read_labels(fansi_home / "labels.jsonl")
    assert [(x.label, x.source) for x in labels] == [("correct", "verifier"),
                                                     ("wrong", "reference")]
    assert labels[0].rule.k == 2  # k defaults to min(3, n)
    bad = runner.invoke(cli, ["label", "--solutions", str(path), "-n", "2", "-k", "3"])
    assert bad.exit_code != 0
