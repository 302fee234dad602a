"""The LLM policy in the round loop, with scripted models (no HTTP): decisions, invalid replies,
replicates, fatal errors, the budget and resuming."""

from __future__ import annotations

import asyncio
import json

import duckdb
import numpy as np
import pytest
from llm_server import hidden_answer

from spreadlab.engine.policy import ConsultationBatch
from spreadlab.engine.simulate import Scenario
from spreadlab.jobs.runner import resume_run, run_scenario
from spreadlab.llm.base import AuthError, BudgetExhausted, FormatRejected
from spreadlab.llm.config import LLMConfig
from spreadlab.llm.policy import LLMPolicy
from spreadlab.llm.scripted import ScriptedChat
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PersonalityMix

KEY = "sk-policy-test-key-4242"


def config(**flags) -> LLMConfig:
    return LLMConfig.from_env({}, base_url="http://127.0.0.1:9/v1", model="sim-1", **flags)


def hidden(request) -> str:
    """The test server's hidden sharing rules, without the server."""
    return json.dumps(
        hidden_answer(
            {
                "messages": request.message_dicts(),
                "seed": request.seed,
                "temperature": request.temperature,
            }
        )
    )


def consultations(core: ScriptedChat) -> list:
    """The calls that asked an agent (not the endpoint check's probe)."""
    return [c for c in core.calls if c.tag is not None]


def batch(event, n: int = 6, round_: int = 0) -> ConsultationBatch:
    return ConsultationBatch(
        run_seed=5,
        round=round_,
        agents=np.arange(n),
        offline=np.ones(n, dtype=bool),
        m=np.zeros(n, dtype=np.int32),
        profiles=(np.arange(n) % 32).astype(np.int8),
        event=event,
        feed=lambda agent: [],
    )


def scenario(event, n: int = 60, rounds: int = 6, replicates: int = 1) -> Scenario:
    return Scenario(
        event=event,
        mix=PersonalityMix.uniform(),
        network=NetworkSpec("random_regular", n=n, k=4),
        rounds=rounds,
        q=0.05,
        n0=4,
        replicates=replicates,
        seed=11,
    )


def test_decisions_and_invalid_replies_with_reasons(event, rng):
    def script(request):
        agent, attempt = request.tag.agent, request.tag.attempt
        if agent == 0:
            return '{"post": true, "text": "yes\\u0001 sharing"}'
        if agent == 1:
            return "I would rather not say."  # never parseable
        if agent == 2 and attempt == 0:
            return '{"post": tru'  # parseable on the re-ask
        return '{"post": false, "text": ""}'

    core = ScriptedChat(script)
    with LLMPolicy(config(parse_attempts=3), core=core) as policy:
        decisions = policy.decide(batch(event), rng)
        usage = policy.usage()
    assert decisions.post.tolist() == [True, False, False, False, False, False]
    assert decisions.valid.tolist() == [True, False, True, True, True, True]
    assert decisions.texts[0] == "yes  sharing" and decisions.texts[1] is None
    assert "unparseable reply after 3 attempt(s)" in decisions.reasons[1]
    assert "no JSON object" in decisions.reasons[1]
    assert decisions.reasons[0] is None and decisions.reasons[2] is None
    assert sum(c.tag.agent == 1 for c in consultations(core)) == 3
    assert usage["invalid"] == 1 and usage["reasked"] == 3 and usage["calls"] == 9


def test_replicates_and_rounds_never_share_a_sampled_answer(event, store):
    core = ScriptedChat(hidden)
    with LLMPolicy(config(), store.con, core=core) as policy:
        run_scenario(store, scenario(event, replicates=2), policy)
    calls = consultations(core)
    tags = [(c.tag.stream, c.tag.round, c.tag.agent, c.tag.attempt) for c in calls]
    assert len(tags) == len(set(tags))
    streams = {c.tag.round: set() for c in calls}
    for c in calls:
        streams[c.tag.round].add(c.tag.stream)
    assert any(len(s) == 2 for s in streams.values()), "each replicate draws its own stream"
    keys = store.con.execute("SELECT count(*), count(DISTINCT key) FROM llm_calls").fetchone()
    assert keys[0] == keys[1] == len(calls)


def test_a_fatal_error_stops_the_round_without_asking_everyone(event, rng):
    core = ScriptedChat(lambda _: AuthError("refused: set OPENAI_API_KEY"))
    with LLMPolicy(config(max_concurrency=2), core=core) as policy, pytest.raises(AuthError):
        policy.decide(batch(event, n=50), rng)
    assert len(core.calls) <= 4


def test_budget_stops_cleanly_and_a_resume_matches_an_uninterrupted_replay(event, store):
    spec = scenario(event)
    core = ScriptedChat(hidden)
    with (
        LLMPolicy(config(max_calls=40, max_concurrency=4), store.con, core=core) as policy,
        pytest.raises(BudgetExhausted, match=r"call budget \(max_calls\)"),
    ):
        run_scenario(store, spec, policy)
    assert len(consultations(core)) == 40
    (run_id,) = store.list_runs()["run_id"]
    meta = store.run_meta(run_id)
    assert meta["status"] == "interrupted" and 0 < meta["rounds_done"] <= spec.rounds
    cached = store.con.execute("SELECT count(*) FROM llm_calls").fetchone()[0]
    assert cached == 40, "answers paid for before the stop are kept"

    with LLMPolicy(config(), store.con, core=core) as policy:
        resume_run(store, run_id, policy)
    assert store.run_meta(run_id)["status"] == "complete"
    resumed = store.decisions(run_id)
    assert not resumed.duplicated(["round", "agent"]).any()

    replay_core = ScriptedChat(hidden)
    with LLMPolicy(config(), store.con, core=replay_core) as policy:
        (replay_id,) = run_scenario(store, spec, policy)
    assert not replay_core.calls, "an identical run replays from the cache"
    replay = store.decisions(replay_id)
    columns = ["round", "agent", "offline", "m", "post", "valid", "text"]
    assert resumed[columns].equals(replay[columns])


def test_provenance_names_the_endpoint_and_model_but_no_key(event, rng):
    cfg = LLMConfig.from_env(
        {"OPENAI_API_KEY": KEY}, base_url="https://u:pw@llm.example.org/v1?token=abc", model="m"
    )
    with LLMPolicy(cfg, core=ScriptedChat(hidden)) as policy:
        policy.decide(batch(event), rng)
        provenance = policy.provenance()
    assert provenance["backend"] == "llm" and provenance["synthetic"] is False
    assert provenance["endpoint_host"] == "llm.example.org" and provenance["model"] == "m"
    assert provenance["response_format"] == "json_schema" and provenance["temperature"] == 0.7
    text = json.dumps(provenance)
    assert KEY not in text and "abc" not in text and "pw" not in text


def test_decide_works_from_inside_a_running_event_loop(event, rng):
    async def notebook():
        with LLMPolicy(config(), core=ScriptedChat(hidden)) as policy:
            return policy.decide(batch(event), rng)

    assert asyncio.run(notebook()).valid.all()


def test_the_cache_lives_in_the_store_database(event, rng, tmp_path):
    con = duckdb.connect(str(tmp_path / "cache.duckdb"))
    core = ScriptedChat(hidden)
    with LLMPolicy(config(), con, core=core) as policy:
        first = policy.decide(batch(event), np.random.default_rng(1))
    with LLMPolicy(config(), con, core=core) as policy:
        again = policy.decide(batch(event), np.random.default_rng(1))
        assert policy.usage()["cache_hits"] == 6
    assert len(core.calls) == 6 and (first.post == again.post).all()


def test_an_interrupt_cancels_the_calls_in_flight_and_keeps_the_answers(event, rng):
    con = duckdb.connect(":memory:")

    class Interrupted(ScriptedChat):
        async def complete(self, request):
            if request.tag.agent == 5:
                await asyncio.sleep(0.02)
                raise KeyboardInterrupt
            if request.tag.agent > 5:
                await asyncio.sleep(10)
            return await super().complete(request)

    policy = LLMPolicy(config(), con, core=Interrupted(hidden))
    with pytest.raises(KeyboardInterrupt):
        policy.decide(batch(event, n=12), rng)
    assert not asyncio.all_tasks(policy._runner.loop), "nothing left running"
    policy.close()
    assert con.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == 5


def test_a_run_records_the_response_format_the_endpoint_accepted(event, store):
    def refuses_json_schema(request):
        if request.response_format == "json_schema":
            return FormatRejected("Input should be 'text' or 'json_object'")
        return hidden(request)

    core = ScriptedChat(refuses_json_schema)
    with LLMPolicy(config(), store.con, core=core) as policy:
        run_ids = run_scenario(store, scenario(event, replicates=2), policy)
    for run_id in run_ids:
        provenance = json.loads(store.run_meta(run_id)["provenance"])
        assert provenance["response_format"] == "json_object_schema"
    probes = [c for c in core.calls if c.tag is None]
    assert [c.response_format for c in probes] == ["json_schema", "json_object_schema"]
    assert {c.response_format for c in consultations(core)} == {"json_object_schema"}
