"""Weak SINDy on informed-fraction curves, next to the SI-1 / SI-2 fits."""

from __future__ import annotations

import numpy as np
import pytest

from spreadlab.analysis.curves import Curves
from spreadlab.analysis.equations import implied_coefficients, learn_equation
from spreadlab.analysis.fit import fit
from spreadlab.analysis.synthetic import simulate_counts
from spreadlab.errors import FitError

N = 10**6


def model_curves(name: str, params: list[float], n0: int, rounds: int = 50) -> Curves:
    counts = simulate_counts(name, params, rounds, N, 10, n0, np.random.default_rng(4))
    return Curves.from_runs(counts, N, 10)


def test_two_rate_curve_asks_for_a_constant_term():
    """SI-2 with alpha = 0.01, beta·k = 0.49: di/dt = 0.01 + 0.48·i - 0.49·i^2."""
    data = model_curves("si2", [0.01, 0.049], n0=1)
    eq = learn_equation(data)
    print(eq.text)
    print(eq.comparison)
    assert eq.selected == ("1", "i", "i^2")
    for term, truth in {"1": 0.01, "i": 0.48, "i^2": -0.49}.items():
        assert eq.coefficients[term] == pytest.approx(truth, rel=0.05)
    si2 = eq.comparison.set_index("term")["si2"]
    assert si2["1"] == pytest.approx(0.01, rel=0.05)
    assert eq.comparison.set_index("term").loc["1", "si1"] == 0.0


def test_one_rate_curve_needs_no_constant_term():
    eq = learn_equation(model_curves("si1", [0.05], n0=5000, rounds=40))
    print(eq.text)
    assert eq.selected == ("i", "i^2")
    assert eq.coefficients["i"] == pytest.approx(0.5, rel=0.05)
    c = eq.coefficients
    assert eq.text == f"di/dt = {c['i']:.4f}·i - {-c['i^2']:.4f}·i^2"


def test_implied_coefficients_of_given_fits_are_used():
    data = model_curves("si2", [0.01, 0.049], n0=1)
    fits = {"si1": fit(data, "si1", ci="none"), "si2": fit(data, "si2", ci="none")}
    eq = learn_equation(data, fits=fits)
    table = eq.comparison.set_index("term")
    for name in ("si1", "si2"):
        for term, value in implied_coefficients(fits[name]).items():
            assert table.loc[term, name] == value
    with pytest.raises(FitError, match="no polynomial form"):
        implied_coefficients(fit(data, "pair_map", ci="none"))


def test_learning_is_seeded_and_leaves_the_global_generator_alone():
    data = model_curves("si2", [0.01, 0.049], n0=1)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first = learn_equation(data, seed=1)
    assert np.array_equal(np.random.get_state()[1], before)
    assert learn_equation(data, seed=1).coefficients == first.coefficients


def test_too_short_curves_are_refused():
    data = Curves.from_runs([[5, 10, 20, 40, 80, 160]], 1000, 4)
    with pytest.raises(FitError, match="too few"):
        learn_equation(data)
    with pytest.raises(FitError, match="threshold"):
        learn_equation(model_curves("si1", [0.05], n0=5000), threshold=-1)
