"""A scripted model for controller tests: it recognises the step from the
request and answers according to markers in the text under review."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fansi.backends.fake import FakeBackend, Reply
from fansi.errors import BackendServerError
from fansi.parse import META_SCHEMA, VERDICT_SCHEMA
from fansi.records import GenerateParams, Message

FENCED = re.compile(r"<<<(CANDIDATE|PREVIOUS)-(\w+)>>>\n(.*?)\n<<<END-\1-\2>>>", re.DOTALL)


def step_of(messages: Sequence[Message], params: GenerateParams) -> str:
    if params.json_schema == VERDICT_SCHEMA:
        return "verify"
    if params.json_schema == META_SCHEMA:
        return "meta"
    if params.json_schema is not None and "addressed" in params.json_schema["properties"]:
        return "addressed"
    text = "\n".join(m.content for m in messages)
    if "Write the program for the problem" in text:
        return "program"
    if "Write the assertions for the candidate" in text:
        return "claims"
    return "refine" if "<<<PREVIOUS-" in text else "generate"


def under_review(messages: Sequence[Message]) -> str:
    """The fenced candidate (or previous solution) in the request."""
    text = "\n".join(m.content for m in messages)
    found = FENCED.search(text)
    return found.group(3) if found else ""


def candidate_text(solution: str, self_score: str = "1") -> str:
    return f"## Solution\n{solution}\n\n## Self-evaluation\nChecked.\nSelf-score: {self_score}"


def verdict(score: float, *issues: tuple[str, str]) -> str:
    return json.dumps({
        "issues": [{"location": "step 1", "description": d, "severity": s} for s, d in issues],
        "score": score,
    })


def meta(*real: bool) -> str:
    return json.dumps({"checks": [
        {"issue": i + 1, "reason": "looked", "real": r} for i, r in enumerate(real)
    ]})


@dataclass
class Model:
    """Writes candidates from ``solutions`` (in order, last repeats); grades a
    candidate by the marker it contains: GOOD passes, BAD fails with a fatal
    issue, MINOR gets 0.5, GARBLE gets an unreadable verdict."""

    solutions: list[str] = field(default_factory=lambda: ["GOOD \\boxed{4}"])
    refined: list[str] = field(default_factory=lambda: ["GOOD after revision \\boxed{4}"])
    meta_real: bool = True
    #: Replies to the executed-check steps: by default no code, so they cannot judge.
    program: str = "I would rather not write code."
    claims: str = "Nothing to test."
    fail_every: int = 0
    written: int = 0
    revised: int = 0
    steps: list[str] = field(default_factory=list)

    def __call__(self, messages: Sequence[Message], params: GenerateParams) -> Reply:
        step = step_of(messages, params)
        self.steps.append(step)
        if self.fail_every and len(self.steps) % self.fail_every == 0:
            return BackendServerError("HTTP 500 from the scripted server")
        if step == "generate":
            text = self.solutions[min(self.written, len(self.solutions) - 1)]
            self.written += 1
            return candidate_text(text)
        if step == "refine":
            text = self.refined[min(self.revised, len(self.refined) - 1)]
            self.revised += 1
            return candidate_text(text)
        if step == "addressed":
            return '{"quote": "", "addressed": false}'
        if step == "program":
            return self.program
        if step == "claims":
            return self.claims
        reviewed = under_review(messages)
        if step == "meta":
            return meta(self.meta_real)
        if "GARBLE" in reviewed:
            return "I think it is fine, probably. Score: 1"
        if "BAD" in reviewed:
            return verdict(0, ("fatal", "the key step is false"))
        if "MINOR" in reviewed:
            return verdict(0.5, ("minor", "a small gap"))
        return verdict(1)

    def count(self, step: str) -> int:
        return self.steps.count(step)


def backend(model: Model | Callable[[Sequence[Message], GenerateParams], Reply]) -> FakeBackend:
    return FakeBackend(model)
