"""What crosses the service's HTTP boundary: requests, their caps, and the views of runs.

A request may ask for less search than the server was started with, never
more: its settings are the server's with the request's fields on top, and the
resolved numbers (n, k, m, rounds, tokens per solution) and budgets must not
exceed the server's (:func:`resolve`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fansi.config import EFFORTS, RESULT_NEUTRAL, Checks, Effort, Schedule, Settings
from fansi.engine.budget import SearchConfig
from fansi.store.jobs import JobStatus, Listed

Mode = Literal["solve", "verify"]
Status = Literal["queued", "running", "finished", "failed", "cancelled", "interrupted"]
Verdict = Literal["pass", "fail", "unknown"]
#: Request fields that are settings.
SETTING_FIELDS = ("effort", "schedule", "n", "k", "m", "rounds", "checks", "seed", "max_tokens",
                  "budget_tokens", "budget_calls", "budget_seconds")
#: A run id in a path: what fansi makes (hex, uuids) and what a user may give.
RUN_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class Rejected(Exception):
    """A request the service turns down, with the HTTP status and message to answer."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None
                 ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class RunRequest(BaseModel):
    """Solve a problem, or grade a given solution (``mode="verify"``).

    Every search field is optional; unset ones are the server's, and none may
    ask for more than the server allows.
    """

    model_config = ConfigDict(extra="forbid")

    mode: Mode = "solve"
    problem: str = Field(min_length=1, description="The problem (plain text with LaTeX).")
    solution: str | None = Field(default=None, description="The solution to grade (verify only).")
    effort: Effort | None = None
    schedule: Schedule | None = None
    n: int | None = Field(default=None, ge=1, description="Candidates written in round 1.")
    k: int | None = Field(default=None, ge=1, description="Passing verifications needed to accept.")
    m: int | None = Field(default=None, ge=0, description="Candidates refined per later round.")
    rounds: int | None = Field(default=None, ge=1)
    checks: Checks | None = None
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1,
                             description="Another seed makes another run of the same problem.")
    max_tokens: int | None = Field(default=None, ge=1,
                                   description="Most tokens per written solution.")
    budget_tokens: int | None = Field(default=None, ge=1)
    budget_calls: int | None = Field(default=None, ge=1)
    budget_seconds: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _solution_iff_verify(self) -> RunRequest:
        if self.mode == "verify" and not (self.solution or "").strip():
            raise ValueError("a verify request needs a non-empty solution")
        if self.mode == "solve" and self.solution is not None:
            raise ValueError("a solve request takes no solution (use mode 'verify')")
        return self


def resolve(request: RunRequest, server: Settings) -> Settings:
    """The settings a request runs with: the server's, with the request's on top.

    Raises:
        Rejected: 422 when the request asks for more than the server allows.
    """
    given = request.model_dump(include=set(SETTING_FIELDS), exclude_none=True)
    settings = Settings.model_validate({**server.model_dump(), **given})
    caps = SearchConfig.from_settings(server)
    wanted = SearchConfig.from_settings(settings)
    for name in ("n", "k", "m", "rounds", "max_tokens"):
        if getattr(wanted, name) > getattr(caps, name):
            raise Rejected(422, f"{name}={getattr(wanted, name)} is over this server's cap "
                                f"of {getattr(caps, name)} (it was started with effort "
                                f"{server.effort})")
    for name in ("tokens", "calls", "seconds"):
        cap, asked = getattr(caps.budget, name), getattr(wanted.budget, name)
        if cap is not None and asked > cap:
            raise Rejected(422, f"budget_{name}={asked:g} is over this server's cap of {cap:g}")
    return settings


def efforts_within(server: Settings) -> list[Effort]:
    """The efforts a request may ask for on this server."""
    allowed: list[Effort] = []
    for effort in EFFORTS:
        try:
            resolve(RunRequest(problem="x", effort=effort), server)
        except Rejected:
            continue
        allowed.append(effort)
    return allowed


def stored_settings(settings: Settings) -> dict[str, Any]:
    """What a job keeps of its settings: all that changes its run, no secrets or paths."""
    return settings.model_dump(mode="json", exclude=set(RESULT_NEUTRAL))


def restored_settings(stored: dict[str, Any], server: Settings) -> Settings:
    """A job's settings again: what it decided by, with where and how fast from ``server``."""
    here = {name: getattr(server, name) for name in RESULT_NEUTRAL}
    return Settings.model_validate({**stored, **here})


# --- views ------------------------------------------------------------------


class ErrorBody(BaseModel):
    """Every error of the API: a message, and for invalid input each problem found."""

    detail: str
    errors: list[dict[str, Any]] | None = None


class OpenAIError(BaseModel):
    """Every error under /v1, in OpenAI's shape: ``{"error": {"message": ...}}``."""

    error: dict[str, Any]


def errors(model: type[BaseModel], described: dict[str, str] | None = None, *,
           json: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for error statuses, each with the error body.

    ``json``: name the body as JSON explicitly, for a route whose own answers
    are of another type (FastAPI would document its errors as that type)."""
    common = {"401": "The server's token is missing or wrong.",
              "403": "A foreign Host or Origin on a loopback server without a token.",
              "413": "The request body is too large.",
              "422": "The request is invalid, or asks for more than the server allows.",
              "503": "The store or the check pool cannot be used now.",
              **(described or {})}
    if json:
        body = {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}
        return {int(code): {"description": text, "content": body}
                for code, text in common.items()}
    return {int(code): {"model": model, "description": text} for code, text in common.items()}



class RunView(BaseModel):
    """A run as the list shows it."""

    id: str
    status: Status
    created_at: str
    problem: str = Field(description="The start of the problem.")
    model: str | None
    verdict: Verdict | None
    score: float | None
    confidence: float | None
    calibrated: bool | None
    error: str | None
    url: str = Field(description="The page that shows the run (a link to share).")
    events: str = Field(description="Its server-sent events.")


class RunDetail(RunView):
    """A run with its request, its result and its whole tree."""

    mode: Mode | None
    problem_text: str = Field(description="The whole problem.")
    request: dict[str, Any] | None
    result: dict[str, Any] | None
    tree: dict[str, Any] | None = Field(
        description="Candidates with their executed checks, verifications and meta-checks "
                    "(the shape `fansi show --json` prints).")


class RunList(BaseModel):
    runs: list[RunView]
    limit: int
    offset: int
    query: str


class Info(BaseModel):
    """What this server runs and allows."""

    version: str
    model: str
    verifier_model: str | None
    effort: Effort
    efforts: list[Effort] = Field(description="The efforts a request may ask for.")
    caps: dict[str, float | int | None]
    katex: bool = Field(description="Whether LaTeX is rendered (else shown as written).")
    token_required: bool
    workers: int
    queue_limit: int
    queued: int
    running: int
    max_problem_chars: int
    max_solution_chars: int


_RUN_STATUS: dict[str, Status] = {
    "done": "finished", "failed": "failed", "interrupted": "interrupted", "running": "running",
}


def status_of(job: JobStatus | None, run: str | None) -> Status:
    """A job's status, or, for a run this service did not start, its run's."""
    if job is not None:
        return job
    return _RUN_STATUS[run or "running"]


def run_view(row: Listed) -> RunView:
    result = row.result or {}
    return RunView(
        id=row.id, status=status_of(row.job_status, row.run_status), created_at=row.created_at,
        problem=row.problem_preview, model=row.model, verdict=result.get("verdict"),
        score=result.get("score"), confidence=result.get("confidence"),
        calibrated=result.get("calibrated"), error=row.error,
        url=f"/runs/{row.id}", events=f"/api/runs/{row.id}/events",
    )


__all__ = [
    "RUN_ID",
    "ErrorBody",
    "Info",
    "Mode",
    "OpenAIError",
    "Rejected",
    "RunDetail",
    "RunList",
    "RunRequest",
    "RunView",
    "Status",
    "efforts_within",
    "errors",
    "resolve",
    "restored_settings",
    "run_view",
    "status_of",
    "stored_settings",
]
