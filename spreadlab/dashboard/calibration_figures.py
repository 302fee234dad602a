"""Figures and tables of a stored calibration: heatmaps of a and b (32 profiles × event types, each
cell's interval on hover), the trait-effect forest plot, the persona check and the provenance.

Everything here comes from the database, so it is treated as untrusted: numbers are read as
numbers, profiles and event types mapped to SpreadLab's own labels, and text goes only into data
frames (shown as plain text) or through :func:`viz._plain` into plotly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from spreadlab.dashboard import tables, viz
from spreadlab.dashboard.calibration import StoredCalibration
from spreadlab.errors import DataFormatError, SpreadLabError
from spreadlab.jobs import calibrate as cal
from spreadlab.jobs.persona_check import TraitFidelity, summary
from spreadlab.jobs.surrogate_check import SurrogateCheck
from spreadlab.llm.estimate import load_prices
from spreadlab.world.events import EVENT_TYPE_LABELS, EVENT_TYPES, event_type_index
from spreadlab.world.personas import N_PROFILES, TRAIT_NAMES, profile_code, profile_label

CHANNELS = {
    "a": "a: P(post) on the offline report alone, per round",
    "b": "b: P(post) per posting neighbour, per round",
}
SOURCES = {
    "cells": "estimate per cell (see P(post) from: sampled answers or token log-probabilities)",
    "smoothed": "additive trait-effect model (smoother)",
}


def grid(rates: pd.DataFrame, column: str) -> np.ndarray:
    """Column ``column`` of a calibration table as a (32, 6) array (rows: profile codes, columns:
    :data:`EVENT_TYPES`); all NaN when the table has no such column (an older calibration)."""
    out = np.full((N_PROFILES, len(EVENT_TYPES)), np.nan)
    if column not in rates:
        return out
    try:
        rows = [profile_code(str(p)) for p in rates["profile"]]
        cols = [event_type_index(str(t).strip()) for t in rates["event_type"]]
        out[rows, cols] = pd.to_numeric(rates[column], errors="coerce").to_numpy(dtype=float)
    except (SpreadLabError, KeyError, ValueError, IndexError) as exc:
        raise DataFormatError(f"the stored calibration table is damaged ({exc})") from None
    return out


def _interval(lo: float, hi: float) -> str:
    return "n/a" if np.isnan(lo) or np.isnan(hi) else f"{lo:.3f}–{hi:.3f}"


def _hover(rates: pd.DataFrame, channel: str, uses: str) -> list[list[str]]:
    """Per cell: profile × event type, the table's value, the exact interval with its counts and
    the smoother's value and interval."""
    value, lo, hi = (grid(rates, f"{channel}{s}") for s in ("", "_lo", "_hi"))
    smooth, s_lo, s_hi = (grid(rates, f"{channel}_smoothed{s}") for s in ("", "_lo", "_hi"))
    probes = "offline" if channel == "a" else "online"
    trials, posts = grid(rates, f"{probes}_probes"), grid(rates, f"{probes}_posts")
    source = SOURCES.get(uses, "unknown")
    out = []
    for i in range(N_PROFILES):
        row = []
        for j, etype in enumerate(EVENT_TYPES):
            counts = (
                ""
                if np.isnan(trials[i, j])
                else f", {posts[i, j]:.0f} posts in {trials[i, j]:.0f} probes"
            )
            row.append(
                f"{profile_label(i)} × {EVENT_TYPE_LABELS[etype]}<br>"
                f"{channel} = {value[i, j]:.3f} per round (table: {source})<br>"
                f"per cell, exact 95% interval: {_interval(lo[i, j], hi[i, j])}{counts}<br>"
                f"trait-effect model: {smooth[i, j]:.3f}, 95% interval "
                f"{_interval(s_lo[i, j], s_hi[i, j])}"
            )
        out.append(row)
    return out


def rate_heatmap(calibration: StoredCalibration, channel: str) -> go.Figure:
    """Heatmap of ``channel`` (a or b) of the calibration's table: profiles down, event types
    across, each cell's intervals on hover."""
    z = grid(calibration.rates, channel)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[EVENT_TYPE_LABELS[t] for t in EVENT_TYPES],
            y=[profile_label(i) for i in range(N_PROFILES)],
            customdata=_hover(calibration.rates, channel, calibration.uses),
            hovertemplate="%{customdata}<extra></extra>",
            colorscale="Viridis",
            zmin=0.0,
            colorbar={"title": {"text": "per round"}},
        )
    )
    fig.update_yaxes(autorange="reversed", tickfont={"family": "monospace"})
    fig.update_layout(
        title=CHANNELS[channel],
        height=820,
        margin={"l": 110, "r": 20, "t": 60, "b": 120},
    )
    return fig


def forest(calibration: StoredCalibration) -> go.Figure | None:
    """The trait and event-type effects kept with the calibration as a forest plot (None for a
    calibration stored without them)."""
    effects = calibration.meta.get("effects")
    if not effects:
        return None
    rows = tables.effect_rows(pd.DataFrame(effects))
    baseline = EVENT_TYPE_LABELS.get(str(calibration.meta.get("baseline_event")), "the first type")
    return viz.forest_figure(
        rows, f"Trait and event effects, log-odds (95% intervals; events against {baseline})"
    )


def persona_rows(report: list[TraitFidelity]) -> pd.DataFrame:
    """One row per trait: mean scale scores of high and low personas, effect size, verdict."""
    return pd.DataFrame(
        {
            "trait": [TRAIT_NAMES.get(r.trait, str(r.trait)) for r in report],
            "high personas (1–5)": [round(r.mean_high, 2) for r in report],
            "low personas (1–5)": [round(r.mean_low, 2) for r in report],
            "difference": [round(r.mean_high - r.mean_low, 2) for r in report],
            "Cohen's d": [round(r.cohens_d, 2) for r in report],
            "Welch p": [f"{r.p_value:.2g}" for r in report],
            "verdict": ["taken on" if r.taken_on else "NOT taken on" for r in report],
        }
    )


def persona_summary(report: list[TraitFidelity]) -> str:
    """The persona check in one sentence."""
    return summary(report)


def _cost(meta: Mapping[str, Any]) -> tuple[str, str]:
    """The provenance row of what the stored calibration cost: what measuring its answers took
    (calls, tokens, money where priced); a calibration stored before that was recorded has only
    the counts of the session that stored it (0 calls when that session replayed its answers)."""
    cost = meta.get("cost")
    if isinstance(cost, Mapping):
        return "cost to measure", cal.measuring_cost(cost)
    usage = {
        "consultations": meta.get("decisions", 0),
        **{
            k: meta.get(k, 0) for k in ("calls", "cache_hits", "prompt_tokens", "completion_tokens")
        },
    }
    try:
        prices = load_prices()
    except SpreadLabError:
        prices = []
    session = cal.measured_cost(usage, str(meta.get("model", "")), prices)
    return "cost of the session that stored it", session.removeprefix("measured: ")


def provenance_rows(calibration: StoredCalibration) -> pd.DataFrame:
    """Where the calibration's numbers come from, as (field, value) rows of text."""
    m = calibration.meta
    ms = ", ".join(str(x) for x in m.get("ms", []))
    cost_field, cost_text = _cost(m)
    rows = {
        "calibration": calibration.calibration_id,
        "model": m.get("model"),
        "endpoint host": m.get("endpoint_host"),
        "date": m.get("date") or f"{calibration.created_at:%Y-%m-%d}",
        "prompt version": m.get("prompt_version"),
        "decisions": f"{m.get('decisions')} ({m.get('invalid')} invalid)",
        "design": f"{m.get('repeats')} repeat(s); posting neighbours m = {ms}; "
        f"seed {m.get('seed')}",
        "events": ", ".join(str(e) for e in m.get("events", [])),
        "feed posts": m.get("feed_bank"),
        "table values": SOURCES.get(calibration.uses, calibration.uses),
        "P(post) from": m.get("probability_from"),
        "response format": m.get("response_format"),
        "temperature": m.get("temperature"),
        cost_field: cost_text,
        "runs with this table": f"stochastic surrogate of {m.get('model')}",
    }
    return pd.DataFrame({"field": list(rows), "value": [str(v) for v in rows.values()]})


def validation_figure(check: SurrogateCheck) -> go.Figure:
    """The LLM replicates (thin lines), their pointwise 95% range (band, drawn within 0–1) and
    the surrogate's mean curve, informed fraction by round."""
    rounds = np.arange(check.surrogate_mean.size)
    lo, hi = np.clip(check.lo, 0.0, 1.0), np.clip(check.hi, 0.0, 1.0)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=rounds, y=hi, mode="lines", line={"width": 0}, showlegend=False))
    fig.add_trace(
        go.Scatter(
            x=rounds,
            y=lo,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor="rgba(0, 114, 178, 0.18)",
            name="LLM replicates: pointwise 95% range",
        )
    )
    for i, curve in enumerate(check.llm):
        fig.add_trace(
            go.Scatter(
                x=rounds,
                y=curve,
                mode="lines",
                line={"width": 1, "color": "#0072B2"},
                name="LLM replicate",
                showlegend=i == 0,
            )
        )
    fig.add_trace(
        go.Scatter(
            x=rounds,
            y=check.surrogate_mean,
            mode="lines",
            line={"width": 3, "color": "#D55E00"},
            name="surrogate: mean of 200 runs",
        )
    )
    fig.update_layout(
        title="LLM agents against the surrogate",
        xaxis_title="round",
        yaxis_title="informed fraction",
        legend={"orientation": "h", "yanchor": "top", "y": -0.2},
    )
    return fig
