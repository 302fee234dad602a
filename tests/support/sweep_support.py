"""A small stored sweep for the Sweep page's tests (AppTest and browser)."""

from __future__ import annotations

from pathlib import Path

from spreadlab.jobs.sweep import run_sweep
from spreadlab.jobs.sweep_grid import parse_grid
from spreadlab.store.runs import RunStore

ROOT = Path(__file__).resolve().parents[2]
GRID = {
    "sweep": {"name": "page test", "seed": 5, "rounds": 25},
    "axes": {
        "events": ["battle-marren-ridge", "protest-fuel-price"],
        "mixes": ["uniform", "extraverted", "conscientious-agreeable"],
        "q": [0.0],
        "n": [600],
        "k": [6],
        "replicates": [4],
    },
}


def build_sweep_db(path: Path) -> str:
    """Store a finished six-cell sweep (2 events × 3 mixes, summaries only) in the database at
    ``path``; return its sweep id."""
    grid = parse_grid(GRID, base=ROOT)
    with RunStore(path) as store:
        run_sweep(store, grid, summaries_only=True)
    return grid.sweep_id
