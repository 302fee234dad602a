"""Pure figure builders for the dashboard: plotly figures and a self-contained pyvis page.

Nothing here imports Streamlit or touches the store; every function takes plain arrays or data
frames and returns a figure or an HTML string, so the figures can be tested and reused anywhere.
The network page is fully offline: vis.js is inlined and the Bootstrap CDN links that pyvis 0.3.2
adds are removed. Every piece of LLM or user text that ends up in HTML is escaped.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from spreadlab.lazy import lazy_import
from spreadlab.world.networks import Network
from spreadlab.world.personas import profile_label

STATE_COLOURS: dict[str, str] = {
    "susceptible": "#C9CED6",
    "newly posting": "#E69F00",
    "posted": "#0072B2",
}
"""Node colours by state (Okabe–Ito orange and blue, readable with colour-vision deficiency)."""
MODEL_COLOURS: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#000000")
"""Okabe–Ito colours without its yellow (too faint on white): told apart with colour-vision
deficiency."""
DASHES: tuple[str, ...] = ("solid", "dash", "dot", "dashdot")
"""Line dashes: the seventh line and later repeat a colour with a new dash."""


def line_style(i: int) -> dict[str, str]:
    """Colour and dash of the ``i``-th line: distinct for up to 24 lines."""
    n = len(MODEL_COLOURS)
    return {"color": MODEL_COLOURS[i % n], "dash": DASHES[(i // n) % len(DASHES)]}


# pyvis imports IPython (a third of a second); only the Spread page draws a network
pyvis_network = lazy_import("pyvis.network")

# The white template as the default, not per figure: naming it in each figure's layout validates
# the whole template again (about 10 ms a figure), the default is applied once and shared.
pio.templates.default = "plotly_white"

MAX_GRAPH_NODES = 1000
MAX_TOOLTIP_TEXT = 280
_CDN_TAG = re.compile(
    r"<link[^>]*https?://[^>]*>\s*|<script[^>]*\ssrc\s*=\s*[\"']https?://[^>]*>\s*</script>\s*",
    re.IGNORECASE,
)
_EXTERNAL_REF = re.compile(r"\s(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", re.IGNORECASE)


def _plain(value: object) -> str:
    """A label as plotly's pseudo-HTML shows it literally (no tags, no links from data)."""
    return html.escape(str(value))


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=x,
        yaxis_title=y,
        legend={"orientation": "h", "yanchor": "top", "y": -0.2},
        margin={"l": 60, "r": 20, "t": 60, "b": 60},
    )
    return fig


def informed_figure(curves: pd.DataFrame, title: str = "Informed fraction by round") -> go.Figure:
    """Informed fraction i(t) per round, one line per ``label`` (columns label, round, fraction)."""
    fig = go.Figure()
    for i, (label, group) in enumerate(curves.groupby("label", sort=False)):
        fig.add_trace(
            go.Scatter(
                x=group["round"],
                y=group["fraction"],
                mode="lines+markers",
                name=_plain(label),
                line=line_style(i),
                marker={"size": 4},
            )
        )
    fig.update_yaxes(range=[0, 1.02])
    return _layout(fig, title, "round", "informed fraction i(t)")


def overview_figure(overview: pd.DataFrame) -> go.Figure:
    """Each scenario as a point: how fast it spread (x, rounds to half its final reach) against
    how far (y, final informed fraction), coloured by event type (columns of
    :func:`spreadlab.dashboard.tables.scenario_overview`)."""
    fig = go.Figure()
    for i, (event_type, group) in enumerate(overview.groupby("event_type", sort=True)):
        fig.add_trace(
            go.Scatter(
                x=group["half_round"],
                y=group["reach"],
                mode="markers",
                name=_plain(event_type),
                marker={"size": 9, "color": line_style(i)["color"]},
                customdata=[_plain(label) for label in group["label"]],
                hovertemplate="%{customdata}<br>half of final reach by round %{x:.1f}"
                "<br>final informed %{y:.0%}<extra></extra>",
            )
        )
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return _layout(
        fig,
        "Each scenario: how fast and how far the news spread (mean over its runs)",
        "rounds until half of the final reach",
        "final informed fraction",
    )


def fit_figure(
    observed: pd.DataFrame, fitted: pd.DataFrame, title: str = "Observed spread and fitted models"
) -> go.Figure:
    """Observed points (columns label, round, fraction) with each model's fitted curve (columns
    model, round, fraction) drawn over them."""
    fig = go.Figure()
    for label, group in observed.groupby("label", sort=False):
        fig.add_trace(
            go.Scatter(
                x=group["round"],
                y=group["fraction"],
                mode="markers",
                name=f"observed: {_plain(label)}",
                marker={"size": 6, "color": "#555555", "opacity": 0.7},
            )
        )
    for i, (model, group) in enumerate(fitted.groupby("model", sort=False)):
        fig.add_trace(
            go.Scatter(
                x=group["round"],
                y=group["fraction"],
                mode="lines",
                name=_plain(model),
                line={"width": 3, **line_style(i)},
            )
        )
    fig.update_yaxes(range=[0, 1.02])
    return _layout(fig, title, "round", "informed fraction i(t)")


def residuals_figure(residuals: pd.DataFrame, title: str = "Residuals") -> go.Figure:
    """Observed minus fitted per round, one line per model (columns model, round, residual)."""
    fig = go.Figure()
    for i, (model, group) in enumerate(residuals.groupby("model", sort=False)):
        fig.add_trace(
            go.Scatter(
                x=group["round"],
                y=group["residual"],
                mode="lines+markers",
                name=_plain(model),
                line=line_style(i),
                marker={"size": 5},
            )
        )
    fig.add_hline(y=0, line={"color": "#888888", "dash": "dot"})
    return _layout(fig, title, "round", "observed - fitted")


def rates_figure(rates: pd.DataFrame, title: str = "Fitted rates with 95% intervals") -> go.Figure:
    """Estimates with intervals side by side: columns group, series, estimate, low, high.

    ``group`` is the x-axis category (e.g. event × mix), ``series`` the colour (e.g. model and
    parameter, with its unit).
    """
    fig = go.Figure()
    for i, (series, group) in enumerate(rates.groupby("series", sort=False)):
        fig.add_trace(
            go.Scatter(
                x=[_plain(g) for g in group["group"]],
                y=group["estimate"],
                mode="markers",
                name=_plain(series),
                marker={"size": 10, "color": line_style(i)["color"]},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": group["high"] - group["estimate"],
                    "arrayminus": group["estimate"] - group["low"],
                },
            )
        )
    fig.update_layout(scattermode="group")
    return _layout(fig, title, "", "estimate")


def forest_figure(effects: pd.DataFrame, title: str = "Trait effects (95% intervals)") -> go.Figure:
    """Forest plot: columns term, series, estimate, low, high; a vertical line at no effect."""
    fig = go.Figure()
    for i, (series, group) in enumerate(effects.groupby("series", sort=False)):
        fig.add_trace(
            go.Scatter(
                x=group["estimate"],
                y=[_plain(t) for t in group["term"]],
                mode="markers",
                name=_plain(series),
                marker={
                    "size": 10,
                    "symbol": "square",
                    "color": line_style(i)["color"],
                },
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": group["high"] - group["estimate"],
                    "arrayminus": group["estimate"] - group["low"],
                },
            )
        )
    fig.add_vline(x=0, line={"color": "#888888", "dash": "dot"})
    fig.update_layout(scattermode="group")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title, "effect (log-odds per trait, high vs low)", "")


def neighbourhood_sample(network: Network, start: np.ndarray, max_nodes: int) -> np.ndarray:
    """Up to ``max_nodes`` agents found breadth-first from ``start`` (sorted agent ids).

    The seeds and their nearest neighbours are where a spread begins, so this keeps the part of a
    large network where the animation has something to show. O(nodes visited · degree).
    """
    if network.n <= max_nodes:
        return np.arange(network.n)
    chosen: list[int] = []
    seen = np.zeros(network.n, dtype=bool)
    frontier = [int(a) for a in (start if len(start) else [0])]
    seen[frontier] = True
    while frontier and len(chosen) < max_nodes:
        chosen.extend(frontier[: max_nodes - len(chosen)])
        nxt: list[int] = []
        for agent in frontier:
            neighbours = network.neighbours(agent)
            fresh = neighbours[~seen[neighbours]]
            seen[fresh] = True
            nxt.extend(int(x) for x in fresh)
        frontier = nxt
    return np.sort(np.asarray(chosen, dtype=np.int64))


@dataclass(frozen=True)
class SpreadGraph:
    """The network page and what it shows: ``shown`` of ``total`` agents, ``rounds`` rounds."""

    html: str
    shown: int
    total: int
    rounds: int

    @property
    def sampled(self) -> bool:
        return self.shown < self.total

    @property
    def note(self) -> str:
        """Say so when only a sampled neighbourhood is drawn."""
        if not self.sampled:
            return ""
        return (
            f"Showing a sampled neighbourhood: {self.shown:,} of {self.total:,} agents (the seed "
            "agents and their nearest neighbours, breadth-first) and the links among them. "
            "Colours and counts refer to these agents only; the curves on the other pages use all."
        )


def _tooltip(agent: int, profile: int, posted: int, text: str | None) -> str:
    """Tooltip HTML for one agent; ``text`` (from an LLM or a user) is escaped."""
    state = f"posted in round {posted}" if posted >= 0 else "never posted"
    lines = [f"<b>Agent {agent}</b>", f"profile {profile_label(profile)}", state]
    if text:
        short = text if len(text) <= MAX_TOOLTIP_TEXT else text[: MAX_TOOLTIP_TEXT - 1] + "…"
        lines.append(f"post: {html.escape(short)}")
    return "<br>".join(lines)


def _script_json(data: object) -> str:
    """JSON safe to place inside a <script> element (no '<', '>' or '&' characters)."""
    text = json.dumps(data, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def spread_html(
    network: Network,
    profiles: np.ndarray,
    posted_round: np.ndarray,
    texts: dict[int, str] | None = None,
    *,
    last_round: int | None = None,
    seeds_reached: int = 0,
    max_nodes: int = MAX_GRAPH_NODES,
    height_px: int = 560,
) -> SpreadGraph:
    """A self-contained HTML page: the network drawn with vis.js (inlined), agents coloured by
    state, with play / pause, a round slider, a legend and per-agent tooltips.

    ``posted_round[i]`` is the round agent ``i`` posted in (-1 if never). At round r an agent is
    *susceptible* (no post yet), *newly posting* (posted in round r) or *posted* (earlier). Above
    ``max_nodes`` agents only a breadth-first neighbourhood of the seeds is drawn (see
    :attr:`SpreadGraph.note`). Round 0 is the offline seeding: its counts say how many agents
    (``seeds_reached``) read the report there. The layout is computed by vis.js physics once, then
    frozen, so the animation only recolours nodes.
    """
    texts = texts or {}
    posted_round = np.asarray(posted_round, dtype=np.int64)
    last = int(posted_round.max(initial=0) if last_round is None else last_round)
    seeds = np.flatnonzero(posted_round == 0)
    shown = neighbourhood_sample(network, seeds, max_nodes)
    keep = np.zeros(network.n, dtype=bool)
    keep[shown] = True
    edges = network.edges()
    edges = edges[keep[edges[:, 0]] & keep[edges[:, 1]]]

    page = _vis_page(shown, edges, height_px)
    data = {
        "ids": [int(a) for a in shown],
        "posted": [int(posted_round[a]) for a in shown],
        "tips": [
            _tooltip(int(a), int(profiles[a]), int(posted_round[a]), texts.get(int(a)))
            for a in shown
        ],
        "last": last,
        "seeds": int(seeds_reached),
        "colours": STATE_COLOURS,
    }
    page = _with_animation(page, data, last)
    return SpreadGraph(html=page, shown=int(shown.size), total=network.n, rounds=last + 1)


def _vis_page(shown: np.ndarray, edges: np.ndarray, height_px: int) -> str:
    """The vis.js page (inlined, no CDN tag) of the agents ``shown`` and the ``edges`` among them,
    every node drawn susceptible."""
    net = pyvis_network.Network(
        height=f"{height_px}px", width="100%", cdn_resources="in_line", bgcolor="#ffffff"
    )
    # colours by state are set by the page's script, which runs before the first frame
    net.add_nodes(
        [int(a) for a in shown],
        color=[STATE_COLOURS["susceptible"]] * len(shown),
        label=[" "] * len(shown),
    )
    # pyvis' add_edge scans every existing edge for duplicates (quadratic); ours are unique.
    net.edges = [{"from": int(u), "to": int(v)} for u, v in edges]
    net.set_options(json.dumps(_VIS_OPTIONS))
    return _CDN_TAG.sub("", net.generate_html())


def _with_animation(page: str, data: dict[str, object], last: int) -> str:
    """``page`` with the play / pause controls and legend, the agents' ``data`` and the script
    that recolours them per round; raises if anything would still load from outside."""
    controls = _CONTROLS.format(
        last=last,
        c_s=STATE_COLOURS["susceptible"],
        c_n=STATE_COLOURS["newly posting"],
        c_p=STATE_COLOURS["posted"],
    )
    script = (
        f'<script type="application/json" id="spread-data">{_script_json(data)}</script>\n'
        f"<script>{_ANIMATION_JS}</script>\n"
    )
    page = page.replace("<body>", "<body>\n" + controls, 1).replace(
        "</body>", script + "</body>", 1
    )
    page = re.sub(r"<center>\s*<h1>\s*</h1>\s*</center>", "", page)
    if _EXTERNAL_REF.search(page):
        raise RuntimeError("network page still references an external resource")
    return page


_VIS_OPTIONS = {
    "nodes": {"shape": "dot", "size": 7, "borderWidth": 1},
    "edges": {"color": {"color": "#D5D9E0"}, "width": 0.6, "smooth": False},
    "physics": {
        "solver": "barnesHut",
        "barnesHut": {"gravitationalConstant": -2500, "springLength": 60},
        "stabilization": {"enabled": True, "iterations": 150, "updateInterval": 25},
    },
    "layout": {"randomSeed": 7, "improvedLayout": False},
    "interaction": {"hover": True, "tooltipDelay": 80, "hideEdgesOnDrag": True},
}

_CONTROLS = """
<div id="spread-controls" style="font-family: sans-serif; font-size: 14px; padding: 6px 4px;
     display: flex; flex-wrap: wrap; gap: 12px; align-items: center;">
  <button id="spread-play" type="button" style="min-width: 80px; padding: 4px 10px;">Play</button>
  <label for="spread-round">Round</label>
  <input id="spread-round" type="range" min="0" max="{last}" step="1" value="0"
         style="width: 260px;">
  <span id="spread-round-label">0 / {last}</span>
  <span id="spread-legend" aria-label="legend">
    <span style="color: {c_s}; font-size: 18px;">&#9679;</span> susceptible &nbsp;
    <span style="color: {c_n}; font-size: 18px;">&#9679;</span> newly posting &nbsp;
    <span style="color: {c_p}; font-size: 18px;">&#9679;</span> posted
  </span>
  <span id="spread-counts"></span>
</div>
"""

_ANIMATION_JS = """
(function () {
  var data = JSON.parse(document.getElementById("spread-data").textContent);
  var C = data.colours;
  var slider = document.getElementById("spread-round");
  var label = document.getElementById("spread-round-label");
  var counts = document.getElementById("spread-counts");
  var button = document.getElementById("spread-play");
  var current = new Array(data.ids.length).fill(null);
  var timer = null;
  function colour(p, r) {
    if (p < 0 || p > r) { return C["susceptible"]; }
    return p === r ? C["newly posting"] : C["posted"];
  }
  function show(r) {
    var changes = [], s = 0, n = 0, done = 0;
    for (var i = 0; i < data.ids.length; i++) {
      var c = colour(data.posted[i], r);
      if (c === C["susceptible"]) { s++; } else if (c === C["posted"]) { done++; } else { n++; }
      if (c !== current[i]) {
        current[i] = c;
        var ring = {background: c, border: "#222222"};
        changes.push({id: data.ids[i], color: {background: c, border: c, hover: ring,
                                               highlight: ring}});
      }
    }
    if (changes.length) { nodes.update(changes); }
    slider.value = r;
    label.textContent = r + " / " + data.last + (r === 0 ? " (offline seeding)" : "");
    var lead = r === 0 && data.seeds ? data.seeds + " reached offline, " : "";
    counts.textContent = lead + (done + n) + " posted (" + n + " newly), " + s + " susceptible";
    window.spreadRound = r;
  }
  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; }
    button.textContent = "Play";
  }
  function play() {
    if (Number(slider.value) >= data.last) { show(0); }
    button.textContent = "Pause";
    timer = setInterval(function () {
      var r = Number(slider.value) + 1;
      if (r > data.last) { stop(); return; }
      show(r);
    }, 600);
  }
  button.addEventListener("click", function () {
    if (timer === null) { play(); } else { stop(); }
  });
  slider.addEventListener("input", function () { stop(); show(Number(slider.value)); });
  var tips = [];
  for (var i = 0; i < data.ids.length; i++) {
    var el = document.createElement("div");
    el.innerHTML = data.tips[i];  // built from escaped text in Python
    el.style.maxWidth = "320px";
    el.style.fontFamily = "sans-serif";
    el.style.whiteSpace = "normal";
    tips.push({id: data.ids[i], title: el});
  }
  nodes.update(tips);
  network.once("stabilizationIterationsDone", function () {
    network.setOptions({physics: false});
  });
  show(0);
})();
"""
