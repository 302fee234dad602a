"""Learned equations: which terms the informed-fraction curves themselves ask for.

Weak-form sparse identification of nonlinear dynamics (weak SINDy; Messenger & Bortz 2021, via
``pysindy``) regresses di/dt on the library {1, i, i^2} in integral (weak) form, which avoids
differentiating noisy round data, and sequentially thresholds small coefficients (STLSQ). The
result is set next to the polynomial form of the fitted SI models:

    SI-1:  di/dt = beta·k·i - beta·k·i^2
    SI-2:  di/dt = alpha + (beta·k - alpha)·i - beta·k·i^2

so a learned constant term points to an offline channel, its absence to pure network spread.
Coefficients are continuous rates per round, i.e. effective rates like those of SI-1/SI-2.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from spreadlab.analysis.curves import Curves
from spreadlab.analysis.fit import FitResult, fit
from spreadlab.errors import FitError

TERMS = ("1", "i", "i^2")
RIDGE = 1e-5
"""STLSQ's ridge penalty. pysindy's default (0.05) is large next to the small weak-form features
and, before the final unbiased refit, props up a spurious constant term on pure SI-1 curves."""

_GLOBAL_RNG = threading.Lock()
"""Held while pysindy draws from NumPy's global generator (see :func:`_weak_library`)."""


@dataclass(frozen=True)
class LearnedEquation:
    """The sparse equation di/dt = c0 + c1·i + c2·i^2 and the SI models' implied coefficients.

    ``coefficients`` maps each library term to its learned coefficient (0 when not selected);
    ``comparison`` has one row per term with columns ``sindy``, ``si1`` and ``si2``.
    """

    coefficients: dict[str, float]
    selected: tuple[str, ...]
    comparison: pd.DataFrame
    threshold: float

    @property
    def text(self) -> str:
        """Readable form, e.g. ``di/dt = 0.0100 + 0.4900·i - 0.5000·i^2``."""
        parts: list[str] = []
        for term in self.selected:
            c = self.coefficients[term]
            body = f"{abs(c):.4f}" + ("" if term == "1" else f"·{term}")
            parts.append(
                ("- " if c < 0 else "+ ") + body if parts else ("-" if c < 0 else "") + body
            )
        return "di/dt = " + (" ".join(parts) if parts else "0")


def implied_coefficients(fit_result: FitResult) -> dict[str, float]:
    """The {1, i, i^2} coefficients of a fitted SI-1 or SI-2 model (rates per round)."""
    p = fit_result.params
    if fit_result.model == "si1":
        rate = p["beta"] * fit_result.k
        return {"1": 0.0, "i": rate, "i^2": -rate}
    if fit_result.model == "si2":
        rate = p["beta"] * fit_result.k
        return {"1": p["alpha"], "i": rate - p["alpha"], "i^2": -rate}
    raise FitError(f"model {fit_result.model} has no polynomial form here; use si1 or si2")


def learn_equation(
    data: Curves,
    threshold: float = 0.005,
    fits: Mapping[str, FitResult] | None = None,
    seed: int = 0,
) -> LearnedEquation:
    """Weak SINDy (degree-2 polynomial library, STLSQ) on the replicates' informed fractions.

    ``fits`` may hold the si1 and si2 fits of the same data; missing ones are fitted here (binomial
    likelihood, no intervals). pysindy places the weak-form subdomains at random using NumPy's
    global generator when the library is built: see :func:`_weak_library`.
    Raises :class:`FitError` when the regression cannot be done.
    """
    import pysindy as ps

    if threshold < 0:
        raise FitError(f"threshold = {threshold}: give a non-negative sparsity threshold")
    if data.rounds < 8:
        raise FitError(
            f"{data.rounds} rounds are too few for the weak form (its test functions need at "
            "least 8 rounds)"
        )
    t = np.arange(data.rounds + 1, dtype=float)
    trajectories = [row.reshape(-1, 1) for row in data.fractions]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pysindy's axis-labelling notices on 1-D state
            model = ps.SINDy(
                optimizer=ps.STLSQ(threshold=threshold, alpha=RIDGE),
                feature_library=_weak_library(ps, t, seed),
            )
            model.fit(trajectories, t=t, feature_names=["i"])
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise FitError(f"weak SINDy could not fit these curves: {exc}") from exc
    names = model.get_feature_names()
    if tuple(names) != TERMS:
        raise FitError(f"unexpected SINDy library terms {names}")
    coef = np.asarray(model.coefficients(), dtype=float).ravel()
    if not np.all(np.isfinite(coef)):
        raise FitError("weak SINDy returned non-finite coefficients (the curves may be flat)")
    learned = dict(zip(TERMS, (float(c) for c in coef), strict=True))
    fits = dict(fits or {})
    for name in ("si1", "si2"):
        if name not in fits:
            fits[name] = fit(data, name, ci="none")
    comparison = pd.DataFrame(
        {
            "term": TERMS,
            "sindy": [learned[t] for t in TERMS],
            "si1": [implied_coefficients(fits["si1"])[t] for t in TERMS],
            "si2": [implied_coefficients(fits["si2"])[t] for t in TERMS],
        }
    )
    return LearnedEquation(
        coefficients=learned,
        selected=tuple(t for t in TERMS if learned[t] != 0),
        comparison=comparison,
        threshold=threshold,
    )


def _weak_library(ps: Any, t: np.ndarray, seed: int) -> Any:
    """The weak-form library on grid ``t``, its subdomains placed from ``seed``.

    pysindy draws the subdomain centres from NumPy's global generator while the library is built
    and takes no generator of its own. So only the construction runs under a lock, with the
    global state set from ``seed`` and restored at once: concurrent calls (the dashboard's server
    threads) cannot interleave their draws, and nothing outside this call sees the seed.
    """
    with _GLOBAL_RNG:
        saved = np.random.get_state()
        np.random.set_state(np.random.RandomState(seed).get_state())
        try:
            return ps.WeakPDELibrary(
                function_library=ps.PolynomialLibrary(degree=2, include_bias=True),
                spatiotemporal_grid=t,
                K=100,
                p=4,
            )
        finally:
            np.random.set_state(saved)
