"""The checker contract: executed evidence about a candidate, as a list of functions.

A checker is a plain async callable, in TRL's reward-function shape::

    async def check(problem: Problem, candidate: Candidate, **context) -> CheckResult | None

It returns a :class:`~fansi.records.CheckResult` (passed or failed, with its
evidence) or ``None`` for "cannot judge". The context it may use:

- ``pool``: the killable, sandboxed :class:`~fansi.checks.CheckPool`, where
  anything that executes (Math-Verify, SymPy, model-written programs) runs;
- ``peers``: the other candidates of the pool, in candidate-id order;
- ``memo``: a dict shared by one search's checks, for results worth reusing.

Checkers compose as a list (:data:`DEFAULT_CHECKERS`), and the search runs
them with :func:`run_checks`: a checker that raises is a checker that cannot
judge, never a pass. Results are stored with the candidate they are about.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fansi.checks import CheckPool, equivalent, normalize
from fansi.engine.checked import VOTES
from fansi.errors import BackendError
from fansi.records import Candidate, CheckResult, Problem

Checker = Callable[..., Awaitable[CheckResult | None]]


async def answer_agreement(
    problem: Problem, candidate: Candidate, *, pool: CheckPool,
    peers: Sequence[Candidate], memo: dict[Any, Any], **context: object,
) -> CheckResult | None:
    """Whether other candidates reach the same final answer (by Math-Verify).

    A vote, not a verdict: ``passed`` says that at least one peer agrees, and
    ``value`` is how many of the answered peers do (``"2/3"``). A candidate
    with no answer, or with no answered peer, cannot be judged. Comparisons
    are kept in ``memo``, so a pool of n answers costs at most n(n-1)/2 of them.
    """
    mine = normalize(candidate.answer or "")
    others = [p for p in peers if p.id != candidate.id and normalize(p.answer or "")]
    if not mine or not others:
        return None
    agreeing = []
    for peer in others:
        theirs = normalize(peer.answer or "")
        key = ("answers", *sorted((mine, theirs)))
        if key not in memo:
            memo[key] = await equivalent(key[1], key[2], pool=pool)
        if memo[key] is True:
            agreeing.append(peer.id)
    return CheckResult(
        id=f"{candidate.id}-answer-of-{len(others) + 1}", candidate_id=candidate.id,
        name="answer_agreement",
        kind="answer", passed=bool(agreeing), value=f"{len(agreeing)}/{len(others)}",
        detail=(f"final answer {candidate.answer!r} agrees with "
                f"{', '.join(agreeing) if agreeing else 'no other candidate'}"),
    )


#: The checkers every search runs, in order.
DEFAULT_CHECKERS: tuple[Checker, ...] = (answer_agreement,)


def checker_name(checker: Checker) -> str:
    return getattr(checker, "__name__", type(checker).__name__)


async def run_checks(
    checkers: Sequence[Checker], problem: Problem, candidate: Candidate, **context: Any
) -> list[CheckResult]:
    """Run each checker on one candidate, in order; those that cannot judge are
    left out. After a decisive failure (a failed check that is not a vote) the
    rest are skipped: the candidate is refuted whatever they find, and a later
    checker may cost a model call.

    A model call that fails inside a checker (``BackendError``) counts as
    "cannot judge": a flaky server must not sink a run. Whatever a model
    writes is data to a checker, so anything else a checker raises is a bug
    or an infrastructure failure (``CheckError``), and propagates.
    """
    found = []
    for checker in checkers:
        try:
            result = await checker(problem, candidate, **context)
        except BackendError:
            result = None
        if result is not None:
            found.append(result)
            if not result.passed and result.kind not in VOTES:
                break
    return found


def clusters(candidates: Sequence[Candidate], memo: dict[Any, Any]) -> list[int | None]:
    """Cluster ids for final answers, from the comparisons ``answer_agreement``
    left in ``memo``: each answer joins the first cluster whose first answer
    agrees with it, or opens a new one; None where there is no answer."""
    firsts: list[str] = []
    ids: list[int | None] = []
    for candidate in candidates:
        mine = normalize(candidate.answer or "")
        if not mine:
            ids.append(None)
            continue
        found = next((i for i, first in enumerate(firsts)
                      if first == mine or memo.get(("answers", *sorted((first, mine)))) is True),
                     None)
        if found is None:
            firsts.append(mine)
            found = len(firsts) - 1
        ids.append(found)
    return ids


def support(check: CheckResult | None) -> tuple[int, int] | None:
    """(agreeing, answered peers) from an answer-agreement result's value."""
    if check is None or check.value is None or "/" not in check.value:
        return None
    agree, _, total = check.value.partition("/")
    return int(agree), int(total)


__all__ = ["DEFAULT_CHECKERS", "Checker", "answer_agreement", "checker_name", "clusters",
           "run_checks", "support"]
