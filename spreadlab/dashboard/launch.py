"""``spreadlab dashboard``: Streamlit's own ``streamlit run app.py``, with the home page's imports
done while the browser opens.

Streamlit imports a page's modules only when the first visitor's script runs, so on a fresh
start the first home page waited about half a second for pandas, pyarrow, DuckDB and plotly.
Here a background thread imports them as soon as Streamlit's runtime exists (importing them
earlier would register the pages' caches without it), then the modules the other pages need.
The server, its options and its configuration are Streamlit's, unchanged.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from spreadlab.errors import ConfigError
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
"""Seconds the preload waits for Streamlit's runtime before giving up (imports then happen on the
first visit, as with ``streamlit run``)."""


def import_in_background(modules: Sequence[str], wait: float = RUNTIME_WAIT) -> threading.Thread:
    """Import ``modules`` in a daemon thread, once Streamlit's runtime exists (at once inside a
    session)."""
    from streamlit import runtime

    def load() -> None:
        deadline = time.monotonic() + wait
        while not runtime.exists():
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)
        for name in modules:
            importlib.import_module(name)

    thread = threading.Thread(target=load, name="spreadlab-preload", daemon=True)
    thread.start()
    return thread


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

    import_in_background(HOME_MODULES)
    streamlit_cli.main.main(args=["run", str(APP), *streamlit_args], prog_name="streamlit")
