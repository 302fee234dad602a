"""P(post) from token log-probabilities: the reader, the request, the cache and the fallback."""

from __future__ import annotations

import asyncio
import math

import pytest

from spreadlab.llm.base import ChatRequest, LogprobsRejected
from spreadlab.llm.cache import request_key
from spreadlab.llm.logprobs import post_probability
from spreadlab.llm.negotiate import FormatMemory, NegotiatedFormat
from spreadlab.llm.scripted import NO_POST, ScriptedChat
from spreadlab.store.runs import RunStore


def entry(token: str, logprob: float = 0.0, alternatives: dict | None = None) -> dict:
    alts = alternatives if alternatives is not None else {token: logprob}
    return {
        "token": token,
        "logprob": logprob,
        "bytes": list(token.encode()),
        "top_logprobs": [{"token": t, "logprob": lp} for t, lp in alts.items()],
    }


def reply(value_token: str, alternatives: dict, before: str = '{"post":') -> dict:
    """A tokenised decision whose boolean is ``value_token`` with ``alternatives`` there."""
    head = [entry(t) for t in (before[:2], before[2:6], before[6:])]
    tail = [entry(","), entry(' "text'), entry('":'), entry(' ""'), entry("}")]
    return {"content": [*head, entry(value_token, alternatives[value_token], alternatives), *tail]}


def test_the_true_and_false_alternatives_are_normalised_at_temperature_one():
    alts = {" true": math.log(0.6), " false": math.log(0.3), ' "': math.log(0.1)}
    assert post_probability(reply(" true", alts), 1.0) == pytest.approx(2 / 3)
    assert post_probability(reply(" false", alts), 1.0) == pytest.approx(2 / 3)


def test_the_temperature_rescales_the_log_odds():
    alts = {"true": math.log(0.8), "false": math.log(0.2)}
    expected = 1 / (1 + math.exp(-math.log(4) / 0.5))
    assert post_probability(reply("true", alts), 0.5) == pytest.approx(expected)
    assert post_probability(reply("true", alts), 0.0) == 1.0  # greedy: the likelier side


def test_variants_of_one_side_add_up_and_a_merged_prefix_is_read():
    alts = {'":true': math.log(0.3), '":tr': math.log(0.1), '": false': math.log(0.4)}
    found = post_probability(reply('":true', alts, before='{"post'), 1.0)
    assert found == pytest.approx(0.4 / 0.8)


def test_a_thinking_block_is_skipped():
    alts = {" true": math.log(0.25), " false": math.log(0.75)}
    thought = [entry("<think>"), entry('"post": true?'), entry("</think>")]
    content = reply(" true", alts)["content"]
    assert post_probability({"content": thought + content}, 1.0) == pytest.approx(0.25)


@pytest.mark.parametrize(
    "logprobs",
    [
        None,
        "garbage",
        {"content": None},
        {"content": [{"logprob": -0.1}]},  # a token without its text
        {"content": [entry('{"text": "no decision"}')]},
        reply(" maybe", {" maybe": -0.1, " perhaps": -2.0}),  # neither side present
        reply(" true", {" true": -0.1, " yes": -2.5}),  # false missing: unknown, not 0
    ],
)
def test_unusable_log_probabilities_give_no_probability(logprobs):
    assert post_probability(logprobs, 0.7) is None


@pytest.mark.parametrize("bad", [math.nan, math.inf, 0.5, "x", None, True])
def test_invalid_numbers_are_ignored_never_trusted(bad):
    alts = {" true": bad, " false": math.log(0.5)}
    assert post_probability(reply(" true", alts), 1.0) is None  # one side left: no crash
    none_valid = {" true": bad, " false": bad}
    assert post_probability(reply(" true", none_valid), 1.0) is None


def request(top_logprobs: int | None = 5) -> ChatRequest:
    return ChatRequest((("user", "hi"),), "m", 0.7, 50, top_logprobs=top_logprobs)


def test_only_a_request_for_log_probabilities_changes_the_cache_key():
    plain = request(None)
    assert request_key("e", plain) != request_key("e", request(5))
    assert request_key("e", plain) == request_key("e", ChatRequest(plain.messages, "m", 0.7, 50))


def test_a_refusal_falls_back_once_and_is_remembered(tmp_path):
    def script(r: ChatRequest) -> str | BaseException:
        return (
            LogprobsRejected("HTTP 400: logprobs is not supported") if r.top_logprobs else NO_POST
        )

    core = ScriptedChat(script)
    with RunStore(tmp_path / "db.duckdb") as store:
        memory = FormatMemory(store.con)
        top = NegotiatedFormat(core, memory)

        async def ask_three() -> None:
            for _ in range(3):
                assert (await top.complete(request())).p_post is None

        asyncio.run(ask_three())
        assert [c.top_logprobs for c in core.calls] == [5, None, None, None]
        assert len(top.fallbacks) == 1 and "logprobs" in top.fallbacks[0]
        memory.close()
        again = NegotiatedFormat(core, FormatMemory(store.con))  # a later session: never asks
        asyncio.run(again.complete(request()))
        assert core.calls[-1].top_logprobs is None and again.fallbacks == []
        again.memory.close()
