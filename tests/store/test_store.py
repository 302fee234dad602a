"""The run store: deleting runs, and refusing a database it cannot open."""

import pytest

from spreadlab.engine.simulate import Scenario
from spreadlab.engine.stochastic import StochasticPolicy
from spreadlab.errors import StoreError
from spreadlab.jobs.runner import run_scenario
from spreadlab.store.runs import RunStore
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PRESETS


def test_delete_removes_everything(store, event):
    scenario = Scenario(event, PRESETS["uniform"], NetworkSpec(n=400, k=6), q=0.02, seed=11)
    run_scenario(store, scenario, StochasticPolicy(), scenario_id="x")
    store.delete_run("x-000")
    assert store.table_counts() == {t: 0 for t in store.table_counts()}
    with pytest.raises(StoreError, match="no run 'x-000'"):
        store.delete_run("x-000")


def test_unwritable_database_path_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        RunStore(tmp_path / "missing" / "x.duckdb")
    locked = tmp_path / "ro"
    locked.mkdir()
    (locked / "db.duckdb").write_text("this is not a database")
    with pytest.raises(StoreError, match="cannot open database"):
        RunStore(locked / "db.duckdb")
