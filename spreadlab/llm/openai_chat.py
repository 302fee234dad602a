"""The core call: one chat completion through the real ``openai`` AsyncOpenAI client.

It makes exactly one HTTP attempt (the SDK's own retries are off; :mod:`spreadlab.llm.retry`
owns retrying) and turns every failure into one of the errors of :mod:`spreadlab.llm.base`.
Messages never carry the API key: the server's words are redacted before they are raised.
"""

from __future__ import annotations

import email.utils
import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from spreadlab.errors import ConfigError
from spreadlab.lazy import lazy_import
from spreadlab.llm.accounting import prompt_token_bound
from spreadlab.llm.base import (
    AuthError,
    ChatReply,
    ChatRequest,
    EndpointError,
    FormatRejected,
    LogprobsRejected,
    PromptRejected,
    RequestRejected,
    TransientError,
)
from spreadlab.llm.logprobs import post_probability
from spreadlab.validate import clean_text

if TYPE_CHECKING:
    import openai
else:
    openai = lazy_import("openai")  # loaded by the first LLM call, not by every command

_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "schema")


def endpoint_url(base_url: str) -> str:
    """``base_url`` without user info, query string or fragment: safe to store and to hash."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"base URL {redact(base_url, parts.password or '')!r} is not an http(s) URL: set "
            "OPENAI_BASE_URL or the base URL to e.g. http://localhost:11434/v1",
            setting="base_url",
        )
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def endpoint_host(base_url: str) -> str:
    """Host and port of an endpoint, e.g. ``api.openai.com`` or ``127.0.0.1:11434``."""
    return urlsplit(endpoint_url(base_url)).netloc


def redact(text: str, secret: str) -> str:
    """``text`` with every occurrence of ``secret`` replaced by ``***``."""
    return text.replace(secret, "***") if secret else text


def response_format_param(fmt: str, schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``response_format`` request field for one of :data:`RESPONSE_FORMATS`."""
    if fmt == "json_schema" and schema is not None:
        return {
            "type": "json_schema",
            "json_schema": {"name": "decision", "strict": True, "schema": schema},
        }
    if fmt == "json_object_schema" and schema is not None:
        return {"type": "json_object", "schema": schema}
    if fmt in ("json_object", "json_schema", "json_object_schema"):
        return {"type": "json_object"}
    return None


class OpenAIChat:
    """One HTTP attempt per call through ``openai.AsyncOpenAI`` clients (created lazily).

    Calls are spread round-robin over ``clients`` SDK clients: the HTTP connection pool scans all
    its connections on every request, so several small pools cost far less CPU than one large
    one at high concurrency (about 8 calls in flight per client is right).
    """

    def __init__(
        self, *, base_url: str, api_key: str, timeout: float = 60.0, clients: int = 1
    ) -> None:
        self.endpoint = endpoint_url(base_url)
        self._base_url = base_url.strip()
        self._api_key = api_key
        self._timeout = timeout
        self._clients: list[openai.AsyncOpenAI] = []
        self._n_clients = max(1, clients)
        self._next = 0
        self._limit_name = "max_tokens"

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The next SDK client, round-robin."""
        if not self._clients:
            self._clients = [
                openai.AsyncOpenAI(
                    api_key=self._api_key,
                    base_url=self._base_url,
                    max_retries=0,
                    timeout=self._timeout,
                )
                for _ in range(self._n_clients)
            ]
        self._next = (self._next + 1) % self._n_clients
        return self._clients[self._next]

    async def complete(self, request: ChatRequest) -> ChatReply:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": request.message_dicts(),
            "temperature": request.temperature,
            self._limit_name: request.max_tokens,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        fmt = response_format_param(request.response_format, request.schema)
        if fmt is not None:
            body["response_format"] = fmt
        if request.top_logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = request.top_logprobs
        started = time.perf_counter()
        try:
            data = await self._send(body, request)
        except PromptRejected as exc:
            return self._rejected(str(exc), request, started)
        try:
            choices = data["choices"]
            if not choices:
                return self._rejected("the endpoint returned no choices", request, started)
            message = choices[0]["message"]
            text = str(message.get("content") or "")
            if not text and message.get("refusal"):
                refusal = clean_text(str(message["refusal"]), 200)
                return self._rejected(f"the model refused: {refusal}", request, started)
            if not text and choices[0].get("finish_reason") == "content_filter":
                return self._rejected("stopped by the content filter", request, started)
            usage = data.get("usage") or {}
            # servers that report no usage are charged a generous estimate, so budgets hold
            prompt_tokens = int(usage.get("prompt_tokens") or prompt_token_bound(request))
            completion_tokens = int(usage.get("completion_tokens") or len(text) // 3 + 1)
            logprobs = choices[0].get("logprobs") if request.top_logprobs else None
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            raise TransientError(
                f"{self.endpoint}: reply without a message", kind="malformed"
            ) from None
        return ChatReply(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=time.perf_counter() - started,
            response_format=request.response_format,
            p_post=post_probability(logprobs, request.temperature),
        )

    async def _send(self, body: dict[str, Any], request: ChatRequest) -> Any:
        """The response body as JSON; failures classified (see :meth:`_classify`)."""
        try:
            return await self._post(body)
        except openai.BadRequestError as exc:
            if self._limit_name != "max_tokens" or "max_completion_tokens" not in str(exc):
                raise self._classify(exc, request) from None
            # newer OpenAI models take the reply limit under its new name only
            self._limit_name = "max_completion_tokens"
            body[self._limit_name] = body.pop("max_tokens")
            try:
                return await self._post(body)
            except Exception as again:
                raise self._classify(again, request) from None
        except Exception as exc:
            raise self._classify(exc, request) from None

    def _rejected(self, reason: str, request: ChatRequest, started: float) -> ChatReply:
        return ChatReply(
            text="",
            prompt_tokens=0,
            completion_tokens=0,
            latency_s=time.perf_counter() - started,
            response_format=request.response_format,
            rejected=reason,
        )

    async def _post(self, body: dict[str, Any]) -> Any:
        # The SDK's generic POST: its auth, errors and connection pool, without the typed request
        # transform and response model, which cost ~2 ms of CPU per call.
        raw = await self.client.post("/chat/completions", body=body, cast_to=str)
        return json.loads(raw)

    async def check(self, model: str) -> None:
        """Preflight: the endpoint answers, takes the key and (if it lists models) has ``model``."""
        try:
            page = await self.client.models.list(timeout=min(self._timeout, 15.0))
        except (openai.NotFoundError, openai.InternalServerError, openai.BadRequestError):
            return  # this server does not list models; the first call will tell
        except Exception as exc:
            error = self._classify(exc, None)
            if isinstance(error, TransientError) and error.kind in ("timeout", "connection"):
                raise EndpointError(
                    f"cannot reach {self.endpoint} ({error.kind}). Check OPENAI_BASE_URL / "
                    "the base URL and that the server is running",
                    setting="base_url",
                ) from None
            if isinstance(error, TransientError):
                return  # busy or failing now; the calls' own retries will deal with it
            raise error from None
        ids = [m.id for m in page.data]
        if ids and model not in ids and f"{model}:latest" not in ids:
            shown = ", ".join(ids[:12]) + (" ..." if len(ids) > 12 else "")
            raise ConfigError(
                f"unknown model {model!r} at {endpoint_host(self.endpoint)}; it offers: {shown}. "
                "Choose one of them as the model",
                setting="model",
            )

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()
        self._clients = []

    def _classify(self, exc: Exception, request: ChatRequest | None) -> Exception:
        where = f"{self.endpoint}"
        if isinstance(exc, openai.APITimeoutError):
            return TransientError(
                f"{where}: request timed out after {self._timeout:g} s", kind="timeout"
            )
        if isinstance(exc, openai.APIConnectionError):
            return TransientError(f"{where}: connection failed ({_cause(exc)})", kind="connection")
        if isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError):
            return TransientError(f"{where}: garbled response body", kind="malformed")
        if not isinstance(exc, openai.APIStatusError):
            return exc
        status = exc.status_code
        said = redact(_server_message(exc), self._api_key)[:300]
        if status in (401, 403):
            what = "refused the API key" if status == 401 else "denied access"
            return AuthError(
                f"{where} {what} (HTTP {status}: {said}). Set a valid key in OPENAI_API_KEY or "
                "give an API key"
                + (f", and check that it may use model {request.model!r}" if request else ""),
                setting="api_key",
            )
        refused = _refused_option(request, status, said, where)
        if refused is not None:
            return refused
        if request is not None and status == 500 and "does not match the expected" in said:
            # llama.cpp: this reply broke its response-format parser; the same request (same
            # seed) fails the same way, so it is this request's failure, not the server's
            return PromptRejected(f"HTTP 500 ({said})")
        if status == 429 or status >= 500 or status == 408:
            return TransientError(
                f"{where}: HTTP {status} ({said})",
                kind=str(status),
                retry_after=_retry_after(exc.response.headers),
            )
        if status == 404:
            model = f"model {request.model!r}" if request else "the model"
            return RequestRejected(
                f"{where}: HTTP 404 ({said}). Check {model} and the base URL "
                "(OPENAI_BASE_URL; it usually ends in /v1)",
                setting="model",
            )
        if request is None:
            return RequestRejected(f"{where}: HTTP {status} ({said})")
        return PromptRejected(f"HTTP {status} ({said})")


def _refused_option(
    request: ChatRequest | None, status: int, said: str, where: str
) -> Exception | None:
    """The refusal of an option the endpoint does not support — a response format or token
    log-probabilities — that negotiation falls back from; None for any other error."""
    if request is None or status not in (400, 415, 422, 500, 501):
        return None
    words = said.lower()
    if request.top_logprobs and status != 415 and "logprob" in words:
        return LogprobsRejected(f"{where} refused token log-probabilities (HTTP {status}: {said})")
    if request.response_format != "text" and any(w in words for w in _FORMAT_WORDS):
        return FormatRejected(
            f"{where} refused response format {request.response_format!r} (HTTP {status}: {said})"
        )
    return None


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return str(exc.message)


def _cause(exc: Exception) -> str:
    cause = exc.__cause__ or exc.__context__
    return type(cause).__name__ if cause is not None else "no response"


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if value := headers.get("retry-after-ms"):
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
