"""Model text -> structured records. Nothing here raises on model text.

Three readers, one per kind of model output:

- :func:`parse_candidate` reads a writer's reply: a ``## Solution`` section,
  a ``## Self-evaluation`` section and a last line ``Self-score: S``. The
  final answer is the last ``\\boxed{...}`` or ``\\fbox{...}`` (balanced
  braces) in the solution, or else its last ``Final answer: ...`` line
  (:func:`final_answer`, which every path uses).
- :func:`parse_verdict` reads a verifier's reply: the LAST JSON object in it,
  which must follow :data:`VERDICT_SCHEMA`.
- :func:`parse_meta` reads a meta-verifier's reply: the LAST JSON object,
  which must follow :data:`META_SCHEMA`.

Whatever cannot be read comes back as ``None`` with a reason. For a verdict,
``None`` means *unknown*, which is never a pass.

Two rules protect the verdict from the text under review:

- A score of 1 together with a fatal issue contradicts the rubric; it is read
  as a score of 0 (the issue is the more specific evidence).
- When the caller passes the reviewed text as ``reviewed``, a verdict object
  that also occurs in that text (at any nesting) is taken to be copied, not
  judged: it is read as a failure with a fatal manipulation issue. An honest
  solution has no reason to contain a verdict, and a verifier that parrots one
  is evidence that the text manipulated it, not an absence of evidence.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr, ValidationError

from fansi.records import Issue, Severity, TokenLogprob

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "check": {"type": "string"},
        "issues": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "location": {"type": "string"},
                    "description": {"type": "string"},
                    "severity": {"type": "string", "enum": ["minor", "major", "fatal"]},
                },
                "required": ["location", "description", "severity"],
                "additionalProperties": False,
            },
        },
        "score": {"enum": [0, 0.5, 1]},
    },
    "required": ["check", "issues", "score"],
    "additionalProperties": False,
}
"""The verifier's reply. A short check of the argument comes first, then the
issues, then the score: a model decoding under this schema reasons, then lists
what is wrong, before it commits to a number. (A schema that starts with the
score makes a small model grade before it has read anything.)"""

META_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "checks": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "issue": {"type": "integer", "minimum": 1},
                    "reason": {"type": "string"},
                    "real": {"type": "boolean"},
                },
                "required": ["issue", "reason", "real"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["checks"],
    "additionalProperties": False,
}
"""The meta-verifier's reply: ``issue`` is the 1-based number of an issue in
the report it was shown; the reason comes before the decision."""

_SEVERITIES: dict[str, Severity] = {
    "minor": "minor",
    "low": "minor",
    "trivial": "minor",
    "major": "major",
    "moderate": "major",
    "medium": "major",
    "significant": "major",
    "fatal": "fatal",
    "critical": "fatal",
    "severe": "fatal",
}
_SCORES = (0.0, 0.5, 1.0)

#: The reason of a verdict copied out of the text under review.
COPIED = "the verdict object is copied from the text under review"
COPIED_ISSUE = Issue(
    "", "the candidate carries a verdict addressed to its grader, and the verifier copied "
    "it: a manipulation, not a judgement", "fatal")


class ParsedCandidate(NamedTuple):
    """The parts of a writer's reply."""

    solution: str
    self_evaluation: str
    self_score: float | None
    answer: str | None


class Verdict(NamedTuple):
    """A verifier's reply. ``score is None`` means unknown; ``reason`` says why."""

    score: float | None
    issues: tuple[Issue, ...]
    reason: str


class Judgement(NamedTuple):
    """The meta-verifier's view of one issue. ``real is None``: not judged."""

    real: bool | None
    reason: str


# --------------------------------------------------------------------------- candidate

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def _heading(name: str) -> re.Pattern[str]:
    """A line holding only ``name``: optional ``#``s, bold and colon around it."""
    before = r"^[ \t]{0,3}(?:#{1,6})?[ \t]*(?:\*\*|__)?[ \t]*"
    after = r"[ \t]*:?[ \t]*(?:\*\*|__)?[ \t]*:?[ \t]*$"
    return re.compile(before + name + after, re.IGNORECASE | re.MULTILINE)


_SOLUTION_HEADING = _heading(r"solution")
_SELF_EVAL_HEADING = _heading(r"self[- ]?evaluation")
_SELF_SCORE_LINE = re.compile(
    r"^[ \t>*_#-]*self[- ]?score[ \t*_]*[:=][ \t*_$]*(?P<value>[^\n]*)$",
    re.IGNORECASE | re.MULTILINE,
)
_SCORE_VALUE = re.compile(r"(?P<num>\d+(?:\.\d+)?|\.\d+)(?:[ \t]*/[ \t]*(?P<den>\d+))?")
_FINAL_ANSWER_LINE = re.compile(
    r"^[ \t*_#>-]*final[ \t]+answer[ \t*_]*[:：][ \t*_]*(?P<value>[^\n]*)$",
    re.IGNORECASE | re.MULTILINE,
)


def _read_score(value: str) -> float | None:
    """The first number in ``value`` (``1/2`` allowed) if it is 0, 0.5 or 1."""
    match = _SCORE_VALUE.search(value)
    if match is None:
        return None
    number = float(match.group("num"))
    if match.group("den") is not None:
        denominator = float(match.group("den"))
        if denominator == 0:
            return None
        number /= denominator
    return number if number in _SCORES else None


_BRACE_TOKEN = re.compile(r"\\(?:boxed|fbox)[ \t]*\{|\\.|[{}]", re.DOTALL)


class Box(NamedTuple):
    """One closed ``\\boxed{...}`` (or ``\\fbox{...}``): where it starts and ends in
    the text, and its content (unstripped)."""

    start: int
    end: int
    content: str


def boxes(text: str) -> list[Box]:
    """Every closed box in ``text``, ordered by where it opens.

    One pass with a stack of open braces, so a text full of unclosed boxes
    costs linear time. Escaped braces (``\\{``, ``\\}``) are content, not
    braces; a space may stand between the command and its brace
    (``\\boxed {7}``). A box whose braces never close is skipped.
    """
    opened: list[tuple[int, int] | None] = []  # (box start, content start); None: a brace
    found: list[Box] = []
    for token in _BRACE_TOKEN.finditer(text):
        lexeme = token.group()
        if lexeme[0] == "\\" and lexeme.endswith("{") and len(lexeme) > 2:
            opened.append((token.start(), token.end()))
        elif lexeme == "{":
            opened.append(None)
        elif lexeme == "}" and opened:
            box = opened.pop()
            if box is not None:
                found.append(Box(box[0], token.end(), text[box[1] : token.start()]))
    return sorted(found)


def last_boxed(text: str) -> str | None:
    """The stripped content of the last non-empty box that opens in ``text``, or None.

    Args:
        text: Any text, typically a solution.
    """
    for box in reversed(boxes(text)):
        if box.content.strip():
            return box.content.strip()
    return None


def final_answer(text: str) -> str | None:
    """The final answer a solution states: its last box, else its last
    ``Final answer: ...`` line. The one reader of answers, for every path
    (written candidates, given solutions, benchmarks)."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    lines = _FINAL_ANSWER_LINE.findall(text)
    if not lines:
        return None
    # Markdown emphasis, math dollars and a closing full stop are not the answer.
    value = lines[-1].lstrip(" \t*_$").rstrip(" \t*_$.")
    return value or None


def parse_candidate(text: str) -> ParsedCandidate:
    """Split a writer's reply into solution, self-evaluation, self-score and answer.

    The solution runs from the first ``Solution`` heading (or the start) to
    the last ``Self-evaluation`` heading; the self-evaluation is what follows
    that heading, and the self-score is its LAST ``Self-score:`` line, so a
    score quoted inside the solution or earlier in the self-evaluation does
    not count. Without a self-evaluation heading, a self-score is read only
    from the last non-empty line. Complete ``<think>...</think>`` blocks are
    dropped first.

    Args:
        text: The raw reply.

    Returns:
        The parts; ``self_score`` is None unless it is exactly 0, 0.5 or 1,
        and ``answer`` is None when neither the solution nor (failing that)
        the self-evaluation states one.
    """
    text = _THINK.sub("", text)
    solutions = list(_SOLUTION_HEADING.finditer(text))
    evaluations = list(_SELF_EVAL_HEADING.finditer(text))
    first_solution = solutions[0] if solutions else None
    last_evaluation = evaluations[-1] if evaluations else None

    self_score: float | None = None
    if last_evaluation is None:
        solution = text[first_solution.end() :] if first_solution else text
        evaluation = ""
        lines = solution.rstrip().splitlines()
        last_line = lines[-1] if lines else ""
        match = _SELF_SCORE_LINE.fullmatch(last_line)
        if match is not None:
            self_score = _read_score(match.group("value"))
            solution = "\n".join(lines[:-1])
    else:
        if first_solution is None:
            solution = text[: last_evaluation.start()]
            evaluation = text[last_evaluation.end() :]
        elif first_solution.start() < last_evaluation.start():
            solution = text[first_solution.end() : last_evaluation.start()]
            evaluation = text[last_evaluation.end() :]
        else:  # the sections came in the other order
            evaluation = text[last_evaluation.end() : first_solution.start()]
            solution = text[first_solution.end() :]
        scores = _SELF_SCORE_LINE.findall(evaluation)
        if scores:
            self_score = _read_score(scores[-1])
    solution = solution.strip()
    # Small models often state the boxed answer only in their self-evaluation;
    # it is still the writer's own answer, so it counts when the solution has none.
    answer = final_answer(solution) or final_answer(evaluation)
    return ParsedCandidate(solution, evaluation.strip(), self_score, answer)


# --------------------------------------------------------------------------- JSON

_OBJECT_START = re.compile(r"\{\s*[\"}]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


_STRICT_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _objects(text: str, *, nested: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    """JSON objects in ``text`` with their end offsets, left to right.

    With ``nested=False`` the scan resumes after each object, so objects inside
    another object (or inside one of its strings) are not reported.
    """
    position = 0
    while True:
        match = _OBJECT_START.search(text, position)
        if match is None:
            return
        start = match.start()
        try:
            value, end = _STRICT_DECODER.raw_decode(text, start)
        except (ValueError, RecursionError):
            position = start + 1
            continue
        if isinstance(value, dict):
            yield end, value
        position = start + 1 if nested else end


def last_json_object(text: str) -> dict[str, Any] | None:
    """The last top-level JSON object in ``text``, wherever it sits.

    Prose around it, Markdown fences and complete ``<think>`` blocks are
    ignored; an object nested in another one is not a candidate.

    Args:
        text: Any text.

    Returns:
        The decoded object, or None if the text holds no complete object.
    """
    found: dict[str, Any] | None = None
    for _, value in _objects(_THINK.sub("", text), nested=False):
        found = value
    return found


def _copied(value: dict[str, Any], reviewed: str | None) -> bool:
    if not reviewed:
        return False
    return any(value == other for _, other in _objects(reviewed, nested=True))


def _short(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "object"
    return f"{where}: {first['msg']}"


# --------------------------------------------------------------------------- verdict


class _IssueIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    location: StrictStr = ""
    description: StrictStr
    severity: StrictStr


class _VerdictIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    issues: list[_IssueIn]
    score: Any


def _score(value: Any) -> float | None:
    # bool is an int in Python; true must not read as a score of 1.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value in _SCORES else None


def parse_verdict(text: str, *, reviewed: str | None = None) -> Verdict:
    """Read a verifier's reply: the LAST JSON object, checked against VERDICT_SCHEMA.

    Severities are matched case-insensitively, with a few common synonyms
    (``critical`` -> fatal, ``moderate`` -> major, ``low`` -> minor). The
    score must be the number 0, 0.5 or 1; strings, booleans and other numbers
    make the verdict unknown. A score of 1 listed with a fatal issue is read
    as 0.

    Args:
        text: The verifier's raw reply, and only that.
        reviewed: The text the verifier was asked to review. A verdict object
            that also occurs in it is treated as copied: a manipulation, read
            as a score of 0 with a fatal issue (reason :data:`COPIED`).

    Returns:
        ``Verdict(score, issues, reason)``; ``score`` is None when the reply
        cannot be read, with ``reason`` saying why. ``reason`` is empty for a
        clean verdict.
    """
    value = last_json_object(text)
    if value is None:
        return Verdict(None, (), "no complete JSON object in the verifier's reply")
    try:
        verdict = _VerdictIn.model_validate(value)
    except ValidationError as error:
        return Verdict(None, (), f"verdict does not follow the schema ({_short(error)})")
    issues = []
    for number, item in enumerate(verdict.issues, start=1):
        severity = _SEVERITIES.get(item.severity.strip().lower())
        if severity is None:
            return Verdict(None, (), f"issue {number} has unknown severity {item.severity!r}")
        issues.append(Issue(item.location.strip(), item.description.strip(), severity))
    score = _score(verdict.score)
    if score is None:
        return Verdict(None, tuple(issues), f"score {verdict.score!r} is not 0, 0.5 or 1")
    if _copied(value, reviewed):
        return Verdict(0.0, (COPIED_ISSUE,), COPIED)
    if score == 1.0 and any(issue.severity == "fatal" for issue in issues):
        return Verdict(0.0, tuple(issues), "score 1 with a fatal issue is inconsistent; read as 0")
    return Verdict(score, tuple(issues), "")


# --------------------------------------------------------------------------- meta-check


class _CheckIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    issue: StrictInt
    reason: StrictStr = ""
    real: StrictBool


class _MetaIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    checks: list[_CheckIn]


def parse_meta(
    text: str, issue_count: int, *, reviewed: str | None = None
) -> tuple[Judgement, ...] | None:
    """Read a meta-verifier's reply: the LAST JSON object, checked against META_SCHEMA.

    Entries are matched to issues by their 1-based ``issue`` number. Numbers
    outside ``1..issue_count`` are ignored; an issue with no entry, or with
    entries that disagree, is left unjudged (``real is None``).

    Args:
        text: The meta-verifier's raw reply, and only that.
        issue_count: How many issues the report it was shown had.
        reviewed: The text under review; an object copied from it is ignored.

    Returns:
        One judgement per issue, in report order, or None when the reply
        cannot be read at all.
    """
    value = last_json_object(text)
    if value is None or _copied(value, reviewed):
        return None
    try:
        meta = _MetaIn.model_validate(value)
    except ValidationError:
        return None
    verdicts: dict[int, set[bool]] = {}
    reasons: dict[int, str] = {}
    for check in meta.checks:
        if 1 <= check.issue <= issue_count:
            verdicts.setdefault(check.issue, set()).add(check.real)
            reasons[check.issue] = check.reason.strip()
    judgements = []
    for number in range(1, issue_count + 1):
        seen = verdicts.get(number, set())
        if len(seen) == 1:
            judgements.append(Judgement(next(iter(seen)), reasons[number]))
        elif seen:
            judgements.append(Judgement(None, "the meta-verifier judged this issue both ways"))
        else:
            judgements.append(Judgement(None, "the meta-verifier did not judge this issue"))
    return tuple(judgements)



def score_distribution(
    logprobs: Sequence[TokenLogprob], text: str
) -> tuple[float, float, float] | None:
    """P(score = 0), P(0.5), P(1) of a verifier's reply, from its tokens' log-probabilities.

    The score is the ``"score"`` value of the LAST top-level JSON object (the
    one :func:`parse_verdict` reads). Joined, the token pieces place it in
    ``text``. The alternatives of the token where the value starts (after any
    whitespace in the same piece, as in ``" 1"``) are read as a value's start:
    ``1`` is 1; ``0`` then a terminator (whitespace, ``,`` or ``}``) is 0;
    ``0.`` or ``0.5`` is 0.5. A bare ``0`` is 0 or 0.5: when the sampled value
    began with it, the next position splits its mass (``.`` goes on to 0.5, a
    terminator ends at 0); otherwise (the sampled value was 1) the split is not
    observed, and it is split evenly.

    The masses are renormalised over these valid continuations only: the reply
    was decoded under :data:`VERDICT_SCHEMA`'s grammar, and a backend may
    report the distribution before it (the in-process llama.cpp one does). The
    sampled token counts where the alternatives miss it. Reading a 1 with a
    fatal issue as 0 is the caller's rule.

    Returns:
        The three probabilities, summing to 1; None without log-probabilities,
        when the score cannot be located in them (the pieces must join to
        ``text`` or run past it) or is not 0, 0.5 or 1, or when the
        alternatives at the score hold neither a 0 nor a 1.
    """
    ws = " \t\n\r"

    def skip(at: int) -> int:
        return len(text) - len(text[at:].lstrip(ws))

    def decode(at: int) -> tuple[Any, int] | None:
        try:
            return _STRICT_DECODER.raw_decode(text, at)
        except (ValueError, RecursionError):
            return None

    ends = [0, *(end for end, _ in _objects(text, nested=False))]
    verdict = last_json_object(text)
    if not logprobs or len(ends) < 2 or verdict is None or _score(verdict.get("score")) is None:
        return None
    # The last object is the first to decode after the one before it.
    starts = (m.start() for m in _OBJECT_START.finditer(text, ends[-2]))
    start = next((at for at in starts if decode(at)), -1)
    if start < 0 or decode(start) != (verdict, ends[-1]):
        return None  # the verdict sits before a <think> block holding an object
    offset, at = -1, skip(start + 1)
    while text[at] != "}":  # its top-level members; a repeated key's last value counts
        key, at = _STRICT_DECODER.raw_decode(text, at)
        value_at = skip(skip(at) + 1)
        offset = value_at if key == "score" else offset
        at = skip(_STRICT_DECODER.raw_decode(text, value_at)[1])
        at = skip(at + 1) if text[at] == "," else at
    pieces = [entry.token for entry in logprobs]
    if not "".join(pieces).startswith(text[: ends[-1]]):
        return None
    index = position = 0
    while position + len(pieces[index]) <= offset:
        position, index = position + len(pieces[index]), index + 1
    lead = pieces[index][: offset - position].strip(ws)

    def value(piece: str) -> str:
        piece = piece.lstrip(ws)
        return piece[len(lead) :].lstrip(ws) if piece.startswith(lead) else ""

    def mass(entry: TokenLogprob, pattern: str, read: Callable[[str], str] = value) -> float:
        listed = list(entry.top)
        if listed and entry.token not in [piece for piece, _ in listed]:
            listed.append((entry.token, entry.logprob))
        return sum(math.exp(logprob) for piece, logprob in listed
                   if re.fullmatch(pattern, read(piece), re.DOTALL))

    end = r"[ \t\n\r]*(?:[,}].*)?"  # what may follow a whole number
    here = logprobs[index]
    one, bare = mass(here, "1" + end), mass(here, "0")
    zero, half = mass(here, "0(?=[ \t\n\r,}])" + end), mass(here, r"0\.(?:5" + end + ")?")
    if one + zero + half + bare == 0:
        return None
    go_on = stop = 0.0
    if value(here.token) == "0" and index + 1 < len(logprobs):
        after = logprobs[index + 1]
        go_on, stop = mass(after, r"\.(?:5" + end + ")?", str), mass(after, end, str)
    share = go_on / (go_on + stop) if go_on + stop > 0 else 0.5
    zero, half = zero + bare * (1 - share), half + bare * share
    total = zero + half + one
    return zero / total, half / total, one / total


__all__ = [
    "COPIED",
    "COPIED_ISSUE",
    "META_SCHEMA",
    "VERDICT_SCHEMA",
    "Box",
    "Judgement",
    "ParsedCandidate",
    "Verdict",
    "boxes",
    "final_answer",
    "last_boxed",
    "last_json_object",
    "parse_candidate",
    "parse_meta",
    "parse_verdict",
    "score_distribution",
]
