"""The SI models fitted to a run's informed fraction i(t) (DESIGN.md, "The models fitted to a run").

Every model maps its parameters, the number of rounds, the network size ``N``, the degree ``k``
and the number informed after round 0 (``n0``) to the expected informed fraction after rounds
0, 1, ..., ``rounds``. Time is counted in rounds throughout.

Two families, with different units (DESIGN.md, "Units matter"):

* Continuous-time ODEs (SI-1, SI-2, SI-2h, pair approximation with and without the offline term),
  as in the seed study. Their parameters are *rates per round*; fitted to round data they are
  effective rates, not the simulator's probabilities.
* Discrete-round maps (mean-field map, pair-approximation map), the exact-time counterparts of the
  simulator. Their parameters are the simulator's own per-round probabilities ``q·a`` and ``b``.

Each model computes ``log s(t)``, the log of the susceptible fraction, because fitting needs the
per-round hazard ``H_t = log s(t-1) - log s(t)`` (a susceptible at the start of round t is
informed during it with probability ``1 - exp(-H_t)``) and ``1 - i`` loses precision near 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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

    def theta(self, params: Mapping[str, float] | Sequence[float]) -> np.ndarray:
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


def _times(rounds: int) -> np.ndarray:
    if rounds < 0:
        raise ConfigError(f"rounds = {rounds}: give 0 or more rounds")
    return np.arange(rounds + 1, dtype=float)[None, :]


_BETA = Parameter(
    "beta",
    "per round per informed neighbour (continuous rate)",
    1e-7,
    20.0,
    "log",
    "online transmission rate per informed neighbour (effective)",
)
_ALPHA = Parameter(
    "alpha",
    "per round (continuous rate)",
    0.0,
    5.0,
    "linear",
    "offline (exogenous) rate, independent of the network (effective)",
)
_TAU = Parameter(
    "tau",
    "per round per informed-susceptible edge (continuous rate)",
    1e-7,
    20.0,
    "log",
    "transmission rate along one edge from an informed to a susceptible agent (effective)",
)
_QA = Parameter(
    "qa",
    "probability per round",
    0.0,
    0.999,
    "linear",
    "q·a: probability that a susceptible is reached offline in a round and posts on it",
)
_B = Parameter(
    "b",
    "probability per round per posting neighbour",
    1e-7,
    0.999,
    "log",
    "probability that one posting neighbour makes a susceptible post in a round",
)


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
    params = (_ALPHA, _BETA)

    def log_susceptible(
        self, theta: np.ndarray, rounds: int, i0: np.ndarray, k: float
    ) -> np.ndarray:
        alpha, beta = theta
        return _bass_log_s(alpha, beta * k, _times(rounds), i0[:, None])

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
    params = (_BETA,)

    def log_susceptible(
        self, theta: np.ndarray, rounds: int, i0: np.ndarray, k: float
    ) -> np.ndarray:
        (beta,) = theta
        rt = beta * k * _times(rounds)
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
        t_out = _times(rounds)[0]
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

            sigma = _invert_clock(speed, t_out, k * max(rounds, 1))
            rows.append(log_g(sigma))
        return np.vstack(rows)[inverse.reshape(-1)]

    def start_values(self, intercept: float, slope: float, k: float) -> list[np.ndarray]:
        beta = max(slope, 2 * intercept + slope, 1e-4) / k  # a mean rate; classes spread around it
        return [
            np.array([f, b1 * beta, b2 * beta])
            for f, b1, b2 in ((0.3, 2.5, 0.4), (0.5, 1.6, 0.4), (0.15, 4.0, 0.6), (0.7, 1.3, 0.3))
        ]


def _invert_clock(speed, t_out: np.ndarray, sigma_max: float) -> np.ndarray:
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
    params = (_ALPHA, _TAU)
    min_k = 2.0

    def log_susceptible(
        self, theta: np.ndarray, rounds: int, i0: np.ndarray, k: float
    ) -> np.ndarray:
        alpha, tau = theta
        return _pair_log_s(alpha, tau, k, _times(rounds), i0[:, None])

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
    params = (_TAU,)

    def log_susceptible(
        self, theta: np.ndarray, rounds: int, i0: np.ndarray, k: float
    ) -> np.ndarray:
        (tau,) = theta
        return _pair_log_s(0.0, tau, k, _times(rounds), i0[:, None])

    def start_values(self, intercept: float, slope: float, k: float) -> list[np.ndarray]:
        # early growth runs at tau·(k - 2) on a pair-correlated graph, tau·k at the very start
        rate = max(slope, 2 * intercept + slope, 1e-4)
        return [np.array([rate / max(k - 2, 1.0)]), np.array([rate / k])]


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
    params = (_QA, _B)

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
    _times(rounds)
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


_V = Parameter(
    "v",
    "squared coefficient of variation (dimensionless)",
    0.0,
    50.0,
    "linear",
    "spread of susceptibility between agents (variance / mean^2 of a gamma distribution)",
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
    params = (_ALPHA, _BETA, _V)

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
    params = (_BETA, _V)

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
    t_out = _times(rounds)[0]
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

        rows.append(log_g(_invert_clock(speed, t_out, (alpha + r) * max(rounds, 1))))
    return np.vstack(rows)[inverse.reshape(-1)]


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
    params = (_QA, _B)
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
        _times(rounds)
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
    params = (_B,)

    def log_susceptible(
        self, theta: np.ndarray, rounds: int, i0: np.ndarray, k: float
    ) -> np.ndarray:
        (b,) = theta
        return self._iterate(0.0, float(b), rounds, i0)

    def start_values(self, intercept: float, slope: float, k: float) -> list[np.ndarray]:
        rate = max(slope, 2 * intercept + slope, 1e-4) / k
        return [np.array([min(rate, 0.5)]), np.array([min(rate / 2, 0.5)])]


MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        SI1(),
        SI2(),
        SI2h(),
        Pair1(),
        PairApprox(),
        MeanFieldMap(),
        PairMap(),
        SI1Gamma(),
        SI2Gamma(),
        DegreeMap1(),
        DegreeMap(),
    )
}
NESTED: dict[tuple[str, str], str] = {
    ("si1", "si2"): "alpha",
    ("pair", "pair2"): "alpha",
    ("si1g", "si2g"): "alpha",
    ("dbmf", "dbmf2"): "qa",
}
"""(one-rate model, two-rate model) -> the parameter fixed at 0 on the boundary."""


def get_model(name: str | Model) -> Model:
    """A model by its name (a key of :data:`MODELS`)."""
    if isinstance(name, Model):
        return name
    try:
        return MODELS[name.strip().lower()]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; choose from {', '.join(MODELS)}") from None
