"""The commands that list, delete, move and bundle stored runs: ``runs``, ``delete``, ``export``,
``import``, ``events``, ``params`` and ``samples``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from spreadlab.cli.options import DB_OPTION
from spreadlab.engine.stochastic import ParameterTable
from spreadlab.store.liveness import with_liveness
from spreadlab.store.runs import RunStore
from spreadlab.world.events import catalog

if TYPE_CHECKING:
    import pandas as pd

RUN_COLUMNS = {
    "run_id": "run",
    "backend": "backend",
    "event_id": "event",
    "mix_name": "mix",
    "n_agents": "N",
    "mean_degree": "k",
    "q": "q",
    "status": "status",
    "rounds": "rounds",
    "informed": "informed",
}
SCENARIO_COLUMNS = ("scenario_id", "backend", "event_id", "mix_name", "n_agents", "mean_degree")
SCREEN_WIDTH = 100


def _fit(table: pd.DataFrame) -> str:
    """``table`` as text within :data:`SCREEN_WIDTH`: long mix names are cut first, then long
    event ids, each down to 8 characters, with '…'."""
    text = table.to_string(index=False)
    for column in ("mix", "event"):
        width = int(table[column].str.len().max())
        while max(map(len, text.splitlines())) > SCREEN_WIDTH and width > 8:
            width -= 1
            table = table.assign(
                **{column: [v if len(v) <= width else v[: width - 1] + "…" for v in table[column]]}
            )
            text = table.to_string(index=False)
    return text


def runs_listing(frame: pd.DataFrame, wide: bool = False, by_scenario: bool = False) -> str:
    """The run table as ``spreadlab runs`` prints it: within 100 columns unless ``wide``; one
    line per scenario with ``by_scenario``. Backends of synthetic runs carry a '*'."""
    table = frame.assign(
        backend=[
            f"{b}*" if s else b for b, s in zip(frame["backend"], frame["synthetic"], strict=True)
        ],
        mean_degree=[f"{k:g}" for k in frame["mean_degree"]],
        q=[f"{q:g}" for q in frame["q"]],
        rounds=(frame["rounds_done"] - 1).clip(lower=0),
        informed=[f"{x:.0%}" for x in frame["final_informed_fraction"]],
    )
    if by_scenario:
        grouped = table.groupby("scenario_id", sort=False)
        table = grouped[list(SCENARIO_COLUMNS[1:])].first().reset_index()
        table = table.assign(
            q=grouped["q"].first().to_numpy(),
            runs=grouped.size().to_numpy(),
            rounds=grouped["rounds"].max().to_numpy(),
            informed=[f"{x:.0%}" for x in grouped["final_informed_fraction"].mean()],
        )
        columns = {"scenario_id": "scenario", **{c: RUN_COLUMNS[c] for c in SCENARIO_COLUMNS[1:]}}
        columns |= {"q": "q", "runs": "runs", "rounds": "rounds", "informed": "mean informed"}
    else:
        columns = RUN_COLUMNS | ({c: c for c in frame if c not in RUN_COLUMNS} if wide else {})
    table = table[list(columns)].rename(columns=columns)
    text = table.to_string(index=False) if wide else _fit(table)
    if table["backend"].str.endswith("*").any():
        text += "\n* synthetic: made by a model of agents, not by LLM agents"
    return text


@click.command()
@click.option("--wide", is_flag=True, help="Every column at full width (may exceed 100).")
@click.option(
    "--by-scenario",
    is_flag=True,
    help="One line per scenario (its replicate runs), with the id 'spreadlab fit' takes.",
)
@DB_OPTION
def runs(wide: bool, by_scenario: bool, db_path: str) -> None:
    """List the stored runs (or scenarios)."""
    with RunStore(db_path, create=False) as store:
        frame = with_liveness(store.con, store.list_runs())
    if frame.empty:
        click.echo("no runs stored yet; try 'spreadlab run'")
        return
    click.echo(runs_listing(frame, wide=wide, by_scenario=by_scenario))
    for run_id in frame.loc[frame["status"] == "interrupted", "run_id"]:
        click.echo(
            f"run {run_id} stopped; continue it with: spreadlab resume {run_id} --db {db_path}"
        )


@click.command()
@click.argument("run_ids", nargs=-1, required=True)
@DB_OPTION
def delete(run_ids: tuple[str, ...], db_path: str) -> None:
    """Delete runs and everything recorded about them."""
    with RunStore(db_path, create=False) as store:
        for run_id in run_ids:
            store.delete_run(run_id)
            click.echo(f"deleted {run_id}")


@click.command()
@click.argument("run_id")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True
)
@DB_OPTION
def export(run_id: str, out_dir: str, fmt: str, db_path: str) -> None:
    """Export one run (metadata, agents, edges, decisions, curve) to a folder."""
    from spreadlab.store.exchange import export_run

    with RunStore(db_path, create=False) as store:
        path = export_run(store, run_id, Path(out_dir), fmt=fmt)
    click.echo(f"exported {run_id} to {path}")


@click.command(name="import")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--as", "new_id", metavar="NEW_ID", help="Store the run under this id instead.")
@DB_OPTION
def import_(run_dir: str, new_id: str | None, db_path: str) -> None:
    """Import a run folder (written by 'spreadlab export' or by hand in the documented schema)."""
    from spreadlab.store.exchange import import_run

    with RunStore(db_path) as store:
        run_id = import_run(store, Path(run_dir), new_id)
    click.echo(f"imported {run_id}")


@click.command()
def events() -> None:
    """List the bundled event catalog (fictional reports written for SpreadLab)."""
    for event in catalog().values():
        click.echo(f"{event.id:32s} {event.type:28s} {event.title}")


@click.command()
@click.argument("out_csv", type=click.Path(dir_okay=False))
def params(out_csv: str) -> None:
    """Write the illustrative stochastic parameter table as CSV, to edit and pass to --params."""
    Path(out_csv).write_text(ParameterTable.illustrative().to_csv(), encoding="utf-8")
    click.echo(f"wrote {out_csv} (illustrative values, not measured from LLM agents)")


@click.group()
def samples() -> None:
    """The bundled sample runs (synthetic: stochastic model, illustrative parameters)."""


@samples.command(name="build")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Folder to write [default: the bundled sample_runs/].",
)
def samples_build(out_dir: str | None) -> None:
    """Regenerate the sample runs from their seeds (same content hash as the shipped set)."""
    from spreadlab.jobs.samples import SAMPLE_DIR, build_samples

    manifest = build_samples(Path(out_dir) if out_dir else SAMPLE_DIR)
    click.echo(f"built {manifest['runs']} runs; content sha256 {manifest['content_sha256']}")


@samples.command(name="load")
@DB_OPTION
def samples_load(db_path: str) -> None:
    """Load the bundled sample runs into a database (skipping those already there)."""
    from spreadlab.jobs.samples import load_samples

    with RunStore(db_path) as store:
        added = load_samples(store)
    click.echo(f"loaded {added} sample runs into {db_path}")
