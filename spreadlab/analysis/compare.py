"""Comparing fitted models: information criteria side by side, and the one- versus two-rate
likelihood-ratio test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from spreadlab.analysis.fit import FitResult
from spreadlab.analysis.models import NESTED
from spreadlab.errors import FitError
from spreadlab.lazy import lazy_import

# scipy takes about a second to import: loaded by the first test, not by every command
stats = lazy_import("scipy.stats")


def compare(fits: Mapping[str, FitResult] | Sequence[FitResult]) -> pd.DataFrame:
    """One row per fit, best BIC first, with ΔAIC and ΔBIC against the best."""
    items = list(fits.values()) if isinstance(fits, Mapping) else list(fits)
    methods = {f.method for f in items}
    if len(methods) > 1:
        raise FitError(f"cannot compare criteria across fit methods {sorted(methods)}")
    frame = pd.DataFrame(
        [
            {
                "model": f.model,
                "n_params": len(f.params),
                "loglik": f.loglik,
                "aic": f.aic,
                "bic": f.bic,
                "rmse": f.rmse,
            }
            for f in items
        ]
    )
    frame["delta_aic"] = frame["aic"] - frame["aic"].min()
    frame["delta_bic"] = frame["bic"] - frame["bic"].min()
    return frame.sort_values("bic").reset_index(drop=True)


BOUNDARY_CAVEAT = (
    "alpha = 0 lies on the boundary of the two-rate model's parameter space, so under the one-rate "
    "hypothesis the statistic follows a 50:50 mixture of chi2(0) and chi2(1) (chi-bar-squared; "
    "Self & Liang 1987), not chi2(1): the naive chi2(1) p-value is twice too large. Both assume "
    "independent binomial rounds; agent-based runs are overdispersed, which makes the test "
    "anti-conservative."
)


@dataclass(frozen=True)
class LikelihoodRatioTest:
    """One- versus two-rate likelihood-ratio test."""

    restricted: str
    full: str
    statistic: float
    p_value: float
    p_value_naive: float
    caveat: str = BOUNDARY_CAVEAT


def likelihood_ratio_test(one_rate: FitResult, two_rate: FitResult) -> LikelihoodRatioTest:
    """Test the one-rate model (alpha = 0) against its two-rate extension.

    The p-value uses the chi-bar-squared 50:50 mixture (alpha = 0 is on the boundary); the naive
    chi-square(1) value is reported next to it.
    """
    pair = (one_rate.model, two_rate.model)
    if pair not in NESTED:
        raise FitError(
            f"{pair[0]} is not nested in {pair[1]}; nested pairs: "
            + ", ".join(f"{a} in {b}" for a, b in NESTED)
        )
    if one_rate.method != two_rate.method or one_rate.n_obs != two_rate.n_obs:
        raise FitError("the two fits must use the same method and the same data")
    stat = 2 * (two_rate.loglik - one_rate.loglik)
    stat = stat if stat > 1e-6 else 0.0  # below the optimiser's precision: alpha-hat = 0
    naive = float(stats.chi2.sf(stat, 1))
    return LikelihoodRatioTest(
        restricted=pair[0],
        full=pair[1],
        statistic=stat,
        p_value=0.5 * naive if stat > 0 else 1.0,
        p_value_naive=naive,
    )
