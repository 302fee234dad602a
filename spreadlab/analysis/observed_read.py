"""Reading an observed time series in a stream: a CSV in chunks of rows, a Parquet file in record
batches, each chunk checked and binned as it arrives.

Memory is bounded by one chunk, the intervals (at most :data:`MAX_ROUNDS`) and, when only each
user's first post counts, the distinct users; never by the file, so the command line reads files
of any size. Errors name the row (its line in a CSV: the header is line 1) and the column.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from spreadlab.errors import DataFormatError

CHUNK_ROWS = 25_000
"""Rows a chunk: about 20 MB at its peak, the same for any file."""
MAX_ROUNDS = 10_000
EPOCH = pd.Timestamp(0, tz="UTC")
_ZONE = r"[Tt ]\d\d(?::?\d\d){0,2}(?:[.,]\d+)?\s*(?:[Zz]|[+-]\d\d(?::?\d\d)?)$"
"""A time of day followed by a zone (a string pattern, so pyarrow's engine runs it)."""


@dataclass(frozen=True)
class Layout:
    """What to read: the columns, the interval in seconds (and its label), the start of round 0
    in seconds since the epoch (None: the first time) and the population N, which the posters may
    not outnumber."""

    source: str
    time_col: str
    count_col: str | None
    user_col: str | None
    seconds: float
    label: str
    start: float | None
    start_text: str | None
    n: int


@dataclass(frozen=True)
class Binned:
    """New posters per round, the start of round 0 (seconds since the epoch), the rows read and
    the intervals interpolated."""

    new: np.ndarray
    origin: float
    rows: int
    filled: int


def chunks(path: Path, layout: Layout) -> Iterator[pd.DataFrame]:
    """The file's needed columns, chunk by chunk (CSV as text, Parquet in its own types)."""
    wanted = [c for c in (layout.time_col, layout.count_col, layout.user_col) if c is not None]
    source = layout.source
    try:
        if Path(source).suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            with pq.ParquetFile(path) as parquet:
                _check_columns(parquet.schema_arrow.names, wanted, source)
                for batch in parquet.iter_batches(batch_size=CHUNK_ROWS, columns=wanted):
                    if batch.num_rows:
                        yield batch.to_pandas()
            return
        options = {"dtype": str, "keep_default_na": False, "encoding": "utf-8"}
        _check_columns(list(pd.read_csv(path, nrows=0, **options).columns), wanted, source)
        with pd.read_csv(path, usecols=wanted, chunksize=CHUNK_ROWS, **options) as reader:
            yield from (frame for frame in reader if len(frame))
    except UnicodeDecodeError:
        raise DataFormatError(f"{source}: not UTF-8 text; save it as UTF-8 CSV") from None
    except pd.errors.EmptyDataError:
        raise DataFormatError(f"{source}: the file has no rows") from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataFormatError(f"{source}: cannot be read as CSV or Parquet ({first})") from None


def _check_columns(found: list[str], wanted: list[str], source: str) -> None:
    for column in wanted:
        if column not in found:
            raise DataFormatError(
                f"{source}: no column {column!r}; columns are {', '.join(map(str, found))}"
            )


def times(
    values: pd.Series, column: str, source: str, row0: int, zoned: bool | None
) -> tuple[np.ndarray, bool]:
    """Seconds since the epoch (UTC) of a chunk whose first row is ``row0``, and whether its
    times carry a zone (``zoned``: the file's so far). Naive and zoned times may not be mixed;
    a time without a zone is UTC."""
    if pd.api.types.is_datetime64_any_dtype(values):
        has_zone = values.dt.tz is not None
        stamps = values.dt.tz_convert("UTC") if has_zone else values.dt.tz_localize("UTC")
        zones, texts = np.full(len(values), has_zone), values.astype(str)
    else:
        texts = values.astype(str).str.strip()
        stamps = pd.to_datetime(texts, format="ISO8601", utc=True, errors="coerce")
        zones = pc.match_substring_regex(pa.array(texts, type=pa.string()), _ZONE)
        zones = zones.to_numpy(zero_copy_only=False).astype(bool)
    seconds = ((stamps - EPOCH) / pd.Timedelta(seconds=1)).to_numpy(float)
    for i in np.flatnonzero(np.isnan(seconds)).tolist():  # other forms pandas reads, one by one
        seconds[i], zones[i] = _one_time(texts.iloc[i], column, source, row0 + i)
    first = zones[0] if zoned is None else zoned
    mixed = np.flatnonzero(zones != first)
    if mixed.size:
        raise DataFormatError(
            f"{source}, row {row0 + mixed[0] + 2}, column {column}: mixes times with and without "
            "a time zone; give every time in one form (e.g. all in UTC with a Z)"
        )
    return seconds, bool(first)


def _one_time(text: str, column: str, source: str, row: int) -> tuple[float, bool]:
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError, OverflowError):
        stamp = pd.NaT
    if text == "" or pd.isna(stamp):
        raise DataFormatError(
            f"{source}, row {row + 2}, column {column}: {text[:40]!r} is not a date and time; "
            "use ISO 8601, e.g. 2026-05-01T14:00:00Z"
        )
    zoned = stamp.tzinfo is not None
    return (stamp if zoned else stamp.tz_localize("UTC")).timestamp(), zoned


def rounds(seconds: np.ndarray, origin: float, layout: Layout, row0: int) -> np.ndarray:
    """The round of each time from the start of round 0; a time before ``--start`` is an
    error, and so is a span of more than :data:`MAX_ROUNDS` intervals."""
    offsets = (seconds - origin) / layout.seconds
    before = np.flatnonzero(offsets < 0)
    if before.size:
        raise DataFormatError(
            f"{layout.source}, row {row0 + before[0] + 2}, column {layout.time_col}: before the "
            f"start {layout.start_text}"
        )
    out = np.floor(offsets + 1e-9).astype(np.int64)
    if out.size and out.max() >= MAX_ROUNDS:
        raise DataFormatError(
            f"{layout.source}: the data span {out.max() + 1:,} intervals of {layout.label}; at "
            f"most {MAX_ROUNDS:,} can be fitted, choose a longer interval"
        )
    return out


def read_posts(open_chunks: Callable[[], Iterator[pd.DataFrame]], layout: Layout) -> Binned:
    """One row per post: new posters per round, each user's first post only when there is a user
    column. Without ``--start``, round 0 starts at the earliest post; a file whose first row is
    not its earliest is read twice (sorted files, the usual export, once)."""
    if layout.user_col is not None:
        return _first_posts(open_chunks, layout)
    binned, earliest = _count_posts(open_chunks(), layout, layout.start)
    while binned is None:  # a post earlier than the first row: bin again from the earliest
        binned, earliest = _count_posts(open_chunks(), layout, earliest)
    return binned


def _count_posts(
    stream: Iterator[pd.DataFrame], layout: Layout, origin: float | None
) -> tuple[Binned | None, float]:
    """Posts per round from ``origin`` (None: the first row's time) and the earliest time; None
    instead of the counts when a post precedes the first row's time."""
    counts, rows, zoned, earliest = np.zeros(1, np.int64), 0, None, math.inf
    fixed = origin is not None
    for chunk in stream:
        seconds, zoned = times(chunk[layout.time_col], layout.time_col, layout.source, rows, zoned)
        origin = float(seconds[0]) if origin is None else origin
        earliest = min(earliest, float(seconds.min()))
        found = rounds(seconds, origin if fixed else min(origin, earliest), layout, rows)
        if rows + len(chunk) > layout.n:
            _too_many(layout, layout.n - rows, rows, layout.time_col, "post")
        if earliest >= origin:
            counts = _add(counts, found)
        rows += len(chunk)
    if origin is None:
        raise DataFormatError(f"{layout.source}: the file has no rows")
    return (Binned(counts, origin, rows, 0) if earliest >= origin else None), earliest


def _add(counts: np.ndarray, found: np.ndarray) -> np.ndarray:
    more = np.bincount(found, minlength=counts.size)
    more[: counts.size] += counts
    return more


def _first_posts(open_chunks: Callable[[], Iterator[pd.DataFrame]], layout: Layout) -> Binned:
    """Each user's earliest post, kept per user across chunks, binned at the end."""
    first: pd.Series = pd.Series(dtype=float)
    rows, zoned = 0, None
    for chunk in open_chunks():
        seconds, zoned = times(chunk[layout.time_col], layout.time_col, layout.source, rows, zoned)
        if layout.start is not None:
            rounds(seconds, layout.start, layout, rows)  # checks: after the start, not too long
        users = chunk[layout.user_col].astype(str).to_numpy()
        new = ~pd.Index(users).duplicated() & ~pd.Index(users).isin(first.index)
        over = np.flatnonzero(len(first) + np.cumsum(new) > layout.n)
        if over.size:
            _too_many(layout, int(over[0]), rows, str(layout.user_col), "user")
        earliest = pd.Series(seconds, index=users).groupby(level=0).min()
        first = earliest if first.empty else pd.concat([first, earliest]).groupby(level=0).min()
        rows += len(chunk)
    if rows == 0:
        raise DataFormatError(f"{layout.source}: the file has no rows")
    stamps = first.to_numpy(float)
    origin = layout.start if layout.start is not None else float(stamps.min())
    return Binned(np.bincount(rounds(stamps, origin, layout, 0)), origin, rows, 0)


def read_counts(stream: Iterator[pd.DataFrame], layout: Layout) -> Binned:
    """One row per interval with its new posters: rows in time order, one per interval; a
    missing interval is unknown, not zero, so the cumulative count is interpolated across it."""
    kept_rounds: list[np.ndarray] = []
    kept_new: list[np.ndarray] = []
    rows, zoned, origin, last, total = 0, None, layout.start, (-math.inf, -1), 0
    for chunk in stream:
        seconds, zoned = times(chunk[layout.time_col], layout.time_col, layout.source, rows, zoned)
        origin = float(seconds[0]) if origin is None else origin
        # without --start an earlier row is time going backwards, reported in row order below
        found = rounds(
            seconds if layout.start else np.maximum(seconds, origin), origin, layout, rows
        )
        new = _counts(chunk[layout.count_col], seconds, found, last, layout, rows)
        over = np.flatnonzero(total + np.cumsum(new) > layout.n)
        if over.size:
            _too_many(layout, int(over[0]), rows, str(layout.count_col), "poster")
        total += int(new.sum())
        kept_rounds.append(found)
        kept_new.append(new)
        last = (float(seconds[-1]), int(found[-1]))
        rows += len(chunk)
    if rows == 0:
        raise DataFormatError(f"{layout.source}: the file has no rows")
    at, new = np.concatenate(kept_rounds), np.concatenate(kept_new)
    present = np.zeros(int(at.max()) + 1, dtype=bool)
    present[at] = True
    cumulative = np.full(present.size, np.nan)
    cumulative[at] = np.cumsum(new)
    missing = np.flatnonzero(~present)
    if missing.size:
        cumulative[missing] = np.interp(missing, at, cumulative[at])
    new_per_round = np.diff(np.floor(cumulative).astype(np.int64), prepend=0)
    return Binned(new_per_round, float(origin), rows, int(missing.size))  # type: ignore[arg-type]


def _too_many(layout: Layout, i: int, row0: int, column: str, what: str) -> None:
    """Raise: row ``i`` of the chunk starting at ``row0`` brings the posters past N."""
    raise DataFormatError(
        f"{layout.source}, row {row0 + i + 2}, column {column}: more {what}s than N = "
        f"{layout.n:,} by this row; give the population size N that the posters come from"
    )


def _counts(
    values: pd.Series,
    seconds: np.ndarray,
    found: np.ndarray,
    last: tuple[float, int],
    layout: Layout,
    row0: int,
) -> np.ndarray:
    """A chunk's counts, checked row by row in file order: a whole number >= 0, time not going
    backwards, one row per interval (``last``: the previous chunk's final time and round)."""
    texts = values.astype(str).str.strip() if not pd.api.types.is_numeric_dtype(values) else values
    numbers = pd.to_numeric(texts, errors="coerce").to_numpy(float)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(numbers) | (numbers < 0) | (numbers != np.round(numbers))
    backwards = np.diff(seconds, prepend=last[0]) < 0
    twice = np.diff(found, prepend=last[1]) == 0
    problems = np.flatnonzero(bad | backwards | twice)
    if problems.size:
        i = int(problems[0])
        where = f"{layout.source}, row {row0 + i + 2}, column"
        if bad[i]:
            raise DataFormatError(
                f"{where} {layout.count_col}: {str(texts.iloc[i])[:40]!r} is not a count of new "
                "posters (a whole number >= 0)"
            )
        if backwards[i]:
            raise DataFormatError(f"{where} {layout.time_col}: time goes backwards; sort the rows")
        raise DataFormatError(
            f"{where} {layout.time_col}: a second row for the interval starting at the row above; "
            "give one row per interval"
        )
    return numbers.astype(np.int64)
