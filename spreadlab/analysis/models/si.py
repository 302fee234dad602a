"""SI-1, SI-2 and SI-2h: the continuous-time models of the seed study, on the informed
fraction alone (SI-2h: two classes of sharers)."""

from __future__ import annotations

import math

import numpy as np

from spreadlab.analysis.models.base import ALPHA, BETA, Model, Parameter, invert_clock, times


class SI2(Model):
    """SI-2, two rates (offline + online): di/dt = (alpha + beta·k·i)(1 - i), i(0) = i0.

    Closed form (a Bass-type diffusion curve): with p = alpha, r = beta·k, lambda = p + r and
    A = (r·i0 + p)/(1 - i0), the quantity (r·i + p)/(1 - i) grows as A·e^(lambda·t), so
    s(t) = 1 - i(t) = (r + p)·e^(-lambda·t) / (A + r·e^(-lambda·t)).
    """

    name = "si2"
    title = "SI-2: offline + online rates"
    time = "continuous"
    equations = "di/dt = (alpha + beta*k*i) * (1 - i)"
    params = (ALPHA, BETA)

    def log_susceptible(
        self, theta: np.ndarray, rounds: int, i0: np.ndarray, k: float
    ) -> np.ndarray:
        alpha, beta = theta
        return _bass_log_s(alpha, beta * k, times(rounds), i0[:, None])

    def start_values(self, intercept: float, slope: float, k: float) -> list[np.ndarray]:
        beta = max(slope / k, 1e-4)
        alpha = max(intercept, 1e-5)
        return [np.array([alpha, beta]), np.array([0.0, beta]), np.array([10 * alpha, beta / 2])]


def _bass_log_s(p: float, r: float, t: np.ndarray, i0: np.ndarray) -> np.ndarray:
    """log(1 - i) for di/dt = (p + r·i)(1 - i), written to avoid overflow and 0/0."""
    lam = p + r
    a = (r * i0 + p) / (1 - i0)
    return math.log(lam) - lam * t - np.log(a + r * np.exp(-lam * t))


class SI1(Model):
    """SI-1, one rate: di/dt = beta·k·i(1 - i), i(0) = i0 (SI-2 with alpha = 0).

    Closed form (logistic): i(t) = i0·e^(beta·k·t) / (1 - i0 + i0·e^(beta·k·t)).
    """

    name = "si1"
    title = "SI-1: one online rate"
    time = "continuous"
    equations = "di/dt = beta*k*i * (1 - i)"
    params = (BETA,)

    def log_susceptible(
        self, theta: np.ndarray, rounds: int, i0: np.ndarray, k: float
    ) -> np.ndarray:
        (beta,) = theta
        rt = beta * k * times(rounds)
        i0 = i0[:, None]
        # s = (1 - i0) / (1 - i0 + i0·e^(rt)); log-sum-exp form stays finite for large rt.
        return np.log1p(-i0) - np.logaddexp(np.log1p(-i0), np.log(i0) + rt)

    def start_values(self, intercept: float, slope: float, k: float) -> list[np.ndarray]:
        # the hazard's slope, or the rate matching the hazard at i = 1/2 (offline part included)
        rates = (max(slope, 1e-4), max(2 * intercept + slope, 1e-4))
        return [np.array([r / k]) for r in rates]


class SI2h(Model):
    """SI-2h, two classes: a fraction f of fast sharers (rate beta1), the rest slow (beta2).

    di1/dt = beta1·k·i·(f - i1), di2/dt = beta2·k·i·(1 - f - i2), i = i1 + i2; the agents
    informed at round 0 are spread over the classes in proportion (i1(0) = f·i0). With the
    "clock" sigma(t) = ∫ k·i dt each class is explicit,
    i_c = f_c - (f_c - i_c(0))·e^(-beta_c·sigma), so
    s = (1 - i0)·(f·e^(-beta1·sigma) + (1 - f)·e^(-beta2·sigma)), and sigma solves
    dsigma/dt = k·i(sigma). We invert t(sigma) = ∫ dsigma / (k·i(sigma)) by Gauss-Legendre
    quadrature on a geometric grid and cubic Hermite interpolation (exact slopes), accurate to
    ~1e-9 against an adaptive ODE solve and ~50x faster. By convention beta1 >= beta2.
    """

    name = "si2h"
    title = "SI-2h: two classes of sharers"
    time = "continuous"
    equations = "di1/dt = beta1*k*i*(f - i1);  di2/dt = beta2*k*i*(1 - f - i2);  i = i1 + i2"
    params = (
        Parameter(
            "f", "fraction of agents (0-1)", 1e-3, 1 - 1e-3, "logit", "share of fast sharers"
        ),
        Parameter(
            "beta1",
            "per round per informed neighbour (continuous rate)",
            1e-7,
            20.0,
            "log",
            "rate of the fast class (effective)",
        ),
        Parameter(
            "beta2",
            "per round per informed neighbour (continuous rate)",
            1e-7,
            20.0,
            "log",
            "rate of the slow class (effective)",
        ),
    )

    def log_susceptible(
        self, theta: np.ndarray, rounds: int, i0: np.ndarray, k: float
    ) -> np.ndarray:
        f, b1, b2 = theta
        t_out = times(rounds)[0]
        unique, inverse = np.unique(i0, return_inverse=True)
        rows = []
        for x0 in unique:
            if x0 == 0:  # nobody to pass the news on, and no offline channel
                rows.append(np.zeros(t_out.size))
                continue

            def log_g(sig: np.ndarray, x0: float = x0) -> np.ndarray:
                # log of s(sigma) = (1 - i0)·(f·e^(-b1·sigma) + (1 - f)·e^(-b2·sigma))
                return np.log1p(-x0) + np.logaddexp(
                    math.log(f) - b1 * sig, math.log1p(-f) - b2 * sig
                )

            def speed(sig: np.ndarray) -> np.ndarray:
                return -k * np.expm1(log_g(sig))  # dsigma/dt = k·i(sigma)

            sigma = invert_clock(speed, t_out, k * max(rounds, 1))
            rows.append(log_g(sigma))
        return np.vstack(rows)[inverse.reshape(-1)]

    def start_values(self, intercept: float, slope: float, k: float) -> list[np.ndarray]:
        beta = max(slope, 2 * intercept + slope, 1e-4) / k  # a mean rate; classes spread around it
        return [
            np.array([f, b1 * beta, b2 * beta])
            for f, b1, b2 in ((0.3, 2.5, 0.4), (0.5, 1.6, 0.4), (0.15, 4.0, 0.6), (0.7, 1.3, 0.3))
        ]
