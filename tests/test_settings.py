"""The one settings object: precedence of the database path and tolerant parsing."""

import doctest
from pathlib import Path

from spreadlab import settings
from spreadlab.settings import DEFAULT_DB, DEFAULT_LOCK_WAIT, Settings


def test_docstring_examples_run():
    assert doctest.testmod(settings).failed == 0


def test_explicit_path_beats_env_beats_default(tmp_path):
    env = Settings.from_env({"SPREADLAB_DB": str(tmp_path / "env.duckdb")})
    assert env.database(tmp_path / "given.duckdb") == tmp_path / "given.duckdb"
    assert env.database() == tmp_path / "env.duckdb" and env.db_from_env
    assert Settings.from_env({"SPREADLAB_DB": "  "}).database() == DEFAULT_DB
    assert Settings.from_env({}).database(None) == DEFAULT_DB


def test_bad_values_fall_back_to_defaults():
    assert Settings.from_env({"SPREADLAB_LOCK_WAIT": "soon"}).lock_wait == DEFAULT_LOCK_WAIT
    assert Settings.from_env({"SPREADLAB_LOCK_WAIT": "-4"}).lock_wait == 0.0
    assert Settings.from_env({"SPREADLAB_MODEL": ""}).model == settings.DEFAULT_MODEL


def test_current_reads_the_environment_when_called(monkeypatch, tmp_path):
    monkeypatch.setenv("SPREADLAB_DB", str(tmp_path / "now.duckdb"))
    assert settings.current().database() == Path(tmp_path / "now.duckdb")
