"""Calibration against a local server with hidden trait × event-type rules (loopback only)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd
import pytest
from calibration_server import (
    HIDDEN_A,
    HIDDEN_B,
    HIDDEN_EVENT_A,
    HIDDEN_EVENT_B,
    calibration_server,
    hidden_table,
)
from cli_runner import spreadlab

from spreadlab.dashboard.labels import provenance_note
from spreadlab.dashboard.tables import curves_csv_table
from spreadlab.engine.simulate import Scenario
from spreadlab.engine.stochastic import ILLUSTRATIVE, ParameterTable, StochasticPolicy
from spreadlab.errors import ConfigError, DataFormatError
from spreadlab.jobs.calibrate import (
    Design,
    calibrate,
    default_events,
    measurement_date,
    measuring_cost,
    table_hash,
)
from spreadlab.jobs.cell_estimates import clopper_pearson, online_interval, online_mle
from spreadlab.jobs.persona_check import ask_inventory, fidelity, stored_report, summary
from spreadlab.jobs.post_bank import NEUTRAL_SOURCE, stored_bank
from spreadlab.jobs.runner import run_scenario
from spreadlab.jobs.surrogate_check import check_surrogate, stored_scenario
from spreadlab.llm.config import LLMConfig
from spreadlab.llm.policy import LLMPolicy
from spreadlab.store.queries import informed_curves, run_provenances
from spreadlab.store.runs import RunStore
from spreadlab.world.events import EVENT_TYPES, catalog
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import TRAITS, PersonalityMix, parse_mix

REPEATS = 2  # 2688 consultations: about 15 s here, and every cell still has its probes


def config(url: str) -> LLMConfig:
    return LLMConfig.from_env({}, base_url=url, model="sim-1", max_concurrency=32, timeout=5)


def hidden_effects() -> dict[tuple[str, str], float]:
    """The hidden log-odds effects in the fit's terms (traits 0/1, battles the baseline)."""
    out = {}
    for channel, traits, events in (
        ("a", HIDDEN_A, HIDDEN_EVENT_A),
        ("b", HIDDEN_B, HIDDEN_EVENT_B),
    ):
        out |= {(channel, t): traits[t] for t in TRAITS}
        out |= {(channel, f"event:{e}"): events[e] for e in EVENT_TYPES[1:]}
    return out


def test_calibration_recovers_the_hidden_rates_and_replays_with_no_request(tmp_path):
    design = Design(tuple(default_events()), REPEATS)
    with calibration_server() as server, RunStore(tmp_path / "cal.duckdb") as store:
        bank = stored_bank(store.con, design.events)
        assert set(bank.sources.values()) == {NEUTRAL_SOURCE}
        with LLMPolicy(config(server.base_url), store.con) as policy:
            result = calibrate(policy, design, bank)
        asked = server.requests
        assert result.meta["session"]["calls"] == design.consultations == 32 * 6 * 7 * REPEATS
        cost = result.meta["cost"]
        assert cost["calls"] == design.consultations and cost["prompt_tokens"] > 0
        assert cost == {
            "calls": design.consultations,
            "prompt_tokens": result.meta["session"]["prompt_tokens"],
            "completion_tokens": result.meta["session"]["completion_tokens"],
            "money": None,  # sim-1 has no price
            "currency": None,
        }
        assert result.meta["invalid"] == 0

        a, b = hidden_table()
        cells = result.cells
        cover_a = np.mean((cells.a_lo <= a) & (a <= cells.a_hi))
        cover_b = np.mean((cells.b_lo <= b) & (b <= cells.b_hi))
        print(f"cell coverage at 95%: a {cover_a:.3f}, b {cover_b:.3f}")
        assert cover_a >= 0.9 and cover_b >= 0.9
        assert np.all(cells.a_trials == REPEATS) and np.all(cells.b_trials == 3 * REPEATS)

        z = []
        for (channel, term), truth in hidden_effects().items():
            estimate, se = result.effects.effect(channel, term)
            z.append((estimate - truth) / se)
        z = np.abs(np.array(z))
        print(f"effects within 2 SE: {np.mean(z <= 2):.3f}; largest |z| {z.max():.2f}")
        assert len(z) == 20 and np.mean(z <= 2) >= 0.9 and np.all(z <= 4)

        with LLMPolicy(config(server.base_url), store.con) as policy:
            again = calibrate(policy, design, stored_bank(store.con, design.events))
        assert server.requests == asked, "a repeated calibration must replay from the cache"
        assert again.meta["session"] == {
            "calls": 0, "cache_hits": design.consultations, "prompt_tokens": 0,
            "completion_tokens": 0,
        }  # fmt: skip
        assert again.meta["cost"] == cost, "a replay keeps what the answers cost to measure"
        assert f"cost to measure: {measuring_cost(cost)}" in again.provenance("cells")
        assert again.log.equals(result.log)

    path = tmp_path / "table.csv"
    path.write_text(result.to_csv("cells"), encoding="utf-8")
    table = ParameterTable.from_csv(path)
    assert np.array_equal(table.a, cells.a) and np.array_equal(table.b, cells.b)
    assert table_hash(table) == table_hash(result.table("cells"))
    assert table.provenance.startswith("calibrated table of model sim-1")
    assert "illustrative" not in table.provenance.lower()
    assert "llm" not in table.provenance.lower()
    smoothed = result.table("smoothed")
    assert np.abs(smoothed.a - a).max() < 0.2 and np.abs(smoothed.b - b).max() < 0.1
    s = result.smoother  # the hidden rules are additive in log-odds: the smoother's model is right
    cover = [np.mean((s[f"{c}_lo"] <= t) & (t <= s[f"{c}_hi"])) for c, t in (("a", a), ("b", b))]
    print(f"smoother interval coverage at 95%: a {cover[0]:.3f}, b {cover[1]:.3f}")
    assert min(cover) >= 0.9 and np.all(s["a_lo"] <= s["a"]) and np.all(s["a"] <= s["a_hi"])
    assert np.mean(s["a_hi"] - s["a_lo"]) < np.mean(cells.a_hi - cells.a_lo)
    written = pd.read_csv(path)
    assert np.allclose(written["b_smoothed_hi"].to_numpy().reshape(32, 6), s["b_hi"])


def test_a_replayed_calibration_is_dated_when_its_answers_were_measured(tmp_path):
    """The table's date is the day its answers were obtained, from the ledger: replaying them
    another day gives the same date, provenance and content hash, and no request."""
    design = Design(tuple(default_events()), 1)
    with calibration_server() as server, RunStore(tmp_path / "cal.duckdb") as store:
        bank = stored_bank(store.con, design.events)
        days = {datetime.now(UTC).strftime("%Y-%m-%d")}
        with LLMPolicy(config(server.base_url), store.con) as policy:
            fresh = calibrate(policy, design, bank)
        days.add(datetime.now(UTC).strftime("%Y-%m-%d"))  # the same day unless midnight passed
        assert fresh.meta["date"] in days or fresh.meta["date"] == " to ".join(sorted(days))
        assert set(fresh.meta["answers_by_day"]) <= days
        assert sum(fresh.meta["answers_by_day"].values()) == design.consultations
        store.con.execute("UPDATE llm_calls SET created_at = TIMESTAMP '2026-01-02 10:00:00'")
        asked = server.requests
        replays = []
        for _ in range(2):
            with LLMPolicy(config(server.base_url), store.con) as policy:
                replays.append(calibrate(policy, design, bank))
        assert server.requests == asked
    first, second = replays
    assert first.meta["date"] == "2026-01-02"
    assert first.meta["answers_by_day"] == {"2026-01-02": design.consultations}
    assert "sim-1 at 127.0.0.1" in first.provenance("cells") and ", 2026-01-02, " in (
        first.provenance("cells")
    )
    assert first.to_csv("cells") == second.to_csv("cells")
    assert table_hash(first.table("cells")) == table_hash(second.table("cells"))
    assert measurement_date({"2026-01-02": 5, "2025-12-30": 1}) == "2025-12-30 to 2026-01-02"


def test_the_cli_prints_the_estimate_first_then_the_measured_cost_and_replays(tmp_path):
    db, out = tmp_path / "cal.duckdb", tmp_path / "table.csv"
    prices = tmp_path / "prices.csv"
    prices.write_text(
        "model,input_per_million,output_per_million,currency\nsim-1,1.5,6.0,EUR\n",
        encoding="utf-8",
    )
    with calibration_server() as server:
        args = ["calibrate", "--model", "sim-1", "--base-url", server.base_url, "--repeats", "1"]
        args += ["--m", "1", "--persona-check", "--out", str(out), "--db", str(db)]
        args += ["--prices", str(prices)]
        first = spreadlab(*args)
        assert first.returncode == 0, first.stderr
        asked = server.requests
        assert asked == 32 * 6 * 3 + 32 * 20 + 1  # every probe and item once, the endpoint check
        measured = stored_meta(db)["cost"], pd.read_csv(out)["provenance"][0]
        again = spreadlab(*args)
        assert again.returncode == 0, again.stderr
        assert server.requests == asked
        assert_the_replay_keeps_the_cost_to_measure(first, again, measured, db, out)
        made = spreadlab(
            "run", "--n", "400", "--k", "6", "--mix", "extraverted", "--rounds", "4",
            "--n0", "8", "--network", "watts_strogatz", "--db", str(db),
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        scenario_id = made.stdout.split("scenario=")[1].split("\t")[0]
        checked = spreadlab(
            *args, "--validate", "riot-stadium-brask", "--validate", scenario_id,
            "--validate-n", "100",
        )  # fmt: skip
        assert checked.returncode == 0, checked.stderr
    assert (
        "validation on riot-stadium-brask (riot-stadium-brask, uniform mix, random_regular k=8, "
        "N=100, 5 LLM replicates): the surrogate "
    ) in checked.stdout
    assert (
        f"validation on scenario {scenario_id} (battle-marren-ridge, extraverted mix, "
        "watts_strogatz k=6, N=100, 5 LLM replicates): the surrogate "
    ) in checked.stdout
    estimate = first.stderr.index("estimate: upper bound: 576 consultations")
    measured = first.stderr.index("measured: 576 consultations, 1216 calls")
    assert estimate < measured
    assert "measured: 576 consultations, 0 calls to the endpoint, 1216 answers replayed" in (
        again.stderr
    )
    assert "calibration cal-" in first.stdout and "event:riots" in first.stdout
    assert (
        "persona check (Mini-IPIP, high versus low personas): the model takes every trait on"
        in (first.stdout)
    )
    table = ParameterTable.from_csv(out)
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute("SELECT table_hash, model, decisions FROM calibrations").fetchall()
        persona = stored_report(con, stored_id(db))
    assert stored == [(table_hash(table), "sim-1", 576)]
    assert [r.trait for r in persona] == list(TRAITS) and all(r.taken_on for r in persona)
    assert all(f"  {r.line()}" in first.stdout for r in persona)
    renamed, edited = tmp_path / "renamed.csv", tmp_path / "edited.csv"
    renamed.write_text(out.read_text(encoding="utf-8"), encoding="utf-8")
    lines = out.read_text(encoding="utf-8").splitlines()
    fields = lines[1].split(",")
    fields[3] = repr(float(fields[3]) * 0.5 + 0.001)  # b of the first cell, changed
    edited.write_text("\n".join([lines[0], ",".join(fields), *lines[2:]]) + "\n", encoding="utf-8")
    illustrative = tmp_path / "illustrative.csv"
    assert spreadlab("params", str(illustrative)).returncode == 0
    sources, run_ids = {}, {}
    for path in (out, renamed, edited, illustrative):
        run = spreadlab(
            "run", "--params", str(path), "--n", "200", "--rounds", "3", "--db", str(db)
        )
        assert run.returncode == 0, run.stderr
        run_id = run_ids[path.name] = run.stdout.split("\t")[0]
        with duckdb.connect(str(db), read_only=True) as con:
            provenance = json.loads(
                con.execute("SELECT provenance FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]
            )
        sources[path.name] = provenance["parameter_table"]
    surrogate = f"stochastic surrogate of sim-1 (calibration {stored_id(db)}: 127.0.0.1:"
    assert sources["table.csv"].startswith(surrogate)
    assert sources["renamed.csv"] == sources["table.csv"]
    assert sources["edited.csv"] == "user table edited.csv"
    assert sources["illustrative.csv"] == ILLUSTRATIVE
    assert_surrogate_in_exports(db, tmp_path, run_ids)


def assert_surrogate_in_exports(db, tmp_path, run_ids: dict[str, str]) -> None:
    """The fit CSV, the curves CSV and the banner name the surrogate's model for its runs only."""
    named = "synthetic (stochastic surrogate of sim-1, not LLM agents)"
    surrogate_run, user_run = run_ids["table.csv"], run_ids["edited.csv"]
    for run_id in (surrogate_run, user_run):
        assert spreadlab("fit", run_id, "--db", str(db)).returncode == 0
    fits_csv = tmp_path / "fits.csv"
    assert spreadlab("export-fits", str(fits_csv), "--db", str(db)).returncode == 0
    fits = pd.read_csv(fits_csv).set_index("group_id")["data_source"]
    assert set(fits[surrogate_run]) == {named}
    assert set(fits[user_run]) == {"synthetic (stochastic model, not LLM agents)"}
    codes = pd.read_csv(fits_csv).set_index("group_id")["provenance"]
    assert set(codes[surrogate_run]) == {"surrogate"} and set(codes[user_run]) == {"user table"}
    with RunStore(db) as store:
        runs = store.list_runs()
        chosen = runs[runs["run_id"].isin([surrogate_run, user_run])]
        curves = curves_csv_table(informed_curves(store, list(chosen["run_id"])), chosen)
        note = provenance_note(
            chosen[chosen["run_id"] == surrogate_run],
            run_provenances(store, [surrogate_run]),
        )
    by_run = curves.groupby("run_id")["data_source"].agg(set)
    assert by_run[surrogate_run] == {named} and named not in by_run[user_run]
    kinds = curves.groupby("run_id")["provenance"].agg(set)
    assert kinds[surrogate_run] == {"surrogate"} and kinds[user_run] == {"user table"}
    assert "surrogate: stochastic surrogate of sim-1 (calibration cal-" in note


def assert_the_replay_keeps_the_cost_to_measure(first, again, measured, db, out) -> None:
    """A repeat that replays every answer says so, and still stores, prints and writes what the
    calibration's 576 answers cost to measure (priced by the --prices table)."""
    cost, provenance = measured
    assert cost["calls"] == 576 and cost["prompt_tokens"] > 0 and cost["completion_tokens"] > 0
    money = (cost["prompt_tokens"] * 1.5 + cost["completion_tokens"] * 6.0) / 1e6
    assert cost["money"] == pytest.approx(money) and cost["currency"] == "EUR" and money > 0
    assert stored_meta(db)["cost"] == cost
    assert stored_meta(db)["session"] == {
        "calls": 0, "cache_hits": 576, "prompt_tokens": 0, "completion_tokens": 0,
    }  # fmt: skip
    said = f"576 calls, {cost['prompt_tokens']} prompt + {cost['completion_tokens']} completion "
    said += f"tokens; cost ≈ {cost['money']:.4f} EUR"
    assert f"cost to measure: {said}" in provenance
    assert pd.read_csv(out)["provenance"][0] == provenance
    for run in (first, again):
        assert "cost to measure the calibration (every answer its table rests on" in run.stderr
        assert f"from the cache): {said}" in run.stderr
    assert "0 requests: every answer replayed from the cache" in again.stderr
    assert "0 requests" not in first.stderr


def stored_meta(db) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        return json.loads(con.execute("SELECT meta FROM calibrations").fetchone()[0])


def stored_id(db) -> str:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT calibration_id FROM calibrations").fetchone()[0]


def test_calibration_needs_every_event_type_for_a_params_table(tmp_path):
    events = tuple(default_events()[:2])
    with (
        calibration_server() as server,
        RunStore(tmp_path / "cal.duckdb") as store,
        LLMPolicy(config(server.base_url), store.con) as policy,
    ):
        result = calibrate(policy, Design(events, 1, (1,)), stored_bank(store.con, events))
    with pytest.raises(DataFormatError, match="all six event types"):
        result.table("cells")


def test_exact_intervals_and_the_online_estimate_on_known_counts():
    assert clopper_pearson(0, 10) == (0.0, pytest.approx(0.3085, abs=1e-4))
    lo, hi = clopper_pearson(5, 10)
    assert lo == pytest.approx(0.1871, abs=1e-4) and hi == pytest.approx(0.8129, abs=1e-4)
    ms, n = np.array([1.0, 2.0, 4.0]), np.array([40, 40, 40])
    b = 0.2
    y = np.round(n * (1 - (1 - b) ** ms)).astype(np.int64)
    assert online_mle(ms, n, y) == pytest.approx(b, abs=0.02)
    lo, hi = online_interval(ms, n, y)
    assert lo < b < hi and hi - lo < 0.15
    assert online_mle(ms, n, np.zeros(3, dtype=np.int64)) == 0.0
    assert online_interval(ms, n, n)[1] == 1.0


def test_the_exact_online_interval_covers_at_least_its_level():
    rng = np.random.default_rng(7)
    ms, n, b = np.array([1.0, 2.0, 4.0]), np.array([3, 3, 3]), 0.15
    p = 1 - (1 - b) ** ms
    hits = [
        (lambda lo_hi: lo_hi[0] <= b <= lo_hi[1])(online_interval(ms, n, rng.binomial(n, p)))
        for _ in range(200)
    ]
    assert np.mean(hits) >= 0.95


@pytest.mark.parametrize("personas", [True, False], ids=["reads-personas", "ignores-personas"])
def test_the_persona_check_finds_the_traits_only_where_the_model_takes_them_on(tmp_path, personas):
    with (
        calibration_server(personas=personas) as server,
        RunStore(tmp_path / "cal.duckdb") as store,
        LLMPolicy(config(server.base_url), store.con) as policy,
    ):
        batches: list[tuple[int, int]] = []
        answers = ask_inventory(policy, repeats=1, on_progress=lambda *b: batches.append(b))
        asked = server.requests
    assert batches == [(1, 4), (2, 4), (3, 4), (4, 4)]  # 8 personas × 20 items at a time
    assert asked == 32 * 20 + 1  # every item once, and the endpoint check
    assert len(answers) == 32 * 20 and answers["score"].notna().all()
    assert list(answers["profile"]) == [p for p in range(32) for _ in range(20)]
    report = fidelity(answers)
    print("\n".join(r.line() for r in report))
    assert [r.trait for r in report] == list(TRAITS)
    assert all(r.taken_on for r in report) if personas else not any(r.taken_on for r in report)
    assert ("none of the five" in summary(report)) != personas


def test_the_surrogate_check_passes_the_true_table_and_flags_b_halved(tmp_path):
    scenario = Scenario(
        event=catalog()["battle-marren-ridge"],
        mix=PersonalityMix.uniform(),
        network=NetworkSpec("random_regular", n=200, k=6),
        rounds=10,
        q=0.02,
        n0=5,
        replicates=5,
        seed=1,
    )
    a, b = hidden_table()
    with (
        calibration_server() as server,
        RunStore(tmp_path / "cal.duckdb") as store,
        LLMPolicy(config(server.base_url), store.con) as policy,
    ):
        progress: list[tuple[int, int]] = []
        right = check_surrogate(
            scenario,
            policy,
            ParameterTable(a, b, "hidden rules"),
            on_progress=lambda done, total: progress.append((done, total)),
        )
        asked = server.requests
        wrong = check_surrogate(scenario, policy, ParameterTable(a, b / 2, "b halved"))
        assert server.requests == asked  # the LLM replicates replay from the cache
    print(right.verdict(), wrong.verdict(), sep="\n")
    assert right.reproduces and right.verdict().startswith("the surrogate reproduces")
    assert np.array_equal(right.llm, wrong.llm)
    assert not wrong.reproduces and "does NOT reproduce" in wrong.verdict()
    assert "(below it)" in wrong.verdict()
    # one report per LLM round played, counted against replicates × (rounds + 1)
    assert [done for done, _ in progress] == list(range(1, len(progress) + 1))
    assert {total for _, total in progress} == {5 * 11} and len(progress) <= 5 * 11


def test_a_stored_scenario_is_validated_at_small_n_with_its_own_settings(tmp_path):
    big = Scenario(
        event=catalog()["protest-fuel-price"],
        mix=parse_mix("extraverted"),
        network=NetworkSpec("barabasi_albert", n=2000, k=6),
        rounds=7,
        q=0.01,
        n0=40,
        replicates=1,
        seed=9,
    )
    with RunStore(tmp_path / "runs.duckdb") as store:
        run_scenario(
            store, big, StochasticPolicy(ParameterTable.illustrative()), scenario_id="big-1"
        )
        small = stored_scenario(store, "big-1", n=200, replicates=5)
        with pytest.raises(ConfigError, match="no stored scenario or catalog event"):
            stored_scenario(store, "nothing-here", n=200, replicates=5)
    assert small.network == NetworkSpec("barabasi_albert", n=200, k=6)
    assert (small.event, small.rounds, small.q, small.seed) == (big.event, 7, 0.01, 9)
    assert small.mix.name == "extraverted"
    assert np.allclose(small.mix.weights, big.mix.weights)
    assert small.n0 == 4 and small.replicates == 5  # the same 2% of the agents seeded
