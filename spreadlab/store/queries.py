"""Small reads and writes the dashboard, the CLI and the jobs need, kept here so that SQL stays in
the store: run provenance, the newest interrupted run, curves of several runs, cache look-ups and
the cheap fingerprints the dashboard keys its caches on."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from spreadlab.store.calls import CALLS
from spreadlab.store.runs import RunStore

if TYPE_CHECKING:
    import pandas as pd

CURVE_COLUMNS = ("run_id", "round", "informed", "new_posters", "n_agents", "fraction")


def save_provenance(store: RunStore, run_id: str, provenance: dict[str, Any]) -> None:
    """Replace the provenance JSON of run ``run_id`` (keys sorted, as when it was created)."""
    store.con.execute(
        "UPDATE runs SET provenance = ? WHERE run_id = ?",
        [json.dumps(provenance, sort_keys=True), run_id],
    )


def run_provenances(store: RunStore, run_ids: list[str]) -> list[dict[str, Any]]:
    """Parsed provenance of each run (one query)."""
    if not run_ids:
        return []
    rows = store.con.execute(
        "SELECT provenance FROM runs WHERE list_contains(?, run_id)", [run_ids]
    ).fetchall()
    return [json.loads(r[0]) for r in rows]


def newest_interrupted_run(store: RunStore) -> str | None:
    """The id of the most recently created run whose status is 'interrupted', if any."""
    row = store.con.execute(
        "SELECT run_id FROM runs WHERE status = 'interrupted' ORDER BY created_at DESC LIMIT 1"
    ).fetchone()
    return None if row is None else str(row[0])


def cache_has_answers(store: RunStore, endpoint: str, model: str, seeds: set[int]) -> bool:
    """Whether the reply cache holds answers from ``endpoint`` and ``model`` for any of
    ``seeds`` (then a run replays them and its endpoint need not be checked first)."""
    marks = ", ".join("?" * len(seeds))
    row = store.con.execute(
        f"SELECT 1 FROM {CALLS} WHERE endpoint = ? AND model = ? AND run_seed IN ({marks}) LIMIT 1",
        [endpoint, model, *sorted(seeds)],
    ).fetchone()
    return row is not None


def informed_curves(store: RunStore, run_ids: list[str]) -> pd.DataFrame:
    """Long table (run_id, round, informed, new_posters, n_agents, fraction) for ``run_ids``."""
    if not run_ids:
        import pandas as pd

        return pd.DataFrame(columns=list(CURVE_COLUMNS))
    return store.con.execute(
        """
        SELECT c.run_id, c.round, c.informed, c.new_posters, r.n_agents,
               c.informed / r.n_agents AS fraction
        FROM curves c JOIN runs r USING (run_id)
        WHERE list_contains(?, c.run_id)
        ORDER BY c.run_id, c.round
        """,
        [run_ids],
    ).df()


def runs_revision(store: RunStore) -> str:
    """Fingerprint of the run table (count, newest run, rounds done); it changes with every run
    added, advanced or deleted."""
    row = store.con.execute(
        "SELECT count(*), coalesce(max(created_at)::VARCHAR, ''), "
        "coalesce(sum(rounds_done), 0) FROM runs"
    ).fetchone()
    return "/".join(str(x) for x in row or ())


FileState = tuple[tuple[int, int, int, int] | None, ...]


def file_state(path: str) -> FileState:
    """Inode, size, modification and change times of the database file and of its write-ahead
    log. Every commit changes one of them, so a cache keyed on this reads the database again only
    after a write; a stat costs microseconds, opening the database milliseconds."""
    out: list[tuple[int, int, int, int] | None] = []
    for name in (path, f"{path}.wal"):
        try:
            st = os.stat(name)
        except OSError:
            out.append(None)
        else:
            out.append((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(out)


def fits_revision(store: RunStore) -> str:
    """Fingerprint of the fits table (count, newest fit); the table must exist."""
    row = store.con.execute(
        "SELECT count(*), coalesce(max(fitted_at)::VARCHAR, '') FROM fits"
    ).fetchone()
    return "/".join(str(x) for x in row or ())
