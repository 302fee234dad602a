"""The conditional (one-round-ahead) likelihood: each round's new posters given the fraction
observed at its start. It suits chain-binomial data, where each replicate wanders off the mean
trajectory, which the open-loop binomial likelihood reads as misfit."""

import numpy as np
import pytest

from spreadlab.analysis.curves import Curves
from spreadlab.analysis.fit import fit
from spreadlab.analysis.likelihood import CONDITIONAL_MODELS
from spreadlab.analysis.synthetic import simulate_counts
from spreadlab.engine.simulate import Scenario, simulate
from spreadlab.engine.stochastic import ParameterTable, StochasticPolicy
from spreadlab.errors import FitError
from spreadlab.world.events import catalog
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PRESETS


def coverage(fits, truth):
    return {k: np.mean([f.ci[k][0] <= v <= f.ci[k][1] for f in fits]) for k, v in truth.items()}


@pytest.mark.slow
def test_conditional_fit_recovers_and_covers_on_chain_binomial_data():
    rng = np.random.default_rng(1)
    truth = {"alpha": 0.01, "beta": 0.05}
    fits = {"conditional": [], "binomial": []}
    for _ in range(60):
        counts = simulate_counts("si2", truth, 30, 20_000, 10.0, [20] * 5, rng, 5, closed_loop=True)
        data = Curves.from_runs(counts, 20_000, 10.0)
        for method in fits:
            fits[method].append(fit(data, "si2", method=method, ci="profile"))
    errors = np.array(
        [[f.params[k] / v - 1 for k, v in truth.items()] for f in fits["conditional"]]
    )
    assert np.abs(errors.mean(axis=0)).max() < 0.01  # unbiased
    assert np.abs(errors).max() < 0.10
    covered = coverage(fits["conditional"], truth)
    open_loop = coverage(fits["binomial"], truth)
    print("coverage conditional", covered, "binomial", open_loop)
    assert min(covered.values()) >= 0.85
    assert all(covered[k] > open_loop[k] for k in truth)


@pytest.mark.slow
def test_conditional_mean_field_map_covers_the_agent_model_on_a_dense_graph():
    """On a dense random graph the mean-field map is the right model of the agent-based process;
    its conditional intervals then cover the simulator's own q·a and b, open-loop ones do not."""
    event = catalog()["battle-marren-ridge"]
    a, b, q = 0.2, 0.005, 0.05
    policy = StochasticPolicy(ParameterTable.uniform(a, b))
    fits = {"conditional": [], "binomial": []}
    for trial in range(40):
        scenario = Scenario(
            event,
            PRESETS["uniform"],
            NetworkSpec(n=2000, k=100),
            rounds=25,
            q=q,
            n0=10,
            replicates=5,
            seed=trial,
        )
        curves = [r.informed_curve for r in simulate(scenario, policy)]
        data = Curves.from_runs(curves, 2000, 100.0)
        for method in fits:
            fits[method].append(fit(data, "mf_map", method=method, ci="profile"))
    truth = {"qa": q * a, "b": b}
    covered, open_loop = coverage(fits["conditional"], truth), coverage(fits["binomial"], truth)
    print("coverage conditional", covered, "binomial", open_loop)
    assert min(covered.values()) >= 0.75
    assert all(covered[k] > open_loop[k] for k in truth)


def test_conditional_needs_a_model_whose_state_is_the_informed_fraction():
    counts = simulate_counts(
        "si2", {"alpha": 0.01, "beta": 0.05}, 20, 5000, 8.0, 10, np.random.default_rng(0)
    )
    data = Curves.from_runs(counts, 5000, 8.0)
    assert set(CONDITIONAL_MODELS) == {"si1", "si2", "mf_map"}
    for model in ("pair_map", "pair2", "si2h"):
        with pytest.raises(FitError, match="tracks more than the informed fraction"):
            fit(data, model, method="conditional")
    result = fit(data, "si2", method="conditional", ci="bootstrap", n_boot=40, seed=3)
    assert result.method == "conditional"
    assert all(lo <= result.params[k] <= hi for k, (lo, hi) in result.ci.items())
