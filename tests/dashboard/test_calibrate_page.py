"""The Calibrate page (pages/8_Calibrate.py) with Streamlit's AppTest. Its calibrations are made by
the real job (or the page) against the local calibration test server, loopback only."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import streamlit as st
from apptest_support import app, by_label, texts
from calibration_server import calibration_server
from calibration_support import store_calibration
from dashboard_support import MARKDOWN_PAYLOAD, PAYLOAD
from streamlit.testing.v1 import AppTest

from spreadlab.store.runs import RunStore

PAGE = "pages/8_Calibrate.py"


@pytest.fixture(scope="module")
def template_db(tmp_path_factory) -> tuple[Path, str]:
    """A database with one calibration and its persona check, made by the real job."""
    path = tmp_path_factory.mktemp("calibrate") / "template.duckdb"
    return path, store_calibration(path)


@pytest.fixture
def db(template_db, tmp_path, monkeypatch) -> tuple[Path, str]:
    """A private copy of the template, set as the dashboard's, with empty caches."""
    source, calibration_id = template_db
    path = tmp_path / "dash.duckdb"
    shutil.copy(source, path)
    monkeypatch.setenv("SPREADLAB_DB", str(path))
    st.cache_data.clear()
    st.cache_resource.clear()
    return path, calibration_id


def calibration_count(path: Path) -> int:
    with RunStore(path) as store:
        return store.con.execute("SELECT count(*) FROM calibrations").fetchone()[0]


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def start(at: AppTest, url: str, key: str = "", repeats: int = 1) -> AppTest:
    """Fill the new-calibration form (m = 1 only) and press Start."""
    by_label(at.text_input, "Endpoint base URL").set_value(url)
    by_label(at.text_input, "Model").set_value("sim-1")
    by_label(at.text_input, "API key").set_value(key)
    by_label(at.number_input, "Repeats R").set_value(repeats)
    by_label(at.multiselect, "Posting neighbours m").set_value([1])
    at.run()
    by_label(at.button, "Start calibration").click()
    return at.run()


def test_a_stored_calibration_shows_heatmaps_forest_persona_check_and_provenance(db):
    _, calibration_id = db
    at = app(PAGE)
    assert not at.exception
    assert calibration_id in at.selectbox[0].value
    heat_a, heat_b, forest = charts(at)
    for chart, channel in ((heat_a, "a"), (heat_b, "b")):
        trace = chart["data"][0]
        assert trace["type"] == "heatmap"
        assert len(trace["y"]) == 32 and len(trace["x"]) == 6
        assert chart["layout"]["title"]["text"].startswith(f"{channel}: ")
        hover = trace["customdata"][0][0]
        assert "exact 95% interval" in hover and "trait-effect model" in hover
    assert {t["type"] for t in forest["data"]} == {"scatter"}
    assert any("E: extraversion" in t["y"] for t in forest["data"])
    persona, provenance = (d.value for d in at.dataframe)
    assert len(persona) == 5 and set(persona["verdict"]) == {"taken on"}
    fields = dict(zip(provenance["field"], provenance["value"], strict=True))
    assert fields["model"] == "sim-1" and fields["endpoint host"].startswith("127.0.0.1:")
    assert fields["decisions"] == "576 (0 invalid)"
    assert re.fullmatch(
        r"576 calls, [1-9]\d* prompt \+ [1-9]\d* completion tokens; no price known for this model",
        fields["cost to measure"],
    )
    assert fields["runs with this table"] == "stochastic surrogate of sim-1"
    assert len(at.download_button) == 1


def test_the_estimate_is_shown_before_anything_is_asked(db):
    path, _ = db
    at = app(PAGE)
    by_label(at.text_input, "Endpoint base URL").set_value("http://127.0.0.1:9/v1")
    at.run()
    shown = texts(at.info)
    # 6 events × 32 profiles × 7 conditions (offline; m = 1, 2, 4; both) × 10 repeats
    assert "= 13,440 consultations" in shown
    assert "upper bound: 13440 consultations" in shown
    assert "persona check adds 6,400 questions" in shown
    by_label(at.multiselect, "Events").set_value(["battle-marren-ridge"])
    at.run()
    assert "No estimate yet: no event of type" in texts(at.warning)
    by_label(at.button, "Start calibration").click()
    at.run()
    assert not at.exception and "the Events field" in texts(at.error)
    assert calibration_count(path) == 1


def test_a_calibration_from_the_page_is_stored_and_shown(tmp_path, monkeypatch):
    path = tmp_path / "fresh.duckdb"
    monkeypatch.setenv("SPREADLAB_DB", str(path))
    st.cache_data.clear()
    secret = "sk-calibrate-secret-5"
    with calibration_server() as server:
        at = start(app(PAGE), server.base_url, secret)
        assert not at.exception and not at.error, texts(at.error)
        assert "Stored calibration cal-" in texts(at.success)
        assert "Persona check: the model takes every trait on" in texts(at.caption)
        asked = server.requests
        assert asked == 32 * 6 * 3 + 32 * 20 + 1  # every probe and item once, the preflight
        measured = cost_to_measure(at)
        assert "This session: 576 consultations, 1216 calls to the endpoint" in texts(at.caption)
        assert "0 requests" not in texts(at.caption)
        at = start(app(PAGE), server.base_url, secret)
        assert "Stored calibration cal-" in texts(at.success)
        assert server.requests == asked  # the same calibration again replays from the cache
    assert len(charts(at)) == 3
    # the replay says it asked nothing, yet the table keeps what its answers cost to measure
    assert "0 requests: every answer replayed from the cache" in texts(at.caption)
    assert f"Cost to measure the calibration: {measured}." in texts(at.caption)
    assert measured.startswith("576 calls, ") and cost_to_measure(at) == measured
    assert f"cost to measure: {measured}" in texts(at.success)
    with RunStore(path) as store:
        dump = "".join(
            store.con.execute(f"SELECT * FROM {t}").df().to_csv()
            for (t,) in store.con.execute("SHOW TABLES").fetchall()
        )
    assert calibration_count(path) == 1
    assert secret not in dump


def cost_to_measure(at: AppTest) -> str:
    """The 'cost to measure' row of the shown calibration's provenance table."""
    provenance = at.dataframe[-1].value
    return dict(zip(provenance["field"], provenance["value"], strict=True))["cost to measure"]


def test_a_calibration_stored_before_its_cost_was_kept_says_whose_counts_it_shows(db):
    """Calibrations stored before the cost to measure was kept have only the counts of the session
    that stored them (none after a replay): the page says so rather than call them its cost."""
    path, calibration_id = db
    with RunStore(path) as store:
        (meta,) = store.con.execute(
            "SELECT meta FROM calibrations WHERE calibration_id = ?", [calibration_id]
        ).fetchone()
        older = {k: v for k, v in json.loads(meta).items() if k not in ("cost", "session")}
        older |= {"calls": 0, "cache_hits": 576, "prompt_tokens": 0, "completion_tokens": 0}
        store.con.execute(
            "UPDATE calibrations SET meta = ? WHERE calibration_id = ?",
            [json.dumps(older), calibration_id],
        )
    at = app(PAGE)
    assert not at.exception
    provenance = at.dataframe[-1].value
    fields = dict(zip(provenance["field"], provenance["value"], strict=True))
    assert "cost to measure" not in fields
    assert fields["cost of the session that stored it"].startswith(
        "576 consultations, 0 calls to the endpoint, 576 answers replayed from the cache"
    )


def test_a_bad_endpoint_is_a_message_and_stores_nothing(db):
    path, _ = db
    at = start(app(PAGE), "http://127.0.0.1:9/v1", "sk-bad-endpoint-1")
    assert not at.exception
    assert "cannot reach http://127.0.0.1:9/v1" in texts(at.error)
    assert "Traceback" not in texts(at.error)
    assert "starting again (with a larger budget if it ran out)" in texts(at.caption)
    assert calibration_count(path) == 1
    shown = "\n".join(texts(getattr(at, kind)) for kind in ("error", "info", "markdown", "text"))
    assert "sk-bad-endpoint-1" not in shown


def test_the_large_run_button_stores_a_surrogate_run(db):
    path, _ = db
    at = app(PAGE)
    by_label(at.number_input, "Agents N").set_value(3000)
    by_label(at.number_input, "Rounds").set_value(10)
    by_label(at.button, "Run with the calibrated table").click()
    at.run()
    assert not at.exception and not at.error, texts(at.error)
    assert "stochastic surrogate of sim-1 (calibration cal-" in texts(at.success)
    with RunStore(path) as store:
        runs = store.list_runs()
        assert len(runs) == 1 and runs["n_agents"].iloc[0] == 3000
        run_id = str(runs["run_id"].iloc[0])
        provenance = json.loads(store.run_meta(run_id)["provenance"])
    assert provenance["backend"] == "stochastic"
    assert provenance["parameter_table"].startswith("stochastic surrogate of sim-1")
    banner = texts(app("pages/2_Spread.py", run=run_id).warning)
    assert "surrogate: stochastic surrogate of sim-1" in banner


def test_a_hostile_model_name_shows_as_literal_text(tmp_path, monkeypatch):
    """The model name is typed by a user and stored: every place the page shows it is escaped."""
    path = tmp_path / "hostile.duckdb"
    model = f"sim {PAYLOAD} {MARKDOWN_PAYLOAD}"
    store_calibration(path, model=model)
    monkeypatch.setenv("SPREADLAB_DB", str(path))
    st.cache_data.clear()
    at = app(PAGE)
    assert not at.exception
    assert model in at.selectbox[0].options[0]  # a select box shows its options as plain text
    fields = at.dataframe[1].value
    assert model in set(fields["value"])  # so does a data frame
    for kind in ("markdown", "caption", "info", "warning", "success"):
        for element in getattr(at, kind):
            shown = str(element.value)
            # every tag opener and link bracket arrives backslash-escaped
            assert not re.search(r"(?<!\\)[<\[\]]", shown), shown
    assert "sim \\<script\\>" in "\n".join(str(c.value) for c in at.caption)
    for chart in charts(at):
        assert "<script" not in json.dumps(chart["layout"].get("title", {}))


def test_a_calibration_stored_without_its_effects_shows_a_note(db):
    """Calibrations stored before the effects were kept with them: no forest plot, a note."""
    path, calibration_id = db
    with RunStore(path) as store:
        (meta,) = store.con.execute(
            "SELECT meta FROM calibrations WHERE calibration_id = ?", [calibration_id]
        ).fetchone()
        older = {
            k: v for k, v in json.loads(meta).items() if k not in ("effects", "baseline_event")
        }
        store.con.execute(
            "UPDATE calibrations SET meta = ? WHERE calibration_id = ?",
            [json.dumps(older), calibration_id],
        )
    at = app(PAGE)
    assert not at.exception and len(charts(at)) == 2
    assert "stored without its trait effects" in texts(at.info)


def test_the_surrogate_is_validated_against_the_llm_from_the_page(db):
    path, _ = db
    with calibration_server() as server:
        at = app(PAGE)
        by_label(at.text_input, "Endpoint base URL").set_value(server.base_url)
        by_label(at.number_input, "Agents N of the LLM runs").set_value(60)
        at.run()
        # the calibration was made on another port of the test server: said, not refused
        assert "is not the one calibrated" in texts(at.warning)
        assert "Estimate before you validate: upper bound: " in texts(at.info)
        by_label(at.button, "Validate with the LLM").click()
        at.run()
        assert not at.exception and not at.error, texts(at.error)
        assert server.requests > 0
    verdict = texts(at.success) + texts(at.warning)
    # a one-repeat table is crude: whichever way the check goes, it is said in words
    assert "the surrogate reproduces this model's spread" in verdict.lower().replace(
        "does not reproduce", "reproduces"
    )
    chart = charts(at)[-1]
    assert chart["layout"]["title"]["text"] == "LLM agents against the surrogate"
    names = {t.get("name") for t in chart["data"]}
    assert "surrogate: mean of 200 runs" in names and "LLM replicate" in names
    assert calibration_count(path) == 1
