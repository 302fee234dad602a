"""Export: fitted parameters and informed curves as CSV, and whole runs as a zipped run folder.
Every file carries the runs' provenance (backend, synthetic)."""

import streamlit as st

from spreadlab.analysis.models import MODELS
from spreadlab.dashboard import labels, observed_data, observed_view, tables, ui
from spreadlab.errors import SpreadLabError
from spreadlab.store import fits as fit_store

st.set_page_config(page_title="Export · SpreadLab", layout="wide")
ui.sidebar()
st.title("Export")

if not observed_data.datasets().empty:
    st.subheader("Observed datasets")
    observed_view.export_section()
runs = ui.runs_or_stop()
chosen = ui.pick_scenarios(runs, "Scenarios to export", multiple=True, default=1)
if chosen.empty:
    st.info("Pick at least one scenario.")
    st.stop()
selected = ui.runs_of(chosen)
ui.provenance_banner(selected)

st.subheader("Fitted parameters")
st.markdown(
    "Fits kept in the database, one row per (scenario, model, method) with every parameter, its "
    "interval and unit, AIC / BIC and the runs' provenance: the columns of "
    "`spreadlab export-fits`, holding only the scenarios and models chosen here. Fits stored on "
    "the Fit page appear here; **Fit and store** fits the selected scenarios now."
)
f1, f2 = st.columns([3, 1], vertical_alignment="bottom")
models = f1.multiselect(
    "Models",
    list(MODELS),
    default=st.session_state.get("export_models", ["si1", "si2"]),
    format_func=lambda m: MODELS[m].title,
)
if f2.button("Fit and store", help="Fits every selected scenario; replaces its earlier rows."):
    try:
        with ui.open_store() as store:
            groups = [fit_store.load_group(store, [s]) for s in chosen["scenario_id"]]
            fitted = [(g, fit_store.fit_group(g, models)) for g in groups]
            fit_store.save_fits(store, fitted)  # all or nothing, in one transaction
    except SpreadLabError as exc:
        ui.show_error(exc)
shown = tables.stored_rows(
    ui.stored_fits(), list(chosen["scenario_id"]), list(selected["run_id"]), models
)
if shown.empty:
    st.info("No stored fits for these scenarios and models yet: press **Fit and store**.")
else:
    st.success(labels.md_escape(tables.stored_text(shown)), icon=":material/inventory_2:")
    first = ["group_id", "model_title", "method"]
    st.dataframe(
        shown[first + [c for c in shown if c not in first]], hide_index=True, width="stretch"
    )
    st.download_button(
        "Download fitted parameters (CSV)",
        shown.to_csv(index=False),
        file_name="spreadlab_fits.csv",
        mime="text/csv",
    )

st.subheader("Informed curves")
curves = tables.curves_csv_table(ui.curves(list(selected["run_id"])), selected)
st.caption(f"{len(curves):,} rows: one per run and round, with each run's provenance.")
st.download_button(
    "Download informed curves (CSV)",
    curves.to_csv(index=False),
    file_name="spreadlab_curves.csv",
    mime="text/csv",
)

st.subheader("Whole run")
run_id = ui.pick_run(selected, "Run to export (metadata, agents, edges, decisions, curve)")
if run_id is not None:
    try:
        archive = ui.run_archive(run_id)
    except SpreadLabError as exc:
        ui.show_error(exc)
    else:
        st.download_button(
            "Download run folder (.zip of CSV files)",
            archive,
            file_name=f"{run_id}.zip",
            mime="application/zip",
        )
