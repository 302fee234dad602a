"""Observed spread data: a user's time series of posts about an event, as an informed curve.

Two layouts are read from CSV or Parquet:

* **timestamps**: one row per post (``time_col``), optionally with a user id (``user_col``) so
  that only each user's first post counts;
* **counts**: one row per interval (``time_col`` its start) with the number of new posters
  (``count_col``).

Rows are binned into rounds of ``interval`` (e.g. ``1h``) from ``start`` (default: the first
time). Round 0 is the first interval. The file is read in a stream (:mod:`.observed_read`), so
its size does not matter. Every value is checked at this boundary; the first bad one ends the
read with an error naming its row and column, and nothing is stored. An observed series
is real data supplied by the user: its provenance says ``observed``, never simulated, never LLM.
"""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from spreadlab.analysis import observed_read
from spreadlab.analysis.curves import Curves
from spreadlab.analysis.fit import FitResult, fit_each
from spreadlab.analysis.models import get_model
from spreadlab.analysis.verdict import Verdict, decide
from spreadlab.errors import DataFormatError

UNIT_SECONDS = {"s": 1, "min": 60, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
EXAMPLE_PATH = (
    Path(__file__).resolve().parents[1] / "sample_runs" / "observed_example.csv"
).resolve()
EXAMPLE_NOTE = (
    "synthetic example, not real data: hourly new posters drawn by SpreadLab from SI-2 "
    "(alpha = 0.004, beta = 0.35 per hour) with overdispersed noise, N = 50,000"
)
OBSERVED_K = 1.0
"""The network of observed data is unknown: continuous rates are per unit informed fraction."""


@dataclass(frozen=True)
class ObservedSeries:
    """An observed informed curve: ``counts[t]`` informed after round t (rounds of ``interval``)."""

    counts: np.ndarray
    n: int
    interval: str
    start: str
    source: str
    rows: int
    layout: str
    filled: int
    example: bool = False
    n_range: tuple[int, int] | None = None
    """A plausible range of N when N is an estimate (the rates are refitted at its ends)."""

    @property
    def provenance(self) -> str:
        """``observed, user-supplied: <file>, <rows> rows, <span>`` (and any filled gaps); the
        bundled example says that it is synthetic instead."""
        span = f"{len(self.counts)} intervals of {self.interval} from {self.start}"
        gaps = f", {self.filled} missing intervals interpolated" if self.filled else ""
        origin = EXAMPLE_NOTE if self.example else "observed, user-supplied"
        return f"{origin}: {self.source}, {self.rows:,} rows, {span}{gaps}"

    def curves(self) -> Curves:
        """The series as one curve for fitting (k = 1: rates per unit informed fraction)."""
        return Curves.from_runs(self.counts, self.n, OBSERVED_K)


def parse_interval(text: str) -> tuple[str, float]:
    """``"1h"``, ``"30min"``, ``"1d"`` -> (normalised label, seconds)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w)\s*", str(text))
    if not match or float(match.group(1)) <= 0:
        raise DataFormatError(
            f"interval {text!r}: give a positive length with a unit, e.g. 1h, 30min, 1d (units: "
            f"{', '.join(UNIT_SECONDS)})"
        )
    value, unit = float(match.group(1)), match.group(2)
    return f"{value:g}{unit}", value * UNIT_SECONDS[unit]


def read_series(
    path: str | Path,
    *,
    time_col: str,
    interval: str,
    n: int,
    count_col: str | None = None,
    user_col: str | None = None,
    start: str | None = None,
    name: str | None = None,
) -> ObservedSeries:
    """Read, check and bin a time series file (the layouts: see the module docstring).

    Parameters
    ----------
    path : str or Path
        A CSV or Parquet file.
    time_col, count_col, user_col : str
        Its columns: each row's time (ISO 8601; without a zone, UTC); new posters per row (the
        counts layout); who posted (the timestamps layout, optional).
    interval : str
        The length of one round, e.g. ``"1h"``, ``"30min"``, ``"1d"``.
    n : int
        The population the posters come from.
    start, name : str, optional
        The start of round 0 (default: the first time); the file's name in messages.

    Returns
    -------
    ObservedSeries

    Examples
    --------
    >>> series = read_series(EXAMPLE_PATH, time_col="hour", count_col="new_posters",
    ...                      interval="1h", n=50_000)
    >>> series.counts.size, int(series.counts[-1]), series.start
    (48, 50000, '2026-03-14T06:00:00Z')
    """
    path = Path(path)
    label, seconds = parse_interval(interval)
    if not (isinstance(n, int) and 2 <= n <= 10**10):
        raise DataFormatError(f"N = {n}: give the population size, an integer from 2 to 10^10")
    source = name or path.name
    layout = observed_read.Layout(
        source, time_col, count_col, user_col, seconds, label, _start(start), start, n
    )
    if not path.is_file():
        raise DataFormatError(f"cannot read {source}: no such file")
    if count_col is None:
        binned = observed_read.read_posts(lambda: observed_read.chunks(path, layout), layout)
    else:
        binned = observed_read.read_counts(observed_read.chunks(path, layout), layout)
    counts = np.cumsum(binned.new)
    first = datetime.fromtimestamp(binned.origin, UTC).isoformat().replace("+00:00", "Z")
    example = path.resolve() == EXAMPLE_PATH and name is None
    layout_name = "timestamps" if count_col is None else "counts"
    return ObservedSeries(
        counts, n, label, first, source, binned.rows, layout_name, binned.filled, example
    )


def _start(start: str | None) -> float | None:
    """``--start`` in seconds since the epoch (without a zone: UTC)."""
    if not start:
        return None
    try:
        return float(observed_read.times(pd.Series([start]), "start", "", 0, None)[0][0])
    except DataFormatError:
        raise DataFormatError(
            f"start {start[:40]!r} is not a date and time; use ISO 8601, e.g. 2026-05-01T14:00Z"
        ) from None


def series_frame(series: ObservedSeries) -> pd.DataFrame:
    """The binned series, one row per interval, for export."""
    return pd.DataFrame(
        {
            "interval": np.arange(series.counts.size),
            "interval_start": [
                (
                    datetime.fromisoformat(series.start.replace("Z", "+00:00"))
                    + timedelta(seconds=parse_interval(series.interval)[1] * t)
                ).isoformat()
                for t in range(series.counts.size)
            ],
            "informed": series.counts,
            "fraction": series.counts / series.n,
            "data_source": series.provenance,
            "provenance": "observed",
        }
    )


OBSERVED_MODELS = ("si1", "si2", "si1g", "si2g", "mf_map")
"""Models that need no network: fitted to observed series."""


def fit_series(
    series: ObservedSeries, models: tuple[str, ...] = OBSERVED_MODELS
) -> tuple[dict[str, FitResult], dict[str, str]]:
    """Fit each model with quasi-likelihood intervals (one series has no replicate to jackknife;
    the intervals widen with the counts' dispersion), one round ahead from the observed fraction
    where the model allows it (a single real series wanders: each round starts from where the
    last one ended).

    Parameters
    ----------
    series : ObservedSeries
        From :func:`read_series`.
    models : tuple of str
        The models to fit (default :data:`OBSERVED_MODELS`).

    Returns
    -------
    fits : dict of str to FitResult
    failures : dict of str to str
        Per model that cannot be fitted, the reason.

    Examples
    --------
    >>> series = read_series(EXAMPLE_PATH, time_col="hour", count_col="new_posters",
    ...                      interval="1h", n=50_000)
    >>> fits, failures = fit_series(series, ("si1", "si2"))
    >>> {name: round(fits["si2"].params[name], 3) for name in ("alpha", "beta")}
    {'alpha': 0.003, 'beta': 0.373}
    >>> fits["si2"].ci_method, failures
    ('quasi', {})
    """
    return fit_each(series.curves(), models, conditional=True, ci="quasi")


def series_verdict(series: ObservedSeries, fits: dict[str, FitResult] | None = None) -> Verdict:
    """One rate or two from the curve alone (an observed series has no decision log)."""
    return decide(series.curves(), fits)


def observed_unit(unit: str, interval: str) -> str:
    """A model unit restated for observed data: per round -> per interval; the network is unknown
    (k = 1), so an informed (or posting) neighbour becomes a unit of informed fraction."""
    for neighbour in ("per informed neighbour", "per posting neighbour"):
        unit = unit.replace(neighbour, "per unit informed fraction")
    return unit.replace("per round", f"per {interval}")


def with_n_range(series: ObservedSeries, low: int, high: int) -> ObservedSeries:
    """``series`` with N given as an estimate in ``low``..``high``; N cannot be below the number
    who posted."""
    if not 2 <= low <= series.n <= high <= 10**10:
        raise DataFormatError(
            f"N range {low:,}:{high:,}: give LOW:HIGH around N = {series.n:,} (LOW <= N <= HIGH)"
        )
    posted = int(series.counts[-1])
    if low < posted:
        raise DataFormatError(
            f"N range {low:,}:{high:,} starts below the {posted:,} who posted in "
            f"{series.source}; N is at least {posted:,}"
        )
    return replace(series, n_range=(low, high))


def n_range_from_sd(series: ObservedSeries, sd: float) -> tuple[int, int]:
    """N ± 1.96 standard deviations (a 95% range), the low end no lower than those who posted."""
    if not (math.isfinite(sd) and sd > 0):
        raise DataFormatError(f"standard deviation of N {sd}: give a number > 0")
    low = max(round(series.n - 1.96 * sd), int(series.counts[-1]), 2)
    return low, round(series.n + 1.96 * sd)


def n_sensitivity(
    series: ObservedSeries, models: tuple[str, ...] = OBSERVED_MODELS
) -> dict[str, dict[str, tuple[float, float]]]:
    """Per model and parameter, the estimate refitted with N at the low and at the high end of
    the series' N range (empty without one): how much the rates owe to the choice of N."""
    if series.n_range is None:
        return {}
    low, high = (fit_series(replace(series, n=n, n_range=None), models)[0] for n in series.n_range)
    return {
        m: {p: (low[m].params[p], high[m].params[p]) for p in low[m].params}
        for m in models
        if m in low and m in high
    }


def fits_frame(
    series: ObservedSeries,
    fits: dict[str, FitResult],
    verdict: Verdict,
    at_n_ends: dict[str, dict[str, tuple[float, float]]] | None = None,
) -> pd.DataFrame:
    """One row per (model, parameter) with interval, unit, interval method, the estimate refitted
    at each end of the N range (:func:`n_sensitivity`; empty without one), the verdict and the
    observed provenance: the CSV of ``spreadlab observe --out``."""
    low, high = series.n_range or (None, None)
    ends = at_n_ends or {}
    rows = [
        {
            "dataset": series.source,
            "model": name,
            "model_title": get_model(name).title,
            "parameter": p,
            "estimate": value,
            "lo": f.ci.get(p, (None, None))[0],
            "hi": f.ci.get(p, (None, None))[1],
            "unit": observed_unit(f.units[p], series.interval),
            "interval_method": f.interval_label(),
            "interval_at_bound": p in f.at_bound,
            "n_low": low,
            "n_high": high,
            "estimate_at_n_low": ends.get(name, {}).get(p, (None, None))[0],
            "estimate_at_n_high": ends.get(name, {}).get(p, (None, None))[1],
            "fit_method": f.method,
            "verdict": verdict.code,
            "n_agents": series.n,
            "backend": "observed",
            "synthetic": series.example,
            "data_source": series.provenance,
            "provenance": "observed",
        }
        for name, f in fits.items()
        for p, value in f.params.items()
    ]
    return pd.DataFrame(rows)


def example_frame(seed: int = 2026) -> pd.DataFrame:
    """The bundled synthetic example (``sample_runs/observed_example.csv``), regenerated: 48
    hours of new posters from SI-2 one hour ahead, negative-binomial noise (size 8)."""
    rng = np.random.default_rng(seed)
    n, informed, rows = 50_000, 12, []
    model = get_model("si2")
    for hour in range(48):
        new = informed if hour == 0 else 0
        if hour:
            now = np.array([min(informed / n, 1 - 0.5 / n)])
            step = model.log_susceptible(np.array([0.004, 0.35]), 1, now, OBSERVED_K)
            mean = (n - informed) * -math.expm1(min(step[0, 1] - step[0, 0], 0.0))
            new = min(int(rng.negative_binomial(8, 8 / (8 + mean))), n - informed)
            informed += new
        start = datetime(2026, 3, 14, 6, tzinfo=UTC) + timedelta(hours=hour)
        rows.append({"hour": start.isoformat().replace("+00:00", "Z"), "new_posters": new})
    return pd.DataFrame(rows)


def read_upload(data: bytes, name: str, **options: object) -> ObservedSeries:
    """:func:`read_series` on uploaded bytes (kept in a private temporary file); errors name the
    upload, not the server's path."""
    suffix = ".parquet" if name.lower().endswith(".parquet") else ".csv"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        return read_series(path, name=name, **options)  # type: ignore[arg-type]
