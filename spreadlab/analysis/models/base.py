"""What every model shares: parameters with units and bounds, the :class:`Model` interface, the
parameters several families use, and the clock inversion of the models without a closed form."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from spreadlab.errors import ConfigError

# Gauss-Legendre nodes and weights on [0, 1] for the SI-2h clock integral.
_GL_X, _GL_W = np.polynomial.legendre.leggauss(4)
_GL_X, _GL_W = (_GL_X + 1) / 2, _GL_W / 2
_CLOCK_CELLS = 240


OFFLINE_PARAMS = ("alpha", "qa")
"""Parameters of the offline channel: 0 means spread through the network only."""


@dataclass(frozen=True)
class Parameter:
    """One model parameter: its name, unit, admissible range and how the fitter transforms it.

    ``scale`` is ``"log"`` for strictly positive rates, ``"logit"`` for fractions in (0, 1) and
    ``"linear"`` for quantities that may be exactly 0 (an offline rate), so that the one-rate
    model is a point of the two-rate model's parameter space.
    """

    name: str
    unit: str
    lower: float
    upper: float
    scale: Literal["log", "logit", "linear"]
    description: str


class Model:
    """Common interface: parameters with units and bounds, and a prediction per round."""

    name: ClassVar[str]
    title: ClassVar[str]
    time: ClassVar[Literal["continuous", "discrete"]]
    equations: ClassVar[str]
    params: ClassVar[tuple[Parameter, ...]]
    min_k: ClassVar[float] = 0.0
    """Smallest admissible degree (inclusive); every model also needs k > 0."""
    needs_degrees: ClassVar[bool] = False
    """Whether the model needs the network's degree sequence (:meth:`bind`) besides k."""

    @property
    def has_offline_term(self) -> bool:
        """Whether news can reach agents from outside the network (an alpha or qa parameter)."""
        return any(p.name in OFFLINE_PARAMS for p in self.params)

    def bind(self, degree_counts: np.ndarray) -> Model:
        """This model for a network with ``degree_counts[d]`` agents of degree d (most models
        need only the mean degree and ignore it)."""
        return self

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def theta(self, params: Mapping[str, float] | Sequence[float] | np.ndarray) -> np.ndarray:
        """Parameter vector in the order of :attr:`params`, validated against the bounds."""
        if isinstance(params, Mapping):
            missing = [n for n in self.param_names if n not in params]
            extra = sorted(set(params) - set(self.param_names))
            if missing or extra:
                raise ConfigError(
                    f"model {self.name}: needs parameters {list(self.param_names)}"
                    + (f", missing {missing}" if missing else "")
                    + (f", unknown {extra}" if extra else "")
                )
            values = [float(params[n]) for n in self.param_names]
        else:
            values = [float(v) for v in params]
            if len(values) != len(self.params):
                raise ConfigError(
                    f"model {self.name}: {len(values)} values for parameters "
                    f"{list(self.param_names)}"
                )
        for p, v in zip(self.params, values, strict=True):
            if not (math.isfinite(v) and p.lower <= v <= p.upper):
                raise ConfigError(
                    f"model {self.name}: {p.name} = {v} is outside [{p.lower:g}, {p.upper:g}] "
                    f"({p.unit})"
                )
        return np.array(values)

    def predict(
        self,
        params: Mapping[str, float] | Sequence[float],
        rounds: int,
        n: int,
        k: float,
        n0: float | np.ndarray,
    ) -> np.ndarray:
        """Expected informed fraction after rounds 0..``rounds``.

        ``n0`` is the number informed after round 0 (scalar, or one value per replicate, which
        gives one row per replicate); ``n`` the number of agents, ``k`` the (mean) degree.
        """
        theta = self.theta(params)
        i0 = self.initial_fraction(n, n0)
        self.check_k(k)
        out = -np.expm1(self.log_susceptible(theta, int(rounds), i0, float(k)))
        return out[0] if np.ndim(n0) == 0 else out

    @staticmethod
    def initial_fraction(n: int, n0: float | np.ndarray) -> np.ndarray:
        """``n0 / n`` as a 1-D array, refusing counts outside (0, n)."""
        if n < 2:
            raise ConfigError(f"N = {n}: a network needs at least 2 agents")
        i0 = np.atleast_1d(np.asarray(n0, dtype=float)) / n
        if not np.all((i0 >= 0) & (i0 < 1)):
            raise ConfigError(
                f"n0 = {n0}: the number informed after round 0 must lie in [0, N = {n}); "
                "no model can start from everybody"
            )
        return i0

    def check_k(self, k: float) -> None:
        if not (math.isfinite(k) and k > 0 and k >= self.min_k):
            raise ConfigError(
                f"model {self.name} needs a degree k >= {max(self.min_k, 0):g} (and > 0), got {k}"
            )

    def log_susceptible(
        self, theta: np.ndarray, rounds: int, i0: np.ndarray, k: float
    ) -> np.ndarray:
        """``log s(t)`` for t = 0..rounds, one row per entry of ``i0`` (shape (len(i0), T+1))."""
        raise NotImplementedError

    def start_values(self, intercept: float, slope: float, k: float) -> list[np.ndarray]:
        """Candidate starting points for a fit.

        ``intercept`` and ``slope`` come from regressing the empirical per-round hazard on the
        informed fraction (``H ≈ intercept + slope·i``); ``slope / k`` estimates a per-neighbour
        rate, ``intercept`` an offline rate.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<model {self.name}: {self.title}>"


def times(rounds: int) -> np.ndarray:
    """Rounds 0..rounds as a row vector, refusing a negative number of rounds."""
    if rounds < 0:
        raise ConfigError(f"rounds = {rounds}: give 0 or more rounds")
    return np.arange(rounds + 1, dtype=float)[None, :]


BETA = Parameter(
    "beta",
    "per round per informed neighbour (continuous rate)",
    1e-7,
    20.0,
    "log",
    "online transmission rate per informed neighbour (effective)",
)
ALPHA = Parameter(
    "alpha",
    "per round (continuous rate)",
    0.0,
    5.0,
    "linear",
    "offline (exogenous) rate, independent of the network (effective)",
)
TAU = Parameter(
    "tau",
    "per round per informed-susceptible edge (continuous rate)",
    1e-7,
    20.0,
    "log",
    "transmission rate along one edge from an informed to a susceptible agent (effective)",
)
QA = Parameter(
    "qa",
    "probability per round",
    0.0,
    0.999,
    "linear",
    "q·a: probability that a susceptible is reached offline in a round and posts on it",
)
B = Parameter(
    "b",
    "probability per round per posting neighbour",
    1e-7,
    0.999,
    "log",
    "probability that one posting neighbour makes a susceptible post in a round",
)


V = Parameter(
    "v",
    "squared coefficient of variation (dimensionless)",
    0.0,
    50.0,
    "linear",
    "spread of susceptibility between agents (variance / mean^2 of a gamma distribution)",
)


def invert_clock(
    speed: Callable[[np.ndarray], np.ndarray], t_out: np.ndarray, sigma_max: float
) -> np.ndarray:
    """sigma at times ``t_out`` for dsigma/dt = speed(sigma), sigma(0) = 0, speed > 0.

    t(sigma) = ∫_0^sigma dx / speed(x) on a geometric grid (fine near 0, where the integrand is
    largest), 4-point Gauss-Legendre per cell; then sigma(t) by cubic Hermite interpolation with
    the exact slopes dsigma/dt = speed(sigma). ``sigma_max`` must satisfy t(sigma_max) >= max(t).
    """
    edges = np.concatenate([[0.0], np.geomspace(1e-9 * sigma_max, sigma_max, _CLOCK_CELLS)])
    width = np.diff(edges)
    nodes = edges[:-1, None] + width[:, None] * _GL_X[None, :]
    cell_t = (width[:, None] * _GL_W[None, :] / speed(nodes)).sum(axis=1)
    t_edges = np.concatenate([[0.0], np.cumsum(cell_t)])
    v = speed(edges)
    j = np.clip(np.searchsorted(t_edges, t_out, side="right") - 1, 0, edges.size - 2)
    h = t_edges[j + 1] - t_edges[j]
    x = (t_out - t_edges[j]) / h
    h00, h10 = (1 + 2 * x) * (1 - x) ** 2, x * (1 - x) ** 2
    h01, h11 = x**2 * (3 - 2 * x), x**2 * (x - 1)
    return h00 * edges[j] + h10 * h * v[j] + h01 * edges[j + 1] + h11 * h * v[j + 1]
