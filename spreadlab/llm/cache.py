"""Replay layer: every answer the endpoint gives is kept in DuckDB and replayed on a re-run.

The table ``llm_calls`` (on the run store's database, reached through
:mod:`spreadlab.store.calls`) is both the replay cache and
the per-call usage ledger: one row per answered call, keyed by a SHA-256 of the endpoint URL
(never the key), model, messages, temperature, token limit, response format, sampling seed, and
the call's tag (run seed, the replicate's stream, round, agent, attempt) and, when asked for, the
number of token log-probabilities; the probability of posting read from them is kept too
(``p_post``), so a replay yields the same estimate. Identical requests of an
identical run hit it and make no HTTP request; two agents, rounds or replicates never share a key.

Rows are buffered and written in batches (at the end of every round, and every ``flush_every``
rows), each batch in its own transaction; a killed process loses at most the unwritten batch,
which a resumed run simply asks again.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from spreadlab.llm.base import ChatModel, ChatReply, ChatRequest
from spreadlab.store import calls
from spreadlab.store.sharing import Connection
from spreadlab.validate import MAX_REPLY_CHARS, clean_text


def request_key(endpoint: str, request: ChatRequest) -> str:
    """The cache key of ``request`` sent to ``endpoint`` (hex SHA-256). A request for token
    log-probabilities has a key of its own; others keep the key they always had."""
    tag = request.tag
    payload: dict[str, Any] = {
        "endpoint": endpoint,
        "model": request.model,
        "messages": request.messages,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "response_format": request.response_format,
        "seed": request.seed,
        "tag": None
        if tag is None
        else [tag.run_seed, tag.stream, tag.round, tag.agent, tag.attempt],
    }
    if request.top_logprobs:
        payload["top_logprobs"] = request.top_logprobs
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class ReplayCache:
    """The ``llm_calls`` table on a DuckDB connection (a cursor of its own is used)."""

    def __init__(self, con: Connection, flush_every: int = 256) -> None:
        self._con = calls.cursor(con)
        self.flush_every = flush_every
        self._pending: list[dict[str, Any]] = []
        self._partitions: dict[tuple[int, int, int], dict[str, tuple]] = {}

    def get(self, key: str, request: ChatRequest) -> ChatReply | None:
        tag = request.tag
        if tag is None:
            row = calls.cached_reply(self._con, key)
        else:
            part = (tag.run_seed, tag.stream, tag.round)
            if part not in self._partitions:
                self._partitions[part] = calls.round_replies(self._con, *part)
            row = self._partitions[part].get(key)
        if row is None:
            return None
        reply, prompt_tokens, completion_tokens, fmt, rejected, p_post, answered_at = row
        return ChatReply(
            clean_text(reply, MAX_REPLY_CHARS),
            prompt_tokens,
            completion_tokens,
            cached=True,
            http_attempts=0,
            response_format=fmt,
            rejected=rejected,
            p_post=p_post,
            answered_at=answered_at,
        )

    def put(self, key: str, endpoint: str, request: ChatRequest, reply: ChatReply) -> None:
        tag = request.tag
        row = {
            "key": key,
            "endpoint": endpoint,
            "model": request.model,
            "run_seed": tag.run_seed if tag else None,
            "stream": tag.stream if tag else None,
            "round": tag.round if tag else None,
            "agent": tag.agent if tag else None,
            "attempt": tag.attempt if tag else None,
            "response_format": reply.response_format,
            "temperature": request.temperature,
            "reply": clean_text(reply.text, MAX_REPLY_CHARS),
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "latency_ms": round(reply.latency_s * 1000, 3),
            "http_attempts": reply.http_attempts,
            "created_at": datetime.now(UTC).replace(tzinfo=None),
            "rejected": reply.rejected,
            "p_post": reply.p_post,
        }
        self._pending.append(row)
        if tag is not None and (part := (tag.run_seed, tag.stream, tag.round)) in self._partitions:
            self._partitions[part][key] = (
                row["reply"],
                reply.prompt_tokens,
                reply.completion_tokens,
                reply.response_format,
                reply.rejected,
                reply.p_post,
                row["created_at"],
            )
        if len(self._pending) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows in one transaction."""
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        calls.insert_calls(self._con, rows)

    def forget_partitions(self) -> None:
        """Drop the in-memory copies of rounds already read (call between rounds)."""
        self._partitions.clear()

    def close(self) -> None:
        self.flush()
        self._con.close()


class CachedChat:
    """Answers from :class:`ReplayCache` when it can; otherwise asks ``inner`` and records."""

    def __init__(self, inner: ChatModel, cache: ReplayCache) -> None:
        self.inner = inner
        self.endpoint = inner.endpoint
        self.cache = cache
        self.hits = 0
        self.misses = 0
        self.replayed_prompt_tokens = 0
        self.replayed_completion_tokens = 0
        self.answers_by_day: Counter[str] = Counter()

    def stats(self) -> dict[str, object]:
        """This layer's counters: answers replayed from the cache and the tokens their calls used
        when they were first asked (from the ledger), so a replay can still say what its answers
        cost to obtain; and the answers served per UTC day they were obtained on, so it can say
        when they were measured (a replay is not a new measurement)."""
        return {
            "cache_hits": self.hits,
            "replayed_prompt_tokens": self.replayed_prompt_tokens,
            "replayed_completion_tokens": self.replayed_completion_tokens,
            "answers_by_day": dict(self.answers_by_day),
        }

    async def complete(self, request: ChatRequest) -> ChatReply:
        key = request_key(self.endpoint, request)
        cached = self.cache.get(key, request)
        if cached is not None:
            self.hits += 1
            self.replayed_prompt_tokens += cached.prompt_tokens
            self.replayed_completion_tokens += cached.completion_tokens
            self.answers_by_day[_day(cached.answered_at)] += 1
            return cached
        self.misses += 1
        reply = await self.inner.complete(request)
        self.cache.put(key, self.endpoint, request, reply)
        self.answers_by_day[_day(None)] += 1
        return reply


def _day(moment: datetime | None) -> str:
    """The UTC day of ``moment`` (naive UTC, as the ledger keeps it), or of now when None."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%d")
