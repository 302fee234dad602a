"""Sweep: a stored grid of scenarios as heatmaps over any two axes, a table of cells against a
reference with differences flagged after a false-discovery-rate correction, and the per-cell CSV."""

import pandas as pd
import streamlit as st

from spreadlab.dashboard import labels, ui
from spreadlab.dashboard import sweep_figures as sf
from spreadlab.errors import SpreadLabError
from spreadlab.store import sweeps as sweep_store

st.set_page_config(page_title="Sweep · SpreadLab", layout="wide")
ui.sidebar()
st.title("Sweep: a grid of scenarios")
st.markdown(
    "A sweep runs every combination of events, personality mixes, offline reach and network "
    "settings, several replicates each, with the stochastic agent model or LLM agents. Each "
    "square of the "
    "heatmap is one combination (or the mean over the ones not shown); the table below tests "
    "each cell against a reference, and flags a difference only when it survives a "
    "false-discovery-rate correction over all the cells compared."
)


@st.cache_data(show_spinner=False)
def _sweeps(path: str, rev: str) -> pd.DataFrame:
    with ui.open_store() as store:
        return sweep_store.list_sweeps(store)


@st.cache_data(show_spinner="Loading the sweep...")
def _cells(path: str, sweep_id: str, rev: str) -> pd.DataFrame:
    with ui.open_store() as store:
        return sweep_store.sweep_cells(store, sweep_id)


def _revision() -> str:
    return ui.table_revision("sweeps")


try:
    rev = _revision()
    sweeps = _sweeps(ui.database_path(), rev)
except SpreadLabError as exc:
    ui.show_error(exc)
    st.stop()
if sweeps.empty:
    st.info(
        "No sweeps in this database yet. A sweep is described in a grid file and run from the "
        "command line (spreadlab sweep; see docs/sweeps.md); its cells appear here as they finish."
    )
    st.stop()

names = {
    row.sweep_id: f"{row.name} · {row.done:,} of {row.cells:,} cells done"
    + (f" ({row.not_run:,} not run)" if row.not_run else "")
    + f" · {row.sweep_id}"
    for row in sweeps.itertuples()
}
sweep_id = st.selectbox("Sweep", list(names), format_func=names.get)
sweep = sweeps.set_index("sweep_id").loc[sweep_id]
cells = _cells(ui.database_path(), sweep_id, rev)
tables = sorted(set(cells.loc[cells["params"] != sf.LLM, "table_source"]))
if tables:
    st.warning(
        "Synthetic: cells with a parameter table were simulated with the stochastic agent model "
        f"({', '.join(tables)}), not with LLM agents.",
        icon=":material/science:",
    )
if (cells["params"] == sf.LLM).any():
    st.info(
        "Not synthetic: cells whose parameter table is 'llm' were decided by "
        + labels.md_escape(
            "; ".join(sorted(set(cells.loc[cells["params"] == sf.LLM, "table_provenance"])))
        )
        + "."
    )
for status, what in (
    ("failed", "failed; running the sweep again retries them"),
    (
        "not_run",
        "not run (the LLM budget ran out); running the sweep again with a larger budget runs them",
    ),
):
    skipped = cells[cells["status"] == status]
    if not skipped.empty:
        with st.expander(f"{len(skipped)} cell(s) {what}"):
            st.dataframe(skipped[["cell_id", *sf.varying_axes(cells), "error"]], hide_index=True)
if (cells["status"] == "done").sum() == 0:
    st.info("No cell of this sweep has finished yet.")
    st.stop()

axes = sf.varying_axes(cells)
c1, c2, c3 = st.columns(3)
value = c1.selectbox("Summary", list(sf.SUMMARIES), format_func=sf.SUMMARIES.get)
x_default = "mix" if "mix" in axes else axes[0]
x = c2.selectbox(
    "Columns", list(sf.AXES), index=list(sf.AXES).index(x_default), format_func=sf.AXES.get
)
y_options = [a for a in sf.AXES if a != x]
y_default = next((a for a in ("event", "event_type", *axes) if a in y_options), y_options[0])
y = c3.selectbox("Rows", y_options, index=y_options.index(y_default), format_func=sf.AXES.get)
st.plotly_chart(sf.heatmap(cells, value, x, y), width="stretch", config={"displaylogo": False})

st.subheader("Mean curves")
if cells.loc[cells["status"] == "done", "curve_mean"].notna().any():
    st.caption(
        f"One chart per {sf.AXES[y]} × {sf.AXES[x]}: the share of agents informed after each "
        "round, averaged over the cell's replicates, with the 95% interval of that mean (a "
        "square holding several cells shows the mean of their means, without a band)."
    )
    st.plotly_chart(sf.small_multiples(cells, x, y), width="stretch", config={"displaylogo": False})
else:
    st.info(
        "This sweep's cells were stored before SpreadLab kept each cell's mean curve; run the "
        "grid again in a new database to draw them."
    )

st.subheader("Which differences are real?")
if value not in sf.WITH_INTERVALS:
    st.info("This summary has no interval to test; pick another summary to compare cells.")
else:
    levels = sorted(cells.loc[cells["status"] == "done", x].unique().tolist(), key=str)
    reference = st.selectbox(
        f"Reference {sf.AXES[x]}",
        levels,
        index=levels.index("uniform") if "uniform" in levels else 0,
    )
    pairs = sf.comparison(cells, value, x, reference)
    if pairs.empty:
        st.info("No cell has a twin at the reference to compare with.")
    else:
        flagged = int(pairs["differs"].sum())
        st.markdown(
            labels.md_escape(
                f"{flagged} of {len(pairs)} cells differ from their twin at {sf.AXES[x]} = "
                f"{reference} after a Benjamini–Hochberg correction at a 5% false-discovery "
                "rate (intervals: 95%; rates use the fit's calibrated jackknife interval from 3 "
                "replicates on)."
            )
        )
        st.dataframe(
            sf.comparison_display(pairs, value, x, reference), hide_index=True, width="stretch"
        )

st.subheader("Take the numbers away")
table = sf.csv_table(cells, sweep)
st.caption(
    f"{len(table):,} rows, one per cell, with the grid's parameters, every summary and interval, "
    "the seed, the parameter table's provenance and where the numbers come from."
)
st.download_button(
    "Download per-cell summaries (CSV)",
    table.to_csv(index=False),
    file_name=f"spreadlab_sweep_{sweep_id}.csv",
    mime="text/csv",
)
