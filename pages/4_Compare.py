"""Compare: events × personality mixes side by side — mean spread curves and fitted rates with
intervals."""

import pandas as pd
import streamlit as st

from spreadlab.analysis.models import MODELS
from spreadlab.dashboard import labels, observed_data, observed_view, tables, ui, verdict_text, viz
from spreadlab.errors import SpreadLabError

st.set_page_config(page_title="Compare · SpreadLab", layout="wide")
ui.sidebar()
st.title("Compare events and personality mixes")

runs = ui.runs_or_stop()
chosen = ui.pick_scenarios(runs, "Scenarios to compare", multiple=True, default=6)
if chosen.empty:
    st.info("Pick at least one scenario.")
    st.stop()
ui.provenance_banner(ui.runs_of(chosen))
model = st.selectbox(
    "Model whose fitted rates to compare",
    list(MODELS),
    index=list(MODELS).index("si2"),
    format_func=lambda m: MODELS[m].title,
)

observed = [
    observed_data.series(d)
    for d in observed_view.pick_datasets("Observed datasets beside them", multiple=True)
]
names = labels.short_labels(chosen)
curves = ui.curves([rid for ids in chosen["run_ids"] for rid in ids])
scenario_of = {
    rid: s for s, ids in zip(chosen["scenario_id"], chosen["run_ids"], strict=True) for rid in ids
}
curves["label"] = curves["run_id"].map(scenario_of).map(names)
mean_curves = curves.groupby(["label", "round"], sort=False)["fraction"].mean().reset_index()
mean_curves = pd.concat([mean_curves, *map(observed_view.observed_curve, observed)])
st.plotly_chart(viz.informed_figure(mean_curves, "Mean informed fraction per scenario"))
for i, series in enumerate(observed):
    observed_view.closeness(series, tuple(chosen["scenario_id"]), key=f"compare-{i}")

rows, failures = [], []
fitted_groups = ui.fits_of_groups([list(ids) for ids in chosen["run_ids"]], model)
for scenario_id, (fitted, reason) in zip(chosen["scenario_id"], fitted_groups, strict=True):
    if fitted is None:
        failures.append(f"{names[scenario_id]}: {reason}")
        continue
    rows.append(
        tables.parameter_table({model: fitted}).assign(
            scenario=names[scenario_id], calibrated=fitted.ci_method == "jackknife"
        )
    )
for failure in failures:
    st.warning(labels.md_escape(f"Not fitted. {failure}"))
simulated = len(rows)
rows += observed_view.rate_rows(observed, model)
if rows:
    rates = pd.concat(rows, ignore_index=True)
    for (parameter, unit), part in rates.groupby(["parameter", "unit"], sort=False):
        st.plotly_chart(
            viz.rates_figure(
                part.assign(group=part["scenario"], series=f"{parameter} ({unit})"),
                title=f"{MODELS[model].title}: {parameter}, {unit} "
                f"({part['level'].iloc[0]:.0%} intervals)",
            )
        )
    st.table(tables.rates_display(rates, "scenario"), border="horizontal")
    if rates["note"].astype(bool).any():
        st.caption(tables.BOUND_NOTE)
    if len(rows) > simulated:
        st.caption(
            "Observed datasets' rates are per their own interval and per unit informed fraction "
            "(their network is unknown), so they are shown beside the scenarios' but not tested "
            "against them; their curves' closeness is above."
        )
    differences, uncalibrated = verdict_text.clear_differences(
        pd.concat(rows[:simulated]) if simulated else rates.iloc[:0]
    )
    if differences:
        st.markdown(
            "**Differences larger than replicate noise** (their calibrated intervals do not "
            "overlap):\n" + "\n".join(f"- {labels.md_escape(d)}" for d in differences)
        )
    elif simulated > 1:
        st.info(
            "No difference between these scenarios is larger than the replicate-to-replicate "
            "noise: every pair of calibrated intervals overlaps."
        )
    if uncalibrated:
        st.caption(
            labels.md_escape(
                "Not compared (fewer than 3 replicate runs, so no calibrated interval): "
                + ", ".join(uncalibrated)
            )
        )

st.subheader("Which traits make an agent share?")
st.markdown(
    "Every consultation in the selected runs is one yes/no decision with a known offline "
    "exposure, number of posting neighbours, profile and event type. Fitting the agent model to "
    "all of them gives each trait's effect on *a* (posting on the offline report) and *b* (per "
    "posting neighbour) as a log-odds ratio, high versus low; right of zero means more sharing."
)
all_ids = [rid for ids in chosen["run_ids"] for rid in ids]
try:
    effects = ui.trait_effects(all_ids)
except SpreadLabError as exc:
    ui.show_error(exc)
else:
    st.plotly_chart(viz.forest_figure(tables.forest_rows(effects)))
    st.caption(
        labels.md_escape(
            f"{effects.n_decisions:,} decisions ({effects.n_excluded:,} invalid ones left out); "
            f"event effects are against {effects.baseline_event}. {effects.message}"
        )
    )
