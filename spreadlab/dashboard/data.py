"""Data access for the dashboard, without Streamlit: which database, run labels, provenance
notes, building a scenario from form values, and run archives for download and upload.

The pages wrap these functions in Streamlit caches; everything here is plain Python and can be
tested (and reused from a notebook) on its own.
"""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spreadlab import glossary, memory, settings
from spreadlab.analysis.compare import compare, likelihood_ratio_test
from spreadlab.analysis.curves import Curves
from spreadlab.analysis.fit import FitResult, fit_models
from spreadlab.analysis.models import get_model
from spreadlab.analysis.trait_effects import TraitEffects
from spreadlab.analysis.verdict import Verdict
from spreadlab.engine.policy import Policy
from spreadlab.engine.simulate import Scenario
from spreadlab.engine.stochastic import ParameterTable
from spreadlab.errors import ConfigError, DataFormatError, FitError, SpreadLabError
from spreadlab.jobs.policies import open_policy
from spreadlab.jobs.samples import sample_database
from spreadlab.llm import LLMConfig, RunEstimate, estimate_run
from spreadlab.store.exchange import export_run, import_run
from spreadlab.store.runs import RunStore, StoredRun
from spreadlab.validate import slug
from spreadlab.world.events import Event, catalog
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PRESETS, TRAIT_NAMES, TRAITS, PersonalityMix, parse_mix

MAX_UPLOAD_FILES = 20
MAX_UNPACKED_BYTES = 2 * 1024**3  # a zip that would unpack to more is refused before unpacking
SYNTHETIC_NOTE = (
    "Synthetic runs on screen: {count} of the {total} runs shown were made by {makers}, not by "
    "LLM agents. Read them as a demonstration of the method, not as measurements of how people "
    "or LLMs share news."
)


def database_path() -> Path:
    """The dashboard's DuckDB file: ``$SPREADLAB_DB`` as it is, else ``spreadlab.duckdb`` with
    the bundled sample runs loaded into it (see :func:`spreadlab.jobs.samples.sample_database`)."""
    given = settings.current()
    return given.database() if given.db_from_env else sample_database()


def _describe(row: Mapping[str, Any]) -> str:
    return (
        f"{row['event_id']} · {row['mix_name']} · N={int(row['n_agents'])} "
        f"k={float(row['mean_degree']):g} · q={float(row['q']):g}"
    )


def _backend(row: Mapping[str, Any]) -> str:
    return str(row["backend"]) + (" · synthetic" if bool(row["synthetic"]) else "")


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")
# Streamlit turns bare URLs and e-mail addresses into links after unescaping (GFM autolink
# literals); an invisible word joiner after the scheme, 'www' or '@' stops that.
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|www)(?=\\[:.])|(@)")
WORD_JOINER = "\u2060"


def md_escape(text: str) -> str:
    """``text`` with every Markdown (and Streamlit emoji / LaTeX) character backslash-escaped and
    automatic links broken, so run data shown in a Streamlit message renders as the literal text:
    no link, image or formatting can come from a report, a post or an imported file."""
    return _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, _MARKDOWN.sub(r"\\\1", text))


FIELDS = {
    "--api-key": "the API key field",
    "--base-url": "the endpoint base URL field",
    "--model": "the Model field",
    "--max-calls": "the budget field",
    "--temperature": "the Temperature slider",
    "--as": "the 'Another run id' field",
}
_FLAG = re.compile(r"(\b(?:pass|with|raise) )?(--[a-z][a-z-]*)(?: [A-Z_]+\b)?")
_COMMAND = re.compile(
    r"(?::\s*)?'?spreadlab resume [^\s']+(?: --db [^\s;']+?)?'?(?=[.;,)]?(?:\s|$))"
)


def for_dashboard(message: str) -> str:
    """An engine message as the dashboard shows it: command-line options named by the form field
    that sets them, 'spreadlab resume' by the page's Resume button; no option names."""
    message = _COMMAND.sub(" with the Resume button under Stored runs", message)

    def field(match: re.Match[str]) -> str:
        flag = match.group(2)
        name = FIELDS.get(flag, f"the {flag[2:].replace('-', ' ')} setting")
        verb = match.group(1)
        return name if not verb else f"with {name}" if verb == "with " else f"use {name}"

    return _FLAG.sub(field, message)


def run_label(row: Mapping[str, Any]) -> str:
    """A one-line label for a run: event, mix, network, replicate and backend."""
    return f"{_describe(row)} · rep {int(row['replicate'])} · {_backend(row)} · {row['run_id']}"


def scenario_label(row: Mapping[str, Any]) -> str:
    """A one-line label for a scenario (a group of replicate runs)."""
    return (
        f"{_describe(row)} · {int(row['replicates'])} replicate(s) · {_backend(row)} · "
        f"{row['scenario_id']}"
    )


def scenarios(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario of ``runs`` (as from :meth:`RunStore.list_runs`) with its run ids."""
    columns = [
        "scenario_id",
        "event_id",
        "event_type",
        "mix_name",
        "n_agents",
        "mean_degree",
        "q",
        "backend",
        "synthetic",
    ]
    if runs.empty:
        return pd.DataFrame(columns=[*columns, "replicates", "run_ids"])
    grouped = runs.groupby("scenario_id", sort=False)
    out = grouped[columns[1:]].first().reset_index()
    out["replicates"] = grouped.size().to_numpy()
    out["run_ids"] = grouped["run_id"].agg(list).to_numpy()
    return out


def short_labels(scenario_rows: pd.DataFrame) -> dict[str, str]:
    """Short unique labels "event × mix" for scenario rows (from :func:`scenarios`), with N and
    then the scenario id added only where needed to tell two apart."""
    rows = scenario_rows.to_dict("records")
    labels = {r["scenario_id"]: f"{r['event_id']} × {r['mix_name']}" for r in rows}
    for extra in (lambda r: f" · N={int(r['n_agents'])}", lambda r: f" · {r['scenario_id']}"):
        taken = pd.Series(labels).duplicated(keep=False)
        for r in rows:
            if taken[r["scenario_id"]]:
                labels[r["scenario_id"]] += extra(r)
    return labels


def provenance_note(runs: pd.DataFrame, provenances: list[dict[str, Any]] | None = None) -> str:
    """The banner text when any run in ``runs`` is synthetic, else an empty string.

    ``provenances`` (parsed provenance JSON of those runs) adds the parameter table's own words,
    e.g. "illustrative: hand-set values ... not measured from LLM agents".
    """
    if runs.empty or not runs["synthetic"].astype(bool).any():
        return ""
    synthetic = runs[runs["synthetic"].astype(bool)]
    makers = " and ".join(
        sorted(
            "the stochastic agent model" if b == "stochastic" else f"the '{b}' backend"
            for b in synthetic["backend"].unique()
        )
    )
    tables = sorted(
        {str(p.get("parameter_table")) for p in provenances or [] if p.get("parameter_table")}
    )
    if tables:
        makers += f" (parameters: {'; '.join(tables)})"
    return SYNTHETIC_NOTE.format(count=len(synthetic), total=len(runs), makers=makers)


def build_event(
    *,
    catalog_id: str | None = None,
    title: str = "",
    event_type: str = "",
    report: str = "",
) -> Event:
    """A catalog event by id, or the user's own report (validated: type known, report not empty)."""
    if catalog_id:
        events = catalog()
        if catalog_id not in events:
            raise ConfigError(f"unknown catalog event {catalog_id!r}; pick one from the list")
        return events[catalog_id]
    return Event(
        id=f"user-{slug(title.strip().lower() or 'event')[:40]}",
        type=event_type,
        title=title.strip() or "Your event",
        report=report.strip(),
        source="user (dashboard)",
    )


def build_mix(
    mode: str,
    *,
    preset: str = "uniform",
    traits: Mapping[str, float] | None = None,
    weights: str = "",
) -> PersonalityMix:
    """A personality mix from the scenario form: a preset, per-trait probabilities (of "high"),
    or explicit weights written as ``O+C-E+A-N+=2, 7=1``."""
    if mode == "preset":
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
        return PRESETS[preset]
    if mode == "traits":
        probabilities = dict(traits or {})
        name = "traits:" + ",".join(f"{t}={p:g}" for t, p in probabilities.items())
        return PersonalityMix.from_trait_probabilities(probabilities, name=name)
    if mode == "weights":
        text = ",".join(s.strip() for s in weights.replace("\n", ",").split(",") if s.strip())
        if not text:
            raise ConfigError(
                "the personality mix is empty: give at least one profile weight, e.g. "
                "'O+C-E+A-N+=2, O-C+E-A+N-=1'"
            )
        return parse_mix(f"weights:{text}")
    raise ConfigError(f"unknown mix mode {mode!r}; use preset, traits or weights")


def build_scenario(
    event: Event,
    mix: PersonalityMix,
    *,
    network_kind: str,
    n: int,
    k: int,
    seed: int,
    rounds: int,
    q: float,
    n0: int,
    replicates: int,
    rewire: float = 0.1,
) -> Scenario:
    """The scenario the form describes. Its checks, and those of the network generators (which
    run before a replicate's first write), raise :class:`ConfigError`."""
    spec = NetworkSpec(kind=network_kind, n=int(n), k=int(k), rewire=float(rewire))
    return Scenario(
        event=event,
        mix=mix,
        network=spec,
        rounds=int(rounds),
        q=float(q),
        n0=int(n0),
        replicates=int(replicates),
        seed=int(seed),
    )


def llm_settings(
    *,
    base_url: str,
    model: str,
    api_key: str,
    temperature: float,
    max_calls: int,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """The LLM options of the form, as :func:`spreadlab.jobs.policies.open_policy` takes them.

    Empty fields fall back to the environment (``OPENAI_BASE_URL``, ``SPREADLAB_MODEL``,
    ``OPENAI_API_KEY``); the key stays in memory only. ``timeout`` is in seconds per reply.
    """
    return {
        "base_url": base_url.strip() or None,
        "model": model.strip() or None,
        "api_key": api_key or None,
        "temperature": float(temperature),
        "max_calls": int(max_calls) or None,
        "timeout": float(timeout),
    }


def llm_estimate(scenario: Scenario, settings: Mapping[str, Any]) -> RunEstimate:
    """Upper bounds on the calls, tokens and cost of running ``scenario`` with an LLM."""
    config = LLMConfig.from_env(**settings)
    return estimate_run(
        config,
        scenario.event,
        n_agents=scenario.network.n,
        rounds=scenario.rounds,
        n0=scenario.n0,
        replicates=scenario.replicates,
    )


@contextmanager
def llm_policy(
    store: RunStore, scenario: Scenario, settings: Mapping[str, Any]
) -> Iterator[Policy]:
    """An LLM policy whose endpoint has been checked (it answers, takes the key, serves the
    model) before anything is written; a replay from the cache makes no request at all."""
    with open_policy("llm", store, ParameterTable.illustrative(), [scenario], dict(settings)) as p:
        yield p


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


def run_archive(store: RunStore, run_id: str, fmt: str = "csv") -> bytes:
    """A zip of the run folder written by :func:`spreadlab.store.exchange.export_run`."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = export_run(store, run_id, Path(tmp), fmt=fmt)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.iterdir()):
                archive.write(path, f"{run_id}/{path.name}")
    return buffer.getvalue()


def import_archive(store: RunStore, data: bytes, name: str, run_id: str = "") -> str:
    """Import a zipped run folder (as made by :func:`run_archive`), under ``run_id`` if given;
    return the new run id.

    The archive is fully validated before anything is written, and the run is written in one
    transaction, so a bad file leaves the database unchanged.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DataFormatError(
            f"{name} is not a zip archive: upload the .zip of a run folder, as downloaded from "
            "the Export page or made with 'spreadlab export'"
        ) from None
    with archive, tempfile.TemporaryDirectory() as tmp:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_UPLOAD_FILES:
            raise DataFormatError(f"{name} holds {len(members)} files; a run folder has at most 6")
        unpacked = sum(m.file_size for m in members)
        if unpacked > min(MAX_UNPACKED_BYTES, memory.available_bytes()):
            raise DataFormatError(
                f"{name} would unpack to {unpacked / memory.GB:.1f} GB, more than this machine "
                "can take; import the run folder with 'spreadlab import' instead"
            )
        root = Path(tmp).resolve()
        for member in members:
            target = (root / member.filename).resolve()
            if not target.is_relative_to(root):
                raise DataFormatError(f"{name}: unsafe path {member.filename!r} in the archive")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))
        found = sorted(p.parent for p in root.rglob("run.json"))
        if len(found) != 1:
            raise DataFormatError(
                f"{name} must hold exactly one run folder with a run.json (found {len(found)}); "
                "zip one exported run folder"
            )
        try:
            return import_run(store, found[0], run_id or None)
        except SpreadLabError as exc:  # name the upload, not the server's temporary folder
            exc.args = (str(exc).replace(str(found[0]), name).replace(str(root), name),)
            raise


def fit_group(
    data: Curves,
    models: list[str],
    *,
    method: str = "binomial",
    ci: str = "auto",
) -> tuple[dict[str, FitResult], dict[str, str]]:
    """Fit each model to a run or a group of replicate runs
    (see :func:`spreadlab.analysis.fit.fit`).

    Returns the fits and, per model that cannot be fitted to these data, the reason (e.g. SI-1
    cannot explain a replicate in which nobody posted in round 0). Raises when no model is chosen
    or none can be fitted.
    """
    if not models:
        raise ConfigError("choose at least one model to fit")
    fits: dict[str, FitResult] = {}
    failures: dict[str, str] = {}
    for name in models:
        try:
            fits.update(fit_models(data, [name], method=method, ci=ci))
        except FitError as exc:
            failures[name] = str(exc)
    if not fits:
        reasons = sorted(set(failures.values()))
        raise FitError("no model could be fitted: " + " / ".join(reasons))
    return fits, failures


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
    """One row per (model, parameter): the parameter in words then symbol, estimate, interval,
    unit, engine name (``symbol``) and what it means."""
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
                    f"lower {f.level:.0%}": low,
                    f"upper {f.level:.0%}": high,
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
    parameter's bound) and unit."""
    low, high = table.columns[3], table.columns[4]
    interval = [
        "not computed"
        if np.isnan(lo)
        else f"{_number(lo)} to {_number(hi)}" + (" *" if note else "")
        for lo, hi, note in zip(table[low], table[high], table["note"], strict=True)
    ]
    return pd.DataFrame(
        {
            first: table[first].to_numpy(),
            "parameter": table["parameter"].to_numpy(),
            "estimate": [_number(x) for x in table["estimate"]],
            f"{low.removeprefix('lower ')} interval": interval,
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


_EVIDENCE = ((10, "very strong"), (6, "strong"), (2, "positive"), (0, "weak"))


def _strength(delta_bic: float) -> str:
    return next(word for limit, word in _EVIDENCE if delta_bic >= limit)


def ranking_text(fits: dict[str, FitResult]) -> str:
    """Which fitted model draws the curve best by BIC, in words (Kass & Raftery's scale: a
    difference above 10 is very strong evidence, below 2 barely worth mentioning). A ranking of
    curve shapes, not of mechanisms: the verdict (spreadlab.verdict) says what it means."""
    table = compare(fits).set_index("model")
    best = str(table.index[0])
    if len(table) == 1:
        return f"{get_model(best).title} was fitted alone; add models to compare."
    gap = float(table["delta_bic"].iloc[1])
    return (
        f"Of the {len(table)} models fitted, {get_model(best).title} draws the curve best (lowest "
        f"BIC), {gap:.1f} below {get_model(str(table.index[1])).title} ({_strength(gap)} "
        "evidence). A better-fitting curve is not proof of a mechanism: see the verdict above."
    )


VERDICT_TITLES = {
    "offline": "Two: an offline channel as well as the network.",
    "network-only": "One: spread through the network.",
    "heterogeneous-or-offline": "Cannot tell from the curve alone.",
    "no-fit": "No model fits.",
}


def verdict_text(verdict: Verdict) -> str:
    """The verdict as the Fit page shows it: a one-line answer, then its reason (the words
    without their lead, which the answer already states)."""
    reason = verdict.words.partition(": ")[2] or verdict.words
    return f"One rate or two? {VERDICT_TITLES[verdict.code]} {reason[:1].upper()}{reason[1:]}"


def clear_differences(rates: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Pairs of scenarios whose calibrated intervals for a parameter do not overlap, in words,
    and the scenarios left out for want of calibrated intervals. ``rates`` has columns scenario,
    parameter, estimate, low, high, unit, calibrated."""
    found = []
    usable = rates[rates["calibrated"]]
    for parameter, part in usable.groupby("parameter", sort=False):
        rows = list(part.itertuples(index=False))
        for i, one in enumerate(rows):
            for two in rows[i + 1 :]:
                lower, higher = sorted((one, two), key=lambda r: r.estimate)
                if lower.high < higher.low:
                    found.append(
                        f"{parameter}: {higher.scenario} ({higher.estimate:.3g}) above "
                        f"{lower.scenario} ({lower.estimate:.3g}) {higher.unit}"
                    )
    left_out = sorted(set(rates.loc[~rates["calibrated"], "scenario"]))
    return found, left_out


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
    """Informed curves (one row per run and round) with each run's scenario and provenance."""
    info = runs.set_index("run_id")[
        ["scenario_id", "event_id", "event_type", "mix_name", "q", "backend", "synthetic"]
    ]
    table = curves.join(info, on="run_id")
    table["data_source"] = [
        glossary.data_source(b, bool(s))
        for s, b in zip(table["synthetic"], table["backend"], strict=True)
    ]
    columns = ["run_id", "scenario_id", "event_id", "event_type", "mix_name", "q", "round"]
    rest = ["informed", "new_posters", "n_agents", "fraction", "backend", "synthetic"]
    return table[[*columns, *rest, "data_source"]]


def forest_rows(effects: TraitEffects) -> pd.DataFrame:
    """The estimable trait and event-type effects as forest-plot rows (columns term, series,
    estimate, low, high), intercepts left out."""
    table = effects.table[effects.table["estimable"] & (effects.table["term"] != "intercept")]
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


def lrt_text(fits: dict[str, FitResult]) -> str:
    """The one- versus two-rate likelihood-ratio test in plain words; empty unless both SI-1 and
    SI-2 were fitted."""
    if not {"si1", "si2"} <= set(fits):
        return ""
    test = likelihood_ratio_test(fits["si1"], fits["si2"])
    verdict = (
        "the second rate improves the fit by more than chance would"
        if test.p_value < 0.05
        else "the second rate does not improve the fit by more than chance would"
    )
    return (
        f"Likelihood-ratio test of one rate (SI-1) against two (SI-2): LR = {test.statistic:.2f}, "
        f"{glossary.p_text(test.p_value)}: {verdict}. Treat a small p with care: the runs vary "
        "more than the test assumes, so it finds a second rate too readily."
    )


def lrt_details(fits: dict[str, FitResult]) -> str:
    """The test's technical caveat (boundary mixture, naive p-value), for an expander."""
    test = likelihood_ratio_test(fits["si1"], fits["si2"])
    return f"Naive chi2(1) {glossary.p_text(test.p_value_naive)}. {test.caveat}"
