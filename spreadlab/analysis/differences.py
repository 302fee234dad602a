"""Which differences between sweep cells are real: interval-based tests with a false-discovery-rate
correction over all the cells compared.

Each cell carries an estimate with a 95% interval (a t interval over replicates, or a fitted
rate's jackknife or profile interval). Two cells are compared by the z statistic of their
difference, with each standard error read off its interval as the wider half / z(0.975): a normal
approximation that errs towards "no difference" for asymmetric intervals and for intervals cut at
a bound (a reach interval stops at 0 and 1), and for t intervals over few replicates. The
p-values of every comparison on screen are then adjusted together by the Benjamini–Hochberg
step-up procedure (1995), and a difference is flagged only where the adjusted p-value is below
the chosen false-discovery rate. Comparing many
cells at 5% each would otherwise flag about one in twenty equal pairs.
"""

from __future__ import annotations

import numpy as np

from spreadlab.lazy import lazy_import

stats = lazy_import("scipy.stats")


def standard_errors(
    estimate: np.ndarray, lo: np.ndarray, hi: np.ndarray, level: float = 0.95
) -> np.ndarray:
    """Standard errors implied by intervals at ``level``, from the wider side of each (NaN where
    an interval is missing)."""
    z = float(stats.norm.ppf((1 + level) / 2))
    est = np.asarray(estimate, dtype=float)
    below = est - np.asarray(lo, dtype=float)
    above = np.asarray(hi, dtype=float) - est
    return np.fmax(below, above) / z


def difference_p_values(
    estimate: np.ndarray, se: np.ndarray, reference: np.ndarray, reference_se: np.ndarray
) -> np.ndarray:
    """Two-sided p-values of ``estimate - reference`` = 0 (NaN where a standard error is
    missing, or both are zero and the estimates differ only by rounding)."""
    diff = np.asarray(estimate, dtype=float) - np.asarray(reference, dtype=float)
    spread = np.hypot(np.asarray(se, dtype=float), np.asarray(reference_se, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(spread > 0, np.abs(diff) / spread, np.nan)
    return 2 * stats.norm.sf(z)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (NaN inputs stay NaN and do not count as tests)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = tested.size
    if m == 0:
        return out
    order = tested[np.argsort(p[tested], kind="stable")]
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out[order] = np.minimum(adjusted, 1.0)
    return out
