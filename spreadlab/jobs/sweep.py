"""Run a sweep: expand the grid, skip finished cells, compute the rest, store each as it lands.

Cells run in one of three places: this process (``workers=1``), a local process pool
(:class:`concurrent.futures.ProcessPoolExecutor`, spawned workers) or a Dask cluster
(``engine="dask"``: a local one started here, or the scheduler at ``address``). Wherever they run,
workers only compute (:func:`spreadlab.jobs.sweep_cell.run_cell`); this process is the one writer
and stores each result in one transaction as it arrives. At most a few cells per worker are in
flight, so memory stays bounded however large the grid.

Re-running a grid skips its finished cells, so a killed sweep resumes where it stopped and no
cell is stored twice; a failed cell is stored with its error and tried again on the next run.
LLM cells run in this process after the others, with one policy and one budget for the sweep,
opened (estimate noted, endpoint checked) before any cell runs (:mod:`spreadlab.jobs.sweep_llm`);
those the budget does not reach are stored as not run, and tried again on the next run too.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import Any

from spreadlab.engine.policy import Policy
from spreadlab.engine.stochastic import StochasticPolicy
from spreadlab.errors import ConfigError
from spreadlab.jobs.policies import Note, silent
from spreadlab.jobs.runner import replicate_meta
from spreadlab.jobs.sweep_cell import CellResult, CellTask, run_cell
from spreadlab.jobs.sweep_grid import LLM, SEED_DERIVATION, Cell, Grid
from spreadlab.jobs.sweep_llm import llm_backend, llm_results, resolve_llm
from spreadlab.store.calibrations import label_table
from spreadlab.store.runs import RunStore
from spreadlab.store.sweeps import (
    StoredRunData,
    finished_cells,
    record_sweep,
    save_cells,
    scenario_id_of,
)

ENGINES = ("local", "dask")
IN_FLIGHT_PER_WORKER = 2
FLUSH_SECONDS = 1.0
"""Longest a finished summary waits for its group commit (a killed sweep redoes at most these)."""
MAX_BATCH = 256


@dataclass(frozen=True)
class SweepProgress:
    """Reported after each stored cell: counts, rate of this session and time left
    (``not_run``: LLM cells the sweep's budget did not reach)."""

    done: int
    failed: int
    skipped: int
    total: int
    elapsed: float
    not_run: int = 0

    @property
    def rate(self) -> float:
        """Cells per second stored by this session."""
        return (self.done + self.failed) / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def remaining(self) -> int:
        return self.total - self.skipped - self.done - self.failed - self.not_run

    @property
    def seconds_left(self) -> float | None:
        return self.remaining / self.rate if self.rate > 0 else None


def run_sweep(
    store: RunStore,
    grid: Grid,
    *,
    engine: str = "local",
    workers: int = 1,
    address: str | None = None,
    summaries_only: bool = False,
    on_progress: Callable[[SweepProgress], None] | None = None,
    llm_opts: Mapping[str, Any] | None = None,
    note: Note = silent,
) -> SweepProgress:
    """Compute and store every unfinished cell of ``grid``; return the final tally.

    ``llm_opts`` (the options of ``spreadlab run --backend llm``: endpoint, key, budget,
    concurrency, prices) override the grid's ``[llm]`` section for its LLM cells; ``note``
    receives their cost estimate and the backend line before any cell is computed, and the usage
    report at the end. A bad LLM setting stops the sweep before it records or computes anything.
    """
    _check_engine(engine, workers, address)
    grid, config = resolve_llm(grid, llm_opts or {})
    cells = grid.cells()
    done_before = _done_before(store, cells, summaries_only, note)
    tables = {label: label_table(store.con, table, label) for label, table in grid.tables.items()}
    tasks = [
        CellTask(
            cell,
            grid.scenario(cell),
            tables.get(cell.params["params"]),
            fits=grid.record_fits,
            verdict=grid.record_verdict,
            keep_runs=not summaries_only,
        )
        for cell in cells
        if cell.cell_id not in done_before
    ]
    llm = [t for t in tasks if t.table is None]
    stochastic = [t for t in tasks if t.table is not None]
    with ExitStack() as stack:
        policy = None
        if config is not None and llm:
            prices = (llm_opts or {}).get("prices")
            policy = stack.enter_context(llm_backend(store, llm, config, prices, note))
        record_sweep(store, _sweep_row(grid), [c.cell_id for c in cells])
        results = itertools.chain(
            ((result, None) for result in _results(stochastic, engine, workers, address)),
            llm_results(llm, policy) if policy is not None else (),
        )
        tally = SweepProgress(0, 0, len(done_before), len(cells), 0.0)
        return _ingest(store, grid, tasks, results, tally, on_progress)


def _check_engine(engine: str, workers: int, address: str | None) -> None:
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    if workers < 1:
        raise ConfigError(f"workers = {workers}: use at least one worker")
    if address and engine != "dask":
        raise ConfigError(
            f"address names a Dask scheduler: use it with engine 'dask', not {engine!r}",
            setting="engine",
        )


def _done_before(store: RunStore, cells: list[Cell], summaries_only: bool, note: Note) -> set[str]:
    """The cells to skip: those done, and — unless summaries only — whose runs are stored too.
    A cell done with summaries only is run again to store its runs; its seed and so its
    summary are the same (an LLM cell replays its answers from the cache)."""
    done = finished_cells(store, [c.cell_id for c in cells])
    if summaries_only:
        return set(done)
    without = sum(not runs for runs in done.values())
    if without:
        note(
            f"{without:,} cell(s) done before with summaries only are run again to store their "
            "runs (same seeds, so the same summaries; LLM cells replay their answers)"
        )
    return {cell_id for cell_id, runs in done.items() if runs}


def _ingest(
    store: RunStore,
    grid: Grid,
    tasks: list[CellTask],
    results: Iterator[tuple[CellResult, Policy | None]],
    tally: SweepProgress,
    on_progress: Callable[[SweepProgress], None] | None,
) -> SweepProgress:
    """Store results (each with its LLM policy; None: the stochastic model) as they arrive, in
    group commits: a cell with runs alone, summaries together for up to :data:`FLUSH_SECONDS` (a
    commit costs milliseconds, a summary row microseconds). Progress counts committed cells."""
    by_id = {task.cell.cell_id: task for task in tasks}
    start = last = time.perf_counter()
    batch: list[tuple[CellResult, Policy | None]] = []

    def flush(tally: SweepProgress) -> SweepProgress:
        save_cells(store, [_stored(grid, by_id[r.cell_id], r, p) for r, p in batch])
        status = [r.status for r, _ in batch]
        tally = replace(
            tally,
            done=tally.done + status.count("done"),
            failed=tally.failed + status.count("failed"),
            not_run=tally.not_run + status.count("not_run"),
            elapsed=time.perf_counter() - start,
        )
        batch.clear()
        if on_progress is not None:
            on_progress(tally)
        return tally

    for result, policy in results:
        batch.append((result, policy))
        if result.runs or len(batch) >= MAX_BATCH or time.perf_counter() - last >= FLUSH_SECONDS:
            tally, last = flush(tally), time.perf_counter()
    return flush(tally) if batch else tally


def _sweep_row(grid: Grid) -> dict[str, Any]:
    return {
        "sweep_id": grid.sweep_id,
        "name": grid.name,
        "source": grid.source,
        "seed": grid.seed,
        "grid": {
            "axes": grid.axes,
            "rounds": grid.rounds,
            "n0": grid.n0,
            "rewire": grid.rewire,
            "tables": grid.table_hashes,
            **({"llm": grid.llm} if grid.has_llm else {}),
            "record": {"fits": grid.record_fits, "verdict": grid.record_verdict},
            "seed_derivation": SEED_DERIVATION,
        },
    }


def _stored(
    grid: Grid, task: CellTask, result: CellResult, llm_policy: Policy | None
) -> tuple[dict[str, Any], list[StoredRunData]]:
    """A result as :func:`save_cells` stores it: the cell's row and its runs (``llm_policy``:
    the policy of an LLM cell, whose settings its provenance records)."""
    cell, table = task.cell, task.table
    scenario_id = scenario_id_of(cell.cell_id)
    provenance: dict[str, Any] = {
        "sweep_id": grid.sweep_id,
        "grid": grid.source,
        "grid_seed": grid.seed,
        "cell_id": cell.cell_id,
        "seed_derivation": SEED_DERIVATION,
    }
    if table is None:
        source = LLM
        described = f"LLM agents: model {grid.llm['model']} at {grid.llm['endpoint']}"
        provenance.update(backend=LLM, synthetic=False, llm=grid.llm)
    else:
        source, described = table.source, table.provenance
        provenance.update(backend="stochastic", synthetic=True, parameter_table=described)
    row = {
        **cell.params,
        **(result.summary or {}),
        "cell_id": cell.cell_id,
        "status": result.status,
        "error": result.error,
        "seed": cell.seed,
        "scenario_id": scenario_id,
        "runs_stored": bool(result.runs),
        "table_source": source,
        "table_provenance": described,
        "provenance": json.dumps(provenance, sort_keys=True),
        "seconds": result.seconds,
    }
    policy = llm_policy or StochasticPolicy(table)
    runs = []
    for replicate, run in enumerate(result.runs):
        meta = replicate_meta(task.scenario, scenario_id, replicate, run.network, policy)
        meta = replace(meta, provenance={**meta.provenance, "sweep": provenance})
        runs.append(StoredRunData(meta, run.network, run.profiles, run.records))
    return row, runs


def _results(
    tasks: list[CellTask], engine: str, workers: int, address: str | None
) -> Iterator[CellResult]:
    """Each task's result as it completes, from where ``engine`` runs them."""
    if not tasks:
        return
    if engine == "local" and workers == 1:
        yield from map(run_cell, tasks)
    elif engine == "local":
        spawn = multiprocessing.get_context("spawn")  # no forked copy of the database handle
        with ProcessPoolExecutor(max_workers=workers, mp_context=spawn) as pool:
            yield from _windowed(pool.submit, wait, tasks, workers * IN_FLIGHT_PER_WORKER)
    else:
        with dask_client(workers, address) as client:
            from distributed import wait as dask_wait

            threads = sum(client.nthreads().values()) or workers
            yield from _windowed(
                lambda fn, task: client.submit(fn, task, pure=False),
                dask_wait,
                tasks,
                threads * IN_FLIGHT_PER_WORKER,
            )


def _windowed(
    submit: Callable[[Callable[[CellTask], CellResult], CellTask], Any],
    wait_any: Callable[..., Any],
    tasks: Iterable[CellTask],
    window: int,
) -> Iterator[CellResult]:
    """Keep ``window`` tasks in flight; yield results as they finish."""
    queue = iter(tasks)
    pending = set()
    for task in queue:
        pending.add(submit(run_cell, task))
        if len(pending) >= window:
            break
    while pending:
        finished, pending = wait_any(pending, return_when=FIRST_COMPLETED)
        pending = set(pending)
        for future in finished:
            yield future.result()
            following = next(queue, None)
            if following is not None:
                pending.add(submit(run_cell, following))


@contextmanager
def dask_client(workers: int, address: str | None) -> Iterator[Any]:
    """A Dask client: of the scheduler at ``address``, or of a local cluster started here (one
    single-threaded worker process per ``workers``, listening on loopback only)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(
            "the dask engine needs Dask: pip install 'dask[distributed]' (or 'spreadlab[dask]')"
        ) from None
    if address:
        with Client(address) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
