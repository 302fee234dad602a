"""Build ``v1_database.duckdb``: a database as the previous release (commit 4095dc4, schema
version 1) leaves it, for the migration test (tests/store/test_schema.py).

It must run against that release's code, not this checkout's::

    git worktree add /tmp/prev 4095dc4
    PYTHONPATH=/tmp/prev:/tmp/prev/tests python tests/support/make_v1_database.py OUT.duckdb

It holds one tiny LLM scenario (2 replicates of 12 agents, answered by the local test server,
so the replay cache ``llm_calls``, ``llm_formats`` and ``run_writers`` have rows), a stochastic
run, the fits of both, and one stored calibration (``calibrations``).
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
from llm_server import running_server
from spreadlab.calibrate import save_calibration
from spreadlab.events import catalog
from spreadlab.fit_store import fit_and_save
from spreadlab.networks import NetworkSpec
from spreadlab.personas import PersonalityMix
from spreadlab.runner import run_scenario
from spreadlab.simulate import Scenario
from spreadlab.stochastic import ParameterTable, StochasticPolicy

from spreadlab.llm.config import LLMConfig
from spreadlab.llm.policy import LLMPolicy
from spreadlab.store import RunStore


def scenario(replicates: int, seed: int) -> Scenario:
    return Scenario(
        event=next(iter(catalog().values())),
        mix=PersonalityMix.uniform(),
        network=NetworkSpec("random_regular", n=12, k=4),
        rounds=3,
        q=0.2,
        n0=2,
        replicates=replicates,
        seed=seed,
    )


def main(path: str) -> None:
    with RunStore(path) as store:
        with running_server() as server:
            config = LLMConfig.from_env({}, base_url=server.base_url, model="sim-1")
            with LLMPolicy(config, store.con) as policy:
                run_scenario(store, scenario(2, 5), policy, scenario_id="llmtiny")
        run_scenario(store, scenario(1, 7), StochasticPolicy(), scenario_id="stochtiny")
        fit_and_save(store, ["llmtiny"], ["si1"])
        fit_and_save(store, ["stochtiny-000"], ["si2"])
        base = ParameterTable.illustrative()
        table = ParameterTable(np.round(base.a * 0.9, 6), base.b, "calibrated table")
        meta = {
            "model": "sim-1",
            "endpoint_host": "127.0.0.1",
            "prompt_version": "v1",
            "decisions": 42,
            "invalid": 0,
        }
        stub = SimpleNamespace(meta=meta, table=lambda use: table, to_csv=lambda use: "a,b\n")
        save_calibration(store.con, stub, "cells")  # type: ignore[arg-type]
        store.con.execute("CHECKPOINT")


if __name__ == "__main__":
    main(sys.argv[1])
