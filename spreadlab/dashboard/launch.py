"""``spreadlab dashboard``: Streamlit's own ``streamlit run app.py``, with what the first home page
needs prepared while the browser opens.

Streamlit imports a page's modules only when the first visitor's script runs, so on a fresh
start the first home page waited about half a second for pandas, pyarrow, DuckDB and plotly, then
for the sample runs to load. Here a background thread does that work as soon as Streamlit's
runtime exists (importing the pages earlier would register their caches without it), in the
time the browser spends fetching Streamlit's own scripts. The server, its options and its
configuration are Streamlit's, unchanged.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from spreadlab.errors import ConfigError, SpreadLabError
from spreadlab.settings import DB_ENV

APP = Path(__file__).resolve().parents[2] / "app.py"
HOME_MODULES = (
    "spreadlab.glossary",
    "spreadlab.dashboard.ui",
    "spreadlab.dashboard.viz",
    "spreadlab.jobs.samples",
    "pyarrow.pandas_compat",
    "plotly.io",
)
"""What the home page imports on its first run, besides Streamlit itself."""
PAGE_MODULES = (
    "spreadlab.dashboard.viz",
    "pyvis.network",
    "spreadlab.store.fits",
    "spreadlab.analysis.trait_effects",
    "spreadlab.analysis.equations",
    "scipy.optimize",
    "scipy.special",
    "scipy.stats",
)
"""What the other pages import; loaded in the background so a first visit does not wait."""
RUNTIME_WAIT = 60.0
"""Seconds the background work waits for Streamlit's runtime before giving up (the first visit
then does it, as with ``streamlit run``)."""


def in_background(work: Callable[[], None], wait: float = RUNTIME_WAIT) -> threading.Thread:
    """Run ``work`` in a daemon thread once Streamlit's runtime exists (at once inside a session;
    never, if it does not exist within ``wait`` seconds)."""
    from streamlit import runtime

    def run() -> None:
        deadline = time.monotonic() + wait
        while not runtime.exists():
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)
        work()

    thread = threading.Thread(target=run, name="spreadlab-preload", daemon=True)
    thread.start()
    return thread


def import_all(modules: Sequence[str]) -> None:
    """Import ``modules`` (a no-op for those imported already)."""
    for name in modules:
        importlib.import_module(name)


def prepare_home() -> None:
    """What the first home page would otherwise wait for: its imports; Streamlit's once-a-process
    check, on the first element a page draws, of whether it runs in a REPL (it reads the source
    of every frame on the stack, 0.06-0.1 s on a page's deep stack, a few ms here); and the
    database, with the sample runs loaded on a fresh clone. A database that cannot be opened is
    left for the page to report."""
    import_all(HOME_MODULES)
    from streamlit import delta_generator

    getattr(delta_generator, "_maybe_print_use_warning", lambda: None)()
    from spreadlab.dashboard import actions

    with contextlib.suppress(SpreadLabError):
        actions.database_path()


def serve(streamlit_args: Sequence[str], db: str | None = None) -> None:
    """Serve the dashboard of this checkout (``db``, if given, becomes ``$SPREADLAB_DB``);
    ``streamlit_args`` are ``streamlit run`` options such as ``--server.port 8600``."""
    if not APP.is_file():
        raise ConfigError(
            f"the dashboard runs from a checkout of SpreadLab, and {APP} is missing; clone the "
            "repository and run 'spreadlab dashboard' there"
        )
    if db is not None:
        os.environ[DB_ENV] = str(Path(db).expanduser())
    from streamlit.web import cli as streamlit_cli

    in_background(prepare_home)
    streamlit_cli.main.main(args=["run", str(APP), *streamlit_args], prog_name="streamlit")
