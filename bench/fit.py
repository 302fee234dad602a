"""Fitting benchmark: SI-1 + SI-2 on one 50-round curve, and trait effects on 10^6 decisions.

    python bench/fit.py [--repeats 5]

Targets (issue 4): SI-1 + SI-2 fit of a 50-round curve, profile intervals included, <= 50 ms;
trait-effect fit on 1,000,000 decisions <= 2 s. Data are drawn from the models themselves with a
fixed seed. Wall times (``time.perf_counter``), best of ``--repeats``; exits with status 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a clone without installing spreadlab
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import special  # noqa: E402

from spreadlab.analysis.fit import fit  # noqa: E402
from spreadlab.analysis.synthetic import simulate_counts  # noqa: E402
from spreadlab.analysis.trait_effects import fit_trait_effects  # noqa: E402
from spreadlab.world.events import EVENT_TYPES  # noqa: E402
from spreadlab.world.personas import trait_matrix  # noqa: E402

CURVE_TARGET_S, TRAITS_TARGET_S = 0.050, 2.0


def decision_log(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` consultations drawn from P = 1 - (1 - a·o)(1 - b)^m with logistic trait effects."""
    profile = rng.integers(0, 32, n)
    event = rng.integers(0, len(EVENT_TYPES), n)
    offline = rng.random(n) < 0.3
    m = rng.poisson(1.2, n)
    m[~offline & (m == 0)] = 1  # only exposed agents are consulted
    traits = trait_matrix()[profile].astype(float)
    shift = np.linspace(-0.5, 0.5, len(EVENT_TYPES))[event]
    a = special.expit(-1.8 + traits @ [0.3, -0.7, 0.9, -0.2, 0.6] + shift)
    b = special.expit(-3.3 + traits @ [0.2, -0.5, 0.8, -0.1, 0.5] + shift / 2)
    post = rng.random(n) < 1 - (1 - a * offline) * (1 - b) ** m
    return pd.DataFrame(
        {
            "offline": offline,
            "m": m,
            "profile": profile,
            "event_type": np.array(EVENT_TYPES)[event],
            "post": post,
            "valid": True,
        }
    )


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per case (best is shown)")
    args = parser.parse_args()
    rng = np.random.default_rng(2026)
    counts = simulate_counts("si2", [0.002, 0.05], 50, 10_000, 10, 20, rng)
    log = decision_log(1_000_000, rng)

    def curve_fit() -> None:
        fit(counts, "si1", n=10_000, k=10)
        fit(counts, "si2", n=10_000, k=10)

    curve_s = best(curve_fit, args.repeats)
    traits_s = best(lambda: fit_trait_effects(log), args.repeats)
    print(
        f"# SpreadLab fitting benchmark — Python {platform.python_version()}, "
        f"{platform.machine()}, best of {args.repeats}"
    )
    print("| case | seconds | target |")
    print("|---|---:|---:|")
    print(f"| SI-1 + SI-2, 50-round curve, profile intervals | {curve_s:.4f} | {CURVE_TARGET_S} |")
    print(f"| trait effects, 1,000,000 decisions | {traits_s:.3f} | {TRAITS_TARGET_S} |")
    return 0 if curve_s <= CURVE_TARGET_S and traits_s <= TRAITS_TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
