"""The run store: one DuckDB file holding runs, agents, edges, decisions and curves.

Every run row carries its provenance (backend, policy parameters or endpoint/model, seeds, package
version, created_at). Writes are transactional: a run's set-up (run row, agents, edges) is one
transaction and each commit of rounds (their decisions and curve points, the run's progress and
RNG state) another, so an interrupted run loses at most its uncommitted rounds and can be resumed.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np

from spreadlab.errors import StoreError
from spreadlab.store import schema
from spreadlab.store.liveness import record_writer
from spreadlab.store.run_rows import run_row
from spreadlab.store.sharing import (
    Connection,
    SharedConnection,
    WaitNote,
    connect,
    row_count,
    stderr_note,
)
from spreadlab.world.networks import Network, from_edges
from spreadlab.world.records import RoundRecord

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

RUN_TABLES = ("decisions", "curves", "edges", "agents", "runs")
RUN_STATUSES = ("running", "interrupted", "complete")


@dataclass(frozen=True)
class RunMeta:
    """The descriptive part of a run row, set once when the run is created."""

    scenario_id: str
    replicate: int
    seed: int
    provenance: dict[str, Any]
    event: dict[str, str]
    mix_name: str
    mix_weights: list[float]
    network_kind: str
    network_params: dict[str, Any]
    rounds_max: int
    q: float
    n0: int

    @property
    def run_id(self) -> str:
        return f"{self.scenario_id}-{self.replicate:03d}"


@dataclass
class StoredRun:
    """A run loaded back from the store."""

    meta: dict[str, Any]
    profiles: np.ndarray
    network: Network
    decisions: pd.DataFrame
    curve: pd.DataFrame

    @property
    def run_id(self) -> str:
        return str(self.meta["run_id"])

    @property
    def provenance(self) -> dict[str, Any]:
        return json.loads(self.meta["provenance"])


def new_scenario_id() -> str:
    """A short random scenario id (run ids are ``<scenario_id>-<replicate>``)."""
    return uuid.uuid4().hex[:10]


class RunStore:
    """One DuckDB database file; open it with a path (``":memory:"`` for tests).

    Parameters
    ----------
    path : str or Path
        The database file (created with every table unless ``create`` is false).
    create : bool
        Create a missing database instead of refusing.
    on_wait : callable, optional
        Told once, in words, when a lock held by another process makes the store wait.
    release_when_idle : bool
        Let go of the file while a run waits for its endpoint (for LLM runs; see
        :mod:`spreadlab.store.sharing`).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from spreadlab.engine.simulate import Scenario
    >>> from spreadlab.engine.stochastic import StochasticPolicy
    >>> from spreadlab.jobs.runner import run_scenario
    >>> from spreadlab.world.events import catalog
    >>> from spreadlab.world.networks import NetworkSpec
    >>> from spreadlab.world.personas import parse_mix
    >>> scenario = Scenario(catalog()["battle-marren-ridge"], parse_mix("uniform"),
    ...                     NetworkSpec(n=100, k=4), rounds=10, q=0.05, seed=7)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with RunStore(Path(folder) / "runs.duckdb") as store:
    ...         (run_id,) = run_scenario(store, scenario, StochasticPolicy())
    ...         print(store.progress(run_id), list(store.list_runs()["status"]))
    (11, 42, 100) ['complete']
    """

    def __init__(
        self,
        path: str | Path = "spreadlab.duckdb",
        *,
        create: bool = True,
        on_wait: WaitNote | None = stderr_note,
        release_when_idle: bool = False,
    ) -> None:
        """Open (or create) the database; a lock held by another process is waited for."""
        self.path = str(path)
        if self.path != ":memory:":
            file = Path(self.path).expanduser().resolve()
            if not file.parent.is_dir():
                raise StoreError(
                    f"cannot open database {self.path}: folder {file.parent} does not exist; "
                    "create it or choose another database path",
                    setting="db",
                )
            if not create and not file.exists():
                raise StoreError(
                    f"no database at {self.path}; 'spreadlab run' or 'spreadlab samples load' "
                    "creates one, or choose another database path",
                    setting="db",
                )
        try:
            self.con: Connection = (
                SharedConnection(self.path, on_wait)
                if release_when_idle and self.path != ":memory:"
                else connect(self.path, on_wait=on_wait)
            )
        except (duckdb.Error, OSError) as exc:
            raise StoreError(
                f"cannot open database {self.path} ({exc}); check that the path is writable and "
                "is a SpreadLab database"
            ) from exc
        try:
            schema.create(self.con)
        except BaseException:
            self.con.close()
            raise

    def close(self) -> None:
        self.con.close()

    @property
    def releases_when_idle(self) -> bool:
        """Whether the store lets go of the file between statements (a slow LLM run)."""
        return isinstance(self.con, SharedConnection)

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """All statements inside commit together or not at all."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def insert_arrow(self, table: str, frame: pa.Table) -> None:
        """Append an Arrow table's rows to ``table`` (call inside :meth:`transaction`)."""
        self._insert(table, frame, frame.column_names)

    def _insert(self, table: str, frame: Any, names: list[str], run_id: str | None = None) -> None:
        """Append ``frame``'s rows (Arrow, or a dict of NumPy arrays, which needs neither pyarrow
        nor pandas), with ``run_id`` as a constant column when given."""
        columns = ", ".join(f'"{c}"' for c in names)
        values = columns if run_id is None else f"?, {columns}"
        target = columns if run_id is None else f"run_id, {columns}"
        self.con.register("_incoming", frame)
        # Rows may land in any physical order (every read that cares sorts), which lets DuckDB
        # write a large insert in parallel and straight to the file: a 100,000-agent run's
        # 0.7 million decisions store in 0.1 s less, whole process (measured).
        self.con.execute("SET preserve_insertion_order = false")
        try:
            self.con.execute(
                f"INSERT INTO {table} ({target}) SELECT {values} FROM _incoming",
                [] if run_id is None else [run_id],
            )
        finally:
            with contextlib.suppress(duckdb.Error):  # an aborted transaction keeps its own error
                self.con.execute("RESET preserve_insertion_order")
            with contextlib.suppress(duckdb.Error):
                self.con.unregister("_incoming")

    def insert_columns(self, table: str, run_id: str, columns: dict[str, np.ndarray]) -> None:
        """Append rows given as NumPy columns, all of run ``run_id`` (inside a transaction)."""
        self._insert(table, columns, list(columns), run_id)

    def insert_row(self, table: str, row: Mapping[str, Any]) -> None:
        """Append one row (inside a transaction); faster than Arrow for a single wide row."""
        columns = ", ".join(f'"{c}"' for c in row)
        marks = ", ".join("?" * len(row))
        self.con.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(row.values()))

    def create_run(self, meta: RunMeta, network: Network, profiles: np.ndarray) -> str:
        """Write the run row (status 'running'), its agents and its edges in one transaction."""
        run_id = meta.run_id
        row = run_row(meta, network)
        edges = network.edges()
        with self.transaction():
            if self.has_run(run_id):
                raise StoreError(f"run {run_id} already exists in {self.path}; delete it first")
            self.insert_row("runs", row)
            record_writer(self.con, run_id)
            self.insert_columns(
                "agents",
                run_id,
                {
                    "agent": np.arange(network.n, dtype=np.int32),
                    "profile": profiles.astype(np.int8),
                },
            )
            self.insert_columns(
                "edges",
                run_id,
                {"u": np.ascontiguousarray(edges[:, 0]), "v": np.ascontiguousarray(edges[:, 1])},
            )
        return run_id

    def write_rounds(
        self,
        run_id: str,
        records: Sequence[RoundRecord],
        rng_state: Mapping[str, Any] | None,
        finished: bool,
    ) -> None:
        """Write consecutive rounds' decisions and curve points and advance the run to the last
        of them (with ``rng_state``, the generator's state after it), atomically."""
        decisions = decision_columns(records)
        status = "complete" if finished else "running"
        with self.transaction():
            self.insert_columns("decisions", run_id, decisions)
            self.insert_columns("curves", run_id, curve_columns(records))
            self.con.execute(
                "UPDATE runs SET rounds_done = ?, rng_state = ?, status = ?, finished_at = "
                "CASE WHEN ? THEN now()::TIMESTAMP ELSE NULL END WHERE run_id = ?",
                [
                    records[-1].round + 1,
                    json.dumps(rng_state) if rng_state else None,
                    status,
                    finished,
                    run_id,
                ],
            )

    def set_status(self, run_id: str, status: str) -> None:
        """Mark a run e.g. 'interrupted' (budget exhausted, cancelled) so it can be resumed."""
        self._require(run_id)
        self.con.execute("UPDATE runs SET status = ? WHERE run_id = ?", [status, run_id])

    def has_run(self, run_id: str) -> bool:
        return (
            self.con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone() is not None
        )

    def _require(self, run_id: str) -> None:
        if not self.has_run(run_id):
            raise StoreError(f"no run {run_id!r} in {self.path}; 'spreadlab runs' lists the ids")

    def list_runs(self) -> pd.DataFrame:
        """One row per run with its headline fields, final informed fraction and parameter-table
        provenance (``parameters``: "" for LLM runs)."""
        return self.con.execute(
            """
            SELECT r.run_id, r.scenario_id, r.replicate, r.backend, r.synthetic, r.event_id,
                   r.event_type, r.mix_name, r.network_kind, r.n_agents, r.mean_degree, r.q, r.n0,
                   r.status, r.rounds_done, r.created_at,
                   coalesce(c.informed, 0) / r.n_agents AS final_informed_fraction,
                   coalesce(json_extract_string(r.provenance, '$.parameter_table'), '')
                       AS parameters
            FROM runs r
            LEFT JOIN (SELECT run_id, max(informed) AS informed FROM curves GROUP BY run_id) c
                USING (run_id)
            ORDER BY r.created_at, r.run_id
            """
        ).df()

    def run_meta(self, run_id: str) -> dict[str, Any]:
        self._require(run_id)
        frame = self.con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id]).df()
        return frame.iloc[0].to_dict()

    def run_metas(self, run_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The run rows of ``run_ids``, in that order, in one query."""
        frame = self.con.execute(
            "SELECT * FROM runs WHERE list_contains(?, run_id)", [list(run_ids)]
        ).df()
        rows = {row["run_id"]: row for row in frame.to_dict("records")}
        for run_id in run_ids:
            if run_id not in rows:
                self._require(run_id)
        return [rows[r] for r in run_ids]

    def informed_counts(self, run_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Each run's informed count per completed round (empty for a run with none), one query."""
        frame = self.con.execute(
            "SELECT run_id, informed FROM curves WHERE list_contains(?, run_id) "
            "ORDER BY run_id, round",
            [list(run_ids)],
        ).df()
        grouped = {
            str(k): g["informed"].to_numpy(np.int64) for k, g in frame.groupby("run_id", sort=False)
        }
        return {r: grouped.get(r, np.zeros(0, np.int64)) for r in run_ids}

    def load_run(self, run_id: str) -> StoredRun:
        """Everything stored about one run."""
        meta = self.run_meta(run_id)
        agents = self.con.execute(
            "SELECT profile FROM agents WHERE run_id = ? ORDER BY agent", [run_id]
        ).fetchnumpy()
        edges = self.con.execute(
            "SELECT u, v FROM edges WHERE run_id = ? ORDER BY u, v", [run_id]
        ).fetchnumpy()
        network = from_edges(
            int(meta["n_agents"]),
            edges["u"],
            edges["v"],
            meta["network_kind"],
            json.loads(meta["network_params"]),
        )
        return StoredRun(
            meta=meta,
            profiles=np.asarray(agents["profile"], dtype=np.int8),
            network=network,
            decisions=self.decisions(run_id),
            curve=self.curve(run_id),
        )

    def progress(self, run_id: str) -> tuple[int, int, int]:
        """(rounds stored, agents informed after the last of them, agents) of one run."""
        self._require(run_id)
        row = self.con.execute(
            "SELECT count(c.round), coalesce(max(c.informed), 0), any_value(r.n_agents) "
            "FROM runs r LEFT JOIN curves c USING (run_id) WHERE r.run_id = ?",
            [run_id],
        ).fetchone()
        rounds, informed, agents = row or (0, 0, 0)
        return int(rounds), int(informed), int(agents)

    def curve(self, run_id: str) -> pd.DataFrame:
        return self.con.execute(
            "SELECT * EXCLUDE (run_id) FROM curves WHERE run_id = ? ORDER BY round", [run_id]
        ).df()

    def decisions(self, run_id: str) -> pd.DataFrame:
        return self.con.execute(
            "SELECT * EXCLUDE (run_id) FROM decisions WHERE run_id = ? ORDER BY round, agent",
            [run_id],
        ).df()

    def degree_histogram(self, run_ids: list[str]) -> np.ndarray | None:
        """``h[d]``: agents of degree d over the runs' networks (None when a run has no edges)."""
        rows = self.con.execute(
            """
            WITH ends AS (
                SELECT run_id, u AS agent FROM edges WHERE run_id IN (SELECT unnest(?::VARCHAR[]))
                UNION ALL
                SELECT run_id, v FROM edges WHERE run_id IN (SELECT unnest(?::VARCHAR[]))
            ), degree AS (SELECT run_id, agent, count(*) AS d FROM ends GROUP BY run_id, agent)
            SELECT d, count(*) FROM degree GROUP BY d ORDER BY d
            """,
            [run_ids, run_ids],
        ).fetchall()
        with_edges = self.con.execute(
            "SELECT count(DISTINCT run_id) FROM edges "
            "WHERE run_id IN (SELECT unnest(?::VARCHAR[]))",
            [run_ids],
        ).fetchone()
        if not rows or with_edges is None or with_edges[0] < len(run_ids):
            return None
        agents = self.con.execute(
            "SELECT sum(n_agents) FROM runs WHERE run_id IN (SELECT unnest(?::VARCHAR[]))",
            [run_ids],
        ).fetchone()
        hist = np.zeros(int(rows[-1][0]) + 1, dtype=np.int64)
        for d, count in rows:
            hist[int(d)] = count
        hist[0] = int(agents[0] if agents and agents[0] else 0) - int(hist.sum())
        return hist if hist[0] >= 0 else None

    def offline_tally(self, run_ids: list[str]) -> tuple[int, int, int, int, int]:
        """Decisions in rounds >= 1: (offline with m = 0, of those posted, posts, offline,
        all decisions of any round), valid decisions only except the last count."""
        row = self.con.execute(
            """
            SELECT
                count(*) FILTER (WHERE round >= 1 AND valid AND offline AND m = 0),
                count(*) FILTER (WHERE round >= 1 AND valid AND offline AND m = 0 AND post),
                count(*) FILTER (WHERE round >= 1 AND valid AND post),
                count(*) FILTER (WHERE round >= 1 AND valid AND offline),
                count(*)
            FROM decisions WHERE run_id IN (SELECT unnest(?::VARCHAR[]))
            """,
            [run_ids],
        ).fetchone()
        return tuple(int(v or 0) for v in row) if row else (0, 0, 0, 0, 0)  # type: ignore[return-value]

    def scenario_runs(self, scenario_id: str) -> list[str]:
        rows = self.con.execute(
            "SELECT run_id FROM runs WHERE scenario_id = ? ORDER BY replicate", [scenario_id]
        ).fetchall()
        return [r[0] for r in rows]

    def delete_run(self, run_id: str) -> None:
        """Remove a run and everything recorded about it, in one transaction."""
        self._require(run_id)
        with self.transaction():
            for table in self.dependent_tables():
                self.con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])

    def dependent_tables(self) -> list[str]:
        """Tables with a run_id column, the run table last (so deletes respect the order)."""
        rows = self.con.execute(
            "SELECT DISTINCT table_name FROM information_schema.columns "
            "WHERE column_name = 'run_id' AND table_schema = 'main'"
        ).fetchall()
        names = sorted(r[0] for r in rows if r[0] != "runs")
        return [*names, "runs"]

    def table_counts(self) -> dict[str, int]:
        """Row count of every run table (tests use it to prove nothing was half-written)."""
        return {t: row_count(self.con, t) for t in RUN_TABLES}


def decision_columns(records: Sequence[RoundRecord]) -> dict[str, np.ndarray]:
    """The ``decisions`` columns (without ``run_id``) of consecutive rounds, as NumPy arrays;
    ``text`` and ``reason`` only when some round has them."""
    sizes = [rec.agents.size for rec in records]
    columns = {
        "round": np.repeat([rec.round for rec in records], sizes).astype(np.int32),
        "agent": _joined([rec.agents for rec in records], np.int32),
        "offline": _joined([rec.offline for rec in records], bool),
        "m": _joined([rec.m for rec in records], np.int32),
        "post": _joined([rec.post for rec in records], bool),
        "valid": _joined([rec.valid for rec in records], bool),
    }
    for name in ("texts", "reasons"):
        if any(getattr(rec, name) is not None for rec in records):
            columns[name[:-1]] = np.array(
                [t for rec in records for t in (getattr(rec, name) or [None] * rec.agents.size)],
                dtype=object,
            )
    return columns


def _joined(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    """One array of ``dtype`` from consecutive rounds' arrays (empty when there are none)."""
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype=dtype)


def curve_columns(records: Sequence[RoundRecord]) -> dict[str, np.ndarray]:
    """The ``curves`` columns (without ``run_id``) of consecutive rounds: one point per round."""
    return {
        "round": np.array([rec.round for rec in records], dtype=np.int32),
        "consulted": np.array([rec.agents.size for rec in records], dtype=np.int32),
        "offline": np.array([int(rec.offline.sum()) for rec in records], dtype=np.int32),
        "new_posters": np.array([rec.new_posters for rec in records], dtype=np.int32),
        "invalid": np.array([rec.n_invalid for rec in records], dtype=np.int32),
        "informed": np.array([rec.informed for rec in records], dtype=np.int32),
    }
