"""Ray against Dask for sweep cells: the measurement behind the choice of distributed engine.

    python bench/engines.py [--seeds 14] [--workers 2]

Issue 17 asks for "Ray or Dask, your choice by measurement". Both engines get the same tasks as
a sweep sends its workers (:class:`spreadlab.jobs.sweep_cell.CellTask`, the grid of
``bench/sweep.py``: 1,008 cells of 3 replicates at N = 10,000 by default), on a local cluster of
``--workers`` single-threaded worker processes started inside the measurement, with the same
bounded window of tasks in flight. Printed: cells per second, start-up seconds (cluster up to
first result), the ratio to one process computing the same tasks, and whether every cell's
summary is identical across the three. Ray needs ``pip install -r requirements-bench.txt``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a clone without installing spreadlab
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sweep import grid, load  # noqa: E402

# the sweep's own Dask cluster, so Dask is measured as `spreadlab sweep --engine dask` runs it
from spreadlab.jobs.sweep import dask_client  # noqa: E402
from spreadlab.jobs.sweep_cell import CellResult, CellTask, run_cell  # noqa: E402

IN_FLIGHT_PER_WORKER = 2


def tasks_of(seeds: int) -> list[CellTask]:
    g = grid(seeds, 10_000)
    table = g.tables["illustrative"]
    return [CellTask(c, g.scenario(c), table, keep_runs=False) for c in g.cells()]


def windowed(
    submit: Callable[[CellTask], object],
    wait_one: Callable[[list[object]], tuple[list[object], list[object]]],
    fetch: Callable[[object], CellResult],
    tasks: list[CellTask],
    window: int,
) -> Iterator[CellResult]:
    """Keep ``window`` tasks in flight, yield results as they finish (as a sweep does)."""
    queue = iter(tasks)
    pending = [submit(t) for _, t in zip(range(window), queue, strict=False)]
    while pending:
        done, pending = wait_one(pending)
        for ref in done:
            yield fetch(ref)
            following = next(queue, None)
            if following is not None:
                pending.append(submit(following))


def with_dask(tasks: list[CellTask], workers: int) -> Iterator[CellResult]:
    from distributed import wait

    with dask_client(workers, None) as client:

        def wait_one(pending: list[object]) -> tuple[list[object], list[object]]:
            done, rest = wait(pending, return_when="FIRST_COMPLETED")
            return list(done), list(rest)

        yield from windowed(
            lambda t: client.submit(run_cell, t, pure=False),
            wait_one,
            lambda f: f.result(),  # type: ignore[attr-defined]
            tasks,
            workers * IN_FLIGHT_PER_WORKER,
        )


def with_ray(tasks: list[CellTask], workers: int) -> Iterator[CellResult]:
    import ray

    ray.init(
        num_cpus=workers,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )
    try:
        remote = ray.remote(num_cpus=1)(run_cell)

        def wait_one(pending: list[object]) -> tuple[list[object], list[object]]:
            done, rest = ray.wait(pending, num_returns=1)
            return list(done), list(rest)

        yield from windowed(remote.remote, wait_one, ray.get, tasks, workers * IN_FLIGHT_PER_WORKER)
    finally:
        ray.shutdown()


def in_process(tasks: list[CellTask], workers: int) -> Iterator[CellResult]:
    yield from map(run_cell, tasks)


def measure(
    engine: Callable[[list[CellTask], int], Iterator[CellResult]],
    tasks: list[CellTask],
    workers: int,
) -> tuple[float, float, dict[str, str]]:
    """Cells per second, seconds to the first result, and each cell's summary as JSON (so NaN
    compares equal to NaN)."""
    start = time.perf_counter()
    first = None
    summaries = {}
    for result in engine(tasks, workers):
        first = first or time.perf_counter() - start
        if result.error:
            raise SystemExit(f"cell {result.cell_id} failed: {result.error}")
        summaries[result.cell_id] = json.dumps(result.summary, sort_keys=True, default=str)
    return len(tasks) / (time.perf_counter() - start), first or 0.0, summaries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=14, help="seed draws per grid point")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per cluster")
    args = parser.parse_args()
    tasks = tasks_of(args.seeds)
    print(
        f"# Ray vs Dask: {len(tasks):,} sweep cells of 3 replicates at N = 10,000, "
        f"{args.workers} workers, {os.cpu_count()} CPUs; {load()}"
    )
    print("| engine | cells/s | × 1 process | first result after | load average after |")
    print("|---|---:|---:|---:|---|")
    results = {}
    for label, engine in (
        ("1 process", in_process),
        (f"Dask LocalCluster, {args.workers} workers", with_dask),
        (f"Ray local, {args.workers} workers", with_ray),
    ):
        rate, first, summaries = measure(engine, tasks, args.workers)
        results[label] = (rate, summaries)
        ratio = rate / results["1 process"][0]
        print(f"| {label} | {rate:.2f} | {ratio:.2f} | {first:.1f} s | {load()} |", flush=True)
    one = results["1 process"][1]
    others = list(results.items())[1:]
    differing = [
        (label, cell)
        for label, (_, summaries) in others
        for cell in one
        if summaries[cell] != one[cell]
    ]
    print(f"\nper-cell summaries identical across the three: {not differing}")
    for label, cell in differing[:3]:
        ours, theirs = json.loads(one[cell]), json.loads(results[label][1][cell])
        keys = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
        changes = ", ".join(f"{k} {ours.get(k)} vs {theirs.get(k)}" for k in keys)
        print(f"  {label}, cell {cell}: {changes}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
