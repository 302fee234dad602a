"""LLM runs end to end: the real ``openai`` client against the local test server on 127.0.0.1.

What the LLM-agents issue asks to see: a 200-agent, 10-round run through 20% injected faults;
its invalid-decision rate; agents the server makes likelier to share sharing more; an identical
re-run making no request; a run killed with SIGKILL and resumed matching an uninterrupted replay;
the API key nowhere at rest or in output; bad settings refused before any run row is written.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest
from click.testing import CliRunner
from llm_server import (
    TRAIT_WORDS,
    ServerConfig,
    hidden_probability,
    llm_server_fixture,  # noqa: F401
    running_server,
)

from spreadlab.cli import cli
from spreadlab.cli.options import error_line, option_for
from spreadlab.engine.simulate import Scenario
from spreadlab.engine.stochastic import StochasticPolicy
from spreadlab.errors import Cancelled
from spreadlab.jobs.runner import run_scenario
from spreadlab.llm.config import LLMConfig
from spreadlab.llm.policy import LLMPolicy
from spreadlab.store.runs import RunStore
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PersonalityMix, trait_levels

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-spreadlab-secret-7f3a9c1e5b"
FAULTS_20 = {
    "429": 0.05,
    "500": 0.04,
    "slow": 0.03,
    "malformed": 0.03,
    "bad_content": 0.03,
    "drop": 0.02,
}
DECISION_COLUMNS = ["round", "agent", "offline", "m", "post", "valid", "text", "reason"]


def llm_config(url: str, **flags) -> LLMConfig:
    settings = {
        "model": "sim-1",
        "max_concurrency": 16,
        "base_delay": 0.01,
        "max_delay": 0.05,
        "timeout": 0.25,
        "max_attempts": 8,
    }
    return LLMConfig.from_env({}, base_url=url, **{**settings, **flags})


def hundreds_scenario(event, seed: int = 3) -> Scenario:
    return Scenario(
        event=event,
        mix=PersonalityMix.uniform(),
        network=NetworkSpec("random_regular", n=200, k=6),
        rounds=10,
        q=0.05,
        n0=10,
        seed=seed,
    )


def hidden_p(decisions, profiles) -> np.ndarray:
    """The server's sharing probability for each consultation in a decisions table."""
    out = []
    for agent, offline, m in zip(
        decisions["agent"], decisions["offline"], decisions["m"], strict=True
    ):
        levels = trait_levels(int(profiles[agent]))
        traits = dict(zip(TRAIT_WORDS, (levels[t] for t in "OCEAN"), strict=True))
        out.append(hidden_probability(traits, bool(offline), int(m)))
    return np.array(out)


def test_a_200_agent_run_through_20_percent_faults_then_a_replay_with_no_request(event, store):
    config = ServerConfig(faults=FAULTS_20, slow_seconds=0.5, retry_after="0.01", seed=1)
    with running_server(config) as server:
        started = time.perf_counter()
        with LLMPolicy(llm_config(server.base_url), store.con) as policy:
            (run_id,) = run_scenario(store, hundreds_scenario(event), policy)
            usage = policy.usage()
        elapsed = time.perf_counter() - started
        requests = server.requests
        injected = sum(v for k, v in server.counts.items() if k.startswith("fault_"))

        stored = store.load_run(run_id)
        decisions, curve = stored.decisions, stored.curve
        assert store.run_meta(run_id)["status"] == "complete" and len(curve) == 11
        invalid_rate = 1 - decisions["valid"].mean()
        print(
            f"\n200 agents x 10 rounds: {len(decisions)} consultations, {requests} requests "
            f"({injected} faults injected = {injected / requests:.0%}), retries "
            f"{usage['retries']}, re-asks {usage['reasked']}, invalid rate {invalid_rate:.2%}, "
            f"{elapsed:.1f} s"
        )
        assert 0.15 < injected / requests < 0.25
        assert curve["invalid"].sum() == (~decisions["valid"]).sum() == usage["invalid"]
        assert invalid_rate < 0.01, "three re-asks make an unusable reply very rare"
        assert not decisions.loc[~decisions["valid"], "post"].any()
        assert decisions.loc[~decisions["valid"], "reason"].notna().all()

        # in aggregate, agents the server makes likelier to share do share more
        valid = decisions[decisions["valid"]]
        p = hidden_p(valid, stored.profiles)
        posted = valid["post"].to_numpy()
        sd = np.sqrt((p * (1 - p)).sum())
        assert abs(posted.sum() - p.sum()) < 4 * sd, "sharing follows the hidden probabilities"
        high = p > np.median(p)
        assert posted[high].mean() > posted[~high].mean() + 0.1
        extravert = np.array([trait_levels(int(stored.profiles[a]))["E"] for a in valid["agent"]])
        assert posted[extravert].mean() > posted[~extravert].mean()

        # an identical re-run asks nothing and decides the same
        with LLMPolicy(llm_config(server.base_url), store.con) as policy:
            (replay_id,) = run_scenario(store, hundreds_scenario(event), policy)
            assert policy.usage()["cache_hits"] > 0 and policy.usage()["calls"] == 0
        assert server.requests == requests, "the replay made no HTTP request"
        replay = store.decisions(replay_id)
        assert replay[DECISION_COLUMNS].equals(decisions[DECISION_COLUMNS])


def spreadlab(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "spreadlab", *args],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=240)
    return process.returncode, out, err


def run_args(url: str, db: Path, *extra: str, **settings: object) -> list[str]:
    """``spreadlab run`` of sim-1 at ``url`` into ``db``: 200 agents, k = 6, 10 rounds, q = 0.05,
    10 seeds, seed 3, unless ``settings`` say otherwise (None leaves a flag to its default)."""
    chosen = {"n": 200, "k": 6, "rounds": 10, "q": 0.05, "n0": 10, "seed": 3} | settings
    flags = [[f"--{name}", str(value)] for name, value in chosen.items() if value is not None]
    return [
        *("run", "--backend", "llm", "--base-url", url, "--model", "sim-1"),
        *(word for flag in flags for word in flag),
        *("--db", str(db)),
        *extra,
    ]


def read_db(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def kill_after(answers: int, server, process: subprocess.Popen) -> None:
    """SIGKILL ``process`` once ``server`` has given ``answers`` good answers."""
    deadline = time.monotonic() + 120
    while server.counts["chat_ok"] < answers and process.poll() is None:
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL


def test_sigkill_mid_run_then_resume_matches_an_uninterrupted_replay(tmp_path):
    db = tmp_path / "runs.duckdb"
    config = ServerConfig(
        latency=0.01, faults={"429": 0.05, "bad_content": 0.05}, retry_after="0.01", seed=2
    )
    with running_server(config) as server:
        kill_after(200, server, spreadlab(*run_args(server.base_url, db, "--max-concurrency", "4")))

        ((run_id, status, done),) = read_db(db, "SELECT run_id, status, rounds_done FROM runs")
        assert status == "running" and 1 <= done < 11, "killed mid-run, some rounds stored"

        code, out, err = finish(spreadlab("resume", run_id, "--db", str(db)))
        assert code == 0, err
        assert f"{run_id}\tresumed" in out
        assert read_db(db, "SELECT status FROM runs WHERE run_id = ?", [run_id]) == [("complete",)]

        before = server.requests
        code, out, err = finish(spreadlab(*run_args(server.base_url, db)))
        assert code == 0, err
        assert server.requests == before, "the uninterrupted re-run replays from the cache"
        assert "0 calls to the endpoint" in err

    (replay_id,) = [r for (r,) in read_db(db, "SELECT run_id FROM runs") if r != run_id]
    columns = ", ".join(f'"{c}"' for c in DECISION_COLUMNS)
    query = f"SELECT {columns} FROM decisions WHERE run_id = ? ORDER BY round, agent"
    resumed, replayed = read_db(db, query, [run_id]), read_db(db, query, [replay_id])
    assert resumed == replayed and len(resumed) > 200
    keys = [(r[0], r[1]) for r in resumed]
    assert len(keys) == len(set(keys)), "no duplicated (round, agent)"
    consulted = read_db(
        db, "SELECT round, consulted FROM curves WHERE run_id = ? ORDER BY round", [run_id]
    )
    assert [r for r, _ in consulted] == list(range(len(consulted))), "no missing round"
    per_round = {r: sum(k[0] == r for k in keys) for r, _ in consulted}
    assert all(per_round[r] == n for r, n in consulted), "no missing (round, agent)"


def test_the_api_key_is_nowhere_at_rest_or_in_output(tmp_path):
    db = tmp_path / "runs.duckdb"
    wrong = "sk-wrong-key-echoed-back-1234"
    config = ServerConfig(
        api_key=KEY,
        faults={"429": 0.1, "bad_content": 0.05},
        reject_formats=frozenset({"json_schema"}),
        retry_after="0.01",
    )
    outputs = []
    with running_server(config) as server:
        args = run_args(server.base_url, db, "--max-concurrency", "8", seed=5)
        args[args.index("--n") + 1] = "60"
        code, out, err = finish(spreadlab(*args, env={"OPENAI_API_KEY": KEY}))
        outputs += [out, err]
        assert code == 0, err
        assert KEY in server.keys_seen, "the key was really sent"
        assert "falling back to json_object_schema" in err, "a warning was logged"
        (run_id,) = [r for (r,) in read_db(db, "SELECT run_id FROM runs")]
        for fmt in ("csv", "parquet"):
            exported = CliRunner().invoke(
                cli, ["export", run_id, str(tmp_path / fmt), "--format", fmt, "--db", str(db)]
            )
            outputs += [exported.stdout, exported.stderr]
            assert exported.exit_code == 0, exported.stderr

        code, out, err = finish(
            spreadlab(*run_args(server.base_url, db, seed=6), env={"OPENAI_API_KEY": wrong})
        )
        outputs += [out, err]
        assert code == 2 and "OPENAI_API_KEY" in err and "--api-key" in err
        assert wrong in server.keys_seen, "the server echoed the wrong key in its error"
        assert len(read_db(db, "SELECT run_id FROM runs")) == 1, "no run row for a refused key"

    provenance = read_db(db, "SELECT provenance FROM runs")[0][0]
    assert '"response_format": "json_object_schema"' in provenance
    for secret in (KEY, wrong):
        assert all(secret not in text for text in outputs)
        for path in [
            db,
            *tmp_path.glob("runs.duckdb*"),
            *tmp_path.rglob("*.csv"),
            *tmp_path.rglob("*.parquet"),
            *tmp_path.rglob("*.json"),
        ]:
            assert secret.encode() not in path.read_bytes(), path
        con = duckdb.connect(str(db), read_only=True)
        columns = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR'"
        ).fetchall()
        for table, column in columns:
            hits = con.execute(
                f'SELECT count(*) FROM "{table}" WHERE contains("{column}", ?)', [secret]
            ).fetchone()[0]
            assert hits == 0, (table, column)
        con.close()


@pytest.mark.parametrize(
    ("flags", "env", "named"),
    [
        (["--model", "gpt-nope"], {}, "unknown model 'gpt-nope'"),
        (["--base-url", "http://127.0.0.1:9/v1"], {}, "OPENAI_BASE_URL / the base URL"),
        (["--max-calls", "0"], {}, "max_calls = 0"),
        (["--max-tokens", "0"], {}, "max_tokens = 0"),
        (["--base-url", "https://api.openai.com/v1"], {}, "OPENAI_API_KEY"),
    ],
)
def test_bad_settings_fail_before_any_run_row(llm_server, tmp_path, flags, env, named, monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "runs.duckdb"
    small = {"n": 20, "k": 4, "rounds": 2, "q": None, "n0": None, "seed": None}
    args = run_args(llm_server.base_url, db, *flags, **small)
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code != 0 and result.exception is not None
    line = error_line(result.exception)
    assert named in line
    if result.exception.setting:  # the CLI names the option that changes the setting
        assert line.endswith(f"(use {option_for(result.exception.setting)})")
    with RunStore(db) as store:
        assert store.table_counts()["runs"] == 0
    assert llm_server.counts["POST /v1/chat/completions"] == 0


def test_a_spent_budget_stops_the_cli_run_and_resume_finishes_it(llm_server, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    db = tmp_path / "runs.duckdb"
    args = run_args(
        llm_server.base_url, db, "--max-calls", "25", n=60, k=4, rounds=5, q=0.1, n0=None, seed=None
    )
    result = CliRunner().invoke(cli, args)
    assert getattr(result.exception, "setting", None) == "max_calls"
    assert "spreadlab resume" in result.stderr and "25 calls to the endpoint" in result.stderr
    with RunStore(db) as store:
        ((run_id, status),) = store.list_runs()[["run_id", "status"]].itertuples(index=False)
    assert status == "interrupted"
    result = CliRunner().invoke(cli, ["resume", run_id, "--db", str(db)])
    assert result.exit_code == 0, result.stderr
    with RunStore(db) as store:
        assert store.run_meta(run_id)["status"] == "complete"
    result = CliRunner().invoke(cli, ["resume", run_id, "--db", str(db), "--temperature", "1.5"])
    assert "would mix settings" in str(result.exception)


def test_resume_continues_a_stochastic_run_too(event, store, tmp_path):
    spec = Scenario(
        event=event,
        mix=PersonalityMix.uniform(),
        network=NetworkSpec("random_regular", n=300, k=6),
        rounds=12,
        q=0.02,
        seed=4,
    )

    def stop_after_round_3(progress):
        if progress.round == 3:
            raise Cancelled

    with pytest.raises(Cancelled):
        run_scenario(store, spec, StochasticPolicy(), on_progress=stop_after_round_3)
    (run_id,) = store.list_runs()["run_id"]
    (whole_id,) = run_scenario(store, spec, StochasticPolicy())
    store.close()
    db = store.path
    result = CliRunner().invoke(cli, ["resume", run_id, "--db", db])
    assert result.exit_code == 0, result.output
    with RunStore(db) as again:
        assert again.run_meta(run_id)["status"] == "complete"
        assert again.decisions(run_id).equals(again.decisions(whole_id))


def test_unusable_replies_become_counted_invalid_decisions_that_replay(event, store):
    spec = Scenario(
        event=event,
        mix=PersonalityMix.uniform(),
        network=NetworkSpec("random_regular", n=60, k=4),
        rounds=4,
        q=0.2,
        seed=8,
    )
    with running_server(ServerConfig(faults={"bad_content": 0.5}, seed=3)) as server:
        with LLMPolicy(
            llm_config(server.base_url, parse_attempts=2, max_invalid_rate=1.0), store.con
        ) as policy:
            (run_id,) = run_scenario(store, spec, policy)
            usage = policy.usage()
        requests = server.requests
        decisions, curve = store.decisions(run_id), store.curve(run_id)
        invalid = decisions[~decisions["valid"]]
        assert 0.1 < len(invalid) / len(decisions) < 0.45  # about 0.5^2 of consultations
        assert usage["invalid"] == len(invalid) == curve["invalid"].sum()
        assert invalid["reason"].str.startswith("unparseable reply after 2 attempt(s)").all()
        assert not invalid["post"].any()
        with LLMPolicy(
            llm_config(server.base_url, parse_attempts=2, max_invalid_rate=1.0), store.con
        ) as policy:
            (replay_id,) = run_scenario(store, spec, policy)
        assert server.requests == requests
        assert store.decisions(replay_id)[DECISION_COLUMNS].equals(decisions[DECISION_COLUMNS])
