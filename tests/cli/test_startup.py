"""A fast start: each command imports only the libraries it needs (bench/startup.py times it)."""

from __future__ import annotations

import json
import subprocess
import sys

import click

from spreadlab.cli import COMMANDS, MODULES, cli
from spreadlab.cli.commands import cli as registry

# Runs a command in a fresh interpreter, then reports which heavy libraries it has loaded (a
# module imported through spreadlab.lazy but never used is not loaded).
PROBE = """
import json, sys, types
from spreadlab.cli import cli
try:
    cli.main(sys.argv[1:], standalone_mode=False)
finally:
    heavy = ("numpy", "pandas", "scipy", "pyarrow", "openai", "networkx", "duckdb", "plotly")
    loaded = [m for m in heavy if type(sys.modules.get(m)) is types.ModuleType]
    print(json.dumps(loaded), file=sys.stderr)
"""


def loaded_by(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stderr.strip().splitlines()[-1]))


def test_help_loads_no_scientific_library():
    assert loaded_by("--help") == set()


def test_a_stochastic_run_loads_neither_pandas_nor_scipy_nor_openai_nor_pyarrow(tmp_path):
    db = str(tmp_path / "r.duckdb")
    assert loaded_by("run", "--n", "200", "--k", "4", "--db", db) == {"numpy", "duckdb"}


def test_the_dashboard_home_page_loads_no_fitting_stack():
    """What app.py imports (the home page) leaves scipy for the pages that fit."""
    probe = (
        "import sys, types, app_modules; "
        "print([m for m in ('scipy', 'openai', 'pyvis') "
        "if type(sys.modules.get(m)) is types.ModuleType])"
    ).replace(
        "app_modules", "spreadlab.dashboard.labels, spreadlab.dashboard.ui, spreadlab.glossary"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_help_table_lists_every_command_with_its_own_first_line():
    assert [c for c in COMMANDS if c not in MODULES] == list(registry.commands)
    ctx = click.Context(cli)
    for name, line in COMMANDS.items():
        first_paragraph = cli.get_command(ctx, name).help.split("\n\n")[0]
        assert " ".join(first_paragraph.split()) == line, name
    for name in registry.commands:  # each command is loaded from its own module alone
        assert cli.get_command(ctx, name) is registry.commands[name], name
    assert cli.get_command(ctx, "nope") is None
