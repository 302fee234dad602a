"""Sweeps: grid validation, seed derivation, engines giving identical cells, resume after kill -9,
failed cells recorded (spreadlab.jobs.sweep, spreadlab.store.sweeps, spreadlab sweep)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_runner import spreadlab

from spreadlab.cli.sweep import progress_line
from spreadlab.errors import ConfigError
from spreadlab.jobs import sweep_cell
from spreadlab.jobs.sweep import SweepProgress, run_sweep
from spreadlab.jobs.sweep_grid import cell_seed, load_grid
from spreadlab.store.queries import informed_curves
from spreadlab.store.runs import RunStore
from spreadlab.store.sweeps import list_sweeps, sweep_cells

GRID = """
[sweep]
name = "test grid"
seed = 11
rounds = 25

[axes]
events = ["battle-marren-ridge", "protest-fuel-price"]
mixes = ["uniform", "extraverted"]
q = [0.0, 0.003]
n = {n}
k = 6
replicates = 3
"""
VOLATILE = ["seconds", "created_at", "sweep_id"]


def write_grid(folder: Path, text: str = GRID.format(n=400), name: str = "grid.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def summaries(db: Path, sweep_id: str):
    with RunStore(db) as store:
        cells = sweep_cells(store, sweep_id)
    return cells.drop(columns=VOLATILE).set_index("cell_id").sort_index()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sweep]\nseed = 1\n[axes]\nfoo = [1]\n", "unknown key 'foo' in [axes]"),
        ("[sweep]\nseed = 1\n[axes]\n[extra]\n", "unknown key 'extra' in the grid file"),
        ("[sweep]\nseed = 1\n[axes]\nq = ['x']\n", "[axes] q value = 'x': give probabilities"),
        ("[sweep]\nseed = 1\n[axes]\nn = [true]\n", "[axes] n value = True"),
        ("[sweep]\nseed = 1.5\n[axes]\n", "[sweep] seed = 1.5: give a whole number"),
        ("[sweep]\nname = 'x'\n[axes]\n", "[sweep] needs a seed"),
        ("[axes]\nq = [0.1]\n", "the grid needs a [sweep] section"),
        ("[sweep]\nseed = 1\nbackend = 'llm'\n[axes]\n", "[axes] params = ['llm']"),
        ("[sweep]\nseed = 1\n[axes]\n[llm]\nmodel = 'm'\n", "no cell uses them"),
        ("[sweep]\nseed = 1\n[axes]\nparams = ['llm']\n[llm]\napi_key = 'k'\n", "never go in"),
        ("[sweep]\nseed = 1\n[axes]\nparams = ['llm']\n[llm]\nmodel = 3\n", "[llm] model = 3"),
        ("[sweep]\nseed = 1\n[axes]\nevents = ['nope']\n", "unknown event id 'nope'"),
        ("[sweep]\nseed = 1\n[axes]\nnetworks = ['edge_list']\n", "'edge_list' is not one of"),
        ("[sweep]\nseed = 1\n[axes]\nq = [0.1, 0.1]\n", "[axes] q lists a value twice"),
        ("[sweep]\nseed = 1\n[axes]\nq = []\n", "[axes] q is empty"),
        ("[sweep]\nseed = 1\n[axes]\nq = [1.5]\n", "q = 1.5 is not a probability"),
        ("[sweep]\nseed = 1\n[axes]\nn = [5]\nk = [3]\n", "N·k = 5·3 is odd"),
        (
            "[sweep]\nseed = 1\n[axes]\nevents = ['protest-fuel-price']\nevent_types = ['riots']\n",
            "either events or event_types",
        ),
        (
            "[sweep]\nseed = 1\nmax_cells = 10\n[axes]\nq = [0.0, 0.1, 0.2, 0.3]\nseeds = 3\n",
            "the grid has 12 cells, more than max_cells = 10",
        ),
        ("[sweep]\nseed = 1\n[axes]\nq = [0.0\n", "not valid TOML"),
    ],
)
def test_grid_errors_are_one_clear_line(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        load_grid(write_grid(tmp_path, text))
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("grid.toml")


def test_cli_reports_a_bad_grid_in_one_line(tmp_path):
    result = spreadlab("sweep", str(write_grid(tmp_path, "[sweep]\nseed = 1\n[axes]\nk = 'x'\n")))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: grid.toml: [axes] k value = 'x': give whole numbers"
    ]


def test_cell_seeds_are_stable_and_independent_of_the_other_cells(tmp_path):
    params = {"event": "battle-marren-ridge", "q": 0.0}
    assert cell_seed(11, params) == cell_seed(11, dict(reversed(params.items())))
    assert cell_seed(11, params) == 2546866043698425451  # pinned: seeds must never drift
    assert cell_seed(12, params) != cell_seed(11, params)
    small = {c.cell_id: c.seed for c in load_grid(write_grid(tmp_path)).cells()}
    wider = GRID.format(n=400).replace("q = [0.0, 0.003]", "q = [0.01, 0.003, 0.0]")
    grown = {c.cell_id: c.seed for c in load_grid(write_grid(tmp_path, wider, "g2.toml")).cells()}
    assert len(small) == 8 and len(grown) == 12
    assert small.items() <= grown.items()  # same cells keep their ids and seeds


def test_event_types_stand_for_a_bundled_event_of_each_type(tmp_path):
    text = "[sweep]\nseed = 3\n[axes]\nevent_types = ['riots', 'protests']\nseeds = 2\n"
    cells = load_grid(write_grid(tmp_path, text)).cells()
    assert [(c.params["event_type"], c.params["seed_index"]) for c in cells] == [
        ("riots", 0),
        ("riots", 1),
        ("protests", 0),
        ("protests", 1),
    ]
    assert len({c.seed for c in cells}) == 4


def test_pool_and_single_process_store_identical_cells_with_their_runs(tmp_path):
    grid = load_grid(write_grid(tmp_path))
    for name, workers in (("one.duckdb", 1), ("pool.duckdb", 2)):
        with RunStore(tmp_path / name) as store:
            tally = run_sweep(store, grid, workers=workers)
            assert (tally.done, tally.failed, tally.total) == (8, 0, 8)
            assert store.table_counts()["runs"] == 8 * 3
    one = summaries(tmp_path / "one.duckdb", grid.sweep_id)
    assert one.equals(summaries(tmp_path / "pool.duckdb", grid.sweep_id))
    assert set(one["status"]) == {"done"} and one["runs_stored"].all()
    assert set(one["ci_method"]) == {"jackknife"}
    assert (one["reach_lo"] <= one["reach"]).all() and (one["reach"] <= one["reach_hi"]).all()
    assert set(one.loc[one["q"] > 0, "verdict"]) == {"offline"}
    assert set(one.loc[one["q"] == 0, "verdict"]) == {"network-only"}
    with RunStore(tmp_path / "one.duckdb") as store:  # the stored curve is its runs' mean
        run_ids = [r for (r,) in store.con.execute("SELECT run_id FROM runs").fetchall()]
        long = informed_curves(store, run_ids)
    for cell_id, row in one.iterrows():
        mine = long[long["run_id"].str.startswith(f"sw-{cell_id}-")]
        per_run = mine.pivot(index="run_id", columns="round", values="fraction").ffill(axis=1)
        assert per_run.shape[0] == 3
        assert np.allclose(per_run.mean().to_numpy(), row["curve_mean"][: per_run.shape[1]])


def test_a_rerun_without_summaries_only_adds_the_runs_with_the_same_summaries(tmp_path):
    grid = load_grid(write_grid(tmp_path))
    notes: list[str] = []
    with RunStore(tmp_path / "s.duckdb") as store:
        run_sweep(store, grid, summaries_only=True)
        assert store.table_counts()["runs"] == 0
    summary_only = summaries(tmp_path / "s.duckdb", grid.sweep_id)
    with RunStore(tmp_path / "s.duckdb") as store:
        assert run_sweep(store, grid, summaries_only=True).skipped == 8  # nothing to add
        tally = run_sweep(store, grid, note=notes.append)
        assert (tally.skipped, tally.done, tally.failed) == (0, 8, 0)
        assert store.table_counts()["runs"] == 8 * 3
        assert run_sweep(store, grid).skipped == 8  # now every cell has its runs
        assert run_sweep(store, grid, summaries_only=True).skipped == 8
    assert notes == [
        "8 cell(s) done before with summaries only are run again to store their runs (same "
        "seeds, so the same summaries; LLM cells replay their answers)"
    ]
    with_runs = summaries(tmp_path / "s.duckdb", grid.sweep_id)
    assert with_runs["runs_stored"].all() and not summary_only["runs_stored"].any()
    same = with_runs.drop(columns="runs_stored")
    assert same.equals(summary_only.drop(columns="runs_stored"))


def test_a_local_dask_cluster_gives_the_same_cells(tmp_path):
    distributed = pytest.importorskip("distributed")
    grid = load_grid(write_grid(tmp_path))
    with RunStore(tmp_path / "one.duckdb") as store:
        run_sweep(store, grid, summaries_only=True)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            protocol="tcp",  # results cross a real (loopback) connection, serialised
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        RunStore(tmp_path / "dask.duckdb") as store,
    ):
        tally = run_sweep(
            store, grid, engine="dask", address=cluster.scheduler_address, summaries_only=True
        )
        assert (tally.done, tally.failed) == (8, 0)
        assert store.table_counts()["runs"] == 0
    one = summaries(tmp_path / "one.duckdb", grid.sweep_id)
    assert one.equals(summaries(tmp_path / "dask.duckdb", grid.sweep_id))


def test_a_failed_cell_is_recorded_and_tried_again(tmp_path, monkeypatch):
    grid = load_grid(write_grid(tmp_path))
    real = sweep_cell.simulate

    def flaky(scenario, policy):
        if scenario.q > 0 and scenario.event.id == "protest-fuel-price":
            raise MemoryError("out of memory (simulated)")
        return real(scenario, policy)

    monkeypatch.setattr(sweep_cell, "simulate", flaky)
    with RunStore(tmp_path / "s.duckdb") as store:
        tally = run_sweep(store, grid)
        assert (tally.done, tally.failed) == (6, 2)
        cells = sweep_cells(store, grid.sweep_id)
        failed = cells[cells["status"] == "failed"]
        assert set(failed["error"]) == {"MemoryError: out of memory (simulated)"}
        assert failed["reach"].isna().all() and not failed["runs_stored"].any()
        assert store.table_counts()["runs"] == 6 * 3
        monkeypatch.setattr(sweep_cell, "simulate", real)
        again = run_sweep(store, grid)
        assert (again.skipped, again.done, again.failed) == (6, 2, 0)
        assert set(sweep_cells(store, grid.sweep_id)["status"]) == {"done"}
        assert store.table_counts()["runs"] == 8 * 3
        assert list_sweeps(store)[["cells", "done", "failed"]].values.tolist() == [[8, 8, 0]]


def test_kill_9_mid_sweep_then_rerun_stores_every_cell_exactly_once(tmp_path):
    text = GRID.format(n=2000).replace("seed = 11", "seed = 12") + "seeds = 4\n"
    grid_file = write_grid(tmp_path, text)
    db = tmp_path / "k.duckdb"
    command = [sys.executable, "-m", "spreadlab", "sweep", str(grid_file), "--db", str(db)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    assert process.stderr is not None
    deadline = time.monotonic() + 120
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith("cells ") and int(line.split()[1].split("/")[0]) >= 2:
            break
        assert time.monotonic() < deadline, "no progress within 2 minutes"
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL, "".join(seen)
    process.stderr.close()
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    grid = load_grid(grid_file)
    done_before = int(resumed.stdout.split("(")[1].split(" now, ")[1].split()[0])
    assert 2 <= done_before < 32
    with RunStore(db) as store:
        cells = sweep_cells(store, grid.sweep_id)
        assert sorted(cells["cell_id"]) == sorted(c.cell_id for c in grid.cells())
        assert set(cells["status"]) == {"done"}
        per_scenario = store.con.execute(
            "SELECT scenario_id, count(*), count(DISTINCT replicate) FROM runs GROUP BY ALL"
        ).fetchall()
        assert sorted(s for s, _, _ in per_scenario) == sorted("sw-" + c for c in cells["cell_id"])
        assert {(n, d) for _, n, d in per_scenario} == {(3, 3)}
        twice = "SELECT run_id FROM curves GROUP BY run_id, round HAVING count(*) > 1"
        assert store.con.execute(f"SELECT count(*) FROM ({twice})").fetchone() == (0,)


def test_progress_line_says_cells_rate_and_time_left():
    p = SweepProgress(done=100, failed=3, skipped=17, total=1000, elapsed=25.0)
    assert progress_line(p) == (
        "cells 120/1,000 (3 failed, 17 done before) · 4.12 cells/s · 3m34s left"
    )
    assert progress_line(SweepProgress(0, 0, 0, 5, 0.0)).endswith("0.00 cells/s · ? left")
