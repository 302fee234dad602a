"""``spreadlab dashboard``: Streamlit's ``run`` on this checkout's app.py, its options passed on,
``--db`` handed to the pages as ``$SPREADLAB_DB``, what the first home page needs prepared in
the background. The browser tests serve the dashboard through this command (test_browser.py)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest
from cli_runner import spreadlab
from streamlit import delta_generator, runtime
from streamlit.web import cli as streamlit_cli

from spreadlab.dashboard import actions, launch
from spreadlab.errors import StoreError
from spreadlab.settings import DB_ENV
from spreadlab.store.runs import RunStore


@pytest.fixture
def started(monkeypatch) -> dict:
    """What ``serve`` hands to Streamlit and to the background import, instead of serving."""
    seen: dict = {}
    monkeypatch.setattr(
        streamlit_cli.main, "main", lambda args, prog_name: seen.update(args=args, prog=prog_name)
    )
    monkeypatch.setattr(launch, "in_background", lambda work: seen.update(work=work))
    monkeypatch.delenv(DB_ENV, raising=False)
    return seen


def test_streamlit_runs_app_py_with_the_options_given(started, tmp_path):
    db = tmp_path / "mine.duckdb"
    result = spreadlab("dashboard", "--server.port", "8600", "--db", str(db), "--server.headless=1")
    assert result.returncode == 0, result.stderr
    assert started["args"] == [
        "run",
        str(launch.APP),
        "--server.port",
        "8600",
        "--server.headless=1",
    ]
    assert started["prog"] == "streamlit" and launch.APP.name == "app.py" and launch.APP.is_file()
    assert os.environ[DB_ENV] == str(db)
    assert started["work"] is launch.prepare_home


def test_without_db_the_pages_choose_the_database_as_streamlit_run_would(started):
    assert spreadlab("dashboard").returncode == 0
    assert DB_ENV not in os.environ and started["args"] == ["run", str(launch.APP)]


def test_outside_a_checkout_the_command_says_so(started, monkeypatch, tmp_path):
    monkeypatch.setattr(launch, "APP", tmp_path / "app.py")
    result = spreadlab("dashboard")
    assert result.returncode == 2 and "args" not in started
    assert "the dashboard runs from a checkout of SpreadLab" in result.stderr


def test_the_background_work_waits_for_streamlits_runtime(monkeypatch):
    """Importing the pages before the runtime exists would register their caches without it."""
    sys.modules.pop("colorsys", None)
    with monkeypatch.context() as patched:
        patched.setattr(runtime, "exists", lambda: False)
        launch.in_background(lambda: launch.import_all(["colorsys"]), wait=0.2).join(timeout=10)
        assert "colorsys" not in sys.modules
        patched.setattr(runtime, "exists", lambda: True)
        launch.in_background(lambda: launch.import_all(["colorsys"])).join(timeout=10)
    assert "colorsys" in sys.modules


def test_preparing_the_home_page_while_a_page_asks_loads_the_samples_once(monkeypatch):
    """On a fresh clone (the test's own empty folder) the background work and the first page
    may both ask for the database: one loads the sample runs, the other finds them loaded."""
    monkeypatch.delenv(DB_ENV, raising=False)
    monkeypatch.setattr(delta_generator, "_use_warning_has_been_displayed", False)
    page = threading.Thread(target=actions.database_path)
    page.start()
    launch.prepare_home()
    page.join(timeout=120)
    with RunStore(Path("spreadlab.duckdb"), create=False) as store:
        runs = store.list_runs()
    assert len(runs) == 91 and runs["run_id"].is_unique
    assert delta_generator._use_warning_has_been_displayed  # Streamlit's check, done here


def test_a_database_that_cannot_be_opened_is_left_for_the_page_to_report(monkeypatch, tmp_path):
    monkeypatch.setenv(DB_ENV, str(tmp_path / "missing-folder" / "x.duckdb"))
    launch.prepare_home()  # no exception: the home page shows the error in its own words
    with pytest.raises(StoreError, match="does not exist"):
        RunStore(actions.database_path())


def test_every_preloaded_module_exists():
    from importlib.util import find_spec

    assert all(find_spec(name) is not None for name in (*launch.HOME_MODULES, *launch.PAGE_MODULES))
