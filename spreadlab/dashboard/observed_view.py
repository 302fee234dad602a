"""Observed datasets on the dashboard's pages: picked like a scenario, labelled observed (never
simulated, never LLM agents), fitted with the models that need no network, in rates per the
dataset's own interval on screen and in the CSV, and exported with their provenance."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from spreadlab import glossary
from spreadlab.analysis.models import get_model
from spreadlab.analysis.observed import (
    OBSERVED_MODELS,
    fits_frame,
    observed_unit,
    series_frame,
    series_verdict,
)
from spreadlab.analysis.observed_compare import MAPPINGS, comparison_frame, overlay_frame
from spreadlab.dashboard import labels, observed_data, tables, ui, verdict_text, viz
from spreadlab.errors import SpreadLabError

if TYPE_CHECKING:
    from spreadlab.analysis.fit import FitResult
    from spreadlab.analysis.observed import ObservedSeries
    from spreadlab.analysis.verdict import Verdict

OBSERVED_NOTE = "observed data supplied by a user: not simulated, not LLM agents"
OBSERVED_SUFFIX = " (observed)"


def dataset_label(row: dict) -> str:
    """How a stored dataset is named in pickers: its file, that it is observed, N and interval."""
    return (
        f"{row['source']} (observed; N = {int(row['n']):,}; one round = "
        f"{row['interval_label']}; {row['dataset_id']})"
    )


def pick_datasets(label: str, multiple: bool = False) -> list[str]:
    """Stored observed datasets chosen by the user (ids); none stored, none chosen."""
    table = observed_data.datasets()
    if table.empty:
        return []
    shown = {r["dataset_id"]: dataset_label(r) for r in table.to_dict("records")}
    ids = list(shown)
    if multiple:
        return st.multiselect(label, ids, default=[], format_func=shown.__getitem__)
    return [st.selectbox(label, ids, format_func=shown.__getitem__)]


def provenance(series: ObservedSeries) -> None:
    """The dataset's provenance: a warning for the bundled synthetic example, else a note."""
    if series.example:
        st.warning(labels.md_escape(series.provenance), icon=":material/science:")
    else:
        st.info(labels.md_escape(f"{series.provenance} ({OBSERVED_NOTE})"))


def display(table: pd.DataFrame, series: ObservedSeries) -> pd.DataFrame:
    """:func:`~spreadlab.analysis.observed.fits_frame` rows for the screen: model, parameter,
    estimate, interval and unit per the dataset's interval, and the estimates refitted at the ends
    of N's range when N is an estimate."""
    shown = pd.DataFrame(
        {
            "model": table["model_title"],
            "parameter": [glossary.label(p) for p in table["parameter"]],
            "estimate": table["estimate"],
            "lower 95%": table["lo"],
            "upper 95%": table["hi"],
            "unit": table["unit"],
        }
    )
    if series.n_range is not None:
        low, high = series.n_range
        shown[f"at N = {low:,}"] = table["estimate_at_n_low"]
        shown[f"at N = {high:,}"] = table["estimate_at_n_high"]
    return shown


def show_fits(
    series: ObservedSeries, models: tuple[str, ...] = OBSERVED_MODELS
) -> tuple[dict[str, FitResult], Verdict, pd.DataFrame]:
    """Fit ``models`` (cached), then show the failures, the curve-only verdict with its evidence
    and the parameter table; returns the fits, the verdict and the CSV table."""
    fits, failures, at_ends = observed_data.fitted(series, models)
    for model, reason in failures.items():
        st.warning(labels.md_escape(f"{get_model(model).title} was not fitted: {reason}"))
    verdict = series_verdict(series, fits)
    st.info(labels.md_escape(verdict_text.verdict_text(verdict)), icon=":material/lightbulb:")
    with st.expander("The evidence behind this answer"):
        st.markdown("\n".join(f"- {labels.md_escape(line)}" for line in verdict.evidence))
        st.caption(
            "A time series has no decision log, so the answer rests on the curve alone: its "
            "onset first, then models that bend the curve without any offline channel. 'Cannot "
            "tell' is an honest answer here."
        )
    table = fits_frame(series, fits, verdict, at_ends)
    st.dataframe(display(table, series), hide_index=True, width="stretch")
    if fits:
        st.caption(labels.md_escape(f"Intervals: {next(iter(fits.values())).interval_label()}."))
    if series.n_range is not None:
        st.caption(
            "N is an estimate: each rate is refitted with N at both ends of its range, so the "
            "last two columns show how much the rate owes to the choice of N (beside its interval, "
            "which takes N as known)."
        )
    return fits, verdict, table


def fit_page() -> None:
    """The Fit page for one stored observed dataset: the network-free models only, their rates
    per the dataset's interval, the verdict, the fitted curves and the CSV."""
    series = observed_data.series(pick_datasets("Observed dataset")[0])
    provenance(series)
    models = st.multiselect(
        "Models (those that need no network)",
        list(OBSERVED_MODELS),
        default=["si1", "si2"],
        format_func=lambda m: get_model(m).title,
    )
    if not models:
        st.info("Choose at least one model to fit.")
        return
    fits, _, table = show_fits(series, tuple(models))
    if not fits:
        return
    fitted = tables.fitted_curves(fits)
    st.plotly_chart(
        viz.fit_figure(
            observed_curve(series),
            fitted,
            f"Observed spread and fitted models (one round = {series.interval})",
        )
    )
    st.caption(
        f"Rates are per {series.interval} (the dataset's interval) and, since its network is "
        "unknown, per unit informed fraction rather than per informed neighbour: they are not "
        "the simulator's per-round probabilities."
    )
    st.download_button(
        "Download these fits (CSV)",
        table.to_csv(index=False),
        file_name=f"{series.source}_fits.csv",
        mime="text/csv",
    )


def rate_rows(chosen: list[ObservedSeries], model: str) -> list[pd.DataFrame]:
    """Compare's rate rows (:func:`.tables.parameter_table` with scenario, calibrated and
    observed columns) of the chosen datasets, in units per each dataset's interval."""
    if chosen and model not in OBSERVED_MODELS:
        st.caption(
            labels.md_escape(
                f"{get_model(model).title} needs a network, so the observed datasets are not "
                "fitted with it: choose SI-1, SI-2, a heterogeneous rival or the mean-field map."
            )
        )
        return []
    out = []
    for series in chosen:
        fits, failures, _ = observed_data.fitted(series, (model,))
        if model not in fits:
            st.warning(labels.md_escape(f"{series.source} not fitted: {failures.get(model, '')}"))
            continue
        table = tables.parameter_table(fits)
        table["unit"] = [observed_unit(u, series.interval) for u in table["unit"]]
        out.append(table.assign(scenario=f"{series.source} (observed)", calibrated=False))
    return out


MAPPING_NAMES = {
    "rate": "rescaled by the fitted rates",
    "rounds": "one simulated round = one interval",
}


def closeness(series: ObservedSeries, ids: tuple[str, ...] = (), key: str = "") -> None:
    """Which stored scenario (those in ``ids``, if given) comes closest to ``series`` under the
    chosen time mapping and by how much, with the caveat, an overlay and the ranking as CSV."""
    mapping = st.radio(
        f"Simulated time, against {series.source}",
        list(MAPPINGS),
        format_func=MAPPING_NAMES.__getitem__,
        horizontal=True,
        key=f"mapping-{key}",
        help="; ".join(f"{MAPPING_NAMES[m]}: {MAPPINGS[m]}" for m in MAPPINGS),
    )
    found = observed_data.comparison(series, mapping, ids)
    if not found.ranked:
        st.info("No stored scenario to compare with.")
        return
    table = comparison_frame(series, found)
    per = f"simulated_rounds_per_{series.interval}"
    st.dataframe(
        pd.DataFrame(
            {
                "scenario": table["scenario"],
                "RMSE (informed fraction)": table["rmse_informed_fraction"],
                "above the closest": table["rmse_above_closest"],
                "intervals compared": table["intervals_compared"],
                f"simulated rounds per {series.interval}": table[per],
                "simulated with": table["scenario_kind"],
                "observed": f"{series.source} (observed)",
                "note": table["note"],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    st.info(labels.md_escape(found.summary(series.interval)), icon=":material/straighten:")
    if found.compared:
        shown = {c.candidate.label: c for c in found.compared}
        chosen = st.selectbox(f"Overlay on {series.source}", list(shown), key=f"overlay-{key}")
        st.plotly_chart(
            viz.informed_figure(
                overlay_frame(series, shown[chosen]),
                f"Observed and simulated ({MAPPING_NAMES[mapping]}), one step = {series.interval}",
            ),
            key=f"overlay-chart-{key}",
        )
    st.download_button(
        "Download the comparison (CSV)",
        table.to_csv(index=False),
        file_name=f"{series.source}_closest_scenarios.csv",
        mime="text/csv",
        key=f"comparison-csv-{key}",
    )


def manage_datasets() -> None:
    """The stored observed datasets, each deletable after a confirmation (all or nothing)."""
    gone = st.session_state.pop("observed-deleted", None)
    if gone:
        st.success(labels.md_escape(f"Deleted observed dataset(s) {', '.join(gone)}."))
    table = observed_data.datasets()
    if table.empty:
        return
    with st.expander(f"Stored observed datasets ({len(table)})"):
        shown = {r["dataset_id"]: dataset_label(r) for r in table.to_dict("records")}
        doomed = st.multiselect("Datasets to delete", list(shown), format_func=shown.__getitem__)
        if not doomed:
            return
        st.warning(
            labels.md_escape(
                f"Delete {len(doomed)} observed dataset(s) for good? Their fits are recomputed "
                "from the data, so nothing else refers to them."
            )
        )
        confirmed = st.checkbox("Yes, delete them", key=f"confirm-delete-{'-'.join(doomed)}")
        if st.button("Delete", type="primary", disabled=not confirmed):
            try:
                observed_data.delete(doomed)
            except SpreadLabError as exc:
                ui.show_error(exc)
                return
            st.session_state["observed-deleted"] = doomed
            st.rerun()


def observed_curve(series: ObservedSeries) -> pd.DataFrame:
    """The dataset's informed fraction per interval (columns label, round, fraction): one
    interval drawn as one round."""
    return pd.DataFrame(
        {
            "label": f"{series.source} (one round = {series.interval}){OBSERVED_SUFFIX}",
            "round": np.arange(series.counts.size),
            "fraction": series.counts / series.n,
        }
    )


def export_section() -> None:
    """The Export page's observed datasets: their fits and binned series as CSV, every row with
    the observed provenance (``data_source``)."""
    chosen = pick_datasets("Observed datasets to export", multiple=True)
    if not chosen:
        st.caption("Datasets saved on the Observed data page (or by 'spreadlab observe --db').")
        return
    fitted, binned = [], []
    for dataset_id in chosen:
        series = observed_data.series(dataset_id)
        fits, _, at_ends = observed_data.fitted(series, OBSERVED_MODELS)
        table = fits_frame(series, fits, series_verdict(series, fits), at_ends)
        fitted.append(table.assign(dataset_id=dataset_id))
        binned.append(series_frame(series).assign(dataset_id=dataset_id))
    fits_csv = pd.concat(fitted, ignore_index=True)
    st.dataframe(fits_csv, hide_index=True, width="stretch")
    st.caption(
        "Rates per each dataset's own interval (see the unit column); data_source is the "
        f"provenance of every row: {OBSERVED_NOTE}."
    )
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download observed fits (CSV)",
        fits_csv.to_csv(index=False),
        file_name="spreadlab_observed_fits.csv",
        mime="text/csv",
    )
    c2.download_button(
        "Download observed series (CSV)",
        pd.concat(binned, ignore_index=True).to_csv(index=False),
        file_name="spreadlab_observed_series.csv",
        mime="text/csv",
    )
