"""Reading P(score = 0), P(0.5), P(1) from a verifier reply's token log-probabilities."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fansi.parse import VERDICT_SCHEMA, last_json_object, parse_verdict, score_distribution
from fansi.records import GenerateParams, Message, TokenLogprob

Piece = str | tuple[str, dict[str, float]]


def tokens(*pieces: Piece) -> list[TokenLogprob]:
    """Tokens from pieces; ``(piece, {alternative: probability})`` gives a
    position its alternatives (the piece's own probability among them), a
    bare piece has probability 1 and lists itself."""
    out = []
    for item in pieces:
        piece, alts = (item, {item: 1.0}) if isinstance(item, str) else item
        top = tuple(sorted(((a, math.log(p)) for a, p in alts.items()),
                           key=lambda pair: -pair[1]))
        logprob = math.log(alts[piece]) if piece in alts else math.log(1e-6)
        out.append(TokenLogprob(piece, logprob, top))
    return out


def text_of(logprobs: list[TokenLogprob]) -> str:
    return "".join(t.token for t in logprobs)


HEAD = ('{"', "check", '":', ' "', "fine", '",', ' "', "issues", '":', " [],", ' "', "score", '":')


def approx(*values: float) -> object:
    return pytest.approx(values, abs=1e-9)


def test_a_sampled_one_with_its_space_in_the_piece() -> None:
    # " 2" and ' "' are not valid scores: their mass is ignored. The split of
    # " 0" between 0 and 0.5 is not observed: halves.
    reply = tokens(*HEAD, (" 1", {" 1": 0.6, " 0": 0.3, " 2": 0.05, ' "': 0.05}), "}")
    assert text_of(reply).endswith('"score": 1}')
    assert score_distribution(reply, text_of(reply)) == approx(0.15 / 0.9, 0.15 / 0.9, 0.6 / 0.9)


def test_a_sampled_zero_point_five_splits_the_zero_by_the_next_position() -> None:
    reply = tokens(*HEAD, " ",
                   ("0", {"0": 0.5, "1": 0.25, "3": 0.2}),
                   (".", {".": 0.6, "}": 0.3, "0": 0.1}),
                   "5", "}")
    assert text_of(reply).endswith('"score": 0.5}')
    # P(0) + P(0.5) = 0.5, split 0.3 : 0.6 by what follows the "0".
    assert score_distribution(reply, text_of(reply)) == approx(
        0.5 / 3 / 0.75, 1 / 3 / 0.75, 0.25 / 0.75)


def test_a_sampled_zero_that_ends_is_split_the_same_way() -> None:
    reply = tokens(*HEAD, " ",
                   ("0", {"0": 0.8, "1": 0.2}),
                   ("}", {"}": 0.7, " ": 0.1, ".": 0.2}),
                   "\n")
    # Whitespace ends the number as "}" does: 0.8 of the "0" stays at 0.
    assert score_distribution(reply, text_of(reply)) == approx(0.64, 0.16, 0.2)


def test_merged_pieces_are_read_whole() -> None:
    # "0}" is a whole 0, "0." and "0.5" can only be 0.5, "1}" a whole 1,
    # "10" is no score.
    reply = tokens(*HEAD, (" 0}", {" 0}": 0.4, " 0.": 0.2, "0.5": 0.1, " 1}": 0.2, " 10": 0.1}))
    assert score_distribution(reply, text_of(reply)) == approx(0.4 / 0.9, 0.3 / 0.9, 0.2 / 0.9)


def test_punctuation_before_the_value_in_one_piece() -> None:
    # The colon shares the value's piece; an alternative that ends at the
    # colon shows no value and is left out.
    reply = tokens(*HEAD[:-1], ('": 1', {'": 1': 0.5, '": 0': 0.25, '":': 0.25}), "}")
    assert text_of(reply).endswith('"score": 1}')
    assert score_distribution(reply, text_of(reply)) == approx(1 / 6, 1 / 6, 2 / 3)


def test_the_sampled_token_counts_when_the_alternatives_miss_it() -> None:
    reply = tokens(*HEAD, (" 0", {" 1": 0.5, " 2": 0.3}), ("}", {"}": 1.0}))
    [entry] = [t for t in reply if t.token == " 0"]
    assert entry.logprob == pytest.approx(math.log(1e-6))
    p0, p_half, p1 = score_distribution(reply, text_of(reply)) or (0, 0, 0)
    assert p1 == pytest.approx(0.5 / (0.5 + 1e-6))
    assert (p0, p_half) == approx(1e-6 / (0.5 + 1e-6), 0.0)


def test_only_the_last_top_level_object_and_its_own_score_count() -> None:
    reply = tokens(
        '{"', "score", '":', (" 0", {" 0": 0.9, " 1": 0.1}), "}", " then\n",
        '{"', "check", '":', ' "', "x", '",', ' "', "issues", '":', " [{",
        '"', "score", '":', (" 0", {" 0": 0.9, " 1": 0.1}), ',"', "description", '":"', "d",
        '","', "severity", '":"', "minor", '","', "location", '":"', '"}],',
        ' "', "score", '":', (" 1", {" 1": 0.75, " 0": 0.25}), "}")
    text = text_of(reply)
    assert parse_verdict(text).score == 1.0
    assert score_distribution(reply, text) == approx(0.125, 0.125, 0.75)


def test_a_repeated_score_key_counts_its_last_value() -> None:
    reply = tokens('{"', "score", '":', (" 0", {" 0": 1.0}), ",", ' "', "check", '":', ' ""',
                   ",", ' "', "issues", '":', " [],", ' "', "score", '":',
                   (" 1", {" 1": 0.5, " 0": 0.5}), "}")
    assert score_distribution(reply, text_of(reply)) == approx(0.25, 0.25, 0.5)


def test_tokens_may_run_past_the_text() -> None:
    # A stop string cut the text; the tokens hold it.
    reply = tokens(*HEAD, (" 1", {" 1": 0.5, " 0": 0.5}), "}", "STOP")
    text = text_of(reply).removesuffix("STOP")
    assert score_distribution(reply, text) == approx(0.25, 0.25, 0.5)


@pytest.mark.parametrize("case", [
    "no logprobs", "no alternatives", "no object", "invalid score", "other text",
    "no 0 or 1", "inside think",
])
def test_none_when_the_distribution_cannot_be_read(case: str) -> None:
    reply = tokens(*HEAD, (" 1", {" 1": 0.6, " 0": 0.4}), "}")
    text = text_of(reply)
    if case == "no logprobs":
        reply = []
    elif case == "no alternatives":
        reply = [TokenLogprob(t.token, t.logprob, ()) for t in reply]
    elif case == "no object":
        reply = tokens('{"', "score", '":', " 1")
        text = text_of(reply)
    elif case == "invalid score":
        reply = tokens(*HEAD, (" 2", {" 1": 0.6, " 2": 0.4}), "}")
        text = text_of(reply)
    elif case == "other text":
        text = text.replace("fine", "good")
    elif case == "no 0 or 1":
        reply[-2] = TokenLogprob(" 1", -math.inf, ((" 2", math.log(0.5)), (' "', math.log(0.5))))
    elif case == "inside think":
        # The last object in the text is not the verdict parse_verdict reads.
        reply = [*reply, *tokens("<think>", '{"', "score", '":', " 0", "}", "</think>")]
        text = text_of(reply)
    assert score_distribution(reply, text) is None


@pytest.mark.tiny
async def test_a_real_verdict_from_the_tiny_model(shared_models: Path) -> None:
    from fansi.backends.llamacpp import LlamaCppBackend
    from fansi.models import TINY, ensure_packaged

    backend = LlamaCppBackend(ensure_packaged(TINY, shared_models), name="tiny",
                              family="smollm2", n_ctx=1024, n_threads=2)
    messages = [
        Message("system", "You grade solutions. Reply with a JSON verdict: a one-sentence "
                          "check, the issues, and a score of 0, 0.5 or 1."),
        Message("user", "Problem: What is 2 + 3?\nSolution: 2 + 3 = 6, so the answer is 6.\n"
                        "Grade it."),
    ]
    read = []
    try:
        # A tiny model's check may ramble past the budget; some seed finishes.
        for seed in range(1, 6):
            out = await backend.generate(messages, GenerateParams(
                max_tokens=120, temperature=0.8, seed=seed, json_schema=VERDICT_SCHEMA,
                logprobs=5))
            if parse_verdict(out.text).score is None:
                continue
            sampled = (last_json_object(out.text) or {})["score"]
            assert out.logprobs is not None
            distribution = score_distribution(out.logprobs, out.text)
            assert distribution is not None, out.text
            read.append(distribution)
            assert sum(distribution) == pytest.approx(1.0)
            assert all(0 <= p <= 1 for p in distribution)
            assert distribution[(0.0, 0.5, 1.0).index(sampled)] > 0
            if len(read) == 2:
                break
    finally:
        await backend.aclose()
    assert read, "no seed gave a complete verdict"
