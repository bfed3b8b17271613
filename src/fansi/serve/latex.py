"""Model text to safe HTML, with its LaTeX rendered by KaTeX on the server.

Models write math as ``\\( \\)``, ``\\[ \\]``, ``$$ $$``, ``$ $`` and bare
``\\begin{align}`` blocks, use ``$`` for money, and stop halfway while a reply
streams. :func:`split` cuts text into plain text, code and math by these
rules, and every delimiter it cannot close stays text:

- ``$`` opens math only before a non-space, and the next unescaped ``$``
  closes it only after a non-space and before a non-digit, within the
  paragraph (pandoc's rule): ``$5 and $10`` stays text, ``$x$`` is math.
- ``\\$`` is a dollar sign; code (backticks and fences) is never math.
- A bare ``\\boxed{...}`` outside math (models end with one) is math.

:func:`to_html` escapes every piece of text, so nothing in a model's reply
can become markup. Math goes to KaTeX (the ``pykatex`` package, which runs
KaTeX itself in an embedded JavaScript engine) as MathML, which browsers
draw without KaTeX's stylesheet or fonts, so the page loads nothing from
anywhere. Without ``pykatex`` the math is shown as written, marked
``tex-raw``, and the page says why.
"""

from __future__ import annotations

import html
import importlib
import importlib.util
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, lru_cache
from types import ModuleType
from typing import Literal

SegmentKind = Literal["text", "code", "math"]
#: Math longer than this is shown as written (a runaway delimiter, not a formula).
MAX_MATH_CHARS = 4000
ENVIRONMENTS = ("equation", "align", "alignat", "gather", "multline", "flalign", "eqnarray",
                "displaymath")

_OPENERS = re.compile(
    r"```|`|\\\[|\\\(|\$\$|\\\$|\$|\\boxed\{|\\begin\{(" + "|".join(ENVIRONMENTS)
    + r")(\*?)\}")


def _matching_brace(text: str, start: int) -> int | None:
    """The index of the ``}`` that closes the ``{`` just before ``start``, or None."""
    depth = 1
    for index in range(start, min(len(text), start + MAX_MATH_CHARS)):
        char = text[index]
        if char == "\\":
            continue
        if char == "{" and text[index - 1] != "\\":
            depth += 1
        elif char == "}" and text[index - 1] != "\\":
            depth -= 1
            if depth == 0:
                return index
    return None


@dataclass(frozen=True)
class Segment:
    kind: SegmentKind
    #: The text, the code, or the TeX (without its delimiters).
    text: str
    #: For math: displayed on its own line; for code: a fenced block.
    block: bool = False
    #: For math: the text as written, delimiters included.
    source: str = ""


def _inline_dollar(text: str, start: int) -> int | None:
    """The index of the ``$`` that closes the ``$`` at ``start``, or None."""
    after = start + 1
    if after >= len(text) or text[after].isspace():
        return None
    index = after
    while True:
        index = text.find("$", index)
        if index < 0:
            return None
        if text[index - 1] != "\\":
            break
        index += 1
    body = text[after:index]
    if "\n\n" in body or text[index - 1].isspace():
        return None
    if index + 1 < len(text) and text[index + 1].isdigit():
        return None
    return index


def split(text: str) -> list[Segment]:
    """Cut model text into text, code and math segments (see the module's docstring)."""
    segments: list[Segment] = []
    plain: list[str] = []
    pos = 0

    def flush() -> None:
        if plain:
            segments.append(Segment("text", "".join(plain)))
            plain.clear()

    def math(tex: str, block: bool, source: str) -> None:
        flush()
        segments.append(Segment("math", tex, block, source))

    while (found := _OPENERS.search(text, pos)) is not None:
        plain.append(text[pos:found.start()])
        token, start, end = found.group(0), found.start(), found.end()
        pos = end
        if token == "```":
            close = text.find("```", end)
            stop = len(text) if close < 0 else close
            flush()
            # The fence's info string (```python) names the language; it is not code.
            info = re.match(r"[\w+-]*\n", text[end:stop])
            segments.append(Segment("code", text[end + (info.end() if info else 0):stop],
                                    block=True))
            pos = len(text) if close < 0 else close + 3
        elif token == "`":
            close = text.find("`", end)
            if close < 0 or "\n" in text[end:close]:
                plain.append(token)
            else:
                flush()
                segments.append(Segment("code", text[end:close]))
                pos = close + 1
        elif token == "\\$":
            plain.append("$")
        elif token == "\\boxed{":
            # A bare \boxed{...} (models end with one) is math, as if in \( \).
            brace = _matching_brace(text, end)
            if brace is None:
                plain.append(token)
            else:
                math(text[start:brace + 1], False, text[start:brace + 1])
                pos = brace + 1
        elif token == "$":
            close_at = _inline_dollar(text, start)
            if close_at is None:
                plain.append(token)
            else:
                math(text[end:close_at], False, text[start:close_at + 1])
                pos = close_at + 1
        else:
            closer = {"\\[": "\\]", "\\(": "\\)", "$$": "$$"}.get(token)
            if closer is None:  # \begin{env}
                closer = f"\\end{{{found.group(1)}{found.group(2)}}}"
            close = text.find(closer, end)
            tex = text[end:close]
            if close < 0 or not tex.strip() or len(tex) > MAX_MATH_CHARS:
                plain.append(token)
                continue
            if token.startswith("\\begin"):
                math(text[start:close + len(closer)], True, text[start:close + len(closer)])
            else:
                math(tex, token != "\\(", text[start:close + len(closer)])
            pos = close + len(closer)
    plain.append(text[pos:])
    flush()
    return [s for s in segments if s.text or s.kind != "text"]


@cache
def _katex() -> ModuleType | None:
    if importlib.util.find_spec("pykatex") is None:
        return None
    return importlib.import_module("pykatex")


def katex_available() -> bool:
    """Whether math is rendered (the ``pykatex`` package is installed)."""
    return _katex() is not None


#: KaTeX runs in one JavaScript runtime that must stay on the thread that made
#: it (QuickJS aborts the process when another thread's stack enters it), so
#: every formula is rendered on this one thread, whoever asks.
_KATEX_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fansi-katex")


def _render(katex: ModuleType, tex: str, block: bool) -> str | None:
    try:
        # trust=False keeps \href, \url and \html* inert; strict="ignore" keeps
        # KaTeX from printing a warning per non-standard command.
        out = katex.renderToString(tex, displayMode=block, output="mathml",
                                   throwOnError=False, strict="ignore", trust=False)
    except Exception:  # a renderer failure shows the TeX as written
        return None
    return out if isinstance(out, str) else None


@lru_cache(maxsize=4096)
def render_math(tex: str, block: bool) -> str | None:
    """KaTeX's MathML for ``tex``; an unparseable formula comes back as
    KaTeX's red error mark. None without KaTeX or if it fails."""
    katex = _katex()
    if katex is None:
        return None
    return _KATEX_THREAD.submit(_render, katex, tex, block).result()


def to_html(text: str) -> str:
    """Model text as HTML: text escaped, code in ``<code>``, math rendered.

    The result is meant for an element with ``white-space: pre-wrap``.
    """
    out: list[str] = []
    after_block = False
    for segment in split(text):
        if segment.kind == "text":
            # A displayed formula or code block ends its own line.
            piece = segment.text[1:] if after_block and segment.text[:1] == "\n" else segment.text
            out.append(html.escape(piece))
        elif segment.kind == "code":
            code = f"<code>{html.escape(segment.text)}</code>"
            out.append(f"<pre>{code}</pre>" if segment.block else code)
        else:
            rendered = render_math(segment.text, segment.block)
            if rendered is None:
                out.append(f'<span class="tex-raw">{html.escape(segment.source)}</span>')
            else:
                out.append(rendered)
        after_block = segment.block
    return "".join(out)


__all__ = ["Segment", "katex_available", "render_math", "split", "to_html"]
