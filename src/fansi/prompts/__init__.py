"""Prompt templates, stored as Markdown files next to this module.

A template file has a system part and a user part, split by a line that reads
``<!-- user -->``. Two kinds of placeholder are recognised:

- ``{{> name}}`` includes the file ``name.md`` when the template is loaded
  (``rubric.md`` and ``format.md`` are shared this way);
- ``{{name}}`` is filled by :meth:`Template.render` with a value.

Filling is one regular-expression pass over the *template*: values are pasted
in and never scanned again, so problem or candidate text that contains braces,
``{{problem}}`` or ``{0}`` comes out exactly as it went in. ``str.format`` is
never applied to user text.

Each template puts what is stable first (instructions and rubric in the
system message, then the problem, then the candidate), so that many calls on
one problem, or on one candidate, share the longest possible prompt prefix and
a backend can reuse its KV cache for it.

Text under review is wrapped by :func:`fence` between markers such as
``<<<CANDIDATE-3f9a0c12d4e5>>>`` and ``<<<END-CANDIDATE-3f9a0c12d4e5>>>``. The
code is derived from the text and chosen so that it occurs nowhere in the text
(nor in any other text passed as ``avoid``), so the fenced text can never
contain, and thus never forge, its own closing marker.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import count

from fansi.records import Message

#: The line that separates the system part of a template from its user part.
USER_SPLIT = "<!-- user -->"
#: Template names shipped with fansi (files ``<name>.md``).
TEMPLATES = (
    "generate", "generate_plain", "verify", "meta_check", "refine", "program", "claims",
    "addressed",
)

_PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")
_INCLUDE = re.compile(r"\{\{>\s*([a-z_]+)\s*\}\}")
_LABEL = re.compile(r"[A-Z][A-Z-]*")
_CODE_LENGTH = 12


@dataclass(frozen=True)
class Fence:
    """A text wrapped between an opening and a closing marker with one code."""

    label: str
    code: str
    text: str

    @property
    def opening(self) -> str:
        return f"<<<{self.label}-{self.code}>>>"

    @property
    def closing(self) -> str:
        return f"<<<END-{self.label}-{self.code}>>>"

    def render(self) -> str:
        """The markers and the text, one marker per line."""
        return f"{self.opening}\n{self.text}\n{self.closing}"


def _derive_code(label: str, text: str, attempt: int) -> str:
    seed = f"{label}\x00{attempt}\x00{text}".encode()
    return hashlib.sha256(seed).hexdigest()[:_CODE_LENGTH]


def fence(label: str, text: str, *, avoid: Iterable[str] = ()) -> Fence:
    """Wrap ``text`` between markers whose code occurs in no text it must avoid.

    The code is a pure function of ``label`` and ``text`` (prompts stay
    deterministic, which the call cache and prefix reuse rely on). If the
    derived code happens to occur in ``text`` or in one of ``avoid``, the next
    derivation is tried. Comparison ignores case, so no casing of the code can
    appear in the enclosed text either.

    Args:
        label: Upper-case name of the material, such as ``CANDIDATE``.
        text: The material to enclose, used verbatim.
        avoid: Other texts in the same prompt that must not contain the code.

    Returns:
        The fence; ``fence(...).render()`` is the text to put in a prompt.

    Raises:
        ValueError: If ``label`` is not upper-case letters and dashes.
    """
    if not _LABEL.fullmatch(label):
        raise ValueError(f"fence label must be upper-case letters and dashes: {label!r}")
    haystacks = [text.lower(), *(other.lower() for other in avoid)]
    for attempt in count():
        code = _derive_code(label, text, attempt)
        if not any(code in hay for hay in haystacks):
            return Fence(label, code, text)
    raise AssertionError("unreachable")  # pragma: no cover - count() never ends


@dataclass(frozen=True)
class Template:
    """A loaded prompt: fixed system text and a user part with placeholders."""

    name: str
    system: str
    user: str

    @property
    def placeholders(self) -> frozenset[str]:
        """Names that :meth:`render` must be given values for."""
        return frozenset(_PLACEHOLDER.findall(self.system + self.user))

    def render(self, **values: str) -> list[Message]:
        """Fill every placeholder in one pass and return the chat messages.

        Args:
            **values: One string for each name in :attr:`placeholders`.

        Returns:
            A system message (when the template has a system part) and a user
            message.

        Raises:
            KeyError: If a placeholder has no value or a value has no placeholder;
                both are programming errors, not bad input.
        """
        missing = self.placeholders - values.keys()
        unused = values.keys() - self.placeholders
        if missing or unused:
            raise KeyError(
                f"template {self.name!r}: missing {sorted(missing)}, unused {sorted(unused)}"
            )

        def fill(part: str) -> str:
            return _PLACEHOLDER.sub(lambda match: values[match.group(1)], part)

        messages = [Message("system", fill(self.system))] if self.system else []
        messages.append(Message("user", fill(self.user)))
        return messages


def _read(name: str) -> str:
    return resources.files(__name__).joinpath(f"{name}.md").read_text(encoding="utf-8")


def _expand(text: str, seen: tuple[str, ...]) -> str:
    def include(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in seen:
            raise ValueError(f"prompt include cycle: {' -> '.join((*seen, name))}")
        return _expand(_read(name).strip(), (*seen, name))

    return _INCLUDE.sub(include, text)


@cache
def load(name: str) -> Template:
    """Load the template ``<name>.md`` with its includes expanded.

    Args:
        name: One of :data:`TEMPLATES`, or any other ``.md`` file in this package.

    Returns:
        The template, cached for the life of the process.

    Raises:
        FileNotFoundError: If there is no such file.
    """
    text = _expand(_read(name), (name,))
    system, split, user = text.partition(USER_SPLIT)
    if not split:
        system, user = "", system
    return Template(name=name, system=system.strip(), user=user.strip())


@cache
def digest() -> str:
    """A short digest of every prompt file shipped, so that stored work made with
    other prompts (a run of an older fansi, say) is never taken for this one's."""
    files = sorted((f for f in resources.files(__name__).iterdir() if f.name.endswith(".md")),
                   key=lambda f: f.name)
    sha = hashlib.sha256()
    for file in files:
        sha.update(f"{file.name}\x00{file.read_text(encoding='utf-8')}\x00".encode())
    return sha.hexdigest()[:12]


__all__ = ["TEMPLATES", "USER_SPLIT", "Fence", "Template", "digest", "fence", "load"]
