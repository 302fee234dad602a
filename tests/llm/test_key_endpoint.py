"""The API key goes only to the endpoint configured in this invocation, never to one a run names.

Two loopback servers: A is configured (flag, environment or dashboard field), B is the endpoint
written into an imported run's provenance. B must never receive a request.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
from apptest_support import app, by_label, texts
from click.testing import CliRunner
from llm_server import ServerConfig, running_server

from spreadlab.cli import cli
from spreadlab.llm.openai_chat import endpoint_host
from spreadlab.store.runs import RunStore

KEY = "sk-two-servers-secret-5d1"
SMALL = ["--n", "60", "--k", "4", "--rounds", "5", "--q", "0.1", "--model", "sim-1"]


@pytest.fixture
def servers():
    with running_server(ServerConfig(api_key=KEY)) as a, running_server() as b:
        yield a, b


def invoke(args: list[str], **env: str | None):
    base = {"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None}
    return CliRunner().invoke(cli, args, env={**base, **env})


def interrupted_run_naming(a_url: str, b_url: str, tmp_path: Path, copies: int) -> Path:
    """A database with ``copies`` imported interrupted LLM runs made at A whose provenance names
    B as their endpoint (the hostile run folder of the issue)."""
    db = tmp_path / "runs.duckdb"
    made = invoke(
        [
            "run",
            "--backend",
            "llm",
            "--base-url",
            a_url,
            "--max-calls",
            "8",
            "--db",
            str(db),
            *SMALL,
        ],
        OPENAI_API_KEY=KEY,
    )
    assert getattr(made.exception, "setting", None) == "max_calls", made.output
    with RunStore(db) as store:
        (run_id,) = store.list_runs()["run_id"]
    assert invoke(["export", run_id, str(tmp_path / "out"), "--db", str(db)]).exit_code == 0
    meta_path = tmp_path / "out" / run_id / "run.json"
    meta = json.loads(meta_path.read_text())
    provenance = json.loads(meta["provenance"])
    provenance["endpoint"] = b_url
    meta["provenance"] = json.dumps(provenance)
    for i in range(copies):
        meta["run_id"] = f"hostile-{i}"
        meta_path.write_text(json.dumps(meta))
        assert invoke(["import", str(meta_path.parent), "--db", str(db)]).exit_code == 0
    return db


def test_cli_resume_sends_the_key_only_to_the_configured_endpoint(servers, tmp_path):
    a, b = servers
    db = interrupted_run_naming(a.base_url, b.base_url, tmp_path, copies=1)
    resume = ["resume", "hostile-0", "--db", str(db)]

    refused = invoke(resume, OPENAI_API_KEY=KEY)
    assert endpoint_host(b.base_url) in str(refused.exception)
    assert f"base URL {b.base_url}" in str(refused.exception)
    assert getattr(refused.exception, "setting", None) == "base_url"
    refused = invoke(resume, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=a.base_url)
    message = str(refused.exception)
    assert endpoint_host(a.base_url) in message and endpoint_host(b.base_url) in message
    with RunStore(db) as store:
        assert store.run_meta("hostile-0")["status"] == "interrupted"

    before = a.requests
    done = invoke([*resume, "--base-url", a.base_url], OPENAI_API_KEY=KEY)
    assert done.exit_code == 0, done.output
    assert a.requests > before and b.requests == 0 and not b.keys_seen
    assert f"its remaining rounds ask {a.base_url}" in done.stderr
    with RunStore(db) as store:
        provenance = json.loads(store.run_meta("hostile-0")["provenance"])
    assert provenance["endpoint"] == b.base_url and provenance["resumed_endpoints"] == [a.base_url]


def test_dashboard_resume_shows_the_host_and_sends_the_key_there_only(
    servers, tmp_path, monkeypatch
):
    a, b = servers
    db = interrupted_run_naming(a.base_url, b.base_url, tmp_path, copies=2)
    monkeypatch.setenv("SPREADLAB_DB", str(db))
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()

    at = app("pages/1_Scenario_and_run.py", run="hostile-0")
    field = by_label(at.text_input, "Endpoint to resume against")
    assert field.value == b.base_url  # the stored host is shown before any click
    monkeypatch.setenv("OPENAI_BASE_URL", a.base_url)
    at = app("pages/1_Scenario_and_run.py", run="hostile-1")
    assert by_label(at.text_input, "Endpoint to resume against").value == a.base_url
    assert b.base_url in texts(at.caption)
    by_label(at.button, "Resume this run").click()
    at.run()
    assert not at.exception and "Run hostile-1 is complete." in texts(at.success)
    assert a.requests > 0 and b.requests == 0 and not b.keys_seen
    st.cache_resource.clear()


def test_a_fresh_run_sends_the_key_only_to_the_configured_endpoint(servers, tmp_path):
    a, b = servers
    db = interrupted_run_naming(a.base_url, b.base_url, tmp_path, copies=1)
    done = invoke(
        ["run", "--backend", "llm", "--seed", "9", "--db", str(db), *SMALL],
        OPENAI_API_KEY=KEY,
        OPENAI_BASE_URL=a.base_url,
    )
    assert done.exit_code == 0, done.output
    assert b.requests == 0 and a.keys_seen == {KEY}
