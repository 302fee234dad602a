"""Spread: a run on the network graph, animated round by round, with its informed curve."""

import streamlit as st

from spreadlab.dashboard import labels, ui, viz

st.set_page_config(page_title="Spread · SpreadLab", layout="wide")
ui.sidebar()
st.title("Spread on the network")

runs = ui.runs_or_stop()
run_id = ui.pick_run(runs)
if run_id is None:
    st.stop()
row = runs[runs["run_id"] == run_id]
ui.provenance_banner(row)
run = ui.stored_run(run_id)
meta = run.meta

graph = ui.spread_graph(run_id)
if graph.sampled:
    st.info(graph.note, icon=":material/filter_alt:")
st.iframe(graph.html, height=640)
st.caption(
    "Press **Play** or drag the round slider. Grey agents have not posted yet, orange ones post "
    "in this round, blue ones posted earlier. Hover over an agent for its profile and post."
)
with st.expander(f"Event: {labels.md_escape(meta['event_title'] or meta['event_id'])}"):
    st.text(meta["event_report"])

curve = ui.curves([run_id]).assign(label=run_id)
st.plotly_chart(viz.informed_figure(curve, title="Informed fraction of all agents"))
final = int(run.curve["informed"].iloc[-1]) if len(run.curve) else 0
st.caption(
    labels.md_escape(
        f"{final:,} of {run.network.n:,} agents ({final / run.network.n:.0%}) had posted after "
        f"{max(len(run.curve) - 1, 0)} rounds (round 0, before them, is the offline seeding: "
        f"{meta['n0']} seed agents read the report). Network: {meta['network_kind']}, mean "
        f"degree k = {run.network.mean_degree:g}; offline reach q = {meta['q']:g} per round."
    )
)
posts = run.decisions[run.decisions["post"] & run.decisions["text"].notna()]
if len(posts):
    st.subheader("Posts")
    st.dataframe(posts[["round", "agent", "text"]], hide_index=True, width="stretch")
