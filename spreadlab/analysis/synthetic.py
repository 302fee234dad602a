"""Known-truth data: informed counts drawn from a fitted model's own data-generating process.

Used to check fits on data whose truth is known (tests, ``bench/fit.py``) and by the parametric
bootstrap; the agent-based simulator is :mod:`spreadlab.engine`, not this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from spreadlab.analysis.models import Model, get_model


def simulate_counts(
    model: str | Model,
    params: Mapping[str, float] | Sequence[float] | np.ndarray,
    rounds: int,
    n: int,
    k: float,
    n0: int | Sequence[int],
    rng: np.random.Generator,
    replicates: int = 1,
    closed_loop: bool = False,
    nb_size: float | None = None,
) -> np.ndarray:
    """Curves drawn from a model: binomial noise per round, or overdispersed.

    Each round, every still-susceptible agent posts with the model's per-round probability
    ``1 - s(t)/s(t-1)``: along the deterministic trajectory from round 0 (the data-generating
    process assumed by the ``binomial`` fit), or, with ``closed_loop``, one round ahead from the
    fraction reached so far (a chain binomial, assumed by the ``conditional`` fit). With
    ``nb_size`` the new posters are negative-binomial instead, with the same mean and variance
    ``mean + mean**2 / nb_size`` (capped at those left): overdispersed counts, as real series
    have. Returns informed counts, shape (replicates, rounds + 1).
    """
    mdl = get_model(model)
    theta = mdl.theta(params)
    start = np.broadcast_to(np.asarray(n0, dtype=np.int64), (replicates,)).copy()
    log_s = mdl.log_susceptible(theta, rounds, mdl.initial_fraction(n, start), float(k))
    p = -np.expm1(np.minimum(np.diff(log_s, axis=1), 0.0))
    counts = np.empty((replicates, rounds + 1), dtype=np.int64)
    counts[:, 0] = start
    for t in range(rounds):
        if closed_loop:
            now = np.minimum(counts[:, t] / n, 1 - 0.5 / n)
            step = mdl.log_susceptible(theta, 1, now, float(k))
            p[:, t] = -np.expm1(np.minimum(step[:, 1] - step[:, 0], 0.0))
        left = n - counts[:, t]
        if nb_size is None:
            new = rng.binomial(left, p[:, t])
        else:
            new = rng.negative_binomial(nb_size, nb_size / (nb_size + left * p[:, t]))
        counts[:, t + 1] = counts[:, t] + np.minimum(new, left)
    return counts
