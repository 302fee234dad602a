"""Fitting the models of :mod:`spreadlab.analysis.models` to one run or a group of replicate runs.

Data are informed counts after rounds 0..T, one curve per replicate, on N agents of mean degree k
(:mod:`~spreadlab.analysis.curves`). This module strings the parts together: the likelihood of
``method`` (:mod:`~spreadlab.analysis.likelihood`: ``binomial`` by default, ``conditional``,
``lsq``), its maximum, and the intervals of ``ci`` (:mod:`~spreadlab.analysis.intervals`:
``auto`` picks the replicate jackknife from 3 runs on, the profile likelihood below).

Every bad input raises :class:`~spreadlab.errors.FitError` saying what is wrong; a fit that does
not converge comes back with ``converged=False`` and the reason; no result ever holds a NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from spreadlab.analysis.curves import Curves, as_curves
from spreadlab.analysis.intervals import (
    MIN_JACKKNIFE_RUNS,
    BetterOptimum,
    Intervals,
    bootstrap_intervals,
    interval_label,
    jackknife_intervals,
    profile_intervals,
    robust_dispersions,
)
from spreadlab.analysis.likelihood import (
    CONDITIONAL_MODELS,
    Objective,
    Transform,
    maximise,
)
from spreadlab.analysis.methods import CI_METHODS, FIT_METHODS, CIMethod, Method
from spreadlab.analysis.models import MODELS, Model, get_model
from spreadlab.errors import ConfigError, FitError


@dataclass
class FitResult:
    """One model fitted to one run or a group of replicates.

    ``params`` and ``ci`` are in the model's units (see ``units``); ``ci`` maps each parameter to
    (lower, upper) at ``level``. ``residuals`` are observed minus fitted informed fraction,
    shape (replicates, rounds), for rounds 1..T. ``loglik`` is the likelihood of ``method``, so
    AIC/BIC compare models fitted by the same method to the same data only.
    """

    model: str
    params: dict[str, float]
    ci: dict[str, tuple[float, float]]
    loglik: float
    aic: float
    bic: float
    rmse: float
    residuals: np.ndarray
    method: str
    n_runs: int
    converged: bool
    message: str
    ci_method: str = "profile"
    level: float = 0.95
    n_obs: int = 0
    n: int = 0
    k: float = 0.0
    rounds: int = 0
    n0: float = 0.0
    units: dict[str, str] = field(default_factory=dict)
    degrees: np.ndarray | None = None

    def predict(self, rounds: int | None = None) -> np.ndarray:
        """Fitted informed fraction for rounds 0..rounds, from the mean round-0 count."""
        model = get_model(self.model)
        if self.degrees is not None:
            model = model.bind(self.degrees)
        r = self.rounds if rounds is None else rounds
        return model.predict(self.params, r, self.n, self.k, self.n0)

    @property
    def at_bound(self) -> tuple[str, ...]:
        """Parameters whose interval reaches the edge of the model's parameter space."""
        model = get_model(self.model)
        return tuple(
            p.name
            for p in model.params
            if p.name in self.ci
            and (self.ci[p.name][0] <= p.lower * (1 + 1e-9) or self.ci[p.name][1] >= p.upper)
        )

    def interval_label(self) -> str:
        """What the intervals are and how far to trust them, in words."""
        return interval_label(self.ci_method, self.n_runs, self.level)

    def row(self) -> dict[str, object]:
        """Flat summary (one column per parameter, interval limit and criterion)."""
        out: dict[str, object] = {"model": self.model, "method": self.method}
        for name, value in self.params.items():
            out[name] = value
            out[f"{name}_lo"], out[f"{name}_hi"] = self.ci.get(name, (None, None))
        out.update(
            loglik=self.loglik,
            aic=self.aic,
            bic=self.bic,
            rmse=self.rmse,
            n_runs=self.n_runs,
            n_obs=self.n_obs,
            converged=self.converged,
        )
        return out


@dataclass(frozen=True)
class FitOptions:
    """How to fit: the likelihood ``method``, the interval method ``ci`` at ``level``, and for
    ``ci="bootstrap"`` the number of replicates ``n_boot`` drawn from ``seed``."""

    method: Method = "binomial"
    ci: CIMethod = "auto"
    level: float = 0.95
    n_boot: int = 200
    seed: int = 0


@dataclass
class _Estimate:
    """A maximum of the likelihood: parameters, whether the optimiser converged (and if not,
    why), the coordinates it ran in and the log-likelihood there."""

    theta: np.ndarray
    converged: bool
    message: str
    transform: Transform
    loglik: float


def fit(
    curves: Curves | np.ndarray | Sequence[Sequence[float]],
    model: str | Model,
    *,
    n: int | None = None,
    k: float | None = None,
    method: Method = "binomial",
    ci: CIMethod = "auto",
    level: float = 0.95,
    n_boot: int = 200,
    seed: int = 0,
) -> FitResult:
    """Fit ``model`` to one run's curve or a group of replicate curves by maximum likelihood.

    Parameters
    ----------
    curves : Curves or array_like
        Informed counts after rounds 0..T, one row per replicate (a :class:`Curves` carries N
        and k itself).
    model : str or Model
        A name in :data:`~spreadlab.analysis.models.MODELS` (``"si1"``, ``"si2"``, ...).
    n, k : int and float, optional
        Agents and (mean) degree of the network; needed unless ``curves`` is a :class:`Curves`.
    method, ci, level : str, str, float
        The likelihood, the interval method and its level; ``ci="bootstrap"`` draws ``n_boot``
        parametric replicates from ``seed``.

    Returns
    -------
    FitResult
        Estimates in the model's units, intervals, likelihood, AIC/BIC and residuals.

    Examples
    --------
    >>> import numpy as np
    >>> from spreadlab.analysis.synthetic import simulate_counts
    >>> rng = np.random.default_rng(1)
    >>> counts = simulate_counts("si2", {"alpha": 0.02, "beta": 0.05}, rounds=30, n=1000, k=8,
    ...                          n0=10, rng=rng, replicates=3)
    >>> result = fit(counts, "si2", n=1000, k=8)
    >>> {name: round(value, 3) for name, value in result.params.items()}
    {'alpha': 0.022, 'beta': 0.049}
    >>> result.converged, result.ci_method
    (True, 'jackknife')
    """
    data = as_curves(curves, n, k)
    options = FitOptions(method=method, ci=ci, level=level, n_boot=n_boot, seed=seed)
    # Tiny problems: multi-threaded BLAS only adds synchronisation (10 ms per L-BFGS-B call
    # instead of 0.4 ms on a busy 2-core machine).
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit(data, model, options)


def _fit(data: Curves, model: str | Model, options: FitOptions) -> FitResult:
    mdl = _bound_model(model, data)
    ci = _interval_method(mdl, data, options)
    _check_data(mdl, data)
    objective = Objective(mdl, data, options.method)
    estimate = _estimate(mdl, objective, data)
    if not math.isfinite(estimate.loglik):
        raise FitError(
            f"{mdl.name}: no parameter value gives the data a positive likelihood "
            "(the model cannot produce this curve)"
        )
    if ci in ("profile", "quasi"):
        estimate, intervals, note = _profile(mdl, objective, data, estimate, ci, options)
    elif ci == "bootstrap":
        intervals, note = bootstrap_intervals(
            mdl, data, options.method, estimate.theta, options.level, options.n_boot, options.seed
        )
    elif ci == "jackknife":
        intervals, note = jackknife_intervals(
            mdl, data, options.method, estimate.theta, estimate.transform, options.level
        )
    else:
        intervals, note = {}, ""
    return _result(mdl, data, objective, estimate, intervals, note, ci, options)


def _bound_model(model: str | Model, data: Curves) -> Model:
    """The model, checked against the data's degree and bound to its degrees where it needs them."""
    try:
        mdl = get_model(model)
        mdl.check_k(data.k)
        if mdl.needs_degrees:
            if data.degrees is None:
                raise FitError(
                    f"{mdl.name} needs the networks' degree sequence; fit stored runs (their "
                    "edges are stored) or give the degrees with the curves"
                )
            mdl = mdl.bind(data.degrees)
    except ConfigError as exc:
        raise FitError(str(exc)) from None
    return mdl


def _interval_method(mdl: Model, data: Curves, options: FitOptions) -> str:
    """Check the options against the model and data; the interval method ``auto`` resolves to."""
    method, ci = options.method, options.ci
    if method not in FIT_METHODS:
        raise FitError(f"unknown fit method {method!r}; use one of {', '.join(FIT_METHODS)}")
    if method == "conditional" and mdl.name not in CONDITIONAL_MODELS:
        raise FitError(
            f"{mdl.name} tracks more than the informed fraction, so a round cannot be predicted "
            f"from the observed curve alone; fit it with 'binomial', or use the conditional "
            f"method with {', '.join(CONDITIONAL_MODELS)}"
        )
    if ci not in CI_METHODS:
        raise FitError(f"unknown interval method {ci!r}; use one of {', '.join(CI_METHODS)}")
    if ci == "auto":
        ci = "jackknife" if data.replicates >= MIN_JACKKNIFE_RUNS else "profile"
    if ci == "jackknife" and data.replicates < MIN_JACKKNIFE_RUNS:
        raise FitError(
            f"jackknife intervals need at least {MIN_JACKKNIFE_RUNS} replicate runs, got "
            f"{data.replicates}; run the scenario with more replicates or choose 'profile'"
        )
    if not 0 < options.level < 1:
        raise FitError(f"level = {options.level}: give a coverage level strictly between 0 and 1")
    return ci


def _check_data(mdl: Model, data: Curves) -> None:
    """Enough rounds with somebody left to inform for the model's parameters, and a start the
    model can spread from."""
    if data.rounds < len(mdl.params) + 1:
        raise FitError(
            f"too few rounds for {mdl.name}: {data.rounds} after round 0 for "
            f"{len(mdl.params)} parameters"
        )
    usable = int(((data.n - data.counts[:, :-1]) > 0).any(axis=0).sum())
    if usable < len(mdl.params) + 1:
        raise FitError(
            f"too little data for {mdl.name}: only {usable} round(s) had anyone left to inform, "
            f"fewer than its {len(mdl.params)} parameter(s) + 1; the spread was over too fast "
            "to tell rates apart"
        )
    if not mdl.has_offline_term and np.any(data.counts[:, 0] == 0):
        r = int(np.flatnonzero(data.counts[:, 0] == 0)[0])
        raise FitError(
            f"replicate {r} has nobody informed after round 0 and model {mdl.name} has no offline "
            "term, so it cannot explain any spread there; fit a two-rate model or drop the run"
        )


def _estimate(
    mdl: Model, objective: Objective, data: Curves, extra: np.ndarray | None = None
) -> _Estimate:
    """The maximum-likelihood estimate (``extra``: a further start known to be good)."""
    theta, converged, message, transform = maximise(mdl, objective, data, extra)
    return _Estimate(theta, converged, message, transform, objective.loglik(theta))


def _profile(
    mdl: Model,
    objective: Objective,
    data: Curves,
    estimate: _Estimate,
    ci: str,
    options: FitOptions,
) -> tuple[_Estimate, Intervals, str]:
    """Profile (or quasi-likelihood profile) intervals; where a profile meets a higher likelihood
    the model is refitted from there and profiled again, up to three times."""
    if ci == "quasi" and options.method == "lsq":
        raise FitError("quasi-likelihood intervals need a binomial likelihood, not 'lsq'")
    for _ in range(3):
        pearson, dispersion = (
            _quasi_dispersion(objective, estimate, options.level)
            if ci == "quasi"
            else (1.0, np.ones(len(mdl.params)))
        )
        try:
            intervals, note = profile_intervals(
                objective,
                estimate.transform,
                estimate.theta,
                estimate.loglik,
                options.level,
                dispersion,
            )
        except BetterOptimum as better:  # the profile found a higher likelihood: refit
            estimate = _estimate(mdl, objective, data, better.theta)
            continue
        if ci == "quasi":
            widened = ", ".join(
                f"{p.name} ×{d:.3g}" for p, d in zip(mdl.params, dispersion, strict=True)
            )
            note = "; ".join(
                n for n in (f"dispersion {pearson:.2f} (Pearson); threshold {widened}", note) if n
            )
        return estimate, intervals, note
    raise FitError(f"{mdl.name}: the likelihood maximum could not be located reliably")


def _quasi_dispersion(
    objective: Objective, estimate: _Estimate, level: float
) -> tuple[float, np.ndarray]:
    """The counts' Pearson dispersion, and per parameter the factor its deviance threshold takes:
    the larger of that and the parameter's sandwich ratio (:func:`robust_dispersions`), since a
    sandwich resting on a few rounds can come out low by chance."""
    pearson = objective.dispersion(estimate.theta)
    robust = robust_dispersions(
        objective, estimate.transform, estimate.theta, estimate.loglik, level
    )
    return pearson, np.maximum(pearson, robust)


def _result(
    mdl: Model,
    data: Curves,
    objective: Objective,
    estimate: _Estimate,
    intervals: Intervals,
    note: str,
    ci: str,
    options: FitOptions,
) -> FitResult:
    """The fit as a :class:`FitResult`: estimates, intervals, criteria and residuals."""
    theta, ll = estimate.theta, estimate.loglik
    fitted = objective.fitted(theta)
    residuals = data.fractions[:, 1:] - fitted[:, 1:]
    n_par = len(mdl.params) + (1 if options.method == "lsq" else 0)
    return FitResult(
        model=mdl.name,
        params={p.name: float(v) for p, v in zip(mdl.params, theta, strict=True)},
        ci=intervals,
        loglik=ll,
        aic=2 * n_par - 2 * ll,
        bic=n_par * math.log(objective.n_obs) - 2 * ll,
        rmse=float(np.sqrt(np.mean(residuals**2))),
        residuals=residuals,
        method=options.method,
        n_runs=data.replicates,
        converged=estimate.converged,
        message="; ".join(m for m in (estimate.message, note) if m),
        ci_method=ci,
        level=options.level,
        n_obs=objective.n_obs,
        n=data.n,
        k=data.k,
        rounds=data.rounds,
        n0=float(data.counts[:, 0].mean()),
        units={p.name: p.unit for p in mdl.params},
        degrees=data.degrees if mdl.needs_degrees else None,
    )


def fit_models(
    curves: Curves | np.ndarray | Sequence[Sequence[float]],
    models: Sequence[str] = ("si1", "si2"),
    **kwargs: object,
) -> dict[str, FitResult]:
    """Fit several models to the same data (all names are checked before any fitting)."""
    for name in models:
        if name not in MODELS:
            raise FitError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    n, k = kwargs.pop("n", None), kwargs.pop("k", None)
    data = as_curves(curves, n, k)  # type: ignore[arg-type]
    return {name: fit(data, name, **kwargs) for name in models}  # type: ignore[arg-type]


def fit_each(
    data: Curves,
    models: Sequence[str],
    *,
    given: Mapping[str, FitResult] | None = None,
    conditional: bool = False,
    method: Method = "binomial",
    ci: CIMethod = "auto",
    level: float = 0.95,
) -> tuple[dict[str, FitResult], dict[str, str]]:
    """Fit each model in turn, keeping going past the ones that fail.

    Parameters
    ----------
    data : Curves
        The informed counts, with N and k.
    models : sequence of str
        Model names, fitted in this order.
    given : mapping of str to FitResult, optional
        Fits already made: one made with the same method is reused instead of refitted.
    conditional : bool
        Fit the models of :data:`~spreadlab.analysis.likelihood.CONDITIONAL_MODELS` one round
        ahead from the observed fraction instead of by ``method``.
    method, ci, level : str, str, float
        As in :func:`fit`.

    Returns
    -------
    fits : dict of str to FitResult
    failures : dict of str to str
        Per model that cannot be fitted to these data, the reason (the :class:`FitError`
        message).

    Examples
    --------
    >>> import numpy as np
    >>> from spreadlab.analysis.curves import Curves
    >>> from spreadlab.analysis.synthetic import simulate_counts
    >>> counts = simulate_counts("si1", {"beta": 0.05}, rounds=30, n=1000, k=8, n0=10,
    ...                          rng=np.random.default_rng(1), replicates=3)
    >>> fits, failures = fit_each(Curves.from_runs(counts, 1000, 8.0), ["si1", "si2"])
    >>> sorted(fits), failures
    (['si1', 'si2'], {})
    >>> round(fits["si1"].params["beta"], 3)
    0.05
    """
    fits: dict[str, FitResult] = {}
    failures: dict[str, str] = {}
    for name in models:
        chosen: Method = "conditional" if conditional and name in CONDITIONAL_MODELS else method
        reused = (given or {}).get(name)
        if reused is not None and reused.method == chosen:
            fits[name] = reused
            continue
        try:
            fits[name] = fit(data, name, method=chosen, ci=ci, level=level)
        except FitError as exc:
            failures[name] = str(exc)
    return fits, failures
