"""``spreadlab dashboard``: serve the dashboard of this checkout (see :mod:`spreadlab.dashboard
.launch`)."""

from __future__ import annotations

import click


@click.command(
    context_settings={"ignore_unknown_options": True},
    epilog="Any other option goes to 'streamlit run', e.g. --server.port 8600.",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="DuckDB database to browse, as it is [default: $SPREADLAB_DB, else spreadlab.duckdb in "
    "this folder with the bundled sample runs loaded into it].",
)
@click.argument("streamlit_args", nargs=-1, type=click.UNPROCESSED)
def dashboard(db_path: str | None, streamlit_args: tuple[str, ...]) -> None:
    """Serve the dashboard ('streamlit run app.py', with its first page prepared while the browser
    opens)."""
    from spreadlab.dashboard.launch import serve

    serve(streamlit_args, db_path)
