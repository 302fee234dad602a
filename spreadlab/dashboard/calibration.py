"""What the Calibrate page does, without Streamlit: the design of its form and what it would cost,
a calibration (and its persona check) asked and stored as ``spreadlab calibrate`` stores one, a
stored calibration read back for display, and a large stochastic run with its table — labelled
the surrogate of the calibrated model only when the table's numbers match the stored calibration.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from spreadlab.engine.simulate import Scenario
from spreadlab.engine.stochastic import ParameterTable, StochasticPolicy
from spreadlab.errors import ConfigError, DataFormatError
from spreadlab.jobs import calibrate as cal
from spreadlab.jobs import persona_check
from spreadlab.jobs.policies import scenario_estimate
from spreadlab.jobs.post_bank import neutral_bank, stored_bank
from spreadlab.jobs.runner import Progress, run_scenario
from spreadlab.jobs.surrogate_check import SurrogateCheck, check_surrogate, event_scenario
from spreadlab.llm.config import LLMConfig
from spreadlab.llm.estimate import RunEstimate, load_prices
from spreadlab.llm.policy import LLMPolicy
from spreadlab.store.calibrations import calibration_record, label_table, list_calibrations
from spreadlab.store.runs import RunStore, new_scenario_id
from spreadlab.world.events import EVENT_TYPE_LABELS, EVENT_TYPES, catalog
from spreadlab.world.personas import N_PROFILES

M_CHOICES: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16)
"""Posting-neighbour counts the form offers (the command line takes any 1..100)."""


def default_event_ids() -> list[str]:
    """One catalog event per event type, as ``spreadlab calibrate`` asks by default."""
    return [e.id for e in cal.default_events()]


def design(event_ids: Sequence[str], repeats: int, ms: Sequence[int], seed: int) -> cal.Design:
    """The design the form describes. A parameter table needs every profile × event type, so
    events of all six types are required before anything is asked."""
    events = catalog()
    unknown = [i for i in event_ids if i not in events]
    if unknown:
        raise ConfigError(f"unknown catalog event(s) {', '.join(unknown)}", setting="events")
    chosen = tuple(events[i] for i in event_ids)
    missing = [EVENT_TYPE_LABELS[t] for t in EVENT_TYPES if t not in {e.type for e in chosen}]
    if missing:
        raise ConfigError(
            f"no event of type {', '.join(missing)}: the calibrated table needs a and b for "
            "every event type, so add an event of each",
            setting="events",
        )
    return cal.Design(chosen, int(repeats), tuple(sorted(int(m) for m in ms)), int(seed))


def describe(design: cal.Design) -> str:
    """The design's size in words."""
    return (
        f"{len(design.events)} event(s) × {N_PROFILES} profiles × {len(design.conditions)} "
        f"exposure conditions × {design.repeats} repeat(s) = {design.consultations:,} "
        "consultations"
    )


def persona_answers(repeats: int) -> int:
    """Questions the persona check adds: every persona, every Mini-IPIP item, ``repeats`` times."""
    return N_PROFILES * len(persona_check.MINI_IPIP) * repeats


def estimate(settings: Mapping[str, Any], design: cal.Design) -> RunEstimate:
    """Upper bounds on the calls, tokens and cost of ``design`` with these LLM settings."""
    return cal.estimate_cost(LLMConfig.from_env(**settings), design)


@dataclass(frozen=True)
class Done:
    """A finished calibration: its id, the table's provenance line, the persona check's summary
    (None when not asked), and what this session used beside what the calibration cost to
    measure (they differ when answers are replayed from the cache)."""

    calibration_id: str
    provenance: str
    persona: str | None
    usage: str


def run_calibration(
    store: RunStore,
    settings: Mapping[str, Any],
    design: cal.Design,
    *,
    bank: str = "store",
    use: str = "cells",
    check_personas: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
    on_persona_progress: Callable[[int, int], None] | None = None,
) -> Done:
    """Ask every probe of ``design`` (and, with ``check_personas``, the Mini-IPIP) and store the
    calibration, as ``spreadlab calibrate`` does; ``on_progress`` follows the probes' batches,
    ``on_persona_progress`` the inventory's. The policy's preflight checks the endpoint
    before its first call, so a bad URL, key or model fails before any answer, and a repeat
    replayed from the cache makes no request at all. Token log-probabilities are asked for, and
    used where the endpoint returns them, as by the command."""
    config = LLMConfig.from_env(**settings)
    prices = load_prices()
    with LLMPolicy(config, store.con, top_logprobs=cal.TOP_LOGPROBS) as policy:
        events = list(design.events)
        posts = stored_bank(store.con, events) if bank == "store" else neutral_bank(events)
        result = cal.calibrate(policy, design, posts, on_progress, prices=prices)
        calibration_id = cal.save_calibration(store.con, result, use)
        summary = None
        if check_personas:
            answers = persona_check.ask_inventory(
                policy, design.repeats, design.seed, on_persona_progress
            )
            report = persona_check.fidelity(answers)
            persona_check.save_check(store.con, calibration_id, answers, report)
            summary = persona_check.summary(report)
        usage = (
            "This session: "
            + cal.measured_cost(policy.usage(), config.model, prices).removeprefix("measured: ")
            + f". Cost to measure the calibration: {cal.measuring_cost(result.meta['cost'])}."
        )
    return Done(calibration_id, result.provenance(use), summary, usage)


def stored_calibrations(store: RunStore) -> pd.DataFrame:
    """Every stored calibration (CLI-made ones too), newest first."""
    return list_calibrations(store.con)


@dataclass(frozen=True)
class StoredCalibration:
    """A stored calibration as the page shows it; ``rates`` is its table CSV read as a frame."""

    calibration_id: str
    uses: str
    meta: dict[str, Any]
    created_at: datetime
    table_csv: str
    rates: pd.DataFrame
    persona: list[persona_check.TraitFidelity]


def load(store: RunStore, calibration_id: str) -> StoredCalibration:
    """Calibration ``calibration_id`` with its table and persona check."""
    record = calibration_record(store.con, calibration_id)
    if record is None:
        raise ConfigError(f"no calibration {calibration_id!r} in this database")
    try:
        rates = pd.read_csv(io.StringIO(record["table_csv"]))
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataFormatError(
            f"calibration {calibration_id}: its stored table is damaged ({exc})"
        ) from None
    return StoredCalibration(
        calibration_id,
        str(record["uses"]),
        record["meta"],
        record["created_at"],
        record["table_csv"],
        rates,
        persona_check.stored_report(store.con, calibration_id),
    )


def surrogate_table(store: RunStore, calibration: StoredCalibration) -> ParameterTable:
    """The calibration's table, read as ``spreadlab run --params`` reads a file and labelled by
    its numbers: the surrogate of the calibrated model while they match a stored calibration."""
    name = f"of calibration {calibration.calibration_id}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.csv"
        path.write_text(calibration.table_csv, encoding="utf-8")
        try:
            table = ParameterTable.from_csv(path)
        except DataFormatError as exc:  # name the calibration, not the temporary file
            exc.args = (str(exc).replace(str(path), f"the table {name}"),)
            raise
    return label_table(store.con, table, name)


def run_surrogate(
    store: RunStore,
    calibration: StoredCalibration,
    scenario: Scenario,
    on_progress: Callable[[Progress], None] | None = None,
) -> tuple[list[str], ParameterTable]:
    """Run ``scenario`` with the stochastic policy on the calibration's table and store it;
    returns the run ids and the table (its provenance is what the runs record)."""
    table = surrogate_table(store, calibration)
    run_ids = run_scenario(
        store,
        scenario,
        StochasticPolicy(table),
        scenario_id=new_scenario_id(),
        on_progress=on_progress,
    )
    return run_ids, table


def validation_scenario(event_id: str, n: int, replicates: int, seed: int) -> Scenario:
    """The small scenario a table is validated on (as ``spreadlab calibrate --validate EVENT``)."""
    events = catalog()
    if event_id not in events:
        raise ConfigError(f"unknown catalog event {event_id!r}; pick one from the list")
    return event_scenario(events[event_id], int(n), int(replicates), int(seed))


def endpoint_host(settings: Mapping[str, Any]) -> str:
    """The host (and port) these LLM settings would ask, as calibrations record it."""
    return str(LLMConfig.from_env(**settings).settings()["endpoint_host"])


def validation_estimate(settings: Mapping[str, Any], scenario: Scenario) -> RunEstimate:
    """Upper bounds on the calls, tokens and cost of the validation's LLM replicates."""
    return scenario_estimate(LLMConfig.from_env(**settings), scenario)


def validate(
    store: RunStore,
    settings: Mapping[str, Any],
    calibration: StoredCalibration,
    scenario: Scenario,
    on_progress: Callable[[int, int], None] | None = None,
) -> SurrogateCheck:
    """Run ``scenario`` directly with the LLM and 200 times with the calibration's table, and
    compare the curves (:func:`spreadlab.jobs.surrogate_check.check_surrogate`, whose
    ``on_progress`` follows the LLM's rounds). Nothing is stored but the LLM's answers, in the
    replay cache."""
    table = surrogate_table(store, calibration)
    with LLMPolicy(LLMConfig.from_env(**settings), store.con) as policy:
        return check_surrogate(scenario, policy, table, on_progress=on_progress)
