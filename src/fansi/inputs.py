"""Reading problems from users: clear errors for empty, huge or undecodable input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from fansi.errors import InputError
from fansi.records import Problem


def problem_from_text(text: str, *, max_chars: int, id: str = "") -> Problem:
    """Validate problem text and wrap it in a Problem."""
    stripped = text.strip()
    if not stripped:
        raise InputError("the problem is empty")
    if len(stripped) > max_chars:
        raise InputError(
            f"the problem has {len(stripped):,} characters, over the limit of {max_chars:,}",
            hint="Shorten it, or raise max_problem_chars (FANSI_MAX_PROBLEM_CHARS).",
        )
    if "\x00" in stripped:
        raise InputError("the problem contains NUL bytes; is it a binary file?")
    return Problem(text=stripped, id=id)


def decode(data: bytes, *, source: str) -> str:
    """UTF-8 text from bytes, or an InputError naming the source and the byte offset."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{source} is not UTF-8 text (bad byte at offset {exc.start})",
            hint="Convert it, e.g. `iconv -f latin1 -t utf-8 FILE`.",
        ) from exc


def read_text_file(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    return decode(data, source=str(path))


TEXT_KEYS = ("problem", "question", "text")


def read_jsonl(
    path: Path, *, max_chars: int, answer: Callable[[object], str | None] = lambda a: None,
) -> list[Problem]:
    """Every problem of a JSONL file, or an InputError naming the first bad line.

    The whole file is checked before anything runs, so a bad line stops the
    batch before it stores anything.

    Args:
        path: The file: one JSON object per line, with the problem under one
            of :data:`TEXT_KEYS`, and optionally an ``id`` and an ``answer``.
        max_chars: The longest problem accepted.
        answer: Reads a row's ``answer`` field into a reference answer (the
            caller knows the dataset's format); by default answers are ignored.
    """
    text_of_file = read_text_file(path)
    problems: list[Problem] = []
    for number, line in enumerate(text_of_file.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where} is not JSON: {exc.msg}") from exc
        if not isinstance(row, dict):
            raise InputError(f"{where} must be a JSON object")
        text = next((row[k] for k in TEXT_KEYS if isinstance(row.get(k), str)), None)
        if text is None:
            raise InputError(f"{where} has no problem text under {', '.join(TEXT_KEYS)}")
        try:
            problem = problem_from_text(text, max_chars=max_chars, id=str(row.get("id", number)))
            reference = answer(row.get("answer"))
        except InputError as exc:
            raise InputError(f"{where}: {exc.message}", hint=exc.hint) from exc
        problems.append(Problem(problem.text, reference, problem.id))
    if not problems:
        raise InputError(f"{path} holds no problems")
    return problems
