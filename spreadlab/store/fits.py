"""Fits kept in the run database (table ``fits``) and exported as CSV.

One row per (run or group of runs, model, fit method): every parameter with its interval and
unit, the criteria, the method, the runs fitted, a snapshot of their provenance (so an export stays
readable after runs are deleted), the package version and the time. Fitting a group again replaces
its rows. All fits of one command are written in one transaction, and only after every requested
model has been fitted, so bad input leaves the table untouched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from spreadlab import __version__
from spreadlab.analysis.compare import likelihood_ratio_test
from spreadlab.analysis.curves import Curves
from spreadlab.analysis.fit import FitResult, fit_models
from spreadlab.analysis.intervals import interval_label
from spreadlab.analysis.models import MODELS, NESTED, get_model
from spreadlab.analysis.verdict import OfflineEvidence, Verdict, decide, susceptible_rounds
from spreadlab.errors import FitError, StoreError
from spreadlab.glossary import data_source, p_text, provenance
from spreadlab.store.runs import RunStore
from spreadlab.store.schema import FIT_COLUMNS


def _param_names() -> list[str]:
    names: list[str] = []
    for model in MODELS.values():
        names += [p.name for p in model.params if p.name not in names]
    return names


PARAM_NAMES: tuple[str, ...] = tuple(_param_names())
"""Every parameter of every model, in registry order: one CSV column group each."""


@dataclass(frozen=True)
class RunGroup:
    """Runs fitted together: their curves and what they have in common."""

    group_id: str
    group_kind: str
    run_ids: tuple[str, ...]
    data: Curves
    meta: dict[str, object]


def resolve_runs(store: RunStore, ids: Sequence[str]) -> list[str]:
    """Run ids, with any scenario id replaced by its runs (in replicate order)."""
    if not ids:
        raise StoreError("give at least one run id (or scenario id) of a stored run")
    out: list[str] = []
    for ident in ids:
        members = [ident] if store.has_run(ident) else store.scenario_runs(ident)
        if not members:
            raise StoreError(
                f"no run or scenario {ident!r} in {store.path}; the list of stored runs shows "
                "the ids"
            )
        out += [m for m in members if m not in out]
    return out


def load_group(store: RunStore, ids: Sequence[str]) -> RunGroup:
    """The curves of the given runs (or scenarios) as one group of replicates, validated.

    The runs must share N; their (mean) degrees must agree within 10% and the mean is used.
    """
    run_ids = resolve_runs(store, ids)
    metas = store.run_metas(run_ids)
    sizes = {int(m["n_agents"]) for m in metas}
    if len(sizes) > 1:
        raise FitError(f"the runs have different numbers of agents {sorted(sizes)}; fit apart")
    degrees = np.array([float(m["mean_degree"]) for m in metas])
    if degrees.max() > 1.1 * degrees.min():
        raise FitError(
            f"the runs' mean degrees differ ({degrees.min():g} to {degrees.max():g}); fit apart"
        )
    curves = list(store.informed_counts(run_ids).values())
    for run_id, curve in zip(run_ids, curves, strict=True):
        if not len(curve):
            raise FitError(f"run {run_id} has no completed round to fit")
    data = Curves.from_runs(
        curves, sizes.pop(), float(degrees.mean()), store.degree_histogram(run_ids)
    )
    scenarios = {str(m["scenario_id"]) for m in metas}
    if len(run_ids) == 1:
        kind, group_id = "run", run_ids[0]
    elif len(scenarios) == 1 and set(store.scenario_runs(next(iter(scenarios)))) == set(run_ids):
        kind, group_id = "scenario", next(iter(scenarios))
    else:
        digest = hashlib.sha1(";".join(sorted(run_ids)).encode()).hexdigest()[:10]
        kind, group_id = "group", f"group-{digest}"
    first = metas[0]

    def common(key: str) -> object:
        values = {m[key] for m in metas}
        return values.pop() if len(values) == 1 else None

    backends = {str(m["backend"]) for m in metas}
    meta = {
        "scenario_id": common("scenario_id"),
        "event_id": common("event_id"),
        "event_type": common("event_type"),
        "mix_name": common("mix_name"),
        "q": float(first["q"]) if common("q") is not None else None,
        "backend": backends.pop() if len(backends) == 1 else "mixed",
        "synthetic": any(bool(m["synthetic"]) for m in metas),
    }
    return RunGroup(group_id, kind, tuple(run_ids), data, meta)


def with_provenance(store: RunStore, run_ids: Sequence[str], table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (computed from ``run_ids``) with the provenance columns every exported CSV
    carries: runs, backend, synthetic, data_source (naming a calibrated model's surrogate), its
    provenance code (:data:`spreadlab.glossary.PROVENANCES`) and package version."""
    runs = store.list_runs().set_index("run_id").loc[list(run_ids)]
    backends = set(runs["backend"])
    backend = backends.pop() if len(backends) == 1 else "mixed"
    synthetic = bool(runs["synthetic"].any())
    tables = shared_parameters(runs["parameters"])
    return table.assign(
        runs=";".join(run_ids),
        n_runs=len(run_ids),
        backend=backend,
        synthetic=synthetic,
        data_source=data_source(backend, synthetic, tables),
        provenance=provenance(backend, tables),
        package_version=__version__,
    )


def shared_parameters(parameters: Iterable[str]) -> str:
    """The parameter-table provenance all these runs share, or "" when they differ."""
    found = set(parameters)
    return found.pop() if len(found) == 1 else ""


def stored_decision_log(store: RunStore, ids: Sequence[str]) -> pd.DataFrame:
    """The decision logs of runs (or scenarios) in the columns
    :func:`~spreadlab.analysis.trait_effects.fit_trait_effects`
    reads, for LLM and stochastic runs alike."""
    run_ids = resolve_runs(store, ids)
    return store.con.execute(
        """
        SELECT d.offline, d.m, a.profile, r.event_type, d.post, d.valid
        FROM decisions d
        JOIN agents a ON a.run_id = d.run_id AND a.agent = d.agent
        JOIN runs r ON r.run_id = d.run_id
        WHERE d.run_id IN (SELECT unnest(?::VARCHAR[]))
        ORDER BY d.run_id, d.round, d.agent
        """,
        [run_ids],
    ).df()


def offline_evidence(store: RunStore, group: RunGroup) -> OfflineEvidence | None:
    """What the group's decision logs say about the offline channel; None without decisions."""
    alone, alone_posts, posts, offline, total = store.offline_tally(list(group.run_ids))
    if total == 0:
        return None
    return OfflineEvidence(alone, alone_posts, posts, offline, susceptible_rounds(group.data))


def group_verdict(
    store: RunStore, group: RunGroup, fits: Sequence[FitResult] | None = None
) -> Verdict:
    """One rate or two for the group: decision log first, curves second (spreadlab.verdict)."""
    given = {f.model: f for f in fits or ()}
    return decide(group.data, given, offline_evidence(store, group))


def fit_group(
    group: RunGroup, models: Sequence[str], method: str = "binomial", ci: str = "auto"
) -> list[FitResult]:
    """Fit every model to the group; any failure raises before anything can be saved."""
    if not models:
        raise FitError(f"choose at least one model: {', '.join(MODELS)}")
    return list(fit_models(group.data, list(models), method=method, ci=ci).values())


def save_fits(store: RunStore, fitted: Sequence[tuple[RunGroup, Sequence[FitResult]]]) -> None:
    """Write (or replace) one row per (group, fit), all in one transaction."""
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [_row(group, f, now) for group, fits in fitted for f in fits]
    with store.transaction() as con:
        for row in rows:
            con.execute(
                "DELETE FROM fits WHERE group_id = ? AND model = ? AND method = ?",
                [row["group_id"], row["model"], row["method"]],
            )
        store.insert_arrow("fits", pa.Table.from_pylist(rows))


def _row(group: RunGroup, f: FitResult, now: datetime) -> dict[str, object]:
    params = {
        name: {
            "estimate": value,
            "lo": f.ci[name][0] if name in f.ci else None,
            "hi": f.ci[name][1] if name in f.ci else None,
            "unit": f.units[name],
        }
        for name, value in f.params.items()
    }
    return {
        "group_id": group.group_id,
        "group_kind": group.group_kind,
        "runs": ";".join(group.run_ids),
        "n_runs": f.n_runs,
        **group.meta,
        "n_agents": f.n,
        "mean_degree": f.k,
        "rounds": f.rounds,
        "model": f.model,
        "method": f.method,
        "ci_method": f.ci_method,
        "level": f.level,
        "params": json.dumps(params),
        "loglik": f.loglik,
        "aic": f.aic,
        "bic": f.bic,
        "rmse": f.rmse,
        "n_obs": f.n_obs,
        "converged": f.converged,
        "message": f.message,
        "package_version": __version__,
        "fitted_at": now,
    }


def fit_and_save(
    store: RunStore,
    ids: Sequence[str],
    models: Sequence[str],
    *,
    method: str = "binomial",
    ci: str = "auto",
    each: bool = False,
) -> list[tuple[RunGroup, list[FitResult]]]:
    """Fit the runs as one group of replicates (or ``each`` on its own) and store the fits.

    Everything is fitted before anything is written: one failure leaves the table as it was.
    """
    run_ids = resolve_runs(store, ids)
    groups = [load_group(store, [r]) for r in run_ids] if each else [load_group(store, run_ids)]
    fitted = [(g, fit_group(g, models, method, ci)) for g in groups]
    save_fits(store, fitted)
    return fitted


def summary(group: RunGroup, fits: Sequence[FitResult]) -> str:
    """Plain-text report of one group's fits: parameters with intervals and units, criteria,
    and the one- versus two-rate test where both models were fitted."""
    data = group.data
    lines = [
        f"{group.group_id} ({group.group_kind}, {data.replicates} run(s), N = {data.n}, "
        f"k = {data.k:g}, {data.rounds} rounds, {group.meta['backend']}"
        + (", synthetic)" if group.meta["synthetic"] else ")")
    ]
    for f in fits:
        lines.append(
            f"  {f.model} ({get_model(f.model).title}, {f.method} fit): BIC {f.bic:.1f}, "
            f"AIC {f.aic:.1f}, RMSE {f.rmse:.4f}"
        )
        for name, value in f.params.items():
            interval = f" [{f.ci[name][0]:.4g}, {f.ci[name][1]:.4g}]" if name in f.ci else ""
            lines.append(f"    {name} = {value:.4g}{interval} {f.units[name]}")
        lines.append(f"    intervals: {f.interval_label()}")
        if f.message:
            lines.append(f"    note: {f.message}")
    by_model = {f.model: f for f in fits}
    for one, two in NESTED:
        if one in by_model and two in by_model:
            test = likelihood_ratio_test(by_model[one], by_model[two])
            lines.append(
                f"  {one} vs {two}: LR = {test.statistic:.2f}, {p_text(test.p_value)} "
                f"(chi-bar-squared; naive chi2(1) {p_text(test.p_value_naive)}; alpha = 0 is on "
                "the boundary)"
            )
    return "\n".join(lines)


def load_fits(store: RunStore) -> pd.DataFrame:
    """Every stored fit, one row each, parameters expanded to columns (see :func:`fits_table`)."""
    raw = store.con.execute("SELECT * FROM fits ORDER BY fitted_at, group_id, model").df()
    runs = store.list_runs()
    return fits_table(raw, dict(zip(runs["run_id"], runs["parameters"], strict=True)))


def fits_table(raw: pd.DataFrame, parameters: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Expand the JSON parameter column into ``<p>``, ``<p>_lo``, ``<p>_hi`` for every parameter
    name of every model (empty where a model lacks it) plus a ``units`` column; ``parameters``
    (run id → parameter-table provenance) lets data_source name a calibrated model's surrogate and
    sets the provenance code."""
    parameters = parameters or {}
    columns = [c for c in FIT_COLUMNS if c != "params"]
    wide = []
    for _, row in raw.iterrows():
        params = json.loads(row["params"])
        out = {c: row[c] for c in columns}
        out["model_title"] = get_model(row["model"]).title if row["model"] in MODELS else ""
        for name in PARAM_NAMES:
            entry = params.get(name, {})
            out[name] = entry.get("estimate")
            out[f"{name}_lo"] = entry.get("lo")
            out[f"{name}_hi"] = entry.get("hi")
        out["units"] = "; ".join(f"{n}: {e['unit']}" for n, e in params.items())
        out["interval_method"] = interval_label(row["ci_method"], int(row["n_runs"]), row["level"])
        out["interval_at_bound"] = ";".join(_at_bound(row["model"], params))
        tables = shared_parameters(parameters.get(r, "") for r in str(row["runs"]).split(";"))
        out["data_source"] = data_source(row["backend"], bool(row["synthetic"]), tables)
        out["provenance"] = provenance(row["backend"], tables)
        wide.append(out)
    order = [
        *columns[: columns.index("model") + 1],
        "model_title",
        *columns[columns.index("model") + 1 :],
    ]
    param_cols = [c for n in PARAM_NAMES for c in (n, f"{n}_lo", f"{n}_hi")]
    insert_at = order.index("level") + 1
    order = [
        *order[:insert_at],
        *param_cols,
        "units",
        "interval_method",
        "interval_at_bound",
        *order[insert_at:],
        "data_source",
        "provenance",
    ]
    return pd.DataFrame(wide, columns=order)


def _at_bound(model: str, params: dict[str, dict]) -> list[str]:
    """Parameters whose stored interval reaches the edge of the model's parameter space."""
    if model not in MODELS:
        return []
    out = []
    for p in get_model(model).params:
        entry = params.get(p.name, {})
        lo, hi = entry.get("lo"), entry.get("hi")
        if lo is not None and (lo <= p.lower * (1 + 1e-9) or (hi is not None and hi >= p.upper)):
            out.append(p.name)
    return out


def export_fits_csv(store: RunStore, path: str | Path) -> int:
    """Write every stored fit to ``path`` as CSV; returns the number of rows."""
    table = load_fits(store)
    if table.empty:
        raise StoreError(f"no fits stored in {store.path} yet; run 'spreadlab fit RUN_ID' first")
    path = Path(path)
    try:
        table.to_csv(path, index=False)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc}") from exc
    return len(table)
