"""Form values to domain objects: the scenario form's event, personality mix, scenario and LLM
options, each checked as the command line checks them (a :class:`ConfigError` says what to fix)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spreadlab.engine.simulate import Scenario
from spreadlab.errors import ConfigError
from spreadlab.validate import slug
from spreadlab.world.events import Event, catalog
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PRESETS, PersonalityMix, parse_mix


def build_event(
    *,
    catalog_id: str | None = None,
    title: str = "",
    event_type: str = "",
    report: str = "",
) -> Event:
    """A catalog event by id, or the user's own report (validated: type known, report not empty)."""
    if catalog_id:
        events = catalog()
        if catalog_id not in events:
            raise ConfigError(f"unknown catalog event {catalog_id!r}; pick one from the list")
        return events[catalog_id]
    return Event(
        id=f"user-{slug(title.strip().lower() or 'event')[:40]}",
        type=event_type,
        title=title.strip() or "Your event",
        report=report.strip(),
        source="user (dashboard)",
    )


def build_mix(
    mode: str,
    *,
    preset: str = "uniform",
    traits: Mapping[str, float] | None = None,
    weights: str = "",
) -> PersonalityMix:
    """A personality mix from the scenario form: a preset, per-trait probabilities (of "high"),
    or explicit weights written as ``O+C-E+A-N+=2, 7=1``."""
    if mode == "preset":
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
        return PRESETS[preset]
    if mode == "traits":
        probabilities = dict(traits or {})
        name = "traits:" + ",".join(f"{t}={p:g}" for t, p in probabilities.items())
        return PersonalityMix.from_trait_probabilities(probabilities, name=name)
    if mode == "weights":
        text = ",".join(s.strip() for s in weights.replace("\n", ",").split(",") if s.strip())
        if not text:
            raise ConfigError(
                "the personality mix is empty: give at least one profile weight, e.g. "
                "'O+C-E+A-N+=2, O-C+E-A+N-=1'"
            )
        return parse_mix(f"weights:{text}")
    raise ConfigError(f"unknown mix mode {mode!r}; use preset, traits or weights")


def build_scenario(
    event: Event,
    mix: PersonalityMix,
    *,
    network_kind: str,
    n: int,
    k: int,
    seed: int,
    rounds: int,
    q: float,
    n0: int,
    replicates: int,
    rewire: float = 0.1,
) -> Scenario:
    """The scenario the form describes. Its checks, and those of the network generators (which
    run before a replicate's first write), raise :class:`ConfigError`."""
    spec = NetworkSpec(kind=network_kind, n=int(n), k=int(k), rewire=float(rewire))
    return Scenario(
        event=event,
        mix=mix,
        network=spec,
        rounds=int(rounds),
        q=float(q),
        n0=int(n0),
        replicates=int(replicates),
        seed=int(seed),
    )


def llm_settings(
    *,
    base_url: str,
    model: str,
    api_key: str,
    temperature: float,
    max_calls: int,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """The LLM options of the form, as :func:`spreadlab.jobs.policies.open_policy` takes them.

    Empty fields fall back to the environment (``OPENAI_BASE_URL``, ``SPREADLAB_MODEL``,
    ``OPENAI_API_KEY``); the key stays in memory only. ``timeout`` is in seconds per reply.
    """
    return {
        "base_url": base_url.strip() or None,
        "model": model.strip() or None,
        "api_key": api_key or None,
        "temperature": float(temperature),
        "max_calls": int(max_calls) or None,
        "timeout": float(timeout),
    }
