"""One rate or two? The verdict on a run or a group of replicates, and the evidence behind it.

An offline channel and heterogeneity (agents who differ, unequal degrees) both bend an informed
curve the same way, so the curve's shape alone cannot separate them (docs/models.md,
"Identifiability"). The evidence is therefore weighed in this order:

1. **The decision log**, where it exists. A post in round >= 1 by an agent who was reached
   offline and had no posting neighbour (m = 0) *is* the offline channel: nothing else could
   have made it post. Round 0's seeds are the initial condition, not evidence.
2. **The onset of the curve**. Early on, before heterogeneity has had time to deplete anyone,
   network spread makes new posters in proportion to those already informed (recent and older
   posters weighted apart, which absorbs the first generations' fuller neighbourhoods); an
   offline channel adds a constant inflow. A quasi-binomial test of that constant, with a share
   of early posters it must explain, is the curve's own evidence for an offline channel.
3. **Whole-curve comparison**: SI-1 against SI-2, and against the rivals that mimic a second rate
   without any offline channel (gamma-distributed susceptibility; for a known network, the
   degree-based map). If SI-2's extra curvature is matched by a rival, the honest answer is
   "cannot tell from the curve alone".

Codes: ``offline``, ``network-only``, ``heterogeneous-or-offline`` (cannot tell), ``no-fit``.
The thresholds below were chosen on, and are validated by, ``bench/validity.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from spreadlab.analysis.curves import Curves
from spreadlab.analysis.fit import FitResult, fit_each
from spreadlab.analysis.likelihood import pearson_dispersion
from spreadlab.errors import FitError
from spreadlab.glossary import p_text
from spreadlab.lazy import lazy_import

# scipy takes about a second to import: loaded by the first verdict, not by the home page
optimize = lazy_import("scipy.optimize")
stats = lazy_import("scipy.stats")

CODES = ("offline", "network-only", "heterogeneous-or-offline", "no-fit")
ONSET_P = 1e-3
"""Onset test: largest p-value that counts as curve evidence of an offline channel."""
ONSET_SHARE = 0.1
"""Onset test: smallest share of early new posters the constant inflow must explain."""
ONSET_FRACTION = 0.1
"""The onset is the rounds that start with at most this informed fraction."""
CLEAR_BIC = 10.0
"""A BIC difference counted as clear evidence (Kass & Raftery: "very strong" above 10)."""
MISFIT = 0.05
"""Largest mean misfit (informed fraction) beyond replicate-to-replicate spread that still fits."""
CURVE_MODELS = ("si1", "si2", "si1g", "si2g")
DEGREE_MODELS = ("dbmf", "dbmf2")


@dataclass(frozen=True)
class OfflineEvidence:
    """What the decision logs say about the offline channel (rounds >= 1, valid decisions).

    ``offline_only`` consultations had the report and no posting neighbour; ``offline_only_posts``
    of them posted. ``susceptible_rounds`` sums, over rounds >= 1, the agents still silent at the
    round's start; ``offline_exposures`` counts consultations reached offline.
    """

    offline_only: int
    offline_only_posts: int
    posts: int
    offline_exposures: int
    susceptible_rounds: int

    @property
    def present(self) -> bool:
        return self.offline_only_posts > 0

    def share(self) -> float:
        """Share of the posts after round 0 made on the offline report alone."""
        return self.offline_only_posts / self.posts if self.posts else 0.0

    def rate(self, level: float = 0.95) -> tuple[float, float, float]:
        """q·a, the per-round probability that a silent agent posts on the report alone, with a
        Bonferroni interval (q and a each at (1 + level)/2, exact binomial)."""
        each = (1 + level) / 2
        q = _clopper_pearson(self.offline_exposures, self.susceptible_rounds, each)
        a = _clopper_pearson(self.offline_only_posts, self.offline_only, each)
        return q[0] * a[0], q[1] * a[1], q[2] * a[2]


def _clopper_pearson(x: int, n: int, level: float) -> tuple[float, float, float]:
    if n == 0:
        return 0.0, 0.0, 1.0
    tail = 1 - level
    lo = 0.0 if x == 0 else float(stats.beta.ppf(tail / 2, x, n - x + 1))
    hi = 1.0 if x == n else float(stats.beta.ppf(1 - tail / 2, x + 1, n - x))
    return x / n, lo, hi


def evidence_from_rounds(
    rounds: Sequence[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    susceptible_rounds: int,
) -> OfflineEvidence:
    """Tally (round, offline, m, post, valid) arrays, one tuple per recorded round."""
    tally = np.zeros(4, dtype=np.int64)
    for r, offline, m, post, valid in rounds:
        if r < 1:
            continue
        alone = offline & (m == 0) & valid
        tally += [alone.sum(), (alone & post).sum(), (post & valid).sum(), (offline & valid).sum()]
    alone_count, alone_posts, posts, offline_count = (int(v) for v in tally)
    return OfflineEvidence(
        offline_only=alone_count,
        offline_only_posts=alone_posts,
        posts=posts,
        offline_exposures=offline_count,
        susceptible_rounds=int(susceptible_rounds),
    )


def susceptible_rounds(data: Curves) -> int:
    """Sum over rounds >= 1 of the agents silent at the round's start, all replicates."""
    return int((data.n - data.counts[:, :-1]).sum())


@dataclass(frozen=True)
class OnsetTest:
    """The constant-inflow test on the curve's onset (see the module docstring)."""

    alpha: float
    share: float
    statistic: float
    dispersion: float
    p_value: float
    rounds: int

    @property
    def offline(self) -> bool:
        return self.p_value < ONSET_P and self.share >= ONSET_SHARE


def onset_test(data: Curves) -> OnsetTest | None:
    """Fit the onset's new posters y_t ~ Binomial(S, 1 - exp(-(c + g1·new + g2·older))) with and
    without the constant c; None when the onset has fewer than 4 usable rounds.

    ``new`` is the fraction that posted in the previous round, ``older`` the fraction informed
    before it. The likelihood-ratio statistic is divided by the Pearson dispersion (floored at 1)
    and referred to the 50:50 mixture of chi2(0) and chi2(1), since c = 0 is on the boundary.
    """
    y, s, x = [], [], []
    for row in data.counts:
        for t in range(1, row.size):
            if row[t - 1] > ONSET_FRACTION * data.n or row[t - 1] == data.n:
                break
            older = row[t - 2] if t >= 2 else 0
            y.append(row[t] - row[t - 1])
            s.append(data.n - row[t - 1])
            x.append(((row[t - 1] - older) / data.n, older / data.n))
    if len(y) < 4 or sum(y) == 0:
        return None
    yv, sv, xv = np.array(y, float), np.array(s, float), np.array(x)

    def negll(theta: np.ndarray) -> float:
        hazard = np.maximum(theta[0] + xv @ theta[1:], 1e-300)
        return -float(yv @ np.log(-np.expm1(-hazard)) - (sv - yv) @ hazard)

    g0 = max(yv.sum() / sv.sum() / max(float(xv.sum(axis=1).mean()), 1e-9), 1e-3)
    starts = ([g0, g0], [2 * g0, 0.1 * g0], [g0, 0.0])
    bounds = [(0.0, 1.0), (0.0, 500.0), (0.0, 500.0)]
    full = min(
        (optimize.minimize(negll, [1e-4, *st], bounds=bounds, method="L-BFGS-B") for st in starts),
        key=lambda r: r.fun,
    )
    restricted = min(
        (
            optimize.minimize(
                lambda g: negll(np.array([0.0, *g])), st, bounds=bounds[1:], method="L-BFGS-B"
            )
            for st in starts
        ),
        key=lambda r: r.fun,
    )
    hazard = np.maximum(full.x[0] + xv @ full.x[1:], 1e-300)
    dispersion = pearson_dispersion(yv, sv, -np.expm1(-hazard), 3)
    statistic = max(2 * (restricted.fun - full.fun), 0.0)
    p_value = 0.5 * float(stats.chi2.sf(statistic / dispersion, 1)) if statistic > 1e-9 else 1.0
    share = float(full.x[0] * sv.sum() / yv.sum())
    return OnsetTest(float(full.x[0]), share, statistic, dispersion, p_value, len(yv))


@dataclass(frozen=True)
class Verdict:
    """The answer (``code`` in :data:`CODES`), its words, and the evidence it rests on."""

    code: str
    words: str
    evidence: tuple[str, ...]
    source: str

    def line(self) -> str:
        """``verdict: <code> — <words>``, as printed by ``spreadlab fit``."""
        return f"verdict: {self.code} — {self.words}"


def misfit(result: FitResult) -> float:
    """Mean misfit beyond replicate spread: sqrt(max(RMSE² - spread², 0)), where spread is the
    replicates' RMS deviation from their own mean curve (0 for one run)."""
    res = result.residuals
    spread = float(np.sqrt(np.mean((res - res.mean(axis=0)) ** 2))) if res.shape[0] > 1 else 0.0
    return math.sqrt(max(result.rmse**2 - spread**2, 0.0))


def curve_fits(
    data: Curves,
    fits: Mapping[str, FitResult] | None = None,
    names: Sequence[str] | None = None,
) -> tuple[dict[str, FitResult], dict[str, str]]:
    """The fits the verdict compares (reusing ``fits`` of the same data where given): ``names``,
    by default every curve model and, for a known network with unequal degrees, the degree-based
    ones. Models that cannot be fitted come back as reasons."""
    if names is None:
        names = list(CURVE_MODELS)
        if data.degrees is not None and np.count_nonzero(data.degrees) > 1:
            names += DEGREE_MODELS
    return fit_each(data, names, given=fits, ci="none")


def decide_counts(
    curves: np.ndarray | Sequence[Sequence[float]],
    n: int,
    k: float,
    decisions: OfflineEvidence | None = None,
) -> Verdict:
    """:func:`decide` on raw informed counts: data that cannot be fitted at all (flat, falling,
    too short) get ``no-fit`` with the reason instead of an error.

    Parameters
    ----------
    curves : array_like
        Informed counts after rounds 0..T, one row per replicate.
    n, k : int and float
        Agents and (mean) degree of the network.
    decisions : OfflineEvidence, optional
        The decision log's tally (:func:`evidence_from_rounds`); without it the curves decide.

    Returns
    -------
    Verdict
        ``code`` (one of :data:`CODES`), its words and the evidence.

    Examples
    --------
    >>> import numpy as np
    >>> from spreadlab.analysis.synthetic import simulate_counts
    >>> def curves(model, params):
    ...     rng = np.random.default_rng(1)
    ...     return simulate_counts(model, params, rounds=30, n=1000, k=8, n0=10, rng=rng,
    ...                            replicates=3)
    >>> decide_counts(curves("si1", {"beta": 0.05}), n=1000, k=8).code
    'network-only'
    >>> verdict = decide_counts(curves("si2", {"alpha": 0.02, "beta": 0.05}), n=1000, k=8)
    >>> verdict.code, verdict.source
    ('offline', 'curves')
    >>> decide_counts([[0, 0, 0]], n=1000, k=8).code
    'no-fit'
    """
    try:
        data = Curves.from_runs(curves, n, k)
    except FitError as exc:
        return Verdict("no-fit", f"no model can be fitted: {exc}", (str(exc),), "curves")
    return decide(data, decisions=decisions)


def decide(
    data: Curves,
    fits: Mapping[str, FitResult] | None = None,
    decisions: OfflineEvidence | None = None,
) -> Verdict:
    """The verdict: from the decision log where it has rounds >= 1, else from the curves.

    Replicates in which nobody ever posted carry no information about rates and are left out of
    the curve fits; one that starts from nobody informed and then spreads can only have been
    reached from outside the network. Examples: :func:`decide_counts`.

    Parameters
    ----------
    data : Curves
        Informed counts with N and k.
    fits : mapping of str to FitResult, optional
        Fits of these data already made (reused instead of refitted).
    decisions : OfflineEvidence, optional
        The decision log's tally; without it the curves decide.

    Returns
    -------
    Verdict
    """
    dead = np.all(data.counts == 0, axis=1)
    from_nothing = np.flatnonzero((data.counts[:, 0] == 0) & ~dead)
    dropped = f"{int(dead.sum())} run(s) in which nobody posted left out" if dead.any() else ""
    if dead.all():
        return Verdict("no-fit", "no model can be fitted: nobody posted in any run", (), "curves")
    if dead.any():
        data = Curves(data.counts[~dead], data.n, data.k, data.degrees)
        fits = None
    if from_nothing.size and (decisions is None or decisions.posts + decisions.offline_only == 0):
        words = (
            f"offline channel: in run {int(from_nothing[0])} nobody was informed after round 0, "
            "yet the news spread; with nobody to pass it on, it can only have come from outside "
            "the network."
        )
        return Verdict("offline", words, (words, dropped) if dropped else (words,), "curves")
    settled = decisions is not None and decisions.posts + decisions.offline_only > 0
    try:
        # where the decision log settles it, the curve only adds the SI-1 vs SI-2 comparison
        compared, failures = curve_fits(data, fits, ("si1", "si2") if settled else None)
    except FitError as exc:
        return Verdict("no-fit", f"no model can be fitted: {exc}", (str(exc),), "curves")
    curve_note = "; ".join(x for x in (_curve_summary(compared), dropped) if x)
    if settled and decisions is not None:
        return _from_decisions(decisions, compared, curve_note)
    if "si1" not in compared or "si2" not in compared:
        reasons = "; ".join(failures.values()) or "the one- and two-rate models could not be fitted"
        return Verdict("no-fit", f"no model can be fitted: {reasons}", (reasons,), "curves")
    return _from_curves(data, compared, curve_note)


def _curve_summary(compared: Mapping[str, FitResult]) -> str:
    if "si1" not in compared or "si2" not in compared:
        return ""
    gap = compared["si1"].bic - compared["si2"].bic
    return (
        f"curve: SI-2 (offline + online) vs SI-1 (online only) ΔBIC = {gap:.1f}, "
        f"SI-2's α = {compared['si2'].params['alpha']:.3g} per round"
    )


def _from_decisions(
    ev: OfflineEvidence, compared: Mapping[str, FitResult], curve_note: str
) -> Verdict:
    qa, lo, hi = ev.rate()
    lines = [
        f"decision log: {ev.offline_only_posts:,} of {ev.offline_only:,} consultations after "
        f"round 0 with the offline report and no posting neighbour ended in a post",
        f"offline posting probability q·a = {qa:.3g} per round (≥95% interval {lo:.3g} to "
        f"{hi:.3g})",
    ]
    if curve_note:
        lines.append(curve_note)
    if ev.present:
        words = (
            f"offline channel: {ev.offline_only_posts:,} agents posted on the offline report "
            f"alone, with no posting neighbour ({ev.share():.0%} of the posts after round 0); "
            "news reached agents from outside the network as well as through it"
            + (
                ", though neighbours carried almost all of the spread."
                if ev.share() < 0.05
                else "."
            )
        )
        return Verdict("offline", words, tuple(lines), "decisions")
    reach = (
        "nobody was reached offline after round 0"
        if ev.offline_only == 0
        else f"none of the {ev.offline_only:,} agents reached offline with no posting "
        "neighbour posted"
    )
    words = f"network spread only: {reach}, so every post after round 0 came through neighbours."
    si2 = compared.get("si2")
    if si2 is not None and "si1" in compared and compared["si1"].bic - si2.bic >= CLEAR_BIC:
        words += (
            f" SI-2 still fits the curve better (its α = {si2.params['alpha']:.3g} per round): "
            "that α stands for agents who differ or unequal degrees, not an offline channel."
        )
    return Verdict("network-only", words, tuple(lines), "decisions")


def _from_curves(data: Curves, compared: Mapping[str, FitResult], curve_note: str) -> Verdict:
    best = min(compared.values(), key=lambda f: f.bic)
    lines = [curve_note]
    gap_bad = misfit(best)
    lines.append(f"best curve model {best.model}: misfit beyond replicate spread {gap_bad:.3f}")
    if gap_bad > MISFIT:
        return Verdict(
            "no-fit",
            f"no model fits: even the best one ({best.model}) misses the curve by "
            f"{gap_bad:.2f} in informed fraction on average, more than replicates differ; the "
            "spread follows rules none of these models has (it may stall, or come in bursts).",
            tuple(lines),
            "curves",
        )
    onset = onset_test(data)
    if onset is not None:
        lines.append(
            f"onset ({onset.rounds} early rounds): constant inflow {onset.alpha:.3g} per round "
            f"explains {onset.share:.0%} of early posters, {p_text(onset.p_value)}"
        )
    if onset is not None and onset.offline:
        words = (
            "offline channel: from the first rounds, agents posted faster than those already "
            f"informed could explain (a constant inflow makes {onset.share:.0%} of the early "
            "posters); heterogeneity cannot do that before anyone has been depleted."
        )
        return Verdict("offline", words, tuple(lines), "curves")
    gap = compared["si1"].bic - compared["si2"].bic
    if gap < CLEAR_BIC:
        words = (
            "network spread only: one online rate (SI-1) explains the curve; an offline rate "
            "does not improve it clearly."
        )
        return Verdict("network-only", words, tuple(lines), "curves")
    rival = _rival_without_offline(compared)
    if rival is not None:
        words = (
            f"network spread among agents who differ or unequal degrees: {rival.model} "
            f"({'agents differ in susceptibility' if rival.model == 'si1g' else 'degree-based'}) "
            "fits at least as well as SI-2 with no offline term, and adding one does not help."
        )
        return Verdict("network-only", words, tuple(lines), "curves")
    words = (
        f"cannot tell from the curve alone: SI-2 beats SI-1 (ΔBIC {gap:.0f}), but the same "
        "bend comes from agents who differ or from unequal degrees as from an offline channel, "
        "and the onset shows no clear outside inflow. Decisions (who posted with no posting "
        "neighbour) would settle it."
    )
    return Verdict("heterogeneous-or-offline", words, tuple(lines), "curves")


def _rival_without_offline(compared: Mapping[str, FitResult]) -> FitResult | None:
    """A no-offline rival that fits as well as SI-2 and gains nothing clear from an offline term."""
    for one, two in (("si1g", "si2g"), ("dbmf", "dbmf2")):
        if one in compared and two in compared:
            rival, extended = compared[one], compared[two]
            if rival.bic <= compared["si2"].bic and rival.bic - extended.bic < CLEAR_BIC:
                return rival
    return None
