"""Export → import round trips and validation of run folders made elsewhere."""

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from spreadlab.engine.simulate import Scenario
from spreadlab.engine.stochastic import StochasticPolicy
from spreadlab.errors import DataFormatError, StoreError
from spreadlab.jobs.runner import run_scenario
from spreadlab.store.exchange import export_run, import_run
from spreadlab.store.runs import RUN_TABLES, RunStore
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PRESETS


@pytest.fixture
def exported(tmp_path, store, event):
    sc = Scenario(
        event, PRESETS["extraverted"], NetworkSpec(n=200, k=4), rounds=15, q=0.02, n0=4, seed=3
    )
    (run_id,) = run_scenario(store, sc, StochasticPolicy(), scenario_id="ex")
    return store, run_id


def table_rows(store, run_id):
    return {
        t: store.con.execute(
            f"SELECT * FROM {t} WHERE run_id = ? ORDER BY ALL", [run_id]
        ).fetchall()
        for t in RUN_TABLES
    }


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_round_trip_gives_identical_tables(tmp_path, exported, fmt):
    store, run_id = exported
    folder = export_run(store, run_id, tmp_path / "out", fmt=fmt)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["run.json"] + [f"{t}.{fmt}" for t in ("agents", "edges", "decisions", "curves")]
    )
    with RunStore(tmp_path / f"fresh-{fmt}.duckdb") as fresh:
        assert import_run(fresh, folder) == run_id
        assert table_rows(fresh, run_id) == table_rows(store, run_id)
        with pytest.raises(StoreError, match="already exists"):
            import_run(fresh, folder)


def corrupt(folder, name, edit):
    path = folder / f"{name}.parquet"
    frame = pq.read_table(path).to_pandas()
    edit(frame).to_parquet(path, index=False)


def set_value(column, row, value):
    def edit(frame):
        if isinstance(value, str):
            frame[column] = frame[column].astype(str)
        frame.loc[row, column] = value
        return frame

    return edit


CASES = {
    "missing column": (
        "decisions",
        lambda f: f.drop(columns=["m"]),
        r"decisions.parquet: missing column\(s\) m",
    ),
    "wrong type": (
        "decisions",
        set_value("m", 2, "three"),
        r"row 3, column 'm': expected an integer",
    ),
    "unknown agent": (
        "decisions",
        set_value("agent", 5, 999),
        r"row 6: decision for agent not in the network",
    ),
    "duplicate": (
        "decisions",
        lambda f: pd.concat([f.iloc[:3], f.iloc[2:3], f.iloc[3:]]),
        r"row 4: duplicate \(round, agent\)",
    ),
    "out of order": (
        "decisions",
        lambda f: f.iloc[::-1].reset_index(drop=True),
        "rounds out of order",
    ),
    "profile": (
        "agents",
        set_value("profile", 7, 32),
        r"agents.parquet, row 8: profile code outside 0–31",
    ),
    "edge": ("edges", set_value("v", 0, 500), "edge endpoint is not an agent"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_imports_are_refused_and_change_nothing(tmp_path, exported, case):
    store, run_id = exported
    folder = export_run(store, run_id, tmp_path / "out")
    (folder / "curves.parquet").unlink()
    name, edit, message = CASES[case]
    corrupt(folder, name, edit)
    with RunStore(tmp_path / "target.duckdb") as target:
        before = target.table_counts()
        with pytest.raises(DataFormatError, match=message):
            import_run(target, folder)
        assert target.table_counts() == before


def test_truncated_parquet_and_bad_metadata(tmp_path, exported):
    store, run_id = exported
    folder = export_run(store, run_id, tmp_path / "out")
    data = (folder / "decisions.parquet").read_bytes()
    (folder / "decisions.parquet").write_bytes(data[: len(data) // 2])
    with RunStore(tmp_path / "t.duckdb") as target:
        before = target.table_counts()
        with pytest.raises(DataFormatError, match=r"decisions\.parquet: cannot be read as parquet"):
            import_run(target, folder)
        (folder / "decisions.parquet").write_bytes(data)
        meta = json.loads((folder / "run.json").read_text())
        del meta["backend"]
        (folder / "run.json").write_text(json.dumps(meta))
        with pytest.raises(DataFormatError, match="missing 'backend'"):
            import_run(target, folder)
        assert target.table_counts() == before


def test_foreign_csv_run_with_minimal_metadata(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "run.json").write_text(
        json.dumps(
            {
                "backend": "llm",
                "synthetic": False,
                "q": 0.0,
                "n0": 1,
                "event": {"id": "e1", "type": "riots", "report": "A riot."},
                "provenance": {"model": "my-model", "tool": "other simulator"},
            }
        )
    )
    (folder / "agents.csv").write_text("agent,profile\n0,3\n1,31\n2,0\n")
    (folder / "edges.csv").write_text("u,v\n0,1\n1,2\n")
    (folder / "decisions.csv").write_text(
        "round,agent,offline,m,post,text\n0,0,true,0,true,hello\n1,1,false,1,true,hi\n"
        "2,2,false,1,false,\n"
    )
    with RunStore(tmp_path / "db.duckdb") as store:
        run_id = import_run(store, folder)
        run = store.load_run(run_id)
        assert run.meta["backend"] == "llm" and not run.meta["synthetic"]
        assert run.provenance["model"] == "my-model"
        assert list(run.curve["informed"]) == [1, 2, 2]
        assert run.decisions["text"].tolist()[:2] == ["hello", "hi"]


def test_imported_run_fits_exactly_like_the_original(tmp_path, exported):
    from spreadlab.store.fits import fit_and_save, load_fits

    store, run_id = exported
    folder = export_run(store, run_id, tmp_path / "out")
    models = ["si1", "si2", "pair_map"]
    fit_and_save(store, [run_id], models)
    with RunStore(tmp_path / "empty.duckdb") as fresh:
        import_run(fresh, folder)
        fit_and_save(fresh, [run_id], models)
        original = load_fits(store).drop(columns=["fitted_at"]).sort_values("model")
        imported = load_fits(fresh).drop(columns=["fitted_at"]).sort_values("model")
    assert len(original) == 3 and original["beta"].notna().any() and original["b"].notna().any()
    pd.testing.assert_frame_equal(original.reset_index(drop=True), imported.reset_index(drop=True))
