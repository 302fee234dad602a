"""The LLM flags of ``spreadlab run``, ``resume`` and ``calibrate``, and where the LLM layers'
messages go on the command line (standard error)."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from spreadlab.llm.base import RESPONSE_FORMATS
from spreadlab.settings import DEFAULT_MODEL

_OPTIONS = [
    click.option("--model", help=f"LLM model name (env SPREADLAB_MODEL; default {DEFAULT_MODEL})."),
    click.option(
        "--base-url",
        help="OpenAI-compatible endpoint (env OPENAI_BASE_URL; default "
        "OpenAI), e.g. http://localhost:11434/v1 for Ollama.",
    ),
    click.option(
        "--api-key",
        help="API key (prefer the OPENAI_API_KEY environment variable: "
        "command lines are visible to other users of the machine).",
    ),
    click.option("--temperature", type=float, help="Sampling temperature [default: 0.7]."),
    click.option("--max-concurrency", type=int, help="Calls in flight at once [default: 16]."),
    click.option("--max-calls", type=int, help="Budget: stop (resumably) after this many calls."),
    click.option(
        "--max-tokens",
        type=int,
        help="Budget: stop (resumably) before this many prompt + completion tokens.",
    ),
    click.option(
        "--max-cost",
        type=float,
        help="Budget: stop (resumably) before this cost, priced by the price table (--prices).",
    ),
    click.option(
        "--max-reply-tokens", type=int, help="Completion tokens per reply [default: 200]."
    ),
    click.option("--feed-size", type=int, help="Posts shown per feed, newest first [default: 10]."),
    click.option("--post-chars", type=int, help="Characters kept per feed post [default: 280]."),
    click.option(
        "--response-format",
        type=click.Choice(["auto", *RESPONSE_FORMATS]),
        help="Force a response format instead of negotiating [default: auto].",
    ),
    click.option("--timeout", type=float, help="Seconds per HTTP attempt [default: 60]."),
    click.option(
        "--max-invalid",
        "max_invalid_rate",
        type=float,
        help="Stop (resumably) when more than this fraction of decisions is invalid "
        "[default: 0.25].",
    ),
    click.option(
        "--prices",
        type=click.Path(dir_okay=False),
        help="Price table CSV for cost estimates [default: the bundled spreadlab/data/prices.csv].",
    ),
]
_OPTION_NAMES = (
    "model",
    "base_url",
    "api_key",
    "temperature",
    "max_concurrency",
    "max_calls",
    "max_tokens",
    "max_cost",
    "max_reply_tokens",
    "feed_size",
    "post_chars",
    "response_format",
    "timeout",
    "max_invalid_rate",
    "prices",
)


def llm_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the LLM flags to a click command; they arrive together as ``llm_opts`` (a dict)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["llm_opts"] = {name: kwargs.pop(name) for name in _OPTION_NAMES}
        return command(*args, **kwargs)

    for option in reversed(_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def echo_note(text: str) -> None:
    """A policy note (:data:`spreadlab.jobs.policies.Note`) on standard error."""
    click.echo(text, err=True)


@contextmanager
def llm_log_to_stderr() -> Iterator[None]:
    """While the block runs, warnings of the LLM layers (retries, refusals) go to standard error
    as ``spreadlab.llm: ...`` lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("spreadlab.llm: %(message)s"))
    logger = logging.getLogger("spreadlab.llm")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.removeHandler(handler)
