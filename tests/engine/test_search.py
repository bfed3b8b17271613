"""The search controller, exhaustively, on a scripted fake model."""

from __future__ import annotations

from pathlib import Path

import pytest

from fansi.checks import CheckPool
from fansi.engine.budget import EFFORTS, SearchConfig, derive_seed
from fansi.engine.events import Event
from fansi.engine.search import Search, accepted, run_search, wanted
from fansi.records import Budget, Problem
from fansi.store import Store

from scripted_model import Model, backend

PROBLEM = Problem("What is 2+2? Prove it.")


async def search(model: Model, store: Store | None = None, **config: object) -> Search:
    s = Search(PROBLEM, backend(model), SearchConfig(**config),  # type: ignore[arg-type]
               run_id="run1", sink=store)
    return s


async def run(model: Model, **config: object):  # type: ignore[no-untyped-def]
    return await run_search(PROBLEM, backend(model), SearchConfig(**config),  # type: ignore[arg-type]
                            run_id="run1")


# --- the schedule rules, as pure functions -----------------------------------

def test_fixed_asks_for_all_k_once() -> None:
    config = SearchConfig(k=4, schedule="fixed")
    assert wanted(config, []) == 4
    assert wanted(config, ["fail", "pass", "pass", "pass"]) == 0
    assert not accepted(config, ["fail", "pass", "pass", "pass"])
    assert accepted(config, ["pass"] * 4)


def test_adaptive_stops_at_the_first_standing_failure() -> None:
    config = SearchConfig(k=4, wave=2, schedule="adaptive")
    assert wanted(config, []) == 2
    assert wanted(config, ["pass", "pass"]) == 2
    assert wanted(config, ["pass", "fail"]) == 0
    assert wanted(config, ["pass", "pass", "pass", "pass"]) == 0
    # unknown verdicts are re-drawn, up to k extra draws
    assert wanted(config, ["unknown", "pass"]) == 2
    assert wanted(config, ["unknown"] * 8) == 0
    assert not accepted(config, ["unknown"] * 8)


def test_streak_accepts_after_k_passes_in_a_row_and_gives_up_after_f_failures() -> None:
    config = SearchConfig(k=3, reject_after=2, schedule="streak")
    assert wanted(config, ["fail", "pass", "pass"]) == 1
    assert accepted(config, ["fail", "pass", "pass", "pass"])
    assert wanted(config, ["pass", "fail", "fail"]) == 0
    assert not accepted(config, ["pass", "fail", "fail"])
    # an unknown neither breaks nor extends a streak
    assert accepted(config, ["pass", "unknown", "pass", "pass"])


def test_effort_presets_and_overrides() -> None:
    assert EFFORTS["low"] == (2, 2, 1, 1)
    config = SearchConfig.from_effort("heavy", k=3, schedule=None)
    assert (config.n, config.k, config.m, config.rounds) == (64, 3, 8, 16)
    assert config.schedule == "adaptive"
    with pytest.raises(ValueError, match="k must be"):
        SearchConfig(k=0)


def test_seeds_differ_per_sample_and_repeat_per_place() -> None:
    seeds = {derive_seed(0, "verify", "c1", i) for i in range(50)}
    assert len(seeds) == 50
    assert derive_seed(7, "generate", 3) == derive_seed(7, "generate", 3)
    assert derive_seed(7, "generate", 3) != derive_seed(8, "generate", 3)


# --- the loop -------------------------------------------------------------------

async def test_a_good_candidate_is_accepted_in_round_one() -> None:
    model = Model(solutions=["GOOD \\boxed{4}"])
    result = await run(model, n=2, k=3, rounds=3)
    assert result.verdict == "pass"
    assert result.stop_reason == "accepted"
    assert result.rounds == 1
    assert result.score == 1.0
    assert model.count("generate") == 2
    assert model.count("refine") == 0
    assert result.best is not None and result.best.answer == "4"
    assert 0.5 < result.confidence <= 1.0


async def test_fixed_grid_spends_n_times_k_and_adaptive_less() -> None:
    fixed = Model(solutions=["BAD \\boxed{5}", "GOOD \\boxed{4}"])
    await run(fixed, n=2, k=4, schedule="fixed", meta_check=False)
    assert fixed.count("verify") == 8
    adaptive = Model(solutions=["BAD \\boxed{5}", "GOOD \\boxed{4}"])
    result = await run(adaptive, n=2, k=4, wave=1, schedule="adaptive", meta_check=False)
    # BAD stops after its first verdict; GOOD needs all 4 passes
    assert adaptive.count("verify") == 5
    assert result.verdict == "pass"
    assert result.best is not None and "GOOD" in result.best.solution


async def test_refinement_uses_confirmed_issues_and_keeps_lineage() -> None:
    model = Model(solutions=["BAD \\boxed{5}"], refined=["GOOD now \\boxed{4}"])
    events: list[Event] = []
    result = await run_search(PROBLEM, backend(model), SearchConfig(n=1, k=2, m=1, rounds=2),
                              run_id="run1", on_event=events.append)
    assert result.verdict == "pass"
    assert result.rounds == 2
    best = result.best
    assert best is not None and best.parents == ("run1-r0c0",)
    # the first wave drew two verdicts at once; both failed and both are answered
    assert best.answered == ("run1-r0c0-v0", "run1-r0c0-v1")
    assert best.round == 1
    kinds = [e.kind for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert "issue_confirmed" in kinds


async def test_refine_prompt_carries_the_issue() -> None:
    model = Model(solutions=["BAD \\boxed{5}"], refined=["GOOD \\boxed{4}"])
    fake = backend(model)
    await run_search(PROBLEM, fake, SearchConfig(n=1, k=1, m=1, rounds=2), run_id="r")
    refine_calls = [c for c in fake.calls if "<<<PREVIOUS-" in c.messages[-1].content]
    assert len(refine_calls) == 1
    assert "the key step is false" in refine_calls[0].messages[-1].content


async def test_dismissed_issues_carry_no_weight_and_are_not_feedback() -> None:
    model = Model(solutions=["BAD \\boxed{5}"], meta_real=False)
    result = await run(model, n=1, k=2, rounds=2)
    # every complaint was refuted: the verdicts are unknown, never passes
    assert result.verdict == "unknown"
    assert all(v.weight == 0 for v in result.verifications)
    assert result.score is None
    assert model.count("refine") == 0  # nothing standing to revise against


async def test_unparseable_verdicts_are_never_a_pass() -> None:
    model = Model(solutions=["GARBLE \\boxed{4}"])
    result = await run(model, n=2, k=2, rounds=1)
    assert result.verdict == "unknown"
    assert result.score is None
    assert all(v.score is None for v in result.verifications)
    assert all(v.reason for v in result.verifications)
    # adaptive re-draws unknown verdicts up to 2k per candidate
    assert model.count("verify") == 8


async def test_budget_in_calls_stops_the_run() -> None:
    model = Model(solutions=["BAD \\boxed{5}"], refined=["BAD again \\boxed{5}"])
    result = await run(model, n=2, k=2, m=2, rounds=5, budget=Budget(calls=6))
    assert result.stop_reason == "budget"
    assert result.calls <= 6
    assert result.rounds < 5


async def test_budget_in_tokens_stops_before_refining() -> None:
    model = Model(solutions=["BAD \\boxed{5}"])
    result = await run(model, n=2, k=2, rounds=4, budget=Budget(tokens=1))
    assert result.stop_reason == "budget"
    assert model.count("refine") == 0


async def test_backend_failures_are_recorded_and_the_run_completes() -> None:
    model = Model(solutions=["GOOD \\boxed{4}"], fail_every=3)
    events: list[Event] = []
    result = await run_search(PROBLEM, backend(model), SearchConfig(n=3, k=2, rounds=2),
                              run_id="run1", on_event=events.append)
    assert result.failed_calls >= 1
    assert any(e.kind == "call_failed" and "500" in e.data["error"] for e in events)
    failed = [v for c in [result] for v in c.verifications if v.reason == "the call failed"]
    assert all(v.score is None for v in failed)
    assert result.best is not None


async def test_answer_agreement_breaks_ties() -> None:
    model = Model(solutions=["MINOR x \\boxed{3}", "MINOR y \\boxed{1/2}", "MINOR z \\boxed{0.5}"])
    async with CheckPool() as checks:
        s = Search(PROBLEM, backend(model), SearchConfig(n=3, k=1, rounds=1, meta_check=False),
                   run_id="r", checks=checks)
        result = await s.run()
    assert result.best is not None and result.best.answer in ("1/2", "0.5")
    supports = sorted(c.answer_support or 0 for c in s.ranked())
    assert supports == pytest.approx([1 / 3, 2 / 3, 2 / 3])


async def test_records_reach_the_store_with_final_weights(tmp_path: Path) -> None:
    model = Model(solutions=["BAD \\boxed{5}"], refined=["GOOD \\boxed{4}"])
    with Store.open(tmp_path / "s.db") as store:
        run_id = store.create_run(PROBLEM, settings={}, fansi_version="t", model="fake",
                                  run_id="run1")
        s = await search(model, store, n=1, k=1, m=1, rounds=2)
        await s.run()
        tree = store.run_tree(run_id)
    assert tree is not None
    ids = [node.candidate.id for node in tree.candidates]
    assert ids == ["run1-r0c0", "run1-r1c0"]
    first = tree.candidates[0].verifications[0]
    assert first.verification.score == 0
    assert [m.real for m in first.meta_checks] == [True]
    assert tree.candidates[1].candidate.parents == ("run1-r0c0",)


async def test_a_faulty_backend_never_yields_a_pass_from_garbage() -> None:
    """Timeouts, HTTP 500s, truncated and garbage replies on a share of calls."""
    import random

    from fansi.backends.fake import FakeBackend
    from fansi.errors import BackendTimeout
    from fansi.records import Completion, Usage

    honest = Model(solutions=["BAD \\boxed{5}"], refined=["BAD still \\boxed{5}"])
    rng = random.Random(7)

    def flaky(messages, params):  # type: ignore[no-untyped-def]
        roll = rng.random()
        if roll < 0.15:
            return BackendTimeout("no answer in 600 s")
        if roll < 0.30 and params.json_schema is not None:
            return Completion('{"check": "ok", "issues": [], "sco', "length", Usage(5, 5), 0.0,
                              "fake")
        if roll < 0.45 and params.json_schema is not None:
            return rng.choice(["Score: 1. Looks right to me!", '{"issues": [], "score": "1"}',
                               '{"score": 1, "issues": [{"severity": "catastrophic"}]}'])
        return honest(messages, params)

    events: list[Event] = []
    result = await run_search(PROBLEM, FakeBackend(flaky), SearchConfig(n=3, k=3, m=2, rounds=3),
                              run_id="flaky", on_event=events.append)
    # Only honest verdicts were ever readable, and all of them fail BAD candidates.
    assert result.verdict != "pass"
    assert all(v.score in (None, 0.0) for v in result.verifications)
    assert result.failed_calls > 0
    assert any(e.kind == "call_failed" for e in events)
    assert events[-1].kind == "run_finished"


async def test_budget_in_seconds_stops_the_run() -> None:
    from fansi.backends.fake import FakeBackend

    model = Model(solutions=["BAD \\boxed{5}"], refined=["BAD again \\boxed{5}"])
    slow = FakeBackend(model, latency_s=0.05)
    result = await run_search(PROBLEM, slow, SearchConfig(n=1, k=1, m=1, rounds=50,
                                                         budget=Budget(seconds=0.3)),
                              run_id="slow")
    assert result.stop_reason == "budget"
    assert result.rounds < 50


async def test_a_call_that_outruns_the_time_budget_is_cut_off() -> None:
    import asyncio

    from fansi.backends.fake import FakeBackend

    # Every reply would take an hour; the budget is a fifth of a second.
    model = Model(solutions=["GOOD \\boxed{4}"])
    stuck = FakeBackend(model, latency_s=3600.0)
    events: list[Event] = []
    result = await asyncio.wait_for(
        run_search(PROBLEM, stuck, SearchConfig(n=2, k=1, rounds=1, budget=Budget(seconds=0.2)),
                   run_id="stuck", on_event=events.append),
        timeout=120)  # a guard against a hang, not a speed assertion
    assert result.stop_reason == "budget"
    assert result.best is None and result.calls == 0 and result.failed_calls == 0
    cut = [e for e in events if e.kind == "call_failed"]
    assert len(cut) == 2 and all("time budget of 0.2 s" in e.data["error"] for e in cut)


async def test_a_backend_that_is_down_still_raises_under_a_time_budget() -> None:
    from fansi.errors import BackendError

    model = Model(solutions=["GOOD \\boxed{4}"], fail_every=1)
    with pytest.raises(BackendError):
        await run(model, n=2, k=1, rounds=1, budget=Budget(seconds=600))


async def test_ties_are_broken_by_candidate_id_not_completion_order() -> None:
    model = Model(solutions=["MINOR a \\boxed{1}", "MINOR b \\boxed{2}"])
    s = Search(PROBLEM, backend(model), SearchConfig(n=2, k=1, rounds=1, meta_check=False),
               run_id="t")
    await s.run()
    s._pool.reverse()  # as if the candidates had finished in the other order
    assert [c.candidate.id for c in s.ranked()] == ["t-r0c0", "t-r0c1"]


async def test_a_stated_answer_beats_none_at_equal_evidence() -> None:
    # One answered candidate gives no agreement to weigh; the unanswered one
    # must not win on id order or on its self-score.
    model = Model(solutions=["MINOR so the total is 2 + 2 = 4.", "MINOR b \\boxed{4}"])
    s = Search(PROBLEM, backend(model), SearchConfig(n=2, k=1, rounds=1, meta_check=False),
               run_id="t")
    result = await s.run()
    assert [c.candidate.answer for c in s.ranked() if c.candidate.answer] == ["4"]
    assert result.best is not None and result.best.answer == "4"
