"""The commands that fit models: ``fit``, ``export-fits``, ``traits`` and ``observe``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from spreadlab.analysis.methods import RUN_CI_METHODS
from spreadlab.analysis.models import MODELS
from spreadlab.cli.observed import compare_and_echo, mapping_option
from spreadlab.cli.options import DB_OPTION
from spreadlab.store.runs import RunStore

if TYPE_CHECKING:
    from spreadlab.analysis.fit import FitResult
    from spreadlab.analysis.observed import ObservedSeries


@click.command(name="fit")
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
    type=click.Choice(RUN_CI_METHODS),
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


@click.command(name="export-fits")
@click.argument("out_csv", type=click.Path(dir_okay=False))
@DB_OPTION
def export_fits(out_csv: str, db_path: str) -> None:
    """Write every stored fit as CSV, one row per (run or group, model); see docs/models.md."""
    from spreadlab.store.fits import export_fits_csv

    with RunStore(db_path, create=False) as store:
        rows = export_fits_csv(store, out_csv)
    click.echo(f"wrote {rows} fits to {out_csv}")


@click.command()
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


@click.command()
@click.argument("data_file", type=click.Path(dir_okay=False))
@click.option("--time-col", required=True, help="Column with the time of a post or interval.")
@click.option("--interval", required=True, help="Length of one round, e.g. 1h, 30min, 1d.")
@click.option("--n", "n_agents", type=int, required=True, help="Population size N.")
@click.option(
    "--n-range",
    help="N as an estimate: its plausible range LOW:HIGH; the rates are refitted at both ends.",
)
@click.option(
    "--n-sd", type=float, help="N as an estimate: its standard deviation (range N ± 1.96 SD)."
)
@click.option("--count-col", help="Column of new posters per interval (else: one row per post).")
@click.option("--user-col", help="Column of user ids: only each user's first post counts.")
@click.option("--start", help="Start of interval 0 (ISO 8601); default: the first time.")
@click.option("--out", "out_csv", type=click.Path(dir_okay=False), help="Write the fits as CSV.")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    help="Store the dataset in this database and compare it with its scenarios.",
)
@mapping_option("--compare")
@click.option(
    "--compare-out",
    type=click.Path(dir_okay=False),
    help="With --db: write the ranking of the stored scenarios as CSV.",
)
def observe(
    data_file: str,
    time_col: str,
    interval: str,
    n_agents: int,
    n_range: str | None,
    n_sd: float | None,
    count_col: str | None,
    user_col: str | None,
    start: str | None,
    out_csv: str | None,
    db_path: str | None,
    mapping: str,
    compare_out: str | None,
) -> None:
    """Fit an observed time series of posts (real data) and hold it against simulated ones."""
    if compare_out and not db_path:
        raise click.UsageError(
            "--compare-out needs --db: the ranking compares the series with the scenarios stored "
            "in that database"
        )
    from spreadlab.analysis.observed import (
        fit_series,
        fits_frame,
        n_sensitivity,
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
    series = _with_range(series, n_range, n_sd)
    click.echo(series.provenance)
    fits, failures = fit_series(series)
    at_ends = n_sensitivity(series, tuple(fits))
    _echo_fits(series, fits, failures, at_ends)
    verdict = series_verdict(series, fits)
    click.echo(verdict.line())
    for line in verdict.evidence:
        click.echo(f"  evidence: {line}")
    if db_path:
        _store_and_compare(series, db_path, mapping, compare_out)
    if out_csv:
        frame = fits_frame(series, fits, verdict, at_ends)
        frame.to_csv(out_csv, index=False)
        click.echo(f"wrote {len(frame)} rows to {out_csv}")


def _with_range(series: ObservedSeries, n_range: str | None, n_sd: float | None) -> ObservedSeries:
    """The series with N's range from ``--n-range LOW:HIGH`` or ``--n-sd``, if either is given."""
    from spreadlab.analysis.observed import n_range_from_sd, with_n_range
    from spreadlab.errors import ConfigError

    if n_range is not None and n_sd is not None:
        raise ConfigError("give --n-range or --n-sd, not both")
    if n_sd is not None:
        return with_n_range(series, *n_range_from_sd(series, n_sd))
    if n_range is None:
        return series
    low, sep, high = n_range.partition(":")
    if not (sep and low.strip().isdigit() and high.strip().isdigit()):
        raise ConfigError(f"--n-range {n_range!r}: give LOW:HIGH, e.g. 30000:80000")
    return with_n_range(series, int(low), int(high))


def _echo_fits(
    series: ObservedSeries,
    fits: dict[str, FitResult],
    failures: dict[str, str],
    at_ends: dict[str, dict[str, tuple[float, float]]],
) -> None:
    """Each fitted model's rates with their intervals, in units per the chosen interval, and
    the estimates refitted at the ends of N's range."""
    from spreadlab.analysis.observed import observed_unit

    low, high = series.n_range or (0, 0)
    for name, f in fits.items():
        click.echo(f"  {name} ({f.method} fit): BIC {f.bic:.1f}, RMSE {f.rmse:.4f}")
        for p, value in f.params.items():
            lo, hi = f.ci[p]
            unit = observed_unit(f.units[p], series.interval)
            ends = at_ends.get(name, {}).get(p)
            over_n = (
                f"; refitted at N = {low:,} / {high:,}: {ends[0]:.4g} / {ends[1]:.4g}"
                if ends
                else ""
            )
            click.echo(f"    {p} = {value:.4g} [{lo:.4g}, {hi:.4g}] {unit}{over_n}")
        click.echo(f"    intervals: {f.interval_label()}")
    for name, reason in failures.items():
        click.echo(f"  {name}: not fitted: {reason}")


def _store_and_compare(
    series: ObservedSeries, db_path: str, mapping: str, compare_out: str | None
) -> None:
    """Keep the dataset in the database (one statement: whole or absent) and name the stored
    scenarios whose curves come closest."""
    from spreadlab.store.observed import save_series

    with RunStore(db_path) as store:
        dataset = save_series(store.con, series)
    click.echo(f"stored as observed dataset {dataset} in {db_path}")
    compare_and_echo(series, db_path, mapping, compare_out, top=3)
