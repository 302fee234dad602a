"""The discrete-round maps: the simulator's round in expectation, mean-field and pair
approximation; their parameters are the simulator's own per-round probabilities."""

from __future__ import annotations

import math

import numpy as np

from spreadlab.analysis.models.base import QA, B, Model, times


class MeanFieldMap(Model):
    """Discrete-round mean-field map, the simulator's round in expectation:

    i' = i + (1 - i)·(1 - (1 - qa)·(1 - b·i)^k).
    A susceptible with m posting neighbours stays quiet with probability (1 - qa)(1 - b)^m; the
    map replaces (1 - b)^m by its mean over m ~ Binomial(k, i), which is (1 - b·i)^k.
    Parameters are the simulator's per-round probabilities: qa = q·a, b.
    """

    name = "mf_map"
    title = "Discrete mean-field map"
    time = "discrete"
    equations = "i' = i + (1 - i) * (1 - (1 - qa) * (1 - b*i)^k)"
    params = (QA, B)

    def log_susceptible(
        self, theta: np.ndarray, rounds: int, i0: np.ndarray, k: float
    ) -> np.ndarray:
        qa, b = theta
        return _iterate_map(qa, b, k, rounds, i0, pair=False)

    def start_values(self, intercept: float, slope: float, k: float) -> list[np.ndarray]:
        b = min(max(slope / k, 1e-4), 0.5)
        qa = min(max(intercept, 1e-5), 0.5)
        return [np.array([qa, b]), np.array([0.0, b]), np.array([min(10 * qa, 0.5), b / 2])]


class PairMap(MeanFieldMap):
    """Discrete-round pair-approximation map on a k-regular graph, tracking (S, I, [SS], [SI]).

    Each neighbour of a susceptible is taken to be informed independently with probability
    phi = [SI]/(k·S) (chain-binomial update). With r = (1 - qa)(1 - b·phi)^(k-1), the chance that a
    susceptible with one given susceptible neighbour stays susceptible:
        S' = S·(1 - qa)(1 - b·phi)^k
        [SS]' = [SS]·r^2
        [SI]' = [SI]·r·(1 - b) + [SS]·r·(1 - r)
    which keeps k·S' = [SS]' + [SI]'. In u = 1 - phi = [SS]/(k·S):
    u' = u·(1 - qa)(1 - b·(1 - u))^(k-2). Informed agents at round 0 are placed at random
    (phi0 = i0). Parameters are the simulator's per-round probabilities: qa = q·a, b.
    """

    name = "pair_map"
    title = "Discrete pair-approximation map"
    equations = "S' = S*(1-qa)*(1-b*phi)^k, phi = [SI]/(k S); [SS]' = [SS] r^2, [SI]' = ..."

    def log_susceptible(
        self, theta: np.ndarray, rounds: int, i0: np.ndarray, k: float
    ) -> np.ndarray:
        qa, b = theta
        return _iterate_map(qa, b, k, rounds, i0, pair=True)


def _iterate_map(
    qa: float, b: float, k: float, rounds: int, i0: np.ndarray, *, pair: bool
) -> np.ndarray:
    """log s after each round of the mean-field (pair=False) or pair map, one row per i0.

    Iterates on Python floats (one unique i0 at a time): ~20x faster than numpy on tiny arrays.
    """
    times(rounds)
    log_q = math.log1p(-qa)
    unique, inverse = np.unique(i0, return_inverse=True)
    out = np.empty((unique.size, rounds + 1))
    for row, x0 in enumerate(unique):
        log_s = math.log1p(-x0)
        log_u = log_s  # pair map: u0 = 1 - i0; mean-field map: the neighbour state is s itself
        out[row, 0] = log_s
        for t in range(1, rounds + 1):
            x = math.log1p(-b * -math.expm1(log_u))  # log(1 - b·phi)
            log_s += log_q + k * x
            log_u = log_u + log_q + (k - 2) * x if pair else log_s
            out[row, t] = log_s
    return out[inverse.reshape(-1)]
