"""SpreadLab against NDlib and EoN on the same SI scenario, from 10^4 to 10^7 agents.

    pip install -r requirements-bench.txt && python bench/peers.py

Scenario: random 10-regular graph, per-round posting probability b = 0.05 per posting
neighbour, 0.1% seeds, until 99% are informed. One command prints, for each engine and N, graph
build and simulation wall time (best of 3 fresh-process runs; cases over a minute run once),
peak RSS, and each peer's time as a multiple of SpreadLab's; then NDlib equivalence over 30
replicates and the throughput of 1,000 replicates at N = 10,000; and writes the scaling plot.

Whole process (``--whole-only`` runs just this part): at N = 100,000 the ``spreadlab run``
command, and scripts running NDlib and EoN, each timed from a fresh interpreter to its exit, so
start-up and imports count (and SpreadLab also stores every round in DuckDB). Targets (issue 13):
at least 20x NDlib and 10x EoN. SpreadLab runs the rounds that its in-process run needed to reach
99%; EoN runs once to the t99 of an in-process pilot on the same graph and seed. The three
commands run interleaved in each of ``--repeats`` rounds, so they share the machine's load; the
report gives each engine's median time and the median of the per-round ratios.

How each peer runs the scenario:

* NDlib ``SIModel``: its ``beta`` is a per-iteration *probability per infected neighbour*
  (``tp_rate = 1``, the default: an S node becomes I with probability 1 - (1 - beta)^j, j its
  infected neighbours). Each iteration reads the statuses of the previous one (synchronous) and
  iteration 0 only reports the initial infected. So beta = b, iteration t = round t, initial
  infected = our round-0 posters: the same process, not an approximation.
* EoN ``fast_SIR`` with gamma = 0 (no recovery) is the continuous-time counterpart: each edge
  transmits at rate tau = -ln(1 - b), so it transmits within one unit of time with probability b,
  but a new case transmits at once rather than from the next round; its time axis is not rounds.
  EoN has no stop-at-fraction option: an untimed pilot run finds t99 (99% infected) and the timed
  run uses ``tmax = t99``, so it does the same work as the others. Its process is allowed twice
  the timeout, as it simulates twice.
* Graphs: NDlib and EoN take a networkx graph, built with ``networkx.random_regular_graph``;
  SpreadLab builds its CSR arrays with ``spreadlab.world.networks.random_regular``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _shared import (
    ROOT,
    STOP,
    B,
    K,
    Result,
    best_of,
    machine,
    n_seeds,
    spreadlab_run,
    worker_main,
)

ENGINES = ("spreadlab", "ndlib", "eon")
LABELS = {"spreadlab": "SpreadLab", "ndlib": "NDlib", "eon": "EoN"}
PEER_SIZES = (10_000, 100_000, 1_000_000)
SPREADLAB_ONLY = (10_000_000,)
WHOLE_N = 100_000
WHOLE_TARGETS = {"ndlib": 20.0, "eon": 10.0}


def ndlib_curve(graph, seeds: list[int], seed: int, stop: float) -> list[int]:
    """NDlib SI (beta = b) from ``seeds`` until ``stop`` of the nodes are infected.

    Returns the infected count after each iteration 0, 1, ...
    """
    import ndlib.models.epidemics as ep
    import ndlib.models.ModelConfig as mc

    model = ep.SIModel(graph, seed=seed)  # seeds numpy's global generator
    config = mc.Configuration()
    config.add_model_parameter("beta", B)
    config.add_model_initial_configuration("Infected", seeds)
    model.set_initial_status(config)
    n = graph.number_of_nodes()
    curve = [model.iteration(node_status=False)["node_count"][1]]
    while curve[-1] < stop * n and len(curve) < 10_000:
        curve.append(model.iteration(node_status=False)["node_count"][1])
    return curve


def ndlib_run(n: int, seed: int) -> Result:
    import networkx as nx

    start = time.perf_counter()
    graph = nx.random_regular_graph(K, n, seed=seed)
    built = time.perf_counter()
    seeds = np.random.default_rng(seed).choice(n, n_seeds(n), replace=False).tolist()
    curve = ndlib_curve(graph, seeds, seed, STOP)
    done = time.perf_counter()
    return {
        "graph_s": built - start,
        "sim_s": done - built,
        "rounds": len(curve) - 1,
        "informed": curve[-1] / n,
    }


def eon_run(n: int, seed: int, tmax: float | None = None) -> Result:
    """EoN's fast_SIR to 99% infected: an untimed pilot finds t99 unless ``tmax`` is given."""
    import EoN
    import networkx as nx

    tau = -math.log(1 - B)
    start = time.perf_counter()
    graph = nx.random_regular_graph(K, n, seed=seed)
    built = time.perf_counter()
    seeds = np.random.default_rng(seed).choice(n, n_seeds(n), replace=False).tolist()
    if tmax is None:
        t, _, infected, _ = EoN.fast_SIR(
            graph, tau, 0.0, initial_infecteds=seeds, rng=np.random.default_rng(seed)
        )
        tmax = float(np.nextafter(t[np.argmax(infected >= STOP * n)], np.inf))  # exclusive
    piloted = time.perf_counter()
    t, _, infected, _ = EoN.fast_SIR(
        graph, tau, 0.0, initial_infecteds=seeds, tmax=tmax, rng=np.random.default_rng(seed)
    )
    done = time.perf_counter()
    return {
        "graph_s": built - start,
        "sim_s": done - piloted,
        "rounds": round(tmax, 2),  # EoN time units, not rounds
        "tmax": tmax,
        "informed": float(infected[-1]) / n,
    }


def whole_process(n: int, repeats: int) -> dict[str, list[float]]:
    """Wall times of each engine as a whole process, one per repeat: ``spreadlab run`` against
    scripts running NDlib and EoN (this file with ``--whole``), each in a fresh interpreter, the
    three engines interleaved within each repeat so they share the machine's load."""
    from spreadlab.engine.stochastic import ParameterTable

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times: dict[str, list[float]] = {engine: [] for engine in ENGINES}
    with tempfile.TemporaryDirectory() as tmp:
        params = Path(tmp) / "uniform.csv"
        params.write_text(ParameterTable.uniform(1.0, B).to_csv(), encoding="utf-8")
        for seed in range(1, repeats + 1):
            rounds = spreadlab_run(n, seed)["rounds"]
            tmax = eon_run(n, seed)["tmax"]
            db = Path(tmp) / f"run{seed}.duckdb"
            run = f"run --n {n} --k {K} --n0 {n_seeds(n)} --q 0 --rounds {rounds} --seed {seed}"
            run += f" --params {params} --db {db}"
            commands = {
                "spreadlab": [sys.executable, "-m", "spreadlab", *run.split()],
                "ndlib": [sys.executable, __file__, "--whole", "ndlib", str(n), str(seed)],
                "eon": [sys.executable, __file__, "--whole", "eon", str(n), str(seed), str(tmax)],
            }
            for engine, command in commands.items():
                start = time.perf_counter()
                subprocess.run(command, env=env, cwd=tmp, check=True, capture_output=True)
                times[engine].append(time.perf_counter() - start)
    return times


def whole_report(n: int, times: dict[str, list[float]]) -> tuple[str, bool]:
    """The whole-process lines (median of the repeats, each repeat's ratio) and whether both
    targets are met by the median ratio."""
    runs = len(times["spreadlab"])
    lines = [f"Whole process at N = {n:,} (fresh interpreter to exit, median of {runs} runs):"]
    met = True
    for engine in ENGINES:
        line = f"  {LABELS[engine]:<9} {statistics.median(times[engine]):7.2f} s"
        if engine in WHOLE_TARGETS:
            ratios = [t / s for t, s in zip(times[engine], times["spreadlab"], strict=True)]
            ratio = statistics.median(ratios)
            ok = ratio >= WHOLE_TARGETS[engine]
            met &= ok
            line += f"  {ratio:5.1f}x SpreadLab (target >= {WHOLE_TARGETS[engine]:g}x) "
            line += "ok" if ok else "MISSED"
            line += f"  (each run: {', '.join(f'{r:.1f}x' for r in ratios)})"
        lines.append(line)
    return "\n".join(lines), met


@dataclass(frozen=True)
class Equivalence:
    """Rounds to ``fraction`` informed: SpreadLab vs NDlib over the same graphs."""

    n: int
    replicates: int
    fraction: float
    spreadlab: list[int]
    ndlib: list[int]

    def summary(self, which: str) -> tuple[float, float, float]:
        """Mean and its 95% confidence interval (Student t)."""
        from scipy import stats

        x = np.asarray(getattr(self, which), dtype=float)
        half = stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
        return float(x.mean()), float(x.mean() - half), float(x.mean() + half)

    def difference(self) -> tuple[float, float, float]:
        """SpreadLab minus NDlib mean, with its Welch 95% confidence interval."""
        from scipy import stats

        a = np.asarray(self.spreadlab, dtype=float)
        b = np.asarray(self.ndlib, dtype=float)
        va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
        se = math.sqrt(va + vb)
        if se == 0:
            d = float(a.mean() - b.mean())
            return d, d, d
        df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
        half = stats.t.ppf(0.975, df) * se
        d = float(a.mean() - b.mean())
        return d, d - half, d + half

    @property
    def agrees(self) -> bool:
        """The 95% CI of the difference of means contains 0."""
        _, low, high = self.difference()
        return low <= 0 <= high

    def report(self) -> str:
        lines = [
            f"NDlib equivalence: rounds to {self.fraction:.0%} informed, N = {self.n:,}, "
            f"{self.replicates} replicates each (same graphs, independent seeds)"
        ]
        for which in ("spreadlab", "ndlib"):
            mean, low, high = self.summary(which)
            lines.append(f"  {LABELS[which]:<9} mean {mean:.2f}  95% CI [{low:.2f}, {high:.2f}]")
        d, low, high = self.difference()
        verdict = "agree" if self.agrees else "DIFFER"
        lines.append(f"  difference {d:+.2f}  Welch 95% CI [{low:+.2f}, {high:+.2f}]: {verdict}")
        return "\n".join(lines)


def equivalence(replicates: int = 30, n: int = 10_000, fraction: float = 0.5) -> Equivalence:
    """Rounds to ``fraction`` informed for SpreadLab and NDlib, replicate i on graph i.

    Both engines run on the same SpreadLab-built graphs with independently drawn seed agents and
    generators, so only the dynamics are compared.
    """
    from spreadlab.engine.simulate import Simulation
    from spreadlab.engine.stochastic import ParameterTable, StochasticPolicy
    from spreadlab.world.events import catalog
    from spreadlab.world.networks import random_regular

    event = next(iter(catalog().values()))
    ours, theirs = [], []
    for i in range(replicates):
        network = random_regular(n, K, [2026, i])
        sim = Simulation(
            network,
            np.zeros(n, dtype=np.int8),
            event,
            StochasticPolicy(ParameterTable.uniform(1.0, B)),
            rounds=10_000,
            q=0.0,
            n0=n_seeds(n),
            rng=np.random.default_rng([2026, i, 0]),
            stop_fraction=fraction,
        )
        ours.append(max(record.round for record in sim.rounds_iter()))
        seeds = np.random.default_rng([2026, i, 1]).choice(n, n_seeds(n), replace=False)
        curve = ndlib_curve(network.to_networkx(), seeds.tolist(), 10_000 + i, fraction)
        theirs.append(len(curve) - 1)
    return Equivalence(n, replicates, fraction, ours, theirs)


def replicate_throughput(replicates: int = 1000, n: int = 10_000) -> tuple[float, float]:
    """Seconds for ``replicates`` runs of the scenario at N = ``n`` (spreadlab.replicates), and
    their mean rounds to 99% informed."""
    from spreadlab.engine.replicates import simulate_replicates
    from spreadlab.engine.simulate import Scenario
    from spreadlab.engine.stochastic import ParameterTable
    from spreadlab.world.events import catalog
    from spreadlab.world.networks import NetworkSpec
    from spreadlab.world.personas import PersonalityMix

    scenario = Scenario(
        next(iter(catalog().values())),
        PersonalityMix.uniform(),
        NetworkSpec(n=n, k=K),
        rounds=10_000,
        n0=n_seeds(n),
        replicates=replicates,
        seed=1,
        stop_fraction=STOP,
    )
    start = time.perf_counter()
    curves = simulate_replicates(scenario, ParameterTable.uniform(1.0, B))
    return time.perf_counter() - start, float(curves.rounds_to(STOP).mean())


def table(results: dict[str, dict[int, Result]]) -> str:
    """The markdown table: times, memory, and each peer as a multiple of SpreadLab."""
    rows = [
        "| engine | N | graph s | simulate s | total s | peak RSS MiB | to 99%¹ | runs "
        "| total × SpreadLab | simulate × SpreadLab |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    sizes = sorted({n for by_n in results.values() for n in by_n})
    for n in sizes:
        ours = results["spreadlab"].get(n, {})
        for engine in ENGINES:
            r = results[engine].get(n)
            if r is None:
                continue
            if "error" in r:
                bound = r.get("at_least_s")
                total = f"> {bound:.0f}" if bound else ""
                ratio = f"> {bound / ours['total_s']:,.0f}×" if bound and "total_s" in ours else ""
                rows.append(
                    f"| {LABELS[engine]} | {n:,} | {r['error']} | | {total} | | | | {ratio} | |"
                )
                continue
            ratio = sim_ratio = ""
            if engine != "spreadlab" and "total_s" in ours:
                ratio = f"{r['total_s'] / ours['total_s']:,.0f}×"
                sim_ratio = f"{r['sim_s'] / ours['sim_s']:,.0f}×"
            rows.append(
                f"| {LABELS[engine]} | {n:,} | {r['graph_s']:.3f} | {r['sim_s']:.3f} | "
                f"{r['total_s']:.3f} | {r['peak_rss_mb']:,.0f} | {r['rounds']} | {r['runs']} | "
                f"{ratio} | {sim_ratio} |"
            )
    rows.append(
        "\n¹ SpreadLab and NDlib: rounds to 99% informed. EoN: continuous time to 99%, where one "
        "unit of time gives an edge the transmission probability b of one round."
    )
    return "\n".join(rows)


def plot(results: dict[str, dict[int, Result]], path: Path) -> None:
    """Log-log wall time against N: graph + simulation (solid) and simulation alone (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for engine, colour in zip(ENGINES, ("C0", "C3", "C2"), strict=True):
        done = {n: r for n, r in sorted(results[engine].items()) if "error" not in r}
        if not done:
            continue
        sizes = list(done)
        ax.plot(
            sizes, [done[n]["total_s"] for n in sizes], "o-", color=colour, label=LABELS[engine]
        )
        ax.plot(sizes, [done[n]["sim_s"] for n in sizes], "o--", color=colour, alpha=0.5)
        for n, r in results[engine].items():
            if r.get("at_least_s"):  # timed out: "at least" marker, dotted from its last point
                ax.plot(
                    [sizes[-1], n], [done[sizes[-1]]["total_s"], r["at_least_s"]], ":", color=colour
                )
                ax.plot([n], [r["at_least_s"]], "^", color=colour, markersize=9)
                ax.annotate(
                    f"{LABELS[engine]}: > {r['at_least_s']:.0f} s (timeout)",
                    (n, r["at_least_s"]),
                    textcoords="offset points",
                    xytext=(-8, 4),
                    ha="right",
                    va="bottom",
                    fontsize=8,
                    color=colour,
                )
    ax.set_xscale("log")
    ax.set_yscale("log")
    low, high = ax.get_ylim()
    ax.set_ylim(low, high * 3)  # room for the timeout labels
    ax.set_xlabel("agents N (random 10-regular graph)")
    ax.set_ylabel("wall time, s (best of up to 3 runs)")
    ax.set_title("SI to 99% informed, b = 0.05: graph + simulation (solid), simulation (dashed)")
    ax.title.set_fontsize(9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per case (best is shown)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per peer run")
    parser.add_argument("--max-n", type=int, default=10_000_000, help="largest N to run")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "scaling.png")
    parser.add_argument("--json", type=Path, default=ROOT / ".bench-peers" / "peers.json")
    parser.add_argument(
        "--whole-only", action="store_true", help="only the whole-process comparison"
    )
    parser.add_argument(
        "--equivalence-only", action="store_true", help="only the NDlib equivalence check"
    )
    args = parser.parse_args()
    print(f"# SpreadLab vs NDlib vs EoN — {machine()}")
    if args.equivalence_only:
        eq = equivalence()
        print(eq.report())
        return 0 if eq.agrees else 1
    whole, whole_met = whole_report(WHOLE_N, whole_process(WHOLE_N, args.repeats))
    print(whole + "\n", flush=True)
    if args.whole_only:
        return 0 if whole_met else 1
    print(
        f"# SI, random {K}-regular graph, b = {B} per posting neighbour per round, "
        f"0.1% seeds, to {STOP:.0%} informed\n"
    )
    results: dict[str, dict[int, Result]] = {engine: {} for engine in ENGINES}
    for n in [n for n in PEER_SIZES + SPREADLAB_ONLY if n <= args.max_n]:
        for engine in ENGINES if n in PEER_SIZES else ("spreadlab",):
            failed = [m for m, r in results[engine].items() if "error" in r]
            if failed:  # it did not finish a smaller N: a larger one is hopeless
                results[engine][n] = {"error": f"skipped (did not finish N = {failed[0]:,})"}
            else:
                timeout = {"spreadlab": max(args.timeout, 600), "ndlib": args.timeout}.get(
                    engine, 2 * args.timeout
                )
                result = best_of(Path(__file__), engine, n, args.repeats, timeout)
                if result.get("timed_out"):  # graph + simulation took at least --timeout
                    result = {
                        "error": f"did not finish in {args.timeout:.0f} s",
                        "at_least_s": args.timeout,
                    }
                results[engine][n] = result
            print(f"  {LABELS[engine]:<9} N = {n:>10,}: {_brief(results[engine][n])}", flush=True)
    print()
    print(table(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    raw = {engine: {str(n): r for n, r in by_n.items()} for engine, by_n in results.items()}
    args.json.write_text(json.dumps(raw, indent=1))
    plot(results, args.plot)
    print(f"\nscaling plot: {args.plot}")

    print()
    eq = equivalence()
    print(eq.report())
    seconds = [replicate_throughput() for _ in range(args.repeats)]
    best, rounds = min(seconds)
    print(
        f"\nreplicate throughput: 1,000 replicates at N = 10,000 in {best:.2f} s "
        f"(best of {len(seconds)}; mean rounds to 99% = {rounds:.2f})"
    )
    print(f"# {machine()}")
    return 0 if eq.agrees and whole_met else 1


def _brief(r: Result) -> str:
    if "error" in r:
        return r["error"]
    return f"{r['total_s']:.3f} s ({r['graph_s']:.3f} graph), {r['peak_rss_mb']:.0f} MiB"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker_main({"spreadlab": spreadlab_run, "ndlib": ndlib_run, "eon": eon_run})
    elif sys.argv[1:2] == ["--whole"]:  # one run, timed from outside by whole_process
        engine, n, seed = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        if engine == "ndlib":
            ndlib_run(n, seed)
        else:
            eon_run(n, seed, float(sys.argv[5]))
    else:
        sys.exit(main())
