"""Held-out checks of the claims the product shows: the one-rate-or-two verdict and the 95%
intervals, on simulated replicate groups whose truth is known, including groups that break the
models' assumptions (agents who differ, two classes of b, Erdős–Rényi and Barabási–Albert graphs).

Used by ``bench/validity.py`` (the full table, every release) and by a small test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from spreadlab.analysis.curves import Curves
from spreadlab.analysis.fit import fit
from spreadlab.analysis.models import get_model
from spreadlab.analysis.verdict import (
    OfflineEvidence,
    decide,
    evidence_from_rounds,
    susceptible_rounds,
)
from spreadlab.engine.replicates import simulate_replicates
from spreadlab.engine.simulate import Scenario, simulate
from spreadlab.engine.stochastic import ParameterTable, StochasticPolicy
from spreadlab.errors import FitError
from spreadlab.world.events import catalog, event_type_index
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import TRAITS, PersonalityMix, trait_matrix

TABLES = ("uniform", "illustrative", "two-classes")
NETWORKS = ("random_regular", "erdos_renyi", "barabasi_albert")
A_OFFLINE = 0.6
"""a of the uniform and two-class tables; with q = 0.0035, q·a = 0.0021."""
B_ONLINE = 0.05


def parameter_table(kind: str) -> ParameterTable:
    """``uniform`` (a = 0.6, b = 0.05), ``illustrative`` (agents differ by personality) or
    ``two-classes`` (b = 0.125 for extraverts, 0.02 for the rest: a mean of 0.0725)."""
    if kind == "uniform":
        return ParameterTable.uniform(A_OFFLINE, B_ONLINE)
    if kind == "illustrative":
        return ParameterTable.illustrative()
    if kind == "two-classes":
        fast = trait_matrix()[:, TRAITS.index("E")].astype(bool)
        b = np.where(fast, 2.5 * B_ONLINE, 0.4 * B_ONLINE)[:, None] * np.ones((1, 6))
        return ParameterTable(np.full_like(b, A_OFFLINE), b, "two classes of b (validation)")
    raise ValueError(f"unknown table {kind!r}; use one of {TABLES}")


def mean_offline_probability(kind: str) -> float:
    """Mean a over the 32 profiles (a uniform mix) for the validation event."""
    event = catalog()[sorted(catalog())[0]]
    return float(parameter_table(kind).a[:, event_type_index(event.type)].mean())


@dataclass(frozen=True)
class Cell:
    """One scenario family of the validation matrix."""

    network: str
    table: str
    q: float
    n: int = 4000
    k: int = 10
    replicates: int = 5
    rounds: int = 40

    def scenario(self, seed: int) -> Scenario:
        event = catalog()[sorted(catalog())[0]]
        return Scenario(
            event,
            PersonalityMix.uniform(),
            NetworkSpec(self.network, self.n, self.k),
            rounds=self.rounds,
            q=self.q,
            n0=10,
            replicates=self.replicates,
            seed=seed,
        )


@dataclass(frozen=True)
class Group:
    """One replicate group: its curves (with degrees) and decision-log evidence."""

    data: Curves
    evidence: OfflineEvidence


def simulate_group(cell: Cell, seed: int) -> Group:
    """Run one group of ``cell.replicates`` runs with decision logs."""
    results = simulate(cell.scenario(seed), StochasticPolicy(parameter_table(cell.table)))
    length = max(r.informed_curve.size for r in results)
    # a run ends early only when nobody is left who could post: its curve stays where it is
    curves = [
        np.pad(r.informed_curve, (0, length - r.informed_curve.size), mode="edge") for r in results
    ]
    degrees = np.zeros(1, dtype=np.int64)
    for r in results:
        hist = np.bincount(r.network.degrees)
        degrees = np.pad(degrees, (0, max(hist.size - degrees.size, 0)))
        degrees[: hist.size] += hist
    data = Curves.from_runs(curves, cell.n, float(cell.k), degrees)
    rounds = [
        (rec.round, rec.offline, rec.m, rec.post, rec.valid) for r in results for rec in r.records
    ]
    return Group(data, evidence_from_rounds(rounds, susceptible_rounds(data)))


def verdict_counts(cell: Cell, groups: int, seed: int = 0) -> tuple[Counter, Counter]:
    """Verdict codes over ``groups`` groups: (with the decision log, from the curves alone)."""
    with_log: Counter = Counter()
    curves_only: Counter = Counter()
    for group in _groups(cell, groups, seed):
        with_log[decide(group.data, decisions=group.evidence).code] += 1
        curves_only[decide(group.data).code] += 1
    return with_log, curves_only


def simulate_curves(cell: Cell, seed: int) -> Curves:
    """A group's curves alone (no decision log: the fast batch engine)."""
    result = simulate_replicates(cell.scenario(seed), parameter_table(cell.table))
    return Curves.from_runs(result.counts, cell.n, float(cell.k))


def _groups(cell: Cell, groups: int, seed: int) -> Iterator[Group]:
    for g in range(groups):
        yield simulate_group(cell, seed * 100_003 + g)


@dataclass(frozen=True)
class Coverage:
    """How often the default intervals covered the truth, per parameter."""

    model: str
    truth: dict[str, float]
    truth_source: str
    covered: dict[str, int]
    groups: int

    @property
    def truth_on_bound(self) -> tuple[str, ...]:
        """Parameters whose truth is the edge of their range (e.g. v = 0 for alike agents): an
        interval clipped there covers it by construction, so its coverage says nothing."""
        model = get_model(self.model)
        return tuple(p.name for p in model.params if self.truth.get(p.name) in (p.lower, p.upper))


def coverage(
    cell: Cell, model: str, groups: int, seed: int = 0, truth: dict[str, float] | None = None
) -> Coverage:
    """Fit ``model`` with its default intervals to ``groups`` replicate groups and count how
    often each interval holds the truth: ``truth`` where the simulator's own value is the
    model's parameter, else the pseudo-true value (the fit to every replicate pooled)."""
    datas = [simulate_curves(cell, seed * 100_003 + g) for g in range(groups)]
    if truth is None:
        width = max(d.counts.shape[1] for d in datas)
        pooled = np.vstack(
            [np.pad(d.counts, ((0, 0), (0, width - d.counts.shape[1])), mode="edge") for d in datas]
        )
        big = fit(Curves(pooled, cell.n, float(cell.k)), model, ci="none")
        truth, source = big.params, f"pooled fit of {pooled.shape[0]} runs"
    else:
        source = "simulator"
    covered = dict.fromkeys(truth, 0)
    done = 0
    for data in datas:
        try:
            result = fit(data, model)
        except FitError:
            continue
        done += 1
        for name, value in truth.items():
            lo, hi = result.ci[name]
            covered[name] += lo <= value <= hi
    return Coverage(model, dict(truth), source, covered, done)
