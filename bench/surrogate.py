"""A million-agent run with a calibrated table, storage included, against the LLM calls it replaces.

    python bench/surrogate.py [--n 1000000] [--repeats 3]

Calibrates once against the local calibration server (``tests/support/calibration_server.py``, one
repeat of the default design) into a temporary database, then times the whole process
``spreadlab run --params <calibrated table> --n N --db <that database>`` (interpreter start,
graph, 31 rounds, every agent, decision and curve row stored), best of ``--repeats`` fresh
processes. The run must carry the surrogate provenance. The peer it replaces is an LLM run of the
same scenario: one call per consulted agent, priced at gpt-4o-mini list prices with the prompt and
completion tokens per call the calibration measured. Exits with status 1 when the run takes over
10 s or lacks the surrogate provenance.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests" / "support"):
    if str(path) not in sys.path:  # run from a clone without installing spreadlab
        sys.path.insert(0, str(path))

import duckdb  # noqa: E402
from _shared import machine  # noqa: E402
from calibration_server import calibration_server  # noqa: E402

from spreadlab.llm.estimate import load_prices, price_for  # noqa: E402

TARGET_S = 10.0
PEER_MODEL = "gpt-4o-mini"


def spreadlab(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m spreadlab ARGS`` in a fresh process, this checkout first on the path."""
    return subprocess.run(
        [sys.executable, "-m", "spreadlab", *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def calibrated_table(folder: Path) -> tuple[Path, Path]:
    """A calibration (1 repeat, default design) against the local server: its table and database."""
    table, db = folder / "table.csv", folder / "bench.duckdb"
    with calibration_server() as server:
        spreadlab(
            "calibrate", "--model", "sim-1", "--base-url", server.base_url, "--repeats", "1",
            "--out", str(table), "--db", str(db),
        )  # fmt: skip
    return table, db


def timed_run(table: Path, db: Path, n: int) -> tuple[float, str]:
    """Wall seconds of one whole ``spreadlab run`` process, and its run id."""
    start = time.perf_counter()
    done = spreadlab("run", "--params", str(table), "--n", str(n), "--db", str(db))
    seconds = time.perf_counter() - start
    run_line = next(line for line in done.stdout.splitlines() if "\tscenario=" in line)
    return seconds, run_line.split("\t")[0]


def run_facts(db: Path, run_id: str) -> tuple[str, int, dict]:
    """The run's parameter-table provenance, its consultations, and the calibration's meta."""
    with duckdb.connect(str(db), read_only=True) as con:
        provenance = json.loads(
            con.execute("SELECT provenance FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
        )
        (consulted,) = con.execute(
            "SELECT count(*) FROM decisions WHERE run_id = ?", [run_id]
        ).fetchone()
        (meta,) = con.execute("SELECT meta FROM calibrations").fetchone()
    return provenance["parameter_table"], int(consulted), json.loads(meta)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"# SpreadLab surrogate benchmark — {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        table, db = calibrated_table(Path(tmp))
        runs = [timed_run(table, db, args.n) for _ in range(args.repeats)]
        seconds, run_id = min(runs)
        parameters, consulted, meta = run_facts(db, run_id)
    surrogate = parameters.startswith("stochastic surrogate of sim-1")
    per_call_in = meta["prompt_tokens"] / meta["calls"]
    per_call_out = meta["completion_tokens"] / meta["calls"]
    price = price_for(PEER_MODEL, load_prices())
    cost = price.cost(round(consulted * per_call_in), round(consulted * per_call_out))
    print(f"run at N = {args.n:,} (whole process, storage included, best of {args.repeats}):")
    print(f"  {seconds:.2f} s  (all: {', '.join(f'{s:.2f}' for s, _ in runs)} s)")
    print(f"  parameters: {parameters}")
    print(
        f"peer — the same run with one LLM call per consulted agent: {consulted:,} calls, "
        f"≈ {consulted * per_call_in / 1e6:.0f} M prompt tokens, ≈ {cost:,.0f} {price.currency} "
        f"at {PEER_MODEL} list prices ({seconds / consulted * 1e6:.2f} s per million "
        "decisions here)"
    )
    ok = seconds <= TARGET_S and surrogate
    print(
        f"target (<= {TARGET_S:g} s, surrogate provenance): {'met' if ok else 'MISSED'} "
        f"({seconds:.2f} s, {'surrogate' if surrogate else 'NOT surrogate'})"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
