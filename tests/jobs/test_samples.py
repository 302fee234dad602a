"""The bundled sample runs: load offline, honest provenance, exact rebuild."""

import json
import math

import duckdb
import pytest
from scipy import stats

from spreadlab.jobs.samples import (
    PROVENANCE_NOTE,
    SAMPLE_DIR,
    build_samples,
    content_hash,
    load_samples,
    read_manifest,
    sample_database,
    sample_matrix,
)
from spreadlab.store.exchange import export_run
from spreadlab.store.runs import RunStore


def test_every_sample_run_loads_with_its_provenance(tmp_path):
    manifest = read_manifest()
    assert manifest["synthetic"] is True and "illustrative" in manifest["provenance"]
    total = sum(f["bytes"] for f in manifest["files"].values())
    assert total <= 20 * 2**20
    with RunStore(tmp_path / "s.duckdb") as store:
        assert load_samples(store) == manifest["runs"] == 91
        assert load_samples(store) == 0  # idempotent
        assert content_hash(store) == manifest["content_sha256"]
        runs = store.list_runs()
        assert runs["synthetic"].all() and set(runs["backend"]) == {"stochastic"}
        assert set(runs["status"]) == {"complete"}
        for run_id in runs["run_id"]:
            prov = json.loads(store.run_meta(run_id)["provenance"])
            assert prov["synthetic"] is True and "illustrative" in prov["parameter_table"]
        # the matrix: 6 event types x 3 mixes x 5 replicates at N = 200, plus the 10k scenario
        small = runs[runs["n_agents"] == 200]
        assert small["event_type"].nunique() == 6 and small["mix_name"].nunique() == 3
        assert small.groupby(["event_type", "mix_name"]).size().eq(5).all()
        assert (runs["n_agents"] == 10_000).sum() == 1
        fits = store.con.execute("SELECT group_id, model FROM fits").fetchall()
        assert len(fits) == manifest["fits"] == 19 * 7 - len(manifest["fits_not_possible"])
        single = runs.groupby("scenario_id")["run_id"].transform("count") == 1
        expected_groups = set(runs["scenario_id"][~single]) | set(runs["run_id"][single])
        assert {g for g, _ in fits} == expected_groups
        folder = export_run(store, runs["run_id"].iloc[0], tmp_path / "export")
        exported = json.loads((folder / "run.json").read_text())
        assert exported["synthetic"] is True and "illustrative" in exported["provenance"]


def test_sample_database_uses_the_env_path(tmp_path, monkeypatch):
    monkeypatch.setenv("SPREADLAB_DB", str(tmp_path / "dash.duckdb"))
    path = sample_database()
    assert path == tmp_path / "dash.duckdb"
    with RunStore(path) as store:
        assert len(store.list_runs()) == 91


def test_provenance_note_is_unmissable():
    assert "Synthetic" in PROVENANCE_NOTE and "No LLM" in PROVENANCE_NOTE
    assert len(sample_matrix()) == 19


def fitted_values(folder):
    """(group, model) -> (loglik, {parameter: (estimate, lo, hi)}) from a fits.parquet."""
    rows = (
        duckdb.connect()
        .execute(
            "SELECT group_id, model, params, loglik, ci_method, n_runs "
            f"FROM read_parquet('{folder}/fits.parquet') "
            "ORDER BY group_id, model"
        )
        .fetchall()
    )
    return {
        (group, model): (
            loglik,
            {n: (v["estimate"], v["lo"], v["hi"]) for n, v in json.loads(params).items()},
            ci_method,
            n_runs,
        )
        for group, model, params, loglik, ci_method, n_runs in rows
    }


# How closely two runs of the optimiser on the same data agree. A maximum is accepted when no step
# improves the log-likelihood by more than LL_EPS (optimise.is_local_min), so an estimate lies
# within sqrt(2·LL_EPS) standard errors of the true maximum; an interval end is accepted where the
# signed root deviance is within ROOT_EPS of z (optimise.signed_root), i.e. ROOT_EPS standard
# errors. Two fits may err in opposite directions, hence the factor 2. The standard error is read
# off the interval.
LL_EPS = 1e-6
ROOT_EPS = 5e-3
Z95 = 1.96


def assert_same_fit(rebuilt: tuple, shipped: tuple, key: tuple) -> None:
    ll, params, *_ = rebuilt
    ll_shipped, params_shipped, ci_method, n_runs = (*shipped, "profile", 1)[:4]
    assert abs(ll - ll_shipped) <= 2 * LL_EPS + 1e-12 * abs(ll_shipped), (key, ll, ll_shipped)
    assert params.keys() == params_shipped.keys(), key
    step = math.sqrt(2 * LL_EPS)  # an optimum's error, in standard errors
    for name, (estimate, lo, hi) in params_shipped.items():
        if ci_method == "jackknife":
            # estimate ± t·SE from n_runs leave-one-out fits, each within `step` of its optimum
            t = stats.t.ppf(0.975, n_runs - 1)
            se = max(hi - estimate, estimate - lo) / t
            estimate_tol = 2 * step * se + 1e-12
            limit_tol = 2 * t * math.sqrt(n_runs) * 1.2 * step * se + estimate_tol
        else:
            se = (hi - lo) / (2 * Z95)
            estimate_tol = 2 * step * se + 1e-12
            limit_tol = 2 * ROOT_EPS * se + estimate_tol
        got = params[name]
        assert abs(got[0] - estimate) <= estimate_tol, (key, name, got[0], estimate)
        assert abs(got[1] - lo) <= limit_tol, (key, name, "lo", got[1], lo)
        assert abs(got[2] - hi) <= limit_tol, (key, name, "hi", got[2], hi)


def test_fit_comparison_tolerates_optimiser_noise_but_not_a_different_optimum():
    # the pair2 alpha that differed between two machines in the 8th digit (issue 13)
    shipped = (-235.3254, {"alpha": (0.00265398377375, 0.000436, 0.005323)})
    noisy = (-235.3254 + 1e-7, {"alpha": (0.00265400855906, 0.000436001, 0.005323)})
    assert_same_fit(noisy, shipped, ("g", "m"))
    for wrong in (
        (-235.3254, {"alpha": (0.00266, 0.000436, 0.005323)}),
        (-235.3254, {"alpha": (0.00265398377375, 0.000436, 0.0054)}),
        (-235.33, shipped[1]),
    ):
        with pytest.raises(AssertionError):
            assert_same_fit(wrong, shipped, ("g", "m"))


@pytest.mark.slow
def test_rebuild_reproduces_the_shipped_runs_and_fits(tmp_path):
    manifest = build_samples(tmp_path / "rebuilt")
    shipped = read_manifest(SAMPLE_DIR)
    assert manifest["content_sha256"] == shipped["content_sha256"]
    assert manifest["fits_not_possible"] == shipped["fits_not_possible"]
    rebuilt, original = fitted_values(tmp_path / "rebuilt"), fitted_values(SAMPLE_DIR)
    assert rebuilt.keys() == original.keys()
    for key, values in original.items():
        assert_same_fit(rebuilt[key], values, key)
    assert sorted(p.name for p in (tmp_path / "rebuilt").iterdir()) == sorted(
        [*manifest["files"], "manifest.json"]
    )
