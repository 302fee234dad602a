"""The bundled sample runs: load offline, honest provenance, exact rebuild."""

import json

import duckdb
import pytest

from spreadlab.exchange import export_run
from spreadlab.samples import (
    PROVENANCE_NOTE,
    SAMPLE_DIR,
    build_samples,
    content_hash,
    load_samples,
    read_manifest,
    sample_database,
    sample_matrix,
)
from spreadlab.store import RunStore


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
    frame = (
        duckdb.connect()
        .execute(
            f"SELECT group_id, model, params, loglik FROM read_parquet('{folder}/fits.parquet') "
            "ORDER BY group_id, model"
        )
        .fetchall()
    )
    out = {}
    for group, model, params, loglik in frame:
        values = {
            f"{n}.{k}": v[k]
            for n, v in json.loads(params).items()
            for k in ("estimate", "lo", "hi")
        }
        out[(group, model)] = {**values, "loglik": loglik}
    return out


@pytest.mark.slow
def test_rebuild_reproduces_the_shipped_content_hash(tmp_path):
    manifest = build_samples(tmp_path / "rebuilt")
    shipped = read_manifest(SAMPLE_DIR)
    assert manifest["content_sha256"] == shipped["content_sha256"]
    assert manifest["fits_not_possible"] == shipped["fits_not_possible"]
    rebuilt, original = fitted_values(tmp_path / "rebuilt"), fitted_values(SAMPLE_DIR)
    assert rebuilt.keys() == original.keys()
    for key, values in original.items():
        for name, value in values.items():
            assert rebuilt[key][name] == pytest.approx(value, rel=1e-6, abs=1e-12), (key, name)
    assert sorted(p.name for p in (tmp_path / "rebuilt").iterdir()) == sorted(
        [*manifest["files"], "manifest.json"]
    )
