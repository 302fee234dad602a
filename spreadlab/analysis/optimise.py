"""The optimiser toolkit shared by model fitting and trait effects.

Small smooth problems (a handful of parameters): bounded L-BFGS-B with cheap forward differences,
a damped Newton method (analytic or finite-difference derivatives), central finite differences,
and a safeguarded secant search for where a monotone function reaches a level. Nothing here knows
about models or data; callers pass plain functions of a parameter vector.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from spreadlab.lazy import lazy_import

if TYPE_CHECKING:
    from scipy.optimize import OptimizeResult

# scipy takes about a second to import: loaded by the first fit, not by every command
optimize = lazy_import("scipy.optimize")

Objective = Callable[[np.ndarray], float]
Derivatives = Callable[[np.ndarray, float], tuple[np.ndarray, np.ndarray]]
"""(x, f(x)) -> (gradient, Hessian) of the function minimised."""


def put(x: np.ndarray, j: int, value: float) -> np.ndarray:
    """A copy of ``x`` with coordinate ``j`` set to ``value``."""
    out = x.copy()
    out[j] = value
    return out


def minimize(f: Objective, x0: np.ndarray, bounds: Sequence[tuple[float, float]]) -> OptimizeResult:
    """L-BFGS-B with forward-difference gradients, stopped by the gradient rather than by a small
    decrease (the default relative-decrease test ends early in the narrow curved valleys of
    two-rate likelihoods). Differencing here costs a fraction of scipy's generic machinery."""
    lower = np.array([b[0] for b in bounds])
    upper = np.array([b[1] for b in bounds])

    def value_and_gradient(x: np.ndarray) -> tuple[float, np.ndarray]:
        f0 = f(x)
        grad = np.empty(x.size)
        for j in range(x.size):
            h = 1.5e-8 * max(1.0, abs(x[j]))
            if x[j] + h > upper[j]:
                h = -h
            step = x.copy()
            step[j] = min(max(x[j] + h, lower[j]), upper[j])
            grad[j] = (f(step) - f0) / (step[j] - x[j])
        return f0, grad

    return optimize.minimize(
        value_and_gradient,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=list(bounds),
        options={"ftol": 1e-15, "maxiter": 1000},
    )


def derivatives(
    f: Objective, x: np.ndarray, h: float = 1e-4, f0: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Central finite-difference gradient and Hessian of ``f`` at ``x`` (``f0`` = f(x) if known)."""
    p = x.size
    f0 = f(x) if f0 is None else f0
    grad, hess = np.empty(p), np.empty((p, p))
    for i in range(p):
        up, down = f(put(x, i, x[i] + h)), f(put(x, i, x[i] - h))
        grad[i] = (up - down) / (2 * h)
        hess[i, i] = (up - 2 * f0 + down) / h**2
        for j in range(i):
            corners = [
                f(put(put(x, i, x[i] + si * h), j, x[j] + sj * h))
                for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1))
            ]
            hess[i, j] = hess[j, i] = (corners[0] - corners[1] - corners[2] + corners[3]) / (
                4 * h**2
            )
    return grad, hess


@dataclass(frozen=True)
class NewtonResult:
    """Where :func:`newton` stopped: ``x``, ``fun`` = f(x), whether it converged, and why not."""

    x: np.ndarray
    fun: float
    converged: bool
    message: str


def newton(
    f: Objective,
    x0: np.ndarray,
    *,
    derivatives_at: Derivatives | None = None,
    bounds: Sequence[tuple[float, float]] | None = None,
    max_iter: int = 100,
    h: float = 1e-4,
    indefinite: Literal["shift", "lbfgs"] = "shift",
) -> NewtonResult:
    """Minimise a smooth function of a few variables from a good start by damped Newton steps.

    Derivatives come from ``derivatives_at`` or, without it, central differences of step ``h``.
    Where the Hessian is not positive definite (far from a minimum), ``indefinite="shift"`` adds
    a Levenberg shift; ``"lbfgs"`` hands the search over to :func:`minimize` from there (needs
    ``bounds``), which escapes flat, curved valleys better. Each step is halved until the value
    does not rise and, with ``bounds``, clipped into the box. Stops when the Newton decrement
    falls below 1e-10 or a step moves x by less than 1e-9 (converged), when a millionth of the
    Newton step still raises the value (rounding noise: converged if the decrement is below
    1e-6), or after ``max_iter`` steps.
    """
    size = len(x0)
    lower = np.array([b[0] for b in bounds]) if bounds else np.full(size, -np.inf)
    upper = np.array([b[1] for b in bounds]) if bounds else np.full(size, np.inf)
    x = np.clip(np.asarray(x0, dtype=float), lower, upper)
    fx = f(x)
    for _ in range(max_iter):
        if derivatives_at is None:
            grad, hess = derivatives(f, x, h, fx)
        else:
            grad, hess = derivatives_at(x, fx)
        if indefinite == "lbfgs" and not _positive_definite(hess):
            res = minimize(f, x, list(zip(lower, upper, strict=True)))
            return NewtonResult(res.x, float(res.fun), bool(res.success), str(res.message))
        step = _levenberg_step(grad, hess)
        decrement = float(-grad @ step)
        if decrement < 1e-10:
            return NewtonResult(x, fx, True, "")
        t = 1.0
        while t > 1e-6:
            candidate = np.clip(x + t * step, lower, upper)
            value = f(candidate)
            if value <= fx:
                break
            t /= 2
        else:
            return NewtonResult(
                x, fx, decrement < 1e-6, "Newton steps stopped improving the objective"
            )
        moved = float(np.max(np.abs(candidate - x)))
        x, fx = candidate, value
        if moved < 1e-9:
            return NewtonResult(x, fx, True, "")
    return NewtonResult(x, fx, False, f"no convergence after {max_iter} Newton steps")


def _positive_definite(hess: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(hess)
    except np.linalg.LinAlgError:
        return False
    return True


def _levenberg_step(grad: np.ndarray, hess: np.ndarray) -> np.ndarray:
    """The Newton step -H⁻¹g, with H shifted by a multiple of I until it is positive definite."""
    shift = 0.0
    while True:
        try:
            chol = np.linalg.cholesky(hess + shift * np.eye(grad.size))
            break
        except np.linalg.LinAlgError:
            shift = max(2 * shift, 1e-6 * max(1.0, float(np.abs(np.diag(hess)).max())))
    return -np.linalg.solve(chol.T, np.linalg.solve(chol, grad))


def is_local_min(f: Objective, x: np.ndarray, clip: Callable[[np.ndarray], np.ndarray]) -> bool:
    """Whether no step of 1e-4 along any coordinate (kept in the box by ``clip``) lowers ``f`` by
    more than 1e-6: L-BFGS-B's line search can stop "abnormally" at the precision limit of a large
    likelihood although it sits at the optimum."""
    f0 = f(x)
    for j in range(x.size):
        for step in (-1e-4, 1e-4):
            if f(clip(put(x, j, x[j] + step))) < f0 - 1e-6:
                return False
    return True


def signed_root(
    profile: Callable[[float], float],
    x_hat: float,
    sign: float,
    z: float,
    se: float,
    bounds: tuple[float, float],
) -> tuple[float, bool]:
    """Where sqrt(2·profile(x)) = z on the ``sign`` side of ``x_hat``; (limit, hit a bound).

    ``profile`` rises from 0 at ``x_hat``; its signed root is close to linear in x, so the search
    extrapolates from the standard error ``se`` and then takes secant steps inside the bracket.
    """
    edge = bounds[0] if sign < 0 else bounds[1]
    if abs(edge - x_hat) < 1e-12:
        return edge, True

    def root(x: float) -> float:
        return math.sqrt(max(2 * profile(x), 0.0))

    inside, inside_r = x_hat, 0.0
    outside: tuple[float, float] | None = None
    x = x_hat + sign * max(z * se, 1e-6)
    for _ in range(40):
        if sign * (x - edge) >= 0:
            x = edge
        r = root(x)
        if abs(r - z) < 5e-3:
            return x, False
        if r >= z:
            outside = (x, r)
        elif x == edge:
            return edge, True
        else:
            inside, inside_r = x, r
        if outside is None:  # r is nearly linear in x: extrapolate, stepping 1.2x to 4x further
            dist = abs(inside - x_hat)
            x = x_hat + sign * dist * min(max(z / max(r, 1e-8), 1.2), 4.0)
        else:  # secant inside the bracket, kept 2% away from its ends
            xo, ro = outside
            x = inside + (z - inside_r) * (xo - inside) / (ro - inside_r)
            lo, hi = sorted((inside, xo))
            x = min(max(x, lo + 0.02 * (hi - lo)), hi - 0.02 * (hi - lo))
    return x, False
