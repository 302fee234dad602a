"""Sweep throughput: cells per second in one process, the local process pool and Dask, and a
projection to a cluster.

    python bench/sweep.py [--seeds 14] [--workers 2] [--big-cells 3]

The grid: the six event types × four mixes × q in {0, 0.001, 0.003} × ``--seeds`` seed draws
(1,008 cells by default), each cell 3 replicates of N = 10,000 agents on a random 8-regular graph
(30 rounds), summarised with SI-1/SI-2 fits, jackknife intervals and the verdict; summaries only
(the cost of also storing every run is measured on a 72-cell grid with the pool). The same
grid runs three times into fresh databases: one process, the local pool (``--workers``
processes) and a local Dask cluster (as many single-threaded worker processes); per-cell results
must agree. Then ``--big-cells`` cells of N = 1,000,000 run in one process to measure the
per-cell cost at that size, from which the time of a 100,000-cell grid at N = 1,000,000 on a
64-core cluster is *projected* (not measured) from the CPU seconds per cell at that size. The
load average is printed with each number: other work on the machine lowers the pool's ratio,
while CPU seconds per cell (this process and its workers) show the engines' own overhead.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a clone without installing spreadlab
    sys.path.insert(0, str(ROOT))

from spreadlab.jobs.sweep import run_sweep  # noqa: E402
from spreadlab.jobs.sweep_grid import Grid, parse_grid  # noqa: E402
from spreadlab.store.runs import RunStore  # noqa: E402
from spreadlab.store.sweeps import sweep_cells  # noqa: E402
from spreadlab.world.events import EVENT_TYPES  # noqa: E402

PROJECTED_CELLS, PROJECTED_N, PROJECTED_CORES = 100_000, 1_000_000, 64


def grid(seeds: int, n: int, name: str = "bench") -> Grid:
    """The benchmark grid: 6 event types × 4 mixes × 3 q × ``seeds`` draws at N = ``n``."""
    raw = {
        "sweep": {"name": name, "seed": 2026, "rounds": 30, "max_cells": 1_000_000},
        "axes": {
            "event_types": list(EVENT_TYPES),
            "mixes": ["uniform", "extraverted", "neurotic-disagreeable", "conscientious-agreeable"],
            "q": [0.0, 0.001, 0.003],
            "n": [n],
            "k": [8],
            "replicates": [3],
            "seeds": seeds,
        },
    }
    return parse_grid(raw, base=ROOT)


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (pool and Dask workers)."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class Measured:
    """One sweep of the grid: wall-clock rate, CPU seconds per cell and the stored cells."""

    rate: float
    cpu_per_cell: float
    cells: pd.DataFrame
    load: str


def timed(g: Grid, folder: Path, label: str, **options: object) -> Measured:
    """Run ``g`` into a fresh database (workers start and stop inside the measurement)."""
    with RunStore(folder / f"{label}.duckdb") as store:
        cpu, start = cpu_seconds(), time.perf_counter()
        tally = run_sweep(store, g, **options)  # type: ignore[arg-type]
        elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        cells = sweep_cells(store, g.sweep_id)
    if tally.failed:
        raise SystemExit(f"{label}: {tally.failed} cells failed: {cells['error'].dropna().iloc[0]}")
    return Measured(tally.done / elapsed, cpu / tally.done, cells, load())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=14, help="seed draws per grid point")
    parser.add_argument("--workers", type=int, default=2, help="pool and Dask worker processes")
    parser.add_argument("--big-cells", type=int, default=3, help="cells timed at N = 1,000,000")
    args = parser.parse_args()
    g = grid(args.seeds, 10_000)
    print(
        f"# sweep benchmark: {g.size():,} cells of 3 replicates at N = 10,000; {os.cpu_count()} "
        f"CPUs; {load()}"
    )
    print("| engine | cells/s | × 1 process | CPU s per cell | load average after |")
    print("|---|---:|---:|---:|---|")
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for label, options in (
            ("1 process", {}),
            (f"local pool, {args.workers} processes", {"workers": args.workers}),
            (
                f"Dask LocalCluster, {args.workers} workers",
                {"engine": "dask", "workers": args.workers},
            ),
        ):
            m = runs[label] = timed(g, folder, label.split()[0], summaries_only=True, **options)
            ratio = m.rate / next(iter(runs.values())).rate
            print(
                f"| {label} | {m.rate:.2f} | {ratio:.2f} | {m.cpu_per_cell:.3f} | {m.load} |",
                flush=True,
            )
        one, *others = runs.values()
        columns = [c for c in one.cells.columns if c not in ("seconds", "created_at")]
        same = all(one.cells[columns].equals(o.cells[columns]) for o in others)
        print(f"\nper-cell results identical across the three: {same}")
        stored = timed(grid(1, 10_000, "bench-runs"), folder, "runs", workers=args.workers)
        print(
            f"storing every run too (72 cells, 216 runs, pool): {stored.rate:.2f} cells/s, "
            f"{stored.cpu_per_cell:.3f} CPU s per cell ({stored.load})"
        )
    big = grid(1, PROJECTED_N, "bench-1m")
    wall, cpu = _big_cells(big, big.cells()[: args.big_cells])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"per cell at N = 1,000,000 (3 replicates, one process): {wall:.1f} s wall, {cpu:.1f} s "
        f"CPU, peak RSS {rss:.0f} MiB ({load()})"
    )
    hours = PROJECTED_CELLS * cpu / PROJECTED_CORES / 3600
    print(
        f"PROJECTION (not measured): {PROJECTED_CELLS:,} cells at N = {PROJECTED_N:,} on "
        f"{PROJECTED_CORES} cores ≈ {hours:.1f} h = {PROJECTED_CELLS:,} × {cpu:.1f} CPU s / "
        f"{PROJECTED_CORES}, summaries only, assuming cores as fast as this machine's and "
        f"independent cells; the one writer group-commits summary rows, far below its capacity"
    )
    pool = list(runs.values())[1]
    return 0 if pool.rate >= 1.5 * one.rate else 1


def _big_cells(g: Grid, cells: list) -> tuple[float, float]:
    """Mean wall and CPU seconds per cell for ``cells`` of ``g``, computed in this process."""
    from spreadlab.jobs.sweep_cell import CellTask, run_cell

    wall, cpu = [], []
    for cell in cells:
        task = CellTask(cell, g.scenario(cell), g.tables["illustrative"], keep_runs=False)
        before = time.process_time()
        result = run_cell(task)
        cpu.append(time.process_time() - before)
        if result.error:
            raise SystemExit(f"N = 1,000,000 cell failed: {result.error}")
        wall.append(result.seconds)
    return sum(wall) / len(wall), sum(cpu) / len(cpu)


if __name__ == "__main__":
    sys.exit(main())
