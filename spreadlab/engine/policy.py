"""The policy interface: who decides whether an exposed agent posts.

The round loop hands a policy one :class:`ConsultationBatch` per round (every consulted agent at
once) and gets one :class:`Decisions` back, so a vectorised model and a concurrent LLM client fit
the same loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from spreadlab.world.events import Event


@dataclass(frozen=True)
class FeedPost:
    """A neighbour's post as it appears in an agent's feed."""

    author: int
    round: int
    text: str


@dataclass(frozen=True)
class ConsultationBatch:
    """All agents consulted in one round, with what each of them sees.

    ``offline[i]`` says whether agent ``agents[i]`` was reached by the offline report this round;
    ``m[i]`` is how many of its neighbours have posted (in earlier rounds). ``feed(agent)`` returns
    those neighbours' posts, newest first, and is only computed when a policy asks for it.
    """

    run_seed: int
    round: int
    agents: np.ndarray
    offline: np.ndarray
    m: np.ndarray
    profiles: np.ndarray
    event: Event
    feed: Callable[[int], list[FeedPost]]

    def __len__(self) -> int:
        return int(self.agents.size)


@dataclass
class Decisions:
    """A policy's answer for a batch, aligned with ``batch.agents``.

    ``valid[i]`` is False when the policy could not obtain a usable decision (an LLM reply that
    stayed unparseable); such an agent does not post, and ``reasons[i]`` says why.
    """

    post: np.ndarray
    texts: list[str | None] | None = None
    valid: np.ndarray | None = None
    reasons: list[str | None] | None = None

    def __post_init__(self) -> None:
        self.post = np.asarray(self.post, dtype=bool)
        if self.valid is None:
            self.valid = np.ones(self.post.size, dtype=bool)
        else:
            self.valid = np.asarray(self.valid, dtype=bool)
        if self.valid.size != self.post.size:
            raise ValueError("Decisions: 'valid' must align with 'post'")
        self.post &= self.valid


class Policy(Protocol):
    """Decides, for a batch of consultations, who posts."""

    backend: str

    def decide(self, batch: ConsultationBatch, rng: np.random.Generator) -> Decisions:
        """One decision per consulted agent. ``rng`` is the run's generator (the only randomness
        a policy may use, so runs replay from their seed)."""
        ...

    def provenance(self) -> dict[str, Any]:
        """What a reader needs to know where decisions came from (JSON-serialisable, no secrets)."""
        ...

    def prepare(self, profiles: np.ndarray, event: Event) -> None:
        """Called once per run before round 0 with every agent's profile."""
        ...
