"""The policy interface: who decides whether an exposed agent posts.

The round loop hands a policy one :class:`ConsultationBatch` per round (every consulted agent at
once) and gets one :class:`Decisions` back, so a vectorised model and a concurrent LLM client fit
the same loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from spreadlab.errors import ConfigError
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


@dataclass(init=False)
class Decisions:
    """A policy's answer for a batch, aligned with ``batch.agents``.

    ``valid[i]`` is False when the policy could not obtain a usable decision (an LLM reply that
    stayed unparseable); such an agent does not post, and ``reasons[i]`` says why. Leaving
    ``valid`` out makes every decision valid. ``p_post`` is the probability of posting the policy
    reported with each decision (NaN where it has none; None for a policy that never does), e.g.
    an LLM's token log-probabilities.
    """

    post: np.ndarray
    texts: list[str | None] | None
    valid: np.ndarray
    reasons: list[str | None] | None
    p_post: np.ndarray | None

    def __init__(
        self,
        post: np.ndarray,
        texts: list[str | None] | None = None,
        valid: np.ndarray | None = None,
        reasons: list[str | None] | None = None,
        p_post: np.ndarray | None = None,
    ) -> None:
        self.post = np.asarray(post, dtype=bool)
        self.texts = texts
        self.valid = (
            np.ones(self.post.size, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
        )
        self.reasons = reasons
        self.p_post = None if p_post is None else np.asarray(p_post, dtype=float)
        if self.valid.size != self.post.size:
            raise ConfigError(
                f"Decisions: 'valid' has {self.valid.size} entries for {self.post.size} in 'post'; "
                "a policy must answer once per consulted agent"
            )
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


@runtime_checkable
class PostProbability(Protocol):
    """An optional capability of a policy: the probability that each agent posts, known without
    consulting anyone. The round loop uses it to stop when nobody left can post, and the
    vectorised replicate engine draws every decision from it."""

    def post_probability(
        self, agents: np.ndarray, offline: np.ndarray, m: np.ndarray
    ) -> np.ndarray:
        """P(post) of each of ``agents``, reached offline or not, with ``m`` posting neighbours."""
        ...


@runtime_checkable
class ProbabilisticPolicy(Policy, PostProbability, Protocol):
    """A policy whose decisions are independent draws with :meth:`post_probability` (the
    stochastic agent model): what the vectorised replicate engine needs."""
