"""Sweeps in the run database: the grids, their cells' summaries, and each cell's runs.

Tables: ``sweeps`` (one row per grid, keyed by the grid's content hash), ``sweep_members``
(which cells a grid has, in expansion order) and ``sweep_cells`` (one row per cell id: the
cell's parameters, its summary or its error, and its provenance). A cell's runs are ordinary runs
(scenario id ``sw-<cell id>``), so every page and command that reads runs reads them too.

:func:`save_cells` writes cells' summaries with all of their runs in one transaction: a sweep
killed at any moment leaves each cell either complete or absent, never half-written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from spreadlab import __version__
from spreadlab.store.run_rows import run_row
from spreadlab.store.runs import RunMeta, RunStore, decision_columns
from spreadlab.store.schema import CELL_COLUMNS
from spreadlab.world.networks import Network
from spreadlab.world.records import RoundRecord

CELL_STATUSES = ("done", "failed", "not_run")
"""A cell's outcome; ``not_run``: an LLM cell the sweep's budget did not reach."""


@dataclass(frozen=True)
class StoredRunData:
    """One finished run of a cell, ready to write: its row, network, profiles and rounds."""

    meta: RunMeta
    network: Network
    profiles: np.ndarray
    records: list[RoundRecord]


def scenario_id_of(cell_id: str) -> str:
    """The scenario id of a cell's runs (run ids ``sw-<cell id>-<replicate>``)."""
    return f"sw-{cell_id}"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def record_sweep(store: RunStore, sweep: Mapping[str, Any], cell_ids: Sequence[str]) -> None:
    """Record a grid and its cells (once: re-running the same grid changes nothing)."""
    with store.transaction():
        store.con.execute(
            "INSERT OR IGNORE INTO sweeps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                sweep["sweep_id"],
                sweep["name"],
                sweep["source"],
                sweep["seed"],
                len(cell_ids),
                json.dumps(sweep["grid"], sort_keys=True),
                __version__,
                _now(),
            ],
        )
        members = pa.table(
            {
                "sweep_id": [sweep["sweep_id"]] * len(cell_ids),
                "cell_id": list(cell_ids),
                "position": list(range(len(cell_ids))),
            }
        )
        store.con.register("_members", members)
        try:
            store.con.execute("INSERT OR IGNORE INTO sweep_members SELECT * FROM _members")
        finally:
            store.con.unregister("_members")


def finished_cells(store: RunStore, cell_ids: Sequence[str]) -> dict[str, bool]:
    """Those of ``cell_ids`` already done, each with whether its runs are stored (a failed or
    not-run cell is tried again)."""
    rows = store.con.execute(
        "SELECT cell_id, runs_stored FROM sweep_cells WHERE status = 'done' "
        "AND cell_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(cell_ids)],
    ).fetchall()
    return {cell_id: bool(runs) for cell_id, runs in rows}


def save_cells(
    store: RunStore, cells: Sequence[tuple[Mapping[str, Any], Sequence[StoredRunData]]]
) -> None:
    """Write cells — each a row (parameters, summary or error) and its runs — in one
    transaction: every cell is stored whole or not at all."""
    if not cells:
        return
    now = _now()
    rows = [
        {**{c: row.get(c) for c in CELL_COLUMNS}, "package_version": __version__, "created_at": now}
        for row, _ in cells
    ]
    with store.transaction():
        # a failed earlier attempt left its row (never runs): the new attempt replaces it
        store.con.execute(
            "DELETE FROM sweep_cells WHERE cell_id IN (SELECT unnest(?::VARCHAR[]))",
            [[row["cell_id"] for row in rows]],
        )
        # one columnar insert for the batch: a row at a time costs milliseconds per wide row
        store.insert_arrow("sweep_cells", pa.Table.from_pylist(rows))
        for _, runs in cells:
            for run in runs:
                _write_run(store, run)


def _write_run(store: RunStore, run: StoredRunData) -> None:
    """A complete run's row, agents, edges, decisions and curve (inside the caller's
    transaction), in the tables and layout of ``RunStore.create_run`` and ``write_rounds``."""
    meta, network, records = run.meta, run.network, run.records
    run_id = meta.run_id
    row = run_row(meta, network)
    row.update(status="complete", rounds_done=len(records), finished_at=row["created_at"])
    store.insert_row("runs", row)
    edges = network.edges()
    sizes = [rec.agents.size for rec in records]
    tables: dict[str, dict[str, np.ndarray]] = {
        "agents": {
            "agent": np.arange(network.n, dtype=np.int32),
            "profile": run.profiles.astype(np.int8),
        },
        "edges": {"u": edges[:, 0].astype(np.int32), "v": edges[:, 1].astype(np.int32)},
        "decisions": decision_columns(records),
        "curves": {
            "round": np.array([rec.round for rec in records], dtype=np.int32),
            "consulted": np.array(sizes, dtype=np.int32),
            "offline": np.array([int(rec.offline.sum()) for rec in records], dtype=np.int32),
            "new_posters": np.array([rec.new_posters for rec in records], dtype=np.int32),
            "invalid": np.array([rec.n_invalid for rec in records], dtype=np.int32),
            "informed": np.array([rec.informed for rec in records], dtype=np.int32),
        },
    }
    for name, columns in tables.items():
        store.insert_columns(name, run_id, columns)


def list_sweeps(store: RunStore) -> pd.DataFrame:
    """Every stored sweep with how many of its cells are done, failed and not run."""
    return store.con.execute(
        """
        SELECT s.sweep_id, s.name, s.source, s.seed, s.cells, s.created_at,
               count(*) FILTER (WHERE c.status = 'done') AS done,
               count(*) FILTER (WHERE c.status = 'failed') AS failed,
               count(*) FILTER (WHERE c.status = 'not_run') AS not_run
        FROM sweeps s
        LEFT JOIN sweep_members m USING (sweep_id)
        LEFT JOIN sweep_cells c USING (cell_id)
        GROUP BY ALL
        ORDER BY s.created_at, s.sweep_id
        """
    ).df()


def sweep_cells(store: RunStore, sweep_id: str) -> pd.DataFrame:
    """The stored cells of one sweep (done or failed), in the grid's order, with the sweep id."""
    return store.con.execute(
        "SELECT m.sweep_id, c.* FROM sweep_members m JOIN sweep_cells c USING (cell_id) "
        "WHERE m.sweep_id = ? ORDER BY m.position",
        [sweep_id],
    ).df()


def revision(store: RunStore) -> str:
    """Fingerprint of the sweep tables; it changes with every sweep or cell stored."""
    row = store.con.execute(
        "SELECT (SELECT count(*) FROM sweeps), count(*), coalesce(max(created_at)::VARCHAR, '') "
        "FROM sweep_cells"
    ).fetchone()
    return "/".join(str(x) for x in row or ())
