"""Shared fixtures."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Test helpers (fake servers, CLI runner, shared fixtures' data) live in tests/support/ and are
# imported by name (``from llm_server import ...``) from every test folder.
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))

import numpy as np
import pytest
from llama_server import llama_server  # noqa: F401  (session fixture: a real llama.cpp server)

from spreadlab.store.runs import RunStore
from spreadlab.world.events import catalog


@pytest.fixture
def event():
    return catalog()["battle-marren-ridge"]


@pytest.fixture
def store(tmp_path):
    with RunStore(tmp_path / "runs.duckdb") as s:
        yield s


@pytest.fixture(autouse=True)
def _in_a_temporary_folder(tmp_path, monkeypatch):
    """Every test runs in its own temporary folder, and without a ``SPREADLAB_DB`` from the
    shell, so a default database path (``./spreadlab.duckdb`` or the one a user exported for the
    dashboard) never reaches a database a dashboard may be using; tests that need the variable
    set it to a file in their own folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPREADLAB_DB", raising=False)


@pytest.fixture(autouse=True)
def _no_streamlit_cache_between_tests():
    """Streamlit's caches live for the process (an xdist worker runs many dashboard tests): clear
    them after each test, so no test sees another's database path or data."""
    yield
    st = sys.modules.get("streamlit")
    if st is not None:
        st.cache_data.clear()
        st.cache_resource.clear()


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (env CI=1) a skipped test is a failure: browser and llama.cpp tests must run."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {reason}"
