"""Model text to HTML: what is math, what stays text, and that nothing becomes markup."""

from __future__ import annotations

import pytest

from fansi.serve import latex
from fansi.serve.latex import Segment, split, to_html


def kinds(text: str) -> list[tuple[str, str]]:
    return [(s.kind, s.text) for s in split(text)]


@pytest.mark.parametrize(("text", "expected"), [
    ("Let $x^2$ be.", [("text", "Let "), ("math", "x^2"), ("text", " be.")]),
    ("\\(a+b\\) and \\[c\\]", [("math", "a+b"), ("text", " and "), ("math", "c")]),
    ("$$\\sum_k k$$", [("math", "\\sum_k k")]),
    ("\\begin{align} a &= b \\end{align}", [("math", "\\begin{align} a &= b \\end{align}")]),
    ("so \\boxed{\\frac{1}{2}}.", [("text", "so "), ("math", "\\boxed{\\frac{1}{2}}"),
                                    ("text", ".")]),
    # Money, escaped dollars and lone delimiters stay text.
    ("It costs $5 and $10.", [("text", "It costs $5 and $10.")]),
    ("$5-$10", [("text", "$5-$10")]),
    ("from $3.50, not $x$", [("text", "from $3.50, not "), ("math", "x")]),
    ("a $ b $ c", [("text", "a $ b $ c")]),
    ("use \\$ here", [("text", "use $ here")]),
    ("$a\n\nb$", [("text", "$a\n\nb$")]),
    # Half-written math (a reply cut off, or still streaming) stays as written.
    ("half \\[ x^2 +", [("text", "half \\[ x^2 +")]),
    ("half $x^", [("text", "half $x^")]),
    ("\\boxed{4", [("text", "\\boxed{4")]),
    ("\\begin{align} a", [("text", "\\begin{align} a")]),
    # Code is never math.
    ("run `$x$` now", [("text", "run "), ("code", "$x$"), ("text", " now")]),
    ("```python\nprint('$a$')\n```\nthen $y$", [("code", "print('$a$')\n"),
                                                ("text", "\nthen "), ("math", "y")]),
])
def test_what_is_math(text: str, expected: list[tuple[str, str]]) -> None:
    assert kinds(text) == expected


def test_display_math_is_marked_as_a_block() -> None:
    assert [s.block for s in split("\\(a\\) \\[b\\] $$c$$ $d$")
            if s.kind == "math"] == [False, True, True, False]
    [segment] = split("\\[ x \\]")
    assert segment == Segment("math", " x ", True, "\\[ x \\]")


def test_math_is_rendered_by_katex_as_mathml() -> None:
    assert latex.katex_available()
    out = to_html("Then $\\frac{1}{2}$ and \\[x^2\\]")
    assert out.count('class="katex"') == 2
    assert "<mfrac>" in out and 'display="block"' in out
    assert "Then " in out


def test_an_unparseable_formula_is_marked_not_raised() -> None:
    out = to_html("bad: $\\frac{1$")
    assert 'class="katex-error"' in out


def test_text_and_code_are_escaped_and_nothing_becomes_markup() -> None:
    out = to_html('<script>alert(1)</script> `<b>` $a<b$ <img src=x onerror="alert(2)">')
    assert "<script>" not in out and "<img" not in out and "<b>" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in out
    assert "<code>&lt;b&gt;</code>" in out
    assert "<mo>&lt;</mo>" in out


def test_katex_keeps_links_and_html_commands_inert() -> None:
    out = to_html("$\\href{javascript:alert(1)}{x}$ $\\htmlClass{evil}{y}$")
    assert "href=" not in out and "<a " not in out and 'class="evil"' not in out


def test_without_katex_the_tex_is_shown_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(latex, "_katex", lambda: None)
    latex.render_math.cache_clear()
    try:
        out = to_html("Then $x<1$.")
        assert not latex.katex_available()
        assert out == 'Then <span class="tex-raw">$x&lt;1$</span>.'
    finally:
        latex.render_math.cache_clear()
