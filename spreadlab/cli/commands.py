"""The registry of ``spreadlab`` commands (listed and loaded by :mod:`spreadlab.cli`).

Each command lives in the module of its topic: running (:mod:`~spreadlab.cli.run_commands`),
stored runs (:mod:`~spreadlab.cli.data_commands`), fitting (:mod:`~spreadlab.cli.fit_commands`)
and LLM calibration (:mod:`~spreadlab.cli.llm_commands`). Modules a command alone needs (fitting,
exchange, samples, trait effects) are imported inside it, so each command loads only its own
share of the scientific stack.
"""

from __future__ import annotations

import click

from spreadlab.cli import HOMES, load_command


@click.group()
def cli() -> None:
    """The commands of :data:`spreadlab.cli.cli`, which shows their help and runs them."""


for _name in HOMES:
    cli.add_command(load_command(_name))
