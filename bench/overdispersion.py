"""Coverage of the observed-series intervals under overdispersion (issue 18).

    python bench/overdispersion.py [--series 500] [--n 20000] [--rounds 40] [--seed 18]

Single series are drawn one interval ahead from SI-1 (beta = 0.5) and SI-2 (alpha = 0.01,
beta = 0.4), with binomial new posters or negative-binomial ones of the same mean (size 50, 20, 5,
2: variance mean + mean^2 / size), and fitted as an observed dataset is
(:func:`spreadlab.analysis.observed.fit_series`: conditional likelihood, quasi-likelihood
intervals). Per case: the share of nominal 95% intervals that cover the truth (with its binomial
standard error), the median interval width, the median Pearson dispersion and the median factor
on the parameter's deviance threshold (the larger of the Pearson dispersion and its sandwich
ratio, :func:`spreadlab.analysis.intervals.robust_dispersions`). Prints a Markdown table for
docs/models.md.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a clone without installing spreadlab
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from spreadlab.analysis.observed import ObservedSeries, fit_series  # noqa: E402
from spreadlab.analysis.synthetic import simulate_counts  # noqa: E402

TRUTHS = {"si1": {"beta": 0.5}, "si2": {"alpha": 0.01, "beta": 0.4}}
SIZES = (None, 50.0, 20.0, 5.0, 2.0)
"""Negative-binomial sizes (None: binomial noise); smaller is more overdispersed."""


@dataclass(frozen=True)
class Case:
    """One row group of the table: per parameter, the share of intervals covering the truth, the
    median width and threshold factor; the median Pearson dispersion; how many series fitted."""

    coverage: dict[str, float]
    width: dict[str, float]
    factor: dict[str, float]
    dispersion: float
    fitted: int


def measure(model: str, size: float | None, args: argparse.Namespace) -> Case:
    """Fit ``args.series`` series drawn from ``model`` with noise ``size`` (None: binomial)."""
    truth = TRUTHS[model]
    rng = np.random.default_rng([args.seed, list(TRUTHS).index(model), SIZES.index(size)])
    covered = dict.fromkeys(truth, 0)
    widths: dict[str, list[float]] = {p: [] for p in truth}
    factors: dict[str, list[float]] = {p: [] for p in truth}
    dispersions = []
    for _ in range(args.series):
        counts = simulate_counts(
            model, truth, args.rounds, args.n, 1.0, 20, rng, closed_loop=True, nb_size=size
        )[0]
        series = ObservedSeries(counts, args.n, "1h", "2026-05-01T00:00:00Z", "b", 0, "x", 0)
        fits, _ = fit_series(series, (model,))
        if model not in fits:
            continue
        fitted = fits[model]
        # the fit's note: "dispersion D (Pearson); threshold alpha ×A, beta ×B"
        dispersions.append(float(fitted.message.split()[1]))
        for p, value in truth.items():
            lo, hi = fitted.ci[p]
            covered[p] += lo <= value <= hi
            widths[p].append(hi - lo)
            factor = re.search(rf"{p} ×([0-9.e+]+)", fitted.message)
            factors[p].append(float(factor[1]) if factor else math.nan)
    done = len(dispersions)
    return Case(
        {p: covered[p] / done for p in truth},
        {p: float(np.median(widths[p])) for p in truth},
        {p: float(np.median(factors[p])) for p in truth},
        float(np.median(dispersions)),
        done,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=500)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()
    print(
        f"{args.series} series per case, N = {args.n:,}, {args.rounds} intervals, seed {args.seed}"
    )
    print(
        "| truth | noise | parameter | coverage (95% nominal) | median width "
        "| median Pearson dispersion | median threshold factor |"
    )
    print("|---|---|---|---|---|---|---|")
    for model in TRUTHS:
        for size in SIZES:
            start = time.perf_counter()
            got = measure(model, size, args)
            noise = "binomial" if size is None else f"neg. binomial, size {size:g}"
            for p, share in got.coverage.items():
                se = math.sqrt(share * (1 - share) / got.fitted)
                print(
                    f"| {model} | {noise} | {p} | {share:.1%} ± {se:.1%} | {got.width[p]:.4g} "
                    f"| {got.dispersion:.3g} | {got.factor[p]:.3g} |",
                    flush=True,
                )
            print(f"<!-- {model} {noise}: {time.perf_counter() - start:.0f} s -->", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
