"""The page in a real browser: Playwright (the PyPI package) driving Debian's
Chromium (never a browser that Playwright downloads)."""

from __future__ import annotations

import re
import shutil
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fansi.backends.fake import FakeBackend
from serve.serving import Live

from scripted_model import Model

pytestmark = [pytest.mark.browser, pytest.mark.server]

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

SOLUTION = (
    "GOOD. Write \\(n = 2k+1\\) and \\(m = 2l+1\\). Then\n"
    "\\[ nm = 4kl + 2k + 2l + 1 = 2(2kl + k + l) + 1, \\]\n"
    "which is odd. (Checking it by hand costs $5 and $10 of coffee.)\n"
    '<script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 2">\n'
    "\\boxed{4}"
)
PROBLEM = "Prove that the product of two odd integers \\(n\\) and \\(m\\) is odd."


@pytest.fixture
def page(tmp_path: Path) -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        opened = context.new_page()
        errors: list[str] = []
        opened.on("pageerror", lambda error: errors.append(str(error)))
        yield opened
        context.close()
        browser.close()
        assert errors == [], f"the page's script failed: {errors}"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_a_problem_submitted_in_the_form_shows_its_tree_with_rendered_math(
        serve: Callable[..., Live], page: object, tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    model = Model(solutions=[SOLUTION])
    live = serve(backend=FakeBackend(model, latency_s=0.15, max_concurrency=1))
    page.goto(live.url)
    page.fill("#problem", PROBLEM)
    page.click("#go")
    page.wait_for_url(re.compile(r"/runs/[0-9a-f]+$"))
    run_id = page.url.rsplit("/", 1)[1]
    # Progress arrives while the run works, then the tree of the finished run.
    expect(page.locator("#progress")).to_contain_text("working · round 1", timeout=15_000)
    expect(page.locator("#log li").first).to_be_attached()
    expect(page.locator('.run[data-status="finished"]')).to_be_visible(timeout=30_000)
    expect(page.locator('.run[data-verdict="pass"]')).to_be_visible()
    expect(page.locator("#progress")).to_contain_text("finished")
    assert page.locator('#log li[data-kind="candidate_written"]').count() == 2
    assert page.locator(".cand").count() == 2 and page.locator(".cand.best").count() == 1
    assert page.locator(".verif").count() >= 2
    assert page.locator(".check").count() >= 1
    # KaTeX rendered the math of the problem and of the solutions, as MathML.
    assert page.locator(".problem .katex").count() == 2
    assert page.locator(".cand .solution .katex math").count() >= 6
    assert page.locator(".cand .solution .katex math[display=block]").count() >= 2
    # Money stays text; the injected script and handler ran nothing and show as text.
    solution = page.locator(".cand.best .solution").inner_text()
    assert "$5 and $10" in solution
    assert "<script>window.__pwned = 1</script>" in solution
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".cand img, .cand script").count() == 0
    # A screenshot of the tree: a real, sizeable picture of the element.
    shot = page.locator("#tree").screenshot(path=str(tmp_path / "tree.png"))
    width, height = png_size(shot)
    assert width > 600 and height > 300

    # The link is shareable: a fresh page opens the same run.
    page.goto(f"{live.url}/runs/{run_id}")
    expect(page.locator('.run[data-status="finished"]')).to_be_visible(timeout=15_000)
    assert page.locator(".cand").count() == 2
    # And the list of runs finds it by its problem.
    page.goto(live.url)
    page.fill("#search", "odd integers")
    expect(page.locator("#run-rows tr")).to_have_count(1)
    page.fill("#search", "no such problem")
    expect(page.locator("#run-rows tr")).to_have_count(0)


def test_the_page_asks_for_the_token_and_then_works(serve: Callable[..., Live], page: object
                                                    ) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    live = serve(token="page-token-1234")
    page.goto(live.url)
    expect(page.locator("#login")).to_be_visible()
    page.fill("#token", "page-token-1234")
    page.click("#login-form button")
    expect(page.locator("#run-form")).to_be_visible(timeout=15_000)
    page.fill("#problem", "What is 2+2?")
    page.click("#go")
    # The event stream (an EventSource, which sends no headers) works on the cookie.
    expect(page.locator('#log li[data-kind="job_finished"]')).to_be_attached(timeout=30_000)
    expect(page.locator('.run[data-status="finished"]')).to_be_visible()
