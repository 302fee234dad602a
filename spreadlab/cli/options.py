"""Options shared by several ``spreadlab`` commands."""

from __future__ import annotations

import click

from spreadlab.settings import current


def _database(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    """The database file: ``--db``, else ``$SPREADLAB_DB``, else ``spreadlab.duckdb``."""
    return str(current().database(value))


DB_OPTION = click.option(
    "--db",
    "db_path",
    callback=_database,
    type=click.Path(dir_okay=False),
    help="DuckDB database file [default: $SPREADLAB_DB, else spreadlab.duckdb].",
)
EVENTS_FILE_OPTION = click.option(
    "--events-file",
    type=click.Path(dir_okay=False),
    help="Your own events (.json list or .csv with id,type,title,report).",
)
