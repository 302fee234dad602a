"""LLM agents: a small core chat call and composable layers around it (Concordia-style).

``openai_chat`` (one HTTP attempt through the ``openai`` SDK) is wrapped, inside out, by
``retry`` (bounded backoff), ``limit`` (concurrency), ``preflight`` (one endpoint check),
``accounting`` (usage and budget), ``cache`` (DuckDB replay) and ``negotiate`` (response format);
``policy`` builds prompts, runs a round's consultations concurrently and parses the replies.
``scripted`` has models without HTTP for tests.

The names below are imported on first use, so importing one light module of this package (the
command line's ``llm.base`` for its flags) does not load the policy, asyncio and the reply cache.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spreadlab.llm.accounting import Budget
    from spreadlab.llm.config import LLMConfig, Secret
    from spreadlab.llm.estimate import RunEstimate, estimate_run
    from spreadlab.llm.policy import LLMPolicy

_HOMES = {
    "Budget": "accounting",
    "LLMConfig": "config",
    "Secret": "config",
    "RunEstimate": "estimate",
    "estimate_run": "estimate",
    "LLMPolicy": "policy",
}

__all__ = ["Budget", "LLMConfig", "LLMPolicy", "RunEstimate", "Secret", "estimate_run"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'spreadlab.llm' has no attribute {name!r}")
    return getattr(importlib.import_module(f"spreadlab.llm.{_HOMES[name]}"), name)
