"""Where a stochastic parameter table comes from, decided by its numbers, never by its CSV.

One vocabulary (docs and banners): ``illustrative`` (the hand-set table), ``surrogate`` (a table
whose content hash matches a calibration stored in the database: "stochastic surrogate of
<model>"), ``user table`` (anything else, edited or hand-made, whatever its file says).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from spreadlab.engine.stochastic import ParameterTable


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
