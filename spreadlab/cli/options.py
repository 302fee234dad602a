"""Options shared by several ``spreadlab`` commands."""

from __future__ import annotations

import click

DB_OPTION = click.option(
    "--db",
    "db_path",
    default="spreadlab.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="DuckDB database file.",
)
EVENTS_FILE_OPTION = click.option(
    "--events-file",
    type=click.Path(dir_okay=False),
    help="Your own events (.json list or .csv with id,type,title,report).",
)
