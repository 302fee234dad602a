"""Tests of the round process itself (DESIGN.md "The simulated system"), not just of code paths."""

import numpy as np
import pytest

from spreadlab.engine.policy import ConsultationBatch, Decisions
from spreadlab.engine.simulate import Scenario, Simulation, simulate
from spreadlab.engine.stochastic import ParameterTable, StochasticPolicy
from spreadlab.errors import ConfigError
from spreadlab.world.networks import NetworkSpec, from_edges, random_regular
from spreadlab.world.personas import PRESETS


def one_profile_sim(net, event, *, a, b, q, n0, rounds, seed):
    policy = StochasticPolicy(ParameterTable.uniform(a, b))
    profiles = np.zeros(net.n, dtype=np.int8)
    return Simulation(
        net, profiles, event, policy, rounds=rounds, q=q, n0=n0, rng=np.random.default_rng(seed)
    )


def replay_exposure(net, records):
    """Recompute, from the decision log alone, when each agent posted and its m at each round."""
    posted = np.full(net.n, -1)
    for rec in records:
        for agent, m in zip(rec.agents, rec.m, strict=True):
            nbrs = net.neighbours(agent)
            visible = int(np.sum((posted[nbrs] >= 0) & (posted[nbrs] < rec.round)))
            assert m == visible, f"round {rec.round} agent {agent}: m={m}, visible posts={visible}"
        posted[rec.agents[rec.post]] = rec.round
    return posted


def test_offline_only_curve_matches_closed_form(event):
    """b = 0, one profile: E[informed fraction after round r] = 1 - (1 - a·n0/N)(1 - q·a)^r."""
    n, a, q, n0, rounds, reps = 2000, 0.3, 0.08, 40, 12, 60
    net = random_regular(n, 6, 0)
    curves = []
    for seed in range(reps):
        sim = one_profile_sim(net, event, a=a, b=0.0, q=q, n0=n0, rounds=rounds, seed=seed)
        curves.append([rec.informed / n for rec in sim.rounds_iter()])
    mean = np.mean(curves, axis=0)
    r = np.arange(rounds + 1)
    expected = 1 - (1 - a * n0 / n) * (1 - q * a) ** r
    se = np.sqrt(expected * (1 - expected) / (n * reps)) + 1e-4
    z = np.abs(mean - expected) / se
    assert z.max() < 4.5, (mean, expected, z)
    # and the test has power: a 10% error in the offline hazard is detected
    wrong = 1 - (1 - a * n0 / n) * (1 - 1.1 * q * a) ** r
    assert (np.abs(mean - wrong) / se).max() > 6


def test_only_exposed_agents_are_consulted_and_m_counts_earlier_posts(event):
    net = random_regular(600, 5 * 2, 1)
    sim = one_profile_sim(net, event, a=0.5, b=0.15, q=0.0, n0=5, rounds=25, seed=4)
    records = list(sim.rounds_iter())
    assert records[0].agents.size == 5 and records[0].offline.all() and (records[0].m == 0).all()
    for rec in records[1:]:
        assert not rec.offline.any()
        assert (rec.m >= 1).all(), (
            "an agent with no posting neighbour and no offline reach was consulted"
        )
    posted = replay_exposure(net, records)
    # completeness: every susceptible agent with a visible posting neighbour was consulted
    for rec in records[1:]:
        consulted = set(rec.agents.tolist())
        for agent in range(net.n):
            if posted[agent] == -1 or posted[agent] >= rec.round:
                nbrs = net.neighbours(agent)
                if np.any((posted[nbrs] >= 0) & (posted[nbrs] < rec.round)):
                    assert agent in consulted


def test_with_offline_reach_every_consultation_is_exposed(event):
    net = random_regular(400, 4, 2)
    sim = one_profile_sim(net, event, a=0.2, b=0.1, q=0.05, n0=3, rounds=15, seed=9)
    records = list(sim.rounds_iter())
    for rec in records[1:]:
        assert np.all(rec.offline | (rec.m > 0))
    assert sum(rec.offline.sum() for rec in records[1:]) > 0
    replay_exposure(net, records)


def test_a_post_is_visible_only_from_the_next_round(event):
    """On a path with a = b = 1 and q = 0, agent i posts exactly at round |i - seed|."""
    n = 30
    net = from_edges(n, np.arange(n - 1), np.arange(1, n), "edge_list")
    sim = one_profile_sim(net, event, a=1.0, b=1.0, q=0.0, n0=1, rounds=100, seed=5)
    records = list(sim.rounds_iter())
    seed_agent = int(records[0].agents[0])
    posted = np.full(n, -1)
    for rec in records:
        posted[rec.agents[rec.post]] = rec.round
    assert np.array_equal(posted, np.abs(np.arange(n) - seed_agent))
    assert records[-1].informed == n


def test_stops_when_nothing_can_change(event):
    net = random_regular(200, 4, 3)
    sim = one_profile_sim(net, event, a=0.0, b=0.5, q=0.0, n0=5, rounds=50, seed=1)
    records = list(sim.rounds_iter())
    assert len(records) == 1 and records[-1].informed == 0
    sim = one_profile_sim(net, event, a=1.0, b=0.0, q=0.0, n0=5, rounds=50, seed=1)
    assert len(list(sim.rounds_iter())) == 1  # neighbours exposed but b = 0: nobody else can post


def test_replicates_are_reproducible_and_distinct(event):
    scenario = Scenario(
        event,
        PRESETS["uniform"],
        NetworkSpec(n=300, k=6),
        rounds=20,
        q=0.01,
        n0=5,
        replicates=3,
        seed=7,
    )
    first = simulate(scenario, StochasticPolicy())
    again = simulate(scenario, StochasticPolicy())
    curves = [r.informed_curve for r in first]
    assert all(np.array_equal(a, b.informed_curve) for a, b in zip(curves, again, strict=True))
    assert not np.array_equal(curves[0], curves[1])


class RecordingPolicy:
    """A policy that posts on every feed containing a post, and records what it was shown."""

    backend = "test"

    def __init__(self):
        self.feeds = {}

    def prepare(self, profiles, event):
        self.event = event

    def decide(self, batch: ConsultationBatch, rng):
        for agent in batch.agents.tolist():
            self.feeds[(batch.round, agent)] = batch.feed(agent)
        texts = [f"post by {a} in round {batch.round}" for a in batch.agents.tolist()]
        return Decisions(post=np.ones(len(batch), dtype=bool), texts=texts)

    def provenance(self):
        return {"backend": "test", "synthetic": True}


def test_feed_shows_neighbour_posts_newest_first(event):
    # star: centre 0 with leaves 1..4, plus a tail 4-5
    net = from_edges(6, np.array([0, 0, 0, 0, 4]), np.array([1, 2, 3, 4, 5]), "edge_list")
    policy = RecordingPolicy()
    sim = Simulation(
        net,
        np.zeros(6, dtype=np.int8),
        event,
        policy,
        rounds=5,
        q=0.0,
        n0=1,
        rng=np.random.default_rng(0),
    )
    records = list(sim.rounds_iter())
    assert records[-1].informed == 6
    for (r, agent), feed in policy.feeds.items():
        rounds = [p.round for p in feed]
        assert rounds == sorted(rounds, reverse=True) and all(x < r for x in rounds)
        assert all(p.text == f"post by {p.author} in round {p.round}" for p in feed)
        assert {p.author for p in feed} <= set(net.neighbours(agent).tolist())


def test_scenario_validation():
    from spreadlab.world.events import catalog

    event = catalog()["riot-stadium-brask"]
    for kwargs, message in [
        ({"q": -0.1}, "not a probability"),
        ({"q": 1.1}, "not a probability"),
        ({"n0": 0}, "at least one seed"),
        ({"n0": 500}, "exceed N"),
        ({"rounds": -1}, "0 or more"),
        ({"replicates": 0}, "at least one"),
    ]:
        with pytest.raises(ConfigError, match=message):
            Scenario(event, PRESETS["uniform"], NetworkSpec(n=100, k=4), **kwargs)
    with pytest.raises(ConfigError, match="not a probability"):
        ParameterTable.uniform(1.2, 0.1)
    with pytest.raises(ConfigError, match="not a probability"):
        ParameterTable.uniform(0.2, -0.1)
