"""Sharing one DuckDB file between the dashboard and the command line.

DuckDB lets one process hold a database file for writing and refuses every other process, even a
read-only one, meanwhile. So SpreadLab holds the file only while it reads or writes, and whoever
meets the lock waits (with a visible note) and retries for a bounded time
(``$SPREADLAB_LOCK_WAIT`` seconds, default 30). If the lock outlasts that, the error names the
holder (the dashboard, a ``spreadlab`` command, or another program, with its pid) and what to do.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from spreadlab.errors import StoreError
from spreadlab.settings import LOCK_WAIT_ENV, current

_PID = re.compile(r"\(PID (\d+)\)")

WaitNote = Callable[[str], None]


def lock_wait() -> float:
    """Seconds to keep retrying a locked database (``$SPREADLAB_LOCK_WAIT``, default 30)."""
    return current().lock_wait


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
    after = argv[names.index("spreadlab") + 1 :] if "spreadlab" in names else []
    words = [a for a in after if a and not a.startswith("-")]
    if "streamlit" in names or words[:1] == ["dashboard"]:
        return (
            f"the SpreadLab dashboard (pid {pid})",
            "the dashboard holds the database only while it answers a click, so this is a long "
            "job such as a run started there: wait for it to finish, or stop the dashboard "
            "(Ctrl+C in its terminal) and try again",
        )
    if "spreadlab" in names:
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


# Statements whose rows are fetched afterwards: the file is not let go in between.
_READS = {"SELECT", "WITH", "FROM", "PRAGMA", "DESCRIBE", "SHOW", "SUMMARIZE", "EXPLAIN", "CALL"}
_FETCHES = {"fetchall", "fetchone", "fetchmany", "fetchnumpy", "fetchdf", "df", "arrow", "pl"}


class SharedConnection:
    """A DuckDB connection for a slow writer (an LLM run): it lets go of the file whenever it has
    been idle for ``idle_s`` seconds outside a transaction and between a query and its rows, and
    opens it again (waiting like :func:`connect`) at the next statement. So while an LLM run waits
    for its endpoint, the dashboard and other commands can use the database.

    Calls go through one lock; :meth:`cursor` gives cursors that follow the reopened file."""

    def __init__(self, path: str, on_wait: WaitNote | None = stderr_note, idle_s: float = 0.5):
        self._path, self._on_wait, self._idle_s = path, on_wait, idle_s
        self._lock = threading.RLock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._cursors: list[SharedCursor] = []
        self._in_transaction = False
        self._busy = False  # in a transaction, or between a query and its rows
        self._last = time.monotonic()
        self._closed = threading.Event()
        self.releases = 0
        self.live()
        threading.Thread(target=self._watch, name="spreadlab-db-release", daemon=True).start()

    def live(self) -> duckdb.DuckDBPyConnection:
        """The open connection (reopened if it was let go); call with the lock held."""
        if self._closed.is_set():
            raise duckdb.ConnectionException("connection already closed")
        if self._con is None:
            self._con = connect(self._path, on_wait=self._on_wait)
        self._last = time.monotonic()
        return self._con

    def track(self, query: str) -> None:
        """Note whether ``query`` leaves work in flight (a transaction, rows to fetch)."""
        word = query.lstrip().split(None, 1)[0].upper() if query.strip() else ""
        if word in ("BEGIN", "START"):
            self._in_transaction = True
        elif word in ("COMMIT", "ROLLBACK", "ABORT", "END"):
            self._in_transaction = False
        self._busy = self._in_transaction or word in _READS

    def execute(self, query: str, parameters: object = None) -> SharedConnection:
        with self._lock:
            con = self.live()
            con.execute(query) if parameters is None else con.execute(query, parameters)
            self.track(query)
        return self

    def cursor(self) -> SharedCursor:
        with self._lock:
            cursor = SharedCursor(self)
            self._cursors.append(cursor)
            return cursor

    def __getattr__(self, name: str) -> Any:
        def call(*args: object, **kwargs: object) -> Any:
            with self._lock:
                con = self.live()
                result = getattr(con, name)(*args, **kwargs)
                if name in _FETCHES:
                    self.fetched()
            return self if result is con else result

        return call

    def fetched(self) -> None:
        """The rows of the last query have been read."""
        self._busy = self._in_transaction

    def release(self) -> None:
        """Let go of the file now (unless work is in flight)."""
        with self._lock:
            if self._con is None or self._busy:
                return
            for cursor in self._cursors:
                cursor.drop()
            self._con.close()
            self._con = None
            self.releases += 1

    def close(self) -> None:
        with self._lock:
            self._busy = False
            self.release()
            self._closed.set()

    def _watch(self) -> None:
        while not self._closed.wait(self._idle_s / 2):
            with self._lock:
                if time.monotonic() - self._last >= self._idle_s:
                    self.release()


class SharedCursor:
    """A cursor of a :class:`SharedConnection`, made afresh on it after it reopens."""

    def __init__(self, parent: SharedConnection) -> None:
        self._parent = parent
        self._cursor: duckdb.DuckDBPyConnection | None = None

    def _live(self) -> duckdb.DuckDBPyConnection:
        con = self._parent.live()
        if self._cursor is None:
            self._cursor = con.cursor()
        return self._cursor

    def drop(self) -> None:
        """Close the underlying cursor (its connection is about to be let go)."""
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None

    def execute(self, query: str, parameters: object = None) -> SharedCursor:
        with self._parent._lock:
            cursor = self._live()
            cursor.execute(query) if parameters is None else cursor.execute(query, parameters)
            self._parent.track(query)
        return self

    def __getattr__(self, name: str) -> Any:
        def call(*args: object, **kwargs: object) -> Any:
            with self._parent._lock:
                cursor = self._live()
                result = getattr(cursor, name)(*args, **kwargs)
                if name in _FETCHES:
                    self._parent.fetched()
            return self if result is cursor else result

        return call

    def close(self) -> None:
        with self._parent._lock:
            self.drop()
            if self in self._parent._cursors:
                self._parent._cursors.remove(self)


Connection = duckdb.DuckDBPyConnection | SharedConnection
"""What a :class:`spreadlab.store.runs.RunStore` holds: a plain connection, or a shared one."""


def row_count(con: Connection, table: str) -> int:
    """How many rows ``table`` holds."""
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0
