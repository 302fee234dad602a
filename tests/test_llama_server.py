"""The quirks of llama.cpp's OpenAI-compatible server, pinned down with the real ``openai`` client.

What the LLM policy's response-format negotiation and parsing must cope with on this server:

- ``response_format={"type": "json_schema", ...}`` (the OpenAI standard) is refused with HTTP 500
  and a pydantic validation message ("Input should be 'text' or 'json_object'"), not a 400;
  the ``openai`` client retries 500s by default, so one refusal costs three requests unless
  retries are off.
- ``{"type": "json_object", "schema": {...}}`` is accepted and decoding is constrained to the
  schema by a grammar; the reply may still be cut at ``max_tokens`` (finish reason ``length``).
- The random model's JSON strings carry raw control characters (even under the schema grammar),
  which strict ``json.loads`` rejects and ``json.loads(..., strict=False)`` accepts.
- ``usage.completion_tokens`` can exceed ``max_tokens`` by a few: llama-cpp-python does not stop
  inside a multi-byte UTF-8 character, so a token budget must not assume the limit holds.
- ``max_completion_tokens`` (OpenAI's newer name) is ignored: only ``max_tokens`` limits a reply.
- Any model name is answered by the one loaded model (and echoed back); only ``/v1/models``
  tells the served name.
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
# A request seed whose schema-constrained reply ends by itself well within 256 tokens.
STOPPING_SEED = 0
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


def test_json_schema_response_format_is_refused_with_500(
    client: openai.OpenAI, llama_server: LlamaServer
) -> None:
    before = llama_server.requests()
    with pytest.raises(openai.InternalServerError) as refused:
        client.chat.completions.create(
            model=llama_server.model,
            messages=MESSAGES,
            max_tokens=32,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "decision", "schema": SCHEMA, "strict": True},
            },
        )
    assert refused.value.status_code == 500
    assert "Input should be 'text' or 'json_object'" in str(refused.value)
    assert llama_server.requests() == before + 1


def test_default_client_retries_the_refusal(llama_server: LlamaServer) -> None:
    """With the ``openai`` defaults (2 retries) one refused request is three HTTP requests."""
    before = llama_server.requests()
    with (
        openai.OpenAI(base_url=llama_server.base_url, api_key="unused", timeout=30) as client,
        pytest.raises(openai.InternalServerError),
    ):
        client.chat.completions.create(
            model=llama_server.model,
            messages=MESSAGES,
            max_tokens=8,
            response_format={"type": "json_schema", "json_schema": {"name": "d", "schema": SCHEMA}},
        )
    assert llama_server.requests() == before + 3


def test_json_object_with_schema_constrains_decoding(
    client: openai.OpenAI, llama_server: LlamaServer
) -> None:
    replies = [
        client.chat.completions.create(
            model=llama_server.model,
            messages=MESSAGES,
            max_tokens=256,
            temperature=0.7,
            seed=seed,
            response_format={"type": "json_object", "schema": SCHEMA},
        ).choices[0]
        for seed in range(8)
    ]
    complete = [r for r in replies if r.finish_reason == "stop"]
    assert complete, "every reply was cut at max_tokens"
    for reply in complete:
        decision = json.loads(reply.message.content, strict=False)
        assert set(decision) == {"post", "text"}
        assert isinstance(decision["post"], bool)
        assert isinstance(decision["text"], str)


def test_strings_carry_raw_control_characters(
    client: openai.OpenAI, llama_server: LlamaServer
) -> None:
    """Schema-constrained replies that strict JSON rejects and lenient JSON reads."""
    lenient_only = 0
    for seed in range(8):
        reply = client.chat.completions.create(
            model=llama_server.model,
            messages=MESSAGES,
            max_tokens=256,
            temperature=0.7,
            seed=seed,
            response_format={"type": "json_object", "schema": SCHEMA},
        ).choices[0]
        if reply.finish_reason != "stop":
            continue
        try:
            json.loads(reply.message.content)
        except json.JSONDecodeError as exc:
            assert "Invalid control character" in str(exc)
            json.loads(reply.message.content, strict=False)
            lenient_only += 1
    assert lenient_only > 0


def test_completion_tokens_can_exceed_max_tokens(
    client: openai.OpenAI, llama_server: LlamaServer
) -> None:
    overshoot = [
        client.chat.completions.create(
            model=llama_server.model, messages=MESSAGES, max_tokens=8, temperature=1.0, seed=seed
        ).usage.completion_tokens
        - 8
        for seed in range(40)
    ]
    assert max(overshoot) > 0


def test_max_completion_tokens_is_ignored(client: openai.OpenAI, llama_server: LlamaServer) -> None:
    """A reply under ``max_completion_tokens=4`` is the same as one under ``max_tokens=256``."""
    request = {
        "model": llama_server.model,
        "messages": MESSAGES,
        "temperature": 0.7,
        "seed": STOPPING_SEED,
        "response_format": {"type": "json_object", "schema": SCHEMA},
    }
    free = client.chat.completions.create(max_tokens=256, **request)
    assert free.choices[0].finish_reason == "stop"
    limited = client.chat.completions.create(max_completion_tokens=4, **request)
    assert limited.choices[0].message.content == free.choices[0].message.content
    assert limited.usage.completion_tokens == free.usage.completion_tokens > 4


def test_any_model_name_is_answered(client: openai.OpenAI, llama_server: LlamaServer) -> None:
    reply = client.chat.completions.create(
        model="no-such-model", messages=MESSAGES, max_tokens=4, seed=1
    )
    assert reply.model == "no-such-model"
    assert reply.choices[0].message.content
