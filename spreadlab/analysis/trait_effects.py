"""Learning the agent model from a decision log: which traits make an agent share.

Every consultation is a Bernoulli trial with known offline exposure ``o`` (0/1), number of posting
neighbours ``m``, profile and event type. As in the stochastic policy,

    P(post) = 1 - (1 - a·o)(1 - b)^m,

with ``a`` (per-round probability of posting on the offline report) and ``b`` (per-round
probability per posting neighbour) logistic in the five traits and the event type:

    logit a = a0 + sum_t alpha_t·[trait t high] + alpha_e·[event type e]
    logit b = b0 + sum_t beta_t·[trait t high] + beta_e·[event type e]

so a trait's coefficient is the log-odds ratio high versus low, the intercept is the all-low
profile on the baseline event type (the first type present in the log, in ACLED order). We fit by
maximum likelihood (exact Newton-type steps with the analytic Hessian) on the log aggregated to
one binomial cell per (o, m, profile, event type), so a million decisions fit in well under a
second, and report standard errors from the observed information.

``post`` may also be a probability of posting in [0, 1] per consultation (e.g. read from an LLM's
token log-probabilities). The same likelihood is then a quasi-likelihood: its estimates are
consistent, and the standard errors are scaled by the Pearson dispersion of the consultations
around the fit (``dispersion``; 1 for 0/1 answers), since probabilities vary far less than the
answers sampled from them.

``a`` is only identified by consultations reached offline and ``b`` by those with m >= 1; terms
that do not vary within those consultations are reported as not estimable instead of fitted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from spreadlab.analysis.optimise import newton
from spreadlab.errors import DataFormatError
from spreadlab.lazy import lazy_import
from spreadlab.world.events import EVENT_TYPES
from spreadlab.world.personas import N_PROFILES, TRAITS, trait_matrix
from spreadlab.world.records import RunResult

# scipy takes about a second to import: loaded by the first fit, not by every command
special = lazy_import("scipy.special")
stats = lazy_import("scipy.stats")

COLUMNS = ("offline", "m", "profile", "event_type", "post", "valid")


@dataclass(frozen=True)
class TraitEffects:
    """Fitted log-odds effects on a (offline) and b (per posting neighbour).

    ``table`` has one row per term and channel: ``channel`` (a or b), ``term`` (``intercept``, a
    trait letter O/C/E/A/N, or ``event:<type>``), ``estimate`` (log-odds; for traits and events the
    log-odds ratio against low / the baseline event), ``se``, ``z``, ``p_value``, ``ci_lo``,
    ``ci_hi`` (Wald, at ``level``), ``odds_ratio`` and ``estimable``. ``covariance`` is the
    estimates' covariance (inverse observed information, times ``dispersion``), labelled
    ``<channel>:<term>``. ``dispersion`` is the Pearson dispersion the standard errors were scaled
    by when the log held probabilities of posting (1 for 0/1 answers).
    """

    table: pd.DataFrame
    loglik: float
    n_decisions: int
    n_excluded: int
    baseline_event: str
    converged: bool
    message: str
    level: float = 0.95
    covariance: pd.DataFrame | None = None
    dispersion: float = 1.0

    def effect(self, channel: str, term: str) -> tuple[float, float]:
        """(estimate, standard error) of one term."""
        row = self.table[(self.table["channel"] == channel) & (self.table["term"] == term)]
        if row.empty or not bool(row["estimable"].iloc[0]):
            raise KeyError(f"no estimable term {term!r} for channel {channel!r}")
        return float(row["estimate"].iloc[0]), float(row["se"].iloc[0])

    def records(self) -> list[dict[str, object]]:
        """The estimates as plain rows (channel, term, estimate, se, ci_lo, ci_hi, estimable;
        None for a number not estimated), ready for JSON: kept with a stored calibration."""
        numbers = ("estimate", "se", "ci_lo", "ci_hi")
        return [
            {
                "channel": str(row["channel"]),
                "term": str(row["term"]),
                **{k: None if pd.isna(row[k]) else float(row[k]) for k in numbers},
                "estimable": bool(row["estimable"]),
            }
            for row in self.table.to_dict("records")
        ]


def decision_log(result: RunResult, event_type: str) -> pd.DataFrame:
    """The decision log of an in-memory run, in the columns :func:`fit_trait_effects` reads."""
    records = result.records
    agents = np.concatenate([r.agents for r in records]).astype(np.int64)
    return pd.DataFrame(
        {
            "offline": np.concatenate([r.offline for r in records]).astype(bool),
            "m": np.concatenate([r.m for r in records]).astype(np.int64),
            "profile": result.profiles[agents].astype(np.int64),
            "event_type": event_type,
            "post": np.concatenate([r.post for r in records]).astype(bool),
            "valid": np.concatenate([r.valid for r in records]).astype(bool),
        }
    )


def fit_trait_effects(
    log: pd.DataFrame | Mapping[str, Sequence | np.ndarray], level: float = 0.95
) -> TraitEffects:
    """Maximum-likelihood trait and event-type effects on a and b, with standard errors.

    Parameters
    ----------
    log : DataFrame or mapping of column name to sequence
        One row per consultation with columns offline (0/1), m (posting neighbours), profile
        (0-31), event_type (name or index into EVENT_TYPES), post (0/1, or a probability of
        posting) and optionally valid (rows with valid false, e.g. unparseable LLM replies, are
        excluded).
    level : float
        Level of the Wald intervals.

    Returns
    -------
    TraitEffects

    Examples
    --------
    A log in which extraverts are e times as likely to post on the offline report (a log-odds
    ratio of 1), whatever their neighbours do:

    >>> import numpy as np
    >>> from spreadlab.world.personas import trait_matrix
    >>> rng = np.random.default_rng(0)
    >>> n = 5_000
    >>> profile = rng.integers(0, 32, n)
    >>> extravert = trait_matrix()[profile, 2]
    >>> offline, m = rng.integers(0, 2, n), rng.integers(0, 4, n)
    >>> a = 1 / (1 + np.exp(2.0 - 1.0 * extravert))
    >>> post = rng.random(n) < 1 - (1 - a * offline) * (1 - 0.1) ** m
    >>> effects = fit_trait_effects(
    ...     {"offline": offline, "m": m, "profile": profile, "event_type": ["battles"] * n,
    ...      "post": post})
    >>> estimate, se = effects.effect("a", "E")
    >>> f"{estimate:.1f} ± {se:.1f}"
    '1.0 ± 0.2'
    """
    if not 0 < level < 1:
        raise DataFormatError(f"level = {level}: give a value strictly between 0 and 1")
    with threadpool_limits(limits=1, user_api="blas"):
        cells, n_total, n_excluded = _aggregate(log)
        return _fit(cells, n_total, n_excluded, level)


@dataclass(frozen=True)
class _Cells:
    offline: np.ndarray
    m: np.ndarray
    profile: np.ndarray
    event: np.ndarray
    trials: np.ndarray
    posts: np.ndarray
    squares: np.ndarray  # sums of post² (differs from posts only for probabilities of posting)
    fractional: bool


def _column(log: pd.DataFrame | Mapping, name: str, n: int | None) -> np.ndarray:
    if name not in log:
        if name == "valid":
            return np.ones(n or 0, dtype=bool)
        raise DataFormatError(f"decision log: missing column {name!r}; need {', '.join(COLUMNS)}")
    return np.asarray(log[name])


def _aggregate(log: pd.DataFrame | Mapping) -> tuple[_Cells, int, int]:
    """Validate the log and count trials and posts per (offline, m, profile, event) cell."""
    offline = _column(log, "offline", None)
    n = offline.size
    cols = {c: _column(log, c, n) for c in COLUMNS}
    if any(v.shape != (n,) for v in cols.values()):
        raise DataFormatError("decision log: all columns must be one-dimensional and equally long")
    if n == 0:
        raise DataFormatError("decision log is empty: there are no consultations to learn from")
    numeric = {}
    for c in ("offline", "m", "profile", "post", "valid"):
        try:
            values = np.asarray(cols[c], dtype=float)
        except (TypeError, ValueError):
            raise DataFormatError(
                f"decision log: column {c!r} must be numeric or boolean"
            ) from None
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise DataFormatError(f"decision log: column {c!r} is missing at row {bad[0]}")
        numeric[c] = values
    _check_values(numeric)
    m, profile = numeric["m"], numeric["profile"]
    event = _event_codes(cols["event_type"])
    valid = numeric["valid"] == 1
    o, post = numeric["offline"] == 1, numeric["post"]
    unexposed = valid & ~o & (m == 0)
    if np.any(unexposed & (post > 0)):
        row = int(np.flatnonzero(unexposed & (post > 0))[0])
        raise DataFormatError(
            f"decision log row {row}: an agent neither reached offline nor shown a post (m = 0) "
            "posted, which the model P = 1 - (1 - a·o)(1 - b)^m cannot explain"
        )
    keep = valid & ~unexposed
    if not np.any(keep):
        raise DataFormatError("decision log: no valid consultation with offline or m >= 1")
    m_int = m[keep].astype(np.int64)
    key = ((m_int * 2 + o[keep]) * N_PROFILES + profile[keep].astype(np.int64)) * 8 + event[keep]
    unique, inverse = np.unique(key, return_inverse=True)
    trials = np.bincount(inverse).astype(float)
    posts = np.bincount(inverse, weights=post[keep])
    cells = _Cells(
        offline=((unique // (8 * N_PROFILES)) % 2).astype(float),
        m=(unique // (16 * N_PROFILES)).astype(float),
        profile=(unique // 8) % N_PROFILES,
        event=unique % 8,
        trials=trials,
        posts=posts,
        squares=np.bincount(inverse, weights=post[keep] ** 2),
        fractional=bool(np.any((post[keep] > 0) & (post[keep] < 1))),
    )
    return cells, n, int((~valid).sum())


def _check_values(numeric: dict[str, np.ndarray]) -> None:
    """Codes 0/1, post 0/1 or a probability, m a whole number >= 0, profile a code 0-31."""
    for c in ("offline", "valid"):
        if not np.all(np.isin(numeric[c], (0, 1))):
            raise DataFormatError(f"decision log: column {c!r} must be 0/1 or true/false")
    if np.any((numeric["post"] < 0) | (numeric["post"] > 1)):
        raise DataFormatError(
            "decision log: column 'post' must be 0/1, true/false or a probability in [0, 1]"
        )
    m, profile = numeric["m"], numeric["profile"]
    if np.any(m < 0) or np.any(m != np.round(m)):
        raise DataFormatError("decision log: m (posting neighbours) must be a whole number >= 0")
    if np.any((profile < 0) | (profile >= N_PROFILES) | (profile != np.round(profile))):
        raise DataFormatError("decision log: profile must be a code 0-31")


def _event_codes(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "iu":
        codes = values.astype(np.int64)
    else:
        labels, uniques = pd.factorize(values)  # a handful of distinct names: map those only
        names = [str(u).strip() for u in uniques]
        unknown = sorted(set(names) - set(EVENT_TYPES))
        if unknown or np.any(labels < 0):
            raise DataFormatError(
                f"decision log: unknown or missing event type(s) {unknown}; use "
                f"{', '.join(EVENT_TYPES)}"
            )
        codes = np.array([EVENT_TYPES.index(x) for x in names], dtype=np.int64)[labels]
    if np.any((codes < 0) | (codes >= len(EVENT_TYPES))):
        raise DataFormatError(f"decision log: event type index outside 0..{len(EVENT_TYPES) - 1}")
    return codes


def _design(cells: _Cells, events: list[int]) -> tuple[np.ndarray, list[str]]:
    """Design matrix (intercept, 5 traits high/low, event dummies) and its column names."""
    traits = trait_matrix()[cells.profile].astype(float)
    dummies = [(cells.event == e).astype(float) for e in events[1:]]
    x = np.column_stack([np.ones(cells.profile.size), traits, *dummies])
    return x, ["intercept", *TRAITS, *(f"event:{EVENT_TYPES[e]}" for e in events[1:])]


def _varying(x: np.ndarray, rows: np.ndarray, names: list[str]) -> list[int]:
    """Columns estimable from ``rows``: the intercept and every column that varies there."""
    if not np.any(rows):
        return []
    return [j for j in range(len(names)) if j == 0 or np.ptp(x[rows, j]) > 0]


class _Likelihood:
    """The binomial log-likelihood of the cells with logit a = xa·theta_a, logit b = xb·theta_b,
    and its exact gradient and Hessian (of the negative log-likelihood)."""

    def __init__(self, cells: _Cells, xa: np.ndarray, xb: np.ndarray) -> None:
        self.xa, self.xb, self.pa = xa, xb, xa.shape[1]
        self.o, self.m, self.n, self.y = cells.offline, cells.m, cells.trials, cells.posts

    def _parts(self, theta: np.ndarray) -> tuple[np.ndarray, ...]:
        eta_a, eta_b = self.xa @ theta[: self.pa], self.xb @ theta[self.pa :]
        log_q = -self.o * np.logaddexp(0, eta_a) - self.m * np.logaddexp(0, eta_b)  # log(1 - P)
        return eta_a, eta_b, log_q

    def negll(self, theta: np.ndarray) -> float:
        _, _, log_q = self._parts(theta)
        y, n = self.y, self.n
        return -float(np.sum(y * np.log(-np.expm1(np.minimum(log_q, -1e-300))) + (n - y) * log_q))

    def grad_hess(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        eta_a, eta_b, log_q = self._parts(theta)
        xa, xb, o, m, n, y = self.xa, self.xb, self.o, self.m, self.n, self.y
        a, b = special.expit(eta_a), special.expit(eta_b)
        q = np.exp(log_q)
        one_m_q = np.maximum(-np.expm1(log_q), 1e-300)
        g = n - y / one_m_q  # dll/dlogQ
        dg = -y * q / one_m_q**2  # d²ll/dlogQ²
        da, db = -o * a, -m * b  # dlogQ/deta
        grad = np.concatenate([xa.T @ (g * da), xb.T @ (g * db)])
        w_aa = dg * da**2 + g * (-o * a * (1 - a))
        w_bb = dg * db**2 + g * (-m * b * (1 - b))
        w_ab = dg * da * db
        hess = np.block(
            [
                [xa.T @ (w_aa[:, None] * xa), xa.T @ (w_ab[:, None] * xb)],
                [xb.T @ (w_ab[:, None] * xa), xb.T @ (w_bb[:, None] * xb)],
            ]
        )
        return -grad, -hess  # of the negative log-likelihood


def _start(cells: _Cells, pa: int, pb: int) -> np.ndarray:
    """Intercepts matching the offline-only and network-only posting rates; effects at 0."""
    o, m, n, y = cells.offline, cells.m, cells.trials, cells.posts
    start = np.zeros(pa + pb)
    if pa:
        sel = (o > 0) & (m == 0)
        rate = (y[sel].sum() + 0.5) / (n[sel].sum() + 1)
        start[0] = special.logit(min(max(rate, 1e-4), 1 - 1e-4))
    if pb:
        sel = (m > 0) & (o == 0)
        rate = (y[sel].sum() + 0.5) / (n[sel].sum() + 1)
        mean_m = max(float((m[sel] * n[sel]).sum() / max(n[sel].sum(), 1)), 1.0)
        start[pa] = special.logit(min(max(1 - (1 - rate) ** (1 / mean_m), 1e-5), 0.5))
    return start


def _fit(cells: _Cells, n_total: int, n_excluded: int, level: float) -> TraitEffects:
    events = sorted(set(cells.event.tolist()))
    x, names = _design(cells, events)
    a_cols, b_cols = _varying(x, cells.offline > 0, names), _varying(x, cells.m > 0, names)
    likelihood = _Likelihood(cells, x[:, a_cols], x[:, b_cols])
    best = newton(
        likelihood.negll,
        _start(cells, len(a_cols), len(b_cols)),
        derivatives_at=lambda theta, _: likelihood.grad_hess(theta),
    )
    theta, message = best.x, best.message
    info = likelihood.grad_hess(theta)[1]  # observed information
    try:
        cov = np.linalg.inv(info)
        ok = bool(np.all(np.isfinite(cov)) and np.all(np.diag(cov) > 0))
    except np.linalg.LinAlgError:
        ok = False
    if not ok:
        raise DataFormatError(
            "trait effects are not identifiable from this log (the observed information is "
            "singular): some traits or event types never vary among the consultations, or vary "
            "together"
        )
    dispersion = _dispersion(cells, likelihood, theta) if cells.fractional else 1.0
    cov = cov * dispersion
    fitted = {("a", names[c]): j for j, c in enumerate(a_cols)}
    fitted |= {("b", names[c]): len(a_cols) + j for j, c in enumerate(b_cols)}
    table = _table(theta, np.sqrt(np.diag(cov)), names, fitted, level)
    labels = [f"{c}:{t}" for (c, t), _ in sorted(fitted.items(), key=lambda item: item[1])]
    missing = [f"{c}:{t}" for c in ("a", "b") for t in names if (c, t) not in fitted]
    if missing:
        message = "; ".join(
            filter(
                None, [message, "not estimable (no variation or no data): " + ", ".join(missing)]
            )
        )
    return TraitEffects(
        table=table,
        loglik=-likelihood.negll(theta),  # Bernoulli log-likelihood of the individual decisions
        n_decisions=n_total,
        n_excluded=n_excluded,
        baseline_event=EVENT_TYPES[events[0]],
        converged=best.converged,
        message=message,
        level=level,
        covariance=pd.DataFrame(cov, index=labels, columns=labels),
        dispersion=dispersion,
    )


def _dispersion(cells: _Cells, likelihood: _Likelihood, theta: np.ndarray) -> float:
    """Pearson dispersion of the consultations' probabilities of posting around the fitted P:
    Σ (r - P)² / (P(1 - P)) over consultations, per residual degree of freedom."""
    p = np.clip(-np.expm1(likelihood._parts(theta)[2]), 1e-12, 1 - 1e-12)
    n, s1, s2 = cells.trials, cells.posts, cells.squares
    pearson = float(np.sum((s2 - 2 * p * s1 + n * p**2) / (p * (1 - p))))
    return pearson / max(float(n.sum()) - theta.size, 1.0)


def predicted(
    effects: TraitEffects, channel: str, traits: np.ndarray, event_type: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fitted probability of ``channel`` (a or b) for each row of ``traits`` (0/1, one column
    per trait in :data:`TRAITS` order) at ``event_type``, with its Wald interval at the fit's
    level (delta method on the log-odds, ``x' Σ x``); NaN where a needed term is not estimable."""
    terms = ["intercept", *TRAITS]
    if event_type != effects.baseline_event:
        terms.append(f"event:{event_type}")
    x = np.column_stack([np.ones(len(traits)), traits.astype(float)])
    if len(terms) > x.shape[1]:
        x = np.column_stack([x, np.ones(len(traits))])
    rows = effects.table[effects.table["channel"] == channel].set_index("term")
    labels = [f"{channel}:{t}" for t in terms]
    if effects.covariance is None or not all(
        t in rows.index and bool(rows.at[t, "estimable"]) for t in terms
    ):
        nan = np.full(len(traits), np.nan)
        return nan, nan, nan
    eta = x @ rows.loc[terms, "estimate"].to_numpy(float)
    cov = effects.covariance.loc[labels, labels].to_numpy()
    half = stats.norm.ppf(0.5 + effects.level / 2) * np.sqrt(np.einsum("ij,jk,ik->i", x, cov, x))
    return special.expit(eta), special.expit(eta - half), special.expit(eta + half)


def _table(
    theta: np.ndarray,
    se: np.ndarray,
    names: list[str],
    fitted: dict[tuple[str, str], int],
    level: float,
) -> pd.DataFrame:
    """One row per channel and term: estimate, Wald statistics and interval, or NaN where the
    term is not estimable (``fitted`` maps (channel, term) to its index in ``theta``)."""
    z_crit = stats.norm.ppf(0.5 + level / 2)
    rows = []
    for channel in ("a", "b"):
        for term in names:
            j = fitted.get((channel, term))
            est, s = (float(theta[j]), float(se[j])) if j is not None else (math.nan, math.nan)
            rows.append(
                {
                    "channel": channel,
                    "term": term,
                    "estimate": est,
                    "se": s,
                    "z": est / s if j is not None else math.nan,
                    "p_value": float(2 * stats.norm.sf(abs(est / s)))
                    if j is not None
                    else math.nan,
                    "ci_lo": est - z_crit * s,
                    "ci_hi": est + z_crit * s,
                    "odds_ratio": math.exp(est) if j is not None else math.nan,
                    "estimable": j is not None,
                }
            )
    return pd.DataFrame(rows)
