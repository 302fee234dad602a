"""SpreadLab's round engine and NDlib's SI model run the same process (bench/peers.py)."""

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "ndlib.models.epidemics",
    reason="NDlib (and six, which it imports) not installed: pip install -r requirements-bench.txt",
)

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load_peers():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_peers", BENCH / "peers.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while it loads
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


@pytest.mark.slow
def test_rounds_to_half_informed_agree_with_ndlib():
    """30 replicates at N = 10,000: the Welch 95% CI of the difference in mean rounds to 50%
    informed contains 0, and each engine's mean is near the other's."""
    eq = load_peers().equivalence(replicates=30, n=10_000, fraction=0.5)
    print(eq.report())
    assert eq.agrees, eq.report()
    ours, _, _ = eq.summary("spreadlab")
    theirs, low, high = eq.summary("ndlib")
    assert abs(ours - theirs) < 1.0 and high - low < 2.0, eq.report()
    assert 10 < ours < 30  # the spread actually ran
