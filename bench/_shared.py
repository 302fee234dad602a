"""Shared by ``bench/engine.py`` and ``bench/peers.py``: the benchmark scenario, SpreadLab's run of
it, and measuring one run in a fresh subprocess.

Scenario (issue 7): SI on a random 10-regular graph, per-round posting probability b = 0.05 per
posting neighbour, 0.1% seed agents (who post in round 0), run until 99% are informed.

Memory is the peak resident set size (``ru_maxrss``) of a fresh interpreter that builds the graph
and runs the simulation once, so it includes the interpreter and imported libraries. Times are
``time.perf_counter`` wall times; a case is repeated and its fastest run reported.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a clone without installing spreadlab
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

K = 10
B = 0.05  # per-round probability of posting, per posting neighbour
SEED_SHARE = 0.001
STOP = 0.99
LONG_RUN_S = 60.0  # a case slower than this is not repeated

Result = dict[str, Any]


def n_seeds(n: int) -> int:
    """0.1% of the agents, at least one."""
    return max(1, round(n * SEED_SHARE))


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def spreadlab_run(n: int, seed: int, stop: float = STOP) -> Result:
    """Build the graph and run SpreadLab's round engine until ``stop`` of the agents are informed.

    The per-round records are not kept (only the last one), as a run that streams them to the
    store would not keep them either.
    """
    from spreadlab.engine.simulate import Simulation
    from spreadlab.engine.stochastic import ParameterTable, StochasticPolicy
    from spreadlab.world.events import catalog
    from spreadlab.world.networks import random_regular

    event = next(iter(catalog().values()))
    policy = StochasticPolicy(ParameterTable.uniform(1.0, B))  # a = 1: seeds post in round 0
    start = time.perf_counter()
    network = random_regular(n, K, seed)
    built = time.perf_counter()
    sim = Simulation(
        network,
        np.zeros(n, dtype=np.int8),
        event,
        policy,
        rounds=100_000,
        q=0.0,
        n0=n_seeds(n),
        rng=np.random.default_rng(seed),
        stop_fraction=stop,
    )
    record = deque(sim.rounds_iter(), maxlen=1)[0]
    done = time.perf_counter()
    return {
        "graph_s": built - start,
        "sim_s": done - built,
        "rounds": record.round,
        "informed": record.informed / n,
    }


def worker_main(runners: dict[str, Callable[[int, int], Result]]) -> None:
    """``script --worker ENGINE N SEED``: run one case and print its result as one JSON line."""
    engine, n, seed = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    result = runners[engine](n, seed)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def measure(script: Path, engine: str, n: int, seed: int, timeout: float) -> Result:
    """One case in a fresh interpreter; ``{"error": ...}`` when it fails or times out."""
    command = [sys.executable, str(script), "--worker", engine, str(n), str(seed)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout:.0f} s", "timed_out": True}
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        return {"error": f"exit {done.returncode}: {lines[-1][:200]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def best_of(script: Path, engine: str, n: int, repeats: int, timeout: float) -> Result:
    """The fastest (graph + simulation) of up to ``repeats`` runs, each in a fresh subprocess.

    Memory is the largest peak RSS over the runs. A case slower than LONG_RUN_S runs once.
    """
    runs: list[Result] = []
    for attempt in range(repeats):
        result = measure(script, engine, n, seed=attempt + 1, timeout=timeout)
        if "error" in result:
            return result if not runs else _best(runs)
        result["total_s"] = result["graph_s"] + result["sim_s"]
        runs.append(result)
        if result["total_s"] > LONG_RUN_S:
            break
    return _best(runs)


def _best(runs: list[Result]) -> Result:
    best = dict(min(runs, key=lambda r: r["total_s"]))
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    best["runs"] = len(runs)
    return best


def machine() -> str:
    """One line on where the numbers come from (cores and load matter on a shared machine)."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}, load average {load}"
    )
