"""Pair approximation on a k-regular graph, with and without the offline rate (continuous time)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from spreadlab.analysis.models.base import ALPHA, TAU, Model, Parameter, times


class PairApprox(Model):
    """Pair approximation on a k-regular graph, with an offline rate (Keeling 1999, extended).

    Equations, per agent, with [SI] the ordered susceptible-informed edge count and closure
    [ASB] ≈ ((k-1)/k)[AS][SB]/[S]:
        ds/dt    = -tau·[SI] - alpha·s
        d[SS]/dt = -2·tau·(k-1)/k·[SS][SI]/s - 2·alpha·[SS]
        d[SI]/dt = tau·(k-1)/k·([SS][SI] - [SI]^2)/s - tau·[SI] + alpha·([SS] - [SI])
    With u = [SS]/(k·s) (the probability that a neighbour of a susceptible is susceptible) this
    reduces to du/dt = -u·(alpha + c·(1 - u)), c = tau·(k - 2), a Riccati equation with the
    closed form 1/u = c/λ + (1/u0 - c/λ)·e^(λt), λ = alpha + c; and
    s(t) = s0·(u/u0)^(k/(k-2))·e^(2·alpha·t/(k-2)) (for k = 2: u = u0·e^(-alpha·t) and
    log(s/s0) = -tau·k·(t - u0·(1 - e^(-alpha·t))/alpha) - alpha·t).
    Informed agents at round 0 are placed at random, so u0 = 1 - i0.
    """

    name = "pair2"
    title = "Pair approximation with offline rate"
    time = "continuous"
    equations = "ds/dt = -tau*[SI] - alpha*s; pair equations closed by [ASB] = (k-1)/k [AS][SB]/[S]"
    params: ClassVar[tuple[Parameter, ...]] = (ALPHA, TAU)
    min_k = 2.0

    def log_susceptible(
        self, theta: np.ndarray, rounds: int, i0: np.ndarray, k: float
    ) -> np.ndarray:
        alpha, tau = theta
        return _pair_log_s(alpha, tau, k, times(rounds), i0[:, None])

    def start_values(self, intercept: float, slope: float, k: float) -> list[np.ndarray]:
        tau = max(slope / max(k - 2, 1.0), 1e-4)
        alpha = max(intercept, 1e-5)
        return [np.array([alpha, tau]), np.array([0.0, tau]), np.array([10 * alpha, tau / 2])]


def _pair_log_s(alpha: float, tau: float, k: float, t: np.ndarray, i0: np.ndarray) -> np.ndarray:
    log_s0 = np.log1p(-i0)
    u0 = 1 - i0
    c = tau * (k - 2)
    if abs(k - 2) < 1e-9:
        integral_u = u0 * (-np.expm1(-alpha * t) / alpha if alpha > 0 else t)
        return log_s0 - tau * k * (t - integral_u) - alpha * t
    lam = alpha + c
    ratio = c / lam
    # log w, w = 1/u = ratio + (1/u0 - ratio)·e^(lam·t), without overflow
    log_w = lam * t + np.log(ratio * np.exp(-lam * t) + 1 / u0 - ratio)
    log_u_ratio = -log_w - np.log(u0)
    return log_s0 + k / (k - 2) * log_u_ratio + 2 * alpha * t / (k - 2)


class Pair1(PairApprox):
    """Pair approximation without the offline term (alpha = 0): one rate, tau per edge.

    s(t) = s0·(u/u0)^(k/(k-2)) with 1/u = 1 + (1/u0 - 1)·e^(tau·(k-2)·t).
    """

    name = "pair"
    title = "Pair approximation, online only"
    equations = "pair approximation with alpha = 0"
    params = (TAU,)

    def log_susceptible(
        self, theta: np.ndarray, rounds: int, i0: np.ndarray, k: float
    ) -> np.ndarray:
        (tau,) = theta
        return _pair_log_s(0.0, tau, k, times(rounds), i0[:, None])

    def start_values(self, intercept: float, slope: float, k: float) -> list[np.ndarray]:
        # early growth runs at tau·(k - 2) on a pair-correlated graph, tau·k at the very start
        rate = max(slope, 2 * intercept + slope, 1e-4)
        return [np.array([rate / max(k - 2, 1.0)]), np.array([rate / k])]
