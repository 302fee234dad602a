"""The core call through the real ``openai`` client against the local test server: every failure
becomes the right error, and the key never appears in a message."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from llm_server import ServerConfig, llm_server_fixture, running_server  # noqa: F401

from spreadlab.errors import ConfigError
from spreadlab.llm.base import (
    AuthError,
    ChatRequest,
    EndpointError,
    FormatRejected,
    RequestRejected,
    TransientError,
)
from spreadlab.llm.openai_chat import OpenAIChat
from spreadlab.llm.prompt import DECISION_SCHEMA

KEY = "sk-test-core-0123456789abcdef"


def ask(url: str, fmt: str = "json_schema", model: str = "sim-1", key: str = "k", **kw):
    chat = OpenAIChat(base_url=url, api_key=key, **kw)
    request = ChatRequest(
        messages=(
            ("system", "You are high in extraversion."),
            ("user", "News report you read today — x"),
        ),
        model=model,
        temperature=0.5,
        max_tokens=50,
        response_format=fmt,
        schema=DECISION_SCHEMA,
        seed=3,
    )

    async def go():
        try:
            return await chat.complete(request)
        finally:
            await chat.aclose()

    return asyncio.run(go())


def check(url: str, model: str = "sim-1", key: str = "k") -> None:
    chat = OpenAIChat(base_url=url, api_key=key, timeout=2)

    async def go():
        try:
            await chat.check(model)
        finally:
            await chat.aclose()

    asyncio.run(go())


def test_a_call_returns_text_and_usage(llm_server):
    reply = ask(llm_server.base_url)
    assert set(json.loads(reply.text)) == {"post", "text"}
    assert reply.prompt_tokens > 0 and reply.completion_tokens > 0
    assert reply.response_format == "json_schema" and llm_server.counts["chat_ok"] == 1


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("429", "429"),
        ("500", "500"),
        ("malformed", "malformed"),
        ("drop", "connection"),
        ("slow", "timeout"),
    ],
)
def test_faults_become_transient_errors(fault, kind):
    config = ServerConfig(faults={fault: 1.0}, retry_after="0.25", slow_seconds=1.0)
    with running_server(config) as server, pytest.raises(TransientError) as caught:
        ask(server.base_url, timeout=0.3)
    assert caught.value.kind == kind
    if fault == "429":
        assert caught.value.retry_after == pytest.approx(0.25)


def test_a_refused_key_stops_with_the_setting_named_and_the_key_redacted():
    with running_server(ServerConfig(api_key="the-right-key")) as server:
        with pytest.raises(AuthError) as caught:
            ask(server.base_url, key=KEY)
        assert KEY in server.keys_seen, "the server echoes the key it got"
        with pytest.raises(AuthError) as checked:
            check(server.base_url, key=KEY)
    for error in (caught.value, checked.value):
        message = str(error)
        assert "OPENAI_API_KEY" in message and "API key" in message and "401" in message
        assert error.setting == "api_key"
        assert KEY not in message and "***" in message


def test_a_refused_response_format_is_recognised(llm_server):
    llm_server.config.reject_formats = frozenset({"json_schema"})
    with pytest.raises(FormatRejected, match="json_schema"):
        ask(llm_server.base_url)
    assert json.loads(ask(llm_server.base_url, fmt="json_object_schema").text)["post"] in (
        True,
        False,
    )


def test_an_unknown_model_is_named(llm_server):
    with pytest.raises(RequestRejected, match="model 'gpt-nope' and the base URL") as asked:
        ask(llm_server.base_url, model="gpt-nope")
    with pytest.raises(ConfigError, match=r"unknown model 'gpt-nope'.*sim-1") as checked:
        check(llm_server.base_url, model="gpt-nope")
    assert asked.value.setting == checked.value.setting == "model"
    check(llm_server.base_url)


def test_an_endpoint_that_does_not_answer_is_named():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(EndpointError, match="OPENAI_BASE_URL / the base URL") as caught:
        check(f"http://127.0.0.1:{port}/v1")
    assert caught.value.setting == "base_url"


def test_the_newer_token_limit_name_is_adopted_once_and_kept():
    with running_server(ServerConfig(new_token_limit=True, report_usage=False)) as server:
        chat = OpenAIChat(base_url=server.base_url, api_key="k")
        request = ChatRequest(
            messages=(("user", "hi " * 30),), model="sim-1", temperature=1.0, max_tokens=20
        )

        async def twice():
            try:
                return [await chat.complete(request) for _ in range(2)]
            finally:
                await chat.aclose()

        replies = asyncio.run(twice())
        assert server.counts["POST /v1/chat/completions"] == 3, "one refusal, then accepted"
    # no usage reported: a generous estimate is charged instead of nothing
    assert all(r.prompt_tokens >= 90 // 3 and r.completion_tokens > 0 for r in replies)
