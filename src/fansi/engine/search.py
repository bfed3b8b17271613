"""The search controller: one module to read top to bottom.

    round 0:  write n candidates
    each round:
        verify every new candidate, in waves, by the schedule (below);
        meta-check each verification that reports issues;
        rank the pool; stop if the best candidate is accepted;
        stop at the round limit or when the budget is spent;
        otherwise refine the best m candidates with their confirmed issues.

Schedules decide how many verifications a candidate gets:
- ``fixed``: all k at once, every candidate (DeepSeekMath-V2's n x k grid).
- ``adaptive``: waves of ``wave`` verifications, stopping as soon as the
  outcome is clear: a failing verdict that meta-checking did not refute means
  the candidate cannot pass all k; k passes accept it. An unknown verdict is
  re-drawn, up to k extra draws.
- ``streak``: one at a time, Huang & Yang's rule: accept after k consecutive
  passes, give up after ``reject_after`` consecutive failures.

A verdict counts as a *pass* only with score 1; as a *fail* with a lower
score unless meta-checking dismissed every issue it raised (then it carries
no weight and counts as unknown); unparseable or failed verdicts are
*unknown*, never a pass.

Every call's seed is derived from the run's seed and what the call is about
(the candidate's text and the sample's index, not the run's id), so a resumed
run asks the same calls again and the call cache answers them; and two runs
on the same problem (say, the adaptive and the fixed schedule) share every
sample they have in common.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from fansi.backends import Backend
from fansi.checks import CheckPool, cluster_answers
from fansi.engine import steps
from fansi.engine.budget import Meter, MeteredBackend, SearchConfig, derive_seed
from fansi.engine.confidence import confidence
from fansi.engine.events import Event, EventHandler, EventKind
from fansi.errors import BackendError
from fansi.records import (
    Candidate,
    GenerateParams,
    Issue,
    MetaCheck,
    Problem,
    Usage,
    Verification,
)
from fansi.store import Store

Outcome = Literal["pass", "fail", "unknown"]
Verdict = Literal["pass", "fail", "unknown"]
StopReason = Literal["accepted", "rounds", "budget", "no_candidates"]
T = TypeVar("T")

SEVERITY_RANK = {"fatal": 0, "major": 1, "minor": 2}
MAX_FEEDBACK_ISSUES = 5


@dataclass
class Checked:
    """A candidate in the pool with the evidence gathered about it."""

    candidate: Candidate
    verifications: list[Verification] = field(default_factory=list)
    meta_checks: list[MetaCheck] = field(default_factory=list)
    accepted: bool = False
    cluster: int | None = None
    answer_support: float | None = None

    def outcomes(self) -> list[Outcome]:
        return [outcome(v) for v in self.verifications]

    @property
    def score(self) -> float | None:
        """Mean verified score, weighted by what meta-checking left standing."""
        known = [v for v in self.verifications if v.score is not None and v.weight > 0]
        weight = sum(v.weight for v in known)
        if not known or weight == 0:
            return None
        return sum(v.weight * (v.score or 0.0) for v in known) / weight

    def confirmed_issues(self) -> list[Issue]:
        """Issues a meta-check judged real; else those of standing failing verdicts."""
        real = {(c.verification_id, c.issue_index) for c in self.meta_checks if c.real}
        confirmed: list[Issue] = []
        standing: list[Issue] = []
        for v in self.verifications:
            if outcome(v) != "fail":
                continue
            for index, issue in enumerate(v.issues):
                (confirmed if (v.id, index) in real else standing).append(issue)
        chosen = confirmed or standing
        return sorted(chosen, key=lambda i: SEVERITY_RANK[i.severity])[:MAX_FEEDBACK_ISSUES]

    def rank_key(self) -> tuple[float, float, float, float, float]:
        """Accepted, then verified score, then agreement with other answers, then
        whether a final answer is stated at all (with one answered candidate in the
        pool there is no agreement to weigh, and an answer beats none), then the
        writer's own score."""
        return (
            float(self.accepted),
            -1.0 if self.score is None else self.score,
            -1.0 if self.answer_support is None else self.answer_support,
            float(self.candidate.answer is not None),
            -1.0 if self.candidate.self_score is None else self.candidate.self_score,
        )


async def gather_or_cancel(jobs: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Run jobs concurrently; if one fails, cancel the others before raising,
    so that none of them goes on writing to a store that is being closed."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def outcome(v: Verification) -> Outcome:
    if v.score is None or v.weight == 0:
        return "unknown"
    return "pass" if v.score >= 1 else "fail"


def wanted(config: SearchConfig, outcomes: list[Outcome]) -> int:
    """How many verifications to launch now for a candidate (0: its outcome is clear)."""
    k, done = config.k, len(outcomes)
    if config.schedule == "fixed":
        return k - done
    if config.schedule == "streak":
        if streak(outcomes, "pass") >= k or streak(outcomes, "fail") >= config.reject_after:
            return 0
        return 1 if done < k + config.reject_after + k else 0
    # adaptive
    passes = outcomes.count("pass")
    if "fail" in outcomes or passes >= k or done >= 2 * k:
        return 0
    return min(config.wave, k - passes)


def accepted(config: SearchConfig, outcomes: list[Outcome]) -> bool:
    if config.schedule == "streak":
        return streak(outcomes, "pass") >= config.k
    return "fail" not in outcomes and outcomes.count("pass") >= config.k


def streak(outcomes: list[Outcome], kind: Outcome) -> int:
    count = 0
    for o in reversed(outcomes):
        if o == "unknown":
            continue
        if o != kind:
            break
        count += 1
    return count


@dataclass(frozen=True)
class SearchResult:
    """What a search returns: the best candidate and the evidence for it."""

    run_id: str
    problem: Problem
    best: Candidate | None
    verdict: Verdict
    score: float | None
    confidence: float
    issues: tuple[Issue, ...]
    verifications: tuple[Verification, ...]
    stop_reason: StopReason
    rounds: int
    candidates: int
    usage: Usage
    calls: int
    cached_calls: int
    failed_calls: int
    seconds: float
    calibrated: bool = False
    #: The engine's own number when ``confidence`` has been calibrated.
    raw_confidence: float | None = None


class Search:
    """One run of the loop over one problem. Use :func:`run_search`."""

    def __init__(
        self,
        problem: Problem,
        backend: Backend,
        config: SearchConfig,
        *,
        run_id: str,
        store: Store | None = None,
        on_event: EventHandler | None = None,
        checks: CheckPool | None = None,
    ) -> None:
        self.problem = problem
        self.config = config
        self.run_id = run_id
        self.store = store
        self.on_event = on_event
        self.meter = Meter(config.budget)
        self.backend = MeteredBackend(backend, self.meter)
        self.checks = checks
        self.pool: list[Checked] = []
        self.round = 0
        self.last_error: BackendError | None = None
        # Bound what is in flight so a big effort cannot flood a local backend.
        self._slots = asyncio.Semaphore(max(1, backend.max_concurrency) * 2)

    # --- plumbing --------------------------------------------------------

    def emit(self, kind: EventKind, **data: object) -> None:
        if self.on_event is not None:
            self.on_event(Event(kind, self.round, self.meter.usage.total_tokens,
                                self.meter.calls, self.meter.seconds, dict(data)))

    def params(self, max_tokens: int, *where: object) -> GenerateParams:
        return GenerateParams(
            max_tokens=max_tokens,
            temperature=self.config.temperature,
            seed=derive_seed(self.config.seed, *where),
        )

    async def call(self, what: str, step: Coroutine[Any, Any, T]) -> T | None:
        """Run one step; an infrastructure failure is recorded, not raised."""
        async with self._slots:
            if self.spent():
                step.close()
                return None
            try:
                return await step
            except BackendError as exc:
                self.last_error = exc
                self.emit("call_failed", step=what, error=exc.message)
                return None

    # --- the steps, as the controller uses them ---------------------------

    async def write(self, index: int) -> Checked | None:
        cid = f"{self.run_id}-r0c{index}"
        params = self.params(self.config.max_tokens, "generate", index)
        candidate = await self.call("generate", steps.generate(
            self.backend, self.problem, params, id=cid, round=0))
        return self.admit(candidate)

    async def rewrite(self, parent: Checked, index: int) -> Checked | None:
        cid = f"{self.run_id}-r{self.round}c{index}"
        params = self.params(self.config.max_tokens, "refine", digest(parent.candidate.solution))
        answered = [v.id for v in parent.verifications if outcome(v) == "fail"]
        candidate = await self.call("refine", steps.refine(
            self.backend, self.problem, parent.candidate, parent.confirmed_issues(), params,
            answered=answered, id=cid))
        return self.admit(candidate)

    def admit(self, candidate: Candidate | None) -> Checked | None:
        if candidate is None:
            return None
        if self.store is not None:
            self.store.add_candidate(self.run_id, candidate)
        self.emit("candidate_written", candidate=candidate.id, parents=list(candidate.parents),
                  self_score=candidate.self_score, answer=candidate.answer,
                  truncated=candidate.truncated)
        checked = Checked(candidate)
        self.pool.append(checked)
        return checked

    async def verify_once(self, checked: Checked, index: int) -> None:
        cand = checked.candidate
        vid = f"{cand.id}-v{index}"
        params = self.params(self.config.verify_tokens, "verify", digest(cand.solution), index)
        verification = await self.call("verify", steps.verify(
            self.backend, self.problem, cand, params, id=vid))
        if verification is None:
            verification = Verification(vid, cand.id, None, (), "", reason="the call failed")
        checks: list[MetaCheck] = []
        if self.config.meta_check and verification.issues and outcome(verification) == "fail":
            meta_params = self.params(self.config.meta_tokens, "meta", digest(verification.raw))
            checks = await self.call("meta_check", steps.meta_check(
                self.backend, self.problem, cand, verification, meta_params, id=f"{vid}-m")) or []
            verification = steps.reweigh(verification, checks)
        # Stored only now, with its final weight: a resumed run rewrites the
        # same record, and inserts of a known id are ignored.
        if self.store is not None:
            self.store.add_verification(self.run_id, verification)
            for check in checks:
                self.store.add_meta_check(self.run_id, check)
        checked.verifications.append(verification)
        checked.meta_checks.extend(checks)
        self.emit("verification_finished", candidate=cand.id, verification=vid,
                  score=verification.score, weight=verification.weight,
                  issues=len(verification.issues), reason=verification.reason)
        for check in checks:
            if check.real:
                issue = verification.issues[check.issue_index]
                self.emit("issue_confirmed", candidate=cand.id, severity=issue.severity,
                          description=issue.description)

    async def verify_candidate(self, checked: Checked) -> None:
        while (count := wanted(self.config, checked.outcomes())) and not self.spent():
            start = len(checked.verifications)
            wave = [self.verify_once(checked, start + i) for i in range(count)]
            await gather_or_cancel(wave)
            # Keep the order of the samples, not of their completion.
            checked.verifications.sort(key=lambda v: int(v.id.rsplit("-v", 1)[1]))
        checked.accepted = accepted(self.config, checked.outcomes())
        self.emit("candidate_decided", candidate=checked.candidate.id, accepted=checked.accepted,
                  score=checked.score, verifications=len(checked.verifications))

    def spent(self) -> str | None:
        return self.meter.exhausted()

    # --- the loop ----------------------------------------------------------

    async def run(self) -> SearchResult:
        config = self.config
        self.emit("run_started", run_id=self.run_id, n=config.n, k=config.k, m=config.m,
                  rounds=config.rounds, schedule=config.schedule)
        # Each candidate is verified as soon as it is written, so a batching
        # backend reads verification prompts while other candidates are written.
        fresh = await self.gather([self.then_verify(self.write(i)) for i in range(config.n)])
        if not fresh and self.last_error is not None:
            # Not one candidate could be written: the backend is down, not flaky.
            raise self.last_error
        stop: StopReason = "rounds"
        while True:
            await self.weigh_answers()
            ranked = self.ranked()
            self.emit("round_finished", candidates=len(self.pool),
                      best_score=ranked[0].score if ranked else None)
            if not ranked:
                stop = "no_candidates"
                break
            if ranked[0].accepted:
                stop = "accepted"
                break
            if self.spent():
                stop = "budget"
                break
            if self.round + 1 >= config.rounds:
                break
            self.round += 1
            parents = [c for c in ranked if not c.accepted and c.confirmed_issues()][: config.m]
            if not parents:
                break
            fresh = await self.gather(
                [self.then_verify(self.rewrite(p, i)) for i, p in enumerate(parents)])
        return self.result(stop)

    async def then_verify(self, writing: Coroutine[Any, Any, Checked | None]) -> Checked | None:
        checked = await writing
        if checked is not None:
            await self.verify_candidate(checked)
        return checked

    def ranked(self) -> list[Checked]:
        """Best first. Ties keep the order of candidate ids, not of completion
        times, so the same evidence always selects the same candidate."""
        by_id = sorted(self.pool, key=lambda c: c.candidate.id)
        return sorted(by_id, key=Checked.rank_key, reverse=True)

    async def gather(self, jobs: list[Coroutine[Any, Any, Checked | None]]) -> list[Checked]:
        return [c for c in await gather_or_cancel(jobs) if c is not None]

    async def weigh_answers(self) -> None:
        """Cluster final answers by equivalence; a candidate's support is the
        share of answered candidates that agree with it."""
        answers = [c.candidate.answer for c in self.pool]
        if self.checks is None or sum(a is not None for a in answers) < 2:
            return
        clusters = await cluster_answers(answers, pool=self.checks)
        answered = sum(c is not None for c in clusters)
        for checked, cluster in zip(self.pool, clusters, strict=True):
            checked.cluster = cluster
            if cluster is not None:
                checked.answer_support = clusters.count(cluster) / answered

    def result(self, stop: StopReason) -> SearchResult:
        ranked = self.ranked()
        best = ranked[0] if ranked else None
        verdict: Verdict = "unknown"
        if best is not None and best.accepted:
            verdict = "pass"
        elif best is not None and "fail" in best.outcomes():
            verdict = "fail"
        conf = confidence(best) if best else 0.0
        result = SearchResult(
            run_id=self.run_id,
            problem=self.problem,
            best=best.candidate if best else None,
            verdict=verdict,
            score=best.score if best else None,
            confidence=conf,
            issues=tuple(best.confirmed_issues()) if best and not best.accepted else (),
            verifications=tuple(best.verifications) if best else (),
            stop_reason=stop,
            rounds=self.round + 1,
            candidates=len(self.pool),
            usage=self.meter.usage,
            calls=self.meter.calls,
            cached_calls=self.meter.cached_calls,
            failed_calls=self.meter.failed_calls,
            seconds=self.meter.seconds,
        )
        self.emit("run_finished", verdict=verdict, score=result.score, confidence=conf,
                  stop_reason=stop)
        return result


async def run_search(
    problem: Problem,
    backend: Backend,
    config: SearchConfig,
    *,
    run_id: str,
    store: Store | None = None,
    on_event: EventHandler | None = None,
) -> SearchResult:
    """Run the loop on one problem and return the best candidate with its verdict."""
    async with CheckPool() as checks:
        search = Search(problem, backend, config, run_id=run_id, store=store,
                        on_event=on_event, checks=checks)
        return await search.run()


__all__ = ["Checked", "Search", "SearchResult", "accepted", "outcome", "run_search", "wanted"]
