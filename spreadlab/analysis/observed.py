"""Observed spread data: a user's time series of posts about an event, as an informed curve.

Two layouts are read from CSV or Parquet:

* **timestamps**: one row per post (``time_col``), optionally with a user id (``user_col``) so
  that only each user's first post counts;
* **counts**: one row per interval (``time_col`` its start) with the number of new posters
  (``count_col``).

Rows are binned into rounds of ``interval`` (e.g. ``1h``) from ``start`` (default: the first
time). Round 0 is the first interval. Every value is checked at this boundary; the first bad one
ends the read with an error naming its row and column, and nothing is stored. An observed series
is real data supplied by the user: its provenance says ``observed``, never simulated, never LLM.
"""

from __future__ import annotations

import math
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from spreadlab.analysis.curves import Curves
from spreadlab.analysis.fit import FitResult, fit_each
from spreadlab.analysis.models import get_model
from spreadlab.analysis.verdict import Verdict, decide
from spreadlab.errors import DataFormatError

MAX_FILE_BYTES = 2 * 2**30
"""Largest file read (the CLI reads it whole, column by column; larger files must be cut)."""
MAX_ROUNDS = 10_000
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
    frame = _read_frame(path, source)
    _check_columns(frame, (time_col, count_col, user_col), source)
    times = _times(frame[time_col], time_col, source)
    origin = _times(pd.Series([start]), "start", source)[0] if start else times.min()
    rounds = _rounds((times - origin) / seconds, label, start, time_col, source)
    if count_col is None:
        new, filled, layout = _from_timestamps(frame, rounds, user_col), 0, "timestamps"
    else:
        new, filled = _from_counts(frame[count_col], rounds, times, time_col, count_col, source)
        layout = "counts"
    counts = _within_population(np.cumsum(new), n, source)
    first = datetime.fromtimestamp(origin, UTC).isoformat().replace("+00:00", "Z")
    example = path.resolve() == EXAMPLE_PATH and name is None
    return ObservedSeries(counts, n, label, first, source, len(frame), layout, filled, example)


def _within_population(counts: np.ndarray, n: int, source: str) -> np.ndarray:
    """``counts``, checked never to exceed the population N."""
    over = np.flatnonzero(counts > n)
    if over.size:
        raise DataFormatError(
            f"{source}: {counts[over[0]]:,} have posted by interval {over[0]}, more than "
            f"N = {n:,}; give the population size N that the posters come from"
        )
    return counts


def _check_columns(frame: pd.DataFrame, columns: tuple[str | None, ...], source: str) -> None:
    """The file has rows and every named column."""
    if frame.empty:
        raise DataFormatError(f"{source}: the file has no rows")
    for column in columns:
        if column is not None and column not in frame.columns:
            raise DataFormatError(
                f"{source}: no column {column!r}; columns are {', '.join(map(str, frame.columns))}"
            )


def _rounds(
    offsets: np.ndarray, label: str, start: str | None, time_col: str, source: str
) -> np.ndarray:
    """The round of each row from its offset in intervals since the start of round 0."""
    before = np.flatnonzero(offsets < 0)
    if before.size:
        raise DataFormatError(
            f"{source}, row {before[0] + 2}, column {time_col}: before the start {start}"
        )
    rounds = np.floor(offsets + 1e-9).astype(np.int64)
    if rounds.max() >= MAX_ROUNDS:
        raise DataFormatError(
            f"{source}: the data span {rounds.max() + 1:,} intervals of {label}; at most "
            f"{MAX_ROUNDS:,} can be fitted, choose a longer interval"
        )
    return rounds


def _read_frame(path: Path, source: str) -> pd.DataFrame:
    """The file as a table of strings (Parquet: its own types); errors name ``source``, never a
    server-side path."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataFormatError(f"cannot read {source}: {exc.strerror}") from None
    if size > MAX_FILE_BYTES:
        raise DataFormatError(
            f"{source} is {size / 2**30:.1f} GB, over the {MAX_FILE_BYTES / 2**30:.0f} GB "
            "limit; aggregate it to counts per interval first"
        )
    try:
        if Path(source).suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError:
        raise DataFormatError(f"{source}: not UTF-8 text; save it as UTF-8 CSV") from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataFormatError(f"{source}: cannot be read as CSV or Parquet ({first})") from None


def _times(values: pd.Series, column: str, source: str) -> np.ndarray:
    """Seconds since the epoch (UTC). Naive and zoned times may not be mixed."""
    out = np.empty(len(values))
    zoned: bool | None = None
    for i, value in enumerate(values):
        text = str(value).strip()
        try:
            stamp = pd.Timestamp(text)
        except (ValueError, TypeError, OverflowError):
            stamp = pd.NaT
        if text == "" or pd.isna(stamp):
            raise DataFormatError(
                f"{source}, row {i + 2}, column {column}: {text[:40]!r} is not a date and time; "
                "use ISO 8601, e.g. 2026-05-01T14:00:00Z"
            )
        has_zone = stamp.tzinfo is not None
        if zoned is None:
            zoned = has_zone
        elif has_zone != zoned:
            raise DataFormatError(
                f"{source}, row {i + 2}, column {column}: mixes times with and without a time "
                "zone; give every time in one form (e.g. all in UTC with a Z)"
            )
        if not has_zone:
            stamp = stamp.tz_localize(UTC)
        out[i] = stamp.timestamp()
    return out


def _from_timestamps(frame: pd.DataFrame, rounds: np.ndarray, user_col: str | None) -> np.ndarray:
    keep = np.ones(len(rounds), dtype=bool)
    if user_col is not None:  # each user's first post only
        order = np.argsort(rounds, kind="stable")
        users = frame[user_col].astype(str).to_numpy()[order]
        _, first = np.unique(users, return_index=True)
        keep = np.zeros(len(rounds), dtype=bool)
        keep[order[first]] = True
    return np.bincount(rounds[keep], minlength=int(rounds.max()) + 1)


def _from_counts(
    values: pd.Series,
    rounds: np.ndarray,
    times: np.ndarray,
    time_col: str,
    count_col: str,
    source: str,
) -> tuple[np.ndarray, int]:
    """New posters per round from one row per interval; gaps are interpolated, not zeroed."""
    new = np.empty(len(values))
    for i, value in enumerate(values):
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < 0 or number != round(number):
            raise DataFormatError(
                f"{source}, row {i + 2}, column {count_col}: {text[:40]!r} is not a count of "
                "new posters (a whole number >= 0)"
            )
        new[i] = number
        if i and times[i] < times[i - 1]:
            raise DataFormatError(
                f"{source}, row {i + 2}, column {time_col}: time goes backwards; sort the rows"
            )
        if i and rounds[i] == rounds[i - 1]:
            raise DataFormatError(
                f"{source}, row {i + 2}, column {time_col}: a second row for the interval "
                "starting at the row above; give one row per interval"
            )
    present = np.zeros(int(rounds.max()) + 1, dtype=bool)
    present[rounds] = True
    cumulative = np.full(present.size, np.nan)
    cumulative[rounds] = np.cumsum(new)
    missing = np.flatnonzero(~present)
    if missing.size:  # a missing row is unknown, not zero: interpolate the cumulative count
        cumulative[missing] = np.interp(missing, rounds, cumulative[rounds])
    return np.diff(np.floor(cumulative).astype(np.int64), prepend=0), int(missing.size)


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


@dataclass(frozen=True)
class Closeness:
    """How near a simulated scenario's mean curve comes to the observed one."""

    label: str
    rounds_per_interval: float
    rmse: float


def closest_scenarios(series: ObservedSeries, scenarios: dict[str, np.ndarray]) -> list[Closeness]:
    """Each scenario's mean informed fraction (per round) against the observed fraction, with
    time rescaled: observed interval t is matched to simulated round s·t, s chosen on a grid to
    minimise the RMSE. Closest first. A close curve is not evidence of the same mechanism."""
    observed = series.counts / series.n
    t = np.arange(observed.size, dtype=float)
    out = []
    for label, mean in scenarios.items():
        rounds = np.arange(len(mean), dtype=float)
        best = (math.inf, 1.0)
        for scale in np.geomspace(0.05, 20, 241):
            simulated = np.interp(t * scale, rounds, mean)  # past the end: its final level
            error = float(np.sqrt(np.mean((simulated - observed) ** 2)))
            best = min(best, (error, float(scale)))
        out.append(Closeness(label, best[1], best[0]))
    return sorted(out, key=lambda c: c.rmse)


def observed_unit(unit: str, interval: str) -> str:
    """A model unit restated for observed data: per round -> per interval; the network is unknown
    (k = 1), so an informed neighbour becomes a unit of informed fraction."""
    return unit.replace("per informed neighbour", "per unit informed fraction").replace(
        "per round", f"per {interval}"
    )


def fits_frame(
    series: ObservedSeries, fits: dict[str, FitResult], verdict: Verdict
) -> pd.DataFrame:
    """One row per (model, parameter) with interval, unit, interval method, the verdict and the
    observed provenance: the CSV of ``spreadlab observe --out``."""
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
            "fit_method": f.method,
            "verdict": verdict.code,
            "n_agents": series.n,
            "backend": "observed",
            "synthetic": False,
            "data_source": series.provenance,
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


def overlay_frame(
    series: ObservedSeries, label: str, mean: np.ndarray, rounds_per_interval: float
) -> pd.DataFrame:
    """The observed fraction and a scenario's mean curve on the observed intervals (columns
    label, round, fraction), the scenario's time rescaled."""
    t = np.arange(series.counts.size, dtype=float)
    simulated = np.interp(t * rounds_per_interval, np.arange(len(mean), dtype=float), mean)
    return pd.concat(
        [
            pd.DataFrame({"label": "observed", "round": t, "fraction": series.counts / series.n}),
            pd.DataFrame({"label": label, "round": t, "fraction": simulated}),
        ],
        ignore_index=True,
    )
