"""The LLM cells of a sweep: run in the writing process, through one LLM policy for the sweep.

LLM cells are I/O bound and their consultations already run concurrently, so they never go to
pool or Dask workers: they run here, one after another, with one :class:`LLMPolicy` for the
whole sweep — one replay cache (in the sweep's database), one concurrency limit and ONE budget
(calls, tokens, cost) shared by all of them, exactly the layers of ``spreadlab run --backend
llm``. The policy is opened before the sweep computes any cell, stochastic ones included: the
cost estimate of the LLM cells still to run is noted first, then the endpoint is checked.

When the budget runs out, the cell in progress and every later LLM cell that needs a new call is
returned ``not_run`` with the reason (cells whose answers are all in the replay cache still
complete). The answers a stopped cell did get stay in the cache, so re-running the grid with a
larger budget replays them and goes on. Any other error that stops LLM agents (a refused key, too
many invalid replies) fails the cell it happened in and leaves the remaining LLM cells not run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from spreadlab.engine.policy import Policy
from spreadlab.jobs.policies import Note, llm_session, scenario_estimate
from spreadlab.jobs.sweep_cell import CellResult, CellTask, run_cell
from spreadlab.jobs.sweep_grid import Grid
from spreadlab.llm.base import BudgetExhausted, FatalLLMError
from spreadlab.llm.config import LLMConfig
from spreadlab.llm.estimate import load_prices, total_estimate
from spreadlab.store.queries import cache_has_answers
from spreadlab.store.runs import RunStore

if TYPE_CHECKING:
    from spreadlab.llm.policy import LLMPolicy


def resolve_llm(grid: Grid, llm_opts: Mapping[str, Any]) -> tuple[Grid, LLMConfig | None]:
    """The grid with its LLM cells identified by the resolved settings, and their config: the
    grid's ``[llm]`` section, overridden by the command's options (``llm_opts``), then the
    environment (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``SPREADLAB_MODEL``)."""
    if not grid.has_llm:
        return grid, None
    flags = {**grid.llm, **{k: v for k, v in llm_opts.items() if v is not None}}
    config = LLMConfig.from_env(**flags)
    settings = {k: v for k, v in config.settings().items() if k != "endpoint_host"}
    return grid.with_llm(settings), config


def estimate_line(config: LLMConfig, tasks: list[CellTask], prices: str | None) -> str:
    """One line: how many LLM cells will run, the upper bound on what they use, and the
    sweep's budget."""
    table = load_prices(prices)
    bound = total_estimate([scenario_estimate(config, t.scenario, table) for t in tasks])
    budget = config.budget
    limits = [
        f"{name} {value:g}"
        for name, value in (
            ("max calls", budget.max_calls),
            ("max tokens", budget.max_tokens),
            ("max cost", budget.max_cost),
        )
        if value is not None
    ]
    shared = f"one budget for the whole sweep: {', '.join(limits)}" if limits else "no budget set"
    return f"LLM cells to run: {len(tasks)}; together, {bound.summary()}; {shared}"


@contextmanager
def llm_backend(
    store: RunStore,
    tasks: list[CellTask],
    config: LLMConfig,
    prices: str | None,
    note: Note,
) -> Iterator[LLMPolicy]:
    """The sweep's one LLM policy, opened before any cell runs: the estimate of ``tasks`` is
    noted first, then the endpoint is checked (unless the replay cache already holds answers for
    these cells), so a bad setting stops the sweep before it computes anything. The usage report
    is noted when it closes."""
    note(estimate_line(config, tasks, prices))
    with llm_session(store, config, prices, note, resume_hint=False) as policy:
        if not cache_has_answers(
            store, policy.endpoint, config.model, {t.cell.seed for t in tasks}
        ):
            policy.check_endpoint()
        note(f"backend: llm — {policy.describe()}")
        yield policy


def llm_results(tasks: list[CellTask], policy: LLMPolicy) -> Iterator[tuple[CellResult, Policy]]:
    """Run the LLM cells of ``tasks`` one after another with ``policy``; yield each result with
    the policy (the writer records its provenance with the cell's runs)."""
    stopped: str | None = None
    for task in tasks:
        if stopped is not None:
            yield _not_run(task, stopped), policy
            continue
        try:
            result = run_cell(task, policy)
        except BudgetExhausted as exc:
            result = _not_run(task, f"not run: {exc}")
        except FatalLLMError as exc:
            stopped = f"not run: the LLM backend stopped at an earlier cell ({exc})"
            error = f"{type(exc).__name__}: {exc}"
            result = CellResult(task.cell.cell_id, None, error, 0.0, status="failed")
        yield result, policy


def _not_run(task: CellTask, reason: str) -> CellResult:
    return CellResult(task.cell.cell_id, None, reason, 0.0, status="not_run")
