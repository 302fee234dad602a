"""Negotiation layer: ask for the most structured response format the endpoint accepts.

Formats are tried in the order of :data:`RESPONSE_FORMATS` — ``json_schema`` (OpenAI, vLLM,
Ollama), ``json_object`` carrying the schema (llama.cpp's server), plain ``json_object``, and
finally ``text`` with the JSON instructions of the prompt alone. A refusal of a format
(:class:`FormatRejected`) moves the endpoint down one step; the step reached is remembered per
(endpoint, model) for the rest of the run and, in the ``llm_formats`` table
(:mod:`spreadlab.store.calls`), for later runs, so a replayed run asks for the same format and
finds its answers in the cache.

Token log-probabilities are negotiated the same way: a request that asks for them
(``top_logprobs``) and is refused (:class:`LogprobsRejected`) is asked once more without, and the
refusal is remembered beside the format (``llm_formats.logprobs``), so later requests to that
endpoint and model never ask again and a replay asks exactly what was asked before. Until the
endpoint has answered one such request, the others wait for it, so a refusal costs one request,
not one per call in flight.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from spreadlab.errors import ConfigError
from spreadlab.llm.base import (
    RESPONSE_FORMATS,
    ChatModel,
    ChatReply,
    ChatRequest,
    FormatRejected,
    LogprobsRejected,
    RequestRejected,
)
from spreadlab.store import calls
from spreadlab.store.sharing import Connection

log = logging.getLogger("spreadlab.llm")


class FormatMemory:
    """The format each (endpoint, model) accepted, and those that refused token
    log-probabilities; in DuckDB when given a connection."""

    def __init__(self, con: Connection | None = None) -> None:
        self._con = calls.cursor(con) if con is not None else None
        self._known = calls.known_formats(self._con) if self._con is not None else {}
        self._no_logprobs = calls.logprobs_refused(self._con) if self._con is not None else set()

    def logprobs_refused(self, endpoint: str, model: str) -> bool:
        return (endpoint, model) in self._no_logprobs

    def refuse_logprobs(self, endpoint: str, model: str, fmt: str) -> None:
        """Remember that (endpoint, model) refused token log-probabilities (``fmt``: the format
        asked for meanwhile)."""
        self._no_logprobs.add((endpoint, model))
        if self._con is not None:
            calls.refuse_logprobs(self._con, endpoint, model, fmt)

    def get(self, endpoint: str, model: str) -> str | None:
        return self._known.get((endpoint, model))

    def set(self, endpoint: str, model: str, fmt: str) -> None:
        if self._known.get((endpoint, model)) == fmt:
            return
        self._known[(endpoint, model)] = fmt
        if self._con is not None:
            calls.remember_format(self._con, endpoint, model, fmt)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()


class NegotiatedFormat:
    """Sets each request's response format, falling back on refusal (unless one is forced), and
    drops the request for token log-probabilities where the endpoint refused it."""

    def __init__(
        self, inner: ChatModel, memory: FormatMemory | None = None, forced: str | None = None
    ) -> None:
        if forced is not None and forced not in RESPONSE_FORMATS:
            raise ConfigError(
                f"response format {forced!r}: use auto or one of {', '.join(RESPONSE_FORMATS)}"
            )
        self.inner = inner
        self.endpoint = inner.endpoint
        self.memory = memory or FormatMemory()
        self.forced = forced
        self.fallbacks: list[str] = []
        self._logprobs_settled: set[str] = set()  # models whose endpoint answered logprobs
        self._logprobs_probe: asyncio.Lock | None = None

    def stats(self) -> dict[str, object]:
        """This layer's record: every response-format or log-probability refusal it fell back
        from."""
        return {"format_fallbacks": list(self.fallbacks)}

    def current(self, model: str) -> str:
        """The format the next request for ``model`` will ask for."""
        return self.forced or self.memory.get(self.endpoint, model) or RESPONSE_FORMATS[0]

    async def complete(self, request: ChatRequest) -> ChatReply:
        if not request.top_logprobs or request.model in self._logprobs_settled:
            return await self._complete(request)
        if self._logprobs_probe is None:
            self._logprobs_probe = asyncio.Lock()
        async with self._logprobs_probe:  # the first request settles it; the rest wait
            if request.model not in self._logprobs_settled:
                reply = await self._complete(request)
                self._logprobs_settled.add(request.model)
                return reply
        return await self._complete(request)

    async def _complete(self, request: ChatRequest) -> ChatReply:
        fmt = self.current(request.model)
        if request.top_logprobs and self.memory.logprobs_refused(self.endpoint, request.model):
            request = replace(request, top_logprobs=None)
        while True:
            try:
                reply = await self.inner.complete(replace(request, response_format=fmt))
            except LogprobsRejected as exc:
                if not self.memory.logprobs_refused(self.endpoint, request.model):
                    log.warning("%s; asking without them (sampled answers only)", exc)
                    self.fallbacks.append(str(exc))
                    self.memory.refuse_logprobs(self.endpoint, request.model, fmt)
                request = replace(request, top_logprobs=None)
                continue
            except FormatRejected as exc:
                if self.forced or fmt == RESPONSE_FORMATS[-1]:
                    raise RequestRejected(
                        f"{exc}. Choose another response format (auto tries "
                        f"{', '.join(RESPONSE_FORMATS)})",
                        setting="response_format",
                    ) from None
                known = self.current(request.model)
                step = max(RESPONSE_FORMATS.index(fmt) + 1, RESPONSE_FORMATS.index(known))
                fmt = RESPONSE_FORMATS[step]
                if fmt != known:
                    log.warning("%s; falling back to %s", exc, fmt)
                    self.fallbacks.append(str(exc))
                    self.memory.set(self.endpoint, request.model, fmt)
                continue
            if self.memory.get(self.endpoint, request.model) is None and not self.forced:
                self.memory.set(self.endpoint, request.model, fmt)
            return reply
