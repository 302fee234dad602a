"""Streamlit glue shared by the dashboard pages: cached data access, the provenance banner, run
and scenario pickers, and error display. Only ``app.py`` and ``pages/`` import this module; the
engine never does.

Caches are keyed by the database path and a cheap fingerprint of its run table (count, newest
run, rounds done), so moving between pages never recomputes, and a write by any session or by the
command line (a run, an import, a delete) is seen at the next refresh. The database file is held
only while an action reads or writes it, so ``spreadlab`` commands can use it meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from spreadlab.dashboard import actions, labels, launch, tables
from spreadlab.errors import SpreadLabError
from spreadlab.lazy import lazy_import
from spreadlab.store import observed as observed_store
from spreadlab.store import queries
from spreadlab.store import sweeps as sweep_store
from spreadlab.store.liveness import with_liveness
from spreadlab.store.runs import RunStore, StoredRun

if TYPE_CHECKING:
    from spreadlab.analysis.equations import LearnedEquation
    from spreadlab.analysis.fit import FitResult
    from spreadlab.analysis.methods import CIMethod, Method
    from spreadlab.analysis.trait_effects import TraitEffects
    from spreadlab.analysis.verdict import Verdict
    from spreadlab.dashboard.viz import SpreadGraph
    from spreadlab.store.fits import RunGroup

# Imported by the pages that use them, so the home page starts without the scientific stack.
equations = lazy_import("spreadlab.analysis.equations")
fit_store = lazy_import("spreadlab.store.fits")
trait_effects_model = lazy_import("spreadlab.analysis.trait_effects")
viz = lazy_import("spreadlab.dashboard.viz")


@st.cache_resource(show_spinner="Preparing the sample runs...")
def _database_path() -> str:
    return str(actions.database_path())


PAGES: tuple[tuple[str, str, str, str], ...] = (
    ("app.py", "Home", ":material/home:", "what SpreadLab shows and the runs ready to browse"),
    (
        "pages/1_Scenario_and_run.py",
        "Scenario and run",
        ":material/play_circle:",
        "pick an event and a personality mix, run or load a simulation",
    ),
    (
        "pages/2_Spread.py",
        "Spread",
        ":material/hub:",
        "watch the news travel across the network, round by round",
    ),
    (
        "pages/3_Fit.py",
        "Fit",
        ":material/show_chart:",
        "one rate or two? Fitted models, intervals and which one wins",
    ),
    (
        "pages/4_Compare.py",
        "Compare",
        ":material/compare_arrows:",
        "events and personality mixes side by side",
    ),
    (
        "pages/5_Export.py",
        "Export",
        ":material/download:",
        "fitted parameters and run data as CSV",
    ),
    (
        "pages/6_Observed_data.py",
        "Observed data",
        ":material/upload_file:",
        "fit your own time series of posts and hold it against the simulations",
    ),
    (
        "pages/7_Sweep.py",
        "Sweep",
        ":material/grid_on:",
        "a grid of events, mixes and settings as heatmaps, with real differences flagged",
    ),
    (
        "pages/8_Calibrate.py",
        "Calibrate",
        ":material/tune:",
        "measure a and b from an LLM, then run its surrogate at any N",
    ),
)
"""(script, label, icon, what it is for) of every page, in menu order."""


def sidebar() -> None:
    """The page menu (Streamlit's own is switched off in .streamlit/config.toml, since it would
    call the home page 'app')."""
    with st.sidebar:
        for script, label, icon, _ in PAGES:
            st.page_link(script, label=label, icon=icon)


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """Import what the other pages need in the background, once per process, after the home page
    has rendered: the first visit to a page then does not wait for scipy or plotly (a no-op when
    ``spreadlab dashboard`` has imported them already)."""
    return launch.in_background(lambda: launch.import_all(launch.PAGE_MODULES))


@contextmanager
def cancellable(key: str, cancel: str, cancel_help: str, text: str) -> Iterator[Any]:
    """A progress bar (yielded, showing ``text``) and a ``cancel`` button for a long action.

    Any click, Cancel included, makes Streamlit stop this script at the next progress update;
    the session flag ``key`` then tells the next script run (:func:`was_cancelled`). An action
    that finishes, or fails with a :class:`SpreadLabError`, clears it and removes the button."""
    bar = st.progress(0.0, text=text)
    button = st.empty()
    button.button(cancel, help=cancel_help)
    st.session_state[key] = True
    try:
        yield bar
    except SpreadLabError:
        st.session_state[key] = False
        button.empty()
        raise
    st.session_state[key] = False
    button.empty()


def was_cancelled(key: str) -> bool:
    """Whether the action flagged ``key`` by :func:`cancellable` was stopped by a click (once)."""
    return bool(st.session_state.pop(key, False))


def database_path() -> str:
    """Path of the dashboard's DuckDB file (see :func:`.actions.database_path`)."""
    return _database_path()


@contextmanager
def open_store(release_when_idle: bool = False) -> Iterator[RunStore]:
    """A fresh connection, closed after use: the file is never held between actions. If a
    ``spreadlab`` command holds it, a note says so while the dashboard waits. For an LLM run,
    ``release_when_idle`` lets go of the file while it waits for the endpoint."""
    shown = []

    def note(text: str) -> None:
        shown.append(st.info(labels.md_escape(text), icon=":material/hourglass_top:"))

    with RunStore(database_path(), on_wait=note, release_when_idle=release_when_idle) as store:
        for element in shown:
            element.empty()
        yield store


REVISIONS: dict[str, Callable[[RunStore], str]] = {
    "runs": queries.runs_revision,
    "fits": queries.fits_revision,
    "observed": lambda store: observed_store.observed_revision(store.con),
    "sweeps": sweep_store.revision,
}
"""The fingerprint of each table the pages cache reads of."""


@st.cache_data(max_entries=64, show_spinner=False)
def _revision_at(path: str, state: queries.FileState, table: str) -> str:
    with open_store() as store:
        return REVISIONS[table](store)


def table_revision(table: str) -> str:
    """Fingerprint of ``table`` (a key of :data:`REVISIONS`); the database is opened for it only
    when its files changed since the last look, so a page's many cached reads cost one stat each
    instead of one open each."""
    path = database_path()
    return _revision_at(path, queries.file_state(path), table)


def revision() -> str:
    """Fingerprint of the run table; it changes with every run added, advanced or deleted."""
    return table_revision("runs")


@st.cache_data(show_spinner=False)
def _runs(path: str, rev: str) -> pd.DataFrame:
    with open_store() as store:
        return store.list_runs()


def runs() -> pd.DataFrame:
    """Every stored run (cached); a 'running' run whose writer died shows as 'interrupted'."""
    frame = _runs(database_path(), revision())
    if not (frame["status"] == "running").any():
        return frame
    with open_store() as store:
        return with_liveness(store.con, frame)


@st.cache_data(show_spinner=False)
def _provenances(path: str, run_ids: tuple[str, ...], rev: str) -> list[dict[str, Any]]:
    with open_store() as store:
        return queries.run_provenances(store, list(run_ids))


@st.cache_resource(max_entries=6, show_spinner="Loading the run...")
def _stored_run(path: str, run_id: str, rounds_done: int) -> StoredRun:
    with open_store() as store:
        return store.load_run(run_id)


def stored_run(run_id: str) -> StoredRun:
    """A whole run (network, profiles, decisions, curve), cached; treat it as read-only."""
    row = runs().set_index("run_id").loc[run_id]
    return _stored_run(database_path(), run_id, int(row["rounds_done"]))


@st.cache_data(max_entries=6, show_spinner="Drawing the network...")
def _spread_graph(path: str, run_id: str, rounds_done: int) -> SpreadGraph:
    run = _stored_run(path, run_id, rounds_done)
    return viz.spread_html(
        run.network,
        run.profiles,
        tables.posted_rounds(run),
        tables.post_texts(run),
        last_round=max(int(run.curve["round"].max()), 0) if len(run.curve) else 0,
        seeds_reached=int(run.meta["n0"]),
    )


def spread_graph(run_id: str) -> SpreadGraph:
    """The animated network page of a run (cached)."""
    row = runs().set_index("run_id").loc[run_id]
    return _spread_graph(database_path(), run_id, int(row["rounds_done"]))


@st.cache_data(show_spinner=False)
def _curves(path: str, run_ids: tuple[str, ...], rev: str) -> pd.DataFrame:
    with open_store() as store:
        return queries.informed_curves(store, list(run_ids))


def curves(run_ids: list[str]) -> pd.DataFrame:
    """Informed curves of ``run_ids`` in long form (cached)."""
    return _curves(database_path(), tuple(run_ids), revision())


def provenance_banner(shown: pd.DataFrame) -> None:
    """A warning banner whenever any run on screen is synthetic."""
    provenances = _provenances(database_path(), tuple(shown["run_id"]), revision())
    note = labels.provenance_note(shown, provenances)
    if note:
        st.warning(labels.md_escape(note), icon=":material/science:")


def show_error(exc: SpreadLabError) -> None:
    """The error's own message (what is wrong, what to do) as literal text, with form fields
    named instead of command-line options; never a traceback."""
    st.error(labels.md_escape(labels.for_dashboard(exc)), icon=":material/error:")


def runs_or_stop() -> pd.DataFrame:
    """Every stored run; when the database cannot be read, its error and the end of the page."""
    try:
        return runs()
    except SpreadLabError as exc:
        show_error(exc)
        st.stop()


def pick_run(available: pd.DataFrame, label: str = "Run") -> str | None:
    """A run selector that remembers the choice across pages (a ``?run=<id>`` link preselects
    one); None when there are no runs."""
    if available.empty:
        st.info("No runs yet. Run a scenario on the **Scenario and run** page, or upload one.")
        return None
    ids = list(available["run_id"])
    shown = {r["run_id"]: labels.run_label(r) for r in available.to_dict("records")}
    current = st.session_state.get("run_id") or st.query_params.get("run")
    index = ids.index(current) if current in ids else 0
    chosen = st.selectbox(label, ids, index=index, format_func=shown.__getitem__)
    st.session_state["run_id"] = chosen
    return chosen


def pick_scenarios(
    available: pd.DataFrame, label: str = "Scenarios", multiple: bool = False, default: int = 1
) -> pd.DataFrame:
    """Select one or several scenarios (groups of replicate runs); returns their rows. A single
    choice is remembered across pages (a ``?scenario=<id>`` link preselects one); a multiple
    choice starts from it, then the first ``default`` others."""
    table = labels.scenarios(available)
    if table.empty:
        st.info("No runs yet. Run a scenario on the **Scenario and run** page, or upload one.")
        return table
    ids = list(table["scenario_id"])
    shown = {r["scenario_id"]: labels.scenario_label(r) for r in table.to_dict("records")}
    current = st.session_state.get("scenario_id") or st.query_params.get("scenario")
    if multiple:  # the scenario the user is working on first
        first = [current] if current in ids else []
        start = (first + [i for i in ids if i not in first])[:default]
        chosen = st.multiselect(label, ids, default=start, format_func=shown.__getitem__)
        return table[table["scenario_id"].isin(chosen)]
    index = ids.index(current) if current in ids else 0
    one = st.selectbox(label, ids, index=index, format_func=shown.__getitem__)
    st.session_state["scenario_id"] = one
    return table[table["scenario_id"] == one]


def runs_of(scenarios: pd.DataFrame) -> pd.DataFrame:
    """The run rows belonging to the given scenario rows."""
    all_runs = runs()
    return all_runs[all_runs["scenario_id"].isin(scenarios["scenario_id"])]


@st.cache_data(max_entries=64, show_spinner="Fitting the models...")
def _fits(
    path: str,
    run_ids: tuple[str, ...],
    models: tuple[str, ...],
    method: Method,
    ci: CIMethod,
    rev: str,
) -> tuple[dict[str, FitResult], dict[str, str]]:
    with open_store() as store:
        group = fit_store.load_group(store, list(run_ids))
    return actions.fit_collecting_failures(group.data, list(models), method=method, ci=ci)


def fits(
    run_ids: list[str], models: list[str], method: Method = "binomial", ci: CIMethod = "auto"
) -> tuple[dict[str, FitResult], dict[str, str]]:
    """Models fitted to a group of replicate runs, and the reason for each model that could not
    be fitted (cached per runs, models and methods)."""
    return _fits(database_path(), tuple(run_ids), tuple(models), method, ci, revision())


@st.cache_data(max_entries=16, show_spinner="Fitting the models...")
def _fits_of_groups(
    path: str, groups: tuple[tuple[str, ...], ...], model: str, rev: str
) -> list[tuple[FitResult | None, str]]:
    loaded: list[RunGroup | SpreadLabError] = []
    with open_store() as store:  # once for every group: an open costs about 20 ms
        for run_ids in groups:
            try:
                loaded.append(fit_store.load_group(store, list(run_ids)))
            except SpreadLabError as exc:
                loaded.append(exc)
    results: list[tuple[FitResult | None, str]] = []
    for group in loaded:
        try:
            if isinstance(group, SpreadLabError):
                raise group
            fitted, _ = actions.fit_collecting_failures(group.data, [model])
        except SpreadLabError as exc:
            results.append((None, str(exc)))
        else:
            results.append((fitted[model], ""))
    return results


def fits_of_groups(groups: list[list[str]], model: str) -> list[tuple[FitResult | None, str]]:
    """``model`` fitted to each group of replicate runs: its fit, or None and why it could not be
    fitted (cached per groups and model; the database is read once for all of them)."""
    return _fits_of_groups(database_path(), tuple(map(tuple, groups)), model, revision())


@st.cache_data(max_entries=64, show_spinner="Weighing the evidence: one rate or two?")
def _verdict(path: str, run_ids: tuple[str, ...], rev: str) -> Verdict:
    with open_store() as store:
        group = fit_store.load_group(store, list(run_ids))
        return fit_store.group_verdict(store, group)


def verdict(run_ids: list[str]) -> Verdict:
    """One rate or two for a group of runs: decision log first, then the curves (cached)."""
    return _verdict(database_path(), tuple(run_ids), revision())


@st.cache_data(max_entries=4, show_spinner="Packing the run...")
def _run_archive(path: str, run_id: str, rev: str) -> bytes:
    with open_store() as store:
        return actions.run_archive(store, run_id)


def run_archive(run_id: str) -> bytes:
    """A run's exported folder as a zip of CSV files (cached)."""
    return _run_archive(database_path(), run_id, revision())


@st.cache_data(show_spinner=False)
def _stored_fits(path: str, rev: str) -> pd.DataFrame:
    with open_store() as store:
        return fit_store.load_fits(store)


def stored_fits() -> pd.DataFrame:
    """Every fit kept in the database's fits table, one wide row each (cached)."""
    return _stored_fits(database_path(), table_revision("fits"))


def store_fits(run_ids: list[str], fitted: dict[str, FitResult]) -> None:
    """Keep fits made on the Fit page in the database, replacing earlier ones with the same
    runs, model and method."""
    with open_store() as store:
        group = fit_store.load_group(store, run_ids)
        fit_store.save_fits(store, [(group, list(fitted.values()))])


@st.cache_data(max_entries=16, show_spinner="Estimating trait effects...")
def _trait_effects(path: str, run_ids: tuple[str, ...], rev: str) -> TraitEffects:
    with open_store() as store:
        log = fit_store.stored_decision_log(store, list(run_ids))
    return trait_effects_model.fit_trait_effects(log)


def trait_effects(run_ids: list[str]) -> TraitEffects:
    """Trait and event-type effects on a and b learned from the runs' decision logs (cached)."""
    return _trait_effects(database_path(), tuple(run_ids), revision())


@st.cache_data(max_entries=16, show_spinner="Learning the equation (weak SINDy)...")
def _learned_equation(path: str, run_ids: tuple[str, ...], rev: str) -> LearnedEquation:
    with open_store() as store:
        group = fit_store.load_group(store, list(run_ids))
    return equations.learn_equation(group.data)


def learned_equation(run_ids: list[str]) -> LearnedEquation:
    """The sparse equation the runs' curves ask for, next to SI-1 and SI-2 (cached)."""
    return _learned_equation(database_path(), tuple(run_ids), revision())
