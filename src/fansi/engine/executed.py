"""Executed checks: evidence that is computed, not judged.

Four checkers follow the contract of :mod:`fansi.engine.checkers`, and one
function writes independent votes:

- :func:`arithmetic_steps` (no model): every ``expression = value`` claim in
  each step of the solution is evaluated exactly; a false one is a fatal issue
  located at its step.
- :func:`answer_substitution` (no model): each function the final answer
  states (``f(x) = 1``) is put into the problem's functional equation and
  evaluated at sample points; one that makes it false is a fatal issue with
  the point as its counterexample.
- :func:`executed_claims` (model-written): the verifier model writes ``assert``
  statements for concrete claims the candidate makes; a failing assertion
  over cases (brute force), or one a second, independent sample of
  assertions repeats, is a fatal issue with its counterexample, located at
  the step it names or whose numbers it uses (:func:`claim_location`).
  Passing assertions earn nothing, so a candidate that steers the check-writer
  into trivial assertions gains nothing, and assertions that are trivial by
  construction count as "cannot judge".
  Its model call goes through the search's gate (``call``), under the same
  budget and concurrency limits as every other call.
- :func:`program_votes` (model-written): programs written from the problem
  statement alone, never from a candidate, compute the final answer; each
  printed value joins the answer clusters as a vote of its own.

Everything that runs goes to the sandboxed :class:`~fansi.checks.CheckPool`:
no network, no writes outside a scratch folder, CPU, memory and time limits.
A program that errors, times out or prints nothing cannot judge; it never
passes anything.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

# The worker-side halves register their jobs when imported.
import fansi.checks.arithmetic
import fansi.checks.programs
import fansi.checks.substitution  # noqa: F401
from fansi.backends import Backend
from fansi.checks import CheckPool
from fansi.prompts import fence, load
from fansi.records import (
    Candidate,
    CheckKind,
    CheckResult,
    Completion,
    GenerateParams,
    Message,
    Problem,
)

#: Seconds an executed program or assertion block may run.
RUN_TIMEOUT_S = 10.0
#: Characters of a program's output kept.
MAX_OUTPUT_CHARS = 2000

_STEP_LINE = re.compile(r"^\s*step\s+(\d+)\s*[:.)]", re.IGNORECASE | re.MULTILINE)
_CODE_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)

Params = Callable[..., GenerateParams]
#: Runs one model call under the search's budget and concurrency limits;
#: None when the budget is spent or the call failed.
Gate = Callable[[str, Coroutine[Any, Any, Completion]], Awaitable[Completion | None]]


def split_steps(solution: str) -> list[tuple[str, str]]:
    """(location, text) of each step: ``Step N:`` sections where the solution is
    numbered so (ProcessBench's form), else its non-empty lines."""
    marks = list(_STEP_LINE.finditer(solution))
    if marks:
        ends = [m.start() for m in marks[1:]] + [len(solution)]
        return [(f"step {m.group(1)}", solution[m.end():end].strip())
                for m, end in zip(marks, ends, strict=True)]
    lines = [line.strip() for line in solution.splitlines() if line.strip()]
    return [(f"line {i}", line) for i, line in enumerate(lines, start=1)]


_NAMED_PLACE = re.compile(r"\b(step|line)\s+(\d+)\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")


def _numbers(text: str) -> set[str]:
    """The numbers written in ``text``, normalized (``1,000`` and ``1000.0`` are ``1000``),
    0 and 1 left out: they say nothing about where a claim comes from."""
    found = set()
    for raw in _NUMBER.findall(text.replace(",", "")):
        value = raw.rstrip("0").rstrip(".") if "." in raw else raw
        if value not in ("0", "1", "-1", "-0", ""):
            found.add(value)
    return found


def claim_location(steps: list[tuple[str, str]], source: str) -> str:
    """Where in the candidate a failing assertion's claim sits: the step or line
    its source or message names, if there is one; else the first step that
    writes the most of the numbers the assertion uses (at least one); else ""."""
    places = {place.lower(): place for place, _ in steps}
    for kind, number in _NAMED_PLACE.findall(source):
        named = places.get(f"{kind.lower()} {number}")
        if named is not None:
            return named
    wanted = _numbers(source)
    if not wanted:
        return ""
    best, best_count = "", 0
    for place, text in steps:
        count = len(wanted & _numbers(text))
        if count > best_count:
            best, best_count = place, count
    return best


def code_block(text: str) -> str | None:
    """The last fenced Python block of a model's reply; the whole reply when it
    has no fence but parses as Python; else None."""
    blocks = _CODE_BLOCK.findall(text)
    if blocks:
        return str(blocks[-1]).strip() or None
    import ast

    try:
        ast.parse(text)
    except SyntaxError:
        return None
    return text.strip() or None


async def arithmetic_steps(
    problem: Problem, candidate: Candidate, *, pool: CheckPool, **context: object
) -> CheckResult | None:
    """The first false ``expression = value`` claim, located at its step; a pass
    when the solution makes such claims and all hold; None when it makes none
    (or the evaluation cannot run)."""
    steps = split_steps(candidate.solution)
    if not steps:
        return None
    job = await pool.run("arithmetic.check_steps", [text for _, text in steps],
                         timeout_s=RUN_TIMEOUT_S)
    if job.status != "ok" or not isinstance(job.value, list) or not job.value:
        return None
    claims = [c for c in job.value if isinstance(c, dict)]
    false = [c for c in claims if c.get("ok") is False]
    if not false:
        return _found(candidate, "arithmetic", "arithmetic", passed=True,
                      detail=f"{len(claims)} arithmetic claim(s) evaluated exactly; all hold")
    first = false[0]
    where = steps[int(str(first["step"]))][0]
    return _found(candidate, "arithmetic", "arithmetic", passed=False, location=where,
                  detail=f"arithmetic error at {where}: {first['text']}",
                  counterexample=f"the left side is {first['left']}, not {first['right']}")


async def answer_substitution(
    problem: Problem, candidate: Candidate, *, pool: CheckPool, **context: object
) -> CheckResult | None:
    """The functions the candidate's final answer states, put into the problem's
    functional equation (:mod:`fansi.checks.substitution`, no model): a stated
    function that makes the equation false at a point is refuted, decisively,
    with the point; a pass when every stated function held at every point; None
    when nothing could be read."""
    answer = candidate.answer or ""
    if "=" not in answer or "(" not in answer:
        return None
    job = await pool.run("substitution.check", problem.text, answer, timeout_s=RUN_TIMEOUT_S)
    value: dict[str, Any] = job.value if isinstance(job.value, dict) else {}
    if job.status != "ok":
        return None
    refuted = [r for r in value.get("refuted", ()) if isinstance(r, dict)]
    if refuted:
        first = refuted[0]
        return _found(candidate, "substitution", "claim", passed=False, location="final answer",
                      detail=f"the stated answer {first.get('function')} does not satisfy "
                             "the problem's equation",
                      counterexample=str(first.get("counterexample") or "")[:500])
    held = [str(h) for h in value.get("held", ())]
    if not held:
        return None
    return _found(candidate, "substitution", "claim", passed=True,
                  detail=f"{', '.join(held)} satisfy the problem's equation at every "
                         "point tried")


def _found(candidate: Candidate, name: str, kind: CheckKind, **fields: Any) -> CheckResult:
    return CheckResult(id=f"{candidate.id}-{name}", candidate_id=candidate.id, name=name,
                       kind=kind, **fields)


def claims_messages(problem: Problem, candidate: Candidate) -> list[Message]:
    """The messages asking the verifier model for assertions about a candidate."""
    problem_fence = fence("PROBLEM", problem.text)
    candidate_fence = fence("CANDIDATE", candidate.solution, avoid=(problem.text,))
    return load("claims").render(problem=problem_fence.render(),
                                 candidate=candidate_fence.render(),
                                 candidate_code=candidate_fence.code)


def program_messages(problem: Problem) -> list[Message]:
    """The messages asking the writer model for a program that computes the answer."""
    problem_fence = fence("PROBLEM", problem.text)
    return load("program").render(problem=problem_fence.render(),
                                  problem_code=problem_fence.code)


_CASES = re.compile(r"\bfor\b|\bwhile\b|\ball\(|\bany\(")


async def _claims_sample(
    problem: Problem, candidate: Candidate, pool: CheckPool, verifier: Backend,
    params: Params, call: Gate, *where: object,
) -> list[dict[str, Any]] | None:
    """One check-writer sample's assertions, executed: their results, or None
    when there is no runnable code (or the call failed)."""
    completion = await call("claims", verifier.generate(claims_messages(problem, candidate),
                                                        params("claims", *where)))
    if completion is None:  # the call failed, or the budget is spent
        return None
    code = code_block(completion.text) if completion.stop_reason == "stop" else None
    if code is None:
        return None
    job = await pool.run("programs.assertions", code, timeout_s=RUN_TIMEOUT_S)
    if job.status != "ok" or not isinstance(job.value, dict):
        return None
    listed = job.value.get("results")
    return [r for r in listed if isinstance(r, dict)] if isinstance(listed, list) else []


async def executed_claims(
    problem: Problem, candidate: Candidate, *, pool: CheckPool, verifier: Backend,
    params: Params, call: Gate, **context: object,
) -> CheckResult | None:
    """Model-written assertions of the candidate's concrete claims, executed.

    A failing assertion that ranges over cases (a loop, ``all``/``any``: the
    claim checked by brute force) refutes the candidate, decisively, with the
    case that breaks it. A failing assertion at points the check-writer chose
    refutes only when a second, independently sampled set of assertions has a
    failing assertion too: a check-writer's own mistake (values it made up, a
    wrong formula of its own) rarely repeats, a false claim does. A failure the
    second sample does not repeat cannot judge. The counterexample is the
    evidence. Passes when at least one non-trivial
    assertion ran and all held; None otherwise (no code, code that does not
    run, only trivial assertions).
    """
    results = await _claims_sample(problem, candidate, pool, verifier, params, call,
                                   candidate.solution)
    if results is None:
        return None
    failed = [r for r in results if r.get("passed") is False]
    over_cases = [r for r in failed if _CASES.search(str(r.get("source") or ""))]
    if failed and not over_cases:
        again = await _claims_sample(problem, candidate, pool, verifier, params, call,
                                     candidate.solution, "confirm")
        if not again or not any(r.get("passed") is False for r in again):
            return None
    if failed:
        first = (over_cases or failed)[0]
        source = str(first.get("source") or "")
        return _found(candidate, "claims", "claim", passed=False,
                      location=claim_location(split_steps(candidate.solution), source),
                      detail=f"an executed check of a claim failed (and so did a second, "
                             f"independent one): {source}",
                      counterexample=str(first.get("counterexample") or "")[:500])
    held = [r for r in results if r.get("passed") is True]
    if not held:
        return None
    return _found(candidate, "claims", "claim", passed=True,
                  detail=f"{len(held)} executed assertion(s) of its claims hold")


@dataclass(frozen=True)
class ProgramVote:
    """One program's answer to the problem, written from the statement alone."""

    index: int
    answer: str | None
    detail: str


async def program_votes(
    problem: Problem, writer: Backend, pool: CheckPool, params: Params, count: int,
) -> list[ProgramVote]:
    """Write ``count`` programs for the problem (seeded by index), run each in
    the sandbox, and return what each printed last."""
    votes = []
    for index in range(count):
        completion = await writer.generate(program_messages(problem), params("program", index))
        code = code_block(completion.text) if completion.stop_reason == "stop" else None
        if code is None:
            votes.append(ProgramVote(index, None, "no program in the reply"))
            continue
        job = await pool.run("programs.run", code, MAX_OUTPUT_CHARS, timeout_s=RUN_TIMEOUT_S)
        value: dict[str, Any] = job.value if isinstance(job.value, dict) else {}
        if job.status != "ok" or not value.get("ok") or not value.get("answer"):
            why = job.detail or value.get("error") or "it printed nothing"
            votes.append(ProgramVote(index, None, f"the program did not answer: {why}"))
            continue
        votes.append(ProgramVote(index, str(value["answer"]).strip(), "printed its answer"))
    return votes


__all__ = ["MAX_OUTPUT_CHARS", "RUN_TIMEOUT_S", "Gate", "Params", "ProgramVote",
           "answer_substitution", "arithmetic_steps",
           "claim_location", "claims_messages", "code_block", "executed_claims",
           "program_messages", "program_votes", "split_steps"]
