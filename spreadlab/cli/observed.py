"""``spreadlab observed``: the observed datasets kept in the database (stored by ``spreadlab
observe --db`` or the Observed data page): list them, compare one with the stored scenarios,
delete them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from spreadlab.cli.options import DB_OPTION
from spreadlab.store.runs import RunStore

if TYPE_CHECKING:
    from spreadlab.analysis.observed import ObservedSeries

MAPPING_HELP = (
    "How simulated time is laid on the observed intervals: rate (rescaled by the fitted SI-1 "
    "rates) or rounds (one simulated round = one interval)."
)


def mapping_option(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``--mapping``-style option choosing the time mapping of a comparison."""
    return click.option(
        name,
        "mapping",
        type=click.Choice(["rate", "rounds"]),
        default="rate",
        show_default=True,
        help=MAPPING_HELP,
    )


@click.group()
def observed() -> None:
    """The stored observed datasets: list, compare with the scenarios, delete."""


@observed.command(name="list")
@DB_OPTION
def list_(db_path: str) -> None:
    """List the stored observed datasets."""
    from spreadlab.store.observed import list_series

    with RunStore(db_path, create=False) as store:
        table = list_series(store.con)
    if table.empty:
        click.echo("no observed dataset stored yet; try 'spreadlab observe FILE ... --db'")
        return
    shown = table[["dataset_id", "source", "interval_label", "n", "created_at"]]
    click.echo(shown.to_string(index=False))


@observed.command()
@click.argument("dataset_ids", nargs=-1, required=True)
@DB_OPTION
def delete(dataset_ids: tuple[str, ...], db_path: str) -> None:
    """Delete observed datasets: all those named, or none if one is unknown."""
    from spreadlab.store.observed import delete_series

    with RunStore(db_path, create=False) as store:
        delete_series(store, list(dataset_ids))
    for dataset in dataset_ids:
        click.echo(f"deleted observed dataset {dataset}")


@observed.command()
@click.argument("dataset_id")
@mapping_option("--mapping")
@click.option("--out", "out_csv", type=click.Path(dir_okay=False), help="Write the ranking as CSV.")
@DB_OPTION
def compare(dataset_id: str, mapping: str, out_csv: str | None, db_path: str) -> None:
    """Which stored scenario comes closest to an observed dataset, and by how much."""
    from spreadlab.store.observed import load_series

    with RunStore(db_path, create=False) as store:
        series = load_series(store.con, dataset_id)
    click.echo(series.provenance)
    compare_and_echo(series, db_path, mapping, out_csv)


def compare_and_echo(
    series: ObservedSeries, db_path: str, mapping: str, out_csv: str | None, top: int = 5
) -> None:
    """Rank the database's scenarios against ``series``: the closest ``top``, the answer with its
    margin and caveat, and (with ``out_csv``) every candidate as CSV with both provenances."""
    from spreadlab.analysis.observed_compare import compare_scenarios, comparison_frame
    from spreadlab.store.observed import scenario_candidates

    with RunStore(db_path, create=False) as store:
        candidates = scenario_candidates(store)
    if not candidates:
        click.echo("no stored scenario to compare with; run one with 'spreadlab run'")
        return
    comparison = compare_scenarios(series, candidates, mapping)
    click.echo(f"closest stored scenarios ({mapping} mapping; RMSE in informed fraction):")
    for c in comparison.ranked[:top]:
        where = (
            f"RMSE {c.rmse:.3f} over {c.overlap} intervals, {c.rounds_per_interval:.3g} "
            f"simulated rounds per {series.interval}"
            if c.note == ""
            else f"not compared: {c.note}"
        )
        click.echo(f"  {c.candidate.label} [{c.candidate.kind}]: {where}")
    click.echo(comparison.summary(series.interval))
    if out_csv:
        frame = comparison_frame(series, comparison)
        frame.to_csv(out_csv, index=False)
        click.echo(f"wrote {len(frame)} rows to {out_csv}")
