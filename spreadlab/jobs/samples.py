"""Bundled sample runs: a fixed matrix of stochastic scenarios, rebuilt exactly from seeds.

Every sample scenario is fitted with every model (table ``fits``). Every sample run comes from the
stochastic policy with the illustrative parameter table; it is
synthetic, and the manifest, the run rows and every export say so. The set is stored as one
Parquet file per table plus ``manifest.json`` (content hash, provenance, how to rebuild), which the
pinned DuckDB reads directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spreadlab.engine.simulate import Scenario
from spreadlab.engine.stochastic import ILLUSTRATIVE, StochasticPolicy
from spreadlab.errors import DataFormatError, FitError
from spreadlab.jobs.runner import run_scenario
from spreadlab.settings import current as current_settings
from spreadlab.store.fits import fit_group, load_group, save_fits
from spreadlab.store.runs import RUN_TABLES, RunStore
from spreadlab.store.sharing import row_count
from spreadlab.store.snapshot import load_parquet_runs, rows_digest, write_parquet
from spreadlab.world.events import EVENT_TYPES, Event, catalog
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PRESETS

# spreadlab/sample_runs links to the checkout's sample_runs/ and is a real folder in a wheel.
SAMPLE_DIR = (Path(__file__).resolve().parents[1] / "sample_runs").resolve()
SAMPLE_MIXES = ("uniform", "extraverted", "neurotic-disagreeable")
SAMPLE_FORMAT_VERSION = 1
PROVENANCE_NOTE = (
    "Synthetic: every sample run was made by SpreadLab's stochastic agent model with the "
    f"illustrative parameter table ({ILLUSTRATIVE}). No LLM was consulted."
)
SAMPLE_TABLES = (*RUN_TABLES, "fits")
# Columns that record when something was computed rather than what was computed.
_VOLATILE = {"created_at", "finished_at", "package_version"}


@dataclass(frozen=True)
class SampleScenario:
    """One scenario of the sample matrix, with its stable scenario id."""

    scenario_id: str
    scenario: Scenario


SAMPLE_MODELS = ("si1", "si2", "si2h", "pair", "pair2", "mf_map", "pair_map")
"""Models whose fits ship with the samples (the rivals of the verdict are fitted on demand)."""


def sample_matrix() -> list[SampleScenario]:
    """Six event types × three mixes × 5 replicates on 200-agent 8-regular graphs, plus one
    10,000-agent 10-regular scenario for the scale view. Seeds are fixed per scenario."""
    events = catalog()
    first_of_type: dict[str, Event] = {}
    for event in events.values():
        first_of_type.setdefault(event.type, event)
    items = []
    for i, event_type in enumerate(EVENT_TYPES):
        for j, mix in enumerate(SAMPLE_MIXES):
            scenario = Scenario(
                event=first_of_type[event_type],
                mix=PRESETS[mix],
                network=NetworkSpec(n=200, k=8),
                rounds=30,
                q=0.01,
                n0=10,
                replicates=5,
                seed=1000 + 10 * i + j,
            )
            items.append(SampleScenario(f"sample-{event_type}-{mix}", scenario))
    scale = Scenario(
        event=first_of_type["explosions_remote_violence"],
        mix=PRESETS["uniform"],
        network=NetworkSpec(n=10_000, k=10),
        rounds=40,
        q=0.002,
        n0=10,
        replicates=1,
        seed=4242,
    )
    items.append(SampleScenario("sample-scale-10k-uniform", scale))
    return items


def build_samples(out_dir: Path = SAMPLE_DIR) -> dict:
    """Simulate the whole matrix into a fresh database and write it as Parquet + manifest.

    Files are written to a temporary folder first and moved into place, so a failed build leaves
    the previous sample set intact.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        with RunStore(Path(tmp) / "build.duckdb") as store:
            policy = StochasticPolicy()
            skipped: list[dict[str, str]] = []
            for item in sample_matrix():
                run_scenario(store, item.scenario, policy, scenario_id=item.scenario_id)
                skipped += _fit_sample(store, item.scenario_id)
            for table in SAMPLE_TABLES:
                write_parquet(store, table, Path(tmp) / f"{table}.parquet")
            manifest: dict[str, Any] = {
                "format_version": SAMPLE_FORMAT_VERSION,
                "provenance": PROVENANCE_NOTE,
                "backend": "stochastic",
                "synthetic": True,
                "parameter_table": ILLUSTRATIVE,
                "rebuild": "spreadlab samples build",
                "content_sha256": content_hash(store),
                "runs": row_count(store.con, "runs"),
                "fits": row_count(store.con, "fits"),
                "fitted_models": list(SAMPLE_MODELS),
                "fits_not_possible": skipped,
                "scenarios": [
                    {
                        "scenario_id": item.scenario_id,
                        "event_id": item.scenario.event.id,
                        "event_type": item.scenario.event.type,
                        "mix": item.scenario.mix.name,
                        "n_agents": item.scenario.network.n,
                        "k": item.scenario.network.k,
                        "q": item.scenario.q,
                        "n0": item.scenario.n0,
                        "replicates": item.scenario.replicates,
                        "seed": item.scenario.seed,
                    }
                    for item in sample_matrix()
                ],
                "files": {},
            }
        for table in SAMPLE_TABLES:
            data = (Path(tmp) / f"{table}.parquet").read_bytes()
            manifest["files"][f"{table}.parquet"] = {
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
            }
        (Path(tmp) / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        for name in [*manifest["files"], "manifest.json"]:
            os.replace(Path(tmp) / name, out_dir / name)
    return manifest


def _fit_sample(store: RunStore, scenario_id: str) -> list[dict[str, str]]:
    """Fit every model to a sample scenario; a model that cannot describe the data (e.g. SI-1 when
    no seed posted at round 0) is left out and reported, not forced."""
    group = load_group(store, [scenario_id])
    fitted, skipped = [], []
    for model in SAMPLE_MODELS:
        try:
            fitted += fit_group(group, [model])
        except FitError as exc:
            skipped.append({"scenario_id": scenario_id, "model": model, "reason": str(exc)})
    save_fits(store, [(group, fitted)])
    return skipped


def content_hash(store: RunStore) -> str:
    """SHA-256 over every run table's rows in a canonical order, leaving out the columns that say
    when (not what) something was computed. Equal hashes mean the same sample runs.

    Fits are left out: they are floating-point optimiser output, which may differ in the last
    digits between machines; the tests compare them numerically instead."""
    return rows_digest(store, RUN_TABLES, _VOLATILE)


def read_manifest(sample_dir: Path = SAMPLE_DIR) -> dict:
    path = Path(sample_dir) / "manifest.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataFormatError(
            f"cannot read sample manifest {path} ({exc}); rebuild with 'spreadlab samples build'"
        ) from exc


def load_samples(store: RunStore, sample_dir: Path = SAMPLE_DIR) -> int:
    """Insert the bundled sample runs not yet in ``store`` (one transaction); return how many."""
    manifest = read_manifest(sample_dir)
    for name in manifest["files"]:
        if not (Path(sample_dir) / name).is_file():
            raise DataFormatError(f"sample file {name} is missing from {sample_dir}")
    return load_parquet_runs(store, Path(sample_dir))


def default_database() -> Path:
    """The database when none is given: ``$SPREADLAB_DB`` if set, else ``./spreadlab.duckdb``
    (see :mod:`spreadlab.settings`)."""
    return current_settings().database()


def sample_database(path: Path | None = None) -> Path:
    """A database holding every bundled sample run (loaded on first use); returns its path."""
    path = Path(path) if path is not None else default_database()
    with RunStore(path) as store:
        load_samples(store)
    return path
