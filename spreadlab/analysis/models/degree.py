"""Degree-based mean-field maps (dbmf, dbmf2): rivals for a known network with unequal degrees."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from spreadlab.analysis.models.base import QA, B, Model, Parameter, times
from spreadlab.analysis.models.maps import MeanFieldMap
from spreadlab.errors import ConfigError


class DegreeMap(Model):
    """Degree-based mean-field map with an offline term (a rival for a known network).

    Agents of degree d stay quiet in a round with probability (1 - qa)(1 - b·theta)^d, where
    theta = sum_d d·P(d)·i_d / <d> is the chance that a neighbour (reached along an edge) has
    posted (Pastor-Satorras & Vespignani 2001, in the simulator's discrete rounds). Hubs hear
    early and pass it on widely, which bends the curve as an offline rate does. Needs the network's
    degree sequence (:meth:`bind`); the parameters are per-round probabilities, like the maps.
    """

    name = "dbmf2"
    title = "Degree-based map with offline term"
    time = "discrete"
    equations = "s_d' = s_d*(1-qa)*(1-b*theta)^d,  theta = sum_d d P(d) i_d / <d>"
    params: ClassVar[tuple[Parameter, ...]] = (QA, B)
    needs_degrees: ClassVar[bool] = True

    def __init__(self, degree_counts: np.ndarray | None = None) -> None:
        self.degree_counts = degree_counts

    def bind(self, degree_counts: np.ndarray) -> DegreeMap:
        """This model on a network whose ``degree_counts[d]`` agents have degree d."""
        counts = np.asarray(degree_counts, dtype=float)
        if counts.ndim != 1 or counts.sum() <= 0 or np.any(counts < 0):
            raise ConfigError(f"model {self.name}: give the number of agents of each degree")
        return type(self)(counts)

    def _classes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.degree_counts is None:
            raise ConfigError(
                f"model {self.name} needs the network's degree sequence; fit stored runs (their "
                "edges are stored) or give the degrees"
            )
        d = np.flatnonzero(self.degree_counts).astype(float)
        share = self.degree_counts[d.astype(int)] / self.degree_counts.sum()
        return d, share, d * share / max(float(d @ share), 1e-300)

    def log_susceptible(
        self, theta: np.ndarray, rounds: int, i0: np.ndarray, k: float
    ) -> np.ndarray:
        qa, b = theta
        return self._iterate(float(qa), float(b), rounds, i0)

    def _iterate(self, qa: float, b: float, rounds: int, i0: np.ndarray) -> np.ndarray:
        times(rounds)
        d, share, edge_share = self._classes()
        log_s = np.repeat(np.log1p(-i0)[:, None], d.size, axis=1)
        out = np.empty((i0.size, rounds + 1))
        out[:, 0] = np.log1p(-i0)
        log_q = math.log1p(-qa)
        for t in range(1, rounds + 1):
            theta = -np.expm1(log_s) @ edge_share
            log_s = log_s + log_q + np.log1p(-b * theta)[:, None] * d[None, :]
            out[:, t] = np.log(np.exp(log_s) @ share)
        return out

    def start_values(self, intercept: float, slope: float, k: float) -> list[np.ndarray]:
        return MeanFieldMap.start_values(self, intercept, slope, k)  # type: ignore[arg-type]


class DegreeMap1(DegreeMap):
    """Degree-based mean-field map without offline term: network spread over unequal degrees."""

    name = "dbmf"
    title = "Degree-based map, online only"
    equations = "s_d' = s_d*(1-b*theta)^d"
    params = (B,)

    def log_susceptible(
        self, theta: np.ndarray, rounds: int, i0: np.ndarray, k: float
    ) -> np.ndarray:
        (b,) = theta
        return self._iterate(0.0, float(b), rounds, i0)

    def start_values(self, intercept: float, slope: float, k: float) -> list[np.ndarray]:
        rate = max(slope, 2 * intercept + slope, 1e-4) / k
        return [np.array([min(rate, 0.5)]), np.array([min(rate / 2, 0.5)])]
