"""LLM backend throughput: decisions per second against the bound concurrency / latency.

    python bench/llm_throughput.py [--agents 2000] [--concurrency 64] [--latency 0.02]

The local OpenAI-compatible test server (``tests/support/llm_server.py``) runs in its own process
and answers every request after ``--latency`` seconds. One round consults ``--agents`` agents at
once through the full LLM stack (real ``openai`` client, retry, concurrency limit, accounting,
DuckDB replay cache with nothing cached yet, negotiation, parsing). With at most ``C`` calls in
flight and latency ``L`` no client can do better than ``C / L`` decisions per second; the target is
80% of that bound. Best of ``--repeats`` rounds (each a fresh cache miss); exits with status 1 when
the target is missed. Client CPU per call is reported too: it is what caps throughput when the bound
is high.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "tests" / "support" / "llm_server.py"
if str(ROOT) not in sys.path:  # run from a clone without installing spreadlab
    sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402

from spreadlab.engine.policy import ConsultationBatch  # noqa: E402
from spreadlab.llm import LLMConfig, LLMPolicy  # noqa: E402
from spreadlab.world.events import catalog  # noqa: E402

TARGET = 0.8


def round_batch(n: int, round_: int, rng: np.random.Generator) -> ConsultationBatch:
    """``n`` agents all reached by the report (the prompt of a round-0 seed agent)."""
    return ConsultationBatch(
        run_seed=1,
        round=round_,
        agents=np.arange(n),
        offline=np.ones(n, dtype=bool),
        m=np.zeros(n, dtype=np.int32),
        profiles=rng.integers(0, 32, n).astype(np.int8),
        event=catalog()["battle-marren-ridge"],
        feed=lambda agent: [],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.02, help="server seconds per reply")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, str(SERVER), "--latency", str(args.latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = server.stdout.readline().strip()
        config = LLMConfig.from_env(
            {}, base_url=url, model="sim-1", max_concurrency=args.concurrency
        )
        rng = np.random.default_rng(0)
        bound = args.concurrency / args.latency
        rates = []
        with LLMPolicy(config, duckdb.connect(":memory:")) as policy:
            policy.decide(round_batch(args.concurrency, 0, rng), rng)  # connect and warm up
            for r in range(1, args.repeats + 1):
                batch = round_batch(args.agents, r, rng)
                cpu, wall = time.process_time(), time.perf_counter()
                decisions = policy.decide(batch, rng)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                assert decisions.valid.all()
                rates.append(args.agents / wall)
                print(
                    f"round {r}: {args.agents} decisions in {wall:.2f} s = {rates[-1]:.0f}/s "
                    f"({rates[-1] / bound:.0%} of the bound); client CPU "
                    f"{1000 * cpu / args.agents:.2f} ms per call"
                )
            usage = policy.usage()
        best = max(rates)
        print(
            f"bound {args.concurrency} / {args.latency:g} s = {bound:.0f} decisions/s; best "
            f"{best:.0f}/s = {best / bound:.0%} (target {TARGET:.0%}); peak in flight "
            f"{usage['peak_concurrency']}, {usage['calls']} calls"
        )
        return 0 if best >= TARGET * bound else 1
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    sys.exit(main())
