"""The round process of DESIGN.md ("The simulated system").

Round 0: ``n0`` seed agents, chosen at random, read the report offline and are consulted. Each
later round, every susceptible agent is *exposed* if the offline channel reaches it (probability
``q``) and/or ``m >= 1`` of its neighbours have posted in earlier rounds; only exposed agents are
consulted, all at once (synchronous update). An agent that posts in round ``r`` is informed from
round ``r`` and its post is visible to neighbours from round ``r + 1``. The run stops after round
``rounds``, when every agent is informed, or when nothing can change any more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from spreadlab.engine.policy import (
    ConsultationBatch,
    Decisions,
    FeedPost,
    Policy,
    PostProbability,
)
from spreadlab.errors import ConfigError
from spreadlab.validate import INT64_MAX as MAX_SEED
from spreadlab.world.events import Event
from spreadlab.world.networks import Network, NetworkSpec
from spreadlab.world.personas import PersonalityMix
from spreadlab.world.records import RoundRecord, RunResult

MAX_ROUNDS = 100_000
MAX_REPLICATES = 100_000


@dataclass(frozen=True)
class Scenario:
    """Everything that defines a family of replicate runs except the policy.

    Parameters
    ----------
    event : Event
        The report being spread (:func:`spreadlab.world.events.catalog` lists the bundled ones).
    mix : PersonalityMix
        Who the agents are (:func:`spreadlab.world.personas.parse_mix`).
    network : NetworkSpec
        The network each replicate builds.
    rounds : int
        The last round R (rounds 0..R).
    q : float
        Per-round probability that the offline report reaches an agent.
    n0 : int
        Seed agents who read the report at round 0.
    replicates, seed : int
        How many runs, and the seed every replicate's random streams derive from.
    stop_fraction : float, optional
        Stop a replicate early once this fraction of agents is informed.

    Examples
    --------
    >>> from spreadlab.world.events import catalog
    >>> from spreadlab.world.networks import NetworkSpec
    >>> from spreadlab.world.personas import parse_mix
    >>> scenario = Scenario(catalog()["battle-marren-ridge"], parse_mix("uniform"),
    ...                     NetworkSpec(n=1000, k=8), q=0.01, replicates=2, seed=7)
    >>> scenario.rounds, scenario.n0
    (30, 10)
    >>> Scenario(scenario.event, scenario.mix, scenario.network, q=2.0)
    Traceback (most recent call last):
    ...
    spreadlab.errors.ConfigError: q = 2.0 is not a probability: use a value in [0, 1]
    """

    event: Event
    mix: PersonalityMix
    network: NetworkSpec
    rounds: int = 30
    q: float = 0.0
    n0: int = 10
    replicates: int = 1
    seed: int = 0
    stop_fraction: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.rounds <= MAX_ROUNDS:
            raise ConfigError(
                f"rounds = {self.rounds}: give 0 or more rounds, at most {MAX_ROUNDS:,}"
            )
        if not 0 <= self.q <= 1:
            raise ConfigError(f"q = {self.q} is not a probability: use a value in [0, 1]")
        if self.n0 < 1:
            raise ConfigError(f"n0 = {self.n0}: at least one seed agent must read the report")
        if self.network.kind != "edge_list" and self.n0 > self.network.n:
            raise ConfigError(f"n0 = {self.n0} seeds exceed N = {self.network.n} agents")
        if not 1 <= self.replicates <= MAX_REPLICATES:
            raise ConfigError(
                f"replicates = {self.replicates}: run at least one, at most {MAX_REPLICATES:,}"
            )
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed = {self.seed}: use a whole number from 0 to {MAX_SEED}")
        if self.stop_fraction is not None and not 0 < self.stop_fraction <= 1:
            raise ConfigError(f"stop fraction {self.stop_fraction} must lie in (0, 1]")


@dataclass
class SimulationState:
    """Where a run stands between rounds; enough to continue it (``posted_round`` is -1 for S)."""

    posted_round: np.ndarray
    m: np.ndarray
    texts: dict[int, str] = field(default_factory=dict)
    next_round: int = 0

    @classmethod
    def fresh(cls, n: int) -> SimulationState:
        return cls(np.full(n, -1, dtype=np.int32), np.zeros(n, dtype=np.int32))

    @classmethod
    def from_posts(
        cls,
        network: Network,
        agents: np.ndarray,
        rounds: np.ndarray,
        texts: dict[int, str],
        next_round: int,
    ) -> SimulationState:
        """Rebuild the state from the posts recorded so far (to resume a stored run)."""
        state = cls.fresh(network.n)
        state.posted_round[agents] = rounds
        state.texts = dict(texts)
        state.next_round = next_round
        _add_neighbour_counts(network, np.asarray(agents, dtype=np.int64), state.m)
        return state

    @property
    def informed(self) -> int:
        return int(np.count_nonzero(self.posted_round >= 0))


def _add_neighbour_counts(network: Network, posters: np.ndarray, m: np.ndarray) -> None:
    """``m[j] += 1`` for each neighbour j of each poster, without a Python loop."""
    if posters.size == 0:
        return
    starts = network.indptr[posters]
    lengths = network.indptr[posters + 1] - starts
    total = int(lengths.sum())
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    neighbours = network.indices[offsets + np.arange(total)]
    np.add.at(m, neighbours, m.dtype.type(1))  # a scalar of m's own type takes numpy's fast path


class Simulation:
    """One run: a network, the agents' profiles, an event, a policy and the run's generator."""

    def __init__(
        self,
        network: Network,
        profiles: np.ndarray,
        event: Event,
        policy: Policy,
        *,
        rounds: int,
        q: float,
        n0: int,
        rng: np.random.Generator,
        run_seed: int = 0,
        stop_fraction: float | None = None,
        state: SimulationState | None = None,
    ) -> None:
        if profiles.shape != (network.n,):
            raise ConfigError(f"{profiles.size} profiles for {network.n} agents")
        if n0 > network.n:
            raise ConfigError(f"n0 = {n0} seeds exceed N = {network.n} agents")
        self.network, self.profiles, self.event, self.policy = network, profiles, event, policy
        self.rounds, self.q, self.n0, self.rng = rounds, q, n0, rng
        self.run_seed = run_seed
        self.stop_fraction = stop_fraction
        self.state = state or SimulationState.fresh(network.n)
        self._max_degree = int(network.degrees.max())
        policy.prepare(profiles, event)

    @classmethod
    def for_replicate(cls, scenario: Scenario, plan: ReplicatePlan, policy: Policy) -> Simulation:
        """The simulation of one planned replicate of ``scenario``."""
        return cls(
            plan.network,
            plan.profiles,
            scenario.event,
            policy,
            rounds=scenario.rounds,
            q=scenario.q,
            n0=scenario.n0,
            rng=plan.rng,
            run_seed=scenario.seed,
            stop_fraction=scenario.stop_fraction,
        )

    def feed(self, agent: int, before_round: int) -> list[FeedPost]:
        """Posts of ``agent``'s posting neighbours visible before ``before_round``, newest first."""
        neighbours = self.network.neighbours(agent)
        when = self.state.posted_round[neighbours]
        visible = (when >= 0) & (when < before_round)
        order = np.lexsort((neighbours[visible], -when[visible]))
        authors, rounds = neighbours[visible][order], when[visible][order]
        return [
            FeedPost(int(a), int(r), self.state.texts.get(int(a), ""))
            for a, r in zip(authors, rounds, strict=True)
        ]

    def _exposed(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        state = self.state
        if r == 0:
            agents = np.sort(self.rng.choice(self.network.n, size=self.n0, replace=False))
            return agents.astype(np.int64), np.ones(agents.size, dtype=bool)
        if self.q == 0:  # no offline draws: only agents with a posting neighbour are exposed
            agents = np.flatnonzero((state.posted_round < 0) & (state.m > 0))
            return agents, np.zeros(agents.size, dtype=bool)
        susceptible = np.flatnonzero(state.posted_round < 0)
        offline = self.rng.random(susceptible.size) < self.q
        exposed = offline | (state.m[susceptible] > 0)
        return susceptible[exposed], offline[exposed]

    def _finished(self, r: int) -> bool:
        state = self.state
        informed = state.informed
        if r >= self.rounds or informed == self.network.n:
            return True
        if self.stop_fraction is not None and informed >= self.stop_fraction * self.network.n:
            return True
        susceptible = state.posted_round < 0
        candidates = np.flatnonzero(susceptible if self.q > 0 else susceptible & (state.m > 0))
        if candidates.size == 0:
            return True
        if not isinstance(self.policy, PostProbability):
            return False
        probability = self.policy.post_probability
        # a few candidates usually settle it; look at all of them only when those cannot post
        for chunk in (candidates[:64], candidates[64:]):
            offline = np.full(chunk.size, self.q > 0)
            cap = np.full(chunk.size, self._max_degree, dtype=np.int32)
            if np.any(probability(chunk, offline, cap) > 0):
                return False
        return True

    def step(self) -> RoundRecord:
        """Play the next round: consult the exposed agents, then make their posts visible."""
        r = self.state.next_round
        agents, offline = self._exposed(r)
        m = self.state.m[agents]
        batch = ConsultationBatch(
            run_seed=self.run_seed,
            round=r,
            agents=agents,
            offline=offline,
            m=m,
            profiles=self.profiles[agents],
            event=self.event,
            feed=lambda agent: self.feed(agent, r),
        )
        decisions: Decisions = (
            self.policy.decide(batch, self.rng)
            if agents.size
            else Decisions(post=np.zeros(0, dtype=bool))
        )
        posters = agents[decisions.post]
        self.state.posted_round[posters] = r
        if decisions.texts is not None:
            for i in np.flatnonzero(decisions.post):
                self.state.texts[int(agents[i])] = decisions.texts[i] or ""
        _add_neighbour_counts(self.network, posters, self.state.m)
        self.state.next_round = r + 1
        return RoundRecord(
            round=r,
            agents=agents,
            offline=offline,
            m=m,
            post=decisions.post,
            valid=decisions.valid,
            texts=decisions.texts,
            reasons=decisions.reasons,
            informed=self.state.informed,
        )

    def rounds_iter(self) -> Iterator[RoundRecord]:
        """Yield each round's record until the run stops."""
        while True:
            record = self.step()
            yield record
            if self._finished(record.round):
                return

    @property
    def finished(self) -> bool:
        r = self.state.next_round - 1
        return r >= 0 and self._finished(r)


@dataclass(frozen=True)
class ReplicatePlan:
    """The network, profiles and generator of one replicate, all derived from its seed."""

    replicate: int
    network: Network
    profiles: np.ndarray
    rng: np.random.Generator


def replicate_streams(
    seed: int, replicate: int
) -> tuple[np.random.SeedSequence, np.random.SeedSequence, np.random.SeedSequence]:
    """The network, profile and simulation seed sequences of one replicate of a scenario seed:
    ``SeedSequence(seed)``'s child number ``replicate``, split in three."""
    sequence = np.random.SeedSequence(seed, spawn_key=(replicate,))
    net_seq, mix_seq, sim_seq = sequence.spawn(3)
    return net_seq, mix_seq, sim_seq


def plan_replicates(scenario: Scenario) -> Iterator[ReplicatePlan]:
    """For each replicate: build its network and assign profiles from its own seed sequence.

    Each replicate's sequence spawns three independent streams (network, profiles, simulation), so
    changing one part of a scenario does not shift the randomness of another.
    """
    for i in range(scenario.replicates):
        net_seq, mix_seq, sim_seq = replicate_streams(scenario.seed, i)
        network = scenario.network.build(np.random.default_rng(net_seq))
        profiles = scenario.mix.assign(network.n, np.random.default_rng(mix_seq))
        yield ReplicatePlan(i, network, profiles, np.random.default_rng(sim_seq))


def simulate(
    scenario: Scenario,
    policy: Policy,
    on_round: Callable[[ReplicatePlan, RoundRecord], None] | None = None,
) -> list[RunResult]:
    """Run every replicate of ``scenario`` in memory (no storage).

    Parameters
    ----------
    scenario : Scenario
        What to simulate.
    policy : Policy
        Who decides: :class:`~spreadlab.engine.stochastic.StochasticPolicy` or an LLM policy.
    on_round : callable, optional
        Called with the replicate's plan and each round's record as it is played.

    Returns
    -------
    list of RunResult
        One per replicate: network, profiles and every round's record.

    Examples
    --------
    >>> from spreadlab.engine.stochastic import StochasticPolicy
    >>> from spreadlab.world.events import catalog
    >>> from spreadlab.world.networks import NetworkSpec
    >>> from spreadlab.world.personas import parse_mix
    >>> scenario = Scenario(catalog()["battle-marren-ridge"], parse_mix("uniform"),
    ...                     NetworkSpec(n=1000, k=8), q=0.01, replicates=2, seed=7)
    >>> runs = simulate(scenario, StochasticPolicy())
    >>> [int(run.informed_curve[-1]) for run in runs], len(runs[0].records)
    ([995, 985], 31)
    """
    results = []
    for plan in plan_replicates(scenario):
        sim = Simulation.for_replicate(scenario, plan, policy)
        records = []
        for record in sim.rounds_iter():
            records.append(record)
            if on_round is not None:
                on_round(plan, record)
        results.append(RunResult(plan.network, plan.profiles, records))
    return results
