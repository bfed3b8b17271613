from __future__ import annotations

import pytest

from fansi.backends import Wrapper, create_backend
from fansi.backends.fake import FakeBackend
from fansi.config import Settings
from fansi.errors import BackendServerError
from fansi.records import Completion, GenerateParams, Message, TokenLogprob, Usage

MSG = [Message("user", "two plus two")]


async def test_list_script_in_order_then_repeats_last() -> None:
    backend = FakeBackend(["first", "second"])
    texts = [(await backend.generate(MSG, GenerateParams())).text for _ in range(3)]
    assert texts == ["first", "second", "second"]
    assert len(backend.calls) == 3
    assert backend.calls[0].messages == tuple(MSG)


async def test_callable_script_sees_messages_and_params() -> None:
    backend = FakeBackend(lambda messages, params: f"{messages[-1].content}/{params.seed}")
    out = await backend.generate(MSG, GenerateParams(seed=7))
    assert out.text == "two plus two/7"
    assert out.usage == Usage(3, 3)


async def test_truncation_is_data_and_tokens_stream() -> None:
    backend = FakeBackend(["a b c d e"])
    pieces: list[str] = []
    out = await backend.generate(MSG, GenerateParams(max_tokens=2), on_token=pieces.append)
    assert out.stop_reason == "length"
    assert out.text == "a b"
    assert "".join(pieces).strip() == "a b"


async def test_scripted_errors_and_completions() -> None:
    done = Completion("x", "stop", Usage(1, 1), 0.0, "fake", cached=True)
    backend = FakeBackend([BackendServerError("boom"), done])
    with pytest.raises(BackendServerError, match="boom"):
        await backend.generate(MSG, GenerateParams())
    assert await backend.generate(MSG, GenerateParams()) is done


async def test_registry_builds_fake(settings: Settings) -> None:
    backend = create_backend("fake", settings)
    out = await backend.generate(MSG, GenerateParams())
    assert out.text == "echo: two plus two"
    await backend.aclose()


async def test_a_scripted_completion_carries_its_logprobs() -> None:
    logprobs = (TokenLogprob('{"score":', -0.1, ()),
                TokenLogprob(" 1", -0.3, ((" 1", -0.3), (" 0", -1.5))),
                TokenLogprob("}", 0.0, (("}", 0.0),)))
    scripted = Completion('{"score": 1}', "stop", Usage(4, 3), 0.0, "fake", logprobs=logprobs)
    backend = FakeBackend([scripted, "plain text"], supports_logprobs=True)
    out = await backend.generate(MSG, GenerateParams(logprobs=2))
    assert out.logprobs == logprobs
    # A text reply has none to give.
    assert (await backend.generate(MSG, GenerateParams(logprobs=2))).logprobs is None
    assert backend.calls[0].params.logprobs == 2


def test_logprob_support_is_claimed_only_when_asked_and_wrappers_copy_it() -> None:
    assert FakeBackend(["x"]).supports_logprobs is False
    claiming = FakeBackend(["x"], supports_logprobs=True)
    assert Wrapper(claiming).supports_logprobs is True
    assert Wrapper(FakeBackend(["x"])).supports_logprobs is False
