"""The verdict and the model comparison in words, as the Fit and Compare pages say them."""

from __future__ import annotations

import pandas as pd

from spreadlab import glossary
from spreadlab.analysis.compare import compare, likelihood_ratio_test
from spreadlab.analysis.fit import FitResult
from spreadlab.analysis.models import get_model
from spreadlab.analysis.verdict import Verdict

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
