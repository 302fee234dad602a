"""Which process writes a run, and whether it still lives.

A run being written records its writer (process id, host and the process's start time, so a
reused pid is not mistaken for it) once, when it starts or resumes; there are no heartbeat writes.
When runs are listed or opened, a 'running' run whose writer on this host has died is shown
'interrupted', so it can be resumed. A writer on another host cannot be checked and is trusted.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from spreadlab.store.sharing import Connection

TABLE = "run_writers"


def record_writer(con: Connection, run_id: str) -> None:
    """Record this process as the writer of ``run_id`` (call inside the run's transaction)."""
    pid = os.getpid()
    con.execute(
        f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, ?)",
        [run_id, pid, socket.gethostname(), _start_ticks(pid)],
    )


def with_liveness(con: Connection, runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` (with ``run_id`` and ``status``) where 'running' runs whose writer died are
    'interrupted'; nothing is written."""
    running = runs.loc[runs["status"] == "running", "run_id"].tolist()
    dead = set(dead_writers(con, running))
    if not dead:
        return runs
    shown = runs.copy()
    shown.loc[shown["run_id"].isin(dead), "status"] = "interrupted"
    return shown


def dead_writers(con: Connection, run_ids: list[str]) -> list[str]:
    """Those of ``run_ids`` whose recorded writer on this host is no longer alive."""
    return [r for r, pid, host, started in _writers(con, run_ids) if not _alive(pid, host, started)]


def other_live_writer(con: Connection, run_id: str) -> str | None:
    """'pid N on HOST' when another process that still lives (or cannot be checked) is the
    recorded writer of ``run_id``; None otherwise."""
    for _, pid, host, started in _writers(con, [run_id]):
        if (pid, host) != (os.getpid(), socket.gethostname()) and _alive(pid, host, started):
            return f"pid {pid} on {host}"
    return None


def _writers(con: Connection, run_ids: list[str]) -> list[tuple]:
    if not run_ids:
        return []
    return con.execute(
        f"SELECT run_id, pid, host, started FROM {TABLE} WHERE list_contains(?, run_id)",
        [run_ids],
    ).fetchall()


def _alive(pid: int, host: str, started: str | None) -> bool:
    if host != socket.gethostname():
        return True  # cannot be checked from here
    if pid == os.getpid():
        return True
    if started is not None and Path("/proc").is_dir():
        return _start_ticks(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), None for a zombie or none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]
