"""Fits persisted in the run database, the fits CSV export, and the fit commands."""

from __future__ import annotations

import pandas as pd
import pytest
from cli_runner import spreadlab

from spreadlab.analysis.trait_effects import fit_trait_effects
from spreadlab.engine.simulate import Scenario
from spreadlab.engine.stochastic import ParameterTable, StochasticPolicy
from spreadlab.errors import FitError, StoreError
from spreadlab.jobs.runner import run_scenario
from spreadlab.store.fits import (
    PARAM_NAMES,
    export_fits_csv,
    fit_and_save,
    load_fits,
    load_group,
    stored_decision_log,
)
from spreadlab.store.runs import RunStore
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PRESETS


def add_runs(store: RunStore, event, scenario_id: str, **kw) -> list[str]:
    settings = {"rounds": 25, "q": 0.01, "n0": 10, "replicates": 3, "seed": 4, **kw}
    scenario = Scenario(event, PRESETS["uniform"], NetworkSpec(n=1000, k=6), **settings)
    policy = StochasticPolicy(ParameterTable.uniform(0.5, 0.08))
    return run_scenario(store, scenario, policy, scenario_id=scenario_id)


def fit_count(store: RunStore) -> int:
    query = "SELECT table_name FROM information_schema.tables"
    tables = {r[0] for r in store.con.execute(query).fetchall()}
    return store.con.execute("SELECT count(*) FROM fits").fetchone()[0] if "fits" in tables else 0


def test_scenario_fit_is_stored_with_every_interval_and_replaced_on_refit(store, event):
    add_runs(store, event, "sc")
    fitted = fit_and_save(store, ["sc"], ["si1", "si2", "pair_map"])
    ((group, fits),) = fitted
    assert [f.model for f in fits] == ["si1", "si2", "pair_map"]
    assert group.group_kind == "scenario" and group.run_ids == ("sc-000", "sc-001", "sc-002")
    table = load_fits(store)
    assert len(table) == 3 and set(table["model"]) == {"si1", "si2", "pair_map"}
    si2 = table.set_index("model").loc["si2"]
    assert si2["runs"] == "sc-000;sc-001;sc-002" and si2["n_runs"] == 3
    assert si2["alpha_lo"] <= si2["alpha"] <= si2["alpha_hi"]
    assert si2["beta_lo"] <= si2["beta"] <= si2["beta_hi"]
    assert pd.isna(si2["qa"]) and "per round" in si2["units"]
    assert si2["backend"] == "stochastic" and si2["synthetic"]
    assert si2["data_source"].startswith("synthetic")
    assert si2["package_version"] and not pd.isna(si2["fitted_at"])
    fit_and_save(store, ["sc"], ["si2"])
    assert fit_count(store) == 3


def test_each_run_alone_and_arbitrary_groups(store, event):
    add_runs(store, event, "sc")
    fit_and_save(store, ["sc-000", "sc-002"], ["si2"], each=True, ci="none")
    fit_and_save(store, ["sc-000", "sc-002"], ["si2"], ci="none")
    table = load_fits(store)
    assert sorted(table["group_kind"]) == ["group", "run", "run"]
    assert table["beta_lo"].isna().all()  # no intervals asked for: empty, not invented


def test_bad_input_writes_nothing(store, event):
    add_runs(store, event, "sc")
    add_runs(store, event, "flat", q=0.0, n0=1, replicates=1, rounds=4, seed=1)
    fit_and_save(store, ["sc"], ["si1"], ci="none")
    before = fit_count(store)
    with pytest.raises(FitError, match="unknown model"):
        fit_and_save(store, ["sc"], ["si2", "si7"])
    with pytest.raises(FitError, match="lengths differ"):
        fit_and_save(store, ["sc", "flat"], ["si2"])
    with pytest.raises(FitError, match="too few rounds"):
        fit_and_save(store, ["flat"], ["si2"])
    with pytest.raises(StoreError, match="no run or scenario"):
        fit_and_save(store, ["missing"], ["si2"])
    assert fit_count(store) == before


def test_runs_of_different_sizes_are_not_pooled(store, event):
    add_runs(store, event, "a")
    scenario = Scenario(event, PRESETS["uniform"], NetworkSpec(n=500, k=6), rounds=25, q=0.01)
    run_scenario(store, scenario, StochasticPolicy(), scenario_id="b")
    with pytest.raises(FitError, match="different numbers of agents"):
        load_group(store, ["a-000", "b-000"])


def test_export_csv_has_one_column_group_per_parameter(store, event, tmp_path):
    with pytest.raises(StoreError, match="no fits"):
        export_fits_csv(store, tmp_path / "none.csv")
    add_runs(store, event, "sc")
    fit_and_save(store, ["sc"], ["si1", "si2h"])
    rows = export_fits_csv(store, tmp_path / "fits.csv")
    frame = pd.read_csv(tmp_path / "fits.csv")
    assert rows == len(frame) == 2
    for name in PARAM_NAMES:
        assert {name, f"{name}_lo", f"{name}_hi"} <= set(frame.columns)
    row = frame.set_index("model").loc["si2h"]
    assert row["f_lo"] <= row["f"] <= row["f_hi"] and pd.isna(row["alpha"])


def test_fit_and_export_commands(tmp_path, event):
    db = tmp_path / "cli.duckdb"
    with RunStore(db) as store:
        add_runs(store, event, "sc")

    done = spreadlab("fit", "sc", "--models", "si1,si2", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert "si1 vs si2" in done.stdout and "chi-bar-squared" in done.stdout
    assert "per round per informed neighbour" in done.stdout
    bad = spreadlab("fit", "sc", "--models", "si1,sir", "--db", str(db))
    assert bad.returncode == 2 and "unknown model 'sir'" in bad.stderr
    out = tmp_path / "fits.csv"
    exported = spreadlab("export-fits", str(out), "--db", str(db))
    assert exported.returncode == 0, exported.stderr
    assert len(pd.read_csv(out)) == 2


def test_trait_effects_from_stored_decisions(store, event):
    add_runs(store, event, "sc")
    log = stored_decision_log(store, ["sc"])
    consulted = store.con.execute("SELECT count(*) FROM decisions").fetchone()[0]
    assert len(log) == consulted and set(log["event_type"]) == {event.type}
    effects = fit_trait_effects(log)
    # uniform a and b: no trait matters, so every trait effect is near zero
    traits = effects.table[effects.table["term"].isin(list("OCEAN"))]
    assert (traits["estimate"].abs() < 4 * traits["se"]).all()
