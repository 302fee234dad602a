"""Hostile LLM endpoints: broken replies, permanent refusals and Retry-After tricks.

Through the real ``openai`` client against the local fault-injecting server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict

import pytest
from click.testing import CliRunner
from llm_server import ServerConfig, running_server

from spreadlab.cli import cli
from spreadlab.engine.simulate import Scenario
from spreadlab.errors import Cancelled
from spreadlab.jobs.runner import run_scenario
from spreadlab.llm.base import ChatRequest, TooManyInvalid, TransientError
from spreadlab.llm.config import LLMConfig
from spreadlab.llm.openai_chat import OpenAIChat
from spreadlab.llm.policy import LLMPolicy
from spreadlab.llm.retry import Retry
from spreadlab.llm.scripted import ScriptedChat
from spreadlab.store.runs import RunStore
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PersonalityMix

FAULT_MIX = {
    "surrogate": 0.03,
    "nul": 0.03,
    "huge": 0.03,
    "content_filter": 0.03,
    "empty_choices": 0.03,
}
COLUMNS = ["round", "agent", "offline", "m", "post", "valid", "text", "reason"]


def config(url: str, **flags) -> LLMConfig:
    settings = {"model": "sim-1", "base_delay": 0.01, "max_delay": 0.05, "timeout": 2.0}
    return LLMConfig.from_env({}, base_url=url, **{**settings, **flags})


def scenario(event, n: int = 300) -> Scenario:
    return Scenario(
        event=event,
        mix=PersonalityMix.uniform(),
        network=NetworkSpec("random_regular", n=n, k=6),
        rounds=8,
        q=0.1,
        n0=20,
        seed=11,
    )


def test_a_fault_mix_run_completes_and_resume_and_replay_ask_nothing(event, tmp_path):
    db = tmp_path / "runs.duckdb"
    server_config = ServerConfig(prompt_faults=FAULT_MIX, faults={"429": 0.02}, retry_after="0")
    with running_server(server_config) as server, RunStore(db) as store:
        with LLMPolicy(config(server.base_url), store.con) as policy:
            (first,) = run_scenario(store, scenario(event), policy, scenario_id="first")
            usage = policy.usage()
        assert store.run_meta(first)["status"] == "complete"
        for fault in FAULT_MIX:
            assert server.counts[f"prompt_{fault}"] > 0, fault
        decisions = store.decisions(first)
        refused = decisions["reason"].fillna("").str.startswith("request refused")
        assert refused.sum() == (
            server.counts["prompt_content_filter"] + server.counts["prompt_empty_choices"]
        )
        assert usage["refused"] == refused.sum() and 0 < usage["invalid_rate"] < 0.25
        assert decisions.loc[refused, "reason"].str.contains("HTTP 400|no choices").all()
        assert (~decisions["valid"]).sum() == refused.sum(), "odd replies stay valid decisions"
        texts = decisions["text"].dropna()
        assert texts.str.contains("\ufffd").any(), "surrogates and NULs replaced, still valid"
        assert texts.str.len().max() == 1000, "a 100 KB reply is a valid post, its text capped"
        assert not texts.str.contains("\x00").any()

        requests = server.requests

        def stop_at_round_4(progress) -> None:
            if progress.round == 4:
                raise Cancelled

        with LLMPolicy(config(server.base_url), store.con) as policy, pytest.raises(Cancelled):
            run_scenario(
                store, scenario(event), policy, scenario_id="again", on_progress=stop_at_round_4
            )
        assert store.run_meta("again-000")["status"] == "interrupted"
        result = CliRunner().invoke(
            cli,
            ["resume", "again-000", "--db", str(db), "--base-url", server.base_url],
            env={"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None},
        )
        assert result.exit_code == 0, result.output
        assert "0 calls to the endpoint" in result.stderr
        assert server.requests == requests, "replay and resume made no request"
        again = store.decisions("again-000")
    assert again[COLUMNS].equals(decisions[COLUMNS])


def test_too_many_refusals_stop_the_run_resumably(event, store):
    refusing = ScriptedChat(lambda r: '{"post": false}')
    refusing.complete = _rejecting(refusing)
    policy = LLMPolicy(config("http://127.0.0.1:9/v1", max_invalid_rate=0.25), core=refusing)
    with policy, pytest.raises(TooManyInvalid, match=r"above the limit of 25%.*max_invalid_rate"):
        run_scenario(store, scenario(event, n=120), policy, scenario_id="bad")
    assert store.run_meta("bad-000")["status"] == "interrupted"


def _rejecting(model: ScriptedChat):
    """Odd agents' requests are refused for good (as a content filter would)."""
    plain = model.complete

    async def complete(request: ChatRequest):
        reply = await plain(request)
        if request.tag is not None and request.tag.agent % 2:
            return type(reply)("", rejected="stopped by the content filter")
        return reply

    return complete


@pytest.mark.parametrize(
    ("text", "valid", "shown"),
    [
        ('{"post": true, "text": "a\ud800b"}', True, "a\ufffdb"),
        ('{"post": true, "text": "a\\ud800b"}', True, "a\ufffdb"),
        ('{"post": true, "text": "nul\x00here"}', True, "nul\ufffdhere"),
        ('{"post": true, "text": "' + "x" * 100_000 + '"}', True, "x" * 1000),
        ("\x00" * 300_000, False, None),
        ('{"post": "\ud800"}', False, None),
    ],
    ids=["raw surrogate", "escaped surrogate", "NUL", "100 KB", "300 KB of NUL", "bad post"],
)
def test_reply_text_is_normalised_before_it_is_parsed_and_stored(event, store, text, valid, shown):
    policy = LLMPolicy(
        config("http://127.0.0.1:9/v1"), store.con, core=ScriptedChat(lambda r: text)
    )
    sc = Scenario(event, PersonalityMix.uniform(), NetworkSpec(n=20, k=4), rounds=1, n0=2, seed=1)
    with policy:
        (run_id,) = run_scenario(store, sc, policy, scenario_id="norm")
    decisions = store.decisions(run_id)
    assert (decisions["valid"] == valid).all()
    if shown is not None:
        assert (decisions["text"] == shown).all()
    else:
        assert decisions["reason"].str.len().max() < 400
    replies = store.con.execute("SELECT reply FROM llm_calls").fetchall()
    assert all("\x00" not in r and len(r) <= 200_000 for (r,) in replies)


@pytest.mark.parametrize("retry_after", ["0", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_retry_after_never_shortens_the_backoff(retry_after):
    base = 0.04
    server_config = ServerConfig(faults={"429": 0.5}, retry_after=retry_after, seed=4)
    with running_server(server_config) as server:
        retry = Retry(
            OpenAIChat(base_url=server.base_url, api_key="k"),
            max_attempts=20,  # a 50% 429 rate must not exhaust them (0.5^20)
            base_delay=base,
            max_delay=1.0,
        )

        async def ask_all() -> None:
            requests = [
                ChatRequest(
                    (("system", "You are high in extraversion."), ("user", f"question {i}")),
                    "sim-1",
                    0.0,
                    50,
                )
                for i in range(12)
            ]
            await asyncio.gather(*(retry.complete(r) for r in requests))
            await retry.inner.aclose()

        asyncio.run(ask_all())
        arrivals = defaultdict(list)
        for digest, when in server.arrivals:
            arrivals[digest].append(when)
    gaps = [
        (n, later - earlier)
        for times in arrivals.values()
        for n, (earlier, later) in enumerate(itertools.pairwise(times), start=1)
    ]
    assert gaps and retry.retries["429"] == len(gaps)
    floor = [0.5 * min(1.0, base * 2 ** (n - 1)) for n, _ in gaps]
    assert all(gap >= low - 0.002 for (_, gap), low in zip(gaps, floor, strict=True)), gaps


def test_retry_after_is_a_lower_bound_in_the_delay():
    retry = Retry(ScriptedChat(lambda r: ""), base_delay=1.0, max_delay=8.0)
    for attempt in range(1, 5):
        floor = 0.5 * min(8.0, 2 ** (attempt - 1))
        assert retry.delay(attempt, 0.0) >= floor
        assert retry.delay(attempt, -5.0) >= floor
        assert retry.delay(attempt, 20.0) >= 20.0
    assert isinstance(TransientError("x", kind="429", retry_after=0.0).retry_after, float)


def test_a_run_whose_writer_was_killed_shows_interrupted_and_resumes(tmp_path, monkeypatch):
    import streamlit
    from apptest_support import app, by_label
    from test_llm_integration import kill_after, run_args, spreadlab

    db = tmp_path / "runs.duckdb"
    with running_server(ServerConfig(latency=0.01)) as server:
        kill_after(
            150, server, spreadlab(*run_args(server.base_url, db, "--max-concurrency", "4", seed=5))
        )

        listed = CliRunner().invoke(cli, ["runs", "--db", str(db)])
        with RunStore(db) as store:
            ((run_id, stored),) = store.con.execute("SELECT run_id, status FROM runs").fetchall()
        assert stored == "running", "the killed writer left it running"
        assert "interrupted" in listed.output and "running" not in listed.output
        assert f"spreadlab resume {run_id} --db {db}" in listed.output

        monkeypatch.setenv("SPREADLAB_DB", str(db))
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
        streamlit.cache_data.clear()
        streamlit.cache_resource.clear()
        at = app("pages/1_Scenario_and_run.py", run=run_id)
        assert not at.exception
        statuses = at.dataframe[0].value.set_index("run_id")["status"]
        assert statuses[run_id] == "interrupted"
        assert by_label(at.text_input, "Endpoint to resume against").value == server.base_url
        by_label(at.button, "Resume this run").click()  # offered, as for any interrupted run
        at.run()
        assert not at.exception and not at.error, [e.value for e in at.error]
    with RunStore(db) as store:
        assert store.run_meta(run_id)["status"] == "complete"
