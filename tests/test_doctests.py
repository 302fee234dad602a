"""The ``Examples`` in the docstrings of the functions users call from Python run, and print what
they say (numpydoc docstrings: the examples are part of the documentation, so they are tested)."""

from __future__ import annotations

import doctest
import importlib
import io

import pytest

DOCUMENTED = {
    "spreadlab.world.networks": ("random_regular", "NetworkSpec"),
    "spreadlab.world.personas": ("parse_mix",),
    "spreadlab.engine.simulate": ("simulate", "Scenario"),
    "spreadlab.engine.replicates": ("simulate_replicates",),
    "spreadlab.analysis.fit": ("fit", "fit_each"),
    "spreadlab.analysis.verdict": ("decide_counts",),
    "spreadlab.analysis.trait_effects": ("fit_trait_effects",),
    "spreadlab.analysis.observed": ("read_series", "fit_series"),
    "spreadlab.store.runs": ("RunStore",),
}
"""Module -> the public names whose docstrings must carry a runnable Examples section."""

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("module_name", sorted(DOCUMENTED))
def test_examples_run(module_name):
    module = importlib.import_module(module_name)
    tests = doctest.DocTestFinder().find(module, module_name)
    examples = {test.name.rsplit(".", 1)[-1]: test for test in tests if test.examples}
    missing = [name for name in DOCUMENTED[module_name] if name not in examples]
    assert not missing, f"{module_name}: no Examples in the docstring of {missing}"
    for name in DOCUMENTED[module_name]:
        assert "Examples\n" in (getattr(module, name).__doc__ or ""), f"{name}: numpydoc section"
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in tests:
        runner.run(test, out=out.write)
    assert runner.failures == 0, out.getvalue()
