"""Reading problems from users: clear errors for empty, huge or undecodable input."""

from __future__ import annotations

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
