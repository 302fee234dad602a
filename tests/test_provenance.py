"""One provenance vocabulary (glossary.PROVENANCES) in every CSV: fits, curves, sweep, observed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from spreadlab import glossary
from spreadlab.analysis.observed import (
    EXAMPLE_PATH,
    fit_series,
    fits_frame,
    read_series,
    series_frame,
    series_verdict,
)
from spreadlab.dashboard import sweep_figures
from spreadlab.dashboard.labels import provenance_note
from spreadlab.dashboard.tables import curves_csv_table
from spreadlab.engine.simulate import Scenario
from spreadlab.engine.stochastic import ILLUSTRATIVE, ParameterTable, StochasticPolicy
from spreadlab.engine.surrogate import surrogate_label
from spreadlab.jobs.runner import run_scenario
from spreadlab.jobs.sweep import run_sweep
from spreadlab.jobs.sweep_grid import parse_grid
from spreadlab.store.exchange import export_run, import_run
from spreadlab.store.fits import fit_and_save, load_fits, with_provenance
from spreadlab.store.queries import informed_curves, run_provenances
from spreadlab.store.sweeps import list_sweeps, sweep_cells
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PRESETS

CALIBRATION = {
    "model": "sim-1",
    "calibration_id": "cal-1",
    "endpoint_host": "127.0.0.1:8000",
    "created": pd.Timestamp("2026-05-01"),
    "prompt_version": "3",
    "decisions": 1920,
}
USER = ParameterTable.uniform(0.4, 0.06)
TABLES = {
    "illustrative": ParameterTable.illustrative(),
    "user table": surrogate_label(USER, "mine.csv", lambda digest: None),
    "surrogate": surrogate_label(USER, "calibrated.csv", lambda digest: CALIBRATION),
}


@pytest.mark.parametrize(
    ("backend", "parameters", "code"),
    [
        ("llm", "", "llm"),
        ("observed", "", "observed"),
        ("stochastic", ILLUSTRATIVE, "illustrative"),
        ("stochastic", TABLES["illustrative"].source, "illustrative"),
        ("stochastic", TABLES["surrogate"].provenance, "surrogate"),
        ("stochastic", TABLES["surrogate"].source, "surrogate"),
        ("stochastic", TABLES["user table"].provenance, "user table"),
        ("stochastic", USER.provenance, "user table"),
        ("stochastic", "calibrated table of model sim-1 at 127.0.0.1", "user table"),
        ("stochastic", "", "user table"),
        ("mixed", "", "user table"),
        ("unknown", "llm agents", "user table"),
    ],
)
def test_every_code_from_realistic_inputs(backend, parameters, code):
    assert glossary.provenance(backend, parameters) == code
    assert code in glossary.PROVENANCES


def add_runs(store, event, scenario_id: str, table: ParameterTable) -> list[str]:
    scenario = Scenario(
        event, PRESETS["uniform"], NetworkSpec(n=400, k=6), rounds=12, q=0.02, replicates=1, seed=3
    )
    return run_scenario(store, scenario, StochasticPolicy(table), scenario_id=scenario_id)


def add_llm_run(store, run_id: str, tmp_path: Path) -> str:
    """A stochastic run exported, relabelled as an LLM run's folder and imported (as a foreign
    LLM run arrives)."""
    folder = export_run(store, run_id, tmp_path / "llm")
    meta = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    meta.update(backend="llm", synthetic=False, provenance={"backend": "llm", "model": "m-1"})
    (folder / "run.json").write_text(json.dumps(meta), encoding="utf-8")
    return import_run(store, folder, run_id="llm-000")


def test_run_csvs_and_banner_use_the_vocabulary(store, event, tmp_path):
    run_ids = {code: add_runs(store, event, code, t)[0] for code, t in TABLES.items()}
    run_ids["llm"] = add_llm_run(store, run_ids["illustrative"], tmp_path)
    expected = {run_id: code for code, run_id in run_ids.items()}
    fit_and_save(store, list(expected), ["si1"], each=True)
    fits = load_fits(store)
    assert dict(zip(fits["group_id"], fits["provenance"], strict=True)) == expected
    runs = store.list_runs()
    curves = curves_csv_table(informed_curves(store, list(expected)), runs)
    assert curves.groupby("run_id")["provenance"].agg(set).to_dict() == {
        r: {c} for r, c in expected.items()
    }
    assert curves.columns[-2:].tolist() == ["data_source", "provenance"]
    for run_id, code in expected.items():
        table = with_provenance(store, [run_id], pd.DataFrame({"x": [1]}))
        assert table["provenance"].tolist() == [code]
    surrogate = runs[runs["run_id"] == run_ids["surrogate"]]
    note = provenance_note(surrogate, run_provenances(store, [run_ids["surrogate"]]))
    assert "(parameters: surrogate: stochastic surrogate of sim-1 (calibration cal-1" in note


def test_sweep_csv_uses_the_vocabulary(store, tmp_path):
    (tmp_path / "mine.csv").write_text(USER.to_csv(), encoding="utf-8")
    grid = {
        "sweep": {"name": "vocabulary", "seed": 2, "rounds": 8},
        "axes": {
            "events": ["battle-marren-ridge"],
            "mixes": ["uniform"],
            "params": ["illustrative", "mine.csv"],
            "n": [300],
            "k": [6],
            "replicates": [2],
        },
    }
    parsed = parse_grid(grid, base=tmp_path)
    run_sweep(store, parsed, summaries_only=True)
    sweep = list_sweeps(store).set_index("sweep_id").loc[parsed.sweep_id]
    table = sweep_figures.csv_table(sweep_cells(store, parsed.sweep_id), sweep)
    assert table["provenance"].tolist() == ["illustrative", "user table"]
    assert all(json.loads(p)["sweep_id"] == parsed.sweep_id for p in table["sweep_provenance"])


def test_observed_csvs_say_observed(tmp_path):
    columns = {"time_col": "hour", "count_col": "new_posters", "interval": "1h", "n": 50_000}
    copy = tmp_path / "mine.csv"
    copy.write_bytes(EXAMPLE_PATH.read_bytes())
    for path in (EXAMPLE_PATH, copy):
        series = read_series(path, **columns)
        fits, _ = fit_series(series, ("si1", "si2"))
        frames = (series_frame(series), fits_frame(series, fits, series_verdict(series, fits)))
        for frame in frames:
            assert set(frame["provenance"]) == {"observed"} <= set(glossary.PROVENANCES)
