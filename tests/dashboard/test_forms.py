"""The scenario form's values become domain objects checked as the command line checks them: a
wrong value is a ConfigError saying what to fix, before anything runs."""

from __future__ import annotations

import pytest

from spreadlab.dashboard import forms
from spreadlab.errors import ConfigError
from spreadlab.world.events import catalog
from spreadlab.world.personas import PRESETS

FORM = dict(
    network_kind="random_regular", n=200, k=6, seed=3, rounds=20, q=0.01, n0=5, replicates=2
)


def test_mix_and_event_checks():
    with pytest.raises(ConfigError, match="personality mix is empty"):
        forms.build_mix("weights", weights=" , \n")
    with pytest.raises(ConfigError, match="all-zero"):
        forms.build_mix("weights", weights="O+C+E+A+N+=0")
    assert forms.build_mix("weights", weights="O+C+E+A+N+=1").probabilities[31] == 1
    assert forms.build_mix("traits", traits={"E": 1.0}).name == "traits:E=1"
    with pytest.raises(ConfigError, match="report is empty"):
        forms.build_event(title="x", event_type="riots", report="  ")
    event = forms.build_event(title="Big <b>news</b>", event_type="riots", report="r")
    assert event.id == "user-big-b-news-b" and event.source == "user (dashboard)"


def test_catalog_events_and_mix_modes():
    assert forms.build_event(catalog_id="battle-marren-ridge") == catalog()["battle-marren-ridge"]
    with pytest.raises(ConfigError, match="unknown catalog event 'nope'"):
        forms.build_event(catalog_id="nope")
    with pytest.raises(ConfigError, match="unknown event type 'picnic'"):
        forms.build_event(title="x", event_type="picnic", report="r")
    assert forms.build_mix("preset", preset="extraverted") is PRESETS["extraverted"]
    with pytest.raises(ConfigError, match="unknown preset 'shy'"):
        forms.build_mix("preset", preset="shy")
    with pytest.raises(ConfigError, match="unknown mix mode 'vibes'"):
        forms.build_mix("vibes")
    weights = forms.build_mix("weights", weights="O+C+E+A+N+=3\n 0 = 1")
    assert weights.probabilities[31] == 0.75 and weights.probabilities[0] == 0.25


def test_the_form_becomes_the_scenario_it_describes():
    event = forms.build_event(catalog_id="battle-marren-ridge")
    form = {**FORM, "n": 200.0, "k": 6.0, "seed": 3.0, "rounds": 20.0, "replicates": 2.0}
    scenario = forms.build_scenario(event, PRESETS["uniform"], **form)  # number inputs give floats
    network = scenario.network
    assert (network.kind, network.n, network.k) == ("random_regular", 200, 6)
    assert (scenario.rounds, scenario.q, scenario.n0) == (20, 0.01, 5)
    assert (scenario.replicates, scenario.seed) == (2, 3)
    assert isinstance(network.n, int) and isinstance(scenario.seed, int)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n0": 500}, "n0 = 500 seeds exceed N = 200"),
        ({"k": 5, "n": 201}, "is odd, so no k-regular graph exists"),
        ({"k": 200}, "k = 200 must be smaller than N = 200"),
        ({"q": 1.5}, "q = 1.5 is not a probability"),
        ({"rounds": -1}, "give 0 or more rounds"),
        ({"replicates": 0}, "run at least one"),
        ({"network_kind": "lattice"}, "unknown network type 'lattice'"),
    ],
)
def test_wrong_form_values_say_what_to_fix(change, message):
    event = forms.build_event(catalog_id="battle-marren-ridge")
    with pytest.raises(ConfigError, match=message):
        forms.build_scenario(event, PRESETS["uniform"], **{**FORM, **change})


def test_llm_settings_leave_empty_fields_to_the_environment():
    settings = forms.llm_settings(
        base_url="  ", model="", api_key="", temperature=0.2, max_calls=0, timeout=30
    )
    assert settings == {
        "base_url": None,
        "model": None,
        "api_key": None,
        "temperature": 0.2,
        "max_calls": None,
        "timeout": 30.0,
    }
    given = forms.llm_settings(
        base_url=" http://localhost:8080/v1 ", model=" m ", api_key="k", temperature=1, max_calls=9
    )
    assert (given["base_url"], given["model"], given["api_key"], given["max_calls"]) == (
        "http://localhost:8080/v1",
        "m",
        "k",
        9,
    )
