"""The runner strings the engine and the store together: every replicate's rows and provenance,
rounds committed together (each round alone for a run that lets go of the file), progress after
each round, and resuming an interrupted run to exactly the result it would have had."""

import json

import numpy as np
import pytest

from spreadlab import __version__
from spreadlab.engine.simulate import Scenario
from spreadlab.engine.stochastic import ILLUSTRATIVE, StochasticPolicy
from spreadlab.errors import Cancelled, StoreError
from spreadlab.jobs import runner
from spreadlab.jobs.runner import resume_run, run_scenario
from spreadlab.store.runs import RunStore
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PRESETS


def scenario(event, **kw):
    base = dict(rounds=25, q=0.02, n0=5, replicates=2, seed=11)
    return Scenario(event, PRESETS["uniform"], NetworkSpec(n=400, k=6), **{**base, **kw})


def test_runs_carry_provenance_and_curves(store, event):
    ids = run_scenario(store, scenario(event), StochasticPolicy(), scenario_id="sc1")
    assert ids == ["sc1-000", "sc1-001"]
    runs = store.list_runs()
    assert set(runs["status"]) == {"complete"} and runs["synthetic"].all()
    meta = store.run_meta("sc1-000")
    prov = json.loads(meta["provenance"])
    assert prov["backend"] == "stochastic" and prov["parameter_table"] == ILLUSTRATIVE
    assert prov["seed"] == 11 and len(prov["a"]) == 32
    assert meta["package_version"] == __version__ and meta["created_at"] is not None
    run = store.load_run("sc1-001")
    assert run.network.n == 400 and set(run.network.degrees.tolist()) == {6}
    curve = run.curve
    assert list(curve["round"]) == list(range(len(curve)))
    assert np.array_equal(curve["informed"], curve["new_posters"].cumsum())
    decisions = run.decisions
    assert int(decisions["post"].sum()) == int(curve["informed"].iloc[-1])
    assert not decisions.duplicated(["round", "agent"]).any()


def fail_curve_insert(store, monkeypatch, number):
    """Make the ``number``-th write of curve points to ``store`` fail (0: every one); it comes
    after the same commit's decisions, so those must be rolled back with it."""
    calls = {"n": 0}
    original = store.insert_columns

    def flaky(table, run_id, columns):
        if table == "curves":
            calls["n"] += 1
            if number in (0, calls["n"]):
                raise OSError("disk full")
        original(table, run_id, columns)

    monkeypatch.setattr(store, "insert_columns", flaky)


def test_a_failing_round_write_leaves_no_partial_rows(store, event, monkeypatch):
    monkeypatch.setattr(runner, "COMMIT_EVERY_S", 0.0)  # one commit per round
    sc = scenario(event, replicates=1)
    fail_curve_insert(store, monkeypatch, 4)
    with pytest.raises(OSError):
        run_scenario(store, sc, StochasticPolicy(), scenario_id="f")
    meta = store.run_meta("f-000")
    assert meta["status"] == "interrupted" and meta["rounds_done"] == 3
    decisions = store.decisions("f-000")
    assert decisions["round"].max() == 2  # round 3's decisions were rolled back with its curve
    assert len(store.curve("f-000")) == 3


def test_a_run_holding_the_file_commits_its_rounds_together(tmp_path, event, monkeypatch):
    """Rounds are committed in groups; a failing group is rolled back whole, the run is left
    'interrupted' at the previous group, and a resume still gives the uninterrupted result."""
    monkeypatch.setattr(runner, "COMMIT_EVERY_S", 3600.0)
    sc = scenario(event, replicates=1, q=0.03)
    with RunStore(tmp_path / "a.duckdb") as full:
        groups = []
        write = full.write_rounds

        def counted(run_id, records, rng_state, finished):
            groups.append([rec.round for rec in records])
            write(run_id, records, rng_state, finished)

        monkeypatch.setattr(full, "write_rounds", counted)
        run_scenario(full, sc, StochasticPolicy(), scenario_id="s")
        expected = full.decisions("s-000")
    assert groups == [list(range(len(groups[0])))] and len(groups[0]) > 1

    with RunStore(tmp_path / "b.duckdb") as part:
        fail_curve_insert(part, monkeypatch, 0)
        with pytest.raises(OSError):
            run_scenario(part, sc, StochasticPolicy(), scenario_id="s")
        meta = part.run_meta("s-000")
        assert meta["status"] == "interrupted" and meta["rounds_done"] == 0
        assert part.decisions("s-000").empty and part.curve("s-000").empty
        monkeypatch.undo()
        resume_run(part, "s-000", StochasticPolicy())
        assert part.decisions("s-000").equals(expected)


def test_a_run_that_lets_go_of_the_file_commits_every_round(tmp_path, event, monkeypatch):
    sc = scenario(event, replicates=1)
    with RunStore(tmp_path / "a.duckdb", release_when_idle=True) as store:
        sizes = []
        write = store.write_rounds

        def counted(run_id, records, *rest):
            sizes.append(len(records))
            write(run_id, records, *rest)

        monkeypatch.setattr(store, "write_rounds", counted)
        run_scenario(store, sc, StochasticPolicy(), scenario_id="s")
        assert set(sizes) == {1} and len(sizes) == len(store.curve("s-000"))


def test_cancelled_run_resumes_to_the_uninterrupted_result(tmp_path, event):
    sc = scenario(event, replicates=1, q=0.03)
    with RunStore(tmp_path / "a.duckdb") as full:
        run_scenario(full, sc, StochasticPolicy(), scenario_id="s")
        expected = full.decisions("s-000")

    def cancel_at_round_6(progress):
        if progress.round == 6:
            raise Cancelled

    with RunStore(tmp_path / "b.duckdb") as part:
        with pytest.raises(Cancelled):
            run_scenario(
                part, sc, StochasticPolicy(), scenario_id="s", on_progress=cancel_at_round_6
            )
        assert part.run_meta("s-000")["status"] == "interrupted"
        resume_run(part, "s-000", StochasticPolicy())
        assert part.run_meta("s-000")["status"] == "complete"
        resumed = part.decisions("s-000")
    assert resumed.equals(expected)
    with RunStore(tmp_path / "b.duckdb") as part, pytest.raises(StoreError, match="complete"):
        resume_run(part, "s-000", StochasticPolicy())


def test_progress_is_reported_after_every_stored_round(store, event):
    seen = []
    run_scenario(
        store, scenario(event), StochasticPolicy(), scenario_id="p", on_progress=seen.append
    )
    for replicate, run_id in enumerate(["p-000", "p-001"]):
        mine = [p for p in seen if p.run_id == run_id]
        curve = store.curve(run_id)
        assert [p.round for p in mine] == list(curve["round"])
        assert [p.informed for p in mine] == list(curve["informed"])
        assert {(p.replicate, p.replicates, p.rounds_max, p.n_agents) for p in mine} == {
            (replicate, 2, 25, 400)
        }


class FailsOnce(StochasticPolicy):
    """The stochastic policy, failing at its first decision (as a crash before round 0's write)."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def decide(self, batch, rng):
        if not self.failed:
            self.failed = True
            raise KeyboardInterrupt
        return super().decide(batch, rng)


def test_a_run_stopped_before_its_first_round_resumes_from_its_seed(tmp_path, event):
    """With no round stored there is no generator state: resuming derives the replicate's stream
    from the scenario seed, as the first attempt did, and ends with the same decisions."""
    sc = scenario(event, replicates=1, stop_fraction=0.6)
    with RunStore(tmp_path / "a.duckdb") as full:
        run_scenario(full, sc, StochasticPolicy(), scenario_id="s")
        expected, rounds = full.decisions("s-000"), full.progress("s-000")
    with RunStore(tmp_path / "b.duckdb") as part:
        with pytest.raises(KeyboardInterrupt):
            run_scenario(part, sc, FailsOnce(), scenario_id="s")
        meta = part.run_meta("s-000")
        assert (meta["status"], meta["rounds_done"], meta["rng_state"]) == ("interrupted", 0, None)
        resume_run(part, "s-000", StochasticPolicy())
        assert part.decisions("s-000").equals(expected)
        assert part.progress("s-000") == rounds
    informed, agents = rounds[1], rounds[2]
    assert rounds[0] < 26 and informed >= 0.6 * agents  # stop_fraction held across the resume
