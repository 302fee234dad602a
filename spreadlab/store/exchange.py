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
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from spreadlab import memory
from spreadlab.errors import ConfigError, DataFormatError, SpreadLabError, StoreError
from spreadlab.store.run_json import MAX_TEXT_CHARS, imported_run_row
from spreadlab.store.runs import RunStore
from spreadlab.store.schema import RUN_TABLE_COLUMNS
from spreadlab.validate import (
    INT32_MAX,
    check_id,
    clean_text,
    inside,
)
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
    meta, meta_path = _read_meta(folder)
    agents = _read_table(folder, "agents")
    edges = _read_table(folder, "edges")
    decisions = _read_table(folder, "decisions")
    curves = _read_table(folder, "curves", required=False)
    assert agents is not None and edges is not None and decisions is not None
    n = len(agents)
    _check_network(folder, agents, edges)
    _check_decisions(_file_of(folder, "decisions"), decisions, n)
    computed = _curve_from_decisions(decisions)
    if curves is not None and (
        len(curves) != len(computed) or not np.array_equal(curves.to_numpy(), computed.to_numpy())
    ):
        raise DataFormatError(
            f"{_file_of(folder, 'curves')}: does not match the curve recomputed from the "
            "decisions; remove it to let SpreadLab compute it"
        )
    return {
        "run": imported_run_row(meta, meta_path, n, edges),
        "agents": agents,
        "edges": edges,
        "decisions": decisions,
        "curves": computed,
    }


def _file_of(folder: Path, name: str) -> str:
    return str(next(folder.glob(f"{name}.*")))


def _read_meta(folder: Path) -> tuple[dict[str, Any], Path]:
    """``run.json`` as a dict, and its path."""
    meta_path = folder / "run.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFormatError(f"{folder}: missing run.json (run metadata)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{meta_path}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise DataFormatError(f"{meta_path}: expected a JSON object")
    return meta, meta_path


def _check_network(folder: Path, agents: pd.DataFrame, edges: pd.DataFrame) -> None:
    """Agents numbered 0..N-1 with valid profiles; edges between agents, simple, not repeated."""
    n = len(agents)
    apath, epath = _file_of(folder, "agents"), _file_of(folder, "edges")
    order = (agents["agent"] != np.arange(n)).to_numpy()
    _fail_at(apath, order, agents, "agents must be numbered 0..N-1 in order")
    profile = agents["profile"].to_numpy()
    _fail_at(apath, (profile < 0) | (profile >= N_PROFILES), agents, "profile code outside 0–31")
    u, v = edges["u"].to_numpy(), edges["v"].to_numpy()
    _fail_at(
        epath,
        (u < 0) | (u >= n) | (v < 0) | (v >= n),
        edges,
        f"edge endpoint is not an agent (agents are 0..{n - 1})",
    )
    _fail_at(epath, u == v, edges, "self-loop")
    keys = np.minimum(u, v) * n + np.maximum(u, v)
    _fail_at(epath, pd.Series(keys).duplicated().to_numpy(), edges, "repeated edge")


def _check_decisions(dpath: str, decisions: pd.DataFrame, n: int) -> None:
    """Decisions of agents in the network, sorted by round, one per (round, agent), none after
    the agent posted."""
    rounds, agent = decisions["round"].to_numpy(), decisions["agent"].to_numpy()
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
            f"run {rid} already exists in {store.path}; delete it or import it under another id",
            setting="new_id",
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
            store.insert_arrow(name, table.select(list(RUN_TABLE_COLUMNS[name])))
