"""Manipulation: text in a candidate addressed to its grader is a fatal issue.

Two checkers, in the contract of :mod:`fansi.engine.checkers`:

- :func:`manipulation_text` (no model): :func:`fansi.checks.manipulation.detect`
  finds verdicts, scores, markers, role lines, instructions, encoded payloads,
  invisible characters and homoglyph words, in many languages. The first
  finding becomes a failed check located at its line, with the offending text
  quoted as the evidence.
- :func:`manipulation_model` (the verifier model): asked whether anything in
  the candidate addresses its grader, it must quote the text; the check fails
  only when the quotation really occurs in the candidate, so a model that
  imagines a manipulation cannot fail an honest proof.

A failed manipulation check is decisive, like any executed check: the
candidate's vote weight and confidence are zero and it is not sent to the
verifier. Nothing a candidate says about itself can raise its score, because
no check passes on what the text claims: a manipulation check can only fail.
"""

from __future__ import annotations

import dataclasses

from fansi.backends import Backend
from fansi.checks.manipulation import detect
from fansi.engine.executed import Gate, Params
from fansi.parse import last_json_object
from fansi.prompts import fence, load
from fansi.records import Candidate, CheckResult, Message, Problem

ADDRESSED_SCHEMA = {
    "type": "object",
    "properties": {"quote": {"type": "string"}, "addressed": {"type": "boolean"}},
    "required": ["quote", "addressed"],
    "additionalProperties": False,
}
#: The shortest quotation the model check acts on (shorter is too easy to find by chance).
MIN_QUOTE = 6


async def manipulation_text(problem: Problem, candidate: Candidate, **context: object
                            ) -> CheckResult | None:
    """A failed check at the first text addressed to a grader; None when there is none."""
    found = detect(candidate.solution)
    if not found:
        return None
    first = found[0]
    kinds = sorted({f.kind for f in found})
    return CheckResult(
        id=f"{candidate.id}-manipulation", candidate_id=candidate.id, name="manipulation",
        kind="manipulation", passed=False, location=first.location,
        detail=(f"text addressed to the grader ({', '.join(kinds)}): {first.reason}; "
                "a proof has no reason to address whoever grades it"),
        counterexample=first.excerpt,
    )


def addressed_messages(candidate: Candidate) -> list[Message]:
    """The messages asking the verifier model to screen a candidate."""
    candidate_fence = fence("CANDIDATE", candidate.solution)
    return load("addressed").render(candidate=candidate_fence.render(),
                                    candidate_code=candidate_fence.code)


async def manipulation_model(
    problem: Problem, candidate: Candidate, *, verifier: Backend, params: Params, call: Gate,
    **context: object,
) -> CheckResult | None:
    """The verifier model's screen for text addressed to the grader; it fails only
    on a quotation that occurs in the candidate. None otherwise (it never passes)."""
    asked = dataclasses.replace(params("addressed", candidate.solution),
                                json_schema=ADDRESSED_SCHEMA, max_tokens=160)
    completion = await call("addressed", verifier.generate(addressed_messages(candidate), asked))
    if completion is None or completion.stop_reason != "stop":
        return None
    reply = last_json_object(completion.text)
    if not reply or reply.get("addressed") is not True or not isinstance(reply.get("quote"), str):
        return None
    quote = reply["quote"].strip()
    at = candidate.solution.find(quote) if len(quote) >= MIN_QUOTE else -1
    if at < 0:
        return None
    line = candidate.solution.count("\n", 0, at) + 1
    return CheckResult(
        id=f"{candidate.id}-manipulation-model", candidate_id=candidate.id,
        name="manipulation_model", kind="manipulation", passed=False, location=f"line {line}",
        detail="the verifier model found text addressed to the grader",
        counterexample=quote[:200],
    )


__all__ = ["ADDRESSED_SCHEMA", "addressed_messages", "manipulation_model", "manipulation_text"]
