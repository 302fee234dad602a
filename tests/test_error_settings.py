"""Library errors name settings, not command-line options: no error message outside
spreadlab/cli/ spells a ``--flag`` (the dashboard and Python callers have none); an error about a
setting carries it as ``setting``, and the CLI turns that into an option that exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest

from spreadlab.cli import COMMANDS, cli, main
from spreadlab.cli.options import error_line, option_for
from spreadlab.errors import ConfigError, StoreError

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "spreadlab"
CLI_HOME = PACKAGE / "cli"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")


def _library_trees() -> dict[str, ast.Module]:
    """Every module of the package outside spreadlab/cli/, parsed."""
    return {
        path.relative_to(ROOT).as_posix(): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.rglob("*.py"))
        if CLI_HOME not in path.parents
    }


def _error_classes(trees: list[ast.Module]) -> set[str]:
    """Names of the exception classes: the builtins' ``...Error`` plus every class of the package
    derived (through any chain of its own classes) from an exception."""
    bases = {
        node.name: {b.id for b in node.bases if isinstance(b, ast.Name)}
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    }
    errors = {"Exception", "SpreadLabError"}
    while grown := {name for name, of in bases.items() if of & errors} - errors:
        errors |= grown
    return errors


def _callee(node: ast.Call) -> str:
    func = node.func
    return (
        func.id
        if isinstance(func, ast.Name)
        else func.attr
        if isinstance(func, ast.Attribute)
        else ""
    )


def error_messages(tree: ast.Module, errors: set[str]) -> list[tuple[int, str]]:
    """(line, text) of every string constant, f-string parts included, in a ``raise`` statement or
    in a call that builds an error (``return AuthError(...)`` counts too)."""
    roots = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Raise)
        or (
            isinstance(node, ast.Call)
            and (_callee(node) in errors or _callee(node).endswith("Error"))
        )
    ]
    return sorted(
        {
            (node.lineno, node.value)
            for root in roots
            for node in ast.walk(root)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
    )


def _flagged(source: str, errors: set[str] = frozenset({"ConfigError"})) -> list[int]:
    tree = ast.parse(source)
    return [line for line, text in error_messages(tree, errors) if FLAG.search(text)]


def test_the_message_finder_sees_every_spelling():
    source = (
        "raise ConfigError('raise --max-calls')\n"
        "raise ConfigError(f'{n}: use --max-concurrency')\n"
        "return AuthError('pass --api-key')\n"
        "raise RequestRejected(f'{exc}. Choose another with '\n    '--response-format')\n"
        "x = 'spreadlab resume x --db y'\n"
        "raise ConfigError('max_calls = 0: a budget must be positive', setting='max_calls')\n"
        "raise ConfigError('a-b --  c')\n"
    )
    assert _flagged(source, {"ConfigError", "RequestRejected"}) == [1, 2, 3, 4]


LIBRARY = _library_trees()
ERRORS = _error_classes(list(LIBRARY.values()))


def test_the_error_classes_are_found():
    assert {"ConfigError", "FitError", "BudgetExhausted", "TooManyInvalid", "Cancelled"} <= ERRORS


def test_library_errors_name_no_command_line_option():
    """Errors raised outside spreadlab/cli/ say which setting to change (``setting=``), never a
    ``--flag``: the dashboard and Python callers have no flags, and the CLI adds the option."""
    found = [
        f"{rel}:{line}: {text!r}"
        for rel, tree in LIBRARY.items()
        for line, text in error_messages(tree, ERRORS)
        if FLAG.search(text)
    ]
    assert not found, "error messages naming a CLI option (pass setting= instead):\n" + "\n".join(
        found
    )


def _settings_named() -> set[str]:
    """Every ``setting="..."`` given to an error in the library."""
    return {
        keyword.value.value
        for tree in LIBRARY.values()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "setting" and isinstance(keyword.value, ast.Constant)
    }


def _cli_options() -> set[str]:
    ctx = click.Context(cli)
    commands = [cli.get_command(ctx, name) for name in COMMANDS]
    found: set[str] = set()
    while commands:
        command = commands.pop()
        if isinstance(command, click.Group):
            commands += list(command.commands.values())
        found |= {opt for param in command.params for opt in param.opts}
    return found


def test_every_setting_an_error_names_is_a_cli_option():
    settings = _settings_named()
    assert {"max_calls", "base_url", "max_concurrency", "new_id"} <= settings
    missing = sorted(s for s in settings if option_for(s) not in _cli_options())
    assert not missing, f"settings named by errors with no CLI option: {missing}"


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            ConfigError("max_calls = 0: use 1 or more", setting="max_calls"),
            "error: max_calls = 0: use 1 or more (use --max-calls)",
        ),
        (
            ConfigError("max_invalid_rate = 2: use [0, 1]", setting="max_invalid_rate"),
            "error: max_invalid_rate = 2: use [0, 1] (use --max-invalid)",
        ),
        (StoreError("run x exists", setting="new_id"), "error: run x exists (use --as)"),
        (StoreError("no run x"), "error: no run x"),
    ],
)
def test_the_cli_names_the_option_of_the_setting(error, line):
    assert error_line(error) == line


def test_a_cli_error_ends_with_its_option(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["calibrate", "--repeats", "0", "--model", "m", "--base-url", "http://127.0.0.1:9/v1"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "repeats = 0" in err and err.rstrip().endswith("(use --repeats)"), err
