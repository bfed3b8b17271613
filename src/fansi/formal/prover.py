"""The formal prover: the portfolio first, then model attempts repaired on Coq's feedback.

:func:`prove_theorem` runs the tactic portfolio; if no script is accepted it
makes up to ``attempts`` fresh model attempts. Each writes a proof script
(prompt ``prove``), which is read out of the reply (:func:`extract_proof`)
and kernel-checked. When it does not compile, the sentences before the failing
one are first closed with :data:`CLOSER` (the portfolio's arithmetic scripts on
every goal left open): a sub-goal the portfolio closes costs no model call.
Otherwise the compiler's message and the goals at the failing step go back to
the model for a repair (prompt ``repair``, as a continuation of the same
conversation, so the prompt prefix is shared), up to
``repairs`` times per attempt. The first accepted proof ends the search.

Calls are made one at a time and every call's seed is derived from (seed,
theorem, attempt, repair), so a rerun behind a call cache repeats exactly the
same calls. Kernel checks run in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from fansi.backends import Backend
from fansi.errors import InputError
from fansi.formal.coq import Coq, Limits, find_coq
from fansi.formal.kernel import (
    KernelResult,
    check_proof,
    check_statement,
    goals_before,
    proof_imports,
)
from fansi.formal.portfolio import (
    ARITH_DECIDERS,
    PORTFOLIO,
    PortfolioResult,
    Tactic,
    run_portfolio,
)
from fansi.formal.results import (
    FormalEvent,
    FormalEventHandler,
    FormalEventKind,
    ProofAttempt,
    ProofSearchResult,
    Stopped,
)
from fansi.formal.statements import Theorem, split_sentences, strip_comments
from fansi.prompts import fence, load
from fansi.records import Budget, Completion, GenerateParams, Message, Usage

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_CODE_LANGUAGES = {"coq", "rocq", "v", "gallina", "ltac"}
_IMPORT = re.compile(r"(?:From\s+\S+\s+)?Require\b|(?:Import|Export)\s|"
                     r"(?:(?:Local|Global)\s+)?(?:Open|Close)\s+Scope\b")
_HEADER = re.compile(r"(?:#\[[^\]]*\]\s*)*(?:(?:Local|Global)\s+)?(?:Theorem|Lemma|Fact|Remark|"
                     r"Corollary|Proposition|Property|Example|Goal)\b")
_PROOF = re.compile(r"Proof\b")
_END = re.compile(r"(?:Qed|Defined|Save)\s*\.$")
# How a tactic sentence starts: a lower-case tactic name, a bullet, a brace or
# a goal selector (``all:``, ``2:``); ``Admitted`` and ``Abort`` are let
# through so that the kernel check refuses them with a reason.
_TACTIC_START = re.compile(r"[a-z_]|[-+*{}]|\d+\s*:|\[|\(|Admitted|Abort")
#: The largest part of a previous reply quoted back when no proof was found in it.
_QUOTED_REPLY_CHARS = 1_500


@dataclass(frozen=True)
class ExtractedProof:
    """A proof read out of a model's reply.

    Attributes:
        imports: Import sentences the reply put before its tactics ("" if none).
        proof: The tactics between ``Proof.`` and ``Qed.``.
    """

    imports: str
    proof: str


def extract_proof(reply: str) -> ExtractedProof | None:
    """Read the proof script out of a model's reply.

    Takes the last code block marked as Coq (else the last code block, else
    the whole reply); drops a restated theorem, ``Proof.`` and everything from
    ``Qed.`` on; and keeps leading ``Require``/``Import``/``Open Scope``
    sentences apart, as imports. ``Admitted`` and the like are kept, so that
    the kernel check refuses them with a reason.

    Returns:
        The imports and proof, or None if the reply holds no proof sentence.
    """
    blocks = [(match.group(1).lower(), match.group(2)) for match in _FENCE.finditer(reply)]
    coq_blocks = [body for language, body in blocks if language in _CODE_LANGUAGES]
    text = (coq_blocks or [body for _, body in blocks] or [reply])[-1]
    try:
        sentences = split_sentences(text)
    except InputError:
        return None
    sentences = [s for s in sentences if s.text.endswith(".")]
    flats = [" ".join(strip_comments(s.text).split()) for s in sentences]
    headers = [i for i, flat in enumerate(flats) if _HEADER.match(flat)]
    begin = 0
    imports: list[str] = []
    if headers:
        imports = [flats[i] for i in range(headers[-1]) if _IMPORT.match(flats[i])]
        begin = headers[-1] + 1
    while begin < len(flats) and (_IMPORT.match(flats[begin]) or _PROOF.match(flats[begin])):
        if _IMPORT.match(flats[begin]):
            imports.append(flats[begin])
        begin += 1
    end = next((i for i in range(begin, len(flats)) if _END.match(flats[i])), len(flats))
    if begin >= end:
        return None
    if not blocks and not all(_TACTIC_START.match(flat) for flat in flats[begin:end]):
        return None  # prose, not a script: without a code block, only tactics count
    proof = text[sentences[begin].start : sentences[end - 1].end]
    return ExtractedProof(imports="\n".join(imports), proof=_dedent(proof))


def _dedent(text: str) -> str:
    lines = text.split("\n")
    indents = [len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()]
    cut = min(indents, default=0)
    return "\n".join([lines[0], *(line[cut:] for line in lines[1:])])


def derive_seed(seed: int, theorem: Theorem, attempt: int, repair: int) -> int:
    """The sampling seed of one call: a pure function of the search seed and the call's place."""
    key = f"{seed}\x00{theorem.digest}\x00{attempt}\x00{repair}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big") & 0x7FFFFFFF


def proof_messages(theorem: Theorem, *, sketch: str | None = None) -> list[Message]:
    """The ``prove`` prompt for ``theorem`` (with an informal sketch, when given)."""
    context = fence("CONTEXT", theorem.context.strip())
    statement = fence("THEOREM", theorem.header, avoid=(theorem.context,))
    sketch_text = ""
    if sketch:
        sketch_fence = fence("SKETCH", sketch, avoid=(theorem.context, theorem.header))
        sketch_text = f"\nAn informal proof sketch that may help:\n{sketch_fence.render()}\n"
    return load("prove").render(context=context.render(), theorem=statement.render(),
                                theorem_code=statement.code, sketch=sketch_text)


def repair_messages(
    conversation: Sequence[Message],
    reply: str,
    proof: str | None,
    message: str,
    goals: str = "",
) -> list[Message]:
    """The conversation continued with the refused reply and the ``repair`` prompt.

    Args:
        conversation: The messages the refused reply answered (the ``prove`` prompt).
        reply: The refused reply.
        proof: The proof that was checked, or None when none was found.
        message: Why it was refused.
        goals: The goals before the failing step, if known.
    """
    checked = proof if proof is not None else reply[:_QUOTED_REPLY_CHARS]
    proof_fence = fence("PROOF", checked)
    error_fence = fence("ERROR", message, avoid=(checked,))
    goals_text = ""
    if goals:
        goals_fence = fence("GOALS", goals, avoid=(checked, message))
        goals_text = f"\n{goals_fence.render()}\n"
    repair = load("repair").render(proof=proof_fence.render(), error=error_fence.render(),
                                   goals=goals_text)
    return [*conversation, Message("assistant", reply), *repair]


def _message_for(extracted: ExtractedProof | None, check: KernelResult | None) -> str:
    if extracted is None or check is None:
        return ("no proof script was found in the reply: reply with one ```coq block "
                "holding the tactics")
    return check.message


async def prove_theorem(
    theorem: Theorem,
    backend: Backend,
    *,
    attempts: int,
    repairs: int,
    max_tokens: int | None,
    temperature: float | None,
    seed: int,
    on_event: FormalEventHandler | None = None,
    sketch: str | None = None,
    tactics: Sequence[Tactic] = PORTFOLIO,
    budget: Budget | None = None,
    limits: Limits | None = None,
    coq: Coq | None = None,
) -> ProofSearchResult:
    """Search for a kernel-checked proof of ``theorem``.

    Args:
        theorem: The theorem, with its context (from :func:`parse_file`).
        backend: The model that writes proofs.
        attempts: Fresh model attempts at most (0: the portfolio only).
        repairs: Repairs at most per attempt.
        max_tokens: Cap on each reply's tokens (None: the backend's default).
        temperature: Sampling temperature (None: the backend's default).
        seed: The search seed; each call's seed derives from it.
        on_event: Called with a :class:`FormalEvent` as the search goes.
        sketch: An informal proof to show the model, if any.
        tactics: The portfolio to try first (empty: skip it).
        budget: Caps on tokens, calls and seconds, checked before each call; a
            reply still coming when the seconds run out is cancelled.
        limits: Limits for each Coq program run.
        coq: The Coq to use; None finds it on PATH.

    Returns:
        The search result, with every attempt. Not finding a proof is a result,
        and so is a statement that does not compile (``stopped="invalid"``).

    Raises:
        ConfigError: If Coq is not installed.
        BackendError: If the backend fails (infrastructure).
    """
    coq = coq or find_coq()
    limits = limits or Limits()
    start = time.perf_counter()
    usage = Usage()
    calls = 0
    records: list[ProofAttempt] = []

    def emit(kind: FormalEventKind, *, index: tuple[int, int] | None = None,
             attempt: ProofAttempt | None = None, portfolio: PortfolioResult | None = None,
             result: ProofSearchResult | None = None) -> None:
        if on_event is not None:
            on_event(FormalEvent(kind, theorem.name, usage.total_tokens, calls,
                                 time.perf_counter() - start, index=index, attempt=attempt,
                                 portfolio=portfolio, result=result))

    def finish(stopped: Stopped, portfolio: PortfolioResult | None,
               found: ProofAttempt | None = None, error: str = "") -> ProofSearchResult:
        source: Literal["portfolio", "model"] | None = None
        proof, imports = None, ""
        if found is not None:
            source, proof, imports = "model", found.proof, proof_imports(found.imports)
        elif portfolio is not None and portfolio.proved:
            source, proof, imports = "portfolio", portfolio.proof, portfolio.imports
        result = ProofSearchResult(
            theorem=theorem, found=proof is not None, source=source,
            proof=proof, imports=imports, portfolio=portfolio, attempts=tuple(records),
            usage=usage, calls=calls, seconds=time.perf_counter() - start, stopped=stopped,
            error=error)
        emit("search_finished", result=result)
        return result

    problem = await asyncio.to_thread(check_statement, theorem, limits=limits, coq=coq)
    if problem is not None:
        return finish("invalid", None, error=problem)
    portfolio = None
    if tactics:
        portfolio = await asyncio.to_thread(run_portfolio, theorem, tactics=tactics,
                                            limits=limits, coq=coq)
        emit("portfolio_tried", portfolio=portfolio)
        if portfolio.proved:
            return finish("proved", portfolio)

    first = proof_messages(theorem, sketch=sketch)
    for attempt in range(attempts):
        messages = first
        for repair in range(repairs + 1):
            if _spent(budget, usage, calls, time.perf_counter() - start):
                return finish("budget", portfolio)
            emit("attempt_started", index=(attempt, repair))
            call_seed = derive_seed(seed, theorem, attempt, repair)
            began = time.perf_counter()
            call = backend.generate(
                messages, GenerateParams(max_tokens=max_tokens, temperature=temperature,
                                         seed=call_seed))
            left = _seconds_left(budget, time.perf_counter() - start)
            try:
                completion = await (call if left is None else asyncio.wait_for(call, left))
            except TimeoutError:
                # The reply outran the time budget: cancelled, and nothing to check.
                return finish("budget", portfolio)
            calls += 1
            usage = usage + completion.usage
            record = await _check(theorem, completion, attempt, repair, call_seed, began,
                                  limits, coq)
            records.append(record)
            emit("attempt_checked", attempt=record)
            if record.accepted:
                return finish("proved", portfolio, record)
            messages = repair_messages(first, completion.text, record.proof, record.message,
                                       record.goals)
    return finish("attempts", portfolio)


async def _check(theorem: Theorem, completion: Completion, attempt: int, repair: int,
                 seed: int, began: float, limits: Limits, coq: Coq) -> ProofAttempt:
    """Extract and kernel-check one reply."""
    reply = completion.text
    extracted = extract_proof(reply)
    check: KernelResult | None = None
    goals = ""
    if extracted is not None:
        imports = proof_imports(extracted.imports)
        check = await asyncio.to_thread(check_proof, theorem, extracted.proof, imports=imports,
                                        limits=limits, coq=coq)
        if check.stage == "compile":
            closing = closed_prefix(extracted.proof, check.error_offset)
            closed = None
            if closing is not None:
                closed = await asyncio.to_thread(check_proof, theorem, closing,
                                                 imports=imports, limits=limits, coq=coq)
            if closing is not None and closed is not None and closed.accepted:
                # The portfolio closed the goals the model's proof left: no repair call.
                extracted = dataclasses.replace(extracted, proof=closing)
                check = closed
            elif check.error_offset is not None:
                goals = await asyncio.to_thread(goals_before, theorem, extracted.proof,
                                                check.error_offset, imports=imports,
                                                limits=limits, coq=coq)
    return ProofAttempt(
        attempt=attempt, repair=repair, seed=seed, reply=reply,
        imports=extracted.imports if extracted else "",
        proof=extracted.proof if extracted else None,
        stage=check.stage if check else "extract",
        message="" if check and check.accepted else _message_for(extracted, check),
        goals=goals, usage=completion.usage, stop_reason=completion.stop_reason,
        seconds=time.perf_counter() - began, check=check)


#: The closer tried on the goals a failed model proof leaves, before any repair
#: call: the portfolio's arithmetic scripts, each under Coq's own ``timeout``,
#: applied to every open goal. Only tactics of the imports every proof gets
#: (:data:`~fansi.formal.kernel.STANDARD_IMPORTS`): a tactic the context lacks
#: (``field`` without ``Reals``) would fail the whole sentence when parsed.
CLOSER = "all: first [" + " | ".join(f"timeout 3 {t}" for t in ARITH_DECIDERS) + " | easy]"
_BULLET = re.compile(r"^[-+*]+\s*")


def closed_prefix(proof: str, offset: int | None) -> str | None:
    """The proof's sentences before the one that failed (all of them when the
    failure is not in the proof, i.e. goals were left open), bullets and braces
    dropped, followed by :data:`CLOSER`; None when no sentence comes first.

    Bullets only check that each sub-proof ends; on a prefix that ran, dropping
    them leaves the tactics acting on the same goals, and lets the closer reach
    every goal still open.
    """
    try:
        sentences = split_sentences(proof)
    except InputError:
        return None
    kept = []
    for sentence in sentences:
        if offset is not None and sentence.end > offset:
            break
        text = sentence.text.strip()
        while True:
            stripped = _BULLET.sub("", text).strip()
            if stripped.startswith(("{", "}")):
                stripped = stripped[1:].strip()
            if stripped == text:
                break
            text = stripped
        if text and text not in (".", "Proof."):
            kept.append(text)
    if not kept:
        return None
    return "\n".join(kept) + f"\n{CLOSER}."


def _seconds_left(budget: Budget | None, seconds: float) -> float | None:
    if budget is None or budget.seconds is None:
        return None
    return max(0.0, budget.seconds - seconds)


def _spent(budget: Budget | None, usage: Usage, calls: int, seconds: float) -> bool:
    if budget is None:
        return False
    return ((budget.tokens is not None and usage.total_tokens >= budget.tokens)
            or (budget.calls is not None and calls >= budget.calls)
            or (budget.seconds is not None and seconds >= budget.seconds))


__all__ = [
    "CLOSER",
    "ExtractedProof",
    "closed_prefix",
    "derive_seed",
    "extract_proof",
    "proof_messages",
    "prove_theorem",
    "repair_messages",
]
