"""The likelihood of a model's informed curves, and its maximum.

``binomial``: in round t each of the S(t-1) agents still susceptible posts with probability
p_t = 1 - exp(-H_t), H_t the model's hazard over the round, taken along the model trajectory from
the replicate's own round-0 count. ``conditional``: the hazard one round ahead from the fraction
observed at the start of each round. ``lsq``: least squares on the informed fraction, with its
Gaussian likelihood (variance profiled out). The optimisation runs in transformed coordinates
(log rates, logit fractions, scaled linear parameters), see :class:`Transform`.
"""

from __future__ import annotations

import math

import numpy as np

from spreadlab.analysis.curves import Curves
from spreadlab.analysis.methods import Method
from spreadlab.analysis.models import Model
from spreadlab.analysis.optimise import is_local_min, minimize
from spreadlab.lazy import lazy_import

# scipy takes about a second to import: loaded by the first fit, not by every command
special = lazy_import("scipy.special")

CONDITIONAL_MODELS: tuple[str, ...] = ("si1", "si2", "mf_map")
"""Models whose whole state is the informed fraction, so one round can be predicted from the
observed fraction alone (the ``conditional`` likelihood)."""
PENALTY = 1e12
"""Objective value standing in for an impossible parameter point."""


def pearson_dispersion(y: np.ndarray, trials: np.ndarray, p: np.ndarray, n_params: int) -> float:
    """Pearson X² of binomial counts ``y`` of ``trials`` with probabilities ``p`` over its degrees
    of freedom (cells with any variance, less ``n_params``), at least 1: how much more the counts
    vary than binomial rounds would (the quasi-likelihood dispersion)."""
    var = trials * p * (1 - p)
    keep = (trials > 0) & (var > 1e-12)
    pearson = float(np.sum((y[keep] - trials[keep] * p[keep]) ** 2 / var[keep]))
    free = max(int(keep.sum()) - n_params, 1)
    return max(pearson / free, 1.0)


class Transform:
    """Maps a model's parameters to an unbounded-ish, well-scaled optimisation vector x."""

    def __init__(self, model: Model, scale: np.ndarray) -> None:
        self.model = model
        self.scale = scale
        lo, hi = [], []
        for p, s in zip(model.params, scale, strict=True):
            lo.append(self._to_x(p.scale, p.lower, s))
            hi.append(self._to_x(p.scale, p.upper, s))
        self.bounds = list(zip(lo, hi, strict=True))

    @staticmethod
    def _to_x(kind: str, value: float, s: float) -> float:
        if kind == "log":
            return math.log(value)
        if kind == "logit":
            return math.log(value / (1 - value))
        return value / s

    def to_x(self, theta: np.ndarray) -> np.ndarray:
        return np.array(
            [
                self._to_x(p.scale, float(v), s)
                for p, v, s in zip(self.model.params, theta, self.scale, strict=True)
            ]
        )

    def to_theta(self, x: np.ndarray) -> np.ndarray:
        out = np.empty(len(x))
        for j, (p, s) in enumerate(zip(self.model.params, self.scale, strict=True)):
            if p.scale == "log":
                out[j] = math.exp(x[j])
            elif p.scale == "logit":
                out[j] = 1 / (1 + math.exp(-x[j]))
            else:
                out[j] = x[j] * s
            out[j] = min(max(out[j], p.lower), p.upper)
        return out

    def clip(self, x: np.ndarray) -> np.ndarray:
        lo, hi = np.array(self.bounds).T
        return np.clip(x, lo, hi)


class Objective:
    """The log-likelihood of one method on one data set, as a function of theta."""

    def __init__(self, model: Model, data: Curves, method: Method) -> None:
        self.model, self.data, self.method = model, data, method
        counts = data.counts
        self.i0 = counts[:, 0] / data.n
        y = np.diff(counts, axis=1).astype(float)
        trials = (data.n - counts[:, :-1]).astype(float)
        self.hit = y > 0  # rounds with new posters
        self.y_hit = y[self.hit]
        self.quiet = trials - y  # agents who stayed susceptible (0 where nobody was left)
        self.obs = data.fractions[:, 1:]
        # conditional: each round starts from the observed fraction (clamped where nobody is
        # left, a cell with no trials and no weight)
        self.start = np.minimum(counts[:, :-1] / data.n, 1 - 0.5 / data.n).ravel()
        if method != "lsq":
            self.n_obs = int((trials > 0).sum())
            log_choose = (
                special.gammaln(trials + 1)
                - special.gammaln(y + 1)
                - special.gammaln(self.quiet + 1)
            )
            self.const = float(log_choose.sum())
        else:
            self.n_obs = int(self.obs.size)
            self.const = 0.0

    def log_s(self, theta: np.ndarray) -> np.ndarray:
        # a start value or optimiser step may leave the model's domain (log 0, inf - inf); the
        # likelihood below turns such values into -inf, so the floating-point warnings are noise
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return self.model.log_susceptible(theta, self.data.rounds, self.i0, self.data.k)

    def hazard(self, theta: np.ndarray) -> np.ndarray:
        """Per-round hazard, shape (replicates, rounds), kept finite so that 0 agents x infinite
        hazard counts 0. ``binomial``: along the model's own trajectory from round 0;
        ``conditional``: one round ahead from the fraction observed at the start of each round."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.method == "conditional":
                step = self.model.log_susceptible(theta, 1, self.start, self.data.k)
                raw = (step[:, 0] - step[:, 1]).reshape(self.data.replicates, self.data.rounds)
            else:
                log_s = self.log_s(theta)
                raw = log_s[:, :-1] - log_s[:, 1:]
            return np.clip(raw, 1e-300, 1e300)

    def loglik(self, theta: np.ndarray) -> float:
        if self.method != "lsq":
            hazard = self.hazard(theta)
            hits = float(self.y_hit @ np.log(-np.expm1(-hazard[self.hit])))
            value = hits - float(np.sum(self.quiet * hazard)) + self.const
        else:
            rss = float(np.sum((self.obs + np.expm1(self.log_s(theta)[:, 1:])) ** 2))
            m = self.n_obs
            value = -0.5 * m * (math.log(2 * math.pi * max(rss, 1e-300) / m) + 1)
        return value if math.isfinite(value) else -math.inf

    def dispersion(self, theta: np.ndarray) -> float:
        """Quasi-likelihood dispersion of the new posters per round (:func:`pearson_dispersion`)."""
        p = -np.expm1(-self.hazard(theta))
        trials = self.quiet + np.diff(self.data.counts, axis=1)
        return pearson_dispersion(trials - self.quiet, trials, p, len(self.model.params))

    def cell_logliks(self, theta: np.ndarray) -> np.ndarray:
        """Each round's own log-likelihood term (without the constant), over the rounds with
        anyone left to inform: the terms whose spread gives the sandwich variance."""
        hazard = self.hazard(theta)
        new = np.diff(self.data.counts, axis=1)
        with np.errstate(divide="ignore"):
            hits = np.where(new > 0, new * np.log(-np.expm1(-hazard)), 0.0)
        trials = self.quiet + new
        return (hits - self.quiet * hazard)[trials > 0]

    def fitted(self, theta: np.ndarray) -> np.ndarray:
        return -np.expm1(self.log_s(theta))


def hazard_regression(data: Curves) -> tuple[float, float]:
    """Intercept and slope of the empirical per-round hazard against the informed fraction."""
    y = np.diff(data.counts, axis=1).ravel().astype(float)
    trials = (data.n - data.counts[:, :-1]).ravel().astype(float)
    x = (data.counts[:, :-1] / data.n).ravel()
    keep = trials > 0
    y, trials, x = y[keep], trials[keep], x[keep]
    h = -np.log1p(-np.minimum(y / trials, 1 - 0.5 / trials))
    w = y + 0.5
    design = np.column_stack([np.ones_like(x), x]) * np.sqrt(w)[:, None]
    coef, *_ = np.linalg.lstsq(design, h * np.sqrt(w), rcond=None)
    return float(coef[0]), float(coef[1])


def maximise(
    model: Model, objective: Objective, data: Curves, extra: np.ndarray | None = None
) -> tuple[np.ndarray, bool, str, Transform]:
    """Multi-start L-BFGS-B in transformed coordinates; returns theta, converged, message.

    The two best of the model's data-driven start values are optimised (plus ``extra``, a point
    known to be good, when given) and the better optimum is kept.
    """
    intercept, slope = hazard_regression(data)
    lower = np.array([p.lower for p in model.params])
    upper = np.array([p.upper for p in model.params])
    starts = [np.clip(s, lower, upper) for s in model.start_values(intercept, slope, data.k)]
    scale = np.array(
        [
            max(max(abs(float(s[j])) for s in starts), 1e-3) if p.scale == "linear" else 1.0
            for j, p in enumerate(model.params)
        ]
    )
    transform = Transform(model, scale)
    values = [objective.loglik(s) for s in starts]
    chosen = [starts[i] for i in np.argsort(values)[::-1][:2]]
    if extra is not None:
        chosen.append(np.clip(extra, lower, upper))

    def negll(x: np.ndarray) -> float:
        v = objective.loglik(transform.to_theta(x))
        return -v if math.isfinite(v) else PENALTY

    best: tuple[float, np.ndarray, bool, str] | None = None
    for start in chosen:
        res = minimize(negll, transform.to_x(start), transform.bounds)
        ok = bool(res.success) or is_local_min(negll, res.x, transform.clip)
        theta = transform.to_theta(res.x)
        ll = objective.loglik(theta)
        if best is None or ll > best[0]:
            best = (ll, theta, ok, str(res.message))
    assert best is not None
    _, theta, ok, msg = best
    return theta, ok, "" if ok else f"optimiser did not converge: {msg}", transform
