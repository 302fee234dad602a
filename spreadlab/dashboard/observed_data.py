"""Observed datasets in the dashboard: saved, listed and loaded through the store, cached like
the runs (keyed by the database path and the table's fingerprint), and fitted with the models
that need no network."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from spreadlab.dashboard import ui
from spreadlab.store import observed as observed_store

if TYPE_CHECKING:
    from spreadlab.analysis.observed import ObservedSeries


def save(series: ObservedSeries) -> str:
    """Keep ``series`` in the dashboard's database; returns its dataset id."""
    with ui.open_store() as store:
        return observed_store.save_series(store.con, series)


def _revision() -> str:
    with ui.open_store() as store:
        return observed_store.observed_revision(store.con)


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
