"""Retry layer: bounded retries with exponential backoff and jitter for transient failures.

429 (waiting at least its Retry-After, never less than the backoff), 5xx, timeouts, dropped
connections and garbled bodies are retried up to ``max_attempts`` HTTP attempts in all; anything
else passes straight through, so 401/403 stop the run at once. When the attempts run out the
endpoint is treated as down (:class:`EndpointError`): the run stops and can be resumed, rather
than recording an outage as agents' decisions.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace

from spreadlab.errors import ConfigError
from spreadlab.llm.base import ChatModel, ChatReply, ChatRequest, EndpointError, TransientError

log = logging.getLogger("spreadlab.llm")


class Retry:
    """Retries ``inner`` on :class:`TransientError`.

    The wait before retry ``n`` is ``min(max_delay, base_delay·2^(n-1))`` scaled by a uniform
    factor in [0.5, 1] ("equal jitter"). A server's Retry-After (plus up to 10%) can only lengthen
    it: a Retry-After of 0 or a past date never makes a retry come sooner than the backoff floor.
    A Retry-After longer than ``max_retry_after`` seconds ends the retries at once.
    """

    def __init__(
        self,
        inner: ChatModel,
        *,
        max_attempts: int = 6,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        max_retry_after: float = 120.0,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ConfigError(f"max attempts = {max_attempts}: allow at least 1 HTTP attempt")
        self.inner = inner
        self.endpoint = inner.endpoint
        self.max_attempts = max_attempts
        self.base_delay, self.max_delay = base_delay, max_delay
        self.max_retry_after = max_retry_after
        self._rng = rng or random.Random()
        self._sleep = sleep
        self.retries: Counter[str] = Counter()

    def stats(self) -> dict[str, object]:
        """This layer's counters: retries per kind of transient error."""
        return {"retries": dict(self.retries)}

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        wait = backoff * (0.5 + 0.5 * self._rng.random())
        if retry_after is not None:
            wait = max(wait, retry_after * (1 + 0.1 * self._rng.random()))
        return wait

    async def complete(self, request: ChatRequest) -> ChatReply:
        attempt = 0
        while True:
            attempt += 1
            try:
                reply = await self.inner.complete(request)
            except TransientError as exc:
                if exc.retry_after is not None and exc.retry_after > self.max_retry_after:
                    raise EndpointError(
                        f"{exc}; the endpoint asks to wait {exc.retry_after:.0f} s. The run "
                        "stopped; resume it later"
                    ) from None
                if attempt == self.max_attempts:
                    raise EndpointError(
                        f"{exc}; still failing after {self.max_attempts} attempts. The run "
                        "stopped; resume it once the endpoint answers"
                    ) from None
                self.retries[exc.kind] += 1
                wait = self.delay(attempt, exc.retry_after)
                log.info("retrying in %.2f s after %s", wait, exc)
                await self._sleep(wait)
            else:
                return replace(reply, http_attempts=attempt)
