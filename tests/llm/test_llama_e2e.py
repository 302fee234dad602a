"""An LLM run end to end against a real inference server: llama.cpp with the tiny random model.

``spreadlab run --backend llm`` (the user's command, in a subprocess) runs 30 agents for 5 rounds
against llama.cpp's own server (``xllamacpp``) on 127.0.0.1. It accepts the standard
``json_schema`` response format at the first probe, and the run records it in its provenance. The
random model's replies are noise inside the grammar: some parse, some are cut at the reply limit,
and for some the server answers HTTP 500 "does not match the expected ... format" (see
``test_llama_server.py``): every decision must come out valid, or invalid with a reason, and the
run must go on (``--max-invalid 1``: the noise is the point here). HTTP requests are counted from
the server's access log; an identical re-run makes none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from llama_server import LlamaServer

from spreadlab.engine.simulate import Scenario
from spreadlab.jobs.runner import run_scenario
from spreadlab.llm.config import LLMConfig
from spreadlab.llm.policy import LLMPolicy
from spreadlab.store.runs import RunStore
from spreadlab.world.events import Event
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PersonalityMix

ROOT = Path(__file__).resolve().parents[2]
AGENTS, ROUNDS = 30, 5
# The policy's endpoint check: one json_schema probe, accepted.
PROBE_REQUESTS = 1


def run_args(server: LlamaServer, db: Path) -> list[str]:
    return [
        "run",
        "--backend",
        "llm",
        "--base-url",
        server.base_url,
        "--model",
        server.model,
        "--n",
        str(AGENTS),
        "--k",
        "4",
        "--rounds",
        str(ROUNDS),
        "--q",
        "0.2",
        "--n0",
        "5",
        "--seed",
        "11",
        "--max-concurrency",
        "2",
        "--feed-size",
        "3",
        "--post-chars",
        "80",
        "--timeout",
        "30",
        "--max-invalid",
        "1",
        "--db",
        str(db),
    ]


def spreadlab(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return subprocess.run(
        [sys.executable, "-m", "spreadlab", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.mark.slow
def test_a_run_against_llama_cpp_negotiates_the_format_then_replays_with_no_request(
    llama_server: LlamaServer, tmp_path: Path
) -> None:
    db = tmp_path / "runs.duckdb"
    before = llama_server.requests()
    started = time.perf_counter()
    first = spreadlab(run_args(llama_server, db))
    elapsed = time.perf_counter() - started
    assert first.returncode == 0, first.stderr
    requests = llama_server.requests() - before

    ((run_id, status, provenance),) = query(db, "SELECT run_id, status, provenance FROM runs")
    assert status == "complete"
    provenance = json.loads(provenance)
    assert provenance["backend"] == "llm" and provenance["synthetic"] is False
    assert provenance["model"] == llama_server.model
    assert provenance["endpoint_host"] == llama_server.base_url.split("/")[2]
    assert provenance["response_format_setting"] == "auto"
    assert provenance["response_format"] == "json_schema", "the standard format, accepted"
    assert "falling back" not in first.stderr

    # every decision is valid, or invalid with the reason (and then never a post)
    decisions = query(
        db,
        "SELECT valid, post, reason FROM decisions WHERE run_id = ? ORDER BY round, agent",
        [run_id],
    )
    assert decisions
    valid = [d for d in decisions if d[0]]
    invalid = [d for d in decisions if not d[0]]
    assert valid, "some replies of the random model parse"
    assert all(reason is None for _, _, reason in valid)
    assert all(reason and not post for _, post, reason in invalid)
    reasons = " ".join(reason for _, _, reason in invalid)
    assert "does not match the expected" in reasons, "the server's HTTP 500, kept as the reason"
    (curve_invalid,) = query(db, "SELECT sum(invalid) FROM curves WHERE run_id = ?", [run_id])[0]
    assert curve_invalid == len(invalid)

    # the HTTP requests the server saw are the probes plus the ledger's attempts, all in the
    # accepted format, and the tokens are the server's usage figures
    ((calls, attempts, prompt_tokens, completion_tokens, formats),) = query(
        db,
        "SELECT count(*), sum(http_attempts), sum(prompt_tokens), sum(completion_tokens), "
        "list(DISTINCT response_format) FROM llm_calls",
    )
    assert requests == PROBE_REQUESTS + attempts
    assert formats == ["json_schema"]
    assert prompt_tokens > 0 and completion_tokens > 0
    assert f"{calls} calls to the endpoint" in first.stderr
    assert f"{prompt_tokens} prompt + {completion_tokens} completion tokens" in first.stderr
    print(
        f"\n{AGENTS} agents x {ROUNDS} rounds on llama.cpp: {len(decisions)} decisions "
        f"({len(invalid)} invalid), {calls} calls, {requests} HTTP requests, "
        f"{prompt_tokens} + {completion_tokens} tokens, {elapsed:.1f} s"
    )

    # an identical re-run replays every answer: no request reaches the server
    before = llama_server.requests()
    again = spreadlab(run_args(llama_server, db))
    assert again.returncode == 0, again.stderr
    assert llama_server.requests() == before
    assert "0 calls to the endpoint" in again.stderr
    ((replay_id,),) = query(db, "SELECT run_id FROM runs WHERE run_id != ?", [run_id])
    replay_provenance = json.loads(
        query(db, "SELECT provenance FROM runs WHERE run_id = ?", [replay_id])[0][0]
    )
    assert replay_provenance["response_format"] == "json_schema"
    sql = (
        "SELECT round, agent, valid, post, text, reason FROM decisions WHERE run_id = ? "
        "ORDER BY round, agent"
    )
    assert query(db, sql, [replay_id]) == query(db, sql, [run_id])


def test_the_library_path_records_the_accepted_format_too(
    llama_server: LlamaServer, store: RunStore, event: Event
) -> None:
    scenario = Scenario(
        event=event,
        mix=PersonalityMix.uniform(),
        network=NetworkSpec("random_regular", n=AGENTS, k=4),
        rounds=1,
        q=0.2,
        n0=5,
        seed=11,
    )
    config = LLMConfig.from_env(
        {},
        base_url=llama_server.base_url,
        model=llama_server.model,
        feed_size=3,
        post_chars=80,
        max_invalid_rate=1.0,
    )
    with LLMPolicy(config, store.con) as policy:
        (run_id,) = run_scenario(store, scenario, policy)
        assert policy.usage()["response_format"] == "json_schema"
    assert json.loads(store.run_meta(run_id)["provenance"])["response_format"] == "json_schema"
