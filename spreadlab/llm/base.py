"""The chat-model interface every layer implements, and the errors layers raise.

A model is anything with an ``endpoint`` (a URL without secrets) and an async
``complete(request) -> ChatReply``. The core client talks HTTP; the layers (replay cache, budget
accounting, concurrency limit, retry, response-format negotiation) each wrap another model and
add one concern, so each can be tested alone around a scripted model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from spreadlab.errors import ConfigError, SpreadLabError

# Response formats, most structured first: the order negotiation falls back in.
RESPONSE_FORMATS: tuple[str, ...] = ("json_schema", "json_object_schema", "json_object", "text")


@dataclass(frozen=True)
class CallTag:
    """Who a call is for: it keys the replay cache and labels the usage ledger.

    ``stream`` is a number drawn from the run's generator each round, so replicates of one
    scenario (which share ``run_seed``) never share a sampled answer; ``attempt`` counts re-asks
    after an unparseable reply.
    """

    run_seed: int
    stream: int
    round: int
    agent: int
    attempt: int = 0


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to make. ``messages`` are (role, content) pairs; ``top_logprobs``
    (when set) asks for token log-probabilities with that many alternatives per token."""

    messages: tuple[tuple[str, str], ...]
    model: str
    temperature: float
    max_tokens: int
    response_format: str = "text"
    schema: dict[str, Any] | None = field(default=None, compare=False)
    seed: int | None = None
    tag: CallTag | None = None
    top_logprobs: int | None = None

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]


@dataclass(frozen=True)
class ChatReply:
    """A reply's text and token usage; ``cached`` is True when no HTTP request was made.

    ``rejected`` says why the endpoint refused this one request for good (content filter, a 4xx
    for its input, a refusal, no choices): the agent's decision is then recorded invalid.
    ``p_post`` is the probability of posting read from the token log-probabilities of the reply
    (:mod:`spreadlab.llm.logprobs`); None when none were asked for, returned or usable.
    ``answered_at`` (UTC) is when a replayed answer was first obtained, from the ledger.
    """

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    latency_s: float = 0.0
    http_attempts: int = 1
    response_format: str = "text"
    rejected: str | None = None
    p_post: float | None = None
    answered_at: datetime | None = None


class ChatModel(Protocol):
    """The interface of the core client and of every layer."""

    endpoint: str

    async def complete(self, request: ChatRequest) -> ChatReply:
        """Return the model's reply to ``request``."""
        ...


@runtime_checkable
class CheckableModel(Protocol):
    """An optional capability of a core client: one cheap request that says whether the endpoint
    answers, takes the key and serves the model (the preflight layer runs it once)."""

    async def check(self, model: str) -> None:
        """Raise the matching :class:`LLMError` when ``model`` cannot be used at the endpoint."""
        ...


@runtime_checkable
class ClosableModel(Protocol):
    """An optional capability of a core client: resources (an HTTP client) to release."""

    async def aclose(self) -> None:
        """Release the client's resources."""
        ...


class LLMError(SpreadLabError):
    """Base class of the errors of the LLM layers."""


class TransientError(LLMError):
    """Worth retrying: 429, 5xx, timeouts, dropped connections, garbled response bodies."""

    def __init__(self, message: str, *, kind: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


class FatalLLMError(LLMError):
    """Stops the run at once (it stays resumable once the cause is fixed)."""


class AuthError(FatalLLMError, ConfigError):
    """401/403: the key is missing, wrong, or not allowed to use the model."""


class EndpointError(FatalLLMError):
    """The endpoint cannot be reached or keeps failing after every retry."""


class RequestRejected(FatalLLMError):
    """A 4xx that retrying cannot fix (bad parameter, unknown model, ...)."""


class PromptRejected(RequestRejected):
    """A 4xx for this one request (content filter, input refused): the core turns it into a
    rejected :class:`ChatReply`, so the run goes on."""


class FormatRejected(LLMError):
    """The endpoint refused the requested response format (negotiation falls back)."""


class LogprobsRejected(LLMError):
    """The endpoint refused to return token log-probabilities (negotiation asks without)."""


class TooManyInvalid(FatalLLMError):
    """More decisions were invalid than ``max_invalid_rate`` allows; the run stays resumable."""


class BudgetExhausted(FatalLLMError):
    """The run's budget of calls or tokens is spent; resume with a larger budget."""
