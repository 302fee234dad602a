"""The SI models: closed forms against numerical solves, the discrete maps against independent
implementations, the common interface, and the maps against the stochastic agent model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp
from stochastic_runs import replicate_counts

from spreadlab.analysis.models import MODELS, get_model
from spreadlab.errors import ConfigError

N, T = 10_000, 40
TIMES = np.arange(T + 1.0)


def ode(rhs, y0: list[float]) -> np.ndarray:
    sol = solve_ivp(rhs, (0, T), y0, t_eval=TIMES, method="DOP853", rtol=1e-11, atol=1e-14)
    assert sol.success
    return sol.y


@pytest.mark.parametrize("n0", [1, 50, 2000])
def test_si1_logistic_and_si2_bass_match_a_numerical_solve(n0):
    i0, k = n0 / N, 10
    for alpha, beta in [(0.0, 0.05), (0.003, 0.05), (0.02, 0.01), (0.5, 1e-4)]:
        y = ode(lambda _, y, a=alpha, b=beta: [(a + b * k * y[0]) * (1 - y[0])], [i0])[0]
        assert np.abs(MODELS["si2"].predict([alpha, beta], T, N, k, n0) - y).max() < 1e-9
        if alpha == 0:
            assert np.abs(MODELS["si1"].predict([beta], T, N, k, n0) - y).max() < 1e-9


@pytest.mark.parametrize("k", [2, 3, 4, 10])
@pytest.mark.parametrize("alpha", [0.0, 0.004])
def test_pair_closed_form_matches_the_pair_equations(k, alpha):
    """The reduced Riccati solution against the full (s, [SS], [SI]) system with its closure."""
    tau, i0 = 0.06, 50 / N

    def rhs(_, y):
        s, ss, si = y
        return [
            -tau * si - alpha * s,
            -2 * tau * (k - 1) / k * ss * si / s - 2 * alpha * ss,
            tau * (k - 1) / k * (ss * si - si * si) / s - tau * si + alpha * (ss - si),
        ]

    s0 = 1 - i0
    y = ode(rhs, [s0, k * s0 * (1 - i0), k * s0 * i0])
    model, theta = (MODELS["pair2"], [alpha, tau]) if alpha else (MODELS["pair"], [tau])
    assert np.abs(model.predict(theta, T, N, k, 50) - (1 - y[0])).max() < 1e-9


def test_si2h_matches_a_numerical_solve_of_the_two_classes():
    f, b1, b2, k = 0.3, 0.12, 0.03, 10
    for n0 in (3, 50, 800):
        i0 = n0 / N

        def rhs(_, y):
            i = y[0] + y[1]
            return [b1 * k * i * (f - y[0]), b2 * k * i * (1 - f - y[1])]

        y = ode(rhs, [f * i0, (1 - f) * i0])
        predicted = MODELS["si2h"].predict([f, b1, b2], T, N, k, n0)
        assert np.abs(predicted - (y[0] + y[1])).max() < 1e-7


def pair_counts_reference(qa: float, b: float, k: int, i0: float, rounds: int) -> np.ndarray:
    """The discrete pair map written out on the pair counts (S, I, [SS], [SI]) per agent."""
    s, ss, si = 1 - i0, k * (1 - i0) * (1 - i0), k * (1 - i0) * i0
    out = [1 - s]
    for _ in range(rounds):
        phi = si / (k * s)
        r = (1 - qa) * (1 - b * phi) ** (k - 1)
        s, ss, si = (
            s * (1 - qa) * (1 - b * phi) ** k,
            ss * r * r,
            si * r * (1 - b) + ss * r * (1 - r),
        )
        assert abs(k * s - (ss + si)) < 1e-12  # every neighbour of a susceptible is S or I
        out.append(1 - s)
    return np.array(out)


@pytest.mark.parametrize("k", [2, 4, 10])
def test_discrete_maps_match_direct_iteration(k):
    qa, b, n0 = 0.002, 0.05, 37
    i = n0 / N
    mean_field = [i]
    for _ in range(T):
        i = i + (1 - i) * (1 - (1 - qa) * (1 - b * i) ** k)
        mean_field.append(i)
    assert np.abs(MODELS["mf_map"].predict([qa, b], T, N, k, n0) - mean_field).max() < 1e-12
    reference = pair_counts_reference(qa, b, k, n0 / N, T)
    assert np.abs(MODELS["pair_map"].predict([qa, b], T, N, k, n0) - reference).max() < 1e-12


def test_every_model_states_units_and_bounds():
    for name, model in MODELS.items():
        assert model.name == name and model.title and model.equations
        assert model.time in ("continuous", "discrete")
        for p in model.params:
            assert p.unit and p.description and p.lower < p.upper
            unit = p.unit.lower()
            if model.time == "discrete":
                assert "probability" in unit
            else:
                assert "rate" in unit or "fraction" in unit or "dimensionless" in unit


def test_predict_rows_follow_the_round_zero_counts():
    out = MODELS["pair_map"].predict({"qa": 0.002, "b": 0.05}, 10, N, 10, np.array([5, 50, 50]))
    assert out.shape == (3, 11)
    np.testing.assert_allclose(out[:, 0], [5 / N, 50 / N, 50 / N])
    np.testing.assert_array_equal(out[1], out[2])


def test_bad_model_input_is_refused():
    with pytest.raises(ConfigError, match="unknown model"):
        get_model("si3")
    with pytest.raises(ConfigError, match="outside"):
        MODELS["si2"].predict([-0.1, 0.05], 10, N, 10, 5)
    with pytest.raises(ConfigError, match="missing"):
        MODELS["si2"].predict({"beta": 0.05}, 10, N, 10, 5)
    with pytest.raises(ConfigError, match="everybody"):
        MODELS["si1"].predict([0.05], 10, N, 10, N)
    with pytest.raises(ConfigError, match="k >= 2"):
        MODELS["pair"].predict([0.05], 10, N, 1, 5)


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(MODELS)),
    u=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3),
    n0=st.integers(1, N - 1),
    k=st.integers(2, 30),
)
def test_predictions_are_fractions_that_never_fall(name, u, n0, k):
    model = MODELS[name].bind(np.bincount([1, k, k, 3 * k]))
    theta = []
    for p, x in zip(model.params, u, strict=False):
        if p.scale == "linear":
            theta.append(0.5 * x if p.name != "v" else 20 * x)
        elif p.scale == "logit":
            theta.append(0.01 + 0.98 * x)
        else:
            theta.append(10 ** (-4 + 3.5 * x) if model.time == "continuous" else 0.9 * x + 1e-4)
    out = model.predict(theta, 30, N, k, n0)
    assert out[0] == pytest.approx(n0 / N)
    assert np.all(np.isfinite(out)) and np.all((out >= 0) & (out <= 1))
    assert np.all(np.diff(out) >= -1e-12)


@pytest.mark.parametrize(("k", "b"), [(4, 0.12), (10, 0.05)])
def test_pair_map_tracks_the_stochastic_mean_better_than_mean_field(k, b):
    """True parameters plugged in: 20 replicates on a 10,000-agent k-regular graph."""
    q, a = 0.004, 0.5
    counts = replicate_counts(n=N, k=k, a=a, b=b, q=q, n0=20, replicates=20, rounds=40)
    mean = counts.mean(axis=0) / N
    errors = {
        name: float(
            np.abs(MODELS[name].predict([q * a, b], 40, N, k, counts[:, 0]).mean(0) - mean).max()
        )
        for name in ("pair_map", "mf_map")
    }
    print(
        f"k={k}: max |model - stochastic mean|: pair map {errors['pair_map']:.4f}, "
        f"mean-field map {errors['mf_map']:.4f}"
    )
    assert mean[-1] > 0.95  # the comparison covers the whole rise
    assert errors["pair_map"] < 0.02
    assert errors["pair_map"] < errors["mf_map"]
