"""Shared fixtures."""

from __future__ import annotations

import numpy as np
import pytest

from spreadlab.events import catalog
from spreadlab.store import RunStore


@pytest.fixture
def event():
    return catalog()["battle-marren-ridge"]


@pytest.fixture
def store(tmp_path):
    with RunStore(tmp_path / "runs.duckdb") as s:
        yield s


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
