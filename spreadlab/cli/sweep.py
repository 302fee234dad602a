"""``spreadlab sweep GRID.toml``: run a grid of scenarios (stochastic or LLM cells) into the
database.

The grid format, the engines and what is stored per cell are in docs/sweeps.md.
"""

from __future__ import annotations

import sys

import click

from spreadlab.cli.llm_options import echo_note, llm_log_to_stderr, llm_options
from spreadlab.cli.options import DB_OPTION
from spreadlab.jobs.sweep import ENGINES, SweepProgress, run_sweep
from spreadlab.jobs.sweep_grid import load_grid
from spreadlab.store.runs import RunStore

LOG_EVERY = 1.0
"""Seconds between progress lines when stderr is not a terminal."""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def progress_line(p: SweepProgress) -> str:
    """``cells 120/1,000 (3 failed, 40 done before) · 4.2 cells/s · 3m29s left``."""
    stored = p.skipped + p.done + p.failed + p.not_run
    notes = [f"{p.failed} failed"] if p.failed else []
    if p.not_run:
        notes.append(f"{p.not_run} not run")
    if p.skipped:
        notes.append(f"{p.skipped:,} done before")
    extra = f" ({', '.join(notes)})" if notes else ""
    return (
        f"cells {stored:,}/{p.total:,}{extra} · {p.rate:.2f} cells/s · "
        f"{_duration(p.seconds_left)} left"
    )


@click.command()
@click.argument("grid_file", type=click.Path(dir_okay=False))
@DB_OPTION
@click.option(
    "--workers", default=1, show_default=True, help="Worker processes (local pool or Dask)."
)
@click.option("--engine", type=click.Choice(ENGINES), default="local", show_default=True)
@click.option("--address", help="Dask scheduler address (e.g. tcp://10.0.0.5:8786).")
@click.option("--summaries-only", is_flag=True, help="Store each cell's summary but not its runs.")
@llm_options
def sweep(
    grid_file: str,
    db_path: str,
    workers: int,
    engine: str,
    address: str | None,
    summaries_only: bool,
    llm_opts: dict,
) -> None:
    """Run a grid of scenarios, stochastic or LLM (docs/sweeps.md); re-running resumes it.

    The LLM options apply to the grid's LLM cells (params = 'llm'), with one budget for the
    whole sweep."""
    grid = load_grid(grid_file)
    kind = (
        "stochastic cells on the engine, LLM cells (LLM agents) in this process"
        if grid.has_llm
        else "synthetic runs of the stochastic model"
    )
    click.echo(
        f"sweep {grid.sweep_id} ({grid.name}): {grid.size():,} cells; engine {engine}, "
        f"{workers} worker(s); {kind}",
        err=True,
    )
    live = sys.stderr.isatty()
    shown = [-LOG_EVERY]  # the first line at once

    def show(p: SweepProgress) -> None:
        # on a terminal the line is redrawn in place; in a log, one line a second at most
        if live:
            click.echo(f"\r{progress_line(p)}", err=True, nl=False)
        elif p.elapsed - shown[0] >= LOG_EVERY or p.remaining == 0:
            shown[0] = p.elapsed
            click.echo(progress_line(p), err=True)

    with RunStore(db_path) as store, llm_log_to_stderr():
        final = run_sweep(
            store,
            grid,
            engine=engine,
            workers=workers,
            address=address,
            summaries_only=summaries_only,
            on_progress=show,
            llm_opts=llm_opts,
            note=echo_note,
        )
    if live:
        click.echo("", err=True)
    _report(grid.sweep_id, final)


def _report(sweep_id: str, final: SweepProgress) -> None:
    """The closing line, and what to do about cells that failed or were not run."""
    click.echo(
        f"sweep {sweep_id}: {final.skipped + final.done:,} of {final.total:,} cells done "
        f"({final.done:,} now, {final.skipped:,} before), {final.failed:,} failed, "
        f"{final.not_run:,} not run"
    )
    if final.failed:
        click.echo(
            "failed cells are stored with their error; run the same command to try them again",
            err=True,
        )
    if final.not_run:
        click.echo(
            "LLM cells not run are stored with the reason (the budget ran out); run the same "
            "command with a larger budget to run them: answers already received are replayed",
            err=True,
        )
