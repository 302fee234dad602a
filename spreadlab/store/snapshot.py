"""Whole tables in and out: Parquet snapshots of a database and a content digest of its rows.

The bundled sample runs (:mod:`spreadlab.jobs.samples`) are such a snapshot: one
``<table>.parquet`` per run table plus ``fits.parquet``, rows in a canonical order, so the same
runs give the same files and the same digest on any machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from spreadlab.store.runs import RUN_TABLES, RunStore


def write_parquet(store: RunStore, table: str, path: Path) -> None:
    """Every row of ``table``, sorted by all columns, to a zstd-compressed Parquet file."""
    store.con.execute(
        f"COPY (SELECT * FROM {table} ORDER BY ALL) TO '{path}' (FORMAT parquet, COMPRESSION zstd)"
    )


def rows_digest(store: RunStore, tables: Sequence[str], leave_out: Iterable[str] = ()) -> str:
    """SHA-256 over the rows of ``tables`` in a canonical order, without the columns
    ``leave_out`` (the table and column names are hashed too): equal digests, equal rows."""
    skipped = set(leave_out)
    digest = hashlib.sha256()
    for table in tables:
        columns = [
            r[0]
            for r in store.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "ORDER BY ordinal_position",
                [table],
            ).fetchall()
            if r[0] not in skipped
        ]
        listed = ", ".join(f'"{c}"' for c in columns)
        digest.update(f"{table}:{listed}\n".encode())
        for row in store.con.execute(f"SELECT {listed} FROM {table} ORDER BY ALL").fetchall():
            digest.update(repr(row).encode())
            digest.update(b"\n")
    return digest.hexdigest()


def load_parquet_runs(store: RunStore, folder: Path) -> int:
    """Insert the runs of a snapshot in ``folder`` that ``store`` lacks, with their fits (those of
    the run alone and of its scenario), in one transaction; returns how many runs were new."""
    runs_file = str(Path(folder) / "runs.parquet")
    new_ids = [
        r[0]
        for r in store.con.execute(
            "SELECT run_id FROM read_parquet(?) WHERE run_id NOT IN (SELECT run_id FROM runs)",
            [runs_file],
        ).fetchall()
    ]
    if not new_ids:
        return 0
    with store.transaction():
        store.con.execute(
            "CREATE TEMP TABLE _new_ids AS SELECT unnest(?::VARCHAR[]) AS run_id", [new_ids]
        )
        for table in reversed(RUN_TABLES):
            path = str(Path(folder) / f"{table}.parquet")
            store.con.execute(
                f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet(?) "
                "WHERE run_id IN (SELECT run_id FROM _new_ids)",
                [path],
            )
        store.con.execute(
            "INSERT OR REPLACE INTO fits BY NAME SELECT * FROM read_parquet(?) WHERE group_id IN "
            "(SELECT run_id FROM _new_ids UNION SELECT scenario_id FROM runs "
            "WHERE run_id IN (SELECT run_id FROM _new_ids))",
            [str(Path(folder) / "fits.parquet")],
        )
        store.con.execute("DROP TABLE _new_ids")
    return len(new_ids)
