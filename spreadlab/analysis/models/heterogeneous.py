"""Heterogeneous rivals: gamma-distributed susceptibility (SI-1g, SI-2g), which bends the curve
as an offline rate does without any offline channel."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from spreadlab.analysis.models.base import (
    ALPHA,
    BETA,
    Model,
    Parameter,
    V,
    invert_clock,
    times,
)


class SI2Gamma(Model):
    """SI-2g, offline + online rates with gamma-distributed susceptibility (a rival, no network).

    Agent j's hazard is x_j·(alpha + beta·k·i), x ~ Gamma(mean 1, variance v): agents differ in
    how readily they share (personality, or degree seen as susceptibility). With the cumulative
    force Λ(t) = ∫(alpha + beta·k·i)dt, s = (1 - i0)·(1 + v·Λ)^(-1/v) (v = 0: e^(-Λ)) and
    dΛ/dt = alpha + beta·k·(1 - s(Λ)), solved by the clock inversion of SI-2h. The depletion of
    the most susceptible bends the curve as an offline rate does, which is why a curve alone
    cannot tell the two apart (docs/models.md, "Identifiability").
    """

    name = "si2g"
    title = "SI-2g: offline + online, agents differ in susceptibility"
    time = "continuous"
    equations = "s = (1-i0)(1 + v*L)^(-1/v),  dL/dt = alpha + beta*k*i"
    params: ClassVar[tuple[Parameter, ...]] = (ALPHA, BETA, V)

    def log_susceptible(
        self, theta: np.ndarray, rounds: int, i0: np.ndarray, k: float
    ) -> np.ndarray:
        alpha, beta, v = theta
        return _frailty_log_s(alpha, beta * k, v, rounds, i0)

    def start_values(self, intercept: float, slope: float, k: float) -> list[np.ndarray]:
        beta = max(slope / k, 1e-4)
        alpha = max(intercept, 1e-5)
        return [np.array([alpha, beta * f, v]) for f, v in ((1.0, 0.5), (1.5, 2.0), (1.0, 0.0))]


class SI1Gamma(SI2Gamma):
    """SI-1g, one online rate with gamma-distributed susceptibility: SI-2g with alpha = 0.

    The rival that mimics a second rate: network spread only, among agents who differ.
    """

    name = "si1g"
    title = "SI-1g: one online rate, agents differ in susceptibility"
    equations = "s = (1-i0)(1 + v*L)^(-1/v),  dL/dt = beta*k*i"
    params = (BETA, V)

    def log_susceptible(
        self, theta: np.ndarray, rounds: int, i0: np.ndarray, k: float
    ) -> np.ndarray:
        beta, v = theta
        return _frailty_log_s(0.0, beta * k, v, rounds, i0)

    def start_values(self, intercept: float, slope: float, k: float) -> list[np.ndarray]:
        rate = max(slope, 2 * intercept + slope, 1e-4) / k
        return [np.array([rate * f, v]) for f, v in ((1.0, 0.5), (2.0, 2.0), (1.0, 0.0))]


def _frailty_log_s(alpha: float, r: float, v: float, rounds: int, i0: np.ndarray) -> np.ndarray:
    """log s(t) of the gamma-frailty SI model: offline rate ``alpha``, online ``r = beta·k``."""
    t_out = times(rounds)[0]
    unique, inverse = np.unique(i0, return_inverse=True)
    rows = []
    for x0 in unique:
        if x0 == 0 and alpha == 0:  # nobody to pass the news on, and no offline channel
            rows.append(np.zeros(t_out.size))
            continue

        def log_g(lam: np.ndarray, x0: float = x0) -> np.ndarray:
            decay = np.log1p(v * lam) / v if v > 1e-9 else lam
            return math.log1p(-x0) - decay

        def speed(lam: np.ndarray) -> np.ndarray:
            return alpha - r * np.expm1(log_g(lam))

        rows.append(log_g(invert_clock(speed, t_out, (alpha + r) * max(rounds, 1))))
    return np.vstack(rows)[inverse.reshape(-1)]
