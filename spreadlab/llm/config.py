"""LLM settings from the environment and command-line flags, checked before a run starts.

``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` come from the environment (flags ``--api-key`` and
``--base-url`` override them); the key lives only in memory, wrapped in :class:`Secret` so it
never shows in a repr, a log line or a traceback's locals.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from spreadlab.errors import ConfigError
from spreadlab.llm.accounting import Budget
from spreadlab.llm.base import RESPONSE_FORMATS
from spreadlab.llm.estimate import load_prices, price_for
from spreadlab.llm.openai_chat import endpoint_host, endpoint_url
from spreadlab.llm.prompt import PromptSettings
from spreadlab.settings import DEFAULT_MODEL, MODEL_ENV

OPENAI_URL = "https://api.openai.com/v1"
NO_KEY = "no-key"  # what local servers (Ollama, vLLM, llama.cpp) get when no key is set


class Secret:
    """A string that prints as ``***``; ``reveal()`` returns it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class LLMConfig:
    """Everything the LLM backend needs. Units: ``timeout`` and delays in seconds."""

    model: str
    base_url: str = OPENAI_URL
    api_key: Secret | None = field(default=None, repr=False)
    temperature: float = 0.7
    max_concurrency: int = 16
    budget: Budget = field(default_factory=Budget)
    max_reply_tokens: int = 200
    timeout: float = 60.0
    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    parse_attempts: int = 3
    prompt: PromptSettings = field(default_factory=PromptSettings)
    response_format: str = "auto"
    max_invalid_rate: float = 0.25

    def __post_init__(self) -> None:
        endpoint_url(self.base_url)  # raises a ConfigError naming OPENAI_BASE_URL / base_url
        if not self.model.strip():
            raise ConfigError(
                f"no model given: name one (e.g. {DEFAULT_MODEL}, or llama3.2 for Ollama)",
                setting="model",
            )
        if self.api_key is None and urlsplit(self.base_url).hostname == "api.openai.com":
            raise ConfigError(
                "no API key for OpenAI: set OPENAI_API_KEY (or give an API key), or point "
                "OPENAI_BASE_URL / the base URL at a local server such as Ollama "
                "(http://localhost:11434/v1)",
                setting="api_key",
            )
        if not 0 <= self.temperature <= 2:
            raise ConfigError(
                f"temperature = {self.temperature}: use a value in [0, 2]", setting="temperature"
            )
        if self.max_concurrency < 1:
            raise ConfigError(
                f"max_concurrency = {self.max_concurrency}: use 1 or more",
                setting="max_concurrency",
            )
        if self.max_reply_tokens < 16:
            raise ConfigError(
                f"max_reply_tokens = {self.max_reply_tokens}: allow at least 16",
                setting="max_reply_tokens",
            )
        if self.timeout <= 0 or self.max_attempts < 1 or self.parse_attempts < 1:
            raise ConfigError("timeout, max attempts and parse attempts must be positive")
        if not 0 <= self.max_invalid_rate <= 1:
            raise ConfigError(
                f"max_invalid_rate = {self.max_invalid_rate}: use a fraction in [0, 1] "
                "(0.25 = 25%)",
                setting="max_invalid_rate",
            )
        if self.response_format != "auto" and self.response_format not in RESPONSE_FORMATS:
            raise ConfigError(
                f"response_format = {self.response_format!r}: use auto or one of "
                f"{', '.join(RESPONSE_FORMATS)}",
                setting="response_format",
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **flags: Any) -> LLMConfig:
        """Settings from ``env`` (default ``os.environ``), overridden by non-None ``flags``.

        ``flags`` may hold ``api_key`` and ``base_url`` (plain strings), ``max_calls``,
        ``max_tokens`` and ``max_cost`` (the budget; a cost is priced by the model's row in the
        ``prices`` table, default the bundled one), ``feed_size`` and ``post_chars`` (the prompt),
        and any other field of this class.
        """
        env = os.environ if env is None else env
        given = {k: v for k, v in flags.items() if v is not None}
        key = given.pop("api_key", None) or env.get("OPENAI_API_KEY") or None
        base_url = given.pop("base_url", None) or env.get("OPENAI_BASE_URL") or OPENAI_URL
        given.setdefault("model", env.get(MODEL_ENV, DEFAULT_MODEL))
        max_cost, prices = given.pop("max_cost", None), given.pop("prices", None)
        budget = Budget(
            given.pop("max_calls", None),
            given.pop("max_tokens", None),
            max_cost,
            _price(given["model"], prices) if max_cost is not None else None,
        )
        prompt = PromptSettings(
            **{k: given.pop(k) for k in ("feed_size", "post_chars") if k in given}
        )
        return cls(
            base_url=base_url,
            api_key=Secret(key) if key else None,
            budget=budget,
            prompt=prompt,
            **given,
        )

    @property
    def key_for_client(self) -> str:
        return self.api_key.reveal() if self.api_key else NO_KEY

    def settings(self) -> dict[str, Any]:
        """The settings that shape decisions, for provenance (no key, no URL query or user)."""
        return {
            "endpoint": endpoint_url(self.base_url),
            "endpoint_host": endpoint_host(self.base_url),
            "model": self.model,
            "temperature": self.temperature,
            "max_reply_tokens": self.max_reply_tokens,
            "parse_attempts": self.parse_attempts,
            "response_format_setting": self.response_format,
            **{f"prompt_{k}": v for k, v in asdict(self.prompt).items()},
        }


def _price(model: str, prices: str | None) -> tuple[float, float] | None:
    """(prompt, completion) price per million tokens of ``model`` in the price table."""
    price = price_for(model, load_prices(prices))
    return None if price is None else (price.input_per_million, price.output_per_million)
