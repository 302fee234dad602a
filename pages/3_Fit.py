"""Fit: one rate or two? Observed spread with the fitted models, residuals, parameters with
intervals, AIC / BIC and the verdict in plain words."""

import streamlit as st

from spreadlab.analysis.methods import FIT_METHODS, RUN_CI_METHODS
from spreadlab.analysis.models import MODELS
from spreadlab.dashboard import labels, observed_data, observed_view, tables, ui, verdict_text, viz
from spreadlab.errors import SpreadLabError

st.set_page_config(page_title="Fit · SpreadLab", layout="wide")
ui.sidebar()
st.title("Which model explains the spread?")

if not observed_data.datasets().empty and (
    st.radio("Data", ["Simulated scenarios", "Observed datasets"], horizontal=True)
    == "Observed datasets"
):
    observed_view.fit_page()
    st.stop()
runs = ui.runs_or_stop()
chosen = ui.pick_scenarios(runs, "Scenario (its replicate runs are fitted together)")
if chosen.empty:
    st.stop()
group = ui.runs_of(chosen)
ui.provenance_banner(group)

models = st.multiselect(
    "Models",
    list(MODELS),
    default=["si1", "si2"],
    format_func=lambda m: MODELS[m].title,
)
c2, c3 = st.columns(2)
method = c2.selectbox(
    "Method",
    FIT_METHODS,
    format_func={
        "binomial": "Binomial likelihood",
        "conditional": "Conditional binomial (one round ahead)",
        "lsq": "Least squares",
    }.__getitem__,
)
ci = c3.selectbox(
    "Intervals",
    [m for m in RUN_CI_METHODS if m != "jackknife"],  # 'auto' is the jackknife where it applies
    format_func={
        "auto": "Calibrated (jackknife over runs)",
        "profile": "Profile likelihood (not calibrated)",
        "bootstrap": "Parametric bootstrap (not calibrated)",
        "none": "None",
    }.__getitem__,
    help="Calibrated intervals leave out one replicate run at a time; they need 3 or more runs. "
    "With fewer, the profile likelihood is used and labelled with its measured coverage.",
)

run_ids = list(group["run_id"])
observed = ui.curves(run_ids).assign(label=lambda f: f["run_id"])
try:
    fits, failures = ui.fits(run_ids, models, method, ci)
except SpreadLabError as exc:
    st.plotly_chart(viz.informed_figure(observed, "Observed spread"))
    ui.show_error(exc)
    st.stop()
for name, reason in failures.items():
    st.warning(labels.md_escape(f"{MODELS[name].title} was not fitted: {reason}"))

try:
    answer = ui.verdict(run_ids)
except SpreadLabError as exc:
    ui.show_error(exc)
else:
    box = {"offline": st.success, "network-only": st.success, "no-fit": st.warning}
    box.get(answer.code, st.info)(
        labels.md_escape(verdict_text.verdict_text(answer)), icon=":material/lightbulb:"
    )
    with st.expander("The evidence behind this answer"):
        st.markdown(
            "\n".join(f"- {labels.md_escape(line)}" for line in answer.evidence)
            + "\n\nWhere the runs have decision logs, they settle it: a post by an agent who read "
            "the report offline and had no posting neighbour is the offline channel itself. A "
            "curve alone cannot tell an offline channel from agents who differ or from unequal "
            "degrees, so the curve models below are compared with rivals that bend the curve "
            "without any offline channel (docs/models.md, Identifiability)."
        )
st.caption(labels.md_escape(verdict_text.ranking_text(fits)))
st.plotly_chart(viz.fit_figure(observed, tables.fitted_curves(fits)))
st.plotly_chart(
    viz.residuals_figure(tables.residual_curves(fits), "Residuals (mean over replicates)")
)

st.subheader("Parameters")
st.table(tables.parameter_display(fits), border="horizontal")
with st.expander("What each parameter means"):
    st.markdown(tables.parameter_glossary(fits))
for label in sorted({f.interval_label() for f in fits.values()}):
    st.caption(labels.md_escape(f"Intervals: {label}."))
if any(f.at_bound for f in fits.values()):
    st.caption(tables.BOUND_NOTE)
st.caption(
    "Units matter: the continuous models (SI-1, SI-2, SI-2h, pair approximation) give effective "
    "rates per round, which are not the simulator's probabilities (a new poster cannot pass the "
    "news on within its own round, and many of its neighbours already know). The discrete maps "
    "are in the simulator's own units (per-round probabilities q·a and b); the pair map recovers "
    "the simulator's values when agents are alike on a regular graph, the mean-field map "
    "underestimates b there, and where agents differ both give averages, not any one agent's "
    "values."
)
st.subheader("Goodness of fit")
st.table(tables.criteria_display(fits), border="horizontal")
st.caption(
    "Lower AIC and BIC are better (they reward a close fit and penalise extra parameters); the "
    "best model is 0 above the best, and a gap above 10 is very strong evidence. The typical "
    "miss is the root mean square distance between model and runs, in informed fraction. "
    "Criteria compare models fitted by the same method to the same runs only."
)
test = verdict_text.lrt_text(fits)
if test:
    with st.expander("Technical: one- versus two-rate likelihood-ratio test"):
        st.caption(labels.md_escape(test))
        st.caption(labels.md_escape(verdict_text.lrt_details(fits)))
problems = [f"{MODELS[m].title}: {f.message}" for m, f in fits.items() if not f.converged]
for problem in problems:
    st.warning(labels.md_escape(f"Did not converge. {problem}"))

st.subheader("Keep these fits")
if st.button(
    "Store these fits for export",
    help="Replaces earlier fits with the same runs, model and method.",
):
    try:
        ui.store_fits(run_ids, fits)
    except SpreadLabError as exc:
        ui.show_error(exc)
    st.session_state["export_models"] = list(fits)
kept = tables.stored_rows(
    ui.stored_fits(), list(chosen["scenario_id"]), run_ids, list(fits), method
)
if len(kept) >= len(fits):
    st.success(labels.md_escape(tables.stored_text(kept)), icon=":material/inventory_2:")
    st.page_link("pages/5_Export.py", label="Export them as CSV", icon=":material/download:")
else:
    st.info("These fits are not stored yet: store them to export them as CSV.")

st.subheader("What equation do the curves ask for?")
if st.toggle("Learn the equation from the data (weak SINDy)"):
    try:
        equation = ui.learned_equation(run_ids)
    except SpreadLabError as exc:
        ui.show_error(exc)
    else:
        st.code(equation.text, language=None)
        st.dataframe(equation.comparison, hide_index=True)
        st.caption(
            "Sparse regression of di/dt on 1, i and i², next to the same terms implied by the "
            "fitted SI-1 and SI-2 (rates per round). Terms smaller than the threshold "
            f"({equation.threshold:g} per round) are dropped, so an offline rate below it goes "
            "undetected: a missing constant term is not evidence against an offline channel. "
            "A constant term, when found, may equally stand for agents who differ. The verdict "
            "above weighs the evidence."
        )
