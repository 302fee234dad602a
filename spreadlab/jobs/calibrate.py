"""Calibrating the agent model from an LLM: measure a and b for every profile and event type.

A designed experiment replaces the hand-set table. For each of the 32 profiles, each chosen event
(default: the first catalog event of every type) and each exposure condition — reached offline
with m = 0; m posting neighbours without offline reach; both — the LLM is consulted ``repeats``
times with exactly the prompt a network run would send (the consultations go through
:class:`spreadlab.llm.policy.LLMPolicy`, so the replay cache, budget, retries, concurrency and
the in-memory-only key all apply). The feed of m posts is drawn from a bank: posts of earlier
runs of the same event in the store, or fixed neutral posts written by SpreadLab (labelled so).

Estimates per (profile, event type), per round:

* ``a`` from the offline-only probes and ``b`` from the m-neighbour probes without offline reach,
  with exact binomial intervals from sampled answers, or from the probability of posting read
  from token log-probabilities where the endpoint returns them
  (:mod:`spreadlab.jobs.cell_estimates`); the calibration records which was used.
* A smoother: the additive trait-effect model (:mod:`spreadlab.analysis.trait_effects`) fitted
  to every probe, the "both" probes included; its predictions, with delta-method intervals, are
  reported beside the cell estimates.

The table written for ``--params`` uses the cell estimates or the smoother, and says which.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from spreadlab.analysis.trait_effects import TraitEffects, fit_trait_effects, predicted
from spreadlab.engine.policy import ConsultationBatch, FeedPost
from spreadlab.engine.stochastic import ParameterTable
from spreadlab.engine.surrogate import table_hash
from spreadlab.errors import ConfigError, DataFormatError
from spreadlab.jobs.cell_estimates import CellEstimates, estimate_cells
from spreadlab.jobs.post_bank import PostBank
from spreadlab.llm.config import LLMConfig
from spreadlab.llm.estimate import Price, RunEstimate, estimate_run, load_prices, price_for
from spreadlab.llm.policy import LLMPolicy
from spreadlab.llm.prompt import PROMPT_VERSION
from spreadlab.store.calibrations import save_calibration_row
from spreadlab.store.sharing import Connection
from spreadlab.world.events import EVENT_TYPES, Event, catalog
from spreadlab.world.personas import N_PROFILES, profile_label, trait_matrix

DEFAULT_MS: tuple[int, ...] = (1, 2, 4)
MAX_M = 100
TABLE_CHOICES = ("cells", "smoothed")
TOP_LOGPROBS = 5  # alternatives asked per token: enough for both booleans and their variants


def default_events() -> list[Event]:
    """One bundled event per event type: the first of each type in the catalog."""
    first: dict[str, Event] = {}
    for event in catalog().values():
        first.setdefault(event.type, event)
    return [first[t] for t in EVENT_TYPES]


@dataclass(frozen=True)
class Design:
    """What to ask: events, posting-neighbour counts ``ms``, ``repeats`` per probe, ``seed``.

    Conditions: offline with m = 0; each m without offline reach; each m with it ("both").
    """

    events: tuple[Event, ...]
    repeats: int
    ms: tuple[int, ...] = DEFAULT_MS
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.events:
            raise ConfigError("calibration needs at least one event", setting="events")
        if len({e.id for e in self.events}) != len(self.events):
            raise ConfigError("calibration events must be distinct")
        if self.repeats < 1:
            raise ConfigError(
                f"repeats = {self.repeats}: ask each probe at least once", setting="repeats"
            )
        if (
            not self.ms
            or any(not 1 <= m <= MAX_M for m in self.ms)
            or len(set(self.ms)) < len(self.ms)
        ):
            raise ConfigError(f"posting-neighbour counts {self.ms}: give distinct m in 1..{MAX_M}")

    @property
    def conditions(self) -> list[tuple[bool, int]]:
        """(offline, m) of every exposure condition."""
        return [(True, 0), *((False, m) for m in self.ms), *((True, m) for m in self.ms)]

    @property
    def probes_per_event(self) -> int:
        """Consultations per event and repeat."""
        return N_PROFILES * len(self.conditions)

    @property
    def consultations(self) -> int:
        return len(self.events) * self.probes_per_event * self.repeats


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:7], "big")


def probe_agent(profile: int, offline: bool, m: int) -> int:
    """The probe's agent number in its cache tag: the same probe has the same tag in any design."""
    return (profile << 8) | (int(offline) << 7) | m


def _probe_grid(
    conditions: list[tuple[bool, int]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every profile under every (offline, m) condition: profiles, offline, m and probe agents."""
    profiles = np.repeat(np.arange(N_PROFILES), len(conditions))
    offline = np.tile([o for o, _ in conditions], N_PROFILES).astype(bool)
    m = np.tile([k for _, k in conditions], N_PROFILES).astype(np.int64)
    agents = np.array(
        [probe_agent(int(p), bool(o), int(k)) for p, o, k in zip(profiles, offline, m, strict=True)]
    )
    return profiles, offline, m, agents


def _probe_feeds(
    texts: tuple[str, ...], agents: np.ndarray, m: np.ndarray, key: tuple[int, int, int]
) -> dict[int, list[FeedPost]]:
    """Each probe's feed of ``m`` posts drawn from ``texts`` by a generator seeded with ``key``
    (seed, event, repeat) and the probe's agent number."""
    feeds: dict[int, list[FeedPost]] = {}
    for agent, k in zip(agents.tolist(), m.tolist(), strict=True):
        rng = np.random.default_rng([*key, agent])
        picks = rng.choice(len(texts), size=k, replace=k > len(texts))
        feeds[agent] = [FeedPost(-1, k - i, texts[j]) for i, j in enumerate(picks)]
    return feeds


def run_probes(
    policy: LLMPolicy,
    design: Design,
    bank: PostBank,
    on_progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Consult ``policy`` on every probe of ``design``; one row per consultation, with the
    probability of posting read from token log-probabilities in ``p_post`` (NaN where none).

    One batch per (event, repeat). The cache tag is (seed, a number from the event id, repeat,
    probe), and the feed is drawn from a generator seeded by the same, so a repeated calibration
    asks identical questions (replayed from the cache) and no two probes share an answer.
    """
    frames = []
    total, done = len(design.events) * design.repeats, 0
    for event in design.events:
        event_key = _stable_int(event.id)
        profiles, offline, m, agents = _probe_grid(design.conditions)
        for repeat in range(design.repeats):
            feeds = _probe_feeds(bank.posts[event.id], agents, m, (design.seed, event_key, repeat))
            batch = ConsultationBatch(
                run_seed=design.seed,
                round=repeat,
                agents=agents,
                offline=offline,
                m=m,
                profiles=profiles,
                event=event,
                feed=feeds.__getitem__,
            )
            stream_rng = np.random.default_rng([design.seed, event_key, repeat])
            decisions = policy.decide(batch, stream_rng)
            frames.append(
                pd.DataFrame(
                    {
                        "event_id": event.id,
                        "event_type": event.type,
                        "repeat": repeat,
                        "profile": profiles,
                        "offline": offline,
                        "m": m,
                        "post": decisions.post,
                        "valid": decisions.valid,
                        "p_post": np.nan if decisions.p_post is None else decisions.p_post,
                    }
                )
            )
            done += 1
            if on_progress is not None:
                on_progress(done, total)
    return pd.concat(frames, ignore_index=True)


def smoothed(effects: TraitEffects) -> dict[str, np.ndarray]:
    """a and b of every (profile, event type) predicted by the additive trait-effect model, with
    Wald intervals by the delta method (keys a, a_lo, a_hi, b, b_lo, b_hi; NaN for event types
    the calibration did not include)."""
    traits = trait_matrix()
    out = {}
    for channel in ("a", "b"):
        columns = [predicted(effects, channel, traits, t) for t in EVENT_TYPES]
        for k, suffix in enumerate(("", "_lo", "_hi")):
            out[channel + suffix] = np.column_stack([c[k] for c in columns])
    return out


@dataclass(frozen=True)
class Calibration:
    """The probes' log, the cell estimates, the smoother, and where it all came from."""

    log: pd.DataFrame
    cells: CellEstimates
    effects: TraitEffects
    smoother: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    def table(self, use: str = "cells") -> ParameterTable:
        """The parameter table for ``--params``; ``use`` = cells or smoothed."""
        if use not in TABLE_CHOICES:
            raise ConfigError(f"table source {use!r}: use one of {', '.join(TABLE_CHOICES)}")
        a, b = (
            (self.cells.a, self.cells.b)
            if use == "cells"
            else (self.smoother["a"], self.smoother["b"])
        )
        missing = np.argwhere(np.isnan(a) | np.isnan(b))
        if missing.size:
            i, j = missing[0]
            raise DataFormatError(
                f"no {use} estimate for profile {profile_label(int(i))}, event type "
                f"{EVENT_TYPES[j]}: a parameter table needs every profile and all six event "
                "types; calibrate with an event of every type (and enough repeats)",
                setting="events",
            )
        return ParameterTable(a.copy(), b.copy(), self.provenance(use))

    def provenance(self, use: str) -> str:
        """The provenance line written into the table (never 'illustrative')."""
        m = self.meta
        method = (
            "additive trait-effect model"
            if use != "cells"
            else "per cell, effective-trials binomial"
            if m.get("decisions_with_logprobs")
            else "exact binomial per cell"
        )
        return (
            f"calibrated table of model {m['model']} at {m['endpoint_host']}, {m['date']}, "
            f"prompt version {m['prompt_version']}, {m['decisions']} decisions "
            f"({m['invalid']} invalid), {m['repeats']} repeats, P(post) from "
            f"{m.get('probability_from', 'sampled answers')}, values from {use} ({method}), "
            f"cost to measure: {measuring_cost(m['cost'])}"
        )

    def to_csv(self, use: str = "cells") -> str:
        """The table in the format ``--params`` reads, with the cell intervals, the smoother's
        values and intervals and the trial counts as extra columns."""
        table = self.table(use)
        c = self.cells
        rows = []
        for i in range(N_PROFILES):
            for j, etype in enumerate(EVENT_TYPES):
                rows.append(
                    {
                        "profile": profile_label(i),
                        "event_type": etype,
                        "a": float(table.a[i, j]),
                        "b": float(table.b[i, j]),
                        "provenance": table.provenance,
                        "a_lo": float(c.a_lo[i, j]),
                        "a_hi": float(c.a_hi[i, j]),
                        "b_lo": float(c.b_lo[i, j]),
                        "b_hi": float(c.b_hi[i, j]),
                        **{
                            f"{k[0]}_smoothed{k[1:]}": float(v[i, j])
                            for k, v in self.smoother.items()
                        },
                        "offline_probes": int(c.a_trials[i, j]),
                        "offline_posts": int(c.a_posts[i, j]),
                        "online_probes": int(c.b_trials[i, j]),
                        "online_posts": int(c.b_posts[i, j]),
                        "offline_logprob_probes": int(c.a_logprobs[i, j]),
                        "online_logprob_probes": int(c.b_logprobs[i, j]),
                    }
                )
        return pd.DataFrame(rows).to_csv(index=False, lineterminator="\n")


def calibrate(
    policy: LLMPolicy,
    design: Design,
    bank: PostBank,
    on_progress: Callable[[int, int], None] | None = None,
    level: float = 0.95,
    prices: list[Price] | None = None,
) -> Calibration:
    """Run the experiment of ``design`` through ``policy`` and estimate a and b (from token
    log-probabilities where the policy asks for them and the endpoint returns them). The meta
    keeps what this session asked (``session``) and what the table's answers cost to measure
    (``cost``, priced by ``prices``, default the bundled table), replayed ones included."""
    before = policy.usage()
    log = run_probes(policy, design, bank, on_progress)
    after = policy.usage()
    session, cost = probe_costs(before, after, policy.config.model, prices)
    days = answer_days(before, after)
    cells = estimate_cells(log, level)
    probe_log = log[["offline", "m", "profile", "event_type", "post", "valid"]]
    known = log["p_post"].notna()
    if known.any():  # the smoother learns from the probabilities, answers where there are none
        probe_log = probe_log.assign(post=log["p_post"].where(known, log["post"].astype(float)))
    effects = fit_trait_effects(probe_log)
    settings = policy.config.settings()
    meta = {
        "model": settings["model"],
        "endpoint_host": settings["endpoint_host"],
        "date": measurement_date(days),
        "answers_by_day": days,
        "prompt_version": PROMPT_VERSION,
        "decisions": len(log),
        "invalid": int((~log["valid"].astype(bool)).sum()),
        "repeats": design.repeats,
        "ms": list(design.ms),
        "seed": design.seed,
        "events": [e.id for e in design.events],
        "feed_bank": bank.describe(),
        "temperature": settings["temperature"],
        "response_format": policy.response_format(),
        "probability_from": probability_source(policy, int((known & log["valid"]).sum()), len(log)),
        "decisions_with_logprobs": int((known & log["valid"]).sum()),
        "effects_dispersion": effects.dispersion,
        "session": session,
        "cost": cost,
    }
    return Calibration(log, cells, effects, smoothed(effects), meta)


def probability_source(policy: LLMPolicy, with_logprobs: int, decisions: int) -> str:
    """Where the calibration's probabilities of posting came from, in words."""
    if with_logprobs:
        rest = "" if with_logprobs == decisions else ", sampled answers for the rest"
        return f"token log-probabilities for {with_logprobs} of {decisions} decisions{rest}"
    if not policy.top_logprobs:
        return "sampled answers (token log-probabilities not asked for)"
    if policy.logprobs_refused():
        return "sampled answers (the endpoint refused token log-probabilities)"
    return "sampled answers (the endpoint returned no usable token log-probabilities)"


def estimate_cost(
    config: LLMConfig, design: Design, prices: list[Price] | None = None
) -> RunEstimate:
    """Upper bounds on calls, tokens and cost of ``design`` (summed over its events)."""
    parts = [
        estimate_run(
            config,
            event,
            n_agents=design.probes_per_event,
            rounds=1,
            n0=0,
            replicates=design.repeats,
            prices=prices,
        )
        for event in design.events
    ]
    price = parts[0].price
    costs = [p.cost for p in parts]
    return RunEstimate(
        consultations=sum(p.consultations for p in parts),
        calls=sum(p.calls for p in parts),
        prompt_tokens=sum(p.prompt_tokens for p in parts),
        completion_tokens=sum(p.completion_tokens for p in parts),
        cost=None if price is None else float(sum(c or 0.0 for c in costs)),
        price=price,
    )


SESSION_COUNTERS = ("calls", "cache_hits", "prompt_tokens", "completion_tokens")
REPLAYED_COUNTERS = ("replayed_prompt_tokens", "replayed_completion_tokens")


def probe_costs(
    before: dict[str, Any], after: dict[str, Any], model: str, prices: list[Price] | None
) -> tuple[dict[str, int], dict[str, Any]]:
    """From the policy's counters ``before`` and ``after`` the probes: what this session asked
    (calls to the endpoint, answers replayed, tokens), and what the answers cost to measure —
    every answered call, whether made now or replayed from the ledger with the tokens it used
    when first asked — with its money where ``model`` has a price."""
    spent = {k: int(after[k]) - int(before[k]) for k in SESSION_COUNTERS + REPLAYED_COUNTERS}
    session = {k: spent[k] for k in SESSION_COUNTERS}
    prompt = spent["prompt_tokens"] + spent["replayed_prompt_tokens"]
    completion = spent["completion_tokens"] + spent["replayed_completion_tokens"]
    price = price_for(model, load_prices() if prices is None else prices)
    cost = {
        "calls": spent["calls"] + spent["cache_hits"],
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "money": None if price is None else price.cost(prompt, completion),
        "currency": None if price is None else price.currency,
    }
    return session, cost


def answer_days(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """How many of the answers served between the policy's counters ``before`` and ``after``
    were obtained on each UTC day (a replayed answer counts on the day it was first asked)."""
    old = before.get("answers_by_day", {})
    days = {d: n - old.get(d, 0) for d, n in after.get("answers_by_day", {}).items()}
    return {d: n for d, n in sorted(days.items()) if n > 0}


def measurement_date(days: Mapping[str, int]) -> str:
    """When a calibration's answers were measured: their day, or first and last day; today when
    the policy keeps no ledger (then every answer is new)."""
    if not days:
        return datetime.now(UTC).strftime("%Y-%m-%d")
    first, last = min(days), max(days)
    return first if first == last else f"{first} to {last}"


def measured_cost(usage: dict[str, Any], model: str, prices: list[Price]) -> str:
    """One line from :meth:`LLMPolicy.usage`: consultations, calls, replayed answers, tokens and,
    where a price is known, money — of this session only (see :func:`measuring_cost`)."""
    text = (
        f"measured: {usage['consultations']} consultations, {usage['calls']} calls to the "
        f"endpoint, {usage['cache_hits']} answers replayed from the cache, "
        f"{usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion tokens"
    )
    price = price_for(model, prices)
    if price is not None:
        cost = price.cost(usage["prompt_tokens"], usage["completion_tokens"])
        text += f"; cost ≈ {cost:.4f} {price.currency}"
    if not usage["calls"] and usage["cache_hits"]:
        text += "; 0 requests: every answer replayed from the cache"
    return text


def measuring_cost(cost: Mapping[str, Any]) -> str:
    """What a calibration's answers cost to measure (its meta's ``cost``), in words."""
    money = cost.get("money")
    priced = isinstance(money, int | float) and not isinstance(money, bool)
    return (
        f"{cost.get('calls')} calls, {cost.get('prompt_tokens')} prompt + "
        f"{cost.get('completion_tokens')} completion tokens; "
        + (
            f"cost ≈ {money:.4f} {cost.get('currency')}"
            if priced
            else "no price known for this model"
        )
    )


def save_calibration(con: Connection, calibration: Calibration, use: str = "cells") -> str:
    """Store the calibration, its table (with its content hash) and its trait and event effects
    (for the dashboard's forest plot); returns its id."""
    csv_text = calibration.to_csv(use)
    digest = table_hash(calibration.table(use))
    calibration_id = f"cal-{digest[:12]}"
    effects = calibration.effects
    meta = {
        **calibration.meta,
        "effects": effects.records(),
        "baseline_event": effects.baseline_event,
    }
    save_calibration_row(con, calibration_id, digest, meta, use, csv_text)
    return calibration_id
