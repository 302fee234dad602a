"""The LLM policy: every exposed agent asks a chat model whether it posts.

One round is one batch: its consultations run concurrently on an event loop owned by the policy
(bounded by the concurrency layer), and the round ends when all have answered — the simulation's
round barrier stays. Each agent's reply is parsed tolerantly; an unusable reply is asked again (a
new cache key, ``attempt`` + 1) up to ``parse_attempts`` times and then recorded as an *invalid*
decision with its reason, never as a silent "no".

Each round the policy draws one number (``stream``) from the run's generator. It is part of every
cache key and of the sampling seed sent to the endpoint, so replicates never share answers while
a re-run or a resumed run (same generator state) asks identical, cacheable questions.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from spreadlab.engine.policy import ConsultationBatch, Decisions
from spreadlab.llm.accounting import Accounting
from spreadlab.llm.base import (
    BudgetExhausted,
    CallTag,
    ChatModel,
    ChatReply,
    ChatRequest,
    CheckableModel,
    ClosableModel,
    FatalLLMError,
    TooManyInvalid,
)
from spreadlab.llm.cache import CachedChat, ReplayCache
from spreadlab.llm.config import LLMConfig
from spreadlab.llm.limit import ConcurrencyLimit
from spreadlab.llm.negotiate import FormatMemory, NegotiatedFormat
from spreadlab.llm.openai_chat import OpenAIChat
from spreadlab.llm.parse import parse_reply
from spreadlab.llm.preflight import Preflight
from spreadlab.llm.prompt import DECISION_SCHEMA, PROMPT_VERSION, build_messages
from spreadlab.llm.retry import Retry
from spreadlab.store.sharing import Connection
from spreadlab.validate import MAX_REPLY_CHARS, clean_text
from spreadlab.world.events import Event

T = TypeVar("T")
MIN_CONSULTATIONS_FOR_RATE = 50  # fewer say too little about the invalid rate to stop a run


@dataclass(frozen=True)
class Answer:
    """One agent's decision (``post`` is False when invalid); ``p_post`` is the probability of
    posting read from the reply's token log-probabilities, where there is one."""

    post: bool
    text: str | None
    valid: bool
    reason: str | None
    p_post: float | None = None


class LoopRunner:
    """A private event loop, run from the calling thread (or a helper thread when the caller is
    already inside a running loop, as in a notebook)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._run_here(coro)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(self._run_here, coro).result()

    def _run_here(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return self.loop.run_until_complete(coro)
        except BaseException:  # e.g. Ctrl-C: cancel what is still in flight, then re-raise
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            raise

    def close(self) -> None:
        self.loop.close()


@dataclass
class Stack:
    """The layers of one policy, top first; kept so their counters can be read."""

    top: NegotiatedFormat
    cache: CachedChat | None
    accounting: Accounting
    preflight: Preflight | None
    limit: ConcurrencyLimit
    retry: Retry
    core: ChatModel

    def stats(self) -> dict[str, Any]:
        """Every layer's own counters, merged (no cache: no hits)."""
        return {
            "cache_hits": 0,
            "replayed_prompt_tokens": 0,
            "replayed_completion_tokens": 0,
            "answers_by_day": {},
            **(self.cache.stats() if self.cache else {}),
            **self.accounting.stats(),
            **self.retry.stats(),
            **self.limit.stats(),
            **self.top.stats(),
        }


def build_stack(config: LLMConfig, con: Connection | None, core: ChatModel | None = None) -> Stack:
    """Negotiation → replay cache → accounting → preflight → concurrency → retry → core.

    ``core`` defaults to the real client for ``config``; tests pass a scripted model. The cache
    and the remembered formats live on ``con`` (no cache without one).
    """
    if core is None:
        core = OpenAIChat(
            base_url=config.base_url,
            api_key=config.key_for_client,
            timeout=config.timeout,
            clients=-(-config.max_concurrency // 8),
        )
    retry = Retry(
        core,
        max_attempts=config.max_attempts,
        base_delay=config.base_delay,
        max_delay=config.max_delay,
    )
    limit = ConcurrencyLimit(retry, config.max_concurrency)
    preflight = (
        Preflight(limit, lambda: core.check(config.model))
        if isinstance(core, CheckableModel)
        else None
    )
    accounting = Accounting(preflight or limit, config.budget)
    cache = CachedChat(accounting, ReplayCache(con)) if con is not None else None
    forced = None if config.response_format == "auto" else config.response_format
    top = NegotiatedFormat(cache or accounting, FormatMemory(con), forced)
    return Stack(top, cache, accounting, preflight, limit, retry, core)


class LLMPolicy:
    """The :class:`spreadlab.engine.policy.Policy` of LLM agents. With ``top_logprobs`` each
    consultation also asks for token log-probabilities (as calibration does), and decisions carry
    the probability of posting read from them where the endpoint returns them."""

    backend = "llm"

    def __init__(
        self,
        config: LLMConfig,
        con: Connection | None = None,
        *,
        core: ChatModel | None = None,
        top_logprobs: int | None = None,
    ) -> None:
        self.config = config
        self.top_logprobs = top_logprobs
        self.stack = build_stack(config, con, core)
        self._runner = LoopRunner()
        self._halt: FatalLLMError | None = None
        self.consultations = 0
        self.invalid = 0
        self.refused = 0
        self.reasked = 0

    def prepare(self, profiles: np.ndarray, event: Event) -> None:
        """Nothing to precompute: prompts are built per consultation from the batch."""

    def decide(self, batch: ConsultationBatch, rng: np.random.Generator) -> Decisions:
        stream = int(rng.integers(2**62))
        try:
            answers = self._runner.run(self._decide_all(batch, stream))
        finally:
            if self.stack.cache is not None:
                self.stack.cache.cache.flush()
                self.stack.cache.cache.forget_partitions()
        self.consultations += len(answers)
        self.invalid += sum(not a.valid for a in answers)
        self._check_invalid_rate()
        return Decisions(
            post=np.array([a.post for a in answers], dtype=bool),
            texts=[a.text for a in answers],
            valid=np.array([a.valid for a in answers], dtype=bool),
            reasons=[a.reason for a in answers],
            p_post=np.array([np.nan if a.p_post is None else a.p_post for a in answers])
            if self.top_logprobs
            else None,
        )

    def _check_invalid_rate(self) -> None:
        """Stop (resumably) once invalid decisions exceed ``max_invalid_rate`` of this session's
        consultations, counted from :data:`MIN_CONSULTATIONS_FOR_RATE` on."""
        limit = self.config.max_invalid_rate
        if self.consultations < MIN_CONSULTATIONS_FOR_RATE:
            return
        if self.invalid > limit * self.consultations:
            raise TooManyInvalid(
                f"{self.invalid} of {self.consultations} decisions "
                f"({self.invalid / self.consultations:.0%}) were invalid ({self.refused} refused "
                f"by the endpoint, the rest unparseable), above the limit of {limit:.0%}. The run "
                "stopped before storing this round; check the model and endpoint, or resume with "
                "a higher limit (max_invalid_rate)",
                setting="max_invalid_rate",
            )

    async def _decide_all(self, batch: ConsultationBatch, stream: int) -> list[Answer]:
        settings = self.config.prompt
        requests = []
        for i, agent in enumerate(batch.agents.tolist()):
            m = int(batch.m[i])
            feed = batch.feed(agent)[: settings.feed_size] if m > 0 else []
            messages = build_messages(
                int(batch.profiles[i]), batch.event, bool(batch.offline[i]), m, feed, settings
            )
            requests.append((CallTag(batch.run_seed, stream, batch.round, agent), messages))
        self._halt = None
        tasks = [asyncio.ensure_future(self._consult(tag, msgs)) for tag, msgs in requests]

        def stop_others(task: asyncio.Future) -> None:
            if not task.cancelled() and self._halt is not None:
                for other in tasks:
                    other.cancel()

        for task in tasks:
            task.add_done_callback(stop_others)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        if self._halt is not None:
            raise self._halt
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        return results  # type: ignore[return-value]

    async def _consult(self, tag: CallTag, messages: tuple[tuple[str, str], ...]) -> Answer:
        config = self.config
        error = ""
        for attempt in range(config.parse_attempts):
            attempt_tag = CallTag(tag.run_seed, tag.stream, tag.round, tag.agent, attempt)
            request = ChatRequest(
                messages=messages,
                model=config.model,
                temperature=config.temperature,
                max_tokens=config.max_reply_tokens,
                schema=DECISION_SCHEMA,
                seed=sampling_seed(attempt_tag),
                tag=attempt_tag,
                top_logprobs=self.top_logprobs,
            )
            if self._halt is not None:
                raise self._halt
            try:
                reply = await self.stack.top.complete(request)
            except FatalLLMError as exc:
                if not isinstance(exc, BudgetExhausted):
                    self._halt = exc  # the others stop asking: no point, or no permission
                raise
            if reply.rejected is not None:
                self.refused += 1
                return Answer(False, None, False, f"request refused: {reply.rejected}")
            parsed = parse_reply(clean_text(reply.text, MAX_REPLY_CHARS))
            if parsed.ok:
                text = parsed.text if parsed.post else None
                return Answer(bool(parsed.post), text, True, None, reply.p_post)
            error = parsed.error or "unusable reply"
            self.reasked += attempt + 1 < config.parse_attempts
        reason = f"unparseable reply after {config.parse_attempts} attempt(s): {error}"
        return Answer(False, None, False, reason)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the policy's event loop, where its HTTP clients live (other questions
        through the same stack, such as a persona inventory)."""
        return self._runner.run(coro)

    def check_endpoint(self) -> None:
        """Check the endpoint now (answers, key, model) and settle its response format with one
        small probe call, which the budget does not count."""
        self._runner.run(self._check_endpoint())

    async def _check_endpoint(self) -> None:
        stack = self.stack
        if stack.preflight is not None:
            await stack.preflight.run()
        probe = NegotiatedFormat(stack.limit, stack.top.memory, stack.top.forced)
        messages = (
            ("system", "Answer with a JSON object only."),
            ("user", 'Reply with {"post": false, "text": ""}.'),
        )
        await probe.complete(
            ChatRequest(
                messages,
                self.config.model,
                self.config.temperature,
                self.config.max_reply_tokens,
                schema=DECISION_SCHEMA,
            )
        )
        stack.top.fallbacks.extend(probe.fallbacks)

    def describe(self) -> str:
        """One line for people: where, which model, how."""
        c = self.config
        budget = ", ".join(
            f"{name} {value}"
            for name, value in (
                ("max calls", c.budget.max_calls),
                ("max tokens", c.budget.max_tokens),
            )
            if value
        )
        return (
            f"model {c.model} at {c.settings()['endpoint_host']}, temperature "
            f"{c.temperature:g}, response format {self.response_format()}, up to "
            f"{c.max_concurrency} calls in flight" + (f", budget: {budget}" if budget else "")
        )

    def response_format(self) -> str:
        """The response format the endpoint accepted (or will be asked for first)."""
        return self.stack.top.current(self.config.model)

    def logprobs_refused(self) -> bool:
        """Whether the endpoint refused token log-probabilities for this model (remembered)."""
        top = self.stack.top
        return top.memory.logprobs_refused(top.endpoint, self.config.model)

    def usage(self) -> dict[str, Any]:
        """Counters of this policy's session: its consultations, then each layer's own
        :meth:`stats` (cache, calls, tokens, retries, concurrency, format fallbacks)."""
        return {
            "consultations": self.consultations,
            "invalid": self.invalid,
            "invalid_rate": self.invalid / self.consultations if self.consultations else 0.0,
            "refused": self.refused,
            "reasked": self.reasked,
            **self.stack.stats(),
            "response_format": self.response_format(),
        }

    async def complete(self, request: ChatRequest) -> ChatReply:
        """One request through every layer (format, cache, budget, retries): for questions that
        are not agent decisions, such as the persona inventory."""
        return await self.stack.top.complete(request)

    def flush(self) -> None:
        """Write the replies the replay cache still buffers."""
        if self.stack.cache is not None:
            self.stack.cache.cache.flush()

    @property
    def endpoint(self) -> str:
        """The endpoint URL this policy's requests go to."""
        return self.stack.top.endpoint

    def provenance(self) -> dict[str, Any]:
        """Settings and the response format the endpoint accepts. A run records this before its
        first round, so for an (endpoint, model) whose format is not yet known this settles it
        first with :meth:`check_endpoint` (one small request; a bad key, model or URL then fails
        before the run is written)."""
        top = self.stack.top
        if top.forced is None and top.memory.get(top.endpoint, self.config.model) is None:
            self.check_endpoint()
        return {
            "backend": self.backend,
            "synthetic": False,
            **self.config.settings(),
            "response_format": self.response_format(),
            "prompt_version": PROMPT_VERSION,
            "sampling": "one stream per round drawn from the run generator; per-call seed "
            "sent to the endpoint",
        }

    def close(self) -> None:
        """Write what is buffered and release the HTTP client and the event loop."""
        if self.stack.cache is not None:
            self.stack.cache.cache.close()
        self.stack.top.memory.close()
        core = self.stack.core
        if isinstance(core, ClosableModel):
            self._runner.run(core.aclose())
        self._runner.close()

    def __enter__(self) -> LLMPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sampling_seed(tag: CallTag) -> int:
    """The ``seed`` sent with a call: a 31-bit hash of its tag (servers that honour it then
    sample reproducibly)."""
    text = f"{tag.run_seed}:{tag.stream}:{tag.round}:{tag.agent}:{tag.attempt}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") >> 1
