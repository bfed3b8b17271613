"""How each stored record maps to its table row and back.

Writing turns a record into a ``{column: value}`` mapping. Reading validates
what comes back, because the file is a boundary that another fansi, or a
person with the sqlite3 shell, may have written. Nothing here touches a
connection: :class:`fansi.store.Store` runs the SQL.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from fansi.errors import StoreError
from fansi.records import (
    Candidate,
    CheckKind,
    CheckResult,
    Completion,
    GenerateParams,
    Issue,
    Message,
    MetaCheck,
    StopReason,
    TokenLogprob,
    Usage,
    Verification,
    to_dict,
)

if TYPE_CHECKING:
    from pydantic import TypeAdapter

RunStatus = Literal["running", "done", "failed", "interrupted"]

PREVIEW_CHARS = 80


@dataclass(frozen=True)
class RunSummary:
    """One line of ``fansi runs``."""

    id: str
    created_at: str
    status: RunStatus
    model: str
    problem_id: str
    problem_preview: str


@dataclass(frozen=True)
class RunRecord:
    """A run row: what was asked, with which settings and model, and how it ended."""

    id: str
    created_at: str
    status: RunStatus
    settings: Mapping[str, Any]
    fansi_version: str
    model: str
    model_checksum: str | None
    problem_id: str
    result: Mapping[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class CallRecord:
    """One backend call as stored. ``error`` is set when the backend raised."""

    model: str
    messages: tuple[Message, ...]
    params: GenerateParams
    completion: Completion | None
    error: str | None = None
    run_id: str | None = None
    cache_key: str | None = None


def new_id() -> str:
    """A short random hex id (12 characters)."""
    return uuid.uuid4().hex[:12]


#: The records a run is made of, each in its own table.
RecordT = TypeVar("RecordT", Candidate, Verification, MetaCheck, CheckResult)


def with_id(record: RecordT) -> RecordT:
    """``record``, given a new id if it has none."""
    return record if record.id else dataclasses.replace(record, id=new_id())


def dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


_KINDS: dict[str, Any] = {
    "check_kind": CheckKind,
    "ids": tuple[str, ...],
    "issues": tuple[Issue, ...],
    "logprobs": tuple[TokenLogprob, ...],
    "messages": tuple[Message, ...],
    "object": dict[str, Any],
    "p_scores": tuple[float, float, float],
    "params": GenerateParams,
    "status": RunStatus,
    "stop_reason": StopReason,
}


@cache
def _adapter(kind: str) -> TypeAdapter[Any]:
    from pydantic import TypeAdapter

    return TypeAdapter(_KINDS[kind])


def valid(kind: str, value: Any, where: str, *, is_json: bool = True) -> Any:
    """``value`` (JSON text unless ``is_json`` is false) checked as ``kind``; ``None`` stays."""
    from pydantic import ValidationError

    if value is None:
        return None
    adapter = _adapter(kind)
    try:
        return adapter.validate_json(value) if is_json else adapter.validate_python(value)
    except ValidationError as exc:
        raise StoreError(f"the store holds an unreadable {where}: {exc}") from exc


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


@dataclass(frozen=True)
class Table(Generic[RecordT]):
    """Where one kind of run record is stored.

    Attributes:
        name: The table.
        by: The column a read may filter on besides ``run_id``.
        to_row: The columns to insert for a record of a run.
        from_row: The record a row holds, validated.
    """

    name: str
    by: str
    to_row: Callable[[str, RecordT], dict[str, Any]]
    from_row: Callable[[sqlite3.Row], RecordT]


def _candidate_row(run_id: str, candidate: Candidate) -> dict[str, Any]:
    return {
        "id": candidate.id,
        "run_id": run_id,
        "round": candidate.round,
        "parents_json": dump(candidate.parents),
        "answered_json": dump(candidate.answered),
        "solution": candidate.solution,
        "self_evaluation": candidate.self_evaluation,
        "self_score": candidate.self_score,
        "answer": candidate.answer,
        "truncated": int(candidate.truncated),
    }


def _candidate(row: sqlite3.Row) -> Candidate:
    where = f"candidate {row['id']}"
    return Candidate(
        id=row["id"],
        solution=row["solution"],
        self_evaluation=row["self_evaluation"],
        self_score=row["self_score"],
        answer=row["answer"],
        parents=valid("ids", row["parents_json"], where),
        answered=valid("ids", row["answered_json"], where),
        round=row["round"],
        truncated=bool(row["truncated"]),
    )


def _verification_row(run_id: str, verification: Verification) -> dict[str, Any]:
    p_scores = verification.p_scores
    return {
        "id": verification.id,
        "run_id": run_id,
        "candidate_id": verification.candidate_id,
        "score": verification.score,
        "issues_json": dump([to_dict(issue) for issue in verification.issues]),
        "raw": verification.raw,
        "reason": verification.reason,
        "weight": verification.weight,
        "p_scores_json": None if p_scores is None else dump(p_scores),
    }


def _verification(row: sqlite3.Row) -> Verification:
    where = f"verification {row['id']}"
    return Verification(
        id=row["id"],
        candidate_id=row["candidate_id"],
        score=row["score"],
        issues=valid("issues", row["issues_json"], where),
        raw=row["raw"],
        reason=row["reason"],
        weight=row["weight"],
        p_scores=valid("p_scores", row["p_scores_json"], where),
    )


def _meta_check_row(run_id: str, check: MetaCheck) -> dict[str, Any]:
    return {
        "id": check.id,
        "run_id": run_id,
        "verification_id": check.verification_id,
        "issue_index": check.issue_index,
        "real": None if check.real is None else int(check.real),
        "raw": check.raw,
        "reason": check.reason,
    }


def _meta_check(row: sqlite3.Row) -> MetaCheck:
    return MetaCheck(
        id=row["id"],
        verification_id=row["verification_id"],
        issue_index=row["issue_index"],
        real=_bool(row["real"]),
        raw=row["raw"],
        reason=row["reason"],
    )


def _check_row(run_id: str, check: CheckResult) -> dict[str, Any]:
    return {
        "id": check.id,
        "run_id": run_id,
        "candidate_id": check.candidate_id,
        "name": check.name,
        "kind": check.kind,
        "passed": int(check.passed),
        "detail": check.detail,
        "counterexample": check.counterexample,
        "location": check.location,
        "value": check.value,
    }


def _check(row: sqlite3.Row) -> CheckResult:
    return CheckResult(
        id=row["id"],
        candidate_id=row["candidate_id"],
        name=row["name"],
        kind=valid("check_kind", row["kind"], f"check {row['id']}", is_json=False),
        passed=bool(row["passed"]),
        detail=row["detail"],
        counterexample=row["counterexample"],
        location=row["location"],
        value=row["value"],
    )


CANDIDATES = Table("candidates", "id", _candidate_row, _candidate)
VERIFICATIONS = Table("verifications", "candidate_id", _verification_row, _verification)
META_CHECKS = Table("meta_checks", "verification_id", _meta_check_row, _meta_check)
CHECKS = Table("checks", "candidate_id", _check_row, _check)


def run_record(row: sqlite3.Row) -> RunRecord:
    where = f"run {row['id']}"
    return RunRecord(
        id=row["id"],
        created_at=row["created_at"],
        status=valid("status", row["status"], where, is_json=False),
        settings=valid("object", row["settings_json"], where),
        fansi_version=row["fansi_version"],
        model=row["model"],
        model_checksum=row["model_checksum"],
        problem_id=row["problem_id"],
        result=valid("object", row["result_json"], where),
        error=row["error"],
    )


def run_summary(row: sqlite3.Row) -> RunSummary:
    """A listing row: a run's columns and its problem's ``text``."""
    line = " ".join(row["text"].split())
    preview = line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1] + "…"
    return RunSummary(
        id=row["id"],
        created_at=row["created_at"],
        status=valid("status", row["status"], f"run {row['id']}", is_json=False),
        model=row["model"],
        problem_id=row["problem_id"],
        problem_preview=preview,
    )


def call_row(call: CallRecord) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run_id": call.run_id,
        "cache_key": call.cache_key,
        "model": call.model,
        "messages_json": dump([to_dict(m) for m in call.messages]),
        "params_json": call.params.key(),
        "error": call.error,
    }
    done = call.completion
    if done is not None:
        # The log-probabilities are kept: a replayed call must read the same ones.
        logprobs = done.logprobs
        row |= {
            "response_model": done.model,
            "text": done.text,
            "stop_reason": done.stop_reason,
            "prompt_tokens": done.usage.prompt_tokens,
            "completion_tokens": done.usage.completion_tokens,
            "latency_s": done.latency_s,
            "logprobs_json": None if logprobs is None else dump([to_dict(t) for t in logprobs]),
        }
    return row


def completion(row: sqlite3.Row) -> Completion | None:
    """The completion a call row holds; ``None`` for a call that failed."""
    if row["text"] is None:
        return None
    where = f"call {row['id']}"
    return Completion(
        text=row["text"],
        stop_reason=valid("stop_reason", row["stop_reason"], where, is_json=False),
        usage=Usage(row["prompt_tokens"] or 0, row["completion_tokens"] or 0),
        latency_s=row["latency_s"] or 0.0,
        model=row["response_model"] or row["model"],
        logprobs=valid("logprobs", row["logprobs_json"], where),
    )


def call_record(row: sqlite3.Row) -> CallRecord:
    where = f"call {row['id']}"
    return CallRecord(
        model=row["model"],
        messages=valid("messages", row["messages_json"], where),
        params=valid("params", row["params_json"], where),
        completion=completion(row),
        error=row["error"],
        run_id=row["run_id"],
        cache_key=row["cache_key"],
    )


__all__ = [
    "CANDIDATES",
    "CHECKS",
    "META_CHECKS",
    "PREVIEW_CHARS",
    "VERIFICATIONS",
    "CallRecord",
    "RecordT",
    "RunRecord",
    "RunStatus",
    "RunSummary",
    "Table",
    "call_record",
    "call_row",
    "completion",
    "dump",
    "new_id",
    "run_record",
    "run_summary",
    "valid",
    "with_id",
]
