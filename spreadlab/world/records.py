"""What a run leaves behind: every round's consultations and the run as a whole.

Plain records, produced by the engine and read by the analysis and the store; they live with the
facts so that neither reader has to import the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spreadlab.world.networks import Network


@dataclass
class RoundRecord:
    """Every consultation of one round (arrays aligned with ``agents``) plus round totals."""

    round: int
    agents: np.ndarray
    offline: np.ndarray
    m: np.ndarray
    post: np.ndarray
    valid: np.ndarray
    texts: list[str | None] | None
    reasons: list[str | None] | None
    informed: int

    @property
    def new_posters(self) -> int:
        return int(self.post.sum())

    @property
    def n_invalid(self) -> int:
        return int((~self.valid).sum())


@dataclass
class RunResult:
    """An in-memory run: its network, profiles and every round's record."""

    network: Network
    profiles: np.ndarray
    records: list[RoundRecord]

    @property
    def informed_curve(self) -> np.ndarray:
        """Number informed after each round 0, 1, ..., last."""
        return np.array([rec.informed for rec in self.records], dtype=np.int64)

    @property
    def informed_fraction(self) -> np.ndarray:
        return self.informed_curve / self.network.n
