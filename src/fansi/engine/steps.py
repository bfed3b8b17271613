"""The four steps of the loop: generate, verify, meta-check and refine.

Each step is one backend call: build the messages from a template, call the
backend, and read the reply with :mod:`fansi.parse`. Steps never raise on
what a model writes; a reply that cannot be read comes back as a record whose
score or verdict is ``None`` with a reason. Only ``BackendError`` from the
backend propagates (the caller retries).

Text under review is data. Problem, candidate and referee reports are put in
the prompt inside fences whose code cannot occur in the text they enclose (see
:func:`fansi.prompts.fence`), and scores are read only from the reply of the
model that was asked to judge. A reply that was cut off (stop reason other
than ``stop``) is never read as a verdict.

The message builders (:func:`generate_messages` and friends) are public so
that callers can count, cache or inspect prompts without making a call.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

from fansi.backends import Backend
from fansi.config import WriterPrompt
from fansi.parse import (
    META_SCHEMA,
    VERDICT_SCHEMA,
    Judgement,
    Verdict,
    parse_candidate,
    parse_meta,
    parse_verdict,
    score_distribution,
)
from fansi.prompts import fence, load
from fansi.records import (
    Candidate,
    Completion,
    GenerateParams,
    Issue,
    Message,
    MetaCheck,
    Problem,
    Verification,
)

#: Alternatives read per token of a verdict, for the score's distribution.
SCORE_ALTERNATIVES = 5


def new_id() -> str:
    """A fresh record id: 12 hex digits of a random UUID."""
    return uuid.uuid4().hex[:12]


def format_issues(issues: Sequence[Issue]) -> str:
    """Issues as a numbered list, the form referees' reports take in prompts.

    Args:
        issues: The issues, in report order.

    Returns:
        One entry per issue, numbered from 1, or a line saying there are none.
    """
    if not issues:
        return "(No specific issues were listed.)"
    return "\n".join(
        f"{number}. [{issue.severity}] at {issue.location or 'unspecified'}: {issue.description}"
        for number, issue in enumerate(issues, start=1)
    )


# --------------------------------------------------------------------------- prompts


def generate_messages(problem: Problem, prompt: WriterPrompt = "full") -> list[Message]:
    """The messages asking the writer for a solution: with a self-evaluation and
    a self-score (``full``), or the solution alone (``plain``)."""
    problem_fence = fence("PROBLEM", problem.text)
    name = "generate" if prompt == "full" else "generate_plain"
    return load(name).render(problem=problem_fence.render(), problem_code=problem_fence.code)


def verify_messages(problem: Problem, candidate: Candidate) -> list[Message]:
    """The messages asking a verifier to review ``candidate.solution``.

    Nothing here depends on the sample, so every verification of one
    candidate sends the same prompt, and all candidates of one problem share
    the prefix up to the end of the problem.
    """
    problem_fence = fence("PROBLEM", problem.text)
    candidate_fence = fence("CANDIDATE", candidate.solution, avoid=(problem.text,))
    return load("verify").render(
        problem=problem_fence.render(),
        candidate=candidate_fence.render(),
        candidate_code=candidate_fence.code,
    )


def meta_messages(
    problem: Problem, candidate: Candidate, verification: Verification
) -> list[Message]:
    """The messages asking whether each issue of ``verification`` is real."""
    report = format_issues(verification.issues)
    problem_fence = fence("PROBLEM", problem.text)
    candidate_fence = fence("CANDIDATE", candidate.solution, avoid=(problem.text,))
    report_fence = fence("REPORT", report, avoid=(problem.text, candidate.solution))
    return load("meta_check").render(
        problem=problem_fence.render(),
        candidate=candidate_fence.render(),
        report=report_fence.render(),
        report_code=report_fence.code,
        issue_count=str(len(verification.issues)),
    )


def refine_messages(
    problem: Problem, candidate: Candidate, issues: Sequence[Issue]
) -> list[Message]:
    """The messages asking the writer to revise ``candidate`` against ``issues``."""
    problem_fence = fence("PROBLEM", problem.text)
    previous_fence = fence("PREVIOUS", candidate.solution, avoid=(problem.text,))
    issues_fence = fence("ISSUES", format_issues(issues), avoid=(problem.text, candidate.solution))
    return load("refine").render(
        problem=problem_fence.render(),
        candidate=previous_fence.render(),
        issues=issues_fence.render(),
        problem_code=problem_fence.code,
    )


# --------------------------------------------------------------------------- steps


def _free_text(params: GenerateParams) -> GenerateParams:
    """The params without a JSON schema: the writer answers in Markdown."""
    return dataclasses.replace(params, json_schema=None) if params.json_schema else params


def _cut_off(completion: Completion) -> str:
    return f"the reply was cut off (stop reason {completion.stop_reason!r})"


def _candidate(
    completion: Completion,
    *,
    id: str,
    round: int,
    parents: tuple[str, ...] = (),
    answered: tuple[str, ...] = (),
) -> Candidate:
    parsed = parse_candidate(completion.text)
    truncated = completion.stop_reason != "stop"
    return Candidate(
        id=id,
        solution=parsed.solution,
        self_evaluation=parsed.self_evaluation,
        # A self-evaluation that was cut off has not reached its conclusion.
        self_score=None if truncated else parsed.self_score,
        answer=parsed.answer,
        parents=parents,
        answered=answered,
        round=round,
        truncated=truncated,
    )


async def generate(
    backend: Backend,
    problem: Problem,
    params: GenerateParams,
    *,
    id: str | None = None,
    round: int = 0,
    prompt: WriterPrompt = "full",
) -> Candidate:
    """Write one complete solution (with a self-evaluation that ends in a
    self-score, for the ``full`` prompt).

    Args:
        backend: The model to call.
        problem: The problem to solve.
        params: Sampling settings; any ``json_schema`` is dropped.
        id: The candidate's id; a fresh one when omitted.
        round: The search round the candidate belongs to.
        prompt: The writer prompt (see :func:`generate_messages`).

    Returns:
        The candidate. ``truncated`` is True when the reply did not stop on its
        own (``length`` or ``cancelled``), and then ``self_score`` is None.
    """
    completion = await backend.generate(generate_messages(problem, prompt), _free_text(params))
    return _candidate(completion, id=id or new_id(), round=round)


async def verify(
    backend: Backend,
    problem: Problem,
    candidate: Candidate,
    params: GenerateParams,
    *,
    id: str | None = None,
) -> Verification:
    """Have one verifier sample review a candidate's solution.

    The call carries ``json_schema=VERDICT_SCHEMA`` so that a backend with
    constrained decoding enforces the verdict's form.

    Args:
        backend: The model to call.
        problem: The problem the candidate solves.
        candidate: The candidate under review; only its solution is shown.
        params: Sampling settings (vary ``seed`` between samples).
        id: The verification's id; a fresh one when omitted.

    Returns:
        The verification. ``score`` is None (unknown) when the reply was cut
        off, cannot be read, breaks the schema, or copies a verdict from the
        text under review; ``reason`` says which.
    """
    params = dataclasses.replace(params, json_schema=VERDICT_SCHEMA,
                                 logprobs=SCORE_ALTERNATIVES if backend.supports_logprobs else 0)
    completion = await backend.generate(verify_messages(problem, candidate), params)
    verification_id = id or new_id()
    if completion.stop_reason != "stop":
        return Verification(
            verification_id, candidate.id, None, (), completion.text, reason=_cut_off(completion)
        )
    verdict = parse_verdict(completion.text, reviewed=f"{problem.text}\n{candidate.solution}")
    return Verification(
        id=verification_id,
        candidate_id=candidate.id,
        score=verdict.score,
        issues=verdict.issues,
        raw=completion.text,
        reason=verdict.reason,
        p_scores=_p_scores(verdict, completion),
    )


def _p_scores(verdict: Verdict, completion: Completion) -> tuple[float, float, float] | None:
    """The verifier's distribution over the score, where the backend gave
    log-probabilities and the verdict is readable. The parser's rules hold for
    it too: a copied verdict, or a 1 with a fatal issue, is read as a sure 0."""
    if verdict.score is None or completion.logprobs is None:
        return None
    if verdict.reason:
        return (1.0, 0.0, 0.0)
    return score_distribution(completion.logprobs, completion.text)


async def meta_check(
    backend: Backend,
    problem: Problem,
    candidate: Candidate,
    verification: Verification,
    params: GenerateParams,
    *,
    id: str | None = None,
) -> list[MetaCheck]:
    """Ask, in one call, whether each issue a verification reports is real.

    Args:
        backend: The model to call.
        problem: The problem the candidate solves.
        candidate: The candidate that was verified.
        verification: The verification whose issues are checked.
        params: Sampling settings; ``json_schema`` is set to ``META_SCHEMA``.
        id: A base id; check ``i`` gets ``f"{id}-{i}"``. Fresh when omitted.

    Returns:
        One check per issue, in the verification's order (empty, with no
        call made, when it lists no issues). ``real`` is None for an issue the
        reply does not settle.
    """
    if not verification.issues:
        return []
    messages = meta_messages(problem, candidate, verification)
    params = dataclasses.replace(params, json_schema=META_SCHEMA)
    completion = await backend.generate(messages, params)
    count = len(verification.issues)
    judgements: tuple[Judgement, ...] | None = None
    if completion.stop_reason != "stop":
        failure = _cut_off(completion)
    else:
        failure = "the meta-verifier's reply cannot be read"
        reviewed = "\n".join([problem.text, candidate.solution, format_issues(verification.issues)])
        judgements = parse_meta(completion.text, count, reviewed=reviewed)
    if judgements is None:
        judgements = (Judgement(None, failure),) * count
    base = id or new_id()
    return [
        MetaCheck(
            id=f"{base}-{index}",
            verification_id=verification.id,
            issue_index=index,
            real=judgement.real,
            raw=completion.text,
            reason=judgement.reason,
        )
        for index, judgement in enumerate(judgements)
    ]


def reweigh(verification: Verification, checks: Sequence[MetaCheck]) -> Verification:
    """Lower the weight of a failing verdict by the share of its issues dismissed.

    For a verdict with score 0 or 0.5 and ``n`` issues, of which ``d`` were
    judged not real (``real is False``), the weight becomes ``1 - d / n``. A
    verdict whose every issue is dismissed thus stops counting, while issues
    left unjudged (``real is None``) keep their weight: an unanswered question
    is not evidence. Verdicts with score 1, with unknown score, or with no
    issues keep their weight. The result depends only on the arguments, so
    applying it twice gives the same weight.

    Args:
        verification: The verification the checks are about.
        checks: Its meta-checks; for a repeated issue index, the last one counts.

    Returns:
        A copy of ``verification`` with the new weight (or it unchanged).

    Raises:
        ValueError: If a check belongs to another verification or names an
            issue the verification does not have.
    """
    latest: dict[int, MetaCheck] = {}
    for check in checks:
        if check.verification_id != verification.id:
            raise ValueError(f"meta-check {check.id} is about {check.verification_id}")
        if not 0 <= check.issue_index < len(verification.issues):
            raise ValueError(f"meta-check {check.id} names issue {check.issue_index}")
        latest[check.issue_index] = check
    total = len(verification.issues)
    if verification.score is None or verification.score >= 1 or total == 0:
        return verification
    dismissed = sum(1 for check in latest.values() if check.real is False)
    return dataclasses.replace(verification, weight=1 - dismissed / total)


async def refine(
    backend: Backend,
    problem: Problem,
    candidate: Candidate,
    issues: Sequence[Issue],
    params: GenerateParams,
    *,
    answered: Sequence[str] = (),
    id: str | None = None,
) -> Candidate:
    """Write a complete new candidate that answers the issues raised on an old one.

    The writer sees the problem, its previous solution and the issues, and
    may argue in its self-evaluation that an issue is wrong.

    Args:
        backend: The model to call.
        problem: The problem to solve.
        candidate: The candidate to revise.
        issues: The confirmed issues it must answer.
        params: Sampling settings; any ``json_schema`` is dropped.
        answered: Ids of the verifications the issues come from.
        id: The new candidate's id; a fresh one when omitted.

    Returns:
        The new candidate, with ``parents=(candidate.id,)``, ``answered`` as
        given and ``round`` one more than the old candidate's.
    """
    messages = refine_messages(problem, candidate, issues)
    completion = await backend.generate(messages, _free_text(params))
    return _candidate(
        completion,
        id=id or new_id(),
        round=candidate.round + 1,
        parents=(candidate.id,),
        answered=tuple(answered),
    )


__all__ = [
    "format_issues",
    "generate",
    "generate_messages",
    "meta_check",
    "meta_messages",
    "new_id",
    "refine",
    "refine_messages",
    "reweigh",
    "verify",
    "verify_messages",
]
