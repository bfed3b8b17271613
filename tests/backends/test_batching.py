"""The pure parts of the batching worker: stop strings over streamed pieces,
and prefix lengths. The worker itself is tested on the tiny model in
test_llamacpp.py."""

from __future__ import annotations

import pytest

from fansi.backends.batching import Output, common_prefix


def test_a_stop_string_split_across_tokens_is_cut_and_never_streamed() -> None:
    sent: list[str] = []
    out = Output(("<|im_end|>", "STOP"), sent.append)
    assert not out.push(b"The answer")
    assert not out.push(b" is 4.ST")
    assert "".join(sent) == "The answer is 4."  # "ST" is held back
    assert out.push(b"OP and more")
    assert out.finish() == "The answer is 4."
    assert "".join(sent) == "The answer is 4."


def test_held_back_text_is_sent_when_no_stop_follows() -> None:
    sent: list[str] = []
    out = Output(("STOP",), sent.append)
    out.push(b"go ST")
    out.push(b"ILL")
    assert "".join(sent) == "go STILL"
    out.push(b" ST")
    assert out.finish() == "go STILL ST"
    assert "".join(sent) == "go STILL ST"


def test_a_character_split_across_tokens_is_sent_whole() -> None:
    sent: list[str] = []
    out = Output((), sent.append)
    snowman = "☃".encode()
    out.push(snowman[:1])
    assert sent == []
    out.push(snowman[1:])
    assert out.finish() == "☃"
    assert sent == ["☃"]


@pytest.mark.parametrize(("a", "b", "limit", "expected"), [
    ([1, 2, 3, 4], [1, 2, 3, 4], 10, 4),
    ([1, 2, 3, 4], [1, 2, 3, 4], 3, 3),
    ([1, 2, 3, 4], [1, 2, 9, 4], 10, 2),
    ([1, 2, 3], [], 10, 0),
    ([5], [6], 10, 0),
    (list(range(1000)), [*range(777), -1], 999, 777),
])
def test_common_prefix(a: list[int], b: list[int], limit: int, expected: int) -> None:
    assert common_prefix(a, b, limit) == expected
