"""``spreadlab run`` and ``spreadlab resume``: simulate scenarios and store their runs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from spreadlab.cli.llm_options import echo_note, llm_log_to_stderr, llm_options
from spreadlab.cli.options import DB_OPTION, EVENTS_FILE_OPTION
from spreadlab.engine.policy import Policy
from spreadlab.engine.simulate import Scenario
from spreadlab.engine.stochastic import ParameterTable
from spreadlab.jobs.policies import open_policy, resume_policy
from spreadlab.jobs.runner import Progress, resume_run, run_scenario
from spreadlab.store.calibrations import label_table
from spreadlab.store.runs import RunStore, new_scenario_id
from spreadlab.world.events import get_event, load_events
from spreadlab.world.networks import NETWORK_KINDS, NetworkSpec
from spreadlab.world.personas import PRESETS, parse_mix


@click.command()
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
        with (
            llm_log_to_stderr(),
            open_policy(backend, store, table, scenarios, llm_opts, echo_note) as policy,
        ):
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


@click.command()
@click.argument("run_id")
@llm_options
@DB_OPTION
def resume(run_id: str, db_path: str, llm_opts: dict) -> None:
    """Continue an interrupted run from its last complete round, with its own settings."""
    with (
        RunStore(db_path, create=False, release_when_idle=True) as store,
        llm_log_to_stderr(),
        resume_policy(store, run_id, llm_opts, echo_note) as policy,
    ):
        resume_run(store, run_id, policy)
        stored, informed, _ = store.progress(run_id)
        click.echo(f"{run_id}\tresumed\trounds={max(stored - 1, 0)}\tinformed={informed}")
