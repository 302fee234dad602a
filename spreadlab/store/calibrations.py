"""Stored calibrations (table ``calibrations``) and the stored posts a calibration can probe with.

A calibration is kept with the content hash of its parameter table, so a table read back from a
CSV is recognised by its numbers (see :mod:`spreadlab.engine.surrogate`), whatever its file says.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from spreadlab.engine.stochastic import ParameterTable
from spreadlab.engine.surrogate import surrogate_label
from spreadlab.store.schema import CALIBRATION_COLUMNS, PERSONA_CHECK_COLUMNS, replace_sql
from spreadlab.world.personas import TRAITS

if TYPE_CHECKING:  # for annotations only: 'spreadlab run' reads this module without pandas
    import pandas as pd

CALIBRATIONS = "calibrations"
_FOUND = ("calibration_id", "model", "endpoint_host", "prompt_version", "decisions", "created")


def stored_calibration(con: Any, digest: str) -> dict[str, Any] | None:
    """The newest stored calibration whose table has content hash ``digest``, if any."""
    row = con.execute(
        f"SELECT calibration_id, model, endpoint_host, prompt_version, decisions, created_at "
        f"FROM {CALIBRATIONS} WHERE table_hash = ? ORDER BY created_at DESC LIMIT 1",
        [digest],
    ).fetchone()
    return None if row is None else dict(zip(_FOUND, row, strict=True))


def list_calibrations(con: Any) -> pd.DataFrame:
    """Every stored calibration, newest first: id, model, endpoint host, prompt version,
    decisions, invalid, which values its table uses and when it was stored."""
    return con.execute(
        f"SELECT calibration_id, model, endpoint_host, prompt_version, decisions, invalid, uses, "
        f"created_at FROM {CALIBRATIONS} ORDER BY created_at DESC, calibration_id"
    ).df()


def calibration_record(con: Any, calibration_id: str) -> dict[str, Any] | None:
    """Stored calibration ``calibration_id`` (every column, ``meta`` parsed), or None."""
    cursor = con.execute(f"SELECT * FROM {CALIBRATIONS} WHERE calibration_id = ?", [calibration_id])
    row = cursor.fetchone()
    if row is None:
        return None
    record = dict(zip([d[0] for d in cursor.description], row, strict=True))
    record["meta"] = json.loads(record["meta"])
    return record


def label_table(con: Any, table: ParameterTable, name: str) -> ParameterTable:
    """``table`` (read from file ``name``) with the provenance its numbers earn: illustrative,
    the surrogate of a calibration stored on ``con``, or a user table."""
    return surrogate_label(table, name, lambda digest: stored_calibration(con, digest))


def save_calibration_row(
    con: Any, calibration_id: str, digest: str, meta: Mapping[str, Any], use: str, table_csv: str
) -> None:
    """Store (or replace) calibration ``calibration_id``: its table as CSV, the table's content
    hash ``digest``, which values it ``use``s and its ``meta`` (model, endpoint, counts)."""
    row = {
        "calibration_id": calibration_id,
        "table_hash": digest,
        **{
            k: meta[k] for k in ("model", "endpoint_host", "prompt_version", "decisions", "invalid")
        },
        "uses": use,
        "meta": json.dumps(meta, sort_keys=True),
        "table_csv": table_csv,
        "created_at": datetime.now(UTC).replace(tzinfo=None),
    }
    con.execute(replace_sql(CALIBRATIONS), [row[c] for c in CALIBRATION_COLUMNS])


def save_persona_check(
    con: Any, calibration_id: str, traits: Sequence[Mapping[str, Any]], answers: int, repeats: int
) -> None:
    """Store (or replace) the persona check of calibration ``calibration_id``: one row per trait
    (trait, mean_high, mean_low, cohens_d, p_value, taken_on), from ``answers`` answers."""
    now = datetime.now(UTC).replace(tzinfo=None)
    extra = {"calibration_id": calibration_id, "answers": answers, "repeats": repeats}
    for trait in traits:
        row = {**trait, **extra, "checked_at": now}
        con.execute(replace_sql("persona_checks"), [row[c] for c in PERSONA_CHECK_COLUMNS])


def persona_check_rows(con: Any, calibration_id: str) -> pd.DataFrame:
    """The stored persona check of ``calibration_id``, one row per trait (empty when none)."""
    return con.execute(
        "SELECT * FROM persona_checks WHERE calibration_id = ? ORDER BY list_position(?, trait)",
        [calibration_id, list(TRAITS)],
    ).df()


def llm_posts_of_event(con: Any, event_id: str, limit: int) -> list[str]:
    """Distinct non-empty posts LLM agents wrote in stored runs of ``event_id`` (up to ``limit``,
    in text order, so the same store gives the same posts)."""
    rows = con.execute(
        "SELECT DISTINCT d.text FROM decisions d JOIN runs r USING (run_id) "
        "WHERE r.event_id = ? AND r.backend = 'llm' AND d.post AND d.text <> '' "
        "ORDER BY d.text LIMIT ?",
        [event_id, limit],
    ).fetchall()
    return [r[0] for r in rows]
