"""Fitting: recovery and interval coverage on data from each model, recovery from the stochastic
agent model, model choice, the likelihood-ratio test, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from stochastic_runs import replicate_counts

from spreadlab.analysis.compare import compare, likelihood_ratio_test
from spreadlab.analysis.curves import Curves
from spreadlab.analysis.fit import fit, fit_models
from spreadlab.analysis.models import MODELS
from spreadlab.analysis.synthetic import simulate_counts
from spreadlab.errors import FitError

TRUTH = {
    "si1": [0.05],
    "si2": [0.002, 0.05],
    "si2h": [0.3, 0.12, 0.03],
    "pair": [0.06],
    "pair2": [0.003, 0.06],
    "mf_map": [0.002, 0.05],
    "pair_map": [0.002, 0.05],
    "si1g": [0.05, 0.6],
    "si2g": [0.002, 0.05, 0.6],
    "dbmf": [0.05],
    "dbmf2": [0.002, 0.05],
}
DEGREES = np.bincount(np.random.default_rng(1).poisson(10, 10**6))
"""Degree histogram (Poisson, mean about 10) for the degree-based models."""


def assert_no_nan(result) -> None:
    numbers = [result.loglik, result.aic, result.bic, result.rmse, *result.params.values()]
    numbers += [x for pair in result.ci.values() for x in pair]
    assert all(math.isfinite(x) for x in numbers), result
    assert np.all(np.isfinite(result.residuals))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TRUTH))
def test_recovery_and_interval_coverage_on_data_from_the_model(name):
    """100 curves from the model itself (trajectory + binomial noise per round, N = 10^6, 40
    rounds): every estimate within 5% of the truth, and the 95% profile intervals cover the truth
    in at least 88% of trials, for every parameter."""
    truth = np.array(TRUTH[name])
    n, k, trials = 10**6, 10, 100
    rng = np.random.default_rng(2026)
    covered = np.zeros(truth.size)
    errors = []
    model = MODELS[name].bind(DEGREES)
    for _ in range(trials):
        counts = simulate_counts(model, truth, 40, n, k, n // 200, rng)
        result = fit(Curves.from_runs(counts, n, k, DEGREES), name)
        assert result.converged, result.message
        estimate = np.array(list(result.params.values()))
        errors.append(np.abs(estimate / truth - 1))
        lo, hi = np.array(list(result.ci.values())).T
        covered += (lo <= truth) & (truth <= hi)
    worst = np.max(errors, axis=0)
    coverage = covered / trials
    print(f"{name}: worst relative error {np.round(worst, 4)}, coverage {coverage}")
    assert np.all(worst < 0.05)
    # 95% intervals over 100 trials: P(coverage < 0.88) = 0.3% per parameter, so a family of
    # about 25 parameters fails by chance in under 7% of seeds, while 85% coverage fails
    assert np.all(coverage >= 0.88)
    assert_no_nan(result)


@pytest.fixture(scope="module")
def offline_runs() -> Curves:
    """20 stochastic replicates, N = 10,000, k = 10, a = 0.5, q = 0.004 (q·a = 0.002), b = 0.05."""
    counts = replicate_counts(n=10_000, k=10, a=0.5, b=0.05, q=0.004, n0=20)
    return Curves.from_runs(counts, 10_000, 10)


@pytest.fixture(scope="module")
def network_only_runs() -> Curves:
    """The same without the offline channel (q = 0), from 50 seeds."""
    counts = replicate_counts(n=10_000, k=10, a=0.5, b=0.05, q=0.0, n0=50)
    return Curves.from_runs(counts, 10_000, 10)


def test_discrete_pair_map_recovers_the_agent_models_probabilities(offline_runs):
    fits = fit_models(offline_runs, ["pair_map", "mf_map", "si1", "si2"], ci="none")
    pair = fits["pair_map"].params
    print(
        f"pair map: q·a = {pair['qa']:.5f} (true 0.002), b = {pair['b']:.5f} (true 0.05); "
        f"mean-field map: q·a = {fits['mf_map'].params['qa']:.5f}, "
        f"b = {fits['mf_map'].params['b']:.5f}"
    )
    for name in ("si1", "si2"):
        rates = ", ".join(f"{p} = {v:.5f} per round" for p, v in fits[name].params.items())
        print(f"{name} effective rates: {rates}")
    assert abs(pair["qa"] / 0.002 - 1) < 0.10
    assert abs(pair["b"] / 0.05 - 1) < 0.10
    least_squares = fit(offline_runs, "pair_map", method="lsq").params
    assert abs(least_squares["qa"] / 0.002 - 1) < 0.10
    assert abs(least_squares["b"] / 0.05 - 1) < 0.10
    # the continuous rates are effective rates, not b: a round's delay and informed neighbours
    assert fits["si2"].params["beta"] < 0.9 * 0.05


def test_bic_prefers_one_rate_without_offline_channel_and_two_with_it(
    offline_runs, network_only_runs
):
    without = compare(fit_models(network_only_runs, ["si1", "si2"], ci="none"))
    with_offline = compare(fit_models(offline_runs, ["si1", "si2"], ci="none"))
    print(without[["model", "bic", "delta_bic"]], with_offline[["model", "bic", "delta_bic"]])
    assert without["model"].iloc[0] == "si1"
    assert with_offline["model"].iloc[0] == "si2"


def test_bic_model_choice_on_data_from_the_models():
    rng = np.random.default_rng(7)
    n, k = 10_000, 10
    one = simulate_counts("si1", [0.05], 40, n, k, 20, rng, replicates=3)
    two = simulate_counts("si2", [0.002, 0.05], 40, n, k, 20, rng, replicates=3)
    assert compare(fit_models(one, ["si1", "si2"], n=n, k=k, ci="none"))["model"][0] == "si1"
    assert compare(fit_models(two, ["si1", "si2"], n=n, k=k, ci="none"))["model"][0] == "si2"


def test_likelihood_ratio_test_uses_the_boundary_mixture(offline_runs, network_only_runs):
    fits = fit_models(offline_runs, ["si1", "si2"], ci="none")
    test = likelihood_ratio_test(fits["si1"], fits["si2"])
    assert test.statistic > 100 and test.p_value < 1e-10
    assert "boundary" in test.caveat and "50:50" in test.caveat
    rng = np.random.default_rng(3)
    null = simulate_counts("si1", [0.05], 30, 10_000, 10, 20, rng)
    fits0 = fit_models(null, ["si1", "si2"], n=10_000, k=10, ci="none")
    test0 = likelihood_ratio_test(fits0["si1"], fits0["si2"])
    if test0.statistic > 0:
        assert test0.p_value == pytest.approx(test0.p_value_naive / 2)
    else:
        assert test0.p_value == 1.0
    with pytest.raises(FitError, match="not nested"):
        likelihood_ratio_test(fits["si2"], fits["si1"])
    with pytest.raises(FitError, match="same"):
        likelihood_ratio_test(fits0["si1"], fits["si2"])


def test_least_squares_and_result_fields():
    rng = np.random.default_rng(11)
    counts = simulate_counts("si2", [0.002, 0.05], 40, 10**6, 10, 5000, rng, replicates=2)
    result = fit(counts, "si2", n=10**6, k=10, method="lsq")
    assert result.params["alpha"] == pytest.approx(0.002, rel=0.05)
    assert result.params["beta"] == pytest.approx(0.05, rel=0.05)
    assert result.method == "lsq" and result.n_runs == 2 and result.n_obs == 80
    assert result.residuals.shape == (2, 40)
    assert result.units["beta"].startswith("per round")
    assert result.predict().shape == (41,)
    row = result.row()
    assert {"alpha", "alpha_lo", "alpha_hi", "beta_lo", "aic", "bic", "rmse"} <= set(row)
    assert_no_nan(result)


def test_parametric_bootstrap_is_seeded_and_covers_the_truth():
    rng = np.random.default_rng(5)
    counts = simulate_counts("si1", [0.05], 30, 10**5, 10, 500, rng)
    one = fit(counts, "si1", n=10**5, k=10, ci="bootstrap", n_boot=60, seed=9)
    two = fit(counts, "si1", n=10**5, k=10, ci="bootstrap", n_boot=60, seed=9)
    assert one.ci == two.ci and one.ci_method == "bootstrap"
    lo, hi = one.ci["beta"]
    profile = fit(counts, "si1", n=10**5, k=10).ci["beta"]
    assert lo < 0.05 < hi
    assert hi - lo == pytest.approx(profile[1] - profile[0], rel=0.4)


def test_fits_are_deterministic_and_finite(offline_runs):
    first = fit(offline_runs, "si2h", ci="profile")
    second = fit(offline_runs, "si2h", ci="profile")
    assert first.params == second.params and first.ci == second.ci
    assert_no_nan(first)


def test_alpha_on_the_boundary_is_reported_not_nan(network_only_runs):
    result = fit(network_only_runs, "si2")
    assert result.params["alpha"] < 1e-6
    assert result.ci["alpha"][0] == 0.0
    assert "bound" in result.message
    assert_no_nan(result)


def test_replicates_that_finished_early_are_complete():
    data = Curves.from_runs([[5, 50, 500, 1000], [5, 60, 600, 900, 1000, 1000]], 1000, 4)
    assert data.counts.shape == (2, 6)
    assert list(data.counts[0]) == [5, 50, 500, 1000, 1000, 1000]


@pytest.mark.parametrize(
    ("curves", "model", "message"),
    [
        ([[5, 10, 20]], "si1", "too few rounds"),
        ([[5, 5, 5, 5, 5]], "si1", "never moves"),
        ([[100, 100, 100, 100]], "si1", "everybody is informed"),
        ([[5, 10, float("nan"), 40, 80]], "si1", "non-finite"),
        ([[5, 10, 20, 40, 80], [5, 10, 20]], "si1", "lengths differ"),
        ([[5, 10, 20, 40, 80]], "si9", "unknown model"),
        ([[5, 10, 8, 40, 80]], "si1", "falls at round 2"),
        ([[0, 10, 20, 40, 80]], "si1", "nobody informed"),
        ([[0.01, 0.02, 0.04, 0.08, 0.16]], "si1", "informed counts"),
        ([[5, 10, 20, 40]], "si2h", "too few rounds for si2h"),
        ([], "si1", "no curves"),
    ],
)
def test_bad_input_gives_a_clear_message(curves, model, message):
    with pytest.raises(FitError, match=message):
        fit(curves, model, n=100, k=4)


def test_fit_models_checks_every_name_before_fitting():
    with pytest.raises(FitError, match="unknown model 'sir'"):
        fit_models([[5, 10, 20, 40, 80]], ["si1", "sir"], n=100, k=4)


def test_models_without_offline_term_need_a_degree_they_support():
    with pytest.raises(FitError, match="k >= 2"):
        fit([[5, 10, 20, 40, 80]], "pair", n=100, k=1)
    assert set(MODELS) == set(TRUTH)
