"""The ``spreadlab`` command line: run, list, delete, export and import runs.

This module lists the commands and imports only the module of the one invoked, so
``spreadlab --help`` starts without the scientific stack and ``spreadlab run`` without the
fitting and LLM code; :mod:`spreadlab.cli.commands` gathers them all.
"""

from __future__ import annotations

import importlib
import sys

import click

from spreadlab.cli.options import error_line
from spreadlab.errors import SpreadLabError

COMMANDS: dict[str, str] = {
    "run": "Simulate a scenario (per event) and store every replicate run.",
    "resume": "Continue an interrupted run from its last complete round, with its own settings.",
    "runs": "List the stored runs (or scenarios).",
    "delete": "Delete runs and everything recorded about them.",
    "export": "Export one run (metadata, agents, edges, decisions, curve) to a folder.",
    "import": "Import a run folder (written by 'spreadlab export' or by hand in the documented "
    "schema).",
    "events": "List the bundled event catalog (fictional reports written for SpreadLab).",
    "params": "Write the illustrative stochastic parameter table as CSV, to edit and pass to "
    "--params.",
    "fit": "Fit models to runs (or scenario ids) and store the fits (docs/models.md).",
    "export-fits": "Write every stored fit as CSV, one row per (run or group, model); see "
    "docs/models.md.",
    "traits": "Which traits make an agent share: log-odds effects on a and b from the decision "
    "logs.",
    "calibrate": "Calibrate the agent model from an LLM: a and b per profile and event type.",
    "observe": "Fit an observed time series of posts (real data) and hold it against simulated "
    "ones.",
    "observed": "The stored observed datasets: list, compare with the scenarios, delete.",
    "samples": "The bundled sample runs (synthetic: stochastic model, illustrative parameters).",
    "sweep": "Run a grid of scenarios, stochastic or LLM (docs/sweeps.md); re-running resumes it.",
    "dashboard": "Serve the dashboard ('streamlit run app.py', with its first page prepared while "
    "the browser opens).",
}
"""Every command and the first line of its help, shown by ``spreadlab --help``."""
MODULES: dict[str, str] = {
    "sweep": "spreadlab.cli.sweep",
    "observed": "spreadlab.cli.observed",
    "dashboard": "spreadlab.cli.dashboard",
}
"""Commands defined in a module of their own (the rest are in :mod:`spreadlab.cli.commands`)."""
HOMES: dict[str, str] = {
    "run": "run_commands:run",
    "resume": "run_commands:resume",
    "runs": "data_commands:runs",
    "delete": "data_commands:delete",
    "export": "data_commands:export",
    "import": "data_commands:import_",
    "events": "data_commands:events",
    "params": "data_commands:params",
    "fit": "fit_commands:fit_runs",
    "export-fits": "fit_commands:export_fits",
    "traits": "fit_commands:traits",
    "calibrate": "llm_commands:calibrate",
    "observe": "fit_commands:observe",
    "samples": "data_commands:samples",
}
"""Where each command of :mod:`spreadlab.cli.commands` is defined (``module:attribute``)."""


def load_command(name: str) -> click.Command:
    """Command ``name`` of :data:`HOMES`, importing its module alone."""
    module, attribute = HOMES[name].split(":")
    command: click.Command = getattr(importlib.import_module(f"spreadlab.cli.{module}"), attribute)
    return command


class LazyGroup(click.Group):
    """A group whose commands are imported, each from its own module, when one is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        if cmd_name in MODULES:
            return getattr(importlib.import_module(MODULES[cmd_name]), cmd_name)
        return load_command(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl(list(COMMANDS.items()))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="spreadlab")
def cli() -> None:
    """SpreadLab: news of an offline event spreading through a network of agents."""


def main(args: list[str] | None = None) -> None:
    """Console entry point (``args`` default to the command line): project errors become one
    clear line and exit status 2."""
    try:
        cli.main(args, standalone_mode=False)
    except SpreadLabError as exc:
        click.echo(error_line(exc), err=True)
        sys.exit(2)
    except OSError as exc:  # a path that cannot be read or written: say which, no traceback
        click.echo(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
        click.echo("check that the folder exists and that you may write there", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
