"""SpreadLab dashboard: home page with what SpreadLab shows and the runs ready to browse."""

import streamlit as st

from spreadlab import glossary
from spreadlab.dashboard import labels, tables, ui, viz
from spreadlab.errors import SpreadLabError

st.set_page_config(page_title="SpreadLab", layout="wide")  # no page_icon: it would load a CDN
ui.sidebar()
st.title("SpreadLab")
st.markdown(
    "SpreadLab shows how news of an offline event (a battle, a bombing, a riot) spreads through a "
    "social network of agents with different personalities, round by round. It then fits simple "
    "epidemic-style models with one or two transmission rates, so you can see which one explains "
    "the spread and how sure we can be."
)

try:
    runs = ui.runs()
except SpreadLabError as exc:
    ui.show_error(exc)
    st.stop()

ui.provenance_banner(runs)
st.subheader("Runs ready to browse")
if runs.empty:
    st.info(
        "This database has no runs yet. Start one on **Scenario and run** (a 200-agent "
        "stochastic run takes about a second), or upload an exported run there."
    )
else:
    table = labels.scenarios(runs)
    reach = runs.groupby("scenario_id")["final_informed_fraction"].mean()
    table["mean final informed"] = table["scenario_id"].map(reach)
    st.dataframe(
        table[
            [
                "event_id",
                "mix_name",
                "synthetic",
                "mean final informed",
                "n_agents",
                "mean_degree",
                "q",
                "replicates",
                "backend",
            ]
        ],
        hide_index=True,
        width="stretch",
        column_config={
            "event_id": st.column_config.TextColumn("event"),
            "mix_name": st.column_config.TextColumn("personality mix"),
            "mean final informed": st.column_config.ProgressColumn(
                "final informed",
                help="Share of agents who had posted by the last round, mean over replicates.",
                min_value=0.0,
                max_value=1.0,
                format="percent",
            ),
            **{
                column: st.column_config.NumberColumn(
                    glossary.term(name).symbol, help=glossary.explain(name)
                )
                for column, name in (("n_agents", "N"), ("mean_degree", "k"), ("q", "q"))
            },
        },
    )
    st.caption(f"{len(runs)} runs in {len(table)} scenarios, stored in `{ui.database_path()}`.")

st.subheader("Where to go")
for script, label, icon, purpose in ui.PAGES[1:]:
    st.page_link(script, label=f"{label}: {purpose}", icon=icon)
# Last, so the table and the links are on screen first; it also has the browser load plotly's
# bundle here, which the first page with a chart would otherwise wait for (about a second).
if not runs.empty:
    st.subheader("At a glance")
    overview = tables.scenario_overview(runs, ui.curves(list(runs["run_id"])))
    st.plotly_chart(viz.overview_figure(overview))
    st.caption(
        "Each point is one scenario: up means the news reached more agents, left means it got "
        "half-way there sooner. Hover for its name; **Compare** puts chosen scenarios side by side."
    )
# After everything this page draws: importing the other pages' modules competes for the
# interpreter, and the chart above came 0.1-0.2 s later while it ran.
ui.warm_up()
