"""Accounting layer: tokens and calls used, and the budget that stops a run cleanly.

Every call that reaches ``inner`` is counted with its usage. A budget of calls, tokens and/or
money is enforced *before* a call starts: a call is refused (:class:`BudgetExhausted`) when the
calls already made or in flight reach ``max_calls``, or when the tokens used plus the worst case of
the calls in flight and of this one (estimated prompt + ``max_tokens`` of completion) would exceed
``max_tokens`` — or, priced per million prompt and completion tokens, ``max_cost``. Refused calls
make no request, so the budget is never overrun by more than the prompt-size estimate's error.
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
    """Limits for one run, resume or sweep: ``None`` means no limit. ``max_cost`` is in the
    currency of ``price``: (prompt, completion) cost per million tokens, required with it."""

    max_calls: int | None = None
    max_tokens: int | None = None
    max_cost: float | None = None
    price: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        limits = (
            ("max_calls", self.max_calls),
            ("max_tokens", self.max_tokens),
            ("max_cost", self.max_cost),
        )
        for setting, value in limits:
            if value is not None and value <= 0:
                raise ConfigError(
                    f"{setting} = {value}: a budget must be a positive number; leave it out for "
                    "no limit",
                    setting=setting,
                )
        if self.max_cost is not None and self.price is None:
            raise ConfigError(
                "a cost budget needs the model's price: add a row for the model to the price "
                "table (prices)",
                setting="max_cost",
            )

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """What these tokens cost at :attr:`price` (0 without a price)."""
        prompt, completion = self.price or (0.0, 0.0)
        return (prompt_tokens * prompt + completion_tokens * completion) / 1e6


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
        self._cost_reserved = 0.0

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

    def _admit(self, request: ChatRequest) -> tuple[int, float]:
        """Refuse ``request`` if it could overrun the budget; else its worst-case tokens and
        cost, to reserve while it is in flight."""
        budget, usage = self.budget, self.usage
        prompt = prompt_token_bound(request)
        reserve = prompt + request.max_tokens
        cost = budget.cost(prompt, request.max_tokens)
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
        spent = budget.cost(usage.prompt_tokens, usage.completion_tokens)
        if budget.max_cost is not None and spent + self._cost_reserved + cost > budget.max_cost:
            raise BudgetExhausted(
                f"budget of {budget.max_cost:g} spent ({spent:.4g} used); raise the cost budget "
                "(max_cost) and resume the run",
                setting="max_cost",
            )
        return reserve, cost

    async def complete(self, request: ChatRequest) -> ChatReply:
        reserve, cost = self._admit(request)
        self._calls_in_flight += 1
        self._tokens_reserved += reserve
        self._cost_reserved += cost
        try:
            reply = await self.inner.complete(request)
        except BaseException:
            self.usage.failed_calls += 1
            raise
        finally:
            self._calls_in_flight -= 1
            self._tokens_reserved -= reserve
            self._cost_reserved -= cost
        usage = self.usage
        usage.calls += 1
        usage.http_attempts += reply.http_attempts
        usage.prompt_tokens += reply.prompt_tokens
        usage.completion_tokens += reply.completion_tokens
        return reply
