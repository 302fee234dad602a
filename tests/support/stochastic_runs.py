"""Replicate runs of the stochastic agent model with uniform a and b, for the model tests."""

from __future__ import annotations

import numpy as np

from spreadlab.engine.simulate import Scenario, simulate
from spreadlab.engine.stochastic import ParameterTable, StochasticPolicy
from spreadlab.world.events import catalog
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PersonalityMix


def replicate_counts(
    *,
    n: int,
    k: int,
    a: float,
    b: float,
    q: float,
    n0: int,
    replicates: int = 20,
    rounds: int = 40,
    seed: int = 1,
) -> np.ndarray:
    """Informed counts (replicates, rounds + 1); a run that ended early with everybody informed is
    extended with N (it is complete)."""
    scenario = Scenario(
        event=catalog()["battle-marren-ridge"],
        mix=PersonalityMix.uniform(),
        network=NetworkSpec("random_regular", n, k),
        rounds=rounds,
        q=q,
        n0=n0,
        replicates=replicates,
        seed=seed,
    )
    runs = simulate(scenario, StochasticPolicy(ParameterTable.uniform(a, b)))
    out = np.empty((replicates, rounds + 1), dtype=np.int64)
    for r, run in enumerate(runs):
        curve = run.informed_curve
        assert curve.size == rounds + 1 or curve[-1] == n, "a run stopped before the last round"
        out[r] = np.concatenate([curve, np.full(rounds + 1 - curve.size, n)])
    return out
