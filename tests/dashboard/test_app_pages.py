"""Every dashboard page driven with Streamlit's AppTest: widgets set, outputs asserted."""

from __future__ import annotations

import contextlib
import io
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
import streamlit as st
from apptest_support import app, by_label, texts
from dashboard_support import PAYLOAD, build_db, scenario
from streamlit.testing.v1 import AppTest

from spreadlab.engine.stochastic import StochasticPolicy
from spreadlab.errors import Cancelled
from spreadlab.jobs.runner import run_scenario
from spreadlab.store.runs import RunStore


@pytest.fixture(scope="module")
def template_db(tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    path = tmp_path_factory.mktemp("dash") / "template.duckdb"
    ids = build_db(path, large=True, interrupted=True)
    return path, ids


@pytest.fixture
def db(template_db, tmp_path, monkeypatch) -> tuple[Path, dict[str, list[str]]]:
    """A private copy of the test database, set as the dashboard's, with empty caches."""
    source, ids = template_db
    path = tmp_path / "dash.duckdb"
    shutil.copy(source, path)
    monkeypatch.setenv("SPREADLAB_DB", str(path))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield path, ids
    st.cache_resource.clear()


def counts(path: Path) -> dict[str, int]:
    with RunStore(path) as store:
        return store.table_counts()


def test_home_lists_runs_with_banner(db):
    at = app("app.py")
    assert not at.exception
    assert "spreads through a" in texts(at.markdown)
    banner = texts(at.warning)
    assert "Synthetic runs on screen: 7 of the 7 runs shown were made by" in banner
    assert "the 'test-payload' backend and the stochastic agent model" in banner
    assert "not measured from LLM agents" in banner
    table = at.dataframe[0].value
    assert set(table["mix_name"]) == {"uniform", "extraverted"}
    assert len(table) == 5  # scenarios: uniform, extraverted, xss, cut, large
    assert len(at.get("page_link")) == 9 + 8  # the menu, then "where to go"


def test_home_on_empty_database(tmp_path, monkeypatch):
    monkeypatch.setenv("SPREADLAB_DB", str(tmp_path / "empty.duckdb"))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = app("app.py")
    assert not at.exception
    assert "no runs yet" in texts(at.info)
    assert not at.warning  # nothing synthetic on screen, so no banner


def test_scenario_runs_and_stores(db):
    path, _ = db
    at = app("pages/1_Scenario_and_run.py")
    by_label(at.number_input, "Agents N").set_value(100)
    by_label(at.number_input, "Degree k").set_value(6)
    by_label(at.number_input, "Replicates").set_value(2)
    by_label(at.number_input, "q: offline").set_value(0.01)
    by_label(at.radio, "How to describe the mix").set_value("traits")
    at.run()
    by_label(at.slider, "Extraversion").set_value(0.9)
    by_label(at.button, "Run").click()
    at.run()
    assert not at.exception and not at.error
    assert "Stored 2 run(s)" in texts(at.success)
    with RunStore(path) as store:
        runs = store.list_runs()
    new = runs[runs["n_agents"] == 100]
    assert len(new) == 2 and set(new["status"]) == {"complete"}
    assert new["mix_name"].iloc[0].startswith("traits:") and "E=0.9" in new["mix_name"].iloc[0]
    assert at.session_state["run_id"] in set(new["run_id"])


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ({"Agents N": 201, "Degree k": 7}, "is odd"),
        ({"Agents N": 10, "Degree k": 10}, "must be smaller than N"),
        ({"mix": "weights"}, "personality mix is empty"),
        ({"mix": "weights", "weights": "O+C+E+A+N+=0"}, "all-zero weights"),
        ({"event": "My own report"}, "report is empty"),
        ({"Seed agents n0": 500}, "exceed N"),
        ({"Type": "watts_strogatz", "Degree k": 7}, "even k"),
    ],
)
def test_scenario_bad_input_is_an_error_and_writes_nothing(db, setup, message):
    path, _ = db
    before = counts(path)
    at = app("pages/1_Scenario_and_run.py")
    if "event" in setup:
        by_label(at.radio, "Event").set_value(setup["event"])
    if "mix" in setup:
        by_label(at.radio, "How to describe the mix").set_value(setup["mix"])
    if "Type" in setup:
        by_label(at.selectbox, "Type").set_value(setup["Type"])
    at.run()
    if "weights" in setup:
        by_label(at.text_area, "Weights by profile").set_value(setup["weights"])
    for label, value in setup.items():
        if label not in ("event", "mix", "weights", "Type"):
            by_label(at.number_input, label).set_value(value)
    by_label(at.button, "Run").click()
    at.run()
    assert not at.exception
    assert message in texts(at.error)
    assert counts(path) == before


def test_stored_runs_delete(db):
    path, ids = db
    victim = ids["extraverted"][1]
    at = app("pages/1_Scenario_and_run.py", run=victim)
    assert by_label(at.selectbox, "Selected run").value == victim
    by_label(at.button, "Delete this run").click()
    at.run()
    assert not at.exception
    with RunStore(path) as store:
        assert victim not in set(store.list_runs()["run_id"])


def test_stored_runs_resume_an_interrupted_run(db):
    path, ids = db
    run_id = ids["interrupted"][0]
    with RunStore(path) as store:
        assert store.run_meta(run_id)["status"] == "interrupted"
    at = app("pages/1_Scenario_and_run.py", run=run_id)
    by_label(at.button, "Resume this run").click()
    at.run()
    assert not at.exception and not at.error
    assert f"Run {run_id} is complete." in texts(at.success)
    with RunStore(path) as store:
        meta = store.run_meta(run_id)
        assert meta["status"] == "complete" and meta["rounds_done"] > 4


def test_upload_valid_and_invalid_run(db, tmp_path):
    path, ids = db
    from spreadlab.dashboard.actions import run_archive

    with RunStore(path) as store:
        archive = run_archive(store, ids["uniform"][0])
        store.delete_run(ids["uniform"][0])
    before = counts(path)
    at = app("pages/1_Scenario_and_run.py")
    at.file_uploader[0].set_value(("not-a-run.zip", b"this is not a zip", "application/zip"))
    at.run()
    by_label(at.button, "Import").click()
    at.run()
    assert "not a zip archive" in texts(at.error)
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as z, zipfile.ZipFile(io.BytesIO(archive)) as good:
        for name in good.namelist():
            if not name.endswith("edges.csv"):
                z.writestr(name, good.read(name))
    at.file_uploader[0].set_value(("broken.zip", broken.getvalue(), "application/zip"))
    at.run()
    by_label(at.button, "Import").click()
    at.run()
    assert "missing edges.parquet or edges.csv" in texts(at.error)
    assert counts(path) == before
    at.file_uploader[0].set_value(("run.zip", archive, "application/zip"))
    at.run()
    by_label(at.button, "Import").click()
    at.run()
    assert f"Imported run {ids['uniform'][0]}" in texts(at.success)
    assert counts(path)["runs"] == before["runs"] + 1


def test_spread_page_draws_animated_network(db):
    _, ids = db
    at = app("pages/2_Spread.py", run=ids["uniform"][0])
    assert not at.exception
    assert by_label(at.selectbox, "Run").value == ids["uniform"][0]
    assert "Synthetic runs on screen: 1 of the 1" in texts(at.warning)
    html = at.get("iframe")[0].proto.srcdoc
    assert 'id="spread-play"' in html and 'id="spread-round"' in html
    assert "cdn.jsdelivr" not in html and "bootstrap" not in html.lower()
    assert not at.info  # 120 agents: the whole network is drawn
    assert len(at.get("plotly_chart")) == 1


def test_spread_page_samples_large_networks(db):
    _, ids = db
    at = app("pages/2_Spread.py", run=ids["large"][0])
    assert not at.exception
    assert "1,000 of 1,500 agents" in texts(at.info)


def test_spread_page_escapes_payloads(db):
    _, ids = db
    at = app("pages/2_Spread.py", run=ids["xss"][0])
    assert not at.exception
    html = at.get("iframe")[0].proto.srcdoc
    assert PAYLOAD not in html and "<img src=x" not in html and 'onerror="alert' not in html
    assert "\\u0026lt;script\\u0026gt;alert(" in html  # escaped, inside script-safe JSON
    assert PAYLOAD in texts(at.text)  # the report is shown as plain text
    posts = at.dataframe[0].value
    assert posts["text"].str.contains("<script>", regex=False).all()


def test_fit_page_verdict_table_and_empty_models(db):
    at = app("pages/3_Fit.py", scenario="t-uniform")
    assert not at.exception
    assert by_label(at.selectbox, "Scenario").value == "t-uniform"
    verdict = texts(at.success)
    assert verdict.startswith("One rate or two?")
    assert "The evidence behind this answer" in [e.label for e in at.expander]
    assert "decision log:" in texts(at.markdown)
    params = at.table[0].value
    assert list(params.columns) == ["model", "parameter", "estimate", "95% interval", "unit"]
    assert list(params["parameter"]) == ["online rate β", "offline rate α", "online rate β"]
    for estimate, interval in zip(params["estimate"], params["95% interval"], strict=True):
        low, high = (float(x) for x in interval.rstrip(" *").split(" to "))
        assert low <= float(estimate) <= high
    assert "offline rate α** (per round)" in texts(at.markdown)
    criteria = at.table[1].value
    assert set(criteria["model"]) == {"SI-1: one online rate", "SI-2: offline + online rates"}
    assert sorted(criteria["BIC above the best"])[0] == "0.0"
    assert not {"n_params", "loglik", "delta_aic"} & set(criteria.columns)
    assert len(at.get("plotly_chart")) == 2
    assert "Likelihood-ratio test of one rate (SI-1) against two (SI-2): LR =" in texts(at.caption)
    assert "boundary" in texts(at.caption)
    by_label(at.toggle, "Learn the equation").set_value(True)
    at.run()
    assert not at.exception
    equation = at.get("code")[0].proto.code_text
    assert equation.startswith("di/dt = ")
    assert list(at.dataframe[0].value["term"]) == ["1", "i", "i^2"]
    by_label(at.multiselect, "Models").set_value(["si1", "si2", "pair_map"])
    at.run()
    assert "Of the 3 models fitted" in texts(at.caption)
    assert len(at.table[1].value) == 3
    by_label(at.multiselect, "Models").set_value([])
    at.run()
    assert "choose at least one model" in texts(at.error)


def test_fit_page_stores_its_fits_for_export(db):
    path, _ = db
    at = app("pages/3_Fit.py", scenario="t-uniform")
    assert "These fits are not stored yet" in texts(at.info)
    by_label(at.button, "Store these fits for export").click()
    at.run()
    assert not at.exception and not at.error
    assert "Stored for export: 2 fit(s), SI-1: one online rate, SI-2" in texts(at.success)
    with RunStore(path) as store:
        rows = store.con.execute("SELECT group_id, model FROM fits ORDER BY model").fetchall()
    assert rows == [("t-uniform", "si1"), ("t-uniform", "si2")]
    at.switch_page("pages/5_Export.py").run()
    assert by_label(at.multiselect, "Scenarios").value == ["t-uniform"]
    assert set(at.dataframe[0].value["model"]) == {"si1", "si2"}
    by_label(at.multiselect, "Models").set_value(["si2"])
    at.run()
    assert list(at.dataframe[0].value["model"]) == ["si2"]  # exactly the chosen models


def test_fit_page_conditional_method(db):
    at = app("pages/3_Fit.py", scenario="t-uniform")
    binomial = at.table[0].value
    by_label(at.selectbox, "Method").set_value("conditional")
    by_label(at.multiselect, "Models").set_value(["si1", "si2", "pair_map"])
    at.run()
    assert not at.exception and not at.error
    assert "pair_map" in texts(at.warning) or "pair-approximation" in texts(at.warning).lower()
    assert "tracks more than the informed fraction" in texts(at.warning)
    conditional = at.table[0].value
    assert set(conditional["parameter"]) == {"online rate β", "offline rate α"}
    assert not conditional["estimate"].equals(binomial["estimate"])  # a different likelihood


def test_compare_page_rates_side_by_side(db):
    at = app("pages/4_Compare.py")
    assert not at.exception
    by_label(at.multiselect, "Scenarios").set_value(["t-uniform", "t-extraverted"])
    by_label(at.selectbox, "Model").set_value("si2")
    at.run()
    assert not at.exception
    rates = at.table[0].value
    assert len(rates) == 4 and set(rates["parameter"]) == {"offline rate α", "online rate β"}
    assert list(rates.columns) == ["scenario", "parameter", "estimate", "95% interval", "unit"]
    if rates["95% interval"].str.endswith("*").any():
        assert "* The interval reaches the parameter's bound" in texts(at.caption)
    assert set(rates["scenario"]) == {
        "battle-marren-ridge × uniform",
        "battle-marren-ridge × extraverted",
    }
    assert len(at.get("plotly_chart")) == 4  # mean curves, alpha, beta, trait effects
    assert "decisions (0 invalid ones left out)" in texts(at.caption)
    # two replicates each: no calibrated interval, so no difference is claimed
    assert "Not compared (fewer than 3 replicate runs" in texts(at.caption)
    assert "Differences larger than replicate noise" not in texts(at.markdown)


def test_compare_page_names_a_scenario_it_cannot_fit_and_shows_the_others(db):
    """The scenarios are fitted together (the database read once); one that cannot be fitted is
    named with the reason, the others' rates are still shown."""
    path, _ = db
    with RunStore(path) as store, contextlib.suppress(Cancelled):
        run_scenario(
            store,
            scenario(replicates=1, seed=9),
            StochasticPolicy(),
            scenario_id="t-none",
            on_progress=stop_at_once,
        )
    at = app("pages/4_Compare.py")
    by_label(at.multiselect, "Scenarios").set_value(["t-uniform", "t-none"])
    by_label(at.selectbox, "Model").set_value("si2")
    at.run()
    assert not at.exception
    assert "t-none: too few rounds: 0 after round 0" in texts(at.warning)
    rates = at.table[0].value
    assert len(rates) == 2 and rates["scenario"].str.endswith("t-uniform").all()


def stop_at_once(progress) -> None:
    raise Cancelled


def test_export_page_fits_and_curves(db):
    path, ids = db
    at = app("pages/5_Export.py")
    by_label(at.multiselect, "Scenarios").set_value(["t-uniform", "t-extraverted"])
    at.run()
    assert not at.exception
    assert "No stored fits" in texts(at.info)
    assert len(at.download_button) == 2  # curves and the run folder
    rows = int(texts(at.caption).split(" rows")[0].replace(",", ""))
    with RunStore(path) as store:
        expected = sum(len(store.curve(r)) for r in ids["uniform"] + ids["extraverted"])
    assert rows == expected
    by_label(at.button, "Fit and store").click()
    at.run()
    assert not at.exception and not at.error
    fits = at.dataframe[0].value
    assert len(fits) == 4 and set(fits["model"]) == {"si1", "si2"}
    assert set(fits["group_id"]) == {"t-uniform", "t-extraverted"}
    assert {"alpha_lo", "alpha_hi", "beta_lo", "bic", "units"} <= set(fits.columns)
    assert fits["synthetic"].all() and fits["data_source"].str.startswith("synthetic").all()
    assert len(at.download_button) == 3
    with RunStore(path) as store:
        assert store.con.execute("SELECT count(*) FROM fits").fetchone()[0] == 4


def test_llm_backend_estimate_and_refusing_endpoint(db):
    path, _ = db
    before = counts(path)
    at = app("pages/1_Scenario_and_run.py")
    by_label(at.radio, "Who decides").set_value("llm")
    at.run()
    by_label(at.text_input, "Endpoint base URL").set_value("http://127.0.0.1:9/v1")
    by_label(at.text_input, "Model").set_value("test-model")
    by_label(at.text_input, "API key").set_value("sk-test-secret-0123")
    at.run()
    estimate = texts(at.info)
    assert "upper bound: 6010 consultations" in estimate  # 10 seeds + 30 rounds x 200 agents
    by_label(at.button, "Run").click()
    at.run()
    assert not at.exception
    assert "cannot reach http://127.0.0.1:9/v1" in texts(at.error)
    assert counts(path) == before
    shown = "\n".join(texts(getattr(at, kind)) for kind in ("error", "info", "markdown", "text"))
    assert "sk-test-secret-0123" not in shown


def test_llm_endpoint_that_does_not_answer(db):
    path, _ = db
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never replies
    try:
        before = counts(path)
        at = app("pages/1_Scenario_and_run.py")
        by_label(at.radio, "Who decides").set_value("llm")
        at.run()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        by_label(at.text_input, "Endpoint base URL").set_value(url)
        by_label(at.number_input, "Seconds to wait").set_value(1.0)
        by_label(at.button, "Run").click()
        at.run()
    finally:
        silent.close()
    assert not at.exception
    assert f"cannot reach {url} (timeout)" in texts(at.error)
    assert counts(path) == before


def run_llm_scenario(at: AppTest, url: str, key: str, budget: int = 0) -> AppTest:
    by_label(at.number_input, "Agents N").set_value(60)
    by_label(at.number_input, "Degree k").set_value(4)
    by_label(at.number_input, "Rounds").set_value(4)
    by_label(at.number_input, "Seed agents n0").set_value(3)
    by_label(at.radio, "Who decides").set_value("llm")
    at.run()
    by_label(at.text_input, "Endpoint base URL").set_value(url)
    by_label(at.text_input, "Model").set_value("sim-1")
    by_label(at.text_input, "API key").set_value(key)
    by_label(at.number_input, "Budget").set_value(budget)
    by_label(at.button, "Run").click()
    return at.run()


def test_llm_run_through_a_local_endpoint_replays_and_keeps_no_key(db):
    from llm_server import ServerConfig, running_server

    path, _ = db
    secret = "sk-dashboard-secret-42"
    with running_server(ServerConfig(api_key=secret)) as server:
        url = server.base_url
        before = counts(path)
        at = run_llm_scenario(app("pages/1_Scenario_and_run.py"), url, "sk-wrong-key")
        assert "key" in texts(at.error).lower() and counts(path) == before
        at = run_llm_scenario(app("pages/1_Scenario_and_run.py"), url, secret)
        assert not at.exception and not at.error, texts(at.error)
        assert "Stored 1 run(s)" in texts(at.success)
        assert "0 invalid (0.0%; 0 refused by the endpoint)" in texts(at.caption)
        requests = server.requests
        assert requests > 0
        at = run_llm_scenario(app("pages/1_Scenario_and_run.py"), url, secret)
        assert "Stored 1 run(s)" in texts(at.success)
        assert server.requests == requests  # the identical run replayed from the cache
    with RunStore(path) as store:
        runs = store.list_runs()
        llm = runs[runs["backend"] == "llm"]
        assert len(llm) == 2 and not llm["synthetic"].any()
        meta = store.run_meta(llm["run_id"].iloc[0])
        dump = "".join(
            store.con.execute(f"SELECT * FROM {t}").df().to_csv()
            for (t,) in store.con.execute("SHOW TABLES").fetchall()
        )
    assert '"model": "sim-1"' in meta["provenance"]
    assert secret not in dump and "sk-wrong-key" not in dump
    at = app("pages/2_Spread.py", run=str(llm["run_id"].iloc[0]))
    assert not at.exception and not at.warning  # an LLM run: no synthetic banner


def test_resume_an_interrupted_llm_run_with_the_key_typed_in(db, monkeypatch):
    from llm_server import ServerConfig, running_server

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path, _ = db
    secret = "sk-resume-secret-7"
    with running_server(ServerConfig(api_key=secret)) as server:
        run_llm_scenario(app("pages/1_Scenario_and_run.py"), server.base_url, secret, budget=8)
        with RunStore(path) as store:
            runs = store.list_runs()
        (run_id,) = runs[runs["backend"] == "llm"]["run_id"]
        assert runs.set_index("run_id").loc[run_id, "status"] == "interrupted"

        at = app("pages/1_Scenario_and_run.py", run=run_id)
        by_label(at.button, "Resume this run").click()
        at.run()
        assert "OPENAI_API_KEY" in texts(at.error)  # no key typed, none in the environment
        by_label(at.text_input, "Key to resume").set_value(secret)
        by_label(at.button, "Resume this run").click()
        at.run()
        assert not at.exception and f"Run {run_id} is complete." in texts(at.success)
    with RunStore(path) as store:
        assert store.run_meta(run_id)["status"] == "complete"
        dump = "".join(
            store.con.execute(f"SELECT * FROM {t}").df().to_csv()
            for (t,) in store.con.execute("SHOW TABLES").fetchall()
        )
    assert secret not in dump


def test_a_dashboard_llm_run_lets_other_processes_read_the_database(db, monkeypatch):
    """Replies take 1.5 s: while the dashboard's 4-round LLM run waits for them (6 s or more),
    'spreadlab runs' (allowed to wait 4 s for the lock) reads the same database from its own
    process. A dashboard holding the file for the whole run would make the first listing wait
    longer than 4 s; the margins leave room for a loaded machine."""
    from llm_server import ServerConfig, running_server

    path, _ = db
    monkeypatch.setenv("SPREADLAB_LOCK_WAIT", "4")
    listings: list[subprocess.CompletedProcess] = []
    done = threading.Event()

    def list_runs() -> None:
        while not done.wait(0.5):
            listings.append(
                subprocess.run(
                    [sys.executable, "-m", "spreadlab", "runs", "--db", str(path)],
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
            )

    with running_server(ServerConfig(latency=1.5)) as server:
        reader = threading.Thread(target=list_runs)
        reader.start()
        try:
            at = run_llm_scenario(app("pages/1_Scenario_and_run.py"), server.base_url, "k")
        finally:
            done.set()
            reader.join()
    assert not at.exception and not at.error, texts(at.error)
    assert "Stored 1 run(s)" in texts(at.success)
    assert len(listings) >= 2
    assert all(r.returncode == 0 for r in listings), [r.stderr for r in listings]


def test_observed_data_page_fits_the_example_and_overlays_a_scenario(db):
    at = app("pages/6_Observed_data.py")
    assert not at.exception
    by_label(at.toggle, "Use the bundled synthetic example").set_value(True)
    at.run()
    assert not at.exception
    assert texts(at.warning).startswith("synthetic example, not real data")
    assert "One rate or two?" in texts(at.info)
    params = at.dataframe[0].value
    assert {"estimate", "lower 95%", "upper 95%", "unit"} <= set(params.columns)
    assert params["unit"].str.contains("per 1h").any()
    ranked_closest_first(at.dataframe[1].value)
    assert len(at.get("plotly_chart")) == 1
    assert "Closest: " in texts(at.info) and "not evidence of mechanism" in texts(at.info)
    by_label(at.radio, "Simulated time, against").set_value("rounds")
    at.run()
    assert "(rounds mapping)" in texts(at.info)
    by_label(at.button, "Save to database").click()
    at.run()
    assert "Saved as observed dataset obs-" in texts(at.success)
    by_label(at.toggle, "N is an estimate").set_value(True)
    at.run()
    ranged = at.dataframe[0].value  # refitted at N = 50,000 and at twice that
    assert ranged[["at N = 50,000", "at N = 100,000"]].notna().all().all()
    assert "N is an estimate" in texts(at.caption)
    by_label(at.toggle, "N is an estimate").set_value(False)
    by_label(at.number_input, "Population N").set_value(10)
    at.run()
    assert "column new_posters: more posters than N = 10" in texts(at.error)  # no traceback
    assert not at.exception
    assert len(stored_observed(db[0])) == 1  # the bad N stored nothing


def test_observed_data_page_refuses_a_file_over_its_upload_limit(db, monkeypatch):
    from spreadlab.dashboard import observed_data

    at = app("pages/6_Observed_data.py")
    assert "Files up to 200 MB" in texts(at.caption) and "spreadlab observe" in texts(at.caption)
    monkeypatch.setattr(observed_data, "upload_limit_mb", lambda: 0)
    at.file_uploader[0].set_value(("posts.csv", b"time\n2026-05-01T00:00Z\n", "text/csv"))
    at.run()
    assert not at.exception
    shown = texts(at.error)
    assert "over this page's 0 MB upload limit" in shown and "spreadlab observe FILE" in shown
    assert len(stored_observed(db[0])) == 0 and not at.dataframe


def ranked_closest_first(ranked) -> None:
    """Scenarios spanning at least half the 48 observed hours first, each tier closest first."""
    compared = ranked.dropna(subset=["RMSE (informed fraction)"])
    long = compared["intervals compared"] >= 24
    assert long.is_monotonic_decreasing, compared
    for tier in (compared[long], compared[~long]):
        assert tier["RMSE (informed fraction)"].is_monotonic_increasing, compared


def stored_observed(path: Path):
    from spreadlab.store.observed import list_series

    with RunStore(path) as store:
        return list_series(store.con)


def saved_dataset(path: Path, tmp_path: Path) -> str:
    """The bundled example under a user's file name, N given as 50,000 to 60,000, stored."""
    from spreadlab.analysis.observed import EXAMPLE_PATH, read_series, with_n_range
    from spreadlab.store.observed import save_series

    copy = tmp_path / "posts.csv"
    copy.write_bytes(EXAMPLE_PATH.read_bytes())
    series = read_series(copy, time_col="hour", count_col="new_posters", interval="1h", n=50_000)
    with RunStore(path) as store:
        return save_series(store.con, with_n_range(series, 50_000, 60_000))


def no_rounds(units) -> bool:
    """Units of observed rates: per the dataset's interval, never per round or neighbour."""
    return not units.str.contains("round|neighbour").any()


def test_an_observed_dataset_is_fitted_on_the_fit_page(db, tmp_path):
    from spreadlab.analysis.models import get_model
    from spreadlab.analysis.observed import OBSERVED_MODELS

    saved_dataset(db[0], tmp_path)
    at = app("pages/3_Fit.py")
    by_label(at.radio, "Data").set_value("Observed datasets")
    at.run()
    assert not at.exception, at.exception
    shown = texts(at.info)
    assert "observed, user-supplied: posts.csv, 48 rows" in shown
    assert "not simulated, not LLM agents" in shown and "One rate or two?" in shown
    models = by_label(at.multiselect, "Models (those that need no network)")
    assert list(models.options) == [get_model(m).title for m in OBSERVED_MODELS]
    table = at.dataframe[0].value
    assert table["unit"].str.contains("per 1h").any() and no_rounds(table["unit"])
    assert {"lower 95%", "upper 95%", "at N = 50,000", "at N = 60,000"} <= set(table.columns)
    assert len(at.get("plotly_chart")) == 1 and "per 1h" in texts(at.caption)


def test_an_observed_dataset_beside_scenarios_on_compare(db, tmp_path):
    dataset = saved_dataset(db[0], tmp_path)
    at = app("pages/4_Compare.py")
    by_label(at.multiselect, "Observed datasets").set_value([dataset])
    at.run()
    assert not at.exception, at.exception
    ranked = at.dataframe[0].value
    assert (ranked["observed"] == "posts.csv (observed)").all()
    ranked_closest_first(ranked)
    assert "not evidence of mechanism" in texts(at.info)
    rates = at.table[0].value
    observed = rates[rates["scenario"] == "posts.csv (observed)"]
    assert len(observed) == 2 and observed["unit"].str.contains("per 1h").all()
    assert len(rates) > len(observed)  # beside the simulated scenarios
    assert "not tested against them" in texts(at.caption)


def test_a_stored_observed_dataset_is_deleted_after_a_confirmation(db, tmp_path):
    dataset = saved_dataset(db[0], tmp_path)
    at = app("pages/6_Observed_data.py")
    by_label(at.multiselect, "Datasets to delete").set_value([dataset])
    at.run()
    assert "for good?" in texts(at.warning)
    assert by_label(at.button, "Delete").disabled  # not before the box is ticked
    by_label(at.checkbox, "Yes, delete them").check()
    at.run()
    by_label(at.button, "Delete").click()
    at.run()
    assert not at.exception, at.exception
    assert f"Deleted observed dataset(s) {dataset}." in texts(at.success)
    assert len(stored_observed(db[0])) == 0


def test_an_observed_dataset_is_exported_with_its_provenance(db, tmp_path):
    dataset = saved_dataset(db[0], tmp_path)
    at = app("pages/5_Export.py")
    by_label(at.multiselect, "Observed datasets to export").set_value([dataset])
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert table["data_source"].str.startswith("observed, user-supplied: posts.csv").all()
    assert (table["backend"] == "observed").all() and not table["synthetic"].any()
    assert no_rounds(table["unit"]) and (table["n_high"] == 60_000).all()
    assert set(table["model"]) == {"si1", "si2", "si1g", "si2g", "mf_map"}
