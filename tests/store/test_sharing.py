"""One database file shared by the dashboard and the command line at once."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import streamlit as st
from apptest_support import ROOT, TIMEOUT
from cli_runner import spreadlab as in_process
from dashboard_support import build_db
from llm_server import llm_server_fixture  # noqa: F401  (the llm_server fixture)
from streamlit.testing.v1 import AppTest

from spreadlab.errors import StoreError
from spreadlab.store.runs import RunStore
from spreadlab.store.sharing import LOCK_WAIT_ENV, SharedConnection

# Holds the database (as the program named by the script's file name) for argv[3] seconds.
HOLDER = """
import sys, time
from spreadlab.store.runs import RunStore
with RunStore(sys.argv[2]) as store:
    print("holding", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def spreadlab(*args: str) -> subprocess.CompletedProcess:
    """The command in its own process (the point of these tests)."""
    return subprocess.run(
        [sys.executable, "-m", "spreadlab", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def hold(tmp_path):
    """Start a process named ``program`` holding ``db`` for ``seconds``; it is ended afterwards."""
    started = []

    def start(program: str, db, seconds: float, command: str = "run") -> subprocess.Popen:
        script = tmp_path / program
        script.write_text(HOLDER)
        proc = subprocess.Popen(
            [sys.executable, str(script), command, str(db), str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout.readline().strip() == "holding"
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def test_dashboard_open_while_the_command_line_writes_and_reads(tmp_path, monkeypatch):
    db = tmp_path / "shared.duckdb"
    build_db(db, xss=False)
    monkeypatch.setenv("SPREADLAB_DB", str(db))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    assert len(at.dataframe[0].value) == 2
    written = spreadlab("run", "--n", "300", "--k", "6", "--event", "protest-nurses-strike",
                        "--db", str(db))  # fmt: skip
    assert written.returncode == 0, written.stderr
    listed = spreadlab("runs", "--db", str(db))
    assert listed.returncode == 0, listed.stderr
    assert "protest-nurses-strike" in listed.stdout and listed.stdout.count("stochastic") == 5
    at.run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert len(table) == 3 and "protest-nurses-strike" in set(table["event_id"])
    st.cache_resource.clear()


def test_a_locked_database_is_waited_for_with_a_note(tmp_path, hold):
    db = tmp_path / "w.duckdb"
    RunStore(db).close()
    holder = hold("spreadlab", db, 1.5)
    notes: list[str] = []
    start = time.monotonic()
    with RunStore(db, on_wait=notes.append) as store:
        assert store.list_runs().empty
    assert time.monotonic() - start >= 1.0
    assert len(notes) == 1
    assert f"a SpreadLab command (spreadlab run, pid {holder.pid})" in notes[0]
    assert "retrying for up to" in notes[0]


@pytest.mark.parametrize(
    ("program", "command", "named", "advice"),
    [
        ("spreadlab", "run", "a SpreadLab command (spreadlab run, pid {pid})", "kill {pid}"),
        ("streamlit", "run", "the SpreadLab dashboard (pid {pid})", "stop the dashboard"),
        ("spreadlab", "dashboard", "the SpreadLab dashboard (pid {pid})", "stop the dashboard"),
        ("other.py", "run", "another program (", "close that program"),
    ],
)
def test_a_lock_that_outlasts_the_wait_names_its_holder(
    tmp_path, hold, monkeypatch, program, command, named, advice
):
    db = tmp_path / "l.duckdb"
    RunStore(db).close()
    pid = hold(program, db, 60, command).pid
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.3")
    with pytest.raises(StoreError) as caught:
        RunStore(db, on_wait=None)
    message = str(caught.value)
    assert named.format(pid=pid) in message and advice.format(pid=pid) in message
    assert f"pid {pid}" in message and LOCK_WAIT_ENV in message


def test_cli_names_the_holder_and_exits_2(tmp_path, hold, monkeypatch):
    db = tmp_path / "c.duckdb"
    RunStore(db).close()
    pid = hold("streamlit", db, 60).pid
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.5")
    result = in_process("runs", "--db", str(db))
    assert result.returncode == 2
    assert "retrying for up to 0.5 s" in result.stderr
    assert f"error: database {db} is in use by the SpreadLab dashboard (pid {pid})" in result.stderr


@pytest.mark.parametrize(
    "args",
    [["runs"], ["export", "x-000", "out"], ["export-fits", "f.csv"], ["fit", "x-000"],
     ["traits", "x-000"], ["delete", "x-000"], ["resume", "x-000"]],
)  # fmt: skip
def test_commands_that_need_runs_do_not_create_a_database(tmp_path, args):
    db = tmp_path / "missing.duckdb"
    result = in_process(*args, "--db", str(db))
    assert result.returncode == 2
    assert f"error: no database at {db}" in result.stderr
    assert not db.exists()


def test_an_llm_run_lets_go_of_the_database_while_it_waits_for_its_endpoint(
    tmp_path, llm_server, monkeypatch
):
    """Replies take 0.4 s, so the run spends most of its time waiting: meanwhile other commands,
    allowed to wait only 2 s for the lock, read the database."""
    llm_server.config.latency = 0.4
    db = tmp_path / "llm.duckdb"
    args = "run --backend llm --model sim-1 --n 30 --k 4 --rounds 3 --q 0.3 --max-concurrency 2"
    writer = subprocess.Popen(
        [sys.executable, "-m", "spreadlab", *args.split(), "--base-url", llm_server.base_url,
         "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    monkeypatch.setenv(LOCK_WAIT_ENV, "2")
    seen_running = 0
    try:
        deadline = time.monotonic() + 120
        while writer.poll() is None and time.monotonic() < deadline:
            if db.exists():
                listed = spreadlab("runs", "--db", str(db))
                assert listed.returncode == 0, listed.stderr
                seen_running += "running" in listed.stdout
            time.sleep(0.5)
        _, err = writer.communicate(timeout=60)
    finally:
        writer.kill()
    assert writer.returncode == 0, err
    assert seen_running >= 2, "the listing ran while the LLM run was in progress"
    final = spreadlab("runs", "--db", str(db))
    assert final.returncode == 0 and "complete" in final.stdout


def test_a_shared_connection_holds_the_file_only_while_busy(tmp_path):
    db = tmp_path / "s.duckdb"
    RunStore(db).close()
    con = SharedConnection(str(db), on_wait=None, idle_s=0.2)
    cursor = con.cursor()
    con.execute("CREATE TABLE t (x INTEGER)")
    con.execute("BEGIN TRANSACTION")
    con.execute("INSERT INTO t VALUES (1)")
    time.sleep(0.5)
    assert con.releases == 0, "never inside a transaction"
    con.execute("COMMIT")
    time.sleep(0.5)
    assert con.releases == 1
    other = spreadlab("runs", "--db", str(db))  # another process can open it now
    assert other.returncode == 0, other.stderr
    assert cursor.execute("SELECT count(*) FROM t").fetchone() == (1,)  # reopened on use
    con.close()
