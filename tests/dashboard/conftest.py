"""Fixtures shared by the dashboard tests."""

import pytest
from dashboard_support import build_db

from spreadlab.store.runs import RunStore


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A database with the dashboard's test runs (several scenarios, one large network), open."""
    path = tmp_path_factory.mktemp("dashboard") / "runs.duckdb"
    ids = build_db(path, large=True)
    with RunStore(path) as store:
        yield store, ids
