"""The messages an LLM agent receives, and the JSON schema of its answer.

System message: the persona
(:func:`spreadlab.world.personas.persona_text`) and the answer format. User
message: the news report when the offline channel reached the agent this round; how many people it
follows have posted, and the newest ``feed_size`` of their posts, each cut to ``post_chars``
characters; then the question. The JSON instructions are always in the prompt, so every response
format (structured or plain text) sees the same messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spreadlab.engine.policy import FeedPost
from spreadlab.errors import ConfigError
from spreadlab.world.events import Event
from spreadlab.world.personas import persona_text

PROMPT_VERSION = "1"
DECISION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"post": {"type": "boolean"}, "text": {"type": "string"}},
    "required": ["post", "text"],
    "additionalProperties": False,
}
INSTRUCTIONS = (
    "You decide whether to write a post about the news below on the social network. Answer with "
    'one JSON object and nothing else: {"post": true, "text": "<your post, at most '
    '{chars} characters>"} if you post, or {"post": false, "text": ""} if you do not.'
)


@dataclass(frozen=True)
class PromptSettings:
    """How much of the feed an agent sees (posts, characters per post)."""

    feed_size: int = 10
    post_chars: int = 280

    def __post_init__(self) -> None:
        if self.feed_size < 0:
            raise ConfigError(
                f"feed_size = {self.feed_size}: show 0 or more posts", setting="feed_size"
            )
        if self.post_chars < 20:
            raise ConfigError(f"post length {self.post_chars}: allow at least 20 characters")


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked with an ellipsis when cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def build_messages(
    profile: int,
    event: Event,
    offline: bool,
    m: int,
    feed: list[FeedPost],
    settings: PromptSettings,
) -> tuple[tuple[str, str], ...]:
    """The (role, content) messages for one consultation; ``feed`` is newest first."""
    system = f"{persona_text(profile)}\n\n" + INSTRUCTIONS.replace(
        "{chars}", str(settings.post_chars)
    )
    parts = []
    if offline:
        parts.append(f"News report you read today — {event.title}:\n{event.report}")
    if m > 0:
        who = "person you follow has" if m == 1 else "people you follow have"
        shown = feed[: settings.feed_size]
        header = f"{m} {who} posted about it."
        if shown:
            header += " Their most recent posts, newest first:"
        lines = [
            f"- (round {p.round}) {truncate(p.text, settings.post_chars) or '(no text)'}"
            for p in shown
        ]
        parts.append("\n".join([header, *lines]))
    parts.append("Do you post about this? Answer with the JSON object only.")
    return (("system", system), ("user", "\n\n".join(parts)))
