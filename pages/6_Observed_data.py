"""Observed data: fit a user's own time series of posts (real data, or the bundled synthetic
example), see the curve-only verdict, and hold it against the stored simulated scenarios."""

import io

import pandas as pd
import streamlit as st

from spreadlab import glossary
from spreadlab.analysis.models import get_model
from spreadlab.analysis.observed import (
    EXAMPLE_PATH,
    closest_scenarios,
    fit_series,
    fits_frame,
    observed_unit,
    overlay_frame,
    read_series,
    read_upload,
    series_frame,
    series_verdict,
)
from spreadlab.dashboard import labels, observed_data, ui, verdict_text, viz
from spreadlab.errors import SpreadLabError

st.set_page_config(page_title="Observed data · SpreadLab", layout="wide")
ui.sidebar()
st.title("Your own data: one rate or two?")
st.markdown(
    "Upload posts about one event: one row per post (a time, optionally a user id), or one row "
    "per interval with the number of new posters. SpreadLab bins them into rounds of the "
    "interval you choose and fits the models that need no network."
)
upload = st.file_uploader("Time series (.csv or .parquet)", type=["csv", "parquet"])
st.caption(labels.md_escape(observed_data.upload_note()))
too_large = observed_data.over_limit(upload.name, upload.size) if upload is not None else ""
if too_large:
    st.error(labels.md_escape(too_large), icon=":material/error:")
    st.stop()
use_example = upload is None and st.toggle("Use the bundled synthetic example instead")
if upload is None and not use_example:
    st.stop()
data, name = (
    (upload.getvalue(), upload.name) if upload is not None else (EXAMPLE_PATH.read_bytes(), "")
)
example = upload is None
columns = ["hour", "new_posters"] if example else None
if columns is None:
    try:
        if name.lower().endswith(".parquet"):
            head = pd.read_parquet(io.BytesIO(data))
        else:
            head = pd.read_csv(io.BytesIO(data), nrows=5, dtype=str)
        columns = [str(c) for c in head.columns]
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError):
        columns = []
c1, c2, c3, c4 = st.columns(4)
time_col = c1.selectbox("Time column", columns) if columns else c1.text_input("Time column")
count_col = c2.selectbox(
    "New posters per interval",
    ["(one row per post)", *columns],
    index=2 if example else 0,
)
interval = c3.text_input("One round is", "1h", help="e.g. 30min, 1h, 1d")
n_agents = c4.number_input(
    "Population N", min_value=2, value=50_000 if example else 10_000, step=1000
)
options = {
    "time_col": time_col,
    "interval": interval,
    "n": int(n_agents),
    "count_col": None if count_col == "(one row per post)" else count_col,
}
try:
    series = (
        read_series(EXAMPLE_PATH, **options)  # type: ignore[arg-type]
        if example
        else read_upload(data, name, **options)
    )
except SpreadLabError as exc:
    ui.show_error(exc)
    st.stop()
if series.example:
    st.warning(labels.md_escape(series.provenance), icon=":material/science:")
else:
    st.info(labels.md_escape(series.provenance + " (not simulated, not LLM agents)"))
if st.button(
    "Save to database",
    help="Keep this dataset so the Fit, Compare and Export pages can use it like a scenario.",
):
    try:
        saved = observed_data.save(series)
    except SpreadLabError as exc:
        ui.show_error(exc)
    else:
        st.success(
            labels.md_escape(
                f"Saved as observed dataset {saved}: pick it on Fit, Compare, Export."
            ),
            icon=":material/inventory_2:",
        )

fits, failures = fit_series(series)
for model, reason in failures.items():
    st.warning(labels.md_escape(f"{get_model(model).title} was not fitted: {reason}"))
verdict = series_verdict(series, fits)
st.info(labels.md_escape(verdict_text.verdict_text(verdict)), icon=":material/lightbulb:")
with st.expander("The evidence behind this answer"):
    st.markdown("\n".join(f"- {labels.md_escape(line)}" for line in verdict.evidence))
    st.caption(
        "A time series has no decision log, so the answer rests on the curve alone: its onset "
        "first, then models that bend the curve without any offline channel. 'Cannot tell' is "
        "an honest answer here."
    )
rows = [
    {
        "model": get_model(m).title,
        "parameter": glossary.label(p),
        "estimate": v,
        "lower 95%": f.ci[p][0],
        "upper 95%": f.ci[p][1],
        "unit": observed_unit(f.units[p], series.interval),
    }
    for m, f in fits.items()
    for p, v in f.params.items()
]
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
if fits:
    st.caption(labels.md_escape(f"Intervals: {next(iter(fits.values())).interval_label()}."))

st.subheader("Against the simulations")
scenarios = ui.scenario_mean_curves()
if not scenarios:
    st.info("No stored scenario to compare with.")
else:
    ranked = closest_scenarios(series, scenarios)
    st.dataframe(
        pd.DataFrame(
            {
                "scenario": [c.label for c in ranked],
                f"simulated rounds per {series.interval}": [c.rounds_per_interval for c in ranked],
                "RMSE (informed fraction)": [c.rmse for c in ranked],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    chosen = st.selectbox("Overlay", [c.label for c in ranked])
    match = next(c for c in ranked if c.label == chosen)
    st.plotly_chart(
        viz.informed_figure(
            overlay_frame(series, chosen, scenarios[chosen], match.rounds_per_interval),
            f"Observed and simulated, simulated time rescaled ({series.interval} per step)",
        )
    )
    st.caption(
        "Closeness of curves is not evidence of mechanism: very different processes can draw "
        "the same curve (see the verdict above)."
    )
st.download_button(
    "Download the fits (CSV)",
    fits_frame(series, fits, verdict).to_csv(index=False),
    file_name="observed_fits.csv",
    mime="text/csv",
)
st.download_button(
    "Download the binned series (CSV)",
    series_frame(series).to_csv(index=False),
    file_name="observed_series.csv",
    mime="text/csv",
)
