"""A check shared by the backends' log-probability tests."""

from __future__ import annotations

from fansi.records import Completion


def assert_logprobs(completion: Completion, *, top: int, greedy: bool) -> None:
    """One entry per token, joining to the text (or past it, at a stop), with
    alternatives sorted, probabilities <= 1, and for a greedy completion each
    token the most likely alternative."""
    logprobs = completion.logprobs
    assert logprobs is not None
    assert len(logprobs) == completion.usage.completion_tokens
    assert "".join(t.token for t in logprobs).startswith(completion.text)
    for entry in logprobs:
        assert 0 < len(entry.top) <= top
        values = [lp for _, lp in entry.top]
        assert values == sorted(values, reverse=True)
        assert all(lp <= 0 for lp in values)
        assert entry.logprob <= values[0]
        if greedy:
            assert entry.top[0] == (entry.token, entry.logprob)
        elif entry.logprob >= values[-1]:
            assert (entry.token, entry.logprob) in entry.top
