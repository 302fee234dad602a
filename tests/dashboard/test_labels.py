"""The dashboard's words about runs: engine messages in the form's terms, run and scenario labels
that tell scenarios apart, and the banner that says when runs are synthetic."""

from __future__ import annotations

import pandas as pd
import pytest

from spreadlab.dashboard import labels
from spreadlab.errors import ConfigError, StoreError
from spreadlab.llm.base import BudgetExhausted
from spreadlab.store import queries

ROW = {
    "run_id": "sc-001",
    "scenario_id": "sc",
    "event_id": "battle-marren-ridge",
    "event_type": "battles",
    "mix_name": "uniform",
    "n_agents": 1000,
    "mean_degree": 8.0,
    "q": 0.01,
    "replicate": 1,
    "backend": "stochastic",
    "synthetic": True,
}


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (
            ConfigError("no API key: set OPENAI_API_KEY or give an API key", setting="api_key"),
            "no API key: set OPENAI_API_KEY or give an API key (use the API key field)",
        ),
        (
            BudgetExhausted("budget spent; raise the call budget", setting="max_calls"),
            "budget spent; raise the call budget (use the budget field)",
        ),
        (
            ConfigError(
                "run x stopped and can be continued: spreadlab resume x --db /tmp/a.duckdb"
            ),
            "run x stopped and can be continued with the Resume button under Stored runs",
        ),
        (
            StoreError("run x already exists", setting="new_id"),
            "run x already exists (use the 'Another run id' field)",
        ),
        (  # the dashboard has no field for its database: it is chosen when it starts
            StoreError("cannot open database d: folder f does not exist", setting="db"),
            "cannot open database d: folder f does not exist (use SPREADLAB_DB, or the database "
            "given to 'spreadlab dashboard', when you start it)",
        ),
    ],
)
def test_dashboard_messages_name_fields_not_flags(error, shown):
    assert labels.for_dashboard(error) == shown
    assert "--" not in labels.for_dashboard(error)


def test_a_setting_without_a_field_is_named_in_words():
    error = ConfigError("feed_size = -1: show 0 or more posts", setting="feed_size")
    assert labels.for_dashboard(error).endswith("(use the feed size setting)")


def test_run_and_scenario_labels():
    assert labels.run_label(ROW) == (
        "battle-marren-ridge · uniform · N=1000 k=8 · q=0.01 · rep 1 · stochastic · synthetic · "
        "sc-001"
    )
    assert labels.scenario_label(
        {**ROW, "replicates": 5, "backend": "llm", "synthetic": False}
    ) == ("battle-marren-ridge · uniform · N=1000 k=8 · q=0.01 · 5 replicate(s) · llm · sc")


def runs_frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame([{**ROW, **row} for row in rows])


def test_scenarios_group_runs_and_short_labels_add_only_what_tells_them_apart():
    runs = runs_frame(
        {"run_id": "a-000", "scenario_id": "a"},
        {"run_id": "a-001", "scenario_id": "a"},
        {"run_id": "b-000", "scenario_id": "b", "n_agents": 500},
        {"run_id": "c-000", "scenario_id": "c", "mix_name": "extraverted"},
        {"run_id": "d-000", "scenario_id": "d", "n_agents": 500},
    )
    table = labels.scenarios(runs)
    assert list(table["scenario_id"]) == ["a", "b", "c", "d"]
    assert list(table["replicates"]) == [2, 1, 1, 1]
    assert list(table["run_ids"]) == [["a-000", "a-001"], ["b-000"], ["c-000"], ["d-000"]]
    assert labels.short_labels(table) == {
        "a": "battle-marren-ridge × uniform · N=1000",
        "b": "battle-marren-ridge × uniform · N=500 · b",
        "c": "battle-marren-ridge × extraverted",
        "d": "battle-marren-ridge × uniform · N=500 · d",
    }
    empty = labels.scenarios(runs.iloc[:0])
    assert empty.empty and {"replicates", "run_ids"} <= set(empty.columns)


def test_the_banner_names_who_made_the_synthetic_runs():
    runs = runs_frame(
        {"run_id": "a"},
        {"run_id": "b", "backend": "surrogate"},
        {"run_id": "c", "backend": "llm", "synthetic": False},
    )
    note = labels.provenance_note(runs, [{"parameter_table": "illustrative: hand-set"}, {}, {}])
    assert note.startswith("Synthetic runs on screen: 2 of the 3 runs shown were made by ")
    assert "the 'surrogate' backend and the stochastic agent model" in note
    assert "(parameters: illustrative: hand-set)" in note
    assert labels.provenance_note(runs[runs["backend"] == "llm"]) == ""


def test_labels_and_provenance_note(runs):
    store, _ = runs
    listed = store.list_runs()
    table = labels.scenarios(listed)
    short = labels.short_labels(table)
    assert len(set(short.values())) == len(table)
    assert short["t-extraverted"] == "battle-marren-ridge × extraverted"
    assert short["t-uniform"] == "battle-marren-ridge × uniform · N=120"
    assert labels.provenance_note(listed.assign(synthetic=False)) == ""
    note = labels.provenance_note(listed, queries.run_provenances(store, list(listed["run_id"])))
    assert note.startswith(f"Synthetic runs on screen: {len(listed)} of the {len(listed)} runs")
    assert "not measured from LLM agents" in note
