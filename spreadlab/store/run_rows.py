"""The ``runs`` row of a run, built in one place for every writer (a run written round by round
and a sweep cell's finished runs alike)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from spreadlab import __version__

if TYPE_CHECKING:
    from spreadlab.store.runs import RunMeta
    from spreadlab.world.networks import Network


def run_row(meta: RunMeta, network: Network) -> dict[str, Any]:
    """A new run's row: status 'running', no rounds stored yet, created now."""
    return {
        "run_id": meta.run_id,
        "scenario_id": meta.scenario_id,
        "replicate": meta.replicate,
        "seed": meta.seed,
        "backend": str(meta.provenance.get("backend", "unknown")),
        "synthetic": bool(meta.provenance.get("synthetic", True)),
        "provenance": json.dumps(meta.provenance, sort_keys=True),
        "event_id": meta.event["id"],
        "event_type": meta.event["type"],
        "event_title": meta.event.get("title", ""),
        "event_report": meta.event["report"],
        "mix_name": meta.mix_name,
        "mix_weights": json.dumps([round(w, 12) for w in meta.mix_weights]),
        "network_kind": meta.network_kind,
        "network_params": json.dumps(meta.network_params, sort_keys=True),
        "n_agents": network.n,
        "mean_degree": network.mean_degree,
        "rounds_max": meta.rounds_max,
        "q": meta.q,
        "n0": meta.n0,
        "status": "running",
        "rounds_done": 0,
        "rng_state": None,
        "package_version": __version__,
        "created_at": datetime.now(UTC).replace(tzinfo=None),
        "finished_at": None,
    }
