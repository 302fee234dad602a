import json

import pytest

from spreadlab.errors import ConfigError, DataFormatError
from spreadlab.world.events import (
    EVENT_TYPES,
    MAX_REPORT_CHARS,
    Event,
    catalog,
    get_event,
    load_events,
)


def test_catalog_has_two_reports_per_type():
    events = catalog()
    assert len(events) >= 12
    for event_type in EVENT_TYPES:
        assert sum(e.type == event_type for e in events.values()) >= 2
    assert all("fictional" in e.source for e in events.values())


def test_user_events_from_csv_and_json(tmp_path):
    csv_path = tmp_path / "ev.csv"
    csv_path.write_text('id,type,title,report\nmine,riots,Riot,"Crowds clashed, police said."\n')
    json_path = tmp_path / "ev.json"
    json_path.write_text(json.dumps([{"id": "j1", "type": "protests", "report": "A march."}]))
    assert load_events(csv_path)["mine"].report == "Crowds clashed, police said."
    assert get_event("j1", load_events(json_path)).type == "protests"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"type": "earthquakes"}, "unknown event type"),
        ({"report": "  "}, "report is empty"),
        ({"report": "x" * (MAX_REPORT_CHARS + 1)}, "shorten it"),
    ],
)
def test_bad_events_are_refused(kwargs, message):
    base = {"id": "e", "type": "battles", "title": "t", "report": "r"}
    with pytest.raises(ConfigError, match=message):
        Event(**{**base, **kwargs})


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("a.json", "[{]", "not valid JSON"),
        ("a.json", '{"id": 1}', "JSON list"),
        ("a.csv", "id,type\nx,battles\n", "record 1: missing report"),
        ("a.csv", "id,type,report\nx,floods,text\n", "record 1: .*unknown event type"),
        ("a.csv", "id,type,report\nx,riots,a\nx,riots,b\n", "record 2: duplicate event id"),
        ("a.txt", "x", "must end in .json or .csv"),
    ],
)
def test_malformed_event_files_name_the_problem(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataFormatError, match=message):
        load_events(path)
