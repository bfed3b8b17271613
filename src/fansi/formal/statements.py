"""Coq source handling: sentences, and the open theorems of a ``.v`` file.

A ``.v`` file given to ``fansi prove`` holds one or more theorems whose proofs
are still to be written: the proof is missing at the end of the file, is only
``Proof.``, or ends in ``Admitted.`` or ``Abort.``. :func:`parse_file` finds
them. Each :class:`Theorem` carries its *context*: the file's text before it,
with the other open theorems left out, so that it can be checked on its own
(a proof may not lean on a sibling that is itself unproved).

Sentences are split the way Coq's lexer does it: a sentence ends at a ``.``
followed by white space or the end of the text, outside comments (which nest)
and string literals (which may sit inside comments, where a ``"*)"`` does not
close the comment).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal, cast

from fansi.errors import InputError

#: The largest ``.v`` file accepted, in characters.
MAX_SOURCE_CHARS = 1_000_000

TheoremKind = Literal[
    "Theorem", "Lemma", "Fact", "Remark", "Corollary", "Proposition", "Property", "Example"
]
_KINDS = "Theorem|Lemma|Fact|Remark|Corollary|Proposition|Property|Example"
_HEADER = re.compile(
    rf"^(?P<prefix>(?:#\[[^\]]*\]\s*)*(?:(?:Local|Global)\s+)?)(?P<kind>{_KINDS})\s+"
    r"(?P<name>[A-Za-z_][A-Za-z0-9_']*)(?P<rest>.*)\.$",
    re.DOTALL,
)
_TERMINATOR = re.compile(r"^(Qed|Defined|Admitted|Abort|Save)\b")
_OPEN_TERMINATOR = re.compile(r"^(Admitted|Abort)\b")
_PROOF = re.compile(r"^Proof\b")
_DECLARATION = re.compile(
    r"^(?:#\[[^\]]*\]\s*)*(?:(?:Local|Global)\s+)?"
    r"(?P<kind>Axioms?|Parameters?|Conjectures?|Variables?|Hypothes[ie]s)\s+(?P<rest>.*)\.$",
    re.DOTALL,
)
_BLOCK_OPEN = re.compile(r"^(?:Section|Module(?:\s+Type)?)\s+([A-Za-z_][A-Za-z0-9_']*)\s*\.$")
_BLOCK_CLOSE = re.compile(r"^End\s+([A-Za-z_][A-Za-z0-9_']*)\s*\.$")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_']*")


@dataclass(frozen=True)
class Sentence:
    """One Coq sentence: ``text`` is ``source[start:end]``, ending with its ``.``."""

    start: int
    end: int
    text: str


def strip_comments(source: str) -> str:
    """The source with every comment replaced by one space (strings are kept).

    Raises:
        InputError: If a comment or a string literal is not closed.
    """
    out: list[str] = []
    i, n = 0, len(source)
    while i < n:
        if source.startswith("(*", i):
            i = _skip_comment(source, i)
            out.append(" ")
        elif source[i] == '"':
            j = _skip_string(source, i)
            out.append(source[i:j])
            i = j
        else:
            out.append(source[i])
            i += 1
    return "".join(out)


def _skip_string(source: str, i: int) -> int:
    # Coq escapes a quote inside a string by doubling it, which this reads as
    # two adjacent strings: the same extent either way.
    j = source.find('"', i + 1)
    if j < 0:
        raise InputError(f"unterminated string literal at character {i}")
    return j + 1


def _skip_comment(source: str, i: int) -> int:
    depth, j, n = 0, i, len(source)
    while j < n:
        if source.startswith("(*", j):
            depth += 1
            j += 2
        elif source.startswith("*)", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        elif source[j] == '"':
            j = _skip_string(source, j)
        else:
            j += 1
    raise InputError(f"unterminated comment at character {i}")


def split_sentences(source: str) -> list[Sentence]:
    """Split Coq source into sentences, skipping comments and white space between them.

    Text after the last ``.`` that is not white space or comments becomes a last
    sentence without a final ``.``; :func:`parse_file` rejects it, a proof
    extractor may take it as it is.

    Raises:
        InputError: If a comment or string literal is not closed.
    """
    sentences: list[Sentence] = []
    i, n = 0, len(source)
    start: int | None = None
    while i < n:
        char = source[i]
        if source.startswith("(*", i):
            i = _skip_comment(source, i)
            continue
        if start is None:
            if char.isspace():
                i += 1
                continue
            start = i
        if char == '"':
            i = _skip_string(source, i)
            continue
        if char == "." and (i + 1 == n or source[i + 1].isspace()) and not _in_dots(source, i):
            sentences.append(Sentence(start, i + 1, source[start : i + 1]))
            start = None
        i += 1
    if start is not None:
        sentences.append(Sentence(start, n, source[start:n]))
    return sentences


def _in_dots(source: str, i: int) -> bool:
    # ``..`` (recursive notations) and ``...`` do not end a sentence on their
    # last dot; a single ``.`` after an identifier or a closing bracket does.
    return i > 0 and source[i - 1] == "."


def _flat(text: str) -> str:
    """Comments removed and white space collapsed: the form sentences are matched in."""
    return " ".join(strip_comments(text).split())


@dataclass(frozen=True)
class Theorem:
    """A theorem whose proof is to be written.

    Attributes:
        kind: The vernacular keyword, e.g. ``"Theorem"``.
        name: The theorem's name.
        binders: What stands between the name and the top-level ``:``, e.g.
            ``"(x : R) (h : 0 < x)"``; empty when there are none.
        statement: The type after the top-level ``:``.
        context: The source text it is checked in: the file before it, without
            the other open theorems.
        context_axioms: Names the context declares without proof (``Parameter``,
            ``Axiom``...), module-qualified; a proof may use them.
        path: Where it was read from, for messages (may be empty).
    """

    kind: TheoremKind
    name: str
    binders: str
    statement: str
    context: str
    context_axioms: tuple[str, ...] = ()
    path: str = ""

    @property
    def header(self) -> str:
        """The declaration sentence, e.g. ``Theorem t (x : R) : 0 <= x * x.``."""
        binders = f" {self.binders}" if self.binders else ""
        return f"{self.kind} {self.name}{binders} :\n  {self.statement}."

    @property
    def proposition(self) -> str:
        """The statement with its binders turned into a ``forall``."""
        if not self.binders:
            return self.statement
        return f"forall {self.binders},\n  {self.statement}"

    @property
    def digest(self) -> str:
        """A short digest of the context and the header: the theorem's identity."""
        text = f"{self.context}\x00{self.header}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class FormalFile:
    """A parsed ``.v`` file.

    Attributes:
        preamble: The text before the first open theorem (imports, scopes,
            definitions).
        theorems: The open theorems, in file order.
    """

    preamble: str
    theorems: tuple[Theorem, ...]


@dataclass(frozen=True)
class _Item:
    start: int
    end: int
    theorem: tuple[str, str, str, str] | None  # kind, name, binders, statement


def split_header(rest: str) -> tuple[str, str] | None:
    """Split what follows a theorem's name into (binders, statement) at the top-level ``:``.

    Returns:
        The pair, or None if there is no top-level ``:`` (or it is a ``:=``).
    """
    depth = 0
    for index, char in enumerate(rest):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == ":" and depth == 0:
            after = rest[index + 1 : index + 2]
            before = rest[index - 1 : index] if index else ""
            if after in ("=", ":", ">") or before == ":":
                return None
            return rest[:index].strip(), rest[index + 1 :].strip()
    return None


def _top_level_define(text: str) -> bool:
    depth = 0
    for index, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(":=", index):
            return True
    return False


def parse_file(source: str, *, path: str = "") -> FormalFile:
    """Find the open theorems of a ``.v`` file.

    Args:
        source: The file's text.
        path: Where it came from, for messages.

    Returns:
        The preamble and the open theorems, each with its own context.

    Raises:
        InputError: If the file is empty, too large, has an unclosed comment or
            string, text after its last sentence, an unterminated proof that is
            not empty, or no open theorem.
    """
    where = f"{path}: " if path else ""
    if len(source) > MAX_SOURCE_CHARS:
        raise InputError(f"{where}the file has {len(source)} characters; the limit is "
                         f"{MAX_SOURCE_CHARS}")
    try:
        sentences = split_sentences(source)
    except InputError as exc:
        raise InputError(f"{where}{exc.message}") from exc
    if not sentences:
        raise InputError(f"{where}the file holds no Coq sentences")
    if not sentences[-1].text.endswith("."):
        raise InputError(f"{where}text after the last sentence does not end with '.': "
                         f"{_flat(sentences[-1].text)[:80]!r}")
    items = _items(sentences, where)
    open_items = [item for item in items if item.theorem is not None]
    if not open_items:
        raise InputError(f"{where}no theorem with an open proof (one that is missing, only "
                         "'Proof.', or ends in 'Admitted.' or 'Abort.')")
    theorems = []
    for item in open_items:
        assert item.theorem is not None
        kind, name, binders, statement = item.theorem
        pieces = []
        cursor = 0
        for other in open_items:
            if other.start >= item.start:
                break
            pieces.append(source[cursor : other.start])
            cursor = other.end
        pieces.append(source[cursor : item.start])
        context = "".join(pieces).rstrip() + "\n"
        theorems.append(Theorem(
            kind=cast(TheoremKind, kind), name=name, binders=binders, statement=statement,
            context=context, context_axioms=declared_axioms(context), path=path,
        ))
    return FormalFile(preamble=source[: open_items[0].start].rstrip() + "\n",
                      theorems=tuple(theorems))


def _items(sentences: list[Sentence], where: str) -> list[_Item]:
    """Group sentences into items; theorems with an open proof carry their parts."""
    items: list[_Item] = []
    i = 0
    while i < len(sentences):
        sentence = sentences[i]
        match = _HEADER.match(strip_comments(sentence.text).strip())
        if match is None:
            items.append(_Item(sentence.start, sentence.end, None))
            i += 1
            continue
        parts = split_header(match.group("rest"))
        if parts is None:
            raise InputError(f"{where}cannot read the statement of {match.group('name')}: "
                             "no top-level ':'")
        binders, statement = parts
        if _top_level_define(statement):
            # ``Example e : T := term.``: a definition with its body, not a goal.
            items.append(_Item(sentence.start, sentence.end, None))
            i += 1
            continue
        if not statement:
            raise InputError(f"{where}{match.group('name')} has an empty statement")
        j = i + 1
        body: list[str] = []
        terminator = None
        while j < len(sentences):
            text = _flat(sentences[j].text)
            j += 1
            if _TERMINATOR.match(text):
                terminator = text
                break
            body.append(text)
        tactics = [text for text in body if not _PROOF.match(text)]
        is_open = (terminator is None and not tactics) or (
            terminator is not None and _OPEN_TERMINATOR.match(terminator) is not None)
        if terminator is None and tactics:
            raise InputError(f"{where}the proof of {match.group('name')} is not terminated "
                             "(no Qed, Defined, Admitted or Abort)")
        theorem = (match.group("kind"), match.group("name"), binders, statement)
        items.append(_Item(sentence.start, sentences[j - 1].end, theorem if is_open else None))
        i = j
    return items


def declared_axioms(context: str) -> tuple[str, ...]:
    """Names that ``context`` declares without proof, qualified by enclosing modules.

    Section variables are left out: a section discharges them.
    """
    names: list[str] = []
    blocks: list[tuple[str, bool]] = []  # (name, is_section)
    for sentence in split_sentences(context):
        flat = _flat(sentence.text)
        opened = _BLOCK_OPEN.match(flat)
        if opened:
            blocks.append((opened.group(1), flat.startswith("Section")))
            continue
        closed = _BLOCK_CLOSE.match(flat)
        if closed and blocks:
            blocks.pop()
            continue
        declared = _DECLARATION.match(flat)
        if declared is None:
            continue
        kind = declared.group("kind")
        in_section = any(is_section for _, is_section in blocks)
        if in_section and kind.startswith(("Variable", "Hypothes")):
            continue
        prefix = "".join(f"{name}." for name, is_section in blocks if not is_section)
        names.extend(prefix + name for name in _declared_names(declared.group("rest")))
    return tuple(names)


def _declared_names(rest: str) -> list[str]:
    """``a b : T`` or ``(a : T) (b c : U)`` -> the names declared."""
    rest = rest.strip()
    if rest.startswith("("):
        names: list[str] = []
        depth = 0
        group_start = 0
        for index, char in enumerate(rest):
            if char == "(":
                if depth == 0:
                    group_start = index + 1
                depth += 1
            elif char == ")":
                depth -= 1
                if depth == 0:
                    head = rest[group_start:index].split(":", 1)[0]
                    names.extend(_IDENT.findall(head))
        return names
    return _IDENT.findall(rest.split(":", 1)[0])


__all__ = [
    "MAX_SOURCE_CHARS",
    "FormalFile",
    "Sentence",
    "Theorem",
    "TheoremKind",
    "declared_axioms",
    "parse_file",
    "split_header",
    "split_sentences",
    "strip_comments",
]
