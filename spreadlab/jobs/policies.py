"""The policy of a run or a resume: stochastic or LLM, rebuilt from provenance, with its reports.

``spreadlab run`` and ``spreadlab resume RUN_ID`` (in :mod:`spreadlab.cli`) and the dashboard use
:func:`open_policy` / :func:`resume_policy`. Nothing here prints: what a person should read (cost
estimates, the backend in use, the usage report, where to resume) goes to a ``note`` callback.
Before a fresh run the endpoint is checked (it answers, takes the key, serves the model, and which
response format it accepts) unless the replay cache already holds answers for this endpoint,
model and seed — so a bad setting fails before any run row is written, and a replay makes no
request at all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from spreadlab.engine.policy import Policy
from spreadlab.engine.simulate import Scenario
from spreadlab.engine.stochastic import ParameterTable, StochasticPolicy
from spreadlab.errors import ConfigError, SpreadLabError
from spreadlab.lazy import lazy_import
from spreadlab.store.queries import cache_has_answers, newest_interrupted_run, save_provenance
from spreadlab.store.runs import RunStore

if TYPE_CHECKING:  # imported when an LLM run starts: a stochastic run needs none of it
    from spreadlab.llm.config import LLMConfig
    from spreadlab.llm.estimate import Price, RunEstimate
    from spreadlab.llm.policy import LLMPolicy

llm_base = lazy_import("spreadlab.llm.base")
llm_config = lazy_import("spreadlab.llm.config")
llm_estimate = lazy_import("spreadlab.llm.estimate")
openai_chat = lazy_import("spreadlab.llm.openai_chat")

Note = Callable[[str], None]
"""Where a policy's messages for a person go (the CLI: standard error; the dashboard: nowhere)."""


def silent(text: str) -> None:
    """A :data:`Note` that drops ``text``."""


# Flags that shape decisions: a resume must use the run's own values.
_SCIENCE = {
    "model": "model",
    "temperature": "temperature",
    "max_reply_tokens": "max_reply_tokens",
    "feed_size": "prompt_feed_size",
    "post_chars": "prompt_post_chars",
}


def scenario_estimate(
    config: LLMConfig, scenario: Scenario, prices: list[Price] | None = None
) -> RunEstimate:
    """Upper bounds on the calls, tokens and cost of running ``scenario`` with ``config``."""
    return llm_estimate.estimate_run(
        config,
        scenario.event,
        n_agents=scenario.network.n,
        rounds=scenario.rounds,
        n0=scenario.n0,
        replicates=scenario.replicates,
        prices=prices,
    )


@contextmanager
def open_policy(
    backend: str,
    store: RunStore,
    table: ParameterTable,
    scenarios: list[Scenario],
    llm_opts: dict[str, Any],
    note: Note = silent,
) -> Iterator[Policy]:
    """The policy of a fresh run; for ``llm``: estimate, check, report, close. ``note`` receives
    the cost estimate per scenario, the backend line and the usage report."""
    if backend == "stochastic":
        yield StochasticPolicy(table)
        return
    prices = llm_opts.get("prices")
    config = llm_config.LLMConfig.from_env(**llm_opts)
    table_of_prices = llm_estimate.load_prices(prices)
    for scenario in scenarios:
        estimate = scenario_estimate(config, scenario, table_of_prices)
        note(f"{scenario.event.id}: {estimate.summary()}")
    with llm_session(store, config, prices, note) as policy:
        seeds = {s.seed for s in scenarios}
        if not cache_has_answers(store, policy.endpoint, config.model, seeds):
            policy.check_endpoint()
        note(f"backend: llm — {policy.describe()}")
        yield policy


@contextmanager
def resume_policy(
    store: RunStore, run_id: str, llm_opts: dict[str, Any], note: Note = silent
) -> Iterator[Policy]:
    """The policy that continues run ``run_id``, rebuilt from its provenance; ``note`` as for
    :func:`open_policy`."""
    provenance = json.loads(store.run_meta(run_id)["provenance"])
    backend = provenance.get("backend")
    if backend == "stochastic":
        with _stored_settings(run_id, checked_too=True):
            table = ParameterTable(
                np.array(provenance["a"]), np.array(provenance["b"]), provenance["parameter_table"]
            )
        yield StochasticPolicy(table)
        return
    if backend != "llm":
        raise ConfigError(
            f"run {run_id} has backend {backend!r}; only stochastic and llm runs can be resumed"
        )
    for flag, key in _SCIENCE.items():
        given = llm_opts.get(flag)
        if given is not None and given != provenance.get(key):
            raise ConfigError(
                f"run {run_id} used {key} = {provenance.get(key)!r}; resuming it with "
                f"--{flag.replace('_', '-')} {given!r} would mix settings in one run"
            )
    settings = {flag: provenance[key] for flag, key in _SCIENCE.items() if key in provenance}
    settings["parse_attempts"] = provenance.get("parse_attempts")
    settings["base_url"] = resume_endpoint(
        run_id,
        str(provenance.get("endpoint") or ""),
        llm_opts.get("base_url"),
        llm_opts.get("api_key"),
    )
    if provenance.get("response_format_setting", "auto") != "auto":
        settings["response_format"] = provenance["response_format_setting"]
    given = {k: v for k, v in llm_opts.items() if k not in _SCIENCE}
    with _stored_settings(run_id):
        config = llm_config.LLMConfig.from_env(
            **{**given, **{k: v for k, v in settings.items() if given.get(k) is None}}
        )
    _record_endpoint(store, run_id, provenance, openai_chat.endpoint_url(config.base_url), note)
    with llm_session(store, config, llm_opts.get("prices"), note, run_id) as policy:
        note(f"backend: llm — {policy.describe()}")
        yield policy


def _record_endpoint(
    store: RunStore, run_id: str, provenance: dict[str, Any], endpoint: str, note: Note
) -> None:
    """A resume against another endpoint than the run's is said, and kept in its provenance
    (``resumed_endpoints``), so the run never claims one endpoint for answers from two."""
    stored = str(provenance.get("endpoint") or "")
    if endpoint == stored.rstrip("/") or endpoint in provenance.get("resumed_endpoints", []):
        return
    note(
        f"note: run {run_id} was made against {stored or 'an unrecorded endpoint'}; its "
        f"remaining rounds ask {endpoint} (recorded in its provenance)"
    )
    provenance["resumed_endpoints"] = [*provenance.get("resumed_endpoints", []), endpoint]
    save_provenance(store, run_id, provenance)


@contextmanager
def _stored_settings(run_id: str, checked_too: bool = False) -> Iterator[None]:
    """Settings read from a run's provenance that cannot be used end in one line, not a crash;
    ``checked_too``: also the :class:`ConfigError` of a check that refused them."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, ConfigError) and not checked_too:
            raise
        raise ConfigError(
            f"run {run_id}: its stored policy settings are damaged ({type(exc).__name__}: "
            f"{str(exc)[:80]}); import it again from a good export"
        ) from None


def resume_endpoint(
    run_id: str,
    stored: str,
    flag: str | None,
    key: str | None,
    env: Mapping[str, str] | None = None,
) -> str:
    """The endpoint a resume talks to: the one configured in this invocation, never a stored one
    that would receive a key it was not explicitly given.

    ``flag`` (``--base-url`` or the dashboard's endpoint field) wins. Otherwise
    ``OPENAI_BASE_URL`` must name the run's own endpoint; with neither, the stored endpoint is used
    only when no key would be sent. Anything else stops with both hosts named.
    """
    env = os.environ if env is None else env
    if flag:
        return flag
    configured = env.get("OPENAI_BASE_URL") or None
    key = key or env.get("OPENAI_API_KEY") or None
    if not stored:
        raise ConfigError(
            f"run {run_id} records no endpoint; give its base URL (base_url) to say where to "
            "resume it",
            setting="base_url",
        )
    if configured is None and key is None:
        return stored
    url, host = openai_chat.endpoint_url, openai_chat.endpoint_host
    if configured is not None and url(configured) == url(stored):
        return configured
    where = (
        f"OPENAI_BASE_URL points at {host(configured)}"
        if configured
        else ("no endpoint is configured (OPENAI_BASE_URL or base_url)")
    )
    raise ConfigError(
        f"run {run_id} was made against {host(stored)}, but {where}; an API key is only "
        f"sent where you say. Resume with base URL {url(stored)} to use the run's "
        "endpoint"
        + (f", or base URL {url(configured)} to use the configured one" if configured else ""),
        setting="base_url",
    )


def stored_endpoint(store: RunStore, run_id: str) -> str:
    """The endpoint URL recorded in an LLM run's provenance ('' when none)."""
    provenance = json.loads(store.run_meta(run_id)["provenance"])
    return str(provenance.get("endpoint") or "")


@contextmanager
def llm_session(
    store: RunStore,
    config: LLMConfig,
    prices: str | None,
    note: Note,
    run_id: str | None = None,
    resume_hint: bool = True,
) -> Iterator[LLMPolicy]:
    """An LLM policy on ``store``: where to resume is noted when it stops (unless
    ``resume_hint`` is False: a sweep resumes by running its grid again, not a run), the usage
    report when it made any call, and it is closed in every case."""
    from spreadlab.llm.policy import LLMPolicy

    policy = LLMPolicy(config, store.con)
    try:
        yield policy
    except (llm_base.FatalLLMError, KeyboardInterrupt):
        hint = _resume_hint(store, run_id) if resume_hint else None
        if hint:
            note(hint)
        raise
    finally:
        try:
            if policy.consultations or policy.usage()["calls"]:
                note(usage_report(policy, config.model, prices))
        finally:
            policy.close()


def usage_report(policy: LLMPolicy, model: str, prices: str | None = None) -> str:
    """One paragraph: consultations, invalid rate, calls, cache, tokens, retries, cost."""
    u = policy.usage()
    retries = ", ".join(f"{k}: {v}" for k, v in sorted(u["retries"].items())) or "none"
    text = (
        f"LLM usage: {u['consultations']} consultations, {u['invalid']} invalid "
        f"({u['invalid_rate']:.1%}; {u['refused']} refused by the endpoint); {u['calls']} calls "
        f"to the endpoint ({u['http_attempts']} HTTP attempts, retries {retries}), "
        f"{u['cache_hits']} answers replayed from the cache; {u['prompt_tokens']} prompt + "
        f"{u['completion_tokens']} completion tokens; response format {u['response_format']}"
    )
    try:
        price = llm_estimate.price_for(model, llm_estimate.load_prices(prices))
    except SpreadLabError:
        price = None
    if price is not None:
        cost = (
            u["prompt_tokens"] * price.input_per_million
            + u["completion_tokens"] * price.output_per_million
        ) / 1e6
        text += f"; cost ≈ {cost:.4f} {price.currency}"
    return text


def _resume_hint(store: RunStore, run_id: str | None) -> str | None:
    """Where a stopped run continues: ``run_id``, else the newest interrupted run of the store."""
    run_id = run_id or newest_interrupted_run(store)
    if run_id is None:
        return None
    return f"run {run_id} stopped and can be continued: spreadlab resume {run_id} --db {store.path}"
