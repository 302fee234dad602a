"""Concurrency layer: at most ``max_concurrency`` calls of ``inner`` in flight at once."""

from __future__ import annotations

import asyncio

from spreadlab.errors import ConfigError
from spreadlab.llm.base import ChatModel, ChatReply, ChatRequest


class ConcurrencyLimit:
    """An asyncio semaphore around ``inner``; ``peak`` records the most calls seen in flight."""

    def __init__(self, inner: ChatModel, max_concurrency: int) -> None:
        if max_concurrency < 1:
            raise ConfigError(
                f"max_concurrency = {max_concurrency}: allow at least 1 call in flight",
                setting="max_concurrency",
            )
        self.inner = inner
        self.endpoint = inner.endpoint
        self.max_concurrency = max_concurrency
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self.in_flight = 0
        self.peak = 0

    def stats(self) -> dict[str, object]:
        """This layer's counter: the most calls seen in flight at once."""
        return {"peak_concurrency": self.peak}

    async def complete(self, request: ChatRequest) -> ChatReply:
        async with self._semaphore:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            try:
                return await self.inner.complete(request)
            finally:
                self.in_flight -= 1
