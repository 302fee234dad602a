"""The stochastic policy posts with P = 1 - (1 - a·o)(1 - b)^m, a and b read from its parameter
table by the agent's profile and the event type; the table's illustrative values, CSV form and
checks."""

from __future__ import annotations

import numpy as np
import pytest

from spreadlab.engine.policy import ConsultationBatch
from spreadlab.engine.stochastic import ILLUSTRATIVE, ParameterTable, StochasticPolicy
from spreadlab.errors import DataFormatError
from spreadlab.world.events import EVENT_TYPES, catalog
from spreadlab.world.personas import TRAITS, profile_label, trait_matrix

RIOT = next(e for e in catalog().values() if e.type == "riots")


def random_table(seed: int) -> ParameterTable:
    rng = np.random.default_rng(seed)
    shape = (32, len(EVENT_TYPES))
    return ParameterTable(rng.uniform(0, 0.9, shape), rng.uniform(0, 0.3, shape), "test table")


def consultations(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Agents 0..n-1 with random profiles, offline exposure and posting-neighbour counts."""
    rng = np.random.default_rng(seed)
    profiles = rng.integers(0, 32, n).astype(np.int8)
    return np.arange(n), profiles, rng.integers(0, 2, n), rng.integers(0, 6, n)


def test_post_probability_is_the_formula_with_the_tables_a_and_b():
    table = random_table(1)
    agents, profiles, offline, m = consultations(2000, 2)
    policy = StochasticPolicy(table)
    policy.prepare(profiles, RIOT)
    j = EVENT_TYPES.index("riots")
    a, b = table.a[profiles, j], table.b[profiles, j]
    expected = 1 - (1 - a * offline) * (1 - b) ** m
    assert np.allclose(policy.post_probability(agents, offline, m), expected, rtol=0, atol=1e-12)


def test_edge_cases_of_the_formula():
    policy = StochasticPolicy(ParameterTable.uniform(1.0, 1.0))
    policy.prepare(np.zeros(4, dtype=np.int8), RIOT)
    p = policy.post_probability(np.arange(4), np.array([0, 1, 0, 1]), np.array([0, 0, 1, 3]))
    assert p[0] == 0  # neither reached offline nor any posting neighbour: never posts
    assert np.all(p[1:] > 1 - 1e-12)  # a = 1 or b = 1: posts for certain


def test_decisions_post_at_the_tables_rate():
    """Per (offline, m) cell, the share posting matches the mean probability within 4 standard
    errors (fixed seeds, so the outcome is deterministic)."""
    table = random_table(3)
    agents, profiles, offline, m = consultations(200_000, 4)
    policy = StochasticPolicy(table)
    policy.prepare(profiles, RIOT)
    batch = ConsultationBatch(
        run_seed=0,
        round=1,
        agents=agents,
        offline=offline,
        m=m,
        profiles=profiles,
        event=RIOT,
        feed=lambda agent: [],
    )
    post = policy.decide(batch, np.random.default_rng(5)).post
    p = policy.post_probability(agents, offline, m)
    for o in (0, 1):
        for k in range(6):
            cell = (offline == o) & (m == k)
            se = np.sqrt(np.sum(p[cell] * (1 - p[cell]))) / cell.sum()
            assert abs(post[cell].mean() - p[cell].mean()) < 4 * se + 1e-12, (o, k)


def test_illustrative_table_follows_the_hand_set_effects():
    table = ParameterTable.illustrative()
    assert table.source == "illustrative" and table.provenance == ILLUSTRATIVE
    assert np.all((table.a > 0) & (table.a < 1)) and np.all((table.b > 0) & (table.b < 1))
    high = trait_matrix().astype(bool)
    logit = np.log(table.a / (1 - table.a))
    for trait, sign in (("E", 1), ("N", 1), ("C", -1)):
        t = TRAITS.index(trait)
        assert sign * (logit[high[:, t]].mean() - logit[~high[:, t]].mean()) > 0.3, trait
    by_event = dict(zip(EVENT_TYPES, logit.mean(axis=0), strict=True))
    assert by_event["violence_against_civilians"] > by_event["battles"] > by_event["protests"]


def test_provenance_records_the_table():
    table = random_table(6)
    provenance = StochasticPolicy(table).provenance()
    assert provenance["backend"] == "stochastic" and provenance["synthetic"] is True
    assert provenance["parameter_table"] == "test table"
    assert np.allclose(provenance["a"], table.a, atol=1e-6)
    assert provenance["b_range"] == [float(table.b.min()), float(table.b.max())]


def test_csv_round_trip(tmp_path):
    table = random_table(7)
    path = tmp_path / "table.csv"
    path.write_text(table.to_csv(), encoding="utf-8")
    back = ParameterTable.from_csv(path)
    assert np.array_equal(back.a, table.a) and np.array_equal(back.b, table.b)
    assert back.provenance == "test table" and back.source == "user table"


def edited(table: ParameterTable, line: int, text: str | None) -> str:
    """The table's CSV with data line ``line`` replaced by ``text`` (or removed)."""
    lines = table.to_csv().splitlines()
    if text is None:
        del lines[line]
    else:
        lines[line] = text
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("line", "text", "message"),
    [
        (1, None, "no row for profile O-C-E-A-N-, event type battles"),
        (2, f"{profile_label(0)},battles,0.1,0.1,x", "line 3: duplicate"),
        (1, f"{profile_label(0)},battles,1.5,0.1,x", "must be a probability"),
        (1, f"{profile_label(0)},battles,abc,0.1,x", "line 2"),
        (1, "Q+C-E-A-N-,battles,0.1,0.1,x", "line 2"),
        (0, "who,what,a,b", "needs columns"),
    ],
)
def test_bad_tables_are_refused_with_the_line(tmp_path, line, text, message):
    path = tmp_path / "table.csv"
    path.write_text(edited(ParameterTable.uniform(0.2, 0.05), line, text), encoding="utf-8")
    with pytest.raises(DataFormatError, match=message):
        ParameterTable.from_csv(path)
