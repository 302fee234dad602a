"""Pure builders for the Sweep page: the heatmap of a summary over two axes, small multiples of
the cells' mean curves, the comparison table with FDR-controlled flags, and the CSV of per-cell
summaries with provenance.

Nothing here imports Streamlit or touches the store: each function takes the data frame of
:func:`spreadlab.store.sweeps.sweep_cells` and returns a figure or a data frame.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from spreadlab.analysis.differences import (
    benjamini_hochberg,
    difference_p_values,
    standard_errors,
)
from spreadlab.glossary import data_source, p_text, provenance

LLM = "llm"
"""The ``params`` value of LLM cells (:data:`spreadlab.jobs.sweep_grid.LLM`)."""

SUMMARIES: dict[str, str] = {
    "reach": "final reach (share of agents informed, 0–1)",
    "rounds10": "rounds to 10% informed",
    "rounds50": "rounds to 50% informed",
    "rounds90": "rounds to 90% informed",
    "si1_beta": "SI-1 online rate β (per round per informed neighbour)",
    "si2_alpha": "SI-2 offline rate α (per round)",
    "si2_beta": "SI-2 online rate β (per round per informed neighbour)",
    "delta_bic": "ΔBIC, SI-1 minus SI-2 (above 10: two rates clearly better)",
}
"""Summaries a heatmap can show, with their units."""
WITH_INTERVALS = tuple(s for s in SUMMARIES if s != "delta_bic")
"""Summaries stored with a 95% interval, which the comparison table can test."""
AXES: dict[str, str] = {
    "event": "event",
    "event_type": "event type",
    "mix": "personality mix",
    "q": "offline reach q (per round)",
    "n": "agents N",
    "k": "degree k",
    "network": "network",
    "params": "parameter table",
    "replicates": "replicates",
    "seed_index": "seed draw",
}
"""Cell parameters a heatmap or comparison can be laid out over."""
GRID_AXES = ("event", "mix", "q", "n", "k", "network", "params", "replicates", "seed_index")
"""The axes that identify a cell within a sweep (event type follows from the event)."""


def varying_axes(cells: pd.DataFrame) -> list[str]:
    """The axes along which the sweep's cells differ (every axis when none does)."""
    varying = [a for a in AXES if cells[a].nunique() > 1]
    return varying or list(AXES)


def _interval_text(lo: object, hi: object) -> str:
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return "no interval"
    return f"{lo:.4g} to {hi:.4g}"


def heatmap(cells: pd.DataFrame, value: str, x: str, y: str) -> go.Figure:
    """Mean of ``value`` over the cells in each (``x``, ``y``) square; hovering a square shows
    its value, its interval when it holds one cell, and how many cells it averages."""
    done = cells[cells["status"] == "done"]
    groups = done.groupby([y, x], sort=True)
    table = groups[value].mean().unstack(x)
    count = groups[value].count().unstack(x).reindex_like(table)
    first = groups[[f"{value}_lo", f"{value}_hi"]].first() if f"{value}_lo" in done else None
    hover = np.empty(table.shape, dtype=object)
    for i, row in enumerate(table.index):
        for j, col in enumerate(table.columns):
            n = int(count.iloc[i, j]) if pd.notna(count.iloc[i, j]) else 0
            detail = f"mean of {n} cells" if n > 1 else "no cell" if n == 0 else "one cell"
            if n == 1 and first is not None:
                lo, hi = first.loc[(row, col)]
                detail = f"95% interval {_interval_text(lo, hi)}"
            hover[i, j] = f"{html.escape(str(row))} × {html.escape(str(col))}: {detail}"
    fig = go.Figure(
        go.Heatmap(
            z=table.to_numpy(dtype=float),
            x=[html.escape(str(c)) for c in table.columns],
            y=[html.escape(str(r)) for r in table.index],
            customdata=hover,
            colorscale="Viridis",
            texttemplate="%{z:.3g}",
            hovertemplate="%{customdata}<br>" + html.escape(SUMMARIES[value]) + ": %{z:.4g}"
            "<extra></extra>",
            colorbar={"title": {"text": value}},
        )
    )
    fig.update_layout(
        title=html.escape(SUMMARIES[value]),
        xaxis_title=AXES[x],
        yaxis_title=AXES[y],
        xaxis={"type": "category"},
        yaxis={"type": "category"},
        template="plotly_white",
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return fig


MAX_PANELS = 48
"""Most small charts drawn at once; further rows of the grid are left out (and said so)."""


def small_multiples(cells: pd.DataFrame, x: str, y: str) -> go.Figure:
    """One small chart per (``y``, ``x``) square: the mean informed-fraction curve of its cell
    with the pointwise 95% band of that mean, or, when the square holds several cells (axes not
    shown), the mean of their mean curves without a band. Rows past :data:`MAX_PANELS` charts
    are left out and the title says so."""
    done = cells[(cells["status"] == "done") & cells["curve_mean"].notna()]
    columns = sorted(done[x].unique().tolist())
    rows = sorted(done[y].unique().tolist())
    shown = rows[: max(1, MAX_PANELS // max(len(columns), 1))]
    titles = [f"{html.escape(str(r))} × {html.escape(str(c))}" for r in shown for c in columns]
    fig = make_subplots(
        rows=max(len(shown), 1),
        cols=max(len(columns), 1),
        shared_xaxes=True,
        shared_yaxes=True,
        subplot_titles=titles,
        vertical_spacing=min(0.5 / max(len(shown), 1), 0.14),
        horizontal_spacing=min(0.2 / max(len(columns), 1), 0.04),
    )
    for i, row in enumerate(shown, start=1):
        for j, col in enumerate(columns, start=1):
            square = done[(done[y] == row) & (done[x] == col)]
            for trace in _curve_traces(square):
                fig.add_trace(trace, row=i, col=j)
    title = "Mean informed fraction per round (band: 95% interval of the mean over replicates)"
    if len(shown) < len(rows):
        title += f"; first {len(shown)} of {len(rows)} rows"
    fig.update_yaxes(range=[0, 1])
    fig.update_xaxes(title_text="round", row=max(len(shown), 1))
    fig.update_layout(
        title=html.escape(title),
        showlegend=False,
        hovermode="x",  # anywhere over a chart: that round's mean
        template="plotly_white",
        height=180 * max(len(shown), 1) + 120,
        margin={"l": 10, "r": 10, "t": 80, "b": 10},
    )
    return fig


def _curve_traces(square: pd.DataFrame) -> list[go.Scatter]:
    """The traces of one small chart: band (upper, then lower filled up to it) and mean."""
    if square.empty:
        return []
    curves = [np.asarray(c, dtype=float) for c in square["curve_mean"]]
    width = max(c.size for c in curves)
    mean = np.mean([np.pad(c, (0, width - c.size), mode="edge") for c in curves], axis=0)
    rounds = np.arange(width)
    traces = []
    if len(square) == 1 and square["curve_lo"].notna().item():
        for edge, fill in (("curve_hi", None), ("curve_lo", "tonexty")):
            traces.append(
                go.Scatter(
                    x=rounds,
                    y=np.asarray(square[edge].item(), dtype=float),
                    mode="lines",
                    line={"width": 0, "color": "rgba(31, 119, 180, 0.25)"},
                    fill=fill,
                    fillcolor="rgba(31, 119, 180, 0.25)",
                    hoverinfo="skip",
                )
            )
    what = "mean over replicates" if len(square) == 1 else f"mean of {len(square)} cells' means"
    traces.append(
        go.Scatter(
            x=rounds,
            y=mean,
            mode="lines",
            line={"color": "rgb(31, 119, 180)", "width": 2},
            hovertemplate=f"round %{{x}}: %{{y:.3f}} informed ({what})<extra></extra>",
        )
    )
    return traces


def comparison(cells: pd.DataFrame, value: str, axis: str, reference: object) -> pd.DataFrame:
    """Every done cell against its twin with ``axis`` = ``reference`` (all else equal): the
    difference, its p-value, the Benjamini–Hochberg adjusted p-value over all these comparisons,
    and whether both intervals exist and the adjusted p-value is below 0.05 (``differs``)."""
    done = cells[(cells["status"] == "done") & cells[value].notna()]
    keys = [a for a in GRID_AXES if a != axis]
    columns = [*keys, axis, value, f"{value}_lo", f"{value}_hi"]
    base = done.loc[done[axis] == reference, columns].drop(columns=axis)
    base = base.rename(columns={c: f"ref_{c}" for c in (value, f"{value}_lo", f"{value}_hi")})
    pairs = done.loc[done[axis] != reference, [*columns, "cell_id"]].merge(base, on=keys)
    se = standard_errors(pairs[value], pairs[f"{value}_lo"], pairs[f"{value}_hi"])
    ref_se = standard_errors(
        pairs[f"ref_{value}"], pairs[f"ref_{value}_lo"], pairs[f"ref_{value}_hi"]
    )
    pairs["difference"] = pairs[value] - pairs[f"ref_{value}"]
    pairs["p"] = difference_p_values(pairs[value], se, pairs[f"ref_{value}"], ref_se)
    pairs["p_adjusted"] = benjamini_hochberg(pairs["p"].to_numpy())
    pairs["differs"] = pairs["p_adjusted"] < 0.05
    return pairs


def comparison_display(
    pairs: pd.DataFrame, value: str, axis: str, reference: object
) -> pd.DataFrame:
    """The comparison in words, one row per cell: what it is, both values with intervals, the
    adjusted p-value and the flag."""
    shown = [a for a in GRID_AXES if a != axis and pairs[a].nunique() > 1]
    out = pairs[[*shown, axis]].rename(columns=AXES)
    out["this cell (95% interval)"] = [
        f"{v:.4g} ({_interval_text(lo, hi)})"
        for v, lo, hi in zip(pairs[value], pairs[f"{value}_lo"], pairs[f"{value}_hi"], strict=True)
    ]
    out[f"at {reference} (95% interval)"] = [
        f"{v:.4g} ({_interval_text(lo, hi)})"
        for v, lo, hi in zip(
            pairs[f"ref_{value}"], pairs[f"ref_{value}_lo"], pairs[f"ref_{value}_hi"], strict=True
        )
    ]
    out["difference"] = [f"{d:+.4g}" for d in pairs["difference"]]
    out["adjusted p (BH)"] = [p_text(p) for p in pairs["p_adjusted"]]
    out["differs (FDR 5%)"] = np.where(
        pairs["differs"], "yes", np.where(pairs["p_adjusted"].isna(), "no interval", "no")
    )
    return out


def csv_table(cells: pd.DataFrame, sweep: pd.Series) -> pd.DataFrame:
    """Per-cell summaries with the sweep's provenance on every row: grid, seeds and source (LLM
    agents for LLM cells, else the stochastic model); the cell's parameter-table label as a
    provenance code (its stored JSON becomes ``sweep_provenance``)."""
    out = cells.copy()
    out.insert(0, "sweep_name", sweep["name"])
    out.insert(1, "grid_file", sweep["source"])
    out.insert(2, "grid_seed", sweep["seed"])
    llm = out["params"] == LLM
    out.insert(
        3, "data_source", np.where(llm, data_source(LLM, False), data_source("stochastic", True))
    )
    out = out.rename(columns={"provenance": "sweep_provenance"})
    out.insert(
        4,
        "provenance",
        [
            provenance(LLM if is_llm else "stochastic", str(t))
            for is_llm, t in zip(llm, out["table_source"], strict=True)
        ],
    )
    return out
