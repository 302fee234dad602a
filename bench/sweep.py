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
64-core cluster is *projected* (not measured). The load average is printed with each number:
other work on the machine lowers the pool's ratio.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

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


def timed(g: Grid, folder: Path, label: str, **options: object) -> tuple[float, object]:
    """Run ``g`` into a fresh database; (cells per second, per-cell summaries)."""
    with RunStore(folder / f"{label}.duckdb") as store:
        start = time.perf_counter()
        tally = run_sweep(store, g, **options)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - start
        cells = sweep_cells(store, g.sweep_id)
    if tally.failed:
        raise SystemExit(f"{label}: {tally.failed} cells failed: {cells['error'].dropna().iloc[0]}")
    return tally.done / elapsed, cells


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
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rates["1 process"], one = timed(g, folder, "one", summaries_only=True)
        print(f"1 process: {rates['1 process']:.2f} cells/s ({load()})", flush=True)
        per_cell = float(one["seconds"].mean())
        rates["pool"], pool = timed(g, folder, "pool", workers=args.workers, summaries_only=True)
        print(f"local pool, {args.workers} processes: {rates['pool']:.2f} cells/s ({load()})")
        rates["dask"], dask = timed(
            g, folder, "dask", engine="dask", workers=args.workers, summaries_only=True
        )
        print(f"Dask LocalCluster, {args.workers} workers: {rates['dask']:.2f} cells/s ({load()})")
        columns = [c for c in one.columns if c not in ("seconds", "created_at")]
        same = one[columns].equals(pool[columns]) and one[columns].equals(dask[columns])
        print(f"per-cell results identical across the three: {same}")
        print(
            f"pool / 1 process = {rates['pool'] / rates['1 process']:.2f}× (target ≥ 1.5×); "
            f"Dask / 1 process = {rates['dask'] / rates['1 process']:.2f}×"
        )
        stored_rate, _ = timed(grid(1, 10_000, "bench-runs"), folder, "runs", workers=args.workers)
        print(f"storing every run too (72 cells, 216 runs): {stored_rate:.2f} cells/s ({load()})")
        big = grid(1, PROJECTED_N, "bench-1m")
        cells = big.cells()[: args.big_cells]
        big_cost = _big_cells(big, cells)
    print(f"\nmean compute per cell at N = 10,000: {per_cell:.3f} s (in the worker)")
    print(
        f"mean compute per cell at N = 1,000,000: {big_cost:.1f} s over {len(cells)} cells "
        f"(peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)"
    )
    efficiency = rates["pool"] / rates["1 process"] / args.workers
    hours = PROJECTED_CELLS * big_cost / (PROJECTED_CORES * efficiency) / 3600
    print(
        f"PROJECTION (not measured): {PROJECTED_CELLS:,} cells at N = {PROJECTED_N:,} on "
        f"{PROJECTED_CORES} cores ≈ {hours:.1f} h, from {big_cost:.1f} s per cell and the pool's "
        f"measured parallel efficiency here ({efficiency:.0%} per core), summaries only; the one "
        "writer stores a summary row per cell, far below its capacity at that rate"
    )
    return 0 if rates["pool"] >= 1.5 * rates["1 process"] else 1


def _big_cells(g: Grid, cells: list) -> float:
    """Mean seconds per cell for ``cells`` of ``g``, computed in this process."""
    from spreadlab.jobs.sweep_cell import CellTask, run_cell

    costs = []
    for cell in cells:
        result = run_cell(
            CellTask(cell, g.scenario(cell), g.tables["illustrative"], keep_runs=False)
        )
        if result.error:
            raise SystemExit(f"N = 1,000,000 cell failed: {result.error}")
        costs.append(result.seconds)
    return sum(costs) / len(costs)


if __name__ == "__main__":
    sys.exit(main())
