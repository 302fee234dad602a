"""Feed posts for calibration probes: posts of earlier LLM runs of each event, or neutral posts
written by SpreadLab where there are none."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from spreadlab.store.calibrations import llm_posts_of_event
from spreadlab.store.sharing import Connection
from spreadlab.world.events import Event

NEUTRAL_SOURCE = "neutral posts written by SpreadLab (no model wrote them)"
NEUTRAL_TEMPLATES: tuple[str, ...] = (
    "Just read the news: {title}.",
    "Seeing reports: {title}. Waiting for more details.",
    "{title} — does anyone know more?",
    "News update: {title}.",
)


@dataclass(frozen=True)
class PostBank:
    """Feed posts per event id, and where they came from."""

    posts: dict[str, tuple[str, ...]]
    sources: dict[str, str]

    def describe(self) -> str:
        return "; ".join(f"{eid}: {src}" for eid, src in self.sources.items())


def neutral_bank(events: Sequence[Event]) -> PostBank:
    """Fixed neutral posts naming each event's headline (labelled as written by SpreadLab)."""
    posts = {e.id: tuple(t.format(title=e.title) for t in NEUTRAL_TEMPLATES) for e in events}
    return PostBank(posts, {e.id: NEUTRAL_SOURCE for e in events})


def stored_bank(con: Connection, events: Sequence[Event], limit: int = 200) -> PostBank:
    """Posts of earlier runs of each event in the store (up to ``limit``, in a fixed order);
    events with none fall back to the neutral posts."""
    neutral = neutral_bank(events)
    posts, sources = dict(neutral.posts), dict(neutral.sources)
    for event in events:
        rows = llm_posts_of_event(con, event.id, limit)
        if rows:
            posts[event.id] = tuple(rows)
            sources[event.id] = f"{len(rows)} posts of earlier LLM runs of this event"
    return PostBank(posts, sources)
