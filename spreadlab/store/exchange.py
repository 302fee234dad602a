"""Export a stored run to a folder (Parquet or CSV) and import such a folder back, validated.

A run folder holds ``run.json`` (metadata and provenance) and one table per file:
``agents`` (agent, profile), ``edges`` (u, v), ``decisions`` (round, agent, offline, m, post,
valid, text, reason) and optionally ``curves`` (recomputed from the decisions and checked when
present). Files end in ``.parquet`` or ``.csv``. The schema is documented in docs/run_format.md,
so runs made with other tools (a user's own LLM runs) can be fitted and viewed here. Import checks
everything before writing anything, and writes the run in one transaction.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from spreadlab import __version__, memory
from spreadlab.engine.simulate import MAX_REPLICATES, MAX_ROUNDS
from spreadlab.errors import ConfigError, DataFormatError, SpreadLabError, StoreError
from spreadlab.store.runs import RUN_COLUMNS, RUN_STATUSES, TABLES, RunStore
from spreadlab.validate import (
    INT32_MAX,
    INT64_MAX,
    check_endpoint,
    check_id,
    check_int,
    check_printable,
    clean_text,
    generator_state,
    inside,
    slug,
)
from spreadlab.world.events import MAX_REPORT_CHARS, MAX_TITLE_CHARS, Event
from spreadlab.world.networks import NETWORK_KINDS
from spreadlab.world.personas import N_PROFILES

INTEGER, BOOLEAN, TEXT = "integer", "boolean", "text"
TABLE_SCHEMAS: dict[str, dict[str, str]] = {
    "agents": {"agent": INTEGER, "profile": INTEGER},
    "edges": {"u": INTEGER, "v": INTEGER},
    "decisions": {
        "round": INTEGER,
        "agent": INTEGER,
        "offline": BOOLEAN,
        "m": INTEGER,
        "post": BOOLEAN,
        "valid": BOOLEAN,
        "text": TEXT,
        "reason": TEXT,
    },
    "curves": {
        "round": INTEGER,
        "consulted": INTEGER,
        "offline": INTEGER,
        "new_posters": INTEGER,
        "invalid": INTEGER,
        "informed": INTEGER,
    },
}
OPTIONAL_COLUMNS = {"decisions": {"valid", "text", "reason"}}
MAX_TEXT_CHARS = MAX_REPORT_CHARS  # per post, reason or report


def export_run(store: RunStore, run_id: str, out_dir: Path, fmt: str = "parquet") -> Path:
    """Write run ``run_id`` to ``out_dir/<run_id>/``; files are written whole or not at all."""
    if fmt not in ("parquet", "csv"):
        raise DataFormatError(f"unknown export format {fmt!r}; use parquet or csv")
    meta = store.run_meta(run_id)
    try:
        target = inside(Path(out_dir), check_id(run_id, "run id"))
    except ConfigError as exc:
        raise DataFormatError(
            f"cannot export: {exc}; import the run again under a safe id"
        ) from None
    target.mkdir(parents=True, exist_ok=True)
    tables = {
        name: store.con.sql(
            f"SELECT {_column_list(name)} FROM {name} WHERE run_id = $run_id "
            f"ORDER BY {_ORDER[name]}",
            params={"run_id": run_id},
        ).to_arrow_table()
        for name in TABLE_SCHEMAS
    }
    for name, table in tables.items():
        _write_atomic(target / f"{name}.{fmt}", table, fmt)
    _write_text_atomic(target / "run.json", json.dumps(_jsonable(meta), indent=2, sort_keys=True))
    return target


def _column_list(table: str) -> str:
    return ", ".join(f'"{c}"' for c in TABLE_SCHEMAS[table])


_ORDER = {"agents": "agent", "edges": "u, v", "decisions": "round, agent", "curves": "round"}


def _jsonable(meta: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
            out[key] = None
        elif isinstance(value, pd.Timestamp | datetime):
            out[key] = value.isoformat()
        elif isinstance(value, np.generic):
            out[key] = value.item()
        else:
            out[key] = value
    return out


def _write_atomic(path: Path, table: pa.Table, fmt: str) -> None:
    tmp = path.with_name(path.name + ".partial")
    if fmt == "parquet":
        pq.write_table(table, tmp)
    else:
        pacsv.write_csv(table, tmp)
    tmp.replace(path)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _read_table(folder: Path, name: str, required: bool = True) -> pd.DataFrame | None:
    candidates = [folder / f"{name}.parquet", folder / f"{name}.csv"]
    found = [p for p in candidates if p.exists()]
    if not found:
        if required:
            raise DataFormatError(f"{folder}: missing {name}.parquet or {name}.csv")
        return None
    path = found[0]
    try:
        memory.require(_table_bytes(path), f"{path}", "import a smaller run")
        if path.suffix == ".parquet":
            frame = pq.read_table(path).to_pandas()
        else:
            frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=str)
    except SpreadLabError:
        raise
    except Exception as exc:
        raise DataFormatError(f"{path}: cannot be read as {path.suffix[1:]} ({exc})") from exc
    schema = TABLE_SCHEMAS[name]
    optional = OPTIONAL_COLUMNS.get(name, set())
    missing = [c for c in schema if c not in frame.columns and c not in optional]
    if missing:
        raise DataFormatError(f"{path}: missing column(s) {', '.join(missing)}")
    for column, kind in schema.items():
        if column not in frame.columns:
            frame[column] = True if column == "valid" else None
            continue
        frame[column] = _coerce(frame[column], kind, path, column)
    return frame[list(schema)]


def _table_bytes(path: Path) -> int:
    """Estimated bytes to read and check a table file: ~40 per cell, ~20 per byte of CSV."""
    if path.suffix == ".parquet":
        meta = pq.ParquetFile(path).metadata
        return 40 * meta.num_rows * meta.num_columns
    return 20 * path.stat().st_size


def _coerce(series: pd.Series, kind: str, path: Path, column: str) -> pd.Series:
    if kind == TEXT:
        cleaned = [clean_text(str(t), MAX_TEXT_CHARS) if t is not None else None for t in series]
        return pd.Series(cleaned, index=series.index, dtype=object).where(series.notna(), None)
    if kind == BOOLEAN:
        if series.dtype == bool:
            return series
        mapping = {"true": True, "false": False, "1": True, "0": False}
        lowered = series.astype(str).str.strip().str.lower()
        bad = ~lowered.isin(list(mapping))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataFormatError(
                f"{path}, row {row + 1}, column '{column}': expected true/false, got "
                f"{series.iloc[row]!r}"
            )
        return lowered.map(mapping).astype(bool)
    numbers = pd.to_numeric(series, errors="coerce")
    bad = numbers.isna() | (numbers != np.floor(numbers)) | (numbers.abs() > INT32_MAX)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataFormatError(
            f"{path}, row {row + 1}, column '{column}': expected an integer of at most "
            f"{INT32_MAX:,} in size, got {series.iloc[row]!r}"
        )
    return numbers.astype(np.int64)


def _fail_at(path: str, mask: np.ndarray, frame: pd.DataFrame, message: str) -> None:
    if mask.any():
        row = int(np.flatnonzero(mask)[0])
        values = frame.iloc[row].to_dict()
        raise DataFormatError(f"{path}, row {row + 1}: {message} ({values})")


def read_run_folder(folder: Path) -> dict[str, Any]:
    """Read and validate a run folder; return the run row and the tables, or raise
    :class:`DataFormatError` naming the file, row or column at fault."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFormatError(f"{folder} is not a folder; point to a run folder from 'export'")
    meta_path = folder / "run.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFormatError(f"{folder}: missing run.json (run metadata)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{meta_path}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise DataFormatError(f"{meta_path}: expected a JSON object")
    agents = _read_table(folder, "agents")
    edges = _read_table(folder, "edges")
    decisions = _read_table(folder, "decisions")
    curves = _read_table(folder, "curves", required=False)
    assert agents is not None and edges is not None and decisions is not None

    n = len(agents)

    def where(name: str) -> str:
        return str(next(folder.glob(f"{name}.*")))

    _fail_at(
        where("agents"),
        (agents["agent"] != np.arange(n)).to_numpy(),
        agents,
        "agents must be numbered 0..N-1 in order",
    )
    profile = agents["profile"].to_numpy()
    _fail_at(
        where("agents"),
        (profile < 0) | (profile >= N_PROFILES),
        agents,
        "profile code outside 0–31",
    )
    u, v = edges["u"].to_numpy(), edges["v"].to_numpy()
    _fail_at(
        where("edges"),
        (u < 0) | (u >= n) | (v < 0) | (v >= n),
        edges,
        f"edge endpoint is not an agent (agents are 0..{n - 1})",
    )
    _fail_at(where("edges"), u == v, edges, "self-loop")
    keys = np.minimum(u, v) * n + np.maximum(u, v)
    _fail_at(where("edges"), pd.Series(keys).duplicated().to_numpy(), edges, "repeated edge")

    rounds, agent = decisions["round"].to_numpy(), decisions["agent"].to_numpy()
    dpath = where("decisions")
    _fail_at(
        dpath,
        (agent < 0) | (agent >= n),
        decisions,
        f"decision for agent not in the network (agents are 0..{n - 1})",
    )
    _fail_at(dpath, rounds < 0, decisions, "negative round")
    _fail_at(
        dpath,
        np.r_[False, rounds[1:] < rounds[:-1]],
        decisions,
        "rounds out of order (rows must be sorted by round)",
    )
    _fail_at(
        dpath,
        decisions.duplicated(["round", "agent"]).to_numpy(),
        decisions,
        "duplicate (round, agent) decision",
    )
    _fail_at(dpath, decisions["m"].to_numpy() < 0, decisions, "negative m")
    posted = decisions[decisions["post"]]
    first_post = posted.groupby("agent")["round"].min()
    after = decisions["round"].to_numpy() > first_post.reindex(agent).fillna(np.inf).to_numpy()
    _fail_at(dpath, after, decisions, "agent consulted after it had already posted (SI)")

    computed = _curve_from_decisions(decisions)
    if curves is not None:
        cpath = where("curves")
        if len(curves) != len(computed) or not np.array_equal(
            curves.to_numpy(), computed.to_numpy()
        ):
            raise DataFormatError(
                f"{cpath}: does not match the curve recomputed from the decisions; "
                "remove it to let SpreadLab compute it"
            )
    row = _run_row(meta, meta_path, n, edges)
    return {
        "run": row,
        "agents": agents,
        "edges": edges,
        "decisions": decisions,
        "curves": computed,
    }


def _curve_from_decisions(decisions: pd.DataFrame) -> pd.DataFrame:
    if decisions.empty:
        return pd.DataFrame({c: pd.Series(dtype=np.int64) for c in TABLE_SCHEMAS["curves"]})
    last = int(decisions["round"].max())
    grouped = decisions.groupby("round")
    index = pd.RangeIndex(last + 1, name="round")
    curve = pd.DataFrame(
        {
            "consulted": grouped.size().reindex(index, fill_value=0),
            "offline": grouped["offline"].sum().reindex(index, fill_value=0),
            "new_posters": grouped["post"].sum().reindex(index, fill_value=0),
            "invalid": (~decisions["valid"])
            .groupby(decisions["round"])
            .sum()
            .reindex(index, fill_value=0),
        }
    ).astype(np.int64)
    curve["informed"] = curve["new_posters"].cumsum()
    return curve.reset_index()


def _run_row(meta: dict[str, Any], path: Path, n: int, edges: pd.DataFrame) -> dict[str, Any]:
    """The runs-table row: taken from a SpreadLab export or built from a foreign run.json, every
    field checked against what the engine can hold."""
    try:
        return _checked_row(meta, path, n, edges)
    except ConfigError as exc:
        raise DataFormatError(f"{path}: {exc}") from None


def _checked_row(meta: dict[str, Any], path: Path, n: int, edges: pd.DataFrame) -> dict[str, Any]:
    event_data = meta.get("event") or {
        "id": meta.get("event_id"),
        "type": meta.get("event_type"),
        "title": meta.get("event_title"),
        "report": meta.get("event_report"),
    }
    if not isinstance(event_data, dict):
        raise ConfigError("'event' must be an object with id, type, title and report")
    event = Event(
        id=str(event_data.get("id") or ""),
        type=str(event_data.get("type") or ""),
        title=clean_text(str(event_data.get("title") or ""), MAX_TITLE_CHARS),
        report=clean_text(str(event_data.get("report") or ""), MAX_TEXT_CHARS + 1),
    )
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
    folder = slug(path.parent.name)
    native = "package_version" in meta and "provenance" in meta and "run_id" in meta
    provenance = _provenance(meta, native, folder)
    row = {
        "run_id": check_id(meta.get("run_id") or f"import-{folder}", "'run_id'"),
        "scenario_id": check_id(meta.get("scenario_id") or f"import-{folder}", "'scenario_id'"),
        "replicate": check_int(meta.get("replicate", 0), "'replicate'", 0, MAX_REPLICATES),
        "seed": check_int(meta.get("seed", 0), "'seed'", 0, INT64_MAX),
        "backend": check_id(meta["backend"], "'backend'"),
        "synthetic": _flag(meta.get("synthetic", False), "'synthetic'"),
        "provenance": provenance,
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
        "q": float(q),
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


def import_run(store: RunStore, folder: Path, run_id: str | None = None) -> str:
    """Validate a run folder, then write it into ``store`` in one transaction; return its id."""
    data = read_run_folder(folder)
    row = data["run"]
    if run_id:
        row["run_id"] = check_id(run_id, "run id")
    if row["status"] == "running":
        row["status"] = "interrupted"  # nobody here is writing it
    if not data["decisions"].empty and row["rounds_done"] == 0:
        row["rounds_done"] = int(data["decisions"]["round"].max()) + 1
    rid = row["run_id"]
    if store.has_run(rid):
        raise StoreError(
            f"run {rid} already exists in {store.path}; delete it or import it under another id "
            "(--as NEW_ID)"
        )
    try:
        _write_run(store, rid, row, data)
    except duckdb.Error as exc:
        raise DataFormatError(
            f"{folder}: the run cannot be stored ({str(exc).splitlines()[0]})"
        ) from None
    return rid


def _write_run(store: RunStore, rid: str, row: dict[str, Any], data: dict[str, Any]) -> None:
    with store.transaction():
        store.insert_arrow("runs", pa.Table.from_pylist([row]))
        for name in ("agents", "edges", "decisions", "curves"):
            frame = data[name].copy()
            frame.insert(0, "run_id", rid)
            table = pa.Table.from_pandas(frame, preserve_index=False)
            store.insert_arrow(name, table.select(list(TABLES[name])))
