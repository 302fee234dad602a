"""Preflight layer: one check of the endpoint before the first call that reaches it.

The check (does it answer, does it take the key, does it serve the model) runs lazily, so a run
replayed entirely from the cache makes no request at all; its failure is raised to every caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from spreadlab.llm.base import ChatModel, ChatReply, ChatRequest


class Preflight:
    """Runs ``check()`` once, before the first call to ``inner``."""

    def __init__(self, inner: ChatModel, check: Callable[[], Awaitable[None]]) -> None:
        self.inner = inner
        self.endpoint = inner.endpoint
        self._check = check
        self._lock = asyncio.Lock()
        self._done = False
        self._error: BaseException | None = None

    async def run(self) -> None:
        """The check, made at most once; its failure is raised again on every later call."""
        if not self._done:
            async with self._lock:
                if not self._done:
                    try:
                        await self._check()
                    except Exception as exc:
                        self._error = exc
                    self._done = True
        if self._error is not None:
            raise self._error

    async def complete(self, request: ChatRequest) -> ChatReply:
        await self.run()
        return await self.inner.complete(request)
