"""One sweep cell, computed where a worker runs it: simulate, summarise, hand the result back.

:func:`run_cell` is what a worker process (local pool or Dask) executes. It never touches the
database: it returns a :class:`CellResult` (the summary and, unless summaries only, every run's
network, profiles and decision log), and the one writing process stores it in one transaction.
A cell that raises is returned as failed with its error, so one bad cell does not stop a sweep.
LLM cells run here too, in the writing process, with the sweep's one LLM policy: an error that
stops LLM agents altogether (a spent budget, a refused key) is left to that caller.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spreadlab.analysis.curves import Curves
from spreadlab.analysis.fit import FitResult, fit_each
from spreadlab.analysis.verdict import (
    OfflineEvidence,
    decide,
    evidence_from_rounds,
    susceptible_rounds,
)
from spreadlab.engine.policy import Policy
from spreadlab.engine.simulate import Scenario, simulate
from spreadlab.engine.stochastic import ParameterTable, StochasticPolicy
from spreadlab.errors import FitError
from spreadlab.jobs.sweep_grid import Cell
from spreadlab.lazy import lazy_import
from spreadlab.llm.base import FatalLLMError
from spreadlab.world.records import RunResult

stats = lazy_import("scipy.stats")

REACH_LEVELS = (0.1, 0.5, 0.9)
"""Informed fractions whose first round is recorded per cell (``rounds10``, ...)."""
LEVEL = 0.95


@dataclass(frozen=True)
class CellTask:
    """Everything a worker needs for one cell (picklable; no database handle). ``table`` is
    None for an LLM cell."""

    cell: Cell
    scenario: Scenario
    table: ParameterTable | None
    fits: bool = True
    verdict: bool = True
    keep_runs: bool = True


@dataclass
class CellResult:
    """A cell's summary (None unless done), its error or why it was not run, its runs when
    kept, its cost, and its status: ``done``, ``failed`` or ``not_run`` (an LLM cell the
    sweep's budget did not reach)."""

    cell_id: str
    summary: dict[str, Any] | None
    error: str | None
    seconds: float
    runs: list[RunResult] = field(default_factory=list)
    status: str = "done"


def run_cell(task: CellTask, policy: Policy | None = None) -> CellResult:
    """Simulate every replicate of the cell with ``policy`` (default: the stochastic model with
    the cell's table) and summarise them (see :func:`summarise`). A
    :class:`~spreadlab.llm.base.FatalLLMError` propagates; any other error fails the cell."""
    start = time.perf_counter()
    try:
        runs = simulate(task.scenario, policy or StochasticPolicy(task.table))
        summary = summarise(runs, fits=task.fits, verdict=task.verdict)
    except FatalLLMError:
        raise
    except Exception as exc:  # a failed cell is recorded with its error, not fatal to the sweep
        return CellResult(
            task.cell.cell_id,
            None,
            f"{type(exc).__name__}: {exc}",
            time.perf_counter() - start,
            status="failed",
        )
    kept = runs if task.keep_runs else []
    return CellResult(task.cell.cell_id, summary, None, time.perf_counter() - start, kept)


def counts_of(runs: list[RunResult]) -> np.ndarray:
    """Informed counts (replicates × rounds); a run that stopped early keeps its final count."""
    curves = [run.informed_curve for run in runs]
    width = max(c.size for c in curves)
    return np.vstack([np.pad(c, (0, width - c.size), mode="edge") for c in curves])


def summarise(runs: list[RunResult], *, fits: bool = True, verdict: bool = True) -> dict[str, Any]:
    """Reach, rounds to 10/50/90% informed, SI-1/SI-2 rates with intervals, the verdict, and
    the mean informed-fraction curve with its band (:func:`mean_curve`).

    Means over replicates carry a t interval (``_lo``/``_hi``, 95%); the rates carry the fit's
    own intervals (``ci="auto"``: the calibrated replicate jackknife from 3 replicates on, else
    the profile likelihood). The verdict weighs the runs' decision logs first.
    """
    n = runs[0].network.n
    counts = counts_of(runs)
    out: dict[str, Any] = {"n_runs": len(runs), **mean_curve(counts / n)}
    out.update(_mean_interval("reach", counts[:, -1] / n, upper=1.0))
    for level in REACH_LEVELS:
        reached = counts >= level * n
        rounds = np.where(reached.any(axis=1), reached.argmax(axis=1), -1)
        name = f"rounds{round(level * 100)}"
        out.update(_mean_interval(name, rounds[rounds >= 0].astype(float)))
        out[f"{name}_share"] = float(np.mean(rounds >= 0))
    try:
        data = Curves.from_runs(counts, n, float(np.mean([r.network.mean_degree for r in runs])))
    except FitError as exc:
        out.update(fit_error=str(exc), verdict="no-fit" if verdict else None)
        return out
    fitted = _fits(data, out) if fits else {}
    if verdict:
        out["verdict"] = decide(data, fitted or None, _evidence(runs, data)).code
    return out


def mean_curve(fractions: np.ndarray) -> dict[str, list[float] | None]:
    """Mean informed fraction per round over replicates (rows) and its pointwise 95% t interval
    (``curve_lo``/``curve_hi``, within [0, 1]; None with one replicate): a band for the mean,
    not for single runs."""
    mean = fractions.mean(axis=0)
    out: dict[str, list[float] | None] = {
        "curve_mean": mean.tolist(),
        "curve_lo": None,
        "curve_hi": None,
    }
    r = fractions.shape[0]
    if r >= 2:
        half = stats.t.ppf((1 + LEVEL) / 2, r - 1) * fractions.std(axis=0, ddof=1) / math.sqrt(r)
        out["curve_lo"] = np.clip(mean - half, 0.0, 1.0).tolist()
        out["curve_hi"] = np.clip(mean + half, 0.0, 1.0).tolist()
    return out


def _mean_interval(
    name: str, values: np.ndarray, upper: float = math.inf
) -> dict[str, float | None]:
    """Mean of ``values`` and its t interval, kept within [0, ``upper``] (None where there are
    too few values)."""
    if values.size == 0:
        return {name: None, f"{name}_lo": None, f"{name}_hi": None}
    mean = float(values.mean())
    if values.size < 2:
        return {name: mean, f"{name}_lo": None, f"{name}_hi": None}
    half = float(stats.t.ppf((1 + LEVEL) / 2, values.size - 1)) * values.std(ddof=1)
    half /= math.sqrt(values.size)
    return {name: mean, f"{name}_lo": max(mean - half, 0.0), f"{name}_hi": min(mean + half, upper)}


def _fits(data: Curves, out: dict[str, Any]) -> dict[str, FitResult]:
    """SI-1 and SI-2 fitted by the binomial likelihood; their rates and intervals into ``out``."""
    fitted, failures = fit_each(data, ("si1", "si2"), ci="auto", level=LEVEL)
    for model, result in fitted.items():
        out["ci_method"] = result.ci_method
        for name, value in result.params.items():
            lo, hi = result.ci.get(name, (None, None))
            out.update(
                {f"{model}_{name}": value, f"{model}_{name}_lo": lo, f"{model}_{name}_hi": hi}
            )
    if len(fitted) == 2:
        out["delta_bic"] = fitted["si1"].bic - fitted["si2"].bic
    if failures:
        out["fit_error"] = "; ".join(f"{model}: {reason}" for model, reason in failures.items())
    return fitted


def _evidence(runs: list[RunResult], data: Curves) -> OfflineEvidence:
    """The decision logs' tally of the offline channel (rounds >= 1), all replicates."""
    rounds = [
        (rec.round, rec.offline, rec.m, rec.post, rec.valid) for run in runs for rec in run.records
    ]
    return evidence_from_rounds(rounds, susceptible_rounds(data))
