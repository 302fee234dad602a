"""The pure figure builders of spreadlab.dashboard.viz and the dashboard's actions, tables and
verdict text (forms and labels: test_forms.py, test_labels.py)."""

from __future__ import annotations

import io
import json
import re
import tempfile
import zipfile

import numpy as np
import pandas as pd
import pytest
from dashboard_support import PAYLOAD

from spreadlab.analysis.fit import FitResult
from spreadlab.analysis.verdict import Verdict
from spreadlab.dashboard import actions, tables, verdict_text, viz
from spreadlab.errors import DataFormatError
from spreadlab.store.runs import RunStore
from spreadlab.world.networks import random_regular


def graph_data(html: str) -> dict:
    raw = re.search(r'<script type="application/json" id="spread-data">(.*?)</script>', html)
    assert raw is not None
    return json.loads(raw.group(1))


def test_spread_html_is_offline_and_animated(runs):
    store, ids = runs
    run = store.load_run(ids["uniform"][0])
    graph = viz.spread_html(run.network, run.profiles, tables.posted_rounds(run))
    assert not re.search(r"""\s(?:src|href)\s*=\s*["']?(?:https?:)?//""", graph.html)
    assert "bootstrap" not in graph.html.lower() and "vis-network" in graph.html
    data = graph_data(graph.html)
    assert graph.shown == graph.total == run.network.n == len(data["ids"])
    assert not graph.sampled and graph.note == ""
    posted = tables.posted_rounds(run)
    assert data["posted"] == posted.tolist()
    assert data["last"] == posted.max() and graph.rounds == posted.max() + 1
    assert data["colours"] == viz.STATE_COLOURS
    for needed in ("spread-play", "spread-round", "susceptible", "newly posting", "posted"):
        assert needed in graph.html


def test_spread_html_escapes_text(runs):
    store, ids = runs
    run = store.load_run(ids["xss"][0])
    texts = tables.post_texts(run)
    assert texts and all(PAYLOAD in t for t in texts.values())
    html = viz.spread_html(run.network, run.profiles, tables.posted_rounds(run), texts).html
    assert PAYLOAD not in html and "<img src=x" not in html
    tips = graph_data(html)["tips"]
    assert all("&lt;script&gt;alert(&#x27;xss-script&#x27;)&lt;/script&gt;" in t for t in tips)
    assert all("<script" not in t and "<img" not in t for t in tips)


def test_large_network_is_sampled_around_the_seeds(runs):
    store, ids = runs
    run = store.load_run(ids["large"][0])
    posted = tables.posted_rounds(run)
    graph = viz.spread_html(run.network, run.profiles, posted, max_nodes=300)
    assert graph.sampled and graph.shown == 300 and graph.total == 1500
    assert "300 of 1,500 agents" in graph.note
    shown = np.array(graph_data(graph.html)["ids"])
    assert set(np.flatnonzero(posted == 0)) <= set(shown)


def test_neighbourhood_sample_is_breadth_first():
    network = random_regular(2000, 4, seed=1)
    sample = viz.neighbourhood_sample(network, np.array([5]), 50)
    assert sample.size == 50 and 5 in sample
    inside = set(sample.tolist())
    for agent in sample:  # every agent but the seed reached through a sampled neighbour
        assert agent == 5 or inside & set(network.neighbours(agent).tolist())
    everyone = viz.neighbourhood_sample(network, np.array([5]), 5000)
    assert everyone.tolist() == list(range(2000))


def test_figures_have_one_trace_per_series():
    observed = pd.DataFrame({"label": ["r1"] * 3 + ["r2"] * 3, "round": [0, 1, 2] * 2})
    observed["fraction"] = [0.1, 0.3, 0.6, 0.1, 0.2, 0.5]
    fitted = pd.DataFrame({"model": ["SI-1"] * 3 + ["SI-2"] * 3, "round": [0, 1, 2] * 2})
    fitted["fraction"] = [0.1, 0.25, 0.55, 0.1, 0.3, 0.6]
    fig = viz.fit_figure(observed, fitted)
    assert [t.name for t in fig.data] == ["observed: r1", "observed: r2", "SI-1", "SI-2"]
    assert fig.layout.yaxis.title.text == "informed fraction i(t)"
    rates = pd.DataFrame(
        {"group": ["a", "b"], "series": ["beta"] * 2, "estimate": [0.2, 0.3]}
    ).assign(low=[0.1, 0.25], high=[0.4, 0.32])
    bars = viz.rates_figure(rates).data[0].error_y
    assert np.allclose(bars.array, [0.2, 0.02]) and np.allclose(bars.arrayminus, [0.1, 0.05])
    effects = rates.rename(columns={"group": "term"})
    assert list(viz.forest_figure(effects).data[0].y) == ["a", "b"]


def test_import_archive_refuses_unsafe_and_ambiguous_files(runs, tmp_path):
    store, ids = runs
    good = actions.run_archive(store, ids["uniform"][0])
    with RunStore(tmp_path / "empty.duckdb") as target:
        before = target.table_counts()
        evil = io.BytesIO()
        with zipfile.ZipFile(evil, "w") as z:
            z.writestr("../../outside/run.json", "{}")
        with pytest.raises(DataFormatError, match="unsafe path"):
            actions.import_archive(target, evil.getvalue(), "evil.zip")
        double = io.BytesIO()
        with zipfile.ZipFile(double, "w") as z, zipfile.ZipFile(io.BytesIO(good)) as g:
            for name in g.namelist():
                z.writestr(name, g.read(name))
                z.writestr("copy/" + name, g.read(name))
        with pytest.raises(DataFormatError, match="exactly one run folder"):
            actions.import_archive(target, double.getvalue(), "double.zip")
        assert target.table_counts() == before
        assert actions.import_archive(target, good, "good.zip") == ids["uniform"][0]
        assert target.table_counts()["runs"] == 1
        broken = io.BytesIO()
        with zipfile.ZipFile(broken, "w") as z:
            z.writestr("r/run.json", "{not json")
        with pytest.raises(DataFormatError) as bad:
            actions.import_archive(target, broken.getvalue(), "broken.zip")
        assert "broken.zip" in str(bad.value) and tempfile.gettempdir() not in str(bad.value)
        assert actions.import_archive(target, good, "good.zip", "renamed") == "renamed"
        assert target.table_counts()["runs"] == 2


def fake_fit(model: str, bic: float, **params: float) -> FitResult:
    return FitResult(
        model=model,
        params=params,
        ci={},
        loglik=-bic / 2,
        aic=bic,
        bic=bic,
        rmse=0.01,
        residuals=np.zeros((1, 3)),
        method="binomial",
        n_runs=1,
        converged=True,
        message="",
    )


def test_ranking_names_the_best_curve_without_claiming_a_mechanism():
    fits = {
        "si1": fake_fit("si1", 130.0, beta=0.05),
        "si2": fake_fit("si2", 100.0, alpha=0.01, beta=0.04),
    }
    text = verdict_text.ranking_text(fits)
    assert text.startswith("Of the 2 models fitted, SI-2: offline + online rates draws the curve")
    assert "30.0 below SI-1: one online rate (very strong evidence)" in text
    assert "not proof of a mechanism" in text and "outside the network" not in text
    fits["pair_map"] = fake_fit("pair_map", 90.0, qa=0.01, b=0.05)
    assert (
        "Of the 3 models fitted, Discrete pair-approximation map draws"
        in verdict_text.ranking_text(fits)
    )


def test_only_differences_beyond_calibrated_intervals_are_flagged():
    rates = pd.DataFrame(
        {
            "scenario": ["A", "B", "C", "D"],
            "parameter": ["beta"] * 4,
            "estimate": [0.05, 0.052, 0.08, 0.2],
            "low": [0.045, 0.047, 0.07, 0.1],
            "high": [0.055, 0.057, 0.09, 0.3],
            "unit": ["per round"] * 4,
            "calibrated": [True, True, True, False],
        }
    )
    found, left_out = verdict_text.clear_differences(rates)
    assert found == [
        "beta: C (0.08) above A (0.05) per round",
        "beta: C (0.08) above B (0.052) per round",
    ]
    assert left_out == ["D"]


@pytest.mark.parametrize("code", ["offline", "network-only", "heterogeneous-or-offline", "no-fit"])
def test_verdict_text_leads_with_the_answer(code):
    text = verdict_text.verdict_text(Verdict(code, "lead: because.", ("evidence",), "curves"))
    assert text.startswith("One rate or two? ") and text.endswith(" Because.")
    assert "lead" not in text


def test_figure_labels_from_data_are_literal():
    curves = pd.DataFrame({"label": ['<a href="http://x">run</a>'], "round": [0], "fraction": [0]})
    assert (
        viz.informed_figure(curves).data[0].name
        == "&lt;a href=&quot;http://x&quot;&gt;run&lt;/a&gt;"
    )


def test_many_lines_stay_apart_without_yellow():
    styles = [viz.line_style(i) for i in range(9)]
    assert len({(s["color"], s["dash"]) for s in styles}) == 9
    assert {s["dash"] for s in styles[:6]} == {"solid"}  # dashes only past six lines
    assert "#F0E442" not in viz.MODEL_COLOURS  # Okabe-Ito yellow: too faint on white
    curves = pd.DataFrame(
        {
            "label": np.repeat([f"s{i}" for i in range(9)], 3),
            "round": [0, 1, 2] * 9,
            "fraction": 0.5,
        }
    )
    traces = viz.informed_figure(curves).data
    assert len({(t.line.color, t.line.dash) for t in traces}) == 9


def test_overview_places_each_scenario_by_speed_and_reach():
    """Two runs of one scenario and one run of another, with hand-computable answers: reach is
    the mean of the runs' final informed fraction (as the runs table shows it), the half-way
    round the mean first round at half a run's own final level; a run nobody heard of has no
    half-way round and does not count towards it."""
    runs = pd.DataFrame(
        {
            "run_id": ["a0", "a1", "b0"],
            "scenario_id": ["a", "a", "b"],
            "event_id": ["battle", "battle", "riot"],
            "event_type": ["battles", "battles", "riots"],
            "mix_name": ["uniform"] * 3,
            "n_agents": [100] * 3,
            "mean_degree": [8.0] * 3,
            "q": [0.0] * 3,
            "backend": ["stochastic"] * 3,
            "synthetic": [True] * 3,
            "final_informed_fraction": [0.8, 0.4, 0.0],
        }
    )
    curves = pd.DataFrame(
        {
            "run_id": ["a0"] * 4 + ["a1"] * 4 + ["b0"] * 4,
            "round": [0, 1, 2, 3] * 3,
            "fraction": [0.0, 0.2, 0.6, 0.8, 0.0, 0.1, 0.2, 0.4, 0.0, 0.0, 0.0, 0.0],
        }
    )
    out = tables.scenario_overview(runs, curves).set_index("scenario_id")
    assert out.loc["a", "reach"] == pytest.approx(0.6)  # (0.8 + 0.4) / 2
    assert out.loc["a", "half_round"] == pytest.approx(2.0)  # a0: 0.6 >= 0.4 at 2; a1: 0.2 at 2
    assert out.loc["b", "reach"] == 0.0 and np.isnan(out.loc["b", "half_round"])
    assert out.loc["a", "label"] == "battle × uniform" and out.loc["a", "runs"] == 2
    fig = viz.overview_figure(out.reset_index())
    assert [t.name for t in fig.data] == ["battles", "riots"]
    assert "<" not in fig.data[0].customdata[0]
