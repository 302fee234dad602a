"""LLM agents: a small core chat call and composable layers around it (Concordia-style).

``openai_chat`` (one HTTP attempt through the ``openai`` SDK) is wrapped, inside out, by
``retry`` (bounded backoff), ``limit`` (concurrency), ``preflight`` (one endpoint check),
``accounting`` (usage and budget), ``cache`` (DuckDB replay) and ``negotiate`` (response format);
``policy`` builds prompts, runs a round's consultations concurrently and parses the replies.
``scripted`` has models without HTTP for tests.
"""

from spreadlab.llm.accounting import Budget
from spreadlab.llm.config import LLMConfig, Secret
from spreadlab.llm.estimate import RunEstimate, estimate_run
from spreadlab.llm.policy import LLMPolicy

__all__ = ["Budget", "LLMConfig", "LLMPolicy", "RunEstimate", "Secret", "estimate_run"]
