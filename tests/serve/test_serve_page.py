"""The run's tree as the page shows it: the fragment the server renders."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fansi.backends.fake import FakeBackend
from serve.serving import Live, wait_for

from scripted_model import Model

pytestmark = pytest.mark.server


def test_the_tree_shows_issues_meta_checks_and_refinements(serve: Callable[..., Live]) -> None:
    model = Model(solutions=["BAD: so $x = 5$ and \\boxed{5}"],
                  refined=["GOOD after revision: \\(x = 4\\), \\boxed{4}"])
    live = serve(backend=FakeBackend(model), effort="medium")
    with live.client() as client:
        run_id = client.post("/api/runs", json={"problem": "Find $x$ if $x - 4 = 0$.",
                                                "n": 2, "m": 1}).json()["id"]
        assert wait_for(client, run_id)["verdict"] == "pass"
        page = client.get(f"/fragments/runs/{run_id}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert f'data-id="{run_id}"' in html and 'data-verdict="pass"' in html
    assert html.count('class="cand') == 3
    # The refinement sits under its parent, answers the confirmed issue, and is the best.
    assert html.index('class="cand"') < html.index('class="children"') \
        < html.index('class="cand best refinement"')
    assert "refines r0c" in html
    assert 'class="issue sev-fatal confirmed"' in html and "the key step is false" in html
    assert "by meta-check" in html
    assert html.count('class="verif score-0"') >= 2 and 'class="verif score-1"' in html
    assert html.count('class="katex"') >= 5  # problem, answers and boxes
    assert "confidence <b>" in html and "(uncalibrated)" in html


def test_a_queued_run_shows_its_problem_before_any_candidate(serve: Callable[..., Live]) -> None:
    live = serve(backend=FakeBackend(Model(), latency_s=0.3, max_concurrency=1))
    with live.client() as client:
        client.post("/api/runs", json={"problem": "What is 1+1?", "seed": 1})
        queued = client.post("/api/runs", json={"problem": "What is <b>2</b>+2?",
                                                "seed": 2}).json()["id"]
        html = client.get(f"/fragments/runs/{queued}").text
        assert 'data-status="queued"' in html and "No candidates yet." in html
        assert "What is &lt;b&gt;2&lt;/b&gt;+2?" in html
        assert client.get("/fragments/runs/nothing-here").status_code == 404
