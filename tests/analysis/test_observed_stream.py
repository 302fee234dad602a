"""Observed series read in a stream: chunk by chunk gives what one chunk gives, errors across a
chunk boundary name the right row, and a file of millions of rows is read in bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import spreadlab
from spreadlab.analysis import observed_read
from spreadlab.analysis.observed import read_series
from spreadlab.errors import DataFormatError


def read_both(monkeypatch, path, **options):
    """The series read whole and three rows at a time."""
    whole = read_series(path, **options)
    monkeypatch.setattr(observed_read, "CHUNK_ROWS", 3)
    chunked = read_series(path, **options)
    monkeypatch.setattr(observed_read, "CHUNK_ROWS", 1_000_000)
    return whole, chunked


def same(a, b) -> bool:
    return list(a.counts) == list(b.counts) and a.provenance == b.provenance


def posts(tmp_path, rows: int = 40, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    minutes = rng.integers(0, 600, rows)
    times = pd.Timestamp("2026-05-01T06:00Z") + pd.to_timedelta(minutes, unit="min")
    return pd.DataFrame(
        {"time": times.strftime("%Y-%m-%dT%H:%M:%SZ"), "user": rng.integers(0, 15, rows)}
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_chunks_give_what_one_read_gives(tmp_path, monkeypatch, suffix):
    frame = posts(tmp_path)  # unsorted: the earliest post is not the first row
    path = tmp_path / f"posts{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    options = {"time_col": "time", "interval": "1h", "n": 1000}
    for extra in ({}, {"user_col": "user"}, {"start": "2026-05-01T05:30Z"}):
        whole, chunked = read_both(monkeypatch, path, **options, **extra)
        assert same(whole, chunked), extra
    whole, _ = read_both(monkeypatch, path, **options)
    first = pd.to_datetime(frame["time"]).min().floor("s")
    assert whole.start == first.isoformat().replace("+00:00", "Z") and whole.counts[-1] == 40
    hourly = pd.DataFrame(
        {
            "hour": pd.date_range("2026-05-01", periods=12, freq="h", tz="UTC").strftime(
                "%Y-%m-%dT%H:%MZ"
            ),
            "posts": np.arange(12) * 2,
        }
    ).drop(index=[4, 7])
    hourly.to_csv(tmp_path / "hourly.csv", index=False)
    counts = options | {"time_col": "hour", "count_col": "posts"}
    whole, chunked = read_both(monkeypatch, tmp_path / "hourly.csv", **counts)
    assert same(whole, chunked) and chunked.filled == 2


BOUNDARY = [  # with three rows a chunk, rows 5 and 6 of the file open the second chunk
    ("2026-05-01T03:00Z,1\n2026-05-01T02:00Z,1\n", "row 6, column time: time goes backwards"),
    ("2026-05-01T02:30Z,1\n2026-05-01T04:00Z,1\n", "row 5, column time: a second row"),
    ("2026-05-01T03:00,1\n2026-05-01T04:00Z,1\n", "row 5, column time: mixes times"),
    ("2026-05-01T03:00Z,1\n2026-05-01T04:00Z,x\n", "row 6, column posts: 'x' is not a count"),
]


@pytest.mark.parametrize(("tail", "message"), BOUNDARY)
def test_errors_across_a_chunk_boundary_name_the_row(tmp_path, monkeypatch, tail, message):
    path = tmp_path / "bad.csv"
    head = "time,posts\n2026-05-01T00:00Z,1\n2026-05-01T01:00Z,1\n2026-05-01T02:00Z,1\n"
    path.write_text(head + tail, encoding="utf-8")
    monkeypatch.setattr(observed_read, "CHUNK_ROWS", 3)
    with pytest.raises(DataFormatError, match=message):
        read_series(path, time_col="time", count_col="posts", interval="1h", n=100)


MEASURE = textwrap.dedent(
    """
    import json, re, sys, time
    from spreadlab.analysis.observed import read_series

    def status(key):  # kB in /proc/self/status (Linux)
        with open("/proc/self/status") as file:
            return int(re.search(key + r":\\s+(\\d+)", file.read()).group(1)) * 1024

    options = dict(time_col="time", interval="1h", n=10**7)
    read_series(sys.argv[1], **options)  # the libraries' own memory, once
    with open("/proc/self/clear_refs", "w") as file:
        file.write("5")  # the peak (VmHWM) starts again from here
    base, start = status("VmRSS"), time.perf_counter()
    series = read_series(sys.argv[2], **options)
    print(json.dumps({"growth": status("VmHWM") - base, "seconds": time.perf_counter() - start,
                      "rows": series.rows, "informed": int(series.counts[-1]),
                      "intervals": int(series.counts.size)}))
    """
)


def write_posts(path, rows: int, seed: int = 1) -> None:
    """``rows`` sorted post times over 48 hours, one a line, written fast."""
    seconds = np.sort(np.random.default_rng(seed).integers(0, 48 * 3600, rows))
    every = np.datetime64("2026-05-01T00:00:00", "s") + np.arange(48 * 3600)
    texts = [t + "Z" for t in np.datetime_as_string(every, unit="s").tolist()]
    with path.open("w", encoding="utf-8") as out:
        out.write("time\n")
        out.write("\n".join([texts[i] for i in seconds.tolist()]))
        out.write("\n")


def test_millions_of_posts_are_read_in_bounded_memory(tmp_path):
    big, small = tmp_path / "big.csv", tmp_path / "small.csv"
    write_posts(big, 3_000_000)
    write_posts(small, 2_000)
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(small), str(big)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"PYTHONPATH": str(Path(spreadlab.__file__).parents[1])},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    size = big.stat().st_size  # 63 MB; read whole, its strings alone would take more
    assert measured["rows"] == measured["informed"] == 3_000_000
    assert measured["intervals"] == 48
    assert measured["growth"] < size / 2, measured  # 17 MB measured: a chunk, not the file
    print(f"{size / 2**20:.0f} MB file: {measured}")


def test_observe_command_streams_and_stores(tmp_path, monkeypatch):
    from cli_runner import spreadlab

    from spreadlab.store.observed import list_series, load_series
    from spreadlab.store.runs import RunStore

    path, db = tmp_path / "posts.csv", tmp_path / "s.duckdb"
    posts(tmp_path, rows=60).to_csv(path, index=False)
    whole = read_series(path, time_col="time", interval="1h", n=1000, user_col="user")
    monkeypatch.setattr(observed_read, "CHUNK_ROWS", 7)
    args = ["--time-col", "time", "--user-col", "user", "--interval", "1h", "--n", "1000"]
    done = spreadlab("observe", str(path), *args, "--db", str(db))
    assert done.returncode == 0, done.stderr
    with RunStore(db) as store:
        (dataset,) = list_series(store.con)["dataset_id"]
        stored = load_series(store.con, dataset)
    assert same(stored, whole) and stored.rows == 60
