import json

import numpy as np
import pytest

from spreadlab import __version__
from spreadlab.engine.simulate import Scenario
from spreadlab.engine.stochastic import ILLUSTRATIVE, StochasticPolicy
from spreadlab.errors import Cancelled, StoreError
from spreadlab.jobs.runner import resume_run, run_scenario
from spreadlab.store.runs import RunStore
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PRESETS


def scenario(event, **kw):
    base = dict(rounds=25, q=0.02, n0=5, replicates=2, seed=11)
    return Scenario(event, PRESETS["uniform"], NetworkSpec(n=400, k=6), **{**base, **kw})


def test_runs_carry_provenance_and_curves(store, event):
    ids = run_scenario(store, scenario(event), StochasticPolicy(), scenario_id="sc1")
    assert ids == ["sc1-000", "sc1-001"]
    runs = store.list_runs()
    assert set(runs["status"]) == {"complete"} and runs["synthetic"].all()
    meta = store.run_meta("sc1-000")
    prov = json.loads(meta["provenance"])
    assert prov["backend"] == "stochastic" and prov["parameter_table"] == ILLUSTRATIVE
    assert prov["seed"] == 11 and len(prov["a"]) == 32
    assert meta["package_version"] == __version__ and meta["created_at"] is not None
    run = store.load_run("sc1-001")
    assert run.network.n == 400 and set(run.network.degrees.tolist()) == {6}
    curve = run.curve
    assert list(curve["round"]) == list(range(len(curve)))
    assert np.array_equal(curve["informed"], curve["new_posters"].cumsum())
    decisions = run.decisions
    assert int(decisions["post"].sum()) == int(curve["informed"].iloc[-1])
    assert not decisions.duplicated(["round", "agent"]).any()


def test_delete_removes_everything(store, event):
    run_scenario(store, scenario(event, replicates=1), StochasticPolicy(), scenario_id="x")
    store.delete_run("x-000")
    assert store.table_counts() == {t: 0 for t in store.table_counts()}
    with pytest.raises(StoreError, match="no run 'x-000'"):
        store.delete_run("x-000")


def test_a_failing_round_write_leaves_no_partial_rows(store, event, monkeypatch):
    sc = scenario(event, replicates=1)
    calls = {"n": 0}
    original = store.insert_row

    def flaky(table, row):
        if table == "curves":
            calls["n"] += 1
            if calls["n"] == 4:
                raise OSError("disk full")
        original(table, row)

    monkeypatch.setattr(store, "insert_row", flaky)
    with pytest.raises(OSError):
        run_scenario(store, sc, StochasticPolicy(), scenario_id="f")
    meta = store.run_meta("f-000")
    assert meta["status"] == "interrupted" and meta["rounds_done"] == 3
    decisions = store.decisions("f-000")
    assert decisions["round"].max() == 2  # round 3's decisions were rolled back with its curve
    assert len(store.curve("f-000")) == 3


def test_cancelled_run_resumes_to_the_uninterrupted_result(tmp_path, event):
    sc = scenario(event, replicates=1, q=0.03)
    with RunStore(tmp_path / "a.duckdb") as full:
        run_scenario(full, sc, StochasticPolicy(), scenario_id="s")
        expected = full.decisions("s-000")

    def cancel_at_round_6(progress):
        if progress.round == 6:
            raise Cancelled

    with RunStore(tmp_path / "b.duckdb") as part:
        with pytest.raises(Cancelled):
            run_scenario(
                part, sc, StochasticPolicy(), scenario_id="s", on_progress=cancel_at_round_6
            )
        assert part.run_meta("s-000")["status"] == "interrupted"
        resume_run(part, "s-000", StochasticPolicy())
        assert part.run_meta("s-000")["status"] == "complete"
        resumed = part.decisions("s-000")
    assert resumed.equals(expected)
    with RunStore(tmp_path / "b.duckdb") as part, pytest.raises(StoreError, match="complete"):
        resume_run(part, "s-000", StochasticPolicy())


def test_unwritable_database_path_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        RunStore(tmp_path / "missing" / "x.duckdb")
    locked = tmp_path / "ro"
    locked.mkdir()
    (locked / "db.duckdb").write_text("this is not a database")
    with pytest.raises(StoreError, match="cannot open database"):
        RunStore(locked / "db.duckdb")
