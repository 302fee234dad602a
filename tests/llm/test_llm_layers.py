"""Each LLM layer alone, around a scripted model (no HTTP), plus parsing, prompts and config."""

from __future__ import annotations

import asyncio
import json
import random

import duckdb
import pytest

from spreadlab.engine.policy import FeedPost
from spreadlab.errors import ConfigError
from spreadlab.llm.accounting import Accounting, Budget
from spreadlab.llm.base import (
    AuthError,
    BudgetExhausted,
    CallTag,
    ChatRequest,
    EndpointError,
    FormatRejected,
    RequestRejected,
    TransientError,
)
from spreadlab.llm.cache import CachedChat, ReplayCache, request_key
from spreadlab.llm.config import LLMConfig, Secret
from spreadlab.llm.estimate import estimate_run, load_prices, price_for
from spreadlab.llm.limit import ConcurrencyLimit
from spreadlab.llm.negotiate import FormatMemory, NegotiatedFormat
from spreadlab.llm.openai_chat import endpoint_host, endpoint_url, redact
from spreadlab.llm.parse import parse_reply
from spreadlab.llm.preflight import Preflight
from spreadlab.llm.prompt import PromptSettings, build_messages, truncate
from spreadlab.llm.retry import Retry
from spreadlab.llm.scripted import NO_POST, NullChat, ScriptedChat

OK = json.dumps({"post": True, "text": "hi"})


def request(agent: int = 0, round_: int = 0, attempt: int = 0, stream: int = 7) -> ChatRequest:
    return ChatRequest(
        messages=(("system", "persona"), ("user", "news")),
        model="m",
        temperature=0.5,
        max_tokens=50,
        tag=CallTag(run_seed=1, stream=stream, round=round_, agent=agent, attempt=attempt),
    )


def run(coro):
    return asyncio.run(coro)


class Sleeps:
    """A fake ``asyncio.sleep`` that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


# --- retry -------------------------------------------------------------------------------------


def failing(errors: list[BaseException], then: str = OK) -> ScriptedChat:
    queue = list(errors)
    return ScriptedChat(lambda _: queue.pop(0) if queue else then)


def test_retry_recovers_from_transient_errors_and_honours_retry_after():
    inner = failing(
        [
            TransientError("429", kind="429", retry_after=2.5),
            TransientError("500", kind="500"),
            TransientError("t", kind="timeout"),
            TransientError("c", kind="connection"),
        ]
    )
    sleeps = Sleeps()
    layer = Retry(inner, max_attempts=5, base_delay=1.0, rng=random.Random(0), sleep=sleeps)
    reply = run(layer.complete(request()))
    assert reply.text == OK and reply.http_attempts == 5 and len(inner.calls) == 5
    assert 2.5 <= sleeps.delays[0] <= 2.75  # Retry-After, plus at most 10% jitter
    # exponential backoff with equal jitter: attempt n waits in [0.5, 1] x base x 2^(n-1)
    for n, delay in enumerate(sleeps.delays[1:], start=2):
        assert 0.5 * 2 ** (n - 1) <= delay <= 2 ** (n - 1)
    assert layer.retries == {"429": 1, "500": 1, "timeout": 1, "connection": 1}


def test_retry_is_bounded_and_then_reports_the_endpoint_down():
    inner = ScriptedChat(lambda _: TransientError("HTTP 500", kind="500"))
    sleeps = Sleeps()
    layer = Retry(inner, max_attempts=3, base_delay=0.1, max_delay=0.15, sleep=sleeps)
    with pytest.raises(EndpointError, match="after 3 attempts"):
        run(layer.complete(request()))
    assert len(inner.calls) == 3 and len(sleeps.delays) == 2
    assert max(sleeps.delays) <= 0.15


def test_retry_gives_up_on_a_very_long_retry_after():
    inner = failing([TransientError("429", kind="429", retry_after=3600)])
    with pytest.raises(EndpointError, match="wait 3600 s"):
        run(Retry(inner, max_retry_after=60, sleep=Sleeps()).complete(request()))


@pytest.mark.parametrize("error", [AuthError("401"), RequestRejected("400"), FormatRejected("f")])
def test_retry_does_not_retry_what_retrying_cannot_fix(error):
    inner = failing([error])
    sleeps = Sleeps()
    with pytest.raises(type(error)):
        run(Retry(inner, sleep=sleeps).complete(request()))
    assert len(inner.calls) == 1 and not sleeps.delays


# --- concurrency -------------------------------------------------------------------------------


class SlowChat(ScriptedChat):
    """Never posts, after a short wait; records the most calls seen in flight."""

    def __init__(self) -> None:
        super().__init__(lambda _: NO_POST)
        self.in_flight = self.peak = 0

    async def complete(self, req):
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        return await super().complete(req)


def test_concurrency_limit_bounds_calls_in_flight():
    inner = SlowChat()
    layer = ConcurrencyLimit(inner, 3)

    async def many():
        await asyncio.gather(*(layer.complete(request(agent=i)) for i in range(20)))

    run(many())
    assert inner.peak == 3 and layer.peak == 3 and layer.in_flight == 0
    with pytest.raises(ConfigError, match="max_concurrency = 0"):
        ConcurrencyLimit(NullChat(), 0)


# --- accounting and budget ---------------------------------------------------------------------


def test_accounting_counts_usage_and_stops_at_the_call_budget():
    layer = Accounting(NullChat(), Budget(max_calls=3))
    for i in range(3):
        run(layer.complete(request(agent=i)))
    with pytest.raises(BudgetExhausted, match=r"\(max_calls\)"):
        run(layer.complete(request(agent=3)))
    assert layer.usage.calls == 3 and layer.usage.prompt_tokens == 30
    assert layer.usage.completion_tokens == 3 * (len(NO_POST) // 4 + 1)


def test_token_budget_reserves_the_worst_case_of_calls_in_flight():
    inner = SlowChat()
    # each call reserves its prompt bound (~10 tokens) + max_tokens (50)
    layer = Accounting(inner, Budget(max_tokens=130))

    async def concurrent():
        return await asyncio.gather(
            *(layer.complete(request(agent=i)) for i in range(4)), return_exceptions=True
        )

    results = run(concurrent())
    refused = [r for r in results if isinstance(r, BudgetExhausted)]
    assert len(inner.calls) == 2 and len(refused) == 2, "only two worst cases fit in 130 tokens"
    assert layer.usage.tokens <= 130


def test_cost_budget_prices_the_worst_case_of_each_call_before_it_starts():
    inner = SlowChat()
    # 1,000 per million tokens for prompts and completions alike: each call reserves its prompt
    # bound (~10 tokens) + 50 completion tokens ≈ 0.06, so two fit under 0.13 and a third does not
    layer = Accounting(inner, Budget(max_cost=0.13, price=(1000.0, 1000.0)))

    async def concurrent():
        return await asyncio.gather(
            *(layer.complete(request(agent=i)) for i in range(4)), return_exceptions=True
        )

    results = run(concurrent())
    refused = [r for r in results if isinstance(r, BudgetExhausted)]
    assert len(inner.calls) == 2 and len(refused) == 2
    assert all(r.setting == "max_cost" for r in refused)
    assert layer.budget.cost(layer.usage.prompt_tokens, layer.usage.completion_tokens) <= 0.13


@pytest.mark.parametrize("field", ["max_calls", "max_tokens", "max_cost"])
def test_a_zero_budget_is_refused_with_the_setting_named(field):
    with pytest.raises(ConfigError, match=f"{field} = 0") as caught:
        Budget(**{field: 0}, price=(1.0, 1.0))
    assert caught.value.setting == field


def test_a_cost_budget_without_a_price_is_refused():
    with pytest.raises(ConfigError, match="needs the model's price") as caught:
        Budget(max_cost=1.0)
    assert caught.value.setting == "max_cost"


# --- replay cache ------------------------------------------------------------------------------


def test_cache_replays_identical_requests_and_separates_agents_rounds_attempts():
    con = duckdb.connect(":memory:")
    inner = ScriptedChat(lambda r: json.dumps({"post": True, "text": f"a{r.tag.agent}"}))
    layer = CachedChat(inner, ReplayCache(con))
    first = run(layer.complete(request(agent=1)))
    again = run(layer.complete(request(agent=1)))
    assert again.cached and again.text == first.text and len(inner.calls) == 1
    for other in (request(agent=2), request(round_=1, agent=1), request(agent=1, attempt=1)):
        assert not run(layer.complete(other)).cached
    assert run(layer.complete(request(agent=1, stream=8))).cached is False
    assert len(inner.calls) == 5
    layer.cache.flush()
    # a new cache over the same database (a re-run) replays from the table
    inner2 = ScriptedChat(lambda _: NO_POST)
    replay = CachedChat(inner2, ReplayCache(con))
    assert run(replay.complete(request(agent=1))).text == first.text and not inner2.calls
    rows = con.execute("SELECT count(*), sum(prompt_tokens) FROM llm_calls").fetchone()
    assert rows == (5, 50)


def test_cache_key_covers_endpoint_model_messages_temperature_and_tag():
    base = request()
    keys = {
        request_key("http://a/v1", base),
        request_key("http://b/v1", base),
        request_key("http://a/v1", ChatRequest(**{**base.__dict__, "model": "other"})),
        request_key("http://a/v1", ChatRequest(**{**base.__dict__, "temperature": 0.9})),
        request_key("http://a/v1", ChatRequest(**{**base.__dict__, "messages": (("user", "x"),)})),
        request_key("http://a/v1", ChatRequest(**{**base.__dict__, "tag": CallTag(2, 7, 0, 0)})),
    }
    assert len(keys) == 6


# --- preflight ---------------------------------------------------------------------------------


def test_preflight_checks_once_and_repeats_its_failure():
    checks = []

    async def ok():
        checks.append(1)

    layer = Preflight(NullChat(), ok)
    run(layer.complete(request()))
    run(layer.complete(request(agent=1)))
    assert checks == [1]

    async def bad():
        raise AuthError("refused")

    inner = NullChat()
    layer = Preflight(inner, bad)
    for _ in range(2):
        with pytest.raises(AuthError):
            run(layer.complete(request()))
    assert not inner.calls


# --- response-format negotiation ---------------------------------------------------------------


def refusing(refused: set[str]) -> ScriptedChat:
    return ScriptedChat(
        lambda r: FormatRejected(f"no {r.response_format}") if r.response_format in refused else OK
    )


def test_negotiation_falls_back_and_remembers_per_endpoint_and_model():
    con = duckdb.connect(":memory:")
    inner = refusing({"json_schema"})
    layer = NegotiatedFormat(inner, FormatMemory(con))
    assert run(layer.complete(request())).response_format == "json_object_schema"
    run(layer.complete(request(agent=1)))
    assert [c.response_format for c in inner.calls] == [
        "json_schema",
        "json_object_schema",
        "json_object_schema",
    ]
    assert len(layer.fallbacks) == 1
    # remembered in the database for the next run
    assert NegotiatedFormat(inner, FormatMemory(con)).current("m") == "json_object_schema"
    assert NegotiatedFormat(inner, FormatMemory(con)).current("other-model") == "json_schema"


def test_negotiation_reaches_plain_text_and_respects_a_forced_format():
    inner = refusing({"json_schema", "json_object_schema", "json_object"})
    layer = NegotiatedFormat(inner)
    assert run(layer.complete(request())).response_format == "text"
    forced = NegotiatedFormat(refusing({"json_object"}), forced="json_object")
    with pytest.raises(RequestRejected, match="another response format") as caught:
        run(forced.complete(request()))
    assert caught.value.setting == "response_format"
    with pytest.raises(ConfigError):
        NegotiatedFormat(inner, forced="yaml")


# --- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "post", "text"),
    [
        ('{"post": true, "text": "hello"}', True, "hello"),
        ('{"post": false, "text": ""}', False, ""),
        ('Sure!\n```json\n{"post": true, "text": "fenced"}\n```', True, "fenced"),
        (
            '<think>{"post": false}</think>{"post": true, "text": "after thinking"}',
            True,
            "after thinking",
        ),
        ('{"Post": "yes", "Text": "caps"}', True, "caps"),
        ('{"post": 0, "text": null}', False, ""),
        ('{"post": true, "text": "raw\x01control\ttab\nline"}', True, "raw control\ttab\nline"),
        ('{"note": 1} then {"post": "false", "text": "second object"}', False, "second object"),
    ],
)
def test_tolerant_parsing_accepts(reply, post, text):
    parsed = parse_reply(reply)
    assert parsed.ok and parsed.post is post and parsed.text == text


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("", "empty"),
        ("I would share it.", "no JSON object"),
        ('{"post": tru', "no JSON object"),
        ("{}", "no 'post' field"),
        ('{"post": "maybe", "text": ""}', "not true/false"),
    ],
)
def test_unusable_replies_are_refused_with_a_reason(reply, why):
    parsed = parse_reply(reply)
    assert not parsed.ok and why in parsed.error


def test_reply_text_is_capped():
    assert len(parse_reply(json.dumps({"post": True, "text": "x" * 5000}), 300).text) == 300


# --- prompt ------------------------------------------------------------------------------------


def test_messages_hold_persona_report_and_a_truncated_newest_first_feed(event):
    feed = [FeedPost(author=i, round=9 - i, text=f"post {i} " + "y" * 400) for i in range(12)]
    settings = PromptSettings(feed_size=3, post_chars=50)
    system, user = build_messages(0b10100, event, True, 12, feed, settings)
    assert system[0] == "system" and "high in openness" in system[1]
    assert "high in extraversion" in system[1] and '"post"' in system[1]
    body = user[1]
    assert event.report in body and "12 people you follow have posted" in body
    lines = [line for line in body.splitlines() if line.startswith("- (round")]
    assert len(lines) == 3 and lines[0].startswith("- (round 9) post 0")
    assert all(len(line.split(") ", 1)[1]) <= 50 for line in lines)
    _, user = build_messages(0, event, False, 0, [], settings)
    assert event.report not in user[1] and "follow" not in user[1]


def test_truncate_marks_the_cut():
    assert truncate("a  b", 10) == "a b"
    assert truncate("x" * 30, 10) == "x" * 9 + "…"


# --- configuration -----------------------------------------------------------------------------


def test_config_reads_env_and_flags_override():
    env = {"OPENAI_API_KEY": "sk-env", "OPENAI_BASE_URL": "http://localhost:11434/v1"}
    config = LLMConfig.from_env(env, model="llama3.2", max_calls=10, feed_size=4)
    assert config.api_key == Secret("sk-env") and config.base_url.endswith(":11434/v1")
    assert config.budget.max_calls == 10 and config.prompt.feed_size == 4
    assert "sk-env" not in repr(config) and "sk-env" not in str(config.settings())
    flagged = LLMConfig.from_env(env, api_key="sk-flag", base_url="http://h:1/v1", model="m")
    assert flagged.key_for_client == "sk-flag" and flagged.base_url == "http://h:1/v1"


@pytest.mark.parametrize(
    ("env", "flags", "named"),
    [
        ({}, {"model": "gpt-4o-mini"}, "OPENAI_API_KEY"),
        ({"OPENAI_BASE_URL": "localhost:11434"}, {"model": "m"}, "OPENAI_BASE_URL"),
        ({"OPENAI_API_KEY": "k"}, {"model": "m", "temperature": 3.0}, "temperature = 3"),
        ({"OPENAI_API_KEY": "k"}, {"model": "m", "max_concurrency": 0}, "max_concurrency = 0"),
        ({"OPENAI_API_KEY": "k"}, {"model": "m", "max_tokens": 0}, "max_tokens = 0"),
        ({"OPENAI_API_KEY": "k"}, {"model": " "}, "no model given"),
    ],
)
def test_bad_settings_name_what_to_fix(env, flags, named):
    with pytest.raises(ConfigError, match=named):
        LLMConfig.from_env(env, **flags)


def test_endpoint_strings_never_keep_user_info_or_query():
    url = "https://user:pw@api.example.com:8443/v1/?api-key=SECRET#x"
    assert endpoint_url(url) == "https://api.example.com:8443/v1"
    assert endpoint_host(url) == "api.example.com:8443"
    assert redact("key SECRET here", "SECRET") == "key *** here"


# --- estimates and prices ----------------------------------------------------------------------


def test_estimate_is_an_upper_bound_and_prices_match_by_pattern(event, tmp_path):
    config = LLMConfig.from_env({"OPENAI_API_KEY": "k"}, model="gpt-4o-mini-2024-07-18")
    estimate = estimate_run(config, event, n_agents=100, rounds=5, n0=3, replicates=2)
    assert estimate.consultations == 2 * (3 + 5 * 100)
    assert estimate.calls == estimate.consultations * config.parse_attempts
    assert estimate.completion_tokens == estimate.calls * config.max_reply_tokens
    assert estimate.price.pattern == "gpt-4o-mini*" and estimate.cost > 0
    assert "upper bound" in estimate.summary()
    table = tmp_path / "prices.csv"
    table.write_text("model,input_per_million,output_per_million,currency\nllama*,0,0,EUR\n")
    prices = load_prices(table)
    assert price_for("llama3.2", prices).currency == "EUR"
    assert price_for("mistral", prices) is None
    local = LLMConfig.from_env({}, base_url="http://localhost:11434/v1", model="mistral")
    assert estimate_run(local, event, n_agents=10, rounds=1, n0=1).cost is None
