"""Fit: one rate or two? Observed spread with the fitted models, residuals, parameters with
intervals, AIC / BIC and the verdict in plain words."""

import streamlit as st

from spreadlab import dashboard_data as dd
from spreadlab import ui, viz
from spreadlab.errors import SpreadLabError
from spreadlab.models import MODELS

st.set_page_config(page_title="Fit · SpreadLab", layout="wide")
ui.sidebar()
st.title("Which model explains the spread?")

runs = ui.runs_or_stop()
chosen = ui.pick_scenarios(runs, "Scenario (its replicate runs are fitted together)")
if chosen.empty:
    st.stop()
group = ui.runs_of(chosen)
ui.provenance_banner(group)

c1, c2, c3 = st.columns([3, 1, 1])
models = c1.multiselect(
    "Models",
    list(MODELS),
    default=["si1", "si2"],
    format_func=lambda m: MODELS[m].title,
)
method = c2.selectbox(
    "Method",
    ["binomial", "conditional", "lsq"],
    format_func={
        "binomial": "Binomial likelihood",
        "conditional": "Conditional binomial (one round ahead)",
        "lsq": "Least squares",
    }.__getitem__,
)
ci = c3.selectbox(
    "Intervals",
    ["profile", "bootstrap", "none"],
    format_func={
        "profile": "Profile likelihood",
        "bootstrap": "Parametric bootstrap",
        "none": "None",
    }.__getitem__,
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
    st.warning(dd.md_escape(f"{MODELS[name].title} was not fitted: {reason}"))

st.success(dd.md_escape(dd.verdict(fits)), icon=":material/lightbulb:")
st.plotly_chart(viz.fit_figure(observed, dd.fitted_curves(fits)))
st.plotly_chart(viz.residuals_figure(dd.residual_curves(fits), "Residuals (mean over replicates)"))

st.subheader("Parameters")
st.dataframe(dd.parameter_table(fits), hide_index=True, width="stretch")
st.caption(
    "Units matter: the continuous models (SI-1, SI-2, SI-2h, pair approximation) give effective "
    "rates per round, which are not the simulator's probabilities (a new poster cannot pass the "
    "news on within its own round, and many of its neighbours already know). The discrete maps "
    "estimate the simulator's own per-round probabilities q·a and b."
)
st.subheader("Goodness of fit")
st.dataframe(dd.criteria_table(fits), hide_index=True, width="stretch")
st.caption(
    "Lower AIC / BIC is better; differences (Δ) are against the best model. RMSE is in informed "
    "fraction. Criteria compare models fitted by the same method to the same runs only."
)
test = dd.lrt_text(fits)
if test:
    st.caption(dd.md_escape(test))
problems = [f"{MODELS[m].title}: {f.message}" for m, f in fits.items() if not f.converged]
for problem in problems:
    st.warning(dd.md_escape(f"Did not converge. {problem}"))

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
            "fitted SI-1 and SI-2 (rates per round). A constant term points to an offline "
            "channel, its absence to spread through the network alone."
        )
