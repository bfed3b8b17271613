"""The FastAPI application: the JSON API under ``/api``, its event streams, and
the one place where failures become HTTP answers.

Every route is ``async``: the store belongs to the event loop's thread, and
each call to it is one short statement.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field

from fansi._version import __version__
from fansi.errors import BackendError, ConfigError, FansiError, InputError, StoreError
from fansi.records import to_dict
from fansi.serve.guard import COOKIE, Guard, same, session_value
from fansi.serve.latex import katex_available
from fansi.serve.schemas import (
    RUN_ID,
    ErrorBody,
    Info,
    Mode,
    Rejected,
    RunDetail,
    RunList,
    RunRequest,
    RunView,
    efforts_within,
    errors,
    run_view,
)
from fansi.serve.service import Service
from fansi.store.jobs import TERMINAL, JobRecord

#: Events read from the store per query while a stream catches up.
BATCH = 200
#: The largest event number a client may name.
MAX_SEQ = 2**53

DESCRIPTION = """\
fansi as a service: submit a problem (or a solution to grade), watch the loop
work as server-sent events, and read the run with its whole tree. The page at
`/` does the same in a browser. `/v1/chat/completions` makes fansi an
OpenAI-compatible model whose reply is its best verified solution.

Off loopback every route but the page needs `Authorization: Bearer TOKEN`.
"""


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


Svc = Annotated[Service, Depends(service_of)]
RunId = Annotated[str, Path(pattern=RUN_ID, description="The run's id.")]


def error_body(request: Request, message: str) -> dict[str, Any]:
    """An error in the shape the route's clients read: OpenAI's under /v1."""
    if request.url.path.startswith("/v1/"):
        return {"error": {"message": message, "type": "invalid_request_error"}}
    return {"detail": message}


def _status_of(exc: FansiError) -> int:
    if isinstance(exc, InputError | ConfigError):
        return 422
    if isinstance(exc, BackendError):
        return 502
    return 503  # the store, the check pool: this service cannot do it now


def install_errors(app: FastAPI) -> None:
    """Every failure as a 4xx (or, for infrastructure, a 502/503) with a message."""

    async def rejected(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Rejected)
        return JSONResponse(error_body(request, exc.message), exc.status, headers=exc.headers)

    async def fansi_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, FansiError)
        message = f"{exc.message} ({exc.hint})" if exc.hint and not isinstance(
            exc, StoreError) else exc.message
        return JSONResponse(error_body(request, message), _status_of(exc))

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        found = exc.errors()
        first = found[0] if found else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
        body = error_body(request, f"{where}: {first.get('msg', 'invalid')}")
        body["errors"] = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))}
                          for e in found]
        return JSONResponse(body, 422)

    app.add_exception_handler(Rejected, rejected)
    app.add_exception_handler(FansiError, fansi_error)
    app.add_exception_handler(RequestValidationError, invalid)


class Session(BaseModel):
    token: str = Field(max_length=1024)


router = APIRouter(prefix="/api", responses=errors(ErrorBody))


@router.get("/info", tags=["server"])
async def info(service: Svc, request: Request) -> Info:
    """What this server runs and allows."""
    s = service.settings
    from fansi.engine.budget import SearchConfig

    caps = SearchConfig.from_settings(s)
    return Info(
        version=__version__, model=service.backend.name, verifier_model=s.verifier_model,
        effort=s.effort, efforts=efforts_within(s),
        caps={"n": caps.n, "k": caps.k, "m": caps.m, "rounds": caps.rounds,
              "max_tokens": caps.max_tokens, "budget_tokens": caps.budget.tokens,
              "budget_calls": caps.budget.calls, "budget_seconds": caps.budget.seconds},
        katex=katex_available(), token_required=request.app.state.token is not None,
        workers=service.workers, queue_limit=service.limits.queue,
        queued=service.jobs.count("queued"), running=service.running(),
        max_problem_chars=s.max_problem_chars,
        max_solution_chars=service.limits.max_solution_chars,
    )


@router.post("/session", status_code=204, tags=["server"])
async def session(body: Session, request: Request, response: Response) -> None:
    """Trade the token for a session cookie (what the page does: a browser's
    event stream cannot send an Authorization header)."""
    token: str | None = request.app.state.token
    if token is None:
        return
    if not same(body.token, token):
        raise Rejected(401, "that is not this server's token")
    response.set_cookie(COOKIE, session_value(token), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")


@router.post("/runs", status_code=202, tags=["runs"], responses=errors(
    ErrorBody, {"429": "The queue is full; try again after Retry-After seconds."}))
async def submit(body: RunRequest, service: Svc, response: Response) -> RunView:
    """Queue a problem to solve, or a solution to grade; answers with the run's id.

    The id is the run's stable id: the same request finds the same run, and a
    finished one is not run again."""
    job = service.submit(body)
    response.headers["Location"] = f"/api/runs/{job.id}"
    return view_of(service, job.id)


@router.get("/runs", tags=["runs"])
async def runs(
    service: Svc,
    q: Annotated[str, Query(max_length=500, description="Text in the problem, or an id's "
                                                         "start.")] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> RunList:
    """The stored runs and the service's jobs, newest first."""
    rows = service.jobs.listing(query=q.strip(), limit=limit, offset=offset)
    return RunList(runs=[run_view(r) for r in rows], limit=limit, offset=offset, query=q)


@router.get("/runs/{run_id}", tags=["runs"],
            responses=errors(ErrorBody, {"404": "No such run."}))
async def run(run_id: RunId, service: Svc) -> RunDetail:
    """A run with its request, result and tree of candidates, checks,
    verifications and meta-checks."""
    view = view_of(service, run_id)
    job = service.jobs.get(run_id)
    record = service.store.run(run_id)
    tree = service.store.run_tree(run_id)
    request = dict(job.request["request"]) if job else None
    mode: Mode | None = None
    if request is not None:
        mode = request.get("mode", "solve")
    elif record is not None:
        mode = "verify" if record.settings.get("mode") == "verify" else "solve"
    problem = tree.problem.text if tree else (request or {}).get("problem", "")
    return RunDetail(**view.model_dump(), mode=mode, problem_text=problem, request=request,
                     result=dict(record.result) if record and record.result else None,
                     tree=to_dict(tree) if tree else None)


def view_of(service: Service, run_id: str) -> RunView:
    row = service.jobs.listed(run_id)
    if row is None:
        raise Rejected(404, f"there is no run {run_id}")
    return run_view(row)


async def job_of(run_id: RunId, service: Svc) -> JobRecord:
    job = service.jobs.get(run_id)
    if job is None:
        if service.store.run(run_id) is not None:
            raise Rejected(404, f"run {run_id} was not started by this service; it has no "
                                "event stream (its tree is at /api/runs/{run_id})")
        raise Rejected(404, f"there is no run {run_id}")
    return job


async def resume_point(
    after: Annotated[int | None, Query(ge=0, le=MAX_SEQ, description="Send the events "
                                       "numbered above this (as Last-Event-ID does).")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> int:
    start = after or 0
    if last_event_id is not None and last_event_id.strip():
        text = last_event_id.strip()
        if not text.isdigit() or len(text) > 16:
            raise Rejected(422, f"Last-Event-ID {text[:40]!r} is not an event number")
        start = max(start, int(text))
    return start


@router.get("/runs/{run_id}/events", response_class=EventSourceResponse, tags=["runs"],
            responses=errors(ErrorBody, {"404": "No job with this id."}, json=True))
async def events(
    service: Svc,
    job: Annotated[JobRecord, Depends(job_of)],
    start: Annotated[int, Depends(resume_point)],
) -> AsyncIterator[ServerSentEvent]:
    """The job's events as server-sent events, from the first (or after
    Last-Event-ID) until the job ends: the engine's (``candidate_written``,
    ``verification_finished``, …) and the job's own (``job_queued``,
    ``job_started``, ``job_finished``, ``job_failed``, ``job_cancelled``).
    Each has an ``id``, its number, and ``at``, when it was stored (UTC).
    ``token`` events carry the text being written; they have no number and
    are not kept."""
    async with service.listen(job.id) as wakeups:
        last = start
        while not service.closing:
            now = service.jobs.get(job.id)
            ended = now is None or now.status in TERMINAL
            batch = service.jobs.events(job.id, after=last, limit=BATCH)
            for event in batch:
                yield ServerSentEvent(data={"seq": event.seq, "kind": event.kind,
                                            "at": event.created_at, **event.data},
                                      event=event.kind, id=str(event.seq))
                last = event.seq
            if len(batch) == BATCH:
                continue
            if ended:
                return
            pieces = [await wakeups.get()]
            while not wakeups.empty():
                pieces.append(wakeups.get_nowait())
            text = "".join(p for p in pieces if p)
            if text:
                yield ServerSentEvent(data={"text": text}, event="token")


@router.delete("/runs/{run_id}", tags=["runs"], responses=errors(ErrorBody, {
    "404": "No such run.",
    "409": "The run has already ended, or no job of this service made it."}))
async def cancel(run_id: RunId, service: Svc) -> RunView:
    """Cancel a queued or running job. What it finished is kept: submitting
    the same request again continues the run."""
    job = await service.cancel(run_id)
    return view_of(service, job.id)


def create_app(service: Service, *, token: str | None, public: bool) -> FastAPI:
    """The application for a service.

    Args:
        service: The service (started and stopped by whoever serves the app).
        token: The bearer token, or None for none.
        public: Whether the server listens off loopback; it then needs a token.

    Raises:
        ConfigError: A public server without a token.
    """
    if public and not token:
        raise ConfigError("a server that listens off loopback needs a token",
                          hint="Pass --token (or set FANSI_SERVE_TOKEN), or listen on "
                               "127.0.0.1.")
    from fansi.serve import openai, page

    app = FastAPI(title="fansi", version=__version__, description=DESCRIPTION,
                  docs_url=None, redoc_url=None)
    app.state.service = service
    app.state.token = token
    install_errors(app)
    app.include_router(router)
    app.include_router(openai.router)
    page.install(app)
    app.add_middleware(Guard, token=token, max_body=service.limits.max_body_bytes)
    return app


__all__ = ["RunId", "Svc", "create_app", "error_body", "service_of", "view_of"]
