"""The names of the fitting and interval methods, for the fitter, the CLI and the Fit page alike.

Literal types and plain tuples in a module that imports only ``typing``, so ``spreadlab --help``
and the dashboard can list the choices without loading the fitting stack.
"""

from typing import Literal, get_args

Method = Literal["binomial", "conditional", "lsq"]
FIT_METHODS: tuple[str, ...] = get_args(Method)
"""binomial: along the model's trajectory; conditional: one round ahead; lsq: least squares."""

CIMethod = Literal["auto", "jackknife", "profile", "quasi", "bootstrap", "none"]
CI_METHODS: tuple[str, ...] = get_args(CIMethod)
"""Every interval method the fitter knows."""

RUN_CI_METHODS: tuple[str, ...] = tuple(m for m in CI_METHODS if m != "quasi")
"""The interval methods offered for simulated runs; 'quasi' (dispersion-widened profile) is for a
single observed series, which :mod:`spreadlab.analysis.observed` chooses itself."""
