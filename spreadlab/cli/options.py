"""Options shared by several ``spreadlab`` commands."""

from __future__ import annotations

import click

from spreadlab.errors import SpreadLabError
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


# Settings whose option is not the setting's name with dashes (max_calls -> --max-calls).
_OPTIONS = {"max_invalid_rate": "--max-invalid", "new_id": "--as"}


def option_for(setting: str) -> str:
    """The command-line option that sets ``setting`` (the ``setting`` of a SpreadLab error)."""
    return _OPTIONS.get(setting, "--" + setting.replace("_", "-"))


def error_line(exc: SpreadLabError) -> str:
    """The one line the CLI prints for ``exc``: its message, then the option to change, if any."""
    return f"error: {exc}" + (f" (use {option_for(exc.setting)})" if exc.setting else "")
