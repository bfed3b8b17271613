"""Formal proving as stored runs: ``fansi.prove`` / ``fansi.aprove`` and ``fansi prove``.

    >>> import fansi
    >>> result = fansi.prove(Path("amc12_2000_p1.v"), effort="low")
    >>> result.proved, result.file_text

Every open theorem of the file (:func:`fansi.formal.parse_file`) is one stored
run, searched by :func:`fansi.formal.prove_theorem`: the tactic portfolio
first, then model attempts repaired on Coq's messages. The run id is a hash of
the theorem (its context and statement), the settings, the prompts and the
portfolio, so running the same command again finds the same runs: the model
goes through the call cache (:func:`fansi.api.backend_stack`), a run that was
killed repeats no finished call, and a finished one is replayed without a
model call (the portfolio and the kernel checks run again; they are cheap and
they re-verify).

The effort maps onto the prover as follows (:class:`~fansi.engine.budget.SearchConfig`):

- ``n`` (candidates written in round 1) is the number of fresh attempts;
- ``repairs`` (unset: ``k``, the verifications needed) is the number of
  repairs per attempt, each on the compiler's message and the goals at the
  failing step;
- ``max_tokens``, ``temperature`` and ``seed`` are the writer's;
- the budgets cap each theorem's search (tokens, calls, seconds);
- ``m``, ``rounds``, ``schedule`` and ``checks`` do not apply: the kernel is
  the only judge.

Each attempt is stored as a :class:`~fansi.records.Candidate` (its proof as the
solution, a repair's parent as its parent, the repair number as its round)
with one ``formal`` :class:`~fansi.records.CheckResult` (``coq``: passed when
the kernel accepted it; the stage it reached and Coq's message), so ``fansi
runs`` and ``fansi show`` see formal runs like any other. A proof found by the
portfolio is one candidate holding the script.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fansi import prompts
from fansi._version import __version__
from fansi.api import (
    Wrap,
    backend_stack,
    model_checksum,
    opened_backend,
    run_stored,
    stored_settings,
)
from fansi.backends import Backend
from fansi.config import RESULT_NEUTRAL, Settings, load_settings
from fansi.engine.budget import SearchConfig
from fansi.engine.events import EventHandler
from fansi.errors import InputError
from fansi.formal import (
    CLOSER,
    PORTFOLIO,
    Coq,
    FormalEvent,
    FormalEventHandler,
    ProofAttempt,
    ProofSearchResult,
    Tactic,
    Theorem,
    find_coq,
    parse_file,
    prove_theorem,
)
from fansi.formal.statements import split_sentences, strip_comments
from fansi.inputs import read_text_file
from fansi.records import Candidate, CheckResult, Problem
from fansi.store import Store

#: How much of Coq's message a stored check keeps.
MESSAGE_CHARS = 2_000


@dataclass(frozen=True)
class TheoremProof:
    """One theorem's stored run and its search.

    Attributes:
        run_id: The stored run (``fansi show RUN_ID``).
        search: What the prover did: the proof, if found, and every attempt.
        sketch_run_id: The informal run that wrote the sketch, if one did.
    """

    run_id: str
    search: ProofSearchResult
    #: The informal run whose best proof was the sketch (``fansi solve --formal``).
    sketch_run_id: str | None = None

    @property
    def name(self) -> str:
        return self.search.theorem.name

    @property
    def found(self) -> bool:
        return self.search.found


@dataclass(frozen=True)
class ProveResult:
    """What :func:`aprove` did with a ``.v`` file.

    Attributes:
        path: Where the file was read from ("" for text).
        source: The file's text.
        theorems: One entry per open theorem, in file order.
    """

    path: str
    source: str
    theorems: tuple[TheoremProof, ...]

    @property
    def proved(self) -> bool:
        """Whether every open theorem got a proof the kernel accepted."""
        return all(t.found for t in self.theorems)

    @property
    def file_text(self) -> str:
        """The file with every proof found written in, each after the imports it was
        checked with; theorems without a proof are left as they were."""
        return completed_source(self.source, [t.search for t in self.theorems])


def portfolio_digest(tactics: tuple[Tactic, ...] = PORTFOLIO) -> str:
    """A digest of the portfolio and the closer, so that a changed list starts new runs."""
    text = json.dumps([[t.name, t.script, t.imports] for t in tactics] + [CLOSER])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def prove_run_id(theorem: Theorem, settings: Settings, *, model: str,
                 problem_id: str = "", sketch: str | None = None) -> str:
    """The stable id of a theorem's run: the same theorem (context and statement),
    model, search settings, prompts, portfolio and sketch give the same id, as
    :func:`fansi.api.stable_run_id` does for informal runs."""
    wanted = settings.model_dump(mode="json", exclude=set(RESULT_NEUTRAL))
    wanted["model"] = model
    parts: list[Any] = ["prove", theorem.digest, problem_id, wanted, prompts.digest(),
                        portfolio_digest()]
    if sketch is not None:
        parts.append(hashlib.sha256(sketch.encode()).hexdigest())
    text = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def theorem_problem(theorem: Theorem, problem_id: str = "") -> Problem:
    """The stored problem of a theorem's run: its context and its statement."""
    text = f"{theorem.context.rstrip()}\n\n{theorem.header}\n".lstrip()
    return Problem(text=text, answer=None, id=problem_id)


def informal_problem(theorem: Theorem, problem_id: str = "") -> Problem:
    """The problem the informal loop solves for ``fansi solve --formal``: prove,
    in words, the theorem the Coq statement says."""
    statement = theorem_problem(theorem).text.rstrip()
    text = ("Prove the following theorem, stated in Coq. Write a complete informal "
            f"proof.\n\n```coq\n{statement}\n```")
    return Problem(text=text, answer=None, id=problem_id)


def result_dict(proof: TheoremProof) -> dict[str, Any]:
    """A JSON-ready summary of one theorem's search (what the store keeps as the result)."""
    search = proof.search
    portfolio = search.portfolio
    return {
        "run_id": proof.run_id,
        "sketch_run_id": proof.sketch_run_id,
        "theorem": search.theorem.name,
        "found": search.found,
        "verdict": "pass" if search.found else "fail",
        "source": search.source,
        "tactic": portfolio.tactic if portfolio is not None else None,
        "proof": search.proof,
        "imports": search.imports,
        "stopped": search.stopped,
        "stop_reason": search.stopped,
        "error": search.error,
        "attempts": len(search.attempts),
        "tokens": search.usage.total_tokens,
        "total_tokens": search.usage.total_tokens,
        "calls": search.calls,
        "seconds": round(search.seconds, 3),
    }


def attempt_dict(attempt: ProofAttempt) -> dict[str, Any]:
    """A JSON-ready summary of one attempt (for ``--json``)."""
    return {"attempt": attempt.attempt, "repair": attempt.repair, "stage": attempt.stage,
            "accepted": attempt.accepted, "proof": attempt.proof, "message": attempt.message,
            "goals": attempt.goals, "tokens": attempt.usage.total_tokens,
            "stop_reason": attempt.stop_reason, "seconds": round(attempt.seconds, 3)}


def prove_dict(result: ProveResult) -> dict[str, Any]:
    """A JSON-ready dict of a whole :class:`ProveResult` (what ``--json`` prints)."""
    return {
        "path": result.path,
        "proved": result.proved,
        "theorems": [{**result_dict(t), "attempt_log": [attempt_dict(a)
                                                        for a in t.search.attempts]}
                     for t in result.theorems],
        "file_text": result.file_text,
    }


def _candidate_id(run_id: str, attempt: int, repair: int) -> str:
    return f"{run_id}-a{attempt}r{repair}"


def _trimmed(text: str) -> str:
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def record_event(store: Store, run_id: str, event: FormalEvent) -> None:
    """Store what an event finished: a checked attempt, or the portfolio's proof."""
    if event.kind == "attempt_checked" and event.attempt is not None:
        attempt = event.attempt
        candidate_id = _candidate_id(run_id, attempt.attempt, attempt.repair)
        parent = attempt.parent
        store.add_candidate(run_id, Candidate(
            id=candidate_id,
            # With no proof in the reply, the reply is what there is to show.
            solution=attempt.proof if attempt.proof is not None else attempt.reply,
            self_evaluation="", self_score=None, answer=None,
            parents=(_candidate_id(run_id, *parent),) if parent is not None else (),
            round=attempt.repair, truncated=attempt.stop_reason == "length"))
        store.add_check(run_id, CheckResult(
            id=f"{candidate_id}-coq", candidate_id=candidate_id, name="coq", kind="formal",
            passed=attempt.accepted, detail=attempt.stage,
            counterexample=_trimmed(attempt.message), location=""))
    elif event.kind == "portfolio_tried" and event.portfolio is not None:
        portfolio = event.portfolio
        if not portfolio.proved or portfolio.proof is None:
            return
        candidate_id = f"{run_id}-portfolio"
        store.add_candidate(run_id, Candidate(
            id=candidate_id, solution=portfolio.proof, self_evaluation="", self_score=None,
            answer=None))
        store.add_check(run_id, CheckResult(
            id=f"{candidate_id}-coq", candidate_id=candidate_id, name="coq", kind="formal",
            passed=True, detail=f"accepted (portfolio script {portfolio.tactic})"))


async def prove_stored(
    theorem: Theorem,
    settings: Settings,
    *,
    backend: Backend,
    store: Store,
    coq: Coq,
    model: str | None = None,
    problem_id: str = "",
    on_event: FormalEventHandler | None = None,
    wrap: Wrap | None = None,
    sketch: str | None = None,
    sketch_run_id: str | None = None,
) -> TheoremProof:
    """Search for a proof of one theorem as a stored run (continued, or replayed, if it exists).

    Args:
        theorem: The theorem, from :func:`fansi.formal.parse_file`.
        settings: Resolved settings (see the module's docstring for the mapping).
        backend: The model (not closed here).
        store: The open store.
        coq: The Coq to check with.
        model: The model's name for the run record; by default ``backend.name``.
        problem_id: The stored problem's id ("" lets the store choose).
        on_event: Called with each :class:`~fansi.formal.FormalEvent`.
        wrap: Wraps the cached backend (see :func:`fansi.api.backend_stack`).
        sketch: An informal proof shown to the model (part of the run's id).
        sketch_run_id: The informal run it came from, kept in the result.

    Raises:
        FansiError: The search failed; the run is marked failed (or interrupted
            on Ctrl-C or cancellation) and running it again continues it.
    """
    model = model or backend.name
    config = SearchConfig.from_settings(settings)
    run_id = prove_run_id(theorem, settings, model=model, problem_id=problem_id,
                          sketch=sketch)
    record = store.run(run_id)
    if record is None:
        store.create_run(theorem_problem(theorem, problem_id),
                         settings={**stored_settings(settings, "solve"), "mode": "prove"},
                         fansi_version=__version__, model=model,
                         model_checksum=model_checksum(model), run_id=run_id)
    stack = backend_stack(backend, store, run_id, wrap=wrap)

    def seen(event: FormalEvent) -> None:
        record_event(store, run_id, event)
        if on_event is not None:
            on_event(event)

    try:
        search = await prove_theorem(
            theorem, stack, attempts=config.n,
            repairs=config.k if settings.repairs is None else settings.repairs,
            max_tokens=config.max_tokens,
            temperature=config.temperature, seed=config.seed, on_event=seen,
            budget=config.budget, coq=coq, sketch=sketch)
    except BaseException as exc:
        interrupted = not isinstance(exc, Exception)  # Ctrl-C, cancellation
        store.set_run_status(run_id, "interrupted" if interrupted else "failed",
                             error=f"{type(exc).__name__}: {exc}")
        raise
    proof = TheoremProof(run_id, search, sketch_run_id)
    # A replayed run keeps the result (and the seconds) of the run that did the work.
    if record is None or record.status != "done":
        store.set_run_status(run_id, "done", result=result_dict(proof))
    return proof


_CHARACTER = re.compile(r"at character (\d+)")


def _with_line(message: str, text: str) -> str:
    """The parser's ``at character N`` as a line and column, which an editor can find."""

    def place(match: re.Match[str]) -> str:
        offset = int(match.group(1))
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        return f"at line {line}, column {column}"

    return _CHARACTER.sub(place, message)


def _read(source: str | Path) -> tuple[str, str]:
    if isinstance(source, Path):
        return read_text_file(source), str(source)
    return source, ""


async def aprove(
    source: str | Path,
    *,
    settings: Settings | None = None,
    backend: Backend | None = None,
    on_event: FormalEventHandler | None = None,
    sketch: bool = False,
    on_informal: EventHandler | None = None,
    **overrides: Any,
) -> ProveResult:
    """Prove every open theorem of a Coq file, each as a stored, resumable run.

    Args:
        source: A :class:`~pathlib.Path` to a ``.v`` file, or the file's text
            as a ``str``.
        settings: Resolved settings; by default they are loaded from
            fansi.toml and the environment, with ``overrides`` on top.
        backend: A backend to use instead of building one from ``settings.model``
            (it is not closed here); its ``name`` then stands for the model.
        on_event: Called with each :class:`~fansi.formal.FormalEvent`
            (portfolio tried, attempt started and checked, search finished).
        sketch: Run the informal loop on each statement first (its own stored
            run, :func:`informal_problem`) and show its best proof to the
            formal writer as a sketch (``fansi solve --formal``).
        on_informal: Called with each engine event of those informal runs.
        **overrides: Any Settings field, e.g. ``effort="medium"``, ``n=4``.

    Returns:
        Each theorem's run and search, and the completed file.

    Raises:
        ConfigError: Coq is not installed (the message names the install command).
        InputError: The file cannot be read or holds no open theorem.
        FansiError: A search failed; its run is marked failed and can be rerun.
    """
    if settings is None:
        settings = load_settings(overrides)
    else:
        given = {k: v for k, v in overrides.items() if v is not None}
        settings = settings.model_copy(update=given) if given else settings
    text, path = _read(source)
    try:
        parsed = parse_file(text, path=path)
    except InputError as exc:
        raise InputError(_with_line(exc.message, text), hint=exc.hint) from exc
    coq = find_coq()
    model = backend.name if backend is not None else settings.model
    proofs: list[TheoremProof] = []
    with Store.open(settings.store_path) as store:
        async with opened_backend(settings, backend) as inner:
            for theorem in parsed.theorems:
                sketch_text, sketch_run = None, None
                if sketch:
                    informal = await run_stored(informal_problem(theorem), settings,
                                                backend=inner, store=store,
                                                on_event=on_informal)
                    sketch_run = informal.result.run_id
                    best = informal.result.best
                    sketch_text = best.solution if best is not None else None
                proofs.append(await prove_stored(theorem, settings, backend=inner, store=store,
                                                 coq=coq, model=model, on_event=on_event,
                                                 sketch=sketch_text, sketch_run_id=sketch_run))
    return ProveResult(path=path, source=text, theorems=tuple(proofs))


def prove(source: str | Path, **kwargs: Any) -> ProveResult:
    """Synchronous :func:`aprove`."""
    return asyncio.run(aprove(source, **kwargs))


# --------------------------------------------------------------------------- the completed file

_KINDS = "Theorem|Lemma|Fact|Remark|Corollary|Proposition|Property|Example"
_HEADER = re.compile(rf"^(?:#\[[^\]]*\]\s*)*(?:(?:Local|Global)\s+)?(?:{_KINDS})\s+"
                     r"([A-Za-z_][A-Za-z0-9_']*)")
_END = re.compile(r"^(Qed|Defined|Admitted|Abort|Save)\b")
_OPEN_END = re.compile(r"^(Admitted|Abort)\b")


def _flat(text: str) -> str:
    return " ".join(strip_comments(text).split())


def completed_source(source: str, searches: list[ProofSearchResult]) -> str:
    """``source`` with each found proof in place of its theorem's open proof.

    A proof goes between ``Proof.`` and ``Qed.`` under the theorem's own
    statement sentence, and the imports it was checked with go just before
    that sentence (an import line already written for an earlier theorem is
    not repeated). Theorems without a proof keep their text.
    """
    found = {s.theorem.name: s for s in searches if s.proof is not None}
    if not found:
        return source
    sentences = split_sentences(source)
    pieces: list[str] = []
    cursor = 0
    written: set[str] = set()
    i = 0
    while i < len(sentences):
        match = _HEADER.match(_flat(sentences[i].text))
        search = found.get(match.group(1)) if match else None
        if search is None:
            i += 1
            continue
        # The proof runs to its terminator, or to the end of the file when it has none.
        j = i + 1
        while j < len(sentences) and not _END.match(_flat(sentences[j].text)):
            j += 1
        body = [_flat(s.text) for s in sentences[i + 1 : j]]
        closed = j < len(sentences) and not _OPEN_END.match(_flat(sentences[j].text))
        if closed or any(not text.startswith("Proof") for text in body):
            i = j + 1  # a proved theorem of the same name (in another module): not ours
            continue
        end = sentences[j].end if j < len(sentences) else sentences[-1].end
        header = sentences[i]
        imports = [line for line in search.imports.splitlines()
                   if line.strip() and line.strip() not in written]
        written.update(line.strip() for line in imports)
        assert search.proof is not None
        proof = "\n".join(f"  {line}" if line.strip() else "" for line in
                          search.proof.strip().splitlines())
        pieces += [source[cursor : header.start],
                   "".join(f"{line}\n" for line in imports),
                   header.text, f"\nProof.\n{proof}\nQed."]
        cursor = end
        del found[search.theorem.name]
        i = j + 1
    pieces.append(source[cursor:])
    return "".join(pieces)


__all__ = [
    "ProveResult",
    "TheoremProof",
    "aprove",
    "attempt_dict",
    "completed_source",
    "informal_problem",
    "prove",
    "prove_dict",
    "prove_run_id",
    "prove_stored",
    "record_event",
    "result_dict",
    "theorem_problem",
]
