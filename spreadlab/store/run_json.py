"""The runs-table row of an imported run, built from its ``run.json`` and checked field by field.

A SpreadLab export's ``run.json`` is taken as written; a foreign one (a user's own LLM runs) may
leave out most fields, which get defaults, and its provenance says it was imported. Every value
is checked against what the engine can hold, and a bad one is a :class:`DataFormatError` naming
the file and the field (see docs/run_format.md).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spreadlab import __version__
from spreadlab.engine.simulate import MAX_REPLICATES, MAX_ROUNDS
from spreadlab.errors import ConfigError, DataFormatError
from spreadlab.store.runs import RUN_STATUSES
from spreadlab.store.schema import RUN_COLUMNS
from spreadlab.validate import (
    INT64_MAX,
    check_endpoint,
    check_id,
    check_int,
    check_printable,
    clean_text,
    generator_state,
    slug,
)
from spreadlab.world.events import MAX_REPORT_CHARS, MAX_TITLE_CHARS, Event
from spreadlab.world.networks import NETWORK_KINDS
from spreadlab.world.personas import N_PROFILES

MAX_TEXT_CHARS = MAX_REPORT_CHARS  # per post, reason or report


def imported_run_row(
    meta: dict[str, Any], path: Path, n: int, edges: pd.DataFrame
) -> dict[str, Any]:
    """The runs-table row: taken from a SpreadLab export or built from a foreign run.json, every
    field checked against what the engine can hold."""
    try:
        return _checked_row(meta, path, n, edges)
    except ConfigError as exc:
        raise DataFormatError(f"{path}: {exc}") from None


def _checked_row(meta: dict[str, Any], path: Path, n: int, edges: pd.DataFrame) -> dict[str, Any]:
    event = _event(meta)
    q, rounds_max, status, kind = _checked_settings(meta)
    folder = slug(path.parent.name)
    native = "package_version" in meta and "provenance" in meta and "run_id" in meta
    row = {
        "run_id": check_id(meta.get("run_id") or f"import-{folder}", "'run_id'"),
        "scenario_id": check_id(meta.get("scenario_id") or f"import-{folder}", "'scenario_id'"),
        "replicate": check_int(meta.get("replicate", 0), "'replicate'", 0, MAX_REPLICATES),
        "seed": check_int(meta.get("seed", 0), "'seed'", 0, INT64_MAX),
        "backend": check_id(meta["backend"], "'backend'"),
        "synthetic": _flag(meta.get("synthetic", False), "'synthetic'"),
        "provenance": _provenance(meta, native, folder),
        "event_id": event.id,
        "event_type": event.type,
        "event_title": event.title,
        "event_report": event.report,
        "mix_name": clean_text(str(meta.get("mix_name", "unknown")), MAX_TITLE_CHARS),
        "mix_weights": _mix_weights(meta.get("mix_weights")),
        "network_kind": kind,
        "network_params": _json_object(meta.get("network_params"), "'network_params'"),
        "n_agents": n,
        "mean_degree": 2 * len(edges) / n if n else 0.0,
        "rounds_max": rounds_max,
        "q": q,
        "n0": check_int(meta["n0"], "'n0'", 0, n),
        "status": status,
        "rounds_done": check_int(meta.get("rounds_done", 0), "'rounds_done'", 0, rounds_max + 1),
        "rng_state": _rng_state(meta.get("rng_state")),
        "package_version": clean_text(str(meta.get("package_version", __version__)), 40),
        "created_at": _timestamp(meta.get("created_at"), "'created_at'")
        or datetime.now(UTC).replace(tzinfo=None),
        "finished_at": _timestamp(meta.get("finished_at"), "'finished_at'"),
    }
    missing = set(RUN_COLUMNS) - set(row)
    assert not missing, missing
    return row


def _event(meta: dict[str, Any]) -> Event:
    """The event: an ``event`` object (SpreadLab's export) or flat ``event_*`` fields."""
    event_data = meta.get("event") or {
        "id": meta.get("event_id"),
        "type": meta.get("event_type"),
        "title": meta.get("event_title"),
        "report": meta.get("event_report"),
    }
    if not isinstance(event_data, dict):
        raise ConfigError("'event' must be an object with id, type, title and report")
    return Event(
        id=str(event_data.get("id") or ""),
        type=str(event_data.get("type") or ""),
        title=clean_text(str(event_data.get("title") or ""), MAX_TITLE_CHARS),
        report=clean_text(str(event_data.get("report") or ""), MAX_TEXT_CHARS + 1),
    )


def _checked_settings(meta: dict[str, Any]) -> tuple[float, int, str, str]:
    """(q, rounds_max, status, network kind), after checking the required fields are there."""
    if "backend" not in meta:
        raise ConfigError(
            "missing 'backend' (say which policy made the decisions, e.g. 'llm' or "
            "'stochastic'); it is shown as provenance everywhere"
        )
    for key in ("n0", "q"):
        if key not in meta:
            raise ConfigError(f"missing '{key}'")
    q = meta["q"]
    if isinstance(q, bool) or not isinstance(q, int | float) or not 0 <= q <= 1:
        raise ConfigError(f"'q' = {repr(q)[:40]} is not a probability: use a number in [0, 1]")
    rounds_max = check_int(meta.get("rounds_max", 0), "'rounds_max'", 0, MAX_ROUNDS)
    status = meta.get("status", "complete")
    if status not in RUN_STATUSES:
        raise ConfigError(f"'status' = {repr(status)[:40]}: use one of {', '.join(RUN_STATUSES)}")
    kind = meta.get("network_kind", "edge_list")
    if kind not in NETWORK_KINDS:
        raise ConfigError(
            f"'network_kind' = {repr(kind)[:40]}: use one of {', '.join(NETWORK_KINDS)}"
        )
    return float(q), rounds_max, status, kind


def _provenance(meta: dict[str, Any], native: bool, folder: str) -> str:
    given = _parse_json(meta.get("provenance") or {}, "'provenance'", "an object")
    if not isinstance(given, dict):
        raise ConfigError("'provenance' must be a JSON object")
    if "endpoint" in given:
        check_endpoint(given["endpoint"], "the provenance's 'endpoint'")
    check_printable(given, "'provenance'")
    if native:
        return meta["provenance"] if isinstance(meta["provenance"], str) else json.dumps(given)
    return json.dumps(
        {
            "backend": meta["backend"],
            "synthetic": bool(meta.get("synthetic", False)),
            "source": f"imported from {folder}",
            **given,
        },
        sort_keys=True,
    )


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{field} = {repr(value)[:40]}: use true or false")
    return value


def _json_object(value: Any, field: str) -> str:
    """``value`` (a JSON object or its text) as JSON text; text is kept as written."""
    if value in (None, ""):
        return "{}"
    parsed = _parse_json(value, field, "an object")
    if not isinstance(parsed, dict):
        raise ConfigError(f"{field} must be a JSON object")
    return value if isinstance(value, str) else json.dumps(parsed, sort_keys=True)


def _parse_json(value: Any, field: str, what: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise ConfigError(f"{field} is not valid JSON; give {what}") from None


def _mix_weights(value: Any) -> str:
    if value in (None, "", []):
        return "[]"
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigError(
                "'mix_weights' is not valid JSON; give a list of 32 numbers"
            ) from None
    try:
        weights = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError("'mix_weights' must be a list of 32 numbers") from None
    if weights.shape != (N_PROFILES,) or not np.isfinite(weights).all() or (weights < 0).any():
        raise ConfigError("'mix_weights' must be 32 finite, non-negative numbers (or left out)")
    return value if isinstance(value, str) else json.dumps(weights.round(12).tolist())


def _rng_state(value: Any) -> str | None:
    """The generator state, parsed and loaded into a generator now rather than at resume."""
    if value in (None, ""):
        return None
    state = generator_state(value, "'rng_state'")
    return value if isinstance(value, str) else json.dumps(state)


def _timestamp(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value)).replace(tzinfo=None)
    except ValueError:
        raise ConfigError(
            f"{field} = {repr(value)[:40]}: use an ISO date and time such as 2026-11-30T08:00:00"
        ) from None
