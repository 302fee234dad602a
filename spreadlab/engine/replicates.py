"""Many replicates of one scenario at once, for the stochastic policy.

:func:`simulate_replicates` plays the round process of :mod:`spreadlab.engine.simulate` for a whole
batch of replicates together: their networks are laid side by side as one block-diagonal CSR
network, so a round costs a few numpy calls for the batch instead of a few per replicate.

Each replicate keeps the network, profiles and generator that
:func:`~spreadlab.engine.simulate.plan_replicates` gives it, and draws from its generator in the
same order as :class:`~spreadlab.engine.simulate.Simulation` (seed choice, offline reach, then one
uniform per consulted agent), so every curve equals the one
``simulate(scenario, StochasticPolicy(table))`` gives for that replicate, whatever the batch
size. Only the informed counts are kept, not the consultation log: use
:func:`~spreadlab.engine.simulate.simulate` or the runner when the decisions are needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spreadlab.engine.policy import ProbabilisticPolicy
from spreadlab.engine.simulate import (
    ReplicatePlan,
    Scenario,
    _add_neighbour_counts,
    plan_replicates,
)
from spreadlab.engine.stochastic import ParameterTable, StochasticPolicy
from spreadlab.errors import ConfigError
from spreadlab.world.networks import Network

_FROZEN = -2  # posted_round of a susceptible agent whose replicate has stopped


@dataclass(frozen=True)
class ReplicateCurves:
    """Informed counts of R replicates after each round 0..T-1, shape (R, T).

    A replicate that stopped before the last round keeps its final count in the later columns;
    ``last_round[i]`` is the last round replicate ``i`` actually played.
    """

    counts: np.ndarray
    last_round: np.ndarray
    n: int

    @property
    def fraction(self) -> np.ndarray:
        """Informed fraction, shape (R, T)."""
        return self.counts / self.n

    def mean_fraction(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean informed fraction per round and its standard error over replicates."""
        frac = self.fraction
        if frac.shape[0] < 2:
            return frac.mean(axis=0), np.zeros(frac.shape[1])
        return frac.mean(axis=0), frac.std(axis=0, ddof=1) / np.sqrt(frac.shape[0])

    def rounds_to(self, fraction: float) -> np.ndarray:
        """First round at which each replicate had ``>= fraction·N`` informed (-1: never)."""
        reached = self.counts >= fraction * self.n
        return np.where(reached.any(axis=1), reached.argmax(axis=1), -1)


def simulate_replicates(
    scenario: Scenario,
    table: ParameterTable | None = None,
    *,
    batch_agents: int = 250_000,
) -> ReplicateCurves:
    """Informed curves of every replicate of ``scenario`` under the stochastic policy.

    Parameters
    ----------
    scenario : Scenario
        Network, event, mix, rounds, offline reach ``q`` (per-round probability), seeds ``n0``,
        replicates and seed, exactly as for :func:`~spreadlab.engine.simulate.simulate`.
    table : ParameterTable, optional
        Per-round posting probabilities ``a`` and ``b`` (default: the illustrative table).
    batch_agents : int
        About how many agents (replicates × N) to simulate together. It bounds memory (roughly
        ``batch_agents·(8·k + 100)`` bytes) and does not change the result; batches that stay
        in the CPU cache run fastest.

    Returns
    -------
    ReplicateCurves
        The curves :func:`~spreadlab.engine.simulate.simulate` gives with the stochastic policy.

    Cost: O(rounds · R·N) vector work plus building R networks; 1,000 replicates of
    N = 10,000 (k = 10, b = 0.05, to 99% informed) take about 5 s (docs/performance.md).

    Examples
    --------
    >>> from spreadlab.engine.simulate import Scenario
    >>> from spreadlab.world.events import catalog
    >>> from spreadlab.world.networks import NetworkSpec
    >>> from spreadlab.world.personas import parse_mix
    >>> scenario = Scenario(catalog()["battle-marren-ridge"], parse_mix("uniform"),
    ...                     NetworkSpec(n=1000, k=8), q=0.01, replicates=2, seed=7)
    >>> curves = simulate_replicates(scenario)
    >>> curves.counts.shape, curves.counts[:, -1].tolist()
    ((2, 31), [995, 985])
    """
    if batch_agents < 1:
        raise ConfigError(f"batch_agents = {batch_agents}: give a positive number of agents")
    policy = StochasticPolicy(table)
    counts: list[np.ndarray] = []
    last: list[np.ndarray] = []
    batch: list[ReplicatePlan] = []
    n = 0
    for plan in plan_replicates(scenario):
        if batch and plan.network.n != n:
            raise ConfigError("replicates of one scenario must have the same number of agents")
        n = plan.network.n
        batch.append(plan)
        if len(batch) * n >= batch_agents:
            _collect(_run_batch(batch, scenario, policy), counts, last)
            batch = []
    if batch:
        _collect(_run_batch(batch, scenario, policy), counts, last)
    width = max(c.shape[1] for c in counts)
    padded = [np.pad(c, ((0, 0), (0, width - c.shape[1])), mode="edge") for c in counts]
    return ReplicateCurves(np.vstack(padded), np.concatenate(last), n)


def _collect(
    result: tuple[np.ndarray, np.ndarray], counts: list[np.ndarray], last: list[np.ndarray]
) -> None:
    counts.append(result[0])
    last.append(result[1])


def _side_by_side(networks: list[Network]) -> Network:
    """The disjoint union of equally sized networks; replicate i owns agents i·N..(i+1)·N-1."""
    n = networks[0].n
    if len(networks) * n > np.iinfo(np.int32).max:
        raise ConfigError("batch too large for int32 agent ids; lower batch_agents")
    starts = np.cumsum([0] + [net.indices.size for net in networks[:-1]])
    shifted = [net.indptr[1:] + start for net, start in zip(networks, starts, strict=True)]
    indptr = np.concatenate([np.zeros(1, dtype=np.int64), *shifted])
    indices = np.concatenate([net.indices + i * n for i, net in enumerate(networks)])
    return Network(n=n * len(networks), indptr=indptr, indices=indices, kind="replicates")


def _draw(plans: list[ReplicatePlan], agents: np.ndarray, n: int) -> np.ndarray:
    """One uniform per agent (sorted ids), each from its own replicate's generator."""
    bounds = np.searchsorted(agents, np.arange(len(plans) + 1) * n)
    out = np.empty(agents.size)
    for i in np.flatnonzero(bounds[1:] > bounds[:-1]):
        out[bounds[i] : bounds[i + 1]] = plans[i].rng.random(bounds[i + 1] - bounds[i])
    return out


def _run_batch(
    plans: list[ReplicatePlan], scenario: Scenario, policy: ProbabilisticPolicy
) -> tuple[np.ndarray, np.ndarray]:
    """Play a batch of replicates to the end; their (R, T) informed counts and last rounds."""
    size, n, q = len(plans), plans[0].network.n, scenario.q
    if scenario.n0 > n:
        raise ConfigError(f"n0 = {scenario.n0} seeds exceed N = {n} agents")
    network = _side_by_side([plan.network for plan in plans])
    policy.prepare(np.concatenate([plan.profiles for plan in plans]), scenario.event)
    cap = np.repeat([int(plan.network.degrees.max()) for plan in plans], n).astype(np.int32)
    everyone = np.arange(network.n)
    able = policy.post_probability(everyone, np.full(network.n, q > 0), cap) > 0
    posted = np.full(network.n, -1, dtype=np.int32)
    m = np.zeros(network.n, dtype=np.int32)
    informed = np.zeros(size, dtype=np.int64)
    active = np.ones(size, dtype=bool)
    last = np.zeros(size, dtype=np.int64)
    history = []
    r = 0
    while True:
        if r == 0:
            picks = [np.sort(plan.rng.choice(n, size=scenario.n0, replace=False)) for plan in plans]
            agents = np.concatenate([p + i * n for i, p in enumerate(picks)]).astype(np.int64)
            offline = np.ones(agents.size, dtype=bool)
        elif q == 0:
            agents = np.flatnonzero((posted == -1) & (m > 0))
            offline = np.zeros(agents.size, dtype=bool)
        else:
            susceptible = np.flatnonzero(posted == -1)
            offline = _draw(plans, susceptible, n) < q
            exposed = offline | (m[susceptible] > 0)
            agents, offline = susceptible[exposed], offline[exposed]
        post = _draw(plans, agents, n) < policy.post_probability(agents, offline, m[agents])
        posters = agents[post]
        posted[posters] = r
        _add_neighbour_counts(network, posters, m)
        informed += np.bincount(posters // n, minlength=size)
        history.append(informed.copy())
        # Simulation._finished, per replicate: round limit, all or enough informed, or nobody left
        # who could still post
        live = (posted == -1) & able if q > 0 else (posted == -1) & able & (m > 0)
        done = active & (
            (r >= scenario.rounds) | (informed == n) | ~live.reshape(size, n).any(axis=1)
        )
        if scenario.stop_fraction is not None:
            done |= active & (informed >= scenario.stop_fraction * n)
        for i in np.flatnonzero(done):
            block = posted[i * n : (i + 1) * n]
            block[block == -1] = _FROZEN
        last[done] = r
        active &= ~done
        if not active.any():
            return np.column_stack(history), last
        r += 1
