"""The names of the fitting and interval methods, for the fitter, the CLI and the Fit page alike.

Plain tuples in a module that imports nothing, so ``spreadlab --help`` and the dashboard can list
the choices without loading the fitting stack.
"""

FIT_METHODS: tuple[str, ...] = ("binomial", "conditional", "lsq")
"""binomial: along the model's trajectory; conditional: one round ahead; lsq: least squares."""

CI_METHODS: tuple[str, ...] = ("auto", "jackknife", "profile", "quasi", "bootstrap", "none")
"""Every interval method the fitter knows."""

RUN_CI_METHODS: tuple[str, ...] = tuple(m for m in CI_METHODS if m != "quasi")
"""The interval methods offered for simulated runs; 'quasi' (dispersion-widened profile) is for a
single observed series, which :mod:`spreadlab.analysis.observed` chooses itself."""
