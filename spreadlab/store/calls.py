"""The LLM tables: ``llm_calls`` (the reply cache and per-call usage ledger) and ``llm_formats``
(the response format each endpoint and model accepted, and whether it refused token
log-probabilities).

The LLM layers (:mod:`spreadlab.llm.cache`, :mod:`spreadlab.llm.negotiate`) keep their logic and
reach these tables only through the functions here; the columns are in
:mod:`spreadlab.store.schema`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb

from spreadlab.store import schema
from spreadlab.store.schema import CALL_COLUMNS

CALLS = "llm_calls"
FORMATS = "llm_formats"
REPLY_COLUMNS = (
    "reply",
    "prompt_tokens",
    "completion_tokens",
    "response_format",
    "rejected",
    "p_post",
    "created_at",
)
"""What a cached reply is read back as, in this order."""

_ARROW_TYPES = {
    "VARCHAR": "string",
    "BIGINT": "int64",
    "INTEGER": "int32",
    "DOUBLE": "float64",
    "TIMESTAMP": "timestamp[us]",
}
_REPLY = ", ".join(REPLY_COLUMNS)


def cursor(con: Any) -> Any:
    """A cursor of its own on ``con`` (a connection or a store's shared connection), with the
    schema in place, for a layer that reads and writes these tables from its own thread."""
    own = con.cursor()
    schema.create(own)
    return own


def cached_reply(con: Any, key: str) -> tuple | None:
    """The stored reply of ``key`` as :data:`REPLY_COLUMNS`, or None."""
    return con.execute(f"SELECT {_REPLY} FROM {CALLS} WHERE key = ?", [key]).fetchone()


def round_replies(con: Any, run_seed: int, stream: int, round_: int) -> dict[str, tuple]:
    """Every stored reply of one round of one replicate's stream: key -> :data:`REPLY_COLUMNS`."""
    rows = con.execute(
        f"SELECT key, {_REPLY} FROM {CALLS} WHERE run_seed = ? AND stream = ? AND round = ?",
        [run_seed, stream, round_],
    ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def insert_calls(con: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert call rows (dicts keyed by the ``llm_calls`` columns) in one statement; a key already
    stored keeps its first answer."""
    import pyarrow as pa  # here, not at the top: a stochastic run reads this module but never this

    arrow = pa.schema([(n, _ARROW_TYPES[sql.split()[0]]) for n, sql in CALL_COLUMNS.items()])
    batch = pa.Table.from_pylist(list(rows), schema=arrow)
    names = ", ".join(f'"{name}"' for name in CALL_COLUMNS)
    con.register("_llm_batch", batch)
    try:
        con.execute(f"INSERT OR IGNORE INTO {CALLS} ({names}) SELECT {names} FROM _llm_batch")
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister("_llm_batch")


def known_formats(con: Any) -> dict[tuple[str, str], str]:
    """(endpoint, model) -> the response format it accepted, for every pair stored."""
    rows = con.execute(f"SELECT endpoint, model, response_format FROM {FORMATS}").fetchall()
    return {(e, m): f for e, m, f in rows}


def logprobs_refused(con: Any) -> set[tuple[str, str]]:
    """Every (endpoint, model) that refused to return token log-probabilities."""
    rows = con.execute(f"SELECT endpoint, model FROM {FORMATS} WHERE NOT logprobs").fetchall()
    return {(e, m) for e, m in rows}


def remember_format(con: Any, endpoint: str, model: str, fmt: str) -> None:
    """Store (or replace) the format ``endpoint`` accepted for ``model``."""
    con.execute(
        f"INSERT INTO {FORMATS} (endpoint, model, response_format, updated_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (endpoint, model) DO UPDATE SET "
        "response_format = excluded.response_format, updated_at = excluded.updated_at",
        [endpoint, model, fmt, datetime.now(UTC).replace(tzinfo=None)],
    )


def refuse_logprobs(con: Any, endpoint: str, model: str, fmt: str) -> None:
    """Store that ``endpoint`` refused token log-probabilities for ``model`` (``fmt``: the format
    asked for, stored when the pair has no row yet)."""
    con.execute(
        f"INSERT INTO {FORMATS} (endpoint, model, response_format, updated_at, logprobs) "
        "VALUES (?, ?, ?, ?, FALSE) ON CONFLICT (endpoint, model) DO UPDATE SET "
        "logprobs = FALSE, updated_at = excluded.updated_at",
        [endpoint, model, fmt, datetime.now(UTC).replace(tzinfo=None)],
    )
