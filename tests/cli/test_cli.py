"""The command line, through its console entry point (in this process:
tests/support/cli_runner.py)."""

import re

import duckdb
import pandas as pd
import pytest
from cli_runner import spreadlab

from spreadlab.engine.stochastic import ParameterTable
from spreadlab.store.fits import load_fits
from spreadlab.store.runs import RunStore


def curves(db):
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT r.replicate, list(c.informed ORDER BY c.round) FROM runs r JOIN curves c "
        "USING (run_id) GROUP BY r.replicate ORDER BY r.replicate"
    ).fetchall()
    con.close()
    return [tuple(r[1]) for r in rows]


def test_run_is_reproducible_from_its_seed(tmp_path):
    common = [
        "run",
        "--n",
        "1000",
        "--k",
        "8",
        "--event",
        "protest-fuel-price",
        "--mix",
        "uniform",
        "--replicates",
        "5",
    ]
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        result = spreadlab(*common, "--seed", seed, "--db", str(tmp_path / f"{name}.duckdb"))
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("protest-fuel-price") == 5
    a, b, c = (curves(tmp_path / f"{x}.duckdb") for x in "abc")
    assert len(a) == 5 and a == b
    assert a != c
    assert len(set(a)) == 5, "replicates of one scenario must differ from each other"
    listing = spreadlab("runs", "--db", str(tmp_path / "a.duckdb"))
    assert listing.returncode == 0 and listing.stdout.count("stochastic") == 5


def test_export_and_import_commands(tmp_path):
    db = tmp_path / "a.duckdb"
    assert (
        spreadlab("run", "--n", "200", "--k", "4", "--seed", "3", "--db", str(db)).returncode == 0
    )
    with RunStore(db) as store:
        run_id = store.list_runs()["run_id"].iloc[0]
    exported = spreadlab(
        "export", run_id, str(tmp_path / "out"), "--format", "csv", "--db", str(db)
    )
    assert exported.returncode == 0, exported.stderr
    imported = spreadlab(
        "import", str(tmp_path / "out" / run_id), "--db", str(tmp_path / "b.duckdb")
    )
    assert imported.returncode == 0 and run_id in imported.stdout
    again = spreadlab("import", str(tmp_path / "out" / run_id), "--db", str(tmp_path / "b.duckdb"))
    assert again.returncode == 2 and "(use --as)" in again.stderr
    renamed = spreadlab(
        "import",
        str(tmp_path / "out" / run_id),
        "--as",
        "copy-1",
        "--db",
        str(tmp_path / "b.duckdb"),
    )
    assert renamed.returncode == 0 and "imported copy-1" in renamed.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--n", "7", "--k", "3"], "odd"),
        (["--n", "10", "--k", "10"], "smaller than N"),
        (["--n", "1", "--k", "0"], "at least 2 agents"),
        (["--q", "1.5"], "not a probability"),
        (["--q", "-0.1"], "not a probability"),
        (["--mix", "weights:1=-2"], "negative"),
        (["--mix", "weights:1=0"], "all-zero"),
        (["--event", "no-such-event"], "unknown event id"),
        (["--network", "edge_list"], "needs the path of an edge-list file"),
    ],
)
def test_bad_input_is_one_clear_line_and_writes_nothing(tmp_path, args, message):
    db = tmp_path / "runs.duckdb"
    assert spreadlab("run", "--n", "100", "--k", "4", "--db", str(db)).returncode == 0
    with RunStore(db) as store:
        before = store.table_counts()
    result = spreadlab("run", *args, "--db", str(db))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    with RunStore(db) as store:
        assert store.table_counts() == before


def test_bad_files_and_paths(tmp_path):
    bad_events = tmp_path / "ev.json"
    bad_events.write_text('[{"id": "x", "type": "riots", "report": ""}]')
    long_events = tmp_path / "long.csv"
    long_events.write_text("id,type,report\nx,riots," + "y" * 4001 + "\n")
    edges = tmp_path / "edges.txt"
    edges.write_text("0 1\n1 one\n")
    cases = [
        (["--events-file", str(bad_events), "--event", "x"], "missing report"),
        (["--events-file", str(long_events), "--event", "x"], "at most 4000"),
        (
            ["--network", "edge_list", "--edge-list", str(edges)],
            "line 2: agent ids must be integers",
        ),
        (["--db", str(tmp_path / "no" / "dir.duckdb")], "does not exist"),
        (["--params", str(tmp_path / "nope.csv")], "cannot read parameter table"),
    ]
    db = tmp_path / "runs.duckdb"
    for args, message in cases:
        result = spreadlab("run", "--db", str(db), *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_params_table_round_trip(tmp_path):
    out = tmp_path / "params.csv"
    assert spreadlab("params", str(out)).returncode == 0
    text = out.read_text()
    assert "illustrative" in text.splitlines()[1] and len(text.splitlines()) == 1 + 32 * 6
    result = spreadlab(
        "run", "--n", "100", "--k", "4", "--params", str(out), "--db", str(tmp_path / "r.duckdb")
    )
    assert result.returncode == 0, result.stderr


def test_run_on_a_user_edge_list(tmp_path):
    edges = tmp_path / "edges.txt"
    edges.write_text("0 1\n1 2\n2 3\n3 0\n0 2\n")
    db = tmp_path / "e.duckdb"
    result = spreadlab(
        "run", "--network", "edge_list", "--edge-list", str(edges), "--n0", "1", "--db", str(db)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].endswith("/4")
    with RunStore(db) as store:
        run = store.load_run(store.list_runs()["run_id"].iloc[0])
    assert run.network.n == 4 and run.network.n_edges == 5


def test_traits_command_recovers_the_illustrative_effects_from_the_samples(tmp_path):
    """The sample runs were made with the illustrative table, which is logistic in the traits and
    event type: the learned effects must match its hand-set values (high vs low = 2 x the +-1
    coefficient) within 3 standard errors."""
    from spreadlab.engine import stochastic

    db, out = str(tmp_path / "s.duckdb"), tmp_path / "traits.csv"
    assert spreadlab("samples", "load", "--db", db).returncode == 0
    with RunStore(db) as store:
        ids = [s for s in store.list_runs()["scenario_id"].unique() if "scale" not in s]
    result = spreadlab("traits", *ids, "--db", db, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "SYNTHETIC" in result.stdout
    table = pd.read_csv(out).set_index(["channel", "term"])
    assert table["synthetic"].all() and table["data_source"].str.startswith("synthetic").all()
    assert {"backend", "runs", "package_version"} <= set(table.columns)
    truth = {
        "a": {**{t: 2 * v for t, v in stochastic._TRAIT_EFFECT_A.items()}},
        "b": {**{t: 2 * v for t, v in stochastic._TRAIT_EFFECT_B.items()}},
    }
    for channel in ("a", "b"):
        for event, effect in stochastic._EVENT_EFFECT.items():
            if event != "battles":
                truth[channel][f"event:{event}"] = effect
    z = {
        (c, t): (table.loc[(c, t), "estimate"] - v) / table.loc[(c, t), "se"]
        for c, terms in truth.items()
        for t, v in terms.items()
    }
    assert len(z) == 2 * (5 + 5)
    assert max(abs(v) for v in z.values()) < 3.5, z
    assert table.loc[("b", "E"), "se"] < 0.05  # precise enough for the check to mean something


def test_unwritable_output_paths_are_one_clear_line(tmp_path):
    db = str(tmp_path / "a.duckdb")
    assert spreadlab("run", "--n", "100", "--k", "4", "--db", db).returncode == 0
    with RunStore(db) as store:
        run_id = store.list_runs()["run_id"].iloc[0]
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    for args in (
        ["export", run_id, str(blocked / "out"), "--db", db],
        ["traits", run_id, "--out", str(blocked / "t.csv"), "--db", db],
        ["params", str(blocked / "p.csv")],
    ):
        result = spreadlab(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert "error:" in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert str(blocked) in result.stderr


def test_fit_command_with_the_conditional_likelihood(tmp_path):
    db = str(tmp_path / "a.duckdb")
    result = spreadlab(
        "run",
        "--n",
        "400",
        "--k",
        "6",
        "--q",
        "0.02",
        "--replicates",
        "3",
        "--seed",
        "4",
        "--db",
        db,
    )
    assert result.returncode == 0, result.stderr
    with RunStore(db) as store:
        scenario = store.list_runs()["scenario_id"].iloc[0]
    fitted = spreadlab(
        "fit", scenario, "--models", "si1,si2", "--method", "conditional", "--db", db
    )
    assert fitted.returncode == 0, fitted.stderr
    assert "conditional" in fitted.stdout
    # the decision log settles it: q = 0.02 reached agents offline, and some posted on it alone
    assert re.search(r"^verdict: offline — .+$", fitted.stdout, re.M), fitted.stdout
    assert "evidence: decision log:" in fitted.stdout
    refused = spreadlab(
        "fit", scenario, "--models", "pair_map", "--method", "conditional", "--db", db
    )
    assert refused.returncode == 2 and "tracks more than the informed fraction" in refused.stderr


def test_fit_of_a_curve_that_never_moves_says_no_fit(tmp_path):
    db = str(tmp_path / "flat.duckdb")
    table = tmp_path / "quiet.csv"
    table.write_text(ParameterTable.uniform(0.5, 0.0).to_csv(), encoding="utf-8")
    made = spreadlab("run", "--n", "100", "--k", "4", "--params", str(table), "--db", db)
    assert made.returncode == 0, made.stderr
    with RunStore(db) as store:
        scenario = store.list_runs()["scenario_id"].iloc[0]
    fitted = spreadlab("fit", scenario, "--db", db)
    assert fitted.returncode == 2 and "Traceback" not in fitted.stderr
    assert re.search(r"^verdict: no-fit — no model can be fitted: .+", fitted.stdout, re.M)
    with RunStore(db) as store:
        assert load_fits(store).empty  # nothing was written


def test_run_names_its_scenario_and_fit_takes_it(tmp_path):
    db = str(tmp_path / "r.duckdb")
    args = ["--n", "100", "--k", "4", "--q", "0.02", "--rounds", "8", "--replicates", "3"]
    made = spreadlab("run", *args, "--db", db)
    assert made.returncode == 0, made.stderr
    scenario_ids = set(re.findall(r"scenario=(\S+)", made.stdout))
    assert len(scenario_ids) == 1
    (scenario_id,) = scenario_ids
    assert made.stdout.count("rounds=8") == 3  # --rounds 8: rounds 1..8 after the seeding
    assert f"spreadlab fit {scenario_id}" in made.stdout
    fitted = spreadlab("fit", scenario_id, "--ci", "none", "--db", db)
    assert fitted.returncode == 0, fitted.stderr
    assert scenario_id in fitted.stdout and "verdict:" in fitted.stdout
    for args in ([], ["--by-scenario"]):
        listing = spreadlab("runs", *args, "--db", db).stdout
        assert max(len(line) for line in listing.splitlines()) <= 100
    grouped = spreadlab("runs", "--by-scenario", "--db", db).stdout.splitlines()
    assert scenario_id in grouped[1] and " 3 " in grouped[1] and len(grouped) == 3
    assert "created_at" in spreadlab("runs", "--wide", "--db", db).stdout


def test_read_only_commands_create_no_database(tmp_path):
    for args in (["runs"], ["runs", "--by-scenario"], ["fit", "x"], ["export-fits", "f.csv"]):
        result = spreadlab(*args, cwd=tmp_path)
        assert result.returncode == 2 and "no database" in result.stderr
    assert list(tmp_path.iterdir()) == []
