"""Validating a calibrated table: does the surrogate reproduce the model's own spread?

The same scenario is run directly with the LLM (small N, at least five replicates) and, many
times, with the table. The surrogate reproduces the model's spread when its mean informed-fraction
curve lies inside the LLM replicates' pointwise 95% range at every round. Five replicates cannot
give a 95% range by their percentiles (their own minimum and maximum miss a new replicate one time
in three), so the range is the normal prediction interval of one more replicate,
mean ± t(0.975, n-1)·sd·sqrt(1 + 1/n), with sd at least one agent (1/N). The discrepancy is also
given in units of replicate-to-replicate spread: the largest |surrogate mean - LLM mean| over the
rounds, divided by the LLM replicates' standard deviation at that round.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from spreadlab.engine.policy import Policy
from spreadlab.engine.replicates import simulate_replicates
from spreadlab.engine.simulate import Scenario, simulate
from spreadlab.engine.stochastic import ParameterTable
from spreadlab.errors import ConfigError
from spreadlab.lazy import lazy_import
from spreadlab.store.runs import RunStore
from spreadlab.world.events import Event, catalog
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PersonalityMix

stats = lazy_import("scipy.stats")

MIN_LLM_REPLICATES = 5


@dataclass(frozen=True)
class SurrogateCheck:
    """Curves (informed fraction after rounds 0..T-1) and the verdict's numbers."""

    llm: np.ndarray
    surrogate_mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    discrepancy: float

    @property
    def outside(self) -> np.ndarray:
        """Rounds where the surrogate mean leaves the LLM replicates' range."""
        return np.flatnonzero((self.surrogate_mean < self.lo) | (self.surrogate_mean > self.hi))

    @property
    def reproduces(self) -> bool:
        return self.outside.size == 0

    def verdict(self) -> str:
        """The answer in words."""
        spread = f"largest gap {self.discrepancy:.1f} replicate standard deviations"
        if self.reproduces:
            return (
                f"the surrogate reproduces this model's spread: its mean curve stays inside the "
                f"pointwise 95% range of {len(self.llm)} LLM replicates at every round ({spread})"
            )
        rounds = ", ".join(str(r) for r in self.outside[:8].tolist())
        side = (
            "below"
            if np.any(self.surrogate_mean[self.outside] < self.lo[self.outside])
            else "above"
        )
        return (
            f"the surrogate does NOT reproduce this model's spread: its mean curve leaves the "
            f"LLM replicates' range ({side} it) at round(s) {rounds} ({spread}). The agents may "
            "react to what posts say, not only to how many neighbours posted, or the table may "
            "be wrong for this scenario"
        )


def _padded(curves: list[np.ndarray], length: int) -> np.ndarray:
    """Curves of runs that stopped early, held at their last value up to ``length`` rounds."""
    return np.array([np.pad(c, (0, length - c.size), mode="edge") for c in curves])


def check_surrogate(
    scenario: Scenario,
    policy: Policy,
    table: ParameterTable,
    surrogate_replicates: int = 200,
    on_progress: Callable[[int, int], None] | None = None,
) -> SurrogateCheck:
    """Run ``scenario`` with ``policy`` (the LLM; ``scenario.replicates`` >= 5) and with
    ``table`` (``surrogate_replicates`` runs from another seed), and compare their curves.
    ``on_progress(done, total)`` follows the LLM's rounds (a replicate may end early)."""
    if scenario.replicates < MIN_LLM_REPLICATES:
        raise ConfigError(
            f"validation needs at least {MIN_LLM_REPLICATES} LLM replicates to see their "
            f"spread; got {scenario.replicates}"
        )
    n = scenario.network.n
    length = scenario.rounds + 1
    total, done = scenario.replicates * length, 0

    def counted(*_: object) -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(done, total)

    llm = _padded([r.informed_fraction for r in simulate(scenario, policy, counted)], length)
    other = replace(scenario, replicates=surrogate_replicates, seed=scenario.seed + 1)
    surrogate = simulate_replicates(other, table).fraction
    mean = _padded(list(surrogate), length).mean(axis=0)
    k = len(llm)
    sd = np.maximum(llm.std(axis=0, ddof=1), 1.0 / n)
    half = float(stats.t.ppf(0.975, k - 1)) * sd * np.sqrt(1 + 1 / k)
    centre = llm.mean(axis=0)
    gap = float(np.max(np.abs(mean - centre) / sd))
    return SurrogateCheck(llm, mean, centre - half, centre + half, gap)


def event_scenario(event: Event, n: int, replicates: int, seed: int) -> Scenario:
    """The scenario validating a table on ``event``: a uniform mix on a random-regular k = 8
    network of ``n`` agents, q = 0.02, 5 seed agents, 15 rounds (``--validate EVENT_ID``)."""
    return Scenario(
        event=event,
        mix=PersonalityMix.uniform(),
        network=NetworkSpec("random_regular", n=n, k=8),
        rounds=15,
        q=0.02,
        n0=5,
        replicates=replicates,
        seed=seed,
    )


def stored_scenario(store: RunStore, scenario_id: str, n: int, replicates: int) -> Scenario:
    """Stored scenario ``scenario_id`` (event, mix, network kind and degree, q, rounds, seed) at
    ``n`` agents and ``replicates`` replicates, its seed agents scaled to the same share of N (at
    least one): the LLM replicates of a validation stay small whatever N the scenario had."""
    run_ids = store.scenario_runs(scenario_id)
    if not run_ids:
        raise ConfigError(
            f"validate {scenario_id!r}: no stored scenario or catalog event has that id "
            "(the list of stored runs shows the scenarios, 'spreadlab events' the events)",
            setting="validate",
        )
    meta = store.run_meta(run_ids[0])
    params = json.loads(meta["network_params"])
    kind = str(meta["network_kind"])
    degree = {
        "random_regular": lambda: params["k"],
        "watts_strogatz": lambda: params["k"],
        "erdos_renyi": lambda: round(params["mean_degree"]),
        "barabasi_albert": lambda: 2 * params["m"],
    }
    if kind not in degree:
        raise ConfigError(
            f"validate {scenario_id!r}: a {kind} network cannot be rebuilt at another N; "
            f"validate with its event instead ({meta['event_id']})",
            setting="validate",
        )
    event = Event(
        id=meta["event_id"],
        type=meta["event_type"],
        title=meta["event_title"] or "",
        report=meta["event_report"],
    )
    bundled = catalog().get(event.id)
    return Scenario(
        event=bundled if bundled is not None and bundled.report == event.report else event,
        mix=PersonalityMix(meta["mix_name"], tuple(json.loads(meta["mix_weights"]))),
        network=NetworkSpec(kind, n=n, k=int(degree[kind]()), rewire=params.get("rewire", 0.1)),
        rounds=int(meta["rounds_max"]),
        q=float(meta["q"]),
        n0=max(1, round(int(meta["n0"]) * n / int(meta["n_agents"]))),
        replicates=replicates,
        seed=int(meta["seed"]),
        stop_fraction=params.get("stop_fraction"),
    )
