"""The data every fit starts from: validated informed counts, one curve per replicate run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spreadlab.errors import FitError

CurveData = np.ndarray | Sequence[np.ndarray] | Sequence[Sequence[float]] | Sequence[float]
"""Informed counts: one curve per replicate (rows of an array or a list), or one flat curve."""


@dataclass(frozen=True)
class Curves:
    """Validated informed counts: ``counts[r, t]`` informed after round t of replicate r."""

    counts: np.ndarray
    n: int
    k: float
    degrees: np.ndarray | None = None
    """``degrees[d]``: agents of degree d over the networks (for degree-based models)."""

    @classmethod
    def from_runs(
        cls,
        curves: CurveData,
        n: int,
        k: float,
        degrees: np.ndarray | None = None,
    ) -> Curves:
        """Check and stack curves (one per replicate) of informed *counts*.

        A replicate that stopped early because everybody was informed is complete: it is
        extended with N. Any other difference in length is an error. ``degrees`` (optional) is
        the degree histogram of the networks, ``degrees[d]`` agents of degree d.
        """
        if not (isinstance(n, int | np.integer) and n >= 2):
            raise FitError(f"N = {n}: give the number of agents (an integer >= 2)")
        if not (math.isfinite(k) and k > 0):
            raise FitError(f"k = {k}: give the network's (mean) degree, a positive number")
        rows = [np.asarray(c, dtype=float) for c in _as_list(curves)]
        if not rows:
            raise FitError("no curves given: pass at least one run's informed counts")
        for r, row in enumerate(rows):
            _check_curve(r, row, n)
        counts = _stack(rows, n)
        _check_spread(counts, n)
        if degrees is not None:
            degrees = np.asarray(degrees, dtype=np.int64)
            if degrees.ndim != 1 or degrees.sum() <= 0 or np.any(degrees < 0):
                raise FitError("degrees: give the number of agents of each degree 0, 1, 2, ...")
        return cls(counts, int(n), float(k), degrees)

    @property
    def replicates(self) -> int:
        return int(self.counts.shape[0])

    @property
    def rounds(self) -> int:
        return int(self.counts.shape[1] - 1)

    @property
    def fractions(self) -> np.ndarray:
        return self.counts / self.n


def as_curves(
    curves: Curves | np.ndarray | Sequence[Sequence[float]], n: int | None, k: float | None
) -> Curves:
    """``curves`` as :class:`Curves`: given ones as they are, raw counts checked with n and k."""
    if isinstance(curves, Curves):
        return curves
    if n is None or k is None:
        raise FitError("give the number of agents n and the degree k with raw curves")
    return Curves.from_runs(curves, n, k)


def _as_list(curves: CurveData) -> list:
    if isinstance(curves, np.ndarray):
        return [curves] if curves.ndim == 1 else list(curves)
    rows: list[Any] = list(curves)
    if rows and np.ndim(rows[0]) == 0:  # a single curve given as a flat list
        return [rows]
    return rows


def _check_curve(r: int, row: np.ndarray, n: int) -> None:
    """Curve ``r`` must be a non-decreasing run of informed counts 0..n."""
    if row.ndim != 1:
        raise FitError(f"curve {r} is not one-dimensional (shape {row.shape})")
    bad = np.flatnonzero(~np.isfinite(row))
    if bad.size:
        raise FitError(f"curve {r} has a missing or non-finite value at round {bad[0]}")
    if np.any(row < 0) or np.any(row > n) or np.any(row != np.round(row)):
        raise FitError(
            f"curve {r} must hold informed counts (integers 0..N = {n}); "
            "for fractions, multiply by N first"
        )
    drop = np.flatnonzero(np.diff(row) < 0)
    if drop.size:
        raise FitError(
            f"curve {r}: the informed count falls at round {drop[0] + 1} "
            f"({row[drop[0]]:g} -> {row[drop[0] + 1]:g}); posting is absorbing in SI"
        )


def _stack(rows: list[np.ndarray], n: int) -> np.ndarray:
    """One array of the curves, those that stopped with everybody informed extended with n."""
    length = max(row.size for row in rows)
    padded = []
    for r, row in enumerate(rows):
        if row.size < length and row[-1] != n:
            raise FitError(
                f"replicate lengths differ ({sorted({x.size for x in rows})} rounds incl. "
                f"round 0) and curve {r} stops at round {row.size - 1} with "
                f"{row[-1]:g} < N informed; cut the curves to a common length"
            )
        padded.append(np.concatenate([row, np.full(length - row.size, float(n))]))
    return np.vstack(padded).astype(np.int64)


def _check_spread(counts: np.ndarray, n: int) -> None:
    """The curves must be long enough and move, from a start where somebody is still left."""
    if counts.shape[1] < 4:
        raise FitError(
            f"too few rounds: {counts.shape[1] - 1} after round 0; at least 3 are needed to fit "
            "a rate"
        )
    if np.any(counts[:, 0] == n):
        raise FitError("everybody is informed at round 0: there is no spread to fit")
    if np.all(counts == counts[:, :1]):
        raise FitError(
            f"the curve never moves (informed stays at {counts[0, 0]}): no rate is estimable"
        )
