"""The batched replicate engine against the single-run engine it must agree with."""

import numpy as np
import pytest

from spreadlab.engine.replicates import simulate_replicates
from spreadlab.engine.simulate import Scenario, simulate
from spreadlab.engine.stochastic import ParameterTable, StochasticPolicy
from spreadlab.errors import ConfigError
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PRESETS


def scenario(event, **changes):
    base = {
        "event": event,
        "mix": PRESETS["extraverted"],
        "network": NetworkSpec(n=600, k=6),
        "rounds": 40,
        "q": 0.0,
        "n0": 4,
        "replicates": 6,
        "seed": 3,
        "stop_fraction": None,
    }
    return Scenario(**{**base, **changes})


@pytest.mark.parametrize(
    ("changes", "table"),
    [
        ({}, None),
        ({"q": 0.02, "stop_fraction": 0.8}, None),
        ({"network": NetworkSpec(kind="erdos_renyi", n=500, k=4), "q": 0.01}, None),
        ({"rounds": 3}, ParameterTable.uniform(1.0, 0.05)),
        ({}, ParameterTable.uniform(0.3, 0.0)),
    ],
)
def test_each_replicate_equals_the_single_run_engine(event, changes, table):
    """Same plans, same generator order: every curve is identical, whatever the batch size."""
    sc = scenario(event, **changes)
    runs = simulate(sc, StochasticPolicy(table))
    for batch_agents in (1, 10**6):
        got = simulate_replicates(sc, table, batch_agents=batch_agents)
        for i, run in enumerate(runs):
            curve = run.informed_curve
            assert got.last_round[i] == curve.size - 1
            assert np.array_equal(got.counts[i, : curve.size], curve)
            assert np.all(got.counts[i, curve.size :] == curve[-1])


def test_mean_curve_matches_single_run_engine_within_ci(event):
    """Independent seeds: the mean informed fraction per round agrees within a 99.9% band."""
    table = ParameterTable.uniform(1.0, 0.05)
    common = {"network": NetworkSpec(n=2000, k=10), "rounds": 30, "n0": 5, "replicates": 150}
    batched = simulate_replicates(scenario(event, seed=11, **common), table).fraction
    single = simulate(scenario(event, seed=12, **common), StochasticPolicy(table))
    width = common["rounds"] + 1  # runs that inform everyone stop early: hold their last value
    engines = [
        np.array([np.pad(row, (0, width - row.size), mode="edge") for row in curves])
        for curves in (batched, [run.informed_fraction for run in single])
    ]
    means = [f.mean(axis=0) for f in engines]
    sems = [f.std(axis=0, ddof=1) / np.sqrt(f.shape[0]) for f in engines]
    band = 3.3 * np.hypot(*sems) + 1e-12
    gap = np.abs(means[0] - means[1])
    assert np.all(gap <= band), np.max(gap / band)
    assert 0.2 < means[0][15] < 0.95  # the comparison covers the steep part of the curve


def test_rounds_to_and_mean_fraction(event):
    curves = simulate_replicates(scenario(event, q=0.05), None)
    first = curves.rounds_to(0.5)
    for i, r in enumerate(first):
        assert r == -1 or (curves.counts[i, r] >= 300 and (r == 0 or curves.counts[i, r - 1] < 300))
    mean, sem = curves.mean_fraction()
    assert mean.shape == sem.shape == (curves.counts.shape[1],)


def test_bad_batch_size_is_refused(event):
    with pytest.raises(ConfigError, match="batch_agents"):
        simulate_replicates(scenario(event), None, batch_agents=0)
