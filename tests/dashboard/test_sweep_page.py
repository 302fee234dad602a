"""The Sweep page (pages/7_Sweep.py) with Streamlit's AppTest, and its pure builders
(spreadlab.dashboard.sweep_figures, spreadlab.analysis.differences)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from sweep_support import build_sweep_db

from spreadlab.analysis.differences import benjamini_hochberg, difference_p_values
from spreadlab.dashboard import sweep_figures as sf
from spreadlab.jobs import sweep_cell
from spreadlab.store.runs import RunStore
from spreadlab.store.sweeps import list_sweeps, sweep_cells

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sweep_db(tmp_path_factory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("sweep") / "sweep.duckdb"
    return path, build_sweep_db(path)


@pytest.fixture
def cells(sweep_db) -> pd.DataFrame:
    path, sweep_id = sweep_db
    with RunStore(path) as store:
        return sweep_cells(store, sweep_id)


def page(path: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("SPREADLAB_DB", str(path))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/7_Sweep.py")
    return at.run()


def test_benjamini_hochberg_matches_the_textbook_example():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    adjusted = benjamini_hochberg(p)
    assert np.allclose(adjusted[:4], [0.02, 0.04, 0.04, 0.02]) and np.isnan(adjusted[4])
    assert np.allclose(difference_p_values([1.0], [0.5], [0.0], [0.0]), [0.0455], atol=1e-4)


def test_heatmap_shows_each_cell_with_its_interval_on_hover(cells):
    fig = sf.heatmap(cells, "reach", "mix", "event")
    trace = fig.data[0]
    assert list(trace.x) == ["conscientious-agreeable", "extraverted", "uniform"]
    assert list(trace.y) == ["battle-marren-ridge", "protest-fuel-price"]
    done = cells.set_index(["event", "mix"])
    assert trace.z[0][2] == pytest.approx(done.loc[("battle-marren-ridge", "uniform"), "reach"])
    assert "95% interval" in trace.customdata[0][2]


def test_small_multiples_draw_each_cells_mean_curve_with_its_band(cells):
    fig = sf.small_multiples(cells, "mix", "event")
    titles = [a.text for a in fig.layout.annotations]
    assert titles == [
        f"{event} × {mix}"
        for event in ("battle-marren-ridge", "protest-fuel-price")
        for mix in ("conscientious-agreeable", "extraverted", "uniform")
    ]
    assert len(fig.data) == 6 * 3  # per chart: upper band, lower band filled to it, mean
    cell = cells.set_index(["event", "mix"]).loc[("protest-fuel-price", "uniform")]
    upper, lower, mean = fig.data[15:18]
    assert np.allclose(mean.y, cell["curve_mean"]) and len(mean.y) == 26  # rounds 0..25
    assert lower.fill == "tonexty" and np.all(lower.y <= mean.y) and np.all(mean.y <= upper.y)
    pooled = sf.small_multiples(cells, "mix", "replicates")  # two events in each square
    assert len(pooled.data) == 3 and "mean of 2 cells' means" in pooled.data[0].hovertemplate
    both = cells[cells["mix"] == "uniform"]["curve_mean"]
    assert np.allclose(pooled.data[2].y, np.mean(np.vstack(both.tolist()), axis=0))


def test_the_stored_band_is_the_t_interval_of_the_replicates_mean():
    fractions = np.array([[0.1, 0.5, 0.9], [0.1, 0.3, 0.7], [0.1, 0.4, 1.0]])
    curve = sweep_cell.mean_curve(fractions)
    half = 4.302653 * fractions.std(axis=0, ddof=1) / np.sqrt(3)  # t(0.975, 2 df)
    assert np.allclose(curve["curve_mean"], fractions.mean(axis=0))
    assert np.allclose(curve["curve_lo"], np.clip(fractions.mean(axis=0) - half, 0, 1))
    assert np.allclose(curve["curve_hi"], np.clip(fractions.mean(axis=0) + half, 0, 1))
    assert sweep_cell.mean_curve(fractions[:1])["curve_lo"] is None


def test_comparison_flags_only_what_survives_the_fdr_correction(cells):
    pairs = sf.comparison(cells, "reach", "mix", "uniform")
    assert len(pairs) == 4  # two other mixes × two events, each against its uniform twin
    assert (pairs["p_adjusted"] >= pairs["p"]).all()
    assert pairs["differs"].equals(pairs["p_adjusted"] < 0.05)
    shown = sf.comparison_display(pairs, "reach", "mix", "uniform")
    assert set(shown["differs (FDR 5%)"]) <= {"yes", "no"}


def test_csv_has_one_row_per_cell_with_provenance(sweep_db, cells):
    path, sweep_id = sweep_db
    with RunStore(path) as store:
        sweep = list_sweeps(store).set_index("sweep_id").loc[sweep_id]
    table = pd.read_csv(io.StringIO(sf.csv_table(cells, sweep).to_csv(index=False)))
    assert len(table) == 6 and table["cell_id"].is_unique
    assert set(table["data_source"]) == {"synthetic (stochastic model, not LLM agents)"}
    assert set(table["grid_seed"]) == {5} and table["seed"].nunique() == 6
    assert {"reach_lo", "reach_hi", "si2_alpha", "verdict", "table_provenance"} <= set(table)
    assert all(json.loads(p)["sweep_id"] == sweep_id for p in table["sweep_provenance"])
    assert set(table["provenance"]) == {"illustrative"}


def test_sweep_page_renders_heatmap_table_and_csv(sweep_db, monkeypatch):
    path, _ = sweep_db
    at = page(path, monkeypatch)
    assert not at.exception
    assert "page test · 6 of 6 cells done" in at.selectbox[0].options[0]
    assert "Synthetic" in at.warning[0].value
    heat, curves = (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
    assert heat["data"][0]["type"] == "heatmap"
    assert len(curves["data"]) == 18 and {t["type"] for t in curves["data"]} == {"scatter"}
    assert len(curves["layout"]["annotations"]) == 6  # events × mixes, one small chart each
    assert "cells differ from their twin" in at.markdown[-1].value
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 4
    assert len(at.download_button) == 1
    next(s for s in at.selectbox if s.label == "Summary").set_value("delta_bic").run()
    assert not at.exception
    assert "no interval to test" in at.info[0].value


def test_sweep_page_says_when_cells_were_stored_without_curves(sweep_db, tmp_path, monkeypatch):
    path = tmp_path / "old.duckdb"
    path.write_bytes(sweep_db[0].read_bytes())
    with RunStore(path) as store:  # as cells stored before schema 6 kept their mean curves
        store.con.execute(
            "UPDATE sweep_cells SET curve_mean = NULL, curve_lo = NULL, curve_hi = NULL"
        )
    at = page(path, monkeypatch)
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1  # the heatmap only
    assert "stored before SpreadLab kept each cell's mean curve" in at.info[0].value


def test_sweep_page_labels_llm_cells_and_lists_those_not_run(sweep_db, tmp_path, monkeypatch):
    path = tmp_path / "mixed.duckdb"
    path.write_bytes(sweep_db[0].read_bytes())
    with RunStore(path) as store:  # as a mixed grid whose LLM budget ran out (see test_sweep_llm)
        store.con.execute(
            "UPDATE sweep_cells SET params = 'llm', table_source = 'llm', "
            "table_provenance = 'LLM agents: model sim-1 at http://127.0.0.1:9/v1' "
            "WHERE mix = 'extraverted'"
        )
        store.con.execute(
            "UPDATE sweep_cells SET status = 'not_run', reach = NULL, "
            "error = 'not run: budget of 25 calls spent' "
            "WHERE mix = 'extraverted' AND event = 'protest-fuel-price'"
        )
    at = page(path, monkeypatch)
    assert not at.exception
    assert "parameter table were simulated with the stochastic agent model" in at.warning[0].value
    assert at.info[0].value.startswith("Not synthetic: cells whose parameter table is 'llm' were")
    assert "decided by LLM agents\\: model sim\\-1" in at.info[0].value  # markdown-escaped
    assert any(
        e.label.startswith("1 cell(s) not run (the LLM budget ran out)") for e in at.expander
    )


def test_sweep_page_without_sweeps_says_how_to_run_one(tmp_path, monkeypatch):
    with RunStore(tmp_path / "empty.duckdb"):
        pass
    at = page(tmp_path / "empty.duckdb", monkeypatch)
    assert not at.exception
    assert "No sweeps in this database yet" in at.info[0].value
