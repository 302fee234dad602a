"""Hostile input: crafted run folders, events, mixes, edge lists and command-line values.

Every case must end in one :class:`SpreadLabError` line that names the field at fault and says how
to fix it, leave every table's row count unchanged, and write no file outside the target folder.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from spreadlab.cli import cli
from spreadlab.dashboard.actions import run_archive
from spreadlab.dashboard.labels import WORD_JOINER, md_escape
from spreadlab.engine.simulate import Scenario
from spreadlab.engine.stochastic import StochasticPolicy
from spreadlab.errors import SpreadLabError
from spreadlab.jobs.runner import run_scenario
from spreadlab.store.exchange import export_run, import_run, read_run_folder
from spreadlab.store.runs import RunStore
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PRESETS

RUN_ID = "good-000"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, Path]:
    """A database holding one small run, and that run exported as a CSV run folder."""
    from spreadlab.world.events import catalog

    root = tmp_path_factory.mktemp("template")
    db = root / "runs.duckdb"
    scenario = Scenario(
        catalog()["battle-marren-ridge"],
        PRESETS["uniform"],
        NetworkSpec(n=30, k=4),
        rounds=5,
        q=0.05,
        n0=3,
        seed=1,
    )
    with RunStore(db) as store:
        run_scenario(store, scenario, StochasticPolicy(), scenario_id="good")
        folder = export_run(store, RUN_ID, root / "export", fmt="csv")
    return db, folder


@pytest.fixture
def work(template, tmp_path) -> tuple[Path, Path, Path]:
    """A private copy of the database and of the run folder, and the folder's parent."""
    db, folder = template
    area = tmp_path / "area"
    area.mkdir()
    shutil.copy(db, area / "runs.duckdb")
    shutil.copytree(folder, area / "run")
    return area / "runs.duckdb", area / "run", area


def files_under(path: Path) -> set[Path]:
    return {p for p in path.rglob("*") if p.is_file() and ".duckdb" not in p.name}


def counts(db: Path) -> dict[str, int]:
    with RunStore(db) as store:
        return store.table_counts()


def refused(args: list[str], db: Path, area: Path, field: str, fix: str) -> str:
    """Run the CLI; assert one error line naming ``field`` and ``fix``, nothing written."""
    before, files = counts(db), files_under(area.parent)
    result = CliRunner().invoke(cli, [*args, "--db", str(db)])
    error = result.exception
    assert isinstance(error, SpreadLabError), f"not a one-line error: {error!r}\n{result.output}"
    message = str(error)
    assert "\n" not in message and field in message and fix in message, message
    assert counts(db) == before
    assert files_under(area.parent) == files, "a file was written"
    return message


def edit_meta(folder: Path, **changes) -> None:
    path = folder / "run.json"
    meta = json.loads(path.read_text())
    for key, value in changes.items():
        if value is DROP:
            meta.pop(key, None)
        else:
            meta[key] = value
    meta["run_id"] = changes.get("run_id", "imported-1")
    if meta["run_id"] is DROP:
        meta.pop("run_id")
    path.write_text(json.dumps(meta))


DROP = object()

RUN_JSON_CASES: list[tuple[str, dict, str, str]] = [
    ("relative escape", {"run_id": "../../../PWNED"}, "'run_id'", "letters, digits"),
    ("absolute path", {"run_id": "/tmp/PWNED"}, "'run_id'", "letters, digits"),
    ("long id", {"run_id": "a" * 200}, "'run_id'", "1–128"),
    ("NUL in id", {"run_id": "a\x00b"}, "'run_id'", "letters, digits"),
    ("id not a string", {"run_id": 12}, "'run_id'", "letters, digits"),
    ("dot-dot id", {"run_id": "a..b"}, "'run_id'", "letters, digits"),
    ("scenario escape", {"scenario_id": "../s"}, "'scenario_id'", "letters, digits"),
    ("replicate 2^40", {"replicate": 2**40}, "'replicate'", "whole number"),
    ("negative replicate", {"replicate": -1}, "'replicate'", "whole number"),
    ("replicate as text", {"replicate": "1"}, "'replicate'", "whole number"),
    ("seed 2^70", {"seed": 2**70}, "'seed'", "whole number"),
    ("negative seed", {"seed": -5}, "'seed'", "whole number"),
    ("fractional seed", {"seed": 1.5}, "'seed'", "whole number"),
    ("rounds_done 10^12", {"rounds_done": 10**12}, "'rounds_done'", "whole number"),
    ("rounds_done past rounds_max", {"rounds_done": 9}, "'rounds_done'", "from 0 to 6"),
    ("negative rounds_max", {"rounds_max": -7}, "'rounds_max'", "whole number"),
    ("huge rounds_max", {"rounds_max": 10**12}, "'rounds_max'", "whole number"),
    ("negative n0", {"n0": -3}, "'n0'", "whole number"),
    ("n0 above N", {"n0": 31}, "'n0'", "from 0 to 30"),
    ("missing n0", {"n0": DROP}, "'n0'", "missing"),
    ("q above 1", {"q": 1.5}, "'q'", "[0, 1]"),
    ("q as text", {"q": "0.1"}, "'q'", "[0, 1]"),
    ("q NaN", {"q": float("nan")}, "'q'", "[0, 1]"),
    ("unknown status", {"status": "sideways"}, "'status'", "running, interrupted, complete"),
    ("bad created_at", {"created_at": "yesterday"}, "'created_at'", "ISO date"),
    ("bad finished_at", {"finished_at": "never"}, "'finished_at'", "ISO date"),
    ("garbage rng_state", {"rng_state": "garbage"}, "'rng_state'", "export the run again"),
    ("foreign rng_state", {"rng_state": {"bit_generator": "MT19937"}}, "'rng_state'", "export"),
    ("markdown network kind", {"network_kind": "![x](http://x/y.png)"}, "'network_kind'", "use"),
    ("backend escape", {"backend": "../llm"}, "'backend'", "letters, digits"),
    ("missing backend", {"backend": DROP}, "'backend'", "say which policy"),
    ("mix weights object", {"mix_weights": {"a": 1}}, "'mix_weights'", "32"),
    ("mix weights short", {"mix_weights": [1, 2]}, "'mix_weights'", "32"),
    ("negative mix weights", {"mix_weights": [-1] * 32}, "'mix_weights'", "non-negative"),
    ("network_params list", {"network_params": "[1, 2]"}, "'network_params'", "object"),
    ("provenance not JSON", {"provenance": "{oops"}, "'provenance'", "valid JSON"),
    ("synthetic as text", {"synthetic": "yes"}, "'synthetic'", "true or false"),
    ("event type", {"event_type": "coup"}, "event type", "use one of"),
    ("event id escape", {"event_id": "../e"}, "event id", "letters, digits"),
    ("empty report", {"event_report": " "}, "report", "write the news"),
    ("long report", {"event_report": "x" * 5000}, "report", "shorten"),
    ("event not an object", {"event": [1]}, "'event'", "object"),
    ("endpoint a number", {"provenance": '{"endpoint": 5}'}, "'endpoint'", "http(s) endpoint"),
    (
        "endpoint with ESC",
        {"provenance": json.dumps({"endpoint": "http://a\x1b[31mb/v1"})},
        "'endpoint'",
        "http(s) endpoint",
    ),
    ("endpoint ftp", {"provenance": '{"endpoint": "ftp://x/v1"}'}, "'endpoint'", "localhost"),
    ("ESC in model", {"provenance": '{"model": "m\\u001b[2J"}'}, "'provenance'", "remove them"),
]


@pytest.mark.parametrize(
    ("changes", "field", "fix"),
    [c[1:] for c in RUN_JSON_CASES],
    ids=[c[0] for c in RUN_JSON_CASES],
)
def test_run_json_field(work, changes, field, fix):
    db, folder, area = work
    edit_meta(folder, **changes)
    refused(["import", str(folder)], db, area, field, fix)


def edit_csv(folder: Path, name: str, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    path = folder / f"{name}.csv"
    edit(pd.read_csv(path, dtype=str, keep_default_na=False)).to_csv(path, index=False)


def put(column: str, row: int, value: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[row, column] = value
        return frame

    return edit


TABLE_CASES = [
    ("profile 32", "agents", put("profile", 0, "32"), "agents.csv", "0–31"),
    ("agents out of order", "agents", put("agent", 0, "7"), "agents.csv", "0..N-1"),
    ("edge to node 999999999", "edges", put("u", 0, "999999999"), "edges.csv", "not an agent"),
    ("self-loop", "edges", lambda f: f.assign(v=f["u"]), "edges.csv", "self-loop"),
    ("edge id 1e20", "edges", put("u", 0, "1e20"), "column 'u'", "at most"),
    ("negative round", "decisions", put("round", 0, "-1"), "decisions.csv", "negative round"),
    ("m 2^40", "decisions", put("m", 0, str(2**40)), "column 'm'", "at most"),
    ("post maybe", "decisions", put("post", 0, "maybe"), "column 'post'", "true/false"),
    ("agent abc", "decisions", put("agent", 0, "abc"), "column 'agent'", "integer"),
    ("curve mismatch", "curves", put("informed", 0, "29"), "curves.csv", "remove it"),
]


@pytest.mark.parametrize(
    ("name", "edit", "field", "fix"), [c[1:] for c in TABLE_CASES], ids=[c[0] for c in TABLE_CASES]
)
def test_run_folder_table(work, name, edit, field, fix):
    db, folder, area = work
    edit_meta(folder)
    edit_csv(folder, name, edit)
    refused(["import", str(folder)], db, area, field, fix)


@pytest.mark.parametrize(
    ("content", "field", "fix"),
    [
        (b"{not json", "run.json", "not valid JSON"),
        (b"[1, 2]", "run.json", "JSON object"),
        (b"\xff\xfe{}", "run.json", "not valid JSON"),
    ],
    ids=["not JSON", "a list", "not UTF-8"],
)
def test_run_json_file(work, content, field, fix):
    db, folder, area = work
    (folder / "run.json").write_bytes(content)
    refused(["import", str(folder)], db, area, field, fix)


def test_missing_decisions_file(work):
    db, folder, area = work
    (folder / "decisions.csv").unlink()
    edit_meta(folder)
    refused(["import", str(folder)], db, area, "decisions.csv", "missing")


def plant_run(db: Path, run_id: str) -> None:
    """Give the stored run a hostile id, as an older SpreadLab's import would have kept it."""
    with RunStore(db) as store, store.transaction():
        for table in store.dependent_tables():
            store.con.execute(f"UPDATE {table} SET run_id = ? WHERE run_id = ?", [run_id, RUN_ID])


@pytest.mark.parametrize("run_id", ["../../PWNED", "/tmp/PWNED-abs", "a/../../b"])
def test_export_of_a_stored_hostile_id_stays_in_the_folder(work, run_id):
    db, _, area = work
    plant_run(db, run_id)
    out = area / "out"
    refused(["export", run_id, str(out)], db, area, "run id", "safe id")
    with RunStore(db) as store, pytest.raises(SpreadLabError, match="safe id"):
        run_archive(store, run_id)
    assert not Path("/tmp/PWNED-abs").exists()


def test_export_and_zip_names_are_the_validated_id(work):
    db, _, area = work
    with RunStore(db) as store:
        folder = export_run(store, RUN_ID, area / "out")
        names = __import__("zipfile").ZipFile(__import__("io").BytesIO(run_archive(store, RUN_ID)))
    assert folder == (area / "out" / RUN_ID).resolve()
    assert all(n.startswith(f"{RUN_ID}/") and ".." not in n for n in names.namelist())


RUN_FIELDS = st.sampled_from(
    [
        "run_id",
        "scenario_id",
        "replicate",
        "seed",
        "rounds_max",
        "rounds_done",
        "n0",
        "q",
        "status",
        "created_at",
        "rng_state",
        "network_kind",
        "backend",
        "mix_weights",
        "synthetic",
    ]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(field=RUN_FIELDS, value=JSON_VALUES)
def test_any_run_json_value_is_stored_valid_or_refused_cleanly(template, work, field, value):
    """Whatever a run.json field holds, import either stores a run that can be listed, read and
    exported again under the target folder, or refuses with a project error; never a crash."""
    db, folder, area = work
    meta = json.loads((template[1] / "run.json").read_text())
    meta.update({"run_id": "prop-run", field: value})
    (folder / "run.json").write_text(json.dumps(meta))
    with RunStore(db) as store:
        before = store.table_counts()
        try:
            run_id = import_run(store, folder)
        except SpreadLabError as exc:
            assert "\n" not in str(exc)
            assert store.table_counts() == before
            return
        try:
            store.list_runs()
            store.load_run(run_id)
            target = export_run(store, run_id, area / "again")
            assert target.is_relative_to((area / "again").resolve())
        finally:
            store.delete_run(run_id)
            shutil.rmtree(area / "again", ignore_errors=True)


MIX_CASES = [
    ("weights a number", b'{"weights": 5}', "'weights'", "list of 32 numbers"),
    ("trait as a word", b'{"traits": {"E": "high"}}', "trait E", "give a number"),
    ("weights 1e308", json.dumps({"weights": [1e308] * 32}).encode(), "weights", "up to 1e+12"),
    ("weight 1e400", b'{"weights": {"O+C-E+A-N+": 1e400}}', "weights", "up to 1e+12"),
    ("not UTF-8", b"\xff\xfe{}", "mix file", "UTF-8"),
    ("traits a list", b'{"traits": [1]}', "'traits'", "object"),
    ("unknown trait", b'{"traits": {"X": 0.5}}', "trait", "use O, C, E, A, N"),
    ("probability 2", b'{"traits": {"E": 2}}', "trait probabilities", "[0, 1]"),
    ("profile code 99", b'{"weights": {"99": 1}}', "profile code 99", "0–31"),
    ("neither key", b'{"mix": 1}', "mix file", "'traits' or 'weights'"),
    ("all zero", json.dumps({"weights": [0] * 32}).encode(), "all-zero", "weight > 0"),
]


@pytest.mark.parametrize(
    ("content", "field", "fix"), [c[1:] for c in MIX_CASES], ids=[c[0] for c in MIX_CASES]
)
def test_mix_file(work, content, field, fix):
    db, _, area = work
    mix = area / "mix.json"
    mix.write_bytes(content)
    refused(["run", "--mix", str(mix), "--n", "40", "--k", "4"], db, area, field, fix)


EVENT_CASES = [
    ("id escape", [{"id": "../../x", "type": "riots", "report": "r"}], "event id", "letters"),
    ("unknown type", [{"id": "e1", "type": "coup", "report": "r"}], "event type", "use one of"),
    (
        "long title",
        [{"id": "e1", "type": "riots", "title": "t" * 400, "report": "r"}],
        "title",
        "shorten",
    ),
    ("long report", [{"id": "e1", "type": "riots", "report": "r" * 5000}], "report", "shorten"),
    ("not a list", {"id": "e1"}, "events.json", "JSON list"),
    ("duplicate id", [{"id": "e1", "type": "riots", "report": "r"}] * 2, "e1", "duplicate"),
]


@pytest.mark.parametrize(
    ("records", "field", "fix"), [c[1:] for c in EVENT_CASES], ids=[c[0] for c in EVENT_CASES]
)
def test_events_file(work, records, field, fix):
    db, _, area = work
    events = area / "events.json"
    events.write_text(json.dumps(records))
    args = ["run", "--events-file", str(events), "--event", "e1", "--n", "40", "--k", "4"]
    refused(args, db, area, field, fix)


def test_events_file_too_large(work, monkeypatch):
    from spreadlab.world import events

    db, _, area = work
    monkeypatch.setattr(events, "MAX_EVENTS_FILE_BYTES", 100)
    (area / "events.json").write_text(
        json.dumps([{"id": "e1", "type": "riots", "report": "r"}] * 9)
    )
    args = ["run", "--events-file", str(area / "events.json"), "--n", "40", "--k", "4"]
    refused(args, db, area, "events file", "split it")


def test_events_file_not_utf8(work):
    db, _, area = work
    (area / "events.csv").write_bytes(b"id,type,report\n\xff,riots,r\n")
    args = ["run", "--events-file", str(area / "events.csv"), "--n", "40", "--k", "4"]
    refused(args, db, area, "events file", "utf-8")


EDGE_CASES = [
    ("node 999999999", "0 1\n1 999999999\n", "999,999,999", "0..N-1"),
    ("node 2^40", f"0 1\n1 {2**40}\n", "implies N", "0..N-1"),
    ("words", "a b\nc d\n", "line 2", "integers"),
    ("negative id", "0 1\n1 -4\n", "line 2", "negative agent id"),
    ("self-loop", "0 1\n1 1\n", "line 2", "not allowed"),
    ("repeated edge", "0 1\n1 0\n", "line 2", "appears twice"),
]


@pytest.mark.parametrize(
    ("text", "field", "fix"), [c[1:] for c in EDGE_CASES], ids=[c[0] for c in EDGE_CASES]
)
def test_edge_list(work, text, field, fix):
    db, _, area = work
    (area / "edges.txt").write_text(text)
    args = ["run", "--network", "edge_list", "--edge-list", str(area / "edges.txt"), "--n0", "1"]
    refused(args, db, area, field, fix)


LLM_ARGS = ["--backend", "llm", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]
CLI_CASES = [
    ("seed 2^64", ["--seed", str(2**64)], "seed", "from 0 to"),
    ("N 1e9 k 2", ["--n", "1000000000", "--k", "2"], "GB of memory", "lower N or k"),
    ("N 2.5e8 k 8", ["--n", "250000000", "--k", "8"], "GB of memory", "lower N or k"),
    ("ER N 1e9", ["--network", "erdos_renyi", "--n", "1000000000"], "GB", "lower N or k"),
    ("BA N 1e7", ["--network", "barabasi_albert", "--n", "10000000", "--k", "40"], "GB", "lower"),
    ("N 2^40", ["--n", str(2**40)], "N = ", "at most"),
    ("rounds 1e12", ["--rounds", str(10**12)], "rounds", "at most 100,000"),
    ("replicates 1e9", ["--replicates", str(10**9)], "replicates", "at most 100,000"),
    ("q 2", ["--q", "2"], "q = 2", "[0, 1]"),
    ("n0 0", ["--n0", "0"], "n0", "at least one"),
    ("unknown mix", ["--mix", "bogus"], "unknown mix", "use one of"),
    ("odd stubs", ["--n", "41", "--k", "3"], "odd", "change N or k"),
    (
        "max invalid 2",
        [*LLM_ARGS, "--max-invalid", "2"],
        "max_invalid_rate = 2.0",
        "[0, 1]",
    ),
    ("base URL ftp", ["--backend", "llm", "--base-url", "ftp://x/v1"], "ftp://x/v1", "http://"),
    (
        "no concurrency",
        [*LLM_ARGS, "--max-concurrency", "0"],
        "max_concurrency = 0",
        "1 or more",
    ),
]


@pytest.mark.parametrize(
    ("args", "field", "fix"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES]
)
def test_cli_value(work, args, field, fix):
    db, _, area = work
    refused(["run", *args], db, area, field, fix)


# GFM autolink literals, as Streamlit's Markdown finds them in text after escapes are resolved
AUTOLINKS = re.compile(r"(?i)(https?://|www(?=\.))[-.\w]+|[-.+\w]+@[-\w]+(\.[-\w]+)+")


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(st.sampled_from(list("htpsw.:/@ax-_[]()!*<>#`\\ ")) | st.characters(), max_size=60)
)
@example(text="\u2060")  # a word joiner of the text's own (found by hypothesis in a full run)
def test_escaped_text_shows_literally_with_no_link(text):
    shown = re.sub(r"\\(.)", r"\1", md_escape(text))
    # the joiners md_escape adds are invisible; so are any the text brought along
    assert shown.replace(WORD_JOINER, "") == text.replace(WORD_JOINER, "")
    assert not AUTOLINKS.search(shown)


@pytest.mark.parametrize(
    "text", ["http://203.0.113.9/b.png", "see www.example.org", "mail@example.org", "HTTPS://X.Y"]
)
def test_bare_links_are_broken(text):
    assert AUTOLINKS.search(text) and not AUTOLINKS.search(re.sub(r"\\(.)", r"\1", md_escape(text)))


@pytest.mark.parametrize("state", ["garbage", '{"bit_generator": "PCG64"}', "[1, 2]"])
def test_a_damaged_stored_generator_state_ends_resume_in_one_line(work, state):
    db, _, area = work
    with RunStore(db) as store:
        store.con.execute(
            "UPDATE runs SET rng_state = ?, status = 'interrupted', rounds_done = 2", [state]
        )
        store.con.execute("DELETE FROM decisions WHERE round >= 2")
        store.con.execute("DELETE FROM curves WHERE round >= 2")
    refused(["resume", RUN_ID], db, area, "rng_state", "generator state")


def test_a_zip_declaring_a_huge_member_is_refused_before_unpacking(work):
    import io
    import zipfile

    from spreadlab.dashboard.actions import import_archive

    db, folder, _ = work
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(folder / "run.json", "run/run.json")
        archive.writestr("run/decisions.csv", b"0" * (5 * 1024**2))
    data = bytearray(buffer.getvalue())
    # declare 4 GB uncompressed in the central directory entry of the large member
    entry = data.rfind(b"PK\x01\x02")
    data[entry + 24 : entry + 28] = (2**32 - 1).to_bytes(4, "little")
    before = counts(db)
    with RunStore(db) as store, pytest.raises(SpreadLabError, match="would unpack to"):
        import_archive(store, bytes(data), "bomb.zip")
    assert counts(db) == before


INT_FIELDS = {  # field: (low, high) as the import must accept them (N = 30, rounds_max = 5)
    "replicate": (0, 100_000),
    "seed": (0, 2**63 - 1),
    "rounds_done": (0, 6),
    "n0": (0, 30),
}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(sorted(INT_FIELDS)),
    value=st.integers(-(2**70), 2**70) | st.integers(-3, 100_003),
)
def test_integer_run_json_fields_are_accepted_exactly_in_range(template, work, field, value):
    _, folder, _ = work
    meta = json.loads((template[1] / "run.json").read_text())
    meta.update({"run_id": "prop-int", field: value})
    (folder / "run.json").write_text(json.dumps(meta))
    low, high = INT_FIELDS[field]
    if low <= value <= high:
        assert read_run_folder(folder)["run"][field] == value
    else:
        with pytest.raises(SpreadLabError, match=f"'{field}' = .*whole number from {low}"):
            read_run_folder(folder)


@pytest.mark.parametrize(
    ("provenance", "field", "fix"),
    [
        ({"backend": "stochastic"}, "stored policy settings", "import it again"),
        ({"backend": "stochastic", "a": "x", "b": [1], "parameter_table": 3}, "settings", "again"),
        (
            {"backend": "llm", "endpoint": "http://127.0.0.1:9/v1", "temperature": "hot"},
            "stored policy settings",
            "import it again",
        ),
        ({"backend": "quantum"}, "backend 'quantum'", "only stochastic and llm"),
    ],
    ids=["no table", "garbage table", "temperature a word", "backend"],
)
def test_damaged_stored_provenance_ends_resume_in_one_line(work, provenance, field, fix):
    db, folder, area = work
    edit_meta(folder, provenance=json.dumps(provenance), status="interrupted")
    assert CliRunner().invoke(cli, ["import", str(folder), "--db", str(db)]).exit_code == 0
    refused(["resume", "imported-1"], db, area, field, fix)


def test_a_run_whose_writer_still_lives_is_not_resumed_by_another_process(work):
    import socket
    import subprocess
    import sys

    db, _, area = work
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        start = Path(f"/proc/{sleeper.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        with RunStore(db) as store:
            store.con.execute("UPDATE runs SET status = 'running', rounds_done = 2")
            store.con.execute("DELETE FROM decisions WHERE round >= 2")
            store.con.execute("DELETE FROM curves WHERE round >= 2")
            store.con.execute(
                "UPDATE run_writers SET pid = ?, host = ?, started = ?",
                [sleeper.pid, socket.gethostname(), start],
            )
        refused(["resume", RUN_ID], db, area, f"pid {sleeper.pid}", "let it finish")
        listed = CliRunner().invoke(cli, ["runs", "--db", str(db)]).output
        assert "running" in listed and "spreadlab resume" not in listed
    finally:
        sleeper.kill()
        sleeper.wait()
    listed = CliRunner().invoke(cli, ["runs", "--db", str(db)]).output
    assert "interrupted" in listed and f"spreadlab resume {RUN_ID}" in listed


def test_export_page_refuses_a_stored_hostile_id(work, monkeypatch):
    import streamlit
    from apptest_support import app, texts

    db, _, _ = work
    plant_run(db, "../../PWNED")
    monkeypatch.setenv("SPREADLAB_DB", str(db))
    streamlit.cache_data.clear()
    streamlit.cache_resource.clear()
    at = app("pages/5_Export.py")
    assert not at.exception
    assert "safe id" in texts(at.error)
    assert [b.label for b in at.get("download_button")] == ["Download informed curves (CSV)"]


@pytest.mark.parametrize("what", ["edge list", "run table"])
def test_files_too_large_for_memory_are_refused_before_reading(work, monkeypatch, what):
    from spreadlab import memory

    db, folder, area = work
    monkeypatch.setattr(memory, "available_bytes", lambda: 1000)
    if what == "edge list":
        (area / "edges.txt").write_text("0 1\n1 2\n" * 10)
        args = ["run", "--network", "edge_list", "--edge-list", str(area / "edges.txt")]
        refused([*args, "--n0", "1"], db, area, "edge list", "GB is available")
    else:
        edit_meta(folder)
        refused(["import", str(folder)], db, area, "agents.csv", "GB is available")


@pytest.mark.parametrize("title", ["Überfall in Köln", "....", "東京", "../../x", "a" * 300, ""])
def test_a_dashboard_headline_of_any_kind_makes_a_safe_event_id(title):
    from spreadlab.dashboard.forms import build_event
    from spreadlab.validate import check_id

    event = build_event(title=title, event_type="riots", report="Crowds gathered.")
    assert check_id(event.id, "event id") == event.id
