"""The dashboard's tables: posting rounds and texts of a run, fitted and residual curves,
parameter, criteria and rate tables (as numbers and as narrow text), stored fits, the curves CSV,
the trait-effect forest rows and the home page's overview of scenarios."""

from __future__ import annotations

import numpy as np
import pandas as pd

from spreadlab import glossary
from spreadlab.analysis.compare import compare
from spreadlab.analysis.fit import FitResult
from spreadlab.analysis.models import get_model
from spreadlab.analysis.trait_effects import TraitEffects
from spreadlab.dashboard.labels import md_escape, scenarios, short_labels
from spreadlab.store.runs import StoredRun
from spreadlab.world.personas import TRAIT_NAMES, TRAITS


def posted_rounds(run: StoredRun) -> np.ndarray:
    """Round in which each agent posted, -1 for agents who never did."""
    posted = np.full(run.network.n, -1, dtype=np.int32)
    posts = run.decisions[run.decisions["post"]]
    posted[posts["agent"].to_numpy(np.int64)] = posts["round"].to_numpy(np.int32)
    return posted


def post_texts(run: StoredRun) -> dict[int, str]:
    """Each poster's post text (LLM runs); empty for stochastic runs, which record none."""
    posts = run.decisions[run.decisions["post"] & run.decisions["text"].notna()]
    return {int(a): str(t) for a, t in zip(posts["agent"], posts["text"], strict=True)}


def fitted_curves(fits: dict[str, FitResult]) -> pd.DataFrame:
    """Each model's fitted informed fraction per round (columns model, round, fraction)."""
    frames = [
        pd.DataFrame(
            {
                "model": get_model(name).title,
                "round": np.arange(f.rounds + 1),
                "fraction": f.predict(),
            }
        )
        for name, f in fits.items()
    ]
    return pd.concat(frames, ignore_index=True)


def residual_curves(fits: dict[str, FitResult]) -> pd.DataFrame:
    """Observed minus fitted informed fraction per round, averaged over replicates."""
    frames = [
        pd.DataFrame(
            {
                "model": get_model(name).title,
                "round": np.arange(1, f.rounds + 1),
                "residual": f.residuals.mean(axis=0),
            }
        )
        for name, f in fits.items()
    ]
    return pd.concat(frames, ignore_index=True)


def parameter_table(fits: dict[str, FitResult]) -> pd.DataFrame:
    """One row per (model, parameter): the parameter in words then symbol, estimate, interval
    (``low``, ``high`` at confidence ``level``), unit, engine name (``symbol``) and what it means.
    The column names are fixed; the level is data, so tables of several fits concatenate."""
    rows = []
    for name, f in fits.items():
        model = get_model(name)
        for p in model.params:
            low, high = f.ci.get(p.name, (np.nan, np.nan))
            rows.append(
                {
                    "model": model.title,
                    "parameter": glossary.label(p.name),
                    "estimate": f.params[p.name],
                    "low": low,
                    "high": high,
                    "level": f.level,
                    "unit": p.unit,
                    "symbol": p.name,
                    "meaning": p.description,
                    "note": "interval reaches the parameter's bound"
                    if p.name in f.at_bound
                    else "",
                }
            )
    return pd.DataFrame(rows)


def _number(x: float) -> str:
    return "–" if np.isnan(x) else f"{x:.3g}"


def parameter_display(fits: dict[str, FitResult]) -> pd.DataFrame:
    """The Fit page's parameter table as text, narrow enough for a laptop screen: model,
    parameter (words, then symbol), estimate, interval and unit."""
    return rates_display(parameter_table(fits), "model")


BOUND_NOTE = "\\* The interval reaches the parameter's bound (for example an offline rate of 0)."
"""The footnote (Markdown) for the '*' that :func:`rates_display` puts on such intervals."""


def rates_display(table: pd.DataFrame, first: str) -> pd.DataFrame:
    """Rows of :func:`parameter_table` (with a ``first`` column such as model or scenario) as
    text: ``first``, parameter, estimate, "lower to upper" interval (* where it reaches the
    parameter's bound) and unit; the interval column is headed by its level ("95% interval")."""
    levels = "/".join(dict.fromkeys(f"{x:.0%}" for x in table["level"]))
    interval = [
        "not computed"
        if np.isnan(lo)
        else f"{_number(lo)} to {_number(hi)}" + (" *" if note else "")
        for lo, hi, note in zip(table["low"], table["high"], table["note"], strict=True)
    ]
    return pd.DataFrame(
        {
            first: table[first].to_numpy(),
            "parameter": table["parameter"].to_numpy(),
            "estimate": [_number(x) for x in table["estimate"]],
            f"{levels} interval": interval,
            "unit": table["unit"].to_numpy(),
        }
    )


def parameter_glossary(fits: dict[str, FitResult]) -> str:
    """A Markdown list of the fitted parameters in words: label, unit and meaning, once each."""
    names = dict.fromkeys(p.name for m in fits for p in get_model(m).params)
    return "\n".join(
        f"- **{md_escape(glossary.label(n))}** ({md_escape(glossary.term(n).unit)}): "
        f"{md_escape(glossary.term(n).meaning)}"
        for n in names
    )


def criteria_table(fits: dict[str, FitResult]) -> pd.DataFrame:
    """AIC, BIC, RMSE per model, best BIC first, with the differences to the best."""
    table = compare(fits)
    table.insert(1, "title", [get_model(m).title for m in table["model"]])
    return table


def criteria_display(fits: dict[str, FitResult]) -> pd.DataFrame:
    """The goodness-of-fit table in words: model, BIC and how far above the best, the same for
    AIC, and the typical miss in informed fraction; best first."""
    table = criteria_table(fits)
    return pd.DataFrame(
        {
            "model": table["title"],
            "BIC": [f"{x:.1f}" for x in table["bic"]],
            "BIC above the best": [f"{x:.1f}" for x in table["delta_bic"]],
            "AIC": [f"{x:.1f}" for x in table["aic"]],
            "AIC above the best": [f"{x:.1f}" for x in table["delta_aic"]],
            "typical miss (RMSE)": [f"{x:.3f}" for x in table["rmse"]],
        }
    )


def stored_rows(
    stored: pd.DataFrame,
    scenario_ids: list[str],
    run_ids: list[str],
    models: list[str],
    method: str | None = None,
) -> pd.DataFrame:
    """The stored fits (as from :func:`spreadlab.store.fits.load_fits`) of exactly these scenarios
    (a scenario of one run is kept under its run id) and models, and method if given."""
    keep = stored["group_id"].isin(set(scenario_ids) | set(run_ids)) & stored["model"].isin(models)
    if method is not None:
        keep &= stored["method"] == method
    return stored[keep]


def stored_text(rows: pd.DataFrame) -> str:
    """What a set of stored fits holds, in one sentence."""
    models = ", ".join(dict.fromkeys(rows["model_title"]))
    groups = ", ".join(dict.fromkeys(rows["group_id"]))
    newest = pd.Timestamp(rows["fitted_at"].max()).strftime("%Y-%m-%d %H:%M")
    return f"Stored for export: {len(rows)} fit(s), {models}, for {groups} (newest {newest} UTC)."


def curves_csv_table(curves: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Informed curves (one row per run and round) with each run's scenario and provenance (a
    calibrated model's surrogate named in data_source) and its provenance code."""
    info = runs.set_index("run_id")[
        ["scenario_id", "event_id", "event_type", "mix_name", "q", "backend", "synthetic"]
    ]
    table = curves.join(info, on="run_id")
    parameters = runs.set_index("run_id")["parameters"].reindex(table["run_id"]).fillna("")
    table["data_source"] = [
        glossary.data_source(b, bool(s), p)
        for s, b, p in zip(table["synthetic"], table["backend"], parameters, strict=True)
    ]
    table["provenance"] = [
        glossary.provenance(b, p) for b, p in zip(table["backend"], parameters, strict=True)
    ]
    columns = ["run_id", "scenario_id", "event_id", "event_type", "mix_name", "q", "round"]
    rest = ["informed", "new_posters", "n_agents", "fraction", "backend", "synthetic"]
    return table[[*columns, *rest, "data_source", "provenance"]]


def forest_rows(effects: TraitEffects) -> pd.DataFrame:
    """The estimable trait and event-type effects as forest-plot rows (columns term, series,
    estimate, low, high), intercepts left out."""
    return effect_rows(effects.table)


def effect_rows(effects: pd.DataFrame) -> pd.DataFrame:
    """:func:`forest_rows` of an effects table (channel, term, estimate, ci_lo, ci_hi,
    estimable), such as the one kept with a stored calibration."""
    table = effects[effects["estimable"].astype(bool) & (effects["term"] != "intercept")]
    names = {t: f"{t}: {TRAIT_NAMES[t]}" for t in TRAITS}
    return pd.DataFrame(
        {
            "term": [names.get(t, t.replace("event:", "event: ")) for t in table["term"]],
            "series": [
                "a: posting on the offline report" if c == "a" else "b: per posting neighbour"
                for c in table["channel"]
            ],
            "estimate": table["estimate"].to_numpy(),
            "low": table["ci_lo"].to_numpy(),
            "high": table["ci_hi"].to_numpy(),
        }
    )


def scenario_overview(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario: how far it spread (``reach``, the mean over its runs of
    ``final_informed_fraction``, the number the runs table shows) and how fast (``half_round``,
    mean first round by which a run had reached half of its own final level), with its short
    label, event type and backend. Runs with nobody informed have no half-way round and are left
    out of that mean."""
    columns = ["scenario_id", "label", "event_type", "backend", "reach", "half_round", "runs"]
    if runs.empty or curves.empty:
        return pd.DataFrame(columns=columns)
    final = curves.groupby("run_id")["fraction"].transform("last")
    halfway = curves[(final > 0) & (curves["fraction"] >= final / 2)]
    per_run = runs.set_index("run_id")[["scenario_id", "final_informed_fraction"]].assign(
        half_round=halfway.groupby("run_id")["round"].min()
    )
    means = (
        per_run.groupby("scenario_id")[["final_informed_fraction", "half_round"]]
        .mean()
        .rename(columns={"final_informed_fraction": "reach"})
    )
    rows = scenarios(runs)
    out = rows.join(means, on="scenario_id").rename(columns={"replicates": "runs"})
    out["label"] = out["scenario_id"].map(short_labels(rows))
    return out[columns].dropna(subset=["reach"])
