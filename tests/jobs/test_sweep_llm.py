"""LLM cells in sweeps, against the local OpenAI-compatible test server: a mixed grid completes,
an identical re-run makes no request, one budget caps the whole sweep and the cells it did not
reach run on the next run (replaying what was already answered), and the cost estimate comes
before any request (spreadlab.jobs.sweep_llm, spreadlab sweep)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import spreadlab
from llm_server import llm_server_fixture  # noqa: F401

from spreadlab.dashboard import sweep_figures as sf
from spreadlab.jobs.sweep import run_sweep
from spreadlab.jobs.sweep_grid import load_grid
from spreadlab.store.runs import RunStore
from spreadlab.store.sweeps import list_sweeps, sweep_cells

GRID = """
[sweep]
name = "mixed grid"
seed = 21
rounds = 4
n0 = 5

[axes]
events = ["battle-marren-ridge"]
mixes = ["uniform", "extraverted"]
q = [0.05]
n = [40]
k = [4]
params = ["illustrative", "llm"]
replicates = 3

[llm]
model = "sim-1"
base_url = "{url}"
"""
FAST = {"max_concurrency": 8, "timeout": 5.0}


@pytest.fixture(autouse=True)
def no_ambient_llm_settings(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SPREADLAB_MODEL"):
        monkeypatch.delenv(name, raising=False)


def grid_file(folder: Path, url: str) -> Path:
    path = folder / "mixed.toml"
    path.write_text(GRID.format(url=url), encoding="utf-8")
    return path


def chat_requests(server) -> int:
    return server.counts["POST /v1/chat/completions"]


def test_a_mixed_grid_completes_and_reruns_replay_with_no_request(tmp_path, llm_server):
    path, db = grid_file(tmp_path, llm_server.base_url), tmp_path / "s.duckdb"
    first = spreadlab("sweep", str(path), "--db", str(db), "--summaries-only")
    assert first.returncode == 0, first.stderr
    assert "4 of 4 cells done (4 now, 0 before), 0 failed, 0 not run" in first.stdout
    assert "LLM cells to run: 2; together, upper bound:" in first.stderr
    assert "LLM usage:" in first.stderr and chat_requests(llm_server) > 0
    with RunStore(db) as store:
        summary_only = sweep_cells(store, list_sweeps(store)["sweep_id"].item())

    before = llm_server.requests
    with_runs = spreadlab("sweep", str(path), "--db", str(db))
    assert with_runs.returncode == 0, with_runs.stderr
    assert "4 cell(s) done before with summaries only are run again" in with_runs.stderr
    assert llm_server.requests == before, "storing the LLM cells' runs asked the endpoint again"
    with RunStore(db) as store:
        cells = sweep_cells(store, list_sweeps(store)["sweep_id"].item())
        llm_runs = store.con.execute(
            "SELECT provenance FROM runs WHERE scenario_id IN (SELECT unnest(?::VARCHAR[]))",
            [cells.loc[cells["params"] == "llm", "scenario_id"].tolist()],
        ).fetchall()
        sweep = list_sweeps(store).iloc[0]
    assert set(cells["status"]) == {"done"} and cells["runs_stored"].all()
    columns = ["cell_id", "reach", "reach_lo", "rounds50", "si2_alpha", "verdict"]
    assert cells[columns].equals(summary_only[columns]), "replayed cells changed their summary"
    llm = cells[cells["params"] == "llm"]
    assert len(llm) == 2 and set(llm["table_source"]) == {"llm"}
    assert all(json.loads(p)["backend"] == "llm" for p in llm["provenance"])
    assert len(llm_runs) == 6 and {json.loads(p)["backend"] for (p,) in llm_runs} == {"llm"}
    assert llm["reach"].between(0, 1).all() and llm["n_runs"].eq(3).all()
    table = sf.csv_table(cells, sweep)
    assert dict(zip(table["params"], table["provenance"], strict=True)) == {
        "illustrative": "illustrative",
        "llm": "llm",
    }
    assert set(table.loc[table["params"] == "llm", "data_source"]) == {"llm agents"}

    again = spreadlab("sweep", str(path), "--db", str(db))
    assert again.returncode == 0, again.stderr
    assert "(0 now, 4 before)" in again.stdout
    assert llm_server.requests == before, "a re-run of a finished grid made a request"


def test_one_budget_caps_the_sweep_and_a_rerun_replays_then_finishes(tmp_path, llm_server):
    grid = load_grid(grid_file(tmp_path, llm_server.base_url))
    notes: list[tuple[str, int]] = []
    events: list[str] = []

    def note(text: str) -> None:
        notes.append((text, llm_server.requests))
        events.append(text)

    budget = 25
    with RunStore(tmp_path / "capped.duckdb") as store:
        capped = run_sweep(
            store,
            grid,
            llm_opts={**FAST, "max_calls": budget},
            note=note,
            on_progress=lambda p: events.append("progress"),
        )
        assert (capped.done, capped.failed, capped.not_run) == (2, 0, 2)
        cells = sweep_cells(store, capped_id := list_sweeps(store)["sweep_id"].item())
        not_run = cells[cells["status"] == "not_run"]
        assert set(not_run["params"]) == {"llm"} and not_run["reach"].isna().all()
        assert all("budget of 25 calls spent" in e for e in not_run["error"])
        answered = store.con.execute("SELECT count(*) FROM llm_calls").fetchone()[0]
    assert answered == budget == chat_requests(llm_server) - 1  # + the endpoint's format probe
    estimate = next((n for n in notes if n[0].startswith("LLM cells to run: 2")), None)
    assert estimate is not None and estimate[1] == 0, "the estimate came after a request"
    assert "one budget for the whole sweep: max calls 25" in estimate[0]
    assert events.index(estimate[0]) < events.index("progress"), "printed after cells were run"

    with RunStore(tmp_path / "capped.duckdb") as store:
        before = chat_requests(llm_server)
        resumed = run_sweep(store, grid, llm_opts=FAST)
        assert (resumed.skipped, resumed.done, resumed.not_run) == (2, 2, 0)
        finished = sweep_cells(store, capped_id)
        total = store.con.execute("SELECT count(*) FROM llm_calls").fetchone()[0]
    resumed_requests = chat_requests(llm_server) - before
    assert resumed_requests == total - budget, "answers received before the cap were asked again"

    with RunStore(tmp_path / "fresh.duckdb") as store:
        before = chat_requests(llm_server)
        fresh = run_sweep(store, grid, llm_opts=FAST)
        assert (fresh.done, fresh.not_run) == (4, 0)
        reference = sweep_cells(store, capped_id)
    # the uncapped sweep asks each call once, plus the format probe of a new database
    assert chat_requests(llm_server) - before == total + 1
    columns = ["cell_id", "reach", "rounds50", "si2_alpha", "verdict"]
    assert finished[columns].equals(reference[columns])


def test_a_cost_budget_needs_a_price_and_is_named_in_the_estimate(tmp_path, llm_server):
    path = grid_file(tmp_path, llm_server.base_url)
    refused = spreadlab("sweep", str(path), "--db", str(tmp_path / "a.duckdb"), "--max-cost", "1")
    assert refused.returncode == 2
    assert "a cost budget needs the model's price" in refused.stderr and "(use --max-cost)" in (
        refused.stderr
    )
    prices = tmp_path / "prices.csv"
    prices.write_text(
        "model,input_per_million,output_per_million,currency\nsim-1,1000,1000,USD\n",
        encoding="utf-8",
    )
    capped = spreadlab(
        "sweep",
        str(path),
        "--db",
        str(tmp_path / "b.duckdb"),
        "--prices",
        str(prices),
        "--max-cost",
        "1.5",
    )
    assert capped.returncode == 0, capped.stderr
    assert "max cost 1.5" in capped.stderr and "USD (price pattern 'sim-1')" in capped.stderr
    assert "not run" in capped.stdout and ", 0 not run" not in capped.stdout
    assert "LLM cells not run are stored with the reason" in capped.stderr


def test_a_bad_llm_setting_stops_the_sweep_before_it_records_or_computes_anything(
    tmp_path, llm_server
):
    path, db = grid_file(tmp_path, llm_server.base_url), tmp_path / "bad.duckdb"
    result = spreadlab("sweep", str(path), "--db", str(db), "--model", "gpt-nope")
    assert result.returncode == 2
    assert "unknown model 'gpt-nope'" in result.stderr.strip().splitlines()[-1]
    assert "LLM cells to run: 2" in result.stderr  # the estimate came first
    with RunStore(db) as store:
        assert list_sweeps(store).empty and store.table_counts()["runs"] == 0
        assert store.con.execute("SELECT count(*) FROM sweep_cells").fetchone() == (0,)
