"""One schema for every table: a new database has them all, and a database of the previous
release (schema version 1, built by tests/support/make_v1_database.py at commit 4095dc4) is
migrated in place with every row kept and read back as before."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import duckdb
import pytest
from sweep_support import build_sweep_db

from spreadlab.errors import StoreError
from spreadlab.llm.negotiate import FormatMemory
from spreadlab.store import calls, schema
from spreadlab.store.calibrations import stored_calibration
from spreadlab.store.fits import load_fits
from spreadlab.store.runs import RunStore

V1_DATABASE = Path(__file__).resolve().parents[1] / "support" / "v1_database.duckdb.gz"
V1_TABLES = (
    "agents",
    "calibrations",
    "curves",
    "decisions",
    "edges",
    "fits",
    "llm_calls",
    "llm_formats",
    "meta",
    "run_writers",
    "runs",
)


@pytest.fixture(name="v1_path")
def _v1_path(tmp_path) -> Path:
    path = tmp_path / "v1.duckdb"
    with gzip.open(V1_DATABASE) as packed, path.open("wb") as out:
        shutil.copyfileobj(packed, out)
    return path


V5_COLUMNS = {"llm_calls": "p_post", "llm_formats": "logprobs"}
"""The columns schema version 5 added (each the last of its table)."""


def columns(con, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
        "ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return dict(rows)


def contents(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, in a canonical order, read without SpreadLab."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in names}


def test_a_new_database_has_every_table_at_the_current_version():
    with RunStore(":memory:") as store:
        assert schema.stored_version(store.con) == schema.SCHEMA_VERSION
        for table, wanted in schema.COLUMNS.items():
            assert list(columns(store.con, table)) == list(wanted), table


def test_the_previous_release_database_is_migrated_in_place(v1_path):
    before = contents(v1_path)
    assert sorted(before) == sorted(V1_TABLES) and before["meta"] == [("schema_version", "1")]
    with RunStore(v1_path) as store:
        assert schema.stored_version(store.con) == schema.SCHEMA_VERSION
        runs = store.list_runs()
        loaded = {r: store.load_run(r) for r in runs["run_id"]}
        fits = load_fits(store)
    after = contents(v1_path)
    assert after.pop("meta") == [("schema_version", str(schema.SCHEMA_VERSION))]
    for table in V5_COLUMNS:  # version 5 appended one column, NULL in every row
        assert all(row[-1] is None for row in after[table])
        after[table] = [row[:-1] for row in after[table]]
    assert {t: after.pop(t) for t in V1_TABLES if t != "meta"} == {
        t: rows for t, rows in before.items() if t != "meta"
    }
    assert sorted(after) == sorted(set(schema.COLUMNS) - set(V1_TABLES))  # new, and empty
    assert not any(after.values())

    assert sorted(runs["run_id"]) == ["llmtiny-000", "llmtiny-001", "stochtiny-000"]
    assert set(runs["backend"]) == {"llm", "stochastic"} and set(runs["status"]) == {"complete"}
    for run_id, run in loaded.items():
        rows = [r for r in before["decisions"] if r[0] == run_id]
        assert len(run.decisions) == len(rows) > 0
        assert len(run.curve) == len([r for r in before["curves"] if r[0] == run_id])
        assert run.network.n == 12 and len(run.profiles) == 12
    assert sorted(zip(fits["group_id"], fits["model"], strict=True)) == [
        ("llmtiny", "si1"),
        ("stochtiny-000", "si2"),
    ]
    assert fits["converged"].all()


def test_the_migrated_cache_formats_and_calibration_are_read_as_before(v1_path):
    before = contents(v1_path)
    key, run_seed, stream, round_ = (before["llm_calls"][0][i] for i in (0, 3, 4, 5))
    with RunStore(v1_path) as store:
        tagged = calls.round_replies(store.con, run_seed, stream, round_)
        assert key in tagged and calls.cached_reply(store.con, key) == tagged[key]
        memory = FormatMemory(store.con)
        (stored_format,) = before["llm_formats"]
        assert memory.get(stored_format[0], stored_format[1]) == stored_format[2]
        memory.close()
        (calibration,) = before["calibrations"]
        found = stored_calibration(store.con, calibration[1])
        assert found is not None and found["calibration_id"] == calibration[0]
        assert found["model"] == "sim-1"


def test_a_cache_without_the_rejected_column_gains_it(v1_path):
    with duckdb.connect(str(v1_path)) as con:
        con.execute("ALTER TABLE llm_calls DROP COLUMN rejected")
        rows = con.execute("SELECT * FROM llm_calls ORDER BY ALL").fetchall()
    with RunStore(v1_path) as store:
        assert list(columns(store.con, "llm_calls")) == list(schema.CALL_COLUMNS)
        again = store.con.execute("SELECT * EXCLUDE (rejected, p_post) FROM llm_calls ORDER BY ALL")
        assert again.fetchall() == rows
        assert store.con.execute("SELECT count(rejected) FROM llm_calls").fetchone() == (0,)


def test_opening_twice_changes_nothing(v1_path):
    RunStore(v1_path).close()
    once = contents(v1_path)
    RunStore(v1_path).close()
    assert contents(v1_path) == once


def test_a_version_2_database_gains_the_observed_table_and_keeps_its_rows(v1_path):
    with RunStore(v1_path):
        pass
    with duckdb.connect(str(v1_path)) as con:  # as the release before observed datasets left it
        con.execute("DROP TABLE observed")
        con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    before = contents(v1_path)
    with RunStore(v1_path) as store:
        assert schema.stored_version(store.con) == schema.SCHEMA_VERSION
        assert list(columns(store.con, "observed")) == list(schema.OBSERVED_COLUMNS)
    after = contents(v1_path)
    assert after.pop("observed") == [] and after.pop("persona_checks") == []
    assert after.pop("meta") == [("schema_version", str(schema.SCHEMA_VERSION))]
    assert after == {t: rows for t, rows in before.items() if t not in ("meta", "persona_checks")}


def test_a_version_3_database_gains_the_persona_check_table_and_keeps_its_rows(v1_path):
    with RunStore(v1_path):
        pass
    with duckdb.connect(str(v1_path)) as con:  # as the release before stored persona checks
        con.execute("DROP TABLE persona_checks")
        con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    before = contents(v1_path)
    with RunStore(v1_path) as store:
        assert schema.stored_version(store.con) == schema.SCHEMA_VERSION
        assert list(columns(store.con, "persona_checks")) == list(schema.PERSONA_CHECK_COLUMNS)
    after = contents(v1_path)
    assert after.pop("persona_checks") == []
    assert after.pop("meta") == [("schema_version", str(schema.SCHEMA_VERSION))]
    assert after == {t: rows for t, rows in before.items() if t != "meta"}


def test_a_version_4_database_gains_the_log_probability_columns_and_keeps_its_rows(v1_path):
    with RunStore(v1_path):
        pass
    with duckdb.connect(str(v1_path)) as con:  # as the release before token log-probabilities
        for table, column in V5_COLUMNS.items():
            con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        con.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    before = contents(v1_path)
    assert before["llm_calls"] and before["llm_formats"]
    with RunStore(v1_path) as store:
        assert schema.stored_version(store.con) == schema.SCHEMA_VERSION
        assert list(columns(store.con, "llm_calls")) == list(schema.CALL_COLUMNS)
        assert list(columns(store.con, "llm_formats")) == list(schema.COLUMNS["llm_formats"])
    after = contents(v1_path)
    assert after.pop("meta") == [("schema_version", str(schema.SCHEMA_VERSION))]
    for table in V5_COLUMNS:
        assert after.pop(table) == [(*row, None) for row in before.pop(table)]
    assert after == {t: rows for t, rows in before.items() if t != "meta"}


def test_a_version_5_database_gains_the_sweep_curve_columns_and_keeps_its_cells(tmp_path):
    path = tmp_path / "v5.duckdb"
    build_sweep_db(path)
    with duckdb.connect(str(path)) as con:  # as the release before per-cell curves
        for column in schema.CURVE_COLUMNS:
            con.execute(f"ALTER TABLE sweep_cells DROP COLUMN {column}")
        con.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    before = contents(path)
    assert len(before["sweep_cells"]) == 6
    with RunStore(path) as store:
        assert schema.stored_version(store.con) == schema.SCHEMA_VERSION == 6
        assert list(columns(store.con, "sweep_cells")) == list(schema.CELL_COLUMNS)
    after = contents(path)
    assert after.pop("meta") == [("schema_version", "6")]
    width = len(schema.CURVE_COLUMNS)
    assert after.pop("sweep_cells") == [
        (*row, *[None] * width) for row in before.pop("sweep_cells")
    ]
    assert after == {t: rows for t, rows in before.items() if t != "meta"}


def test_a_database_from_a_newer_release_is_refused_untouched(v1_path):
    with duckdb.connect(str(v1_path)) as con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    before = contents(v1_path)
    with pytest.raises(StoreError, match=r"schema version 99.*newer SpreadLab"):
        RunStore(v1_path)
    assert contents(v1_path) == before
