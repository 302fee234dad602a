"""Observed datasets kept in the database (table ``observed``): a user's binned time series with
its provenance, so it can be fitted, compared and exported like a scenario.

A dataset is written in one statement after it has been read and checked whole, so bad input
stores nothing. Its id is a hash of its content: saving the same series again replaces it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from spreadlab import __version__
from spreadlab.analysis.observed import ObservedSeries
from spreadlab.analysis.observed_compare import Candidate
from spreadlab.errors import StoreError
from spreadlab.glossary import provenance
from spreadlab.store.runs import RunStore
from spreadlab.store.schema import OBSERVED_COLUMNS, replace_sql

OBSERVED = "observed"
_LISTED = (
    "dataset_id",
    "source",
    "provenance",
    "interval_label",
    "n",
    "n_lo",
    "n_hi",
    "created_at",
)


def dataset_id(series: ObservedSeries) -> str:
    """``obs-`` and a hash of what the series says (source, N and its range, interval, start,
    counts)."""
    digest = hashlib.sha256(
        repr(
            (series.source, series.n, series.n_range, series.interval, series.start, series.layout)
        ).encode()
        + np.asarray(series.counts, dtype=np.int64).tobytes()
    )
    return f"obs-{digest.hexdigest()[:12]}"


def save_series(con: Any, series: ObservedSeries) -> str:
    """Store (or replace) ``series``; returns its dataset id."""
    low, high = series.n_range or (None, None)
    row = {
        "dataset_id": dataset_id(series),
        "source": series.source,
        "provenance": series.provenance,
        "layout": series.layout,
        "interval_label": series.interval,
        "start_time": series.start,
        "n": series.n,
        "n_lo": low,
        "n_hi": high,
        "n_rows": series.rows,
        "filled": series.filled,
        "example": series.example,
        "counts": [int(c) for c in series.counts],
        "package_version": __version__,
        "created_at": datetime.now(UTC).replace(tzinfo=None),
    }
    con.execute(replace_sql(OBSERVED), [row[c] for c in OBSERVED_COLUMNS])
    return str(row["dataset_id"])


def list_series(con: Any) -> pd.DataFrame:
    """Every stored dataset (without its counts), newest first."""
    names = ", ".join(f'"{c}"' for c in _LISTED)
    return con.execute(f"SELECT {names} FROM {OBSERVED} ORDER BY created_at DESC").df()


def load_series(con: Any, wanted: str) -> ObservedSeries:
    """The stored dataset ``wanted``, as it was read."""
    names = ", ".join(f'"{c}"' for c in OBSERVED_COLUMNS)
    row = con.execute(f"SELECT {names} FROM {OBSERVED} WHERE dataset_id = ?", [wanted]).fetchone()
    if row is None:
        raise StoreError(
            f"no observed dataset {wanted!r}; store one first ('spreadlab observe' with this "
            "database, or Save to database on the Observed data page)"
        )
    found = dict(zip(OBSERVED_COLUMNS, row, strict=True))
    n_range = None if found["n_lo"] is None else (int(found["n_lo"]), int(found["n_hi"]))
    return ObservedSeries(
        counts=np.asarray(found["counts"], dtype=np.int64),
        n=int(found["n"]),
        interval=found["interval_label"],
        start=found["start_time"],
        source=found["source"],
        rows=int(found["n_rows"]),
        layout=found["layout"],
        filled=int(found["filled"]),
        example=bool(found["example"]),
        n_range=n_range,
    )


def delete_series(store: RunStore, wanted: list[str]) -> None:
    """Delete the stored datasets ``wanted``: every one of them or, if any is unknown, none (one
    transaction)."""
    with store.transaction() as con:
        found = {
            row[0]
            for row in con.execute(
                f"SELECT dataset_id FROM {OBSERVED} WHERE dataset_id IN (SELECT unnest(?))",
                [list(wanted)],
            ).fetchall()
        }
        missing = [w for w in wanted if w not in found]
        if missing:
            raise StoreError(
                f"no observed dataset {missing[0]!r}, so nothing was deleted; list them with "
                "'spreadlab observed list'"
            )
        con.execute(
            f"DELETE FROM {OBSERVED} WHERE dataset_id IN (SELECT unnest(?))", [list(wanted)]
        )


def observed_revision(con: Any) -> str:
    """Fingerprint of the table (count, newest dataset): it changes with every dataset saved."""
    row = con.execute(
        f"SELECT count(*), coalesce(max(created_at)::VARCHAR, '') FROM {OBSERVED}"
    ).fetchone()
    return "/".join(str(x) for x in row or ())


def scenario_candidates(store: RunStore) -> list[Candidate]:
    """Every stored scenario as a candidate for an observed series: its mean informed fraction
    per round (replicates that ended early held at their last value), a readable label with the
    scenario id, its provenance code (``surrogate``: run with a calibrated table) and whether it
    has settled (:func:`_settled`)."""
    runs = store.list_runs()
    limits = _limits(store)
    out = []
    for scenario_id, part in runs.groupby("scenario_id", sort=False):
        found = [
            (store.curve(r)["informed"].to_numpy(float), status, r)
            for r, status in zip(part["run_id"], part["status"], strict=True)
        ]
        found = [f for f in found if f[0].size]
        if not found:
            continue
        curves = [curve for curve, _, _ in found]
        width = max(c.size for c in curves)
        stacked = np.vstack([np.pad(c, (0, width - c.size), mode="edge") for c in curves])
        first = part.iloc[0]
        n = int(first["n_agents"])
        label = f"{first['event_id']} × {first['mix_name']} (q = {first['q']:g}; {scenario_id})"
        code = provenance(str(first["backend"]), str(first["parameters"]))
        settled = all(_settled(curve, n, status, *limits[run]) for curve, status, run in found)
        out.append(Candidate(label, str(scenario_id), stacked.mean(axis=0) / n, n, code, settled))
    return out


def _limits(store: RunStore) -> dict[str, tuple[int, bool]]:
    """Per run, its round limit and whether it was to stop at a share informed."""
    rows = store.con.execute(
        "SELECT run_id, rounds_max, "
        "json_extract(network_params, '$.stop_fraction') IS NOT NULL FROM runs"
    ).fetchall()
    return {run: (int(limit), bool(stops)) for run, limit, stops in rows}


def _settled(curve: np.ndarray, n: int, status: str, limit: int, stops: bool) -> bool:
    """Whether a run's curve stays at its final level: everybody informed, or a complete run that
    ended before its round limit and any stop fraction, because nothing could change any more."""
    if curve[-1] >= n:
        return True
    return status == "complete" and curve.size - 1 < limit and not stops
