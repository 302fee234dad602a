"""Which simulated scenario comes closest to an observed series, and by how much.

Each candidate is a stored scenario's mean informed fraction per round. Its time is mapped onto
the observed intervals in one of two ways (:data:`MAPPINGS`):

* ``rounds``: one simulated round is one observed interval;
* ``rate``: time rescaled by the fitted rates, so that both curves grow at the same speed: SI-1
  (one rate) is fitted to the observed series (β per interval) and to the scenario's mean curve
  (β per round), and one interval is β_observed / β_scenario simulated rounds.

The distance is the root-mean-square difference in informed fraction over the intervals where
both curves exist: past a scenario's last round only if its runs settled there (everybody
informed, or nothing could change any more), never past a round limit or a stop fraction; a
scenario spanning under half the series ranks after those that span more. The
closest candidate is reported with its margin over the runner-up. A close curve is not evidence
of the same mechanism: very different processes draw the same curve (:data:`CAVEAT`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spreadlab.analysis.curves import Curves
from spreadlab.analysis.fit import fit
from spreadlab.analysis.observed import OBSERVED_K, ObservedSeries
from spreadlab.errors import ConfigError, SpreadLabError

MAPPINGS = {
    "rate": "time rescaled by the fitted SI-1 rates (simulated rounds per interval = "
    "observed β per interval / scenario β per round)",
    "rounds": "one simulated round = one observed interval",
}
"""The time mappings and what each means."""
CAVEAT = (
    "Closeness of curves is not evidence of mechanism: very different processes (an offline "
    "channel, heterogeneous agents, another network) can draw the same curve."
)
MIN_OVERLAP = 3
"""Fewest observed intervals a scenario must span to be compared."""
MIN_SHARE = 0.5
"""Scenarios spanning less than this share of the observed intervals rank after those that span
more: a distance over a short early stretch is not on a par with one over the whole curve."""
KINDS = {
    "illustrative": "simulated, illustrative table",
    "surrogate": "simulated, calibrated table",
    "user table": "simulated, user table",
    "llm": "simulated, LLM agents",
}
"""How a candidate's provenance code is named beside it."""


@dataclass(frozen=True)
class Candidate:
    """A stored scenario's mean informed fraction per round, with where its numbers come from."""

    label: str
    scenario_id: str
    fraction: np.ndarray
    n: int
    provenance: str
    """A :data:`spreadlab.glossary.PROVENANCES` code: ``surrogate`` is a calibrated table."""
    settled: bool = False
    """Its runs ended where nothing could change any more (or everybody was informed), so the
    curve stays at its final level after its last round; otherwise it is compared only where it
    exists."""

    @property
    def kind(self) -> str:
        """``simulated, calibrated table`` and the like: never unlabelled."""
        return KINDS.get(self.provenance, f"simulated, {self.provenance}")


@dataclass(frozen=True)
class Closeness:
    """How near one candidate comes: RMSE in informed fraction over ``overlap`` intervals, its
    time mapped at ``rounds_per_interval`` (NaN with ``note`` when it cannot be compared)."""

    candidate: Candidate
    rounds_per_interval: float
    rmse: float
    overlap: int
    note: str = ""


@dataclass(frozen=True)
class Comparison:
    """Every candidate, closest first (the incomparable last), under one time mapping."""

    mapping: str
    ranked: tuple[Closeness, ...]
    intervals: int
    """The observed series' length."""

    @property
    def compared(self) -> tuple[Closeness, ...]:
        """The candidates that could be compared."""
        return tuple(c for c in self.ranked if math.isfinite(c.rmse))

    @property
    def margin(self) -> float:
        """The runner-up's RMSE minus the closest one's (NaN with fewer than two compared;
        negative when the runner-up spans too little of the series to rank first)."""
        done = self.compared
        return done[1].rmse - done[0].rmse if len(done) > 1 else math.nan

    def summary(self, interval: str) -> str:
        """The answer in one sentence, with the caveat."""
        done = self.compared
        if not done:
            return f"No stored scenario could be compared. {CAVEAT}"
        best = done[0]
        text = (
            f"Closest: {best.candidate.label} ({best.candidate.kind}), RMSE {best.rmse:.3f} in "
            f"informed fraction over {best.overlap} of {self.intervals} intervals, "
            f"{best.rounds_per_interval:.3g} simulated rounds per {interval} ({self.mapping} "
            "mapping)"
        )
        if len(done) > 1:
            second = done[1]
            text += (
                f"; the runner-up, {second.candidate.label}, is {self.margin:.3f} further"
                if self.margin >= 0
                else f"; the runner-up, {second.candidate.label}, spans only {second.overlap} "
                f"intervals (RMSE {second.rmse:.3f} there)"
            )
        return f"{text}. {CAVEAT}"


def compare_scenarios(
    series: ObservedSeries, candidates: list[Candidate], mapping: str = "rate"
) -> Comparison:
    """Rank ``candidates`` by their distance to ``series`` under ``mapping`` (module docstring).

    Examples
    --------
    >>> rounds = np.arange(40)
    >>> logistic = 1 / (1 + 999 * np.exp(-0.5 * rounds))
    >>> series = ObservedSeries(np.rint(logistic * 10_000).astype(int), 10_000, "1h",
    ...                         "2026-05-01T00:00:00Z", "x.csv", 40, "counts", 0)
    >>> slow = Candidate("slow", "s1", 1 / (1 + 999 * np.exp(-0.25 * rounds)), 10_000,
    ...                  "illustrative")
    >>> same = Candidate("same", "s2", logistic, 10_000, "surrogate")
    >>> found = compare_scenarios(series, [slow, same], "rounds")
    >>> [c.candidate.label for c in found.ranked], round(found.margin, 2)
    (['same', 'slow'], 0.45)
    >>> round(compare_scenarios(series, [slow], "rate").ranked[0].rounds_per_interval, 1)
    2.0
    """
    if mapping not in MAPPINGS:
        raise ConfigError(f"time mapping {mapping!r}: use one of {', '.join(MAPPINGS)}")
    observed = series.counts / series.n
    rate = _observed_rate(series) if mapping == "rate" else (1.0, "")
    found = [_closeness(observed, c, rate, mapping) for c in candidates]
    short = MIN_SHARE * observed.size
    ranked = sorted(found, key=lambda c: (not math.isfinite(c.rmse), c.overlap < short, c.rmse))
    return Comparison(mapping, tuple(ranked), int(observed.size))


def _closeness(
    observed: np.ndarray, candidate: Candidate, rate: tuple[float, str], mapping: str
) -> Closeness:
    """One candidate's distance to the observed fraction."""
    scale, note = rate
    if mapping == "rate" and not note:
        beta, note = _si1_rate(Curves.from_runs(_counts(candidate), candidate.n, OBSERVED_K))
        scale = rate[0] / beta if not note else math.nan
    if note:
        return Closeness(candidate, math.nan, math.nan, 0, note)
    t = np.arange(observed.size, dtype=float) * scale
    span = _span(t, candidate)
    if span.sum() < MIN_OVERLAP:
        return Closeness(
            candidate, scale, math.nan, int(span.sum()), f"spans under {MIN_OVERLAP} intervals"
        )
    simulated = np.interp(t[span], np.arange(candidate.fraction.size), candidate.fraction)
    rmse = float(np.sqrt(np.mean((simulated - observed[span]) ** 2)))
    return Closeness(candidate, scale, rmse, int(span.sum()))


def _span(rounds: np.ndarray, candidate: Candidate) -> np.ndarray:
    """Which simulated times the candidate's curve covers: all of them once it has settled (it
    stays at its final level), else those up to its last round."""
    return (rounds >= 0) if candidate.settled else (rounds <= candidate.fraction.size - 1)


def _counts(candidate: Candidate) -> np.ndarray:
    """The mean curve as counts of its scenario's N, never decreasing (for fitting)."""
    return np.maximum.accumulate(np.rint(candidate.fraction * candidate.n).astype(np.int64))


def _observed_rate(series: ObservedSeries) -> tuple[float, str]:
    """SI-1's β per interval, or NaN and why it cannot be fitted."""
    beta, note = _si1_rate(series.curves())
    return beta, f"observed series: {note}" if note else ""


def _si1_rate(data: Curves) -> tuple[float, str]:
    """SI-1's β (one interval or round ahead, k = 1), or NaN and why it cannot be fitted."""
    try:
        beta = fit(data, "si1", method="conditional", ci="none").params["beta"]
    except SpreadLabError as exc:
        return math.nan, f"SI-1 not fitted, so no rate to rescale by: {exc}"
    if not beta > 0:
        return math.nan, "SI-1 rate is zero, so no rate to rescale by"
    return beta, ""


def comparison_frame(series: ObservedSeries, comparison: Comparison) -> pd.DataFrame:
    """One row per candidate, closest first, for the CSV: distance, time mapping, each side's
    provenance and the caveat."""
    best = comparison.compared[0].rmse if comparison.compared else math.nan
    return pd.DataFrame(
        [
            {
                "dataset": series.source,
                "rank": i + 1 if math.isfinite(c.rmse) else None,
                "scenario": c.candidate.label,
                "scenario_id": c.candidate.scenario_id,
                "scenario_kind": c.candidate.kind,
                "scenario_provenance": c.candidate.provenance,
                "calibrated_table": c.candidate.provenance == "surrogate",
                "time_mapping": comparison.mapping,
                "time_mapping_meaning": MAPPINGS[comparison.mapping],
                f"simulated_rounds_per_{series.interval}": c.rounds_per_interval,
                "rmse_informed_fraction": c.rmse,
                "rmse_above_closest": c.rmse - best,
                "intervals_compared": c.overlap,
                "scenario_settled": c.candidate.settled,
                "note": c.note,
                "caveat": CAVEAT,
                "data_source": series.provenance,
                "provenance": "observed",
            }
            for i, c in enumerate(comparison.ranked)
        ]
    )


def overlay_frame(series: ObservedSeries, match: Closeness) -> pd.DataFrame:
    """The observed fraction and one candidate's mean curve on the observed intervals (columns
    label, round, fraction), the candidate's time mapped and drawn only where it exists."""
    t = np.arange(series.counts.size, dtype=float)
    mean = match.candidate.fraction
    span = _span(t * match.rounds_per_interval, match.candidate)
    simulated = np.interp(t[span] * match.rounds_per_interval, np.arange(mean.size), mean)
    return pd.concat(
        [
            pd.DataFrame({"label": "observed", "round": t, "fraction": series.counts / series.n}),
            pd.DataFrame({"label": match.candidate.label, "round": t[span], "fraction": simulated}),
        ],
        ignore_index=True,
    )
