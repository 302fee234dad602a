"""Accounting layer: tokens and calls used, and the budget that stops a run cleanly.

Every call that reaches ``inner`` is counted with its usage. A budget of calls and/or tokens is
enforced *before* a call starts: a call is refused (:class:`BudgetExhausted`) when the calls
already made or in flight reach ``max_calls``, or when the tokens used plus the worst case of the
calls in flight and of this one (estimated prompt + ``max_tokens`` of completion) would exceed
``max_tokens``. Refused calls make no request, so the budget is never overrun by more than the
prompt-size estimate's error.
"""

from __future__ import annotations

from dataclasses import dataclass

from spreadlab.errors import ConfigError
from spreadlab.llm.base import BudgetExhausted, ChatModel, ChatReply, ChatRequest

CHARS_PER_TOKEN_BOUND = 3  # English averages ~4 characters per token; 3 errs on the high side


def prompt_token_bound(request: ChatRequest) -> int:
    """A generous estimate of the prompt tokens of ``request`` (characters / 3, plus framing)."""
    chars = sum(len(content) + 8 for _, content in request.messages)
    return chars // CHARS_PER_TOKEN_BOUND + 1


@dataclass(frozen=True)
class Budget:
    """Limits for one run or resume: ``None`` means no limit."""

    max_calls: int | None = None
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        for setting, value in (("max_calls", self.max_calls), ("max_tokens", self.max_tokens)):
            if value is not None and value < 1:
                raise ConfigError(
                    f"{setting} = {value}: a budget must be a positive number; leave it out for "
                    "no limit",
                    setting=setting,
                )


@dataclass
class Usage:
    """What the calls that reached the endpoint used."""

    calls: int = 0
    failed_calls: int = 0
    http_attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Accounting:
    """Counts usage of ``inner`` and refuses calls beyond ``budget``."""

    def __init__(self, inner: ChatModel, budget: Budget | None = None) -> None:
        self.inner = inner
        self.endpoint = inner.endpoint
        self.budget = budget or Budget()
        self.usage = Usage()
        self._calls_in_flight = 0
        self._tokens_reserved = 0

    def stats(self) -> dict[str, object]:
        """This layer's counters: calls answered and failed, HTTP attempts and tokens."""
        usage = self.usage
        return {
            "calls": usage.calls,
            "failed_calls": usage.failed_calls,
            "http_attempts": usage.http_attempts,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
        }

    def _admit(self, reserve: int) -> None:
        budget, usage = self.budget, self.usage
        started = usage.calls + usage.failed_calls + self._calls_in_flight
        if budget.max_calls is not None and started >= budget.max_calls:
            raise BudgetExhausted(
                f"budget of {budget.max_calls} calls spent; raise the call budget (max_calls) "
                "and resume the run",
                setting="max_calls",
            )
        if (
            budget.max_tokens is not None
            and usage.tokens + self._tokens_reserved + reserve > budget.max_tokens
        ):
            raise BudgetExhausted(
                f"budget of {budget.max_tokens} tokens spent ({usage.tokens} used); raise the "
                "token budget (max_tokens) and resume the run",
                setting="max_tokens",
            )

    async def complete(self, request: ChatRequest) -> ChatReply:
        reserve = prompt_token_bound(request) + request.max_tokens
        self._admit(reserve)
        self._calls_in_flight += 1
        self._tokens_reserved += reserve
        try:
            reply = await self.inner.complete(request)
        except BaseException:
            self.usage.failed_calls += 1
            raise
        finally:
            self._calls_in_flight -= 1
            self._tokens_reserved -= reserve
        usage = self.usage
        usage.calls += 1
        usage.http_attempts += reply.http_attempts
        usage.prompt_tokens += reply.prompt_tokens
        usage.completion_tokens += reply.completion_tokens
        return reply
