"""Every table of a SpreadLab database, its one schema version, and the migrations to it.

One DuckDB file holds the runs (``runs``, ``agents``, ``edges``, ``decisions``, ``curves``),
who writes them (``run_writers``), the fits (``fits``), the LLM reply cache and usage ledger
(``llm_calls``), the response format each endpoint accepted (``llm_formats``), the stored
calibrations (``calibrations``) with their persona checks (``persona_checks``), the sweeps of
scenario grids (``sweeps``, ``sweep_members``, ``sweep_cells``), the observed datasets users
supply (``observed``), plus ``meta`` (the schema version). This module alone creates and changes
tables; :func:`create` runs whenever a database is opened.

Versions:

1. (releases up to 4095dc4) ``meta`` and the run tables were versioned; the other tables were
   created by their own modules when first used, and ``llm_calls`` gained ``rejected`` late.
2. Every table belongs to this schema and exists from the moment the database is opened; the
   sweep tables are new. Migrating from 1 creates the missing tables and adds
   ``llm_calls.rejected``; no row changes.
3. ``observed``: user-supplied time series (one row each, the binned counts as a list), never
   runs. Migrating from 2 creates the table; no row changes.
4. ``persona_checks``: a calibration's Mini-IPIP persona check, one row per trait. Migrating from 3
   creates the table; no row changes.
5. ``llm_calls.p_post``: the probability of posting read from a reply's token log-probabilities
   (NULL when none), and ``llm_formats.logprobs``: FALSE once an endpoint refused to return them
   (NULL: not refused). Migrating from 4 adds both columns; no row changes.
6. ``sweep_cells.curve_mean``, ``curve_lo``, ``curve_hi``: a cell's mean informed-fraction curve
   over its replicates and its pointwise 95% interval, so summaries-only sweeps can draw their
   curves. Migrating from 5 adds the columns (NULL for cells stored before); no row changes.
"""

from __future__ import annotations

from typing import Any

import duckdb

from spreadlab.errors import StoreError

SCHEMA_VERSION = 6

RUN_COLUMNS: dict[str, str] = {
    "run_id": "VARCHAR PRIMARY KEY",
    "scenario_id": "VARCHAR NOT NULL",
    "replicate": "INTEGER NOT NULL",
    "seed": "BIGINT NOT NULL",
    "backend": "VARCHAR NOT NULL",
    "synthetic": "BOOLEAN NOT NULL",
    "provenance": "VARCHAR NOT NULL",
    "event_id": "VARCHAR NOT NULL",
    "event_type": "VARCHAR NOT NULL",
    "event_title": "VARCHAR",
    "event_report": "VARCHAR NOT NULL",
    "mix_name": "VARCHAR NOT NULL",
    "mix_weights": "VARCHAR NOT NULL",
    "network_kind": "VARCHAR NOT NULL",
    "network_params": "VARCHAR NOT NULL",
    "n_agents": "INTEGER NOT NULL",
    "mean_degree": "DOUBLE NOT NULL",
    "rounds_max": "INTEGER NOT NULL",
    "q": "DOUBLE NOT NULL",
    "n0": "INTEGER NOT NULL",
    "status": "VARCHAR NOT NULL",
    "rounds_done": "INTEGER NOT NULL",
    "rng_state": "VARCHAR",
    "package_version": "VARCHAR NOT NULL",
    "created_at": "TIMESTAMP NOT NULL",
    "finished_at": "TIMESTAMP",
}
RUN_TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "runs": RUN_COLUMNS,
    "agents": {
        "run_id": "VARCHAR NOT NULL",
        "agent": "INTEGER NOT NULL",
        "profile": "TINYINT NOT NULL",
    },
    "edges": {"run_id": "VARCHAR NOT NULL", "u": "INTEGER NOT NULL", "v": "INTEGER NOT NULL"},
    "decisions": {
        "run_id": "VARCHAR NOT NULL",
        "round": "INTEGER NOT NULL",
        "agent": "INTEGER NOT NULL",
        "offline": "BOOLEAN NOT NULL",
        "m": "INTEGER NOT NULL",
        "post": "BOOLEAN NOT NULL",
        "valid": "BOOLEAN NOT NULL",
        "text": "VARCHAR",
        "reason": "VARCHAR",
    },
    "curves": {
        "run_id": "VARCHAR NOT NULL",
        "round": "INTEGER NOT NULL",
        "consulted": "INTEGER NOT NULL",
        "offline": "INTEGER NOT NULL",
        "new_posters": "INTEGER NOT NULL",
        "invalid": "INTEGER NOT NULL",
        "informed": "INTEGER NOT NULL",
    },
}
FIT_COLUMNS: dict[str, str] = {
    "group_id": "VARCHAR NOT NULL",
    "group_kind": "VARCHAR NOT NULL",
    "runs": "VARCHAR NOT NULL",
    "n_runs": "INTEGER NOT NULL",
    "scenario_id": "VARCHAR",
    "event_id": "VARCHAR",
    "event_type": "VARCHAR",
    "mix_name": "VARCHAR",
    "q": "DOUBLE",
    "n_agents": "INTEGER NOT NULL",
    "mean_degree": "DOUBLE NOT NULL",
    "rounds": "INTEGER NOT NULL",
    "backend": "VARCHAR NOT NULL",
    "synthetic": "BOOLEAN NOT NULL",
    "model": "VARCHAR NOT NULL",
    "method": "VARCHAR NOT NULL",
    "ci_method": "VARCHAR NOT NULL",
    "level": "DOUBLE NOT NULL",
    "params": "VARCHAR NOT NULL",
    "loglik": "DOUBLE NOT NULL",
    "aic": "DOUBLE NOT NULL",
    "bic": "DOUBLE NOT NULL",
    "rmse": "DOUBLE NOT NULL",
    "n_obs": "INTEGER NOT NULL",
    "converged": "BOOLEAN NOT NULL",
    "message": "VARCHAR NOT NULL",
    "package_version": "VARCHAR NOT NULL",
    "fitted_at": "TIMESTAMP NOT NULL",
}
FIT_KEY = ("group_id", "model", "method")
CALL_COLUMNS: dict[str, str] = {
    "key": "VARCHAR PRIMARY KEY",
    "endpoint": "VARCHAR NOT NULL",
    "model": "VARCHAR NOT NULL",
    "run_seed": "BIGINT",
    "stream": "BIGINT",
    "round": "INTEGER",
    "agent": "INTEGER",
    "attempt": "INTEGER",
    "response_format": "VARCHAR NOT NULL",
    "temperature": "DOUBLE NOT NULL",
    "reply": "VARCHAR NOT NULL",
    "prompt_tokens": "INTEGER NOT NULL",
    "completion_tokens": "INTEGER NOT NULL",
    "latency_ms": "DOUBLE NOT NULL",
    "http_attempts": "INTEGER NOT NULL",
    "created_at": "TIMESTAMP NOT NULL",
    "rejected": "VARCHAR",
    "p_post": "DOUBLE",
}
CALIBRATION_COLUMNS: dict[str, str] = {
    "calibration_id": "VARCHAR PRIMARY KEY",
    "table_hash": "VARCHAR NOT NULL",
    "model": "VARCHAR NOT NULL",
    "endpoint_host": "VARCHAR NOT NULL",
    "prompt_version": "VARCHAR NOT NULL",
    "decisions": "INTEGER NOT NULL",
    "invalid": "INTEGER NOT NULL",
    "uses": "VARCHAR NOT NULL",
    "meta": "VARCHAR NOT NULL",
    "table_csv": "VARCHAR NOT NULL",
    "created_at": "TIMESTAMP NOT NULL",
}
PERSONA_CHECK_COLUMNS: dict[str, str] = {
    "calibration_id": "VARCHAR NOT NULL",
    "trait": "VARCHAR NOT NULL",
    "mean_high": "DOUBLE NOT NULL",
    "mean_low": "DOUBLE NOT NULL",
    "cohens_d": "DOUBLE NOT NULL",
    "p_value": "DOUBLE NOT NULL",
    "taken_on": "BOOLEAN NOT NULL",
    "answers": "INTEGER NOT NULL",
    "repeats": "INTEGER NOT NULL",
    "checked_at": "TIMESTAMP NOT NULL",
}
SWEEP_COLUMNS: dict[str, str] = {
    "sweep_id": "VARCHAR PRIMARY KEY",
    "name": "VARCHAR NOT NULL",
    "source": "VARCHAR NOT NULL",
    "seed": "BIGINT NOT NULL",
    "cells": "INTEGER NOT NULL",
    "grid": "VARCHAR NOT NULL",
    "package_version": "VARCHAR NOT NULL",
    "created_at": "TIMESTAMP NOT NULL",
}
MEMBER_COLUMNS: dict[str, str] = {
    "sweep_id": "VARCHAR NOT NULL",
    "cell_id": "VARCHAR NOT NULL",
    "position": "INTEGER NOT NULL",
}
PARAM_COLUMNS: dict[str, str] = {
    "event": "VARCHAR NOT NULL",
    "event_type": "VARCHAR NOT NULL",
    "mix": "VARCHAR NOT NULL",
    "q": "DOUBLE NOT NULL",
    "n": "INTEGER NOT NULL",
    "k": "INTEGER NOT NULL",
    "network": "VARCHAR NOT NULL",
    "params": "VARCHAR NOT NULL",
    "replicates": "INTEGER NOT NULL",
    "seed_index": "INTEGER NOT NULL",
    "rounds": "INTEGER NOT NULL",
    "n0": "INTEGER NOT NULL",
    "rewire": "DOUBLE NOT NULL",
}
SUMMARY_COLUMNS: dict[str, str] = {
    "n_runs": "INTEGER",
    **{
        f"{name}{suffix}": "DOUBLE"
        for name in ("reach", "rounds10", "rounds50", "rounds90")
        for suffix in ("", "_lo", "_hi")
    },
    **{f"rounds{p}_share": "DOUBLE" for p in (10, 50, 90)},
    **{
        f"{rate}{suffix}": "DOUBLE"
        for rate in ("si1_beta", "si2_alpha", "si2_beta")
        for suffix in ("", "_lo", "_hi")
    },
    "delta_bic": "DOUBLE",
    "ci_method": "VARCHAR",
    "verdict": "VARCHAR",
    "fit_error": "VARCHAR",
}
"""Per-cell summary: means over replicates with 95% t intervals, rates with the fit's intervals."""
CURVE_COLUMNS: dict[str, str] = {
    "curve_mean": "DOUBLE[]",
    "curve_lo": "DOUBLE[]",
    "curve_hi": "DOUBLE[]",
}
"""Per-cell mean informed-fraction curve (rounds 0..R) and its pointwise 95% interval; the last
columns of ``sweep_cells`` (added by version 6)."""
CELL_COLUMNS: dict[str, str] = {
    "cell_id": "VARCHAR PRIMARY KEY",
    "status": "VARCHAR NOT NULL",
    "error": "VARCHAR",
    "seed": "BIGINT NOT NULL",
    **PARAM_COLUMNS,
    **SUMMARY_COLUMNS,
    "scenario_id": "VARCHAR NOT NULL",
    "runs_stored": "BOOLEAN NOT NULL",
    "table_source": "VARCHAR NOT NULL",
    "table_provenance": "VARCHAR NOT NULL",
    "provenance": "VARCHAR NOT NULL",
    "seconds": "DOUBLE NOT NULL",
    "package_version": "VARCHAR NOT NULL",
    "created_at": "TIMESTAMP NOT NULL",
    **CURVE_COLUMNS,
}
OBSERVED_COLUMNS: dict[str, str] = {
    "dataset_id": "VARCHAR PRIMARY KEY",
    "source": "VARCHAR NOT NULL",
    "provenance": "VARCHAR NOT NULL",
    "layout": "VARCHAR NOT NULL",
    "interval_label": "VARCHAR NOT NULL",
    "start_time": "VARCHAR NOT NULL",
    "n": "BIGINT NOT NULL",
    "n_lo": "BIGINT",
    "n_hi": "BIGINT",
    "n_rows": "BIGINT NOT NULL",
    "filled": "INTEGER NOT NULL",
    "example": "BOOLEAN NOT NULL",
    "counts": "BIGINT[] NOT NULL",
    "package_version": "VARCHAR NOT NULL",
    "created_at": "TIMESTAMP NOT NULL",
}
"""An observed dataset: its binned informed counts, population N (with an optional plausible
range ``n_lo``..``n_hi``) and the provenance shown wherever it appears."""

COLUMNS: dict[str, dict[str, str]] = {
    "meta": {"key": "VARCHAR PRIMARY KEY", "value": "VARCHAR"},
    **RUN_TABLE_COLUMNS,
    "run_writers": {
        "run_id": "VARCHAR PRIMARY KEY",
        "pid": "INTEGER NOT NULL",
        "host": "VARCHAR NOT NULL",
        "started": "VARCHAR",
    },
    "fits": FIT_COLUMNS,
    "llm_calls": CALL_COLUMNS,
    "llm_formats": {
        "endpoint": "VARCHAR NOT NULL",
        "model": "VARCHAR NOT NULL",
        "response_format": "VARCHAR NOT NULL",
        "updated_at": "TIMESTAMP NOT NULL",
        "logprobs": "BOOLEAN",
    },
    "calibrations": CALIBRATION_COLUMNS,
    "persona_checks": PERSONA_CHECK_COLUMNS,
    "sweeps": SWEEP_COLUMNS,
    "sweep_members": MEMBER_COLUMNS,
    "sweep_cells": CELL_COLUMNS,
    "observed": OBSERVED_COLUMNS,
}
"""Every table's columns, in their on-disk order (positional inserts rely on it)."""

# decisions has no key: (run_id, round, agent) is unique by construction (an agent is consulted at
# most once a round) and checked on import, and an index over a large run's decisions would cost
# about as much as writing them.
KEYS: dict[str, str] = {
    "agents": "PRIMARY KEY (run_id, agent)",
    "curves": "PRIMARY KEY (run_id, round)",
    "fits": f"PRIMARY KEY ({', '.join(FIT_KEY)})",
    "llm_formats": "PRIMARY KEY (endpoint, model)",
    "persona_checks": "PRIMARY KEY (calibration_id, trait)",
    "sweep_members": "PRIMARY KEY (sweep_id, cell_id)",
}

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE llm_calls ADD COLUMN IF NOT EXISTS rejected VARCHAR",),
    4: (
        "ALTER TABLE llm_calls ADD COLUMN IF NOT EXISTS p_post DOUBLE",
        "ALTER TABLE llm_formats ADD COLUMN IF NOT EXISTS logprobs BOOLEAN",
    ),
    5: tuple(
        f"ALTER TABLE sweep_cells ADD COLUMN IF NOT EXISTS {name} {sql}"
        for name, sql in CURVE_COLUMNS.items()
    ),
}
"""Statements that take a database from version ``v`` to ``v + 1``, run after every missing
table has been created with its current columns."""


def table_sql(table: str) -> str:
    """The ``CREATE TABLE IF NOT EXISTS`` statement of ``table``."""
    parts = [f'"{name}" {sql}' for name, sql in COLUMNS[table].items()]
    if table in KEYS:
        parts.append(KEYS[table])
    return f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(parts)})"


def replace_sql(table: str) -> str:
    """``INSERT OR REPLACE`` of one whole row of ``table``, its values as ``?`` in column order."""
    names = ", ".join(f'"{c}"' for c in COLUMNS[table])
    return (
        f"INSERT OR REPLACE INTO {table} ({names}) VALUES ({', '.join('?' * len(COLUMNS[table]))})"
    )


def stored_version(con: Any) -> int | None:
    """The schema version written in the database; None for a database without one."""
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except duckdb.CatalogException:
        return None
    return None if row is None else int(row[0])


def create(con: Any) -> int:
    """Bring the database on ``con`` (a connection, a cursor or a store's shared connection) to
    :data:`SCHEMA_VERSION`: create every missing table, run the migrations from its stored
    version and write the version, all in one transaction; a current database costs one query.
    Returns the version the database had (:data:`SCHEMA_VERSION` for a new one, 0 when it had
    none).

    Raises :class:`StoreError` for a database written by a newer SpreadLab."""
    found = stored_version(con)
    if found == SCHEMA_VERSION:
        return found
    if found is not None and found > SCHEMA_VERSION:
        raise StoreError(
            f"this database has schema version {found}, made by a newer SpreadLab; this "
            f"one reads up to version {SCHEMA_VERSION}: upgrade SpreadLab to open it"
        )
    start = SCHEMA_VERSION if found is None and not _has_tables(con) else (found or 0)
    statements = [
        *(table_sql(table) for table in COLUMNS),
        *(s for version in range(start, SCHEMA_VERSION) for s in MIGRATIONS.get(version, ())),
        f"INSERT OR REPLACE INTO meta VALUES ('schema_version', '{SCHEMA_VERSION:d}')",
    ]
    con.execute("BEGIN TRANSACTION")
    try:  # one call for the whole script: a new database costs 5 ms instead of 15 (measured)
        con.execute(";\n".join(statements))
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    return start


def _has_tables(con: Any) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main'"
    ).fetchone()
    return bool(row and row[0])
