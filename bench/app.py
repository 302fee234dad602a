"""Dashboard benchmark: first render time of every page on the bundled sample runs.

    python bench/app.py [--repeats 3]

Target (issue 6): each page's first render <= 2 s on this machine. "First render" is one script
run of the page, through Streamlit's AppTest, with every Streamlit cache empty, in a process that
has already imported the libraries (as a running server has); the page shows its default
selection (for Spread: the 10,000-agent sample run, drawn as a sampled neighbourhood). The
sample database is built once into a temporary folder first. Times are ``time.perf_counter``
wall times, best of ``--repeats``; exits with status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a clone without installing spreadlab
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from spreadlab.jobs.samples import sample_database  # noqa: E402
from spreadlab.store.runs import RunStore  # noqa: E402

TARGET_S = 2.0
PAGES = (
    "app.py",
    "pages/1_Scenario_and_run.py",
    "pages/2_Spread.py",
    "pages/3_Fit.py",
    "pages/4_Compare.py",
    "pages/5_Export.py",
)


def render(page: str, query: dict[str, str]) -> float:
    """Seconds for one cold run of ``page`` (caches cleared first); fails on any exception."""
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    if page != "app.py":
        at.switch_page(page)
    start = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - start
    if at.exception:
        raise SystemExit(f"{page} raised: {at.exception[0].value}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = sample_database(Path(tmp) / "samples.duckdb")
        os.environ["SPREADLAB_DB"] = str(db)
        with RunStore(db) as store:
            runs = store.list_runs()
        largest = runs.sort_values("n_agents").iloc[-1]
        query = {"run": str(largest["run_id"])}
        print(
            f"{len(runs)} sample runs, largest N = {int(largest['n_agents']):,}; "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
        )
        render("app.py", query)  # warm-up: imports, as in a running server
        missed = []
        for page in PAGES:
            best = min(render(page, query) for _ in range(args.repeats))
            mark = "ok" if best <= TARGET_S else "SLOW"
            print(f"{page:32s} first render {best:6.2f} s  (target <= {TARGET_S:g} s) {mark}")
            if best > TARGET_S:
                missed.append(page)
    if missed:
        sys.exit(1)


if __name__ == "__main__":
    main()
