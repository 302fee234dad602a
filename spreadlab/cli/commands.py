"""The ``spreadlab`` commands (listed and loaded by :mod:`spreadlab.cli`).

Modules a command alone needs (fitting, exchange, samples, trait effects) are imported inside it,
so each command loads only its own share of the scientific stack.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from spreadlab.analysis.models import MODELS
from spreadlab.engine.policy import Policy
from spreadlab.engine.simulate import Scenario
from spreadlab.engine.stochastic import ParameterTable
from spreadlab.engine.surrogate import label_table
from spreadlab.jobs.policies import llm_options, open_policy, resume_policy
from spreadlab.jobs.runner import Progress, resume_run, run_scenario
from spreadlab.store.liveness import with_liveness
from spreadlab.store.runs import RunStore, new_scenario_id
from spreadlab.world.events import catalog, get_event, load_events
from spreadlab.world.networks import NETWORK_KINDS, NetworkSpec
from spreadlab.world.personas import PRESETS, parse_mix

if TYPE_CHECKING:
    import pandas as pd

DB_OPTION = click.option(
    "--db",
    "db_path",
    default="spreadlab.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="DuckDB database file.",
)
EVENTS_FILE_OPTION = click.option(
    "--events-file",
    type=click.Path(dir_okay=False),
    help="Your own events (.json list or .csv with id,type,title,report).",
)


@click.group()
def cli() -> None:
    """The commands of :data:`spreadlab.cli.cli`, which shows their help and runs them."""


@cli.command()
@click.option(
    "--event",
    "event_ids",
    multiple=True,
    default=["battle-marren-ridge"],
    show_default=True,
    help="Event id (repeat for several); see 'spreadlab events'.",
)
@EVENTS_FILE_OPTION
@click.option(
    "--mix",
    default="uniform",
    show_default=True,
    help=f"Personality mix: {', '.join(PRESETS)}, 'traits:E=0.8,N=0.3', "
    "'weights:O+C-E+A-N+=2,...' or a .json file.",
)
@click.option("--n", "n_agents", default=1000, show_default=True, help="Number of agents N.")
@click.option("--k", default=8, show_default=True, help="Degree (mean degree for non-regular).")
@click.option(
    "--network",
    "network_kind",
    type=click.Choice(NETWORK_KINDS),
    default="random_regular",
    show_default=True,
)
@click.option("--rewire", default=0.1, show_default=True, help="Watts–Strogatz rewiring prob.")
@click.option(
    "--edge-list", type=click.Path(dir_okay=False), help="Edge list for --network edge_list."
)
@click.option("--rounds", default=30, show_default=True, help="Last round R (rounds 0..R).")
@click.option("--q", default=0.0, show_default=True, help="Offline reach probability per round.")
@click.option("--n0", default=10, show_default=True, help="Seed agents reached at round 0.")
@click.option("--replicates", default=1, show_default=True)
@click.option(
    "--seed", default=0, show_default=True, help="Scenario seed (replicates derive from it)."
)
@click.option(
    "--params",
    "params_csv",
    type=click.Path(dir_okay=False),
    help="Stochastic parameter table CSV (default: the illustrative table).",
)
@click.option(
    "--backend",
    type=click.Choice(["stochastic", "llm"]),
    default="stochastic",
    show_default=True,
    help="Who decides: the stochastic agent model, or LLM agents (docs/llm.md).",
)
@llm_options
@DB_OPTION
def run(
    event_ids: tuple[str, ...],
    events_file: str | None,
    mix: str,
    n_agents: int,
    k: int,
    network_kind: str,
    rewire: float,
    edge_list: str | None,
    rounds: int,
    q: float,
    n0: int,
    replicates: int,
    seed: int,
    params_csv: str | None,
    backend: str,
    db_path: str,
    llm_opts: dict,
) -> None:
    """Simulate a scenario (per event) and store every replicate run."""
    user_events = load_events(events_file) if events_file else {}
    events = [get_event(e, user_events) for e in event_ids]
    personality_mix = parse_mix(mix)
    network = NetworkSpec(kind=network_kind, n=n_agents, k=k, rewire=rewire, edge_list=edge_list)
    scenarios = [
        Scenario(
            event=e,
            mix=personality_mix,
            network=network,
            rounds=rounds,
            q=q,
            n0=n0,
            replicates=replicates,
            seed=seed,
        )
        for e in events
    ]
    table = ParameterTable.from_csv(params_csv) if params_csv else ParameterTable.illustrative()
    with RunStore(db_path, release_when_idle=backend == "llm") as store:
        if backend == "stochastic":
            if params_csv:
                table = label_table(store.con, table, Path(params_csv).name)
            click.echo(
                f"backend: {backend} — synthetic runs; parameters ({table.source}): "
                f"{table.provenance}",
                err=True,
            )
        with open_policy(backend, store, table, scenarios, llm_opts) as policy:
            _run_scenarios(store, scenarios, policy, db_path)


def _run_scenarios(
    store: RunStore, scenarios: list[Scenario], policy: Policy, db_path: str
) -> None:
    """Run every scenario with a progress bar; one line per stored run, then its scenario id."""
    for scenario in scenarios:
        total = scenario.replicates * (scenario.rounds + 1)
        with click.progressbar(length=total, label=scenario.event.id, file=sys.stderr) as bar:

            def advance(p: Progress, bar: click._termui_impl.ProgressBar = bar) -> None:
                bar.update(p.replicate * (p.rounds_max + 1) + p.round + 1 - bar.pos)

            scenario_id = new_scenario_id()
            run_ids = run_scenario(
                store, scenario, policy, scenario_id=scenario_id, on_progress=advance
            )
            bar.update(total - bar.pos)
        for run_id in run_ids:
            stored, informed, n_agents = store.progress(run_id)
            click.echo(
                f"{run_id}\tscenario={scenario_id}\t{scenario.event.id}"
                f"\trounds={max(stored - 1, 0)}\tinformed={informed}/{n_agents}"
            )
        click.echo(
            f"scenario {scenario_id}: {len(run_ids)} run(s); fit them as one group with: "
            f"spreadlab fit {scenario_id} --db {db_path}"
        )


@cli.command()
@click.argument("run_id")
@llm_options
@DB_OPTION
def resume(run_id: str, db_path: str, llm_opts: dict) -> None:
    """Continue an interrupted run from its last complete round, with its own settings."""
    with (
        RunStore(db_path, create=False, release_when_idle=True) as store,
        resume_policy(store, run_id, llm_opts) as policy,
    ):
        resume_run(store, run_id, policy)
        stored, informed, _ = store.progress(run_id)
        click.echo(f"{run_id}\tresumed\trounds={max(stored - 1, 0)}\tinformed={informed}")


RUN_COLUMNS = {
    "run_id": "run",
    "backend": "backend",
    "event_id": "event",
    "mix_name": "mix",
    "n_agents": "N",
    "mean_degree": "k",
    "q": "q",
    "status": "status",
    "rounds": "rounds",
    "informed": "informed",
}
SCENARIO_COLUMNS = ("scenario_id", "backend", "event_id", "mix_name", "n_agents", "mean_degree")
SCREEN_WIDTH = 100


def _fit(table: pd.DataFrame) -> str:
    """``table`` as text within :data:`SCREEN_WIDTH`: long mix names are cut first, then long
    event ids, each down to 8 characters, with '…'."""
    text = table.to_string(index=False)
    for column in ("mix", "event"):
        width = int(table[column].str.len().max())
        while max(map(len, text.splitlines())) > SCREEN_WIDTH and width > 8:
            width -= 1
            table = table.assign(
                **{column: [v if len(v) <= width else v[: width - 1] + "…" for v in table[column]]}
            )
            text = table.to_string(index=False)
    return text


def runs_listing(frame: pd.DataFrame, wide: bool = False, by_scenario: bool = False) -> str:
    """The run table as ``spreadlab runs`` prints it: within 100 columns unless ``wide``; one
    line per scenario with ``by_scenario``. Backends of synthetic runs carry a '*'."""
    table = frame.assign(
        backend=[
            f"{b}*" if s else b for b, s in zip(frame["backend"], frame["synthetic"], strict=True)
        ],
        mean_degree=[f"{k:g}" for k in frame["mean_degree"]],
        q=[f"{q:g}" for q in frame["q"]],
        rounds=(frame["rounds_done"] - 1).clip(lower=0),
        informed=[f"{x:.0%}" for x in frame["final_informed_fraction"]],
    )
    if by_scenario:
        grouped = table.groupby("scenario_id", sort=False)
        table = grouped[list(SCENARIO_COLUMNS[1:])].first().reset_index()
        table = table.assign(
            q=grouped["q"].first().to_numpy(),
            runs=grouped.size().to_numpy(),
            rounds=grouped["rounds"].max().to_numpy(),
            informed=[f"{x:.0%}" for x in grouped["final_informed_fraction"].mean()],
        )
        columns = {"scenario_id": "scenario", **{c: RUN_COLUMNS[c] for c in SCENARIO_COLUMNS[1:]}}
        columns |= {"q": "q", "runs": "runs", "rounds": "rounds", "informed": "mean informed"}
    else:
        columns = RUN_COLUMNS | ({c: c for c in frame if c not in RUN_COLUMNS} if wide else {})
    table = table[list(columns)].rename(columns=columns)
    text = table.to_string(index=False) if wide else _fit(table)
    if table["backend"].str.endswith("*").any():
        text += "\n* synthetic: made by a model of agents, not by LLM agents"
    return text


@cli.command()
@click.option("--wide", is_flag=True, help="Every column at full width (may exceed 100).")
@click.option(
    "--by-scenario",
    is_flag=True,
    help="One line per scenario (its replicate runs), with the id 'spreadlab fit' takes.",
)
@DB_OPTION
def runs(wide: bool, by_scenario: bool, db_path: str) -> None:
    """List the stored runs (or scenarios)."""
    with RunStore(db_path, create=False) as store:
        frame = with_liveness(store.con, store.list_runs())
    if frame.empty:
        click.echo("no runs stored yet; try 'spreadlab run'")
        return
    click.echo(runs_listing(frame, wide=wide, by_scenario=by_scenario))
    for run_id in frame.loc[frame["status"] == "interrupted", "run_id"]:
        click.echo(
            f"run {run_id} stopped; continue it with: spreadlab resume {run_id} --db {db_path}"
        )


@cli.command()
@click.argument("run_ids", nargs=-1, required=True)
@DB_OPTION
def delete(run_ids: tuple[str, ...], db_path: str) -> None:
    """Delete runs and everything recorded about them."""
    with RunStore(db_path, create=False) as store:
        for run_id in run_ids:
            store.delete_run(run_id)
            click.echo(f"deleted {run_id}")


@cli.command()
@click.argument("run_id")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True
)
@DB_OPTION
def export(run_id: str, out_dir: str, fmt: str, db_path: str) -> None:
    """Export one run (metadata, agents, edges, decisions, curve) to a folder."""
    from spreadlab.store.exchange import export_run

    with RunStore(db_path, create=False) as store:
        path = export_run(store, run_id, Path(out_dir), fmt=fmt)
    click.echo(f"exported {run_id} to {path}")


@cli.command(name="import")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--as", "new_id", metavar="NEW_ID", help="Store the run under this id instead.")
@DB_OPTION
def import_(run_dir: str, new_id: str | None, db_path: str) -> None:
    """Import a run folder (written by 'spreadlab export' or by hand in the documented schema)."""
    from spreadlab.store.exchange import import_run

    with RunStore(db_path) as store:
        run_id = import_run(store, Path(run_dir), new_id)
    click.echo(f"imported {run_id}")


@cli.command()
def events() -> None:
    """List the bundled event catalog (fictional reports written for SpreadLab)."""
    for event in catalog().values():
        click.echo(f"{event.id:32s} {event.type:28s} {event.title}")


@cli.command()
@click.argument("out_csv", type=click.Path(dir_okay=False))
def params(out_csv: str) -> None:
    """Write the illustrative stochastic parameter table as CSV, to edit and pass to --params."""
    Path(out_csv).write_text(ParameterTable.illustrative().to_csv(), encoding="utf-8")
    click.echo(f"wrote {out_csv} (illustrative values, not measured from LLM agents)")


@cli.command(name="fit")
@click.argument("run_ids", nargs=-1, required=True)
@click.option(
    "--models", default="si1,si2", show_default=True, help=f"Comma-separated: {', '.join(MODELS)}."
)
@click.option(
    "--method",
    default="binomial",
    show_default=True,
    help="binomial: along the model's trajectory; conditional: one round ahead from the observed "
    "fraction (si1, si2, mf_map; honest intervals for replicates that wander); lsq: least squares.",
)
@click.option(
    "--ci",
    type=click.Choice(["auto", "jackknife", "profile", "bootstrap", "none"]),
    default="auto",
    show_default=True,
    help="auto: jackknife over replicate runs (calibrated; needs 3+ runs), else profile "
    "likelihood (not calibrated for agent-based runs; see docs/models.md, Coverage).",
)
@click.option("--each", is_flag=True, help="Fit every run alone instead of as one replicate group.")
@DB_OPTION
def fit_runs(
    run_ids: tuple[str, ...], models: str, method: str, ci: str, each: bool, db_path: str
) -> None:
    """Fit models to runs (or scenario ids) and store the fits (docs/models.md)."""
    from spreadlab.errors import FitError
    from spreadlab.store.fits import fit_and_save, group_verdict, summary

    names = [m.strip() for m in models.split(",") if m.strip()]
    with RunStore(db_path, create=False) as store:
        try:
            fitted = fit_and_save(store, run_ids, names, method=method, ci=ci, each=each)
        except FitError as exc:
            click.echo(f"verdict: no-fit — no model can be fitted: {exc}")
            raise
        verdicts = [group_verdict(store, group, fits) for group, fits in fitted]
    for (group, fits), verdict in zip(fitted, verdicts, strict=True):
        click.echo(summary(group, fits))
        click.echo(verdict.line())
        for line in verdict.evidence:
            click.echo(f"  evidence: {line}")


@cli.command(name="export-fits")
@click.argument("out_csv", type=click.Path(dir_okay=False))
@DB_OPTION
def export_fits(out_csv: str, db_path: str) -> None:
    """Write every stored fit as CSV, one row per (run or group, model); see docs/models.md."""
    from spreadlab.store.fits import export_fits_csv

    with RunStore(db_path, create=False) as store:
        rows = export_fits_csv(store, out_csv)
    click.echo(f"wrote {rows} fits to {out_csv}")


@cli.command()
@click.argument("run_ids", nargs=-1, required=True)
@click.option(
    "--out", "out_csv", type=click.Path(dir_okay=False), help="Also write the table as CSV."
)
@DB_OPTION
def traits(run_ids: tuple[str, ...], out_csv: str | None, db_path: str) -> None:
    """Which traits make an agent share: log-odds effects on a and b from the decision logs."""
    from spreadlab.analysis.trait_effects import fit_trait_effects
    from spreadlab.store.fits import resolve_runs, stored_decision_log, with_provenance

    with RunStore(db_path, create=False) as store:
        run_list = resolve_runs(store, run_ids)
        log = stored_decision_log(store, run_list)
        effects = fit_trait_effects(log)
        table = with_provenance(store, run_list, effects.table[effects.table["estimable"]])
    synthetic = bool(table["synthetic"].any())
    shown = table[["channel", "term", "estimate", "se", "ci_lo", "ci_hi", "odds_ratio", "p_value"]]
    click.echo(
        f"{effects.n_decisions} consultations from {len(run_list)} run(s), "
        f"{effects.n_excluded} invalid excluded; baseline event: {effects.baseline_event}"
        + ("; SYNTHETIC runs (stochastic model), not LLM agents" if synthetic else "")
    )
    click.echo(shown.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    if not effects.converged:
        click.echo(f"warning: {effects.message}", err=True)
    if out_csv:
        table.to_csv(out_csv, index=False)
        click.echo(f"wrote {len(table)} rows to {out_csv}")


@cli.command()
@click.option(
    "--events",
    "event_ids",
    multiple=True,
    help="Event ids, comma-separated or repeated [default: the first catalog event of each type].",
)
@EVENTS_FILE_OPTION
@click.option("--repeats", default=10, show_default=True, help="Answers asked per probe (R).")
@click.option(
    "--m",
    "ms_text",
    default="1,2,4",
    show_default=True,
    help="Posting-neighbour counts probed, comma-separated.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the feeds and cache tags.")
@click.option(
    "--table",
    "use",
    type=click.Choice(["cells", "smoothed"]),
    default="cells",
    show_default=True,
    help="Values of the written table: per-cell estimates or the additive trait-effect model.",
)
@click.option(
    "--bank",
    type=click.Choice(["store", "neutral"]),
    default="store",
    show_default=True,
    help="Feed posts: earlier LLM runs' posts of each event (neutral posts where none), or "
    "neutral posts only.",
)
@click.option(
    "--out", "out_csv", type=click.Path(dir_okay=False), help="Write the table (--params format)."
)
@click.option(
    "--persona-check",
    is_flag=True,
    help="Also have every persona answer the 20-item Mini-IPIP (--repeats times) and report per "
    "trait whether high personas score higher than low ones.",
)
@click.option(
    "--validate",
    "validate_ids",
    multiple=True,
    help="Event id (repeatable): run a scenario of it directly with the LLM and with the new "
    "table, and say whether the surrogate reproduces the model's spread (uniform mix, "
    "random-regular k=8, q=0.02, 5 seeds, 15 rounds).",
)
@click.option("--validate-n", default=200, show_default=True, help="Agents N for --validate.")
@click.option(
    "--validate-replicates", default=5, show_default=True, help="LLM replicates for --validate."
)
@llm_options
@DB_OPTION
def calibrate(
    event_ids: tuple[str, ...],
    events_file: str | None,
    repeats: int,
    ms_text: str,
    seed: int,
    use: str,
    bank: str,
    out_csv: str | None,
    persona_check: bool,
    validate_ids: tuple[str, ...],
    validate_n: int,
    validate_replicates: int,
    db_path: str,
    llm_opts: dict,
) -> None:
    """Calibrate the agent model from an LLM: a and b per profile and event type."""
    from spreadlab.errors import ConfigError
    from spreadlab.jobs import calibrate as cal
    from spreadlab.llm.base import FatalLLMError
    from spreadlab.llm.config import LLMConfig
    from spreadlab.llm.estimate import load_prices
    from spreadlab.llm.policy import LLMPolicy

    user_events = load_events(events_file) if events_file else {}
    ids = [i.strip() for text in event_ids for i in text.split(",") if i.strip()]
    events = [get_event(i, user_events) for i in ids] or cal.default_events()
    try:
        ms = tuple(int(x) for x in ms_text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--m {ms_text!r}: give whole numbers, e.g. 1,2,4") from None
    design = cal.Design(tuple(events), repeats, ms, seed)
    config = LLMConfig.from_env(**{k: v for k, v in llm_opts.items() if k != "prices"})
    prices = load_prices(llm_opts.get("prices"))
    click.echo(
        f"design: {len(events)} event(s) × 32 profiles × {len(design.conditions)} exposure "
        f"conditions × {repeats} repeats = {design.consultations} consultations",
        err=True,
    )
    click.echo(f"estimate: {cal.estimate_cost(config, design, prices).summary()}", err=True)
    with RunStore(db_path, release_when_idle=True) as store, LLMPolicy(config, store.con) as policy:
        posts = cal.stored_bank(store.con, events) if bank == "store" else cal.neutral_bank(events)
        click.echo(f"feed posts: {posts.describe()}", err=True)
        total = len(events) * repeats
        with click.progressbar(length=total, label="calibrating", file=sys.stderr) as bar:
            try:
                result = cal.calibrate(
                    policy, design, posts, lambda done, _: bar.update(done - bar.pos)
                )
            except FatalLLMError:
                click.echo(
                    "\nthe answers so far are cached: the same command again (with a larger "
                    "budget if it ran out) asks only the rest",
                    err=True,
                )
                raise
        calibration_id = cal.save_calibration(store.con, result, use)
        fidelity_lines: list[str] = []
        if persona_check:
            from spreadlab.jobs.persona_check import ask_inventory, fidelity, summary

            report = fidelity(ask_inventory(policy, repeats, seed))
            fidelity_lines = [summary(report), *(t.line() for t in report)]
        verdicts = []
        for event_id in validate_ids:
            from spreadlab.jobs.surrogate_check import check_surrogate
            from spreadlab.world.personas import PersonalityMix

            scenario = Scenario(
                event=get_event(event_id, user_events),
                mix=PersonalityMix.uniform(),
                network=NetworkSpec("random_regular", n=validate_n, k=8),
                rounds=15,
                q=0.02,
                n0=5,
                replicates=validate_replicates,
                seed=seed,
            )
            check = check_surrogate(scenario, policy, result.table(use))
            verdicts.append(
                f"validation on {event_id} (N={validate_n}, {validate_replicates} LLM "
                f"replicates): {check.verdict()}"
            )
        usage = policy.usage()
    click.echo(cal.measured_cost(usage, config.model, prices), err=True)
    effects = result.effects.table[result.effects.table["estimable"]]
    click.echo(f"calibration {calibration_id}: {result.provenance(use)}")
    click.echo(f"trait and event effects (log-odds, baseline {result.effects.baseline_event}):")
    shown = effects[["channel", "term", "estimate", "se", "ci_lo", "ci_hi"]]
    click.echo(shown.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    if persona_check:
        click.echo(f"persona check (Mini-IPIP, high versus low personas): {fidelity_lines[0]}")
        click.echo("\n".join(f"  {line}" for line in fidelity_lines[1:]))
    for line in verdicts:
        click.echo(line)
    if out_csv:
        Path(out_csv).write_text(result.to_csv(use), encoding="utf-8")
        click.echo(f"wrote the table to {out_csv} (use it with: spreadlab run --params {out_csv})")


@cli.command()
@click.argument("data_file", type=click.Path(dir_okay=False))
@click.option("--time-col", required=True, help="Column with the time of a post or interval.")
@click.option("--interval", required=True, help="Length of one round, e.g. 1h, 30min, 1d.")
@click.option("--n", "n_agents", type=int, required=True, help="Population size N.")
@click.option("--count-col", help="Column of new posters per interval (else: one row per post).")
@click.option("--user-col", help="Column of user ids: only each user's first post counts.")
@click.option("--start", help="Start of interval 0 (ISO 8601); default: the first time.")
@click.option("--out", "out_csv", type=click.Path(dir_okay=False), help="Write the fits as CSV.")
@click.option(
    "--db", "db_path", type=click.Path(dir_okay=False), help="Compare with its scenarios."
)
def observe(
    data_file: str,
    time_col: str,
    interval: str,
    n_agents: int,
    count_col: str | None,
    user_col: str | None,
    start: str | None,
    out_csv: str | None,
    db_path: str | None,
) -> None:
    """Fit an observed time series of posts (real data) and hold it against simulated ones."""
    from spreadlab.analysis.observed import (
        closest_scenarios,
        fit_series,
        fits_frame,
        observed_unit,
        read_series,
        series_verdict,
    )

    series = read_series(
        data_file,
        time_col=time_col,
        interval=interval,
        n=n_agents,
        count_col=count_col,
        user_col=user_col,
        start=start,
    )
    click.echo(series.provenance)
    fits, failures = fit_series(series)
    for name, f in fits.items():
        click.echo(f"  {name} ({f.method} fit): BIC {f.bic:.1f}, RMSE {f.rmse:.4f}")
        for p, value in f.params.items():
            lo, hi = f.ci[p]
            unit = observed_unit(f.units[p], series.interval)
            click.echo(f"    {p} = {value:.4g} [{lo:.4g}, {hi:.4g}] {unit}")
        click.echo(f"    intervals: {f.interval_label()}")
    for name, reason in failures.items():
        click.echo(f"  {name}: not fitted: {reason}")
    verdict = series_verdict(series, fits)
    click.echo(verdict.line())
    for line in verdict.evidence:
        click.echo(f"  evidence: {line}")
    if db_path:
        from spreadlab.store.fits import scenario_mean_curves

        with RunStore(db_path, create=False) as store:
            scenarios = scenario_mean_curves(store)
        click.echo("closest simulated scenarios (curve shape only, not evidence of mechanism):")
        for c in closest_scenarios(series, scenarios)[:3]:
            click.echo(
                f"  {c.label}: RMSE {c.rmse:.3f} with {c.rounds_per_interval:.2f} simulated "
                f"rounds per {series.interval}"
            )
    if out_csv:
        frame = fits_frame(series, fits, verdict)
        frame.to_csv(out_csv, index=False)
        click.echo(f"wrote {len(frame)} rows to {out_csv}")


@cli.group()
def samples() -> None:
    """The bundled sample runs (synthetic: stochastic model, illustrative parameters)."""


@samples.command(name="build")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Folder to write [default: the bundled sample_runs/].",
)
def samples_build(out_dir: str | None) -> None:
    """Regenerate the sample runs from their seeds (same content hash as the shipped set)."""
    from spreadlab.jobs.samples import SAMPLE_DIR, build_samples

    manifest = build_samples(Path(out_dir) if out_dir else SAMPLE_DIR)
    click.echo(f"built {manifest['runs']} runs; content sha256 {manifest['content_sha256']}")


@samples.command(name="load")
@DB_OPTION
def samples_load(db_path: str) -> None:
    """Load the bundled sample runs into a database (skipping those already there)."""
    from spreadlab.jobs.samples import load_samples

    with RunStore(db_path) as store:
        added = load_samples(store)
    click.echo(f"loaded {added} sample runs into {db_path}")
