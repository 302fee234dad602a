"""The quirks of llama.cpp's own OpenAI-compatible server (``xllamacpp``), pinned down with the
real ``openai`` client and the tiny random model.

What the LLM policy's response-format negotiation and parsing must cope with on this server:

- ``response_format={"type": "json_schema", ...}`` (the OpenAI standard) is accepted, and decoding
  is constrained to the schema by a grammar; so is ``{"type": "json_object", "schema": ...}``.
- A reply cut at ``max_tokens`` (finish reason ``length``) is truncated JSON, unparseable.
- For some requests the server answers HTTP 500 "The model produced output that does not match
  the expected ... format": the same request (same seed) fails the same way every time, so it is a
  failure of that request, not of the server. The ``openai`` client retries 500s by default, so
  one such answer costs three requests unless retries are off.
- ``usage.completion_tokens`` never exceeds ``max_tokens``, and ``max_completion_tokens`` (OpenAI's
  newer name) limits a reply too.
- Any model name is answered by the one loaded model, and the reply names the served model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import openai
import pytest
from llama_server import LlamaServer

SCHEMA = {
    "type": "object",
    "properties": {"post": {"type": "boolean"}, "text": {"type": "string"}},
    "required": ["post", "text"],
    "additionalProperties": False,
}
# Request seeds (temperature 0.7, 256 tokens) whose schema-constrained reply ends by itself, and
# one for which the server answers HTTP 500 instead.
STOPPING_SEED = 0
FORMAT_ERROR_SEED = 3
JSON_SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "d", "schema": SCHEMA, "strict": True},
}
MESSAGES = [
    {"role": "system", "content": "You are a person on a social network."},
    {"role": "user", "content": 'Do you post about the news? Answer {"post": ..., "text": ...}.'},
]


@pytest.fixture
def client(llama_server: LlamaServer) -> Iterator[openai.OpenAI]:
    """An ``openai`` client for the server, without retries so every request is visible."""
    with openai.OpenAI(
        base_url=llama_server.base_url, api_key="unused", max_retries=0, timeout=30
    ) as c:
        yield c


def test_models_lists_the_tiny_model(client: openai.OpenAI, llama_server: LlamaServer) -> None:
    assert [m.id for m in client.models.list()] == [llama_server.model]


def test_chat_completion_reports_usage(client: openai.OpenAI, llama_server: LlamaServer) -> None:
    before = llama_server.requests()
    t0 = time.perf_counter()
    reply = client.chat.completions.create(
        model=llama_server.model, messages=MESSAGES, max_tokens=16, temperature=0.7, seed=1
    )
    assert time.perf_counter() - t0 < 5
    assert isinstance(reply.choices[0].message.content, str)
    assert reply.choices[0].finish_reason in ("stop", "length")
    usage = reply.usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert 1 <= usage.completion_tokens <= 16
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert llama_server.requests() == before + 1


def test_same_seed_same_answer(client: openai.OpenAI, llama_server: LlamaServer) -> None:
    """A request's ``seed`` fixes the sample: what the replay cache's keys rely on."""
    texts = {
        client.chat.completions.create(
            model=llama_server.model, messages=MESSAGES, max_tokens=16, temperature=0.7, seed=7
        )
        .choices[0]
        .message.content
        for _ in range(2)
    }
    assert len(texts) == 1


def ask(client: openai.OpenAI, server: LlamaServer, **request):
    """One chat completion of the test prompt (temperature 0.7 unless given)."""
    return client.chat.completions.create(
        model=server.model, messages=MESSAGES, **{"temperature": 0.7, **request}
    )


@pytest.mark.parametrize(
    "response_format", [JSON_SCHEMA, {"type": "json_object", "schema": SCHEMA}]
)
def test_both_schema_formats_constrain_decoding(
    client: openai.OpenAI, llama_server: LlamaServer, response_format: dict
) -> None:
    finished = []
    for seed in range(8):
        try:
            reply = ask(
                client, llama_server, max_tokens=256, seed=seed, response_format=response_format
            )
        except openai.InternalServerError:
            continue  # the format error, pinned below
        if reply.choices[0].finish_reason == "stop":
            finished.append(json.loads(reply.choices[0].message.content))
    assert len(finished) >= 3
    for decision in finished:
        assert set(decision) == {"post", "text"}
        assert isinstance(decision["post"], bool) and isinstance(decision["text"], str)


def test_a_reply_cut_at_max_tokens_is_truncated_json(
    client: openai.OpenAI, llama_server: LlamaServer
) -> None:
    replies = [
        ask(client, llama_server, max_tokens=12, seed=seed, response_format=JSON_SCHEMA).choices[0]
        for seed in range(8)
    ]
    cut = [r.message.content for r in replies if r.finish_reason == "length"]
    assert cut
    for text in cut:
        with pytest.raises(json.JSONDecodeError):
            json.loads(text, strict=False)


def ask_format_error(client: openai.OpenAI, server: LlamaServer):
    """The request the server answers with its HTTP 500 format error."""
    return ask(client, server, max_tokens=256, seed=FORMAT_ERROR_SEED, response_format=JSON_SCHEMA)


def test_some_requests_get_a_reproducible_http_500_format_error(
    client: openai.OpenAI, llama_server: LlamaServer
) -> None:
    before = llama_server.requests()
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as failed:
            ask_format_error(client, llama_server)
        assert failed.value.status_code == 500
        assert "does not match the expected" in str(failed.value)
        assert "format" in str(failed.value)
    assert llama_server.requests() == before + 2
    reply = ask(
        client, llama_server, max_tokens=256, seed=STOPPING_SEED, response_format=JSON_SCHEMA
    )
    assert reply.choices[0].finish_reason == "stop", "the server itself is fine"


def test_default_client_retries_the_format_error(llama_server: LlamaServer) -> None:
    """With the ``openai`` defaults (2 retries) one such answer costs three HTTP requests."""
    before = llama_server.requests()
    with (
        openai.OpenAI(base_url=llama_server.base_url, api_key="unused", timeout=30) as client,
        pytest.raises(openai.InternalServerError),
    ):
        ask_format_error(client, llama_server)
    assert llama_server.requests() == before + 3


def test_completion_tokens_stay_within_max_tokens(
    client: openai.OpenAI, llama_server: LlamaServer
) -> None:
    used = [
        ask(client, llama_server, max_tokens=8, temperature=1.0, seed=seed).usage.completion_tokens
        for seed in range(20)
    ]
    assert max(used) == 8


def test_max_completion_tokens_limits_a_reply(
    client: openai.OpenAI, llama_server: LlamaServer
) -> None:
    request = {"seed": STOPPING_SEED, "response_format": JSON_SCHEMA}
    free = ask(client, llama_server, max_tokens=256, **request)
    assert free.choices[0].finish_reason == "stop" and free.usage.completion_tokens > 4
    limited = ask(client, llama_server, max_completion_tokens=4, **request)
    assert limited.choices[0].finish_reason == "length"
    assert limited.usage.completion_tokens == 4


def test_any_model_name_is_answered_by_the_served_model(
    client: openai.OpenAI, llama_server: LlamaServer
) -> None:
    reply = client.chat.completions.create(
        model="no-such-model", messages=MESSAGES, max_tokens=4, seed=1
    )
    assert reply.model == llama_server.model
    assert reply.choices[0].message.content
