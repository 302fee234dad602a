"""Observed data: fit a user's own time series of posts (real data, or the bundled synthetic
example), see the curve-only verdict, and hold it against the stored simulated scenarios."""

import io

import pandas as pd
import streamlit as st

from spreadlab.analysis.observed import (
    EXAMPLE_PATH,
    read_series,
    read_upload,
    series_frame,
    with_n_range,
)
from spreadlab.dashboard import labels, observed_data, observed_view, ui
from spreadlab.errors import SpreadLabError

st.set_page_config(page_title="Observed data · SpreadLab", layout="wide")
ui.sidebar()
st.title("Your own data: one rate or two?")
st.markdown(
    "Upload posts about one event: one row per post (a time, optionally a user id), or one row "
    "per interval with the number of new posters. SpreadLab bins them into rounds of the "
    "interval you choose and fits the models that need no network."
)
observed_view.manage_datasets()
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
estimate = st.toggle(
    "N is an estimate", help="Give its plausible range: the rates are refitted at both ends."
)
if estimate:
    r1, r2 = st.columns(2)
    n_low = r1.number_input("N at least", min_value=2, value=int(n_agents), step=1000)
    n_high = r2.number_input("N at most", min_value=2, value=2 * int(n_agents), step=1000)
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
    if estimate:
        series = with_n_range(series, int(n_low), int(n_high))
except SpreadLabError as exc:
    ui.show_error(exc)
    st.stop()
observed_view.provenance(series)
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

fits, verdict, table = observed_view.show_fits(series)

st.subheader("Against the simulations")
observed_view.closeness(series, key="page")
st.download_button(
    "Download the fits (CSV)",
    table.to_csv(index=False),
    file_name="observed_fits.csv",
    mime="text/csv",
)
st.download_button(
    "Download the binned series (CSV)",
    series_frame(series).to_csv(index=False),
    file_name="observed_series.csv",
    mime="text/csv",
)
