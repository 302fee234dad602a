"""The one-rate-or-two verdict: decision log first, then the curve; honest on bad input."""

import re

import numpy as np
import pytest

from spreadlab.analysis.curves import Curves
from spreadlab.analysis.fit import fit
from spreadlab.analysis.synthetic import simulate_counts
from spreadlab.analysis.verdict import CODES, OfflineEvidence, decide_counts, onset_test
from spreadlab.jobs.validation import Cell, coverage, simulate_curves, verdict_counts

N, K = 4000, 10
NOT_OFFLINE = set(CODES) - {"offline"}


def chain(model, params, seed, replicates=5, rounds=30, n0=6):
    rng = np.random.default_rng(seed)
    return simulate_counts(model, params, rounds, N, K, n0, rng, replicates, closed_loop=True)


def test_decisions_settle_the_offline_question():
    counts = chain("si2", {"alpha": 0.003, "beta": 0.04}, 1)
    offline = OfflineEvidence(900, 12, 3800, 1000, 60_000)
    verdict = decide_counts(counts, N, K, offline)
    assert verdict.code == "offline" and verdict.source == "decisions"
    assert "12 agents posted on the offline report alone" in verdict.words
    lo, hi = offline.rate()[1:]
    assert 0 < lo < 12 / 900 * 1000 / 60_000 < hi
    silent = OfflineEvidence(900, 0, 3800, 1000, 60_000)
    verdict = decide_counts(counts, N, K, silent)
    assert verdict.code == "network-only"
    assert "stands for agents who differ or unequal degrees" in verdict.words  # α soaks curvature


def test_curves_alone_onset_separates_offline_from_network_spread():
    offline = chain("si2", {"alpha": 0.003, "beta": 0.04}, 2)
    network = chain("si1", {"beta": 0.05}, 3)
    assert onset_test(Curves.from_runs(offline, N, K)).offline
    assert decide_counts(offline, N, K).code == "offline"
    assert decide_counts(network, N, K).code == "network-only"


@pytest.mark.parametrize(
    ("curves", "reason"),
    [
        ([[5, 5, 5, 5, 5, 5]], "never moves"),
        ([[5, 40, 30, 50, 60]], "falls at round 2"),
        ([[5, 9]], "too few rounds"),
        ([[10, N, N, N, N, N]] * 3, "too little data"),
    ],
)
def test_bad_curves_get_no_fit_with_the_reason(curves, reason):
    verdict = decide_counts(curves, N, K)
    assert verdict.code == "no-fit" and reason in verdict.words


def test_a_curve_that_stalls_is_not_given_a_confident_answer():
    rng = np.random.default_rng(4)
    counts = chain("si1", {"beta": 0.06}, 5)
    stalled = np.minimum(counts, int(0.4 * N) + rng.integers(0, 20, (5, 1)))
    verdict = decide_counts(stalled, N, K)
    assert verdict.code == "no-fit" and "misses the curve" in verdict.words
    assert re.fullmatch(r"verdict: no-fit — .+", verdict.line())


def test_dead_runs_are_left_out_and_spread_from_nobody_is_offline():
    counts = chain("si1", {"beta": 0.05}, 6, replicates=4)
    dead = np.vstack([counts, np.zeros((1, counts.shape[1]), dtype=np.int64)])
    verdict = decide_counts(dead, N, K)
    assert verdict.code == "network-only" and any("left out" in e for e in verdict.evidence)
    from_nothing = dead.copy()
    from_nothing[-1] = np.r_[0, np.cumsum(np.full(counts.shape[1] - 1, 3))]
    assert decide_counts(from_nothing, N, K).code == "offline"


@pytest.mark.parametrize(
    ("cell", "allowed_log", "allowed_curves"),
    [
        (Cell("random_regular", "two-classes", 0.0, n=2000), {"network-only"}, NOT_OFFLINE),
        (Cell("barabasi_albert", "illustrative", 0.0, n=2000), {"network-only"}, NOT_OFFLINE),
        (
            Cell("random_regular", "uniform", 0.0035, n=4000),
            {"offline"},
            {"offline", "heterogeneous-or-offline"},
        ),
    ],
)
def test_validation_cells_small(cell, allowed_log, allowed_curves):
    """A small version of bench/validity.py: with the models' assumptions broken (agents who
    differ, hubs), the verdict never claims an offline channel that is not there."""
    with_log, curves = verdict_counts(cell, 3, seed=5)
    assert set(with_log) <= allowed_log, with_log
    assert set(curves) <= allowed_curves, curves


def test_default_intervals_cover_on_agent_based_replicates():
    """Jackknife over replicate runs covers the pseudo-true values; the profile likelihood on
    the same groups does not (it ignores each replicate's random onset)."""
    cell = Cell("random_regular", "uniform", 0.0035, n=2000)
    result = coverage(cell, "si2", 40, seed=3)
    assert result.groups == 40
    for name, hits in result.covered.items():
        assert hits >= 33, (name, hits)  # P(<= 32 of 40 | 95%) < 0.2%
    data = simulate_curves(cell, 3 * 100_003)
    jackknife = fit(data, "si2")
    assert jackknife.ci_method == "jackknife" and fit(data, "si2").ci == jackknife.ci
    single = Curves.from_runs(data.counts[0], data.n, data.k)
    assert fit(single, "si2").ci_method == "profile"  # too few runs for the jackknife
