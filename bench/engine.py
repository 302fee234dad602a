"""SpreadLab engine benchmark: graph build and simulation wall time and peak memory.

    python bench/engine.py

Random 10-regular graph, b = 0.05 per posting neighbour per round, 0.1% seeds, until 99% are
informed, for N = 100,000 and 1,000,000. Each case runs in a fresh subprocess (best of 3; peak
RSS is the largest of the three). Exits with status 1 when the N = 1,000,000 target (graph +
simulation <= 3 s, peak memory <= 1 GiB) is missed. Peers and N = 10^7: bench/peers.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _shared import best_of, machine, spreadlab_run, worker_main

SIZES = (100_000, 1_000_000)
TARGET_N, TARGET_S, TARGET_MB = 1_000_000, 3.0, 1024.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per size (best is shown)")
    args = parser.parse_args()
    print(f"# SpreadLab engine benchmark — {machine()}")
    print(f"# best of {args.repeats} fresh-process runs; memory = peak RSS of the process\n")
    print("| N | graph s | simulate s | total s | peak RSS MiB | rounds | runs |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    ok = True
    for n in SIZES:
        r = best_of(Path(__file__), "spreadlab", n, args.repeats, timeout=600)
        if "error" in r:
            print(f"| {n:,} | {r['error']} | | | | | |")
            ok = False
            continue
        print(
            f"| {n:,} | {r['graph_s']:.3f} | {r['sim_s']:.3f} | {r['total_s']:.3f} | "
            f"{r['peak_rss_mb']:.0f} | {r['rounds']} | {r['runs']} |"
        )
        if n == TARGET_N:
            ok = r["total_s"] <= TARGET_S and r["peak_rss_mb"] <= TARGET_MB
            verdict = "met" if ok else "MISSED"
            print(
                f"\ntarget at N = {n:,} (<= {TARGET_S:g} s, <= {TARGET_MB:.0f} MiB): {verdict} "
                f"({r['total_s']:.2f} s, {r['peak_rss_mb']:.0f} MiB)"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker_main({"spreadlab": spreadlab_run})
    else:
        sys.exit(main())
