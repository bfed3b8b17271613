"""A scripted verifier for the labelling tests, and the tiny model for the learn tier.

The verifier reads markers in the text under review, as tests/scripted_model.py
does, plus FLAKY: its first analysis fails it with one issue (which the
meta-check dismisses) and the others pass it. The meta-check calls an issue
real unless the text under review says DISMISS or FLAKY.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import fansi
from fansi.backends.fake import FakeBackend, Reply
from fansi.config import Settings
from fansi.learn.labelling import label_targets, labels_path, stored_targets
from fansi.learn.labels import Label, LabelRule, write_labels
from fansi.records import GenerateParams, Message, Problem
from fansi.store import Store

from scripted_model import Model, meta, step_of, under_review, verdict


@dataclass
class Verifier(Model):
    """The scripted model, with FLAKY and DISMISS markers for the verifier."""

    seen: Counter[str] = field(default_factory=Counter)

    def __call__(self, messages: Sequence[Message], params: GenerateParams) -> Reply:
        step = step_of(messages, params)
        reviewed = under_review(messages)
        if step == "meta":
            self.steps.append(step)
            return meta("DISMISS" not in reviewed and "FLAKY" not in reviewed)
        if step == "verify" and "FLAKY" in reviewed:
            self.steps.append(step)
            self.seen[reviewed] += 1
            if self.seen[reviewed] == 1:
                return verdict(0, ("major", "step 1 skips a case"))
            return verdict(1)
        return super().__call__(messages, params)


@pytest.fixture
def verifier() -> type[Verifier]:
    """The scripted verifier's class (tests make one per backend)."""
    return Verifier


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Hugging Face libraries never reach the network in these tests."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


BAD = "Step 1: 2 + 2 makes 5, BAD.\nStep 2: So the answer is \\boxed{5}"
GOOD = "Step 1: 2 + 2 makes 4, GOOD after revision.\nStep 2: So \\boxed{4}"


@pytest.fixture
async def labelled(settings: Settings, verifier: Any) -> list[Label]:
    """Two stored runs: one refined from a refuted candidate to a verified one
    (a lineage pair), one whose only candidate the verifier cannot settle."""
    writer = verifier(solutions=[BAD], refined=[GOOD])
    await fansi.asolve(Problem("What is 2+2?"), backend=FakeBackend(writer), n=1, k=1,
                       rounds=2, m=1, settings=settings)
    await fansi.asolve(Problem("What is 3+3?", "6"), backend=FakeBackend(
        verifier(solutions=["GARBLE \\boxed{7}"])), n=1, k=1, rounds=1, settings=settings)
    with Store.open(settings.store_path) as store:
        labels = await label_targets(stored_targets(store), settings, LabelRule(n=2, k=2),
                                     backend=FakeBackend(verifier()), store=store)
    write_labels(labels_path(settings), labels)
    return labels



@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2-135M's GGUF file, joined once for the session."""
    from fansi.models import TINY, ensure_packaged

    return ensure_packaged(TINY, tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def converter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """llama.cpp's GGUF converter, from the llama-cpp-python sdist that setup
    keeps in the wheel cache (no network)."""
    from fansi.learn.convert import install_converter

    cache = Path(os.environ.get("FANSI_WHEEL_CACHE")
                 or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                 / "fansi" / "wheels")
    found = sorted(cache.glob("llama_cpp_python-*.tar.gz"))
    if not found:
        pytest.fail(f"no llama-cpp-python sdist in {cache}: scripts/setup.sh keeps one there "
                    "for the GGUF converter (pip download --no-deps --no-binary :all: "
                    "llama-cpp-python==VERSION -d THERE)")
    return install_converter(tmp_path_factory.mktemp("converter") / "llama.cpp", found[-1])
