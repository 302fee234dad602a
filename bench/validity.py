"""Validity of the one-rate-or-two verdict and of the default 95% intervals (issue 11).

    python bench/validity.py [--groups 20] [--coverage-groups 200] [--n 4000] [--processes 2]

Verdicts: every cell of {q = 0, q·a = 0.0021} × {uniform, illustrative, two classes of b} ×
{random regular, Erdős–Rényi, Barabási–Albert}, ``--groups`` groups of 5 replicates at N = ``--n``
(k = 10), counted twice: with the decision log and from the curves alone. Coverage: the default
intervals over ``--coverage-groups`` groups in the cells where the fitted model is the true one.
Prints two tables and the pass/fail of each target; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a clone without installing spreadlab
    sys.path.insert(0, str(ROOT))

from spreadlab.jobs.validation import (  # noqa: E402
    A_OFFLINE,
    NETWORKS,
    TABLES,
    Cell,
    coverage,
    mean_offline_probability,
    verdict_counts,
)

QA_OFFLINE = 0.0021
"""q·a of the offline cells: q is set per table so that q times the mean a gives it."""
Q_UNIFORM = QA_OFFLINE / A_OFFLINE
COVERAGE_CASES = (
    ("si1", "random_regular", "uniform", 0.0, None),
    ("si2", "random_regular", "uniform", Q_UNIFORM, None),
    ("mf_map", "random_regular", "uniform", Q_UNIFORM, None),
    ("pair_map", "random_regular", "uniform", Q_UNIFORM, None),
    (
        "pair_map",
        "random_regular",
        "uniform",
        QA_OFFLINE / A_OFFLINE,
        {"qa": QA_OFFLINE, "b": 0.05},
    ),
    ("pair", "random_regular", "uniform", 0.0, None),
    ("pair2", "random_regular", "uniform", Q_UNIFORM, None),
    ("si2g", "random_regular", "uniform", Q_UNIFORM, None),
    ("si2h", "random_regular", "two-classes", 0.0, None),
    ("si1g", "random_regular", "two-classes", 0.0, None),
)


def _verdict_row(args: tuple[Cell, int]) -> tuple[Cell, dict, dict, float]:
    cell, groups = args
    start = time.perf_counter()
    with_log, curves = verdict_counts(cell, groups, seed=11)
    return cell, dict(with_log), dict(curves), time.perf_counter() - start


def _coverage_row(args: tuple[tuple, int, int]) -> tuple[tuple, object]:
    case, groups, n = args
    model, network, table, q, truth = case
    return case, coverage(Cell(network, table, q, n=n), model, groups, seed=23, truth=truth)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--coverage-groups", type=int, default=200)
    parser.add_argument("--n", type=int, default=10_000, help="agents in the verdict cells")
    parser.add_argument("--coverage-n", type=int, default=4000, help="agents, coverage cells")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    print(
        f"# validity: verdicts at N = {args.n}, coverage at N = {args.coverage_n}; k = 10, "
        f"5 replicates per group; {platform.machine()}, {args.processes} processes"
    )
    cells = [
        Cell(net, tab, q, n=args.n)
        for net in NETWORKS
        for tab in TABLES
        for q in (0.0, QA_OFFLINE / mean_offline_probability(tab))
    ]
    failures: list[str] = []
    with ProcessPoolExecutor(args.processes) as pool:
        verdict_jobs = [pool.submit(_verdict_row, (c, args.groups)) for c in cells]
        coverage_jobs = [
            pool.submit(_coverage_row, (case, args.coverage_groups, args.coverage_n))
            for case in COVERAGE_CASES
        ]
        print(
            "\n| network | agents | q·a | with decisions: offline / network-only / other | "
            "curves alone: offline / network-only / cannot tell / no-fit |"
        )
        print("|---|---|---|---|---|")
        for job in verdict_jobs:
            cell, log, curves, _ = job.result()
            qa = cell.q * mean_offline_probability(cell.table)
            g = args.groups
            other = g - log.get("offline", 0) - log.get("network-only", 0)
            print(
                f"| {cell.network} | {cell.table} | {'0' if cell.q == 0 else f'≈{qa:.4f}'} | "
                f"{log.get('offline', 0)} / {log.get('network-only', 0)} / {other} | "
                f"{curves.get('offline', 0)} / {curves.get('network-only', 0)} / "
                f"{curves.get('heterogeneous-or-offline', 0)} / {curves.get('no-fit', 0)} |",
                flush=True,
            )
            failures += _verdict_targets(cell, log, curves, g)
        print("\n| model | cell | truth | coverage of the default 95% intervals |")
        print("|---|---|---|---|")
        for job in coverage_jobs:
            case, cov = job.result()
            model, network, table, q, _ = case
            rates = {p: c / cov.groups for p, c in cov.covered.items()}
            truth = ", ".join(f"{p} = {v:.4g}" for p, v in cov.truth.items())
            print(
                f"| {model} | {network}, {table}, q = {q} | {truth} ({cov.truth_source}) | "
                + ", ".join(f"{p}: {r:.0%}" for p, r in rates.items())
                + f" of {cov.groups} |",
                flush=True,
            )
            for p, r in rates.items():
                if p in cov.truth_on_bound:
                    print(f"  ({model} {p}: truth on its bound, covered one-sidedly; not a target)")
                elif not 0.91 <= r <= 0.98 and cov.truth_source != "simulator":
                    failures.append(f"coverage {model} {p} = {r:.0%} outside 91-98%")
    print("\n" + ("all targets met" if not failures else "MISSED:\n  " + "\n  ".join(failures)))
    return 1 if failures else 0


def _verdict_targets(cell: Cell, log: dict, curves: dict, groups: int) -> list[str]:
    """The issue's targets for one cell, as failure messages."""
    out = []
    name = f"{cell.network}/{cell.table}/q={cell.q}"
    if cell.q == 0:
        if log.get("offline", 0) > 0.05 * groups:
            out.append(f"{name}: with decisions 'offline' in {log.get('offline', 0)}/{groups}")
        if curves.get("offline", 0) > 0.05 * groups:
            out.append(f"{name}: curves alone 'offline' in {curves.get('offline', 0)}/{groups}")
    else:
        if log.get("offline", 0) < 0.9 * groups:
            out.append(f"{name}: with decisions 'offline' only {log.get('offline', 0)}/{groups}")
        if cell.table == "uniform" and cell.network == "random_regular":
            detected = curves.get("offline", 0) + curves.get("heterogeneous-or-offline", 0)
            if detected < 0.9 * groups or curves.get("network-only", 0) > 0.05 * groups:
                out.append(f"{name}: curves alone detected {detected}/{groups}")
    return out


if __name__ == "__main__":
    sys.exit(main())
