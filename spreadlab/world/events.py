"""Offline events: the six ACLED event types, the bundled catalog of fictional reports, and
loading a user's own events from CSV or JSON."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from spreadlab.errors import ConfigError, DataFormatError
from spreadlab.validate import check_id, clean_text

EVENT_TYPES: tuple[str, ...] = (
    "battles",
    "explosions_remote_violence",
    "violence_against_civilians",
    "protests",
    "riots",
    "strategic_developments",
)
EVENT_TYPE_LABELS: dict[str, str] = {
    "battles": "Battles",
    "explosions_remote_violence": "Explosions/Remote violence",
    "violence_against_civilians": "Violence against civilians",
    "protests": "Protests",
    "riots": "Riots",
    "strategic_developments": "Strategic developments",
}
MAX_REPORT_CHARS = 4000
MAX_TITLE_CHARS = 300
MAX_EVENTS_FILE_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Event:
    """One offline incident: an id, its ACLED type, a headline and the news report agents read."""

    id: str
    type: str
    title: str
    report: str
    source: str = "user"

    def __post_init__(self) -> None:
        check_id(self.id, "event id")
        if len(self.title) > MAX_TITLE_CHARS:
            raise ConfigError(
                f"event {self.id!r}: the title has {len(self.title)} characters; shorten it to "
                f"at most {MAX_TITLE_CHARS}"
            )
        if self.type not in EVENT_TYPES:
            raise ConfigError(
                f"event {self.id!r}: unknown event type {self.type!r}; use one of "
                f"{', '.join(EVENT_TYPES)}"
            )
        if not self.report.strip():
            raise ConfigError(f"event {self.id!r}: the report is empty; write the news text")
        if len(self.report) > MAX_REPORT_CHARS:
            raise ConfigError(
                f"event {self.id!r}: the report has {len(self.report)} characters; shorten it to "
                f"at most {MAX_REPORT_CHARS}"
            )

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def event_type_index(event_type: str) -> int:
    """Position of ``event_type`` in :data:`EVENT_TYPES`."""
    try:
        return EVENT_TYPES.index(event_type)
    except ValueError:
        raise ConfigError(
            f"unknown event type {event_type!r}; use one of {', '.join(EVENT_TYPES)}"
        ) from None


def catalog() -> dict[str, Event]:
    """The bundled catalog: fictional reports written for SpreadLab, at least two per type."""
    text = resources.files("spreadlab").joinpath("data/events.json").read_text(encoding="utf-8")
    return {e.id: e for e in _events_from_records(json.loads(text), "bundled catalog")}


def get_event(event_id: str, extra: dict[str, Event] | None = None) -> Event:
    """Look up an event in ``extra`` (user events) and then in the catalog."""
    events = {**catalog(), **(extra or {})}
    if event_id not in events:
        raise ConfigError(
            f"unknown event id {event_id!r}; run 'spreadlab events' to list ids, or load your own "
            "from an events file",
            setting="events_file",
        )
    return events[event_id]


def load_events(path: str | Path) -> dict[str, Event]:
    """Read user events from a ``.json`` (a list of objects) or ``.csv`` file.

    Each record needs ``id``, ``type``, ``report`` and optionally ``title``.
    """
    path = Path(path)
    try:
        if path.stat().st_size > MAX_EVENTS_FILE_BYTES:
            raise DataFormatError(
                f"events file {path} is larger than {MAX_EVENTS_FILE_BYTES // 2**20} MB; split it "
                "and load only the events you run"
            )
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"cannot read events file {path}: {exc}") from exc
    if path.suffix.lower() == ".json":
        try:
            records = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{path}: not valid JSON ({exc})") from exc
        if not isinstance(records, list):
            raise DataFormatError(f"{path}: expected a JSON list of event objects")
    elif path.suffix.lower() == ".csv":
        records = list(csv.DictReader(raw.splitlines()))
    else:
        raise DataFormatError(f"{path}: events file must end in .json or .csv")
    events = _events_from_records(records, str(path))
    return {e.id: e for e in events}


def _events_from_records(records: list, where: str) -> list[Event]:
    events: list[Event] = []
    seen: set[str] = set()
    for row, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise DataFormatError(f"{where}, record {row}: expected an object with id/type/report")
        missing = [c for c in ("id", "type", "report") if not str(record.get(c) or "").strip()]
        if missing:
            raise DataFormatError(f"{where}, record {row}: missing {', '.join(missing)}")
        try:
            event = Event(
                id=str(record["id"]).strip(),
                type=str(record["type"]).strip(),
                title=clean_text(
                    str(record.get("title") or record["id"]).strip(), MAX_TITLE_CHARS + 1
                ),
                report=clean_text(str(record["report"]).strip(), MAX_REPORT_CHARS + 1),
                source=str(record.get("source") or "user"),
            )
        except ConfigError as exc:
            raise DataFormatError(f"{where}, record {row}: {exc}") from exc
        if event.id in seen:
            raise DataFormatError(f"{where}, record {row}: duplicate event id {event.id!r}")
        seen.add(event.id)
        events.append(event)
    if not events:
        raise DataFormatError(f"{where}: no events found")
    return events
