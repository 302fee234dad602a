"""Confidence intervals for fitted model parameters.

``jackknife`` (delete one replicate run; calibrated on agent-based replicates), ``profile``
(the parameter values whose profile deviance stays below the chi-square quantile), ``quasi``
(the profile with each parameter's threshold widened by the counts' dispersion: the Pearson one
or, if larger, the parameter's sandwich ratio, :func:`robust_dispersions`) and ``bootstrap``
(parametric: seeded chain-binomial replicates of the fitted model, refitted, percentile limits).
The likelihood-based ones assume the binomial model: for agent-based runs (rounds are not
independent, replicates differ by a time shift) they are too narrow; :data:`MEASURED_COVERAGE`
says by how much.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from spreadlab.analysis.curves import Curves
from spreadlab.analysis.likelihood import PENALTY, Objective, Transform, maximise
from spreadlab.analysis.methods import Method
from spreadlab.analysis.models import Model
from spreadlab.analysis.optimise import derivatives, minimize, newton, put, signed_root
from spreadlab.analysis.synthetic import simulate_counts
from spreadlab.errors import FitError
from spreadlab.lazy import lazy_import

# scipy takes about a second to import: loaded by the first fit, not by every command
stats = lazy_import("scipy.stats")

MIN_JACKKNIFE_RUNS = 3
"""Fewest replicate runs for the replicate jackknife (the calibrated default)."""
Intervals = dict[str, tuple[float, float]]


MEASURED_COVERAGE: dict[str, str] = {
    "jackknife": "91-98%",
    "profile": "22-90%",
    "quasi": "97-99% of single series with binomial noise and 94-100% with overdispersed "
    "(negative-binomial, size 50 to 2) counts",
    "bootstrap": "42-65%",
}
"""Coverage of nominal 95% intervals measured on agent-based replicates (bench/validity.py and
docs/models.md, "Coverage"); filled in from the latest validation run."""


def interval_label(ci_method: str, n_runs: int, level: float = 0.95) -> str:
    """The interval method in words, with its measured coverage where it is not calibrated."""
    if ci_method == "none":
        return "no intervals"
    if ci_method == "jackknife":
        return (
            f"{level:.0%} jackknife over {n_runs} replicate runs (calibrated: covered the truth in "
            f"{MEASURED_COVERAGE['jackknife']} of simulated groups)"
        )
    if ci_method == "quasi":
        return (
            f"quasi-likelihood profile, nominal {level:.0%}, widened by the counts' dispersion: "
            f"it covered the truth in {MEASURED_COVERAGE['quasi']}"
        )
    name = {
        "profile": "profile likelihood",
        "bootstrap": "parametric bootstrap",
    }[ci_method]
    return (
        f"{name}, nominal {level:.0%} — not calibrated for agent-based runs: it covered the truth "
        f"in only {MEASURED_COVERAGE[ci_method]} of simulated cases; fit 3+ replicate runs for "
        "calibrated intervals"
    )


class BetterOptimum(Exception):
    """Raised by the profile search when it meets a better point than the reported optimum."""

    def __init__(self, theta: np.ndarray) -> None:
        super().__init__("better optimum found")
        self.theta = theta


def _negll(
    objective: Objective, transform: Transform, ll_max: float
) -> Callable[[np.ndarray], float]:
    """The log-likelihood's drop below ``ll_max`` at transformed point x (impossible: a penalty)."""

    def negll(x: np.ndarray) -> float:
        v = objective.loglik(transform.to_theta(transform.clip(x)))
        return ll_max - v if math.isfinite(v) else PENALTY

    return negll


def robust_dispersions(
    objective: Objective, transform: Transform, theta: np.ndarray, ll_max: float, level: float
) -> np.ndarray:
    """Per parameter, how much wider than binomial its interval must be: the sandwich variance
    H⁻¹JH⁻¹ (J the outer products of each round's score) over the model variance H⁻¹, times
    (t/z)² for the few rounds that carry the estimate.

    A constant dispersion (:meth:`Objective.dispersion`) averages the excess variance over all
    rounds, but negative-binomial counts vary in excess in proportion to their mean, so the busy
    rounds that pin down β vary far more than the average; the sandwich weighs each round as it
    counts. Its J rests on a handful of rounds, so the threshold takes a t quantile with their
    Satterthwaite degrees of freedom, (Σ a)²/Σ a², a = each round's share of the variance.
    """
    x_hat = transform.to_x(theta)
    negll = _negll(objective, transform, ll_max)

    cov = _inverse_hessian(negll, x_hat)
    h = 1e-5
    scores = np.array(
        [
            objective.cell_logliks(transform.to_theta(put(x_hat, j, x_hat[j] + h)))
            - objective.cell_logliks(transform.to_theta(put(x_hat, j, x_hat[j] - h)))
            for j in range(x_hat.size)
        ]
    ) / (2 * h)
    cells = scores.shape[1]
    shares = (cov @ scores) ** 2  # (parameters, rounds): each round's part of the sandwich
    sandwich = shares.sum(axis=1) * cells / max(cells - x_hat.size, 1)
    freedom = shares.sum(axis=1) ** 2 / np.maximum((shares**2).sum(axis=1), 1e-300)
    quantile = (1 + level) / 2
    small_sample = (stats.t.ppf(quantile, np.maximum(freedom, 1)) / stats.norm.ppf(quantile)) ** 2
    ratio = sandwich / np.diag(cov) * small_sample
    return np.where(np.isfinite(ratio), np.maximum(ratio, 1.0), 1.0)


def profile_intervals(
    objective: Objective,
    transform: Transform,
    theta: np.ndarray,
    ll_max: float,
    level: float,
    dispersion: float | np.ndarray = 1.0,
) -> tuple[Intervals, str]:
    """Profile-likelihood interval per parameter (the deviance threshold scaled by ``dispersion``,
    one value or one per parameter, for quasi-likelihood intervals).

    Solves r(x_j) = ±z for the signed root deviance r = sign·sqrt(2(ll_max - ll_profile)), which is
    close to linear in the transformed coordinate, by safeguarded secant steps started from the
    Wald guess; the other parameters are re-optimised at every step, warm-started along the
    regression implied by the inverse Hessian. Raises :class:`BetterOptimum` when a profile meets
    a higher likelihood than ``ll_max``.
    """
    x_hat = transform.to_x(theta)
    z = np.sqrt(stats.chi2.ppf(level, 1) * np.broadcast_to(dispersion, x_hat.shape))
    lo_b, hi_b = np.array(transform.bounds).T
    negll = _negll(objective, transform, ll_max)

    cov = _inverse_hessian(negll, x_hat)
    intervals: Intervals = {}
    notes = []
    for j, p in enumerate(objective.model.params):
        profile = _Profile(negll, transform, x_hat, j, cov)
        limits = []
        for sign in (-1.0, 1.0):
            profile.restart()
            limit, reached = signed_root(
                profile, x_hat[j], sign, float(z[j]), math.sqrt(cov[j, j]), (lo_b[j], hi_b[j])
            )
            if reached:
                notes.append(f"{p.name} interval reaches the parameter bound")
            limits.append(float(transform.to_theta(put(x_hat, j, limit))[j]))
        intervals[p.name] = (min(limits), max(limits))
    return intervals, "; ".join(notes)


def _inverse_hessian(negll: Callable[[np.ndarray], float], x_hat: np.ndarray) -> np.ndarray:
    """The inverse finite-difference Hessian at the optimum, or a small diagonal stand-in where
    it is not a covariance."""
    _, hess = derivatives(negll, x_hat)
    try:
        cov = np.linalg.inv(hess)
        if np.any(np.diag(cov) <= 0) or not np.all(np.isfinite(cov)):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        cov = np.diag(np.full(x_hat.size, 0.01))
    return cov


class _Profile:
    """The profile of ``negll`` along coordinate ``j``: the other coordinates re-optimised, each
    search warm-started from the previous step's optimum or the inverse-Hessian regression."""

    def __init__(
        self,
        negll: Callable[[np.ndarray], float],
        transform: Transform,
        x_hat: np.ndarray,
        j: int,
        cov: np.ndarray,
    ) -> None:
        self.negll, self.transform, self.x_hat, self.j = negll, transform, x_hat, j
        self.others = [i for i in range(x_hat.size) if i != j]
        self.slope = cov[self.others, j] / cov[j, j]
        self.bounds = [transform.bounds[i] for i in self.others]
        lo_b, hi_b = np.array(transform.bounds).T
        self.lower, self.upper = lo_b[self.others], hi_b[self.others]
        self.restart()

    def restart(self) -> None:
        """Forget the warm start (before searching the other side of the optimum)."""
        self.start = self.x_hat[self.others].copy()

    def __call__(self, xj: float) -> float:
        x = self.x_hat.copy()
        x[self.j] = xj
        if not self.others:
            value = self.negll(x)
            if value < -1e-3:
                raise BetterOptimum(self.transform.to_theta(x))
            return value
        guess = np.clip(
            self.x_hat[self.others] + self.slope * (xj - self.x_hat[self.j]),
            self.lower,
            self.upper,
        )

        def inner(xo: np.ndarray) -> float:
            x[self.others] = xo
            return self.negll(x)

        if inner(self.start) < inner(guess):  # the previous step's optimum may start better
            guess = self.start
        best = newton(inner, guess, bounds=self.bounds, max_iter=30, indefinite="lbfgs")
        if best.fun < -1e-3:
            x[self.others] = best.x
            raise BetterOptimum(self.transform.to_theta(x))
        self.start = best.x
        return best.fun


def bootstrap_intervals(
    model: Model,
    data: Curves,
    method: Method,
    theta: np.ndarray,
    level: float,
    n_boot: int,
    seed: int,
) -> tuple[Intervals, str]:
    """Parametric bootstrap: refit ``n_boot`` seeded replicates of the fitted model."""
    if n_boot < 20:
        raise FitError(f"n_boot = {n_boot}: use at least 20 bootstrap replicates")
    rng = np.random.default_rng(seed)
    draws, failed = [], 0
    for _ in range(n_boot):
        counts = np.vstack(
            [
                simulate_counts(
                    model,
                    theta,
                    data.rounds,
                    data.n,
                    data.k,
                    int(c0),
                    rng,
                    closed_loop=method == "conditional",
                )
                for c0 in data.counts[:, 0]
            ]
        )
        try:
            boot = Curves.from_runs(counts, data.n, data.k, data.degrees)
        except FitError:
            failed += 1
            continue
        theta_b, ok, _, _ = maximise(model, Objective(model, boot, method), boot)
        if ok:
            draws.append(theta_b)
        else:
            failed += 1
    if len(draws) < max(20, n_boot // 2):
        raise FitError(
            f"bootstrap failed: only {len(draws)} of {n_boot} replicates could be refitted"
        )
    arr = np.array(draws)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(arr, [tail, 100 - tail], axis=0)
    intervals = {p.name: (float(lo[j]), float(hi[j])) for j, p in enumerate(model.params)}
    note = f"bootstrap: {failed} of {n_boot} replicates failed and were dropped" if failed else ""
    return intervals, note


def jackknife_intervals(
    model: Model,
    data: Curves,
    method: Method,
    theta: np.ndarray,
    transform: Transform,
    level: float,
) -> tuple[Intervals, str]:
    """Delete-one-replicate jackknife: refit leaving out each replicate run in turn, and take
    estimate ± t(R-1)·SE in the fitting coordinates (log rates, logit fractions).

    Replicates are the independent units of a scenario: their spread (a random onset, network
    and agent draws) is what the binomial likelihood misses, so this interval is calibrated on
    agent-based replicates where the likelihood-based ones are not (docs/models.md, "Coverage").
    """
    r = data.replicates
    x_hat = transform.to_x(theta)
    leave_out = []
    for i in range(r):
        keep = np.delete(data.counts, i, axis=0)
        if np.all(keep == keep[:, :1]):
            raise FitError(f"jackknife: without run {i} the curves never move; no interval")
        objective = Objective(model, Curves(keep, data.n, data.k, data.degrees), method)

        def negll(x: np.ndarray, objective: Objective = objective) -> float:
            v = objective.loglik(transform.to_theta(x))
            return -v if math.isfinite(v) else PENALTY

        # one replicate fewer moves the optimum a little: start from the full data's
        leave_out.append(minimize(negll, x_hat, transform.bounds).x)
    xs = np.array(leave_out)
    se = np.sqrt((r - 1) / r * np.sum((xs - xs.mean(axis=0)) ** 2, axis=0))
    half = float(stats.t.ppf((1 + level) / 2, r - 1)) * se
    lo_b, hi_b = np.array(transform.bounds).T
    intervals, notes = {}, []
    for j, p in enumerate(model.params):
        lo_x, hi_x = x_hat[j] - half[j], x_hat[j] + half[j]
        if lo_x <= lo_b[j] or hi_x >= hi_b[j]:
            notes.append(f"{p.name} interval reaches the parameter bound")
        lo = transform.to_theta(put(x_hat, j, max(lo_x, lo_b[j])))[j]
        hi = transform.to_theta(put(x_hat, j, min(hi_x, hi_b[j])))[j]
        intervals[p.name] = (float(lo), float(hi))
    return intervals, "; ".join(notes)
