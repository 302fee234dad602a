"""Which stored scenario comes closest to an observed series: checked on a series whose process is
known (one stored scenario's), and the stored datasets deleted whole or not at all."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from cli_runner import spreadlab

from spreadlab.analysis.observed import ObservedSeries
from spreadlab.analysis.observed_compare import CAVEAT, Candidate, compare_scenarios
from spreadlab.engine.simulate import Scenario, simulate
from spreadlab.engine.stochastic import ParameterTable, StochasticPolicy
from spreadlab.errors import StoreError
from spreadlab.glossary import PROVENANCES
from spreadlab.jobs.runner import run_scenario
from spreadlab.store.observed import delete_series, list_series, save_series, scenario_candidates
from spreadlab.store.runs import RunStore
from spreadlab.world.events import catalog
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PersonalityMix

N, K, ROUNDS = 2000, 10, 40
RATES = {"slow": 0.03, "truth": 0.06, "fast": 0.12}
"""Per-round posting probability per posting neighbour of each stored scenario: a factor 2
apart, so their curves reach half the population many rounds apart."""
SURROGATE = "stochastic surrogate of test-model (calibration c1: a test table)"


def scenario(b: float, seed: int, replicates: int = 3) -> Scenario:
    return Scenario(
        event=catalog()["battle-marren-ridge"],
        mix=PersonalityMix.uniform(),
        network=NetworkSpec("random_regular", N, K),
        rounds=ROUNDS,
        q=0.0,
        n0=10,
        replicates=replicates,
        seed=seed,
    )


def table(name: str) -> ParameterTable:
    uniform = ParameterTable.uniform(1.0, RATES[name])  # q = 0: a reaches the seeds alone
    return replace(uniform, provenance=SURROGATE, source="surrogate") if name == "fast" else uniform


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A database with the three scenarios (the fast one run with a calibrated table) and an
    hourly counts file drawn afresh (another seed) from the 'truth' scenario's process."""
    folder = tmp_path_factory.mktemp("compare")
    db = folder / "runs.duckdb"
    ids = {}
    with RunStore(db) as store:
        for i, name in enumerate(RATES):
            ids[name] = f"sc-{name}"
            policy = StochasticPolicy(table(name))
            run_scenario(store, scenario(RATES[name], seed=i), policy, scenario_id=ids[name])
    fresh = scenario(RATES["truth"], seed=99, replicates=1)
    curve = np.asarray(simulate(fresh, StochasticPolicy(table("truth")))[0].informed_curve)
    curve = np.concatenate([curve, np.full(ROUNDS + 1 - curve.size, curve[-1])])
    hours = pd.date_range("2026-05-01", periods=curve.size, freq="h", tz="UTC")
    path = folder / "posts.csv"
    pd.DataFrame(
        {"hour": hours.strftime("%Y-%m-%dT%H:%M:%SZ"), "posts": np.diff(curve, prepend=0)}
    ).to_csv(path, index=False)
    return db, path, ids, curve


def observe(db, path, *extra):
    args = ["--time-col", "hour", "--count-col", "posts", "--interval", "1h", "--n", str(N)]
    return spreadlab("observe", str(path), *args, "--db", str(db), *extra)


def test_the_series_is_closest_to_the_scenario_whose_process_made_it(stored, tmp_path):
    db, path, ids, _ = stored
    out = tmp_path / "closest.csv"
    result = observe(db, path, "--compare", "rounds", "--compare-out", str(out))
    assert result.returncode == 0, result.stderr
    ranking = pd.read_csv(out)
    assert ranking["scenario_id"].iloc[0] == ids["truth"] and ranking["rank"].tolist() == [1, 2, 3]
    best, runner_up = ranking["rmse_informed_fraction"].iloc[:2]
    # one replicate's randomness (a time shift of a round or two: up to ~0.04 over ten seeds)
    # against curves a factor 2 apart in rate (their halfway points 5+ rounds apart: >= 0.23)
    assert best < 0.1 < runner_up and ranking["rmse_above_closest"].iloc[1] > 0.1
    assert (ranking["provenance"] == "observed").all() and (ranking["caveat"] == CAVEAT).all()
    assert ranking["data_source"].str.startswith("observed, user-supplied: posts.csv").all()
    by_id = ranking.set_index("scenario_id")
    assert by_id.loc[ids["fast"], "scenario_kind"] == "simulated, calibrated table"
    assert by_id.loc[ids["fast"], "calibrated_table"]
    assert not by_id.loc[ids["truth"], "calibrated_table"]
    assert (ranking["time_mapping"] == "rounds").all()
    assert set(ranking["scenario_provenance"]) == {"user table", "surrogate"}  # uniform tables
    assert set(ranking["scenario_provenance"]) <= set(PROVENANCES)
    assert "Closest: " in result.stdout and "not evidence of mechanism" in result.stdout
    assert "runner-up" in result.stdout and "calibrated table" in result.stdout


def test_rescaled_by_the_fitted_rate_one_round_is_one_hour(stored):
    """With the rate mapping the scale comes from SI-1's β on each side: the series and its own
    scenario's mean curve share a process, so about one simulated round per hour; factor-2 rates
    give about 2 and 1/2 rounds per hour."""
    db, _, ids, curve = stored
    series = ObservedSeries(curve, N, "1h", "2026-05-01T00:00:00Z", "posts.csv", 41, "counts", 0)
    with RunStore(db) as store:
        candidates = scenario_candidates(store)
    found = {c.candidate.scenario_id: c for c in compare_scenarios(series, candidates).ranked}
    scales = {name: found[ids[name]].rounds_per_interval for name in RATES}
    # one run's β wanders by a few percent at N = 2,000; 20% is several of its standard errors
    assert scales["truth"] == pytest.approx(1.0, rel=0.2)
    assert scales["slow"] > 1.5 * scales["truth"] > 2.25 * scales["fast"]
    assert all(np.isfinite(c.rmse) for c in found.values())


def test_a_scenario_shorter_than_the_series_is_compared_where_both_exist():
    rounds = np.arange(30)
    logistic = 1 / (1 + 199 * np.exp(-0.4 * rounds))
    series = ObservedSeries(
        np.rint(logistic * 1000).astype(int), 1000, "1d", "2026-05-01T00:00:00Z", "x", 30, "c", 0
    )
    short = Candidate("short", "s", logistic[:10], 1000, "llm")
    tiny = Candidate("tiny", "t", logistic[:2], 1000, "user table")
    found = compare_scenarios(series, [tiny, short], "rounds")
    assert [c.candidate.label for c in found.ranked] == ["short", "tiny"]
    assert found.ranked[0].overlap == 10 and found.ranked[0].rmse < 1e-3
    assert np.isnan(found.ranked[1].rmse) and "spans under 3" in found.ranked[1].note
    assert np.isnan(found.margin) and "runner-up" not in found.summary("1d")
    # a scenario whose runs settled (nothing could change any more) stays at its final level,
    # and spanning the whole series it ranks before one closer over a third of it
    flat = np.minimum(logistic[:10], logistic[9])
    held = replace(short, label="held", fraction=flat, settled=True)
    found = compare_scenarios(series, [short, held], "rounds")
    assert [(c.candidate.label, c.overlap) for c in found.ranked] == [("held", 30), ("short", 10)]
    assert found.ranked[0].rmse > found.ranked[1].rmse and found.margin < 0
    assert "over 30 of 30 intervals" in found.summary("1d")
    assert "the runner-up, short, spans only 10 intervals" in found.summary("1d")


def test_only_runs_that_ended_for_good_are_held_at_their_final_level(stored, tmp_path):
    """Everybody informed: settled. Stopped by the round limit or a stop fraction: not."""
    db, *_ = stored
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(db.read_bytes())
    policy = StochasticPolicy(table("truth"))
    with RunStore(copy) as store:
        run_scenario(store, replace(scenario(0.06, 7), rounds=5), policy, scenario_id="cut")
        halfway = replace(scenario(0.06, 8), stop_fraction=0.5)
        run_scenario(store, halfway, policy, scenario_id="half")
        settled = {c.scenario_id: c.settled for c in scenario_candidates(store)}
    # the slow scenario (b = 0.03) is still spreading at its 40-round limit
    assert settled == {"sc-slow": False, "sc-truth": True, "sc-fast": True} | {
        "cut": False,
        "half": False,
    }


def test_deleting_observed_datasets_is_all_or_nothing(stored, tmp_path):
    db, path, _, _ = stored
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(db.read_bytes())
    assert observe(copy, path).returncode == 0
    with RunStore(copy) as store:
        (kept,) = list_series(store.con)["dataset_id"]
        with pytest.raises(StoreError, match="no observed dataset 'obs-nope', so nothing"):
            delete_series(store, [kept, "obs-nope"])
        assert list(list_series(store.con)["dataset_id"]) == [kept]
    listed = spreadlab("observed", "list", "--db", str(copy))
    assert kept in listed.stdout
    refused = spreadlab("observed", "delete", kept, "obs-nope", "--db", str(copy))
    assert refused.returncode == 2 and "nothing was deleted" in refused.stderr
    compared = spreadlab("observed", "compare", kept, "--db", str(copy))
    assert compared.returncode == 0 and "Closest: " in compared.stdout
    done = spreadlab("observed", "delete", kept, "--db", str(copy))
    assert done.returncode == 0 and f"deleted observed dataset {kept}" in done.stdout
    with RunStore(copy) as store:
        assert list_series(store.con).empty
        assert len(scenario_candidates(store)) == len(RATES)  # the scenarios are untouched


def test_the_same_series_saved_twice_is_one_dataset_deleted_once(tmp_path):
    series = ObservedSeries(np.array([1, 5, 9]), 10, "1h", "2026-05-01T00:00:00Z", "s", 3, "c", 0)
    with RunStore(tmp_path / "d.duckdb") as store:
        first = save_series(store.con, series)
        assert save_series(store.con, series) == first
        delete_series(store, [first])
        assert list_series(store.con).empty
