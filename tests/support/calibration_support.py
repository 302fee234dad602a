"""A stored calibration made as 'spreadlab calibrate' makes it: the real job against the local
calibration test server (loopback only), one repeat, m = 1, with its persona check. No row is
written by hand as if an LLM had answered."""

from __future__ import annotations

from pathlib import Path

from calibration_server import calibration_server
from llm_server import ServerConfig

from spreadlab.jobs.calibrate import Design, calibrate, default_events, save_calibration
from spreadlab.jobs.persona_check import ask_inventory, fidelity, save_check
from spreadlab.jobs.post_bank import stored_bank
from spreadlab.llm.config import LLMConfig
from spreadlab.llm.policy import LLMPolicy
from spreadlab.store.runs import RunStore

DESIGN = Design(tuple(default_events()), repeats=1, ms=(1,), seed=3)
"""576 probes (6 events × 32 profiles × 3 conditions): a few seconds on the local server."""


def store_calibration(path: Path, model: str = "sim-1") -> str:
    """Calibrate ``model`` (any name: the server serves it) of a fresh local server into the
    database at ``path``; returns the calibration's id."""
    with calibration_server(ServerConfig(models=(model,))) as server, RunStore(path) as store:
        config = LLMConfig.from_env(
            {}, base_url=server.base_url, model=model, max_concurrency=32, timeout=5
        )
        with LLMPolicy(config, store.con) as policy:
            result = calibrate(policy, DESIGN, stored_bank(store.con, DESIGN.events))
            calibration_id = save_calibration(store.con, result)
            answers = ask_inventory(policy, DESIGN.repeats, DESIGN.seed)
            save_check(store.con, calibration_id, answers, fidelity(answers))
    return calibration_id
