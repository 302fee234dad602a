"""Where a stochastic parameter table comes from, decided by its numbers, never by its CSV.

One vocabulary (docs and banners): ``illustrative`` (the hand-set table), ``surrogate`` (a table
whose content hash matches a calibration stored in the database: "stochastic surrogate of
<model>"), ``user table`` (anything else, edited or hand-made, whatever its file says).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import duckdb
import numpy as np

from spreadlab.engine.stochastic import ParameterTable

CALIBRATIONS = "calibrations"


def table_hash(table: ParameterTable) -> str:
    """Content hash of a table's numbers (a, then b, as float64): equal tables, equal hash."""
    data = np.ascontiguousarray(table.a, dtype="<f8").tobytes()
    data += np.ascontiguousarray(table.b, dtype="<f8").tobytes()
    return hashlib.sha256(data).hexdigest()


def surrogate_label(
    table: ParameterTable, name: str, lookup: Callable[[str], Mapping[str, Any] | None]
) -> ParameterTable:
    """``table`` (read from file ``name``) with the provenance its numbers earn: illustrative,
    the surrogate of the calibration ``lookup`` finds by content hash, or a user table.

    The store supplies ``lookup`` (:func:`spreadlab.store.calibrations.stored_calibration`)."""
    digest = table_hash(table)
    illustrative = ParameterTable.illustrative()
    if digest == table_hash(illustrative):
        return illustrative
    found = lookup(digest)
    if found is None:
        return ParameterTable(table.a, table.b, f"user table {name}", source="user table")
    text = (
        f"stochastic surrogate of {found['model']} (calibration {found['calibration_id']}: "
        f"{found['endpoint_host']}, {found['created']:%Y-%m-%d}, prompt version "
        f"{found['prompt_version']}, {found['decisions']} decisions)"
    )
    return ParameterTable(table.a, table.b, text, source="surrogate")


def stored_calibration(con: duckdb.DuckDBPyConnection, digest: str) -> dict[str, Any] | None:
    """The newest stored calibration whose table has content hash ``digest``, if any.

    Deprecated here (SQL belongs to the store): use
    :func:`spreadlab.store.calibrations.stored_calibration`; kept until the CLI imports
    :func:`spreadlab.store.calibrations.label_table`."""
    try:
        row = con.execute(
            f"SELECT calibration_id, model, endpoint_host, prompt_version, decisions, created_at "
            f"FROM {CALIBRATIONS} WHERE table_hash = ? ORDER BY created_at DESC LIMIT 1",
            [digest],
        ).fetchone()
    except duckdb.CatalogException:
        return None
    if row is None:
        return None
    names = ("calibration_id", "model", "endpoint_host", "prompt_version", "decisions", "created")
    return dict(zip(names, row, strict=True))


def label_table(con: duckdb.DuckDBPyConnection, table: ParameterTable, name: str) -> ParameterTable:
    """Deprecated: :func:`spreadlab.store.calibrations.label_table` (same arguments)."""
    return surrogate_label(table, name, lambda digest: stored_calibration(con, digest))
