"""Sharing one DuckDB file between the dashboard and the command line.

DuckDB lets one process hold a database file for writing and refuses every other process, even a
read-only one, meanwhile. So SpreadLab holds the file only while it reads or writes, and whoever
meets the lock waits (with a visible note) and retries for a bounded time
(``$SPREADLAB_LOCK_WAIT`` seconds, default 30). If the lock outlasts that, the error names the
holder (the dashboard, a ``spreadlab`` command, or another program, with its pid) and what to do.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from spreadlab.errors import StoreError

LOCK_WAIT_ENV = "SPREADLAB_LOCK_WAIT"
DEFAULT_LOCK_WAIT = 30.0
_PID = re.compile(r"\(PID (\d+)\)")

WaitNote = Callable[[str], None]


def lock_wait() -> float:
    """Seconds to keep retrying a locked database (``$SPREADLAB_LOCK_WAIT``, default 30)."""
    try:
        return max(float(os.environ.get(LOCK_WAIT_ENV, DEFAULT_LOCK_WAIT)), 0.0)
    except ValueError:
        return DEFAULT_LOCK_WAIT


def stderr_note(note: str) -> None:
    """The command line's wait note: one line on stderr."""
    print(note, file=sys.stderr, flush=True)


def holder(pid: int) -> tuple[str, str]:
    """(who, what to do) for the process ``pid`` holding a database, from its command line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        argv = []
    names = [Path(a).name for a in argv]
    if "streamlit" in names:
        return (
            f"the SpreadLab dashboard (pid {pid})",
            "the dashboard holds the database only while it answers a click, so this is a long "
            "job such as a run started there: wait for it to finish, or stop the dashboard "
            "(Ctrl+C in its terminal) and try again",
        )
    if "spreadlab" in names:
        words = [a for a in argv[names.index("spreadlab") + 1 :] if a and not a.startswith("-")]
        command = " ".join(["spreadlab", *words[:1]])
        return (
            f"a SpreadLab command ({command}, pid {pid})",
            f"wait for it to finish and try again, or stop it (Ctrl+C, or kill {pid}); a stopped "
            "run can be continued with 'spreadlab resume RUN_ID'",
        )
    program = " ".join(argv[:3]).strip() or "unknown program"
    return (
        f"another program ({program}, pid {pid})",
        "close that program's connection to the database and try again",
    )


def connect(
    path: str, *, read_only: bool = False, on_wait: WaitNote | None = stderr_note
) -> duckdb.DuckDBPyConnection:
    """Open ``path``, waiting for another process's lock for up to :func:`lock_wait` seconds."""
    deadline = time.monotonic() + lock_wait()
    noted = False
    while True:
        try:
            return duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            match = _PID.search(str(exc))
            if "lock" not in str(exc) or match is None:
                raise
            who, todo = holder(int(match.group(1)))
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"database {path} is in use by {who}, which kept it for more than "
                    f"{lock_wait():g} s; {todo} (or set {LOCK_WAIT_ENV} to wait longer)"
                ) from None
            if not noted and on_wait is not None:
                on_wait(f"database {path} is in use by {who}; retrying for up to {lock_wait():g} s")
                noted = True
            time.sleep(0.1)
