"""``spreadlab dashboard``: Streamlit's ``run`` on this checkout's app.py, its options passed on,
``--db`` handed to the pages as ``$SPREADLAB_DB``, the home page's imports started in the
background. The browser tests serve the dashboard through this command (test_browser.py)."""

from __future__ import annotations

import os
import sys

import pytest
from cli_runner import spreadlab
from streamlit import runtime
from streamlit.web import cli as streamlit_cli

from spreadlab.dashboard import launch
from spreadlab.settings import DB_ENV


@pytest.fixture
def started(monkeypatch) -> dict:
    """What ``serve`` hands to Streamlit and to the background import, instead of serving."""
    seen: dict = {}
    monkeypatch.setattr(
        streamlit_cli.main, "main", lambda args, prog_name: seen.update(args=args, prog=prog_name)
    )
    monkeypatch.setattr(launch, "import_in_background", lambda modules: seen.update(mods=modules))
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
    assert list(started["mods"]) == list(launch.HOME_MODULES)


def test_without_db_the_pages_choose_the_database_as_streamlit_run_would(started):
    assert spreadlab("dashboard").returncode == 0
    assert DB_ENV not in os.environ and started["args"] == ["run", str(launch.APP)]


def test_outside_a_checkout_the_command_says_so(started, monkeypatch, tmp_path):
    monkeypatch.setattr(launch, "APP", tmp_path / "app.py")
    result = spreadlab("dashboard")
    assert result.returncode == 2 and "args" not in started
    assert "the dashboard runs from a checkout of SpreadLab" in result.stderr


def test_the_background_import_waits_for_streamlits_runtime(monkeypatch):
    """Importing the pages before the runtime exists would register their caches without it."""
    sys.modules.pop("colorsys", None)
    with monkeypatch.context() as patched:
        patched.setattr(runtime, "exists", lambda: False)
        launch.import_in_background(["colorsys"], wait=0.2).join(timeout=10)
        assert "colorsys" not in sys.modules
        patched.setattr(runtime, "exists", lambda: True)
        launch.import_in_background(["colorsys"]).join(timeout=10)
    assert "colorsys" in sys.modules


def test_every_preloaded_module_exists():
    from importlib.util import find_spec

    assert all(find_spec(name) is not None for name in (*launch.HOME_MODULES, *launch.PAGE_MODULES))
