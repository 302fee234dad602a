"""Trait effects learned from decision logs: recovery, calibrated standard errors, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

from spreadlab.analysis.trait_effects import decision_log, fit_trait_effects
from spreadlab.engine.simulate import Scenario, simulate
from spreadlab.engine.stochastic import ParameterTable, StochasticPolicy
from spreadlab.errors import DataFormatError
from spreadlab.world.events import EVENT_TYPES, catalog
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import TRAITS, PersonalityMix, trait_matrix

# Known log-odds ratios (high vs low) per trait, and event-type shifts (battles = 0).
TRAIT_A = np.array([0.3, -0.7, 0.9, -0.2, 0.6])
TRAIT_B = np.array([0.2, -0.5, 0.8, -0.1, 0.5])
EVENT_A = np.array([0.0, 0.7, 0.9, -0.6, 0.2, -0.9])
EVENT_B = EVENT_A / 2
BASE_A, BASE_B = -1.8, -3.3


def known_table() -> ParameterTable:
    traits = trait_matrix().astype(float)
    a = special.expit(BASE_A + (traits @ TRAIT_A)[:, None] + EVENT_A[None, :])
    b = special.expit(BASE_B + (traits @ TRAIT_B)[:, None] + EVENT_B[None, :])
    return ParameterTable(a, b, "test: known logistic trait effects")


def run_log(event_id: str, seed: int, n: int = 5000, mix: PersonalityMix | None = None):
    event = catalog()[event_id]
    scenario = Scenario(
        event=event,
        mix=mix or PersonalityMix.uniform(),
        network=NetworkSpec("random_regular", n, 10),
        rounds=30,
        q=0.05,
        n0=10,
        seed=seed,
    )
    (result,) = simulate(scenario, StochasticPolicy(known_table()))
    return decision_log(result, event.type)


def trait_z(effects) -> np.ndarray:
    z = []
    for channel, truth in (("a", TRAIT_A), ("b", TRAIT_B)):
        for t, true in zip(TRAITS, truth, strict=True):
            estimate, se = effects.effect(channel, t)
            z.append((estimate - true) / se)
    return np.array(z)


def test_trait_effects_recovered_from_a_5000_agent_run():
    log = run_log("battle-marren-ridge", seed=0)
    effects = fit_trait_effects(log)
    z = trait_z(effects)
    print(
        f"{len(log)} decisions; (estimate - truth) / SE for a: {np.round(z[:5], 2)}, "
        f"b: {np.round(z[5:], 2)}"
    )
    assert effects.converged
    # Ten effects: under correct standard errors each lies within 2 SE with probability 0.95,
    # so all ten do only ~60% of the time. Require 9 of 10 within 2 SE and all within 3 SE.
    assert np.sum(np.abs(z) <= 2) >= 9
    assert np.all(np.abs(z) <= 3)


def test_standard_errors_are_calibrated_across_runs():
    z = np.concatenate(
        [trait_z(fit_trait_effects(run_log("battle-marren-ridge", s, 2000))) for s in range(1, 9)]
    )
    print(f"80 z-scores: mean {z.mean():.2f}, sd {z.std():.2f}, within 2: {np.mean(abs(z) <= 2)}")
    assert abs(z.mean()) < 0.35
    assert 0.75 < z.std() < 1.3
    assert np.mean(np.abs(z) <= 2) >= 0.88


def test_standard_errors_match_the_observed_information_of_the_raw_log():
    """An independent Bernoulli likelihood on the unaggregated decisions, differentiated
    numerically, gives the same standard errors."""
    log = run_log("battle-marren-ridge", seed=3, n=2000)
    effects = fit_trait_effects(log)
    table = effects.table
    theta = table["estimate"].to_numpy()
    x = np.column_stack([np.ones(len(log)), trait_matrix()[log["profile"]].astype(float)])
    o, m, post = log["offline"].to_numpy(float), log["m"].to_numpy(float), log["post"].to_numpy()

    def loglik(th: np.ndarray) -> float:
        a, b = special.expit(x @ th[:6]), special.expit(x @ th[6:])
        p = 1 - (1 - a * o) * (1 - b) ** m
        return float(np.sum(np.where(post, np.log(p), np.log1p(-p))))

    h, size = 1e-4, theta.size
    hess = np.empty((size, size))
    for i in range(size):
        for j in range(size):
            e_i, e_j = np.eye(size)[i] * h, np.eye(size)[j] * h
            hess[i, j] = (
                loglik(theta + e_i + e_j)
                - loglik(theta + e_i - e_j)
                - loglik(theta - e_i + e_j)
                + loglik(theta - e_i - e_j)
            ) / (4 * h * h)
    se = np.sqrt(np.diag(np.linalg.inv(-hess)))
    np.testing.assert_allclose(table["se"].to_numpy(), se, rtol=1e-3)
    assert effects.loglik == pytest.approx(loglik(theta), rel=1e-9)


def test_event_type_effects_from_pooled_runs():
    logs = [
        run_log(e, seed=i, n=3000)
        for i, e in enumerate(["battle-marren-ridge", "protest-fuel-price", "riot-stadium-brask"])
    ]
    ids = [catalog()[e].type for e in ["protest-fuel-price", "riot-stadium-brask"]]
    effects = fit_trait_effects(pd.concat(logs, ignore_index=True))
    assert effects.baseline_event == "battles"
    for event_type in ids:
        j = EVENT_TYPES.index(event_type)
        for channel, truth in (("a", EVENT_A[j]), ("b", EVENT_B[j])):
            estimate, se = effects.effect(channel, f"event:{event_type}")
            assert abs(estimate - truth) < 3 * se


def test_invalid_rows_are_excluded():
    log = run_log("battle-marren-ridge", seed=4, n=1500)
    clean = fit_trait_effects(log)
    noisy = log.copy()
    junk = noisy.sample(300, random_state=1).assign(post=True, valid=False)
    noisy = pd.concat([noisy, junk], ignore_index=True)
    mixed = fit_trait_effects(noisy)
    assert mixed.n_excluded == 300 and mixed.n_decisions == len(log) + 300
    np.testing.assert_allclose(mixed.table["estimate"], clean.table["estimate"], rtol=1e-8)


def test_a_trait_without_variation_is_reported_not_estimable():
    everyone_extravert = PersonalityMix.from_trait_probabilities({"E": 1.0})
    log = run_log("battle-marren-ridge", seed=5, n=1500, mix=everyone_extravert)
    effects = fit_trait_effects(log)
    assert not effects.table.set_index(["channel", "term"]).loc[("b", "E"), "estimable"]
    assert "b:E" in effects.message
    with pytest.raises(KeyError):
        effects.effect("b", "E")
    effects.effect("b", "N")


def test_integer_event_codes_and_booleans_are_accepted():
    log = run_log("battle-marren-ridge", seed=6, n=1500)
    coded = log.assign(event_type=0, offline=log["offline"].astype(int))
    np.testing.assert_allclose(
        fit_trait_effects(coded).table["estimate"], fit_trait_effects(log).table["estimate"]
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.drop(columns="m"), "missing column 'm'"),
        (lambda d: d.assign(m=d["m"].astype(float).where(d.index != 3)), "missing at row 3"),
        (lambda d: d.assign(profile=40), "profile must be a code"),
        (lambda d: d.assign(event_type="earthquake"), "unknown or missing event type"),
        (lambda d: d.assign(offline=False, m=0, post=True), "neither reached offline"),
        (lambda d: d.assign(m=-1), "whole number"),
        (lambda d: d.iloc[:0], "empty"),
        (lambda d: d.assign(valid=False), "no valid consultation"),
    ],
)
def test_bad_logs_are_refused(change, message):
    log = run_log("battle-marren-ridge", seed=7, n=500)
    with pytest.raises(DataFormatError, match=message):
        fit_trait_effects(change(log))
