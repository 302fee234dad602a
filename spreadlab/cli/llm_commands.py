"""``spreadlab calibrate``: measure the agent model's a and b from an LLM."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from spreadlab.cli.llm_options import llm_options
from spreadlab.cli.options import DB_OPTION, EVENTS_FILE_OPTION
from spreadlab.engine.simulate import Scenario
from spreadlab.errors import ConfigError
from spreadlab.store.runs import RunStore
from spreadlab.world.events import get_event, load_events

if TYPE_CHECKING:
    from spreadlab.engine.stochastic import ParameterTable
    from spreadlab.jobs.calibrate import Calibration, Design
    from spreadlab.llm.estimate import Price
    from spreadlab.llm.policy import LLMPolicy
    from spreadlab.world.events import Event


@click.command()
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
    "--logprobs/--no-logprobs",
    default=True,
    show_default=True,
    help="Ask for token log-probabilities and estimate P(post) from them where the endpoint "
    "returns them (an endpoint that refuses them is asked without, once, and remembered).",
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
    help="Stored scenario id or event id (repeatable): run that scenario at --validate-n agents "
    "directly with the LLM and with the new table, and say whether the surrogate reproduces the "
    "model's spread (an event id: uniform mix, random-regular k=8, q=0.02, 15 rounds).",
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
    logprobs: bool,
    out_csv: str | None,
    persona_check: bool,
    validate_ids: tuple[str, ...],
    validate_n: int,
    validate_replicates: int,
    db_path: str,
    llm_opts: dict,
) -> None:
    """Calibrate the agent model from an LLM: a and b per profile and event type."""
    from spreadlab.jobs import calibrate as cal
    from spreadlab.llm.config import LLMConfig
    from spreadlab.llm.estimate import load_prices
    from spreadlab.llm.policy import LLMPolicy

    user_events = load_events(events_file) if events_file else {}
    design = _design(event_ids, user_events, repeats, ms_text, seed)
    config = LLMConfig.from_env(**llm_opts)
    prices = load_prices(llm_opts.get("prices"))
    click.echo(
        f"design: {len(design.events)} event(s) × 32 profiles × {len(design.conditions)} exposure "
        f"conditions × {repeats} repeats = {design.consultations} consultations",
        err=True,
    )
    click.echo(f"estimate: {cal.estimate_cost(config, design, prices).summary()}", err=True)
    with (
        RunStore(db_path, release_when_idle=True) as store,
        LLMPolicy(config, store.con, top_logprobs=cal.TOP_LOGPROBS if logprobs else None) as policy,
    ):
        result = _measure(store, policy, design, bank, prices)
        calibration_id = cal.save_calibration(store.con, result, use)
        checks = (
            _persona_lines(store, calibration_id, policy, repeats, seed) if persona_check else []
        )
        for validate_id in validate_ids:
            scenario = _validation_scenario(
                store, validate_id, user_events, validate_n, validate_replicates, seed
            )
            checks.append(_validation_line(validate_id, scenario, policy, result.table(use)))
        usage = policy.usage()
    _echo_costs(usage, result, config.model, prices)
    effects = result.effects.table[result.effects.table["estimable"]]
    click.echo(f"calibration {calibration_id}: {result.provenance(use)}")
    click.echo(f"P(post) from {result.meta['probability_from']}")
    click.echo(f"trait and event effects (log-odds, baseline {result.effects.baseline_event}):")
    shown = effects[["channel", "term", "estimate", "se", "ci_lo", "ci_hi"]]
    click.echo(shown.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    for line in checks:
        click.echo(line)
    if out_csv:
        Path(out_csv).write_text(result.to_csv(use), encoding="utf-8")
        click.echo(f"wrote the table to {out_csv} (use it with: spreadlab run --params {out_csv})")


def _design(
    event_ids: tuple[str, ...],
    user_events: dict[str, Event],
    repeats: int,
    ms_text: str,
    seed: int,
) -> Design:
    """The calibration design of the command line: events given (comma-separated or repeated;
    default one per type), the ``--m`` list, repeats and seed."""
    from spreadlab.jobs import calibrate as cal

    ids = [i.strip() for text in event_ids for i in text.split(",") if i.strip()]
    events = [get_event(i, user_events) for i in ids] or cal.default_events()
    try:
        ms = tuple(int(x) for x in ms_text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--m {ms_text!r}: give whole numbers, e.g. 1,2,4") from None
    return cal.Design(tuple(events), repeats, ms, seed)


def _measure(
    store: RunStore, policy: LLMPolicy, design: Design, bank: str, prices: list[Price]
) -> Calibration:
    """Ask every probe of ``design`` with a progress bar; on a fatal LLM error, say that the
    answers so far are cached."""
    from spreadlab.jobs import calibrate as cal
    from spreadlab.jobs.post_bank import neutral_bank, stored_bank
    from spreadlab.llm.base import FatalLLMError

    events = list(design.events)
    posts = stored_bank(store.con, events) if bank == "store" else neutral_bank(events)
    click.echo(f"feed posts: {posts.describe()}", err=True)
    total = len(events) * design.repeats
    with click.progressbar(length=total, label="calibrating", file=sys.stderr) as bar:
        try:
            return cal.calibrate(
                policy, design, posts, lambda done, _: bar.update(done - bar.pos), prices=prices
            )
        except FatalLLMError:
            click.echo(
                "\nthe answers so far are cached: the same command again (with a larger "
                "budget if it ran out) asks only the rest",
                err=True,
            )
            raise


def _echo_costs(usage: dict, result: Calibration, model: str, prices: list[Price]) -> None:
    """Both costs: what this session used (nothing when every answer was replayed) and what the
    calibration cost to measure, which its stored row, table and ``--out`` file keep."""
    from spreadlab.jobs import calibrate as cal

    click.echo(f"this session, {cal.measured_cost(usage, model, prices)}", err=True)
    click.echo(
        f"cost to measure the calibration (every answer its table rests on, asked now or replayed "
        f"from the cache): {cal.measuring_cost(result.meta['cost'])}",
        err=True,
    )


def _persona_lines(
    store: RunStore, calibration_id: str, policy: LLMPolicy, repeats: int, seed: int
) -> list[str]:
    """The Mini-IPIP persona check, stored with the calibration and printed: a summary line, then
    one indented line per trait."""
    from spreadlab.jobs.persona_check import ask_inventory, fidelity, save_check, summary

    answers = ask_inventory(policy, repeats, seed)
    report = fidelity(answers)
    save_check(store.con, calibration_id, answers, report)
    return [
        f"persona check (Mini-IPIP, high versus low personas): {summary(report)}",
        *(f"  {t.line()}" for t in report),
    ]


def _validation_scenario(
    store: RunStore,
    validate_id: str,
    user_events: dict[str, Event],
    n: int,
    replicates: int,
    seed: int,
) -> Scenario:
    """The scenario ``--validate`` runs: a stored scenario at ``n`` agents, or for an event id a
    uniform mix on a random-regular k=8 network, q=0.02, 15 rounds."""
    from spreadlab.jobs.surrogate_check import event_scenario, stored_scenario
    from spreadlab.world.events import catalog

    if validate_id not in catalog() and validate_id not in user_events:
        return stored_scenario(store, validate_id, n, replicates)
    return event_scenario(get_event(validate_id, user_events), n, replicates, seed)


def _validation_line(
    validate_id: str, scenario: Scenario, policy: LLMPolicy, table: ParameterTable
) -> str:
    """Whether ``table`` reproduces the LLM's spread on ``scenario`` (``--validate validate_id``),
    in one line."""
    from spreadlab.jobs.surrogate_check import check_surrogate

    policy.top_logprobs = None  # the LLM replicates ask as a network run does (shared cache)
    check = check_surrogate(scenario, policy, table)
    name = validate_id if validate_id == scenario.event.id else f"scenario {validate_id}"
    return (
        f"validation on {name} ({scenario.event.id}, {scenario.mix.name} mix, "
        f"{scenario.network.kind} k={scenario.network.k}, N={scenario.network.n}, "
        f"{scenario.replicates} LLM replicates): {check.verdict()}"
    )
