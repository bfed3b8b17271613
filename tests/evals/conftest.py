"""Scripted models and small data files for the eval tests.

The answer model writes, for each problem, the answers listed in ``ANSWERS``
by sample index (read back from the call's seed); the verifier passes a
candidate marked GOOD and fails one marked BAD. The solution verifier flags
``FLAGn`` at step n, and raises a false alarm at step 1 on ``FALSEALARM``
that meta-checking dismisses. The grader gives 7 to a proof marked GOOD.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from fansi.backends.fake import FakeBackend, Reply, Script
from fansi.engine.budget import derive_seed
from fansi.records import GenerateParams, Message

from scripted_model import candidate_text, meta, step_of, under_review, verdict

PROBLEM = re.compile(r"<<<PROBLEM-(\w+)>>>\n(.*?)\n<<<END-PROBLEM-\1>>>", re.DOTALL)
PROOF = re.compile(r"<<<PROOF-(\w+)>>>\n(.*?)\n<<<END-PROOF-\1>>>", re.DOTALL)
SAMPLE = {derive_seed(0, "generate", i): i for i in range(32)}

#: problem -> (marker, answer) of samples 0, 1, 2 (then repeating)
ANSWERS = {
    "What is 2+2?": [("GOOD", "4"), ("GOOD", "4"), ("BAD", "5")],  # all three right
    "What is 3+3?": [("BAD", "7"), ("GOOD", "6"), ("BAD", "7")],  # only fansi right
    "What is 4+4?": [("GOOD", "9"), ("BAD", "8"), ("BAD", "8")],  # only the vote right
}
REFERENCES = {"What is 2+2?": "4", "What is 3+3?": "6", "What is 4+4?": "8"}


def _text(messages: Sequence[Message]) -> str:
    return "\n".join(m.content for m in messages)


def answer_model(messages: Sequence[Message], params: GenerateParams) -> Reply:
    step = step_of(messages, params)
    if step in ("program", "claims", "addressed"):
        return "no code"
    if step == "generate":
        match = PROBLEM.search(_text(messages))
        assert match is not None and params.seed is not None
        marker, answer = ANSWERS[match.group(2)][SAMPLE[params.seed] % 3]
        return candidate_text(f"{marker} work \\boxed{{{answer}}}")
    if step == "meta":
        return meta(True)
    if step == "verify":
        return verdict(0, ("fatal", "wrong")) if "BAD" in under_review(messages) else verdict(1)
    raise AssertionError(f"unexpected step {step}")


def solution_model(messages: Sequence[Message], params: GenerateParams) -> Reply:
    step = step_of(messages, params)
    if step in ("program", "claims", "addressed"):
        return "no code"
    reviewed = under_review(messages)
    if step == "meta":
        return meta("FALSEALARM" not in reviewed)
    flag = re.search(r"FLAG(\d)", reviewed)
    if flag:
        return json.dumps({"issues": [{"location": f"Step {flag.group(1)}",
                                       "description": "false", "severity": "fatal"}],
                           "score": 0})
    if "FALSEALARM" in reviewed:
        return json.dumps({"issues": [{"location": "step 1", "description": "looks off",
                                       "severity": "major"}], "score": 0})
    return verdict(1)


def proof_model(messages: Sequence[Message], params: GenerateParams) -> Reply:
    if params.json_schema is not None and "grade" in params.json_schema["properties"]:
        match = PROOF.search(_text(messages))
        assert match is not None
        good = "GOOD" in match.group(2)
        return json.dumps({"assessment": "checked", "grade": 7 if good else 0})
    step = step_of(messages, params)
    if step == "generate":
        good = "square" in _text(messages)
        return candidate_text("GOOD proof." if good else "BAD proof.")
    if step == "meta":
        return meta(True)
    return verdict(0, ("fatal", "gap")) if "BAD" in under_review(messages) else verdict(1)


@pytest.fixture
def answers_file(tmp_path: Path) -> Path:
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps({"question": q, "answer": f"So.\n#### {a}"}) + "\n"
                            for q, a in REFERENCES.items()))
    return path


@pytest.fixture
def steps_file(tmp_path: Path) -> Path:
    path = tmp_path / "pb.json"
    rows = [
        ("ok", ["Add.", "Done, 4."], -1),
        ("located", ["Add.", "FLAG2 so 5."], 1),
        ("misplaced", ["Wrong start.", "FLAG2 then."], 0),
        ("alarm", ["FALSEALARM fine.", "Done."], -1),
    ]
    path.write_text(json.dumps([{"id": i, "generator": "g", "problem": "What is 2+2?",
                                 "steps": steps, "final_answer_correct": label < 0,
                                 "label": label} for i, steps, label in rows]))
    return path


@pytest.fixture
def proofs_file(tmp_path: Path) -> Path:
    path = tmp_path / "proofs.csv"
    header = "Problem ID,Problem,Solution,Grading guidelines,Category,Level,Short Answer,Source\n"
    rows = [
        'PB-Basic-001,"Prove that a square is not negative.",ref,"(Partial) 1. x",Algebra,'
        "IMO-easy,,src\n",
        'PB-Basic-002,"Prove that there are infinitely many primes.",ref,"(Partial) 1. y",'
        "Number theory,IMO-easy,,src\n",
        'PB-Advanced-001,"Prove a hard thing.",ref,"(Almost) 1. z",Geometry,IMO-hard,,src\n',
    ]
    path.write_text(header + "".join(rows))
    return path


@pytest.fixture
def scripts() -> dict[str, Script]:
    return {"answers": answer_model, "solutions": solution_model, "proofs": proof_model}


@pytest.fixture
def scripted(scripts: dict[str, Script]) -> Callable[[str], FakeBackend]:
    """A fresh scripted backend: ``scripted("answers" | "solutions" | "proofs")``."""
    return lambda name: FakeBackend(scripts[name])
