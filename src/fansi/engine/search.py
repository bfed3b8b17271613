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
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from fansi.backends import Backend
from fansi.checks import CheckPool, equivalent, normalize
from fansi.engine import evidence, steps
from fansi.engine.budget import Meter, MeteredBackend, SearchConfig, derive_seed
from fansi.engine.checked import Checked, Outcome, outcome
from fansi.engine.checkers import Checker, answer_agreement, clusters, run_checks, support
from fansi.engine.checklist import MODEL_CHECKERS, checkers_for
from fansi.engine.confidence import confidence
from fansi.engine.events import Event, EventHandler, EventKind
from fansi.engine.executed import ProgramVote, program_votes
from fansi.errors import BackendError, BudgetSpent
from fansi.parse import COPIED, final_answer
from fansi.records import (
    Candidate,
    CheckResult,
    GenerateParams,
    Issue,
    MetaCheck,
    Problem,
    Usage,
    Verification,
)
from fansi.store.sink import RecordSink

Verdict = Literal["pass", "fail", "unknown"]
StopReason = Literal["accepted", "rounds", "budget", "no_candidates"]
T = TypeVar("T")


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
    #: The executed checks of the best candidate.
    checks: tuple[CheckResult, ...] = ()


class Search:
    """One run of the loop over one problem.

    The public surface is three methods; everything else is the loop's own:

    - :meth:`run`: the whole loop (write, check, verify, refine);
    - :meth:`grade`: verify a given solution with the schedule and meta-checks;
    - :meth:`sample`: write one candidate, exactly as :meth:`run` writes it.

    :meth:`ranked` reads the evidence gathered so far, best candidate first,
    and :meth:`votes` the program votes.

    Args:
        problem: The problem.
        backend: The model (with a call cache in front, for stored runs).
        config: The search settings.
        run_id: Ids of candidates and verifications derive from it.
        sink: Where records go as they are made (the store, or a Ray driver).
        on_event: Called with each :class:`~fansi.engine.events.Event`.
        checks: The sandboxed pool the checkers run in; without one no
            checker runs.
        checkers: Executed checks run on every candidate, in order; by default
            those that ``config.checks`` allows. Answer agreement compares a
            candidate with the whole pool, so it runs when the pool is ranked;
            the others run as soon as a candidate is written, and a candidate
            they refute is not sent to the verifier.
        verifier: The model that verifies (verdicts, meta-checks, executed-claim
            checks); by default ``backend``, which then both writes and verifies.
    """

    def __init__(
        self,
        problem: Problem,
        backend: Backend,
        config: SearchConfig,
        *,
        run_id: str,
        sink: RecordSink | None = None,
        on_event: EventHandler | None = None,
        checks: CheckPool | None = None,
        checkers: Sequence[Checker] | None = None,
        verifier: Backend | None = None,
    ) -> None:
        self.problem = problem
        self.config = config
        self.run_id = run_id
        self._sink = sink
        self._on_event = on_event
        self._meter = Meter(config.budget)
        self._backend = MeteredBackend(backend, self._meter)
        self._verifier = (self._backend if verifier is None
                          else MeteredBackend(verifier, self._meter))
        self._checks = checks
        chosen = checkers_for(config.checks) if checkers is None else tuple(checkers)
        self._pool_checkers = tuple(c for c in chosen if c is answer_agreement)
        self._checkers = tuple(c for c in chosen if c is not answer_agreement)
        self._memo: dict[Any, Any] = {}
        self._votes: list[ProgramVote] = []
        self._vote_clusters: list[int | None] = []
        self._pool: list[Checked] = []
        self._round = 0
        self._last_error: BackendError | None = None
        # Bound what is in flight so a big effort cannot flood a local backend.
        self._slots = asyncio.Semaphore(max(1, backend.max_concurrency) * 2)

    # --- the public surface ------------------------------------------------

    async def run(self) -> SearchResult:
        """The whole loop; returns the best candidate with its verdict."""
        config = self.config
        self._emit("run_started", run_id=self.run_id, n=config.n, k=config.k, m=config.m,
                   rounds=config.rounds, schedule=config.schedule)
        # Each candidate is verified as soon as it is written, so a batching
        # backend reads verification prompts while other candidates are written.
        fresh = await self._gather([self._then_verify(self._write(i)) for i in range(config.n)])
        if (not fresh and self._last_error is not None
                and not isinstance(self._last_error, BudgetSpent)):
            # Not one candidate could be written: the backend is down, not flaky.
            raise self._last_error
        await self._program_votes()
        stop: StopReason = "rounds"
        while True:
            await self._check_all()
            ranked = self.ranked()
            self._emit("round_finished", candidates=len(self._pool),
                       best_score=ranked[0].score if ranked else None)
            if not ranked:
                stop = "budget" if self._meter.exhausted() else "no_candidates"
                break
            if self._passes(ranked[0]):
                stop = "accepted"
                break
            if self._meter.exhausted():
                stop = "budget"
                break
            if self._round + 1 >= config.rounds:
                break
            self._round += 1
            parents = [c for c in ranked if not c.accepted and c.confirmed_issues()][: config.m]
            if not parents:
                break
            fresh = await self._gather(
                [self._then_verify(self._rewrite(p, i)) for i, p in enumerate(parents)])
        return self._result(stop)

    async def grade(self, solution: str, *, id: str | None = None) -> SearchResult:
        """Verify a given solution as one candidate: the schedule's verifications,
        meta-checks and the checkers, as ``fansi verify`` does.

        Args:
            solution: The solution or proof; its final answer is read as for a
                written candidate.
            id: The candidate's id (default ``<run_id>-given``).
        """
        parsed = final_answer(solution)
        checked = self._admit(Candidate(id or f"{self.run_id}-given", solution, "", None, parsed))
        await self._check_then_verify(checked)
        await self._check_all()
        return self._result("rounds")

    async def sample(self, index: int) -> Candidate | None:
        """Write candidate ``index`` of round 0 as :meth:`run` would (same seed,
        same id), without verifying it; None if the call failed."""
        checked = await self._write(index)
        return checked.candidate if checked else None

    def votes(self) -> tuple[ProgramVote, ...]:
        """The program votes written for the problem (empty when none ran)."""
        return tuple(self._votes)

    def ranked(self) -> list[Checked]:
        """The pool with its evidence, best first, by the evidence-weighted vote
        of :mod:`fansi.engine.evidence`. Ties keep the order of candidate ids,
        not of completion times, so the same evidence always selects the same
        candidate."""
        return evidence.rank(self._pool, self._vote_clusters)

    # --- plumbing --------------------------------------------------------

    def _emit(self, kind: EventKind, **data: object) -> None:
        if self._on_event is not None:
            self._on_event(Event(kind, self._round, self._meter.usage.total_tokens,
                                 self._meter.calls, self._meter.seconds, dict(data)))

    def _params(self, max_tokens: int, *where: object) -> GenerateParams:
        return GenerateParams(
            max_tokens=max_tokens,
            temperature=self.config.temperature,
            seed=derive_seed(self.config.seed, *where),
        )

    async def _call(self, what: str, step: Coroutine[Any, Any, T]) -> T | None:
        """Run one step; an infrastructure failure is recorded, not raised."""
        async with self._slots:
            if self._meter.exhausted():
                step.close()
                return None
            try:
                return await step
            except BackendError as exc:
                self._last_error = exc
                self._emit("call_failed", step=what, error=exc.message)
                return None

    # --- the steps, as the controller uses them ---------------------------

    async def _write(self, index: int) -> Checked | None:
        cid = f"{self.run_id}-r0c{index}"
        params = self._params(self.config.max_tokens, "generate", index)
        candidate = await self._call("generate", steps.generate(
            self._backend, self.problem, params, id=cid, round=0,
            prompt=self.config.writer_prompt))
        return self._admit(candidate) if candidate else None

    async def _rewrite(self, parent: Checked, index: int) -> Checked | None:
        cid = f"{self.run_id}-r{self._round}c{index}"
        params = self._params(self.config.max_tokens, "refine", digest(parent.candidate.solution))
        answered = [v.id for v in parent.verifications if outcome(v) == "fail"]
        candidate = await self._call("refine", steps.refine(
            self._backend, self.problem, parent.candidate, parent.confirmed_issues(), params,
            answered=answered, id=cid))
        return self._admit(candidate) if candidate else None

    def _admit(self, candidate: Candidate) -> Checked:
        if self._sink is not None:
            self._sink.add_candidate(self.run_id, candidate)
        self._emit("candidate_written", candidate=candidate.id, parents=list(candidate.parents),
                   self_score=candidate.self_score, answer=candidate.answer,
                   truncated=candidate.truncated)
        checked = Checked(candidate)
        self._pool.append(checked)
        return checked

    async def _verify_once(self, checked: Checked, index: int) -> None:
        cand = checked.candidate
        vid = f"{cand.id}-v{index}"
        params = self._params(self.config.verify_tokens, "verify", digest(cand.solution), index)
        verification = await self._call("verify", steps.verify(
            self._verifier, self.problem, cand, params, id=vid))
        if verification is None:
            verification = Verification(vid, cand.id, None, (), "", reason="the call failed")
        checks: list[MetaCheck] = []
        if verification.reason == COPIED:
            # The verifier parroted a verdict the candidate carries: evidence of
            # manipulation, decisive, and not for a meta-check to dismiss.
            self._record_checks(checked, [CheckResult(
                id=f"{vid}-copied", candidate_id=cand.id, name="copied_verdict",
                kind="manipulation", passed=False, location=verification.issues[0].location,
                detail=verification.issues[0].description)])
        elif self.config.meta_check and verification.issues and outcome(verification) == "fail":
            meta_params = self._params(self.config.meta_tokens, "meta", digest(verification.raw))
            checks = await self._call("meta_check", steps.meta_check(
                self._verifier, self.problem, cand, verification, meta_params,
                id=f"{vid}-m")) or []
            verification = steps.reweigh(verification, checks)
        # Stored only now, with its final weight: a resumed run rewrites the
        # same record, and inserts of a known id are ignored.
        if self._sink is not None:
            self._sink.add_verification(self.run_id, verification)
            for check in checks:
                self._sink.add_meta_check(self.run_id, check)
        checked.verifications.append(verification)
        checked.meta_checks.extend(checks)
        self._emit("verification_finished", candidate=cand.id, verification=vid,
                   score=verification.score, weight=verification.weight,
                   issues=len(verification.issues), reason=verification.reason)
        for check in checks:
            if check.real:
                issue = verification.issues[check.issue_index]
                self._emit("issue_confirmed", candidate=cand.id, severity=issue.severity,
                           description=issue.description)

    async def _verify_candidate(self, checked: Checked) -> None:
        while (count := wanted(self.config, checked.outcomes())) and not self._meter.exhausted():
            if self.config.schedule == "adaptive" and evidence.clear(checked, self.config.k):
                break  # the verdicts' probabilities already settle it
            start = len(checked.verifications)
            wave = [self._verify_once(checked, start + i) for i in range(count)]
            await gather_or_cancel(wave)
            # Keep the order of the samples, not of their completion.
            checked.verifications.sort(key=lambda v: int(v.id.rsplit("-v", 1)[1]))
        checked.accepted = accepted(self.config, checked.outcomes())
        self._emit("candidate_decided", candidate=checked.candidate.id,
                   accepted=checked.accepted, score=checked.score,
                   verifications=len(checked.verifications))

    async def _then_verify(self, writing: Coroutine[Any, Any, Checked | None]
                           ) -> Checked | None:
        checked = await writing
        if checked is not None:
            await self._check_then_verify(checked)
        return checked

    async def _check_then_verify(self, checked: Checked) -> None:
        """Executed checks first; only a candidate they do not refute goes on to
        the verifier (a counterexample needs no opinion)."""
        # Checkers that call a model spend budget; once it is spent, only the
        # deterministic ones run.
        chosen = [c for c in self._checkers
                  if not (c in MODEL_CHECKERS and self._meter.exhausted())]
        if self._checks is not None and chosen:
            cand = checked.candidate
            found = await run_checks(
                chosen, self.problem, cand, pool=self._checks,
                verifier=self._verifier, memo=self._memo, call=self._call,
                params=lambda *where: self._params(self.config.verify_tokens, *where))
            self._record_checks(checked, found)
        if checked.refuted():
            self._emit("candidate_decided", candidate=checked.candidate.id, accepted=False,
                       score=checked.score, verifications=0)
            return
        await self._verify_candidate(checked)

    def _record_checks(self, checked: Checked, found: Sequence[CheckResult]) -> None:
        for check in found:
            if checked.checks.get(check.name) == check:
                continue
            checked.checks[check.name] = check
            if self._sink is not None:
                self._sink.add_check(self.run_id, check)
            self._emit("check_finished", candidate=checked.candidate.id, check=check.name,
                       check_kind=check.kind, passed=check.passed, value=check.value)

    async def _program_votes(self) -> None:
        """Programs written from the problem alone vote on the answer, where the
        candidates state answers and the checks setting allows model code."""
        count = self.config.n if self.config.programs is None else self.config.programs
        wanted = (self.config.checks == "all" and count > 0 and self._checks is not None
                  and any(c.candidate.answer for c in self._pool))
        if not wanted or self._meter.exhausted():
            return
        assert self._checks is not None
        try:
            self._votes = await program_votes(
                self.problem, self._backend, self._checks,
                lambda *where: self._params(self.config.max_tokens, *where), count)
        except BackendError as exc:
            self._last_error = exc
            self._emit("call_failed", step="program", error=exc.message)
        for vote in self._votes:
            self._emit("program_voted", index=vote.index, answer=vote.answer, detail=vote.detail)

    async def _gather(self, jobs: list[Coroutine[Any, Any, Checked | None]]) -> list[Checked]:
        return [c for c in await gather_or_cancel(jobs) if c is not None]

    async def _check_all(self) -> None:
        """Run the checkers on every candidate against the pool as it stands, and
        cluster the final answers by the agreement they found."""
        if self._checks is None or not self._pool_checkers:
            return
        peers = [c.candidate for c in sorted(self._pool, key=lambda c: c.candidate.id)]
        for checked in self._pool:
            found = await run_checks(self._pool_checkers, self.problem, checked.candidate,
                                     pool=self._checks, peers=peers, memo=self._memo)
            self._record_checks(checked, found)
        self._weigh_answers()
        await self._place_votes()

    async def _place_votes(self) -> None:
        """Put each program's answer in the cluster of the first candidate (by id)
        whose answer is equivalent, and record the agreement on each candidate."""
        if not self._votes or self._checks is None:
            return
        ordered = sorted(self._pool, key=lambda c: c.candidate.id)
        placed: list[int | None] = []
        for vote in self._votes:
            if not vote.answer:
                continue  # a program that did not answer casts no vote
            cluster = None
            for checked in ordered:
                if vote.answer and checked.candidate.answer and checked.cluster is not None \
                        and await self._agree(vote.answer, checked.candidate.answer):
                    cluster = checked.cluster
                    break
            placed.append(cluster)
        self._vote_clusters = placed
        answered = [v for v in self._votes if v.answer]
        for checked in ordered:
            if checked.cluster is None or not answered:
                continue
            agreeing = sum(1 for c in placed if c == checked.cluster)
            self._record_checks(checked, [CheckResult(
                id=f"{checked.candidate.id}-programs-{len(answered)}",
                candidate_id=checked.candidate.id, name="programs", kind="program",
                passed=agreeing > 0, value=f"{agreeing}/{len(answered)}",
                detail=(f"{agreeing} of {len(answered)} program(s) written from the problem "
                        "alone print the same answer"))])

    async def _agree(self, a: str, b: str) -> bool:
        mine, theirs = normalize(a), normalize(b)
        if not mine or not theirs:
            return False
        key = ("answers", *sorted((mine, theirs)))
        if key not in self._memo:
            assert self._checks is not None
            self._memo[key] = await equivalent(key[1], key[2], pool=self._checks)
        return self._memo[key] is True

    def _weigh_answers(self) -> None:
        """A candidate's answer support is the share of answered candidates that
        agree with it (itself included); clusters group agreeing answers."""
        for checked in self._pool:
            agreement = support(checked.checks.get("answer_agreement"))
            checked.answer_support = (None if agreement is None
                                      else (agreement[0] + 1) / (agreement[1] + 1))
        ordered = sorted(self._pool, key=lambda c: c.candidate.id)
        for checked, cluster in zip(ordered, clusters([c.candidate for c in ordered], self._memo),
                                    strict=True):
            checked.cluster = cluster

    def _passes(self, checked: Checked) -> bool:
        """Accepted (k passing verdicts, no standing failure), or, on the adaptive
        schedule, passed clearly by the verdicts' probabilities."""
        if checked.accepted:
            return True
        return (self.config.schedule == "adaptive" and not checked.refuted()
                and "fail" not in checked.outcomes()
                and evidence.clear(checked, self.config.k) == "pass")

    def _result(self, stop: StopReason) -> SearchResult:
        ranked = self.ranked()
        best = ranked[0] if ranked else None
        verdict: Verdict = "unknown"
        if best is not None and self._passes(best):
            verdict = "pass"
        elif best is not None and ("fail" in best.outcomes() or best.refuted()):
            verdict = "fail"
        share = evidence.vote_share(ranked, best, self._vote_clusters) if best else None
        conf = confidence(best, share) if best else 0.0
        result = SearchResult(
            run_id=self.run_id,
            problem=self.problem,
            best=best.candidate if best else None,
            verdict=verdict,
            score=best.score if best else None,
            confidence=conf,
            issues=tuple(best.confirmed_issues()) if best and verdict != "pass" else (),
            verifications=tuple(best.verifications) if best else (),
            stop_reason=stop,
            rounds=self._round + 1,
            candidates=len(self._pool),
            usage=self._meter.usage,
            calls=self._meter.calls,
            cached_calls=self._meter.cached_calls,
            failed_calls=self._meter.failed_calls,
            seconds=self._meter.seconds,
            checks=tuple(best.checks.values()) if best else (),
        )
        self._emit("run_finished", verdict=verdict, score=result.score, confidence=conf,
                   stop_reason=stop)
        return result


async def run_search(
    problem: Problem,
    backend: Backend,
    config: SearchConfig,
    *,
    run_id: str,
    sink: RecordSink | None = None,
    on_event: EventHandler | None = None,
) -> SearchResult:
    """Run the loop on one problem, with a check pool of its own, and return the
    best candidate with its verdict (for scripts and benchmarks; stored runs go
    through :mod:`fansi.api`)."""
    async with CheckPool() as checks:
        search = Search(problem, backend, config, run_id=run_id, sink=sink,
                        on_event=on_event, checks=checks)
        return await search.run()


__all__ = ["Checked", "Outcome", "Search", "SearchResult", "accepted", "outcome", "run_search",
           "wanted"]
