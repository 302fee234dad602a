"""Observed datasets in the dashboard: saved, listed and loaded through the store, cached like
the runs (keyed by the database path and the table's fingerprint), and fitted with the models
that need no network."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from spreadlab.analysis import observed, observed_compare
from spreadlab.dashboard import ui
from spreadlab.store import observed as observed_store

if TYPE_CHECKING:
    from spreadlab.analysis.fit import FitResult
    from spreadlab.analysis.observed import ObservedSeries
    from spreadlab.analysis.observed_compare import Candidate, Comparison

Fitted = tuple[
    "dict[str, FitResult]", "dict[str, str]", "dict[str, dict[str, tuple[float, float]]]"
]


CLI_COMMAND = "spreadlab observe FILE --time-col ... --interval 1h --n ... --db ..."


def upload_limit_mb() -> int:
    """The largest upload the server takes, in MB (Streamlit's ``server.maxUploadSize``)."""
    return int(st.get_option("server.maxUploadSize"))


def upload_note() -> str:
    """The upload limit and the command for larger files."""
    return (
        f"Files up to {upload_limit_mb()} MB. For larger ones use the command line, which reads "
        f"files of any size in a stream and stores the result for these pages: {CLI_COMMAND}"
    )


def over_limit(name: str, size: int) -> str:
    """Why an upload of ``size`` bytes is refused (naming the limit and the command), or ''."""
    limit = upload_limit_mb()
    if size <= limit * 2**20:
        return ""
    return (
        f"{name} is {size / 2**20:,.0f} MB, over this page's {limit} MB upload limit: read it "
        f"with the command line instead, which streams it: {CLI_COMMAND}"
    )


def save(series: ObservedSeries) -> str:
    """Keep ``series`` in the dashboard's database; returns its dataset id."""
    with ui.open_store() as store:
        return observed_store.save_series(store.con, series)


def delete(dataset_ids: list[str]) -> None:
    """Delete the stored datasets ``dataset_ids`` (all or none)."""
    with ui.open_store() as store:
        observed_store.delete_series(store, dataset_ids)


def _revision() -> str:
    return ui.table_revision("observed")


@st.cache_data(show_spinner=False)
def _datasets(path: str, rev: str) -> pd.DataFrame:
    with ui.open_store() as store:
        return observed_store.list_series(store.con)


def datasets() -> pd.DataFrame:
    """Every stored observed dataset (id, source, provenance, interval, N), newest first."""
    return _datasets(ui.database_path(), _revision())


@st.cache_data(max_entries=16, show_spinner=False)
def _series(path: str, dataset_id: str, rev: str) -> ObservedSeries:
    with ui.open_store() as store:
        return observed_store.load_series(store.con, dataset_id)


def series(dataset_id: str) -> ObservedSeries:
    """The stored dataset ``dataset_id`` (cached)."""
    return _series(ui.database_path(), dataset_id, _revision())


@st.cache_data(max_entries=32, show_spinner="Fitting the models...")
def _fitted(key: str, models: tuple[str, ...], _series: ObservedSeries) -> Fitted:
    fits, failures = observed.fit_series(_series, models)
    return fits, failures, observed.n_sensitivity(_series, tuple(fits))


def fitted(series: ObservedSeries, models: tuple[str, ...]) -> Fitted:
    """The models fitted to ``series``, the reason for each that could not be, and the estimates
    refitted at the ends of N's range (cached by the series' content)."""
    return _fitted(observed_store.dataset_id(series), tuple(models), series)


@st.cache_data(max_entries=4, show_spinner="Averaging the stored scenarios...")
def _candidates(path: str, rev: str) -> list[Candidate]:
    with ui.open_store() as store:
        return observed_store.scenario_candidates(store)


def candidates() -> list[Candidate]:
    """Every stored scenario's mean curve with its provenance, to compare with (cached)."""
    return _candidates(ui.database_path(), ui.revision())


@st.cache_data(max_entries=32, show_spinner="Comparing with the stored scenarios...")
def _comparison(
    key: str, mapping: str, ids: tuple[str, ...], path: str, rev: str, _series: ObservedSeries
) -> Comparison:
    chosen = [c for c in candidates() if not ids or c.scenario_id in ids]
    return observed_compare.compare_scenarios(_series, chosen, mapping)


def comparison(series: ObservedSeries, mapping: str, ids: tuple[str, ...] = ()) -> Comparison:
    """The stored scenarios (those in ``ids``, if given) ranked by closeness to ``series``
    (cached by the series' content and the runs' fingerprint)."""
    key = observed_store.dataset_id(series)
    return _comparison(key, mapping, ids, ui.database_path(), ui.revision(), series)
